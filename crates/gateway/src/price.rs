//! The price an orchestrator advertises, as the gateway checks it: parsed from
//! `OrchestratorInfo.price_info` into an exact [`PricePerPixel`], and compared with the
//! session's first price before each payment.
//!
//! go-livepeer: `common/util.go:RatPriceInfo` (parsing), `discovery/db_discovery.go`
//! (a missing or negative price is not a candidate), `server/segment_rpc.go:validatePrice`
//! (a price above [`PRICE_INCREASE_THRESHOLD`] × the first price stops payment).

use alloy_primitives::U256;
use livepeer_pm::PricePerPixel;
use livepeer_proto::net;

use crate::GatewayError;

/// How many times its first price a session's price may grow to (go-livepeer
/// `priceIncreaseThreshold`, 2/1): prices in a custom currency move with the exchange rate.
pub const PRICE_INCREASE_THRESHOLD: u64 = 2;

/// `price` (an `OrchestratorInfo.price_info`, `price_per_unit` wei per `pixels_per_unit`
/// pixels) as a reduced price per pixel. A zero price is valid (`0/1`).
///
/// Errors: [`GatewayError::MissingPrice`] when absent (go "missing price info"),
/// [`GatewayError::ZeroPixelsPerUnit`] (go "pixels per unit is 0"),
/// [`GatewayError::NegativePrice`] when either term is negative. go reduces `-a/-b` to a
/// positive price; we refuse it, as no orchestrator sends it.
pub fn price_per_pixel(price: Option<&net::PriceInfo>) -> Result<PricePerPixel, GatewayError> {
    let price = price.ok_or(GatewayError::MissingPrice)?;
    let (per_unit, pixels) = (price.price_per_unit, price.pixels_per_unit);
    if pixels == 0 {
        return Err(GatewayError::ZeroPixelsPerUnit {
            price_per_unit: per_unit,
        });
    }
    let negative = || GatewayError::NegativePrice {
        price_per_unit: per_unit,
        pixels_per_unit: pixels,
    };
    let num = u64::try_from(per_unit).map_err(|_| negative())?;
    let den = u64::try_from(pixels).map_err(|_| negative())?;
    // den > 0 here, so this cannot fail; map the impossible error rather than unwrap.
    PricePerPixel::new(num, den).map_err(|_| GatewayError::ZeroPixelsPerUnit {
        price_per_unit: per_unit,
    })
}

/// The price of `info`, see [`price_per_pixel`].
pub fn advertised_price(info: &net::OrchestratorInfo) -> Result<PricePerPixel, GatewayError> {
    price_per_pixel(info.price_info.as_ref())
}

/// The check before each payment (go-livepeer `server/segment_rpc.go:validatePrice`): the
/// orchestrator's current price must parse ([`price_per_pixel`]) and, when the session has a
/// first price, be at most [`PRICE_INCREASE_THRESHOLD`] times it (exactly twice is allowed).
/// Returns the current price. `addr` names the orchestrator in the error.
///
/// Errors: those of [`price_per_pixel`], and [`GatewayError::PriceIncreased`].
pub fn validate_price(
    addr: &str,
    current: Option<&net::PriceInfo>,
    initial: Option<PricePerPixel>,
) -> Result<PricePerPixel, GatewayError> {
    let price = price_per_pixel(current)?;
    if let Some(initial) = initial {
        // price.num / price.den > 2 × initial.num / initial.den, cross-multiplied in 256 bits.
        let lhs = U256::from(price.num()) * U256::from(initial.den());
        let rhs = U256::from(PRICE_INCREASE_THRESHOLD)
            * U256::from(initial.num())
            * U256::from(price.den());
        if lhs > rhs {
            return Err(GatewayError::PriceIncreased {
                addr: addr.to_string(),
                initial: format!("{}/{}", initial.num(), initial.den()),
                price: format!("{}/{}", price.num(), price.den()),
            });
        }
    }
    Ok(price)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(price_per_unit: i64, pixels_per_unit: i64) -> net::PriceInfo {
        net::PriceInfo {
            price_per_unit,
            pixels_per_unit,
            ..Default::default()
        }
    }

    fn ppp(num: u64, den: u64) -> PricePerPixel {
        PricePerPixel::new(num, den).expect("non-zero denominator")
    }

    #[test]
    fn prices_parse_reduced() {
        let cases = [
            (wire(1200, 1), ppp(1200, 1)),
            (wire(6, 14), ppp(3, 7)),
            (wire(0, 5), PricePerPixel::ZERO),
            (wire(i64::MAX, i64::MAX), ppp(1, 1)),
        ];
        for (price, want) in cases {
            assert_eq!(price_per_pixel(Some(&price)).expect("valid"), want);
        }
        let info = net::OrchestratorInfo {
            price_info: Some(wire(10, 4)),
            ..Default::default()
        };
        assert_eq!(advertised_price(&info).expect("valid"), ppp(5, 2));
    }

    #[test]
    fn bad_prices_are_refused() {
        assert!(matches!(
            price_per_pixel(None),
            Err(GatewayError::MissingPrice)
        ));
        assert!(matches!(
            advertised_price(&net::OrchestratorInfo::default()),
            Err(GatewayError::MissingPrice)
        ));
        assert!(matches!(
            price_per_pixel(Some(&wire(5, 0))),
            Err(GatewayError::ZeroPixelsPerUnit { price_per_unit: 5 })
        ));
        for (a, b) in [(-1, 1), (1, -1), (-3, -2), (i64::MIN, 1)] {
            assert!(
                matches!(
                    price_per_pixel(Some(&wire(a, b))),
                    Err(GatewayError::NegativePrice { .. })
                ),
                "{a}/{b}"
            );
        }
    }

    #[test]
    fn price_may_at_most_double() {
        let first = Some(ppp(100, 3));
        // (current wire price, accepted)
        let cases = [
            (wire(100, 3), true),
            (wire(200, 3), true),  // exactly 2×
            (wire(400, 6), true),  // 2×, unreduced
            (wire(201, 3), false), // just above
            (wire(1, 3), true),    // lower is fine
            (wire(0, 1), true),
            (wire(i64::MAX, 1), false),
        ];
        for (current, accepted) in cases {
            let result = validate_price("o", Some(&current), first);
            assert_eq!(result.is_ok(), accepted, "{current:?}: {result:?}");
        }
        let err = validate_price("o", Some(&wire(201, 3)), first).expect_err("above 2x");
        assert!(matches!(err, GatewayError::PriceIncreased { .. }));
        assert!(
            err.to_string()
                .contains("orchestrator o raised its price from 100/3 to 67/1 wei/pixel")
        );
        // A session that started free may not start charging.
        assert!(validate_price("o", Some(&wire(1, 1)), Some(PricePerPixel::ZERO)).is_err());
        // Without a first price only the parse applies.
        assert_eq!(
            validate_price("o", Some(&wire(i64::MAX, 1)), None).expect("valid"),
            ppp(u64::try_from(i64::MAX).expect("positive"), 1)
        );
        assert!(matches!(
            validate_price("o", None, first),
            Err(GatewayError::MissingPrice)
        ));
        // Huge terms do not overflow the comparison.
        let max = u64::MAX;
        assert!(validate_price("o", Some(&wire(i64::MAX, 1)), Some(ppp(max, 1))).is_ok());
    }
}
