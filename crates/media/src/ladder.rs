//! Transcoding one input into a ladder of renditions with one ffmpeg process.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use bytes::Bytes;
use livepeer_primitives::profile::{Format, Gop, H264Profile, VideoCodec, VideoProfile};
use tokio_util::sync::CancellationToken;

use crate::{Ffmpeg, InputFormat, MediaError, MediaInput, ScratchDir};

/// x264 preset used when none is configured. lpms defaults to `medium`, which cannot keep up
/// with a three-rung ladder in real time on two cores (reference measurements: ~0.86x real
/// time); `veryfast` keeps ~1.9x.
pub const DEFAULT_X264_PRESET: &str = "veryfast";

/// The x264 presets, fastest first.
pub const X264_PRESETS: [&str; 10] = [
    "ultrafast",
    "superfast",
    "veryfast",
    "faster",
    "fast",
    "medium",
    "slow",
    "slower",
    "veryslow",
    "placebo",
];

/// Time limit for one transcode when none is configured. Generous: a 2 s segment takes about
/// 1 s on two cores, and the gateway's own HTTP deadline (8 s) is shorter.
pub const DEFAULT_TRANSCODE_TIMEOUT: Duration = Duration::from_secs(60);

/// Largest output side, in pixels: lpms clamps every rendition to NVENC's H.264 limit of
/// 4096x4096 even for CPU encodes.
pub const MAX_OUTPUT_SIDE: u32 = 4096;

/// Settings of a transcode that are not part of the profiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TranscodeOptions {
    /// x264 preset, one of [`X264_PRESETS`]; default [`DEFAULT_X264_PRESET`].
    pub preset: String,
    /// The ffmpeg process is killed and [`MediaError::Timeout`] returned after this long;
    /// default [`DEFAULT_TRANSCODE_TIMEOUT`].
    pub timeout: Duration,
    /// What the input is; [`InputFormat::MpegTs`] for anything that came from the network.
    pub input_format: InputFormat,
    /// Transcode only this part of the input; `None` (the default) for all of it.
    pub slice: Option<Slice>,
    /// Also compute each rendition's MPEG-7 video signature ([`Rendition::signature`]) in the
    /// same run (go-livepeer `SegData.calc_perceptual_hash`, lpms `CalcSign`); default off.
    pub calc_signature: bool,
}

/// The part of an input to transcode: go-livepeer's `SegParameters` from/to, lpms
/// `TranscodeOptions.From`/`To` (Livepeer's "segment slicing", capability 26).
///
/// Both ends are measured from the input's first video frame (lpms `clip_start_pts`). Frames before `from` and after
/// `to` are dropped (video and audio), the first frame kept is a keyframe, and the output's
/// timestamps start at zero, as lpms rebases a clip by `from`. So the rendition lasts
/// `to − from` (or from `from` to the end) and its frame and pixel counts are the slice's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    /// Where the slice starts, from the input's start.
    pub from: Duration,
    /// Where it ends, from the input's start; `None` for the end of the input.
    pub to: Option<Duration>,
}

impl Slice {
    /// The slice for wire values `from_ms`/`to_ms` (`SegParameters`; 0 means unset):
    /// `Ok(None)` when both are 0 (the whole input).
    ///
    /// Errors: [`MediaError::InvalidSlice`] when `to` is set and before `from` (lpms
    /// `ErrTranscoderClipConfig`).
    pub fn from_ms(from_ms: u64, to_ms: u64) -> Result<Option<Self>, MediaError> {
        if from_ms == 0 && to_ms == 0 {
            return Ok(None);
        }
        if to_ms > 0 && to_ms < from_ms {
            return Err(MediaError::InvalidSlice { from_ms, to_ms });
        }
        Ok(Some(Self {
            from: Duration::from_millis(from_ms),
            to: (to_ms > 0).then(|| Duration::from_millis(to_ms)),
        }))
    }
}

impl Default for TranscodeOptions {
    fn default() -> Self {
        Self {
            preset: DEFAULT_X264_PRESET.to_owned(),
            timeout: DEFAULT_TRANSCODE_TIMEOUT,
            input_format: InputFormat::Detect,
            slice: None,
            calc_signature: false,
        }
    }
}

/// One transcoded rendition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendition {
    /// The profile it was made for.
    pub profile: VideoProfile,
    /// Encoded width in pixels (see [`output_resolution`]).
    pub width: u32,
    /// Encoded height in pixels.
    pub height: u32,
    /// The encoded file: MPEG-TS, or MP4 when the profile's format asks for it.
    pub data: Bytes,
    /// Video frames encoded (after the fps filter), from ffmpeg's own end-of-run report.
    pub frames: u64,
    /// `width × height × frames`: what go-livepeer charges for (lpms `MediaInfo.Pixels`).
    pub pixels: u64,
    /// The rendition's MPEG-7 video signature in ffmpeg's binary format (see
    /// [`crate::signature`]), when [`TranscodeOptions::calc_signature`] asked for it and
    /// ffmpeg wrote it; `None` otherwise (a missing one is logged, as go-livepeer
    /// `core/orchestrator.go` logs a missing perceptual hash and goes on).
    pub signature: Option<Bytes>,
}

/// The size ffmpeg encodes `profile` at for a `src_width`×`src_height` source (lpms rule).
///
/// The larger of the profile's width and height is kept (capped at [`MAX_OUTPUT_SIDE`] and
/// rounded down to even) as the output's long side, on the same axis as the source's long side;
/// the other side follows the source aspect ratio, rounded to the nearest even number the way
/// ffmpeg's `scale` filter rounds `-2` (`av_rescale`, halves up). So a 16:9 profile gives
/// exactly its own size on a 16:9 source, `P240p30fps16x9` on a 640x272 source gives 426x182,
/// and on a 720x1280 portrait source 240x426 (transposed). A zero source side yields the
/// long side squared.
pub fn output_resolution(src_width: u32, src_height: u32, profile: &VideoProfile) -> (u32, u32) {
    let long = long_side(profile);
    if src_width == 0 || src_height == 0 {
        return (long, long);
    }
    // av_rescale(long, num, den * 2) * 2 with round-half-up.
    let follow = |num: u32, den: u32| -> u32 {
        let den2 = u64::from(den) * 2;
        let scaled = (u64::from(long) * u64::from(num) + den2 / 2) / den2;
        u32::try_from(scaled * 2).unwrap_or(u32::MAX)
    };
    if src_width >= src_height {
        (long, follow(src_height, src_width))
    } else {
        (follow(src_width, src_height), long)
    }
}

/// The profile's long side as the output will have it: capped and even (at least 2).
fn long_side(profile: &VideoProfile) -> u32 {
    (profile.width.max(profile.height).min(MAX_OUTPUT_SIDE) & !1).max(2)
}

/// Where [`ladder_args`] writes rendition `index`: `out_dir/rendition_<index>.ts` (or `.mp4`).
pub fn rendition_path(out_dir: &Path, index: usize, profile: &VideoProfile) -> PathBuf {
    out_dir.join(format!("rendition_{index}{}", profile.format.extension()))
}

/// Where [`ladder_args`] has ffmpeg write rendition `index`'s MPEG-7 signature: the
/// rendition's path with `.bin` appended, as lpms names it (`<oname>.bin`).
pub fn signature_path(out_dir: &Path, index: usize, profile: &VideoProfile) -> PathBuf {
    let mut path = rendition_path(out_dir, index, profile).into_os_string();
    path.push(".bin");
    PathBuf::from(path)
}

/// `value` escaped for a filter option inside a filter graph: once for the option parser
/// (`:` separates options) and once for the graph parser (`[],;` separate filters), each
/// level with backslashes, so any path reaches the filter as it is.
fn filter_value_escape(value: &str) -> String {
    let escape = |text: &str, special: &[char]| {
        let mut out = String::with_capacity(text.len() + 8);
        for c in text.chars() {
            if c == '\\' || c == '\'' || c.is_whitespace() || special.contains(&c) {
                out.push('\\');
            }
            out.push(c);
        }
        out
    };
    escape(&escape(value, &[':', '=']), &['[', ']', ',', ';'])
}

/// The exact ffmpeg arguments (without the program name) that [`Ffmpeg::transcode`] runs:
/// decode `input` once, `split` it per rendition, scale (see [`output_resolution`]) then fps
/// (after the scaler, as lpms does), convert to 8-bit 4:2:0 (`format=yuv420p`, the only pixel
/// format lpms's filter sinks accept, so 4:2:2, 4:4:4 and 10-bit H.264 sources encode in
/// every H.264 profile), encode with libx264 and write rendition `i` to
/// [`rendition_path`]`(out_dir, i, ..)`. The input format, preset and slice come from
/// `opts` (its timeout is not part of the command).
///
/// With [`TranscodeOptions::calc_signature`], each rendition's chain ends in ffmpeg's
/// `signature` filter (binary format, to [`signature_path`]`(out_dir, i, ..)`), on the frames
/// the encoder gets: after scale, fps and pixel format, as lpms places it (`sfilters`, run on
/// each frame before it is encoded). A slice is then also cut in the chain, by a `trim` with
/// the very bounds ffmpeg gives the output's own trim for `-ss`/`-to`, so the signature
/// covers the frames encoded and the filter sees its input end (it writes its file only
/// then).
///
/// Per rendition, as lpms `ffmpeg/ffmpeg.go` sets them: bitrate as `-b:v`, `-minrate`,
/// `-maxrate` and `-bufsize`; `-forced-idr 1`; B-frames 0 for Baseline and Constrained High,
/// else 3; `-profile:v` when the profile names one; a GOP in seconds becomes `-g` (seconds ×
/// fps) with an fps set, or keyframes forced by elapsed time with fps passthrough; intra-only
/// is `-g 1`; `quality` becomes `-crf`. The first audio stream, if any, is copied. Timestamps
/// are kept (`-copyts`, and `-muxdelay 0 -muxpreload 0` for MPEG-TS) so renditions of
/// consecutive segments play as one stream. A [`Slice`] is cut per output with `-ss`/`-to`:
/// the whole input is decoded (seeking inside an MPEG-TS segment can land after its only
/// keyframe) and frames and audio packets outside the slice are dropped; its timestamps start
/// at zero instead, as lpms's do. Logging is `-loglevel level+verbose`, which
/// prints the per-output frame counts this crate reads. The input is opened with
/// [`InputFormat::input_args`]: local files only, and the MPEG-TS demuxer forced for segments.
///
/// Errors: [`MediaError::NoProfiles`] for an empty ladder, [`MediaError::UnsupportedProfile`]
/// for a codec other than H.264 or a zero size or bitrate, [`MediaError::UnknownPreset`].
pub fn ladder_args(
    input: &Path,
    profiles: &[VideoProfile],
    out_dir: &Path,
    opts: &TranscodeOptions,
) -> Result<Vec<String>, MediaError> {
    let preset = opts.preset.as_str();
    if profiles.is_empty() {
        return Err(MediaError::NoProfiles);
    }
    if !X264_PRESETS.contains(&preset) {
        return Err(MediaError::UnknownPreset {
            preset: preset.to_owned(),
        });
    }
    for profile in profiles {
        check_profile(profile)?;
    }

    let mut graph = format!("[0:v]split={}", profiles.len());
    for i in 0..profiles.len() {
        graph.push_str(&format!("[s{i}]"));
    }
    for (i, profile) in profiles.iter().enumerate() {
        let long = long_side(profile);
        graph.push_str(&format!(
            ";[s{i}]scale=w='if(gte(iw,ih),{long},-2)':h='if(gte(iw,ih),-2,{long})'"
        ));
        if let Some((num, den)) = profile.frame_rate() {
            graph.push_str(&format!(",fps={num}/{den}"));
        }
        graph.push_str(",format=yuv420p");
        if opts.calc_signature {
            if let Some(slice) = opts.slice {
                graph.push_str(&trim_filter(slice));
            }
            let path = signature_path(out_dir, i, profile);
            graph.push_str(&format!(
                ",signature=filename={}",
                filter_value_escape(&path.to_string_lossy())
            ));
        }
        graph.push_str(&format!("[v{i}]"));
    }

    let mut args: Vec<String> = [
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-loglevel",
        "level+verbose",
        "-y",
    ]
    .map(String::from)
    .to_vec();
    // A slice rebases its timestamps to zero, so only whole segments keep the input's.
    if opts.slice.is_none() {
        args.push("-copyts".into());
    }
    args.extend(opts.input_format.input_args());
    args.push("-i".into());
    args.push(crate::file_url(input));
    args.push("-filter_complex".into());
    args.push(graph);

    for (i, profile) in profiles.iter().enumerate() {
        let bitrate = profile.bitrate_bps.to_string();
        let b_frames = match profile.profile {
            H264Profile::Baseline | H264Profile::ConstrainedHigh => "0",
            H264Profile::EncoderDefault | H264Profile::Main | H264Profile::High => "3",
        };
        let out = |args: &mut Vec<String>, items: &[&str]| {
            args.extend(items.iter().map(|s| (*s).to_owned()))
        };
        out(
            &mut args,
            &[
                "-map",
                &format!("[v{i}]"),
                "-map",
                "0:a:0?",
                "-c:v",
                "libx264",
                "-preset",
                preset,
            ],
        );
        out(
            &mut args,
            &[
                "-b:v", &bitrate, "-minrate", &bitrate, "-maxrate", &bitrate, "-bufsize", &bitrate,
            ],
        );
        out(&mut args, &["-forced-idr", "1", "-bf", b_frames]);
        if let Some(name) = profile.profile.encoder_profile() {
            out(&mut args, &["-profile:v", name]);
        }
        match (profile.gop, profile.frame_rate()) {
            (Gop::Default, _) => {}
            (Gop::Intra, _) => out(&mut args, &["-g", "1"]),
            (Gop::Every(gop), Some((num, den))) => {
                // lpms: keyint = GOP seconds × fps, truncated.
                let frames = (gop.as_secs_f64() * f64::from(num) / f64::from(den))
                    .floor()
                    .max(1.0);
                out(&mut args, &["-g", &format!("{frames}")]);
            }
            (Gop::Every(gop), None) => {
                let expr = format!("expr:gte(t,n_forced*{})", gop.as_secs_f64());
                out(&mut args, &["-force_key_frames", &expr]);
            }
        }
        if profile.quality > 0 {
            out(&mut args, &["-crf", &profile.quality.to_string()]);
        }
        out(&mut args, &["-c:a", "copy"]);
        if let Some(slice) = opts.slice {
            if !slice.from.is_zero() {
                out(&mut args, &["-ss", &seconds_arg(slice.from)]);
            }
            if let Some(to) = slice.to {
                out(&mut args, &["-to", &seconds_arg(to)]);
            }
        }
        match profile.format {
            Format::MpegTs => out(
                &mut args,
                &["-muxdelay", "0", "-muxpreload", "0", "-f", "mpegts"],
            ),
            Format::Mp4 => out(&mut args, &["-movflags", "+faststart", "-f", "mp4"]),
        }
        args.push(crate::file_url(&rendition_path(out_dir, i, profile)));
    }
    Ok(args)
}

/// `,trim=...` cutting `slice` as ffmpeg's output `-ss`/`-to` do (its `insert_trim`: `starti`
/// = from, `durationi` = to − from, each only when set).
fn trim_filter(slice: Slice) -> String {
    let mut opts = Vec::new();
    if !slice.from.is_zero() {
        opts.push(format!("starti={}", seconds_arg(slice.from)));
    }
    if let Some(to) = slice.to {
        opts.push(format!(
            "durationi={}",
            seconds_arg(to.saturating_sub(slice.from))
        ));
    }
    if opts.is_empty() {
        String::new()
    } else {
        format!(",trim={}", opts.join(":"))
    }
}

/// A duration as ffmpeg's seconds syntax, to the millisecond (`1.500`).
fn seconds_arg(d: Duration) -> String {
    format!("{}.{:03}", d.as_secs(), d.subsec_millis())
}

fn check_profile(profile: &VideoProfile) -> Result<(), MediaError> {
    let unsupported = |reason: String| MediaError::UnsupportedProfile {
        profile: profile.name.clone(),
        reason,
    };
    if profile.encoder != VideoCodec::H264 {
        return Err(unsupported(format!(
            "encoder {} (this CPU transcoder encodes H.264 only, like go-livepeer's production build)",
            profile.encoder.name()
        )));
    }
    if profile.width == 0 || profile.height == 0 {
        return Err(unsupported(format!(
            "size {}x{}",
            profile.width, profile.height
        )));
    }
    if profile.bitrate_bps == 0 {
        return Err(unsupported("zero bitrate".into()));
    }
    Ok(())
}

impl Ffmpeg {
    /// Transcodes `input` (a file, or the bytes of a segment) into one rendition per profile,
    /// with one ffmpeg process running [`ladder_args`] (decode once, encode N times). A
    /// [`Slice`] costs one ffprobe run first, to measure it from the first video frame.
    ///
    /// Renditions come back in profile order, each with its encoded bytes, size, and frame and
    /// pixel counts read from ffmpeg's own report (no extra ffprobe run). Work files live in a
    /// temporary directory that is removed before returning.
    ///
    /// The ffmpeg process is killed, and the call returns promptly, when `cancel` fires
    /// ([`MediaError::Cancelled`]) or `opts.timeout` passes ([`MediaError::Timeout`]); dropping
    /// the future kills it too. Other errors: those of [`ladder_args`]; [`MediaError::Ffmpeg`]
    /// with ffmpeg's own error lines for an undecodable input (or one without video);
    /// [`MediaError::NoFrames`] when a rendition came out empty; [`MediaError::Report`] when
    /// ffmpeg's report lacks a size or frame count; [`MediaError::Io`] for temp-file trouble.
    pub async fn transcode(
        &self,
        input: impl Into<MediaInput<'_>>,
        profiles: &[VideoProfile],
        opts: &TranscodeOptions,
        cancel: &CancellationToken,
    ) -> Result<Vec<Rendition>, MediaError> {
        let input = input.into();
        // Fail on bad arguments before touching the disk.
        ladder_args(Path::new("in"), profiles, Path::new("out"), opts)?;
        let scratch = self.scratch_dir().await?;
        let result = self
            .transcode_in(&scratch, input, profiles, opts, cancel)
            .await
            .map_err(|e| self.redact(e, scratch.path()));
        scratch.remove().await;
        result
    }

    async fn transcode_in(
        &self,
        scratch: &ScratchDir,
        input: MediaInput<'_>,
        profiles: &[VideoProfile],
        opts: &TranscodeOptions,
        cancel: &CancellationToken,
    ) -> Result<Vec<Rendition>, MediaError> {
        let input_path = match input {
            MediaInput::Path(path) => path.to_owned(),
            MediaInput::Bytes(data) => scratch.write_input(data).await?,
        };
        let sliced;
        let opts = match opts.slice {
            // ffmpeg cuts on the file's timeline, which starts with its earliest stream; lpms
            // measures a slice from the first video frame, so shift the cut by the video's lag.
            Some(slice) => {
                let info = self.probe_path(&input_path, opts.input_format).await?;
                let lag = info
                    .video_start_time
                    .zip(info.start_time)
                    .map_or(Duration::ZERO, |(video, file)| video.saturating_sub(file));
                sliced = TranscodeOptions {
                    slice: Some(Slice {
                        from: slice.from + lag,
                        to: slice.to.map(|to| to + lag),
                    }),
                    ..opts.clone()
                };
                &sliced
            }
            None => opts,
        };
        let args = ladder_args(&input_path, profiles, scratch.path(), opts)?;
        let started = std::time::Instant::now();
        let out = self
            .ffmpeg_job()
            .run(&args, Some(opts.timeout), Some(cancel))
            .await?;

        let mut renditions = Vec::with_capacity(profiles.len());
        for (index, profile) in profiles.iter().enumerate() {
            let report = out.log.output(index);
            let (width, height) = report.size.ok_or_else(|| MediaError::Report {
                index,
                detail: "no \"Output #k\" video stream line".into(),
            })?;
            let frames = report.frames.ok_or_else(|| MediaError::Report {
                index,
                detail: "no \"frames encoded\" line".into(),
            })?;
            if frames == 0 {
                return Err(MediaError::NoFrames {
                    profile: profile.name.clone(),
                });
            }
            let path = rendition_path(scratch.path(), index, profile);
            let data = tokio::fs::read(&path)
                .await
                .map_err(|e| MediaError::io("read", &path, e))?;
            let pixels = u64::from(width) * u64::from(height) * frames;
            let signature = if opts.calc_signature {
                let path = signature_path(scratch.path(), index, profile);
                match tokio::fs::read(&path).await {
                    Ok(sig) if !sig.is_empty() => Some(Bytes::from(sig)),
                    Ok(_) | Err(_) => {
                        tracing::warn!(
                            profile = %profile.name,
                            "ffmpeg wrote no MPEG-7 signature for the rendition"
                        );
                        None
                    }
                }
            } else {
                None
            };
            renditions.push(Rendition {
                profile: profile.clone(),
                width,
                height,
                data: data.into(),
                frames,
                pixels,
                signature,
            });
        }
        tracing::debug!(
            renditions = renditions.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            pixels = renditions.iter().map(|r| r.pixels).sum::<u64>(),
            "transcoded"
        );
        Ok(renditions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use livepeer_primitives::profile::ChromaSubsampling;

    fn opts(input_format: InputFormat, preset: &str) -> TranscodeOptions {
        TranscodeOptions {
            preset: preset.into(),
            input_format,
            ..TranscodeOptions::default()
        }
    }

    fn standard(name: &str) -> VideoProfile {
        VideoProfile::standard(name).expect("standard profile")
    }

    fn custom(width: u32, height: u32) -> VideoProfile {
        VideoProfile {
            name: "custom".into(),
            width,
            height,
            bitrate_bps: 1_000_000,
            fps: 0,
            fps_den: 0,
            format: Format::MpegTs,
            profile: H264Profile::EncoderDefault,
            gop: Gop::Default,
            encoder: VideoCodec::H264,
            color_depth: 8,
            chroma_format: ChromaSubsampling::Yuv420,
            quality: 0,
        }
    }

    #[test]
    fn output_geometry() {
        // (source w, source h, profile, expected output) — values checked against ffmpeg 5.1's
        // scale filter with the expression ladder_args uses.
        let cases = [
            (1280, 720, standard("P720p30fps16x9"), (1280, 720)),
            (1280, 720, standard("P360p30fps16x9"), (640, 360)),
            (1280, 720, standard("P240p30fps16x9"), (426, 240)),
            (1920, 1080, standard("P144p30fps16x9"), (256, 144)),
            (720, 405, standard("P240p30fps16x9"), (426, 240)),
            (720, 405, standard("P360p30fps16x9"), (640, 360)),
            (720, 405, standard("P720p30fps16x9"), (1280, 720)),
            (640, 272, standard("P240p30fps16x9"), (426, 182)),
            (640, 272, standard("P360p30fps16x9"), (640, 272)),
            (640, 272, standard("P720p30fps16x9"), (1280, 544)),
            // 4:3 profile on 16:9 source keeps the width.
            (1280, 720, standard("P720p30fps4x3"), (960, 540)),
            // Portrait sources: the long side becomes the height (transposed preset).
            (720, 1280, standard("P360p30fps16x9"), (360, 640)),
            (720, 1280, standard("P240p30fps16x9"), (240, 426)),
            (1080, 1920, standard("P720p30fps16x9"), (720, 1280)),
            // Square source.
            (500, 500, standard("P240p30fps16x9"), (426, 426)),
            // Portrait profile on a landscape source: its long side goes on the width.
            (1280, 720, custom(360, 640), (640, 360)),
            // Odd requested size is rounded down to even; huge ones are capped.
            (1280, 720, custom(427, 240), (426, 240)),
            (1280, 720, custom(8000, 4500), (4096, 2304)),
            // Rounding is to the nearest pair: 426 * 361 / 641 / 2 = 119.96 -> 120 pairs.
            (641, 361, standard("P240p30fps16x9"), (426, 240)),
            (0, 0, standard("P240p30fps16x9"), (426, 426)),
        ];
        for (w, h, profile, want) in cases {
            assert_eq!(
                output_resolution(w, h, &profile),
                want,
                "{w}x{h} -> {}",
                profile.name
            );
        }
    }

    #[test]
    fn default_ladder_command() {
        let profiles = [standard("P240p30fps16x9"), standard("P360p30fps16x9")];
        let args = ladder_args(
            Path::new("/in/seg.ts"),
            &profiles,
            Path::new("/out"),
            &opts(InputFormat::MpegTs, "veryfast"),
        )
        .expect("args");
        let want = "-hide_banner -nostdin -nostats -loglevel level+verbose -y -copyts -protocol_whitelist file -f mpegts -i file:/in/seg.ts \
            -filter_complex [0:v]split=2[s0][s1];\
            [s0]scale=w='if(gte(iw,ih),426,-2)':h='if(gte(iw,ih),-2,426)',fps=30/1,format=yuv420p[v0];\
            [s1]scale=w='if(gte(iw,ih),640,-2)':h='if(gte(iw,ih),-2,640)',fps=30/1,format=yuv420p[v1] \
            -map [v0] -map 0:a:0? -c:v libx264 -preset veryfast -b:v 600000 -minrate 600000 -maxrate 600000 \
            -bufsize 600000 -forced-idr 1 -bf 3 -c:a copy -muxdelay 0 -muxpreload 0 -f mpegts \
            file:/out/rendition_0.ts \
            -map [v1] -map 0:a:0? -c:v libx264 -preset veryfast -b:v 1200000 -minrate 1200000 -maxrate 1200000 \
            -bufsize 1200000 -forced-idr 1 -bf 3 -c:a copy -muxdelay 0 -muxpreload 0 -f mpegts \
            file:/out/rendition_1.ts";
        assert_eq!(args.join(" "), want);
    }

    #[test]
    fn per_profile_encoder_options() {
        let with = |f: &dyn Fn(&mut VideoProfile)| {
            let mut p = standard("P360p30fps16x9");
            f(&mut p);
            let args = ladder_args(
                Path::new("in.ts"),
                &[p],
                Path::new("o"),
                &opts(InputFormat::Detect, "medium"),
            )
            .expect("args");
            args.join(" ")
        };
        // (change, fragments that must appear, fragments that must not)
        type Case<'a> = (&'a dyn Fn(&mut VideoProfile), &'a [&'a str], &'a [&'a str]);
        let cases: [Case<'_>; 10] = [
            (
                &|_| {},
                &["-preset medium", "-bf 3", "fps=30/1,format=yuv420p[v0]"],
                &["-profile:v", "-g ", "-crf", "force_key"],
            ),
            (
                &|p| p.profile = H264Profile::Baseline,
                &["-bf 0 -profile:v baseline"],
                &["-bf 3"],
            ),
            (
                &|p| p.profile = H264Profile::Main,
                &["-bf 3 -profile:v main"],
                &[],
            ),
            (
                &|p| p.profile = H264Profile::High,
                &["-bf 3 -profile:v high"],
                &[],
            ),
            (
                &|p| p.profile = H264Profile::ConstrainedHigh,
                &["-bf 0 -profile:v high"],
                &[],
            ),
            (&|p| p.gop = Gop::Intra, &["-g 1 "], &[]),
            (
                &|p| p.gop = Gop::Every(Duration::from_secs(2)),
                &["-g 60 "],
                &["force_key"],
            ),
            (
                &|p| {
                    p.gop = Gop::Every(Duration::from_millis(500));
                    p.fps = 0;
                },
                &[
                    "-force_key_frames expr:gte(t,n_forced*0.5)",
                    "-2,640)',format=yuv420p[v0]",
                ],
                &["-g ", "fps="],
            ),
            (
                &|p| (p.fps, p.fps_den) = (30_000, 1001),
                &["fps=30000/1001,format=yuv420p[v0]"],
                &[],
            ),
            (
                &|p| {
                    p.format = Format::Mp4;
                    p.quality = 23;
                },
                &[
                    "-crf 23",
                    "-movflags +faststart -f mp4 file:o/rendition_0.mp4",
                ],
                &["-f mpegts", "muxdelay"],
            ),
        ];
        for (i, (change, present, absent)) in cases.iter().enumerate() {
            let cmd = with(change);
            for frag in *present {
                assert!(cmd.contains(frag), "case {i}: {frag:?} missing in {cmd}");
            }
            for frag in *absent {
                assert!(
                    !cmd.contains(frag),
                    "case {i}: {frag:?} unexpected in {cmd}"
                );
            }
        }
    }

    #[test]
    fn ladder_argument_errors() {
        let ok = standard("P240p30fps16x9");
        let check = |profiles: &[VideoProfile], preset: &str| {
            ladder_args(
                Path::new("i"),
                profiles,
                Path::new("o"),
                &opts(InputFormat::Detect, preset),
            )
        };
        assert!(matches!(
            check(&[], "veryfast"),
            Err(MediaError::NoProfiles)
        ));
        assert!(
            matches!(check(std::slice::from_ref(&ok), "turbo"), Err(MediaError::UnknownPreset { preset }) if preset == "turbo")
        );
        let mut hevc = ok.clone();
        hevc.encoder = VideoCodec::H265;
        let mut flat = ok.clone();
        flat.height = 0;
        let mut free = ok.clone();
        free.bitrate_bps = 0;
        for bad in [hevc, flat, free] {
            assert!(
                matches!(
                    check(&[ok.clone(), bad.clone()], "veryfast"),
                    Err(MediaError::UnsupportedProfile { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn slices() {
        assert_eq!(Slice::from_ms(0, 0).expect("none"), None);
        assert_eq!(
            Slice::from_ms(500, 0).expect("from only"),
            Some(Slice {
                from: Duration::from_millis(500),
                to: None
            })
        );
        assert!(matches!(
            Slice::from_ms(900, 100),
            Err(MediaError::InvalidSlice {
                from_ms: 900,
                to_ms: 100
            })
        ));
        let cmd = |slice| {
            let opts = TranscodeOptions {
                slice,
                ..opts(InputFormat::MpegTs, "veryfast")
            };
            ladder_args(
                Path::new("i.ts"),
                &[standard("P240p30fps16x9")],
                Path::new("o"),
                &opts,
            )
            .expect("args")
            .join(" ")
        };
        let sliced = cmd(Slice::from_ms(250, 1500).expect("slice"));
        assert!(
            sliced.contains("-y -protocol_whitelist file -f mpegts -i"),
            "{sliced}"
        );
        assert!(
            sliced.contains("-c:a copy -ss 0.250 -to 1.500 -muxdelay 0"),
            "{sliced}"
        );
        assert!(!sliced.contains("-copyts"), "{sliced}");
        let from_start = cmd(Slice::from_ms(0, 1000).expect("slice"));
        assert!(
            from_start.contains("-c:a copy -to 1.000 -muxdelay"),
            "{from_start}"
        );
        let to_end = cmd(Slice::from_ms(40, 0).expect("slice"));
        assert!(to_end.contains("-c:a copy -ss 0.040 -muxdelay"), "{to_end}");
        assert!(cmd(None).contains("-y -copyts -protocol_whitelist"));
    }

    #[test]
    fn signature_filters_end_each_chain() {
        let profiles = [standard("P240p30fps16x9"), standard("P360p30fps16x9")];
        let cmd = |slice| {
            let opts = TranscodeOptions {
                slice,
                calc_signature: true,
                ..opts(InputFormat::MpegTs, "veryfast")
            };
            ladder_args(Path::new("/in/seg.ts"), &profiles, Path::new("/out"), &opts)
                .expect("args")
                .join(" ")
        };
        let whole = cmd(None);
        assert!(
            whole.contains(
                "fps=30/1,format=yuv420p,signature=filename=/out/rendition_0.ts.bin[v0];"
            ),
            "{whole}"
        );
        assert!(
            whole.contains("signature=filename=/out/rendition_1.ts.bin[v1] -map [v0] "),
            "{whole}"
        );
        // A slice is cut before the signature too, with the output's own bounds.
        let sliced = cmd(Slice::from_ms(250, 1500).expect("slice"));
        assert!(
            sliced.contains(
                "format=yuv420p,trim=starti=0.250:durationi=1.250,signature=filename=/out/rendition_0.ts.bin[v0]"
            ),
            "{sliced}"
        );
        assert!(sliced.contains("-c:a copy -ss 0.250 -to 1.500"), "{sliced}");
        let to_only = cmd(Slice::from_ms(0, 1000).expect("slice"));
        assert!(
            to_only.contains(",trim=durationi=1.000,signature="),
            "{to_only}"
        );
        let from_only = cmd(Slice::from_ms(40, 0).expect("slice"));
        assert!(
            from_only.contains(",trim=starti=0.040,signature="),
            "{from_only}"
        );
        // Without the option, no signature and no extra trim.
        let plain = ladder_args(
            Path::new("/in/seg.ts"),
            &profiles,
            Path::new("/out"),
            &opts(InputFormat::MpegTs, "veryfast"),
        )
        .expect("args")
        .join(" ");
        assert!(
            !plain.contains("signature") && !plain.contains("trim"),
            "{plain}"
        );
    }

    #[test]
    fn filter_values_are_escaped_for_both_parsers() {
        let cases = [
            (
                "scratch/job-1/rendition_0.ts.bin",
                "scratch/job-1/rendition_0.ts.bin",
            ),
            ("/data dir/a.bin", "/data\\\\\\ dir/a.bin"),
            ("/d:x/a.bin", "/d\\\\:x/a.bin"),
            ("/d[1],x;y/a.bin", "/d\\[1\\]\\,x\\;y/a.bin"),
            ("/it's/a.bin", "/it\\\\\\'s/a.bin"),
        ];
        for (given, want) in cases {
            assert_eq!(filter_value_escape(given), want, "{given}");
        }
    }

    #[test]
    fn rendition_paths() {
        let mut p = standard("P240p30fps16x9");
        assert_eq!(
            rendition_path(Path::new("/x"), 3, &p),
            Path::new("/x/rendition_3.ts")
        );
        assert_eq!(
            signature_path(Path::new("/x"), 3, &p),
            Path::new("/x/rendition_3.ts.bin")
        );
        p.format = Format::Mp4;
        assert_eq!(
            rendition_path(Path::new("/x"), 0, &p),
            Path::new("/x/rendition_0.mp4")
        );
    }
}
