//! AI on the orchestrator, off-chain: a built-in text-to-speech runner (the real espeak-ng)
//! behind `POST /text-to-speech`, the capability advertisement, the checks before the runner
//! (403, 400, 503) and the result served back as a URL.

use std::sync::Arc;

use livepeer_ai::worker::AiWorker;
use livepeer_ai::{Pipeline, tts};
use livepeer_gateway::client::OrchestratorClient;
use livepeer_orchestrator::ai::AI_WORKER_PROTOCOL;
use livepeer_proto::headers::{SEGMENT_HEADER, encode_header};
use livepeer_proto::net;
use serde_json::{Value, json};

use livepeer_testing::orchestrator::Orch;

async fn ai_orchestrator() -> (Orch, Arc<AiWorker>) {
    livepeer_testing::orchestrator::ai_orchestrator(&format!(
        "text-to-speech:{}:true",
        tts::MODEL_ID
    ))
    .await
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("client")
}

async fn seg_creds(orch: &Orch) -> String {
    let info = OrchestratorClient::new()
        .get_orchestrator(&orch.uri, net::OrchestratorRequest::default())
        .await
        .expect("GetOrchestrator");
    let seg = net::SegData {
        manifest_id: format!("36_{}", tts::MODEL_ID).into_bytes(),
        auth_token: info.auth_token,
        ..Default::default()
    };
    encode_header(&seg)
}

async fn post(orch: &Orch, path: &str, creds: Option<&str>, body: Value) -> (u16, String) {
    let mut req = http()
        .post(format!("{}{path}", orch.base))
        .header("Authorization", AI_WORKER_PROTOCOL)
        .header("Content-Type", "application/json")
        .body(body.to_string());
    if let Some(creds) = creds {
        req = req
            .header(SEGMENT_HEADER, creds)
            .header("Livepeer-Payment", "");
    }
    let resp = req.send().await.expect("send");
    (resp.status().as_u16(), resp.text().await.expect("body"))
}

#[tokio::test]
async fn advertises_ai_capabilities_and_model_constraints() {
    let (orch, worker) = ai_orchestrator().await;
    let info = OrchestratorClient::new()
        .get_orchestrator(&orch.uri, net::OrchestratorRequest::default())
        .await
        .expect("GetOrchestrator");
    let caps = livepeer_proto::convert::capabilities_from_net(info.capabilities.as_ref());
    assert!(
        caps.bitstring
            .contains_id(Pipeline::TextToSpeech.capability())
    );
    assert!(!caps.bitstring.contains_id(Pipeline::Llm.capability()));
    assert_eq!(caps.capacities.get(&36), Some(&1));
    let model = &caps.per_capability[&36][tts::MODEL_ID];
    assert!(model.warm);
    assert_eq!(model.capacity, 1);
    assert_eq!(model.capacity_in_use, 0);
    assert_eq!(model.runner_version, livepeer_ai::server::RUNNER_VERSION);
    // Off-chain nothing is priced.
    assert!(info.capabilities_prices.is_empty());

    // A request in flight shows as capacity in use.
    let lease = worker
        .reserve(Pipeline::TextToSpeech, tts::MODEL_ID)
        .expect("a place");
    let info = OrchestratorClient::new()
        .get_orchestrator(&orch.uri, net::OrchestratorRequest::default())
        .await
        .expect("GetOrchestrator");
    let caps = livepeer_proto::convert::capabilities_from_net(info.capabilities.as_ref());
    assert_eq!(caps.per_capability[&36][tts::MODEL_ID].capacity_in_use, 1);
    drop(lease);
    orch.stop().await;
    worker.shutdown().await;
}

#[tokio::test]
async fn text_to_speech_through_the_orchestrator() {
    let (orch, worker) = ai_orchestrator().await;
    let creds = seg_creds(&orch).await;
    let (status, body) = post(
        &orch,
        "/text-to-speech",
        Some(&creds),
        json!({"model_id": tts::MODEL_ID, "text": "Orchestrators run the models."}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).expect("json");
    let url = body["audio"]["url"].as_str().expect("url");
    assert!(url.starts_with(&format!("{}/stream/", orch.base)), "{url}");
    assert!(url.ends_with(".wav"), "{url}");
    let wav = http()
        .get(url)
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(&wav[..4], b"RIFF");
    assert!(wav.len() > 10_000, "{} bytes", wav.len());
    orch.stop().await;
    worker.shutdown().await;
}

#[tokio::test]
async fn requests_are_refused_in_go_livepeers_order() {
    let (orch, worker) = ai_orchestrator().await;
    let creds = seg_creds(&orch).await;
    let tts_body = json!({"model_id": tts::MODEL_ID, "text": "hello"});

    // 403 without segment credentials.
    let (status, _) = post(&orch, "/text-to-speech", None, tts_body.clone()).await;
    assert_eq!(status, 403);

    // 400 for a body that is not the pipeline's request, and for an LLM without max_tokens.
    let (status, _) = post(&orch, "/text-to-speech", Some(&creds), json!({"text": 5})).await;
    assert_eq!(status, 400);
    let (status, body) = post(
        &orch,
        "/llm",
        Some(&creds),
        json!({"model": "HuggingFaceTB/SmolLM2-135M-Instruct", "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!((status, body.trim()), (400, "MaxTokens not specified"));

    // 503 for a model no runner serves, and while the only place is taken.
    let (status, body) = post(
        &orch,
        "/text-to-speech",
        Some(&creds),
        json!({"model_id": "parler-tts/parler-tts-large-v1", "text": "hello"}),
    )
    .await;
    assert_eq!((status, body.trim()), (503, "insufficient capacity"));
    let lease = worker
        .reserve(Pipeline::TextToSpeech, tts::MODEL_ID)
        .expect("a place");
    let (status, _) = post(&orch, "/text-to-speech", Some(&creds), tts_body.clone()).await;
    assert_eq!(status, 503);
    drop(lease);
    let (status, _) = post(&orch, "/text-to-speech", Some(&creds), tts_body.clone()).await;
    assert_eq!(status, 200);
    // The place is released once the answer is written.
    assert_eq!(worker.models()[0].in_use, 0);
    orch.stop().await;
    worker.shutdown().await;
}
