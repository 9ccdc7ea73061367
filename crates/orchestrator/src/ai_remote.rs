//! Remote AI workers on the orchestrator's side (go-livepeer `core/ai_orchestrator.go`
//! `RemoteAIWorkerManager`, `server/ai_worker.go` `RegisterAIWorker`, `server/ai_http.go`
//! `AIResults`; `reference/ai.md` §2.4). Served only with `-orchSecret`.
//!
//! - **Registration**: `AIWorker.RegisterAIWorker` with the shared secret (refused with
//!   "invalid secret", as for transcoders) and the worker's capabilities; the models it names
//!   in `constraints.PerCapability` (capacity, warm, runner version) join the models this
//!   orchestrator advertises in `GetOrchestrator` until its task stream ends (the worker went
//!   away, or was dropped after a failure). A worker naming no model with a capacity is
//!   refused with "zero capacity", and one whose capabilities' `version` is older than this
//!   node's [`LIVEPEER_VERSION`] (pre-release suffixes ignored; an empty version is older)
//!   with "version not compatible: …" (go-livepeer sets its own version as the workers'
//!   minimum and drops the others with that log line); the worker tries again later.
//! - **Dispatch** ([`RemoteAiWorkers::process`]): a request the local runners cannot take goes
//!   to the registered worker of its (pipeline, model) with the lowest load (in use ÷
//!   capacity; the first registered of equals). Its input file, if any, is staged at
//!   `<service URI>/stream/<request>/<name>.tempfile` while the job runs, and a `NotifyAIJob`
//!   names it: `requestData` = `{"input_url": …, "request": {…}}`. The answer is awaited for
//!   [`AI_RESULTS_TIMEOUT`].
//! - **Failures**: a worker that cannot be sent the job or disconnects while working on it is
//!   dropped from the pool and the job goes to another worker of the model (at most
//!   [`MAX_RETRIES`] times); with none left the answer is 500 "no workers can process job
//!   requested", so a gateway retries on another orchestrator. A worker that times out is
//!   dropped too, without a retry (go-livepeer: the gateway has moved on by then). An error the
//!   worker reports (`livepeer/ai-worker-error`) is the request's answer.
//! - **`POST /aiResults`**: `Authorization: Livepeer-AI-Worker-1.0` and `Credentials: <secret>`
//!   (else 401 "Unauthorized"), a parseable `Content-Type` (else 415), a numeric `TaskId` (else
//!   400 "Invalid Task ID"). A task nobody waits for is answered 200 "OK" without its body
//!   being read (go-livepeer drops such results the same way). Bodies are `multipart/mixed`
//!   (one `application/json` part, the response; one part per result file, named by the
//!   `filename` of its `Content-Disposition`, which the response's `url` fields name),
//!   `text/event-stream` (an LLM stream, passed on event by event) or
//!   `livepeer/ai-worker-error` (the error text). Bounded by [`MAX_AI_RESULT_BYTES`],
//!   [`MAX_AI_RESULT_PARTS`] and [`AI_RESULTS_TIMEOUT`].

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt};
use http_body_util::BodyExt;
use livepeer_ai::Pipeline;
use livepeer_ai::worker::ModelCapacity;
use livepeer_primitives::{Capabilities, LIVEPEER_VERSION};
use livepeer_proto::net;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Status};
use tracing::{debug, info, warn};

use crate::State;
use crate::ai::AI_WORKER_PROTOCOL;
use crate::results::secret_matches;

/// The content type of a failed AI job's result; the body is the error text (go-livepeer
/// `aiWorkerErrorMimeType`).
pub const AI_WORKER_ERROR_MIME: &str = "livepeer/ai-worker-error";
/// How long a remote AI worker has to post a job's result (go-livepeer
/// `aiWorkerResultsTimeout`, 10 minutes); also the longest a result body may take.
pub const AI_RESULTS_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// Largest `/aiResults` body, bytes (the runner client's own limit on a runner's answer).
pub const MAX_AI_RESULT_BYTES: u64 = livepeer_ai::client::MAX_RESPONSE_BYTES as u64;
/// Most parts of a `multipart/mixed` result.
pub const MAX_AI_RESULT_PARTS: usize = 256;
/// Largest event of a streamed (LLM) result, bytes.
pub const MAX_STREAM_EVENT_BYTES: usize = 1024 * 1024;
/// Most remote AI workers registered at once; more are refused.
pub const MAX_REMOTE_AI_WORKERS: usize = 256;
/// Largest capacity one worker may register for one model; more is cut to this.
pub const MAX_MODEL_CAPACITY: u32 = 1024;
/// Times a job is sent to another worker after the one it was on went away.
pub const MAX_RETRIES: usize = 4;
/// go-livepeer's `ErrNoCompatibleWorkersAvailable` text.
pub const NO_WORKERS: &str = "no workers can process job requested";
/// Largest error text read from a `livepeer/ai-worker-error` body, bytes.
const MAX_ERROR_BYTES: usize = 64 * 1024;
/// `NotifyAIJob` messages that may wait to be sent to one worker.
const NOTIFY_QUEUE: usize = 64;

/// What a remote worker answered for a job.
#[derive(Debug)]
pub(crate) enum WorkerResult {
    /// The response, and the result files it names (file name → (mime, bytes)).
    Json {
        value: Value,
        files: HashMap<String, (String, Bytes)>,
    },
    /// An LLM stream: each item one event's JSON, or the error that ended it.
    Stream(mpsc::Receiver<Result<Value, String>>),
    /// The worker's error text, or why its post could not be read.
    Failed(String),
}

/// Why a job got no answer from a remote worker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteAiError {
    /// No registered worker (left) serves the model with spare capacity.
    #[error("no workers can process job requested")]
    NoWorkers,
    /// The worker did not post a result within [`AI_RESULTS_TIMEOUT`] (go-livepeer
    /// `ErrRemoteWorkerTimeout`).
    #[error("Remote worker took too long")]
    Timeout,
}

#[derive(Debug)]
struct Link {
    notify: mpsc::Sender<Result<net::NotifyAiJob, Status>>,
    /// Fires when the worker is gone (disconnected or dropped).
    gone: CancellationToken,
}

#[derive(Debug)]
struct Member {
    id: u64,
    address: String,
    /// The models it serves; `in_use` counted here.
    models: Vec<ModelCapacity>,
    /// What it said it runs on at registration (bounded by [`bounded_hardware`]).
    hardware: Vec<net::HardwareInformation>,
    link: Arc<Link>,
}

/// The most `HardwareInformation` entries kept of one worker's registration.
pub const MAX_HARDWARE_ENTRIES: usize = 64;
/// The most GPUs kept of one entry.
pub const MAX_GPUS_PER_ENTRY: usize = 16;
/// The longest text (pipeline, model, GPU key, ID, name) kept, characters.
pub const MAX_HARDWARE_TEXT: usize = 128;

/// A registration's hardware within [`MAX_HARDWARE_ENTRIES`], [`MAX_GPUS_PER_ENTRY`] and
/// [`MAX_HARDWARE_TEXT`] (the rest is dropped: it comes from the network).
fn bounded_hardware(hardware: Vec<net::HardwareInformation>) -> Vec<net::HardwareInformation> {
    let cut = |s: String| s.chars().take(MAX_HARDWARE_TEXT).collect::<String>();
    hardware
        .into_iter()
        .take(MAX_HARDWARE_ENTRIES)
        .map(|h| net::HardwareInformation {
            pipeline: cut(h.pipeline),
            model_id: cut(h.model_id),
            gpu_info: h
                .gpu_info
                .into_iter()
                .take(MAX_GPUS_PER_ENTRY)
                .map(|(key, gpu)| {
                    let gpu = net::GpuComputeInfo {
                        id: cut(gpu.id),
                        name: cut(gpu.name),
                        ..gpu
                    };
                    (cut(key), gpu)
                })
                .collect(),
        })
        .collect()
}

/// A runner's `/hardware/info` in the wire's form: each GPU's `id`, `name`, `major`,
/// `minor`, `memory_free` and `memory_total` (go-livepeer `GPUComputeInfo`; a field that is
/// missing or of the wrong type is zero or empty).
pub fn hardware_to_net(h: &livepeer_ai::schema::HardwareInformation) -> net::HardwareInformation {
    let text = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).unwrap_or("").to_string();
    let int = |v: &Value, key: &str| v.get(key).and_then(Value::as_i64).unwrap_or(0);
    net::HardwareInformation {
        pipeline: h.pipeline.clone(),
        model_id: h.model_id.clone(),
        gpu_info: h
            .gpu_info
            .iter()
            .map(|(key, gpu)| {
                let info = net::GpuComputeInfo {
                    id: text(gpu, "id"),
                    name: text(gpu, "name"),
                    major: u32::try_from(int(gpu, "major")).unwrap_or(0),
                    minor: u32::try_from(int(gpu, "minor")).unwrap_or(0),
                    memory_free: int(gpu, "memory_free"),
                    memory_total: int(gpu, "memory_total"),
                };
                (key.clone(), info)
            })
            .collect(),
    }
}

#[derive(Debug, Default)]
struct Members {
    list: Vec<Member>,
    next_id: u64,
}

type SharedMembers = Arc<Mutex<Members>>;

fn lock(members: &Mutex<Members>) -> std::sync::MutexGuard<'_, Members> {
    members.lock().unwrap_or_else(|e| e.into_inner())
}

/// The registered remote AI workers, their tasks and staged inputs (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct RemoteAiWorkers {
    members: SharedMembers,
    tasks: Mutex<HashMap<i64, oneshot::Sender<WorkerResult>>>,
    next_task: AtomicI64,
    /// `<request>/<file>` → a staged input a worker downloads.
    inputs: Mutex<HashMap<String, Bytes>>,
}

/// A reserved place on one remote worker's model; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct RemoteLease {
    members: SharedMembers,
    id: u64,
    address: String,
    link: Arc<Link>,
    pipeline: Pipeline,
    model_id: String,
}

impl Drop for RemoteLease {
    fn drop(&mut self) {
        let mut members = lock(&self.members);
        if let Some(model) = members
            .list
            .iter_mut()
            .find(|m| m.id == self.id)
            .and_then(|m| {
                m.models
                    .iter_mut()
                    .find(|x| x.pipeline == self.pipeline && x.model_id == self.model_id)
            })
        {
            model.in_use = model.in_use.saturating_sub(1);
        }
    }
}

/// The models a worker's registration names: one per (pipeline, model) in
/// `per_capability` of an AI capability, with its capacity cut to [`MAX_MODEL_CAPACITY`];
/// models with no capacity are left out.
pub(crate) fn worker_models(caps: &Capabilities) -> Vec<ModelCapacity> {
    let mut out = Vec::new();
    for (&cap, models) in &caps.per_capability {
        let Some(pipeline) = Pipeline::from_capability(cap) else {
            continue;
        };
        for (model_id, c) in models {
            if c.capacity == 0 || model_id.is_empty() || model_id.len() > 256 {
                continue;
            }
            out.push(ModelCapacity {
                pipeline,
                model_id: model_id.clone(),
                warm: c.warm,
                capacity: c.capacity.min(MAX_MODEL_CAPACITY),
                in_use: 0,
                runner_version: c.runner_version.chars().take(64).collect(),
            });
        }
    }
    out
}

/// Adds `m` to `out`, summing capacities and loads of the same (pipeline, model), warm if
/// any is, and keeping the lowest runner version (as [`livepeer_ai::worker::AiWorker::models`]).
pub(crate) fn merge_model(out: &mut Vec<ModelCapacity>, m: &ModelCapacity) {
    match out
        .iter_mut()
        .find(|x| x.pipeline == m.pipeline && x.model_id == m.model_id)
    {
        Some(x) => {
            x.warm |= m.warm;
            x.capacity = x.capacity.saturating_add(m.capacity);
            x.in_use = x.in_use.saturating_add(m.in_use);
            if !m.runner_version.is_empty()
                && (x.runner_version.is_empty()
                    || !livepeer_primitives::is_version_compatible(
                        &x.runner_version,
                        &m.runner_version,
                    ))
            {
                x.runner_version = m.runner_version.clone();
            }
        }
        None => out.push(m.clone()),
    }
}

impl RemoteAiWorkers {
    /// Adds a worker that registered from `address` serving `models`; returns its ID and
    /// the stream of jobs to send it.
    pub(crate) fn register(
        &self,
        address: String,
        models: Vec<ModelCapacity>,
        hardware: Vec<net::HardwareInformation>,
    ) -> Result<(u64, AiNotifyStream), Status> {
        let (notify, rx) = mpsc::channel(NOTIFY_QUEUE);
        let gone = CancellationToken::new();
        let mut members = lock(&self.members);
        if members.list.len() >= MAX_REMOTE_AI_WORKERS {
            return Err(Status::resource_exhausted("too many AI workers"));
        }
        let id = members.next_id;
        members.next_id += 1;
        info!(worker = %address, models = ?models.iter().map(|m| format!("{}/{}x{}", m.pipeline, m.model_id, m.capacity)).collect::<Vec<_>>(), "remote AI worker registered");
        members.list.push(Member {
            id,
            address,
            models,
            hardware,
            link: Arc::new(Link {
                notify,
                gone: gone.clone(),
            }),
        });
        Ok((
            id,
            AiNotifyStream {
                rx,
                gone: Box::pin(gone.cancelled_owned()),
            },
        ))
    }

    /// Removes worker `id`; its jobs in flight go elsewhere and its task stream ends.
    pub(crate) fn remove(&self, id: u64) {
        let mut members = lock(&self.members);
        if let Some(i) = members.list.iter().position(|m| m.id == id) {
            let member = members.list.remove(i);
            member.link.gone.cancel();
            info!(worker = %member.address, "remote AI worker removed");
        }
    }

    /// The models of every registered worker, merged per (pipeline, model).
    pub(crate) fn models(&self) -> Vec<ModelCapacity> {
        let members = lock(&self.members);
        let mut out = Vec::new();
        for m in members.list.iter().flat_map(|m| m.models.iter()) {
            merge_model(&mut out, m);
        }
        out
    }

    /// Every registered worker's hardware, in registration order.
    pub(crate) fn hardware(&self) -> Vec<net::HardwareInformation> {
        let members = lock(&self.members);
        members
            .list
            .iter()
            .flat_map(|m| m.hardware.iter().cloned())
            .collect()
    }

    /// Each registered worker: its address and models (capacity, load), in registration
    /// order.
    pub(crate) fn reports(&self) -> Vec<crate::ai::AiWorkerReport> {
        let members = lock(&self.members);
        members
            .list
            .iter()
            .map(|m| crate::ai::AiWorkerReport {
                address: m.address.clone(),
                models: m
                    .models
                    .iter()
                    .map(crate::ai::AiModelReport::from)
                    .collect(),
            })
            .collect()
    }

    /// Reserves a place on the least loaded worker of (`pipeline`, `model_id`) with spare
    /// capacity, skipping the workers in `tried`.
    pub(crate) fn reserve(
        &self,
        pipeline: Pipeline,
        model_id: &str,
        tried: &[u64],
    ) -> Option<RemoteLease> {
        let mut members = lock(&self.members);
        let mut best: Option<(usize, usize, u32, u32)> = None;
        for (i, member) in members.list.iter().enumerate() {
            if tried.contains(&member.id) {
                continue;
            }
            let Some(j) = member
                .models
                .iter()
                .position(|m| m.pipeline == pipeline && m.model_id == model_id)
            else {
                continue;
            };
            let m = &member.models[j];
            if m.in_use >= m.capacity {
                continue;
            }
            let lower = best.is_none_or(|(_, _, bu, bc)| {
                u64::from(m.in_use) * u64::from(bc) < u64::from(bu) * u64::from(m.capacity)
            });
            if lower {
                best = Some((i, j, m.in_use, m.capacity));
            }
        }
        let (i, j, _, _) = best?;
        let member = &mut members.list[i];
        member.models[j].in_use += 1;
        Some(RemoteLease {
            members: self.members.clone(),
            id: member.id,
            address: member.address.clone(),
            link: member.link.clone(),
            pipeline,
            model_id: model_id.to_string(),
        })
    }

    /// A staged input, if `request`/`file` names one.
    pub(crate) fn staged_input(&self, request: &str, file: &str) -> Option<Bytes> {
        self.inputs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&format!("{request}/{file}"))
            .cloned()
    }

    /// Runs a job on remote workers, starting with `lease` (see the module docs): `request`
    /// is the pipeline body without its file, `input` the file, staged for the worker under
    /// `service_uri`. Returns the worker's answer and the lease of the worker that gave it
    /// (held until the answer has been passed on).
    ///
    /// Errors: [`RemoteAiError::NoWorkers`] when every worker tried went away and no other
    /// serves the model, [`RemoteAiError::Timeout`].
    pub(crate) async fn process(
        &self,
        mut lease: RemoteLease,
        request_id: &str,
        request: Value,
        input: Option<Bytes>,
        service_uri: &str,
    ) -> Result<(WorkerResult, RemoteLease), RemoteAiError> {
        let pipeline = lease.pipeline;
        let model_id = lease.model_id.clone();
        let staged = input.map(|data| {
            let name = format!("{}.tempfile", hex::encode(rand::random::<[u8; 8]>()));
            let key = format!("{request_id}/{name}");
            self.inputs
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key.clone(), data);
            StagedInput {
                inputs: &self.inputs,
                key,
                url: format!("{service_uri}/stream/{request_id}/{name}"),
            }
        });
        let input_url = staged.as_ref().map(|s| s.url.clone()).unwrap_or_default();
        let request_data = serde_json::json!({ "input_url": input_url, "request": request });
        let request_data = serde_json::to_vec(&request_data).unwrap_or_default();
        let mut tried = Vec::new();
        loop {
            let task_id = self.next_task.fetch_add(1, Ordering::Relaxed);
            let (tx, rx) = oneshot::channel();
            self.tasks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(task_id, tx);
            let _task = TaskGuard {
                tasks: &self.tasks,
                id: task_id,
            };
            let notify = net::NotifyAiJob {
                ai_job_data: Some(net::AiJobData {
                    pipeline: pipeline.to_string(),
                    request_data: request_data.clone(),
                }),
                task_id,
            };
            let link = lease.link.clone();
            let sent = link.notify.try_send(Ok(notify)).is_ok();
            let outcome = if sent {
                debug!(worker = %lease.address, task_id, %pipeline, %model_id, "AI job sent to a remote worker");
                tokio::select! {
                    r = rx => r.ok(),
                    _ = link.gone.cancelled() => None,
                    _ = tokio::time::sleep(AI_RESULTS_TIMEOUT) => {
                        warn!(worker = %lease.address, task_id, "remote AI worker took too long");
                        self.remove(lease.id);
                        return Err(RemoteAiError::Timeout);
                    }
                }
            } else {
                None
            };
            if let Some(result) = outcome {
                return Ok((result, lease));
            }
            warn!(worker = %lease.address, task_id, %pipeline, %model_id, "remote AI worker went away with the job; trying another");
            self.remove(lease.id);
            tried.push(lease.id);
            if tried.len() > MAX_RETRIES {
                return Err(RemoteAiError::NoWorkers);
            }
            lease = self
                .reserve(pipeline, &model_id, &tried)
                .ok_or(RemoteAiError::NoWorkers)?;
        }
    }

    /// Takes the waiter of `task_id`, if anyone waits for it.
    fn take_task(&self, task_id: i64) -> Option<oneshot::Sender<WorkerResult>> {
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&task_id)
    }
}

/// Removes a task's waiter when the job ends (answered, failed over, or the request dropped).
struct TaskGuard<'a> {
    tasks: &'a Mutex<HashMap<i64, oneshot::Sender<WorkerResult>>>,
    id: i64,
}

impl Drop for TaskGuard<'_> {
    fn drop(&mut self) {
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}

/// Removes a staged input when its job ends.
struct StagedInput<'a> {
    inputs: &'a Mutex<HashMap<String, Bytes>>,
    key: String,
    url: String,
}

impl Drop for StagedInput<'_> {
    fn drop(&mut self) {
        self.inputs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.key);
    }
}

/// The jobs for one registered worker; ends when the worker is dropped from the pool.
pub(crate) struct AiNotifyStream {
    rx: mpsc::Receiver<Result<net::NotifyAiJob, Status>>,
    gone: Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
}

impl Stream for AiNotifyStream {
    type Item = Result<net::NotifyAiJob, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.gone.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        self.rx.poll_recv(cx)
    }
}

/// `net.AIWorker` over gRPC (go-livepeer `server/ai_worker.go:RegisterAIWorker`).
#[derive(Debug, Clone)]
pub(crate) struct AiWorkerGrpc {
    pub(crate) state: Arc<State>,
}

/// The jobs for one registered worker as tonic sends them; when tonic drops it (the worker
/// went away) or the orchestrator closes, the worker leaves the pool.
pub(crate) struct RegisteredAiStream {
    jobs: AiNotifyStream,
    closing: Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
    state: Arc<State>,
    id: u64,
}

impl Stream for RegisteredAiStream {
    type Item = Result<net::NotifyAiJob, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.closing.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Pin::new(&mut self.jobs).poll_next(cx)
    }
}

impl Drop for RegisteredAiStream {
    fn drop(&mut self) {
        if let Some(ai) = &self.state.ai {
            ai.remote.remove(self.id);
        }
    }
}

#[tonic::async_trait]
impl net::ai_worker_server::AiWorker for AiWorkerGrpc {
    type RegisterAIWorkerStream = RegisteredAiStream;

    async fn register_ai_worker(
        &self,
        request: Request<net::RegisterAiWorkerRequest>,
    ) -> Result<tonic::Response<Self::RegisterAIWorkerStream>, Status> {
        let peer = request
            .extensions()
            .get::<livepeer_server::PeerAddr>()
            .map_or_else(|| "unknown".to_string(), |p| p.0.to_string());
        let req = request.into_inner();
        let secret = self.state.orch_secret.as_deref().unwrap_or_default();
        if secret.is_empty() || !secret_matches(secret, &req.secret) {
            warn!(worker = %peer, "AI worker registration refused: invalid secret");
            return Err(Status::unknown("invalid secret"));
        }
        let Some(ai) = &self.state.ai else {
            return Err(Status::unavailable("this orchestrator serves no AI"));
        };
        // go-livepeer sets its own version as the floor for workers (`starter.go`,
        // `LivepeerVersionCompatibleWith`); a legacy worker without capabilities gets go's
        // default set, which carries the orchestrator's version.
        if let Some(caps) = &req.capabilities
            && !livepeer_primitives::is_version_compatible(LIVEPEER_VERSION, &caps.version)
        {
            let version: String = caps.version.chars().take(64).collect();
            warn!(worker = %peer, %version, min_version = LIVEPEER_VERSION, "AI worker registration refused: version not compatible");
            return Err(Status::unknown(format!(
                "version not compatible: worker version {version:?}, orchestrator needs {LIVEPEER_VERSION} or later"
            )));
        }
        let caps = livepeer_proto::convert::capabilities_from_net(req.capabilities.as_ref());
        let models = worker_models(&caps);
        if models.is_empty() {
            warn!(worker = %peer, "AI worker registration refused: zero capacity");
            return Err(Status::unknown("zero capacity"));
        }
        let hardware = bounded_hardware(req.hardware);
        let (id, jobs) = ai.remote.register(peer, models, hardware)?;
        Ok(tonic::Response::new(RegisteredAiStream {
            jobs,
            closing: Box::pin(self.state.closing.clone().cancelled_owned()),
            state: self.state.clone(),
            id,
        }))
    }
}

fn text(status: StatusCode, body: &str) -> Response {
    (status, body.to_string()).into_response()
}

/// `POST /aiResults` (see the module docs).
pub(crate) async fn post_ai_results(
    AxumState(state): AxumState<Arc<State>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (Some(secret), Some(ai)) = (state.orch_secret.as_deref(), state.ai.as_ref()) else {
        return text(StatusCode::NOT_FOUND, "404 page not found");
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    if header(header::AUTHORIZATION.as_str()) != AI_WORKER_PROTOCOL {
        warn!(
            auth = header(header::AUTHORIZATION.as_str()),
            "AI result with an invalid auth type"
        );
        return text(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    if !secret_matches(secret, header("Credentials")) {
        warn!("AI result with an invalid shared secret");
        return text(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let content_type = match header(header::CONTENT_TYPE.as_str()).parse::<mime::Mime>() {
        Ok(parsed) => parsed,
        Err(err) => return text(StatusCode::UNSUPPORTED_MEDIA_TYPE, &format!("mime: {err}")),
    };
    let Ok(task_id) = header("TaskId").trim().parse::<i64>() else {
        return text(StatusCode::BAD_REQUEST, "Invalid Task ID");
    };
    let Some(waiter) = ai.remote.take_task(task_id) else {
        debug!(task_id, "AI result for a task nobody waits for");
        return text(StatusCode::OK, "OK");
    };
    let media_type = content_type.essence_str().to_ascii_lowercase();
    match media_type.as_str() {
        AI_WORKER_ERROR_MIME => {
            let read = http_body_util::Limited::new(body, MAX_ERROR_BYTES).collect();
            let reason = match tokio::time::timeout(AI_RESULTS_TIMEOUT, read).await {
                Ok(Ok(c)) => String::from_utf8_lossy(&c.to_bytes()).trim().to_string(),
                Ok(Err(e)) => format!("unreadable AI worker error: {e}"),
                Err(_) => "AI worker error body timed out".into(),
            };
            warn!(task_id, %reason, "remote AI worker reported an error");
            let _ = waiter.send(WorkerResult::Failed(reason));
            text(StatusCode::OK, "OK")
        }
        "text/event-stream" => {
            let (tx, rx) = mpsc::channel(64);
            if waiter.send(WorkerResult::Stream(rx)).is_err() {
                return text(StatusCode::OK, "OK");
            }
            let reason =
                match tokio::time::timeout(AI_RESULTS_TIMEOUT, relay_events(body, &tx)).await {
                    Ok(Ok(())) => return text(StatusCode::OK, "OK"),
                    Ok(Err(reason)) => reason,
                    Err(_) => "result stream took too long".to_string(),
                };
            warn!(task_id, %reason, "remote AI result stream failed");
            let _ = tx.send(Err(reason.clone())).await;
            text(StatusCode::INTERNAL_SERVER_ERROR, &reason)
        }
        "multipart/mixed" => {
            let parsed = match content_type.get_param(mime::BOUNDARY) {
                Some(boundary) => read_result_parts(body, boundary.as_str().to_string()).await,
                None => Err("multipart: boundary is missing".to_string()),
            };
            match parsed {
                Ok((value, files)) => {
                    debug!(task_id, files = files.len(), "remote AI result received");
                    let _ = waiter.send(WorkerResult::Json { value, files });
                    text(StatusCode::OK, "OK")
                }
                Err(reason) => {
                    warn!(task_id, %reason, "unreadable remote AI result");
                    let _ = waiter.send(WorkerResult::Failed(reason.clone()));
                    text(StatusCode::INTERNAL_SERVER_ERROR, &reason)
                }
            }
        }
        other => {
            let reason = format!("unsupported result type {other}");
            let _ = waiter.send(WorkerResult::Failed(reason.clone()));
            text(StatusCode::UNSUPPORTED_MEDIA_TYPE, &reason)
        }
    }
}

/// Passes each `data:` event of an LLM stream body to `tx` as JSON until the body ends (or a
/// `data: [DONE]`); stops early when nobody listens any more.
async fn relay_events(body: Body, tx: &mpsc::Sender<Result<Value, String>>) -> Result<(), String> {
    let mut stream = body.into_data_stream();
    let mut pending: Vec<u8> = Vec::new();
    let mut total: u64 = 0;
    loop {
        let chunk = match stream.next().await {
            Some(Ok(chunk)) => chunk,
            Some(Err(e)) => return Err(format!("result stream broke: {e}")),
            None => return Ok(()),
        };
        total += chunk.len() as u64;
        if total > livepeer_ai::client::MAX_STREAM_BYTES as u64 {
            return Err("result stream too large".into());
        }
        pending.extend_from_slice(&chunk);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let Some(data) = line.trim_end().strip_prefix("data:") else {
                continue;
            };
            let data = data.trim();
            if data == "[DONE]" {
                return Ok(());
            }
            match serde_json::from_str::<Value>(data) {
                Ok(event) => {
                    if tx.send(Ok(event)).await.is_err() {
                        return Ok(());
                    }
                }
                Err(e) => debug!(error = %e, "unreadable event in a result stream"),
            }
        }
        if pending.len() > MAX_STREAM_EVENT_BYTES {
            return Err("result stream event too large".into());
        }
    }
}

/// The response and files of a `multipart/mixed` result: the `application/json` part, and
/// each part with a `filename` by that name (go-livepeer `parseMultiPartResult`).
async fn read_result_parts(
    body: Body,
    boundary: String,
) -> Result<(Value, HashMap<String, (String, Bytes)>), String> {
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(MAX_AI_RESULT_BYTES)
            .per_field(MAX_AI_RESULT_BYTES),
    );
    let stream = TryStreamExt::map_err(body.into_data_stream(), std::io::Error::other);
    let mut multipart = multer::Multipart::with_constraints(stream, boundary, constraints);
    let read = async {
        let mut value = None;
        let mut files = HashMap::new();
        let mut seen = 0;
        while let Some(field) = multipart.next_field().await.map_err(|e| e.to_string())? {
            seen += 1;
            if seen > MAX_AI_RESULT_PARTS {
                return Err(format!("more than {MAX_AI_RESULT_PARTS} parts"));
            }
            let mime = field
                .content_type()
                .map(|m| m.essence_str().to_string())
                .unwrap_or_else(|| "application/octet-stream".into());
            let name = field.file_name().map(str::to_string);
            let data = field.bytes().await.map_err(|e| e.to_string())?;
            if mime == "application/json" && name.is_none() {
                value = Some(
                    serde_json::from_slice::<Value>(&data)
                        .map_err(|e| format!("Error getting results json: {e}"))?,
                );
            } else if let Some(name) = name {
                files.insert(name, (mime, data));
            }
        }
        let value = value.ok_or_else(|| "no application/json part in the result".to_string())?;
        Ok((value, files))
    };
    tokio::time::timeout(AI_RESULTS_TIMEOUT, read)
        .await
        .map_err(|_| format!("result body took longer than {AI_RESULTS_TIMEOUT:?}"))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use livepeer_primitives::ModelConstraint;

    #[test]
    fn a_registrations_hardware_is_bounded() {
        let long = "x".repeat(10_000);
        let gpu = net::GpuComputeInfo {
            id: long.clone(),
            name: long.clone(),
            memory_total: 7,
            ..Default::default()
        };
        let entry = net::HardwareInformation {
            pipeline: long.clone(),
            model_id: long.clone(),
            gpu_info: (0..100)
                .map(|i| (format!("{i}{long}"), gpu.clone()))
                .collect(),
        };
        let kept = bounded_hardware(vec![entry; 1000]);
        assert_eq!(kept.len(), MAX_HARDWARE_ENTRIES);
        for h in &kept {
            assert_eq!(h.pipeline.len(), MAX_HARDWARE_TEXT);
            assert_eq!(h.model_id.len(), MAX_HARDWARE_TEXT);
            assert_eq!(h.gpu_info.len(), MAX_GPUS_PER_ENTRY);
            for (key, gpu) in &h.gpu_info {
                assert_eq!(key.len(), MAX_HARDWARE_TEXT);
                assert_eq!(
                    (gpu.id.len(), gpu.name.len()),
                    (MAX_HARDWARE_TEXT, MAX_HARDWARE_TEXT)
                );
                assert_eq!(gpu.memory_total, 7);
            }
        }
    }

    fn caps(models: &[(u32, &str, u32)]) -> Capabilities {
        let mut caps = Capabilities::default();
        for &(cap, model, capacity) in models {
            caps.per_capability.entry(cap).or_default().insert(
                model.to_string(),
                ModelConstraint {
                    warm: true,
                    capacity,
                    runner_version: "0.14.1".into(),
                    capacity_in_use: 0,
                },
            );
        }
        caps
    }

    #[test]
    fn only_ai_models_with_capacity_register() {
        // 36 = text-to-speech, 33 = llm; 2 is a transcoding capability.
        let models = worker_models(&caps(&[(36, "tts", 2), (33, "llm", 0), (2, "x", 1)]));
        assert_eq!(models.len(), 1);
        assert_eq!(
            (
                models[0].pipeline,
                models[0].model_id.as_str(),
                models[0].capacity
            ),
            (Pipeline::TextToSpeech, "tts", 2)
        );
        let huge = worker_models(&caps(&[(36, "tts", u32::MAX)]));
        assert_eq!(huge[0].capacity, MAX_MODEL_CAPACITY);
    }

    #[test]
    fn jobs_go_to_the_least_loaded_worker_and_leases_free_their_place() {
        let pool = RemoteAiWorkers::default();
        let (a, _sa) = pool
            .register(
                "a".into(),
                worker_models(&caps(&[(36, "tts", 1)])),
                Vec::new(),
            )
            .expect("a");
        let (b, _sb) = pool
            .register(
                "b".into(),
                worker_models(&caps(&[(36, "tts", 2)])),
                Vec::new(),
            )
            .expect("b");
        let first = pool.reserve(Pipeline::TextToSpeech, "tts", &[]).expect("1");
        assert_eq!(first.id, a, "equal loads: the first registered");
        let second = pool.reserve(Pipeline::TextToSpeech, "tts", &[]).expect("2");
        assert_eq!(second.id, b);
        let third = pool.reserve(Pipeline::TextToSpeech, "tts", &[]).expect("3");
        assert_eq!(third.id, b);
        assert!(pool.reserve(Pipeline::TextToSpeech, "tts", &[]).is_none());
        assert_eq!(pool.models()[0].in_use, 3);
        assert_eq!(pool.models()[0].capacity, 3);
        drop(first);
        assert!(pool.reserve(Pipeline::TextToSpeech, "tts", &[a]).is_none());
        assert!(pool.reserve(Pipeline::TextToSpeech, "other", &[]).is_none());
        pool.remove(b);
        drop((second, third));
        assert_eq!(pool.models()[0].capacity, 1);
        assert_eq!(pool.models()[0].in_use, 0);
    }

    #[tokio::test]
    async fn multipart_results_give_the_json_and_the_named_files() {
        let body = "--b\r\nContent-Type: audio/wav\r\nContent-Disposition: attachment; filename=x.wav\r\n\r\nRIFF\r\n\
                    --b\r\nContent-Type: application/json\r\n\r\n{\"audio\":{\"url\":\"x.wav\"}}\r\n--b--\r\n";
        let (value, files) = read_result_parts(Body::from(body), "b".into())
            .await
            .expect("parts");
        assert_eq!(value["audio"]["url"], "x.wav");
        assert_eq!(files["x.wav"].0, "audio/wav");
        assert_eq!(&files["x.wav"].1[..], b"RIFF");
        let no_json = "--b\r\nContent-Type: audio/wav\r\nContent-Disposition: attachment; filename=x.wav\r\n\r\nRIFF\r\n--b--\r\n";
        assert!(
            read_result_parts(Body::from(no_json), "b".into())
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn streamed_results_are_passed_on_event_by_event() {
        let (tx, mut rx) = mpsc::channel(8);
        let body = Body::from("data: {\"n\":1}\n\n: comment\ndata: {\"n\":2}\n\ndata: [DONE]\n\n");
        relay_events(body, &tx).await.expect("relayed");
        drop(tx);
        let mut got = Vec::new();
        while let Some(event) = rx.recv().await {
            got.push(event.expect("event")["n"].as_i64().expect("n"));
        }
        assert_eq!(got, vec![1, 2]);
    }
}
