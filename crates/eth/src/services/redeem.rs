//! [`RedemptionService`]: redeems the orchestrator's stored winning tickets as they become
//! redeemable (go-livepeer `pm/queue.go`; the settlement rules are `Recipient::redeem_ready`'s).

use std::sync::Arc;

use livepeer_pm::recipient::RedeemOutcome;
use livepeer_pm::{PmError, Recipient};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use super::{ChainNode, EthTicketBroker};

/// Calls [`Recipient::redeem_ready`] on every new L1 block and logs each ticket's outcome.
///
/// The ticket store is synchronous and fsyncs, so each pass runs on a thread of tokio's
/// blocking pool (`spawn_blocking`, driving the pass with the runtime's handle), never on an
/// async worker thread. A ticket stays in the store until it is redeemed or provably
/// unredeemable (used, reverted, no block hash, expired), so a crash mid-pass loses nothing and
/// a restart with the same store redeems nothing twice: a ticket redeemed before the crash
/// reads as used and is settled so.
#[derive(Clone, Debug)]
pub struct RedemptionService {
    node: ChainNode,
    recipient: Arc<Recipient>,
    broker: EthTicketBroker,
    metrics: Option<livepeer_monitor::Metrics>,
}

impl RedemptionService {
    /// The service for `recipient`'s store, redeeming through `node`'s broker.
    pub fn new(node: ChainNode, recipient: Arc<Recipient>) -> Self {
        Self {
            broker: node.broker(),
            node,
            recipient,
            metrics: None,
        }
    }

    /// Counts every failed redemption in `metrics` (`livepeer_ticket_redemption_errors`, go-livepeer
    /// `pm/sendermonitor.go`): a reverted transaction, or an error that leaves the ticket
    /// pending.
    pub fn with_metrics(mut self, metrics: Option<livepeer_monitor::Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    /// One pass, now, off the async workers: prunes expired nonce bookkeeping, redeems every
    /// ready ticket, logs and returns the outcomes.
    ///
    /// Errors: the store's ([`PmError::Store`]); a ticket's own failure is in its outcome.
    pub async fn redeem_ready(&self) -> Result<Vec<RedeemOutcome>, PmError> {
        let recipient = self.recipient.clone();
        let broker = self.broker.clone();
        let handle = tokio::runtime::Handle::current();
        let l1_block = self.node.state().head().l1_block;
        let outcomes = tokio::task::spawn_blocking(move || {
            recipient.prune_sender_nonces(alloy::primitives::U256::from(l1_block));
            handle.block_on(recipient.redeem_ready(&broker))
        })
        .await
        .map_err(|e| PmError::chain(format!("the redemption pass stopped: {e}")))??;
        for outcome in &outcomes {
            if let Some(m) = &self.metrics
                && matches!(
                    outcome.result,
                    Err(_) | Ok(livepeer_pm::Settlement::TxFailed { .. })
                )
            {
                m.ticket_redemption_error();
            }
            if let Some(m) = &self.metrics
                && matches!(outcome.result, Ok(livepeer_pm::Settlement::Redeemed { .. }))
            {
                // go-livepeer `pm/sendermonitor.go`: the face value of each redeemed ticket.
                m.value_redeemed(
                    &outcome.sender.to_checksum(None),
                    f64::from(outcome.face_value),
                );
            }
            match &outcome.result {
                Ok(settlement) => match settlement.tx_hash() {
                    Some(tx_hash) => {
                        info!(ticket = %outcome.ticket_hash, outcome = settlement.as_str(), %tx_hash, "winning ticket settled")
                    }
                    None => {
                        info!(ticket = %outcome.ticket_hash, outcome = settlement.as_str(), "winning ticket settled")
                    }
                },
                Err(e) => {
                    warn!(ticket = %outcome.ticket_hash, error = %e, "winning ticket not redeemed yet; will retry")
                }
            }
        }
        Ok(outcomes)
    }

    /// Runs until `cancel` fires: a pass at start and on every new L1 block. A pass in flight
    /// finishes before this returns (its tickets are durable either way).
    pub async fn run(self, cancel: CancellationToken) {
        let mut heads = self.node.subscribe();
        let mut last_l1: Option<u64> = None;
        loop {
            let head = *heads.borrow_and_update();
            if last_l1 != Some(head.l1_block) {
                last_l1 = Some(head.l1_block);
                if let Err(e) = self.redeem_ready().await {
                    warn!(error = %e, "redemption pass failed");
                }
            }
            tokio::select! {
                () = cancel.cancelled() => break,
                changed = heads.changed() => if changed.is_err() { break },
            }
        }
        debug!("redemption service stopped");
    }
}
