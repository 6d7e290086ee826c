//! The reference's PureScript `show` text of values and strings (`OPCODES.md` §3.4,
//! `PROCESSES.md` Appendix A), plus the `show` of a JavaScript number
//! (`FORMATS.md` §0.6) used in decode error messages.

use super::Value;
use std::fmt::Write as _;

/// PS-string-show: the string quoted with the reference's escapes.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    quote_into(s, &mut out);
    out
}

/// Appends PS-string-show of `s` to `out` (`FORMATS.md` §0.6).
///
/// `"` and `\` are backslash-escaped; U+0007..U+000D use the named escapes
/// `\a \b \t \n \v \f \r`; every other code unit in U+0000–U+001F, and
/// U+007F, becomes `\` + its decimal code, followed by `\&` when the next
/// character is an ASCII digit. Everything else is copied raw.
pub fn quote_into(s: &str, out: &mut String) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        // All escaped characters are ASCII, so a byte scan is UTF-8 safe.
        let named = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            0x07 => "\\a",
            0x08 => "\\b",
            0x09 => "\\t",
            0x0A => "\\n",
            0x0B => "\\v",
            0x0C => "\\f",
            0x0D => "\\r",
            0x00..=0x1F | 0x7F => {
                out.push_str(&s[start..i]);
                out.push('\\');
                let _ = write!(out, "{b}");
                if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    out.push_str("\\&");
                }
                start = i + 1;
                continue;
            }
            _ => continue,
        };
        out.push_str(&s[start..i]);
        out.push_str(named);
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// The `show` text of a value.
pub fn show(v: &Value) -> String {
    let mut out = String::new();
    show_into(v, &mut out);
    out
}

/// Appends the `show` text of `v` to `out`.
pub fn show_into(v: &Value, out: &mut String) {
    match v {
        Value::Unit => out.push_str("VUnit"),
        Value::Bool(b) => out.push_str(if *b { "VBool true" } else { "VBool false" }),
        Value::Int(i) => {
            let _ = write!(out, "VInt (fromString \"{i}\")");
        }
        Value::Fixed(f) => {
            let _ = write!(out, "VFixed (fromString \"{}\")@{}", f.value, f.scale);
        }
        Value::Rational(r) => {
            let _ = write!(
                out,
                "VRational (fromString \"{}\")/(fromString \"{}\")",
                r.numerator, r.denominator
            );
        }
        Value::Str(s) => {
            out.push_str("VString ");
            quote_into(s, out);
        }
        Value::Bytes(b) => {
            out.push_str("VBytes ");
            write_byte_array(b, out);
        }
        Value::Symbol(s) => {
            out.push_str("VSymbol ");
            out.push_str(s);
        }
        Value::List(l) => {
            out.push_str("VList [");
            for (i, x) in l.items().iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                show_into(x, out);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("VMap (fromFoldable [");
            for (i, (k, x)) in m.entries().iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("(Tuple ");
                show_into(k, out);
                out.push(' ');
                show_into(x, out);
                out.push(')');
            }
            out.push_str("])");
        }
        Value::Record(r) => {
            out.push_str("VRecord (fromFoldable [");
            for (i, (k, x)) in r.fields().iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str("(Tuple ");
                quote_into(k, out);
                out.push(' ');
                show_into(x, out);
                out.push(')');
            }
            out.push_str("])");
        }
        Value::Variant(t) => {
            out.push_str("VVariant ");
            out.push_str(&t.tag);
            out.push(' ');
            show_into(&t.value, out);
        }
        Value::Option(None) => out.push_str("VOption Nothing"),
        Value::Option(Some(x)) => {
            out.push_str("VOption (Just ");
            show_into(x, out);
            out.push(')');
        }
        Value::Result(r) => {
            let (label, x) = match &**r {
                Err(x) => ("VResult (Left ", x),
                Ok(x) => ("VResult (Right ", x),
            };
            out.push_str(label);
            show_into(x, out);
            out.push(')');
        }
        Value::FunctionRef(f) => {
            out.push_str("VFunctionRef ");
            out.push_str(f);
        }
        Value::Process(p) => {
            out.push_str("VProcessRef ");
            out.push_str(p);
        }
        Value::RemoteProcess(rp) => {
            out.push_str("VRemoteProcessRef ");
            out.push_str(&rp.1);
        }
        Value::Machine(m) => {
            out.push_str("VStateMachineInstance ");
            out.push_str(&m.instance_id);
        }
        Value::Event(t) => {
            out.push_str("VEvent ");
            out.push_str(&t.tag);
        }
        Value::Effect(t) => {
            out.push_str("VEffectIntent ");
            out.push_str(&t.tag);
        }
        Value::Proof(t) => {
            out.push_str("VProofValue ");
            out.push_str(&t.tag);
        }
    }
}

/// Appends `show` of an int array: `[1,0,255]` (no spaces).
pub fn write_byte_array(bytes: &[u8], out: &mut String) {
    out.push('[');
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{b}");
    }
    out.push(']');
}

/// JavaScript `Number.prototype.toString()` of a double (ECMAScript
/// Number::toString, radix 10, shortest round-trip digits).
pub fn js_number_to_string(x: f64) -> String {
    if x.is_nan() {
        return "NaN".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "Infinity" } else { "-Infinity" }.to_owned();
    }
    if x == 0.0 {
        return "0".to_owned();
    }
    let mut out = String::new();
    if x < 0.0 {
        out.push('-');
    }
    let (digits, exp) = shortest_digits(x.abs());
    let k = digits.len() as i32;
    let n = exp + 1; // value = 0.digits × 10^n
    if k <= n && n <= 21 {
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.push_str(&digits[..n as usize]);
        out.push('.');
        out.push_str(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-n) as usize));
        out.push_str(&digits);
    } else {
        out.push_str(&digits[..1]);
        if k > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let e = n - 1;
        let _ = write!(out, "e{}{}", if e >= 0 { '+' } else { '-' }, e.abs());
    }
    out
}

/// The shortest round-trip significant digits of a positive finite `x`, and
/// the decimal exponent of the first one, chosen as ECMAScript Number::toString
/// chooses them: among the shortest digit strings the closest to `x`, and on
/// an exact tie the one whose last digit is even.
fn shortest_digits(x: f64) -> (String, i32) {
    // Rust's `{:e}` gives shortest round-trip digits (`d[.ddd]e<exp>`), the
    // closest to `x`, but breaks exact ties upward.
    let sci = format!("{x:e}");
    let (mant, exp) = sci.split_once('e').expect("LowerExp has an exponent");
    let exp: i32 = exp.parse().expect("LowerExp exponent is an integer");
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    // The exact decimal expansion of a double has at most 767 significant digits.
    let exact = format!("{x:.800e}");
    let (emant, eexp) = exact.split_once('e').expect("LowerExp has an exponent");
    if eexp.parse::<i32>().ok() != Some(exp) {
        return (digits, exp);
    }
    let edigits: Vec<u8> = emant.bytes().filter(|c| *c != b'.').collect();
    let k = digits.len();
    let tail = &edigits[k..];
    let is_tie = tail.first() == Some(&b'5') && tail[1..].iter().all(|d| *d == b'0');
    if !is_tie {
        return (digits, exp);
    }
    let trunc: Vec<u8> = edigits[..k].to_vec();
    let mut up = trunc.clone();
    let mut i = k;
    loop {
        if i == 0 {
            return (digits, exp); // carry out of the first digit: leave it
        }
        i -= 1;
        if up[i] == b'9' {
            up[i] = b'0';
        } else {
            up[i] += 1;
            break;
        }
    }
    let even = |d: &[u8]| (d[k - 1] - b'0') % 2 == 0;
    let candidate = if digits.as_bytes() == up.as_slice() && even(&trunc) {
        trunc
    } else if digits.as_bytes() == trunc.as_slice() && even(&up) {
        up
    } else {
        return (digits, exp);
    };
    let text = String::from_utf8(candidate).expect("ASCII digits");
    let back = format!("{}.{}e{}", &text[..1], &text[1..], exp);
    if back.parse::<f64>().ok() != Some(x) {
        return (digits, exp);
    }
    let trimmed = text.trim_end_matches('0');
    (
        if trimmed.is_empty() {
            "0".to_owned()
        } else {
            trimmed.to_owned()
        },
        exp,
    )
}

/// PureScript `show` of a Number: the JavaScript text, with `.0` appended
/// when it is finite and has neither `.` nor `e` (`FORMATS.md` §0.6).
pub fn show_number(x: f64) -> String {
    let mut s = js_number_to_string(x);
    if x.is_finite() && !s.contains(['.', 'e']) {
        s.push_str(".0");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::num::{Int, Rational};
    use crate::value::{MachineInstance, Map, Record, Str, Tagged};
    use std::rc::Rc;

    #[test]
    fn quote_escapes() {
        assert_eq!(quote("hi"), r#""hi""#);
        assert_eq!(quote("he said \"hi\"\n"), r#""he said \"hi\"\n""#);
        assert_eq!(quote("a\u{1}2b\u{7}"), r#""a\1\&2b\a""#);
        assert_eq!(
            quote("\u{7}\u{8}\u{9}\u{a}\u{b}\u{c}\u{d}"),
            r#""\a\b\t\n\v\f\r""#
        );
        assert_eq!(quote("\u{0}\u{1f}\u{7f}x"), r#""\0\31\127x""#);
        assert_eq!(quote("\u{7f}9"), r#""\127\&9""#);
        assert_eq!(quote("\u{1b}"), r#""\27""#);
        assert_eq!(quote("\\"), r#""\\""#);
        assert_eq!(quote("\n1"), r#""\n1""#);
        assert_eq!(quote("é\u{2028}😀/"), "\"é\u{2028}😀/\"");
        assert_eq!(quote(""), r#""""#);
    }

    fn i(n: i64) -> Value {
        Value::int(n)
    }

    #[test]
    fn show_scalars() {
        assert_eq!(show(&Value::Unit), "VUnit");
        assert_eq!(show(&Value::Bool(true)), "VBool true");
        assert_eq!(show(&Value::Bool(false)), "VBool false");
        assert_eq!(show(&i(-5)), r#"VInt (fromString "-5")"#);
        let big = Int::parse_strict("-123456789012345678901234567890").unwrap();
        assert_eq!(
            show(&Value::Int(big.clone())),
            r#"VInt (fromString "-123456789012345678901234567890")"#
        );
        assert_eq!(
            show(&Value::fixed(Int::from(12345i64), 2)),
            r#"VFixed (fromString "12345")@2"#
        );
        assert_eq!(
            show(&Value::fixed(Int::from(-5i64), -2)),
            r#"VFixed (fromString "-5")@-2"#
        );
        assert_eq!(
            show(&Value::rational(Rational::new(
                Int::from(-1i64),
                Int::from(3i64)
            ))),
            r#"VRational (fromString "-1")/(fromString "3")"#
        );
        assert_eq!(show(&Value::str("a\"b")), r#"VString "a\"b""#);
        assert_eq!(
            show(&Value::Bytes(Rc::new(vec![1, 0, 255]))),
            "VBytes [1,0,255]"
        );
        assert_eq!(show(&Value::Bytes(Rc::new(vec![]))), "VBytes []");
        assert_eq!(show(&Value::Symbol(Str::new("BTC"))), "VSymbol BTC");
        assert_eq!(
            show(&Value::FunctionRef(Str::new("main"))),
            "VFunctionRef main"
        );
        assert_eq!(show(&Value::Process(Str::new("p0"))), "VProcessRef p0");
        assert_eq!(
            show(&Value::RemoteProcess(Rc::new((
                Str::new("vmB"),
                Str::new("p1")
            )))),
            "VRemoteProcessRef p1"
        );
    }

    #[test]
    fn show_composites() {
        assert_eq!(show(&Value::list(vec![])), "VList []");
        assert_eq!(
            show(&Value::list(vec![i(1), Value::Unit])),
            r#"VList [VInt (fromString "1"),VUnit]"#
        );
        let m: Map = [(Value::str("x"), Value::Bool(true)), (i(2), Value::Unit)]
            .into_iter()
            .collect();
        assert_eq!(
            show(&Value::map(m)),
            r#"VMap (fromFoldable [(Tuple VInt (fromString "2") VUnit),(Tuple VString "x" VBool true)])"#
        );
        assert_eq!(show(&Value::map(Map::new())), "VMap (fromFoldable [])");
        let r: Record = [(Str::new("b"), i(2)), (Str::new("a\n"), i(1))]
            .into_iter()
            .collect();
        assert_eq!(
            show(&Value::record(r)),
            r#"VRecord (fromFoldable [(Tuple "a\n" VInt (fromString "1")),(Tuple "b" VInt (fromString "2"))])"#
        );
        assert_eq!(
            show(&Value::record(Record::new())),
            "VRecord (fromFoldable [])"
        );
        assert_eq!(
            show(&Value::variant("Some", i(1))),
            r#"VVariant Some VInt (fromString "1")"#
        );
        assert_eq!(show(&Value::none()), "VOption Nothing");
        assert_eq!(
            show(&Value::some(i(5))),
            r#"VOption (Just VInt (fromString "5"))"#
        );
        assert_eq!(
            show(&Value::Result(Rc::new(Err(Value::str("e"))))),
            r#"VResult (Left VString "e")"#
        );
        assert_eq!(
            show(&Value::Result(Rc::new(Ok(Value::Unit)))),
            "VResult (Right VUnit)"
        );
        assert_eq!(show(&Value::event("Ev", i(1))), "VEvent Ev");
        assert_eq!(
            show(&Value::effect("http.get", i(1))),
            "VEffectIntent http.get"
        );
        assert_eq!(
            show(&Value::Proof(Rc::new(Tagged {
                tag: Str::new("lbl"),
                value: Value::Unit
            }))),
            "VProofValue lbl"
        );
        let mi = MachineInstance {
            machine_id: Str::new("order"),
            instance_id: Str::new("mi5"),
            current_state: Str::new("new"),
            data: Record::new(),
            version: 2,
            history_hash: Str::new(""),
        };
        assert_eq!(
            show(&Value::Machine(Rc::new(mi))),
            "VStateMachineInstance mi5"
        );
    }

    #[test]
    fn show_numbers_like_purescript() {
        let cases: &[(f64, &str)] = &[
            (1.5, "1.5"),
            (3000000000.0, "3000000000.0"),
            (1e21, "1e+21"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
            (1e-7, "1e-7"),
            (12345678901234567890.0, "12345678901234567000.0"),
            (0.0, "0.0"),
            (-2.5, "-2.5"),
            (0.000001, "0.000001"),
            (1.2345e-10, "1.2345e-10"),
            (123456789012345680000000.0, "1.2345678901234569e+23"),
            (9007199254740992.0, "9007199254740992.0"),
            (0.1, "0.1"),
            (100.0, "100.0"),
        ];
        for (x, want) in cases {
            assert_eq!(show_number(*x), *want, "{x}");
        }
        // exact ties between two shortest candidates go to the even digit
        for (x, want) in [
            ("-1575876631423043.25", "-1575876631423043.2"),
            ("-32424489371668.5625", "-32424489371668.562"),
        ] {
            assert_eq!(show_number(x.parse().unwrap()), want);
        }
        assert_eq!(js_number_to_string(f64::NAN), "NaN");
        assert_eq!(show_number(f64::NAN), "NaN");
    }
}
