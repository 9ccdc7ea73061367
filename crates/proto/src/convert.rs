//! Conversions between the wire messages and the domain types of `livepeer-primitives`.
//!
//! Rules from go-livepeer:
//! - profiles (`core/streamdata.go:NetSegData`, `server/rpc.go:coreSegMetadata`): the sender
//!   fills exactly one of `fullProfiles` (33: every output MPEG-TS and no fpsDen, codec profile
//!   or GOP), `fullProfiles2` (34: the same but some output is MP4) or `fullProfiles3` (35:
//!   anything else); the receiver reads 35, then 34, then 33. An empty name on the wire gets
//!   the receiver's default name.
//! - capabilities (`core/capabilities.go:CapabilitiesFromNetCapabilities`): a missing message
//!   means the legacy set {0–11}.

use std::collections::BTreeMap;

use livepeer_primitives::profile::{
    ChromaSubsampling, Format, Gop, H264Profile, ProfileError, VideoCodec, VideoProfile,
};
use livepeer_primitives::{Capabilities, CapabilitySet};

use crate::net;

/// The wire form of a profile.
pub fn profile_to_net(p: &VideoProfile) -> net::VideoProfile {
    net::VideoProfile {
        name: p.name.clone(),
        width: i32::try_from(p.width).unwrap_or(i32::MAX),
        height: i32::try_from(p.height).unwrap_or(i32::MAX),
        bitrate: i32::try_from(p.bitrate_bps).unwrap_or(i32::MAX),
        fps: p.fps,
        format: p.format.as_wire(),
        fps_den: p.fps_den,
        profile: p.profile.as_wire(),
        gop: p.gop.as_wire(),
        encoder: p.encoder.as_wire(),
        color_depth: p.color_depth,
        chroma_format: p.chroma_format.as_wire(),
        quality: p.quality,
    }
}

/// A profile from the wire.
///
/// Errors: [`ProfileError`] for negative sizes or bitrates and unknown enum values.
pub fn profile_from_net(p: &net::VideoProfile) -> Result<VideoProfile, ProfileError> {
    let non_negative = |field: &'static str, value: i32| {
        u32::try_from(value).map_err(|_| ProfileError::InvalidWireValue {
            field,
            value: value.into(),
        })
    };
    let width = non_negative("width", p.width)?;
    let height = non_negative("height", p.height)?;
    let bitrate_bps = non_negative("bitrate", p.bitrate)?;
    let name = if p.name.is_empty() {
        // go-livepeer substitutes "net_" + the lpms default name.
        format!("net_{width}x{height}_{bitrate_bps}")
    } else {
        p.name.clone()
    };
    Ok(VideoProfile {
        name,
        width,
        height,
        bitrate_bps,
        fps: p.fps,
        fps_den: p.fps_den,
        format: Format::from_wire(p.format)?,
        profile: H264Profile::from_wire(p.profile)?,
        gop: Gop::from_wire(p.gop)?,
        encoder: VideoCodec::from_wire(p.encoder)?,
        color_depth: p.color_depth,
        chroma_format: ChromaSubsampling::from_wire(p.chroma_format)?,
        quality: p.quality,
    })
}

/// Puts `profiles` in the one `SegData` field go-livepeer's rule picks, clearing the others.
pub fn set_seg_data_profiles(seg: &mut net::SegData, profiles: &[VideoProfile]) {
    let wire: Vec<net::VideoProfile> = profiles.iter().map(profile_to_net).collect();
    let extended = profiles.iter().any(|p| {
        p.fps_den > 1 || p.profile != H264Profile::EncoderDefault || p.gop != Gop::Default
    });
    let any_mp4 = profiles.iter().any(|p| p.format == Format::Mp4);
    seg.full_profiles.clear();
    seg.full_profiles2.clear();
    seg.full_profiles3.clear();
    if extended {
        seg.full_profiles3 = wire;
    } else if any_mp4 {
        seg.full_profiles2 = wire;
    } else {
        seg.full_profiles = wire;
    }
}

/// The profiles a `SegData` asks for: field 35, else 34, else 33.
///
/// Errors: [`ProfileError`] when a profile is invalid.
pub fn profiles_from_seg_data(seg: &net::SegData) -> Result<Vec<VideoProfile>, ProfileError> {
    let chosen = [&seg.full_profiles3, &seg.full_profiles2, &seg.full_profiles]
        .into_iter()
        .find(|list| !list.is_empty())
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    chosen.iter().map(profile_from_net).collect()
}

/// The wire form of capabilities, model constraints included; `constraints` is absent when
/// there is neither a minimum version nor a model constraint.
pub fn capabilities_to_net(caps: &Capabilities) -> net::Capabilities {
    use net::capabilities::{CapabilityConstraints, capability_constraints};
    let per_capability = caps
        .per_capability
        .iter()
        .map(|(&cap, models)| {
            let models = models
                .iter()
                .map(|(id, m)| {
                    (
                        id.clone(),
                        capability_constraints::ModelConstraint {
                            warm: m.warm,
                            capacity: m.capacity,
                            runner_version: m.runner_version.clone(),
                            capacity_in_use: m.capacity_in_use,
                        },
                    )
                })
                .collect();
            (cap, CapabilityConstraints { models })
        })
        .collect::<std::collections::HashMap<_, _>>();
    let constrained = !caps.min_version.is_empty() || !per_capability.is_empty();
    net::Capabilities {
        bitstring: caps.bitstring.words().to_vec(),
        mandatories: caps.mandatories.words().to_vec(),
        capacities: caps.capacities.iter().map(|(&k, &v)| (k, v)).collect(),
        version: caps.version.clone(),
        constraints: constrained.then(|| net::capabilities::Constraints {
            min_version: caps.min_version.clone(),
            per_capability,
        }),
    }
}

/// Capabilities from the wire; `None` (an old peer that sends none) is the legacy set.
pub fn capabilities_from_net(caps: Option<&net::Capabilities>) -> Capabilities {
    let Some(caps) = caps else {
        return Capabilities {
            bitstring: CapabilitySet::legacy(),
            ..Default::default()
        };
    };
    Capabilities {
        bitstring: CapabilitySet::from_words(&caps.bitstring),
        mandatories: CapabilitySet::from_words(&caps.mandatories),
        capacities: caps
            .capacities
            .iter()
            .map(|(&k, &v)| (k, v))
            .collect::<BTreeMap<_, _>>(),
        version: caps.version.clone(),
        min_version: caps
            .constraints
            .as_ref()
            .map(|c| c.min_version.clone())
            .unwrap_or_default(),
        per_capability: caps
            .constraints
            .iter()
            .flat_map(|c| c.per_capability.iter())
            .map(|(&cap, constraints)| {
                let models = constraints
                    .models
                    .iter()
                    .map(|(id, m)| {
                        (
                            id.clone(),
                            livepeer_primitives::ModelConstraint {
                                warm: m.warm,
                                capacity: m.capacity,
                                runner_version: m.runner_version.clone(),
                                capacity_in_use: m.capacity_in_use,
                            },
                        )
                    })
                    .collect();
                (cap, models)
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn standard(name: &str) -> VideoProfile {
        VideoProfile::standard(name).expect("standard profile")
    }

    #[test]
    fn profiles_round_trip_and_pick_the_right_field() {
        let plain = vec![standard("P240p30fps16x9"), standard("P360p30fps16x9")];
        let mut mp4 = plain.clone();
        mp4[1].format = Format::Mp4;
        let mut extended = plain.clone();
        extended[0].gop = Gop::Every(Duration::from_secs(2));
        extended[1].profile = H264Profile::ConstrainedHigh;
        let cases: [(&Vec<VideoProfile>, u8); 3] = [(&plain, 33), (&mp4, 34), (&extended, 35)];
        for (profiles, field) in cases {
            let mut seg = net::SegData::default();
            set_seg_data_profiles(&mut seg, profiles);
            let filled = [
                (33u8, seg.full_profiles.len()),
                (34, seg.full_profiles2.len()),
                (35, seg.full_profiles3.len()),
            ];
            for (f, len) in filled {
                assert_eq!(len > 0, f == field, "field {f} for expected {field}");
            }
            assert_eq!(&profiles_from_seg_data(&seg).expect("decode"), profiles);
        }
    }

    #[test]
    fn receiver_prefers_field_35() {
        let seg = net::SegData {
            full_profiles: vec![profile_to_net(&standard("P144p30fps16x9"))],
            full_profiles3: vec![profile_to_net(&standard("P720p30fps16x9"))],
            ..Default::default()
        };
        assert_eq!(
            profiles_from_seg_data(&seg).expect("decode")[0].name,
            "P720p30fps16x9"
        );
    }

    #[test]
    fn bad_wire_profiles_are_errors() {
        let mut p = profile_to_net(&standard("P240p30fps16x9"));
        p.width = -1;
        assert!(profile_from_net(&p).is_err());
        let mut p = profile_to_net(&standard("P240p30fps16x9"));
        p.encoder = 9;
        assert!(profile_from_net(&p).is_err());
        let mut p = profile_to_net(&standard("P240p30fps16x9"));
        p.name.clear();
        assert_eq!(profile_from_net(&p).expect("ok").name, "net_426x240_600000");
    }

    #[test]
    fn capabilities_round_trip_and_default_to_legacy() {
        let mut caps = Capabilities {
            bitstring: CapabilitySet::default_transcoding(),
            version: "0.1.0".into(),
            min_version: "0.0.1".into(),
            ..Default::default()
        };
        caps.capacities.insert(0, 3);
        let wire = capabilities_to_net(&caps);
        assert_eq!(wire.bitstring, vec![0x4005FFF]);
        assert_eq!(capabilities_from_net(Some(&wire)), caps);
        assert_eq!(
            capabilities_from_net(None).bitstring,
            CapabilitySet::legacy()
        );
    }
}
