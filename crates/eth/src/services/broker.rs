//! [`EthTicketBroker`]: pm's `TicketBroker` on the deployed contract, through the node's
//! transaction manager (go-livepeer `eth/client_ticketbroker.go`).

use alloy::primitives::{B256, Bytes, U256};
use alloy::sol_types::SolCall;
use livepeer_pm::{PmError, Ticket};

use super::ChainNode;
use crate::contracts::{ITicketBroker, TicketBroker};
use crate::{EthError, TicketRevert};

/// The TicketBroker as pm's [`livepeer_pm::TicketBroker`]: `usedTickets` read now,
/// `redeemWinningTicket` sent through [`super::tx::TransactionManager`] (one ticket per
/// transaction, as go does). Cheap to clone.
#[derive(Clone, Debug)]
pub struct EthTicketBroker {
    node: ChainNode,
}

/// The contract's tuple for a pm ticket: `senderNonce` widened to uint256 and `auxData` =
/// `creationRound ‖ creationRoundBlockHash` (pm.md §9.2).
pub fn onchain_ticket(ticket: &Ticket) -> ITicketBroker::Ticket {
    ITicketBroker::Ticket {
        recipient: ticket.recipient,
        sender: ticket.sender,
        faceValue: ticket.face_value,
        winProb: ticket.win_prob,
        senderNonce: U256::from(ticket.sender_nonce),
        recipientRandHash: ticket.recipient_rand_hash,
        auxData: Bytes::from(ticket.aux_data().as_slice().to_vec()),
    }
}

impl EthTicketBroker {
    /// The broker of `node`'s contracts, sending from its account.
    pub fn new(node: ChainNode) -> Self {
        Self { node }
    }

    /// Maps a redemption's error to pm's: "ticket is used" (estimated or mined) is
    /// [`PmError::TicketUsed`]; a mined revert is [`PmError::RedeemTxFailed`]; a creation
    /// round without a block hash is [`PmError::CreationRoundWithoutBlockHash`]; anything else
    /// (other estimate reverts included: nothing was sent, and the ticket expires from the
    /// store after its validity period) is a retryable [`PmError::Chain`].
    fn map_error(ticket: &Ticket, err: EthError) -> PmError {
        let ticket_hash = ticket.hash();
        match (&err, err.ticket_revert()) {
            (_, Some(TicketRevert::Used)) => PmError::TicketUsed { ticket_hash },
            (EthError::TxReverted { tx_hash, .. }, _) => {
                PmError::RedeemTxFailed { tx_hash: *tx_hash }
            }
            (_, Some(TicketRevert::NoBlockHash)) => PmError::CreationRoundWithoutBlockHash {
                creation_round: ticket.expiration_params.creation_round,
            },
            _ => PmError::chain(err),
        }
    }
}

impl livepeer_pm::TicketBroker for EthTicketBroker {
    async fn is_used_ticket(&self, ticket_hash: B256) -> Result<bool, PmError> {
        TicketBroker::new(
            self.node.contracts().ticket_broker,
            self.node.provider().clone(),
        )
        .usedTickets(ticket_hash)
        .call()
        .await
        .map_err(|e| PmError::chain(EthError::from_call("TicketBroker.usedTickets", e)))
    }

    async fn redeem_winning_ticket(
        &self,
        ticket: &Ticket,
        sig: &[u8],
        recipient_rand: U256,
    ) -> Result<B256, PmError> {
        let input = TicketBroker::redeemWinningTicketCall {
            _ticket: onchain_ticket(ticket),
            _sig: Bytes::from(sig.to_vec()),
            _recipientRand: recipient_rand,
        }
        .abi_encode();
        self.node
            .transactions()
            .send(
                "TicketBroker.redeemWinningTicket",
                self.node.contracts().ticket_broker,
                input.into(),
                U256::ZERO,
            )
            .await
            .map(|c| c.tx_hash())
            .map_err(|e| Self::map_error(ticket, e))
    }
}

#[cfg(test)]
mod tests {
    use alloy::primitives::Address;
    use livepeer_pm::{PricePerPixel, TicketExpirationParams};

    use super::*;
    use crate::Revert;

    #[test]
    fn redemption_errors_map_to_pms_settlement_classes() {
        let ticket = Ticket {
            recipient: Address::repeat_byte(1),
            sender: Address::repeat_byte(2),
            face_value: U256::from(10),
            win_prob: U256::MAX,
            sender_nonce: 1,
            recipient_rand_hash: B256::repeat_byte(3),
            expiration_params: TicketExpirationParams {
                creation_round: 9,
                creation_round_block_hash: B256::repeat_byte(4),
            },
            params_expiration_block: U256::ZERO,
            price_per_pixel: PricePerPixel::ZERO,
        };
        let tx_hash = B256::repeat_byte(5);
        let estimated = |reason: &str| EthError::Reverted {
            call: "TicketBroker.redeemWinningTicket".into(),
            revert: Revert::Reason(reason.into()),
        };
        let mined = |revert: Revert| EthError::TxReverted {
            call: "TicketBroker.redeemWinningTicket".into(),
            tx_hash,
            revert,
        };
        let map = |e| EthTicketBroker::map_error(&ticket, e);
        assert!(
            matches!(map(estimated("ticket is used")), PmError::TicketUsed { ticket_hash } if ticket_hash == ticket.hash())
        );
        assert!(matches!(
            map(mined(Revert::Reason("ticket is used".into()))),
            PmError::TicketUsed { .. }
        ));
        assert!(
            matches!(map(mined(Revert::Empty)), PmError::RedeemTxFailed { tx_hash: h } if h == tx_hash)
        );
        assert!(matches!(
            map(estimated("ticket creationRound does not have a block hash")),
            PmError::CreationRoundWithoutBlockHash { creation_round: 9 }
        ));
        // Refused before sending: nothing spent, retried until the store expires it.
        let expired = map(estimated("ticket is expired"));
        assert!(
            matches!(expired, PmError::Chain { .. }) && expired.is_retryable(),
            "{expired}"
        );
        let timed_out = map(EthError::TxTimedOut {
            call: "TicketBroker.redeemWinningTicket".into(),
            tx_hashes: vec![tx_hash],
        });
        assert!(timed_out.is_retryable(), "{timed_out}");
    }
}
