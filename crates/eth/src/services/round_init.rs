//! [`RoundInitializer`]: `RoundsManager.initializeRound()` when a round is due
//! (`-initializeRound`; go-livepeer `eth/roundinitializer.go`).

use std::time::Duration;

use alloy::primitives::{B256, U256};
use alloy::sol_types::SolCall;
use rand::Rng;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::ChainNode;
use crate::EthError;
use crate::contracts::RoundsManager;

/// Default `-initializeRoundMaxDelay`: 30 s (go-livepeer `starter.go`).
pub const DEFAULT_INITIALIZE_ROUND_MAX_DELAY: Duration = Duration::from_secs(30);

/// The revert of a round someone else initialized first (`RoundsManager.sol`).
const ALREADY_INITIALIZED: &str = "round already initialized";

/// Initializes each round that comes due while it runs.
///
/// When the cached state says the current round is not initialized (the L1 block reached the
/// next round's start), it sleeps a random delay in `[0, max_delay]` so several initializers
/// spread out, re-checks `currentRoundInitialized()` on chain, and sends `initializeRound()`.
/// Losing the race to another initializer (the re-check, or the "round already initialized"
/// revert) is logged, not an error.
#[derive(Clone, Debug)]
pub struct RoundInitializer {
    node: ChainNode,
    max_delay: Duration,
}

/// What one [`RoundInitializer::try_initialize`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitializeOutcome {
    /// This node's `initializeRound()` was mined.
    Initialized {
        /// The round it initialized (`currentRound()` before sending).
        round: u64,
        /// The mined transaction.
        tx_hash: B256,
    },
    /// Someone else initialized the round first.
    AlreadyInitialized,
    /// The current round is initialized: nothing was due.
    NotDue,
}

impl RoundInitializer {
    /// An initializer for `node` waiting up to `max_delay` before each attempt.
    pub fn new(node: ChainNode, max_delay: Duration) -> Self {
        Self { node, max_delay }
    }

    fn random_delay(&self) -> Duration {
        if self.max_delay.is_zero() {
            return Duration::ZERO;
        }
        let max_ms = u64::try_from(self.max_delay.as_millis()).unwrap_or(u64::MAX);
        Duration::from_millis(rand::rng().random_range(0..=max_ms))
    }

    /// One attempt, now, without the random delay: reads `currentRoundInitialized()` and sends
    /// `initializeRound()` when it is false.
    ///
    /// Errors: the reads' and the transaction's, except losing the race.
    pub async fn try_initialize(&self) -> Result<InitializeOutcome, EthError> {
        let rm = RoundsManager::new(
            self.node.contracts().rounds_manager,
            self.node.provider().clone(),
        );
        let initialized = rm
            .currentRoundInitialized()
            .call()
            .await
            .map_err(|e| EthError::from_call("RoundsManager.currentRoundInitialized", e))?;
        if initialized {
            return Ok(InitializeOutcome::NotDue);
        }
        let round: U256 = rm
            .currentRound()
            .call()
            .await
            .map_err(|e| EthError::from_call("RoundsManager.currentRound", e))?;
        let sent = self
            .node
            .transactions()
            .send(
                "RoundsManager.initializeRound",
                self.node.contracts().rounds_manager,
                RoundsManager::initializeRoundCall {}.abi_encode().into(),
                U256::ZERO,
            )
            .await;
        match sent {
            Ok(confirmed) => {
                let round = round.saturating_to();
                info!(round, tx_hash = %confirmed.tx_hash(), "initialized round");
                Ok(InitializeOutcome::Initialized {
                    round,
                    tx_hash: confirmed.tx_hash(),
                })
            }
            Err(e) if e.revert_reason() == Some(ALREADY_INITIALIZED) => {
                info!(round = %round, "round already initialized by another node");
                Ok(InitializeOutcome::AlreadyInitialized)
            }
            Err(e) => Err(e),
        }
    }

    /// Runs until `cancel` fires: on every new head where the round is due, waits the random
    /// delay (cancellable) and calls [`RoundInitializer::try_initialize`].
    pub async fn run(self, cancel: CancellationToken) {
        let mut heads = self.node.subscribe();
        let state = self.node.state();
        // The round this node last initialized, so it does not try again before the watcher
        // sees the NewRound.
        let mut initialized: Option<u64> = None;
        loop {
            let head = *heads.borrow_and_update();
            // Not again before the watcher has seen the round this node (or another) initialized.
            let due =
                !state.current_round_initialized() && initialized.is_none_or(|r| head.round >= r);
            if due {
                let delay = self.random_delay();
                debug!(?delay, "round due; waiting before initializing");
                tokio::select! {
                    () = cancel.cancelled() => break,
                    () = tokio::time::sleep(delay) => {}
                }
                match self.try_initialize().await {
                    Ok(InitializeOutcome::Initialized { round, .. }) => initialized = Some(round),
                    Ok(_) => initialized = Some(head.round.saturating_add(1)),
                    Err(e) => warn!(error = %e, "initializeRound failed"),
                }
            }
            tokio::select! {
                () = cancel.cancelled() => break,
                changed = heads.changed() => if changed.is_err() { break },
            }
        }
        debug!("round initializer stopped");
    }
}
