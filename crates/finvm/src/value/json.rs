//! The public (tagless) Value JSON codec (`FORMATS.md` §2) and a compact,
//! JavaScript-compatible JSON writer.
//!
//! Numbers: serde_json is built with `arbitrary_precision`, so a
//! [`serde_json::Number`] keeps its literal text and every decision here is
//! made on the exact decimal value of that text, never on a rounded double.

use super::show::show_number;
use super::{cmp_utf16, List, Map, Record, Str, Value};
use crate::num::{Int, Rational};
use serde_json::Value as J;
use std::fmt::Write as _;
use std::rc::Rc;

type JObject = serde_json::Map<String, J>;

/// The largest integer a bare JSON number may denote (2^53 − 1).
pub const MAX_SAFE_INTEGER: i64 = 9_007_199_254_740_991;

/// The integer a JSON number denotes, when its exact value is a whole number
/// within ±(2^53 − 1) (`DECISIONS.md`). `1.0`, `1e2` and `-0` are whole
/// numbers; `1.5` and `9007199254740992` are not accepted.
pub fn number_as_safe_int(n: &serde_json::Number) -> Option<i64> {
    exact_safe_integer(n.as_str())
}

/// The reference's "Int32" rule (`FORMATS.md` §0.2): a whole number in
/// [−2^31, 2^31 − 1] (`3.0` and `-0` accepted).
pub fn number_as_int32(n: &serde_json::Number) -> Option<i32> {
    number_as_safe_int(n).and_then(|v| i32::try_from(v).ok())
}

/// The PureScript `show` of the double a JSON number parses to
/// (`1.5`, `3000000000.0`, `1e+21`, `Infinity`).
pub fn show_json_number(n: &serde_json::Number) -> String {
    // Rust's float parse is correctly rounded, as JSON.parse is; an
    // overflowing literal gives ±Infinity.
    show_number(n.as_str().parse::<f64>().unwrap_or(f64::NAN))
}

/// Exact whole-number value of a JSON number literal
/// (`-?digits[.digits][(e|E)[+-]digits]`) if it is within ±(2^53 − 1).
fn exact_safe_integer(text: &str) -> Option<i64> {
    let (neg, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mant, exp) = match body.find(['e', 'E']) {
        Some(p) => (&body[..p], Some(&body[p + 1..])),
        None => (body, None),
    };
    let (int_part, frac_part) = mant.split_once('.').unwrap_or((mant, ""));
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    if !int_part.bytes().all(|b| b.is_ascii_digit())
        || !frac_part.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut e: i64 = match exp {
        None => 0,
        Some(t) => parse_exponent(t)?,
    };
    let digits = int_part
        .as_bytes()
        .iter()
        .chain(frac_part.as_bytes())
        .copied();
    // significant digits: drop leading zeros, then trailing zeros (into the exponent)
    let sig: Vec<u8> = digits.skip_while(|d| *d == b'0').collect();
    if sig.is_empty() {
        return Some(0);
    }
    let trailing = sig.iter().rev().take_while(|d| **d == b'0').count();
    let sig = &sig[..sig.len() - trailing];
    e = e - frac_part.len() as i64 + trailing as i64;
    // 2^53 − 1 has 16 digits
    if e < 0 || sig.len() as i64 + e > 16 {
        return None;
    }
    let mut v: i64 = 0;
    for d in sig {
        v = v * 10 + i64::from(d - b'0');
    }
    for _ in 0..e {
        v *= 10;
    }
    if v > MAX_SAFE_INTEGER {
        return None;
    }
    Some(if neg { -v } else { v })
}

/// An exponent `[+-]digits`, saturated far beyond any meaningful range.
fn parse_exponent(t: &str) -> Option<i64> {
    let (neg, digits) = match t.as_bytes().first() {
        Some(b'+') => (false, &t[1..]),
        Some(b'-') => (true, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut v: i64 = 0;
    for b in digits.bytes() {
        v = (v * 10 + i64::from(b - b'0')).min(1_000_000_000);
    }
    Some(if neg { -v } else { v })
}

/// Decodes a value from parsed JSON. Errors are the reference's plain texts.
pub fn decode_value(j: &J) -> Result<Value, String> {
    match j {
        J::Null => Ok(Value::Unit),
        J::Bool(b) => Ok(Value::Bool(*b)),
        J::Number(n) => number_as_safe_int(n).map(Value::int).ok_or_else(|| {
            format!(
                "JSON numbers used as VM integers must be safe whole Ints: {}",
                show_json_number(n)
            )
        }),
        J::String(s) => Ok(Value::str(s.as_str())),
        J::Array(items) => decode_list(items),
        J::Object(o) => decode_object(o),
    }
}

fn decode_list(items: &[J]) -> Result<Value, String> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        out.push(decode_value(item)?);
    }
    Ok(Value::List(Rc::new(List::from_vec(out))))
}

fn decode_object(o: &JObject) -> Result<Value, String> {
    if let Some(x) = o.get("int") {
        return decode_int(x);
    }
    if let Some(x) = o.get("fixed") {
        return decode_fixed(x);
    }
    if let Some(x) = o.get("rational") {
        return decode_rational(x);
    }
    if let Some(x) = o.get("bool") {
        return match x {
            J::Bool(b) => Ok(Value::Bool(*b)),
            _ => Err("bool must be a boolean".into()),
        };
    }
    if let Some(x) = o.get("string") {
        return match x {
            J::String(s) => Ok(Value::str(s.as_str())),
            _ => Err("string must be a string".into()),
        };
    }
    if let Some(x) = o.get("symbol") {
        return match x {
            J::String(s) => Ok(Value::Symbol(Str::new(s.as_str()))),
            _ => Err("symbol must be a string".into()),
        };
    }
    if let Some(x) = o.get("bytes") {
        return decode_bytes(x);
    }
    if let Some(x) = o.get("list") {
        return match x {
            J::Array(items) => decode_list(items),
            _ => Err("list must be an array".into()),
        };
    }
    if let Some(x) = o.get("map") {
        return decode_map(x);
    }
    if let Some(x) = o.get("record") {
        return match x {
            J::Object(fields) => decode_record(fields),
            _ => Err("record must be an object".into()),
        };
    }
    if let Some(x) = o.get("variant") {
        return decode_variant(x);
    }
    decode_record(o)
}

fn decode_int(x: &J) -> Result<Value, String> {
    match x {
        J::String(s) => Int::parse_strict(s)
            .map(Value::Int)
            .ok_or_else(|| format!("Invalid integer literal: {s}")),
        J::Number(n) => number_as_safe_int(n)
            .map(Value::int)
            .ok_or_else(|| "int value must be a decimal string or safe integer".into()),
        _ => Err("int value must be a decimal string or safe integer".into()),
    }
}

/// A decimal-string integer field (`value`, `numerator`, `denominator`).
fn big_field(o: &JObject, name: &str) -> Result<Int, String> {
    match o.get(name) {
        None => Err(format!("Missing string field: {name}")),
        Some(J::String(s)) => {
            Int::parse_strict(s).ok_or_else(|| format!("Invalid integer literal for {name}: {s}"))
        }
        Some(_) => Err(format!("{name} must be a string")),
    }
}

fn decode_fixed(x: &J) -> Result<Value, String> {
    let J::Object(o) = x else {
        return Err("fixed must be an object".into());
    };
    let value = big_field(o, "value")?;
    let scale = match o.get("scale") {
        None => return Err("Missing field: scale".into()),
        Some(J::Number(n)) => number_as_int32(n).ok_or("scale must be a safe integer")?,
        Some(_) => return Err("scale must be a safe integer".into()),
    };
    Ok(Value::fixed(value, scale))
}

fn decode_rational(x: &J) -> Result<Value, String> {
    let J::Object(o) = x else {
        return Err("rational must be an object".into());
    };
    let numerator = big_field(o, "numerator")?;
    let denominator = big_field(o, "denominator")?;
    Ok(Value::rational(Rational::new(numerator, denominator)))
}

fn decode_bytes(x: &J) -> Result<Value, String> {
    let J::Array(items) = x else {
        return Err("bytes must be an array".into());
    };
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let J::Number(n) = item else {
            return Err("byte must be a safe integer".into());
        };
        let b = number_as_int32(n).ok_or("byte must be a safe integer")?;
        out.push(u8::try_from(b).map_err(|_| format!("byte out of range: {b}"))?);
    }
    Ok(Value::Bytes(Rc::new(out)))
}

fn decode_map(x: &J) -> Result<Value, String> {
    let J::Array(entries) = x else {
        return Err("map must be an array".into());
    };
    let mut m = Map::new();
    for entry in entries {
        let J::Object(e) = entry else {
            return Err("map entry must be an object".into());
        };
        let k = e.get("key").ok_or("map entry missing key")?;
        let v = e.get("value").ok_or("map entry missing value")?;
        let k = decode_value(k)?;
        let v = decode_value(v)?;
        // later duplicates replace earlier ones
        m.insert(k, v);
    }
    Ok(Value::map(m))
}

/// Fields decoded in ascending (UTF-16) key order; the first error wins.
fn decode_record(o: &JObject) -> Result<Value, String> {
    let mut keys: Vec<(&String, &J)> = o.iter().collect();
    keys.sort_by(|a, b| cmp_utf16(a.0, b.0));
    let mut r = Record::new();
    for (k, v) in keys {
        let v = decode_value(v)?;
        r.insert(Str::new(k.as_str()), v);
    }
    Ok(Value::record(r))
}

fn decode_variant(x: &J) -> Result<Value, String> {
    let J::Object(o) = x else {
        return Err("variant must be an object".into());
    };
    let tag = match o.get("tag") {
        None => return Err("Missing string field: tag".into()),
        Some(J::String(s)) => s.as_str(),
        Some(_) => return Err("tag must be a string".into()),
    };
    let payload = match o.get("payload") {
        None => Value::Unit,
        Some(p) => decode_value(p)?,
    };
    Ok(Value::variant(tag, payload))
}

/// Appends the JSON encoding of `v` to `out` (compact).
pub fn encode_value(v: &Value, out: &mut String) {
    match v {
        Value::Unit => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b {
            r#"{"bool":true}"#
        } else {
            r#"{"bool":false}"#
        }),
        Value::Int(i) => {
            let _ = write!(out, r#"{{"int":"{i}"}}"#);
        }
        Value::Fixed(f) => {
            let _ = write!(
                out,
                r#"{{"fixed":{{"value":"{}","scale":{}}}}}"#,
                f.value, f.scale
            );
        }
        Value::Rational(r) => {
            let _ = write!(
                out,
                r#"{{"rational":{{"numerator":"{}","denominator":"{}"}}}}"#,
                r.numerator, r.denominator
            );
        }
        Value::Str(s) => string_obj(out, "string", s),
        Value::Bytes(b) => {
            out.push_str(r#"{"bytes":["#);
            for (i, x) in b.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                let _ = write!(out, "{x}");
            }
            out.push_str("]}");
        }
        Value::Symbol(s) => string_obj(out, "symbol", s),
        Value::List(l) => {
            out.push_str(r#"{"list":["#);
            for (i, x) in l.items().iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                encode_value(x, out);
            }
            out.push_str("]}");
        }
        Value::Map(m) => {
            out.push_str(r#"{"map":["#);
            for (i, (k, x)) in m.entries().iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(r#"{"key":"#);
                encode_value(k, out);
                out.push_str(r#","value":"#);
                encode_value(x, out);
                out.push('}');
            }
            out.push_str("]}");
        }
        Value::Record(r) => {
            out.push_str(r#"{"record":"#);
            encode_record_fields(r, out);
            out.push('}');
        }
        Value::Variant(t) => pair_obj(out, "variant", "tag", &t.tag, "payload", &t.value),
        Value::Option(o) => {
            out.push_str(r#"{"option":"#);
            match o {
                None => out.push_str("null"),
                Some(x) => encode_value(x, out),
            }
            out.push('}');
        }
        Value::Result(r) => {
            let (key, x) = match &**r {
                Err(x) => (r#"{"error":"#, x),
                Ok(x) => (r#"{"ok":"#, x),
            };
            out.push_str(key);
            encode_value(x, out);
            out.push('}');
        }
        Value::FunctionRef(f) => string_obj(out, "function", f),
        Value::Process(p) => string_obj(out, "process", p),
        // QUIRK kept: the node is dropped
        Value::RemoteProcess(rp) => string_obj(out, "remoteProcess", &rp.1),
        Value::Machine(m) => string_obj(out, "stateMachine", &m.instance_id),
        Value::Event(t) => pair_obj(out, "event", "type", &t.tag, "payload", &t.value),
        Value::Effect(t) => pair_obj(out, "effect", "type", &t.tag, "payload", &t.value),
        Value::Proof(t) => pair_obj(out, "proof", "label", &t.tag, "value", &t.value),
    }
}

/// Appends a record's fields as a JSON object, in the record's (UTF-16) key
/// order: `{"a":<v>,"b":<v>}`.
pub fn encode_record_fields(r: &Record, out: &mut String) {
    out.push('{');
    for (i, (k, x)) in r.fields().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_json_str(k, out);
        out.push(':');
        encode_value(x, out);
    }
    out.push('}');
}

/// `{"<key>":"<s>"}`.
fn string_obj(out: &mut String, key: &str, s: &str) {
    out.push_str("{\"");
    out.push_str(key);
    out.push_str("\":");
    write_json_str(s, out);
    out.push('}');
}

/// `{"<key>":{"<k1>":"<s>","<k2>":<v>}}`.
fn pair_obj(out: &mut String, key: &str, k1: &str, s: &str, k2: &str, v: &Value) {
    out.push_str("{\"");
    out.push_str(key);
    out.push_str("\":{\"");
    out.push_str(k1);
    out.push_str("\":");
    write_json_str(s, out);
    out.push_str(",\"");
    out.push_str(k2);
    out.push_str("\":");
    encode_value(v, out);
    out.push_str("}}");
}

/// The JSON encoding of `v` as a string.
pub fn value_to_json(v: &Value) -> String {
    let mut s = String::new();
    encode_value(v, &mut s);
    s
}

/// Appends `s` as a JSON string literal, escaped as `JSON.stringify` does.
pub fn write_json_str(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        // Every escaped character is ASCII, so a byte scan is UTF-8 safe.
        let esc = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x08 => "\\b",
            0x09 => "\\t",
            0x0A => "\\n",
            0x0C => "\\f",
            0x0D => "\\r",
            0x00..=0x1F => {
                out.push_str(&s[start..i]);
                out.push_str("\\u00");
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 0x0f) as usize] as char);
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.push_str(&s[start..i]);
        out.push_str(esc);
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::canon::{canonical, hash_value};
    use crate::value::{MachineInstance, Tagged};
    use proptest::prelude::*;

    fn parse(text: &str) -> J {
        serde_json::from_str::<J>(text).unwrap()
    }

    fn dec(text: &str) -> Result<Value, String> {
        decode_value(&parse(text))
    }

    fn i(n: i64) -> Value {
        Value::int(n)
    }

    #[test]
    fn decodes_plain_json() {
        assert_eq!(dec("null"), Ok(Value::Unit));
        assert_eq!(dec("true"), Ok(Value::Bool(true)));
        assert_eq!(dec(r#""7""#), Ok(Value::str("7")));
        assert_eq!(dec("[1,null]"), Ok(Value::list(vec![i(1), Value::Unit])));
        assert_eq!(
            dec(r#"{"b":2,"a":"x"}"#),
            Ok(Value::record(
                [(Str::new("a"), Value::str("x")), (Str::new("b"), i(2))]
                    .into_iter()
                    .collect()
            ))
        );
        assert_eq!(
            dec(r#"{"option":null}"#),
            Ok(Value::record(
                [(Str::new("option"), Value::Unit)].into_iter().collect()
            ))
        );
    }

    #[test]
    fn bare_numbers_are_whole_numbers_within_2_53() {
        for (text, want) in [
            ("0", 0i64),
            ("-0", 0),
            ("7", 7),
            ("1.0", 1),
            ("1e2", 100),
            ("1E+2", 100),
            ("100e-2", 1),
            ("0.5e1", 5),
            ("-2.50e1", -25),
            ("0e999999999999999999999", 0),
            ("3000000000", 3_000_000_000),
            ("9007199254740991", MAX_SAFE_INTEGER),
            ("-9007199254740991", -MAX_SAFE_INTEGER),
            ("9007199254740991.000", MAX_SAFE_INTEGER),
        ] {
            assert_eq!(dec(text), Ok(i(want)), "{text}");
        }
        for (text, shown) in [
            ("1.5", "1.5"),
            ("2.5", "2.5"),
            ("9007199254740992", "9007199254740992.0"),
            ("-9007199254740992", "-9007199254740992.0"),
            ("9007199254740991.5", "9007199254740992.0"),
            ("1e21", "1e+21"),
            ("1e400", "Infinity"),
            ("-1e400", "-Infinity"),
            ("1e-7", "1e-7"),
            ("12345678901234567890", "12345678901234567000.0"),
            ("1e-99999999999999999999", "0.0"),
        ] {
            assert_eq!(
                dec(text),
                Err(format!(
                    "JSON numbers used as VM integers must be safe whole Ints: {shown}"
                )),
                "{text}"
            );
        }
    }

    #[test]
    fn int_tag() {
        assert_eq!(dec(r#"{"int":"42"}"#), Ok(i(42)));
        assert_eq!(dec(r#"{"int":"-0"}"#), Ok(i(0)));
        assert_eq!(dec(r#"{"int":"00042"}"#), Ok(i(42)));
        assert_eq!(dec(r#"{"int":7}"#), Ok(i(7)));
        assert_eq!(dec(r#"{"int":3000000000}"#), Ok(i(3_000_000_000)));
        let big = "-123456789012345678901234567890";
        assert_eq!(
            dec(&format!(r#"{{"int":"{big}"}}"#)),
            Ok(Value::Int(Int::parse_strict(big).unwrap()))
        );
        for bad in ["1e3", "+5", "0x1F", "", " 1", "1.0", "-", "1_000"] {
            assert_eq!(
                dec(&format!(r#"{{"int":"{bad}"}}"#)),
                Err(format!("Invalid integer literal: {bad}"))
            );
        }
        for bad in ["2.5", "null", "true", "[]", "9007199254740992"] {
            assert_eq!(
                dec(&format!(r#"{{"int":{bad}}}"#)),
                Err("int value must be a decimal string or safe integer".into()),
                "{bad}"
            );
        }
    }

    #[test]
    fn tag_precedence_and_ignored_keys() {
        assert_eq!(dec(r#"{"string":"a","int":"7"}"#), Ok(i(7)));
        assert_eq!(dec(r#"{"int":"1","junk":{"bytes":[999]}}"#), Ok(i(1)));
        assert_eq!(dec(r#"{"list":[],"x":1}"#), Ok(Value::list(vec![])));
        assert_eq!(
            dec(r#"{"variant":{"tag":"T"},"record":{}}"#),
            Ok(Value::record(Record::new()))
        );
    }

    #[test]
    fn fixed_rational_errors() {
        assert_eq!(
            dec(r#"{"fixed":{"value":"-5","scale":-2}}"#),
            Ok(Value::fixed(Int::from(-5i64), -2))
        );
        assert_eq!(
            dec(r#"{"fixed":{"value":"1","scale":2.0}}"#),
            Ok(Value::fixed(Int::ONE, 2))
        );
        assert_eq!(dec(r#"{"fixed":1}"#), Err("fixed must be an object".into()));
        assert_eq!(
            dec(r#"{"fixed":{"scale":1}}"#),
            Err("Missing string field: value".into())
        );
        assert_eq!(
            dec(r#"{"fixed":{"value":1,"scale":1}}"#),
            Err("value must be a string".into())
        );
        assert_eq!(
            dec(r#"{"fixed":{"value":"1e3"}}"#),
            Err("Invalid integer literal for value: 1e3".into())
        );
        assert_eq!(
            dec(r#"{"fixed":{"value":"1"}}"#),
            Err("Missing field: scale".into())
        );
        assert_eq!(
            dec(r#"{"fixed":{"value":"1","scale":"2"}}"#),
            Err("scale must be a safe integer".into())
        );
        assert_eq!(
            dec(r#"{"fixed":{"value":"1","scale":2147483648}}"#),
            Err("scale must be a safe integer".into())
        );
        assert_eq!(
            dec(r#"{"fixed":{"value":"1","scale":1.5}}"#),
            Err("scale must be a safe integer".into())
        );
        assert_eq!(
            dec(r#"{"rational":{"numerator":"2","denominator":"0"}}"#),
            Ok(Value::rational(Rational::new(Int::from(2i64), Int::ZERO)))
        );
        assert_eq!(
            dec(r#"{"rational":{"numerator":"2","denominator":"-4"}}"#),
            Ok(Value::rational(Rational::new(
                Int::from(2i64),
                Int::from(-4i64)
            )))
        );
        assert_eq!(
            dec(r#"{"rational":[]}"#),
            Err("rational must be an object".into())
        );
        assert_eq!(
            dec(r#"{"rational":{"numerator":"1"}}"#),
            Err("Missing string field: denominator".into())
        );
        assert_eq!(
            dec(r#"{"rational":{"denominator":"x"}}"#),
            Err("Missing string field: numerator".into())
        );
        assert_eq!(
            dec(r#"{"rational":{"numerator":"1","denominator":"+2"}}"#),
            Err("Invalid integer literal for denominator: +2".into())
        );
        assert_eq!(
            dec(r#"{"rational":{"numerator":null,"denominator":"2"}}"#),
            Err("numerator must be a string".into())
        );
    }

    #[test]
    fn simple_tag_errors() {
        assert_eq!(dec(r#"{"bool":1}"#), Err("bool must be a boolean".into()));
        assert_eq!(
            dec(r#"{"string":1}"#),
            Err("string must be a string".into())
        );
        assert_eq!(
            dec(r#"{"symbol":null}"#),
            Err("symbol must be a string".into())
        );
        assert_eq!(dec(r#"{"symbol":"s"}"#), Ok(Value::Symbol(Str::new("s"))));
        assert_eq!(
            dec(r#"{"bytes":[0,1,255,2.0]}"#),
            Ok(Value::Bytes(Rc::new(vec![0, 1, 255, 2])))
        );
        assert_eq!(
            dec(r#"{"bytes":"x"}"#),
            Err("bytes must be an array".into())
        );
        assert_eq!(
            dec(r#"{"bytes":[1,"2"]}"#),
            Err("byte must be a safe integer".into())
        );
        assert_eq!(
            dec(r#"{"bytes":[1.5]}"#),
            Err("byte must be a safe integer".into())
        );
        assert_eq!(
            dec(r#"{"bytes":[256]}"#),
            Err("byte out of range: 256".into())
        );
        assert_eq!(
            dec(r#"{"bytes":[-1]}"#),
            Err("byte out of range: -1".into())
        );
        assert_eq!(dec(r#"{"list":{}}"#), Err("list must be an array".into()));
        assert_eq!(
            dec(r#"{"list":[1,1.5]}"#),
            Err("JSON numbers used as VM integers must be safe whole Ints: 1.5".into())
        );
        assert_eq!(
            dec(r#"{"record":[]}"#),
            Err("record must be an object".into())
        );
        assert_eq!(
            dec(r#"{"variant":"x"}"#),
            Err("variant must be an object".into())
        );
        assert_eq!(
            dec(r#"{"variant":{}}"#),
            Err("Missing string field: tag".into())
        );
        assert_eq!(
            dec(r#"{"variant":{"tag":1}}"#),
            Err("tag must be a string".into())
        );
        assert_eq!(
            dec(r#"{"variant":{"tag":"T"}}"#),
            Ok(Value::variant("T", Value::Unit))
        );
        assert_eq!(
            dec(r#"{"variant":{"tag":"T","payload":{"int":"1"}}}"#),
            Ok(Value::variant("T", i(1)))
        );
    }

    #[test]
    fn map_decoding() {
        assert_eq!(dec(r#"{"map":{}}"#), Err("map must be an array".into()));
        assert_eq!(
            dec(r#"{"map":[1]}"#),
            Err("map entry must be an object".into())
        );
        assert_eq!(
            dec(r#"{"map":[{"value":1}]}"#),
            Err("map entry missing key".into())
        );
        assert_eq!(
            dec(r#"{"map":[{"key":1}]}"#),
            Err("map entry missing value".into())
        );
        assert_eq!(
            dec(r#"{"map":[{"key":1.5,"value":2.5}]}"#),
            Err("JSON numbers used as VM integers must be safe whole Ints: 1.5".into())
        );
        let v = dec(r#"{"map":[{"key":{"string":"k"},"value":{"int":"1"}},{"key":{"string":"k"},"value":{"int":"2"},"x":0}]}"#)
            .unwrap();
        assert_eq!(
            value_to_json(&v),
            r#"{"map":[{"key":{"string":"k"},"value":{"int":"2"}}]}"#
        );
        let v = dec(r#"{"map":[{"key":{"string":"k"},"value":{"bool":true}},{"key":{"int":"1"},"value":{"string":"one"}}]}"#)
            .unwrap();
        assert_eq!(
            value_to_json(&v),
            r#"{"map":[{"key":{"int":"1"},"value":{"string":"one"}},{"key":{"string":"k"},"value":{"bool":true}}]}"#
        );
    }

    #[test]
    fn record_fields_decode_in_utf16_key_order_first_error_wins() {
        assert_eq!(
            dec(r#"{"b":1.5,"a":2.5}"#),
            Err("JSON numbers used as VM integers must be safe whole Ints: 2.5".into())
        );
        // U+10000 sorts before U+FFFF in UTF-16
        assert_eq!(
            dec("{\"\u{FFFF}\":1.5,\"\u{10000}\":2.5}"),
            Err("JSON numbers used as VM integers must be safe whole Ints: 2.5".into())
        );
        // duplicate keys: last value wins
        assert_eq!(
            dec(r#"{"a":1,"a":2}"#),
            Ok(Value::record([(Str::new("a"), i(2))].into_iter().collect()))
        );
    }

    #[test]
    fn encodes_every_constructor() {
        let cases: Vec<(Value, &str)> = vec![
            (Value::Unit, "null"),
            (Value::Bool(false), r#"{"bool":false}"#),
            (i(-5), r#"{"int":"-5"}"#),
            (
                Value::fixed(Int::from(-5i64), -2),
                r#"{"fixed":{"value":"-5","scale":-2}}"#,
            ),
            (
                Value::rational(Rational::new(Int::from(2i64), Int::ZERO)),
                r#"{"rational":{"numerator":"2","denominator":"0"}}"#,
            ),
            (Value::str("a\"b"), r#"{"string":"a\"b"}"#),
            (
                Value::Bytes(Rc::new(vec![1, 0, 255])),
                r#"{"bytes":[1,0,255]}"#,
            ),
            (Value::Bytes(Rc::new(vec![])), r#"{"bytes":[]}"#),
            (Value::Symbol(Str::new("s")), r#"{"symbol":"s"}"#),
            (
                Value::list(vec![Value::Unit, i(1)]),
                r#"{"list":[null,{"int":"1"}]}"#,
            ),
            (Value::map(Map::new()), r#"{"map":[]}"#),
            (
                Value::record(
                    [
                        (Str::new("b"), i(1)),
                        (Str::new("10"), i(2)),
                        (Str::new("9"), i(3)),
                    ]
                    .into_iter()
                    .collect(),
                ),
                r#"{"record":{"10":{"int":"2"},"9":{"int":"3"},"b":{"int":"1"}}}"#,
            ),
            (
                Value::record([(Str::new("__proto__"), Value::Unit)].into_iter().collect()),
                r#"{"record":{"__proto__":null}}"#,
            ),
            (
                Value::variant("T", Value::Unit),
                r#"{"variant":{"tag":"T","payload":null}}"#,
            ),
            (Value::none(), r#"{"option":null}"#),
            (Value::some(i(7)), r#"{"option":{"int":"7"}}"#),
            (Value::some(Value::Unit), r#"{"option":null}"#),
            (
                Value::Result(Rc::new(Err(Value::str("e")))),
                r#"{"error":{"string":"e"}}"#,
            ),
            (Value::Result(Rc::new(Ok(Value::Unit))), r#"{"ok":null}"#),
            (
                Value::FunctionRef(Str::new("main")),
                r#"{"function":"main"}"#,
            ),
            (Value::Process(Str::new("main")), r#"{"process":"main"}"#),
            (
                Value::RemoteProcess(Rc::new((Str::new("n1"), Str::new("p3")))),
                r#"{"remoteProcess":"p3"}"#,
            ),
            (
                Value::event("Ev", Value::str("n1")),
                r#"{"event":{"type":"Ev","payload":{"string":"n1"}}}"#,
            ),
            (
                Value::effect("Ef", Value::str("p3")),
                r#"{"effect":{"type":"Ef","payload":{"string":"p3"}}}"#,
            ),
            (
                Value::Proof(Rc::new(Tagged {
                    tag: Str::new("l"),
                    value: Value::Bool(true),
                })),
                r#"{"proof":{"label":"l","value":{"bool":true}}}"#,
            ),
            (
                Value::Machine(Rc::new(MachineInstance {
                    machine_id: Str::new("order"),
                    instance_id: Str::new("mi5"),
                    current_state: Str::new("new"),
                    data: Record::new(),
                    version: 1,
                    history_hash: Str::new(""),
                })),
                r#"{"stateMachine":"mi5"}"#,
            ),
        ];
        for (v, want) in cases {
            assert_eq!(value_to_json(&v), want);
        }
    }

    #[test]
    fn json_string_escaping_matches_json_stringify() {
        let mut s = String::new();
        write_json_str(
            "a\"\\\u{8}\t\n\u{c}\r\u{0}\u{1f}\u{7f}\u{2028}\u{2029}/é😀",
            &mut s,
        );
        assert_eq!(
            s,
            "\"a\\\"\\\\\\b\\t\\n\\f\\r\\u0000\\u001f\u{7f}\u{2028}\u{2029}/é😀\""
        );
        let mut s = String::new();
        write_json_str("\u{1b}x\u{b}", &mut s);
        assert_eq!(s, "\"\\u001bx\\u000b\"");
    }

    fn arb_int() -> impl Strategy<Value = Int> {
        prop_oneof![
            any::<i64>().prop_map(Int::from),
            (-3i64..=3).prop_map(Int::from),
            "-?[1-9][0-9]{18,40}".prop_map(|s| Int::parse_strict(&s).unwrap()),
        ]
    }

    fn arb_text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[a-c\"\\\\\u{0}-\u{1f}\u{7f}é\u{10000}\u{FFFF}0-9]{0,6}"
        ]
    }

    fn arb_leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Unit),
            any::<bool>().prop_map(Value::Bool),
            arb_int().prop_map(Value::Int),
            (arb_int(), any::<i32>()).prop_map(|(v, s)| Value::fixed(v, s)),
            (arb_int(), -3i32..=3).prop_map(|(v, s)| Value::fixed(v, s)),
            (arb_int(), arb_int()).prop_map(|(n, d)| Value::rational(Rational::new(n, d))),
            arb_int().prop_map(|n| Value::rational(Rational::new(n, Int::ZERO))),
            arb_text().prop_map(Value::str),
            proptest::collection::vec(any::<u8>(), 0..6).prop_map(|b| Value::Bytes(Rc::new(b))),
            arb_text().prop_map(|s| Value::Symbol(Str::new(s))),
        ]
    }

    fn arb_data() -> impl Strategy<Value = Value> {
        use proptest::collection::vec;
        arb_leaf().prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..6).prop_map(Value::list),
                vec((inner.clone(), inner.clone()), 0..6)
                    .prop_map(|es| Value::map(es.into_iter().collect())),
                vec((arb_text(), inner.clone()), 0..6).prop_map(|fs| Value::record(
                    fs.into_iter().map(|(k, v)| (Str::new(k), v)).collect()
                )),
                (arb_text(), inner).prop_map(|(t, p)| Value::variant(t, p)),
            ]
        })
    }

    /// Rebuilds `v` with every map and record filled in reverse order.
    fn rebuild_reversed(v: &Value) -> Value {
        match v {
            Value::List(l) => Value::list(l.items().iter().map(rebuild_reversed).collect()),
            Value::Map(m) => Value::map(
                m.entries()
                    .iter()
                    .rev()
                    .map(|(k, x)| (rebuild_reversed(k), rebuild_reversed(x)))
                    .collect(),
            ),
            Value::Record(r) => Value::record(
                r.fields()
                    .iter()
                    .rev()
                    .map(|(k, x)| (Str::new(k.as_str()), rebuild_reversed(x)))
                    .collect(),
            ),
            Value::Variant(t) => Value::variant(t.tag.as_str(), rebuild_reversed(&t.value)),
            other => other.clone(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn data_values_round_trip_through_json(v in arb_data()) {
            let text = value_to_json(&v);
            let parsed = serde_json::from_str::<J>(&text).expect("our output is valid JSON");
            let back = decode_value(&parsed);
            prop_assert_eq!(back.as_ref(), Ok(&v), "{}", text);
            let back = back.unwrap();
            prop_assert_eq!(canonical(&back), canonical(&v));
        }

        #[test]
        fn equal_values_have_equal_canonical_text(v in arb_data()) {
            let w = rebuild_reversed(&v);
            prop_assert_eq!(&w, &v);
            prop_assert_eq!(canonical(&w), canonical(&v));
            prop_assert_eq!(hash_value(&w), hash_value(&v));
            prop_assert_eq!(value_to_json(&w), value_to_json(&v));
        }
    }
}
