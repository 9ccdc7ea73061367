//! The gateway: sessions, nonces, batches and its acceptance rules for an orchestrator's
//! parameters (pm.md §5.5).

use std::sync::Arc;

use alloy_primitives::{B256, U256};
use livepeer_pm::{
    ExactWei, MAX_WIN_PROB, PmError, Sender, SenderConfig, SenderInfo, TicketExpirationParams,
    TicketParams, recover_signer,
};

use crate::support::{GWEI, Net, net};

const EV: u64 = 8 * GWEI;

fn params(n: &Net) -> TicketParams {
    n.recipient
        .ticket_params(n.gateway_key.address(), n.price)
        .expect("params")
}

fn sender_with(n: &Net, config: SenderConfig) -> Sender {
    Sender::new(
        Arc::new(n.gateway_key.clone()),
        n.chain.clone(),
        n.chain.clone(),
        config,
    )
}

#[test]
fn batches_carry_consecutive_nonces_and_valid_signatures() {
    let n = net(EV);
    let p = params(&n);
    let session = n.sender.start_session(p.clone(), n.price).expect("session");
    assert_eq!(session, format!("{:#x}", p.recipient_rand_hash));
    assert_eq!(n.sender.ev(&session).expect("ev"), p.ev());
    let mut expected_nonce = 1;
    for size in [3u32, 1, 4] {
        let batch = n.sender.create_ticket_batch(&session, size).expect("batch");
        assert_eq!(batch.sender, n.gateway_key.address());
        assert_eq!(batch.expected_price, n.price);
        assert_eq!(batch.params, p);
        assert_eq!(batch.expiration_params, p.expiration_params);
        for (t, sig) in batch.tickets().expect("valid price") {
            assert_eq!(t.sender_nonce, expected_nonce);
            expected_nonce += 1;
            assert_eq!(recover_signer(&t.hash(), sig).expect("recovers"), t.sender);
        }
    }
    // A restarted session starts again at 1; with a nonce it continues from there.
    n.sender.start_session(p.clone(), n.price).expect("session");
    let b = n.sender.create_ticket_batch(&session, 1).expect("batch");
    assert_eq!(b.sender_params[0].sender_nonce, 1);
    n.sender
        .start_session_with_nonce(p.clone(), n.price, 41)
        .expect("session");
    let b = n.sender.create_ticket_batch(&session, 1).expect("batch");
    assert_eq!(b.sender_params[0].sender_nonce, 42);
    // Nonces run out instead of wrapping.
    n.sender
        .start_session_with_nonce(p, n.price, u32::MAX - 1)
        .expect("session");
    assert!(matches!(
        n.sender.create_ticket_batch(&session, 2),
        Err(PmError::NoncesExhausted { .. })
    ));
    n.sender.end_session(&session);
    assert!(matches!(
        n.sender.create_ticket_batch(&session, 1),
        Err(PmError::UnknownSession { .. })
    ));
}

#[test]
fn incomplete_expiration_params_are_filled_from_the_gateway() {
    let n = net(EV);
    let mut p = params(&n);
    p.expiration_params = TicketExpirationParams::default();
    let session = n.sender.start_session(p, n.price).expect("session");
    let b = n.sender.create_ticket_batch(&session, 1).expect("batch");
    assert_eq!(b.expiration_params.creation_round, 100);
    assert_eq!(
        b.expiration_params.creation_round_block_hash,
        B256::repeat_byte(0xab)
    );
}

type Check = fn(&PmError) -> bool;
/// Changes the parameters, the gateway's limits or the chain.
type Setup = Box<dyn Fn(&Net, &mut TicketParams, &mut SenderConfig)>;

/// Each acceptance rule of go's `validateTicketParams`, in order, with its own error.
#[test]
fn acceptance_rules_table() {
    let defaults = SenderConfig::default();
    let cases: Vec<(&str, Setup, u64, Check)> = vec![
        (
            "no expiration block",
            Box::new(|_, p, _| p.expiration_block = U256::ZERO),
            1,
            |e| matches!(e, PmError::MissingExpirationBlock),
        ),
        (
            "expires within the buffer",
            Box::new(|n, p, _| {
                n.chain
                    .set_l1_block(u64::try_from(p.expiration_block).expect("small") - 1)
            }),
            1,
            |e| matches!(e, PmError::TicketParamsExpired { .. }),
        ),
        (
            "winProb = M (EV == faceValue)",
            Box::new(|_, p, _| p.win_prob = MAX_WIN_PROB),
            1,
            |e| matches!(e, PmError::FaceValueTooLow { .. }),
        ),
        (
            "EV above -maxTicketEV",
            Box::new(|_, _, c| c.max_ticket_ev_wei = Some(U256::from(EV - 1))),
            1,
            |e| matches!(e, PmError::TicketEvTooHigh { .. }),
        ),
        (
            "deposit unlocking",
            Box::new(|n, _, _| {
                let a = n.gateway_key.address();
                let mut i = n.chain.sender(a);
                i.withdraw_round = 101;
                n.chain.set_sender(a, i);
            }),
            1,
            |e| matches!(e, PmError::SenderUnlocking { .. }),
        ),
        (
            "no reserve",
            Box::new(|n, _, _| {
                let a = n.gateway_key.address();
                let mut i = n.chain.sender(a);
                i.reserve_funds_remaining = U256::ZERO;
                n.chain.set_sender(a, i);
            }),
            1,
            |e| matches!(e, PmError::NoSenderReserve),
        ),
        (
            "no deposit",
            Box::new(|n, _, _| {
                let a = n.gateway_key.address();
                let mut i = n.chain.sender(a);
                i.deposit = U256::ZERO;
                n.chain.set_sender(a, i);
            }),
            1,
            |e| matches!(e, PmError::NoSenderDeposit),
        ),
        (
            "EV × tickets above -maxTotalEV",
            Box::new(|_, _, _| {}),
            2501,
            |e| matches!(e, PmError::TotalEvTooHigh { .. }),
        ),
        (
            "face value above deposit / multiplier",
            Box::new(|_, _, c| c.deposit_multiplier = 100),
            1,
            |e| matches!(e, PmError::FaceValueTooHigh { .. }),
        ),
    ];
    for (name, setup, num, check) in cases {
        let n = net(EV);
        let mut p = params(&n);
        let mut config = defaults;
        // 1 ETH deposit: 1e18 / 100 = 1e16 < 1.2e16 face value for the multiplier case.
        setup(&n, &mut p, &mut config);
        let s = sender_with(&n, config);
        let err = s.validate_ticket_params(&p, num).expect_err(name);
        assert!(check(&err), "{name}: unexpected {err:?}");
    }
    // Defaults accept the orchestrator's default parameters up to -maxTotalEV: the real EV is
    // a hair above 8 gwei (winProb rounds up), so 2499 tickets fit in 2e13 wei and 2500 do not.
    let n = net(EV);
    let s = sender_with(&n, defaults);
    s.validate_ticket_params(&params(&n), 2499)
        .expect("accepted");
    assert!(matches!(
        s.validate_ticket_params(&params(&n), 2500),
        Err(PmError::TotalEvTooHigh { .. })
    ));
    // Free parameters are always accepted once not expired.
    let mut free = params(&n);
    free.face_value = U256::ZERO;
    free.win_prob = U256::ZERO;
    n.chain
        .set_sender(n.gateway_key.address(), SenderInfo::default());
    s.validate_ticket_params(&free, 1).expect("free accepted");
    assert_eq!(free.ev(), ExactWei::ZERO);
}
