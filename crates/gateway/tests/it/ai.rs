//! The gateway's AI API, off-chain, in front of real orchestrators with the built-in
//! text-to-speech runner (the real espeak-ng): results re-hosted on the gateway, the
//! gateway's request checks and error envelope, and a failing runner retried on a second
//! orchestrator.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::routing::get;
use livepeer_ai::tts;
use livepeer_testing::gateway::Gateway;
use livepeer_testing::orchestrator::ai_orchestrator;
use serde_json::{Value, json};

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

/// An aiModels.json naming the runner at `url` for text-to-speech, warm; its directory
/// (keep it while the orchestrator starts) and path.
fn external_models_file(url: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tmp");
    let models = dir.path().join("aiModels.json");
    std::fs::write(
        &models,
        json!([{"pipeline": "text-to-speech", "model_id": tts::MODEL_ID, "url": url, "warm": true}]).to_string(),
    )
    .expect("write aiModels.json");
    (dir, models.to_str().expect("path").to_string())
}

#[tokio::test]
async fn a_failing_runner_is_retried_on_another_orchestrator() {
    let hits = Arc::new(AtomicUsize::new(0));
    let bad_url = failing_runner(hits.clone()).await;
    let (_dir, models) = external_models_file(&bad_url);
    let (bad, bad_worker) = ai_orchestrator(&models).await;
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

/// go-livepeer's refresh rule: a batch pool is rediscovered when fewer than
/// min(8, ⌈found / 2⌉) of its orchestrators are unsuspended, and every refresh serves one
/// round of each suspension, so failed orchestrators come back after a few requests rather
/// than after the pool's 10-minute TTL.
#[tokio::test]
async fn a_pool_left_with_too_few_unsuspended_orchestrators_is_refreshed() {
    assert_eq!(
        livepeer_gateway::ai::refresh_threshold(4),
        2,
        "the scenario below"
    );
    assert_eq!(
        livepeer_gateway::ai::SUSPENSION_PENALTY,
        3,
        "the scenario below"
    );
    let hits = Arc::new(AtomicUsize::new(0));
    let bad_url = failing_runner(hits.clone()).await;
    let (_dir, models) = external_models_file(&bad_url);
    let mut orchestrators = Vec::new();
    for _ in 0..3 {
        orchestrators.push(ai_orchestrator(&models).await);
    }
    orchestrators.push(ai_orchestrator(&format!("text-to-speech:{}:false", tts::MODEL_ID)).await);
    let uris = orchestrators.iter().map(|(o, _)| o.uri.clone()).collect();
    let gw = Gateway::start(uris, Vec::new()).await;
    let speak = || {
        post(
            &gw,
            "/text-to-speech",
            json!({"model_id": tts::MODEL_ID, "text": "Hi."}),
        )
    };
    // The three warm ones fail in turn and are suspended (for 3 refreshes); the cold one
    // answers. One unsuspended of four is below the threshold of 2: from now on every pick
    // refreshes first, the third failure's retry included.
    let (status, body) = speak().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    let (status, _) = speak().await;
    assert_eq!(status, 200);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        3,
        "still suspended after 2 refreshes"
    );
    // The third refresh ends their suspension: the warm ones are tried again.
    let (status, _) = speak().await;
    assert_eq!(status, 200);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        6,
        "the suspensions were not served by refreshes"
    );
    gw.stop().await;
    for (orch, worker) in orchestrators {
        orch.stop().await;
        worker.shutdown().await;
    }
}

/// With `-objectStore` the gateway saves AI results there (as go-livepeer saves them in its
/// node storage under the request id) and answers the object's URL; a store that refuses
/// the upload fails the request with a 500 and does not cost the orchestrator its place.
#[tokio::test]
async fn with_an_object_store_ai_results_are_saved_there() {
    use livepeer_objectstore::StoreUrl;
    use livepeer_testing::s3::{ACCESS_KEY, S3Server};

    let s3 = S3Server::start("results").await;
    let (orch, worker) = ai_orchestrator(&format!("text-to-speech:{}:true", tts::MODEL_ID)).await;
    let gw = Gateway::start_with(vec![orch.uri.clone()], Vec::new(), |c| {
        c.object_store = Some(StoreUrl::parse(&s3.store_url()).expect("store URL"));
    })
    .await;
    let (status, body) = post(
        &gw,
        "/text-to-speech",
        json!({"model_id": tts::MODEL_ID, "text": "Saved in the bucket."}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let url = body["audio"]["url"].as_str().expect("url");
    assert!(url.starts_with(&s3.base_url()), "{url}");
    let keys = s3.keys();
    assert_eq!(keys.len(), 1, "{keys:?}");
    // `<request id>/0.wav`: the request's own prefix in the bucket.
    let (request, file) = keys[0].split_once('/').expect("a prefix");
    assert!(
        request.len() == 16 && request.bytes().all(|b| b.is_ascii_hexdigit()) && file == "0.wav",
        "{keys:?}"
    );
    let stored = s3.object(&keys[0]).expect("the object");
    assert_eq!(&stored[..4], b"RIFF");
    let served = reqwest::get(url)
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
    assert_eq!(served.as_ref(), stored.as_slice());
    gw.stop().await;

    // A store that refuses the upload: 500, masked; the orchestrator still serves the next
    // request of a gateway with a working store.
    let bad = Gateway::start_with(vec![orch.uri.clone()], Vec::new(), |c| {
        c.object_store = Some(
            StoreUrl::parse(&s3.store_url_with(ACCESS_KEY, "not-the-secret")).expect("store URL"),
        );
    })
    .await;
    let (status, body) = post(
        &bad,
        "/text-to-speech",
        json!({"model_id": tts::MODEL_ID, "text": "Refused by the bucket."}),
    )
    .await;
    assert_eq!(
        (status, &body),
        (500, &json!({"error": {"message": "Internal Server Error"}}))
    );
    let (status, body) = post(
        &bad,
        "/text-to-speech",
        json!({"model_id": tts::MODEL_ID, "text": "Refused again, same orchestrator."}),
    )
    .await;
    assert_eq!(status, 500, "the orchestrator was not suspended: {body}");
    assert_eq!(s3.keys().len(), 1);
    bad.stop().await;
    orch.stop().await;
    worker.shutdown().await;
}

/// A healthy image-to-video runner answering every request with `frames` (PNG files) as one
/// video, as ai-runner's `VideoResponse` does.
async fn frames_runner(frames: Vec<Vec<u8>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let answer = json!({"frames": [frames
        .iter()
        .enumerate()
        .map(|(i, f)| json!({"url": livepeer_ai::builtin::data_url("image/png", f), "seed": 42 + i, "nsfw": false}))
        .collect::<Vec<_>>()]});
    let app = axum::Router::new()
        .route("/health", get(|| async { axum::Json(json!({"status": "OK"})) }))
        .route(
            "/version",
            get(|| async { axum::Json(json!({"pipeline": "image-to-video", "model_id": "stabilityai/stable-video-diffusion-img2vid-xt", "version": "0.14.1"})) }),
        )
        .route(
            "/image-to-video",
            axum::routing::post(move || {
                let answer = answer.clone();
                async move { axum::Json(answer) }
            }),
        );
    tokio::spawn(async move { axum::serve(listener, app).await });
    url
}

/// image-to-video through an external runner: the runner's frames come back from the
/// gateway as one H.264 MP4 of the requested size and frame rate, with the first frame's seed.
#[tokio::test]
async fn image_to_video_frames_come_back_as_an_mp4() {
    const MODEL: &str = "stabilityai/stable-video-diffusion-img2vid-xt";
    let dir = tempfile::tempdir().expect("tmp");
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=320x240:r=12",
        ])
        .args(["-frames:v", "14"])
        .arg(dir.path().join("%d.png"))
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
    let frames: Vec<Vec<u8>> = (1..=14)
        .map(|i| std::fs::read(dir.path().join(format!("{i}.png"))).expect("frame"))
        .collect();
    let runner = frames_runner(frames.clone()).await;
    let models = dir.path().join("aiModels.json");
    std::fs::write(
        &models,
        json!([{"pipeline": "image-to-video", "model_id": MODEL, "url": runner, "warm": true}])
            .to_string(),
    )
    .expect("aiModels.json");
    let (orch, worker) = ai_orchestrator(models.to_str().expect("path")).await;
    let gw = Gateway::start(vec![orch.uri.clone()], Vec::new()).await;
    let form = reqwest::multipart::Form::new()
        .text("model_id", MODEL)
        .text("width", "256")
        .text("height", "144")
        .text("fps", "7")
        .part(
            "image",
            reqwest::multipart::Part::bytes(frames[0].clone())
                .file_name("first.png")
                .mime_str("image/png")
                .expect("mime"),
        );
    let resp = reqwest::Client::new()
        .post(format!("{}/image-to-video", gw.base))
        .multipart(form)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.expect("JSON");
    let video = &body["images"][0];
    assert_eq!(video["seed"], 42, "{body}");
    let url = video["url"].as_str().expect("url");
    assert!(url.ends_with(".mp4"), "{url}");
    let mp4 = reqwest::get(format!("{}{url}", gw.base))
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
    let file = dir.path().join("video.mp4");
    std::fs::write(&file, &mp4).expect("write");
    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=codec_name,width,height,r_frame_rate,nb_read_frames",
        ])
        .args(["-of", "json"])
        .arg(&file)
        .output()
        .expect("ffprobe runs");
    let probe: Value = serde_json::from_slice(&probe.stdout).expect("ffprobe JSON");
    let stream = &probe["streams"][0];
    assert_eq!(stream["codec_name"], "h264", "{probe}");
    assert_eq!(
        (stream["width"].as_i64(), stream["height"].as_i64()),
        (Some(256), Some(144))
    );
    assert_eq!(stream["r_frame_rate"], "7/1");
    assert_eq!(stream["nb_read_frames"], "14");
    gw.stop().await;
    orch.stop().await;
    worker.shutdown().await;
}
