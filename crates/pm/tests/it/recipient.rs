//! The orchestrator's validation of received tickets: every failure from a real signed
//! ticket, each with its own error; replays; payments.

use std::sync::Arc;

use alloy_primitives::{Address, U256};
use livepeer_pm::{
    ExactWei, LocalSigner, MAX_SENDER_NONCES, MemoryTicketStore, PmError, SenderInfo, Ticket,
};

use crate::support::{GWEI, Net, net, net_with};

const EV: u64 = 8 * GWEI;

/// secp256k1 group order n.
fn secp_n() -> U256 {
    "0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"
        .parse()
        .expect("valid literal")
}

#[test]
fn valid_ticket_is_accepted_once_and_its_replay_refused() {
    let n = net(EV);
    let session = n.session();
    let (t, sig, seed) = n.ticket(&session);
    assert_eq!(t.sender_nonce, 1);
    let got = n
        .recipient
        .receive_ticket(&t, &sig, seed)
        .expect("accepted");
    assert_eq!(got.ticket_hash, t.hash());
    assert_eq!(got.ev, t.ev());
    assert!(got.ev >= ExactWei::from_wei(U256::from(EV)));
    let replay = n
        .recipient
        .receive_ticket(&t, &sig, seed)
        .expect_err("replay refused");
    assert!(
        matches!(replay, PmError::NonceReplayed { nonce: 1, sender } if sender == t.sender),
        "{replay:?}"
    );
    assert!(!replay.is_fatal());
    // The next nonce of the same session is fine.
    let (t2, sig2, _) = n.ticket(&session);
    assert_eq!(t2.sender_nonce, 2);
    n.recipient
        .receive_ticket(&t2, &sig2, seed)
        .expect("accepted");
}

type Check = fn(&PmError) -> bool;
/// Breaks a ticket or its signature, or the network around it.
type Breaker = Box<dyn Fn(&Net, &mut Ticket, &mut Vec<u8>)>;

/// Each case takes a fresh network and a real signed ticket, breaks one thing, and expects
/// its own error.
#[test]
fn each_validation_failure_has_its_own_error() {
    let other = LocalSigner::from_bytes(&[0x22; 32]).expect("valid key");
    let cases: Vec<(&str, Breaker, Check, bool)> = vec![
        (
            "wrong recipient",
            Box::new(|n, t, sig| {
                t.recipient = Address::repeat_byte(0xee);
                *sig = n.gateway_key.sign(&t.hash()).to_vec();
            }),
            |e| matches!(e, PmError::WrongRecipient { .. }),
            true,
        ),
        (
            "zero sender",
            Box::new(|_, t, _| t.sender = Address::ZERO),
            |e| matches!(e, PmError::ZeroSender),
            true,
        ),
        (
            "altered face value (recipientRandHash mismatch)",
            Box::new(|n, t, sig| {
                t.face_value += U256::from(1);
                *sig = n.gateway_key.sign(&t.hash()).to_vec();
            }),
            |e| matches!(e, PmError::RecipientRandHashMismatch { .. }),
            true,
        ),
        (
            "altered price (recipientRandHash mismatch)",
            Box::new(|_, t, _| {
                t.price_per_pixel = livepeer_pm::PricePerPixel::new(1, 1).expect("valid");
            }),
            |e| matches!(e, PmError::RecipientRandHashMismatch { .. }),
            true,
        ),
        (
            "truncated signature",
            Box::new(|_, _, sig| sig.truncate(64)),
            |e| matches!(e, PmError::SignatureLength { len: 64 }),
            false,
        ),
        (
            "high-s signature",
            Box::new(|_, _, sig| {
                let s = U256::from_be_slice(&sig[32..64]);
                sig[32..64].copy_from_slice(&(secp_n() - s).to_be_bytes::<32>());
                sig[64] = if sig[64] == 27 { 28 } else { 27 };
            }),
            |e| matches!(e, PmError::SignatureHighS),
            false,
        ),
        (
            "v = 0/1",
            Box::new(|_, _, sig| sig[64] -= 27),
            |e| matches!(e, PmError::SignatureRecoveryId { .. }),
            false,
        ),
        (
            "r = 0",
            Box::new(|_, _, sig| sig[..32].fill(0)),
            |e| matches!(e, PmError::SignatureUnrecoverable),
            false,
        ),
        (
            "signed by another key",
            Box::new(move |_, t, sig| *sig = other.sign(&t.hash()).to_vec()),
            |e| matches!(e, PmError::SignerMismatch { .. }),
            false,
        ),
        (
            "expired params",
            Box::new(|n, t, _| {
                let block = u64::try_from(t.params_expiration_block).expect("small");
                n.chain.set_l1_block(block);
            }),
            |e| matches!(e, PmError::TicketParamsExpired { .. }),
            false,
        ),
        (
            "sender unlocking",
            Box::new(|n, _, _| {
                let mut info = n.chain.sender(n.gateway_key.address());
                info.withdraw_round = 101;
                n.chain.set_sender(n.gateway_key.address(), info);
            }),
            |e| {
                matches!(
                    e,
                    PmError::SenderUnlocking {
                        withdraw_round: 101,
                        ..
                    }
                )
            },
            true,
        ),
    ];
    for (name, breakit, check, fatal) in cases {
        let n = net(EV);
        let session = n.session();
        let (mut t, mut sig, seed) = n.ticket(&session);
        breakit(&n, &mut t, &mut sig);
        let err = n.recipient.receive_ticket(&t, &sig, seed).expect_err(name);
        assert!(check(&err), "{name}: unexpected {err:?}");
        assert_eq!(err.is_fatal(), fatal, "{name}: {err}");
        assert!(err.is_sender_fault(), "{name}: {err}");
    }
}

#[test]
fn insufficient_face_value_after_gas_price_rise() {
    // Face value capped at 1e15 wei: fine at 0.1 gwei, below go's 3 gwei floor later.
    let n = net_with(EV, Arc::new(MemoryTicketStore::new()), |c| {
        c.max_face_value_wei = U256::from(10u64).pow(U256::from(15));
    });
    let session = n.session();
    let (t, sig, seed) = n.ticket(&session);
    assert_eq!(t.face_value, U256::from(10u64).pow(U256::from(15)));
    n.chain.set_gas_price(U256::from(10 * GWEI));
    let err = n
        .recipient
        .receive_ticket(&t, &sig, seed)
        .expect_err("refused");
    assert!(
        matches!(err, PmError::InsufficientFaceValue { min_face_value, .. }
            if min_face_value == U256::from(1_200_000u64 * 3 * GWEI)),
        "{err:?}"
    );
    assert!(err.is_fatal());
    // Back at a normal gas price the same ticket is accepted.
    n.chain.set_gas_price(U256::from(GWEI / 10));
    n.recipient
        .receive_ticket(&t, &sig, seed)
        .expect("accepted");
}

#[test]
fn at_most_600_nonces_per_recipient_rand() {
    let n = net(EV);
    let session = n.session();
    let count = u32::try_from(MAX_SENDER_NONCES).expect("fits") + 1;
    let batch = n
        .sender
        .create_ticket_batch(&session, count)
        .expect("batch");
    let tickets = batch.tickets().expect("valid price");
    for (i, (t, sig)) in tickets.iter().enumerate() {
        let r = n.recipient.receive_ticket(t, sig, batch.params.seed);
        if i < MAX_SENDER_NONCES {
            r.unwrap_or_else(|e| panic!("ticket {i}: {e}"));
        } else {
            let err = r.expect_err("601st refused");
            assert!(
                matches!(
                    err,
                    PmError::TooManyNonces {
                        max: 600,
                        nonce: 601,
                        ..
                    }
                ),
                "{err:?}"
            );
        }
    }
    // Pruning at the expiration block forgets the bookkeeping.
    assert_eq!(n.recipient.tracked_recipient_rands(), 1);
    assert_eq!(
        n.recipient
            .prune_sender_nonces(batch.params.expiration_block - U256::from(1)),
        0
    );
    assert_eq!(
        n.recipient
            .prune_sender_nonces(batch.params.expiration_block),
        1
    );
}

#[test]
fn params_from_before_a_restart_are_refused() {
    // A new process has a new secret: the commitment no longer matches.
    let n = net(EV);
    let session = n.session();
    let (t, sig, seed) = n.ticket(&session);
    let restarted = net(EV);
    // Same address, same chain state, different secret.
    let store = Arc::new(MemoryTicketStore::new());
    let monitor = livepeer_pm::SenderMonitor::new(
        restarted.orch,
        n.chain.clone(),
        n.chain.clone(),
        store.clone(),
    );
    let fresh = livepeer_pm::Recipient::with_random_secret(
        *n.recipient.config(),
        n.chain.clone(),
        n.chain.clone(),
        monitor,
        store,
    );
    let err = fresh.receive_ticket(&t, &sig, seed).expect_err("refused");
    assert!(
        matches!(err, PmError::RecipientRandHashMismatch { .. }),
        "{err:?}"
    );
}

#[test]
fn payment_credits_until_the_first_error() {
    let n = net(EV);
    let session = n.session();
    let mut batch = n.sender.create_ticket_batch(&session, 5).expect("batch");
    let ev = batch.params.ev();
    let got = n.recipient.receive_payment(&batch).expect("not fatal");
    assert_eq!(got.accepted, 5);
    assert_eq!(got.credit, ev.checked_mul_u64(5).expect("mul"));
    assert!(got.error.is_none());
    assert_eq!(got.session_id, session);

    // Replaying the payment credits nothing.
    let replay = n.recipient.receive_payment(&batch).expect("not fatal");
    assert_eq!(replay.credit, ExactWei::ZERO);
    assert!(matches!(
        replay.error,
        Some(PmError::NonceReplayed { nonce: 1, .. })
    ));

    // A bad signature in third place: two credited, the rest not.
    let mut batch2 = n.sender.create_ticket_batch(&session, 5).expect("batch");
    batch2.sender_params[2].sig[64] = 0;
    let got = n.recipient.receive_payment(&batch2).expect("not fatal");
    assert_eq!(got.accepted, 2);
    assert_eq!(got.credit, ev.checked_mul_u64(2).expect("mul"));
    assert!(matches!(
        got.error,
        Some(PmError::SignatureRecoveryId { v: 0 })
    ));

    // A fatal error refuses the whole payment.
    batch.params.recipient = Address::repeat_byte(0x55);
    let err = n.recipient.receive_payment(&batch).expect_err("fatal");
    assert!(matches!(err, PmError::WrongRecipient { .. }));

    // Tickets without a sender or a usable price are refused.
    let mut no_sender = n.sender.create_ticket_batch(&session, 1).expect("batch");
    no_sender.sender = Address::ZERO;
    assert!(matches!(
        n.recipient.receive_payment(&no_sender),
        Err(PmError::PaymentMissingField { field: "sender" })
    ));
    let mut no_price = n.sender.create_ticket_batch(&session, 1).expect("batch");
    no_price.expected_price = livepeer_pm::PriceInfo::default();
    assert!(matches!(
        n.recipient.receive_payment(&no_price),
        Err(PmError::InvalidPrice { .. })
    ));
}

#[test]
fn winners_are_stored_before_the_payment_returns() {
    // EV a third of the face value: about one ticket in three wins.
    let face = 12_000_000_000_000_000u64;
    let n = net(face / 3);
    let session = n.session();
    let batch = n.sender.create_ticket_batch(&session, 60).expect("batch");
    let got = n.recipient.receive_payment(&batch).expect("accepted");
    assert!(
        !got.winners.is_empty(),
        "no winner in 60 tickets at p = 1/3"
    );
    let pending = n
        .store
        .pending_tickets(n.gateway_key.address())
        .expect("store");
    let stored: Vec<_> = pending.iter().map(|w| w.ticket_hash()).collect();
    assert_eq!(stored, got.winners);
    for w in &pending {
        assert!(livepeer_pm::is_winning_ticket(
            &w.sig,
            w.recipient_rand,
            w.ticket.win_prob
        ));
        assert_eq!(
            livepeer_pm::recipient_rand_hash(w.recipient_rand),
            w.ticket.recipient_rand_hash
        );
    }
    assert_eq!(
        n.store
            .pending_face_value(n.gateway_key.address())
            .expect("store"),
        U256::from(face) * U256::from(got.winners.len())
    );
}

#[test]
fn ticket_params_follow_the_chain() {
    let n = net(EV);
    let gw = n.gateway_key.address();
    let p = n.recipient.ticket_params(gw, n.price).expect("params");
    assert_eq!(p.recipient, n.orch);
    assert_eq!(p.face_value, U256::from(12_000_000_000_000_000u64));
    assert_eq!(
        p.win_prob,
        livepeer_pm::win_prob(U256::from(EV), p.face_value)
    );
    assert_eq!(p.expiration_block, U256::from(1040));
    assert_eq!(p.expiration_params.creation_round, 100);
    // Zero block hash for the round: fall back to the previous round.
    n.chain.set_round(101, alloy_primitives::B256::ZERO);
    let p = n.recipient.ticket_params(gw, n.price).expect("params");
    assert_eq!(p.expiration_params.creation_round, 100);
    assert_eq!(
        p.expiration_params.creation_round_block_hash,
        alloy_primitives::B256::repeat_byte(0xab)
    );
    // A zero price: free tickets.
    let free = n
        .recipient
        .ticket_params(gw, livepeer_pm::PriceInfo::new(0, 1))
        .expect("params");
    assert_eq!((free.face_value, free.win_prob), (U256::ZERO, U256::ZERO));
    // No reserve: insufficient sender reserve.
    n.chain.set_sender(
        gw,
        SenderInfo {
            deposit: U256::from(1u64) << 80,
            ..Default::default()
        },
    );
    assert!(matches!(
        n.recipient.ticket_params(gw, n.price),
        Err(PmError::InsufficientSenderReserve { .. })
    ));
}

#[test]
fn max_float_subtracts_pending_winners_unless_the_deposit_covers_them() {
    let face = 12_000_000_000_000_000u64;
    let n = net(face / 3);
    let gw = n.gateway_key.address();
    let monitor = n.recipient.sender_monitor();
    // Reserve 1e19 over a pool of 10.
    let alloc = U256::from(10u64).pow(U256::from(18));
    assert_eq!(monitor.max_float(gw).expect("max float"), alloc);
    assert_eq!(
        n.recipient.tx_cost_multiplier(gw).expect("multiplier"),
        U256::from(100)
    );
    let session = n.session();
    let batch = n.sender.create_ticket_batch(&session, 30).expect("batch");
    let got = n.recipient.receive_payment(&batch).expect("accepted");
    let pending = U256::from(face) * U256::from(got.winners.len());
    assert!(!pending.is_zero(), "no winner in 30 tickets at p = 1/3");
    assert_eq!(n.store.pending_face_value(gw).expect("sum"), pending);
    // Deposit 1 ETH >= 3 × pending: pending is not subtracted.
    assert_eq!(monitor.max_float(gw).expect("max float"), alloc);
    // A deposit below 3 × pending: it is.
    let mut info = n.chain.sender(gw);
    info.deposit = pending * U256::from(3) - U256::from(1);
    n.chain.set_sender(gw, info);
    assert_eq!(monitor.max_float(gw).expect("max float"), alloc - pending);
    // Claims by this orchestrator this round lower it too.
    n.chain.set_claimed_reserve(gw, n.orch, U256::from(1000));
    assert_eq!(
        monitor.max_float(gw).expect("max float"),
        alloc - pending - U256::from(1000)
    );
}
