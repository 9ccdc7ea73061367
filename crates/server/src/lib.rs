//! The accept loop both node roles serve HTTP with: HTTP/1.1 and HTTP/2 (auto-detected, with
//! upgrades) over plain TCP or TLS, hardened for clients that are hostile or merely careless.
//!
//! What [`serve`] bounds, with the defaults of [`ServerConfig`]:
//! - connections: at most [`DEFAULT_MAX_CONNECTIONS`] in all and
//!   [`DEFAULT_MAX_CONNECTIONS_PER_PEER`] per client IP; a connection past either cap is closed
//!   at once, so one client cannot starve the others;
//! - time: the TLS handshake ([`DEFAULT_TLS_HANDSHAKE_TIMEOUT`]), an HTTP/1.1 request head
//!   ([`DEFAULT_HEADER_READ_TIMEOUT`], hyper's `header_read_timeout`), and a connection with
//!   no bytes moving either way for [`DEFAULT_IDLE_TIMEOUT`] (go-livepeer's `IdleTimeout` is
//!   10 min) is shut down gracefully (in-flight requests finish, HTTP/2 gets a GOAWAY);
//!   HTTP/2 keep-alive pings find dead peers;
//! - HTTP/2: concurrent streams per connection ([`DEFAULT_H2_MAX_CONCURRENT_STREAMS`], Go's
//!   default), header list size, reset-stream floods (hyper's limits);
//! - header bytes: [`DEFAULT_MAX_HEADER_BYTES`] (Go's `DefaultMaxHeaderBytes`, 1 MB).
//!
//! Request bodies are not read here: each route bounds its own body by size and time.
//!
//! Shutdown: when the token fires the listener closes, every connection is asked to shut down
//! gracefully, and after [`ServerConfig::drain_timeout`] the connections still open are
//! closed (their tasks aborted, which drops the requests they serve). [`serve`] returns only
//! once every connection task has ended.

pub mod peer_client;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// Most connections open at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 4096;
/// Most connections open at once from one IP address. A gateway needs one HTTP/2 connection
/// per orchestrator; a pushing client one per parallel upload.
pub const DEFAULT_MAX_CONNECTIONS_PER_PEER: usize = 256;
/// Longest a TLS handshake may take.
pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest an HTTP/1.1 request head may take to arrive, counted from when the connection
/// is ready for it (so it also closes idle keep-alive connections).
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(20);
/// A connection with no bytes read or written for this long is shut down gracefully. The
/// first request's bytes must also arrive within it.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// HTTP/2 streams per connection (Go's `http2` server default is 250).
pub const DEFAULT_H2_MAX_CONCURRENT_STREAMS: u32 = 250;
/// Largest request head, bytes: HTTP/1.1 read buffer and HTTP/2 header list (Go's
/// `http.DefaultMaxHeaderBytes`).
pub const DEFAULT_MAX_HEADER_BYTES: usize = 1 << 20;
/// HTTP/2 keep-alive ping interval; a peer that does not answer within the same time is
/// dropped.
pub const DEFAULT_H2_KEEP_ALIVE: Duration = Duration::from_secs(30);
/// How long shutdown lets open connections finish before closing them.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// HTTP/2 flow-control window per stream, bytes: segments are megabytes, and 64 KiB windows
/// would make every upload wait on window updates.
pub const DEFAULT_H2_STREAM_WINDOW_BYTES: u32 = 8 * 1024 * 1024;
/// HTTP/2 flow-control window per connection, bytes.
pub const DEFAULT_H2_CONNECTION_WINDOW_BYTES: u32 = 16 * 1024 * 1024;

/// Limits of a server; see the crate docs for what each bounds.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Name used in logs (`orchestrator`, `gateway`).
    pub name: &'static str,
    /// Most connections at once.
    pub max_connections: usize,
    /// Most connections at once from one IP.
    pub max_connections_per_peer: usize,
    /// TLS handshake limit.
    pub tls_handshake_timeout: Duration,
    /// HTTP/1.1 request head limit.
    pub header_read_timeout: Duration,
    /// No-traffic limit of a connection.
    pub idle_timeout: Duration,
    /// HTTP/2 streams per connection.
    pub h2_max_concurrent_streams: u32,
    /// Largest request head, bytes.
    pub max_header_bytes: usize,
    /// HTTP/2 keep-alive ping interval (and answer timeout).
    pub h2_keep_alive: Duration,
    /// HTTP/2 window per stream, bytes.
    pub h2_stream_window_bytes: u32,
    /// HTTP/2 window per connection, bytes.
    pub h2_connection_window_bytes: u32,
    /// How long shutdown waits before closing open connections.
    pub drain_timeout: Duration,
}

impl ServerConfig {
    /// The defaults, named `name` in logs.
    pub fn named(name: &'static str) -> Self {
        Self {
            name,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_peer: DEFAULT_MAX_CONNECTIONS_PER_PEER,
            tls_handshake_timeout: DEFAULT_TLS_HANDSHAKE_TIMEOUT,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            h2_max_concurrent_streams: DEFAULT_H2_MAX_CONCURRENT_STREAMS,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            h2_keep_alive: DEFAULT_H2_KEEP_ALIVE,
            h2_stream_window_bytes: DEFAULT_H2_STREAM_WINDOW_BYTES,
            h2_connection_window_bytes: DEFAULT_H2_CONNECTION_WINDOW_BYTES,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
        }
    }

    fn builder(&self) -> auto::Builder<TokioExecutor> {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout)
            .max_buf_size(self.max_header_bytes.max(8192));
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(self.h2_max_concurrent_streams)
            .max_header_list_size(u32::try_from(self.max_header_bytes).unwrap_or(u32::MAX))
            .initial_stream_window_size(self.h2_stream_window_bytes)
            .initial_connection_window_size(self.h2_connection_window_bytes)
            .keep_alive_interval(self.h2_keep_alive)
            .keep_alive_timeout(self.h2_keep_alive);
        builder
    }
}

/// A service [`serve`] can run: a cloneable tower service from hyper requests to responses
/// that never fails (errors are responses), with a `Send` future. Axum's `Router` is one.
pub trait Handler<B>:
    tower::Service<
        Request<Incoming>,
        Response = Response<B>,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<S, B> Handler<B> for S where
    S: tower::Service<
            Request<Incoming>,
            Response = Response<B>,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// A response body [`serve`] can send.
pub trait ResponseBody:
    http_body::Body<Data: Send, Error: Into<Box<dyn std::error::Error + Send + Sync>>> + Send + 'static
{
}

impl<B> ResponseBody for B where
    B: http_body::Body<Data: Send, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
        + Send
        + 'static
{
}

/// The address of the client a request came from, put in every request's extensions
/// (`req.extensions().get::<PeerAddr>()`; gRPC handlers see it in `tonic::Request::extensions`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// `inner`, with [`PeerAddr`] added to each request.
#[derive(Clone)]
pub struct WithPeer<S> {
    inner: S,
    peer: PeerAddr,
}

impl<S> tower::Service<Request<Incoming>> for WithPeer<S>
where
    S: tower::Service<Request<Incoming>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Incoming>) -> Self::Future {
        req.extensions_mut().insert(self.peer);
        self.inner.call(req)
    }
}

/// Serves `service` on `listener` (TLS when `tls` is given) until `cancel` fires, then drains
/// and closes every connection (see the crate docs) and returns.
pub async fn serve<S, B>(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    service: S,
    config: ServerConfig,
    cancel: CancellationToken,
) where
    S: Handler<B>,
    B: ResponseBody,
{
    let config = Arc::new(config);
    let peers = Peers::default();
    let closing = CancellationToken::new();
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            // Reap finished connection tasks as they end, so the set stays small.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let (tcp, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(err) => {
                        // Out of file descriptors, usually: back off instead of spinning.
                        warn!(server = config.name, %err, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                if connections.len() >= config.max_connections {
                    debug!(server = config.name, %peer, "connection refused: too many connections");
                    continue;
                }
                let Some(slot) = peers.admit(peer.ip(), config.max_connections_per_peer) else {
                    debug!(server = config.name, %peer, "connection refused: too many connections from this peer");
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                connections.spawn(serve_connection(
                    tcp,
                    peer,
                    tls.clone(),
                    service.clone(),
                    config.clone(),
                    closing.clone(),
                    slot,
                ));
            }
        }
    }
    drop(listener);
    closing.cancel();
    let open = connections.len();
    let drained = tokio::time::timeout(config.drain_timeout, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        warn!(
            server = config.name,
            open = connections.len(),
            "connections still open after {:?}; closing them",
            config.drain_timeout
        );
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    } else if open > 0 {
        debug!(server = config.name, open, "connections drained");
    }
    info!(server = config.name, "stopped serving");
}

async fn serve_connection<S, B>(
    tcp: tokio::net::TcpStream,
    peer: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    service: S,
    config: Arc<ServerConfig>,
    closing: CancellationToken,
    _slot: PeerSlot,
) where
    S: Handler<B>,
    B: ResponseBody,
{
    let service = hyper_util::service::TowerToHyperService::new(WithPeer {
        inner: service,
        peer: PeerAddr(peer),
    });
    let activity = Activity::new();
    let result = match tls {
        Some(acceptor) => {
            let handshake = tokio::select! {
                done = tokio::time::timeout(config.tls_handshake_timeout, acceptor.accept(tcp)) => done,
                _ = closing.cancelled() => return,
            };
            match handshake {
                Ok(Ok(stream)) => {
                    let io = Tracked::new(stream, activity.clone());
                    drive(io, service, &config, &closing, &activity).await
                }
                Ok(Err(err)) => {
                    debug!(server = config.name, %peer, %err, "tls handshake failed");
                    return;
                }
                Err(_) => {
                    debug!(server = config.name, %peer, "tls handshake timed out");
                    return;
                }
            }
        }
        None => {
            let io = Tracked::new(tcp, activity.clone());
            drive(io, service, &config, &closing, &activity).await
        }
    };
    if let Err(err) = result {
        debug!(server = config.name, %peer, %err, "connection ended with an error");
    }
}

/// Serves one connection until it ends; shuts it down gracefully when the server closes or
/// when it has been idle for the configured time.
async fn drive<I, S, B>(
    io: I,
    service: hyper_util::service::TowerToHyperService<WithPeer<S>>,
    config: &ServerConfig,
    closing: &CancellationToken,
    activity: &Activity,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Handler<B>,
    B: ResponseBody,
{
    let builder = config.builder();
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(conn);
    let check_every = (config.idle_timeout / 4).max(Duration::from_millis(50));
    let mut shutting_down = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => return result,
            _ = closing.cancelled(), if !shutting_down => {
                conn.as_mut().graceful_shutdown();
                shutting_down = true;
            }
            _ = tokio::time::sleep(check_every), if !shutting_down => {
                if activity.idle_for() >= config.idle_timeout {
                    debug!(server = config.name, "idle connection shut down");
                    conn.as_mut().graceful_shutdown();
                    shutting_down = true;
                }
            }
        }
    }
}

/// When a connection last moved bytes.
#[derive(Clone)]
struct Activity {
    epoch: Instant,
    last_ms: Arc<AtomicU64>,
}

impl Activity {
    fn new() -> Self {
        Self {
            epoch: Instant::now(),
            last_ms: Arc::new(AtomicU64::new(0)),
        }
    }

    fn touch(&self) {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(now, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_ms.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(last)
    }
}

/// An I/O stream that records when bytes last moved.
struct Tracked<I> {
    inner: I,
    activity: Activity,
}

impl<I> Tracked<I> {
    fn new(inner: I, activity: Activity) -> Self {
        activity.touch();
        Self { inner, activity }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Tracked<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(poll, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        poll
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Tracked<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, data);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(poll, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Open connections per client IP.
#[derive(Clone, Default)]
struct Peers {
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl Peers {
    /// A slot for one more connection from `ip`, or `None` when it has `max` open.
    fn admit(&self, ip: IpAddr, max: usize) -> Option<PeerSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(ip).or_default();
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(PeerSlot {
            peers: self.clone(),
            ip,
        })
    }
}

/// One admitted connection; dropping it frees the slot.
struct PeerSlot {
    peers: Peers,
    ip: IpAddr,
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut open = self.peers.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_are_capped_and_slots_freed() {
        let peers = Peers::default();
        let ip: IpAddr = [127, 0, 0, 1].into();
        let other: IpAddr = [127, 0, 0, 2].into();
        let a = peers.admit(ip, 2).expect("first");
        let _b = peers.admit(ip, 2).expect("second");
        assert!(peers.admit(ip, 2).is_none(), "third from the same peer");
        assert!(
            peers.admit(other, 2).is_some(),
            "another peer has its own cap"
        );
        drop(a);
        assert!(peers.admit(ip, 2).is_some(), "a freed slot is reusable");
    }
}
