//! The effect driver API: run a program until it cannot go on without the
//! outside world, hand the requested effects to a host, and resume it later
//! from a snapshot with the host's answers (`FORMATS.md` §6, `PROCESSES.md`
//! §7, with `DECISIONS.md`).
//!
//! - [`start`] / [`resume`] take and return the one-line JSON documents the
//!   CLI prints (`finvm effect start|resume`).
//! - [`start_typed`] / [`resume_typed`] do the same from text but return an
//!   [`EffectOutput`] holding the quiescent [`Machine`] itself.
//! - [`start_program`] / [`resume_machine`] work on a loaded [`Program`] and
//!   a live machine with typed [`Overrides`] and [`Delivery`]s: a host can
//!   drive a machine without any JSON round trip, and serialise it with
//!   [`snapshot::encode_snapshot`] only when it wants to persist it.
//!
//! Every call runs the machine in [`Mode::Quiesce`] with a fresh `maxSteps`
//! budget (`steps` stays cumulative across calls), then classifies it:
//! `suspended` when the call requested any intent, else `deadlock` when a
//! process has not terminated, else `completed`.
//!
//! ```
//! let program = r#"{"registerCount":6,
//!   "constants":[{"string":"k1"},{"string":"http://u"}],
//!   "instructions":[["RECORD_NEW",0],["LOAD_CONST",1,0],["RECORD_SET",0,0,"key",1],
//!     ["LOAD_CONST",2,1],["RECORD_SET",0,0,"url",2],["EFFECT_NEW",3,"http.get",0],
//!     ["EFFECT_AWAIT",3],["RETURN",1]]}"#;
//! let out = finvm::effect::start_typed(program, "").unwrap();
//! assert_eq!(out.status, finvm::effect::Quiescence::Suspended);
//! assert_eq!(out.pending[0].key.as_str(), "k1");
//! assert!(out.to_json().starts_with(r#"{"status":"suspended","snapshot":{"format":"finvm-snapshot/1""#));
//! ```

pub mod delivery;
pub mod json;
pub mod snapshot;

#[cfg(test)]
mod tests;

pub use delivery::{Delivery, Overrides};

use crate::api::{encode_state, status_error_json};
use crate::decode::decode_program;
use crate::machine::{Machine, Mode};
use crate::program::Program;
use crate::validate::compile;
use crate::value::json::{encode_value, write_json_str};
use crate::value::{Str, Tagged, Value};
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

/// How a quiescent machine is classified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quiescence {
    /// The call requested at least one intent (see [`EffectOutput::pending`]).
    Suspended,
    /// No intent, but some process has not terminated (typically one parked
    /// in a receive, waiting for a delivery).
    Deadlock,
    /// No intent and every process has terminated.
    Completed,
}

impl Quiescence {
    /// `suspended`, `deadlock` or `completed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Quiescence::Suspended => "suspended",
            Quiescence::Deadlock => "deadlock",
            Quiescence::Completed => "completed",
        }
    }
}

/// What a host is asked to do with a pending intent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PendingKind {
    /// A process awaits a reply: deliver `{pid, key, result}`.
    AwaitReply,
    /// Fire-and-forget, or a transport request (remote send, spawn, link,
    /// monitor, ...).
    Transport,
}

impl PendingKind {
    /// `await_reply` or `transport`.
    pub fn as_str(self) -> &'static str {
        match self {
            PendingKind::AwaitReply => "await_reply",
            PendingKind::Transport => "transport",
        }
    }
}

/// One intent requested during the call (`FORMATS.md` §6.6).
#[derive(Clone, Debug, PartialEq)]
pub struct Pending {
    /// The classification.
    pub kind: PendingKind,
    /// The awaiting pid, or the payload's `pid` field, or `""`.
    pub pid: Str,
    /// The awaited key (`""` for transport).
    pub key: Str,
    /// The intent type.
    pub type_: Str,
    /// The inner payload (await_reply) or the whole payload (transport).
    pub payload: Value,
}

impl Pending {
    /// Classifies an outbox intent.
    pub fn from_intent(t: &Tagged) -> Pending {
        let rec = t.value.as_record();
        let str_field = |name: &str| match rec.and_then(|r| r.get(name)) {
            Some(Value::Str(s)) => s.clone(),
            _ => Str::new(""),
        };
        let pid = str_field("pid");
        if let Some(r) = rec {
            if let (Some(Value::Str(key)), Some(inner)) = (r.get("key"), r.get("payload")) {
                return Pending {
                    kind: PendingKind::AwaitReply,
                    pid,
                    key: key.clone(),
                    type_: t.tag.clone(),
                    payload: inner.clone(),
                };
            }
        }
        Pending {
            kind: PendingKind::Transport,
            pid,
            key: Str::new(""),
            type_: t.tag.clone(),
            payload: t.value.clone(),
        }
    }

    fn write_json(&self, s: &mut String) {
        s.push_str(r#"{"kind":""#);
        s.push_str(self.kind.as_str());
        s.push_str(r#"","pid":"#);
        write_json_str(&self.pid, s);
        s.push_str(r#","key":"#);
        write_json_str(&self.key, s);
        s.push_str(r#","type_":"#);
        write_json_str(&self.type_, s);
        s.push_str(r#","payload":"#);
        encode_value(&self.payload, s);
        s.push('}');
    }
}

/// A quiescent outcome of [`start_program`] / [`resume_machine`].
#[derive(Clone, Debug)]
pub struct EffectOutput {
    /// The classification.
    pub status: Quiescence,
    /// The quiescent machine (its outbox and events were moved into
    /// `pending` and `events`). Resume it with [`resume_machine`], or
    /// serialise it with [`snapshot::encode_snapshot`].
    pub machine: Machine,
    /// The intents requested during this call, in request order.
    pub pending: Vec<Pending>,
    /// The events emitted during this call, in emit order (type, payload).
    pub events: Vec<Tagged>,
}

impl EffectOutput {
    /// main's result.
    pub fn result(&self) -> Value {
        self.machine.main_result()
    }

    /// The global state.
    pub fn state(&self) -> &BTreeMap<Str, Value> {
        &self.machine.core.state
    }

    /// The snapshot JSON text of the machine.
    pub fn snapshot_json(&self) -> String {
        snapshot::encode_snapshot(&self.machine)
    }

    /// The one-line document: `{"status","snapshot","pending","events","result","state"}`.
    pub fn to_json(&self) -> String {
        let mut s = String::with_capacity(2048);
        s.push_str(r#"{"status":""#);
        s.push_str(self.status.as_str());
        s.push_str(r#"","snapshot":"#);
        snapshot::encode_snapshot_into(&self.machine, &mut s);
        s.push_str(r#","pending":["#);
        for (i, p) in self.pending.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            p.write_json(&mut s);
        }
        s.push_str(r#"],"events":["#);
        for (i, e) in self.events.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(r#"{"type_":"#);
            write_json_str(&e.tag, &mut s);
            s.push_str(r#","payload":"#);
            encode_value(&e.value, &mut s);
            s.push('}');
        }
        s.push_str(r#"],"result":"#);
        encode_value(&self.result(), &mut s);
        s.push_str(r#","state":"#);
        encode_state(self.state(), &mut s);
        s.push('}');
        s
    }
}

/// Why a call produced no quiescent machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EffectError {
    /// `status: error`: the program, overrides, snapshot or deliveries could
    /// not be decoded (or the snapshot belongs to another program).
    Error(String),
    /// `status: failed`: the program failed validation, or the run failed
    /// (`<Code>: <message>`).
    Failed(String),
}

impl EffectError {
    /// `error` or `failed`.
    pub fn status(&self) -> &'static str {
        match self {
            EffectError::Error(_) => "error",
            EffectError::Failed(_) => "failed",
        }
    }

    /// The message.
    pub fn message(&self) -> &str {
        match self {
            EffectError::Error(m) | EffectError::Failed(m) => m,
        }
    }

    /// `{"status":"error"|"failed","error":"<message>"}`.
    pub fn to_json(&self) -> String {
        status_error_json(self.status(), self.message())
    }
}

impl fmt::Display for EffectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status(), self.message())
    }
}

impl std::error::Error for EffectError {}

/// Decodes (`error` on failure) and validates (`failed`) a program, as
/// `finvm run` does.
pub fn load_program(text: &str) -> Result<Rc<Program>, EffectError> {
    let doc = decode_program(text).map_err(EffectError::Error)?;
    let program = compile(doc).map_err(|e| EffectError::Failed(e.to_string()))?;
    Ok(Rc::new(program))
}

/// Runs a machine to quiescence with a fresh step budget and classifies it.
fn quiesce(mut m: Machine) -> Result<EffectOutput, EffectError> {
    let failed = |e: Box<crate::error::VmError>| EffectError::Failed(e.to_string());
    m.check_main_ended().map_err(failed)?;
    m.reset_step_budget();
    m.run(Mode::Quiesce).map_err(failed)?;
    m.check_main_ended().map_err(failed)?;
    let size = crate::snapshot::machine_size(&m);
    crate::api::check_output_size(size, &m, "the effect document").map_err(EffectError::Failed)?;
    let outbox = std::mem::take(&mut m.core.outbox);
    let events = std::mem::take(&mut m.core.events);
    // Diagnostics are not part of the effect API's output or snapshot.
    m.core.trace.clear();
    m.core.trace_truncated = false;
    m.core.proof.clear();
    m.core.proof_truncated = false;
    let status = if !outbox.is_empty() {
        Quiescence::Suspended
    } else if m.by_pid.values().any(|s| !m.procs[*s].status.is_terminal()) {
        Quiescence::Deadlock
    } else {
        Quiescence::Completed
    };
    Ok(EffectOutput {
        status,
        pending: outbox.iter().map(Pending::from_intent).collect(),
        events,
        machine: m,
    })
}

/// Starts a loaded program: the initial machine with `overrides` merged
/// over the program's input and state, run to quiescence.
pub fn start_program(
    program: Rc<Program>,
    overrides: &Overrides,
) -> Result<EffectOutput, EffectError> {
    let mut m = Machine::new(program).map_err(|e| EffectError::Failed(e.to_string()))?;
    overrides.apply(&mut m);
    quiesce(m)
}

/// Applies `deliveries` in order to a quiescent machine, then runs it to
/// quiescence again.
pub fn resume_machine(
    mut machine: Machine,
    deliveries: &[Delivery],
) -> Result<EffectOutput, EffectError> {
    machine.core.outbox.clear();
    machine.core.events.clear();
    // The scheduler indexes are derived data; make them exact before the
    // deliveries use them (a decoded snapshot has just been rebuilt).
    crate::process::rebuild_index(&mut machine);
    for d in deliveries {
        d.apply(&mut machine);
    }
    quiesce(machine)
}

/// `start` from text: program, then overrides (`""` for none).
pub fn start_typed(program_text: &str, overrides_text: &str) -> Result<EffectOutput, EffectError> {
    let program = load_program(program_text)?;
    let overrides = Overrides::decode(overrides_text).map_err(EffectError::Error)?;
    start_program(program, &overrides)
}

/// `resume` from text: program, snapshot (parsed, then decoded against the
/// program), deliveries (`""` for none; all decoded before any is applied).
pub fn resume_typed(
    program_text: &str,
    snapshot_text: &str,
    deliveries_text: &str,
) -> Result<EffectOutput, EffectError> {
    let program = load_program(program_text)?;
    let machine = snapshot::decode_snapshot(program, snapshot_text).map_err(EffectError::Error)?;
    let deliveries = Delivery::decode_all(deliveries_text).map_err(EffectError::Error)?;
    resume_machine(machine, &deliveries)
}

/// `finvm effect start`: the one-line JSON document.
pub fn start(program_text: &str, overrides_text: &str) -> String {
    match start_typed(program_text, overrides_text) {
        Ok(out) => out.to_json(),
        Err(e) => e.to_json(),
    }
}

/// `finvm effect resume`: the one-line JSON document.
pub fn resume(program_text: &str, snapshot_text: &str, deliveries_text: &str) -> String {
    match resume_typed(program_text, snapshot_text, deliveries_text) {
        Ok(out) => out.to_json(),
        Err(e) => e.to_json(),
    }
}
