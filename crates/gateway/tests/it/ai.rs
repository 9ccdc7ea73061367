//! The gateway's AI API, off-chain, in front of real orchestrators with the built-in
//! text-to-speech runner (the real espeak-ng): results re-hosted on the gateway, the
//! gateway's request checks and error envelope, and a failing runner retried on a second
//! orchestrator.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::routing::get;
use livepeer_ai::config::parse_ai_models;
use livepeer_ai::worker::AiWorker;
use livepeer_ai::{ModelsDir, tts};
use livepeer_orchestrator::ai::AiConfig;
use livepeer_testing::gateway::Gateway;
use livepeer_testing::orchestrator::Orch;
use serde_json::{Value, json};

async fn ai_orchestrator(models: &str) -> (Orch, Arc<AiWorker>) {
    let dir = ModelsDir::discover().expect("models directory");
    let worker = Arc::new(
        AiWorker::start(&parse_ai_models(models).expect("aiModels"), &dir)
            .await
            .expect("runners start"),
    );
    let ai = AiConfig {
        worker: worker.clone(),
        prices: Vec::new(),
    };
    let orch = Orch::start(|c| {
        c.transcoder = None;
        c.ai = Some(ai);
    })
    .await;
    (orch, worker)
}

async fn post(gw: &Gateway, path: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(format!("{}{path}", gw.base))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn text_to_speech_through_the_gateway() {
    let (orch, worker) = ai_orchestrator(&format!("text-to-speech:{}:true", tts::MODEL_ID)).await;
    let gw = Gateway::start(vec![orch.uri.clone()], Vec::new()).await;
    let (status, body) = post(
        &gw,
        "/text-to-speech",
        json!({"model_id": tts::MODEL_ID, "text": "The gateway pays the orchestrator."}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let url = body["audio"]["url"].as_str().expect("url");
    assert!(
        url.starts_with("/stream/") && url.ends_with(".wav"),
        "{url}"
    );
    let wav = reqwest::get(format!("{}{url}", gw.base))
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(&wav[..4], b"RIFF");

    // The gateway's own checks, in its error envelope.
    let (status, body) = post(&gw, "/text-to-speech", json!({"model_id": tts::MODEL_ID})).await;
    assert_eq!(
        (status, &body),
        (
            400,
            &json!({"error": {"message": "text field is required"}})
        )
    );
    let (status, body) = post(&gw, "/llm", json!({"model": "x", "messages": []})).await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (400, Some("missing required fields"))
    );
    // No orchestrator serves the model: 503, masked.
    let (status, body) = post(
        &gw,
        "/text-to-speech",
        json!({"model_id": "parler-tts/parler-tts-large-v1", "text": "hi"}),
    )
    .await;
    assert_eq!(
        (status, &body),
        (
            503,
            &json!({"error": {"message": "Service Unavailable Error"}})
        )
    );
    gw.stop().await;
    orch.stop().await;
    worker.shutdown().await;
}

/// A runner that is healthy but fails every request, counting them.
async fn failing_runner(hits: Arc<AtomicUsize>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let app = axum::Router::new()
        .route("/health", get(|| async { axum::Json(json!({"status": "OK"})) }))
        .route(
            "/version",
            get(|| async { axum::Json(json!({"pipeline": "text-to-speech", "model_id": tts::MODEL_ID, "version": "0.14.1"})) }),
        )
        .route(
            "/text-to-speech",
            axum::routing::post(move || {
                let hits = hits.clone();
                async move {
                    hits.fetch_add(1, Ordering::SeqCst);
                    (
                        axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                        axum::Json(json!({"detail": {"msg": "Text-to-speech pipeline error."}})),
                    )
                }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

#[tokio::test]
async fn a_failing_runner_is_retried_on_another_orchestrator() {
    let hits = Arc::new(AtomicUsize::new(0));
    let bad_url = failing_runner(hits.clone()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let models = dir.path().join("aiModels.json");
    std::fs::write(
        &models,
        json!([{"pipeline": "text-to-speech", "model_id": tts::MODEL_ID, "url": bad_url, "warm": true}]).to_string(),
    )
    .expect("write aiModels.json");
    let (bad, bad_worker) = ai_orchestrator(models.to_str().expect("path")).await;
    let (good, good_worker) =
        ai_orchestrator(&format!("text-to-speech:{}:false", tts::MODEL_ID)).await;
    // The failing orchestrator is warm, so it is tried first.
    let gw = Gateway::start(vec![bad.uri.clone(), good.uri.clone()], Vec::new()).await;
    let (status, body) = post(
        &gw,
        "/text-to-speech",
        json!({"model_id": tts::MODEL_ID, "text": "Second time lucky."}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "the warm orchestrator was tried first"
    );
    // The failed orchestrator is suspended: the next request goes straight to the other.
    let (status, _) = post(
        &gw,
        "/text-to-speech",
        json!({"model_id": tts::MODEL_ID, "text": "Again."}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    gw.stop().await;
    bad.stop().await;
    good.stop().await;
    bad_worker.shutdown().await;
    good_worker.shutdown().await;
}
