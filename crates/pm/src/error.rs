//! The crate's one error type.

use alloy_primitives::{Address, B256, U256};

use crate::ExactWei;

/// Everything that can go wrong in livepeer-pm.
///
/// The go-livepeer message each variant corresponds to is given where there is one, so logs
/// can be compared. Classify with [`PmError::is_fatal`] (aborts the whole payment on the
/// orchestrator), [`PmError::is_sender_fault`] and [`PmError::is_retryable`]; never by matching
/// the message text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PmError {
    // ---- received-ticket validation (orchestrator side), pm.md §6.3 ----
    /// The ticket names another recipient than this orchestrator (go `errInvalidTicketRecipient`,
    /// "invalid ticket recipient"). Fatal.
    #[error("invalid ticket recipient: expected {expected}, got {got}")]
    WrongRecipient {
        /// This orchestrator's address.
        expected: Address,
        /// The ticket's recipient.
        got: Address,
    },
    /// The ticket's sender is the zero address (go `errInvalidTicketSender`). Fatal.
    #[error("invalid ticket sender: zero address")]
    ZeroSender,
    /// The recipientRand derived from the echoed parameters does not hash to the ticket's
    /// recipientRandHash: the parameters were altered, issued to another sender, or issued before
    /// a restart (go `errInvalidTicketRecipientRand`, "invalid recipientRand for ticket
    /// recipientRandHash"). Fatal.
    #[error("invalid recipientRand for ticket recipientRandHash {recipient_rand_hash}")]
    RecipientRandHashMismatch {
        /// The hash the ticket carries.
        recipient_rand_hash: B256,
    },
    /// The ticket's face value no longer covers the cost of redeeming it at the current gas
    /// price (nor at go's 3 gwei floor), so crediting it would pay the sender's work with
    /// a loss (the rule of go-livepeer `pm/recipient.go:faceValue` step 8, applied on receipt).
    /// Fatal.
    #[error(
        "insufficient ticket face value {face_value} wei, redemption costs {min_face_value} wei"
    )]
    InsufficientFaceValue {
        /// The ticket's face value in wei.
        face_value: U256,
        /// The smallest acceptable face value in wei.
        min_face_value: U256,
    },
    /// The signature is not exactly 65 bytes r‖s‖v (go "invalid signature length",
    /// contract "INVALID_SIGNATURE_LENGTH"). Non-fatal.
    #[error("invalid ticket signature: length {len}, expected 65")]
    SignatureLength {
        /// The length received.
        len: usize,
    },
    /// The signature's `s` is above n/2 (go "signature s value too high", OpenZeppelin
    /// "ECDSA: invalid signature 's' value"). Non-fatal.
    #[error("invalid ticket signature: s value too high")]
    SignatureHighS,
    /// The signature's `v` byte is not 27 or 28. Non-fatal.
    #[error("invalid ticket signature: v = {v}, expected 27 or 28")]
    SignatureRecoveryId {
        /// The `v` byte received.
        v: u8,
    },
    /// No public key can be recovered from the signature (r or s out of range, no curve point).
    /// Non-fatal.
    #[error("invalid ticket signature: no key recovers from it")]
    SignatureUnrecoverable,
    /// The signature recovers to another address than the ticket's sender (go
    /// `errInvalidTicketSignature`). Non-fatal.
    #[error("invalid ticket signature: signed by {signer}, sender is {sender}")]
    SignerMismatch {
        /// The ticket's sender.
        sender: Address,
        /// The address the signature recovers to.
        signer: Address,
    },
    /// This sender nonce was already received for this recipientRand (go "invalid ticket
    /// senderNonce: already seen"). Non-fatal.
    #[error("invalid ticket senderNonce {nonce} from {sender}: already seen")]
    NonceReplayed {
        /// The ticket's sender.
        sender: Address,
        /// The replayed nonce.
        nonce: u32,
    },
    /// 600 nonces were already received for this recipientRand (go "invalid ticket senderNonce:
    /// too many values"). Non-fatal.
    #[error("invalid ticket senderNonce {nonce} from {sender}: too many values (max {max})")]
    TooManyNonces {
        /// The ticket's sender.
        sender: Address,
        /// The refused nonce.
        nonce: u32,
        /// The limit per recipientRand ([`crate::MAX_SENDER_NONCES`]).
        max: usize,
    },
    /// A winning ticket made with this recipientRand was sent for redemption, which reveals
    /// recipientRand on chain, so no further ticket may use it (the rule of go-livepeer's former
    /// `invalidRands` set). Non-fatal.
    #[error("invalid ticket from {sender}: its recipientRand was already revealed")]
    RecipientRandRevealed {
        /// The ticket's sender.
        sender: Address,
    },
    /// The ticket parameters expired: the gateway must fetch new ones (go
    /// `ErrTicketParamsExpired`, "TicketParams expired"). Non-fatal on the orchestrator.
    #[error(
        "TicketParams expired: expiration block {expiration_block}, last seen block {last_seen_block}"
    )]
    TicketParamsExpired {
        /// The parameters' expiration block (L1).
        expiration_block: U256,
        /// The last L1 block seen.
        last_seen_block: U256,
    },
    /// The sender's deposit and reserve unlock within a round (go "deposit and reserve is set to
    /// unlock soon"). Fatal.
    #[error(
        "deposit and reserve of {sender} is set to unlock soon (withdraw round {withdraw_round}, last initialized round {last_initialized_round})"
    )]
    SenderUnlocking {
        /// The sender.
        sender: Address,
        /// Its `withdrawRound`.
        withdraw_round: u64,
        /// The last initialized round.
        last_initialized_round: u64,
    },
    /// A payment carries tickets but no usable sender or ticket parameters (go "missing ticket
    /// sender" and friends in `core/orchestrator.go:ProcessPayment`). Fatal.
    #[error("invalid payment: {field} missing")]
    PaymentMissingField {
        /// The missing field.
        field: &'static str,
    },

    // ---- ticket parameters (orchestrator side), pm.md §5.2 ----
    /// The face value the sender's max float allows is below the ticket EV or the redemption
    /// cost (go `errInsufficientSenderReserve`, "insufficient sender reserve").
    #[error("insufficient sender reserve for {sender}: face value {face_value} wei")]
    InsufficientSenderReserve {
        /// The sender.
        sender: Address,
        /// The capped face value in wei.
        face_value: U256,
    },

    // ---- gateway acceptance of ticket parameters, pm.md §5.5 ----
    /// The parameters carry no expiration block (go "ticketParams expirationBlock is nil").
    #[error("ticket params have no expiration block")]
    MissingExpirationBlock,
    /// EV is not below face value, i.e. winProb is 2^256-1 (go "ticket faceValue too low").
    #[error("ticket faceValue {face_value} too low for EV {ev}")]
    FaceValueTooLow {
        /// Face value in wei.
        face_value: U256,
        /// Ticket EV in wei.
        ev: Box<ExactWei>,
    },
    /// The ticket EV is above `-maxTicketEV` (go "TicketParams ev=… too high").
    #[error("ticket EV {ev} above the maximum {max}")]
    TicketEvTooHigh {
        /// Ticket EV in wei.
        ev: Box<ExactWei>,
        /// `-maxTicketEV` in wei.
        max: Box<ExactWei>,
    },
    /// EV × tickets is above `-maxTotalEV` (go "total ticket value too high").
    #[error("total ticket EV {total} above the maximum {max}")]
    TotalEvTooHigh {
        /// EV × number of tickets, in wei.
        total: Box<ExactWei>,
        /// `-maxTotalEV` in wei.
        max: Box<ExactWei>,
    },
    /// The face value is above deposit / `-depositMultiplier` (go "ticket faceValue too high").
    #[error("ticket faceValue {face_value} above deposit share {max_face_value}")]
    FaceValueTooHigh {
        /// Face value in wei.
        face_value: U256,
        /// deposit / depositMultiplier, in wei.
        max_face_value: U256,
    },
    /// The gateway's own reserve is zero (go "no sender reserve").
    #[error("no sender reserve")]
    NoSenderReserve,
    /// The gateway's own deposit is zero (go "no sender deposit").
    #[error("no sender deposit")]
    NoSenderDeposit,
    /// No session with this id (go "cannot find session with ID").
    #[error("cannot find session with ID {session_id}")]
    UnknownSession {
        /// The session id, recipientRandHash as 0x-hex.
        session_id: String,
    },
    /// The session's 32-bit sender nonce ran out; new parameters are needed.
    #[error("sender nonces of session {session_id} exhausted")]
    NoncesExhausted {
        /// The session id.
        session_id: String,
    },

    // ---- money ----
    /// A checked amount computation overflowed.
    #[error("arithmetic overflow in {op}")]
    Overflow {
        /// What was being computed.
        op: &'static str,
    },
    /// A division by zero (a zero denominator or a zero ticket EV).
    #[error("division by zero")]
    ZeroDenominator,
    /// A price with `pixelsPerUnit <= 0` or a negative `pricePerUnit`.
    #[error("invalid price {price_per_unit}/{pixels_per_unit}")]
    InvalidPrice {
        /// `PriceInfo.pricePerUnit`.
        price_per_unit: i64,
        /// `PriceInfo.pixelsPerUnit`.
        pixels_per_unit: i64,
    },

    // ---- decoding ----
    /// A field has the wrong shape (length, range, encoding).
    #[error("invalid {field}: {reason}")]
    InvalidField {
        /// The field, in the wire or JSON name.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A required JSON or wire field is absent.
    #[error("missing field {field}")]
    MissingField {
        /// The field name.
        field: &'static str,
    },
    /// The input is not valid JSON of the expected shape.
    #[error("invalid ticket JSON: {source}")]
    Json {
        /// The parser's error.
        #[from]
        source: serde_json::Error,
    },
    /// The input is not a valid `net.Payment` (base64 or protobuf).
    #[error("invalid payment: {reason}")]
    PaymentDecode {
        /// The decoder's error, as text.
        reason: String,
    },

    // ---- keys ----
    /// A private key outside `[1, n)`.
    #[error("invalid secp256k1 private key")]
    InvalidPrivateKey,

    // ---- durable store ----
    /// The SQLite ticket store failed.
    #[error("ticket store: {source}")]
    Store {
        /// SQLite's error.
        #[from]
        source: rusqlite::Error,
    },
    /// A stored row cannot be turned back into a ticket.
    #[error("corrupt stored ticket {ticket_hash}: {reason}")]
    CorruptStoredTicket {
        /// The row's ticket hash column.
        ticket_hash: String,
        /// What is wrong.
        reason: String,
    },

    // ---- chain ----
    /// The chain backend failed (RPC error, timeout); usually retryable.
    #[error("chain backend: {source}")]
    Chain {
        /// The backend's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The ticket was already redeemed on chain (go `errIsUsedTicket`, "ticket already used").
    #[error("ticket {ticket_hash} already used")]
    TicketUsed {
        /// The ticket hash.
        ticket_hash: B256,
    },
    /// The redemption transaction was mined and reverted (go "transaction failed txHash=…").
    #[error("transaction failed txHash={tx_hash}")]
    RedeemTxFailed {
        /// The transaction hash.
        tx_hash: B256,
    },
    /// The ticket's creation round has no block hash on chain (contract "ticket creationRound
    /// does not have a block hash").
    #[error("ticket creationRound {creation_round} does not have a block hash")]
    CreationRoundWithoutBlockHash {
        /// The ticket's creation round.
        creation_round: u64,
    },
    /// The sender's funds cannot pay for the redemption transaction (go "insufficient sender
    /// funds for redeem tx cost").
    #[error("insufficient sender funds {available} wei for redeem tx cost {tx_cost} wei")]
    InsufficientFundsForRedeem {
        /// reserveAlloc + deposit - pending, in wei.
        available: U256,
        /// Transaction cost in wei.
        tx_cost: U256,
    },
    /// The ticket's face value does not pay for the redemption transaction (go "insufficient
    /// ticket face value for redeem tx cost").
    #[error("insufficient ticket face value {face_value} wei for redeem tx cost {tx_cost} wei")]
    FaceValueBelowRedeemCost {
        /// The face value in wei.
        face_value: U256,
        /// Transaction cost in wei.
        tx_cost: U256,
    },
}

impl PmError {
    /// True when the orchestrator must reject the whole payment (HTTP 400) rather than just stop
    /// crediting from this ticket on (go `pm.FatalReceiveErr` vs `pm.ReceiveError`, see
    /// go-livepeer `core/orchestrator.go:ProcessPayment`).
    pub fn is_fatal(&self) -> bool {
        !matches!(
            self,
            Self::SignatureLength { .. }
                | Self::SignatureHighS
                | Self::SignatureRecoveryId { .. }
                | Self::SignatureUnrecoverable
                | Self::SignerMismatch { .. }
                | Self::NonceReplayed { .. }
                | Self::TooManyNonces { .. }
                | Self::RecipientRandRevealed { .. }
                | Self::TicketParamsExpired { .. }
        )
    }

    /// True when the error is the payer's doing (bad ticket, bad signature, replay, stale or
    /// altered parameters) as opposed to our own state or the chain.
    pub fn is_sender_fault(&self) -> bool {
        matches!(
            self,
            Self::WrongRecipient { .. }
                | Self::ZeroSender
                | Self::RecipientRandHashMismatch { .. }
                | Self::SignatureLength { .. }
                | Self::SignatureHighS
                | Self::SignatureRecoveryId { .. }
                | Self::SignatureUnrecoverable
                | Self::SignerMismatch { .. }
                | Self::NonceReplayed { .. }
                | Self::TooManyNonces { .. }
                | Self::RecipientRandRevealed { .. }
                | Self::TicketParamsExpired { .. }
                | Self::SenderUnlocking { .. }
                | Self::PaymentMissingField { .. }
                | Self::InvalidPrice { .. }
                | Self::InvalidField { .. }
                | Self::PaymentDecode { .. }
        )
    }

    /// True when trying again later may succeed: chain or store trouble, expired parameters
    /// (fetch new ones), insufficient funds for a redemption now. False for outcomes that are
    /// final, like a used ticket or a reverted redemption (go `isNonRetryableTicketErr`).
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Chain { .. }
                | Self::Store { .. }
                | Self::TicketParamsExpired { .. }
                | Self::InsufficientFundsForRedeem { .. }
                | Self::FaceValueBelowRedeemCost { .. }
        )
    }

    /// Wraps a chain backend error (for implementations of the [`crate::chain`] traits).
    pub fn chain(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Chain {
            source: source.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        // (error, fatal, sender fault, retryable)
        let cases = [
            (PmError::ZeroSender, true, true, false),
            (PmError::SignatureHighS, false, true, false),
            (
                PmError::NonceReplayed {
                    sender: Address::ZERO,
                    nonce: 1,
                },
                false,
                true,
                false,
            ),
            (
                PmError::TicketParamsExpired {
                    expiration_block: U256::from(1),
                    last_seen_block: U256::from(2),
                },
                false,
                true,
                true,
            ),
            (
                PmError::TicketUsed {
                    ticket_hash: B256::ZERO,
                },
                true,
                false,
                false,
            ),
            (PmError::chain("rpc down"), true, false, true),
        ];
        for (err, fatal, fault, retry) in cases {
            assert_eq!(err.is_fatal(), fatal, "{err}");
            assert_eq!(err.is_sender_fault(), fault, "{err}");
            assert_eq!(err.is_retryable(), retry, "{err}");
        }
    }
}
