//! On-chain orchestrator selection: go-livepeer's `ProbabilitySelectionAlgorithm`
//! (`server/selection_algorithm.go`) as pure functions over [`SelectionCandidate`]s.
//!
//! In go's order:
//!
//! 1. **Performance score** ([`SelectionConfig::min_perf_score`], `-minPerfScore`): when it
//!    is above 0 and at least one candidate has a score, candidates scoring below it are
//!    dropped (a candidate without a score counts as 0); if none passes, the filter is skipped.
//! 2. **Max price** ([`SelectionConfig::max_price`], `-maxPricePerUnit` / `-pixelsPerUnit`):
//!    candidates priced above it are dropped; if none passes, nothing is selected, unless
//!    [`SelectionConfig::ignore_max_price_if_needed`] (`-ignoreMaxPriceIfNeeded`) is set, in
//!    which case the filter is skipped (every candidate left by step 1 stays).
//! 3. **Weights**: each remaining candidate gets
//!    `priceW × e^(−price/expFactor) / Σ e^(−price/expFactor) + stakeW × stake / Σ stake +
//!    randW × 1/N`, and one is drawn with those probabilities ([`draw`]).
//!
//! The functions return the probability of every candidate (0 for those filtered out), so a
//! node can report shares and tests can check them.
//!
//! Numbers: prices are exact [`PricePerPixel`] rationals and stakes are [`U256`] base units
//! of LPT; the filters compare them exactly. The weights are `f64`: a stake or price is
//! converted with a relative error below 2⁻⁵² (no overflow: the largest `U256` is about
//! 1.2 × 10⁷⁷, far inside `f64`), and sums are `f64` sums, so a probability is exact to
//! about 15 significant digits.
//!
//! Deviations from go-livepeer, all where go's result is an accident of floating point or of
//! map order rather than a rule:
//!
//! - go computes `e^(−price/expFactor)` as is, which underflows to 0 for every candidate once
//!   prices pass about 745 × expFactor wei per pixel; go then gives every candidate a price
//!   share of 1.0. We shift every exponent by the lowest price first, which gives the same
//!   normalised shares without the underflow.
//! - When no candidate has stake, go gives every candidate a stake share of 1.0 (so its
//!   probabilities sum past 1 and its draw favours whichever candidate Go's map iteration
//!   puts first); we split the stake share evenly (1/N).
//! - go draws `r ∈ [0, 1)` against the raw cumulative probabilities and picks the first with
//!   `r ≤ cumulative`; we scale `r` by the total and pick the first with `r < cumulative`, so
//!   a candidate with probability 0 is never drawn and the shares equal the probabilities.
//! - go's stakes are fixed-point LPT with 5 decimals in an `int64` (`common.BaseTokenAmountToFixed`);
//!   ours are the exact base units.

use alloy_primitives::{Address, U256};
use livepeer_pm::PricePerPixel;
use rand::Rng;

use crate::GatewayError;

/// Default `-selectStakeWeight` (go-livepeer `cmd/livepeer/starter/starter.go`).
pub const DEFAULT_SELECT_STAKE_WEIGHT: f64 = 0.7;
/// Default `-selectPriceWeight`.
pub const DEFAULT_SELECT_PRICE_WEIGHT: f64 = 0.0;
/// Default `-selectRandFreq` (go's flag for the random weight, `SelectRandWeight` in its
/// config).
pub const DEFAULT_SELECT_RAND_WEIGHT: f64 = 0.3;
/// Default `-selectPriceExpFactor`: how much a small price difference matters.
pub const DEFAULT_SELECT_PRICE_EXP_FACTOR: f64 = 100.0;
/// Default `-minPerfScore`: 0, no performance filter.
pub const DEFAULT_MIN_PERF_SCORE: f64 = 0.0;
/// Default `-maxPricePerUnit`: "0", any price.
pub const DEFAULT_MAX_PRICE_PER_UNIT: &str = "0";
/// Default `-pixelsPerUnit`: "1".
pub const DEFAULT_PIXELS_PER_UNIT: &str = "1";
/// How far the three weights may sum from 1.0 (go-livepeer `createSelectionAlgorithm`).
pub const WEIGHT_SUM_TOLERANCE: f64 = 0.0001;

/// The selection parameters (go-livepeer `server.ProbabilitySelectionAlgorithm` plus the
/// gateway's max price). Build with [`Default`] and check with [`SelectionConfig::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct SelectionConfig {
    /// `-selectStakeWeight`: weight of the stake share ([`DEFAULT_SELECT_STAKE_WEIGHT`]).
    pub stake_weight: f64,
    /// `-selectPriceWeight`: weight of the price share ([`DEFAULT_SELECT_PRICE_WEIGHT`]).
    pub price_weight: f64,
    /// `-selectRandFreq`: weight of the uniform share ([`DEFAULT_SELECT_RAND_WEIGHT`]).
    pub rand_weight: f64,
    /// `-selectPriceExpFactor`, wei per pixel: a price `p` weighs `e^(−p/factor)`
    /// ([`DEFAULT_SELECT_PRICE_EXP_FACTOR`]).
    pub price_exp_factor: f64,
    /// `-minPerfScore`: 0 (default) or below disables the filter.
    pub min_perf_score: f64,
    /// `-maxPricePerUnit` / `-pixelsPerUnit` as wei per pixel ([`max_price_from_flags`]);
    /// `None` accepts any price (go's `-maxPricePerUnit 0`).
    pub max_price: Option<PricePerPixel>,
    /// `-ignoreMaxPriceIfNeeded`: when no candidate is within the max price, select among
    /// all of them instead of none.
    pub ignore_max_price_if_needed: bool,
}

impl Default for SelectionConfig {
    fn default() -> Self {
        Self {
            stake_weight: DEFAULT_SELECT_STAKE_WEIGHT,
            price_weight: DEFAULT_SELECT_PRICE_WEIGHT,
            rand_weight: DEFAULT_SELECT_RAND_WEIGHT,
            price_exp_factor: DEFAULT_SELECT_PRICE_EXP_FACTOR,
            min_perf_score: DEFAULT_MIN_PERF_SCORE,
            max_price: None,
            ignore_max_price_if_needed: false,
        }
    }
}

impl SelectionConfig {
    /// Checks the weights and the exponent factor as go-livepeer does at start-up
    /// (`createSelectionAlgorithm`: the weights sum to 1 within [`WEIGHT_SUM_TOLERANCE`]),
    /// and also that each weight is a finite number ≥ 0 and the factor a finite number > 0
    /// (go accepts any float; a negative weight or factor has no meaning).
    ///
    /// Errors: [`GatewayError::InvalidWeight`], [`GatewayError::WeightsDoNotSumToOne`],
    /// [`GatewayError::InvalidPriceExpFactor`].
    pub fn validate(&self) -> Result<(), GatewayError> {
        for (name, value) in [
            ("-selectStakeWeight", self.stake_weight),
            ("-selectPriceWeight", self.price_weight),
            ("-selectRandFreq", self.rand_weight),
        ] {
            if !value.is_finite() || value < 0.0 {
                return Err(GatewayError::InvalidWeight { name, value });
            }
        }
        let sum = self.stake_weight + self.price_weight + self.rand_weight;
        if (sum - 1.0).abs() > WEIGHT_SUM_TOLERANCE {
            return Err(GatewayError::WeightsDoNotSumToOne {
                stake_weight: self.stake_weight,
                price_weight: self.price_weight,
                rand_weight: self.rand_weight,
            });
        }
        if !self.price_exp_factor.is_finite() || self.price_exp_factor <= 0.0 {
            return Err(GatewayError::InvalidPriceExpFactor(self.price_exp_factor));
        }
        Ok(())
    }
}

/// One orchestrator selection can choose.
#[derive(Debug, Clone, PartialEq)]
pub struct SelectionCandidate {
    /// Its on-chain address (go keys selection by `TicketParams.recipient`).
    pub address: Address,
    /// Its total stake for the current round, LPT base units (10⁻¹⁸ LPT).
    pub stake: U256,
    /// Its advertised price, wei per pixel.
    pub price: PricePerPixel,
    /// Its performance score from `-orchPerfStatsUrl`, if known (0..=1 in go-livepeer).
    pub perf_score: Option<f64>,
}

/// The outcome of [`select`].
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// Index of the chosen candidate; `None` when no candidate is left after the filters.
    pub chosen: Option<usize>,
    /// The probability of each candidate, in input order; 0 for those filtered out. They sum
    /// to 1 (within `f64` rounding) when any candidate is left.
    pub probabilities: Vec<f64>,
}

/// `-maxPricePerUnit` / `-pixelsPerUnit` as an exact max price per pixel (go-livepeer
/// `cmd/livepeer/starter/starter.go`, `parsePricePerUnit`).
///
/// `max_price_per_unit` is a decimal number of wei (`"1000"`, `"0.5"`), optionally followed
/// by `wei` or `eth` (× 10¹⁸); `pixels_per_unit` an integer > 0. A max price of 0 means any
/// price: `Ok(None)`. Other currencies (`USD`, …) need go's price feed and are refused.
///
/// Errors: [`GatewayError::InvalidMaxPrice`] for a malformed number, an unsupported
/// currency, `pixels_per_unit` ≤ 0, or a reduced fraction whose terms do not fit in 64 bits.
pub fn max_price_from_flags(
    max_price_per_unit: &str,
    pixels_per_unit: &str,
) -> Result<Option<PricePerPixel>, GatewayError> {
    let bad =
        |flag: &'static str, value: &str, reason: &'static str| GatewayError::InvalidMaxPrice {
            flag,
            value: value.to_string(),
            reason,
        };
    let pixels = pixels_per_unit.trim();
    if pixels.is_empty() || !pixels.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("-pixelsPerUnit", pixels_per_unit, "must be an integer"));
    }
    let pixels =
        decimal_u256(pixels).ok_or_else(|| bad("-pixelsPerUnit", pixels_per_unit, "too large"))?;
    if pixels.is_zero() {
        return Err(bad("-pixelsPerUnit", pixels_per_unit, "must be > 0"));
    }

    let flag = "-maxPricePerUnit";
    let text = max_price_per_unit.trim();
    let digits_end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (number, currency) = text.split_at(digits_end);
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number, ""),
    };
    if int_part.is_empty()
        || (number.contains('.') && frac_part.is_empty())
        || frac_part.contains('.')
    {
        return Err(bad(flag, max_price_per_unit, "must be a decimal number"));
    }
    let eth_exponent = match currency.to_ascii_lowercase().as_str() {
        "" | "wei" => 0u32,
        "eth" => 18,
        _ => {
            return Err(bad(
                flag,
                max_price_per_unit,
                "only wei or eth prices are supported (no price feed)",
            ));
        }
    };
    let too_large = || bad(flag, max_price_per_unit, "too large");
    let frac_len = u32::try_from(frac_part.len()).map_err(|_| too_large())?;
    let mut num = decimal_u256(&format!("{int_part}{frac_part}")).ok_or_else(too_large)?;
    num = num
        .checked_mul(pow10(eth_exponent).ok_or_else(too_large)?)
        .ok_or_else(too_large)?;
    if num.is_zero() {
        return Ok(None);
    }
    let den = pow10(frac_len)
        .and_then(|d| d.checked_mul(pixels))
        .ok_or_else(too_large)?;
    let g = num.gcd(den);
    let (num, den) = (num / g, den / g);
    let fits = |x: U256| u64::try_from(x).ok();
    match (fits(num), fits(den)) {
        (Some(num), Some(den)) => PricePerPixel::new(num, den)
            .map(Some)
            .map_err(|_| bad("-pixelsPerUnit", pixels_per_unit, "must be > 0")),
        _ => Err(bad(
            flag,
            max_price_per_unit,
            "wei per pixel does not fit a 64-bit fraction",
        )),
    }
}

fn decimal_u256(digits: &str) -> Option<U256> {
    let mut x = U256::ZERO;
    for b in digits.bytes() {
        let d = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        x = x
            .checked_mul(U256::from(10u8))?
            .checked_add(U256::from(d))?;
    }
    Some(x)
}

fn pow10(exp: u32) -> Option<U256> {
    U256::from(10u8).checked_pow(U256::from(exp))
}

/// Whether `price ≤ max`, exactly (cross-multiplied in 128 bits).
pub fn within_max_price(price: PricePerPixel, max: PricePerPixel) -> bool {
    u128::from(price.num()) * u128::from(max.den())
        <= u128::from(max.num()) * u128::from(price.den())
}

/// The indices of the candidates that pass the filters (steps 1 and 2 of the module docs),
/// in input order. Empty when the max price leaves none and
/// `ignore_max_price_if_needed` is off.
pub fn filter(config: &SelectionConfig, candidates: &[SelectionCandidate]) -> Vec<usize> {
    let all: Vec<usize> = (0..candidates.len()).collect();

    // go-livepeer filterByPerfScore: off when minPerfScore <= 0 or no scores are known; a
    // missing score is 0; skipped when nothing passes.
    let by_perf =
        if config.min_perf_score > 0.0 && candidates.iter().any(|c| c.perf_score.is_some()) {
            let passed: Vec<usize> = all
                .iter()
                .copied()
                .filter(|&i| candidates[i].perf_score.unwrap_or(0.0) >= config.min_perf_score)
                .collect();
            if passed.is_empty() {
                tracing::warn!(
                    candidates = candidates.len(),
                    min_perf_score = config.min_perf_score,
                    "no orchestrator passed the min performance score filter, not using the filter"
                );
                all
            } else {
                passed
            }
        } else {
            all
        };

    // go-livepeer filterByMaxPrice.
    let Some(max) = config.max_price else {
        return by_perf;
    };
    let passed: Vec<usize> = by_perf
        .iter()
        .copied()
        .filter(|&i| within_max_price(candidates[i].price, max))
        .collect();
    if passed.is_empty() && config.ignore_max_price_if_needed {
        tracing::warn!(
            candidates = by_perf.len(),
            max_price = %format_args!("{}/{}", max.num(), max.den()),
            "no orchestrator passed the max price filter, not using the filter"
        );
        return by_perf;
    }
    passed
}

/// The selection probability of every candidate (step 3 of the module docs over the
/// candidates [`filter`] keeps), in input order, 0 for the others. `config` should be
/// [valid](SelectionConfig::validate); with weights that do not sum to 1 the values are
/// go's raw scores, which [`draw`] normalises.
pub fn probabilities(config: &SelectionConfig, candidates: &[SelectionCandidate]) -> Vec<f64> {
    let kept = filter(config, candidates);
    let mut probs = vec![0.0; candidates.len()];
    if kept.is_empty() {
        return probs;
    }
    let n = lossy_f64(U256::from(kept.len()));

    let prices: Vec<f64> = kept
        .iter()
        .map(|&i| price_f64(candidates[i].price))
        .collect();
    let lowest = prices.iter().copied().fold(f64::INFINITY, f64::min);
    let price_terms: Vec<f64> = prices
        .iter()
        .map(|p| (-(p - lowest) / config.price_exp_factor).exp())
        .collect();
    let price_sum: f64 = price_terms.iter().sum();

    let stakes: Vec<f64> = kept
        .iter()
        .map(|&i| lossy_f64(candidates[i].stake))
        .collect();
    let stake_sum: f64 = stakes.iter().sum();

    for (k, &i) in kept.iter().enumerate() {
        let price_share = if price_sum > 0.0 && price_sum.is_finite() {
            price_terms[k] / price_sum
        } else {
            1.0 / n
        };
        let stake_share = if stake_sum > 0.0 {
            stakes[k] / stake_sum
        } else {
            1.0 / n
        };
        probs[i] = config.price_weight * price_share
            + config.stake_weight * stake_share
            + config.rand_weight / n;
    }
    probs
}

/// Draws one index with the given probabilities (they need not sum to 1: they are scaled by
/// their total). Entries that are 0, negative or not finite are never drawn; `None` when no
/// entry is positive. One `f64` is taken from `rng` per call.
pub fn draw<R: Rng + ?Sized>(probabilities: &[f64], rng: &mut R) -> Option<usize> {
    let usable = |p: f64| p.is_finite() && p > 0.0;
    let total: f64 = probabilities.iter().copied().filter(|&p| usable(p)).sum();
    if !(total > 0.0 && total.is_finite()) {
        return None;
    }
    let r = rng.random::<f64>() * total;
    let mut cumulative = 0.0;
    let mut last = None;
    for (i, &p) in probabilities.iter().enumerate() {
        if !usable(p) {
            continue;
        }
        cumulative += p;
        last = Some(i);
        if r < cumulative {
            return Some(i);
        }
    }
    // Only reached when rounding leaves `r` at the very top of the range.
    last
}

/// Filters, weighs and draws one candidate (the module docs' three steps), with `rng` as the
/// source of randomness. [`Selection::chosen`] is `None` when no candidate is left.
pub fn select<R: Rng + ?Sized>(
    config: &SelectionConfig,
    candidates: &[SelectionCandidate],
    rng: &mut R,
) -> Selection {
    let probabilities = probabilities(config, candidates);
    let chosen = draw(&probabilities, rng);
    Selection {
        chosen,
        probabilities,
    }
}

/// `x` as the nearest-below `f64` of its top 64 bits: relative error below 2⁻⁵², never
/// overflows (`U256::MAX` ≈ 1.2 × 10⁷⁷). For weights only, never for money.
fn lossy_f64(x: U256) -> f64 {
    let bits = x.bit_len();
    if bits <= 64 {
        let limb = x.as_limbs()[0];
        // Lossy by design: a 64-bit integer to the nearest double.
        return limb as f64;
    }
    let shift = bits - 64;
    let top = (x >> shift).as_limbs()[0];
    let top = top as f64;
    // shift ≤ 192, so the exponent fits an i32 and 2^shift is finite.
    top * 2f64.powi(i32::try_from(shift).unwrap_or(192))
}

/// A price per pixel as an `f64` of wei per pixel (for weights only).
fn price_f64(price: PricePerPixel) -> f64 {
    lossy_f64(U256::from(price.num())) / lossy_f64(U256::from(price.den()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn ppp(num: u64, den: u64) -> PricePerPixel {
        PricePerPixel::new(num, den).expect("non-zero denominator")
    }

    fn cand(byte: u8, stake: u64, price: u64) -> SelectionCandidate {
        SelectionCandidate {
            address: Address::repeat_byte(byte),
            stake: U256::from(stake),
            price: ppp(price, 1),
            perf_score: None,
        }
    }

    fn weights(stake: f64, price: f64, rand: f64) -> SelectionConfig {
        SelectionConfig {
            stake_weight: stake,
            price_weight: price,
            rand_weight: rand,
            ..Default::default()
        }
    }

    fn assert_close(got: &[f64], want: &[f64]) {
        assert_eq!(got.len(), want.len(), "{got:?} vs {want:?}");
        for (g, w) in got.iter().zip(want) {
            assert!((g - w).abs() < 1e-12, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn defaults_are_gos_and_valid() {
        let c = SelectionConfig::default();
        assert_eq!(
            (
                c.stake_weight,
                c.price_weight,
                c.rand_weight,
                c.price_exp_factor
            ),
            (0.7, 0.0, 0.3, 100.0)
        );
        assert_eq!(c.min_perf_score, 0.0);
        assert_eq!(c.max_price, None);
        assert!(!c.ignore_max_price_if_needed);
        c.validate().expect("defaults are valid");
    }

    #[test]
    fn invalid_configs_are_refused() {
        let cases = [
            weights(0.5, 0.5, 0.5),
            weights(0.7, 0.0, 0.2),
            weights(1.2, -0.2, 0.0),
            weights(f64::NAN, 0.5, 0.5),
            SelectionConfig {
                price_exp_factor: 0.0,
                ..Default::default()
            },
            SelectionConfig {
                price_exp_factor: -1.0,
                ..Default::default()
            },
        ];
        for config in cases {
            assert!(config.validate().is_err(), "{config:?}");
        }
        // go's tolerance: 1e-4.
        weights(0.70005, 0.0, 0.3)
            .validate()
            .expect("within tolerance");
        let err = weights(0.5, 0.5, 0.5).validate().expect_err("sum 1.5");
        assert!(
            err.to_string()
                .starts_with("sum of selection algorithm weights must be 1.0")
        );
    }

    #[test]
    fn weights_match_hand_computed_values() {
        let three = [cand(1, 1, 0), cand(2, 2, 100), cand(3, 7, 200)];
        // e^0, e^-1, e^-2 normalised.
        let (e0, e1, e2) = (1.0f64, (-1.0f64).exp(), (-2.0f64).exp());
        let price_sum = e0 + e1 + e2;
        let price_only = [e0 / price_sum, e1 / price_sum, e2 / price_sum];
        let cases: [(&str, SelectionConfig, [f64; 3]); 4] = [
            ("stake only", weights(1.0, 0.0, 0.0), [0.1, 0.2, 0.7]),
            ("price only", weights(0.0, 1.0, 0.0), price_only),
            ("random only", weights(0.0, 0.0, 1.0), [1.0 / 3.0; 3]),
            (
                "mixed",
                weights(0.5, 0.3, 0.2),
                [
                    0.5 * 0.1 + 0.3 * price_only[0] + 0.2 / 3.0,
                    0.5 * 0.2 + 0.3 * price_only[1] + 0.2 / 3.0,
                    0.5 * 0.7 + 0.3 * price_only[2] + 0.2 / 3.0,
                ],
            ),
        ];
        for (name, config, want) in cases {
            config.validate().expect(name);
            let got = probabilities(&config, &three);
            assert_close(&got, &want);
            assert!((got.iter().sum::<f64>() - 1.0).abs() < 1e-12, "{name}");
        }
        // Go's default weights over two equal-priced candidates with stakes 1:3.
        let two = [cand(1, 1, 5), cand(2, 3, 5)];
        assert_close(
            &probabilities(&SelectionConfig::default(), &two),
            &[0.7 * 0.25 + 0.15, 0.7 * 0.75 + 0.15],
        );
    }

    #[test]
    fn big_stakes_and_prices_neither_overflow_nor_underflow() {
        // Stakes near U256::MAX would overflow a U256 sum; prices of 10^12 wei per pixel make
        // go's e^(-p/100) underflow to 0 for every candidate.
        let huge = [
            SelectionCandidate {
                stake: U256::MAX,
                price: ppp(1_000_000_000_000, 1),
                ..cand(1, 0, 0)
            },
            SelectionCandidate {
                stake: U256::MAX,
                price: ppp(1_000_000_000_100, 1),
                ..cand(2, 0, 0)
            },
        ];
        let got = probabilities(&weights(0.5, 0.5, 0.0), &huge);
        let e1 = (-1.0f64).exp();
        assert_close(
            &got,
            &[0.25 + 0.5 / (1.0 + e1), 0.25 + 0.5 * e1 / (1.0 + e1)],
        );
        // No stake at all: the stake share is split evenly.
        let unstaked = [cand(1, 0, 1), cand(2, 0, 1), cand(3, 0, 1), cand(4, 0, 1)];
        assert_close(
            &probabilities(&SelectionConfig::default(), &unstaked),
            &[0.25; 4],
        );
        assert_eq!(lossy_f64(U256::from(1u64) << 200), 2f64.powi(200));
        assert_eq!(lossy_f64(U256::from(12345u64)), 12345.0);
    }

    #[test]
    fn max_price_filter() {
        let cands = [cand(1, 1, 10), cand(2, 1, 20), cand(3, 1, 30)];
        // (max price, ignore if needed, kept)
        let cases: [(Option<PricePerPixel>, bool, Vec<usize>); 7] = [
            (None, false, vec![0, 1, 2]),
            (Some(ppp(20, 1)), false, vec![0, 1]),
            (Some(ppp(41, 2)), false, vec![0, 1]),
            (Some(ppp(39, 2)), false, vec![0]),
            (Some(ppp(9, 1)), false, vec![]),
            (Some(ppp(9, 1)), true, vec![0, 1, 2]),
            (Some(ppp(20, 1)), true, vec![0, 1]),
        ];
        for (max_price, ignore, kept) in cases {
            let config = SelectionConfig {
                max_price,
                ignore_max_price_if_needed: ignore,
                ..Default::default()
            };
            assert_eq!(filter(&config, &cands), kept, "{max_price:?} {ignore}");
            let probs = probabilities(&config, &cands);
            for (i, p) in probs.iter().enumerate() {
                assert_eq!(
                    *p > 0.0,
                    kept.contains(&i),
                    "{max_price:?} {ignore}: {probs:?}"
                );
            }
        }
        let nothing = SelectionConfig {
            max_price: Some(ppp(1, 1)),
            ..Default::default()
        };
        let mut rng = StdRng::seed_from_u64(1);
        let selection = select(&nothing, &cands, &mut rng);
        assert_eq!(selection.chosen, None);
        assert_eq!(selection.probabilities, vec![0.0; 3]);
    }

    #[test]
    fn perf_score_filter() {
        let scored = |byte, score| SelectionCandidate {
            perf_score: score,
            ..cand(byte, 1, 1)
        };
        let cands = [
            scored(1, Some(0.9)),
            scored(2, Some(0.5)),
            scored(3, None),
            scored(4, Some(0.8)),
        ];
        // (min perf score, kept)
        let cases: [(f64, Vec<usize>); 4] = [
            (0.0, vec![0, 1, 2, 3]),
            (0.8, vec![0, 3]),
            (0.95, vec![0, 1, 2, 3]), // nothing passes: the filter is skipped
            (0.5, vec![0, 1, 3]),     // no score counts as 0
        ];
        for (min, kept) in cases {
            let config = SelectionConfig {
                min_perf_score: min,
                ..Default::default()
            };
            assert_eq!(filter(&config, &cands), kept, "{min}");
        }
        // No scores known at all: the filter is off.
        let unscored = [cand(1, 1, 1), cand(2, 1, 1)];
        let config = SelectionConfig {
            min_perf_score: 0.5,
            ..Default::default()
        };
        assert_eq!(filter(&config, &unscored), vec![0, 1]);
        // The perf filter runs first; the max price then applies to what it left.
        let config = SelectionConfig {
            min_perf_score: 0.8,
            max_price: Some(ppp(1, 2)),
            ignore_max_price_if_needed: true,
            ..Default::default()
        };
        assert_eq!(filter(&config, &cands), vec![0, 3]);
    }

    #[test]
    fn shares_over_many_draws_match_probabilities() {
        let cands = [
            cand(1, 10, 0),
            cand(2, 30, 50),
            cand(3, 60, 100),
            cand(4, 0, 400), // above the max price
        ];
        let config = SelectionConfig {
            stake_weight: 0.5,
            price_weight: 0.3,
            rand_weight: 0.2,
            max_price: Some(ppp(300, 1)),
            ..Default::default()
        };
        config.validate().expect("valid");
        let probs = probabilities(&config, &cands);
        assert_eq!(probs[3], 0.0);
        let mut rng = StdRng::seed_from_u64(0x5e1ec7);
        const DRAWS: usize = 20_000;
        let mut counts = [0usize; 4];
        for _ in 0..DRAWS {
            let chosen = select(&config, &cands, &mut rng)
                .chosen
                .expect("three candidates are within the max price");
            counts[chosen] += 1;
        }
        assert_eq!(
            counts[3], 0,
            "the candidate above the max price is never selected"
        );
        // Binomial standard deviation is at most sqrt(0.25 / 20000) ≈ 0.0035; a tolerance of
        // 0.015 is more than 4 sigma.
        for (i, &count) in counts.iter().enumerate() {
            let share = count as f64 / DRAWS as f64;
            assert!(
                (share - probs[i]).abs() < 0.015,
                "candidate {i}: share {share}, probability {}",
                probs[i]
            );
        }
    }

    #[test]
    fn draw_edges() {
        let mut rng = StdRng::seed_from_u64(7);
        assert_eq!(draw(&[], &mut rng), None);
        assert_eq!(draw(&[0.0, 0.0], &mut rng), None);
        assert_eq!(draw(&[f64::NAN, -1.0], &mut rng), None);
        for _ in 0..100 {
            assert_eq!(draw(&[0.0, 2.0, 0.0], &mut rng), Some(1));
        }
    }

    #[test]
    fn max_price_flags() {
        let ok = |per_unit: &str, pixels: &str| {
            max_price_from_flags(per_unit, pixels).expect("valid flags")
        };
        assert_eq!(ok("0", "1"), None);
        assert_eq!(ok("0.000", "1"), None);
        assert_eq!(ok("1000", "1"), Some(ppp(1000, 1)));
        assert_eq!(ok("1200", "1000"), Some(ppp(6, 5)));
        assert_eq!(ok("0.5", "1"), Some(ppp(1, 2)));
        assert_eq!(ok("1.25wei", "10"), Some(ppp(1, 8)));
        assert_eq!(ok("0.000000001eth", "1"), Some(ppp(1_000_000_000, 1)));
        assert_eq!(ok("1000", "1000000000000"), Some(ppp(1, 1_000_000_000)));
        for (per_unit, pixels) in [
            ("abc", "1"),
            ("1.", "1"),
            (".5", "1"),
            ("1.2.3", "1"),
            ("0.50USD", "1"),
            ("-1", "1"),
            ("1", "0"),
            ("1", "-1"),
            ("1", "1.5"),
            ("100000000000000000000", "1"), // 10^20 wei per pixel: beyond 64 bits
        ] {
            assert!(
                matches!(
                    max_price_from_flags(per_unit, pixels),
                    Err(GatewayError::InvalidMaxPrice { .. })
                ),
                "{per_unit} / {pixels}"
            );
        }
    }
}
