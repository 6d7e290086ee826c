//! Canonical text of a value and its SHA-256 (`FORMATS.md` §4).

use super::show::{quote_into, write_byte_array};
use super::{cmp_utf16, Value};
use crate::num::Int;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// The bytes `quote_into` escapes: control characters, `"`, `\` and DEL.
static ESCAPED: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[0x7F] = true;
    t
};

/// The canonical text `canon(v)`.
pub fn canonical(v: &Value) -> String {
    let mut out = String::new();
    canonical_into(v, &mut out);
    out
}

/// Appends the canonical text of `v` to `out`.
pub fn canonical_into(v: &Value, out: &mut String) {
    match v {
        Value::Unit => out.push_str("unit"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(Int::Small(n)) => {
            out.push_str("int:");
            out.push_str(itoa::Buffer::new().format(*n));
        }
        Value::Int(i) => {
            let _ = write!(out, "int:{i}");
        }
        Value::Fixed(f) => {
            let _ = write!(out, "fixed:{}@{}", f.value, f.scale);
        }
        Value::Rational(r) => {
            let _ = write!(out, "rational:{}/{}", r.numerator, r.denominator);
        }
        Value::Str(s) => {
            if s.bytes().all(|b| !ESCAPED[usize::from(b)]) {
                // Nothing to escape: what `quote_into` would write, directly.
                out.reserve(s.len() + 9);
                out.push_str("string:\"");
                out.push_str(s);
                out.push('"');
            } else {
                out.push_str("string:");
                quote_into(s, out);
            }
        }
        Value::Bytes(b) => {
            out.push_str("bytes:");
            write_byte_array(b, out);
        }
        Value::Symbol(s) => {
            out.push_str("symbol:");
            out.push_str(s);
        }
        Value::List(l) => {
            out.push('[');
            for (i, x) in l.items().iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_into(x, out);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map{");
            let entries = m.entries();
            if entries.len() == 1 {
                let (k, x) = entries.iter().next().expect("one entry");
                canonical_into(k, out);
                out.push(':');
                canonical_into(x, out);
            } else if entries.len() > 1 {
                // Entries sort by the canonical text of the key (UTF-16 order);
                // the sort is stable, so equal texts keep ascending Value order.
                // All key texts share one scratch buffer.
                let mut keys = String::new();
                let mut spans = Vec::with_capacity(entries.len());
                for (k, x) in entries {
                    let start = keys.len();
                    canonical_into(k, &mut keys);
                    spans.push((start, keys.len(), x));
                }
                spans.sort_by(|a, b| cmp_utf16(&keys[a.0..a.1], &keys[b.0..b.1]));
                for (i, (start, end, x)) in spans.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&keys[start..end]);
                    out.push(':');
                    canonical_into(x, out);
                }
            }
            out.push('}');
        }
        Value::Record(r) => {
            // `Record` keeps its fields in UTF-16 order of the name already.
            out.push_str("record{");
            for (i, (k, x)) in r.fields().iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(k);
                out.push(':');
                canonical_into(x, out);
            }
            out.push('}');
        }
        Value::Variant(t) => tagged(out, "variant:", &t.tag, &t.value),
        Value::Option(None) => out.push_str("none"),
        Value::Option(Some(x)) => wrapped(out, "some(", x),
        Value::Result(r) => match &**r {
            Err(x) => wrapped(out, "err(", x),
            Ok(x) => wrapped(out, "ok(", x),
        },
        Value::FunctionRef(f) => {
            out.push_str("fn:");
            out.push_str(f);
        }
        Value::Process(p) => {
            out.push_str("proc:");
            out.push_str(p);
        }
        Value::RemoteProcess(rp) => {
            out.push_str("remote:");
            out.push_str(&rp.0);
            out.push(':');
            out.push_str(&rp.1);
        }
        Value::Machine(m) => {
            let _ = write!(
                out,
                "machine:{}:{}@{}",
                m.machine_id, m.instance_id, m.version
            );
        }
        Value::Event(t) => tagged(out, "event:", &t.tag, &t.value),
        Value::Effect(t) => tagged(out, "effect:", &t.tag, &t.value),
        Value::Proof(t) => tagged(out, "proof:", &t.tag, &t.value),
    }
}

/// `<prefix><tag>(<canon v>)`.
fn tagged(out: &mut String, prefix: &str, tag: &str, v: &Value) {
    out.push_str(prefix);
    out.push_str(tag);
    out.push('(');
    canonical_into(v, out);
    out.push(')');
}

/// `<open><canon v>)`.
fn wrapped(out: &mut String, open: &str, v: &Value) {
    out.push_str(open);
    canonical_into(v, out);
    out.push(')');
}

/// Lowercase hex SHA-256 of the UTF-8 canonical text.
pub fn hash_value(v: &Value) -> String {
    sha256_hex(&canonical(v))
}

/// Lowercase hex SHA-256 of arbitrary text.
pub fn sha256_hex(text: &str) -> String {
    sha256_hex_bytes(text.as_bytes())
}

/// Lowercase hex SHA-256 of arbitrary bytes.
pub fn sha256_hex_bytes(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for b in digest.iter() {
        out.push(HEX[(b >> 4) as usize] as char);
        out.push(HEX[(b & 0x0f) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::num::Rational;
    use crate::value::{MachineInstance, Map, Record, Str, Tagged};
    use std::rc::Rc;

    fn i(n: i64) -> Value {
        Value::int(n)
    }

    fn rec(fields: Vec<(&str, Value)>) -> Value {
        Value::record(
            fields
                .into_iter()
                .map(|(k, v)| (Str::new(k), v))
                .collect::<Record>(),
        )
    }

    fn check(v: &Value, text: &str, hash: &str) {
        assert_eq!(canonical(v), text);
        assert_eq!(hash_value(v), hash, "{text}");
    }

    #[test]
    fn plain_strings_quote_as_quote_into_does() {
        let mut texts: Vec<String> = (0u32..0x100)
            .filter_map(char::from_u32)
            .flat_map(|c| [c.to_string(), format!("a{c}1"), format!("{c}{c}")])
            .collect();
        texts.extend(["", "User_1", "\u{10000}x\u{ffff}", "tab\there", "q\"\\"].map(String::from));
        for t in texts {
            let mut want = String::from("string:");
            quote_into(&t, &mut want);
            assert_eq!(canonical(&Value::str(t.as_str())), want, "{t:?}");
        }
    }

    #[test]
    fn small_ints_print_as_fmt_does() {
        for n in [
            0,
            1,
            -1,
            9,
            10,
            -10,
            42,
            1 << 40,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
        ] {
            assert_eq!(canonical(&i(n)), format!("int:{n}"));
        }
    }

    #[test]
    fn formats_4_3_worked_examples() {
        // 1
        check(
            &i(42),
            "int:42",
            "8e5cc2a18337e30e25a6669b92076e5ce93431eefa209a68ddd13f2dd29fb36b",
        );
        // 2
        check(
            &rec(vec![("b", i(2)), ("a", i(1))]),
            "record{a:int:1,b:int:2}",
            "2190ce45a6d04e18433a962427a82d6cf67f5161519095beec3f3cd0c042d853",
        );
        // 3
        check(
            &Value::str("he said \"hi\"\n"),
            r#"string:"he said \"hi\"\n""#,
            "d2d37bd7d3800f979f727d5ab5d86d5ba9da6cc7043bd67dc8c663d341fe8bed",
        );
        // 4
        check(
            &Value::str("a\u{1}2b\u{7}"),
            r#"string:"a\1\&2b\a""#,
            "cc03b0e636e4849fa0aa86ec85a4ce6e7850bbe174471a731d194a5413221145",
        );
        // 5
        check(
            &Value::list(vec![
                Value::Bool(true),
                Value::Unit,
                Value::fixed(Int::from(12345i64), 2),
                Value::rational(Rational::new(Int::from(-1i64), Int::from(3i64))),
            ]),
            "[true,unit,fixed:12345@2,rational:-1/3]",
            "504d14de9eecb4ca2cb4b2bf596a7db99060fbfe194e54edd5db921ec7c20f75",
        );
        // 6
        let m: Map = [
            (i(1), Value::Bool(false)),
            (Value::str("x"), Value::Bool(true)),
            (i(10), Value::none()),
            (i(9), Value::Unit),
        ]
        .into_iter()
        .collect();
        check(
            &Value::map(m),
            r#"map{int:1:false,int:10:none,int:9:unit,string:"x":true}"#,
            "2c3d31c8964e33b546a54b747d79e03b101af939f10dc7f3ffb4f11de2ab4b42",
        );
        // 7
        check(
            &Value::variant(
                "Some",
                rec(vec![
                    ("qty", i(-7)),
                    ("sym", Value::Symbol(Str::new("BTC"))),
                    ("raw", Value::Bytes(Rc::new(vec![0, 1, 255]))),
                ]),
            ),
            "variant:Some(record{qty:int:-7,raw:bytes:[0,1,255],sym:symbol:BTC})",
            "58f6220953c69955b1ebb5fed617efb29c940ec53dfd74bf355a56e6cae2ad87",
        );
        // 8
        check(
            &Value::effect(
                "http.get",
                rec(vec![
                    ("key", Value::str("k1")),
                    ("url", Value::str("http://u")),
                ]),
            ),
            r#"effect:http.get(record{key:string:"k1",url:string:"http://u"})"#,
            "fb2541b53f5e3393ca3d16986f7caad1ad40ac7f75a749deebc76f99c9f6d425",
        );
        // 9
        let mi = MachineInstance {
            machine_id: Str::new("order"),
            instance_id: Str::new("mi5"),
            current_state: Str::new("paid"),
            data: Record::new(),
            version: 2,
            history_hash: Str::new("abc"),
        };
        check(
            &Value::list(vec![
                Value::some(Value::Result(Rc::new(Ok(Value::str("é"))))),
                Value::Result(Rc::new(Err(Value::Process(Str::new("p0"))))),
                Value::RemoteProcess(Rc::new((Str::new("vmB"), Str::new("p1")))),
                Value::Machine(Rc::new(mi)),
                Value::FunctionRef(Str::new("main")),
            ]),
            r#"[some(ok(string:"é")),err(proc:p0),remote:vmB:p1,machine:order:mi5@2,fn:main]"#,
            "f407bb9d1d5392ca2a94190dd13fc6bd54303481f4622e3342a9f3ef0601ec12",
        );
        // 10
        check(
            &Value::record(Record::new()),
            "record{}",
            "d29e0e5c29a23a793a257a4a4cd310c89940266e9e8bc79e49eecc3b0479b9ba",
        );
        // 11
        check(
            &rec(vec![
                ("machineId", Value::str("order")),
                ("from", Value::str("new")),
                ("event", Value::str("pay")),
                ("to", Value::str("paid")),
                ("version", i(2)),
            ]),
            r#"record{event:string:"pay",from:string:"new",machineId:string:"order",to:string:"paid",version:int:2}"#,
            "b10ee77250f4dd7a6f5bd28462603ae2cafdc0d1cf311f46ac58955eee3fc7aa",
        );
    }

    #[test]
    fn opcodes_3_5_examples_and_conformance_hashes() {
        check(
            &rec(vec![("rec0", rec(vec![("name", Value::str("Bob"))]))]),
            r#"record{rec0:record{name:string:"Bob"}}"#,
            "ec10407abbfb8d2bf71ca8e0838f340829daeca7c19ffbfb3a6cc4cd68aba352",
        );
        check(&i(-5), "int:-5", &sha256_hex("int:-5"));
        // core-hash-of-string-uses-quoted-text
        check(
            &Value::str("hi"),
            r#"string:"hi""#,
            "ad038e143ffb52d5ed8f19bc06be1e7f4520dd7e5c128e115b1e53bbef7a8fc3",
        );
        // core-hash-of-composite-value
        check(
            &Value::list(vec![
                Value::Unit,
                Value::Bool(false),
                Value::fixed(Int::from(-5i64), 2),
                Value::rational(Rational::new(Int::ONE, Int::from(3i64))),
                Value::Bytes(Rc::new(vec![1, 2])),
                Value::Symbol(Str::new("s")),
                Value::variant("T", i(1)),
            ]),
            "[unit,false,fixed:-5@2,rational:1/3,bytes:[1,2],symbol:s,variant:T(int:1)]",
            "8176a8ac85f159bf6196ca02ffb9f9435119bb37c889ab0448199b83d4f4a3c8",
        );
        // core-map-hash-ignores-entry-order
        let a: Map = [
            (Value::str("x"), Value::Bool(true)),
            (Value::str("y"), Value::Bool(false)),
        ]
        .into_iter()
        .collect();
        let b: Map = [
            (Value::str("y"), Value::Bool(false)),
            (Value::str("x"), Value::Bool(true)),
        ]
        .into_iter()
        .collect();
        check(
            &Value::map(a),
            r#"map{string:"x":true,string:"y":false}"#,
            "e28d5190cbd8d00eed7c64845c22acf4559794437eebe28061886681eeafa45e",
        );
        assert_eq!(
            hash_value(&Value::map(b)),
            "e28d5190cbd8d00eed7c64845c22acf4559794437eebe28061886681eeafa45e"
        );
    }

    #[test]
    fn every_constructor_has_its_canonical_form() {
        assert_eq!(canonical(&Value::fixed(Int::from(5i64), -2)), "fixed:5@-2");
        assert_eq!(
            canonical(&Value::rational(Rational::new(Int::from(2i64), Int::ZERO))),
            "rational:2/0"
        );
        assert_eq!(canonical(&Value::Bytes(Rc::new(vec![]))), "bytes:[]");
        assert_eq!(canonical(&Value::list(vec![])), "[]");
        assert_eq!(canonical(&Value::map(Map::new())), "map{}");
        assert_eq!(canonical(&Value::Symbol(Str::new("a:b"))), "symbol:a:b");
        assert_eq!(
            canonical(&Value::Result(Rc::new(Err(Value::Unit)))),
            "err(unit)"
        );
        assert_eq!(
            canonical(&Value::event("Ev", Value::Unit)),
            "event:Ev(unit)"
        );
        assert_eq!(
            canonical(&Value::Proof(Rc::new(Tagged {
                tag: Str::new("p"),
                value: Value::Bool(true)
            }))),
            "proof:p(true)"
        );
        let big = Int::parse_strict("-123456789012345678901234567890").unwrap();
        assert_eq!(
            canonical(&Value::Int(big)),
            "int:-123456789012345678901234567890"
        );
    }

    #[test]
    fn map_keys_sort_by_canonical_text_in_utf16_order() {
        // Fixed 1@0 and Int 1 differ in text; "\u{10000}" sorts before "\u{FFFF}" in UTF-16.
        let m: Map = [
            (Value::str("\u{FFFF}"), i(1)),
            (Value::str("\u{10000}"), i(2)),
            (Value::fixed(Int::ONE, 0), i(3)),
            (Value::str("a\n"), i(4)),
            (Value::str("aA"), i(5)),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            canonical(&Value::map(m)),
            "map{fixed:1@0:int:3,string:\"aA\":int:5,string:\"a\\n\":int:4,string:\"\u{10000}\":int:2,string:\"\u{FFFF}\":int:1}"
        );
    }

    #[test]
    fn sha256_of_multibyte_and_long_input() {
        assert_eq!(
            sha256_hex(""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(sha256_hex(&"a".repeat(1000)).len(), 64);
    }
}
