//! Value conversion between the VM and the store (DATABASE.md §4.1), and
//! the canonical JSON of the host table hash (DATABASE.md §4.6).
//!
//! The store keeps what the JavaScript FinVM's `FinVMDatabase` keeps: plain
//! JSON ("JS values"), so that its bundles are byte-compatible in both
//! directions. A VM value enters through the driver's `valueToJs` and leaves
//! through its `jsToValue` ([`crate::convert`], HOST.md §3, which also holds
//! the shared deviations from the reference: exact big ints, `1e21` read
//! as 10^21, non-string tags kept as records).
//!
//! The one store-specific difference (no silent data loss in a store;
//! `DECISIONS.md` principle 2, `COMPATIBILITY.md` "Host-side store"): a
//! Fixed or Rational round-trips. Its tagged JSON object
//! (`{"fixed":{"value":"…","scale":n}}`, `{"rational":{"numerator":"…",
//! "denominator":"…"}}`, exactly these keys) reads back as that number, not
//! as a record (so a record of exactly that shape also reads back as the
//! number).

use crate::convert::{js_number_text, js_to_value_with};
use finvm::value::cmp_utf16;
use finvm::{Int, Rational, Value};
use serde_json::{Map as JMap, Value as J};

/// `jsToValue` as the store reads its contents back: the driver's
/// [`crate::convert::js_to_value`], except that tagged Fixed and Rational
/// objects read back as those numbers (`tagged_number`).
pub fn js_to_value(j: &J) -> Value {
    js_to_value_with(j, tagged_number)
}

/// A Fixed or Rational from its exact tagged JSON object, if `o` is one.
fn tagged_number(o: &JMap<String, J>) -> Option<Value> {
    if o.len() != 1 {
        return None;
    }
    let (tag, inner) = o.iter().next()?;
    let inner = inner.as_object().filter(|i| i.len() == 2)?;
    let int = |k: &str| inner.get(k)?.as_str().and_then(Int::parse_strict);
    match tag.as_str() {
        "fixed" => {
            let value = int("value")?;
            let scale = inner.get("scale")?.as_i64()?;
            Some(Value::fixed(value, i32::try_from(scale).ok()?))
        }
        "rational" => Some(Value::rational(Rational::new(
            int("numerator")?,
            int("denominator")?,
        ))),
        _ => None,
    }
}

/// Appends the canonical JSON of the host table hash (DATABASE.md §4.6):
/// `JSON.stringify` for scalars, arrays in order, object keys sorted by
/// UTF-16 code units, no whitespace.
pub fn canonical_json_into(j: &J, out: &mut String) {
    match j {
        J::Null => out.push_str("null"),
        J::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        J::Number(n) => {
            // `JSON.stringify` writes a number as `String(x)`, except that a
            // non-finite one (a literal beyond the double range) is `null`.
            let text = js_number_text(n);
            let finite = !matches!(text.as_str(), "Infinity" | "-Infinity" | "NaN");
            out.push_str(if finite { &text } else { "null" });
        }
        J::String(s) => push_json_string(s, out),
        J::Array(items) => {
            out.push('[');
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json_into(x, out);
            }
            out.push(']');
        }
        J::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort_by(|a, b| cmp_utf16(a, b));
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json_string(k, out);
                out.push(':');
                canonical_json_into(&o[k.as_str()], out);
            }
            out.push('}');
        }
    }
}

/// `JSON.stringify` of a string (serde_json escapes exactly the characters
/// JavaScript escapes, with lowercase `\u00xx`).
fn push_json_string(s: &str, out: &mut String) {
    out.push_str(&serde_json::to_string(s).expect("a string serialises"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::value_to_js;
    use finvm::value::json::value_to_json;

    fn j(text: &str) -> J {
        serde_json::from_str(text).unwrap()
    }

    fn canon(text: &str) -> String {
        let mut out = String::new();
        canonical_json_into(&j(text), &mut out);
        out
    }

    #[test]
    fn vm_to_js() {
        let v = finvm::value::json::decode_value(&j(r#"{"record":{"b":{"int":"1"},"a":{"list":[null,{"bool":true},{"symbol":"s"},{"bytes":[1,2]}]},"f":{"fixed":{"value":"100","scale":2}},"v":{"variant":{"tag":"T","payload":{"string":"x"}}},"m":{"map":[{"key":{"int":"2"},"value":{"string":"two"}},{"key":{"string":"k"},"value":null}]},"big":{"int":"123456789012345678901234567890"}}}"#)).unwrap();
        assert_eq!(
            value_to_js(&v).to_string(),
            r#"{"a":[null,true,"s",[1,2]],"b":1,"big":123456789012345678901234567890,"f":{"fixed":{"value":"100","scale":2}},"m":{"2":"two","k":null},"v":{"tag":"T","payload":"x"}}"#
        );
    }

    #[test]
    fn js_to_vm() {
        let v = js_to_value(&j(
            r#"{"n":30,"x":1.5,"e":1e21,"neg":-0,"t":{"tag":"T","payload":[1]},"f":{"fixed":{"value":"-5","scale":1}},"r":{"rational":{"numerator":"1","denominator":"3"}},"notf":{"fixed":{"value":"1","scale":2,"z":0}},"badtag":{"tag":1,"payload":2}}"#,
        ));
        assert_eq!(
            value_to_json(&v),
            concat!(
                r#"{"record":{"badtag":{"record":{"payload":{"int":"2"},"tag":{"int":"1"}}},"e":{"int":"1000000000000000000000"},"#,
                r#""f":{"fixed":{"value":"-5","scale":1}},"n":{"int":"30"},"neg":{"int":"0"},"#,
                r#""notf":{"record":{"fixed":{"record":{"scale":{"int":"2"},"value":{"string":"1"},"z":{"int":"0"}}}}},"#,
                r#""r":{"rational":{"numerator":"1","denominator":"3"}},"t":{"variant":{"tag":"T","payload":{"list":[{"int":"1"}]}}},"x":{"string":"1.5"}}}"#
            )
        );
    }

    #[test]
    fn round_trip_of_data_values() {
        let text = r#"{"record":{"a":{"fixed":{"value":"12345","scale":2}},"b":{"list":[{"int":"-7"},{"string":"é\n"}]},"c":{"rational":{"numerator":"-2","denominator":"7"}},"d":{"variant":{"tag":"Ok","payload":{"int":"99999999999999999999"}}}}}"#;
        let v = finvm::value::json::decode_value(&j(text)).unwrap();
        assert_eq!(js_to_value(&value_to_js(&v)), v);
    }

    #[test]
    fn canonical_json() {
        assert_eq!(
            canon(r#"{"id":"rec0","timestamp":0,"content":{"v":1}}"#),
            r#"{"content":{"v":1},"id":"rec0","timestamp":0}"#
        );
        assert_eq!(
            canon(r#"{"b":[1.50,-0,1e2],"a":"\u0001\"\\é"}"#),
            r#"{"a":"\u0001\"\\é","b":[1.5,0,100]}"#
        );
        // UTF-16 order: U+1F600 is 0xD83D 0xDE00, before U+FF5E.
        assert_eq!(
            canon("{\"\u{ff5e}\":1,\"\u{1f600}\":2}"),
            "{\"\u{1f600}\":2,\"\u{ff5e}\":1}"
        );
    }
}
