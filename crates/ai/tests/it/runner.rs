//! The runner HTTP API over real engines, on 127.0.0.1: health, version, the schema checks
//! (422), the bearer token (401), the model check (400), the upload limit (413), and
//! text-to-speech with the real espeak-ng.

use std::sync::Arc;

use base64::Engine as _;
use livepeer_ai::builtin::load_builtin;
use livepeer_ai::client::{RunnerClient, RunnerClientError, RunnerReply};
use livepeer_ai::server::{self, RunnerConfig, RunnerState};
use livepeer_ai::{AiRequest, ModelsDir, Pipeline, tts};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// A runner on 127.0.0.1:0, stopped on drop.
pub struct TestRunner {
    pub url: String,
    pub state: Arc<RunnerState>,
    stop: CancellationToken,
}

impl Drop for TestRunner {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl TestRunner {
    /// A runner of `pipeline` serving `model_id`, engine not loaded yet.
    pub async fn start(pipeline: Pipeline, model_id: &str, token: Option<&str>) -> Self {
        let state = RunnerState::new(RunnerConfig {
            pipeline,
            model_id: model_id.to_string(),
            auth_token: token.map(str::to_string),
            version: server::RUNNER_VERSION.to_string(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let stop = CancellationToken::new();
        let shutdown = stop.clone();
        tokio::spawn(server::serve(listener, state.clone(), async move {
            shutdown.cancelled().await
        }));
        Self { url, state, stop }
    }

    /// A runner of a built-in pipeline with its engine loaded.
    pub async fn builtin(pipeline: Pipeline, model_id: &str, token: Option<&str>) -> Self {
        let runner = Self::start(pipeline, model_id, token).await;
        let models = ModelsDir::discover().expect("models directory (.setup/models)");
        let engine = load_builtin(pipeline, model_id, &models).await;
        assert!(
            engine.is_ok(),
            "load {pipeline}: {:?}",
            engine.as_ref().err()
        );
        runner.state.set_engine(engine);
        runner
    }

    pub fn client(&self, token: Option<&str>) -> RunnerClient {
        RunnerClient::new(&self.url, token.map(str::to_string)).expect("client")
    }

    pub async fn post_json(&self, path: &str, body: &str, token: Option<&str>) -> (u16, Value) {
        let mut req = reqwest::Client::new()
            .post(format!("{}{path}", self.url))
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }
}

/// Decodes a `data:<mime>;base64,` URL, checking its mime type.
pub fn data_url_bytes(url: &str, mime: &str) -> Vec<u8> {
    let prefix = format!("data:{mime};base64,");
    let b64 = url
        .strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{mime} data url: {}", &url[..40.min(url.len())]));
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64")
}

/// The duration of an audio file, by the real ffprobe.
pub fn audio_seconds(bytes: &[u8]) -> f64 {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("a.wav");
    std::fs::write(&path, bytes).expect("write");
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(&path)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("duration")
}

#[tokio::test]
async fn health_version_and_hardware() {
    let runner = TestRunner::start(Pipeline::TextToSpeech, tts::MODEL_ID, None).await;
    let client = runner.client(None);
    assert_eq!(
        client.health().await.expect("health"),
        livepeer_ai::schema::HealthStatus::Loading
    );
    // While loading, requests are refused rather than queued.
    let (status, body) = runner
        .post_json("/text-to-speech", r#"{"text":"hi"}"#, None)
        .await;
    assert_eq!(
        (status, body["detail"]["msg"].as_str()),
        (503, Some("Pipeline is loading."))
    );

    let models = ModelsDir::discover().expect("models");
    runner
        .state
        .set_engine(load_builtin(Pipeline::TextToSpeech, tts::MODEL_ID, &models).await);
    assert_eq!(
        client.health().await.expect("health"),
        livepeer_ai::schema::HealthStatus::Ok
    );
    let version = client.version().await.expect("version");
    assert_eq!(version.pipeline, "text-to-speech");
    assert_eq!(version.model_id, tts::MODEL_ID);
    assert_eq!(version.version, server::RUNNER_VERSION);
    let hw = client.hardware_info().await.expect("hardware");
    assert!(hw.gpu_info.is_empty());
    let stats: Value = reqwest::get(format!("{}/hardware/stats/", runner.url))
        .await
        .expect("stats")
        .json()
        .await
        .expect("json");
    assert_eq!(stats["gpu_stats"], json!({}));

    // Only the served pipeline is routed.
    let (status, body) = runner.post_json("/llm", "{}", None).await;
    assert_eq!((status, body), (404, json!({"detail": "Not Found"})));
}

#[tokio::test]
async fn a_model_that_fails_to_load_reports_error() {
    let runner = TestRunner::start(Pipeline::TextToSpeech, "someone/else", None).await;
    let models = ModelsDir::discover().expect("models");
    let engine = load_builtin(Pipeline::TextToSpeech, "someone/else", &models).await;
    assert!(engine.is_err());
    runner.state.set_engine(engine);
    assert_eq!(
        runner.client(None).health().await.expect("health"),
        livepeer_ai::schema::HealthStatus::Error
    );
    assert!(
        runner
            .state
            .load_error()
            .expect("reason")
            .contains(tts::MODEL_ID)
    );
    let (status, body) = runner
        .post_json("/text-to-speech", r#"{"text":"hi"}"#, None)
        .await;
    assert_eq!(
        (status, body["detail"]["msg"].as_str()),
        (500, Some("Text-to-speech pipeline error."))
    );
}

#[tokio::test]
async fn text_to_speech_speaks_for_as_long_as_the_text() {
    let runner = TestRunner::builtin(Pipeline::TextToSpeech, tts::MODEL_ID, None).await;
    let client = runner.client(None);
    let mut seconds = Vec::new();
    for text in [
        "Hello from the network.",
        "Livepeer is an open marketplace for video transcoding and artificial intelligence, \
         where gateways pay orchestrators with probabilistic micropayment tickets.",
    ] {
        let request = AiRequest::from_value(Pipeline::TextToSpeech, json!({ "text": text }))
            .expect("request");
        let RunnerReply::Json(body) = client.run(&request).await.expect("tts") else {
            panic!("json reply")
        };
        let wav = data_url_bytes(body["audio"]["url"].as_str().expect("url"), "audio/wav");
        assert_eq!(&wav[..4], b"RIFF");
        let secs = audio_seconds(&wav);
        // espeak-ng speaks 175 words a minute by default; allow for pauses and rounding.
        let words = text.split_whitespace().count() as f64;
        let expected = words * 60.0 / 175.0;
        assert!(
            secs > expected * 0.6 && secs < expected * 1.8,
            "{words} words took {secs} s (expected about {expected} s)"
        );
        seconds.push(secs);
    }
    assert!(seconds[1] > seconds[0] * 3.0, "{seconds:?}");
}

#[tokio::test]
async fn requests_are_checked_as_ai_runner_checks_them() {
    let runner = TestRunner::builtin(Pipeline::TextToSpeech, tts::MODEL_ID, Some("s3cret")).await;

    // Schema first: 422 with FastAPI's detail list.
    let (status, body) = runner
        .post_json("/text-to-speech", r#"{"text": 5}"#, None)
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["type"], "string_type");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "text"]));
    let (status, body) = runner.post_json("/text-to-speech", "{oops", None).await;
    assert_eq!(
        (status, body["detail"][0]["type"].as_str()),
        (422, Some("json_invalid"))
    );

    // Empty text is refused before the token is looked at, as ai-runner does.
    let (status, body) = runner.post_json("/text-to-speech", r#"{}"#, None).await;
    assert_eq!(
        (status, body["detail"]["msg"].as_str()),
        (400, Some("Text input must be provided."))
    );

    // The bearer token.
    for token in [None, Some("wrong")] {
        let (status, body) = runner
            .post_json("/text-to-speech", r#"{"text":"hi"}"#, token)
            .await;
        assert_eq!(
            (status, body["detail"]["msg"].as_str()),
            (401, Some("Invalid bearer token.")),
            "{token:?}"
        );
    }
    let request =
        AiRequest::from_value(Pipeline::TextToSpeech, json!({"text": "hi"})).expect("request");
    match runner.client(None).run(&request).await {
        Err(RunnerClientError::Status { status: 401, .. }) => {}
        other => panic!("expected 401, got {other:?}"),
    }
    assert!(runner.client(Some("s3cret")).run(&request).await.is_ok());

    // The model check.
    let (status, body) = runner
        .post_json(
            "/text-to-speech/",
            r#"{"text":"hi","model_id":"parler-tts/parler-tts-large-v1"}"#,
            Some("s3cret"),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["detail"]["msg"],
        format!(
            "pipeline configured with {} but called with parler-tts/parler-tts-large-v1",
            tts::MODEL_ID
        )
    );
}

#[tokio::test]
async fn oversize_uploads_get_413() {
    // The upload limit is checked before the engine runs: a runner whose model is still
    // loading answers it.
    let runner = TestRunner::start(Pipeline::ImageToText, "any/model", None).await;
    let big = vec![0u8; 51 * 1024 * 1024];
    let form = reqwest::multipart::Form::new().part(
        "image",
        reqwest::multipart::Part::bytes(big).file_name("big.png"),
    );
    let resp = reqwest::Client::new()
        .post(format!("{}/image-to-text", runner.url))
        .multipart(form)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 413);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["detail"]["msg"], "File size exceeds limit.");

    // A multipart pipeline without its file: 422 "Field required" at body.image.
    let form = reqwest::multipart::Form::new().text("prompt", "what is this");
    let resp = reqwest::Client::new()
        .post(format!("{}/image-to-text", runner.url))
        .multipart(form)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 422);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "image"]));
}

#[tokio::test]
async fn llm_answers_whole_and_streamed_with_token_usage() {
    let runner =
        TestRunner::builtin(Pipeline::Llm, livepeer_ai::llm::LlmEngine::MODEL_ID, None).await;
    let body = json!({
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is the capital of France?"}
        ],
        "temperature": 0,
        "max_tokens": 24
    });
    let (status, whole) = runner.post_json("/llm", &body.to_string(), None).await;
    assert_eq!(status, 200, "{whole}");
    let content = whole["choices"][0]["message"]["content"]
        .as_str()
        .expect("content");
    assert!(content.contains("Paris"), "{content}");
    let usage = &whole["usage"];
    let (prompt, completion) = (
        usage["prompt_tokens"].as_u64().expect("prompt"),
        usage["completion_tokens"].as_u64().expect("completion"),
    );
    assert!(prompt > 10 && (1..=24).contains(&completion), "{usage}");
    assert_eq!(usage["total_tokens"].as_u64(), Some(prompt + completion));
    assert_eq!(whole["model"], livepeer_ai::llm::LlmEngine::MODEL_ID);
    assert!(whole["id"].as_str().expect("id").starts_with("chatcmpl-"));

    // The same request streamed: SSE chunks whose deltas add up to the same (greedy) text,
    // the last with the finish reason and the same usage, then [DONE].
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    let resp = reqwest::Client::new()
        .post(format!("{}/llm", runner.url))
        .header("content-type", "application/json")
        .body(streamed.to_string())
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 200);
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
    assert_eq!(events.last(), Some(&"[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| serde_json::from_str(e).expect("chunk json"))
        .collect();
    let joined: String = chunks
        .iter()
        .map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(joined, content);
    let last = chunks.last().expect("chunks");
    assert!(
        !last["choices"][0]["finish_reason"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
    );
    assert_eq!(&last["usage"], usage);

    // Schema and engine bounds.
    let (status, body) = runner
        .post_json("/llm", r#"{"messages": "hi"}"#, None)
        .await;
    assert_eq!(
        (status, body["detail"][0]["type"].as_str()),
        (422, Some("list_type"))
    );
    let (status, _) = runner
        .post_json(
            "/llm",
            r#"{"messages": [{"role":"user","content":"hi"}], "max_tokens": 0}"#,
            None,
        )
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn image_to_text_reads_a_rendered_image() {
    let runner = TestRunner::builtin(
        Pipeline::ImageToText,
        livepeer_ai::ocr::OcrEngine::MODEL_ID,
        None,
    )
    .await;
    let dir = tempfile::tempdir().expect("tmp");
    let lines = [
        crate::ocr::Line {
            text: "Orchestrators sell inference",
            x: 30,
            y: 30,
            size: 40,
        },
        crate::ocr::Line {
            text: "Gateways pay per request 2026",
            x: 30,
            y: 110,
            size: 40,
        },
    ];
    let png = crate::ocr::render(
        dir.path(),
        "two.png",
        (820, 200),
        "white",
        None,
        "black",
        &lines,
    );
    let form = reqwest::multipart::Form::new()
        .text("model_id", livepeer_ai::ocr::OcrEngine::MODEL_ID)
        .part(
            "image",
            reqwest::multipart::Part::bytes(png).file_name("two.png"),
        );
    let resp = reqwest::Client::new()
        .post(format!("{}/image-to-text", runner.url))
        .multipart(form)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.expect("json");
    let text = body["text"].as_str().expect("text");
    let expected = "Orchestrators sell inference\nGateways pay per request 2026";
    let cer = crate::ocr::cer(expected, text);
    assert!(cer <= 0.10, "CER {cer:.3}: {text:?}");

    // Bytes that are no image: 400 with the engine's message.
    let form = reqwest::multipart::Form::new().part(
        "image",
        reqwest::multipart::Part::bytes(b"not an image".to_vec()).file_name("x.png"),
    );
    let resp = reqwest::Client::new()
        .post(format!("{}/image-to-text", runner.url))
        .multipart(form)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 400);
}

#[tokio::test]
async fn audio_to_text_transcribes_spoken_audio() {
    let model = livepeer_ai::speech::SpeechRecognizer::MODEL_ID;
    let runner = TestRunner::builtin(Pipeline::AudioToText, model, None).await;
    let dir = tempfile::tempdir().expect("tmp");
    let sentence = "please read this short sentence out loud and write it down";
    let wav = crate::speech::speak(dir.path(), "s", sentence, "wav");
    let form = reqwest::multipart::Form::new()
        .text("model_id", model)
        .part(
            "audio",
            reqwest::multipart::Part::bytes(wav).file_name("s.wav"),
        );
    let resp = reqwest::Client::new()
        .post(format!("{}/audio-to-text", runner.url))
        .multipart(form)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 200);
    let body: Value = resp.json().await.expect("json");
    let text = body["text"].as_str().expect("text");
    let wer = crate::speech::wer(sentence, text);
    assert!(wer <= 0.30, "WER {wer:.2}: {text:?}");
    let chunks = body["chunks"].as_array().expect("chunks");
    assert!(!chunks.is_empty());
    let start = chunks[0]["timestamp"][0].as_f64().expect("start");
    let end = chunks[chunks.len() - 1]["timestamp"][1]
        .as_f64()
        .expect("end");
    assert!(start >= 0.0 && end > start, "{chunks:?}");

    // Not audio: 415 with ai-runner's message.
    let form = reqwest::multipart::Form::new().part(
        "audio",
        reqwest::multipart::Part::bytes(b"not audio at all".to_vec()).file_name("x.wav"),
    );
    let resp = reqwest::Client::new()
        .post(format!("{}/audio-to-text", runner.url))
        .multipart(form)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status().as_u16(), 415);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(
        body["detail"]["msg"],
        "Unsupported audio format or malformed file."
    );
}
