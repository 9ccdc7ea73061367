//! Being paid on chain: prices, ticket parameters in `OrchestratorInfo`, the
//! `Livepeer-Payment` header checked ticket by ticket, and balances per (gateway, session)
//! (pm.md §7.1; go-livepeer `core/orchestrator.go:ProcessPayment`, `priceInfo`,
//! `SufficientBalance`, `DebitFees`; `server/segment_rpc.go:ServeSegment`).
//!
//! Every call into the [`Recipient`] runs on tokio's blocking pool: winning tickets are
//! committed (fsynced) to the SQLite ticket store before a payment is acknowledged, and
//! ticket parameters read the pending winners to size the face value.
//!
//! One deliberate tightening of go-livepeer: go decides whether a segment must be paid for
//! from the price the gateway *claims* (`Payment.expected_price`), so a gateway that claims a
//! price of zero and sends no tickets is served free. Here the price that decides the balance
//! check and the debit is the session's fixed price when a paid ticket set it (a ticket only
//! validates with the price it was issued at, since the price is inside recipientRand's HMAC),
//! else this orchestrator's own price for that gateway.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use alloy_primitives::{Address, U256};
use livepeer_pm::payment::{price_to_net, ticket_params_to_net};
use livepeer_pm::{
    Balances, ExactWei, LocalSigner, PriceInfo, PricePerPixel, Recipient, TicketBatch,
};
use livepeer_proto::net;
use tracing::{debug, warn};

use crate::OrchestratorError;

/// Balances (and fixed session prices) not updated for this long are dropped (go-livepeer
/// `core/accounting.go:cleanupInterval`).
pub const BALANCE_IDLE_TIMEOUT: Duration = livepeer_pm::balance::BALANCE_IDLE_TIMEOUT;

/// Scale of go-livepeer's price rounding (`common.PriceToFixed`): prices per pixel are rounded
/// down to 1/1000 wei.
pub const PRICE_SCALE: u64 = 1000;

/// A boxed future, for the object-safe [`PaymentChain`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What the payment path needs from the chain beyond the [`Recipient`]'s own sources: the
/// orchestrator's standing in the current round, and gateways' TicketBroker accounts loaded
/// into the cache the recipient reads.
pub trait PaymentChain: Send + Sync + 'static {
    /// Whether `orchestrator` is in the active set of the current round (go-livepeer
    /// `core/orchestrator.go:isActive`).
    fn is_active(&self, orchestrator: Address) -> bool;
    /// The last initialized round, for messages.
    fn current_round(&self) -> u64;
    /// Makes `sender`'s deposit and reserve readable through the recipient's
    /// `SenderInfoSource` (go-livepeer's sender watcher fetches a sender on first sight).
    /// Errors: the chain could not be read; the text is logged and the request refused.
    fn prepare_sender(&self, sender: Address) -> BoxFuture<'_, Result<(), String>>;
}

/// Prices per pixel this orchestrator asks (`-pricePerUnit`/`-pixelsPerUnit`,
/// `-pricePerGateway`, `-autoAdjustPrice`).
#[derive(Debug, Clone, Default)]
pub struct Pricing {
    /// The base transcoding price in wei per `pixels_per_unit` pixels.
    pub base: PriceInfo,
    /// Per-gateway prices, overriding the base (go keys them by lower-cased address).
    pub per_gateway: HashMap<Address, PriceInfo>,
    /// Multiply a non-zero price by `1 + 1/txCostMultiplier` (go `-autoAdjustPrice`, on by
    /// default there): a 1 % markup with the default face value.
    pub auto_adjust: bool,
}

/// Everything an orchestrator needs to be paid.
#[derive(Clone)]
pub struct PaymentConfig {
    /// Issues ticket parameters and validates tickets; its address is the orchestrator's.
    pub recipient: Arc<Recipient>,
    /// The orchestrator's key: signs `Ping` answers and `TranscodeData.sig`.
    pub signer: Arc<LocalSigner>,
    /// What it charges.
    pub pricing: Pricing,
    /// Round standing and sender accounts.
    pub chain: Arc<dyn PaymentChain>,
}

impl std::fmt::Debug for PaymentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentConfig")
            .field("address", &self.signer.address())
            .field("pricing", &self.pricing)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct FixedPrice {
    price: PriceInfo,
    updated: Instant,
}

/// What an orchestrator has been paid so far (all gateways together).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentStats {
    /// Tickets accepted (credited).
    pub tickets_received: u64,
    /// Winning tickets stored for redemption.
    pub winners: u64,
    /// Payments refused (bad tickets, inactive, insufficient balance).
    pub payments_refused: u64,
    /// Segments charged for.
    pub segments_paid: u64,
    /// Fees charged (output pixels × price), wei (rounded down).
    pub fees_wei: U256,
}

#[derive(Debug, Default)]
struct Counters {
    stats: PaymentStats,
    fees: ExactWei,
}

/// How long a price from the `-authWebhookUrl` answer holds for its gateway: go-livepeer's
/// `discoveryAuthWebhookCache` keeps it for `authTokenValidPeriod`, 30 minutes.
pub const WEBHOOK_PRICE_VALIDITY: Duration = crate::auth::AUTH_TOKEN_VALIDITY;

/// The payment state of a running orchestrator.
#[derive(Debug)]
pub(crate) struct Payments {
    config: PaymentConfig,
    /// The prices asked now: the configured ones, changed at run time through the CLI API.
    pricing: RwLock<Pricing>,
    /// Prices the `-authWebhookUrl` answered per gateway, and when.
    webhook_prices: Mutex<HashMap<Address, (PriceInfo, Instant)>>,
    balances: Balances,
    counters: Mutex<Counters>,
    /// The price of each (gateway, session) once its first paid ticket arrived.
    fixed: Mutex<HashMap<(Address, String), FixedPrice>>,
    /// `-monitor`: tickets received, refusals, prices offered.
    metrics: Option<livepeer_monitor::Metrics>,
}

impl Payments {
    pub(crate) fn new(config: PaymentConfig, metrics: Option<livepeer_monitor::Metrics>) -> Self {
        Self {
            pricing: RwLock::new(config.pricing.clone()),
            webhook_prices: Mutex::new(HashMap::new()),
            config,
            metrics,
            balances: Balances::new(),
            fixed: Mutex::new(HashMap::new()),
            counters: Mutex::new(Counters::default()),
        }
    }

    fn counters(&self) -> MutexGuard<'_, Counters> {
        match self.counters.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Totals so far.
    pub(crate) fn stats(&self) -> PaymentStats {
        let c = self.counters();
        let mut stats = c.stats;
        stats.fees_wei = c.fees.floor_wei().map(|(_, w)| w).unwrap_or_default();
        stats
    }

    /// Counts a refused payment (its error is answered by the caller).
    pub(crate) fn refused(&self) {
        self.counters().stats.payments_refused += 1;
    }

    fn fixed(&self) -> MutexGuard<'_, HashMap<(Address, String), FixedPrice>> {
        match self.fixed.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The orchestrator's ETH address (tickets must name it).
    pub(crate) fn address(&self) -> Address {
        self.config.recipient.config().address
    }

    pub(crate) fn signer(&self) -> &LocalSigner {
        &self.config.signer
    }

    /// The base price (`-pricePerUnit`/`-pixelsPerUnit`), before per-gateway prices and
    /// adjustment.
    pub(crate) fn base_price(&self) -> PriceInfo {
        self.pricing().base
    }

    fn pricing(&self) -> std::sync::RwLockReadGuard<'_, Pricing> {
        self.pricing.read().unwrap_or_else(|p| p.into_inner())
    }

    fn pricing_mut(&self) -> std::sync::RwLockWriteGuard<'_, Pricing> {
        self.pricing.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the base price (go-livepeer `SetBasePrice("default", …)`): new sessions and
    /// `OrchestratorInfo` answers get it; sessions whose price a paid ticket fixed keep theirs.
    pub(crate) fn set_base_price(&self, price: PriceInfo) {
        self.pricing_mut().base = price;
    }

    /// Sets `gateway`'s own price, over the base price (go-livepeer `SetBasePrice(addr, …)`,
    /// `-pricePerGateway`).
    pub(crate) fn set_gateway_price(&self, gateway: Address, price: PriceInfo) {
        self.pricing_mut().per_gateway.insert(gateway, price);
    }

    /// The price `gateway` has of its own, if any.
    pub(crate) fn gateway_price(&self, gateway: Address) -> Option<PriceInfo> {
        self.pricing().per_gateway.get(&gateway).copied()
    }

    /// Keeps the price the `-authWebhookUrl` answered for `gateway`; it wins over every other
    /// price but a session's fixed one for [`WEBHOOK_PRICE_VALIDITY`] (go-livepeer
    /// `server/rpc.go:getPriceInfo`, which sends it as is, without `-autoAdjustPrice`).
    pub(crate) fn set_webhook_price(&self, gateway: Address, price: PriceInfo, now: Instant) {
        let mut prices = self
            .webhook_prices
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        prices.retain(|_, (_, at)| now.saturating_duration_since(*at) < WEBHOOK_PRICE_VALIDITY);
        prices.insert(gateway, (price, now));
    }

    fn webhook_price(&self, gateway: Address) -> Option<PriceInfo> {
        let prices = self
            .webhook_prices
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        prices
            .get(&gateway)
            .filter(|(_, at)| at.elapsed() < WEBHOOK_PRICE_VALIDITY)
            .map(|(price, _)| *price)
    }

    /// Sets the tickets' `-maxFaceValue`, wei (zero: no cap).
    pub(crate) fn set_max_face_value(&self, wei: U256) {
        self.config.recipient.set_max_face_value(wei);
    }

    /// The price fixed for `sender`'s `session` by its first paid ticket, if any (go-livepeer
    /// `Balances.FixedPrice`).
    pub(crate) fn fixed_price_of(&self, sender: Address, session: &str) -> Option<PriceInfo> {
        self.fixed()
            .get(&(sender, session.to_owned()))
            .map(|f| f.price)
    }

    /// The price for `sender`'s `session` (go-livepeer `core/orchestrator.go:priceInfo`): the
    /// session's fixed price if set; else the price the auth webhook answered for the gateway
    /// (as is); else the gateway's own price or the base price, marked up
    /// when `-autoAdjustPrice` is on, rounded down to 1/1000 wei per pixel and reduced.
    pub(crate) fn price_for(&self, sender: Address, session: Option<&str>) -> PriceInfo {
        if let Some(session) = session
            && let Some(fixed) = self.fixed().get(&(sender, session.to_owned()))
        {
            return fixed.price;
        }
        if let Some(price) = self.webhook_price(sender) {
            return price;
        }
        let (price, auto_adjust) = {
            let pricing = self.pricing();
            let price = pricing
                .per_gateway
                .get(&sender)
                .copied()
                .unwrap_or(pricing.base);
            (price, pricing.auto_adjust)
        };
        let multiplier = if auto_adjust && price.price_per_unit > 0 {
            match self.config.recipient.tx_cost_multiplier(sender) {
                Ok(m) => m,
                Err(err) => {
                    debug!(%err, %sender, "no price adjustment");
                    U256::ZERO
                }
            }
        } else {
            U256::ZERO
        };
        fixed_price(price, multiplier)
    }

    /// Fresh ticket parameters and the price for `sender` (`OrchestratorInfo` fields 2 and 3).
    ///
    /// Errors (500 on `/segment`, go "Error updating orchestrator info"):
    /// [`OrchestratorError::TicketParams`] when the sender's account cannot be read or its
    /// reserve cannot back a ticket.
    /// `price` replaces the transcoding price (an AI job's price, see `crate::ai`).
    pub(crate) async fn ticket_info(
        &self,
        sender: Address,
        session: Option<&str>,
        price: Option<PriceInfo>,
    ) -> Result<(net::TicketParams, net::PriceInfo), OrchestratorError> {
        self.config
            .chain
            .prepare_sender(sender)
            .await
            .map_err(|e| OrchestratorError::TicketParams(format!("sender {sender}: {e}")))?;
        let price = price.unwrap_or_else(|| self.price_for(sender, session));
        if let Some(m) = &self.metrics
            && let Ok(p) = PricePerPixel::try_from(price)
        {
            m.set_transcoding_price(&sender.to_checksum(None), p.num() as f64 / p.den() as f64);
        }
        let recipient = self.config.recipient.clone();
        let with_float = self.metrics.is_some();
        let (params, max_float) = tokio::task::spawn_blocking(move || {
            let params = recipient.ticket_params(sender, price)?;
            let max_float = with_float
                .then(|| recipient.max_float(sender).ok())
                .flatten();
            Ok::<_, livepeer_pm::PmError>((params, max_float))
        })
        .await
        .map_err(|_| OrchestratorError::Internal("ticket parameters task failed"))?
        .map_err(|e| OrchestratorError::TicketParams(e.to_string()))?;
        // go-livepeer `pm/recipient.go`: the sender's max float and the face value offered.
        if let (Some(m), Some(max_float)) = (&self.metrics, max_float) {
            m.set_max_float(
                &sender.to_checksum(None),
                f64::from(max_float),
                Some(f64::from(params.face_value)),
            );
        }
        Ok((ticket_params_to_net(&params, true), price_to_net(&price)))
    }

    /// Receives the tickets of a payment for `session` (go-livepeer
    /// `core/orchestrator.go:ProcessPayment`): the orchestrator must be active this round, the
    /// sender present and the expected price valid; each ticket is validated in pm.md §6.3's
    /// order, the EV of the accepted ones is credited to (sender, session), and winners are on
    /// disk before this returns. A payment without ticket parameters credits nothing.
    ///
    /// Errors (400): [`OrchestratorError::PaymentRefused`] with go's texts.
    pub(crate) async fn process_payment(
        &self,
        batch: TicketBatch,
        session: &str,
    ) -> Result<(), OrchestratorError> {
        if batch.sender_params.is_empty() && batch.params.recipient.is_zero() {
            return Ok(());
        }
        if batch.sender.is_zero() {
            return Err(OrchestratorError::PaymentRefused(
                "Could not find Sender for payment".into(),
            ));
        }
        let me = self.address();
        if !self.config.chain.is_active(me) {
            return Err(OrchestratorError::PaymentRefused(format!(
                "orchestrator {} is inactive in round {}, cannot process payments",
                me.to_checksum(None),
                self.config.chain.current_round()
            )));
        }
        PricePerPixel::try_from(batch.expected_price)
            .map_err(|_| OrchestratorError::PaymentRefused("missing expected price".into()))?;
        self.config
            .chain
            .prepare_sender(batch.sender)
            .await
            .map_err(|e| {
                OrchestratorError::PaymentRefused(format!("sender {}: {e}", batch.sender))
            })?;
        let sender = batch.sender;
        let expected_price = batch.expected_price;
        let recipient = self.config.recipient.clone();
        let received = tokio::task::spawn_blocking(move || recipient.receive_payment(&batch))
            .await
            .map_err(|_| OrchestratorError::Internal("payment task failed"))?
            .map_err(|e| {
                if let Some(m) = &self.metrics {
                    m.payment_recv_error(session, &sender.to_checksum(None), &e.to_string());
                }
                OrchestratorError::PaymentRefused(e.to_string())
            })?;
        {
            let mut c = self.counters();
            c.stats.tickets_received += received.accepted as u64;
            c.stats.winners += received.winners.len() as u64;
        }
        if let Some(m) = &self.metrics {
            let sender = sender.to_checksum(None);
            if let Some(err) = &received.error {
                m.payment_recv_error(session, &sender, &err.to_string());
            }
            m.tickets_received(
                session,
                &sender,
                received.accepted as u64,
                received
                    .credit
                    .floor_wei()
                    .map_or(0.0, |(_, wei)| f64::from(wei)),
                received.winners.len() as u64,
            );
        }
        // The first paid ticket fixes the session's price.
        if received.accepted > 0 {
            self.fixed()
                .entry((sender, session.to_owned()))
                .or_insert(FixedPrice {
                    price: expected_price,
                    updated: Instant::now(),
                })
                .updated = Instant::now();
        }
        let balance = self
            .balances
            .credit(sender, session, received.credit)
            .map_err(|e| OrchestratorError::PaymentRefused(e.to_string()))?;
        debug!(
            %sender,
            session,
            tickets = received.accepted,
            winners = received.winners.len(),
            %balance,
            "payment received"
        );
        match received.error {
            Some(err) => {
                warn!(%sender, %err, "payment partly refused");
                Err(OrchestratorError::PaymentRefused(err.to_string()))
            }
            None => Ok(()),
        }
    }

    /// Refuses work that is not paid for: with a non-zero price the session's balance must be
    /// at least one ticket EV (`-ticketEV`; go `SufficientBalance`).
    ///
    /// Errors (400): [`OrchestratorError::InsufficientBalance`].
    pub(crate) fn require_balance(
        &self,
        sender: Address,
        session: &str,
    ) -> Result<(), OrchestratorError> {
        if self.price_for(sender, Some(session)).price_per_unit <= 0 {
            return Ok(());
        }
        let ev = ExactWei::from_wei(self.config.recipient.config().ticket_ev_wei);
        if self.balances.sufficient_balance(sender, session, ev) {
            Ok(())
        } else {
            Err(OrchestratorError::InsufficientBalance)
        }
    }

    /// Refuses an AI request that is not paid for: the balance of (sender, `session`) must be
    /// at least one ticket EV (go `SufficientBalance`, asked when the payment's expected price
    /// is not zero).
    ///
    /// Errors (400): [`OrchestratorError::InsufficientBalance`].
    pub(crate) fn require_balance_at(
        &self,
        sender: Address,
        session: &str,
    ) -> Result<(), OrchestratorError> {
        let ev = ExactWei::from_wei(self.config.recipient.config().ticket_ev_wei);
        if self.balances.sufficient_balance(sender, session, ev) {
            Ok(())
        } else {
            Err(OrchestratorError::InsufficientBalance)
        }
    }

    /// Charges `pixels` output pixels at the session's price (go `DebitFees`); returns the new
    /// balance, which may be negative.
    pub(crate) fn debit(&self, sender: Address, session: &str, pixels: u64) -> Option<ExactWei> {
        self.debit_at(
            sender,
            session,
            pixels,
            self.price_for(sender, Some(session)),
        )
    }

    /// Charges `units` at `price` (an AI request: the payment's expected price, as go's
    /// `DebitFees(sender, manifestID, payment.GetExpectedPrice(), outPixels)`).
    pub(crate) fn debit_at(
        &self,
        sender: Address,
        session: &str,
        units: u64,
        price: PriceInfo,
    ) -> Option<ExactWei> {
        let pixels = units;
        let fee = fee_at(units, price)?;
        {
            let mut c = self.counters();
            c.stats.segments_paid += 1;
            if let Ok(total) = c.fees.checked_add(fee) {
                c.fees = total;
            }
        }
        match self.balances.debit(sender, session, fee) {
            Ok(balance) => {
                debug!(%sender, session, pixels, %fee, %balance, "fees debited");
                Some(balance)
            }
            Err(err) => {
                warn!(%sender, session, %err, "cannot debit fees");
                None
            }
        }
    }

    /// The balance of (`sender`, `session`) now, exact; `None` when it has none (never paid,
    /// or evicted).
    pub(crate) fn balance_at(&self, sender: Address, session: &str) -> Option<ExactWei> {
        self.balances.balance(sender, session)
    }

    /// Drops balances and fixed prices idle for [`BALANCE_IDLE_TIMEOUT`].
    pub(crate) fn evict_idle(&self, now: Instant) {
        self.balances.evict_idle(now, BALANCE_IDLE_TIMEOUT);
        self.fixed()
            .retain(|_, f| now.saturating_duration_since(f.updated) < BALANCE_IDLE_TIMEOUT);
    }
}

/// The fee for `units` at `price` (wei per `pixels_per_unit` units), exact; `None` for a
/// price that is not one (zero pixels per unit) or an overflow.
pub(crate) fn fee_at(units: u64, price: PriceInfo) -> Option<ExactWei> {
    PricePerPixel::try_from(price).ok()?.fee(units).ok()
}

/// go-livepeer's price steps 3–5 (wire-and-network.md §8): multiply by `1 + 1/multiplier` when
/// `multiplier` is non-zero, round down to 1/[`PRICE_SCALE`] wei per pixel, reduce. A price the
/// rounding takes to zero stays at its unrounded value (go would advertise 0 and work for
/// free); an invalid one is returned unchanged.
pub fn fixed_price(price: PriceInfo, multiplier: U256) -> PriceInfo {
    let (Ok(num), Ok(den)) = (
        u64::try_from(price.price_per_unit),
        u64::try_from(price.pixels_per_unit),
    ) else {
        return price;
    };
    if den == 0 || num == 0 {
        return price;
    }
    // scaled = floor(num × (m + 1) × 1000 / (den × m)), or floor(num × 1000 / den).
    let (top, bottom) = if multiplier.is_zero() {
        (U256::from(num), U256::from(den))
    } else {
        (
            U256::from(num).saturating_mul(multiplier.saturating_add(U256::from(1))),
            U256::from(den).saturating_mul(multiplier),
        )
    };
    let scaled = top.saturating_mul(U256::from(PRICE_SCALE)) / bottom;
    if scaled.is_zero() {
        return price;
    }
    let Ok(scaled) = u64::try_from(scaled) else {
        return price;
    };
    match PricePerPixel::new(scaled, PRICE_SCALE) {
        Ok(p) => match (i64::try_from(p.num()), i64::try_from(p.den())) {
            (Ok(n), Ok(d)) => PriceInfo::new(n, d),
            _ => price,
        },
        Err(_) => price,
    }
}

/// The orchestrator's answer to `Ping`: its signature over keccak256(value).
pub(crate) fn sign_ping(signer: &LocalSigner, value: &[u8]) -> Vec<u8> {
    signer
        .sign(&livepeer_proto::signing::ping_hash(value))
        .to_vec()
}

/// Parses `-pricePerGateway` as go-livepeer takes it:
/// `{"gateways":[{"ethaddress":"0x…","priceperunit":1000,"pixelsperunit":1}]}` (prices in wei;
/// go also accepts a `currency`, which must be absent or `WEI` here). The deprecated
/// `broadcasters` list is read too, as go-livepeer `getGatewayPrices` does.
///
/// Errors: a line naming what is wrong.
pub fn parse_price_per_gateway(json: &str) -> Result<HashMap<Address, PriceInfo>, String> {
    #[derive(serde::Deserialize)]
    struct Entry {
        ethaddress: String,
        priceperunit: serde_json::Value,
        #[serde(default = "one")]
        pixelsperunit: serde_json::Value,
        #[serde(default)]
        currency: Option<String>,
    }
    fn one() -> serde_json::Value {
        serde_json::Value::from(1)
    }
    #[derive(serde::Deserialize)]
    struct Doc {
        gateways: Option<Vec<Entry>>,
        /// go-livepeer's deprecated name of `gateways`; both lists are read, this one first.
        broadcasters: Option<Vec<Entry>>,
    }
    let doc: Doc = serde_json::from_str(json).map_err(|e| format!("not valid JSON: {e}"))?;
    if doc.gateways.is_none() && doc.broadcasters.is_none() {
        return Err("no \"gateways\" list".into());
    }
    let entries = doc
        .broadcasters
        .into_iter()
        .flatten()
        .chain(doc.gateways.into_iter().flatten());
    let int = |v: &serde_json::Value, what: &str| -> Result<i64, String> {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .filter(|n| *n >= 0)
            .ok_or_else(|| format!("{what} {v} is not a non-negative integer"))
    };
    let mut out = HashMap::new();
    for e in entries {
        let address: Address = e
            .ethaddress
            .parse()
            .map_err(|_| format!("{:?} is not an address", e.ethaddress))?;
        if let Some(c) = e.currency.as_deref()
            && !c.eq_ignore_ascii_case("wei")
        {
            return Err(format!("currency {c:?} is not supported yet (only WEI)"));
        }
        let pixels = int(&e.pixelsperunit, "pixelsperunit")?;
        if pixels == 0 {
            return Err("pixelsperunit must be positive".into());
        }
        out.insert(
            address,
            PriceInfo::new(int(&e.priceperunit, "priceperunit")?, pixels),
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_rounded_to_a_thousandth_and_marked_up() {
        let cases = [
            // (price, multiplier, expected)
            (PriceInfo::new(1200, 1), 0u64, PriceInfo::new(1200, 1)),
            (PriceInfo::new(1, 3), 0, PriceInfo::new(333, 1000)),
            (PriceInfo::new(1000, 10), 0, PriceInfo::new(100, 1)),
            // 1 % markup with the default multiplier of 100.
            (PriceInfo::new(1000, 1), 100, PriceInfo::new(1010, 1)),
            (PriceInfo::new(1, 1), 100, PriceInfo::new(101, 100)),
            // Zero and invalid prices pass through.
            (PriceInfo::new(0, 1), 100, PriceInfo::new(0, 1)),
            (PriceInfo::new(5, 0), 0, PriceInfo::new(5, 0)),
            // Rounding would give zero: keep the exact price.
            (PriceInfo::new(1, 10_000), 0, PriceInfo::new(1, 10_000)),
        ];
        for (price, m, want) in cases {
            assert_eq!(fixed_price(price, U256::from(m)), want, "{price:?} × {m}");
        }
    }

    #[test]
    fn price_per_gateway_json() {
        let a = "0x00000000000000000000000000000000000000aa";
        let map = parse_price_per_gateway(&format!(
            r#"{{"gateways":[{{"ethaddress":"{a}","priceperunit":500,"pixelsperunit":"2"}}]}}"#
        ))
        .expect("valid");
        assert_eq!(
            map.get(&a.parse::<Address>().expect("address")),
            Some(&PriceInfo::new(500, 2))
        );
        let b = "0x00000000000000000000000000000000000000bb";
        let map = parse_price_per_gateway(&format!(
            r#"{{"broadcasters":[{{"ethaddress":"{b}","priceperunit":7}}],"gateways":[{{"ethaddress":"{a}","priceperunit":9}}]}}"#
        ))
        .expect("valid");
        assert_eq!(
            map.get(&b.parse::<Address>().expect("address")),
            Some(&PriceInfo::new(7, 1))
        );
        assert_eq!(
            map.get(&a.parse::<Address>().expect("address")),
            Some(&PriceInfo::new(9, 1))
        );
        for bad in [
            "{}",
            r#"{"gateways":[{"ethaddress":"nope","priceperunit":1}]}"#,
            r#"{"gateways":[{"ethaddress":"0x00000000000000000000000000000000000000aa","priceperunit":-1}]}"#,
            r#"{"gateways":[{"ethaddress":"0x00000000000000000000000000000000000000aa","priceperunit":1,"pixelsperunit":0}]}"#,
            r#"{"gateways":[{"ethaddress":"0x00000000000000000000000000000000000000aa","priceperunit":1,"currency":"USD"}]}"#,
        ] {
            assert!(parse_price_per_gateway(bad).is_err(), "{bad}");
        }
    }
}
