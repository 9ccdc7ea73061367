//! Winning-ticket storage: the [`TicketStore`] trait, [`MemoryTicketStore`] for tests, and the
//! durable SQLite store in [`sqlite`].
//!
//! A winning ticket is worth its full face value, so it must outlive the process: the
//! orchestrator stores it (and the store commits it to disk) *before* it acknowledges the
//! payment that carried it, and it stays pending until it is redeemed or provably
//! unredeemable (see go-livepeer `pm/queue.go`, `common/db.go` table `ticketQueue`).

pub mod sqlite;

use std::sync::Mutex;

use alloy_primitives::{Address, B256, U256};
use serde::Serialize;

use crate::{PmError, Ticket};

/// A winning ticket with everything `redeemWinningTicket` needs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WinningTicket {
    /// The ticket.
    pub ticket: Ticket,
    /// Its 65-byte signature.
    #[serde(serialize_with = "crate::hexser::bytes")]
    pub sig: Vec<u8>,
    /// The orchestrator's revealed secret for the ticket's parameters.
    pub recipient_rand: U256,
}

impl WinningTicket {
    /// The ticket hash, the store's key.
    pub fn ticket_hash(&self) -> B256 {
        self.ticket.hash()
    }
}

/// How a stored ticket left the pending set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Settlement {
    /// Redeemed on chain by this transaction.
    Redeemed {
        /// The redemption transaction.
        tx_hash: B256,
    },
    /// `usedTickets` already holds it (redeemed by someone else, or by us before a crash).
    Used,
    /// The redemption transaction was mined and reverted; retrying cannot help (go
    /// `isNonRetryableTicketErr`).
    TxFailed {
        /// The reverted transaction.
        tx_hash: B256,
    },
    /// The creation round has no block hash on chain, so it can never be redeemed.
    NoBlockHash,
    /// `creationRound + ticketValidityPeriod <= currentRound`: the contract refuses it.
    Expired,
}

impl Settlement {
    /// The `status` column value.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Redeemed { .. } => "redeemed",
            Self::Used => "used",
            Self::TxFailed { .. } => "tx_failed",
            Self::NoBlockHash => "no_block_hash",
            Self::Expired => "expired",
        }
    }

    /// The transaction hash, for outcomes that have one.
    pub fn tx_hash(&self) -> Option<B256> {
        match self {
            Self::Redeemed { tx_hash } | Self::TxFailed { tx_hash } => Some(*tx_hash),
            _ => None,
        }
    }
}

/// Durable storage of winning tickets until redemption.
///
/// Implementations must be durable on return from [`TicketStore::store_winning_ticket`]: the
/// caller acknowledges the payment right after.
pub trait TicketStore: Send + Sync {
    /// Stores a winning ticket; returns `false` if a ticket with the same hash was already
    /// stored (idempotent). The ticket is on disk when this returns.
    fn store_winning_ticket(&self, ticket: &WinningTicket) -> Result<bool, PmError>;

    /// Stores a group of winning tickets, all on disk when this returns (a durable store
    /// commits them together: group commit); returns how many were new. On error, none of the
    /// group may be taken as stored. The default stores them one by one.
    fn store_winning_tickets(&self, tickets: &[WinningTicket]) -> Result<usize, PmError> {
        let mut inserted = 0;
        for ticket in tickets {
            inserted += usize::from(self.store_winning_ticket(ticket)?);
        }
        Ok(inserted)
    }

    /// The pending tickets of `sender`, oldest first (go redeems in insertion order).
    fn pending_tickets(&self, sender: Address) -> Result<Vec<WinningTicket>, PmError>;

    /// Every sender with at least one pending ticket.
    fn senders_with_pending(&self) -> Result<Vec<Address>, PmError>;

    /// Sum of the face values of `sender`'s pending tickets, in wei: the "pending" amount of the
    /// max-float rule (pm.md §8.1).
    fn pending_face_value(&self, sender: Address) -> Result<U256, PmError>;

    /// Takes a ticket out of the pending set with its outcome. Unknown hashes are ignored.
    fn settle(&self, ticket_hash: B256, outcome: Settlement) -> Result<(), PmError>;

    /// Settles as [`Settlement::Expired`] every pending ticket with
    /// `creation_round + validity_period <= current_round`; returns how many.
    fn expire(&self, current_round: u64, validity_period: u64) -> Result<usize, PmError>;
}

#[derive(Debug)]
struct MemoryEntry {
    ticket: WinningTicket,
    hash: B256,
    settlement: Option<Settlement>,
}

/// A [`TicketStore`] in memory (not durable; for tests and off-chain runs).
#[derive(Debug, Default)]
pub struct MemoryTicketStore {
    entries: Mutex<Vec<MemoryEntry>>,
}

impl MemoryTicketStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// The outcome of a stored ticket: `Some(None)` while pending, `None` if unknown.
    pub fn settlement(&self, ticket_hash: B256) -> Option<Option<Settlement>> {
        self.with(|e| {
            e.iter()
                .find(|x| x.hash == ticket_hash)
                .map(|x| x.settlement)
        })
    }

    /// Number of stored tickets, pending or not.
    pub fn len(&self) -> usize {
        self.with(|e| e.len())
    }

    /// True when nothing was ever stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn with<R>(&self, f: impl FnOnce(&mut Vec<MemoryEntry>) -> R) -> R {
        let mut guard = match self.entries.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }
}

impl TicketStore for MemoryTicketStore {
    fn store_winning_ticket(&self, ticket: &WinningTicket) -> Result<bool, PmError> {
        let hash = ticket.ticket_hash();
        Ok(self.with(|e| {
            if e.iter().any(|x| x.hash == hash) {
                return false;
            }
            e.push(MemoryEntry {
                ticket: ticket.clone(),
                hash,
                settlement: None,
            });
            true
        }))
    }

    fn pending_tickets(&self, sender: Address) -> Result<Vec<WinningTicket>, PmError> {
        Ok(self.with(|e| {
            e.iter()
                .filter(|x| x.settlement.is_none() && x.ticket.ticket.sender == sender)
                .map(|x| x.ticket.clone())
                .collect()
        }))
    }

    fn senders_with_pending(&self) -> Result<Vec<Address>, PmError> {
        Ok(self.with(|e| {
            let mut out: Vec<Address> = Vec::new();
            for x in e.iter().filter(|x| x.settlement.is_none()) {
                if !out.contains(&x.ticket.ticket.sender) {
                    out.push(x.ticket.ticket.sender);
                }
            }
            out
        }))
    }

    fn pending_face_value(&self, sender: Address) -> Result<U256, PmError> {
        self.with(|e| {
            e.iter()
                .filter(|x| x.settlement.is_none() && x.ticket.ticket.sender == sender)
                .try_fold(U256::ZERO, |acc, x| {
                    acc.checked_add(x.ticket.ticket.face_value)
                        .ok_or(PmError::Overflow {
                            op: "pending face value",
                        })
                })
        })
    }

    fn settle(&self, ticket_hash: B256, outcome: Settlement) -> Result<(), PmError> {
        self.with(|e| {
            if let Some(x) = e
                .iter_mut()
                .find(|x| x.hash == ticket_hash && x.settlement.is_none())
            {
                x.settlement = Some(outcome);
            }
        });
        Ok(())
    }

    fn expire(&self, current_round: u64, validity_period: u64) -> Result<usize, PmError> {
        Ok(self.with(|e| {
            let mut n = 0;
            for x in e.iter_mut().filter(|x| x.settlement.is_none()) {
                let round = x.ticket.ticket.expiration_params.creation_round;
                if round.saturating_add(validity_period) <= current_round {
                    x.settlement = Some(Settlement::Expired);
                    n += 1;
                }
            }
            n
        }))
    }
}
