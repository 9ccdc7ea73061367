//! The gateway: takes segments pushed over HTTP, finds orchestrators, sends each segment to
//! one with retries and swaps, and publishes the renditions as HLS.
//!
//! Behaviour follows go-livepeer (`server/mediaserver.go`, `server/broadcast.go`,
//! `discovery/discovery.go`) as `reference/wire-and-network.md` §3.4, §4 and §5 describe:
//!
//! - `POST|PUT /live/<manifest>/<seq>.ts` with `Content-Duration` (ms); with
//!   `Accept: multipart/mixed` the answer carries the renditions as parts ([`multipart`]);
//!   503 "No sessions available" when no orchestrator can take the segment;
//! - orchestrators come from `-orchAddr`, probed in parallel ([`discovery`]); each segment
//!   gets up to `-maxAttempts` attempts, and an orchestrator that fails is suspended and
//!   swapped for the next ([`dispatch`]);
//! - HLS at `/stream/<manifest>.m3u8`, `/stream/<manifest>/<profile>.m3u8` and
//!   `/stream/<manifest>/<profile>/<seq>.ts` ([`hls`]); a stream idle for
//!   [`PUSH_IDLE_TIMEOUT`], or ended with `DELETE /live/<manifest>`, plays as VOD.
//!
//! Off-chain only for now: no payment is attached and nothing is signed.

pub mod client;
pub mod discovery;
pub mod dispatch;
mod error;
pub mod hls;
pub mod multipart;
mod routes;
mod streams;

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

/// Result alias of this crate.
pub type GatewayResult<T> = Result<T, GatewayError>;

/// go-livepeer's default gateway HTTP address.
pub const DEFAULT_HTTP_ADDR: &str = "127.0.0.1:9935";
/// Attempts per segment (go-livepeer `-maxAttempts`).
pub const DEFAULT_MAX_ATTEMPTS: usize = 3;
/// A pushed stream with no new segment for this long is ended (go-livepeer
/// `httpPushTimeout`).
pub const PUSH_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long shutdown waits for open requests.
pub const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);

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
    /// `-discoveryTimeout`: first wait for discovery answers.
    pub discovery_timeout: Duration,
    /// Idle time after which a pushed stream ends.
    pub push_idle_timeout: Duration,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            http_addr: DEFAULT_HTTP_ADDR.to_string(),
            orch_addrs: Vec::new(),
            profiles: parse_transcoding_options(DEFAULT_TRANSCODING_OPTIONS)
                .expect("the default ladder names standard profiles"),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            discovery_timeout: discovery::DEFAULT_DISCOVERY_TIMEOUT,
            push_idle_timeout: PUSH_IDLE_TIMEOUT,
        }
    }
}

/// A bound gateway, ready to [`run`](GatewayService::run).
#[derive(Debug)]
pub struct GatewayService {
    listener: TcpListener,
    state: Arc<streams::Gateway>,
}

impl GatewayService {
    /// Binds the HTTP listener (an `http://` prefix on the address is accepted).
    ///
    /// Errors: [`GatewayError::Bind`].
    pub async fn bind(config: GatewayConfig) -> GatewayResult<Self> {
        let addr = config.http_addr.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|source| GatewayError::Bind { addr, source })?;
        Ok(Self {
            listener,
            state: Arc::new(streams::Gateway::new(config)),
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// Serves until `cancel` fires; then ends every stream's orchestrator sessions and drains
    /// open requests for up to [`SHUTDOWN_DRAIN`].
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
        let shutdown = cancel.clone();
        let serve = axum::serve(self.listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await });
        let serve = async {
            let drained = async {
                cancel.cancelled().await;
                tokio::time::sleep(SHUTDOWN_DRAIN).await;
            };
            tokio::select! {
                result = serve => result.map_err(GatewayError::Io),
                _ = drained => Ok(()),
            }
        };
        let (served, ()) = tokio::join!(serve, janitor);
        self.state.end_all_streams().await;
        info!("gateway stopped");
        served
    }
}
