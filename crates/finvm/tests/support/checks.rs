//! The differential checks shared by the property tests and the fuzz
//! targets. Each returns `Err(description)` on a violation; the callers turn
//! that into a failed property or a fuzzer crash.

// Each user compiles this file on its own and uses part of it.
#![allow(dead_code)]

use finvm::api::{run_json, RunOptions};
use finvm::effect::snapshot::{decode_snapshot, encode_snapshot};
use finvm::effect::{self, Delivery, EffectError, EffectOutput, Overrides, PendingKind, Quiescence};
use finvm::program::Program;
use finvm::value::{Str, Value};
use serde_json::Value as J;
use std::rc::Rc;

/// The scheduler's deadlock error of `finvm run` (a status in the effect API).
pub const RUN_DEADLOCK: &str = "ProcessDeadlock: All processes are waiting but no ready processes";

/// The effect API's `maxOutputSize` error.
pub const EFFECT_TOO_BIG: &str = "InvalidInstruction: the effect document exceeded maxOutputSize";

fn opts(performance_mode: Option<bool>, collect_trace: bool) -> RunOptions {
    RunOptions {
        performance_mode,
        collect_trace,
    }
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)*) => {
        if !$cond {
            return Err(format!($($fmt)*));
        }
    };
}

/// What [`check_run`] saw.
#[derive(Clone, Copy, Debug, Default)]
pub struct RunSummary {
    /// The run completed.
    pub completed: bool,
}

/// Runs `text` (a program the caller knows to be bounded) and checks:
/// two runs give identical output and trace; flipping `performanceMode` and
/// switching tracing off change nothing; the effect API agrees with `run`
/// (same steps, result and state, or the same error).
pub fn check_run(text: &str) -> Result<RunSummary, String> {
    let own_pm = serde_json::from_str::<J>(text)
        .ok()
        .and_then(|j| j["performanceMode"].as_bool())
        .unwrap_or(false);
    let a = run_json(text, &opts(None, true));
    let b = run_json(text, &opts(None, true));
    ensure!(a.json == b.json, "two runs differ:\n{}\n{}", a.json, b.json);
    ensure!(a.trace == b.trace, "two traces differ");
    let flipped = run_json(text, &opts(Some(!own_pm), false));
    ensure!(
        a.json == flipped.json,
        "performanceMode {} changed the output:\n{}\n{}",
        !own_pm,
        a.json,
        flipped.json
    );
    let untraced = run_json(text, &opts(None, false));
    ensure!(
        a.json == untraced.json,
        "tracing changed the output:\n{}\n{}",
        a.json,
        untraced.json
    );

    let out = effect::start(text, "");
    let doc: J = serde_json::from_str(&out).map_err(|e| format!("effect output not JSON: {e}"))?;
    let run: J = serde_json::from_str(&a.json).map_err(|e| format!("run output not JSON: {e}"))?;
    let status = doc["status"].as_str().unwrap_or("");
    // The effect document holds more than the run's output (the snapshot),
    // so only it may exceed maxOutputSize.
    if doc["error"].as_str() == Some(EFFECT_TOO_BIG) {
        return Ok(RunSummary { completed: a.ok });
    }
    match run["status"].as_str() {
        Some("completed") => {
            ensure!(
                ["completed", "suspended", "deadlock"].contains(&status),
                "run completed, effect start gave {out}"
            );
            ensure!(doc["result"] == run["result"], "results differ: {out}\n{}", a.json);
            ensure!(doc["state"] == run["state"], "states differ: {out}\n{}", a.json);
            ensure!(
                doc["snapshot"]["steps"] == run["steps"],
                "steps differ: {out}\n{}",
                a.json
            );
        }
        _ => {
            let err = run["error"].as_str().unwrap_or("");
            if err == RUN_DEADLOCK {
                ensure!(
                    ["suspended", "deadlock"].contains(&status),
                    "run deadlocked, effect start gave {out}"
                );
            } else {
                ensure!(
                    status == "failed" && doc["error"].as_str() == Some(err),
                    "run failed with {err:?}, effect start gave {out}"
                );
            }
        }
    }
    Ok(RunSummary { completed: a.ok })
}

/// The default host: a reply to every awaited intent (a value derived from
/// the key and the round), and on odd rounds a message to `main`.
pub fn host_deliveries(out: &EffectOutput, round: usize) -> Vec<Delivery> {
    let mut ds: Vec<Delivery> = out
        .pending
        .iter()
        .filter(|p| p.kind == PendingKind::AwaitReply)
        .map(|p| Delivery::EffectReply {
            pid: p.pid.clone(),
            key: p.key.clone(),
            result: Value::list(vec![Value::Str(p.key.clone()), Value::int(round as i64)]),
        })
        .collect();
    if round % 2 == 1 {
        ds.push(Delivery::Message {
            pid: Str::new("main"),
            message: Value::int(round as i64),
        });
    }
    ds
}

/// The one-line document of an effect call.
pub fn doc_of(r: &Result<EffectOutput, EffectError>) -> String {
    match r {
        Ok(o) => o.to_json(),
        Err(e) => e.to_json(),
    }
}

/// Checks that the snapshot text of `m` decodes to a machine that
/// re-encodes to the same text, and returns that machine.
pub fn snapshot_round_trip(
    program: &Rc<Program>,
    m: &finvm::machine::Machine,
) -> Result<finvm::machine::Machine, String> {
    let snap = encode_snapshot(m);
    let decoded = decode_snapshot(program.clone(), &snap)
        .map_err(|e| format!("own snapshot rejected: {e}\n{snap}"))?;
    let again = encode_snapshot(&decoded);
    ensure!(again == snap, "snapshot re-encodes differently:\n{snap}\n{again}");
    Ok(decoded)
}

/// Drives `program` through the effect API for at most `max_rounds`
/// resumes, with deliveries chosen by `host`, twice at once: resuming the
/// live machine (the straight run) and resuming the machine decoded from
/// each snapshot's text. Every document must be identical. Returns the
/// number of resumes.
pub fn check_suspend_resume(
    program: &Rc<Program>,
    max_rounds: usize,
    mut host: impl FnMut(&EffectOutput, usize) -> Vec<Delivery>,
) -> Result<usize, String> {
    let mut live = effect::start_program(program.clone(), &Overrides::default());
    let mut rounds = 0;
    loop {
        let out = match live {
            Ok(out) => out,
            Err(_) => break,
        };
        if rounds >= max_rounds || out.status == Quiescence::Completed {
            break;
        }
        rounds += 1;
        let ds = host(&out, rounds);
        let decoded = snapshot_round_trip(program, &out.machine)?;
        let from_text = effect::resume_machine(decoded, &ds);
        let next = effect::resume_machine(out.machine, &ds);
        let (x, y) = (doc_of(&from_text), doc_of(&next));
        ensure!(
            x == y,
            "round {rounds}: resuming from the snapshot text differs from the live machine:\n{x}\n{y}"
        );
        live = next;
    }
    Ok(rounds)
}
