//! Video profiles: the renditions a gateway asks an orchestrator for.
//!
//! A [`VideoProfile`] is one rung of a transcoding ladder (size, bitrate, frame rate, container,
//! codec settings). This module holds
//! - the fourteen standard profiles of lpms `ffmpeg/videoprofile.go`, by their go-livepeer names
//!   ([`VideoProfile::standard`], [`STANDARD_PROFILE_NAMES`]);
//! - the parser for go-livepeer's `-transcodingOptions` flag ([`parse_transcoding_options`]): a
//!   comma list of standard names, or a path to a JSON file of renditions in lpms's `JsonProfile`
//!   shape ([`parse_profiles_json`]);
//! - the wire numbers of the profile enums (`net.VideoProfile` in go-livepeer's `lp_rpc.proto`).
//!
//! No I/O happens here except reading the JSON file that [`parse_transcoding_options`] is given.

use std::{fmt, path::Path, time::Duration};

use serde::Deserialize;

/// go-livepeer's default `-transcodingOptions` (`cmd/livepeer/starter/starter.go`): the 240p
/// and 360p 30 fps 16:9 renditions.
pub const DEFAULT_TRANSCODING_OPTIONS: &str = "P240p30fps16x9,P360p30fps16x9";

/// Colour depth, in bits per sample, that lpms's JSON parser substitutes for a missing or zero
/// `colorDepth` (`ParseProfilesFromJsonProfileArray` in lpms `ffmpeg/videoprofile.go`).
pub const DEFAULT_COLOR_DEPTH_BITS: i32 = 8;

/// The names of the standard profiles, in the order lpms `ffmpeg/videoprofile.go` defines them.
///
/// All fourteen are accepted by [`VideoProfile::standard`]. Note that go-livepeer's lookup map
/// (`VideoProfileLookup`) lacks `P144p25fps16x9` although the profile is defined; we accept it
/// anyway, so a `-transcodingOptions` that names it works here and fails on go-livepeer.
pub const STANDARD_PROFILE_NAMES: [&str; 14] = [
    "P720p60fps16x9",
    "P720p30fps16x9",
    "P720p25fps16x9",
    "P720p30fps4x3",
    "P576p30fps16x9",
    "P576p25fps16x9",
    "P360p30fps16x9",
    "P360p25fps16x9",
    "P360p30fps4x3",
    "P240p30fps16x9",
    "P240p25fps16x9",
    "P240p30fps4x3",
    "P144p30fps16x9",
    "P144p25fps16x9",
];

/// `(name, width, height, bitrate in bits/s, fps)` of every standard profile, from the constants
/// (not the stale comment above them) in lpms `ffmpeg/videoprofile.go`.
const STANDARD_PROFILES: [(&str, u32, u32, u32, u32); 14] = [
    ("P720p60fps16x9", 1280, 720, 6_000_000, 60),
    ("P720p30fps16x9", 1280, 720, 4_000_000, 30),
    ("P720p25fps16x9", 1280, 720, 3_500_000, 25),
    ("P720p30fps4x3", 960, 720, 3_500_000, 30),
    ("P576p30fps16x9", 1024, 576, 1_500_000, 30),
    ("P576p25fps16x9", 1024, 576, 1_500_000, 25),
    ("P360p30fps16x9", 640, 360, 1_200_000, 30),
    ("P360p25fps16x9", 640, 360, 1_000_000, 25),
    ("P360p30fps4x3", 480, 360, 1_000_000, 30),
    ("P240p30fps16x9", 426, 240, 600_000, 30),
    ("P240p25fps16x9", 426, 240, 600_000, 25),
    ("P240p30fps4x3", 320, 240, 600_000, 30),
    ("P144p30fps16x9", 256, 144, 400_000, 30),
    ("P144p25fps16x9", 256, 144, 400_000, 25),
];

/// Errors from parsing transcoding options, JSON profiles and profile wire numbers.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// A comma-list entry is not one of [`STANDARD_PROFILE_NAMES`].
    #[error("unknown video profile {name:?}; standard profiles are {}", STANDARD_PROFILE_NAMES.join(", "))]
    UnknownProfile {
        /// The entry as given (trimmed).
        name: String,
    },
    /// The transcoding options named no profile at all (empty string or only commas).
    #[error("no video profiles given")]
    NoProfiles,
    /// The JSON profile file could not be read.
    #[error("cannot read transcoding options file {path}: {source}")]
    ReadFile {
        /// The path that was given.
        path: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The JSON text is not an array of profile objects (or `{"profiles": [...]}`).
    #[error("cannot parse JSON profiles: {source}")]
    Json {
        /// serde_json's description, with line and column.
        #[from]
        source: serde_json::Error,
    },
    /// A JSON profile has a missing, zero, negative or over-large width or height.
    #[error(
        "profile {name:?}: invalid resolution {width}x{height}; width and height must be 1..=65535"
    )]
    InvalidResolution {
        /// The profile's name (or its position, `#i`, when unnamed).
        name: String,
        /// The width as given (0 when missing).
        width: i64,
        /// The height as given (0 when missing).
        height: i64,
    },
    /// A JSON profile has a missing, zero, negative or over-large bitrate.
    #[error("profile {name:?}: invalid bitrate {bitrate} b/s; it must be 1..=2147483647")]
    InvalidBitrate {
        /// The profile's name (or its position, `#i`, when unnamed).
        name: String,
        /// The bitrate as given, in bits per second (0 when missing).
        bitrate: i64,
    },
    /// A JSON profile's `gop` is neither `"intra"` nor a positive number of seconds.
    #[error(
        "profile {name:?}: invalid gop {value:?}; use \"intra\" or a positive number of seconds"
    )]
    InvalidGop {
        /// The profile's name.
        name: String,
        /// The `gop` value as given.
        value: String,
    },
    /// A JSON profile's `profile` is not one of lpms's H.264 profile names.
    #[error(
        "profile {name:?}: unknown H.264 profile {value:?}; use H264Baseline, H264Main, H264High, H264ConstrainedHigh or \"\""
    )]
    UnknownH264Profile {
        /// The profile's name.
        name: String,
        /// The `profile` value as given.
        value: String,
    },
    /// A JSON profile's `encoder` is not a known codec name.
    #[error("profile {name:?}: unknown encoder {value:?}; use H.264, HEVC, VP8 or VP9")]
    UnknownEncoder {
        /// The profile's name.
        name: String,
        /// The `encoder` value as given.
        value: String,
    },
    /// A JSON numeric field is out of range (negative `fps`, `chromaFormat` outside 0..=2, ...).
    #[error("profile {name:?}: field {field} has invalid value {value}")]
    InvalidField {
        /// The profile's name.
        name: String,
        /// The JSON field name.
        field: &'static str,
        /// The value as given.
        value: i64,
    },
    /// A wire enum value (from `net.VideoProfile`) has no meaning.
    #[error("invalid wire value {value} for VideoProfile.{field}")]
    InvalidWireValue {
        /// The protobuf field name (`format`, `profile`, `gop`, `encoder`, `chromaFormat`).
        field: &'static str,
        /// The value received.
        value: i64,
    },
}

/// Output container of a rendition. Wire: `VideoProfile.Format` (MPEGTS = 0, MP4 = 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// MPEG transport stream (`.ts`), the default.
    #[default]
    MpegTs,
    /// MP4 (`.mp4`); lpms writes it with `movflags=faststart`.
    Mp4,
}

impl Format {
    /// The `net.VideoProfile.Format` number.
    pub fn as_wire(self) -> i32 {
        match self {
            Self::MpegTs => 0,
            Self::Mp4 => 1,
        }
    }

    /// Parses a `net.VideoProfile.Format` number; errors with
    /// [`ProfileError::InvalidWireValue`] for anything but 0 and 1.
    pub fn from_wire(value: i32) -> Result<Self, ProfileError> {
        match value {
            0 => Ok(Self::MpegTs),
            1 => Ok(Self::Mp4),
            _ => Err(ProfileError::InvalidWireValue {
                field: "format",
                value: value.into(),
            }),
        }
    }

    /// File extension with the dot, as lpms `FormatExtensions`: `.ts` or `.mp4`.
    pub fn extension(self) -> &'static str {
        match self {
            Self::MpegTs => ".ts",
            Self::Mp4 => ".mp4",
        }
    }

    /// The MIME type of a file in this format (go-livepeer `common.ProfileFormatMimeType`).
    pub fn mime_type(self) -> &'static str {
        match self {
            Self::MpegTs => "video/mp2t",
            Self::Mp4 => "video/mp4",
        }
    }
}

/// H.264 encoder profile. Wire: `VideoProfile.Profile` (ENCODER_DEFAULT = 0, H264_BASELINE = 1,
/// H264_MAIN = 2, H264_HIGH = 3, H264_CONSTRAINED_HIGH = 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum H264Profile {
    /// Whatever the encoder picks (x264: High for 8-bit 4:2:0).
    #[default]
    EncoderDefault,
    /// Baseline (no B-frames).
    Baseline,
    /// Main.
    Main,
    /// High.
    High,
    /// "Constrained High": lpms encodes it as High with B-frames off.
    ConstrainedHigh,
}

impl H264Profile {
    /// The `net.VideoProfile.Profile` number.
    pub fn as_wire(self) -> i32 {
        match self {
            Self::EncoderDefault => 0,
            Self::Baseline => 1,
            Self::Main => 2,
            Self::High => 3,
            Self::ConstrainedHigh => 4,
        }
    }

    /// Parses a `net.VideoProfile.Profile` number; errors with
    /// [`ProfileError::InvalidWireValue`] outside 0..=4.
    pub fn from_wire(value: i32) -> Result<Self, ProfileError> {
        match value {
            0 => Ok(Self::EncoderDefault),
            1 => Ok(Self::Baseline),
            2 => Ok(Self::Main),
            3 => Ok(Self::High),
            4 => Ok(Self::ConstrainedHigh),
            _ => Err(ProfileError::InvalidWireValue {
                field: "profile",
                value: value.into(),
            }),
        }
    }

    /// Parses lpms's JSON name, case-insensitively (`EncoderProfileLookup`): `""` or `"none"`,
    /// `H264Baseline`, `H264Main`, `H264High`, `H264ConstrainedHigh`.
    pub fn from_json_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "" | "none" => Some(Self::EncoderDefault),
            "h264baseline" => Some(Self::Baseline),
            "h264main" => Some(Self::Main),
            "h264high" => Some(Self::High),
            "h264constrainedhigh" => Some(Self::ConstrainedHigh),
            _ => None,
        }
    }

    /// lpms's JSON name (`""` for the encoder default).
    pub fn json_name(self) -> &'static str {
        match self {
            Self::EncoderDefault => "",
            Self::Baseline => "H264Baseline",
            Self::Main => "H264Main",
            Self::High => "H264High",
            Self::ConstrainedHigh => "H264ConstrainedHigh",
        }
    }

    /// The encoder's `profile` option (lpms `ProfileParameters`): `None` for the encoder
    /// default, `"high"` for Constrained High.
    pub fn encoder_profile(self) -> Option<&'static str> {
        match self {
            Self::EncoderDefault => None,
            Self::Baseline => Some("baseline"),
            Self::Main => Some("main"),
            Self::High | Self::ConstrainedHigh => Some("high"),
        }
    }
}

/// Keyframe interval of a rendition. Wire: `VideoProfile.gop`, an int32 of milliseconds where
/// 0 is the encoder default and -1 means intra-only (lpms `GOPIntraOnly`; other negative values
/// are invalid, see go-livepeer `core/streamdata.go` and lpms `GOPInvalid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Gop {
    /// The encoder's default keyframe placement.
    #[default]
    Default,
    /// Every frame is a keyframe.
    Intra,
    /// A keyframe at least this often (lpms: keyint = seconds × fps with an fps set, otherwise
    /// keyframes forced by elapsed time). Never zero.
    Every(Duration),
}

impl Gop {
    /// The `net.VideoProfile.gop` number: 0, -1, or whole milliseconds (saturating at
    /// `i32::MAX`; a sub-millisecond GOP truncates to 0 as in go-livepeer).
    pub fn as_wire(self) -> i32 {
        match self {
            Self::Default => 0,
            Self::Intra => -1,
            Self::Every(d) => i32::try_from(d.as_millis()).unwrap_or(i32::MAX),
        }
    }

    /// Parses a `net.VideoProfile.gop` number; errors with [`ProfileError::InvalidWireValue`]
    /// for negative values other than -1.
    pub fn from_wire(value: i32) -> Result<Self, ProfileError> {
        match value {
            0 => Ok(Self::Default),
            -1 => Ok(Self::Intra),
            ms if ms > 0 => Ok(Self::Every(Duration::from_millis(ms.unsigned_abs().into()))),
            _ => Err(ProfileError::InvalidWireValue {
                field: "gop",
                value: value.into(),
            }),
        }
    }
}

/// Video codec of a rendition. Wire: `VideoProfile.VideoCodec` (H264 = 0, H265 = 1, VP8 = 2,
/// VP9 = 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum VideoCodec {
    /// H.264 / AVC (the only codec go-livepeer's CPU build encodes).
    #[default]
    H264,
    /// H.265 / HEVC.
    H265,
    /// VP8.
    Vp8,
    /// VP9.
    Vp9,
}

impl VideoCodec {
    /// The `net.VideoProfile.VideoCodec` number.
    pub fn as_wire(self) -> i32 {
        match self {
            Self::H264 => 0,
            Self::H265 => 1,
            Self::Vp8 => 2,
            Self::Vp9 => 3,
        }
    }

    /// Parses a `net.VideoProfile.VideoCodec` number; errors with
    /// [`ProfileError::InvalidWireValue`] outside 0..=3.
    pub fn from_wire(value: i32) -> Result<Self, ProfileError> {
        match value {
            0 => Ok(Self::H264),
            1 => Ok(Self::H265),
            2 => Ok(Self::Vp8),
            3 => Ok(Self::Vp9),
            _ => Err(ProfileError::InvalidWireValue {
                field: "encoder",
                value: value.into(),
            }),
        }
    }

    /// Parses a JSON `encoder` name, case-insensitively. lpms `CodecNameToValue` accepts `""`
    /// (H.264), `H.264`, `HEVC`, `VP8`, `VP9`; we also accept `H264`, `H.265` and `H265`.
    pub fn from_json_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "" | "h.264" | "h264" => Some(Self::H264),
            "hevc" | "h.265" | "h265" => Some(Self::H265),
            "vp8" => Some(Self::Vp8),
            "vp9" => Some(Self::Vp9),
            _ => None,
        }
    }

    /// lpms's display name (`VideoCodecName`): `H.264`, `HEVC`, `VP8`, `VP9`.
    pub fn name(self) -> &'static str {
        match self {
            Self::H264 => "H.264",
            Self::H265 => "HEVC",
            Self::Vp8 => "VP8",
            Self::Vp9 => "VP9",
        }
    }
}

/// Chroma subsampling. Wire: `VideoProfile.ChromaSubsampling` (CHROMA_420 = 0, CHROMA_422 = 1,
/// CHROMA_444 = 2); the JSON `chromaFormat` uses the same numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ChromaSubsampling {
    /// 4:2:0, the default.
    #[default]
    Yuv420,
    /// 4:2:2.
    Yuv422,
    /// 4:4:4.
    Yuv444,
}

impl ChromaSubsampling {
    /// The `net.VideoProfile.ChromaSubsampling` number.
    pub fn as_wire(self) -> i32 {
        match self {
            Self::Yuv420 => 0,
            Self::Yuv422 => 1,
            Self::Yuv444 => 2,
        }
    }

    /// Parses a `net.VideoProfile.ChromaSubsampling` number; errors with
    /// [`ProfileError::InvalidWireValue`] outside 0..=2.
    pub fn from_wire(value: i32) -> Result<Self, ProfileError> {
        match value {
            0 => Ok(Self::Yuv420),
            1 => Ok(Self::Yuv422),
            2 => Ok(Self::Yuv444),
            _ => Err(ProfileError::InvalidWireValue {
                field: "chromaFormat",
                value: value.into(),
            }),
        }
    }
}

/// One rendition of a transcoding ladder (lpms `ffmpeg.VideoProfile`, wire `net.VideoProfile`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VideoProfile {
    /// Rendition name, e.g. `P240p30fps16x9`; JSON profiles without a name get
    /// `custom_<w>x<h>_<bitrate>` (lpms `DefaultProfileName`).
    pub name: String,
    /// Requested width in pixels. The output keeps the larger of width and height and follows
    /// the source aspect ratio for the other side (see livepeer-media `output_resolution`).
    pub width: u32,
    /// Requested height in pixels.
    pub height: u32,
    /// Target bitrate in bits per second (lpms uses it as min, average and max rate and as the
    /// VBV buffer size).
    pub bitrate_bps: u32,
    /// Output frame rate numerator in frames per second; 0 = pass the source frame rate through.
    pub fps: u32,
    /// Output frame rate denominator; 0 or 1 both mean an integer `fps`.
    pub fps_den: u32,
    /// Output container.
    pub format: Format,
    /// H.264 profile.
    pub profile: H264Profile,
    /// Keyframe interval.
    pub gop: Gop,
    /// Output codec.
    pub encoder: VideoCodec,
    /// Colour depth in bits per sample (lpms default 8; used for capability checks, not passed
    /// to the encoder).
    pub color_depth: i32,
    /// Chroma subsampling (used for capability checks, not passed to the encoder).
    pub chroma_format: ChromaSubsampling,
    /// Constant-quality target (x264 CRF); 0 = bitrate-driven only.
    pub quality: u32,
}

impl VideoProfile {
    /// The standard profile with this go-livepeer name (exact, case-sensitive), or `None`.
    ///
    /// Accepts all of [`STANDARD_PROFILE_NAMES`], including `P144p25fps16x9`, which go-livepeer
    /// defines but leaves out of its lookup map. Standard profiles set no GOP, H.264 profile or
    /// codec: H.264, MPEG-TS, encoder defaults, 8-bit 4:2:0.
    pub fn standard(name: &str) -> Option<Self> {
        STANDARD_PROFILES.iter().find(|p| p.0 == name).map(
            |&(name, width, height, bitrate_bps, fps)| Self {
                name: name.to_owned(),
                width,
                height,
                bitrate_bps,
                fps,
                fps_den: 0,
                format: Format::MpegTs,
                profile: H264Profile::EncoderDefault,
                gop: Gop::Default,
                encoder: VideoCodec::H264,
                color_depth: DEFAULT_COLOR_DEPTH_BITS,
                chroma_format: ChromaSubsampling::Yuv420,
                quality: 0,
            },
        )
    }

    /// The output frame rate as `(numerator, denominator)` in frames per second, or `None` for
    /// passthrough (`fps == 0`). A zero denominator is read as 1 (lpms does the same).
    pub fn frame_rate(&self) -> Option<(u32, u32)> {
        (self.fps > 0).then(|| (self.fps, self.fps_den.max(1)))
    }
}

impl fmt::Display for VideoProfile {
    /// `name (WxH, N b/s, F fps)`, for logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}x{}, {} b/s, ",
            self.name, self.width, self.height, self.bitrate_bps
        )?;
        match self.frame_rate() {
            Some((n, 1)) => write!(f, "{n} fps)"),
            Some((n, d)) => write!(f, "{n}/{d} fps)"),
            None => f.write_str("source fps)"),
        }
    }
}

/// Parses a `-transcodingOptions` value as go-livepeer does (`cmd/livepeer/starter`).
///
/// - If `value` ends in `.json` or names an existing file, that file is read and parsed with
///   [`parse_profiles_json`]; a missing `.json` file is [`ProfileError::ReadFile`].
/// - Otherwise `value` is a comma list of [`STANDARD_PROFILE_NAMES`]; entries are trimmed and
///   empty entries skipped. Unlike go-livepeer, which silently drops unknown names, an unknown
///   name is [`ProfileError::UnknownProfile`].
///
/// An empty result is [`ProfileError::NoProfiles`]. Reads the file with blocking I/O; call it
/// at start-up, not on a runtime worker.
pub fn parse_transcoding_options(value: &str) -> Result<Vec<VideoProfile>, ProfileError> {
    let trimmed = value.trim();
    let path = Path::new(trimmed);
    if trimmed.to_ascii_lowercase().ends_with(".json") || (!trimmed.is_empty() && path.is_file()) {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::ReadFile {
            path: trimmed.to_owned(),
            source,
        })?;
        return parse_profiles_json(&text);
    }
    let profiles = trimmed
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(|name| {
            VideoProfile::standard(name).ok_or_else(|| ProfileError::UnknownProfile {
                name: name.to_owned(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if profiles.is_empty() {
        return Err(ProfileError::NoProfiles);
    }
    Ok(profiles)
}

/// One rendition in lpms's `JsonProfile` shape. Field names are matched case-insensitively, as
/// Go's `encoding/json` does; unknown fields are ignored.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct JsonProfile {
    name: String,
    width: i64,
    height: i64,
    bitrate: i64,
    fps: i64,
    fpsden: i64,
    profile: String,
    gop: Option<serde_json::Value>,
    encoder: String,
    colordepth: i64,
    chromaformat: i64,
    quality: i64,
}

/// Parses a JSON array of renditions in lpms's `JsonProfile` shape (lpms `ParseProfiles`):
/// `[{"name", "width", "height", "bitrate" (b/s), "fps", "fpsDen", "profile", "gop",
/// "encoder", "colorDepth", "chromaFormat", "quality"}, ...]`. An object `{"profiles": [...]}`
/// is accepted too.
///
/// - `profile`: `""`/`none`, `H264Baseline`, `H264Main`, `H264High`, `H264ConstrainedHigh`
///   (any case);
/// - `gop`: `"intra"` or a positive number of seconds, as a string (`"2"`, `"0.5"`) or a number;
///   absent or `""` = encoder default;
/// - `encoder`: `H.264` (default), `HEVC`, `VP8`, `VP9` (also `H264`, `H.265`);
/// - `colorDepth` 0 becomes 8; `chromaFormat` is 0 (4:2:0), 1 (4:2:2) or 2 (4:4:4);
/// - an empty `name` becomes `custom_<w>x<h>_<bitrate>`.
///
/// Errors: [`ProfileError::Json`] for malformed JSON, [`ProfileError::InvalidResolution`] for a
/// missing or non-positive width/height, [`ProfileError::InvalidBitrate`] for a missing or
/// non-positive bitrate, and the field-specific variants above; [`ProfileError::NoProfiles`] for
/// an empty list.
pub fn parse_profiles_json(text: &str) -> Result<Vec<VideoProfile>, ProfileError> {
    let value: serde_json::Value = serde_json::from_str(text)?;
    let list = match value {
        serde_json::Value::Object(mut obj) => match obj.remove("profiles") {
            Some(list) => list,
            None => serde_json::Value::Object(obj),
        },
        other => other,
    };
    let items: Vec<serde_json::Map<String, serde_json::Value>> = serde_json::from_value(list)?;
    if items.is_empty() {
        return Err(ProfileError::NoProfiles);
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let lowered: serde_json::Map<String, serde_json::Value> = item
                .into_iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect();
            let json: JsonProfile = serde_json::from_value(serde_json::Value::Object(lowered))?;
            profile_from_json(i, json)
        })
        .collect()
}

fn profile_from_json(index: usize, json: JsonProfile) -> Result<VideoProfile, ProfileError> {
    let label = if json.name.is_empty() {
        format!("#{index}")
    } else {
        json.name.clone()
    };
    let width = u32::try_from(json.width)
        .ok()
        .filter(|w| (1..=65_535).contains(w));
    let height = u32::try_from(json.height)
        .ok()
        .filter(|h| (1..=65_535).contains(h));
    let (Some(width), Some(height)) = (width, height) else {
        return Err(ProfileError::InvalidResolution {
            name: label,
            width: json.width,
            height: json.height,
        });
    };
    let bitrate_bps = u32::try_from(json.bitrate)
        .ok()
        .filter(|b| (1..=i32::MAX.unsigned_abs()).contains(b))
        .ok_or(ProfileError::InvalidBitrate {
            name: label.clone(),
            bitrate: json.bitrate,
        })?;
    let name = if json.name.is_empty() {
        format!("custom_{width}x{height}_{bitrate_bps}")
    } else {
        json.name
    };
    let field = |field: &'static str, value: i64| -> Result<u32, ProfileError> {
        u32::try_from(value).map_err(|_| ProfileError::InvalidField {
            name: name.clone(),
            field,
            value,
        })
    };
    let fps = field("fps", json.fps)?;
    let fps_den = field("fpsDen", json.fpsden)?;
    let quality = field("quality", json.quality)?;
    let color_depth = match json.colordepth {
        0 => DEFAULT_COLOR_DEPTH_BITS,
        d => i32::try_from(d)
            .ok()
            .filter(|d| *d > 0)
            .ok_or(ProfileError::InvalidField {
                name: name.clone(),
                field: "colorDepth",
                value: d,
            })?,
    };
    let chroma_format = i32::try_from(json.chromaformat)
        .ok()
        .and_then(|c| ChromaSubsampling::from_wire(c).ok())
        .ok_or(ProfileError::InvalidField {
            name: name.clone(),
            field: "chromaFormat",
            value: json.chromaformat,
        })?;
    let profile = H264Profile::from_json_name(&json.profile).ok_or_else(|| {
        ProfileError::UnknownH264Profile {
            name: name.clone(),
            value: json.profile.clone(),
        }
    })?;
    let encoder =
        VideoCodec::from_json_name(&json.encoder).ok_or_else(|| ProfileError::UnknownEncoder {
            name: name.clone(),
            value: json.encoder.clone(),
        })?;
    let gop = parse_gop(&name, json.gop.as_ref())?;
    Ok(VideoProfile {
        name,
        width,
        height,
        bitrate_bps,
        fps,
        fps_den,
        format: Format::MpegTs,
        profile,
        gop,
        encoder,
        color_depth,
        chroma_format,
        quality,
    })
}

/// lpms: `"intra"` → intra-only; otherwise a positive float of seconds; empty → default.
fn parse_gop(name: &str, value: Option<&serde_json::Value>) -> Result<Gop, ProfileError> {
    let invalid = |value: String| ProfileError::InvalidGop {
        name: name.to_owned(),
        value,
    };
    let seconds = match value {
        None | Some(serde_json::Value::Null) => return Ok(Gop::Default),
        Some(serde_json::Value::String(s)) if s.is_empty() => return Ok(Gop::Default),
        Some(serde_json::Value::String(s)) if s.eq_ignore_ascii_case("intra") => {
            return Ok(Gop::Intra);
        }
        Some(serde_json::Value::String(s)) => {
            s.trim().parse::<f64>().map_err(|_| invalid(s.clone()))?
        }
        Some(serde_json::Value::Number(n)) => n.as_f64().ok_or_else(|| invalid(n.to_string()))?,
        Some(other) => return Err(invalid(other.to_string())),
    };
    let raw = || value.map(|v| v.to_string()).unwrap_or_default();
    if !seconds.is_finite() || seconds <= 0.0 {
        return Err(invalid(raw()));
    }
    let gop = Duration::try_from_secs_f64(seconds).map_err(|_| invalid(raw()))?;
    if gop.is_zero() {
        return Err(invalid(raw()));
    }
    Ok(Gop::Every(gop))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_profiles_match_lpms_constants() {
        // name, width, height, bitrate (b/s), fps
        let table: [(&str, u32, u32, u32, u32); 14] = [
            ("P720p60fps16x9", 1280, 720, 6_000_000, 60),
            ("P720p30fps16x9", 1280, 720, 4_000_000, 30),
            ("P720p25fps16x9", 1280, 720, 3_500_000, 25),
            ("P720p30fps4x3", 960, 720, 3_500_000, 30),
            ("P576p30fps16x9", 1024, 576, 1_500_000, 30),
            ("P576p25fps16x9", 1024, 576, 1_500_000, 25),
            ("P360p30fps16x9", 640, 360, 1_200_000, 30),
            ("P360p25fps16x9", 640, 360, 1_000_000, 25),
            ("P360p30fps4x3", 480, 360, 1_000_000, 30),
            ("P240p30fps16x9", 426, 240, 600_000, 30),
            ("P240p25fps16x9", 426, 240, 600_000, 25),
            ("P240p30fps4x3", 320, 240, 600_000, 30),
            ("P144p30fps16x9", 256, 144, 400_000, 30),
            ("P144p25fps16x9", 256, 144, 400_000, 25),
        ];
        for (name, width, height, bitrate, fps) in table {
            let p = VideoProfile::standard(name).unwrap_or_else(|| panic!("{name} missing"));
            assert_eq!(p.name, name);
            assert_eq!(
                (p.width, p.height, p.bitrate_bps, p.fps),
                (width, height, bitrate, fps),
                "{name}"
            );
            assert_eq!(p.frame_rate(), Some((fps, 1)), "{name}");
            assert_eq!(p.format, Format::MpegTs);
            assert_eq!(p.profile, H264Profile::EncoderDefault);
            assert_eq!(p.gop, Gop::Default);
            assert_eq!(p.encoder, VideoCodec::H264);
            assert_eq!(p.color_depth, 8);
            assert_eq!(p.chroma_format, ChromaSubsampling::Yuv420);
        }
        let names: Vec<&str> = table.iter().map(|t| t.0).collect();
        assert_eq!(names, STANDARD_PROFILE_NAMES);
    }

    #[test]
    fn unknown_standard_names() {
        for name in ["", "P1080p30fps16x9", "p240p30fps16x9", " P240p30fps16x9"] {
            assert!(VideoProfile::standard(name).is_none(), "{name:?}");
        }
    }

    #[test]
    fn transcoding_option_lists() {
        let cases: [(&str, &[&str]); 5] = [
            (
                DEFAULT_TRANSCODING_OPTIONS,
                &["P240p30fps16x9", "P360p30fps16x9"],
            ),
            (
                "P720p30fps16x9,P360p30fps16x9,P240p30fps16x9",
                &["P720p30fps16x9", "P360p30fps16x9", "P240p30fps16x9"],
            ),
            (
                " P144p25fps16x9 , P720p60fps16x9,",
                &["P144p25fps16x9", "P720p60fps16x9"],
            ),
            ("P240p30fps4x3", &["P240p30fps4x3"]),
            (
                "P240p30fps16x9,,P240p30fps16x9",
                &["P240p30fps16x9", "P240p30fps16x9"],
            ),
        ];
        for (input, want) in cases {
            let got = parse_transcoding_options(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            let names: Vec<&str> = got.iter().map(|p| p.name.as_str()).collect();
            assert_eq!(names, want, "{input}");
        }
    }

    #[test]
    fn transcoding_option_errors() {
        match parse_transcoding_options("P240p30fps16x9,P999p") {
            Err(ProfileError::UnknownProfile { name }) => assert_eq!(name, "P999p"),
            other => panic!("want UnknownProfile, got {other:?}"),
        }
        for empty in ["", " , ,"] {
            assert!(
                matches!(
                    parse_transcoding_options(empty),
                    Err(ProfileError::NoProfiles)
                ),
                "{empty:?}"
            );
        }
        assert!(matches!(
            parse_transcoding_options("no-such-dir/ladder.json"),
            Err(ProfileError::ReadFile { .. })
        ));
    }

    #[test]
    fn transcoding_options_from_json_file() {
        let dir = std::env::temp_dir().join(format!("lp-profile-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        // No .json extension: an existing file is read too.
        let path = dir.join("ladder.conf");
        std::fs::write(
            &path,
            r#"[{"name":"a","width":640,"height":360,"bitrate":900000,"fps":30}]"#,
        )
        .expect("write");
        let got = parse_transcoding_options(path.to_str().expect("utf-8 path"));
        std::fs::remove_dir_all(&dir).ok();
        let got = got.expect("parse");
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].name.as_str(), got[0].width, got[0].bitrate_bps),
            ("a", 640, 900_000)
        );
    }

    #[test]
    fn json_profiles_full_shape() {
        let text = r#"[
          {"name":"r720","width":1280,"height":720,"bitrate":3000000,"fps":30000,"fpsDen":1001,
           "profile":"H264ConstrainedHigh","gop":"1","encoder":"H.264","colorDepth":10,
           "chromaFormat":1,"quality":23},
          {"width":426,"height":240,"bitrate":250000,"fps":0,"profile":"h264baseline","gop":"intra",
           "encoder":"HEVC"},
          {"name":"half","Width":640,"HEIGHT":360,"bitrate":800000,"gop":0.5,"encoder":"VP9",
           "profile":"","extra":"ignored"},
          {"name":"n","width":256,"height":144,"bitrate":1,"gop":"","encoder":"H264","profile":"H264Main"}
        ]"#;
        let got = parse_profiles_json(text).expect("parse");
        let want = [
            VideoProfile {
                name: "r720".into(),
                width: 1280,
                height: 720,
                bitrate_bps: 3_000_000,
                fps: 30_000,
                fps_den: 1001,
                format: Format::MpegTs,
                profile: H264Profile::ConstrainedHigh,
                gop: Gop::Every(Duration::from_secs(1)),
                encoder: VideoCodec::H264,
                color_depth: 10,
                chroma_format: ChromaSubsampling::Yuv422,
                quality: 23,
            },
            VideoProfile {
                name: "custom_426x240_250000".into(),
                width: 426,
                height: 240,
                bitrate_bps: 250_000,
                fps: 0,
                fps_den: 0,
                format: Format::MpegTs,
                profile: H264Profile::Baseline,
                gop: Gop::Intra,
                encoder: VideoCodec::H265,
                color_depth: 8,
                chroma_format: ChromaSubsampling::Yuv420,
                quality: 0,
            },
            VideoProfile {
                name: "half".into(),
                width: 640,
                height: 360,
                bitrate_bps: 800_000,
                fps: 0,
                fps_den: 0,
                format: Format::MpegTs,
                profile: H264Profile::EncoderDefault,
                gop: Gop::Every(Duration::from_millis(500)),
                encoder: VideoCodec::Vp9,
                color_depth: 8,
                chroma_format: ChromaSubsampling::Yuv420,
                quality: 0,
            },
            VideoProfile {
                name: "n".into(),
                width: 256,
                height: 144,
                bitrate_bps: 1,
                fps: 0,
                fps_den: 0,
                format: Format::MpegTs,
                profile: H264Profile::Main,
                gop: Gop::Default,
                encoder: VideoCodec::H264,
                color_depth: 8,
                chroma_format: ChromaSubsampling::Yuv420,
                quality: 0,
            },
        ];
        assert_eq!(got, want);
        assert_eq!(got[0].frame_rate(), Some((30_000, 1001)));
        assert_eq!(got[1].frame_rate(), None);
        // The object form used by webhooks.
        let wrapped = parse_profiles_json(r#"{"profiles":[{"width":2,"height":2,"bitrate":5}]}"#)
            .expect("parse");
        assert_eq!(wrapped[0].name, "custom_2x2_5");
    }

    #[test]
    fn json_profile_errors() {
        type Check = fn(&ProfileError) -> bool;
        let cases: [(&str, Check); 16] = [
            ("not json", |e| matches!(e, ProfileError::Json { .. })),
            (r#"{"width":1}"#, |e| matches!(e, ProfileError::Json { .. })),
            ("[]", |e| matches!(e, ProfileError::NoProfiles)),
            (r#"[{"height":240,"bitrate":1}]"#, |e| {
                matches!(
                    e,
                    ProfileError::InvalidResolution {
                        width: 0,
                        height: 240,
                        ..
                    }
                )
            }),
            (
                r#"[{"name":"x","width":426,"bitrate":1}]"#,
                |e| matches!(e, ProfileError::InvalidResolution { name, height: 0, .. } if name == "x"),
            ),
            (r#"[{"width":-4,"height":240,"bitrate":1}]"#, |e| {
                matches!(e, ProfileError::InvalidResolution { .. })
            }),
            (r#"[{"width":426,"height":240}]"#, |e| {
                matches!(e, ProfileError::InvalidBitrate { bitrate: 0, .. })
            }),
            (r#"[{"width":426,"height":240,"bitrate":0}]"#, |e| {
                matches!(e, ProfileError::InvalidBitrate { .. })
            }),
            (
                r#"[{"width":426,"height":240,"bitrate":3000000000}]"#,
                |e| matches!(e, ProfileError::InvalidBitrate { .. }),
            ),
            (
                r#"[{"width":426,"height":240,"bitrate":1,"gop":"-1"}]"#,
                |e| matches!(e, ProfileError::InvalidGop { .. }),
            ),
            (
                r#"[{"width":426,"height":240,"bitrate":1,"gop":"0"}]"#,
                |e| matches!(e, ProfileError::InvalidGop { .. }),
            ),
            (
                r#"[{"width":426,"height":240,"bitrate":1,"gop":"often"}]"#,
                |e| matches!(e, ProfileError::InvalidGop { value, .. } if value == "often"),
            ),
            (
                r#"[{"width":426,"height":240,"bitrate":1,"profile":"H264Extreme"}]"#,
                |e| matches!(e, ProfileError::UnknownH264Profile { value, .. } if value == "H264Extreme"),
            ),
            (
                r#"[{"width":426,"height":240,"bitrate":1,"encoder":"AV1"}]"#,
                |e| matches!(e, ProfileError::UnknownEncoder { value, .. } if value == "AV1"),
            ),
            (
                r#"[{"width":426,"height":240,"bitrate":1,"chromaFormat":3}]"#,
                |e| {
                    matches!(
                        e,
                        ProfileError::InvalidField {
                            field: "chromaFormat",
                            value: 3,
                            ..
                        }
                    )
                },
            ),
            (
                r#"[{"width":426,"height":240,"bitrate":1,"fps":-30}]"#,
                |e| {
                    matches!(
                        e,
                        ProfileError::InvalidField {
                            field: "fps",
                            value: -30,
                            ..
                        }
                    )
                },
            ),
        ];
        for (text, check) in cases {
            match parse_profiles_json(text) {
                Err(e) => assert!(check(&e), "{text}: unexpected error {e:?}"),
                Ok(p) => panic!("{text}: parsed to {p:?}"),
            }
        }
    }

    #[test]
    fn unknown_profile_error_names_the_entry() {
        let err = parse_transcoding_options("P240p30fps16x9,Pbogus").expect_err("must fail");
        let msg = err.to_string();
        assert!(msg.contains("\"Pbogus\""), "{msg}");
        assert!(msg.contains("P720p30fps16x9"), "{msg}");
    }

    #[test]
    fn wire_numbers() {
        for (f, n) in [(Format::MpegTs, 0), (Format::Mp4, 1)] {
            assert_eq!(f.as_wire(), n);
            assert_eq!(Format::from_wire(n).expect("valid"), f);
        }
        for (p, n) in [
            (H264Profile::EncoderDefault, 0),
            (H264Profile::Baseline, 1),
            (H264Profile::Main, 2),
            (H264Profile::High, 3),
            (H264Profile::ConstrainedHigh, 4),
        ] {
            assert_eq!(p.as_wire(), n);
            assert_eq!(H264Profile::from_wire(n).expect("valid"), p);
            assert_eq!(H264Profile::from_json_name(p.json_name()), Some(p));
        }
        for (c, n) in [
            (VideoCodec::H264, 0),
            (VideoCodec::H265, 1),
            (VideoCodec::Vp8, 2),
            (VideoCodec::Vp9, 3),
        ] {
            assert_eq!(c.as_wire(), n);
            assert_eq!(VideoCodec::from_wire(n).expect("valid"), c);
            assert_eq!(VideoCodec::from_json_name(c.name()), Some(c));
        }
        for (c, n) in [
            (ChromaSubsampling::Yuv420, 0),
            (ChromaSubsampling::Yuv422, 1),
            (ChromaSubsampling::Yuv444, 2),
        ] {
            assert_eq!(c.as_wire(), n);
            assert_eq!(ChromaSubsampling::from_wire(n).expect("valid"), c);
        }
        for (g, n) in [
            (Gop::Default, 0),
            (Gop::Intra, -1),
            (Gop::Every(Duration::from_millis(2500)), 2500),
        ] {
            assert_eq!(g.as_wire(), n);
            assert_eq!(Gop::from_wire(n).expect("valid"), g);
        }
        assert!(Format::from_wire(2).is_err());
        assert!(H264Profile::from_wire(5).is_err());
        assert!(VideoCodec::from_wire(-1).is_err());
        assert!(ChromaSubsampling::from_wire(3).is_err());
        assert!(matches!(
            Gop::from_wire(-2),
            Err(ProfileError::InvalidWireValue {
                field: "gop",
                value: -2
            })
        ));
    }

    #[test]
    fn encoder_profile_options() {
        let cases = [
            (H264Profile::EncoderDefault, None),
            (H264Profile::Baseline, Some("baseline")),
            (H264Profile::Main, Some("main")),
            (H264Profile::High, Some("high")),
            (H264Profile::ConstrainedHigh, Some("high")),
        ];
        for (p, want) in cases {
            assert_eq!(p.encoder_profile(), want, "{p:?}");
        }
    }

    #[test]
    fn display_for_logs() {
        let p = VideoProfile::standard("P240p30fps16x9").expect("standard");
        assert_eq!(
            p.to_string(),
            "P240p30fps16x9 (426x240, 600000 b/s, 30 fps)"
        );
    }
}
