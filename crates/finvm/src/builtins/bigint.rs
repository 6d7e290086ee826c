//! `bigint.*` builtins and the modular arithmetic behind them
//! (`OPCODES.md` §6.9.1, §7.1, as amended by `DECISIONS.md` "Numbers").
//!
//! Deviations from the reference (all decided in `DECISIONS.md`):
//! - `modInv` is mathematically correct for every input (the reference's
//!   `extGcd` mixes division conventions and fails or answers wrongly for
//!   negative inputs): `modInv(-30, 11) = 4`, `modInv(-1, 5) = 4`,
//!   `modInv(3, -7) = -2`.
//! - Every result is reduced into the modulus' range, also for a zero
//!   exponent: `modPow(x, 0, 1) = 0` (the reference returns 1 unreduced).
//! - A modulus of 0 is `DivisionByZero` (the reference throws a host
//!   exception, or for `modInv(a, 0)` reports no inverse).
//!
//! Range convention (kept from the reference's `modAdd`/`modMul`, which
//! compute `rem(rem(x, m) + m, m)`): for `m > 0` results lie in `[0, m)`, for
//! `m < 0` in `(m, 0]` — e.g. `modPow(2, 3, -7) = -6`. We apply it uniformly,
//! so `modPow(x, 0, -7) = -6` (the reference returns an unreduced 1 there) and
//! `modInv(3, -7) = -2`.

use crate::error::{err, ErrorCode, VmResult};
use crate::num::Int;
use crate::value::Value;
use dashu_int::fast_div::ConstDivisor;
use dashu_int::ops::UnsignedAbs;
use dashu_int::{IBig, UBig};
use std::rc::Rc;

/// `bigint.add@1`.
pub(super) fn add(args: &[Value]) -> VmResult<Value> {
    match args {
        [Value::Int(a), Value::Int(b)] => Ok(Value::Int(a.add(b))),
        _ => err(ErrorCode::TypeMismatch, "bigint.add/v1 expects 2 BigInts"),
    }
}

/// `bigint.mul@1`.
pub(super) fn mul(args: &[Value]) -> VmResult<Value> {
    match args {
        [Value::Int(a), Value::Int(b)] => Ok(Value::Int(a.mul(b))),
        _ => err(ErrorCode::TypeMismatch, "bigint.mul/v1 expects 2 BigInts"),
    }
}

/// `bigint.modPow@1 (base, exp, m)`.
pub(super) fn mod_pow_builtin(args: &[Value]) -> VmResult<Value> {
    let [Value::Int(base), Value::Int(exp), Value::Int(m)] = args else {
        return err(
            ErrorCode::TypeMismatch,
            "bigint.modPow/v1 expects 3 BigInts",
        );
    };
    if m.is_zero() {
        return err(
            ErrorCode::DivisionByZero,
            "bigint.modPow/v1: modulus is zero",
        );
    }
    match mod_pow(base, exp, m) {
        Some(r) => Ok(Value::Int(r)),
        None => err(
            ErrorCode::NoModularInverse,
            "bigint.modPow/v1: negative exponent requires a modular inverse that does not exist",
        ),
    }
}

/// `bigint.modInv@1 (a, m)`.
pub(super) fn mod_inv_builtin(args: &[Value]) -> VmResult<Value> {
    let [Value::Int(a), Value::Int(m)] = args else {
        return err(
            ErrorCode::TypeMismatch,
            "bigint.modInv/v1 expects 2 BigInts",
        );
    };
    if m.is_zero() {
        return err(
            ErrorCode::DivisionByZero,
            "bigint.modInv/v1: modulus is zero",
        );
    }
    match mod_inv(a, m) {
        Some(r) => Ok(Value::Int(r)),
        None => err(ErrorCode::ArithmeticError, "Modular inverse does not exist"),
    }
}

/// `bigint.fromBytesBE@1`: unsigned big-endian bytes (`[]` is 0). Bytes are
/// `u8`, so the reference's 0..255 range check cannot fail here.
pub(super) fn from_bytes_be(args: &[Value]) -> VmResult<Value> {
    match args {
        [Value::Bytes(b)] => Ok(Value::Int(Int::from_bytes_be(b))),
        _ => err(
            ErrorCode::TypeMismatch,
            "bigint.fromBytesBE/v1 expects Bytes",
        ),
    }
}

/// `bigint.toBytesBE@1`: minimal big-endian bytes (`0` gives `[0]`).
pub(super) fn to_bytes_be(args: &[Value]) -> VmResult<Value> {
    match args {
        [Value::Int(n)] => match n.to_bytes_be() {
            Some(b) => Ok(Value::Bytes(Rc::new(b))),
            None => err(
                ErrorCode::ArithmeticError,
                "bigint.toBytesBE/v1 expects a non-negative BigInt",
            ),
        },
        _ => err(
            ErrorCode::TypeMismatch,
            "bigint.toBytesBE/v1 expects a BigInt",
        ),
    }
}

/// Maps a residue `r ∈ [0, |m|)` into the result range for the sign of `m`
/// (`[0, m)` for `m > 0`, `(m, 0]` for `m < 0`).
fn into_range(r: UBig, m_negative: bool, abs_m: &UBig) -> Int {
    if m_negative && r != UBig::ZERO {
        Int::from_big(IBig::from(r) - IBig::from(abs_m.clone()))
    } else {
        Int::from_big(IBig::from(r))
    }
}

/// `base^exp mod m` for `m != 0`, the result in the range for the sign of `m`.
/// A negative exponent raises the modular inverse of `base` to `-exp`; `None`
/// when that inverse does not exist.
pub fn mod_pow(base: &Int, exp: &Int, m: &Int) -> Option<Int> {
    debug_assert!(!m.is_zero());
    let abs_m = m.to_ibig().unsigned_abs();
    if abs_m == UBig::ONE {
        // Everything is 0 modulo ±1 (and every number is invertible).
        return Some(Int::ZERO);
    }
    let ring = ConstDivisor::new(abs_m.clone());
    let mut b = ring.reduce(base.to_ibig());
    if exp.is_negative() {
        b = b.inv()?;
    }
    let e = exp.to_ibig().unsigned_abs();
    let r = b.pow(&e).residue();
    Some(into_range(r, m.is_negative(), &abs_m))
}

/// The inverse of `a` modulo `m != 0`, in the range for the sign of `m`;
/// `None` when `gcd(a, m) != 1`. Correct for negative `a` and `m`.
pub fn mod_inv(a: &Int, m: &Int) -> Option<Int> {
    debug_assert!(!m.is_zero());
    let abs_m = m.to_ibig().unsigned_abs();
    if abs_m == UBig::ONE {
        return Some(Int::ZERO);
    }
    let ring = ConstDivisor::new(abs_m.clone());
    let inv = ring.reduce(a.to_ibig()).inv()?;
    Some(into_range(inv.residue(), m.is_negative(), &abs_m))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::VmError;
    use proptest::prelude::*;

    fn i(v: i64) -> Value {
        Value::int(v)
    }

    fn big(s: &str) -> Int {
        Int::parse_strict(s).unwrap()
    }

    fn mp(b: i64, e: i64, m: i64) -> VmResult<Value> {
        mod_pow_builtin(&[i(b), i(e), i(m)])
    }

    fn mi(a: i64, m: i64) -> VmResult<Value> {
        mod_inv_builtin(&[i(a), i(m)])
    }

    fn msg(r: VmResult<Value>) -> String {
        VmError::to_string(&r.unwrap_err())
    }

    #[test]
    fn add_and_mul() {
        let a = Value::Int(big("-2147483648"));
        let b = Value::Int(big("99999999999999999999"));
        assert_eq!(
            add(&[a.clone(), b.clone()]).unwrap(),
            Value::Int(big("99999999997852516351"))
        );
        assert_eq!(
            add(&[b.clone(), a.clone()]).unwrap(),
            Value::Int(big("99999999997852516351"))
        );
        assert_eq!(mul(&[i(6), i(-7)]).unwrap(), i(-42));
        assert_eq!(
            mul(&[i(i64::MAX), i(2)]).unwrap(),
            Value::Int(big("18446744073709551614"))
        );
        let fixed = Value::fixed(Int::ONE, 0);
        assert_eq!(
            msg(mul(&[fixed, i(2)])),
            "TypeMismatch: bigint.mul/v1 expects 2 BigInts"
        );
        assert_eq!(
            msg(add(&[i(1)])),
            "TypeMismatch: bigint.add/v1 expects 2 BigInts"
        );
        assert_eq!(
            msg(add(&[i(1), i(2), i(3)])),
            "TypeMismatch: bigint.add/v1 expects 2 BigInts"
        );
        assert_eq!(
            msg(mul(&[])),
            "TypeMismatch: bigint.mul/v1 expects 2 BigInts"
        );
    }

    #[test]
    fn mod_pow_reference_examples() {
        assert_eq!(mp(2, 10, 1000000).unwrap(), i(1024));
        assert_eq!(mp(3, -1, 7).unwrap(), i(5));
        assert_eq!(mp(3, -2, 7).unwrap(), i(4));
        assert_eq!(mp(4, 13, 497).unwrap(), i(445));
        assert_eq!(mp(-2, 3, 7).unwrap(), i(6));
        assert_eq!(mp(5, 3, 1).unwrap(), i(0));
        assert_eq!(mp(2, 3, -7).unwrap(), i(-6));
        assert_eq!(
            msg(mp(2, -1, 4)),
            "NoModularInverse: bigint.modPow/v1: negative exponent requires a modular inverse that does not exist"
        );
    }

    #[test]
    fn mod_pow_decisions() {
        // conformance case core-modpow-with-negative-base-negative-exponent-and-zero-exponent
        assert_eq!(mp(-30, -1, 11).unwrap(), i(4));
        assert_eq!(mp(-2, 3, 7).unwrap(), i(6));
        assert_eq!(mp(-2, 0, 1).unwrap(), i(0));
        assert_eq!(mp(7, 0, 13).unwrap(), i(1));
        assert_eq!(mp(-2, -1, 7).unwrap(), i(3));
        // modPow(x, 0, ±1) = 0; a zero exponent is reduced like everything else
        assert_eq!(mp(0, 0, 1).unwrap(), i(0));
        assert_eq!(mp(5, 0, -1).unwrap(), i(0));
        assert_eq!(mp(5, 0, -7).unwrap(), i(-6));
        assert_eq!(mp(0, 0, 7).unwrap(), i(1));
        assert_eq!(mp(0, 5, 7).unwrap(), i(0));
        // everything is invertible mod 1
        assert_eq!(mp(0, -1, 1).unwrap(), i(0));
        assert_eq!(
            msg(mp(0, -1, 7)).split(':').next().unwrap(),
            "NoModularInverse"
        );
        // negative modulus: results in (m, 0]
        assert_eq!(mp(3, -1, -7).unwrap(), i(-2));
        assert_eq!(mp(7, 1, -7).unwrap(), i(0));
        // modulus 0
        for e in [-1, 0, 1] {
            assert_eq!(
                msg(mp(2, e, 0)),
                "DivisionByZero: bigint.modPow/v1: modulus is zero"
            );
        }
        // bad arguments
        let bad = "TypeMismatch: bigint.modPow/v1 expects 3 BigInts";
        assert_eq!(msg(mod_pow_builtin(&[i(1), i(2)])), bad);
        assert_eq!(msg(mod_pow_builtin(&[i(1), i(2), Value::str("3")])), bad);
        assert_eq!(msg(mod_pow_builtin(&[i(1), i(2), i(3), i(4)])), bad);
        // type errors win over a zero modulus
        assert_eq!(msg(mod_pow_builtin(&[Value::Unit, i(2), i(0)])), bad);
    }

    #[test]
    fn mod_inv_examples() {
        assert_eq!(mi(3, 7).unwrap(), i(5));
        assert_eq!(mi(10, 17).unwrap(), i(12));
        assert_eq!(
            msg(mi(2, 4)),
            "ArithmeticError: Modular inverse does not exist"
        );
        assert_eq!(
            msg(mi(6, 9)),
            "ArithmeticError: Modular inverse does not exist"
        );
        // correct for negative inputs (DECISIONS.md)
        assert_eq!(mi(-30, 11).unwrap(), i(4));
        assert_eq!(mi(-1, 5).unwrap(), i(4));
        assert_eq!(mi(-4, 7).unwrap(), i(5));
        assert_eq!(mi(-3, 7).unwrap(), i(2));
        assert_eq!(mi(3, -7).unwrap(), i(-2));
        assert_eq!(mi(123, 1).unwrap(), i(0));
        assert_eq!(mi(0, 1).unwrap(), i(0));
        assert_eq!(mi(5, -1).unwrap(), i(0));
        assert_eq!(
            msg(mi(0, 7)),
            "ArithmeticError: Modular inverse does not exist"
        );
        assert_eq!(
            msg(mi(3, 0)),
            "DivisionByZero: bigint.modInv/v1: modulus is zero"
        );
        assert_eq!(
            msg(mi(1, 0)),
            "DivisionByZero: bigint.modInv/v1: modulus is zero"
        );
        let bad = "TypeMismatch: bigint.modInv/v1 expects 2 BigInts";
        assert_eq!(msg(mod_inv_builtin(&[i(3)])), bad);
        assert_eq!(msg(mod_inv_builtin(&[i(3), Value::Bool(true)])), bad);
    }

    #[test]
    fn bytes_conversions() {
        let bytes = |v: &[u8]| Value::Bytes(Rc::new(v.to_vec()));
        assert_eq!(from_bytes_be(&[bytes(&[1, 0, 2])]).unwrap(), i(65538));
        assert_eq!(from_bytes_be(&[bytes(&[])]).unwrap(), i(0));
        assert_eq!(from_bytes_be(&[bytes(&[0, 0, 255])]).unwrap(), i(255));
        assert_eq!(
            from_bytes_be(&[bytes(&[0xff; 9])]).unwrap(),
            Value::Int(big("4722366482869645213695"))
        );
        assert_eq!(to_bytes_be(&[i(65538)]).unwrap(), bytes(&[1, 0, 2]));
        assert_eq!(to_bytes_be(&[i(0)]).unwrap(), bytes(&[0]));
        assert_eq!(
            to_bytes_be(&[Value::Int(big("4722366482869645213695"))]).unwrap(),
            bytes(&[0xff; 9])
        );
        assert_eq!(
            msg(to_bytes_be(&[i(-1)])),
            "ArithmeticError: bigint.toBytesBE/v1 expects a non-negative BigInt"
        );
        assert_eq!(
            msg(to_bytes_be(&[Value::str("1")])),
            "TypeMismatch: bigint.toBytesBE/v1 expects a BigInt"
        );
        assert_eq!(
            msg(to_bytes_be(&[])),
            "TypeMismatch: bigint.toBytesBE/v1 expects a BigInt"
        );
        let list = Value::list(vec![i(1)]);
        assert_eq!(
            msg(from_bytes_be(&[list])),
            "TypeMismatch: bigint.fromBytesBE/v1 expects Bytes"
        );
        assert_eq!(
            msg(from_bytes_be(&[bytes(&[1]), bytes(&[1])])),
            "TypeMismatch: bigint.fromBytesBE/v1 expects Bytes"
        );
    }

    #[test]
    fn large_values_are_fast_and_right() {
        // p = 2^3217 - 1 is a (969-digit) Mersenne prime.
        let p = Int::from_big(IBig::from(2u8).pow(3217) - IBig::ONE);
        let pm1 = p.sub(&Int::ONE);
        // a large base
        let a = p.quot(&Int::from(3i64)).unwrap();
        // Fermat: a^(p-1) = 1 (mod p)
        assert_eq!(mod_pow(&a, &pm1, &p).unwrap(), Int::ONE);
        // a^(p-2) is the inverse, as is modInv and a^-1
        let inv = mod_inv(&a, &p).unwrap();
        assert_eq!(mod_pow(&a, &p.sub(&Int::from(2i64)), &p).unwrap(), inv);
        assert_eq!(mod_pow(&a, &Int::from(-1i64), &p).unwrap(), inv);
        assert_eq!(a.mul(&inv).rem(&p).unwrap(), Int::ONE);
        // negative base, huge negative exponent
        let neg = mod_pow(&a.neg(), &pm1.neg(), &p).unwrap();
        assert_eq!(neg, Int::ONE);
        // negative modulus: (m, 0]
        let r = mod_pow(&a, &Int::from(2i64), &p.neg()).unwrap();
        assert!(r <= Int::ZERO && r > p.neg());
        assert_eq!(r.sub(&a.mul(&a)).rem(&p).unwrap(), Int::ZERO);
    }

    /// The reference's square-and-multiply, by naive repeated multiplication,
    /// reduced into the range for the sign of `m`.
    fn naive_pow(b: i64, e: u32, m: i64) -> i64 {
        let am = m.abs() as i128;
        let mut r: i128 = 1;
        for _ in 0..e {
            r = (r * b as i128).rem_euclid(am);
        }
        r = r.rem_euclid(am);
        if m < 0 && r != 0 {
            r -= am;
        }
        r as i64
    }

    fn in_range(r: i64, m: i64) -> bool {
        if m > 0 {
            (0..m).contains(&r)
        } else {
            r <= 0 && r > m
        }
    }

    fn gcd(a: i64, b: i64) -> i64 {
        let (mut a, mut b) = (a.abs(), b.abs());
        while b != 0 {
            (a, b) = (b, a % b);
        }
        a
    }

    proptest! {
        #[test]
        fn mod_pow_matches_naive(b in -60i64..60, e in 0u32..25, m in -40i64..40) {
            prop_assume!(m != 0);
            let got = mod_pow(&Int::from(b), &Int::from(e as i64), &Int::from(m)).unwrap();
            prop_assert_eq!(got, Int::from(naive_pow(b, e, m)));
        }

        #[test]
        fn mod_pow_negative_exponent(b in -60i64..60, e in 1u32..10, m in -40i64..40) {
            prop_assume!(m != 0);
            let got = mod_pow(&Int::from(b), &Int::from(-(e as i64)), &Int::from(m));
            if gcd(b, m) == 1 {
                let r = got.unwrap().to_i64().unwrap();
                let pos = naive_pow(b, e, m);
                prop_assert_eq!((r as i128 * pos as i128).rem_euclid(m.abs() as i128), 1 % m.abs() as i128);
                prop_assert!(in_range(r, m), "{} out of range for {}", r, m);
            } else {
                prop_assert!(got.is_none());
            }
        }

        #[test]
        fn mod_inv_inverts(a in -1_000_000i64..1_000_000, m in -10_000i64..10_000) {
            prop_assume!(m != 0);
            let got = mod_inv(&Int::from(a), &Int::from(m));
            if gcd(a, m) == 1 {
                let x = got.unwrap().to_i64().unwrap();
                prop_assert_eq!((x as i128 * a as i128).rem_euclid(m.abs() as i128), 1 % m.abs() as i128);
                prop_assert!(in_range(x, m), "{} out of range for {}", x, m);
            } else {
                prop_assert!(got.is_none());
            }
        }

        #[test]
        fn mod_inv_big_inputs(a in any::<i64>(), k in 1u32..200) {
            // modulus 2^k * 3 + 1 style numbers beyond i64, a shifted beyond i64
            let m = Int::from_big(IBig::from(3u8) * IBig::from(2u8).pow(k as usize) + IBig::ONE);
            let a = Int::from(a).mul(&Int::from_big(IBig::from(10u8).pow(25)));
            match mod_inv(&a, &m) {
                Some(x) => {
                    prop_assert_eq!(x.mul(&a).rem_euclid(&m).unwrap(), Int::ONE.rem_euclid(&m).unwrap());
                }
                None => prop_assert!(a.gcd(&m) != Int::ONE),
            }
        }
    }
}
