//! The differential checks shared by the property tests and the fuzz
//! targets. Each returns `Err(description)` on a violation; the callers turn
//! that into a failed property or a fuzzer crash.

// Each user compiles this file on its own and uses part of it.
#![allow(dead_code)]

use finvm::api::{
    completed_json, failed_json, load_program, run_json, run_program, RunOptions, RunOutcome,
};
use finvm::effect::snapshot::{decode_snapshot, encode_snapshot};
use finvm::effect::{
    self, Delivery, EffectError, EffectOutput, Overrides, PendingKind, Quiescence,
};
use finvm::machine::{Status, Wait};
use finvm::program::Program;
use finvm::value::{Str, Value};
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

/// One run of a loaded program: the output document, the raw trace (the
/// trace lines are a function of it), whether it completed, and the run
/// itself (its machine is compared with the effect API's).
fn run_once(
    program: &Rc<Program>,
    performance_mode: Option<bool>,
    trace: bool,
) -> (String, Vec<(u32, u32)>, bool, RunOutcome) {
    let mut out = run_program(program.clone(), &opts(performance_mode, trace));
    let raw = out
        .machine
        .as_mut()
        .map(|m| std::mem::take(&mut m.core.trace).iter().collect())
        .unwrap_or_default();
    let (doc, ok) = match (&out.result, &out.machine) {
        (Ok(()), Some(m)) => (completed_json(m), true),
        (Err(e), _) => (failed_json(e), false),
        (Ok(()), None) => unreachable!("a completed run has a machine"),
    };
    (doc, raw, ok, out)
}

/// Runs `text` (a program the caller knows to be bounded) and checks it as
/// [`check_program`] does. Text that does not load must fail `run` with the
/// load error.
pub fn check_run(text: &str) -> Result<RunSummary, String> {
    match load_program(text) {
        Ok(p) => check_program(Rc::new(p)),
        Err(e) => {
            // Loading is deterministic too, and `run` reports it.
            let r = run_json(text, &opts(None, false));
            ensure!(r.json == failed_json(&e), "load error differs: {}", r.json);
            Ok(RunSummary { completed: false })
        }
    }
}

/// Runs a loaded program (one the caller knows to be bounded) and checks:
/// two runs give identical output and trace; flipping `performanceMode` and
/// switching tracing off change nothing; the effect API agrees with `run`
/// (same steps, result and state, or the same error).
pub fn check_program(program: Rc<Program>) -> Result<RunSummary, String> {
    let own_pm = program.performance_mode;
    let (a, a_trace, ok, a_run) = run_once(&program, None, true);
    let (b, b_trace, _, _) = run_once(&program, None, true);
    ensure!(a == b, "two runs differ:\n{a}\n{b}");
    ensure!(a_trace == b_trace, "two traces differ");
    let (flipped, _, _, _) = run_once(&program, Some(!own_pm), false);
    ensure!(
        a == flipped,
        "performanceMode {} changed the output:\n{a}\n{flipped}",
        !own_pm
    );
    // The untraced run is also the `run` the effect API is compared with.
    // A program in performance mode records no trace (`run_program`), so
    // its untraced run is the first run again: reuse it.
    let run = if own_pm {
        a_run
    } else {
        let (untraced, _, _, run) = run_once(&program, None, false);
        ensure!(
            a == untraced,
            "tracing changed the output:\n{a}\n{untraced}"
        );
        run
    };

    // The effect API runs the same machine. `run` stops once main has
    // completed and nothing is ready; the effect API also wakes sleepers,
    // so the two agree unless a process sleeps at the end of the run.
    let started = effect::start_program(program, &Overrides::default());
    let sleeping = run.machine.as_ref().is_some_and(|m| {
        m.procs
            .iter()
            .any(|p| matches!(p.status, Status::Waiting(Wait::Tick(_))))
    });
    match (&started, &run.result, &run.machine) {
        (_, Ok(()), _) if sleeping => {}
        // The effect document holds more than the run's output (the
        // snapshot), so only it may exceed maxOutputSize.
        (Err(EffectError::Failed(e)), _, _) if e == EFFECT_TOO_BIG => {}
        (Ok(out), Ok(()), Some(m)) => {
            ensure!(
                out.result() == m.main_result(),
                "results differ: {}\n{a}",
                out.to_json()
            );
            ensure!(
                *out.state() == m.core.state,
                "states differ: {}\n{a}",
                out.to_json()
            );
            ensure!(
                out.machine.core.steps == m.core.steps,
                "steps differ: {}\n{a}",
                out.to_json()
            );
        }
        (Ok(out), Err(e), _) if e == RUN_DEADLOCK => ensure!(
            out.status != Quiescence::Completed,
            "run deadlocked, effect start completed: {}",
            out.to_json()
        ),
        (Err(EffectError::Failed(x)), Err(y), _) => {
            ensure!(x == y, "run failed with {y:?}, effect start with {x:?}")
        }
        (started, _, _) => {
            return Err(format!(
                "run gave {a}, effect start gave {}",
                doc_of(started)
            ))
        }
    }
    Ok(RunSummary { completed: ok })
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
    ensure!(
        again == snap,
        "snapshot re-encodes differently:\n{snap}\n{again}"
    );
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
