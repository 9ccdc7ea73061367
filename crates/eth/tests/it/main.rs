//! The protocol on a real anvil: devnet bring-up, contract resolution through the Controller,
//! winning-ticket redemption with tickets built and signed by `livepeer-pm`, staking
//! ([`staking`]) and rewards and LIP-36 earnings ([`rewards`]).

mod accounts;
mod anvil;
mod rewards;
mod rpc_timeout;
mod services;
mod staking;
mod support;

use alloy::primitives::{Address, Bytes, U256, utils::parse_ether};
use alloy::providers::Provider;
use alloy::signers::local::PrivateKeySigner;
use livepeer_eth::contracts::{BondingManager, ITicketBroker, RoundsManager, TicketBroker};
use livepeer_eth::deployment::{advance_round, resolve};
use livepeer_eth::devnet::signing_provider;
use livepeer_eth::{EthError, TicketRevert};
use livepeer_pm::LocalSigner;
use support::{devnet, key_of, pm_signer, redeem, ticket};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn devnet_activates_its_orchestrators_and_stops_anvil() {
    let devnet = devnet(2).await;
    let active = devnet.active_orchestrators().await.expect("query");
    let orchestrators: Vec<Address> = devnet
        .info
        .accounts
        .iter()
        .filter(|a| a.role == "orchestrator")
        .map(|a| a.address)
        .collect();
    assert_eq!(orchestrators.len(), 2);
    assert_eq!(
        active, orchestrators,
        "both orchestrators are in the current round's active set"
    );
    assert!(devnet.info.round >= 2);
    assert!(devnet.info.accounts.iter().any(|a| a.role == "gateway"));

    // Everything is found again through the Controller by name, as a node pointed at
    // -ethController would find it.
    let found = resolve(&devnet.provider, devnet.info.contracts.controller)
        .await
        .expect("resolve");
    assert_eq!(found, devnet.info.contracts);

    let pid = devnet.anvil.child().id();
    drop(devnet);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "anvil {pid} is still running"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolving_a_wrong_controller_is_one_clear_error() {
    let devnet = devnet(0).await;
    let err = resolve(&devnet.provider, Address::repeat_byte(0x42))
        .await
        .expect_err("no contract there");
    assert!(matches!(err, EthError::NoContract { .. }), "{err}");
    assert!(err.to_string().contains("-ethController"), "{err}");

    let nowhere =
        signing_provider("http://127.0.0.1:9", &PrivateKeySigner::random()).expect("provider");
    let err = resolve(&nowhere, Address::repeat_byte(0x42))
        .await
        .expect_err("nothing listens");
    assert!(matches!(err, EthError::Rpc { .. }), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticket_hashes_match_the_vectors() {
    let devnet = devnet(0).await;
    let broker = TicketBroker::new(devnet.info.contracts.ticket_broker, devnet.provider.clone());
    let vectors: serde_json::Value = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/pm_tickets.json"
    )))
    .expect("JSON");
    for t in vectors["tickets"].as_array().expect("tickets") {
        let hex = |k: &str| t[k].as_str().expect(k).to_string();
        let u = |k: &str| U256::from_str_radix(hex(k).trim_start_matches("0x"), 16).expect(k);
        let ticket = ITicketBroker::Ticket {
            recipient: hex("recipient").parse().expect("address"),
            sender: hex("sender").parse().expect("address"),
            faceValue: u("faceValue"),
            winProb: u("winProb"),
            senderNonce: u("senderNonce"),
            recipientRandHash: hex("recipientRandHash").parse().expect("hash"),
            auxData: hex("auxData").parse::<Bytes>().expect("aux"),
        };
        let hash = broker
            .getTicketHash(ticket)
            .call()
            .await
            .expect("getTicketHash");
        assert_eq!(hash.to_string(), hex("ticketHash"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_winning_ticket_pays_the_orchestrators_fee_pool_and_each_check_reverts_on_its_own() {
    let devnet = devnet(1).await;
    let gateway_key = key_of(&devnet, "gateway", 0);
    let orch_key = key_of(&devnet, "orchestrator", 0);
    let orch = orch_key.address();
    let gateway = pm_signer(&gateway_key);
    let gateway_chain = signing_provider(&devnet.info.rpc_url, &gateway_key).expect("provider");
    let orch_chain = signing_provider(&devnet.info.rpc_url, &orch_key).expect("provider");

    // The gateway funds a deposit and a reserve.
    let deposit = parse_ether("1").expect("amount");
    let reserve = parse_ether("2").expect("amount");
    let broker = TicketBroker::new(devnet.info.contracts.ticket_broker, gateway_chain.clone());
    let receipt = broker
        .fundDepositAndReserve(deposit, reserve)
        .value(deposit + reserve)
        .send()
        .await
        .expect("fund")
        .get_receipt()
        .await
        .expect("receipt");
    assert!(receipt.status());
    let info = broker
        .getSenderInfo(gateway.address())
        .call()
        .await
        .expect("info");
    assert_eq!(
        (info.sender.deposit, info.reserve.fundsRemaining),
        (deposit, reserve)
    );

    let face = parse_ether("0.1").expect("amount");
    let rand = U256::from(0xC0FFEE_u64);
    let (t, sig) = ticket(
        &orch_chain,
        &devnet,
        &gateway,
        orch,
        face,
        U256::MAX,
        1,
        rand,
    )
    .await;

    let bonding = BondingManager::new(devnet.info.contracts.bonding_manager, orch_chain.clone());
    let rounds = RoundsManager::new(devnet.info.contracts.rounds_manager, orch_chain.clone());
    let round: U256 = rounds.currentRound().call().await.expect("round");
    let fees_before = bonding.pendingFees(orch, round).call().await.expect("fees");
    redeem(&orch_chain, &devnet, &t, &sig, rand)
        .await
        .expect("a winning ticket redeems");
    let fees_after = bonding.pendingFees(orch, round).call().await.expect("fees");
    // The orchestrator is its own only delegator: it earns the whole face value (to a wei of
    // rounding in the fee-share split).
    let earned = fees_after - fees_before;
    assert!(
        earned <= face && face - earned <= U256::from(1),
        "earned {earned} of {face}"
    );
    let info = broker
        .getSenderInfo(gateway.address())
        .call()
        .await
        .expect("info");
    assert_eq!(info.sender.deposit, deposit - face, "paid from the deposit");

    // Replaying it, and each other check, fails with its own typed revert.
    let err = redeem(&orch_chain, &devnet, &t, &sig, rand)
        .await
        .expect_err("replay");
    assert_eq!(err.ticket_revert(), Some(TicketRevert::Used), "{err}");

    let (losing, losing_sig) = ticket(
        &orch_chain,
        &devnet,
        &gateway,
        orch,
        face,
        U256::ZERO,
        2,
        rand,
    )
    .await;
    let err = redeem(&orch_chain, &devnet, &losing, &losing_sig, rand)
        .await
        .expect_err("loses");
    assert_eq!(err.ticket_revert(), Some(TicketRevert::NotWinning), "{err}");

    let (t3, sig3) = ticket(
        &orch_chain,
        &devnet,
        &gateway,
        orch,
        face,
        U256::MAX,
        3,
        rand,
    )
    .await;
    let err = redeem(&orch_chain, &devnet, &t3, &sig3, rand + U256::from(1))
        .await
        .expect_err("wrong rand");
    assert_eq!(
        err.ticket_revert(),
        Some(TicketRevert::RecipientRandMismatch),
        "{err}"
    );

    let impostor = LocalSigner::random();
    let (mut forged, forged_sig) = ticket(
        &orch_chain,
        &devnet,
        &impostor,
        orch,
        face,
        U256::MAX,
        4,
        rand,
    )
    .await;
    forged.sender = gateway.address();
    let err = redeem(&orch_chain, &devnet, &forged, &forged_sig, rand)
        .await
        .expect_err("not the sender's");
    assert_eq!(
        err.ticket_revert(),
        Some(TicketRevert::InvalidSignature),
        "{err}"
    );

    let (mut null, null_sig) = ticket(
        &orch_chain,
        &devnet,
        &gateway,
        orch,
        face,
        U256::MAX,
        5,
        rand,
    )
    .await;
    null.recipient = Address::ZERO;
    let err = redeem(&orch_chain, &devnet, &null, &null_sig, rand)
        .await
        .expect_err("null recipient");
    assert_eq!(
        err.ticket_revert(),
        Some(TicketRevert::NullRecipient),
        "{err}"
    );

    // A ticket to an address that is not a registered orchestrator cannot be paid.
    let stranger = Address::repeat_byte(0x77);
    let (to_stranger, stranger_sig) = ticket(
        &orch_chain,
        &devnet,
        &gateway,
        stranger,
        face,
        U256::MAX,
        7,
        rand,
    )
    .await;
    let err = redeem(&orch_chain, &devnet, &to_stranger, &stranger_sig, rand)
        .await
        .expect_err("unregistered recipient");
    assert_eq!(
        err.revert_reason(),
        Some("transcoder must be registered"),
        "{err}"
    );

    // Past ticketValidityPeriod (2 rounds) a fresh, winning ticket from this round expires.
    let (old, old_sig) = ticket(
        &orch_chain,
        &devnet,
        &gateway,
        orch,
        face,
        U256::MAX,
        6,
        rand,
    )
    .await;
    advance_round(&devnet.provider, &devnet.info.contracts)
        .await
        .expect("round");
    advance_round(&devnet.provider, &devnet.info.contracts)
        .await
        .expect("round");
    let err = redeem(&orch_chain, &devnet, &old, &old_sig, rand)
        .await
        .expect_err("expired");
    assert_eq!(err.ticket_revert(), Some(TicketRevert::Expired), "{err}");
    let _ = gateway_chain.get_block_number().await;
}

mod governance;
mod reserve;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redemption_fits_go_livepeers_gas_budget() {
    let figures = livepeer_eth::gas::measure().await.expect("measured");
    assert_eq!(figures.len(), 5, "{figures:?}");
    let redeem = figures
        .iter()
        .find(|f| f.call.starts_with("TicketBroker.redeemWinningTicket"))
        .expect("redeem measured");
    assert!(
        redeem.gas_used < livepeer_eth::gas::ARBITRUM_REDEEM_GAS_BUDGET,
        "{redeem:?}"
    );
    assert!(
        figures.iter().all(|f| f.gas_used > 21_000),
        "every call did work: {figures:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_devnet_faucet_hands_out_lpt_once_per_wait() {
    use livepeer_eth::contracts::{LivepeerToken, LivepeerTokenFaucet};
    let devnet = livepeer_eth::devnet::Devnet::start(&livepeer_eth::devnet::DevnetConfig {
        faucet_lpt: 1_000,
        ..Default::default()
    })
    .await
    .expect("devnet starts");
    let someone = key_of(&devnet, "gateway", 0);
    let chain = signing_provider(&devnet.info.rpc_url, &someone).expect("provider");
    let faucet = LivepeerTokenFaucet::new(devnet.info.faucet, chain.clone());
    let token = LivepeerToken::new(devnet.info.contracts.livepeer_token, chain.clone());
    let before = token
        .balanceOf(someone.address())
        .call()
        .await
        .expect("balance");
    let receipt = faucet
        .request()
        .send()
        .await
        .expect("request")
        .get_receipt()
        .await
        .expect("receipt");
    assert!(receipt.status());
    let after = token
        .balanceOf(someone.address())
        .call()
        .await
        .expect("balance");
    assert_eq!(after - before, parse_ether("10").expect("amount"));
    let again = faucet
        .request()
        .call()
        .await
        .expect_err("a second request within the wait");
    assert!(
        EthError::from_call("LivepeerTokenFaucet.request", again)
            .revert_reason()
            .is_some()
    );
}
