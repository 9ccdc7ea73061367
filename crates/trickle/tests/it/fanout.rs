//! Fan-out of live segments: readers joining mid-segment, many readers of one slow segment,
//! late readers past the window.

use std::time::Duration;

use bytes::Bytes;
use livepeer_trickle::wire;

use crate::support::{TestServer, body_bytes, client, header, payload, pipe_body};

#[tokio::test]
async fn a_reader_joining_mid_segment_gets_every_byte() {
    let server = TestServer::default().await;
    server
        .trickle
        .create_channel("mid", "video/MP2T")
        .expect("create");
    let http = client();
    let (tx, body) = pipe_body();
    let post = tokio::spawn({
        let http = http.clone();
        let url = server.url("mid/0");
        async move { http.post(url).body(body).send().await.expect("post") }
    });
    let data = payload(0, 300_000);
    let (head, tail) = data.split_at(200_000);
    for piece in head.chunks(7_000) {
        tx.send(Bytes::copy_from_slice(piece)).await.expect("send");
    }
    // Joins with two thirds written, by -2 (current) and by number.
    let by_current = http.get(server.url("mid/-2")).send().await.expect("get -2");
    let by_seq = http.get(server.url("mid/0")).send().await.expect("get 0");
    assert_eq!(header(&by_current, wire::HEADER_SEQ), "0");
    for piece in tail.chunks(7_000) {
        tx.send(Bytes::copy_from_slice(piece)).await.expect("send");
    }
    drop(tx);
    assert_eq!(post.await.expect("post").status(), 200);
    assert_eq!(body_bytes(by_current).await, data);
    assert_eq!(body_bytes(by_seq).await, data);
    server.stop().await;
}

#[tokio::test]
async fn twenty_readers_of_one_slowly_written_segment_get_identical_bytes() {
    let server = TestServer::default().await;
    server
        .trickle
        .create_channel("fan", "video/MP2T")
        .expect("create");
    let http = client();
    let data = payload(9, 64 * 10_000 + 123);
    let read = |path: &'static str| {
        let http = http.clone();
        let url = server.url(path);
        tokio::spawn(async move {
            let response = http.get(url).send().await.expect("get");
            assert_eq!(header(&response, wire::HEADER_SEQ), "0");
            body_bytes(response).await
        })
    };
    // Half wait at the edge before the publisher starts...
    let mut readers: Vec<_> = (0..10)
        .map(|i| read(if i % 2 == 0 { "fan/0" } else { "fan/-1" }))
        .collect();
    server.wait_seen("GET", "fan/0", 5).await;
    server.wait_seen("GET", "fan/-1", 5).await;
    let (tx, body) = pipe_body();
    let post = tokio::spawn({
        let http = http.clone();
        let url = server.url("fan/0");
        async move { http.post(url).body(body).send().await.expect("post") }
    });
    // ...half join while it trickles in, 10 KB at a time.
    for (i, piece) in data.chunks(10_000).enumerate() {
        tx.send(Bytes::copy_from_slice(piece)).await.expect("send");
        if i % 6 == 5 && readers.len() < 20 {
            readers.push(read(if i % 12 == 5 { "fan/0" } else { "fan/-2" }));
        }
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    drop(tx);
    assert_eq!(readers.len(), 20);
    assert_eq!(post.await.expect("post").status(), 200);
    for reader in readers {
        assert_eq!(reader.await.expect("reader"), data);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_late_reader_past_the_window_gets_470_and_catches_up_at_latest() {
    let server = TestServer::default().await;
    server
        .trickle
        .create_channel("late", "video/MP2T")
        .expect("create");
    let http = client();
    for seq in 0..12u64 {
        let response = http
            .post(server.url(&format!("late/{seq}")))
            .body(payload(seq, 1000))
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), 200);
    }
    // The window holds 7..=11; a reader still at 2 is told where the edge is.
    let response = http.get(server.url("late/2")).send().await.expect("get");
    assert_eq!(response.status().as_u16(), 470);
    assert_eq!(header(&response, wire::HEADER_SEQ), "2");
    let latest = header(&response, wire::HEADER_LATEST).to_string();
    assert_eq!(latest, "12");
    // Everything still in the window is readable...
    for seq in 7..12u64 {
        let response = http
            .get(server.url(&format!("late/{seq}")))
            .send()
            .await
            .expect("get");
        assert_eq!(body_bytes(response).await, payload(seq, 1000));
    }
    // ...and the reader continues at Latest, waiting for it to be published.
    let waiting = tokio::spawn({
        let http = http.clone();
        let url = server.url(&format!("late/{latest}"));
        async move { http.get(url).send().await.expect("get") }
    });
    server.wait_seen("GET", "late/12", 1).await;
    http.post(server.url("late/-1"))
        .body(payload(12, 1000))
        .send()
        .await
        .expect("post");
    let response = waiting.await.expect("waiting");
    assert_eq!(header(&response, wire::HEADER_SEQ), "12");
    assert_eq!(body_bytes(response).await, payload(12, 1000));
    server.stop().await;
}
