//! The public (tagless) Value JSON codec (`FORMATS.md` §2) and a compact,
//! JavaScript-compatible JSON writer.

use super::Value;

/// Decodes a value from parsed JSON. Errors are the reference's plain texts.
pub fn decode_value(j: &serde_json::Value) -> Result<Value, String> {
    let _ = j;
    todo!("decode_value")
}

/// Appends the JSON encoding of `v` to `out` (compact).
pub fn encode_value(v: &Value, out: &mut String) {
    let _ = (v, out);
    todo!("encode_value")
}

/// The JSON encoding of `v` as a string.
pub fn value_to_json(v: &Value) -> String {
    let mut s = String::new();
    encode_value(v, &mut s);
    s
}

/// Appends `s` as a JSON string literal, escaped as `JSON.stringify` does.
pub fn write_json_str(s: &str, out: &mut String) {
    let _ = (s, out);
    todo!("write_json_str")
}
