//! Embedding FinVM: load a program file, run it, print the reference's JSON
//! output. The smallest host there is (no effects, no journal), also used
//! to profile the interpreter without the CLI.
//!
//! ```text
//! cargo run --release -p finvm --example run_file -- benches/programs/fib.json
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: run_file PROGRAM.json");
        return ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::from(2);
        }
    };
    let report = finvm::api::run_json(&text, &finvm::api::RunOptions::default());
    println!("{}", report.json);
    if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
