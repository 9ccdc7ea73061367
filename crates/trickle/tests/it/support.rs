//! A trickle server on 127.0.0.1, nested at the orchestrator's base path, and helpers.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use livepeer_trickle::wire::ORCHESTRATOR_BASE_PATH;
use livepeer_trickle::{TrickleConfig, TrickleServer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Requests that reached the router, by `"<METHOD> <path>"`.
type Seen = Arc<Mutex<HashMap<String, usize>>>;

/// A real server: axum on 127.0.0.1:0 with graceful stop, the idle sweep beside it. It
/// counts the requests that reach the trickle routes, so a test can wait until a request
/// is being served (tests run on one thread: once counted, its handler has run up to its
/// first wait).
pub struct TestServer {
    pub trickle: TrickleServer,
    pub addr: SocketAddr,
    seen: Seen,
    stop: CancellationToken,
    serve: Option<JoinHandle<()>>,
    sweep: Option<JoinHandle<()>>,
}

impl TestServer {
    pub async fn start(config: TrickleConfig) -> Self {
        let trickle = TrickleServer::new(config);
        let seen = Seen::default();
        let counter = seen.clone();
        let app = axum::Router::new()
            .nest(ORCHESTRATOR_BASE_PATH, trickle.router())
            .layer(axum::middleware::from_fn(
                move |request: axum::extract::Request, next: axum::middleware::Next| {
                    let key = format!("{} {}", request.method(), request.uri().path());
                    *counter.lock().expect("seen").entry(key).or_default() += 1;
                    next.run(request)
                },
            ));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let stop = CancellationToken::new();
        let serve = tokio::spawn({
            let stop = stop.clone();
            async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await
                    .expect("serve");
            }
        });
        let sweep = tokio::spawn(trickle.sweep_service(stop.clone()));
        Self {
            trickle,
            addr,
            seen,
            stop,
            serve: Some(serve),
            sweep: Some(sweep),
        }
    }

    /// A server whose channels must be created by the node (go-livepeer's default).
    pub async fn default() -> Self {
        Self::start(TrickleConfig::default()).await
    }

    /// `http://<addr>/ai/trickle/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{ORCHESTRATOR_BASE_PATH}/{path}", self.addr)
    }

    /// Waits until `n` requests `<method> <base>/<path>` have reached the server.
    pub async fn wait_seen(&self, method: &str, path: &str, n: usize) {
        let key = format!("{method} {ORCHESTRATOR_BASE_PATH}/{path}");
        eventually(&key, || {
            self.seen
                .lock()
                .expect("seen")
                .get(&key)
                .copied()
                .unwrap_or(0)
                >= n
        })
        .await;
    }

    /// Stops gracefully: the sweep service closes every channel, which ends the waiting
    /// requests, so the HTTP server can drain.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(sweep) = self.sweep.take() {
            sweep.await.expect("sweep service");
        }
        if let Some(serve) = self.serve.take() {
            tokio::time::timeout(Duration::from_secs(30), serve)
                .await
                .expect("graceful stop drains every request")
                .expect("serve task");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

/// A request body the test feeds chunk by chunk; dropping the sender ends it.
pub fn pipe_body() -> (mpsc::Sender<Bytes>, reqwest::Body) {
    let (tx, rx) = mpsc::channel::<Bytes>(16);
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, std::io::Error>(chunk), rx))
    });
    (tx, reqwest::Body::wrap_stream(stream))
}

/// A response's header as text ("" when absent).
pub fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
}

/// Deterministic bytes for segment `seq`, `len` long.
pub fn payload(seq: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| ((i as u64).wrapping_mul(31).wrapping_add(seq * 7) % 251) as u8)
        .collect()
}

/// Reads a whole response body, chunk by chunk.
pub async fn body_bytes(mut response: reqwest::Response) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = response.chunk().await.expect("body chunk") {
        out.extend_from_slice(&chunk);
    }
    out
}

/// Waits (up to 30 s) until `done` holds, checking every 10 ms.
pub async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A TCP relay to `target` on 127.0.0.1:0 that mistreats its first connections: the first
/// `drop_first` are closed as soon as their first bytes arrive, the next `hold_first` are
/// held open and never answered; the rest are relayed.
pub struct FaultyRelay {
    pub addr: SocketAddr,
    dropped: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl FaultyRelay {
    pub async fn start(target: SocketAddr, drop_first: usize, hold_first: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind relay");
        let addr = listener.local_addr().expect("relay addr");
        let dropped = Arc::new(AtomicUsize::new(0));
        let dropped_count = dropped.clone();
        let task = tokio::spawn(async move {
            let mut held = Vec::new();
            let mut seen = 0;
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                seen += 1;
                if seen <= drop_first {
                    let dropped = dropped_count.clone();
                    tokio::spawn(async move {
                        let mut buf = [0u8; 1];
                        let _ = tokio::io::AsyncReadExt::read(&mut inbound, &mut buf).await;
                        drop(inbound);
                        dropped.fetch_add(1, Ordering::SeqCst);
                    });
                } else if seen <= drop_first + hold_first {
                    held.push(inbound);
                } else {
                    tokio::spawn(async move {
                        let Ok(mut outbound) = TcpStream::connect(target).await else {
                            return;
                        };
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    });
                }
            }
        });
        Self {
            addr,
            dropped,
            task,
        }
    }

    /// Connections closed so far.
    pub fn dropped(&self) -> usize {
        self.dropped.load(Ordering::SeqCst)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{ORCHESTRATOR_BASE_PATH}/{path}", self.addr)
    }
}

impl Drop for FaultyRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}
