//! Remote transcoders as an operator runs them: a standalone orchestrator (`-orchSecret`), the
//! transcoders that register with it (`-transcoder -orchAddr -orchSecret`), and a gateway
//! pushing a real clip, all separate processes on 127.0.0.1.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Method;
use livepeer_testing::{bikes, check_pushed, profiles, request};

const SECRET: &str = "remote-transcoding-secret";
const LADDER: &str = "P144p30fps16x9";

/// A node process whose log lines are kept; SIGKILLed on drop.
pub(crate) struct Proc {
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    pub(crate) fn start(args: &[&str]) -> Self {
        let mut child = crate::livepeer_command()
            .args(args)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("the binary starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().expect("log").push(line);
            }
        });
        Self { child, log }
    }

    fn count(&self, needle: &str) -> usize {
        let log = self.log.lock().expect("log");
        log.iter().filter(|l| l.contains(needle)).count()
    }

    pub(crate) fn log(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }

    pub(crate) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits up to `limit` for the process to exit on its own.
    fn exit_within(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

pub(crate) fn port() -> u16 {
    livepeer_node::network::free_port().expect("free port")
}

/// A standalone orchestrator on `service_port` taking remote transcoders with [`SECRET`].
fn orchestrator(service_port: u16, cli_port: u16) -> Proc {
    Proc::start(&[
        "-orchestrator",
        "-orchSecret",
        SECRET,
        "-serviceAddr",
        &format!("127.0.0.1:{service_port}"),
        "-cliAddr",
        &format!("127.0.0.1:{cli_port}"),
        "-maxSessions",
        "auto",
        "-monitor",
    ])
}

/// The value of `name` in the node's `/metrics`, parsed as Prometheus text.
pub(crate) async fn metric(cli_port: u16, name: &str) -> Option<f64> {
    let node = serde_json::json!({ "cliUrl": format!("http://127.0.0.1:{cli_port}") });
    let (_, scrape) = crate::metrics::scrape(&node).await;
    crate::metrics::total(&scrape, name).map(|(value, _)| value)
}

/// A transcoder of capacity `capacity` registering with the orchestrator on `service_port`.
fn transcoder(service_port: u16, secret: &str, capacity: &str) -> Proc {
    Proc::start(&[
        "-transcoder",
        "-orchAddr",
        &format!("127.0.0.1:{service_port}"),
        "-orchSecret",
        secret,
        "-maxSessions",
        capacity,
        "-x264Preset",
        "ultrafast",
        "-cliAddr",
        &format!("127.0.0.1:{}", port()),
    ])
}

pub(crate) async fn status(cli_port: u16) -> Option<serde_json::Value> {
    // `request` panics on a refused connection: look first.
    std::net::TcpStream::connect(("127.0.0.1", cli_port)).ok()?;
    let http = livepeer_testing::http();
    let url = format!("http://127.0.0.1:{cli_port}/status");
    let answer = tokio::time::timeout(
        Duration::from_secs(2),
        request(&http, Method::GET, &url, &[], Bytes::new()),
    )
    .await
    .ok()?;
    serde_json::from_slice(&answer.body).ok()
}

/// Waits until the orchestrator reports `n` registered transcoders.
async fn until_registered(cli_port: u16, n: usize, what: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = status(cli_port).await
            && status["RegisteredTranscodersNumber"] == n
        {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: never {n} transcoders registered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Pushes `segment` as `seq` of `manifest` and checks that its rendition comes back.
async fn push(gateway: &str, manifest: &str, seq: u64, segment: &livepeer_testing::Segment) {
    let answer = crate::network::push_one(gateway, manifest, seq, segment).await;
    check_pushed(&answer, seq, &profiles(&[LADDER])).await;
}

const DONE: &str = "segment transcoded and posted";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_transcoders_share_the_work_survive_a_kill_and_reconnect() {
    let (service_port, cli_port, gateway_port) = (port(), port(), port());
    let mut orch = orchestrator(service_port, cli_port);
    let mut first = transcoder(service_port, SECRET, "1");
    until_registered(cli_port, 1, "the first transcoder").await;
    let second = transcoder(service_port, SECRET, "1");
    let status = until_registered(cli_port, 2, "both transcoders").await;
    // go-livepeer's NodeStatus: address and capacity of each remote transcoder; with
    // -maxSessions auto the session limit is their capacity.
    let listed = status["RegisteredTranscoders"].as_array().expect("list");
    assert!(
        listed.iter().all(|t| t["Capacity"] == 1
            && t["Address"]
                .as_str()
                .is_some_and(|a| a.starts_with("127.0.0.1:"))),
        "{status}"
    );
    assert_eq!(status["orchestrator"]["maxSessions"], 2, "{status}");
    // -monitor: go-livepeer's transcoder gauges and the session limit.
    assert_eq!(
        metric(cli_port, "livepeer_transcoders_number").await,
        Some(2.0)
    );
    assert_eq!(
        metric(cli_port, "livepeer_transcoders_capacity").await,
        Some(2.0)
    );
    assert_eq!(
        metric(cli_port, "livepeer_max_sessions_total").await,
        Some(2.0)
    );

    let _gateway = Proc::start(&[
        "-gateway",
        "-httpAddr",
        &format!("127.0.0.1:{gateway_port}"),
        "-orchAddr",
        &format!("127.0.0.1:{service_port}"),
        "-transcodingOptions",
        LADDER,
        "-cliAddr",
        &format!("127.0.0.1:{}", port()),
    ]);
    let gateway = format!("http://127.0.0.1:{gateway_port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", gateway_port)).is_err() {
        assert!(Instant::now() < deadline, "the gateway did not come up");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // One stream: its session sits on the first transcoder (both empty, first registered).
    let segments = bikes().await;
    assert!(
        segments.len() >= 4,
        "the clip has {} segments",
        segments.len()
    );
    for (seq, segment) in segments.iter().enumerate().take(2) {
        push(&gateway, "remote", seq as u64, segment).await;
    }
    assert_eq!(
        (first.count(DONE), second.count(DONE)),
        (2, 0),
        "first:\n{}\nsecond:\n{}",
        first.log(),
        second.log()
    );
    // Killed mid-stream: every later segment still comes back, from the second transcoder.
    first.kill();
    for (seq, segment) in segments.iter().enumerate().skip(2) {
        push(&gateway, "remote", seq as u64, segment).await;
    }
    assert_eq!(
        second.count(DONE),
        segments.len() - 2,
        "second:\n{}\norchestrator:\n{}",
        second.log(),
        orch.log()
    );
    until_registered(cli_port, 1, "after the kill").await;
    // The stream's session is on the second transcoder now.
    assert_eq!(
        metric(cli_port, "livepeer_transcoders_load").await,
        Some(1.0)
    );

    // The orchestrator restarts on the same address: the second transcoder registers again
    // and a new stream is transcoded by it.
    orch.kill();
    let _orch = orchestrator(service_port, cli_port);
    until_registered(cli_port, 1, "after the orchestrator's restart").await;
    let before = second.count(DONE);
    push(&gateway, "after-restart", 0, &segments[0]).await;
    assert_eq!(second.count(DONE), before + 1, "{}", second.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transcoder_with_the_wrong_secret_is_refused_and_exits_non_zero() {
    let (service_port, cli_port) = (port(), port());
    let _orch = orchestrator(service_port, cli_port);
    let deadline = Instant::now() + Duration::from_secs(20);
    while status(cli_port).await.is_none() {
        assert!(
            Instant::now() < deadline,
            "the orchestrator did not come up"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut wrong = transcoder(service_port, "not-the-secret", "1");
    let exit = wrong
        .exit_within(Duration::from_secs(20))
        .unwrap_or_else(|| panic!("still running:\n{}", wrong.log()));
    assert!(!exit.success(), "{}", wrong.log());
    assert!(wrong.count("invalid secret") > 0, "{}", wrong.log());
    let status = status(cli_port).await.expect("status");
    assert_eq!(status["RegisteredTranscodersNumber"], 0, "{status}");
}

#[test]
fn standalone_roles_need_their_flags() {
    let cases: [(&[&str], &str); 4] = [
        (
            &["-transcoder", "-orchAddr", "127.0.0.1:9"],
            "Missing -orchSecret",
        ),
        (&["-transcoder", "-orchSecret", "s"], "Missing -orchAddr"),
        (
            &["-orchestrator", "-serviceAddr", "127.0.0.1:0"],
            "Running an orchestrator requires an -orchSecret for standalone mode or -transcoder for orchestrator+transcoder mode",
        ),
        (
            &["-orchestrator", "-transcoder", "-maxSessions", "auto"],
            "-maxSessions 'auto' cannot be used when both -orchestrator and -transcoder are specified",
        ),
    ];
    for (args, needle) in cases {
        let out = crate::livepeer(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
    }
}
