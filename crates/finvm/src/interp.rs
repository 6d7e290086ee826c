//! The interpreter: executes one process's slice.
//!
//! The hot loop (`exec_fast`) borrows the running process and the machine
//! core at once and keeps the current frame in locals; it handles every
//! instruction that touches only the running process and global state.
//! Instructions that need the whole machine (process opcodes, snapshots,
//! state-machine hooks) return to `Machine::run_slice`, which executes them
//! with full access. No instruction compares strings to dispatch or resolve
//! a jump or call: labels, functions and builtins were resolved at load time.

use crate::arith::{self, BinOp};
use crate::builtins::{self, BuiltinKind};
use crate::compact::{Off, Op, MAX_ARGS};
use crate::error::{vm_error, ErrorCode, VmError, VmResult};
use crate::machine::{Core, Frame, Machine, Process, ProofEvent, Status, Wait};
use crate::num::Int;
use crate::program::{CmpOp, Code, Instr, Program, Reg};
use crate::value::{List, Map, Record, Str, Tagged, Value, NODE_SIZE};
use std::cmp::Ordering;
use std::mem::MaybeUninit;
use std::rc::Rc;

/// Why the fast loop returned.
enum Flow {
    /// The slice budget ran out or the status is no longer `Running`.
    Yield,
    /// The instruction at the current pc needs the whole machine.
    Slow,
}

#[cold]
fn type_err(msg: &str) -> Box<VmError> {
    vm_error(ErrorCode::TypeMismatch, msg)
}

#[cold]
fn limit_err(code: ErrorCode, msg: String) -> Box<VmError> {
    vm_error(code, msg)
}

/// Checks a newly built value against `maxValueDepth` and `maxValueSize`.
#[inline]
pub(crate) fn check_depth(core: &Core, v: &Value, op: &str) -> VmResult<()> {
    if v.depth() as i64 > core.limits.max_value_depth as i64 {
        return Err(limit_err(
            ErrorCode::InvalidInstruction,
            format!("{op} exceeded maxValueDepth"),
        ));
    }
    check_value_size(core, v, op)
}

/// Checks a value against `maxValueSize` (O(1) for containers: their size
/// is cached). Without it a few instructions that reuse one value build a
/// value exponentially larger than memory, as its encoders see it
/// (regression `regression_interp_shared_list_doubling`).
#[inline]
pub(crate) fn check_value_size(core: &Core, v: &Value, op: &str) -> VmResult<()> {
    if v.size() > core.limits.max_value_size.max(0) as u64 {
        return Err(limit_err(
            ErrorCode::InvalidInstruction,
            format!("{op} exceeded maxValueSize"),
        ));
    }
    Ok(())
}

/// Checks a computed number or string against `maxIntBits` / `maxStringLength`.
/// Small integers never reach here; this runs only on the general paths.
#[cold]
pub(crate) fn check_size(core: &Core, v: &Value, op: &str) -> VmResult<()> {
    let max_bits = core.limits.max_int_bits.max(0) as usize;
    let too_big = |i: &Int| matches!(i, Int::Big(_)) && i.bit_len() > max_bits;
    let over = match v {
        Value::Int(i) => too_big(i),
        Value::Fixed(f) => too_big(&f.value),
        Value::Rational(r) => too_big(&r.numerator) || too_big(&r.denominator),
        Value::Str(s) => {
            if s.len() as i64 > core.limits.max_string_length as i64 {
                return Err(limit_err(
                    ErrorCode::InvalidInstruction,
                    format!("{op} exceeded maxStringLength"),
                ));
            }
            false
        }
        _ => false,
    };
    if over {
        return Err(limit_err(
            ErrorCode::ArithmeticOverflow,
            format!("{op} result exceeded maxIntBits ({max_bits})"),
        ));
    }
    Ok(())
}

/// Checks a list length against `maxListLength`.
#[inline]
pub(crate) fn check_list_len(core: &Core, len: usize, op: &str) -> VmResult<()> {
    if len as i64 > core.limits.max_list_length as i64 {
        return Err(limit_err(
            ErrorCode::InvalidInstruction,
            format!("{op} exceeded maxListLength"),
        ));
    }
    Ok(())
}

/// True for instructions the fast loop hands back to the machine.
#[inline]
fn is_slow(i: &Instr) -> bool {
    matches!(
        i,
        Instr::Proc { .. }
            | Instr::StateSnapshot { .. }
            | Instr::MachineNew { .. }
            | Instr::MachineTransition { .. }
            | Instr::InvariantCheck { .. }
    )
}

impl Machine {
    /// Runs process `slot` (status `Running`) for at most `budget` steps or
    /// until its status changes. With `coalesce`, the budget is one
    /// scheduler slice, and while no other process is ready and none joins
    /// this one, the slices that would follow run in the same call: their
    /// epilogues would find nothing to do and the scheduler would pick this
    /// process again with a fresh slice (`PROCESSES.md` §2.5), so steps,
    /// budgets and order are those of separate slices.
    pub(crate) fn run_slice(
        &mut self,
        slot: usize,
        mut budget: u64,
        coalesce: bool,
    ) -> VmResult<()> {
        /// Slices run per call when a process runs alone.
        const COALESCED_SLICES: u64 = 1 << 16;
        let program = self.core.program.clone();
        let slice = budget;
        while budget > 0 && self.procs[slot].status == Status::Running {
            let alone =
                coalesce && self.ready.is_empty() && !self.sched.joiners.contains_key(&slot);
            let granted = if alone {
                budget.saturating_add(slice.saturating_mul(COALESCED_SLICES))
            } else {
                budget
            };
            let mut left = granted;
            let run = if self.core.tracing {
                exec_fast::<true>(&program, &mut self.core, &mut self.procs[slot], &mut left)
            } else {
                exec_fast::<false>(&program, &mut self.core, &mut self.procs[slot], &mut left)
            };
            let executed = granted - left;
            budget = if executed < budget {
                budget - executed
            } else if alone {
                // Past the first slice's end: what is left of the current one
                // (a fresh slice exactly at a boundary).
                slice - (executed - budget) % slice
            } else {
                0
            };
            if let Flow::Slow = run? {
                self.exec_slow(&program, slot, &mut budget)?;
            }
            if self.procs[slot].status.is_terminal() {
                self.finish_termination(slot);
            }
        }
        Ok(())
    }

    /// Bookkeeping once a process reached a terminal status by its own instruction.
    pub(crate) fn finish_termination(&mut self, slot: usize) {
        if let Status::Completed(v) = &self.procs[slot].status {
            self.procs[slot].result = Some(v.clone());
        }
        self.live = self.live.saturating_sub(1);
        crate::process::on_terminated(self, slot);
    }

    /// Counts one step for process `slot` (limit check, counters, trace).
    pub(crate) fn count_step(&mut self, slot: usize) -> VmResult<()> {
        let core = &mut self.core;
        if core.steps >= core.step_limit {
            return Err(core.step_limit_error());
        }
        core.steps += 1;
        let p = &mut self.procs[slot];
        p.steps_executed += 1;
        if core.tracing {
            core.record_trace(p.frame.func, p.frame.pc);
        }
        Ok(())
    }

    /// Executes the instruction at the current pc of `slot` with full machine access.
    fn exec_slow(&mut self, program: &Rc<Program>, slot: usize, budget: &mut u64) -> VmResult<()> {
        self.count_step(slot)?;
        *budget -= 1;
        let frame = self.procs[slot].frame;
        let ins = &program.functions[frame.func as usize].code[frame.pc as usize];
        let base = frame.base as usize;
        match ins {
            Instr::Proc {
                op,
                regs,
                func,
                flag,
                int,
            } => crate::process::exec(self, slot, *op, regs, *func, *flag, *int),
            Instr::StateSnapshot { dst } => {
                // The text holds the whole machine (earlier snapshot texts
                // in state included, and every process ever spawned), so it
                // is built against its bound and abandoned once past it
                // (regressions `regression_interp_snapshot_of_snapshot`,
                // `regression_fuzz_interp_snapshot_chain`).
                let limits = &self.core.limits;
                let (max_len, name) = if limits.max_output_size < limits.max_string_length {
                    (limits.max_output_size, "maxOutputSize")
                } else {
                    (limits.max_string_length, "maxStringLength")
                };
                let Some(text) =
                    crate::snapshot::snapshot_text_within(self, max_len.max(0) as usize)
                else {
                    return Err(limit_err(
                        ErrorCode::InvalidInstruction,
                        format!("STATE_SNAPSHOT exceeded {name}"),
                    ));
                };
                let text = Value::str(text);
                self.set_reg(slot, base, *dst, text);
                self.procs[slot].frame.pc += 1;
                Ok(())
            }
            Instr::MachineNew { dst, machine, data } => {
                let d = self.procs[slot].regs[base + *data as usize].clone();
                let v = crate::statemachine::machine_new(self, machine, d)?;
                self.set_reg(slot, base, *dst, v);
                self.procs[slot].frame.pc += 1;
                Ok(())
            }
            Instr::MachineTransition { dst, inst, event } => {
                let i = self.procs[slot].regs[base + *inst as usize].clone();
                let v = crate::statemachine::machine_transition(self, slot, i, event)?;
                self.set_reg(slot, base, *dst, v);
                self.procs[slot].frame.pc += 1;
                Ok(())
            }
            Instr::InvariantCheck { func, name } => {
                let Some(f) = func else {
                    return Err(vm_error(
                        ErrorCode::UnknownFunction,
                        format!("Invariant function not found: {name}"),
                    ));
                };
                let v = crate::statemachine::run_function_sync(self, slot, *f, Vec::new())?;
                if v != Value::Bool(true) {
                    return Err(vm_error(
                        ErrorCode::InvariantFailed,
                        format!(
                            "Invariant {name} did not hold (returned {})",
                            crate::value::show::show(&v)
                        ),
                    ));
                }
                self.core
                    .record_proof(ProofEvent::InvariantChecked(name.clone(), true));
                self.procs[slot].frame.pc += 1;
                Ok(())
            }
            _ => unreachable!("not a slow instruction"),
        }
    }

    /// Writes register `r` of the frame at `base` in process `slot`.
    pub(crate) fn set_reg(&mut self, slot: usize, base: usize, r: u32, v: Value) {
        if let Some(x) = self.procs[slot].regs.get_mut(base + r as usize) {
            *x = v;
        }
    }
}

/// Reads an `i32` index from an Int value (the reference's `toInt`).
fn int_index(v: &Value) -> Option<Option<i32>> {
    match v {
        Value::Int(i) => Some(i.to_i32()),
        _ => None,
    }
}

/// Stores `v` into a register. Overwriting a value that owns no heap memory
/// skips the out-of-line drop glue (the common case in arithmetic loops).
#[inline(always)]
fn put(slot: &mut Value, v: Value) {
    match slot {
        Value::Unit | Value::Bool(_) | Value::Int(Int::Small(_)) => {
            std::mem::forget(std::mem::replace(slot, v))
        }
        _ => *slot = v,
    }
}

/// Copies a value; inline scalars are copied without the generic clone glue.
#[inline(always)]
fn dup(v: &Value) -> Value {
    match v {
        Value::Int(Int::Small(x)) => Value::Int(Int::Small(*x)),
        Value::Bool(b) => Value::Bool(*b),
        Value::Unit => Value::Unit,
        _ => v.clone(),
    }
}

/// Whether a value owns no heap memory (dropping it is a no-op).
#[inline(always)]
fn is_inline(v: &Value) -> bool {
    matches!(v, Value::Int(Int::Small(_))) || matches!(v, Value::Unit | Value::Bool(_))
}

/// Grows the register stack by `n` unit registers: one capacity check and
/// a store per register (`resize_with` and `extend` cost 3-4 times as much
/// per register on every `CALL`).
#[inline(always)]
fn grow_units(regs: &mut Vec<Value>, n: usize) {
    regs.reserve(n);
    for slot in &mut regs.spare_capacity_mut()[..n] {
        slot.write(Value::Unit);
    }
    // SAFETY: `reserve(n)` left capacity for at least `len + n` values (the
    // slice `[..n]` of the spare capacity would have panicked otherwise),
    // and the loop above initialised exactly the `n` slots after `len`, so
    // the first `len + n` elements are initialised. Exercised by every
    // `CALL` of the general path and by `grow_and_shrink_registers` below.
    unsafe { regs.set_len(regs.len() + n) }
}

/// How many unit registers `push_frame` writes per step.
const UNIT_CHUNK: usize = 4;
/// How many unit registers `push_frame` writes at once for a frame of at
/// most that many.
const UNIT_BLOCK: usize = 8;

/// Pushes a callee's frame of `n` registers onto the register stack: copies
/// of the caller's registers at the byte offsets `args` from its register
/// `caller` (each must hold a small int, a boolean or unit), then units.
/// False, with nothing changed but the stack's capacity, when an argument
/// holds anything else.
///
/// The arguments are copied straight into the new frame: no intermediate
/// array, and a small int (the common argument) costs one tag test.
///
/// `args` holds at most [`MAX_ARGS`] offsets (those after are not copied).
///
/// # Safety
/// Every offset in `args` is `r * SLOT` for a register `r` with
/// `caller + r < regs.len()`, and `args.len() <= n`.
#[inline(always)]
unsafe fn push_frame(regs: &mut Vec<Value>, caller: usize, args: &[Off], n: usize) -> bool {
    debug_assert!(args.len() <= n);
    // Room for the frame rounded up to whole chunks of units (below).
    regs.reserve(n.max(UNIT_BLOCK) + UNIT_CHUNK - 1);
    let len = regs.len();
    // One raw pointer for reading the caller's registers and writing the
    // spare capacity: the two ranges are disjoint (`caller + r < len`).
    let base = regs.as_mut_ptr();
    // Units first: a small frame's as one block of fixed size (straight-line
    // stores), a larger one's in whole chunks; no remainder loop either way
    // (a frame's slots past `n` stay spare capacity).
    let units = if n <= UNIT_BLOCK {
        UNIT_BLOCK
    } else {
        n.next_multiple_of(UNIT_CHUNK)
    };
    let fill = |from: usize, count: usize| {
        for j in from..from + count {
            // SAFETY: `j < units <= n.max(UNIT_BLOCK) + UNIT_CHUNK - 1`,
            // and `reserve` left room for that many values after `len`:
            // the slot is in the allocation's spare capacity, which
            // nothing else refers to.
            unsafe { base.add(len + j).write(Value::Unit) };
        }
    };
    if units == UNIT_BLOCK {
        fill(0, UNIT_BLOCK);
    } else {
        for chunk in (0..units).step_by(UNIT_CHUNK) {
            fill(chunk, UNIT_CHUNK);
        }
    }
    // A loop of fixed length (unrolled, no loop counter) over at most
    // `MAX_ARGS` arguments, the most a compact `CALL` has.
    debug_assert!(args.len() <= MAX_ARGS);
    for i in 0..MAX_ARGS {
        let Some(&o) = args.get(i) else {
            break;
        };
        debug_assert!(o as usize % SLOT == 0 && caller + o as usize / SLOT < len);
        // SAFETY: the caller guarantees that register `caller + o / SLOT`
        // is an initialised element of `regs`; `base` points at its first.
        let v = unsafe { &*base.add(caller).byte_add(o as usize) };
        let copy = if let Value::Int(Int::Small(x)) = v {
            Value::Int(Int::Small(*x))
        } else {
            match v {
                Value::Bool(b) => Value::Bool(*b),
                Value::Unit => Value::Unit,
                _ => return false,
            }
        };
        // SAFETY: `i < args.len() <= n`: a slot of the new frame, in the
        // spare capacity, holding a unit (dropping it is a no-op, so it is
        // overwritten without).
        unsafe { base.add(len + i).write(copy) };
    }
    // SAFETY: the loops initialised the `n` slots after `len` (units,
    // then the arguments over the first), and `reserve` made room.
    // Exercised by every scalar `CALL` (`tests/slices.rs`, the conformance
    // cases with calls, `scalar_calls_appends_and_loops_equal_the_general_path`
    // under Miri) and by `grow_and_shrink_registers` below.
    unsafe { regs.set_len(len + n) };
    true
}

/// Shrinks the register stack to `len`; when the registers above `len`
/// own no heap memory (the common case on `RETURN`), they are discarded
/// without running the drop glue on each.
#[inline(always)]
fn shrink_to(regs: &mut Vec<Value>, len: usize) {
    if regs.get(len..).is_some_and(|top| top.iter().all(is_inline)) {
        // SAFETY: `len <= regs.len()` (the slice `len..` exists), so the
        // new length only drops elements from the end, which are then
        // never read or dropped again; each of them owns no heap memory
        // (`is_inline`), so discarding them without their destructor
        // leaks nothing. Exercised by every `RETURN` in the test suite and
        // by `grow_and_shrink_registers` below.
        unsafe { regs.set_len(len) }
    } else {
        regs.truncate(len);
    }
}

/// Drops the registers above `len`, all of which are known to own no heap
/// memory (frames the scalar loop created and ran: it writes nothing else),
/// without looking at them.
#[inline(always)]
fn discard_scalars(regs: &mut Vec<Value>, len: usize) {
    debug_assert!(regs.get(len..).is_none_or(|top| top.iter().all(is_inline)));
    if len <= regs.len() {
        // SAFETY: shrinking the length (`len <= regs.len()`) only removes
        // elements from the end, which are never read or dropped again, so
        // this is sound for any contents; were one of them a heap value, it
        // would leak, nothing worse (the caller knows there are none, and
        // the `debug_assert` checks it in debug builds). Exercised by every
        // scalar `RETURN` (`tests/slices.rs`, conformance cases with calls).
        unsafe { regs.set_len(len) }
    }
}

/// Overwrites a register holding a scalar with the scalar `v`; false (and
/// nothing written) when it holds a heap value. Out of line: inlined, its
/// test of three kinds would be merged with the caller's test of one, and
/// every store would decode the niche-packed tag first.
#[cold]
#[inline(never)]
fn overwrite_scalar(slot: &mut Value, v: Value) -> bool {
    if is_inline(slot) {
        std::mem::forget(std::mem::replace(slot, v));
        true
    } else {
        false
    }
}

/// `EQ`/`NEQ` of two booleans for the scalar loop's fused comparisons
/// (`None`: not two booleans, or an ordering comparison). Out of line, so
/// that the test for two small ints before it stays one tag test each.
#[cold]
#[inline(never)]
fn compare_bools(cmp: CmpOp, a: &Value, b: &Value) -> Option<bool> {
    match (a, b) {
        (Value::Bool(x), Value::Bool(y)) if cmp.is_equality() => Some(cmp.holds(x.cmp(y))),
        _ => None,
    }
}

/// The size of a register: the unit of the compact encoding's register
/// offsets.
const SLOT: usize = std::mem::size_of::<Value>();

/// A copy of a scalar register value (no drop glue, unlike a `Value` held
/// across a frame switch).
#[derive(Clone, Copy)]
enum Scalar {
    Int(i64),
    Bool(bool),
    Unit,
}

impl Scalar {
    #[inline(always)]
    fn of(v: &Value) -> Option<Scalar> {
        // A small int (the common case) with one tag test; the rest out of
        // line, so that the test is not merged into a decoding of the
        // niche-packed tag.
        if let Value::Int(Int::Small(x)) = v {
            Some(Scalar::Int(*x))
        } else {
            Scalar::of_other(v)
        }
    }

    #[cold]
    #[inline(never)]
    fn of_other(v: &Value) -> Option<Scalar> {
        match v {
            Value::Int(Int::Small(x)) => Some(Scalar::Int(*x)),
            Value::Bool(b) => Some(Scalar::Bool(*b)),
            Value::Unit => Some(Scalar::Unit),
            _ => None,
        }
    }

    /// Stores it into a register, field by field (no 16-byte temporary).
    #[inline(always)]
    fn store(self, slot: &mut Value) {
        match self {
            Scalar::Int(x) => put_small(slot, x),
            Scalar::Bool(b) => put_bool(slot, b),
            Scalar::Unit => put(slot, Value::Unit),
        }
    }
}

/// Stores a small integer into a register without a 16-byte temporary.
#[inline(always)]
fn put_small(slot: &mut Value, x: i64) {
    // The common case first: the register already holds a small int.
    if let Value::Int(Int::Small(old)) = slot {
        *old = x;
        return;
    }
    match slot {
        Value::Unit | Value::Bool(_) | Value::Int(Int::Small(_)) => {
            std::mem::forget(std::mem::replace(slot, Value::Int(Int::Small(x))))
        }
        _ => *slot = Value::Int(Int::Small(x)),
    }
}

/// Stores a boolean into a register without a 16-byte temporary.
#[inline(always)]
fn put_bool(slot: &mut Value, b: bool) {
    // The common case first: the register already holds a boolean.
    if let Value::Bool(old) = slot {
        *old = b;
        return;
    }
    match slot {
        Value::Unit | Value::Bool(_) | Value::Int(Int::Small(_)) => {
            std::mem::forget(std::mem::replace(slot, Value::Bool(b)))
        }
        _ => *slot = Value::Bool(b),
    }
}

#[inline]
fn cmp_vals(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Int(Int::Small(x)), Value::Int(Int::Small(y))) => x.cmp(y),
        // Big ints without the value order's dispatch on kinds.
        (Value::Int(x), Value::Int(y)) => x.cmp(y),
        _ => a.cmp(b),
    }
}

/// The hot loop. Its live state is the pc, the current function's code,
/// the current frame's registers and the fuel; everything else (the
/// frame's function, base and return register, frame switches, process
/// exits, and every instruction without a small-int or boolean fast path)
/// lives in memory or out of line, so that the loop's state stays in
/// machine registers (measured with callgrind, `BENCHMARKS.md`).
#[inline(never)]
fn exec_fast<const TRACE: bool>(
    program: &Program,
    core: &mut Core,
    p: &mut Process,
    budget: &mut u64,
) -> VmResult<Flow> {
    // One counter covers both the slice budget and the global step budget;
    // the counters are reconciled once when the loop exits.
    let room = core.step_limit.saturating_sub(core.steps);
    let fuel0 = (*budget).min(room);
    let mut fuel = fuel0;
    let mut pc = p.frame.pc;
    let mut code: &[Instr] = &program.functions[p.frame.func as usize].code;
    // The current frame's registers, re-derived whenever frames switch.
    let mut fr: &mut [Value] = &mut p.regs[p.frame.base as usize..];
    macro_rules! reg {
        ($r:expr) => {
            fr[*$r as usize]
        };
    }
    macro_rules! reg_mut {
        ($r:expr) => {
            &mut fr[*$r as usize]
        };
    }

    // The scalar loop's recent yield (steps per entry, less four) and the
    // general instructions left before it is tried again.
    let (mut scalar_score, mut scalar_pause) = (0i32, 0u32);
    let result: VmResult<Flow> = 'run: loop {
        macro_rules! tri {
            ($e:expr) => {
                match $e {
                    Ok(v) => v,
                    Err(e) => break 'run Err(e),
                }
            };
        }
        macro_rules! fail {
            ($e:expr) => {
                break 'run Err($e)
            };
        }
        // `ADD`/`SUB`/`MUL`: two small ints inline, everything else (overflow,
        // big ints, Fixed, Rational, type errors) out of line.
        macro_rules! int_fast_or_general {
            ($dst:ident, $a:ident, $b:ident, $checked:ident, $op:expr, $name:literal) => {{
                if let (Value::Int(Int::Small(x)), Value::Int(Int::Small(y))) =
                    (&reg!($a), &reg!($b))
                {
                    if let Some(r) = x.$checked(*y) {
                        put_small(reg_mut!($dst), r);
                        continue 'run;
                    }
                }
                tri!(arith_general(core, fr, $op, $name, *$dst, *$a, *$b));
            }};
        }
        if scalar_pause > 0 {
            scalar_pause -= 1;
        } else if core.scalar_loop && code.get(pc as usize).is_some_and(scalar_candidate) {
            let before = fuel;
            p.frame.pc = pc;
            run_scalar::<TRACE>(program, core, p, &mut fuel);
            pc = p.frame.pc;
            code = &program.functions[p.frame.func as usize].code;
            fr = &mut p.regs[p.frame.base as usize..];
            // Entering the scalar loop only to leave at once (big ints, heap
            // values) costs a call per instruction: when it keeps happening,
            // skip it for a while.
            let ran = (before - fuel).min(8) as i32;
            scalar_score = (scalar_score + ran - 4).min(64);
            if scalar_score < -16 {
                scalar_score = 0;
                scalar_pause = 256;
            }
        }
        if fuel == 0 {
            if fuel0 < *budget {
                fail!(core.step_limit_error());
            }
            break Ok(Flow::Yield);
        }
        let Some(ins) = code.get(pc as usize) else {
            fail!(pc_out_of_bounds(program, p.frame.func));
        };
        // Without tracing, slow instructions are recognised inside the match
        // (they give their step back); with tracing they must be caught
        // before the trace entry is written.
        if TRACE && is_slow(ins) {
            break Ok(Flow::Slow);
        }
        fuel -= 1;
        if TRACE {
            core.record_trace(p.frame.func, pc);
        }
        pc += 1;
        match ins {
            Instr::Nop => {}
            Instr::Move { dst, src } => match reg!(src) {
                Value::Int(Int::Small(x)) => put_small(reg_mut!(dst), x),
                _ => copy_reg(fr, *dst, *src),
            },
            Instr::LoadConst { dst, idx } => match &program.constants[*idx as usize] {
                Value::Int(Int::Small(x)) => put_small(reg_mut!(dst), *x),
                c => put(reg_mut!(dst), c.clone()),
            },
            Instr::Add { dst, a, b }
            | Instr::ArithBack {
                sub: false,
                dst,
                a,
                b,
            } => {
                int_fast_or_general!(dst, a, b, checked_add, BinOp::Add, "ADD")
            }
            Instr::Sub { dst, a, b }
            | Instr::ArithBack {
                sub: true,
                dst,
                a,
                b,
            } => {
                int_fast_or_general!(dst, a, b, checked_sub, BinOp::Sub, "SUB")
            }
            Instr::Mul { dst, a, b } => {
                int_fast_or_general!(dst, a, b, checked_mul, BinOp::Mul, "MUL")
            }
            Instr::Lt { dst, a, b } => {
                let b = cmp_vals(&reg!(a), &reg!(b)) == Ordering::Less;
                put_bool(reg_mut!(dst), b);
            }
            Instr::Lte { dst, a, b } => {
                let b = cmp_vals(&reg!(a), &reg!(b)) != Ordering::Greater;
                put_bool(reg_mut!(dst), b);
            }
            Instr::Gt { dst, a, b } => {
                let b = cmp_vals(&reg!(a), &reg!(b)) == Ordering::Greater;
                put_bool(reg_mut!(dst), b);
            }
            Instr::Gte { dst, a, b } => {
                let b = cmp_vals(&reg!(a), &reg!(b)) != Ordering::Less;
                put_bool(reg_mut!(dst), b);
            }
            Instr::Eq { dst, a, b } => {
                let b = eq_vals(&reg!(a), &reg!(b));
                put_bool(reg_mut!(dst), b);
            }
            Instr::Neq { dst, a, b } => {
                let b = !eq_vals(&reg!(a), &reg!(b));
                put_bool(reg_mut!(dst), b);
            }
            Instr::Jump { target } => pc = *target,
            Instr::JumpLabel { target } | Instr::LoopBack { target, .. } => {
                // The LABEL at the target is a no-op step: run it now if the
                // budget allows (it cannot fail), else land on it (a loop's
                // condition then runs as the fused instruction it is).
                if fuel > 0 {
                    fuel -= 1;
                    if TRACE {
                        core.record_trace(p.frame.func, *target);
                    }
                    pc = *target + 1;
                } else {
                    pc = *target;
                }
            }
            Instr::CmpJump {
                cmp,
                dst,
                a,
                b,
                target,
                on,
            } => {
                let (x, y) = (&reg!(a), &reg!(b));
                let r = match cmp {
                    CmpOp::Eq => eq_vals(x, y),
                    CmpOp::Neq => !eq_vals(x, y),
                    _ => {
                        let o = cmp_vals(x, y);
                        match cmp {
                            CmpOp::Lt => o == Ordering::Less,
                            CmpOp::Lte => o != Ordering::Greater,
                            CmpOp::Gt => o == Ordering::Greater,
                            _ => o != Ordering::Less,
                        }
                    }
                };
                put_bool(reg_mut!(dst), r);
                // The branch at pc + 1 reads the Bool just written: it cannot fail.
                if fuel > 0 {
                    fuel -= 1;
                    if TRACE {
                        core.record_trace(p.frame.func, pc);
                    }
                    pc = if r == *on { *target } else { pc + 1 };
                }
            }
            Instr::JumpIf { cond, target } => match reg!(cond) {
                Value::Bool(true) => pc = *target,
                Value::Bool(false) => {}
                _ => fail!(type_err("JUMP_IF requires a Boolean register")),
            },
            Instr::JumpIfFalse { cond, target } => match reg!(cond) {
                Value::Bool(false) => pc = *target,
                Value::Bool(true) => {}
                _ => fail!(type_err("JUMP_IF_FALSE requires a Boolean register")),
            },
            Instr::Call { .. } | Instr::TailCall { .. } | Instr::Return { .. } => {
                p.frame.pc = pc;
                let done = switch_frame(program, core, p, ins);
                pc = p.frame.pc;
                match done {
                    Ok(false) => {}
                    Ok(true) => break Ok(Flow::Yield),
                    Err(e) => break Err(e),
                }
                code = &program.functions[p.frame.func as usize].code;
                fr = &mut p.regs[p.frame.base as usize..];
            }
            Instr::Halt { .. } | Instr::Abort { .. } => {
                pc -= 1;
                end_process(p, ins);
                break Ok(Flow::Yield);
            }
            Instr::EffectAwait { src } => {
                let intent = reg!(src).clone();
                tri!(await_effect(core, p, &intent));
                break Ok(Flow::Yield);
            }
            Instr::Proc { .. }
            | Instr::StateSnapshot { .. }
            | Instr::MachineNew { .. }
            | Instr::MachineTransition { .. }
            | Instr::InvariantCheck { .. } => {
                // Handed to `Machine::exec_slow`, which counts the step itself.
                fuel += 1;
                pc -= 1;
                break Ok(Flow::Slow);
            }
            // Everything else runs out of line.
            other => tri!(exec_cold(core, fr, other)),
        }
    };
    p.frame.pc = pc;
    let executed = fuel0 - fuel;
    core.steps += executed;
    p.steps_executed += executed;
    *budget -= executed;
    result
}

/// One more than the highest register operand of the instructions in
/// `code` that the scalar loop reads or writes without a bounds check
/// (`Code::scalar_regs`); 0 when there is none.
pub(crate) fn scalar_register_bound(code: &[Instr]) -> u32 {
    let mut bound = 0u32;
    let mut see = |r: &Reg| bound = bound.max(r.saturating_add(1));
    for ins in code {
        match ins {
            Instr::Move { dst, src } => [dst, src].into_iter().for_each(&mut see),
            Instr::LoadConst { dst, .. } => see(dst),
            Instr::Add { dst, a, b }
            | Instr::Sub { dst, a, b }
            | Instr::Mul { dst, a, b }
            | Instr::Lt { dst, a, b }
            | Instr::Lte { dst, a, b }
            | Instr::Gt { dst, a, b }
            | Instr::Gte { dst, a, b }
            | Instr::Eq { dst, a, b }
            | Instr::Neq { dst, a, b }
            | Instr::CmpJump { dst, a, b, .. }
            | Instr::LoopBack { dst, a, b, .. }
            | Instr::ArithBack { dst, a, b, .. } => [dst, a, b].into_iter().for_each(&mut see),
            Instr::JumpIf { cond, .. } | Instr::JumpIfFalse { cond, .. } => see(cond),
            Instr::ListGet { dst, list, idx } => [dst, list, idx].into_iter().for_each(&mut see),
            Instr::ListAppend { dst, list, val } => [dst, list, val].into_iter().for_each(&mut see),
            Instr::Return { src } => see(src),
            Instr::Call { args, .. } => args.iter().for_each(&mut see),
            _ => {}
        }
    }
    bound
}

/// Whether the scalar loop may run `ins` (it still checks the operands).
#[inline(always)]
fn scalar_candidate(ins: &Instr) -> bool {
    matches!(
        ins,
        Instr::Nop
            | Instr::Move { .. }
            | Instr::LoadConst { .. }
            | Instr::Add { .. }
            | Instr::Sub { .. }
            | Instr::Mul { .. }
            | Instr::Lt { .. }
            | Instr::Lte { .. }
            | Instr::Gt { .. }
            | Instr::Gte { .. }
            | Instr::Eq { .. }
            | Instr::Neq { .. }
            | Instr::Jump { .. }
            | Instr::JumpLabel { .. }
            | Instr::LoopBack { .. }
            | Instr::ArithBack { .. }
            | Instr::CmpJump { .. }
            | Instr::JumpIf { .. }
            | Instr::JumpIfFalse { .. }
            | Instr::ListGet { .. }
            | Instr::ListAppend { .. }
            | Instr::Call { .. }
            | Instr::Return { .. }
    )
}

/// The scalar loop: runs instructions for as long as they work on small
/// ints and booleans in registers that hold no heap value (and `CALL`s and
/// `RETURN`s that pass scalars), with exactly the steps, results, trace and
/// budget of `exec_fast`. It stops, without counting a step, at the first
/// instruction that needs anything else (an allocation, an overflow, an
/// error, a heap value to drop), which `exec_fast` then runs. Apart from
/// growing the register and call stacks and dropping a returning frame, it
/// calls nothing, so its state stays in machine registers. The current
/// frame and the callers its `CALL`s save are kept on a small stack of its
/// own (see `LOCAL_FRAMES`; the pc as a pointer to the op at the pc) and
/// written back to `p.frame` and `p.call_stack` on exit.
#[inline(never)]
fn run_scalar<const TRACE: bool>(
    program: &Program,
    core: &mut Core,
    p: &mut Process,
    fuel_: &mut u64,
) {
    let code: &Code = &program.functions[p.frame.func as usize].code;
    // The current function's ops, and the op at the pc: the pc is
    // `ip - ops` (`pc!()`), and a dispatch reads the op `ip` points at.
    let mut ops: *const Op = code.ops().as_ptr();
    let pc0 = p.frame.pc;
    let mut ip: *const Op = ops.wrapping_add(pc0 as usize);
    let mut fuel = *fuel_;
    let mut fr: &mut [Value] = &mut p.regs[p.frame.base as usize..];
    // Invariants of the loop, checked here and wherever the function, `fr`
    // and the pc change other than as `Code` guarantees (`CALL`,
    // `RETURN`), for the function's `code`: `fr.len() >= code.scalar_regs()`,
    // so every register an instruction below names is in `fr`; `ops` is
    // `code.ops().as_ptr()`; and `ip` is `ops + pc` with
    // `pc <= code.len()`, so `ip` points at an op of `code.ops()`, which
    // holds `code.len() + 1` (every pc a jump or fused instruction of
    // `code` leads to is at most `code.len()`, or `scalar_regs` is
    // `u32::MAX`; and an instruction at `pc < code.len()` that falls
    // through leads to `pc + 1 <= code.len()`). `program` is borrowed for
    // the whole loop, so the ops stay where they are.
    if fr.len() < code.scalar_regs() as usize || pc0 as usize > code.len() {
        return;
    }
    // The limits a scalar `CALL` checks (they do not change during a run).
    let max_depth = core
        .limits
        .max_call_depth
        .min(core.limits.max_frames)
        .max(0) as usize;
    let max_regs = core.limits.max_registers_per_frame.max(0) as usize;
    // The limits an in-place `LIST_APPEND` checks.
    let max_list_len = i64::from(core.limits.max_list_length);
    let max_value_depth = i64::from(core.limits.max_value_depth);
    let max_value_size = core.limits.max_value_size.max(0) as u64;
    // The top of the call stack, above `p.call_stack`: the current frame,
    // `saved[sp]` (its `ip` stale: the loop holds it), and below it the
    // callers saved by this loop's `CALL`s, `saved[..sp]`. `saved[..=sp]`
    // is initialised. The frames above `saved[0]` were created by this
    // loop and have held nothing but scalars, so `RETURN` drops them
    // without looking. The callers move to `p.call_stack` when `saved` is
    // full and on exit, when the current frame goes back to `p.frame`.
    // `cap`: how many callers `saved` may hold before its end or the call
    // depth limit.
    let mut saved = [MaybeUninit::<Saved>::uninit(); LOCAL_FRAMES];
    saved[0] = MaybeUninit::new(Saved::of(p.frame, ops));
    let mut sp = 0usize;
    let local_cap =
        |stack: &Vec<Frame>| max_depth.saturating_sub(stack.len()).min(LOCAL_FRAMES - 1);
    let mut cap = local_cap(&p.call_stack);
    /// The current frame.
    macro_rules! cur {
        () => {
            // SAFETY: `saved[..=sp]` is initialised (above).
            unsafe { saved[sp].assume_init_ref() }
        };
    }
    // With `TRACE`: the steps not yet in `core.trace`, a run of consecutive
    // pcs of the current function, `run_start..pc` (pcs do not wrap: code
    // is far shorter than 2^32 instructions). A step that falls through
    // extends it by moving the pc, at no cost; a step that moves the pc
    // anywhere else closes it (`close!`) and starts the next at the new pc.
    // And how many more steps the trace may take.
    let mut run_start = pc0;
    // Before the trace, a pending run may repeat (see `Pending`).
    let mut pending = Pending {
        start: 0,
        len: 0,
        times: 0,
        room: if TRACE {
            (core.limits.max_trace_events.max(0) as usize).saturating_sub(core.trace.len())
        } else {
            0
        },
    };
    /// The current pc.
    macro_rules! pc {
        () => {
            ((ip as usize - ops as usize) / std::mem::size_of::<Op>()) as u32
        };
    }
    /// Moves on by `$n` instructions.
    macro_rules! adv {
        ($n:expr) => {
            ip = ip.wrapping_add($n as usize)
        };
    }
    /// Moves to pc `$pc` of the current function.
    macro_rules! goto {
        ($pc:expr) => {
            ip = ops.wrapping_add($pc as usize)
        };
    }
    /// Writes the pending repeats into the trace (leaving them pending).
    macro_rules! emit_reps {
        () => {
            if TRACE {
                pending.emit(core, cur!().func);
            }
        };
    }
    /// Writes the pending repeats into the trace.
    macro_rules! write_reps {
        () => {
            if TRACE {
                pending.emit(core, cur!().func);
                pending.times = 0;
            }
        };
    }
    /// Ends the pending run at `$end`: one more repeat, or a new one.
    macro_rules! end_run {
        ($end:expr) => {
            if TRACE {
                pending.end_run(core, cur!().func, run_start, $end);
            }
        };
    }
    /// Ends the pending run at `$end` and starts the next at `$next` (the
    /// pc a step moved to other than by falling through).
    macro_rules! close {
        ($end:expr, $next:expr) => {
            end_run!($end);
            if TRACE {
                run_start = $next;
            }
        };
    }
    /// A register named by the current instruction, without a bounds check.
    macro_rules! reg {
        ($o:expr) => {{
            let o: Off = $o;
            debug_assert!(o as usize % SLOT == 0 && (o as usize / SLOT) < fr.len());
            // SAFETY: `o` is the byte offset `r * SLOT` of a register
            // operand `r` of an instruction of the current function's
            // `code` (one fused op: of two) that
            // `scalar_register_bound` covers (`compact::lower` encodes the
            // same operands), so `r < code.scalar_regs()` (`Code` computes
            // both when it is built and they cannot change after), and the
            // loop's invariant gives `code.scalar_regs() <= fr.len()`: the
            // offset is that of an element of `fr`, properly aligned.
            // Exercised by every program the scalar loop runs
            // (`tests/slices.rs`, `scalar_loop_register_bound` below).
            unsafe { &*fr.as_ptr().byte_add(o as usize) }
        }};
    }
    /// The same, mutable.
    macro_rules! reg_mut {
        ($o:expr) => {{
            let o: Off = $o;
            debug_assert!(o as usize % SLOT == 0 && (o as usize / SLOT) < fr.len());
            // SAFETY: as for `reg!`.
            unsafe { &mut *fr.as_mut_ptr().byte_add(o as usize) }
        }};
    }
    /// A register's small int.
    macro_rules! small {
        ($r:expr) => {
            match reg!($r) {
                Value::Int(Int::Small(x)) => *x,
                _ => break,
            }
        };
    }
    /// A copy of a small int, boolean or unit (no reference count to touch).
    macro_rules! scalar {
        ($v:expr) => {
            match $v {
                Value::Int(Int::Small(x)) => Value::Int(Int::Small(*x)),
                Value::Bool(b) => Value::Bool(*b),
                Value::Unit => Value::Unit,
                _ => break,
            }
        };
    }
    /// A register that can be overwritten without dropping anything.
    macro_rules! scalar_slot {
        ($r:expr) => {
            match reg_mut!($r) {
                slot @ (Value::Unit | Value::Bool(_) | Value::Int(Int::Small(_))) => slot,
                _ => break,
            }
        };
    }
    /// Stores a boolean, checking for a boolean in the register first.
    macro_rules! put_bool {
        ($r:expr, $v:expr) => {{
            let v = $v;
            // One tag test in the common case (matching the three kinds in
            // one `match` decodes the niche-packed tag first).
            let slot = reg_mut!($r);
            if let Value::Bool(x) = slot {
                *x = v;
            } else if let Value::Unit = slot {
                // A fresh frame's register: one more tag test.
                std::mem::forget(std::mem::replace(slot, Value::Bool(v)));
            } else if !overwrite_scalar(slot, Value::Bool(v)) {
                break;
            }
        }};
    }
    macro_rules! compare {
        ($cmp:expr, $a:expr, $b:expr) => {{
            // Small ints first, with a tag test each.
            let (a, b) = (reg!($a), reg!($b));
            if let (Value::Int(Int::Small(x)), Value::Int(Int::Small(y))) = (a, b) {
                $cmp.holds(x.cmp(y))
            } else {
                match compare_bools($cmp, a, b) {
                    Some(r) => r,
                    None => break,
                }
            }
        }};
    }
    /// Stores a scalar into a register that holds one.
    macro_rules! store {
        ($r:expr, $v:expr) => {
            std::mem::forget(std::mem::replace(scalar_slot!($r), $v))
        };
    }
    /// Stores a small int, checking for one in the register first (most
    /// often it holds one).
    macro_rules! put_int {
        ($r:expr, $x:expr) => {{
            let x: i64 = $x;
            match reg_mut!($r) {
                Value::Int(Int::Small(old)) => *old = x,
                _ => store!($r, Value::Int(Int::Small(x))),
            }
        }};
    }
    /// Takes a branch whose steps are counted, to `$target` and, with
    /// `$skip`, past the no-op there when the budget allows its step.
    macro_rules! take_branch {
        ($target:expr, $skip:expr) => {{
            let target: u32 = $target;
            close!(pc!(), target);
            let s = u32::from($skip && fuel != 0);
            goto!(target + s);
            fuel -= u64::from(s);
        }};
    }
    /// Copies the scalar `$v` (a `&Value`) into register `$dst`, which must
    /// hold one. Each kind is written field by field in its own arm: a
    /// 16-byte `Value` assembled on the stack from two 8-byte stores and
    /// read back whole stalls store forwarding (measured: a fifth of FIB's
    /// time went to the copy of `LOAD_CONST` before this).
    macro_rules! copy_scalar {
        ($dst:expr, $v:expr) => {
            match $v {
                Value::Int(Int::Small(x)) => {
                    let x = *x;
                    match reg_mut!($dst) {
                        Value::Int(Int::Small(old)) => *old = x,
                        slot @ (Value::Unit | Value::Bool(_)) => {
                            std::mem::forget(std::mem::replace(slot, Value::Int(Int::Small(x))))
                        }
                        _ => break,
                    }
                }
                Value::Bool(b) => {
                    let b = *b;
                    put_bool!($dst, b);
                }
                Value::Unit => store!($dst, Value::Unit),
                _ => break,
            }
        };
    }
    /// `ADD`/`SUB`/`MUL` of two small ints that do not overflow.
    macro_rules! int_op {
        ($dst:expr, $a:expr, $b:expr, $checked:ident) => {{
            let Some(r) = small!($a).$checked(small!($b)) else {
                break;
            };
            // Most often the register already holds a small int.
            put_int!($dst, r);
            adv!(1);
        }};
    }
    /// A comparison of two small ints (or booleans, for equality).
    macro_rules! cmp_op {
        ($dst:expr, $a:expr, $b:expr, $cmp:expr) => {{
            let r = compare!($cmp, $a, $b);
            put_bool!($dst, r);
            adv!(1);
        }};
    }
    /// Runs the back edge `$op` at `pc` when it is one and the budget
    /// allows all its steps (`JUMP`, `LABEL`, and for a `LoopBack` the
    /// comparison and its branch), then continues the loop; else does
    /// nothing.
    macro_rules! back_edge {
        ($op:expr) => {
            // Fields read through the reference where they are used (bound
            // by value, all seven were loaded up front and spilled).
            let op: &Op = $op;
            match op {
                Op::LoopBack { cmp, a, b, .. } if fuel >= 4 => {
                    let r = compare!(*cmp, *a, *b);
                    let Op::LoopBack {
                        on,
                        target,
                        dst,
                        exit,
                        ..
                    } = op
                    else {
                        unreachable!()
                    };
                    put_bool!(*dst, r);
                    // Steps: the jump at pc, then the label, comparison and
                    // branch at target..target + 3.
                    let target = *target;
                    close!(pc!() + 1, target);
                    fuel -= 4;
                    goto!(target + 3);
                    if r == *on {
                        close!(target + 3, *exit);
                        goto!(*exit);
                    }
                    next!();
                }
                Op::JumpLabel { target } | Op::LoopBack { target, .. } if fuel >= 2 => {
                    let target = *target;
                    close!(pc!() + 1, target);
                    fuel -= 2;
                    goto!(target + 1);
                    next!();
                }
                _ => {}
            }
        };
    }
    /// Goes on to the next instruction, if the budget allows a step.
    macro_rules! next {
        () => {{
            if fuel == 0 {
                break;
            }
            continue;
        }};
    }
    /// Returns the scalar `$v` to the caller, the last of `$steps` steps
    /// that end at pc `$end` (exclusive), and goes on there. Everything is
    /// checked before anything changes.
    macro_rules! return_scalar {
        ($v:expr, $end:expr, $steps:expr) => {{
            let v: Scalar = $v;
            let end: u32 = $end;
            let done = *cur!();
            if sp != 0 {
                // A caller this loop saved: it met the loop's invariants
                // when it called (its registers below this frame's, its pc
                // after a `CALL` at most its code's length), and nothing
                // has changed them since.
                discard_scalars(&mut p.regs, done.base as usize);
                sp -= 1;
            } else {
                let Some(&caller) = p.call_stack.last() else {
                    break;
                };
                let caller_code = &program.functions[caller.func as usize].code;
                // The caller's registers once this frame's are dropped.
                let caller_len = (done.base as usize).wrapping_sub(caller.base as usize);
                if caller_len > p.regs.len()
                    || caller_len < caller_code.scalar_regs() as usize
                    || caller.pc as usize > caller_code.len()
                {
                    break; // the loop's invariants (only a malformed state)
                }
                p.call_stack.pop();
                shrink_to(&mut p.regs, done.base as usize);
                cap = local_cap(&p.call_stack);
                saved[0] = MaybeUninit::new(Saved::of(caller, caller_code.ops().as_ptr()));
            }
            fuel -= $steps;
            let caller = *cur!();
            if TRACE {
                let pc =
                    ((caller.ip as usize - caller.ops as usize) / std::mem::size_of::<Op>()) as u32;
                // The returning frame's run, then the caller's.
                let (func, start) = (done.func, run_start);
                pending.end_run(core, func, start, end);
                pending.emit(core, func);
                pending.times = 0;
                run_start = pc;
            }
            ops = caller.ops;
            ip = caller.ip;
            fr = &mut p.regs[caller.base as usize..];
            if let Some(slot) = done.ret.and_then(|r| fr.get_mut(r as usize)) {
                v.store(slot);
            }
            next!();
        }};
    }
    if fuel == 0 {
        return;
    }
    loop {
        // SAFETY: `ip` points at an op of the current code, the loop's
        // invariant. Exercised by every program the scalar loop runs, and
        // at `pc == code.len()` (the `Exit` sentinel) by
        // `scalar_loop_runs_off_the_end` below.
        let ins = unsafe { &*ip };
        // Matched in place: each arm reads only the operands it uses.
        match *ins {
            Op::Nop => adv!(1),
            Op::Move { dst, src } => {
                copy_scalar!(dst, reg!(src));
                adv!(1);
            }
            Op::LoadInt { dst, x } => {
                put_int!(dst, x);
                adv!(1);
            }
            Op::LoadConst { dst, idx } => {
                let Some(v) = program.constants.get(idx as usize) else {
                    break;
                };
                copy_scalar!(dst, v);
                adv!(1);
            }
            Op::Add { dst, a, b } => int_op!(dst, a, b, checked_add),
            Op::Sub { dst, a, b } => int_op!(dst, a, b, checked_sub),
            Op::Mul { dst, a, b } => int_op!(dst, a, b, checked_mul),
            Op::Cmp { cmp, dst, a, b } => cmp_op!(dst, a, b, cmp),
            Op::Jump { target } => {
                close!(pc!() + 1, target);
                goto!(target);
            }
            Op::JumpLabel { target } | Op::LoopBack { target, .. } => {
                back_edge!(ins);
                // The budget allows the JUMP alone.
                close!(pc!() + 1, target);
                goto!(target);
            }
            Op::ArithBack { sub, dst, a, b } => {
                let (x, y) = (small!(a), small!(b));
                let r = if sub {
                    x.checked_sub(y)
                } else {
                    x.checked_add(y)
                };
                let Some(r) = r else {
                    break;
                };
                put_int!(dst, r);
                fuel -= 1;
                adv!(1);
                // SAFETY: `ip` points at an op of the current code: the
                // instruction before it was at `pc - 1 < code.len()`.
                back_edge!(unsafe { &*ip });
                next!();
            }
            Op::CmpJump {
                cmp,
                on,
                skip,
                dst,
                a,
                b,
                target,
            } => {
                let r = compare!(cmp, a, b);
                put_bool!(dst, r);
                // The branch at pc + 1 reads the Bool just written.
                if fuel >= 2 {
                    fuel -= 2;
                    adv!(2);
                    if r == on {
                        take_branch!(target, skip);
                    }
                    next!();
                }
                adv!(1);
            }
            Op::LoadCmpJump {
                cmp,
                on,
                skip,
                k,
                dst,
                a,
                target,
                x,
            } => {
                if fuel >= 3 {
                    let r = cmp.holds(small!(a).cmp(&x));
                    put_int!(k, x);
                    put_bool!(dst, r);
                    fuel -= 3;
                    adv!(3);
                    if r == on {
                        take_branch!(target, skip);
                    }
                    next!();
                }
                // The budget allows less: the load alone.
                put_int!(k, x);
                adv!(1);
            }
            Op::LoadArith {
                sub,
                rev,
                k,
                dst,
                a,
                x,
            } => {
                if fuel >= 2 {
                    let y = small!(a);
                    let r = match (sub, rev) {
                        (false, _) => y.checked_add(x),
                        (true, false) => y.checked_sub(x),
                        (true, true) => x.checked_sub(y),
                    };
                    let Some(r) = r else {
                        break;
                    };
                    put_int!(k, x);
                    put_int!(dst, r);
                    fuel -= 2;
                    adv!(2);
                    next!();
                }
                // The budget allows less: the load alone.
                put_int!(k, x);
                adv!(1);
            }
            Op::JumpIf {
                on,
                skip,
                cond,
                target,
            } => match reg!(cond) {
                Value::Bool(c) if *c == on => {
                    close!(pc!() + 1, target);
                    // And the no-op at the target, budget allowing (the
                    // branch's own step is taken below).
                    let s = u32::from(skip && fuel >= 2);
                    goto!(target + s);
                    fuel -= u64::from(s);
                }
                Value::Bool(_) => adv!(1),
                _ => break,
            },
            Op::ListGet { dst, list, idx } => {
                // A scalar element at an in-range index (every error: the
                // general path).
                let i = small!(idx);
                let v = match reg!(list) {
                    Value::List(l) if (0..=i64::from(i32::MAX)).contains(&i) => {
                        match l.items().get(i as usize) {
                            Some(v) => v,
                            None => break,
                        }
                    }
                    _ => break,
                };
                copy_scalar!(dst, v);
                adv!(1);
            }
            Op::ListAppend { list, val } => {
                // A scalar appended in place to a list only this register
                // holds. The list's depth does not change (a scalar child
                // has depth 0) and its size grows by one node: the checks of
                // the general path, made before the append.
                let v = scalar!(reg!(val));
                let Value::List(rc) = reg_mut!(list) else {
                    break;
                };
                let Some(l) = Rc::get_mut(rc) else {
                    break;
                };
                if l.len() as i64 + 1 > max_list_len
                    || i64::from(l.depth()) > max_value_depth
                    || l.size().wrapping_add(NODE_SIZE) > max_value_size
                {
                    break;
                }
                l.push(v);
                adv!(1);
            }
            Op::Call {
                n,
                dst,
                func: f,
                ref args,
            } => {
                // A call whose arguments are scalars, within the limits (the
                // general path raises the limit errors). Everything is
                // checked before anything changes.
                let callee = &program.functions[f as usize];
                let rc = callee.register_count as usize;
                if rc > max_regs || n as usize > rc || rc < callee.code.scalar_regs() as usize {
                    break; // (the last: the loop's invariant for the callee)
                }
                let Some(offs) = args.get(..n as usize) else {
                    break;
                };
                if sp >= cap {
                    // `saved` is full, or the call depth at its limit: the
                    // callers move to the call stack.
                    // SAFETY: `saved[..=sp]` is initialised (above).
                    unsafe { spill(&mut p.call_stack, &saved[..sp]) };
                    saved[0] = saved[sp];
                    sp = 0;
                    cap = local_cap(&p.call_stack);
                    if cap == 0 {
                        break;
                    }
                }
                let new_base = p.regs.len();
                // SAFETY: every offset in `offs` is that of a register
                // operand of the current function's `code`
                // (`compact::lower`), below
                // `code.scalar_regs() <= fr.len()`, the loop's invariant,
                // and `fr` is the register stack from the frame's base;
                // `offs.len() == n <= rc`, checked above.
                let caller_base = cur!().base as usize;
                if !unsafe { push_frame(&mut p.regs, caller_base, offs, rc) } {
                    break;
                }
                fuel -= 1;
                if TRACE {
                    let at = pc!();
                    close!(at + 1, 0);
                    write_reps!();
                }
                // SAFETY: `saved[sp]` is initialised (above).
                unsafe { saved[sp].assume_init_mut() }.ip = ip.wrapping_add(1);
                ops = callee.code.ops().as_ptr();
                sp += 1;
                saved[sp] = MaybeUninit::new(Saved {
                    ops,
                    ip: ops,
                    func: f,
                    base: new_base as u32,
                    ret: Some(dst),
                });
                ip = ops;
                fr = &mut p.regs[new_base..];
                next!();
            }
            Op::Return { src } => {
                // A scalar returned to a caller (the first frame's return
                // ends the process: the general path).
                let Some(v) = Scalar::of(reg!(src)) else {
                    break;
                };
                return_scalar!(v, pc!() + 1, 1);
            }
            Op::ArithReturn { sub, dst, a, b } => {
                let (x, y) = (small!(a), small!(b));
                let Some(r) = (if sub {
                    x.checked_sub(y)
                } else {
                    x.checked_add(y)
                }) else {
                    break;
                };
                if fuel >= 2 {
                    // The frame's registers are dropped on return: the sum
                    // goes to the caller only.
                    return_scalar!(Scalar::Int(r), pc!() + 2, 2);
                }
                // The budget allows the arithmetic alone.
                put_int!(dst, r);
                adv!(1);
            }
            // Every other instruction, and past the last one: the general
            // path (which raises "PC out of bounds" for the latter).
            Op::Exit => break,
        }
        fuel -= 1;
        if fuel == 0 {
            break;
        }
    }
    let pc = pc!();
    end_run!(pc);
    emit_reps!();
    if sp != 0 {
        // SAFETY: `saved[..=sp]` is initialised (above).
        unsafe { spill(&mut p.call_stack, &saved[..sp]) };
    }
    p.frame = cur!().frame(pc);
    *fuel_ = fuel;
}

/// How many frames (the current one and its callers) the scalar loop keeps
/// on a stack of its own before it moves the callers to the process's
/// call stack: a `CALL` and a `RETURN` then touch neither `Process::frame`
/// nor a `Vec`, and a `RETURN` finds its caller's next op in one load.
const LOCAL_FRAMES: usize = 64;

/// A frame on the scalar loop's own stack: a `Frame` whose pc is the op
/// `ip` points at in its code's `ops`.
#[derive(Clone, Copy)]
struct Saved {
    ops: *const Op,
    ip: *const Op,
    func: u32,
    base: u32,
    ret: Option<u32>,
}

impl Saved {
    /// `frame`, whose code's ops are `ops`.
    fn of(frame: Frame, ops: *const Op) -> Saved {
        Saved {
            ops,
            ip: ops.wrapping_add(frame.pc as usize),
            func: frame.func,
            base: frame.base,
            ret: frame.ret,
        }
    }

    /// The frame, at pc `pc`.
    fn frame(&self, pc: u32) -> Frame {
        Frame {
            func: self.func,
            pc,
            base: self.base,
            ret: self.ret,
        }
    }

    /// The frame, at the pc of `ip`.
    fn resumed(&self) -> Frame {
        self.frame(((self.ip as usize - self.ops as usize) / std::mem::size_of::<Op>()) as u32)
    }
}

/// Moves the scalar loop's saved callers to the call stack, oldest first.
///
/// # Safety
/// Every element of `saved` is initialised.
#[cold]
#[inline(never)]
unsafe fn spill(stack: &mut Vec<Frame>, saved: &[MaybeUninit<Saved>]) {
    // SAFETY: the caller guarantees each is initialised; `Saved` is `Copy`.
    stack.extend(
        saved
            .iter()
            .map(|s| unsafe { s.assume_init_ref() }.resumed()),
    );
}

/// The scalar loop's trace steps not yet written, before its current run:
/// `len` steps at consecutive pcs from `start`, `times` times (a loop's
/// body, written out as one repeat count when the path changes, before the
/// frame changes and on exit, instead of once per iteration); and how many
/// more steps the trace may take. Kept in memory (its methods that write
/// take it by reference, out of line), so that the traced loop's own state
/// fits in machine registers.
struct Pending {
    start: u32,
    len: u32,
    times: u32,
    room: usize,
}

impl Pending {
    /// Ends the run `start..end` (nothing when empty): one more repeat of
    /// the pending run, or a new one after writing the pending out.
    #[inline(always)]
    fn end_run(&mut self, core: &mut Core, func: u32, start: u32, end: u32) {
        if end == start {
            return;
        }
        let len = end.wrapping_sub(start);
        if self.times != 0 && self.start == start && self.len == len && self.times < u32::MAX {
            self.times += 1;
        } else {
            self.restart(core, func, start, len);
        }
    }

    #[inline(never)]
    fn restart(&mut self, core: &mut Core, func: u32, start: u32, len: u32) {
        self.emit(core, func);
        (self.start, self.len, self.times) = (start, len, 1);
    }

    /// Writes the pending repeats of function `func` into the trace
    /// (leaving them pending).
    #[inline(never)]
    fn emit(&mut self, core: &mut Core, func: u32) {
        if self.times != 0 {
            trace_runs(core, func, self.start, self.len, self.times, &mut self.room);
        }
    }
}

/// Records `times` times `len` steps at consecutive pcs from `start` in
/// the trace, as far as `room` (what is left of `maxTraceEvents`) allows,
/// as `Core::record_trace` does step by step.
#[inline(never)]
fn trace_runs(core: &mut Core, func: u32, start: u32, len: u32, times: u32, room: &mut usize) {
    if len == 0 {
        return;
    }
    let total = len as usize * times as usize;
    if total <= *room {
        core.trace.push_runs(func, start, len, times);
        *room -= total;
        return;
    }
    // Truncated: the whole repeats that fit, then part of one.
    let whole = *room / len as usize;
    core.trace.push_runs(func, start, len, whole as u32);
    core.trace
        .push_run(func, start, (*room % len as usize) as u32);
    *room = 0;
    core.trace_truncated = true;
}

#[cold]
#[inline(never)]
fn pc_out_of_bounds(program: &Program, func: u32) -> Box<VmError> {
    let id = &program.functions[func as usize].id;
    vm_error(
        ErrorCode::InvalidInstruction,
        format!("PC out of bounds in function {id}"),
    )
}

/// `fr[dst] = fr[src]` for values other than small ints.
#[inline(never)]
fn copy_reg(fr: &mut [Value], dst: u32, src: u32) {
    let v = fr[src as usize].clone();
    put(&mut fr[dst as usize], v);
}

/// `ADD`/`SUB`/`MUL` (and the other binary operators) off the small-int path.
#[inline(never)]
fn arith_general(
    core: &Core,
    fr: &mut [Value],
    op: BinOp,
    name: &str,
    dst: u32,
    a: u32,
    b: u32,
) -> VmResult<()> {
    // `x = x ± y` on an unshared big int: updated in place.
    if dst == a && a != b && matches!(op, BinOp::Add | BinOp::Sub) {
        let (x, y) = if a < b {
            let (lo, hi) = fr.split_at_mut(b as usize);
            (&mut lo[a as usize], &hi[0])
        } else {
            let (lo, hi) = fr.split_at_mut(a as usize);
            (&mut hi[0], &lo[b as usize])
        };
        if let (Value::Int(x), Value::Int(y)) = (x, y) {
            let max_bits = core.limits.max_int_bits.max(0) as usize;
            if x.add_in_place(y, matches!(op, BinOp::Sub), max_bits) {
                return Ok(());
            }
        }
    }
    let v = arith::binary(op, &fr[a as usize], &fr[b as usize])?;
    check_size(core, &v, name)?;
    put(&mut fr[dst as usize], v);
    Ok(())
}

#[inline(always)]
fn eq_vals(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Int(Int::Small(x)), Value::Int(Int::Small(y))) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        _ => eq_general(a, b),
    }
}

#[inline(never)]
fn eq_general(a: &Value, b: &Value) -> bool {
    a == b
}

/// `CALL`, `TAIL_CALL` and `RETURN`, with `p.frame.pc` already past the
/// instruction. `Ok(true)` when a `RETURN` ended the process.
#[inline(never)]
fn switch_frame(program: &Program, core: &Core, p: &mut Process, ins: &Instr) -> VmResult<bool> {
    // Field by field: the caller has just stored `p.frame.pc`, and reading
    // the frame back whole would stall on store forwarding.
    let frame = Frame {
        func: p.frame.func,
        pc: p.frame.pc,
        base: p.frame.base,
        ret: p.frame.ret,
    };
    let base = frame.base as usize;
    match ins {
        Instr::Call { dst, func, args } => {
            let depth = p.call_stack.len() as i64;
            if depth >= core.limits.max_call_depth as i64 || depth >= core.limits.max_frames as i64
            {
                return Err(vm_error(
                    ErrorCode::StepLimitExceeded,
                    "CALL exceeded call frame limit",
                ));
            }
            let callee = &program.functions[*func as usize];
            if callee.register_count as i64 > core.limits.max_registers_per_frame as i64 {
                return Err(vm_error(
                    ErrorCode::InvalidRegister,
                    "CALL target exceeded maxRegistersPerFrame",
                ));
            }
            let new_base = p.regs.len();
            let n = args.len().min(callee.register_count as usize);
            p.regs.reserve(callee.register_count as usize);
            for a in &args[..n] {
                let v = dup(&p.regs[base + *a as usize]);
                p.regs.push(v);
            }
            grow_units(&mut p.regs, callee.register_count as usize - n);
            p.call_stack.push(frame);
            p.frame = Frame {
                func: *func,
                pc: 0,
                base: new_base as u32,
                ret: Some(*dst),
            };
        }
        Instr::TailCall { func, args } => {
            let callee = &program.functions[*func as usize];
            if callee.register_count as i64 > core.limits.max_registers_per_frame as i64 {
                return Err(vm_error(
                    ErrorCode::InvalidRegister,
                    "TAIL_CALL target exceeded maxRegistersPerFrame",
                ));
            }
            let n = args.len().min(callee.register_count as usize);
            let top = p.regs.len();
            for a in args.iter().take(n) {
                let v = dup(&p.regs[base + *a as usize]);
                p.regs.push(v);
            }
            // Move the arguments down to the frame base: swap them into
            // registers 0..n, then drop everything above.
            for i in 0..n {
                p.regs.swap(base + i, top + i);
            }
            shrink_to(&mut p.regs, base + n);
            grow_units(&mut p.regs, callee.register_count as usize - n);
            p.frame = Frame {
                func: *func,
                pc: 0,
                base: base as u32,
                ret: frame.ret,
            };
        }
        Instr::Return { src } => {
            let slot = base + *src as usize;
            let v = std::mem::take(&mut p.regs[slot]);
            match p.call_stack.pop() {
                None => {
                    p.regs[slot] = v.clone();
                    p.frame.pc -= 1;
                    p.status = Status::Completed(v);
                    return Ok(true);
                }
                Some(caller) => {
                    shrink_to(&mut p.regs, base);
                    p.frame = caller;
                    if let Some(r) = frame.ret {
                        if let Some(slot) = p.regs.get_mut(caller.base as usize + r as usize) {
                            put(slot, v);
                        }
                    }
                }
            }
        }
        _ => unreachable!("switch_frame runs CALL, TAIL_CALL and RETURN"),
    }
    Ok(false)
}

/// `HALT` and `ABORT`, with `p.frame.pc` on the instruction.
#[cold]
#[inline(never)]
fn end_process(p: &mut Process, ins: &Instr) {
    p.status = match ins {
        Instr::Halt { src } => {
            Status::Completed(p.regs[p.frame.base as usize + *src as usize].clone())
        }
        Instr::Abort { code } => {
            Status::Failed(vm_error(ErrorCode::CustomErrorCode(*code), "Aborted"))
        }
        _ => unreachable!("end_process runs HALT and ABORT"),
    };
}

/// `EFFECT_AWAIT`: record the intent and wait for its result.
#[inline(never)]
fn await_effect(core: &mut Core, p: &mut Process, intent: &Value) -> VmResult<()> {
    let key = effect_await(core, &p.pid, intent)?;
    p.status = Status::Waiting(Wait::Effect(key));
    Ok(())
}

/// `STATE_SET` semantics (also used by builtins that write state).
/// The instructions that neither move the pc nor switch frames or
/// processes, out of line so that `exec_fast` stays small.
#[inline(never)]
fn exec_cold(core: &mut Core, fr: &mut [Value], ins: &Instr) -> VmResult<()> {
    macro_rules! reg {
        ($r:expr) => {
            fr[*$r as usize]
        };
    }
    macro_rules! set {
        ($r:expr, $v:expr) => {{
            let v = $v;
            put(&mut fr[*$r as usize], v);
        }};
    }
    macro_rules! tri {
        ($e:expr) => {
            $e?
        };
    }
    macro_rules! fail {
        ($e:expr) => {
            return Err($e)
        };
    }
    match ins {
        Instr::Div { dst, mode, a, b } => {
            let v = tri!(arith::binary(BinOp::Div(*mode), &reg!(a), &reg!(b)));
            tri!(check_size(core, &v, "DIV"));
            set!(dst, v);
        }
        Instr::Mod { dst, a, b } => {
            let v = tri!(arith::modulo(&reg!(a), &reg!(b)));
            set!(dst, v);
        }
        Instr::Neg { dst, a } => {
            let v = tri!(arith::neg(&reg!(a)));
            set!(dst, v);
        }
        Instr::Abs { dst, a } => {
            let v = tri!(arith::abs(&reg!(a)));
            set!(dst, v);
        }
        Instr::Compare { dst, a, b } => {
            let c = match cmp_vals(&reg!(a), &reg!(b)) {
                Ordering::Less => -1,
                Ordering::Equal => 0,
                Ordering::Greater => 1,
            };
            set!(dst, Value::int(c as i64));
        }
        Instr::Min { dst, a, b } => {
            let v = if cmp_vals(&reg!(a), &reg!(b)) != Ordering::Greater {
                reg!(a).clone()
            } else {
                reg!(b).clone()
            };
            set!(dst, v);
        }
        Instr::Max { dst, a, b } => {
            let v = if cmp_vals(&reg!(a), &reg!(b)) != Ordering::Less {
                reg!(a).clone()
            } else {
                reg!(b).clone()
            };
            set!(dst, v);
        }
        Instr::Clamp { dst, v, lo, hi } => {
            let r = if cmp_vals(&reg!(v), &reg!(lo)) == Ordering::Less {
                reg!(lo).clone()
            } else if cmp_vals(&reg!(v), &reg!(hi)) == Ordering::Greater {
                reg!(hi).clone()
            } else {
                reg!(v).clone()
            };
            set!(dst, r);
        }
        Instr::LoadInput { dst, key, context } => match core.input.get(key.as_str()) {
            Some(v) => reg!(dst) = v.clone(),
            None if *context => {
                fail!(vm_error(
                    ErrorCode::MissingContext,
                    format!("Context path not found: {key}")
                ))
            }
            None => fail!(vm_error(
                ErrorCode::MissingInput,
                format!("Input path not found: {key}")
            )),
        },
        Instr::Clear { dst } => reg!(dst) = Value::Unit,
        Instr::RecordNew { dst } => reg!(dst) = Value::record(Record::new()),
        Instr::RecordGet {
            dst,
            rec,
            field,
            opt,
        } => {
            let v = match &reg!(rec) {
                Value::Record(r) => r.get(field.as_str()).cloned(),
                _ if *opt => fail!(type_err("RECORD_GET_OPT requires a Record")),
                _ => fail!(type_err("RECORD_GET requires a Record")),
            };
            reg!(dst) = match (v, opt) {
                (Some(v), false) => v,
                (None, false) => {
                    fail!(vm_error(
                        ErrorCode::MissingState,
                        format!("Field {field} not found in record")
                    ))
                }
                (Some(v), true) => Value::some(v),
                (None, true) => Value::none(),
            };
        }
        Instr::RecordSet {
            dst,
            rec,
            field,
            val,
        } => {
            if !matches!(reg!(rec), Value::Record(_)) {
                fail!(type_err("RECORD_SET requires a Record"));
            }
            let v = reg!(val).clone();
            let mut r = if dst == rec {
                std::mem::take(&mut reg!(rec))
            } else {
                reg!(rec).clone()
            };
            if let Value::Record(rc) = &mut r {
                if rc.get(field.as_str()).is_none()
                    && rc.len() as i64 >= core.limits.max_record_fields as i64
                {
                    fail!(limit_err(
                        ErrorCode::InvalidInstruction,
                        "RECORD_SET exceeded maxRecordFields".into()
                    ));
                }
                Rc::make_mut(rc).insert(field.clone(), v);
            }
            tri!(check_depth(core, &r, "RECORD_SET"));
            set!(dst, r);
        }
        Instr::RecordHas { dst, rec, field } => {
            let b = match &reg!(rec) {
                Value::Record(r) => r.get(field.as_str()).is_some(),
                _ => fail!(type_err("RECORD_HAS requires a Record")),
            };
            set!(dst, Value::Bool(b));
        }
        Instr::RecordRemove { dst, rec, field } => {
            if !matches!(reg!(rec), Value::Record(_)) {
                fail!(type_err("RECORD_REMOVE requires a Record"));
            }
            let mut r = if dst == rec {
                std::mem::take(&mut reg!(rec))
            } else {
                reg!(rec).clone()
            };
            if let Value::Record(rc) = &mut r {
                if rc.get(field.as_str()).is_some() {
                    Rc::make_mut(rc).remove(field.as_str());
                }
            }
            set!(dst, r);
        }
        Instr::RecordKeys { dst, rec } => {
            let keys: Vec<Value> = match &reg!(rec) {
                Value::Record(r) => r.fields().keys().map(|k| Value::Str(k.clone())).collect(),
                _ => fail!(type_err("RECORD_KEYS requires a Record")),
            };
            tri!(check_list_len(core, keys.len(), "RECORD_KEYS"));
            set!(dst, Value::list(keys));
        }
        Instr::ListNew { dst } => reg!(dst) = Value::list(Vec::new()),
        Instr::ListFrom { dst, items } => {
            tri!(check_list_len(core, items.len(), "LIST_FROM"));
            let vals: Vec<Value> = items.iter().map(|r| reg!(r).clone()).collect();
            let l = Value::list(vals);
            tri!(check_depth(core, &l, "LIST_FROM"));
            set!(dst, l);
        }
        Instr::ListGet { dst, list, idx } => {
            let v = match (&reg!(list), int_index(&reg!(idx))) {
                (Value::List(l), Some(i)) => {
                    let Some(i) = i else {
                        fail!(vm_error(
                            ErrorCode::InvalidInstruction,
                            "List index out of BigInt range"
                        ))
                    };
                    match l.items().get(i as usize) {
                        Some(v) if i >= 0 => v.clone(),
                        _ => fail!(vm_error(
                            ErrorCode::InvalidInstruction,
                            "List index out of bounds"
                        )),
                    }
                }
                _ => fail!(type_err("LIST_GET requires a List and an Integer index")),
            };
            set!(dst, v);
        }
        Instr::ListSet {
            dst,
            list,
            idx,
            val,
        } => {
            let i = match (&reg!(list), int_index(&reg!(idx))) {
                (Value::List(l), Some(i)) => {
                    let Some(i) = i else {
                        fail!(vm_error(
                            ErrorCode::InvalidInstruction,
                            "List index out of BigInt range"
                        ))
                    };
                    if i < 0 || i as usize >= l.len() {
                        fail!(vm_error(
                            ErrorCode::InvalidInstruction,
                            "List index out of bounds"
                        ));
                    }
                    i as usize
                }
                _ => fail!(type_err("LIST_SET requires a List and an Integer index")),
            };
            let v = reg!(val).clone();
            let mut l = if dst == list {
                std::mem::take(&mut reg!(list))
            } else {
                reg!(list).clone()
            };
            if let Value::List(rc) = &mut l {
                Rc::make_mut(rc).set(i, v);
            }
            tri!(check_depth(core, &l, "LIST_SET"));
            set!(dst, l);
        }
        Instr::ListAppend { dst, list, val } => {
            let len = match &reg!(list) {
                Value::List(l) => l.len(),
                _ => fail!(type_err("LIST_APPEND requires a List")),
            };
            tri!(check_list_len(core, len + 1, "LIST_APPEND"));
            let v = reg!(val).clone();
            let mut l = if dst == list {
                std::mem::take(&mut reg!(list))
            } else {
                reg!(list).clone()
            };
            if let Value::List(rc) = &mut l {
                Rc::make_mut(rc).push(v);
            }
            tri!(check_depth(core, &l, "LIST_APPEND"));
            set!(dst, l);
        }
        Instr::ListLength { dst, list } => {
            let n = match &reg!(list) {
                Value::List(l) => l.len(),
                _ => fail!(type_err("LIST_LENGTH requires a List")),
            };
            set!(dst, Value::int(Int::from(n)));
        }
        Instr::ListSlice {
            dst,
            list,
            start,
            end,
        } => {
            let (Value::List(l), Some(s), Some(e)) =
                (&reg!(list), int_index(&reg!(start)), int_index(&reg!(end)))
            else {
                fail!(type_err("LIST_SLICE requires a List and Integer bounds"))
            };
            let Some(s) = s else {
                fail!(vm_error(
                    ErrorCode::InvalidInstruction,
                    "List slice start out of BigInt range"
                ))
            };
            let Some(e) = e else {
                fail!(vm_error(
                    ErrorCode::InvalidInstruction,
                    "List slice end out of BigInt range"
                ))
            };
            let n = l.len() as i64;
            let clampi = |x: i32| -> usize {
                let x = x as i64;
                (if x < 0 { (n + x).max(0) } else { x.min(n) }) as usize
            };
            let (s, e) = (clampi(s), clampi(e));
            let items = if s < e {
                l.items()[s..e].to_vec()
            } else {
                Vec::new()
            };
            set!(dst, Value::list(items));
        }
        Instr::MapNew { dst } => reg!(dst) = Value::map(Map::new()),
        Instr::MapGet { dst, map, key, opt } => {
            let v = match &reg!(map) {
                Value::Map(m) => m.get(&reg!(key)).cloned(),
                _ if *opt => fail!(type_err("MAP_GET_OPT requires a Map")),
                _ => fail!(type_err("MAP_GET requires a Map")),
            };
            reg!(dst) = match (v, opt) {
                (Some(v), false) => v,
                (None, false) => {
                    fail!(vm_error(ErrorCode::MissingState, "Key not found in map"))
                }
                (Some(v), true) => Value::some(v),
                (None, true) => Value::none(),
            };
        }
        Instr::MapSet { dst, map, key, val } => {
            if !matches!(reg!(map), Value::Map(_)) {
                fail!(type_err("MAP_SET requires a Map"));
            }
            let k = reg!(key).clone();
            let v = reg!(val).clone();
            let mut m = if dst == map {
                std::mem::take(&mut reg!(map))
            } else {
                reg!(map).clone()
            };
            if let Value::Map(rc) = &mut m {
                // One hash of the key for the size check and the insert.
                let max = usize::try_from(core.limits.max_map_size).unwrap_or(0);
                if !Rc::make_mut(rc).insert_within(k, v, max) {
                    fail!(limit_err(
                        ErrorCode::InvalidInstruction,
                        "MAP_SET exceeded maxMapSize".into()
                    ));
                }
            }
            tri!(check_depth(core, &m, "MAP_SET"));
            set!(dst, m);
        }
        Instr::MapHas { dst, map, key } => {
            let b = match &reg!(map) {
                Value::Map(m) => m.get(&reg!(key)).is_some(),
                _ => fail!(type_err("MAP_HAS requires a Map")),
            };
            set!(dst, Value::Bool(b));
        }
        Instr::MapRemove { dst, map, key } => {
            if !matches!(reg!(map), Value::Map(_)) {
                fail!(type_err("MAP_REMOVE requires a Map"));
            }
            let k = reg!(key).clone();
            let mut m = if dst == map {
                std::mem::take(&mut reg!(map))
            } else {
                reg!(map).clone()
            };
            if let Value::Map(rc) = &mut m {
                if rc.get(&k).is_some() {
                    Rc::make_mut(rc).remove(&k);
                }
            }
            set!(dst, m);
        }
        Instr::MapKeys { dst, map } => {
            let keys: Vec<Value> = match &reg!(map) {
                Value::Map(m) => m.entries().keys().cloned().collect(),
                _ => fail!(type_err("MAP_KEYS requires a Map")),
            };
            tri!(check_list_len(core, keys.len(), "MAP_KEYS"));
            set!(dst, Value::list(keys));
        }
        Instr::MapValues { dst, map } => {
            let vals: Vec<Value> = match &reg!(map) {
                Value::Map(m) => m.entries().values().cloned().collect(),
                _ => fail!(type_err("MAP_VALUES requires a Map")),
            };
            tri!(check_list_len(core, vals.len(), "MAP_VALUES"));
            set!(dst, Value::list(vals));
        }
        Instr::MapSize { dst, map } => {
            let n = match &reg!(map) {
                Value::Map(m) => m.len(),
                _ => fail!(type_err("MAP_SIZE requires a Map")),
            };
            set!(dst, Value::int(Int::from(n)));
        }
        Instr::VariantNew { dst, tag, payload } => {
            let v = Value::Variant(Rc::new(Tagged {
                tag: tag.clone(),
                value: reg!(payload).clone(),
            }));
            tri!(check_depth(core, &v, "VARIANT_NEW"));
            set!(dst, v);
        }
        Instr::VariantTag { dst, v } => {
            let t = match &reg!(v) {
                Value::Variant(t) => t.tag.clone(),
                _ => fail!(type_err("VARIANT_TAG requires a Variant")),
            };
            set!(dst, Value::Str(t));
        }
        Instr::VariantPayload { dst, v } => {
            let t = match &reg!(v) {
                Value::Variant(t) => t.value.clone(),
                _ => fail!(type_err("VARIANT_PAYLOAD requires a Variant")),
            };
            set!(dst, t);
        }
        Instr::CallBuiltin { dst, builtin, args } => {
            let b = match builtin {
                Ok(b) => *b,
                Err(e) => fail!(e.clone()),
            };
            // Up to four arguments on the stack: no allocation per call.
            let mut small: [Value; 4] = Default::default();
            let heap: Vec<Value>;
            let argv: &[Value] = if args.len() <= small.len() {
                for (slot, r) in small.iter_mut().zip(args.iter()) {
                    *slot = reg!(r).clone();
                }
                &small[..args.len()]
            } else {
                heap = args.iter().map(|r| reg!(r).clone()).collect();
                &heap
            };
            let v = match b.kind() {
                BuiltinKind::Pure => tri!(builtins::call_pure(b, argv)),
                BuiltinKind::Db => tri!(crate::db::call(core, b, argv)),
                BuiltinKind::Input => tri!(input_builtin(core, b, argv)),
            };
            match &v {
                Value::List(l) => tri!(check_list_len(core, l.len(), b.id())),
                Value::Int(Int::Big(_)) | Value::Str(_) => tri!(check_size(core, &v, b.id())),
                _ => {}
            }
            tri!(check_value_size(core, &v, b.id()));
            set!(dst, v);
        }
        Instr::StateGet { dst, key, opt } => {
            let v = core.state.get(key.as_str()).cloned();
            reg!(dst) = match (v, opt) {
                (Some(v), false) => v,
                (None, false) => {
                    fail!(vm_error(
                        ErrorCode::MissingState,
                        format!("State path not found: {key}")
                    ))
                }
                (Some(v), true) => Value::some(v),
                (None, true) => Value::none(),
            };
        }
        Instr::StateSet { key, src } => {
            let v = reg!(src).clone();
            tri!(state_set(core, key, v));
        }
        Instr::StateDelete { key } => {
            core.state.remove(key.as_str());
        }
        Instr::StateExists { dst, key } => {
            set!(dst, Value::Bool(core.state.contains_key(key.as_str())));
        }
        Instr::StateKeys { dst, prefix } => {
            let keys: Vec<Value> = core
                .state
                .keys()
                .filter(|k| k.as_str().starts_with(prefix.as_str()))
                .map(|k| Value::Str(k.clone()))
                .collect();
            tri!(check_list_len(core, keys.len(), "STATE_KEYS"));
            set!(dst, Value::list(keys));
        }
        Instr::EventNew { dst, ty, payload } => {
            let v = Value::Event(Rc::new(Tagged {
                tag: ty.clone(),
                value: reg!(payload).clone(),
            }));
            tri!(check_depth(core, &v, "EVENT_NEW"));
            set!(dst, v);
        }
        Instr::EffectNew { dst, ty, payload } => {
            let v = Value::Effect(Rc::new(Tagged {
                tag: ty.clone(),
                value: reg!(payload).clone(),
            }));
            tri!(check_depth(core, &v, "EFFECT_NEW"));
            set!(dst, v);
        }
        Instr::EventEmit { src } => {
            let v = reg!(src).clone();
            tri!(emit_events(core, &v));
        }
        Instr::EffectRequest { src } => {
            let v = reg!(src).clone();
            tri!(request_effects(core, &v));
        }
        Instr::BatchNew { dst } => reg!(dst) = Value::list(Vec::new()),
        Instr::EventBatchAppend { dst, batch, ev } => {
            let v = tri!(batch_append(core, &reg!(batch), &reg!(ev), true,));
            set!(dst, v);
        }
        Instr::EffectBatchAppend { dst, batch, eff } => {
            let v = tri!(batch_append(core, &reg!(batch), &reg!(eff), false,));
            set!(dst, v);
        }
        Instr::MachineState { dst, inst } => {
            let st = match &reg!(inst) {
                Value::Machine(mi) => mi.current_state.clone(),
                _ => fail!(type_err("MACHINE_STATE requires a StateMachineInstance")),
            };
            set!(dst, Value::Str(st));
        }
        Instr::Assert { cond, code: c } => match reg!(cond) {
            Value::Bool(true) => core.record_proof(ProofEvent::Assertion(true, *c)),
            Value::Bool(false) => {
                fail!(vm_error(
                    ErrorCode::ProofAssertionFailed,
                    format!("Assertion failed with code {c}")
                ))
            }
            _ => fail!(type_err("ASSERT requires a Boolean register")),
        },
        Instr::Assume { cond, note } => match reg!(cond) {
            Value::Bool(_) => core.record_proof(ProofEvent::Assumption(note.clone())),
            _ => fail!(type_err("ASSUME requires a Boolean register")),
        },
        Instr::ProofMark { label, val } => {
            let v = reg!(val).clone();
            core.record_proof(ProofEvent::ValueMarked(label.clone(), v));
        }
        Instr::ProofScopeBegin { label } => {
            core.record_proof(ProofEvent::ScopeBegin(label.clone()))
        }
        Instr::ProofScopeEnd { label } => core.record_proof(ProofEvent::ScopeEnd(label.clone())),
        _ => unreachable!("exec_fast runs {ins:?} itself"),
    }
    Ok(())
}

pub(crate) fn state_set(core: &mut Core, key: &Str, v: Value) -> VmResult<()> {
    if !core.state.contains_key(key.as_str())
        && core.state.len() as i64 >= core.limits.max_state_entries as i64
    {
        return Err(vm_error(
            ErrorCode::StatePathInvalid,
            "STATE_SET exceeded maxStateEntries",
        ));
    }
    core.state.insert(key.clone(), v);
    Ok(())
}

fn emit_one(core: &mut Core, t: &Tagged) -> VmResult<()> {
    if core.events.len() as i64 >= core.limits.max_events_emitted as i64 {
        return Err(vm_error(
            ErrorCode::TraceLimitExceeded,
            "EVENT_EMIT exceeded maxEventsEmitted",
        ));
    }
    core.events.push(t.clone());
    Ok(())
}

/// `EVENT_EMIT` of an event or of a batch (each event in order).
fn emit_events(core: &mut Core, v: &Value) -> VmResult<()> {
    match v {
        Value::Event(t) => emit_one(core, t),
        Value::List(l) if l.items().iter().all(|e| matches!(e, Value::Event(_))) => {
            for e in l.items() {
                if let Value::Event(t) = e {
                    emit_one(core, t)?;
                }
            }
            Ok(())
        }
        _ => Err(type_err("EVENT_EMIT requires an Event")),
    }
}

/// Appends an intent to the outbox, enforcing `maxEffectsRequested`.
pub(crate) fn push_intent(core: &mut Core, t: Tagged, op: &str) -> VmResult<()> {
    if core.outbox.len() as i64 >= core.limits.max_effects_requested as i64 {
        return Err(vm_error(
            ErrorCode::TraceLimitExceeded,
            format!("{op} exceeded maxEffectsRequested"),
        ));
    }
    core.outbox.push(t);
    Ok(())
}

/// `EFFECT_REQUEST` of an intent or of a batch (each intent in order).
fn request_effects(core: &mut Core, v: &Value) -> VmResult<()> {
    match v {
        Value::Effect(t) => push_intent(core, (**t).clone(), "EFFECT_REQUEST"),
        Value::List(l) if l.items().iter().all(|e| matches!(e, Value::Effect(_))) => {
            for e in l.items() {
                if let Value::Effect(t) = e {
                    push_intent(core, (**t).clone(), "EFFECT_REQUEST")?;
                }
            }
            Ok(())
        }
        _ => Err(type_err("EFFECT_REQUEST requires an EffectIntent")),
    }
}

fn batch_append(core: &Core, batch: &Value, item: &Value, event: bool) -> VmResult<Value> {
    let (op, ok, limit, what) = if event {
        (
            "EVENT_BATCH_APPEND",
            matches!(item, Value::Event(_)),
            core.limits.max_events_emitted,
            "maxEventsEmitted",
        )
    } else {
        (
            "EFFECT_BATCH_APPEND",
            matches!(item, Value::Effect(_)),
            core.limits.max_effects_requested,
            "maxEffectsRequested",
        )
    };
    let l = match batch {
        Value::List(l) if ok => l,
        _ => {
            let kind = if event { "Event" } else { "EffectIntent" };
            return Err(type_err(&format!("{op} requires a List and {kind}")));
        }
    };
    if l.len() as i64 >= limit as i64 {
        return Err(vm_error(
            ErrorCode::TraceLimitExceeded,
            format!("{op} exceeded {what}"),
        ));
    }
    check_list_len(core, l.len() + 1, op)?;
    let mut nl: List = (**l).clone();
    nl.push(item.clone());
    let v = Value::List(Rc::new(nl));
    check_depth(core, &v, op)?;
    Ok(v)
}

/// `EFFECT_AWAIT`: validates the intent, appends the tagged intent, returns the key.
pub(crate) fn effect_await(core: &mut Core, pid: &Str, intent: &Value) -> VmResult<Str> {
    let Value::Effect(t) = intent else {
        return Err(type_err("EFFECT_AWAIT requires an EffectIntent"));
    };
    let key = match &t.value {
        Value::Record(r) => match r.get("key") {
            Some(Value::Str(k)) => k.clone(),
            _ => {
                return Err(type_err(
                    "EFFECT_AWAIT payload must be a record with a string 'key'",
                ))
            }
        },
        _ => {
            return Err(type_err(
                "EFFECT_AWAIT payload must be a record with a string 'key'",
            ))
        }
    };
    let mut rec = Record::new();
    rec.insert(Str::new("key"), Value::Str(key.clone()));
    rec.insert(Str::new("payload"), t.value.clone());
    rec.insert(Str::new("pid"), Value::Str(pid.clone()));
    push_intent(
        core,
        Tagged {
            tag: t.tag.clone(),
            value: Value::record(rec),
        },
        "EFFECT_AWAIT",
    )?;
    Ok(key)
}

fn input_builtin(core: &Core, b: builtins::Builtin, args: &[Value]) -> VmResult<Value> {
    match b {
        builtins::Builtin::InputGet => match args {
            [Value::Str(name)] => match core.input.get(name.as_str()) {
                Some(v) => Ok(v.clone()),
                None => Err(vm_error(
                    ErrorCode::MissingInput,
                    format!("Input not found: {name}"),
                )),
            },
            _ => Err(type_err("input.get/v1 expects (Name:String)")),
        },
        _ => {
            let r: Record = core
                .input
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Ok(Value::record(r))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{discard_scalars, grow_units, push_frame, run_scalar, shrink_to};
    use crate::api::{load_program, run_program, RunOptions};
    use crate::machine::Machine;
    use crate::num::Int;
    use crate::program::{CmpOp, Code, Instr};
    use crate::value::{Str, Value};
    use std::rc::Rc;

    /// The register stack's grow and shrink shortcuts: units appended,
    /// inline values discarded, heap values dropped (no leak).
    #[test]
    fn grow_and_shrink_registers() {
        let heap = Str::new("a heap string, shared");
        let mut regs = vec![Value::Int(Int::Small(7))];
        grow_units(&mut regs, 3);
        assert_eq!(regs.len(), 4);
        assert!(regs[1..].iter().all(|v| *v == Value::Unit));
        regs[2] = Value::Str(heap.clone());
        regs[3] = Value::Bool(true);
        // Over a heap value: the truncating path drops it.
        shrink_to(&mut regs, 2);
        assert_eq!(regs.len(), 2);
        shrink_to(&mut regs, 1);
        assert_eq!(regs, vec![Value::Int(Int::Small(7))]);
        assert_eq!(heap, Str::new("a heap string, shared"));
        // Only inline values above: the fast path.
        grow_units(&mut regs, 2);
        regs[2] = Value::Int(Int::Small(-1));
        shrink_to(&mut regs, 1);
        assert_eq!(regs.len(), 1);
        grow_units(&mut regs, 1);
        discard_scalars(&mut regs, 1);
        assert_eq!(regs.len(), 1);
        // Beyond the end: nothing happens.
        shrink_to(&mut regs, 5);
        discard_scalars(&mut regs, 5);
        assert_eq!(regs.len(), 1);
        grow_units(&mut regs, 0);
        assert_eq!(regs.len(), 1);
        // A frame with scalar arguments: copies of the caller's registers
        // at the given offsets, then units.
        regs.extend([Value::Bool(false), Value::Unit]);
        let off = |r: u32| r * super::SLOT as u32;
        // SAFETY (test): registers 0..3 exist; 2 arguments for 4 registers.
        assert!(unsafe { push_frame(&mut regs, 0, &[off(0), off(1)], 4) });
        let frame = [
            Value::Int(Int::Small(7)),
            Value::Bool(false),
            Value::Unit,
            Value::Unit,
        ];
        assert_eq!(regs[3..], frame);
        // From a caller frame further up, an argument repeated.
        assert!(unsafe { push_frame(&mut regs, 3, &[off(1), off(0), off(1)], 3) });
        assert_eq!(regs.len(), 10);
        assert_eq!(
            regs[7..],
            [
                Value::Bool(false),
                Value::Int(Int::Small(7)),
                Value::Bool(false)
            ]
        );
        // A heap value as an argument: nothing pushed.
        regs.push(Value::Str(heap.clone()));
        assert!(!unsafe { push_frame(&mut regs, 0, &[off(0), off(10)], 2) });
        assert_eq!(regs.len(), 11);
        regs.truncate(1);
        assert_eq!(regs, vec![Value::Int(Int::Small(7))]);
    }

    /// `Code` bounds the registers the scalar loop names, and the loop does
    /// not start on a frame shorter than that bound (a state no validated
    /// program reaches, but `Process::regs` is public).
    #[test]
    fn scalar_loop_runs_off_the_end() {
        // Falling off the end: the loop reads the `End` sentinel at
        // `pc == len` and stops there without a step; the general path
        // then raises the error.
        let program = r#"{"registerCount":2,"constants":[{"int":"2"}],
          "instructions":[["LOAD_CONST",0,0],["ADD",1,0,0]]}"#;
        let p = Rc::new(load_program(program).unwrap());
        let mut m = Machine::new(p.clone()).unwrap();
        let mut fuel = 10;
        run_scalar::<false>(&p, &mut m.core, &mut m.procs[0], &mut fuel);
        assert_eq!((fuel, m.procs[0].frame.pc), (8, 2));
        assert!(matches!(m.procs[0].regs[1], Value::Int(Int::Small(4))));
        let err = m.run(crate::machine::Mode::Full).unwrap_err();
        assert!(err.to_string().contains("PC out of bounds"), "{err}");
        // A pc past the sentinel (a malformed frame) is not run at all.
        let mut m = Machine::new(p.clone()).unwrap();
        m.procs[0].frame.pc = 3;
        run_scalar::<false>(&p, &mut m.core, &mut m.procs[0], &mut fuel);
        assert_eq!((fuel, m.procs[0].frame.pc), (8, 3));
    }

    #[test]
    fn code_with_a_jump_past_its_end_never_runs_in_the_scalar_loop() {
        let ok = Code::new(vec![Instr::Nop, Instr::Jump { target: 2 }]);
        assert_eq!(ok.scalar_regs(), 0);
        assert_eq!(ok.len(), 2);
        for bad in [
            Instr::Jump { target: 3 },
            Instr::JumpLabel { target: 2 },
            Instr::CmpJump {
                cmp: CmpOp::Lt,
                dst: 0,
                a: 0,
                b: 0,
                target: 0,
                on: true,
            },
        ] {
            let code = Code::new(vec![Instr::Nop, bad]);
            assert_eq!(code.scalar_regs(), u32::MAX);
        }
    }

    #[test]
    fn scalar_loop_register_bound() {
        let program = r#"{"registerCount":6,"constants":[{"int":"0"},{"int":"1"}],
          "instructions":[["LOAD_CONST",0,0],["LOAD_CONST",1,1],["ADD",0,0,1],["LT",5,0,1],
            ["JUMP_IF",5,"end"],["LABEL","end"],["RETURN",0]]}"#;
        let p = Rc::new(load_program(program).unwrap());
        let f = &p.functions[p.entry as usize];
        assert_eq!(f.code.scalar_regs(), 6);
        let mut m = Machine::new(p.clone()).unwrap();
        m.procs[0].regs.truncate(3);
        let mut fuel = 100;
        run_scalar::<false>(&p, &mut m.core, &mut m.procs[0], &mut fuel);
        assert_eq!(fuel, 100, "nothing ran");
        assert_eq!(m.procs[0].frame.pc, 0);
        // With its registers back, the loop runs the program to its RETURN.
        m.procs[0].regs.resize(6, Value::Unit);
        run_scalar::<false>(&p, &mut m.core, &mut m.procs[0], &mut fuel);
        assert_eq!(fuel, 100 - 6);
        assert_eq!(m.procs[0].frame.pc, 6);
    }

    /// Fused superinstructions must leave exactly the unfused trace: every
    /// executed instruction once, in order, including the LABEL a jump lands
    /// on and the branch after a comparison.
    /// Calls, returns, in-place appends and fused loops in the scalar loop,
    /// against the general path: small enough to run under Miri, which
    /// checks the loop's unchecked reads and register stack shortcuts
    /// (`cargo +nightly miri test -p finvm --lib interp::tests`).
    #[test]
    fn scalar_calls_appends_and_loops_equal_the_general_path() {
        let program = r#"{"entrypoint":"main","constants":[{"int":"6"},{"int":"2"},{"int":"1"},{"int":"0"}],
          "functions":{
            "main":{"arity":0,"registerCount":6,"instructions":[
              ["LOAD_CONST",0,0],["CALL",1,"fib",[0]],["LIST_NEW",2],["LOAD_CONST",3,3],["LOAD_CONST",4,2],
              ["LABEL","loop"],["LT",5,3,1],["JUMP_IF_FALSE",5,"end"],["LIST_APPEND",2,2,1],
              ["ADD",3,3,4],["JUMP","loop"],["LABEL","end"],["LIST_APPEND",2,2,3],["RETURN",2]]},
            "fib":{"arity":1,"registerCount":6,"instructions":[
              ["LOAD_CONST",1,1],["LT",2,0,1],["JUMP_IF",2,"base"],["LOAD_CONST",3,2],["SUB",4,0,3],
              ["CALL",4,"fib",[4]],["SUB",5,0,1],["CALL",5,"fib",[5]],["ADD",4,4,5],["RETURN",4],
              ["LABEL","base"],["RETURN",0]]}}}"#;
        let p = Rc::new(load_program(program).unwrap());
        let mut outs = Vec::new();
        for scalar in [true, false] {
            for traced in [false, true] {
                let mut m = Machine::new(p.clone()).unwrap();
                m.core.scalar_loop = scalar;
                m.core.performance_mode = !traced;
                m.core.tracing = traced;
                m.run(crate::machine::Mode::Full).unwrap();
                let trace: Vec<(u32, u32)> = m.core.trace.iter().collect();
                outs.push((crate::api::completed_json(&m), m.core.steps, trace));
            }
        }
        // fib(6) = 8: eight appends of 8, then the counter (8).
        assert_eq!(
            outs[0].0.matches(r#"{"int":"8"}"#).count(),
            9,
            "{}",
            outs[0].0
        );
        assert_eq!(outs[0], outs[2]);
        assert_eq!(outs[1], outs[3]);
        assert_eq!(outs[1].2.len() as u64, outs[1].1);
    }

    /// Recursion deeper than the scalar loop's own stack of callers (it
    /// moves them to the call stack when full), in slices that end in the
    /// middle of it (it moves them on exit; the next slice returns through
    /// the call stack): the same result, steps and trace as the general
    /// path.
    #[test]
    fn scalar_recursion_deeper_than_the_local_frame_stack() {
        let program = r#"{"entrypoint":"main","constants":[{"int":"150"},{"int":"1"}],
          "limits":{"maxProcessStepsPerSlice":37},
          "functions":{
            "main":{"arity":0,"registerCount":2,"instructions":[
              ["LOAD_CONST",0,0],["CALL",1,"f",[0]],["RETURN",1]]},
            "f":{"arity":1,"registerCount":4,"instructions":[
              ["LOAD_CONST",1,1],["LT",2,0,1],["JUMP_IF",2,"base"],["SUB",3,0,1],
              ["CALL",3,"f",[3]],["ADD",3,3,0],["RETURN",3],["LABEL","base"],["RETURN",0]]}}}"#;
        let p = Rc::new(load_program(program).unwrap());
        let mut outs = Vec::new();
        for coalesce in [true, false] {
            for scalar in [true, false] {
                for traced in [false, true] {
                    let mut m = Machine::new(p.clone()).unwrap();
                    m.core.scalar_loop = scalar;
                    m.core.coalesce_slices = coalesce;
                    m.core.performance_mode = !traced;
                    m.core.tracing = traced;
                    m.run(crate::machine::Mode::Full).unwrap();
                    let trace: Vec<(u32, u32)> = m.core.trace.iter().collect();
                    outs.push((crate::api::completed_json(&m), m.core.steps, trace));
                }
            }
        }
        assert!(outs[0].0.contains(r#"{"int":"11325"}"#), "{}", outs[0].0);
        for o in &outs[1..] {
            assert_eq!(o.0, outs[0].0);
            assert_eq!(o.1, outs[0].1);
        }
        for i in [3, 5, 7] {
            assert_eq!(outs[i].2, outs[1].2);
        }
    }

    #[test]
    fn superinstructions_record_the_unfused_trace() {
        let program = r#"{"registerCount":6,"constants":[{"int":"0"},{"int":"1"},{"int":"2"}],
          "instructions":[["LOAD_CONST",0,0],["LOAD_CONST",1,0],["LOAD_CONST",2,1],["LOAD_CONST",3,2],
            ["LABEL","loop"],["LT",4,1,3],["JUMP_IF_FALSE",4,"end"],["ADD",0,0,1],["ADD",1,1,2],["JUMP","loop"],
            ["LABEL","end"],["RETURN",0]]}"#;
        let p = Rc::new(load_program(program).unwrap());
        let opts = RunOptions {
            performance_mode: Some(false),
            collect_trace: true,
        };
        let m = run_program(p, &opts).machine.unwrap();
        let pcs: Vec<u32> = m.core.trace.iter().map(|(_, pc)| pc).collect();
        let mut want = vec![0, 1, 2, 3];
        for _ in 0..2 {
            want.extend([4, 5, 6, 7, 8, 9]);
        }
        want.extend([4, 5, 6, 10, 11]);
        assert_eq!(pcs, want);
        assert_eq!(m.core.steps, want.len() as u64);
    }
}
