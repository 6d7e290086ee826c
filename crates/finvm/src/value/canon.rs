//! Canonical text of a value and its SHA-256 (`FORMATS.md` §4).

use super::Value;

/// The canonical text `canon(v)`.
pub fn canonical(v: &Value) -> String {
    let _ = v;
    todo!("canonical")
}

/// Lowercase hex SHA-256 of the UTF-8 canonical text.
pub fn hash_value(v: &Value) -> String {
    let _ = v;
    todo!("hash_value")
}

/// Lowercase hex SHA-256 of arbitrary text.
pub fn sha256_hex(text: &str) -> String {
    let _ = text;
    todo!("sha256_hex")
}
