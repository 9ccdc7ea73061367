//! Remote AI workers against a real orchestrator with no runners of its own, over real TLS
//! sockets: registration and the models advertised, text-to-speech (the real espeak-ng) served
//! by a worker through a gateway, refusals with go-livepeer's texts, `/aiResults` checks, and a
//! worker that goes away mid-job with the job moving to a second worker.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::routing::{get, post};
use livepeer_ai::config::{parse_ai_models, parse_json};
use livepeer_ai::worker::AiWorker;
use livepeer_ai::{ModelsDir, tts};
use livepeer_gateway::client::OrchestratorClient;
use livepeer_orchestrator::OrchestratorError;
use livepeer_orchestrator::ai::AI_WORKER_PROTOCOL;
use livepeer_orchestrator::remote_ai_worker::{self, RemoteAiWorkerConfig};
use livepeer_primitives::ModelConstraint;
use livepeer_proto::headers::{SEGMENT_HEADER, encode_header};
use livepeer_proto::net;
use livepeer_testing::gateway::Gateway;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::eventually;
use crate::orchestrator::Orch;

const SECRET: &str = "ai-orchestrator-secret";
/// Registration, model loading and reconnects all finish well within this.
const WAIT: Duration = Duration::from_secs(30);

/// An orchestrator with no runners and no transcoder, taking remote workers.
async fn remote_only_orchestrator() -> Orch {
    Orch::start(|c| {
        c.transcoder = None;
        c.orch_secret = Some(SECRET.into());
    })
    .await
}

async fn tts_runners() -> Arc<AiWorker> {
    let models = ModelsDir::discover().expect("models directory");
    let configs =
        parse_ai_models(&format!("text-to-speech:{}:true", tts::MODEL_ID)).expect("config");
    Arc::new(
        AiWorker::start(&configs, &models)
            .await
            .expect("runners start"),
    )
}

/// A standalone AI worker running in this process.
struct RemoteWorker {
    runners: Arc<AiWorker>,
    cancel: CancellationToken,
    task: JoinHandle<Result<(), OrchestratorError>>,
}

impl RemoteWorker {
    fn start(orch: &Orch, secret: &str, runners: Arc<AiWorker>) -> Self {
        let config = RemoteAiWorkerConfig {
            orch_addr: orch.addr.to_string(),
            secret: secret.into(),
            worker: runners.clone(),
        };
        let cancel = CancellationToken::new();
        let task = tokio::spawn(remote_ai_worker::run(config, cancel.clone()));
        Self {
            runners,
            cancel,
            task,
        }
    }

    async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(WAIT, self.task)
            .await
            .expect("the worker stops after cancel")
            .expect("no panic")
            .expect("the worker stops without an error");
        self.runners.shutdown().await;
    }
}

/// The text-to-speech model the orchestrator advertises now, if any.
async fn advertised_tts(orch: &Orch) -> Option<ModelConstraint> {
    let info = OrchestratorClient::new()
        .get_orchestrator(&orch.uri, net::OrchestratorRequest::default())
        .await
        .expect("GetOrchestrator");
    let caps = livepeer_proto::convert::capabilities_from_net(info.capabilities.as_ref());
    if !caps.bitstring.contains_id(36) {
        return None;
    }
    assert_eq!(
        caps.capacities.get(&36).copied(),
        caps.per_capability
            .get(&36)
            .map(|m| m.values().map(|c| c.capacity).sum())
    );
    caps.per_capability.get(&36)?.get(tts::MODEL_ID).cloned()
}

async fn advertised_capacity(orch: &Orch) -> u32 {
    advertised_tts(orch).await.map_or(0, |m| m.capacity)
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("client")
}

#[tokio::test]
async fn a_remote_worker_serves_text_to_speech_through_a_gateway() {
    let orch = remote_only_orchestrator().await;
    assert_eq!(advertised_tts(&orch).await, None, "no worker yet");
    let worker = RemoteWorker::start(&orch, SECRET, tts_runners().await);
    assert!(
        eventually(WAIT, || async { advertised_capacity(&orch).await == 1 }).await,
        "the worker's model is advertised"
    );
    let model = advertised_tts(&orch).await.expect("advertised");
    assert!(model.warm);
    assert_eq!(model.capacity_in_use, 0);
    assert_eq!(model.runner_version, livepeer_ai::server::RUNNER_VERSION);

    let gw = Gateway::start(vec![orch.uri.clone()], Vec::new()).await;
    let resp = reqwest::Client::new()
        .post(format!("{}/text-to-speech", gw.base))
        .header("content-type", "application/json")
        .body(json!({"model_id": tts::MODEL_ID, "text": "A remote worker speaks."}).to_string())
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json");
    let url = body["audio"]["url"].as_str().expect("url");
    assert!(url.ends_with(".wav"), "{url}");
    let wav = reqwest::get(format!("{}{url}", gw.base))
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(&wav[..4], b"RIFF");
    assert!(wav.len() > 10_000, "{} bytes of speech", wav.len());

    // The worker leaves: its model is no longer offered.
    worker.stop().await;
    assert!(
        eventually(WAIT, || async { advertised_tts(&orch).await.is_none() }).await,
        "the model is withdrawn when the worker leaves"
    );
    gw.stop().await;
    orch.stop().await;
}

#[tokio::test]
async fn wrong_secrets_are_refused() {
    let orch = remote_only_orchestrator().await;
    let runners = tts_runners().await;
    let worker = RemoteWorker::start(&orch, "not-the-secret", runners.clone());
    let ended = tokio::time::timeout(WAIT, worker.task)
        .await
        .expect("a refused worker stops")
        .expect("no panic");
    match ended {
        Err(OrchestratorError::AiWorkerRefused(text)) => assert_eq!(text, "invalid secret"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(advertised_tts(&orch).await, None);

    // /aiResults checks who posts, and what.
    let post = |headers: Vec<(&'static str, &'static str)>| {
        let mut req = http().post(format!("{}/aiResults", orch.base)).body("boom");
        for (name, value) in headers {
            req = req.header(name, value);
        }
        async move {
            let resp = req.send().await.expect("send");
            (resp.status().as_u16(), resp.text().await.expect("text"))
        }
    };
    let good = [
        ("Authorization", AI_WORKER_PROTOCOL),
        ("Credentials", SECRET),
        ("Content-Type", "livepeer/ai-worker-error"),
        ("TaskId", "12345"),
    ];
    let with = |name: &str, value: &'static str| {
        good.iter()
            .map(|&(n, v)| if n == name { (n, value) } else { (n, v) })
            .collect::<Vec<_>>()
    };
    assert_eq!(
        post(with("Authorization", "Livepeer-Transcoder-1.0")).await,
        (401, "Unauthorized".into())
    );
    assert_eq!(
        post(with("Credentials", "guess")).await,
        (401, "Unauthorized".into())
    );
    assert_eq!(
        post(with("TaskId", "seven")).await,
        (400, "Invalid Task ID".into())
    );
    assert_eq!(post(with("Content-Type", "")).await.0, 415);
    // A task nobody waits for is acknowledged and dropped, as go-livepeer does.
    assert_eq!(post(good.to_vec()).await, (200, "OK".into()));
    runners.shutdown().await;
    orch.stop().await;

    // Without -orchSecret there is no AIWorker service.
    let orch = Orch::start(|c| c.transcoder = None).await;
    let http = livepeer_server::peer_client::client::<tonic::body::Body>(Duration::from_secs(3));
    let mut grpc = net::ai_worker_client::AiWorkerClient::with_origin(http, orch.uri.clone());
    let refused = grpc
        .register_ai_worker(net::RegisterAiWorkerRequest {
            secret: SECRET.into(),
            ..Default::default()
        })
        .await
        .expect_err("no service");
    assert_eq!(refused.code(), tonic::Code::Unimplemented);
    orch.stop().await;
}

/// As go-livepeer, an orchestrator takes remote AI workers of its own version or later
/// (pre-release suffixes ignored) and refuses older ones, and ones that give no version.
#[tokio::test]
async fn workers_older_than_the_orchestrator_are_refused() {
    use livepeer_primitives::LIVEPEER_VERSION;
    let orch = remote_only_orchestrator().await;
    let runners = tts_runners().await;
    let register = |version: &str| {
        let mut caps = livepeer_orchestrator::remote_ai_worker::worker_capabilities(&runners);
        caps.version = version.to_string();
        let orch_uri = orch.uri.clone();
        async move {
            let http =
                livepeer_server::peer_client::client::<tonic::body::Body>(Duration::from_secs(3));
            let mut grpc = net::ai_worker_client::AiWorkerClient::with_origin(http, orch_uri);
            grpc.register_ai_worker(net::RegisterAiWorkerRequest {
                secret: SECRET.into(),
                capabilities: Some(livepeer_proto::convert::capabilities_to_net(&caps)),
                hardware: Vec::new(),
            })
            .await
        }
    };
    for old in ["0.8.9", "0.9.0", "", "undefined", "not-a-version"] {
        let refused = register(old).await.expect_err(old);
        assert!(
            refused
                .message()
                .starts_with("version not compatible: worker version"),
            "{old}: {}",
            refused.message()
        );
        assert_eq!(advertised_tts(&orch).await, None, "{old} was taken");
    }
    for ok in [
        LIVEPEER_VERSION.to_string(),
        format!("{LIVEPEER_VERSION}-dev"),
        "1.0.0".into(),
    ] {
        let stream = register(&ok).await.unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert!(
            eventually(WAIT, || async { advertised_tts(&orch).await.is_some() }).await,
            "{ok}: the worker's model is not advertised"
        );
        drop(stream);
        assert!(
            eventually(WAIT, || async { advertised_tts(&orch).await.is_none() }).await,
            "{ok}: the model stays after the worker left"
        );
    }
    runners.shutdown().await;
    orch.stop().await;
}

/// The GPU [`hanging_runner`] says it runs on (`/hardware/info`'s `gpu_info`).
fn runner_gpu() -> Value {
    json!({"0": {"id": "GPU-5f2a", "name": "NVIDIA H200", "memory_total": 150_000_000_000u64,
                 "memory_free": 149_000_000_000u64, "major": 9, "minor": 0}})
}

/// An external runner that is healthy but never answers a request; counts the requests.
async fn hanging_runner() -> (String, Arc<AtomicUsize>, CancellationToken) {
    let requests = Arc::new(AtomicUsize::new(0));
    let seen = requests.clone();
    let app = axum::Router::new()
        .route(
            "/health",
            get(|| async { axum::Json(json!({"status": "OK"})) }),
        )
        .route(
            "/version",
            get(|| async {
                axum::Json(json!({
                    "pipeline": "text-to-speech",
                    "model_id": tts::MODEL_ID,
                    "version": livepeer_ai::server::RUNNER_VERSION,
                }))
            }),
        )
        .route(
            "/hardware/info",
            get(|| async {
                axum::Json(json!({
                    "pipeline": "text-to-speech",
                    "model_id": tts::MODEL_ID,
                    "gpu_info": runner_gpu(),
                }))
            }),
        )
        .route(
            "/text-to-speech",
            post(move || {
                let seen = seen.clone();
                async move {
                    seen.fetch_add(1, Ordering::SeqCst);
                    std::future::pending::<()>().await;
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let stop = CancellationToken::new();
    let until = stop.clone();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { until.cancelled().await })
            .await
    });
    (url, requests, stop)
}

/// A text-to-speech request straight to the orchestrator, as a gateway sends it.
async fn speak(
    orch: &Orch,
    text: &str,
) -> impl std::future::Future<Output = reqwest::Result<reqwest::Response>> + use<> {
    let info = OrchestratorClient::new()
        .get_orchestrator(&orch.uri, net::OrchestratorRequest::default())
        .await
        .expect("GetOrchestrator");
    let creds = encode_header(&net::SegData {
        manifest_id: format!("36_{}", tts::MODEL_ID).into_bytes(),
        auth_token: info.auth_token,
        ..Default::default()
    });
    http()
        .post(format!("{}/text-to-speech", orch.base))
        .header("Authorization", AI_WORKER_PROTOCOL)
        .header("Content-Type", "application/json")
        .header(SEGMENT_HEADER, creds)
        .header("Livepeer-Payment", "")
        .body(json!({"model_id": tts::MODEL_ID, "text": text}).to_string())
        .send()
}

/// A remote worker whose only runner is [`hanging_runner`].
async fn hanging_worker(orch: &Orch) -> (RemoteWorker, Arc<AtomicUsize>, CancellationToken) {
    let (url, requests, stop_runner) = hanging_runner().await;
    let configs = parse_json(
        &json!([{"pipeline": "text-to-speech", "model_id": tts::MODEL_ID, "warm": true, "url": url}])
            .to_string(),
    )
    .expect("config");
    let runners = Arc::new(
        AiWorker::start(&configs, &ModelsDir::discover().expect("models"))
            .await
            .expect("the external runner is healthy"),
    );
    (
        RemoteWorker::start(orch, SECRET, runners),
        requests,
        stop_runner,
    )
}

/// go-livepeer `getOrchestrator`: asked without capabilities, an orchestrator lists the
/// hardware its AI runs on, its remote workers' as they registered it (from their runners'
/// `/hardware/info`).
#[tokio::test]
async fn get_orchestrator_lists_the_remote_workers_hardware() {
    let orch = remote_only_orchestrator().await;
    let (worker, _, stop_runner) = hanging_worker(&orch).await;
    assert!(
        eventually(WAIT, || async { advertised_tts(&orch).await.is_some() }).await,
        "the worker never registered"
    );
    let hardware = |request: net::OrchestratorRequest| {
        let uri = orch.uri.clone();
        async move {
            OrchestratorClient::new()
                .get_orchestrator(&uri, request)
                .await
                .expect("GetOrchestrator")
                .hardware
        }
    };
    let gpu = net::GpuComputeInfo {
        id: "GPU-5f2a".into(),
        name: "NVIDIA H200".into(),
        major: 9,
        minor: 0,
        memory_free: 149_000_000_000,
        memory_total: 150_000_000_000,
    };
    assert_eq!(
        hardware(net::OrchestratorRequest::default()).await,
        [net::HardwareInformation {
            pipeline: "text-to-speech".into(),
            model_id: tts::MODEL_ID.into(),
            gpu_info: [("0".to_string(), gpu)].into(),
        }]
    );
    // A request for a job gets none (as go-livepeer).
    let job = net::OrchestratorRequest {
        capabilities: Some(net::Capabilities::default()),
        ..Default::default()
    };
    assert!(hardware(job).await.is_empty());
    worker.stop().await;
    stop_runner.cancel();
    orch.stop().await;
}

#[tokio::test]
async fn a_job_whose_only_worker_goes_away_fails_so_the_gateway_can_retry() {
    let orch = remote_only_orchestrator().await;
    let (worker, requests, stop_runner) = hanging_worker(&orch).await;
    assert!(eventually(WAIT, || async { advertised_capacity(&orch).await == 1 }).await);
    let answer = tokio::spawn(speak(&orch, "Nobody left.").await);
    assert!(eventually(WAIT, || async { requests.load(Ordering::SeqCst) == 1 }).await);
    worker.stop().await;
    let resp = tokio::time::timeout(WAIT, answer)
        .await
        .expect("answered when the worker left")
        .expect("no panic")
        .expect("response");
    assert_eq!(resp.status(), 500);
    assert_eq!(
        resp.text().await.expect("text").trim(),
        "no workers can process job requested"
    );
    // Nothing serves the model now: the next request is refused before any work.
    let resp = speak(&orch, "Anyone?").await.await.expect("response");
    assert_eq!(resp.status(), 503);
    assert_eq!(
        resp.text().await.expect("text").trim(),
        "insufficient capacity"
    );
    stop_runner.cancel();
    orch.stop().await;
}

#[tokio::test]
async fn a_job_moves_to_another_worker_when_its_worker_goes_away() {
    let orch = remote_only_orchestrator().await;
    // The hanging worker registers first, so it gets the job (equal loads: first registered).
    let (first, requests, stop_runner) = hanging_worker(&orch).await;
    assert!(eventually(WAIT, || async { advertised_capacity(&orch).await == 1 }).await);
    let second = RemoteWorker::start(&orch, SECRET, tts_runners().await);
    assert!(eventually(WAIT, || async { advertised_capacity(&orch).await == 2 }).await);

    let answer = tokio::spawn(speak(&orch, "Handed over.").await);
    assert!(
        eventually(WAIT, || async { requests.load(Ordering::SeqCst) == 1 }).await,
        "the job reached the hanging runner"
    );
    assert_eq!(
        advertised_tts(&orch).await.expect("model").capacity_in_use,
        1
    );
    first.stop().await;

    let resp = tokio::time::timeout(WAIT, answer)
        .await
        .expect("answered after the hand-over")
        .expect("no panic")
        .expect("response");
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.expect("json");
    let url = body["audio"]["url"].as_str().expect("url");
    assert!(url.starts_with(&format!("{}/stream/", orch.base)), "{url}");
    let wav = http()
        .get(url)
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(&wav[..4], b"RIFF");
    let left = advertised_tts(&orch)
        .await
        .expect("the second worker stays");
    assert_eq!((left.capacity, left.capacity_in_use), (1, 0));
    assert_eq!(
        requests.load(Ordering::SeqCst),
        1,
        "not sent to the gone worker again"
    );

    second.stop().await;
    stop_runner.cancel();
    orch.stop().await;
}

async fn post_llm(orch: &Orch, body: &Value) -> reqwest::Response {
    let info = OrchestratorClient::new()
        .get_orchestrator(&orch.uri, net::OrchestratorRequest::default())
        .await
        .expect("GetOrchestrator");
    let model = livepeer_ai::llm::LlmEngine::MODEL_ID;
    let creds = encode_header(&net::SegData {
        manifest_id: format!("33_{model}").into_bytes(),
        auth_token: info.auth_token,
        ..Default::default()
    });
    http()
        .post(format!("{}/llm", orch.base))
        .header("Authorization", AI_WORKER_PROTOCOL)
        .header("Content-Type", "application/json")
        .header(SEGMENT_HEADER, creds)
        .header("Livepeer-Payment", "")
        .body(body.to_string())
        .send()
        .await
        .expect("send")
}

#[tokio::test]
async fn llm_answers_whole_and_streamed_through_a_remote_worker() {
    let model = livepeer_ai::llm::LlmEngine::MODEL_ID;
    let orch = remote_only_orchestrator().await;
    let runners = Arc::new(
        AiWorker::start(
            &parse_ai_models(&format!("llm:{model}:true")).expect("config"),
            &ModelsDir::discover().expect("models"),
        )
        .await
        .expect("the LLM loads"),
    );
    let worker = RemoteWorker::start(&orch, SECRET, runners);
    assert!(
        eventually(WAIT, || async {
            let info = OrchestratorClient::new()
                .get_orchestrator(&orch.uri, net::OrchestratorRequest::default())
                .await
                .expect("GetOrchestrator");
            let caps = livepeer_proto::convert::capabilities_from_net(info.capabilities.as_ref());
            caps.per_capability
                .get(&33)
                .is_some_and(|m| m.contains_key(model))
        })
        .await
    );
    let body = json!({
        "model": model,
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is the capital of France?"}
        ],
        "temperature": 0,
        "max_tokens": 24
    });
    let resp = post_llm(&orch, &body).await;
    assert_eq!(resp.status(), 200);
    let whole: Value = resp.json().await.expect("json");
    let content = whole["choices"][0]["message"]["content"]
        .as_str()
        .expect("content")
        .to_string();
    assert!(content.contains("Paris"), "{content}");

    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let resp = post_llm(&orch, &streamed).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .expect("ct")
            .starts_with("text/event-stream")
    );
    let text = resp.text().await.expect("body");
    let events: Vec<&str> = text
        .split("\n\n")
        .filter(|e| !e.is_empty())
        .map(|e| e.strip_prefix("data: ").expect("data: event"))
        .collect();
    assert_eq!(events.last(), Some(&"[DONE]"), "{text}");
    let joined: String = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str::<Value>(e).expect("chunk json"))
        .map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(
        joined, content,
        "the stream says what the whole answer says"
    );
    worker.stop().await;
    orch.stop().await;
}
