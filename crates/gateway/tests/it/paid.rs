//! Paying on chain end to end, over an in-memory chain: a paid gateway pushes a real clip
//! through a paid orchestrator, every segment carries tickets, the winners are redeemed and
//! the gateway's deposit goes down by exactly their face values (pm.md §7, §9).

use alloy_primitives::U256;
use hyper::StatusCode;
use livepeer_pm::{PriceInfo, TicketStore, TimeSource};
use livepeer_testing::chain::{eth, memory_chain, paid_gateway, paid_orchestrator};

use crate::*;

#[tokio::test]
async fn a_paid_push_carries_tickets_that_redeem_for_their_face_value() {
    let chain = memory_chain();
    let ev = U256::from(livepeer_pm::recipient::DEFAULT_TICKET_EV_WEI);
    // Face value just above the EV: nearly every ticket wins. At 10 000 wei per pixel a 2 s
    // 144p segment (~2.2 M pixels) costs ~2.8 ticket EVs.
    let paid = paid_orchestrator(&chain, PriceInfo::new(10_000, 1), ev + U256::from(1));
    let payments = paid.config.clone();
    let orch = Orch::start(move |c| c.payments = Some(payments)).await;
    let (gateway, gw_payments) = paid_gateway(&chain, eth(1), eth(1));
    let ladder = profiles(&[P144]);
    let gw = Gateway::start_with(vec![orch.uri.clone()], ladder.clone(), |c| {
        c.payments = Some(gw_payments)
    })
    .await;
    let http = http();
    let segments = bikes().await;
    for segment in segments {
        let answer = push(&http, &gw, "paid", segment).await;
        check_pushed(&answer, segment.seq, &ladder).await;
    }

    // Every segment was paid for: the orchestrator wants one EV of balance before each and
    // charges ~2.8 EVs after, so at least two tickets per segment, every one a winner on disk.
    let winners = paid
        .store
        .pending_tickets(gateway.address())
        .expect("store readable");
    assert!(
        winners.len() >= 2 * segments.len(),
        "{} winners for {} segments",
        winners.len(),
        segments.len()
    );
    let mut tickets: Vec<_> = winners
        .iter()
        .map(|w| (w.ticket.recipient_rand_hash, w.ticket.sender_nonce))
        .collect();
    tickets.sort_unstable();
    tickets.dedup();
    assert_eq!(
        tickets.len(),
        winners.len(),
        "no nonce used twice on one set of params"
    );
    for w in &winners {
        assert_eq!(w.ticket.recipient, paid.signer.address());
        assert_eq!(w.ticket.sender, gateway.address());
    }

    // Once the parameters expire the winners are redeemed, each exactly once, paid from the
    // deposit.
    let before = chain.sender(gateway.address()).deposit;
    let expiry = winners
        .iter()
        .map(|w| w.ticket.params_expiration_block)
        .max()
        .expect("winners");
    chain.set_l1_block(expiry.to::<u64>() + 1);
    assert_eq!(chain.last_seen_l1_block(), expiry + U256::from(1));
    let outcomes = paid
        .recipient
        .redeem_ready(chain.as_ref())
        .await
        .expect("redemption runs");
    assert_eq!(outcomes.len(), winners.len());
    assert!(outcomes.iter().all(|o| o.result.is_ok()), "{outcomes:?}");
    let face_values: U256 = winners.iter().map(|w| w.ticket.face_value).sum();
    assert_eq!(
        before - chain.sender(gateway.address()).deposit,
        face_values
    );
    assert_eq!(chain.redeemed().len(), winners.len());
    let again = paid
        .recipient
        .redeem_ready(chain.as_ref())
        .await
        .expect("redemption runs");
    assert!(again.is_empty(), "nothing is redeemed twice");

    gw.stop().await;
    orch.stop().await;
}

#[tokio::test]
async fn a_gateway_that_cannot_pay_ends_the_stream_with_one_clear_error() {
    let chain = memory_chain();
    let paid = paid_orchestrator(&chain, PriceInfo::new(1, 1), U256::ZERO);
    let payments = paid.config.clone();
    let orch = Orch::start(move |c| c.payments = Some(payments)).await;
    // A reserve but no deposit: tickets cannot be backed.
    let (gateway, gw_payments) = paid_gateway(&chain, U256::ZERO, eth(1));
    let ladder = profiles(&[P144]);
    let gw = Gateway::start_with(vec![orch.uri.clone()], ladder, |c| {
        c.payments = Some(gw_payments)
    })
    .await;
    let http = http();
    let segment = &bikes().await[0];
    let answer = push(&http, &gw, "broke", segment).await;
    assert_eq!(
        answer.status,
        StatusCode::PAYMENT_REQUIRED,
        "{}",
        answer.text()
    );
    assert!(
        answer.text().contains("fund its TicketBroker deposit"),
        "{}",
        answer.text()
    );
    assert!(
        paid.store
            .pending_tickets(gateway.address())
            .expect("store")
            .is_empty()
    );
    gw.stop().await;
    orch.stop().await;
}

#[tokio::test]
async fn an_unpaid_gateway_is_refused_by_a_paid_orchestrator() {
    let chain = memory_chain();
    let paid = paid_orchestrator(&chain, PriceInfo::new(1, 1), U256::ZERO);
    let payments = paid.config.clone();
    let orch = Orch::start(move |c| c.payments = Some(payments)).await;
    let ladder = profiles(&[P144]);
    // An off-chain gateway sends no signature: discovery finds no usable orchestrator.
    let gw = Gateway::start(vec![orch.uri.clone()], ladder).await;
    let http = http();
    let answer = push(&http, &gw, "free", &bikes().await[0]).await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.text()
    );
    gw.stop().await;
    orch.stop().await;
}
