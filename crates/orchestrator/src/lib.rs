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
//!   `GET /stream/<session>/<profile>/<seq>.ts`; idle sessions are torn down ([`sessions`]).
//!
//! Off-chain only for now: no price, no ticket parameters, and segment signatures are not
//! checked (go-livepeer's `VerifySig` is a no-op off-chain too).

pub mod auth;
mod error;
mod grpc;
mod http;
pub mod sessions;
pub mod storage;
pub mod tls;
mod transcode;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use livepeer_primitives::{Capabilities, Capability, CapabilitySet};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn};

pub use error::OrchestratorError;
pub use transcode::LocalTranscoder;

/// Result alias of this crate.
pub type OrchestratorResult<T> = Result<T, OrchestratorError>;

/// go-livepeer's default orchestrator port, used when an address gives none.
pub const DEFAULT_SERVICE_PORT: u16 = 8935;
/// go-livepeer's default `-maxSessions`.
pub const DEFAULT_MAX_SESSIONS: usize = 10;
/// The version this node reports in `Capabilities.version`.
pub const NODE_VERSION: &str = env!("CARGO_PKG_VERSION");
/// How long shutdown waits for open connections to finish.
pub const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);
/// HTTP/2 flow-control window per stream, bytes.
pub const H2_STREAM_WINDOW_BYTES: u32 = 8 * 1024 * 1024;
/// HTTP/2 flow-control window per connection, bytes.
pub const H2_CONNECTION_WINDOW_BYTES: u32 = 16 * 1024 * 1024;
/// How long a TLS handshake may take before the connection is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

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
    /// `-dataDir`: where `cert.pem` and `key.pem` are written, if set.
    pub data_dir: Option<PathBuf>,
    /// Idle time after which a session is torn down.
    pub session_idle_timeout: Duration,
}

impl Default for OrchestratorConfig {
    fn default() -> Self {
        Self {
            service_addr: format!("127.0.0.1:{DEFAULT_SERVICE_PORT}"),
            http_addr: None,
            max_sessions: DEFAULT_MAX_SESSIONS,
            transcoder: None,
            data_dir: None,
            session_idle_timeout: sessions::DEFAULT_SESSION_IDLE_TIMEOUT,
        }
    }
}

/// The capabilities this node's software transcoder offers: go-livepeer's default set minus
/// what we cannot do yet (S3/GCS storage, MPEG-7 signatures, segment slicing), plus the
/// decoders ffmpeg has.
pub fn software_capabilities() -> Capabilities {
    let mut bits = CapabilitySet::default_transcoding();
    for cap in [
        Capability::StorageS3,
        Capability::StorageGcs,
        Capability::Mpeg7VideoSignature,
        Capability::SegmentSlicing,
    ] {
        bits.remove(cap);
    }
    for cap in [
        Capability::HevcDecode,
        Capability::Vp8Decode,
        Capability::Vp9Decode,
    ] {
        bits.insert(cap);
    }
    Capabilities {
        bitstring: bits,
        version: NODE_VERSION.to_string(),
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
    pub(crate) transcoder: Option<LocalTranscoder>,
}

impl State {
    /// Tears a session down and frees its renditions.
    pub(crate) fn end_session(&self, id: &str) {
        if self.sessions.end(id) {
            debug!(session = id, "session ended");
        }
        self.store.remove_session(id);
    }
}

/// A bound orchestrator, ready to [`run`](OrchestratorService::run).
pub struct OrchestratorService {
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    state: Arc<State>,
    idle_timeout: Duration,
}

/// The parts of an address: scheme (if given), host, port.
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
    let (host, port) = match rest.rsplit_once(':') {
        Some((host, _)) if !host.ends_with(']') && host.contains(':') => {
            (rest.to_string(), DEFAULT_SERVICE_PORT) // bare IPv6 without a port
        }
        Some((host, port)) => (
            host.to_string(),
            port.parse().map_err(|_| invalid("port is not a number"))?,
        ),
        None => (rest.to_string(), DEFAULT_SERVICE_PORT),
    };
    let host = if host.is_empty() {
        "0.0.0.0".to_string()
    } else {
        host
    };
    Ok((scheme, host, port))
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
            None => {
                let host = match service_host.parse::<IpAddr>() {
                    Ok(ip) => ip.to_string(),
                    Err(_) => Ipv4Addr::UNSPECIFIED.to_string(),
                };
                (false, host, service_port)
            }
        };
        let bind_addr = format!("{}:{bind_port}", bracket_ipv6(&bind_host));
        let listener =
            TcpListener::bind(&bind_addr)
                .await
                .map_err(|source| OrchestratorError::Bind {
                    addr: bind_addr.clone(),
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
        let state = Arc::new(State {
            service_uri,
            auth: auth::AuthTokens::default(),
            sessions: sessions::Sessions::new(config.max_sessions),
            store: storage::RenditionStore::default(),
            capabilities: software_capabilities(),
            transcoder: config.transcoder,
        });
        Ok(Self {
            listener,
            tls,
            state,
            idle_timeout: config.session_idle_timeout,
        })
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    }

    /// The service URI advertised to gateways (`OrchestratorInfo.transcoder`), e.g.
    /// `https://127.0.0.1:8935`.
    pub fn service_uri(&self) -> &str {
        &self.state.service_uri
    }

    /// Serves until `cancel` fires, then stops accepting and drains open connections for up to
    /// [`SHUTDOWN_DRAIN`].
    pub async fn run(self, cancel: CancellationToken) -> OrchestratorResult<()> {
        let service =
            hyper_util::service::TowerToHyperService::new(http::service(self.state.clone()));
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let connections = TaskTracker::new();
        let mut sweep =
            tokio::time::interval((self.idle_timeout / 4).max(Duration::from_millis(50)));
        info!(uri = %self.state.service_uri, addr = %self.local_addr(), tls = self.tls.is_some(), "orchestrator listening");
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = sweep.tick() => {
                    for id in self.state.sessions.sweep_idle(self.idle_timeout) {
                        debug!(session = %id, "idle session torn down");
                        self.state.store.remove_session(&id);
                    }
                }
                accepted = self.listener.accept() => {
                    let (tcp, peer) = match accepted {
                        Ok(conn) => conn,
                        Err(err) => {
                            warn!(%err, "accept failed");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    let _ = tcp.set_nodelay(true);
                    let service = service.clone();
                    let watcher = graceful.watcher();
                    let tls = self.tls.clone();
                    connections.spawn(async move {
                        let mut builder = auto::Builder::new(TokioExecutor::new());
                        // Segments are megabytes: HTTP/2's 64 KiB default windows would make
                        // every upload wait on window updates.
                        builder
                            .http2()
                            .initial_stream_window_size(H2_STREAM_WINDOW_BYTES)
                            .initial_connection_window_size(H2_CONNECTION_WINDOW_BYTES);
                        let result = match tls {
                            Some(acceptor) => {
                                match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                                    Ok(Ok(stream)) => {
                                        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                                        watcher.watch(conn.into_owned()).await
                                    }
                                    Ok(Err(err)) => { debug!(%peer, %err, "tls handshake failed"); return; }
                                    Err(_) => { debug!(%peer, "tls handshake timed out"); return; }
                                }
                            }
                            None => {
                                let conn = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service);
                                watcher.watch(conn.into_owned()).await
                            }
                        };
                        if let Err(err) = result {
                            debug!(%peer, %err, "connection ended with an error");
                        }
                    });
                }
            }
        }
        drop(self.listener);
        if tokio::time::timeout(SHUTDOWN_DRAIN, graceful.shutdown())
            .await
            .is_err()
        {
            warn!("connections still open after {SHUTDOWN_DRAIN:?}; closing them");
        }
        connections.close();
        info!("orchestrator stopped");
        Ok(())
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
            ("[::1]:8935", (None, "[::1]", 8935)),
        ];
        for (addr, (scheme, host, port)) in cases {
            let got = split_addr(addr).expect(addr);
            assert_eq!(
                (got.0, got.1.as_str(), got.2),
                (scheme, host, port),
                "{addr}"
            );
        }
        assert!(split_addr("host:notaport").is_err());
        assert!(split_addr("").is_err());
    }

    #[test]
    fn software_capabilities_drop_what_we_cannot_do() {
        let caps = software_capabilities();
        assert!(caps.bitstring.contains(Capability::H264));
        assert!(caps.bitstring.contains(Capability::AuthToken));
        assert!(!caps.bitstring.contains(Capability::SegmentSlicing));
        assert!(!caps.bitstring.contains(Capability::StorageS3));
        assert!(!caps.bitstring.contains(Capability::Mpeg7VideoSignature));
        assert_eq!(caps.version, NODE_VERSION);
    }
}
