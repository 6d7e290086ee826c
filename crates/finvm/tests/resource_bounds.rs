//! Resource bounds (issue 7, part 3): every allocation a program can drive
//! runs into a limit with a clean error — or, for the trace and the proof
//! trace, a truncation — and the peak memory of each run stays under a
//! stated bound. The limits and bounds are documented in `docs/limits.md`.
//!
//! Each test runs its workload in a child process (this test binary again,
//! filtered to the one test, with `FINVM_RESOURCE_BOUNDS_CHILD` set) on a
//! 256 MiB stack like the CLI's worker thread, and reads the child's peak
//! resident set (`VmHWM` in `/proc/self/status`). A crash of the child (a
//! stack overflow, an allocation failure) fails the test.

use finvm::api::{run_json, run_program, RunOptions};
use serde_json::{json, Value as J};
use std::process::Command;
use std::rc::Rc;

const CHILD_ENV: &str = "FINVM_RESOURCE_BOUNDS_CHILD";
const MIB: u64 = 1024;

/// Peak resident set of this process, in KiB.
fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// What the child reports: the workload's output and its peak RSS.
struct Measured {
    out: String,
    peak_kib: u64,
}

/// Runs `work` in a child process and returns its output and peak RSS.
/// In the child itself, runs `work`, prints the report and exits.
fn measured(name: &str, work: fn() -> String) -> Measured {
    if std::env::var(CHILD_ENV).as_deref() == Ok(name) {
        let out = std::thread::Builder::new()
            .stack_size(256 << 20)
            .spawn(work)
            .expect("worker thread")
            .join()
            .unwrap_or_else(|_| "PANIC".to_string());
        let shown: String = out.chars().take(4000).collect();
        println!("\n@@OUT {}", shown.replace('\n', "\\n"));
        println!("@@HWM {}", vm_hwm_kib());
        std::process::exit(0);
    }
    let exe = std::env::current_exe().expect("test binary");
    let child = Command::new(exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, name)
        .output()
        .expect("cannot run the child");
    let stdout = String::from_utf8_lossy(&child.stdout);
    let field = |tag: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(tag))
            .map(str::to_string)
    };
    let (Some(out), Some(hwm)) = (field("@@OUT "), field("@@HWM ")) else {
        panic!(
            "{name}: the child did not finish cleanly ({}):\n{stdout}\n{}",
            child.status,
            String::from_utf8_lossy(&child.stderr)
        );
    };
    assert_ne!(out, "PANIC", "{name}: the workload panicked");
    let peak_kib = hwm.trim().parse().expect("VmHWM");
    eprintln!("{name}: peak RSS {} MiB", peak_kib / MIB);
    Measured {
        out: out.replace("\\n", "\n"),
        peak_kib,
    }
}

/// Asserts the run failed with exactly `error`, under `max_mib` of peak RSS.
fn assert_fails(m: &Measured, error: &str, max_mib: u64) {
    let doc: J = serde_json::from_str(&m.out).unwrap_or_else(|e| panic!("{e}: {}", m.out));
    assert_eq!(doc["status"], "failed", "{}", m.out);
    assert_eq!(doc["error"].as_str(), Some(error), "{}", m.out);
    assert_peak(m, max_mib);
}

fn assert_peak(m: &Measured, max_mib: u64) {
    assert!(
        m.peak_kib < max_mib * MIB,
        "peak RSS {} MiB is over the stated bound of {max_mib} MiB",
        m.peak_kib / MIB
    );
}

fn run(program: J) -> String {
    run_json(&program.to_string(), &RunOptions::default()).json
}

/// A counted loop: r0 counts from 0 to `n` (constants 0, 1 and `n` are
/// constants 0..3, `consts` follow from index 3), `setup` runs once, `body`
/// every round, and the program returns r5.
fn looped(consts: &[J], setup: &[J], body: &[J], n: i64, limits: J) -> J {
    let mut constants = vec![json!(0), json!(1), json!(n)];
    constants.extend_from_slice(consts);
    let mut code = vec![
        json!(["LOAD_CONST", 0, 0]),
        json!(["LOAD_CONST", 1, 1]),
        json!(["LOAD_CONST", 2, 2]),
    ];
    code.extend_from_slice(setup);
    code.push(json!(["LABEL", "top"]));
    code.extend_from_slice(body);
    code.extend([
        json!(["ADD", 0, 0, 1]),
        json!(["LT", 3, 0, 2]),
        json!(["JUMP_IF", 3, "top"]),
        json!(["RETURN", 5]),
    ]);
    json!({"registerCount": 16, "constants": constants, "instructions": code, "limits": limits})
}

// ------------------------------------------------------------ numbers and strings

#[test]
fn int_bits_squaring_loop_stops_at_max_int_bits() {
    let m = measured("int_bits_squaring_loop_stops_at_max_int_bits", || {
        run(looped(
            &[json!(3)],
            &[json!(["LOAD_CONST", 5, 3])],
            &[json!(["MUL", 5, 5, 5])],
            1_000,
            json!({}),
        ))
    });
    assert_fails(
        &m,
        "ArithmeticOverflow: MUL result exceeded maxIntBits (4194304)",
        64,
    );
}

#[test]
fn string_doubling_stops_at_max_string_length() {
    let m = measured("string_doubling_stops_at_max_string_length", || {
        run(looped(
            &[json!({"string": "x"})],
            &[json!(["LOAD_CONST", 5, 3])],
            &[json!(["CALL_BUILTIN", 5, "str.concat@1", [5, 5]])],
            1_000,
            json!({}),
        ))
    });
    assert_fails(
        &m,
        "InvalidInstruction: str.concat exceeded maxStringLength",
        160,
    );
}

// ------------------------------------------------------------ collections

#[test]
fn list_length_stops_at_max_list_length() {
    let m = measured("list_length_stops_at_max_list_length", || {
        run(looped(
            &[],
            &[json!(["LIST_NEW", 5])],
            &[json!(["LIST_APPEND", 5, 5, 0])],
            1_000_000,
            json!({"maxSteps": 10_000_000}),
        ))
    });
    assert_fails(
        &m,
        "InvalidInstruction: LIST_APPEND exceeded maxListLength",
        64,
    );
}

#[test]
fn map_size_stops_at_max_map_size() {
    let m = measured("map_size_stops_at_max_map_size", || {
        run(looped(
            &[],
            &[json!(["MAP_NEW", 5])],
            &[json!(["MAP_SET", 5, 5, 0, 0])],
            1_000_000,
            json!({"maxSteps": 10_000_000}),
        ))
    });
    assert_fails(&m, "InvalidInstruction: MAP_SET exceeded maxMapSize", 64);
}

#[test]
fn record_fields_stop_at_max_record_fields() {
    let m = measured("record_fields_stop_at_max_record_fields", || {
        // Field names are operands: one RECORD_SET per field.
        let mut code = vec![json!(["RECORD_NEW", 0])];
        for i in 0..10_001 {
            code.push(json!(["RECORD_SET", 0, 0, format!("f{i}"), 1]));
        }
        code.push(json!(["RETURN", 0]));
        run(json!({"registerCount": 2, "instructions": code, "limits": {"maxSteps": 100_000}}))
    });
    assert_fails(
        &m,
        "InvalidInstruction: RECORD_SET exceeded maxRecordFields",
        64,
    );
}

#[test]
fn nesting_stops_at_max_value_depth() {
    let m = measured("nesting_stops_at_max_value_depth", || {
        run(looped(
            &[],
            &[json!(["LIST_NEW", 5])],
            &[json!(["LIST_FROM", 5, [5]])],
            1_000,
            json!({}),
        ))
    });
    assert_fails(
        &m,
        "InvalidInstruction: LIST_FROM exceeded maxValueDepth",
        64,
    );
}

/// Found while reviewing the limits for the fuzz generator: with
/// `maxValueDepth` raised to 2^31 − 1, a 3-million-step loop of
/// `LIST_FROM r [r]` built a value so deep that encoding the result
/// overflowed the stack and aborted the process (a variant chain instead
/// made every depth check linear: a 200,000-deep chain took 50 s).
/// `maxValueDepth` now has a ceiling of 5,000, and a value that deep
/// still encodes, compares, hashes and drops on the CLI's stack.
#[test]
fn regression_limits_deep_value_stack_overflow() {
    let m = measured("regression_limits_deep_value_stack_overflow", || {
        let too_deep = run(looped(
            &[],
            &[json!(["LIST_NEW", 5])],
            &[json!(["LIST_FROM", 5, [5]])],
            3_000_000,
            json!({"maxValueDepth": 2_147_483_647, "maxSteps": 100_000_000}),
        ));
        let at_ceiling = run(looped(
            &[],
            &[json!(["LIST_NEW", 5]), json!(["LIST_NEW", 6])],
            &[
                json!(["LIST_FROM", 5, [5]]),
                json!(["VARIANT_NEW", 6, "t", 6]),
                json!(["EQ", 7, 5, 5]),
            ],
            4_999,
            json!({"maxValueDepth": 5_000, "maxSteps": 1_000_000}),
        ));
        // (serde_json's parser stops at 128 levels: count the wrappers.)
        let status = at_ceiling.split(',').next().unwrap_or("").to_string();
        let depth = at_ceiling.matches(r#"{"list":["#).count();
        format!("{too_deep}\n{status} {depth}")
    });
    let mut lines = m.out.lines();
    let doc: J = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(
        doc["error"],
        "InvalidProgram: Limit maxValueDepth must be at most 5000 (got 2147483647)"
    );
    assert_eq!(
        lines.next(),
        Some(r#"{"status":"completed" 5000"#),
        "{}",
        m.out
    );
    assert_peak(&m, 96);
}

/// Found with the deep-value case: `maxRegistersPerFrame` and a
/// `registerCount` of 2^31 − 1 made the entry frame one 32 GiB allocation,
/// which aborted the process. `maxRegistersPerFrame` now has a ceiling of
/// 65,536 (a 1 MiB frame).
#[test]
fn regression_limits_huge_register_file() {
    let m = measured("regression_limits_huge_register_file", || {
        let huge = run(json!({"registerCount": 2_147_483_647,
            "limits": {"maxRegistersPerFrame": 2_147_483_647},
            "instructions": [["RETURN", 0]]}));
        let at_ceiling = run(json!({"registerCount": 65_536,
            "limits": {"maxRegistersPerFrame": 65_536},
            "instructions": [["LOAD_CONST", 65_535, 0], ["RETURN", 65_535]],
            "constants": [7]}));
        format!("{huge}\n{at_ceiling}")
    });
    let mut lines = m.out.lines();
    let doc: J = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(
        doc["error"],
        "InvalidProgram: Limit maxRegistersPerFrame must be at most 65536 (got 2147483647)"
    );
    assert_eq!(
        lines.next(),
        Some(r#"{"status":"completed","steps":2,"result":{"int":"7"},"state":{}}"#)
    );
    assert_peak(&m, 64);
}

/// A program at the `maxValueDepth` ceiling builds a list, a variant chain
/// and a record chain 5,000 deep (three JSON levels per record level),
/// suspends, and resumes from its snapshot text on an 8 MiB stack. With
/// the former ceiling of 10,000 the VM wrote snapshots deeper than its
/// snapshot reader accepts (20,000 JSON levels), found while checking the
/// decoder's recursion.
#[test]
fn regression_limits_deepest_value_survives_a_snapshot() {
    let m = measured(
        "regression_limits_deepest_value_survives_a_snapshot",
        || {
            let mut out = String::new();
            for body in [
                json!(["LIST_FROM", 5, [5]]),
                json!(["VARIANT_NEW", 5, "t", 5]),
                json!(["RECORD_SET", 5, 6, "a", 5]),
            ] {
                let program = json!({"registerCount": 8,
                "constants": [0, 1, 4_999, {"string": "k"}],
                "limits": {"maxValueDepth": 5_000, "maxSteps": 1_000_000},
                "instructions": [["LOAD_CONST", 0, 0], ["LOAD_CONST", 1, 1],
                    ["LOAD_CONST", 2, 2], ["LIST_NEW", 5], ["RECORD_NEW", 6],
                    ["LABEL", "top"], body, ["ADD", 0, 0, 1], ["LT", 3, 0, 2],
                    ["JUMP_IF", 3, "top"], ["LOAD_CONST", 4, 3], ["RECORD_NEW", 6],
                    ["RECORD_SET", 6, 6, "key", 4], ["EFFECT_NEW", 7, "svc", 6],
                    ["EFFECT_AWAIT", 7], ["RETURN", 5]]})
                .to_string();
                let status = std::thread::Builder::new()
                    .stack_size(8 << 20)
                    .spawn(move || {
                        let start = finvm::effect::start(&program, "");
                        let from = start.find(r#""snapshot":"#).unwrap() + 11;
                        let to = start.find(r#","pending":"#).unwrap();
                        let reply = r#"[{"pid":"main","key":"k","result":null}]"#;
                        let resumed = finvm::effect::resume(&program, &start[from..to], reply);
                        resumed.chars().take(40).collect::<String>()
                    })
                    .unwrap()
                    .join()
                    .unwrap_or_else(|_| "panic".into());
                out.push_str(&status);
                out.push('\n');
            }
            out
        },
    );
    for line in m.out.lines() {
        assert!(
            line.starts_with(r#"{"status":"completed","snapshot":"#),
            "{}",
            m.out
        );
    }
    assert_eq!(m.out.lines().count(), 3);
    assert_peak(&m, 128);
}

/// Found while checking the decoder's recursion: a snapshot whose register
/// holds an option nested 19,990 deep (within the reader's 20,000 JSON
/// levels, but four times deeper than any value the VM builds) decoded
/// fine and then overflowed an 8 MiB stack (a crash, not an error).
/// Snapshot values deeper than the `maxValueDepth` ceiling are now a decode
/// error.
#[test]
fn regression_snapshot_deep_value_overflows_the_stack() {
    let m = measured("regression_snapshot_deep_value_overflows_the_stack", || {
        let program = json!({"registerCount": 4, "constants": [{"string": "k"}],
            "instructions": [["LOAD_CONST", 0, 0], ["RECORD_NEW", 1],
                ["RECORD_SET", 1, 1, "key", 0], ["EFFECT_NEW", 2, "svc", 1],
                ["EFFECT_AWAIT", 2], ["RETURN", 3]]})
        .to_string();
        std::thread::Builder::new()
            .stack_size(8 << 20)
            .spawn(move || {
                let start = finvm::effect::start(&program, "");
                let from = start.find(r#""snapshot":"#).unwrap() + 11;
                let to = start.find(r#","pending":"#).unwrap();
                let depth = 19_990;
                let deep = format!("{}null{}", r#"{"some":"#.repeat(depth), "}".repeat(depth));
                let snapshot = start[from..to].replacen(
                    r#""registers":[{"string":"k"}"#,
                    &format!(r#""registers":[{deep}"#),
                    1,
                );
                assert_ne!(snapshot, &start[from..to]);
                finvm::effect::resume(&program, &snapshot, "")
            })
            .unwrap()
            .join()
            .unwrap_or_else(|_| "panic".into())
    });
    assert_eq!(
        m.out,
        r#"{"status":"error","error":"snapshot decode: process main: frame: registers: value nested deeper than 5000 levels"}"#
    );
    assert_peak(&m, 64);
}

// ------------------------------------------------------------ value and output size

/// Found while writing the interp fuzz target: `LIST_FROM r [r, r]` 40 times
/// is a 42-step program whose result is a tree of 2^40 leaves sharing one
/// node per level. The run finished at once, then encoding the result never
/// did (nor would `EQ` on two such values, a hash or a snapshot). Lists,
/// maps and records now cache their size as encoders see it, and
/// `maxValueSize` bounds every value a program builds.
#[test]
fn regression_interp_shared_list_doubling() {
    let m = measured("regression_interp_shared_list_doubling", || {
        run(looped(
            &[],
            &[json!(["LIST_NEW", 5])],
            &[json!(["LIST_FROM", 5, [5, 5]])],
            40,
            json!({}),
        ))
    });
    assert_fails(
        &m,
        "InvalidInstruction: LIST_FROM exceeded maxValueSize",
        64,
    );
}

/// Found with the shared-list case: `STATE_SNAPSHOT` wrote the whole
/// machine — the previous snapshot text in state included — into a string
/// with no bound, so snapshotting and storing in a loop doubled the text
/// every round. The machine's size is now checked against `maxOutputSize`
/// before the text is built, and the text against `maxStringLength`.
#[test]
fn regression_interp_snapshot_of_snapshot() {
    let m = measured("regression_interp_snapshot_of_snapshot", || {
        let program = |limits: J| {
            looped(
                &[json!({"string": "0123456789abcdef"})],
                &[json!(["LOAD_CONST", 5, 3]), json!(["STATE_SET", "a", 5])],
                &[
                    json!(["STATE_SNAPSHOT", 5]),
                    json!(["STATE_SET", "a", 5]),
                    json!(["STATE_SET", "b", 5]),
                ],
                100,
                limits,
            )
        };
        // The text meets maxStringLength (16 MiB); with that raised, the
        // smaller maxOutputSize bounds it.
        let default = run(program(json!({})));
        let raised = run(program(
            json!({"maxStringLength": 2_147_483_647, "maxOutputSize": 50_000_000}),
        ));
        format!("{default}\n{raised}")
    });
    let errors: Vec<String> = m
        .out
        .lines()
        .map(|l| serde_json::from_str::<J>(l).unwrap()["error"].to_string())
        .collect();
    assert_eq!(
        errors,
        [
            "\"InvalidInstruction: STATE_SNAPSHOT exceeded maxStringLength\"",
            "\"InvalidInstruction: STATE_SNAPSHOT exceeded maxOutputSize\"",
        ]
    );
    assert_peak(&m, 256);
}

/// Found by the `interp` fuzz target (a timeout): every process spawns a
/// copy of itself and takes a `STATE_SNAPSHOT`. Terminated processes stay
/// in the process table, so each snapshot text grew with the number of
/// processes ever spawned and was built in full before `maxStringLength`
/// rejected it: the run's time was quadratic in its steps (10,000 steps
/// took 0.9 s, 40,000 steps minutes). The text is now built against its
/// bound and abandoned as soon as it passes it.
#[test]
fn regression_fuzz_interp_snapshot_chain() {
    let m = measured("regression_fuzz_interp_snapshot_chain", || {
        let start = std::time::Instant::now();
        let out = run(json!({"registerCount": 3,
            "instructions": [["PROC_SPAWN", 0, "main", []], ["STATE_SNAPSHOT", 1],
                ["PROC_RECEIVE", 2], ["RETURN", 2]],
            "limits": {"maxSteps": 40_000, "maxStringLength": 65_536}}));
        format!("{out}\n{}", start.elapsed().as_millis())
    });
    let mut lines = m.out.lines();
    let doc: J = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(
        doc["error"],
        "StepLimitExceeded: Process exceeded global step limit"
    );
    let ms: u64 = lines.next().unwrap().parse().unwrap();
    eprintln!("snapshot chain: {ms} ms");
    assert!(ms < 30_000, "40,000 steps took {ms} ms");
    assert_peak(&m, 128);
}

#[test]
fn output_size_stops_at_max_output_size() {
    let m = measured("output_size_stops_at_max_output_size", || {
        // A value of almost 256 Mi (shared), the result and under two keys: 768 Mi of output.
        let mut body = vec![];
        for k in 0..2 {
            body.push(json!(["STATE_SET", format!("k{k}"), 5]));
        }
        let mut setup = vec![json!(["LIST_NEW", 5])];
        for _ in 0..23 {
            setup.push(json!(["LIST_FROM", 5, [5, 5]]));
        }
        run(looped(&[], &setup, &body, 1, json!({})))
    });
    assert_fails(
        &m,
        "InvalidInstruction: the run's result and state exceeded maxOutputSize",
        64,
    );
}

/// The snapshot-size bound: an effect document (which holds the snapshot)
/// larger than `maxOutputSize` fails the call instead of being written.
#[test]
fn snapshot_size_stops_at_max_output_size() {
    let m = measured("snapshot_size_stops_at_max_output_size", || {
        let mut code = vec![json!(["LIST_NEW", 5])];
        for _ in 0..23 {
            code.push(json!(["LIST_FROM", 5, [5, 5]]));
        }
        for r in 6..15 {
            code.push(json!(["MOVE", r, 5]));
        }
        code.extend([
            json!(["LOAD_CONST", 1, 0]),
            json!(["RECORD_NEW", 2]),
            json!(["RECORD_SET", 2, 2, "key", 1]),
            json!(["EFFECT_NEW", 3, "svc", 2]),
            json!(["EFFECT_AWAIT", 3]),
            json!(["RETURN", 0]),
        ]);
        let program =
            json!({"registerCount": 16, "constants": [{"string": "k"}], "instructions": code});
        finvm::effect::start(&program.to_string(), "")
    });
    let doc: J = serde_json::from_str(&m.out).unwrap();
    assert_eq!(doc["status"], "failed", "{}", m.out);
    assert_eq!(
        doc["error"],
        "InvalidInstruction: the effect document exceeded maxOutputSize"
    );
    assert_peak(&m, 64);
}

// ------------------------------------------------------------ processes

#[test]
fn mailbox_stops_at_max_mailbox_size() {
    let m = measured("mailbox_stops_at_max_mailbox_size", || {
        run(looped(
            &[],
            &[json!(["PROC_SELF", 6])],
            &[json!(["PROC_SEND", 6, 0])],
            1_000_000,
            json!({"maxSteps": 10_000_000}),
        ))
    });
    assert_fails(&m, "MailboxTooLarge: Process main mailbox is full", 64);
}

#[test]
fn process_count_stops_at_max_processes() {
    let m = measured("process_count_stops_at_max_processes", || {
        let mut p = looped(
            &[],
            &[],
            &[json!(["PROC_SPAWN", 6, "w", []])],
            1_000_000,
            json!({"maxSteps": 10_000_000}),
        );
        let main = p.clone();
        p = json!({
            "functions": {
                "main": main,
                "w": {"registerCount": 1, "instructions": [["PROC_RECEIVE", 0], ["RETURN", 0]]}
            },
            "constants": main["constants"],
            "limits": main["limits"],
        });
        run(p)
    });
    assert_fails(
        &m,
        "InvalidInstruction: PROC_SPAWN exceeded maxProcesses",
        64,
    );
}

#[test]
fn call_depth_stops_at_max_call_depth() {
    let m = measured("call_depth_stops_at_max_call_depth", || {
        run(json!({"functions": {
            "main": {"registerCount": 1, "instructions": [["CALL", 0, "f", []], ["RETURN", 0]]},
            "f": {"registerCount": 1024, "instructions": [["CALL", 0, "f", []], ["RETURN", 0]]}
        }}))
    });
    assert_fails(&m, "StepLimitExceeded: CALL exceeded call frame limit", 64);
}

#[test]
fn steps_stop_an_endless_loop() {
    let m = measured("steps_stop_an_endless_loop", || {
        run(json!({"instructions": [["LABEL", "l"], ["JUMP", "l"]],
            "limits": {"maxSteps": 2_000_000_000}}))
    });
    assert_fails(
        &m,
        "StepLimitExceeded: Process exceeded global step limit",
        64,
    );
}

// ------------------------------------------------------------ recording

#[test]
fn trace_truncates_at_max_trace_events() {
    let m = measured("trace_truncates_at_max_trace_events", || {
        let p = looped(
            &[],
            &[],
            &[json!(["NOOP"])],
            100_000,
            json!({"maxSteps": 1_000_000}),
        );
        let traced = run_json(
            &p.to_string(),
            &RunOptions {
                performance_mode: None,
                collect_trace: true,
            },
        );
        format!(
            "{}\n{}\n{}",
            traced.json,
            traced.trace.len(),
            traced.trace.last().cloned().unwrap_or_default()
        )
    });
    let lines: Vec<&str> = m.out.lines().collect();
    assert!(
        lines[0].starts_with(r#"{"status":"completed","steps":500004,"#),
        "{}",
        m.out
    );
    assert_eq!(lines[1], "100001");
    assert_eq!(lines[2], "... trace truncated at maxTraceEvents = 100000");
    assert_peak(&m, 64);
}

#[test]
fn proof_trace_truncates_at_max_proof_events() {
    let m = measured("proof_trace_truncates_at_max_proof_events", || {
        let p = looped(
            &[],
            &[],
            &[json!(["PROOF_MARK", "i", 0])],
            200_000,
            json!({"maxSteps": 10_000_000}),
        );
        let program = finvm::api::load_program(&p.to_string()).unwrap();
        let out = run_program(Rc::new(program), &RunOptions::default());
        let m = out.machine.unwrap();
        format!(
            "{:?} {} {}",
            out.result,
            m.core.proof.len(),
            m.core.proof_truncated
        )
    });
    assert_eq!(m.out, "Ok(()) 100000 true");
    assert_peak(&m, 64);
}

#[test]
fn events_effects_and_state_entries_stop_at_their_limits() {
    let m = measured(
        "events_effects_and_state_entries_stop_at_their_limits",
        || {
            let events = run(looped(
                &[],
                &[json!(["EVENT_NEW", 6, "e", 0])],
                &[json!(["EVENT_EMIT", 6])],
                1_000_000,
                json!({"maxSteps": 10_000_000}),
            ));
            let effects = run(looped(
                &[],
                &[json!(["EFFECT_NEW", 6, "e", 0])],
                &[json!(["EFFECT_REQUEST", 6])],
                1_000_000,
                json!({"maxSteps": 10_000_000}),
            ));
            let mut code: Vec<J> = (0..101)
                .map(|i| json!(["STATE_SET", format!("k{i}"), 0]))
                .collect();
            code.push(json!(["RETURN", 0]));
            let state = run(json!({"registerCount": 1, "instructions": code,
            "limits": {"maxStateEntries": 100}}));
            format!("{events}\n{effects}\n{state}")
        },
    );
    let errors: Vec<String> = m
        .out
        .lines()
        .map(|l| serde_json::from_str::<J>(l).unwrap()["error"].to_string())
        .collect();
    assert_eq!(
        errors,
        [
            "\"TraceLimitExceeded: EVENT_EMIT exceeded maxEventsEmitted\"",
            "\"TraceLimitExceeded: EFFECT_REQUEST exceeded maxEffectsRequested\"",
            "\"StatePathInvalid: STATE_SET exceeded maxStateEntries\"",
        ]
    );
    assert_peak(&m, 64);
}

/// Found by the `snapshot` fuzz target (an abort): a snapshot whose
/// `nextPidSequence` was edited to 2^32 decoded fine, and the next
/// `PROC_SPAWN` sized the scheduler's pid index by that number — a 34 GB
/// allocation. Spawn numbers far beyond the process table now stay out of
/// the dense index (they are found through the pid map instead).
#[test]
fn regression_fuzz_snapshot_huge_next_pid_sequence() {
    let m = measured("regression_fuzz_snapshot_huge_next_pid_sequence", || {
        let program = json!({"functions": {
            "main": {"registerCount": 5, "instructions": [
                ["PROC_SPAWN", 0, "w", []],
                ["LOAD_CONST", 1, 0], ["RECORD_NEW", 2], ["RECORD_SET", 2, 2, "key", 1],
                ["EFFECT_NEW", 3, "svc", 2], ["EFFECT_AWAIT", 3],
                ["PROC_SPAWN", 4, "w", []], ["PROC_STATUS", 4, 4], ["RETURN", 4]]},
            "w": {"registerCount": 1, "instructions": [["RETURN", 0]]}},
            "constants": [{"string": "k"}]})
        .to_string();
        let start: J = serde_json::from_str(&finvm::effect::start(&program, "")).unwrap();
        let snapshot = start["snapshot"]
            .to_string()
            .replace(r#""nextPidSequence":1"#, r#""nextPidSequence":4294967296"#);
        assert!(snapshot.contains("4294967296"));
        let replies = r#"[{"pid":"main","key":"k","result":null}]"#;
        finvm::effect::resume(&program, &snapshot, replies)
    });
    let doc: J = serde_json::from_str(&m.out).unwrap();
    assert_eq!(doc["status"], "completed", "{}", m.out);
    assert_eq!(
        doc["result"],
        json!({"string": "ProcessReady"}),
        "{}",
        m.out
    );
    assert_eq!(doc["snapshot"]["nextPidSequence"], json!(4294967297u64));
    assert_peak(&m, 64);
}
