//! The in-process API beside HTTP (the orchestrator's own channels), the idle sweep and the
//! changefeed.

use std::time::Duration;

use bytes::Bytes;
use livepeer_trickle::{
    CHANGEFEED_CHANNEL, PublishStart, PublisherConfig, ReadSeq, SubscriberConfig, TrickleConfig,
    TrickleError, TricklePublisher, TrickleServer, TrickleSubscriber,
};

use crate::support::{TestServer, body_bytes, client, eventually, payload};

#[tokio::test]
async fn local_publisher_to_http_subscriber_and_http_publisher_to_local_subscriber() {
    let server = TestServer::default().await;
    // The orchestrator creates a session's channels itself.
    for (name, mime) in [
        ("m", "video/MP2T"),
        ("m-out", "video/MP2T"),
        ("m-events", "application/json"),
    ] {
        server.trickle.create_channel(name, mime).expect("create");
    }
    assert_eq!(server.trickle.channel_names(), ["m", "m-events", "m-out"]);

    // Local writes, HTTP reads (a runner reading what the node writes).
    let mut events = server
        .trickle
        .local_publisher("m-events")
        .expect("publisher");
    let mut subscriber = TrickleSubscriber::new(
        client(),
        &server.url("m-events"),
        SubscriberConfig {
            start: ReadSeq::Next,
            ..SubscriberConfig::default()
        },
    );
    let reading = tokio::spawn(async move {
        let mut got = Vec::new();
        for _ in 0..3 {
            let segment = subscriber
                .next_segment()
                .await
                .expect("next")
                .expect("segment");
            assert_eq!(segment.content_type(), Some("application/json"));
            got.push(segment.bytes().await.expect("bytes"));
        }
        got
    });
    server.wait_seen("GET", "m-events/-1", 1).await;
    for i in 0..3 {
        let mut writer = events.begin_segment().expect("begin");
        assert_eq!(writer.seq(), i);
        writer
            .write(Bytes::from(format!(r#"{{"event":{i},"#)))
            .expect("write");
        writer
            .write(Bytes::from_static(br#""type":"status"}"#))
            .expect("write");
        assert_eq!(writer.finish(), i);
    }
    let got = reading.await.expect("reader");
    for (i, bytes) in got.iter().enumerate() {
        assert_eq!(
            bytes.as_ref(),
            format!(r#"{{"event":{i},"type":"status"}}"#).as_bytes()
        );
    }

    // HTTP writes, local reads from the live edge (the node clocking payments on input).
    let mut input = server.trickle.local_subscriber("m", ReadSeq::Next);
    let first = input.next_segment().expect("next").expect("segment");
    assert_eq!((first.seq(), first.content_type()), (0, "video/MP2T"));
    let mut publisher =
        TricklePublisher::connect(client(), &server.url("m"), PublisherConfig::default())
            .await
            .expect("publisher");
    let mut writer = publisher.next_segment();
    writer
        .write(Bytes::from(payload(0, 40_000)))
        .await
        .expect("write");
    let reading = tokio::spawn(async move { first.read_to_end(u64::MAX).await });
    writer
        .write(Bytes::from(payload(1, 40_000)))
        .await
        .expect("write");
    writer.finish().await.expect("finish");
    let mut expected = payload(0, 40_000);
    expected.extend(payload(1, 40_000));
    assert_eq!(
        reading.await.expect("reader").expect("bytes").as_ref(),
        expected.as_slice()
    );
    publisher
        .publish(Bytes::from_static(b"second"))
        .await
        .expect("publish");
    let second = input.next_segment().expect("next").expect("segment");
    assert_eq!(second.seq(), 1);
    assert_eq!(
        second.read_to_end(1024).await.expect("bytes").as_ref(),
        b"second"
    );

    // A local reader behind the window jumps to the live edge.
    for seq in 2..9u64 {
        publisher
            .publish(Bytes::from(payload(seq, 10)))
            .await
            .expect("publish");
    }
    input.set_seq(ReadSeq::Seq(0));
    let edge = input.next_segment().expect("next").expect("segment");
    assert_eq!(edge.seq(), 9);

    // The node closes the session: local readers see the end, HTTP readers 404 afterwards.
    let waiting = tokio::spawn(async move { edge.read_to_end(u64::MAX).await });
    server.trickle.close_channel("m").expect("close");
    assert_eq!(waiting.await.expect("waiter").expect("bytes").as_ref(), b"");
    assert!(matches!(
        input.next_segment(),
        Err(TrickleError::StreamNotFound { .. })
    ));
    assert!(matches!(
        server.trickle.close_channel("m"),
        Err(TrickleError::StreamNotFound { .. })
    ));
    events.close().expect("close events");
    let response = client()
        .get(server.url("m-events/0"))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 404);
    server.stop().await;
}

#[tokio::test]
async fn local_bounds_and_closed_segments() {
    let trickle = TrickleServer::new(TrickleConfig {
        max_segment_bytes: 1000,
        max_channels: 1,
        ..TrickleConfig::default()
    });
    trickle.create_channel("only", "").expect("create");
    assert!(matches!(
        trickle.create_channel("second", ""),
        Err(TrickleError::TooManyChannels { max: 1 })
    ));
    // Idempotent for an existing channel.
    trickle.create_channel("only", "").expect("again");
    assert!(matches!(
        trickle.create_channel("no/slash", ""),
        Err(TrickleError::InvalidChannelName { .. })
    ));
    let mut publisher = trickle.local_publisher("only").expect("publisher");
    let mut reader = trickle.local_subscriber("only", ReadSeq::Seq(0));
    let segment = reader.next_segment().expect("next").expect("segment");
    let mut writer = publisher.begin_segment().expect("begin");
    writer.write(Bytes::from(vec![1u8; 600])).expect("write");
    let err = writer
        .write(Bytes::from(vec![2u8; 600]))
        .expect_err("too large");
    assert!(
        matches!(err, TrickleError::SegmentTooLarge { max_bytes: 1000 }),
        "{err}"
    );
    // Its readers get what was stored, then the end.
    assert_eq!(
        segment.read_to_end(u64::MAX).await.expect("bytes").as_ref(),
        vec![1u8; 600].as_slice()
    );
    drop(writer);
    assert!(matches!(
        trickle.local_publisher("none"),
        Err(TrickleError::StreamNotFound { .. })
    ));
}

#[tokio::test]
async fn the_idle_sweep_closes_idle_channels_but_not_internal_ones() {
    let trickle = TrickleServer::new(TrickleConfig {
        idle_timeout: Duration::from_secs(2),
        ..TrickleConfig::default()
    });
    for name in ["idle", "busy", "_internal"] {
        trickle.create_channel(name, "").expect("create");
    }
    let mut waiting = trickle.local_subscriber("idle", ReadSeq::Next);
    let waiting = waiting.next_segment().expect("next").expect("segment");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    // Written just now: not idle.
    trickle
        .local_publisher("busy")
        .expect("publisher")
        .publish(Bytes::from_static(b"x"))
        .expect("publish");
    assert_eq!(trickle.sweep_idle(), ["idle"]);
    assert_eq!(trickle.channel_names(), ["_internal", "busy"]);
    // The reader waiting on the swept channel is released.
    assert_eq!(
        waiting.read_to_end(u64::MAX).await.expect("bytes").as_ref(),
        b""
    );
}

#[tokio::test]
async fn the_sweep_service_runs_on_its_interval() {
    let server = TestServer::start(TrickleConfig {
        idle_timeout: Duration::from_millis(100),
        sweep_interval: Duration::from_millis(50),
        ..TrickleConfig::default()
    })
    .await;
    server
        .trickle
        .create_channel("short-lived", "")
        .expect("create");
    server.trickle.create_channel("_kept", "").expect("create");
    eventually("idle channel swept", || {
        !server.trickle.has_channel("short-lived")
    })
    .await;
    let response = client()
        .get(server.url("short-lived/next"))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 404);
    assert!(server.trickle.has_channel("_kept"));
    server.stop().await;
}

#[tokio::test]
async fn the_changefeed_reports_added_and_removed_channels() {
    let server = TestServer::start(TrickleConfig {
        changefeed: true,
        ..TrickleConfig::default()
    })
    .await;
    server.trickle.create_channel("a", "").expect("create");
    server.trickle.create_channel("b", "").expect("create");
    server.trickle.close_channel("a").expect("close");
    let http = client();
    let mut feed = Vec::new();
    for seq in 0..4 {
        let response = http
            .get(server.url(&format!("{CHANGEFEED_CHANNEL}/{seq}")))
            .send()
            .await
            .expect("get");
        assert_eq!(
            crate::support::header(&response, "content-type"),
            "application/json"
        );
        feed.push(String::from_utf8(body_bytes(response).await).expect("utf-8"));
    }
    assert_eq!(
        feed,
        [
            r#"{"added":["_changes"]}"#,
            r#"{"added":["a"]}"#,
            r#"{"added":["b"]}"#,
            r#"{"removed":["a"]}"#,
        ]
    );
    // Over HTTP too (auto-create off: created by the node only; DELETE is HTTP).
    let publisher = TricklePublisher::connect(
        http.clone(),
        &server.url("b"),
        PublisherConfig {
            start: PublishStart::Next,
            ..PublisherConfig::default()
        },
    )
    .await
    .expect("publisher");
    publisher.close().await.expect("close b");
    let response = http
        .get(server.url(&format!("{CHANGEFEED_CHANNEL}/4")))
        .send()
        .await
        .expect("get");
    assert_eq!(body_bytes(response).await, br#"{"removed":["b"]}"#);
    server.stop().await;
}
