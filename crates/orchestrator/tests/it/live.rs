//! Live-video-to-video on the orchestrator, off-chain: the start request's checks and the
//! trickle channels on the service port.

use std::sync::Arc;

use livepeer_ai::tts;
use livepeer_ai::worker::AiWorker;
use serde_json::json;

use livepeer_testing::orchestrator::Orch;

/// An AI orchestrator whose only runner is text-to-speech: no live pipeline.
async fn orchestrator_without_live_runner() -> (Orch, Arc<AiWorker>) {
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

#[tokio::test]
async fn a_start_is_refused_without_a_model_or_a_runner_and_channels_are_served_on_the_service_port()
 {
    let (orch, worker) = orchestrator_without_live_runner().await;
    let http = http();
    let start = |body: serde_json::Value| {
        http.post(format!("{}/live-video-to-video", orch.base))
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
    };
    let answer = start(json!({"params": {}})).await.expect("send");
    assert_eq!(answer.status(), 400);
    assert_eq!(
        answer.text().await.expect("body").trim(),
        "model_id is required"
    );
    let answer = start(json!({"model_id": 7})).await.expect("send");
    assert_eq!(answer.status(), 400);
    let answer = start(json!({"model_id": "noop"})).await.expect("send");
    assert_eq!(answer.status(), 503);
    assert_eq!(
        answer.text().await.expect("body").trim(),
        "insufficient capacity"
    );
    assert_eq!(orch.handle.live_sessions(), 0);

    // The trickle server answers under /ai/trickle/ (go's "Stream not found" for no channel).
    let answer = http
        .get(format!("{}/ai/trickle/nothing-here/0", orch.base))
        .send()
        .await
        .expect("send");
    assert_eq!(answer.status(), 404);
    assert_eq!(
        answer.text().await.expect("body").trim(),
        "Stream not found"
    );
    orch.stop().await;
    worker.shutdown().await;
}
