//! Exact bytes on the wire for the fields whose numbers, wire types or encodings are unusual
//! in go-livepeer's schema, plus a small protobuf scanner for the other tests.

use std::collections::HashMap;

use livepeer_proto::net::{
    self, AiJobData, Capabilities, GpuComputeInfo, NotifyAiJob, NotifySegment, OrchestratorInfo,
    OsInfo, PaymentResult, PriceInfo, S3osInfo, SegData, SegParameters, TranscodeData,
    TranscodeResult, VideoProfile,
};
use net::transcode_result::Result as TranscodeOutcome;
use net::video_profile::{ChromaSubsampling, Format, Profile, VideoCodec};
use prost::Message;

/// Wire type 0.
pub const VARINT: u8 = 0;
/// Wire type 1.
pub const FIXED64: u8 = 1;
/// Wire type 2.
pub const LEN: u8 = 2;
/// Wire type 5.
pub const FIXED32: u8 = 5;

fn read_varint(bytes: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*pos).ok_or("truncated varint")?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Ok(value);
        }
    }
    Err("varint longer than 10 bytes".into())
}

/// The (field number, wire type) of each top-level field of a protobuf encoding, in order.
pub fn top_level_fields(bytes: &[u8]) -> Result<Vec<(u32, u8)>, String> {
    let mut pos = 0;
    let mut fields = Vec::new();
    while pos < bytes.len() {
        let key = read_varint(bytes, &mut pos)?;
        let number = u32::try_from(key >> 3).map_err(|e| e.to_string())?;
        let wire_type = u8::try_from(key & 7).map_err(|e| e.to_string())?;
        let skip = match wire_type {
            VARINT => read_varint(bytes, &mut pos).map(|_| 0)?,
            FIXED64 => 8,
            LEN => usize::try_from(read_varint(bytes, &mut pos)?).map_err(|e| e.to_string())?,
            FIXED32 => 4,
            other => return Err(format!("wire type {other} at field {number}")),
        };
        pos += skip;
        if pos > bytes.len() {
            return Err(format!("field {number} runs past the end"));
        }
        fields.push((number, wire_type));
    }
    Ok(fields)
}

/// Varint encoding of a field key: (number << 3) | wire type.
fn key(number: u32, wire_type: u8) -> Vec<u8> {
    let mut value = (u64::from(number) << 3) | u64::from(wire_type);
    let mut out = Vec::new();
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
    out
}

/// Concatenates byte slices.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

#[test]
fn key_helper_matches_known_varints() {
    // (35 << 3) | 2 = 282 = 0x9a 0x02; (16 << 3) | 2 = 130 = 0x82 0x01.
    assert_eq!(key(35, LEN), [0x9a, 0x02]);
    assert_eq!(key(16, LEN), [0x82, 0x01]);
    assert_eq!(key(1, LEN), [0x0a]);
}

#[test]
fn unusual_field_numbers_have_the_schema_tags() {
    let profile = || {
        vec![VideoProfile {
            width: 1,
            ..Default::default()
        }]
    };
    // A one-field VideoProfile {width: 1} encodes as key(17, VARINT) 0x01.
    let profile_bytes = cat(&[&key(17, VARINT), &[1]]);
    let nested = |number: u32| cat(&[&key(number, LEN), &[3], &profile_bytes]);
    let info = || {
        Some(OrchestratorInfo {
            nodes: vec!["n".into()],
            ..Default::default()
        })
    };
    // OrchestratorInfo {nodes: ["n"]} encodes as key(34, LEN) 0x01 'n', 4 bytes.
    let info_bytes = cat(&[&key(34, LEN), &[1, b'n']]);
    let cases: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        (
            "SegData.fullProfiles",
            SegData {
                full_profiles: profile(),
                ..Default::default()
            }
            .encode_to_vec(),
            nested(33),
        ),
        (
            "SegData.fullProfiles2",
            SegData {
                full_profiles2: profile(),
                ..Default::default()
            }
            .encode_to_vec(),
            nested(34),
        ),
        (
            "SegData.fullProfiles3",
            SegData {
                full_profiles3: profile(),
                ..Default::default()
            }
            .encode_to_vec(),
            nested(35),
        ),
        (
            "SegData.storage",
            SegData {
                storage: vec![OsInfo::default()],
                ..Default::default()
            }
            .encode_to_vec(),
            cat(&[&key(32, LEN), &[0]]),
        ),
        (
            "SegData.calc_perceptual_hash",
            SegData {
                calc_perceptual_hash: true,
                ..Default::default()
            }
            .encode_to_vec(),
            cat(&[&key(10, VARINT), &[1]]),
        ),
        (
            "SegData.segment_parameters",
            SegData {
                segment_parameters: Some(SegParameters { from: 0, to: 2000 }),
                ..Default::default()
            }
            .encode_to_vec(),
            cat(&[&key(37, LEN), &[3], &key(2, VARINT), &[0xd0, 0x0f]]),
        ),
        (
            "SegData.ForceSessionReinit",
            SegData {
                force_session_reinit: true,
                ..Default::default()
            }
            .encode_to_vec(),
            cat(&[&key(38, VARINT), &[1]]),
        ),
        (
            "OrchestratorInfo.storage",
            OrchestratorInfo {
                storage: vec![OsInfo::default()],
                ..Default::default()
            }
            .encode_to_vec(),
            cat(&[&key(32, LEN), &[0]]),
        ),
        (
            "OrchestratorInfo.capabilities_prices",
            OrchestratorInfo {
                capabilities_prices: vec![PriceInfo {
                    capability: 37,
                    ..Default::default()
                }],
                ..Default::default()
            }
            .encode_to_vec(),
            cat(&[&key(33, LEN), &[2], &key(3, VARINT), &[37]]),
        ),
        (
            "OrchestratorInfo.nodes",
            info().unwrap_or_default().encode_to_vec(),
            info_bytes.clone(),
        ),
        (
            "TranscodeResult.info",
            TranscodeResult {
                info: info(),
                ..Default::default()
            }
            .encode_to_vec(),
            cat(&[&key(16, LEN), &[4], &info_bytes]),
        ),
        (
            "PaymentResult.info",
            PaymentResult { info: info() }.encode_to_vec(),
            cat(&[&key(16, LEN), &[4], &info_bytes]),
        ),
        (
            "NotifySegment.taskId",
            NotifySegment {
                task_id: 300,
                ..Default::default()
            }
            .encode_to_vec(),
            cat(&[&key(16, VARINT), &[0xac, 0x02]]),
        ),
        (
            "NotifySegment.profiles",
            NotifySegment {
                profiles: b"invalid".to_vec(),
                ..Default::default()
            }
            .encode_to_vec(),
            cat(&[&key(17, LEN), &[7], b"invalid"]),
        ),
        (
            "NotifySegment.orchId",
            NotifySegment {
                orch_id: "o".into(),
                ..Default::default()
            }
            .encode_to_vec(),
            cat(&[&key(18, LEN), &[1, b'o']]),
        ),
        (
            "NotifySegment.segData",
            NotifySegment {
                seg_data: Some(SegData::default()),
                ..Default::default()
            }
            .encode_to_vec(),
            cat(&[&key(3, LEN), &[0]]),
        ),
        (
            "OSInfo.s3info",
            OsInfo {
                s3info: Some(S3osInfo::default()),
                ..Default::default()
            }
            .encode_to_vec(),
            cat(&[&key(16, LEN), &[0]]),
        ),
        (
            "OSInfo.storageType GOOGLE",
            OsInfo {
                storage_type: net::os_info::StorageType::Google.into(),
                s3info: None,
            }
            .encode_to_vec(),
            cat(&[&key(1, VARINT), &[2]]),
        ),
        (
            "GPUComputeInfo.major",
            GpuComputeInfo {
                major: 8,
                ..Default::default()
            }
            .encode_to_vec(),
            cat(&[&key(4, VARINT), &[8]]),
        ),
        (
            "GPUComputeInfo.minor",
            GpuComputeInfo {
                minor: 6,
                ..Default::default()
            }
            .encode_to_vec(),
            cat(&[&key(5, VARINT), &[6]]),
        ),
        (
            "GPUComputeInfo.memory_free",
            GpuComputeInfo {
                memory_free: 1,
                ..Default::default()
            }
            .encode_to_vec(),
            cat(&[&key(6, VARINT), &[1]]),
        ),
        (
            "GPUComputeInfo.memory_total",
            GpuComputeInfo {
                memory_total: 2,
                ..Default::default()
            }
            .encode_to_vec(),
            cat(&[&key(7, VARINT), &[2]]),
        ),
        (
            "NotifyAIJob.AIJobData",
            NotifyAiJob {
                ai_job_data: Some(AiJobData {
                    pipeline: "p".into(),
                    ..Default::default()
                }),
                task_id: 0,
            }
            .encode_to_vec(),
            cat(&[&key(1, LEN), &[3], &key(1, LEN), &[1, b'p']]),
        ),
        (
            "TranscodeResult.error",
            TranscodeResult {
                result: Some(TranscodeOutcome::Error("e".into())),
                ..Default::default()
            }
            .encode_to_vec(),
            cat(&[&key(2, LEN), &[1, b'e']]),
        ),
        (
            // A oneof arm is written even when it holds a default value: presence is the point.
            "TranscodeResult.data (empty)",
            TranscodeResult {
                result: Some(TranscodeOutcome::Data(TranscodeData::default())),
                ..Default::default()
            }
            .encode_to_vec(),
            cat(&[&key(3, LEN), &[0]]),
        ),
        (
            "TranscodeResult.error (empty string)",
            TranscodeResult {
                result: Some(TranscodeOutcome::Error(String::new())),
                ..Default::default()
            }
            .encode_to_vec(),
            cat(&[&key(2, LEN), &[0]]),
        ),
    ];
    let failures: Vec<String> = cases
        .into_iter()
        .filter(|(_, got, want)| got != want)
        .map(|(name, got, want)| format!("{name}: got {got:02x?}, want {want:02x?}"))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn video_profile_fields_16_to_28() {
    let profile = VideoProfile {
        name: "a".into(),
        width: 2,
        height: 3,
        bitrate: 4,
        fps: 5,
        format: Format::Mp4.into(),
        fps_den: 7,
        profile: Profile::H264High.into(),
        gop: 9,
        encoder: VideoCodec::H265.into(),
        color_depth: 11,
        chroma_format: ChromaSubsampling::Chroma422.into(),
        quality: 13,
    };
    let mut want = cat(&[&key(16, LEN), &[1, b'a']]);
    // Fields 17..=28 in order, values chosen so that each one's varint is a single byte:
    // width 2, height 3, bitrate 4, fps 5, format MP4 = 1, fpsDen 7, profile H264_HIGH = 3,
    // gop 9, encoder H265 = 1, colorDepth 11, chromaFormat CHROMA_422 = 1, quality 13.
    for (number, value) in (17..=28).zip([2u8, 3, 4, 5, 1, 7, 3, 9, 1, 11, 1, 13]) {
        want.extend(key(number, VARINT));
        want.push(value);
    }
    assert_eq!(profile.encode_to_vec(), want);
}

#[test]
fn video_profile_negative_gop_is_a_ten_byte_varint() {
    // int32 is sign-extended to 64 bits on the wire (not zigzag): -1 is ff ff ff ff ff ff ff ff ff 01.
    let bytes = VideoProfile {
        gop: -1,
        ..Default::default()
    }
    .encode_to_vec();
    let want = cat(&[&key(24, VARINT), &[0xff; 9], &[0x01]]);
    assert_eq!(bytes, want);
    assert_eq!(
        VideoProfile::decode(bytes.as_slice()).map(|p| p.gop).ok(),
        Some(-1)
    );
}

#[test]
fn enum_values_match_go_livepeer() {
    use net::os_info::StorageType;
    let cases: Vec<(&str, i32, i32)> = vec![
        ("DIRECT", StorageType::Direct.into(), 0),
        ("S3", StorageType::S3.into(), 1),
        ("GOOGLE", StorageType::Google.into(), 2),
        ("MPEGTS", Format::Mpegts.into(), 0),
        ("MP4", Format::Mp4.into(), 1),
        ("ENCODER_DEFAULT", Profile::EncoderDefault.into(), 0),
        ("H264_BASELINE", Profile::H264Baseline.into(), 1),
        ("H264_MAIN", Profile::H264Main.into(), 2),
        ("H264_HIGH", Profile::H264High.into(), 3),
        (
            "H264_CONSTRAINED_HIGH",
            Profile::H264ConstrainedHigh.into(),
            4,
        ),
        ("H264", VideoCodec::H264.into(), 0),
        ("H265", VideoCodec::H265.into(), 1),
        ("VP8", VideoCodec::Vp8.into(), 2),
        ("VP9", VideoCodec::Vp9.into(), 3),
        ("CHROMA_420", ChromaSubsampling::Chroma420.into(), 0),
        ("CHROMA_422", ChromaSubsampling::Chroma422.into(), 1),
        ("CHROMA_444", ChromaSubsampling::Chroma444.into(), 2),
    ];
    for (name, got, want) in cases {
        assert_eq!(got, want, "{name}");
    }
    // The proto names survive too (they appear in logs and JSON configs).
    assert_eq!(VideoCodec::from_str_name("VP9"), Some(VideoCodec::Vp9));
    assert_eq!(
        Profile::H264ConstrainedHigh.as_str_name(),
        "H264_CONSTRAINED_HIGH"
    );
    assert_eq!(ChromaSubsampling::Chroma444.as_str_name(), "CHROMA_444");
    assert_eq!(StorageType::Google.as_str_name(), "GOOGLE");
}

#[test]
fn capabilities_bitsets_are_packed() {
    let caps = Capabilities {
        // The default capability set 0x4005FFF is a 4-byte varint: ff bf 81 20.
        bitstring: vec![0x4005FFF, 1],
        mandatories: vec![1 << 12],
        ..Default::default()
    };
    let want = cat(&[
        &key(1, LEN),
        &[5, 0xff, 0xbf, 0x81, 0x20, 0x01],
        &key(2, LEN),
        &[2, 0x80, 0x20],
    ]);
    assert_eq!(caps.encode_to_vec(), want);
}

#[test]
fn capabilities_bitsets_also_decode_unpacked() {
    // proto3 parsers must accept the unpacked form of a packed field; older encoders send it.
    let unpacked = cat(&[
        &key(1, VARINT),
        &[0xff, 0xbf, 0x81, 0x20],
        &key(1, VARINT),
        &[0x01],
    ]);
    let caps = Capabilities::decode(unpacked.as_slice())
        .map(|c| c.bitstring)
        .ok();
    assert_eq!(caps, Some(vec![0x4005FFF, 1]));
}

#[test]
fn map_entries_are_key_1_value_2_messages() {
    let caps = Capabilities {
        capacities: HashMap::from([(27, 4)]),
        ..Default::default()
    };
    let want = cat(&[
        &key(3, LEN),
        &[4],
        &key(1, VARINT),
        &[27],
        &key(2, VARINT),
        &[4],
    ]);
    assert_eq!(caps.encode_to_vec(), want);

    // PerCapability is field 2 of Constraints; the entry's value is a message (field 2, LEN).
    let model = net::capabilities::capability_constraints::ModelConstraint {
        warm: true,
        ..Default::default()
    };
    let value = net::capabilities::CapabilityConstraints {
        models: HashMap::from([("m".to_owned(), model)]),
    };
    let constraints = net::capabilities::Constraints {
        min_version: String::new(),
        per_capability: HashMap::from([(35, value.clone())]),
    };
    // value = models entry {1: "m", 2: {1: true}} = 0a 07 | 0a 01 'm' | 12 02 08 01.
    let value_bytes = cat(&[
        &key(1, LEN),
        &[7],
        &key(1, LEN),
        &[1, b'm'],
        &key(2, LEN),
        &[2, 0x08, 1],
    ]);
    assert_eq!(value.encode_to_vec(), value_bytes);
    let want = cat(&[
        &key(2, LEN),
        &[13],
        &key(1, VARINT),
        &[35],
        &key(2, LEN),
        &[9],
        &value_bytes,
    ]);
    assert_eq!(constraints.encode_to_vec(), want);
}

#[test]
fn map_entries_decode_with_or_without_default_values() {
    // Go writes both key and value of every map entry; prost leaves out defaults. Readers
    // must take both forms, and an entry with no value holds the default value.
    let capacities = |bytes: &[u8]| Capabilities::decode(bytes).map(|c| c.capacities).ok();
    let cases: [(&str, Vec<u8>, HashMap<u32, u32>); 4] = [
        (
            "key and value",
            cat(&[&key(3, LEN), &[4, 0x08, 27, 0x10, 4]]),
            HashMap::from([(27, 4)]),
        ),
        (
            "zero key and value written",
            cat(&[&key(3, LEN), &[4, 0x08, 0, 0x10, 0]]),
            HashMap::from([(0, 0)]),
        ),
        (
            "value left out",
            cat(&[&key(3, LEN), &[2, 0x08, 27]]),
            HashMap::from([(27, 0)]),
        ),
        (
            "empty entry",
            cat(&[&key(3, LEN), &[0]]),
            HashMap::from([(0, 0)]),
        ),
    ];
    for (name, bytes, want) in cases {
        assert_eq!(capacities(&bytes), Some(want), "{name}");
    }
}

#[test]
fn notify_segment_reserved_fields_are_skipped() {
    // Fields 2 and 33 are reserved: old senders may still write them and readers must skip them.
    let bytes = cat(&[
        &key(2, LEN),
        &[3, b'o', b'l', b'd'],
        &key(33, LEN),
        &[1, b'x'],
        &key(16, VARINT),
        &[5],
    ]);
    let msg = NotifySegment::decode(bytes.as_slice()).ok();
    assert_eq!(
        msg,
        Some(NotifySegment {
            task_id: 5,
            ..Default::default()
        })
    );
}
