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
//! Integers keep their full precision in plain JSON (the workspace's
//! `serde_json` keeps number literals exactly), so a big integer survives
//! `js_to_value(value_to_js(v))` where JavaScript would need a `BigInt`.

use finvm::value::json::{decode_value, value_to_json};
use finvm::{Record, Str, Value};
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

/// `valueToJs`: the plain-JSON view of a value a handler receives.
///
/// Unit → `null`, Bool, Int → number (exact), String and Symbol → string,
/// Bytes → array of numbers, List → array, Record → object, Map → object
/// keyed by the key's string form, Variant → `{"tag","payload"}`; anything
/// else stays in its tagged form.
pub fn value_to_js(v: &Value) -> J {
    match v {
        Value::Unit => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => int_number(&i.to_string()),
        Value::Str(s) | Value::Symbol(s) => J::String(s.to_string()),
        Value::Bytes(b) => J::Array(b.iter().map(|x| J::from(*x)).collect()),
        Value::List(l) => J::Array(l.items().iter().map(value_to_js).collect()),
        Value::Record(r) => {
            let mut m = Map::new();
            for (k, x) in r.fields() {
                m.insert(k.to_string(), value_to_js(x));
            }
            J::Object(m)
        }
        Value::Map(mp) => {
            let mut m = Map::new();
            for (k, x) in mp.entries() {
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

/// JavaScript's `String(x)` of a plain JSON value (used for map keys).
pub fn js_string(j: &J) -> String {
    match j {
        J::Null => "null".into(),
        J::Bool(b) => b.to_string(),
        J::Number(n) => n.to_string(),
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

/// `jsToValue`: the VM value of a handler's plain-JSON result.
///
/// `null` → Unit; boolean → Bool; an integral number → Int (exact); any
/// other number → its text as a String; string → String; array → List; an
/// object with both `tag` and `payload` → Variant; any other object →
/// Record.
pub fn js_to_value(j: &J) -> Value {
    match j {
        J::Null => Value::Unit,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => number_value(n),
        J::String(s) => Value::str(s.as_str()),
        J::Array(items) => Value::list(items.iter().map(js_to_value).collect()),
        J::Object(o) => {
            if let (Some(tag), Some(payload)) = (o.get("tag"), o.get("payload")) {
                return Value::variant(Str::new(js_string(tag)), js_to_value(payload));
            }
            let rec: Record = o
                .iter()
                .map(|(k, x)| (Str::new(k.as_str()), js_to_value(x)))
                .collect();
            Value::record(rec)
        }
    }
}

fn number_value(n: &Number) -> Value {
    let text = n.to_string();
    let digits = text.strip_prefix('-').unwrap_or(&text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(j) = serde_json::from_str::<J>(&format!(r#"{{"int":"{text}"}}"#)) {
            if let Ok(v) = decode_value(&j) {
                return v;
            }
        }
    }
    match text.parse::<f64>() {
        Ok(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 => {
            // An integral value written with a fraction or exponent (`1.0`, `2e3`).
            Value::int(f as i64)
        }
        Ok(f) => Value::str(js_number_text(f)),
        Err(_) => Value::str(text),
    }
}

/// A JavaScript-like rendering of a non-integral number.
fn js_number_text(f: f64) -> String {
    if f.is_nan() {
        "NaN".into()
    } else if f.is_infinite() {
        if f > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else {
        format!("{f}")
    }
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
}
