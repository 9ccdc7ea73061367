//! Live-video-to-video end to end, off-chain: a real-time RTMP broadcast published with
//! `?pipeline=noop` goes gateway → orchestrator → the built-in `noop` runner over trickle and
//! comes back as the stream's HLS; parameter updates and the runner's status go through the
//! gateway's live API.

use std::process::Stdio;

use hyper::StatusCode;
use livepeer_media::testing::{BIKES_MP4, media_file};
use serde_json::{Value, json};

use crate::*;

#[tokio::test]
async fn an_rtmp_broadcast_with_a_live_pipeline_comes_back_processed_as_hls() {
    let (orch, worker) =
        livepeer_testing::orchestrator::ai_orchestrator("live-video-to-video:noop:true").await;
    let gw = Gateway::start_with(vec![orch.uri.clone()], Vec::new(), |c| {
        c.rtmp_addr = Some("127.0.0.1:0".into());
    })
    .await;
    let rtmp = gw.rtmp.expect("RTMP is on");
    let http = http();
    let broadcaster = broadcast(rtmp, "live/show?pipeline=noop&params=%7B%7D", 0);

    // While it streams: the session's status, and a parameter update taken.
    let status_path = "/live/video-to-video/show/status";
    let running = eventually(Duration::from_secs(20), || async {
        get(&http, &gw, status_path).await.status == StatusCode::OK
    })
    .await;
    assert!(running, "the live session never started");
    let status: Value =
        serde_json::from_slice(&get(&http, &gw, status_path).await.body).expect("status is JSON");
    assert_eq!(status["gateway_status"]["pipeline"], "noop", "{status}");
    let update = reqwest::Client::new()
        .post(format!("{}/live/video-to-video/show/update", gw.base))
        .body(json!({"note": "hello"}).to_string())
        .send()
        .await
        .expect("send");
    assert_eq!(update.status(), 200);
    // The update reaches the pipeline: the runner's next status event carries it.
    let reached = eventually(Duration::from_secs(20), || async {
        let status: Value =
            serde_json::from_slice(&get(&http, &gw, status_path).await.body).unwrap_or_default();
        status["inference_status"]["last_params"]["note"] == "hello" && status["type"] == "status"
    })
    .await;
    assert!(reached, "the update never showed in the runner's status");
    let unknown = reqwest::Client::new()
        .post(format!("{}/live/video-to-video/nobody/update", gw.base))
        .body("{}")
        .send()
        .await
        .expect("send");
    assert_eq!(unknown.status(), 404);
    let live = eventually(Duration::from_secs(30), || async {
        let text = get(&http, &gw, "/stream/show/source.m3u8").await.text();
        !playlist_entries(&text).is_empty() && !text.contains("#EXT-X-ENDLIST")
    })
    .await;
    assert!(live, "no processed output while the broadcast streams");

    let out = broadcaster.wait_with_output().await.expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let playlist = ended_playlist(&http, &gw, "show").await;
    let joined = joined_segments(&http, &gw, "show", &playlist).await;
    let (_, _, frames) = count_video(&joined).await;
    let clip = tokio::fs::read(media_file(BIKES_MP4)).await.expect("clip");
    let (_, _, source_frames) = count_video(&clip).await;
    let diff = (frames as f64 - source_frames as f64).abs() / source_frames as f64;
    assert!(
        diff <= 0.02,
        "{frames} frames came back for {source_frames} sent"
    );
    gw.stop().await;
    orch.stop().await;
    worker.shutdown().await;
}

/// The port of an orchestrator URL (`https://127.0.0.1:41234/`).
fn port_of(url: &str) -> Option<u16> {
    url.trim_end_matches('/').rsplit(':').next()?.parse().ok()
}

#[tokio::test]
async fn a_live_stream_moves_to_another_orchestrator_when_its_orchestrator_dies() {
    let (first, first_worker) =
        livepeer_testing::orchestrator::ai_orchestrator("live-video-to-video:noop:true").await;
    let (second, second_worker) =
        livepeer_testing::orchestrator::ai_orchestrator("live-video-to-video:noop:true").await;
    let gw = Gateway::start_with(
        vec![first.uri.clone(), second.uri.clone()],
        Vec::new(),
        |c| c.rtmp_addr = Some("127.0.0.1:0".into()),
    )
    .await;
    let rtmp = gw.rtmp.expect("RTMP is on");
    let http = http();
    // The bikes clip twice over (20 s), in real time.
    let broadcaster = broadcast(rtmp, "live/swap?pipeline=noop", 1);
    let status_path = "/live/video-to-video/swap/status";
    let status = || async {
        serde_json::from_slice::<Value>(&get(&http, &gw, status_path).await.body)
            .unwrap_or_default()
    };
    // Processed output comes from whichever orchestrator was picked.
    let flowing = eventually(Duration::from_secs(30), || async {
        let answer = get(&http, &gw, "/stream/swap/source.m3u8").await;
        answer.status == StatusCode::OK && !playlist_entries(&answer.text()).is_empty()
    })
    .await;
    assert!(flowing, "no processed output");
    let serving = status().await["gateway_status"]["orchestrator_url"]
        .as_str()
        .and_then(port_of)
        .expect("an orchestrator serves the stream");
    let (dead, dead_worker, alive, alive_worker) = if serving == first.addr.port() {
        (first, first_worker, second, second_worker)
    } else {
        (second, second_worker, first, first_worker)
    };
    assert_eq!(serving, dead.addr.port());
    // It dies mid-stream; within the output watchdog's time the other one serves.
    dead.stop().await;
    dead_worker.shutdown().await;
    let swapped = eventually(Duration::from_secs(30), || async {
        let s = status().await;
        s["gateway_status"]["orchestrator_url"]
            .as_str()
            .and_then(port_of)
            == Some(alive.addr.port())
    })
    .await;
    let after = status().await;
    assert!(swapped, "the stream never moved: {after}");
    assert_eq!(after["gateway_status"]["swaps"], 1, "{after}");
    assert!(
        after["gateway_status"]["error"]["error_message"].is_string(),
        "{after}"
    );

    let out = broadcaster.wait_with_output().await.expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "the broadcaster was cut off: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let playlist = ended_playlist(&http, &gw, "swap").await;
    // One playlist: the first orchestrator's output, a discontinuity, then the second's.
    let (_, tail) = playlist
        .split_once("#EXT-X-DISCONTINUITY")
        .unwrap_or_else(|| panic!("no discontinuity at the swap: {playlist}"));
    let joined = joined_segments(&http, &gw, "swap", tail).await;
    let (_, _, frames) = count_video(&joined).await;
    let clip = tokio::fs::read(media_file(BIKES_MP4)).await.expect("clip");
    let (_, _, clip_frames) = count_video(&clip).await;
    // The second orchestrator took at least the last 8 s of the 20 s broadcast.
    assert!(
        frames as f64 >= clip_frames as f64 * 0.8,
        "{frames} frames after the swap (the clip has {clip_frames})"
    );
    gw.stop().await;
    alive.stop().await;
    alive_worker.shutdown().await;
    drop(dead_worker);
}

/// A live runner that takes the start and then does nothing: no output, no events (a hung
/// pipeline). It answers the health and version checks of an orchestrator's AI worker.
async fn stalled_runner() -> (String, tokio::task::JoinHandle<()>) {
    use axum::routing::{get, post};
    let app = axum::Router::new()
        .route("/health", get(|| async { axum::Json(json!({"status": "IDLE"})) }))
        .route(
            "/version",
            get(|| async {
                axum::Json(
                    json!({"pipeline": "live-video-to-video", "model_id": "noop", "version": "0.1.0"}),
                )
            }),
        )
        .route(
            "/live-video-to-video",
            post(|| async { axum::Json(json!({"subscribe_url": "", "publish_url": ""})) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, task)
}

#[tokio::test]
async fn a_live_stream_leaves_an_orchestrator_whose_pipeline_produces_nothing() {
    // The hung one is warm, so it is picked first; the working one is cold.
    let (runner_url, runner) = stalled_runner().await;
    let dir = tempfile::tempdir().expect("tmp");
    let models = dir.path().join("aiModels.json");
    std::fs::write(
        &models,
        json!([{"pipeline": "live-video-to-video", "model_id": "noop", "warm": true, "url": runner_url}])
            .to_string(),
    )
    .expect("write");
    let (hung, hung_worker) =
        livepeer_testing::orchestrator::ai_orchestrator(models.to_str().expect("utf-8")).await;
    let (working, working_worker) =
        livepeer_testing::orchestrator::ai_orchestrator("live-video-to-video:noop:false").await;
    let gw = Gateway::start_with(
        vec![hung.uri.clone(), working.uri.clone()],
        Vec::new(),
        |c| {
            c.rtmp_addr = Some("127.0.0.1:0".into());
            c.live_out_segment_timeout = Duration::from_secs(4);
        },
    )
    .await;
    let rtmp = gw.rtmp.expect("RTMP is on");
    let http = http();
    let broadcaster = broadcast(rtmp, "live/hung?pipeline=noop", 1);
    let status = || async {
        serde_json::from_slice::<Value>(
            &get(&http, &gw, "/live/video-to-video/hung/status")
                .await
                .body,
        )
        .unwrap_or_default()
    };
    let on = |s: &Value, orch: &Orch| {
        s["gateway_status"]["orchestrator_url"]
            .as_str()
            .and_then(port_of)
            == Some(orch.addr.port())
    };
    let started = eventually(Duration::from_secs(20), || async {
        on(&status().await, &hung)
    })
    .await;
    assert!(
        started,
        "the warm orchestrator was not picked: {}",
        status().await
    );
    // No output for the watchdog's 4 s while input flows: the working one takes over.
    let swapped = eventually(Duration::from_secs(30), || async {
        on(&status().await, &working)
    })
    .await;
    let after = status().await;
    assert!(swapped, "the stream never left the hung pipeline: {after}");
    assert_eq!(
        after["gateway_status"]["error"]["error_message"], "timeout waiting for segments",
        "{after}"
    );
    let flowing = eventually(Duration::from_secs(30), || async {
        let answer = get(&http, &gw, "/stream/hung/source.m3u8").await;
        answer.status == StatusCode::OK && !playlist_entries(&answer.text()).is_empty()
    })
    .await;
    assert!(flowing, "no processed output after the swap");
    let out = broadcaster.wait_with_output().await.expect("ffmpeg runs");
    assert!(
        out.status.success(),
        "the broadcaster was cut off: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    ended_playlist(&http, &gw, "hung").await;
    gw.stop().await;
    hung.stop().await;
    working.stop().await;
    hung_worker.shutdown().await;
    working_worker.shutdown().await;
    runner.abort();
}

/// The stream's source playlist once it has ended (`#EXT-X-ENDLIST`, within 60 s).
pub(crate) async fn ended_playlist(http: &Http, gw: &Gateway, stream: &str) -> String {
    let path = format!("/stream/{stream}/source.m3u8");
    let last = std::sync::Mutex::new(String::new());
    let ended = eventually(Duration::from_secs(60), || async {
        let text = get(http, gw, &path).await.text();
        let ended = text.contains("#EXT-X-ENDLIST");
        *last.lock().expect("lock") = text;
        ended
    })
    .await;
    let playlist = last.into_inner().expect("lock");
    assert!(ended, "the stream never ended: {playlist}");
    playlist
}

/// The segments `playlist` (or a part of it) names, fetched from the stream and joined.
pub(crate) async fn joined_segments(
    http: &Http,
    gw: &Gateway,
    stream: &str,
    playlist: &str,
) -> Vec<u8> {
    let mut joined = Vec::new();
    for entry in playlist_entries(playlist) {
        let segment = get(http, gw, &format!("/stream/{stream}/{entry}")).await;
        assert_eq!(segment.status, StatusCode::OK);
        joined.extend_from_slice(&segment.body);
    }
    joined
}

/// A real-time RTMP broadcast of the bikes clip (played `1 + loops` times, stream copied) to
/// `rtmp://<rtmp>/<path>`.
fn broadcast(rtmp: std::net::SocketAddr, path: &str, loops: u32) -> tokio::process::Child {
    tokio::process::Command::new(ffmpeg().ffmpeg_path())
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-re"])
        .args(["-stream_loop", &loops.to_string(), "-i"])
        .arg(media_file(BIKES_MP4))
        .args(["-c", "copy", "-f", "flv"])
        .arg(format!("rtmp://{rtmp}/{path}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg starts")
}
