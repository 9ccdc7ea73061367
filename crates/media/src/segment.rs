//! Cutting a media file into MPEG-TS segments, as a gateway's segmenter does.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use crate::{Ffmpeg, InputFormat, MediaError};

/// go-livepeer's segment length (`SegLen` in `server/mediaserver.go`).
pub const DEFAULT_SEGMENT_DURATION: Duration = Duration::from_secs(2);

/// One segment written by [`Ffmpeg::segment_file`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentInfo {
    /// The segment file (`out_dir/seg_<seq, 5 digits>.ts`).
    pub path: PathBuf,
    /// Sequence number, from 0.
    pub seq: u64,
    /// Where the segment starts in the source, from ffmpeg's segment list.
    pub start: Duration,
    /// Segment duration (end − start in ffmpeg's segment list).
    pub duration: Duration,
}

impl Ffmpeg {
    /// Cuts `input` (any container ffmpeg reads: MPEG-PS, MP4, MPEG-TS, ...) into MPEG-TS
    /// segments of about `segment_len` in `out_dir` (created if missing), copying the first
    /// video and first audio stream without re-encoding:
    /// `-map 0:v:0 -map 0:a:0? -c copy -f segment -segment_time <s> -segment_format mpegts`.
    ///
    /// Stream copy can only cut at keyframes, so segments are at least `segment_len` long.
    /// When a source's keyframes are so sparse that a segment (other than the last) comes out
    /// more than [`SEGMENT_SLACK`] longer than asked, the file is cut again with the video
    /// re-encoded (x264 veryfast, CRF 18, a keyframe every `segment_len`) and audio copied.
    /// Timestamps run on across segments. Durations come from ffmpeg's CSV segment list.
    ///
    /// No time limit (the input is a local file); dropping the future kills ffmpeg. Errors:
    /// [`MediaError::InvalidSegmentLength`] for a zero length, [`MediaError::Ffmpeg`] with
    /// ffmpeg's message for an unreadable input or one without video, [`MediaError::Io`],
    /// [`MediaError::Probe`] for a segment list we cannot read.
    pub async fn segment_file(
        &self,
        input: &Path,
        out_dir: &Path,
        segment_len: Duration,
    ) -> Result<Vec<SegmentInfo>, MediaError> {
        if segment_len.is_zero() {
            return Err(MediaError::InvalidSegmentLength { segment_len });
        }
        tokio::fs::create_dir_all(out_dir)
            .await
            .map_err(|e| MediaError::io("create directory", out_dir, e))?;
        let copied = self
            .segment_pass(input, out_dir, segment_len, false)
            .await?;
        // Stream copy cuts only at keyframes: a source with sparse keyframes gives segments far
        // longer than asked. Then cut again, re-encoding the video with a keyframe every
        // `segment_len` (x264 veryfast, CRF 18, so the renditions barely suffer), audio copied.
        let too_long = segment_len + SEGMENT_SLACK;
        let n = copied.len();
        if copied
            .iter()
            .take(n.saturating_sub(1))
            .any(|s| s.duration > too_long)
            || (n == 1 && copied[0].duration > too_long)
        {
            for segment in &copied {
                let _ = tokio::fs::remove_file(&segment.path).await;
            }
            return self.segment_pass(input, out_dir, segment_len, true).await;
        }
        Ok(copied)
    }

    /// As [`Ffmpeg::segment_file`], for pushing to a gateway: video a go-livepeer gateway
    /// refuses with 422 (any codec but H.264 and HEVC, the two it takes in MPEG-TS; see
    /// [`INGEST_VIDEO_CODECS`]) is re-encoded to H.264 (x264 veryfast, CRF 18, 8-bit 4:2:0,
    /// an odd width or height cropped by one pixel, a keyframe every `segment_len`), audio
    /// copied. A source the gateway takes is cut by stream copy as `segment_file` cuts it.
    ///
    /// Errors: those of [`Ffmpeg::segment_file`], and [`Ffmpeg::probe`]'s for the source.
    pub async fn segment_file_for_ingest(
        &self,
        input: &Path,
        out_dir: &Path,
        segment_len: Duration,
    ) -> Result<Vec<SegmentInfo>, MediaError> {
        let source = self.probe(input).await?;
        if INGEST_VIDEO_CODECS.contains(&source.video_codec.as_str()) {
            return self.segment_file(input, out_dir, segment_len).await;
        }
        if segment_len.is_zero() {
            return Err(MediaError::InvalidSegmentLength { segment_len });
        }
        tokio::fs::create_dir_all(out_dir)
            .await
            .map_err(|e| MediaError::io("create directory", out_dir, e))?;
        self.segment_pass(input, out_dir, segment_len, true).await
    }

    async fn segment_pass(
        &self,
        input: &Path,
        out_dir: &Path,
        segment_len: Duration,
        reencode: bool,
    ) -> Result<Vec<SegmentInfo>, MediaError> {
        let scratch = self.scratch_dir().await?;
        let list = scratch.path().join("segments.csv");
        let pattern = out_dir.join("seg_%05d.ts");
        let seconds = format!("{}", segment_len.as_secs_f64());
        let mut args: Vec<String> = [
            "-hide_banner",
            "-nostdin",
            "-nostats",
            "-loglevel",
            "level+warning",
            "-y",
        ]
        .map(String::from)
        .to_vec();
        args.extend(InputFormat::Detect.input_args());
        args.push("-i".into());
        args.push(crate::file_url(input));
        args.extend(["-map", "0:v:0", "-map", "0:a:0?"].map(String::from));
        if reencode {
            args.extend(
                [
                    "-c:v",
                    "libx264",
                    "-preset",
                    "veryfast",
                    "-crf",
                    "18",
                    // x264's 4:2:0 needs even sizes: crop an odd row or column.
                    "-vf",
                    "crop=iw-mod(iw\\,2):ih-mod(ih\\,2)",
                    "-pix_fmt",
                    "yuv420p",
                    "-force_key_frames",
                ]
                .map(String::from),
            );
            args.push(format!("expr:gte(t,n_forced*{seconds})"));
            args.extend(["-c:a", "copy"].map(String::from));
        } else {
            args.extend(["-c", "copy"].map(String::from));
        }
        args.extend(["-f", "segment", "-segment_time"].map(String::from));
        args.push(seconds);
        args.extend(["-segment_format", "mpegts", "-segment_list"].map(String::from));
        args.push(crate::file_url(&list));
        args.extend(["-segment_list_type", "csv"].map(String::from));
        args.push(crate::file_url(&pattern));
        let result = match self.ffmpeg_job().run(args, None, None).await {
            Ok(_) => match tokio::fs::read_to_string(&list).await {
                Ok(text) => parse_segment_list(&text, out_dir),
                Err(e) => Err(MediaError::io("read", &list, e)),
            },
            Err(e) => Err(e),
        };
        scratch.remove().await;
        result
    }
}

/// The source video codecs (ffprobe names) a go-livepeer gateway takes in MPEG-TS pushes;
/// anything else is answered 422 (`server/mediaserver.go`, "Unknown input stream codec").
pub const INGEST_VIDEO_CODECS: &[&str] = &["h264", "hevc"];

/// How much longer than asked a stream-copied segment may be before the file is cut again
/// with re-encoded video.
pub const SEGMENT_SLACK: Duration = Duration::from_secs(1);

/// Parses ffmpeg's CSV segment list: one `file name,start seconds,end seconds` line per
/// segment.
fn parse_segment_list(text: &str, out_dir: &Path) -> Result<Vec<SegmentInfo>, MediaError> {
    let bad = |line: &str| MediaError::Probe {
        detail: format!("bad segment list line {line:?}"),
    };
    let seconds = |s: &str| {
        s.trim()
            .parse::<f64>()
            .ok()
            .and_then(|v| Duration::try_from_secs_f64(v).ok())
    };
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .enumerate()
        .map(|(seq, line)| {
            let mut fields = line.rsplitn(3, ',');
            let (Some(end), Some(start), Some(name)) =
                (fields.next(), fields.next(), fields.next())
            else {
                return Err(bad(line));
            };
            let (Some(start), Some(end)) = (seconds(start), seconds(end)) else {
                return Err(bad(line));
            };
            let name = name.trim_matches('"');
            Ok(SegmentInfo {
                path: out_dir.join(name),
                seq: seq as u64,
                start,
                duration: end.saturating_sub(start),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_csv_segment_lists() {
        let text = "seg_00000.ts,0.000000,2.440000\nseg_00001.ts,2.440000,4.360000\n\"odd,name.ts\",4.36,6.12\n";
        let got = parse_segment_list(text, Path::new("/out")).expect("parse");
        let want = [
            ("/out/seg_00000.ts", 0, 0, 2440),
            ("/out/seg_00001.ts", 1, 2440, 1920),
            ("/out/odd,name.ts", 2, 4360, 1760),
        ];
        assert_eq!(got.len(), want.len());
        for (seg, (path, seq, start_ms, dur_ms)) in got.iter().zip(want) {
            assert_eq!(seg.path, Path::new(path));
            assert_eq!(seg.seq, seq);
            let close = |d: Duration, ms: u64| (d.as_secs_f64() - ms as f64 / 1000.0).abs() < 1e-6;
            assert!(close(seg.start, start_ms), "{seg:?}");
            assert!(close(seg.duration, dur_ms), "{seg:?}");
        }
        for bad in ["seg.ts,1.0", "seg.ts,a,b", "seg.ts,-1,2"] {
            assert!(
                matches!(
                    parse_segment_list(bad, Path::new("/o")),
                    Err(MediaError::Probe { .. })
                ),
                "{bad}"
            );
        }
        assert!(
            parse_segment_list("", Path::new("/o"))
                .expect("empty")
                .is_empty()
        );
    }
}
