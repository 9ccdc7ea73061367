//! The orchestrator's local transcoder (`-orchestrator -transcoder`): ffmpeg in this process's
//! supervision, one process per segment (decode once, encode every rendition).

use std::path::Path;
use std::time::Duration;

use livepeer_media::{CancellationToken, Ffmpeg, InputFormat, Rendition, Slice, TranscodeOptions};
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

    /// The decoded pixels of an MPEG-TS segment, as go-livepeer's transcoders report them
    /// (lpms `Decoded.Pixels`): width × height × video frames, the frames counted as the
    /// video packets ffprobe demuxes (one per frame for H.264 and HEVC; nothing is decoded).
    ///
    /// Errors: [`OrchestratorError::Transcode`] when ffprobe cannot read it.
    pub async fn decoded_pixels(&self, segment: &[u8]) -> Result<u64, OrchestratorError> {
        let info = self.ffmpeg.probe(segment).await?;
        let frames = info.video_packets.unwrap_or(0);
        Ok(u64::from(info.width) * u64::from(info.height) * frames)
    }

    /// Transcodes the MPEG-TS segment at `input` (read as MPEG-TS only, local file only:
    /// [`InputFormat::MpegTs`]) into `profiles`, killing ffmpeg after `timeout` or when
    /// `cancel` fires.
    ///
    /// `slice` is `SegParameters` from/to in ms (0 = unset; capability SegmentSlicing): only
    /// that part of the segment is transcoded, so the renditions last `to − from` and their
    /// pixels are the slice's (see `livepeer_media::Slice`).
    ///
    /// With `calc_signature` (`SegData.calc_perceptual_hash`) each rendition also carries its
    /// MPEG-7 video signature, computed in the same ffmpeg run (see
    /// `livepeer_media::TranscodeOptions::calc_signature`).
    ///
    /// Errors: [`OrchestratorError::Transcode`] with ffmpeg's own message, also for a slice
    /// whose `to` is before its `from` (lpms `ErrTranscoderClipConfig`).
    pub async fn transcode(
        &self,
        input: &Path,
        profiles: &[VideoProfile],
        slice: Option<(u64, u64)>,
        calc_signature: bool,
        timeout: Duration,
        cancel: &CancellationToken,
    ) -> Result<Vec<Rendition>, OrchestratorError> {
        let slice = match slice {
            Some((from_ms, to_ms)) => Slice::from_ms(from_ms, to_ms)?,
            None => None,
        };
        let opts = TranscodeOptions {
            preset: self.preset.clone(),
            timeout,
            input_format: InputFormat::MpegTs,
            slice,
            calc_signature,
        };
        Ok(self
            .ffmpeg
            .transcode(input, profiles, &opts, cancel)
            .await?)
    }
}
