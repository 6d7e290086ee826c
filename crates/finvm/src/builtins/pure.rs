//! Pure builtins: `core.*`, `bigint.*`, `hash.*`, `logic.*`, `str.*`
//! (`OPCODES.md` §6.9.1, as amended by `DECISIONS.md`).
//!
//! There is no generic arity check: each builtin matches its own argument
//! list, and a wrong count gets the same error as wrong types
//! (`ArityMismatch` for `core.identity` and `hash.sha256`, the builtin's
//! `TypeMismatch` for all others).

#[path = "bigint.rs"]
mod bigint;
#[path = "strings.rs"]
mod strings;

use super::{Builtin, BuiltinKind};
use crate::error::{err, ErrorCode, VmResult};
use crate::value::canon::hash_value;
use crate::value::Value;

/// Calls a pure builtin (`b.kind() == BuiltinKind::Pure`) on its arguments.
///
/// Called with a builtin of another kind it fails with `InvalidInstruction`
/// (an interpreter bug, reported rather than panicking).
pub fn call_pure(b: Builtin, args: &[Value]) -> VmResult<Value> {
    use Builtin::*;
    match b {
        CoreIdentity => match args {
            [v] => Ok(v.clone()),
            _ => err(
                ErrorCode::ArityMismatch,
                "core.identity/v1 expects 1 argument",
            ),
        },
        BigintAdd => bigint::add(args),
        BigintMul => bigint::mul(args),
        BigintModPow => bigint::mod_pow_builtin(args),
        BigintModInv => bigint::mod_inv_builtin(args),
        BigintFromBytesBE => bigint::from_bytes_be(args),
        BigintToBytesBE => bigint::to_bytes_be(args),
        HashSha256 => match args {
            [v] => Ok(Value::str(hash_value(v))),
            _ => err(
                ErrorCode::ArityMismatch,
                "hash.sha256/v1 expects 1 argument",
            ),
        },
        LogicAnd => match args {
            [Value::Bool(a), Value::Bool(b)] => Ok(Value::Bool(*a && *b)),
            _ => err(ErrorCode::TypeMismatch, "logic.and/v1 expects 2 Booleans"),
        },
        LogicOr => match args {
            [Value::Bool(a), Value::Bool(b)] => Ok(Value::Bool(*a || *b)),
            _ => err(ErrorCode::TypeMismatch, "logic.or/v1 expects 2 Booleans"),
        },
        LogicNot => match args {
            [Value::Bool(a)] => Ok(Value::Bool(!*a)),
            _ => err(ErrorCode::TypeMismatch, "logic.not/v1 expects 1 Boolean"),
        },
        StrLength => strings::length(args),
        StrConcat => strings::concat(args),
        StrSlice => strings::slice(args),
        StrIndexOf => strings::index_of(args),
        StrSplit => strings::split(args),
        StrToUpper => strings::to_upper(args),
        StrToLower => strings::to_lower(args),
        StrTrim => strings::trim(args),
        StrFromInt => strings::from_int(args),
        StrToInt => strings::to_int(args),
        StrReplace => strings::replace(args),
        DbInsert | DbGet | DbUpdate | DbDelete | DbQuery | DbCreateIndex | DbHash | CacheSet
        | CacheGet | CacheDelete | CacheClear | InputGet | InputAll => {
            debug_assert_ne!(b.kind(), BuiltinKind::Pure);
            err(
                ErrorCode::InvalidInstruction,
                format!("{}@1 is not a pure builtin", b.id()),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::VmError;
    use crate::num::Int;

    fn call(b: Builtin, args: &[Value]) -> VmResult<Value> {
        call_pure(b, args)
    }

    fn msg(r: VmResult<Value>) -> String {
        VmError::to_string(&r.unwrap_err())
    }

    #[test]
    fn every_pure_builtin_is_dispatched() {
        // Every Pure builtin rejects a call with no arguments with its own
        // documented error, never with the "not a pure builtin" fallback.
        for b in Builtin::ALL.iter().copied() {
            let r = call(b, &[Value::Unit, Value::Unit, Value::Unit, Value::Unit]);
            let m = msg(r);
            if b.kind() == BuiltinKind::Pure {
                assert!(m.contains(&format!("{}/v1", b.id())), "{m}");
            } else {
                assert!(m.starts_with("InvalidInstruction: "), "{m}");
            }
        }
    }

    #[test]
    fn core_identity() {
        let v = Value::list(vec![Value::int(1i64), Value::str("x")]);
        assert_eq!(
            call(Builtin::CoreIdentity, std::slice::from_ref(&v)).unwrap(),
            v
        );
        let e = "ArityMismatch: core.identity/v1 expects 1 argument";
        assert_eq!(msg(call(Builtin::CoreIdentity, &[])), e);
        assert_eq!(
            msg(call(
                Builtin::CoreIdentity,
                &[Value::int(1i64), Value::int(2i64)]
            )),
            e
        );
    }

    #[test]
    fn logic() {
        use Builtin::*;
        let t = Value::Bool(true);
        let f = Value::Bool(false);
        for (a, b) in [(true, true), (true, false), (false, true), (false, false)] {
            let args = [Value::Bool(a), Value::Bool(b)];
            assert_eq!(call(LogicAnd, &args).unwrap(), Value::Bool(a && b));
            assert_eq!(call(LogicOr, &args).unwrap(), Value::Bool(a || b));
        }
        assert_eq!(call(LogicNot, std::slice::from_ref(&t)).unwrap(), f);
        assert_eq!(call(LogicNot, std::slice::from_ref(&f)).unwrap(), t);
        let one = Value::int(1i64);
        assert_eq!(
            msg(call(LogicAnd, &[one.clone(), t.clone()])),
            "TypeMismatch: logic.and/v1 expects 2 Booleans"
        );
        assert_eq!(
            msg(call(LogicOr, std::slice::from_ref(&t))),
            "TypeMismatch: logic.or/v1 expects 2 Booleans"
        );
        assert_eq!(
            msg(call(LogicNot, &[t.clone(), t])),
            "TypeMismatch: logic.not/v1 expects 1 Boolean"
        );
        assert_eq!(
            msg(call(LogicNot, &[one])),
            "TypeMismatch: logic.not/v1 expects 1 Boolean"
        );
    }

    #[test]
    fn hash_sha256_arity() {
        let e = "ArityMismatch: hash.sha256/v1 expects 1 argument";
        assert_eq!(msg(call(Builtin::HashSha256, &[])), e);
        assert_eq!(
            msg(call(Builtin::HashSha256, &[Value::Unit, Value::Unit])),
            e
        );
    }

    // Needs `value::canon::hash_value` (implemented separately).
    #[test]
    fn hash_sha256_of_int_42() {
        assert_eq!(
            call(Builtin::HashSha256, &[Value::int(42i64)]).unwrap(),
            Value::str("8e5cc2a18337e30e25a6669b92076e5ce93431eefa209a68ddd13f2dd29fb36b")
        );
    }

    #[test]
    fn conformance_string_pipeline() {
        use Builtin::*;
        let up = call(StrToUpper, &[Value::str("hello")]).unwrap();
        let n = call(StrToInt, &[Value::str("42")]).unwrap();
        let s = call(StrFromInt, &[n]).unwrap();
        assert_eq!(call(StrConcat, &[up, s]).unwrap(), Value::str("HELLO42"));
    }

    #[test]
    fn bigint_dispatch() {
        use Builtin::*;
        let i = |v: i64| Value::int(v);
        assert_eq!(call(BigintModPow, &[i(4), i(13), i(497)]).unwrap(), i(445));
        assert_eq!(call(BigintModInv, &[i(10), i(17)]).unwrap(), i(12));
        assert_eq!(call(BigintAdd, &[i(1), i(2)]).unwrap(), i(3));
        assert_eq!(call(BigintMul, &[i(3), i(2)]).unwrap(), i(6));
        let bytes = call(BigintToBytesBE, &[i(65538)]).unwrap();
        assert_eq!(
            call(BigintFromBytesBE, &[bytes]).unwrap(),
            Value::Int(Int::from(65538i64))
        );
    }
}
