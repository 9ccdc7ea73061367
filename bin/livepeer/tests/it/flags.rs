//! go-livepeer's flags as an operator switching over uses them: every one of them understood
//! (working, or refused by name), from the command line, `LP_` variables and a `-config` file.

use std::io::{BufRead, BufReader};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use livepeer_node::go_flags::{FlagStatus, GoFlag, GoType, table};

use crate::{livepeer, livepeer_command};

/// The last line the binary wrote on stderr.
fn last_error_line(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr
        .trim_end()
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

/// A value of `flag`'s go type that is not its go default.
fn other_value(flag: &GoFlag) -> String {
    match flag.go_type {
        GoType::Bool if flag.default == "true" => "false".into(),
        GoType::Bool => "true".into(),
        GoType::Int | GoType::Float => "42".into(),
        GoType::Duration => "42s".into(),
        GoType::String => "not-the-default".into(),
    }
}

#[test]
fn every_go_livepeer_flag_is_accepted_or_refused_by_name() {
    let flags = table();
    assert_eq!(flags.len(), 124, "go-livepeer's flags");
    let mut unsupported = 0;
    for flag in flags {
        let at_default = format!("-{}={}", flag.name, flag.default);
        match flag.status {
            FlagStatus::Supported | FlagStatus::Deprecated => {
                // Parsed and accepted: the node goes on to say that it has no role.
                let out = livepeer(&[&at_default]);
                let last = last_error_line(&out);
                assert!(
                    !out.status.success() && last.contains("no role selected"),
                    "{at_default}: {last}"
                );
            }
            FlagStatus::Unsupported | FlagStatus::UnsupportedAny => {
                unsupported += 1;
                let want = format!("error: -{} is not supported yet", flag.name);
                let out = livepeer(&[&format!("-{}", flag.name), &other_value(flag)]);
                assert!(!out.status.success(), "-{} succeeded", flag.name);
                let last = last_error_line(&out);
                assert_eq!(last, want, "-{} {}", flag.name, other_value(flag));
                // Set to its go default it changes nothing (except where go tells an explicit
                // default from an unset flag).
                let out = livepeer(&["-gateway=false", &at_default]);
                let last = last_error_line(&out);
                if flag.status == FlagStatus::Unsupported {
                    assert!(last.contains("no role selected"), "{at_default}: {last}");
                } else {
                    assert_eq!(last, want, "{at_default}");
                }
            }
        }
    }
    // Both kinds were exercised (the table is not all one status).
    assert!(unsupported >= 40, "{unsupported} unsupported flags");
}

#[test]
fn unsupported_flags_take_their_go_type() {
    for (args, needle) in [
        (&["-extraNodes", "several"][..], "--extraNodes"),
        (
            &["-livePaymentInterval", "5 seconds"],
            "--livePaymentInterval",
        ),
        (&["-currentManifest=maybe"], "--currentManifest"),
    ] {
        let out = livepeer(args);
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("invalid value") && stderr.contains(needle),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("unexpected argument"), "{stderr}");
    }
    // Several at once: one line naming each.
    let out = livepeer(&[
        "-kafkaUser",
        "me",
        "-verifierUrl",
        "http://127.0.0.1:1",
        "-currentManifest",
    ]);
    assert_eq!(
        last_error_line(&out),
        "error: -verifierUrl is not supported yet; -currentManifest is not supported yet; \
         -kafkaUser is not supported yet"
    );
    // `auto` is for standalone orchestrators only; elsewhere go-livepeer's start-up line.
    let out = livepeer(&["-maxSessions", "auto"]);
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("-maxSessions must be 'auto' or greater than zero"),
        "{out:?}"
    );
}

#[test]
fn config_file_environment_and_command_line_in_go_order() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let file = tmp.path().join("livepeer.conf");
    std::fs::write(
        &file,
        "# a gateway on a dev chain\n\ngateway\nnetwork filenet # inline comment\n",
    )
    .expect("config file");
    let config = file.to_str().expect("utf-8");
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let out = livepeer_command()
            .args(args)
            .envs(env.iter().copied())
            .output()
            .expect("the binary runs");
        assert!(!out.status.success(), "{args:?} {env:?}");
        last_error_line(&out)
    };
    let needs_eth_url = |network: &str| format!("error: -network {network} needs -ethUrl");

    // The file alone: `gateway` by itself is true, and the network comes from it.
    assert!(run(&["-config", config], &[]).starts_with(&needs_eth_url("filenet")));
    // LP_ variables beat the file, and LP_CONFIG names it; unknown LP_ variables are ignored.
    let env = [("LP_NETWORK", "envnet"), ("LP_NOSUCHFLAG", "1")];
    assert!(run(&["-config", config], &env).starts_with(&needs_eth_url("envnet")));
    let env = [("LP_CONFIG", config), ("LP_NETWORK", "envnet")];
    assert!(run(&[], &env).starts_with(&needs_eth_url("envnet")));
    // The command line beats both.
    assert!(run(&["-network", "clinet"], &env).starts_with(&needs_eth_url("clinet")));
    // An empty variable is no setting.
    let env = [("LP_CONFIG", config), ("LP_NETWORK", "")];
    assert!(run(&[], &env).starts_with(&needs_eth_url("filenet")));

    // Unsupported flags are refused wherever they are set, saying where.
    assert_eq!(
        run(&["-config", config], &[("LP_KAFKAUSER", "me")]),
        "error: -kafkaUser is not supported yet (set by LP_KAFKAUSER)"
    );
    // A name that is no flag, and a file that is not there.
    let bad = tmp.path().join("bad.conf");
    std::fs::write(&bad, "gateway\norchAdr 127.0.0.1:8935\n").expect("config file");
    let bad = bad.to_str().expect("utf-8");
    assert_eq!(
        run(&["-config", bad], &[]),
        format!("error: -config {bad}: line 2: \"orchAdr\" is not a flag")
    );
    assert!(
        run(&["-config", "/no/such/livepeer.conf"], &[])
            .starts_with("error: -config /no/such/livepeer.conf: cannot read it")
    );
    assert!(
        run(&[], &[("LP_MAXATTEMPTS", "lots")]).starts_with("error: LP_MAXATTEMPTS: invalid value")
    );
}

/// Starts the binary with `HOME` at `home` and `env`, and waits for a line containing `ready`.
fn start_until(home: &std::path::Path, args: &[&str], env: &[(&str, &str)], ready: &str) -> Child {
    let mut child = livepeer_command()
        .env("HOME", home)
        .envs(env.iter().copied())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut log = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(line) if line.contains(ready) => return child,
            Ok(line) => log.push(line),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                panic!(
                    "exited before {ready:?}: {:?}\n{}",
                    child.wait(),
                    log.join("\n")
                )
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("never logged {ready:?}:\n{}", log.join("\n"));
        }
    }
}

#[test]
fn an_orchestrator_from_lp_variables_keeps_its_state_in_the_default_data_dir() {
    let home = tempfile::tempdir().expect("temp home");
    let env = [
        ("LP_ORCHESTRATOR", "true"),
        ("LP_TRANSCODER", "true"),
        ("LP_SERVICEADDR", "127.0.0.1:0"),
    ];
    let mut child = start_until(home.path(), &[], &env, "orchestrator listening");
    let data_dir = home.path().join(".lpData").join("offchain");
    let found = data_dir.join("cert.pem").is_file();
    let _ = child.kill();
    let _ = child.wait();
    assert!(found, "no cert.pem in {}", data_dir.display());
}

#[test]
fn a_gateway_runs_from_a_config_file() {
    let home = tempfile::tempdir().expect("temp home");
    let file = home.path().join("gateway.conf");
    std::fs::write(
        &file,
        "gateway true\nhttpAddr 127.0.0.1:0\norchAddr 127.0.0.1:9\ndataDir ".to_string()
            + home.path().join("gw").to_str().expect("utf-8")
            + "\n",
    )
    .expect("config file");
    let config = file.to_str().expect("utf-8");
    let mut child = start_until(home.path(), &["-config", config], &[], "gateway listening");
    let created = home.path().join("gw").is_dir();
    let _ = child.kill();
    let _ = child.wait();
    assert!(created, "-dataDir from the file was not created");
    assert!(
        !home.path().join(".lpData").exists(),
        "the default was used"
    );
}

#[test]
fn version_prints_the_version_and_exits() {
    for args in [
        &["-version"][..],
        &["--version"],
        &["-version=true", "-kafkaUser", "x"],
    ] {
        let out = livepeer(args);
        assert!(out.status.success(), "{args:?}: {out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            stdout.lines().next(),
            Some(format!("Livepeer Node Version: {}", env!("CARGO_PKG_VERSION")).as_str()),
            "{args:?}"
        );
    }
    let out = livepeer_command()
        .env("LP_VERSION", "true")
        .output()
        .expect("runs");
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("Livepeer Node Version: "));
}

#[test]
fn help_lists_the_working_flags_and_names_the_others() {
    let out = livepeer(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    let (flags, footer) = help
        .split_once("go-livepeer flags not supported yet")
        .expect("a list of the unsupported flags");
    for flag in table() {
        let shown = flags.contains(&format!("--{} ", flag.name))
            || flags.contains(&format!("--{}\n", flag.name));
        match flag.status {
            FlagStatus::Supported => assert!(shown, "--{} missing from --help", flag.name),
            FlagStatus::Deprecated => assert!(!shown, "deprecated --{} shown", flag.name),
            FlagStatus::Unsupported | FlagStatus::UnsupportedAny => {
                assert!(!shown, "unsupported --{} shown as working", flag.name);
                let listed = footer
                    .split_whitespace()
                    .any(|w| w == format!("-{}", flag.name));
                assert!(listed, "-{} not listed as unsupported", flag.name);
            }
        }
    }
    assert!(help.contains("LP_"), "environment variables not explained");
    // go's single-dash spelling works for help too.
    assert!(livepeer(&["-help"]).status.success());
}

#[test]
fn j_prints_a_mist_connector_descriptor_of_the_working_flags() {
    let out = livepeer(&["-j"]);
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["name"], "livepeer");
    assert_eq!(json["friendly"], "Livepeer");
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    let optional = json["optional"].as_object().expect("optional");
    let orch_addr = &optional["orchAddr"];
    assert_eq!(orch_addr["option"], "-orchAddr");
    assert_eq!(orch_addr["type"], "str");
    assert_eq!(optional["gateway"]["default"], "false");
    assert!(
        optional["gateway"].get("type").is_none(),
        "bools have no type"
    );
    assert_eq!(optional["discoveryTimeout"]["default"], "500ms");
    for flag in table() {
        let listed = optional.contains_key(flag.name);
        let works = matches!(flag.status, FlagStatus::Supported | FlagStatus::Deprecated);
        assert_eq!(listed, works, "-{}", flag.name);
    }
}

/// A public `-cliAddr` is refused at start-up without our `-allowPublicCliAddr`: the CLI API
/// has no authentication and moves the node's funds. Nothing is started or created first.
#[test]
fn a_public_cli_addr_needs_an_explicit_flag() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = livepeer_command()
        .args([
            "-gateway",
            "-orchAddr",
            "127.0.0.1:1",
            "-cliAddr",
            "0.0.0.0:0",
            "-dataDir",
        ])
        .arg(dir.path())
        .output()
        .expect("the binary runs");
    assert!(!out.status.success());
    let line = last_error_line(&out);
    assert!(
        line.contains("-cliAddr 0.0.0.0:0 is not a loopback address")
            && line.contains("-allowPublicCliAddr"),
        "{line}"
    );
}

#[test]
fn a_remote_signer_is_a_role_of_its_own_and_needs_a_chain() {
    let out = livepeer(&["-remoteSigner"]);
    assert_eq!(
        last_error_line(&out),
        "error: Remote signer mode requires on-chain network"
    );
    let out = livepeer(&["-remoteSigner", "-gateway"]);
    assert!(
        last_error_line(&out).contains("-remoteSigner is a role of its own"),
        "{out:?}"
    );
}
