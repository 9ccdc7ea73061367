//! RTMP ingest: real-time ffmpeg RTMP pushes of the test clips, played back as HLS.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Instant;

use hyper::StatusCode;
use livepeer_media::testing::{BBB_MP4, BIKES_MP4, CITY_MPG, media_file};

use crate::*;

/// A real-time RTMP push (`ffmpeg -re [-ss <seek>] -i <clip> <extra> -f flv rtmp://…`), as a
/// broadcaster.
fn broadcast(clip: &str, rtmp: SocketAddr, path: &str, extra: &[&str]) -> tokio::process::Child {
    broadcast_from(clip, "0", rtmp, path, extra)
}

fn broadcast_from(
    clip: &str,
    seek: &str,
    rtmp: SocketAddr,
    path: &str,
    extra: &[&str],
) -> tokio::process::Child {
    tokio::process::Command::new(ffmpeg().ffmpeg_path())
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-re"])
        .args(["-ss", seek, "-i"])
        .arg(media_file(clip))
        .args(extra)
        .args(["-f", "flv"])
        .arg(format!("rtmp://{rtmp}/{path}"))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg starts")
}

/// `#EXTINF` durations of a media playlist, seconds.
fn durations(playlist: &str) -> Vec<f64> {
    playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .map(|d| d.trim_end_matches(',').parse().expect("EXTINF duration"))
        .collect()
}

async fn clip_duration(clip: &str) -> f64 {
    ffmpeg()
        .probe(media_file(clip).as_path())
        .await
        .expect("probe the clip")
        .duration
        .as_secs_f64()
}

/// Waits until `manifest`'s playlists of `track` end (VOD), and returns the playlist.
async fn ended_playlist(http: &gateway::Http, gw: &Gateway, manifest: &str, track: &str) -> String {
    let path = format!("/stream/{manifest}/{track}.m3u8");
    let last = std::sync::Mutex::new(String::new());
    let ended = eventually(Duration::from_secs(60), || {
        let path = path.clone();
        let last = &last;
        async move {
            let answer = get(http, gw, &path).await;
            let text = answer.text();
            let ended = answer.status == StatusCode::OK && text.contains("#EXT-X-ENDLIST");
            *last.lock().expect("lock") = text;
            ended
        }
    })
    .await;
    let last = last.into_inner().expect("lock");
    assert!(ended, "{path} never ended: {last}");
    last
}

/// Every segment the playlist names decodes, with at least one video frame.
async fn check_segments_decode(http: &gateway::Http, gw: &Gateway, manifest: &str, playlist: &str) {
    let entries = playlist_entries(playlist);
    assert!(!entries.is_empty(), "{playlist}");
    for entry in entries {
        let answer = get(http, gw, &format!("/stream/{manifest}/{entry}")).await;
        assert_eq!(answer.status, StatusCode::OK, "{entry}");
        let (_, _, frames) = count_video(&answer.body).await;
        assert!(frames > 0, "{entry} has no video frames");
    }
}

#[tokio::test]
async fn rtmp_broadcasts_of_every_clip_play_as_live_hls_then_vod() {
    let orch = Orch::with_max_sessions(6).await;
    let gw = Gateway::start_with(vec![orch.uri.clone()], single(P144), |c| {
        c.rtmp_addr = Some("127.0.0.1:0".into());
    })
    .await;
    let rtmp = gw.rtmp.expect("RTMP is on");
    let http = http();
    // Three broadcasters at once: ffmpeg's own form, OBS's `live/<key>` form, and an
    // encoding broadcaster (the city clip is MPEG-2, which FLV cannot carry).
    let clips = [
        (BIKES_MP4, "bikes", vec!["-c", "copy"]),
        (BBB_MP4, "live/bbb", vec!["-c", "copy"]),
        (
            CITY_MPG,
            "live/city",
            // (x264 needs an even height: 405 rows cropped to 404)
            vec![
                "-vf",
                "crop=720:404:0:0",
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-g",
                "25",
            ],
        ),
    ];
    let started = Instant::now();
    let broadcasters: Vec<_> = clips
        .iter()
        .map(|(clip, path, extra)| broadcast(clip, rtmp, path, extra))
        .collect();
    let manifests = ["bikes", "bbb", "city"];

    // While the bikes broadcast streams, its ladder is live HLS.
    let live_path = format!("/stream/bikes/{P144}.m3u8");
    let first_live = std::sync::Mutex::new(None);
    let live = eventually(Duration::from_secs(30), || {
        let http = &http;
        let gw = &gw;
        let path = live_path.clone();
        let first_live = &first_live;
        async move {
            let answer = get(http, gw, &path).await;
            let text = answer.text();
            let ok = answer.status == StatusCode::OK
                && !playlist_entries(&text).is_empty()
                && !text.contains("#EXT-X-ENDLIST");
            if ok {
                *first_live.lock().expect("lock") = Some(started.elapsed());
            }
            ok
        }
    })
    .await;
    assert!(live, "no live rendition while the broadcast streams");
    eprintln!(
        "first P144 segment playable {:.2} s after the broadcast started",
        first_live
            .into_inner()
            .expect("lock")
            .unwrap_or_default()
            .as_secs_f64()
    );
    let master = get(&http, &gw, "/stream/bikes.m3u8").await;
    assert_eq!(
        playlist_entries(&master.text()),
        vec![
            "bikes/source.m3u8".to_string(),
            format!("bikes/{P144}.m3u8")
        ]
    );

    for (broadcaster, (clip, _, _)) in broadcasters.into_iter().zip(&clips) {
        let out = broadcaster.wait_with_output().await.expect("ffmpeg runs");
        assert!(
            out.status.success(),
            "the {clip} broadcast failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for ((clip, _, _), manifest) in clips.iter().zip(manifests) {
        let want = clip_duration(clip).await;
        for track in ["source", P144] {
            let playlist = ended_playlist(&http, &gw, manifest, track).await;
            let total: f64 = durations(&playlist).iter().sum();
            assert!(
                (total - want).abs() <= 0.5,
                "{manifest}/{track}: {total:.3} s of segments for a {want:.3} s clip:\n{playlist}"
            );
            assert!(!playlist.contains("#EXT-X-DISCONTINUITY"), "{playlist}");
            check_segments_decode(&http, &gw, manifest, &playlist).await;
        }
    }
    gw.stop().await;
    orch.stop().await;
}

#[tokio::test]
async fn a_reconnecting_broadcaster_continues_its_manifest_and_a_second_one_is_refused() {
    let orch = Orch::with_max_sessions(2).await;
    let gw = Gateway::start_with(vec![orch.uri.clone()], single(P144), |c| {
        c.rtmp_addr = Some("127.0.0.1:0".into());
    })
    .await;
    let rtmp = gw.rtmp.expect("RTMP is on");
    let http = http();

    // The first 4 s of the clip, and while it streams a second broadcaster of the same name,
    // which is disconnected (go-livepeer: one broadcaster per manifest).
    let mut first = broadcast(BIKES_MP4, rtmp, "live/show", &["-t", "4", "-c", "copy"]);
    let playing = eventually(Duration::from_secs(20), || async {
        get(&http, &gw, "/stream/show/source.m3u8").await.status == StatusCode::OK
    })
    .await;
    assert!(playing, "the first broadcast never showed");
    let mut intruder = broadcast(BIKES_MP4, rtmp, "live/show", &["-c", "copy"]);
    let refused = tokio::time::timeout(Duration::from_secs(20), intruder.wait())
        .await
        .expect("the second broadcaster is disconnected")
        .expect("ffmpeg runs");
    assert!(
        !refused.success(),
        "a second broadcaster of one manifest was taken"
    );
    assert!(first.wait().await.expect("ffmpeg runs").success());
    let after_first = ended_playlist(&http, &gw, "show", "source").await;
    let first_segments = playlist_entries(&after_first).len();

    // The same broadcaster comes back with the rest of the clip.
    let mut again = broadcast_from(BIKES_MP4, "4", rtmp, "live/show", &["-c", "copy"]);
    let relive = eventually(Duration::from_secs(30), || async {
        let text = get(&http, &gw, &format!("/stream/show/{P144}.m3u8"))
            .await
            .text();
        !text.contains("#EXT-X-ENDLIST") && playlist_entries(&text).len() > first_segments
    })
    .await;
    assert!(
        relive,
        "the reconnected broadcast did not go live on the same manifest"
    );
    assert!(again.wait().await.expect("ffmpeg runs").success());
    for track in ["source", P144] {
        let playlist = ended_playlist(&http, &gw, "show", track).await;
        let entries = playlist_entries(&playlist);
        assert!(entries.len() > first_segments, "{playlist}");
        // The reconnect is marked, once.
        assert_eq!(
            playlist.matches("#EXT-X-DISCONTINUITY").count(),
            1,
            "{playlist}"
        );
        let total: f64 = durations(&playlist).iter().sum();
        let want = clip_duration(BIKES_MP4).await;
        // The second push starts at the keyframe at or before 4 s: up to a GOP repeats.
        assert!(
            total >= want - 0.5 && total <= want + 3.0,
            "{total} s:\n{playlist}"
        );
        check_segments_decode(&http, &gw, "show", &playlist).await;
    }
    gw.stop().await;
    orch.stop().await;
}
