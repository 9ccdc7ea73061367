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
//! Liveness (go-livepeer `server/ai_live_video.go`, §4.3): the orchestrator is dropped —
//! suspended in the pool where it is at fault — and the session swapped to another when
//! * more than [`MAX_IN_FLIGHT_SEGMENTS`] input segments are in flight (it reads too slowly;
//!   suspended),
//! * no output segment came for `-liveOutSegmentTimeout` ([`DEFAULT_OUT_SEGMENT_TIMEOUT`])
//!   while input arrived within half of it (suspended),
//! * no event came for [`MAX_EVENT_GAP`],
//! * its output or input channel ended or failed (after the subscriber's retries: 5, 300 ms
//!   apart) while the broadcast goes on.
//!
//! A swap starts the session on the next orchestrator with the latest params; the HLS output
//! continues in the same playlists after a discontinuity. More than [`MAX_RECENT_SWAPS`]
//! swaps within [`RECENT_SWAP_INTERVAL`], or no orchestrator left, ends the stream and
//! disconnects the broadcaster.
//!
//! RTMP outputs (`rtmpOutput=<rtmp URL>` in the publish query, and the MediaMTX
//! `<stream>-out` outputs of [`crate::mediamtx`]): each output segment is also written to one
//! ffmpeg per URL that pushes it there as FLV (`-c:v copy`, audio to AAC, as go-livepeer's
//! outputs for external servers); a push that fails is tried again [`OUTPUT_RETRY`] later
//! with the segments that come then, and only `rtmp://`/`rtmps://` URLs are taken.
//!
//! Not yet here: WHIP/WHEP.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{Response, StatusCode, Uri, header};
use axum::response::IntoResponse;
use bytes::Bytes;
use livepeer_ai::Pipeline;
use livepeer_primitives::ManifestId;
use livepeer_proto::headers::{PAYMENT_HEADER, SEGMENT_HEADER, encode_header};
use livepeer_proto::net;
use livepeer_trickle::{
    PublishStart, PublisherConfig, ReadSeq, SubscriberConfig, TrickleError, TricklePublisher,
    TrickleSubscriber,
};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
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
/// Input segments that may be in flight to an orchestrator; one more and it is too slow
/// (go-livepeer `maxInflightSegments`).
pub const MAX_IN_FLIGHT_SEGMENTS: usize = 3;
/// How long a session may go without an output segment while its input flows
/// (go-livepeer: `-liveOutSegmentTimeout` 0 means 30 s).
pub const DEFAULT_OUT_SEGMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest a session may go without an event from its runner (go-livepeer
/// `maxEventGap`; runners send a status event every 10 s).
pub const MAX_EVENT_GAP: Duration = Duration::from_secs(30);
/// The window in which at most [`MAX_RECENT_SWAPS`] orchestrator swaps are made
/// (go-livepeer `recentSwapInterval`).
pub const RECENT_SWAP_INTERVAL: Duration = Duration::from_secs(180);
/// Swaps allowed within [`RECENT_SWAP_INTERVAL`] (go-livepeer `maxRecentSwapsCount`).
pub const MAX_RECENT_SWAPS: u32 = 2;
/// How long a failed RTMP output waits before it is tried again.
pub const OUTPUT_RETRY: Duration = Duration::from_secs(2);
/// Output segments waiting for one RTMP output's ffmpeg; more are dropped for that output.
const OUTPUT_QUEUE: usize = 8;
/// How long one output segment may take to go into an RTMP output's ffmpeg.
const OUTPUT_WRITE_LIMIT: Duration = Duration::from_secs(10);
/// The largest event read back, bytes.
const MAX_EVENT_BYTES: usize = 1024 * 1024;
/// Orchestrators tried for one start.
const MAX_START_TRIES: usize = 3;
/// How often the liveness rules are checked.
const WATCH_TICK: Duration = Duration::from_millis(500);
/// How long the last input segments may take to reach the orchestrator once the broadcast
/// ended, before the input channel is closed anyway.
const DRAIN_LIMIT: Duration = Duration::from_secs(10);
/// How long the output may take to end after the input channel closed (the orchestrator
/// waits up to 30 s for its runner).
const END_LIMIT: Duration = Duration::from_secs(40);

/// The live sessions of one gateway, by stream name.
#[derive(Debug, Default)]
pub(crate) struct LiveStreams {
    streams: Mutex<HashMap<String, Arc<LiveStream>>>,
}

/// One live-video-to-video stream, across the orchestrators that serve it in turn.
#[derive(Debug)]
pub(crate) struct LiveStream {
    name: ManifestId,
    pipeline: String,
    request_id: String,
    /// The latest params (the start's, then each update's): a new orchestrator starts with
    /// them.
    params: Mutex<Value>,
    /// The orchestrator serving the stream now; `None` while it is swapped.
    attempt: Mutex<Option<Arc<Attempt>>>,
    /// The runner's last status event.
    status: Mutex<Option<Value>>,
    /// Why the last orchestrator was dropped: `{error_message, error_time}` (ms).
    error: Mutex<Option<Value>>,
    swaps: AtomicU32,
    last_input: Mutex<Instant>,
    /// The broadcast ended.
    input_ended: CancellationToken,
    /// The stream ended (its output ended after the broadcast, or no orchestrator is left).
    stop: CancellationToken,
    /// The RTMP outputs' queues (module docs).
    outputs: Vec<mpsc::Sender<Bytes>>,
}

/// One orchestrator's part of a stream: its channels, until it is kicked.
#[derive(Debug)]
struct Attempt {
    /// The pool this orchestrator is in, and its address there.
    key: String,
    addr: Uri,
    orchestrator: String,
    /// The input publisher; `None` once the broadcast ended.
    input: tokio::sync::Mutex<Option<TricklePublisher>>,
    control: tokio::sync::Mutex<TricklePublisher>,
    in_flight: AtomicUsize,
    started: Instant,
    last_output: Mutex<Option<Instant>>,
    last_event: Mutex<Instant>,
    kicked: CancellationToken,
    why: Mutex<Option<Kick>>,
}

/// Why an orchestrator was dropped.
#[derive(Debug, Clone)]
struct Kick {
    reason: String,
    /// It is at fault: suspended in the pool so the swap picks another.
    suspend: bool,
}

/// The channels of a started session, read by the attempt's tasks.
struct Channels {
    session: BroadcastSession,
    subscribe_url: String,
    events_url: Option<String>,
    manifest_id: String,
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

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

impl Attempt {
    /// Drops this orchestrator (the first reason wins).
    fn kick(&self, reason: impl Into<String>, suspend: bool) {
        let mut why = lock(&self.why);
        if why.is_none() {
            *why = Some(Kick {
                reason: reason.into(),
                suspend,
            });
        }
        self.kicked.cancel();
    }
}

/// go-livepeer's `orchestratorSwapper`: counts swaps within [`RECENT_SWAP_INTERVAL`] of the
/// previous one (the stream's start counts as one).
#[derive(Debug)]
struct SwapLimiter {
    last: Instant,
    recent: u32,
}

impl SwapLimiter {
    fn new() -> Self {
        Self {
            last: Instant::now(),
            recent: 0,
        }
    }

    /// Whether one more swap is allowed now.
    fn allow(&mut self) -> bool {
        if self.last.elapsed() < RECENT_SWAP_INTERVAL {
            self.recent += 1;
        } else {
            self.recent = 1;
        }
        if self.recent > MAX_RECENT_SWAPS {
            return false;
        }
        self.last = Instant::now();
        true
    }
}

impl Gateway {
    /// Starts live-video-to-video for stream `name` with the live pipeline `pipeline` and
    /// `params`: picks an orchestrator, starts the session there and the tasks that carry its
    /// channels and keep it alive (module docs). The stream's HLS holds the processed output,
    /// which is also pushed to each of `outputs` (RTMP URLs; others are left out, logged).
    ///
    /// Errors: [`GatewayError::NoSessions`] when no orchestrator took the session.
    pub(crate) async fn start_live(
        self: &Arc<Self>,
        name: &ManifestId,
        pipeline: &str,
        params: Value,
        outputs: Vec<String>,
    ) -> Result<Arc<LiveStream>, GatewayError> {
        let mut queues = Vec::new();
        let mut pushes = Vec::new();
        for url in outputs {
            let Some(url) = rtmp_output_url(&url) else {
                warn!(stream = %name, "RTMP output left out: not an rtmp:// or rtmps:// URL");
                continue;
            };
            let (queue, segments) = mpsc::channel(OUTPUT_QUEUE);
            queues.push(queue);
            pushes.push((url, segments));
        }
        let stream = Arc::new(LiveStream {
            name: name.clone(),
            pipeline: pipeline.to_string(),
            request_id: hex::encode(rand::random::<[u8; 8]>()),
            params: Mutex::new(params),
            attempt: Mutex::new(None),
            status: Mutex::new(None),
            error: Mutex::new(None),
            swaps: AtomicU32::new(0),
            last_input: Mutex::new(Instant::now()),
            input_ended: CancellationToken::new(),
            stop: CancellationToken::new(),
            outputs: queues,
        });
        let (attempt, channels) = self.connect_live(&stream).await?;
        if let Some(ffmpeg) = &self.ffmpeg {
            for (url, segments) in pushes {
                tokio::spawn(
                    push_rtmp(ffmpeg.clone(), url, segments, stream.stop.clone())
                        .instrument(info_span!("rtmp_output", stream = %name)),
                );
            }
        }
        // The stream's HLS: one track, the processed output.
        let hls = self.stream_for_push(
            name,
            StreamSetup {
                profiles: Some(Vec::new()),
                ..Default::default()
            },
        )?;
        lock(&self.live.streams).insert(name.to_string(), stream.clone());
        let span = info_span!("live", stream = %name);
        tokio::spawn(
            supervise(
                self.clone(),
                stream.clone(),
                Arc::new(hls),
                attempt,
                channels,
            )
            .instrument(span),
        );
        Ok(stream)
    }

    /// Starts the stream's session on the next orchestrator that takes it and connects its
    /// input and control channels; the attempt becomes the stream's current one.
    async fn connect_live(
        self: &Arc<Self>,
        stream: &Arc<LiveStream>,
    ) -> Result<(Arc<Attempt>, Channels), GatewayError> {
        let key = format!(
            "{}_{}",
            Pipeline::LiveVideoToVideo.capability(),
            stream.pipeline
        );
        let params = lock(&stream.params).clone();
        let mut tried = HashSet::new();
        for _ in 0..MAX_START_TRIES {
            let Some(session) = self
                .pick_ai_session_for(Pipeline::LiveVideoToVideo, &stream.pipeline, &key, &tried)
                .await
            else {
                break;
            };
            tried.insert(session.addr.clone());
            let connected = match self.start_on(&session, &key, &params, stream).await {
                Ok(answer) => connect_channels(&answer).await.map(|c| (answer, c)),
                Err(e) => Err(e),
            };
            let (answer, (input, control)) = match connected {
                Ok(c) => c,
                Err(err) => {
                    warn!(orch = %session.addr, %err, "live-video-to-video start refused; trying another orchestrator");
                    self.suspend_ai_session(&key, &session.addr);
                    continue;
                }
            };
            let manifest_id = answer.manifest_id.clone().unwrap_or_default();
            info!(stream = %stream.name, pipeline = stream.pipeline, orch = %session.transcoder, %manifest_id, "live-video-to-video started");
            let attempt = Arc::new(Attempt {
                key: key.clone(),
                addr: session.addr.clone(),
                orchestrator: session.transcoder.to_string(),
                input: tokio::sync::Mutex::new(Some(input)),
                control: tokio::sync::Mutex::new(control),
                in_flight: AtomicUsize::new(0),
                started: Instant::now(),
                last_output: Mutex::new(None),
                last_event: Mutex::new(Instant::now()),
                kicked: CancellationToken::new(),
                why: Mutex::new(None),
            });
            *lock(&stream.attempt) = Some(attempt.clone());
            return Ok((
                attempt,
                Channels {
                    session,
                    subscribe_url: answer.subscribe_url,
                    events_url: answer.events_url,
                    manifest_id,
                },
            ));
        }
        Err(GatewayError::NoSessions)
    }

    /// One start request to `session`'s orchestrator.
    async fn start_on(
        &self,
        session: &BroadcastSession,
        key: &str,
        params: &Value,
        stream: &LiveStream,
    ) -> Result<StartAnswer, String> {
        let pipeline = stream.pipeline.as_str();
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
            "gateway_request_id": stream.request_id,
            "stream_id": stream.name.as_str(),
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
    /// pipeline as one control segment, and is kept for an orchestrator swapped in later.
    pub(crate) async fn live_update(&self, name: &str, body: Body) -> Response<Body> {
        let Some(stream) = self.live_stream(name) else {
            return (StatusCode::NOT_FOUND, "Stream not found").into_response();
        };
        let Ok(bytes) = axum::body::to_bytes(body, MAX_UPDATE_BYTES).await else {
            return (StatusCode::PAYLOAD_TOO_LARGE, "params too large").into_response();
        };
        let Ok(params) = serde_json::from_slice::<Value>(&bytes) else {
            return (StatusCode::BAD_REQUEST, "params are not JSON").into_response();
        };
        *lock(&stream.params) = params;
        let Some(attempt) = stream.current() else {
            // Between orchestrators: the next one starts with these params.
            return StatusCode::OK.into_response();
        };
        match attempt.control.lock().await.publish(bytes).await {
            Ok(_) => StatusCode::OK.into_response(),
            Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
        }
    }

    /// `GET /live/video-to-video/<stream>/status`: the runner's last status event, and what
    /// the gateway knows of the session (`gateway_status`: pipeline, request ID, the
    /// orchestrator serving it, swaps so far, the last error).
    pub(crate) fn live_status(&self, name: &str) -> Response<Body> {
        let Some(stream) = self.live_stream(name) else {
            return (StatusCode::NOT_FOUND, "Stream not found").into_response();
        };
        let mut status = lock(&stream.status).clone().unwrap_or_else(|| json!({}));
        let orchestrator = stream.current().map(|a| a.orchestrator.clone());
        if let Value::Object(map) = &mut status {
            map.insert(
                "gateway_status".into(),
                json!({
                    "pipeline": stream.pipeline,
                    "request_id": stream.request_id,
                    "orchestrator_url": orchestrator,
                    "swaps": stream.swaps.load(Ordering::Relaxed),
                    "error": lock(&stream.error).clone(),
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

/// The input and control publishers of a started session (both from segment 0).
async fn connect_channels(
    answer: &StartAnswer,
) -> Result<(TricklePublisher, TricklePublisher), String> {
    async fn publisher(
        url: &str,
        content_type: &str,
        what: &str,
    ) -> Result<TricklePublisher, String> {
        let config = PublisherConfig {
            content_type: content_type.into(),
            start: PublishStart::Seq(0),
            ..Default::default()
        };
        TricklePublisher::connect(trickle_http(), url, config)
            .await
            .map_err(|e| format!("{what} channel: {e}"))
    }
    let input = publisher(&answer.publish_url, "video/MP2T", "input").await?;
    let control_url = answer.control_url.as_deref().unwrap_or_default();
    let control = publisher(control_url, "application/json", "control").await?;
    Ok((input, control))
}

impl LiveStream {
    fn current(&self) -> Option<Arc<Attempt>> {
        lock(&self.attempt).clone()
    }

    /// Cancelled when the stream has ended (then its broadcaster is disconnected).
    pub(crate) fn ended(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Publishes one input segment (the broadcast's next cut) to the current orchestrator;
    /// it is sent in the background, so a slow orchestrator cannot hold the broadcast up. A
    /// segment that comes while the session is between orchestrators is dropped.
    pub(crate) async fn publish(&self, data: Bytes) {
        *lock(&self.last_input) = Instant::now();
        let Some(attempt) = self.current() else {
            debug!("live input segment dropped: swapping orchestrators");
            return;
        };
        if attempt.in_flight.load(Ordering::Acquire) >= MAX_IN_FLIGHT_SEGMENTS {
            attempt.kick("orchestrator is slow", true);
            return;
        }
        let mut writer = match attempt.input.lock().await.as_mut() {
            Some(input) => input.next_segment(),
            None => return,
        };
        attempt.in_flight.fetch_add(1, Ordering::AcqRel);
        tokio::spawn(
            async move {
                let sent = tokio::select! {
                    _ = attempt.kicked.cancelled() => Ok(0),
                    sent = async {
                        writer.write(data).await?;
                        writer.finish().await
                    } => sent,
                };
                attempt.in_flight.fetch_sub(1, Ordering::AcqRel);
                match sent {
                    Ok(_) => {}
                    Err(TrickleError::StreamNotFound { .. } | TrickleError::EndOfStream) => {
                        attempt.kick("stream no longer exists on orchestrator", false)
                    }
                    Err(e) => debug!(error = %e, "live input segment not published"),
                }
            }
            .in_current_span(),
        );
    }

    /// The broadcast ended: once the last segments are sent the input channel is deleted
    /// (the orchestrator then ends the session and closes the output, which ends the
    /// stream's HLS).
    pub(crate) async fn finish(&self) {
        self.input_ended.cancel();
        let Some(attempt) = self.current() else {
            return;
        };
        let drained = Instant::now();
        while attempt.in_flight.load(Ordering::Acquire) > 0 && drained.elapsed() < DRAIN_LIMIT {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let input = attempt.input.lock().await.take();
        if let Some(input) = input
            && let Err(e) = input.close().await
        {
            debug!(error = %e, "closing the live input channel");
        }
    }
}

/// Runs a stream across orchestrators: the attempt's tasks until it is kicked, then a swap
/// (module docs), until the stream ends; then the stream's playlists turn VOD.
async fn supervise(
    gw: Arc<Gateway>,
    stream: Arc<LiveStream>,
    hls: Arc<PushInFlight>,
    mut attempt: Arc<Attempt>,
    mut channels: Channels,
) {
    let out_seq = Arc::new(AtomicU64::new(0));
    let mut swaps = SwapLimiter::new();
    let http = trickle_http();
    loop {
        let mut tasks = JoinSet::new();
        tasks.spawn(
            read_output(
                gw.clone(),
                stream.clone(),
                attempt.clone(),
                http.clone(),
                channels.subscribe_url.clone(),
                hls.clone(),
                out_seq.clone(),
            )
            .in_current_span(),
        );
        if let Some(events) = channels.events_url.clone() {
            tasks.spawn(
                read_events(stream.clone(), attempt.clone(), http.clone(), events)
                    .in_current_span(),
            );
        }
        tasks.spawn(keep_alive(attempt.clone()).in_current_span());
        tasks.spawn(watch(gw.clone(), stream.clone(), attempt.clone()).in_current_span());
        if gw.payments.is_some() {
            tokio::spawn(
                pay(
                    gw.clone(),
                    stream.clone(),
                    attempt.clone(),
                    channels.session.clone(),
                    channels.manifest_id.clone(),
                )
                .in_current_span(),
            );
        }
        let ended_in_time = tokio::select! {
            _ = attempt.kicked.cancelled() => true,
            _ = stream.stop.cancelled() => true,
            _ = async {
                stream.input_ended.cancelled().await;
                tokio::time::sleep(END_LIMIT).await;
            } => false,
        };
        if !ended_in_time {
            attempt.kick("the output did not end after the broadcast", false);
        }
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        *lock(&stream.attempt) = None;
        let kick = lock(&attempt.why).clone().unwrap_or(Kick {
            reason: "stream ended".into(),
            suspend: false,
        });
        if stream.stop.is_cancelled() || stream.input_ended.is_cancelled() {
            break;
        }
        warn!(orch = %attempt.orchestrator, reason = kick.reason, "dropping the live session's orchestrator");
        *lock(&stream.error) = Some(json!({
            "error_message": kick.reason,
            "error_time": unix_ms(),
        }));
        if kick.suspend {
            gw.suspend_ai_session(&attempt.key, &attempt.addr);
        }
        // Tell the orchestrator to stop (it may be gone).
        if let Some(input) = attempt.input.lock().await.take() {
            let _ = tokio::time::timeout(Duration::from_secs(1), input.close()).await;
        }
        if !swaps.allow() {
            warn!("too many orchestrator swaps; ending the live stream");
            break;
        }
        match gw.connect_live(&stream).await {
            Ok((next, next_channels)) => {
                stream.swaps.fetch_add(1, Ordering::Relaxed);
                info!(from = %attempt.orchestrator, to = %next.orchestrator, "live session swapped to another orchestrator");
                // The playlists mark the change with a discontinuity.
                out_seq.fetch_add(1, Ordering::AcqRel);
                attempt = next;
                channels = next_channels;
            }
            Err(_) => {
                warn!("no orchestrator left for the live stream; ending it");
                break;
            }
        }
    }
    info!("live-video-to-video stream ended");
    gw.end_live(stream.name.as_str());
    drop(hls);
    gw.end_stream(stream.name.as_str()).await;
}

/// Reads an attempt's output channel into the stream's HLS until it ends or fails; either
/// kicks the attempt.
async fn read_output(
    gw: Arc<Gateway>,
    stream: Arc<LiveStream>,
    attempt: Arc<Attempt>,
    http: reqwest::Client,
    url: String,
    hls: Arc<PushInFlight>,
    out_seq: Arc<AtomicU64>,
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
    let half_timeout = gw.config.live_out_segment_timeout / 2;
    loop {
        let segment = match subscriber.next_segment().await {
            Ok(Some(segment)) => segment,
            Ok(None) => return attempt.kick("output ended", false),
            Err(e) => return attempt.kick(format!("output: {e}"), false),
        };
        let data = match segment.bytes().await {
            Ok(data) if !data.is_empty() => data,
            Ok(_) => continue,
            Err(e) if lock(&stream.last_input).elapsed() < half_timeout => {
                // Input flows but its output breaks off.
                return attempt.kick(format!("output segment: {e}"), true);
            }
            Err(e) => {
                debug!(error = %e, "live output segment lost");
                continue;
            }
        };
        *lock(&attempt.last_output) = Some(Instant::now());
        for output in &stream.outputs {
            if output.try_send(data.clone()).is_err() {
                debug!("live output segment dropped for an RTMP output that is behind");
            }
        }
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
                seq: out_seq.fetch_add(1, Ordering::AcqRel),
                duration,
                data,
                slice: None,
                input: Default::default(),
                storage: None,
            },
        );
    }
}

/// Keeps the runner's last status event (its `last_params` and `last_restart_logs` carried
/// over from earlier ones when a later one leaves them out, as go-livepeer) and the time of
/// the attempt's last event.
async fn read_events(
    stream: Arc<LiveStream>,
    attempt: Arc<Attempt>,
    http: reqwest::Client,
    url: String,
) {
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
        let Ok(Some(segment)) = subscriber.next_segment().await else {
            return;
        };
        let Ok(bytes) = segment.bytes().await else {
            continue;
        };
        let Ok(value) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        *lock(&attempt.last_event) = Instant::now();
        // The runner's envelope `{"event": {...}, "queue_event_type": ...}`, or a bare event.
        let mut event = value.get("event").cloned().unwrap_or(value);
        if event.get("type").and_then(Value::as_str) != Some("status") {
            continue;
        }
        let mut status = lock(&stream.status);
        if let (Some(previous), Some(Value::Object(inference))) = (
            status
                .as_ref()
                .and_then(|s| s.get("inference_status"))
                .cloned(),
            event.get_mut("inference_status"),
        ) {
            for field in ["last_params", "last_restart_logs"] {
                if inference.get(field).is_none_or(Value::is_null)
                    && let Some(kept) = previous.get(field)
                {
                    inference.insert(field.into(), kept.clone());
                }
            }
        }
        *status = Some(event);
    }
}

/// Sends a `{"keep":"alive"}` on the control channel every [`KEEPALIVE_INTERVAL`].
async fn keep_alive(attempt: Arc<Attempt>) {
    let mut tick = tokio::time::interval(KEEPALIVE_INTERVAL);
    tick.tick().await;
    loop {
        tick.tick().await;
        let alive = Bytes::from_static(br#"{"keep":"alive"}"#);
        if let Err(e) = attempt.control.lock().await.publish(alive).await {
            debug!(error = %e, "control keep-alive not sent");
        }
    }
}

/// The output watchdog and the events gap (module docs).
async fn watch(gw: Arc<Gateway>, stream: Arc<LiveStream>, attempt: Arc<Attempt>) {
    let timeout = gw.config.live_out_segment_timeout;
    let mut tick = tokio::time::interval(WATCH_TICK);
    loop {
        tick.tick().await;
        let since_output = lock(&attempt.last_output)
            .unwrap_or(attempt.started)
            .elapsed();
        let input_recent = lock(&stream.last_input).elapsed() < timeout / 2;
        if since_output > timeout && input_recent && !stream.input_ended.is_cancelled() {
            return attempt.kick("timeout waiting for segments", true);
        }
        if lock(&attempt.last_event).elapsed() > MAX_EVENT_GAP {
            return attempt.kick("timeout waiting for events", false);
        }
    }
}

/// On chain: tickets for the time since the last payment, every interval while input flows.
async fn pay(
    gw: Arc<Gateway>,
    stream: Arc<LiveStream>,
    attempt: Arc<Attempt>,
    session: BroadcastSession,
    mid: String,
) {
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
        // Left between payments only, so none is cut off half made.
        tokio::select! {
            _ = attempt.kicked.cancelled() => return,
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
            warn!(orch = %attempt.orchestrator, status = ?sent.as_ref().map(|r| r.status()).ok(), "live payment not accepted");
        }
        payments.complete(&staged, terms.price, Some(ok.then_some(units)));
    }
}

/// What a live ingest's query asks for (go-livepeer's `pipeline`, `params`, `rtmpOutput`
/// query parameters of an RTMP publish or a MediaMTX start).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LiveQuery {
    /// The live pipeline (the model ID of capability 35); `None` when not named.
    pub pipeline: Option<String>,
    /// The params: a JSON object (`{}` when not given); `Err` when given but not one.
    pub params: Result<Value, ()>,
    /// Where the output is also pushed, if anywhere.
    pub rtmp_output: Option<String>,
}

impl LiveQuery {
    /// Parses a URL query (`pipeline=noop&params=%7B%7D&rtmpOutput=rtmp%3A%2F%2F…`).
    pub(crate) fn parse(query: &str) -> Self {
        let mut asked = Self {
            pipeline: None,
            params: Ok(json!({})),
            rtmp_output: None,
        };
        for (key, value) in url::form_urlencoded::parse(query.trim_start_matches('?').as_bytes()) {
            match key.as_ref() {
                "pipeline" if !value.is_empty() => asked.pipeline = Some(value.into_owned()),
                "params" if !value.is_empty() => {
                    asked.params = match serde_json::from_str(&value) {
                        Ok(v @ Value::Object(_)) => Ok(v),
                        _ => Err(()),
                    }
                }
                "rtmpOutput" if !value.is_empty() => asked.rtmp_output = Some(value.into_owned()),
                _ => {}
            }
        }
        asked
    }
}

/// `url` if it may be an RTMP output: `rtmp://` or `rtmps://` with a host (module docs).
pub(crate) fn rtmp_output_url(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url.trim()).ok()?;
    let rtmp = matches!(parsed.scheme(), "rtmp" | "rtmps");
    (rtmp && parsed.host_str().is_some_and(|h| !h.is_empty())).then(|| parsed.to_string())
}

/// The host an RTMP output URL names, for logs (its path may hold a stream key).
fn output_host(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_default()
}

/// Pushes a live stream's output segments to one RTMP `url` through an ffmpeg of its own
/// until the stream stops; a push that fails is started again with the segments that come
/// [`OUTPUT_RETRY`] later (module docs).
async fn push_rtmp(
    ffmpeg: livepeer_media::Ffmpeg,
    url: String,
    mut segments: mpsc::Receiver<Bytes>,
    stop: CancellationToken,
) {
    let host = output_host(&url);
    let mut push: Option<(tokio::process::Child, tokio::process::ChildStdin)> = None;
    let mut failed: Option<Instant> = None;
    loop {
        let data = tokio::select! {
            data = segments.recv() => match data {
                Some(data) => data,
                None => break,
            },
            _ = stop.cancelled() => break,
        };
        if push.is_none() {
            if failed.is_some_and(|at| at.elapsed() < OUTPUT_RETRY) {
                continue;
            }
            match spawn_rtmp_push(&ffmpeg, &url) {
                Ok(started) => {
                    info!(%host, "RTMP output started");
                    push = Some(started);
                }
                Err(e) => {
                    warn!(%host, error = %e, "RTMP output not started");
                    failed = Some(Instant::now());
                    continue;
                }
            }
        }
        let Some((child, stdin)) = push.as_mut() else {
            continue;
        };
        let written = tokio::time::timeout(OUTPUT_WRITE_LIMIT, stdin.write_all(&data)).await;
        if !matches!(written, Ok(Ok(()))) {
            let status = child.try_wait().ok().flatten();
            warn!(%host, ?status, "RTMP output failed; trying again in {} s", OUTPUT_RETRY.as_secs());
            let _ = child.kill().await;
            push = None;
            failed = Some(Instant::now());
        }
    }
    if let Some((mut child, stdin)) = push {
        drop(stdin);
        if tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
        info!(%host, "RTMP output ended");
    }
}

/// ffmpeg reading MPEG-TS on stdin and pushing it to `url` as FLV.
fn spawn_rtmp_push(
    ffmpeg: &livepeer_media::Ffmpeg,
    url: &str,
) -> std::io::Result<(tokio::process::Child, tokio::process::ChildStdin)> {
    let mut child = tokio::process::Command::new(ffmpeg.ffmpeg_path())
        .args(["-hide_banner", "-nostdin", "-loglevel", "error"])
        .args(["-f", "mpegts", "-i", "pipe:0"])
        .args([
            "-map", "0:v?", "-map", "0:a?", "-c:v", "copy", "-c:a", "aac",
        ])
        .args(["-f", "flv", url])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let stdin = child
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("ffmpeg's stdin is missing"))?;
    Ok((child, stdin))
}

#[cfg(test)]
mod query_tests {
    use super::*;

    #[test]
    fn a_live_query_names_the_pipeline_params_and_output() {
        let asked = LiveQuery::parse(
            "pipeline=noop&params=%7B%22effect%22%3A%22edges%22%7D&rtmpOutput=rtmp%3A%2F%2Fcdn.example%2Flive%2Fk",
        );
        assert_eq!(asked.pipeline.as_deref(), Some("noop"));
        assert_eq!(asked.params, Ok(json!({"effect": "edges"})));
        assert_eq!(
            asked.rtmp_output.as_deref(),
            Some("rtmp://cdn.example/live/k")
        );
        assert_eq!(LiveQuery::parse("params={}").pipeline, None);
        assert_eq!(LiveQuery::parse("").params, Ok(json!({})));
        // Params that are not a JSON object are an error for the caller to handle.
        assert_eq!(LiveQuery::parse("pipeline=x&params=[1]").params, Err(()));
        assert_eq!(LiveQuery::parse("pipeline=x&params=%7B").params, Err(()));
    }

    #[test]
    fn only_rtmp_urls_are_outputs() {
        assert_eq!(
            rtmp_output_url("rtmp://127.0.0.1:1935/live/out").as_deref(),
            Some("rtmp://127.0.0.1:1935/live/out")
        );
        assert!(rtmp_output_url("rtmps://cdn.example/app/key").is_some());
        for bad in [
            "file:///etc/passwd",
            "http://x/y",
            "/tmp/out.flv",
            "rtmp://",
            "pipe:1",
            "",
        ] {
            assert_eq!(rtmp_output_url(bad), None, "{bad}");
        }
    }
}
