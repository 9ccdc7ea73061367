//! A real orchestrator on 127.0.0.1 and the `/segment` exchanges a gateway makes with it.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{StatusCode, Uri};
use livepeer_gateway::GatewayError;
use livepeer_gateway::client::OrchestratorClient;
use livepeer_gateway::dispatch::{SourceSegment, job_capabilities, seg_data};
use livepeer_media::output_resolution;
use livepeer_orchestrator::{
    LocalTranscoder, OrchestratorConfig, OrchestratorHandle, OrchestratorResult,
    OrchestratorService,
};
use livepeer_primitives::ManifestId;
use livepeer_primitives::profile::VideoProfile;
use livepeer_proto::headers::{PAYMENT_HEADER, SEGMENT_HEADER, encode_header};
use livepeer_proto::net;
use prost::Message;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::media::{CLIP_SIZE, count_video};
use crate::{P144, PRESET, STOP_LIMIT, ffmpeg, profiles};

/// A running orchestrator.
pub struct Orch {
    /// Its service URI as advertised, e.g. `https://127.0.0.1:41234` (no trailing slash).
    pub base: String,
    /// The same, parsed.
    pub uri: Uri,
    /// The bound socket.
    pub addr: SocketAddr,
    /// Its view for reports (sessions, transcoders, payments).
    pub handle: OrchestratorHandle,
    cancel: CancellationToken,
    task: JoinHandle<OrchestratorResult<()>>,
}

impl Orch {
    /// Binds an orchestrator on 127.0.0.1 port 0 with a local ffmpeg transcoder, lets
    /// `tweak` adjust the configuration, and runs it.
    pub async fn start(tweak: impl FnOnce(&mut OrchestratorConfig)) -> Self {
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
        let handle = service.handle();
        let cancel = CancellationToken::new();
        let task = tokio::spawn(service.run(cancel.clone()));
        Self {
            base,
            uri,
            addr,
            handle,
            cancel,
            task,
        }
    }

    /// Cancels the orchestrator and checks that it stops cleanly.
    pub async fn stop(self) {
        self.cancel.cancel();
        tokio::time::timeout(STOP_LIMIT, self.task)
            .await
            .expect("the orchestrator stops after cancel")
            .expect("the orchestrator task does not panic")
            .expect("the orchestrator stops without an error");
    }

    /// An orchestrator admitting `max_sessions` sessions, otherwise as [`Orch::start`].
    pub async fn with_max_sessions(max_sessions: usize) -> Self {
        Self::start(|c| c.max_sessions = max_sessions).await
    }

    /// Whether the orchestrator refuses new sessions with "OrchestratorCapped".
    pub async fn is_capped(&self) -> bool {
        match OrchestratorClient::new()
            .get_orchestrator(&self.uri, net::OrchestratorRequest::default())
            .await
        {
            Ok(_) => false,
            Err(err) if err.to_string().contains("OrchestratorCapped") => true,
            Err(err) => panic!("GetOrchestrator failed otherwise: {err}"),
        }
    }
}

/// The `SegData` a gateway sends for `data` as segment `seq` of stream "it-stream".
pub fn seg_for(
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
        input: Default::default(),
        storage: None,
    };
    seg_data(
        &segment,
        profiles,
        &job_capabilities(profiles, false),
        token,
    )
    .expect("the test seq fits a SegData")
}

/// A `POST /segment` with the given raw header values (`None` leaves a header out).
pub fn segment_request(
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
pub async fn send(
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
pub async fn post_segment(
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
pub async fn transcode(
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
pub async fn get_orchestrator(
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
pub async fn new_session(client: &OrchestratorClient, uri: &Uri) -> net::AuthToken {
    get_orchestrator(client, uri)
        .await
        .expect("GetOrchestrator succeeds")
        .auth_token
        .expect("GetOrchestrator hands out an auth token")
}

/// GETs `url` and returns the status and body.
pub async fn get(client: &OrchestratorClient, url: &str) -> (StatusCode, Bytes) {
    let request = hyper::Request::get(url)
        .body(tonic::body::Body::new(Full::new(Bytes::new())))
        .expect("a valid request");
    send(client, request).await
}

/// Checks a successful `TranscodeResult` for segment `seq` of session `token` from the
/// orchestrator serving at `base`: one rendition per profile, each at
/// `<service URI>/stream/<session>/<profile>/<seq>.ts`, downloadable,
/// of the profile's size for the bikes clip, and reporting `width × height × frames` pixels.
/// Returns the rendition URLs.
pub async fn check_renditions(
    client: &OrchestratorClient,
    base: &str,
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
    assert_eq!(info.transcoder, base);
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
            base, token.session_id, profile.name
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

/// A request body of 1 MiB chunks that never ends, counting in `pulled` the bytes the
/// transport took from it (so a test can tell how much of a refused body was read).
pub fn endless_body(pulled: std::sync::Arc<std::sync::atomic::AtomicU64>) -> tonic::body::Body {
    let chunk = Bytes::from(vec![0x47u8; 1 << 20]);
    let stream = futures::stream::repeat_with(move || {
        pulled.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
        Ok::<_, std::convert::Infallible>(hyper::body::Frame::data(chunk.clone()))
    });
    tonic::body::Body::new(http_body_util::StreamBody::new(stream))
}

/// Off-chain segment credentials for an AI request to `orch` on `manifest` (e.g. `35_noop`):
/// its auth token from `GetOrchestrator`, base64 as `Livepeer-Segment` carries them.
pub async fn ai_seg_creds(orch: &Orch, manifest: &str) -> String {
    let info = OrchestratorClient::new()
        .get_orchestrator(&orch.uri, net::OrchestratorRequest::default())
        .await
        .expect("GetOrchestrator");
    let seg = net::SegData {
        manifest_id: manifest.as_bytes().to_vec(),
        auth_token: info.auth_token,
        ..Default::default()
    };
    encode_header(&seg)
}

/// On chain: the `Livepeer-Segment` and `Livepeer-Payment` values of an AI request to `orch`
/// paid by `gateway` with `tickets` tickets on the parameters a signed `GetOrchestrator`
/// gives, the credentials signed by the gateway.
pub async fn paid_ai_request(
    orch: &Orch,
    gateway: &livepeer_gateway::payment::PaymentConfig,
    manifest: &str,
    tickets: u32,
) -> (String, String) {
    use livepeer_pm::payment::{encode_payment_header, price_from_net, ticket_params_from_net};
    use livepeer_proto::signing;
    let address = gateway.signer.address();
    let request = net::OrchestratorRequest {
        address: address.to_vec(),
        sig: gateway
            .signer
            .sign(&signing::orchestrator_request_hash(address))
            .to_vec(),
        ..Default::default()
    };
    let info = OrchestratorClient::new()
        .get_orchestrator(&orch.uri, request)
        .await
        .expect("a signed GetOrchestrator is answered");
    let params = ticket_params_from_net(info.ticket_params.as_ref().expect("ticket params"))
        .expect("valid params");
    let price = price_from_net(info.price_info.as_ref().expect("price"));
    let session = gateway
        .sender
        .start_session(params, price)
        .expect("the gateway accepts the params");
    let payment = encode_payment_header(
        &gateway
            .sender
            .create_ticket_batch(&session, tickets)
            .expect("tickets"),
    );
    let mut seg = net::SegData {
        manifest_id: manifest.as_bytes().to_vec(),
        auth_token: info.auth_token,
        ..Default::default()
    };
    let hash = signing::seg_data_hash(&seg, signing::seg_data_profile_names(&seg));
    seg.sig = gateway.signer.sign(&hash).to_vec();
    (encode_header(&seg), payment)
}

/// The built-in AI runners of `models` (the `-aiModels` inline form or a JSON file), started
/// with the installed models directory.
pub async fn ai_worker(models: &str) -> std::sync::Arc<livepeer_ai::worker::AiWorker> {
    let dir = livepeer_ai::ModelsDir::discover().expect("models directory (run `make test`)");
    let configs = livepeer_ai::config::parse_ai_models(models).expect("aiModels");
    std::sync::Arc::new(
        livepeer_ai::worker::AiWorker::start(&configs, &dir)
            .await
            .expect("runners start"),
    )
}

/// An off-chain orchestrator with no transcoder whose AI runners are `models`, unpriced; stop
/// the runners with `worker.shutdown()` after `orch.stop()`.
pub async fn ai_orchestrator(
    models: &str,
) -> (Orch, std::sync::Arc<livepeer_ai::worker::AiWorker>) {
    let worker = ai_worker(models).await;
    let ai = livepeer_orchestrator::ai::AiConfig {
        worker: worker.clone(),
        prices: Vec::new(),
    };
    let orch = Orch::start(|c| {
        c.transcoder = None;
        c.ai = Some(ai);
    })
    .await;
    (orch, worker)
}
