//! Embedding FinVM: load a program file, run it, print the reference's JSON
//! output. The smallest host there is (no effects, no journal), also used
//! to profile the interpreter without the CLI.
//!
//! ```text
//! cargo run --release -p finvm --example run_file -- benches/programs/fib.json
//! cargo run --release -p finvm --example run_file -- --trace PROGRAM.json
//! ```
//!
//! With `--trace`, a program that is not in performance mode records its
//! trace (kept in memory, counted, not printed: for profiling the traced
//! interpreter).

use std::process::ExitCode;
use std::rc::Rc;

use finvm::api::{load_program, run_json, run_program, RunOptions};

fn main() -> ExitCode {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let trace = args.first().is_some_and(|a| a == "--trace");
    if trace {
        args.remove(0);
    }
    let [path] = args.as_slice() else {
        eprintln!("usage: run_file [--trace] PROGRAM.json");
        return ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::from(2);
        }
    };
    if trace {
        return run_traced(&text);
    }
    let report = run_json(&text, &RunOptions::default());
    println!("{}", report.json);
    if report.ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs with the trace on and prints the outcome and the trace's length.
fn run_traced(text: &str) -> ExitCode {
    let program = match load_program(text) {
        Ok(p) => Rc::new(p),
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let opts = RunOptions {
        performance_mode: None,
        collect_trace: true,
    };
    let outcome = run_program(program, &opts);
    let events = outcome.machine.as_ref().map_or(0, |m| m.core.trace.len());
    match outcome.result {
        Ok(()) => {
            println!("completed; {events} trace events");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("{e}; {events} trace events");
            ExitCode::FAILURE
        }
    }
}
