//! Header encoding against untrusted input: never a panic, always a round trip.

use base64::Engine as _;
use livepeer_proto::ProtoError;
use livepeer_proto::headers::{PAYMENT_HEADER, SEGMENT_HEADER, decode_header, encode_header};
use livepeer_proto::net::{NotifySegment, OrchestratorInfo, Payment, SegData, VideoProfile};
use proptest::prelude::*;

use crate::samples;

#[test]
fn header_names_match_go_livepeer() {
    assert_eq!(SEGMENT_HEADER, "Livepeer-Segment");
    assert_eq!(PAYMENT_HEADER, "Livepeer-Payment");
}

#[test]
fn full_messages_round_trip_through_headers() {
    let seg = samples::seg_data();
    let value = encode_header(&seg);
    assert!(value.is_ascii() && !value.contains(['\r', '\n', ' ']));
    assert_eq!(decode_header::<SegData>(&value).ok(), Some(seg));

    let payment = samples::payment();
    assert_eq!(
        decode_header::<Payment>(&encode_header(&payment)).ok(),
        Some(payment)
    );
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let std = base64::engine::general_purpose::STANDARD;
    let bytes = prost::Message::encode_to_vec(&samples::seg_data());
    let bad_base64 = [
        ("not base64", "%%%"),
        ("missing padding", "CgNhYmM"),
        ("url-safe alphabet", "CgL77w_-"),
        ("padding in the middle", "Cg==CgNh"),
        ("non-ASCII", "CgNhYmM\u{e9}"),
    ];
    for (name, value) in bad_base64 {
        let result = decode_header::<SegData>(value);
        assert!(
            matches!(result, Err(ProtoError::Base64 { .. })),
            "{name}: {result:?}"
        );
    }
    let bad_protobuf: [(&str, &[u8]); 6] = [
        ("protobuf cut in half", &bytes[..bytes.len() / 2]),
        ("protobuf missing its last byte", &bytes[..bytes.len() - 1]),
        ("a lone field key", &[0x0a]),
        ("a varint that never ends", &[0x10, 0xff, 0xff, 0xff]),
        (
            "a length of 2^63",
            &[0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f],
        ),
        ("group wire types", &[0x0b, 0x0c]),
    ];
    for (name, garbage) in bad_protobuf {
        let result = decode_header::<SegData>(&std.encode(garbage));
        assert!(
            matches!(result, Err(ProtoError::Protobuf { .. })),
            "{name}: {result:?}"
        );
    }
}

fn video_profile() -> impl Strategy<Value = VideoProfile> {
    (
        ".{0,12}",
        any::<i32>(),
        any::<i32>(),
        any::<u32>(),
        0..2i32,
        -1000..1000i32,
    )
        .prop_map(
            |(name, width, bitrate, fps_den, format, gop)| VideoProfile {
                name,
                width,
                bitrate,
                fps_den,
                format,
                gop,
                ..Default::default()
            },
        )
}

proptest! {
    #[test]
    fn decode_header_never_panics_on_any_string(value in ".{0,200}") {
        let _ = decode_header::<SegData>(&value);
        let _ = decode_header::<Payment>(&value);
        let _ = decode_header::<OrchestratorInfo>(&value);
    }

    #[test]
    fn decode_header_never_panics_on_any_base64_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let value = base64::engine::general_purpose::STANDARD.encode(&bytes);
        let _ = decode_header::<SegData>(&value);
        let _ = decode_header::<Payment>(&value);
        let _ = decode_header::<NotifySegment>(&value);
    }

    #[test]
    fn seg_data_round_trips_through_headers(
        manifest_id in proptest::collection::vec(any::<u8>(), 0..40),
        seq in any::<i64>(),
        duration in any::<i32>(),
        profiles in proptest::collection::vec(video_profile(), 0..4),
        reinit in any::<bool>(),
    ) {
        let seg = SegData {
            manifest_id,
            seq,
            duration,
            full_profiles3: profiles,
            force_session_reinit: reinit,
            ..Default::default()
        };
        let value = encode_header(&seg);
        prop_assert_eq!(decode_header::<SegData>(&value).ok(), Some(seg));
    }
}
