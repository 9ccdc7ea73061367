//! The AI worker: the runners an orchestrator (or a remote AI worker) sends AI requests to,
//! one per `-aiModels` entry, with their capacity (go-livepeer `ai/worker`, `reference/ai.md`
//! §2.2).
//!
//! - A **built-in** entry (no `url`) gets its own runner server in this process, on
//!   127.0.0.1 with a port of its own, driven over HTTP like any runner; its model is loaded
//!   before [`AiWorker::start`] returns (a cold entry's model is loaded too; it is advertised
//!   as the entry says, so gateways prefer the warm ones).
//! - An **external** entry (`url`) is a runner someone else started (the real ai-runner, or
//!   `livepeer ai-runner`); it must answer `/health` with `OK` or `IDLE` within
//!   [`EXTERNAL_RUNNER_TIMEOUT`] (go-livepeer `externalContainerTimeout`), and its
//!   `/version` is read once.
//!
//! A built-in `live-video-to-video` entry of capacity n gets n runners of capacity 1: a live
//! runner serves one stream at a time (ai-runner's streamer replaces its stream when another
//! starts), so concurrent streams need a runner each.
//!
//! Every runner is health-checked every [`HEALTH_INTERVAL`]; after
//! [`MAX_HEALTH_FAILURES`] failed checks in a row (or an `ERROR`) it takes no requests until
//! it answers `OK` again. Capacity is reserved per request ([`AiWorker::reserve`]) and
//! released when the [`RunnerLease`] is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::builtin::load_builtin;
use crate::client::RunnerClient;
use crate::config::AiModelConfig;
use crate::models::ModelsDir;
use crate::pipeline::Pipeline;
use crate::schema::HealthStatus;
use crate::server::{self, RunnerConfig, RunnerState};

/// How long an external runner has to become healthy at start.
pub const EXTERNAL_RUNNER_TIMEOUT: Duration = Duration::from_secs(120);
/// Between two polls of a starting runner's `/health` (go-livepeer: 500 ms).
pub const READINESS_POLL: Duration = Duration::from_millis(500);
/// Between two health checks of a running runner (go-livepeer `containerWatchInterval`).
pub const HEALTH_INTERVAL: Duration = Duration::from_secs(5);
/// Failed health checks in a row after which a runner takes no requests
/// (go-livepeer `maxHealthCheckFailures`).
pub const MAX_HEALTH_FAILURES: u32 = 2;

/// Why the worker could not start.
#[derive(Debug, thiserror::Error)]
pub enum AiWorkerError {
    /// A built-in runner could not load its model.
    #[error("{pipeline} {model_id}: {reason}")]
    Load {
        /// The pipeline.
        pipeline: Pipeline,
        /// The model.
        model_id: String,
        /// Why.
        reason: String,
    },
    /// An external runner did not become healthy in time, or its URL is bad.
    #[error("external runner {url} for {pipeline} {model_id}: {reason}")]
    External {
        /// The pipeline.
        pipeline: Pipeline,
        /// The model.
        model_id: String,
        /// Its URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// A built-in runner's listener could not be bound.
    #[error("cannot bind a runner port: {0}")]
    Bind(std::io::Error),
}

/// One runner and its capacity.
#[derive(Debug)]
pub struct Runner {
    /// The pipeline.
    pub pipeline: Pipeline,
    /// The model.
    pub model_id: String,
    /// Advertised as warm.
    pub warm: bool,
    /// Concurrent requests it takes.
    pub capacity: u32,
    /// Its `/version`'s `version`.
    pub version: String,
    /// Its `/hardware/info`'s `gpu_info` (GPU index → `{id, name, memory_total, …}`), read
    /// once at start; empty for the built-in CPU runners.
    pub gpu_info: serde_json::Map<String, serde_json::Value>,
    /// Built into this process (else external).
    pub builtin: bool,
    client: RunnerClient,
    in_use: AtomicU32,
    healthy: AtomicBool,
    failures: AtomicU32,
}

impl Runner {
    /// The client that reaches it.
    pub fn client(&self) -> &RunnerClient {
        &self.client
    }

    /// Requests in flight.
    pub fn in_use(&self) -> u32 {
        self.in_use.load(Ordering::Acquire)
    }

    /// Whether it takes requests (its last health checks passed).
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    fn try_take(&self) -> bool {
        self.in_use
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.capacity).then_some(n + 1)
            })
            .is_ok()
    }
}

/// A reserved place on one runner; dropping it releases the place.
#[derive(Debug)]
pub struct RunnerLease {
    runner: Arc<Runner>,
}

impl RunnerLease {
    /// The runner.
    pub fn runner(&self) -> &Runner {
        &self.runner
    }

    /// Its client.
    pub fn client(&self) -> &RunnerClient {
        &self.runner.client
    }
}

impl Drop for RunnerLease {
    fn drop(&mut self) {
        self.runner.in_use.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What the worker serves of one (pipeline, model): the sum over its runners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelCapacity {
    /// The pipeline.
    pub pipeline: Pipeline,
    /// The model.
    pub model_id: String,
    /// Whether any runner of it is warm.
    pub warm: bool,
    /// Concurrent requests of its healthy runners.
    pub capacity: u32,
    /// Requests in flight.
    pub in_use: u32,
    /// The lowest runner version (go-livepeer advertises the lowest).
    pub runner_version: String,
}

/// The runners of one node.
#[derive(Debug)]
pub struct AiWorker {
    runners: Vec<Arc<Runner>>,
    tasks: TaskTracker,
    stop: CancellationToken,
}

impl AiWorker {
    /// Starts a runner for every entry of `configs` (see the module docs), reading built-in
    /// models from `models`, and the health checks.
    ///
    /// Errors: [`AiWorkerError`] naming the entry that failed; runners already started are
    /// stopped.
    pub async fn start(
        configs: &[AiModelConfig],
        models: &ModelsDir,
    ) -> Result<Self, AiWorkerError> {
        let worker = Self {
            runners: Vec::new(),
            tasks: TaskTracker::new(),
            stop: CancellationToken::new(),
        };
        let mut runners = Vec::new();
        for config in configs {
            // A live runner serves one stream at a time (a new one replaces it, as
            // ai-runner's): a built-in live entry of capacity n gets n runners of one.
            let live_builtin =
                config.url.is_none() && config.pipeline == Pipeline::LiveVideoToVideo;
            let copies = if live_builtin {
                config.capacity.max(1)
            } else {
                1
            };
            for _ in 0..copies {
                let started = match &config.url {
                    Some(url) => worker.external(config, url).await,
                    None => worker.builtin(config, models).await,
                };
                match started {
                    Ok(mut runner) => {
                        if live_builtin {
                            runner.capacity = 1;
                        }
                        info!(pipeline = %runner.pipeline, model_id = %runner.model_id, url = runner.client.base_url(), builtin = runner.builtin, capacity = runner.capacity, "AI runner ready");
                        runners.push(Arc::new(runner));
                    }
                    Err(e) => {
                        worker.shutdown().await;
                        return Err(e);
                    }
                }
            }
        }
        let worker = Self { runners, ..worker };
        worker.watch();
        Ok(worker)
    }

    async fn builtin(
        &self,
        config: &AiModelConfig,
        models: &ModelsDir,
    ) -> Result<Runner, AiWorkerError> {
        let load_err = |reason: String| AiWorkerError::Load {
            pipeline: config.pipeline,
            model_id: config.model_id.clone(),
            reason,
        };
        let engine = load_builtin(config.pipeline, &config.model_id, models)
            .await
            .map_err(|e| load_err(e.to_string()))?;
        let state = RunnerState::new(RunnerConfig {
            pipeline: config.pipeline,
            model_id: config.model_id.clone(),
            auth_token: None,
            version: server::RUNNER_VERSION.to_string(),
        });
        state.set_engine(Ok(engine));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(AiWorkerError::Bind)?;
        let addr = listener.local_addr().map_err(AiWorkerError::Bind)?;
        let stop = self.stop.clone();
        self.tasks.spawn(async move {
            if let Err(e) =
                server::serve(listener, state, async move { stop.cancelled().await }).await
            {
                warn!(error = %e, "built-in runner server failed");
            }
        });
        let client = RunnerClient::new(&format!("http://{addr}"), None)
            .map_err(|e| load_err(e.to_string()))?;
        Ok(Runner {
            pipeline: config.pipeline,
            model_id: config.model_id.clone(),
            warm: config.warm,
            capacity: config.capacity.max(1),
            version: server::RUNNER_VERSION.to_string(),
            gpu_info: serde_json::Map::new(),
            builtin: true,
            client,
            in_use: AtomicU32::new(0),
            healthy: AtomicBool::new(true),
            failures: AtomicU32::new(0),
        })
    }

    async fn external(&self, config: &AiModelConfig, url: &str) -> Result<Runner, AiWorkerError> {
        let fail = |reason: String| AiWorkerError::External {
            pipeline: config.pipeline,
            model_id: config.model_id.clone(),
            url: url.to_string(),
            reason,
        };
        let client =
            RunnerClient::new(url, config.token.clone()).map_err(|e| fail(e.to_string()))?;
        let deadline = tokio::time::Instant::now() + EXTERNAL_RUNNER_TIMEOUT;
        let mut last;
        loop {
            match client.health().await {
                Ok(HealthStatus::Ok | HealthStatus::Idle) => break,
                Ok(HealthStatus::Error) => return Err(fail("runner reports ERROR".into())),
                Ok(HealthStatus::Loading) => last = "still LOADING".into(),
                Err(e) => last = e.to_string(),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(fail(format!(
                    "not healthy after {EXTERNAL_RUNNER_TIMEOUT:?}: {last}"
                )));
            }
            tokio::select! {
                _ = tokio::time::sleep(READINESS_POLL) => {}
                _ = self.stop.cancelled() => return Err(fail("stopped".into())),
            }
        }
        let version = match client.version().await {
            Ok(v) => v.version,
            Err(e) => {
                warn!(url, error = %e, "external runner has no /version");
                String::new()
            }
        };
        let gpu_info = match client.hardware_info().await {
            Ok(h) => h.gpu_info,
            Err(e) => {
                warn!(url, error = %e, "external runner has no /hardware/info");
                serde_json::Map::new()
            }
        };
        Ok(Runner {
            pipeline: config.pipeline,
            model_id: config.model_id.clone(),
            warm: config.warm,
            capacity: config.capacity.max(1),
            version,
            gpu_info,
            builtin: false,
            client,
            in_use: AtomicU32::new(0),
            healthy: AtomicBool::new(true),
            failures: AtomicU32::new(0),
        })
    }

    fn watch(&self) {
        let runners = self.runners.clone();
        let stop = self.stop.clone();
        self.tasks.spawn(async move {
            let mut tick = tokio::time::interval(HEALTH_INTERVAL);
            tick.tick().await;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.cancelled() => return,
                }
                for runner in &runners {
                    check_health(runner).await;
                }
            }
        });
    }

    /// Reserves a place on a healthy runner of (`pipeline`, `model_id`) with spare capacity,
    /// the least loaded first; `None` when there is none (go-livepeer "insufficient
    /// capacity", 503).
    pub fn reserve(&self, pipeline: Pipeline, model_id: &str) -> Option<RunnerLease> {
        let mut candidates: Vec<&Arc<Runner>> = self
            .runners
            .iter()
            .filter(|r| r.pipeline == pipeline && r.model_id == model_id && r.healthy())
            .collect();
        candidates.sort_by_key(|r| (u64::from(r.in_use()) << 32) / u64::from(r.capacity.max(1)));
        candidates
            .into_iter()
            .find(|r| r.try_take())
            .map(|r| RunnerLease { runner: r.clone() })
    }

    /// Whether any runner serves (`pipeline`, `model_id`).
    pub fn serves(&self, pipeline: Pipeline, model_id: &str) -> bool {
        self.runners
            .iter()
            .any(|r| r.pipeline == pipeline && r.model_id == model_id)
    }

    /// Per (pipeline, model): warm, capacity, requests in flight and the lowest runner
    /// version, in configuration order.
    pub fn models(&self) -> Vec<ModelCapacity> {
        let mut out: Vec<ModelCapacity> = Vec::new();
        for r in &self.runners {
            let capacity = if r.healthy() { r.capacity } else { 0 };
            match out
                .iter_mut()
                .find(|m| m.pipeline == r.pipeline && m.model_id == r.model_id)
            {
                Some(m) => {
                    m.warm |= r.warm;
                    m.capacity += capacity;
                    m.in_use += r.in_use();
                    if !r.version.is_empty()
                        && (m.runner_version.is_empty()
                            || !livepeer_primitives::is_version_compatible(
                                &m.runner_version,
                                &r.version,
                            ))
                    {
                        m.runner_version = r.version.clone();
                    }
                }
                None => out.push(ModelCapacity {
                    pipeline: r.pipeline,
                    model_id: r.model_id.clone(),
                    warm: r.warm,
                    capacity,
                    in_use: r.in_use(),
                    runner_version: r.version.clone(),
                }),
            }
        }
        out
    }

    /// The hardware of each (pipeline, model), its runners' GPUs together (go-livepeer
    /// `AIWorker.HardwareInformation`, sent at registration and in `OrchestratorInfo`).
    pub fn hardware(&self) -> Vec<crate::schema::HardwareInformation> {
        let mut out: Vec<crate::schema::HardwareInformation> = Vec::new();
        for r in &self.runners {
            let pipeline = r.pipeline.to_string();
            let i = match out
                .iter()
                .position(|h| h.pipeline == pipeline && h.model_id == r.model_id)
            {
                Some(i) => i,
                None => {
                    out.push(crate::schema::HardwareInformation {
                        pipeline,
                        model_id: r.model_id.clone(),
                        gpu_info: serde_json::Map::new(),
                    });
                    out.len() - 1
                }
            };
            for (gpu, info) in &r.gpu_info {
                out[i].gpu_info.insert(gpu.clone(), info.clone());
            }
        }
        out
    }

    /// The runners.
    pub fn runners(&self) -> &[Arc<Runner>] {
        &self.runners
    }

    /// Stops the built-in runner servers and the health checks, and waits for them.
    pub async fn shutdown(&self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

async fn check_health(runner: &Runner) {
    let ok = matches!(
        runner.client.health().await,
        Ok(HealthStatus::Ok | HealthStatus::Idle)
    );
    if ok {
        runner.failures.store(0, Ordering::Release);
        if !runner.healthy.swap(true, Ordering::AcqRel) {
            info!(pipeline = %runner.pipeline, model_id = %runner.model_id, "AI runner healthy again");
        }
        return;
    }
    let failures = runner.failures.fetch_add(1, Ordering::AcqRel) + 1;
    if failures >= MAX_HEALTH_FAILURES && runner.healthy.swap(false, Ordering::AcqRel) {
        warn!(pipeline = %runner.pipeline, model_id = %runner.model_id, url = runner.client.base_url(), "AI runner failed its health checks; taking no requests");
    }
}
