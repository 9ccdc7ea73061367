//! The HTTP publisher and subscriber against the real server: round trips, pre-connects,
//! end of stream, catching up, retries, re-issued pre-connects, bounds.

use std::time::Duration;

use bytes::Bytes;
use livepeer_trickle::{
    PublishStart, PublisherConfig, ReadSeq, SubscriberConfig, TrickleConfig, TrickleError,
    TricklePublisher, TrickleSubscriber,
};

use crate::support::{FaultyRelay, TestServer, client, payload};

fn subscriber_config(start: ReadSeq) -> SubscriberConfig {
    SubscriberConfig {
        start,
        retry_pause: Duration::from_millis(10),
        ..SubscriberConfig::default()
    }
}

async fn publisher(url: &str, start: PublishStart) -> TricklePublisher {
    TricklePublisher::connect(
        client(),
        url,
        PublisherConfig {
            start,
            retry_pause: Duration::from_millis(10),
            ..PublisherConfig::default()
        },
    )
    .await
    .expect("publisher")
}

#[tokio::test]
async fn many_segments_round_trip_publisher_to_subscriber() {
    let server = TestServer::default().await;
    server
        .trickle
        .create_channel("rt", "video/MP2T")
        .expect("create");
    let url = server.url("rt");
    // Subscribed before anything is written, from the next segment (seq 0).
    let mut subscriber = TrickleSubscriber::new(client(), &url, subscriber_config(ReadSeq::Next));
    let sizes: Vec<usize> = (0..40)
        .map(|i| [1, 188, 5_000, 70_000, 333_333][i % 5])
        .collect();
    let (got_tx, mut got_rx) = tokio::sync::mpsc::unbounded_channel();
    let reading = tokio::spawn(async move {
        for _ in 0..40 {
            let segment = subscriber
                .next_segment()
                .await
                .expect("next")
                .expect("segment");
            assert_eq!(segment.content_type(), Some("video/MP2T"));
            let seq = segment.seq();
            got_tx
                .send((seq, segment.bytes().await.expect("bytes")))
                .expect("send");
        }
        // The publisher closes the channel: end of stream.
        subscriber
            .next_segment()
            .await
            .expect("after close")
            .is_none()
    });
    server.wait_seen("GET", "rt/-1", 1).await;
    let mut publisher = publisher(&url, PublishStart::Seq(0)).await;
    for (seq, size) in sizes.iter().enumerate() {
        let data = payload(seq as u64, *size);
        let mut writer = publisher.next_segment();
        assert_eq!(writer.seq(), seq as u64);
        // Several chunks per segment, as a segmenter writes them.
        for chunk in data.chunks(64 * 1024) {
            writer
                .write(Bytes::copy_from_slice(chunk))
                .await
                .expect("write");
        }
        assert_eq!(writer.finish().await.expect("finish"), seq as u64);
    }
    for (seq, size) in sizes.iter().enumerate() {
        let (got_seq, bytes) = got_rx.recv().await.expect("segment read");
        assert_eq!(got_seq, seq as u64);
        assert_eq!(
            bytes.as_ref(),
            payload(seq as u64, *size).as_slice(),
            "segment {seq}"
        );
    }
    // The reader's pre-connected GET of 40 is waiting when the channel closes.
    server.wait_seen("GET", "rt/40", 1).await;
    publisher.close().await.expect("close");
    assert!(reading.await.expect("reader"), "end of stream after close");
    server.stop().await;
}

#[tokio::test]
async fn a_restarting_publisher_resolves_next_and_resets() {
    let server = TestServer::default().await;
    server
        .trickle
        .create_channel("re", "video/MP2T")
        .expect("create");
    let url = server.url("re");
    let mut first = publisher(&url, PublishStart::Seq(0)).await;
    for seq in 0..3u64 {
        first
            .publish(Bytes::from(payload(seq, 100)))
            .await
            .expect("publish");
    }
    // The old publisher dies mid-segment 3; a reader of 3 is waiting on it.
    let mut dying = first.next_segment();
    dying
        .write(Bytes::from_static(b"cut"))
        .await
        .expect("write");
    let mut reader = TrickleSubscriber::new(client(), &url, subscriber_config(ReadSeq::Current));
    let stuck = reader
        .next_segment()
        .await
        .expect("next")
        .expect("segment 3");
    assert_eq!(stuck.seq(), 3);
    let mut restarted = publisher(&url, PublishStart::Next).await;
    assert_eq!(restarted.next_seq(), 4);
    // Reset closes 3 for its reader.
    assert_eq!(
        restarted
            .publish(Bytes::from_static(b"fresh"))
            .await
            .expect("publish"),
        4
    );
    assert_eq!(stuck.bytes().await.expect("bytes").as_ref(), b"cut");
    let next = reader
        .next_segment()
        .await
        .expect("next")
        .expect("segment 4");
    assert_eq!(next.seq(), 4);
    assert_eq!(next.bytes().await.expect("bytes").as_ref(), b"fresh");
    drop(dying);
    server.stop().await;
}

#[tokio::test]
async fn a_subscriber_behind_the_window_jumps_to_the_live_edge() {
    let server = TestServer::default().await;
    server
        .trickle
        .create_channel("jump", "video/MP2T")
        .expect("create");
    let url = server.url("jump");
    let mut publisher = publisher(&url, PublishStart::Seq(0)).await;
    for seq in 0..9u64 {
        publisher
            .publish(Bytes::from(payload(seq, 10)))
            .await
            .expect("publish");
    }
    let mut subscriber = TrickleSubscriber::new(client(), &url, subscriber_config(ReadSeq::Seq(1)));
    let reading = tokio::spawn(async move {
        let segment = subscriber
            .next_segment()
            .await
            .expect("next")
            .expect("segment");
        (segment.seq(), segment.bytes().await.expect("bytes"))
    });
    server.wait_seen("GET", "jump/9", 1).await;
    publisher
        .publish(Bytes::from(payload(9, 10)))
        .await
        .expect("publish");
    let (seq, bytes) = reading.await.expect("reader");
    assert_eq!(seq, 9, "470 at 1 jumps to Latest = 9");
    assert_eq!(bytes.as_ref(), payload(9, 10).as_slice());
    server.stop().await;
}

#[tokio::test]
async fn a_missing_channel_is_stream_not_found_and_a_closed_one_end_of_stream() {
    let server = TestServer::default().await;
    let url = server.url("absent");
    // The pre-connected POST went out before the channel existed: still not found
    // (go-livepeer's TestTrickle_Close).
    let mut early = publisher(&url, PublishStart::Seq(0)).await;
    let err = early
        .publish(Bytes::from_static(b"x"))
        .await
        .expect_err("absent");
    assert!(matches!(err, TrickleError::StreamNotFound { .. }), "{err}");
    assert!(err.is_end_of_stream());
    let err = TricklePublisher::connect(
        client(),
        &url,
        PublisherConfig {
            start: PublishStart::Next,
            ..PublisherConfig::default()
        },
    )
    .await
    .expect_err("next of absent");
    assert!(matches!(err, TrickleError::StreamNotFound { .. }), "{err}");
    let mut subscriber = TrickleSubscriber::new(client(), &url, subscriber_config(ReadSeq::Next));
    let err = subscriber.next_segment().await.expect_err("absent");
    assert!(matches!(err, TrickleError::StreamNotFound { .. }), "{err}");

    server
        .trickle
        .create_channel("absent", "text/plain")
        .expect("create");
    let mut publisher = publisher(&url, PublishStart::Seq(0)).await;
    publisher
        .publish(Bytes::from_static(b"only"))
        .await
        .expect("publish");
    // A subscriber waiting at the edge and the publisher's pre-connected POST both learn
    // of the close.
    let mut waiting = TrickleSubscriber::new(client(), &url, subscriber_config(ReadSeq::Next));
    let waiter = tokio::spawn(async move { waiting.next_segment().await });
    // (The second of each: the first ones were answered 404 above.)
    server.wait_seen("GET", "absent/-1", 2).await;
    server.wait_seen("POST", "absent/1", 2).await;
    server.trickle.close_channel("absent").expect("close");
    assert!(waiter.await.expect("waiter").expect("eos").is_none());
    let err = publisher
        .publish(Bytes::from_static(b"late"))
        .await
        .expect_err("closed");
    assert!(matches!(err, TrickleError::EndOfStream), "{err}");
    server.stop().await;
}

#[tokio::test]
async fn a_segment_is_resent_when_its_preconnect_died_before_a_byte() {
    let server = TestServer::default().await;
    server
        .trickle
        .create_channel("retry", "video/MP2T")
        .expect("create");
    // The first connection (the pre-connected POST of 0) dies as soon as the request
    // arrives, as a middlebox cuts an idle connection.
    let relay = FaultyRelay::start(server.addr, 1, 0).await;
    let url = relay.url("retry");
    let mut publisher = TricklePublisher::connect(
        client(),
        &url,
        PublisherConfig {
            retry_pause: Duration::from_millis(10),
            ..PublisherConfig::default()
        },
    )
    .await
    .expect("publisher");
    crate::support::eventually("pre-connect cut", || relay.dropped() == 1).await;
    let data = payload(0, 50_000);
    assert_eq!(
        publisher
            .publish(Bytes::from(data.clone()))
            .await
            .expect("publish"),
        0
    );
    let mut reader = server.trickle.local_subscriber("retry", ReadSeq::Seq(0));
    let segment = reader.next_segment().expect("read").expect("segment");
    assert_eq!(
        segment.read_to_end(u64::MAX).await.expect("bytes").as_ref(),
        data.as_slice()
    );

    // With no retries the transport error is the answer.
    let relay = FaultyRelay::start(server.addr, 1, 0).await;
    let mut publisher = TricklePublisher::connect(
        client(),
        &relay.url("retry"),
        PublisherConfig {
            start: PublishStart::Seq(1),
            retries: 0,
            ..PublisherConfig::default()
        },
    )
    .await
    .expect("publisher");
    crate::support::eventually("pre-connect cut", || relay.dropped() == 1).await;
    let err = publisher
        .publish(Bytes::from_static(b"x"))
        .await
        .expect_err("no retry");
    assert!(matches!(err, TrickleError::Transport(_)), "{err}");
    assert!(err.is_retryable());
    server.stop().await;
}

#[tokio::test]
async fn a_preconnected_get_without_headers_is_reissued() {
    let server = TestServer::default().await;
    server
        .trickle
        .create_channel("re-get", "video/MP2T")
        .expect("create");
    // The first connection is swallowed: no answer ever comes on it.
    let relay = FaultyRelay::start(server.addr, 0, 1).await;
    let mut subscriber = TrickleSubscriber::new(
        client(),
        &relay.url("re-get"),
        SubscriberConfig {
            start: ReadSeq::Seq(0),
            preconnect_refresh: Duration::from_millis(300),
            ..SubscriberConfig::default()
        },
    );
    server
        .trickle
        .local_publisher("re-get")
        .expect("publisher")
        .publish(Bytes::from_static(b"through the second connection"))
        .expect("publish");
    let segment = tokio::time::timeout(Duration::from_secs(20), subscriber.next_segment())
        .await
        .expect("the GET is re-sent after preconnect_refresh")
        .expect("next")
        .expect("segment");
    assert_eq!(
        segment.bytes().await.expect("bytes").as_ref(),
        b"through the second connection"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_subscriber_gives_up_after_more_than_five_errors() {
    // A server that fails every GET.
    let app = axum::Router::new().route(
        "/c/{seq}",
        axum::routing::get(|| async { (http::StatusCode::BAD_GATEWAY, "upstream down") }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let serve = tokio::spawn(async move { axum::serve(listener, app).await });
    let mut subscriber = TrickleSubscriber::new(
        client(),
        &format!("http://{addr}/c"),
        subscriber_config(ReadSeq::Next),
    );
    let err = subscriber.next_segment().await.expect_err("fails");
    let TrickleError::TooManyErrors { errors, last } = err else {
        panic!("expected TooManyErrors, got {err}");
    };
    assert_eq!(errors, 6);
    assert!(
        matches!(*last, TrickleError::Status { status: 502, ref body } if body == "upstream down"),
        "{last}"
    );
    serve.abort();
}

#[tokio::test]
async fn client_side_segment_bound() {
    let server = TestServer::start(TrickleConfig::default()).await;
    server
        .trickle
        .create_channel("cap", "video/MP2T")
        .expect("create");
    let mut local = server.trickle.local_publisher("cap").expect("publisher");
    local
        .publish(Bytes::from(vec![7u8; 200_000]))
        .expect("publish");
    let mut subscriber = TrickleSubscriber::new(
        client(),
        &server.url("cap"),
        SubscriberConfig {
            start: ReadSeq::Seq(0),
            max_segment_bytes: 100_000,
            ..SubscriberConfig::default()
        },
    );
    let segment = subscriber
        .next_segment()
        .await
        .expect("next")
        .expect("segment");
    let err = segment.bytes().await.expect_err("too large");
    assert!(
        matches!(err, TrickleError::SegmentTooLarge { max_bytes: 100_000 }),
        "{err}"
    );
    server.stop().await;
}
