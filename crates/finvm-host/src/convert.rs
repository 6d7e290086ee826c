//! Value conversions between the VM and the host (`HOST.md` §3).
//!
//! Three representations meet here:
//! - [`finvm::Value`], the VM's own value (not `Send`: it shares by `Rc`);
//! - *tagless JSON* (`{"int":"42"}`, `{"record":{…}}`, `null`, …), the public
//!   Value codec, used in the journal; [`tagless`] / [`from_tagless`];
//! - *plain JSON* (`42`, `{"url":"…"}`), what the reference's JavaScript
//!   handlers see and return (`valueToJs` / `jsToValue`), used as the
//!   argument and result of the thread-safe [`crate::Handler`]s;
//!   [`value_to_js`] / [`js_to_value`].
//!
//! This module is the one home of `valueToJs` / `jsToValue` and of
//! JavaScript's `String(x)` ([`js_string`], [`js_number_text`]); the store
//! (`store::convert`, DATABASE.md §4.1) adds only its own object reading.
//!
//! Deliberate differences from the reference (no JavaScript-engine
//! artefacts, no silent data loss; `DECISIONS.md` principles 2–4):
//!
//! * Integers keep their full precision in plain JSON (the workspace's
//!   `serde_json` keeps number literals exactly), so a big integer survives
//!   `js_to_value(value_to_js(v))` where JavaScript would need a `BigInt`;
//! * an integral JSON number reads back as the exact Int of its value
//!   (`1e21` is 10^21, not the unparsable `{"int":"1e+21"}`);
//! * object keys keep the VM's order (no integer-key hoisting, `__proto__`
//!   is an ordinary key); a `{tag, payload}` object whose tag is not a
//!   string reads back as a record rather than failing.

use finvm::value::json::{decode_value, value_to_json};
use finvm::value::show::js_number_to_string;
use finvm::{Int, Record, Str, Value};
use serde_json::{Map, Number, Value as J};

/// The tagless JSON of a value, as a parsed document.
///
/// Errors only when the value nests deeper than the JSON parser accepts
/// (about 128 levels).
pub fn tagless(v: &Value) -> Result<J, String> {
    let text = value_to_json(v);
    serde_json::from_str(&text).map_err(|e| format!("value cannot be journaled: {e}"))
}

/// Decodes tagless JSON (the decoder also accepts plain `null`, booleans,
/// safe integers, strings, arrays and objects-as-records).
pub fn from_tagless(j: &J) -> Result<Value, String> {
    decode_value(j)
}

/// Compact text of a JSON document.
pub fn json_text(j: &J) -> String {
    serde_json::to_string(j).unwrap_or_else(|_| "null".to_string())
}

/// `valueToJs`: the plain-JSON view of a value a handler receives (and the
/// store keeps, DATABASE.md §4.1).
///
/// Unit → `null`, Bool, Int → number (exact), String and Symbol → string,
/// Bytes → array of numbers, List → array, Record → object, Map → object
/// keyed by `String(key)`, Variant → `{"tag","payload"}`; anything else
/// stays in its tagged form.
pub fn value_to_js(v: &Value) -> J {
    match v {
        Value::Unit => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => int_number(&i.to_string()),
        Value::Str(s) | Value::Symbol(s) => J::String(s.to_string()),
        Value::Bytes(b) => J::Array(b.iter().map(|x| J::from(*x)).collect()),
        Value::List(l) => J::Array(l.items().iter().map(value_to_js).collect()),
        Value::Record(r) => J::Object(
            r.fields()
                .iter()
                .map(|(k, x)| (k.to_string(), value_to_js(x)))
                .collect(),
        ),
        Value::Map(mp) => {
            let mut m = Map::new();
            for (k, x) in mp.entries() {
                // A later key with the same text replaces the value and keeps
                // the first position, as a JS property assignment does.
                m.insert(js_string(&value_to_js(k)), value_to_js(x));
            }
            J::Object(m)
        }
        Value::Variant(t) => {
            let mut m = Map::new();
            m.insert("tag".into(), J::String(t.tag.to_string()));
            m.insert("payload".into(), value_to_js(&t.value));
            J::Object(m)
        }
        other => tagless(other).unwrap_or(J::Null),
    }
}

/// An integer literal as a JSON number (exact, whatever its size).
fn int_number(text: &str) -> J {
    text.parse::<Number>().map(J::Number).unwrap_or(J::Null)
}

/// True when a JSON number's text is a plain integer literal (`-?digits`).
fn is_integer_literal(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// JavaScript's `String(x)` of a JSON number: an integer literal as it is
/// (the exact digits, as `String` of a BigInt gives; `-0` is `0`), anything
/// else through a double and [`js_number_to_string`].
pub fn js_number_text(n: &Number) -> String {
    let text = n.to_string();
    if is_integer_literal(&text) {
        return if text == "-0" { "0".into() } else { text };
    }
    js_number_to_string(text.parse().unwrap_or(f64::NAN))
}

/// JavaScript's `String(x)` of a plain JSON value (map keys, variant tags,
/// header and log texts).
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

/// `jsToValue`: the VM value of a handler's plain-JSON result (HOST.md §3).
///
/// `null` → Unit; boolean → Bool; an integral number → Int (exact); any
/// other number → `String(x)` as a String; string → String; array → List;
/// an object with a string `tag` and a `payload` → Variant; any other object
/// → Record. Tagged Fixed/Rational objects read back as records, as in the
/// reference; the store reads them as numbers through [`js_to_value_with`].
pub fn js_to_value(j: &J) -> Value {
    js_to_value_with(j, |_| None)
}

/// [`js_to_value`] with a hook that may read an object (at any depth) as a
/// value of its own before the Variant/Record rule applies; used by the
/// store (DATABASE.md §4.1) to keep Fixed and Rational exact.
pub fn js_to_value_with(j: &J, object: fn(&Map<String, J>) -> Option<Value>) -> Value {
    match j {
        J::Null => Value::Unit,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => number_value(n),
        J::String(s) => Value::str(s.as_str()),
        J::Array(items) => Value::list(items.iter().map(|x| js_to_value_with(x, object)).collect()),
        J::Object(o) => {
            if let Some(v) = object(o) {
                return v;
            }
            // The reference builds `{"variant":{"tag":x.tag,…}}`, which its
            // decoder rejects unless the tag is a string; a non-string tag
            // keeps the object as a record instead of failing.
            if let (Some(J::String(tag)), Some(payload)) = (o.get("tag"), o.get("payload")) {
                return Value::variant(Str::new(tag.as_str()), js_to_value_with(payload, object));
            }
            let rec: Record = o
                .iter()
                .map(|(k, x)| (Str::new(k.as_str()), js_to_value_with(x, object)))
                .collect();
            Value::record(rec)
        }
    }
}

/// A JSON number as `jsToValue` sees it: an integral number is an Int (the
/// exact value of an integer literal; `1e21` is 10^21, not the reference's
/// unparsable `{"int":"1e+21"}`), any other number the string JavaScript's
/// `String(x)` gives.
fn number_value(n: &Number) -> Value {
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

/// The plain-JSON argument a handler receives: `valueToJs(payload)`, and when
/// that is an object, the pending key first unless the payload has its own
/// `key` (`HOST.md` §4.2 step 4).
pub fn handler_arg(payload: &Value, key: Option<&str>) -> J {
    let js = value_to_js(payload);
    match (js, key) {
        (J::Object(o), Some(k)) if !o.contains_key("key") => {
            let mut m = Map::new();
            m.insert("key".into(), J::String(k.to_string()));
            m.extend(o);
            J::Object(m)
        }
        (js, _) => js,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Value {
        from_tagless(&serde_json::from_str(text).unwrap()).unwrap()
    }

    #[test]
    fn value_to_js_follows_the_reference() {
        let x = v(
            r#"{"record":{"a":{"int":"123456789012345678901234567890"},"b":{"list":[null,{"bool":true}]},"c":{"variant":{"tag":"T","payload":{"string":"p"}}},"d":{"fixed":{"value":"15","scale":1}}}}"#,
        );
        assert_eq!(
            json_text(&value_to_js(&x)),
            r#"{"a":123456789012345678901234567890,"b":[null,true],"c":{"tag":"T","payload":"p"},"d":{"fixed":{"value":"15","scale":1}}}"#
        );
    }

    #[test]
    fn js_to_value_follows_the_reference() {
        let j: J = serde_json::from_str(
            r#"{"n":1.5,"i":12,"big":123456789012345678901234567890,"e":2e3,"v":{"tag":"X","payload":[1]},"s":"t"}"#,
        )
        .unwrap();
        assert_eq!(
            value_to_json(&js_to_value(&j)),
            r#"{"record":{"big":{"int":"123456789012345678901234567890"},"e":{"int":"2000"},"i":{"int":"12"},"n":{"string":"1.5"},"s":{"string":"t"},"v":{"variant":{"tag":"X","payload":{"list":[{"int":"1"}]}}}}}"#
        );
    }

    #[test]
    fn handler_arg_puts_the_key_first_unless_present() {
        let p = v(r#"{"record":{"url":{"string":"http://x"}}}"#);
        assert_eq!(
            json_text(&handler_arg(&p, Some("k1"))),
            r#"{"key":"k1","url":"http://x"}"#
        );
        let p = v(r#"{"record":{"key":{"string":"own"}}}"#);
        assert_eq!(json_text(&handler_arg(&p, Some("k1"))), r#"{"key":"own"}"#);
    }

    #[test]
    fn map_keys_are_stringified() {
        let m = v(
            r#"{"map":[{"key":{"int":"1"},"value":{"string":"a"}},{"key":{"list":[{"int":"1"},null]},"value":null}]}"#,
        );
        assert_eq!(json_text(&value_to_js(&m)), r#"{"1":"a","1,":null}"#);
    }

    #[test]
    fn js_strings() {
        let j = |t: &str| serde_json::from_str::<J>(t).unwrap();
        assert_eq!(js_string(&j("[1,null,[2,3],true]")), "1,,2,3,true");
        assert_eq!(js_string(&j("{}")), "[object Object]");
        assert_eq!(js_string(&j("1.50")), "1.5");
        assert_eq!(js_string(&j("-0")), "0");
        assert_eq!(js_string(&j("1e-7")), "1e-7");
        assert_eq!(js_string(&j("0.000001")), "0.000001");
        assert_eq!(js_string(&j("null")), "null");
    }

    #[test]
    fn non_integral_numbers_read_as_javascript_text() {
        let j: J = serde_json::from_str(r#"[1e-7,1.50,1e21,{"tag":1,"payload":2}]"#).unwrap();
        assert_eq!(
            value_to_json(&js_to_value(&j)),
            r#"{"list":[{"string":"1e-7"},{"string":"1.5"},{"int":"1000000000000000000000"},{"record":{"payload":{"int":"2"},"tag":{"int":"1"}}}]}"#
        );
    }
}
