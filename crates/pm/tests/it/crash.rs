//! Crash durability: a child process receives payments with a SQLite ticket store and prints
//! the hash of every winner once the payment that carried it is acknowledged; the parent
//! SIGKILLs it mid-stream, reopens the store and finds every acknowledged winner pending.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use alloy_primitives::B256;
use livepeer_pm::{SqliteTicketStore, TicketStore};

use crate::support::net_with;

/// Set in the child: the database path.
const CHILD_DB_ENV: &str = "LIVEPEER_PM_CRASH_CHILD_DB";
/// Winners the parent waits for before killing the child.
const KILL_AFTER: usize = 40;
const FACE: u64 = 12_000_000_000_000_000;

/// Child mode: pay forever (bounded), acknowledging winners on stdout.
fn run_child(db: &str) {
    let store = Arc::new(SqliteTicketStore::open(db).expect("open store"));
    // EV half the face value: about one ticket in two wins.
    let n = net_with(FACE / 2, store, |_| {});
    let session = n.session();
    for _ in 0..10_000 {
        let batch = n.sender.create_ticket_batch(&session, 4).expect("batch");
        let got = n.recipient.receive_payment(&batch).expect("accepted");
        // The payment is acknowledged now: its winners must be on disk.
        for h in got.winners {
            println!("ACK {h:#x}");
        }
    }
}

#[test]
fn acknowledged_winners_survive_sigkill() {
    if let Ok(db) = std::env::var(CHILD_DB_ENV) {
        run_child(&db);
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("tickets.db");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "crash::acknowledged_winners_survive_sigkill",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DB_ENV, &db)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut acked: Vec<B256> = Vec::new();
    while acked.len() < KILL_AFTER {
        let line = lines
            .next()
            .expect("child ended before acknowledging enough winners")
            .expect("read child stdout");
        if let Some(h) = line.strip_prefix("ACK ") {
            acked.push(h.parse().expect("ticket hash"));
        }
    }
    // SIGKILL: no destructor, no SQLite shutdown, mid-stream.
    child.kill().expect("kill child");
    // Acknowledgements already in the pipe count too.
    for line in lines {
        let Ok(line) = line else { break };
        if let Some(h) = line.strip_prefix("ACK ") {
            acked.push(h.parse().expect("ticket hash"));
        }
    }
    let status = child.wait().expect("wait child");
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(9),
            "child was killed, not finished: {status:?}"
        );
    }

    let store = SqliteTicketStore::open(&db).expect("reopen after crash");
    let stored = store.all_ticket_hashes().expect("hashes");
    for h in &acked {
        assert!(stored.contains(h), "acknowledged winner {h} lost");
        assert_eq!(
            store.status(*h).expect("status").as_deref(),
            Some("pending")
        );
    }
    // Every row reads back as a valid winning ticket.
    let senders = store.senders_with_pending().expect("senders");
    assert_eq!(senders.len(), 1);
    let pending = store.pending_tickets(senders[0]).expect("pending");
    assert_eq!(pending.len(), stored.len());
    for w in &pending {
        assert!(livepeer_pm::is_winning_ticket(
            &w.sig,
            w.recipient_rand,
            w.ticket.win_prob
        ));
    }
}
