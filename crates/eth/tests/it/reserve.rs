//! The TicketBroker's deposit, reserve and unlock rules on a devnet (protocol.md §3.2–§3.4):
//! once the deposit is gone, each active orchestrator can take at most reserve / pool size per
//! round, and funds leave only after the unlock period.

use crate::support::{reason, reverts, send};
use alloy::primitives::{Address, Bytes, U256, utils::parse_ether};
use alloy::providers::{DynProvider, Provider};
use alloy::signers::local::PrivateKeySigner;
use livepeer_eth::contracts::{BondingManager, ITicketBroker, RoundsManager, TicketBroker};
use livepeer_eth::deployment::{DevParams, advance_round};
use livepeer_eth::devnet::{Devnet, DevnetConfig, signing_provider};
use livepeer_eth::{EthError, TicketRevert};
use livepeer_pm::{LocalSigner, Ticket, TicketExpirationParams, recipient_rand_hash};

/// Rounds between `unlock` and `withdraw` in these tests.
const UNLOCK_PERIOD: u64 = 2;

fn eth(amount: &str) -> U256 {
    parse_ether(amount).expect("ETH amount")
}

async fn devnet(orchestrators: usize) -> Devnet {
    Devnet::start(&DevnetConfig {
        orchestrators,
        params: DevParams {
            round_length: 20,
            unlock_period: UNLOCK_PERIOD,
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .expect("devnet starts")
}

fn keys(devnet: &Devnet, role: &str) -> Vec<PrivateKeySigner> {
    devnet
        .info
        .accounts
        .iter()
        .filter(|a| a.role == role)
        .map(|a| a.private_key.parse().expect("dev key"))
        .collect()
}

/// The devnet gateway: its key for pm signatures and a provider that sends as it.
struct Gateway {
    signer: LocalSigner,
    chain: DynProvider,
}

impl Gateway {
    fn of(devnet: &Devnet) -> Self {
        let key = keys(devnet, "gateway").remove(0);
        Self {
            signer: LocalSigner::from_bytes(&key.to_bytes().0).expect("valid key"),
            chain: signing_provider(&devnet.info.rpc_url, &key).expect("provider"),
        }
    }

    fn address(&self) -> Address {
        self.signer.address()
    }

    fn broker(&self, devnet: &Devnet) -> TicketBroker::TicketBrokerInstance<DynProvider> {
        TicketBroker::new(devnet.info.contracts.ticket_broker, self.chain.clone())
    }

    /// A winning ticket (winProb = 2^256 − 1) of `face_value` to `recipient`, created in the
    /// current round, with its signature and recipientRand.
    async fn ticket(
        &self,
        devnet: &Devnet,
        recipient: Address,
        face_value: U256,
        nonce: u32,
    ) -> (ITicketBroker::Ticket, Bytes, U256) {
        let rounds = RoundsManager::new(devnet.info.contracts.rounds_manager, self.chain.clone());
        let round: U256 = rounds.currentRound().call().await.expect("round");
        let block_hash = rounds.blockHashForRound(round).call().await.expect("hash");
        let rand = U256::from(0x5EED_0000_u64 + u64::from(nonce));
        let pm_ticket = Ticket {
            recipient,
            sender: self.address(),
            face_value,
            win_prob: U256::MAX,
            sender_nonce: nonce,
            recipient_rand_hash: recipient_rand_hash(rand),
            expiration_params: TicketExpirationParams {
                creation_round: round.saturating_to(),
                creation_round_block_hash: block_hash,
            },
            params_expiration_block: U256::ZERO,
            price_per_pixel: livepeer_pm::PricePerPixel::ZERO,
        };
        let sig = self.signer.sign(&pm_ticket.hash());
        let onchain = ITicketBroker::Ticket {
            recipient,
            sender: self.address(),
            faceValue: face_value,
            winProb: U256::MAX,
            senderNonce: U256::from(nonce),
            recipientRandHash: pm_ticket.recipient_rand_hash,
            auxData: Bytes::from(pm_ticket.aux_data().as_slice().to_vec()),
        };
        (onchain, Bytes::from(sig.to_vec()), rand)
    }
}

/// Redeems a fresh winning ticket of `face_value` from the gateway to `recipient`, submitted by
/// the recipient; returns the amount the broker transferred (`WinningTicketTransfer`, 0 when
/// none).
async fn redeem(
    devnet: &Devnet,
    gateway: &Gateway,
    recipient: &PrivateKeySigner,
    face_value: U256,
    nonce: u32,
) -> Result<U256, EthError> {
    let (ticket, sig, rand) = gateway
        .ticket(devnet, recipient.address(), face_value, nonce)
        .await;
    let chain = signing_provider(&devnet.info.rpc_url, recipient).expect("provider");
    let broker = TicketBroker::new(devnet.info.contracts.ticket_broker, chain);
    let receipt = send(
        broker.redeemWinningTicket(ticket.clone(), sig, rand),
        "TicketBroker.redeemWinningTicket",
    )
    .await?;
    let hash = broker.getTicketHash(ticket).call().await.expect("hash");
    assert!(broker.usedTickets(hash).call().await.expect("usedTickets"));
    assert!(
        receipt
            .decoded_log::<TicketBroker::WinningTicketRedeemed>()
            .is_some(),
        "every redemption emits WinningTicketRedeemed"
    );
    Ok(receipt
        .logs()
        .iter()
        .filter_map(|log| log.log_decode::<TicketBroker::WinningTicketTransfer>().ok())
        .map(|log| log.inner.data.amount)
        .fold(U256::ZERO, |sum, amount| sum + amount))
}

/// `(deposit, reserve funds, claimed from the reserve this round)` of `sender`.
async fn funds(
    broker: &TicketBroker::TicketBrokerInstance<DynProvider>,
    sender: Address,
) -> (U256, U256, U256) {
    let info = broker
        .getSenderInfo(sender)
        .call()
        .await
        .expect("getSenderInfo");
    (
        info.sender.deposit,
        info.reserve.fundsRemaining,
        info.reserve.claimedInCurrentRound,
    )
}

/// `(claimableReserve, claimedReserve)` of `claimant` against `holder`'s reserve.
async fn reserve_views(
    broker: &TicketBroker::TicketBrokerInstance<DynProvider>,
    holder: Address,
    claimant: Address,
) -> (U256, U256) {
    (
        broker
            .claimableReserve(holder, claimant)
            .call()
            .await
            .expect("claimableReserve"),
        broker
            .claimedReserve(holder, claimant)
            .call()
            .await
            .expect("claimedReserve"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_deposit_falls_back_to_a_per_round_share_of_the_reserve_per_orchestrator() {
    let devnet = devnet(2).await;
    let orchestrators = keys(&devnet, "orchestrator");
    let (o1, o2) = (&orchestrators[0], &orchestrators[1]);
    let gateway = Gateway::of(&devnet);
    let g = gateway.address();
    let broker = gateway.broker(&devnet);

    // msg.value must be exactly deposit + reserve.
    let err = reverts(
        broker
            .fundDepositAndReserve(eth("1"), eth("2"))
            .value(eth("2.5")),
        "fundDepositAndReserve",
    )
    .await;
    assert_eq!(
        reason(&err),
        "msg.value does not equal sum of deposit amount and reserve amount"
    );
    let receipt = send(
        broker
            .fundDepositAndReserve(eth("1"), eth("2"))
            .value(eth("3")),
        "fundDepositAndReserve",
    )
    .await
    .expect("fund");
    let funded = receipt
        .decoded_log::<TicketBroker::ReserveFunded>()
        .expect("ReserveFunded");
    assert_eq!((funded.reserveHolder, funded.amount), (g, eth("2")));
    let funded = receipt
        .decoded_log::<TicketBroker::DepositFunded>()
        .expect("DepositFunded");
    assert_eq!((funded.sender, funded.amount), (g, eth("1")));
    assert_eq!(funds(&broker, g).await, (eth("1"), eth("2"), U256::ZERO));

    // Two active orchestrators: each may take half of the reserve this round; anyone outside
    // the active set nothing.
    let bm = BondingManager::new(
        devnet.info.contracts.bonding_manager,
        devnet.provider.clone(),
    );
    assert_eq!(
        bm.getTranscoderPoolSize().call().await.expect("pool"),
        U256::from(2)
    );
    assert_eq!(
        reserve_views(&broker, g, o1.address()).await,
        (eth("1"), U256::ZERO)
    );
    assert_eq!(
        reserve_views(&broker, g, o2.address()).await,
        (eth("1"), U256::ZERO)
    );
    assert_eq!(
        reserve_views(&broker, g, Address::repeat_byte(0x77)).await,
        (U256::ZERO, U256::ZERO)
    );

    // 1.5 to O1: the whole 1 ETH deposit, then 0.5 from O1's 1 ETH allocation.
    assert_eq!(
        redeem(&devnet, &gateway, o1, eth("1.5"), 1)
            .await
            .expect("redeem"),
        eth("1.5")
    );
    assert_eq!(
        funds(&broker, g).await,
        (U256::ZERO, eth("1.5"), eth("0.5"))
    );
    assert_eq!(
        reserve_views(&broker, g, o1.address()).await,
        (eth("0.5"), eth("0.5"))
    );
    assert_eq!(
        reserve_views(&broker, g, o2.address()).await,
        (eth("1"), U256::ZERO)
    );

    // 1 more to O1 gets only what is left of its allocation; then nothing, though the ticket
    // still counts as redeemed.
    assert_eq!(
        redeem(&devnet, &gateway, o1, eth("1"), 2)
            .await
            .expect("redeem"),
        eth("0.5")
    );
    assert_eq!(
        reserve_views(&broker, g, o1.address()).await,
        (U256::ZERO, eth("1"))
    );
    assert_eq!(
        redeem(&devnet, &gateway, o1, eth("0.2"), 3)
            .await
            .expect("redeem"),
        U256::ZERO
    );
    assert_eq!(funds(&broker, g).await, (U256::ZERO, eth("1"), eth("1")));

    // O2's half is untouched by O1's claims.
    assert_eq!(
        reserve_views(&broker, g, o2.address()).await,
        (eth("1"), U256::ZERO)
    );
    assert_eq!(
        redeem(&devnet, &gateway, o2, eth("0.6"), 4)
            .await
            .expect("redeem"),
        eth("0.6")
    );
    assert_eq!(
        reserve_views(&broker, g, o2.address()).await,
        (eth("0.4"), eth("0.6"))
    );
    assert_eq!(
        funds(&broker, g).await,
        (U256::ZERO, eth("0.4"), eth("1.6"))
    );

    // A new round splits what remains afresh: 0.4 / 2 each.
    advance_round(&devnet.provider, &devnet.info.contracts)
        .await
        .expect("round");
    assert_eq!(
        funds(&broker, g).await,
        (U256::ZERO, eth("0.4"), U256::ZERO)
    );
    assert_eq!(
        reserve_views(&broker, g, o1.address()).await,
        (eth("0.2"), U256::ZERO)
    );
    assert_eq!(
        reserve_views(&broker, g, o2.address()).await,
        (eth("0.2"), U256::ZERO)
    );
    assert_eq!(
        redeem(&devnet, &gateway, o1, eth("1"), 5)
            .await
            .expect("redeem"),
        eth("0.2")
    );
    assert_eq!(
        redeem(&devnet, &gateway, o2, eth("1"), 6)
            .await
            .expect("redeem"),
        eth("0.2")
    );
    assert_eq!(
        funds(&broker, g).await,
        (U256::ZERO, U256::ZERO, eth("0.4"))
    );

    // With deposit and reserve both gone the ticket is refused.
    let err = redeem(&devnet, &gateway, o1, eth("0.1"), 7)
        .await
        .expect_err("no funds");
    assert_eq!(err.ticket_revert(), Some(TicketRevert::NoFunds), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn funds_leave_only_after_the_unlock_period_and_cancel_unlock_keeps_them_redeemable() {
    let devnet = devnet(1).await;
    let orchestrator = keys(&devnet, "orchestrator").remove(0);
    let gateway = Gateway::of(&devnet);
    let g = gateway.address();
    let broker = gateway.broker(&devnet);
    let advance = || async {
        advance_round(&devnet.provider, &devnet.info.contracts)
            .await
            .expect("round")
    };

    send(
        broker
            .fundDepositAndReserve(eth("0.5"), eth("1"))
            .value(eth("1.5")),
        "fundDepositAndReserve",
    )
    .await
    .expect("fund");
    for (err, expected) in [
        (
            reverts(broker.withdraw(), "withdraw").await,
            "no unlock request in progress",
        ),
        (
            reverts(broker.cancelUnlock(), "cancelUnlock").await,
            "no unlock request in progress",
        ),
    ] {
        assert_eq!(reason(&err), expected);
    }

    // unlock in round r: withdrawable from r + unlockPeriod.
    let rounds = RoundsManager::new(
        devnet.info.contracts.rounds_manager,
        devnet.provider.clone(),
    );
    let round = rounds.currentRound().call().await.expect("round");
    let receipt = send(broker.unlock(), "unlock").await.expect("unlock");
    let unlock = receipt
        .decoded_log::<TicketBroker::Unlock>()
        .expect("Unlock");
    assert_eq!(
        (unlock.sender, unlock.startRound, unlock.endRound),
        (g, round, round + U256::from(UNLOCK_PERIOD))
    );
    assert!(broker.isUnlockInProgress(g).call().await.expect("view"));
    let info = broker.getSenderInfo(g).call().await.expect("info");
    assert_eq!(info.sender.withdrawRound, round + U256::from(UNLOCK_PERIOD));
    let err = reverts(broker.unlock(), "unlock").await;
    assert_eq!(reason(&err), "unlock already initiated");

    // Too early, in the unlock round and the one after; the sender is still locked, so its
    // tickets still pay.
    let err = reverts(broker.withdraw(), "withdraw").await;
    assert_eq!(reason(&err), "account is locked");
    advance().await;
    let err = reverts(broker.withdraw(), "withdraw").await;
    assert_eq!(reason(&err), "account is locked");
    assert_eq!(
        redeem(&devnet, &gateway, &orchestrator, eth("0.1"), 1)
            .await
            .expect("locked senders pay"),
        eth("0.1")
    );

    // cancelUnlock: no unlock in progress; past the old withdraw round tickets still pay and
    // withdraw is refused.
    let receipt = send(broker.cancelUnlock(), "cancelUnlock")
        .await
        .expect("cancel");
    assert!(
        receipt
            .decoded_log::<TicketBroker::UnlockCancelled>()
            .is_some()
    );
    assert!(!broker.isUnlockInProgress(g).call().await.expect("view"));
    assert_eq!(
        broker
            .getSenderInfo(g)
            .call()
            .await
            .expect("info")
            .sender
            .withdrawRound,
        U256::ZERO
    );
    advance().await;
    assert_eq!(
        redeem(&devnet, &gateway, &orchestrator, eth("0.1"), 2)
            .await
            .expect("still locked"),
        eth("0.1")
    );
    let err = reverts(broker.withdraw(), "withdraw").await;
    assert_eq!(reason(&err), "no unlock request in progress");

    // Unlock again and wait it out: tickets are refused and the funds come back.
    send(broker.unlock(), "unlock").await.expect("unlock");
    let before_last = advance().await;
    let err = reverts(broker.withdraw(), "withdraw").await;
    assert_eq!(reason(&err), "account is locked");
    let now = advance().await;
    assert_eq!(now, before_last + 1);
    let err = redeem(&devnet, &gateway, &orchestrator, eth("0.1"), 3)
        .await
        .expect_err("unlocked");
    assert_eq!(
        err.ticket_revert(),
        Some(TicketRevert::SenderUnlocked),
        "{err}"
    );

    let balance_before = gateway.chain.get_balance(g).await.expect("balance");
    let receipt = send(broker.withdraw(), "withdraw").await.expect("withdraw");
    let withdrawal = receipt
        .decoded_log::<TicketBroker::Withdrawal>()
        .expect("Withdrawal");
    assert_eq!(
        (withdrawal.sender, withdrawal.deposit, withdrawal.reserve),
        (g, eth("0.3"), eth("1"))
    );
    let gas = U256::from(receipt.gas_used) * U256::from(receipt.effective_gas_price);
    let balance_after = gateway.chain.get_balance(g).await.expect("balance");
    assert_eq!(balance_after + gas - balance_before, eth("1.3"));
    assert_eq!(
        funds(&broker, g).await,
        (U256::ZERO, U256::ZERO, U256::ZERO)
    );
    let err = reverts(broker.withdraw(), "withdraw").await;
    assert_eq!(reason(&err), "sender deposit and reserve are zero");
}

/// Regression: `devnet::signing_provider` once kept alloy's cached nonce manager, which reserves
/// a nonce while gas is estimated; when the estimate failed (the transaction would revert) the
/// nonce was never sent and every later transaction from that provider waited forever behind
/// the gap, so a gateway whose early `withdraw` was refused could never fund again, and an
/// orchestrator whose redemption reverted could never redeem again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_transaction_does_not_wedge_the_senders_next_one() {
    let devnet = devnet(0).await;
    let gateway = Gateway::of(&devnet);
    let broker = gateway.broker(&devnet);
    send(broker.fundDeposit().value(eth("1")), "fundDeposit")
        .await
        .expect("fund");
    let err = send(broker.withdraw(), "withdraw")
        .await
        .expect_err("no unlock in progress");
    assert_eq!(reason(&err), "no unlock request in progress");
    let next = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        send(broker.fundDeposit().value(eth("1")), "fundDeposit"),
    )
    .await;
    assert!(
        matches!(next, Ok(Ok(_))),
        "the transaction after a refused one is not mined: {next:?}"
    );
    assert_eq!(funds(&broker, gateway.address()).await.0, eth("2"));
}
