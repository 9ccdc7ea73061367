//! live-video-to-video (capability 35) in the built-in runner: ai-runner's live API
//! (`runner/src/runner/routes/live_video_to_video.py`, `runner/src/runner/live/`;
//! `reference/ai.md` §4) with real-time CPU pipelines made of one ffmpeg each.
//!
//! # Pipelines (`model_id`)
//!
//! - `noop` ([`LiveModel::Noop`]): the picture as it came, decoded and re-encoded: the
//!   pipeline third-party clients start by default. `params` are taken (and reported) but
//!   change nothing.
//! - `effects` ([`LiveModel::Effects`]): an ffmpeg filter on every frame, at 512x512 unless
//!   `params` say otherwise (scaled to cover, center-cropped). `params`:
//!   - `effect`: `cartoon` (default: `lutyuv` posterize under `edgedetect` ink lines,
//!     `blend` multiply), `edges` (`edgedetect`, white on black), `sketch` (`edgedetect`,
//!     `negate`, `erosion`: dark lines on white), `negate`, `pixelate` (`pixelize` 16x16);
//!     see [`Effect`];
//!   - `width`, `height`: 384–1024, multiples of 64 (ai-runner `BaseParams`), default 512.
//!
//!   Other fields are ignored. A control update is a whole new set of params (fields it
//!   leaves out take their defaults), as ai-runner's `update_params` takes it.
//!
//! # A stream
//!
//! `POST /live-video-to-video` ([`LiveVideoToVideoParams`]) is checked (URLs http(s), params
//! valid for the pipeline: 400 with the reason otherwise; ai-runner would answer 500 after
//! its retries), replaces the stream running, if any (it is stopped first, within
//! [`LiveConfig::stop_timeout`], as ai-runner stops its previous streamer), starts the new
//! one in the background and answers at once with an empty [`LiveVideoToVideoResponse`], as
//! ai-runner does. The stream:
//!
//! 1. subscribes to `subscribe_url` from its current segment (`-2`, as ai-runner's
//!    subscribers do) and feeds every segment's bytes, as they arrive, to one long-running
//!    ffmpeg ([`livepeer_media::live::LiveSegmenter`], the command of [`ffmpeg_args`]:
//!    `-f mpegts` in, the pipeline's filter, libx264 `ultrafast`/`zerolatency` with an IDR
//!    every second, AAC audio), started at the first segment;
//! 2. publishes each segment ffmpeg cuts (about [`OUTPUT_SEGMENT_TIME`] long) as one trickle
//!    segment on `publish_url` (`video/MP2T`, from sequence 0 as ai-runner's publisher);
//! 3. reads `control_url`: one JSON object per segment; `{"keep":"alive"}` is ignored; new
//!    params take effect at the next input segment, ffmpeg being restarted with the new
//!    command when it changed (timestamps run on: ffmpeg keeps the input's, `-copyts`); a
//!    message that cannot be used is reported as `last_error` and changes nothing;
//! 4. publishes on `events_url` a status event ([`PipelineStatus`] in an
//!    [`EventEnvelope`] with `queue_event_type` [`STATUS_QUEUE_EVENT_TYPE`]) at the start,
//!    every [`STATUS_INTERVAL`] and whenever the state, the params or the last error change,
//!    plus ai-runner's three `stream_trace` events (request received, first input segment,
//!    first output segment).
//!
//! The stream ends when its input does (end of stream, or 404), after
//! [`LiveConfig::input_timeout`] without input (60 s, ai-runner's rule), when its output
//! channel is gone, when it is replaced, or when the runner stops ([`LiveEngine::shutdown`]).
//! ffmpeg is flushed when the input ended (its last segments are published), killed
//! otherwise; then the output and events channels are closed (`DELETE`, as ai-runner closes
//! its publishers) after a last status event with state `OFFLINE` (or `ERROR` when ffmpeg
//! failed [`MAX_FFMPEG_FAILURES`] times in a row). The runner's `/health` is `OK` while a
//! stream runs and `IDLE` otherwise (ai-runner maps its `OFFLINE` state to `IDLE`).
//!
//! # Bounds
//!
//! One stream per runner. Input segments at most [`MAX_INPUT_SEGMENT_BYTES`], control
//! messages [`MAX_CONTROL_MESSAGE_BYTES`], params [`MAX_PARAMS_BYTES`], output segments
//! [`MAX_OUTPUT_SEGMENT_BYTES`]; at most [`INPUT_QUEUE_CHUNKS`] input chunks wait for ffmpeg
//! and [`OUTPUT_QUEUE_SEGMENTS`] output segments for the network (later ones are dropped,
//! logged); ffmpeg is restarted when it takes [`MAX_INPUT_BYTES_WITHOUT_OUTPUT`] without
//! cutting a segment. Every network wait is bounded by the input timeout, the trickle
//! clients' own timeouts, or the stream's end.

mod params;
pub mod status;
mod stream;
pub mod ts;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use livepeer_media::Ffmpeg;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, info, info_span, warn};

pub use params::{
    ANALYZE_DURATION, AUDIO_BITRATE, DEFAULT_SIDE, Effect, LiveModel, MAX_SIDE, MIN_SIDE,
    OUTPUT_SEGMENT_TIME, ParamsError, PipelineSettings, SIDE_MULTIPLE, UnknownLiveModel,
    ffmpeg_args,
};
pub use status::{
    EventEnvelope, InferenceStatus, InputStatus, PipelineState, PipelineStatus, STATUS_INTERVAL,
    STATUS_QUEUE_EVENT_TYPE,
};

use crate::InferenceError;
use crate::request::AiRequest;
use crate::schema::{HealthStatus, LiveVideoToVideoParams, LiveVideoToVideoResponse};
use crate::server::{Engine, EngineOutput};
use stream::{StreamContext, StreamRequest};

/// A stream with no input for this long ends (ai-runner: 60 s, then `OFFLINE`).
pub const DEFAULT_INPUT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a replaced stream may take to stop (ai-runner waits 10 s for its previous
/// streamer).
pub const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How long [`LiveEngine::shutdown`] waits for the streams to end.
pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);
/// Connect timeout of the trickle requests.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long closing a channel (`DELETE`) may take.
pub const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long publishing one event may take.
pub const EVENT_PUBLISH_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest input segment read, bytes (a 2 s segment of 1080p60 at 20 Mbit/s is 5 MB).
pub const MAX_INPUT_SEGMENT_BYTES: u64 = 32 * 1024 * 1024;
/// Largest control message, bytes (go-livepeer's gateway takes updates of ~104 KiB).
pub const MAX_CONTROL_MESSAGE_BYTES: u64 = 1024 * 1024;
/// Largest `params`, bytes of their JSON.
pub const MAX_PARAMS_BYTES: usize = 1024 * 1024;
/// Largest output segment published, bytes.
pub const MAX_OUTPUT_SEGMENT_BYTES: usize = 32 * 1024 * 1024;
/// Input bytes ffmpeg may take without cutting a segment before it is restarted.
pub const MAX_INPUT_BYTES_WITHOUT_OUTPUT: u64 = 64 * 1024 * 1024;
/// Input chunks (as the HTTP client reads them) queued for ffmpeg.
pub const INPUT_QUEUE_CHUNKS: usize = 256;
/// Output segments queued for the network.
pub const OUTPUT_QUEUE_SEGMENTS: usize = 8;
/// ffmpeg failures in a row (with no segment cut between) that end a stream in `ERROR`.
pub const MAX_FFMPEG_FAILURES: u32 = 3;
/// `Content-Type` of output segments.
pub const OUTPUT_CONTENT_TYPE: &str = "video/MP2T";
/// `Content-Type` of events.
pub const EVENTS_CONTENT_TYPE: &str = "application/json";

/// What a [`LiveEngine`] can be tuned with.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    /// See [`DEFAULT_INPUT_TIMEOUT`].
    pub input_timeout: Duration,
    /// See [`DEFAULT_STOP_TIMEOUT`].
    pub stop_timeout: Duration,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            input_timeout: DEFAULT_INPUT_TIMEOUT,
            stop_timeout: DEFAULT_STOP_TIMEOUT,
        }
    }
}

/// The stream running: how to stop it and when it has.
struct StreamHandle {
    stop: CancellationToken,
    done: CancellationToken,
}

/// Counts a running stream for `/health` until dropped.
struct ActiveGuard(Arc<AtomicUsize>);

impl ActiveGuard {
    fn new(active: &Arc<AtomicUsize>) -> Self {
        active.fetch_add(1, Ordering::AcqRel);
        Self(active.clone())
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The live-video-to-video engine of one runner: one of the built-in live pipelines, at most
/// one stream at a time (module docs).
pub struct LiveEngine {
    model: LiveModel,
    ffmpeg: Ffmpeg,
    http: reqwest::Client,
    config: LiveConfig,
    current: tokio::sync::Mutex<Option<StreamHandle>>,
    active: Arc<AtomicUsize>,
    tasks: TaskTracker,
    stop: CancellationToken,
}

impl std::fmt::Debug for LiveEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveEngine")
            .field("model", &self.model)
            .field("config", &self.config)
            .field("streaming", &self.streaming())
            .finish()
    }
}

impl LiveEngine {
    /// The engine of `model`, running ffmpeg from `ffmpeg`. Its trickle client takes any
    /// server certificate (an orchestrator's is self-signed; ai-runner's clients do not
    /// verify either).
    ///
    /// Errors: [`InferenceError::Load`] when the HTTP client cannot be built.
    pub fn new(
        model: LiveModel,
        ffmpeg: Ffmpeg,
        config: LiveConfig,
    ) -> Result<Self, InferenceError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .tls_danger_accept_invalid_certs(true)
            .build()
            .map_err(|e| InferenceError::Load(format!("trickle client: {e}")))?;
        Ok(Self {
            model,
            ffmpeg,
            http,
            config,
            current: tokio::sync::Mutex::new(None),
            active: Arc::new(AtomicUsize::new(0)),
            tasks: TaskTracker::new(),
            stop: CancellationToken::new(),
        })
    }

    /// The pipeline.
    pub fn model(&self) -> LiveModel {
        self.model
    }

    /// Whether a stream is running.
    pub fn streaming(&self) -> bool {
        self.active.load(Ordering::Acquire) > 0
    }

    /// Starts a stream (replacing the one running); returns once it runs in the background.
    ///
    /// Errors: [`InferenceError::BadInput`] for a URL that is not http(s), params the
    /// pipeline cannot take or over [`MAX_PARAMS_BYTES`] (the stream running is left
    /// alone); [`InferenceError::Inference`] when the runner is stopping or the stream
    /// running did not stop within [`LiveConfig::stop_timeout`].
    pub async fn start(&self, params: LiveVideoToVideoParams) -> Result<(), InferenceError> {
        let request = check_request(self.model, params)?;
        let mut current = self.current.lock().await;
        if self.stop.is_cancelled() {
            return Err(InferenceError::Inference("the runner is stopping".into()));
        }
        if let Some(old) = current.take() {
            info!("stopping the stream running to start a new one");
            old.stop.cancel();
            if tokio::time::timeout(self.config.stop_timeout, old.done.cancelled())
                .await
                .is_err()
            {
                return Err(InferenceError::Inference(format!(
                    "the previous stream did not stop within {:?}",
                    self.config.stop_timeout
                )));
            }
        }
        let stop = self.stop.child_token();
        let done = CancellationToken::new();
        let span = info_span!(
            "live_stream",
            manifest_id = %request.manifest_id,
            stream_id = %request.stream_id,
            request_id = %request.gateway_request_id,
            pipeline = %request.model,
        );
        let ctx = StreamContext {
            http: self.http.clone(),
            ffmpeg: self.ffmpeg.clone(),
            config: self.config.clone(),
            request,
            stop: stop.clone(),
        };
        let active = ActiveGuard::new(&self.active);
        let finished = done.clone();
        self.tasks.spawn(
            async move {
                let _active = active;
                let _finished = finished.drop_guard();
                stream::run_stream(ctx).await;
            }
            .instrument(span),
        );
        *current = Some(StreamHandle { stop, done });
        Ok(())
    }

    /// Stops the stream running, if any, and waits (up to [`SHUTDOWN_TIMEOUT`]) until its
    /// channels are closed and ffmpeg is gone; later starts are refused.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        self.tasks.close();
        if tokio::time::timeout(SHUTDOWN_TIMEOUT, self.tasks.wait())
            .await
            .is_err()
        {
            warn!("live streams did not stop within {SHUTDOWN_TIMEOUT:?}");
        }
    }
}

impl Drop for LiveEngine {
    /// A dropped engine stops its stream (without waiting; [`LiveEngine::shutdown`] waits).
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Checks a start request against `model` (see [`LiveEngine::start`]).
fn check_request(
    model: LiveModel,
    params: LiveVideoToVideoParams,
) -> Result<StreamRequest, InferenceError> {
    let subscribe_url = channel_url("subscribe_url", &params.subscribe_url)?
        .ok_or_else(|| InferenceError::BadInput("subscribe_url is required".into()))?;
    let publish_url = channel_url("publish_url", &params.publish_url)?
        .ok_or_else(|| InferenceError::BadInput("publish_url is required".into()))?;
    let control_url = channel_url("control_url", &params.control_url)?;
    let events_url = channel_url("events_url", &params.events_url)?;
    let value = Value::Object(params.params);
    if status::python_json(&value).len() > MAX_PARAMS_BYTES {
        return Err(InferenceError::TooLarge(format!(
            "params are larger than {MAX_PARAMS_BYTES} bytes"
        )));
    }
    let Value::Object(map) = &value else {
        return Err(InferenceError::BadInput("params must be an object".into()));
    };
    let settings = PipelineSettings::from_params(model, map)
        .map_err(|e| InferenceError::BadInput(format!("params: {e}")))?;
    Ok(StreamRequest {
        model,
        subscribe_url,
        publish_url,
        control_url,
        events_url,
        params: value,
        settings,
        gateway_request_id: params.gateway_request_id,
        manifest_id: params.manifest_id,
        stream_id: params.stream_id,
    })
}

/// A channel URL: `None` when empty; an http(s) URL with a host otherwise.
fn channel_url(field: &str, url: &str) -> Result<Option<String>, InferenceError> {
    let url = url.trim();
    if url.is_empty() {
        return Ok(None);
    }
    match url::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.has_host() => {
            Ok(Some(url.trim_end_matches('/').to_string()))
        }
        _ => Err(InferenceError::BadInput(format!(
            "{field} must be an http or https URL"
        ))),
    }
}

#[async_trait]
impl Engine for LiveEngine {
    async fn run(&self, request: AiRequest) -> Result<EngineOutput, InferenceError> {
        let params: LiveVideoToVideoParams = serde_json::from_value(Value::Object(request.params))
            .map_err(|e| InferenceError::BadInput(e.to_string()))?;
        self.start(params).await?;
        serde_json::to_value(LiveVideoToVideoResponse::default())
            .map(EngineOutput::Json)
            .map_err(|e| InferenceError::Inference(e.to_string()))
    }

    fn health(&self) -> Option<HealthStatus> {
        Some(if self.streaming() {
            HealthStatus::Ok
        } else {
            HealthStatus::Idle
        })
    }

    async fn shutdown(&self) {
        LiveEngine::shutdown(self).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn params(value: Value) -> LiveVideoToVideoParams {
        serde_json::from_value(value).expect("params")
    }

    #[test]
    fn start_requests_are_checked() {
        let ok = check_request(
            LiveModel::Effects,
            params(json!({
                "subscribe_url": "http://o:8935/ai/trickle/m/",
                "publish_url": "https://o:8935/ai/trickle/m-out",
                "control_url": "",
                "params": {"effect": "edges"},
            })),
        )
        .expect("valid");
        assert_eq!(ok.subscribe_url, "http://o:8935/ai/trickle/m");
        assert_eq!(ok.control_url, None);
        assert_eq!(ok.settings.effect, Effect::Edges);
        for (body, msg) in [
            (
                json!({"subscribe_url": "", "publish_url": "http://o/x"}),
                "subscribe_url is required",
            ),
            (
                json!({"subscribe_url": "ftp://o/x", "publish_url": "http://o/x"}),
                "subscribe_url must be an http or https URL",
            ),
            (
                json!({"subscribe_url": "http://o/x", "publish_url": "file:///etc/passwd"}),
                "publish_url must be",
            ),
            (
                json!({"subscribe_url": "http://o/x", "publish_url": "http://o/y", "events_url": "o/z"}),
                "events_url must be",
            ),
            (
                json!({"subscribe_url": "http://o/x", "publish_url": "http://o/y", "params": {"width": 7}}),
                "params: width must be",
            ),
        ] {
            let err = check_request(LiveModel::Effects, params(body.clone())).expect_err("invalid");
            assert!(err.to_string().starts_with(msg), "{body}: {err}");
        }
        let big = json!({"subscribe_url": "http://o/x", "publish_url": "http://o/y",
            "params": {"prompt": "x".repeat(MAX_PARAMS_BYTES)}});
        assert!(matches!(
            check_request(LiveModel::Noop, params(big)),
            Err(InferenceError::TooLarge(_))
        ));
    }
}
