//! The MediaMTX start hook (`POST /live/video-to-video/{stream}/start`): the gateway pulls a
//! stream a media server holds, runs it through an orchestrator's live pipeline and pushes the
//! output to the stream's `rtmpOutput`. MediaMTX itself is not packaged for this machine; its
//! two parts the gateway talks to are stood in for by real servers: ffmpeg serving the clip
//! over RTMP (`-listen 1`), and an HTTP server taking the control API's kick.

use std::process::Stdio;
use std::sync::{Arc, Mutex};

use hyper::StatusCode;
use livepeer_media::testing::{BIKES_MP4, media_file};

use crate::*;

/// A port nobody listens on now (bound on 127.0.0.1 port 0, then let go).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// ffmpeg serving the bikes clip in real time to the one RTMP client that pulls
/// `rtmp://127.0.0.1:<port>/<path>` (as MediaMTX re-serves a published stream).
fn serve_clip(port: u16, path: &str) -> tokio::process::Child {
    tokio::process::Command::new(ffmpeg().ffmpeg_path())
        .args([
            "-hide_banner",
            "-nostdin",
            "-loglevel",
            "error",
            "-re",
            "-i",
        ])
        .arg(media_file(BIKES_MP4))
        .args(["-c", "copy", "-f", "flv", "-listen", "1"])
        .arg(format!("rtmp://127.0.0.1:{port}/{path}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg starts")
}

/// ffmpeg taking one RTMP publish on `rtmp://127.0.0.1:<port>/<path>` into the MPEG-TS file
/// `out` (an RTMP output's server).
fn take_publish(port: u16, path: &str, out: &std::path::Path) -> tokio::process::Child {
    tokio::process::Command::new(ffmpeg().ffmpeg_path())
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"])
        .args(["-listen", "1", "-f", "flv", "-i"])
        .arg(format!("rtmp://127.0.0.1:{port}/{path}"))
        .args(["-c", "copy", "-f", "mpegts"])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg starts")
}

/// MediaMTX's start hook call: `fields` as a multipart form, as MediaMTX's `curl -F` sends it.
async fn start_hook(gw: &Gateway, stream: &str, fields: &[(&str, &str)]) -> (u16, String) {
    let mut form = reqwest::multipart::Form::new();
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    let resp = reqwest::Client::new()
        .post(format!("{}/live/video-to-video/{stream}/start", gw.base))
        .multipart(form)
        .send()
        .await
        .expect("the gateway answers");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

#[tokio::test]
async fn a_mediamtx_stream_is_pulled_through_the_live_pipeline_and_pushed_to_its_rtmp_output() {
    let (orch, worker) =
        livepeer_testing::orchestrator::ai_orchestrator("live-video-to-video:noop:true").await;
    let gw = Gateway::start_with(vec![orch.uri.clone()], Vec::new(), |_| {}).await;
    let http = http();
    let dir = tempfile::tempdir().expect("tempdir");
    let out_file = dir.path().join("out.ts");
    let (source_port, output_port) = (free_port(), free_port());
    let source = serve_clip(source_port, "live/cam");
    let output = take_publish(output_port, "app/cam-key", &out_file);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let rtmp_url = format!("rtmp://127.0.0.1:{source_port}/live/cam");
    let query = format!(
        "pipeline=noop&params=%7B%7D&rtmpOutput=rtmp%3A%2F%2F127.0.0.1%3A{output_port}%2Fapp%2Fcam-key"
    );
    let (status, body) = start_hook(
        &gw,
        "cam",
        &[
            ("source_id", "conn-1"),
            ("source_type", "rtmpConn"),
            ("query", &query),
            ("rtmp_url", &rtmp_url),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // A second start of the same stream while it is live is refused.
    let (again, _) = start_hook(
        &gw,
        "cam",
        &[
            ("source_id", "conn-2"),
            ("source_type", "rtmpconn"),
            ("query", "pipeline=noop"),
            ("rtmp_url", &rtmp_url),
        ],
    )
    .await;
    assert_eq!(again, 409);

    // The stream is processed live, then ends with its source.
    let live = eventually(Duration::from_secs(30), || async {
        let text = get(&http, &gw, "/stream/cam/source.m3u8").await.text();
        !playlist_entries(&text).is_empty() && !text.contains("#EXT-X-ENDLIST")
    })
    .await;
    assert!(live, "no processed output while the source streams");
    let served = source.wait_with_output().await.expect("ffmpeg runs");
    assert!(
        served.status.success(),
        "{}",
        String::from_utf8_lossy(&served.stderr)
    );
    let playlist = crate::live::ended_playlist(&http, &gw, "cam").await;
    let joined = crate::live::joined_segments(&http, &gw, "cam", &playlist).await;
    let clip = tokio::fs::read(media_file(BIKES_MP4)).await.expect("clip");
    let (_, _, source_frames) = count_video(&clip).await;
    let (_, _, frames) = count_video(&joined).await;
    let diff = (frames as f64 - source_frames as f64).abs() / source_frames as f64;
    assert!(
        diff <= 0.02,
        "{frames} frames came back for {source_frames} sent"
    );

    // The RTMP output got the processed stream too, and was closed with it.
    let pushed = tokio::time::timeout(Duration::from_secs(30), output.wait_with_output())
        .await
        .expect("the RTMP output ends with the stream")
        .expect("ffmpeg runs");
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let received = tokio::fs::read(&out_file).await.expect("the output file");
    let (width, height, pushed_frames) = count_video(&received).await;
    assert_eq!((width, height), (640, 272));
    let diff = (pushed_frames as f64 - source_frames as f64).abs() / source_frames as f64;
    assert!(
        diff <= 0.02,
        "{pushed_frames} frames reached the RTMP output for {source_frames} sent"
    );
    gw.stop().await;
    orch.stop().await;
    worker.shutdown().await;
}

#[tokio::test]
async fn the_mediamtx_start_hook_checks_its_form_and_disconnects_a_stream_it_cannot_start() {
    // MediaMTX's control API: records each call's path and Authorization header.
    let calls: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let api = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let api_port = api.local_addr().expect("addr").port();
    let recorded = calls.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let recorded = recorded.clone();
        async move {
            let auth = req
                .headers()
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_string();
            recorded
                .lock()
                .expect("lock")
                .push((format!("{} {}", req.method(), req.uri().path()), auth));
            "{}"
        }
    });
    let server = tokio::spawn(async move {
        let _ = axum::serve(api, app).await;
    });
    // No orchestrator at all: every start fails.
    let gw = Gateway::start_with(Vec::new(), Vec::new(), |c| {
        c.mediamtx_api_port = api_port;
        c.mediamtx_api_password = "secret".into();
    })
    .await;

    let valid = [
        ("source_id", "conn-7"),
        ("source_type", "rtmpconn"),
        ("query", "pipeline=noop"),
    ];
    let without = |name: &str| -> Vec<(&str, &str)> {
        valid.iter().copied().filter(|(k, _)| *k != name).collect()
    };
    let with = |name: &'static str, value: &'static str| -> Vec<(&str, &str)> {
        let mut fields = without(name);
        fields.push((name, value));
        fields
    };
    for (fields, message) in [
        (without("source_id"), "Missing source_id"),
        (without("source_type"), "Missing source_type"),
        (with("source_type", "srtConn"), "unknown media source"),
        (
            with("query", "pipeline=noop&params=%7Bnope"),
            "Invalid model params",
        ),
        (with("query", "params=%7B%7D"), "Missing pipeline"),
    ] {
        let (status, body) = start_hook(&gw, "cam", &fields).await;
        assert_eq!((status, body.trim()), (400, message), "{fields:?}");
    }
    // The gateway only pulls from the host that called.
    let mut elsewhere = valid.to_vec();
    elsewhere.push(("rtmp_url", "rtmp://10.1.2.3/live/cam"));
    let (status, body) = start_hook(&gw, "cam", &elsewhere).await;
    assert_eq!(status, 400, "{body}");
    let mut not_rtmp = valid.to_vec();
    not_rtmp.push(("rtmp_url", "file:///etc/passwd"));
    assert_eq!(start_hook(&gw, "cam", &not_rtmp).await.0, 400);
    // The gateway's own outputs coming back through the hook: nothing is started.
    let (status, _) = start_hook(&gw, "cam-out", &valid).await;
    assert_eq!(status, 200);
    assert!(calls.lock().expect("lock").is_empty());

    // A well-formed start (URL-encoded this time) that no orchestrator takes: refused, and
    // the broadcaster is disconnected through the control API so it can reconnect.
    let resp = reqwest::Client::new()
        .post(format!("{}/live/video-to-video/cam/start", gw.base))
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("source_id=conn-7&source_type=rtmpConn&query=pipeline%3Dnoop")
        .send()
        .await
        .expect("the gateway answers");
    assert_eq!(resp.status(), 503);
    let kicked = calls.lock().expect("lock").clone();
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("admin:secret")
    );
    assert_eq!(
        kicked,
        vec![("POST /v3/rtmpconns/kick/conn-7".to_string(), basic)]
    );
    let status = get(&http(), &gw, "/live/video-to-video/cam/status").await;
    assert_eq!(status.status, StatusCode::NOT_FOUND);
    gw.stop().await;
    server.abort();
}
