//! The protocol events the block watcher reads, decoded (go-livepeer `eth/watchers/topics.go`:
//! the same 13 events).

use alloy::primitives::{Address, B256, U256};
use alloy::rpc::types::Log;
use alloy::sol_types::SolEvent;
use serde::Serialize;

use crate::contracts::{BondingManager, RoundsManager, ServiceRegistry, TicketBroker};
use crate::deployment::ProtocolAddresses;

/// One protocol event, decoded. Amounts are wei, rounds are round numbers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum ProtocolEvent {
    /// `RoundsManager.NewRound(round, blockHash)`.
    NewRound {
        /// The initialized round.
        round: u64,
        /// The block hash stored for it.
        block_hash: B256,
    },
    /// `TicketBroker.DepositFunded(sender, amount)`.
    DepositFunded {
        /// The sender.
        sender: Address,
        /// Wei added.
        amount_wei: U256,
    },
    /// `TicketBroker.ReserveFunded(reserveHolder, amount)`.
    ReserveFunded {
        /// The sender.
        reserve_holder: Address,
        /// Wei added.
        amount_wei: U256,
    },
    /// `TicketBroker.Withdrawal(sender, deposit, reserve)`.
    Withdrawal {
        /// The sender.
        sender: Address,
        /// Deposit withdrawn, wei.
        deposit_wei: U256,
        /// Reserve withdrawn, wei.
        reserve_wei: U256,
    },
    /// `TicketBroker.WinningTicketTransfer(sender, recipient, amount)`.
    WinningTicketTransfer {
        /// The ticket's sender.
        sender: Address,
        /// The ticket's recipient.
        recipient: Address,
        /// Wei paid.
        amount_wei: U256,
    },
    /// `TicketBroker.Unlock(sender, startRound, endRound)`.
    Unlock {
        /// The sender.
        sender: Address,
        /// Round the unlock started.
        start_round: u64,
        /// Round from which it may withdraw.
        end_round: u64,
    },
    /// `TicketBroker.UnlockCancelled(sender)`.
    UnlockCancelled {
        /// The sender.
        sender: Address,
    },
    /// `BondingManager.TranscoderActivated(transcoder, activationRound)`.
    TranscoderActivated {
        /// The orchestrator.
        transcoder: Address,
        /// The round it becomes active.
        activation_round: u64,
    },
    /// `BondingManager.TranscoderDeactivated(transcoder, deactivationRound)`.
    TranscoderDeactivated {
        /// The orchestrator.
        transcoder: Address,
        /// The round it stops being active.
        deactivation_round: u64,
    },
    /// `BondingManager.Unbond(delegate, delegator, unbondingLockId, amount, withdrawRound)`.
    Unbond {
        /// The orchestrator unbonded from.
        delegate: Address,
        /// The delegator.
        delegator: Address,
        /// The unbonding lock.
        unbonding_lock_id: U256,
        /// LPT wei.
        amount_wei: U256,
        /// Round from which it may be withdrawn.
        withdraw_round: u64,
    },
    /// `BondingManager.Rebond(delegate, delegator, unbondingLockId, amount)`.
    Rebond {
        /// The orchestrator rebonded to.
        delegate: Address,
        /// The delegator.
        delegator: Address,
        /// The unbonding lock.
        unbonding_lock_id: U256,
        /// LPT wei.
        amount_wei: U256,
    },
    /// `BondingManager.WithdrawStake(delegator, unbondingLockId, amount, withdrawRound)`.
    WithdrawStake {
        /// The delegator.
        delegator: Address,
        /// The unbonding lock.
        unbonding_lock_id: U256,
        /// LPT wei.
        amount_wei: U256,
        /// The lock's withdraw round.
        withdraw_round: u64,
    },
    /// `ServiceRegistry.ServiceURIUpdate(addr, serviceURI)`.
    ServiceUriUpdate {
        /// The orchestrator.
        addr: Address,
        /// Its new service URI.
        service_uri: String,
    },
}

impl ProtocolEvent {
    /// The sender whose TicketBroker account this event changes, if any.
    pub fn sender(&self) -> Option<Address> {
        match self {
            Self::DepositFunded { sender, .. }
            | Self::Withdrawal { sender, .. }
            | Self::WinningTicketTransfer { sender, .. }
            | Self::Unlock { sender, .. }
            | Self::UnlockCancelled { sender } => Some(*sender),
            Self::ReserveFunded { reserve_holder, .. } => Some(*reserve_holder),
            _ => None,
        }
    }

    /// Whether this event can change the transcoder pool a gateway discovers from: members,
    /// their activity this round, service URIs or stake (go-livepeer's OrchestratorWatcher and
    /// ServiceRegistryWatcher, plus the new round that moves activation and stake).
    pub fn changes_pool(&self) -> bool {
        matches!(
            self,
            Self::NewRound { .. }
                | Self::TranscoderActivated { .. }
                | Self::TranscoderDeactivated { .. }
                | Self::ServiceUriUpdate { .. }
                | Self::Unbond { .. }
                | Self::Rebond { .. }
        )
    }
}

/// A decoded event with where it happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainLog {
    /// Block number.
    pub block_number: u64,
    /// Block hash.
    pub block_hash: B256,
    /// Transaction hash.
    pub tx_hash: B256,
    /// Index of the log in the block.
    pub log_index: u64,
    /// The event.
    pub event: ProtocolEvent,
}

/// What the block watcher publishes ([`super::ChainNode::events`]), in chain order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ChainEvent {
    /// A protocol event in a new canonical block.
    Log(ChainLog),
    /// Blocks the watcher had seen left the canonical chain; events published for them no
    /// longer hold. The cached state was re-read after it.
    Reorg {
        /// The newest block both chains share, `None` when the reorg is deeper than the window.
        common_ancestor: Option<u64>,
        /// The removed blocks' hashes, newest first.
        removed: Vec<B256>,
    },
}

/// The topic0 of every event read (go-livepeer `eth/watchers/topics.go`).
pub fn topics() -> Vec<B256> {
    vec![
        BondingManager::Unbond::SIGNATURE_HASH,
        BondingManager::Rebond::SIGNATURE_HASH,
        BondingManager::WithdrawStake::SIGNATURE_HASH,
        RoundsManager::NewRound::SIGNATURE_HASH,
        TicketBroker::DepositFunded::SIGNATURE_HASH,
        TicketBroker::ReserveFunded::SIGNATURE_HASH,
        TicketBroker::Withdrawal::SIGNATURE_HASH,
        TicketBroker::WinningTicketTransfer::SIGNATURE_HASH,
        TicketBroker::Unlock::SIGNATURE_HASH,
        TicketBroker::UnlockCancelled::SIGNATURE_HASH,
        BondingManager::TranscoderActivated::SIGNATURE_HASH,
        BondingManager::TranscoderDeactivated::SIGNATURE_HASH,
        ServiceRegistry::ServiceURIUpdate::SIGNATURE_HASH,
    ]
}

/// The contracts whose events are read.
pub fn addresses(contracts: &ProtocolAddresses) -> Vec<Address> {
    vec![
        contracts.ticket_broker,
        contracts.rounds_manager,
        contracts.bonding_manager,
        contracts.service_registry,
    ]
}

fn round(x: U256) -> u64 {
    x.saturating_to()
}

/// Decodes `log` when it is one of [`topics`] from the contract that emits it; `None` for
/// anything else (another contract, a removed log, data that does not decode).
pub fn decode(contracts: &ProtocolAddresses, log: &Log) -> Option<ChainLog> {
    if log.removed {
        return None;
    }
    let topic0 = *log.topic0()?;
    let from = log.address();
    let inner = &log.inner;
    let event =
        if from == contracts.rounds_manager && topic0 == RoundsManager::NewRound::SIGNATURE_HASH {
            let e = RoundsManager::NewRound::decode_log(inner).ok()?;
            ProtocolEvent::NewRound {
                round: round(e.round),
                block_hash: e.blockHash,
            }
        } else if from == contracts.ticket_broker {
            match topic0 {
                t if t == TicketBroker::DepositFunded::SIGNATURE_HASH => {
                    let e = TicketBroker::DepositFunded::decode_log(inner).ok()?;
                    ProtocolEvent::DepositFunded {
                        sender: e.sender,
                        amount_wei: e.amount,
                    }
                }
                t if t == TicketBroker::ReserveFunded::SIGNATURE_HASH => {
                    let e = TicketBroker::ReserveFunded::decode_log(inner).ok()?;
                    ProtocolEvent::ReserveFunded {
                        reserve_holder: e.reserveHolder,
                        amount_wei: e.amount,
                    }
                }
                t if t == TicketBroker::Withdrawal::SIGNATURE_HASH => {
                    let e = TicketBroker::Withdrawal::decode_log(inner).ok()?;
                    ProtocolEvent::Withdrawal {
                        sender: e.sender,
                        deposit_wei: e.deposit,
                        reserve_wei: e.reserve,
                    }
                }
                t if t == TicketBroker::WinningTicketTransfer::SIGNATURE_HASH => {
                    let e = TicketBroker::WinningTicketTransfer::decode_log(inner).ok()?;
                    ProtocolEvent::WinningTicketTransfer {
                        sender: e.sender,
                        recipient: e.recipient,
                        amount_wei: e.amount,
                    }
                }
                t if t == TicketBroker::Unlock::SIGNATURE_HASH => {
                    let e = TicketBroker::Unlock::decode_log(inner).ok()?;
                    ProtocolEvent::Unlock {
                        sender: e.sender,
                        start_round: round(e.startRound),
                        end_round: round(e.endRound),
                    }
                }
                t if t == TicketBroker::UnlockCancelled::SIGNATURE_HASH => {
                    let e = TicketBroker::UnlockCancelled::decode_log(inner).ok()?;
                    ProtocolEvent::UnlockCancelled { sender: e.sender }
                }
                _ => return None,
            }
        } else if from == contracts.bonding_manager {
            match topic0 {
                t if t == BondingManager::TranscoderActivated::SIGNATURE_HASH => {
                    let e = BondingManager::TranscoderActivated::decode_log(inner).ok()?;
                    ProtocolEvent::TranscoderActivated {
                        transcoder: e.transcoder,
                        activation_round: round(e.activationRound),
                    }
                }
                t if t == BondingManager::TranscoderDeactivated::SIGNATURE_HASH => {
                    let e = BondingManager::TranscoderDeactivated::decode_log(inner).ok()?;
                    ProtocolEvent::TranscoderDeactivated {
                        transcoder: e.transcoder,
                        deactivation_round: round(e.deactivationRound),
                    }
                }
                t if t == BondingManager::Unbond::SIGNATURE_HASH => {
                    let e = BondingManager::Unbond::decode_log(inner).ok()?;
                    ProtocolEvent::Unbond {
                        delegate: e.delegate,
                        delegator: e.delegator,
                        unbonding_lock_id: e.unbondingLockId,
                        amount_wei: e.amount,
                        withdraw_round: round(e.withdrawRound),
                    }
                }
                t if t == BondingManager::Rebond::SIGNATURE_HASH => {
                    let e = BondingManager::Rebond::decode_log(inner).ok()?;
                    ProtocolEvent::Rebond {
                        delegate: e.delegate,
                        delegator: e.delegator,
                        unbonding_lock_id: e.unbondingLockId,
                        amount_wei: e.amount,
                    }
                }
                t if t == BondingManager::WithdrawStake::SIGNATURE_HASH => {
                    let e = BondingManager::WithdrawStake::decode_log(inner).ok()?;
                    ProtocolEvent::WithdrawStake {
                        delegator: e.delegator,
                        unbonding_lock_id: e.unbondingLockId,
                        amount_wei: e.amount,
                        withdraw_round: round(e.withdrawRound),
                    }
                }
                _ => return None,
            }
        } else if from == contracts.service_registry
            && topic0 == ServiceRegistry::ServiceURIUpdate::SIGNATURE_HASH
        {
            let e = ServiceRegistry::ServiceURIUpdate::decode_log(inner).ok()?;
            ProtocolEvent::ServiceUriUpdate {
                addr: e.addr,
                service_uri: e.serviceURI.clone(),
            }
        } else {
            return None;
        };
    Some(ChainLog {
        block_number: log.block_number?,
        block_hash: log.block_hash?,
        tx_hash: log.transaction_hash.unwrap_or_default(),
        log_index: log.log_index.unwrap_or_default(),
        event,
    })
}
