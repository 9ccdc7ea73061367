//! Real-time AI from a shell: `livepeer demo --live --exit` broadcasts the clip over RTMP
//! through a gateway and an orchestrator's `noop` and `effects` live pipelines and prints what
//! came back; `livepeer -orchestrator -aiWorker -aiModels live-video-to-video:noop:true`
//! serves `noop` with nothing else set up.

use crate::{livepeer, livepeer_command};

#[test]
fn the_live_demo_brings_every_frame_back_through_both_pipelines() {
    let out = livepeer(&["demo", "--live", "--exit"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("orchestrator https://127.0.0.1:") && first.contains("  gateway http://"),
        "{stdout}"
    );
    // The clip (the city clip, 7.6 s at 25 fps: 190 frames) comes back whole through each.
    for pipeline in ["noop", "effects"] {
        let row: Vec<&str> = stdout
            .lines()
            .find(|l| l.starts_with(pipeline))
            .unwrap_or_else(|| panic!("no {pipeline} row: {stdout}"))
            .split_whitespace()
            .collect();
        let frames: f64 = row[2].parse().expect("frames");
        assert!(
            (frames - 190.0).abs() <= 190.0 * 0.02,
            "{pipeline}: {stdout}"
        );
        let fps: f64 = row[3].parse().expect("fps");
        assert!((fps - 25.0).abs() < 1.0, "{pipeline}: {stdout}");
        let latency: f64 = row[4].parse().expect("latency");
        assert!(latency > 0.0, "{pipeline}: {stdout}");
    }
}

#[test]
fn an_orchestrator_serves_noop_from_the_inline_ai_models_flag() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let mut child = livepeer_command()
        .args([
            "-orchestrator",
            "-aiWorker",
            "-aiModels",
            "live-video-to-video:noop:true",
        ])
        .args([
            "-serviceAddr",
            &format!("127.0.0.1:{port}"),
            "-cliAddr",
            "127.0.0.1:0",
        ])
        .arg("-dataDir")
        .arg(dir.path())
        .current_dir(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("the binary starts");
    // Its start request answers with the four channels (no payment off-chain).
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let answer = rt.block_on(async {
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .expect("client");
        for _ in 0..100 {
            let info = livepeer_gateway::client::OrchestratorClient::new()
                .get_orchestrator(
                    &format!("https://127.0.0.1:{port}").parse().expect("uri"),
                    Default::default(),
                )
                .await;
            let Ok(info) = info else {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                continue;
            };
            let seg = livepeer_proto::net::SegData {
                manifest_id: b"35_noop".to_vec(),
                auth_token: info.auth_token,
                ..Default::default()
            };
            let answer = http
                .post(format!("https://127.0.0.1:{port}/live-video-to-video"))
                .header(
                    "Livepeer-Segment",
                    livepeer_proto::headers::encode_header(&seg),
                )
                .header("Livepeer-Payment", "")
                .body(r#"{"model_id":"noop"}"#)
                .send()
                .await
                .expect("send");
            return (
                answer.status().as_u16(),
                answer.text().await.unwrap_or_default(),
            );
        }
        panic!("the orchestrator never answered");
    });
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(answer.0, 200, "{}", answer.1);
    let value: serde_json::Value = serde_json::from_str(&answer.1).expect("JSON");
    let publish = value["publish_url"].as_str().expect("publish_url");
    assert!(
        publish.starts_with(&format!("https://127.0.0.1:{port}/ai/trickle/")),
        "{value}"
    );
    assert_eq!(
        value["subscribe_url"].as_str(),
        Some(format!("{publish}-out").as_str())
    );
}
