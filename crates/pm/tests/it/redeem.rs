//! Redemption of stored winners through the (in-memory) TicketBroker.

use alloy_primitives::U256;
use livepeer_pm::{PmError, Settlement};

use crate::support::{block_on, net};

const FACE: u64 = 12_000_000_000_000_000;

/// A network where about a third of tickets win, with `n` tickets received; returns the
/// winners' hashes.
fn with_winners(n: &crate::support::Net, count: u32) -> (String, Vec<alloy_primitives::B256>) {
    let session = n.session();
    let batch = n
        .sender
        .create_ticket_batch(&session, count)
        .expect("batch");
    let got = n.recipient.receive_payment(&batch).expect("accepted");
    assert!(
        !got.winners.is_empty(),
        "no winner in {count} tickets at p = 1/3"
    );
    (session, got.winners)
}

#[test]
fn winners_are_redeemed_once_their_params_expire() {
    let n = net(FACE / 3);
    let gw = n.gateway_key.address();
    let deposit_before = n.chain.sender(gw).deposit;
    let (session, winners) = with_winners(&n, 30);
    // A ticket signed now, delivered after the redemption.
    let (late, late_sig, seed) = n.ticket(&session);

    // Not before the parameters expire: recipientRand must stay secret until then.
    let early = block_on(n.recipient.redeem_ready(n.chain.as_ref())).expect("redeem");
    assert!(early.is_empty());
    assert!(n.chain.redeemed().is_empty());

    let expiry = n
        .sender
        .session_params(&session)
        .expect("params")
        .expiration_block;
    n.chain.set_l1_block(u64::try_from(expiry).expect("small"));
    let outcomes = block_on(n.recipient.redeem_ready(n.chain.as_ref())).expect("redeem");
    assert_eq!(outcomes.len(), winners.len());
    for o in &outcomes {
        assert!(matches!(o.result, Ok(Settlement::Redeemed { .. })), "{o:?}");
    }
    let redeemed: Vec<_> = n.chain.redeemed().iter().map(|(t, _)| t.hash()).collect();
    assert_eq!(redeemed, winners);
    assert_eq!(n.store.pending_face_value(gw).expect("sum"), U256::ZERO);
    let paid = U256::from(FACE) * U256::from(winners.len());
    assert_eq!(n.chain.sender(gw).deposit, deposit_before - paid);

    // recipientRand is now public: further tickets on those parameters are refused.
    let err = n
        .recipient
        .receive_ticket(&late, &late_sig, seed)
        .expect_err("revealed");
    assert!(
        matches!(err, PmError::RecipientRandRevealed { .. }),
        "{err:?}"
    );

    // No credit for it, but if it won, the winner is still kept (it is a valid ticket, and a
    // gateway that knows recipientRand would never send a winner): at most that one is left.
    let late_won = n.store.pending_tickets(gw).expect("pending").len();
    assert!(late_won <= 1);
    let again = block_on(n.recipient.redeem_ready(n.chain.as_ref())).expect("redeem");
    assert_eq!(again.len(), late_won);
}

#[test]
fn final_and_retryable_outcomes() {
    let n = net(FACE / 3);
    let gw = n.gateway_key.address();
    let (session, winners) = with_winners(&n, 60);
    assert!(
        winners.len() >= 2,
        "need two winners, got {}",
        winners.len()
    );
    let expiry = n
        .sender
        .session_params(&session)
        .expect("params")
        .expiration_block;
    n.chain.set_l1_block(u64::try_from(expiry).expect("small"));

    // Gas so expensive (100 gwei) that the face value does not pay for the transaction,
    // although the sender's funds would: retry later.
    n.chain.set_gas_price(U256::from(100_000_000_000u64));
    let outcomes = block_on(n.recipient.redeem_ready(n.chain.as_ref())).expect("redeem");
    assert_eq!(outcomes.len(), winners.len());
    for o in &outcomes {
        let e = o.result.as_ref().expect_err("too expensive");
        assert!(
            matches!(e, PmError::FaceValueBelowRedeemCost { .. }),
            "{e:?}"
        );
        assert!(e.is_retryable());
    }
    assert_eq!(
        n.store.pending_tickets(gw).expect("pending").len(),
        winners.len()
    );

    // Back to normal gas; the first ticket was already used, the second reverts.
    n.chain.set_gas_price(U256::from(100_000_000u64));
    n.chain.mark_used(winners[0]);
    n.chain.fail_next_redeem();
    let outcomes = block_on(n.recipient.redeem_ready(n.chain.as_ref())).expect("redeem");
    assert!(matches!(outcomes[0].result, Ok(Settlement::Used)));
    assert!(matches!(
        outcomes[1].result,
        Ok(Settlement::TxFailed { .. })
    ));
    for o in &outcomes[2..] {
        assert!(matches!(o.result, Ok(Settlement::Redeemed { .. })), "{o:?}");
    }
    assert!(n.store.pending_tickets(gw).expect("pending").is_empty());
    assert_eq!(n.chain.redeemed().len(), winners.len() - 2);
}

#[test]
fn tickets_past_the_validity_period_expire_unredeemed() {
    let n = net(FACE / 3);
    let gw = n.gateway_key.address();
    let (session, winners) = with_winners(&n, 30);
    let expiry = n
        .sender
        .session_params(&session)
        .expect("params")
        .expiration_block;
    n.chain.set_l1_block(u64::try_from(expiry).expect("small"));
    // Created in round 100; round 102 is past 100 + 2.
    n.chain
        .set_round(102, alloy_primitives::B256::repeat_byte(0x02));
    let outcomes = block_on(n.recipient.redeem_ready(n.chain.as_ref())).expect("redeem");
    assert!(outcomes.is_empty());
    assert!(n.chain.redeemed().is_empty());
    assert!(n.store.pending_tickets(gw).expect("pending").is_empty());
    assert!(!winners.is_empty());
}
