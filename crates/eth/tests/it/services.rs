//! The Ethereum services against a real anvil: the block and round watcher, gas price bounds,
//! the sender watcher, backfill after a restart, reorgs, transaction replacement, the reward
//! service, the round initializer and winning-ticket redemption.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, B256, U256, utils::parse_ether};
use alloy::providers::Provider;
use alloy::rpc::types::Filter;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolEvent;
use livepeer_eth::EthError;
use livepeer_eth::contracts::{BondingManager, RoundsManager, TicketBroker};
use livepeer_eth::deployment::{DevParams, advance_round, ensure_round_room};
use livepeer_eth::devnet::Devnet;
use livepeer_eth::services::tx::{TransactionManager, TxConfig};
use livepeer_eth::services::{
    ChainEvent, ChainNode, InitializeOutcome, ProtocolEvent, RedemptionService, RewardOutcome,
    RewardService, RoundInitializer, ServicesConfig,
};
use livepeer_pm::{
    GasPriceSource, PriceInfo, Recipient, RecipientConfig, SenderInfoSource, SenderMonitor,
    Settlement, SqliteTicketStore, Ticket, TicketBatch, TicketSenderParams, TicketStore,
    TimeSource,
};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::support::{key_of, pm_signer, provider, send, start};

/// Short polls so a test takes seconds.
fn fast() -> ServicesConfig {
    ServicesConfig {
        block_polling_interval: Duration::from_millis(100),
        transaction_timeout: Duration::from_secs(20),
        ..Default::default()
    }
}

async fn node(devnet: &Devnet, key: &PrivateKeySigner, config: ServicesConfig) -> ChainNode {
    ChainNode::connect(
        &devnet.info.rpc_url,
        devnet.info.contracts.controller,
        key.clone(),
        config,
    )
    .await
    .expect("the node connects")
}

/// Polls `check` every 100 ms until it holds; panics naming `what` after a minute (a bound
/// against hangs, not a speed requirement).
async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn drain(rx: &mut broadcast::Receiver<ChainEvent>) -> Vec<ChainEvent> {
    let mut out = Vec::new();
    while let Ok(e) = rx.try_recv() {
        out.push(e);
    }
    out
}

async fn mine(devnet: &Devnet, blocks: u64) {
    livepeer_eth::deployment::mine_blocks(&devnet.provider, blocks)
        .await
        .expect("anvil_mine");
}

async fn fund(devnet: &Devnet, key: &PrivateKeySigner, deposit: U256, reserve: U256) {
    let broker = TicketBroker::new(devnet.info.contracts.ticket_broker, provider(devnet, key));
    send(
        broker
            .fundDepositAndReserve(deposit, reserve)
            .value(deposit + reserve),
        "TicketBroker.fundDepositAndReserve",
    )
    .await
    .expect("fund");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_follows_blocks_and_rounds() {
    let devnet = start(1, crate::support::test_params()).await;
    let orch = key_of(&devnet, "orchestrator", 0);
    let gateway = key_of(&devnet, "gateway", 0);
    let node = node(&devnet, &orch, fast()).await;
    let state = node.state();
    let rounds = RoundsManager::new(
        devnet.info.contracts.rounds_manager,
        devnet.provider.clone(),
    );
    let mut events = node.events();

    let head = node.subscribe().borrow().to_owned();
    assert_eq!(
        head.number,
        devnet.provider.get_block_number().await.expect("block")
    );
    assert_eq!(head.round, devnet.info.round);
    assert_eq!(state.transcoder_pool_size(), U256::from(1));
    assert!(node.is_active(orch.address()));
    assert!(!node.is_active(gateway.address()));
    assert!(state.current_round_initialized());

    let round = advance_round(&devnet.provider, &devnet.info.contracts)
        .await
        .expect("round");
    let head = node.sync().await.expect("sync");
    assert_eq!(head.round, round);
    assert_eq!(
        head.number,
        devnet.provider.get_block_number().await.expect("block")
    );
    assert_eq!(head.l1_block, head.number, "anvil has no l1BlockNumber");
    assert_eq!(state.last_initialized_round(), round);
    let hash = rounds
        .blockHashForRound(U256::from(round))
        .call()
        .await
        .expect("hash");
    let pre = rounds
        .blockHashForRound(U256::from(round - 1))
        .call()
        .await
        .expect("hash");
    assert!(!hash.is_zero());
    assert_eq!(state.last_initialized_block_hash(), hash);
    assert_eq!(state.pre_last_initialized_block_hash(), pre);
    assert_eq!(state.last_seen_l1_block(), U256::from(head.l1_block));
    assert!(node.is_active(orch.address()));
    let seen = drain(&mut events);
    assert!(
        seen.iter().any(|e| matches!(e, ChainEvent::Log(l) if l.event == ProtocolEvent::NewRound { round, block_hash: hash })),
        "{seen:?}"
    );

    // Past the round's last block the next round is due, before anyone initializes it.
    let length = state.round().round_length;
    mine(&devnet, length).await;
    let head = node.sync().await.expect("sync");
    assert!(!head.round_initialized);
    assert!(!state.current_round_initialized());
    assert_eq!(head.round, round, "nobody initialized the next round");

    // The pool, as discovery reads it.
    let pool = node.transcoder_pool().await.expect("pool");
    assert_eq!(pool.len(), 1);
    assert_eq!(pool[0].address, orch.address());
    assert_eq!(pool[0].service_uri, "https://127.0.0.1:8935");
    assert!(pool[0].total_stake > U256::ZERO);
    let status = node
        .orchestrator_status(orch.address())
        .await
        .expect("status");
    assert!(status.registered && status.active);
    assert_eq!(status.service_uri, "https://127.0.0.1:8935");
    let stranger = node
        .orchestrator_status(gateway.address())
        .await
        .expect("status");
    assert!(!stranger.registered && !stranger.active);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gas_price_stays_within_its_bounds() {
    let devnet = start(0, DevParams::default()).await;
    let key = key_of(&devnet, "gateway", 0);
    let node_price: u128 = devnet.provider.get_gas_price().await.expect("gas price");
    let node_price = U256::from(node_price);

    let min = node_price * U256::from(10);
    let floored = node(
        &devnet,
        &key,
        ServicesConfig {
            min_gas_price: Some(min),
            ..fast()
        },
    )
    .await;
    floored.sync().await.expect("sync");
    assert_eq!(
        floored.state().gas_price_wei(),
        min,
        "never below -minGasPrice"
    );
    assert!(floored.transactions().gas_price().await.expect("price") >= min);

    let max = U256::from(1);
    let capped = node(
        &devnet,
        &key,
        ServicesConfig {
            max_gas_price: Some(max),
            ..fast()
        },
    )
    .await;
    capped.sync().await.expect("sync");
    assert_eq!(capped.state().gas_price_wei(), max);
    // No transaction is sent while the node's price is above -maxGasPrice.
    let err = capped
        .transactions()
        .send(
            "transfer",
            Address::repeat_byte(9),
            Default::default(),
            U256::from(1),
        )
        .await
        .expect_err("above the maximum");
    assert!(matches!(err, EthError::GasPriceAboveMax { .. }), "{err}");

    let plain = node(&devnet, &key, fast()).await;
    assert_eq!(plain.state().gas_price_wei(), node_price);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sender_info_follows_ticket_broker_events() {
    let devnet = start(1, DevParams::default()).await;
    let orch = key_of(&devnet, "orchestrator", 0);
    let gateway = key_of(&devnet, "gateway", 0);
    let node = node(&devnet, &orch, fast()).await;
    let state = node.state();
    assert!(
        state.sender_info(gateway.address()).is_err(),
        "not watched yet"
    );
    let info = node.watch_sender(gateway.address()).await.expect("watch");
    assert_eq!(info.deposit, U256::ZERO);
    assert_eq!(state.sender_info(gateway.address()).expect("cached"), info);

    let cancel = CancellationToken::new();
    let watcher = tokio::spawn(node.run(cancel.clone()));
    let (deposit, reserve) = (
        parse_ether("1").expect("eth"),
        parse_ether("2").expect("eth"),
    );
    fund(&devnet, &gateway, deposit, reserve).await;
    until("the deposit and reserve are cached", || {
        let state = state.clone();
        let sender = gateway.address();
        async move {
            state
                .sender_info(sender)
                .is_ok_and(|i| i.deposit == deposit && i.reserve_funds_remaining == reserve)
        }
    })
    .await;

    let broker = TicketBroker::new(
        devnet.info.contracts.ticket_broker,
        provider(&devnet, &gateway),
    );
    send(broker.unlock(), "TicketBroker.unlock")
        .await
        .expect("unlock");
    until("the unlock is cached", || {
        let state = state.clone();
        let sender = gateway.address();
        async move {
            state
                .sender_info(sender)
                .is_ok_and(|i| i.withdraw_round != 0)
        }
    })
    .await;
    send(broker.cancelUnlock(), "TicketBroker.cancelUnlock")
        .await
        .expect("cancel");
    until("the cancelled unlock is cached", || {
        let state = state.clone();
        let sender = gateway.address();
        async move {
            state
                .sender_info(sender)
                .is_ok_and(|i| i.withdraw_round == 0)
        }
    })
    .await;
    assert_eq!(
        state
            .claimed_reserve(gateway.address(), orch.address())
            .expect("claimed"),
        U256::ZERO
    );
    cancel.cancel();
    watcher.await.expect("watcher stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_backfills_the_logs_it_missed() {
    let devnet = start(0, DevParams::default()).await;
    let key = key_of(&devnet, "deployer", 0);
    let gateway = key_of(&devnet, "gateway", 0);
    let dir = tempfile::tempdir().expect("dir");
    let config = ServicesConfig {
        data_dir: Some(dir.path().to_path_buf()),
        ..fast()
    };
    let small = parse_ether("0.01").expect("eth");

    // A first run sees a deposit and stops.
    let first = node(&devnet, &key, config.clone()).await;
    fund(&devnet, &gateway, small, U256::ZERO).await;
    let stopped_at = first.sync().await.expect("sync").number;
    drop(first);

    // While it is down: a deposit, 1500 blocks, a reserve.
    fund(&devnet, &gateway, small * U256::from(2), U256::ZERO).await;
    let missed_deposit_block = devnet.provider.get_block_number().await.expect("block");
    mine(&devnet, 1500).await;
    let broker = TicketBroker::new(
        devnet.info.contracts.ticket_broker,
        provider(&devnet, &gateway),
    );
    send(
        broker.fundReserve().value(small * U256::from(3)),
        "TicketBroker.fundReserve",
    )
    .await
    .expect("fund the reserve");
    let latest = devnet.provider.get_block_number().await.expect("block");

    let second = node(&devnet, &key, config.clone()).await;
    let mut events = second.events();
    let head = second.sync().await.expect("sync");
    assert_eq!(head.number, latest);
    let logs: Vec<_> = drain(&mut events)
        .into_iter()
        .filter_map(|e| match e {
            ChainEvent::Log(l) => Some(l),
            ChainEvent::Reorg { .. } => None,
        })
        .collect();
    assert!(
        logs.iter().all(|l| l.block_number > stopped_at),
        "nothing from before the stored block is delivered again: {logs:?}"
    );
    let deposits: Vec<(u64, U256)> = logs
        .iter()
        .filter_map(|l| match l.event {
            ProtocolEvent::DepositFunded { sender, amount_wei } if sender == gateway.address() => {
                Some((l.block_number, amount_wei))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        deposits,
        vec![(missed_deposit_block, small * U256::from(2))]
    );
    assert!(latest - missed_deposit_block > 1000, "the gap spans ranges");
    assert!(
        logs.iter().any(|l| matches!(l.event, ProtocolEvent::ReserveFunded { reserve_holder, amount_wei } if reserve_holder == gateway.address() && amount_wei == small * U256::from(3))),
        "{logs:?}"
    );
    drop(second);

    // A node without a database starts at the head: nothing to backfill.
    let fresh = node(&devnet, &key, fast()).await;
    let mut events = fresh.events();
    mine(&devnet, 2).await;
    fresh.sync().await.expect("sync");
    assert!(drain(&mut events).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reorg_is_noticed_and_the_state_re_read() {
    let devnet = start(0, DevParams::default()).await;
    let key = key_of(&devnet, "deployer", 0);
    let gateway = key_of(&devnet, "gateway", 0);
    let node = node(&devnet, &key, fast()).await;
    node.watch_sender(gateway.address()).await.expect("watch");
    let mut events = node.events();

    let snapshot: U256 = devnet
        .provider
        .raw_request("evm_snapshot".into(), ())
        .await
        .expect("snapshot");
    let deposit = parse_ether("1").expect("eth");
    fund(&devnet, &gateway, deposit, U256::ZERO).await;
    let before = node.sync().await.expect("sync");
    assert_eq!(
        node.state()
            .sender(gateway.address())
            .expect("watched")
            .deposit,
        deposit
    );
    drain(&mut events);

    // The funding block is replaced by other blocks.
    let reverted: bool = devnet
        .provider
        .raw_request("evm_revert".into(), (snapshot,))
        .await
        .expect("revert");
    assert!(reverted);
    mine(&devnet, 3).await;
    let after = node.sync().await.expect("sync");
    let latest = devnet
        .provider
        .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
        .await
        .expect("block")
        .expect("latest");
    assert_eq!(after.hash, latest.header.hash);
    assert_ne!(after.hash, before.hash);
    let seen = drain(&mut events);
    assert!(
        seen.iter().any(|e| matches!(e, ChainEvent::Reorg { removed, common_ancestor } if removed.contains(&before.hash) && *common_ancestor == Some(before.number - 1))),
        "{seen:?}"
    );
    assert_eq!(
        node.state()
            .sender(gateway.address())
            .expect("watched")
            .deposit,
        U256::ZERO,
        "the deposit left with its block"
    );
}

/// The hashes of `from`'s transactions in anvil's pending pool.
async fn pooled(devnet: &Devnet, from: Address) -> Vec<B256> {
    let content: serde_json::Value = devnet
        .provider
        .raw_request("txpool_content".into(), ())
        .await
        .expect("txpool_content");
    let mut hashes = Vec::new();
    if let Some(pending) = content["pending"].as_object() {
        for (account, txs) in pending {
            if account.parse::<Address>().ok() != Some(from) {
                continue;
            }
            for tx in txs.as_object().into_iter().flat_map(|m| m.values()) {
                if let Some(hash) = tx["hash"].as_str().and_then(|h| h.parse().ok()) {
                    hashes.push(hash);
                }
            }
        }
    }
    hashes
}

/// Waits until `from` has a pending transaction other than `except`, and returns its hash.
async fn pending_hash(devnet: &Devnet, from: Address, except: Option<B256>) -> B256 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(hash) = pooled(devnet, from).await.first().copied()
            && Some(hash) != except
        {
            return hash;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no pending transaction from {from} but {except:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_transaction_is_replaced_with_a_higher_fee() {
    let devnet = start(0, DevParams::default()).await;
    let key = key_of(&devnet, "gateway", 0);
    let chain_id = devnet.info.chain_id;
    let to = Address::repeat_byte(0x5a);
    let value = U256::from(12_345u64);
    let manager = |timeout_ms: u64, replacements: u32| {
        Arc::new(TransactionManager::new(
            provider(&devnet, &key),
            key.clone(),
            chain_id,
            TxConfig {
                timeout: Duration::from_millis(timeout_ms),
                max_replacements: replacements,
                poll_interval: Duration::from_millis(50),
                gas_price_bounds: Default::default(),
            },
        ))
    };
    let automine = |on: bool| {
        let provider = devnet.provider.clone();
        async move {
            provider
                .raw_request::<_, serde_json::Value>("evm_setAutomine".into(), (on,))
                .await
                .expect("evm_setAutomine");
        }
    };
    automine(false).await;

    // Without replacements left, a transaction nobody mines times out.
    let err = manager(300, 0)
        .send("transfer", to, Default::default(), value)
        .await
        .expect_err("nothing is mined");
    let EthError::TxTimedOut { tx_hashes, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(tx_hashes.len(), 1);
    let stuck = tx_hashes[0];
    devnet
        .provider
        .raw_request::<_, serde_json::Value>("evm_mine".into(), ())
        .await
        .expect("mine");
    assert!(
        devnet
            .provider
            .get_transaction_receipt(stuck)
            .await
            .expect("receipt")
            .is_some()
    );

    // With one replacement: the original sits, is replaced, and only the replacement lands.
    let tm = manager(1_000, 1);
    let sending = tokio::spawn({
        let tm = tm.clone();
        async move { tm.send("transfer", to, Default::default(), value).await }
    });
    let original = pending_hash(&devnet, key.address(), None).await;
    pending_hash(&devnet, key.address(), Some(original)).await;
    let balance_before = devnet.provider.get_balance(to).await.expect("balance");
    devnet
        .provider
        .raw_request::<_, serde_json::Value>("evm_mine".into(), ())
        .await
        .expect("mine");
    let confirmed = sending.await.expect("task").expect("mined");
    assert_eq!(confirmed.sent.len(), 2);
    assert_eq!(confirmed.sent[0], original);
    assert_eq!(
        confirmed.tx_hash(),
        confirmed.sent[1],
        "the replacement landed"
    );
    assert!(
        devnet
            .provider
            .get_transaction_receipt(original)
            .await
            .expect("receipt")
            .is_none(),
        "the original never lands"
    );
    let first = devnet
        .provider
        .get_transaction_by_hash(original)
        .await
        .expect("tx");
    assert!(first.is_none(), "the original left the pool");
    let paid = confirmed.receipt.effective_gas_price;
    let mined_txs = devnet.provider.get_balance(to).await.expect("balance") - balance_before;
    assert_eq!(mined_txs, value, "paid once");
    assert!(paid > 0);
    automine(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reward_is_called_once_per_round_while_active() {
    let devnet = start(1, crate::support::test_params()).await;
    let orch = key_of(&devnet, "orchestrator", 0);
    let node = node(&devnet, &orch, fast()).await;
    let rewards = RewardService::new(node.clone());
    let first = rewards.try_reward().await.expect("reward");
    assert!(
        matches!(first, RewardOutcome::Rewarded { round, .. } if round == devnet.info.round),
        "{first:?}"
    );
    assert_eq!(
        rewards.try_reward().await.expect("again"),
        RewardOutcome::AlreadyRewarded {
            round: devnet.info.round
        }
    );

    let cancel = CancellationToken::new();
    let watcher = tokio::spawn(node.run(cancel.clone()));
    let service = tokio::spawn(rewards.clone().run(cancel.clone()));
    let mut last = devnet.info.round;
    for _ in 0..2 {
        last = advance_round(&devnet.provider, &devnet.info.contracts)
            .await
            .expect("round");
        until("the new round is rewarded", || {
            let node = node.clone();
            async move {
                node.orchestrator_status(node.address())
                    .await
                    .is_ok_and(|s| s.last_reward_round == last)
            }
        })
        .await;
        // A few more blocks in the same round change nothing.
        mine(&devnet, 3).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    cancel.cancel();
    watcher.await.expect("watcher");
    service.await.expect("service");

    let logs = devnet
        .provider
        .get_logs(
            &Filter::new()
                .address(devnet.info.contracts.bonding_manager)
                .event_signature(BondingManager::Reward::SIGNATURE_HASH)
                .from_block(0u64),
        )
        .await
        .expect("logs");
    let ours = logs
        .iter()
        .filter_map(|l| BondingManager::Reward::decode_log(&l.inner).ok())
        .filter(|e| e.transcoder == orch.address())
        .count();
    assert_eq!(
        ours, 3,
        "one reward in each of the rounds {}..={last}",
        devnet.info.round
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_round_initializer_initializes_a_due_round() {
    let devnet = start(0, crate::support::test_params()).await;
    let key = key_of(&devnet, "gateway", 0);
    let node = node(&devnet, &key, fast()).await;
    let rounds = RoundsManager::new(
        devnet.info.contracts.rounds_manager,
        devnet.provider.clone(),
    );
    let length = node.state().round().round_length;
    mine(&devnet, length).await;
    node.sync().await.expect("sync");
    assert!(!node.state().current_round_initialized());

    let cancel = CancellationToken::new();
    let watcher = tokio::spawn(node.run(cancel.clone()));
    let initializer = RoundInitializer::new(node.clone(), Duration::from_millis(200));
    let service = tokio::spawn(initializer.clone().run(cancel.clone()));
    until("the round is initialized", || {
        let rounds = rounds.clone();
        async move {
            rounds
                .currentRoundInitialized()
                .call()
                .await
                .expect("initialized")
        }
    })
    .await;
    let current: U256 = rounds.currentRound().call().await.expect("round");
    until("the node sees the new round", || {
        let node = node.clone();
        async move { node.state().round().last_initialized_round == current.saturating_to::<u64>() }
    })
    .await;
    cancel.cancel();
    watcher.await.expect("watcher");
    service.await.expect("service");

    // It was this node's transaction.
    let logs = devnet
        .provider
        .get_logs(
            &Filter::new()
                .address(devnet.info.contracts.rounds_manager)
                .event_signature(RoundsManager::NewRound::SIGNATURE_HASH)
                .from_block(0u64),
        )
        .await
        .expect("logs");
    let last = logs.last().expect("a NewRound");
    let tx = devnet
        .provider
        .get_transaction_by_hash(last.transaction_hash.expect("hash"))
        .await
        .expect("tx")
        .expect("mined");
    assert_eq!(tx.inner.signer(), key.address());
    assert_eq!(
        initializer.try_initialize().await.expect("check"),
        InitializeOutcome::NotDue
    );
}

/// A payment of one ticket that always wins: the face value is capped at the EV
/// (`-maxFaceValue`), so winProb is 2^256 - 1.
fn winning_batch(recipient: &Recipient, gateway: &PrivateKeySigner) -> TicketBatch {
    let signer = pm_signer(gateway);
    let price = PriceInfo::new(1, 1);
    let params = recipient
        .ticket_params(gateway.address(), price)
        .expect("params");
    assert_eq!(params.win_prob, U256::MAX, "every ticket wins");
    let ticket = Ticket::new(
        &params,
        params.expiration_params,
        gateway.address(),
        1,
        livepeer_pm::PricePerPixel::try_from(price).expect("price"),
    );
    TicketBatch {
        expiration_params: params.expiration_params,
        sender: gateway.address(),
        sender_params: vec![TicketSenderParams {
            sender_nonce: 1,
            sig: signer.sign(&ticket.hash()).to_vec(),
        }],
        expected_price: price,
        params,
    }
}

fn recipient_for(node: &ChainNode, store: Arc<dyn TicketStore>) -> Recipient {
    let ev = parse_ether("0.01").expect("eth");
    let state = node.state();
    let monitor = SenderMonitor::new(node.address(), state.clone(), state.clone(), store.clone());
    Recipient::new(
        RecipientConfig {
            ticket_ev_wei: ev,
            max_face_value_wei: ev,
            ..RecipientConfig::new(node.address())
        },
        [7; 32],
        state.clone(),
        state,
        monitor,
        store,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_winning_ticket_is_redeemed_once_after_its_parameters_expire() {
    let devnet = start(
        1,
        DevParams {
            round_length: 200,
            ..DevParams::default()
        },
    )
    .await;
    ensure_round_room(&devnet.provider, &devnet.info.contracts, 80)
        .await
        .expect("room in the round");
    let orch = key_of(&devnet, "orchestrator", 0);
    let gateway = key_of(&devnet, "gateway", 0);
    fund(
        &devnet,
        &gateway,
        parse_ether("1").expect("eth"),
        parse_ether("1").expect("eth"),
    )
    .await;
    let node = node(&devnet, &orch, fast()).await;
    node.sync().await.expect("sync");
    node.watch_sender(gateway.address()).await.expect("watch");
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("tickets.sqlite3");
    let store = Arc::new(SqliteTicketStore::open(&db).expect("store"));
    let recipient = Arc::new(recipient_for(&node, store.clone()));

    let batch = winning_batch(&recipient, &gateway);
    let received = recipient.receive_payment(&batch).expect("payment");
    assert!(received.error.is_none(), "{:?}", received.error);
    assert_eq!(received.winners.len(), 1);
    let ticket_hash = received.winners[0];
    let service = RedemptionService::new(node.clone(), recipient.clone());

    // Not before its parameters expire: revealing recipientRand early would let the gateway
    // game it.
    assert!(service.redeem_ready().await.expect("pass").is_empty());
    assert_eq!(
        store.status(ticket_hash).expect("status").as_deref(),
        Some("pending")
    );

    // The running service redeems it once the L1 block passes the expiration block.
    let cancel = CancellationToken::new();
    let watcher = tokio::spawn(node.run(cancel.clone()));
    let redeeming = tokio::spawn(service.clone().run(cancel.clone()));
    mine(&devnet, 41).await;
    until("the ticket is redeemed", || {
        let store = store.clone();
        async move { store.status(ticket_hash).ok().flatten().as_deref() == Some("redeemed") }
    })
    .await;
    cancel.cancel();
    watcher.await.expect("watcher");
    redeeming.await.expect("service");
    let redemptions = devnet
        .provider
        .get_logs(
            &Filter::new()
                .address(devnet.info.contracts.ticket_broker)
                .event_signature(TicketBroker::WinningTicketRedeemed::SIGNATURE_HASH)
                .from_block(0u64),
        )
        .await
        .expect("logs");
    assert_eq!(redemptions.len(), 1, "redeemed once");
    let tx_hash = redemptions[0].transaction_hash.expect("hash");
    let receipt = devnet
        .provider
        .get_transaction_receipt(tx_hash)
        .await
        .expect("receipt")
        .expect("mined");
    assert!(receipt.status());
    let redeemed = receipt
        .inner
        .logs()
        .iter()
        .filter_map(|l| TicketBroker::WinningTicketRedeemed::decode_log(&l.inner).ok())
        .collect::<Vec<_>>();
    assert_eq!(redeemed.len(), 1);
    assert_eq!(redeemed[0].recipient, orch.address());
    assert_eq!(redeemed[0].sender, gateway.address());
    let broker = TicketBroker::new(devnet.info.contracts.ticket_broker, devnet.provider.clone());
    assert!(broker.usedTickets(ticket_hash).call().await.expect("used"));
    assert_eq!(
        store.status(ticket_hash).expect("status").as_deref(),
        Some("redeemed")
    );

    // A second pass, and a restart on the same database, redeem nothing.
    assert!(service.redeem_ready().await.expect("pass").is_empty());
    drop(service);
    drop(recipient);
    drop(store);
    let reopened = Arc::new(SqliteTicketStore::open(&db).expect("reopen"));
    let restarted = RedemptionService::new(
        node.clone(),
        Arc::new(recipient_for(&node, reopened.clone())),
    );
    assert!(restarted.redeem_ready().await.expect("pass").is_empty());

    // A store that missed the settlement (a crash between the mined redemption and the write)
    // finds the ticket used and settles it without a second transaction.
    let lost = Arc::new(SqliteTicketStore::open_in_memory().expect("store"));
    let stored = reopened.all_ticket_hashes().expect("hashes");
    assert_eq!(stored, vec![ticket_hash]);
    let nonce_before = devnet
        .provider
        .get_transaction_count(orch.address())
        .await
        .expect("nonce");
    let crashed = recipient_for(&node, lost.clone());
    let again = crashed.receive_payment(&batch).expect("stored again");
    assert_eq!(again.winners, vec![ticket_hash]);
    let outcomes = RedemptionService::new(node.clone(), Arc::new(crashed))
        .redeem_ready()
        .await
        .expect("pass");
    assert!(
        outcomes
            .iter()
            .all(|o| matches!(o.result, Ok(Settlement::Used))),
        "{outcomes:?}"
    );
    assert_eq!(
        devnet
            .provider
            .get_transaction_count(orch.address())
            .await
            .expect("nonce"),
        nonce_before,
        "no second redemption was sent"
    );
}
