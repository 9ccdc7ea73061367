//! The web dashboard in a real browser: an orchestrator (local transcoder) and a gateway on
//! loopback, each with its CLI API and dashboard, a real clip pushed at real time through
//! them, and Debian's headless Chromium (driven over WebDriver by fantoccini through
//! chromedriver) loading each node's page. The gateway's page must list the stream as live
//! and its player's `currentTime` must advance; the orchestrator's page must show the local
//! transcoder carrying the session. Screenshots of both pages are saved under
//! `CARGO_TARGET_TMPDIR`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};
use livepeer_gateway::{GatewayConfig, GatewayService};
use livepeer_media::testing::{BIKES_MP4, media_file};
use livepeer_node::cli::PushArgs;
use livepeer_node::cli_api::{self, NodeView};
use livepeer_node::push::push_file;
use livepeer_orchestrator::{LocalTranscoder, OrchestratorConfig, OrchestratorService};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// The stream pushed.
const MANIFEST: &str = "dashboard_cam";
/// One cheap rendition, so two loaded cores keep up with real time.
const LADDER: &str = "P240p30fps16x9";
/// Seconds of video pushed (the bikes clip looped): the push outlasts the browser checks.
const SOURCE_SECONDS: u32 = 90;
/// How long any one condition in the page may take to appear.
const WAIT: Duration = Duration::from_secs(120);
/// The flags Chromium needs on a machine without internet (without them it stalls on
/// background connections) and without a display.
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--mute-audio",
    "--autoplay-policy=no-user-gesture-required",
    "--window-size=1280,1100",
];

/// `name` on `PATH`; fails (never skips) with the fix when it is not installed.
fn installed(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("{name} is not installed: run `make setup` (it installs Debian's chromium and chromium-driver)")
        })
}

/// A chromedriver on 127.0.0.1 (a port it picks), killed with the browsers it started when
/// dropped.
struct Chromedriver {
    child: tokio::process::Child,
    port: u16,
}

impl Chromedriver {
    async fn start(binary: &Path) -> Self {
        let mut child = tokio::process::Command::new(binary)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // Its own process group, so the browsers it starts die with it.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("{}: cannot start: {e}", binary.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let port = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    return rest.trim().trim_end_matches('.').parse::<u16>().ok();
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
        .expect("chromedriver says which port it listens on");
        // Keep its stdout drained.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Self { child, port }
    }

    /// A new headless Chromium session with a fresh, empty profile in `profile`.
    async fn session(&self, chromium: &Path, profile: &Path) -> Client {
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "binary": chromium, "args": args }),
        );
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("chromedriver starts a headless Chromium session")
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.start_kill();
    }
}

/// Runs `script` (a function body) in the page.
async fn eval(client: &Client, script: &str) -> Value {
    client
        .execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
}

/// Polls `script` every 250 ms until `done` holds for its value; panics after [`WAIT`] with
/// the last value and the page's text.
async fn wait_for(
    client: &Client,
    what: &str,
    script: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let value = eval(client, script).await;
        if done(&value) {
            return value;
        }
        if tokio::time::Instant::now() >= deadline {
            let text = eval(client, "return document.body.innerText;").await;
            panic!(
                "{what}: not seen within {WAIT:?}; last {value}\npage:\n{}",
                text.as_str().unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Saves a screenshot of the page as `<name>.png` under the target's temporary directory and
/// prints its path.
async fn screenshot(client: &Client, name: &str) -> PathBuf {
    let png = client.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    let path = dir.join(format!("{name}.png"));
    std::fs::write(&path, png).expect("write screenshot");
    println!("screenshot: {}", path.display());
    path
}

/// The bikes clip looped to [`SOURCE_SECONDS`] of H.264 with continuous timestamps.
async fn long_source(ffmpeg: &livepeer_media::Ffmpeg, dir: &Path) -> PathBuf {
    let out = dir.join("source.mp4");
    let status = tokio::process::Command::new(ffmpeg.ffmpeg_path())
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-stream_loop",
            "-1",
            "-i",
        ])
        .arg(media_file(BIKES_MP4))
        .args(["-t", &SOURCE_SECONDS.to_string(), "-an", "-c:v", "libx264"])
        .args([
            "-preset",
            "ultrafast",
            "-g",
            "50",
            "-pix_fmt",
            "yuv420p",
            "-y",
        ])
        .arg(&out)
        .kill_on_drop(true)
        .status()
        .await
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg loops the clip: {status}");
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_lists_and_plays_a_pushed_stream_in_headless_chromium() {
    let chromium = installed("chromium");
    let chromedriver = installed("chromedriver");
    let ffmpeg = livepeer_media::Ffmpeg::locate()
        .unwrap_or_else(|e| panic!("{e} (run `make setup`, which installs ffmpeg)"));
    let work = tempfile::tempdir().expect("tempdir");
    let source = long_source(&ffmpeg, work.path()).await;

    // An orchestrator that transcodes itself, and a gateway using it, each with a CLI API.
    let cancel = CancellationToken::new();
    let mut services = JoinSet::new();
    let orchestrator = OrchestratorService::bind(OrchestratorConfig {
        service_addr: "127.0.0.1:0".into(),
        transcoder: Some(LocalTranscoder::new(ffmpeg.clone(), "ultrafast".into())),
        ..Default::default()
    })
    .await
    .expect("orchestrator binds");
    let orchestrator_uri = orchestrator.service_uri().to_string();
    let orchestrator_view = NodeView {
        network: "offchain".into(),
        orchestrator: Some((orchestrator_uri.clone(), orchestrator.handle())),
        local_transcoding: true,
        ..Default::default()
    };
    let gateway = GatewayService::bind(GatewayConfig {
        http_addr: "127.0.0.1:0".into(),
        orch_addrs: livepeer_gateway::discovery::parse_orch_addrs(&orchestrator_uri)
            .expect("orchestrator address"),
        profiles: livepeer_primitives::profile::parse_transcoding_options(LADDER).expect("ladder"),
        ..Default::default()
    })
    .await
    .expect("gateway binds");
    let gateway_url = format!("http://{}", gateway.local_addr());
    let gateway_view = NodeView {
        network: "offchain".into(),
        gateway: Some(gateway.handle()),
        ..Default::default()
    };
    let localhost = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let (orchestrator_cli, serve) = cli_api::bind(localhost, orchestrator_view, cancel.clone())
        .await
        .expect("orchestrator CLI API binds");
    services.spawn(serve);
    let (gateway_cli, serve) = cli_api::bind(localhost, gateway_view, cancel.clone())
        .await
        .expect("gateway CLI API binds");
    services.spawn(serve);
    let token = cancel.clone();
    services.spawn(async move {
        orchestrator.run(token).await.expect("orchestrator runs");
    });
    let token = cancel.clone();
    services.spawn(async move {
        gateway.run(token).await.expect("gateway runs");
    });

    // The stream, pushed at real time for longer than the checks take.
    let push_cancel = CancellationToken::new();
    let push = {
        let args = PushArgs {
            file: source,
            gateway: gateway_url,
            manifest: Some(MANIFEST.into()),
            out: None,
            realtime: true,
        };
        let cancel = push_cancel.clone();
        tokio::spawn(async move { push_file(&args, cancel, false).await })
    };

    let driver = Chromedriver::start(&chromedriver).await;
    let profile = tempfile::tempdir().expect("profile dir");
    let client = driver.session(&chromium, profile.path()).await;

    // The gateway's page lists the stream as live, and its player plays it.
    client
        .goto(&format!("http://{gateway_cli}/"))
        .await
        .expect("the gateway's dashboard loads");
    let stream = format!(r#".stream[data-manifest="{MANIFEST}"]"#);
    wait_for(
        &client,
        "the stream listed as live",
        &format!(
            r#"const s = document.querySelector('{stream}');
               return s ? s.querySelector('.badge').textContent : null;"#
        ),
        |v| v == "LIVE",
    )
    .await;
    let roles = eval(
        &client,
        "return document.getElementById('roles').innerText;",
    )
    .await;
    assert_eq!(roles.as_str(), Some("gateway"), "the gateway's role");
    let player = format!(
        r#"const v = document.querySelector('video[data-manifest="{MANIFEST}"]');
           const s = document.querySelector('{stream} .player-state');
           return {{ t: v.currentTime, paused: v.paused, ready: v.readyState,
                    error: v.error ? v.error.code : null, state: s.textContent }};"#
    );
    let started = wait_for(&client, "the player playing", &player, |v| {
        v["t"].as_f64().is_some_and(|t| t > 0.0)
    })
    .await;
    let t0 = started["t"].as_f64().expect("currentTime");
    let advanced = wait_for(&client, "currentTime advancing", &player, |v| {
        v["t"].as_f64().is_some_and(|t| t >= t0 + 1.0)
    })
    .await;
    assert_eq!(advanced["error"], Value::Null, "{advanced}");
    assert_eq!(advanced["paused"], false, "{advanced}");
    let orchestrators = eval(
        &client,
        "return document.getElementById('orchestrators').innerText;",
    )
    .await;
    let listed = orchestrators.as_str().unwrap_or_default();
    assert!(
        listed.contains(orchestrator_uri.trim_end_matches('/')),
        "the orchestrator that transcodes the stream is listed: {listed}"
    );
    screenshot(&client, "gateway").await;

    // The orchestrator's page shows its local transcoder carrying the stream's session.
    client
        .goto(&format!("http://{orchestrator_cli}/"))
        .await
        .expect("the orchestrator's dashboard loads");
    let local = wait_for(
        &client,
        "the session on the local transcoder",
        r#"const cells = [...document.querySelectorAll('#transcoders tbody tr:first-child td')];
           return cells.map((c) => c.textContent);"#,
        |v| {
            let sessions = v[2]
                .as_str()
                .and_then(|t| t.split(' ').next())
                .and_then(|n| n.parse::<u64>().ok());
            sessions.is_some_and(|n| n >= 1)
        },
    )
    .await;
    assert_eq!(local[0], "local (this node)", "{local}");
    let roles = eval(
        &client,
        "return document.getElementById('roles').innerText;",
    )
    .await;
    let roles = roles.as_str().unwrap_or_default().replace('\n', " ");
    assert!(
        roles.contains("orchestrator") && roles.contains("transcoder"),
        "{roles}"
    );
    screenshot(&client, "orchestrator").await;

    client.close().await.expect("the browser closes");
    drop(driver);
    push_cancel.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(30), push).await;
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(done) = services.join_next().await {
            done.expect("no node task panics");
        }
    })
    .await
    .expect("the nodes stop");
}
