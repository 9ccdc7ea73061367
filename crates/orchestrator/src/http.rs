//! The orchestrator's HTTP routes and the gRPC/HTTP split of its one port.
//!
//! `POST /segment` follows go-livepeer `server/segment_rpc.go:ServeSegment`: the checks of
//! wire-and-network.md §3.3 in order (402 payment, 403 segment credentials, requested work
//! ([`crate::validate`]) and capacity, 500 body read, 403 hash), then 200 sent at once, then the
//! raw protobuf `TranscodeResult` once the transcode is done, with transcoding errors inside it.
//!
//! Nothing is read from the body until the request has passed every header check and taken
//! its session's queue place; the body then streams to a scratch file (capped at
//! [`MAX_SEGMENT_BYTES`], with stall and total deadlines) while its keccak256 is computed, so a
//! segment never sits whole in memory. A refused request's body is drained (bounded) before
//! the answer, so HTTP/1.1 and HTTP/2 clients alike read the status rather than a reset.

use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use alloy_primitives::Address;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Version, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use bytes::Bytes;
use http_body_util::BodyExt;
use livepeer_media::ScratchDir;
use livepeer_pm::TicketBatch;
use livepeer_primitives::profile::VideoProfile;
use livepeer_proto::headers::{PAYMENT_HEADER, SEGMENT_HEADER, decode_header};
use livepeer_proto::{convert, net};
use prost::Message;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tracing::{Instrument, debug, info_span, warn};

use crate::grpc::{OrchestratorGrpc, TranscoderGrpc};
use crate::sessions::QueueSlot;
use crate::storage::safe_component;
use crate::transcoders::Job;
use crate::validate::check_segment;
use crate::{OrchestratorError, State, results};

/// Largest segment body accepted: 300 MB (go-livepeer `common.MaxSegSize`, 5 min at
/// 8 Mb/s = 300 000 000 bytes).
pub const MAX_SEGMENT_BYTES: u64 = 300_000_000;
/// Longest wait for the next piece of a segment body.
pub const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a whole segment body may take beyond the segment's own duration: 300 MB at
/// 100 Mb/s is 24 s.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// A refused request's body is read and dropped up to this many bytes, so that clients
/// still sending it (HTTP/1.1 ones especially) see the status instead of a reset; a larger
/// or slower body is not read and the connection is closed after the answer.
pub const DRAIN_LIMIT_BYTES: u64 = 32 * 1024 * 1024;
/// How long a refused request's body may take to drain.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Smallest rendition go-livepeer accepts from a transcoder, in bytes.
const MIN_RENDITION_BYTES: usize = 25;
/// What a rendition's perceptual hash (MPEG-7 signature) is named after: `<seq><ext>.phash`
/// (go-livepeer `server/segment_rpc.go`).
pub const PERCEPTUAL_HASH_SUFFIX: &str = ".phash";

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
    let mut grpc = tonic::service::Routes::new(net::orchestrator_server::OrchestratorServer::new(
        OrchestratorGrpc {
            state: state.clone(),
        },
    ));
    let mut http: Router<Arc<State>> = Router::new()
        .route("/segment", post(post_segment))
        .route("/payment", post(post_payment))
        .route(
            "/refresh-payment",
            post(|AxumState(state): AxumState<Arc<State>>, body: Body| {
                crate::live::post_refresh_payment(state, body)
            }),
        )
        .route("/stream/{session}/{profile}/{file}", get(get_rendition))
        .route("/healthz", get(|| async { "ok" }));
    if state.ai.is_some() {
        for pipeline in livepeer_ai::Pipeline::ALL {
            if pipeline == livepeer_ai::Pipeline::LiveVideoToVideo {
                continue;
            }
            http = http.route(
                &format!("/{pipeline}"),
                post(
                    move |AxumState(state): AxumState<Arc<State>>,
                          headers: HeaderMap,
                          body: Body| {
                        crate::ai::post_ai(state, pipeline, headers, body)
                    },
                ),
            );
        }
    }
    if state.orch_secret.is_some() || state.ai.is_some() {
        http = http.route("/stream/{session}/{file}", get(get_stream_file));
    }
    if state.live.is_some() {
        http = http.route(
            "/live-video-to-video",
            post(
                |AxumState(state): AxumState<Arc<State>>, headers: HeaderMap, body: Body| {
                    crate::live::post_live(state, headers, body)
                },
            ),
        );
    }
    if state.orch_secret.is_some() {
        grpc = grpc.add_service(net::transcoder_server::TranscoderServer::new(
            TranscoderGrpc {
                state: state.clone(),
            },
        ));
        http = http.route("/transcodeResults", post(results::post_transcode_results));
        if state.ai.is_some() {
            grpc = grpc.add_service(net::ai_worker_server::AiWorkerServer::new(
                crate::ai_remote::AiWorkerGrpc {
                    state: state.clone(),
                },
            ));
            http = http.route("/aiResults", post(crate::ai_remote::post_ai_results));
        }
    }
    let grpc: Router = grpc.into_axum_router();
    let trickle = state.live.as_ref().map(|l| l.trickle.router());
    let mut http: Router = http.with_state(state);
    if let Some(trickle) = trickle {
        http = http.nest(crate::live::TRICKLE_PATH, trickle);
    }
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

/// A segment that passed every check before the 200: its body is on disk in `scratch`.
struct AcceptedSegment {
    seg: net::SegData,
    /// The `OrchestratorInfo` returned with the result (fresh ticket parameters on chain).
    info: Option<net::OrchestratorInfo>,
    /// The payment's sender (zero off-chain).
    sender: Address,
    session_id: String,
    profiles: Vec<VideoProfile>,
    duration: Duration,
    scratch: ScratchDir,
    input: PathBuf,
    slot: QueueSlot,
}

/// The checks before the body is read, in go-livepeer's order (402, then 403 for the
/// segment credentials, the requested work and capacity), and the capacity admission: a
/// queue place in the session, taken before a byte of the body is read.
struct Admitted {
    seg: net::SegData,
    /// The decoded payment, on chain.
    payment: Option<TicketBatch>,
    /// The payment's sender, whose signature the segment credentials carry (zero off-chain).
    sender: Address,
    session_id: String,
    profiles: Vec<VideoProfile>,
    duration: Duration,
    /// The body is a URL to download the segment from (`application/vnd+livepeer.uri`).
    uri_body: bool,
    /// The session's queue place, or "OrchestratorBusy", which go-livepeer answers inside
    /// the 200.
    slot: Result<QueueSlot, OrchestratorError>,
}

async fn post_segment(
    AxumState(state): AxumState<Arc<State>>,
    headers: HeaderMap,
    body: Body,
) -> Response<Body> {
    let mut admitted = match admit_segment(&state, &headers) {
        Ok(admitted) => admitted,
        Err(err) => return refuse(err, &headers, body).await,
    };
    // On chain: the info with fresh parameters (500), then the tickets and the balance (400),
    // as go-livepeer's ServeSegment orders them.
    let info = match paid_segment(&state, &mut admitted).await {
        Ok(info) => info,
        Err(err) => {
            if let Some(payments) = &state.payments
                && matches!(
                    err,
                    OrchestratorError::PaymentRefused(_) | OrchestratorError::InsufficientBalance
                )
            {
                payments.refused();
            }
            if let Ok(slot) = admitted.slot {
                state.sessions.release_refused(slot);
            }
            return refuse(err, &headers, body).await;
        }
    };
    let slot = match admitted.slot {
        Ok(slot) => slot,
        Err(busy) => {
            // go-livepeer reads the body, then answers 200 with the error inside.
            let drained = drain(&headers, body).await;
            let result = net::TranscodeResult {
                seq: admitted.seg.seq,
                result: Some(net::transcode_result::Result::Error(busy.to_string())),
                info,
            };
            debug!(session = %admitted.session_id, "segment refused: OrchestratorBusy");
            return answer(StatusCode::OK, Body::from(result.encode_to_vec()), drained);
        }
    };
    let span = info_span!(
        "segment",
        session = %admitted.session_id,
        manifest_id = %String::from_utf8_lossy(&admitted.seg.manifest_id),
        seq = admitted.seg.seq
    );
    let reading = Instant::now();
    let received = if admitted.uri_body {
        crate::segment_url::receive_url_body(&state, admitted.seg, &headers, body)
            .instrument(span.clone())
            .await
    } else {
        receive_body(&state, admitted.seg, admitted.duration, &headers, body)
            .instrument(span.clone())
            .await
    };
    let accepted = match received {
        Ok((seg, scratch, input)) => {
            if let Some(m) = &state.metrics {
                // go `ServeSegment`: SegmentEmerged, then SegmentDownloaded once the body is read.
                let manifest = String::from_utf8_lossy(&seg.manifest_id);
                m.segment_received(&manifest, None);
                m.segment_downloaded(&manifest, reading.elapsed());
            }
            AcceptedSegment {
                seg,
                info,
                sender: admitted.sender,
                session_id: admitted.session_id,
                profiles: admitted.profiles,
                duration: admitted.duration,
                scratch,
                input,
                slot,
            }
        }
        Err(err) => {
            warn!(parent: &span, %err, status = %err.status(), "segment refused");
            state.sessions.release_refused(slot);
            // A body that ended is read; one that failed or ran over is left unread.
            let read_whole = matches!(
                err,
                OrchestratorError::HashMismatch | OrchestratorError::SegmentUrl { .. }
            );
            return answer(err.status(), Body::from(err.to_string()), read_whole);
        }
    };
    // The transcode runs as a task of the orchestrator, so that shutdown can stop it and
    // wait for its ffmpeg to be gone; a gateway that hangs up cancels it through the guard.
    let cancel = state.stop_jobs.child_token();
    let guard = cancel.clone().drop_guard();
    let seq = accepted.seg.seq;
    let job = state
        .jobs
        .spawn(transcode_segment(state.clone(), accepted, cancel).instrument(span));
    // 200 goes out with the headers now; the body is written once the transcode is done.
    let result = futures::stream::once(async move {
        let _guard = guard;
        let result = job.await.unwrap_or_else(|_| net::TranscodeResult {
            seq,
            result: Some(net::transcode_result::Result::Error(
                "transcode stopped".into(),
            )),
            info: None,
        });
        Ok::<Bytes, Infallible>(Bytes::from(result.encode_to_vec()))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .body(Body::from_stream(result))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// An answer; `close` asks HTTP/1.1 clients to close the connection (a body was left unread).
fn answer(status: StatusCode, body: Body, drained: bool) -> Response<Body> {
    let mut response = (status, body).into_response();
    if !drained {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// Answers a refused request with its status and text, after draining its body so every
/// client sees the answer.
pub(crate) async fn refuse(
    err: OrchestratorError,
    headers: &HeaderMap,
    body: Body,
) -> Response<Body> {
    warn!(%err, status = %err.status(), "segment refused");
    let drained = drain(headers, body).await;
    answer(err.status(), Body::from(err.to_string()), drained)
}

/// The declared body length, if any.
fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Reads and drops `body`, up to [`DRAIN_LIMIT_BYTES`] within [`DRAIN_TIMEOUT`]; returns
/// whether it was read to its end.
async fn drain(headers: &HeaderMap, body: Body) -> bool {
    if content_length(headers).is_some_and(|n| n > DRAIN_LIMIT_BYTES) {
        return false;
    }
    let read = async {
        let mut body = body;
        let mut seen = 0u64;
        while let Some(frame) = body.frame().await {
            let Ok(frame) = frame else { return false };
            if let Some(data) = frame.data_ref() {
                seen += data.len() as u64;
                if seen > DRAIN_LIMIT_BYTES {
                    return false;
                }
            }
        }
        true
    };
    tokio::time::timeout(DRAIN_TIMEOUT, read)
        .await
        .unwrap_or(false)
}

/// The payment and segment credentials of a `/segment` or `/payment` request (go-livepeer
/// `server/segment_rpc.go:processPaymentAndSegmentHeaders`): 402 when the payment does not
/// decode; 403 when the credentials do not decode, are not signed by the payment's sender (on
/// chain), or carry no valid auth token.
pub(crate) fn payment_and_credentials(
    state: &State,
    headers: &HeaderMap,
) -> Result<(Option<TicketBatch>, Address, net::SegData), OrchestratorError> {
    // 402: a payment header that is present must decode (off-chain it is sent empty).
    let mut payment = None;
    if let Some(value) = headers.get(PAYMENT_HEADER) {
        let value = value
            .to_str()
            .map_err(|e| OrchestratorError::BadPayment(e.to_string()))?;
        if state.payments.is_some() {
            let wire: net::Payment =
                decode_header(value).map_err(|e| OrchestratorError::BadPayment(e.to_string()))?;
            payment = Some(
                livepeer_pm::payment::payment_from_net(&wire)
                    .map_err(|e| OrchestratorError::BadPayment(e.to_string()))?,
            );
        } else if !value.is_empty() {
            decode_header::<net::Payment>(value)
                .map_err(|e| OrchestratorError::BadPayment(e.to_string()))?;
        }
    }
    let sender = payment.as_ref().map(|p| p.sender).unwrap_or_default();

    // 403: segment credentials, signed by the payment's sender on chain.
    let seg_header = headers
        .get(SEGMENT_HEADER)
        .ok_or_else(|| OrchestratorError::BadSegmentHeader("missing".into()))?
        .to_str()
        .map_err(|e| OrchestratorError::BadSegmentHeader(e.to_string()))?;
    let seg: net::SegData = decode_header(seg_header)
        .map_err(|e| OrchestratorError::BadSegmentHeader(e.to_string()))?;
    if state.payments.is_some() {
        let hash = livepeer_proto::signing::seg_data_hash(
            &seg,
            livepeer_proto::signing::seg_data_profile_names(&seg),
        );
        livepeer_pm::verify_signature(sender, &hash, &seg.sig)
            .map_err(|_| OrchestratorError::BadSegmentSignature)?;
    }
    state
        .auth
        .verify(seg.auth_token.as_ref(), SystemTime::now())?;
    Ok((payment, sender, seg))
}

/// On chain, the steps between the credentials and the body (go-livepeer `ServeSegment`): the
/// `OrchestratorInfo` for the result (500 when no ticket parameters can be made), the tickets
/// (400), and at least one ticket EV of balance when the price is not zero (400). Off-chain
/// only the info.
async fn paid_segment(
    state: &State,
    admitted: &mut Admitted,
) -> Result<Option<net::OrchestratorInfo>, OrchestratorError> {
    let Some(token) = admitted.seg.auth_token.clone() else {
        return Ok(None);
    };
    let session = admitted.session_id.clone();
    let Some(payments) = &state.payments else {
        return Ok(Some(state.offchain_info(token)));
    };
    let info = state
        .orchestrator_info(token, admitted.sender, Some(&session), None)
        .await?;
    if let Some(batch) = admitted.payment.take() {
        payments.process_payment(batch, &session).await?;
    }
    payments.require_balance(admitted.sender, &session)?;
    Ok(Some(info))
}

fn admit_segment(state: &State, headers: &HeaderMap) -> Result<Admitted, OrchestratorError> {
    let (payment, sender, seg) = payment_and_credentials(state, headers)?;
    let session_id = seg
        .auth_token
        .as_ref()
        .map(|t| t.session_id.clone())
        .unwrap_or_default();
    // A segment without capabilities (an old gateway's) needs the empty set, with no version
    // floor (go-livepeer `server/rpc.go:coreSegMetadata`), not the legacy set.
    let job_caps = seg
        .capabilities
        .as_ref()
        .map_or_else(Default::default, |caps| {
            convert::capabilities_from_net(Some(caps))
        });
    if !job_caps.compatible_with(&state.capabilities) {
        return Err(OrchestratorError::IncompatibleCapabilities {
            job: job_caps.bitstring.to_string(),
            orch: state.capabilities.bitstring.to_string(),
        });
    }
    // 403: the work asked for, bounded before anything is admitted.
    let request = check_segment(&seg)?;

    let uri_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with(crate::segment_url::URI_CONTENT_TYPE));
    // 500 (go-livepeer's status for a body over `MaxSegSize`), known from the headers alone.
    if let Some(length) = content_length(headers).filter(|&n| n > MAX_SEGMENT_BYTES) {
        return Err(OrchestratorError::BodyTooLarge {
            length,
            limit: MAX_SEGMENT_BYTES,
        });
    }
    // 403 "OrchestratorCapped" for a new session past -maxSessions (go-livepeer
    // `CheckCapacity`); otherwise a queue place in the session, taken now, before the body.
    let slot = match state.sessions.enqueue(&session_id) {
        Err(OrchestratorError::Capped) => return Err(OrchestratorError::Capped),
        slot => slot,
    };
    Ok(Admitted {
        seg,
        payment,
        sender,
        session_id,
        profiles: request.profiles,
        duration: request.duration,
        uri_body,
        slot,
    })
}

/// Streams the body to a scratch file, checking its size as it comes and its keccak256 at the
/// end. Returns the `SegData`, the scratch directory and the input's path in it.
///
/// Errors (500, go-livepeer's status for an unreadable body): [`OrchestratorError::BodyRead`]
/// for a transport error or a body that stalls for the configured idle time (default
/// [`BODY_IDLE_TIMEOUT`]) or takes longer than
/// the segment's duration plus [`BODY_READ_TIMEOUT`], [`OrchestratorError::BodyTooLarge`] past
/// [`MAX_SEGMENT_BYTES`]; 403 [`OrchestratorError::HashMismatch`] when the bytes are not
/// what was signed.
pub(crate) async fn receive_body(
    state: &State,
    seg: net::SegData,
    duration: Duration,
    headers: &HeaderMap,
    body: Body,
) -> Result<(net::SegData, ScratchDir, PathBuf), OrchestratorError> {
    let scratch = ScratchDir::new_in(Some(state.scratch.path()))
        .await
        .map_err(|_| OrchestratorError::Internal("cannot create a scratch directory"))?;
    let input = scratch.path().join("input.ts");
    let mut file = tokio::fs::File::create(&input)
        .await
        .map(|f| tokio::io::BufWriter::with_capacity(256 * 1024, f))
        .map_err(|_| OrchestratorError::Internal("cannot create the segment file"))?;
    let mut hasher = alloy_primitives::Keccak256::new();
    let mut received = 0u64;
    let deadline = Instant::now() + duration + BODY_READ_TIMEOUT;
    let mut body = body;
    loop {
        let wait = state
            .body_idle_timeout
            .min(deadline.saturating_duration_since(Instant::now()));
        let frame = match tokio::time::timeout(wait, body.frame()).await {
            Ok(Some(Ok(frame))) => frame,
            Ok(Some(Err(err))) => return Err(OrchestratorError::BodyRead(err.to_string())),
            Ok(None) => break,
            Err(_) => {
                return Err(OrchestratorError::BodyRead(format!(
                    "body stalled after {received} bytes"
                )));
            }
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        received += data.len() as u64;
        if received > MAX_SEGMENT_BYTES {
            return Err(OrchestratorError::BodyTooLarge {
                length: content_length(headers).unwrap_or(received),
                limit: MAX_SEGMENT_BYTES,
            });
        }
        hasher.update(&data);
        file.write_all(&data)
            .await
            .map_err(|_| OrchestratorError::Internal("cannot write the segment file"))?;
    }
    file.flush()
        .await
        .map_err(|_| OrchestratorError::Internal("cannot write the segment file"))?;
    drop(file);
    // 403: the body is not what was signed.
    if hasher.finalize().as_slice() != seg.hash.as_slice() {
        return Err(OrchestratorError::HashMismatch);
    }
    Ok((seg, scratch, input))
}

/// Runs the transcode for an accepted segment and builds the `TranscodeResult`, with any
/// failure carried in its `error` field.
async fn transcode_segment(
    state: Arc<State>,
    job: AcceptedSegment,
    cancel: CancellationToken,
) -> net::TranscodeResult {
    let AcceptedSegment {
        seg,
        info,
        sender,
        session_id,
        profiles,
        duration,
        scratch,
        input,
        slot,
    } = job;
    let result = async {
        // One segment at a time per session, in arrival order.
        let _turn = tokio::select! {
            turn = slot.session().turn.lock() => turn,
            _ = cancel.cancelled() => return Err(OrchestratorError::SessionEnded),
        };
        let caps = seg
            .capabilities
            .as_ref()
            .map_or_else(Default::default, |c| {
                convert::capabilities_from_net(Some(c))
            });
        let orch_id = state
            .payments
            .as_ref()
            .map_or_else(|| "offchain".to_string(), |p| p.address().to_checksum(None));
        let job = Job {
            session: &session_id,
            seg: &seg,
            caps: &caps,
            input: &input,
            profiles: &profiles,
            duration,
            orch_id: &orch_id,
            service_uri: &state.service_uri,
        };
        let transcoding = Instant::now();
        let renditions = state
            .transcoders
            .transcode(job, state.sessions.max_sessions(), &cancel)
            .await?;
        if renditions.len() != profiles.len() {
            return Err(OrchestratorError::BadProfiles("MismatchedSegments".into()));
        }
        if let Some(m) = &state.metrics {
            // go `core/transcoder.go`: a local transcode is trusted and verified.
            let names = profiles.iter().map(|p| p.name.as_str());
            let label = livepeer_monitor::profiles_label(names);
            m.segment_transcoded(&label, true, true, transcoding.elapsed());
        }
        // On chain the result is signed: keccak256 over each rendition's keccak256.
        let sig = state.payments.as_ref().map(|p| {
            let hash = livepeer_proto::signing::renditions_hash(
                renditions.iter().map(|r| r.data.as_ref()),
            );
            p.signer().sign(&hash).to_vec()
        });
        let pixels: u64 = renditions.iter().map(|r| r.pixels).sum();
        if renditions
            .iter()
            .any(|r| r.data.len() < MIN_RENDITION_BYTES)
        {
            return Err(OrchestratorError::BadProfiles("ZeroSegments".into()));
        }
        // The gateway's storage when it sent one (go-livepeer `drivers.NewSession` of
        // `SegData.storage[0]`), else this node's memory.
        let remote = seg
            .storage
            .first()
            .and_then(livepeer_objectstore::PostTarget::from_net);
        let mut segments = Vec::with_capacity(renditions.len());
        for rendition in renditions {
            let profile = safe_component(&rendition.profile.name);
            let file = format!("{}{}", seg.seq, rendition.profile.format.extension());
            // go-livepeer `server/segment_rpc.go`: the hash goes next to its rendition as
            // `<profile>/<seq><ext>.phash`, in the same storage.
            let hash_file = format!("{file}{PERCEPTUAL_HASH_SUFFIX}");
            let signature = if seg.calc_perceptual_hash {
                if rendition.signature.is_none() {
                    // go-livepeer `core/orchestrator.go` logs this and goes on.
                    warn!(profile = %rendition.profile.name, "could not find perceptual hash");
                }
                rendition.signature.clone()
            } else {
                None
            };
            let (url, perceptual_hash_url) = match &remote {
                Some(target) => {
                    let url = livepeer_objectstore::save(
                        &state.fetcher,
                        target,
                        &format!("{profile}/{file}"),
                        rendition.data,
                    )
                    .await?;
                    let hash_url = match signature {
                        Some(sig) => {
                            livepeer_objectstore::save(
                                &state.fetcher,
                                target,
                                &format!("{profile}/{hash_file}"),
                                sig,
                            )
                            .await?
                        }
                        None => String::new(),
                    };
                    (url, hash_url)
                }
                None => {
                    let base = format!("{}/stream/{session_id}/{profile}", state.service_uri);
                    state
                        .store
                        .put(&session_id, &profile, &file, rendition.data);
                    let hash_url = match signature {
                        Some(sig) => {
                            state.store.put(&session_id, &profile, &hash_file, sig);
                            format!("{base}/{hash_file}")
                        }
                        None => String::new(),
                    };
                    (format!("{base}/{file}"), hash_url)
                }
            };
            segments.push(net::TranscodedSegmentData {
                url,
                pixels: i64::try_from(rendition.pixels).unwrap_or(i64::MAX),
                perceptual_hash_url,
            });
        }
        // Closing marks the session before freeing its storage, so checking after the puts
        // catches every interleaving with EndTranscodingSession or the idle sweep.
        if !slot.session().is_open() {
            state.store.remove_session(&session_id);
            return Err(OrchestratorError::SessionEnded);
        }
        if let Some(m) = &state.metrics {
            m.pixels_processed(&String::from_utf8_lossy(&seg.manifest_id), None, pixels);
        }
        // The work is done: charge its output pixels (go-livepeer `DebitFees`).
        if let Some(payments) = &state.payments {
            payments.debit(sender, &session_id, pixels);
        }
        Ok((segments, sig.unwrap_or_default()))
    }
    .await;
    scratch.remove().await;
    let result = match result {
        Ok((segments, sig)) => {
            debug!(renditions = segments.len(), "segment transcoded");
            net::transcode_result::Result::Data(net::TranscodeData { segments, sig })
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

/// `POST /payment`: a top-up with no segment (go-livepeer `server/segment_rpc.go:Payment`):
/// the payment and credentials are checked as for `/segment` (402, 403), the tickets credited
/// to (sender, the credentials' manifest ID) as go does (400 when refused), and the answer is a
/// raw protobuf `PaymentResult` with fresh ticket parameters (500 when none can be made).
async fn post_payment(
    AxumState(state): AxumState<Arc<State>>,
    headers: HeaderMap,
    body: Body,
) -> Response<Body> {
    let (payment, sender, seg) = match payment_and_credentials(&state, &headers) {
        Ok(parts) => parts,
        Err(err) => return refuse(err, &headers, body).await,
    };
    let Some(token) = seg.auth_token.clone() else {
        return refuse(
            OrchestratorError::InvalidAuthToken("missing auth token"),
            &headers,
            body,
        )
        .await;
    };
    let manifest = String::from_utf8_lossy(&seg.manifest_id).into_owned();
    let info = match state
        .orchestrator_info(token.clone(), sender, Some(&token.session_id), None)
        .await
    {
        Ok(info) => info,
        Err(err) => return refuse(err, &headers, body).await,
    };
    if let (Some(payments), Some(batch)) = (&state.payments, payment)
        && let Err(err) = payments.process_payment(batch, &manifest).await
    {
        return refuse(err, &headers, body).await;
    }
    let drained = drain(&headers, body).await;
    let result = net::PaymentResult { info: Some(info) };
    answer(StatusCode::OK, Body::from(result.encode_to_vec()), drained)
}

/// `GET /stream/<a>/<b>`: a stored AI result (`<request>/<file>`), else a remote
/// transcoder's staged input (`<session>/<seq>.tempfile`).
async fn get_stream_file(
    AxumState(state): AxumState<Arc<State>>,
    Path((session, file)): Path<(String, String)>,
) -> Response<Body> {
    if let Some(found) = crate::ai::stored_result(&state, &session, &file) {
        return found;
    }
    if state.orch_secret.is_some() {
        return results::get_staged_input(AxumState(state), Path((session, file)))
            .await
            .into_response();
    }
    (StatusCode::NOT_FOUND, "not found").into_response()
}

async fn get_rendition(
    AxumState(state): AxumState<Arc<State>>,
    Path((session, profile, file)): Path<(String, String, String)>,
) -> Response<Body> {
    let mime = if file.ends_with(PERCEPTUAL_HASH_SUFFIX) {
        "application/octet-stream"
    } else if file.ends_with(".mp4") {
        "video/mp4"
    } else if file.ends_with(".ts") {
        "video/mp2t"
    } else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    match state.store.get(&session, &profile, &file) {
        Some(data) => ([(header::CONTENT_TYPE, mime)], data).into_response(),
        None => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}
