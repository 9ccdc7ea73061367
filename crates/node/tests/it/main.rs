//! End to end: real clips pushed through a gateway and an orchestrator on loopback, with real
//! ffmpeg, TLS and HTTP, checked with ffprobe.

mod dashboard;

use livepeer_media::testing::{ALL_CLIPS, media_file};
use livepeer_media::{Ffmpeg, output_resolution};
use livepeer_node::cli::PushArgs;
use livepeer_node::demo::{LocalNetwork, mirror_hls};
use livepeer_node::push::push_file;
use livepeer_primitives::profile::parse_transcoding_options;
use tokio_util::sync::CancellationToken;

const DEFAULT_LADDER: &str = "P240p30fps16x9,P360p30fps16x9";
const THREE_RUNGS: &str = "P720p30fps16x9,P360p30fps16x9,P240p30fps16x9";

/// Pushes every clip through a fresh network with `ladder` and checks what a viewer gets.
async fn push_every_clip(ladder: &str) {
    let ffmpeg = Ffmpeg::locate().expect("ffmpeg is installed (make test installs it)");
    let profiles = parse_transcoding_options(ladder).expect("ladder");
    let network = LocalNetwork::start(ladder, "veryfast")
        .await
        .expect("network starts");
    let work = tempfile::tempdir().expect("tempdir");
    for clip in ALL_CLIPS {
        let source = media_file(clip);
        let source_info = ffmpeg.probe(&source).await.expect("probe source");
        let manifest = clip.split('.').next().expect("name").to_string();
        let out = work.path().join("renditions").join(&manifest);
        let args = PushArgs {
            file: source.clone(),
            gateway: network.gateway_url.clone(),
            manifest: Some(manifest.clone()),
            out: Some(out.clone()),
            realtime: false,
        };
        let report = push_file(&args, CancellationToken::new(), false)
            .await
            .unwrap_or_else(|e| panic!("{clip}: push failed: {e:#}"));
        assert!(
            report.segments >= 2,
            "{clip}: only {} segments",
            report.segments
        );

        // Every segment has every rendition.
        assert_eq!(
            report.renditions.len(),
            profiles.len(),
            "{clip}: {:?}",
            report.renditions
        );
        for profile in &profiles {
            let (count, bytes) = report.renditions[&profile.name];
            assert_eq!(
                count, report.segments,
                "{clip}/{}: renditions per segment",
                profile.name
            );
            assert!(bytes > 0);
        }

        // The HLS the gateway publishes, mirrored to disk, plays as VOD.
        let hls = work.path().join("hls");
        let files = mirror_hls(&network.gateway_url, &manifest, &hls)
            .await
            .expect("mirror HLS");
        // The master, then a playlist and its segments per track: the source (as go-livepeer
        // publishes it) and each rendition.
        assert_eq!(
            files,
            1 + (1 + profiles.len()) * (1 + report.segments),
            "{clip}: files in the HLS tree"
        );
        let master =
            std::fs::read_to_string(hls.join(format!("{manifest}.m3u8"))).expect("master playlist");
        for profile in &profiles {
            assert!(
                master.contains(&format!("{manifest}/{}.m3u8", profile.name)),
                "{clip}: master lacks {}",
                profile.name
            );
            let playlist_path = hls.join(&manifest).join(format!("{}.m3u8", profile.name));
            let playlist = std::fs::read_to_string(&playlist_path).expect("media playlist");
            for seq in 0..report.segments {
                assert!(
                    playlist.contains(&format!("{}/{seq}.ts\n", profile.name)),
                    "{clip}: playlist lacks segment {seq}:\n{playlist}"
                );
            }
            assert!(
                playlist.ends_with("#EXT-X-ENDLIST\n"),
                "{clip}: not VOD after the push ended"
            );

            // Resolution (lpms geometry rule), codec, audio iff the source has it.
            // `livepeer push` re-encodes what a gateway refuses (the MPEG-2 city clip) to
            // H.264, cropping an odd height by one row.
            let (in_w, in_h) = if livepeer_media::INGEST_VIDEO_CODECS
                .contains(&source_info.video_codec.as_str())
            {
                (source_info.width, source_info.height)
            } else {
                (source_info.width & !1, source_info.height & !1)
            };
            let (want_w, want_h) = output_resolution(in_w, in_h, profile);
            for seq in 0..report.segments {
                let seg = out.join(&profile.name).join(format!("{seq}.ts"));
                let info = ffmpeg
                    .probe(&seg)
                    .await
                    .unwrap_or_else(|e| panic!("{clip}: probe {}: {e}", seg.display()));
                assert_eq!(
                    (info.width, info.height),
                    (want_w, want_h),
                    "{clip}/{}/{seq}: resolution",
                    profile.name
                );
                assert_eq!(info.video_codec, "h264");
                assert_eq!(
                    info.has_audio(),
                    source_info.has_audio(),
                    "{clip}/{}/{seq}: audio",
                    profile.name
                );
                // The segment served over HLS is the one the push got back.
                let served = std::fs::read(
                    hls.join(&manifest)
                        .join(&profile.name)
                        .join(format!("{seq}.ts")),
                )
                .expect("served segment");
                assert_eq!(
                    served,
                    std::fs::read(&seg).expect("pushed-back segment"),
                    "{clip}/{}/{seq}",
                    profile.name
                );
            }

            // The rendition's total duration matches the source's.
            let total = ffmpeg
                .probe(&playlist_path)
                .await
                .expect("probe playlist")
                .duration;
            let diff = total.as_secs_f64() - source_info.duration.as_secs_f64();
            assert!(
                diff.abs() <= 0.25,
                "{clip}/{}: rendition lasts {total:?}, source {:?}",
                profile.name,
                source_info.duration
            );
        }
    }
    network.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_clip_through_the_default_ladder() {
    push_every_clip(DEFAULT_LADDER).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_clip_through_a_three_rung_ladder() {
    push_every_clip(THREE_RUNGS).await;
}

#[tokio::test]
async fn push_to_a_dead_gateway_fails_with_one_line() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr").port()
    };
    let args = PushArgs {
        file: media_file(livepeer_media::testing::BBB_MP4),
        gateway: format!("http://127.0.0.1:{port}"),
        manifest: None,
        out: None,
        realtime: false,
    };
    let err = push_file(&args, CancellationToken::new(), false)
        .await
        .expect_err("nothing listens there");
    let text = format!("{err:#}");
    assert!(text.starts_with("cannot reach gateway at"), "{text}");
    assert!(!text.contains('\n'), "{text}");
}
