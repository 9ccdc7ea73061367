//! Billing units: the integer an AI request is paid on (`fee = units × price_per_unit /
//! pixels_per_unit` wei), the same rule on our gateway and our orchestrator.
//!
//! Source: go-livepeer `server/ai_process.go` (gateway) and `server/ai_http.go`
//! `handleAIRequest` (orchestrator), `reference/ai.md` §1.2:
//!
//! | pipeline | units |
//! |---|---|
//! | text-to-image | height × width × num_images_per_prompt (512 × 512 when height/width are absent, as go) |
//! | image-to-image | input height × width × num_images_per_prompt |
//! | image-to-video | height × width × 25 frames (defaults 576 × 1024) |
//! | upscale, segment-anything-2, image-to-text | input height × width |
//! | audio-to-text | whole seconds of audio (truncated) × 1000 |
//! | llm | `max_tokens` (required) |
//! | text-to-speech | characters of `text` (one rule for both sides; go's sides disagree, see [`crate::tts::billing_units`]) |

use std::time::Duration;

use crate::pipeline::Pipeline;
use crate::request::AiRequest;

/// Frames go-livepeer bills image-to-video for, whatever the request.
pub const IMAGE_TO_VIDEO_FRAMES: u64 = 25;
/// The side go-livepeer substitutes for text-to-image when height or width is absent.
pub const TEXT_TO_IMAGE_DEFAULT_SIDE: u64 = 512;
/// The largest image side read for billing (larger is refused as malformed).
pub const MAX_IMAGE_SIDE: u32 = 16_384;
/// Units a live-video-to-video session is billed per wall-clock second: 1280 × 720 pixels ×
/// 30 frames, whatever the stream's real size ("720p-pixel-seconds"; go-livepeer
/// `NewLV2VPaymentProcessor`). The gateway pays and the orchestrator debits by this rule.
pub const LIVE_UNITS_PER_SECOND: u64 = 1280 * 720 * 30;
/// Seconds a live session's first payment covers (go-livepeer `initPixelsToPay`: 60 s).
pub const LIVE_INITIAL_SECONDS: u64 = 60;
/// How often a live session is paid for and debited (go-livepeer `-livePaymentInterval`).
pub const DEFAULT_LIVE_PAYMENT_INTERVAL: Duration = Duration::from_secs(5);
/// How long ffprobe may take to read an audio file's duration.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request's units could not be computed (the orchestrator answers 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitsError {
    /// An LLM request without `max_tokens` (go-livepeer: "MaxTokens not specified").
    #[error("MaxTokens not specified")]
    MaxTokensMissing,
    /// The audio's duration could not be read, or is zero (go: "Unable to calculate duration").
    #[error("Unable to calculate duration")]
    AudioDuration,
    /// The input image's size could not be read.
    #[error("image: {0}")]
    Image(String),
    /// The request has no input file.
    #[error("missing input file")]
    NoFile,
    /// A size or count that is negative or overflows.
    #[error("invalid {0}")]
    Invalid(&'static str),
    /// The pipeline is not billed per request (live-video-to-video).
    #[error("{0} is not billed per request")]
    NotBatch(Pipeline),
}

fn positive(v: Option<i64>, what: &'static str) -> Result<u64, UnitsError> {
    match v {
        Some(n) if n > 0 => Ok(n as u64),
        _ => Err(UnitsError::Invalid(what)),
    }
}

fn product(parts: &[u64]) -> Result<u64, UnitsError> {
    parts
        .iter()
        .try_fold(1u64, |acc, &p| acc.checked_mul(p))
        .ok_or(UnitsError::Invalid("size"))
}

/// The billing units of `request` (see the module table). Reads the input image's header or
/// probes the audio with ffprobe where the rule needs it.
pub async fn billing_units(request: &AiRequest) -> Result<u64, UnitsError> {
    let images = || {
        positive(
            request.int("num_images_per_prompt").or(Some(1)),
            "num_images_per_prompt",
        )
    };
    match request.pipeline {
        Pipeline::TextToImage => {
            let side = |name| match request.params.get(name).and_then(|v| v.as_i64()) {
                None => Ok(TEXT_TO_IMAGE_DEFAULT_SIDE),
                Some(_) => positive(request.int(name), name),
            };
            product(&[side("height")?, side("width")?, images()?])
        }
        Pipeline::ImageToImage => {
            let (w, h) = image_size(request)?;
            product(&[u64::from(w), u64::from(h), images()?])
        }
        Pipeline::ImageToVideo => product(&[
            positive(request.int("height"), "height")?,
            positive(request.int("width"), "width")?,
            IMAGE_TO_VIDEO_FRAMES,
        ]),
        Pipeline::Upscale | Pipeline::SegmentAnything2 | Pipeline::ImageToText => {
            let (w, h) = image_size(request)?;
            product(&[u64::from(w), u64::from(h)])
        }
        Pipeline::AudioToText => {
            let file = request.file.as_ref().ok_or(UnitsError::NoFile)?;
            let secs = audio_duration(&file.data).await?.as_secs();
            if secs == 0 {
                return Err(UnitsError::AudioDuration);
            }
            product(&[secs, 1000])
        }
        Pipeline::Llm => {
            if !request.has("max_tokens") {
                return Err(UnitsError::MaxTokensMissing);
            }
            positive(request.int("max_tokens"), "max_tokens")
        }
        Pipeline::TextToSpeech => Ok(crate::tts::billing_units(request.str("text"))),
        Pipeline::LiveVideoToVideo => Err(UnitsError::NotBatch(Pipeline::LiveVideoToVideo)),
    }
}

/// The input image's width and height, from its header (PNG, JPEG, WebP, BMP, GIF; the
/// format is sniffed from the bytes, never taken from a name).
pub fn image_size(request: &AiRequest) -> Result<(u32, u32), UnitsError> {
    let file = request.file.as_ref().ok_or(UnitsError::NoFile)?;
    let (w, h) = image::ImageReader::new(std::io::Cursor::new(&file.data[..]))
        .with_guessed_format()
        .map_err(|e| UnitsError::Image(e.to_string()))?
        .into_dimensions()
        .map_err(|e| UnitsError::Image(e.to_string()))?;
    if w == 0 || h == 0 || w > MAX_IMAGE_SIDE || h > MAX_IMAGE_SIDE {
        return Err(UnitsError::Image(format!("unsupported size {w}x{h}")));
    }
    Ok((w, h))
}

/// The duration of an audio (or video) file by the real ffprobe, reading a temporary copy of
/// the bytes with only the `file` protocol allowed (the input cannot make ffprobe open URLs).
pub async fn audio_duration(data: &[u8]) -> Result<Duration, UnitsError> {
    let dir = tempfile::tempdir().map_err(|_| UnitsError::AudioDuration)?;
    let path = dir.path().join("input");
    tokio::fs::write(&path, data)
        .await
        .map_err(|_| UnitsError::AudioDuration)?;
    let ffprobe = std::env::var_os("LIVEPEER_FFPROBE").unwrap_or_else(|| "ffprobe".into());
    let run = tokio::process::Command::new(ffprobe)
        .args([
            "-v",
            "error",
            "-protocol_whitelist",
            "file",
            "-show_entries",
            "format=duration",
            "-of",
            "default=noprint_wrappers=1:nokey=1",
        ])
        .arg(&path)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(PROBE_TIMEOUT, run)
        .await
        .map_err(|_| UnitsError::AudioDuration)?
        .map_err(|_| UnitsError::AudioDuration)?;
    if !out.status.success() {
        return Err(UnitsError::AudioDuration);
    }
    let secs: f64 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| UnitsError::AudioDuration)?;
    Duration::try_from_secs_f64(secs).map_err(|_| UnitsError::AudioDuration)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::Upload;
    use serde_json::json;

    fn req(pipeline: Pipeline, v: serde_json::Value) -> AiRequest {
        AiRequest::from_value(pipeline, v).expect("valid")
    }

    fn png(w: u32, h: u32) -> bytes::Bytes {
        let img = image::RgbImage::new(w, h);
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png)
            .expect("png");
        bytes::Bytes::from(out.into_inner())
    }

    #[tokio::test]
    async fn units_follow_the_pipeline_rules() {
        let t2i = req(Pipeline::TextToImage, json!({"prompt": "a cat"}));
        assert_eq!(billing_units(&t2i).await, Ok(512 * 512));
        let t2i = req(
            Pipeline::TextToImage,
            json!({"prompt": "a cat", "height": 100, "width": 200, "num_images_per_prompt": 3}),
        );
        assert_eq!(billing_units(&t2i).await, Ok(60_000));
        let i2v = req(Pipeline::ImageToVideo, json!({}));
        assert_eq!(billing_units(&i2v).await, Ok(576 * 1024 * 25));
        let llm = req(Pipeline::Llm, json!({"messages": [], "max_tokens": 64}));
        assert_eq!(billing_units(&llm).await, Ok(64));
        let llm = req(Pipeline::Llm, json!({"messages": []}));
        assert_eq!(billing_units(&llm).await, Err(UnitsError::MaxTokensMissing));
        let tts = req(Pipeline::TextToSpeech, json!({"text": "héllo wörld"}));
        assert_eq!(billing_units(&tts).await, Ok(11));

        let mut i2t = req(Pipeline::ImageToText, json!({}));
        i2t.file = Some(Upload {
            filename: "x.png".into(),
            content_type: None,
            data: png(64, 48),
        });
        assert_eq!(billing_units(&i2t).await, Ok(64 * 48));
        let mut i2i = req(
            Pipeline::ImageToImage,
            json!({"prompt": "x", "num_images_per_prompt": 2}),
        );
        i2i.file = i2t.file.clone();
        assert_eq!(billing_units(&i2i).await, Ok(64 * 48 * 2));
        i2i.file = Some(Upload {
            filename: "x.png".into(),
            content_type: None,
            data: bytes::Bytes::from_static(b"not an image"),
        });
        assert!(matches!(
            billing_units(&i2i).await,
            Err(UnitsError::Image(_))
        ));
    }

    #[tokio::test]
    async fn audio_is_billed_in_whole_seconds_as_milliseconds() {
        // 2.5 s of silence, made by the real ffmpeg.
        let dir = tempfile::tempdir().expect("tmp");
        let wav = dir.path().join("s.wav");
        let status = std::process::Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                "anullsrc=r=16000:cl=mono",
                "-t",
                "2.5",
            ])
            .arg(&wav)
            .status()
            .expect("ffmpeg");
        assert!(status.success());
        let mut a2t = req(Pipeline::AudioToText, json!({}));
        a2t.file = Some(Upload {
            filename: "s.wav".into(),
            content_type: None,
            data: std::fs::read(&wav).expect("read").into(),
        });
        assert_eq!(billing_units(&a2t).await, Ok(2000));
        a2t.file = Some(Upload {
            filename: "s.wav".into(),
            content_type: None,
            data: bytes::Bytes::from_static(b"garbage"),
        });
        assert_eq!(billing_units(&a2t).await, Err(UnitsError::AudioDuration));
    }
}
