//! `-objectStore` and `-recordStore`: a gateway pushing real segments through our orchestrator
//! into a real S3 server (s3s-fs, SigV4 POST policies checked), with go-livepeer's object names.

use hyper::{Method, StatusCode};
use livepeer_media::output_resolution;
use livepeer_objectstore::{FetchPolicy, StoreUrl};
use livepeer_testing::s3::{ACCESS_KEY, S3Server};

use crate::*;

/// The bikes clip is 640x272.
const BIKES_SIZE: (u32, u32) = (640, 272);
/// Segments pushed per test: enough for a playlist, few enough to stay fast.
const PUSHED: usize = 3;

/// An orchestrator that may reach the bucket on 127.0.0.1 (orchestrators refuse private
/// addresses from the network by default).
async fn lan_orchestrator() -> Orch {
    Orch::start(|c| c.fetch_policy = FetchPolicy::private_networks()).await
}

fn store(url: &str) -> StoreUrl {
    StoreUrl::parse(url).expect("the store URL parses")
}

#[tokio::test]
async fn object_store_holds_the_source_and_renditions_under_gos_names() {
    let s3 = S3Server::start("streams").await;
    let orch = lan_orchestrator().await;
    let ladder = profiles(&[P144, "P240p30fps16x9"]);
    let gw = Gateway::start_with(vec![orch.uri.clone()], ladder.clone(), |c| {
        c.object_store = Some(store(&s3.store_url()));
    })
    .await;
    let http = http();
    let segments = &bikes().await[..PUSHED];

    let mut sessions = std::collections::BTreeSet::new();
    for segment in segments {
        let answer = push(&http, &gw, "objs", segment).await;
        // The push answer still carries the renditions themselves.
        let parts = check_pushed(&answer, segment.seq, &ladder).await;
        // The source went to `<manifest>/source/<seq>.ts`, byte for byte.
        assert_eq!(
            s3.object(&format!("objs/source/{}.ts", segment.seq))
                .as_deref(),
            Some(segment.data.as_ref()),
            "source {}",
            segment.seq
        );
        // Each rendition is at `<manifest>/<session ID>/<profile>/<seq>.ts`, the bytes the
        // push answered, and plays at the profile's size.
        for (part, profile) in parts.iter().zip(&ladder) {
            let suffix = format!("/{}/{}.ts", profile.name, segment.seq);
            let keys: Vec<String> = s3
                .keys()
                .into_iter()
                .filter(|k| k.starts_with("objs/") && k.ends_with(&suffix))
                .collect();
            assert_eq!(keys.len(), 1, "{suffix}: {keys:?}");
            let session = keys[0].split('/').nth(1).expect("a session directory");
            assert!(
                session.len() == 8 && session.bytes().all(|b| b.is_ascii_hexdigit()),
                "{session}"
            );
            sessions.insert(session.to_string());
            let stored = s3.object(&keys[0]).expect("the rendition object");
            assert_eq!(stored, part.data.as_ref(), "{}", keys[0]);
            assert_eq!(
                video_size(&stored).await,
                output_resolution(BIKES_SIZE.0, BIKES_SIZE.1, profile),
                "{}",
                keys[0]
            );
            // Readable from the bucket as a player would, and served by the gateway as before.
            let url = format!("{}/{}", s3.base_url(), keys[0]);
            let fetched = request(&http, Method::GET, &url, &[], Bytes::new()).await;
            assert_eq!(fetched.status, StatusCode::OK, "{url}");
            assert_eq!(fetched.body, part.data, "{url}");
            let path = format!("/stream/objs/{}/{}.ts", profile.name, segment.seq);
            assert_eq!(get(&http, &gw, &path).await.body, part.data, "{path}");
        }
    }
    assert_eq!(sessions.len(), 1, "one orchestrator session: {sessions:?}");
    // The orchestrator wrote them to the bucket with the session's POST policy: it kept none
    // in its own memory storage.
    let session = sessions.first().expect("a session");
    let client = livepeer_gateway::client::OrchestratorClient::new();
    let (status, _) = livepeer_testing::orchestrator::get(
        &client,
        &format!("{}/stream/{session}/{P144}/0.ts", orch.base),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Nothing else was written: the sources and the renditions.
    assert_eq!(
        s3.keys().len(),
        PUSHED * (1 + ladder.len()),
        "{:?}",
        s3.keys()
    );
    let playlist = get(&http, &gw, &format!("/stream/objs/{P144}.m3u8")).await;
    assert_eq!(playlist_entries(&playlist.text()).len(), PUSHED);
    gw.stop().await;
    orch.stop().await;
}

#[tokio::test]
async fn record_store_holds_segments_and_playlists_under_gos_names() {
    let s3 = S3Server::start("records").await;
    let orch = lan_orchestrator().await;
    let ladder = single(P144);
    let gw = Gateway::start_with(vec![orch.uri.clone()], ladder.clone(), |c| {
        c.record_store = Some(store(&s3.store_url()));
        c.node_id = "gw-node".into();
    })
    .await;
    let http = http();
    let segments = &bikes().await[..PUSHED];
    let mut renditions = Vec::new();
    for segment in segments {
        // The pusher states the source's size (Content-Resolution), as go-livepeer's docs
        // show; the recording's source track carries it.
        let duration = segment.duration_ms.to_string();
        let answer = request(
            &http,
            Method::POST,
            &format!("{}/live/rec/{}.ts", gw.base, segment.seq),
            &[
                ("Content-Duration", duration.as_str()),
                ("Content-Resolution", "640x272"),
                ("Accept", "multipart/mixed"),
            ],
            segment.data.clone(),
        )
        .await;
        renditions.push(check_pushed(&answer, segment.seq, &ladder).await);
    }
    let ended = request(
        &http,
        Method::DELETE,
        &format!("{}/live/rec", gw.base),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(ended.status, StatusCode::OK);

    // Every source segment and rendition under `<manifest>/<node ID>/`.
    for (segment, parts) in segments.iter().zip(&renditions) {
        let source = format!("rec/gw-node/source/{}.ts", segment.seq);
        assert_eq!(
            s3.object(&source).as_deref(),
            Some(segment.data.as_ref()),
            "{source}"
        );
        let rendition = format!("rec/gw-node/{P144}/{}.ts", segment.seq);
        assert_eq!(
            s3.object(&rendition).as_deref(),
            Some(parts[0].data.as_ref()),
            "{rendition}"
        );
    }

    // go's JSON playlist of the recording: every segment of both tracks, with its URL.
    let json_keys: Vec<String> = s3
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("rec/gw-node/playlist_") && k.ends_with(".json"))
        .collect();
    assert_eq!(json_keys.len(), 1, "{:?}", s3.keys());
    let json: livepeer_gateway::storage::JsonPlaylist =
        serde_json::from_slice(&s3.object(&json_keys[0]).expect("the JSON playlist"))
            .expect("go's JSON playlist shape");
    let mut tracks: Vec<&str> = json.tracks.iter().map(|t| t.name.as_str()).collect();
    tracks.sort_unstable();
    assert_eq!(tracks, [P144, "source"]);
    let source_track = json
        .tracks
        .iter()
        .find(|t| t.name == "source")
        .expect("source");
    assert_eq!(
        source_track.resolution, "640x272",
        "from Content-Resolution"
    );
    // The gateway's own master playlist lists the source with it too.
    let master = get(&http, &gw, "/stream/rec.m3u8").await.text();
    assert!(
        master.contains("BANDWIDTH=4000000,RESOLUTION=640x272\nrec/source.m3u8"),
        "{master}"
    );
    let total_ms: u64 = segments.iter().map(|s| s.duration_ms).sum();
    assert_eq!(json.duration_ms, total_ms);
    for track in [P144, "source"] {
        let mut seqs: Vec<u64> = json.segments[track].iter().map(|s| s.seq_no).collect();
        seqs.sort_unstable();
        assert_eq!(seqs, [0, 1, 2], "{track}");
        for s in &json.segments[track] {
            let key = format!("rec/gw-node/{track}/{}.ts", s.seq_no);
            assert_eq!(s.uri, format!("{}/{key}", s3.base_url()));
        }
    }

    // The finished recording's playlists: a VOD media playlist per track whose entries are
    // the recorded objects, and the master naming them.
    for (track, want) in [
        (
            "source",
            segments.iter().map(|s| s.data.clone()).collect::<Vec<_>>(),
        ),
        (P144, renditions.iter().map(|p| p[0].data.clone()).collect()),
    ] {
        let text = String::from_utf8(s3.object(&format!("rec/{track}.m3u8")).expect(track))
            .expect("UTF-8");
        assert!(text.ends_with("#EXT-X-ENDLIST\n"), "{text}");
        let entries = playlist_entries(&text);
        let expected: Vec<String> = (0..PUSHED)
            .map(|seq| format!("gw-node/{track}/{seq}.ts"))
            .collect();
        assert_eq!(entries, expected, "{text}");
        for (entry, data) in entries.iter().zip(want) {
            assert_eq!(
                s3.object(&format!("rec/{entry}")).as_deref(),
                Some(data.as_ref())
            );
        }
    }
    let master =
        String::from_utf8(s3.object("rec/index.m3u8").expect("index.m3u8")).expect("UTF-8");
    let mut variants = playlist_entries(&master);
    variants.sort_unstable();
    assert_eq!(
        variants,
        [format!("{P144}.m3u8"), "source.m3u8".to_string()]
    );
    gw.stop().await;
    orch.stop().await;
}

#[tokio::test]
async fn a_refusing_or_unreachable_object_store_fails_the_push_with_gos_error() {
    let s3 = S3Server::start("streams").await;
    let orch = lan_orchestrator().await;
    let segment = &bikes().await[0];
    let http = http();
    let dead = dead_orchestrator().port_u16().expect("a port");
    for (what, url, needle) in [
        (
            "wrong secret",
            s3.store_url_with(ACCESS_KEY, "not-the-secret"),
            "SignatureDoesNotMatch",
        ),
        (
            "nothing listening",
            format!("s3+http://k:s@127.0.0.1:{dead}/streams"),
            "127.0.0.1",
        ),
    ] {
        let gw = Gateway::start_with(vec![orch.uri.clone()], single(P144), |c| {
            c.object_store = Some(store(&url));
        })
        .await;
        let answer = push(&http, &gw, "bad", segment).await;
        assert_eq!(
            answer.status,
            StatusCode::INTERNAL_SERVER_ERROR,
            "{what}: {}",
            answer.text()
        );
        let text = answer.text();
        assert!(
            text.starts_with(
                "http push error processing segment url=/live/bad/0.ts manifestID=bad err=\""
            ),
            "{what}: {text}"
        );
        assert!(text.contains(needle), "{what}: {text}");
        // No orchestrator was asked, and nothing was stored.
        assert!(
            gw.handle.segments_by_orchestrator().is_empty(),
            "{what}: the segment went out"
        );
        assert!(s3.keys().is_empty(), "{what}: {:?}", s3.keys());
        gw.stop().await;
    }

    // The segment goes by URL: an orchestrator that may not reach the bucket's address (the
    // default policy) refuses it, go's 400 "BadRequest", though the source is in the bucket.
    let strict = Orch::start(|_| {}).await;
    let gw = Gateway::start_with(vec![strict.uri.clone()], single(P144), |c| {
        c.object_store = Some(store(&s3.store_url()));
    })
    .await;
    let answer = push(&http, &gw, "by-url", segment).await;
    assert_ne!(answer.status, StatusCode::OK);
    assert!(answer.text().contains("BadRequest"), "{}", answer.text());
    assert!(s3.object("by-url/source/0.ts").is_some(), "{:?}", s3.keys());
    gw.stop().await;
    strict.stop().await;

    // A record store that refuses only loses the recording: the push still works, as in go.
    let gw = Gateway::start_with(vec![orch.uri.clone()], single(P144), |c| {
        c.record_store = Some(store(&s3.store_url_with(ACCESS_KEY, "not-the-secret")));
    })
    .await;
    let answer = push(&http, &gw, "bad", segment).await;
    check_pushed(&answer, 0, &single(P144)).await;
    let ended = request(
        &http,
        Method::DELETE,
        &format!("{}/live/bad", gw.base),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(ended.status, StatusCode::OK);
    assert!(
        s3.keys().iter().all(|k| k.starts_with("by-url/")),
        "nothing recorded: {:?}",
        s3.keys()
    );
    gw.stop().await;
    orch.stop().await;
}
