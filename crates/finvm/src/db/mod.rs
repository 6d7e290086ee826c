//! The in-VM database and cache builtins (`db.*`, `cache.*`), stored in state
//! under `__finvm.db` / `__finvm.cache` (`DATABASE.md` §1–2).

use crate::builtins::Builtin;
use crate::error::{vm_error, ErrorCode, VmResult};
use crate::machine::Core;
use crate::value::Value;

/// Calls a `db.*` or `cache.*` builtin.
pub fn call(core: &mut Core, b: Builtin, args: &[Value]) -> VmResult<Value> {
    let _ = (core, args);
    Err(vm_error(
        ErrorCode::UnknownBuiltin,
        format!("Builtin {} v1 not found", b.id()),
    ))
}
