//! `finvm`: the FinVM command-line tool.
//!
//! The contract (stdout, one JSON document per command, exit codes) is the
//! reference CLI's; see `FORMATS.md` §3.4 and the conformance README. Nothing
//! here panics visibly: the library runs on a worker thread behind
//! `catch_unwind`, and a panic becomes an `InternalError` document.

mod bench;
mod effect_cmd;
mod host_cmd;
mod secure_cmd;

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};
use finvm::api::{run_json, validate_json, RunOptions};

/// The allocator of the `finvm` binary. Programs allocate and free many
/// small values (strings, records, list nodes); mimalloc's size-class free
/// lists take roughly half the time of glibc's malloc on those workloads
/// (the DB benchmark spends a fifth of its time in `malloc`/`free`). The
/// library crate leaves the choice to the embedding program.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Stack for the worker thread that runs the library: deep programs and deep
/// values must end in a clean error, never in a stack overflow.
const WORKER_STACK_BYTES: usize = 256 << 20;

/// Set this environment variable to keep Rust's default panic message (for
/// debugging the library); by default a panic prints nothing.
const PANIC_DEBUG_ENV: &str = "FINVM_PANIC_DEBUG";

#[derive(Parser)]
#[command(
    name = "finvm",
    version,
    about = "FinVM: a deterministic register-based bytecode VM"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a program file; prints `Loading program from: FILE`, then the outcome as one JSON line.
    Run(RunArgs),
    /// Decode and validate a program file without running it; prints `valid` or the error.
    Validate {
        /// The program JSON file.
        file: PathBuf,
    },
    /// Drive the suspend/resume effect API.
    #[command(subcommand)]
    Effect(EffectCommand),
    /// Seal a program, inputs, database or output with a project's data key (creating it with --new-grant).
    Seal(secure_cmd::SealArgs),
    /// Open an envelope with a grant and a key source.
    Unseal(secure_cmd::UnsealArgs),
    /// Give another passphrase or wallet access to a project's data key.
    Grant(secure_cmd::GrantArgs),
    /// Open a sealed program (and inputs) with a grant and a key source, then run it as `run` does.
    RunSealed(secure_cmd::RunSealedArgs),
    /// Run the benchmark workloads (reference HOST.md §11 plus the performance issue's); prints a table.
    Bench(bench::BenchArgs),
    /// Run a program with real effects (HTTP, log, db, transport), journaling every result durably; resumes an existing journal.
    Live(host_cmd::LiveArgs),
    /// Re-run a program from its journal with no I/O; strict: the first divergence is an error.
    Replay(host_cmd::ReplayArgs),
    /// Inspect or settle an effect journal.
    #[command(subcommand)]
    Journal(host_cmd::JournalCommand),
}

#[derive(Args)]
struct RunArgs {
    /// The program JSON file.
    file: Option<PathBuf>,
    /// Print the execution trace to stderr (stdout keeps the JSON contract).
    #[arg(long)]
    trace: bool,
    /// Run in performance mode, whatever the program's `performanceMode` says.
    #[arg(long)]
    performance_mode: bool,
    /// Arguments after the file are ignored, as the reference CLI does.
    #[arg(hide = true)]
    ignored: Vec<OsString>,
}

#[derive(Subcommand)]
enum EffectCommand {
    /// Run a program to quiescence; prints the start document as one JSON line.
    Start {
        /// The program JSON file.
        #[arg(value_name = "PROGRAM")]
        file: PathBuf,
        /// A JSON file with `{"input": {...}, "state": {...}}` overrides.
        #[arg(long, value_name = "FILE")]
        overrides: Option<PathBuf>,
    },
    /// Resume from a snapshot with deliveries; prints the resume document as one JSON line.
    Resume {
        /// The program JSON file.
        #[arg(value_name = "PROGRAM")]
        file: PathBuf,
        /// A JSON file holding the `snapshot` value of the previous document.
        #[arg(long, value_name = "FILE")]
        snapshot: PathBuf,
        /// A JSON file holding the deliveries array (absent: no deliveries).
        #[arg(long, value_name = "FILE")]
        deliveries: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    if std::env::var_os(PANIC_DEBUG_ENV).is_none() {
        panic::set_hook(Box::new(|_| {}));
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version go to stdout with exit 0; usage errors to stderr
            // with exit 1 (the reference exits 1 for any unknown invocation).
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        None => {
            let mut help = Cli::command().render_help().to_string();
            if !help.ends_with('\n') {
                help.push('\n');
            }
            let _ = io::stdout().lock().write_all(help.as_bytes());
            ExitCode::SUCCESS
        }
        Some(Command::Run(args)) => cmd_run(args),
        Some(Command::Validate { file }) => cmd_validate(&file),
        Some(Command::Effect(cmd)) => cmd_effect(cmd),
        Some(Command::Seal(args)) => secure_cmd::seal(args),
        Some(Command::Unseal(args)) => secure_cmd::unseal(args),
        Some(Command::Grant(args)) => secure_cmd::add_grant(args),
        Some(Command::RunSealed(args)) => secure_cmd::run_sealed(args),
        Some(Command::Bench(args)) => bench::cmd_bench(args),
        Some(Command::Live(args)) => host_cmd::live(args),
        Some(Command::Replay(args)) => host_cmd::replay(args),
        Some(Command::Journal(cmd)) => host_cmd::journal_cmd(cmd),
    }
}

fn cmd_run(args: RunArgs) -> ExitCode {
    let Some(file) = args.file else {
        println_out("Error: Please provide a path to a program file.");
        return ExitCode::FAILURE;
    };
    println_out(&format!("Loading program from: {}", file.display()));
    let text = match read_text(&file) {
        Ok(text) => text,
        Err(msg) => {
            println_out(&status_json("error", &msg));
            return ExitCode::FAILURE;
        }
    };
    let opts = RunOptions {
        performance_mode: args.performance_mode.then_some(true),
        collect_trace: args.trace,
    };
    match guarded(|| run_json(&text, &opts)) {
        Ok(report) => {
            if args.trace {
                print_trace(&report.trace);
            }
            println_out(&report.json);
            exit_code(report.ok)
        }
        Err(panic_msg) => {
            println_out(&status_json("failed", &internal_error(&panic_msg)));
            ExitCode::FAILURE
        }
    }
}

fn cmd_validate(file: &Path) -> ExitCode {
    let outcome = read_text(file).and_then(|text| {
        guarded(|| validate_json(&text)).unwrap_or_else(|panic_msg| Err(internal_error(&panic_msg)))
    });
    match outcome {
        Ok(()) => {
            println_out("valid");
            ExitCode::SUCCESS
        }
        Err(msg) => {
            println_out(&msg);
            ExitCode::FAILURE
        }
    }
}

fn cmd_effect(cmd: EffectCommand) -> ExitCode {
    let doc = match effect_doc(cmd) {
        Ok(Ok(doc)) => doc,
        Ok(Err(panic_msg)) => status_json("failed", &internal_error(&panic_msg)),
        Err(read_msg) => status_json("error", &read_msg),
    };
    println_out(&doc);
    exit_code(effect_doc_ok(&doc))
}

/// Reads the command's files (`Err`: a read error), then calls the effect API
/// (`Ok(Err)`: it panicked).
fn effect_doc(cmd: EffectCommand) -> Result<Result<String, String>, String> {
    Ok(match cmd {
        EffectCommand::Start { file, overrides } => {
            let program = read_text(&file)?;
            let overrides = read_optional(overrides.as_deref())?;
            guarded(|| effect_cmd::start(&program, &overrides))
        }
        EffectCommand::Resume {
            file,
            snapshot,
            deliveries,
        } => {
            let program = read_text(&file)?;
            let snapshot = read_text(&snapshot)?;
            let deliveries = read_optional(deliveries.as_deref())?;
            guarded(|| effect_cmd::resume(&program, &snapshot, &deliveries))
        }
    })
}

/// An effect document is a success (exit 0) when the machine quiesced:
/// `suspended`, `deadlock` or `completed`; `failed` and `error` exit 1.
fn effect_doc_ok(doc: &str) -> bool {
    ["suspended", "deadlock", "completed"]
        .iter()
        .any(|status| doc.starts_with(&format!(r#"{{"status":"{status}""#)))
}

fn exit_code(ok: bool) -> ExitCode {
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Runs `f` on a worker thread with a large stack, turning a panic into its
/// message (the panic hook installed in `main` keeps it silent).
fn guarded<T: Send, F: FnOnce() -> T + Send>(f: F) -> Result<T, String> {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("finvm".into())
            .stack_size(WORKER_STACK_BYTES)
            .spawn_scoped(scope, || {
                panic::catch_unwind(AssertUnwindSafe(f)).map_err(panic_message)
            })
            .map_err(|e| format!("cannot start the VM thread: {e}"))?
            .join()
            .unwrap_or_else(|payload| Err(panic_message(payload)))
    })
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

fn internal_error(panic_msg: &str) -> String {
    format!("InternalError: {panic_msg}")
}

/// The largest input file `finvm` reads by default (64 MiB): decoding JSON
/// takes up to some 60 times the text's size in memory, so a bigger file is
/// refused before it is read (`docs/limits.md`).
const DEFAULT_MAX_INPUT_BYTES: u64 = 64 << 20;

/// Set this environment variable to a byte count to read larger files.
const MAX_INPUT_ENV: &str = "FINVM_MAX_INPUT_BYTES";

fn max_input_bytes() -> u64 {
    std::env::var(MAX_INPUT_ENV)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_MAX_INPUT_BYTES)
}

/// Reads a file as UTF-8 text; the error is a Node-style message.
fn read_text(path: &Path) -> Result<String, String> {
    let file = File::open(path).map_err(|e| io_message(&e, "open", Some(path)))?;
    let max = max_input_bytes();
    let too_big = || {
        format!(
            "EFBIG: file too large, read '{}' (finvm reads at most {max} bytes; see {MAX_INPUT_ENV})",
            path.display()
        )
    };
    if file.metadata().is_ok_and(|m| m.is_file() && m.len() > max) {
        return Err(too_big());
    }
    let mut bytes = Vec::new();
    file.take(max.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| io_message(&e, "read", None))?;
    if bytes.len() as u64 > max {
        return Err(too_big());
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "invalid UTF-8: the file '{}' is not UTF-8 text (bad byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        )
    })
}

/// Reads an optional input file; absent gives the empty string.
fn read_optional(path: Option<&Path>) -> Result<String, String> {
    path.map_or(Ok(String::new()), read_text)
}

/// Node's `Error.message` shape: `<CODE>: <description>, <syscall>[ '<path>']`.
fn io_message(err: &io::Error, syscall: &str, path: Option<&Path>) -> String {
    let known = match err.kind() {
        io::ErrorKind::NotFound => Some(("ENOENT", "no such file or directory")),
        io::ErrorKind::PermissionDenied => Some(("EACCES", "permission denied")),
        io::ErrorKind::IsADirectory => Some(("EISDIR", "illegal operation on a directory")),
        io::ErrorKind::NotADirectory => Some(("ENOTDIR", "not a directory")),
        _ => None,
    };
    let head = match known {
        Some((code, description)) => format!("{code}: {description}"),
        None => err.to_string(),
    };
    match path {
        Some(path) => format!("{head}, {syscall} '{}'", path.display()),
        None => format!("{head}, {syscall}"),
    }
}

/// `{"status":<status>,"error":<msg>}` with `msg` escaped as `JSON.stringify` does.
fn status_json(status: &str, msg: &str) -> String {
    format!(
        r#"{{"status":"{status}","error":{}}}"#,
        serde_json::to_string(msg).unwrap_or_else(|_| "\"\"".to_string())
    )
}

/// Writes one line to stdout; a closed pipe is not an error worth a panic.
fn println_out(line: &str) {
    let mut out = io::stdout().lock();
    let _ = out
        .write_all(line.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
}

fn print_trace(lines: &[String]) {
    let mut err = BufWriter::new(io::stderr().lock());
    for line in lines {
        if writeln!(err, "{line}").is_err() {
            return;
        }
    }
    let _ = err.flush();
}
