//! The runner HTTP server: ai-runner's API (`reference/ai.md` §1) over one built-in pipeline,
//! so a go-livepeer orchestrator can drive it as an external runner (`aiModels.json` `url`).
//!
//! Routes (each also with a trailing `/`, as FastAPI mounts them):
//! - `GET /health` → `HealthCheck` (`LOADING` while the model loads, then `OK`, or `ERROR`;
//!   a live runner says `IDLE` while it has no stream);
//! - `GET /version` → `Version`; `GET /hardware/info`, `GET /hardware/stats` → empty GPU maps
//!   (a CPU runner);
//! - `POST /<pipeline>` for the served pipeline only, with its JSON or multipart body.
//!
//! A pipeline request is checked in ai-runner's order: the body against the schema (422, the
//! FastAPI shape), the optional bearer token (`AUTH_TOKEN`; 401 `Invalid bearer token.` with
//! `WWW-Authenticate: Bearer`), the model id (400 `pipeline configured with X but called with
//! Y`), the upload size (413 `File size exceeds limit.`); then the engine runs. Errors are
//! `{"detail":{"msg":...}}` (`HTTPError`).

use std::convert::Infallible;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::InferenceError;
use crate::pipeline::{BodyKind, Pipeline};
use crate::request::{AiRequest, RequestError};
use crate::schema::{
    HardwareInformation, HardwareStats, HealthCheck, HealthStatus, HttpError, LlmChoice,
    LlmMessage, LlmResponse, Version,
};

/// The most bytes of a JSON request body.
pub const MAX_JSON_BODY_BYTES: usize = 4 * 1024 * 1024;
/// The most bytes of a multipart body beyond its file limit (the other fields).
pub const MULTIPART_OVERHEAD_BYTES: usize = 2 * 1024 * 1024;
/// Largest file of a multipart pipeline without a runner limit of its own.
pub const DEFAULT_MAX_FILE_BYTES: usize = 100 * 1024 * 1024;
/// ai-runner's message for audio it cannot decode (415).
pub const AUDIO_FORMAT_ERROR_MESSAGE: &str = "Unsupported audio format or malformed file.";
/// The runner version `/version` reports unless configured otherwise.
pub const RUNNER_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What one runner serves.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// The pipeline.
    pub pipeline: Pipeline,
    /// The model id it answers to (requests naming another get 400).
    pub model_id: String,
    /// The bearer token requests must carry (ai-runner's `AUTH_TOKEN`), if any.
    pub auth_token: Option<String>,
    /// The version `/version` reports.
    pub version: String,
}

/// What an engine answers.
#[derive(Debug)]
pub enum EngineOutput {
    /// A JSON response body (`TextResponse`, `AudioResponse`, `ImageToTextResponse`, ...).
    Json(Value),
    /// LLM chunks, each an `LLMResponse` with a `delta`; the last has a non-empty
    /// `finish_reason`. An `Err` ends the stream with a failure.
    LlmStream(mpsc::Receiver<Result<LlmResponse, InferenceError>>),
}

/// One built-in pipeline's engine.
#[async_trait]
pub trait Engine: Send + Sync + 'static {
    /// Runs one request that passed the runner's checks.
    async fn run(&self, request: AiRequest) -> Result<EngineOutput, InferenceError>;

    /// The health `/health` reports once the engine is loaded; `None` (the default) is `OK`.
    /// A live engine says `IDLE` with no stream (ai-runner's live pipeline).
    fn health(&self) -> Option<HealthStatus> {
        None
    }

    /// Stops the work the engine does in the background (live streams); called once when the
    /// runner server stops. The default has nothing to stop.
    async fn shutdown(&self) {}
}

enum LoadState {
    Loading,
    Ready(Arc<dyn Engine>),
    Failed(String),
}

/// The runner's shared state: its configuration and its engine once loaded.
pub struct RunnerState {
    config: RunnerConfig,
    engine: RwLock<LoadState>,
}

impl std::fmt::Debug for RunnerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunnerState")
            .field("config", &self.config)
            .field("health", &self.health())
            .finish()
    }
}

impl RunnerState {
    /// A runner whose engine is still loading (`/health` says `LOADING`).
    pub fn new(config: RunnerConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            engine: RwLock::new(LoadState::Loading),
        })
    }

    /// Records the outcome of loading the engine.
    pub fn set_engine(&self, engine: Result<Arc<dyn Engine>, InferenceError>) {
        let state = match engine {
            Ok(engine) => LoadState::Ready(engine),
            Err(e) => {
                tracing::error!(pipeline = %self.config.pipeline, model_id = %self.config.model_id, error = %e, "runner failed to load its model");
                LoadState::Failed(e.to_string())
            }
        };
        if let Ok(mut slot) = self.engine.write() {
            *slot = state;
        }
    }

    /// The health `/health` reports: `LOADING`, `ERROR` when loading failed, else the
    /// engine's ([`Engine::health`], `OK` by default).
    pub fn health(&self) -> HealthStatus {
        match self.engine.read().as_deref() {
            Ok(LoadState::Loading) => HealthStatus::Loading,
            Ok(LoadState::Ready(engine)) => engine.health().unwrap_or(HealthStatus::Ok),
            Ok(LoadState::Failed(_)) | Err(_) => HealthStatus::Error,
        }
    }

    /// Stops the engine's background work ([`Engine::shutdown`]), if it loaded.
    pub async fn shutdown(&self) {
        let engine = match self.engine.read().as_deref() {
            Ok(LoadState::Ready(engine)) => Some(engine.clone()),
            _ => None,
        };
        if let Some(engine) = engine {
            engine.shutdown().await;
        }
    }

    /// Why the engine failed to load, once it has.
    pub fn load_error(&self) -> Option<String> {
        match self.engine.read().as_deref() {
            Ok(LoadState::Failed(reason)) => Some(reason.clone()),
            _ => None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RunnerConfig {
        &self.config
    }

    /// The loaded engine, or the status and message to answer with.
    fn engine(&self) -> Result<Arc<dyn Engine>, (StatusCode, &'static str)> {
        match self.engine.read().as_deref() {
            Ok(LoadState::Ready(engine)) => Ok(engine.clone()),
            Ok(LoadState::Loading) => {
                Err((StatusCode::SERVICE_UNAVAILABLE, "Pipeline is loading."))
            }
            Ok(LoadState::Failed(_)) | Err(_) => Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                self.config.pipeline.error_message(),
            )),
        }
    }
}

/// The runner's routes over `state`.
pub fn router(state: Arc<RunnerState>) -> Router {
    let path = format!("/{}", state.config.pipeline);
    Router::new()
        .route("/health", get(health))
        .route("/health/", get(health))
        .route("/version", get(version))
        .route("/version/", get(version))
        .route("/hardware/info", get(hardware_info))
        .route("/hardware/info/", get(hardware_info))
        .route("/hardware/stats", get(hardware_stats))
        .route("/hardware/stats/", get(hardware_stats))
        .route(&path, post(generate))
        .route(&format!("{path}/"), post(generate))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// Serves the runner on `listener` until `shutdown` resolves, then drains open requests and
/// stops the engine's background work ([`RunnerState::shutdown`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<RunnerState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let served = axum::serve(listener, router(state.clone()))
        .with_graceful_shutdown(shutdown)
        .await;
    state.shutdown().await;
    served
}

/// `{"detail":{"msg": msg}}` with `status`.
pub fn error(status: StatusCode, msg: &str) -> Response {
    (status, axum::Json(HttpError::new(msg))).into_response()
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"detail": "Not Found"})),
    )
        .into_response()
}

async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        axum::Json(json!({"detail": "Method Not Allowed"})),
    )
        .into_response()
}

async fn health(State(state): State<Arc<RunnerState>>) -> Response {
    axum::Json(HealthCheck {
        status: state.health(),
    })
    .into_response()
}

async fn version(State(state): State<Arc<RunnerState>>) -> Response {
    axum::Json(Version {
        pipeline: state.config.pipeline.to_string(),
        model_id: state.config.model_id.clone(),
        version: state.config.version.clone(),
    })
    .into_response()
}

async fn hardware_info(State(state): State<Arc<RunnerState>>) -> Response {
    axum::Json(HardwareInformation {
        pipeline: state.config.pipeline.to_string(),
        model_id: state.config.model_id.clone(),
        gpu_info: Default::default(),
    })
    .into_response()
}

async fn hardware_stats(State(state): State<Arc<RunnerState>>) -> Response {
    axum::Json(HardwareStats {
        pipeline: state.config.pipeline.to_string(),
        model_id: state.config.model_id.clone(),
        gpu_stats: Default::default(),
    })
    .into_response()
}

/// Parses a runner request body of `pipeline` from its headers and bytes: JSON or multipart
/// by the pipeline (never by the client's choice); `max_file_bytes` bounds the upload.
pub async fn parse_request(
    pipeline: Pipeline,
    headers: &HeaderMap,
    body: Bytes,
    max_file_bytes: usize,
) -> Result<AiRequest, RequestError> {
    match pipeline.body_kind() {
        BodyKind::Json => AiRequest::from_json(pipeline, &body),
        BodyKind::Multipart => {
            let boundary = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .and_then(|ct| multer::parse_boundary(ct).ok());
            match boundary {
                Some(boundary) => {
                    AiRequest::from_multipart(pipeline, &boundary, body, max_file_bytes).await
                }
                None => {
                    // FastAPI reports every required form field missing.
                    let issues = pipeline
                        .fields()
                        .iter()
                        .filter(|f| f.required)
                        .map(|f| crate::request::ValidationIssue {
                            kind: "missing",
                            loc: vec![Value::from("body"), Value::from(f.name)],
                            msg: "Field required",
                            input: Value::Null,
                        })
                        .collect();
                    Err(RequestError::Validation(issues))
                }
            }
        }
    }
}

fn request_error(e: &RequestError) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
    (status, axum::Json(e.body())).into_response()
}

async fn generate(State(state): State<Arc<RunnerState>>, request: Request) -> Response {
    let config = &state.config;
    let pipeline = config.pipeline;
    let (parts, body) = request.into_parts();
    let max_file = pipeline.max_file_bytes().unwrap_or(DEFAULT_MAX_FILE_BYTES);
    let limit = match pipeline.body_kind() {
        BodyKind::Json => MAX_JSON_BODY_BYTES,
        BodyKind::Multipart => max_file + MULTIPART_OVERHEAD_BYTES,
    };
    let body = match axum::body::to_bytes(body, limit).await {
        Ok(body) => body,
        Err(_) => {
            return error(StatusCode::PAYLOAD_TOO_LARGE, "File size exceeds limit.");
        }
    };
    let req = match parse_request(pipeline, &parts.headers, body, max_file).await {
        Ok(req) => req,
        Err(e) => return request_error(&e),
    };
    if pipeline == Pipeline::TextToSpeech && req.str("text").is_empty() {
        return error(StatusCode::BAD_REQUEST, "Text input must be provided.");
    }
    if let Some(token) = &config.auth_token {
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given.map(str::as_bytes) != Some(token.as_bytes()) {
            let mut r = error(StatusCode::UNAUTHORIZED, "Invalid bearer token.");
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
    }
    let asked = req.model_id();
    if !asked.is_empty() && asked != config.model_id {
        // ai-runner's live route ends its message with a full stop; the others do not.
        let stop = if pipeline == Pipeline::LiveVideoToVideo {
            "."
        } else {
            ""
        };
        return error(
            StatusCode::BAD_REQUEST,
            &format!(
                "pipeline configured with {} but called with {asked}{stop}",
                config.model_id
            ),
        );
    }
    let engine = match state.engine() {
        Ok(engine) => engine,
        Err((status, msg)) => return error(status, msg),
    };
    let stream = pipeline == Pipeline::Llm && req.bool("stream") == Some(true);
    match engine.run(req).await {
        Ok(EngineOutput::Json(value)) => axum::Json(value).into_response(),
        Ok(EngineOutput::LlmStream(rx)) if stream => sse_response(rx),
        Ok(EngineOutput::LlmStream(rx)) => match collect_llm(rx).await {
            Ok(whole) => axum::Json(whole).into_response(),
            Err(e) => engine_error(pipeline, &e),
        },
        Err(e) => engine_error(pipeline, &e),
    }
}

/// The runner's answer to an engine error (ai-runner `handle_pipeline_exception` and the
/// per-route overrides): undecodable audio 415, other bad input 400, too large 413, anything
/// else 500 with the pipeline's message.
pub fn engine_error(pipeline: Pipeline, e: &InferenceError) -> Response {
    tracing::warn!(%pipeline, error = %e, "runner request failed");
    match e {
        InferenceError::BadInput(_) if pipeline == Pipeline::AudioToText => error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AUDIO_FORMAT_ERROR_MESSAGE,
        ),
        InferenceError::BadInput(msg) => error(StatusCode::BAD_REQUEST, msg),
        InferenceError::TooLarge(msg) => error(StatusCode::PAYLOAD_TOO_LARGE, msg),
        InferenceError::Load(_) | InferenceError::Inference(_) => {
            error(StatusCode::INTERNAL_SERVER_ERROR, pipeline.error_message())
        }
    }
}

/// Accumulates streamed LLM chunks into one `LLMResponse` with a `message` (ai-runner's
/// non-streaming answer).
pub async fn collect_llm(
    mut rx: mpsc::Receiver<Result<LlmResponse, InferenceError>>,
) -> Result<LlmResponse, InferenceError> {
    let mut text = String::new();
    let mut last: Option<LlmResponse> = None;
    while let Some(chunk) = rx.recv().await {
        let chunk = chunk?;
        if let Some(delta) = chunk.choices.first().and_then(|c| c.delta.as_ref()) {
            text.push_str(&delta.content);
        }
        let done = chunk
            .choices
            .first()
            .is_some_and(|c| !c.finish_reason.is_empty());
        last = Some(chunk);
        if done {
            break;
        }
    }
    let last = last.ok_or_else(|| InferenceError::Inference("No response generated".into()))?;
    let finish_reason = last
        .choices
        .first()
        .map(|c| c.finish_reason.clone())
        .filter(|f| !f.is_empty())
        .unwrap_or_else(|| "stop".into());
    Ok(LlmResponse {
        choices: vec![LlmChoice {
            index: 0,
            finish_reason,
            delta: None,
            message: Some(LlmMessage {
                role: "assistant".into(),
                content: text,
            }),
        }],
        ..last
    })
}

/// `text/event-stream` of `data: <LLMResponse>` events ending with `data: [DONE]`; a failure
/// mid-stream is sent as `data: {"error": ...}` (ai-runner `stream_generator`).
fn sse_response(rx: mpsc::Receiver<Result<LlmResponse, InferenceError>>) -> Response {
    let events = futures::stream::unfold((rx, false), |(mut rx, done)| async move {
        if done {
            return None;
        }
        match rx.recv().await {
            Some(Ok(chunk)) => {
                let last = chunk
                    .choices
                    .first()
                    .is_some_and(|c| !c.finish_reason.is_empty());
                let mut event = format!(
                    "data: {}\n\n",
                    serde_json::to_string(&chunk).unwrap_or_default()
                );
                if last {
                    event.push_str("data: [DONE]\n\n");
                }
                Some((event, (rx, last)))
            }
            Some(Err(e)) => Some((
                format!("data: {}\n\n", json!({ "error": e.to_string() })),
                (rx, true),
            )),
            None => Some(("data: [DONE]\n\n".to_string(), (rx, true))),
        }
    })
    .map(|s| Ok::<_, Infallible>(Bytes::from(s)));
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(events))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// A fresh `chatcmpl-<32 hex>` id for an LLM response.
pub fn completion_id() -> String {
    let bytes: [u8; 16] = rand::random();
    format!("chatcmpl-{}", hex::encode(bytes))
}
