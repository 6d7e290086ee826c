//! Value codecs on arbitrary values: a data value survives the public
//! codec (`decode(encode(v)) == v`), every value survives the snapshot
//! codec, equal values built in a different order have equal canonical
//! text, hash and encodings, and the order agrees with equality.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use finvm::effect::snapshot::{decode_sv, encode_sv};
use finvm::num::{Int, Rational};
use finvm::value::canon::{canonical, hash_value};
use finvm::value::json::{decode_value, value_to_json};
use finvm::value::{List, MachineInstance, Map, Record, Str, Tagged, Value};
use libfuzzer_sys::fuzz_target;
use std::rc::Rc;

fn text(u: &mut Unstructured) -> arbitrary::Result<String> {
    Ok(match u.int_in_range(0..=3u8)? {
        0 => String::arbitrary(u)?,
        1 => [
            "",
            "a",
            "b",
            "é",
            "\u{FFFF}",
            "\u{E000}",
            "\u{10000}",
            "\"\\\n",
        ][u.choose_index(8)?]
        .to_string(),
        _ => {
            let n = u.int_in_range(0..=3usize)?;
            (0..n)
                .map(|_| *u.choose(&['a', 'b', '\u{0}', '\u{1F600}']).unwrap())
                .collect()
        }
    })
}

fn int(u: &mut Unstructured) -> arbitrary::Result<Int> {
    Ok(match u.int_in_range(0..=3u8)? {
        0 => Int::from(i64::arbitrary(u)?),
        1 => Int::from(u.int_in_range(-3i64..=3)?),
        _ => {
            let bytes: Vec<u8> = (0..u.int_in_range(0..=40usize)?)
                .map(|_| u8::arbitrary(u))
                .collect::<arbitrary::Result<_>>()?;
            let i = Int::from_bytes_be(&bytes);
            if bool::arbitrary(u)? {
                i.neg()
            } else {
                i
            }
        }
    })
}

/// A data value (the public codec's domain) when `data`, else any value.
fn value(u: &mut Unstructured, depth: u32, data: bool) -> arbitrary::Result<Value> {
    let kinds = if depth == 0 {
        9
    } else if data {
        13
    } else {
        22
    };
    Ok(match u.int_in_range(0..=kinds - 1)? {
        0 => Value::Unit,
        1 => Value::Bool(bool::arbitrary(u)?),
        2 => Value::Int(int(u)?),
        3 => {
            let scale = if bool::arbitrary(u)? {
                i32::arbitrary(u)?
            } else {
                u.int_in_range(-4..=4)?
            };
            Value::fixed(int(u)?, scale)
        }
        4 => Value::rational(Rational::new(int(u)?, int(u)?)),
        5 => Value::str(text(u)?),
        6 => Value::Bytes(Rc::new(Vec::<u8>::arbitrary(u)?)),
        7 => Value::Symbol(Str::new(text(u)?)),
        8 => Value::Int(Int::from(u.int_in_range(-2i64..=2)?)),
        9 => {
            let n = u.int_in_range(0..=4usize)?;
            let items = (0..n)
                .map(|_| value(u, depth - 1, data))
                .collect::<arbitrary::Result<_>>()?;
            Value::List(Rc::new(List::from_vec(items)))
        }
        10 => {
            let mut m = Map::new();
            for _ in 0..u.int_in_range(0..=4usize)? {
                m.insert(value(u, depth - 1, data)?, value(u, depth - 1, data)?);
            }
            Value::map(m)
        }
        11 => {
            let mut r = Record::new();
            for _ in 0..u.int_in_range(0..=4usize)? {
                r.insert(Str::new(text(u)?), value(u, depth - 1, data)?);
            }
            Value::record(r)
        }
        12 => Value::variant(text(u)?, value(u, depth - 1, data)?),
        13 => Value::some(value(u, depth - 1, data)?),
        14 => Value::none(),
        15 => Value::Result(Rc::new(if bool::arbitrary(u)? {
            Ok(value(u, depth - 1, data)?)
        } else {
            Err(value(u, depth - 1, data)?)
        })),
        16 => Value::event(text(u)?, value(u, depth - 1, data)?),
        17 => Value::effect(text(u)?, value(u, depth - 1, data)?),
        18 => Value::Proof(Rc::new(Tagged {
            tag: Str::new(text(u)?),
            value: value(u, depth - 1, data)?,
        })),
        19 => Value::Process(Str::new(text(u)?)),
        20 => Value::RemoteProcess(Rc::new((Str::new(text(u)?), Str::new(text(u)?)))),
        _ => Value::Machine(Rc::new(MachineInstance {
            machine_id: Str::new(text(u)?),
            instance_id: Str::new(text(u)?),
            current_state: Str::new(text(u)?),
            data: {
                let mut r = Record::new();
                for _ in 0..u.int_in_range(0..=2usize)? {
                    r.insert(Str::new(text(u)?), value(u, depth - 1, data)?);
                }
                r
            },
            version: i32::arbitrary(u)?,
            history_hash: Str::new(text(u)?),
        })),
    })
}

/// An equal value built differently: fresh allocations, maps and records
/// filled in reverse order.
fn rebuild(v: &Value) -> Value {
    match v {
        Value::List(l) => Value::list(l.items().iter().map(rebuild).collect()),
        Value::Map(m) => {
            let mut out = Map::new();
            for (k, x) in m.entries().iter().rev() {
                out.insert(rebuild(k), rebuild(x));
            }
            Value::map(out)
        }
        Value::Record(r) => {
            let mut out = Record::new();
            for (k, x) in r.fields().iter().rev() {
                out.insert(Str::new(k.as_str()), rebuild(x));
            }
            Value::record(out)
        }
        Value::Variant(t) => Value::variant(t.tag.as_str(), rebuild(&t.value)),
        Value::Str(s) => Value::str(s.as_str()),
        other => other.clone(),
    }
}

fn sv(v: &Value) -> String {
    let mut s = String::new();
    encode_sv(v, &mut s);
    s
}

fuzz_target!(|data: &[u8]| {
    let mut u = Unstructured::new(data);
    let Ok(d) = value(&mut u, 4, true) else {
        return;
    };
    let Ok(any) = value(&mut u, 3, false) else {
        return;
    };

    // Public codec round trip of a data value.
    let json = value_to_json(&d);
    let parsed: serde_json::Value = serde_json::from_str(&json).expect("our JSON parses");
    let back = decode_value(&parsed).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(back, d, "{json}");
    assert_eq!(value_to_json(&back), json);

    // Snapshot codec round trip of any value.
    for v in [&d, &any] {
        let text = sv(v);
        let j = finvm::effect::json::parse(&text).expect("snapshot JSON parses");
        let back = decode_sv(&j).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(&back, v, "{text}");
        assert_eq!(sv(&back), text);
    }

    // Equal values: equal canonical text, hash and encodings.
    let w = rebuild(&d);
    assert_eq!(w, d);
    assert_eq!(canonical(&w), canonical(&d));
    assert_eq!(hash_value(&w), hash_value(&d));
    assert_eq!(value_to_json(&w), json);

    // The order is total and agrees with equality.
    for (x, y) in [(&d, &any), (&any, &d), (&d, &w), (&any, &any)] {
        assert_eq!(
            x.cmp(y) == std::cmp::Ordering::Equal,
            x == y,
            "{x:?} vs {y:?}"
        );
        assert_eq!(x.cmp(y), y.cmp(x).reverse());
    }
});
