//! The remote signer (`-remoteSigner`): a gateway node that holds the gateway's key and pays
//! for clients that have none (the third-party Python gateway's `--signer`, an off-chain
//! gateway), over go-livepeer's signer API (`server/remote_signer.go`, `reference/ai.md` §6.2):
//!
//! - `POST /sign-orchestrator-info` → `{"address": "0x…", "signature": "0x…"}`: the
//!   `OrchestratorRequest.address`/`sig` pair a client puts in its `GetOrchestrator` calls;
//! - `POST /generate-live-payment` with a `RemotePaymentRequest` (`orchestrator`: base64
//!   `OrchestratorInfo`; `state` from the previous answer; `ManifestID`; `type` `lv2v`,
//!   `live` or `fixed`, or `inPixels`; `capabilities`: base64 `Capabilities`) →
//!   `{"payment": <Livepeer-Payment>, "segCreds": <Livepeer-Segment>, "state": {"State",
//!   "Sig"}}`, for the client to send to `<orchestrator>/payment` (or with its start request).
//!
//! Units per call: `lv2v` bills 1280 × 720 × 30 units per second since the state's last call
//! (60 s on the first), `live` whole seconds (10 on the first), `fixed` one unit, no type
//! `inPixels`. Statuses: 400 for bad input or more than [`MAX_TICKETS_PER_CALL`] tickets, 480
//! (with `Livepeer-Orchestrator-URL`) when the state names a session this signer does not
//! hold (the client refreshes and starts again), 481 when the orchestrator's price rose above
//! the session's first (go's 2× rule), 482 when nothing is due this time (no time passed
//! since the last call, or the balance covers it); errors in the gateway's JSON envelope.
//!
//! With `-remoteDiscovery` it also serves `GET /discover-orchestrators[?caps=pipeline/model…]`
//! (go-livepeer `server/remote_discovery.go`): the orchestrators this node discovers
//! (`-orchWebhookUrl`, else `-orchAddr`, else the on-chain pool) as
//! `[{"address": <service URL>, "score": 1, "capabilities": ["pipeline/model", …]}]`, each
//! capability only where the orchestrator prices it (its `capabilities_prices` entry for the
//! model, else its `price_info`) within the gateway's `-maxPricePerCapability`/
//! `-maxPricePerUnit`; orchestrators left with none are dropped. Repeated `caps` select the
//! orchestrators offering any of them. A non-empty snapshot is kept for
//! `-liveAICapReportInterval` ([`DEFAULT_DISCOVERY_REFRESH`]); an empty one is retried on the
//! next call, and answers 503 `cache empty`. (go's live-runner `runners` records, from an
//! orchestrator's `/discovery` route, are not produced: our orchestrators have none.)
//!
//! The state is opaque to clients and signed with the gateway's key (a deterministic
//! RFC 6979 signature over its keccak256, checked by signing again). Unlike go-livepeer's,
//! which carries the whole pm session in it so that any replica can continue it, ours names a
//! session kept in this process (at most [`MAX_SESSIONS`], each for [`SESSION_TTL`] after its
//! last call): one signer per client, as a single signer node serves.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy_primitives::keccak256;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Response, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use livepeer_proto::headers::encode_header;
use livepeer_proto::net;
use prost::Message;
use serde::{Deserialize, Serialize};
use serde_json::json;

use livepeer_ai::units::{LIVE_INITIAL_SECONDS, LIVE_UNITS_PER_SECOND};

use crate::GatewayError;
use crate::ai::api_error;
use crate::payment::SessionTerms;
use crate::streams::Gateway;

/// The largest request body taken, bytes.
pub const MAX_SIGNER_BODY_BYTES: usize = 1024 * 1024;
/// Most tickets one call may need (go-livepeer: 100).
pub const MAX_TICKETS_PER_CALL: u64 = 100;
/// Sessions held at once; the oldest goes first.
pub const MAX_SESSIONS: usize = 4096;
/// How long a session is kept after its last call.
pub const SESSION_TTL: Duration = Duration::from_secs(60 * 60);
/// `live` seconds billed on the first call.
pub const LIVE_FIRST_SECONDS: u64 = 10;
/// The status asking the client to refresh its orchestrator session.
pub const STATUS_REFRESH_SESSION: u16 = 480;
/// The status for a price above what the session accepts.
pub const STATUS_PRICE_EXCEEDED: u16 = 481;
/// The status for a call that needs no ticket.
pub const STATUS_NO_TICKETS: u16 = 482;

/// How long a non-empty discovery snapshot is kept (go-livepeer `-liveAICapReportInterval`).
pub const DEFAULT_DISCOVERY_REFRESH: Duration = Duration::from_secs(25 * 60);
/// Most `caps` filters one `/discover-orchestrators` call may give.
pub const MAX_DISCOVERY_CAPS: usize = 64;

/// The signer's sessions and its discovery snapshot.
#[derive(Debug, Default)]
pub(crate) struct RemoteSigner {
    sessions: Mutex<HashMap<String, SignerSession>>,
    /// When the snapshot was taken, and the snapshot; held across a refresh so that
    /// concurrent calls share one discovery.
    discovery: tokio::sync::Mutex<Option<(Instant, Vec<DiscoveredOrchestrator>)>>,
}

/// One `/discover-orchestrators` entry (go-livepeer `discoveryResponse`, the orchestrator
/// webhook's shape).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct DiscoveredOrchestrator {
    /// The orchestrator's service URL.
    address: String,
    /// Always 1 (go: the legacy webhook field, `Score_Trusted`).
    score: f32,
    /// Its priced `pipeline/model` pairs, sorted.
    capabilities: Vec<String>,
}

#[derive(Debug, Clone)]
struct SignerSession {
    terms: SessionTerms,
    last_update: SystemTime,
    touched: Instant,
    kind: String,
    manifest: String,
}

/// The signed state (go-livepeer `RemotePaymentState` field names).
#[derive(Debug, Serialize, Deserialize)]
struct PaymentState {
    #[serde(rename = "StateID")]
    state_id: String,
    #[serde(rename = "PMSessionID")]
    pm_session_id: String,
    /// Unix time of the last call, milliseconds.
    #[serde(rename = "LastUpdate")]
    last_update_ms: u64,
    #[serde(rename = "OrchestratorAddress")]
    orchestrator_address: String,
    #[serde(rename = "Type", default)]
    kind: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SignedState {
    #[serde(rename = "State")]
    state: String,
    #[serde(rename = "Sig")]
    sig: String,
}

#[derive(Debug, Deserialize)]
struct PaymentRequest {
    #[serde(default)]
    orchestrator: String,
    #[serde(default)]
    state: Option<SignedState>,
    #[serde(rename = "ManifestID", default)]
    manifest_id: String,
    #[serde(rename = "inPixels", default)]
    in_pixels: i64,
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    capabilities: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn status(code: u16, message: &str) -> Response<Body> {
    api_error(
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        message,
    )
}

/// The signer's routes (merged into the gateway's HTTP port with `-remoteSigner`).
pub(crate) fn router(gw: Arc<Gateway>) -> Router {
    let mut router = Router::new()
        .route("/sign-orchestrator-info", post(sign_orchestrator_info))
        .route("/generate-live-payment", post(generate_live_payment));
    if gw.config.remote_discovery {
        router = router.route(
            "/discover-orchestrators",
            axum::routing::get(discover_orchestrators),
        );
    }
    router.with_state(gw)
}

async fn discover_orchestrators(
    State(gw): State<Arc<Gateway>>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response<Body> {
    let caps: Vec<String> = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .filter(|(k, v)| k == "caps" && !v.is_empty())
        .map(|(_, v)| v.into_owned())
        .take(MAX_DISCOVERY_CAPS)
        .collect();
    let snapshot = {
        let mut cached = gw.remote_signer.discovery.lock().await;
        let fresh = cached.as_ref().is_some_and(|(taken, list)| {
            !list.is_empty() && taken.elapsed() <= gw.config.remote_discovery_refresh
        });
        if !fresh {
            let list = discovery_snapshot(&gw).await;
            *cached = Some((Instant::now(), list));
        }
        cached
            .as_ref()
            .map(|(_, list)| list.clone())
            .unwrap_or_default()
    };
    if snapshot.is_empty() {
        return status(503, "cache empty");
    }
    let selected: Vec<DiscoveredOrchestrator> = snapshot
        .into_iter()
        .filter(|o| caps.is_empty() || o.capabilities.iter().any(|c| caps.contains(c)))
        .collect();
    Json(selected).into_response()
}

/// Discovers every orchestrator (a job asking for nothing) and keeps each one's priced
/// capabilities, merged by service URL.
async fn discovery_snapshot(gw: &Gateway) -> Vec<DiscoveredOrchestrator> {
    let answers = gw
        .discover_answers(&livepeer_primitives::Capabilities::default())
        .await;
    let mut list: Vec<DiscoveredOrchestrator> = Vec::new();
    for answer in answers {
        let mut capabilities = priced_capabilities(&answer.info, |pipeline, model| {
            gw.ai_max_price(pipeline, model).or_else(|| gw.max_price())
        });
        if capabilities.is_empty() {
            continue;
        }
        let address = answer.addr.to_string().trim_end_matches('/').to_string();
        match list.iter_mut().find(|o| o.address == address) {
            Some(known) => {
                known.capabilities.append(&mut capabilities);
                known.capabilities.sort();
                known.capabilities.dedup();
            }
            None => list.push(DiscoveredOrchestrator {
                address,
                score: crate::dispatch::SCORE_TRUSTED,
                capabilities,
            }),
        }
    }
    list
}

/// The `pipeline/model` pairs of `info` that have a price (the `capabilities_prices` entry
/// for the model, else `price_info`, with pixels per unit > 0) at most `max_price(pipeline,
/// model)`, sorted (go-livepeer `remote_discovery.go` `capabilityPrice`).
fn priced_capabilities(
    info: &net::OrchestratorInfo,
    max_price: impl Fn(livepeer_ai::Pipeline, &str) -> Option<livepeer_pm::PricePerPixel>,
) -> Vec<String> {
    let caps = livepeer_proto::convert::capabilities_from_net(info.capabilities.as_ref());
    let mut out = Vec::new();
    for (&cap, models) in &caps.per_capability {
        let Some(pipeline) = livepeer_ai::Pipeline::from_capability(cap) else {
            continue;
        };
        for model in models.keys().filter(|m| !m.is_empty()) {
            let price = info
                .capabilities_prices
                .iter()
                .find(|p| p.capability == cap && &p.constraint == model && p.pixels_per_unit > 0)
                .or(info.price_info.as_ref().filter(|p| p.pixels_per_unit > 0));
            let Some(price) = price else { continue };
            let (Ok(num), Ok(den)) = (
                u128::try_from(price.price_per_unit),
                u128::try_from(price.pixels_per_unit),
            ) else {
                continue;
            };
            let above = |max: livepeer_pm::PricePerPixel| {
                num * u128::from(max.den()) > u128::from(max.num()) * den
            };
            if max_price(pipeline, model).is_some_and(above) {
                continue;
            }
            out.push(format!("{}/{model}", pipeline.as_str()));
        }
    }
    out.sort();
    out
}

async fn sign_orchestrator_info(State(gw): State<Arc<Gateway>>) -> Response<Body> {
    let Some(payments) = &gw.payments else {
        return status(500, "the remote signer has no account");
    };
    let mut request = net::OrchestratorRequest::default();
    payments.sign_request(&mut request);
    Json(json!({
        "address": format!("0x{}", hex::encode(&request.address)),
        "signature": format!("0x{}", hex::encode(&request.sig)),
    }))
    .into_response()
}

async fn generate_live_payment(State(gw): State<Arc<Gateway>>, body: Body) -> Response<Body> {
    let Some(payments) = &gw.payments else {
        return status(500, "the remote signer has no account");
    };
    let Ok(bytes) = axum::body::to_bytes(body, MAX_SIGNER_BODY_BYTES).await else {
        return status(400, "request body too large");
    };
    let request: PaymentRequest = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => return status(400, &format!("invalid request: {e}")),
    };
    let info = match BASE64
        .decode(request.orchestrator.as_bytes())
        .ok()
        .and_then(|b| net::OrchestratorInfo::decode(&b[..]).ok())
    {
        Some(info) => info,
        None => return status(400, "orchestrator is not a base64 OrchestratorInfo"),
    };
    if info.ticket_params.is_none()
        || info
            .price_info
            .as_ref()
            .is_none_or(|p| p.price_per_unit == 0 || p.pixels_per_unit == 0)
    {
        return status(
            400,
            "the orchestrator info has no price or ticket parameters",
        );
    }
    let capabilities = match request.capabilities.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(b64) => match BASE64
            .decode(b64.as_bytes())
            .ok()
            .and_then(|b| net::Capabilities::decode(&b[..]).ok())
        {
            Some(c) => Some(c),
            None => return status(400, "capabilities are not a base64 Capabilities"),
        },
    };
    let signer = &gw.remote_signer;
    let now = SystemTime::now();

    // The session: the state's, or a new one on the info's parameters.
    let previous = match &request.state {
        None => None,
        Some(signed) => {
            let Some(state) = signer.verify(&gw, signed) else {
                return status(400, "invalid state signature");
            };
            match signer.session(&state.state_id) {
                Some(session) => Some((state.state_id, session)),
                None => {
                    return Response::builder()
                        .status(STATUS_REFRESH_SESSION)
                        .header("Livepeer-Orchestrator-URL", info.transcoder.as_str())
                        .header("Content-Type", "application/json")
                        .body(Body::from(
                            json!({"error": {"message": "refresh session"}}).to_string(),
                        ))
                        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response());
                }
            }
        }
    };
    let kind = match &previous {
        Some((_, s)) if request.kind.is_empty() => s.kind.clone(),
        _ => request.kind.clone(),
    };
    let units = match units_due(
        &kind,
        request.in_pixels,
        previous.as_ref().map(|(_, s)| s.last_update),
        now,
    ) {
        Ok(u) => u,
        Err(msg) => return status(400, msg),
    };
    if units == 0 {
        return status(STATUS_NO_TICKETS, "no tickets needed");
    }
    let same_params = |terms: &SessionTerms| {
        info.ticket_params
            .as_ref()
            .is_some_and(|p| p.recipient_rand_hash == terms.params.recipient_rand_hash.to_vec())
    };
    let (state_id, terms, manifest) = match previous {
        Some((id, session)) if same_params(&session.terms) => {
            // The price may not rise above the session's first.
            if let Err(err) = payments.terms_price_check(&info, &session.terms) {
                return status(STATUS_PRICE_EXCEEDED, &err.to_string());
            }
            let manifest = if request.manifest_id.is_empty() {
                session.manifest.clone()
            } else {
                request.manifest_id.clone()
            };
            (id, session.terms, manifest)
        }
        Some((id, session)) => {
            match payments.terms(&info.transcoder, &info, Some(&session.terms)) {
                Ok(terms) => (id, terms, request.manifest_id.clone()),
                Err(err @ GatewayError::PriceIncreased { .. }) => {
                    return status(STATUS_PRICE_EXCEEDED, &err.to_string());
                }
                Err(err) => return status(400, &err.to_string()),
            }
        }
        None => match payments.terms(&info.transcoder, &info, None) {
            Ok(terms) => (
                hex::encode(rand::random::<[u8; 16]>()),
                terms,
                request.manifest_id.clone(),
            ),
            Err(err) => return status(400, &err.to_string()),
        },
    };
    let staged = match payments.stage_units(&terms, &manifest, units) {
        Ok(s) => s,
        Err(err) => return status(400, &err.to_string()),
    };
    if staged.tickets > MAX_TICKETS_PER_CALL {
        payments.complete(&staged, terms.price, None);
        return status(
            400,
            &format!(
                "{} tickets needed, more than {MAX_TICKETS_PER_CALL}",
                staged.tickets
            ),
        );
    }
    let no_tickets = staged.tickets == 0;
    // The client sends it on; the signer cannot learn the outcome, so the credit is spent.
    payments.complete(&staged, terms.price, Some(Some(units)));
    signer.keep(
        &state_id,
        SignerSession {
            terms: terms.clone(),
            last_update: now,
            touched: Instant::now(),
            kind: kind.clone(),
            manifest: manifest.clone(),
        },
    );
    if no_tickets {
        return status(STATUS_NO_TICKETS, "no tickets needed");
    }
    let mut seg = net::SegData {
        manifest_id: manifest.into_bytes(),
        auth_token: info.auth_token.clone(),
        capabilities,
        ..Default::default()
    };
    payments.sign_segment(&mut seg);
    let state = PaymentState {
        state_id,
        pm_session_id: terms.pm_session.to_string(),
        last_update_ms: now
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        orchestrator_address: terms.recipient.to_checksum(None),
        kind,
    };
    Json(json!({
        "payment": staged.header,
        "segCreds": encode_header(&seg),
        "state": signer.sign(&gw, &state),
    }))
    .into_response()
}

/// Units due for one call (module docs).
fn units_due(
    kind: &str,
    in_pixels: i64,
    last: Option<SystemTime>,
    now: SystemTime,
) -> Result<u64, &'static str> {
    let elapsed = last.map(|t| now.duration_since(t).unwrap_or_default());
    match kind {
        "lv2v" => Ok(match elapsed {
            None => LIVE_UNITS_PER_SECOND * LIVE_INITIAL_SECONDS,
            Some(e) => (u128::from(LIVE_UNITS_PER_SECOND) * e.as_millis() / 1000) as u64,
        }),
        "live" => Ok(match elapsed {
            None => LIVE_FIRST_SECONDS,
            Some(e) => e.as_secs_f64().ceil() as u64,
        }),
        "fixed" => Ok(1),
        "" if in_pixels > 0 => Ok(in_pixels as u64),
        "" => Err("inPixels must be positive when no type is given"),
        _ => Err("type must be lv2v, live or fixed"),
    }
}

impl RemoteSigner {
    fn session(&self, id: &str) -> Option<SignerSession> {
        let mut sessions = lock(&self.sessions);
        sessions.retain(|_, s| s.touched.elapsed() < SESSION_TTL);
        sessions.get(id).cloned()
    }

    fn keep(&self, id: &str, session: SignerSession) {
        let mut sessions = lock(&self.sessions);
        if !sessions.contains_key(id) && sessions.len() >= MAX_SESSIONS {
            let oldest = sessions
                .iter()
                .min_by_key(|(_, s)| s.touched)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                sessions.remove(&oldest);
            }
        }
        sessions.insert(id.to_string(), session);
    }

    fn sign(&self, gw: &Gateway, state: &PaymentState) -> SignedState {
        let bytes = serde_json::to_vec(state).unwrap_or_default();
        let sig = gw
            .payments
            .as_ref()
            .map(|p| p.config().signer.sign(&keccak256(&bytes)).to_vec())
            .unwrap_or_default();
        SignedState {
            state: BASE64.encode(&bytes),
            sig: BASE64.encode(sig),
        }
    }

    /// The state, if its signature is this signer's.
    fn verify(&self, gw: &Gateway, signed: &SignedState) -> Option<PaymentState> {
        let bytes = BASE64.decode(signed.state.as_bytes()).ok()?;
        let sig = BASE64.decode(signed.sig.as_bytes()).ok()?;
        let expected = gw
            .payments
            .as_ref()?
            .config()
            .signer
            .sign(&keccak256(&bytes));
        if expected.as_slice() != sig.as_slice() {
            return None;
        }
        serde_json::from_slice(&bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_per_call_follow_the_type() {
        let t0 = UNIX_EPOCH + Duration::from_secs(1_000_000);
        let later = t0 + Duration::from_millis(5_500);
        assert_eq!(units_due("lv2v", 0, None, t0), Ok(1_658_880_000));
        assert_eq!(units_due("lv2v", 0, Some(t0), later), Ok(152_064_000));
        assert_eq!(units_due("live", 0, None, t0), Ok(10));
        assert_eq!(units_due("live", 0, Some(t0), later), Ok(6));
        assert_eq!(units_due("fixed", 0, Some(t0), later), Ok(1));
        assert_eq!(units_due("", 1234, None, t0), Ok(1234));
        assert!(units_due("", 0, None, t0).is_err());
        assert!(units_due("other", 5, None, t0).is_err());
    }
}
