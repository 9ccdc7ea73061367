//! The orchestrator's HTTP routes and the gRPC/HTTP split of its one port.
//!
//! `POST /segment` follows go-livepeer `server/segment_rpc.go:ServeSegment`: the checks of
//! wire-and-network.md §3.3 in order (402 payment, 403 segment credentials / capacity, 500 body
//! read, 403 hash), then 200 sent at once, then the raw protobuf `TranscodeResult` once the
//! transcode is done, with transcoding errors inside it.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State as AxumState};
use axum::http::{HeaderMap, Request, Response, StatusCode, Version, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use bytes::Bytes;
use livepeer_primitives::profile::VideoProfile;
use livepeer_proto::headers::{PAYMENT_HEADER, SEGMENT_HEADER, decode_header};
use livepeer_proto::{convert, net};
use prost::Message;
use tower::ServiceExt;
use tracing::{Instrument, debug, info_span, warn};

use crate::sessions::QueueSlot;
use crate::storage::safe_component;
use crate::{OrchestratorError, State, grpc::OrchestratorGrpc};

/// Largest segment body accepted: 300 MB (go-livepeer `common.MaxSegSize`).
pub const MAX_SEGMENT_BYTES: usize = 300 * 1024 * 1024;
/// Longest segment accepted: 5 minutes (go-livepeer `common.MaxDuration`).
pub const MAX_SEGMENT_DURATION: Duration = Duration::from_secs(300);
/// Duration assumed when `SegData.duration` is 0.
pub const DEFAULT_SEGMENT_DURATION: Duration = Duration::from_secs(2);
/// Smallest rendition go-livepeer accepts from a transcoder, in bytes.
const MIN_RENDITION_BYTES: usize = 25;

/// One service for the whole port: HTTP/2 requests with an `application/grpc` content type go
/// to gRPC, everything else to the HTTP routes (go-livepeer `server/rpc.go`).
pub(crate) fn service(
    state: Arc<State>,
) -> impl tower::Service<
    Request<hyper::body::Incoming>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Send,
> + Clone
+ Send
+ 'static {
    let grpc: Router = tonic::service::Routes::new(
        net::orchestrator_server::OrchestratorServer::new(OrchestratorGrpc {
            state: state.clone(),
        }),
    )
    .into_axum_router();
    let http: Router = Router::new()
        .route("/segment", post(post_segment))
        .route("/stream/{session}/{profile}/{file}", get(get_rendition))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state);
    tower::service_fn(move |req: Request<hyper::body::Incoming>| {
        let is_grpc = req.version() == Version::HTTP_2
            && req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.starts_with("application/grpc"));
        let router = if is_grpc { grpc.clone() } else { http.clone() };
        router.oneshot(req)
    })
}

/// A segment that passed every check before the 200.
struct AcceptedSegment {
    seg: net::SegData,
    session_id: String,
    profiles: Vec<VideoProfile>,
    duration: Duration,
    body: Bytes,
    /// The session's queue place, or "OrchestratorBusy", which is answered inside the 200.
    slot: Result<QueueSlot, OrchestratorError>,
}

async fn post_segment(
    AxumState(state): AxumState<Arc<State>>,
    headers: HeaderMap,
    body: Body,
) -> Response<Body> {
    let accepted = match accept_segment(&state, &headers, body).await {
        Ok(accepted) => accepted,
        Err(err) => {
            warn!(%err, status = %err.status(), "segment refused");
            return err.into_response();
        }
    };
    let span = info_span!(
        "segment",
        session = %accepted.session_id,
        manifest_id = %String::from_utf8_lossy(&accepted.seg.manifest_id),
        seq = accepted.seg.seq
    );
    // 200 goes out with the headers now; the body is written once the transcode is done.
    let result = futures::stream::once(
        async move {
            let result = transcode_segment(&state, accepted).await;
            Ok::<Bytes, Infallible>(Bytes::from(result.encode_to_vec()))
        }
        .instrument(span),
    );
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(Body::from_stream(result))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

async fn accept_segment(
    state: &State,
    headers: &HeaderMap,
    body: Body,
) -> Result<AcceptedSegment, OrchestratorError> {
    // 402: a payment header that is present must decode (off-chain it is sent empty).
    if let Some(payment) = headers.get(PAYMENT_HEADER) {
        let payment = payment
            .to_str()
            .map_err(|e| OrchestratorError::BadPayment(e.to_string()))?;
        if !payment.is_empty() {
            decode_header::<net::Payment>(payment)
                .map_err(|e| OrchestratorError::BadPayment(e.to_string()))?;
        }
    }

    // 403: segment credentials.
    let seg_header = headers
        .get(SEGMENT_HEADER)
        .ok_or_else(|| OrchestratorError::BadSegmentHeader("missing".into()))?
        .to_str()
        .map_err(|e| OrchestratorError::BadSegmentHeader(e.to_string()))?;
    let seg: net::SegData = decode_header(seg_header)
        .map_err(|e| OrchestratorError::BadSegmentHeader(e.to_string()))?;
    state
        .auth
        .verify(seg.auth_token.as_ref(), SystemTime::now())?;
    let session_id = seg
        .auth_token
        .as_ref()
        .map(|t| t.session_id.clone())
        .unwrap_or_default();
    let job_caps = convert::capabilities_from_net(seg.capabilities.as_ref());
    if !job_caps.compatible_with(&state.capabilities) {
        return Err(OrchestratorError::IncompatibleCapabilities {
            job: job_caps.bitstring.to_string(),
            orch: state.capabilities.bitstring.to_string(),
        });
    }
    let duration = match seg.duration {
        0 => DEFAULT_SEGMENT_DURATION,
        ms if ms < 0 || ms as u64 > MAX_SEGMENT_DURATION.as_millis() as u64 => {
            return Err(OrchestratorError::BadDuration {
                duration_ms: ms.into(),
            });
        }
        ms => Duration::from_millis(ms as u64),
    };
    let profiles = convert::profiles_from_seg_data(&seg)
        .map_err(|e| OrchestratorError::BadProfiles(e.to_string()))?;
    if profiles.is_empty() {
        return Err(OrchestratorError::BadProfiles(
            "no renditions requested".into(),
        ));
    }
    // 403 "OrchestratorCapped" for a new session past -maxSessions (go-livepeer
    // `CheckCapacity`); the session itself opens only once the segment is accepted.
    state.sessions.check_capacity(Some(&session_id))?;

    if let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|ct| ct.starts_with("application/vnd+livepeer.uri"))
    {
        return Err(OrchestratorError::UnsupportedContentType(ct.to_string()));
    }
    // 500: the body cannot be read or is too large.
    let body = axum::body::to_bytes(body, MAX_SEGMENT_BYTES)
        .await
        .map_err(|e| OrchestratorError::BodyRead(e.to_string()))?;
    // 403: the body is not what was signed.
    if alloy_primitives::keccak256(&body).as_slice() != seg.hash.as_slice() {
        return Err(OrchestratorError::HashMismatch);
    }
    // A session filled up by a racing request is still 403 "OrchestratorCapped";
    // "OrchestratorBusy" goes inside the 200 like any transcoding error.
    let slot = match state.sessions.enqueue(&session_id) {
        Err(OrchestratorError::Capped) => return Err(OrchestratorError::Capped),
        slot => slot,
    };
    Ok(AcceptedSegment {
        seg,
        session_id,
        profiles,
        duration,
        body,
        slot,
    })
}

/// Runs the transcode for an accepted segment and builds the `TranscodeResult`, with any
/// failure carried in its `error` field.
async fn transcode_segment(state: &State, job: AcceptedSegment) -> net::TranscodeResult {
    let AcceptedSegment {
        seg,
        session_id,
        profiles,
        duration,
        body,
        slot,
    } = job;
    let info = seg
        .auth_token
        .clone()
        .map(|token| state.orchestrator_info(token));
    let result = async {
        let slot = slot?;
        let transcoder = state
            .transcoder
            .as_ref()
            .ok_or(OrchestratorError::NoTranscoder)?;
        // One segment at a time per session, in arrival order.
        let _turn = slot.session().turn.lock().await;
        let slice = seg.segment_parameters.map(|p| (p.from, p.to));
        // The gateway gives up after max(8 s, 4 × duration); so do we.
        let timeout = Duration::from_secs(8).max(duration * 4);
        let renditions = transcoder
            .transcode(body, &profiles, slice, timeout)
            .await?;
        if renditions.len() != profiles.len() {
            return Err(OrchestratorError::BadProfiles("MismatchedSegments".into()));
        }
        let mut segments = Vec::with_capacity(renditions.len());
        for rendition in renditions {
            if rendition.data.len() < MIN_RENDITION_BYTES {
                return Err(OrchestratorError::BadProfiles("ZeroSegments".into()));
            }
            let profile = safe_component(&rendition.profile.name);
            let file = format!("{}{}", seg.seq, rendition.profile.format.extension());
            segments.push(net::TranscodedSegmentData {
                url: format!("{}/stream/{session_id}/{profile}/{file}", state.service_uri),
                pixels: i64::try_from(rendition.pixels).unwrap_or(i64::MAX),
                perceptual_hash_url: String::new(),
            });
            state
                .store
                .put(&session_id, &profile, &file, rendition.data);
        }
        // Closing marks the session before freeing its storage, so checking after the puts
        // catches every interleaving with EndTranscodingSession or the idle sweep.
        if !slot.session().is_open() {
            state.store.remove_session(&session_id);
            return Err(OrchestratorError::SessionEnded);
        }
        Ok(segments)
    }
    .await;
    let result = match result {
        Ok(segments) => {
            debug!(renditions = segments.len(), "segment transcoded");
            net::transcode_result::Result::Data(net::TranscodeData {
                segments,
                sig: Vec::new(),
            })
        }
        Err(err) => {
            warn!(%err, "transcode failed");
            net::transcode_result::Result::Error(err.to_string())
        }
    };
    net::TranscodeResult {
        seq: seg.seq,
        result: Some(result),
        info,
    }
}

async fn get_rendition(
    AxumState(state): AxumState<Arc<State>>,
    Path((session, profile, file)): Path<(String, String, String)>,
) -> Response<Body> {
    match state.store.get(&session, &profile, &file) {
        Some(data) => {
            let mime = if file.ends_with(".mp4") {
                "video/mp4"
            } else {
                "video/mp2t"
            };
            ([(header::CONTENT_TYPE, mime)], data).into_response()
        }
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
