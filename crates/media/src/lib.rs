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
//! - [`Ffmpeg::segment_file`]: a file into ~2 s MPEG-TS segments by stream copy.
//!
//! Children run under tokio with `kill_on_drop`, a deadline and a cancellation token; a
//! killed job returns [`MediaError::Timeout`] or [`MediaError::Cancelled`] after the child is
//! reaped, and a corrupt input returns [`MediaError::Ffmpeg`] carrying ffmpeg's own error
//! lines. Nothing blocks the runtime. [`testing`] locates the real test clips for every
//! crate's tests.

mod error;
mod ladder;
mod probe;
mod process;
mod segment;
pub mod testing;

use std::path::{Path, PathBuf};

pub use error::MediaError;
pub use ladder::{
    DEFAULT_TRANSCODE_TIMEOUT, DEFAULT_X264_PRESET, MAX_OUTPUT_SIDE, Rendition, TranscodeOptions,
    X264_PRESETS, ladder_args, output_resolution, rendition_path,
};
pub use probe::{DEFAULT_PROBE_TIMEOUT, FrameRate, MediaInfo};
pub use process::{FFMPEG_ENV, FFPROBE_ENV, Ffmpeg};
pub use segment::{DEFAULT_SEGMENT_DURATION, SegmentInfo};
pub use tokio_util::sync::CancellationToken;

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

/// A private temporary directory for one job's work files.
pub(crate) struct ScratchDir {
    dir: tempfile::TempDir,
}

impl ScratchDir {
    /// Creates it under the system temp directory (off the runtime thread).
    pub async fn new() -> Result<Self, MediaError> {
        let created = tokio::task::spawn_blocking(|| {
            tempfile::Builder::new().prefix("livepeer-media-").tempdir()
        })
        .await
        .map_err(|e| {
            MediaError::io(
                "create directory",
                std::env::temp_dir(),
                std::io::Error::other(e),
            )
        })?;
        let dir =
            created.map_err(|e| MediaError::io("create directory", std::env::temp_dir(), e))?;
        Ok(Self { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `data` to `<dir>/input` and returns that path.
    pub async fn write_input(&self, data: &[u8]) -> Result<PathBuf, MediaError> {
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
