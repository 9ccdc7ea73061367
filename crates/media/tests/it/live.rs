//! The live segmenter: a stream fed in small writes comes out as decodable segments whose
//! durations add up to the stream's.

use std::sync::{Arc, Mutex};

use livepeer_media::live::{CutSegment, LiveSegmenter, LiveSegmenterArgs};
use livepeer_media::testing;

use crate::ff;

/// The bikes clip (H.264, keyframes about every 2 s) as one MPEG-TS stream.
async fn bikes_ts() -> Vec<u8> {
    let out = tokio::process::Command::new(ff().ffmpeg_path())
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-i"])
        .arg(testing::media_file(testing::BIKES_MP4))
        .args(["-c", "copy", "-f", "mpegts", "pipe:1"])
        .output()
        .await
        .expect("ffmpeg runs");
    assert!(out.status.success());
    out.stdout
}

#[tokio::test]
async fn a_stream_fed_in_pieces_is_cut_on_keyframes_as_it_arrives() {
    let ffmpeg = ff();
    let cuts: Arc<Mutex<Vec<CutSegment>>> = Arc::default();
    let args = LiveSegmenterArgs {
        input: vec!["-f".into(), "mpegts".into()],
        output: vec!["-c".into(), "copy".into()],
        segment_time: std::time::Duration::from_secs(2),
    };
    let sink = cuts.clone();
    let mut segmenter = LiveSegmenter::start(&ffmpeg, args, move |cut| {
        sink.lock().expect("lock").push(cut)
    })
    .await
    .expect("starts");
    let stream = bikes_ts().await;
    for piece in stream.chunks(64 * 1024) {
        segmenter.write(piece).await.expect("ffmpeg reads");
    }
    // Before the end of input every complete segment has come out; the last waits for it.
    let cut_before_end = crate::eventually(|| cuts.lock().expect("lock").len() >= 3).await;
    assert!(
        cut_before_end,
        "segments come out while the stream is still open"
    );
    assert!(segmenter.bytes_since_cut() < stream.len() as u64);
    segmenter.finish().await.expect("ffmpeg ends cleanly");

    let cuts = cuts.lock().expect("lock").clone();
    assert!(cuts.len() >= 4, "{} segments", cuts.len());
    let indices: Vec<u64> = cuts.iter().map(|c| c.index).collect();
    assert_eq!(indices, (0..cuts.len() as u64).collect::<Vec<_>>());
    let total: f64 = cuts.iter().map(|c| c.duration.as_secs_f64()).sum();
    let clip = ffmpeg
        .probe(testing::media_file(testing::BIKES_MP4).as_path())
        .await
        .expect("probe")
        .duration
        .as_secs_f64();
    assert!(
        (total - clip).abs() < 0.2,
        "{total} s cut from a {clip} s clip"
    );
    assert_eq!(cuts[0].start, std::time::Duration::ZERO);
    for pair in cuts.windows(2) {
        assert!(pair[1].start > pair[0].start);
    }
    for cut in &cuts {
        let info = ffmpeg
            .probe(&cut.data[..])
            .await
            .expect("each segment probes");
        assert_eq!(info.video_codec, "h264");
        assert_eq!(cut.data[0], 0x47, "MPEG-TS");
    }
}

#[tokio::test]
async fn input_ffmpeg_cannot_demux_fails_finish_with_its_error() {
    let ffmpeg = ff();
    let args = LiveSegmenterArgs {
        input: vec!["-f".into(), "flv".into()],
        output: vec!["-c".into(), "copy".into()],
        segment_time: std::time::Duration::from_secs(2),
    };
    let mut segmenter = LiveSegmenter::start(&ffmpeg, args, |_| panic!("nothing to cut"))
        .await
        .expect("starts");
    // ffmpeg may exit before reading it all: a failed write is fine too.
    let _ = segmenter.write(&[0x42; 4096]).await;
    let err = segmenter.finish().await.expect_err("garbage is not FLV");
    assert!(err.to_string().contains("ffmpeg failed"), "{err}");
}
