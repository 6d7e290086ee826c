//! Static validation (`PROCESSES.md` §6 plus `DECISIONS.md`) and lowering of a
//! validated [`ProgramDoc`] into an executable [`Program`].

use crate::builtins;
use crate::error::{ErrorCode, VmError};
use crate::opcodes::Opcode;
use crate::program::{Code, Function, Instr, Program, ProgramDoc, RawFunction, RawInstr, Reg};
use crate::value::{cmp_utf16, Str};
use std::collections::{BTreeMap, BTreeSet};

fn fail(code: ErrorCode, msg: String) -> Result<(), VmError> {
    Err(VmError::new(code, msg))
}

/// Checks a decoded program. The first failing check wins, in the
/// reference's order; duplicate labels and non-positive limits are rejected
/// as `DECISIONS.md` requires.
pub fn validate(doc: &ProgramDoc) -> Result<(), VmError> {
    if let Err(msg) = doc.limits.check() {
        let msg = msg.trim_start_matches("InvalidProgram: ").to_string();
        return fail(ErrorCode::InvalidProgram, msg);
    }
    let by_id: BTreeMap<&str, &RawFunction> =
        doc.functions.iter().map(|f| (f.id.as_str(), f)).collect();
    if !by_id.contains_key(doc.entrypoint.as_str()) {
        return fail(
            ErrorCode::InvalidProgram,
            format!("Entrypoint not found: {}", doc.entrypoint),
        );
    }
    let mut ordered: Vec<&RawFunction> = doc.functions.iter().collect();
    ordered.sort_by(|a, b| cmp_utf16(&a.id, &b.id));
    for f in ordered {
        let id = &f.id;
        if f.arity < 0 || f.register_count < 0 {
            return fail(
                ErrorCode::InvalidProgram,
                format!("Negative arity/registerCount in function {id}"),
            );
        }
        if f.register_count < f.arity {
            return fail(
                ErrorCode::InvalidRegister,
                format!(
                    "Function {id} declares registerCount {} < arity {}; arguments would be dropped",
                    f.register_count, f.arity
                ),
            );
        }
        let labels: BTreeSet<&str> = f
            .instructions
            .iter()
            .filter(|i| i.op == Opcode::Label)
            .map(|i| i.str(0))
            .collect();
        let mut seen_labels = BTreeSet::new();
        for ins in &f.instructions {
            if ins
                .registers()
                .iter()
                .any(|r| *r < 0 || *r >= f.register_count)
            {
                return fail(
                    ErrorCode::InvalidRegister,
                    format!("Register out of bounds in function {id}"),
                );
            }
            match ins.op {
                Opcode::Label if !seen_labels.insert(ins.str(0)) => {
                    return fail(
                        ErrorCode::InvalidProgram,
                        format!("Duplicate label {} in function {id}", ins.str(0)),
                    );
                }
                Opcode::Jump | Opcode::JumpIf | Opcode::JumpIfFalse => {
                    let l = if ins.op == Opcode::Jump {
                        ins.str(0)
                    } else {
                        ins.str(1)
                    };
                    if !labels.contains(l) {
                        return fail(
                            ErrorCode::InvalidJump,
                            format!("Jump to unknown label {l} in function {id}"),
                        );
                    }
                }
                Opcode::LoadConst => {
                    let idx = ins.int(1);
                    if idx < 0 || idx as usize >= doc.constants.len() {
                        return fail(
                            ErrorCode::InvalidInstruction,
                            format!("Constant index out of bounds in function {id}"),
                        );
                    }
                }
                Opcode::Call | Opcode::TailCall | Opcode::ProcSpawn | Opcode::NodeSpawn => {
                    let (target, nargs) = call_target(ins);
                    match by_id.get(target) {
                        None => {
                            return fail(
                                ErrorCode::UnknownFunction,
                                format!("Unknown function {target} in {id}"),
                            );
                        }
                        Some(t) if t.arity as usize != nargs => {
                            return fail(
                                ErrorCode::ArityMismatch,
                                format!("Arity mismatch calling {target} from {id}"),
                            );
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// The callee id and argument count of a CALL / TAIL_CALL / PROC_SPAWN / NODE_SPAWN.
fn call_target(ins: &RawInstr) -> (&str, usize) {
    match ins.op {
        Opcode::Call | Opcode::ProcSpawn => (ins.str(1), ins.regs(2).len()),
        Opcode::TailCall => (ins.str(0), ins.regs(1).len()),
        Opcode::NodeSpawn => (ins.str(2), ins.regs(3).len()),
        _ => unreachable!(),
    }
}

/// Validates and lowers a program document.
pub fn compile(doc: ProgramDoc) -> Result<Program, VmError> {
    validate(&doc)?;
    Ok(lower(doc))
}

/// Lowers a validated document (panics never: every lookup was validated).
fn lower(doc: ProgramDoc) -> Program {
    let mut raw = doc.functions;
    raw.sort_by(|a, b| cmp_utf16(&a.id, &b.id));
    let function_index: BTreeMap<String, u32> = raw
        .iter()
        .enumerate()
        .map(|(i, f)| (f.id.clone(), i as u32))
        .collect();
    let functions: Vec<Function> = raw
        .into_iter()
        .map(|f| {
            let labels: BTreeMap<&str, u32> = f
                .instructions
                .iter()
                .enumerate()
                .filter(|(_, i)| i.op == Opcode::Label)
                .map(|(pc, i)| (i.str(0), pc as u32))
                .collect();
            let mut code: Vec<Instr> = f
                .instructions
                .iter()
                .map(|i| lower_instr(i, &labels, &function_index))
                .collect();
            fuse_superinstructions(&mut code, &f.instructions);
            Function {
                id: Str::new(f.id.as_str()),
                arity: f.arity as u32,
                register_count: f.register_count as u32,
                code: Code::with_constants(code, &doc.constants),
                raw: f.instructions,
            }
        })
        .collect();
    let entry = function_index[&doc.entrypoint];
    let digest = program_digest(&doc.version, &doc.constants, &functions, &doc.entrypoint);
    Program {
        version: doc.version,
        constants: doc.constants,
        functions,
        function_index,
        entry,
        state: doc.state,
        input: doc.input,
        limits: doc.limits,
        performance_mode: doc.performance_mode,
        state_machines: doc.state_machines,
        digest,
    }
}

/// Peephole fusion of hot pairs. The second instruction of a pair stays in
/// place, so a fused instruction can always fall back to running alone, and
/// step counts, traces and registers are exactly those of the unfused code.
fn fuse_superinstructions(code: &mut [Instr], raw: &[RawInstr]) {
    use crate::program::CmpOp;
    for pc in 0..code.len() {
        let fused = match (&code[pc], code.get(pc + 1)) {
            (Instr::Jump { target }, _) if raw[*target as usize].op == Opcode::Label => {
                Some(Instr::JumpLabel { target: *target })
            }
            (first, Some(Instr::JumpIf { cond, target } | Instr::JumpIfFalse { cond, target })) => {
                let on = matches!(code[pc + 1], Instr::JumpIf { .. });
                let cmp = match first {
                    Instr::Lt { dst, a, b } => Some((CmpOp::Lt, *dst, *a, *b)),
                    Instr::Lte { dst, a, b } => Some((CmpOp::Lte, *dst, *a, *b)),
                    Instr::Gt { dst, a, b } => Some((CmpOp::Gt, *dst, *a, *b)),
                    Instr::Gte { dst, a, b } => Some((CmpOp::Gte, *dst, *a, *b)),
                    Instr::Eq { dst, a, b } => Some((CmpOp::Eq, *dst, *a, *b)),
                    Instr::Neq { dst, a, b } => Some((CmpOp::Neq, *dst, *a, *b)),
                    _ => None,
                };
                match cmp {
                    Some((cmp, dst, a, b)) if dst == *cond => Some(Instr::CmpJump {
                        cmp,
                        dst,
                        a,
                        b,
                        target: *target,
                        on,
                    }),
                    _ => None,
                }
            }
            _ => None,
        };
        if let Some(f) = fused {
            code[pc] = f;
        }
    }
    // Back edges onto a fused loop condition (the condition stays in place
    // for the loop's first entry and for a budget too small for four steps).
    for pc in 0..code.len() {
        if let Instr::JumpLabel { target } = code[pc] {
            if let Some(&Instr::CmpJump {
                cmp,
                dst,
                a,
                b,
                target: exit,
                on,
            }) = code.get(target as usize + 1)
            {
                code[pc] = Instr::LoopBack {
                    target,
                    cmp,
                    dst,
                    a,
                    b,
                    exit,
                    on,
                };
            }
        }
    }
    // A loop's last arithmetic step (`i += 1`) onto its back edge.
    for pc in 1..code.len() {
        if matches!(code[pc], Instr::JumpLabel { .. } | Instr::LoopBack { .. }) {
            code[pc - 1] = match code[pc - 1] {
                Instr::Add { dst, a, b } => Instr::ArithBack {
                    sub: false,
                    dst,
                    a,
                    b,
                },
                Instr::Sub { dst, a, b } => Instr::ArithBack {
                    sub: true,
                    dst,
                    a,
                    b,
                },
                ref other => other.clone(),
            };
        }
    }
}

fn program_digest(
    version: &str,
    constants: &[crate::value::Value],
    functions: &[Function],
    entry: &str,
) -> String {
    let mut text = format!("finvm-program-v1\nversion:{version}\nentry:{entry}\nconstants:");
    for c in constants {
        text.push_str(&crate::value::canon::canonical(c));
        text.push(';');
    }
    for f in functions {
        text.push_str(&format!(
            "\nfn:{}:{}:{}:",
            f.id.as_str(),
            f.arity,
            f.register_count
        ));
        for i in &f.raw {
            text.push_str(&i.to_json());
        }
    }
    crate::value::canon::sha256_hex(&text)
}

fn reg(r: i32) -> Reg {
    r as Reg
}

fn regs(rs: &[i32]) -> Box<[Reg]> {
    rs.iter().map(|r| *r as Reg).collect()
}

fn lower_instr(i: &RawInstr, labels: &BTreeMap<&str, u32>, funcs: &BTreeMap<String, u32>) -> Instr {
    use Opcode as O;
    let r = |n: usize| reg(i.int(n));
    let s = |n: usize| Str::new(i.str(n));
    let label = |n: usize| labels[i.str(n)];
    let func = |n: usize| funcs[i.str(n)];
    match i.op {
        O::Noop | O::Label => Instr::Nop,
        O::Halt => Instr::Halt { src: r(0) },
        O::Abort => Instr::Abort { code: i.int(0) },
        O::Jump => Instr::Jump { target: label(0) },
        O::JumpIf => Instr::JumpIf {
            cond: r(0),
            target: label(1),
        },
        O::JumpIfFalse => Instr::JumpIfFalse {
            cond: r(0),
            target: label(1),
        },
        O::Call => Instr::Call {
            dst: r(0),
            func: func(1),
            args: regs(i.regs(2)),
        },
        O::TailCall => Instr::TailCall {
            func: func(0),
            args: regs(i.regs(1)),
        },
        O::Return => Instr::Return { src: r(0) },
        O::LoadConst => Instr::LoadConst {
            dst: r(0),
            idx: i.int(1) as u32,
        },
        O::LoadInput => Instr::LoadInput {
            dst: r(0),
            key: s(1),
            context: false,
        },
        O::LoadContext => Instr::LoadInput {
            dst: r(0),
            key: s(1),
            context: true,
        },
        O::Move => Instr::Move {
            dst: r(0),
            src: r(1),
        },
        O::Clear => Instr::Clear { dst: r(0) },
        O::RecordNew => Instr::RecordNew { dst: r(0) },
        O::RecordGet => Instr::RecordGet {
            dst: r(0),
            rec: r(1),
            field: s(2),
            opt: false,
        },
        O::RecordGetOpt => Instr::RecordGet {
            dst: r(0),
            rec: r(1),
            field: s(2),
            opt: true,
        },
        O::RecordSet => Instr::RecordSet {
            dst: r(0),
            rec: r(1),
            field: s(2),
            val: r(3),
        },
        O::RecordHas => Instr::RecordHas {
            dst: r(0),
            rec: r(1),
            field: s(2),
        },
        O::RecordRemove => Instr::RecordRemove {
            dst: r(0),
            rec: r(1),
            field: s(2),
        },
        O::RecordKeys => Instr::RecordKeys {
            dst: r(0),
            rec: r(1),
        },
        O::ListNew => Instr::ListNew { dst: r(0) },
        O::ListFrom => Instr::ListFrom {
            dst: r(0),
            items: regs(i.regs(1)),
        },
        O::ListGet => Instr::ListGet {
            dst: r(0),
            list: r(1),
            idx: r(2),
        },
        O::ListSet => Instr::ListSet {
            dst: r(0),
            list: r(1),
            idx: r(2),
            val: r(3),
        },
        O::ListAppend => Instr::ListAppend {
            dst: r(0),
            list: r(1),
            val: r(2),
        },
        O::ListLength => Instr::ListLength {
            dst: r(0),
            list: r(1),
        },
        O::ListSlice => Instr::ListSlice {
            dst: r(0),
            list: r(1),
            start: r(2),
            end: r(3),
        },
        O::MapNew => Instr::MapNew { dst: r(0) },
        O::MapGet => Instr::MapGet {
            dst: r(0),
            map: r(1),
            key: r(2),
            opt: false,
        },
        O::MapGetOpt => Instr::MapGet {
            dst: r(0),
            map: r(1),
            key: r(2),
            opt: true,
        },
        O::MapSet => Instr::MapSet {
            dst: r(0),
            map: r(1),
            key: r(2),
            val: r(3),
        },
        O::MapHas => Instr::MapHas {
            dst: r(0),
            map: r(1),
            key: r(2),
        },
        O::MapRemove => Instr::MapRemove {
            dst: r(0),
            map: r(1),
            key: r(2),
        },
        O::MapKeys => Instr::MapKeys {
            dst: r(0),
            map: r(1),
        },
        O::MapValues => Instr::MapValues {
            dst: r(0),
            map: r(1),
        },
        O::MapSize => Instr::MapSize {
            dst: r(0),
            map: r(1),
        },
        O::VariantNew => Instr::VariantNew {
            dst: r(0),
            tag: s(1),
            payload: r(2),
        },
        O::VariantTag => Instr::VariantTag { dst: r(0), v: r(1) },
        O::VariantPayload => Instr::VariantPayload { dst: r(0), v: r(1) },
        O::Add => Instr::Add {
            dst: r(0),
            a: r(1),
            b: r(2),
        },
        O::Sub => Instr::Sub {
            dst: r(0),
            a: r(1),
            b: r(2),
        },
        O::Mul => Instr::Mul {
            dst: r(0),
            a: r(1),
            b: r(2),
        },
        O::Div => Instr::Div {
            dst: r(0),
            mode: match &i.args[1] {
                crate::program::Arg::Round(m) => *m,
                _ => unreachable!(),
            },
            a: r(2),
            b: r(3),
        },
        O::Mod => Instr::Mod {
            dst: r(0),
            a: r(1),
            b: r(2),
        },
        O::Neg => Instr::Neg { dst: r(0), a: r(1) },
        O::Abs => Instr::Abs { dst: r(0), a: r(1) },
        O::Min => Instr::Min {
            dst: r(0),
            a: r(1),
            b: r(2),
        },
        O::Max => Instr::Max {
            dst: r(0),
            a: r(1),
            b: r(2),
        },
        O::Clamp => Instr::Clamp {
            dst: r(0),
            v: r(1),
            lo: r(2),
            hi: r(3),
        },
        O::Eq => Instr::Eq {
            dst: r(0),
            a: r(1),
            b: r(2),
        },
        O::Neq => Instr::Neq {
            dst: r(0),
            a: r(1),
            b: r(2),
        },
        O::Lt => Instr::Lt {
            dst: r(0),
            a: r(1),
            b: r(2),
        },
        O::Lte => Instr::Lte {
            dst: r(0),
            a: r(1),
            b: r(2),
        },
        O::Gt => Instr::Gt {
            dst: r(0),
            a: r(1),
            b: r(2),
        },
        O::Gte => Instr::Gte {
            dst: r(0),
            a: r(1),
            b: r(2),
        },
        O::Compare => Instr::Compare {
            dst: r(0),
            a: r(1),
            b: r(2),
        },
        O::CallBuiltin => Instr::CallBuiltin {
            dst: r(0),
            builtin: builtins::resolve(i.str(1)).map_err(Box::new),
            args: regs(i.regs(2)),
        },
        O::StateGet => Instr::StateGet {
            dst: r(0),
            key: s(1),
            opt: false,
        },
        O::StateGetOpt => Instr::StateGet {
            dst: r(0),
            key: s(1),
            opt: true,
        },
        O::StateSet => Instr::StateSet {
            key: s(0),
            src: r(1),
        },
        O::StateDelete => Instr::StateDelete { key: s(0) },
        O::StateExists => Instr::StateExists {
            dst: r(0),
            key: s(1),
        },
        O::StateKeys => Instr::StateKeys {
            dst: r(0),
            prefix: s(1),
        },
        O::StateSnapshot => Instr::StateSnapshot { dst: r(0) },
        O::EventNew => Instr::EventNew {
            dst: r(0),
            ty: s(1),
            payload: r(2),
        },
        O::EventEmit => Instr::EventEmit { src: r(0) },
        O::EventBatchNew | O::EffectBatchNew => Instr::BatchNew { dst: r(0) },
        O::EventBatchAppend => Instr::EventBatchAppend {
            dst: r(0),
            batch: r(1),
            ev: r(2),
        },
        O::EffectNew => Instr::EffectNew {
            dst: r(0),
            ty: s(1),
            payload: r(2),
        },
        O::EffectRequest => Instr::EffectRequest { src: r(0) },
        O::EffectAwait => Instr::EffectAwait { src: r(0) },
        O::EffectBatchAppend => Instr::EffectBatchAppend {
            dst: r(0),
            batch: r(1),
            eff: r(2),
        },
        O::MachineNew => Instr::MachineNew {
            dst: r(0),
            machine: s(1),
            data: r(2),
        },
        O::MachineState => Instr::MachineState {
            dst: r(0),
            inst: r(1),
        },
        O::MachineTransition => Instr::MachineTransition {
            dst: r(0),
            inst: r(1),
            event: s(2),
        },
        O::Assert => Instr::Assert {
            cond: r(0),
            code: i.int(1),
        },
        O::Assume => Instr::Assume {
            cond: r(0),
            note: s(1),
        },
        O::InvariantCheck => Instr::InvariantCheck {
            func: funcs.get(i.str(0)).copied(),
            name: s(0),
        },
        O::ProofMark => Instr::ProofMark {
            label: s(0),
            val: r(1),
        },
        O::ProofScopeBegin => Instr::ProofScopeBegin { label: s(0) },
        O::ProofScopeEnd => Instr::ProofScopeEnd { label: s(0) },
        op => {
            // Process and distribution opcodes keep their register operands in
            // order; the function operand (spawns) is resolved to an index.
            let mut func_idx = None;
            let mut flag = false;
            let mut int = 0;
            for a in &i.args {
                match a {
                    crate::program::Arg::Str(f) if matches!(op, O::ProcSpawn | O::NodeSpawn) => {
                        func_idx = funcs.get(f.as_str()).copied()
                    }
                    crate::program::Arg::Bool(b) => flag = *b,
                    _ => {}
                }
            }
            if op == O::ProcSleepTicks {
                int = i.int(0);
            }
            Instr::Proc {
                op,
                regs: regs(&i.registers()),
                func: func_idx,
                flag,
                int,
            }
        }
    }
}
