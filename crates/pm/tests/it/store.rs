//! Winning-ticket stores: the same behaviour from the in-memory and the SQLite store, and the
//! SQLite store's durability settings and persistence across reopen.

use alloy_primitives::{Address, B256, U256};
use livepeer_pm::{
    LocalSigner, MemoryTicketStore, PricePerPixel, Settlement, SqliteTicketStore, Ticket,
    TicketExpirationParams, TicketStore, WinningTicket,
};

/// A signed winning ticket of `sender_key` with `nonce`, `round` and `face` wei.
pub fn winner(sender_key: &LocalSigner, nonce: u32, round: u64, face: u64) -> WinningTicket {
    let ticket = Ticket {
        recipient: Address::repeat_byte(0x0a),
        sender: sender_key.address(),
        face_value: U256::from(face),
        win_prob: U256::MAX,
        sender_nonce: nonce,
        recipient_rand_hash: B256::repeat_byte(0x33),
        expiration_params: TicketExpirationParams {
            creation_round: round,
            creation_round_block_hash: B256::repeat_byte(0x44),
        },
        params_expiration_block: U256::from(1040),
        price_per_pixel: PricePerPixel::new(6, 14).expect("valid"),
    };
    let sig = sender_key.sign(&ticket.hash()).to_vec();
    WinningTicket {
        ticket,
        sig,
        recipient_rand: U256::from(nonce) << 100,
    }
}

fn check_store_behaviour(name: &str, store: &dyn TicketStore) {
    let a = LocalSigner::from_bytes(&[1; 32]).expect("key");
    let b = LocalSigner::from_bytes(&[2; 32]).expect("key");
    let tickets = [
        winner(&a, 1, 100, 1000),
        winner(&b, 1, 100, 7),
        winner(&a, 2, 101, 2000),
        winner(&a, 3, 98, 4000),
    ];
    for t in &tickets {
        assert!(store.store_winning_ticket(t).expect("store"), "{name}");
    }
    // Idempotent by ticket hash.
    assert!(
        !store.store_winning_ticket(&tickets[0]).expect("store"),
        "{name}"
    );
    assert_eq!(
        store.senders_with_pending().expect("senders"),
        vec![a.address(), b.address()],
        "{name}"
    );
    assert_eq!(
        store.pending_tickets(a.address()).expect("pending"),
        vec![tickets[0].clone(), tickets[2].clone(), tickets[3].clone()],
        "{name}: oldest first, every field back"
    );
    assert_eq!(
        store.pending_face_value(a.address()).expect("sum"),
        U256::from(7000),
        "{name}"
    );
    assert_eq!(
        store.pending_face_value(b.address()).expect("sum"),
        U256::from(7),
        "{name}"
    );

    // Settled tickets leave the pending set; settling twice or an unknown hash is harmless.
    store
        .settle(
            tickets[0].ticket_hash(),
            Settlement::Redeemed {
                tx_hash: B256::repeat_byte(9),
            },
        )
        .expect("settle");
    store
        .settle(tickets[0].ticket_hash(), Settlement::Used)
        .expect("settle");
    store
        .settle(B256::repeat_byte(0x77), Settlement::Used)
        .expect("settle");
    assert_eq!(
        store.pending_face_value(a.address()).expect("sum"),
        U256::from(6000),
        "{name}"
    );

    // Round 100, validity 2: the round-98 ticket is expired, round 99+ not.
    assert_eq!(store.expire(100, 2).expect("expire"), 1, "{name}");
    assert_eq!(
        store.pending_tickets(a.address()).expect("pending"),
        vec![tickets[2].clone()],
        "{name}"
    );
    assert_eq!(
        store.expire(1, 2).expect("expire"),
        0,
        "{name}: no underflow"
    );
    store
        .settle(
            tickets[1].ticket_hash(),
            Settlement::TxFailed {
                tx_hash: B256::ZERO,
            },
        )
        .expect("settle");
    assert_eq!(
        store.senders_with_pending().expect("senders"),
        vec![a.address()],
        "{name}"
    );
}

#[test]
fn memory_and_sqlite_stores_behave_alike() {
    check_store_behaviour("memory", &MemoryTicketStore::new());
    check_store_behaviour(
        "sqlite in memory",
        &SqliteTicketStore::open_in_memory().expect("open"),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    check_store_behaviour(
        "sqlite file",
        &SqliteTicketStore::open(dir.path().join("tickets.db")).expect("open"),
    );
}

#[test]
fn sqlite_store_is_wal_full_sync_and_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tickets.db");
    let key = LocalSigner::from_bytes(&[5; 32]).expect("key");
    let tickets: Vec<_> = (1..=5)
        .map(|n| winner(&key, n, 100, 100 * u64::from(n)))
        .collect();
    {
        let store = SqliteTicketStore::open(&path).expect("open");
        assert_eq!(store.durability().expect("pragmas"), ("wal".to_owned(), 2));
        for t in &tickets {
            store.store_winning_ticket(t).expect("store");
        }
        store
            .settle(
                tickets[1].ticket_hash(),
                Settlement::Redeemed {
                    tx_hash: B256::repeat_byte(1),
                },
            )
            .expect("settle");
    }
    let store = SqliteTicketStore::open(&path).expect("reopen");
    let pending = store.pending_tickets(key.address()).expect("pending");
    assert_eq!(
        pending,
        vec![
            tickets[0].clone(),
            tickets[2].clone(),
            tickets[3].clone(),
            tickets[4].clone()
        ]
    );
    assert_eq!(
        store
            .status(tickets[1].ticket_hash())
            .expect("status")
            .as_deref(),
        Some("redeemed")
    );
    assert_eq!(store.status(B256::ZERO).expect("status"), None);
    assert_eq!(store.all_ticket_hashes().expect("hashes").len(), 5);
}

#[test]
fn corrupt_rows_are_reported_not_trusted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tickets.db");
    let key = LocalSigner::from_bytes(&[6; 32]).expect("key");
    let store = SqliteTicketStore::open(&path).expect("open");
    store
        .store_winning_ticket(&winner(&key, 1, 100, 10))
        .expect("store");
    drop(store);
    // Tamper with the face value behind the store's back.
    let conn = rusqlite::Connection::open(&path).expect("open raw");
    conn.execute(
        "UPDATE winning_tickets SET face_value = ?1",
        [U256::from(11).to_be_bytes::<32>().to_vec()],
    )
    .expect("update");
    drop(conn);
    let store = SqliteTicketStore::open(&path).expect("reopen");
    let err = store.pending_tickets(key.address()).expect_err("corrupt");
    assert!(
        matches!(err, livepeer_pm::PmError::CorruptStoredTicket { .. }),
        "{err:?}"
    );
}

/// A group of winners (one payment's) is stored together: new ones counted, duplicates within
/// the group and of earlier tickets ignored, all pending in order, and on disk after a reopen.
#[test]
fn a_group_of_winners_is_stored_in_one_commit_and_survives_reopen() {
    let key = LocalSigner::from_bytes(&[8; 32]).expect("key");
    let group: Vec<_> = (1..=6).map(|n| winner(&key, n, 100, 10)).collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tickets.db");
    let memory = MemoryTicketStore::new();
    let sqlite = SqliteTicketStore::open(&path).expect("open");
    for (name, store) in [
        ("memory", &memory as &dyn TicketStore),
        ("sqlite", &sqlite as &dyn TicketStore),
    ] {
        assert!(store.store_winning_ticket(&group[0]).expect("store"));
        let mut with_repeat = group.clone();
        with_repeat.push(group[3].clone());
        assert_eq!(
            store.store_winning_tickets(&with_repeat).expect("group"),
            5,
            "{name}: the five new ones"
        );
        assert_eq!(store.store_winning_tickets(&[]).expect("empty"), 0);
        assert_eq!(
            store.pending_tickets(key.address()).expect("pending"),
            group,
            "{name}"
        );
    }
    drop(sqlite);
    let reopened = SqliteTicketStore::open(&path).expect("reopen");
    assert_eq!(
        reopened.pending_tickets(key.address()).expect("pending"),
        group
    );
}

/// A group that cannot be stored whole is not stored at all: the payment is refused, and no
/// ticket of it is left half-acknowledged in the store.
#[test]
fn a_group_that_fails_is_not_stored_in_part() {
    let key = LocalSigner::from_bytes(&[9; 32]).expect("key");
    let mut group: Vec<_> = (1..=3).map(|n| winner(&key, n, 100, 10)).collect();
    // creation_round above i64::MAX cannot be stored.
    group[2].ticket.expiration_params.creation_round = u64::MAX;
    let store = SqliteTicketStore::open_in_memory().expect("open");
    let err = store.store_winning_tickets(&group).expect_err("refused");
    assert!(
        matches!(err, livepeer_pm::PmError::InvalidField { .. }),
        "{err}"
    );
    assert!(
        store
            .pending_tickets(key.address())
            .expect("pending")
            .is_empty()
    );
}
