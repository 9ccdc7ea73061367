//! Writes the `segment_credentials` seeds: `SegData` values built by the gateway's own
//! dispatch code, as a go-livepeer gateway sends them, each in both of the target's forms
//! (first byte 0 and the `Livepeer-Segment` header value; first byte 1 and raw protobuf).
//!
//! Run from `crates/orchestrator/fuzz`: `cargo run --features seeds --bin make_seeds`.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use livepeer_gateway::dispatch::{SourceSegment, job_capabilities, seg_data};
use livepeer_primitives::ManifestId;
use livepeer_primitives::profile::{Format, Gop, VideoProfile, parse_transcoding_options};
use livepeer_proto::headers::encode_header;
use livepeer_proto::net;
use prost::Message as _;

fn ladder(names: &str) -> Vec<VideoProfile> {
    parse_transcoding_options(names).expect("standard profiles")
}

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    std::fs::create_dir_all(&dir).expect("seeds directory");

    let default = ladder("P240p30fps16x9,P360p30fps16x9");
    let three = ladder("P240p30fps16x9,P360p30fps16x9,P720p30fps16x9");
    let mut mp4 = ladder("P240p30fps16x9,P360p30fps16x9");
    mp4[1].format = Format::Mp4;
    let mut fractional = ladder("P240p30fps16x9,P360p30fps16x9");
    for p in &mut fractional {
        (p.fps, p.fps_den) = (30_000, 1001);
        p.gop = Gop::Every(Duration::from_secs(2));
    }

    let token = net::AuthToken {
        token: vec![0x5a; 32],
        session_id: "3f1c0a9e".into(),
        expiration: 1_900_000_000,
    };
    let cases: [(&str, &[VideoProfile], u64, u64); 4] = [
        ("default_ladder", &default, 0, 2000),
        ("three_rungs", &three, 17, 2000),
        ("mp4", &mp4, 3, 4000),
        ("fractional_gop", &fractional, 42, 1968),
    ];
    for (name, profiles, seq, ms) in cases {
        let data = Bytes::from(vec![0x47u8; 188 * 4]);
        let segment = SourceSegment {
            manifest: ManifestId::new("fuzz-stream_1").expect("manifest"),
            seq,
            duration: Duration::from_millis(ms),
            data,
            slice: None,
            input: Default::default(),
            storage: None,
        };
        let job = job_capabilities(profiles, false);
        let seg = seg_data(&segment, profiles, &job, &token).expect("seg data");
        livepeer_orchestrator::validate::check_segment(&seg).expect("seed is accepted");
        assert!(
            livepeer_proto::convert::capabilities_from_net(seg.capabilities.as_ref())
                .compatible_with(&livepeer_orchestrator::software_capabilities()),
            "{name}: seed is compatible"
        );

        let mut header = vec![0u8];
        header.extend_from_slice(encode_header(&seg).as_bytes());
        let mut protobuf = vec![1u8];
        protobuf.extend_from_slice(&seg.encode_to_vec());
        for (suffix, bytes) in [("header", header), ("protobuf", protobuf)] {
            let path = dir.join(format!("{name}_{suffix}"));
            std::fs::write(&path, &bytes).expect("write seed");
            println!("{} ({} bytes)", path.display(), bytes.len());
        }
    }
}
