//! The on-chain roles: the node's account and [`ChainNode`] (block watcher, round and sender
//! state, transaction manager), the orchestrator's recipient, ticket store, prices and
//! services (redemption, reward, round initializer), and the gateway's ticket sender and
//! pool discovery — as go-livepeer's `cmd/livepeer/starter/starter.go` wires them. One code
//! path for every chain: only `-ethUrl` and `-ethController` differ between a devnet and
//! Arbitrum One.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use alloy_primitives::{Address, U256};
use anyhow::{Context, bail};
use livepeer_eth::services::{
    ChainEvent, ChainNode, RedemptionService, RewardService, RoundInitializer, ServicesConfig,
};
use livepeer_gateway::pool::{OrchestratorCache, OrchestratorPool, PoolMember, PoolWalk};
use livepeer_gateway::selection::{SelectionConfig, max_price_from_flags};
use livepeer_orchestrator::payment::{BoxFuture, parse_price_per_gateway};
use livepeer_orchestrator::{PaymentChain, Pricing};
use livepeer_pm::{
    LocalSigner, PriceInfo, Recipient, RecipientConfig, Sender, SenderConfig, SenderMonitor,
    SqliteTicketStore, TicketStore, TimeSource,
};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::info;

use crate::cli::NodeArgs;

/// The winning-ticket store under `-dataDir`.
pub const TICKET_STORE_FILE: &str = "tickets.sqlite3";

/// A named background service of the node.
pub type Service = (&'static str, anyhow::Result<()>);

/// A connected on-chain node: its account's key and the chain services.
pub struct OnChain {
    /// The chain: contracts, state, transactions.
    pub node: ChainNode,
    /// The account's key, for tickets and signatures.
    pub signer: Arc<LocalSigner>,
}

impl std::fmt::Debug for OnChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OnChain")
            .field("address", &self.signer.address())
            .finish_non_exhaustive()
    }
}

/// The Ethereum services' settings from the flags.
pub fn services_config(args: &NodeArgs) -> ServicesConfig {
    let nonzero = |wei: u128| (wei > 0).then(|| U256::from(wei));
    ServicesConfig {
        block_polling_interval: std::time::Duration::from_secs(args.block_polling_interval.max(1)),
        min_gas_price: nonzero(args.min_gas_price),
        max_gas_price: nonzero(args.max_gas_price),
        max_transaction_replacements: args.max_transaction_replacements,
        transaction_timeout: args.transaction_timeout,
        data_dir: args.data_dir.clone(),
        ..Default::default()
    }
}

/// Connects the account to the chain at `url` through `controller` and starts the block
/// watcher in `services`.
///
/// Errors: the chain cannot be reached or holds no Controller there; `-ethOrchAddr` names
/// another address than the account.
pub async fn connect(
    args: &NodeArgs,
    url: &str,
    controller: Address,
    account: &livepeer_eth::accounts::Account,
    services: &mut JoinSet<Service>,
    cancel: &CancellationToken,
) -> anyhow::Result<OnChain> {
    if let Some(orch) = args.eth_orch_addr.as_deref() {
        let orch: Address = orch
            .parse()
            .with_context(|| format!("-ethOrchAddr {orch:?} is not an address"))?;
        if orch != account.address() {
            bail!(
                "-ethOrchAddr {orch} differs from the account {}: a separate orchestrator account is not supported yet",
                account.address()
            );
        }
    }
    let signer = Arc::new(
        LocalSigner::from_bytes(&account.signer.to_bytes().0)
            .context("the account key is not a valid secp256k1 key")?,
    );
    let node = ChainNode::connect(
        url,
        controller,
        account.signer.clone(),
        services_config(args),
    )
    .await
    .map_err(|e| match e {
        livepeer_eth::EthError::Rpc { reason, .. } => {
            anyhow::anyhow!("cannot reach the Ethereum node at {url}: {reason}")
        }
        other => other.into(),
    })?;
    let round = node.state().last_initialized_round();
    info!(account = %node.address(), round, ticket_broker = %node.contracts().ticket_broker, "connected to the protocol");
    let watcher = node.run(cancel.clone());
    services.spawn(async move {
        watcher.await;
        ("block watcher", Ok(()))
    });
    Ok(OnChain { node, signer })
}

/// A wei amount flag: a non-negative integer (go also takes a currency suffix with a price
/// feed, which this build does not have).
pub fn parse_wei(flag: &str, value: &str) -> anyhow::Result<U256> {
    let v = value.trim();
    if v.chars().any(|c| c.is_ascii_alphabetic()) && !v.starts_with("0x") {
        bail!(
            "-{flag} {value:?}: prices in a currency need a price feed, which this build does not support yet; give wei"
        );
    }
    v.parse::<U256>()
        .with_context(|| format!("-{flag} {value:?} is not a whole number of wei"))
}

fn parse_i64(flag: &str, value: &str) -> anyhow::Result<i64> {
    let n = parse_wei(flag, value)?;
    i64::try_from(n).with_context(|| format!("-{flag} {value} is too large"))
}

/// The orchestrator's prices from `-pricePerUnit`, `-pixelsPerUnit`, `-pricePerGateway` (JSON
/// or a file holding it) and `-autoAdjustPrice`.
///
/// Errors: a malformed amount, a zero `-pixelsPerUnit`, or unreadable per-gateway JSON.
pub fn pricing(args: &NodeArgs) -> anyhow::Result<Pricing> {
    let pixels = parse_i64("pixelsPerUnit", &args.pixels_per_unit)?;
    if pixels <= 0 {
        bail!("-pixelsPerUnit must be at least 1");
    }
    let base = PriceInfo::new(parse_i64("pricePerUnit", &args.price_per_unit)?, pixels);
    let per_gateway_flag = if args.price_per_broadcaster.trim().is_empty() {
        &args.price_per_gateway
    } else {
        tracing::warn!("-pricePerBroadcaster is deprecated; use -pricePerGateway");
        &args.price_per_broadcaster
    };
    let per_gateway = match per_gateway_flag.trim() {
        "" => Default::default(),
        json if json.starts_with('{') => {
            parse_price_per_gateway(json).map_err(|e| anyhow::anyhow!("-pricePerGateway: {e}"))?
        }
        path => {
            let json = std::fs::read_to_string(path)
                .with_context(|| format!("-pricePerGateway: cannot read {path}"))?;
            parse_price_per_gateway(&json)
                .map_err(|e| anyhow::anyhow!("-pricePerGateway {path}: {e}"))?
        }
    };
    Ok(Pricing {
        base,
        per_gateway,
        auto_adjust: args.auto_adjust_price,
    })
}

/// [`PaymentChain`] over the chain services.
struct ChainPayments(ChainNode);

impl PaymentChain for ChainPayments {
    fn is_active(&self, orchestrator: Address) -> bool {
        self.0.is_active(orchestrator)
    }

    fn current_round(&self) -> u64 {
        self.0.state().last_initialized_round()
    }

    fn prepare_sender(&self, sender: Address) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            if self.0.state().sender(sender).is_some() {
                return Ok(());
            }
            let info = self
                .0
                .watch_sender(sender)
                .await
                .map_err(|e| e.to_string())?;
            // Anyone can sign a request: only accounts that can pay stay watched, so the set
            // (and its per-round re-reads) is bounded by what funding them costs.
            if info.deposit.is_zero() && info.reserve_funds_remaining.is_zero() {
                self.0.state().forget_sender(sender);
                return Err("no deposit and no reserve on the TicketBroker".into());
            }
            Ok(())
        })
    }
}

/// The store path under `data_dir` (or the system temp directory, per process, when the node
/// has none: winners then do not survive a restart, which the node warns about).
fn ticket_store_path(data_dir: Option<&Path>) -> PathBuf {
    match data_dir {
        Some(dir) => dir.join(TICKET_STORE_FILE),
        None => std::env::temp_dir().join(format!(
            "livepeer-tickets-{}-{TICKET_STORE_FILE}",
            std::process::id()
        )),
    }
}

/// Sets up being paid: refuses an account that is not a registered orchestrator (one line
/// saying what to do), opens the ticket store, builds the recipient with `-ticketEV` and
/// `-maxFaceValue`, and starts the redemption service, the reward service (unless
/// `-reward=false`) and the round initializer (with `-initializeRound`); with `metrics`,
/// failed redemptions and reward calls are counted there.
///
/// Errors: not registered; a bad flag; the store cannot be opened.
pub async fn orchestrator_payments(
    args: &NodeArgs,
    chain: &OnChain,
    metrics: Option<&livepeer_monitor::Metrics>,
    services: &mut JoinSet<Service>,
    cancel: &CancellationToken,
) -> anyhow::Result<livepeer_orchestrator::PaymentConfig> {
    let address = chain.node.address();
    let status = chain
        .node
        .orchestrator_status(address)
        .await
        .context("cannot read the orchestrator's standing")?;
    if !status.registered {
        bail!(
            "account {address} is not a registered orchestrator on -network {}: bond LPT to it and call BondingManager.transcoder(rewardCut, feeShare), and set its service URI in the ServiceRegistry, then start again",
            args.network
        );
    }
    if !status.active {
        tracing::warn!(%address, "registered but not in the active set this round: payments are refused until it is");
    }
    if args.data_dir.is_none() {
        tracing::warn!(
            "no -dataDir: winning tickets are kept in a temporary file and do not survive a restart"
        );
    }
    let path = ticket_store_path(args.data_dir.as_deref());
    let store = Arc::new(
        tokio::task::spawn_blocking(move || SqliteTicketStore::open(&path))
            .await
            .context("ticket store task")??,
    );
    let dyn_store: Arc<dyn TicketStore> = store;
    // Winners left by an earlier run are redeemed like new ones: their senders' accounts
    // must be watched before the first redemption pass reads them.
    let pending = {
        let store = dyn_store.clone();
        tokio::task::spawn_blocking(move || store.senders_with_pending())
            .await
            .context("ticket store task")??
    };
    for sender in pending {
        chain.node.watch_sender(sender).await.with_context(|| {
            format!("cannot read the account of {sender}, who owes winning tickets")
        })?;
        info!(%sender, "winning tickets of an earlier run are waiting to be redeemed");
    }
    let state = chain.node.state();
    let mut config = RecipientConfig::new(address);
    config.ticket_ev_wei = parse_wei("ticketEV", &args.ticket_ev)?;
    config.max_face_value_wei = parse_wei("maxFaceValue", &args.max_face_value)?;
    let monitor = SenderMonitor::new(address, state.clone(), state.clone(), dyn_store.clone());
    let recipient = Arc::new(Recipient::with_random_secret(
        config,
        state.clone(),
        state.clone(),
        monitor,
        dyn_store,
    ));
    let redeemer = RedemptionService::new(chain.node.clone(), recipient.clone())
        .with_metrics(metrics.cloned());
    let token = cancel.clone();
    services.spawn(async move {
        redeemer.run(token).await;
        ("ticket redemption", Ok(()))
    });
    spawn_round_services(args, chain, true, metrics, services, cancel);
    Ok(livepeer_orchestrator::PaymentConfig {
        recipient,
        signer: chain.signer.clone(),
        pricing: pricing(args)?,
        chain: Arc::new(ChainPayments(chain.node.clone())),
    })
}

/// Starts the round services the flags ask for: the reward service when `-reward` is set,
/// or when it is unset and `reward_by_default` (an orchestrator: go-livepeer runs it for a
/// registered transcoder unless `-reward=false`), and the round initializer with
/// `-initializeRound`. Without a role, go-livepeer runs just these
/// (`cmd/livepeer/starter/starter.go`: neither role is valid only with `-reward` or
/// `-initializeRound`).
pub fn spawn_round_services(
    args: &NodeArgs,
    chain: &OnChain,
    reward_by_default: bool,
    metrics: Option<&livepeer_monitor::Metrics>,
    services: &mut JoinSet<Service>,
    cancel: &CancellationToken,
) {
    if args.reward.unwrap_or(reward_by_default) {
        let reward = RewardService::new(chain.node.clone()).with_metrics(metrics.cloned());
        let token = cancel.clone();
        services.spawn(async move {
            reward.run(token).await;
            ("reward", Ok(()))
        });
    }
    if args.initialize_round {
        let init = RoundInitializer::new(chain.node.clone(), args.initialize_round_max_delay);
        let token = cancel.clone();
        services.spawn(async move {
            init.run(token).await;
            ("round initializer", Ok(()))
        });
    }
}

/// The on-chain pool for discovery: the BondingManager's transcoder pool with service URIs
/// and stake, walked through the chain services once and then kept current by the block
/// watcher's events, as go-livepeer's `DBOrchestratorPoolCache` is by its OrchestratorWatcher
/// and ServiceRegistryWatcher: a walk is reused until an event that can change the pool
/// ([`livepeer_eth::services::ProtocolEvent::changes_pool`]: a new round, TranscoderActivated/Deactivated,
/// ServiceURIUpdate, Unbond, Rebond), a reorg, or a lagging event stream marks it stale; the
/// next discovery then walks again. The gateway records every walk in its SQLite
/// [`OrchestratorCache`].
struct ChainPool {
    node: ChainNode,
    stale: Arc<std::sync::atomic::AtomicBool>,
    last: tokio::sync::Mutex<Option<PoolWalk>>,
    walks: Arc<std::sync::atomic::AtomicU64>,
}

impl ChainPool {
    /// A pool over `node`, watching its events from now on (needs a tokio runtime; the watch
    /// ends with the node's event stream).
    fn new(node: ChainNode) -> Self {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let stale = Arc::new(AtomicBool::new(true));
        let mut events = node.events();
        let mark = stale.clone();
        tokio::spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                let changed = match events.recv().await {
                    Ok(ChainEvent::Log(log)) => log.event.changes_pool(),
                    Ok(ChainEvent::Reorg { .. }) | Err(RecvError::Lagged(_)) => true,
                    Err(RecvError::Closed) => return,
                };
                if changed {
                    mark.store(true, Ordering::SeqCst);
                }
            }
        });
        Self {
            node,
            stale,
            last: tokio::sync::Mutex::new(None),
            walks: Arc::new(AtomicU64::new(0)),
        }
    }

    async fn walk_chain(&self) -> Result<PoolWalk, livepeer_gateway::GatewayError> {
        let round = self.node.state().last_initialized_round();
        let members = self
            .node
            .transcoder_pool()
            .await
            .map_err(|e| livepeer_gateway::GatewayError::Pool(Box::new(e)))?;
        self.walks.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Ok(PoolWalk {
            round,
            members: members
                .into_iter()
                .map(|m| PoolMember {
                    address: m.address,
                    service_uri: m.service_uri,
                    stake: m.total_stake,
                    // The walk reads isActiveTranscoder for this round.
                    activation_round: if m.active { round } else { u64::MAX },
                    deactivation_round: u64::MAX,
                })
                .collect(),
        })
    }
}

impl OrchestratorPool for ChainPool {
    fn walk(
        &self,
    ) -> futures::future::BoxFuture<'_, Result<PoolWalk, livepeer_gateway::GatewayError>> {
        use std::sync::atomic::Ordering;
        Box::pin(async move {
            // One walk at a time; discoveries that wait for it reuse it.
            let mut last = self.last.lock().await;
            // Cleared before walking, so an event during the walk marks it stale again.
            let stale = self.stale.swap(false, Ordering::SeqCst);
            if !stale && let Some(walk) = last.as_ref() {
                return Ok(walk.clone());
            }
            match self.walk_chain().await {
                Ok(walk) => {
                    *last = Some(walk.clone());
                    Ok(walk)
                }
                Err(err) => {
                    self.stale.store(true, Ordering::SeqCst);
                    Err(err)
                }
            }
        })
    }
}

/// Sets up paying: the gateway's own deposit and reserve watched, the ticket sender with
/// `-maxTicketEV`, `-maxTotalEV` and `-depositMultiplier`, and — when no `-orchAddr` is given —
/// discovery from the on-chain pool with go's selection weights and `-maxPricePerUnit`.
///
/// Errors: a bad flag, the gateway's account unreadable on chain.
pub async fn gateway_payments(
    args: &NodeArgs,
    chain: &OnChain,
) -> anyhow::Result<livepeer_gateway::payment::PaymentConfig> {
    let address = chain.node.address();
    let info = chain
        .node
        .watch_sender(address)
        .await
        .context("cannot read the gateway's TicketBroker account")?;
    info!(%address, deposit = %info.deposit, reserve = %info.reserve_funds_remaining, "gateway account");
    if info.deposit.is_zero() || info.reserve_funds_remaining.is_zero() {
        tracing::warn!(%address, "the gateway has no deposit or no reserve: fund both with TicketBroker.fundDepositAndReserve before sending work");
    }
    let state = chain.node.state();
    let sender = Arc::new(Sender::new(
        chain.signer.clone(),
        state.clone(),
        state.clone(),
        SenderConfig {
            max_ticket_ev_wei: Some(parse_wei("maxTicketEV", &args.max_ticket_ev)?),
            max_total_ev_wei: Some(parse_wei("maxTotalEV", &args.max_total_ev)?),
            deposit_multiplier: args.deposit_multiplier,
        },
    ));
    let selection = SelectionConfig {
        stake_weight: args.select_stake_weight,
        price_weight: args.select_price_weight,
        rand_weight: args.select_rand_freq,
        price_exp_factor: args.select_price_exp_factor,
        min_perf_score: args.min_perf_score,
        max_price: max_price_from_flags(&args.max_price_per_unit, &args.pixels_per_unit)
            .map_err(|e| anyhow::anyhow!("-maxPricePerUnit: {e}"))?,
        ignore_max_price_if_needed: args.ignore_max_price_if_needed,
    };
    selection
        .validate()
        .map_err(|e| anyhow::anyhow!("selection flags: {e}"))?;
    let cache = match &args.data_dir {
        Some(dir) => Some(Arc::new(
            OrchestratorCache::open_in(dir).context("cannot open the orchestrator cache")?,
        )),
        None => None,
    };
    Ok(livepeer_gateway::payment::PaymentConfig {
        sender,
        signer: chain.signer.clone(),
        time: state,
        pool: Some(Arc::new(ChainPool::new(chain.node.clone()))),
        cache,
        selection,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::time::{Duration, Instant};

    use livepeer_eth::contracts::ServiceRegistry;
    use livepeer_eth::devnet::{Devnet, DevnetConfig};

    use super::*;

    /// The pool is walked once, reused while nothing changes, and walked again once the block
    /// watcher sees a ServiceURIUpdate: discovery sees the new URI without a restart.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_pool_walk_is_reused_until_the_watcher_sees_a_change() {
        let devnet = Devnet::start(&DevnetConfig {
            orchestrators: 2,
            faucet_lpt: livepeer_eth::devnet::FAUCET_FUNDS_LPT,
            ..Default::default()
        })
        .await
        .expect("devnet");
        let account = |role: &str| {
            devnet
                .info
                .accounts
                .iter()
                .find(|a| a.role == role)
                .expect("account")
                .clone()
        };
        let gateway_key: livepeer_eth::devnet::LocalKey =
            account("gateway").private_key.parse().expect("key");
        let node = ChainNode::connect(
            &devnet.info.rpc_url,
            devnet.info.contracts.controller,
            gateway_key,
            ServicesConfig {
                block_polling_interval: Duration::from_millis(100),
                ..Default::default()
            },
        )
        .await
        .expect("connects");
        let cancel = CancellationToken::new();
        tokio::spawn(node.run(cancel.clone()));
        let pool = ChainPool::new(node.clone());

        let first = pool.walk().await.expect("walk");
        assert_eq!(first.active_members().len(), 2);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(pool.walk().await.expect("walk"), first, "nothing changed");
        assert_eq!(pool.walks.load(Ordering::SeqCst), 1, "reused, not walked");

        // An orchestrator moves: its ServiceURIUpdate reaches discovery.
        let moving = account("orchestrator");
        let key: livepeer_eth::devnet::LocalKey = moving.private_key.parse().expect("key");
        let provider =
            livepeer_eth::rpc::signing_provider(&devnet.info.rpc_url, &key).expect("provider");
        let moved = "https://127.0.0.1:1".to_string();
        ServiceRegistry::new(devnet.info.contracts.service_registry, provider)
            .setServiceURI(moved.clone())
            .send()
            .await
            .expect("sent")
            .get_receipt()
            .await
            .expect("mined");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let walk = pool.walk().await.expect("walk");
            let member = walk
                .members
                .iter()
                .find(|m| m.address == moving.address)
                .expect("still in the pool");
            if member.service_uri == moved {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the new service URI never showed"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(pool.walks.load(Ordering::SeqCst), 2, "walked once more");
        cancel.cancel();
    }
}
