//! What pm needs from the chain, behind traits, so the crate has no chain dependency
//! (`crates/eth` implements them), plus [`MemoryChain`], an in-memory implementation for tests
//! and off-chain development.
//!
//! The state traits are synchronous reads of cached values, like go-livepeer's watchers
//! (`eth/watchers/timewatcher.go`, `senderwatcher.go`, `eth/gaspricemonitor.go`); the one that
//! sends transactions, [`TicketBroker`], is async.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::Mutex;

use alloy_primitives::{Address, B256, U256, keccak256};
use serde::Serialize;

use crate::{PmError, Ticket};

/// Rounds and blocks as the node last saw them (go-livepeer `pm.TimeManager`).
pub trait TimeSource: Send + Sync {
    /// The last initialized round (`RoundsManager.lastInitializedRound`).
    fn last_initialized_round(&self) -> u64;
    /// `blockHashForRound(last_initialized_round)`; may be zero on Arbitrum right after
    /// initialization.
    fn last_initialized_block_hash(&self) -> B256;
    /// `blockHashForRound(last_initialized_round - 1)`, the fallback when the current one is
    /// zero (go `PreLastInitializedL1BlockHash`).
    fn pre_last_initialized_block_hash(&self) -> B256;
    /// The last L1 block number seen (on Arbitrum the L2 header's `l1BlockNumber`).
    fn last_seen_l1_block(&self) -> U256;
    /// Size of the active orchestrator set this round (`BondingManager.getTranscoderPoolSize`).
    fn transcoder_pool_size(&self) -> U256;
}

/// The current gas price (go-livepeer `eth/gaspricemonitor.go`).
pub trait GasPriceSource: Send + Sync {
    /// Gas price in wei, floored at `-minGasPrice`; zero when unknown.
    fn gas_price_wei(&self) -> U256;
}

/// A sender's TicketBroker account (`getSenderInfo`, selector `0xe1a589da`; go
/// `pm.SenderInfo`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SenderInfo {
    /// Deposit in wei.
    pub deposit: U256,
    /// Round from which the sender may withdraw; zero when no unlock is in progress.
    pub withdraw_round: u64,
    /// Reserve funds remaining, in wei.
    pub reserve_funds_remaining: U256,
    /// Reserve already claimed by all orchestrators in the current round, in wei.
    pub reserve_claimed_in_current_round: U256,
}

/// Sender accounts on the TicketBroker (go-livepeer `pm.SenderManager`).
pub trait SenderInfoSource: Send + Sync {
    /// The sender's deposit, reserve and unlock state.
    fn sender_info(&self, sender: Address) -> Result<SenderInfo, PmError>;
    /// Reserve `claimant` already claimed from `sender` in the current round
    /// (`claimedReserve(address,address)`, selector `0x4ac826da`).
    fn claimed_reserve(&self, sender: Address, claimant: Address) -> Result<U256, PmError>;
}

/// The TicketBroker's redemption entry points (go-livepeer `pm.Broker`).
pub trait TicketBroker: Send + Sync {
    /// Whether `usedTickets(ticket_hash)` is set (selector `0x59a515ba`).
    fn is_used_ticket(
        &self,
        ticket_hash: B256,
    ) -> impl Future<Output = Result<bool, PmError>> + Send;

    /// Sends `redeemWinningTicket(ticket, sig, recipientRand)` (selector `0xec8b3cb6`) and waits
    /// for its receipt; the transaction hash on success, [`PmError::RedeemTxFailed`] when it
    /// reverted.
    fn redeem_winning_ticket(
        &self,
        ticket: &Ticket,
        sig: &[u8],
        recipient_rand: U256,
    ) -> impl Future<Output = Result<B256, PmError>> + Send;
}

#[derive(Debug, Default)]
struct MemoryChainState {
    round: u64,
    block_hashes: HashMap<u64, B256>,
    l1_block: U256,
    pool_size: U256,
    gas_price: U256,
    senders: HashMap<Address, SenderInfo>,
    claimed: HashMap<(Address, Address), U256>,
    used: HashSet<B256>,
    redeemed: Vec<(Ticket, U256)>,
    fail_next_redeem: bool,
}

/// An in-memory chain implementing every trait of this module, with setters. Redemption
/// applies the TicketBroker's checks that matter to pm (used ticket, recipientRand commitment,
/// win check, creation round window of 2) and pays out from deposit, then reserve.
#[derive(Debug, Default)]
pub struct MemoryChain {
    state: Mutex<MemoryChainState>,
}

impl MemoryChain {
    /// An empty chain: round 0, block 0, pool size 0, gas price 0, no senders.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<R>(&self, f: impl FnOnce(&mut MemoryChainState) -> R) -> R {
        let mut guard = match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    /// Initializes `round` with `block_hash` and makes it the last initialized round.
    pub fn set_round(&self, round: u64, block_hash: B256) {
        self.with(|s| {
            s.round = round;
            s.block_hashes.insert(round, block_hash);
        });
    }

    /// Sets the last seen L1 block.
    pub fn set_l1_block(&self, block: u64) {
        self.with(|s| s.l1_block = U256::from(block));
    }

    /// Sets the active set size.
    pub fn set_pool_size(&self, size: u64) {
        self.with(|s| s.pool_size = U256::from(size));
    }

    /// Sets the gas price in wei.
    pub fn set_gas_price(&self, wei: U256) {
        self.with(|s| s.gas_price = wei);
    }

    /// Sets a sender's account.
    pub fn set_sender(&self, sender: Address, info: SenderInfo) {
        self.with(|s| {
            s.senders.insert(sender, info);
        });
    }

    /// Sets what `claimant` claimed from `sender`'s reserve this round.
    pub fn set_claimed_reserve(&self, sender: Address, claimant: Address, wei: U256) {
        self.with(|s| {
            s.claimed.insert((sender, claimant), wei);
        });
    }

    /// Marks a ticket hash as used, as if someone redeemed it.
    pub fn mark_used(&self, ticket_hash: B256) {
        self.with(|s| {
            s.used.insert(ticket_hash);
        });
    }

    /// Makes the next redemption revert ([`PmError::RedeemTxFailed`]).
    pub fn fail_next_redeem(&self) {
        self.with(|s| s.fail_next_redeem = true);
    }

    /// Tickets redeemed so far, with the amount paid for each.
    pub fn redeemed(&self) -> Vec<(Ticket, U256)> {
        self.with(|s| s.redeemed.clone())
    }

    /// A sender's current account (default when unknown).
    pub fn sender(&self, sender: Address) -> SenderInfo {
        self.with(|s| s.senders.get(&sender).copied().unwrap_or_default())
    }
}

impl TimeSource for MemoryChain {
    fn last_initialized_round(&self) -> u64 {
        self.with(|s| s.round)
    }

    fn last_initialized_block_hash(&self) -> B256 {
        self.with(|s| s.block_hashes.get(&s.round).copied().unwrap_or_default())
    }

    fn pre_last_initialized_block_hash(&self) -> B256 {
        self.with(|s| {
            s.round
                .checked_sub(1)
                .and_then(|r| s.block_hashes.get(&r).copied())
                .unwrap_or_default()
        })
    }

    fn last_seen_l1_block(&self) -> U256 {
        self.with(|s| s.l1_block)
    }

    fn transcoder_pool_size(&self) -> U256 {
        self.with(|s| s.pool_size)
    }
}

impl GasPriceSource for MemoryChain {
    fn gas_price_wei(&self) -> U256 {
        self.with(|s| s.gas_price)
    }
}

impl SenderInfoSource for MemoryChain {
    fn sender_info(&self, sender: Address) -> Result<SenderInfo, PmError> {
        Ok(self.sender(sender))
    }

    fn claimed_reserve(&self, sender: Address, claimant: Address) -> Result<U256, PmError> {
        Ok(self.with(|s| {
            s.claimed
                .get(&(sender, claimant))
                .copied()
                .unwrap_or_default()
        }))
    }
}

/// Ticket validity period in rounds used by [`MemoryChain`] (every deployment uses 2, see
/// protocol `deploy/migrations.config.ts`).
const MEMORY_CHAIN_VALIDITY_PERIOD: u64 = 2;

impl TicketBroker for MemoryChain {
    async fn is_used_ticket(&self, ticket_hash: B256) -> Result<bool, PmError> {
        Ok(self.with(|s| s.used.contains(&ticket_hash)))
    }

    async fn redeem_winning_ticket(
        &self,
        ticket: &Ticket,
        sig: &[u8],
        recipient_rand: U256,
    ) -> Result<B256, PmError> {
        let hash = ticket.hash();
        let tx_hash = keccak256([hash.as_slice(), b"tx"].concat());
        self.with(|s| {
            if std::mem::take(&mut s.fail_next_redeem) {
                return Err(PmError::RedeemTxFailed { tx_hash });
            }
            let round = ticket.expiration_params.creation_round;
            let known = s.block_hashes.get(&round).copied().unwrap_or_default();
            if known.is_zero() {
                return Err(PmError::CreationRoundWithoutBlockHash {
                    creation_round: round,
                });
            }
            let valid = known == ticket.expiration_params.creation_round_block_hash
                && round.saturating_add(MEMORY_CHAIN_VALIDITY_PERIOD) > s.round
                && crate::recipient_rand_hash(recipient_rand) == ticket.recipient_rand_hash
                && crate::verify_signature(ticket.sender, &hash, sig).is_ok()
                && crate::is_winning_ticket(sig, recipient_rand, ticket.win_prob);
            if s.used.contains(&hash) {
                return Err(PmError::TicketUsed { ticket_hash: hash });
            }
            if !valid {
                return Err(PmError::RedeemTxFailed { tx_hash });
            }
            s.used.insert(hash);
            let info = s.senders.entry(ticket.sender).or_default();
            let paid = if ticket.face_value <= info.deposit {
                info.deposit -= ticket.face_value;
                ticket.face_value
            } else {
                let from_deposit = std::mem::take(&mut info.deposit);
                let want = ticket.face_value - from_deposit;
                let from_reserve = want.min(info.reserve_funds_remaining);
                info.reserve_funds_remaining -= from_reserve;
                info.reserve_claimed_in_current_round += from_reserve;
                from_deposit + from_reserve
            };
            s.redeemed.push((ticket.clone(), paid));
            Ok(tx_hash)
        })
    }
}
