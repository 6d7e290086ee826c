//! Arbitrary-precision integers with an inline `i64` fast path.
//!
//! [`Int::Small`] holds every value that fits in an `i64`; [`Int::Big`] holds
//! the rest behind an `Rc`, so cloning is O(1). Results are always demoted back
//! to `Small` when they fit, so each number has exactly one representation and
//! derived equality is numeric equality. The big paths live in separate
//! `#[cold]` functions so the small path stays tight.

use dashu_int::ops::{BitTest, UnsignedAbs};
use dashu_int::IBig;
use std::cmp::Ordering;
use std::fmt;
use std::rc::Rc;

/// An arbitrary-precision integer.
#[derive(Clone, PartialEq, Eq)]
pub enum Int {
    /// A value in the `i64` range.
    Small(i64),
    /// A value outside the `i64` range (never one that fits in `i64`).
    Big(Rc<IBig>),
}

impl fmt::Debug for Int {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self)
    }
}

impl fmt::Display for Int {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Int::Small(v) => write!(f, "{v}"),
            Int::Big(b) => write!(f, "{b}"),
        }
    }
}

impl From<i64> for Int {
    #[inline]
    fn from(v: i64) -> Int {
        Int::Small(v)
    }
}

impl From<i32> for Int {
    #[inline]
    fn from(v: i32) -> Int {
        Int::Small(v as i64)
    }
}

impl From<usize> for Int {
    #[inline]
    fn from(v: usize) -> Int {
        match i64::try_from(v) {
            Ok(x) => Int::Small(x),
            Err(_) => Int::from_big(IBig::from(v)),
        }
    }
}

impl From<IBig> for Int {
    fn from(b: IBig) -> Int {
        Int::from_big(b)
    }
}

impl Int {
    /// Zero.
    pub const ZERO: Int = Int::Small(0);
    /// One.
    pub const ONE: Int = Int::Small(1);

    /// Wraps a big value, demoting it to `Small` when it fits.
    #[cold]
    pub fn from_big(b: IBig) -> Int {
        match i64::try_from(&b) {
            Ok(v) => Int::Small(v),
            Err(_) => Int::Big(Rc::new(b)),
        }
    }

    /// The value as a dashu `IBig` (allocates for big values only when needed).
    pub fn to_ibig(&self) -> IBig {
        match self {
            Int::Small(v) => IBig::from(*v),
            Int::Big(b) => (**b).clone(),
        }
    }

    /// The value as an `i64`, if it fits.
    #[inline]
    pub fn to_i64(&self) -> Option<i64> {
        match self {
            Int::Small(v) => Some(*v),
            Int::Big(_) => None,
        }
    }

    /// The reference's `toInt`: the value as an `i32`, if it fits.
    #[inline]
    pub fn to_i32(&self) -> Option<i32> {
        match self {
            Int::Small(v) => i32::try_from(*v).ok(),
            Int::Big(_) => None,
        }
    }

    /// True for zero.
    #[inline]
    pub fn is_zero(&self) -> bool {
        matches!(self, Int::Small(0))
    }

    /// -1, 0 or 1.
    pub fn signum(&self) -> i32 {
        match self {
            Int::Small(v) => v.signum() as i32,
            Int::Big(b) => {
                if b.sign() == dashu_int::Sign::Negative {
                    -1
                } else {
                    1
                }
            }
        }
    }

    /// True when the value is below zero.
    pub fn is_negative(&self) -> bool {
        self.signum() < 0
    }

    /// Number of bits in the magnitude (0 for zero).
    pub fn bit_len(&self) -> usize {
        match self {
            Int::Small(v) => 64 - v.unsigned_abs().leading_zeros() as usize,
            Int::Big(b) => BitTest::bit_len(b.as_ref()),
        }
    }

    /// `self += rhs` (or `self -= rhs` with `subtract`) in place, when
    /// `self` is a big integer held by nobody else and the result cannot
    /// exceed `max_bits` bits: no allocation in the common case (an
    /// accumulator register). `false`, with `self` unchanged, otherwise.
    pub fn add_in_place(&mut self, rhs: &Int, subtract: bool, max_bits: usize) -> bool {
        let bound = self.bit_len().max(rhs.bit_len()) + 1;
        let Int::Big(rc) = self else {
            return false;
        };
        if bound > max_bits {
            return false;
        }
        let Some(x) = Rc::get_mut(rc) else {
            return false;
        };
        // Both within i128 (two machine words, which `IBig` keeps inline):
        // native arithmetic instead of the general big-int path.
        if let (Ok(a), Some(b)) = (i128::try_from(&*x), rhs.to_i128()) {
            let r = if subtract {
                a.checked_sub(b)
            } else {
                a.checked_add(b)
            };
            if let Some(r) = r {
                match i64::try_from(r) {
                    Ok(v) => *self = Int::Small(v),
                    Err(_) => *x = IBig::from(r),
                }
                return true;
            }
        }
        match (rhs, subtract) {
            (Int::Small(y), false) => *x += *y,
            (Int::Small(y), true) => *x -= *y,
            (Int::Big(y), false) => *x += y.as_ref(),
            (Int::Big(y), true) => *x -= y.as_ref(),
        }
        // One representation per value: demote what fits in an i64.
        if let Ok(v) = i64::try_from(&*x) {
            *self = Int::Small(v);
        }
        true
    }

    /// The value as an `i128`, when it fits.
    #[inline]
    fn to_i128(&self) -> Option<i128> {
        match self {
            Int::Small(v) => Some(i128::from(*v)),
            Int::Big(b) => i128::try_from(b.as_ref()).ok(),
        }
    }

    /// `self + other`.
    #[inline]
    pub fn add(&self, other: &Int) -> Int {
        if let (Int::Small(a), Int::Small(b)) = (self, other) {
            if let Some(r) = a.checked_add(*b) {
                return Int::Small(r);
            }
        }
        big_add(self, other)
    }

    /// `self - other`.
    #[inline]
    pub fn sub(&self, other: &Int) -> Int {
        if let (Int::Small(a), Int::Small(b)) = (self, other) {
            if let Some(r) = a.checked_sub(*b) {
                return Int::Small(r);
            }
        }
        big_sub(self, other)
    }

    /// `self * other`.
    #[inline]
    pub fn mul(&self, other: &Int) -> Int {
        if let (Int::Small(a), Int::Small(b)) = (self, other) {
            if let Some(r) = a.checked_mul(*b) {
                return Int::Small(r);
            }
        }
        big_mul(self, other)
    }

    /// `-self`.
    #[inline]
    pub fn neg(&self) -> Int {
        if let Int::Small(a) = self {
            if let Some(r) = a.checked_neg() {
                return Int::Small(r);
            }
        }
        Int::from_big(-self.to_ibig())
    }

    /// `|self|`.
    #[inline]
    pub fn abs(&self) -> Int {
        if self.is_negative() {
            self.neg()
        } else {
            self.clone()
        }
    }

    /// Quotient truncated toward zero. `None` when `d` is zero.
    pub fn quot(&self, d: &Int) -> Option<Int> {
        if d.is_zero() {
            return None;
        }
        if let (Int::Small(a), Int::Small(b)) = (self, d) {
            if let Some(r) = a.checked_div(*b) {
                return Some(Int::Small(r));
            }
        }
        Some(Int::from_big(self.to_ibig() / d.to_ibig()))
    }

    /// Remainder with the sign of the dividend (truncated). `None` when `d` is zero.
    pub fn rem(&self, d: &Int) -> Option<Int> {
        if d.is_zero() {
            return None;
        }
        if let (Int::Small(a), Int::Small(b)) = (self, d) {
            // checked_rem fails only for i64::MIN % -1, whose remainder is 0.
            return Some(Int::Small(a.checked_rem(*b).unwrap_or(0)));
        }
        Some(Int::from_big(self.to_ibig() % d.to_ibig()))
    }

    /// Truncated quotient and remainder together. `None` when `d` is zero.
    pub fn quot_rem(&self, d: &Int) -> Option<(Int, Int)> {
        Some((self.quot(d)?, self.rem(d)?))
    }

    /// Division rounded by `mode` (see [`crate::num::Rounding`]). `None` when `d` is zero.
    pub fn div_round(&self, d: &Int, mode: super::Rounding) -> Option<Int> {
        use super::Rounding::*;
        let (q, r) = self.quot_rem(d)?;
        if r.is_zero() {
            return Some(q);
        }
        // sign of the exact quotient (n and d both nonzero here since r != 0)
        let neg = self.is_negative() != d.is_negative();
        let away = if neg {
            q.sub(&Int::ONE)
        } else {
            q.add(&Int::ONE)
        };
        Some(match mode {
            TowardZero => q,
            AwayFromZero => away,
            Down => {
                if neg {
                    away
                } else {
                    q
                }
            }
            Up => {
                if neg {
                    q
                } else {
                    away
                }
            }
            HalfEven => {
                let twice = r.abs().mul(&Int::Small(2));
                match twice.cmp(&d.abs()) {
                    Ordering::Less => q,
                    Ordering::Greater => away,
                    Ordering::Equal => {
                        if q.is_even() {
                            q
                        } else {
                            away
                        }
                    }
                }
            }
        })
    }

    /// True when the value is even.
    pub fn is_even(&self) -> bool {
        match self {
            Int::Small(v) => v % 2 == 0,
            Int::Big(b) => !b.as_ref().clone().unsigned_abs().bit(0),
        }
    }

    /// Euclidean division as in the reference's BigInt `div`: the remainder
    /// `m = x mod |y|` lies in `[0, |y|)` and the result is `(x - m) / y`.
    pub fn div_euclid(&self, d: &Int) -> Option<Int> {
        let m = self.rem_euclid(d)?;
        self.sub(&m).quot(d)
    }

    /// Euclidean remainder in `[0, |d|)`.
    pub fn rem_euclid(&self, d: &Int) -> Option<Int> {
        let ad = d.abs();
        let r = self.rem(&ad)?;
        if r.is_negative() {
            Some(r.add(&ad))
        } else {
            Some(r)
        }
    }

    /// `10^n` for `n >= 0`.
    pub fn pow10(n: u32) -> Int {
        if n < 19 {
            return Int::Small(10i64.pow(n));
        }
        Int::from_big(IBig::from(10u8).pow(n as usize))
    }

    /// Greatest common divisor (non-negative).
    pub fn gcd(&self, other: &Int) -> Int {
        let (mut a, mut b) = (self.abs(), other.abs());
        while !b.is_zero() {
            let r = a.rem(&b).expect("b nonzero");
            a = b;
            b = r;
        }
        a
    }

    /// Strict decimal parse: optional `-`, then one or more ASCII digits.
    pub fn parse_strict(s: &str) -> Option<Int> {
        let digits = s.strip_prefix('-').unwrap_or(s);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if digits.len() <= 18 {
            return s.parse::<i64>().ok().map(Int::Small);
        }
        parse_big(s)
    }

    /// Minimal big-endian bytes of a non-negative value (`0` gives `[0]`).
    pub fn to_bytes_be(&self) -> Option<Vec<u8>> {
        if self.is_negative() {
            return None;
        }
        let bytes = self.to_ibig().unsigned_abs().to_be_bytes().to_vec();
        let first = bytes.iter().position(|b| *b != 0);
        Some(match first {
            None => vec![0],
            Some(i) => bytes[i..].to_vec(),
        })
    }

    /// Unsigned big-endian bytes to an integer (`[]` gives 0).
    pub fn from_bytes_be(bytes: &[u8]) -> Int {
        Int::from_big(IBig::from(dashu_int::UBig::from_be_bytes(bytes)))
    }

    /// `self^exp` for a small exponent.
    pub fn pow(&self, exp: u32) -> Int {
        if let Int::Small(v) = self {
            if let Some(r) = v.checked_pow(exp) {
                return Int::Small(r);
            }
        }
        Int::from_big(self.to_ibig().pow(exp as usize))
    }
}

#[cold]
#[inline(never)]
fn big_add(a: &Int, b: &Int) -> Int {
    Int::from_big(a.to_ibig() + b.to_ibig())
}

#[cold]
#[inline(never)]
fn big_sub(a: &Int, b: &Int) -> Int {
    Int::from_big(a.to_ibig() - b.to_ibig())
}

#[cold]
#[inline(never)]
fn big_mul(a: &Int, b: &Int) -> Int {
    Int::from_big(a.to_ibig() * b.to_ibig())
}

#[cold]
fn parse_big(s: &str) -> Option<Int> {
    s.parse::<IBig>().ok().map(Int::from_big)
}

impl PartialOrd for Int {
    fn partial_cmp(&self, other: &Int) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Int {
    #[inline]
    fn cmp(&self, other: &Int) -> Ordering {
        match (self, other) {
            (Int::Small(a), Int::Small(b)) => a.cmp(b),
            _ => big_cmp(self, other),
        }
    }
}

#[cold]
fn big_cmp(a: &Int, b: &Int) -> Ordering {
    match (a, b) {
        (Int::Big(x), Int::Big(y)) => x.cmp(y),
        // a Big value is outside the i64 range, so its sign decides
        (Int::Big(x), Int::Small(_)) => {
            if x.sign() == dashu_int::Sign::Negative {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
        (Int::Small(_), Int::Big(y)) => {
            if y.sign() == dashu_int::Sign::Negative {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (Int::Small(x), Int::Small(y)) => x.cmp(y),
    }
}

impl std::hash::Hash for Int {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        match self {
            Int::Small(v) => v.hash(state),
            Int::Big(b) => b.to_string().hash(state),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::num::Rounding;

    fn i(s: &str) -> Int {
        Int::parse_strict(s).unwrap()
    }

    #[test]
    fn overflow_promotes_and_demotes() {
        let max = Int::Small(i64::MAX);
        let big = max.add(&Int::ONE);
        assert!(matches!(big, Int::Big(_)));
        assert_eq!(big.to_string(), "9223372036854775808");
        assert_eq!(big.sub(&Int::ONE), Int::Small(i64::MAX));
        assert_eq!(
            Int::Small(i64::MIN).neg().to_string(),
            "9223372036854775808"
        );
        assert_eq!(
            Int::Small(i64::MIN)
                .quot(&Int::Small(-1))
                .unwrap()
                .to_string(),
            "9223372036854775808"
        );
        assert_eq!(
            Int::Small(i64::MIN).rem(&Int::Small(-1)).unwrap(),
            Int::ZERO
        );
    }

    #[test]
    fn euclidean_and_truncated_division() {
        for (a, b, d, m) in [
            (7, 2, 3, 1),
            (-7, 2, -4, -1),
            (7, -2, -3, 1),
            (-7, -2, 4, -1),
        ] {
            assert_eq!(
                Int::from(a as i64)
                    .div_euclid(&Int::from(b as i64))
                    .unwrap(),
                Int::from(d as i64)
            );
            assert_eq!(
                Int::from(a as i64).rem(&Int::from(b as i64)).unwrap(),
                Int::from(m as i64)
            );
        }
    }

    #[test]
    fn rounded_quotient_table() {
        use Rounding::*;
        let rows: &[(i64, i64, [i64; 5])] = &[
            (7, 2, [3, 4, 3, 4, 4]),
            (-7, 2, [-4, -3, -3, -4, -4]),
            (7, -2, [-4, -3, -3, -4, -4]),
            (-7, -2, [3, 4, 3, 4, 4]),
            (5, 2, [2, 3, 2, 3, 2]),
            (-5, 2, [-3, -2, -2, -3, -2]),
            (8, 3, [2, 3, 2, 3, 3]),
            (-8, 3, [-3, -2, -2, -3, -3]),
            (1, 3, [0, 1, 0, 1, 0]),
            (-1, 3, [-1, 0, 0, -1, 0]),
            (2, 3, [0, 1, 0, 1, 1]),
            (-2, 3, [-1, 0, 0, -1, -1]),
            (6, 2, [3, 3, 3, 3, 3]),
            (0, 5, [0, 0, 0, 0, 0]),
            (25, 10, [2, 3, 2, 3, 2]),
            (-25, 10, [-3, -2, -2, -3, -2]),
            (35, 10, [3, 4, 3, 4, 4]),
        ];
        for (n, d, want) in rows {
            for (mode, w) in [Down, Up, TowardZero, AwayFromZero, HalfEven]
                .iter()
                .zip(want)
            {
                assert_eq!(
                    Int::from(*n).div_round(&Int::from(*d), *mode).unwrap(),
                    Int::from(*w),
                    "{n}/{d} {mode:?}"
                );
            }
        }
    }

    #[test]
    fn strict_parse() {
        assert_eq!(i("-0"), Int::ZERO);
        assert_eq!(i("00042"), Int::from(42i64));
        assert_eq!(
            i("123456789012345678901234567890").to_string(),
            "123456789012345678901234567890"
        );
        for bad in ["", "-", "+1", "1e3", "0x1F", " 1", "1.0"] {
            assert!(Int::parse_strict(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn bytes_round_trip() {
        assert_eq!(Int::from_bytes_be(&[1, 0, 2]), Int::from(65538i64));
        assert_eq!(Int::from(65538i64).to_bytes_be().unwrap(), vec![1, 0, 2]);
        assert_eq!(Int::ZERO.to_bytes_be().unwrap(), vec![0]);
        assert_eq!(Int::from_bytes_be(&[]), Int::ZERO);
        assert!(Int::from(-1i64).to_bytes_be().is_none());
    }

    #[test]
    fn ordering_across_representations() {
        let big = i("100000000000000000000");
        let nbig = i("-100000000000000000000");
        assert!(nbig < Int::Small(i64::MIN));
        assert!(Int::Small(i64::MAX) < big);
        assert!(nbig < big);
    }

    /// An integer from a sign, a magnitude in words and a small offset:
    /// values around 0, around ±2^63 and far beyond.
    fn arb_int() -> impl proptest::strategy::Strategy<Value = Int> {
        use proptest::prelude::*;
        // Around the i64 and i128 edges (the fast paths' bounds) as well.
        let shift = prop_oneof![0u32..200, 60u32..66, 124u32..130];
        (any::<bool>(), shift, any::<i64>()).prop_map(|(neg, shift, off)| {
            let m = (IBig::from(1) << shift as usize) + IBig::from(off);
            Int::from_big(if neg { -m } else { m })
        })
    }

    proptest::proptest! {
        #[test]
        fn add_in_place_equals_add(a in arb_int(), b in arb_int(), sub in proptest::bool::ANY) {
            let want = if sub { a.sub(&b) } else { a.add(&b) };
            let mut x = a.clone();
            // `a` is still held by the test: the first attempt must refuse.
            proptest::prop_assert!(!x.add_in_place(&b, sub, usize::MAX) || matches!(a, Int::Small(_)));
            let mut x = Int::from_big(a.to_ibig());
            if x.add_in_place(&b, sub, usize::MAX) {
                proptest::prop_assert_eq!(&x, &want);
                // One representation per value.
                proptest::prop_assert_eq!(matches!(x, Int::Small(_)), i64::try_from(&x.to_ibig()).is_ok());
            } else {
                proptest::prop_assert!(matches!(x, Int::Small(_)));
            }
            // A bound below the result's size refuses and leaves it unchanged.
            let mut y = Int::from_big(a.to_ibig());
            if !y.add_in_place(&b, sub, 1) {
                proptest::prop_assert_eq!(&y, &a);
            }
        }
    }
}
