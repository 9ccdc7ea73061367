//! Transcoding segments of the real clips.

use std::time::Duration;

use livepeer_media::{
    CancellationToken, InputFormat, MediaError, MediaInput, Slice, TranscodeOptions,
    output_resolution, testing,
};
use livepeer_primitives::profile::{
    DEFAULT_TRANSCODING_OPTIONS, Format, Gop, H264Profile, parse_transcoding_options,
};

use crate::{assert_close, count, decode_errors, ff, secs, segments, write};

const THREE_RUNGS: &str = "P720p30fps16x9,P360p30fps16x9,P240p30fps16x9";

/// Transcodes one segment of each clip (as bytes, like a POSTed segment) into `ladder`, and
/// checks every rendition against an independent ffprobe decode.
async fn check_ladder(ladder: &str) {
    let profiles = parse_transcoding_options(ladder).expect("ladder");
    let ff = ff();
    for clip in testing::ALL_CLIPS {
        let (dir, segs) = segments(clip).await;
        // A mid-stream segment where there is one, so timestamps do not start at zero.
        let seg = segs.get(1).unwrap_or(&segs[0]);
        let data = std::fs::read(&seg.path).expect("read segment");
        let source = ff.probe(&seg.path).await.expect("probe segment");
        let renditions = ff
            .transcode(
                MediaInput::Bytes(&data),
                &profiles,
                &TranscodeOptions::default(),
                &CancellationToken::new(),
            )
            .await
            .unwrap_or_else(|e| panic!("{clip}: {e}"));
        assert_eq!(renditions.len(), profiles.len(), "{clip}");
        for (i, (r, profile)) in renditions.iter().zip(&profiles).enumerate() {
            let what = format!("{clip} seg {} -> {}", seg.seq, profile.name);
            assert_eq!(&r.profile, profile, "{what}");
            let out = write(dir.path(), &format!("out_{i}.ts"), &r.data);
            let seen = count(&out).await;
            let want = output_resolution(source.width, source.height, profile);
            assert_eq!((r.width, r.height), want, "{what}: reported size");
            assert_eq!((seen.width, seen.height), want, "{what}: encoded size");
            assert_eq!(seen.format_name, "mpegts", "{what}");
            assert_eq!(seen.video_codec, "h264", "{what}");
            assert_eq!(seen.r_frame_rate, "30/1", "{what}");
            assert_eq!(
                seen.has_audio,
                source.has_audio(),
                "{what}: audio passthrough"
            );
            assert_close(&what, seen.duration, secs(source.duration), 0.25);
            // Timestamps continue the input's instead of restarting at zero.
            let source_start = secs(source.start_time.expect("segment start"));
            assert_close(&what, seen.start_time, source_start, 0.1);
            assert_eq!(r.frames, seen.frames, "{what}: frames");
            assert_eq!(
                r.pixels,
                u64::from(seen.width) * u64::from(seen.height) * seen.frames,
                "{what}"
            );
            assert!(r.frames > 0);
        }
    }
}

#[tokio::test]
async fn transcodes_into_the_default_ladder() {
    check_ladder(DEFAULT_TRANSCODING_OPTIONS).await;
}

#[tokio::test]
async fn transcodes_into_a_three_rung_ladder() {
    check_ladder(THREE_RUNGS).await;
}

#[tokio::test]
async fn renditions_of_consecutive_segments_play_as_one_stream() {
    let profiles = parse_transcoding_options("P240p30fps16x9").expect("ladder");
    let ff = ff();
    let (dir, segs) = segments(testing::BIKES_MP4).await;
    let mut joined = Vec::new();
    let mut total = 0.0;
    let mut frames = 0;
    for seg in &segs[..3] {
        let r = ff
            .transcode(
                &seg.path,
                &profiles,
                &TranscodeOptions::default(),
                &CancellationToken::new(),
            )
            .await
            .expect("transcode");
        total += secs(seg.duration);
        frames += r[0].frames;
        joined.extend_from_slice(&r[0].data);
    }
    let path = write(dir.path(), "joined.ts", &joined);
    let seen = count(&path).await;
    assert_close("joined duration", seen.duration, total, 0.25);
    assert_eq!(seen.frames, frames);
    let errors = decode_errors(&path).await;
    assert!(errors.is_empty(), "{errors}");
}

#[tokio::test]
async fn honours_profile_gop_format_and_passthrough() {
    let ff = ff();
    let (dir, segs) = segments(testing::BIKES_MP4).await;
    let mut intra =
        livepeer_primitives::profile::VideoProfile::standard("P240p30fps16x9").expect("standard");
    intra.name = "intra-baseline-mp4".into();
    intra.profile = H264Profile::Baseline;
    intra.gop = Gop::Intra;
    intra.format = Format::Mp4;
    let mut passthrough =
        livepeer_primitives::profile::VideoProfile::standard("P360p30fps16x9").expect("standard");
    passthrough.name = "passthrough-fps".into();
    passthrough.fps = 0;
    passthrough.profile = H264Profile::Main;
    passthrough.gop = Gop::Every(Duration::from_millis(500));
    let profiles = [intra, passthrough];
    let r = ff
        .transcode(
            &segs[1].path,
            &profiles,
            &TranscodeOptions::default(),
            &CancellationToken::new(),
        )
        .await
        .expect("transcode");

    let mp4 = write(dir.path(), "intra.mp4", &r[0].data);
    let seen = count(&mp4).await;
    assert!(seen.format_name.contains("mp4"), "{}", seen.format_name);
    assert!(
        seen.video_profile.contains("Baseline"),
        "{}",
        seen.video_profile
    );
    assert_eq!(r[0].frames, seen.frames);
    let types = pict_types(&mp4).await;
    assert!(
        !types.is_empty() && types.iter().all(|t| t == "I"),
        "{types:?}"
    );

    let ts = write(dir.path(), "passthrough.ts", &r[1].data);
    let seen = count(&ts).await;
    assert_eq!(seen.video_profile, "Main");
    // Source rate (25 fps) kept, and every source frame encoded once.
    assert_eq!(seen.r_frame_rate, "25/1");
    let source = crate::count(&segs[1].path).await;
    assert_eq!(r[1].frames, source.frames);
    // Keyframes forced every 0.5 s: at least one per 12.5 frames.
    let keyframes = pict_types(&ts).await.iter().filter(|t| *t == "I").count() as u64;
    assert!(
        keyframes >= source.frames / 13,
        "{keyframes} keyframes in {} frames",
        source.frames
    );
}

async fn pict_types(path: &std::path::Path) -> Vec<String> {
    let out = tokio::process::Command::new(ff().ffprobe_path())
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "frame=pict_type",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .await
        .expect("run ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().trim_end_matches(',').to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

#[tokio::test]
async fn corrupt_input_returns_ffmpegs_own_message() {
    let profiles = parse_transcoding_options(DEFAULT_TRANSCODING_OPTIONS).expect("ladder");
    let ff = ff();
    let random: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let bbb = std::fs::read(testing::media_file(testing::BBB_MP4)).expect("read clip");
    let truncated_mp4 = &bbb[..100_000];
    // input, a fragment of ffmpeg's own message
    let cases: [(&[u8], &str); 3] = [
        (&random, "Invalid data found when processing input"),
        (truncated_mp4, "moov atom not found"),
        (&[], "Invalid data found when processing input"),
    ];
    for (input, message) in cases {
        let result = ff
            .transcode(
                MediaInput::Bytes(input),
                &profiles,
                &TranscodeOptions::default(),
                &CancellationToken::new(),
            )
            .await;
        match result {
            Err(
                err @ MediaError::Ffmpeg {
                    program: "ffmpeg", ..
                },
            ) => {
                assert!(err.is_input_fault());
                let text = err.to_string();
                assert!(text.contains(message), "want {message:?} in {text}");
            }
            other => panic!("want MediaError::Ffmpeg, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn rejects_unsupported_requests_before_running() {
    let ff = ff();
    let clip = testing::media_file(testing::BIKES_MP4);
    let none = ff
        .transcode(
            &clip,
            &[],
            &TranscodeOptions::default(),
            &CancellationToken::new(),
        )
        .await;
    assert!(matches!(none, Err(MediaError::NoProfiles)));
    let mut hevc =
        livepeer_primitives::profile::VideoProfile::standard("P240p30fps16x9").expect("standard");
    hevc.encoder = livepeer_primitives::profile::VideoCodec::H265;
    let result = ff
        .transcode(
            &clip,
            &[hevc],
            &TranscodeOptions::default(),
            &CancellationToken::new(),
        )
        .await;
    assert!(
        matches!(result, Err(MediaError::UnsupportedProfile { .. })),
        "{result:?}"
    );
    let opts = TranscodeOptions {
        preset: "warp".into(),
        ..TranscodeOptions::default()
    };
    let profiles = parse_transcoding_options("P240p30fps16x9").expect("ladder");
    let result = ff
        .transcode(&clip, &profiles, &opts, &CancellationToken::new())
        .await;
    assert!(
        matches!(result, Err(MediaError::UnknownPreset { .. })),
        "{result:?}"
    );
}

/// A slice of a segment comes out as long as asked, to within one output frame, in frames
/// counted by ffprobe and in the file's duration; its timestamps start at zero and the
/// reported frames and pixels are the slice's.
#[tokio::test]
async fn a_slice_transcodes_to_its_duration() {
    let ff = ff();
    // The Big Buck Bunny clip has AAC audio, which is cut with the video.
    let (dir, segs) = segments(testing::BBB_MP4).await;
    let seg = segs.get(1).unwrap_or(&segs[0]);
    let data = std::fs::read(&seg.path).expect("read segment");
    let profiles = parse_transcoding_options("P240p30fps16x9,P144p30fps16x9").expect("ladder");
    let frame = 1.0 / 30.0;
    let mpegts = TranscodeOptions {
        input_format: InputFormat::MpegTs,
        ..TranscodeOptions::default()
    };
    // The whole segment first: how long its video is at the ladder's 30 fps.
    let whole = ff
        .transcode(
            MediaInput::Bytes(&data),
            &profiles,
            &mpegts,
            &CancellationToken::new(),
        )
        .await
        .expect("whole");
    let whole_secs = whole[0].frames as f64 * frame;
    assert!(whole_secs > 1.9, "the segment lasts {whole_secs} s");
    for (from_ms, to_ms) in [(500, 1500), (0, 700), (1200, 0)] {
        let slice = Slice::from_ms(from_ms, to_ms).expect("slice");
        let end = if to_ms > 0 {
            to_ms as f64 / 1000.0
        } else {
            whole_secs
        };
        let want = end - from_ms as f64 / 1000.0;
        let opts = TranscodeOptions {
            slice,
            ..mpegts.clone()
        };
        let renditions = ff
            .transcode(
                MediaInput::Bytes(&data),
                &profiles,
                &opts,
                &CancellationToken::new(),
            )
            .await
            .unwrap_or_else(|e| panic!("slice {from_ms}..{to_ms}: {e}"));
        for (i, r) in renditions.iter().enumerate() {
            let what = format!("slice {from_ms}..{to_ms} ms -> {}", r.profile.name);
            let out = write(dir.path(), &format!("slice_{i}.ts"), &r.data);
            let seen = count(&out).await;
            assert_close(&what, seen.frames as f64 * frame, want, frame + 1e-6);
            assert_close(&what, seen.duration, want, frame + 0.03);
            assert_close(&what, seen.start_time, 0.0, 0.1);
            assert!(seen.has_audio, "{what}: audio kept");
            assert_eq!(r.frames, seen.frames, "{what}: reported frames");
            assert_eq!(
                r.pixels,
                u64::from(seen.width) * u64::from(seen.height) * seen.frames,
                "{what}: pixels"
            );
            assert!(
                r.pixels < whole[i].pixels,
                "{what}: fewer pixels than the whole"
            );
            assert!(decode_errors(&out).await.is_empty(), "{what}: clean decode");
        }
    }
    assert!(matches!(
        Slice::from_ms(1500, 500),
        Err(MediaError::InvalidSlice { .. })
    ));
}

/// H.264 sources in 4:2:2 10-bit and 4:4:4 (capabilities 21–25, which go-livepeer's software
/// transcoder advertises) transcode into 8-bit 4:2:0 renditions in a Main-profile ladder.
#[tokio::test]
async fn high_chroma_and_bit_depth_h264_sources_transcode() {
    let ff = ff();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut profiles = parse_transcoding_options("P240p30fps16x9").expect("ladder");
    profiles[0].profile = H264Profile::Main;
    for pix_fmt in ["yuv422p10le", "yuv444p"] {
        let src = dir.path().join(format!("{pix_fmt}.ts"));
        let made = tokio::process::Command::new(ff.ffmpeg_path())
            .args([
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=640x360:rate=30",
            ])
            .args([
                "-t", "1", "-c:v", "libx264", "-pix_fmt", pix_fmt, "-f", "mpegts",
            ])
            .arg(&src)
            .status()
            .await
            .expect("run ffmpeg");
        assert!(made.success(), "make a {pix_fmt} source");
        let renditions = ff
            .transcode(
                &src,
                &profiles,
                &TranscodeOptions {
                    input_format: InputFormat::MpegTs,
                    ..TranscodeOptions::default()
                },
                &CancellationToken::new(),
            )
            .await
            .unwrap_or_else(|e| panic!("{pix_fmt}: {e}"));
        let out = write(
            dir.path(),
            &format!("{pix_fmt}_out.ts"),
            &renditions[0].data,
        );
        let seen = count(&out).await;
        assert_eq!(seen.video_profile, "Main", "{pix_fmt}");
        assert_eq!(seen.frames, 30, "{pix_fmt}");
    }
}
