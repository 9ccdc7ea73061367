//! Max float: how much of a sender's reserve this orchestrator may count on (pm.md §8), and the
//! [`SenderMonitor`] that computes it from chain data and the ticket store.

use std::sync::Arc;

use alloy_primitives::{Address, U256};

use crate::{PmError, SenderInfoSource, TicketStore, TimeSource};

/// go-livepeer `pm/sendermonitor.go:minDepositPendingRatio`: pending redemptions are not
/// subtracted from the max float while the deposit covers them this many times over.
pub const MIN_DEPOSIT_PENDING_RATIO: u64 = 3;

/// This orchestrator's share of a sender's reserve for the current round (pm.md §8.1; go-livepeer
/// `pm/sendermonitor.go:reserveAlloc`; contract `MixinReserve.sol:claimableReserve`):
///
/// `(funds_remaining + claimed_in_current_round) / pool_size - claimed_by_me`, in wei, integer
/// division, zero when `pool_size` is zero. go lets the result go negative when this
/// orchestrator already claimed more than its share; that and zero have the same effect on
/// the face value (`InsufficientSenderReserve`), so this saturates at zero.
pub fn reserve_alloc(
    funds_remaining: U256,
    claimed_in_current_round: U256,
    pool_size: U256,
    claimed_by_me: U256,
) -> U256 {
    if pool_size.is_zero() {
        return U256::ZERO;
    }
    // A sum of two on-chain balances cannot exceed the ETH supply; saturate rather than fail.
    let total = funds_remaining.saturating_add(claimed_in_current_round);
    (total / pool_size).saturating_sub(claimed_by_me)
}

/// The max float (pm.md §8.1; go-livepeer `pm/sendermonitor.go:maxFloat`): `reserve_alloc`,
/// minus `pending` unless `pending > 0` and `deposit / pending >= 3`. Saturates at zero. The
/// deposit is not part of it.
pub fn max_float(reserve_alloc: U256, deposit: U256, pending: U256) -> U256 {
    if !pending.is_zero() {
        let covered = pending
            .checked_mul(U256::from(MIN_DEPOSIT_PENDING_RATIO))
            .is_some_and(|needed| deposit >= needed);
        if covered {
            return reserve_alloc;
        }
    }
    reserve_alloc.saturating_sub(pending)
}

/// Tracks senders for an orchestrator: their max float and whether they may pay at all
/// (go-livepeer `pm/sendermonitor.go:LocalSenderMonitor`).
///
/// "Pending" is the face value of the sender's winning tickets still in the [`TicketStore`].
/// go counts only tickets whose redemption transaction is in flight; counting every
/// unredeemed winner is more conservative, and survives a restart.
#[derive(Clone)]
pub struct SenderMonitor {
    claimant: Address,
    senders: Arc<dyn SenderInfoSource>,
    time: Arc<dyn TimeSource>,
    store: Arc<dyn TicketStore>,
}

impl SenderMonitor {
    /// A monitor for orchestrator `claimant`.
    pub fn new(
        claimant: Address,
        senders: Arc<dyn SenderInfoSource>,
        time: Arc<dyn TimeSource>,
        store: Arc<dyn TicketStore>,
    ) -> Self {
        Self {
            claimant,
            senders,
            time,
            store,
        }
    }

    /// This orchestrator's reserve share for `sender` this round, in wei (see [`reserve_alloc`]).
    pub fn reserve_alloc(&self, sender: Address) -> Result<U256, PmError> {
        let info = self.senders.sender_info(sender)?;
        let claimed = self.senders.claimed_reserve(sender, self.claimant)?;
        Ok(reserve_alloc(
            info.reserve_funds_remaining,
            info.reserve_claimed_in_current_round,
            self.time.transcoder_pool_size(),
            claimed,
        ))
    }

    /// The max float for `sender` in wei (see [`max_float`]); errors from the chain or store.
    pub fn max_float(&self, sender: Address) -> Result<U256, PmError> {
        let alloc = self.reserve_alloc(sender)?;
        let info = self.senders.sender_info(sender)?;
        let pending = self.store.pending_face_value(sender)?;
        Ok(max_float(alloc, info.deposit, pending))
    }

    /// `reserve_alloc + deposit - pending` (saturating), the funds a redemption can draw on
    /// (go-livepeer `pm/sendermonitor.go:redeemWinningTicket`).
    pub fn available_funds(&self, sender: Address) -> Result<U256, PmError> {
        let alloc = self.reserve_alloc(sender)?;
        let info = self.senders.sender_info(sender)?;
        let pending = self.store.pending_face_value(sender)?;
        Ok(alloc.saturating_add(info.deposit).saturating_sub(pending))
    }

    /// Refuses a sender whose deposit and reserve unlock by the next round:
    /// `withdraw_round != 0 && withdraw_round <= last_initialized_round + 1` gives
    /// [`PmError::SenderUnlocking`] (go-livepeer `pm/sendermonitor.go:ValidateSender`).
    pub fn validate_sender(&self, sender: Address) -> Result<(), PmError> {
        let info = self.senders.sender_info(sender)?;
        let last = self.time.last_initialized_round();
        if info.withdraw_round != 0 && info.withdraw_round <= last.saturating_add(1) {
            return Err(PmError::SenderUnlocking {
                sender,
                withdraw_round: info.withdraw_round,
                last_initialized_round: last,
            });
        }
        Ok(())
    }
}

impl std::fmt::Debug for SenderMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SenderMonitor")
            .field("claimant", &self.claimant)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(n: u64) -> U256 {
        U256::from(n)
    }

    #[test]
    fn reserve_alloc_table() {
        // (funds remaining, claimed this round, pool size, claimed by me, expected)
        let cases = [
            (1000, 0, 10, 0, 100),
            (900, 100, 10, 0, 100),
            (900, 100, 10, 40, 60),
            (900, 100, 10, 150, 0),
            (1000, 0, 0, 0, 0),
            (1005, 0, 10, 0, 100),
        ];
        for (funds, claimed, pool, mine, want) in cases {
            assert_eq!(
                reserve_alloc(u(funds), u(claimed), u(pool), u(mine)),
                u(want),
                "{funds} {claimed} {pool} {mine}"
            );
        }
    }

    #[test]
    fn max_float_table() {
        // (reserve alloc, deposit, pending, expected)
        let cases = [
            (100, 0, 0, 100),
            (100, 1000, 0, 100),
            (100, 29, 10, 90),
            (100, 30, 10, 100),
            (100, 0, 150, 0),
            (100, 299, 100, 0),
            (100, 300, 100, 100),
        ];
        for (alloc, deposit, pending, want) in cases {
            assert_eq!(
                max_float(u(alloc), u(deposit), u(pending)),
                u(want),
                "{alloc} {deposit} {pending}"
            );
        }
        assert_eq!(max_float(u(5), U256::MAX, U256::MAX), U256::ZERO);
    }
}
