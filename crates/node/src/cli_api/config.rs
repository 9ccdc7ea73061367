//! The CLI API's run-time configuration and governance handlers (go-livepeer
//! `server/handlers.go`), with go's form parameter names, answers, status codes and texts:
//!
//! - Gateway: `/setBroadcastConfig` (max price and default ladder), `/getBroadcastConfig`,
//!   `/setMaxPriceForCapability` (kept per pipeline and model for AI jobs, which this node does
//!   not run yet).
//! - Orchestrator: `/setOrchestratorConfig` (price at run time; reward cut, fee share and
//!   service URI as transactions), `/setPriceForBroadcaster`, `/setMaxSessions`,
//!   `/setMaxFaceValue`.
//! - Any node: `/setLogLevel`, `/getLogLevel` (glog `-v` numbers; see
//!   [`crate::logging::level_for_verbosity`] for the tracing levels they map to).
//! - Governance: `/vote` (a LIP-16 poll), `/voteOnProposal` (the LivepeerGovernor).
//!
//! Prices are go's `big.Rat` texts (`1000`, `0.5`, `1/3`); currencies are wei (empty or
//! `wei`) or `eth`, since this node has no price feed (go: "PriceFeedWatcher is not
//! initialized"). Where go applies a setting to a node role that does not use it, this node
//! answers 400 saying which role it needs.

use alloy_primitives::{Address, U256};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use livepeer_pm::{PriceInfo, PricePerPixel};
use livepeer_primitives::Capability;
use livepeer_primitives::profile::VideoProfile;
use serde_json::json;

use super::{ApiError, FormValues, NodeView, api_error, ok_empty, ok_text, operator, rat_text};
use livepeer_eth::services::operator::perc_to_ppm;

/// A non-negative rational from go's `big.Rat.SetString` forms: an integer, a decimal
/// fraction or `a/b`, optionally signed; `None` when it is not one of those or too large.
/// The sign is returned apart (`true` for negative).
fn parse_rat(text: &str) -> Option<(bool, U256, U256)> {
    let text = text.trim();
    let (negative, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (num, den) = if let Some((a, b)) = body.split_once('/') {
        if !digits(a) || !digits(b) {
            return None;
        }
        (
            U256::from_str_radix(a, 10).ok()?,
            U256::from_str_radix(b, 10).ok()?,
        )
    } else {
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        if !(digits(int) || (int.is_empty() && digits(frac))) || !(frac.is_empty() || digits(frac))
        {
            return None;
        }
        let num = U256::from_str_radix(&format!("{int}{frac}"), 10).ok()?;
        let den = U256::from(10u8).checked_pow(U256::from(frac.len()))?;
        (num, den)
    };
    if den.is_zero() {
        return None;
    }
    let g = num.gcd(den);
    let g = if g.is_zero() { U256::from(1) } else { g };
    Some((negative && !num.is_zero(), num / g, den / g))
}

/// `num/den` as go's `big.Rat.FloatString(3)` (rounded half away from zero).
fn float_string_3(num: U256, den: U256) -> String {
    let scaled = (num * U256::from(1000u32) * U256::from(2u8) + den) / (den * U256::from(2u8));
    let int = scaled / U256::from(1000u32);
    let frac = scaled % U256::from(1000u32);
    format!("{int}.{:03}", frac.to::<u64>())
}

/// `price / pixels` in wei per pixel under `currency` (wei, or eth × 10¹⁸), reduced.
/// Errors: go's "error converting price" texts, and ours when it does not fit 64 bits.
fn price_per_pixel(
    price: (U256, U256),
    pixels: (U256, U256),
    currency: &str,
) -> Result<(U256, U256), String> {
    let scale = match currency.to_ascii_lowercase().as_str() {
        "" | "wei" => U256::from(1u8),
        "eth" => U256::from(10u64).pow(U256::from(18u8)),
        _ => return Err("PriceFeedWatcher is not initialized".into()),
    };
    let too_large = || "price too large".to_string();
    let num = price
        .0
        .checked_mul(pixels.1)
        .and_then(|n| n.checked_mul(scale))
        .ok_or_else(too_large)?;
    let den = price.1.checked_mul(pixels.0).ok_or_else(too_large)?;
    let g = num.gcd(den);
    let g = if g.is_zero() { U256::from(1) } else { g };
    Ok((num / g, den / g))
}

fn fits_i64(x: U256) -> Option<i64> {
    u64::try_from(x).ok().and_then(|v| i64::try_from(v).ok())
}

/// go-livepeer `setOrchestratorPriceInfo`'s checks: the price `(price, pixels)` per pixel
/// for `gateway` ("default" for the base price).
fn orchestrator_price(
    gateway: &str,
    price: &str,
    pixels: &str,
    currency: &str,
) -> Result<(Option<Address>, PriceInfo), String> {
    let address = if gateway == "default" {
        None
    } else {
        match gateway.strip_prefix("0x") {
            Some(hex) if hex.len() == 40 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                Some(gateway.parse::<Address>().map_err(|e| e.to_string())?)
            }
            _ => {
                return Err(format!(
                    "broadcasterEthAddr is not a valid eth address, provided {gateway}"
                ));
            }
        }
    };
    let (negative, pn, pd) =
        parse_rat(price).ok_or_else(|| format!("error parsing pricePerUnit value: {price}"))?;
    if negative {
        return Err(format!(
            "price unit must be greater than or equal to 0, provided {price}"
        ));
    }
    let (px_negative, xn, xd) =
        parse_rat(pixels).ok_or_else(|| format!("error parsing pixelsPerUnit value: {pixels}"))?;
    if px_negative || xn.is_zero() {
        return Err(format!(
            "pixels per unit must be greater than 0, provided {pixels}"
        ));
    }
    let (num, den) = price_per_pixel((pn, pd), (xn, xd), currency)
        .map_err(|e| format!("error converting price: {e}"))?;
    match (fits_i64(num), fits_i64(den)) {
        (Some(n), Some(d)) => Ok((address, PriceInfo::new(n, d))),
        _ => Err(format!(
            "error converting price: {num}/{den} wei per pixel does not fit 64 bits"
        )),
    }
}

/// The gateway's max price from go's `maxPricePerUnit`/`pixelsPerUnit` checks
/// (`setBroadcastConfigHandler`, `setMaxPriceForCapability`): `Ok(None)` for a price ≤ 0.
fn max_price(price: &str, pixels: &str, currency: &str) -> Result<Option<PricePerPixel>, ApiError> {
    let bad = |text: String| api_error(StatusCode::BAD_REQUEST, text);
    let (negative, pn, pd) = parse_rat(price)
        .ok_or_else(|| bad(format!("Error parsing pricePerUnit value: {price}")))?;
    let (px_negative, xn, xd) = parse_rat(pixels)
        .ok_or_else(|| bad(format!("Error parsing pixelsPerUnit value: {pixels}")))?;
    if px_negative || xn.is_zero() {
        return Err(bad(format!(
            "pixels per unit must be greater than 0, provided {pixels}"
        )));
    }
    if negative || pn.is_zero() {
        return Ok(None);
    }
    let (num, den) = price_per_pixel((pn, pd), (xn, xd), currency)
        .map_err(|e| bad(format!("error converting price: {e}")))?;
    match (u64::try_from(num), u64::try_from(den)) {
        (Ok(n), Ok(d)) => PricePerPixel::new(n, d)
            .map(Some)
            .map_err(|e| bad(format!("error converting price: {e}"))),
        _ => Err(bad(format!(
            "error converting price: {num}/{den} wei per pixel does not fit 64 bits"
        ))),
    }
}

/// go-livepeer `core.PipelineToCapability`: `text-to-image` names "Text to image".
fn pipeline_capability(pipeline: &str) -> Option<Capability> {
    let mut chars = pipeline.chars();
    let first = chars.next()?;
    let name: String = first
        .to_uppercase()
        .chain(chars.map(|c| if c == '-' { ' ' } else { c }))
        .collect();
    Capability::ALL.into_iter().find(|c| c.name() == name)
}

/// Go's `strconv.ParseFloat` error text.
fn parse_float(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| format!("strconv.ParseFloat: parsing {text:?}: invalid syntax"))
}

/// Go's `ethcommon.IsHexAddress`.
fn is_hex_address(text: &str) -> bool {
    let hex = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    hex.len() == 40 && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

fn signed_int(text: &str) -> Option<i128> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Too long for i128 is no valid choice either way.
    text.parse().ok()
}

/// The handlers of this module; `None` for a path that is not one of them.
pub(super) async fn handle(view: &NodeView, path: &str, f: &FormValues) -> Option<Response> {
    let answer = match path {
        "/setBroadcastConfig" => set_broadcast_config(view, f),
        "/getBroadcastConfig" => get_broadcast_config(view),
        "/setMaxPriceForCapability" => set_max_price_for_capability(view, f),
        "/setOrchestratorConfig" => set_orchestrator_config(view, f).await,
        "/setPriceForBroadcaster" => set_price_for_broadcaster(view, f),
        "/setMaxSessions" => set_max_sessions(view, f),
        "/setMaxFaceValue" => set_max_face_value(view, f),
        "/setLogLevel" => set_log_level(f),
        "/getLogLevel" => match crate::logging::verbosity() {
            Some(v) => Ok(ok_text(v.to_string())),
            None => Err(api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "nil log level",
            )),
        },
        "/vote" => vote(view, f).await,
        "/voteOnProposal" => vote_on_proposal(view, f).await,
        _ => return None,
    };
    Some(answer.unwrap_or_else(IntoResponse::into_response))
}

type Answer = Result<Response, ApiError>;

fn bad_request(text: impl Into<String>) -> ApiError {
    api_error(StatusCode::BAD_REQUEST, text)
}

/// `/setBroadcastConfig`: the max price (`maxPricePerUnit`, `pixelsPerUnit`, `currency`;
/// ≤ 0 for any price) and the default ladder (`transcodingOptions`, names not known are
/// skipped as go does).
fn set_broadcast_config(view: &NodeView, f: &FormValues) -> Answer {
    let (price, pixels, options) = (
        f.get("maxPricePerUnit"),
        f.get("pixelsPerUnit"),
        f.get("transcodingOptions"),
    );
    if (price.is_empty() || pixels.is_empty()) && options.is_empty() {
        return Err(bad_request(
            "missing form params (maxPricePerUnit AND pixelsPerUnit) or transcodingOptions",
        ));
    }
    let gateway = view
        .gateway
        .as_ref()
        .ok_or_else(|| bad_request("Node must be gateway node to set broadcast config"))?;
    let max = if !price.is_empty() && !pixels.is_empty() {
        Some(max_price(price, pixels, f.get("currency"))?)
    } else {
        None
    };
    let profiles = if options.is_empty() {
        None
    } else {
        let profiles: Vec<VideoProfile> = options
            .split(',')
            .filter_map(VideoProfile::standard)
            .collect();
        if profiles.is_empty() {
            return Err(bad_request(format!(
                "invalid transcoding options: {options}"
            )));
        }
        Some(profiles)
    };
    if let Some(max) = max {
        gateway.set_max_price(max);
    }
    if let Some(profiles) = profiles {
        gateway.set_default_profiles(profiles);
    }
    Ok(ok_empty())
}

/// `/getBroadcastConfig`: `{"MaxPrice": "num/den" or null, "TranscodingOptions": "a,b"}`.
fn get_broadcast_config(view: &NodeView) -> Answer {
    let gateway = view
        .gateway
        .as_ref()
        .ok_or_else(|| bad_request("Node must be gateway node to get broadcast config"))?;
    let max = gateway.max_price().map(|p| {
        rat_text(
            i64::try_from(p.num()).unwrap_or(i64::MAX),
            i64::try_from(p.den()).unwrap_or(i64::MAX),
        )
    });
    let names: Vec<String> = gateway
        .default_profiles()
        .into_iter()
        .map(|p| p.name)
        .collect();
    Ok(axum::Json(json!({
        "MaxPrice": max,
        "TranscodingOptions": names.join(","),
    }))
    .into_response())
}

/// `/setMaxPriceForCapability`: a max price per AI pipeline and model, kept by the gateway.
fn set_max_price_for_capability(view: &NodeView, f: &FormValues) -> Answer {
    f.require(&[
        "maxPricePerUnit",
        "pixelsPerUnit",
        "currency",
        "pipeline",
        "modelID",
    ])?;
    let gateway = view
        .gateway
        .as_ref()
        .ok_or_else(|| bad_request("Node must be gateway node to set max price per capability"))?;
    let (pipeline, model) = (f.get("pipeline"), f.get("modelID"));
    if pipeline_capability(pipeline).is_none() {
        return Err(bad_request("pipeline not supported"));
    }
    let (price, pixels) = (f.get("maxPricePerUnit"), f.get("pixelsPerUnit"));
    match max_price(price, pixels, f.get("currency"))? {
        Some(max) => {
            gateway.set_capability_max_price(pipeline, model, max);
            tracing::info!(pipeline, model_id = model, max_price = %format_args!("{}/{}", max.num(), max.den()), "max price per capability set");
            Ok(ok_empty())
        }
        None => {
            let (negative, n, d) = parse_rat(price).unwrap_or((false, U256::ZERO, U256::from(1)));
            let (xn, xd) = parse_rat(pixels)
                .map(|(_, n, d)| (n, d))
                .unwrap_or((U256::from(1), U256::from(1)));
            let text = float_string_3(n * xd, d * xn);
            let sign = if negative { "-" } else { "" };
            Err(bad_request(format!(
                "pricePerPixel needs to be > 0: {sign}{text}"
            )))
        }
    }
}

/// `/setOrchestratorConfig`: the base price (`pricePerUnit`, `pixelsPerUnit`, `currency`) at
/// run time, then `blockRewardCut` and `feeShare` (percentages, one transaction when both are
/// given and differ from the chain's) and `serviceURI` (a transaction when it changed).
async fn set_orchestrator_config(view: &NodeView, f: &FormValues) -> Answer {
    let op = operator(view)?;
    let (pixels, price) = (f.get("pixelsPerUnit"), f.get("pricePerUnit"));
    if !pixels.is_empty() && !price.is_empty() {
        let (_, info) =
            orchestrator_price("default", price, pixels, f.get("currency")).map_err(bad_request)?;
        let set = view
            .orchestrator
            .as_ref()
            .is_some_and(|(_, h)| h.set_base_price(info));
        if !set {
            return Err(bad_request("Node must be orchestrator node to set price"));
        }
        tracing::info!(
            price_per_unit = info.price_per_unit,
            pixels_per_unit = info.pixels_per_unit,
            "orchestrator price set through the CLI API"
        );
    }
    let (cut_text, share_text) = (f.get("blockRewardCut"), f.get("feeShare"));
    let cut = if cut_text.is_empty() {
        0.0
    } else {
        parse_float(cut_text)
            .map_err(|e| bad_request(format!("Cannot convert block reward cut: {e}")))?
    };
    let share = if share_text.is_empty() {
        0.0
    } else {
        parse_float(share_text)
            .map_err(|e| bad_request(format!("Cannot convert fee share: {e}")))?
    };
    let record = op
        .transcoder_record(op.address())
        .await
        .map_err(|e| api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    if !cut_text.is_empty() && !share_text.is_empty() {
        let percent = |v: f64, name: &str| {
            perc_to_ppm(v)
                .ok_or_else(|| bad_request(format!("{name} must be a percentage from 0 to 100")))
        };
        let (cut, share) = (percent(cut, "blockRewardCut")?, percent(share, "feeShare")?);
        if record.reward_cut != cut || record.fee_share != share {
            op.transcoder(cut, share)
                .await
                .map_err(|e| api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        }
    }
    let service_uri = f.get("serviceURI");
    if !service_uri.is_empty() {
        if url::Url::parse(service_uri).is_err() || !service_uri.contains("://") {
            return Err(bad_request(format!(
                "parse {service_uri:?}: invalid URI for request"
            )));
        }
        if record.service_uri != service_uri {
            op.set_service_uri(service_uri)
                .await
                .map_err(|e| api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        }
    }
    Ok(ok_empty())
}

/// `/setPriceForBroadcaster`: `broadcasterEthAddr`'s own price ("default": the base price).
fn set_price_for_broadcaster(view: &NodeView, f: &FormValues) -> Answer {
    f.require(&["pricePerUnit", "pixelsPerUnit", "broadcasterEthAddr"])?;
    let Some((_, orch)) = view.orchestrator.as_ref() else {
        return Err(bad_request(
            "Node must be orchestrator node to set price for broadcaster",
        ));
    };
    let (price, pixels, gateway) = (
        f.get("pricePerUnit"),
        f.get("pixelsPerUnit"),
        f.get("broadcasterEthAddr"),
    );
    let (address, info) =
        orchestrator_price(gateway, price, pixels, f.get("currency")).map_err(bad_request)?;
    let set = match address {
        Some(a) => orch.set_gateway_price(a, info),
        None => orch.set_base_price(info),
    };
    if !set {
        return Err(api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "missing ETH client",
        ));
    }
    tracing::info!(
        gateway,
        price_per_unit = info.price_per_unit,
        pixels_per_unit = info.pixels_per_unit,
        "price for gateway set through the CLI API"
    );
    Ok(ok_text(format!(
        "Price per pixel set to {price} wei for {pixels} pixels for broadcaster {gateway}\n"
    )))
}

/// `/setMaxSessions`: the orchestrator's `-maxSessions` (go's `auto` is not supported yet).
fn set_max_sessions(view: &NodeView, f: &FormValues) -> Answer {
    f.require(&["maxSessions"])?;
    let text = f.get("maxSessions");
    let Some((_, orch)) = view.orchestrator.as_ref() else {
        return Err(bad_request(
            "node must be orchestrator node to set maxSessions",
        ));
    };
    if text == "auto" {
        return Err(bad_request(
            "Max sessions 'auto' is not supported yet by this node; give a number",
        ));
    }
    let n: i64 = text
        .parse()
        .map_err(|_| bad_request(format!("strconv.Atoi: parsing {text:?}: invalid syntax")))?;
    if n <= 0 {
        return Err(bad_request(
            "Max Sessions must be 'auto' or greater than zero",
        ));
    }
    orch.set_max_sessions(usize::try_from(n).unwrap_or(usize::MAX));
    tracing::info!(max_sessions = n, "max sessions set through the CLI API");
    Ok(ok_text(format!("Max sessions set to {n}\n")))
}

/// `/setMaxFaceValue`: the tickets' `-maxFaceValue`, wei.
fn set_max_face_value(view: &NodeView, f: &FormValues) -> Answer {
    f.require(&["maxfacevalue"])?;
    let Some((_, orch)) = view.orchestrator.as_ref() else {
        return Err(bad_request(
            "node must be orchestrator node to set maxfacevalue",
        ));
    };
    let wei = f
        .big_int("maxfacevalue")
        .map_err(|_| bad_request("maxfacevalue not set to number"))?;
    // Off chain there are no tickets: accepted, as go does, and nothing changes.
    orch.set_max_face_value(wei);
    tracing::info!(max_face_value_wei = %wei, "max ticket face value set through the CLI API");
    Ok(ok_text("ticket max face value set"))
}

/// `/setLogLevel`: glog's `-v` number (`loglevel`).
fn set_log_level(f: &FormValues) -> Answer {
    f.require(&["loglevel"])?;
    let text = f.get("loglevel");
    let v: i32 = text
        .parse()
        .map_err(|_| bad_request("parameter 'logLevel' not defined"))?;
    let v = u8::try_from(v.max(0)).unwrap_or(u8::MAX);
    crate::logging::set_verbosity(v)
        .map_err(|e| api_error(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    Ok(ok_empty())
}

/// `/vote`: `choiceID` (0 yes, 1 no) in the poll at `poll`; answers the transaction hash's 32
/// bytes.
async fn vote(view: &NodeView, f: &FormValues) -> Answer {
    f.require(&["poll", "choiceID"])?;
    let op = operator(view)?;
    let internal = |t: String| api_error(StatusCode::INTERNAL_SERVER_ERROR, t);
    let poll = f.get("poll");
    if !is_hex_address(poll) {
        return Err(internal("invalid poll contract address".into()));
    }
    let hex = poll.get(poll.len() - 40..).unwrap_or_default();
    let poll: Address = hex
        .parse()
        .map_err(|_| internal("invalid poll contract address".into()))?;
    let choice = signed_int(f.get("choiceID"))
        .ok_or_else(|| internal("choiceID is not a valid integer value".into()))?;
    // go-livepeer `types.VoteChoice`: Yes (0) and No (1).
    if !(0..=1).contains(&choice) {
        return Err(internal("invalid choiceID".into()));
    }
    let tx = op
        .vote(poll, U256::from(choice as u64))
        .await
        .map_err(|e| {
            internal(format!(
                "unable to mine vote transaction err={:?}",
                e.to_string()
            ))
        })?;
    Ok((StatusCode::OK, tx.to_vec()).into_response())
}

/// `/voteOnProposal`: `support` (0 against, 1 for, 2 abstain) on treasury proposal
/// `proposalID`, with an optional `reason`; answers the transaction hash's 32 bytes.
async fn vote_on_proposal(view: &NodeView, f: &FormValues) -> Answer {
    f.require(&["proposalID", "support"])?;
    let op = operator(view)?;
    let internal = |t: String| api_error(StatusCode::INTERNAL_SERVER_ERROR, t);
    let id = f
        .big_int("proposalID")
        .map_err(|_| internal("proposalID is not a valid integer value".into()))?;
    let support = signed_int(f.get("support"))
        .ok_or_else(|| internal("support is not a valid integer value".into()))?;
    // go-livepeer `types.ProposalVoteChoice`: Against (0), For (1), Abstain (2).
    if !(0..=2).contains(&support) {
        return Err(internal("invalid support".into()));
    }
    let tx = op
        .proposal_vote(id, support as u8, f.get("reason"))
        .await
        .map_err(|e| {
            internal(format!(
                "unable to mine proposal vote transaction err={:?}",
                e.to_string()
            ))
        })?;
    Ok((StatusCode::OK, tx.to_vec()).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rats_parse_as_go_big_rat_set_string() {
        let u = U256::from;
        assert_eq!(parse_rat("1000"), Some((false, u(1000), u(1))));
        assert_eq!(parse_rat("0.5"), Some((false, u(1), u(2))));
        assert_eq!(parse_rat("2/6"), Some((false, u(1), u(3))));
        assert_eq!(parse_rat("-3"), Some((true, u(3), u(1))));
        assert_eq!(parse_rat(".25"), Some((false, u(1), u(4))));
        for bad in ["", "x", "1/0", "1.2.3", "1/", "1e", "--1"] {
            assert_eq!(parse_rat(bad), None, "{bad}");
        }
    }

    #[test]
    fn orchestrator_prices_get_go_livepeers_refusals() {
        let ok = orchestrator_price("default", "1000", "3", "").expect("price");
        assert_eq!(ok, (None, PriceInfo::new(1000, 3)));
        let gateway = "0x00000000000000000000000000000000000000aa";
        assert_eq!(
            orchestrator_price(gateway, "1", "1", "WEI")
                .expect("price")
                .0
                .map(|a| a.to_string().to_lowercase()),
            Some(gateway.to_string())
        );
        for (args, text) in [
            (
                ("0x12", "1", "1", ""),
                "broadcasterEthAddr is not a valid eth address, provided 0x12",
            ),
            (
                ("default", "x", "1", ""),
                "error parsing pricePerUnit value: x",
            ),
            (
                ("default", "-1", "1", ""),
                "price unit must be greater than or equal to 0, provided -1",
            ),
            (
                ("default", "1", "0", ""),
                "pixels per unit must be greater than 0, provided 0",
            ),
            (
                ("default", "1", "1", "USD"),
                "error converting price: PriceFeedWatcher is not initialized",
            ),
        ] {
            assert_eq!(
                orchestrator_price(args.0, args.1, args.2, args.3),
                Err(text.to_string()),
                "{args:?}"
            );
        }
    }

    #[test]
    fn max_prices_of_zero_lift_the_limit_and_eth_scales() {
        assert_eq!(max_price("0", "1", "").ok(), Some(None));
        assert_eq!(
            max_price("1000", "4", "").ok().flatten(),
            PricePerPixel::new(250, 1).ok()
        );
        let err = max_price("1", "nope", "").expect_err("bad pixels");
        assert_eq!(err.text, "Error parsing pixelsPerUnit value: nope");
        let eth = max_price("0.000000001", "1", "eth").ok().flatten();
        assert_eq!(eth, PricePerPixel::new(1_000_000_000, 1).ok());
    }

    #[test]
    fn pipelines_name_go_livepeers_capabilities() {
        assert_eq!(
            pipeline_capability("text-to-image"),
            Some(Capability::TextToImage)
        );
        assert_eq!(
            pipeline_capability("audio-to-text"),
            Some(Capability::AudioToText)
        );
        assert_eq!(pipeline_capability("make-coffee"), None);
        assert_eq!(pipeline_capability(""), None);
    }

    #[test]
    fn float_string_rounds_to_three_places() {
        let u = U256::from;
        assert_eq!(float_string_3(u(1), u(3)), "0.333");
        assert_eq!(float_string_3(u(2), u(3)), "0.667");
        assert_eq!(float_string_3(u(0), u(1)), "0.000");
    }
}
