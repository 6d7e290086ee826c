//! `MACHINE_NEW`, `MACHINE_TRANSITION`, and synchronous evaluation of
//! functions (guards, computed targets, actions, invariants) on the live
//! machine (`OPCODES.md` §6.12, `PROCESSES.md` §8).
//!
//! Definitions come from the program's top-level `stateMachines` object
//! (schema in `docs/state-machines.md`).

use crate::error::{vm_error, ErrorCode, VmResult};
use crate::machine::{Machine, Process, Status};
use crate::program::TransitionTarget;
use crate::value::canon::hash_value;
use crate::value::{MachineInstance, Record, Str, Value};
use std::rc::Rc;

/// `MACHINE_NEW`.
pub fn machine_new(m: &mut Machine, machine: &Str, data: Value) -> VmResult<Value> {
    let Value::Record(rec) = data else {
        return Err(vm_error(
            ErrorCode::TypeMismatch,
            "MACHINE_NEW requires a Record for initial data",
        ));
    };
    let Some(def) = m.core.program.state_machines.get(machine.as_str()) else {
        return Err(vm_error(
            ErrorCode::InvalidInstruction,
            format!("State machine {machine} not found"),
        ));
    };
    let inst = MachineInstance {
        machine_id: machine.clone(),
        instance_id: Str::new(format!("mi{}", m.core.steps)),
        current_state: Str::new(def.initial_state.as_str()),
        data: (*rec).clone(),
        version: 1,
        history_hash: Str::new(""),
    };
    let v = Value::Machine(Rc::new(inst));
    crate::interp::check_depth(&m.core, &v, "MACHINE_NEW")?;
    Ok(v)
}

/// `MACHINE_TRANSITION` from process `slot`.
pub fn machine_transition(
    m: &mut Machine,
    slot: usize,
    inst: Value,
    event: &Str,
) -> VmResult<Value> {
    let Value::Machine(mi) = &inst else {
        return Err(vm_error(
            ErrorCode::TypeMismatch,
            "MACHINE_TRANSITION requires a StateMachineInstance",
        ));
    };
    let program = m.core.program.clone();
    let Some(def) = program.state_machines.get(mi.machine_id.as_str()) else {
        return Err(vm_error(
            ErrorCode::InvalidInstruction,
            format!("State machine {} not found", mi.machine_id),
        ));
    };
    let state = mi.current_state.as_str();
    let mut candidates: Vec<_> = def
        .transitions
        .iter()
        .filter(|t| t.event == event.as_str() && t.from.iter().any(|f| f == state))
        .collect();
    candidates.sort_by_key(|t| std::cmp::Reverse(t.priority.unwrap_or(0)));
    let t = match candidates.as_slice() {
        [] => {
            return Err(vm_error(
                ErrorCode::NoTransition,
                format!("No transition from {state} on event {event}"),
            ));
        }
        [a, b, ..] if a.priority.unwrap_or(0) == b.priority.unwrap_or(0) => {
            return Err(vm_error(
                ErrorCode::AmbiguousTransition,
                format!("Ambiguous transition from {state} on event {event}"),
            ));
        }
        [first, ..] => *first,
    };
    if let Some(g) = &t.guard {
        let f = function(m, g, "Guard function not found")?;
        match run_function_sync(m, slot, f, vec![inst.clone()])? {
            Value::Bool(true) => {}
            Value::Bool(false) => {
                return Err(vm_error(
                    ErrorCode::GuardRejected,
                    format!("Guard rejected transition {}", t.name),
                ));
            }
            _ => {
                return Err(vm_error(
                    ErrorCode::TypeMismatch,
                    "State-machine guard must return Boolean",
                ))
            }
        }
    }
    let target = match &t.to {
        TransitionTarget::State(s) => Str::new(s.as_str()),
        TransitionTarget::Stay => mi.current_state.clone(),
        TransitionTarget::Computed(fid) => {
            let f = function(m, fid, "Computed target function not found")?;
            match run_function_sync(m, slot, f, vec![inst.clone()])? {
                Value::Str(s) => s,
                _ => {
                    return Err(vm_error(
                        ErrorCode::TypeMismatch,
                        "Computed state target must return String",
                    ))
                }
            }
        }
    };
    if !def.states.is_empty() && !def.states.iter().any(|s| s == target.as_str()) {
        return Err(vm_error(
            ErrorCode::NoTransition,
            format!(
                "Transition {} targets unknown state {target} of machine {}",
                t.name, def.id
            ),
        ));
    }
    let version = mi
        .version
        .checked_add(1)
        .ok_or_else(|| vm_error(ErrorCode::ArithmeticOverflow, "Machine version overflow"))?;
    let history = {
        let mut r = Record::new();
        r.insert(Str::new("event"), Value::Str(event.clone()));
        r.insert(Str::new("from"), Value::Str(mi.current_state.clone()));
        r.insert(Str::new("machineId"), Value::Str(mi.machine_id.clone()));
        r.insert(Str::new("previous"), Value::Str(mi.history_hash.clone()));
        r.insert(Str::new("to"), Value::Str(target.clone()));
        r.insert(Str::new("version"), Value::int(version as i64));
        hash_value(&Value::record(r))
    };
    let mut next = (**mi).clone();
    next.current_state = target;
    next.version = version;
    next.history_hash = Str::new(history);
    let mut result = Value::Machine(Rc::new(next.clone()));
    if let Some(a) = &t.action {
        let Some(f) = program.function(a) else {
            return Err(vm_error(
                ErrorCode::UnknownFunction,
                format!("Transition action not found: {a}"),
            ));
        };
        let args = if program.functions[f as usize].arity == 0 {
            Vec::new()
        } else {
            vec![result.clone()]
        };
        match run_function_sync(m, slot, f, args)? {
            v @ Value::Machine(_) => result = v,
            Value::Record(fields) => {
                next.data = (*fields).clone();
                result = Value::Machine(Rc::new(next));
            }
            _ => {}
        }
    }
    for inv in &def.invariants {
        let f = function(m, &inv.check, "Invariant function not found")?;
        if run_function_sync(m, slot, f, vec![result.clone()])? != Value::Bool(true) {
            let code = inv
                .error_code
                .map(|c| format!(" (code {c})"))
                .unwrap_or_default();
            return Err(vm_error(
                ErrorCode::InvariantFailed,
                format!("Invariant {} failed{code}", inv.name),
            ));
        }
    }
    crate::interp::check_depth(&m.core, &result, "MACHINE_TRANSITION")?;
    Ok(result)
}

fn function(m: &Machine, id: &str, what: &str) -> VmResult<u32> {
    m.core
        .program
        .function(id)
        .ok_or_else(|| vm_error(ErrorCode::UnknownFunction, format!("{what}: {id}")))
}

/// Runs function `func` to completion as a temporary process on the live
/// machine (its steps count, its state changes persist). The process is
/// never scheduled; blocking is a `ProcessDeadlock` error.
pub fn run_function_sync(
    m: &mut Machine,
    caller: usize,
    func: u32,
    args: Vec<Value>,
) -> VmResult<Value> {
    if m.core.hook_depth as i64 >= m.core.limits.max_call_depth.max(1) as i64 {
        return Err(vm_error(
            ErrorCode::StepLimitExceeded,
            "Synchronous function evaluation nested too deep",
        ));
    }
    let program = m.core.program.clone();
    let f = &program.functions[func as usize];
    if f.register_count as i64 > m.core.limits.max_registers_per_frame as i64 {
        return Err(vm_error(
            ErrorCode::InvalidRegister,
            format!("Function {} exceeded maxRegistersPerFrame", f.id),
        ));
    }
    let pid = Str::new(format!(
        "{}:call:{}:{}",
        m.procs[caller].pid, f.id, m.core.steps
    ));
    let mut p = Process::new(pid, func, f.register_count, args, 0);
    p.status = Status::Running;
    let slot = m.procs.len();
    m.procs.push(p);
    m.live += 1;
    m.core.hook_depth += 1;
    let budget = (m.core.limits.max_steps.max(1) - 1) as u64;
    let run = m.run_slice(slot, budget, false);
    m.core.hook_depth -= 1;
    let status = std::mem::replace(
        &mut m.procs[slot].status,
        Status::Cancelled(Str::new("hook")),
    );
    if !status.is_terminal() {
        m.live = m.live.saturating_sub(1);
    }
    m.procs[slot].regs = Vec::new();
    m.procs[slot].mailbox.clear();
    // Drop trailing tombstones so hooks do not grow the table.
    if m.procs.len() - 1 == slot {
        m.procs.pop();
    }
    run?;
    let id = &f.id;
    match status {
        Status::Completed(v) => Ok(v),
        Status::Failed(e) => Err(e),
        Status::Running | Status::Ready => Err(vm_error(
            ErrorCode::StepLimitExceeded,
            format!("Function {id} exceeded step limit"),
        )),
        Status::Waiting(_) => Err(vm_error(
            ErrorCode::ProcessDeadlock,
            format!("Function {id} blocked during synchronous evaluation"),
        )),
        Status::Exited(r) => Err(vm_error(
            ErrorCode::ProcessCancelled,
            format!("Function {id} exited: ExitReason {r}"),
        )),
        Status::Cancelled(r) => Err(vm_error(
            ErrorCode::ProcessCancelled,
            format!("Function {id} cancelled: CancelReason {r}"),
        )),
    }
}
