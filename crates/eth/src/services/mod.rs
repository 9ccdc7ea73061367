//! The Ethereum services of an on-chain node (go-livepeer `eth/`, wired in
//! `cmd/livepeer/starter/starter.go`; reference `wire-and-network.md` §9).
//!
//! [`ChainNode`] is the front door: it resolves the contracts through the Controller, loads
//! the round, gas price and active set, and opens the chain database. Its [`ChainNode::run`]
//! is the block watcher and gas price monitor; the other services wake on the
//! [`ChainHead`] it publishes.
//!
//! | part | what | go-livepeer |
//! |---|---|---|
//! | [`ChainNode::run`] | polls blocks, keeps [`blocks::HEADER_WINDOW`] headers, unwinds reorgs, reads logs in ≤ 1000-block ranges (and backfills from [`db`] at start) | `eth/blockwatch` |
//! | [`ChainState`] | last initialized round and its block hashes, round length and start, pool size, last L1 block, gas price, senders, active set; implements the pm traits | `eth/watchers/timewatcher.go`, `senderwatcher.go`, `eth/gaspricemonitor.go` |
//! | [`tx::TransactionManager`] | one transaction at a time, nonce per transaction, replacement at +11 % | `eth/transactionManager.go` |
//! | [`EthTicketBroker`] | `pm::TicketBroker` through the transaction manager | `eth/client_ticketbroker.go` |
//! | [`RewardService`] | `reward()` once per round while active | `eth/rewardservice.go` |
//! | [`RoundInitializer`] | `initializeRound()` after a random delay when a round is due | `eth/roundinitializer.go` |
//! | [`RedemptionService`] | redeems stored winners on each new block, off the async workers | `pm/queue.go` |
//!
//! Each service is a value with a `run(cancel)` future; the node crate starts the ones its
//! flags enable, names them, and cancels them on shutdown.

pub mod blocks;
mod broker;
pub mod db;
pub mod events;
mod node;
pub mod operator;
mod redeem;
mod reward;
mod round_init;
mod state;
pub mod tx;

use std::path::PathBuf;
use std::time::Duration;

use alloy::primitives::{Address, U256};
use serde::Serialize;

pub use broker::{EthTicketBroker, onchain_ticket};
pub use events::{ChainEvent, ChainLog, ProtocolEvent};
pub use node::ChainNode;
pub use operator::Operator;
pub use redeem::RedemptionService;
pub use reward::{REWARD_ATTEMPTS_PER_ROUND, RewardOutcome, RewardService};
pub use round_init::{DEFAULT_INITIALIZE_ROUND_MAX_DELAY, InitializeOutcome, RoundInitializer};
pub use state::{ChainHead, ChainState, RoundState, clamp_gas_price};

/// Default `-blockPollingInterval`: 5 s (go-livepeer `starter.go`).
pub const DEFAULT_BLOCK_POLLING_INTERVAL: Duration = Duration::from_secs(5);
/// Default `-maxTransactionReplacements`: 1 (go-livepeer `starter.go`).
pub const DEFAULT_MAX_TRANSACTION_REPLACEMENTS: u32 = 1;
/// Default `-transactionTimeout`: 5 minutes (go-livepeer `starter.go`).
pub const DEFAULT_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(300);

/// Runtime settings of the Ethereum services; [`Default`] is go-livepeer's flag defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicesConfig {
    /// How often blocks and the gas price are polled (`-blockPollingInterval`); also how often
    /// a pending transaction's receipt is looked for.
    pub block_polling_interval: Duration,
    /// `-minGasPrice` in wei: the gas price pm sees and transactions pay is never below it.
    pub min_gas_price: Option<U256>,
    /// `-maxGasPrice` in wei (`None` or zero: no maximum): no transaction is sent or replaced
    /// above it.
    pub max_gas_price: Option<U256>,
    /// `-maxTransactionReplacements`.
    pub max_transaction_replacements: u32,
    /// `-transactionTimeout`: how long to wait for a receipt before replacing a transaction.
    pub transaction_timeout: Duration,
    /// `-dataDir`: the chain database is `<data_dir>/chain.sqlite3` ([`db::CHAIN_DB_FILE`]);
    /// `None` keeps it in memory, so a restart does not backfill.
    pub data_dir: Option<PathBuf>,
    /// How long one JSON-RPC request may take ([`crate::rpc::DEFAULT_RPC_TIMEOUT`]).
    pub rpc_timeout: Duration,
}

impl Default for ServicesConfig {
    fn default() -> Self {
        Self {
            block_polling_interval: DEFAULT_BLOCK_POLLING_INTERVAL,
            min_gas_price: None,
            max_gas_price: None,
            max_transaction_replacements: DEFAULT_MAX_TRANSACTION_REPLACEMENTS,
            transaction_timeout: DEFAULT_TRANSACTION_TIMEOUT,
            data_dir: None,
            rpc_timeout: crate::rpc::DEFAULT_RPC_TIMEOUT,
        }
    }
}

/// An orchestrator's on-chain standing (BondingManager and ServiceRegistry reads).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrchestratorStatus {
    /// The orchestrator.
    pub address: Address,
    /// `isRegisteredTranscoder`.
    pub registered: bool,
    /// `isActiveTranscoder` in the current round.
    pub active: bool,
    /// `transcoderTotalStake`, LPT wei.
    pub total_stake: U256,
    /// `ServiceRegistry.getServiceURI` (empty when unset).
    pub service_uri: String,
    /// `getTranscoder().lastRewardRound`.
    pub last_reward_round: u64,
    /// `getTranscoder().activationRound`.
    pub activation_round: u64,
    /// `getTranscoder().deactivationRound`.
    pub deactivation_round: u64,
    /// `getTranscoder().rewardCut` (1e6 = 100 %).
    pub reward_cut: u64,
    /// `getTranscoder().feeShare` (1e6 = 100 %).
    pub fee_share: u64,
}

/// One member of the transcoder pool, in pool order (largest stake first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolMember {
    /// The orchestrator.
    pub address: Address,
    /// Its service URI (empty when unset).
    pub service_uri: String,
    /// `transcoderTotalStake`, LPT wei.
    pub total_stake: U256,
    /// `isActiveTranscoder` in the current round (a member that joined this round is active
    /// from the next).
    pub active: bool,
}
