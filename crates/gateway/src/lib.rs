//! The gateway: takes segments pushed over HTTP, finds orchestrators, sends each segment to
//! one with retries and swaps, and publishes the renditions as HLS.
//!
//! Behaviour follows go-livepeer (`server/mediaserver.go`, `server/broadcast.go`,
//! `discovery/discovery.go`) as `reference/wire-and-network.md` §3.4, §4 and §5 describe:
//!
//! - `POST|PUT /live/<manifest>/<seq>.ts` with `Content-Duration` (ms); with
//!   `Accept: multipart/mixed` the answer carries the renditions as parts ([`multipart`]);
//!   503 "No sessions available" when no orchestrator can take the segment; the push rules
//!   (sizes, durations, formats, `-maxSessions`) are in the route's docs (`routes.rs`);
//! - a push that starts a stream asks `-authWebhookUrl` first ([`auth`]): refused is 403; the
//!   answer may publish the stream under another manifest, set its ladder and its
//!   verification frequency;
//! - orchestrators come from `-orchWebhookUrl` (scored), `-orchAddr` (trusted) or the on-chain
//!   pool (untrusted), probed in parallel ([`discovery`]); a verified stream sends a segment
//!   to one trusted and two untrusted orchestrators and compares their renditions, and
//!   `-localVerify` recounts the pixels of what it publishes ([`verify`]); each segment
//!   gets up to `-maxAttempts` attempts; an orchestrator that fails is suspended and swapped
//!   for the next, one that refuses the request itself is only demoted ([`dispatch`],
//!   [`GatewayError::is_request_fault`]); every read from an orchestrator is capped;
//! - HLS at `/stream/<manifest>.m3u8`, `/stream/<manifest>/<profile>.m3u8` and
//!   `/stream/<manifest>/<profile>/<seq>.ts|.mp4` ([`hls`]); a stream idle for
//!   [`PUSH_IDLE_TIMEOUT`], or ended with `DELETE /live/<manifest>`, plays as VOD; retained
//!   renditions are bounded per stream and in total ([`DEFAULT_MAX_RETAINED_BYTES`]);
//! - with `-objectStore` each source segment is saved to the store and sent by URL, and
//!   orchestrators write the renditions there; with `-recordStore` the stream is recorded with
//!   go-livepeer's names ([`storage`]).
//!
//! Off-chain (no [`GatewayConfig::payments`]) no payment is attached and nothing is signed. On
//! chain ([`payment`]) `GetOrchestrator` requests and segment credentials are signed with the
//! gateway's key, orchestrators without a valid price and ticket parameters are skipped, each
//! segment carries tickets for what its fee estimate lacks, sessions are refreshed when their
//! parameters expire, and a price above twice a session's first one drops the session. A
//! gateway whose own deposit or reserve cannot back tickets ends the stream (402) instead of
//! sending unpaid work.

pub mod ai;
pub mod auth;
pub mod client;
pub mod discovery;
pub mod dispatch;
mod error;
pub mod hls;
pub mod live;
pub mod mediamtx;
pub mod multipart;
pub mod payment;
pub mod pool;
pub mod price;
mod routes;
pub mod rtmp;
pub mod selection;
pub mod signer;
pub mod storage;
mod streams;
pub mod verify;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::Uri;
use livepeer_primitives::profile::{
    DEFAULT_TRANSCODING_OPTIONS, VideoProfile, parse_transcoding_options,
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::info;

pub use error::GatewayError;
pub use routes::{DEFAULT_PUSH_DURATION, MAX_PUSH_BYTES, MAX_SEGMENT_DURATION, PUSH_READ_TIMEOUT};
pub use streams::{
    DEFAULT_MAX_RETAINED_BYTES, DEFAULT_MAX_RETAINED_BYTES_PER_STREAM, ENDED_STREAM_RETENTION,
    MAX_ENDED_STREAMS_KEPT,
};

/// Result alias of this crate.
pub type GatewayResult<T> = Result<T, GatewayError>;

/// go-livepeer's default gateway HTTP address.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:9935";
/// go-livepeer's default gateway RTMP address (`cmd/livepeer/starter`: `127.0.0.1:1935`).
pub const DEFAULT_RTMP_ADDR: &str = "127.0.0.1:1935";
/// Attempts per segment (go-livepeer `-maxAttempts`).
pub const DEFAULT_MAX_ATTEMPTS: usize = 3;
/// Concurrent streams a gateway takes (go-livepeer `-maxSessions`, `core.MaxSessions`);
/// 0 means no limit.
pub const DEFAULT_MAX_SESSIONS: usize = 10;
/// A pushed stream with no new segment for this long is ended (go-livepeer
/// `httpPushTimeout`).
pub const PUSH_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default [`GatewayConfig::max_inflight_push_bytes`]: 1 GiB, three full-size (300 MB)
/// segments or hundreds of ordinary ones.
pub const DEFAULT_MAX_INFLIGHT_PUSH_BYTES: u64 = 1 << 30;
/// How long shutdown waits for open requests.
pub const SHUTDOWN_DRAIN: Duration = livepeer_server::DEFAULT_DRAIN_TIMEOUT;

/// Runtime configuration of a gateway.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// `-httpAddr`: where ingest and HLS are served.
    pub http_addr: String,
    /// `-orchAddr`: the orchestrators to use.
    pub orch_addrs: Vec<Uri>,
    /// `-transcodingOptions`: the ladder every stream gets.
    pub profiles: Vec<VideoProfile>,
    /// `-maxAttempts`: attempts per segment.
    pub max_attempts: usize,
    /// `-orchMinLivepeerVersion`: the lowest `Capabilities.version` an orchestrator may
    /// report to be used (go-livepeer semver rules, see
    /// `livepeer_primitives::is_version_compatible`); empty for no floor. Sent to
    /// orchestrators as `constraints.minVersion`.
    pub orch_min_livepeer_version: String,
    /// `-discoveryTimeout`: first wait for discovery answers.
    pub discovery_timeout: Duration,
    /// `-extraNodes`: how many of the instance URLs each orchestrator advertises in
    /// `OrchestratorInfo.nodes` are probed as orchestrators too (0: none, go's default).
    pub extra_nodes: usize,
    /// Idle time after which a pushed stream ends.
    pub push_idle_timeout: Duration,
    /// `-maxSessions`: concurrent (not ended) streams; a push for a new manifest beyond it is
    /// refused with 503. 0 means no limit.
    pub max_sessions: usize,
    /// Largest pushed segment, bytes; also the cap on each rendition downloaded from an
    /// orchestrator.
    pub max_segment_bytes: usize,
    /// How long a push body may take to arrive.
    pub push_read_timeout: Duration,
    /// Rendition bytes kept per stream; the oldest segments go first.
    pub max_retained_bytes_per_stream: u64,
    /// Rendition bytes kept by the whole gateway; the oldest ended streams go first, then the
    /// oldest segments of the largest live stream.
    pub max_retained_bytes: u64,
    /// Connection limits and timeouts of the HTTP port (`livepeer-server` defaults).
    pub server: livepeer_server::ServerConfig,
    /// Push bodies held at once, bytes (each counted at its `Content-Length`, or at the
    /// segment limit when it has none); a push beyond waits up to half `push_read_timeout`
    /// for room, then gets 503.
    pub max_inflight_push_bytes: u64,
    /// On chain: how segments are paid for. `None` works off-chain, unpaid.
    pub payments: Option<payment::PaymentConfig>,
    /// `-authWebhookUrl`: asked before a push starts a stream ([`auth`]).
    pub auth_webhook_url: Option<String>,
    /// `-orchWebhookUrl`: where orchestrators and their scores come from; it wins over
    /// `orch_addrs` and the on-chain pool, as in go-livepeer.
    pub orch_webhook_url: Option<String>,
    /// How long an orchestrator webhook answer is used
    /// ([`discovery::ORCH_WEBHOOK_REFRESH_INTERVAL`]).
    pub orch_webhook_refresh: Duration,
    /// `-localVerify`: check the renditions' signature (on chain) and recount their pixels.
    /// `None` is go-livepeer's default: on when paying on chain, off off-chain
    /// ([`GatewayConfig::local_verify`]).
    pub local_verify: Option<bool>,
    /// Compares renditions for streams whose auth webhook asks for verification; `None` is
    /// [`verify::MediaComparator`] (MPEG-7 signatures and ffprobe), or, when ffmpeg is not
    /// installed, no verification (`verificationFreq` is then ignored with a warning).
    pub comparator: Option<Arc<dyn verify::RenditionComparator>>,
    /// `-orchBlocklist`: orchestrators never used, by the ETH address they answer with
    /// (go-livepeer `discovery.go:isBlacklisted`), from any source.
    pub orch_blocklist: Vec<alloy_primitives::Address>,
    /// `-objectStore`: every stream's object store unless its own replaces it
    /// ([`storage::StreamStorage`]); `None` keeps segments in memory.
    pub object_store: Option<livepeer_objectstore::StoreUrl>,
    /// `-recordStore`: where every stream is recorded unless its own replaces it; `None`
    /// records nothing.
    pub record_store: Option<livepeer_objectstore::StoreUrl>,
    /// go-livepeer's node ID, the directory of this gateway's recordings under each manifest
    /// ([`storage::node_id`]; the hostname by default).
    pub node_id: String,
    /// `-monitor`: where segments, attempts and payments are recorded
    /// ([`livepeer_monitor::Metrics`]); `None` records nothing.
    pub metrics: Option<livepeer_monitor::Metrics>,
    /// `-aiProcessingRetryTimeout`: after this no new orchestrator is picked for an AI
    /// request ([`ai::DEFAULT_RETRY_TIMEOUT`]).
    pub ai_retry_timeout: Duration,
    /// `-aiMinRunnerVersion`: `(pipeline, model_id, min version)` an orchestrator's runner
    /// must be at least.
    pub ai_min_runner_versions: Vec<(String, String, String)>,
    /// `-remoteSigner`: serve only the remote signer's routes ([`signer`]) on the HTTP port,
    /// paying with [`GatewayConfig::payments`]' account for clients without one.
    pub remote_signer: bool,
    /// `-remoteDiscovery`: with [`GatewayConfig::remote_signer`], also serve
    /// `GET /discover-orchestrators` ([`signer`]) from this node's discovery source.
    pub remote_discovery: bool,
    /// `-liveAICapReportInterval`: how long a non-empty `/discover-orchestrators` snapshot
    /// is kept ([`signer::DEFAULT_DISCOVERY_REFRESH`]).
    pub remote_discovery_refresh: Duration,
    /// `-livePaymentInterval`: how often a live-video-to-video session is paid for
    /// ([`live`]).
    pub live_payment_interval: Duration,
    /// `-liveOutSegmentTimeout`: how long a live-video-to-video session may go without an
    /// output segment while its input flows before its orchestrator is swapped ([`live`];
    /// go-livepeer's 0 means [`live::DEFAULT_OUT_SEGMENT_TIMEOUT`]).
    pub live_out_segment_timeout: Duration,
    /// `-mediaMTXApiPassword`: the password (user `admin`) of the MediaMTX control API the
    /// gateway calls to disconnect a broadcaster whose live stream failed ([`mediamtx`]).
    pub mediamtx_api_password: String,
    /// The port of that API on the MediaMTX host (go-livepeer: always
    /// [`mediamtx::DEFAULT_API_PORT`]).
    pub mediamtx_api_port: u16,
    /// `-rtmpAddr`: where RTMP broadcasters publish ([`rtmp`]); `None` takes no RTMP. (The
    /// node binds go-livepeer's default [`DEFAULT_RTMP_ADDR`] when the flag is unset.)
    pub rtmp_addr: Option<String>,
}

impl GatewayConfig {
    /// The minimum runner version `-aiMinRunnerVersion` sets for (`pipeline`, `model_id`);
    /// empty for none.
    pub fn ai_min_runner_version(&self, pipeline: livepeer_ai::Pipeline, model_id: &str) -> String {
        self.ai_min_runner_versions
            .iter()
            .find(|(p, m, _)| p == pipeline.as_str() && m == model_id)
            .map(|(_, _, v)| v.clone())
            .unwrap_or_default()
    }

    /// Whether renditions are verified locally: `-localVerify` when given, else on exactly
    /// when paying on chain (go-livepeer `cmd/livepeer/starter`).
    pub fn local_verify(&self) -> bool {
        self.local_verify.unwrap_or(self.payments.is_some())
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            http_addr: DEFAULT_HTTP_ADDR.to_string(),
            orch_addrs: Vec::new(),
            profiles: parse_transcoding_options(DEFAULT_TRANSCODING_OPTIONS)
                .expect("the default ladder names standard profiles"),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            orch_min_livepeer_version: String::new(),
            discovery_timeout: discovery::DEFAULT_DISCOVERY_TIMEOUT,
            extra_nodes: 0,
            push_idle_timeout: PUSH_IDLE_TIMEOUT,
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_segment_bytes: MAX_PUSH_BYTES,
            push_read_timeout: PUSH_READ_TIMEOUT,
            max_retained_bytes_per_stream: DEFAULT_MAX_RETAINED_BYTES_PER_STREAM,
            max_retained_bytes: DEFAULT_MAX_RETAINED_BYTES,
            server: livepeer_server::ServerConfig::named("gateway"),
            max_inflight_push_bytes: DEFAULT_MAX_INFLIGHT_PUSH_BYTES,
            payments: None,
            auth_webhook_url: None,
            orch_webhook_url: None,
            orch_webhook_refresh: discovery::ORCH_WEBHOOK_REFRESH_INTERVAL,
            local_verify: None,
            comparator: None,
            orch_blocklist: Vec::new(),
            object_store: None,
            record_store: None,
            node_id: storage::node_id(None),
            metrics: None,
            ai_retry_timeout: ai::DEFAULT_RETRY_TIMEOUT,
            ai_min_runner_versions: Vec::new(),
            rtmp_addr: None,
            remote_signer: false,
            remote_discovery: false,
            remote_discovery_refresh: signer::DEFAULT_DISCOVERY_REFRESH,
            live_payment_interval: live::DEFAULT_LIVE_PAYMENT_INTERVAL,
            live_out_segment_timeout: live::DEFAULT_OUT_SEGMENT_TIMEOUT,
            mediamtx_api_password: String::new(),
            mediamtx_api_port: mediamtx::DEFAULT_API_PORT,
        }
    }
}

/// A bound gateway, ready to [`run`](GatewayService::run).
#[derive(Debug)]
pub struct GatewayService {
    listener: TcpListener,
    rtmp: Option<TcpListener>,
    state: Arc<streams::Gateway>,
}

impl GatewayService {
    /// Binds the HTTP listener (an `http://` prefix on the address is accepted) and, with
    /// [`GatewayConfig::rtmp_addr`], the RTMP one (an `rtmp://` prefix is accepted).
    ///
    /// Errors: [`GatewayError::Bind`], [`GatewayError::InvalidWebhookUrl`].
    pub async fn bind(config: GatewayConfig) -> GatewayResult<Self> {
        let state = Arc::new(streams::Gateway::new(config)?);
        let addr = state
            .config
            .http_addr
            .trim_start_matches("http://")
            .to_string();
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|source| GatewayError::Bind { addr, source })?;
        let rtmp = match &state.config.rtmp_addr {
            Some(addr) => {
                let addr = addr.trim_start_matches("rtmp://").to_string();
                Some(
                    TcpListener::bind(&addr)
                        .await
                        .map_err(|source| GatewayError::Bind { addr, source })?,
                )
            }
            None => None,
        };
        Ok(Self {
            listener,
            rtmp,
            state,
        })
    }

    /// The bound RTMP address, when RTMP ingest is on.
    pub fn rtmp_addr(&self) -> Option<SocketAddr> {
        self.rtmp.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// A front door to the running gateway's state, for the node's status API and tests.
    pub fn handle(&self) -> GatewayHandle {
        GatewayHandle {
            state: self.state.clone(),
        }
    }

    /// Serves until `cancel` fires; then lets open requests finish for up to
    /// [`SHUTDOWN_DRAIN`], closes the connections still open, and ends every stream's
    /// orchestrator sessions. Connections are served by `livepeer-server` with
    /// [`GatewayConfig::server`]'s limits (per-peer caps, header and idle timeouts, HTTP/2
    /// limits).
    pub async fn run(self, cancel: CancellationToken) -> GatewayResult<()> {
        info!(addr = %self.local_addr(), orchestrators = self.state.config.orch_addrs.len(), "gateway listening");
        let app = routes::router(self.state.clone());
        let janitor = {
            let state = self.state.clone();
            let cancel = cancel.clone();
            async move {
                let mut tick = tokio::time::interval(
                    (state.config.push_idle_timeout / 4).max(Duration::from_millis(50)),
                );
                loop {
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tick.tick() => state.end_idle_streams().await,
                    }
                }
            }
        };
        let serve = livepeer_server::serve(
            self.listener,
            None,
            app,
            self.state.config.server.clone(),
            cancel.clone(),
        );
        let rtmp = {
            let listener = self.rtmp;
            let state = self.state.clone();
            let cancel = cancel.clone();
            async move {
                if let Some(listener) = listener {
                    rtmp::serve(listener, state, cancel).await;
                }
            }
        };
        tokio::join!(serve, janitor, rtmp);
        self.state.end_all_streams().await;
        info!("gateway stopped");
        Ok(())
    }
}

/// A cloneable view of a gateway's state: suspensions, streams and retained bytes.
#[derive(Debug, Clone)]
pub struct GatewayHandle {
    state: Arc<streams::Gateway>,
}

impl GatewayHandle {
    /// The orchestrators (`-orchAddr` entries) suspended now, i.e. left out of discovery
    /// until their penalty of discovery rounds has passed (go-livepeer `server/suspensions.go`).
    pub fn suspended_orchestrators(&self) -> Vec<Uri> {
        self.state.suspended_orchestrators()
    }

    /// How many times `orch` (an `-orchAddr` entry) has been suspended since the gateway
    /// started. A suspension lasts a few discovery rounds (one for pools of up to 8), so
    /// [`suspended_orchestrators`](Self::suspended_orchestrators) forgets it soon; this does not.
    pub fn times_suspended(&self, orch: &Uri) -> u64 {
        self.state.times_suspended(orch)
    }

    /// Segments each orchestrator transcoded for this gateway, by its service URI
    /// (`OrchestratorInfo.transcoder`).
    pub fn segments_by_orchestrator(&self) -> std::collections::HashMap<Uri, u64> {
        self.state.transcoded_by()
    }

    /// On chain: tickets and fees paid so far.
    pub fn payment_stats(&self) -> Option<payment::PaymentStats> {
        self.state.payment_stats()
    }

    /// The ladder of streams whose push names none (`-transcodingOptions` at start-up).
    pub fn default_profiles(&self) -> Vec<VideoProfile> {
        self.state.default_profiles()
    }

    /// Changes the ladder of streams started from now on (the CLI API's
    /// `/setBroadcastConfig transcodingOptions`, go-livepeer `BroadcastJobVideoProfiles`).
    pub fn set_default_profiles(&self, profiles: Vec<VideoProfile>) {
        self.state.set_default_profiles(profiles);
    }

    /// On chain: the max price per pixel pool orchestrators are chosen under; `None` for any.
    pub fn max_price(&self) -> Option<livepeer_pm::PricePerPixel> {
        self.state.max_price()
    }

    /// Changes the max price per pixel for the next discovery (the CLI API's
    /// `/setBroadcastConfig`, go-livepeer `BroadcastCfg.SetMaxPrice`); `None` for any price.
    pub fn set_max_price(&self, price: Option<livepeer_pm::PricePerPixel>) {
        self.state.set_max_price(price);
    }

    /// Keeps a max price for an AI `pipeline` and `model_id` (go-livepeer
    /// `BroadcastCfg.SetCapabilityMaxPrice`); this gateway runs no AI jobs yet, so it is only
    /// kept.
    pub fn set_capability_max_price(
        &self,
        pipeline: &str,
        model_id: &str,
        price: livepeer_pm::PricePerPixel,
    ) {
        self.state
            .set_capability_max_price(pipeline, model_id, price);
    }

    /// The max price kept for `pipeline` and `model_id`, if any.
    pub fn capability_max_price(
        &self,
        pipeline: &str,
        model_id: &str,
    ) -> Option<livepeer_pm::PricePerPixel> {
        self.state.capability_max_price(pipeline, model_id)
    }

    /// Streams that are live (pushed to and not ended); at most `-maxSessions`.
    pub fn live_streams(&self) -> usize {
        self.state.live_streams()
    }

    /// Segment results that failed `-localVerify` (a pixel recount that differs from the
    /// reported pixels, or fails) since the gateway started.
    pub fn local_verification_failures(&self) -> u64 {
        self.state.local_verification_failures()
    }

    /// Rendition bytes held in memory for HLS, all streams together; at most
    /// [`GatewayConfig::max_retained_bytes`].
    pub fn retained_bytes(&self) -> u64 {
        self.state.retained_bytes()
    }

    /// Every stream the gateway publishes now (live, and ended ones still playable as VOD),
    /// ordered by manifest ID.
    pub fn streams(&self) -> Vec<StreamStatus> {
        self.state.stream_statuses()
    }

    /// The gateway's HLS routes alone, read-only, on this gateway's state:
    /// `/stream/<manifest>.m3u8`, `/stream/<manifest>/<track>.m3u8` and
    /// `/stream/<manifest>/<track>/<seq><ext>`, answering as the gateway's own HTTP port does.
    /// The node's dashboard serves them on the CLI port, so its player needs no other origin.
    pub fn hls_router(&self) -> axum::Router {
        routes::hls_router(self.state.clone())
    }
}

/// One stream as [`GatewayHandle::streams`] reports it (JSON field names in camelCase).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamStatus {
    /// The manifest ID its HLS is published under (`/stream/<manifestId>.m3u8`).
    pub manifest_id: String,
    /// Still pushed to (its playlists are live); `false` once ended, when it plays as VOD.
    pub live: bool,
    /// The tracks of its master playlist: `source`, then the ladder's profile names.
    pub tracks: Vec<String>,
    /// Segments held for HLS now.
    pub segments: usize,
    /// The newest segment's sequence number, if any is held.
    pub last_seq: Option<u64>,
    /// The duration of the segments held, milliseconds.
    pub duration_ms: u64,
    /// Rendition bytes held for it.
    pub bytes: u64,
}
