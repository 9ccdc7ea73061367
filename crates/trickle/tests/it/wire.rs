//! Every row of the trickle table (`reference/ai.md` §4.1) on raw HTTP: status, headers and
//! body as go-livepeer's server sends them.

use bytes::Bytes;
use livepeer_trickle::{TrickleConfig, wire};

use crate::support::{TestServer, body_bytes, client, header, pipe_body};

const GO_TEXT: &str = "text/plain; charset=utf-8";

async fn text(response: reqwest::Response) -> String {
    String::from_utf8(body_bytes(response).await).expect("utf-8 body")
}

/// Asserts a Go `http.Error` answer.
async fn assert_go_error(response: reqwest::Response, status: u16, text_expected: &str) {
    assert_eq!(response.status().as_u16(), status, "{text_expected}");
    assert_eq!(header(&response, "content-type"), GO_TEXT);
    assert_eq!(header(&response, "x-content-type-options"), "nosniff");
    assert_eq!(text(response).await, format!("{text_expected}\n"));
}

#[tokio::test]
async fn create_needs_the_node_or_autocreate() {
    let server = TestServer::default().await;
    let http = client();
    // Missing channel without auto-create: 404.
    let response = http.post(server.url("c1")).send().await.expect("post");
    assert_go_error(response, 404, "Stream not found").await;
    // Created by the node: 200 (and the existing mime is kept).
    server
        .trickle
        .create_channel("c1", "video/MP2T")
        .expect("create");
    let response = http
        .post(server.url("c1"))
        .header(wire::HEADER_EXPECT_CONTENT, "application/json")
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
    assert_eq!(text(response).await, "");
    server
        .trickle
        .local_publisher("c1")
        .expect("publisher")
        .publish(Bytes::from_static(b"ts"))
        .expect("publish");
    let response = http.get(server.url("c1/0")).send().await.expect("get");
    assert_eq!(header(&response, "content-type"), "video/MP2T");
    // An invalid name never reaches the map.
    let response = http
        .post(server.url("bad%20name"))
        .send()
        .await
        .expect("post");
    assert_go_error(response, 400, "Invalid channel name").await;
    server.stop().await;

    let server = TestServer::start(TrickleConfig {
        autocreate: true,
        max_channels: 2,
        ..TrickleConfig::default()
    })
    .await;
    let response = http
        .post(server.url("events"))
        .header(wire::HEADER_EXPECT_CONTENT, "application/json")
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
    assert!(server.trickle.has_channel("events"));
    // Auto-created by a publish, with its Content-Type as the mime.
    let response = http
        .post(server.url("data/0"))
        .header("content-type", "application/jsonl")
        .body("{}\n")
        .send()
        .await
        .expect("publish");
    assert_eq!(response.status(), 200);
    let response = http.get(server.url("data/0")).send().await.expect("get");
    assert_eq!(header(&response, "content-type"), "application/jsonl");
    assert_eq!(text(response).await, "{}\n");
    // The third channel is past max_channels.
    let response = http.post(server.url("third")).send().await.expect("post");
    assert_go_error(response, 503, "Too many channels").await;
    let response = http
        .post(server.url("third/0"))
        .body("x")
        .send()
        .await
        .expect("post");
    assert_go_error(response, 503, "Too many channels").await;
    server.stop().await;
}

#[tokio::test]
async fn publish_answers_seq_and_resolves_minus_one() {
    let server = TestServer::default().await;
    let http = client();
    // Missing channel: 404 with Connection: close (wakes pre-connected Go publishers).
    let response = http
        .post(server.url("nope/0"))
        .body("x")
        .send()
        .await
        .expect("post");
    assert_eq!(header(&response, "connection"), "close");
    assert_go_error(response, 404, "Stream not found").await;

    server
        .trickle
        .create_channel("pub", "video/MP2T")
        .expect("create");
    for bad in ["abc", "-2", "-7", "1.5", "99999999999999999999"] {
        let response = http
            .post(server.url(&format!("pub/{bad}")))
            .body("x")
            .send()
            .await
            .expect("post");
        assert_go_error(response, 400, "Invalid idx").await;
    }
    let response = http
        .post(server.url("pub/0"))
        .body("zero")
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, wire::HEADER_SEQ), "0");
    assert_eq!(header(&response, wire::HEADER_CLOSED), "");
    assert_eq!(text(response).await, "");
    // -1 is the next write index.
    let response = http
        .post(server.url("pub/-1"))
        .body("one")
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, wire::HEADER_SEQ), "1");
    let response = http.get(server.url("pub/1")).send().await.expect("get");
    assert_eq!(text(response).await, "one");

    // GET <ch>/next: text body and Lp-Trickle-Latest.
    let response = http.get(server.url("pub/next")).send().await.expect("next");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, wire::HEADER_LATEST), "2");
    assert_eq!(header(&response, wire::HEADER_CLOSED), "");
    assert_eq!(text(response).await, "2");
    let response = http
        .get(server.url("nope/next"))
        .send()
        .await
        .expect("next");
    assert_go_error(response, 404, "Stream not found").await;
    server.stop().await;
}

#[tokio::test]
async fn an_empty_post_still_advances_and_closes_the_connection() {
    let server = TestServer::default().await;
    server.trickle.create_channel("e", "").expect("create");
    let http = client();
    let reader = tokio::spawn({
        let http = http.clone();
        let url = server.url("e/0");
        async move { http.get(url).send().await.expect("get") }
    });
    // (Whether the reader arrives before or after the empty POST, it gets the same answer.)
    let response = http.post(server.url("e/0")).send().await.expect("post");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, wire::HEADER_SEQ), "0");
    assert_eq!(header(&response, "connection"), "close");
    assert_eq!(header(&response, wire::HEADER_CLOSED), "");
    let response = reader.await.expect("reader");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, wire::HEADER_SEQ), "0");
    assert_eq!(header(&response, wire::HEADER_LATEST), "1");
    assert_eq!(text(response).await, "");
    assert_eq!(server.trickle.next_seq("e").expect("next"), 1);
    server.stop().await;
}

#[tokio::test]
async fn get_headers_current_and_latest() {
    let server = TestServer::default().await;
    let http = client();
    let response = http.get(server.url("ghost/0")).send().await.expect("get");
    assert_go_error(response, 404, "Stream not found").await;

    server
        .trickle
        .create_channel("g", "video/MP2T")
        .expect("create");
    for bad in ["abc", "-3"] {
        let response = http
            .get(server.url(&format!("g/{bad}")))
            .send()
            .await
            .expect("get");
        assert_go_error(response, 400, "Invalid idx").await;
    }
    for seq in 0..3 {
        let response = http
            .post(server.url(&format!("g/{seq}")))
            .body(format!("segment {seq}"))
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), 200);
    }
    // An older segment: Lp-Trickle-Latest says where the live edge is.
    let response = http.get(server.url("g/0")).send().await.expect("get");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, wire::HEADER_SEQ), "0");
    assert_eq!(header(&response, wire::HEADER_LATEST), "3");
    assert_eq!(header(&response, "content-type"), "video/MP2T");
    assert_eq!(text(response).await, "segment 0");
    // -2: the current (most recent) segment.
    let response = http.get(server.url("g/-2")).send().await.expect("get");
    assert_eq!(header(&response, wire::HEADER_SEQ), "2");
    assert_eq!(text(response).await, "segment 2");

    // Too far ahead (beyond the live edge): 470, Latest and the requested Seq.
    let response = http.get(server.url("g/5")).send().await.expect("get");
    assert_eq!(response.status().as_u16(), wire::STATUS_ENTRY_NOT_FOUND);
    assert_eq!(header(&response, wire::HEADER_LATEST), "3");
    assert_eq!(header(&response, wire::HEADER_SEQ), "5");
    assert_eq!(header(&response, wire::HEADER_CLOSED), "");
    assert_eq!(text(response).await, "Entry not found");

    // Overwritten by the window: segment 0 is gone once 5 was written.
    for seq in 3..6 {
        http.post(server.url(&format!("g/{seq}")))
            .body(format!("segment {seq}"))
            .send()
            .await
            .expect("post");
    }
    let response = http.get(server.url("g/0")).send().await.expect("get");
    assert_eq!(response.status().as_u16(), 470);
    assert_eq!(header(&response, wire::HEADER_LATEST), "6");
    assert_eq!(header(&response, wire::HEADER_SEQ), "0");
    assert_eq!(text(response).await, "Entry not found");
    let response = http.get(server.url("g/1")).send().await.expect("get");
    assert_eq!(text(response).await, "segment 1");
    server.stop().await;
}

#[tokio::test]
async fn a_get_at_the_edge_long_polls_until_the_publisher_starts() {
    let server = TestServer::default().await;
    server
        .trickle
        .create_channel("lp", "video/MP2T")
        .expect("create");
    let http = client();
    // Before anything is written, 1 is pre-created too (one ahead of 0).
    let waiting: Vec<_> = ["lp/-1", "lp/1"]
        .into_iter()
        .map(|path| {
            let http = http.clone();
            let url = server.url(path);
            tokio::spawn(async move { http.get(url).send().await.expect("get") })
        })
        .collect();
    server.wait_seen("GET", "lp/-1", 1).await;
    server.wait_seen("GET", "lp/1", 1).await;
    // Past the edge: 470 at once.
    let response = http.get(server.url("lp/2")).send().await.expect("get");
    assert_eq!(response.status().as_u16(), 470);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(
        waiting.iter().all(|task| !task.is_finished()),
        "GETs at the edge must wait"
    );

    let (tx, body) = pipe_body();
    let post = tokio::spawn({
        let http = http.clone();
        let url = server.url("lp/0");
        async move { http.post(url).body(body).send().await.expect("post") }
    });
    tx.send(Bytes::from_static(b"first bytes"))
        .await
        .expect("send");
    let mut waiting = waiting.into_iter();
    let next = waiting.next().expect("-1").await.expect("get -1");
    // Headers came with the first byte, while the segment is still open.
    assert_eq!(next.status(), 200);
    assert_eq!(header(&next, wire::HEADER_SEQ), "0");
    assert_eq!(header(&next, wire::HEADER_LATEST), "", "it is the latest");
    tx.send(Bytes::from_static(b", the rest"))
        .await
        .expect("send");
    drop(tx);
    assert_eq!(text(next).await, "first bytes, the rest");
    let response = post.await.expect("post");
    assert_eq!(header(&response, wire::HEADER_SEQ), "0");

    let one = waiting.next().expect("1");
    http.post(server.url("lp/1"))
        .body("segment one")
        .send()
        .await
        .expect("post");
    let one = one.await.expect("get 1");
    assert_eq!(header(&one, wire::HEADER_SEQ), "1");
    assert_eq!(text(one).await, "segment one");
    server.stop().await;
}

#[tokio::test]
async fn closing_the_channel_answers_waiting_requests_with_closed() {
    let server = TestServer::default().await;
    server
        .trickle
        .create_channel("cl", "video/MP2T")
        .expect("create");
    let http = client();
    http.post(server.url("cl/0"))
        .body("zero")
        .send()
        .await
        .expect("post");
    // A long-polling reader and a pre-connected publisher that has sent nothing.
    let reader = tokio::spawn({
        let http = http.clone();
        let url = server.url("cl/1");
        async move { http.get(url).send().await.expect("get") }
    });
    let (idle_tx, idle_body) = pipe_body();
    let idle_post = tokio::spawn({
        let http = http.clone();
        let url = server.url("cl/2");
        async move { http.post(url).body(idle_body).send().await.expect("post") }
    });
    server.wait_seen("GET", "cl/1", 1).await;
    server.wait_seen("POST", "cl/2", 1).await;
    assert!(!reader.is_finished() && !idle_post.is_finished());

    let response = http.delete(server.url("cl")).send().await.expect("delete");
    assert_eq!(response.status(), 200);
    assert_eq!(text(response).await, "");

    let response = reader.await.expect("reader");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, wire::HEADER_CLOSED), "terminated");
    assert_eq!(header(&response, wire::HEADER_SEQ), "1");
    assert_eq!(text(response).await, "");
    let response = idle_post.await.expect("idle post");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, wire::HEADER_SEQ), "2");
    assert_eq!(header(&response, wire::HEADER_CLOSED), "terminated");
    assert_eq!(header(&response, "connection"), "close");
    drop(idle_tx);

    // Gone: 404 for everything, 400 for a second DELETE.
    let response = http.get(server.url("cl/0")).send().await.expect("get");
    assert_go_error(response, 404, "Stream not found").await;
    let response = http.get(server.url("cl/next")).send().await.expect("get");
    assert_go_error(response, 404, "Stream not found").await;
    let response = http
        .post(server.url("cl/3"))
        .body("x")
        .send()
        .await
        .expect("post");
    assert_go_error(response, 404, "Stream not found").await;
    let response = http.delete(server.url("cl")).send().await.expect("delete");
    assert_go_error(response, 400, "Invalid stream").await;
    server.stop().await;
}

#[tokio::test]
async fn delete_segment_closes_it_early() {
    let server = TestServer::default().await;
    server
        .trickle
        .create_channel("ds", "video/MP2T")
        .expect("create");
    let http = client();
    let response = http
        .delete(server.url("nope/0"))
        .send()
        .await
        .expect("delete");
    assert_go_error(response, 404, "Stream not found").await;
    for bad in ["x", "-1"] {
        let response = http
            .delete(server.url(&format!("ds/{bad}")))
            .send()
            .await
            .expect("delete");
        assert_go_error(response, 400, "Invalid idx").await;
    }
    let response = http
        .delete(server.url("ds/0"))
        .send()
        .await
        .expect("delete");
    assert_go_error(response, 400, "Nonexistent segment").await;

    // A segment being written: DELETE ends it for its readers with what arrived.
    let (tx, body) = pipe_body();
    let post = tokio::spawn({
        let http = http.clone();
        let url = server.url("ds/0");
        async move { http.post(url).body(body).send().await.expect("post") }
    });
    tx.send(Bytes::from_static(b"partial")).await.expect("send");
    let reader = http.get(server.url("ds/0")).send().await.expect("get");
    let response = http
        .delete(server.url("ds/0"))
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), 200);
    assert_eq!(text(reader).await, "partial");
    // The publisher's further bytes are dropped; its POST still completes.
    tx.send(Bytes::from_static(b" and more"))
        .await
        .expect("send");
    drop(tx);
    let response = post.await.expect("post");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, wire::HEADER_SEQ), "0");
    let response = http.get(server.url("ds/0")).send().await.expect("get");
    assert_eq!(text(response).await, "partial");

    // A pre-connected POST that is idle when its segment is deleted: 200 + Seq + close.
    let (idle_tx, idle_body) = pipe_body();
    let idle = tokio::spawn({
        let http = http.clone();
        let url = server.url("ds/1");
        async move { http.post(url).body(idle_body).send().await.expect("post") }
    });
    server.wait_seen("POST", "ds/1", 1).await;
    let deleted = http
        .delete(server.url("ds/1"))
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 200);
    assert_eq!(text(deleted).await, "");
    let response = idle.await.expect("idle");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, wire::HEADER_SEQ), "1");
    assert_eq!(header(&response, wire::HEADER_CLOSED), "");
    assert_eq!(header(&response, "connection"), "close");
    drop(idle_tx);
    server.stop().await;
}

#[tokio::test]
async fn a_second_post_replaces_the_segment_and_ends_its_readers() {
    let server = TestServer::default().await;
    server
        .trickle
        .create_channel("rp", "video/MP2T")
        .expect("create");
    let http = client();
    let (tx, body) = pipe_body();
    let first = tokio::spawn({
        let http = http.clone();
        let url = server.url("rp/0");
        async move { http.post(url).body(body).send().await.expect("post") }
    });
    tx.send(Bytes::from_static(b"first try, cut"))
        .await
        .expect("send");
    let mid_way = http.get(server.url("rp/0")).send().await.expect("get");
    let response = http
        .post(server.url("rp/0"))
        .body("second try")
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, wire::HEADER_SEQ), "0");
    // The reader mid-way gets end of segment; new readers the replacement.
    assert_eq!(text(mid_way).await, "first try, cut");
    let response = http.get(server.url("rp/0")).send().await.expect("get");
    assert_eq!(text(response).await, "second try");
    drop(tx);
    assert_eq!(first.await.expect("first").status(), 200);
    let response = http.get(server.url("rp/0")).send().await.expect("get");
    assert_eq!(text(response).await, "second try");
    server.stop().await;
}

#[tokio::test]
async fn reset_closes_older_segments() {
    let server = TestServer::default().await;
    server
        .trickle
        .create_channel("rs", "video/MP2T")
        .expect("create");
    let http = client();
    // A publisher that died mid-segment 3 leaves its reader hanging...
    for seq in 0..3 {
        http.post(server.url(&format!("rs/{seq}")))
            .body("old")
            .send()
            .await
            .expect("post");
    }
    let (tx, body) = pipe_body();
    let dead = tokio::spawn({
        let http = http.clone();
        let url = server.url("rs/3");
        async move { http.post(url).body(body).send().await }
    });
    tx.send(Bytes::from_static(b"half")).await.expect("send");
    let hanging = http.get(server.url("rs/3")).send().await.expect("get");
    // ...until the restarted publisher resolves -1 and sends Lp-Trickle-Reset.
    let response = http.get(server.url("rs/next")).send().await.expect("next");
    assert_eq!(text(response).await, "4");
    let response = http
        .post(server.url("rs/4"))
        .header(wire::HEADER_RESET, "1")
        .body("restarted")
        .send()
        .await
        .expect("post");
    assert_eq!(header(&response, wire::HEADER_SEQ), "4");
    assert_eq!(text(hanging).await, "half");
    let response = http.get(server.url("rs/-2")).send().await.expect("get");
    assert_eq!(text(response).await, "restarted");
    drop(tx);
    let _ = dead.await;
    server.stop().await;
}

#[tokio::test]
async fn bounds_segment_size_and_names() {
    let server = TestServer::start(TrickleConfig {
        max_segment_bytes: 100_000,
        ..TrickleConfig::default()
    })
    .await;
    server
        .trickle
        .create_channel("big", "video/MP2T")
        .expect("create");
    let http = client();
    // Reader of the oversize segment gets what was stored, then end of segment.
    let (tx, body) = pipe_body();
    let post = tokio::spawn({
        let http = http.clone();
        let url = server.url("big/0");
        async move { http.post(url).body(body).send().await }
    });
    tx.send(Bytes::from(vec![1u8; 60_000])).await.expect("send");
    let reader = http.get(server.url("big/0")).send().await.expect("get");
    let _ = tx.send(Bytes::from(vec![2u8; 60_000])).await;
    let read = body_bytes(reader).await;
    assert_eq!(read, vec![1u8; 60_000]);
    drop(tx);
    let response = post.await.expect("post task").expect("post");
    assert_eq!(header(&response, "connection"), "close");
    assert_go_error(response, 413, "Segment too large").await;
    // Exactly the limit is fine.
    let response = http
        .post(server.url("big/1"))
        .body(vec![3u8; 100_000])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);

    // The memory all segments hold together is bounded too.
    server.stop().await;
    let server = TestServer::start(TrickleConfig {
        max_segment_bytes: 100_000,
        max_buffered_bytes: 150_000,
        ..TrickleConfig::default()
    })
    .await;
    server
        .trickle
        .create_channel("mem", "video/MP2T")
        .expect("create");
    let response = http
        .post(server.url("mem/0"))
        .body(vec![1u8; 100_000])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
    let response = http
        .post(server.url("mem/1"))
        .body(vec![2u8; 60_000])
        .send()
        .await
        .expect("post");
    assert_eq!(header(&response, "connection"), "close");
    assert_go_error(response, 503, "Out of segment memory").await;
    assert!(server.trickle.buffered_bytes() <= 150_000);
    // Segments leaving the window (nobody reading them) give their memory back.
    for seq in 2..7 {
        let response = http
            .post(server.url(&format!("mem/{seq}")))
            .send()
            .await
            .expect("post");
        assert_eq!(response.status(), 200);
    }
    assert_eq!(server.trickle.buffered_bytes(), 0);
    let response = http
        .post(server.url("mem/7"))
        .body(vec![3u8; 100_000])
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 200);
    assert_eq!(server.trickle.buffered_bytes(), 100_000);

    // Names: one safe path segment, bounded length.
    assert!(server.trickle.create_channel("a/b", "").is_err());
    assert!(server.trickle.create_channel(&"x".repeat(129), "").is_err());
    assert!(server.trickle.create_channel("", "").is_err());
    let response = http
        .post(server.url("a%2Fb/0"))
        .body("x")
        .send()
        .await
        .expect("post");
    assert_go_error(response, 400, "Invalid channel name").await;
    server.stop().await;
}
