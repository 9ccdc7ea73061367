//! Bounded resources on the orchestrator's port: bodies over the limit are refused without
//! being read or buffered, slow clients are cut off, and shutdown stops transcodes and
//! their ffmpeg before it returns.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use hyper::StatusCode;
use livepeer_gateway::client::OrchestratorClient;
use livepeer_orchestrator::validate::MAX_SEGMENT_DURATION;
use livepeer_proto::headers::{PAYMENT_HEADER, SEGMENT_HEADER, encode_header};
use livepeer_proto::net;
use livepeer_testing::orchestrator::endless_body;
use livepeer_testing::process::{descendants_running, scratch_is_idle, scratch_roots};
use tokio::io::AsyncReadExt;

use crate::*;

/// The largest body the orchestrator reads (go-livepeer `common.MaxSegSize`).
const LIMIT: u64 = 300_000_000;

/// A `/segment` request for `seg` with `body`, and an optional declared length.
fn request(
    base: &str,
    seg: &net::SegData,
    body: tonic::body::Body,
    content_length: Option<u64>,
) -> hyper::Request<tonic::body::Body> {
    let mut builder = hyper::Request::post(format!("{base}/segment"))
        .header(SEGMENT_HEADER, encode_header(seg))
        .header(PAYMENT_HEADER, "")
        .header(hyper::header::CONTENT_TYPE, "video/MP2T");
    if let Some(n) = content_length {
        builder = builder.header(hyper::header::CONTENT_LENGTH, n);
    }
    builder.body(body).expect("a valid request")
}

/// Live ffmpeg children whose command line names `marker`.
fn ffmpeg_mentioning(marker: &str) -> usize {
    descendants_running("ffmpeg")
        .iter()
        .filter(|c| c.command.contains(marker))
        .count()
}

#[tokio::test]
async fn a_body_declared_over_the_limit_is_refused_unread() {
    let orch = Orch::start(|c| c.http_addr = Some("http://127.0.0.1:0".into())).await;
    let client = OrchestratorClient::new();
    let clip = test_segment().await;
    let token = new_session(&client, &orch.uri).await;
    let seg = seg_for(&token, 0, &clip.data, clip.duration, &profiles(&[P144]));
    let pulled = Arc::new(AtomicU64::new(0));
    let (status, body) = send(
        &client,
        request(
            &orch.base,
            &seg,
            endless_body(pulled.clone()),
            Some(LIMIT + 1),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        String::from_utf8_lossy(&body).contains("over the 300000000-byte limit"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    let pulled = pulled.load(Ordering::Relaxed);
    assert!(
        pulled < 64 << 20,
        "the orchestrator read {pulled} bytes of a body it had to refuse"
    );
    // The session place was not kept, and the orchestrator still serves.
    let result = transcode(&client, &orch.base, &seg, clip.data.clone()).await;
    check_renditions(&client, &orch.base, &token, 0, &result, &profiles(&[P144])).await;
    orch.stop().await;
}

#[tokio::test]
async fn an_endless_body_is_cut_at_the_limit_and_leaves_nothing_on_disk() {
    let data_dir = tempfile::tempdir().expect("data dir");
    let orch = Orch::start(|c| {
        c.http_addr = Some("http://127.0.0.1:0".into());
        c.data_dir = Some(data_dir.path().to_path_buf());
    })
    .await;
    let client = OrchestratorClient::new();
    let clip = test_segment().await;
    let token = new_session(&client, &orch.uri).await;
    let seg = seg_for(&token, 0, &clip.data, clip.duration, &profiles(&[P144]));
    let pulled = Arc::new(AtomicU64::new(0));
    let response = client
        .send(request(
            &orch.base,
            &seg,
            endless_body(pulled.clone()),
            None,
        ))
        .await;
    // Either the status arrives, or the orchestrator resets the stream it stopped reading.
    if let Ok(response) = response {
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }
    let pulled = pulled.load(Ordering::Relaxed);
    assert!(
        (LIMIT..LIMIT + (64 << 20)).contains(&pulled),
        "the client sent {pulled} bytes before the refusal"
    );
    let empty = eventually(Duration::from_secs(10), || async {
        scratch_is_idle(data_dir.path())
    })
    .await;
    assert!(empty, "the partial body is removed from scratch");
    orch.stop().await;
}

#[tokio::test]
async fn a_connection_that_never_starts_tls_is_closed() {
    let orch = Orch::start(|c| {
        c.server.tls_handshake_timeout = Duration::from_millis(300);
    })
    .await;
    let mut tcp = tokio::net::TcpStream::connect(orch.addr)
        .await
        .expect("connect");
    let mut buf = [0u8; 16];
    let closed = tokio::time::timeout(Duration::from_secs(10), tcp.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "the silent connection is closed: {closed:?}"
    );
    orch.stop().await;
}

#[tokio::test]
async fn shutdown_stops_a_running_transcode_and_its_ffmpeg() {
    let data_dir = tempfile::tempdir().expect("data dir");
    let orch = Orch::start(|c| c.data_dir = Some(data_dir.path().to_path_buf())).await;
    let client = OrchestratorClient::new();
    let long = long_segment().await;
    assert!(long.duration <= MAX_SEGMENT_DURATION);
    let token = new_session(&client, &orch.uri).await;
    let ladder = profiles(&["P720p30fps16x9", "P360p30fps16x9", "P240p30fps16x9"]);
    let seg = seg_for(&token, 0, &long.data, long.duration, &ladder);
    let posting = {
        let (client, base, data) = (client.clone(), orch.base.clone(), long.data.clone());
        tokio::spawn(async move { post_segment(&client, &base, &seg, data).await })
    };
    let marker = data_dir.path().display().to_string();
    assert!(
        eventually(Duration::from_secs(30), || async {
            ffmpeg_mentioning(&marker) > 0
        })
        .await,
        "the transcode starts"
    );
    orch.stop().await;
    assert_eq!(
        ffmpeg_mentioning(&marker),
        0,
        "no ffmpeg is left once the orchestrator has stopped"
    );
    assert!(
        scratch_roots(data_dir.path()).is_empty(),
        "the scratch directory is removed"
    );
    // The gateway side got an answer or a closed connection, not a hang.
    let _ = tokio::time::timeout(Duration::from_secs(10), posting)
        .await
        .expect("the request ends with the orchestrator");
}

#[tokio::test]
async fn an_http1_client_still_sending_a_refused_body_reads_the_status() {
    use tokio::io::AsyncWriteExt;
    let orch = Orch::start(|c| c.http_addr = Some("http://127.0.0.1:0".into())).await;
    // A 4 MB body with no segment credentials: refused with 403 before the body is read. The
    // client writes all of it before reading, as simple HTTP/1.1 clients (Python's
    // http.client, curl without Expect) do; an answer sent without draining would reach it
    // as a reset.
    let body = vec![0x47u8; 4 << 20];
    let mut tcp = tokio::net::TcpStream::connect(orch.addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /segment HTTP/1.1\r\nHost: orch\r\nConnection: close\r\nContent-Type: video/MP2T\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.expect("write head");
    for chunk in body.chunks(64 * 1024) {
        tcp.write_all(chunk).await.expect("the whole body is taken");
    }
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), tcp.read_to_end(&mut answer))
        .await
        .expect("answered")
        .expect("read without a reset");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(
        answer.contains("invalid segment header: missing"),
        "{answer}"
    );
    orch.stop().await;
}

#[tokio::test]
async fn an_ipv6_service_address_binds_ipv6() {
    let orch = Orch::start(|c| c.service_addr = "[::1]:0".into()).await;
    assert!(orch.addr.is_ipv6(), "bound {}", orch.addr);
    assert!(orch.base.starts_with("https://[::1]:"), "{}", orch.base);
    let client = OrchestratorClient::new();
    let token = new_session(&client, &orch.uri).await;
    assert_eq!(token.session_id.len(), 8);
    orch.stop().await;
}

#[tokio::test]
async fn a_body_that_stalls_is_refused_and_gives_its_session_back() {
    let data_dir = tempfile::tempdir().expect("data dir");
    let orch = Orch::start(|c| {
        c.http_addr = Some("http://127.0.0.1:0".into());
        c.data_dir = Some(data_dir.path().to_path_buf());
        c.body_idle_timeout = Duration::from_millis(500);
        c.max_sessions = 1;
    })
    .await;
    let client = OrchestratorClient::new();
    let clip = test_segment().await;
    let token = new_session(&client, &orch.uri).await;
    let seg = seg_for(&token, 0, &clip.data, clip.duration, &profiles(&[P144]));
    // 64 KiB, then nothing, with the stream left open.
    let first = clip.data.slice(..64 * 1024);
    let stream = futures::stream::once(async move {
        Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(first))
    })
    .chain(futures::stream::pending());
    let body = tonic::body::Body::new(http_body_util::StreamBody::new(stream));
    let (status, answer) = send(&client, request(&orch.base, &seg, body, None)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(
        String::from_utf8_lossy(&answer).contains("stalled"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    assert!(
        eventually(Duration::from_secs(10), || async {
            scratch_is_idle(data_dir.path())
        })
        .await,
        "the partial body is removed"
    );
    // The refused segment did not keep the only session place.
    let other = new_session(&client, &orch.uri).await;
    let seg = seg_for(&other, 0, &clip.data, clip.duration, &profiles(&[P144]));
    let result = transcode(&client, &orch.base, &seg, clip.data.clone()).await;
    check_renditions(&client, &orch.base, &other, 0, &result, &profiles(&[P144])).await;
    orch.stop().await;
}
