//! The node's local CLI API (`-cliAddr`, go-livepeer's `server/webserver.go` and
//! `server/handlers.go`): the paths, form parameters, answers and error texts of go-livepeer's,
//! so `livepeer_cli`, operators' scripts and dashboards written against go-livepeer work
//! unchanged. It listens on loopback by default and has no authentication, like go-livepeer's;
//! a non-loopback `-cliAddr` needs our `-allowPublicCliAddr` (see [`check_public_bind`]).
//!
//! - Status: `/status` (go's `NodeStatus` fields, plus this node's own `orchestrator` and
//!   `gateway` sections), `/IsOrchestrator`, `/IsRedeemer`, `/healthz`.
//! - Chain reads: `/EthChainID`, `/currentBlock`, `/currentRound`, `/roundInitialized`,
//!   `/ethAddr`, `/tokenBalance`, `/ethBalance`, `/senderInfo`, `/ticketBrokerParams`,
//!   `/orchestratorInfo`, `/contractAddresses`, `/delegatorInfo`, `/unbondingLocks`,
//!   `/registeredOrchestrators`, `/protocolParameters`.
//! - Transactions (each answers once mined): `/bond`, `/unbond`, `/rebond`, `/withdrawStake`,
//!   `/withdrawFees`, `/claimEarnings`, `/reward`, `/initializeRound`, `/activateOrchestrator`,
//!   `/fundDepositAndReserve`, `/fundDeposit`, `/unlock`, `/cancelUnlock`, `/withdraw`,
//!   `/transferTokens`.
//! - Gas: `/setMaxGasPrice`, `/setMinGasPrice`, `/maxGasPrice`, `/minGasPrice` (the next
//!   transaction and gas price poll use them).
//! - `/signMessage` (EIP-191 `personal_sign` of the `message` form value; raw 65 bytes).
//! - The web dashboard at `/` ([`crate::dashboard`]), with the gateway's HLS under
//!   `/dashboard/hls/`.
//! - Run-time configuration and governance: `/setBroadcastConfig`,
//!   `/getBroadcastConfig`, `/setMaxPriceForCapability`, `/setOrchestratorConfig`,
//!   `/setPriceForBroadcaster`, `/setMaxSessions`, `/setMaxFaceValue`, `/setLogLevel`,
//!   `/getLogLevel`, `/vote`, `/voteOnProposal` (the `config` module).
//!
//! Form values are read from the body (`application/x-www-form-urlencoded`, as
//! `livepeer_cli` posts them) and the query string, body first, as Go's `FormValue`; any
//! method is accepted, as go's mux does. Errors are go's `http.Error` texts: 400 "missing form
//! param: NAME" and go's per-handler texts, 500 "missing ETH client" off chain.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use alloy_primitives::{Address, U256};
use anyhow::Context;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use livepeer_eth::EthError;
use livepeer_eth::services::Operator;
use livepeer_eth::services::operator::perc_to_ppm;
use livepeer_gateway::GatewayHandle;
use livepeer_orchestrator::OrchestratorHandle;
use livepeer_pm::LocalSigner;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

mod config;

/// Largest form body read, bytes (the forms are a few short fields).
pub const MAX_FORM_BYTES: usize = 64 * 1024;

/// go-livepeer's default CLI ports per mode (`cmd/livepeer/starter/starter.go`).
pub const GATEWAY_CLI_PORT: u16 = 5935;
/// Orchestrator (and orchestrator + transcoder) default CLI port.
pub const ORCHESTRATOR_CLI_PORT: u16 = 7935;
/// Stand-alone transcoder default CLI port.
pub const TRANSCODER_CLI_PORT: u16 = 6935;

/// What the CLI API reports on and acts through.
#[derive(Clone, Default)]
pub struct NodeView {
    /// `-network`.
    pub network: String,
    /// The node's account, on chain.
    pub address: Option<Address>,
    /// The orchestrator role, if run: its service URI and handle.
    pub orchestrator: Option<(String, OrchestratorHandle)>,
    /// The gateway role, if run.
    pub gateway: Option<GatewayHandle>,
    /// The account's chain calls, on chain.
    pub operator: Option<Operator>,
    /// The account's key, on chain (for `/signMessage`).
    pub signer: Option<Arc<LocalSigner>>,
    /// Whether this node transcodes itself (`-transcoder` with `-orchestrator`).
    pub local_transcoding: bool,
    /// `-monitor`: the node's metrics, served at `/metrics`; `None` answers 404 there.
    pub metrics: Option<livepeer_monitor::Metrics>,
    /// On chain: the chain state the gas price and the gateway's deposit gauges are read from.
    pub chain: Option<livepeer_eth::services::ChainNode>,
}

impl NodeView {
    /// `/metrics`: the gauges read from the node's state brought up to date (sessions, gas
    /// prices, the gateway's deposit and reserve, as go's watchers record them), then every
    /// metric in Prometheus text format.
    fn metrics_text(&self, metrics: &livepeer_monitor::Metrics) -> String {
        use livepeer_pm::{GasPriceSource as _, SenderInfoSource as _};
        if let Some((_, h)) = &self.orchestrator {
            metrics.set_current_sessions(h.sessions() as u64);
            // The session limit moves with -maxSessions auto and /setMaxSessions; go-livepeer
            // counts remote transcoders only (`SetTranscodersNumberAndLoad`).
            metrics.set_max_sessions(h.max_sessions() as u64);
            let remote: Vec<_> = h.transcoders().into_iter().filter(|t| !t.local).collect();
            metrics.set_transcoders(
                remote.len() as u64,
                remote.iter().map(|t| t.capacity as u64).sum(),
                remote.iter().map(|t| t.load as u64).sum(),
            );
            for m in h.ai_models() {
                metrics.set_ai_containers(
                    &m.pipeline,
                    &m.model_id,
                    u64::from(m.in_use),
                    u64::from(m.capacity.saturating_sub(m.in_use)),
                );
            }
            metrics.set_ai_workers(h.ai_workers().len() as u64);
        }
        if let Some(h) = &self.gateway {
            metrics.set_current_sessions(h.live_streams() as u64);
        }
        if let Some(chain) = &self.chain {
            let state = chain.state();
            let bounds = chain.gas_price_bounds();
            metrics.set_gas_prices(
                f64::from(state.gas_price_wei()),
                bounds.min().map(f64::from),
                bounds.max().map(f64::from),
            );
            if self.gateway.is_some()
                && let Ok(info) = state.sender_info(chain.address())
            {
                metrics.set_deposit_and_reserve(
                    &chain.address().to_checksum(None),
                    f64::from(info.deposit),
                    f64::from(info.reserve_funds_remaining),
                );
            }
        }
        metrics.encode()
    }

    fn status(&self) -> Value {
        let orchestrator = self.orchestrator.as_ref().map(|(uri, h)| {
            json!({
                "serviceUri": uri,
                "sessions": h.sessions(),
                "maxSessions": h.max_sessions(),
                "liveSessions": h.live_session_reports(),
                "aiModels": h.ai_models(),
                "aiWorkers": h.ai_workers(),
                "transcoders": h.transcoders(),
                "payments": h.payment_stats(),
            })
        });
        let gateway = self.gateway.as_ref().map(|h| {
            let by: serde_json::Map<String, Value> = h
                .segments_by_orchestrator()
                .into_iter()
                .map(|(uri, n)| (uri.to_string().trim_end_matches('/').to_string(), n.into()))
                .collect();
            json!({
                "liveStreams": h.live_streams(),
                // Every stream published now, live or VOD (the dashboard's players).
                "streams": h.streams(),
                // Orchestrators left out of discovery for now after failing.
                "suspendedOrchestrators": h
                    .suspended_orchestrators()
                    .iter()
                    .map(|u| u.to_string().trim_end_matches('/').to_string())
                    .collect::<Vec<_>>(),
                "segmentsByOrchestrator": by,
                "payments": h.payment_stats(),
            })
        });
        let pool: Vec<String> = self
            .gateway
            .as_ref()
            .map(|h| {
                h.segments_by_orchestrator()
                    .into_keys()
                    .map(|u| u.to_string().trim_end_matches('/').to_string())
                    .collect()
            })
            .unwrap_or_default();
        // go-livepeer lists the remote transcoders only (`RegisteredTranscodersInfo`).
        let remote: Vec<_> = self
            .orchestrator
            .as_ref()
            .map(|(_, h)| h.transcoders().into_iter().filter(|t| !t.local).collect())
            .unwrap_or_default();
        json!({
            // go-livepeer's NodeStatus (common/types.go) field names.
            "Manifests": {},
            "InternalManifests": {},
            "StreamInfo": {},
            "OrchestratorPool": pool,
            "Version": livepeer_primitives::LIVEPEER_VERSION,
            "GolangRuntimeVersion": "",
            "GOArch": std::env::consts::ARCH,
            "GOOS": std::env::consts::OS,
            "RegisteredTranscodersNumber": remote.len(),
            "RegisteredTranscoders": remote,
            "LocalTranscoding": self.local_transcoding,
            "BroadcasterPrices": {},
            // This node's own view.
            "version": env!("CARGO_PKG_VERSION"),
            // What orchestrators put in Capabilities.version (go-livepeer's release numbering).
            "livepeerVersion": livepeer_primitives::LIVEPEER_VERSION,
            "network": self.network,
            "address": self.address,
            "orchestrator": orchestrator,
            "gateway": gateway,
        })
    }
}

/// The socket address for `-cliAddr`: `host:port`, or `:port` / a bare port on 127.0.0.1.
///
/// Errors: not an address.
pub fn parse_cli_addr(value: &str) -> anyhow::Result<SocketAddr> {
    let v = value.trim();
    let v = v.strip_prefix(':').unwrap_or(v);
    if let Ok(port) = v.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    v.parse()
        .with_context(|| format!("-cliAddr {value:?} is not host:port"))
}

/// Refuses a `-cliAddr` that is not a loopback address unless `-allowPublicCliAddr` (our
/// flag; go-livepeer binds whatever it is given): the CLI API has no authentication, and
/// anyone who reaches it can bond, withdraw and transfer the node's funds.
///
/// Errors: a non-loopback `addr` without `allowed`, with a line saying what to do.
pub fn check_public_bind(addr: SocketAddr, allowed: bool) -> anyhow::Result<()> {
    if addr.ip().is_loopback() || allowed {
        if !addr.ip().is_loopback() {
            tracing::warn!(%addr, "the CLI API is served on a non-loopback address without authentication (-allowPublicCliAddr)");
        }
        return Ok(());
    }
    anyhow::bail!(
        "-cliAddr {addr} is not a loopback address: the CLI API has no authentication and can move this node's funds; bind it to 127.0.0.1 (and reach it through an SSH tunnel or an authenticating proxy), or pass -allowPublicCliAddr to serve it there anyway"
    )
}

/// The `-cliAddr` go-livepeer uses when none is given: 127.0.0.1 and the mode's port
/// (orchestrator first, then gateway, then a stand-alone transcoder); `None` for a node with
/// no role.
pub fn default_cli_addr(orchestrator: bool, gateway: bool, transcoder: bool) -> Option<SocketAddr> {
    let port = if orchestrator {
        ORCHESTRATOR_CLI_PORT
    } else if gateway {
        GATEWAY_CLI_PORT
    } else if transcoder {
        TRANSCODER_CLI_PORT
    } else {
        return None;
    };
    Some(SocketAddr::from(([127, 0, 0, 1], port)))
}

/// An error answer as go's `http.Error` writes it: the text and a newline, `text/plain`.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    text: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        tracing::warn!(status = self.status.as_u16(), err = %self.text, "CLI API error");
        (
            self.status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("{}\n", self.text),
        )
            .into_response()
    }
}

fn api_error(status: StatusCode, text: impl Into<String>) -> ApiError {
    ApiError {
        status,
        text: text.into(),
    }
}

fn go_error(status: StatusCode, text: impl Into<String>) -> Response {
    api_error(status, text).into_response()
}

fn ok_text(text: impl Into<String>) -> Response {
    (StatusCode::OK, text.into()).into_response()
}

fn ok_empty() -> Response {
    StatusCode::OK.into_response()
}

/// The form values of a request, body first then query, first value per name (Go
/// `Request.FormValue`).
#[derive(Debug, Default)]
struct FormValues(HashMap<String, String>);

impl FormValues {
    fn parse(query: Option<&str>, body: &[u8]) -> Self {
        let mut values = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(body) {
            values
                .entry(k.into_owned())
                .or_insert_with(|| v.into_owned());
        }
        if let Some(q) = query {
            for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
                values
                    .entry(k.into_owned())
                    .or_insert_with(|| v.into_owned());
            }
        }
        Self(values)
    }

    /// The value, "" when absent (Go's `FormValue`).
    fn get(&self, name: &str) -> &str {
        self.0.get(name).map(String::as_str).unwrap_or("")
    }

    /// go-livepeer's `mustHaveFormParams`: 400 "missing form param: NAME" for the first empty.
    fn require(&self, names: &[&str]) -> Result<(), ApiError> {
        match names.iter().find(|n| self.get(n).is_empty()) {
            Some(name) => Err(api_error(
                StatusCode::BAD_REQUEST,
                format!("missing form param: {name}"),
            )),
            None => Ok(()),
        }
    }

    /// [`Self::big_int`], or a 400 with go's text after `prefix` ("PREFIX: failed to parse big
    /// integer"; the bare text without a prefix).
    fn amount(&self, name: &str, prefix: &str) -> Result<U256, ApiError> {
        self.big_int(name).map_err(|e| {
            let text = if prefix.is_empty() {
                e.to_string()
            } else {
                format!("{prefix}: {e}")
            };
            api_error(StatusCode::BAD_REQUEST, text)
        })
    }

    /// A base-10 integer as go's `common.ParseBigInt` takes it (a sign is allowed there; a
    /// negative amount is refused here, since every use is an unsigned amount or ID).
    fn big_int(&self, name: &str) -> Result<U256, &'static str> {
        let text = self.get(name);
        let digits = text.strip_prefix('+').unwrap_or(text);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(PARSE_BIG_INT);
        }
        U256::from_str_radix(digits, 10).map_err(|_| PARSE_BIG_INT)
    }
}

/// go-livepeer's `common.ErrParseBigInt` text.
const PARSE_BIG_INT: &str = "failed to parse big integer";

fn tx_error(prefix: &str, err: &EthError) -> Response {
    let text = if prefix.is_empty() {
        err.to_string()
    } else {
        format!("{prefix}: {err}")
    };
    go_error(StatusCode::INTERNAL_SERVER_ERROR, text)
}

type Api = State<Arc<NodeView>>;

fn operator(view: &NodeView) -> Result<&Operator, ApiError> {
    view.operator
        .as_ref()
        .ok_or_else(|| api_error(StatusCode::INTERNAL_SERVER_ERROR, "missing ETH client"))
}

/// `num/den` reduced, as Go's `big.Rat` marshals to JSON text.
fn rat_text(num: i64, den: i64) -> String {
    fn gcd(a: u64, b: u64) -> u64 {
        if b == 0 { a } else { gcd(b, a % b) }
    }
    let g = gcd(num.unsigned_abs(), den.unsigned_abs()).max(1);
    let (mut n, mut d) = (num / g as i64, den / g as i64);
    if d < 0 {
        n = -n;
        d = -d;
    }
    format!("{n}/{d}")
}

/// One request's pieces, for the handlers that take form values.
struct Call {
    form: FormValues,
    headers: HeaderMap,
}

async fn read_call(query: Option<String>, headers: HeaderMap, body: Bytes) -> Call {
    Call {
        form: FormValues::parse(query.as_deref(), &body),
        headers,
    }
}

macro_rules! try_resp {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(err) => return err.into_response(),
        }
    };
}

async fn handle(view: Arc<NodeView>, path: &str, call: Call) -> Response {
    let f = &call.form;
    if let Some(answer) = config::handle(&view, path, f).await {
        return answer;
    }
    match path {
        "/status" => Json(view.status()).into_response(),
        "/healthz" => ok_empty(),
        "/IsOrchestrator" => ok_text(view.orchestrator.is_some().to_string()),
        "/IsRedeemer" => ok_text("false"),
        "/localStreams" => Json(json!([])).into_response(),
        "/ethAddr" => {
            let op = try_resp!(operator(&view));
            ok_text(op.address().to_checksum(None))
        }
        "/EthChainID" => {
            let op = try_resp!(operator(&view));
            match op.chain_id().await {
                Ok(id) => ok_text(id.to_string()),
                Err(e) => go_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("Error getting eth network ID err={:?}", e.to_string()),
                ),
            }
        }
        "/currentBlock" => {
            let op = try_resp!(operator(&view));
            // go answers the last seen block's big-endian bytes (big.Int.Bytes), not text.
            let block = op.last_seen_block();
            let bytes = U256::from(block).to_be_bytes_trimmed_vec();
            (StatusCode::OK, bytes).into_response()
        }
        "/currentRound" => {
            let op = try_resp!(operator(&view));
            match op.current_round().await {
                Ok(r) => ok_text(r.to_string()),
                Err(e) => go_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("could not query current round: {e}"),
                ),
            }
        }
        "/roundInitialized" => {
            let op = try_resp!(operator(&view));
            match op.current_round_initialized().await {
                Ok(b) => ok_text(b.to_string()),
                Err(e) => go_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("could not get initialized round: {e}"),
                ),
            }
        }
        "/tokenBalance" => {
            let op = try_resp!(operator(&view));
            match op.token_balance().await {
                Ok(b) => ok_text(b.to_string()),
                Err(e) => go_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        }
        "/ethBalance" => {
            let op = try_resp!(operator(&view));
            match op.eth_balance().await {
                Ok(b) => ok_text(b.to_string()),
                Err(e) => go_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        }
        "/senderInfo" => {
            let op = try_resp!(operator(&view));
            match op.sender_info().await {
                Ok(info) => Json(info).into_response(),
                Err(e) => go_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("could not query sender info: {e}"),
                ),
            }
        }
        "/ticketBrokerParams" => {
            let op = try_resp!(operator(&view));
            match op.unlock_period().await {
                Ok(p) => Json(json!({ "UnlockPeriod": p.saturating_to::<u64>() })).into_response(),
                Err(e) => go_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("could not query TicketBroker unlockPeriod: {e}"),
                ),
            }
        }
        "/orchestratorInfo" => {
            let op = try_resp!(operator(&view));
            match op.transcoder_record(op.address()).await {
                Ok(t) => {
                    // go marshals the base price as a big.Rat: "num/den", reduced.
                    let price = view
                        .orchestrator
                        .as_ref()
                        .and_then(|(_, h)| h.base_price())
                        .map(|p| rat_text(p.price_per_unit, p.pixels_per_unit));
                    Json(json!({ "Transcoder": t, "PriceInfo": price })).into_response()
                }
                Err(_) => go_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "could not get transcoder",
                ),
            }
        }
        "/delegatorInfo" => {
            let op = try_resp!(operator(&view));
            match op.delegator_record().await {
                Ok(d) => Json(d).into_response(),
                Err(e) => go_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        }
        "/unbondingLocks" => {
            let op = try_resp!(operator(&view));
            let withdrawable = matches!(
                f.get("withdrawable"),
                "1" | "t" | "T" | "true" | "TRUE" | "True"
            );
            let round = if withdrawable {
                match op.current_round().await {
                    Ok(r) => Some(r),
                    Err(e) => return go_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
                }
            } else {
                None
            };
            match op.unbonding_locks(round).await {
                Ok(locks) => Json(locks).into_response(),
                Err(e) => go_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        }
        "/registeredOrchestrators" => {
            let op = try_resp!(operator(&view));
            match op.registered_orchestrators().await {
                Ok(list) => Json(list).into_response(),
                Err(e) => go_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        }
        "/protocolParameters" => {
            let op = try_resp!(operator(&view));
            match op.protocol_parameters().await {
                Ok(p) => Json(p).into_response(),
                Err(e) => go_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            }
        }
        "/transferTokens" => {
            try_resp!(f.require(&["to", "amount"]));
            let op = try_resp!(operator(&view));
            let amount = try_resp!(f.amount("amount", ""));
            let to: Address = match f.get("to").parse() {
                Ok(a) => a,
                Err(e) => return go_error(StatusCode::BAD_REQUEST, format!("invalid to: {e}")),
            };
            match op.transfer_tokens(to, amount).await {
                Ok(_) => ok_empty(),
                Err(e) => tx_error("", &e),
            }
        }
        "/setMaxGasPrice" => {
            try_resp!(f.require(&["amount"]));
            let op = try_resp!(operator(&view));
            let price = try_resp!(f.amount("amount", "Parsing failed for price"));
            // "0" means no maximum, as in go-livepeer.
            op.gas_price_bounds()
                .set_max(Some(price).filter(|p| !p.is_zero()));
            tracing::info!(max_gas_price_wei = %price, "max gas price set through the CLI API");
            ok_empty()
        }
        "/setMinGasPrice" => {
            try_resp!(f.require(&["minGasPrice"]));
            let op = try_resp!(operator(&view));
            let price = try_resp!(f.amount("minGasPrice", "invalid minGasPrice"));
            op.gas_price_bounds().set_min(Some(price));
            tracing::info!(min_gas_price_wei = %price, "min gas price set through the CLI API");
            ok_empty()
        }
        "/maxGasPrice" => {
            let op = try_resp!(operator(&view));
            match op.gas_price_bounds().max() {
                Some(p) => ok_text(p.to_string()),
                None => ok_empty(),
            }
        }
        "/minGasPrice" => {
            let op = try_resp!(operator(&view));
            ok_text(op.gas_price_bounds().min().unwrap_or_default().to_string())
        }
        "/contractAddresses" => {
            let op = try_resp!(operator(&view));
            let c = op.contracts();
            Json(json!({
                "Controller": c.controller,
                "LivepeerToken": c.livepeer_token,
                "ServiceRegistry": c.service_registry,
                "BondingManager": c.bonding_manager,
                "TicketBroker": c.ticket_broker,
                "RoundsManager": c.rounds_manager,
                "Minter": c.minter,
            }))
            .into_response()
        }
        "/bond" => {
            try_resp!(f.require(&["amount", "toAddr"]));
            let op = try_resp!(operator(&view));
            let amount = try_resp!(f.amount("amount", ""));
            // go's HexToAddress takes anything; a typo would bond to a wrong address, so a
            // malformed one is refused here.
            let to: Address = match f.get("toAddr").parse() {
                Ok(a) => a,
                Err(e) => {
                    return go_error(StatusCode::BAD_REQUEST, format!("invalid toAddr: {e}"));
                }
            };
            match op.bond(amount, to).await {
                Ok(_) => ok_empty(),
                Err(e) => tx_error("", &e),
            }
        }
        "/unbond" => {
            try_resp!(f.require(&["amount"]));
            let op = try_resp!(operator(&view));
            let amount = try_resp!(f.amount("amount", ""));
            match op.unbond(amount).await {
                Ok(_) => ok_empty(),
                Err(e) => tx_error("", &e),
            }
        }
        "/rebond" => {
            try_resp!(f.require(&["unbondingLockId"]));
            let op = try_resp!(operator(&view));
            let id = match f.big_int("unbondingLockId") {
                Ok(a) => a,
                Err(_) => {
                    return go_error(
                        StatusCode::BAD_REQUEST,
                        format!("Cannot convert unbondingLockId: {PARSE_BIG_INT}"),
                    );
                }
            };
            let to = match f.get("toAddr") {
                "" => None,
                a => match a.parse() {
                    Ok(a) => Some(a),
                    Err(e) => {
                        return go_error(StatusCode::BAD_REQUEST, format!("invalid toAddr: {e}"));
                    }
                },
            };
            match op.rebond(id, to).await {
                Ok(_) => ok_empty(),
                Err(e) => tx_error("", &e),
            }
        }
        "/withdrawStake" => {
            try_resp!(f.require(&["unbondingLockId"]));
            let op = try_resp!(operator(&view));
            let id = try_resp!(f.amount("unbondingLockId", "Cannot convert unbondingLockId"));
            match op.withdraw_stake(id).await {
                Ok(_) => ok_empty(),
                Err(e) => tx_error("", &e),
            }
        }
        "/withdrawFees" => {
            let op = try_resp!(operator(&view));
            if f.get("amount").is_empty() {
                return go_error(StatusCode::BAD_REQUEST, "missing form param: amount");
            }
            let amount = try_resp!(f.amount("amount", "invalid amount"));
            match op.withdraw_fees(amount).await {
                Ok(_) => ok_empty(),
                Err(e) => tx_error("could not execute WithdrawFees", &e),
            }
        }
        "/claimEarnings" => {
            let op = try_resp!(operator(&view));
            let claimed = async {
                if !op.current_round_initialized().await? {
                    return Err(EthError::Transaction {
                        call: "BondingManager.claimEarnings".into(),
                        reason: "Round not initialized".into(),
                    });
                }
                let round = op.current_round().await?;
                op.claim_earnings(round).await
            }
            .await;
            match claimed {
                Ok(_) => ok_empty(),
                Err(e) => tx_error("Error claiming earnings", &e),
            }
        }
        "/reward" => {
            let op = try_resp!(operator(&view));
            match op.reward().await {
                Ok(_) => ok_empty(),
                Err(e) => tx_error("Error calling reward", &e),
            }
        }
        "/initializeRound" => {
            let op = try_resp!(operator(&view));
            match op.initialize_round().await {
                Ok(_) => ok_empty(),
                Err(e) => tx_error("could not initialize round", &e),
            }
        }
        "/activateOrchestrator" => activate_orchestrator(&view, f).await,
        "/fundDepositAndReserve" => {
            try_resp!(f.require(&["depositAmount", "reserveAmount"]));
            let op = try_resp!(operator(&view));
            let deposit = try_resp!(f.amount("depositAmount", "invalid depositAmount"));
            let reserve = try_resp!(f.amount("reserveAmount", "invalid reserveAmount"));
            match op.fund_deposit_and_reserve(deposit, reserve).await {
                Ok(_) => ok_text("fundDepositAndReserve success"),
                Err(e) => tx_error("could not execute fundDepositAndReserve", &e),
            }
        }
        "/fundDeposit" => {
            try_resp!(f.require(&["amount"]));
            let op = try_resp!(operator(&view));
            let amount = try_resp!(f.amount("amount", "invalid amount"));
            match op.fund_deposit(amount).await {
                Ok(_) => ok_text("fundDeposit success"),
                Err(e) => tx_error("could not execute fundDeposit", &e),
            }
        }
        "/unlock" => {
            let op = try_resp!(operator(&view));
            match op.unlock().await {
                Ok(_) => ok_text("unlock success"),
                Err(e) => tx_error("could not execute unlock", &e),
            }
        }
        "/cancelUnlock" => {
            let op = try_resp!(operator(&view));
            match op.cancel_unlock().await {
                Ok(_) => ok_text("cancelUnlock success"),
                Err(e) => tx_error("could not execute cancelUnlock", &e),
            }
        }
        "/withdraw" => {
            let op = try_resp!(operator(&view));
            match op.withdraw().await {
                Ok(_) => ok_text("withdraw success"),
                Err(e) => tx_error("could not execute withdraw", &e),
            }
        }
        "/signMessage" => {
            try_resp!(f.require(&["message"]));
            let Some(signer) = view.signer.as_ref() else {
                return go_error(StatusCode::INTERNAL_SERVER_ERROR, "missing ETH client");
            };
            let format = call
                .headers
                .get("SigFormat")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("text/plain");
            if format == "data/typed" {
                // go-livepeer: the message is EIP-712 typed data as JSON (go-ethereum
                // `apitypes.TypedData`), signed over its EIP-712 signing hash.
                let typed: alloy_dyn_abi::TypedData = match serde_json::from_str(f.get("message")) {
                    Ok(typed) => typed,
                    Err(e) => {
                        return go_error(
                            StatusCode::BAD_REQUEST,
                            format!("could not unmarshal typed data - err={:?}", e.to_string()),
                        );
                    }
                };
                return match typed.eip712_signing_hash() {
                    Ok(hash) => {
                        let sig = signer.sign_typed_data_hash(&hash);
                        (StatusCode::OK, sig.to_vec()).into_response()
                    }
                    Err(e) => go_error(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        format!("could not sign typed data - err={:?}", e.to_string()),
                    ),
                };
            }
            let sig = signer.sign_text(f.get("message").as_bytes());
            (StatusCode::OK, sig.to_vec()).into_response()
        }
        _ => go_error(StatusCode::NOT_FOUND, "404 page not found"),
    }
}

/// `/activateOrchestrator` (go-livepeer `activateOrchestratorHandler`): refuses a registered
/// orchestrator and a locked round, then bonds `amount` to itself if given, sets the reward cut
/// and fee share (percentages), and registers `serviceURI` if it changed. The price form values
/// are required as in go-livepeer, and must match the node's `-pricePerUnit`/`-pixelsPerUnit`
/// (changing the running price is not supported yet).
async fn activate_orchestrator(view: &NodeView, f: &FormValues) -> Response {
    try_resp!(f.require(&[
        "blockRewardCut",
        "feeShare",
        "pricePerUnit",
        "pixelsPerUnit",
        "serviceURI"
    ]));
    let op = try_resp!(operator(view));
    let record = match op.transcoder_record(op.address()).await {
        Ok(r) => r,
        Err(e) => return go_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    if record.status == "Registered" {
        return go_error(StatusCode::BAD_REQUEST, "orchestrator already registered");
    }
    match op.current_round_locked().await {
        Ok(true) => return go_error(StatusCode::INTERNAL_SERVER_ERROR, "current round is locked"),
        Ok(false) => {}
        Err(e) => return go_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
    let percent = |name: &str| -> Result<U256, ApiError> {
        let text = f.get(name);
        let value: f64 = text.parse().map_err(|_| {
            api_error(
                StatusCode::BAD_REQUEST,
                format!("strconv.ParseFloat: parsing {text:?}: invalid syntax"),
            )
        })?;
        perc_to_ppm(value).ok_or_else(|| {
            api_error(
                StatusCode::BAD_REQUEST,
                format!("{name} must be a percentage from 0 to 100"),
            )
        })
    };
    let reward_cut = try_resp!(percent("blockRewardCut"));
    let fee_share = try_resp!(percent("feeShare"));
    let service_uri = f.get("serviceURI");
    if url::Url::parse(service_uri).is_err() || !service_uri.contains("://") {
        return go_error(
            StatusCode::BAD_REQUEST,
            format!("parse {service_uri:?}: invalid URI for request"),
        );
    }
    if !f.get("unbondingLockId").is_empty() {
        let id = try_resp!(f.amount("unbondingLockId", ""));
        if let Err(e) = op.rebond(id, Some(op.address())).await {
            return tx_error("", &e);
        }
    }
    if !f.get("amount").is_empty() {
        let amount = try_resp!(f.amount("amount", ""));
        if !amount.is_zero()
            && let Err(e) = op.bond(amount, op.address()).await
        {
            return tx_error("", &e);
        }
    }
    if let Err(e) = op.transcoder(reward_cut, fee_share).await {
        return tx_error("", &e);
    }
    if record.service_uri != service_uri
        && let Err(e) = op.set_service_uri(service_uri).await
    {
        return tx_error("", &e);
    }
    ok_empty()
}

/// Binds `addr` and serves the CLI API until `cancel` fires; returns the bound address and the
/// serving future.
///
/// Errors: the address cannot be bound.
pub async fn bind(
    addr: SocketAddr,
    view: NodeView,
    cancel: CancellationToken,
) -> anyhow::Result<(SocketAddr, impl std::future::Future<Output = ()> + Send)> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("-cliAddr: cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let view = Arc::new(view);
    let mut app: Router<Arc<NodeView>> = Router::new();
    if view.metrics.is_some() {
        // go-livepeer registers /metrics only with -monitor; without it the path is a 404.
        app = app.route(
            "/metrics",
            axum::routing::get(|State(view): Api| async move {
                let text = view
                    .metrics
                    .as_ref()
                    .map(|m| view.metrics_text(m))
                    .unwrap_or_default();
                (
                    [(header::CONTENT_TYPE, livepeer_monitor::CONTENT_TYPE)],
                    text,
                )
            }),
        );
    }
    let app: Router = app
        .fallback(any(
            |State(view): Api,
             uri: axum::http::Uri,
             RawQuery(query): RawQuery,
             headers: HeaderMap,
             body: Bytes| async move {
                let call = read_call(query, headers, body).await;
                handle(view, uri.path(), call).await
            },
        ))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_FORM_BYTES))
        .with_state(view.clone())
        // The web dashboard at `/` and `/dashboard/...`.
        .merge(crate::dashboard::router(view.gateway.as_ref()));
    let serve = livepeer_server::serve(
        listener,
        None,
        app,
        livepeer_server::ServerConfig::named("cli"),
        cancel,
    );
    Ok((local, serve))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_come_from_the_body_first_then_the_query() {
        let f = FormValues::parse(Some("amount=1&toAddr=q"), b"amount=2&x=%20y");
        assert_eq!(f.get("amount"), "2");
        assert_eq!(f.get("toAddr"), "q");
        assert_eq!(f.get("x"), " y");
        assert_eq!(f.get("missing"), "");
    }

    #[test]
    fn amounts_parse_as_go_parse_big_int_with_its_error() {
        let f = FormValues::parse(None, b"a=1000000000000000000&b=%2B5&c=1e18&d=-3&e=");
        assert_eq!(f.big_int("a"), Ok(U256::from(10u64.pow(18))));
        assert_eq!(f.big_int("b"), Ok(U256::from(5)));
        for bad in ["c", "d", "e", "nope"] {
            assert_eq!(f.big_int(bad), Err(PARSE_BIG_INT), "{bad}");
        }
        let too_big = format!("a={}0", U256::MAX);
        let f = FormValues::parse(None, too_big.as_bytes());
        assert_eq!(f.big_int("a"), Err(PARSE_BIG_INT));
    }

    #[test]
    fn missing_form_params_get_go_livepeers_400() {
        let f = FormValues::parse(None, b"amount=1");
        let resp = f.require(&["amount", "toAddr"]).expect_err("missing");
        assert_eq!(resp.status, StatusCode::BAD_REQUEST);
        assert_eq!(resp.text, "missing form param: toAddr");
        assert!(f.require(&["amount"]).is_ok());
    }

    #[test]
    fn only_loopback_cli_addrs_bind_without_the_opt_in() {
        for (addr, allowed, ok) in [
            ("127.0.0.1:7935", false, true),
            ("[::1]:7935", false, true),
            ("0.0.0.0:7935", false, false),
            ("192.168.1.5:7935", false, false),
            ("0.0.0.0:7935", true, true),
        ] {
            let addr: SocketAddr = addr.parse().expect("addr");
            assert_eq!(
                check_public_bind(addr, allowed).is_ok(),
                ok,
                "{addr} {allowed}"
            );
        }
    }

    #[test]
    fn default_cli_ports_are_go_livepeers_per_mode() {
        let port = |o, g, t| default_cli_addr(o, g, t).map(|a| a.port());
        assert_eq!(port(true, false, true), Some(7935));
        assert_eq!(port(false, true, false), Some(5935));
        assert_eq!(port(false, false, true), Some(6935));
        assert_eq!(port(false, false, false), None);
        assert!(
            default_cli_addr(true, false, false)
                .expect("addr")
                .ip()
                .is_loopback()
        );
    }
}
