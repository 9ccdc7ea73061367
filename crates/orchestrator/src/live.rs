//! Live-video-to-video (capability 35) on the orchestrator: `POST /live-video-to-video`
//! starts a real-time AI session, its four trickle channels are served on the service port
//! under `/ai/trickle/`, and the session is billed from `/payment` top-ups while it runs.
//!
//! go-livepeer `server/ai_http.go:StartLiveVideoToVideo` and
//! `server/live_payment_processor.go` (`reference/ai.md` §4.3 point 4 and §4.4), in order:
//! 1. the body (JSON `{model_id, params, gateway_request_id, stream_id}`, at most
//!    [`MAX_START_BODY_BYTES`]) parses (400; `model_id` is required);
//! 2. a place on a runner of (`live-video-to-video`, model) is reserved (503 "insufficient
//!    capacity");
//! 3. the payment header decodes (402), the segment credentials verify (403), the tickets
//!    are credited to (sender, manifest ID) (400), and with a non-zero price the balance must
//!    cover a ticket EV (400 "Insufficient balance");
//! 4. the four channels `<mid>` (input, `video/MP2T`), `<mid>-out` (output), `<mid>-control`
//!    and `<mid>-events` (`application/json`) are created, `<mid>` a new random manifest ID;
//! 5. the runner is started with `subscribe_url` = the input channel and `publish_url` = the
//!    output channel (500 with its error, and the channels closed, if it refuses);
//! 6. the answer is `LiveVideoToVideoResponse` (`publish_url` = where the gateway publishes,
//!    `subscribe_url` = where it reads the output, `control_url`, `events_url`,
//!    `manifest_id`).
//!
//! While the session runs the orchestrator reads its own input channel (always at the live
//! edge) to clock payment: on a segment, at most once per [`DEFAULT_LIVE_PAYMENT_INTERVAL`],
//! it debits [`LIVE_UNITS_PER_SECOND`] × the seconds since the last debit (the fractional
//! remainder carried) at the payment's expected price; when the balance no longer covers a
//! ticket EV, the session ends at once: every channel is closed (the gateway and the runner
//! see end of stream) and the runner's place is released. When the input channel ends (the
//! gateway deleted it), the input and control channels close and the runner gets up to
//! [`OUTPUT_DRAIN_TIMEOUT`] to publish its last output and close the output channel itself,
//! so the stream's tail is not lost.
//!
//! `POST /refresh-payment` (go-livepeer `server/rpc.go:RefreshPayment`) gives a payer of a
//! running session fresh ticket parameters at the session's fixed price; see
//! [`post_refresh_payment`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, U256};
use axum::body::Body;
use axum::http::{HeaderMap, Response, StatusCode, header};
use axum::response::IntoResponse;
use livepeer_ai::Pipeline;
use livepeer_ai::client::RunnerClientError;
use livepeer_ai::worker::RunnerLease;
use livepeer_pm::{ExactWei, PriceInfo};
use livepeer_trickle::{ReadSeq, TrickleConfig, TrickleServer};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, info, info_span, warn};

use crate::State;
use crate::ai::text;

/// Where the trickle channels are served on the service port (go-livepeer
/// `TrickleHTTPPath`).
pub const TRICKLE_PATH: &str = livepeer_trickle::wire::ORCHESTRATOR_BASE_PATH;
pub use livepeer_ai::units::{DEFAULT_LIVE_PAYMENT_INTERVAL, LIVE_UNITS_PER_SECOND};
/// The largest start request body taken, bytes (params are small JSON).
pub const MAX_START_BODY_BYTES: usize = 1024 * 1024;
/// After the input ends, how long the runner has to publish its last output and close the
/// output channel before the orchestrator closes it.
pub const OUTPUT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the start request body may take to arrive.
const START_BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// How many ended sessions the status report keeps (the latest).
pub const ENDED_SESSIONS_KEPT: usize = 16;

/// One live session as the orchestrator's `/status` reports it (`liveSessions`), running or
/// among the [`ENDED_SESSIONS_KEPT`] latest ended.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveSessionReport {
    /// The session's manifest ID (the name of its input channel).
    pub manifest_id: String,
    /// The live pipeline.
    pub model_id: String,
    /// The gateway's stream ID, as its start request gave it.
    pub stream_id: String,
    /// The gateway's request ID, as its start request gave it.
    pub request_id: String,
    /// The paying gateway (the tickets' sender); `None` off-chain.
    pub sender: Option<Address>,
    /// Seconds since the session started (until it ended, once ended).
    pub seconds: f64,
    /// Units debited so far: [`LIVE_UNITS_PER_SECOND`] for each second billed.
    pub units_debited: u64,
    /// What those units cost at the session's price, wei rounded down (a decimal string
    /// in JSON).
    #[serde(serialize_with = "decimal")]
    pub fees_wei: U256,
    /// The session's balance (the credited tickets' EV less the fees), whole wei rounded
    /// down, with a `-` when negative; at its end once ended; `None` off-chain.
    pub balance_wei: Option<String>,
    /// Why it ended (`the input ended`, `insufficient balance`, `stopped`); `None` while it
    /// runs.
    pub ended: Option<String>,
}

/// The orchestrator's live sessions and their trickle server.
#[derive(Debug)]
pub(crate) struct LiveState {
    pub(crate) trickle: TrickleServer,
    sessions: Mutex<HashMap<String, LiveSession>>,
    /// The latest ended sessions, oldest first, at most [`ENDED_SESSIONS_KEPT`].
    ended: Mutex<std::collections::VecDeque<LiveSessionReport>>,
    payment_interval: Duration,
}

fn decimal<S: serde::Serializer>(wei: &U256, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(wei)
}

/// One running session.
#[derive(Debug)]
struct LiveSession {
    /// Ends the session.
    stop: CancellationToken,
    started: Instant,
    /// Its report, `seconds`, `fees_wei` and `balance_wei` filled in when asked.
    report: LiveSessionReport,
    /// The fees debited so far, exact.
    fees: ExactWei,
}

impl LiveSession {
    fn report(&self, payments: Option<&crate::payment::Payments>) -> LiveSessionReport {
        let mut report = self.report.clone();
        report.seconds = self.started.elapsed().as_secs_f64();
        report.fees_wei = self.fees.floor_wei().map(|(_, w)| w).unwrap_or_default();
        report.balance_wei = payments
            .zip(report.sender)
            .and_then(|(p, sender)| p.balance_at(sender, &report.manifest_id))
            .and_then(|b| b.floor_wei().ok())
            .map(|(negative, wei)| format!("{}{wei}", if negative { "-" } else { "" }));
        report
    }
}

impl LiveState {
    pub(crate) fn new(payment_interval: Duration) -> Self {
        Self {
            trickle: TrickleServer::new(TrickleConfig::default()),
            sessions: Mutex::new(HashMap::new()),
            ended: Mutex::new(std::collections::VecDeque::new()),
            payment_interval: payment_interval.max(Duration::from_millis(100)),
        }
    }

    /// Live sessions running now.
    pub(crate) fn running(&self) -> usize {
        lock(&self.sessions).len()
    }

    /// The running sessions (by manifest ID), then the latest ended ones, oldest first.
    pub(crate) fn reports(
        &self,
        payments: Option<&crate::payment::Payments>,
    ) -> Vec<LiveSessionReport> {
        let mut running: Vec<LiveSessionReport> = lock(&self.sessions)
            .values()
            .map(|s| s.report(payments))
            .collect();
        running.sort_by(|a, b| a.manifest_id.cmp(&b.manifest_id));
        running.extend(lock(&self.ended).iter().cloned());
        running
    }

    /// Moves session `mid` to the ended ones with `why`.
    fn end(&self, mid: &str, why: &str, payments: Option<&crate::payment::Payments>) {
        let Some(session) = lock(&self.sessions).remove(mid) else {
            return;
        };
        let mut report = session.report(payments);
        report.ended = Some(why.to_string());
        let mut ended = lock(&self.ended);
        if ended.len() == ENDED_SESSIONS_KEPT {
            ended.pop_front();
        }
        ended.push_back(report);
    }

    /// Ends every session (shutdown).
    pub(crate) fn stop_all(&self) {
        for session in lock(&self.sessions).values() {
            session.stop.cancel();
        }
        self.trickle.close_all();
    }
}

/// The start request (go-livepeer `worker.GenLiveVideoToVideoJSONRequestBody`); unknown
/// fields are ignored.
#[derive(Debug, Default, Deserialize)]
struct StartRequest {
    #[serde(default)]
    model_id: Option<String>,
    #[serde(default)]
    params: Option<Map<String, Value>>,
    #[serde(default)]
    gateway_request_id: Option<String>,
    #[serde(default)]
    stream_id: Option<String>,
}

/// `POST /live-video-to-video` (see the module docs).
pub(crate) async fn post_live(state: Arc<State>, headers: HeaderMap, body: Body) -> Response<Body> {
    let (Some(ai), Some(live)) = (state.ai.as_ref(), state.live.as_ref()) else {
        return text(StatusCode::NOT_FOUND, "404 page not found");
    };
    let bytes = match tokio::time::timeout(
        START_BODY_TIMEOUT,
        axum::body::to_bytes(body, MAX_START_BODY_BYTES),
    )
    .await
    {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(_)) => return text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
        Err(_) => return text(StatusCode::REQUEST_TIMEOUT, "request body timed out"),
    };
    let request: StartRequest = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => return text(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let Some(model_id) = request.model_id.filter(|m| !m.is_empty()) else {
        return text(StatusCode::BAD_REQUEST, "model_id is required");
    };
    let header_value = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let gateway_request_id = request
        .gateway_request_id
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| header_value("requestID"));
    let stream_id = request
        .stream_id
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| header_value("streamID"));

    let Some(lease) = ai
        .worker
        .as_ref()
        .and_then(|w| w.reserve(Pipeline::LiveVideoToVideo, &model_id))
    else {
        warn!(%model_id, "insufficient capacity for live-video-to-video");
        return text(StatusCode::SERVICE_UNAVAILABLE, "insufficient capacity");
    };
    let (payment, sender, _seg) = match crate::http::payment_and_credentials(&state, &headers) {
        Ok(parts) => parts,
        Err(err) => return text(err.status(), &err.to_string()),
    };
    let mid = hex::encode(rand::random::<[u8; 8]>());
    let price = payment
        .as_ref()
        .map(|p| p.expected_price)
        .filter(|p| p.price_per_unit > 0);
    if let (Some(payments), Some(batch)) = (&state.payments, payment) {
        if let Err(err) = payments.process_payment(batch, &mid).await {
            return text(err.status(), &err.to_string());
        }
        if price.is_some()
            && let Err(err) = payments.require_balance_at(sender, &mid)
        {
            return text(err.status(), &err.to_string());
        }
    }

    let base = format!("{}{TRICKLE_PATH}", state.service_uri.trim_end_matches('/'));
    let channels = Channels::new(&mid);
    for (name, mime) in channels.with_mimes() {
        if let Err(e) = live.trickle.create_channel(name, mime) {
            channels.close(&live.trickle);
            return text(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
        }
    }
    let url = |name: &str| format!("{base}/{name}");
    let runner_body = json!({
        "model_id": model_id,
        "params": request.params.unwrap_or_default(),
        "subscribe_url": url(&channels.input),
        "publish_url": url(&channels.output),
        "control_url": url(&channels.control),
        "events_url": url(&channels.events),
        "gateway_request_id": gateway_request_id,
        "manifest_id": mid,
        "stream_id": stream_id,
    });
    let runner_request = match livepeer_ai::AiRequest::from_json(
        Pipeline::LiveVideoToVideo,
        runner_body.to_string().as_bytes(),
    ) {
        Ok(r) => r,
        Err(e) => {
            channels.close(&live.trickle);
            return text(StatusCode::BAD_REQUEST, &e.body().to_string());
        }
    };
    if let Err(e) = lease.client().run(&runner_request).await {
        warn!(%model_id, manifest_id = %mid, error = %e, "live runner refused the stream");
        channels.close(&live.trickle);
        let msg = match &e {
            RunnerClientError::Status { status, msg, .. } => {
                format!("runner returned {status}: {msg}")
            }
            other => other.to_string(),
        };
        return text(StatusCode::INTERNAL_SERVER_ERROR, &msg);
    }

    let stop = state.closing.child_token();
    let report = LiveSessionReport {
        manifest_id: mid.clone(),
        model_id: model_id.clone(),
        stream_id: stream_id.clone(),
        request_id: gateway_request_id.clone(),
        sender: state.payments.as_ref().map(|_| sender),
        seconds: 0.0,
        units_debited: 0,
        fees_wei: U256::ZERO,
        balance_wei: None,
        ended: None,
    };
    lock(&live.sessions).insert(
        mid.clone(),
        LiveSession {
            stop: stop.clone(),
            started: Instant::now(),
            report,
            fees: ExactWei::ZERO,
        },
    );
    info!(%model_id, manifest_id = %mid, request_id = %gateway_request_id, %stream_id, "live-video-to-video started");
    tokio::spawn(
        run_session(
            state.clone(),
            Session {
                mid: mid.clone(),
                channels: channels.clone(),
                sender,
                price,
                lease,
                stop,
            },
        )
        .instrument(info_span!("live", manifest_id = %mid)),
    );
    let answer = json!({
        "publish_url": url(&channels.input),
        "subscribe_url": url(&channels.output),
        "control_url": url(&channels.control),
        "events_url": url(&channels.events),
        "manifest_id": mid,
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        answer.to_string(),
    )
        .into_response()
}

/// The four channel names of a session.
#[derive(Debug, Clone)]
struct Channels {
    input: String,
    output: String,
    control: String,
    events: String,
}

impl Channels {
    fn new(mid: &str) -> Self {
        Self {
            input: mid.to_string(),
            output: format!("{mid}-out"),
            control: format!("{mid}-control"),
            events: format!("{mid}-events"),
        }
    }

    fn with_mimes(&self) -> [(&str, &str); 4] {
        [
            (self.input.as_str(), "video/MP2T"),
            (self.output.as_str(), "video/MP2T"),
            (self.control.as_str(), "application/json"),
            (self.events.as_str(), "application/json"),
        ]
    }

    /// Closes every channel (readers and writers see end of stream).
    fn close(&self, trickle: &TrickleServer) {
        for (name, _) in self.with_mimes() {
            let _ = trickle.close_channel(name);
        }
    }
}

/// What a session's task holds.
struct Session {
    mid: String,
    channels: Channels,
    sender: Address,
    price: Option<PriceInfo>,
    /// The runner's place, released when the session ends.
    lease: RunnerLease,
    stop: CancellationToken,
}

/// Reads the session's input channel at the live edge, debiting on its segments, until the
/// input ends, the balance runs out or the session is stopped; then closes the channels.
async fn run_session(state: Arc<State>, session: Session) {
    let Some(live) = state.live.as_ref() else {
        return;
    };
    let mut clock = PaymentClock::new(Instant::now());
    let mut input = live
        .trickle
        .local_subscriber(&session.channels.input, ReadSeq::Next);
    let why = loop {
        // go: SetSeq(-1) before each read, in case this reader fell out of the window.
        input.set_seq(ReadSeq::Next);
        let mut segment = match input.next_segment() {
            Ok(Some(segment)) => segment,
            // Closed, or deleted by the gateway (then it is gone from the server).
            Ok(None) | Err(_) => break INPUT_ENDED,
        };
        if let (Some(payments), Some(price)) = (&state.payments, session.price)
            && let Some(units) = clock.due(Instant::now(), live.payment_interval)
        {
            payments.debit_at(session.sender, &session.mid, units, price);
            if let Some(s) = lock(&live.sessions).get_mut(&session.mid) {
                s.report.units_debited = s.report.units_debited.saturating_add(units);
                let fee = crate::payment::fee_at(units, price).unwrap_or_default();
                s.fees = s.fees.checked_add(fee).unwrap_or(s.fees);
            }
            if payments
                .require_balance_at(session.sender, &session.mid)
                .is_err()
            {
                break "insufficient balance";
            }
        }
        // Read the segment through, so the next read waits for the next segment.
        let done = async { while segment.chunk().await.is_some() {} };
        tokio::select! {
            _ = done => {}
            _ = session.stop.cancelled() => break "stopped",
        }
    };
    info!(reason = why, "live-video-to-video ended");
    if why == INPUT_ENDED {
        // The runner still holds the last input: it publishes what it made of it and closes
        // the output itself. Until then only the input and control channels close.
        let _ = live.trickle.close_channel(&session.channels.input);
        let _ = live.trickle.close_channel(&session.channels.control);
        let drained = async {
            while live.trickle.has_channel(&session.channels.output) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        tokio::select! {
            _ = tokio::time::timeout(OUTPUT_DRAIN_TIMEOUT, drained) => {}
            _ = session.stop.cancelled() => {}
        }
    }
    session.channels.close(&live.trickle);
    live.end(&session.mid, why, state.payments.as_ref());
    drop(session.lease);
}

/// Why a session ended when its input did.
const INPUT_ENDED: &str = "the input ended";

/// go-livepeer's `LivePaymentProcessor` clock: units due at most once per interval, for the
/// whole time since the last debit, the fraction of a unit carried over.
#[derive(Debug)]
struct PaymentClock {
    last: Instant,
    /// Unbilled unit-nanoseconds (units × ns / 1e9 not yet billed).
    carried: u128,
}

impl PaymentClock {
    fn new(start: Instant) -> Self {
        Self {
            last: start,
            carried: 0,
        }
    }

    /// The units to debit at `now`, or `None` before `interval` has passed since the last.
    fn due(&mut self, now: Instant, interval: Duration) -> Option<u64> {
        let elapsed = now.checked_duration_since(self.last)?;
        if elapsed < interval {
            return None;
        }
        self.last = now;
        let total = u128::from(LIVE_UNITS_PER_SECOND) * elapsed.as_nanos() + self.carried;
        self.carried = total % 1_000_000_000;
        u64::try_from(total / 1_000_000_000).ok()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The largest `/refresh-payment` body, bytes.
const MAX_REFRESH_BODY_BYTES: usize = 64 * 1024;

/// `POST /refresh-payment` with JSON `{sender: "0x…", manifest_id}`: fresh payment
/// parameters for `sender`'s session `manifest_id` at the price its first paid ticket fixed
/// (go-livepeer `server/rpc.go:RefreshPayment`). Answers JSON `{payment_params (base64
/// protobuf OrchestratorInfo: transcoder, ticket_params, price_info, address, and an auth
/// token for the session), orchestrator, manifest_id, payment_url}`.
///
/// Errors (go's JSON envelope `{"error": {"message"}}`): 400 for a body that is not that
/// JSON, an invalid `sender` or a missing `manifest_id`; 409 "fixed price not found for
/// session" when no paid ticket fixed the session's price (always off-chain); 500 when no
/// ticket parameters can be made.
pub(crate) async fn post_refresh_payment(state: Arc<State>, body: Body) -> Response<Body> {
    #[derive(Deserialize)]
    struct RefreshRequest {
        #[serde(default)]
        sender: String,
        #[serde(default)]
        manifest_id: String,
    }
    let error = |status: StatusCode, message: &str| {
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            json!({"error": {"message": message}}).to_string(),
        )
            .into_response()
    };
    let Ok(bytes) = axum::body::to_bytes(body, MAX_REFRESH_BODY_BYTES).await else {
        return error(StatusCode::BAD_REQUEST, "request body too large");
    };
    let request: RefreshRequest = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let sender = match request.sender.strip_prefix("0x") {
        Some(hex) if hex.len() == 40 => request.sender.parse::<Address>().ok(),
        _ => None,
    };
    let Some(sender) = sender else {
        return error(StatusCode::BAD_REQUEST, "invalid sender");
    };
    let manifest_id = request.manifest_id.trim();
    if manifest_id.is_empty() {
        return error(StatusCode::BAD_REQUEST, "missing manifest_id");
    }
    let fixed = state.payments.as_ref().and_then(|p| {
        p.fixed_price_of(sender, manifest_id)
            .map(|price| (p, price))
    });
    let Some((payments, price)) = fixed else {
        return error(StatusCode::CONFLICT, "fixed price not found for session");
    };
    let (ticket_params, price_info) = match payments
        .ticket_info(sender, Some(manifest_id), Some(price))
        .await
    {
        Ok(info) => info,
        Err(e) => return error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let info = livepeer_proto::net::OrchestratorInfo {
        transcoder: state.service_uri.clone(),
        ticket_params: Some(ticket_params),
        price_info: Some(price_info),
        address: payments.address().to_vec(),
        auth_token: Some(
            state
                .auth
                .issue_for(manifest_id.to_string(), std::time::SystemTime::now()),
        ),
        ..Default::default()
    };
    use base64::Engine as _;
    use prost::Message as _;
    let answer = json!({
        "payment_params": base64::engine::general_purpose::STANDARD.encode(info.encode_to_vec()),
        "orchestrator": info.transcoder,
        "manifest_id": manifest_id,
        "payment_url": format!("{}/payment", state.service_uri.trim_end_matches('/')),
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        answer.to_string(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_sessions_are_billed_in_720p_pixel_seconds() {
        let start = Instant::now();
        let mut clock = PaymentClock::new(start);
        let interval = Duration::from_secs(5);
        assert_eq!(clock.due(start + Duration::from_secs(4), interval), None);
        assert_eq!(
            clock.due(start + Duration::from_secs(5), interval),
            Some(5 * 27_648_000)
        );
        // A third of a second carries over.
        let third = Duration::from_nanos(5_333_333_333);
        let first = clock.due(start + Duration::from_secs(5) + third, interval);
        assert_eq!(first, Some(147_455_999));
        let second = clock.due(start + Duration::from_secs(5) + third * 2, interval);
        assert_eq!(first.unwrap_or(0) + second.unwrap_or(0), 294_911_999);
        assert_eq!(LIVE_UNITS_PER_SECOND, 27_648_000);
    }
}
