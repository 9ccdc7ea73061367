//! Probing the real clips.

use livepeer_media::{FrameRate, MediaError, MediaInput, testing};

use crate::{assert_close, ff, secs};

#[tokio::test]
async fn reports_ffmpeg_version() {
    let version = ff().version().await.expect("version");
    let major: u32 = version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or_default();
    assert!(major >= 4, "unexpected ffmpeg version {version:?}");
}

#[tokio::test]
async fn probes_each_clip() {
    // clip, format, width, height, video codec, audio codec, duration (s)
    let cases = [
        (testing::CITY_MPG, "mpeg", 720, 405, "mpeg2video", None, 7.6),
        (
            testing::BBB_MP4,
            "mov,mp4,m4a,3gp,3g2,mj2",
            1280,
            720,
            "h264",
            Some("aac"),
            5.312,
        ),
        (
            testing::BIKES_MP4,
            "mov,mp4,m4a,3gp,3g2,mj2",
            640,
            272,
            "h264",
            None,
            10.0,
        ),
    ];
    let ff = ff();
    for (clip, format, width, height, vcodec, acodec, duration) in cases {
        let info = ff
            .probe(&testing::media_file(clip))
            .await
            .unwrap_or_else(|e| panic!("{clip}: {e}"));
        assert_eq!(info.format_name, format, "{clip}");
        assert_eq!((info.width, info.height), (width, height), "{clip}");
        assert_eq!(info.video_codec, vcodec, "{clip}");
        assert_eq!(info.audio_codec.as_deref(), acodec, "{clip}");
        assert_eq!(info.has_audio(), acodec.is_some(), "{clip}");
        assert_eq!(
            info.frame_rate,
            Some(FrameRate { num: 25, den: 1 }),
            "{clip}"
        );
        assert_close(clip, secs(info.duration), duration, 0.05);
    }
}

#[tokio::test]
async fn probes_segment_bytes_like_the_file_and_only_as_mpeg_ts() {
    let ff = ff();
    let (_dir, segs) = crate::segments(testing::BIKES_MP4).await;
    let path = &segs[0].path;
    let data = std::fs::read(path).expect("read segment");
    let from_file = ff.probe(path).await.expect("probe file");
    let from_bytes = ff
        .probe(MediaInput::Bytes(&data))
        .await
        .expect("probe bytes");
    assert_eq!(from_bytes, from_file);
    assert_eq!(from_bytes.format_name, "mpegts");
    // Bytes come from the network: an MP4 is not read as what it is.
    let mp4 = std::fs::read(testing::media_file(testing::BBB_MP4)).expect("read clip");
    assert!(ff.probe(MediaInput::Bytes(&mp4)).await.is_err());
    // MP4 records its frame count: 5.3 s at 25 fps.
    let from_mp4_file = ff
        .probe(&testing::media_file(testing::BBB_MP4))
        .await
        .expect("probe the MP4 file");
    assert_eq!(from_mp4_file.video_frames, Some(132));
}

#[tokio::test]
async fn probe_rejects_garbage_and_audio_only() {
    let ff = ff();
    let garbage: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    // Bytes are read as MPEG-TS only: garbage fails in ffprobe, and the error names no
    // scratch path.
    match ff.probe(&garbage).await {
        Err(
            err @ MediaError::Ffmpeg {
                program: "ffprobe", ..
            },
        ) => {
            let text = err.to_string();
            let temp = std::env::temp_dir().display().to_string();
            assert!(!text.contains(&temp) && !text.contains("job-"), "{text}");
        }
        other => panic!("want ffprobe error, got {other:?}"),
    }
    // A file is probed for what it holds.
    let dir = tempfile::tempdir().expect("temp dir");
    let garbage_file = dir.path().join("garbage");
    std::fs::write(&garbage_file, &garbage).expect("write garbage");
    match ff.probe(&garbage_file).await {
        Err(MediaError::Ffmpeg {
            program: "ffprobe",
            stderr_tail,
            ..
        }) => assert!(
            stderr_tail.contains("Invalid data found when processing input"),
            "{stderr_tail}"
        ),
        other => panic!("want ffprobe error, got {other:?}"),
    }

    // An audio-only MPEG-TS cut from the BBB clip.
    let audio = dir.path().join("audio.ts");
    let status = tokio::process::Command::new(ff.ffmpeg_path())
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(testing::media_file(testing::BBB_MP4))
        .args(["-vn", "-c:a", "copy", "-f", "mpegts"])
        .arg(&audio)
        .status()
        .await
        .expect("run ffmpeg");
    assert!(status.success());
    assert!(matches!(
        ff.probe(&audio).await,
        Err(MediaError::NoVideoStream)
    ));
}
