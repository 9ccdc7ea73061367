//! Third-party compatibility: Livepeer's own Python gateway SDK (`livepeer-gateway`, installed
//! by `make setup` in `.setup/pygateway`) drives our orchestrator through
//! `tests/python/lv2v_client.py` — `start_lv2v`, `MediaPublish`, `MediaOutput.frames()`, the
//! events and control channels — off-chain, and on devnet paying through our remote signer
//! and finding the orchestrator with its `/discover-orchestrators`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::livepeer_command;
use crate::network::{DevnetProcess, DirectGateway, node_status};

/// The venv's interpreter (scripts/setup.sh).
fn python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.setup/pygateway/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `make setup` (or `make test`)",
        python.display()
    );
    python
}

/// Runs the client with `args`; its JSON summary. Two minutes at most.
fn run_client(args: &[&str]) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/lv2v_client.py");
    let out = Command::new("timeout")
        .arg("120")
        .arg(python())
        .arg(script)
        .args(args)
        .output()
        .expect("the client runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "client failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no JSON summary ({e}):\n{stdout}\n{stderr}"))
}

/// `livepeer -orchestrator -aiWorker -aiModels <file>` on a free port; SIGKILLed on drop.
struct LiveOrchestrator {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl LiveOrchestrator {
    fn start(models: &Value) -> Self {
        let dir = tempfile::tempdir().expect("tmp");
        let file = dir.path().join("aiModels.json");
        std::fs::write(&file, models.to_string()).expect("aiModels.json");
        let port = livepeer_node::network::free_port().expect("port");
        let child = livepeer_command()
            .args(["-orchestrator", "-aiWorker", "-aiModels"])
            .arg(&file)
            .args([
                "-serviceAddr",
                &format!("127.0.0.1:{port}"),
                "-cliAddr",
                "127.0.0.1:0",
            ])
            .arg("-dataDir")
            .arg(dir.path())
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        let deadline = Instant::now() + Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the orchestrator did not come up"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Self {
            child,
            url: format!("https://127.0.0.1:{port}"),
            _dir: dir,
        }
    }
}

impl Drop for LiveOrchestrator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn frames_back(summary: &Value) -> (u64, u64) {
    (
        summary["frames_sent"].as_u64().expect("frames_sent"),
        summary["frames_received"]
            .as_u64()
            .expect("frames_received"),
    )
}

/// Every frame sent came back, within 2 %.
fn assert_frames_back(summary: &Value) {
    let (sent, received) = frames_back(summary);
    assert!(sent > 0, "{summary}");
    assert!(
        received as f64 >= sent as f64 * 0.98 && received <= sent,
        "sent {sent}, received {received}: {summary}"
    );
}

#[test]
fn the_python_sdk_runs_noop_on_our_orchestrator_off_chain() {
    let orch = LiveOrchestrator::start(&json!([
        {"pipeline": "live-video-to-video", "model_id": "noop", "warm": true}
    ]));
    let summary = run_client(&["--orchestrator", &orch.url, "--frames", "75"]);
    assert_eq!(summary["errors"], json!([]), "{summary}");
    assert_eq!(summary["orchestrator"], json!(orch.url));
    assert_frames_back(&summary);
    // noop: the picture comes back at its size, its mean luma that of the test pattern
    // (40 with a 220 square: about 48).
    assert_eq!(summary["output_sizes"], json!(["320x240"]), "{summary}");
    let luma = summary["mean_luma"].as_f64().expect("mean_luma");
    assert!((luma - 48.4).abs() < 3.0, "{summary}");
    // The runner's events reach the client.
    let events: Vec<&str> = summary["event_types"]
        .as_array()
        .expect("event_types")
        .iter()
        .filter_map(|e| e.as_str())
        .collect();
    assert!(
        events.contains(&"runner_send_first_processed_segment"),
        "{summary}"
    );
}

#[test]
fn the_python_sdk_changes_the_effect_mid_stream_over_the_control_channel() {
    let orch = LiveOrchestrator::start(&json!([
        {"pipeline": "live-video-to-video", "model_id": "effects", "warm": true}
    ]));
    let summary = run_client(&[
        "--orchestrator",
        &orch.url,
        "--model",
        "effects",
        "--params",
        r#"{"effect":"edges"}"#,
        "--update",
        r#"{"effect":"negate"}"#,
        "--update-at",
        "100",
        "--frames",
        "200",
    ]);
    assert_eq!(summary["update_sent"], json!(true), "{summary}");
    assert_frames_back(&summary);
    // The effects pipeline works at 512x512.
    assert_eq!(summary["output_sizes"], json!(["512x512"]), "{summary}");
    // Edges of a dark picture are dark; its negative is bright.
    let before = summary["mean_luma_before_update"]
        .as_f64()
        .expect("luma before");
    let after = summary["mean_luma_after_update"]
        .as_f64()
        .expect("luma after");
    assert!(before < 60.0 && after > 150.0, "{summary}");
}

/// The orchestrator's payment counters from its `/status`.
async fn orchestrator_payments(account: &Value) -> Value {
    node_status(account).await["orchestrator"]["payments"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_devnet_the_python_sdk_finds_and_pays_our_orchestrator_through_our_remote_signer() {
    let devnet = DevnetProcess::start_with_ai_models(
        &json!([{"pipeline": "live-video-to-video", "model_id": "noop", "warm": true,
                 "price_per_unit": 30_000_000u64, "pixels_per_unit": 1}]),
        &["--round-length", "500"],
    );
    let orchestrator = devnet.accounts("orchestrator")[0].clone();
    let service_uri = orchestrator["serviceUri"]
        .as_str()
        .expect("serviceUri")
        .trim_end_matches('/')
        .to_string();
    // The devnet gateway's account as a remote signer that discovers (on chain, its pool).
    let signer = DirectGateway::start_as(&devnet, |args| {
        args.retain(|a| a != "-gateway");
        args.extend(["-remoteSigner".into(), "-remoteDiscovery".into()]);
    });
    let discovered: Value = reqwest::get(format!(
        "{}/discover-orchestrators?caps=live-video-to-video/noop",
        signer.url
    ))
    .await
    .expect("discover")
    .json()
    .await
    .expect("JSON");
    assert_eq!(
        discovered,
        json!([{"address": service_uri, "score": 1.0,
                "capabilities": ["live-video-to-video/noop"]}]),
    );

    let before = orchestrator_payments(&orchestrator).await;
    let signer_url = signer.url.clone();
    let summary = tokio::task::spawn_blocking(move || {
        run_client(&["--signer", &signer_url, "--frames", "150"])
    })
    .await
    .expect("client");
    assert_eq!(summary["paid"], json!(true), "{summary}");
    assert_eq!(
        summary["orchestrator"]
            .as_str()
            .map(|u| u.trim_end_matches('/')),
        Some(service_uri.as_str()),
        "found through the signer's discovery: {summary}"
    );
    assert_frames_back(&summary);
    let after = orchestrator_payments(&orchestrator).await;
    assert!(
        after["ticketsReceived"].as_u64() > before["ticketsReceived"].as_u64(),
        "the orchestrator took the signer's tickets: {before} → {after}"
    );
}
