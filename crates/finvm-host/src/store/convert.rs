//! Value conversion between the VM and the store (HOST.md §3,
//! DATABASE.md §4.1), and the canonical JSON of the host table hash
//! (DATABASE.md §4.6).
//!
//! The store keeps what the JavaScript FinVM's `FinVMDatabase` keeps: plain
//! JSON ("JS values"), so that its bundles are byte-compatible in both
//! directions. A VM value enters through [`value_to_js`] (the driver's
//! `valueToJs`) and leaves through [`js_to_value`] (`jsToValue`).
//!
//! Deliberate differences from the reference (no JavaScript-engine
//! artefacts, no silent data loss; `DECISIONS.md` principles 2–4):
//!
//! * an Int beyond ±(2^53−1) is stored as an exact JSON number (the
//!   reference holds a BigInt and then fails to hash or export the table);
//!   reading one back gives the exact Int;
//! * a Fixed or Rational round-trips: its tagged JSON object
//!   (`{"fixed":{"value":"…","scale":n}}`, `{"rational":{"numerator":"…",
//!   "denominator":"…"}}`, exactly these keys) reads back as that number,
//!   not as a record (so a record of exactly that shape also reads back as
//!   the number);
//! * an integral JSON number reads back as the exact Int of its text
//!   (`1e21` is 10^21, not the unparsable `{"int":"1e+21"}`);
//! * object keys keep the VM's order (no integer-key hoisting, `__proto__`
//!   is an ordinary key); a `{tag, payload}` object whose tag is not a
//!   string reads back as a record rather than failing.

use finvm::value::cmp_utf16;
use finvm::value::json::value_to_json;
use finvm::value::show::js_number_to_string;
use finvm::{Int, Rational, Record, Str, Value};
use serde_json::{Map as JMap, Number, Value as J};

/// `valueToJs`: the JSON the reference's handlers receive for a VM value.
///
/// Unit → `null`; Bool → boolean; Int → number; String and Symbol → string;
/// Bytes → array of numbers; List → array; Record → object; Map → object
/// keyed by `String(key)`; Variant → `{"tag":…,"payload":…}`; every other
/// kind → its tagged JSON (`FORMATS.md` §2.2) unchanged.
pub fn value_to_js(v: &Value) -> J {
    match v {
        Value::Unit => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => J::Number(int_number(i)),
        Value::Str(s) | Value::Symbol(s) => J::String(s.to_string()),
        Value::Bytes(b) => J::Array(b.iter().map(|x| J::from(*x)).collect()),
        Value::List(l) => J::Array(l.items().iter().map(value_to_js).collect()),
        Value::Record(r) => J::Object(
            r.fields()
                .iter()
                .map(|(k, v)| (k.to_string(), value_to_js(v)))
                .collect(),
        ),
        Value::Map(m) => {
            let mut o = JMap::new();
            for (k, v) in m.entries() {
                // A later key with the same text replaces the value and keeps
                // the first position, as a JS property assignment does.
                o.insert(js_string(&value_to_js(k)), value_to_js(v));
            }
            J::Object(o)
        }
        Value::Variant(t) => {
            let mut o = JMap::new();
            o.insert("tag".into(), J::String(t.tag.to_string()));
            o.insert("payload".into(), value_to_js(&t.value));
            J::Object(o)
        }
        other => serde_json::from_str(&value_to_json(other))
            .expect("the VM's JSON encoding of a value parses"),
    }
}

/// The JSON number of an Int (exact decimal digits, however large).
fn int_number(i: &Int) -> Number {
    i.to_string()
        .parse()
        .expect("decimal digits are a JSON number")
}

/// `jsToValue`: the VM value a handler result converts to (with the
/// lossless exceptions listed in the module docs).
pub fn js_to_value(j: &J) -> Value {
    match j {
        J::Null => Value::Unit,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => number_to_value(n),
        J::String(s) => Value::str(s.as_str()),
        J::Array(items) => Value::list(items.iter().map(js_to_value).collect()),
        J::Object(o) => {
            if let (Some(J::String(tag)), Some(payload)) = (o.get("tag"), o.get("payload")) {
                return Value::variant(Str::new(tag.as_str()), js_to_value(payload));
            }
            if let Some(v) = tagged_number(o) {
                return v;
            }
            Value::record(
                o.iter()
                    .map(|(k, v)| (Str::new(k.as_str()), js_to_value(v)))
                    .collect::<Record>(),
            )
        }
    }
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

/// True when a JSON number's text is a plain integer literal (`-?digits`).
fn is_integer_literal(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A JSON number as `jsToValue` sees it: an integral number is an Int (the
/// exact value of an integer literal), any other number the string
/// JavaScript's `String(x)` gives.
fn number_to_value(n: &Number) -> Value {
    let text = n.to_string();
    if is_integer_literal(&text) {
        if let Some(i) = Int::parse_strict(&text) {
            return Value::Int(i);
        }
    }
    let x: f64 = text.parse().unwrap_or(f64::NAN);
    if x.is_finite() && x.fract() == 0.0 {
        if let Some(i) = Int::parse_strict(&format!("{x:.0}")) {
            return Value::Int(i);
        }
    }
    Value::str(js_number_to_string(x))
}

/// JavaScript `String(x)` of a JSON number: an integer literal as it is
/// (the exact digits, as `String` of a BigInt gives), anything else through
/// a double.
fn js_number_text(n: &Number) -> String {
    let text = n.to_string();
    if is_integer_literal(&text) {
        return if text == "-0" { "0".into() } else { text };
    }
    js_number_to_string(text.parse().unwrap_or(f64::NAN))
}

/// JavaScript `String(x)` of a JSON value (object keys of a converted Map).
pub fn js_string(j: &J) -> String {
    match j {
        J::Null => "null".into(),
        J::Bool(b) => b.to_string(),
        J::Number(n) => js_number_text(n),
        J::String(s) => s.clone(),
        J::Array(items) => items
            .iter()
            .map(|x| match x {
                J::Null => String::new(),
                other => js_string(other),
            })
            .collect::<Vec<_>>()
            .join(","),
        J::Object(_) => "[object Object]".into(),
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
            let text = n.to_string();
            if is_integer_literal(&text) {
                out.push_str(if text == "-0" { "0" } else { &text });
            } else {
                let x: f64 = text.parse().unwrap_or(f64::NAN);
                if x.is_finite() {
                    out.push_str(&js_number_to_string(x));
                } else {
                    out.push_str("null");
                }
            }
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
    fn js_strings() {
        assert_eq!(js_string(&j("[1,null,[2,3],true]")), "1,,2,3,true");
        assert_eq!(js_string(&j("{}")), "[object Object]");
        assert_eq!(js_string(&j("1.50")), "1.5");
        assert_eq!(js_string(&j("null")), "null");
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
