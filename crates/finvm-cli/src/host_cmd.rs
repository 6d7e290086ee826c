//! `finvm live`, `finvm replay` and `finvm journal …`: the host of
//! `finvm-host` on the command line.
//!
//! `live` and `replay` print one JSON line per VM call (round) —
//! `{"round","status","events","pending","result","state"}` — then the final
//! document `{"status":"completed","result","state","events","rounds","effects"}`
//! (or `{"status":"error","error":…}`). For one program and journal the two
//! print identical bytes. A progress line goes to standard error once a run
//! has taken more than a second, and then at most once a second.
//!
//! With `--grant` and a key source (`run-sealed`'s) they open a sealed
//! program, inputs (`--inputs`) and, for `live`, store (`--sealed-store`)
//! before anything runs or is journaled; `--seal-output` prints every
//! document as an `output` envelope.
//!
//! Exit codes: 0 completed; 1 error; 2 the journal diverges from the run
//! (mismatch, exhausted, unused entries); 3 an effect is in doubt (see
//! `finvm journal resolve`).

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use finvm::effect::{load_program, Overrides};
use finvm::program::Program;
use finvm_host::journal::{self, JournalUrl, OpenMode, Slot};
use finvm_host::store::{Flavor, Store};
use finvm_host::{
    run_live, run_replay, BuiltinOptions, HostError, LiveOptions, LoopbackTransport, Registry,
    RoundReport, StoreHandler,
};
use finvm_secure::{seal_output, Dek};

use crate::secure_cmd::{open_for_run, OpenArgs, Opened};

/// `finvm live`.
#[derive(Args)]
pub struct LiveArgs {
    /// The program: JSON, or a `program` envelope with --grant.
    file: PathBuf,
    #[command(flatten)]
    open: OpenArgs,
    /// Load the memory store from this sealed database: a `db` envelope (with --grant) or a v2 bundle (with a passphrase).
    #[arg(long, value_name = "FILE")]
    sealed_store: Option<PathBuf>,
    /// The journal: a file path, `sqlite:PATH` or `postgres://…` (created when absent; an existing journal is replayed first, then the run goes on live).
    #[arg(long, value_name = "URL")]
    journal: String,
    /// The run id inside a SQLite or PostgreSQL journal (default: the URL's `run=` parameter, else `default`).
    #[arg(long, value_name = "ID")]
    run: Option<String>,
    /// A JSON file with `{"input": {...}, "state": {...}}` overrides.
    #[arg(long, value_name = "FILE")]
    overrides: Option<PathBuf>,
    /// Where `db.*`/`cache.*` effects go: `memory` (rebuilt from the journal on restart) or `sqlite:PATH`.
    #[arg(long, value_name = "STORE", default_value = "memory")]
    store: String,
    /// What to do with an HTTP effect found in doubt on restart: `fail` (stop and name it) or `retry` (send it again with the same Idempotency-Key; only for servers that deduplicate by it).
    #[arg(long, value_enum, default_value = "fail")]
    in_doubt: InDoubtArg,
    /// Default HTTP timeout in milliseconds (a payload's `timeoutMs` wins).
    #[arg(long, value_name = "MS", default_value_t = 30_000)]
    http_timeout_ms: u64,
    /// At most this many effects are performed at once.
    #[arg(long, value_name = "N", default_value_t = 16)]
    concurrency: usize,
}

/// `--in-doubt`.
#[derive(Clone, Copy, ValueEnum)]
pub enum InDoubtArg {
    /// Stop with exit code 3, naming the effect.
    Fail,
    /// Perform it again.
    Retry,
}

/// `finvm replay`.
#[derive(Args)]
pub struct ReplayArgs {
    /// The program: JSON, or a `program` envelope with --grant.
    file: PathBuf,
    #[command(flatten)]
    open: OpenArgs,
    /// The journal: a file path (a JSON-lines journal or a reference JSON array), `sqlite:PATH` or `postgres://…`.
    #[arg(long, value_name = "URL")]
    journal: String,
    /// The run id inside a SQLite or PostgreSQL journal.
    #[arg(long, value_name = "ID")]
    run: Option<String>,
    /// A JSON file with `{"input": {...}, "state": {...}}` overrides.
    #[arg(long, value_name = "FILE")]
    overrides: Option<PathBuf>,
}

/// `finvm journal …`.
#[derive(Subcommand)]
pub enum JournalCommand {
    /// Print a journal in the reference format: a JSON array of `{"kind","pid","key","type_","payload","result"}`, one entry per line; in-doubt entries are listed on standard error.
    Show {
        /// The journal URL.
        url: String,
        /// The run id inside a SQLite or PostgreSQL journal.
        #[arg(long, value_name = "ID")]
        run: Option<String>,
        /// List the runs of a SQLite or PostgreSQL journal instead (`run`, entries, in doubt), one JSON line each.
        #[arg(long)]
        runs: bool,
    },
    /// Settle an in-doubt effect: record the result it had (`--result`), or mark it not performed so the next `finvm live` performs it (`--retry`).
    Resolve {
        /// The journal URL.
        url: String,
        /// The journal index of the in-doubt effect.
        index: u64,
        /// The effect took effect: its result, as Value JSON (e.g. `{"string":"OK"}`).
        #[arg(
            long,
            value_name = "VALUE-JSON",
            conflicts_with = "retry",
            required_unless_present = "retry"
        )]
        result: Option<String>,
        /// The effect did not take effect: perform it again.
        #[arg(long)]
        retry: bool,
        /// The run id inside a SQLite or PostgreSQL journal.
        #[arg(long, value_name = "ID")]
        run: Option<String>,
    },
}

/// One line on stdout.
fn out_line(line: &str) {
    let mut out = io::stdout().lock();
    let _ = out
        .write_all(line.as_bytes())
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush());
}

fn error_doc(msg: &str) -> String {
    format!(
        r#"{{"status":"error","error":{}}}"#,
        serde_json::to_string(msg).unwrap_or_else(|_| "\"\"".into())
    )
}

fn fail(msg: &str, code: u8) -> ExitCode {
    out_line(&error_doc(msg));
    ExitCode::from(code)
}

/// Where documents go: stdout, each sealed as an `output` envelope when a
/// key is set (`--seal-output`).
struct Out(Option<Dek>);

impl Out {
    fn line(&self, doc: &str) {
        match &self.0 {
            Some(dek) => out_line(&seal_output(dek, doc).to_json()),
            None => out_line(doc),
        }
    }

    fn fail(&self, msg: &str, code: u8) -> ExitCode {
        self.line(&error_doc(msg));
        ExitCode::from(code)
    }
}

/// Prints each round, and a progress line on stderr for long runs.
struct Printer {
    out: Out,
    verb: &'static str,
    started: Instant,
    last: Option<Instant>,
    effects: u64,
}

impl Printer {
    fn new(verb: &'static str, out: Out) -> Printer {
        Printer {
            out,
            verb,
            started: Instant::now(),
            last: None,
            effects: 0,
        }
    }

    fn round(&mut self, r: &RoundReport) {
        self.out.line(&r.to_json());
        self.effects = r.first_index + r.pending.len() as u64;
        let now = Instant::now();
        let due = match self.last {
            None => now.duration_since(self.started) >= Duration::from_secs(1),
            Some(t) => now.duration_since(t) >= Duration::from_secs(1),
        };
        if due {
            self.last = Some(now);
            eprintln!(
                "finvm {}: round {}, {} effects, {:.1}s",
                self.verb,
                r.round,
                self.effects,
                now.duration_since(self.started).as_secs_f64()
            );
        }
    }
}

/// Reads and opens the program (and inputs and sealed store), then reads the
/// overrides text (`""`: no overrides).
fn load(
    file: &Path,
    open: &OpenArgs,
    sealed_store: Option<&Path>,
    overrides: Option<&PathBuf>,
) -> Result<(Opened, String), String> {
    let opened = open_for_run(open, file, sealed_store)?;
    let overrides = match overrides {
        Some(p) => crate::read_text(p)?,
        None => String::new(),
    };
    Ok((opened, overrides))
}

/// Loads the program (validated as `finvm run` does, with decrypted input
/// values as `run-sealed` does) and decodes the overrides.
fn prepare(
    text: &str,
    inputs: Option<&str>,
    overrides: &str,
) -> Result<(Rc<Program>, Overrides), String> {
    let program = match inputs {
        None => load_program(text).map_err(|e| format!("VM {}: {}", e.status(), e.message()))?,
        Some(values) => program_with_inputs(text, values)?,
    };
    let overrides = Overrides::decode(overrides)?;
    Ok((program, overrides))
}

/// As `finvm_secure::run_with_inputs` decodes: a program without `inputs`
/// gets an empty schema, so values it does not declare are reported.
fn program_with_inputs(text: &str, values: &str) -> Result<Rc<Program>, String> {
    let mut root = finvm::decode::parse_json(text).map_err(|e| format!("VM error: {e}"))?;
    if let Some(obj) = root.as_object_mut() {
        obj.entry("inputs")
            .or_insert_with(|| serde_json::json!({"schema": [], "values": {}}));
    }
    let doc = finvm::decode::decode_program_json(&root, Some(values))
        .map_err(|e| format!("VM error: {e}"))?;
    let program = finvm::validate::compile(doc).map_err(|e| format!("VM failed: {e}"))?;
    Ok(Rc::new(program))
}

/// A memory store loaded with a sealed store's opened database.
fn memory_store(db: &str) -> Result<Store, String> {
    let mut store = Store::open_memory().map_err(|e| format!("store: {e}"))?;
    store.set_flavor(Flavor::Memory);
    store
        .load_plaintext(db)
        .map_err(|e| format!("--sealed-store: {e}"))?;
    Ok(store)
}

fn finish(result: Result<finvm_host::RunReport, HostError>, verb: &str, p: &Printer) -> ExitCode {
    match result {
        Ok(report) => {
            p.out.line(&report.to_json());
            if p.last.is_some() {
                let s = report.stats;
                eprintln!(
                    "finvm {verb}: completed: {} rounds, {} effects ({} from the journal, {} performed, {} performed again after a crash), {:.1}s",
                    report.rounds,
                    report.effects,
                    s.replayed,
                    s.performed,
                    s.retried,
                    p.started.elapsed().as_secs_f64()
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => p.out.fail(&e.to_string(), e.exit_code()),
    }
}

/// `finvm live FILE --journal URL`.
pub fn live(args: LiveArgs) -> ExitCode {
    if args.sealed_store.is_some() && args.store != "memory" {
        return fail(
            "--sealed-store loads the memory store; it cannot be combined with --store sqlite:PATH",
            1,
        );
    }
    // Everything is opened before anything runs or is journaled.
    let (opened, overrides) = match load(
        &args.file,
        &args.open,
        args.sealed_store.as_deref(),
        args.overrides.as_ref(),
    ) {
        Ok(x) => x,
        Err(m) => return fail(&m, 1),
    };
    let seal_with = opened.seal_with.clone();
    let out = Out(opened.seal_with.clone());
    let outcome = crate::guarded(move || {
        let (program, overrides) =
            match prepare(&opened.program, opened.inputs.as_deref(), &overrides) {
                Ok(x) => x,
                Err(m) => return out.fail(&m, 1),
            };
        let sealed_store = match opened.store.as_deref().map(memory_store).transpose() {
            Ok(s) => s,
            Err(m) => return out.fail(&m, 1),
        };
        let mut journal = match journal::open(&args.journal, args.run.as_deref(), OpenMode::Write) {
            Ok(j) => j,
            Err(e) => return out.fail(&e.to_string(), 1),
        };
        let store = if let Some(s) = sealed_store {
            Ok(StoreHandler::new(s, false))
        } else if args.store == "memory" {
            Store::open_memory().map(|mut s| {
                s.set_flavor(Flavor::Memory);
                StoreHandler::new(s, false)
            })
        } else if let Some(path) = args.store.strip_prefix("sqlite:") {
            Store::open_sqlite(std::path::Path::new(path)).map(|s| StoreHandler::new(s, true))
        } else {
            return out.fail(
                &format!(
                    "--store must be `memory` or `sqlite:PATH`, not `{}`",
                    args.store
                ),
                1,
            );
        };
        let store = match store {
            Ok(s) => s,
            Err(e) => return out.fail(&format!("store: {e}"), 1),
        };
        let opts = BuiltinOptions {
            http_timeout: Duration::from_millis(args.http_timeout_ms),
            http_retry_in_doubt: matches!(args.in_doubt, InDoubtArg::Retry),
        };
        let mut registry = Registry::builtin(&opts, store);
        registry.set_transport(std::sync::Arc::new(LoopbackTransport::new()));
        let live_opts = LiveOptions {
            max_concurrency: args.concurrency.max(1),
        };
        let mut printer = Printer::new("live", out);
        let result = run_live(
            program,
            &overrides,
            journal.as_mut(),
            &registry,
            &live_opts,
            &mut |r| printer.round(r),
        );
        finish(result, "live", &printer)
    });
    outcome
        .unwrap_or_else(|panic_msg| Out(seal_with).fail(&format!("InternalError: {panic_msg}"), 1))
}

/// `finvm replay FILE --journal URL`.
pub fn replay(args: ReplayArgs) -> ExitCode {
    let (opened, overrides) = match load(&args.file, &args.open, None, args.overrides.as_ref()) {
        Ok(x) => x,
        Err(m) => return fail(&m, 1),
    };
    let seal_with = opened.seal_with.clone();
    let out = Out(opened.seal_with.clone());
    // Read the journal first: replay itself performs no I/O.
    let slots: Vec<Slot> = match journal::open(&args.journal, args.run.as_deref(), OpenMode::Read)
        .and_then(|mut j| j.load())
    {
        Ok(s) => s,
        Err(e) => return out.fail(&e.to_string(), 1),
    };
    let outcome = crate::guarded(move || {
        let (program, overrides) =
            match prepare(&opened.program, opened.inputs.as_deref(), &overrides) {
                Ok(x) => x,
                Err(m) => return out.fail(&m, 1),
            };
        let mut printer = Printer::new("replay", out);
        let result = run_replay(program, &overrides, &slots, &mut |r| printer.round(r));
        finish(result, "replay", &printer)
    });
    outcome
        .unwrap_or_else(|panic_msg| Out(seal_with).fail(&format!("InternalError: {panic_msg}"), 1))
}

/// `finvm journal show|resolve`.
pub fn journal_cmd(cmd: JournalCommand) -> ExitCode {
    match cmd {
        JournalCommand::Show { url, run, runs } => {
            if runs {
                return show_runs(&url);
            }
            let slots = match journal::open(&url, run.as_deref(), OpenMode::Read)
                .and_then(|mut j| j.load())
            {
                Ok(s) => s,
                Err(e) => return fail(&e.to_string(), 1),
            };
            out_line(&journal::reference_array_text(&slots));
            for s in slots.iter().filter(|s| s.result.is_none()) {
                eprintln!(
                    "entry {} is in doubt{}: {}",
                    s.index,
                    if s.retry {
                        " (marked: perform again)"
                    } else {
                        ""
                    },
                    s.intent.signature()
                );
            }
            ExitCode::SUCCESS
        }
        JournalCommand::Resolve {
            url,
            index,
            result,
            retry,
            run,
        } => {
            let mut j = match journal::open(&url, run.as_deref(), OpenMode::Write) {
                Ok(j) => j,
                Err(e) => return fail(&e.to_string(), 1),
            };
            let slots = match j.load() {
                Ok(s) => s,
                Err(e) => return fail(&e.to_string(), 1),
            };
            match slots.get(index as usize) {
                Some(s) if s.result.is_none() => {}
                Some(_) => return fail(&format!("entry {index} already has a result"), 1),
                None => return fail(&format!("the journal has no entry {index}"), 1),
            }
            let outcome = if retry {
                j.set_retry(index, true)
            } else {
                let text = result.unwrap_or_default();
                let parsed = serde_json::from_str::<serde_json::Value>(&text)
                    .map_err(|e| format!("--result is not JSON: {e}"))
                    .and_then(|v| {
                        finvm_host::convert::from_tagless(&v)
                            .map_err(|m| format!("--result is not a Value: {m}"))
                            .and_then(|value| finvm_host::convert::tagless(&value))
                    });
                match parsed {
                    Ok(v) => j.record_results(&[(index, v)]),
                    Err(m) => return fail(&m, 1),
                }
            };
            match outcome {
                Ok(()) => {
                    out_line(&format!(
                        r#"{{"status":"resolved","index":{index},"as":"{}"}}"#,
                        if retry { "retry" } else { "result" }
                    ));
                    ExitCode::SUCCESS
                }
                Err(e) => fail(&e.to_string(), 1),
            }
        }
    }
}

fn show_runs(url: &str) -> ExitCode {
    let runs = match JournalUrl::parse(url) {
        JournalUrl::Sqlite { path, .. } => {
            finvm_host::journal::sqlite::SqliteJournal::list_runs(&path)
        }
        JournalUrl::Postgres { url, .. } => finvm_host::journal::pg::PgJournal::list_runs(&url),
        JournalUrl::File(_) => match journal::open(url, None, OpenMode::Read) {
            Ok(mut j) => {
                let run = j.info().run.clone();
                j.load().map(|slots| {
                    let done = slots.iter().filter(|s| s.result.is_some()).count() as u64;
                    vec![(run, done, slots.len() as u64 - done)]
                })
            }
            Err(e) => Err(e),
        },
    };
    match runs {
        Ok(runs) => {
            for (run, done, doubt) in runs {
                out_line(&format!(
                    r#"{{"run":{},"entries":{done},"inDoubt":{doubt}}}"#,
                    serde_json::to_string(&run).unwrap_or_default()
                ));
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e.to_string(), 1),
    }
}
