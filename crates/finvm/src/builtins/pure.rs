//! Pure builtins: `core.*`, `bigint.*`, `hash.*`, `logic.*`, `str.*`.

use super::Builtin;
use crate::error::VmResult;
use crate::value::Value;

/// Calls a pure builtin (`b.kind() == BuiltinKind::Pure`) on its arguments.
pub fn call_pure(b: Builtin, args: &[Value]) -> VmResult<Value> {
    let _ = (b, args);
    todo!("pure builtins")
}
