//! The runner client: what an orchestrator (or AI worker) uses to drive a runner over HTTP:
//! a built-in one it started, or an external one (`aiModels.json` `url`, the real ai-runner
//! included). go-livepeer's equivalent is the generated client in `ai/worker/runner.gen.go`.

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::pipeline::{BodyKind, Pipeline};
use crate::request::AiRequest;
use crate::schema::{
    HardwareInformation, HealthCheck, HealthStatus, HttpError, LiveVideoToVideoParams,
    LiveVideoToVideoResponse, LlmResponse, Version,
};

/// How long `/health`, `/version` and `/hardware/info` may take (go-livepeer
/// `healthcheckTimeout`).
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one pipeline request may take (go-livepeer's AI request timeout, 15 min).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// The most bytes of a runner's JSON answer (image-to-video returns every frame as a PNG
/// data URL).
pub const MAX_RESPONSE_BYTES: usize = 256 * 1024 * 1024;
/// The most bytes of an LLM event stream.
pub const MAX_STREAM_BYTES: usize = 64 * 1024 * 1024;
/// How long starting a live stream may take (a runner first stops the stream it runs, up
/// to 10 s in ai-runner).
pub const LIVE_START_TIMEOUT: Duration = Duration::from_secs(30);

/// What a runner request can fail with.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunnerClientError {
    /// The runner answered with an error status; `msg` is its `detail.msg` (or its body).
    #[error("runner returned {status}: {msg}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// The runner's message.
        msg: String,
        /// The runner's body as JSON, when it was JSON (422 details are passed on as they are).
        body: Option<Value>,
    },
    /// The runner could not be reached or its answer was cut off.
    #[error("runner unreachable: {0}")]
    Transport(String),
    /// The runner's answer is not what the API says.
    #[error("runner answered badly: {0}")]
    BadResponse(String),
    /// The runner's answer is over [`MAX_RESPONSE_BYTES`].
    #[error("runner response too large")]
    TooLarge,
    /// A bad runner URL.
    #[error("bad runner url {0}")]
    BadUrl(String),
}

/// An LLM event stream: one `LLMResponse` per `data:` event until `data: [DONE]`.
pub type LlmStream = Pin<Box<dyn Stream<Item = Result<LlmResponse, RunnerClientError>> + Send>>;

/// A runner's answer to a pipeline request.
pub enum RunnerReply {
    /// A JSON body.
    Json(Value),
    /// An LLM event stream (`stream: true`).
    LlmStream(LlmStream),
}

impl std::fmt::Debug for RunnerReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunnerReply::Json(v) => f.debug_tuple("Json").field(v).finish(),
            RunnerReply::LlmStream(_) => f.write_str("LlmStream"),
        }
    }
}

/// A client of one runner.
#[derive(Debug, Clone)]
pub struct RunnerClient {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl RunnerClient {
    /// A client of the runner at `base_url` (`http://host:port`), sending `Authorization:
    /// Bearer <token>` when `token` is set.
    pub fn new(base_url: &str, token: Option<String>) -> Result<Self, RunnerClientError> {
        let url =
            url::Url::parse(base_url).map_err(|_| RunnerClientError::BadUrl(base_url.into()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(RunnerClientError::BadUrl(base_url.into()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(HEALTH_TIMEOUT)
            .build()
            .map_err(|e| RunnerClientError::Transport(e.to_string()))?;
        Ok(Self {
            base: base_url.trim_end_matches('/').to_string(),
            token: token.filter(|t| !t.is_empty()),
            http,
        })
    }

    /// The runner's base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, RunnerClientError> {
        let resp = self
            .http
            .get(self.url(path))
            .timeout(HEALTH_TIMEOUT)
            .send()
            .await
            .map_err(transport)?;
        let body = checked(resp).await?;
        serde_json::from_slice(&body).map_err(|e| RunnerClientError::BadResponse(e.to_string()))
    }

    /// `GET /health`.
    pub async fn health(&self) -> Result<HealthStatus, RunnerClientError> {
        self.get_json::<HealthCheck>("/health")
            .await
            .map(|h| h.status)
    }

    /// `GET /version`.
    pub async fn version(&self) -> Result<Version, RunnerClientError> {
        self.get_json("/version").await
    }

    /// `GET /hardware/info`.
    pub async fn hardware_info(&self) -> Result<HardwareInformation, RunnerClientError> {
        self.get_json("/hardware/info").await
    }

    /// Starts a live stream: `POST /live-video-to-video` with `params` (the runner answers
    /// at once and runs the stream in the background; see [`crate::live`]).
    ///
    /// Errors: [`RunnerClientError::Status`] (400 for another model or bad params or URLs,
    /// 401, 422, 500), [`RunnerClientError::Transport`], [`RunnerClientError::BadResponse`].
    pub async fn live_video_to_video(
        &self,
        params: &LiveVideoToVideoParams,
    ) -> Result<LiveVideoToVideoResponse, RunnerClientError> {
        let body = serde_json::to_vec(params)
            .map_err(|e| RunnerClientError::BadResponse(e.to_string()))?;
        let mut builder = self
            .http
            .post(self.url(&format!("/{}", Pipeline::LiveVideoToVideo)))
            .timeout(LIVE_START_TIMEOUT)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        if let Some(token) = &self.token {
            builder = builder.bearer_auth(token);
        }
        let resp = builder.send().await.map_err(transport)?;
        let body = checked(resp).await?;
        serde_json::from_slice(&body).map_err(|e| RunnerClientError::BadResponse(e.to_string()))
    }

    /// Sends `request` to `POST /<pipeline>` with the body encoding of its pipeline.
    ///
    /// Errors: [`RunnerClientError::Status`] for the runner's error answers (with its
    /// message), [`RunnerClientError::Transport`] when it cannot be reached.
    pub async fn run(&self, request: &AiRequest) -> Result<RunnerReply, RunnerClientError> {
        let mut builder = self
            .http
            .post(self.url(&format!("/{}", request.pipeline)))
            .timeout(REQUEST_TIMEOUT);
        if let Some(token) = &self.token {
            builder = builder.bearer_auth(token);
        }
        send_request(builder, request).await
    }
}

/// Sends `request` with `builder` (a POST to a pipeline route of a runner, an orchestrator or
/// a gateway, headers already set), encoded as its pipeline's body, and reads the answer: a
/// JSON body, or for `llm` with `text/event-stream` the event stream.
///
/// Errors: [`RunnerClientError::Status`] for an error status (its `detail.msg`, or its text),
/// [`RunnerClientError::Transport`], [`RunnerClientError::TooLarge`],
/// [`RunnerClientError::BadResponse`].
pub async fn send_request(
    builder: reqwest::RequestBuilder,
    request: &AiRequest,
) -> Result<RunnerReply, RunnerClientError> {
    let pipeline = request.pipeline;
    let builder = match pipeline.body_kind() {
        BodyKind::Json => builder
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(request.to_json().to_string()),
        BodyKind::Multipart => builder.multipart(multipart_form(request)?),
    };
    let resp = builder.send().await.map_err(transport)?;
    let is_stream = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("text/event-stream"));
    if pipeline == Pipeline::Llm && is_stream && resp.status().is_success() {
        return Ok(RunnerReply::LlmStream(llm_events(resp)));
    }
    let body = checked(resp).await?;
    serde_json::from_slice(&body)
        .map(RunnerReply::Json)
        .map_err(|e| RunnerClientError::BadResponse(e.to_string()))
}

/// The multipart body of a request: its text fields, then its file.
fn multipart_form(request: &AiRequest) -> Result<reqwest::multipart::Form, RunnerClientError> {
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in request.form_texts() {
        form = form.text(name, value);
    }
    if let (Some(field), Some(file)) = (request.pipeline.file_field(), &request.file) {
        let filename = if file.filename.is_empty() {
            field.to_string()
        } else {
            file.filename.clone()
        };
        let mut part = reqwest::multipart::Part::bytes(file.data.to_vec()).file_name(filename);
        if let Some(ct) = &file.content_type {
            part = part
                .mime_str(ct)
                .map_err(|e| RunnerClientError::BadResponse(e.to_string()))?;
        }
        form = form.part(field, part);
    }
    Ok(form)
}

fn transport(e: reqwest::Error) -> RunnerClientError {
    RunnerClientError::Transport(e.to_string())
}

/// Reads a bounded body; an error status becomes [`RunnerClientError::Status`].
async fn checked(resp: reqwest::Response) -> Result<Bytes, RunnerClientError> {
    let status = resp.status();
    let mut body = bytes::BytesMut::new();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(transport)?;
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(RunnerClientError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    if status.is_success() {
        return Ok(body);
    }
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    let msg = json
        .as_ref()
        .and_then(|v| serde_json::from_value::<HttpError>(v.clone()).ok())
        .map(|e| e.detail.msg)
        .unwrap_or_else(|| {
            String::from_utf8_lossy(&body[..body.len().min(512)])
                .trim()
                .to_string()
        });
    Err(RunnerClientError::Status {
        status: status.as_u16(),
        msg,
        body: json,
    })
}

/// Parses a runner's `text/event-stream` into LLM chunks, at most [`MAX_STREAM_BYTES`].
fn llm_events(resp: reqwest::Response) -> LlmStream {
    let mut seen = 0usize;
    let bytes = resp.bytes_stream().map(move |chunk| {
        let chunk = chunk.map_err(|e| std::io::Error::other(e.to_string()))?;
        seen += chunk.len();
        if seen > MAX_STREAM_BYTES {
            return Err(std::io::Error::other("event stream too large"));
        }
        Ok::<_, std::io::Error>(chunk)
    });
    let events = bytes
        .eventsource()
        .map_err(|e| RunnerClientError::Transport(e.to_string()))
        .take_while(|e| {
            let done = matches!(e, Ok(ev) if ev.data.trim() == "[DONE]");
            futures::future::ready(!done)
        })
        .and_then(|ev| async move { parse_llm_event(&ev.data) });
    Box::pin(events)
}

/// One `data:` payload of an LLM stream: an `LLMResponse`, or ai-runner's `{"error": ...}`.
pub fn parse_llm_event(data: &str) -> Result<LlmResponse, RunnerClientError> {
    if let Ok(chunk) = serde_json::from_str::<LlmResponse>(data) {
        return Ok(chunk);
    }
    match serde_json::from_str::<Value>(data) {
        Ok(v) if v.get("error").is_some() => Err(RunnerClientError::Status {
            status: 500,
            msg: v["error"]
                .as_str()
                .unwrap_or("LLM stream error")
                .to_string(),
            body: Some(v),
        }),
        _ => Err(RunnerClientError::BadResponse(format!(
            "not an LLM event: {}",
            data.chars().take(200).collect::<String>()
        ))),
    }
}
