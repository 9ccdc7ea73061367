//! [`ChainNode`]: contracts, cached state, the chain database, the transaction manager and
//! the block watcher loop.

use std::collections::HashSet;
use std::sync::Arc;

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256, U64, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::Filter;
use alloy::signers::local::PrivateKeySigner;
use livepeer_pm::SenderInfo;
use serde::Deserialize;
use tokio::sync::{Mutex, broadcast, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::blocks::{
    HeaderSource, HeaderWindow, MAX_BLOCKS_PER_LOG_QUERY, MiniHeader, block_ranges,
};
use super::db::{CHAIN_DB_FILE, ChainDb};
use super::events::{self, ChainEvent, ChainLog, ProtocolEvent};
use super::state::{ChainHead, ChainState, RoundState};
use super::tx::{GasPriceBounds, TransactionManager, TxConfig};
use super::{EthTicketBroker, OrchestratorStatus, PoolMember, ServicesConfig};
use crate::EthError;
use crate::contracts::{BondingManager, RoundsManager, ServiceRegistry, TicketBroker};
use crate::deployment::{ProtocolAddresses, resolve};

/// Events buffered for slow [`ChainNode::events`] receivers before they lag.
const EVENT_BUFFER: usize = 1024;

/// Longest pool walk: the protocol caps the pool far below this
/// (`getTranscoderPoolMaxSize`), so a longer walk means a cycle.
const MAX_POOL_WALK: usize = 1000;

struct Inner {
    provider: DynProvider,
    address: Address,
    contracts: ProtocolAddresses,
    chain_key: String,
    config: ServicesConfig,
    state: Arc<ChainState>,
    db: Arc<ChainDb>,
    window: Mutex<HeaderWindow>,
    head: watch::Sender<ChainHead>,
    events: broadcast::Sender<ChainEvent>,
    tx: TransactionManager,
    gas_price_bounds: GasPriceBounds,
}

/// Everything a node needs from the chain, behind one cheap [`Clone`] (an `Arc`).
///
/// Reads that pm makes on the payment path go to [`ChainNode::state`] (cached, synchronous);
/// [`ChainNode::run`] keeps it current. Transactions go through one
/// [`TransactionManager`] for the node's account.
#[derive(Clone)]
pub struct ChainNode {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ChainNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChainNode")
            .field("address", &self.inner.address)
            .field("contracts", &self.inner.contracts)
            .finish_non_exhaustive()
    }
}

/// `eth_getBlockByNumber` without transactions, as much as the watcher reads.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RpcHeader {
    number: U64,
    hash: B256,
    parent_hash: B256,
    /// Arbitrum's L1 block number.
    #[serde(default)]
    l1_block_number: Option<U64>,
}

impl From<RpcHeader> for MiniHeader {
    fn from(h: RpcHeader) -> Self {
        let number = h.number.to::<u64>();
        Self {
            number,
            hash: h.hash,
            parent_hash: h.parent_hash,
            l1_block: h.l1_block_number.map_or(number, |n| n.to::<u64>()),
        }
    }
}

struct RpcHeaders<'a>(&'a DynProvider);

impl RpcHeaders<'_> {
    async fn get(&self, block: BlockNumberOrTag) -> Result<Option<MiniHeader>, EthError> {
        let header: Option<RpcHeader> = self
            .0
            .raw_request("eth_getBlockByNumber".into(), (block, false))
            .await
            .map_err(|e| EthError::rpc("the configured endpoint (eth_getBlockByNumber)", &e))?;
        Ok(header.map(MiniHeader::from))
    }
}

impl HeaderSource for RpcHeaders<'_> {
    async fn latest(&self) -> Result<MiniHeader, EthError> {
        self.get(BlockNumberOrTag::Latest)
            .await?
            .ok_or_else(|| EthError::ChainData("the node has no latest block".into()))
    }

    async fn by_number(&self, number: u64) -> Result<Option<MiniHeader>, EthError> {
        self.get(BlockNumberOrTag::Number(number)).await
    }
}

fn call_err(what: &'static str) -> impl Fn(alloy::contract::Error) -> EthError {
    move |e| EthError::from_call(what, e)
}

impl ChainNode {
    /// Connects to `url` as `signer`: resolves the contracts through `controller`
    /// ([`resolve`]), reads the round, pool size, gas price and the node's own active status,
    /// opens the chain database and loads its header window (or starts one at the latest
    /// block).
    ///
    /// Errors: [`EthError::Rpc`], [`EthError::NoContract`], [`EthError::NotRegistered`],
    /// [`EthError::ChainDb`], or a contract read's error.
    pub async fn connect(
        url: &str,
        controller: Address,
        signer: PrivateKeySigner,
        config: ServicesConfig,
    ) -> Result<Self, EthError> {
        let provider = crate::rpc::signing_provider_with_timeout(url, &signer, config.rpc_timeout)?;
        let contracts = resolve(&provider, controller).await?;
        let chain_id = provider
            .get_chain_id()
            .await
            .map_err(|e| EthError::rpc(url, &e))?;
        let address = signer.address();
        let gas_price_bounds = GasPriceBounds::new(config.min_gas_price, config.max_gas_price);
        let state = Arc::new(ChainState::new(address, gas_price_bounds.clone()));
        let db_path = config.data_dir.as_ref().map(|d| d.join(CHAIN_DB_FILE));
        let db = tokio::task::spawn_blocking(move || ChainDb::open(db_path.as_deref()))
            .await
            .map_err(|e| EthError::ChainDb {
                path: CHAIN_DB_FILE.into(),
                reason: e.to_string(),
            })??;
        let db = Arc::new(db);
        let chain_key = format!("{chain_id}/{controller}");
        let stored = {
            let db = db.clone();
            let key = chain_key.clone();
            tokio::task::spawn_blocking(move || db.load_window(&key))
                .await
                .map_err(|e| EthError::ChainDb {
                    path: CHAIN_DB_FILE.into(),
                    reason: e.to_string(),
                })??
        };
        let tx = TransactionManager::new(
            provider.clone(),
            signer,
            chain_id,
            TxConfig {
                timeout: config.transaction_timeout,
                max_replacements: config.max_transaction_replacements,
                poll_interval: config.block_polling_interval,
                gas_price_bounds: gas_price_bounds.clone(),
            },
        );
        let node = Self {
            inner: Arc::new(Inner {
                provider,
                address,
                contracts,
                chain_key,
                config,
                state,
                db,
                window: Mutex::new(HeaderWindow::from_headers(stored)),
                head: watch::Sender::new(ChainHead::default()),
                events: broadcast::Sender::new(EVENT_BUFFER),
                tx,
                gas_price_bounds,
            }),
        };
        let latest = RpcHeaders(&node.inner.provider).latest().await?;
        {
            let mut window = node.inner.window.lock().await;
            if window.tip().is_none() {
                window.push(latest);
                node.save_window(&window).await?;
            }
        }
        node.inner
            .state
            .set_head(latest.number, latest.hash, latest.l1_block);
        node.refresh_all().await?;
        if let Err(e) = node.poll_gas_price().await {
            warn!(error = %e, "cannot read the gas price");
        }
        node.publish_head();
        info!(
            address = %address,
            controller = %controller,
            block = latest.number,
            round = node.inner.state.round().last_initialized_round,
            "connected to the chain"
        );
        Ok(node)
    }

    /// The node's account.
    pub fn address(&self) -> Address {
        self.inner.address
    }

    /// The protocol contracts.
    pub fn contracts(&self) -> ProtocolAddresses {
        self.inner.contracts
    }

    /// The provider (signing with the node's key; reads go through it too).
    pub fn provider(&self) -> &DynProvider {
        &self.inner.provider
    }

    /// The settings it runs with.
    pub fn config(&self) -> &ServicesConfig {
        &self.inner.config
    }

    /// The cached chain state (pm's `TimeSource`, `GasPriceSource`, `SenderInfoSource`).
    pub fn state(&self) -> Arc<ChainState> {
        self.inner.state.clone()
    }

    /// The transaction manager of the node's account.
    pub fn transactions(&self) -> &TransactionManager {
        &self.inner.tx
    }

    /// The TicketBroker for pm's redemption (`pm::TicketBroker`).
    pub fn broker(&self) -> EthTicketBroker {
        EthTicketBroker::new(self.clone())
    }

    /// The latest [`ChainHead`]; `changed()` fires on every new block seen.
    pub fn subscribe(&self) -> watch::Receiver<ChainHead> {
        self.inner.head.subscribe()
    }

    /// Protocol events of new blocks and reorg notices, in chain order, from now on. A receiver
    /// that falls more than 1024 events behind loses the oldest (`RecvError::Lagged`).
    pub fn events(&self) -> broadcast::Receiver<ChainEvent> {
        self.inner.events.subscribe()
    }

    /// Reads `sender`'s TicketBroker account and what this node claimed from its reserve this
    /// round, caches both (so [`ChainState`]'s synchronous reads hit), and keeps them current
    /// from then on: re-read on every TicketBroker event naming the sender, each new round and
    /// each reorg (go-livepeer `eth/watchers/senderwatcher.go`, which applies event deltas
    /// instead).
    ///
    /// Errors: the contract reads'.
    pub async fn watch_sender(&self, sender: Address) -> Result<SenderInfo, EthError> {
        let (info, claimed) = self.read_sender(sender).await?;
        self.inner.state.set_sender(sender, info, claimed);
        Ok(info)
    }

    async fn read_sender(&self, sender: Address) -> Result<(SenderInfo, U256), EthError> {
        let broker = TicketBroker::new(
            self.inner.contracts.ticket_broker,
            self.inner.provider.clone(),
        );
        let info = broker
            .getSenderInfo(sender)
            .call()
            .await
            .map_err(call_err("TicketBroker.getSenderInfo"))?;
        let claimed = broker
            .claimedReserve(sender, self.inner.address)
            .call()
            .await
            .map_err(call_err("TicketBroker.claimedReserve"))?;
        Ok((
            SenderInfo {
                deposit: info.sender.deposit,
                withdraw_round: info.sender.withdrawRound.saturating_to(),
                reserve_funds_remaining: info.reserve.fundsRemaining,
                reserve_claimed_in_current_round: info.reserve.claimedInCurrentRound,
            },
            claimed,
        ))
    }

    /// `-minGasPrice`/`-maxGasPrice`, shared by the gas price monitor and the transaction
    /// manager; setting them takes effect on the next gas price poll and transaction.
    pub fn gas_price_bounds(&self) -> &GasPriceBounds {
        &self.inner.gas_price_bounds
    }

    /// The cached `isActiveTranscoder(orch)` for the current round. The cache holds the
    /// members of the transcoder pool, the node itself, and any orchestrator named by a
    /// TranscoderActivated/Deactivated event, each checked when a round starts (and on the
    /// event); any other address reads as inactive.
    pub fn is_active(&self, orch: Address) -> bool {
        self.inner.state.is_active(orch)
    }

    /// `orch`'s registration, active status, stake, service URI and reward round, read now.
    ///
    /// Errors: the contract reads'.
    pub async fn orchestrator_status(&self, orch: Address) -> Result<OrchestratorStatus, EthError> {
        let bm = BondingManager::new(
            self.inner.contracts.bonding_manager,
            self.inner.provider.clone(),
        );
        let sr = ServiceRegistry::new(
            self.inner.contracts.service_registry,
            self.inner.provider.clone(),
        );
        let t = bm
            .getTranscoder(orch)
            .call()
            .await
            .map_err(call_err("BondingManager.getTranscoder"))?;
        Ok(OrchestratorStatus {
            address: orch,
            registered: bm
                .isRegisteredTranscoder(orch)
                .call()
                .await
                .map_err(call_err("BondingManager.isRegisteredTranscoder"))?,
            active: bm
                .isActiveTranscoder(orch)
                .call()
                .await
                .map_err(call_err("BondingManager.isActiveTranscoder"))?,
            total_stake: bm
                .transcoderTotalStake(orch)
                .call()
                .await
                .map_err(call_err("BondingManager.transcoderTotalStake"))?,
            service_uri: sr
                .getServiceURI(orch)
                .call()
                .await
                .map_err(call_err("ServiceRegistry.getServiceURI"))?,
            last_reward_round: t.lastRewardRound.saturating_to(),
            activation_round: t.activationRound.saturating_to(),
            deactivation_round: t.deactivationRound.saturating_to(),
            reward_cut: t.rewardCut.saturating_to(),
            fee_share: t.feeShare.saturating_to(),
        })
    }

    async fn pool_addresses(&self) -> Result<Vec<Address>, EthError> {
        let bm = BondingManager::new(
            self.inner.contracts.bonding_manager,
            self.inner.provider.clone(),
        );
        let mut pool = Vec::new();
        let mut next = bm
            .getFirstTranscoderInPool()
            .call()
            .await
            .map_err(call_err("BondingManager.getFirstTranscoderInPool"))?;
        while next != Address::ZERO {
            if pool.contains(&next) || pool.len() >= MAX_POOL_WALK {
                return Err(EthError::ChainData(format!(
                    "the transcoder pool loops at {next}"
                )));
            }
            pool.push(next);
            next = bm
                .getNextTranscoderInPool(next)
                .call()
                .await
                .map_err(call_err("BondingManager.getNextTranscoderInPool"))?;
        }
        Ok(pool)
    }

    /// The transcoder pool, walked with `getFirstTranscoderInPool`/`getNextTranscoderInPool`
    /// (largest stake first), with each member's service URI, total stake and whether it is
    /// active this round (go-livepeer `eth/client.go:TranscoderPool`).
    ///
    /// Errors: the contract reads', [`EthError::ChainData`] for a pool that loops.
    pub async fn transcoder_pool(&self) -> Result<Vec<PoolMember>, EthError> {
        let bm = BondingManager::new(
            self.inner.contracts.bonding_manager,
            self.inner.provider.clone(),
        );
        let sr = ServiceRegistry::new(
            self.inner.contracts.service_registry,
            self.inner.provider.clone(),
        );
        let mut members = Vec::new();
        for address in self.pool_addresses().await? {
            members.push(PoolMember {
                address,
                service_uri: sr
                    .getServiceURI(address)
                    .call()
                    .await
                    .map_err(call_err("ServiceRegistry.getServiceURI"))?,
                total_stake: bm
                    .transcoderTotalStake(address)
                    .call()
                    .await
                    .map_err(call_err("BondingManager.transcoderTotalStake"))?,
                active: bm
                    .isActiveTranscoder(address)
                    .call()
                    .await
                    .map_err(call_err("BondingManager.isActiveTranscoder"))?,
            });
        }
        Ok(members)
    }

    async fn read_round(&self) -> Result<RoundState, EthError> {
        let rm = RoundsManager::new(
            self.inner.contracts.rounds_manager,
            self.inner.provider.clone(),
        );
        let bm = BondingManager::new(
            self.inner.contracts.bonding_manager,
            self.inner.provider.clone(),
        );
        let last: U256 = rm
            .lastInitializedRound()
            .call()
            .await
            .map_err(call_err("RoundsManager.lastInitializedRound"))?;
        let hash = rm
            .blockHashForRound(last)
            .call()
            .await
            .map_err(call_err("RoundsManager.blockHashForRound"))?;
        let pre_hash = match last.checked_sub(U256::from(1)) {
            Some(pre) => rm
                .blockHashForRound(pre)
                .call()
                .await
                .map_err(call_err("RoundsManager.blockHashForRound"))?,
            None => B256::ZERO,
        };
        Ok(RoundState {
            last_initialized_round: last.saturating_to(),
            last_initialized_block_hash: hash,
            pre_last_initialized_block_hash: pre_hash,
            current_round: rm
                .currentRound()
                .call()
                .await
                .map_err(call_err("RoundsManager.currentRound"))?
                .saturating_to(),
            current_round_start_block: rm
                .currentRoundStartBlock()
                .call()
                .await
                .map_err(call_err("RoundsManager.currentRoundStartBlock"))?
                .saturating_to(),
            round_length: rm
                .roundLength()
                .call()
                .await
                .map_err(call_err("RoundsManager.roundLength"))?
                .saturating_to(),
            pool_size: bm
                .getTranscoderPoolSize()
                .call()
                .await
                .map_err(call_err("BondingManager.getTranscoderPoolSize"))?
                .saturating_to(),
        })
    }

    async fn read_active(&self, orch: Address) -> Result<bool, EthError> {
        BondingManager::new(
            self.inner.contracts.bonding_manager,
            self.inner.provider.clone(),
        )
        .isActiveTranscoder(orch)
        .call()
        .await
        .map_err(call_err("BondingManager.isActiveTranscoder"))
    }

    /// Re-reads the round, the active set and every watched sender.
    async fn refresh_all(&self) -> Result<(), EthError> {
        let round = self.read_round().await?;
        self.inner.state.set_round(round);
        let mut candidates = self.pool_addresses().await?;
        candidates.push(self.inner.address);
        let mut active = HashSet::new();
        for orch in candidates {
            if self.read_active(orch).await? {
                active.insert(orch);
            }
        }
        self.inner.state.replace_active(active);
        for sender in self.inner.state.watched_senders() {
            self.watch_sender(sender).await?;
        }
        Ok(())
    }

    async fn poll_gas_price(&self) -> Result<U256, EthError> {
        let node = self
            .inner
            .provider
            .get_gas_price()
            .await
            .map_err(|e| EthError::rpc("the configured endpoint (eth_gasPrice)", &e))?;
        Ok(self.inner.state.set_gas_price(U256::from(node)))
    }

    async fn save_window(&self, window: &HeaderWindow) -> Result<(), EthError> {
        let headers: Vec<MiniHeader> = window.headers().copied().collect();
        let db = self.inner.db.clone();
        let key = self.inner.chain_key.clone();
        tokio::task::spawn_blocking(move || db.save_window(&key, &headers))
            .await
            .map_err(|e| EthError::ChainDb {
                path: CHAIN_DB_FILE.into(),
                reason: e.to_string(),
            })?
    }

    fn publish_head(&self) {
        let head = self.inner.state.head();
        self.inner.head.send_if_modified(|old| {
            let changed = *old != head;
            *old = head;
            changed
        });
    }

    async fn logs(&self, first: u64, last: u64) -> Result<Vec<ChainLog>, EthError> {
        let mut out = Vec::new();
        for (from, to) in block_ranges(first, last, MAX_BLOCKS_PER_LOG_QUERY) {
            let filter = Filter::new()
                .address(events::addresses(&self.inner.contracts))
                .event_signature(events::topics())
                .from_block(from)
                .to_block(to);
            let logs = self
                .inner
                .provider
                .get_logs(&filter)
                .await
                .map_err(|e| EthError::rpc("the configured endpoint (eth_getLogs)", &e))?;
            out.extend(
                logs.iter()
                    .filter_map(|l| events::decode(&self.inner.contracts, l)),
            );
        }
        Ok(out)
    }

    /// One pass of the block watcher and gas price monitor: reads the gas price, brings the
    /// header window to the latest block (unwinding a reorg), reads the new blocks' protocol
    /// logs in ranges of at most 1000 blocks, updates [`ChainState`] (a reorg or a new round
    /// re-reads all of it; a sender's event re-reads that sender; an activation event re-checks
    /// that orchestrator), stores the window, then publishes the events and the new head.
    /// Returns the head.
    ///
    /// [`ChainNode::run`] calls this every `-blockPollingInterval`; passes never overlap.
    ///
    /// Errors: RPC and contract reads', [`EthError::ChainDb`]; the window is not stored then,
    /// so the next pass reads the same blocks again.
    pub async fn sync(&self) -> Result<ChainHead, EthError> {
        if let Err(e) = self.poll_gas_price().await {
            warn!(error = %e, "cannot read the gas price");
        }
        let mut window = self.inner.window.lock().await;
        let mut candidate = window.clone();
        let outcome = candidate.sync(&RpcHeaders(&self.inner.provider)).await?;
        let logs = match outcome.new_blocks {
            Some((first, last)) => self.logs(first, last).await?,
            None => Vec::new(),
        };
        if let Some(tip) = outcome.tip {
            self.inner
                .state
                .set_head(tip.number, tip.hash, tip.l1_block);
        }
        let reorg = !outcome.removed.is_empty();
        let new_round = logs
            .iter()
            .any(|l| matches!(l.event, ProtocolEvent::NewRound { .. }));
        if reorg || new_round {
            self.refresh_all().await?;
        } else {
            let watched: HashSet<Address> =
                self.inner.state.watched_senders().into_iter().collect();
            let mut senders = HashSet::new();
            let mut orchestrators = HashSet::new();
            for log in &logs {
                if let Some(sender) = log.event.sender().filter(|s| watched.contains(s)) {
                    senders.insert(sender);
                }
                if let ProtocolEvent::TranscoderActivated { transcoder, .. }
                | ProtocolEvent::TranscoderDeactivated { transcoder, .. } = log.event
                {
                    orchestrators.insert(transcoder);
                }
            }
            for sender in senders {
                self.watch_sender(sender).await?;
            }
            for orch in orchestrators {
                let active = self.read_active(orch).await?;
                self.inner.state.set_active(orch, active);
            }
        }
        self.save_window(&candidate).await?;
        *window = candidate;
        drop(window);
        if reorg {
            let common_ancestor = outcome.common_ancestor;
            warn!(
                removed = outcome.removed.len(),
                ?common_ancestor,
                "chain reorganized; state re-read"
            );
            let _ = self.inner.events.send(ChainEvent::Reorg {
                common_ancestor,
                removed: outcome.removed.iter().map(|h| h.hash).collect(),
            });
        }
        for log in logs {
            debug!(block = log.block_number, event = ?log.event, "protocol event");
            let _ = self.inner.events.send(ChainEvent::Log(log));
        }
        self.publish_head();
        Ok(self.inner.state.head())
    }

    /// The block watcher and gas price monitor: [`ChainNode::sync`] every
    /// `-blockPollingInterval` until `cancel` fires. A failed pass is logged and retried at the
    /// next tick.
    pub fn run(&self, cancel: CancellationToken) -> impl Future<Output = ()> + Send + 'static {
        let node = self.clone();
        async move {
            let mut ticks = tokio::time::interval(node.inner.config.block_polling_interval);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    () = cancel.cancelled() => break,
                    _ = ticks.tick() => {
                        if let Err(e) = node.sync().await {
                            warn!(error = %e, "block watcher pass failed");
                        }
                    }
                }
            }
            debug!("block watcher stopped");
        }
    }
}
