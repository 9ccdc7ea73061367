//! The gateway side: sessions keyed by ticket parameters, monotonic sender nonces, signed
//! ticket batches, and the acceptance rules for an orchestrator's parameters (pm.md §5.5,
//! §6.1, §7.2).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use alloy_primitives::{Address, U256};
use serde::Serialize;

use crate::{
    ExactWei, PmError, PriceInfo, PricePerPixel, SenderInfoSource, Ticket, TicketExpirationParams,
    TicketParams, TicketSenderParams, TicketSigner, TimeSource,
};

/// Parameters are refused when they expire within this many L1 blocks (go-livepeer
/// `pm/sender.go:paramsExpiryBuffer`).
pub const PARAMS_EXPIRY_BUFFER: u64 = 1;

/// Default `-maxTicketEV`: 3 000 000 000 000 wei (go-livepeer `starter.go`).
pub const DEFAULT_MAX_TICKET_EV_WEI: u64 = 3_000_000_000_000;

/// Default `-maxTotalEV`: 20 000 000 000 000 wei (go-livepeer `starter.go`).
pub const DEFAULT_MAX_TOTAL_EV_WEI: u64 = 20_000_000_000_000;

/// Default `-depositMultiplier` (go-livepeer `starter.go`).
pub const DEFAULT_DEPOSIT_MULTIPLIER: u64 = 1;

/// A gateway's limits on the tickets it will sign.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct SenderConfig {
    /// `-maxTicketEV`, in wei; `None` for no limit.
    pub max_ticket_ev_wei: Option<U256>,
    /// `-maxTotalEV` (EV × tickets of one payment), in wei; `None` for no limit.
    pub max_total_ev_wei: Option<U256>,
    /// `-depositMultiplier`: the face value may be at most deposit / this; 0 disables the check.
    pub deposit_multiplier: u64,
}

impl Default for SenderConfig {
    fn default() -> Self {
        Self {
            max_ticket_ev_wei: Some(U256::from(DEFAULT_MAX_TICKET_EV_WEI)),
            max_total_ev_wei: Some(U256::from(DEFAULT_MAX_TOTAL_EV_WEI)),
            deposit_multiplier: DEFAULT_DEPOSIT_MULTIPLIER,
        }
    }
}

/// Tickets sharing one set of parameters, as carried by one `net.Payment` (go-livepeer
/// `pm/ticket.go:TicketBatch` plus the payment's `expected_price`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TicketBatch {
    /// The orchestrator's parameters, echoed unchanged.
    pub params: TicketParams,
    /// Creation round and block hash (`Payment.expiration_params`, the copy O reads).
    pub expiration_params: TicketExpirationParams,
    /// The gateway's address.
    pub sender: Address,
    /// One nonce and signature per ticket.
    pub sender_params: Vec<TicketSenderParams>,
    /// The price the parameters came with (`OrchestratorInfo.price_info`), echoed unreduced.
    pub expected_price: PriceInfo,
}

impl TicketBatch {
    /// The tickets of the batch with their signatures, in order. Errors with
    /// [`PmError::InvalidPrice`] when the expected price is invalid.
    pub fn tickets(&self) -> Result<Vec<(Ticket, &[u8])>, PmError> {
        let price = PricePerPixel::try_from(self.expected_price)?;
        Ok(self
            .sender_params
            .iter()
            .map(|sp| {
                (
                    Ticket::new(
                        &self.params,
                        self.expiration_params,
                        self.sender,
                        sp.sender_nonce,
                        price,
                    ),
                    sp.sig.as_slice(),
                )
            })
            .collect())
    }

    /// Total EV of the batch: EV × number of tickets.
    pub fn total_ev(&self) -> Result<ExactWei, PmError> {
        let n = u64::try_from(self.sender_params.len())
            .map_err(|_| PmError::Overflow { op: "ticket count" })?;
        self.params.ev().checked_mul_u64(n)
    }
}

#[derive(Debug)]
struct Session {
    params: TicketParams,
    price: PriceInfo,
    price_per_pixel: PricePerPixel,
    nonce: AtomicU32,
}

/// The gateway's ticket sender (go-livepeer `pm/sender.go:sender`). Methods take `&self`;
/// share it in an `Arc`.
pub struct Sender {
    signer: Arc<dyn TicketSigner>,
    time: Arc<dyn TimeSource>,
    senders: Arc<dyn SenderInfoSource>,
    config: SenderConfig,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("address", &self.signer.address())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Sender {
    /// A sender signing with `signer`, reading rounds and blocks from `time` and its own deposit
    /// and reserve from `senders`.
    pub fn new(
        signer: Arc<dyn TicketSigner>,
        time: Arc<dyn TimeSource>,
        senders: Arc<dyn SenderInfoSource>,
        config: SenderConfig,
    ) -> Self {
        Self {
            signer,
            time,
            senders,
            config,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// The gateway's address (the tickets' sender).
    pub fn address(&self) -> Address {
        self.signer.address()
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<String, Arc<Session>>> {
        match self.sessions.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Starts (or restarts) the session for `params` received with `price`; the first ticket
    /// gets nonce 1. Returns the session id, recipientRandHash as 0x-hex (go-livepeer
    /// `pm/sender.go:StartSession`). Errors with [`PmError::InvalidPrice`].
    pub fn start_session(&self, params: TicketParams, price: PriceInfo) -> Result<String, PmError> {
        self.start_session_with_nonce(params, price, 0)
    }

    /// Like [`Sender::start_session`] with the counter at `nonce`, so the first ticket gets
    /// `nonce + 1` (go `StartSessionWithNonce`, used by remote signing).
    pub fn start_session_with_nonce(
        &self,
        params: TicketParams,
        price: PriceInfo,
        nonce: u32,
    ) -> Result<String, PmError> {
        let price_per_pixel = PricePerPixel::try_from(price)?;
        let id = params.session_id();
        self.sessions().insert(
            id.clone(),
            Arc::new(Session {
                params,
                price,
                price_per_pixel,
                nonce: AtomicU32::new(nonce),
            }),
        );
        Ok(id)
    }

    /// Forgets a session.
    pub fn end_session(&self, session_id: &str) {
        self.sessions().remove(session_id);
    }

    fn session(&self, session_id: &str) -> Result<Arc<Session>, PmError> {
        self.sessions()
            .get(session_id)
            .cloned()
            .ok_or_else(|| PmError::UnknownSession {
                session_id: session_id.to_owned(),
            })
    }

    /// The EV of one ticket of the session.
    pub fn ev(&self, session_id: &str) -> Result<ExactWei, PmError> {
        Ok(self.session(session_id)?.params.ev())
    }

    /// The session's parameters.
    pub fn session_params(&self, session_id: &str) -> Result<TicketParams, PmError> {
        Ok(self.session(session_id)?.params.clone())
    }

    /// The gateway's acceptance rules for `params` before paying `num_tickets` tickets with
    /// them (pm.md §5.5; go-livepeer `pm/sender.go:validateTicketParams`), in go's order:
    /// expiration block present ([`PmError::MissingExpirationBlock`]); not within
    /// [`PARAMS_EXPIRY_BUFFER`] of expiry ([`PmError::TicketParamsExpired`]); a zero EV is
    /// accepted as is; EV below face value ([`PmError::FaceValueTooLow`]); EV within
    /// `-maxTicketEV` ([`PmError::TicketEvTooHigh`]); own deposit and reserve present and not
    /// unlocking ([`PmError::SenderUnlocking`], [`PmError::NoSenderReserve`],
    /// [`PmError::NoSenderDeposit`]); EV × tickets within `-maxTotalEV`
    /// ([`PmError::TotalEvTooHigh`]); face value within deposit / `-depositMultiplier`
    /// ([`PmError::FaceValueTooHigh`]).
    pub fn validate_ticket_params(
        &self,
        params: &TicketParams,
        num_tickets: u64,
    ) -> Result<(), PmError> {
        if params.expiration_block.is_zero() {
            return Err(PmError::MissingExpirationBlock);
        }
        let latest = self.time.last_seen_l1_block();
        if params.expiration_block <= latest.saturating_add(U256::from(PARAMS_EXPIRY_BUFFER)) {
            return Err(PmError::TicketParamsExpired {
                expiration_block: params.expiration_block,
                last_seen_block: latest,
            });
        }
        let ev = params.ev();
        if ev.is_zero() {
            return Ok(());
        }
        if ev >= ExactWei::from_wei(params.face_value) {
            return Err(PmError::FaceValueTooLow {
                face_value: params.face_value,
                ev: Box::new(ev),
            });
        }
        if let Some(max) = self.config.max_ticket_ev_wei {
            let max = ExactWei::from_wei(max);
            if ev > max {
                return Err(PmError::TicketEvTooHigh {
                    ev: Box::new(ev),
                    max: Box::new(max),
                });
            }
        }
        let me = self.signer.address();
        let info = self.senders.sender_info(me)?;
        let last_round = self.time.last_initialized_round();
        if info.withdraw_round != 0 && info.withdraw_round <= last_round.saturating_add(1) {
            return Err(PmError::SenderUnlocking {
                sender: me,
                withdraw_round: info.withdraw_round,
                last_initialized_round: last_round,
            });
        }
        if info.reserve_funds_remaining.is_zero() {
            return Err(PmError::NoSenderReserve);
        }
        if info.deposit.is_zero() {
            return Err(PmError::NoSenderDeposit);
        }
        if let Some(max) = self.config.max_total_ev_wei {
            let total = ev.checked_mul_u64(num_tickets)?;
            let max = ExactWei::from_wei(max);
            if total > max {
                return Err(PmError::TotalEvTooHigh {
                    total: Box::new(total),
                    max: Box::new(max),
                });
            }
        }
        if self.config.deposit_multiplier > 0 {
            let max_face_value = info.deposit / U256::from(self.config.deposit_multiplier);
            if params.face_value > max_face_value {
                return Err(PmError::FaceValueTooHigh {
                    face_value: params.face_value,
                    max_face_value,
                });
            }
        }
        Ok(())
    }

    /// Validates the session's parameters for `size` tickets, then signs `size` tickets with
    /// the next nonces (go-livepeer `pm/sender.go:CreateTicketBatch`). When the parameters carry
    /// incomplete expiration params (old orchestrators), the gateway's own last initialized
    /// round and block hash are used. Errors: [`PmError::UnknownSession`], the errors of
    /// [`Sender::validate_ticket_params`], [`PmError::NoncesExhausted`], signer errors.
    pub fn create_ticket_batch(&self, session_id: &str, size: u32) -> Result<TicketBatch, PmError> {
        let session = self.session(session_id)?;
        self.validate_ticket_params(&session.params, u64::from(size))?;
        let expiration_params = if session.params.expiration_params.is_incomplete() {
            TicketExpirationParams {
                creation_round: self.time.last_initialized_round(),
                creation_round_block_hash: self.time.last_initialized_block_hash(),
            }
        } else {
            session.params.expiration_params
        };
        // Reserve `size` nonces atomically so concurrent batches never share one.
        let first = session
            .nonce
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_add(size))
            .map_err(|_| PmError::NoncesExhausted {
                session_id: session_id.to_owned(),
            })?;
        let sender = self.signer.address();
        let mut sender_params = Vec::with_capacity(size as usize);
        for i in 1..=size {
            let sender_nonce = first + i;
            let ticket = Ticket::new(
                &session.params,
                expiration_params,
                sender,
                sender_nonce,
                session.price_per_pixel,
            );
            let sig = self.signer.sign_ticket_hash(&ticket.hash())?;
            sender_params.push(TicketSenderParams {
                sender_nonce,
                sig: sig.to_vec(),
            });
        }
        Ok(TicketBatch {
            params: session.params.clone(),
            expiration_params,
            sender,
            sender_params,
            expected_price: session.price,
        })
    }
}
