//! The orchestrator: one port serving go-livepeer's `net.Orchestrator` gRPC service and the
//! HTTP routes gateways POST segments to and download renditions from.
//!
//! Wire behaviour follows go-livepeer (`server/rpc.go`, `server/segment_rpc.go`,
//! `core/orchestrator.go`) as summarised in `reference/wire-and-network.md` §2–§3 and §6:
//!
//! - TLS with a self-signed certificate regenerated at start ([`tls`]), or cleartext h2c when
//!   the HTTP address has an `http://` prefix; requests that are HTTP/2 with an
//!   `application/grpc` content type go to gRPC, everything else to the HTTP routes;
//! - `GetOrchestrator` hands out an [`auth`] token naming a new session; `POST /segment` checks
//!   headers, token, capabilities, capacity and body hash, answers 200 at once, transcodes, and
//!   writes a raw protobuf `TranscodeResult`;
//! - renditions are kept in memory ([`storage`]) and served at
//!   `GET /stream/<session>/<profile>/<seq>.ts` (their MPEG-7 signatures, when the segment
//!   asks for perceptual hashes, at `<seq>.ts.phash` beside them), or, when the segment carries the gateway's
//!   object storage (`SegData.storage`: an S3 or GCS POST policy), uploaded there and their
//!   bucket URLs returned; idle sessions are torn down ([`sessions`]);
//! - a body with `Content-Type: application/vnd+livepeer.uri` is the segment's URL, downloaded
//!   within bounds ([`segment_url`]).
//! - the work goes to a pool of transcoders ([`transcoders`]): the local one and, with
//!   `-orchSecret`, remote ones registered over `Transcoder.RegisterTranscoder` that post their
//!   renditions to `/transcodeResults` ([`results`]); [`remote_transcoder`] is the standalone
//!   transcoder's side.
//! - AI ([`ai`]): the batch AI routes, served by `-aiWorker`'s runners and, with
//!   `-orchSecret`, by remote AI workers registered over `AIWorker.RegisterAIWorker` that post
//!   their answers to `/aiResults` ([`ai_remote`]); [`remote_ai_worker`] is the standalone AI
//!   worker's side.
//!
//! Off-chain (no [`PaymentConfig`]) there is no price and no ticket parameters, and signatures
//! are not checked (go-livepeer's `VerifySig` is a no-op off-chain too). On chain
//! ([`OrchestratorConfig::payments`], see [`payment`]): `GetOrchestrator` checks the gateway's
//! signature and answers with its price and fresh ticket parameters, `/segment` and `/payment`
//! verify the segment credentials against the payment's sender, take the tickets, and refuse
//! unpaid work; `Ping` and `TranscodeData` are signed with the orchestrator's key.

pub mod ai;
pub mod ai_remote;
pub mod auth;
mod error;
mod grpc;
mod http;
pub mod live;
pub mod payment;
pub mod remote_ai_worker;
pub mod remote_transcoder;
pub mod results;
pub mod segment_url;
pub mod sessions;
pub mod storage;
pub mod tls;
mod transcode;
pub mod transcoders;
pub mod validate;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use livepeer_media::ScratchRoot;
pub use livepeer_primitives::LIVEPEER_VERSION;
use livepeer_primitives::{Capabilities, Capability, CapabilitySet};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

pub use error::OrchestratorError;
pub use http::{
    BODY_IDLE_TIMEOUT, BODY_READ_TIMEOUT, DRAIN_LIMIT_BYTES, DRAIN_TIMEOUT, MAX_SEGMENT_BYTES,
    PERCEPTUAL_HASH_SUFFIX,
};
pub use livepeer_objectstore::FetchPolicy;
pub use livepeer_server::ServerConfig;
pub use payment::{PaymentChain, PaymentConfig, Pricing};
pub use transcode::LocalTranscoder;
pub use transcoders::TranscoderInfo;

/// Result alias of this crate.
pub type OrchestratorResult<T> = Result<T, OrchestratorError>;

/// go-livepeer's default orchestrator port, used when an address gives none.
pub const DEFAULT_SERVICE_PORT: u16 = 8935;
/// go-livepeer's default `-maxSessions`.
pub const DEFAULT_MAX_SESSIONS: usize = 10;
/// This node's own version (the crate version). Peers see [`LIVEPEER_VERSION`] in
/// `Capabilities.version` instead: go gateways compare that field with go-livepeer release
/// numbers (`-orchMinLivepeerVersion`).
pub const NODE_VERSION: &str = env!("CARGO_PKG_VERSION");
/// How long shutdown waits for open connections to finish before closing them.
pub const SHUTDOWN_DRAIN: Duration = livepeer_server::DEFAULT_DRAIN_TIMEOUT;
/// How long shutdown waits, after the connections are closed, for transcodes to stop and
/// their ffmpeg processes to be reaped.
pub const JOB_STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Runtime configuration of an orchestrator.
#[derive(Debug, Clone)]
pub struct OrchestratorConfig {
    /// `-serviceAddr`: the public `host:port` (optionally `https://`) gateways reach; port 0 is
    /// replaced by the bound port.
    pub service_addr: String,
    /// `-httpAddr`: where to listen, when not the service address; an `http://` prefix serves
    /// cleartext h2c instead of TLS.
    pub http_addr: Option<String>,
    /// `-maxSessions`: concurrent sessions admitted.
    pub max_sessions: usize,
    /// The local transcoder (`-transcoder` with `-orchestrator`), or none.
    pub transcoder: Option<LocalTranscoder>,
    /// `-orchSecret`: the secret remote transcoders register with (`Transcoder` gRPC service
    /// and `/transcodeResults`, see [`transcoders`]); `None` takes no remote transcoders.
    pub orch_secret: Option<String>,
    /// `-maxSessions auto`: the session limit follows the sum of the registered remote
    /// transcoders' capacities (go-livepeer `AutoSessionLimit`); `max_sessions` is the limit
    /// until the first one registers.
    pub auto_max_sessions: bool,
    /// `-nodes`: other instances of this orchestrator, advertised to gateways in
    /// `OrchestratorInfo.nodes` (gateways with `-extraNodes` probe them too).
    pub nodes: Vec<String>,
    /// `-dataDir`: where `cert.pem` and `key.pem` are written, if set; segments being
    /// transcoded are kept in a scratch directory under it (else under the system temp
    /// directory), and stale scratch directories of dead processes there are removed at start.
    pub data_dir: Option<PathBuf>,
    /// Idle time after which a session is torn down.
    pub session_idle_timeout: Duration,
    /// Connection limits and timeouts of the port (`livepeer-server` defaults).
    pub server: ServerConfig,
    /// Longest wait for the next piece of a segment body (default
    /// [`BODY_IDLE_TIMEOUT`]); a body that stalls longer is refused with 500.
    pub body_idle_timeout: Duration,
    /// On chain: how the orchestrator is paid. `None` serves off-chain, for free.
    pub payments: Option<PaymentConfig>,
    /// Which addresses URLs from gateways may reach: segment URLs downloaded and storage
    /// hosts renditions are uploaded to (see [`segment_url`] and
    /// `livepeer_objectstore::fetch`). By default public addresses only.
    pub fetch_policy: FetchPolicy,
    /// How long the download of a segment sent by URL may take (default
    /// [`segment_url::SEGMENT_URL_TIMEOUT`]).
    pub segment_url_timeout: Duration,
    /// `-authWebhookUrl`: asked which gateways may have this orchestrator's info, and at
    /// what price (see [`auth::GatewayAuthWebhook`]).
    pub auth_webhook: Option<auth::GatewayAuthWebhook>,
    /// `-monitor`: where segments, transcodes and payments are recorded
    /// ([`livepeer_monitor::Metrics`]); `None` records nothing.
    pub metrics: Option<livepeer_monitor::Metrics>,
    /// `-aiWorker` with `-aiModels`: AI runners and prices ([`ai`]). `None` serves AI only
    /// through remote AI workers, and only with `orch_secret` ([`ai_remote`]).
    pub ai: Option<ai::AiConfig>,
    /// On chain, without `ai`: the prices of the models remote AI workers serve (go-livepeer
    /// prices `-aiModels` entries on an orchestrator with or without `-aiWorker`); a model
    /// without one is served unpriced.
    pub remote_ai_prices: Vec<ai::AiPrice>,
    /// `-livePaymentInterval`: how often a live-video-to-video session is debited
    /// ([`live`]).
    pub live_payment_interval: Duration,
}

impl Default for OrchestratorConfig {
    fn default() -> Self {
        Self {
            service_addr: format!("127.0.0.1:{DEFAULT_SERVICE_PORT}"),
            http_addr: None,
            max_sessions: DEFAULT_MAX_SESSIONS,
            transcoder: None,
            orch_secret: None,
            auto_max_sessions: false,
            nodes: Vec::new(),
            data_dir: None,
            session_idle_timeout: sessions::DEFAULT_SESSION_IDLE_TIMEOUT,
            server: ServerConfig::named("orchestrator"),
            body_idle_timeout: BODY_IDLE_TIMEOUT,
            payments: None,
            fetch_policy: FetchPolicy::default(),
            segment_url_timeout: segment_url::SEGMENT_URL_TIMEOUT,
            auth_webhook: None,
            metrics: None,
            ai: None,
            remote_ai_prices: Vec::new(),
            live_payment_interval: live::DEFAULT_LIVE_PAYMENT_INTERVAL,
        }
    }
}

/// The capabilities this node's software transcoder offers: go-livepeer's software
/// transcoder set ([`CapabilitySet::go_software_transcoder`], {0–12, 14, 17, 21–32, 34, 36})
/// kept where this transcoder really does the work, plus HEVC decoding, reported with
/// version [`LIVEPEER_VERSION`] and no mandatories (go-livepeer's orchestrators send none).
///
/// Against go's set:
/// - kept: H.264 in and out (0), MPEG-TS and MP4 out (1, 2), fractional frame rates (3),
///   the H.264 profiles and GOP (7–11), auth tokens (12), MPEG-7 signatures (14: computed
///   in the transcode's own ffmpeg run when `SegData.calc_perceptual_hash` asks, and served
///   or stored next to each rendition as `<seq><ext>.phash`), segment slicing (26), and the H.264
///   4:4:4 / 4:2:2 / 10-bit decoders (21–25: ffmpeg decodes them and the ladder converts to
///   8-bit 4:2:0, as lpms does); storage (4–6): renditions are served from this node, and a
///   go gateway with an object store copies any rendition URL that is not its own into it
///   (`server/broadcast.go:downloadResults`);
/// - dropped: VP8 decoding (17: segments are read as MPEG-TS, which cannot carry VP8),
///   and the AI pipelines (27–32, 34, 36: this node runs no AI models);
/// - added: HEVC decoding (15: ffmpeg's software decoder handles HEVC in MPEG-TS; go adds it
///   with `-hevcDecoding`). Still absent: HEVC, VP8 and VP9 encoding (16, 19, 20: the ladder
///   encodes H.264 only) and VP9 decoding (18: not carried in MPEG-TS either).
pub fn software_capabilities() -> Capabilities {
    let mut bits = CapabilitySet::go_software_transcoder();
    for cap in [
        Capability::Vp8Decode,
        Capability::TextToImage,
        Capability::ImageToImage,
        Capability::ImageToVideo,
        Capability::Upscale,
        Capability::AudioToText,
        Capability::SegmentAnything2,
        Capability::ImageToText,
        Capability::TextToSpeech,
    ] {
        bits.remove(cap);
    }
    bits.insert(Capability::HevcDecode);
    Capabilities {
        bitstring: bits,
        version: LIVEPEER_VERSION.to_string(),
        ..Default::default()
    }
}

/// Shared state behind the gRPC service and the HTTP routes.
#[derive(Debug)]
pub(crate) struct State {
    pub(crate) service_uri: String,
    pub(crate) auth: auth::AuthTokens,
    pub(crate) sessions: sessions::Sessions,
    pub(crate) store: storage::RenditionStore,
    pub(crate) capabilities: Capabilities,
    /// The local transcoder and the registered remote ones.
    pub(crate) transcoders: transcoders::Transcoders,
    /// `-orchSecret`, when remote transcoders may register.
    pub(crate) orch_secret: Option<String>,
    /// `-maxSessions auto`.
    pub(crate) auto_max_sessions: bool,
    /// `-nodes`, advertised in `OrchestratorInfo.nodes`.
    pub(crate) nodes: Vec<String>,
    /// Fires when the orchestrator starts shutting down: remote transcoders' task streams end.
    pub(crate) closing: CancellationToken,
    /// Where segment bodies and transcoder work files go while a segment is handled.
    pub(crate) scratch: ScratchRoot,
    /// The running transcodes, so shutdown can wait for them (and their ffmpeg) to end.
    pub(crate) jobs: TaskTracker,
    /// Cancels every running transcode (its ffmpeg is killed and reaped).
    pub(crate) stop_jobs: CancellationToken,
    /// Longest wait for the next piece of a segment body.
    pub(crate) body_idle_timeout: Duration,
    /// On chain: prices, tickets and balances.
    pub(crate) payments: Option<payment::Payments>,
    /// HTTP for URLs from gateways (segment URLs, their storage hosts).
    pub(crate) fetcher: livepeer_objectstore::Fetcher,
    /// How long a segment URL download may take.
    pub(crate) segment_url_timeout: Duration,
    /// `-authWebhookUrl`.
    pub(crate) auth_webhook: Option<auth::GatewayAuthWebhook>,
    /// `-monitor`'s metrics, if any.
    pub(crate) metrics: Option<livepeer_monitor::Metrics>,
    /// AI runners, prices and results, with `-aiWorker`.
    pub(crate) ai: Option<ai::AiState>,
    /// Live-video-to-video sessions and their trickle channels, with `-aiWorker`.
    pub(crate) live: Option<live::LiveState>,
}

impl State {
    /// Tears a session down and frees its renditions.
    pub(crate) fn end_session(&self, id: &str) {
        if self.sessions.end(id) {
            debug!(session = id, "session ended");
        }
        self.transcoders.end_session(id);
        self.store.remove_session(id);
    }

    /// With `-maxSessions auto`, sets the session limit to the remote transcoders' capacity.
    pub(crate) fn update_auto_sessions(&self) {
        if self.auto_max_sessions {
            let (transcoders, capacity) = self.transcoders.remote_capacity();
            info!(
                transcoders,
                capacity, "session limit follows the remote transcoders"
            );
            self.sessions.set_max_sessions(capacity);
        }
    }
}

/// A bound orchestrator, ready to [`run`](OrchestratorService::run).
pub struct OrchestratorService {
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    state: Arc<State>,
    idle_timeout: Duration,
    server: ServerConfig,
}

/// The parts of an address: scheme (if given), host (IPv6 without brackets), port.
///
/// Accepts `host:port`, `scheme://host:port[/]`, a bare host (port 8935), `:port` (all
/// interfaces), `[v6]:port` and a bare IPv6 address. Parsed with `http::uri::Authority` and
/// `std::net`, never by splitting on `:`.
fn split_addr(addr: &str) -> OrchestratorResult<(Option<&str>, String, u16)> {
    let invalid = |reason| OrchestratorError::InvalidAddress {
        addr: addr.to_string(),
        reason,
    };
    let (scheme, rest) = match addr.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, addr),
    };
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() {
        return Err(invalid("empty address"));
    }
    if let Ok(ip) = rest.parse::<IpAddr>() {
        return Ok((scheme, ip.to_string(), DEFAULT_SERVICE_PORT));
    }
    if let Some(port) = rest.strip_prefix(':') {
        let port = port.parse().map_err(|_| invalid("port is not a number"))?;
        return Ok((scheme, Ipv4Addr::UNSPECIFIED.to_string(), port));
    }
    let authority: ::http::uri::Authority = rest
        .parse()
        .map_err(|_| invalid("not a host[:port] address"))?;
    if rest.contains('@') {
        return Err(invalid("user info is not allowed"));
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    if host.is_empty() {
        return Err(invalid("empty host"));
    }
    // What follows the host is empty or `:<port>`; `Authority` alone does not insist that
    // the port be a number.
    let port = match &authority.as_str()[authority.host().len()..] {
        "" => DEFAULT_SERVICE_PORT,
        after => after
            .strip_prefix(':')
            .and_then(|p| p.parse().ok())
            .ok_or_else(|| invalid("port is not a number"))?,
    };
    Ok((scheme, host.to_string(), port))
}

/// The socket address to listen on for `host`: the IP itself, or all IPv4 interfaces for a
/// name.
fn bind_ip(host: &str) -> IpAddr {
    host.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

impl OrchestratorService {
    /// Binds the listener and builds the TLS certificate; nothing is served until
    /// [`run`](Self::run).
    ///
    /// Errors: [`OrchestratorError::InvalidAddress`], [`OrchestratorError::Bind`],
    /// [`OrchestratorError::Tls`], or I/O writing the certificate to the data directory.
    pub async fn bind(config: OrchestratorConfig) -> OrchestratorResult<Self> {
        let (_, service_host, service_port) = split_addr(&config.service_addr)?;
        let (cleartext, bind_host, bind_port) = match &config.http_addr {
            Some(addr) => {
                let (scheme, host, port) = split_addr(addr)?;
                (scheme == Some("http"), host, port)
            }
            None => (false, service_host.clone(), service_port),
        };
        let bind_addr = SocketAddr::new(bind_ip(&bind_host), bind_port);
        let listener =
            TcpListener::bind(bind_addr)
                .await
                .map_err(|source| OrchestratorError::Bind {
                    addr: bind_addr.to_string(),
                    source,
                })?;
        let local_addr = listener.local_addr()?;
        let port = if service_port == 0 {
            local_addr.port()
        } else {
            service_port
        };
        let scheme = if cleartext { "http" } else { "https" };
        let service_uri = format!("{scheme}://{}:{port}", bracket_ipv6(&service_host));

        let tls = if cleartext {
            None
        } else {
            let cert = tls::SelfSignedCert::generate(&service_host)?;
            if let Some(dir) = &config.data_dir {
                cert.write_to(dir)?;
            }
            Some(tokio_rustls::TlsAcceptor::from(cert.server_config()?))
        };
        let scratch_parent = config.data_dir.clone().unwrap_or_else(std::env::temp_dir);
        let parent = scratch_parent.clone();
        let (scratch, swept) = tokio::task::spawn_blocking(move || ScratchRoot::create(&parent))
            .await
            .map_err(|e| OrchestratorError::Scratch(e.to_string()))?
            .map_err(|e| OrchestratorError::Scratch(e.to_string()))?;
        if swept > 0 {
            info!(swept, parent = %scratch_parent.display(), "removed stale scratch directories of stopped nodes");
        }
        let transcoder = config
            .transcoder
            .map(|t| t.with_scratch_root(scratch.path()));
        let capabilities = software_capabilities();
        let orch_secret = config.orch_secret.filter(|s| !s.is_empty());
        let live = config
            .ai
            .is_some()
            .then(|| live::LiveState::new(config.live_payment_interval));
        let state = Arc::new(State {
            live,
            service_uri,
            auth: auth::AuthTokens::default(),
            sessions: sessions::Sessions::new(config.max_sessions),
            store: storage::RenditionStore::default(),
            transcoders: transcoders::Transcoders::new(transcoder, &capabilities),
            capabilities,
            ai: match (config.ai, &orch_secret) {
                (Some(ai), _) => Some(ai::AiState::new(ai)),
                (None, Some(_)) => Some(ai::AiState::remote_only(config.remote_ai_prices)),
                (None, None) => None,
            },
            orch_secret,
            auto_max_sessions: config.auto_max_sessions,
            nodes: config.nodes,
            closing: CancellationToken::new(),
            scratch,
            jobs: TaskTracker::new(),
            stop_jobs: CancellationToken::new(),
            body_idle_timeout: config.body_idle_timeout,
            payments: config
                .payments
                .map(|p| payment::Payments::new(p, config.metrics.clone())),
            fetcher: livepeer_objectstore::Fetcher::new(config.fetch_policy),
            segment_url_timeout: config.segment_url_timeout,
            auth_webhook: config.auth_webhook,
            metrics: config.metrics,
        });
        Ok(Self {
            listener,
            tls,
            state,
            idle_timeout: config.session_idle_timeout,
            server: config.server,
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// A view of the running orchestrator, valid after [`run`](Self::run) takes the service.
    pub fn handle(&self) -> OrchestratorHandle {
        OrchestratorHandle {
            state: self.state.clone(),
        }
    }

    /// The orchestrator's ETH address when it is paid on chain.
    pub fn address(&self) -> Option<alloy_primitives::Address> {
        self.state.payments.as_ref().map(|p| p.address())
    }

    /// The service URI advertised to gateways (`OrchestratorInfo.transcoder`), e.g.
    /// `https://127.0.0.1:8935`.
    pub fn service_uri(&self) -> &str {
        &self.state.service_uri
    }

    /// Serves until `cancel` fires, then stops accepting, lets open connections finish for up
    /// to [`SHUTDOWN_DRAIN`] and closes the rest, stops every transcode still running and
    /// waits (up to [`JOB_STOP_TIMEOUT`]) until its ffmpeg is gone. Connections are served by
    /// `livepeer-server` (per-peer caps, header and idle timeouts, HTTP/2 limits).
    pub async fn run(self, cancel: CancellationToken) -> OrchestratorResult<()> {
        let Self {
            listener,
            tls,
            state,
            idle_timeout,
            server,
        } = self;
        let local_addr = listener.local_addr()?;
        info!(uri = %state.service_uri, addr = %local_addr, tls = tls.is_some(), "orchestrator listening");
        let sweeper = {
            let state = state.clone();
            let cancel = cancel.clone();
            async move {
                let mut sweep =
                    tokio::time::interval((idle_timeout / 4).max(Duration::from_millis(50)));
                loop {
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = sweep.tick() => {
                            for id in state.sessions.sweep_idle(idle_timeout) {
                                debug!(session = %id, "idle session torn down");
                                state.transcoders.end_session(&id);
                                state.store.remove_session(&id);
                            }
                            if let Some(payments) = &state.payments {
                                payments.evict_idle(std::time::Instant::now());
                            }
                        }
                    }
                }
                // Remote transcoders' streams end now, so their connections drain.
                state.closing.cancel();
            }
        };
        let serve = livepeer_server::serve(
            listener,
            tls,
            http::service(state.clone()),
            server,
            cancel.clone(),
        );
        let trickle_sweep = {
            let state = state.clone();
            let cancel = cancel.clone();
            async move {
                if let Some(live) = &state.live {
                    // On shutdown every channel closes, so long-polls end and the port drains.
                    live.trickle.sweep_service(cancel).await;
                    live.stop_all();
                }
            }
        };
        tokio::join!(serve, sweeper, trickle_sweep);
        state.stop_jobs.cancel();
        state.jobs.close();
        if tokio::time::timeout(JOB_STOP_TIMEOUT, state.jobs.wait())
            .await
            .is_err()
        {
            warn!(
                running = state.jobs.len(),
                "transcodes still running after {JOB_STOP_TIMEOUT:?}"
            );
        }
        info!("orchestrator stopped");
        Ok(())
    }
}

/// A cloneable view of a running orchestrator.
#[derive(Debug, Clone)]
pub struct OrchestratorHandle {
    state: Arc<State>,
}

impl OrchestratorHandle {
    /// On chain: tickets received, winners, refusals and fees so far.
    pub fn payment_stats(&self) -> Option<payment::PaymentStats> {
        self.state.payments.as_ref().map(|p| p.stats())
    }

    /// Sessions open now.
    pub fn sessions(&self) -> usize {
        self.state.sessions.len()
    }

    /// Live-video-to-video sessions running now ([`live`]).
    pub fn live_sessions(&self) -> usize {
        self.state.live.as_ref().map_or(0, |l| l.running())
    }

    /// Every AI (pipeline, model) served now, local runners and remote workers together;
    /// empty without AI.
    pub fn ai_models(&self) -> Vec<ai::AiModelReport> {
        self.state
            .ai
            .as_ref()
            .map(|a| a.models().iter().map(ai::AiModelReport::from).collect())
            .unwrap_or_default()
    }

    /// The remote AI workers registered now, in registration order.
    pub fn ai_workers(&self) -> Vec<ai::AiWorkerReport> {
        self.state
            .ai
            .as_ref()
            .map(|a| a.remote.reports())
            .unwrap_or_default()
    }

    /// Live-video-to-video sessions running now and the latest ended ones, with what each
    /// was billed ([`live::LiveSessionReport`]); empty without live pipelines.
    pub fn live_session_reports(&self) -> Vec<live::LiveSessionReport> {
        self.state
            .live
            .as_ref()
            .map(|l| l.reports(self.state.payments.as_ref()))
            .unwrap_or_default()
    }

    /// The transcoders in the pool: the local one first, then the remote ones in the order
    /// they registered.
    pub fn transcoders(&self) -> Vec<TranscoderInfo> {
        self.state
            .transcoders
            .info(self.state.sessions.max_sessions())
    }

    /// On chain: the base price (`-pricePerUnit` wei per `-pixelsPerUnit` pixels, or what
    /// [`Self::set_base_price`] set).
    pub fn base_price(&self) -> Option<livepeer_pm::PriceInfo> {
        self.state.payments.as_ref().map(|p| p.base_price())
    }

    /// `-maxSessions` now.
    pub fn max_sessions(&self) -> usize {
        self.state.sessions.max_sessions()
    }

    /// Changes `-maxSessions` (the CLI API's `/setMaxSessions`): open sessions go on, new ones
    /// are refused with "OrchestratorCapped" while `max_sessions` are open.
    pub fn set_max_sessions(&self, max_sessions: usize) {
        self.state.sessions.set_max_sessions(max_sessions);
    }

    /// On chain: changes the base price for new sessions; `false` off chain (nothing is
    /// priced there).
    pub fn set_base_price(&self, price: livepeer_pm::PriceInfo) -> bool {
        self.state
            .payments
            .as_ref()
            .map(|p| p.set_base_price(price))
            .is_some()
    }

    /// On chain: sets `gateway`'s own price (`-pricePerGateway`); `false` off chain.
    pub fn set_gateway_price(
        &self,
        gateway: alloy_primitives::Address,
        price: livepeer_pm::PriceInfo,
    ) -> bool {
        self.state
            .payments
            .as_ref()
            .map(|p| p.set_gateway_price(gateway, price))
            .is_some()
    }

    /// On chain: `gateway`'s own price, if it has one.
    pub fn gateway_price(
        &self,
        gateway: alloy_primitives::Address,
    ) -> Option<livepeer_pm::PriceInfo> {
        self.state.payments.as_ref()?.gateway_price(gateway)
    }

    /// On chain: changes the tickets' `-maxFaceValue` (wei; zero: no cap); `false` off chain.
    pub fn set_max_face_value(&self, wei: alloy_primitives::U256) -> bool {
        self.state
            .payments
            .as_ref()
            .map(|p| p.set_max_face_value(wei))
            .is_some()
    }
}

impl std::fmt::Debug for OrchestratorService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrchestratorService")
            .field("service_uri", &self.state.service_uri)
            .field("local_addr", &self.local_addr())
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

fn bracket_ipv6(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_like_go_livepeer() {
        let cases = [
            ("127.0.0.1:8935", (None, "127.0.0.1", 8935)),
            (
                "https://orch.example:9000",
                (Some("https"), "orch.example", 9000),
            ),
            ("http://127.0.0.1:0", (Some("http"), "127.0.0.1", 0)),
            ("orch.example", (None, "orch.example", DEFAULT_SERVICE_PORT)),
            (":8935", (None, "0.0.0.0", 8935)),
            ("[::1]:8935", (None, "::1", 8935)),
            ("https://[::1]:9000/", (Some("https"), "::1", 9000)),
            ("::1", (None, "::1", DEFAULT_SERVICE_PORT)),
            ("[fe80::1]", (None, "fe80::1", DEFAULT_SERVICE_PORT)),
        ];
        for (addr, (scheme, host, port)) in cases {
            let got = split_addr(addr).expect(addr);
            assert_eq!(
                (got.0, got.1.as_str(), got.2),
                (scheme, host, port),
                "{addr}"
            );
        }
        for bad in [
            "host:notaport",
            "",
            "host:",
            "user@host:1",
            "host:99999",
            "[::1",
        ] {
            assert!(split_addr(bad).is_err(), "{bad:?}");
        }
        assert_eq!(bind_ip("::1"), "::1".parse::<IpAddr>().expect("ip"));
        assert_eq!(bind_ip("orch.example"), IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    }

    #[test]
    fn software_capabilities_are_gos_where_we_do_the_work() {
        let caps = software_capabilities();
        let mut want: Vec<u32> = (0..=12).collect();
        want.extend([14, 15]);
        want.extend(21..=26);
        assert_eq!(caps.bitstring.ids().collect::<Vec<_>>(), want);
        assert_eq!(caps.bitstring.words(), &[0x7E0_DFFF]);
        assert!(caps.mandatories.words().is_empty());
        assert_eq!(caps.version, "0.9.1");
        // A go-livepeer HTTP-push job (auth token, slicing, H.264 in, MPEG-TS out, a
        // profile) with a 0.9.x floor is served, also with verification (MPEG-7); one needing
        // HEVC out is not.
        let mut job = Capabilities {
            bitstring: CapabilitySet::from_capabilities([
                Capability::AuthToken,
                Capability::SegmentSlicing,
                Capability::H264,
                Capability::MpegTs,
                Capability::ProfileH264Main,
                Capability::H264Decode422_10bit,
            ]),
            min_version: "0.9.0".into(),
            ..Default::default()
        };
        assert!(job.compatible_with(&caps));
        job.bitstring.insert(Capability::Mpeg7VideoSignature);
        assert!(job.compatible_with(&caps));
        job.bitstring.insert(Capability::HevcEncode);
        assert!(!job.compatible_with(&caps));
    }
}
