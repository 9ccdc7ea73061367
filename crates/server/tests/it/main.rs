//! The accept loop against real sockets on 127.0.0.1: slow and idle clients are cut off,
//! one peer cannot take every connection, and shutdown ends what is still open.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response};
use livepeer_server::{ServerConfig, serve};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A running server whose `/slow` route never answers (and records when its request is
/// dropped) and whose other routes answer "ok".
struct Server {
    addr: std::net::SocketAddr,
    cancel: CancellationToken,
    task: JoinHandle<()>,
    slow_dropped: Arc<AtomicBool>,
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

async fn start(tweak: impl FnOnce(&mut ServerConfig)) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let mut config = ServerConfig::named("test");
    tweak(&mut config);
    let slow_dropped = Arc::new(AtomicBool::new(false));
    let flag = slow_dropped.clone();
    let service = tower::service_fn(move |req: Request<hyper::body::Incoming>| {
        let flag = flag.clone();
        async move {
            if req.uri().path() == "/slow" {
                let _guard = SetOnDrop(flag);
                std::future::pending::<()>().await;
            }
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
        }
    });
    let cancel = CancellationToken::new();
    let task = tokio::spawn(serve(listener, None, service, config, cancel.clone()));
    Server {
        addr,
        cancel,
        task,
        slow_dropped,
    }
}

/// Reads until the server closes the connection; returns what it sent, or `None` if it is
/// still open after `limit`.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut all = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(limit, read).await.ok().map(|()| all)
}

#[tokio::test]
async fn a_request_head_that_never_ends_is_cut_off() {
    let server = start(|c| c.header_read_timeout = Duration::from_millis(300)).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\nX-Slow: ")
        .await
        .expect("write");
    let answer = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(answer.is_some(), "the slow-header connection is closed");

    // A client that sends its whole head is served.
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let answer = read_until_closed(&mut stream, Duration::from_secs(10))
        .await
        .expect("answered and closed");
    assert!(String::from_utf8_lossy(&answer).ends_with("ok"));
    server.cancel.cancel();
    server.task.await.expect("serve returns");
}

#[tokio::test]
async fn a_connection_that_sends_nothing_is_closed() {
    let server = start(|c| {
        c.idle_timeout = Duration::from_millis(300);
        c.header_read_timeout = Duration::from_secs(60);
    })
    .await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    assert!(
        read_until_closed(&mut stream, Duration::from_secs(10))
            .await
            .is_some(),
        "an idle connection is closed"
    );
    server.cancel.cancel();
    server.task.await.expect("serve returns");
}

#[tokio::test]
async fn one_peer_cannot_take_every_connection() {
    let server = start(|c| c.max_connections_per_peer = 2).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(TcpStream::connect(server.addr).await.expect("connect"));
    }
    // Let the server admit the two before the third arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut third = TcpStream::connect(server.addr).await.expect("connect");
    let _ = third
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        .await;
    let answer = read_until_closed(&mut third, Duration::from_secs(10))
        .await
        .expect("the third connection is closed");
    assert!(answer.is_empty(), "and gets no answer");

    // The two admitted ones are served; once one closes, a new one is admitted.
    let mut first = held.remove(0);
    first
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let answer = read_until_closed(&mut first, Duration::from_secs(10))
        .await
        .expect("served");
    assert!(String::from_utf8_lossy(&answer).ends_with("ok"));
    drop(first);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = TcpStream::connect(server.addr).await.expect("connect");
    again
        .write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let answer = read_until_closed(&mut again, Duration::from_secs(10))
        .await
        .expect("served");
    assert!(String::from_utf8_lossy(&answer).ends_with("ok"));
    server.cancel.cancel();
    server.task.await.expect("serve returns");
}

#[tokio::test]
async fn shutdown_closes_what_is_still_open_after_the_drain() {
    let server = start(|c| c.drain_timeout = Duration::from_millis(300)).await;
    let mut stream = TcpStream::connect(server.addr).await.expect("connect");
    stream
        .write_all(b"GET /slow HTTP/1.1\r\nHost: test\r\n\r\n")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    server.cancel.cancel();
    tokio::time::timeout(Duration::from_secs(10), server.task)
        .await
        .expect("serve returns although a request never finishes")
        .expect("no panic");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "returned after the drain"
    );
    assert!(
        server.slow_dropped.load(Ordering::SeqCst),
        "the unfinished request was dropped"
    );
    assert!(
        read_until_closed(&mut stream, Duration::from_secs(5))
            .await
            .is_some(),
        "its connection is closed"
    );
    assert!(
        TcpStream::connect(server.addr).await.is_err(),
        "the listener is closed"
    );
}
