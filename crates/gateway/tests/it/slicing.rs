//! go-livepeer-style pushes: segment slicing (capability 26), version floors, and the
//! push leniencies of `server/mediaserver.go:HandlePush`.

use hyper::{Method, StatusCode};

use crate::*;

/// Pushes `segment` with extra headers, asking for multipart renditions.
async fn push_with(
    http: &Http,
    gw: &Gateway,
    path: &str,
    headers: &[(&str, &str)],
    data: Bytes,
) -> Answer {
    let mut all = vec![("Accept", "multipart/mixed")];
    all.extend_from_slice(headers);
    request(
        http,
        Method::POST,
        &format!("{}{path}", gw.base),
        &all,
        data,
    )
    .await
}

/// As go-livepeer's HTTP-push gateway does, every job needs SegmentSlicing and carries the
/// `-orchMinLivepeerVersion` floor; our orchestrator (which advertises 26 and version 0.9.1)
/// is selected for every segment of the bikes clip, and `Content-Slice-From`/`-To` reach it
/// as segment parameters: each rendition holds the slice (300–1300 ms, or to the end of a
/// shorter segment) at the ladder's 30 fps, within one frame.
#[tokio::test]
async fn sliced_pushes_select_our_orchestrator_for_every_segment() {
    let orch = Orch::with_max_sessions(1).await;
    let ladder = default_ladder();
    let gw = Gateway::start_with(vec![orch.uri.clone()], ladder.clone(), |c| {
        c.orch_min_livepeer_version = "0.9.1".into();
    })
    .await;
    let http = http();
    let segments = bikes().await;
    for segment in segments {
        let duration = segment.duration_ms.to_string();
        let answer = push_with(
            &http,
            &gw,
            &format!("/live/sliced/{}.ts", segment.seq),
            &[
                ("Content-Duration", &duration),
                ("Content-Slice-From", "300"),
                ("Content-Slice-To", "1300"),
            ],
            segment.data.clone(),
        )
        .await;
        // The last segment of the clip is shorter than the slice's end.
        let slice_ms = segment.duration_ms.min(1300) - 300;
        let want = slice_ms as f64 * 30.0 / 1000.0;
        for part in check_pushed(&answer, segment.seq, &ladder).await {
            let (_, _, frames) = count_video(&part.data).await;
            assert!(
                (frames as f64 - want).abs() <= 1.0,
                "segment {} ({} ms) {}: {frames} frames for a {slice_ms} ms slice",
                segment.seq,
                segment.duration_ms,
                part.rendition
            );
        }
    }
    let by = gw.handle.segments_by_orchestrator();
    assert_eq!(
        by.get(&orch.uri).copied(),
        Some(segments.len() as u64),
        "{by:?}"
    );
    gw.stop().await;
    orch.stop().await;
}

/// A floor above the orchestrator's 0.9.1 leaves no orchestrator: 503 "No sessions
/// available", as a go gateway with `-orchMinLivepeerVersion 0.10.0` answers.
#[tokio::test]
async fn a_version_floor_above_ours_finds_no_orchestrator() {
    let orch = Orch::with_max_sessions(1).await;
    let gw = Gateway::start_with(vec![orch.uri.clone()], default_ladder(), |c| {
        c.orch_min_livepeer_version = "0.10.0".into();
    })
    .await;
    let answer = push(&http(), &gw, "floor", &bikes().await[0]).await;
    assert_eq!(
        answer.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        answer.text()
    );
    assert!(
        answer.text().contains("No sessions available"),
        "{}",
        answer.text()
    );
    gw.stop().await;
    orch.stop().await;
}

/// The leniencies and header effects of go-livepeer's push handler, each seen by a pusher.
#[tokio::test]
async fn pushes_are_read_as_go_livepeer_reads_them() {
    let orch = Orch::with_max_sessions(2).await;
    let ladder = default_ladder();
    let gw = Gateway::start(vec![orch.uri.clone()], ladder.clone()).await;
    let http = http();
    let segment = &bikes().await[0];

    // A seq that is not a number is 0; a malformed Content-Duration is 2000 ms.
    let answer = push_with(
        &http,
        &gw,
        "/live/lenient/first.ts",
        &[("Content-Duration", "2.5s")],
        segment.data.clone(),
    )
    .await;
    check_pushed(&answer, 0, &ladder).await;
    let playlist = get(
        &http,
        &gw,
        &format!("/stream/lenient/{}.m3u8", ladder[0].name),
    )
    .await;
    assert_eq!(playlist.headers[CONTENT_TYPE], "application/x-mpegURL");
    let text = playlist.text();
    assert!(text.contains("#EXTINF:2.000"), "{text}");
    assert!(text.contains(&format!("{}/0.ts", ladder[0].name)), "{text}");

    // Livepeer-Transcode-Configuration sets the ladder of the stream it starts, and the
    // manifest it is published under (go-livepeer: the header is an auth answer).
    let config = r#"{"manifestID":"published","presets":["P144p30fps16x9"]}"#;
    let answer = push_with(
        &http,
        &gw,
        "/live/configured/0.ts",
        &[("Livepeer-Transcode-Configuration", config)],
        segment.data.clone(),
    )
    .await;
    let p144 = vec![
        livepeer_primitives::profile::VideoProfile::standard("P144p30fps16x9").expect("standard"),
    ];
    check_pushed(&answer, 0, &p144).await;
    let master = get(&http, &gw, "/stream/published.m3u8").await;
    assert!(
        master.text().contains("published/P144p30fps16x9.m3u8"),
        "{}",
        master.text()
    );

    // Malformed configuration JSON: 400 with go's text.
    let answer = push_with(
        &http,
        &gw,
        "/live/badconfig/0.ts",
        &[(
            "Livepeer-Transcode-Configuration",
            r#"{"end brace": "is missing""#,
        )],
        segment.data.clone(),
    )
    .await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", answer.text());
    assert!(
        answer
            .text()
            .starts_with("failed to parse transcode config header"),
        "{}",
        answer.text()
    );

    // A source codec go-livepeer has no capability for: 422 with go's message, before any
    // orchestrator is asked.
    let mpeg2 = &city_mpeg2().await[0];
    let answer = push(&http, &gw, "mpeg2", mpeg2).await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.text()
    );
    assert_eq!(
        answer.text().trim(),
        "Unknown input stream codec=mpeg2video"
    );
    assert_eq!(
        gw.handle.segments_by_orchestrator().get(&orch.uri).copied(),
        Some(2),
        "the MPEG-2 segment never reached the orchestrator"
    );
    gw.stop().await;
    orch.stop().await;
}
