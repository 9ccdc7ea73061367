//! The binary as an operator runs it.

use std::process::Command;

fn livepeer(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_livepeer"))
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
    let cases: [(&[&str], &str); 4] = [
        (
            &["-gateway", "-network", "arbitrum-one-mainnet"],
            "on-chain networks",
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
