//! MPEG-7 signatures computed while transcoding real segments, and their comparison: our
//! matcher against the answers of ffmpeg's own `signature` filter in detect mode.

use std::path::Path;

use livepeer_media::{
    CancellationToken, InputFormat, Rendition, SignatureMatch, Slice, TranscodeOptions,
    VideoSignature, compare_signatures, testing,
};
use livepeer_primitives::profile::parse_transcoding_options;

use crate::{ff, segments, write};

const LADDER: &str = "P240p30fps16x9,P360p30fps16x9";

/// Transcodes `data` (an MPEG-TS segment) into [`LADDER`] with signatures.
async fn transcode_signed(data: &[u8], slice: Option<Slice>) -> Vec<Rendition> {
    let profiles = parse_transcoding_options(LADDER).expect("ladder");
    let opts = TranscodeOptions {
        input_format: InputFormat::MpegTs,
        calc_signature: true,
        slice,
        ..TranscodeOptions::default()
    };
    ff().transcode(data, &profiles, &opts, &CancellationToken::new())
        .await
        .expect("transcode")
}

fn signature(r: &Rendition) -> &[u8] {
    r.signature
        .as_deref()
        .unwrap_or_else(|| panic!("{} has a signature", r.profile.name))
}

/// `input` re-encoded with ffmpeg's `filter` applied (a tampered segment), as MPEG-TS with
/// the same timestamps.
async fn tampered(dir: &Path, input: &Path, filter: &str) -> Vec<u8> {
    let out = dir.join(format!("tampered-{}.ts", filter.len()));
    let status = tokio::process::Command::new(ff().ffmpeg_path())
        .args(["-v", "error", "-nostdin", "-y", "-copyts", "-i"])
        .arg(input)
        .args([
            "-vf",
            &format!("{filter},scale=trunc(iw/2)*2:trunc(ih/2)*2"),
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-c:a",
            "copy",
            "-muxdelay",
            "0",
            "-f",
            "mpegts",
        ])
        .arg(&out)
        .status()
        .await
        .expect("run ffmpeg");
    assert!(status.success(), "tampering with {filter}");
    std::fs::read(&out).expect("read the tampered segment")
}

/// What ffmpeg's own matcher (the `signature` filter in detect mode, with the livepeer fork's
/// thresholds: frame distance 150, good-frame ratio 0) says about two videos, and our
/// matcher's answer on the signatures ffmpeg computes of the same two files.
async fn both_matchers(dir: &Path, a: &[u8], b: &[u8]) -> (SignatureMatch, SignatureMatch) {
    let (pa, pb) = (write(dir, "a.ts", a), write(dir, "b.ts", b));
    let mut sigs = Vec::new();
    for (path, name) in [(&pa, "a.bin"), (&pb, "b.bin")] {
        let bin = dir.join(name);
        let status = tokio::process::Command::new(ff().ffmpeg_path())
            .args(["-v", "error", "-nostdin", "-y", "-i"])
            .arg(path)
            .arg("-vf")
            .arg(format!("signature=filename={}", bin.display()))
            .args(["-f", "null", "-"])
            .status()
            .await
            .expect("run ffmpeg");
        assert!(status.success());
        sigs.push(std::fs::read(&bin).expect("the signature file"));
    }
    let ours = compare_signatures(&sigs[0], &sigs[1]).expect("our matcher compares");
    let out = tokio::process::Command::new(ff().ffmpeg_path())
        .args(["-hide_banner", "-nostdin", "-i"])
        .arg(&pa)
        .arg("-i")
        .arg(&pb)
        .args([
            "-filter_complex",
            "[0:v][1:v]signature=nb_inputs=2:detectmode=full:th_xh=150:th_it=0",
            "-f",
            "null",
            "-",
        ])
        .output()
        .await
        .expect("run ffmpeg");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    let theirs = if log.contains("whole video matching") {
        SignatureMatch::Whole
    } else if log.contains("no matching of video") {
        SignatureMatch::None
    } else if log.contains("matching of video") {
        SignatureMatch::Partial
    } else {
        panic!("ffmpeg gave no verdict: {log}")
    };
    (ours, theirs)
}

#[tokio::test]
async fn identical_renditions_have_identical_signatures_and_match_whole() {
    let (_dir, segs) = segments(testing::BBB_MP4).await;
    let data = std::fs::read(&segs[1].path).expect("read segment");
    let first = transcode_signed(&data, None).await;
    let again = transcode_signed(&data, None).await;
    for (r, s) in first.iter().zip(&again) {
        let what = &r.profile.name;
        assert_eq!(signature(r), signature(s), "{what}: same bytes twice");
        let sig = VideoSignature::decode(signature(r)).expect("our decoder reads ffmpeg's");
        assert_eq!((sig.width(), sig.height()), (r.width, r.height), "{what}");
        assert_eq!(
            sig.frame_count() as u64,
            r.frames,
            "{what}: one per frame encoded"
        );
        assert_eq!(
            compare_signatures(signature(r), signature(s)).expect("compares"),
            SignatureMatch::Whole,
            "{what}"
        );
    }
    // Renditions of one segment at two sizes are the same video too.
    assert_eq!(
        compare_signatures(signature(&first[0]), signature(&first[1])).expect("compares"),
        SignatureMatch::Whole
    );
}

#[tokio::test]
async fn other_content_does_not_match() {
    // Bikes: the riders move fast, so another 2 s of the clip is other content. (In the
    // slow opening of Big Buck Bunny consecutive segments match whole: MPEG-7 signatures are
    // built to survive re-encoding, and at the fork's threshold they see a slow pan as one
    // video. So does a blur: it leaves the coarse structure the signature records.)
    let (dir, segs) = segments(testing::BIKES_MP4).await;
    let seg = |i: usize| std::fs::read(&segs[i].path).expect("read segment");
    let honest = transcode_signed(&seg(1), None).await;
    let next = transcode_signed(&seg(2), None).await;
    let boxed = transcode_signed(
        &tampered(
            dir.path(),
            &segs[1].path,
            "drawbox=x=0:y=0:w=iw/2:h=ih:color=black:t=fill",
        )
        .await,
        None,
    )
    .await;
    let blurred = transcode_signed(
        &tampered(dir.path(), &segs[1].path, "boxblur=10").await,
        None,
    )
    .await;
    let cases = [
        ("the next segment", &next[0], SignatureMatch::None),
        ("half blacked out", &boxed[0], SignatureMatch::None),
        ("blurred", &blurred[0], SignatureMatch::Whole),
    ];
    for (what, rendition, want) in cases {
        assert_eq!(
            compare_signatures(signature(&honest[0]), signature(rendition)).expect("compares"),
            want,
            "{what}"
        );
    }
}

#[tokio::test]
async fn our_matcher_agrees_with_ffmpegs() {
    // Pairs of renditions where ffmpeg's verdicts cover all three answers. (Not a short last
    // segment against itself: ffmpeg's detect mode, which matches its in-memory signatures
    // rather than imported ones, finds no match there, where the fork's import path and ours
    // find the whole.)
    let mut renditions = Vec::new();
    let mut dirs = Vec::new();
    for clip in [testing::BIKES_MP4, testing::BBB_MP4] {
        let (dir, segs) = segments(clip).await;
        let mut of_clip = Vec::new();
        for seg in segs.iter().take(5) {
            let data = std::fs::read(&seg.path).expect("read segment");
            of_clip.push(transcode_signed(&data, None).await.swap_remove(0).data);
        }
        renditions.push(of_clip);
        dirs.push(dir);
    }
    let (bikes, bbb) = (&renditions[0], &renditions[1]);
    let cases = [
        (&bikes[0], &bikes[1]),
        (&bikes[0], &bikes[2]),
        (&bikes[3], &bikes[4]),
        (&bikes[4], &bikes[3]),
        (&bbb[0], &bbb[1]),
        (&bbb[2], &bbb[0]),
        (&bbb[1], &bbb[0]),
    ];
    let mut seen = Vec::new();
    for (i, (a, b)) in cases.into_iter().enumerate() {
        let (ours, theirs) = both_matchers(dirs[0].path(), a, b).await;
        assert_eq!(ours, theirs, "case {i}");
        seen.push(theirs);
    }
    for want in [
        SignatureMatch::None,
        SignatureMatch::Partial,
        SignatureMatch::Whole,
    ] {
        assert!(seen.contains(&want), "no case gives {want:?}: {seen:?}");
    }
}

#[tokio::test]
async fn a_slice_is_signed_over_the_frames_it_keeps() {
    let (_dir, segs) = segments(testing::BIKES_MP4).await;
    let data = std::fs::read(&segs[1].path).expect("read segment");
    let sliced = transcode_signed(&data, Slice::from_ms(500, 1500).expect("slice")).await;
    for r in &sliced {
        let sig = VideoSignature::decode(signature(r)).expect("decodes");
        assert_eq!(sig.frame_count() as u64, r.frames, "{}", r.profile.name);
    }
    assert!(sliced[0].frames < 40, "{} frames in 1 s", sliced[0].frames);
}

#[tokio::test]
async fn no_signature_unless_asked() {
    let (_dir, segs) = segments(testing::BIKES_MP4).await;
    let profiles = parse_transcoding_options(LADDER).expect("ladder");
    let plain = ff()
        .transcode(
            &segs[0].path,
            &profiles,
            &TranscodeOptions::default(),
            &CancellationToken::new(),
        )
        .await
        .expect("transcode");
    assert!(plain.iter().all(|r| r.signature.is_none()));
}
