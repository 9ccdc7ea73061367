//! A standalone AI worker (`livepeer -aiWorker -orchAddr … -orchSecret … -aiModels …`): it
//! registers its runners with an orchestrator and runs the AI jobs it is sent (go-livepeer
//! `server/ai_worker.go:RunAIWorker`, `reference/ai.md` §2.4).
//!
//! - **Registration**: `AIWorker.RegisterAIWorker` over the same connection as a remote
//!   transcoder's (TLS without certificate checks, or h2c for an `http://` address; see
//!   [`crate::remote_transcoder`]) with the secret, this node's AI capabilities (one model
//!   constraint per (pipeline, model) of its runners: capacity, warm, runner version) and one
//!   `HardwareInformation` per model (its runners' GPUs; none for the built-in CPU ones). "invalid secret" and "zero capacity" are fatal: [`run`]
//!   returns [`OrchestratorError::AiWorkerRefused`]. Any other failure, and the end of the job
//!   stream, reconnect after the remote transcoder's backoff ([`Backoff`]).
//! - **Jobs**: each `NotifyAIJob` carries the pipeline and `requestData` = `{"input_url",
//!   "request"}`. The request is checked against the pipeline's schema
//!   ([`livepeer_ai::AiRequest::from_value`]); for pipelines with an input file the file is
//!   downloaded from `input_url`, which must be on the orchestrator this worker registered
//!   with, up to the pipeline's upload limit (else [`MAX_AI_INPUT_BYTES`]) within
//!   [`AI_INPUT_TIMEOUT`]. A place on a runner is reserved (else "no workers can process job
//!   requested") and the runner answers. The result goes to `<orchestrator>/aiResults` with
//!   `Authorization: Livepeer-AI-Worker-1.0`, `Credentials`, `TaskId` and `Pipeline`:
//!   `multipart/mixed` (one part per data URL in the answer, named by a file name the
//!   answer's `url` then holds, and the `application/json` answer last, as go-livepeer
//!   writes it), `text/event-stream` for an LLM stream (one `data:` event per chunk), or
//!   `livepeer/ai-worker-error` with the error text. Jobs run concurrently up to the runners'
//!   total capacity; more wait on the stream.
//! - **Shutdown**: when `cancel` fires the stream is dropped (the orchestrator sends the jobs
//!   elsewhere) and running jobs are stopped.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures::StreamExt;
use http_body_util::{Full, StreamBody};
use hyper::Uri;
use hyper::body::Frame;
use livepeer_ai::client::RunnerReply;
use livepeer_ai::request::Upload;
use livepeer_ai::results::{decode_data_url, extension, for_each_url};
use livepeer_ai::worker::AiWorker;
use livepeer_ai::{AiRequest, Pipeline};
use livepeer_primitives::{Capabilities, LIVEPEER_VERSION, ModelConstraint};
use livepeer_proto::{convert, net};
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, info_span, warn};

use crate::OrchestratorError;
use crate::ai::AI_WORKER_PROTOCOL;
use crate::ai_remote::{AI_RESULTS_TIMEOUT, AI_WORKER_ERROR_MIME, NO_WORKERS};
use crate::remote_transcoder::{
    Backoff, CONNECT_TIMEOUT, Ended, PeerClient, Registration, orchestrator_uri, peer_get,
    peer_post, serve_registration, with_slash,
};

/// Largest input file downloaded for a pipeline without an upload limit of its own, bytes.
pub const MAX_AI_INPUT_BYTES: usize = crate::ai::MAX_AI_REQUEST_BYTES;
/// How long an input download may take.
pub const AI_INPUT_TIMEOUT: Duration = Duration::from_secs(120);
/// How long posting a whole (not streamed) result may take.
pub const AI_UPLOAD_TIMEOUT: Duration = Duration::from_secs(120);

/// What a standalone AI worker needs.
#[derive(Debug, Clone)]
pub struct RemoteAiWorkerConfig {
    /// `-orchAddr`: the orchestrator, `host:port` (TLS) or `http://host:port` (h2c).
    pub orch_addr: String,
    /// `-orchSecret`.
    pub secret: String,
    /// The runners (`-aiModels`), started by the caller and stopped by it after [`run`].
    pub worker: Arc<AiWorker>,
}

/// The capabilities a worker registers with: each (pipeline, model) of `worker` as its AI
/// capability with a model constraint (capacity of its healthy runners, warm, lowest runner
/// version), the capacities per capability, and version [`LIVEPEER_VERSION`].
pub fn worker_capabilities(worker: &AiWorker) -> Capabilities {
    let mut caps = Capabilities {
        version: LIVEPEER_VERSION.to_string(),
        ..Default::default()
    };
    for m in worker.models() {
        let cap = m.pipeline.capability();
        caps.bitstring.insert_id(cap);
        *caps.capacities.entry(cap).or_default() += m.capacity;
        caps.per_capability.entry(cap).or_default().insert(
            m.model_id.clone(),
            ModelConstraint {
                warm: m.warm,
                capacity: m.capacity,
                runner_version: m.runner_version.clone(),
                capacity_in_use: 0,
            },
        );
    }
    caps
}

struct Worker {
    config: RemoteAiWorkerConfig,
    base: Uri,
    http: PeerClient,
}

/// Registers with the orchestrator and runs the AI jobs it sends until `cancel` fires
/// (`Ok`), or until the orchestrator refuses the registration for good.
///
/// Errors: [`OrchestratorError::InvalidAddress`] for a bad `-orchAddr`,
/// [`OrchestratorError::AiWorkerRefused`] for "invalid secret" / "zero capacity".
pub async fn run(
    config: RemoteAiWorkerConfig,
    cancel: CancellationToken,
) -> Result<(), OrchestratorError> {
    let base = orchestrator_uri(&config.orch_addr)?;
    let worker = Arc::new(Worker {
        http: livepeer_server::peer_client::client(CONNECT_TIMEOUT),
        base,
        config,
    });
    let mut backoff = Backoff::default();
    loop {
        match worker
            .clone()
            .register_and_serve(&cancel, &mut backoff)
            .await?
        {
            Ended::Cancelled => return Ok(()),
            Ended::Disconnected => {}
        }
        let wait = backoff.next_wait();
        info!(orchestrator = %worker.base, ?wait, "registering the AI worker again after a pause");
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

impl Worker {
    async fn register_and_serve(
        self: Arc<Self>,
        cancel: &CancellationToken,
        backoff: &mut Backoff,
    ) -> Result<Ended, OrchestratorError> {
        let caps = worker_capabilities(&self.config.worker);
        let capacity: u32 = caps.capacities.values().sum();
        let mut grpc = net::ai_worker_client::AiWorkerClient::with_origin(
            self.http.clone(),
            self.base.clone(),
        );
        let hardware = self
            .config
            .worker
            .hardware()
            .iter()
            .map(crate::ai_remote::hardware_to_net)
            .collect();
        let request = net::RegisterAiWorkerRequest {
            secret: self.config.secret.clone(),
            capabilities: Some(convert::capabilities_to_net(&caps)),
            hardware,
        };
        let registration = Registration {
            base: &self.base,
            what: "AI worker",
            capacity: capacity as usize,
            refused: OrchestratorError::AiWorkerRefused,
        };
        serve_registration(
            registration,
            cancel,
            backoff,
            grpc.register_ai_worker(request),
            |notify: net::NotifyAiJob, stop| {
                let worker = self.clone();
                let span = info_span!("ai_job", task_id = notify.task_id);
                Some((span, async move {
                    tokio::select! {
                        _ = stop.cancelled() => debug!("AI job stopped"),
                        _ = worker.run_job(notify) => {}
                    }
                }))
            },
        )
        .await
    }

    async fn run_job(&self, notify: net::NotifyAiJob) {
        let task_id = notify.task_id;
        let data = notify.ai_job_data.unwrap_or_default();
        let pipeline_name = data.pipeline.clone();
        let posted = match self.job(&data).await {
            Ok(JobAnswer::Whole { content_type, body }) => {
                self.post(
                    task_id,
                    &pipeline_name,
                    &content_type,
                    tonic::body::Body::new(Full::new(body)),
                    AI_UPLOAD_TIMEOUT,
                )
                .await
            }
            Ok(JobAnswer::Stream(events)) => {
                let frames = events.map(|b| Ok::<_, Infallible>(Frame::data(b)));
                self.post(
                    task_id,
                    &pipeline_name,
                    "text/event-stream",
                    tonic::body::Body::new(StreamBody::new(frames)),
                    AI_RESULTS_TIMEOUT,
                )
                .await
            }
            Err(text) => {
                warn!(pipeline = %pipeline_name, error = %text, "AI job failed");
                self.post(
                    task_id,
                    &pipeline_name,
                    AI_WORKER_ERROR_MIME,
                    tonic::body::Body::new(Full::new(Bytes::from(text))),
                    AI_UPLOAD_TIMEOUT,
                )
                .await
            }
        };
        match posted {
            Ok(()) => info!(pipeline = %pipeline_name, "AI result posted"),
            Err(err) => warn!(error = %err, "could not post the AI result"),
        }
    }

    /// Does the job; its answer to post, or the error text to post.
    async fn job(&self, data: &net::AiJobData) -> Result<JobAnswer, String> {
        let pipeline: Pipeline = data
            .pipeline
            .parse()
            .map_err(|_| "AI request pipeline type not supported".to_string())?;
        let invalid =
            |e: String| format!("AI request validation failed for {pipeline} pipeline err={e}");
        let job: Value =
            serde_json::from_slice(&data.request_data).map_err(|e| invalid(e.to_string()))?;
        let request = job.get("request").cloned().unwrap_or(Value::Null);
        let mut request =
            AiRequest::from_value(pipeline, request).map_err(|e| invalid(e.body().to_string()))?;
        let model_id = request.model_id().to_string();
        if model_id.is_empty() {
            return Err(invalid(format!("{} is required", pipeline.model_field())));
        }
        if let Some(field) = pipeline.file_field() {
            let url = job.get("input_url").and_then(Value::as_str).unwrap_or("");
            let limit = pipeline.max_file_bytes().unwrap_or(MAX_AI_INPUT_BYTES);
            let input = self.download(url, limit).await.map_err(invalid)?;
            request.file = Some(Upload {
                filename: field.to_string(),
                content_type: None,
                data: input,
            });
        }
        let Some(lease) = self.config.worker.reserve(pipeline, &model_id) else {
            return Err(NO_WORKERS.to_string());
        };
        info!(%pipeline, %model_id, "running AI job");
        let reply = lease
            .client()
            .run(&request)
            .await
            .map_err(|e| e.to_string())?;
        match reply {
            RunnerReply::Json(value) => {
                drop(lease);
                let (boundary, body) = encode_result(value);
                Ok(JobAnswer::Whole {
                    content_type: format!("multipart/mixed; boundary={boundary}"),
                    body,
                })
            }
            RunnerReply::LlmStream(stream) => {
                let events = stream.map(move |chunk| {
                    let _held = &lease;
                    let event = match chunk {
                        Ok(chunk) => serde_json::to_string(&chunk).unwrap_or_default(),
                        Err(e) => serde_json::json!({ "error": e.to_string() }).to_string(),
                    };
                    Bytes::from(format!("data: {event}\n\n"))
                });
                Ok(JobAnswer::Stream(events.boxed()))
            }
        }
    }

    /// The input at `url`, which must be on the orchestrator this worker registered with.
    async fn download(&self, url: &str, limit: usize) -> Result<Bytes, String> {
        let uri = input_uri(&self.base, url)?;
        peer_get(&self.http, uri, limit, AI_INPUT_TIMEOUT, "AI input").await
    }

    async fn post(
        &self,
        task_id: i64,
        pipeline: &str,
        content_type: &str,
        body: tonic::body::Body,
        timeout: Duration,
    ) -> Result<(), String> {
        let url = format!("{}aiResults", with_slash(&self.base));
        let request = hyper::Request::post(url)
            .header("Authorization", AI_WORKER_PROTOCOL)
            .header("Credentials", &self.config.secret)
            .header("Content-Type", content_type)
            .header("TaskId", task_id.to_string())
            .header("Pipeline", pipeline)
            .body(body)
            .map_err(|e| e.to_string())?;
        peer_post(&self.http, request, timeout).await
    }
}

/// `url` parsed, when it is on the orchestrator at `base` (same scheme, host and port);
/// an input anywhere else is refused (the worker fetches nothing for a stranger).
pub fn input_uri(base: &Uri, url: &str) -> Result<Uri, String> {
    let uri: Uri = url
        .parse()
        .map_err(|_| format!("invalid input URL {url:?}"))?;
    if uri.authority().is_none()
        || uri.authority() != base.authority()
        || uri.scheme() != base.scheme()
    {
        return Err(format!(
            "input URL {url:?} is not on the orchestrator {base}"
        ));
    }
    Ok(uri)
}

/// What a job posts.
enum JobAnswer {
    /// A whole body.
    Whole { content_type: String, body: Bytes },
    /// An LLM event stream.
    Stream(futures::stream::BoxStream<'static, Bytes>),
}

/// A runner's JSON answer as a `multipart/mixed` result: every data URL under a `url` key
/// becomes a part named `<random>.<ext>` (`Content-Disposition: attachment; filename=…`) and
/// the `url` the file name; the JSON goes last (go-livepeer `runAIJob`). Returns the
/// boundary and the body.
pub fn encode_result(mut value: Value) -> (String, Bytes) {
    let boundary = hex::encode(rand::random::<[u8; 15]>());
    let mut files = Vec::new();
    for_each_url(&mut value, &mut |url: &mut String| {
        let Some((mime, data)) = decode_data_url(url) else {
            return;
        };
        let name = format!(
            "{}.{}",
            hex::encode(rand::random::<[u8; 8]>()),
            extension(&mime)
        );
        *url = name.clone();
        files.push((name, mime, data));
    });
    let json = value.to_string();
    let mut out = BytesMut::with_capacity(
        files.iter().map(|f| f.2.len() + 160).sum::<usize>() + json.len() + 160,
    );
    for (name, mime, data) in &files {
        out.put_slice(format!("--{boundary}\r\n").as_bytes());
        out.put_slice(format!("Content-Disposition: attachment; filename={name}\r\n").as_bytes());
        out.put_slice(format!("Content-Length: {}\r\n", data.len()).as_bytes());
        out.put_slice(format!("Content-Type: {mime}\r\n\r\n").as_bytes());
        out.put_slice(data);
        out.put_slice(b"\r\n");
    }
    out.put_slice(format!("--{boundary}\r\n").as_bytes());
    out.put_slice(format!("Content-Length: {}\r\n", json.len()).as_bytes());
    out.put_slice(b"Content-Type: application/json\r\n\r\n");
    out.put_slice(json.as_bytes());
    out.put_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (boundary, out.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;

    #[test]
    fn inputs_come_only_from_the_orchestrator() {
        let base = orchestrator_uri("127.0.0.1:8935").expect("base");
        assert!(input_uri(&base, "https://127.0.0.1:8935/stream/r/a.tempfile").is_ok());
        for bad in [
            "https://127.0.0.1:8936/stream/r/a.tempfile",
            "http://127.0.0.1:8935/stream/r/a.tempfile",
            "https://169.254.169.254/latest/meta-data",
            "/stream/r/a.tempfile",
            "",
            "not a url",
        ] {
            assert!(input_uri(&base, bad).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn results_carry_data_urls_as_named_parts() {
        let wav = b"RIFF\r\n--fake boundary\r\n";
        let url = format!(
            "data:audio/wav;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(wav)
        );
        let (boundary, body) = encode_result(serde_json::json!({"audio": {"url": url}}));
        let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(body) });
        let mut multipart = multer::Multipart::new(stream, boundary);
        let file = multipart.next_field().await.expect("ok").expect("file");
        let name = file.file_name().expect("file name").to_string();
        assert!(name.ends_with(".wav"), "{name}");
        assert_eq!(
            file.content_type().map(|m| m.essence_str()),
            Some("audio/wav")
        );
        assert_eq!(&file.bytes().await.expect("bytes")[..], wav);
        let json = multipart.next_field().await.expect("ok").expect("json");
        let value: Value =
            serde_json::from_slice(&json.bytes().await.expect("bytes")).expect("json");
        assert_eq!(value["audio"]["url"], name);
        assert!(multipart.next_field().await.expect("ok").is_none());
    }
}
