//! Numerics: arbitrary-precision [`Int`], fixed-point [`Fixed`] and exact
//! [`Rational`], with the five rounding modes and the cross-kind numeric
//! ordering chosen in `DECISIONS.md`.

mod int;

pub use int::Int;

use crate::error::{err, ErrorCode, VmResult};
use std::cmp::Ordering;

/// Rounding modes for `DIV` and fixed-point rescaling.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rounding {
    /// Toward negative infinity (floor). JSON `RoundDown`.
    Down,
    /// Toward positive infinity (ceiling). JSON `RoundUp`.
    Up,
    /// Ties to even. JSON `RoundHalfEven`.
    HalfEven,
    /// Truncate. JSON `RoundTowardZero`.
    TowardZero,
    /// Away from zero. JSON `RoundAwayFromZero`.
    AwayFromZero,
}

impl Rounding {
    /// Parses the JSON name (`RoundDown`, `RoundUp`, `RoundHalfEven`,
    /// `RoundTowardZero`, `RoundAwayFromZero`).
    pub fn from_name(s: &str) -> Option<Rounding> {
        Some(match s {
            "RoundDown" => Rounding::Down,
            "RoundUp" => Rounding::Up,
            "RoundHalfEven" => Rounding::HalfEven,
            "RoundTowardZero" => Rounding::TowardZero,
            "RoundAwayFromZero" => Rounding::AwayFromZero,
            _ => return None,
        })
    }

    /// The JSON name.
    pub fn name(self) -> &'static str {
        match self {
            Rounding::Down => "RoundDown",
            Rounding::Up => "RoundUp",
            Rounding::HalfEven => "RoundHalfEven",
            Rounding::TowardZero => "RoundTowardZero",
            Rounding::AwayFromZero => "RoundAwayFromZero",
        }
    }
}

/// Largest power of ten a fixed-point rescale may build (in decimal digits).
/// Beyond it an operation fails with `ArithmeticOverflow` instead of
/// exhausting memory; see `COMPATIBILITY.md`.
pub const MAX_SCALE_SHIFT: i64 = 100_000;

/// `10^n` as an [`Int`], failing cleanly when `n` exceeds [`MAX_SCALE_SHIFT`].
pub fn pow10_checked(n: i64) -> VmResult<Int> {
    if !(0..=MAX_SCALE_SHIFT).contains(&n) {
        return err(
            ErrorCode::ArithmeticOverflow,
            format!("Fixed scale shift {n} is too large"),
        );
    }
    Ok(Int::pow10(n as u32))
}

/// A fixed-point decimal: `value × 10^-scale`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Fixed {
    /// The unscaled integer.
    pub value: Int,
    /// The number of decimal places (may be negative).
    pub scale: i32,
}

impl Fixed {
    /// Builds a fixed-point value.
    pub fn new(value: Int, scale: i32) -> Fixed {
        Fixed { value, scale }
    }

    /// Rescales to `s`, rounding by `mode` when digits are dropped.
    pub fn rescale(&self, s: i32, mode: Rounding) -> VmResult<Fixed> {
        let diff = s as i64 - self.scale as i64;
        match diff.cmp(&0) {
            Ordering::Equal => Ok(self.clone()),
            Ordering::Greater => Ok(Fixed::new(self.value.mul(&pow10_checked(diff)?), s)),
            Ordering::Less => {
                let d = pow10_checked(-diff)?;
                Ok(Fixed::new(
                    self.value.div_round(&d, mode).expect("nonzero"),
                    s,
                ))
            }
        }
    }

    /// Sum at the larger scale.
    pub fn add(&self, other: &Fixed) -> VmResult<Fixed> {
        let s = self.scale.max(other.scale);
        let a = self.rescale(s, Rounding::TowardZero)?;
        let b = other.rescale(s, Rounding::TowardZero)?;
        Ok(Fixed::new(a.value.add(&b.value), s))
    }

    /// Difference at the larger scale.
    pub fn sub(&self, other: &Fixed) -> VmResult<Fixed> {
        let s = self.scale.max(other.scale);
        let a = self.rescale(s, Rounding::TowardZero)?;
        let b = other.rescale(s, Rounding::TowardZero)?;
        Ok(Fixed::new(a.value.sub(&b.value), s))
    }

    /// Product; scales add.
    pub fn mul(&self, other: &Fixed) -> VmResult<Fixed> {
        let scale = self.scale as i64 + other.scale as i64;
        let scale = i32::try_from(scale)
            .or_else(|_| err(ErrorCode::ArithmeticOverflow, "Fixed scale out of range"))?;
        Ok(Fixed::new(self.value.mul(&other.value), scale))
    }

    /// Quotient at the dividend's scale, rounded by `mode`.
    pub fn div(&self, other: &Fixed, mode: Rounding) -> VmResult<Fixed> {
        if other.value.is_zero() {
            return err(ErrorCode::DivisionByZero, "Fixed division failed");
        }
        let (n, d) = if other.scale >= 0 {
            (
                self.value.mul(&pow10_checked(other.scale as i64)?),
                other.value.clone(),
            )
        } else {
            (
                self.value.clone(),
                other.value.mul(&pow10_checked(-(other.scale as i64))?),
            )
        };
        Ok(Fixed::new(
            n.div_round(&d, mode).expect("nonzero"),
            self.scale,
        ))
    }

    /// Negation (same scale).
    pub fn neg(&self) -> Fixed {
        Fixed::new(self.value.neg(), self.scale)
    }

    /// Absolute value (same scale).
    pub fn abs(&self) -> Fixed {
        Fixed::new(self.value.abs(), self.scale)
    }

    /// The exact value as a normalised rational.
    pub fn to_rational(&self) -> VmResult<Rational> {
        if self.scale >= 0 {
            Rational::normalized(self.value.clone(), pow10_checked(self.scale as i64)?)
        } else {
            Rational::normalized(
                self.value.mul(&pow10_checked(-(self.scale as i64))?),
                Int::ONE,
            )
        }
    }
}

/// A rational number. Values decoded from JSON are kept exactly as written
/// (possibly unreduced, or with a zero or negative denominator); arithmetic
/// results are normalised (gcd-reduced, denominator > 0).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Rational {
    /// Numerator.
    pub numerator: Int,
    /// Denominator.
    pub denominator: Int,
}

impl Rational {
    /// Builds a rational exactly as given (no normalisation).
    pub fn new(numerator: Int, denominator: Int) -> Rational {
        Rational {
            numerator,
            denominator,
        }
    }

    /// Builds a normalised rational; `DivisionByZero` when `d` is zero.
    pub fn normalized(n: Int, d: Int) -> VmResult<Rational> {
        if d.is_zero() {
            return err(ErrorCode::DivisionByZero, "Rational denominator is zero");
        }
        let g = n.gcd(&d);
        let (mut n, mut d) = if g == Int::ONE || g.is_zero() {
            (n, d)
        } else {
            (n.quot(&g).expect("g>0"), d.quot(&g).expect("g>0"))
        };
        if d.is_negative() {
            n = n.neg();
            d = d.neg();
        }
        Ok(Rational::new(n, d))
    }

    /// An integer as a rational `n/1`.
    pub fn from_int(n: &Int) -> Rational {
        Rational::new(n.clone(), Int::ONE)
    }

    /// Sum (normalised).
    pub fn add(&self, o: &Rational) -> VmResult<Rational> {
        Rational::normalized(
            self.numerator
                .mul(&o.denominator)
                .add(&o.numerator.mul(&self.denominator)),
            self.denominator.mul(&o.denominator),
        )
    }

    /// Difference (normalised).
    pub fn sub(&self, o: &Rational) -> VmResult<Rational> {
        Rational::normalized(
            self.numerator
                .mul(&o.denominator)
                .sub(&o.numerator.mul(&self.denominator)),
            self.denominator.mul(&o.denominator),
        )
    }

    /// Product (normalised).
    pub fn mul(&self, o: &Rational) -> VmResult<Rational> {
        Rational::normalized(
            self.numerator.mul(&o.numerator),
            self.denominator.mul(&o.denominator),
        )
    }

    /// Quotient (normalised); `DivisionByZero` when `o` is zero.
    pub fn div(&self, o: &Rational) -> VmResult<Rational> {
        if o.numerator.is_zero() {
            return err(ErrorCode::DivisionByZero, "Rational division by zero");
        }
        Rational::normalized(
            self.numerator.mul(&o.denominator),
            self.denominator.mul(&o.numerator),
        )
    }

    /// Negation of the value (normalised).
    pub fn neg(&self) -> VmResult<Rational> {
        Rational::normalized(self.numerator.neg(), self.denominator.clone())
    }

    /// Absolute value (normalised).
    pub fn abs(&self) -> VmResult<Rational> {
        let n = Rational::normalized(self.numerator.clone(), self.denominator.clone())?;
        Ok(Rational::new(n.numerator.abs(), n.denominator))
    }

    /// Numeric comparison of two rationals. Rationals with a zero denominator
    /// (only possible from decoded JSON) sort above every finite number.
    pub fn cmp_value(&self, o: &Rational) -> Ordering {
        match (self.denominator.is_zero(), o.denominator.is_zero()) {
            (true, true) => return Ordering::Equal,
            (true, false) => return Ordering::Greater,
            (false, true) => return Ordering::Less,
            _ => {}
        }
        // a/b ? c/d  <=>  a*d*sign ? c*b*sign, sign = sign(b*d)
        let l = self.numerator.mul(&o.denominator);
        let r = o.numerator.mul(&self.denominator);
        let c = l.cmp(&r);
        if self.denominator.is_negative() != o.denominator.is_negative() {
            c.reverse()
        } else {
            c
        }
    }
}

/// Numeric comparison of an [`Int`] with a [`Fixed`].
pub fn cmp_int_fixed(a: &Int, b: &Fixed) -> Ordering {
    // a ? v*10^-s  <=>  a*10^s ? v   (s >= 0),   a ? v*10^k  (s = -k < 0)
    if b.scale >= 0 {
        match pow10_checked(b.scale as i64) {
            Ok(p) => a.mul(&p).cmp(&b.value),
            Err(_) => cmp_scaled(a, 0, &b.value, -(b.scale as i64)),
        }
    } else {
        match pow10_checked(-(b.scale as i64)) {
            Ok(p) => a.cmp(&b.value.mul(&p)),
            Err(_) => cmp_scaled(a, 0, &b.value, -(b.scale as i64)),
        }
    }
}

/// Exact comparison of `x × 10^ex` with `y × 10^ey`, for scales too large
/// to build `10^|ex − ey|`: the power is only built when it is no larger
/// than the operands themselves (regression
/// `regression_prop_value_order_huge_fixed_scale`: the former sign-only
/// shortcuts made the value order intransitive).
#[cold]
fn cmp_scaled(x: &Int, ex: i64, y: &Int, ey: i64) -> Ordering {
    let (sx, sy) = (x.signum(), y.signum());
    if sx != sy || sx == 0 {
        return sx.cmp(&sy);
    }
    let magnitude = if ex >= ey {
        cmp_magnitude_shifted(x, ex - ey, y)
    } else {
        cmp_magnitude_shifted(y, ey - ex, x).reverse()
    };
    if sx < 0 {
        magnitude.reverse()
    } else {
        magnitude
    }
}

/// `|a| × 10^k ? |b|` for nonzero `a`, `b` and `k ≥ 0`.
fn cmp_magnitude_shifted(a: &Int, k: i64, b: &Int) -> Ordering {
    // |a| × 10^k ≥ 10^k ≥ 2^(3k) ≥ 2^bits(b) > |b| once 3k ≥ bits(b).
    if k.saturating_mul(3) >= b.bit_len() as i64 {
        return Ordering::Greater;
    }
    a.abs().mul(&Int::pow10(k as u32)).cmp(&b.abs())
}

/// Numeric comparison of two fixed-point values.
pub fn cmp_fixed(a: &Fixed, b: &Fixed) -> Ordering {
    if a.scale == b.scale {
        return a.value.cmp(&b.value);
    }
    let s = a.scale.max(b.scale);
    match (
        a.rescale(s, Rounding::TowardZero),
        b.rescale(s, Rounding::TowardZero),
    ) {
        (Ok(x), Ok(y)) => x.value.cmp(&y.value),
        _ => cmp_scaled(&a.value, -(a.scale as i64), &b.value, -(b.scale as i64)),
    }
}

/// Numeric comparison of a fixed-point value with a rational.
pub fn cmp_fixed_rational(a: &Fixed, b: &Rational) -> Ordering {
    match a.to_rational() {
        Ok(r) => r.cmp_value(b),
        // n/0 is above every number (as in `Rational::cmp_value`).
        Err(_) if b.denominator.is_zero() => Ordering::Less,
        Err(_) => {
            // v × 10^-s ? n / d  <=>  v × |d| × 10^-s ? n × sign(d)
            let (n, d) = if b.denominator.is_negative() {
                (b.numerator.neg(), b.denominator.neg())
            } else {
                (b.numerator.clone(), b.denominator.clone())
            };
            cmp_scaled(&a.value.mul(&d), -(a.scale as i64), &n, 0)
        }
    }
}

/// Strict 32-bit decimal parse: optional `-`, then digits.
pub fn parse_i32_strict(s: &str) -> Option<i32> {
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<i32>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fx(v: i64, s: i32) -> Fixed {
        Fixed::new(Int::from(v), s)
    }

    #[test]
    fn fixed_examples_from_the_spec() {
        assert_eq!(fx(123, 2).add(&fx(456, 2)).unwrap(), fx(579, 2));
        assert_eq!(fx(123, 2).add(&fx(1, 0)).unwrap(), fx(223, 2));
        assert_eq!(fx(123, 2).mul(&fx(123, 2)).unwrap(), fx(15129, 4));
        assert_eq!(
            fx(456, 2).div(&fx(123, 2), Rounding::Down).unwrap(),
            fx(370, 2)
        );
        assert_eq!(fx(1, 0).div(&fx(2, 0), Rounding::Down).unwrap(), fx(0, 0));
        assert_eq!(
            fx(100, 2).div(&fx(2, 0), Rounding::Down).unwrap(),
            fx(50, 2)
        );
        assert_eq!(
            fx(100, 2).div(&fx(3, 1), Rounding::HalfEven).unwrap(),
            fx(333, 2)
        );
        assert_eq!(fx(1, 0).rescale(2, Rounding::Down).unwrap(), fx(100, 2));
        assert_eq!(fx(123, 2).rescale(0, Rounding::Down).unwrap(), fx(1, 0));
        // negative divisor scale: 1.00 / (1 * 10^2) = 0.01
        assert_eq!(
            fx(100, 2).div(&fx(1, -2), Rounding::Down).unwrap(),
            fx(1, 2)
        );
        assert!(fx(1, 0).div(&fx(0, 3), Rounding::Down).is_err());
    }

    #[test]
    fn rational_normalisation() {
        let r = |n: i64, d: i64| Rational::normalized(Int::from(n), Int::from(d)).unwrap();
        assert_eq!(r(2, 4), Rational::new(Int::from(1i64), Int::from(2i64)));
        assert_eq!(r(1, -2), Rational::new(Int::from(-1i64), Int::from(2i64)));
        assert_eq!(r(0, -5), Rational::new(Int::ZERO, Int::ONE));
        assert!(Rational::normalized(Int::ONE, Int::ZERO).is_err());
        let half = r(1, 2);
        let third = r(1, 3);
        assert_eq!(half.add(&third).unwrap(), r(5, 6));
        assert_eq!(half.mul(&third).unwrap(), r(1, 6));
        assert_eq!(half.div(&third).unwrap(), r(3, 2));
        assert_eq!(
            Rational::new(Int::ONE, Int::from(-2i64)).abs().unwrap(),
            r(1, 2)
        );
    }

    #[test]
    fn numeric_cross_kind_comparisons() {
        assert_eq!(
            cmp_int_fixed(&Int::from(1000i64), &fx(1, 2)),
            Ordering::Greater
        );
        assert_eq!(
            cmp_int_fixed(&Int::from(1i64), &fx(100, 2)),
            Ordering::Equal
        );
        assert_eq!(cmp_fixed(&fx(5, 0), &fx(100, 2)), Ordering::Greater);
        let third = Rational::new(Int::ONE, Int::from(3i64));
        let half = Rational::new(Int::ONE, Int::from(2i64));
        assert_eq!(half.cmp_value(&third), Ordering::Greater);
        assert_eq!(
            Rational::new(Int::ONE, Int::from(-2i64)).cmp_value(&third),
            Ordering::Less
        );
        assert_eq!(cmp_fixed_rational(&fx(5, 1), &half), Ordering::Equal);
    }
}
