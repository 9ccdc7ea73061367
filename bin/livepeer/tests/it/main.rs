//! The binary as an operator runs it.

mod ai;
mod ai_worker;
mod flags;
mod hardening;
mod live;
mod live_paid;
mod metrics;
mod network;
mod python_client;
mod remote;

use std::process::Command;

use livepeer_testing::process::{children_of, is_dead};

/// The binary, with `HOME` in this test target's scratch directory (so the default
/// `-dataDir ~/.lpData/<network>` never lands in the real home) and no `LP_` variables from
/// the caller's environment (they would set flags).
fn livepeer_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_livepeer"));
    command.env("HOME", concat!(env!("CARGO_TARGET_TMPDIR"), "/home"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("LP_") {
            command.env_remove(key);
        }
    }
    command
}

fn livepeer(args: &[&str]) -> std::process::Output {
    livepeer_command()
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn help_groups_go_livepeer_flags() {
    let out = livepeer(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in [
        "Roles:",
        "Network:",
        "Transcoding:",
        "Operations:",
        "--orchAddr",
        "--transcodingOptions",
        "push",
        "demo",
    ] {
        assert!(help.contains(needle), "{needle} missing from --help");
    }
}

#[test]
fn bad_setups_exit_non_zero_with_one_line() {
    // An on-chain node opens (or creates) its account before it connects.
    let tmp = tempfile::tempdir().expect("temp dir");
    let password = tmp.path().join("password");
    std::fs::write(&password, "secret\n").expect("password file");
    let data_dir = tmp.path().to_str().expect("utf-8").to_string();
    let password = password.to_str().expect("utf-8").to_string();
    let cases: [(&[&str], &str); 6] = [
        (
            &["-gateway", "-network", "arbitrum-one-mainnet"],
            "needs -ethUrl",
        ),
        (
            &[
                "-gateway",
                "-network",
                "dev",
                "-ethUrl",
                "http://127.0.0.1:9",
            ],
            "pass -ethController",
        ),
        (
            &[
                "-gateway",
                "-network",
                "dev",
                "-ethUrl",
                "http://127.0.0.1:9",
                "-ethController",
                "0x5FbDB2315678afecb367f032d93F642f64180aa3",
                "-dataDir",
                &data_dir,
                "-ethPassword",
                &password,
            ],
            "cannot reach the Ethereum node at http://127.0.0.1:9",
        ),
        (&["-gateway", "-httpAddr", "127.0.0.1:0"], "-orchAddr"),
        (&[], "no role selected"),
        (
            &["push", "no-such-file.mp4", "-gateway", "http://127.0.0.1:9"],
            "no-such-file.mp4",
        ),
    ];
    for (args, needle) in cases {
        let out = livepeer(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr.trim_end().lines().last().unwrap_or_default();
        assert!(
            last.starts_with("error: ") && last.contains(needle),
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn unknown_flags_are_refused() {
    let out = livepeer(&["-noSuchFlag"]);
    assert!(!out.status.success());
}

/// Starts a node, waits for `ready` on stderr, sends SIGINT, and returns the exit status and
/// everything it logged.
fn interrupt_after_ready(args: &[&str], ready: &str) -> (std::process::ExitStatus, String) {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let mut child = crate::livepeer_command()
        .args(args)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            all.push_str(&line);
            all.push('\n');
        }
        all
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) if line.contains(ready) => break,
            Ok(_) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{args:?}: never logged {ready:?}");
        }
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(exit) = child.try_wait().expect("wait") {
            break exit;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{args:?}: still running 15 s after Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (exit, reader.join().expect("reader"))
}

#[test]
fn ctrl_c_stops_an_orchestrator_cleanly() {
    let (exit, log) = interrupt_after_ready(
        &[
            "-orchestrator",
            "-transcoder",
            "-serviceAddr",
            "127.0.0.1:0",
        ],
        // The start-up availability check (on by default) pinged it at its service address.
        "orchestrator answers at its service address",
    );
    assert!(exit.success(), "exit {exit:?}\n{log}");
    assert!(log.contains("orchestrator stopped"), "{log}");
}

#[test]
fn an_orchestrator_whose_service_address_leads_nowhere_shuts_down_with_go_livepeers_line() {
    let port = livepeer_node::network::free_port().expect("free port");
    let service = format!("127.0.0.1:{port}");
    let data_dir = tempfile::tempdir().expect("tempdir");
    let data_dir = data_dir.path().to_str().expect("utf-8");
    let args = [
        "-orchestrator",
        "-transcoder",
        "-httpAddr",
        "127.0.0.1:0",
        "-serviceAddr",
        &service,
        "-dataDir",
        data_dir,
    ];
    let out = livepeer(&args);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{log}");
    assert!(
        log.contains(&format!(
            "Orchestrator not available at https://{service} via grpc ping check"
        )),
        "{log}"
    );
    // With the check off, the same node starts and serves.
    let mut off = args.to_vec();
    off.push("-startupAvailabilityCheck=false");
    let (exit, log) = interrupt_after_ready(&off, "orchestrator listening");
    assert!(exit.success(), "exit {exit:?}\n{log}");
    assert!(!log.contains("not available"), "{log}");
}

#[test]
fn ctrl_c_stops_a_gateway_cleanly_and_json_logs_are_json() {
    let (exit, log) = interrupt_after_ready(
        &[
            "-gateway",
            "-httpAddr",
            "127.0.0.1:0",
            "-orchAddr",
            "127.0.0.1:9",
            "-logFormat",
            "json",
        ],
        "gateway listening",
    );
    assert!(exit.success(), "exit {exit:?}\n{log}");
    for line in log.lines().filter(|l| !l.is_empty()) {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            value.get("level").is_some() && value.get("fields").is_some(),
            "{line}"
        );
    }
    assert!(log.contains("gateway stopped"), "{log}");
}

#[test]
fn ticket_inspect_reports_hash_signer_and_win() {
    let vectors: serde_json::Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/pm_tickets.json"
    )))
    .expect("JSON");
    let dir = tempfile::tempdir().expect("tempdir");
    for (i, ticket) in vectors["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .enumerate()
    {
        let path = dir.path().join(format!("{i}.json"));
        std::fs::write(&path, ticket.to_string()).expect("write");
        let out = livepeer(&["ticket", "inspect", "--json", path.to_str().expect("utf-8")]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
        assert_eq!(report["ticketHash"], ticket["ticketHash"]);
        assert_eq!(report["signer"], ticket["recoveredAddress"]);
        assert_eq!(report["signerMatchesSender"], true);
        assert_eq!(report["recipientRandHashMatches"], true);
    }
    let out = livepeer(&["ticket", "inspect", "/no/such/ticket.json"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: cannot read"));
}

#[test]
fn devnet_reports_active_orchestrators_and_leaves_no_anvil() {
    let out = livepeer(&["devnet", "--orchestrators", "2", "--exit", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let orchestrators: Vec<&serde_json::Value> = report["accounts"]
        .as_array()
        .expect("accounts")
        .iter()
        .filter(|a| a["role"] == "orchestrator")
        .collect();
    assert_eq!(orchestrators.len(), 2);
    let active = report["activeOrchestrators"].as_array().expect("active");
    for orch in orchestrators {
        assert!(active.contains(&orch["address"]), "{orch} not active");
    }
    for name in [
        "controller",
        "bondingManager",
        "ticketBroker",
        "roundsManager",
        "minter",
        "livepeerToken",
        "serviceRegistry",
    ] {
        assert!(
            report["contracts"][name]
                .as_str()
                .is_some_and(|a| a.starts_with("0x")),
            "{name} missing"
        );
    }
    // anvil stopped with the command: its port no longer answers.
    let url = report["rpcUrl"].as_str().expect("rpc url");
    let addr = url.trim_start_matches("http://").trim_end_matches('/');
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "anvil still listening at {addr}"
    );
}

/// A JSON-RPC endpoint on 127.0.0.1 that accepts connections and never answers; dropping it
/// closes the listener and every connection it holds.
struct SilentEndpoint {
    addr: std::net::SocketAddr,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl SilentEndpoint {
    fn start() -> Self {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (accepted, stop) = (accepted.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut held = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            accepted.fetch_add(1, Ordering::Relaxed);
                            held.push(stream);
                        }
                        Err(_) => std::thread::sleep(std::time::Duration::from_millis(20)),
                    }
                }
            })
        };
        Self {
            addr,
            accepted,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for SilentEndpoint {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn a_signal_stops_a_node_stuck_connecting_to_a_silent_eth_node() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    // The account is opened (created, the first time) before the chain is reached.
    let tmp = tempfile::tempdir().expect("temp dir");
    let password = tmp.path().join("password");
    std::fs::write(&password, "secret\n").expect("password file");
    let data_dir = tmp.path().to_str().expect("utf-8");
    let password = password.to_str().expect("utf-8");
    for signal in ["-TERM", "-INT"] {
        let endpoint = SilentEndpoint::start();
        let url = format!("http://{}", endpoint.addr);
        let mut child = crate::livepeer_command()
            .args([
                "-orchestrator",
                "-network",
                "arbitrum-one-mainnet",
                "-ethUrl",
                &url,
                "-ethController",
                "0x5FbDB2315678afecb367f032d93F642f64180aa3",
                "-dataDir",
                data_dir,
                "-ethPassword",
                password,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line.clone());
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        // It says what it is doing before it waits on the endpoint.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) if line.contains(&format!("connecting to the Ethereum node at {url}")) => {
                    break;
                }
                Ok(_) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("exited before connecting: {:?}", child.wait())
                }
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("never logged that it connects to {url}");
            }
        }
        std::thread::sleep(Duration::from_secs(1));
        assert!(
            child.try_wait().expect("wait").is_none(),
            "exited before the signal"
        );
        let status = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        // Well within the 10 s RPC timeout; the message below tells the two apart anyway.
        let deadline = Instant::now() + Duration::from_secs(8);
        let exit = loop {
            if let Some(exit) = child.try_wait().expect("wait") {
                break exit;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("still running 8 s after SIG{}", &signal[1..]);
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let log = reader.join().expect("reader");
        assert_eq!(exit.code(), Some(1), "{signal}: {exit:?}\n{log}");
        let last = log.trim_end().lines().last().unwrap_or_default();
        assert!(
            last.starts_with("error: interrupted while connecting to the Ethereum node at")
                && last.contains(&url),
            "{signal}: {log}"
        );
        assert!(
            endpoint.accepted.load(std::sync::atomic::Ordering::Relaxed) >= 1,
            "the node never connected to {url}"
        );
    }
}

#[test]
fn a_sigkilled_devnet_takes_its_anvil_with_it() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let mut child = crate::livepeer_command()
        .args(["devnet", "--orchestrators", "1", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) if line.contains("devnet running") => break,
            Ok(_) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                panic!("devnet exited before it was ready: {:?}", child.wait())
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("devnet never said it was running");
        }
    }
    let anvil: Vec<u32> = children_of(child.id())
        .into_iter()
        .filter(|(_, comm)| comm == "anvil")
        .map(|(pid, _)| pid)
        .collect();
    assert_eq!(anvil.len(), 1, "anvil children: {anvil:?}");
    let anvil = anvil[0];

    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
    // The report was printed before "devnet running"; read it now that the pipe is closed.
    let mut report = String::new();
    stdout.read_to_string(&mut report).expect("stdout");
    let report: serde_json::Value = serde_json::from_str(&report).expect("JSON report");
    let url = report["rpcUrl"].as_str().expect("rpc url");
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();

    let deadline = Instant::now() + Duration::from_secs(10);
    while !(is_dead(anvil) && std::net::TcpStream::connect(&addr).is_err()) {
        if Instant::now() > deadline {
            // Do not leave it behind, whatever the outcome.
            let _ = Command::new("kill")
                .args(["-KILL", &anvil.to_string()])
                .status();
            panic!("anvil {anvil} still running at {addr} 10 s after its parent was SIGKILLed");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = reader.join();
}

#[test]
fn an_on_chain_start_creates_an_account_to_fund_and_refuses_a_wrong_password() {
    let tmp = tempfile::tempdir().expect("temp dir");
    // A port nothing listens on: the connection is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let data_dir = tmp.path().join("data");
    let right = tmp.path().join("password");
    std::fs::write(&right, "first secret\nnot the password\n").expect("password file");
    let run = |password: Option<&std::path::Path>| {
        let mut args = vec![
            "-orchestrator".to_string(),
            "-network".into(),
            "arbitrum-one-mainnet".into(),
            "-ethUrl".into(),
            url.clone(),
            "-dataDir".into(),
            data_dir.display().to_string(),
        ];
        if let Some(password) = password {
            args.extend(["-ethPassword".into(), password.display().to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = livepeer(&args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let last = stderr
            .trim_end()
            .lines()
            .last()
            .unwrap_or_default()
            .to_string();
        assert!(last.starts_with("error: "), "{stderr}");
        (stderr.to_lowercase(), last)
    };
    let key_files = || -> Vec<String> {
        std::fs::read_dir(data_dir.join("keystore"))
            .expect("the keystore exists")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect()
    };

    // First start: a new key under <dataDir>/keystore, the address to fund, then the chain.
    let (log, last) = run(Some(&right));
    let files = key_files();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].starts_with("UTC--"), "{files:?}");
    let hex = files[0]
        .rsplit("--")
        .next()
        .expect("address part")
        .to_string();
    assert_eq!(hex.len(), 40, "{files:?}");
    assert!(log.contains(&format!("fund 0x{hex}")), "{log}");
    assert!(log.contains(&format!("using account 0x{hex}")), "{log}");
    assert!(
        last.contains(&format!("cannot reach the Ethereum node at {url}")),
        "{last}"
    );

    // A wrong password: one line naming the account, before any connection, nothing created.
    let wrong = tmp.path().join("wrong");
    std::fs::write(&wrong, "second secret\n").expect("password file");
    let (log, last) = run(Some(&wrong));
    assert!(
        last.to_lowercase()
            .starts_with(&format!("error: wrong password for account 0x{hex}")),
        "{last}"
    );
    assert!(!log.contains("connecting to the ethereum node"), "{log}");
    assert_eq!(key_files(), files);

    // No password and no terminal: says to pass -ethPassword.
    let (_, last) = run(None);
    assert!(last.contains("pass -ethPassword"), "{last}");
}
