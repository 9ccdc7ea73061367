//! Session lifetime: EndTranscodingSession, idle teardown, and what opens a session.

use std::time::Duration;

use http_body_util::BodyExt;
use hyper::StatusCode;
use livepeer_gateway::client::OrchestratorClient;
use livepeer_proto::headers::encode_header;
use livepeer_proto::net;
use prost::Message;

use crate::*;

#[tokio::test]
async fn end_transcoding_session_frees_the_session_and_its_renditions() {
    let orch = Orch::start(|c| c.max_sessions = 1).await;
    let client = OrchestratorClient::new();
    let clip = test_segment().await;
    let token = new_session(&client, &orch.uri).await;
    let seg = seg_for(&token, 0, &clip.data, clip.duration, &profiles(&[P144]));
    let result = transcode(&client, &orch.base, &seg, clip.data.clone()).await;
    let urls = check_renditions(&client, &orch.base, &token, 0, &result, &profiles(&[P144])).await;
    assert!(
        get_orchestrator(&client, &orch.uri).await.is_err(),
        "capped"
    );

    // A forged token cannot end someone's session.
    let mut forged = token.clone();
    forged.token[0] ^= 1;
    client
        .end_session(&orch.uri, forged)
        .await
        .expect_err("a forged token is refused");
    assert_eq!(get(&client, &urls[0]).await.0, StatusCode::OK);

    client
        .end_session(&orch.uri, token.clone())
        .await
        .expect("EndTranscodingSession succeeds");
    let (status, _) = get(&client, &urls[0]).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "renditions freed");

    // The capped orchestrator admits a new session now.
    let next = new_session(&client, &orch.uri).await;
    let seg = seg_for(&next, 0, &clip.data, clip.duration, &profiles(&[P144]));
    let result = transcode(&client, &orch.base, &seg, clip.data.clone()).await;
    check_renditions(&client, &orch.base, &next, 0, &result, &profiles(&[P144])).await;
    orch.stop().await;
}

#[tokio::test]
async fn idle_sessions_are_torn_down() {
    let orch = Orch::start(|c| {
        c.max_sessions = 1;
        c.session_idle_timeout = Duration::from_millis(300);
    })
    .await;
    let client = OrchestratorClient::new();
    let clip = test_segment().await;
    let token = new_session(&client, &orch.uri).await;
    let seg = seg_for(&token, 0, &clip.data, clip.duration, &profiles(&[P144]));
    let result = transcode(&client, &orch.base, &seg, clip.data.clone()).await;
    let url = match &result.result {
        Some(net::transcode_result::Result::Data(data)) => data.segments[0].url.clone(),
        other => panic!("expected renditions, got {other:?}"),
    };
    // Right after the segment the session holds the only place.
    let err = get_orchestrator(&client, &orch.uri)
        .await
        .expect_err("capped while the session is fresh");
    assert!(err.to_string().contains("OrchestratorCapped"), "{err}");

    let freed = eventually(Duration::from_secs(5), || async {
        get_orchestrator(&client, &orch.uri).await.is_ok()
    })
    .await;
    assert!(freed, "the idle session was not torn down within 5 s");
    assert_eq!(
        get(&client, &url).await.0,
        StatusCode::NOT_FOUND,
        "an idle session's renditions are freed"
    );
    // Its token no longer names an open session: a segment with it opens a new one.
    let seg = seg_for(&token, 1, &clip.data, clip.duration, &profiles(&[P144]));
    let result = transcode(&client, &orch.base, &seg, clip.data.clone()).await;
    check_renditions(&client, &orch.base, &token, 1, &result, &profiles(&[P144])).await;
    orch.stop().await;
}

// The session place is taken before the body is read (capacity admission first), and given
// back when the body turns out not to be what was signed: go-livepeer opens sessions only
// after the hash check, so a refused segment must not hold one of -maxSessions places.
#[tokio::test]
async fn a_refused_segment_does_not_take_a_session_place() {
    let orch = Orch::start(|c| c.max_sessions = 1).await;
    let client = OrchestratorClient::new();
    let clip = test_segment().await;
    let token = new_session(&client, &orch.uri).await;
    let seg = seg_for(&token, 0, &clip.data, clip.duration, &profiles(&[P144]));
    let (status, body) = post_segment(&client, &orch.base, &seg, garbage(1024)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(String::from_utf8_lossy(&body), "segment hash mismatch");

    let other = get_orchestrator(&client, &orch.uri)
        .await
        .expect("a refused segment leaves the orchestrator's capacity free");
    let other = other.auth_token.expect("auth token");
    let seg = seg_for(&other, 0, &clip.data, clip.duration, &profiles(&[P144]));
    let (status, body) = post_segment(&client, &orch.base, &seg, clip.data.clone()).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "another session is admitted: {}",
        String::from_utf8_lossy(&body)
    );
    orch.stop().await;
}

#[tokio::test]
async fn a_session_queues_at_most_four_segments_and_answers_busy_inside_the_200() {
    let orch = Orch::start(|_| {}).await;
    let client = OrchestratorClient::new();
    let clip = test_segment().await;
    let token = new_session(&client, &orch.uri).await;
    let ladder = profiles(&[P144]);

    // Eight segments of one session at once: four take the queue's places, the rest are
    // answered "OrchestratorBusy" inside a 200, as go-livepeer's `maxSegmentChannels`.
    let requests = (0..8).map(|seq| {
        let seg = seg_for(&token, seq, &clip.data, clip.duration, &ladder);
        let client = client.clone();
        let base = orch.base.clone();
        let body = clip.data.clone();
        async move { transcode(&client, &base, &seg, body).await }
    });
    let results = futures::future::join_all(requests).await;
    let mut busy = 0;
    let mut done = 0;
    for result in &results {
        match &result.result {
            Some(net::transcode_result::Result::Error(message)) => {
                assert_eq!(message, "OrchestratorBusy", "seq {}", result.seq);
                busy += 1;
            }
            Some(net::transcode_result::Result::Data(data)) => {
                assert_eq!(data.segments.len(), 1, "seq {}", result.seq);
                done += 1;
            }
            None => panic!("seq {}: empty result", result.seq),
        }
    }
    assert!(
        (1..=4).contains(&done),
        "at most four of one session's segments are queued: {done} done, {busy} busy"
    );
    assert_eq!(done + busy, 8);

    // Once the queue drains, the session takes segments again.
    let seg = seg_for(&token, 8, &clip.data, clip.duration, &ladder);
    let result = transcode(&client, &orch.base, &seg, clip.data.clone()).await;
    check_renditions(&client, &orch.base, &token, 8, &result, &ladder).await;
    orch.stop().await;
}

// BUG: crates/orchestrator/src/http.rs `transcode_segment` stores renditions with
// `state.store.put` without checking that the session is still open. A segment in flight
// when EndTranscodingSession arrives (lib.rs `State::end_session` has already run
// `store.remove_session`) is stored afterwards under the ended session's ID, served, and
// never freed: the idle sweep only visits open sessions. go-livepeer's memory storage refuses
// `SaveData` on an ended session.
#[tokio::test]
async fn renditions_finished_after_end_transcoding_session_are_not_kept() {
    let orch = Orch::start(|_| {}).await;
    let client = OrchestratorClient::new();
    let clip = test_segment().await;
    let token = new_session(&client, &orch.uri).await;
    let ladder = profiles(&["P240p30fps16x9", "P360p30fps16x9"]);

    // Two segments of the session: the second waits for the first's transcode.
    let request = |seq| {
        let seg = seg_for(&token, seq, &clip.data, clip.duration, &ladder);
        let header = encode_header(&seg).parse().expect("header value");
        segment_request(&orch.base, Some(header), Some(""), clip.data.clone())
    };
    let (first, second) = tokio::join!(client.send(request(0)), client.send(request(1)));
    let (first, second) = (first.expect("answer"), second.expect("answer"));
    assert_eq!(
        (first.status(), second.status()),
        (StatusCode::OK, StatusCode::OK)
    );

    // Both were accepted (200 sent at once); end the session while they transcode.
    client
        .end_session(&orch.uri, token.clone())
        .await
        .expect("EndTranscodingSession succeeds");

    for response in [first, second] {
        let body = response
            .into_body()
            .collect()
            .await
            .expect("result body")
            .to_bytes();
        let result = net::TranscodeResult::decode(body.as_ref()).expect("a TranscodeResult");
        // Either the result reports the ended session, or its renditions are gone.
        if let Some(net::transcode_result::Result::Data(data)) = &result.result {
            for segment in &data.segments {
                assert_eq!(
                    get(&client, &segment.url).await.0,
                    StatusCode::NOT_FOUND,
                    "{} is kept after its session ended",
                    segment.url
                );
            }
        }
    }
    orch.stop().await;
}
