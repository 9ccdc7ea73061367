//! A standalone transcoder (`livepeer -transcoder -orchAddr … -orchSecret …`): it registers
//! with an orchestrator and transcodes the segments it is sent (go-livepeer
//! `server/ot_rpc.go:RunTranscoder`, wire-and-network.md §3.5).
//!
//! - **Registration**: `Transcoder.RegisterTranscoder` over TLS without certificate checks
//!   (or h2c for an `http://` address) with the secret, the capacity (`-maxSessions`) and this
//!   node's capabilities. "invalid secret" and "zero capacity" are fatal: [`run`] returns
//!   [`OrchestratorError::TranscoderRefused`]. Any other failure, and the end of the task
//!   stream, reconnect after an exponential backoff (from [`INITIAL_BACKOFF`], ×1.5, up to
//!   [`MAX_BACKOFF`], ±50 % jitter, as go's `cenkalti/backoff` defaults; no overall limit;
//!   reset once a registration succeeds).
//! - **Tasks**: each `NotifySegment` is one segment: its `SegData` is checked as the
//!   orchestrator checks a segment (profiles, duration, capabilities), the input is downloaded
//!   from the orchestrator (or, for a URL on another host, through the SSRF-bounded
//!   [`livepeer_objectstore::Fetcher`]) up to [`crate::MAX_SEGMENT_BYTES`], transcoded with the
//!   local ffmpeg, and posted to `<orchestrator>/transcodeResults` as `multipart/mixed` (one
//!   part per rendition with `Content-Type`, `Content-Length` and `Pixels`, each followed by
//!   an `application/octet-stream` hash part when perceptual hashes were asked for), or as a
//!   `livepeer/transcoding-error` with the error text. At most `capacity` tasks run at once.
//!   An empty-URL `NotifySegment` is a session teardown: this transcoder keeps no per-session
//!   state, so there is nothing to free.
//! - **Shutdown**: when `cancel` fires the stream is dropped (the orchestrator moves the
//!   segments elsewhere) and running transcodes are stopped, their ffmpeg reaped.
//!
//! The `Pixels` request header is the input's decoded pixels (width × height × frames, the
//! frames counted by demuxing, see [`LocalTranscoder::decoded_pixels`]).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http_body_util::{BodyExt, Full};
use hyper::Uri;
use hyper_util::client::legacy::Client;
use livepeer_media::ScratchRoot;
use livepeer_primitives::Capabilities;
use livepeer_proto::{convert, net};
use livepeer_server::peer_client::PeerConnector;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::transcoders::{TRANSCODER_AUTH, TRANSCODING_ERROR_MIME, remote_timeout};
use crate::validate::check_segment;
use crate::{FetchPolicy, LocalTranscoder, OrchestratorError};

/// First wait before reconnecting (go `backoff.DefaultInitialInterval`).
pub const INITIAL_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait before reconnecting (go-livepeer `expb.MaxInterval`).
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// TCP connect timeout to the orchestrator (go-livepeer `GRPCConnectTimeout`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// How long registration may take before it counts as failed.
pub const REGISTER_TIMEOUT: Duration = Duration::from_secs(8);
/// How long the input download may take.
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(30);
/// How long posting a result may take.
pub const UPLOAD_TIMEOUT: Duration = Duration::from_secs(60);
/// How long shutdown waits for stopped transcodes to be reaped.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// go-livepeer's capabilities error text.
const INCOMPATIBLE: &str = "incompatible segment capabilities";

/// What a standalone transcoder needs.
#[derive(Debug, Clone)]
pub struct RemoteTranscoderConfig {
    /// `-orchAddr`: the orchestrator, `host:port` (TLS) or `http://host:port` (h2c).
    pub orch_addr: String,
    /// `-orchSecret`.
    pub secret: String,
    /// `-maxSessions`: sessions this transcoder takes, sent as its capacity.
    pub capacity: usize,
    /// The ffmpeg that does the work.
    pub transcoder: LocalTranscoder,
    /// What this transcoder can do (sent at registration, checked per task).
    pub capabilities: Capabilities,
    /// `-dataDir`: work files go in a scratch directory under it (else the system temp dir).
    pub data_dir: Option<PathBuf>,
    /// Which addresses an input URL on a host other than the orchestrator may reach.
    pub fetch_policy: FetchPolicy,
}

/// The exponential backoff between registrations.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            next: INITIAL_BACKOFF,
        }
    }
}

impl Backoff {
    /// The next wait (with ±50 % jitter), growing ×1.5 each time up to [`MAX_BACKOFF`].
    pub fn next_wait(&mut self) -> Duration {
        let base = self.next;
        self.next = (base.mul_f64(1.5)).min(MAX_BACKOFF);
        base.mul_f64(rand::random_range(0.5..=1.5)).min(MAX_BACKOFF)
    }

    /// Starts again from [`INITIAL_BACKOFF`].
    pub fn reset(&mut self) {
        self.next = INITIAL_BACKOFF;
    }
}

/// How one registration ended.
pub(crate) enum Ended {
    /// The orchestrator ended the stream, or it broke: register again.
    Disconnected,
    /// `cancel` fired.
    Cancelled,
}

/// One registering worker's side of its orchestrator's task stream, shared by the remote
/// transcoder (`RegisterTranscoder`) and the remote AI worker (`RegisterAIWorker`).
pub(crate) struct Registration<'a> {
    /// The orchestrator.
    pub base: &'a Uri,
    /// What registers, for the logs: "transcoder", "AI worker".
    pub what: &'static str,
    /// Tasks run at once.
    pub capacity: usize,
    /// The error for a refusal for good ("invalid secret", "zero capacity").
    pub refused: fn(String) -> OrchestratorError,
}

/// One registration: waits for `register` (at most [`REGISTER_TIMEOUT`]), then hands each
/// notification of the stream to `handle`, which gives the task's span and future (or `None`
/// for a notification that is no task), and runs at most `capacity` tasks at once until the
/// stream ends or `cancel` fires. On a disconnect running tasks finish (they post their
/// results, as go-livepeer's do); on cancel they get the stop token and [`STOP_TIMEOUT`].
///
/// Errors: the registration's `refused` error for "invalid secret" / "zero capacity".
pub(crate) async fn serve_registration<N, F>(
    reg: Registration<'_>,
    cancel: &CancellationToken,
    backoff: &mut Backoff,
    register: impl Future<Output = Result<tonic::Response<tonic::Streaming<N>>, tonic::Status>>,
    mut handle: impl FnMut(N, CancellationToken) -> Option<(tracing::Span, F)>,
) -> Result<Ended, OrchestratorError>
where
    F: Future<Output = ()> + Send + 'static,
{
    let (base, what) = (reg.base, reg.what);
    info!(orchestrator = %base, capacity = reg.capacity, "registering the {what}");
    let registered = tokio::select! {
        _ = cancel.cancelled() => return Ok(Ended::Cancelled),
        r = tokio::time::timeout(REGISTER_TIMEOUT, register) => r,
    };
    let mut stream = match registered {
        Ok(Ok(response)) => response.into_inner(),
        Ok(Err(status)) => {
            let message = status.message();
            if message == "invalid secret" || message == "zero capacity" {
                return Err((reg.refused)(message.to_string()));
            }
            warn!(orchestrator = %base, error = %message, "the {what} could not register");
            return Ok(Ended::Disconnected);
        }
        Err(_) => {
            warn!(orchestrator = %base, "the {what}'s registration timed out after {REGISTER_TIMEOUT:?}");
            return Ok(Ended::Disconnected);
        }
    };
    info!(orchestrator = %base, "the {what} registered with the orchestrator");
    backoff.reset();
    let slots = Arc::new(Semaphore::new(reg.capacity.max(1)));
    let tasks = TaskTracker::new();
    let stop_tasks = CancellationToken::new();
    let ended = loop {
        let message = tokio::select! {
            _ = cancel.cancelled() => break Ended::Cancelled,
            m = stream.message() => m,
        };
        let notify = match message {
            Ok(Some(notify)) => notify,
            Ok(None) => {
                info!(orchestrator = %base, "the orchestrator ended the {what}'s task stream");
                break Ended::Disconnected;
            }
            Err(status) => {
                warn!(orchestrator = %base, error = %status.message(), "the {what}'s task stream broke");
                break Ended::Disconnected;
            }
        };
        let Some((span, task)) = handle(notify, stop_tasks.clone()) else {
            continue;
        };
        let permit = tokio::select! {
            _ = cancel.cancelled() => break Ended::Cancelled,
            p = slots.clone().acquire_owned() => p,
        };
        let Ok(permit) = permit else {
            break Ended::Disconnected;
        };
        tasks.spawn(
            async move {
                let _permit = permit;
                task.await;
            }
            .instrument(span),
        );
    };
    drop(stream);
    tasks.close();
    if matches!(ended, Ended::Cancelled) {
        stop_tasks.cancel();
        if tokio::time::timeout(STOP_TIMEOUT, tasks.wait())
            .await
            .is_err()
        {
            warn!(
                running = tasks.len(),
                "{what} tasks still running after {STOP_TIMEOUT:?}"
            );
        }
    } else {
        tasks.wait().await;
    }
    Ok(ended)
}

/// The orchestrator's base URI for `orch_addr`.
///
/// Errors: [`OrchestratorError::InvalidAddress`] when it is not a `host:port`.
pub fn orchestrator_uri(orch_addr: &str) -> Result<Uri, OrchestratorError> {
    let with_scheme = if orch_addr.contains("://") {
        orch_addr.to_string()
    } else {
        format!("https://{orch_addr}")
    };
    let invalid = |reason: &'static str| OrchestratorError::InvalidAddress {
        addr: orch_addr.to_string(),
        reason,
    };
    let uri: Uri = with_scheme
        .trim_end_matches('/')
        .parse()
        .map_err(|_| invalid("not a host:port address"))?;
    match uri.scheme_str() {
        Some("https" | "http") if uri.authority().is_some() => Ok(uri),
        _ => Err(invalid("not an https:// or http:// host:port address")),
    }
}

struct Worker {
    config: RemoteTranscoderConfig,
    base: Uri,
    http: PeerClient,
    fetcher: livepeer_objectstore::Fetcher,
    transcoder: LocalTranscoder,
    /// Kept so the scratch directory stays locked while the transcoder runs.
    _scratch: ScratchRoot,
}

/// Registers with the orchestrator and transcodes what it sends until `cancel` fires
/// (`Ok`), or until the orchestrator refuses the registration for good.
///
/// Errors: [`OrchestratorError::InvalidAddress`] for a bad `-orchAddr`,
/// [`OrchestratorError::TranscoderRefused`] for "invalid secret" / "zero capacity",
/// [`OrchestratorError::Scratch`] when no work directory can be made.
pub async fn run(
    config: RemoteTranscoderConfig,
    cancel: CancellationToken,
) -> Result<(), OrchestratorError> {
    let base = orchestrator_uri(&config.orch_addr)?;
    let parent = config.data_dir.clone().unwrap_or_else(std::env::temp_dir);
    let (scratch, _) = tokio::task::spawn_blocking(move || ScratchRoot::create(&parent))
        .await
        .map_err(|e| OrchestratorError::Scratch(e.to_string()))?
        .map_err(|e| OrchestratorError::Scratch(e.to_string()))?;
    let worker = Arc::new(Worker {
        transcoder: config.transcoder.clone().with_scratch_root(scratch.path()),
        fetcher: livepeer_objectstore::Fetcher::new(config.fetch_policy),
        http: livepeer_server::peer_client::client(CONNECT_TIMEOUT),
        base,
        config,
        _scratch: scratch,
    });
    let mut backoff = Backoff::default();
    loop {
        match worker
            .clone()
            .register_and_serve(&cancel, &mut backoff)
            .await?
        {
            Ended::Cancelled => return Ok(()),
            Ended::Disconnected => {}
        }
        let wait = backoff.next_wait();
        info!(orchestrator = %worker.base, ?wait, "registering the transcoder again after a pause");
        tokio::select! {
            _ = cancel.cancelled() => return Ok(()),
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

impl Worker {
    /// One registration: register, then run tasks until the stream ends.
    async fn register_and_serve(
        self: Arc<Self>,
        cancel: &CancellationToken,
        backoff: &mut Backoff,
    ) -> Result<Ended, OrchestratorError> {
        let mut grpc = net::transcoder_client::TranscoderClient::with_origin(
            self.http.clone(),
            self.base.clone(),
        );
        let request = net::RegisterRequest {
            secret: self.config.secret.clone(),
            capacity: i64::try_from(self.config.capacity).unwrap_or(i64::MAX),
            capabilities: Some(convert::capabilities_to_net(&self.config.capabilities)),
        };
        let registration = Registration {
            base: &self.base,
            what: "transcoder",
            capacity: self.config.capacity,
            refused: OrchestratorError::TranscoderRefused,
        };
        serve_registration(
            registration,
            cancel,
            backoff,
            grpc.register_transcoder(request),
            |notify: net::NotifySegment, stop| {
                if notify.url.is_empty() {
                    let session = notify
                        .seg_data
                        .as_ref()
                        .and_then(|s| s.auth_token.as_ref())
                        .map(|t| t.session_id.as_str())
                        .unwrap_or_default();
                    debug!(session, "session torn down by the orchestrator");
                    return None;
                }
                let worker = self.clone();
                let span = info_span!("task", task_id = notify.task_id);
                Some((span, async move { worker.run_task(notify, stop).await }))
            },
        )
        .await
    }

    async fn run_task(&self, notify: net::NotifySegment, cancel: CancellationToken) {
        let task_id = notify.task_id;
        let result = self.transcode(&notify, &cancel).await;
        if cancel.is_cancelled() {
            return;
        }
        let (content_type, body, decoded_pixels) = match &result {
            Ok((boundary, body, pixels)) => (
                format!("multipart/mixed; boundary={boundary}"),
                body.clone(),
                *pixels,
            ),
            Err(text) => {
                warn!(error = %text, "transcode failed");
                (
                    TRANSCODING_ERROR_MIME.to_string(),
                    Bytes::from(text.clone()),
                    0,
                )
            }
        };
        match self
            .post_result(task_id, &content_type, body, decoded_pixels)
            .await
        {
            Ok(()) if result.is_ok() => info!("segment transcoded and posted"),
            Ok(()) => debug!("error posted"),
            Err(err) => warn!(error = %err, "could not post the result"),
        }
    }

    /// Does the task; returns the multipart boundary and body and the input's decoded pixels,
    /// or the error text to post.
    async fn transcode(
        &self,
        notify: &net::NotifySegment,
        cancel: &CancellationToken,
    ) -> Result<(String, Bytes, u64), String> {
        let seg = notify
            .seg_data
            .as_ref()
            .ok_or_else(|| "missing segment data".to_string())?;
        let request = check_segment(seg).map_err(|e| e.to_string())?;
        let job_caps = seg
            .capabilities
            .as_ref()
            .map_or_else(Default::default, |c| {
                convert::capabilities_from_net(Some(c))
            });
        if !job_caps.compatible_with(&self.config.capabilities) {
            return Err(INCOMPATIBLE.into());
        }
        let data = self.download(&notify.url).await?;
        let decoded_pixels = self
            .transcoder
            .decoded_pixels(&data)
            .await
            .unwrap_or_else(|e| {
                debug!(error = %e, "could not count the input's pixels");
                0
            });
        let scratch = livepeer_media::ScratchDir::new_in(Some(self.transcoder_root()))
            .await
            .map_err(|e| format!("cannot create a work directory: {e}"))?;
        let input = scratch.path().join("input.ts");
        let written = tokio::fs::write(&input, &data).await;
        drop(data);
        let result = match written {
            Err(e) => Err(format!("cannot write the segment: {e}")),
            Ok(()) => {
                let slice = seg.segment_parameters.map(|p| (p.from, p.to));
                self.transcoder
                    .transcode(
                        &input,
                        &request.profiles,
                        slice,
                        seg.calc_perceptual_hash,
                        remote_timeout(request.duration),
                        cancel,
                    )
                    .await
                    .map_err(|e| e.to_string())
            }
        };
        scratch.remove().await;
        let renditions = result?;
        if renditions.len() != request.profiles.len() {
            return Err("segment / profile mismatch".into());
        }
        let boundary = hex::encode(rand::random::<[u8; 15]>());
        let mut parts = Vec::with_capacity(renditions.len() * 2);
        for rendition in &renditions {
            parts.push(ResultPart {
                content_type: rendition.profile.format.mime_type(),
                pixels: Some(rendition.pixels),
                data: rendition.data.clone(),
            });
            if seg.calc_perceptual_hash {
                parts.push(ResultPart {
                    content_type: "application/octet-stream",
                    pixels: None,
                    data: rendition.signature.clone().unwrap_or_default(),
                });
            }
        }
        let body = encode_parts(&boundary, &parts);
        Ok((boundary, body, decoded_pixels))
    }

    fn transcoder_root(&self) -> &std::path::Path {
        self._scratch.path()
    }

    /// The input at `url`: from the orchestrator itself over the peer connection, from
    /// anywhere else through the bounded fetcher.
    async fn download(&self, url: &str) -> Result<Bytes, String> {
        let limit = crate::MAX_SEGMENT_BYTES;
        let uri: Uri = url
            .parse()
            .map_err(|_| format!("invalid segment URL {url:?}"))?;
        if uri.authority() != self.base.authority() {
            return self
                .fetcher
                .get(url, limit, DOWNLOAD_TIMEOUT)
                .await
                .map_err(|e| e.to_string());
        }
        peer_get(&self.http, uri, limit as usize, DOWNLOAD_TIMEOUT, "segment").await
    }

    async fn post_result(
        &self,
        task_id: i64,
        content_type: &str,
        body: Bytes,
        decoded_pixels: u64,
    ) -> Result<(), String> {
        let url = format!("{}transcodeResults", with_slash(&self.base));
        let request = hyper::Request::post(url)
            .header("Authorization", TRANSCODER_AUTH)
            .header("Credentials", &self.config.secret)
            .header("Content-Type", content_type)
            .header("TaskId", task_id.to_string())
            .header("Pixels", decoded_pixels.to_string())
            .body(tonic::body::Body::new(Full::new(body)))
            .map_err(|e| e.to_string())?;
        peer_post(&self.http, request, UPLOAD_TIMEOUT).await
    }
}

/// The HTTP/2 client to an orchestrator (TLS without certificate checks, or h2c).
pub(crate) type PeerClient = Client<PeerConnector, tonic::body::Body>;

/// `GET uri` over the peer connection: its body when the answer is 200, at most `limit`
/// bytes within `timeout`; `what` names the download in the error texts.
pub(crate) async fn peer_get(
    http: &PeerClient,
    uri: Uri,
    limit: usize,
    timeout: Duration,
    what: &str,
) -> Result<Bytes, String> {
    let request = hyper::Request::get(uri)
        .body(tonic::body::Body::new(Full::new(Bytes::new())))
        .map_err(|e| e.to_string())?;
    let fetch = async {
        let response = http
            .request(request)
            .await
            .map_err(|e| format!("cannot download the {what}: {e}"))?;
        if response.status() != hyper::StatusCode::OK {
            return Err(format!(
                "cannot download the {what}: status {}",
                response.status()
            ));
        }
        let body = http_body_util::Limited::new(response.into_body(), limit);
        body.collect()
            .await
            .map(|c| c.to_bytes())
            .map_err(|e| format!("cannot download the {what}: {e}"))
    };
    tokio::time::timeout(timeout, fetch)
        .await
        .map_err(|_| format!("{what} download timed out after {timeout:?}"))?
}

/// Sends `request` over the peer connection within `timeout`; `Ok` for a 2xx answer, else
/// the status and (up to 64 KiB of) the answer's text.
pub(crate) async fn peer_post(
    http: &PeerClient,
    request: hyper::Request<tonic::body::Body>,
    timeout: Duration,
) -> Result<(), String> {
    let post = async {
        let response = http.request(request).await.map_err(|e| e.to_string())?;
        let status = response.status();
        let answer = http_body_util::Limited::new(response.into_body(), 64 * 1024)
            .collect()
            .await
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!(
                "orchestrator answered {status}: {}",
                String::from_utf8_lossy(&answer).trim()
            ))
        }
    };
    tokio::time::timeout(timeout, post)
        .await
        .map_err(|_| format!("result upload timed out after {timeout:?}"))?
}

pub(crate) fn with_slash(uri: &Uri) -> String {
    let text = uri.to_string();
    if text.ends_with('/') {
        text
    } else {
        format!("{text}/")
    }
}

/// One part of a result body.
#[derive(Debug, Clone)]
pub struct ResultPart {
    /// `Content-Type` of the part.
    pub content_type: &'static str,
    /// `Pixels` (encoded pixels) for a rendition; `None` for a hash part.
    pub pixels: Option<u64>,
    /// The bytes.
    pub data: Bytes,
}

/// A `multipart/mixed` body of `parts` framed as Go's `mime/multipart` writer frames them
/// (headers in sorted order: `Content-Length`, `Content-Type`, `Pixels`).
pub fn encode_parts(boundary: &str, parts: &[ResultPart]) -> Bytes {
    let mut out = BytesMut::with_capacity(parts.iter().map(|p| p.data.len() + 128).sum());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.put_slice(b"\r\n");
        }
        out.put_slice(format!("--{boundary}\r\n").as_bytes());
        out.put_slice(format!("Content-Length: {}\r\n", part.data.len()).as_bytes());
        out.put_slice(format!("Content-Type: {}\r\n", part.content_type).as_bytes());
        if let Some(pixels) = part.pixels {
            out.put_slice(format!("Pixels: {pixels}\r\n").as_bytes());
        }
        out.put_slice(b"\r\n");
        out.put_slice(&part.data);
    }
    out.put_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    out.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_a_minute_and_resets() {
        let mut backoff = Backoff::default();
        let first = backoff.next_wait();
        assert!(first >= INITIAL_BACKOFF / 2 && first <= INITIAL_BACKOFF * 3 / 2);
        for _ in 0..30 {
            assert!(backoff.next_wait() <= MAX_BACKOFF);
        }
        assert_eq!(backoff.next, MAX_BACKOFF);
        backoff.reset();
        assert!(backoff.next_wait() <= INITIAL_BACKOFF * 3 / 2);
    }

    #[test]
    fn orchestrator_addresses_default_to_tls() {
        assert_eq!(
            orchestrator_uri("127.0.0.1:8935").expect("uri").to_string(),
            "https://127.0.0.1:8935/"
        );
        assert_eq!(
            orchestrator_uri("http://o.example:9")
                .expect("uri")
                .scheme_str(),
            Some("http")
        );
        for bad in ["", "ftp://x:1", "a b:1"] {
            assert!(orchestrator_uri(bad).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn result_bodies_parse_back_as_the_orchestrator_reads_them() {
        let parts = [
            ResultPart {
                content_type: "video/mp2t",
                pixels: Some(1234),
                data: Bytes::from_static(b"rendition\r\n--not-a-boundary"),
            },
            ResultPart {
                content_type: "application/octet-stream",
                pixels: None,
                data: Bytes::from_static(b"hash"),
            },
        ];
        let body = encode_parts("0123456789abcdef", &parts);
        let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(body) });
        let mut multipart = multer::Multipart::new(stream, "0123456789abcdef");
        let first = multipart.next_field().await.expect("ok").expect("first");
        assert_eq!(first.headers()["pixels"], "1234");
        assert_eq!(first.headers()["content-length"], "27");
        assert_eq!(
            &first.bytes().await.expect("bytes")[..],
            b"rendition\r\n--not-a-boundary"
        );
        let second = multipart.next_field().await.expect("ok").expect("second");
        assert!(second.headers().get("pixels").is_none());
        assert_eq!(&second.bytes().await.expect("bytes")[..], b"hash");
        assert!(multipart.next_field().await.expect("ok").is_none());
    }
}
