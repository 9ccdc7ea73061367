//! live-video-to-video on the built-in runner, end to end over real HTTP on 127.0.0.1: a
//! trickle server with the session's four channels, the runner server with the live engine,
//! the real bikes clip cut into 1 s MPEG-TS segments and published in real time, the output
//! read back and decoded by the real ffmpeg, status events parsed.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use livepeer_ai::live::status::{EventEnvelope, PipelineStatus, params_hash};
use livepeer_ai::live::ts::TsFrameCounter;
use livepeer_ai::live::{
    Effect, LiveConfig, LiveEngine, LiveModel, PipelineSettings, PipelineState,
};
use livepeer_ai::schema::HealthStatus;
use livepeer_ai::server::{self, RunnerConfig, RunnerState};
use livepeer_ai::{Pipeline, client::RunnerClient};
use livepeer_media::live::LiveSegmenter;
use livepeer_media::testing::{BIKES_MP4, media_file};
use livepeer_media::{Ffmpeg, SegmentInfo};
use livepeer_trickle::wire::ORCHESTRATOR_BASE_PATH;
use livepeer_trickle::{
    PublisherConfig, ReadSeq, SubscriberConfig, TrickleConfig, TricklePublisher, TrickleServer,
    TrickleSubscriber,
};
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Longest any one wait of these tests may take before the test fails (a hang, not speed).
const HANG: Duration = Duration::from_secs(180);
/// Frames of the bikes clip.
const CLIP_FRAMES: usize = 250;

/// A trickle server on 127.0.0.1 (the orchestrator's base path), stopped on drop.
struct Trickle {
    server: TrickleServer,
    base: String,
    stop: CancellationToken,
}

impl Drop for Trickle {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Trickle {
    async fn start() -> Self {
        let server = TrickleServer::new(TrickleConfig::default());
        let app = axum::Router::new().nest(ORCHESTRATOR_BASE_PATH, server.router());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!(
            "http://{}{ORCHESTRATOR_BASE_PATH}",
            listener.local_addr().expect("addr")
        );
        let stop = CancellationToken::new();
        let shutdown = stop.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await
                .expect("serve");
        });
        Self { server, base, stop }
    }

    /// The four channels of session `mid`, as an orchestrator creates them.
    fn session(&self, mid: &str) -> Session {
        for (suffix, mime) in [
            ("", "video/MP2T"),
            ("-out", "video/MP2T"),
            ("-control", "application/json"),
            ("-events", "application/json"),
        ] {
            self.server
                .create_channel(&format!("{mid}{suffix}"), mime)
                .expect("channel");
        }
        Session {
            mid: mid.to_string(),
            input: format!("{}/{mid}", self.base),
            output: format!("{}/{mid}-out", self.base),
            control: format!("{}/{mid}-control", self.base),
            events: format!("{}/{mid}-events", self.base),
        }
    }
}

struct Session {
    mid: String,
    input: String,
    output: String,
    control: String,
    events: String,
}

impl Session {
    /// The runner's start request for this session.
    fn start_body(&self, model_id: &str, params: Value) -> Value {
        json!({
            "subscribe_url": self.input,
            "publish_url": self.output,
            "control_url": self.control,
            "events_url": self.events,
            "model_id": model_id,
            "params": params,
            "gateway_request_id": "req-1",
            "manifest_id": self.mid,
            "stream_id": "stream-1",
        })
    }
}

/// The runner server with a live engine, on 127.0.0.1.
struct LiveRunner {
    url: String,
    state: Arc<RunnerState>,
    stop: CancellationToken,
    served: Option<JoinHandle<std::io::Result<()>>>,
}

impl Drop for LiveRunner {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl LiveRunner {
    async fn start(model: LiveModel, config: LiveConfig) -> Self {
        let state = RunnerState::new(RunnerConfig {
            pipeline: Pipeline::LiveVideoToVideo,
            model_id: model.as_str().to_string(),
            auth_token: None,
            version: server::RUNNER_VERSION.to_string(),
        });
        let ffmpeg = Ffmpeg::locate().expect("ffmpeg");
        let engine = LiveEngine::new(model, ffmpeg, config).expect("engine");
        state.set_engine(Ok(Arc::new(engine)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let stop = CancellationToken::new();
        let shutdown = stop.clone();
        let served = tokio::spawn(server::serve(listener, state.clone(), async move {
            shutdown.cancelled().await
        }));
        Self {
            url,
            state,
            stop,
            served: Some(served),
        }
    }

    async fn post(&self, body: &Value) -> (u16, Value) {
        let resp = reqwest::Client::new()
            .post(format!("{}/live-video-to-video", self.url))
            .json(body)
            .send()
            .await
            .expect("send");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn health(&self) -> HealthStatus {
        RunnerClient::new(&self.url, None)
            .expect("client")
            .health()
            .await
            .expect("health")
    }

    /// Waits until `/health` says `want`.
    async fn health_becomes(&self, want: HealthStatus) {
        tokio::time::timeout(HANG, async {
            while self.health().await != want {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("health never became {want:?}"));
    }
}

/// The bikes clip cut into ~1 s MPEG-TS segments by stream copy.
async fn clip_segments(dir: &Path) -> Vec<SegmentInfo> {
    let ffmpeg = Ffmpeg::locate().expect("ffmpeg");
    let segments = ffmpeg
        .segment_file(&media_file(BIKES_MP4), dir, Duration::from_secs(1))
        .await
        .expect("segment the clip");
    assert!(segments.len() >= 5, "{} segments", segments.len());
    segments
}

/// Publishes `segments` into `url` as a live source does: one trickle segment each, each
/// after the previous one's duration; `after(i)` runs once segment `i` is published. Then
/// closes the channel (end of stream).
async fn publish_live(url: &str, segments: &[SegmentInfo], mut after: impl AsyncFnMut(usize)) {
    let mut publisher =
        TricklePublisher::connect(reqwest::Client::new(), url, PublisherConfig::default())
            .await
            .expect("input publisher");
    for (i, segment) in segments.iter().enumerate() {
        let data = tokio::fs::read(&segment.path).await.expect("segment file");
        publisher
            .publish(Bytes::from(data))
            .await
            .expect("publish input");
        after(i).await;
        tokio::time::sleep(segment.duration).await;
    }
    publisher.close().await.expect("close input");
}

/// Every segment of channel `url` from 0 until it closes.
fn read_channel(url: &str) -> JoinHandle<Vec<Bytes>> {
    let url = url.to_string();
    tokio::spawn(async move {
        let config = SubscriberConfig {
            start: ReadSeq::Seq(0),
            ..SubscriberConfig::default()
        };
        let mut subscriber = TrickleSubscriber::new(reqwest::Client::new(), &url, config);
        let mut segments = Vec::new();
        tokio::time::timeout(HANG, async {
            loop {
                match subscriber.next_segment().await {
                    Ok(Some(segment)) => segments.push(segment.bytes().await.expect("segment")),
                    Ok(None) => break,
                    Err(e) if e.is_end_of_stream() => break,
                    Err(e) => panic!("reading {url}: {e}"),
                }
            }
        })
        .await
        .expect("channel never closed");
        segments
    })
}

/// The events of an events channel's segments.
fn events(segments: &[Bytes]) -> Vec<EventEnvelope> {
    segments
        .iter()
        .map(|s| serde_json::from_slice(s).expect("event JSON"))
        .collect()
}

/// The status events among `events`.
fn statuses(events: &[EventEnvelope]) -> Vec<PipelineStatus> {
    events
        .iter()
        .filter(|e| e.event["type"] == "status")
        .map(|e| {
            assert_eq!(e.queue_event_type, "ai_stream_status");
            serde_json::from_value(e.event.clone()).expect("status event")
        })
        .collect()
}

/// What ffprobe decodes of an MPEG-TS file.
struct Decoded {
    codec: String,
    width: usize,
    height: usize,
    frames: usize,
}

async fn ffprobe(path: &Path) -> Decoded {
    let out = tokio::process::Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args([
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
        ])
        .args(["-of", "json"])
        .arg(path)
        .output()
        .await
        .expect("ffprobe");
    assert!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("ffprobe json");
    let s = &v["streams"][0];
    Decoded {
        codec: s["codec_name"].as_str().unwrap_or_default().to_string(),
        width: s["width"].as_u64().unwrap_or(0) as usize,
        height: s["height"].as_u64().unwrap_or(0) as usize,
        frames: s["nb_read_frames"]
            .as_str()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    }
}

/// Every frame of `input` as 8-bit luma, through `filter` (if any), `width` x `height`.
async fn luma_frames(
    input: &Path,
    filter: Option<&str>,
    width: usize,
    height: usize,
) -> Vec<Vec<u8>> {
    let mut cmd = tokio::process::Command::new("ffmpeg");
    cmd.args(["-v", "error", "-i"]).arg(input);
    if let Some(filter) = filter {
        cmd.args(["-vf", filter]);
    }
    let out = cmd
        .args([
            "-fps_mode",
            "passthrough",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "gray",
            "-",
        ])
        .output()
        .await
        .expect("ffmpeg decode");
    assert!(
        out.status.success(),
        "decode: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .chunks_exact(width * height)
        .map(<[u8]>::to_vec)
        .collect()
}

/// Mean absolute difference of two frames (every 7th pixel), 0–255.
fn mad(a: &[u8], b: &[u8]) -> f64 {
    let pairs: Vec<(u8, u8)> = a.iter().zip(b).step_by(7).map(|(x, y)| (*x, *y)).collect();
    pairs
        .iter()
        .map(|(x, y)| f64::from(x.abs_diff(*y)))
        .sum::<f64>()
        / pairs.len().max(1) as f64
}

fn inverted(frame: &[u8]) -> Vec<u8> {
    frame.iter().map(|p| 255 - p).collect()
}

/// Writes the output segments back to back into one MPEG-TS file.
fn write_ts(dir: &Path, name: &str, segments: &[Bytes]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, segments.concat()).expect("write output");
    path
}

#[tokio::test]
async fn noop_stream_reencodes_every_frame_and_reports_status() {
    let dir = tempfile::tempdir().expect("tmp");
    let segments = clip_segments(dir.path()).await;
    let trickle = Trickle::start().await;
    let session = trickle.session("noop1");
    let runner = LiveRunner::start(LiveModel::Noop, LiveConfig::default()).await;
    assert_eq!(runner.health().await, HealthStatus::Idle);

    let output = read_channel(&session.output);
    let event_segments = read_channel(&session.events);
    let (status, body) = runner
        .post(&session.start_body("noop", json!({"prompt": "anything"})))
        .await;
    assert_eq!(status, 200, "{body}");
    // ai-runner's answer: every LiveVideoToVideoResponse field empty.
    assert_eq!(
        body,
        json!({"subscribe_url": "", "publish_url": "", "control_url": "", "events_url": "",
               "request_id": "", "manifest_id": ""})
    );
    assert_eq!(runner.health().await, HealthStatus::Ok);

    publish_live(&session.input, &segments, async |_| {}).await;
    let output = output.await.expect("output reader");
    let events = events(&event_segments.await.expect("events reader"));
    runner.health_becomes(HealthStatus::Idle).await;

    // A live stream of short segments that decodes to the input's every frame, unchanged.
    assert!(output.len() >= 5, "{} output segments", output.len());
    let out_path = write_ts(dir.path(), "out.ts", &output);
    let decoded = ffprobe(&out_path).await;
    assert_eq!(decoded.codec, "h264");
    assert_eq!((decoded.width, decoded.height), (640, 272));
    let diff = decoded.frames.abs_diff(CLIP_FRAMES);
    assert!(
        diff * 50 <= CLIP_FRAMES,
        "{} frames out of {CLIP_FRAMES}",
        decoded.frames
    );
    let source = luma_frames(&media_file(BIKES_MP4), None, 640, 272).await;
    let out = luma_frames(&out_path, None, 640, 272).await;
    for i in [0, out.len() / 2, out.len() - 1] {
        let d = mad(&out[i], &source[i]);
        assert!(d < 4.0, "frame {i} differs from the source by {d:.1}");
    }
    // Each output segment counts its frames the way the status events do.
    let counted: u64 = output.iter().map(|s| TsFrameCounter::new().push(s)).sum();
    assert_eq!(counted as usize, decoded.frames);

    // Trace events and status events in ai-runner's envelope.
    assert_eq!(events[0].queue_event_type, "stream_trace");
    assert_eq!(events[0].event["type"], "runner_receive_stream_request");
    for kind in [
        "runner_receive_first_ingest_segment",
        "runner_send_first_processed_segment",
    ] {
        assert!(
            events
                .iter()
                .any(|e| e.event["type"] == kind && e.queue_event_type == "stream_trace"),
            "no {kind} event"
        );
    }
    let statuses = statuses(&events);
    assert!(statuses.len() >= 2, "{} status events", statuses.len());
    let first = &statuses[0];
    assert_eq!(first.pipeline, "noop");
    assert_eq!(first.state, PipelineState::Online);
    assert_eq!(
        first.inference_status.last_params,
        Some(json!({"prompt": "anything"}))
    );
    assert_eq!(
        first.inference_status.last_params_hash.as_deref(),
        Some(params_hash(&json!({"prompt": "anything"})).as_str())
    );
    let last = statuses.last().expect("a status");
    assert_eq!(last.state, PipelineState::Offline);
    assert!(last.input_status.last_input_time.is_some());
    assert!(last.inference_status.last_output_time.is_some());
    assert!(
        statuses
            .iter()
            .any(|s| s.input_status.fps > 0.0 && s.inference_status.fps > 0.0),
        "no status event measured the frame rates"
    );
    assert!(
        statuses
            .windows(2)
            .all(|w| w[0].timestamp <= w[1].timestamp)
    );
    assert_eq!(last.inference_status.last_error, None);
    // The runner closed the channels it published.
    assert!(!trickle.server.has_channel("noop1-out"));
    assert!(!trickle.server.has_channel("noop1-events"));
}

#[tokio::test]
async fn effects_stream_changes_the_picture_and_follows_control_updates() {
    let dir = tempfile::tempdir().expect("tmp");
    let segments = clip_segments(dir.path()).await;
    let trickle = Trickle::start().await;
    let session = trickle.session("fx1");
    let runner = LiveRunner::start(LiveModel::Effects, LiveConfig::default()).await;

    let output = read_channel(&session.output);
    let event_segments = read_channel(&session.events);
    let (status, body) = runner.post(&session.start_body("effects", json!({}))).await;
    assert_eq!(status, 200, "{body}");

    let mut control = TricklePublisher::connect(
        reqwest::Client::new(),
        &session.control,
        PublisherConfig {
            content_type: "application/json".into(),
            ..PublisherConfig::default()
        },
    )
    .await
    .expect("control publisher");
    let switch_after = 3;
    publish_live(&session.input, &segments, async |i| {
        let message = match i {
            1 => json!({"keep": "alive"}),
            i if i == switch_after => json!({"effect": "negate"}),
            i if i == switch_after + 2 => json!({"effect": "sepia"}),
            _ => return,
        };
        control
            .publish(Bytes::from(message.to_string()))
            .await
            .expect("control message");
    })
    .await;
    let output = output.await.expect("output reader");
    let events = events(&event_segments.await.expect("events reader"));

    let out_path = write_ts(dir.path(), "fx.ts", &output);
    let decoded = ffprobe(&out_path).await;
    assert_eq!(decoded.codec, "h264");
    assert_eq!((decoded.width, decoded.height), (512, 512));
    let diff = decoded.frames.abs_diff(CLIP_FRAMES);
    assert!(
        diff * 20 <= CLIP_FRAMES,
        "{} frames out of {CLIP_FRAMES}",
        decoded.frames
    );

    // The source as the pipeline frames it: scaled to cover 512x512, center-cropped.
    let fit = "scale=512:512:force_original_aspect_ratio=increase,crop=512:512";
    let source = luma_frames(&media_file(BIKES_MP4), Some(fit), 512, 512).await;
    let out = luma_frames(&out_path, None, 512, 512).await;
    let n = out.len().min(source.len());
    // Before the update: the cartoon look, far from the source and not its negative.
    for i in (0..25).step_by(6) {
        let (plain, negative) = (
            mad(&out[i], &source[i]),
            mad(&out[i], &inverted(&source[i])),
        );
        assert!(
            plain > 8.0 && plain < negative,
            "frame {i}: {plain:.1} / {negative:.1}"
        );
    }
    // After it (the rejected "sepia" changes nothing): the source's negative.
    for i in (n - 50..n).step_by(7) {
        let (plain, negative) = (
            mad(&out[i], &source[i]),
            mad(&out[i], &inverted(&source[i])),
        );
        assert!(
            negative < 8.0 && negative < plain,
            "frame {i}: {plain:.1} / {negative:.1}"
        );
    }

    let statuses = statuses(&events);
    assert_eq!(statuses[0].inference_status.last_params, Some(json!({})));
    let updated = statuses
        .iter()
        .position(|s| s.inference_status.last_params == Some(json!({"effect": "negate"})))
        .expect("a status event shows the update");
    let update = &statuses[updated].inference_status;
    assert_eq!(
        update.last_params_hash.as_deref(),
        Some("f2fdee38873d90571d64d35b21a584d0")
    );
    assert!(update.last_params_update_time > statuses[0].inference_status.last_params_update_time);
    // The keep-alive was no update; the bad update is an error that changed nothing.
    assert!(
        statuses
            .iter()
            .all(|s| s.inference_status.last_params != Some(json!({"keep": "alive"})))
    );
    let last = statuses.last().expect("status");
    assert_eq!(
        last.inference_status.last_params,
        Some(json!({"effect": "negate"}))
    );
    let error = last
        .inference_status
        .last_error
        .as_deref()
        .unwrap_or_default();
    assert!(
        error.contains("effect must be one of"),
        "last_error: {error}"
    );
    assert_eq!(last.state, PipelineState::Offline);
}

#[tokio::test]
async fn bad_starts_are_refused_and_leave_the_runner_idle() {
    let trickle = Trickle::start().await;
    let session = trickle.session("bad1");
    let runner = LiveRunner::start(LiveModel::Effects, LiveConfig::default()).await;
    let (status, body) = runner.post(&session.start_body("noop", json!({}))).await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"detail": {"msg": "pipeline configured with effects but called with noop."}})
    );
    let mut bad_url = session.start_body("effects", json!({}));
    bad_url["publish_url"] = json!("ftp://127.0.0.1/x");
    let (status, body) = runner.post(&bad_url).await;
    assert_eq!(
        (status, body["detail"]["msg"].clone()),
        (400, json!("publish_url must be an http or https URL"))
    );
    let (status, body) = runner
        .post(&session.start_body("effects", json!({"width": 100})))
        .await;
    assert_eq!(status, 400);
    assert!(
        body["detail"]["msg"]
            .as_str()
            .unwrap_or_default()
            .starts_with("params: width must be"),
        "{body}"
    );
    let (status, body) = runner.post(&json!({"publish_url": session.output})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "subscribe_url"]));
    assert_eq!(runner.health().await, HealthStatus::Idle);
    // Nothing touched the session's channels.
    assert!(trickle.server.has_channel("bad1-out"));
}

#[tokio::test]
async fn a_stream_without_input_goes_offline_and_closes_its_output() {
    let trickle = Trickle::start().await;
    let session = trickle.session("idle1");
    let config = LiveConfig {
        input_timeout: Duration::from_secs(2),
        ..LiveConfig::default()
    };
    let runner = LiveRunner::start(LiveModel::Noop, config).await;
    let output = read_channel(&session.output);
    let event_segments = read_channel(&session.events);
    let (status, _) = runner.post(&session.start_body("", json!({}))).await;
    assert_eq!(status, 200);
    assert!(output.await.expect("output").is_empty());
    let statuses = statuses(&events(&event_segments.await.expect("events")));
    let last = statuses.last().expect("status");
    assert_eq!(last.state, PipelineState::Offline);
    assert_eq!(last.input_status.last_input_time, None);
    runner.health_becomes(HealthStatus::Idle).await;
}

#[tokio::test]
async fn a_new_start_replaces_the_stream_and_shutdown_stops_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let segments = clip_segments(dir.path()).await;
    let trickle = Trickle::start().await;
    let first = trickle.session("rep1");
    let second = trickle.session("rep2");
    let mut runner = LiveRunner::start(LiveModel::Noop, LiveConfig::default()).await;

    let first_output = read_channel(&first.output);
    assert_eq!(
        runner.post(&first.start_body("noop", json!({}))).await.0,
        200
    );
    let mut input = TricklePublisher::connect(
        reqwest::Client::new(),
        &first.input,
        PublisherConfig::default(),
    )
    .await
    .expect("input");
    for segment in &segments[..3] {
        let data = tokio::fs::read(&segment.path).await.expect("segment");
        input.publish(Bytes::from(data)).await.expect("publish");
        tokio::time::sleep(segment.duration).await;
    }
    // The second start stops the first stream: its output channel is closed.
    let second_output = read_channel(&second.output);
    assert_eq!(
        runner.post(&second.start_body("noop", json!({}))).await.0,
        200
    );
    let first_output = first_output.await.expect("first output");
    assert!(
        !first_output.is_empty(),
        "the first stream published nothing"
    );
    assert!(!trickle.server.has_channel("rep1-out"));
    assert_eq!(runner.health().await, HealthStatus::Ok);

    // Stopping the runner stops the second stream and closes its channels.
    runner.stop.cancel();
    let served = runner.served.take().expect("server task");
    tokio::time::timeout(HANG, served)
        .await
        .expect("runner stopped")
        .expect("join")
        .expect("serve");
    assert!(second_output.await.expect("second output").is_empty());
    assert!(!trickle.server.has_channel("rep2-out"));
    assert!(!trickle.server.has_channel("rep2-events"));
    assert_eq!(runner.state.health(), HealthStatus::Idle);
}

#[tokio::test]
async fn every_effect_runs_in_ffmpeg() {
    let dir = tempfile::tempdir().expect("tmp");
    let segments = clip_segments(dir.path()).await;
    let ffmpeg = Ffmpeg::locate().expect("ffmpeg");
    for effect in Effect::ALL {
        let params = json!({"effect": effect.as_str(), "width": 384, "height": 448});
        let Value::Object(params) = params else {
            unreachable!()
        };
        let settings = PipelineSettings::from_params(LiveModel::Effects, &params).expect("params");
        let cuts = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = cuts.clone();
        let mut segmenter = LiveSegmenter::start(&ffmpeg, settings.ffmpeg_args(), move |cut| {
            sink.lock().expect("cuts").push(cut.data);
        })
        .await
        .expect("start ffmpeg");
        for segment in &segments[..2] {
            let data = tokio::fs::read(&segment.path).await.expect("segment");
            segmenter.write(&data).await.expect("feed ffmpeg");
        }
        segmenter.finish().await.expect("ffmpeg ran the filter");
        let cuts = cuts.lock().expect("cuts").clone();
        let path = write_ts(dir.path(), &format!("{effect}.ts"), &cuts);
        let decoded = ffprobe(&path).await;
        assert_eq!((decoded.width, decoded.height), (384, 448), "{effect}");
        assert!(decoded.frames >= 40, "{effect}: {} frames", decoded.frames);
    }
}

#[tokio::test]
async fn ts_frame_counter_matches_ffprobe_on_real_segments() {
    let dir = tempfile::tempdir().expect("tmp");
    let segments = clip_segments(dir.path()).await;
    let mut total = 0;
    for segment in &segments {
        let data = std::fs::read(&segment.path).expect("segment");
        let counted = TsFrameCounter::new().push(&data) as usize;
        assert_eq!(
            counted,
            ffprobe(&segment.path).await.frames,
            "{:?}",
            segment.path
        );
        total += counted;
    }
    assert_eq!(total, CLIP_FRAMES);
}

#[tokio::test]
async fn ai_models_entries_start_built_in_live_runners() {
    let configs = livepeer_ai::config::parse_ai_models(
        "live-video-to-video:noop:true,live-video-to-video:effects:false",
    )
    .expect("-aiModels");
    // Live pipelines read no model files.
    let models = livepeer_ai::ModelsDir::new("no-models-needed");
    let worker = livepeer_ai::worker::AiWorker::start(&configs, &models)
        .await
        .expect("worker");
    let served: Vec<(String, bool)> = worker
        .models()
        .into_iter()
        .map(|m| (m.model_id, m.warm))
        .collect();
    assert_eq!(
        served,
        [("noop".to_string(), true), ("effects".to_string(), false)]
    );

    let trickle = Trickle::start().await;
    let session = trickle.session("worker1");
    let lease = worker
        .reserve(Pipeline::LiveVideoToVideo, "effects")
        .expect("a live runner");
    let client = lease.client();
    assert_eq!(client.health().await.expect("health"), HealthStatus::Idle);
    let params: livepeer_ai::schema::LiveVideoToVideoParams =
        serde_json::from_value(session.start_body("effects", json!({"effect": "sketch"})))
            .expect("params");
    let output = read_channel(&session.output);
    let reply = client.live_video_to_video(&params).await.expect("start");
    assert_eq!(
        reply,
        livepeer_ai::schema::LiveVideoToVideoResponse::default()
    );
    assert_eq!(client.health().await.expect("health"), HealthStatus::Ok);
    let mut wrong = params.clone();
    wrong.model_id = "noop".into();
    match client.live_video_to_video(&wrong).await {
        Err(livepeer_ai::client::RunnerClientError::Status { status: 400, .. }) => {}
        other => panic!("another model's start: {other:?}"),
    }

    // The input's end ends the stream; the runner is idle again.
    trickle
        .server
        .close_channel("worker1")
        .expect("close input");
    assert!(output.await.expect("output").is_empty());
    tokio::time::timeout(HANG, async {
        while client.health().await.expect("health") != HealthStatus::Idle {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("idle again");
    drop(lease);
    worker.shutdown().await;
}

#[tokio::test]
async fn a_built_in_live_entry_of_capacity_two_serves_two_streams_on_two_runners() {
    let mut configs =
        livepeer_ai::config::parse_ai_models("live-video-to-video:noop:true").expect("-aiModels");
    configs[0].capacity = 2;
    let models = livepeer_ai::ModelsDir::new("no-models-needed");
    let worker = livepeer_ai::worker::AiWorker::start(&configs, &models)
        .await
        .expect("worker");
    let served = worker.models();
    assert_eq!(served.len(), 1, "{served:?}");
    assert_eq!(
        served[0].capacity, 2,
        "advertised as one model of capacity 2"
    );
    // A live runner serves one stream (a second start replaces the first), so each place is
    // a runner of its own.
    let first = worker
        .reserve(Pipeline::LiveVideoToVideo, "noop")
        .expect("a first place");
    let second = worker
        .reserve(Pipeline::LiveVideoToVideo, "noop")
        .expect("a second place");
    assert_ne!(first.client().base_url(), second.client().base_url());
    assert!(
        worker.reserve(Pipeline::LiveVideoToVideo, "noop").is_none(),
        "a third stream finds no place"
    );
    drop(first);
    assert!(worker.reserve(Pipeline::LiveVideoToVideo, "noop").is_some());
    drop(second);
    worker.shutdown().await;
}
