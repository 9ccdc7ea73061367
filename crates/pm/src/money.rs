//! Exact money arithmetic: [`ExactWei`] (a signed rational number of wei, like go-livepeer's
//! `*big.Rat` balances), the wire price [`PriceInfo`] and its reduced form [`PricePerPixel`].

use std::cmp::Ordering;
use std::fmt;

use alloy_primitives::{U256, U512, ruint::Uint};
use serde::{Serialize, Serializer};

use crate::PmError;

/// 512-bit magnitude used for the numerator and denominator of [`ExactWei`]: enough for
/// `faceValue × winProb` exactly.
type Big = U512;
/// 1024-bit product used to compare two [`ExactWei`] values without overflow.
type Wide = Uint<1024, 16>;

/// `M = 2^256 - 1`, go-livepeer's `maxWinProb` (see go-livepeer `pm/recipient.go`): the
/// denominator of every win probability when an expected value is computed.
pub const MAX_WIN_PROB: U256 = U256::MAX;

/// An exact, signed amount of wei held as a reduced fraction `num / den`.
///
/// go-livepeer keeps every credit and balance as a `*big.Rat` (see go-livepeer
/// `core/accounting.go`, `pm/ticket.go:ticketEV`), so a ticket's expected value
/// `faceValue * winProb / (2^256 - 1)` is credited without rounding; this type does the same so
/// that balances match go to the last fraction of a wei.
///
/// Invariants: `den > 0`, `gcd(num, den) == 1`, and zero is never negative. Numerator and
/// denominator are 512-bit; every operation is checked and fails with [`PmError::Overflow`]
/// instead of wrapping (this only happens for amounts far beyond any real deposit).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExactWei {
    negative: bool,
    num: Big,
    den: Big,
}

impl ExactWei {
    /// Zero wei.
    pub const ZERO: Self = Self {
        negative: false,
        num: Big::ZERO,
        den: Big::ONE,
    };

    /// A whole number of wei.
    pub fn from_wei(wei: U256) -> Self {
        Self {
            negative: false,
            num: Big::from(wei),
            den: Big::ONE,
        }
    }

    /// `num / den` wei, reduced. Errors with [`PmError::ZeroDenominator`] when `den` is zero.
    pub fn from_ratio(num: U256, den: U256) -> Result<Self, PmError> {
        if den.is_zero() {
            return Err(PmError::ZeroDenominator);
        }
        Ok(Self::reduced(false, Big::from(num), Big::from(den)))
    }

    /// The expected value of a ticket, `faceValue * winProb / (2^256 - 1)`, exact (see
    /// go-livepeer `pm/ticket.go:ticketEV`). Never fails: the product fits in 512 bits.
    pub fn ticket_ev(face_value: U256, win_prob: U256) -> Self {
        let product: U512 = face_value.widening_mul(win_prob);
        Self::reduced(false, product, Big::from(MAX_WIN_PROB))
    }

    fn reduced(negative: bool, num: Big, den: Big) -> Self {
        if num.is_zero() {
            return Self::ZERO;
        }
        let g = num.gcd(den);
        // g >= 1 because num != 0.
        let (num, den) = if g == Big::ONE {
            (num, den)
        } else {
            (num / g, den / g)
        };
        Self { negative, num, den }
    }

    /// True when the amount is below zero.
    pub fn is_negative(&self) -> bool {
        self.negative
    }

    /// True when the amount is exactly zero.
    pub fn is_zero(&self) -> bool {
        self.num.is_zero()
    }

    /// True when the amount is a whole number of wei.
    pub fn is_integer(&self) -> bool {
        self.den == Big::ONE
    }

    /// `self + other`. Errors with [`PmError::Overflow`] past 512-bit terms.
    pub fn checked_add(self, other: Self) -> Result<Self, PmError> {
        let overflow = || PmError::Overflow { op: "ExactWei add" };
        let g = self.den.gcd(other.den);
        let den = (self.den / g).checked_mul(other.den).ok_or_else(overflow)?;
        let a = self.num.checked_mul(other.den / g).ok_or_else(overflow)?;
        let b = other.num.checked_mul(self.den / g).ok_or_else(overflow)?;
        let (negative, num) = match (self.negative, other.negative) {
            (false, false) => (false, a.checked_add(b).ok_or_else(overflow)?),
            (true, true) => (true, a.checked_add(b).ok_or_else(overflow)?),
            (sa, _) => {
                // Opposite signs: subtract the smaller magnitude from the larger one.
                if a >= b { (sa, a - b) } else { (!sa, b - a) }
            }
        };
        Ok(Self::reduced(negative, num, den))
    }

    /// `self - other`. Errors with [`PmError::Overflow`] past 512-bit terms.
    pub fn checked_sub(self, other: Self) -> Result<Self, PmError> {
        self.checked_add(-other)
    }

    /// `self * other`. Errors with [`PmError::Overflow`] past 512-bit terms.
    pub fn checked_mul(self, other: Self) -> Result<Self, PmError> {
        let overflow = || PmError::Overflow { op: "ExactWei mul" };
        // Cross-reduce first to keep the terms small.
        let g1 = self.num.gcd(other.den);
        let g2 = other.num.gcd(self.den);
        let (g1, g2) = (
            if g1.is_zero() { Big::ONE } else { g1 },
            if g2.is_zero() { Big::ONE } else { g2 },
        );
        let num = (self.num / g1)
            .checked_mul(other.num / g2)
            .ok_or_else(overflow)?;
        let den = (self.den / g2)
            .checked_mul(other.den / g1)
            .ok_or_else(overflow)?;
        Ok(Self::reduced(self.negative != other.negative, num, den))
    }

    /// `self * n` for a count `n` (tickets, pixels).
    pub fn checked_mul_u64(self, n: u64) -> Result<Self, PmError> {
        match n {
            0 => Ok(Self::ZERO),
            1 => Ok(self),
            _ => self.checked_mul(Self::from_wei(U256::from(n))),
        }
    }

    /// `self / other`. Errors with [`PmError::ZeroDenominator`] when `other` is zero.
    pub fn checked_div(self, other: Self) -> Result<Self, PmError> {
        if other.is_zero() {
            return Err(PmError::ZeroDenominator);
        }
        let inverse = Self {
            negative: other.negative,
            num: other.den,
            den: other.num,
        };
        self.checked_mul(inverse)
    }

    /// The smallest integer `>= self`, for a non-negative amount that fits in a `u64` (a ticket
    /// count). Errors with [`PmError::Overflow`] when negative or too large.
    pub fn ceil_u64(self) -> Result<u64, PmError> {
        let overflow = || PmError::Overflow { op: "ticket count" };
        if self.negative {
            return Err(overflow());
        }
        let (q, r) = self.num.div_rem(self.den);
        let q = if r.is_zero() { q } else { q + Big::ONE };
        u64::try_from(q).map_err(|_| overflow())
    }

    /// The amount rounded toward negative infinity, as a sign and a magnitude in wei
    /// (`(true, 3)` is -3 wei). Errors with [`PmError::Overflow`] past 256 bits.
    pub fn floor_wei(self) -> Result<(bool, U256), PmError> {
        let (q, r) = self.num.div_rem(self.den);
        let q = if self.negative && !r.is_zero() {
            q + Big::ONE
        } else {
            q
        };
        if q > Big::from(U256::MAX) {
            return Err(PmError::Overflow { op: "floor_wei" });
        }
        let q = U256::wrapping_from(q);
        Ok((self.negative && !q.is_zero(), q))
    }

    /// The numerator's magnitude and the denominator, as decimal strings (for reports).
    pub fn parts(&self) -> (bool, String, String) {
        (self.negative, self.num.to_string(), self.den.to_string())
    }

    fn cmp_magnitude(&self, other: &Self) -> Ordering {
        let l: Wide = self.num.widening_mul(other.den);
        let r: Wide = other.num.widening_mul(self.den);
        l.cmp(&r)
    }
}

impl Default for ExactWei {
    fn default() -> Self {
        Self::ZERO
    }
}

impl Ord for ExactWei {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.negative, other.negative) {
            (false, true) => Ordering::Greater,
            (true, false) => Ordering::Less,
            (false, false) => self.cmp_magnitude(other),
            (true, true) => other.cmp_magnitude(self),
        }
    }
}

impl PartialOrd for ExactWei {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl std::ops::Neg for ExactWei {
    type Output = Self;

    /// The negated amount (zero stays zero).
    fn neg(self) -> Self {
        if self.is_zero() {
            return self;
        }
        Self {
            negative: !self.negative,
            ..self
        }
    }
}

impl From<U256> for ExactWei {
    fn from(wei: U256) -> Self {
        Self::from_wei(wei)
    }
}

/// `"-12"` for whole amounts, `"7/3"` for fractions (exact, like go's `big.Rat.String`
/// without the `/1`).
impl fmt::Display for ExactWei {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.negative {
            f.write_str("-")?;
        }
        if self.is_integer() {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

impl fmt::Debug for ExactWei {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExactWei({self})")
    }
}

impl Serialize for ExactWei {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A price as it travels on the wire in `net.PriceInfo`: `price_per_unit` wei for every
/// `pixels_per_unit` pixels (both protobuf `int64`; see go-livepeer `net/lp_rpc.proto`).
///
/// Kept unreduced so that a `Payment.expected_price` is echoed byte for byte; use
/// [`PricePerPixel::try_from`] for the reduced fraction go hashes into recipientRand.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
pub struct PriceInfo {
    /// Wei per unit (`PriceInfo.pricePerUnit`, field 1).
    pub price_per_unit: i64,
    /// Pixels per unit (`PriceInfo.pixelsPerUnit`, field 2); must be positive.
    pub pixels_per_unit: i64,
}

impl PriceInfo {
    /// A price of `price_per_unit` wei per `pixels_per_unit` pixels.
    pub const fn new(price_per_unit: i64, pixels_per_unit: i64) -> Self {
        Self {
            price_per_unit,
            pixels_per_unit,
        }
    }
}

/// The price per pixel in wei as a reduced fraction `num / den` (`den >= 1`), the way
/// go-livepeer `common/util.go:RatPriceInfo` builds a `big.Rat` from a [`PriceInfo`]: a zero
/// price is `0/1`, so its numerator is empty and its denominator `0x01` in the recipientRand
/// message (see pm.md §3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct PricePerPixel {
    num: u64,
    den: u64,
}

impl PricePerPixel {
    /// A price of zero (`0/1`).
    pub const ZERO: Self = Self { num: 0, den: 1 };

    /// The reduced fraction `num / den`. Errors with [`PmError::ZeroDenominator`] if `den == 0`.
    pub fn new(num: u64, den: u64) -> Result<Self, PmError> {
        if den == 0 {
            return Err(PmError::ZeroDenominator);
        }
        if num == 0 {
            return Ok(Self::ZERO);
        }
        let g = gcd_u64(num, den);
        Ok(Self {
            num: num / g,
            den: den / g,
        })
    }

    /// Reduced numerator (wei).
    pub fn num(&self) -> u64 {
        self.num
    }

    /// Reduced denominator (pixels), at least 1.
    pub fn den(&self) -> u64 {
        self.den
    }

    /// True for a price of zero: no tickets are needed (go: `price.Num() == 0`).
    pub fn is_zero(&self) -> bool {
        self.num == 0
    }

    /// The exact fee for `pixels` pixels, `pixels * num / den` wei (see go-livepeer
    /// `core/orchestrator.go:DebitFees`).
    pub fn fee(&self, pixels: u64) -> Result<ExactWei, PmError> {
        ExactWei::from_ratio(U256::from(self.num), U256::from(self.den))?.checked_mul_u64(pixels)
    }
}

impl TryFrom<PriceInfo> for PricePerPixel {
    type Error = PmError;

    /// Errors with [`PmError::InvalidPrice`] when `pixels_per_unit <= 0` or
    /// `price_per_unit < 0` (go-livepeer refuses `pixelsPerUnit == 0` in
    /// `core/orchestrator.go:ProcessPayment`; a negative price has no meaning).
    fn try_from(price: PriceInfo) -> Result<Self, PmError> {
        let invalid = || PmError::InvalidPrice {
            price_per_unit: price.price_per_unit,
            pixels_per_unit: price.pixels_per_unit,
        };
        let num = u64::try_from(price.price_per_unit).map_err(|_| invalid())?;
        let den = u64::try_from(price.pixels_per_unit).map_err(|_| invalid())?;
        if den == 0 {
            return Err(invalid());
        }
        Self::new(num, den)
    }
}

fn gcd_u64(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(n: u64) -> ExactWei {
        ExactWei::from_wei(U256::from(n))
    }

    fn r(n: u64, d: u64) -> ExactWei {
        ExactWei::from_ratio(U256::from(n), U256::from(d)).expect("non-zero denominator")
    }

    #[test]
    fn arithmetic_table() {
        // (a, b, a+b, a-b, a*b)
        let cases = [
            (w(1), w(2), w(3), -w(1), w(2)),
            (r(1, 3), r(1, 6), r(1, 2), r(1, 6), r(1, 18)),
            (r(2, 4), ExactWei::ZERO, r(1, 2), r(1, 2), ExactWei::ZERO),
            (r(5, 7), r(5, 7), r(10, 7), ExactWei::ZERO, r(25, 49)),
            (-w(3), r(1, 2), -r(5, 2), -r(7, 2), -r(3, 2)),
        ];
        for (a, b, sum, diff, prod) in cases {
            assert_eq!(a.checked_add(b).expect("add"), sum, "{a} + {b}");
            assert_eq!(a.checked_sub(b).expect("sub"), diff, "{a} - {b}");
            assert_eq!(a.checked_mul(b).expect("mul"), prod, "{a} * {b}");
        }
    }

    #[test]
    fn ordering_and_sign() {
        let mut values = vec![r(1, 2), -w(1), ExactWei::ZERO, r(1, 3), -r(2, 3), w(7)];
        values.sort();
        assert_eq!(
            values,
            vec![-w(1), -r(2, 3), ExactWei::ZERO, r(1, 3), r(1, 2), w(7)]
        );
        assert!(!(-ExactWei::ZERO).is_negative());
    }

    #[test]
    fn ceil_and_floor() {
        let cases = [
            (r(7, 2), 4, (false, 3)),
            (w(5), 5, (false, 5)),
            (r(1, 3), 1, (false, 0)),
        ];
        for (value, ceil, floor) in cases {
            assert_eq!(value.ceil_u64().expect("ceil"), ceil);
            assert_eq!(
                value.floor_wei().expect("floor"),
                (floor.0, U256::from(floor.1))
            );
        }
        assert_eq!(
            (-r(7, 2)).floor_wei().expect("floor"),
            (true, U256::from(4))
        );
        assert!((-w(1)).ceil_u64().is_err());
    }

    #[test]
    fn ticket_ev_is_exact() {
        // faceValue * 2^255 / (2^256 - 1): not an integer, slightly above faceValue / 2.
        let half = U256::from(1) << 255;
        let ev = ExactWei::ticket_ev(U256::from(1_000u64), half);
        assert!(ev > w(500));
        assert!(ev < r(1001, 2));
        assert_eq!(ExactWei::ticket_ev(U256::from(9u64), MAX_WIN_PROB), w(9));
        assert_eq!(
            ExactWei::ticket_ev(U256::ZERO, MAX_WIN_PROB),
            ExactWei::ZERO
        );
        // Exact: EV × M == faceValue × winProb, and the fraction is reduced (gcd 5).
        let back = ev
            .checked_mul(ExactWei::from_wei(MAX_WIN_PROB))
            .expect("mul");
        assert_eq!(
            back,
            w(1000).checked_mul(ExactWei::from_wei(half)).expect("mul")
        );
        assert_eq!(ev.parts().2, (MAX_WIN_PROB / U256::from(5u64)).to_string());
    }

    #[test]
    fn price_reduction_matches_go_rat() {
        // (wire price, reduced num, reduced den); pm.md §10.1 ticket2 sends 6/14 and hashes 3/7.
        let cases = [
            (PriceInfo::new(6, 14), 3, 7),
            (PriceInfo::new(1200, 1), 1200, 1),
            (PriceInfo::new(0, 5), 0, 1),
            (PriceInfo::new(1, 1_000_000_000_000), 1, 1_000_000_000_000),
        ];
        for (price, num, den) in cases {
            let p = PricePerPixel::try_from(price).expect("valid price");
            assert_eq!((p.num(), p.den()), (num, den), "{price:?}");
        }
        for bad in [
            PriceInfo::new(1, 0),
            PriceInfo::new(-1, 1),
            PriceInfo::new(1, -3),
        ] {
            assert!(matches!(
                PricePerPixel::try_from(bad),
                Err(PmError::InvalidPrice { .. })
            ));
        }
    }

    #[test]
    fn fee_is_pixels_times_price() {
        let p = PricePerPixel::try_from(PriceInfo::new(6, 14)).expect("valid price");
        assert_eq!(p.fee(7).expect("fee"), w(3));
        assert_eq!(p.fee(1).expect("fee"), r(3, 7));
    }
}
