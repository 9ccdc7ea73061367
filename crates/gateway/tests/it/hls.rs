//! HLS output: the live window, VOD once the push ends, and the 404s.

use hyper::{Method, StatusCode};
use livepeer_gateway::hls::LIVE_WINDOW;
use livepeer_media::output_resolution;

use crate::*;

#[tokio::test]
async fn live_playlists_keep_the_last_six_and_ended_ones_list_everything() {
    let orch = Orch::with_max_sessions(1).await;
    let gw = Gateway::start(vec![orch.uri.clone()], single(P144)).await;
    let http = http();
    // One segment more than the live window is enough to see it slide.
    let segments = city().await;
    assert!(
        segments.len() > LIVE_WINDOW,
        "need more than {LIVE_WINDOW} segments, the clip gave {}",
        segments.len()
    );
    let segments = &segments[..=LIVE_WINDOW];
    let media_path = format!("/stream/city/{P144}.m3u8");

    let mut served = Vec::new();
    for segment in segments {
        // Without Accept: multipart/mixed the answer is a bare 200.
        let duration = segment.duration_ms.to_string();
        let answer = request(
            &http,
            Method::POST,
            &format!("{}/live/city/{}.ts", gw.base, segment.seq),
            &[("Content-Duration", duration.as_str())],
            segment.data.clone(),
        )
        .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        assert!(answer.body.is_empty());

        let live = get(&http, &gw, &media_path).await;
        assert_eq!(live.status, StatusCode::OK);
        let text = live.text();
        let first = (segment.seq + 1).saturating_sub(LIVE_WINDOW as u64);
        let want: Vec<String> = (first..=segment.seq)
            .map(|seq| format!("{P144}/{seq}.ts"))
            .collect();
        assert_eq!(playlist_entries(&text), want, "after seq {}", segment.seq);
        assert!(
            text.contains(&format!("#EXT-X-MEDIA-SEQUENCE:{first}\n")),
            "{text}"
        );
        assert!(!text.contains("#EXT-X-ENDLIST"), "{text}");

        let rendition = get(
            &http,
            &gw,
            &format!("/stream/city/{P144}/{}.ts", segment.seq),
        )
        .await;
        assert_eq!(rendition.status, StatusCode::OK);
        assert_eq!(rendition.body[0], 0x47, "MPEG-TS");
        served.push(rendition.body);
    }
    assert_eq!(
        video_size(&served[0]).await,
        output_resolution(720, 404, &single(P144)[0])
    );
    // Segments that left the live window are still served.
    let oldest = get(&http, &gw, &format!("/stream/city/{P144}/0.ts")).await;
    assert_eq!(oldest.body, served[0]);

    let master = get(&http, &gw, "/stream/city.m3u8").await;
    // The source first, as go-livepeer lists it, then the rendition.
    assert_eq!(
        playlist_entries(&master.text()),
        vec!["city/source.m3u8".to_string(), format!("city/{P144}.m3u8")]
    );
    assert!(
        master
            .text()
            .contains("BANDWIDTH=4000000\ncity/source.m3u8"),
        "{}",
        master.text()
    );
    assert!(
        master.text().contains("RESOLUTION=256x144"),
        "{}",
        master.text()
    );

    let ended = request(
        &http,
        Method::DELETE,
        &format!("{}/live/city", gw.base),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(ended.status, StatusCode::OK);
    let vod = get(&http, &gw, &media_path).await;
    let text = vod.text();
    let want: Vec<String> = segments
        .iter()
        .map(|s| format!("{P144}/{}.ts", s.seq))
        .collect();
    assert_eq!(playlist_entries(&text), want, "{text}");
    assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:0\n"), "{text}");
    assert!(text.contains("#EXT-X-PLAYLIST-TYPE:VOD\n"), "{text}");
    assert!(text.ends_with("#EXT-X-ENDLIST\n"), "{text}");

    // Unknown streams, renditions and segments are 404s.
    for path in [
        "/stream/nothere.m3u8".to_string(),
        "/stream/city/P720p30fps16x9.m3u8".to_string(),
        format!("/stream/city/{P144}/{}.ts", segments.len() + 5),
        "/stream/nothere/P144p30fps16x9/0.ts".to_string(),
    ] {
        assert_eq!(
            get(&http, &gw, &path).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
    }
    let again = request(
        &http,
        Method::DELETE,
        &format!("{}/live/nothere", gw.base),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    gw.stop().await;
    orch.stop().await;
}

#[tokio::test]
async fn a_push_idle_past_the_timeout_ends_the_stream() {
    let orch = Orch::with_max_sessions(1).await;
    let gw = Gateway::start_with(vec![orch.uri.clone()], single(P144), |c| {
        c.push_idle_timeout = Duration::from_millis(500);
    })
    .await;
    let http = http();
    let segment = &bikes().await[2];
    let answer = push(&http, &gw, "idle", segment).await;
    check_pushed(&answer, segment.seq, &single(P144)).await;

    let media_path = format!("/stream/idle/{P144}.m3u8");
    let ended = eventually(Duration::from_secs(5), || async {
        get(&http, &gw, &media_path)
            .await
            .text()
            .ends_with("#EXT-X-ENDLIST\n")
    })
    .await;
    assert!(ended, "the idle stream did not turn into VOD within 5 s");
    let vod = get(&http, &gw, &media_path).await;
    assert_eq!(
        playlist_entries(&vod.text()),
        vec![format!("{P144}/{}.ts", segment.seq)]
    );
    assert!(
        eventually(Duration::from_secs(5), || async { !orch.is_capped().await }).await,
        "the idle stream's orchestrator session was not ended"
    );
    gw.stop().await;
    orch.stop().await;
}
