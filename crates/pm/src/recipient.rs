//! The orchestrator side: ticket parameters, recipientRand, validation of received tickets and
//! payments, nonce bookkeeping, and redemption of stored winners (pm.md §3, §5.2–5.4, §6, §9).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use alloy_primitives::{Address, B256, U256};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::{
    ExactWei, GasPriceSource, MAX_WIN_PROB, PmError, PriceInfo, PricePerPixel, SenderMonitor,
    Settlement, Ticket, TicketBatch, TicketBroker, TicketExpirationParams, TicketParams,
    TicketStore, TimeSource, WinningTicket, is_winning_ticket, recipient_rand_hash,
    verify_signature,
};

/// Parameters expire this many L1 blocks after they are issued (go-livepeer
/// `pm/recipient.go:paramsExpirationBlock`, about 8 minutes).
pub const PARAMS_EXPIRATION_BLOCKS: u64 = 40;

/// At most this many sender nonces per recipientRand (go-livepeer `pm/recipient.go:maxSenderNonces`).
pub const MAX_SENDER_NONCES: usize = 600;

/// When `tx cost × multiplier` is below the EV, the face value becomes `EV × 100` (go-livepeer
/// `pm/recipient.go:evMultiplier`).
pub const EV_MULTIPLIER: u64 = 100;

/// go-livepeer's hard-coded average gas price, 3 gwei, for the face-value floor
/// (`pm/recipient.go:avgGasPrice`).
pub const AVG_GAS_PRICE_WEI: u64 = 3_000_000_000;

/// Default `-ticketEV`: 8 gwei (go-livepeer `cmd/livepeer/starter/starter.go`).
pub const DEFAULT_TICKET_EV_WEI: u64 = 8_000_000_000;

/// Default face value multiple of the redemption tx cost (go-livepeer `starter.go:txCostMultiplier`).
pub const DEFAULT_TX_COST_MULTIPLIER: u64 = 100;

/// Gas a redemption takes on Arbitrum (L2), go-livepeer's estimate for `arbitrum-one-mainnet`.
pub const DEFAULT_REDEEM_GAS: u64 = 1_200_000;

/// Gas a redemption takes on L1 (go-livepeer's estimate for `mainnet`).
pub const REDEEM_GAS_L1: u64 = 350_000;

/// Rounds a ticket stays redeemable after its creation round (the TicketBroker's
/// `ticketValidityPeriod`, 2 in every deployment; go-livepeer `pm/queue.go`).
pub const TICKET_VALIDITY_PERIOD: u64 = 2;

/// Writes `x` as Go's `big.Int.Bytes()`: minimal big-endian, zero as nothing.
fn push_min_be(out: &mut Vec<u8>, x: U256) {
    let bytes = x.to_be_bytes::<32>();
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(32);
    out.extend_from_slice(&bytes[start..]);
}

fn push_min_be_u64(out: &mut Vec<u8>, x: u64) {
    push_min_be(out, U256::from(x));
}

/// The values an orchestrator binds to its parameters through recipientRand (pm.md §3.2):
/// everything it issued that the gateway echoes, plus the gateway's address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecipientRandInputs {
    /// `TicketParams.seed`.
    pub seed: U256,
    /// The gateway the parameters were issued to.
    pub sender: Address,
    /// Face value in wei.
    pub face_value: U256,
    /// Win probability.
    pub win_prob: U256,
    /// `TicketParams.expiration_block`.
    pub expiration_block: U256,
    /// The price the parameters were issued for, reduced.
    pub price: PricePerPixel,
    /// Creation round and block hash.
    pub expiration_params: TicketExpirationParams,
}

impl RecipientRandInputs {
    /// The inputs a received ticket and its parameters' `seed` give.
    pub fn of_ticket(ticket: &Ticket, seed: U256) -> Self {
        Self {
            seed,
            sender: ticket.sender,
            face_value: ticket.face_value,
            win_prob: ticket.win_prob,
            expiration_block: ticket.params_expiration_block,
            price: ticket.price_per_pixel,
            expiration_params: ticket.expiration_params,
        }
    }

    /// The message whose HMAC is recipientRand (go-livepeer `pm/recipient.go:rand`):
    /// `min(seed) ‖ sender ‖ min(faceValue) ‖ min(winProb) ‖ min(expirationBlock) ‖ min(priceNum)
    /// ‖ min(priceDenom) ‖ auxData`, integers in minimal big-endian form, no separators.
    pub fn message(&self) -> Vec<u8> {
        let mut msg = Vec::with_capacity(32 + 20 + 32 * 3 + 16 + 64);
        push_min_be(&mut msg, self.seed);
        msg.extend_from_slice(self.sender.as_slice());
        push_min_be(&mut msg, self.face_value);
        push_min_be(&mut msg, self.win_prob);
        push_min_be(&mut msg, self.expiration_block);
        push_min_be_u64(&mut msg, self.price.num());
        push_min_be_u64(&mut msg, self.price.den());
        msg.extend_from_slice(self.expiration_params.aux_data().as_slice());
        msg
    }
}

/// recipientRand: `HMAC-SHA256(secret, inputs.message())` read big-endian (pm.md §3.2).
pub fn recipient_rand(secret: &[u8; 32], inputs: &RecipientRandInputs) -> U256 {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .expect("HMAC-SHA256 accepts a key of any length");
    mac.update(&inputs.message());
    U256::from_be_slice(&mac.finalize().into_bytes())
}

/// The win probability for a face value (pm.md §5.3; go-livepeer `pm/recipient.go:winProb`):
/// 0 for a zero face value, `2^256 - 1` when the face value equals the EV, otherwise
/// `ev × ceil((2^256 - 1) / face_value)`, so the real EV is at least `ev`. Saturates at
/// `2^256 - 1` (go would produce an out-of-range value for face values near 2^256).
pub fn win_prob(ev: U256, face_value: U256) -> U256 {
    if face_value.is_zero() {
        return U256::ZERO;
    }
    if face_value == ev {
        return MAX_WIN_PROB;
    }
    let (q, r) = MAX_WIN_PROB.div_rem(face_value);
    let q = if r.is_zero() { q } else { q + U256::from(1) };
    ev.checked_mul(q).unwrap_or(MAX_WIN_PROB)
}

/// Inputs of the face-value rule, all in wei or gas (see [`face_value`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaceValueInputs {
    /// The configured ticket EV (`-ticketEV`).
    pub ev: U256,
    /// Current gas price.
    pub gas_price: U256,
    /// Gas of a redemption.
    pub redeem_gas: U256,
    /// Face value as a multiple of the redemption cost.
    pub tx_cost_multiplier: U256,
    /// The sender's max float.
    pub max_float: U256,
    /// `-maxFaceValue`; zero means no cap.
    pub max_face_value: U256,
}

/// The face value for a sender (pm.md §5.2; go-livepeer `pm/recipient.go:faceValue`):
/// `tx_cost × multiplier` (or `ev × 100` if that is below the EV), capped by the max float
/// and `-maxFaceValue`; [`PmError::InsufficientSenderReserve`] when the result is below the EV,
/// or below both the tx cost and `redeem_gas × 3 gwei`.
pub fn face_value(sender: Address, i: &FaceValueInputs) -> Result<U256, PmError> {
    let tx_cost = i.redeem_gas.saturating_mul(i.gas_price);
    let mut face = tx_cost.saturating_mul(i.tx_cost_multiplier);
    if face < i.ev {
        face = i.ev.saturating_mul(U256::from(EV_MULTIPLIER));
    }
    if face > i.max_float {
        face = i.max_float;
    }
    if !i.max_face_value.is_zero() && i.max_face_value < face {
        face = i.max_face_value;
    }
    let floor = i.redeem_gas.saturating_mul(U256::from(AVG_GAS_PRICE_WEI));
    if face < i.ev || (face < tx_cost && face < floor) {
        return Err(PmError::InsufficientSenderReserve {
            sender,
            face_value: face,
        });
    }
    Ok(face)
}

/// An orchestrator's ticket settings (go-livepeer `pm.TicketParamsConfig` and flags).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RecipientConfig {
    /// The orchestrator's ETH address (`-ethOrchAddr` if set): tickets must name it.
    pub address: Address,
    /// `-ticketEV`, in wei ([`DEFAULT_TICKET_EV_WEI`]).
    pub ticket_ev_wei: U256,
    /// `-maxFaceValue` in wei; zero means no cap.
    pub max_face_value_wei: U256,
    /// Gas of a redemption ([`DEFAULT_REDEEM_GAS`] on Arbitrum, [`REDEEM_GAS_L1`] on L1).
    pub redeem_gas: U256,
    /// Face value as a multiple of the redemption cost ([`DEFAULT_TX_COST_MULTIPLIER`]).
    pub tx_cost_multiplier: U256,
}

impl RecipientConfig {
    /// go-livepeer's defaults (Arbitrum) for an orchestrator at `address`.
    pub fn new(address: Address) -> Self {
        Self {
            address,
            ticket_ev_wei: U256::from(DEFAULT_TICKET_EV_WEI),
            max_face_value_wei: U256::ZERO,
            redeem_gas: U256::from(DEFAULT_REDEEM_GAS),
            tx_cost_multiplier: U256::from(DEFAULT_TX_COST_MULTIPLIER),
        }
    }
}

/// A ticket the orchestrator accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReceivedTicket {
    /// The ticket hash.
    pub ticket_hash: B256,
    /// Whether it won (and was stored).
    pub won: bool,
    /// The credit it earns: its exact EV.
    pub ev: ExactWei,
}

/// The result of [`Recipient::receive_payment`] when no ticket failed fatally.
#[derive(Debug)]
pub struct ReceivedPayment {
    /// The payer.
    pub sender: Address,
    /// The gateway's session id (recipientRandHash as 0x-hex); empty with no ticket params.
    pub session_id: String,
    /// EV of the tickets accepted before the first error: the amount to credit.
    pub credit: ExactWei,
    /// Tickets credited.
    pub accepted: usize,
    /// Hashes of the winning tickets stored (durably, before this returned), including any
    /// after the first error.
    pub winners: Vec<B256>,
    /// The first non-fatal error: tickets from it on earn nothing, and the payment is answered
    /// with this error (go-livepeer `core/orchestrator.go:ProcessPayment`).
    pub error: Option<PmError>,
}

#[derive(Debug)]
struct NonceEntry {
    seen: HashSet<u32>,
    expiration_block: U256,
    revealed: bool,
}

/// The outcome of redeeming one stored ticket.
#[derive(Debug)]
pub struct RedeemOutcome {
    /// The ticket hash.
    pub ticket_hash: B256,
    /// The gateway that sent it.
    pub sender: Address,
    /// Its face value, wei (what a redemption pays).
    pub face_value: U256,
    /// The settlement recorded in the store, or the error that left it pending.
    pub result: Result<Settlement, PmError>,
}

/// The orchestrator's ticket recipient (go-livepeer `pm/recipient.go:recipient`).
///
/// Stateless about issued parameters: recipientRand is re-derived from the echoed parameters
/// with a per-process secret. Keeps the nonces seen per recipientRand until the parameters
/// expire, and hands every winning ticket to the [`TicketStore`] before returning, so a payment
/// is acknowledged only once its winners are durable. Methods take `&self`; share it in an `Arc`.
pub struct Recipient {
    config: RecipientConfig,
    secret: [u8; 32],
    time: Arc<dyn TimeSource>,
    gas: Arc<dyn GasPriceSource>,
    monitor: SenderMonitor,
    store: Arc<dyn TicketStore>,
    nonces: Mutex<HashMap<U256, NonceEntry>>,
    /// `-maxFaceValue` now: the configured one until [`Recipient::set_max_face_value`].
    max_face_value: Mutex<U256>,
}

impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recipient")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Recipient {
    /// A recipient with a fixed HMAC `secret` (tests, known answers). A real orchestrator uses
    /// [`Recipient::with_random_secret`]: go draws 32 bytes from `crypto/rand` at every start and
    /// never stores them.
    pub fn new(
        config: RecipientConfig,
        secret: [u8; 32],
        time: Arc<dyn TimeSource>,
        gas: Arc<dyn GasPriceSource>,
        monitor: SenderMonitor,
        store: Arc<dyn TicketStore>,
    ) -> Self {
        Self {
            config,
            secret,
            time,
            gas,
            monitor,
            store,
            nonces: Mutex::new(HashMap::new()),
            max_face_value: Mutex::new(config.max_face_value_wei),
        }
    }

    /// A recipient with a fresh secret from the thread-local CSPRNG (seeded by the OS).
    pub fn with_random_secret(
        config: RecipientConfig,
        time: Arc<dyn TimeSource>,
        gas: Arc<dyn GasPriceSource>,
        monitor: SenderMonitor,
        store: Arc<dyn TicketStore>,
    ) -> Self {
        Self::new(config, rand::random(), time, gas, monitor, store)
    }

    /// The configuration, as given at start-up (see [`Self::max_face_value`] for the cap in
    /// force).
    pub fn config(&self) -> &RecipientConfig {
        &self.config
    }

    /// The face value cap in force, wei; zero means none.
    pub fn max_face_value(&self) -> U256 {
        *self
            .max_face_value
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// Changes the face value cap for the ticket parameters issued from now on (go-livepeer
    /// `SetMaxFaceValue`, the CLI API's `/setMaxFaceValue`); zero means none.
    pub fn set_max_face_value(&self, wei: U256) {
        *self
            .max_face_value
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = wei;
    }

    /// The sender monitor (max float, sender validation).
    pub fn sender_monitor(&self) -> &SenderMonitor {
        &self.monitor
    }

    fn nonces(&self) -> MutexGuard<'_, HashMap<U256, NonceEntry>> {
        match self.nonces.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// recipientRand for the given echoed parameters, with this recipient's secret.
    pub fn recipient_rand(&self, inputs: &RecipientRandInputs) -> U256 {
        recipient_rand(&self.secret, inputs)
    }

    /// The creation round and block hash for new parameters: the last initialized round, or the
    /// one before when its block hash is still zero (go-livepeer
    /// `pm/recipient.go:ticketExpirationsParams`, an Arbitrum quirk).
    pub fn expiration_params(&self) -> TicketExpirationParams {
        let round = self.time.last_initialized_round();
        let hash = self.time.last_initialized_block_hash();
        if hash.is_zero() {
            return TicketExpirationParams {
                creation_round: round.saturating_sub(1),
                creation_round_block_hash: self.time.pre_last_initialized_block_hash(),
            };
        }
        TicketExpirationParams {
            creation_round: round,
            creation_round_block_hash: hash,
        }
    }

    /// `sender`'s max float now, wei: its reserve allocation for this orchestrator plus its
    /// deposit, minus what pending winning tickets will take (go-livepeer
    /// `pm/sendermonitor.go:MaxFloat`).
    ///
    /// Errors: chain or store errors reading the sender's funds.
    pub fn max_float(&self, sender: Address) -> Result<U256, PmError> {
        self.monitor.max_float(sender)
    }

    /// The face value this orchestrator offers `sender` now (see [`face_value`]).
    pub fn face_value(&self, sender: Address) -> Result<U256, PmError> {
        face_value(
            sender,
            &FaceValueInputs {
                ev: self.config.ticket_ev_wei,
                gas_price: self.gas.gas_price_wei(),
                redeem_gas: self.config.redeem_gas,
                tx_cost_multiplier: self.config.tx_cost_multiplier,
                max_float: self.monitor.max_float(sender)?,
                max_face_value: self.max_face_value(),
            },
        )
    }

    /// `face_value / tx_cost`, what `-autoAdjustPrice` uses (go-livepeer
    /// `pm/recipient.go:TxCostMultiplier`); zero when the gas price is zero.
    pub fn tx_cost_multiplier(&self, sender: Address) -> Result<U256, PmError> {
        let tx_cost = self
            .config
            .redeem_gas
            .saturating_mul(self.gas.gas_price_wei());
        if tx_cost.is_zero() {
            return Ok(U256::ZERO);
        }
        Ok(self.face_value(sender)? / tx_cost)
    }

    /// New ticket parameters for `sender` at `price` with a random seed (go-livepeer
    /// `pm/recipient.go:TicketParams`). Errors: [`PmError::InvalidPrice`],
    /// [`PmError::InsufficientSenderReserve`], chain or store errors from the max float.
    pub fn ticket_params(
        &self,
        sender: Address,
        price: PriceInfo,
    ) -> Result<TicketParams, PmError> {
        // go draws the seed from math/rand: it is public and only needs to be fresh.
        self.ticket_params_with_seed(
            sender,
            price,
            U256::from_be_bytes(rand::random::<[u8; 32]>()),
        )
    }

    /// [`Recipient::ticket_params`] with a given seed (for known answers).
    pub fn ticket_params_with_seed(
        &self,
        sender: Address,
        price: PriceInfo,
        seed: U256,
    ) -> Result<TicketParams, PmError> {
        let price = PricePerPixel::try_from(price)?;
        let (face_value, win_prob) = if price.is_zero() {
            (U256::ZERO, U256::ZERO)
        } else {
            let face = self.face_value(sender)?;
            (face, win_prob(self.config.ticket_ev_wei, face))
        };
        let expiration_params = self.expiration_params();
        let expiration_block = self
            .time
            .last_seen_l1_block()
            .saturating_add(U256::from(PARAMS_EXPIRATION_BLOCKS));
        let rand = self.recipient_rand(&RecipientRandInputs {
            seed,
            sender,
            face_value,
            win_prob,
            expiration_block,
            price,
            expiration_params,
        });
        Ok(TicketParams {
            recipient: self.config.address,
            face_value,
            win_prob,
            recipient_rand_hash: recipient_rand_hash(rand),
            seed,
            expiration_block,
            expiration_params,
        })
    }

    /// Validates one received ticket in go's order (pm.md §6.3) and returns what it earns.
    ///
    /// 1. derive recipientRand from `seed` and the ticket's fields;
    /// 2. sender not unlocking ([`PmError::SenderUnlocking`], fatal);
    /// 3. recipient is us ([`PmError::WrongRecipient`]), sender non-zero ([`PmError::ZeroSender`]),
    ///    commitment matches ([`PmError::RecipientRandHashMismatch`]), face value still covers a
    ///    redemption ([`PmError::InsufficientFaceValue`]) — all fatal — then the signature
    ///    ([`PmError::SignatureLength`], [`PmError::SignatureHighS`], …, non-fatal);
    /// 4. win check: a winner is committed to the [`TicketStore`] now, even if a later step fails;
    /// 5. nonce bookkeeping ([`PmError::NonceReplayed`], [`PmError::TooManyNonces`],
    ///    [`PmError::RecipientRandRevealed`], non-fatal);
    /// 6. parameters not expired ([`PmError::TicketParamsExpired`], non-fatal).
    ///
    /// A store failure is returned as [`PmError::Store`] (fatal: do not acknowledge).
    pub fn receive_ticket(
        &self,
        ticket: &Ticket,
        sig: &[u8],
        seed: U256,
    ) -> Result<ReceivedTicket, PmError> {
        let rand = self.check_params(ticket, seed)?;
        let (won, result) = self.receive_checked(ticket, sig, rand);
        result.map(|ticket_hash| ReceivedTicket {
            ticket_hash,
            won,
            ev: ticket.ev(),
        })
    }

    /// Steps 1 to 3a of [`Recipient::receive_ticket`], which depend only on what every ticket
    /// of a payment shares (parameters, sender): derives recipientRand and checks the sender
    /// and the bound fields. All failures are fatal.
    fn check_params(&self, ticket: &Ticket, seed: U256) -> Result<U256, PmError> {
        let rand = self.recipient_rand(&RecipientRandInputs::of_ticket(ticket, seed));
        self.monitor.validate_sender(ticket.sender)?;
        self.check_bound_fields(ticket, rand)?;
        Ok(rand)
    }

    /// Steps 3b to 6 of [`Recipient::receive_ticket`] for a ticket whose parameters passed
    /// [`Recipient::check_params`] with `rand`: whether it won (and was stored), and its hash
    /// or the first failure.
    fn receive_checked(
        &self,
        ticket: &Ticket,
        sig: &[u8],
        rand: U256,
    ) -> (bool, Result<B256, PmError>) {
        let (hash, winning) = match self.verify_and_draw(ticket, sig, rand) {
            Ok(checked) => checked,
            Err(e) => return (false, Err(e)),
        };
        let won = winning.is_some();
        if let Some(winning) = winning
            && let Err(e) = self.store.store_winning_ticket(&winning)
        {
            return (false, Err(e));
        }
        (won, self.record_nonce(ticket, rand).map(|()| hash))
    }

    /// Steps 3b and 4 without the store: the ticket's hash once its signature verifies, and the
    /// winning ticket to store if it won.
    fn verify_and_draw(
        &self,
        ticket: &Ticket,
        sig: &[u8],
        rand: U256,
    ) -> Result<(B256, Option<WinningTicket>), PmError> {
        let hash = ticket.hash();
        verify_signature(ticket.sender, &hash, sig)?;
        let winning = is_winning_ticket(sig, rand, ticket.win_prob).then(|| WinningTicket {
            ticket: ticket.clone(),
            sig: sig.to_vec(),
            recipient_rand: rand,
        });
        Ok((hash, winning))
    }

    /// Steps 5 and 6, after the winner (if any) is stored: nonce bookkeeping, then expiry.
    fn record_nonce(&self, ticket: &Ticket, rand: U256) -> Result<(), PmError> {
        self.update_sender_nonce(rand, ticket)?;
        let last_seen = self.time.last_seen_l1_block();
        if ticket.params_expiration_block <= last_seen {
            return Err(PmError::TicketParamsExpired {
                expiration_block: ticket.params_expiration_block,
                last_seen_block: last_seen,
            });
        }
        Ok(())
    }

    fn check_bound_fields(&self, ticket: &Ticket, rand: U256) -> Result<(), PmError> {
        if ticket.recipient != self.config.address {
            return Err(PmError::WrongRecipient {
                expected: self.config.address,
                got: ticket.recipient,
            });
        }
        if ticket.sender.is_zero() {
            return Err(PmError::ZeroSender);
        }
        if recipient_rand_hash(rand) != ticket.recipient_rand_hash {
            return Err(PmError::RecipientRandHashMismatch {
                recipient_rand_hash: ticket.recipient_rand_hash,
            });
        }
        if !ticket.face_value.is_zero() {
            let tx_cost = self
                .config
                .redeem_gas
                .saturating_mul(self.gas.gas_price_wei());
            let floor = self
                .config
                .redeem_gas
                .saturating_mul(U256::from(AVG_GAS_PRICE_WEI));
            let min_face_value = tx_cost.min(floor);
            if ticket.face_value < min_face_value {
                return Err(PmError::InsufficientFaceValue {
                    face_value: ticket.face_value,
                    min_face_value,
                });
            }
        }
        Ok(())
    }

    fn update_sender_nonce(&self, rand: U256, ticket: &Ticket) -> Result<(), PmError> {
        let mut nonces = self.nonces();
        let entry = nonces.entry(rand).or_insert_with(|| NonceEntry {
            seen: HashSet::new(),
            expiration_block: ticket.params_expiration_block,
            revealed: false,
        });
        if entry.revealed {
            return Err(PmError::RecipientRandRevealed {
                sender: ticket.sender,
            });
        }
        if entry.seen.contains(&ticket.sender_nonce) {
            return Err(PmError::NonceReplayed {
                sender: ticket.sender,
                nonce: ticket.sender_nonce,
            });
        }
        if entry.seen.len() >= MAX_SENDER_NONCES {
            return Err(PmError::TooManyNonces {
                sender: ticket.sender,
                nonce: ticket.sender_nonce,
                max: MAX_SENDER_NONCES,
            });
        }
        entry.seen.insert(ticket.sender_nonce);
        Ok(())
    }

    /// Marks a recipientRand as revealed (its winning ticket went to the chain): every later
    /// ticket made with it is refused with [`PmError::RecipientRandRevealed`]. Called by
    /// [`Recipient::redeem_ready`]; kept until the parameters expire.
    pub fn mark_revealed(&self, recipient_rand: U256, params_expiration_block: U256) {
        let mut nonces = self.nonces();
        nonces
            .entry(recipient_rand)
            .or_insert_with(|| NonceEntry {
                seen: HashSet::new(),
                expiration_block: params_expiration_block,
                revealed: false,
            })
            .revealed = true;
    }

    /// Forgets the nonces of parameters with `expiration_block <= latest_l1_block`; call on every
    /// new L1 block (go-livepeer `pm/recipient.go:senderNoncesCleanupLoop`). Returns how many
    /// recipientRands were dropped. Tickets on those parameters are refused as expired anyway.
    pub fn prune_sender_nonces(&self, latest_l1_block: U256) -> usize {
        let mut nonces = self.nonces();
        let before = nonces.len();
        nonces.retain(|_, e| e.expiration_block > latest_l1_block);
        before - nonces.len()
    }

    /// Number of recipientRands with nonce bookkeeping (for metrics).
    pub fn tracked_recipient_rands(&self) -> usize {
        self.nonces().len()
    }

    /// Receives every ticket of a payment (go-livepeer `core/orchestrator.go:ProcessPayment`).
    ///
    /// Fatal errors (see [`PmError::is_fatal`]) abort with `Err`: nothing may be credited and the
    /// payment is refused. A non-fatal error stops crediting from that ticket on but the rest are
    /// still received (nonces recorded, winners stored); it is returned in
    /// [`ReceivedPayment::error`]. Requires a sender when there are tickets
    /// ([`PmError::PaymentMissingField`]) and a valid expected price ([`PmError::InvalidPrice`]).
    pub fn receive_payment(&self, batch: &TicketBatch) -> Result<ReceivedPayment, PmError> {
        let mut out = ReceivedPayment {
            sender: batch.sender,
            session_id: batch.params.session_id(),
            credit: ExactWei::ZERO,
            accepted: 0,
            winners: Vec::new(),
            error: None,
        };
        if batch.sender_params.is_empty() {
            return Ok(out);
        }
        if batch.sender.is_zero() {
            return Err(PmError::PaymentMissingField { field: "sender" });
        }
        let price = PricePerPixel::try_from(batch.expected_price)?;
        let ev = batch.params.ev();
        // Parameters and sender are shared: derive recipientRand and check them once. Then
        // every signature is verified and every ticket drawn, the winners are stored in one
        // group commit (one fsync per payment), and only then are nonces recorded: a winner is
        // on disk before anything about its payment is acknowledged.
        let mut rand = None;
        let mut drawn = Vec::with_capacity(batch.sender_params.len());
        let mut winners = Vec::new();
        for sp in &batch.sender_params {
            let ticket = Ticket::new(
                &batch.params,
                batch.expiration_params,
                batch.sender,
                sp.sender_nonce,
                price,
            );
            let rand = match rand {
                Some(r) => r,
                None => *rand.insert(self.check_params(&ticket, batch.params.seed)?),
            };
            let checked = match self.verify_and_draw(&ticket, &sp.sig, rand) {
                Ok((hash, winning)) => {
                    let won = winning.is_some();
                    winners.extend(winning);
                    Ok((hash, won))
                }
                Err(e) if e.is_fatal() => return Err(e),
                Err(e) => Err(e),
            };
            drawn.push((ticket, rand, checked));
        }
        self.store.store_winning_tickets(&winners)?;
        for (ticket, rand, checked) in drawn {
            let result = checked.and_then(|(hash, won)| {
                if won {
                    out.winners.push(hash);
                }
                self.record_nonce(&ticket, rand)
            });
            match result {
                Ok(()) if out.error.is_none() => out.accepted += 1,
                Ok(()) => {}
                Err(e) if e.is_fatal() => return Err(e),
                Err(e) => {
                    if out.error.is_none() {
                        out.error = Some(e);
                    }
                }
            }
        }
        // Every ticket of a payment has the same EV: one multiplication instead of a sum.
        let accepted =
            u64::try_from(out.accepted).map_err(|_| PmError::Overflow { op: "ticket count" })?;
        out.credit = ev.checked_mul_u64(accepted)?;
        Ok(out)
    }

    /// Redeems the stored winners whose parameters expired (so revealing recipientRand is
    /// safe), oldest first per sender, after settling tickets past the validity period as
    /// expired (go-livepeer `pm/queue.go:handleBlockEvent` and
    /// `pm/sendermonitor.go:redeemWinningTicket`). Per ticket: mark its recipientRand revealed;
    /// settle as used if `usedTickets` says so; require `available funds > tx cost` and
    /// `face value > tx cost`; send the redemption. Final outcomes (redeemed, used, reverted, no
    /// block hash) settle the ticket; other errors leave it pending for a later block. Tickets
    /// whose recipient is not active are not skipped here: the chain refuses them.
    pub async fn redeem_ready<B: TicketBroker>(
        &self,
        broker: &B,
    ) -> Result<Vec<RedeemOutcome>, PmError> {
        let round = self.time.last_initialized_round();
        self.store.expire(round, TICKET_VALIDITY_PERIOD)?;
        let latest = self.time.last_seen_l1_block();
        let mut outcomes = Vec::new();
        for sender in self.store.senders_with_pending()? {
            for winning in self.store.pending_tickets(sender)? {
                if winning.ticket.params_expiration_block > latest {
                    continue;
                }
                let ticket_hash = winning.ticket_hash();
                let result = self.redeem_one(broker, &winning).await;
                let result = match result {
                    Ok(settlement) => self
                        .store
                        .settle(ticket_hash, settlement)
                        .map(|()| settlement),
                    Err(e) => {
                        let final_outcome = match &e {
                            PmError::TicketUsed { .. } => Some(Settlement::Used),
                            PmError::RedeemTxFailed { tx_hash } => {
                                Some(Settlement::TxFailed { tx_hash: *tx_hash })
                            }
                            PmError::CreationRoundWithoutBlockHash { .. } => {
                                Some(Settlement::NoBlockHash)
                            }
                            _ => None,
                        };
                        match final_outcome {
                            Some(s) => self.store.settle(ticket_hash, s).map(|()| s),
                            None => Err(e),
                        }
                    }
                };
                outcomes.push(RedeemOutcome {
                    ticket_hash,
                    sender: winning.ticket.sender,
                    face_value: winning.ticket.face_value,
                    result,
                });
            }
        }
        Ok(outcomes)
    }

    async fn redeem_one<B: TicketBroker>(
        &self,
        broker: &B,
        winning: &WinningTicket,
    ) -> Result<Settlement, PmError> {
        let ticket = &winning.ticket;
        self.mark_revealed(winning.recipient_rand, ticket.params_expiration_block);
        let ticket_hash = ticket.hash();
        if broker.is_used_ticket(ticket_hash).await? {
            return Err(PmError::TicketUsed { ticket_hash });
        }
        // Funds available to this ticket: everything pending except itself.
        let available = self
            .monitor
            .available_funds(ticket.sender)?
            .saturating_add(ticket.face_value);
        let tx_cost = self
            .config
            .redeem_gas
            .saturating_mul(self.gas.gas_price_wei());
        if available <= tx_cost {
            return Err(PmError::InsufficientFundsForRedeem { available, tx_cost });
        }
        if ticket.face_value <= tx_cost {
            return Err(PmError::FaceValueBelowRedeemCost {
                face_value: ticket.face_value,
                tx_cost,
            });
        }
        let tx_hash = broker
            .redeem_winning_ticket(ticket, &winning.sig, winning.recipient_rand)
            .await?;
        Ok(Settlement::Redeemed { tx_hash })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn win_prob_rule_table() {
        let m = MAX_WIN_PROB;
        let u = |n: u64| U256::from(n);
        // (ev, face value, expected)
        let cases = [
            (u(5), U256::ZERO, U256::ZERO),
            (u(5), u(5), m),
            (u(1), u(2), (m / u(2) + u(1))),
            (u(5), u(100_000_000), u(5) * (m / u(100_000_000) + u(1))),
            (u(5), u(10_001), u(5) * (m / u(10_001) + u(1))),
            (U256::from(1) << 255, (U256::from(1) << 255) + u(1), m),
        ];
        for (ev, fv, want) in cases {
            assert_eq!(win_prob(ev, fv), want, "ev {ev} face {fv}");
        }
        // The real EV is never below the configured one (pm.md §5.3).
        for fv in [
            7u64,
            10_001,
            777_000_000,
            100_000_000,
            12_000_000_000_000_000,
        ] {
            let ev = U256::from(5);
            let real = ExactWei::ticket_ev(U256::from(fv), win_prob(ev, U256::from(fv)));
            assert!(real >= ExactWei::from_wei(ev), "face {fv}");
            assert!(real < ExactWei::from_wei(ev + U256::from(1)), "face {fv}");
        }
    }

    #[test]
    fn face_value_rule_table() {
        let u = |n: u64| U256::from(n);
        let base = FaceValueInputs {
            ev: u(8_000_000_000),
            gas_price: u(100_000_000), // 0.1 gwei
            redeem_gas: u(1_200_000),
            tx_cost_multiplier: u(100),
            max_float: U256::MAX,
            max_face_value: U256::ZERO,
        };
        let sender = Address::repeat_byte(1);
        // pm.md §10: 1.2e6 gas × 0.1 gwei × 100 = 1.2e16.
        assert_eq!(
            face_value(sender, &base).expect("ok"),
            u(12_000_000_000_000_000)
        );
        // Gas price 0: tx cost 0 < EV, so EV × 100.
        let free_gas = FaceValueInputs {
            gas_price: U256::ZERO,
            ..base
        };
        assert_eq!(
            face_value(sender, &free_gas).expect("ok"),
            u(800_000_000_000)
        );
        // Capped by max float and by -maxFaceValue.
        let capped = FaceValueInputs {
            max_float: u(5_000_000_000_000_000),
            ..base
        };
        assert_eq!(
            face_value(sender, &capped).expect("ok"),
            u(5_000_000_000_000_000)
        );
        let capped = FaceValueInputs {
            max_face_value: u(4_000_000_000_000_000),
            ..base
        };
        assert_eq!(
            face_value(sender, &capped).expect("ok"),
            u(4_000_000_000_000_000)
        );
        // Max float below the EV: insufficient reserve.
        let poor = FaceValueInputs {
            max_float: u(1_000),
            ..base
        };
        assert!(matches!(
            face_value(sender, &poor),
            Err(PmError::InsufficientSenderReserve { .. })
        ));
        // Above the EV but below both the tx cost and redeemGas × 3 gwei.
        let expensive = FaceValueInputs {
            gas_price: u(10_000_000_000),
            max_float: u(1_000_000_000_000),
            ..base
        };
        assert!(matches!(
            face_value(sender, &expensive),
            Err(PmError::InsufficientSenderReserve { .. })
        ));
    }
}
