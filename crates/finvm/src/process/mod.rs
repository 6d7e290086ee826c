//! Process opcodes (`PROC_*`, `NODE_*`, `REMOTE_PID_*`), termination
//! notices and mailbox deliveries (`PROCESSES.md` §1, §3, §4, §7.2 with
//! `DECISIONS.md`).
//!
//! The process table is live: the running process is the table entry
//! (status `Running`). Every termination — own instruction, runtime error,
//! cancel, exit signal, disconnect — notifies at once: joiners are woken,
//! monitors get DOWN (observers in ascending pid order, refs ascending),
//! and a termination other than normal completion sends exit signals
//! through links (an `EXIT` message to a process that traps exits; the
//! others exit with the same reason, recursively).
//!
//! Submodules: [`sched`] (scheduler indexes), `node` (distribution opcodes,
//! node metadata, disconnects).

mod node;
pub mod sched;
#[cfg(test)]
mod tests;

pub use node::{apply_disconnect, apply_node_status, sync_nodes_state};
pub use sched::{lookup, rebuild as rebuild_index, Sched};

use crate::error::{vm_error, ErrorCode, VmError, VmResult};
use crate::machine::{Machine, MonitorTarget, Process, Status, Wait};
use crate::opcodes::Opcode;
use crate::value::{Record, Str, Value};
use std::collections::VecDeque;

#[cold]
fn type_err(msg: &str) -> Box<VmError> {
    vm_error(ErrorCode::TypeMismatch, msg)
}

#[cold]
fn not_found(pid: &str) -> Box<VmError> {
    vm_error(
        ErrorCode::ProcessNotFound,
        format!("Process {pid} not found"),
    )
}

/// Reads register `r` of the current frame of process `slot`.
#[inline]
pub(crate) fn reg(m: &Machine, slot: usize, r: u32) -> VmResult<&Value> {
    let p = &m.procs[slot];
    p.regs
        .get(p.frame.base as usize + r as usize)
        .ok_or_else(|| {
            vm_error(
                ErrorCode::InvalidRegister,
                format!("Register {r} out of bounds"),
            )
        })
}

/// Writes register `r` of the current frame of process `slot`.
#[inline]
pub(crate) fn set(m: &mut Machine, slot: usize, r: u32, v: Value) {
    let base = m.procs[slot].frame.base as usize;
    m.set_reg(slot, base, r, v);
}

/// Advances the pc of process `slot`.
#[inline]
pub(crate) fn next(m: &mut Machine, slot: usize) {
    m.procs[slot].frame.pc += 1;
}

/// Resolves a `VProcessRef` operand to a table slot.
fn target(m: &Machine, slot: usize, r: u32, op: &str) -> VmResult<usize> {
    match reg(m, slot, r)? {
        Value::Process(pid) => sched::lookup(m, pid).ok_or_else(|| not_found(pid)),
        _ => Err(type_err(&format!("{op} requires a ProcessRef"))),
    }
}

/// The function id of a spawn whose target did not resolve (unreachable after validation).
fn unresolved_function(m: &Machine, slot: usize, operand: usize) -> String {
    let f = m.procs[slot].frame;
    let raw = &m.core.program.functions[f.func as usize].raw[f.pc as usize];
    raw.str(operand).to_string()
}

/// Executes a process or distribution opcode for process `slot`; the step is
/// already counted. Advances the pc unless the instruction blocks or ends
/// the process.
pub fn exec(
    m: &mut Machine,
    slot: usize,
    op: Opcode,
    regs: &[u32],
    func: Option<u32>,
    flag: bool,
    int: i32,
) -> VmResult<()> {
    use Opcode as O;
    match op {
        O::ProcSelf => {
            let pid = m.procs[slot].pid.clone();
            set(m, slot, regs[0], Value::Process(pid));
            next(m, slot);
        }
        O::ProcStatus => {
            let t = target(m, slot, regs[1], "PROC_STATUS")?;
            let text = m.procs[t].status.show();
            set(m, slot, regs[0], Value::str(text));
            next(m, slot);
        }
        O::ProcSpawn => spawn(m, slot, regs, func)?,
        O::ProcYield => {
            next(m, slot);
            // A synchronous evaluation (state-machine hook) has no scheduler to
            // yield to: there the instruction only continues (`PROCESSES.md` §8).
            let pid = m.procs[slot].pid.clone();
            if sched::lookup(m, &pid) == Some(slot) {
                m.procs[slot].status = Status::Ready;
            }
        }
        O::ProcJoin => {
            let t = target(m, slot, regs[1], "PROC_JOIN")?;
            if t == slot {
                return Err(vm_error(
                    ErrorCode::InvalidInstruction,
                    format!(
                        "PROC_JOIN of the running process itself ({})",
                        m.procs[slot].pid
                    ),
                ));
            }
            if m.procs[t].status.is_terminal() {
                set(m, slot, regs[0], Value::Bool(true));
                next(m, slot);
            } else {
                sched::join_wait(m, slot, t);
            }
        }
        O::ProcJoinResult => {
            let t = target(m, slot, regs[1], "PROC_JOIN_RESULT")?;
            let v = match &m.procs[t].status {
                Status::Completed(v) => Value::some(v.clone()),
                Status::Failed(e) => Value::some(Value::str(e.show())),
                Status::Cancelled(r) => Value::some(Value::str(format!("CancelReason {r}"))),
                Status::Exited(r) => Value::some(Value::str(format!("ExitReason {r}"))),
                _ => Value::none(),
            };
            set(m, slot, regs[0], v);
            next(m, slot);
        }
        O::ProcCancel => {
            let t = target(m, slot, regs[1], "PROC_CANCEL")?;
            set(m, slot, regs[0], Value::Bool(true));
            if t != slot {
                next(m, slot);
            }
            end_process(m, t, Status::Cancelled(Str::new("cancelled")), false);
        }
        O::ProcExit => {
            let reason = crate::value::show::show(reg(m, slot, regs[0])?);
            end_process(m, slot, Status::Exited(Str::new(reason)), false);
        }
        O::ProcSend => {
            let t = target(m, slot, regs[0], "PROC_SEND")?;
            let msg = reg(m, slot, regs[1])?.clone();
            let limit = m.core.limits.max_mailbox_size as i64;
            if m.procs[t].mailbox.len() as i64 >= limit {
                return Err(vm_error(
                    ErrorCode::MailboxTooLarge,
                    format!("Process {} mailbox is full", m.procs[t].pid),
                ));
            }
            deliver_message(m, t, msg);
            next(m, slot);
        }
        O::ProcReceive => match m.procs[slot].mailbox.pop_front() {
            Some(msg) => {
                set(m, slot, regs[0], msg);
                next(m, slot);
            }
            None => m.procs[slot].status = Status::Waiting(Wait::Message),
        },
        O::ProcReceiveOpt => {
            let v = match m.procs[slot].mailbox.pop_front() {
                Some(msg) => Value::some(msg),
                None => Value::none(),
            };
            set(m, slot, regs[0], v);
            next(m, slot);
        }
        O::ProcReceiveMatch | O::ProcReceiveMatchOpt => {
            let opt = op == O::ProcReceiveMatchOpt;
            let tag = match reg(m, slot, regs[1])? {
                Value::Str(s) => s.clone(),
                _ => {
                    return Err(type_err(&format!(
                        "{} requires tag register to be String",
                        op.name()
                    )))
                }
            };
            let mb = &mut m.procs[slot].mailbox;
            let found = mb
                .iter()
                .position(|v| has_tag(v, &tag))
                .and_then(|i| mb.remove(i));
            match (found, opt) {
                (Some(v), false) => {
                    set(m, slot, regs[0], v);
                    next(m, slot);
                }
                (None, false) => m.procs[slot].status = Status::Waiting(Wait::Match(tag)),
                (v, true) => {
                    set(m, slot, regs[0], v.map_or_else(Value::none, Value::some));
                    next(m, slot);
                }
            }
        }
        O::ProcLink | O::ProcUnlink => {
            let link = op == O::ProcLink;
            let t = target(m, slot, regs[0], op.name())?;
            let (me, other) = (m.procs[slot].pid.clone(), m.procs[t].pid.clone());
            if link {
                m.procs[slot].links.insert(other);
                m.procs[t].links.insert(me);
            } else {
                m.procs[slot].links.remove(&other);
                m.procs[t].links.remove(&me);
            }
            next(m, slot);
        }
        O::ProcMonitor => {
            let t = target(m, slot, regs[1], "PROC_MONITOR")?;
            let tpid = m.procs[t].pid.clone();
            let mref = Str::new(format!("mon{}:{tpid}", m.core.steps));
            set(m, slot, regs[0], Value::Str(mref.clone()));
            next(m, slot);
            match m.procs[t].status.down_reason() {
                // Monitoring a process that is already dead: DOWN at once.
                Some(reason) => deliver_message(m, slot, down(&tpid, reason, &mref)),
                None => {
                    m.procs[slot]
                        .monitors
                        .insert(mref.clone(), MonitorTarget::Local(tpid));
                    sched::note_monitor(m, slot, mref, t);
                }
            }
        }
        O::ProcDemonitor => {
            let mref = match reg(m, slot, regs[0])? {
                Value::Str(s) => s.clone(),
                _ => {
                    return Err(type_err(
                        "PROC_DEMONITOR requires a String monitor reference",
                    ))
                }
            };
            if let Some(MonitorTarget::Local(t)) = m.procs[slot].monitors.remove(&mref) {
                if let Some(ts) = sched::lookup(m, &t) {
                    sched::forget_monitor(m, slot, &mref, ts);
                }
            }
            next(m, slot);
        }
        O::ProcTrapExit => {
            m.procs[slot].trap_exit = flag;
            next(m, slot);
        }
        O::ProcSleepTicks => {
            next(m, slot);
            if int > 0 {
                let t = m.tick + int as i64;
                sched::sleep_until(m, slot, t);
            }
        }
        _ => node::exec(m, slot, op, regs, func)?,
    }
    Ok(())
}

/// True for a variant with this tag.
#[inline]
fn has_tag(v: &Value, tag: &str) -> bool {
    matches!(v, Value::Variant(t) if t.tag.as_str() == tag)
}

/// `PROC_SPAWN dst fn [args]`.
fn spawn(m: &mut Machine, slot: usize, regs: &[u32], func: Option<u32>) -> VmResult<()> {
    let Some(f) = func else {
        let id = unresolved_function(m, slot, 1);
        return Err(vm_error(
            ErrorCode::UnknownFunction,
            format!("Unknown function: {id}"),
        ));
    };
    if m.live as i64 >= m.core.limits.max_processes as i64 {
        return Err(vm_error(
            ErrorCode::InvalidInstruction,
            "PROC_SPAWN exceeded maxProcesses",
        ));
    }
    let program = m.core.program.clone();
    let callee = &program.functions[f as usize];
    if callee.register_count as i64 > m.core.limits.max_registers_per_frame as i64 {
        return Err(vm_error(
            ErrorCode::InvalidRegister,
            "PROC_SPAWN target exceeded maxRegistersPerFrame",
        ));
    }
    let mut args = Vec::with_capacity(regs.len() - 1);
    for r in &regs[1..] {
        args.push(reg(m, slot, *r)?.clone());
    }
    let n = m.next_pid_seq;
    m.next_pid_seq += 1;
    let pid = Str::new(format!("p{n}"));
    let mut p = Process::new(pid.clone(), f, callee.register_count, args, n + 1);
    p.parent = Some(m.procs[slot].pid.clone());
    m.procs[slot].children.insert(pid.clone());
    let new = m.procs.len();
    m.procs.push(p);
    m.by_pid.insert(pid.clone(), new);
    sched::note_spawn(m, &pid, new);
    m.ready.push_back(new);
    m.live += 1;
    set(m, slot, regs[0], Value::Process(pid));
    next(m, slot);
    Ok(())
}

/// `VVariant "DOWN" {pid, reason, ref}`.
pub(crate) fn down(pid: &str, reason: &str, mref: &Str) -> Value {
    let mut r = Record::new();
    r.insert(Str::new("pid"), Value::str(pid));
    r.insert(Str::new("reason"), Value::str(reason));
    r.insert(Str::new("ref"), Value::Str(mref.clone()));
    Value::variant("DOWN", Value::record(r))
}

/// `VVariant "EXIT" {pid, reason}`.
pub(crate) fn exit_msg(pid: &str, reason: &str) -> Value {
    let mut r = Record::new();
    r.insert(Str::new("pid"), Value::str(pid));
    r.insert(Str::new("reason"), Value::str(reason));
    Value::variant("EXIT", Value::record(r))
}

/// Applies the wake rules for a message just appended to the mailbox of
/// `slot`: a process in `PROC_RECEIVE` wakes; one in `PROC_RECEIVE_MATCH`
/// wakes iff the message is a variant with its tag (the mailbox held none
/// before, or it would not be waiting); a terminated process is never
/// re-queued.
fn wake_on_message(m: &mut Machine, slot: usize, msg: &Value) {
    let wake = match &m.procs[slot].status {
        Status::Waiting(Wait::Message) => true,
        Status::Waiting(Wait::Match(tag)) => has_tag(msg, tag),
        // Restorable from reference snapshots only: woken by a DOWN.
        Status::Waiting(Wait::Monitor(_)) => has_tag(msg, "DOWN"),
        _ => false,
    };
    if wake {
        sched::make_ready(m, slot);
    }
}

/// Appends a message to a process's mailbox (ignoring `maxMailboxSize`) and
/// applies the wake rules (`DECISIONS.md`: any mailbox delivery wakes
/// `PROC_RECEIVE`, and `PROC_RECEIVE_MATCH` iff its tag is now present).
pub fn deliver_message(m: &mut Machine, slot: usize, msg: Value) {
    wake_on_message(m, slot, &msg);
    m.procs[slot].mailbox.push_back(msg);
}

/// The effect-reply delivery (`FORMATS.md` §6.8, `PROCESSES.md` §7.2.2):
/// appends `VVariant "EffectReply" {key, value}` and wakes the process if it
/// awaits that key, else by the message wake rules.
pub fn deliver_effect_reply(m: &mut Machine, slot: usize, key: &Str, result: Value) {
    let mut r = Record::new();
    r.insert(Str::new("key"), Value::Str(key.clone()));
    r.insert(Str::new("value"), result);
    let msg = Value::variant("EffectReply", Value::record(r));
    if matches!(&m.procs[slot].status, Status::Waiting(Wait::Effect(k)) if k == key) {
        sched::make_ready(m, slot);
    } else {
        wake_on_message(m, slot, &msg);
    }
    m.procs[slot].mailbox.push_back(msg);
}

/// Ends process `slot` with a terminal status from outside its own
/// instruction stream (cancel, exit signal, disconnect) and notifies at
/// once. A process that is running right now (its own `PROC_CANCEL`, or
/// taken down while one of its instructions executes) only gets the status:
/// the slice running it finishes the termination when that instruction
/// returns. False when the process had already terminated (nothing changes).
pub fn end_process(m: &mut Machine, slot: usize, status: Status, by_signal: bool) -> bool {
    let mut work = VecDeque::new();
    let ended = kill(m, slot, status, by_signal, &mut work);
    drain(m, work);
    ended
}

/// [`end_process`] without the notification: queues it on `work`.
fn kill(
    m: &mut Machine,
    slot: usize,
    status: Status,
    by_signal: bool,
    work: &mut VecDeque<usize>,
) -> bool {
    debug_assert!(status.is_terminal());
    if m.procs[slot].status.is_terminal() {
        return false;
    }
    let running = m.procs[slot].status == Status::Running;
    sched::unindex_wait(m, slot);
    let p = &mut m.procs[slot];
    p.status = status;
    p.killed_by_signal |= by_signal;
    if !running {
        m.live = m.live.saturating_sub(1);
        work.push_back(slot);
    }
    true
}

/// Ends process `slot` and notifies at once, whatever its status (the
/// machine's `terminate`, e.g. a runtime error of a spawned process).
pub fn terminate(m: &mut Machine, slot: usize, status: Status) {
    if m.procs[slot].status.is_terminal() {
        return;
    }
    if let Status::Completed(v) = &status {
        m.procs[slot].result = Some(v.clone());
    }
    sched::unindex_wait(m, slot);
    m.procs[slot].status = status;
    m.live = m.live.saturating_sub(1);
    on_terminated(m, slot);
}

/// Notifies observers that process `slot` just reached a terminal status:
/// wakes its joiners, sends DOWN to its monitors, and sends exit signals
/// through its links (processes taken down that way are notified in turn,
/// breadth first, without recursion).
pub fn on_terminated(m: &mut Machine, slot: usize) {
    drain(m, VecDeque::from([slot]));
}

fn drain(m: &mut Machine, mut work: VecDeque<usize>) {
    while let Some(d) = work.pop_front() {
        notify(m, d, &mut work);
    }
}

/// The notices for one terminated process `d`.
fn notify(m: &mut Machine, d: usize, work: &mut VecDeque<usize>) {
    let Some(reason) = m.procs[d].status.down_reason() else {
        return;
    };
    let pid = m.procs[d].pid.clone();
    // 1. Joiners, ascending pid.
    sched::wake_joiners(m, d);
    // 2. DOWN to every monitor: observers ascending by pid, refs ascending.
    if let Some(entries) = m.sched.monitored_by.remove(&d) {
        for (opid, mref, obs) in entries {
            let holds = m.procs.get(obs).is_some_and(|p| {
                p.pid == opid
                    && matches!(p.monitors.get(&mref), Some(MonitorTarget::Local(t)) if *t == pid)
            });
            if holds {
                m.procs[obs].monitors.remove(&mref);
                deliver_message(m, obs, down(&pid, reason, &mref));
            }
        }
    }
    // 3. Exit signals through links (not for a normal completion).
    if reason == "normal" || m.procs[d].links.is_empty() {
        return;
    }
    let links: Vec<Str> = m.procs[d].links.iter().cloned().collect();
    for l in links {
        let Some(ls) = sched::lookup(m, &l) else {
            continue;
        };
        if ls == d || m.procs[ls].status.is_terminal() {
            continue;
        }
        if m.procs[ls].trap_exit {
            deliver_message(m, ls, exit_msg(&pid, reason));
        } else {
            kill(m, ls, Status::Exited(Str::new(reason)), true, work);
        }
    }
}
