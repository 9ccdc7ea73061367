//! Live-video-to-video (real-time AI) on the gateway: an RTMP broadcast published with
//! `?pipeline=<live pipeline>[&params=<JSON>]` goes to an orchestrator's live pipeline over
//! trickle instead of being transcoded, and the processed video comes back as the stream's
//! HLS.
//!
//! go-livepeer `server/ai_live_video.go` and `server/ai_mediaserver.go` (`reference/ai.md`
//! §4.3, §4.4):
//! 1. an orchestrator advertising capability 35 with the pipeline as its model is picked from
//!    the AI session pool (warm first, then by latency; suspended ones left out);
//! 2. `POST <orch>/live-video-to-video` `{model_id, params, gateway_request_id, stream_id}`
//!    with segment credentials and, on chain, tickets for [`INIT_UNITS_TO_PAY`]
//!    (60 s of 720p30), within [`START_TIMEOUT`]; a refusal suspends it and the next is tried;
//! 3. the answer's `publish_url` takes the input segments (one trickle segment each),
//!    `subscribe_url` gives the processed segments, which become the stream's HLS
//!    (`/stream/<stream>.m3u8`, one track), `control_url` takes parameter updates
//!    (`POST /live/video-to-video/<stream>/update`) and a `{"keep":"alive"}` every
//!    [`KEEPALIVE_INTERVAL`], and `events_url` gives the runner's events, the last status
//!    event served at `GET /live/video-to-video/<stream>/status`;
//! 4. on chain, every `-livePaymentInterval` ([`DEFAULT_LIVE_PAYMENT_INTERVAL`]) while input flows, tickets for
//!    [`LIVE_UNITS_PER_SECOND`] × the seconds since the last payment go to `<orch>/payment`;
//! 5. when the broadcast ends the input channel is deleted; the orchestrator then closes the
//!    others and the stream's playlists turn VOD.
//!
//! Not yet here: the liveness rules (in-flight limit, output watchdog, events gap) and the
//! orchestrator swap mid-stream, RTMP output, WHIP/WHEP, the MediaMTX start hook.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Response, StatusCode, header};
use axum::response::IntoResponse;
use bytes::Bytes;
use livepeer_ai::Pipeline;
use livepeer_primitives::ManifestId;
use livepeer_proto::headers::{PAYMENT_HEADER, SEGMENT_HEADER, encode_header};
use livepeer_proto::net;
use livepeer_trickle::{
    PublishStart, PublisherConfig, ReadSeq, SubscriberConfig, TricklePublisher, TrickleSubscriber,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::GatewayError;
use crate::dispatch::{BroadcastSession, SourceSegment};
use crate::streams::{Gateway, PushInFlight, StreamSetup};

pub use livepeer_ai::units::{DEFAULT_LIVE_PAYMENT_INTERVAL, LIVE_UNITS_PER_SECOND};
/// Units paid when a session starts: 60 s of 720p30 (go-livepeer `initPixelsToPay`).
pub const INIT_UNITS_TO_PAY: u64 = livepeer_ai::units::LIVE_INITIAL_SECONDS * LIVE_UNITS_PER_SECOND;
/// How long the orchestrator may take to start a session (go-livepeer: 5 s).
pub const START_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the control channel gets a keep-alive (go-livepeer: 10 s).
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
/// The largest parameter update taken (go-livepeer's limit, 1 × 1024 × 104 bytes).
pub const MAX_UPDATE_BYTES: usize = 1024 * 104;
/// The largest output segment read back, bytes.
pub const MAX_OUTPUT_SEGMENT_BYTES: usize = 64 * 1024 * 1024;
/// The largest event read back, bytes.
const MAX_EVENT_BYTES: usize = 1024 * 1024;
/// Orchestrators tried for one start.
const MAX_START_TRIES: usize = 3;

/// The live sessions of one gateway, by stream name.
#[derive(Debug, Default)]
pub(crate) struct LiveStreams {
    streams: Mutex<HashMap<String, Arc<LiveStream>>>,
}

/// One live-video-to-video stream.
#[derive(Debug)]
pub(crate) struct LiveStream {
    name: String,
    pipeline: String,
    request_id: String,
    orchestrator: String,
    /// The input publisher; `None` once the broadcast ended.
    input: tokio::sync::Mutex<Option<TricklePublisher>>,
    control: tokio::sync::Mutex<TricklePublisher>,
    status: Mutex<Option<Value>>,
    last_input: Mutex<Instant>,
    stop: CancellationToken,
}

/// What a start answers (`LiveVideoToVideoResponse`).
#[derive(Debug, Deserialize)]
struct StartAnswer {
    publish_url: String,
    subscribe_url: String,
    #[serde(default)]
    control_url: Option<String>,
    #[serde(default)]
    events_url: Option<String>,
    #[serde(default)]
    manifest_id: Option<String>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The client to orchestrators (their certificates are self-signed), shared with the AI
/// requests: one connection pool.
fn trickle_http() -> reqwest::Client {
    crate::ai::ai_http().clone()
}

impl Gateway {
    /// Starts live-video-to-video for stream `name` with the live pipeline `pipeline` and
    /// `params`: picks an orchestrator, starts the session there and the tasks that carry its
    /// channels (module docs). The stream's HLS holds the processed output.
    ///
    /// Errors: [`GatewayError::NoSessions`] when no orchestrator took the session.
    pub(crate) async fn start_live(
        self: &Arc<Self>,
        name: &ManifestId,
        pipeline: &str,
        params: Value,
    ) -> Result<Arc<LiveStream>, GatewayError> {
        let key = format!("{}_{pipeline}", Pipeline::LiveVideoToVideo.capability());
        let request_id = hex::encode(rand::random::<[u8; 8]>());
        let mut tried = HashSet::new();
        let mut answer = None;
        for _ in 0..MAX_START_TRIES {
            let Some(session) = self
                .pick_ai_session_for(Pipeline::LiveVideoToVideo, pipeline, &key, &tried)
                .await
            else {
                break;
            };
            tried.insert(session.addr.clone());
            match self
                .start_on(&session, &key, pipeline, &params, &request_id, name)
                .await
            {
                Ok(a) => {
                    answer = Some((session, a));
                    break;
                }
                Err(err) => {
                    warn!(orch = %session.addr, %err, "live-video-to-video start refused; trying another orchestrator");
                    self.suspend_ai_session(&key, &session.addr);
                }
            }
        }
        let Some((session, answer)) = answer else {
            return Err(GatewayError::NoSessions);
        };
        let http = trickle_http();
        let connect_err = |e: livepeer_trickle::TrickleError| {
            warn!(error = %e, "cannot publish to the live session");
            GatewayError::NoSessions
        };
        let input = TricklePublisher::connect(
            http.clone(),
            &answer.publish_url,
            PublisherConfig {
                content_type: "video/MP2T".into(),
                start: PublishStart::Seq(0),
                ..Default::default()
            },
        )
        .await
        .map_err(connect_err)?;
        let control_url = answer.control_url.clone().unwrap_or_default();
        let control = TricklePublisher::connect(
            http.clone(),
            &control_url,
            PublisherConfig {
                content_type: "application/json".into(),
                start: PublishStart::Seq(0),
                ..Default::default()
            },
        )
        .await
        .map_err(connect_err)?;
        let mid = answer.manifest_id.clone().unwrap_or_default();
        let stream = Arc::new(LiveStream {
            name: name.to_string(),
            pipeline: pipeline.to_string(),
            request_id,
            orchestrator: session.transcoder.to_string(),
            input: tokio::sync::Mutex::new(Some(input)),
            control: tokio::sync::Mutex::new(control),
            status: Mutex::new(None),
            last_input: Mutex::new(Instant::now()),
            stop: CancellationToken::new(),
        });
        // The stream's HLS: one track, the processed output.
        let hls = self.stream_for_push(
            name,
            StreamSetup {
                profiles: Some(Vec::new()),
                ..Default::default()
            },
        )?;
        info!(stream = %name, pipeline, orch = %stream.orchestrator, manifest_id = %mid, "live-video-to-video started");
        lock(&self.live.streams).insert(name.to_string(), stream.clone());
        let span = info_span!("live", stream = %name);
        tokio::spawn(
            read_output(
                self.clone(),
                stream.clone(),
                http.clone(),
                answer.subscribe_url,
                hls,
            )
            .instrument(span.clone()),
        );
        if let Some(events) = answer.events_url {
            tokio::spawn(
                read_events(stream.clone(), http.clone(), events).instrument(span.clone()),
            );
        }
        tokio::spawn(keep_alive(stream.clone()).instrument(span.clone()));
        if self.payments.is_some() {
            tokio::spawn(pay(self.clone(), stream.clone(), session, mid).instrument(span));
        }
        Ok(stream)
    }

    /// One start request to `session`'s orchestrator.
    async fn start_on(
        &self,
        session: &BroadcastSession,
        key: &str,
        pipeline: &str,
        params: &Value,
        request_id: &str,
        name: &ManifestId,
    ) -> Result<StartAnswer, String> {
        let mut seg = net::SegData {
            manifest_id: key.as_bytes().to_vec(),
            auth_token: Some(session.auth_token.clone()),
            capabilities: Some(livepeer_proto::convert::capabilities_to_net(
                &crate::ai::ai_job(Pipeline::LiveVideoToVideo, pipeline, ""),
            )),
            ..Default::default()
        };
        let mut payment = String::new();
        let mut staged = None;
        if let (Some(payments), Some(terms)) = (&self.payments, &session.terms) {
            payments.sign_segment(&mut seg);
            let s = payments
                .stage_units(terms, &session.auth_token.session_id, INIT_UNITS_TO_PAY)
                .map_err(|e| e.to_string())?;
            payment = s.header.clone();
            staged = Some(s);
        }
        let url = format!(
            "{}/live-video-to-video",
            session.transcoder.to_string().trim_end_matches('/')
        );
        let body = json!({
            "model_id": pipeline,
            "params": params,
            "gateway_request_id": request_id,
            "stream_id": name.as_str(),
        });
        let sent = trickle_http()
            .post(&url)
            .timeout(START_TIMEOUT)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, crate::ai::AI_WORKER_PROTOCOL)
            .header(SEGMENT_HEADER, encode_header(&seg))
            .header(PAYMENT_HEADER, payment)
            .body(body.to_string())
            .send()
            .await;
        let result = match sent {
            Ok(resp) if resp.status().is_success() => {
                let bytes = resp.bytes().await.map_err(|e| e.to_string())?;
                serde_json::from_slice::<StartAnswer>(&bytes).map_err(|e| e.to_string())
            }
            Ok(resp) => {
                let status = resp.status();
                let text = resp.text().await.unwrap_or_default();
                Err(format!("{status}: {}", text.trim()))
            }
            Err(e) => Err(e.to_string()),
        };
        if let (Some(payments), Some(staged), Some(terms)) =
            (&self.payments, &staged, &session.terms)
        {
            let outcome = match &result {
                Ok(_) => Some(Some(INIT_UNITS_TO_PAY)),
                Err(_) => Some(None),
            };
            payments.complete(staged, terms.price, outcome);
        }
        result
    }

    /// The live stream `name`, if one runs.
    pub(crate) fn live_stream(&self, name: &str) -> Option<Arc<LiveStream>> {
        lock(&self.live.streams).get(name).cloned()
    }

    /// `POST /live/video-to-video/<stream>/update`: the body (raw JSON params) goes to the
    /// pipeline as one control segment.
    pub(crate) async fn live_update(&self, name: &str, body: Body) -> Response<Body> {
        let Some(stream) = self.live_stream(name) else {
            return (StatusCode::NOT_FOUND, "Stream not found").into_response();
        };
        let Ok(bytes) = axum::body::to_bytes(body, MAX_UPDATE_BYTES).await else {
            return (StatusCode::PAYLOAD_TOO_LARGE, "params too large").into_response();
        };
        if serde_json::from_slice::<Value>(&bytes).is_err() {
            return (StatusCode::BAD_REQUEST, "params are not JSON").into_response();
        }
        match stream.control.lock().await.publish(bytes).await {
            Ok(_) => StatusCode::OK.into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        }
    }

    /// `GET /live/video-to-video/<stream>/status`: the runner's last status event, and what
    /// the gateway knows of the session.
    pub(crate) fn live_status(&self, name: &str) -> Response<Body> {
        let Some(stream) = self.live_stream(name) else {
            return (StatusCode::NOT_FOUND, "Stream not found").into_response();
        };
        let mut status = lock(&stream.status).clone().unwrap_or_else(|| json!({}));
        if let Value::Object(map) = &mut status {
            map.insert(
                "gateway_status".into(),
                json!({
                    "pipeline": stream.pipeline,
                    "request_id": stream.request_id,
                    "orchestrator_url": stream.orchestrator,
                    "last_input_seconds_ago": lock(&stream.last_input).elapsed().as_secs_f64(),
                }),
            );
        }
        (
            [(header::CONTENT_TYPE, "application/json")],
            status.to_string(),
        )
            .into_response()
    }

    fn end_live(&self, name: &str) {
        if let Some(stream) = lock(&self.live.streams).remove(name) {
            stream.stop.cancel();
        }
    }
}

impl LiveStream {
    /// Publishes one input segment (the broadcast's next cut).
    pub(crate) async fn publish(&self, data: Bytes) -> Result<(), livepeer_trickle::TrickleError> {
        *lock(&self.last_input) = Instant::now();
        match self.input.lock().await.as_mut() {
            Some(input) => input.publish(data).await.map(|_| ()),
            None => Ok(()),
        }
    }

    /// The broadcast ended: the input channel is deleted (the orchestrator then ends the
    /// session and closes the output, which ends the stream's HLS).
    pub(crate) async fn finish(&self) {
        let input = self.input.lock().await.take();
        if let Some(input) = input
            && let Err(e) = input.close().await
        {
            debug!(error = %e, "closing the live input channel");
        }
    }
}

/// Reads the output channel into the stream's HLS until it ends; then the stream ends.
async fn read_output(
    gw: Arc<Gateway>,
    stream: Arc<LiveStream>,
    http: reqwest::Client,
    url: String,
    hls: PushInFlight,
) {
    let mut subscriber = TrickleSubscriber::new(
        http,
        &url,
        SubscriberConfig {
            start: ReadSeq::Seq(0),
            max_segment_bytes: MAX_OUTPUT_SEGMENT_BYTES as u64,
            ..Default::default()
        },
    );
    let mut seq = 0u64;
    loop {
        let next = tokio::select! {
            _ = stream.stop.cancelled() => break,
            next = subscriber.next_segment() => next,
        };
        let segment = match next {
            Ok(Some(segment)) => segment,
            Ok(None) => break,
            Err(e) => {
                debug!(error = %e, "live output ended");
                break;
            }
        };
        let data = match segment.bytes().await {
            Ok(data) if !data.is_empty() => data,
            Ok(_) => continue,
            Err(e) => {
                debug!(error = %e, "live output segment lost");
                continue;
            }
        };
        let duration = match &gw.ffmpeg {
            Some(ffmpeg) => ffmpeg
                .probe(&data[..])
                .await
                .map(|i| i.duration)
                .unwrap_or(Duration::from_secs(1)),
            None => Duration::from_secs(1),
        };
        gw.store_output(
            &hls,
            &SourceSegment {
                manifest: hls.manifest.clone(),
                seq,
                duration,
                data,
                slice: None,
                input: Default::default(),
                storage: None,
            },
        );
        seq += 1;
    }
    info!("live-video-to-video output ended");
    gw.end_live(&stream.name);
    drop(hls);
    gw.end_stream(&stream.name).await;
}

/// Keeps the last status event of the events channel.
async fn read_events(stream: Arc<LiveStream>, http: reqwest::Client, url: String) {
    let mut subscriber = TrickleSubscriber::new(
        http,
        &url,
        SubscriberConfig {
            start: ReadSeq::Seq(0),
            max_segment_bytes: MAX_EVENT_BYTES as u64,
            ..Default::default()
        },
    );
    loop {
        let next = tokio::select! {
            _ = stream.stop.cancelled() => return,
            next = subscriber.next_segment() => next,
        };
        let Ok(Some(segment)) = next else { return };
        let Ok(bytes) = segment.bytes().await else {
            continue;
        };
        let Ok(value) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        // The runner's envelope `{"event": {...}, "queue_event_type": ...}`, or a bare event.
        let event = value.get("event").cloned().unwrap_or(value);
        if event.get("type").and_then(Value::as_str) == Some("status") {
            *lock(&stream.status) = Some(event);
        }
    }
}

async fn keep_alive(stream: Arc<LiveStream>) {
    let mut tick = tokio::time::interval(KEEPALIVE_INTERVAL);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = stream.stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let alive = Bytes::from_static(br#"{"keep":"alive"}"#);
        if let Err(e) = stream.control.lock().await.publish(alive).await {
            debug!(error = %e, "control keep-alive not sent");
        }
    }
}

/// On chain: tickets for the time since the last payment, every interval while input flows.
async fn pay(gw: Arc<Gateway>, stream: Arc<LiveStream>, session: BroadcastSession, mid: String) {
    let Some(payments) = &gw.payments else { return };
    let Some(terms) = session.terms.clone() else {
        return;
    };
    let interval = gw
        .config
        .live_payment_interval
        .max(Duration::from_millis(100));
    let mut last = Instant::now();
    let mut tick = tokio::time::interval(interval);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = stream.stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if lock(&stream.last_input).elapsed() > interval * 2 {
            continue;
        }
        let elapsed = last.elapsed();
        last = Instant::now();
        let units = (u128::from(LIVE_UNITS_PER_SECOND) * elapsed.as_millis() / 1000) as u64;
        let staged = match payments.stage_units(&terms, &session.auth_token.session_id, units) {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "cannot pay for the live session");
                continue;
            }
        };
        // The orchestrator credits the session's own manifest ID.
        let mut seg = net::SegData {
            manifest_id: mid.as_bytes().to_vec(),
            auth_token: Some(session.auth_token.clone()),
            ..Default::default()
        };
        payments.sign_segment(&mut seg);
        let url = format!(
            "{}/payment",
            session.transcoder.to_string().trim_end_matches('/')
        );
        let sent = trickle_http()
            .post(&url)
            .timeout(Duration::from_secs(60))
            .header(SEGMENT_HEADER, encode_header(&seg))
            .header(PAYMENT_HEADER, staged.header.clone())
            .send()
            .await;
        let ok = matches!(&sent, Ok(r) if r.status().is_success());
        // go-livepeer: "Temporarily ignore failing payments".
        if !ok {
            warn!(status = ?sent.as_ref().map(|r| r.status()).ok(), "live payment not accepted");
        }
        payments.complete(&staged, terms.price, Some(ok.then_some(units)));
    }
}
