//! Paying on chain: signed requests and segment credentials, the fee estimate per segment,
//! tickets for what the balance lacks, and the balance per (orchestrator, session) after the
//! result (pm.md §7.2; go-livepeer `server/segment_rpc.go:estimateFee`, `newBalanceUpdate`,
//! `genPayment`, `completeBalanceUpdate`; `server/broadcast.go:validatePrice`).

use std::sync::Arc;

use alloy_primitives::{Address, U256};
use livepeer_pm::payment::{encode_payment_header, price_from_net, ticket_params_from_net};
use livepeer_pm::{
    Balances, ExactWei, LocalSigner, PmError, PriceInfo, PricePerPixel, Sender, StagedUpdate,
    TicketParams, TimeSource, UpdateOutcome,
};
use livepeer_primitives::profile::VideoProfile;
use livepeer_proto::net;
use std::time::Duration;

use crate::GatewayError;
use crate::pool::{OrchestratorCache, OrchestratorPool};
use crate::selection::SelectionConfig;

/// The fee estimate's margin over the pixels the ladder should produce: 2 % (go-livepeer
/// `server/segment_rpc.go:estimateFee`, `outPixels * 1.02`).
pub const FEE_MARGIN_PERCENT: u64 = 102;
/// The frame rate assumed for a profile that passes the source's through (go-livepeer
/// `estimateFee`).
pub const PASSTHROUGH_FPS: u64 = 60;

/// What a gateway needs to pay: the ticket sender (its signer is the gateway's account) and
/// the key that signs requests and segment credentials.
#[derive(Clone)]
pub struct PaymentConfig {
    /// Signs tickets; reads the gateway's deposit and reserve and the chain's rounds.
    pub sender: Arc<Sender>,
    /// The gateway's key (the same account as the sender's).
    pub signer: Arc<LocalSigner>,
    /// Rounds and blocks, to see when a session's parameters expire.
    pub time: Arc<dyn TimeSource>,
    /// Where orchestrators come from when no `-orchAddr` is given: the on-chain pool.
    pub pool: Option<Arc<dyn OrchestratorPool>>,
    /// The rows of earlier pool walks (`<dataDir>/orchestrators.sqlite3`), used when a walk
    /// fails.
    pub cache: Option<Arc<OrchestratorCache>>,
    /// go-livepeer's probability selection among the pool's candidates, with the max price.
    pub selection: SelectionConfig,
}

impl std::fmt::Debug for PaymentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentConfig")
            .field("address", &self.signer.address())
            .finish_non_exhaustive()
    }
}

/// The payment side of one orchestrator session: its address, the ticket parameters and
/// price it last sent, the first price, and the pm session those parameters opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTerms {
    /// The orchestrator's ETH address (`OrchestratorInfo.address`, else the params' recipient).
    pub recipient: Address,
    /// Its current ticket parameters.
    pub params: TicketParams,
    /// The price those parameters came with.
    pub price: PriceInfo,
    /// The price when the session started; a later price above
    /// [`crate::price::PRICE_INCREASE_THRESHOLD`] × this is refused.
    pub initial_price: PriceInfo,
    /// The [`Sender`] session id (recipientRandHash hex) of `params`.
    pub pm_session: String,
}

/// What a gateway has paid so far (all orchestrators together).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentStats {
    /// Tickets signed and sent.
    pub tickets_sent: u64,
    /// Their expected value, wei (rounded down).
    pub ev_sent_wei: U256,
    /// Segments paid for (results received from a paid session).
    pub segments_paid: u64,
    /// Fees the orchestrators charged for them (output pixels × price), wei (rounded down).
    pub fees_wei: U256,
}

/// The payment state of a running gateway.
#[derive(Debug)]
pub(crate) struct Payments {
    config: PaymentConfig,
    balances: Balances,
    stats: std::sync::Mutex<(PaymentStats, ExactWei, ExactWei)>,
}

/// Tickets staged for one segment.
#[derive(Debug)]
pub(crate) struct StagedPayment {
    /// The `Livepeer-Payment` header value.
    pub(crate) header: String,
    /// Tickets in it.
    pub(crate) tickets: u64,
    /// EV of one of them.
    ev: ExactWei,
    update: StagedUpdate,
    recipient: Address,
    session: String,
}

impl StagedPayment {
    /// The tickets' expected value together, wei (for `livepeer_ticket_value_sent`).
    pub(crate) fn value_wei(&self) -> f64 {
        self.ev
            .checked_mul_u64(self.tickets)
            .and_then(|ev| ev.floor_wei())
            .map_or(0.0, |(_, wei)| f64::from(wei))
    }
}

impl Payments {
    pub(crate) fn new(config: PaymentConfig) -> Self {
        Self {
            config,
            balances: Balances::new(),
            stats: std::sync::Mutex::new((PaymentStats::default(), ExactWei::ZERO, ExactWei::ZERO)),
        }
    }

    /// Totals so far.
    pub(crate) fn stats(&self) -> PaymentStats {
        let guard = match self.stats.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let (mut stats, ev, fees) = *guard;
        stats.ev_sent_wei = ev.floor_wei().map(|(_, w)| w).unwrap_or_default();
        stats.fees_wei = fees.floor_wei().map(|(_, w)| w).unwrap_or_default();
        stats
    }

    fn record(&self, tickets: u64, ev: ExactWei, fee: Option<ExactWei>) {
        let mut guard = match self.stats.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        guard.0.tickets_sent += tickets;
        if let Ok(total) = ev
            .checked_mul_u64(tickets)
            .and_then(|e| guard.1.checked_add(e))
        {
            guard.1 = total;
        }
        if let Some(fee) = fee {
            guard.0.segments_paid += 1;
            if let Ok(total) = guard.2.checked_add(fee) {
                guard.2 = total;
            }
        }
    }

    /// The configuration.
    pub(crate) fn config(&self) -> &PaymentConfig {
        &self.config
    }

    /// The gateway's address.
    pub(crate) fn address(&self) -> Address {
        self.config.signer.address()
    }

    /// A `GetOrchestrator` request signed as go-livepeer's (`OrchestratorRequest.address` and
    /// `sig` over keccak256 of the EIP-55 address string).
    pub(crate) fn sign_request(&self, request: &mut net::OrchestratorRequest) {
        let address = self.address();
        request.address = address.to_vec();
        request.sig = self
            .config
            .signer
            .sign(&livepeer_proto::signing::orchestrator_request_hash(address))
            .to_vec();
    }

    /// Signs segment credentials (`SegData.sig`).
    pub(crate) fn sign_segment(&self, seg: &mut net::SegData) {
        let hash = livepeer_proto::signing::seg_data_hash(
            seg,
            livepeer_proto::signing::seg_data_profile_names(seg),
        );
        seg.sig = self.config.signer.sign(&hash).to_vec();
    }

    /// The terms an `OrchestratorInfo` offers, a new pm session opened on its parameters.
    /// `previous` is the session's terms so far: its first price carries over, and a price
    /// above [`crate::price::PRICE_INCREASE_THRESHOLD`] times it is refused.
    ///
    /// Errors: [`GatewayError::BadOrchestratorInfo`] without ticket parameters or a valid
    /// price; [`GatewayError::PriceIncreased`].
    pub(crate) fn terms(
        &self,
        addr: &str,
        info: &net::OrchestratorInfo,
        previous: Option<&SessionTerms>,
    ) -> Result<SessionTerms, GatewayError> {
        let bad = |reason: String| GatewayError::BadOrchestratorInfo {
            addr: addr.to_string(),
            reason,
        };
        let params = info
            .ticket_params
            .as_ref()
            .ok_or_else(|| bad("no ticket parameters".into()))?;
        let params = ticket_params_from_net(params).map_err(|e| bad(e.to_string()))?;
        let initial = previous
            .map(|p| PricePerPixel::try_from(p.initial_price))
            .transpose()
            .map_err(|e| bad(e.to_string()))?;
        crate::price::validate_price(addr, info.price_info.as_ref(), initial).map_err(
            |e| match e {
                e @ GatewayError::PriceIncreased { .. } => e,
                other => bad(other.to_string()),
            },
        )?;
        let price = info
            .price_info
            .as_ref()
            .map(price_from_net)
            .ok_or_else(|| bad("no price".into()))?;
        let initial_price = previous.map_or(price, |p| p.initial_price);
        let recipient = Address::try_from(info.address.as_slice()).unwrap_or(params.recipient);
        if let Some(old) = previous {
            self.config.sender.end_session(&old.pm_session);
        }
        let pm_session = self
            .config
            .sender
            .start_session(params.clone(), price)
            .map_err(|e| bad(e.to_string()))?;
        Ok(SessionTerms {
            recipient,
            params,
            price,
            initial_price,
            pm_session,
        })
    }

    /// Checks `info`'s price against `terms`' first (the 2× rule of [`Payments::terms`]),
    /// for a session that keeps its parameters.
    ///
    /// Errors: [`GatewayError::PriceIncreased`], [`GatewayError::BadOrchestratorInfo`].
    pub(crate) fn terms_price_check(
        &self,
        info: &net::OrchestratorInfo,
        terms: &SessionTerms,
    ) -> Result<(), GatewayError> {
        let initial = PricePerPixel::try_from(terms.initial_price).map_err(payment_error)?;
        crate::price::validate_price(&info.transcoder, info.price_info.as_ref(), Some(initial))
            .map(|_| ())
    }

    /// Stages the payment for a segment with `profiles` lasting `duration` to the session
    /// holding `terms` (O session `session`): the fee estimate, the balance taken out, and a
    /// batch of tickets for what it lacks (possibly none: the header then carries only the
    /// parameters and price, as go's).
    ///
    /// Errors: [`GatewayError::SenderUnusable`] when the gateway's deposit or reserve cannot
    /// back tickets; [`GatewayError::ParamsExpired`] when the parameters need a refresh;
    /// [`GatewayError::Payment`] for the other ticket rules (the orchestrator's parameters
    /// are not acceptable).
    pub(crate) fn stage(
        &self,
        terms: &SessionTerms,
        session: &str,
        profiles: &[VideoProfile],
        duration: Duration,
    ) -> Result<StagedPayment, GatewayError> {
        let price = PricePerPixel::try_from(terms.price).map_err(payment_error)?;
        let fee = estimate_fee(profiles, duration, price).map_err(payment_error)?;
        self.stage_fee(terms, session, fee)
    }

    /// Stages the payment for an AI request of `units` billing units at the session's price
    /// (go-livepeer `server/ai_process.go`: fee = units × price), as [`Payments::stage`].
    pub(crate) fn stage_units(
        &self,
        terms: &SessionTerms,
        session: &str,
        units: u64,
    ) -> Result<StagedPayment, GatewayError> {
        let price = PricePerPixel::try_from(terms.price).map_err(payment_error)?;
        let fee = price.fee(units).map_err(payment_error)?;
        self.stage_fee(terms, session, fee)
    }

    fn stage_fee(
        &self,
        terms: &SessionTerms,
        session: &str,
        fee: ExactWei,
    ) -> Result<StagedPayment, GatewayError> {
        let ev = self
            .config
            .sender
            .ev(&terms.pm_session)
            .map_err(payment_error)?;
        let update = self
            .balances
            .stage_update(terms.recipient, session, fee, ev)
            .map_err(payment_error)?;
        let size = u32::try_from(update.num_tickets).map_err(|_| {
            GatewayError::Payment(format!("{} tickets in one payment", update.num_tickets))
        });
        let batch = size.and_then(|size| {
            self.config
                .sender
                .create_ticket_batch(&terms.pm_session, size)
                .map_err(payment_error)
        });
        let batch = match batch {
            Ok(batch) => batch,
            Err(err) => {
                // Nothing went out: the balance taken out goes back.
                let _ = self.balances.complete_update(
                    terms.recipient,
                    session,
                    &update,
                    UpdateOutcome::NotSent,
                );
                return Err(err);
            }
        };
        Ok(StagedPayment {
            header: encode_payment_header(&batch),
            tickets: update.num_tickets,
            ev,
            update,
            recipient: terms.recipient,
            session: session.to_owned(),
        })
    }

    /// Completes a staged payment: `None` when the request never went out, `Some(None)` when
    /// it went out and no result came back (the credit counts as spent), `Some(Some(pixels))`
    /// when the orchestrator reported `pixels` output pixels, charged at `price`.
    pub(crate) fn complete(
        &self,
        staged: &StagedPayment,
        price: PriceInfo,
        outcome: Option<Option<u64>>,
    ) {
        let outcome = match outcome {
            None => UpdateOutcome::NotSent,
            Some(None) => {
                self.record(staged.tickets, staged.ev, None);
                UpdateOutcome::CreditSpent
            }
            Some(Some(pixels)) => {
                let debit = PricePerPixel::try_from(price)
                    .and_then(|p| p.fee(pixels))
                    .unwrap_or(ExactWei::ZERO);
                self.record(staged.tickets, staged.ev, Some(debit));
                UpdateOutcome::Received { debit }
            }
        };
        let _ = self.balances.complete_update(
            staged.recipient,
            &staged.session,
            &staged.update,
            outcome,
        );
    }

    /// Whether `terms`' parameters expire within go's buffer of the last seen L1 block, so the
    /// session must be refreshed before it is paid again (go-livepeer
    /// `server/broadcast.go:shouldRefreshSession`).
    pub(crate) fn params_expired(&self, terms: &SessionTerms) -> bool {
        let latest = self.config.time.last_seen_l1_block();
        terms.params.expiration_block
            <= latest.saturating_add(alloy_primitives::U256::from(
                livepeer_pm::sender::PARAMS_EXPIRY_BUFFER,
            ))
    }

    /// Forgets a pm session (its orchestrator session ended).
    pub(crate) fn end(&self, terms: &SessionTerms) {
        self.config.sender.end_session(&terms.pm_session);
    }
}

/// go-livepeer's fee estimate for a segment (`estimateFee`): Σ over profiles of
/// width × height × ceil(fps) × ceil(duration in s), times 1.02, times the price per pixel;
/// a profile that passes the frame rate through counts [`PASSTHROUGH_FPS`].
///
/// Errors: [`PmError::Overflow`] for absurd sizes.
pub fn estimate_fee(
    profiles: &[VideoProfile],
    duration: Duration,
    price: PricePerPixel,
) -> Result<ExactWei, PmError> {
    let seconds = duration.as_millis().div_ceil(1000);
    let seconds = u64::try_from(seconds).map_err(|_| PmError::Overflow { op: "duration" })?;
    let mut pixels: u64 = 0;
    for p in profiles {
        let fps = if p.fps == 0 {
            PASSTHROUGH_FPS
        } else {
            u64::from(p.fps).div_ceil(u64::from(p.fps_den.max(1)))
        };
        let profile_pixels = u64::from(p.width)
            .checked_mul(u64::from(p.height))
            .and_then(|x| x.checked_mul(fps))
            .and_then(|x| x.checked_mul(seconds))
            .ok_or(PmError::Overflow { op: "fee pixels" })?;
        pixels = pixels
            .checked_add(profile_pixels)
            .ok_or(PmError::Overflow { op: "fee pixels" })?;
    }
    let base = price.fee(pixels)?;
    base.checked_mul(ExactWei::from_ratio(
        alloy_primitives::U256::from(FEE_MARGIN_PERCENT),
        alloy_primitives::U256::from(100u64),
    )?)
}

/// Sorts ticket errors: the gateway's own account (deposit, reserve, unlocking) ends the
/// stream; expired parameters ask for a refresh; anything else is the orchestrator's
/// parameters being unacceptable.
fn payment_error(err: PmError) -> GatewayError {
    match err {
        PmError::NoSenderDeposit | PmError::NoSenderReserve | PmError::SenderUnlocking { .. } => {
            GatewayError::SenderUnusable(err.to_string())
        }
        PmError::TicketParamsExpired { .. } => GatewayError::ParamsExpired(err.to_string()),
        other => GatewayError::Payment(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::U256;

    fn profile(name: &str) -> VideoProfile {
        livepeer_primitives::profile::parse_transcoding_options(name).expect("profile")[0].clone()
    }

    #[test]
    fn fee_estimate_follows_go() {
        // 240p30: 426 × 240 × 30 fps × 2 s = 6 134 400 pixels; × 1.02 × 1 wei.
        let p = profile("P240p30fps16x9");
        let fee = estimate_fee(
            std::slice::from_ref(&p),
            Duration::from_millis(2000),
            PricePerPixel::new(1, 1).expect("price"),
        )
        .expect("fee");
        let want = ExactWei::from_ratio(U256::from(6_134_400u64 * 102), U256::from(100u64))
            .expect("ratio");
        assert_eq!(fee, want);
        // 2.1 s rounds up to 3 s; price 3/2.
        let fee = estimate_fee(
            &[p],
            Duration::from_millis(2100),
            PricePerPixel::new(3, 2).expect("price"),
        )
        .expect("fee");
        let want = ExactWei::from_ratio(
            U256::from(426u64 * 240 * 30 * 3 * 3 * 102),
            U256::from(2u64 * 100),
        )
        .expect("ratio");
        assert_eq!(fee, want);
    }
}
