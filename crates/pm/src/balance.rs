//! Off-chain balances per (sender, session), and the gateway's ticket count for a fee
//! (pm.md §7; go-livepeer `core/accounting.go`, `server/segment_rpc.go`).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use alloy_primitives::Address;
use serde::Serialize;

use crate::{ExactWei, PmError};

/// Balances not updated for this long may be dropped (go-livepeer `core/accounting.go:cleanupInterval`).
pub const BALANCE_IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);

#[derive(Debug)]
struct Entry {
    amount: ExactWei,
    updated: Instant,
}

/// Exact balances keyed by (address, session id): on the orchestrator the sender and its
/// session (`AuthToken.SessionId` or ManifestID), on the gateway the orchestrator and its
/// session (go-livepeer `core/accounting.go:AddressBalances`).
///
/// A balance may go negative after a debit (go has no debt limit: the next segment then needs
/// new tickets, see [`Balances::sufficient_balance`]).
#[derive(Debug, Default)]
pub struct Balances {
    entries: Mutex<HashMap<(Address, String), Entry>>,
}

impl Balances {
    /// No balances.
    pub fn new() -> Self {
        Self::default()
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<(Address, String), Entry>> {
        match self.entries.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn update(
        &self,
        addr: Address,
        session_id: &str,
        f: impl FnOnce(ExactWei) -> Result<ExactWei, PmError>,
    ) -> Result<ExactWei, PmError> {
        let mut entries = self.entries();
        let entry = entries
            .entry((addr, session_id.to_owned()))
            .or_insert_with(|| Entry {
                amount: ExactWei::ZERO,
                updated: Instant::now(),
            });
        entry.amount = f(entry.amount)?;
        entry.updated = Instant::now();
        Ok(entry.amount)
    }

    /// Adds `amount` (e.g. the EV of accepted tickets) and returns the new balance.
    pub fn credit(
        &self,
        addr: Address,
        session_id: &str,
        amount: ExactWei,
    ) -> Result<ExactWei, PmError> {
        self.update(addr, session_id, |b| b.checked_add(amount))
    }

    /// Subtracts `amount` (fees for work done) and returns the new balance, possibly negative.
    pub fn debit(
        &self,
        addr: Address,
        session_id: &str,
        amount: ExactWei,
    ) -> Result<ExactWei, PmError> {
        self.update(addr, session_id, |b| b.checked_sub(amount))
    }

    /// The balance, `None` if there never was one (or it was evicted).
    pub fn balance(&self, addr: Address, session_id: &str) -> Option<ExactWei> {
        self.entries()
            .get(&(addr, session_id.to_owned()))
            .map(|e| e.amount)
    }

    /// Takes the whole balance out, leaving zero (go `Balances.Reserve`, used by the gateway
    /// when it stages a payment).
    pub fn reserve(&self, addr: Address, session_id: &str) -> ExactWei {
        let mut taken = ExactWei::ZERO;
        // Replacing with zero cannot fail.
        let _ = self.update(addr, session_id, |b| {
            taken = b;
            Ok(ExactWei::ZERO)
        });
        taken
    }

    /// "Enough balance for the next segment": `balance >= min_credit`, where the orchestrator
    /// passes its configured ticket EV (go-livepeer `core/orchestrator.go:SufficientBalance`).
    /// An unknown balance counts as zero.
    pub fn sufficient_balance(
        &self,
        addr: Address,
        session_id: &str,
        min_credit: ExactWei,
    ) -> bool {
        self.balance(addr, session_id).unwrap_or_default() >= min_credit
    }

    /// Drops balances not updated within `max_idle` of `now`; returns how many.
    pub fn evict_idle(&self, now: Instant, max_idle: Duration) -> usize {
        let mut entries = self.entries();
        let before = entries.len();
        entries.retain(|_, e| now.saturating_duration_since(e.updated) < max_idle);
        before - entries.len()
    }

    /// The gateway's staging step for a payment (go-livepeer `core/accounting.go:StageUpdate`
    /// via `server/segment_rpc.go:newBalanceUpdate`): the minimum credit is `max(fee, ev)`, the
    /// existing balance is taken out, and [`tickets_for_credit`] tickets are sent. Put the
    /// existing credit back with [`Balances::complete_update`].
    pub fn stage_update(
        &self,
        addr: Address,
        session_id: &str,
        fee: ExactWei,
        ev: ExactWei,
    ) -> Result<StagedUpdate, PmError> {
        let min_credit = if fee < ev { ev } else { fee };
        let existing_credit = self.reserve(addr, session_id);
        let (num_tickets, new_credit) = match tickets_for_credit(min_credit, existing_credit, ev) {
            Ok(x) => x,
            Err(e) => {
                // Put the balance back before failing.
                self.credit(addr, session_id, existing_credit)?;
                return Err(e);
            }
        };
        Ok(StagedUpdate {
            min_credit,
            existing_credit,
            num_tickets,
            new_credit,
        })
    }

    /// Completes a staged payment (go-livepeer `server/segment_rpc.go:completeBalanceUpdate`):
    /// [`UpdateOutcome::NotSent`] puts the existing credit back; [`UpdateOutcome::CreditSpent`]
    /// counts everything as spent; [`UpdateOutcome::Received`] leaves
    /// `existing + new credit - debit` (possibly negative).
    pub fn complete_update(
        &self,
        addr: Address,
        session_id: &str,
        update: &StagedUpdate,
        outcome: UpdateOutcome,
    ) -> Result<ExactWei, PmError> {
        match outcome {
            UpdateOutcome::NotSent => self.credit(addr, session_id, update.existing_credit),
            UpdateOutcome::CreditSpent => self.credit(addr, session_id, ExactWei::ZERO),
            UpdateOutcome::Received { debit } => {
                let change = update
                    .existing_credit
                    .checked_add(update.new_credit)?
                    .checked_sub(debit)?;
                self.credit(addr, session_id, change)
            }
        }
    }
}

/// A payment the gateway is about to send.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct StagedUpdate {
    /// `max(fee, ev)`.
    pub min_credit: ExactWei,
    /// The balance taken out for this payment.
    pub existing_credit: ExactWei,
    /// Tickets to send.
    pub num_tickets: u64,
    /// `num_tickets × ev`.
    pub new_credit: ExactWei,
}

/// How a staged payment ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// The request never went out.
    NotSent,
    /// The request went out but no result came back: the credit counts as spent.
    CreditSpent,
    /// The orchestrator did the work and charged `debit`.
    Received {
        /// The fee charged, exact wei.
        debit: ExactWei,
    },
}

/// The number of tickets that bring `existing` up to `min_credit`:
/// 0 if `existing >= min_credit`, else `ceil((min_credit - existing) / ev)`, with the credit
/// they add (`n × ev`) (go-livepeer `core/accounting.go:Balance.StageUpdate`). Errors with
/// [`PmError::ZeroDenominator`] when tickets are needed but `ev` is not positive.
pub fn tickets_for_credit(
    min_credit: ExactWei,
    existing: ExactWei,
    ev: ExactWei,
) -> Result<(u64, ExactWei), PmError> {
    if existing >= min_credit {
        return Ok((0, ExactWei::ZERO));
    }
    if ev.is_zero() || ev.is_negative() {
        return Err(PmError::ZeroDenominator);
    }
    let n = min_credit
        .checked_sub(existing)?
        .checked_div(ev)?
        .ceil_u64()?;
    Ok((n, ev.checked_mul_u64(n)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::U256;

    fn w(n: u64) -> ExactWei {
        ExactWei::from_wei(U256::from(n))
    }

    fn r(n: u64, d: u64) -> ExactWei {
        ExactWei::from_ratio(U256::from(n), U256::from(d)).expect("non-zero denominator")
    }

    #[test]
    fn tickets_for_credit_table() {
        // (min credit, existing, ev, tickets)
        let cases = [
            (w(100), w(0), w(10), 10),
            (w(101), w(0), w(10), 11),
            (w(100), w(95), w(10), 1),
            (w(100), w(100), w(10), 0),
            (w(100), w(150), w(10), 0),
            (w(100), -w(20), w(10), 12),
            (w(1), w(0), r(1, 3), 3),
            (r(10, 7), w(0), r(1, 7), 10),
        ];
        for (min, existing, ev, n) in cases {
            let (got, credit) = tickets_for_credit(min, existing, ev).expect("ok");
            assert_eq!(got, n, "min {min} existing {existing} ev {ev}");
            assert_eq!(credit, ev.checked_mul_u64(n).expect("mul"));
            if n > 0 {
                assert!(existing.checked_add(credit).expect("add") >= min);
            }
        }
        assert!(matches!(
            tickets_for_credit(w(1), w(0), ExactWei::ZERO),
            Err(PmError::ZeroDenominator)
        ));
    }

    #[test]
    fn credit_debit_and_sufficiency() {
        let b = Balances::new();
        let o = Address::repeat_byte(9);
        assert!(!b.sufficient_balance(o, "s", w(1)));
        assert!(b.sufficient_balance(o, "s", ExactWei::ZERO));
        assert_eq!(b.credit(o, "s", w(10)).expect("credit"), w(10));
        assert_eq!(b.debit(o, "s", w(25)).expect("debit"), -w(15));
        assert!(!b.sufficient_balance(o, "s", w(1)));
        assert_eq!(b.credit(o, "s", r(31, 2)).expect("credit"), r(1, 2));
        assert_eq!(b.balance(o, "other"), None);
        assert_eq!(b.reserve(o, "s"), r(1, 2));
        assert_eq!(b.balance(o, "s"), Some(ExactWei::ZERO));
    }

    #[test]
    fn stage_and_complete_table() {
        let o = Address::repeat_byte(1);
        // (existing, fee, ev, outcome, tickets, final balance)
        let cases = [
            (
                w(0),
                w(25),
                w(10),
                UpdateOutcome::Received { debit: w(25) },
                3,
                w(5),
            ),
            (
                w(30),
                w(25),
                w(10),
                UpdateOutcome::Received { debit: w(25) },
                0,
                w(5),
            ),
            (w(3), w(5), w(10), UpdateOutcome::NotSent, 1, w(3)),
            (w(3), w(25), w(10), UpdateOutcome::CreditSpent, 3, w(0)),
        ];
        for (existing, fee, ev, outcome, n, fin) in cases {
            let b = Balances::new();
            b.credit(o, "s", existing).expect("credit");
            let staged = b.stage_update(o, "s", fee, ev).expect("stage");
            assert_eq!(staged.num_tickets, n);
            assert_eq!(b.balance(o, "s"), Some(ExactWei::ZERO));
            assert_eq!(
                b.complete_update(o, "s", &staged, outcome)
                    .expect("complete"),
                fin
            );
        }
    }

    #[test]
    fn idle_balances_are_evicted() {
        let b = Balances::new();
        let o = Address::repeat_byte(2);
        b.credit(o, "a", w(1)).expect("credit");
        let now = Instant::now();
        assert_eq!(b.evict_idle(now, BALANCE_IDLE_TIMEOUT), 0);
        assert_eq!(
            b.evict_idle(now + BALANCE_IDLE_TIMEOUT, BALANCE_IDLE_TIMEOUT),
            1
        );
        assert_eq!(b.balance(o, "a"), None);
    }
}
