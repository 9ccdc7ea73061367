//! image-to-video results: a runner answers `VideoResponse` (`frames`: per video, the list of
//! its frames as data URLs); the orchestrator encodes each list into an MP4 and answers an
//! `ImageResponse` with one video per entry (go-livepeer `core/ai_orchestrator.go`
//! `ImageToVideo` and `transcodeFrames`: frames at the request's `fps`, default 7, scaled to
//! its `width`×`height`, default 1024×576, H.264 at 6000 kb/s in MP4; the seed and NSFW flag of
//! each video are its first frame's).
//!
//! The runner is the operator's, but its answer is still bounded: at most [`MAX_FRAMES`] frames
//! of PNG or JPEG data URLs (nothing is fetched), [`MAX_FRAME_BYTES_TOTAL`] bytes in all, and
//! ffmpeg reads only the files written here (`-protocol_whitelist file`, the `image2` demuxer
//! and the one image decoder the frames' magic bytes name) within [`FRAMES_TO_VIDEO_TIMEOUT`].

use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};

use crate::InferenceError;
use crate::builtin::data_url;
use crate::request::AiRequest;
use crate::results::decode_data_url;

/// Frames one video may have.
pub const MAX_FRAMES: usize = 1000;
/// Bytes all frames of one answer may take.
pub const MAX_FRAME_BYTES_TOTAL: usize = 512 * 1024 * 1024;
/// How long encoding one video may take (go-livepeer `aiWorkerTranscodeLoopTimeout`).
pub const FRAMES_TO_VIDEO_TIMEOUT: Duration = Duration::from_secs(70);
/// Frame rate when the request names none (go-livepeer's `ImageToVideo`).
pub const DEFAULT_FPS: i64 = 7;
/// Output size when the request names none (go-livepeer's `ImageToVideo`).
pub const DEFAULT_SIZE: (i64, i64) = (1024, 576);
/// Output bitrate (go-livepeer's `ImageToVideo` profile).
pub const VIDEO_BITRATE: &str = "6000k";

/// The image formats frames may come in: (extension, ffmpeg decoder, magic bytes).
const FRAME_FORMATS: [(&str, &str, &[u8]); 2] = [
    ("png", "png", b"\x89PNG\r\n\x1a\n"),
    ("jpg", "mjpeg", b"\xff\xd8\xff"),
];

/// Turns a runner's image-to-video answer into what the orchestrator answers: `{"images":
/// [{"url": <data URL of the MP4>, "seed", "nsfw"}, …]}`, one entry per video of `frames`.
/// An answer that already has `images` (a runner that encodes its own video) is returned as
/// it is.
///
/// Errors: [`InferenceError::Inference`] for an answer without frames, frames that are not
/// PNG or JPEG data URLs, more than [`MAX_FRAMES`] frames or [`MAX_FRAME_BYTES_TOTAL`] bytes,
/// and ffmpeg failing or taking longer than [`FRAMES_TO_VIDEO_TIMEOUT`].
pub async fn frames_to_videos(request: &AiRequest, answer: Value) -> Result<Value, InferenceError> {
    if answer.get("images").is_some() {
        return Ok(answer);
    }
    let Some(videos) = answer.get("frames").and_then(Value::as_array) else {
        return Err(bad("the runner's answer has no frames"));
    };
    let fps = request.int("fps").filter(|f| *f > 0).unwrap_or(DEFAULT_FPS);
    let width = request
        .int("width")
        .filter(|w| *w > 0)
        .unwrap_or(DEFAULT_SIZE.0);
    let height = request
        .int("height")
        .filter(|h| *h > 0)
        .unwrap_or(DEFAULT_SIZE.1);
    let mut total = 0usize;
    let mut images = Vec::with_capacity(videos.len());
    for video in videos {
        let frames = video
            .as_array()
            .ok_or_else(|| bad("a video's frames are not a list"))?;
        if frames.is_empty() || frames.len() > MAX_FRAMES {
            return Err(bad(&format!(
                "a video has {} frames (1 to {MAX_FRAMES} taken)",
                frames.len()
            )));
        }
        let mut decoded = Vec::with_capacity(frames.len());
        for frame in frames {
            let (_, data) = frame["url"]
                .as_str()
                .and_then(decode_data_url)
                .ok_or_else(|| bad("a frame is not a data URL"))?;
            total += data.len();
            if total > MAX_FRAME_BYTES_TOTAL {
                return Err(bad(&format!(
                    "the frames are over {MAX_FRAME_BYTES_TOTAL} bytes"
                )));
            }
            decoded.push(data);
        }
        let mp4 = tokio::time::timeout(
            FRAMES_TO_VIDEO_TIMEOUT,
            encode_mp4(&decoded, fps, (width, height)),
        )
        .await
        .map_err(|_| bad("encoding the frames took too long"))??;
        images.push(json!({
            "url": data_url("video/mp4", &mp4),
            "seed": frames[0]["seed"].as_i64().unwrap_or_default(),
            "nsfw": frames[0]["nsfw"].as_bool().unwrap_or_default(),
        }));
    }
    Ok(json!({ "images": images }))
}

fn bad(what: &str) -> InferenceError {
    InferenceError::Inference(format!("image-to-video: {what}"))
}

/// Encodes `frames` (all PNG or all JPEG) at `fps` into an H.264 MP4 of `size`.
async fn encode_mp4(frames: &[Bytes], fps: i64, size: (i64, i64)) -> Result<Bytes, InferenceError> {
    let (ext, decoder) = {
        let first = frames.first().ok_or_else(|| bad("no frames"))?;
        let (ext, decoder, magic) = FRAME_FORMATS
            .iter()
            .find(|(_, _, magic)| first.starts_with(magic))
            .ok_or_else(|| bad("a frame is neither PNG nor JPEG"))?;
        if !frames.iter().all(|f| f.starts_with(magic)) {
            return Err(bad("the frames are not all of one image format"));
        }
        (*ext, *decoder)
    };
    let io = |e: std::io::Error| bad(&format!("frames directory: {e}"));
    let dir = tempfile::Builder::new()
        .prefix("livepeer-frames-")
        .tempdir()
        .map_err(io)?;
    for (i, frame) in frames.iter().enumerate() {
        tokio::fs::write(dir.path().join(format!("{i}.{ext}")), frame)
            .await
            .map_err(io)?;
    }
    let out = dir.path().join("video.mp4");
    // Even sizes, as yuv420p needs.
    let (w, h) = (size.0.clamp(2, 4096) & !1, size.1.clamp(2, 4096) & !1);
    let output = tokio::process::Command::new(
        std::env::var_os("LIVEPEER_FFMPEG").unwrap_or_else(|| "ffmpeg".into()),
    )
    .args(["-nostdin", "-hide_banner", "-loglevel", "error", "-y"])
    .args(["-protocol_whitelist", "file"])
    .args(["-f", "image2", "-c:v", decoder])
    .args(["-framerate", &fps.clamp(1, 120).to_string()])
    .arg("-i")
    .arg(dir.path().join(format!("%d.{ext}")))
    .args(["-vf", &format!("scale={w}:{h}"), "-pix_fmt", "yuv420p"])
    .args(["-c:v", "libx264", "-b:v", VIDEO_BITRATE])
    .args(["-movflags", "+faststart", "-f", "mp4"])
    .arg(&out)
    .stdin(Stdio::null())
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .kill_on_drop(true)
    .output()
    .await
    .map_err(|e| bad(&format!("cannot run ffmpeg: {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().last().unwrap_or_default();
        return Err(bad(&format!("ffmpeg could not encode the frames: {last}")));
    }
    tokio::fs::read(&out).await.map(Bytes::from).map_err(io)
}
