//! A standalone AI worker as an operator runs it: `livepeer -aiWorker -orchAddr … -orchSecret
//! … -aiModels text-to-speech:espeak-ng/espeak-ng:true` registering with a standalone
//! orchestrator (`-orchestrator -orchSecret`, no runners of its own), a gateway in front, all
//! separate processes on 127.0.0.1.

use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Method;
use livepeer_gateway::client::OrchestratorClient;
use livepeer_proto::net;

use crate::remote::{Proc, port};

const SECRET: &str = "remote-ai-secret";
const TTS_MODEL: &str = "espeak-ng/espeak-ng";

/// The text-to-speech capacity the orchestrator on `service_port` advertises (0 without the
/// capability), or `None` while it does not answer.
async fn tts_capacity(service_port: u16) -> Option<u32> {
    let uri = format!("https://127.0.0.1:{service_port}").parse().ok()?;
    let info = OrchestratorClient::new()
        .get_orchestrator(&uri, net::OrchestratorRequest::default())
        .await
        .ok()?;
    let caps = livepeer_proto::convert::capabilities_from_net(info.capabilities.as_ref());
    Some(
        caps.per_capability
            .get(&36)
            .and_then(|models| models.get(TTS_MODEL))
            .map_or(0, |m| m.capacity),
    )
}

async fn until_capacity(service_port: u16, want: u32, what: &str, log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while tts_capacity(service_port).await != Some(want) {
        assert!(Instant::now() < deadline, "{what}\n{}", log());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_standalone_ai_worker_serves_its_orchestrator_until_it_goes() {
    let (service_port, gateway_port, cli_port) = (port(), port(), port());
    let orch = Proc::start(&[
        "-orchestrator",
        "-orchSecret",
        SECRET,
        "-serviceAddr",
        &format!("127.0.0.1:{service_port}"),
        "-cliAddr",
        &format!("127.0.0.1:{cli_port}"),
        "-monitor",
    ]);
    until_capacity(service_port, 0, "the orchestrator did not come up", || {
        orch.log()
    })
    .await;
    let mut worker = Proc::start(&[
        "-aiWorker",
        "-orchAddr",
        &format!("127.0.0.1:{service_port}"),
        "-orchSecret",
        SECRET,
        "-aiModels",
        &format!("text-to-speech:{TTS_MODEL}:true"),
        "-cliAddr",
        &format!("127.0.0.1:{}", port()),
    ]);
    until_capacity(
        service_port,
        1,
        "the worker's model is never advertised",
        || worker.log(),
    )
    .await;

    let _gateway = Proc::start(&[
        "-gateway",
        "-httpAddr",
        &format!("127.0.0.1:{gateway_port}"),
        "-orchAddr",
        &format!("127.0.0.1:{service_port}"),
        "-cliAddr",
        &format!("127.0.0.1:{}", port()),
    ]);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", gateway_port)).is_err() {
        assert!(Instant::now() < deadline, "the gateway did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let http = livepeer_testing::http();
    let gateway = format!("http://127.0.0.1:{gateway_port}");
    let body = serde_json::json!({"model_id": TTS_MODEL, "text": "Spoken by a remote worker."});
    let answer = livepeer_testing::request(
        &http,
        Method::POST,
        &format!("{gateway}/text-to-speech"),
        &[("content-type", "application/json")],
        Bytes::from(body.to_string()),
    )
    .await;
    assert_eq!(answer.status, 200, "{}\n{}", answer.text(), worker.log());
    let json: serde_json::Value = serde_json::from_slice(&answer.body).expect("json");
    let url = json["audio"]["url"].as_str().expect("audio url");
    let wav = livepeer_testing::request(
        &http,
        Method::GET,
        &format!("{gateway}{url}"),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(wav.status, 200);
    assert_eq!(&wav.body[..4], b"RIFF");

    // The operator sees the worker: in /status, /metrics and GetOrchestrator's hardware.
    let status = crate::remote::status(cli_port).await.expect("/status");
    let mut model = status["orchestrator"]["aiModels"][0].clone();
    assert!(
        model["runnerVersion"]
            .as_str()
            .is_some_and(|v| !v.is_empty()),
        "{status}"
    );
    model["runnerVersion"] = serde_json::Value::Null;
    assert_eq!(
        model,
        serde_json::json!({"pipeline": "text-to-speech", "modelId": TTS_MODEL,
            "warm": true, "capacity": 1, "inUse": 0, "runnerVersion": null}),
        "{status}"
    );
    let model = status["orchestrator"]["aiModels"][0].clone();
    let workers = status["orchestrator"]["aiWorkers"]
        .as_array()
        .expect("aiWorkers");
    assert_eq!(workers.len(), 1, "{status}");
    assert!(
        workers[0]["address"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.1:")),
        "{status}"
    );
    assert_eq!(workers[0]["models"], serde_json::json!([model]), "{status}");
    assert_eq!(
        status["orchestrator"]["aiModels"],
        serde_json::json!([model]),
        "{status}"
    );
    assert_eq!(
        crate::remote::metric(cli_port, "livepeer_ai_workers_number").await,
        Some(1.0)
    );
    assert_eq!(
        crate::remote::metric(cli_port, "livepeer_ai_container_idle").await,
        Some(1.0)
    );
    assert_eq!(
        crate::remote::metric(cli_port, "livepeer_ai_container_in_use").await,
        Some(0.0)
    );
    let uri = format!("https://127.0.0.1:{service_port}")
        .parse()
        .expect("uri");
    let info = OrchestratorClient::new()
        .get_orchestrator(&uri, net::OrchestratorRequest::default())
        .await
        .expect("GetOrchestrator");
    assert_eq!(
        info.hardware,
        [net::HardwareInformation {
            pipeline: "text-to-speech".into(),
            model_id: TTS_MODEL.into(),
            gpu_info: Default::default(),
        }],
        "a CPU runner: no GPUs"
    );

    // The worker dies: the orchestrator stops offering its model.
    worker.kill();
    until_capacity(service_port, 0, "the model outlives its worker", || {
        orch.log()
    })
    .await;
    let status = crate::remote::status(cli_port).await.expect("/status");
    assert_eq!(
        status["orchestrator"]["aiWorkers"],
        serde_json::json!([]),
        "{status}"
    );
    assert_eq!(
        crate::remote::metric(cli_port, "livepeer_ai_workers_number").await,
        Some(0.0)
    );
}

#[test]
fn a_standalone_ai_worker_needs_its_orchestrator_secret_and_models() {
    let models = format!("text-to-speech:{TTS_MODEL}:true");
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "-aiWorker",
                "-orchAddr",
                "127.0.0.1:9",
                "-aiModels",
                &models,
            ],
            "Missing -orchSecret",
        ),
        (
            &["-aiWorker", "-orchSecret", "s", "-aiModels", &models],
            "Missing -orchAddr",
        ),
        (
            &["-aiWorker", "-orchAddr", "127.0.0.1:9", "-orchSecret", "s"],
            "-aiWorker needs -aiModels",
        ),
        (
            &[
                "-aiWorker",
                "-orchAddr",
                "ftp://127.0.0.1:9",
                "-orchSecret",
                "s",
                "-aiModels",
                &models,
            ],
            "ftp://127.0.0.1:9",
        ),
    ];
    for (args, needle) in cases {
        let out = crate::livepeer(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}
