//! `finvm bench`: the reference's built-in benchmarks (`HOST.md` §11.1,
//! Statistics and Graph traversal) plus the performance issue's workloads,
//! each run as a FinVM program.
//!
//! Every workload runs in a child process (`finvm bench --worker NAME`), so a
//! workload that fails, panics, runs out of memory or exceeds `--timeout`
//! becomes an error row instead of ending the whole run, and so each row can
//! report the peak RSS of its own process. The child times only
//! `run_program` (decoding and validation are excluded, as are dropping the
//! machine and checking the result) and reports the median of `--runs` runs.
//!
//! Every run is verified (result, state, and where cheap the exact step
//! count); a wrong answer marks the row `FAILED`. The comparison with Lua,
//! CPython, Node, Erlang and SQLite lives in `scripts/bench_compare.py`.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command as ProcessCommand, ExitCode, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use clap::Args;
use finvm::api::{load_program, run_program, RunOptions};
use finvm::machine::Machine;
use finvm::value::json::encode_value;
use finvm::Value;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{json, Value as Json};

/// The A-small program: the reference's exact 6-instruction `while` loop, N = 10^7.
const SUM_LOOP_JSON: &str = include_str!("../../../benches/programs/sum_loop.json");
/// FIB: naive recursive fib(32) with `CALL`.
const FIB_JSON: &str = include_str!("../../../benches/programs/fib.json");
/// The DB store workload, looked up at run time (written separately).
const DB_PROGRAM: &str = "db_store.json";

const I32_MAX: i64 = i32::MAX as i64;
/// Stack for the thread that runs a workload (deep programs must not overflow).
const WORKER_STACK_BYTES: usize = 256 << 20;

/// `finvm bench` options.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Run only the workloads whose name contains this text (case-insensitive).
    #[arg(long, value_name = "SUBSTR")]
    filter: Option<String>,
    /// Print the rows as a JSON array on stdout instead of a table.
    #[arg(long)]
    json: bool,
    /// One run per workload instead of three.
    #[arg(long)]
    quick: bool,
    /// Runs per workload (the median is reported); overrides --quick.
    #[arg(long, value_name = "K")]
    runs: Option<usize>,
    /// Seconds one workload (all its runs) may take before it is stopped.
    #[arg(long, value_name = "SECS", default_value_t = 300)]
    timeout: u64,
    /// Directory holding db_store.json (default: benches/programs of this
    /// checkout, then ./benches/programs).
    #[arg(long, value_name = "DIR")]
    programs: Option<PathBuf>,
    /// List the workloads and exit.
    #[arg(long)]
    list: bool,
    /// Write each selected workload's program JSON into DIR and exit.
    #[arg(long, value_name = "DIR")]
    export: Option<PathBuf>,
    /// Internal: run one workload in this process and print its raw result.
    #[arg(long, hide = true, value_name = "NAME")]
    worker: Option<String>,
}

/// What a workload counts as one operation for the ops/s column.
struct Ops {
    count: u64,
    unit: &'static str,
}

/// Produces a workload's program text, given a directory to look in (`None`:
/// the program file does not exist there).
type ProgramSource = Box<dyn Fn(&Path) -> Result<Option<String>, String>>;
/// Verifies a finished run.
type Check = Box<dyn Fn(&Machine) -> Result<(), String>>;

/// One benchmark: a program, run options, and a check of the finished machine.
struct Workload {
    name: &'static str,
    about: &'static str,
    ops: Ops,
    opts: RunOptions,
    program: ProgramSource,
    check: Check,
}

fn trace_opts() -> RunOptions {
    RunOptions {
        performance_mode: Some(false),
        collect_trace: true,
    }
}

fn perf_opts() -> RunOptions {
    RunOptions {
        performance_mode: Some(true),
        collect_trace: false,
    }
}

fn generated(text: String) -> ProgramSource {
    Box::new(move |_| Ok(Some(text.clone())))
}

fn int_json(v: impl std::fmt::Display) -> String {
    format!(r#"{{"int":"{v}"}}"#)
}

fn encoded(v: &Value) -> String {
    let mut s = String::new();
    encode_value(v, &mut s);
    s
}

/// Checks the main result (as its JSON encoding), and optionally exact steps
/// and state entries.
fn expect(result: String, steps: Option<u64>, state: Vec<(&'static str, String)>) -> Check {
    Box::new(move |m| {
        let got = encoded(&m.main_result());
        if got != result {
            return Err(format!("result {got}, expected {result}"));
        }
        if let Some(steps) = steps {
            if m.core.steps != steps {
                return Err(format!("steps {}, expected {steps}", m.core.steps));
            }
        }
        for (key, want) in &state {
            let got = m
                .core
                .state
                .get(*key)
                .map(encoded)
                .unwrap_or_else(|| "<absent>".into());
            if &got != want {
                return Err(format!("state {key} = {got}, expected {want}"));
            }
        }
        Ok(())
    })
}

/// `maxSteps` and friends as large as the format allows (i32).
fn generous_limits(extra: &[(&str, i64)]) -> Json {
    let mut limits = json!({ "maxSteps": I32_MAX });
    for (k, v) in extra {
        limits[*k] = json!(v);
    }
    limits
}

/// The A-small program with the loop bound and start replaced (A-big).
fn sum_loop_variant(start: &str, bound: &str, trace_all: bool) -> Result<String, String> {
    let mut doc: Json = serde_json::from_str(SUM_LOOP_JSON).map_err(|e| e.to_string())?;
    if start != "0" || bound != "10000000" {
        // constants: [0, 1, N] with i starting at constant 0; A-big adds a start constant.
        doc["constants"] = json!([{"int": "0"}, {"int": "1"}, {"int": bound}, {"int": start}]);
        doc["instructions"][1] = json!(["LOAD_CONST", 1, 3]);
    }
    if trace_all {
        doc["limits"]["maxTraceEvents"] = json!(I32_MAX);
    }
    serde_json::to_string(&doc).map_err(|e| e.to_string())
}

/// The reference's Statistics benchmark (`Benchmark/Statistics.purs`): fill a
/// list with 0..n-1 by `LIST_APPEND`, sum it by `LIST_GET`, `DIV` by n,
/// `STATE_SET "sum"`, `HALT sum`. `reference_limits` keeps the reference's
/// limits except `maxSteps`, which is raised so the run completes.
fn statistics_program(n: i64, reference_limits: bool) -> String {
    let limits = if reference_limits {
        json!({
            "maxSteps": 20 * n, "maxCallDepth": 10, "maxProcesses": 10,
            "maxProcessStepsPerSlice": 100, "maxRegistersPerFrame": 10, "maxFrames": 10,
            "maxListLength": n + 100, "maxMapSize": 100, "maxRecordFields": 10,
            "maxValueDepth": 10, "maxStateEntries": 100, "maxTraceEvents": 100,
            "maxProofEvents": 100, "maxMailboxSize": 100, "maxRemoteNodes": 10,
            "maxEventsEmitted": 100, "maxEffectsRequested": 100
        })
    } else {
        generous_limits(&[("maxListLength", n + 100)])
    };
    let doc = json!({
        "version": "1.0", "registerCount": 10, "performanceMode": true, "limits": limits,
        "constants": [{"int": n.to_string()}, {"int": "0"}, {"int": "1"}],
        "instructions": [
            ["LOAD_CONST", 0, 0], ["LIST_NEW", 1], ["LOAD_CONST", 2, 1],
            ["LABEL", "fill_loop"],
            ["EQ", 3, 2, 0], ["JUMP_IF", 3, "sum_start"],
            ["LIST_APPEND", 1, 1, 2], ["LOAD_CONST", 4, 2],
            ["ADD", 2, 2, 4], ["JUMP", "fill_loop"],
            ["LABEL", "sum_start"],
            ["LOAD_CONST", 5, 1], ["LOAD_CONST", 6, 1],
            ["LABEL", "sum_loop"],
            ["EQ", 7, 6, 0], ["JUMP_IF", 7, "done"],
            ["LIST_GET", 8, 1, 6], ["ADD", 5, 5, 8],
            ["LOAD_CONST", 9, 2], ["ADD", 6, 6, 9],
            ["JUMP", "sum_loop"],
            ["LABEL", "done"],
            ["DIV", 8, "RoundDown", 5, 0], ["STATE_SET", "sum", 5],
            ["HALT", 5]
        ]
    });
    doc.to_string()
}

/// Steps of [`statistics_program`] (`LABEL`s count): 3 + fill (7 per element
/// + 3 to leave) + 3 + sum (8 per element + 3 to leave) + 4.
fn statistics_steps(n: u64) -> u64 {
    3 + 7 * n + 3 + 3 + 8 * n + 3 + 4
}

/// The reference's Graph traversal benchmark (`Benchmark/Graph.purs`): a
/// `MAP_SET` chain i → i+1 for i < n, then `MAP_GET` from 0 until n.
fn graph_program(n: i64) -> String {
    let limits = json!({
        "maxSteps": 50 * n, "maxCallDepth": 10, "maxProcesses": 10,
        "maxProcessStepsPerSlice": 500, "maxRegistersPerFrame": 10, "maxFrames": 10,
        "maxListLength": n + 100, "maxMapSize": n + 100, "maxRecordFields": 10,
        "maxValueDepth": 10, "maxStateEntries": 100, "maxTraceEvents": 100,
        "maxProofEvents": 100, "maxMailboxSize": 100, "maxRemoteNodes": 10,
        "maxEventsEmitted": 100, "maxEffectsRequested": 100
    });
    let doc = json!({
        "version": "1.0", "registerCount": 10, "performanceMode": true, "limits": limits,
        "constants": [{"int": n.to_string()}, {"int": "0"}, {"int": "1"}],
        "instructions": [
            ["LOAD_CONST", 0, 0], ["MAP_NEW", 1], ["LOAD_CONST", 2, 1], ["LOAD_CONST", 3, 2],
            ["LABEL", "init_loop"],
            ["EQ", 4, 2, 0], ["JUMP_IF", 4, "traverse_start"],
            ["ADD", 5, 2, 3], ["MOVE", 6, 2], ["MAP_SET", 1, 1, 6, 5], ["ADD", 2, 2, 3],
            ["JUMP", "init_loop"],
            ["LABEL", "traverse_start"], ["LOAD_CONST", 2, 1],
            ["LABEL", "traverse_loop"],
            ["EQ", 4, 2, 0], ["JUMP_IF", 4, "done"], ["MAP_GET", 2, 1, 2],
            ["JUMP", "traverse_loop"],
            ["LABEL", "done"], ["HALT", 2]
        ]
    });
    doc.to_string()
}

/// Steps of [`graph_program`]: 4 + init (8 per node + 3) + 2 + walk (5 per hop + 3) + 2.
fn graph_steps(n: u64) -> u64 {
    4 + 8 * n + 3 + 2 + 5 * n + 3 + 2
}

/// MAP: n inserts then n lookups, keys `"k" ++ str.fromInt(i)`; returns the
/// sum of the looked-up values and stores the map size in state `size`.
fn map_program(n: i64) -> String {
    let doc = json!({
        "version": "1.0", "registerCount": 10, "performanceMode": true,
        "limits": generous_limits(&[("maxMapSize", n + 100)]),
        "constants": [{"int": n.to_string()}, {"int": "0"}, {"int": "1"}, "k"],
        "instructions": [
            ["LOAD_CONST", 0, 0], ["MAP_NEW", 1], ["LOAD_CONST", 2, 1], ["LOAD_CONST", 3, 2],
            ["LOAD_CONST", 4, 3],
            ["LABEL", "insert"],
            ["LT", 5, 2, 0], ["JUMP_IF_FALSE", 5, "lookup_start"],
            ["CALL_BUILTIN", 6, "str.fromInt@1", [2]], ["CALL_BUILTIN", 6, "str.concat@1", [4, 6]],
            ["MAP_SET", 1, 1, 6, 2], ["ADD", 2, 2, 3], ["JUMP", "insert"],
            ["LABEL", "lookup_start"], ["LOAD_CONST", 2, 1], ["LOAD_CONST", 7, 1],
            ["LABEL", "lookup"],
            ["LT", 5, 2, 0], ["JUMP_IF_FALSE", 5, "done"],
            ["CALL_BUILTIN", 6, "str.fromInt@1", [2]], ["CALL_BUILTIN", 6, "str.concat@1", [4, 6]],
            ["MAP_GET", 8, 1, 6], ["ADD", 7, 7, 8], ["ADD", 2, 2, 3], ["JUMP", "lookup"],
            ["LABEL", "done"], ["MAP_SIZE", 9, 1], ["STATE_SET", "size", 9], ["RETURN", 7]
        ]
    });
    doc.to_string()
}

/// Steps of [`map_program`]: 5 + insert (8 per key + 3) + 3 + lookup (9 per key + 3) + 4.
fn map_steps(n: u64) -> u64 {
    5 + 8 * n + 3 + 3 + 9 * n + 3 + 4
}

/// LIST: build an n-element list with `LIST_APPEND`, then sum it by index
/// with `LIST_GET` (the same `while` shape as A-small).
fn list_program(n: i64) -> String {
    let doc = json!({
        "version": "1.0", "registerCount": 8, "performanceMode": true,
        "limits": generous_limits(&[("maxListLength", n + 100)]),
        "constants": [{"int": n.to_string()}, {"int": "0"}, {"int": "1"}],
        "instructions": [
            ["LOAD_CONST", 0, 0], ["LIST_NEW", 1], ["LOAD_CONST", 2, 1], ["LOAD_CONST", 3, 2],
            ["LABEL", "fill"],
            ["LT", 4, 2, 0], ["JUMP_IF_FALSE", 4, "sum_start"],
            ["LIST_APPEND", 1, 1, 2], ["ADD", 2, 2, 3], ["JUMP", "fill"],
            ["LABEL", "sum_start"], ["LOAD_CONST", 2, 1], ["LOAD_CONST", 5, 1],
            ["LABEL", "sum"],
            ["LT", 4, 2, 0], ["JUMP_IF_FALSE", 4, "done"],
            ["LIST_GET", 6, 1, 2], ["ADD", 5, 5, 6], ["ADD", 2, 2, 3], ["JUMP", "sum"],
            ["LABEL", "done"], ["RETURN", 5]
        ]
    });
    doc.to_string()
}

/// Steps of [`list_program`]: 4 + fill (6 per element + 3) + 3 + sum (7 per element + 3) + 2.
fn list_steps(n: u64) -> u64 {
    4 + 6 * n + 3 + 3 + 7 * n + 3 + 2
}

/// RING: `main` spawns n-1 `node`s into a ring (each forwards to the one
/// spawned before it, the first to `main`), then sends a token around m
/// times; main counts the rounds and returns m. n·m messages in all.
fn ring_program(n: i64, m: i64) -> String {
    let doc = json!({
        "version": "1.0", "entrypoint": "main", "performanceMode": true,
        "limits": generous_limits(&[("maxProcesses", n + 10)]),
        "constants": [{"int": (n - 1).to_string()}, {"int": "0"}, {"int": "1"}, {"int": m.to_string()}],
        "functions": {
            "main": {"arity": 0, "registerCount": 8, "instructions": [
                ["LOAD_CONST", 0, 0], ["PROC_SELF", 1], ["LOAD_CONST", 2, 1], ["LOAD_CONST", 3, 2],
                ["LABEL", "spawn"],
                ["LT", 4, 2, 0], ["JUMP_IF_FALSE", 4, "go"],
                ["PROC_SPAWN", 1, "node", [1]], ["ADD", 2, 2, 3], ["JUMP", "spawn"],
                ["LABEL", "go"],
                ["LOAD_CONST", 5, 3], ["LOAD_CONST", 6, 1], ["PROC_SEND", 1, 5],
                ["LABEL", "loop"],
                ["PROC_RECEIVE", 7], ["ADD", 6, 6, 3], ["EQ", 4, 7, 3], ["JUMP_IF", 4, "done"],
                ["SUB", 5, 7, 3], ["PROC_SEND", 1, 5], ["JUMP", "loop"],
                ["LABEL", "done"], ["RETURN", 6]
            ]},
            "node": {"arity": 1, "registerCount": 2, "instructions": [
                ["LABEL", "loop"], ["PROC_RECEIVE", 1], ["PROC_SEND", 0, 1], ["JUMP", "loop"]
            ]}
        }
    });
    doc.to_string()
}

/// SPAWN (`waiting` false): `main` spawns n processes that exit at once
/// (`RETURN`) and returns n. IDLE (`waiting` true): the n processes block in
/// `PROC_RECEIVE` and are abandoned when `main` completes.
fn spawn_program(n: i64, waiting: bool) -> String {
    let child = if waiting {
        json!([["PROC_RECEIVE", 0], ["RETURN", 0]])
    } else {
        json!([["RETURN", 0]])
    };
    let doc = json!({
        "version": "1.0", "entrypoint": "main", "performanceMode": true,
        "limits": generous_limits(&[("maxProcesses", n + 10)]),
        "constants": [{"int": n.to_string()}, {"int": "0"}, {"int": "1"}],
        "functions": {
            "main": {"arity": 0, "registerCount": 6, "instructions": [
                ["LOAD_CONST", 0, 0], ["LOAD_CONST", 1, 1], ["LOAD_CONST", 2, 2],
                ["LABEL", "loop"],
                ["LT", 3, 1, 0], ["JUMP_IF_FALSE", 3, "done"],
                ["PROC_SPAWN", 4, "child", []], ["ADD", 1, 1, 2], ["JUMP", "loop"],
                ["LABEL", "done"], ["RETURN", 1]
            ]},
            "child": {"arity": 0, "registerCount": 1, "instructions": child}
        }
    });
    doc.to_string()
}

/// Steps of [`spawn_program`]: main 3 + 6 per spawn + 3 to leave + 2; each
/// child 1 step (`RETURN`, or the `PROC_RECEIVE` that blocks).
fn spawn_steps(n: u64) -> u64 {
    3 + 6 * n + 3 + 2 + n
}

/// The sum 0 + 1 + … + (n-1).
fn triangle(n: u64) -> u64 {
    n * (n.saturating_sub(1)) / 2
}

/// Finds `db_store.json`: `--programs`, this checkout's benches/programs,
/// then ./benches/programs.
fn programs_dirs(explicit: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = explicit {
        dirs.push(d.to_path_buf());
    }
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../benches/programs"));
    dirs.push(PathBuf::from("benches/programs"));
    dirs
}

fn workloads() -> Vec<Workload> {
    const STATS_N: i64 = 10_000;
    const N: u64 = 10_000_000;
    const LIST_N: i64 = 1_000_000;
    const MAP_N: i64 = 1_000_000;
    const SPAWN_N: i64 = 100_000;
    let two100: u128 = 1 << 100;
    let big_sum = u128::from(N) * two100 + u128::from(triangle(N));
    // 4 LOAD_CONST + 6 per iteration + 3 to leave + LABEL, RETURN.
    let sum_steps = 4 + 6 * N + 3 + 2;
    vec![
        Workload {
            name: "Statistics/perf",
            about: "reference HOST.md 11.1: LIST_APPEND 0..n-1, LIST_GET sum, n=10^4, performance mode",
            ops: Ops { count: 2 * STATS_N as u64, unit: "list ops" },
            opts: perf_opts(),
            program: generated(statistics_program(STATS_N, true)),
            check: expect(
                int_json(triangle(STATS_N as u64)),
                Some(statistics_steps(STATS_N as u64)),
                vec![("sum", int_json(triangle(STATS_N as u64)))],
            ),
        },
        Workload {
            name: "Statistics/trace",
            about: "the same in trace mode (performanceMode false, trace on; maxTraceEvents 100 as the reference)",
            ops: Ops { count: 2 * STATS_N as u64, unit: "list ops" },
            opts: trace_opts(),
            program: generated(statistics_program(STATS_N, true)),
            check: expect(
                int_json(triangle(STATS_N as u64)),
                Some(statistics_steps(STATS_N as u64)),
                vec![("sum", int_json(triangle(STATS_N as u64)))],
            ),
        },
        Workload {
            name: "Graph/perf",
            about: "reference HOST.md 11.1: MAP_SET chain i->i+1, MAP_GET walk, n=10^4, performance mode",
            ops: Ops { count: 2 * STATS_N as u64, unit: "map ops" },
            opts: perf_opts(),
            program: generated(graph_program(STATS_N)),
            check: expect(int_json(STATS_N), Some(graph_steps(STATS_N as u64)), vec![]),
        },
        Workload {
            name: "Graph/trace",
            about: "the same in trace mode (performanceMode false, trace on; maxTraceEvents 100 as the reference)",
            ops: Ops { count: 2 * STATS_N as u64, unit: "map ops" },
            opts: trace_opts(),
            program: generated(graph_program(STATS_N)),
            check: expect(int_json(STATS_N), Some(graph_steps(STATS_N as u64)), vec![]),
        },
        Workload {
            name: "A-small",
            about: "s=0; i=0; while i<N { s+=i; i+=1 }, N=10^7 (benches/programs/sum_loop.json)",
            ops: Ops { count: N, unit: "iterations" },
            opts: RunOptions::default(),
            program: generated(SUM_LOOP_JSON.to_string()),
            check: expect(int_json(triangle(N)), Some(sum_steps), vec![]),
        },
        Workload {
            name: "A-big",
            about: "the same loop with i starting at 2^100 (true bignums every step)",
            ops: Ops { count: N, unit: "iterations" },
            opts: RunOptions::default(),
            program: Box::new(move |_| {
                sum_loop_variant(&two100.to_string(), &(two100 + u128::from(N)).to_string(), false)
                    .map(Some)
            }),
            check: expect(int_json(big_sum), Some(sum_steps), vec![]),
        },
        Workload {
            name: "FIB",
            about: "naive recursive fib(32) with CALL (benches/programs/fib.json)",
            ops: Ops { count: 7_049_155, unit: "calls" },
            opts: RunOptions::default(),
            program: generated(FIB_JSON.to_string()),
            check: expect(int_json(2_178_309), None, vec![]),
        },
        Workload {
            name: "RING-1000x1000",
            about: "1000 processes pass a token around 1000 times (PROC_SPAWN/SEND/RECEIVE)",
            ops: Ops { count: 1_000_000, unit: "messages" },
            opts: RunOptions::default(),
            program: generated(ring_program(1000, 1000)),
            check: expect(int_json(1000), None, vec![]),
        },
        Workload {
            name: "RING-100000x10",
            about: "100,000 processes pass a token around 10 times",
            ops: Ops { count: 1_000_000, unit: "messages" },
            opts: RunOptions::default(),
            program: generated(ring_program(100_000, 10)),
            check: expect(int_json(10), None, vec![]),
        },
        Workload {
            name: "SPAWN",
            about: "spawn 100,000 processes that exit at once",
            ops: Ops { count: SPAWN_N as u64, unit: "processes" },
            opts: RunOptions::default(),
            program: generated(spawn_program(SPAWN_N, false)),
            check: expect(int_json(SPAWN_N), Some(spawn_steps(SPAWN_N as u64)), vec![]),
        },
        Workload {
            name: "IDLE-100k",
            about: "memory: 100,000 processes blocked in PROC_RECEIVE (see peak RSS)",
            ops: Ops { count: SPAWN_N as u64, unit: "processes" },
            opts: RunOptions::default(),
            program: generated(spawn_program(SPAWN_N, true)),
            check: expect(int_json(SPAWN_N), Some(spawn_steps(SPAWN_N as u64)), vec![]),
        },
        Workload {
            name: "LIST",
            about: "build a 10^6-element list with LIST_APPEND, then sum it with LIST_GET",
            ops: Ops { count: 2 * LIST_N as u64, unit: "list ops" },
            opts: RunOptions::default(),
            program: generated(list_program(LIST_N)),
            check: expect(
                int_json(triangle(LIST_N as u64)),
                Some(list_steps(LIST_N as u64)),
                vec![],
            ),
        },
        Workload {
            name: "MAP",
            about: "10^6 MAP_SET then 10^6 MAP_GET, keys \"k\"++str.fromInt(i)",
            ops: Ops { count: 2 * MAP_N as u64, unit: "map ops" },
            opts: RunOptions::default(),
            program: generated(map_program(MAP_N)),
            check: expect(
                int_json(triangle(MAP_N as u64)),
                Some(map_steps(MAP_N as u64)),
                vec![("size", int_json(MAP_N))],
            ),
        },
        Workload {
            name: "DB",
            about: "the database issue's store workload (benches/programs/db_store.json)",
            ops: Ops { count: 20_000, unit: "records" },
            opts: RunOptions::default(),
            program: Box::new(|dir: &Path| {
                let path = dir.join(DB_PROGRAM);
                match std::fs::read_to_string(&path) {
                    Ok(text) => Ok(Some(text)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
                    Err(e) => Err(format!("{}: {e}", path.display())),
                }
            }),
            check: Box::new(|m| {
                // [admins, db.hash]: 2000 admins of 20,000 and a SHA-256 hex digest.
                let got = encoded(&m.main_result());
                let hex = got
                    .strip_prefix(r#"{"list":[{"int":"2000"},{"string":""#)
                    .and_then(|rest| rest.strip_suffix(r#""}]}"#));
                if hex.is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit())) {
                    Ok(())
                } else {
                    Err(format!("result {got}, expected [2000, <sha-256 hex>]"))
                }
            }),
        },
        Workload {
            name: "TRACE",
            about: "A-small with performanceMode false and every step traced (maxTraceEvents = i32::MAX)",
            ops: Ops { count: N, unit: "iterations" },
            opts: trace_opts(),
            program: Box::new(|_| sum_loop_variant("0", "10000000", true).map(Some)),
            check: Box::new(move |m| {
                expect(int_json(triangle(N)), Some(sum_steps), vec![])(m)?;
                let traced = m.core.trace.len() as u64;
                if traced != m.core.steps || m.core.trace_truncated {
                    return Err(format!("{traced} trace entries for {} steps", m.core.steps));
                }
                Ok(())
            }),
        },
    ]
}

/// The result of one workload, as the parent reports it.
#[derive(Debug)]
struct Row {
    name: String,
    about: String,
    status: &'static str,
    times: Vec<f64>,
    cpu: Vec<f64>,
    steps: Option<u64>,
    ops: u64,
    ops_unit: String,
    peak_rss_kib: Option<u64>,
    result: String,
    detail: String,
}

impl Row {
    fn median(&self) -> Option<f64> {
        median(&self.times)
    }

    fn to_json(&self) -> Json {
        let median = self.median();
        let per_s = |count: Option<u64>| match (count, median) {
            (Some(c), Some(t)) if t > 0.0 => json!(c as f64 / t),
            _ => Json::Null,
        };
        json!({
            "name": self.name,
            "about": self.about,
            "status": self.status,
            "runs": self.times.len(),
            "median_s": median,
            "min_s": self.times.iter().copied().reduce(f64::min),
            "times_s": self.times,
            "cpu_median_s": self::median(&self.cpu),
            "cpu_s": self.cpu,
            "steps": self.steps,
            "instructions_per_s": per_s(self.steps),
            "ops": self.ops,
            "ops_unit": self.ops_unit,
            "ops_per_s": per_s(Some(self.ops)),
            "peak_rss_kib": self.peak_rss_kib,
            "result": self.result,
            "detail": self.detail,
        })
    }
}

/// Entry point of `finvm bench`.
pub fn cmd_bench(args: BenchArgs) -> ExitCode {
    let runs = args.runs.unwrap_or(if args.quick { 1 } else { 3 }).max(1);
    let dirs = programs_dirs(args.programs.as_deref());
    if let Some(name) = &args.worker {
        return worker(name, runs, &dirs);
    }
    let filter = args.filter.as_deref().map(str::to_lowercase);
    let selected: Vec<Workload> = workloads()
        .into_iter()
        .filter(|w| {
            filter
                .as_ref()
                .is_none_or(|f| w.name.to_lowercase().contains(f.as_str()))
        })
        .collect();
    if args.list {
        for w in &selected {
            println!("{:<18} {}", w.name, w.about);
        }
        return ExitCode::SUCCESS;
    }
    if let Some(dir) = &args.export {
        return export(&selected, dir, &dirs);
    }
    if selected.is_empty() {
        eprintln!("no workload matches the filter (see finvm bench --list)");
        return ExitCode::FAILURE;
    }
    let bar = ProgressBar::new(selected.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:24}] {pos}/{len} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(120));
    let mut rows = Vec::new();
    for w in &selected {
        bar.set_message(format!("{} x{runs}", w.name));
        let row = run_in_child(w, runs, args.timeout, args.programs.as_deref());
        bar.println(format!(
            "{:<18} {:<8} {}",
            row.name,
            row.status,
            row.median().map(fmt_time).unwrap_or_default()
        ));
        rows.push(row);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let out = if args.json {
        let arr: Vec<Json> = rows.iter().map(Row::to_json).collect();
        serde_json::to_string_pretty(&arr).unwrap_or_default() + "\n"
    } else {
        table(&rows)
    };
    let _ = io::stdout().lock().write_all(out.as_bytes());
    if rows
        .iter()
        .all(|r| r.status == "ok" || r.status == "skipped")
    {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn export(selected: &[Workload], dir: &Path, dirs: &[PathBuf]) -> ExitCode {
    if let Err(e) = std::fs::create_dir_all(dir) {
        eprintln!("{}: {e}", dir.display());
        return ExitCode::FAILURE;
    }
    for w in selected {
        match find_program(w, dirs) {
            Ok(Some(text)) => {
                let path = dir.join(format!("{}.json", w.name.replace('/', "-")));
                if let Err(e) = std::fs::write(&path, text) {
                    eprintln!("{}: {e}", path.display());
                    return ExitCode::FAILURE;
                }
                println!("{}", path.display());
            }
            Ok(None) => eprintln!("{}: program not found, skipped", w.name),
            Err(e) => {
                eprintln!("{}: {e}", w.name);
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

fn find_program(w: &Workload, dirs: &[PathBuf]) -> Result<Option<String>, String> {
    for d in dirs {
        if let Some(text) = (w.program)(d)? {
            return Ok(Some(text));
        }
    }
    Ok(None)
}

/// Runs one workload in a child `finvm bench --worker`, with a timeout.
fn run_in_child(w: &Workload, runs: usize, timeout: u64, programs: Option<&Path>) -> Row {
    let mut row = Row {
        name: w.name.to_string(),
        about: w.about.to_string(),
        status: "error",
        times: Vec::new(),
        cpu: Vec::new(),
        steps: None,
        ops: w.ops.count,
        ops_unit: w.ops.unit.to_string(),
        peak_rss_kib: None,
        result: String::new(),
        detail: String::new(),
    };
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            row.detail = format!("cannot find the finvm executable: {e}");
            return row;
        }
    };
    let mut cmd = ProcessCommand::new(exe);
    cmd.args(["bench", "--worker", w.name, "--runs", &runs.to_string()]);
    if let Some(p) = programs {
        cmd.arg("--programs").arg(p);
    }
    let mut child = match cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn() {
        Ok(c) => c,
        Err(e) => {
            row.detail = format!("cannot start the worker: {e}");
            return row;
        }
    };
    // Read stdout on a thread so a chatty child never blocks on a full pipe.
    let mut stdout = child.stdout.take();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(out) = stdout.as_mut() {
            let _ = out.read_to_string(&mut s);
        }
        s
    });
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if start.elapsed() > Duration::from_secs(timeout) => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                row.detail = format!("waiting for the worker: {e}");
                return row;
            }
        }
    };
    let out = reader.join().unwrap_or_default();
    let Some(status) = status else {
        row.status = "timeout";
        row.detail = format!("stopped after {timeout} s (--timeout)");
        return row;
    };
    let Some(doc) = out
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str::<Json>(l).ok())
    else {
        row.detail = format!("worker exited with {status} and no report (crash or out of memory?)");
        return row;
    };
    row.status = match doc["status"].as_str() {
        Some("ok") => "ok",
        Some("FAILED") => "FAILED",
        Some("skipped") => "skipped",
        _ => "error",
    };
    row.times = doc["times_s"]
        .as_array()
        .map(|a| a.iter().filter_map(Json::as_f64).collect())
        .unwrap_or_default();
    row.cpu = doc["cpu_s"]
        .as_array()
        .map(|a| a.iter().filter_map(Json::as_f64).collect())
        .unwrap_or_default();
    row.steps = doc["steps"].as_u64();
    row.peak_rss_kib = doc["peak_rss_kib"].as_u64();
    row.result = doc["result"].as_str().unwrap_or_default().to_string();
    row.detail = doc["detail"].as_str().unwrap_or_default().to_string();
    row
}

/// `--worker NAME`: runs the workload `runs` times and prints one JSON line.
fn worker(name: &str, runs: usize, dirs: &[PathBuf]) -> ExitCode {
    let name = name.to_string();
    let dirs = dirs.to_vec();
    let report = std::thread::Builder::new()
        .name("finvm-bench".into())
        .stack_size(WORKER_STACK_BYTES)
        .spawn(move || {
            std::panic::catch_unwind(|| worker_runs(&name, runs, &dirs)).unwrap_or_else(|p| {
                let msg = p
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| p.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".into());
                json!({"status": "error", "detail": format!("panic: {msg}")})
            })
        })
        .map_err(|e| e.to_string())
        .and_then(|h| h.join().map_err(|_| "worker thread failed".to_string()))
        .unwrap_or_else(|e| json!({"status": "error", "detail": e}));
    let mut report = report;
    report["peak_rss_kib"] = json!(peak_rss_kib());
    println!("{report}");
    ExitCode::SUCCESS
}

fn worker_runs(name: &str, runs: usize, dirs: &[PathBuf]) -> Json {
    let all = workloads();
    let Some(w) = all.iter().find(|w| w.name == name) else {
        return json!({"status": "error", "detail": format!("unknown workload {name}")});
    };
    let text = match find_program(w, dirs) {
        Ok(Some(text)) => text,
        Ok(None) => {
            return json!({"status": "skipped", "detail": format!("{DB_PROGRAM} not found in benches/programs")})
        }
        Err(e) => return json!({"status": "error", "detail": e}),
    };
    let program = match load_program(&text) {
        Ok(p) => Rc::new(p),
        Err(e) => return json!({"status": "error", "detail": format!("load: {e}")}),
    };
    let mut times = Vec::new();
    let mut cpu = Vec::new();
    let mut steps: Option<u64> = None;
    let mut result = String::new();
    for _ in 0..runs {
        let cpu0 = thread_cpu_s();
        let t0 = Instant::now();
        let out = run_program(program.clone(), &w.opts);
        let elapsed = t0.elapsed().as_secs_f64();
        if let (Some(a), Some(b)) = (cpu0, thread_cpu_s()) {
            cpu.push(b - a);
        }
        let m = match (out.result, out.machine) {
            (Ok(()), Some(m)) => m,
            (Err(e), _) => return json!({"status": "error", "times_s": times, "detail": e}),
            (Ok(()), None) => return json!({"status": "error", "detail": "no machine"}),
        };
        times.push(elapsed);
        let verdict = (w.check)(&m);
        if let Err(e) = verdict {
            return json!({"status": "FAILED", "times_s": times, "steps": m.core.steps, "detail": e});
        }
        if steps.is_some_and(|s| s != m.core.steps) {
            return json!({"status": "FAILED", "times_s": times, "detail": "steps differ between runs"});
        }
        steps = Some(m.core.steps);
        result = encoded(&m.main_result());
        drop(m);
    }
    json!({"status": "ok", "times_s": times, "cpu_s": cpu, "steps": steps, "result": result})
}

/// CPU time of the calling thread so far, in seconds.
#[cfg(unix)]
fn thread_cpu_s() -> Option<f64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; the call only writes it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9)
}

#[cfg(not(unix))]
fn thread_cpu_s() -> Option<f64> {
    None
}

/// Peak resident set size of this process (Linux `VmHWM`), in KiB.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The median (upper middle for an even count).
fn median(xs: &[f64]) -> Option<f64> {
    if xs.is_empty() {
        return None;
    }
    let mut t = xs.to_vec();
    t.sort_by(f64::total_cmp);
    Some(t[t.len() / 2])
}

fn fmt_time(t: f64) -> String {
    if t >= 1.0 {
        format!("{t:.3} s")
    } else if t >= 1e-3 {
        format!("{:.2} ms", t * 1e3)
    } else {
        format!("{:.1} µs", t * 1e6)
    }
}

fn fmt_rate(r: f64) -> String {
    if r >= 1e9 {
        format!("{:.2} G", r / 1e9)
    } else if r >= 1e6 {
        format!("{:.1} M", r / 1e6)
    } else if r >= 1e3 {
        format!("{:.1} k", r / 1e3)
    } else {
        format!("{r:.1}")
    }
}

fn median_cpu(r: &Row) -> String {
    median(&r.cpu).map(fmt_time).unwrap_or_default()
}

/// The human-readable table.
fn table(rows: &[Row]) -> String {
    let header = [
        "workload", "status", "time", "cpu", "runs", "steps", "instr/s", "ops/s", "peak RSS",
    ];
    let mut cells: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for r in rows {
        let median = r.median();
        let rate = |count: u64| {
            median
                .filter(|t| *t > 0.0)
                .map(|t| fmt_rate(count as f64 / t))
                .unwrap_or_default()
        };
        cells.push(vec![
            r.name.clone(),
            r.status.to_string(),
            median.map(fmt_time).unwrap_or_default(),
            median_cpu(r),
            r.times.len().to_string(),
            r.steps.map(|s| s.to_string()).unwrap_or_default(),
            r.steps.map(rate).unwrap_or_default(),
            if median.is_some() {
                format!("{} {}/s", rate(r.ops), r.ops_unit)
            } else {
                String::new()
            },
            r.peak_rss_kib
                .map(|k| format!("{:.1} MiB", k as f64 / 1024.0))
                .unwrap_or_default(),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            cells
                .iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for (i, r) in cells.iter().enumerate() {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, s)| {
                let pad = widths[c] - s.chars().count();
                // Text columns left-aligned, numbers right-aligned.
                if c < 2 {
                    format!("{s}{}", " ".repeat(pad))
                } else {
                    format!("{}{s}", " ".repeat(pad))
                }
            })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
        if i == 0 {
            let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
            out.push_str(&rule.join("  "));
            out.push('\n');
        }
    }
    for r in rows.iter().filter(|r| !r.detail.is_empty()) {
        out.push_str(&format!("{}: {}\n", r.name, r.detail));
    }
    out
}
