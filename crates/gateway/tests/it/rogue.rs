//! A misbehaving orchestrator for the gateway's hardening tests: a real gRPC
//! `GetOrchestrator` and real `/segment` and rendition routes over cleartext HTTP/2 (h2c, an
//! `http://` `-orchAddr`), on 127.0.0.1 port 0, answering however the test sets it to.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use hyper::{StatusCode, Uri};
use livepeer_proto::headers::{SEGMENT_HEADER, decode_header};
use livepeer_proto::{convert, net};
use prost::Message;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// How the rogue orchestrator answers `/segment`.
#[derive(Debug, Clone)]
pub(crate) enum Behaviour {
    /// Honest but lazy: every rendition is the pushed segment itself (valid MPEG-TS).
    Echo,
    /// As `Echo`, each rendition with a perceptual hash URL serving this text.
    EchoHashed(&'static str),
    /// As `Echo`, each rendition with a perceptual hash URL serving these bytes (a real
    /// MPEG-7 signature, of whatever the test chose).
    EchoWithHash(Bytes),
    /// Refuses with this status and body text.
    Refuse(StatusCode, &'static str),
    /// 200, then a `TranscodeResult` body that never ends.
    EndlessResult,
    /// A well-formed `TranscodeResult` whose renditions are endless downloads.
    EndlessRendition,
    /// A `TranscodeResult` carrying this transcoding error.
    TranscodeError(&'static str),
}

#[derive(Debug)]
struct Shared {
    uri: String,
    behaviour: Mutex<Behaviour>,
    segments: AtomicUsize,
    last_segment: Mutex<Bytes>,
    last_seg_data: Mutex<Option<net::SegData>>,
}

/// A running rogue orchestrator.
pub(crate) struct Rogue {
    /// `http://127.0.0.1:<port>/`.
    pub(crate) uri: Uri,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    task: JoinHandle<std::io::Result<()>>,
}

impl Rogue {
    /// Starts one on 127.0.0.1 port 0.
    pub(crate) async fn start(behaviour: Behaviour) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("bound address");
        let uri = format!("http://{addr}/");
        let shared = Arc::new(Shared {
            uri: uri.clone(),
            behaviour: Mutex::new(behaviour),
            segments: AtomicUsize::new(0),
            last_segment: Mutex::new(Bytes::new()),
            last_seg_data: Mutex::new(None),
        });
        let grpc: Router =
            tonic::service::Routes::new(net::orchestrator_server::OrchestratorServer::new(Grpc {
                shared: shared.clone(),
            }))
            .into_axum_router();
        let app = Router::new()
            .route("/segment", post(segment))
            .route("/stream/{seq}/{rendition}", get(rendition))
            .route("/endless/{rendition}", get(|| async { endless() }))
            .route(
                "/hash/{text}",
                get(|Path(text): Path<String>| async move { text }),
            )
            .route(
                "/hashbytes",
                get(|State(shared): State<Arc<Shared>>| async move {
                    match &*shared.behaviour.lock().expect("not poisoned") {
                        Behaviour::EchoWithHash(bytes) => bytes.clone(),
                        _ => Bytes::new(),
                    }
                }),
            )
            .with_state(shared.clone())
            .merge(grpc);
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        });
        Self {
            uri: uri.parse().expect("a valid URI"),
            shared,
            cancel,
            task,
        }
    }

    /// Changes how later segments are answered.
    pub(crate) fn set(&self, behaviour: Behaviour) {
        *self.shared.behaviour.lock().expect("not poisoned") = behaviour;
    }

    /// `/segment` requests received so far.
    pub(crate) fn segments_received(&self) -> usize {
        self.shared.segments.load(Ordering::Acquire)
    }

    /// The `SegData` of the last `/segment` request.
    pub(crate) fn last_seg_data(&self) -> Option<net::SegData> {
        self.shared
            .last_seg_data
            .lock()
            .expect("not poisoned")
            .clone()
    }

    /// Stops it (endless bodies still being read are cut off).
    pub(crate) async fn stop(self) {
        self.cancel.cancel();
        self.task.abort();
        let _ = self.task.await;
    }
}

/// A body of zeros that never ends, 64 KiB a chunk.
fn endless() -> Response {
    static CHUNK: [u8; 64 * 1024] = [0; 64 * 1024];
    let chunks = futures::stream::repeat_with(|| Ok::<_, Infallible>(Bytes::from_static(&CHUNK)));
    Body::from_stream(chunks).into_response()
}

async fn segment(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    shared.segments.fetch_add(1, Ordering::AcqRel);
    let seg: net::SegData = match headers
        .get(SEGMENT_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| decode_header(v).ok())
    {
        Some(seg) => seg,
        None => return (StatusCode::FORBIDDEN, "bad segment header").into_response(),
    };
    let renditions = convert::profiles_from_seg_data(&seg).map_or(0, |p| p.len());
    *shared.last_seg_data.lock().expect("not poisoned") = Some(seg.clone());
    let behaviour = shared.behaviour.lock().expect("not poisoned").clone();
    let hash_url = match &behaviour {
        Behaviour::EchoHashed(text) => format!("{}hash/{text}", shared.uri),
        Behaviour::EchoWithHash(_) => format!("{}hashbytes", shared.uri),
        _ => String::new(),
    };
    let result = |base: &str| net::TranscodeResult {
        seq: seg.seq,
        result: Some(net::transcode_result::Result::Data(net::TranscodeData {
            segments: (0..renditions)
                .map(|i| net::TranscodedSegmentData {
                    url: format!("{}{base}/{i}", shared.uri),
                    pixels: 1,
                    perceptual_hash_url: hash_url.clone(),
                })
                .collect(),
            sig: Vec::new(),
        })),
        info: None,
    };
    match behaviour {
        Behaviour::Echo | Behaviour::EchoHashed(_) | Behaviour::EchoWithHash(_) => {
            *shared.last_segment.lock().expect("not poisoned") = body;
            result(&format!("stream/{}", seg.seq))
                .encode_to_vec()
                .into_response()
        }
        Behaviour::Refuse(status, text) => (status, text).into_response(),
        Behaviour::EndlessResult => endless(),
        Behaviour::EndlessRendition => result("endless").encode_to_vec().into_response(),
        Behaviour::TranscodeError(message) => net::TranscodeResult {
            seq: seg.seq,
            result: Some(net::transcode_result::Result::Error(message.into())),
            info: None,
        }
        .encode_to_vec()
        .into_response(),
    }
}

async fn rendition(
    State(shared): State<Arc<Shared>>,
    Path((_seq, _rendition)): Path<(String, String)>,
) -> Bytes {
    shared.last_segment.lock().expect("not poisoned").clone()
}

#[derive(Debug)]
struct Grpc {
    shared: Arc<Shared>,
}

#[tonic::async_trait]
impl net::orchestrator_server::Orchestrator for Grpc {
    async fn get_orchestrator(
        &self,
        _request: tonic::Request<net::OrchestratorRequest>,
    ) -> Result<tonic::Response<net::OrchestratorInfo>, tonic::Status> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_secs() as i64;
        Ok(tonic::Response::new(net::OrchestratorInfo {
            transcoder: self.shared.uri.clone(),
            auth_token: Some(net::AuthToken {
                token: vec![7; 32],
                session_id: "rogue".into(),
                expiration: now + 30 * 60,
            }),
            // Claims every capability.
            capabilities: Some(net::Capabilities {
                bitstring: vec![u64::MAX; 4],
                ..Default::default()
            }),
            ..Default::default()
        }))
    }

    async fn end_transcoding_session(
        &self,
        _request: tonic::Request<net::EndTranscodingSessionRequest>,
    ) -> Result<tonic::Response<net::EndTranscodingSessionResponse>, tonic::Status> {
        Ok(tonic::Response::new(Default::default()))
    }

    async fn ping(
        &self,
        request: tonic::Request<net::PingPong>,
    ) -> Result<tonic::Response<net::PingPong>, tonic::Status> {
        Ok(tonic::Response::new(request.into_inner()))
    }
}
