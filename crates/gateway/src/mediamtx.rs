//! The MediaMTX start hook: `POST /live/video-to-video/{stream}/start` (and
//! `/live/video-to-video/{prefix}/{stream}/start`), which a MediaMTX media server calls from its
//! `runOnReady` hook when a broadcaster publishes a stream to it (go-livepeer
//! `server/ai_mediaserver.go:StartLiveVideo`, `reference/ai.md` §4.3).
//!
//! The form (multipart, as MediaMTX's `curl -F` sends it, or URL-encoded) holds `source_id`
//! (MediaMTX's connection ID), `source_type` (`rtmpconn` or `webrtcsession`, any case),
//! `query` (the broadcaster's query string: `pipeline`, `params`, `rtmpOutput`) and optionally
//! `rtmp_url`. The gateway then
//! 1. starts live-video-to-video for the stream ([`crate::live`]; the stream's name is its
//!    manifest, its HLS at `/stream/<stream>.m3u8`);
//! 2. pulls the stream back from MediaMTX with ffmpeg, `rtmp://<caller's host>/<prefix/><stream>`
//!    (or `rtmp_url`), cut into [`crate::rtmp::SEGMENT_TIME`] MPEG-TS segments for the session;
//! 3. pushes the output to `rtmpOutput`, if given, and back into MediaMTX as
//!    `<input>-out` and `<input>-<request ID>-out` (go-livepeer's outputs);
//! 4. when the stream fails (no orchestrator left), disconnects the broadcaster through
//!    MediaMTX's control API, `POST http://<caller's host>:9997/v3/{rtmpconns|webrtcsessions}/kick/<source_id>`
//!    with user `admin` and `-mediaMTXApiPassword`, so it can reconnect; when the pull ends
//!    (the broadcaster left), the session ends and the playlists turn VOD.
//!
//! Streams whose name ends in `-out` are the gateway's own outputs: the hook answers 200 and
//! does nothing, as go-livepeer.
//!
//! Answers: 200 once an orchestrator took the session; 400 `Missing source_id`, `Missing
//! source_type`, `unknown media source`, `Invalid model params`, `Missing pipeline`, a bad
//! stream name or `rtmp_url`; 409 when the stream is already live; 503 when no orchestrator
//! took it (then the broadcaster is disconnected). Differences from go-livepeer, which answers
//! 200 in every case past validation and takes any `rtmp_url`: a failed start is an error
//! status here, and `rtmp_url` must be an `rtmp://` URL on the host that called (the gateway
//! never pulls from a host the caller chose).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Response, StatusCode, header};
use axum::response::IntoResponse;
use bytes::Bytes;
use livepeer_media::live::{CutSegment, LiveSegmenter, LiveSegmenterArgs};
use livepeer_primitives::ManifestId;
use tokio::sync::mpsc;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::live::{LiveQuery, LiveStream};
use crate::rtmp::{SEGMENT_QUEUE, SEGMENT_TIME, SEGMENTER_TIMEOUT};
use crate::streams::Gateway;

/// The port of MediaMTX's control API (go-livepeer `mediaMTXControlPort`).
pub const DEFAULT_API_PORT: u16 = 9997;
/// The user of MediaMTX's control API (go-livepeer `mediaMTXControlUser`).
pub const API_USER: &str = "admin";
/// How long a control API call may take.
pub const API_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest start form taken, bytes.
pub const MAX_FORM_BYTES: usize = 64 * 1024;
/// How long the pull may go without reading anything before it is dropped, µs (ffmpeg
/// `-rw_timeout`).
const PULL_READ_TIMEOUT_US: &str = "10000000";

/// A MediaMTX source type: its control API path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceType {
    /// `rtmpconn`: an RTMP broadcaster.
    RtmpConn,
    /// `webrtcsession`: a WHIP broadcaster.
    WebrtcSession,
}

impl SourceType {
    /// Parses MediaMTX's `source_type` (its casing changed between versions).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "rtmpconn" => Some(Self::RtmpConn),
            "webrtcsession" => Some(Self::WebrtcSession),
            _ => None,
        }
    }

    /// The control API's collection (`rtmpconns`, `webrtcsessions`).
    pub fn api_path(self) -> &'static str {
        match self {
            Self::RtmpConn => "rtmpconns",
            Self::WebrtcSession => "webrtcsessions",
        }
    }
}

/// How to reach the MediaMTX that called, to disconnect one broadcaster.
#[derive(Debug, Clone)]
struct Control {
    host: String,
    port: u16,
    password: String,
    source_type: SourceType,
    source_id: String,
}

impl Control {
    /// Disconnects the broadcaster (best effort: failures are logged).
    async fn kick(&self) {
        let url = format!(
            "http://{}:{}/v3/{}/kick/{}",
            self.host,
            self.port,
            self.source_type.api_path(),
            url::form_urlencoded::byte_serialize(self.source_id.as_bytes()).collect::<String>()
        );
        let sent = reqwest::Client::new()
            .post(&url)
            .basic_auth(API_USER, Some(&self.password))
            .timeout(API_TIMEOUT)
            .send()
            .await;
        match sent {
            Ok(resp) if resp.status().is_success() => {
                info!(
                    source_id = self.source_id,
                    "MediaMTX broadcaster disconnected"
                )
            }
            Ok(resp) => {
                warn!(source_id = self.source_id, status = %resp.status(), "MediaMTX refused to disconnect the broadcaster")
            }
            Err(e) => {
                warn!(source_id = self.source_id, error = %e, "MediaMTX not reached to disconnect the broadcaster")
            }
        }
    }
}

fn bad_request(message: &str) -> Response<Body> {
    (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response()
}

/// The form's fields (multipart or URL-encoded); `None` when it cannot be read.
async fn read_form(headers: &HeaderMap, body: Body) -> Option<Vec<(String, String)>> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES).await.ok()?;
    if content_type.starts_with("multipart/form-data") {
        let boundary = multer::parse_boundary(&content_type).ok()?;
        let stream = futures::stream::once(async move { Ok::<Bytes, std::io::Error>(bytes) });
        let mut form = multer::Multipart::new(stream, boundary);
        let mut fields = Vec::new();
        while let Some(field) = form.next_field().await.ok()? {
            let name = field.name().unwrap_or_default().to_string();
            let value = field.text().await.ok()?;
            fields.push((name, value));
        }
        Some(fields)
    } else {
        Some(
            url::form_urlencoded::parse(&bytes)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }
}

/// The host the caller's address names, for URLs (`::1` is `127.0.0.1`, as go-livepeer).
fn caller_host(peer: IpAddr) -> String {
    match peer {
        IpAddr::V6(v6) if v6.is_loopback() => "127.0.0.1".into(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => format!("[{v6}]"),
        },
        IpAddr::V4(v4) => v4.to_string(),
    }
}

/// `rtmp_url` if it is an `rtmp://` URL on the caller's host (module docs).
fn rtmp_url_on(url: &str, caller: &str) -> Option<String> {
    let parsed = url::Url::parse(url.trim()).ok()?;
    if parsed.scheme() != "rtmp" {
        return None;
    }
    let host = parsed.host_str()?;
    let same = host == caller
        || (host == "localhost" && caller == "127.0.0.1")
        || host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .ok()
            .is_some_and(|ip| caller_host(ip) == caller);
    same.then(|| parsed.to_string())
}

impl Gateway {
    /// `POST /live/video-to-video/[{prefix}/]{stream}/start` (module docs). `peer` is the
    /// caller's address.
    pub(crate) async fn mediamtx_start(
        self: &Arc<Self>,
        peer: Option<SocketAddr>,
        prefix: Option<&str>,
        stream: &str,
        headers: &HeaderMap,
        body: Body,
    ) -> Response<Body> {
        let Some(form) = read_form(headers, body).await else {
            return bad_request("Invalid form");
        };
        let field = |name: &str| {
            form.iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        if stream.is_empty() {
            return bad_request("Missing stream name");
        }
        let source_id = field("source_id");
        if source_id.is_empty() {
            return bad_request("Missing source_id");
        }
        let source_type = field("source_type");
        if source_type.is_empty() {
            return bad_request("Missing source_type");
        }
        let Some(source_type) = SourceType::parse(&source_type) else {
            return bad_request("unknown media source");
        };
        let Some(peer) = peer else {
            return bad_request("Could not find callback host");
        };
        let host = caller_host(peer.ip());
        // The gateway's own outputs come back through the hook: nothing to do.
        if stream.ends_with("-out") {
            return StatusCode::OK.into_response();
        }
        let asked = LiveQuery::parse(&field("query"));
        let Ok(params) = asked.params else {
            return bad_request("Invalid model params");
        };
        let Some(pipeline) = asked.pipeline else {
            return bad_request("Missing pipeline");
        };
        let Ok(manifest) = ManifestId::new(stream.to_string()) else {
            return bad_request("Invalid stream name");
        };
        let prefix = prefix.map(|p| format!("{p}/")).unwrap_or_default();
        let input = match field("rtmp_url") {
            url if url.is_empty() => format!("rtmp://{host}/{prefix}{stream}"),
            url => match rtmp_url_on(&url, &host) {
                Some(url) => url,
                None => return bad_request("rtmp_url must be an rtmp:// URL on the caller's host"),
            },
        };
        let Some(ffmpeg) = self.ffmpeg.clone() else {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                "live ingest needs ffmpeg, which is not installed\n",
            )
                .into_response();
        };
        let control = Control {
            host,
            port: self.config.mediamtx_api_port,
            password: self.config.mediamtx_api_password.clone(),
            source_type,
            source_id,
        };
        if self.live_stream(stream).is_some() || !self.claim_rtmp(&manifest) {
            return (StatusCode::CONFLICT, "Stream is already live\n").into_response();
        }
        let request_id = hex::encode(rand::random::<[u8; 4]>());
        let mut outputs: Vec<String> = asked.rtmp_output.into_iter().collect();
        outputs.push(format!("{input}-out"));
        outputs.push(format!("{input}-{request_id}-out"));
        let live = match self.start_live(&manifest, &pipeline, params, outputs).await {
            Ok(live) => live,
            Err(err) => {
                self.release_rtmp(&manifest);
                warn!(%stream, %err, "MediaMTX stream not started");
                control.kick().await;
                return (StatusCode::SERVICE_UNAVAILABLE, format!("{err}\n")).into_response();
            }
        };
        info!(%stream, %pipeline, source_id = control.source_id, "MediaMTX stream started");
        let span = info_span!("mediamtx", %stream);
        tokio::spawn(pull(self.clone(), ffmpeg, manifest, input, live, control).instrument(span));
        StatusCode::OK.into_response()
    }
}

/// Pulls the stream from MediaMTX into the live session until the broadcaster leaves (then
/// the session ends) or the session fails (then the broadcaster is disconnected).
async fn pull(
    gw: Arc<Gateway>,
    ffmpeg: livepeer_media::Ffmpeg,
    manifest: ManifestId,
    input: String,
    live: Arc<LiveStream>,
    control: Control,
) {
    let (queue, mut segments) = mpsc::channel::<Bytes>(SEGMENT_QUEUE);
    let on_cut = move |cut: CutSegment| {
        if queue.try_send(cut.data).is_err() {
            warn!("segment dropped: the live session is behind the stream");
        }
    };
    let sender = {
        let live = live.clone();
        tokio::spawn(
            async move {
                while let Some(data) = segments.recv().await {
                    live.publish(data).await;
                }
            }
            .in_current_span(),
        )
    };
    let args = LiveSegmenterArgs {
        input: [
            "-f",
            "flv",
            "-protocol_whitelist",
            "rtmp,tcp",
            "-rw_timeout",
            PULL_READ_TIMEOUT_US,
        ]
        .map(String::from)
        .to_vec(),
        output: ["-map", "0:v?", "-map", "0:a?", "-c", "copy"]
            .map(String::from)
            .to_vec(),
        segment_time: SEGMENT_TIME,
    };
    let ended = live.ended();
    let mut failed = false;
    match LiveSegmenter::pull(&ffmpeg, &input, args, on_cut).await {
        Ok(mut segmenter) => {
            let clock = segmenter.cut_clock();
            let stalled = async {
                loop {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    if clock.elapsed() >= SEGMENTER_TIMEOUT {
                        break;
                    }
                }
            };
            tokio::select! {
                _ = segmenter.exited() => info!("MediaMTX stream ended"),
                _ = ended.cancelled() => failed = true,
                _ = stalled => warn!("MediaMTX stream dropped: no segment cut for {} s", SEGMENTER_TIMEOUT.as_secs()),
            }
            if let Err(e) = segmenter.finish().await {
                debug!(error = %e, "MediaMTX pull ended with an error");
            }
        }
        Err(e) => {
            warn!(error = %e, "MediaMTX stream not pulled");
            failed = true;
        }
    }
    let _ = sender.await;
    gw.release_rtmp(&manifest);
    // The orchestrator ends the session; its output's end ends the stream.
    live.finish().await;
    if failed {
        control.kick().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_types_are_mediamtx_ones_in_any_case() {
        assert_eq!(SourceType::parse("rtmpConn"), Some(SourceType::RtmpConn));
        assert_eq!(
            SourceType::parse("webrtcsession").map(SourceType::api_path),
            Some("webrtcsessions")
        );
        assert_eq!(SourceType::parse("srtconn"), None);
    }

    #[test]
    fn rtmp_url_must_be_on_the_callers_host() {
        let local = caller_host("::1".parse().expect("ip"));
        assert_eq!(local, "127.0.0.1");
        assert_eq!(
            rtmp_url_on("rtmp://127.0.0.1:1936/live/cam", &local).as_deref(),
            Some("rtmp://127.0.0.1:1936/live/cam")
        );
        assert!(rtmp_url_on("rtmp://localhost/live/cam", &local).is_some());
        assert!(rtmp_url_on("rtmp://[::1]:1935/live/cam", &local).is_some());
        for bad in [
            "rtmp://10.0.0.9/live/cam",
            "http://127.0.0.1/live/cam",
            "file:///etc/passwd",
            "rtmp:///live",
        ] {
            assert_eq!(rtmp_url_on(bad, &local), None, "{bad}");
        }
        assert_eq!(caller_host("fe80::1".parse().expect("ip")), "[fe80::1]");
    }
}
