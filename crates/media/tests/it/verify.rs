//! The video comparison and pixel recount a verifying gateway applies to renditions from
//! orchestrators, with the real ffprobe on real renditions.

use livepeer_media::{CancellationToken, InputFormat, MediaError, TranscodeOptions, testing};
use livepeer_primitives::profile::{Format, parse_transcoding_options};

use crate::{ff, segments};

/// `data` transcoded into `ladder` (MPEG-TS, or MP4 with `mp4`).
async fn renditions(data: &[u8], ladder: &str, mp4: bool) -> Vec<bytes::Bytes> {
    let mut profiles = parse_transcoding_options(ladder).expect("ladder");
    if mp4 {
        for p in &mut profiles {
            p.format = Format::Mp4;
        }
    }
    let opts = TranscodeOptions {
        input_format: InputFormat::MpegTs,
        ..TranscodeOptions::default()
    };
    ff().transcode(data, &profiles, &opts, &CancellationToken::new())
        .await
        .expect("transcode")
        .into_iter()
        .map(|r| r.data)
        .collect()
}

#[tokio::test]
async fn compare_videos_as_lpms_does() {
    // Big Buck Bunny carries audio, which renditions copy: what lpms compares.
    let (_dir, segs) = segments(testing::BBB_MP4).await;
    let seg = |i: usize| std::fs::read(&segs[i].path).expect("read segment");
    let ff = ff();
    let one = renditions(&seg(1), "P240p30fps16x9,P360p30fps16x9", false).await;
    let again = renditions(&seg(1), "P240p30fps16x9", false).await;
    let next = renditions(&seg(2), "P240p30fps16x9", false).await;
    let mp4 = renditions(&seg(1), "P240p30fps16x9", true).await;
    let mp4_again = renditions(&seg(1), "P240p30fps16x9", true).await;
    let cases = [
        ("the same rendition made twice", &one[0], &again[0], true),
        ("another size", &one[0], &one[1], false),
        ("the next segment", &one[0], &next[0], false),
        ("MP4 renditions", &mp4[0], &mp4_again[0], true),
    ];
    for (what, a, b, want) in cases {
        assert_eq!(ff.compare_videos(a, b).await.expect(what), want, "{what}");
    }
    let fp = ff.video_fingerprint(&one[0]).await.expect("fingerprint");
    assert_eq!((fp.width, fp.height), (426, 240));
    assert!(
        fp.audio_md5s.len() > 50,
        "{} audio packets",
        fp.audio_md5s.len()
    );
    let garbage = vec![0x5au8; 10_000];
    assert!(matches!(
        ff.compare_videos(&garbage, &one[0]).await,
        Err(MediaError::Ffmpeg { .. } | MediaError::Probe { .. })
    ));
}

#[tokio::test]
async fn decoded_pixels_recount_what_was_encoded() {
    let (_dir, segs) = segments(testing::BIKES_MP4).await;
    let data = std::fs::read(&segs[1].path).expect("read segment");
    let ff = ff();
    for mp4 in [false, true] {
        let mut profiles =
            parse_transcoding_options("P240p30fps16x9,P360p30fps16x9").expect("ladder");
        if mp4 {
            for p in &mut profiles {
                p.format = Format::Mp4;
            }
        }
        let opts = TranscodeOptions {
            input_format: InputFormat::MpegTs,
            ..TranscodeOptions::default()
        };
        let out = ff
            .transcode(&data, &profiles, &opts, &CancellationToken::new())
            .await
            .expect("transcode");
        for r in out {
            let counted = ff.decoded_pixels(&r.data).await.expect("pixels");
            assert_eq!(counted, r.pixels, "{} (mp4: {mp4})", r.profile.name);
        }
    }
    assert!(ff.decoded_pixels(&[0u8; 1000]).await.is_err());
}
