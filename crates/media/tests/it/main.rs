//! Integration tests of livepeer-media with the real ffmpeg on the real test clips.

mod live;
mod probe;
mod segment;
mod signature;
mod supervise;
mod transcode;
mod verify;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use livepeer_media::{Ffmpeg, SegmentInfo, testing};
use serde::Deserialize;

/// Polls `check` every 50 ms for up to 20 s.
pub(crate) async fn eventually(mut check: impl FnMut() -> bool) -> bool {
    for _ in 0..400 {
        if check() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check()
}

/// The binaries; fails (never skips) when ffmpeg is missing.
pub(crate) fn ff() -> Ffmpeg {
    Ffmpeg::locate().unwrap_or_else(|e| panic!("{e} (run `make test`, which installs ffmpeg)"))
}

/// Segments `clip` into a fresh temp dir with the default segment length.
pub(crate) async fn segments(clip: &str) -> (tempfile::TempDir, Vec<SegmentInfo>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let segs = ff()
        .segment_file(
            &testing::media_file(clip),
            dir.path(),
            livepeer_media::DEFAULT_SEGMENT_DURATION,
        )
        .await
        .unwrap_or_else(|e| panic!("segmenting {clip}: {e}"));
    (dir, segs)
}

/// What an independent ffprobe run (with a full decode, `-count_frames`) sees in a file.
#[derive(Debug, Clone)]
pub(crate) struct Counted {
    pub(crate) format_name: String,
    pub(crate) start_time: f64,
    pub(crate) duration: f64,
    pub(crate) video_codec: String,
    pub(crate) video_profile: String,
    pub(crate) width: u32,
    pub(crate) height: u32,
    pub(crate) r_frame_rate: String,
    pub(crate) frames: u64,
    pub(crate) has_audio: bool,
}

#[derive(Deserialize)]
struct Json {
    streams: Vec<JsonStream>,
    format: JsonFormat,
}

#[derive(Deserialize)]
struct JsonStream {
    codec_type: String,
    codec_name: Option<String>,
    profile: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    r_frame_rate: Option<String>,
    nb_read_frames: Option<String>,
}

#[derive(Deserialize)]
struct JsonFormat {
    format_name: String,
    start_time: Option<String>,
    duration: Option<String>,
}

/// Runs `ffprobe -count_frames` on `path`.
pub(crate) async fn count(path: &Path) -> Counted {
    let out = tokio::process::Command::new(ff().ffprobe_path())
        .args([
            "-v",
            "error",
            "-count_frames",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(path)
        .output()
        .await
        .expect("run ffprobe");
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Json = serde_json::from_slice(&out.stdout).expect("ffprobe json");
    let video = json
        .streams
        .iter()
        .find(|s| s.codec_type == "video")
        .expect("a video stream");
    let secs = |s: &Option<String>| {
        s.as_deref()
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    Counted {
        format_name: json.format.format_name.clone(),
        start_time: secs(&json.format.start_time),
        duration: secs(&json.format.duration),
        video_codec: video.codec_name.clone().unwrap_or_default(),
        video_profile: video.profile.clone().unwrap_or_default(),
        width: video.width.unwrap_or_default(),
        height: video.height.unwrap_or_default(),
        r_frame_rate: video.r_frame_rate.clone().unwrap_or_default(),
        frames: video
            .nb_read_frames
            .as_deref()
            .and_then(|n| n.parse().ok())
            .unwrap_or_default(),
        has_audio: json.streams.iter().any(|s| s.codec_type == "audio"),
    }
}

/// Writes `data` into `dir/name` and returns the path.
pub(crate) fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, data).expect("write test file");
    path
}

/// Decodes every frame of `path` with ffmpeg; returns its stderr at error level (empty = clean).
pub(crate) async fn decode_errors(path: &Path) -> String {
    let out = tokio::process::Command::new(ff().ffmpeg_path())
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(path)
        .args(["-f", "null", "-"])
        .output()
        .await
        .expect("run ffmpeg");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() {
        stderr
    } else {
        format!("exit {}: {stderr}", out.status)
    }
}

/// Asserts `a` and `b` (seconds) differ by at most `tolerance`.
#[track_caller]
pub(crate) fn assert_close(what: &str, a: f64, b: f64, tolerance: f64) {
    assert!(
        (a - b).abs() <= tolerance,
        "{what}: {a} vs {b} (tolerance {tolerance})"
    );
}

/// Duration as seconds.
pub(crate) fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}
