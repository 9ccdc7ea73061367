//! Range checks on a segment's `SegData` before any work is admitted: every value that sets
//! the cost of a transcode is bounded here, so nothing from the network can ask ffmpeg for an
//! unbounded ladder, frame rate, bitrate or duration.
//!
//! The limits are go-livepeer's where it has one (5-minute segments, `common.MaxDuration`;
//! 10 renditions, lpms `MAX_OUTPUT_SIZE`) and documented ones of ours where it has none
//! (frame rate, bitrate, requested size, CRF range, name length). A refused `SegData` is a
//! 403, as go-livepeer refuses segment credentials it cannot use (wire-and-network.md §3.3).

use std::time::Duration;

use livepeer_primitives::profile::{Gop, VideoProfile};
use livepeer_proto::{convert, net};

use crate::OrchestratorError;
use crate::storage::safe_component;

/// Longest segment accepted: 5 minutes (go-livepeer `common.MaxDuration`).
pub const MAX_SEGMENT_DURATION: Duration = Duration::from_secs(300);
/// Duration assumed when `SegData.duration` is 0 (go-livepeer: 2 s).
pub const DEFAULT_SEGMENT_DURATION: Duration = Duration::from_secs(2);
/// Most renditions per segment (lpms `ffmpeg/transcoder.h` `MAX_OUTPUT_SIZE`).
pub const MAX_RENDITIONS: usize = 10;
/// Largest requested side of a rendition, pixels. Outputs are clamped to 4096 as lpms does
/// (livepeer-media `MAX_OUTPUT_SIDE`); larger requests than this are refused outright.
pub const MAX_REQUESTED_SIDE: u32 = 16_384;
/// Highest output frame rate, frames per second.
pub const MAX_FRAME_RATE: u32 = 240;
/// Highest rendition bitrate, bits per second (100 Mb/s).
pub const MAX_BITRATE_BPS: u32 = 100_000_000;
/// Highest x264 CRF (`quality`); 0 means bitrate-driven.
pub const MAX_CRF: u32 = 51;
/// Longest rendition name, bytes (it becomes a storage path and a URL component).
pub const MAX_PROFILE_NAME_BYTES: usize = 128;
/// Longest manifest ID, bytes.
pub const MAX_MANIFEST_ID_BYTES: usize = 512;

/// What a checked `SegData` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentRequest {
    /// The segment's duration (0 on the wire is [`DEFAULT_SEGMENT_DURATION`]).
    pub duration: Duration,
    /// The renditions, in order, each within the limits above and with a distinct name.
    pub profiles: Vec<VideoProfile>,
}

/// Checks the parts of `seg` that set a transcode's cost and returns them.
///
/// Errors: [`OrchestratorError::BadDuration`] for a negative duration or one over
/// [`MAX_SEGMENT_DURATION`]; [`OrchestratorError::BadProfiles`] for no renditions, more than
/// [`MAX_RENDITIONS`], a profile that does not decode or is outside a limit, or two
/// renditions with one name; [`OrchestratorError::BadSegmentHeader`] for an oversized
/// manifest ID.
pub fn check_segment(seg: &net::SegData) -> Result<SegmentRequest, OrchestratorError> {
    if seg.manifest_id.len() > MAX_MANIFEST_ID_BYTES {
        return Err(OrchestratorError::BadSegmentHeader(format!(
            "manifest ID of {} bytes (at most {MAX_MANIFEST_ID_BYTES})",
            seg.manifest_id.len()
        )));
    }
    let duration = match seg.duration {
        0 => DEFAULT_SEGMENT_DURATION,
        ms => match u64::try_from(ms) {
            Ok(ms) if Duration::from_millis(ms) <= MAX_SEGMENT_DURATION => {
                Duration::from_millis(ms)
            }
            _ => {
                return Err(OrchestratorError::BadDuration {
                    duration_ms: ms.into(),
                });
            }
        },
    };
    // The one list go-livepeer reads (fullProfiles3, else 2, else 1), counted before any is
    // decoded.
    let listed = [&seg.full_profiles3, &seg.full_profiles2, &seg.full_profiles]
        .into_iter()
        .map(Vec::len)
        .find(|&n| n > 0)
        .unwrap_or(0);
    if listed == 0 {
        return Err(OrchestratorError::BadProfiles(
            "no renditions requested".into(),
        ));
    }
    if listed > MAX_RENDITIONS {
        return Err(OrchestratorError::BadProfiles(format!(
            "{listed} renditions requested (at most {MAX_RENDITIONS})"
        )));
    }
    let profiles = convert::profiles_from_seg_data(seg)
        .map_err(|e| OrchestratorError::BadProfiles(e.to_string()))?;
    let mut names = std::collections::HashSet::new();
    for profile in &profiles {
        check_profile(profile)?;
        if !names.insert(safe_component(&profile.name)) {
            return Err(OrchestratorError::BadProfiles(format!(
                "rendition name {:?} is used twice",
                profile.name
            )));
        }
    }
    Ok(SegmentRequest { duration, profiles })
}

/// One rendition's limits.
fn check_profile(p: &VideoProfile) -> Result<(), OrchestratorError> {
    let bad = |what: String| {
        Err(OrchestratorError::BadProfiles(format!(
            "{}: {what}",
            p.name
                .chars()
                .take(MAX_PROFILE_NAME_BYTES)
                .collect::<String>()
        )))
    };
    if p.name.len() > MAX_PROFILE_NAME_BYTES {
        return bad(format!(
            "name of {} bytes (at most {MAX_PROFILE_NAME_BYTES})",
            p.name.len()
        ));
    }
    if p.width == 0 || p.height == 0 || p.width.max(p.height) > MAX_REQUESTED_SIDE {
        return bad(format!(
            "resolution {}x{} (each side 1..={MAX_REQUESTED_SIDE})",
            p.width, p.height
        ));
    }
    if p.bitrate_bps == 0 || p.bitrate_bps > MAX_BITRATE_BPS {
        return bad(format!(
            "bitrate {} b/s (1..={MAX_BITRATE_BPS})",
            p.bitrate_bps
        ));
    }
    if let Some((num, den)) = p.frame_rate() {
        // fps = num / den, compared without division.
        if num == 0 || u64::from(num) > u64::from(MAX_FRAME_RATE) * u64::from(den) {
            return bad(format!(
                "frame rate {num}/{den} (at most {MAX_FRAME_RATE} fps)"
            ));
        }
    }
    if let Gop::Every(gop) = p.gop
        && gop > MAX_SEGMENT_DURATION
    {
        return bad(format!(
            "GOP of {} ms (at most {} ms)",
            gop.as_millis(),
            MAX_SEGMENT_DURATION.as_millis()
        ));
    }
    if p.quality > MAX_CRF {
        return bad(format!("quality (CRF) {} (0..={MAX_CRF})", p.quality));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use livepeer_primitives::profile::Format;

    fn seg_with(profiles: &[VideoProfile], duration_ms: i32) -> net::SegData {
        let mut seg = net::SegData {
            duration: duration_ms,
            ..Default::default()
        };
        convert::set_seg_data_profiles(&mut seg, profiles);
        seg
    }

    fn p240() -> VideoProfile {
        VideoProfile::standard("P240p30fps16x9").expect("standard")
    }

    #[test]
    fn accepts_what_go_livepeer_gateways_send() {
        let ladder = [
            p240(),
            VideoProfile::standard("P360p30fps16x9").expect("standard"),
            VideoProfile::standard("P720p30fps16x9").expect("standard"),
        ];
        let got = check_segment(&seg_with(&ladder, 2000)).expect("valid");
        assert_eq!(got.duration, Duration::from_secs(2));
        assert_eq!(got.profiles, ladder);
        assert_eq!(
            check_segment(&seg_with(&ladder, 0))
                .expect("valid")
                .duration,
            DEFAULT_SEGMENT_DURATION
        );
        assert_eq!(
            check_segment(&seg_with(&ladder, 300_000))
                .expect("five minutes is the limit")
                .duration,
            MAX_SEGMENT_DURATION
        );
        let mut fractional = p240();
        (fractional.fps, fractional.fps_den) = (30_000, 1001);
        let mut mp4 = VideoProfile::standard("P360p30fps16x9").expect("standard");
        mp4.format = Format::Mp4;
        mp4.quality = 23;
        assert!(check_segment(&seg_with(&[fractional, mp4], 2000)).is_ok());
        let ten: Vec<VideoProfile> = (0..MAX_RENDITIONS)
            .map(|i| VideoProfile {
                name: format!("r{i}"),
                ..p240()
            })
            .collect();
        assert!(check_segment(&seg_with(&ten, 2000)).is_ok());
    }

    #[test]
    fn refuses_what_would_cost_without_bound() {
        let with = |f: &dyn Fn(&mut VideoProfile)| {
            let mut p = p240();
            f(&mut p);
            seg_with(&[p], 2000)
        };
        let eleven: Vec<VideoProfile> = (0..=MAX_RENDITIONS)
            .map(|i| VideoProfile {
                name: format!("r{i}"),
                ..p240()
            })
            .collect();
        let cases: Vec<(&str, net::SegData)> = vec![
            ("negative duration", seg_with(&[p240()], -1)),
            ("over five minutes", seg_with(&[p240()], 300_001)),
            ("no renditions", seg_with(&[], 2000)),
            ("eleven renditions", seg_with(&eleven, 2000)),
            ("duplicate names", seg_with(&[p240(), p240()], 2000)),
            ("zero width", with(&|p| p.width = 0)),
            ("huge side", with(&|p| p.height = MAX_REQUESTED_SIDE + 1)),
            ("zero bitrate", with(&|p| p.bitrate_bps = 0)),
            (
                "huge bitrate",
                with(&|p| p.bitrate_bps = MAX_BITRATE_BPS + 1),
            ),
            ("1000 fps", with(&|p| p.fps = 1000)),
            (
                "fractional over the limit",
                with(&|p| (p.fps, p.fps_den) = (241_000, 1000)),
            ),
            ("CRF 52", with(&|p| p.quality = 52)),
            (
                "long GOP",
                with(&|p| p.gop = Gop::Every(Duration::from_secs(301))),
            ),
            (
                "long name",
                with(&|p| p.name = "n".repeat(MAX_PROFILE_NAME_BYTES + 1)),
            ),
            (
                "long manifest",
                net::SegData {
                    manifest_id: vec![b'm'; MAX_MANIFEST_ID_BYTES + 1],
                    ..seg_with(&[p240()], 2000)
                },
            ),
        ];
        for (what, seg) in cases {
            let err = check_segment(&seg).expect_err(what);
            assert_eq!(
                err.status(),
                axum::http::StatusCode::FORBIDDEN,
                "{what}: {err}"
            );
        }
    }

    #[test]
    fn a_huge_list_is_refused_before_it_is_decoded() {
        let mut seg = seg_with(&[p240()], 2000);
        seg.full_profiles = vec![net::VideoProfile::default(); 100_000];
        let err = check_segment(&seg).expect_err("too many");
        assert!(err.to_string().contains("100000 renditions"), "{err}");
    }
}
