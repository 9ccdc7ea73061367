//! ffmpeg and ffprobe, supervised: probing media, transcoding a segment into a ladder of
//! renditions, and cutting files into segments.
//!
//! Everything goes through an [`Ffmpeg`] handle (the two binary paths, found once with
//! [`Ffmpeg::locate`]):
//! - [`Ffmpeg::probe`]: size, frame rate, codecs, duration of a file or of a segment's bytes
//!   ([`MediaInfo`]);
//! - [`Ffmpeg::transcode`]: one ffmpeg process per job that decodes once and encodes every
//!   rendition (lpms's structure, worth ~25-35 % wall time against one process per
//!   rendition), returning each [`Rendition`]'s bytes, size, frames and pixels (what
//!   go-livepeer charges for). [`ladder_args`] is the same command as a pure function, so a
//!   benchmark can run it bare, and [`output_resolution`] the lpms geometry rule;
//! - [`Ffmpeg::segment_file`]: a file into ~2 s MPEG-TS segments by stream copy;
//!   [`Ffmpeg::segment_file_for_ingest`] re-encodes video a gateway would refuse to H.264.
//!
//! - [`live`]: a long-running ffmpeg that cuts a live stream fed on stdin into MPEG-TS
//!   segments as it arrives (RTMP ingest, live pipelines);
//! - [`signature`]: MPEG-7 video signatures (capability 14), computed by
//!   [`Ffmpeg::transcode`] when [`TranscodeOptions::calc_signature`] asks, decoded and
//!   compared as a verifying go-livepeer gateway does ([`compare_signatures`]);
//! - [`Ffmpeg::compare_videos`] and [`Ffmpeg::decoded_pixels`]: the rest of go-livepeer's
//!   verification of a rendition (lpms's video comparison, the verifier's pixel recount).
//!
//! Children run under tokio with `kill_on_drop`, a deadline and a cancellation token; a
//! killed job returns [`MediaError::Timeout`] or [`MediaError::Cancelled`] after the child is
//! reaped, and a corrupt input returns [`MediaError::Ffmpeg`] carrying ffmpeg's own error
//! lines. Nothing blocks the runtime. [`testing`] locates the real test clips for every
//! crate's tests.

mod error;
mod ladder;
pub mod live;
mod probe;
mod process;
mod segment;
pub mod signature;
pub mod testing;
mod verify;

use std::path::{Path, PathBuf};

pub use error::MediaError;
pub use ladder::{
    DEFAULT_TRANSCODE_TIMEOUT, DEFAULT_X264_PRESET, MAX_OUTPUT_SIDE, Rendition, Slice,
    TranscodeOptions, X264_PRESETS, ladder_args, output_resolution, rendition_path, signature_path,
};
pub use probe::{DEFAULT_PROBE_TIMEOUT, FrameRate, MediaInfo};
pub use process::{FFMPEG_ENV, FFPROBE_ENV, Ffmpeg};
pub use segment::{DEFAULT_SEGMENT_DURATION, INGEST_VIDEO_CODECS, SegmentInfo};
pub use signature::{SignatureMatch, VideoSignature, compare_signatures};
pub use tokio_util::sync::CancellationToken;
pub use verify::{
    DEFAULT_VERIFY_TIMEOUT, MAX_AUDIO_MISMATCH, MAX_AUDIO_PACKETS, MAX_VERIFY_BYTES,
    VideoFingerprint, rendition_format,
};

/// Media to work on: a file, or bytes in memory (a segment received over HTTP). Bytes are
/// written to a temporary file first, because ffmpeg cannot seek in a pipe (MP4 inputs need
/// it).
#[derive(Debug, Clone, Copy)]
pub enum MediaInput<'a> {
    /// A file on disk.
    Path(&'a Path),
    /// The whole media file in memory.
    Bytes(&'a [u8]),
}

impl<'a> From<&'a Path> for MediaInput<'a> {
    fn from(path: &'a Path) -> Self {
        Self::Path(path)
    }
}

impl<'a> From<&'a PathBuf> for MediaInput<'a> {
    fn from(path: &'a PathBuf) -> Self {
        Self::Path(path)
    }
}

impl<'a> From<&'a [u8]> for MediaInput<'a> {
    fn from(data: &'a [u8]) -> Self {
        Self::Bytes(data)
    }
}

impl<'a> From<&'a Vec<u8>> for MediaInput<'a> {
    fn from(data: &'a Vec<u8>) -> Self {
        Self::Bytes(data)
    }
}

impl<'a> From<&'a bytes::Bytes> for MediaInput<'a> {
    fn from(data: &'a bytes::Bytes) -> Self {
        Self::Bytes(data)
    }
}

/// `file:<path>`, so that ffmpeg never reads a path as a protocol URL (`a:b.ts`).
pub(crate) fn file_url(path: &Path) -> String {
    format!("file:{}", path.display())
}

/// What an input is known to be, which decides whether ffmpeg may guess its format.
///
/// Media from the network must be read as what it claims to be: a segment body that is really
/// an HLS playlist, a concat list or an image2 pattern would otherwise make ffmpeg open other
/// files. [`InputFormat::MpegTs`] forces the MPEG-TS demuxer (`-f mpegts`); every input,
/// whatever its format, is opened with `-protocol_whitelist file`, so ffmpeg never opens a URL
/// and only ever the one local file the node chose (the MPEG-TS demuxer references no other
/// file).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum InputFormat {
    /// A file the node itself chose (a local clip): ffmpeg detects the format, but still may
    /// only open local files.
    #[default]
    Detect,
    /// An MPEG-TS segment (go-livepeer segments are `video/MP2T`): the MPEG-TS demuxer, forced.
    MpegTs,
    /// An MP4 rendition from the network (a profile with format MP4): the MP4/MOV demuxer,
    /// forced (`-f mov`; it opens no referenced file, `enable_drefs` being off).
    Mp4,
}

impl InputFormat {
    /// The input options that go before `-i`: the protocol whitelist, and `-f` when the
    /// format is forced.
    pub fn input_args(self) -> Vec<String> {
        let mut args = vec!["-protocol_whitelist".to_owned(), "file".to_owned()];
        match self {
            Self::Detect => {}
            Self::MpegTs => args.extend(["-f".to_owned(), "mpegts".to_owned()]),
            Self::Mp4 => args.extend(["-f".to_owned(), "mov".to_owned()]),
        }
        args
    }
}

/// Prefix of the directories a [`ScratchRoot`] creates (`livepeer-scratch-<pid>-<random>`).
pub const SCRATCH_PREFIX: &str = "livepeer-scratch-";
/// The lock file inside a scratch root, held exclusively by its process while it lives.
const SCRATCH_LOCK: &str = ".lock";

/// A process's own scratch area: one directory, locked while the process lives, under which
/// every job's work files go (see [`Ffmpeg::with_scratch_root`]).
///
/// Creating one first sweeps the stale scratch roots that dead processes left under the same
/// parent (a SIGKILLed node cannot clean up): a root whose lock file can be locked belongs to
/// no living process and is removed. The directory is removed when the value is dropped.
#[derive(Debug)]
pub struct ScratchRoot {
    dir: PathBuf,
    _lock: std::fs::File,
}

impl ScratchRoot {
    /// Sweeps stale roots under `parent`, then creates and locks a new one there. Returns the
    /// root and how many stale roots were removed. Blocking (file system): call it at start-up.
    ///
    /// Errors: [`MediaError::Io`] when `parent` cannot be created or written.
    pub fn create(parent: &Path) -> Result<(Self, usize), MediaError> {
        std::fs::create_dir_all(parent)
            .map_err(|e| MediaError::io("create directory", parent, e))?;
        let swept = sweep_stale_roots(parent);
        let dir = tempfile::Builder::new()
            .prefix(&format!("{SCRATCH_PREFIX}{}-", std::process::id()))
            .tempdir_in(parent)
            .map_err(|e| MediaError::io("create directory", parent, e))?
            .keep();
        let lock_path = dir.join(SCRATCH_LOCK);
        let lock = std::fs::File::create(&lock_path)
            .map_err(|e| MediaError::io("create", &lock_path, e))?;
        lock.try_lock().map_err(|e| {
            MediaError::io("lock", &lock_path, std::io::Error::other(e.to_string()))
        })?;
        Ok((Self { dir, _lock: lock }, swept))
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for ScratchRoot {
    fn drop(&mut self) {
        if let Err(err) = std::fs::remove_dir_all(&self.dir) {
            tracing::warn!(path = %self.dir.display(), %err, "cannot remove scratch directory");
        }
    }
}

/// Removes the scratch roots under `parent` that no living process holds; returns how many.
fn sweep_stale_roots(parent: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return 0;
    };
    let mut swept = 0;
    for entry in entries.flatten() {
        let is_root = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(SCRATCH_PREFIX));
        if !is_root || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let dir = entry.path();
        // A root without a lock file was being created, or is not ours: leave it.
        let Ok(lock) = std::fs::File::open(dir.join(SCRATCH_LOCK)) else {
            continue;
        };
        if lock.try_lock().is_ok() && std::fs::remove_dir_all(&dir).is_ok() {
            tracing::info!(path = %dir.display(), "removed a stale scratch directory");
            swept += 1;
        }
    }
    swept
}

/// A private temporary directory for one job's work files: under the [`ScratchRoot`] when
/// one is given, else under the system temp directory.
#[derive(Debug)]
pub struct ScratchDir {
    dir: tempfile::TempDir,
}

impl ScratchDir {
    /// Creates it under `root` (or the system temp directory), off the runtime thread.
    ///
    /// Errors: [`MediaError::Io`].
    pub async fn new_in(root: Option<&Path>) -> Result<Self, MediaError> {
        let parent = root.map_or_else(std::env::temp_dir, Path::to_path_buf);
        let where_ = parent.clone();
        let created = tokio::task::spawn_blocking(move || {
            tempfile::Builder::new().prefix("job-").tempdir_in(&parent)
        })
        .await
        .map_err(|e| MediaError::io("create directory", &where_, std::io::Error::other(e)))?;
        let dir = created.map_err(|e| MediaError::io("create directory", &where_, e))?;
        Ok(Self { dir })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `data` to `<dir>/input` and returns that path.
    pub(crate) async fn write_input(&self, data: &[u8]) -> Result<PathBuf, MediaError> {
        let path = self.dir.path().join("input");
        tokio::fs::write(&path, data)
            .await
            .map_err(|e| MediaError::io("write", &path, e))?;
        Ok(path)
    }

    /// Removes the directory without blocking the runtime. (If the future is dropped first,
    /// `TempDir`'s own drop removes it.)
    pub async fn remove(self) {
        let path = self.dir.keep();
        if let Err(err) = tokio::fs::remove_dir_all(&path).await {
            tracing::warn!(path = %path.display(), %err, "cannot remove scratch directory");
        }
    }
}

/// `text` with every path under `dir` replaced by its file name (`file:<root>/job-1/input:
/// Invalid data…` becomes `input: Invalid data…`), so that no message that leaves the node
/// names its scratch directories.
pub(crate) fn redact_paths(text: &str, dir: &Path) -> String {
    let needle = dir.display().to_string();
    if needle.is_empty() || !text.contains(&needle) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(&needle) {
        let mut head = &rest[..pos];
        if let Some(stripped) = head.strip_suffix("file:") {
            head = stripped;
        }
        out.push_str(head);
        let tail = &rest[pos..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, ':' | '\'' | '"' | ',' | ')'))
            .unwrap_or(tail.len());
        let token = &tail[..end];
        out.push_str(
            token
                .rsplit('/')
                .next()
                .filter(|n| !n.is_empty())
                .unwrap_or("scratch"),
        );
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scratch_paths_are_redacted() {
        let dir = Path::new("data/livepeer-scratch-1-abc");
        let cases = [
            (
                "file:data/livepeer-scratch-1-abc/job-x/input: Invalid data found when processing input",
                "input: Invalid data found when processing input",
            ),
            (
                "Error opening input file data/livepeer-scratch-1-abc/job-x/input.",
                "Error opening input file input.",
            ),
            (
                "write data/livepeer-scratch-1-abc: denied",
                "write livepeer-scratch-1-abc: denied",
            ),
            ("nothing to hide", "nothing to hide"),
        ];
        for (given, want) in cases {
            assert_eq!(redact_paths(given, dir), want);
        }
    }

    #[test]
    fn input_options() {
        assert_eq!(
            InputFormat::MpegTs.input_args().join(" "),
            "-protocol_whitelist file -f mpegts"
        );
        assert_eq!(
            InputFormat::Detect.input_args().join(" "),
            "-protocol_whitelist file"
        );
        assert_eq!(
            InputFormat::Mp4.input_args().join(" "),
            "-protocol_whitelist file -f mov"
        );
    }

    #[test]
    fn stale_scratch_roots_are_swept_live_ones_kept() {
        let parent = tempfile::tempdir().expect("temp dir");
        // A root left by a dead process: a lock file nobody holds.
        let stale = parent.path().join(format!("{SCRATCH_PREFIX}999999-old"));
        std::fs::create_dir_all(stale.join("job-1")).expect("stale root");
        std::fs::write(stale.join(SCRATCH_LOCK), b"").expect("stale lock");
        std::fs::write(stale.join("job-1/input"), b"left behind").expect("stale file");
        // Something else in the same parent.
        std::fs::create_dir_all(parent.path().join("unrelated")).expect("unrelated");

        let (live, swept) = ScratchRoot::create(parent.path()).expect("create");
        assert_eq!(swept, 1);
        assert!(!stale.exists(), "the stale root is gone");
        assert!(parent.path().join("unrelated").exists());
        // A second root in the same parent does not sweep the first, which is locked.
        let (other, swept) = ScratchRoot::create(parent.path()).expect("create again");
        assert_eq!(swept, 0);
        assert!(live.path().exists());
        let live_path = live.path().to_path_buf();
        drop(live);
        assert!(!live_path.exists(), "dropping a root removes it");
        drop(other);
    }
}
