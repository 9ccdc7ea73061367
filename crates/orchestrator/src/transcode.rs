//! The orchestrator's local transcoder (`-orchestrator -transcoder`): ffmpeg in this process's
//! supervision, one process per segment (decode once, encode every rendition).

use std::path::Path;
use std::time::Duration;

use livepeer_media::{CancellationToken, Ffmpeg, InputFormat, Rendition, TranscodeOptions};
use livepeer_primitives::profile::VideoProfile;

use crate::OrchestratorError;

/// Transcodes segments with the local ffmpeg.
#[derive(Debug, Clone)]
pub struct LocalTranscoder {
    ffmpeg: Ffmpeg,
    preset: String,
}

impl LocalTranscoder {
    /// A transcoder running `ffmpeg` with x264 `preset` (see `livepeer_media::X264_PRESETS`).
    pub fn new(ffmpeg: Ffmpeg, preset: String) -> Self {
        Self { ffmpeg, preset }
    }

    /// The same transcoder with its work files under `root` (see
    /// `livepeer_media::Ffmpeg::with_scratch_root`).
    pub fn with_scratch_root(self, root: &Path) -> Self {
        Self {
            ffmpeg: self.ffmpeg.with_scratch_root(root),
            ..self
        }
    }

    /// Transcodes the MPEG-TS segment at `input` (read as MPEG-TS only, local file only:
    /// [`InputFormat::MpegTs`]) into `profiles`, killing ffmpeg after `timeout` or when
    /// `cancel` fires.
    ///
    /// `slice` (`SegParameters` from/to, ms) is not supported yet: this node does not
    /// advertise the SegmentSlicing capability, so compatible gateways never send it; a
    /// non-empty slice is refused rather than ignored.
    ///
    /// Errors: [`OrchestratorError::Transcode`] with ffmpeg's own message, or
    /// [`OrchestratorError::BadProfiles`] for a slice.
    pub async fn transcode(
        &self,
        input: &Path,
        profiles: &[VideoProfile],
        slice: Option<(u64, u64)>,
        timeout: Duration,
        cancel: &CancellationToken,
    ) -> Result<Vec<Rendition>, OrchestratorError> {
        if slice.is_some_and(|(from, to)| from != 0 || to != 0) {
            return Err(OrchestratorError::BadProfiles(
                "segment slicing is not supported".into(),
            ));
        }
        let opts = TranscodeOptions {
            preset: self.preset.clone(),
            timeout,
            input_format: InputFormat::MpegTs,
        };
        Ok(self
            .ffmpeg
            .transcode(input, profiles, &opts, cancel)
            .await?)
    }
}
