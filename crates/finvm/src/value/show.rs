//! The reference's PureScript `show` text of values and strings (`OPCODES.md` §3.4).

use super::Value;

/// PS-string-show: the string quoted with the reference's escapes.
pub fn quote(s: &str) -> String {
    let _ = s;
    todo!("quote")
}

/// The `show` text of a value.
pub fn show(v: &Value) -> String {
    let _ = v;
    todo!("show")
}
