//! Segmenting the real clips.

use std::time::Duration;

use livepeer_media::{MediaError, testing};

use crate::{assert_close, decode_errors, ff, secs, segments};

#[tokio::test]
async fn segments_each_clip_into_decodable_ts() {
    // clip, expected segment count (stream copy cuts at keyframes; BBB has one GOP, so it is
    // cut again with re-encoded video)
    let cases = [
        (testing::CITY_MPG, 4),
        (testing::BBB_MP4, 3),
        (testing::BIKES_MP4, 5),
    ];
    let ff = ff();
    for (clip, count) in cases {
        let source = ff
            .probe(&testing::media_file(clip))
            .await
            .expect("probe source");
        let (_dir, segs) = segments(clip).await;
        assert_eq!(segs.len(), count, "{clip}: {segs:?}");
        let total: Duration = segs.iter().map(|s| s.duration).sum();
        assert_close(clip, secs(total), secs(source.duration), 0.1);
        let mut previous_start = None;
        for (i, seg) in segs.iter().enumerate() {
            assert_eq!(seg.seq, i as u64);
            assert!(seg.path.is_file(), "{}", seg.path.display());
            let info = ff
                .probe(&seg.path)
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", seg.path.display()));
            assert_eq!(info.format_name, "mpegts");
            assert_eq!(info.video_codec, source.video_codec);
            assert_eq!(
                info.has_audio(),
                source.has_audio(),
                "{}",
                seg.path.display()
            );
            assert_eq!((info.width, info.height), (source.width, source.height));
            // The segmenter cuts at the first keyframe after each multiple of the segment
            // length, so lengths vary, but no segment is empty or far longer than a GOP.
            assert!(seg.duration > Duration::from_millis(100), "{seg:?}");
            if i + 1 < segs.len() {
                assert!(
                    seg.duration <= Duration::from_secs(3),
                    "{clip}: {seg:?} too long"
                );
            }
            // Timestamps run on from segment to segment.
            let start = info.start_time.expect("segment start time");
            if let Some(prev) = previous_start {
                assert!(
                    start > prev,
                    "{}: start {start:?} not after {prev:?}",
                    seg.path.display()
                );
            }
            previous_start = Some(start);
            let errors = decode_errors(&seg.path).await;
            assert!(errors.is_empty(), "{}: {errors}", seg.path.display());
        }
    }
}

#[tokio::test]
async fn segment_errors() {
    let ff = ff();
    let dir = tempfile::tempdir().expect("temp dir");
    let clip = testing::media_file(testing::BIKES_MP4);
    assert!(matches!(
        ff.segment_file(&clip, dir.path(), Duration::ZERO).await,
        Err(MediaError::InvalidSegmentLength { .. })
    ));
    let garbage = crate::write(dir.path(), "garbage.bin", &[0x47; 1000]);
    match ff
        .segment_file(&garbage, &dir.path().join("out"), Duration::from_secs(2))
        .await
    {
        Err(MediaError::Ffmpeg { stderr_tail, .. }) => assert!(!stderr_tail.is_empty()),
        other => panic!("want an ffmpeg error, got {other:?}"),
    }
}

/// The push client's cut: the MPEG-2 city clip (which a gateway refuses with 422) comes out as
/// decodable H.264 segments with an even height; an H.264 clip is stream-copied unchanged.
#[tokio::test]
async fn segments_for_ingest_are_h264_or_hevc() {
    let ff = ff();
    let dir = tempfile::tempdir().expect("temp dir");
    let city = ff
        .segment_file_for_ingest(
            &testing::media_file(testing::CITY_MPG),
            &dir.path().join("city"),
            Duration::from_secs(2),
        )
        .await
        .expect("segments");
    assert!(!city.is_empty());
    let total: Duration = city.iter().map(|s| s.duration).sum();
    let source = ff
        .probe(&testing::media_file(testing::CITY_MPG))
        .await
        .expect("probe");
    assert_close("city", secs(total), secs(source.duration), 0.1);
    for seg in &city {
        let info = ff.probe(&seg.path).await.expect("probe segment");
        assert_eq!(info.video_codec, "h264", "{}", seg.path.display());
        assert_eq!((info.width, info.height), (720, 404));
        let errors = decode_errors(&seg.path).await;
        assert!(errors.is_empty(), "{}: {errors}", seg.path.display());
    }
    let bikes = ff
        .segment_file_for_ingest(
            &testing::media_file(testing::BIKES_MP4),
            &dir.path().join("bikes"),
            Duration::from_secs(2),
        )
        .await
        .expect("segments");
    let copied = ff
        .segment_file(
            &testing::media_file(testing::BIKES_MP4),
            &dir.path().join("copied"),
            Duration::from_secs(2),
        )
        .await
        .expect("segments");
    assert_eq!(bikes.len(), copied.len());
    for (a, b) in bikes.iter().zip(&copied) {
        assert_eq!(
            std::fs::read(&a.path).expect("read"),
            std::fs::read(&b.path).expect("read"),
            "stream copy, byte for byte"
        );
    }
}
