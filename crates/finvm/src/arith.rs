//! Arithmetic on values: `ADD SUB MUL DIV MOD NEG ABS` with the promotions of
//! `DECISIONS.md` (Int→Fixed with a Fixed, Int/Fixed→Rational with a
//! Rational; Rational results normalised; Int `DIV` honours its rounding).
//! The `i64` fast paths live in the interpreter loop; these are the general paths.

use crate::error::{err, ErrorCode, VmResult};
use crate::num::{Fixed, Int, Rational, Rounding};
use crate::value::Value;
use std::rc::Rc;

/// A binary arithmetic operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinOp {
    /// `ADD`
    Add,
    /// `SUB`
    Sub,
    /// `MUL`
    Mul,
    /// `DIV` with a rounding mode
    Div(Rounding),
}

impl BinOp {
    fn name(self) -> &'static str {
        match self {
            BinOp::Add => "ADD",
            BinOp::Sub => "SUB",
            BinOp::Mul => "MUL",
            BinOp::Div(_) => "DIV",
        }
    }
}

enum Num<'a> {
    I(&'a Int),
    F(&'a Fixed),
    R(&'a Rational),
}

fn num(v: &Value) -> Option<Num<'_>> {
    match v {
        Value::Int(i) => Some(Num::I(i)),
        Value::Fixed(f) => Some(Num::F(f)),
        Value::Rational(r) => Some(Num::R(r)),
        _ => None,
    }
}

fn to_rational(n: &Num<'_>) -> VmResult<Rational> {
    match n {
        Num::I(i) => Ok(Rational::from_int(i)),
        Num::F(f) => f.to_rational(),
        Num::R(r) => Ok((*r).clone()),
    }
}

/// `a op b` for any numeric kinds.
pub fn binary(op: BinOp, a: &Value, b: &Value) -> VmResult<Value> {
    let (Some(x), Some(y)) = (num(a), num(b)) else {
        return err(
            ErrorCode::TypeMismatch,
            format!("{} requires numeric types", op.name()),
        );
    };
    match (&x, &y) {
        (Num::I(p), Num::I(q)) => int_op(op, p, q).map(Value::Int),
        (Num::R(_), _) | (_, Num::R(_)) => {
            let (p, q) = (to_rational(&x)?, to_rational(&y)?);
            let r = match op {
                BinOp::Add => p.add(&q)?,
                BinOp::Sub => p.sub(&q)?,
                BinOp::Mul => p.mul(&q)?,
                BinOp::Div(_) => p.div(&q)?,
            };
            Ok(Value::Rational(Rc::new(r)))
        }
        _ => {
            let as_fixed = |n: &Num<'_>| match n {
                Num::I(i) => Fixed::new((*i).clone(), 0),
                Num::F(f) => (*f).clone(),
                Num::R(_) => unreachable!(),
            };
            let (p, q) = (as_fixed(&x), as_fixed(&y));
            let r = match op {
                BinOp::Add => p.add(&q)?,
                BinOp::Sub => p.sub(&q)?,
                BinOp::Mul => p.mul(&q)?,
                BinOp::Div(mode) => p.div(&q, mode)?,
            };
            Ok(Value::Fixed(Rc::new(r)))
        }
    }
}

/// Integer arithmetic (`DIV` rounds by its mode).
pub fn int_op(op: BinOp, a: &Int, b: &Int) -> VmResult<Int> {
    Ok(match op {
        BinOp::Add => a.add(b),
        BinOp::Sub => a.sub(b),
        BinOp::Mul => a.mul(b),
        BinOp::Div(mode) => match a.div_round(b, mode) {
            Some(q) => q,
            None => return err(ErrorCode::DivisionByZero, "BigInt division by zero"),
        },
    })
}

/// `MOD`: truncated remainder of two Ints.
pub fn modulo(a: &Value, b: &Value) -> VmResult<Value> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => match x.rem(y) {
            Some(r) => Ok(Value::Int(r)),
            None => err(ErrorCode::DivisionByZero, "BigInt modulo by zero"),
        },
        _ => err(ErrorCode::TypeMismatch, "MOD requires integer registers"),
    }
}

/// `NEG`.
pub fn neg(a: &Value) -> VmResult<Value> {
    match a {
        Value::Int(i) => Ok(Value::Int(i.neg())),
        Value::Fixed(f) => Ok(Value::Fixed(Rc::new(f.neg()))),
        Value::Rational(r) => Ok(Value::Rational(Rc::new(r.neg()?))),
        _ => err(ErrorCode::TypeMismatch, "NEG requires numeric type"),
    }
}

/// `ABS`.
pub fn abs(a: &Value) -> VmResult<Value> {
    match a {
        Value::Int(i) => Ok(Value::Int(i.abs())),
        Value::Fixed(f) => Ok(Value::Fixed(Rc::new(f.abs()))),
        Value::Rational(r) => Ok(Value::Rational(Rc::new(r.abs()?))),
        _ => err(ErrorCode::TypeMismatch, "ABS requires numeric type"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i(v: i64) -> Value {
        Value::int(v)
    }
    fn fx(v: i64, s: i32) -> Value {
        Value::fixed(Int::from(v), s)
    }
    fn q(n: i64, d: i64) -> Value {
        Value::rational(Rational::new(Int::from(n), Int::from(d)))
    }

    #[test]
    fn promotions() {
        assert_eq!(binary(BinOp::Add, &i(1), &fx(50, 2)).unwrap(), fx(150, 2));
        assert_eq!(binary(BinOp::Mul, &q(1, 2), &q(1, 2)).unwrap(), q(1, 4));
        assert_eq!(
            binary(BinOp::Div(Rounding::Down), &q(1, 1), &i(3)).unwrap(),
            q(1, 3)
        );
        assert_eq!(binary(BinOp::Add, &fx(5, 1), &q(1, 2)).unwrap(), q(1, 1));
        assert_eq!(
            binary(BinOp::Div(Rounding::Down), &i(-7), &i(2)).unwrap(),
            i(-4)
        );
        assert_eq!(
            binary(BinOp::Div(Rounding::TowardZero), &i(-7), &i(2)).unwrap(),
            i(-3)
        );
        assert_eq!(neg(&q(1, -2)).unwrap(), q(1, 2));
        assert_eq!(abs(&q(1, -2)).unwrap(), q(1, 2));
        assert!(binary(BinOp::Add, &Value::str("a"), &i(1)).is_err());
        assert_eq!(modulo(&i(-7), &i(2)).unwrap(), i(-1));
        assert_eq!(
            binary(BinOp::Div(Rounding::Down), &i(1), &i(0))
                .unwrap_err()
                .to_string(),
            "DivisionByZero: BigInt division by zero"
        );
    }
}
