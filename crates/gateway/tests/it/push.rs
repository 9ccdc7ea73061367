//! HTTP push ingest: `POST /live/<manifest>/<seq>.ts` and its answers.

use hyper::{Method, StatusCode};
use livepeer_media::output_resolution;

use crate::*;

#[tokio::test]
async fn pushed_clip_completes_when_the_first_orchestrator_is_dead() {
    let orch = Orch::with_max_sessions(1).await;
    let gw = Gateway::start(
        vec![dead_orchestrator(), orch.uri.clone()],
        default_ladder(),
    )
    .await;
    let http = http();
    let ladder = default_ladder();
    let segments = bikes().await;
    assert!(segments.len() >= 4, "{} segments", segments.len());

    let mut pushed = Vec::new();
    for segment in segments {
        let answer = push(&http, &gw, "bikes", segment).await;
        pushed.push(check_pushed(&answer, segment.seq, &ladder).await);
    }
    // The renditions are the ladder's sizes for the 640x272 source.
    for part in &pushed[0] {
        let profile = ladder
            .iter()
            .find(|p| p.name == part.rendition)
            .expect("a ladder profile");
        assert_eq!(
            video_size(&part.data).await,
            output_resolution(640, 272, profile),
            "{}",
            profile.name
        );
    }

    // The master playlist names every rendition.
    let master = get(&http, &gw, "/stream/bikes.m3u8").await;
    assert_eq!(master.status, StatusCode::OK);
    assert_eq!(master.headers[CONTENT_TYPE], "application/x-mpegURL");
    let variants = playlist_entries(&master.text());
    let want: Vec<String> = std::iter::once("bikes/source.m3u8".to_string())
        .chain(ladder.iter().map(|p| format!("bikes/{}.m3u8", p.name)))
        .collect();
    assert_eq!(variants, want, "{}", master.text());
    // The source track plays what was pushed, as go-livepeer's does.
    let source = get(&http, &gw, "/stream/bikes/source.m3u8").await;
    assert_eq!(playlist_entries(&source.text()).len(), segments.len());
    for segment in segments {
        let path = format!("/stream/bikes/source/{}.ts", segment.seq);
        assert_eq!(get(&http, &gw, &path).await.body, segment.data, "{path}");
    }

    // Every rendition of every segment is served, byte for byte what the push answered.
    for (segment, parts) in segments.iter().zip(&pushed) {
        for part in parts {
            let path = format!("/stream/bikes/{}/{}.ts", part.rendition, segment.seq);
            let served = get(&http, &gw, &path).await;
            assert_eq!(served.status, StatusCode::OK, "{path}");
            assert_eq!(served.body, part.data, "{path}");
        }
    }

    // While live, with no more than the live window pushed, everything is listed.
    for profile in &ladder {
        let live = get(&http, &gw, &format!("/stream/bikes/{}.m3u8", profile.name)).await;
        assert_eq!(live.status, StatusCode::OK);
        let want: Vec<String> = segments
            .iter()
            .map(|s| format!("{}/{}.ts", profile.name, s.seq))
            .collect();
        assert_eq!(playlist_entries(&live.text()), want);
        assert!(!live.text().contains("#EXT-X-ENDLIST"), "{}", live.text());
    }

    // Ending the stream turns the playlists into VOD and ends the orchestrator session.
    assert!(orch.is_capped().await, "the stream holds the only session");
    let ended = request(
        &http,
        Method::DELETE,
        &format!("{}/live/bikes", gw.base),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(ended.status, StatusCode::OK);
    for profile in &ladder {
        let vod = get(&http, &gw, &format!("/stream/bikes/{}.m3u8", profile.name)).await;
        let text = vod.text();
        assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"), "{text}");
        assert!(text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
        for segment in segments {
            let entry = format!(
                "#EXTINF:{:.3},\n{}/{}.ts\n",
                segment.duration_ms as f64 / 1000.0,
                profile.name,
                segment.seq
            );
            assert!(text.contains(&entry), "{entry:?} missing from {text}");
        }
    }
    assert!(
        !orch.is_capped().await,
        "EndTranscodingSession freed the orchestrator's session"
    );
    gw.stop().await;
    orch.stop().await;
}

#[tokio::test]
async fn no_orchestrator_alive_answers_503_no_sessions_available() {
    let http = http();
    let segment = &bikes().await[2];
    for orch_addrs in [vec![dead_orchestrator(), dead_orchestrator()], vec![]] {
        let gw = Gateway::start(orch_addrs.clone(), single(P144)).await;
        let answer = push(&http, &gw, "nobody", segment).await;
        assert_eq!(
            answer.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{orch_addrs:?}"
        );
        assert_eq!(answer.text().trim_end(), "No sessions available");
        gw.stop().await;
    }
}

#[tokio::test]
async fn malformed_pushes_are_refused_with_400() {
    // A non-numeric or negative seq (0) and malformed Content-Duration (2000 ms) or
    // Content-Slice-* (0) are accepted as go-livepeer accepts them (tests/it/slicing.rs).
    // No orchestrator at all: a push that got as far as dispatch would get 503, not 400.
    let gw = Gateway::start(Vec::new(), single(P144)).await;
    let http = http();
    let segment = bikes().await[2].data.clone();
    let long_id = "m".repeat(129);
    // (what is wrong, path, extra header, body)
    let no_header: Option<(&str, &str)> = None;
    let cases = [
        (
            "no extension",
            "/live/good/7".to_string(),
            no_header,
            segment.clone(),
        ),
        (
            "other extension",
            "/live/good/7.flv".into(),
            None,
            segment.clone(),
        ),
        ("empty body", "/live/good/0.ts".into(), None, Bytes::new()),
        (
            "space in manifest id",
            "/live/bad%20id/0.ts".into(),
            None,
            segment.clone(),
        ),
        (
            "star in manifest id",
            "/live/bad*id/0.ts".into(),
            None,
            segment.clone(),
        ),
        (
            "dot-dot manifest id",
            "/live/%2E%2E/0.ts".into(),
            None,
            segment.clone(),
        ),
        (
            "129-character manifest id",
            format!("/live/{long_id}/0.ts"),
            None,
            segment.clone(),
        ),
    ];
    for (name, path, header, body) in cases {
        let headers: Vec<(&str, &str)> = header.into_iter().collect();
        let answer = request(
            &http,
            Method::POST,
            &format!("{}{path}", gw.base),
            &headers,
            body,
        )
        .await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{name}: {}",
            answer.text()
        );
    }
    // None of them started a stream.
    assert_eq!(
        get(&http, &gw, "/stream/good.m3u8").await.status,
        StatusCode::NOT_FOUND
    );
    gw.stop().await;
}

#[tokio::test]
async fn undecodable_segment_answers_422_and_the_stream_goes_on() {
    let orch = Orch::with_max_sessions(1).await;
    let gw = Gateway::start(vec![orch.uri.clone()], single(P144)).await;
    let http = http();
    let garbage = Segment {
        seq: 0,
        duration_ms: 2000,
        data: Bytes::from(vec![0x5a; 32 * 1024]),
    };
    let answer = push(&http, &gw, "mixed", &garbage).await;
    assert_eq!(
        answer.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        answer.text()
    );
    assert!(
        answer.text().contains("could not find codec parameters"),
        "ffmpeg's reason reaches the pusher: {}",
        answer.text()
    );

    // The same orchestrator takes the next, good, segment.
    let good = Segment {
        seq: 1,
        ..bikes().await[2].clone()
    };
    let answer = push(&http, &gw, "mixed", &good).await;
    check_pushed(&answer, 1, &single(P144)).await;
    let playlist = get(&http, &gw, &format!("/stream/mixed/{P144}.m3u8")).await;
    assert_eq!(
        playlist_entries(&playlist.text()),
        vec![format!("{P144}/1.ts")]
    );
    gw.stop().await;
    orch.stop().await;
}
