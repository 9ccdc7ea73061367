//! Fuzzes the orchestrator's handling of untrusted segment credentials, the `SegData` a
//! gateway sends with every segment: `Livepeer-Segment` header decoding (base64, then
//! protobuf), the capability check `admit_segment` runs (`capabilities_from_net`,
//! `compatible_with` against this node's software capabilities, the refusal's message), and
//! `validate::check_segment`, which bounds everything that sets a transcode's cost. Nothing
//! may panic.
//!
//! Beyond panics it checks what `check_segment` promises, so logic bugs are findings too: an
//! accepted `SegData` has 1..=`MAX_RENDITIONS` renditions, exactly those of the list
//! go-livepeer reads (field 35, else 34, else 33), with distinct storage names, each within
//! every limit of `livepeer_orchestrator::validate`; its duration is the wire's (or the 2 s
//! default for 0) and at most `MAX_SEGMENT_DURATION`; the request re-encoded as a gateway
//! would send it is accepted as the same request. A refusal is a 403. Every decoded message
//! survives a header round trip unchanged.
//!
//! The input is split on its first byte: even, the rest is a header value (text); odd, the
//! rest is raw protobuf.
#![no_main]

use std::collections::HashSet;
use std::sync::OnceLock;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use livepeer_orchestrator::validate::{
    DEFAULT_SEGMENT_DURATION, MAX_BITRATE_BPS, MAX_CRF, MAX_FRAME_RATE, MAX_MANIFEST_ID_BYTES,
    MAX_PROFILE_NAME_BYTES, MAX_RENDITIONS, MAX_REQUESTED_SIDE, MAX_SEGMENT_DURATION,
    check_segment,
};
use livepeer_orchestrator::{OrchestratorError, software_capabilities};
use livepeer_primitives::Capabilities;
use livepeer_primitives::profile::{Gop, VideoProfile};
use livepeer_proto::headers::{decode_header, encode_header};
use livepeer_proto::{convert, net};
use prost::Message as _;

fn ours() -> &'static Capabilities {
    static CAPS: OnceLock<Capabilities> = OnceLock::new();
    CAPS.get_or_init(software_capabilities)
}

/// A refusal of segment credentials: its message renders and it is a 403.
fn refused(err: &OrchestratorError) {
    let _ = err.to_string();
    assert_eq!(err.status().as_u16(), 403, "refusal {err:?} is not a 403");
}

/// What `check_profile` promises of an accepted rendition.
fn assert_within_limits(p: &VideoProfile) {
    assert!(
        p.name.len() <= MAX_PROFILE_NAME_BYTES,
        "accepted a name of {} bytes",
        p.name.len()
    );
    assert!(
        (1..=MAX_REQUESTED_SIDE).contains(&p.width) && (1..=MAX_REQUESTED_SIDE).contains(&p.height),
        "accepted {}x{}",
        p.width,
        p.height
    );
    assert!(
        (1..=MAX_BITRATE_BPS).contains(&p.bitrate_bps),
        "accepted {} b/s",
        p.bitrate_bps
    );
    if let Some((num, den)) = p.frame_rate() {
        assert!(
            num > 0 && den > 0 && u64::from(num) <= u64::from(MAX_FRAME_RATE) * u64::from(den),
            "accepted {num}/{den} fps"
        );
    }
    if let Gop::Every(gop) = p.gop {
        assert!(
            !gop.is_zero() && gop <= MAX_SEGMENT_DURATION,
            "accepted a GOP of {gop:?}"
        );
    }
    assert!(p.quality <= MAX_CRF, "accepted CRF {}", p.quality);
}

fn check(seg: &net::SegData) {
    // Header round trip: what a gateway would re-send is the same message.
    let again: net::SegData = decode_header(&encode_header(seg)).expect("re-encoded SegData");
    assert_eq!(&again, seg, "header round trip changed the SegData");

    // admit_segment's capability check, then its refusal.
    let job = convert::capabilities_from_net(seg.capabilities.as_ref());
    if !job.compatible_with(ours()) {
        refused(&OrchestratorError::IncompatibleCapabilities {
            job: job.bitstring.to_string(),
            orch: ours().bitstring.to_string(),
        });
    }

    let request = match check_segment(seg) {
        Ok(request) => request,
        Err(err) => {
            refused(&err);
            return;
        }
    };

    // Duration.
    let expected = match seg.duration {
        0 => DEFAULT_SEGMENT_DURATION,
        ms => Duration::from_millis(u64::try_from(ms).expect("accepted a negative duration")),
    };
    assert_eq!(request.duration, expected, "duration is not the wire's");
    assert!(request.duration <= MAX_SEGMENT_DURATION);
    assert!(seg.manifest_id.len() <= MAX_MANIFEST_ID_BYTES);

    // Renditions: the list go-livepeer reads, bounded, each within the limits, names distinct.
    let listed = [&seg.full_profiles3, &seg.full_profiles2, &seg.full_profiles]
        .into_iter()
        .find(|list| !list.is_empty())
        .expect("accepted a SegData with no renditions");
    assert!(
        (1..=MAX_RENDITIONS).contains(&request.profiles.len()),
        "accepted {} renditions",
        request.profiles.len()
    );
    assert_eq!(request.profiles.len(), listed.len());
    for (got, wire) in request.profiles.iter().zip(listed) {
        let decoded = convert::profile_from_net(wire).expect("accepted an undecodable rendition");
        assert_eq!(got, &decoded, "rendition is not the wire's");
        assert_within_limits(got);
    }
    let mut names = HashSet::new();
    for p in &request.profiles {
        assert!(
            names.insert(livepeer_orchestrator::storage::safe_component(&p.name)),
            "accepted two renditions stored as {:?}",
            p.name
        );
    }

    // The accepted request, sent again as a gateway encodes it, is accepted as itself.
    let mut resent = seg.clone();
    convert::set_seg_data_profiles(&mut resent, &request.profiles);
    let resent = net::SegData::decode(resent.encode_to_vec().as_slice()).expect("re-encoded");
    match check_segment(&resent) {
        Ok(again) => assert_eq!(again, request, "re-encoded request checks differently"),
        Err(err) => panic!("re-encoded request refused: {err}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let seg = if mode % 2 == 0 {
        let Ok(value) = std::str::from_utf8(rest) else {
            return;
        };
        decode_header::<net::SegData>(value)
            .map_err(|e| OrchestratorError::BadSegmentHeader(e.to_string()))
    } else {
        net::SegData::decode(rest).map_err(|e| OrchestratorError::BadSegmentHeader(e.to_string()))
    };
    match seg {
        Ok(seg) => check(&seg),
        Err(err) => refused(&err),
    }
});
