//! The program model: the decoded document ([`ProgramDoc`], operands as
//! written) and the executable [`Program`] (dense instruction arrays with
//! labels resolved to offsets and functions/builtins to indices).

use crate::builtins::Builtin;
use crate::compact::Op;
use crate::error::VmError;
use crate::limits::Limits;
use crate::num::Rounding;
use crate::opcodes::Opcode;
use crate::value::{Str, Value};
use std::collections::BTreeMap;

/// One decoded operand, as written in JSON.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    /// A register index or an integer literal (kinds `R` and `I`).
    Int(i32),
    /// A string operand.
    Str(String),
    /// A boolean operand.
    Bool(bool),
    /// A register list.
    Regs(Vec<i32>),
    /// A rounding mode.
    Round(Rounding),
}

/// A decoded instruction: opcode plus operands in wire order.
#[derive(Clone, Debug, PartialEq)]
pub struct RawInstr {
    /// The opcode.
    pub op: Opcode,
    /// Operands, one per [`Opcode::args`] entry.
    pub args: Vec<Arg>,
}

impl RawInstr {
    /// Integer operand `i` (0-based, not counting the opcode).
    pub fn int(&self, i: usize) -> i32 {
        match &self.args[i] {
            Arg::Int(v) => *v,
            other => unreachable!("operand {i} of {:?} is {other:?}", self.op),
        }
    }

    /// String operand `i`.
    pub fn str(&self, i: usize) -> &str {
        match &self.args[i] {
            Arg::Str(v) => v,
            other => unreachable!("operand {i} of {:?} is {other:?}", self.op),
        }
    }

    /// Register-list operand `i`.
    pub fn regs(&self, i: usize) -> &[i32] {
        match &self.args[i] {
            Arg::Regs(v) => v,
            other => unreachable!("operand {i} of {:?} is {other:?}", self.op),
        }
    }

    /// Every register operand, in operand order (what validation checks).
    pub fn registers(&self) -> Vec<i32> {
        let mut out = Vec::new();
        for (kind, arg) in self.op.args().iter().zip(&self.args) {
            match (kind, arg) {
                (crate::opcodes::ArgKind::R, Arg::Int(r)) => out.push(*r),
                (crate::opcodes::ArgKind::Rs, Arg::Regs(rs)) => out.extend_from_slice(rs),
                _ => {}
            }
        }
        out
    }

    /// Renders the instruction back to its JSON array form.
    pub fn to_json(&self) -> String {
        let mut s = String::from("[");
        crate::value::json::write_json_str(self.op.name(), &mut s);
        for a in &self.args {
            s.push(',');
            match a {
                Arg::Int(v) => s.push_str(&v.to_string()),
                Arg::Str(v) => crate::value::json::write_json_str(v, &mut s),
                Arg::Bool(b) => s.push_str(if *b { "true" } else { "false" }),
                Arg::Regs(rs) => {
                    s.push('[');
                    let parts: Vec<String> = rs.iter().map(|r| r.to_string()).collect();
                    s.push_str(&parts.join(","));
                    s.push(']');
                }
                Arg::Round(m) => crate::value::json::write_json_str(m.name(), &mut s),
            }
        }
        s.push(']');
        s
    }
}

/// A decoded function.
#[derive(Clone, Debug, PartialEq)]
pub struct RawFunction {
    /// The function id (its key in `functions`).
    pub id: String,
    /// Declared arity.
    pub arity: i32,
    /// Registers per frame.
    pub register_count: i32,
    /// `proof.isInvariant` (decoded, informational).
    pub is_invariant: bool,
    /// The instructions.
    pub instructions: Vec<RawInstr>,
}

/// Where a transition goes.
#[derive(Clone, Debug, PartialEq)]
pub enum TransitionTarget {
    /// A fixed state.
    State(String),
    /// The state named by a function's String result.
    Computed(String),
    /// The current state.
    Stay,
}

/// One transition of a state machine.
#[derive(Clone, Debug, PartialEq)]
pub struct TransitionDef {
    /// The transition's name (used in messages).
    pub name: String,
    /// States it applies from.
    pub from: Vec<String>,
    /// The triggering event.
    pub event: String,
    /// Optional guard function (one argument: the instance; returns Bool).
    pub guard: Option<String>,
    /// Optional action function.
    pub action: Option<String>,
    /// The target.
    pub to: TransitionTarget,
    /// Priority; higher wins; absent counts as 0.
    pub priority: Option<i32>,
}

/// An invariant checked after every transition.
#[derive(Clone, Debug, PartialEq)]
pub struct InvariantDef {
    /// Name used in the error message.
    pub name: String,
    /// Function (one argument: the new instance; must return `true`).
    pub check: String,
    /// Optional error code shown in the message.
    pub error_code: Option<i32>,
}

/// A state-machine definition from the program's `stateMachines` object.
#[derive(Clone, Debug, PartialEq)]
pub struct StateMachineDef {
    /// The machine id.
    pub id: String,
    /// Known states (transition targets must be among them).
    pub states: Vec<String>,
    /// The initial state.
    pub initial_state: String,
    /// Transitions in declaration order.
    pub transitions: Vec<TransitionDef>,
    /// Invariants in declaration order.
    pub invariants: Vec<InvariantDef>,
}

/// The decoded program document, before validation.
#[derive(Clone, Debug)]
pub struct ProgramDoc {
    /// `version` (default `"1.0"`).
    pub version: String,
    /// The constant pool.
    pub constants: Vec<Value>,
    /// Initial state.
    pub state: BTreeMap<Str, Value>,
    /// Input map (schema inputs merged with legacy `input`).
    pub input: BTreeMap<Str, Value>,
    /// Limits.
    pub limits: Limits,
    /// `performanceMode`.
    pub performance_mode: bool,
    /// The entry function id.
    pub entrypoint: String,
    /// Functions in decode order.
    pub functions: Vec<RawFunction>,
    /// State machines by id.
    pub state_machines: BTreeMap<String, StateMachineDef>,
}

/// A register index, validated to be inside its function's frame.
pub type Reg = u32;

/// An executable instruction: operands resolved (labels to pcs, functions to
/// indices, builtins to [`Builtin`]s, strings to shared [`Str`]s).
#[derive(Clone, Debug)]
#[allow(missing_docs)]
pub enum Instr {
    Nop,
    Halt {
        src: Reg,
    },
    Abort {
        code: i32,
    },
    Jump {
        target: u32,
    },
    JumpIf {
        cond: Reg,
        target: u32,
    },
    JumpIfFalse {
        cond: Reg,
        target: u32,
    },
    Call {
        dst: Reg,
        func: u32,
        args: Box<[Reg]>,
    },
    TailCall {
        func: u32,
        args: Box<[Reg]>,
    },
    Return {
        src: Reg,
    },
    LoadConst {
        dst: Reg,
        idx: u32,
    },
    LoadInput {
        dst: Reg,
        key: Str,
        context: bool,
    },
    Move {
        dst: Reg,
        src: Reg,
    },
    Clear {
        dst: Reg,
    },
    RecordNew {
        dst: Reg,
    },
    RecordGet {
        dst: Reg,
        rec: Reg,
        field: Str,
        opt: bool,
    },
    RecordSet {
        dst: Reg,
        rec: Reg,
        field: Str,
        val: Reg,
    },
    RecordHas {
        dst: Reg,
        rec: Reg,
        field: Str,
    },
    RecordRemove {
        dst: Reg,
        rec: Reg,
        field: Str,
    },
    RecordKeys {
        dst: Reg,
        rec: Reg,
    },
    ListNew {
        dst: Reg,
    },
    ListFrom {
        dst: Reg,
        items: Box<[Reg]>,
    },
    ListGet {
        dst: Reg,
        list: Reg,
        idx: Reg,
    },
    ListSet {
        dst: Reg,
        list: Reg,
        idx: Reg,
        val: Reg,
    },
    ListAppend {
        dst: Reg,
        list: Reg,
        val: Reg,
    },
    ListLength {
        dst: Reg,
        list: Reg,
    },
    ListSlice {
        dst: Reg,
        list: Reg,
        start: Reg,
        end: Reg,
    },
    MapNew {
        dst: Reg,
    },
    MapGet {
        dst: Reg,
        map: Reg,
        key: Reg,
        opt: bool,
    },
    MapSet {
        dst: Reg,
        map: Reg,
        key: Reg,
        val: Reg,
    },
    MapHas {
        dst: Reg,
        map: Reg,
        key: Reg,
    },
    MapRemove {
        dst: Reg,
        map: Reg,
        key: Reg,
    },
    MapKeys {
        dst: Reg,
        map: Reg,
    },
    MapValues {
        dst: Reg,
        map: Reg,
    },
    MapSize {
        dst: Reg,
        map: Reg,
    },
    VariantNew {
        dst: Reg,
        tag: Str,
        payload: Reg,
    },
    VariantTag {
        dst: Reg,
        v: Reg,
    },
    VariantPayload {
        dst: Reg,
        v: Reg,
    },
    Add {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Sub {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Mul {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Div {
        dst: Reg,
        mode: Rounding,
        a: Reg,
        b: Reg,
    },
    Mod {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Neg {
        dst: Reg,
        a: Reg,
    },
    Abs {
        dst: Reg,
        a: Reg,
    },
    Min {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Max {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Clamp {
        dst: Reg,
        v: Reg,
        lo: Reg,
        hi: Reg,
    },
    Eq {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Neq {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Lt {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Lte {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Gt {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Gte {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    Compare {
        dst: Reg,
        a: Reg,
        b: Reg,
    },
    CallBuiltin {
        dst: Reg,
        builtin: Result<Builtin, Box<VmError>>,
        args: Box<[Reg]>,
    },
    StateGet {
        dst: Reg,
        key: Str,
        opt: bool,
    },
    StateSet {
        key: Str,
        src: Reg,
    },
    StateDelete {
        key: Str,
    },
    StateExists {
        dst: Reg,
        key: Str,
    },
    StateKeys {
        dst: Reg,
        prefix: Str,
    },
    StateSnapshot {
        dst: Reg,
    },
    EventNew {
        dst: Reg,
        ty: Str,
        payload: Reg,
    },
    EventEmit {
        src: Reg,
    },
    BatchNew {
        dst: Reg,
    },
    EventBatchAppend {
        dst: Reg,
        batch: Reg,
        ev: Reg,
    },
    EffectNew {
        dst: Reg,
        ty: Str,
        payload: Reg,
    },
    EffectRequest {
        src: Reg,
    },
    EffectAwait {
        src: Reg,
    },
    EffectBatchAppend {
        dst: Reg,
        batch: Reg,
        eff: Reg,
    },
    MachineNew {
        dst: Reg,
        machine: Str,
        data: Reg,
    },
    MachineState {
        dst: Reg,
        inst: Reg,
    },
    MachineTransition {
        dst: Reg,
        inst: Reg,
        event: Str,
    },
    Assert {
        cond: Reg,
        code: i32,
    },
    Assume {
        cond: Reg,
        note: Str,
    },
    InvariantCheck {
        func: Option<u32>,
        name: Str,
    },
    ProofMark {
        label: Str,
        val: Reg,
    },
    ProofScopeBegin {
        label: Str,
    },
    ProofScopeEnd {
        label: Str,
    },
    /// A process or distribution opcode, executed by the process layer from
    /// its raw operands.
    Proc {
        op: Opcode,
        regs: Box<[Reg]>,
        func: Option<u32>,
        flag: bool,
        int: i32,
    },
    /// Superinstruction: a comparison writing `dst` immediately followed by
    /// `JUMP_IF`/`JUMP_IF_FALSE` on `dst` (kept at pc + 1). Runs both steps
    /// when the budget allows two, else only the comparison.
    CmpJump {
        cmp: CmpOp,
        dst: Reg,
        a: Reg,
        b: Reg,
        target: u32,
        on: bool,
    },
    /// Superinstruction: `JUMP` to a `LABEL`, running both steps when the
    /// budget allows two.
    JumpLabel {
        target: u32,
    },
    /// Superinstruction: a loop's back edge, `JUMP` to a `LABEL` followed by
    /// a fused compare-and-branch ([`Instr::CmpJump`]): the four steps in one
    /// dispatch when the budget allows four and the operands are small ints
    /// (else it runs as [`Instr::JumpLabel`]).
    LoopBack {
        target: u32,
        cmp: CmpOp,
        dst: Reg,
        a: Reg,
        b: Reg,
        exit: u32,
        on: bool,
    },
    /// Superinstruction: `ADD` (or `SUB` when `sub`) immediately followed
    /// by a loop's back edge ([`Instr::LoopBack`] or [`Instr::JumpLabel`],
    /// kept at pc + 1): the arithmetic and the back edge's steps in one
    /// dispatch when the budget allows and the operands are small ints
    /// (else it runs as the arithmetic alone).
    ArithBack {
        sub: bool,
        dst: Reg,
        a: Reg,
        b: Reg,
    },
}

/// The comparison of a fused compare-and-branch superinstruction.
///
/// Each discriminant is the set of orderings the comparison accepts (bit 0:
/// less, bit 1: equal, bit 2: greater), so [`CmpOp::holds`] is a shift and
/// a mask: the interpreter's fused branches take no second indirect jump
/// on the kind of comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum CmpOp {
    /// `LT`
    Lt = 0b001,
    /// `LTE`
    Lte = 0b011,
    /// `GT`
    Gt = 0b100,
    /// `GTE`
    Gte = 0b110,
    /// `EQ`
    Eq = 0b010,
    /// `NEQ`
    Neq = 0b101,
}

impl CmpOp {
    /// Whether the comparison holds for two values that compare as `o`.
    #[inline(always)]
    pub fn holds(self, o: std::cmp::Ordering) -> bool {
        // `Ordering` is -1, 0 or 1: bits 0, 1, 2 of the discriminant.
        (self as u8 >> (o as i8 + 1) as u8) & 1 != 0
    }

    /// The comparison with its operands swapped (`a < b` is `b > a`).
    #[inline]
    pub fn swapped(self) -> CmpOp {
        match self {
            CmpOp::Lt => CmpOp::Gt,
            CmpOp::Lte => CmpOp::Gte,
            CmpOp::Gt => CmpOp::Lt,
            CmpOp::Gte => CmpOp::Lte,
            CmpOp::Eq => CmpOp::Eq,
            CmpOp::Neq => CmpOp::Neq,
        }
    }

    /// Whether it is `EQ` or `NEQ` (the comparisons defined on booleans).
    #[inline(always)]
    pub fn is_equality(self) -> bool {
        matches!(self, CmpOp::Eq | CmpOp::Neq)
    }
}

/// A function's executable instructions, with what the interpreter's
/// scalar loop runs, computed once when the code is built: the compact
/// encoding of the instructions (the crate-private `compact` module: one
/// `Op` per pc and an `Exit` sentinel after the last), the bound on the
/// registers they name, and that every pc their jumps and fused
/// instructions lead to is at most the code's length. The instructions cannot be changed afterwards (read
/// them through `Deref<Target = [Instr]>`), so these facts stay true.
#[derive(Clone, Debug)]
pub struct Code {
    instrs: Vec<Instr>,
    /// The compact encoding and, last, the `Exit` sentinel.
    ops: Vec<Op>,
    scalar_regs: u32,
}

impl Default for Code {
    fn default() -> Code {
        Code::new(Vec::new())
    }
}

impl Code {
    /// Wraps a function's instructions.
    pub fn new(instrs: Vec<Instr>) -> Code {
        Code::with_constants(instrs, &[])
    }

    /// Wraps a function's instructions, given the program's constant pool:
    /// a `LOAD_CONST` of a small-int constant is then encoded with its
    /// value for the scalar loop (see [`Program`]: the pool does not
    /// change once the program is built).
    pub fn with_constants(instrs: Vec<Instr>, constants: &[Value]) -> Code {
        // Code whose jumps could lead past the sentinel (not code the
        // validator lowers) never runs in the scalar loop: no frame has
        // `u32::MAX` registers.
        let scalar_regs = if pcs_within(&instrs) {
            crate::interp::scalar_register_bound(&instrs)
        } else {
            u32::MAX
        };
        let ops = crate::compact::lower(&instrs, constants);
        Code {
            instrs,
            ops,
            scalar_regs,
        }
    }

    /// One more than the highest register named by an instruction the
    /// scalar loop runs (0 when there is none): a frame with at least this
    /// many registers can run every such instruction without bounds checks.
    /// `u32::MAX` when a jump of the code could lead past its end.
    pub(crate) fn scalar_regs(&self) -> u32 {
        self.scalar_regs
    }

    /// The compact encoding: `len() + 1` ops, the last the `Exit`
    /// sentinel (the scalar loop reads them through a raw pointer, without
    /// bounds checks, at every pc up to `len()`).
    #[inline(always)]
    pub(crate) fn ops(&self) -> &[Op] {
        &self.ops
    }
}

/// Whether every pc the scalar loop can move to from `code` is at most
/// `code.len()` (where the sentinel will be): jump targets, and the pcs
/// after the instructions a fused one stands for.
fn pcs_within(code: &[Instr]) -> bool {
    let n = code.len() as u64;
    let ok = |pc: u32, plus: u64| u64::from(pc) + plus <= n;
    code.iter().enumerate().all(|(pc, ins)| match ins {
        Instr::Jump { target }
        | Instr::JumpIf { target, .. }
        | Instr::JumpIfFalse { target, .. } => ok(*target, 0),
        Instr::JumpLabel { target } => ok(*target, 1),
        Instr::CmpJump { target, .. } => ok(*target, 0) && ok(pc as u32, 2),
        Instr::LoopBack { target, exit, .. } => ok(*target, 3) && ok(*exit, 0),
        _ => true,
    })
}

impl std::ops::Deref for Code {
    type Target = [Instr];
    fn deref(&self) -> &[Instr] {
        &self.instrs
    }
}

/// An executable function.
#[derive(Clone, Debug)]
pub struct Function {
    /// The function id.
    pub id: Str,
    /// Declared arity.
    pub arity: u32,
    /// Registers per frame.
    pub register_count: u32,
    /// Executable code; `code[pc]`.
    pub code: Code,
    /// The instructions as decoded (for traces and docs).
    pub raw: Vec<RawInstr>,
}

/// A validated, executable program.
///
/// Built by [`crate::validate::compile`]; its fields are public to be read.
/// They depend on each other (the function index, the digest, and each
/// function's [`Code`], which holds the values of small-int constants), so
/// a program changed after it was built runs with unspecified results.
#[derive(Clone, Debug)]
pub struct Program {
    /// `version`.
    pub version: String,
    /// The constant pool.
    pub constants: Vec<Value>,
    /// Functions sorted by id (UTF-16 order); indices are function ids at run time.
    pub functions: Vec<Function>,
    /// Function id → index.
    pub function_index: BTreeMap<String, u32>,
    /// Index of the entry function.
    pub entry: u32,
    /// Initial state.
    pub state: BTreeMap<Str, Value>,
    /// Input map.
    pub input: BTreeMap<Str, Value>,
    /// Limits.
    pub limits: Limits,
    /// `performanceMode`.
    pub performance_mode: bool,
    /// State machines by id.
    pub state_machines: BTreeMap<String, StateMachineDef>,
    /// SHA-256 (hex) of the program's canonical executable content, used to
    /// bind snapshots to their program.
    pub digest: String,
}

impl Program {
    /// Looks a function up by id.
    pub fn function(&self, id: &str) -> Option<u32> {
        self.function_index.get(id).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::CmpOp;
    use std::cmp::Ordering;

    #[test]
    fn cmp_op_holds_is_the_comparison() {
        for x in -2i64..=2 {
            for y in -2i64..=2 {
                let o = x.cmp(&y);
                assert_eq!(CmpOp::Lt.holds(o), x < y);
                assert_eq!(CmpOp::Lte.holds(o), x <= y);
                assert_eq!(CmpOp::Gt.holds(o), x > y);
                assert_eq!(CmpOp::Gte.holds(o), x >= y);
                assert_eq!(CmpOp::Eq.holds(o), x == y);
                assert_eq!(CmpOp::Neq.holds(o), x != y);
            }
        }
        for b in [false, true] {
            assert!(CmpOp::Eq.holds(b.cmp(&b)) && !CmpOp::Neq.holds(b.cmp(&b)));
            assert!(CmpOp::Neq.holds(b.cmp(&!b)) && !CmpOp::Eq.holds(b.cmp(&!b)));
        }
        assert!(CmpOp::Eq.is_equality() && CmpOp::Neq.is_equality());
        assert!(![CmpOp::Lt, CmpOp::Lte, CmpOp::Gt, CmpOp::Gte]
            .iter()
            .any(|c| c.is_equality()));
        assert_eq!(Ordering::Less as i8, -1);
        for c in [
            CmpOp::Lt,
            CmpOp::Lte,
            CmpOp::Gt,
            CmpOp::Gte,
            CmpOp::Eq,
            CmpOp::Neq,
        ] {
            for x in -2i64..=2 {
                for y in -2i64..=2 {
                    assert_eq!(c.swapped().holds(y.cmp(&x)), c.holds(x.cmp(&y)));
                }
            }
        }
    }
}
