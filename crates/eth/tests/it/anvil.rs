//! anvil dies with the thread that spawned it (`setpriv --pdeathsig KILL`), and with its
//! `AnvilInstance`.

use std::time::{Duration, Instant};

use livepeer_eth::anvil::{ChainOptions, spawn_anvil};

/// Whether `pid` is gone or a zombie waiting to be reaped.
fn is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rfind(')')
            .and_then(|close| stat[close + 1..].split_whitespace().next())
            .is_some_and(|state| state == "Z" || state == "X"),
    }
}

#[test]
fn anvil_reports_its_accounts_and_stops_on_drop() {
    let anvil = spawn_anvil(&ChainOptions {
        accounts: Some(3),
        ..Default::default()
    })
    .expect("anvil starts");
    assert_eq!(anvil.keys().len(), 3);
    assert_eq!(
        anvil.addresses(),
        anvil.keys().iter().map(|k| k.address()).collect::<Vec<_>>()
    );
    // anvil's first dev account.
    assert_eq!(
        anvil.addresses()[0].to_string(),
        "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
    );
    assert!(anvil.endpoint().starts_with("http://127.0.0.1:"));
    assert_ne!(anvil.port(), 0);
    std::net::TcpStream::connect(anvil.local_addr()).expect("anvil listens");
    // The child is anvil itself, not a setpriv wrapper.
    let pid = anvil.child().id();
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).expect("comm");
    assert_eq!(comm.trim(), "anvil");

    let addr = anvil.local_addr();
    drop(anvil);
    assert!(is_dead(pid), "anvil {pid} survived its drop");
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[test]
fn anvil_dies_when_the_thread_that_spawned_it_exits() {
    // Spawned from a short-lived thread whose AnvilInstance is leaked: only the parent-death
    // signal can stop it.
    let (pid, addr, dies_with_parent) = std::thread::spawn(|| {
        let anvil = spawn_anvil(&ChainOptions::default()).expect("anvil starts");
        let found = (
            anvil.child().id(),
            anvil.local_addr(),
            anvil.dies_with_parent(),
        );
        std::mem::forget(anvil);
        found
    })
    .join()
    .expect("thread");
    if !dies_with_parent {
        // No setpriv with --pdeathsig here: nothing to test; do not leave anvil running.
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
        eprintln!("setpriv --pdeathsig unavailable; skipped");
        return;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !(is_dead(pid) && std::net::TcpStream::connect(addr).is_err()) {
        if Instant::now() > deadline {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("anvil {pid} still running 10 s after its spawning thread exited");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
