//! Start overrides (`FORMATS.md` §6.1) and resume delivery envelopes
//! (§6.7, `PROCESSES.md` §7.1), decoded with the reference's error texts, and
//! their application to a machine (§6.8 / §7.2, through the process layer).

use crate::decode::{int32, parse_json};
use crate::machine::Machine;
use crate::value::json::decode_value;
use crate::value::{cmp_utf16, Str, Value};
use serde_json::Value as J;
use std::collections::BTreeMap;
use std::rc::Rc;

/// `{"input": {...}, "state": {...}}` merged over the program's own input
/// and state at start; an override wins on a key clash.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Overrides {
    /// Input entries (they bypass the program's input schema).
    pub input: BTreeMap<Str, Value>,
    /// State entries.
    pub state: BTreeMap<Str, Value>,
}

impl Overrides {
    /// Decodes overrides text; `""` means none.
    pub fn decode(text: &str) -> Result<Overrides, String> {
        if text.is_empty() {
            return Ok(Overrides::default());
        }
        let j = parse_json(text)?;
        let o = j.as_object().ok_or("overrides must be an object")?;
        let map = |key: &str| -> Result<BTreeMap<Str, Value>, String> {
            match o.get(key) {
                None => Ok(BTreeMap::new()),
                Some(J::Object(m)) => value_map(m),
                Some(_) => Err(format!("{key} must be an object")),
            }
        };
        Ok(Overrides {
            input: map("input")?,
            state: map("state")?,
        })
    }

    /// Merges the overrides into a fresh machine.
    pub fn apply(&self, m: &mut Machine) {
        if !self.input.is_empty() {
            let input = Rc::make_mut(&mut m.core.input);
            for (k, v) in &self.input {
                input.insert(k.clone(), v.clone());
            }
        }
        for (k, v) in &self.state {
            m.core.state.insert(k.clone(), v.clone());
        }
    }
}

/// Decodes a JSON object of values, keys in UTF-16 order (which fixes which
/// bad value is reported first).
fn value_map(o: &serde_json::Map<String, J>) -> Result<BTreeMap<Str, Value>, String> {
    let mut keys: Vec<&String> = o.keys().collect();
    keys.sort_by(|a, b| cmp_utf16(a, b));
    let mut out = BTreeMap::new();
    for k in keys {
        out.insert(Str::new(k.as_str()), decode_value(&o[k])?);
    }
    Ok(out)
}

/// One resume delivery.
#[derive(Clone, Debug, PartialEq)]
pub enum Delivery {
    /// `{pid, message}`: append a message to a mailbox.
    Message {
        /// The receiving process.
        pid: Str,
        /// The message.
        message: Value,
    },
    /// `{pid, key[, result]}`: an effect reply, delivered as
    /// `EffectReply {key, value}`.
    EffectReply {
        /// The process that awaited the effect.
        pid: Str,
        /// The intent's key.
        key: Str,
        /// The result (unit when absent).
        result: Value,
    },
    /// `{disconnect: {node[, reason]}}`: a remote node went away.
    Disconnect {
        /// The node.
        node: Str,
        /// The reason (default `noconnection`).
        reason: Str,
    },
    /// `{nodeStatus: {node, status[, reason, lastSeenTick, lastStateHash]}}`.
    NodeStatus {
        /// The node.
        node: Str,
        /// The reported status (normalised when stored).
        status: Str,
        /// Optional reason.
        reason: Option<Str>,
        /// Optional last-seen tick.
        last_seen_tick: Option<i64>,
        /// Optional last known state hash.
        last_state_hash: Option<Str>,
    },
}

pub(crate) const SHAPES: &str = "delivery must contain either {pid,message}, {pid,key[,result]}, {disconnect:{node[,reason]}}, or {nodeStatus:{node,status[,reason,lastSeenTick,lastStateHash]}}";

fn req_str(o: &serde_json::Map<String, J>, key: &str) -> Result<Str, String> {
    match o.get(key) {
        None => Err(format!("Missing string field: {key}")),
        Some(J::String(s)) => Ok(Str::new(s.as_str())),
        Some(_) => Err(format!("{key} must be a string")),
    }
}

fn opt_str(o: &serde_json::Map<String, J>, key: &str, msg: &str) -> Result<Option<Str>, String> {
    match o.get(key) {
        None => Ok(None),
        Some(J::String(s)) => Ok(Some(Str::new(s.as_str()))),
        Some(_) => Err(msg.to_string()),
    }
}

impl Delivery {
    /// Decodes a deliveries array; `""` means none. The first bad envelope
    /// fails the whole list.
    pub fn decode_all(text: &str) -> Result<Vec<Delivery>, String> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        let j = parse_json(text)?;
        let items = j.as_array().ok_or("deliveries must be an array")?;
        items.iter().map(Delivery::decode).collect()
    }

    /// Decodes one envelope (first matching rule of `FORMATS.md` §6.7).
    pub fn decode(j: &J) -> Result<Delivery, String> {
        let o = j.as_object().ok_or("delivery must be an object")?;
        if let Some(ns) = o.get("nodeStatus") {
            let ns = ns.as_object().ok_or("nodeStatus must be an object")?;
            let node = req_str(ns, "node")?;
            let status = req_str(ns, "status")?;
            let reason = opt_str(ns, "reason", "reason must be a string")?;
            let last_seen_tick = match ns.get("lastSeenTick") {
                None => None,
                Some(t) => Some(i64::from(
                    int32(t).ok_or("lastSeenTick must be a safe integer")?,
                )),
            };
            let last_state_hash = opt_str(ns, "lastStateHash", "lastStateHash must be a string")?;
            return Ok(Delivery::NodeStatus {
                node,
                status,
                reason,
                last_seen_tick,
                last_state_hash,
            });
        }
        if let Some(d) = o.get("disconnect") {
            let d = d.as_object().ok_or("disconnect must be an object")?;
            let node = req_str(d, "node")?;
            let reason = opt_str(d, "reason", "disconnect.reason must be a string")?
                .unwrap_or_else(|| Str::new("noconnection"));
            return Ok(Delivery::Disconnect { node, reason });
        }
        let pid = req_str(o, "pid")?;
        if let Some(msg) = o.get("message") {
            return Ok(Delivery::Message {
                pid,
                message: decode_value(msg)?,
            });
        }
        if let Some(k) = o.get("key") {
            let key = match k {
                J::String(s) => Str::new(s.as_str()),
                _ => return Err("key must be a string".into()),
            };
            let result = match o.get("result") {
                None => Value::Unit,
                Some(r) => decode_value(r)?,
            };
            return Ok(Delivery::EffectReply { pid, key, result });
        }
        Err(SHAPES.into())
    }

    /// Applies the delivery to a machine through the process layer. A
    /// message or reply for an unknown pid is dropped.
    pub fn apply(&self, m: &mut Machine) {
        match self {
            Delivery::Message { pid, message } => {
                if let Some(slot) = m.slot_of(pid) {
                    crate::process::deliver_message(m, slot, message.clone());
                }
            }
            Delivery::EffectReply { pid, key, result } => {
                if let Some(slot) = m.slot_of(pid) {
                    crate::process::deliver_effect_reply(m, slot, key, result.clone());
                }
            }
            Delivery::Disconnect { node, reason } => {
                crate::process::apply_disconnect(m, node, reason);
            }
            Delivery::NodeStatus {
                node,
                status,
                reason,
                last_seen_tick,
                last_state_hash,
            } => crate::process::apply_node_status(
                m,
                node,
                status,
                reason.clone(),
                *last_seen_tick,
                last_state_hash.clone(),
            ),
        }
    }
}
