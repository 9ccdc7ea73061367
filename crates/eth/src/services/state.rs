//! [`ChainState`]: what the node last saw of the chain, cached for synchronous reads (the pm
//! traits), and kept current by the block watcher (go-livepeer `eth/watchers/timewatcher.go`,
//! `senderwatcher.go`, `eth/gaspricemonitor.go`).

use std::collections::{HashMap, HashSet};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use alloy::primitives::{Address, B256, U256};
use livepeer_pm::{GasPriceSource, PmError, SenderInfo, SenderInfoSource, TimeSource};
use serde::Serialize;

use crate::EthError;

/// The chain head as the block watcher last saw it; services wake on its changes
/// ([`super::ChainNode::subscribe`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainHead {
    /// Latest block number (L2 on Arbitrum).
    pub number: u64,
    /// Its hash.
    pub hash: B256,
    /// The L1 block it belongs to: the header's `l1BlockNumber` on Arbitrum, the block number
    /// on a chain without it (anvil, L1). Rounds and ticket expiration count these.
    pub l1_block: u64,
    /// The last initialized round (`RoundsManager.lastInitializedRound`).
    pub round: u64,
    /// Whether the current round is initialized: the L1 block is still before the next round's
    /// start block (go-livepeer `eth/roundinitializer.go`).
    pub round_initialized: bool,
}

/// The RoundsManager and BondingManager values the node caches, read when a round starts
/// (go-livepeer `eth/watchers/timewatcher.go`). Block numbers are L1 blocks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RoundState {
    /// `lastInitializedRound()`.
    pub last_initialized_round: u64,
    /// `blockHashForRound(last_initialized_round)`.
    pub last_initialized_block_hash: B256,
    /// `blockHashForRound(last_initialized_round - 1)`.
    pub pre_last_initialized_block_hash: B256,
    /// `currentRound()` when read (above the last initialized round while a round is due).
    pub current_round: u64,
    /// `currentRoundStartBlock()` when read: the first block of `current_round`.
    pub current_round_start_block: u64,
    /// `roundLength()`, in blocks.
    pub round_length: u64,
    /// `BondingManager.getTranscoderPoolSize()`: the size of the active set.
    pub pool_size: u64,
}

impl RoundState {
    /// The first block of the round after the last initialized one, while that round is the
    /// current one; `None` when a later round is already current (initialization is due).
    pub fn next_round_start_block(&self) -> Option<u64> {
        (self.current_round == self.last_initialized_round).then(|| {
            self.current_round_start_block
                .saturating_add(self.round_length)
        })
    }

    /// Whether the round current at `l1_block` is initialized.
    pub fn initialized_at(&self, l1_block: u64) -> bool {
        self.next_round_start_block()
            .is_some_and(|next| l1_block < next)
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct WatchedSender {
    info: SenderInfo,
    claimed_by_me: U256,
}

#[derive(Debug, Default)]
struct Inner {
    head: ChainHead,
    round: RoundState,
    gas_price_wei: U256,
    senders: HashMap<Address, WatchedSender>,
    active: HashSet<Address>,
}

/// The node's cached view of the chain. Every read is a synchronous look-up (it never waits on
/// the network), so pm can call it on the payment path; the block watcher writes it.
///
/// Implements [`TimeSource`], [`GasPriceSource`] and [`SenderInfoSource`] for `livepeer-pm`.
#[derive(Debug)]
pub struct ChainState {
    claimant: Address,
    gas_price_bounds: super::tx::GasPriceBounds,
    inner: RwLock<Inner>,
}

/// Clamps a node's gas price to `[min, max]` (go-livepeer `eth/gaspricemonitor.go`: a price
/// below `-minGasPrice` is replaced by it; this also caps at `-maxGasPrice`, the most a
/// transaction may pay).
pub fn clamp_gas_price(wei: U256, min: Option<U256>, max: Option<U256>) -> U256 {
    let floored = min.map_or(wei, |min| wei.max(min));
    match max {
        Some(max) if !max.is_zero() => floored.min(max).max(min.unwrap_or_default()),
        _ => floored,
    }
}

impl ChainState {
    /// An empty state for the node at `claimant` (head and round zero, no senders), with the
    /// gas price bounds.
    pub fn new(claimant: Address, gas_price_bounds: super::tx::GasPriceBounds) -> Self {
        let floor = gas_price_bounds.min().unwrap_or_default();
        Self {
            claimant,
            gas_price_bounds,
            inner: RwLock::new(Inner {
                gas_price_wei: floor,
                ..Default::default()
            }),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The node's own address: the claimant of reserve, the orchestrator rewards are for.
    pub fn claimant(&self) -> Address {
        self.claimant
    }

    /// The chain head last seen.
    pub fn head(&self) -> ChainHead {
        self.read().head
    }

    /// The round values last read.
    pub fn round(&self) -> RoundState {
        self.read().round
    }

    /// Whether the current round is initialized, at the last seen L1 block.
    pub fn current_round_initialized(&self) -> bool {
        let inner = self.read();
        inner.round.initialized_at(inner.head.l1_block)
    }

    /// The cached `isActiveTranscoder(orch)` of the current round (see
    /// [`super::ChainNode::is_active`]).
    pub fn is_active(&self, orch: Address) -> bool {
        self.read().active.contains(&orch)
    }

    /// A watched sender's account, or `None` before [`super::ChainNode::watch_sender`].
    pub fn sender(&self, sender: Address) -> Option<SenderInfo> {
        self.read().senders.get(&sender).map(|s| s.info)
    }

    /// The senders whose accounts are cached.
    pub fn watched_senders(&self) -> Vec<Address> {
        self.read().senders.keys().copied().collect()
    }

    pub(crate) fn set_gas_price(&self, node_wei: U256) -> U256 {
        let clamped = clamp_gas_price(
            node_wei,
            self.gas_price_bounds.min(),
            self.gas_price_bounds.max(),
        );
        self.write().gas_price_wei = clamped;
        clamped
    }

    pub(crate) fn set_round(&self, round: RoundState) {
        let mut inner = self.write();
        inner.round = round;
        inner.head.round = round.last_initialized_round;
        inner.head.round_initialized = round.initialized_at(inner.head.l1_block);
    }

    pub(crate) fn set_head(&self, number: u64, hash: B256, l1_block: u64) -> ChainHead {
        let mut inner = self.write();
        let round = inner.round;
        inner.head = ChainHead {
            number,
            hash,
            l1_block,
            round: round.last_initialized_round,
            round_initialized: round.initialized_at(l1_block),
        };
        inner.head
    }

    /// Stops caching `sender` (an account with nothing to pay with that asked for ticket
    /// parameters: keeping it would let anyone grow the watched set, and the per-round
    /// re-reads, one signature at a time).
    pub fn forget_sender(&self, sender: Address) {
        self.write().senders.remove(&sender);
    }

    pub(crate) fn set_sender(&self, sender: Address, info: SenderInfo, claimed_by_me: U256) {
        self.write().senders.insert(
            sender,
            WatchedSender {
                info,
                claimed_by_me,
            },
        );
    }

    pub(crate) fn set_active(&self, orch: Address, active: bool) {
        let mut inner = self.write();
        if active {
            inner.active.insert(orch);
        } else {
            inner.active.remove(&orch);
        }
    }

    pub(crate) fn replace_active(&self, active: HashSet<Address>) {
        self.write().active = active;
    }
}

impl TimeSource for ChainState {
    fn last_initialized_round(&self) -> u64 {
        self.read().round.last_initialized_round
    }

    fn last_initialized_block_hash(&self) -> B256 {
        self.read().round.last_initialized_block_hash
    }

    fn pre_last_initialized_block_hash(&self) -> B256 {
        self.read().round.pre_last_initialized_block_hash
    }

    fn last_seen_l1_block(&self) -> U256 {
        U256::from(self.read().head.l1_block)
    }

    fn transcoder_pool_size(&self) -> U256 {
        U256::from(self.read().round.pool_size)
    }
}

impl GasPriceSource for ChainState {
    /// The last polled `eth_gasPrice`, clamped to `[-minGasPrice, -maxGasPrice]`; `-minGasPrice`
    /// (or zero) before the first poll.
    fn gas_price_wei(&self) -> U256 {
        self.read().gas_price_wei
    }
}

impl SenderInfoSource for ChainState {
    /// The cached account; [`EthError::SenderNotWatched`] (as [`PmError::Chain`]) before
    /// [`super::ChainNode::watch_sender`].
    fn sender_info(&self, sender: Address) -> Result<SenderInfo, PmError> {
        self.sender(sender)
            .ok_or_else(|| PmError::chain(EthError::SenderNotWatched { sender }))
    }

    /// What this node claimed from `sender`'s reserve in the current round. Only the node's own
    /// address is cached; another claimant reads as [`PmError::Chain`].
    fn claimed_reserve(&self, sender: Address, claimant: Address) -> Result<U256, PmError> {
        if claimant != self.claimant {
            return Err(PmError::chain(EthError::ChainData(format!(
                "claimed reserve is cached for {} only, not {claimant}",
                self.claimant
            ))));
        }
        self.read()
            .senders
            .get(&sender)
            .map(|s| s.claimed_by_me)
            .ok_or_else(|| PmError::chain(EthError::SenderNotWatched { sender }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gas_price_is_clamped_to_the_bounds() {
        let u = U256::from;
        // (node price, min, max, expected)
        let cases = [
            (u(5), None, None, u(5)),
            (u(5), Some(u(10)), None, u(10)),
            (u(50), Some(u(10)), None, u(50)),
            (u(50), None, Some(u(20)), u(20)),
            (u(50), Some(u(10)), Some(u(20)), u(20)),
            (u(1), Some(u(10)), Some(u(20)), u(10)),
            // A max below the min never takes the price below the min.
            (u(50), Some(u(30)), Some(u(20)), u(30)),
            // -maxGasPrice 0 means no maximum (go's default).
            (u(50), None, Some(u(0)), u(50)),
        ];
        for (wei, min, max, want) in cases {
            assert_eq!(
                clamp_gas_price(wei, min, max),
                want,
                "{wei} {min:?} {max:?}"
            );
        }
    }

    #[test]
    fn a_round_is_initialized_until_the_next_one_starts() {
        let round = RoundState {
            last_initialized_round: 3,
            current_round: 3,
            current_round_start_block: 120,
            round_length: 40,
            ..Default::default()
        };
        assert!(round.initialized_at(120));
        assert!(round.initialized_at(159));
        assert!(!round.initialized_at(160));
        let due = RoundState {
            current_round: 4,
            current_round_start_block: 160,
            ..round
        };
        assert!(!due.initialized_at(161));
        assert_eq!(due.next_round_start_block(), None);
    }

    #[test]
    fn unwatched_senders_are_an_error_not_zero() {
        let state = ChainState::new(Address::repeat_byte(1), Default::default());
        let sender = Address::repeat_byte(2);
        assert!(state.sender_info(sender).is_err());
        state.set_sender(
            sender,
            SenderInfo {
                deposit: U256::from(7),
                ..Default::default()
            },
            U256::from(3),
        );
        assert_eq!(
            state.sender_info(sender).expect("watched").deposit,
            U256::from(7)
        );
        assert_eq!(
            state
                .claimed_reserve(sender, Address::repeat_byte(1))
                .expect("mine"),
            U256::from(3)
        );
        assert!(
            state
                .claimed_reserve(sender, Address::repeat_byte(9))
                .is_err()
        );
    }
}
