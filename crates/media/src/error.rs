//! The crate's error type.

use std::{path::PathBuf, process::ExitStatus, time::Duration};

/// Everything that can go wrong while running ffmpeg or ffprobe.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The ffmpeg or ffprobe binary was not found (neither the environment variable nor `PATH`
    /// named an executable file).
    #[error("{program} not found ({searched}); install ffmpeg (`make test` does) or set {env_var}")]
    FfmpegNotFound {
        /// `ffmpeg` or `ffprobe`.
        program: &'static str,
        /// The environment variable that overrides the lookup (`LIVEPEER_FFMPEG`, ...).
        env_var: &'static str,
        /// Where we looked, for the message.
        searched: String,
    },
    /// The binary exists but could not be started.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// The binary's path.
        program: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The job ran past its time limit; the child was killed.
    #[error("{program} timed out after {after:?} and was killed")]
    Timeout {
        /// `ffmpeg` or `ffprobe`.
        program: &'static str,
        /// The limit that passed.
        after: Duration,
    },
    /// The caller's cancellation token fired; the child was killed.
    #[error("{program} job cancelled; the process was killed")]
    Cancelled {
        /// `ffmpeg` or `ffprobe`.
        program: &'static str,
    },
    /// ffmpeg or ffprobe exited with an error; `stderr_tail` holds its own last error lines
    /// (for a corrupt input, e.g. "Invalid data found when processing input").
    #[error("{program} failed ({status}): {stderr_tail}")]
    Ffmpeg {
        /// `ffmpeg` or `ffprobe`.
        program: &'static str,
        /// The child's exit status.
        status: ExitStatus,
        /// The child's last error-level log lines (or its last lines, if it logged no error).
        stderr_tail: String,
    },
    /// ffprobe succeeded but its JSON was unusable (malformed, or missing a field we need).
    #[error("cannot use ffprobe output: {detail}")]
    Probe {
        /// What was wrong.
        detail: String,
    },
    /// The input has no video stream (an audio-only segment; lpms `ErrTranscoderVid`).
    #[error("input has no video stream")]
    NoVideoStream,
    /// ffmpeg finished but its end-of-run report lacked a line we rely on (the rendition size
    /// or frame count); a sign of an unsupported ffmpeg version.
    #[error("cannot read ffmpeg's report for rendition {index}: {detail}")]
    Report {
        /// The rendition's position in the ladder.
        index: usize,
        /// What was missing.
        detail: String,
    },
    /// A rendition came out with no frames (nothing in the input could be decoded).
    #[error("rendition {profile} has no frames: the input held no decodable video")]
    NoFrames {
        /// The rendition's profile name.
        profile: String,
    },
    /// A slice whose end is before its start (lpms `ErrTranscoderClipConfig`).
    #[error("invalid slice: to {to_ms} ms is before from {from_ms} ms")]
    InvalidSlice {
        /// `SegParameters.from`, ms.
        from_ms: u64,
        /// `SegParameters.to`, ms.
        to_ms: u64,
    },
    /// `transcode` was given an empty ladder.
    #[error("no video profiles to transcode to")]
    NoProfiles,
    /// A profile asks for something this CPU transcoder cannot make (a codec other than H.264,
    /// zero size or bitrate).
    #[error("profile {profile} is not supported: {reason}")]
    UnsupportedProfile {
        /// The profile's name.
        profile: String,
        /// Why.
        reason: String,
    },
    /// The x264 preset is not one of [`crate::X264_PRESETS`].
    #[error("unknown x264 preset {preset:?}")]
    UnknownPreset {
        /// The preset as given.
        preset: String,
    },
    /// `segment_file` was asked for segments of zero length.
    #[error("segment length must be positive, got {segment_len:?}")]
    InvalidSegmentLength {
        /// The length given.
        segment_len: Duration,
    },
    /// An MPEG-7 video signature that is not ffmpeg's binary format (empty, truncated, no
    /// coarse or frame signature, an element out of range); lpms `ErrSignCompare`.
    #[error("invalid MPEG-7 signature: {reason}")]
    InvalidSignature {
        /// What was wrong.
        reason: String,
    },
    /// An MPEG-7 video signature, or a rendition to verify, larger than this node accepts.
    #[error("{what}: {got} is more than the limit of {limit}")]
    TooLarge {
        /// What was counted ("bytes", "frame signatures", ...).
        what: &'static str,
        /// How many there were (or were declared).
        got: u64,
        /// The most accepted.
        limit: u64,
    },
    /// Comparing two signatures would take more than `limit` elementary steps; the
    /// comparison was abandoned.
    #[error("comparing the signatures would take more than {limit} steps")]
    SignatureTooCostly {
        /// The step budget.
        limit: u64,
    },
    /// A file operation (temporary input, rendition output, segment list) failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What we were doing ("write", "read", "create directory", ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

impl MediaError {
    /// The error with every path under `dir` replaced by its file name (in ffmpeg's messages
    /// and in file errors), so that it can be shown to a remote peer.
    pub(crate) fn redact(self, dir: &std::path::Path) -> Self {
        match self {
            Self::Ffmpeg {
                program,
                status,
                stderr_tail,
            } => Self::Ffmpeg {
                program,
                status,
                stderr_tail: crate::redact_paths(&stderr_tail, dir),
            },
            Self::Io {
                action,
                path,
                source,
            } if path.starts_with(dir) => Self::Io {
                action,
                path: path.file_name().map(PathBuf::from).unwrap_or_default(),
                source,
            },
            other => other,
        }
    }

    /// True when the error is the input's fault (undecodable, no video, no frames), so a
    /// transcoder should report it to the sender rather than retry: ffmpeg/ffprobe failures on
    /// the job's input, [`MediaError::NoVideoStream`], [`MediaError::NoFrames`] and an
    /// [`MediaError::InvalidSlice`] asked for with it.
    pub fn is_input_fault(&self) -> bool {
        matches!(
            self,
            Self::Ffmpeg { .. }
                | Self::NoVideoStream
                | Self::NoFrames { .. }
                | Self::InvalidSlice { .. }
        )
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
