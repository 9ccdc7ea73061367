//! [`RewardService`]: `BondingManager.reward()` once per round while the node is active (go-livepeer
//! `eth/rewardservice.go`).

use alloy::primitives::{B256, U256};
use alloy::sol_types::SolCall;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::ChainNode;
use crate::EthError;
use crate::contracts::BondingManager;

/// Attempts per round before the service waits for the next one (a failed `reward()` is
/// retried on the following blocks).
pub const REWARD_ATTEMPTS_PER_ROUND: u32 = 3;

/// Calls `reward()` for the node's address early in each round (`-reward`).
///
/// On each new round, and on blocks after a failed attempt, it calls `reward()` when the round
/// is initialized, the node is active in it ([`ChainNode::is_active`]) and its
/// `lastRewardRound` is below the round; then waits for the receipt and logs it. It never
/// calls twice in a round: a round is done once a call was mined or `lastRewardRound` shows it.
#[derive(Clone, Debug)]
pub struct RewardService {
    node: ChainNode,
    metrics: Option<livepeer_monitor::Metrics>,
}

/// What one [`RewardService::try_reward`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RewardOutcome {
    /// `reward()` was mined for `round` in `tx_hash`.
    Rewarded {
        /// The round rewarded.
        round: u64,
        /// The mined transaction.
        tx_hash: B256,
    },
    /// Nothing to do for `round`: already rewarded.
    AlreadyRewarded {
        /// The current round.
        round: u64,
    },
    /// Not due: the round is not initialized, or the node is not active in it.
    NotDue,
}

impl RewardService {
    /// The service for `node`'s address.
    pub fn new(node: ChainNode) -> Self {
        Self {
            node,
            metrics: None,
        }
    }

    /// Counts every failed attempt in `metrics` (`livepeer_reward_call_errors`, go-livepeer
    /// `eth/rewardservice.go`).
    pub fn with_metrics(mut self, metrics: Option<livepeer_monitor::Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// One check, now: calls `reward()` if it is due (see the type's docs).
    ///
    /// Errors: the `getTranscoder` read's, or the transaction's ([`EthError::TxReverted`],
    /// [`EthError::TxTimedOut`], …).
    pub async fn try_reward(&self) -> Result<RewardOutcome, EthError> {
        let state = self.node.state();
        let round = state.round().last_initialized_round;
        if !state.current_round_initialized() || !self.node.is_active(self.node.address()) {
            return Ok(RewardOutcome::NotDue);
        }
        let bm = BondingManager::new(
            self.node.contracts().bonding_manager,
            self.node.provider().clone(),
        );
        let t = bm
            .getTranscoder(self.node.address())
            .call()
            .await
            .map_err(|e| EthError::from_call("BondingManager.getTranscoder", e))?;
        if t.lastRewardRound >= U256::from(round) {
            return Ok(RewardOutcome::AlreadyRewarded { round });
        }
        let confirmed = self
            .node
            .transactions()
            .send(
                "BondingManager.reward",
                self.node.contracts().bonding_manager,
                BondingManager::rewardCall {}.abi_encode().into(),
                U256::ZERO,
            )
            .await?;
        info!(round, tx_hash = %confirmed.tx_hash(), orch = %self.node.address(), "called reward");
        Ok(RewardOutcome::Rewarded {
            round,
            tx_hash: confirmed.tx_hash(),
        })
    }

    /// Runs until `cancel` fires, checking at start and on every new head until the round is
    /// done.
    pub async fn run(self, cancel: CancellationToken) {
        let mut heads = self.node.subscribe();
        let mut done_round: Option<u64> = None;
        let mut attempts = 0u32;
        let mut attempts_round = 0u64;
        loop {
            let head = *heads.borrow_and_update();
            if done_round != Some(head.round) {
                if attempts_round != head.round {
                    attempts_round = head.round;
                    attempts = 0;
                }
                if attempts < REWARD_ATTEMPTS_PER_ROUND {
                    match self.try_reward().await {
                        Ok(
                            RewardOutcome::Rewarded { round, .. }
                            | RewardOutcome::AlreadyRewarded { round },
                        ) => {
                            done_round = Some(round);
                        }
                        Ok(RewardOutcome::NotDue) => debug!(round = head.round, "reward not due"),
                        Err(e) => {
                            attempts += 1;
                            if let Some(m) = &self.metrics {
                                m.reward_call_error();
                            }
                            warn!(round = head.round, attempt = attempts, error = %e, "reward failed");
                        }
                    }
                }
            }
            tokio::select! {
                () = cancel.cancelled() => break,
                changed = heads.changed() => if changed.is_err() { break },
            }
        }
        debug!("reward service stopped");
    }
}
