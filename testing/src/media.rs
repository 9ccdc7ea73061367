//! Test media: segments cut from the real clips (once per test binary), and independent
//! ffprobe measurements of what a node produced.

use std::time::Duration;

use bytes::Bytes;
use livepeer_media::testing;
use tokio::sync::OnceCell;

use crate::ffmpeg;

/// The clip [`test_segment`] is cut from.
pub const CLIP: &str = testing::BIKES_MP4;
/// Its size.
pub const CLIP_SIZE: (u32, u32) = (640, 272);

/// One MPEG-TS segment cut from a real clip.
#[derive(Debug)]
pub struct Clip {
    /// The bytes.
    pub data: Bytes,
    /// Its duration, from ffmpeg's segment list.
    pub duration: Duration,
}

static SEGMENT: OnceCell<Clip> = OnceCell::const_new();

/// Runs ffmpeg with `args` (input options, input and output options, without the output file)
/// writing MPEG-TS to a temporary file, and returns the bytes written; `what` names the job in
/// a failure.
async fn make_ts(what: &str, args: &[&str], input: &std::path::Path) -> Bytes {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out.ts");
    let (before, after) = args.split_at(args.iter().position(|a| *a == "-i").map_or(0, |i| i + 1));
    let run = tokio::process::Command::new(ffmpeg().ffmpeg_path())
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"])
        .args(before)
        .arg(input)
        .args(after)
        .args(["-f", "mpegts"])
        .arg(&out)
        .output()
        .await
        .expect("ffmpeg runs");
    assert!(
        run.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    Bytes::from(tokio::fs::read(&out).await.expect("read the segment"))
}

/// Where the test segment starts in the clip: a keyframe of the bikes clip.
const SEGMENT_START: &str = "5.48";
/// The test segment's length.
const SEGMENT_DURATION: Duration = Duration::from_secs(2);

/// A 2 s MPEG-TS segment of the bikes clip starting on a keyframe, cut once per test binary
/// by stream copy (`ffmpeg -ss 5.48 -t 2 -c copy -f mpegts`), as a gateway's segmenter cuts.
pub async fn test_segment() -> &'static Clip {
    SEGMENT
        .get_or_init(|| async {
            let data = make_ts(
                "cutting the test segment",
                &[
                    "-ss",
                    SEGMENT_START,
                    "-i",
                    "-t",
                    "2",
                    "-map",
                    "0:v:0",
                    "-c",
                    "copy",
                ],
                &testing::media_file(CLIP),
            )
            .await;
            Clip {
                data,
                duration: SEGMENT_DURATION,
            }
        })
        .await
}

/// One segment of a clip, as a gateway's segmenter cuts it.
#[derive(Debug, Clone)]
pub struct Segment {
    /// Sequence number, from 0.
    pub seq: u64,
    /// Duration from ffmpeg's segment list, in milliseconds.
    pub duration_ms: u64,
    /// The MPEG-TS bytes.
    pub data: Bytes,
}

static BIKES: OnceCell<Vec<Segment>> = OnceCell::const_new();
static CITY: OnceCell<Vec<Segment>> = OnceCell::const_new();
static CITY_MPEG2: OnceCell<Vec<Segment>> = OnceCell::const_new();

/// The bikes clip (10 s, H.264 640x272) in ~2 s segments (5 of them).
pub async fn bikes() -> &'static [Segment] {
    BIKES
        .get_or_init(|| cut(testing::BIKES_MP4, "2"))
        .await
        .as_slice()
}

/// The city clip (7.6 s, 720x405, cropped to 720x404) re-encoded to H.264 with a keyframe every second, in ~1 s
/// segments (7 or more). Gateways accept only H.264, HEVC, VP8 and VP9 pushes, as
/// go-livepeer's do; [`city_mpeg2`] has the clip's own MPEG-2.
pub async fn city() -> &'static [Segment] {
    CITY.get_or_init(|| cut_with(testing::CITY_MPG, "1", true))
        .await
        .as_slice()
}

/// The city clip as it is (MPEG-2 video) in ~1 s segments, stream copy.
pub async fn city_mpeg2() -> &'static [Segment] {
    CITY_MPEG2
        .get_or_init(|| cut(testing::CITY_MPG, "1"))
        .await
        .as_slice()
}

/// Cuts `clip` into MPEG-TS segments of about `seconds` by stream copy (`-f segment`), reading
/// durations from ffmpeg's CSV segment list.
async fn cut(clip: &str, seconds: &str) -> Vec<Segment> {
    cut_with(clip, seconds, false).await
}

/// As [`cut`], re-encoding the video to H.264 first when `h264` is set.
async fn cut_with(clip: &str, seconds: &str, h264: bool) -> Vec<Segment> {
    let dir = tempfile::tempdir().expect("temp dir");
    let list = dir.path().join("list.csv");
    let run = tokio::process::Command::new(ffmpeg().ffmpeg_path())
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i"])
        .arg(testing::media_file(clip))
        .args(["-map", "0:v:0"])
        .args(if h264 {
            vec![
                "-c:v".to_string(),
                "libx264".into(),
                "-preset".into(),
                "veryfast".into(),
                // x264 needs an even height; the clip is 720x405.
                "-vf".into(),
                "crop=iw:ih-mod(ih\\,2)".into(),
                "-force_key_frames".into(),
                format!("expr:gte(t,n_forced*{seconds})"),
            ]
        } else {
            vec!["-c".to_string(), "copy".into()]
        })
        .args(["-f", "segment"])
        .args(["-segment_time", seconds, "-segment_format", "mpegts"])
        .args(["-segment_list_type", "csv", "-segment_list"])
        .arg(&list)
        .arg(dir.path().join("seg_%03d.ts"))
        .output()
        .await
        .expect("ffmpeg runs");
    assert!(
        run.status.success(),
        "segmenting {clip}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let text = tokio::fs::read_to_string(&list)
        .await
        .expect("segment list");
    let mut segments = Vec::new();
    for (seq, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        let [file, start, end] = fields[..] else {
            panic!("unexpected segment list line {line:?}");
        };
        let secs = |s: &str| s.parse::<f64>().expect("seconds");
        let duration_ms = ((secs(end) - secs(start)) * 1000.0).round() as u64;
        let data = tokio::fs::read(dir.path().join(file))
            .await
            .expect("segment");
        segments.push(Segment {
            seq: seq as u64,
            duration_ms,
            data: Bytes::from(data),
        });
    }
    segments
}

/// The first video stream's `entries` (`key=value`, first value of each key), by an
/// independent ffprobe run over `data`; `count_frames` decodes every frame.
async fn probe_video(data: &[u8], entries: &str, count_frames: bool) -> Vec<u64> {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("rendition.ts");
    tokio::fs::write(&path, data)
        .await
        .expect("write rendition");
    let mut command = tokio::process::Command::new(ffmpeg().ffprobe_path());
    command.args(["-v", "error", "-select_streams", "v:0"]);
    if count_frames {
        command.arg("-count_frames");
    }
    let out = command
        .args(["-show_entries", &format!("stream={entries}")])
        .args(["-of", "default=noprint_wrappers=1"])
        .arg(&path)
        .output()
        .await
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // MPEG-TS lists the stream under its program too: the first value of a key is enough.
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    entries
        .split(',')
        .map(|key| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{key}=")))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("ffprobe gave no {key}: {text}"))
        })
        .collect()
}

/// Width, height and decoded frame count of the first video stream, by an independent
/// `ffprobe -count_frames` run.
pub async fn count_video(data: &[u8]) -> (u32, u32, u64) {
    let got = probe_video(data, "width,height,nb_read_frames", true).await;
    (
        u32::try_from(got[0]).expect("width fits u32"),
        u32::try_from(got[1]).expect("height fits u32"),
        got[2],
    )
}

/// Width and height of the first video stream, by ffprobe.
pub async fn video_size(data: &[u8]) -> (u32, u32) {
    let got = probe_video(data, "width,height", false).await;
    (
        u32::try_from(got[0]).expect("width fits u32"),
        u32::try_from(got[1]).expect("height fits u32"),
    )
}

static LONG: OnceCell<Clip> = OnceCell::const_new();

/// A long MPEG-TS segment (Big Buck Bunny 720p looped ten times, about 53 s, stream copy):
/// several seconds of work for any transcoder, for tests that stop a node mid-transcode.
pub async fn long_segment() -> &'static Clip {
    LONG.get_or_init(|| async {
        let data = make_ts(
            "building the long segment",
            &["-stream_loop", "9", "-i", "-map", "0:v:0", "-c", "copy"],
            &testing::media_file(testing::BBB_MP4),
        )
        .await;
        Clip {
            data,
            duration: Duration::from_secs(53),
        }
    })
    .await
}
