//! `str.*` builtins (`OPCODES.md` §6.9.1, as amended by `DECISIONS.md`
//! "Strings").
//!
//! Strings are valid Unicode (Rust `String`s). Lengths and indices count
//! UTF-16 code units, as JavaScript does. Where the reference could produce a
//! lone surrogate we do not:
//! - `str.slice` that cuts a surrogate pair yields U+FFFD for the broken half;
//! - `str.split` with an empty separator splits into Unicode scalar values;
//! - `str.replace` is literal (no `$` patterns) and an empty search string
//!   returns the input unchanged.

use crate::error::{err, ErrorCode, VmResult};
use crate::num::Int;
use crate::value::{utf16_len, Value};

/// `str.length@1`: the number of UTF-16 code units.
pub(super) fn length(args: &[Value]) -> VmResult<Value> {
    match args {
        [Value::Str(s)] => Ok(Value::int(s.utf16_len())),
        _ => err(ErrorCode::TypeMismatch, "str.length/v1 expects (String)"),
    }
}

/// `str.concat@1`.
pub(super) fn concat(args: &[Value]) -> VmResult<Value> {
    match args {
        [Value::Str(a), Value::Str(b)] => {
            if b.is_empty() {
                return Ok(Value::Str(a.clone()));
            }
            if a.is_empty() {
                return Ok(Value::Str(b.clone()));
            }
            let mut s = String::with_capacity(a.len() + b.len());
            s.push_str(a);
            s.push_str(b);
            Ok(Value::str(s))
        }
        _ => err(
            ErrorCode::TypeMismatch,
            "str.concat/v1 expects (String, String)",
        ),
    }
}

/// `str.slice@1 (s, start, len)`: code units `[max(0,start), min(start+len, length))`.
pub(super) fn slice(args: &[Value]) -> VmResult<Value> {
    match args {
        [Value::Str(s), Value::Int(start), Value::Int(len)] => {
            Ok(Value::str(slice_utf16(s, clamp_i32(start), clamp_i32(len))))
        }
        _ => err(
            ErrorCode::TypeMismatch,
            "str.slice/v1 expects (String, Int, Int)",
        ),
    }
}

/// `str.indexOf@1`: first UTF-16 index of the needle, or -1 (0 for an empty needle).
pub(super) fn index_of(args: &[Value]) -> VmResult<Value> {
    match args {
        [Value::Str(s), Value::Str(needle)] => Ok(Value::int(index_of_utf16(s, needle))),
        _ => err(
            ErrorCode::TypeMismatch,
            "str.indexOf/v1 expects (String, String)",
        ),
    }
}

/// `str.split@1`: JavaScript `split` with a string separator; an empty
/// separator splits into Unicode scalar values (`""` gives `[]`).
pub(super) fn split(args: &[Value]) -> VmResult<Value> {
    match args {
        [Value::Str(s), Value::Str(sep)] => {
            let parts: Vec<Value> = if sep.is_empty() {
                s.chars().map(|c| Value::str(c.to_string())).collect()
            } else {
                s.split(sep.as_str()).map(Value::str).collect()
            };
            Ok(Value::list(parts))
        }
        _ => err(
            ErrorCode::TypeMismatch,
            "str.split/v1 expects (String, String)",
        ),
    }
}

/// `str.toUpper@1`: Unicode default full upper-casing.
pub(super) fn to_upper(args: &[Value]) -> VmResult<Value> {
    match args {
        [Value::Str(s)] => Ok(Value::str(s.to_uppercase())),
        _ => err(ErrorCode::TypeMismatch, "str.toUpper/v1 expects (String)"),
    }
}

/// `str.toLower@1`: Unicode default full lower-casing (final sigma included).
pub(super) fn to_lower(args: &[Value]) -> VmResult<Value> {
    match args {
        [Value::Str(s)] => Ok(Value::str(s.to_lowercase())),
        _ => err(ErrorCode::TypeMismatch, "str.toLower/v1 expects (String)"),
    }
}

/// `str.trim@1`: strips JavaScript whitespace (not Rust's set) at both ends.
pub(super) fn trim(args: &[Value]) -> VmResult<Value> {
    match args {
        [Value::Str(s)] => {
            let t = s.trim_matches(is_js_whitespace);
            if t.len() == s.len() {
                Ok(Value::Str(s.clone()))
            } else {
                Ok(Value::str(t))
            }
        }
        _ => err(ErrorCode::TypeMismatch, "str.trim/v1 expects (String)"),
    }
}

/// `str.fromInt@1`: decimal text.
pub(super) fn from_int(args: &[Value]) -> VmResult<Value> {
    match args {
        [Value::Int(Int::Small(n))] => Ok(Value::str(small_decimal(*n))),
        [Value::Int(n)] => Ok(Value::str(n.to_string())),
        _ => err(ErrorCode::TypeMismatch, "str.fromInt/v1 expects (Int)"),
    }
}

/// Decimal text of an `i64` (the same text as `Display`, without the
/// formatting machinery).
fn small_decimal(n: i64) -> String {
    itoa::Buffer::new().format(n).to_owned()
}

/// `str.toInt@1`: `^-?[0-9]+$` parsed as an Int, anything else gives unit.
pub(super) fn to_int(args: &[Value]) -> VmResult<Value> {
    match args {
        [Value::Str(s)] => Ok(Int::parse_strict(s).map_or(Value::Unit, Value::Int)),
        _ => err(ErrorCode::TypeMismatch, "str.toInt/v1 expects (String)"),
    }
}

/// `str.replace@1 (s, from, to)`: every occurrence, literally.
pub(super) fn replace(args: &[Value]) -> VmResult<Value> {
    match args {
        [Value::Str(s), Value::Str(from), Value::Str(to)] => {
            if from.is_empty() || !s.contains(from.as_str()) {
                Ok(Value::Str(s.clone()))
            } else {
                Ok(Value::str(s.replace(from.as_str(), to)))
            }
        }
        _ => err(
            ErrorCode::TypeMismatch,
            "str.replace/v1 expects (String, String, String)",
        ),
    }
}

/// The reference's `toInt` with clamping: values outside the 32-bit range
/// become `i32::MIN` / `i32::MAX`.
fn clamp_i32(n: &Int) -> i64 {
    match n.to_i32() {
        Some(v) => v as i64,
        None if n.is_negative() => i32::MIN as i64,
        None => i32::MAX as i64,
    }
}

/// Code units `[st, min(st + ln, length))` of `s` with `st = max(0, start)`
/// and `ln = max(0, len)`; a cut surrogate pair leaves U+FFFD for its half.
fn slice_utf16(s: &str, start: i64, len: i64) -> String {
    let st = start.max(0) as usize;
    let ln = len.max(0) as usize;
    if s.is_ascii() {
        if st >= s.len() {
            return String::new();
        }
        let end = s.len().min(st + ln);
        return s[st..end].to_string();
    }
    let units: Vec<u16> = s.encode_utf16().collect();
    if st >= units.len() {
        return String::new();
    }
    let end = units.len().min(st + ln);
    String::from_utf16_lossy(&units[st..end])
}

/// UTF-16 index of the first occurrence of `needle` in `s`, or -1.
///
/// Both strings are valid Unicode, so a match of UTF-8 bytes is exactly a
/// match of UTF-16 code units (no match can begin or end inside a pair).
fn index_of_utf16(s: &str, needle: &str) -> i64 {
    match s.find(needle) {
        Some(i) => utf16_len(&s[..i]) as i64,
        None => -1,
    }
}

/// JavaScript's `WhiteSpace` and `LineTerminator` set (what `String.prototype.trim`
/// strips): includes U+FEFF, excludes U+0085.
fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\u{0009}'..='\u{000D}'
            | '\u{0020}'
            | '\u{00A0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200A}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202F}'
            | '\u{205F}'
            | '\u{3000}'
            | '\u{FEFF}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::VmError;

    fn s(x: &str) -> Value {
        Value::str(x)
    }

    fn i(v: i64) -> Value {
        Value::int(v)
    }

    fn strs(xs: &[&str]) -> Value {
        Value::list(xs.iter().map(|x| s(x)).collect())
    }

    fn msg(r: VmResult<Value>) -> String {
        VmError::to_string(&r.unwrap_err())
    }

    #[test]
    fn length_counts_utf16_code_units() {
        assert_eq!(length(&[s("abc")]).unwrap(), i(3));
        assert_eq!(length(&[s("")]).unwrap(), i(0));
        assert_eq!(length(&[s("💡")]).unwrap(), i(2));
        assert_eq!(length(&[s("é€💡")]).unwrap(), i(4));
        assert_eq!(
            msg(length(&[i(1)])),
            "TypeMismatch: str.length/v1 expects (String)"
        );
        assert_eq!(
            msg(length(&[s("a"), s("b")])),
            "TypeMismatch: str.length/v1 expects (String)"
        );
        assert_eq!(
            msg(length(&[])),
            "TypeMismatch: str.length/v1 expects (String)"
        );
    }

    #[test]
    fn concat_joins() {
        assert_eq!(concat(&[s("HELLO"), s("42")]).unwrap(), s("HELLO42"));
        assert_eq!(concat(&[s(""), s("x")]).unwrap(), s("x"));
        assert_eq!(concat(&[s("x"), s("")]).unwrap(), s("x"));
        assert_eq!(
            msg(concat(&[s("a"), i(1)])),
            "TypeMismatch: str.concat/v1 expects (String, String)"
        );
        assert_eq!(
            msg(concat(&[s("a")])),
            "TypeMismatch: str.concat/v1 expects (String, String)"
        );
    }

    #[test]
    fn slice_clamps() {
        let sl = |x: &str, a: i64, b: i64| slice(&[s(x), i(a), i(b)]).unwrap();
        assert_eq!(sl("hello", 1, 3), s("ell"));
        assert_eq!(sl("hello", -2, 3), s("hel"));
        assert_eq!(sl("hi", 0, 10), s("hi"));
        assert_eq!(sl("hi", 5, 2), s(""));
        assert_eq!(sl("hi", 0, -1), s(""));
        assert_eq!(sl("hi", 2, 1), s(""));
        assert_eq!(sl("hello", 4, i64::MAX), s("o"));
        assert_eq!(sl("hello", i64::MIN, 2), s("he"));
        let huge = Value::Int(Int::parse_strict("100000000000000000000000").unwrap());
        let nhuge = Value::Int(Int::parse_strict("-100000000000000000000000").unwrap());
        assert_eq!(slice(&[s("hello"), i(1), huge.clone()]).unwrap(), s("ello"));
        assert_eq!(slice(&[s("hello"), nhuge.clone(), i(3)]).unwrap(), s("hel"));
        assert_eq!(slice(&[s("hello"), huge, i(3)]).unwrap(), s(""));
        assert_eq!(slice(&[s("hello"), i(0), nhuge]).unwrap(), s(""));
        // start + len beyond i32 range must not overflow
        assert_eq!(sl("hello", i32::MAX as i64, i32::MAX as i64), s(""));
        assert_eq!(sl("hello", 3, i32::MAX as i64), s("lo"));
    }

    #[test]
    fn slice_counts_code_units_and_replaces_broken_pairs() {
        let sl = |x: &str, a: i64, b: i64| slice(&[s(x), i(a), i(b)]).unwrap();
        assert_eq!(sl("a💡b", 0, 3), s("a💡"));
        assert_eq!(sl("a💡b", 3, 1), s("b"));
        assert_eq!(sl("a💡b", 1, 1), s("\u{FFFD}"));
        assert_eq!(sl("a💡b", 2, 2), s("\u{FFFD}b"));
        assert_eq!(sl("a💡b", 0, 2), s("a\u{FFFD}"));
        assert_eq!(sl("💡💡", 1, 2), s("\u{FFFD}\u{FFFD}"));
        assert_eq!(sl("héllo", 1, 2), s("él"));
        assert_eq!(
            msg(slice(&[s("a"), i(0)])),
            "TypeMismatch: str.slice/v1 expects (String, Int, Int)"
        );
        assert_eq!(
            msg(slice(&[s("a"), i(0), s("1")])),
            "TypeMismatch: str.slice/v1 expects (String, Int, Int)"
        );
    }

    #[test]
    fn index_of_in_code_units() {
        let io = |a: &str, b: &str| index_of(&[s(a), s(b)]).unwrap();
        assert_eq!(io("hello", "ll"), i(2));
        assert_eq!(io("hello", "z"), i(-1));
        assert_eq!(io("hello", ""), i(0));
        assert_eq!(io("", ""), i(0));
        assert_eq!(io("", "a"), i(-1));
        assert_eq!(io("💡x💡y", "y"), i(5));
        assert_eq!(io("é€x", "x"), i(2));
        assert_eq!(io("abab", "b"), i(1));
        assert_eq!(
            msg(index_of(&[s("a"), i(1)])),
            "TypeMismatch: str.indexOf/v1 expects (String, String)"
        );
    }

    #[test]
    fn split_like_javascript() {
        let sp = |a: &str, b: &str| split(&[s(a), s(b)]).unwrap();
        assert_eq!(sp("a,b,c", ","), strs(&["a", "b", "c"]));
        assert_eq!(sp("abc", ","), strs(&["abc"]));
        assert_eq!(sp("", ","), strs(&[""]));
        assert_eq!(sp("a,,b", ","), strs(&["a", "", "b"]));
        assert_eq!(sp(",a,", ","), strs(&["", "a", ""]));
        assert_eq!(sp("a::b::", "::"), strs(&["a", "b", ""]));
        assert_eq!(sp("aaa", "aa"), strs(&["", "a"]));
        // empty separator: Unicode scalar values (DECISIONS.md)
        assert_eq!(sp("abc", ""), strs(&["a", "b", "c"]));
        assert_eq!(sp("a\u{1F600}b", ""), strs(&["a", "\u{1F600}", "b"]));
        assert_eq!(sp("", ""), strs(&[]));
        assert_eq!(
            msg(split(&[s("a")])),
            "TypeMismatch: str.split/v1 expects (String, String)"
        );
    }

    #[test]
    fn case_mapping() {
        assert_eq!(to_upper(&[s("Hello")]).unwrap(), s("HELLO"));
        assert_eq!(to_lower(&[s("Hello")]).unwrap(), s("hello"));
        assert_eq!(to_upper(&[s("hello")]).unwrap(), s("HELLO"));
        assert_eq!(to_upper(&[s("ß")]).unwrap(), s("SS"));
        assert_eq!(to_lower(&[s("ΑΣ")]).unwrap(), s("ας"));
        assert_eq!(to_lower(&[s("Σ")]).unwrap(), s("σ"));
        assert_eq!(to_lower(&[s("İ")]).unwrap(), s("i\u{307}"));
        assert_eq!(
            msg(to_upper(&[i(1)])),
            "TypeMismatch: str.toUpper/v1 expects (String)"
        );
        assert_eq!(
            msg(to_lower(&[])),
            "TypeMismatch: str.toLower/v1 expects (String)"
        );
    }

    #[test]
    fn trim_uses_javascript_whitespace() {
        let t = |x: &str| trim(&[s(x)]).unwrap();
        assert_eq!(t("  hi \n"), s("hi"));
        assert_eq!(t("nope"), s("nope"));
        assert_eq!(t(""), s(""));
        assert_eq!(t(" \t\n\r\u{B}\u{C} "), s(""));
        assert_eq!(
            t("\u{FEFF}x\u{3000}\u{A0}\u{2028}\u{2029}\u{202F}\u{205F}\u{1680}\u{2000}\u{200A}"),
            s("x")
        );
        // U+0085 (NEL) and U+200B (ZWSP) are not JavaScript whitespace
        assert_eq!(t("\u{85}x\u{85}"), s("\u{85}x\u{85}"));
        assert_eq!(t("\u{200B}x"), s("\u{200B}x"));
        assert_eq!(t(" a b "), s("a b"));
        assert_eq!(
            msg(trim(&[i(1)])),
            "TypeMismatch: str.trim/v1 expects (String)"
        );
    }

    #[test]
    fn int_conversions() {
        assert_eq!(from_int(&[i(-7)]).unwrap(), s("-7"));
        assert_eq!(from_int(&[i(0)]).unwrap(), s("0"));
        let big = "-123456789012345678901234567890";
        assert_eq!(
            from_int(&[Value::Int(Int::parse_strict(big).unwrap())]).unwrap(),
            s(big)
        );
        assert_eq!(
            msg(from_int(&[s("1")])),
            "TypeMismatch: str.fromInt/v1 expects (Int)"
        );
        let ti = |x: &str| to_int(&[s(x)]).unwrap();
        assert_eq!(ti("42"), i(42));
        assert_eq!(ti("007"), i(7));
        assert_eq!(ti("-0"), i(0));
        assert_eq!(ti("-5"), i(-5));
        assert_eq!(ti(big), Value::Int(Int::parse_strict(big).unwrap()));
        for bad in [
            "", "12a", "+5", " 5", "5 ", "-", "--5", "1.0", "1e3", "0x1F", "٣",
        ] {
            assert_eq!(ti(bad), Value::Unit, "{bad:?}");
        }
        assert_eq!(
            msg(to_int(&[i(1)])),
            "TypeMismatch: str.toInt/v1 expects (String)"
        );
        // conformance: str.fromInt(str.toInt("42")) = "42"
        assert_eq!(from_int(&[ti("42")]).unwrap(), s("42"));
    }

    #[test]
    fn small_decimal_matches_display() {
        for n in [
            0,
            1,
            -1,
            9,
            10,
            -10,
            99,
            100,
            123_456,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ] {
            assert_eq!(small_decimal(n), n.to_string());
            assert_eq!(from_int(&[i(n)]).unwrap(), s(&n.to_string()));
        }
    }

    proptest::proptest! {
        #[test]
        fn small_decimal_matches_display_on_random_ints(n in proptest::num::i64::ANY) {
            proptest::prop_assert_eq!(small_decimal(n), n.to_string());
        }
    }

    #[test]
    fn replace_is_literal_and_global() {
        let r = |a: &str, b: &str, c: &str| replace(&[s(a), s(b), s(c)]).unwrap();
        assert_eq!(r("a.b.c", ".", "_"), s("a_b_c"));
        assert_eq!(r("aaa", "a", "bb"), s("bbbbbb"));
        assert_eq!(r("none", "x", "y"), s("none"));
        assert_eq!(r("aaaa", "aa", "b"), s("bb"));
        assert_eq!(r("aaa", "aa", "b"), s("ba"));
        // empty search string: unchanged (DECISIONS.md)
        assert_eq!(r("abc", "", "-"), s("abc"));
        assert_eq!(r("", "", "-"), s(""));
        // no $ patterns (DECISIONS.md)
        assert_eq!(r("a.b", ".", "$&$&"), s("a$&$&b"));
        assert_eq!(r("price", "p", "$$"), s("$$rice"));
        assert_eq!(r("ab", "b", "$`"), s("a$`"));
        assert_eq!(r("ab", "a", "$'"), s("$'b"));
        assert_eq!(r("ab", "a", "$1"), s("$1b"));
        assert_eq!(r("💡a💡", "💡", "x"), s("xax"));
        assert_eq!(
            msg(replace(&[s("a"), s("b")])),
            "TypeMismatch: str.replace/v1 expects (String, String, String)"
        );
    }
}
