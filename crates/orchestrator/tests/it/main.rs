//! Integration tests of livepeer-orchestrator: a real orchestrator bound on 127.0.0.1 port 0,
//! transcoding with the local ffmpeg, driven over real TLS (and h2c) sockets by the gateway's
//! own client, with real segments cut from the test clips.

mod segment;
mod sessions;
mod transport;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{StatusCode, Uri};
use livepeer_gateway::GatewayError;
use livepeer_gateway::client::OrchestratorClient;
use livepeer_gateway::dispatch::{SourceSegment, job_capabilities, seg_data};
use livepeer_media::{Ffmpeg, output_resolution, testing};
use livepeer_orchestrator::{
    LocalTranscoder, OrchestratorConfig, OrchestratorResult, OrchestratorService,
};
use livepeer_primitives::ManifestId;
use livepeer_primitives::profile::VideoProfile;
use livepeer_proto::headers::{PAYMENT_HEADER, SEGMENT_HEADER, encode_header};
use livepeer_proto::net;
use prost::Message;
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// x264 preset of the test orchestrators: the fastest, so the suite stays quick on 2 cores.
pub(crate) const PRESET: &str = "ultrafast";
/// The cheapest standard rendition, for tests where the ladder does not matter.
pub(crate) const P144: &str = "P144p30fps16x9";
/// The test segments' source clip and its size.
const CLIP: &str = testing::BIKES_MP4;
const CLIP_SIZE: (u32, u32) = (640, 272);

/// The binaries; fails (never skips) when ffmpeg is missing.
pub(crate) fn ffmpeg() -> Ffmpeg {
    Ffmpeg::locate().unwrap_or_else(|e| panic!("{e} (run `make test`, which installs ffmpeg)"))
}

/// A running orchestrator.
pub(crate) struct Orch {
    /// Its service URI as advertised, e.g. `https://127.0.0.1:41234` (no trailing slash).
    pub(crate) base: String,
    /// The same, parsed.
    pub(crate) uri: Uri,
    /// The bound socket.
    pub(crate) addr: SocketAddr,
    cancel: CancellationToken,
    task: JoinHandle<OrchestratorResult<()>>,
}

impl Orch {
    /// Binds an orchestrator on 127.0.0.1 port 0 with a local ffmpeg transcoder, lets
    /// `tweak` adjust the configuration, and runs it.
    pub(crate) async fn start(tweak: impl FnOnce(&mut OrchestratorConfig)) -> Self {
        let mut config = OrchestratorConfig {
            service_addr: "127.0.0.1:0".into(),
            transcoder: Some(LocalTranscoder::new(ffmpeg(), PRESET.into())),
            ..Default::default()
        };
        tweak(&mut config);
        let service = OrchestratorService::bind(config)
            .await
            .expect("orchestrator binds 127.0.0.1:0");
        let base = service.service_uri().to_string();
        let uri = base.parse().expect("the service URI is a URI");
        let addr = service.local_addr();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(service.run(cancel.clone()));
        Self {
            base,
            uri,
            addr,
            cancel,
            task,
        }
    }

    /// Cancels the orchestrator and checks that it stops cleanly.
    pub(crate) async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(Duration::from_secs(15), self.task)
            .await
            .expect("the orchestrator stops after cancel")
            .expect("the orchestrator task does not panic")
            .expect("the orchestrator stops without an error");
    }
}

/// One MPEG-TS segment cut from a real clip.
#[derive(Debug)]
pub(crate) struct Clip {
    /// The bytes.
    pub(crate) data: Bytes,
    /// Its duration, from ffmpeg's segment list.
    pub(crate) duration: Duration,
}

static SEGMENT: OnceCell<Clip> = OnceCell::const_new();

/// Where the test segment starts in the clip: a keyframe of the bikes clip.
const SEGMENT_START: &str = "5.48";
/// The test segment's length.
const SEGMENT_DURATION: Duration = Duration::from_secs(2);

/// A 2 s MPEG-TS segment of the bikes clip starting on a keyframe, cut once per test binary
/// by stream copy (`ffmpeg -ss 5.48 -t 2 -c copy -f mpegts`), as a gateway's segmenter cuts.
pub(crate) async fn test_segment() -> &'static Clip {
    SEGMENT
        .get_or_init(|| async {
            let dir = tempfile::tempdir().expect("temp dir");
            let out = dir.path().join("segment.ts");
            let run = tokio::process::Command::new(ffmpeg().ffmpeg_path())
                .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"])
                .args(["-ss", SEGMENT_START, "-i"])
                .arg(testing::media_file(CLIP))
                .args(["-t", "2", "-map", "0:v:0", "-c", "copy", "-f", "mpegts"])
                .arg(&out)
                .output()
                .await
                .expect("ffmpeg runs");
            assert!(
                run.status.success(),
                "cutting the test segment: {}",
                String::from_utf8_lossy(&run.stderr)
            );
            let data = tokio::fs::read(&out).await.expect("read the segment");
            Clip {
                data: Bytes::from(data),
                duration: SEGMENT_DURATION,
            }
        })
        .await
}

/// `n` bytes that no demuxer recognises (seeded, so every run sends the same bytes).
pub(crate) fn garbage(n: usize) -> Bytes {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x6c69_7665_7065_6572);
    let mut data = vec![0u8; n];
    rng.fill(data.as_mut_slice());
    Bytes::from(data)
}

/// Standard profiles by name.
pub(crate) fn profiles(names: &[&str]) -> Vec<VideoProfile> {
    names
        .iter()
        .map(|n| VideoProfile::standard(n).unwrap_or_else(|| panic!("{n} is standard")))
        .collect()
}

/// The `SegData` a gateway sends for `data` as segment `seq` of stream "it-stream".
pub(crate) fn seg_for(
    token: &net::AuthToken,
    seq: u64,
    data: &Bytes,
    duration: Duration,
    profiles: &[VideoProfile],
) -> net::SegData {
    let segment = SourceSegment {
        manifest: ManifestId::new("it-stream").expect("valid manifest id"),
        seq,
        duration,
        data: data.clone(),
        slice: None,
    };
    seg_data(
        &segment,
        profiles,
        &job_capabilities(profiles, false),
        token,
    )
}

/// A `POST /segment` with the given raw header values (`None` leaves a header out).
pub(crate) fn segment_request(
    base: &str,
    segment_header: Option<hyper::header::HeaderValue>,
    payment_header: Option<&str>,
    body: Bytes,
) -> hyper::Request<tonic::body::Body> {
    let mut request = hyper::Request::post(format!("{base}/segment"))
        .header(hyper::header::CONTENT_TYPE, "video/MP2T");
    if let Some(value) = segment_header {
        request = request.header(SEGMENT_HEADER, value);
    }
    if let Some(value) = payment_header {
        request = request.header(PAYMENT_HEADER, value);
    }
    request
        .body(tonic::body::Body::new(Full::new(body)))
        .expect("a valid request")
}

/// Sends `request` and returns the status and the whole body.
pub(crate) async fn send(
    client: &OrchestratorClient,
    request: hyper::Request<tonic::body::Body>,
) -> (StatusCode, Bytes) {
    let response = client
        .send(request)
        .await
        .expect("the request gets an answer");
    let status = response.status();
    let body = tokio::time::timeout(Duration::from_secs(30), response.into_body().collect())
        .await
        .expect("the body arrives within 30 s")
        .expect("the body is readable")
        .to_bytes();
    (status, body)
}

/// POSTs `body` with `seg` in `Livepeer-Segment` and an empty payment, as an off-chain
/// gateway does.
pub(crate) async fn post_segment(
    client: &OrchestratorClient,
    base: &str,
    seg: &net::SegData,
    body: Bytes,
) -> (StatusCode, Bytes) {
    let header = encode_header(seg)
        .parse()
        .expect("base64 is a header value");
    send(client, segment_request(base, Some(header), Some(""), body)).await
}

/// POSTs a segment that must be accepted and returns its decoded `TranscodeResult`.
pub(crate) async fn transcode(
    client: &OrchestratorClient,
    base: &str,
    seg: &net::SegData,
    body: Bytes,
) -> net::TranscodeResult {
    let (status, answer) = post_segment(client, base, seg, body).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "segment refused: {}",
        String::from_utf8_lossy(&answer)
    );
    net::TranscodeResult::decode(answer.as_ref()).expect("the 200 body is a TranscodeResult")
}

/// `GetOrchestrator` with the job capabilities of `P144`.
pub(crate) async fn get_orchestrator(
    client: &OrchestratorClient,
    uri: &Uri,
) -> Result<net::OrchestratorInfo, GatewayError> {
    let caps = job_capabilities(&profiles(&[P144]), false);
    client
        .get_orchestrator(
            uri,
            net::OrchestratorRequest {
                capabilities: Some(livepeer_proto::convert::capabilities_to_net(&caps)),
                ..Default::default()
            },
        )
        .await
}

/// A new session's auth token.
pub(crate) async fn new_session(client: &OrchestratorClient, uri: &Uri) -> net::AuthToken {
    get_orchestrator(client, uri)
        .await
        .expect("GetOrchestrator succeeds")
        .auth_token
        .expect("GetOrchestrator hands out an auth token")
}

/// GETs `url` and returns the status and body.
pub(crate) async fn get(client: &OrchestratorClient, url: &str) -> (StatusCode, Bytes) {
    let request = hyper::Request::get(url)
        .body(tonic::body::Body::new(Full::new(Bytes::new())))
        .expect("a valid request");
    send(client, request).await
}

/// Width, height and decoded frame count of the first video stream, by an independent
/// `ffprobe -count_frames` run.
pub(crate) async fn count_video(data: &[u8]) -> (u32, u32, u64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("rendition.ts");
    tokio::fs::write(&path, data)
        .await
        .expect("write rendition");
    let out = tokio::process::Command::new(ffmpeg().ffprobe_path())
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_frames",
            "-show_entries",
            "stream=width,height,nb_read_frames",
            "-of",
            "default=noprint_wrappers=1",
        ])
        .arg(&path)
        .output()
        .await
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let field = |key: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("ffprobe gave no {key}: {text}"))
    };
    (
        u32::try_from(field("width")).expect("width fits u32"),
        u32::try_from(field("height")).expect("height fits u32"),
        field("nb_read_frames"),
    )
}

/// Checks a successful `TranscodeResult` for segment `seq` of session `token`: one rendition
/// per profile, each at `<service URI>/stream/<session>/<profile>/<seq>.ts`, downloadable,
/// of the profile's size for the bikes clip, and reporting `width × height × frames` pixels.
/// Returns the rendition URLs.
pub(crate) async fn check_renditions(
    client: &OrchestratorClient,
    orch: &Orch,
    token: &net::AuthToken,
    seq: i64,
    result: &net::TranscodeResult,
    profiles: &[VideoProfile],
) -> Vec<String> {
    assert_eq!(result.seq, seq);
    let info = result
        .info
        .as_ref()
        .expect("the result carries OrchestratorInfo");
    assert_eq!(info.transcoder, orch.base);
    assert_eq!(
        info.auth_token.as_ref(),
        Some(token),
        "same auth token back"
    );
    let data = match &result.result {
        Some(net::transcode_result::Result::Data(data)) => data,
        other => panic!("expected renditions, got {other:?}"),
    };
    assert_eq!(data.segments.len(), profiles.len());
    let mut urls = Vec::new();
    for (segment, profile) in data.segments.iter().zip(profiles) {
        let want_url = format!(
            "{}/stream/{}/{}/{seq}.ts",
            orch.base, token.session_id, profile.name
        );
        assert_eq!(segment.url, want_url);
        let (status, bytes) = get(client, &segment.url).await;
        assert_eq!(status, StatusCode::OK, "download {}", segment.url);
        assert_eq!(bytes.first(), Some(&0x47), "an MPEG-TS rendition");
        let (width, height, frames) = count_video(&bytes).await;
        assert_eq!(
            (width, height),
            output_resolution(CLIP_SIZE.0, CLIP_SIZE.1, profile),
            "{}",
            profile.name
        );
        assert!(frames > 0, "{} has frames", profile.name);
        assert_eq!(
            segment.pixels,
            i64::from(width) * i64::from(height) * i64::try_from(frames).expect("frames fit"),
            "{}: pixels = width × height × frames",
            profile.name
        );
        urls.push(segment.url.clone());
    }
    urls
}

/// Polls `check` every 50 ms until it returns true, for at most `limit`; returns whether it
/// did.
pub(crate) async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
