//! An orchestrator failing mid-stream: the gateway suspends it and swaps to another.

use hyper::{Method, StatusCode};

use crate::*;

#[tokio::test]
async fn orchestrator_failing_mid_stream_is_swapped_out() {
    // One session each, so GetOrchestrator tells which one holds the stream's session.
    let a = Orch::with_max_sessions(1).await;
    let b = Orch::with_max_sessions(1).await;
    let gw = Gateway::start(vec![a.uri.clone(), b.uri.clone()], single(P144)).await;
    let http = http();
    let segments = bikes().await;

    let answer = push(&http, &gw, "swap", &segments[0]).await;
    check_pushed(&answer, 0, &single(P144)).await;
    let (used, spare) = match (a.is_capped().await, b.is_capped().await) {
        (true, false) => (a, b),
        (false, true) => (b, a),
        other => panic!("exactly one orchestrator should hold the session, got {other:?}"),
    };

    // The orchestrator in use goes away mid-stream.
    used.stop().await;
    for segment in &segments[1..] {
        let answer = push(&http, &gw, "swap", segment).await;
        check_pushed(&answer, segment.seq, &single(P144)).await;
    }
    assert!(spare.is_capped().await, "the stream moved to the spare");

    // Every segment made it into the playlist, the first from the failed orchestrator.
    let ended = request(
        &http,
        Method::DELETE,
        &format!("{}/live/swap", gw.base),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(ended.status, StatusCode::OK);
    let vod = get(&http, &gw, &format!("/stream/swap/{P144}.m3u8")).await;
    let want: Vec<String> = segments
        .iter()
        .map(|s| format!("{P144}/{}.ts", s.seq))
        .collect();
    assert_eq!(playlist_entries(&vod.text()), want);
    assert!(!spare.is_capped().await, "the spare's session was ended");
    gw.stop().await;
    spare.stop().await;
}
