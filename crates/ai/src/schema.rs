//! Response bodies of the runner API (ai-runner `runner/openapi.yaml` v0.14.1 and
//! `runner/src/runner/routes/utils.py`; `reference/ai.md` §1.4).

use serde::{Deserialize, Serialize};

/// `HealthCheck.status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HealthStatus {
    /// The model is loading; the runner takes no requests yet.
    Loading,
    /// Ready.
    Ok,
    /// The pipeline failed; an orchestrator replaces the runner.
    Error,
    /// A live runner with no stream.
    Idle,
}

/// `GET /health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// The state.
    pub status: HealthStatus,
}

/// `GET /version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    /// The pipeline served.
    pub pipeline: String,
    /// The model served.
    pub model_id: String,
    /// The runner's version (semver; compared against the gateway's `-aiMinRunnerVersion`).
    pub version: String,
}

/// `GET /hardware/info`: one entry per GPU, keyed by index; empty on a CPU runner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HardwareInformation {
    /// The pipeline served.
    pub pipeline: String,
    /// The model served.
    pub model_id: String,
    /// GPU index → `{id, name, memory_total, memory_free, major, minor}`.
    pub gpu_info: serde_json::Map<String, serde_json::Value>,
}

/// `GET /hardware/stats`: one entry per GPU, keyed by index; empty on a CPU runner.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HardwareStats {
    /// The pipeline served.
    pub pipeline: String,
    /// The model served.
    pub model_id: String,
    /// GPU index → `{id, name, memory_total, memory_free, utilization_compute, utilization_memory}`.
    pub gpu_stats: serde_json::Map<String, serde_json::Value>,
}

/// `MediaURL`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaUrl {
    /// Where the media is: a `data:` URL from a runner, an HTTP(S) URL from an orchestrator.
    pub url: String,
}

/// `Media`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Media {
    /// Where the media is.
    pub url: String,
    /// The seed it was made with.
    pub seed: i64,
    /// Whether it was flagged as not safe for work.
    pub nsfw: bool,
}

/// `ImageResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageResponse {
    /// The images.
    pub images: Vec<Media>,
}

/// `AudioResponse` (text-to-speech).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioResponse {
    /// The audio: `data:audio/wav;base64,...` from a runner.
    pub audio: MediaUrl,
}

/// One chunk of a `TextResponse`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextChunk {
    /// `[start, end]` in seconds.
    pub timestamp: (f64, f64),
    /// The chunk's text.
    pub text: String,
}

/// `TextResponse` (audio-to-text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TextResponse {
    /// The whole transcript.
    pub text: String,
    /// Timestamped chunks (empty when timestamps were not asked for).
    pub chunks: Vec<TextChunk>,
}

/// `ImageToTextResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageToTextResponse {
    /// The text.
    pub text: String,
}

/// `LLMMessage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

/// `LLMTokenUsage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmTokenUsage {
    /// Tokens of the prompt (after the chat template).
    pub prompt_tokens: u32,
    /// Tokens generated.
    pub completion_tokens: u32,
    /// The sum.
    pub total_tokens: u32,
}

/// `LLMChoice`: `delta` in a streamed chunk, `message` in a whole response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmChoice {
    /// Always 0.
    pub index: u32,
    /// `""` while streaming, then `stop` or `length`.
    #[serde(default)]
    pub finish_reason: String,
    /// The new text of a streamed chunk.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta: Option<LlmMessage>,
    /// The whole answer of a non-streamed response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<LlmMessage>,
}

/// `LLMResponse`: a whole answer, or one `data:` chunk of a stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlmResponse {
    /// `chatcmpl-<uuid>`, the same for every chunk of one stream.
    pub id: String,
    /// The model id.
    pub model: String,
    /// Unix seconds.
    pub created: i64,
    /// Token counts so far.
    pub usage: LlmTokenUsage,
    /// One choice.
    pub choices: Vec<LlmChoice>,
}

/// `LiveVideoToVideoParams`: the body of `POST /live-video-to-video` (ai-runner
/// `routes/live_video_to_video.py`; `reference/ai.md` §1.3, §4.3). On the orchestrator →
/// runner hop, `subscribe_url` is the gateway's input channel and `publish_url` the `-out`
/// channel; the others default to `""` (none) and `{}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct LiveVideoToVideoParams {
    /// The trickle channel the runner reads the input stream from (MPEG-TS segments).
    pub subscribe_url: String,
    /// The trickle channel the runner publishes the processed stream to.
    pub publish_url: String,
    /// The trickle channel of parameter updates (one JSON object per segment); `""`: none.
    #[serde(default)]
    pub control_url: String,
    /// The trickle channel the runner publishes its events to; `""`: none.
    #[serde(default)]
    pub events_url: String,
    /// The live pipeline's name (ai-runner calls it `model_id` for consistency).
    #[serde(default)]
    pub model_id: String,
    /// The pipeline's initial parameters (a JSON object).
    #[serde(default)]
    pub params: serde_json::Map<String, serde_json::Value>,
    /// The gateway's request id (for logs).
    #[serde(default)]
    pub gateway_request_id: String,
    /// The orchestrator's manifest id (for logs).
    #[serde(default)]
    pub manifest_id: String,
    /// The stream id (for logs).
    #[serde(default)]
    pub stream_id: String,
}

/// `LiveVideoToVideoResponse`. A runner answers it with every field empty (ai-runner: "the
/// orchestrator is setting these"); the orchestrator fills it for the gateway with its
/// channels: `publish_url` the input (`<base>/<mid>`), `subscribe_url` the output
/// (`<base>/<mid>-out`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LiveVideoToVideoResponse {
    /// Where the gateway reads the processed stream.
    pub subscribe_url: String,
    /// Where the gateway publishes the input stream.
    pub publish_url: String,
    /// Where the gateway publishes parameter updates.
    #[serde(default)]
    pub control_url: String,
    /// Where the gateway reads the runner's events.
    #[serde(default)]
    pub events_url: String,
    /// The request id the orchestrator made.
    #[serde(default)]
    pub request_id: String,
    /// The orchestrator's manifest id.
    #[serde(default)]
    pub manifest_id: String,
}

/// `HTTPError`: `{"detail":{"msg":...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpError {
    /// The detail.
    pub detail: ApiError,
}

/// `APIError`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    /// The message.
    pub msg: String,
}

impl HttpError {
    /// `{"detail":{"msg": msg}}`.
    pub fn new(msg: impl Into<String>) -> Self {
        Self {
            detail: ApiError { msg: msg.into() },
        }
    }
}
