//! The driver loop (`HOST.md` §4, with `DECISIONS.md`): [`run_live`]
//! performs effects and journals them; [`run_replay`] re-feeds a journal
//! with no I/O at all.
//!
//! Both start the program, then repeat: take the pending items of the call,
//! obtain one result per item (performed or journaled), deliver the results
//! in request order, resume; until the machine completes. Both report every
//! round through a callback ([`RoundReport`]) and return a [`RunReport`];
//! for the same program, overrides and journal the two give byte-identical
//! reports (every delivery is built from the journaled result, also live).
//!
//! Deliberate differences from the reference (`DECISIONS.md`): the events
//! of every round are kept, not only the last call's; replay is strict —
//! kind, pid, key, type **and payload** must match each entry, and a journal
//! with entries left over when the run completes is an error.

use crate::convert::{from_tagless, handler_arg, js_to_value, json_text, tagless, value_to_js};
use crate::handlers::{HandlerRef, InDoubt, Registry, Request};
use crate::journal::{Intent, JournalError, JournalStore, Kind, Slot};
use finvm::effect::{
    resume_machine, start_program, Delivery, EffectError, EffectOutput, Overrides, Pending,
    PendingKind, Quiescence,
};
use finvm::program::Program;
use finvm::value::json::{encode_value, write_json_str};
use finvm::{Str, Value};
use serde_json::Value as J;
use std::fmt;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};

/// At most this many VM calls (start + resumes) per run, as the reference's
/// `MAX_ITERS`.
pub const MAX_ROUNDS: usize = 10_000;

/// Why a run stopped without completing.
#[derive(Clone, Debug, PartialEq)]
pub enum HostError {
    /// The VM reported `error`/`failed`, a deadlock, or an invalid pending
    /// item: `VM failed: <Code>: <message>`, `VM deadlock: expected
    /// suspended/completed`, …
    Vm(String),
    /// The journal could not be read or written.
    Journal(JournalError),
    /// The run asked for something other than what the journal recorded at
    /// `index`.
    Mismatch {
        /// The first divergent journal index.
        index: u64,
        /// What the run asked for.
        expected: Box<Intent>,
        /// What the journal holds.
        found: Box<Intent>,
    },
    /// The run needs a result the journal does not have (replay only).
    Exhausted {
        /// The journal index of the missing result.
        index: u64,
        /// What the run asked for.
        expected: Box<Intent>,
        /// The journal holds the intent but no result: the live run stopped
        /// while performing it.
        in_doubt: bool,
    },
    /// The run completed, but the journal holds more entries.
    Unused {
        /// The first unused index.
        index: u64,
        /// Its intent.
        found: Box<Intent>,
        /// How many entries are unused.
        count: u64,
    },
    /// A live restart found an effect whose result was never recorded and
    /// whose handler does not allow performing it again.
    InDoubt {
        /// Its journal index.
        index: u64,
        /// Its intent.
        intent: Box<Intent>,
    },
    /// No handler is registered for a type (`No handler for effect type: T`).
    NoHandler(String),
    /// A handler failed; the run stops (the effect stays in doubt).
    Handler {
        /// The journal index.
        index: u64,
        /// The intent type.
        type_: String,
        /// The handler's message.
        message: String,
    },
    /// Rebuilding local handler state from the journal failed.
    Restore {
        /// The journal index.
        index: u64,
        /// The message.
        message: String,
    },
    /// More than [`MAX_ROUNDS`] VM calls.
    MaxRounds {
        /// `true` for replay.
        replay: bool,
    },
}

impl HostError {
    /// The process exit code the CLI uses: 3 for an in-doubt effect, 2 for
    /// a journal divergence, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            HostError::InDoubt { .. } => 3,
            HostError::Mismatch { .. } | HostError::Exhausted { .. } | HostError::Unused { .. } => {
                2
            }
            _ => 1,
        }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::Vm(m) => f.write_str(m),
            HostError::Journal(e) => write!(f, "{e}"),
            HostError::Mismatch {
                index,
                expected,
                found,
            } => {
                write!(
                    f,
                    "journal mismatch at {index}: expected {}, journal has {}",
                    expected.signature(),
                    found.signature()
                )?;
                if expected.signature() == found.signature() {
                    write!(
                        f,
                        " (payload differs: expected {}, journal has {})",
                        json_text(&expected.payload),
                        json_text(&found.payload)
                    )?;
                }
                Ok(())
            }
            HostError::Exhausted {
                index,
                expected,
                in_doubt,
            } => {
                write!(
                    f,
                    "journal exhausted: no recorded result for effect '{}' key '{}' (entry {index}",
                    expected.type_,
                    expected.key.as_deref().unwrap_or("null")
                )?;
                if *in_doubt {
                    f.write_str(
                        ": it was started but its result was never recorded; the live run stopped while performing it)",
                    )
                } else {
                    f.write_str(")")
                }
            }
            HostError::Unused {
                index,
                found,
                count,
            } => write!(
                f,
                "journal has unused entries: the run completed after {index} effects, but the journal holds {count} more, the first being {index}: {}",
                found.signature()
            ),
            HostError::InDoubt { index, intent } => write!(
                f,
                "effect in doubt at {index}: {} was started but its result was never recorded (the host stopped while performing it), so it may or may not have taken effect, and its handler does not allow performing it again. Check the remote side, then settle it with `finvm journal resolve <URL> {index} --result <VALUE-JSON>` if it took effect, or `--retry` if it did not",
                intent.signature()
            ),
            HostError::NoHandler(t) => write!(f, "No handler for effect type: {t}"),
            HostError::Handler {
                index,
                type_,
                message,
            } => write!(f, "effect {index} ({type_}) failed: {message}"),
            HostError::Restore { index, message } => {
                write!(f, "journal entry {index}: {message}")
            }
            HostError::MaxRounds { replay: false } => {
                f.write_str("effect driver exceeded MAX_ITERS (non-converging effect loop)")
            }
            HostError::MaxRounds { replay: true } => {
                f.write_str("effect replay exceeded MAX_ITERS (non-converging effect loop)")
            }
        }
    }
}

impl std::error::Error for HostError {}

impl From<JournalError> for HostError {
    fn from(e: JournalError) -> HostError {
        HostError::Journal(e)
    }
}

fn vm_error(e: EffectError) -> HostError {
    HostError::Vm(format!("VM {}: {}", e.status(), e.message()))
}

/// One VM call of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct RoundReport {
    /// 0 for start, then 1, 2, … per resume.
    pub round: usize,
    /// `suspended`, `completed` (or `deadlock`, which ends the run in error).
    pub status: &'static str,
    /// The journal index of the first pending item.
    pub first_index: u64,
    /// The pending items of this call, in request order.
    pub pending: Vec<Intent>,
    /// `{"type_","payload"}` of each event of this call, as JSON text.
    pub events: Vec<String>,
    /// main's result (tagless JSON text).
    pub result: String,
    /// The global state (JSON object text).
    pub state: String,
}

impl RoundReport {
    /// One JSON line:
    /// `{"round","status","events","pending","result","state"}`, each
    /// pending item with its journal `index` first.
    pub fn to_json(&self) -> String {
        let mut s = String::with_capacity(256);
        s.push_str(&format!(
            r#"{{"round":{},"status":"{}","events":["#,
            self.round, self.status
        ));
        s.push_str(&self.events.join(","));
        s.push_str(r#"],"pending":["#);
        for (i, p) in self.pending.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let mut m = serde_json::Map::new();
            m.insert("index".into(), J::from(self.first_index + i as u64));
            m.extend(p.members());
            s.push_str(&json_text(&J::Object(m)));
        }
        s.push_str(r#"],"result":"#);
        s.push_str(&self.result);
        s.push_str(r#","state":"#);
        s.push_str(&self.state);
        s.push('}');
        s
    }
}

/// How a run's effects were obtained (not part of the report's JSON, which
/// is identical for live and replay).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Results taken from the journal.
    pub replayed: u64,
    /// Effects performed (including again-performed in-doubt ones).
    pub performed: u64,
    /// In-doubt effects performed again.
    pub retried: u64,
}

/// A completed run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunReport {
    /// main's result (tagless JSON text).
    pub result: String,
    /// The global state (JSON object text).
    pub state: String,
    /// Every event of every round, in order (JSON texts).
    pub events: Vec<String>,
    /// VM calls made.
    pub rounds: usize,
    /// Effects (journal entries) used.
    pub effects: u64,
    /// How the effects were obtained.
    pub stats: Stats,
}

impl RunReport {
    /// `{"status":"completed","result","state","events","rounds","effects"}`.
    pub fn to_json(&self) -> String {
        format!(
            r#"{{"status":"completed","result":{},"state":{},"events":[{}],"rounds":{},"effects":{}}}"#,
            self.result,
            self.state,
            self.events.join(","),
            self.rounds,
            self.effects
        )
    }
}

fn event_json(t: &finvm::value::Tagged) -> String {
    let mut s = String::from(r#"{"type_":"#);
    write_json_str(&t.tag, &mut s);
    s.push_str(r#","payload":"#);
    encode_value(&t.value, &mut s);
    s.push('}');
    s
}

fn state_json(out: &EffectOutput) -> String {
    let mut s = String::new();
    finvm::api::encode_state(out.state(), &mut s);
    s
}

/// Normalises a VM pending item into a journal intent (`normalizePending`).
fn intent_of(p: &Pending) -> Result<Intent, HostError> {
    let kind = match p.kind {
        PendingKind::AwaitReply => Kind::AwaitReply,
        PendingKind::Transport => Kind::Transport,
    };
    let pid = if p.pid.is_empty() {
        "main".to_string()
    } else {
        p.pid.to_string()
    };
    let key = match kind {
        Kind::AwaitReply if p.key.is_empty() => {
            return Err(HostError::Vm(
                "invalid pending entry: await_reply requires key".into(),
            ))
        }
        Kind::AwaitReply => Some(p.key.to_string()),
        Kind::Transport => None,
    };
    if p.type_.is_empty() {
        return Err(HostError::Vm("invalid pending entry: missing type_".into()));
    }
    Ok(Intent {
        kind,
        pid,
        key,
        type_: p.type_.to_string(),
        payload: tagless(&p.payload).map_err(HostError::Vm)?,
    })
}

/// The deliveries for one result: `{pid, key, result}` for await_reply,
/// the delivery hints (§5) of its plain view for transport.
fn deliveries_for(intent: &Intent, result: &J, out: &mut Vec<Delivery>) -> Result<(), HostError> {
    let value = from_tagless(result)
        .map_err(|m| HostError::Vm(format!("journaled result does not decode: {m}")))?;
    match intent.kind {
        Kind::AwaitReply => out.push(Delivery::EffectReply {
            pid: Str::new(intent.pid.as_str()),
            key: Str::new(intent.key.clone().unwrap_or_default()),
            result: value,
        }),
        Kind::Transport => {
            out.extend(transport_deliveries(&value_to_js(&value)).map_err(HostError::Vm)?)
        }
    }
    Ok(())
}

/// `transportDeliveriesFromResult` (`HOST.md` §5).
pub fn transport_deliveries(r: &J) -> Result<Vec<Delivery>, String> {
    let Some(o) = r.as_object() else {
        return Ok(Vec::new());
    };
    let candidates: Vec<&J> = match (o.get("deliveries"), o.get("delivery")) {
        (Some(J::Array(items)), _) => items.iter().collect(),
        (_, Some(d)) => vec![d],
        _ => Vec::new(),
    };
    let nonempty = |j: Option<&J>| match j {
        Some(J::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let mut out = Vec::new();
    for c in candidates {
        let Some(c) = c.as_object() else { continue };
        if let Some(d @ (J::Object(_) | J::Array(_))) = c.get("disconnect") {
            let node = nonempty(d.get("node"))
                .ok_or("invalid transport delivery: disconnect.node is required")?;
            let reason = match d.get("reason") {
                Some(J::String(s)) => Str::new(s.as_str()),
                _ => Str::new("noconnection"),
            };
            out.push(Delivery::Disconnect {
                node: Str::new(node),
                reason,
            });
        } else if let Some(ns @ (J::Object(_) | J::Array(_))) = c.get("nodeStatus") {
            let (Some(node), Some(status)) = (nonempty(ns.get("node")), nonempty(ns.get("status")))
            else {
                return Err(
                    "invalid transport delivery: nodeStatus requires node and status".into(),
                );
            };
            let s = |k: &str| ns.get(k).and_then(J::as_str).map(Str::new);
            out.push(Delivery::NodeStatus {
                node: Str::new(node),
                status: Str::new(status),
                reason: s("reason"),
                last_seen_tick: ns.get("lastSeenTick").and_then(J::as_i64),
                last_state_hash: s("lastStateHash"),
            });
        } else if let Some(pid) = nonempty(c.get("pid")) {
            if let Some(m) = c.get("message") {
                out.push(Delivery::Message {
                    pid: Str::new(pid),
                    message: js_to_value(m),
                });
            } else if let Some(key) = nonempty(c.get("key")) {
                out.push(Delivery::EffectReply {
                    pid: Str::new(pid),
                    key: Str::new(key),
                    result: js_to_value(c.get("result").unwrap_or(&J::Null)),
                });
            }
        }
    }
    Ok(out)
}

/// Where a round's results come from.
trait Source {
    /// One tagless result per pending item, in order.
    fn results(
        &mut self,
        first: u64,
        pending: &[Pending],
        intents: &[Intent],
    ) -> Result<Vec<J>, HostError>;

    /// Journal slots not consumed by the run (checked on completion).
    fn leftover(&self, used: u64) -> Option<(u64, Intent, u64)>;

    fn replay(&self) -> bool;

    fn stats(&self) -> Stats;
}

fn check_match(index: u64, expected: &Intent, slot: &Slot) -> Result<(), HostError> {
    if &slot.intent != expected {
        return Err(HostError::Mismatch {
            index,
            expected: Box::new(expected.clone()),
            found: Box::new(slot.intent.clone()),
        });
    }
    Ok(())
}

fn leftover_of(slots: &[Slot], used: u64) -> Option<(u64, Intent, u64)> {
    slots
        .get(used as usize)
        .map(|s| (used, s.intent.clone(), slots.len() as u64 - used))
}

struct ReplaySource<'a> {
    slots: &'a [Slot],
    stats: Stats,
}

impl Source for ReplaySource<'_> {
    fn results(
        &mut self,
        first: u64,
        _pending: &[Pending],
        intents: &[Intent],
    ) -> Result<Vec<J>, HostError> {
        let mut out = Vec::with_capacity(intents.len());
        for (i, intent) in intents.iter().enumerate() {
            let index = first + i as u64;
            let Some(slot) = self.slots.get(index as usize) else {
                return Err(HostError::Exhausted {
                    index,
                    expected: Box::new(intent.clone()),
                    in_doubt: false,
                });
            };
            check_match(index, intent, slot)?;
            let Some(r) = &slot.result else {
                return Err(HostError::Exhausted {
                    index,
                    expected: Box::new(intent.clone()),
                    in_doubt: true,
                });
            };
            out.push(r.clone());
            self.stats.replayed += 1;
        }
        Ok(out)
    }

    fn leftover(&self, used: u64) -> Option<(u64, Intent, u64)> {
        leftover_of(self.slots, used)
    }

    fn replay(&self) -> bool {
        true
    }

    fn stats(&self) -> Stats {
        self.stats
    }
}

/// Options of [`run_live`].
#[derive(Clone, Debug)]
pub struct LiveOptions {
    /// At most this many thread-safe handlers run at once (≥ 1).
    pub max_concurrency: usize,
}

impl Default for LiveOptions {
    fn default() -> LiveOptions {
        LiveOptions {
            max_concurrency: 16,
        }
    }
}

struct LiveSource<'a> {
    journal: &'a mut dyn JournalStore,
    registry: &'a Registry,
    slots: Vec<Slot>,
    opts: &'a LiveOptions,
    stats: Stats,
}

/// One effect to perform this round.
struct Job {
    pos: usize,
    handler: HandlerRef,
    req: Request,
}

enum Outcome {
    Plain(Result<J, String>),
    Local(Result<Value, String>),
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        format!("handler panicked: {s}")
    } else if let Some(s) = p.downcast_ref::<String>() {
        format!("handler panicked: {s}")
    } else {
        "handler panicked".into()
    }
}

impl LiveSource<'_> {
    fn request(&self, index: u64, p: &Pending, intent: &Intent, attempt: u32) -> Request {
        Request {
            index,
            kind: intent.kind,
            pid: intent.pid.clone(),
            key: intent.key.clone(),
            type_: intent.type_.clone(),
            arg: handler_arg(&p.payload, intent.key.as_deref()),
            payload: intent.payload.clone(),
            idempotency_key: self.journal.info().idempotency_key(index),
            attempt,
        }
    }

    /// Performs the jobs (thread-safe ones on worker threads, local ones
    /// here, in order), journaling results in request order as soon as a
    /// prefix of them is complete. Returns the tagless results by position.
    fn perform(
        &mut self,
        jobs: Vec<Job>,
        payloads: &[Value],
        results: &mut [Option<J>],
    ) -> Result<(), HostError> {
        let mut order: Vec<(usize, u64)> = jobs.iter().map(|j| (j.pos, j.req.index)).collect();
        let mut shared: Vec<(usize, Arc<dyn crate::handlers::Handler>, Request)> = Vec::new();
        let mut local = Vec::new();
        for j in jobs {
            match j.handler {
                HandlerRef::Shared(h) => shared.push((j.pos, h, j.req)),
                HandlerRef::Local(h) => local.push((j.pos, h, j.req)),
            }
        }
        order.sort_unstable();
        let mut first_error: Option<HostError> = None;
        let mut flushed = 0usize;
        let journal = &mut *self.journal;
        let mut fresh: Vec<Option<J>> = vec![None; results.len()];
        let accept = |pos: usize,
                      index: u64,
                      type_: &str,
                      outcome: Outcome,
                      fresh: &mut Vec<Option<J>>,
                      first_error: &mut Option<HostError>| {
            let converted = match outcome {
                Outcome::Plain(r) => r.and_then(|j| tagless(&js_to_value(&j))),
                Outcome::Local(r) => r.and_then(|v| tagless(&v)),
            };
            match converted {
                Ok(j) => fresh[pos] = Some(j),
                Err(message) => {
                    if first_error.is_none() {
                        *first_error = Some(HostError::Handler {
                            index,
                            type_: type_.to_string(),
                            message,
                        });
                    }
                }
            }
        };
        // Journals the longest complete prefix of `order` not yet journaled.
        let flush = |journal: &mut dyn JournalStore,
                     fresh: &[Option<J>],
                     flushed: &mut usize|
         -> Result<(), HostError> {
            let mut batch = Vec::new();
            while let Some(&(pos, index)) = order.get(*flushed) {
                match &fresh[pos] {
                    Some(j) => batch.push((index, j.clone())),
                    None => break,
                }
                *flushed += 1;
            }
            if !batch.is_empty() {
                journal.record_results(&batch)?;
            }
            Ok(())
        };
        let workers = self.opts.max_concurrency.max(1).min(shared.len());
        let next = AtomicUsize::new(0);
        let (tx, rx) = mpsc::channel::<(usize, Result<J, String>)>();
        let flush_result: Result<(), HostError> = std::thread::scope(|scope| {
            for _ in 0..workers {
                let tx = tx.clone();
                let shared = &shared;
                let next = &next;
                scope.spawn(move || loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some((_, h, req)) = shared.get(k) else {
                        break;
                    };
                    let r =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h.perform(req)))
                            .unwrap_or_else(|p| Err(panic_text(p)));
                    if tx.send((k, r)).is_err() {
                        break;
                    }
                });
            }
            drop(tx);
            let mut journal_error = None;
            for (pos, h, req) in &local {
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    h.borrow_mut().perform(req, &payloads[*pos])
                }))
                .unwrap_or_else(|p| Err(panic_text(p)));
                accept(
                    *pos,
                    req.index,
                    &req.type_,
                    Outcome::Local(r),
                    &mut fresh,
                    &mut first_error,
                );
            }
            for (k, r) in rx {
                let (pos, _, req) = &shared[k];
                accept(
                    *pos,
                    req.index,
                    &req.type_,
                    Outcome::Plain(r),
                    &mut fresh,
                    &mut first_error,
                );
                if journal_error.is_none() {
                    if let Err(e) = flush(journal, &fresh, &mut flushed) {
                        journal_error = Some(e);
                    }
                }
            }
            match journal_error {
                Some(e) => Err(e),
                None => flush(journal, &fresh, &mut flushed),
            }
        });
        flush_result?;
        if let Some(e) = first_error {
            // Keep what did complete: journal the results after the failed one too.
            let rest: Vec<(u64, J)> = order[flushed..]
                .iter()
                .filter_map(|&(pos, index)| fresh[pos].clone().map(|j| (index, j)))
                .collect();
            if !rest.is_empty() {
                journal.record_results(&rest)?;
            }
            return Err(e);
        }
        for (pos, j) in fresh.into_iter().enumerate() {
            if let Some(j) = j {
                results[pos] = Some(j);
            }
        }
        Ok(())
    }
}

impl Source for LiveSource<'_> {
    fn results(
        &mut self,
        first: u64,
        pending: &[Pending],
        intents: &[Intent],
    ) -> Result<Vec<J>, HostError> {
        let n = intents.len();
        let mut results: Vec<Option<J>> = vec![None; n];
        let mut jobs = Vec::new();
        let mut new_from: Option<usize> = None;
        let mut payloads = Vec::with_capacity(n);
        let mut restores = Vec::new();
        let mut unretry = Vec::new();
        for (i, (p, intent)) in pending.iter().zip(intents).enumerate() {
            payloads.push(p.payload.clone());
            let index = first + i as u64;
            match self.slots.get(index as usize) {
                Some(slot) => {
                    check_match(index, intent, slot)?;
                    match &slot.result {
                        Some(r) => {
                            results[i] = Some(r.clone());
                            self.stats.replayed += 1;
                            if let Some(HandlerRef::Local(h)) = self.registry.lookup(&intent.type_)
                            {
                                restores.push((h, self.request(index, p, intent, 1), i, r.clone()));
                            }
                        }
                        None => {
                            let handler = self
                                .registry
                                .lookup(&intent.type_)
                                .ok_or_else(|| HostError::NoHandler(intent.type_.clone()))?;
                            let req = self.request(index, p, intent, 2);
                            if !slot.retry
                                && self.registry.in_doubt(&handler, &req) != InDoubt::Retry
                            {
                                return Err(HostError::InDoubt {
                                    index,
                                    intent: Box::new(intent.clone()),
                                });
                            }
                            if slot.retry {
                                unretry.push(index);
                            }
                            self.stats.retried += 1;
                            jobs.push(Job {
                                pos: i,
                                handler,
                                req,
                            });
                        }
                    }
                }
                None => {
                    let handler = self
                        .registry
                        .lookup(&intent.type_)
                        .ok_or_else(|| HostError::NoHandler(intent.type_.clone()))?;
                    new_from.get_or_insert(i);
                    jobs.push(Job {
                        pos: i,
                        handler,
                        req: self.request(index, p, intent, 1),
                    });
                }
            }
        }
        // Rebuild local state from what the journal already holds.
        for (h, req, i, r) in restores {
            let recorded = from_tagless(&r).map_err(|m| HostError::Restore {
                index: req.index,
                message: format!("journaled result does not decode: {m}"),
            })?;
            h.borrow_mut()
                .restore(&req, &payloads[i], &recorded)
                .map_err(|message| HostError::Restore {
                    index: req.index,
                    message,
                })?;
        }
        // Durable intents before anything is performed.
        for index in unretry {
            self.journal.set_retry(index, false)?;
        }
        if let Some(from) = new_from {
            self.journal
                .record_intents(first + from as u64, &intents[from..])?;
            let new_slots = intents[from..].iter().enumerate().map(|(k, it)| Slot {
                index: first + (from + k) as u64,
                intent: it.clone(),
                result: None,
                retry: false,
            });
            self.slots.extend(new_slots);
        }
        self.stats.performed += jobs.len() as u64;
        if !jobs.is_empty() {
            self.perform(jobs, &payloads, &mut results)?;
        }
        results
            .into_iter()
            .enumerate()
            .map(|(i, r)| {
                let r =
                    r.ok_or_else(|| HostError::Vm(format!("no result for pending item {i}")))?;
                if let Some(slot) = self.slots.get_mut(first as usize + i) {
                    slot.result = Some(r.clone());
                }
                Ok(r)
            })
            .collect()
    }

    fn leftover(&self, used: u64) -> Option<(u64, Intent, u64)> {
        leftover_of(&self.slots, used)
    }

    fn replay(&self) -> bool {
        false
    }

    fn stats(&self) -> Stats {
        self.stats
    }
}

fn drive(
    program: Rc<Program>,
    overrides: &Overrides,
    source: &mut dyn Source,
    on_round: &mut dyn FnMut(&RoundReport),
) -> Result<RunReport, HostError> {
    let mut out = start_program(program, overrides).map_err(vm_error)?;
    let mut next: u64 = 0;
    let mut all_events = Vec::new();
    for round in 0..MAX_ROUNDS {
        let intents = out
            .pending
            .iter()
            .map(intent_of)
            .collect::<Result<Vec<_>, _>>()?;
        let events: Vec<String> = out.events.iter().map(event_json).collect();
        let report = RoundReport {
            round,
            status: out.status.as_str(),
            first_index: next,
            pending: intents.clone(),
            events: events.clone(),
            result: finvm::value::json::value_to_json(&out.result()),
            state: state_json(&out),
        };
        on_round(&report);
        all_events.extend(events);
        match out.status {
            Quiescence::Completed => {
                if let Some((index, found, count)) = source.leftover(next) {
                    return Err(HostError::Unused {
                        index,
                        found: Box::new(found),
                        count,
                    });
                }
                return Ok(RunReport {
                    result: report.result,
                    state: report.state,
                    events: all_events,
                    rounds: round + 1,
                    effects: next,
                    stats: source.stats(),
                });
            }
            Quiescence::Deadlock => {
                return Err(HostError::Vm(
                    "VM deadlock: expected suspended/completed".into(),
                ))
            }
            Quiescence::Suspended => {}
        }
        if intents.is_empty() {
            return Err(HostError::Vm(
                "VM returned status 'suspended' with no pending effects".into(),
            ));
        }
        let results = source.results(next, &out.pending, &intents)?;
        let mut deliveries = Vec::with_capacity(intents.len());
        for (intent, r) in intents.iter().zip(&results) {
            deliveries_for(intent, r, &mut deliveries)?;
        }
        next += intents.len() as u64;
        out = resume_machine(out.machine, &deliveries).map_err(vm_error)?;
    }
    Err(HostError::MaxRounds {
        replay: source.replay(),
    })
}

/// Runs a program live: journaled results are replayed (strictly), then
/// every further effect is performed with `registry`, its intent journaled
/// before and its result journaled after performing it, and delivered only
/// once durable. `on_round` sees every VM call.
pub fn run_live(
    program: Rc<Program>,
    overrides: &Overrides,
    journal: &mut dyn JournalStore,
    registry: &Registry,
    opts: &LiveOptions,
    on_round: &mut dyn FnMut(&RoundReport),
) -> Result<RunReport, HostError> {
    let slots = journal.load()?;
    let mut source = LiveSource {
        journal,
        registry,
        slots,
        opts,
        stats: Stats::default(),
    };
    drive(program, overrides, &mut source, on_round)
}

/// Replays a program against journal slots: no handler, no I/O. Fails at
/// the first divergence (kind, pid, key, type or payload), on a missing
/// result, and when entries are left over.
pub fn run_replay(
    program: Rc<Program>,
    overrides: &Overrides,
    slots: &[Slot],
    on_round: &mut dyn FnMut(&RoundReport),
) -> Result<RunReport, HostError> {
    let mut source = ReplaySource {
        slots,
        stats: Stats::default(),
    };
    drive(program, overrides, &mut source, on_round)
}

/// Whether a handler type is a local one (for documentation and tests).
pub fn is_local(registry: &Registry, type_: &str) -> bool {
    matches!(registry.lookup(type_), Some(HandlerRef::Local(_)))
}

#[allow(dead_code)]
fn _assert_send() {
    fn is_send<T: Send>() {}
    is_send::<Request>();
    is_send::<Arc<dyn crate::handlers::Handler>>();
}
