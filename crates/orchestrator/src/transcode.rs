//! The orchestrator's local transcoder (`-orchestrator -transcoder`): ffmpeg in this process's
//! supervision, one process per segment (decode once, encode every rendition).

use std::time::Duration;

use bytes::Bytes;
use livepeer_media::{CancellationToken, Ffmpeg, Rendition, TranscodeOptions};
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

    /// Transcodes one segment into `profiles`, killing ffmpeg after `timeout`.
    ///
    /// `slice` (`SegParameters` from/to, ms) is not supported yet: this node does not
    /// advertise the SegmentSlicing capability, so compatible gateways never send it; a
    /// non-empty slice is refused rather than ignored.
    ///
    /// Errors: [`OrchestratorError::Transcode`] with ffmpeg's own message, or
    /// [`OrchestratorError::BadProfiles`] for a slice.
    pub async fn transcode(
        &self,
        input: Bytes,
        profiles: &[VideoProfile],
        slice: Option<(u64, u64)>,
        timeout: Duration,
    ) -> Result<Vec<Rendition>, OrchestratorError> {
        if slice.is_some_and(|(from, to)| from != 0 || to != 0) {
            return Err(OrchestratorError::BadProfiles(
                "segment slicing is not supported".into(),
            ));
        }
        let opts = TranscodeOptions {
            preset: self.preset.clone(),
            timeout,
        };
        // Dropping this future (the gateway hung up) kills ffmpeg; no token is needed here.
        let cancel = CancellationToken::new();
        Ok(self
            .ffmpeg
            .transcode(&input, profiles, &opts, &cancel)
            .await?)
    }
}
