//! The compact encoding the interpreter's scalar loop runs.
//!
//! Every function's [`Instr`]s are lowered once, when its
//! [`Code`](crate::program::Code) is built, into a parallel array of
//! [`Op`]s: one per instruction, at the same pc. An `Op` is 32 bytes,
//! aligned, so that a pc scales by a shift (an `Instr` is 40), names
//! registers by their byte offset in the frame (no shift per operand at run
//! time), holds a call's (up to four) arguments inline, folds the six
//! comparisons into one variant with a [`CmpOp`], carries a small-int
//! constant's value, and turns every instruction the scalar loop does not
//! run into
//! [`Op::Exit`], which hands the pc to the general path (that then runs the
//! `Instr` at the same pc). Nothing is decided here that the loop does not
//! check again: an `Op` is only a faster way to read its `Instr`.

use crate::num::Int;
use crate::program::{CmpOp, Instr, Reg};
use crate::value::Value;

/// A register operand: the register's byte offset from the frame's first
/// register (`index * size_of::<Value>()`).
pub(crate) type Off = u32;

/// One instruction of the compact encoding (see the module docs). Jump
/// targets are pcs, as in [`Instr`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(align(32))]
pub(crate) enum Op {
    /// An instruction the scalar loop does not run, the end of the code, or
    /// an operand that does not fit the encoding: the general path.
    Exit,
    Nop,
    Move {
        dst: Off,
        src: Off,
    },
    LoadConst {
        dst: Off,
        idx: u32,
    },
    /// `LOAD_CONST` of a small-int constant, with its value.
    LoadInt {
        dst: Off,
        x: i64,
    },
    Add {
        dst: Off,
        a: Off,
        b: Off,
    },
    Sub {
        dst: Off,
        a: Off,
        b: Off,
    },
    Mul {
        dst: Off,
        a: Off,
        b: Off,
    },
    /// `LT` … `NEQ`.
    Cmp {
        cmp: CmpOp,
        dst: Off,
        a: Off,
        b: Off,
    },
    Jump {
        target: u32,
    },
    /// `JUMP_IF` (`on`) or `JUMP_IF_FALSE` (`!on`). `skip`: the target is
    /// a no-op (a `LABEL`), which a taken branch runs in the same dispatch
    /// when the budget allows.
    JumpIf {
        on: bool,
        skip: bool,
        cond: Off,
        target: u32,
    },
    JumpLabel {
        target: u32,
    },
    LoopBack {
        cmp: CmpOp,
        on: bool,
        target: u32,
        dst: Off,
        a: Off,
        b: Off,
        exit: u32,
    },
    ArithBack {
        sub: bool,
        dst: Off,
        a: Off,
        b: Off,
    },
    /// A compare-and-branch; `skip` as for [`Op::JumpIf`].
    CmpJump {
        cmp: CmpOp,
        on: bool,
        skip: bool,
        dst: Off,
        a: Off,
        b: Off,
        target: u32,
    },
    /// A small-int `LOAD_CONST` into `k` followed by a compare-and-branch
    /// (the [`Op::CmpJump`] at pc + 1, kept) of register `a` with it,
    /// `cmp` oriented as `a` against the constant: the three steps (four
    /// with `skip`) in one dispatch when the budget allows.
    LoadCmpJump {
        cmp: CmpOp,
        on: bool,
        skip: bool,
        k: Off,
        dst: Off,
        a: Off,
        target: u32,
        x: i64,
    },
    /// A small-int `LOAD_CONST` into `k` followed by an `ADD` or `SUB`
    /// (at pc + 1, kept) of register `a` and it: `a + x`, `a - x`, or with
    /// `rev`, `x - a`. The two steps in one dispatch when the budget
    /// allows.
    LoadArith {
        sub: bool,
        rev: bool,
        k: Off,
        dst: Off,
        a: Off,
        x: i64,
    },
    ListGet {
        dst: Off,
        list: Off,
        idx: Off,
    },
    /// `LIST_APPEND` whose destination is its list register.
    ListAppend {
        list: Off,
        val: Off,
    },
    /// `CALL` with at most [`MAX_ARGS`] arguments, whose offsets are
    /// `args[..n]` (the rest unused). `dst` is the
    /// caller's register index for the result (a frame's `ret`).
    Call {
        n: u8,
        dst: Reg,
        func: u32,
        args: [Off; MAX_ARGS],
    },
    Return {
        src: Off,
    },
    /// `ADD` (or `SUB` when `sub`) into `dst` followed by `RETURN dst` (at
    /// pc + 1, kept): the two steps in one dispatch when the budget allows
    /// (the result goes to the caller only: the frame is dropped).
    ArithReturn {
        sub: bool,
        dst: Off,
        a: Off,
        b: Off,
    },
}

/// The most arguments a compact `CALL` passes (more: [`Op::Exit`]).
pub(crate) const MAX_ARGS: usize = 4;

/// A register's byte offset, when it fits an [`Off`].
fn off(r: Reg) -> Option<Off> {
    r.checked_mul(std::mem::size_of::<Value>() as u32)
}

/// Lowers `code` to its compact encoding: one [`Op`] per instruction, then
/// an [`Op::Exit`] sentinel. `constants` is the program's constant pool
/// (may be empty: then every `LOAD_CONST` reads the pool at run time).
pub(crate) fn lower(code: &[Instr], constants: &[Value]) -> Vec<Op> {
    let mut ops: Vec<Op> = code
        .iter()
        .map(|ins| lower_one(ins, constants).unwrap_or(Op::Exit))
        .collect();
    // Branches to a no-op run it in the same dispatch (its pc is below
    // `code.len()`, so the pc after it is at most the sentinel's).
    let nop_at = |target: u32| matches!(code.get(target as usize), Some(Instr::Nop));
    for op in &mut ops {
        if let Op::JumpIf { skip, target, .. } | Op::CmpJump { skip, target, .. } = op {
            *skip = nop_at(*target);
        }
    }
    for pc in 1..ops.len() {
        let (first, second) = (&ops[pc - 1], &ops[pc]);
        if let Some(fused) = load_cmp_jump(first, second)
            .or_else(|| load_arith(first, second))
            .or_else(|| arith_return(first, second))
        {
            ops[pc - 1] = fused;
        }
    }
    ops.push(Op::Exit);
    ops
}

/// An `ADD` or `SUB`: whether it subtracts, and its registers.
fn add_or_sub(op: &Op) -> Option<(bool, Off, Off, Off)> {
    match *op {
        Op::Add { dst, a, b } => Some((false, dst, a, b)),
        Op::Sub { dst, a, b } => Some((true, dst, a, b)),
        _ => None,
    }
}

/// The [`Op::ArithReturn`] for an `ADD` or `SUB` whose result is returned
/// at once.
fn arith_return(arith: &Op, ret: &Op) -> Option<Op> {
    let (sub, dst, a, b) = add_or_sub(arith)?;
    match *ret {
        Op::Return { src } if src == dst => Some(Op::ArithReturn { sub, dst, a, b }),
        _ => None,
    }
}

/// The [`Op::LoadArith`] for a small-int load followed by an `ADD` or
/// `SUB` that reads the loaded register on one side only.
fn load_arith(load: &Op, arith: &Op) -> Option<Op> {
    let &Op::LoadInt { dst: k, x } = load else {
        return None;
    };
    let (sub, dst, a, b) = add_or_sub(arith)?;
    let (rev, a) = match (a == k, b == k) {
        (false, true) => (false, a),
        // `k + b` is `b + k`.
        (true, false) => (sub, b),
        _ => return None,
    };
    Some(Op::LoadArith {
        sub,
        rev,
        k,
        dst,
        a,
        x,
    })
}

/// The [`Op::LoadCmpJump`] for a small-int load followed by a
/// compare-and-branch that reads the loaded register on one side only.
fn load_cmp_jump(load: &Op, branch: &Op) -> Option<Op> {
    let (
        &Op::LoadInt { dst: k, x },
        &Op::CmpJump {
            cmp,
            on,
            skip,
            dst,
            a,
            b,
            target,
        },
    ) = (load, branch)
    else {
        return None;
    };
    let (cmp, a) = match (a == k, b == k) {
        (false, true) => (cmp, a),
        (true, false) => (cmp.swapped(), b),
        _ => return None,
    };
    Some(Op::LoadCmpJump {
        cmp,
        on,
        skip,
        k,
        dst,
        a,
        target,
        x,
    })
}

/// The [`Op`] for one instruction (`None`: [`Op::Exit`]).
fn lower_one(ins: &Instr, constants: &[Value]) -> Option<Op> {
    let three = |dst: &Reg, a: &Reg, b: &Reg| Some((off(*dst)?, off(*a)?, off(*b)?));
    let cmp = |cmp: CmpOp, dst: &Reg, a: &Reg, b: &Reg| {
        let (dst, a, b) = three(dst, a, b)?;
        Some(Op::Cmp { cmp, dst, a, b })
    };
    Some(match ins {
        Instr::Nop => Op::Nop,
        Instr::Move { dst, src } => Op::Move {
            dst: off(*dst)?,
            src: off(*src)?,
        },
        Instr::LoadConst { dst, idx } => match constants.get(*idx as usize) {
            Some(Value::Int(Int::Small(x))) => Op::LoadInt {
                dst: off(*dst)?,
                x: *x,
            },
            _ => Op::LoadConst {
                dst: off(*dst)?,
                idx: *idx,
            },
        },
        Instr::Add { dst, a, b } => {
            let (dst, a, b) = three(dst, a, b)?;
            Op::Add { dst, a, b }
        }
        Instr::Sub { dst, a, b } => {
            let (dst, a, b) = three(dst, a, b)?;
            Op::Sub { dst, a, b }
        }
        Instr::Mul { dst, a, b } => {
            let (dst, a, b) = three(dst, a, b)?;
            Op::Mul { dst, a, b }
        }
        Instr::Lt { dst, a, b } => cmp(CmpOp::Lt, dst, a, b)?,
        Instr::Lte { dst, a, b } => cmp(CmpOp::Lte, dst, a, b)?,
        Instr::Gt { dst, a, b } => cmp(CmpOp::Gt, dst, a, b)?,
        Instr::Gte { dst, a, b } => cmp(CmpOp::Gte, dst, a, b)?,
        Instr::Eq { dst, a, b } => cmp(CmpOp::Eq, dst, a, b)?,
        Instr::Neq { dst, a, b } => cmp(CmpOp::Neq, dst, a, b)?,
        Instr::Jump { target } => Op::Jump { target: *target },
        Instr::JumpIf { cond, target } => Op::JumpIf {
            on: true,
            skip: false,
            cond: off(*cond)?,
            target: *target,
        },
        Instr::JumpIfFalse { cond, target } => Op::JumpIf {
            on: false,
            skip: false,
            cond: off(*cond)?,
            target: *target,
        },
        Instr::JumpLabel { target } => Op::JumpLabel { target: *target },
        Instr::LoopBack {
            target,
            cmp,
            dst,
            a,
            b,
            exit,
            on,
        } => {
            let (dst, a, b) = three(dst, a, b)?;
            Op::LoopBack {
                cmp: *cmp,
                on: *on,
                target: *target,
                dst,
                a,
                b,
                exit: *exit,
            }
        }
        Instr::ArithBack { sub, dst, a, b } => {
            let (dst, a, b) = three(dst, a, b)?;
            Op::ArithBack {
                sub: *sub,
                dst,
                a,
                b,
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
            let (dst, a, b) = three(dst, a, b)?;
            Op::CmpJump {
                cmp: *cmp,
                on: *on,
                skip: false,
                dst,
                a,
                b,
                target: *target,
            }
        }
        Instr::ListGet { dst, list, idx } => {
            let (dst, list, idx) = three(dst, list, idx)?;
            Op::ListGet { dst, list, idx }
        }
        Instr::ListAppend { dst, list, val } if dst == list => Op::ListAppend {
            list: off(*list)?,
            val: off(*val)?,
        },
        Instr::Call { dst, func, args: a } if a.len() <= MAX_ARGS => {
            let mut args = [0; MAX_ARGS];
            for (o, r) in args.iter_mut().zip(a.iter()) {
                *o = off(*r)?;
            }
            Op::Call {
                n: a.len() as u8,
                dst: *dst,
                func: *func,
                args,
            }
        }
        Instr::Return { src } => Op::Return { src: off(*src)? },
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_op_is_smaller_than_an_instr() {
        assert_eq!(std::mem::size_of::<Op>(), 32);
        assert_eq!(std::mem::size_of::<Value>(), 16);
    }

    #[test]
    fn branches_to_a_no_op_skip_it() {
        let code = vec![
            Instr::JumpIf { cond: 0, target: 3 },
            Instr::CmpJump {
                cmp: CmpOp::Lt,
                dst: 0,
                a: 1,
                b: 2,
                target: 3,
                on: true,
            },
            Instr::JumpIfFalse { cond: 0, target: 4 },
            Instr::Nop,
            Instr::Return { src: 0 },
        ];
        let skips: Vec<bool> = lower(&code, &[])
            .iter()
            .filter_map(|op| match op {
                Op::JumpIf { skip, .. } | Op::CmpJump { skip, .. } => Some(*skip),
                _ => None,
            })
            .collect();
        assert_eq!(skips, [true, true, false]);
    }

    #[test]
    fn small_int_loads_fuse_with_what_reads_them_on_one_side() {
        let pool = [Value::Int(Int::Small(5))];
        let load = Instr::LoadConst { dst: 1, idx: 0 };
        let branch = |a, b| Instr::CmpJump {
            cmp: CmpOp::Lt,
            dst: 2,
            a,
            b,
            target: 0,
            on: true,
        };
        let first = |code: Vec<Instr>| lower(&code, &pool)[0];
        assert!(matches!(
            first(vec![load.clone(), branch(0, 1)]),
            Op::LoadCmpJump {
                cmp: CmpOp::Lt,
                k: 16,
                a: 0,
                x: 5,
                ..
            }
        ));
        assert!(matches!(
            first(vec![load.clone(), branch(1, 0)]),
            Op::LoadCmpJump {
                cmp: CmpOp::Gt,
                k: 16,
                a: 0,
                x: 5,
                ..
            }
        ));
        assert!(matches!(
            first(vec![load.clone(), branch(1, 1)]),
            Op::LoadInt { .. }
        ));
        assert!(matches!(
            first(vec![load.clone(), Instr::Sub { dst: 3, a: 1, b: 0 }]),
            Op::LoadArith {
                sub: true,
                rev: true,
                k: 16,
                dst: 48,
                a: 0,
                x: 5
            }
        ));
        assert!(matches!(
            first(vec![load.clone(), Instr::Add { dst: 3, a: 1, b: 0 }]),
            Op::LoadArith {
                sub: false,
                rev: false,
                ..
            }
        ));
        assert!(matches!(
            first(vec![load.clone(), Instr::Mul { dst: 3, a: 1, b: 0 }]),
            Op::LoadInt { .. }
        ));
        // Not a small int: no fusion.
        let text = [Value::Bool(true)];
        assert!(matches!(
            lower(&[load, branch(0, 1)], &text)[0],
            Op::LoadConst { .. }
        ));
    }

    #[test]
    fn arithmetic_fuses_with_the_return_of_its_result() {
        let ret = |src| Instr::Return { src };
        let add = Instr::Add { dst: 2, a: 0, b: 1 };
        assert_eq!(
            lower(&[add.clone(), ret(2)], &[])[0],
            Op::ArithReturn {
                sub: false,
                dst: 32,
                a: 0,
                b: 16
            }
        );
        assert!(matches!(
            lower(&[Instr::Sub { dst: 2, a: 0, b: 1 }, ret(2)], &[])[0],
            Op::ArithReturn { sub: true, .. }
        ));
        assert!(matches!(lower(&[add, ret(1)], &[])[0], Op::Add { .. }));
    }

    #[test]
    fn lowering_keeps_pcs_and_scales_registers() {
        let code = vec![
            Instr::LoadConst { dst: 2, idx: 7 },
            Instr::Lt { dst: 1, a: 0, b: 2 },
            Instr::JumpIfFalse { cond: 1, target: 4 },
            Instr::Call {
                dst: 3,
                func: 5,
                args: vec![0, 2].into(),
            },
            Instr::Call {
                dst: 3,
                func: 5,
                args: vec![0; MAX_ARGS + 1].into(),
            },
            Instr::ListAppend {
                dst: 1,
                list: 2,
                val: 3,
            },
            Instr::ListAppend {
                dst: 2,
                list: 2,
                val: 3,
            },
            Instr::Move {
                dst: u32::MAX,
                src: 0,
            },
            Instr::Return { src: 3 },
        ];
        let ops = lower(&code, &[]);
        let with_pool = lower(&code, &vec![Value::Bool(true); 8]);
        assert_eq!(with_pool[0], ops[0], "not a small int: read at run time");
        let pool: Vec<Value> = (0..8).map(|i| Value::Int(Int::Small(i - 4))).collect();
        assert_eq!(lower(&code, &pool)[0], Op::LoadInt { dst: 32, x: 3 });
        assert_eq!(
            ops,
            vec![
                Op::LoadConst { dst: 32, idx: 7 },
                Op::Cmp {
                    cmp: CmpOp::Lt,
                    dst: 16,
                    a: 0,
                    b: 32
                },
                Op::JumpIf {
                    on: false,
                    skip: false,
                    cond: 16,
                    target: 4
                },
                Op::Call {
                    n: 2,
                    dst: 3,
                    func: 5,
                    args: [0, 32, 0, 0]
                },
                Op::Exit,
                Op::Exit,
                Op::ListAppend { list: 32, val: 48 },
                Op::Exit,
                Op::Return { src: 48 },
                Op::Exit,
            ]
        );
    }
}
