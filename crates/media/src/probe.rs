//! Probing media with ffprobe.

use std::{fmt, path::Path, time::Duration};

use serde::Deserialize;

use crate::{Ffmpeg, InputFormat, MediaError, MediaInput};

/// Time limit for one ffprobe run.
pub const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// A frame rate as a rational number of frames per second (`30000/1001` for 29.97 fps).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameRate {
    /// Frames.
    pub num: u32,
    /// Per this many seconds (never 0).
    pub den: u32,
}

impl FrameRate {
    /// The rate in frames per second.
    pub fn as_f64(self) -> f64 {
        f64::from(self.num) / f64::from(self.den)
    }

    /// Parses ffprobe's `"num/den"` (or a bare integer); `None` for `0/0`, a zero numerator or
    /// anything unparsable.
    pub fn parse(text: &str) -> Option<Self> {
        let (num, den) = text.split_once('/').unwrap_or((text, "1"));
        let num: u32 = num.trim().parse().ok()?;
        let den: u32 = den.trim().parse().ok()?;
        (num > 0 && den > 0).then_some(Self { num, den })
    }
}

impl fmt::Display for FrameRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.den == 1 {
            write!(f, "{}", self.num)
        } else {
            write!(f, "{}/{}", self.num, self.den)
        }
    }
}

/// What ffprobe says about a media file (its first video stream and first audio stream).
#[derive(Debug, Clone, PartialEq)]
pub struct MediaInfo {
    /// Container as ffprobe names it: `mpegts`, `mpeg`, `mov,mp4,m4a,3gp,3g2,mj2`, ...
    pub format_name: String,
    /// Container duration (from the format, else the longest stream).
    pub duration: Duration,
    /// Presentation time of the first frame; `None` when unknown or negative. Segments cut from
    /// one stream have increasing start times.
    pub start_time: Option<Duration>,
    /// Width of the first video stream, in pixels.
    pub width: u32,
    /// Height of the first video stream, in pixels.
    pub height: u32,
    /// Frame rate of the first video stream (average rate, else the stream's base rate).
    pub frame_rate: Option<FrameRate>,
    /// ffmpeg codec name of the first video stream (`h264`, `mpeg2video`, `hevc`, ...).
    pub video_codec: String,
    /// ffmpeg codec name of the first audio stream (`aac`, `mp2`, ...), if any.
    pub audio_codec: Option<String>,
    /// Frames in the first video stream when the container records it (MP4 does, MPEG-TS
    /// does not); counting otherwise needs a full decode, which `probe` does not do.
    pub video_frames: Option<u64>,
    /// Packets of the first video stream read by demuxing the whole input (ffprobe
    /// `-count_packets`, no decoding): one per frame for H.264 and HEVC.
    pub video_packets: Option<u64>,
    /// Presentation time of the first video frame; `None` when unknown or negative. It can be
    /// later than [`MediaInfo::start_time`] when audio starts first.
    pub video_start_time: Option<Duration>,
    /// ffmpeg pixel format of the first video stream (`yuv420p`, `yuv422p10le`, ...), if
    /// known.
    pub pixel_format: Option<String>,
}

impl MediaInfo {
    /// True when the input has an audio stream.
    pub fn has_audio(&self) -> bool {
        self.audio_codec.is_some()
    }
}

#[derive(Debug, Deserialize)]
struct ProbeJson {
    #[serde(default)]
    streams: Vec<ProbeStream>,
    format: Option<ProbeFormat>,
}

#[derive(Debug, Deserialize)]
struct ProbeStream {
    codec_type: Option<String>,
    codec_name: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    nb_frames: Option<String>,
    nb_read_packets: Option<String>,
    duration: Option<String>,
    start_time: Option<String>,
    pix_fmt: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ProbeFormat {
    format_name: Option<String>,
    duration: Option<String>,
    start_time: Option<String>,
}

fn seconds(text: Option<&str>) -> Option<Duration> {
    let secs: f64 = text?.trim().parse().ok()?;
    Duration::try_from_secs_f64(secs).ok()
}

impl Ffmpeg {
    /// Probes a file or an in-memory segment with `ffprobe -show_format -show_streams`.
    ///
    /// A file is probed for whatever format it holds (local files only); bytes, which come
    /// from the network, are written to a temporary file and read as MPEG-TS only
    /// ([`InputFormat::MpegTs`]).
    /// Errors: [`MediaError::Ffmpeg`] with ffprobe's message for unreadable input,
    /// [`MediaError::NoVideoStream`] when there is no video, [`MediaError::Probe`] when the
    /// JSON lacks a size or duration, [`MediaError::Timeout`] after [`DEFAULT_PROBE_TIMEOUT`].
    pub async fn probe(&self, input: impl Into<MediaInput<'_>>) -> Result<MediaInfo, MediaError> {
        match input.into() {
            MediaInput::Path(path) => self.probe_path(path, InputFormat::Detect).await,
            MediaInput::Bytes(data) => {
                let scratch = self.scratch_dir().await?;
                let result = match scratch.write_input(data).await {
                    Ok(path) => self.probe_path(&path, InputFormat::MpegTs).await,
                    Err(e) => Err(e),
                }
                .map_err(|e| self.redact(e, scratch.path()));
                scratch.remove().await;
                result
            }
        }
    }

    pub(crate) async fn probe_path(
        &self,
        path: &Path,
        format: InputFormat,
    ) -> Result<MediaInfo, MediaError> {
        let mut args: Vec<String> = [
            "-hide_banner",
            "-loglevel",
            "level+error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
            "-count_packets",
        ]
        .map(String::from)
        .to_vec();
        args.extend(format.input_args());
        args.push(crate::file_url(path));
        let out = self
            .ffprobe_job()
            .run(args, Some(DEFAULT_PROBE_TIMEOUT), None)
            .await?;
        parse_probe_json(&out.stdout)
    }
}

fn parse_probe_json(json: &[u8]) -> Result<MediaInfo, MediaError> {
    let parsed: ProbeJson = serde_json::from_slice(json).map_err(|e| MediaError::Probe {
        detail: format!("invalid JSON: {e}"),
    })?;
    let kind = |s: &&ProbeStream, want: &str| s.codec_type.as_deref() == Some(want);
    let video = parsed
        .streams
        .iter()
        .find(|s| kind(s, "video"))
        .ok_or(MediaError::NoVideoStream)?;
    let audio = parsed.streams.iter().find(|s| kind(s, "audio"));
    let (Some(width), Some(height)) = (video.width, video.height) else {
        return Err(MediaError::Probe {
            detail: "video stream has no size".into(),
        });
    };
    let format = parsed.format.as_ref();
    let duration = format
        .and_then(|f| seconds(f.duration.as_deref()))
        .or_else(|| {
            parsed
                .streams
                .iter()
                .filter_map(|s| seconds(s.duration.as_deref()))
                .max()
        })
        .ok_or_else(|| MediaError::Probe {
            detail: "no duration".into(),
        })?;
    let frame_rate = [&video.avg_frame_rate, &video.r_frame_rate]
        .into_iter()
        .find_map(|rate| rate.as_deref().and_then(FrameRate::parse));
    Ok(MediaInfo {
        format_name: format
            .and_then(|f| f.format_name.clone())
            .unwrap_or_default(),
        duration,
        start_time: format.and_then(|f| seconds(f.start_time.as_deref())),
        width,
        height,
        frame_rate,
        video_codec: video.codec_name.clone().unwrap_or_default(),
        audio_codec: audio.map(|a| a.codec_name.clone().unwrap_or_default()),
        video_frames: video.nb_frames.as_deref().and_then(|n| n.parse().ok()),
        video_packets: video
            .nb_read_packets
            .as_deref()
            .and_then(|n| n.parse().ok()),
        video_start_time: seconds(video.start_time.as_deref()),
        pixel_format: video.pix_fmt.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_rates() {
        let cases = [
            ("30/1", Some((30, 1))),
            ("30000/1001", Some((30_000, 1001))),
            ("25", Some((25, 1))),
            ("0/0", None),
            ("0/1", None),
            ("30/0", None),
            ("abc", None),
        ];
        for (text, want) in cases {
            assert_eq!(
                FrameRate::parse(text).map(|r| (r.num, r.den)),
                want,
                "{text}"
            );
        }
        let ntsc = FrameRate {
            num: 30_000,
            den: 1001,
        };
        assert!((ntsc.as_f64() - 29.97).abs() < 0.001);
        assert_eq!(ntsc.to_string(), "30000/1001");
        assert_eq!(FrameRate { num: 25, den: 1 }.to_string(), "25");
    }

    #[test]
    fn parses_probe_json() {
        let json = br#"{
          "streams": [
            {"codec_type": "audio", "codec_name": "aac", "duration": "5.333"},
            {"codec_type": "video", "codec_name": "h264", "width": 1280, "height": 720,
             "avg_frame_rate": "25/1", "r_frame_rate": "50/1", "nb_frames": "132",
             "nb_read_packets": "133",
             "start_time": "0.080000", "pix_fmt": "yuv420p"}
          ],
          "format": {"format_name": "mov,mp4,m4a,3gp,3g2,mj2", "duration": "5.312000",
                     "start_time": "0.000000"}
        }"#;
        let info = parse_probe_json(json).expect("parse");
        assert_eq!(
            info,
            MediaInfo {
                format_name: "mov,mp4,m4a,3gp,3g2,mj2".into(),
                duration: Duration::from_millis(5312),
                start_time: Some(Duration::ZERO),
                width: 1280,
                height: 720,
                frame_rate: Some(FrameRate { num: 25, den: 1 }),
                video_codec: "h264".into(),
                audio_codec: Some("aac".into()),
                video_frames: Some(132),
                video_packets: Some(133),
                video_start_time: Some(Duration::from_millis(80)),
                pixel_format: Some("yuv420p".into()),
            }
        );
        assert!(info.has_audio());
    }

    #[test]
    fn probe_json_fallbacks_and_errors() {
        // No format duration: the longest stream's; avg rate 0/0: the base rate; negative start.
        let json = br#"{"streams":[{"codec_type":"video","codec_name":"mpeg2video","width":720,
            "height":405,"avg_frame_rate":"0/0","r_frame_rate":"25/1","duration":"7.6"}],
            "format":{"format_name":"mpeg","start_time":"-0.04"}}"#;
        let info = parse_probe_json(json).expect("parse");
        assert_eq!(info.duration, Duration::from_millis(7600));
        assert_eq!(info.frame_rate, Some(FrameRate { num: 25, den: 1 }));
        assert_eq!(info.start_time, None);
        assert!(!info.has_audio());
        assert_eq!(info.video_frames, None);

        let audio_only =
            br#"{"streams":[{"codec_type":"audio","codec_name":"aac"}],"format":{"duration":"2"}}"#;
        assert!(matches!(
            parse_probe_json(audio_only),
            Err(MediaError::NoVideoStream)
        ));
        let no_size = br#"{"streams":[{"codec_type":"video"}],"format":{"duration":"2"}}"#;
        assert!(matches!(
            parse_probe_json(no_size),
            Err(MediaError::Probe { .. })
        ));
        let no_duration =
            br#"{"streams":[{"codec_type":"video","width":2,"height":2}],"format":{}}"#;
        assert!(matches!(
            parse_probe_json(no_duration),
            Err(MediaError::Probe { .. })
        ));
        assert!(matches!(
            parse_probe_json(b"{}"),
            Err(MediaError::NoVideoStream)
        ));
        assert!(matches!(
            parse_probe_json(b"not json"),
            Err(MediaError::Probe { .. })
        ));
    }
}
