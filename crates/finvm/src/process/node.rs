//! Distribution: `NODE_*` and `REMOTE_PID_*` opcodes, node metadata in
//! `state["__finvm.nodes"]`, and the node deliveries of the effect API
//! (`PROCESSES.md` §4, §7.2.3, §7.2.4 with `DECISIONS.md`).
//!
//! The node table lives in global state under `__finvm.nodes` (programs may
//! preset it or write it with `STATE_SET`), so readers read it there;
//! `Machine.nodes` is a typed mirror refreshed by every delivery
//! ([`sync_nodes_state`]).

use super::{deliver_message, end_process, next, reg, sched, set, type_err, unresolved_function};
use crate::error::{vm_error, ErrorCode, VmResult};
use crate::machine::{Machine, MonitorTarget, NodeInfo, Status};
use crate::opcodes::Opcode;
use crate::value::canon::hash_value;
use crate::value::{Record, Str, Tagged, Value};
use std::collections::BTreeSet;
use std::rc::Rc;

/// The reserved state key of the node table.
pub const NODES_KEY: &str = "__finvm.nodes";
/// The local node's name.
pub const LOCAL: &str = "local";

/// The node table record, if state holds one.
fn nodes_record(m: &Machine) -> Option<&Record> {
    match m.core.state.get(NODES_KEY) {
        Some(Value::Record(r)) => Some(r),
        _ => None,
    }
}

/// Field `field` of node `node`'s entry, if the shapes fit.
fn node_field<'a>(m: &'a Machine, node: &str, field: &str) -> Option<&'a Value> {
    match nodes_record(m)?.get(node)? {
        Value::Record(e) => e.get(field),
        _ => None,
    }
}

/// A node-name operand.
fn node_arg(m: &Machine, slot: usize, r: u32, op: Opcode) -> VmResult<Str> {
    match reg(m, slot, r)? {
        Value::Str(s) => Ok(s.clone()),
        _ => Err(type_err(&format!("{} requires a node String", op.name()))),
    }
}

/// A `VRemoteProcessRef` operand as (node, pid).
fn remote_arg(m: &Machine, slot: usize, r: u32, op: Opcode) -> VmResult<(Str, Str)> {
    match reg(m, slot, r)? {
        Value::RemoteProcess(np) => Ok((np.0.clone(), np.1.clone())),
        _ => Err(type_err(&format!(
            "{} requires a RemoteProcessRef",
            op.name()
        ))),
    }
}

/// Appends a transport intent (`NODE_*` intents bypass `maxEffectsRequested`,
/// as in the reference, but count toward it).
fn intent(m: &mut Machine, ty: &str, fields: Vec<(&str, Value)>) {
    let mut r = Record::new();
    for (k, v) in fields {
        r.insert(Str::new(k), v);
    }
    m.core.outbox.push(Tagged {
        tag: Str::new(ty),
        value: Value::record(r),
    });
}

/// Executes a `NODE_*` / `REMOTE_PID_*` opcode (the step is already counted).
pub(super) fn exec(
    m: &mut Machine,
    slot: usize,
    op: Opcode,
    regs: &[u32],
    func: Option<u32>,
) -> VmResult<()> {
    use Opcode as O;
    let me = m.procs[slot].pid.clone();
    let steps = m.core.steps;
    match op {
        O::NodeSelf => set(m, slot, regs[0], Value::str(LOCAL)),
        O::NodeStatus => {
            let node = node_arg(m, slot, regs[1], op)?;
            let status = if node.as_str() == LOCAL {
                Value::str("online")
            } else {
                match node_field(m, &node, "status") {
                    Some(Value::Str(s)) => Value::Str(s.clone()),
                    _ => Value::str("unknown"),
                }
            };
            set(m, slot, regs[0], status);
        }
        O::NodeKnown => {
            let mut names: BTreeSet<Str> = BTreeSet::new();
            names.insert(Str::new(LOCAL));
            if let Some(r) = nodes_record(m) {
                names.extend(r.fields().keys().cloned());
            }
            crate::interp::check_list_len(&m.core, names.len(), "NODE_KNOWN")?;
            let list = names.into_iter().map(Value::Str).collect();
            set(m, slot, regs[0], Value::list(list));
        }
        O::NodeLastSeenTick => {
            let node = node_arg(m, slot, regs[1], op)?;
            let v = if node.as_str() == LOCAL {
                Value::some(Value::int(m.tick))
            } else {
                match node_field(m, &node, "lastSeenTick") {
                    Some(Value::Int(i)) if i.to_i32().is_some() => {
                        Value::some(Value::Int(i.clone()))
                    }
                    _ => Value::none(),
                }
            };
            set(m, slot, regs[0], v);
        }
        O::NodeLastStateHash => {
            let node = node_arg(m, slot, regs[1], op)?;
            let v = if node.as_str() == LOCAL {
                // DECISIONS.md: SHA-256 of the canonical text of the global state as a record.
                let rec: Record = m
                    .core
                    .state
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                Value::some(Value::str(hash_value(&Value::record(rec))))
            } else {
                match node_field(m, &node, "lastStateHash") {
                    Some(Value::Str(s)) => Value::some(Value::Str(s.clone())),
                    _ => Value::none(),
                }
            };
            set(m, slot, regs[0], v);
        }
        O::NodeObserveState | O::NodeQueryState => {
            let node = node_arg(m, slot, regs[1], op)?;
            let ty = if op == O::NodeObserveState {
                "NodeObserveStateIntent"
            } else {
                "NodeQueryStateIntent"
            };
            // DECISIONS.md: the intent is emitted, not only built.
            m.core.outbox.push(Tagged {
                tag: Str::new(ty),
                value: Value::Str(node.clone()),
            });
            set(m, slot, regs[0], Value::effect(ty, Value::Str(node)));
        }
        O::RemotePidNew => {
            let v = match (reg(m, slot, regs[1])?, reg(m, slot, regs[2])?) {
                (Value::Str(n), Value::Str(p)) => {
                    Value::RemoteProcess(Rc::new((n.clone(), p.clone())))
                }
                _ => return Err(type_err("REMOTE_PID_NEW requires Strings for node and pid")),
            };
            set(m, slot, regs[0], v);
        }
        O::RemotePidNode | O::RemotePidLocal => {
            let (node, pid) = remote_arg(m, slot, regs[1], op)?;
            let v = if op == O::RemotePidNode { node } else { pid };
            set(m, slot, regs[0], Value::Str(v));
        }
        O::NodeSend => {
            let target = reg(m, slot, regs[0])?.clone();
            let msg = reg(m, slot, regs[1])?.clone();
            let Value::RemoteProcess(np) = target else {
                return Err(type_err("NODE_SEND requires a RemoteProcessRef"));
            };
            intent(
                m,
                "RemoteSendIntent",
                vec![
                    ("message", msg),
                    ("node", Value::Str(np.0.clone())),
                    ("pid", Value::Str(np.1.clone())),
                ],
            );
        }
        O::NodeSpawn => {
            let node = reg(m, slot, regs[1])?.clone();
            let mut args = Vec::with_capacity(regs.len() - 2);
            for r in &regs[2..] {
                args.push(reg(m, slot, *r)?.clone());
            }
            let Value::Str(node) = node else {
                return Err(type_err("NODE_SPAWN requires a node String"));
            };
            let Some(f) = func else {
                let id = unresolved_function(m, slot, 2);
                return Err(vm_error(
                    ErrorCode::UnknownFunction,
                    format!("Unknown function: {id}"),
                ));
            };
            crate::interp::check_list_len(&m.core, args.len(), "NODE_SPAWN")?;
            let fid = m.core.program.functions[f as usize].id.clone();
            let rpid = Str::new(format!("remote:{node}:{fid}:{steps}"));
            intent(
                m,
                "RemoteSpawnIntent",
                vec![
                    ("args", Value::list(args)),
                    ("function", Value::Str(fid)),
                    ("node", Value::Str(node.clone())),
                    ("pid", Value::Str(rpid.clone())),
                    ("requestId", Value::str(format!("spawn:{me}:{steps}"))),
                    ("requesterPid", Value::Str(me.clone())),
                ],
            );
            set(
                m,
                slot,
                regs[0],
                Value::RemoteProcess(Rc::new((node, rpid))),
            );
        }
        O::NodeLink | O::NodeUnlink => {
            let (node, rpid) = remote_arg(m, slot, regs[0], op)?;
            let link = op == O::NodeLink;
            let key = (node.clone(), rpid.clone());
            if link {
                m.procs[slot].remote_links.insert(key);
            } else {
                m.procs[slot].remote_links.remove(&key);
            }
            intent(
                m,
                if link {
                    "RemoteLinkIntent"
                } else {
                    "RemoteUnlinkIntent"
                },
                vec![
                    ("node", Value::Str(node)),
                    ("pid", Value::Str(me)),
                    ("remotePid", Value::Str(rpid)),
                ],
            );
        }
        O::NodeMonitor => {
            let (node, rpid) = remote_arg(m, slot, regs[1], op)?;
            let mref = Str::new(format!("rmon{steps}:{rpid}"));
            m.procs[slot].monitors.insert(
                mref.clone(),
                MonitorTarget::Remote(node.clone(), rpid.clone()),
            );
            intent(
                m,
                "RemoteMonitorIntent",
                vec![
                    ("node", Value::Str(node)),
                    ("pid", Value::Str(me)),
                    ("ref", Value::Str(mref.clone())),
                    ("remotePid", Value::Str(rpid)),
                ],
            );
            set(m, slot, regs[0], Value::Str(mref));
        }
        O::NodeDemonitor => {
            let mref = match reg(m, slot, regs[0])? {
                Value::Str(s) => s.clone(),
                _ => {
                    return Err(type_err(
                        "NODE_DEMONITOR requires a String monitor reference",
                    ))
                }
            };
            match m.procs[slot].monitors.remove(&mref) {
                Some(MonitorTarget::Remote(node, rpid)) => intent(
                    m,
                    "RemoteDemonitorIntent",
                    vec![
                        ("node", Value::Str(node)),
                        ("pid", Value::Str(me)),
                        ("ref", Value::Str(mref)),
                        ("remotePid", Value::Str(rpid)),
                    ],
                ),
                Some(MonitorTarget::Local(t)) => {
                    if let Some(ts) = sched::lookup(m, &t) {
                        sched::forget_monitor(m, slot, &mref, ts);
                    }
                }
                None => {}
            }
        }
        _ => {
            return Err(vm_error(
                ErrorCode::InvalidInstruction,
                format!("{} is not a process opcode", op.name()),
            ))
        }
    }
    next(m, slot);
    Ok(())
}

/// Normalises a delivered node status (`online`, `suspect`, `offline`,
/// `unknown`; anything else is `unknown`).
fn normalise_status(s: &str) -> &str {
    match s {
        "online" | "suspect" | "offline" | "unknown" => s,
        _ => "unknown",
    }
}

/// Upserts node `node`'s entry in `state["__finvm.nodes"]` (`FORMATS.md` §6.8).
fn upsert(
    m: &mut Machine,
    node: &Str,
    status: &str,
    reason: Option<Str>,
    last_seen_tick: Option<i64>,
    last_state_hash: Option<Str>,
) {
    let mut table = nodes_record(m).cloned().unwrap_or_default();
    let mut entry = match table.get(node) {
        Some(Value::Record(e)) => (**e).clone(),
        _ => Record::new(),
    };
    if let Some(r) = reason {
        entry.insert(Str::new("reason"), Value::Str(r));
    }
    if let Some(t) = last_seen_tick {
        entry.insert(Str::new("lastSeenTick"), Value::int(t));
    }
    if let Some(h) = last_state_hash {
        entry.insert(Str::new("lastStateHash"), Value::Str(h));
    }
    entry.insert(Str::new("status"), Value::str(normalise_status(status)));
    table.insert(node.clone(), Value::record(entry));
    m.core
        .state
        .insert(Str::new(NODES_KEY), Value::record(table));
    sync_nodes_state(m);
}

/// Refreshes `Machine.nodes` from `state["__finvm.nodes"]`, the node table's
/// source of truth (`PROCESSES.md` §4.1; entries of another shape are
/// skipped, fields of another type read as absent).
pub fn sync_nodes_state(m: &mut Machine) {
    let mut nodes = std::collections::BTreeMap::new();
    if let Some(table) = nodes_record(m) {
        for (name, e) in table.fields() {
            let Value::Record(e) = e else { continue };
            let status = match e.get("status") {
                Some(Value::Str(s)) => s.clone(),
                _ => Str::new("unknown"),
            };
            let reason = match e.get("reason") {
                Some(Value::Str(s)) => Some(s.clone()),
                _ => None,
            };
            let last_seen_tick = match e.get("lastSeenTick") {
                Some(Value::Int(i)) => i.to_i32().map(i64::from),
                _ => None,
            };
            let last_state_hash = match e.get("lastStateHash") {
                Some(Value::Str(s)) => Some(s.clone()),
                _ => None,
            };
            nodes.insert(
                name.clone(),
                NodeInfo {
                    status,
                    reason,
                    last_seen_tick,
                    last_state_hash,
                },
            );
        }
    }
    m.nodes = nodes;
}

/// The `nodeStatus` delivery (`PROCESSES.md` §7.2.4): upsert only, no wake-up.
pub fn apply_node_status(
    m: &mut Machine,
    node: &Str,
    status: &Str,
    reason: Option<Str>,
    last_seen_tick: Option<i64>,
    last_state_hash: Option<Str>,
) {
    upsert(m, node, status, reason, last_seen_tick, last_state_hash);
}

/// The `disconnect` delivery (`PROCESSES.md` §7.2.3 with `DECISIONS.md`).
///
/// Processes are visited in ascending pid order; a terminated process is
/// left as it is. For each live process: one DOWN per remote monitor on
/// `node` (ascending ref; `pid` is the remote pid), the monitors removed;
/// its remote links to `node` removed, and then — if it traps exits — one
/// `EXIT` per dead link (`pid` = `<node>:<remotePid>`), or — if it does not
/// — it exits with `reason` as if by an exit signal (`killed_by_signal`:
/// DOWN to its monitors, joiners woken, local links signalled). Every
/// message follows the usual wake rules. Finally the node is recorded
/// `offline` with the reason and the current tick. When `main` is taken
/// down, [`Machine::check_main_ended`] reports it.
pub fn apply_disconnect(m: &mut Machine, node: &Str, reason: &Str) {
    // The visit is O(table) anyway; rebuilding first makes the notices of
    // processes taken down here exact even right after a snapshot restore.
    sched::rebuild(m);
    let slots: Vec<usize> = m.by_pid.values().copied().collect();
    for slot in slots {
        let p = &m.procs[slot];
        if p.status.is_terminal() {
            continue;
        }
        let dead_refs: Vec<(Str, Str)> = p
            .monitors
            .iter()
            .filter_map(|(r, t)| match t {
                MonitorTarget::Remote(n, rp) if n == node => Some((r.clone(), rp.clone())),
                _ => None,
            })
            .collect();
        let dead_links: Vec<(Str, Str)> = p
            .remote_links
            .iter()
            .filter(|(n, _)| n == node)
            .cloned()
            .collect();
        if dead_refs.is_empty() && dead_links.is_empty() {
            continue;
        }
        let trap = p.trap_exit;
        // A process about to be taken down is not woken by its DOWNs.
        let dies = !trap && !dead_links.is_empty();
        for (r, rpid) in &dead_refs {
            m.procs[slot].monitors.remove(r);
            let msg = super::down(rpid, reason, r);
            if dies {
                m.procs[slot].mailbox.push_back(msg);
            } else {
                deliver_message(m, slot, msg);
            }
        }
        for key in &dead_links {
            m.procs[slot].remote_links.remove(key);
        }
        if dead_links.is_empty() {
            continue;
        }
        if trap {
            for (n, rpid) in &dead_links {
                let msg = super::exit_msg(&format!("{n}:{rpid}"), reason);
                deliver_message(m, slot, msg);
            }
        } else {
            end_process(m, slot, Status::Exited(reason.clone()), true);
        }
    }
    let tick = m.tick;
    upsert(m, node, "offline", Some(reason.clone()), Some(tick), None);
}
