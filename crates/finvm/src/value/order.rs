//! The total order on values (`LT`/`GT`/`COMPARE`/`MIN`/`MAX`/`CLAMP`, map keys).
//!
//! Different constructors compare by rank, except that Int, Fixed and
//! Rational compare by numeric value (`DECISIONS.md`); numerically equal
//! numbers of different representation order Int < Fixed < Rational, then
//! by scale, then by (numerator, denominator). The order is consistent with
//! structural equality.

use super::{MachineInstance, Tagged, Value};
use crate::num::{cmp_fixed, cmp_fixed_rational, cmp_int_fixed, Rational};
use std::cmp::Ordering;

/// Compares two strings by UTF-16 code units (JavaScript `<`).
pub fn cmp_utf16(a: &str, b: &str) -> Ordering {
    let (ab, bb) = (a.as_bytes(), b.as_bytes());
    let n = ab.len().min(bb.len());
    // The first differing byte, eight bytes at a time.
    let mut i = 0;
    while i + 8 <= n {
        let x = u64::from_be_bytes(ab[i..i + 8].try_into().expect("eight bytes"));
        let y = u64::from_be_bytes(bb[i..i + 8].try_into().expect("eight bytes"));
        if x != y {
            i += ((x ^ y).leading_zeros() / 8) as usize;
            break;
        }
        i += 8;
    }
    while i < n && ab[i] == bb[i] {
        i += 1;
    }
    if i == n {
        return ab.len().cmp(&bb.len());
    }
    // Below U+E000 (every ASCII byte, every lead byte under 0xEE) byte order
    // is UTF-16 order.
    if ab[i] < 0xEE && bb[i] < 0xEE {
        return ab[i].cmp(&bb[i]);
    }
    // back up to the start of the differing characters
    while !a.is_char_boundary(i) {
        i -= 1;
    }
    let ca = a[i..].chars().next().expect("nonempty");
    let cb = b[i..].chars().next().expect("nonempty");
    let supp_a = ca as u32 >= 0x10000;
    let supp_b = cb as u32 >= 0x10000;
    if supp_a == supp_b {
        return ca.cmp(&cb);
    }
    let first = |c: char| {
        let mut buf = [0u16; 2];
        c.encode_utf16(&mut buf)[0]
    };
    first(ca).cmp(&first(cb))
}

fn cmp_rational_repr(a: &Rational, b: &Rational) -> Ordering {
    a.cmp_value(b)
        .then_with(|| a.numerator.cmp(&b.numerator))
        .then_with(|| a.denominator.cmp(&b.denominator))
}

fn cmp_numbers(a: &Value, b: &Value) -> Ordering {
    use Value::*;
    match (a, b) {
        (Int(x), Int(y)) => x.cmp(y),
        (Fixed(x), Fixed(y)) => cmp_fixed(x, y).then(x.scale.cmp(&y.scale)),
        (Rational(x), Rational(y)) => cmp_rational_repr(x, y),
        (Int(x), Fixed(y)) => cmp_int_fixed(x, y).then(Ordering::Less),
        (Fixed(x), Int(y)) => cmp_int_fixed(y, x).reverse().then(Ordering::Greater),
        (Int(x), Rational(y)) => crate::num::Rational::from_int(x)
            .cmp_value(y)
            .then(Ordering::Less),
        (Rational(x), Int(y)) => x
            .cmp_value(&crate::num::Rational::from_int(y))
            .then(Ordering::Greater),
        (Fixed(x), Rational(y)) => cmp_fixed_rational(x, y).then(Ordering::Less),
        (Rational(x), Fixed(y)) => cmp_fixed_rational(y, x).reverse().then(Ordering::Greater),
        _ => unreachable!("cmp_numbers on non-numbers"),
    }
}

fn cmp_tagged_tag_first(a: &Tagged, b: &Tagged) -> Ordering {
    a.tag.cmp(&b.tag).then_with(|| a.value.cmp(&b.value))
}

fn cmp_tagged_payload_first(a: &Tagged, b: &Tagged) -> Ordering {
    a.value.cmp(&b.value).then_with(|| a.tag.cmp(&b.tag))
}

fn cmp_machine(a: &MachineInstance, b: &MachineInstance) -> Ordering {
    a.current_state
        .cmp(&b.current_state)
        .then_with(|| a.data.fields().iter().cmp(b.data.fields().iter()))
        .then_with(|| a.history_hash.cmp(&b.history_hash))
        .then_with(|| a.instance_id.cmp(&b.instance_id))
        .then_with(|| a.machine_id.cmp(&b.machine_id))
        .then_with(|| a.version.cmp(&b.version))
}

impl PartialOrd for Value {
    fn partial_cmp(&self, other: &Value) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Value {
    fn cmp(&self, other: &Value) -> Ordering {
        use Value::*;
        // The common map keys first.
        match (self, other) {
            (Str(a), Str(b)) => return a.cmp(b),
            (Int(crate::num::Int::Small(a)), Int(crate::num::Int::Small(b))) => return a.cmp(b),
            _ => {}
        }
        let (ra, rb) = (self.rank(), other.rank());
        let numeric = |r: u8| (2..=4).contains(&r);
        if numeric(ra) && numeric(rb) {
            return cmp_numbers(self, other);
        }
        if ra != rb {
            return ra.cmp(&rb);
        }
        match (self, other) {
            (Unit, Unit) => Ordering::Equal,
            (Bool(a), Bool(b)) => a.cmp(b),
            (Str(a), Str(b))
            | (Symbol(a), Symbol(b))
            | (FunctionRef(a), FunctionRef(b))
            | (Process(a), Process(b)) => a.cmp(b),
            (Bytes(a), Bytes(b)) => a.cmp(b),
            (List(a), List(b)) => a.items().cmp(b.items()),
            (Map(a), Map(b)) => a.entries().iter().cmp(b.entries().iter()),
            (Record(a), Record(b)) => a.fields().iter().cmp(b.fields().iter()),
            (Variant(a), Variant(b)) | (Proof(a), Proof(b)) => cmp_tagged_tag_first(a, b),
            (Event(a), Event(b)) | (Effect(a), Effect(b)) => cmp_tagged_payload_first(a, b),
            (Option(a), Option(b)) => match (a, b) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
                (Some(x), Some(y)) => x.cmp(y),
            },
            (Result(a), Result(b)) => match (&**a, &**b) {
                (Err(x), Err(y)) | (Ok(x), Ok(y)) => x.cmp(y),
                (Err(_), Ok(_)) => Ordering::Less,
                (Ok(_), Err(_)) => Ordering::Greater,
            },
            (RemoteProcess(a), RemoteProcess(b)) => a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)),
            (Machine(a), Machine(b)) => cmp_machine(a, b),
            _ => unreachable!("same rank, different constructors"),
        }
    }
}

/// Test strategies shared with `tests/properties.rs`.
#[cfg(test)]
#[path = "../../tests/support/edge_chars.rs"]
mod edge_chars;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::num::{Int, Rational};

    fn fx(v: i64, s: i32) -> Value {
        Value::fixed(Int::from(v), s)
    }
    fn rat(n: i64, d: i64) -> Value {
        Value::rational(Rational::new(Int::from(n), Int::from(d)))
    }

    #[test]
    fn utf16_order_differs_from_code_points_only_above_the_bmp() {
        assert_eq!(cmp_utf16("a", "b"), Ordering::Less);
        assert_eq!(cmp_utf16("ab", "a"), Ordering::Greater);
        assert_eq!(cmp_utf16("\u{10000}", "\u{FFFF}"), Ordering::Less);
        assert_eq!(cmp_utf16("\u{10000}", "\u{D7FF}"), Ordering::Greater);
        assert_eq!(cmp_utf16("é", "e"), Ordering::Greater);
        assert_eq!(cmp_utf16("main", "p0"), Ordering::Less);
        assert_eq!(cmp_utf16("p10", "p2"), Ordering::Less);
    }

    // Characters around the places where byte order and UTF-16 order part
    // (also used by the map and record tests in `value`).
    pub(crate) use super::edge_chars::arb_edge_char;

    fn arb_text() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        prop::collection::vec(arb_edge_char(), 0..20).prop_map(String::from_iter)
    }

    proptest::proptest! {
        /// The byte-wise fast path agrees with comparing UTF-16 code units.
        #[test]
        fn cmp_utf16_agrees_with_utf16_code_units(a in arb_text(), b in arb_text()) {
            let want = a.encode_utf16().cmp(b.encode_utf16());
            proptest::prop_assert_eq!(cmp_utf16(&a, &b), want);
            proptest::prop_assert_eq!(cmp_utf16(&b, &a), want.reverse());
            let ab = format!("{a}{b}");
            proptest::prop_assert_eq!(cmp_utf16(&ab, &a), ab.encode_utf16().cmp(a.encode_utf16()));
        }
    }

    #[test]
    fn numbers_compare_by_value_across_kinds() {
        assert!(Value::int(1000i64) > fx(1, 2));
        assert!(fx(5, 0) > fx(100, 2));
        assert!(Value::int(1i64) < fx(10, 1));
        assert!(fx(10, 1) < fx(100, 2));
        assert!(fx(100, 2) < rat(1, 1));
        assert!(rat(1, 3) < rat(1, 2));
        assert!(rat(1, 2) < rat(2, 4));
        assert!(Value::Bool(true) < Value::int(-5i64));
        assert!(rat(100, 1) < Value::str(""));
    }

    #[test]
    fn order_is_consistent_with_equality() {
        let vals = [
            Value::int(1i64),
            fx(1, 0),
            fx(10, 1),
            rat(1, 1),
            rat(2, 2),
            rat(-1, -1),
        ];
        for a in &vals {
            for b in &vals {
                assert_eq!(a.cmp(b) == Ordering::Equal, a == b, "{a:?} {b:?}");
                assert_eq!(a.cmp(b), b.cmp(a).reverse());
            }
        }
    }
}
