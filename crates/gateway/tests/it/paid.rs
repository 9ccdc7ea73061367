//! Paying on chain end to end, over an in-memory chain: a paid gateway pushes a real clip
//! through a paid orchestrator, every segment carries tickets, the winners are redeemed and
//! the gateway's deposit goes down by exactly their face values (pm.md §7, §9).

use alloy_primitives::U256;
use hyper::StatusCode;
use livepeer_pm::{PriceInfo, TicketStore, TimeSource};
use livepeer_testing::chain::{eth, memory_chain, paid_gateway, paid_orchestrator};
use livepeer_testing::request;

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

/// The on-chain pool as a fixed list (the node walks the BondingManager instead).
struct FixedPool(Vec<livepeer_gateway::pool::PoolMember>);

impl livepeer_gateway::pool::OrchestratorPool for FixedPool {
    fn walk(
        &self,
    ) -> futures::future::BoxFuture<
        '_,
        Result<livepeer_gateway::pool::PoolWalk, livepeer_gateway::GatewayError>,
    > {
        let members = self.0.clone();
        Box::pin(async move { Ok(livepeer_gateway::pool::PoolWalk { round: 10, members }) })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_selection_follows_stake_weights_and_never_picks_an_orchestrator_above_the_max_price()
{
    use livepeer_gateway::selection::{SelectionCandidate, SelectionConfig, probabilities};
    use livepeer_pm::PricePerPixel;

    let chain = memory_chain();
    // Prices 1, 1 and 5 wei/pixel; stakes 1000, 3000 and 6000 LPT; max price 2 wei/pixel.
    let prices = [1i64, 1, 5];
    let stakes = [1000u64, 3000, 6000];
    let mut paid = Vec::new();
    let mut orchs = Vec::new();
    for price in prices {
        let p = paid_orchestrator(&chain, PriceInfo::new(price, 1), U256::ZERO);
        let payments = p.config.clone();
        orchs.push(
            Orch::start(move |c| {
                c.payments = Some(payments);
                c.max_sessions = 200;
            })
            .await,
        );
        paid.push(p);
    }
    let members = pool_members(&orchs, &paid, &stakes);
    let selection = SelectionConfig {
        max_price: Some(PricePerPixel::new(2, 1).expect("price")),
        ..Default::default()
    };
    // Go's defaults (stake 0.7, random 0.3, price 0): the two within the max price get
    // 0.7 × 1/4 + 0.3 / 2 = 0.325 and 0.7 × 3/4 + 0.3 / 2 = 0.675.
    let want = probabilities(
        &selection,
        &members
            .iter()
            .zip(prices)
            .map(|(m, price)| SelectionCandidate {
                address: m.address,
                stake: m.stake,
                price: PricePerPixel::new(price as u64, 1).expect("price"),
                perf_score: None,
            })
            .collect::<Vec<_>>(),
    );
    assert!(
        (want[0] - 0.325).abs() < 1e-9 && (want[1] - 0.675).abs() < 1e-9,
        "{want:?}"
    );
    assert_eq!(want[2], 0.0);

    let (_, mut gw_payments) = paid_gateway(&chain, eth(10), eth(10));
    gw_payments.pool = Some(std::sync::Arc::new(FixedPool(members)));
    gw_payments.selection = selection;
    let ladder = profiles(&[P144]);
    let gw = Gateway::start_with(Vec::new(), ladder.clone(), |c| {
        c.payments = Some(gw_payments);
        c.max_sessions = 0;
    })
    .await;
    let http = http();
    let segment = &bikes().await[0];
    // One stream per draw: each new stream's first session is a weighted draw.
    const STREAMS: usize = 100;
    let pushes = futures::stream::iter(0..STREAMS).map(|i| {
        let http = http.clone();
        let gw = &gw;
        async move {
            let manifest = format!("draw-{i}");
            let answer = push(&http, gw, &manifest, segment).await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
            request(
                &http,
                hyper::Method::DELETE,
                &format!("{}/live/{manifest}", gw.base),
                &[],
                Bytes::new(),
            )
            .await;
        }
    });
    use futures::StreamExt as _;
    pushes.buffer_unordered(4).collect::<Vec<_>>().await;

    let by = gw.handle.segments_by_orchestrator();
    let count = |o: &Orch| segments_to(&by, o);
    let counts: Vec<u64> = orchs.iter().map(count).collect();
    assert_eq!(counts.iter().sum::<u64>(), STREAMS as u64, "{counts:?}");
    assert_eq!(
        counts[2], 0,
        "the orchestrator above the max price is never selected"
    );
    // Within 0.2 of the weights: 4 standard deviations at 100 draws.
    for i in 0..2 {
        let share = counts[i] as f64 / STREAMS as f64;
        assert!(
            (share - want[i]).abs() < 0.2,
            "shares {counts:?} vs {want:?}"
        );
    }
    gw.stop().await;
    for o in orchs {
        o.stop().await;
    }
}

/// `-orchBlocklist`: a blocklisted orchestrator of the pool is never used, however much stake
/// it has; the other one gets every stream.
#[tokio::test]
async fn a_blocklisted_orchestrator_in_the_pool_gets_no_stream() {
    let chain = memory_chain();
    let mut paid = Vec::new();
    let mut orchs = Vec::new();
    for _ in 0..2 {
        let p = paid_orchestrator(&chain, PriceInfo::new(1, 1), U256::ZERO);
        let payments = p.config.clone();
        orchs.push(Orch::start(move |c| c.payments = Some(payments)).await);
        paid.push(p);
    }
    // The blocklisted one holds 99 % of the stake.
    let members = pool_members(&orchs, &paid, &[10, 990]);
    let blocked = paid[1].signer.address();
    let (_, mut gw_payments) = paid_gateway(&chain, eth(10), eth(10));
    gw_payments.pool = Some(std::sync::Arc::new(FixedPool(members)));
    let gw = Gateway::start_with(Vec::new(), profiles(&[P144]), |c| {
        c.payments = Some(gw_payments);
        c.orch_blocklist =
            livepeer_gateway::discovery::parse_orch_blocklist(&blocked.to_string().to_lowercase())
                .expect("the blocklist parses");
    })
    .await;
    let http = http();
    let segment = &bikes().await[0];
    for i in 0..5 {
        let answer = push(&http, &gw, &format!("blocked-{i}"), segment).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    }
    let by = gw.handle.segments_by_orchestrator();
    let count = |o: &Orch| segments_to(&by, o);
    assert_eq!([count(&orchs[0]), count(&orchs[1])], [5, 0], "{by:?}");
    gw.stop().await;
    for o in orchs {
        o.stop().await;
    }
}

/// Pool members for paid orchestrators `orchs` (their keys in `paid`), active since round 0,
/// with `stakes_lpt`.
fn pool_members(
    orchs: &[Orch],
    paid: &[livepeer_testing::chain::PaidOrch],
    stakes_lpt: &[u64],
) -> Vec<livepeer_gateway::pool::PoolMember> {
    orchs
        .iter()
        .zip(paid)
        .zip(stakes_lpt)
        .map(|((o, p), &stake)| livepeer_gateway::pool::PoolMember {
            address: p.signer.address(),
            service_uri: o.base.clone(),
            stake: eth(stake),
            activation_round: 0,
            deactivation_round: u64::MAX,
        })
        .collect()
}

/// Segments the gateway got transcoded by `orch`, from `segments_by_orchestrator`.
fn segments_to(by: &std::collections::HashMap<hyper::Uri, u64>, orch: &Orch) -> u64 {
    by.iter()
        .find(|(uri, _)| uri.to_string().trim_end_matches('/') == orch.base)
        .map_or(0, |(_, n)| *n)
}
