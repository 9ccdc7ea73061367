//! One value of every message in package `net` with every field set to a non-default value:
//! maps and repeated fields hold two entries, nested messages are themselves full, enums are
//! non-zero.

use std::collections::HashMap;

use livepeer_proto::net::{
    self, AiJobData, AuthToken, Capabilities, EndTranscodingSessionRequest,
    EndTranscodingSessionResponse, GpuComputeInfo, HardwareInformation, MaxFloatReq,
    MaxFloatUpdate, NotifyAiJob, NotifySegment, OrchestratorInfo, OrchestratorRequest, OsInfo,
    Payment, PaymentResult, PingPong, PriceInfo, QueueTicketRes, RegisterAiWorkerRequest,
    RegisterRequest, S3osInfo, SegData, SegParameters, Ticket, TicketExpirationParams,
    TicketParams, TicketSenderParams, TranscodeData, TranscodeResult, TranscodedSegmentData,
    VideoProfile,
};
use net::capabilities::capability_constraints::ModelConstraint;
use net::capabilities::{CapabilityConstraints, Constraints};
use net::os_info::StorageType;
use net::transcode_result::Result as TranscodeOutcome;
use net::video_profile::{ChromaSubsampling, Format, Profile, VideoCodec};

pub fn ping_pong() -> PingPong {
    PingPong {
        value: vec![0x5a; 32],
    }
}

pub fn auth_token() -> AuthToken {
    AuthToken {
        token: vec![0xa7; 32],
        session_id: "0a1b2c3d".into(),
        expiration: 1_700_001_800,
    }
}

pub fn end_transcoding_session_request() -> EndTranscodingSessionRequest {
    EndTranscodingSessionRequest {
        auth_token: Some(auth_token()),
    }
}

pub fn end_transcoding_session_response() -> EndTranscodingSessionResponse {
    EndTranscodingSessionResponse {}
}

pub fn model_constraint() -> ModelConstraint {
    ModelConstraint {
        warm: true,
        capacity: 4,
        runner_version: "0.13.1".into(),
        capacity_in_use: 3,
    }
}

pub fn capability_constraints() -> CapabilityConstraints {
    let cold = ModelConstraint {
        warm: false,
        capacity: 1,
        ..model_constraint()
    };
    CapabilityConstraints {
        models: HashMap::from([
            ("ByteDance/SDXL-Lightning".into(), model_constraint()),
            ("stabilityai/sd-turbo".into(), cold),
        ]),
    }
}

pub fn constraints() -> Constraints {
    Constraints {
        min_version: "0.8.0".into(),
        per_capability: HashMap::from([
            (27, capability_constraints()),
            (35, capability_constraints()),
        ]),
    }
}

pub fn capabilities() -> Capabilities {
    Capabilities {
        bitstring: vec![0x4005FFF, 1 << 63],
        mandatories: vec![1 << 12, u64::MAX],
        capacities: HashMap::from([(0, 1), (27, 4)]),
        version: "0.8.1".into(),
        constraints: Some(constraints()),
    }
}

pub fn orchestrator_request() -> OrchestratorRequest {
    OrchestratorRequest {
        address: vec![0x1a; 20],
        sig: vec![0x1b; 65],
        capabilities: Some(capabilities()),
        ignore_capacity_check: true,
    }
}

pub fn s3_os_info() -> S3osInfo {
    S3osInfo {
        host: "https://bucket.s3.amazonaws.com".into(),
        key: "streams/abc/".into(),
        policy: "eyJleHBpcmF0aW9uIjoi".into(),
        signature: "c2lnbmF0dXJl".into(),
        credential: "AKIA/20240101/us-east-1/s3/aws4_request".into(),
        x_amz_date: "20240101T000000Z".into(),
    }
}

pub fn os_info() -> OsInfo {
    OsInfo {
        storage_type: StorageType::S3.into(),
        s3info: Some(s3_os_info()),
    }
}

pub fn price_info() -> PriceInfo {
    PriceInfo {
        price_per_unit: 1200,
        pixels_per_unit: 7,
        capability: 27,
        constraint: "ByteDance/SDXL-Lightning".into(),
    }
}

pub fn ticket_expiration_params() -> TicketExpirationParams {
    TicketExpirationParams {
        creation_round: 3500,
        creation_round_block_hash: vec![0x84; 32],
    }
}

pub fn ticket_params() -> TicketParams {
    TicketParams {
        recipient: vec![0x50; 20],
        face_value: vec![0x03, 0x8d, 0x7e, 0xa4, 0xc6, 0x80, 0x00],
        win_prob: vec![0x80; 32],
        recipient_rand_hash: vec![0xf3; 32],
        seed: vec![0xa8; 32],
        expiration_block: vec![0x01, 0x40, 0x6f, 0x68],
        expiration_params: Some(ticket_expiration_params()),
    }
}

pub fn gpu_compute_info() -> GpuComputeInfo {
    GpuComputeInfo {
        id: "GPU-0".into(),
        name: "NVIDIA H100".into(),
        major: 9,
        minor: 1,
        memory_free: 80_000_000_000,
        memory_total: 85_000_000_000,
    }
}

pub fn hardware_information() -> HardwareInformation {
    HardwareInformation {
        pipeline: "text-to-image".into(),
        model_id: "ByteDance/SDXL-Lightning".into(),
        gpu_info: HashMap::from([
            ("0".into(), gpu_compute_info()),
            (
                "1".into(),
                GpuComputeInfo {
                    id: "GPU-1".into(),
                    ..gpu_compute_info()
                },
            ),
        ]),
    }
}

pub fn orchestrator_info() -> OrchestratorInfo {
    OrchestratorInfo {
        transcoder: "https://127.0.0.1:8935".into(),
        ticket_params: Some(ticket_params()),
        price_info: Some(price_info()),
        address: vec![0x50; 20],
        capabilities: Some(capabilities()),
        auth_token: Some(auth_token()),
        hardware: vec![hardware_information(), hardware_information()],
        storage: vec![os_info(), os_info()],
        capabilities_prices: vec![
            price_info(),
            PriceInfo {
                capability: 37,
                ..price_info()
            },
        ],
        nodes: vec![
            "https://a.example:8935".into(),
            "https://b.example:8935".into(),
        ],
    }
}

pub fn video_profile() -> VideoProfile {
    VideoProfile {
        name: "P720p30fps16x9".into(),
        width: 1280,
        height: 720,
        bitrate: 4_000_000,
        fps: 30_000,
        format: Format::Mp4.into(),
        fps_den: 1001,
        profile: Profile::H264ConstrainedHigh.into(),
        gop: -100,
        encoder: VideoCodec::Vp9.into(),
        color_depth: 10,
        chroma_format: ChromaSubsampling::Chroma444.into(),
        quality: 23,
    }
}

pub fn seg_parameters() -> SegParameters {
    SegParameters {
        from: 1_000,
        to: 2_000,
    }
}

pub fn seg_data() -> SegData {
    SegData {
        manifest_id: b"9b6f2d1c".to_vec(),
        seq: 42,
        hash: vec![0x3c; 32],
        profiles: b"invalid".to_vec(),
        sig: vec![0x1c; 65],
        duration: 2_000,
        capabilities: Some(capabilities()),
        auth_token: Some(auth_token()),
        calc_perceptual_hash: true,
        storage: vec![os_info(), os_info()],
        full_profiles: vec![video_profile(), video_profile()],
        full_profiles2: vec![video_profile(), video_profile()],
        full_profiles3: vec![video_profile(), video_profile()],
        segment_parameters: Some(seg_parameters()),
        force_session_reinit: true,
    }
}

pub fn transcoded_segment_data() -> TranscodedSegmentData {
    TranscodedSegmentData {
        url: "https://127.0.0.1:8935/stream/abc/P720p30fps16x9/42.ts".into(),
        pixels: 1280 * 720 * 60,
        perceptual_hash_url: "https://127.0.0.1:8935/stream/abc/42.phash".into(),
    }
}

pub fn transcode_data() -> TranscodeData {
    TranscodeData {
        segments: vec![transcoded_segment_data(), transcoded_segment_data()],
        sig: vec![0x1b; 65],
    }
}

pub fn transcode_result_data() -> TranscodeResult {
    TranscodeResult {
        seq: 42,
        result: Some(TranscodeOutcome::Data(transcode_data())),
        info: Some(orchestrator_info()),
    }
}

pub fn transcode_result_error() -> TranscodeResult {
    TranscodeResult {
        seq: 43,
        result: Some(TranscodeOutcome::Error("OrchestratorBusy".into())),
        info: Some(orchestrator_info()),
    }
}

pub fn payment_result() -> PaymentResult {
    PaymentResult {
        info: Some(orchestrator_info()),
    }
}

pub fn register_request() -> RegisterRequest {
    RegisterRequest {
        secret: "orch-secret".into(),
        capacity: 10,
        capabilities: Some(capabilities()),
    }
}

pub fn notify_segment() -> NotifySegment {
    NotifySegment {
        url: "https://127.0.0.1:8935/segment/7".into(),
        seg_data: Some(seg_data()),
        task_id: 7,
        profiles: b"invalid".to_vec(),
        orch_id: "0x5050a4f4b3f9338c3472dcc01a87c76a144b3c9c".into(),
    }
}

pub fn register_ai_worker_request() -> RegisterAiWorkerRequest {
    RegisterAiWorkerRequest {
        secret: "orch-secret".into(),
        capabilities: Some(capabilities()),
        hardware: vec![hardware_information(), hardware_information()],
    }
}

pub fn ai_job_data() -> AiJobData {
    AiJobData {
        pipeline: "text-to-image".into(),
        request_data: br#"{"input_url":"","request":"{}"}"#.to_vec(),
    }
}

pub fn notify_ai_job() -> NotifyAiJob {
    NotifyAiJob {
        ai_job_data: Some(ai_job_data()),
        task_id: 9,
    }
}

pub fn ticket_sender_params() -> TicketSenderParams {
    TicketSenderParams {
        sender_nonce: u32::MAX,
        sig: vec![0x57; 65],
    }
}

pub fn payment() -> Payment {
    Payment {
        ticket_params: Some(ticket_params()),
        sender: vec![0x1a; 20],
        expiration_params: Some(ticket_expiration_params()),
        ticket_sender_params: vec![
            ticket_sender_params(),
            TicketSenderParams {
                sender_nonce: 1,
                ..ticket_sender_params()
            },
        ],
        expected_price: Some(price_info()),
    }
}

pub fn ticket() -> Ticket {
    Ticket {
        ticket_params: Some(ticket_params()),
        sender: vec![0x1a; 20],
        expiration_params: Some(ticket_expiration_params()),
        sender_params: Some(ticket_sender_params()),
        recipient_rand: vec![0xff, 0xf3, 0x9a],
    }
}

pub fn queue_ticket_res() -> QueueTicketRes {
    QueueTicketRes {}
}

pub fn max_float_req() -> MaxFloatReq {
    MaxFloatReq {
        sender: vec![0x1a; 20],
    }
}

pub fn max_float_update() -> MaxFloatUpdate {
    MaxFloatUpdate {
        max_float: vec![0x0d, 0xe0, 0xb6, 0xb3, 0xa7, 0x64, 0x00, 0x00],
    }
}
