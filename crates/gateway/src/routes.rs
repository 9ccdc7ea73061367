//! The gateway's HTTP routes: push ingest and HLS.
//!
//! `POST|PUT /live/<manifest>/<seq>.ts` (go-livepeer `server/mediaserver.go:HandlePush`)
//! checks, before anything reaches an orchestrator:
//!
//! | Request | Answer |
//! |---|---|
//! | manifest ID not `[A-Za-z0-9_.-]{1,128}`, a numeric seq above `i64::MAX` (the wire's int64), an extension other than `.ts`/`.mp4`, empty body, slice from > to, a `Livepeer-Transcode-Configuration` that is not go's JSON | 400 |
//! | `<seq>.mp4`: orchestrators here decode segment input as MPEG-TS (`-f mpegts`), so only MPEG-TS segments are accepted | 415 |
//! | `Content-Length` over the segment limit ([`MAX_PUSH_BYTES`] by default): answered at once, the body is not read; a body without `Content-Length` is read up to the limit | 413 |
//! | the body does not arrive within [`PUSH_READ_TIMEOUT`] | 408 |
//! | `Content-Duration` above [`MAX_SEGMENT_DURATION`] (orchestrators refuse longer segments) | 422 |
//! | a new manifest while `-maxSessions` streams are live | 503 "Too many streams…" |
//! | ffprobe finds a video codec other than H.264, HEVC, VP8 or VP9 | 422 "Unknown input stream codec=…" |
//!
//! Lenient where go-livepeer is: a seq that is not a number is 0, a missing or malformed
//! `Content-Duration` is 2000 ms, a malformed `Content-Slice-From`/`-To` is 0 (no bound), and
//! a body ffprobe cannot read (or one without video) is sent on unprobed, as lpms's codec probe
//! does not fail either. `Livepeer-Transcode-Configuration` (the auth-webhook JSON) sets up a
//! stream it starts as a webhook answer does (manifest, ladder, `verificationFreq`,
//! object stores), winning over the webhook's.
//!
//! A push that starts a stream asks `-authWebhookUrl` first ([`crate::auth`]): refused, 403
//! "Could not create stream ID: url=…"; an answer the gateway cannot use (bad profiles or
//! store, or profiles that differ from the header's), 500 with the same text. `Content-Resolution` is not used: it names the source
//! rendition in go's master playlist, and this gateway does not publish the source.
//!
//! Then the segment is transcoded: 503 "No sessions available" without any orchestrator,
//! 422 for non-retryable errors and after `-maxAttempts` failed attempts, 500 otherwise.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use livepeer_primitives::profile::Format;
use livepeer_primitives::{CapabilitySet, ManifestId};
use tracing::{Instrument, debug, info_span};

use crate::GatewayError;
use crate::auth::{AuthWebhookResponse, StreamAuth};
use crate::dispatch::{SourceSegment, input_capabilities};
use crate::multipart::{self, Part};
use crate::streams::{Gateway, StreamSetup};

/// Largest pushed segment accepted by default, bytes (go-livepeer `common.MaxSegSize`,
/// 300 MB); [`GatewayConfig::max_segment_bytes`](crate::GatewayConfig::max_segment_bytes).
pub const MAX_PUSH_BYTES: usize = 300 * 1024 * 1024;
/// Duration assumed when a push has no `Content-Duration` (go-livepeer: 2000 ms).
pub const DEFAULT_PUSH_DURATION: Duration = Duration::from_millis(2000);
/// Longest segment accepted: 5 minutes (go-livepeer `common.MaxDuration`); orchestrators
/// refuse longer ones, so the gateway refuses them first (422).
pub const MAX_SEGMENT_DURATION: Duration = Duration::from_secs(300);
/// How long a push body may take to arrive by default; a 300 MB segment needs 5 MB/s.
pub const PUSH_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// go-livepeer's playlist content type (`server/mediaserver.go`).
const HLS_PLAYLIST: &str = "application/x-mpegURL";
/// The header carrying the auth-webhook JSON for a push (go-livepeer `server/auth.go`).
pub const TRANSCODE_CONFIGURATION_HEADER: &str = "Livepeer-Transcode-Configuration";

pub(crate) fn router(state: Arc<Gateway>) -> Router {
    if state.config.remote_signer {
        // A remote signer serves its own routes only (go-livepeer `StartRemoteSignerServer`).
        return crate::signer::router(state).route("/healthz", get(|| async { "ok" }));
    }
    let mut router = Router::new()
        .route("/live/{manifest}/{file}", post(push).put(push))
        .route("/live/{manifest}", axum::routing::delete(end_push))
        .route(
            "/live/video-to-video/{stream}/update",
            post(
                |State(gw): State<Arc<Gateway>>, Path(stream): Path<String>, body: Body| async move {
                    gw.live_update(&stream, body).await
                },
            ),
        )
        .route(
            "/live/video-to-video/{stream}/start",
            post(
                |State(gw): State<Arc<Gateway>>,
                 peer: Option<Extension<livepeer_server::PeerAddr>>,
                 Path(stream): Path<String>,
                 headers: HeaderMap,
                 body: Body| async move {
                    let peer = peer.map(|Extension(p)| p.0);
                    gw.mediamtx_start(peer, None, &stream, &headers, body).await
                },
            ),
        )
        .route(
            "/live/video-to-video/{prefix}/{stream}/start",
            post(
                |State(gw): State<Arc<Gateway>>,
                 peer: Option<Extension<livepeer_server::PeerAddr>>,
                 Path((prefix, stream)): Path<(String, String)>,
                 headers: HeaderMap,
                 body: Body| async move {
                    let peer = peer.map(|Extension(p)| p.0);
                    gw.mediamtx_start(peer, Some(&prefix), &stream, &headers, body).await
                },
            ),
        )
        .route(
            "/live/video-to-video/{stream}/status",
            get(
                |State(gw): State<Arc<Gateway>>, Path(stream): Path<String>| async move {
                    gw.live_status(&stream)
                },
            ),
        )
        .route("/healthz", get(|| async { "ok" }));
    for pipeline in livepeer_ai::Pipeline::ALL {
        if pipeline == livepeer_ai::Pipeline::LiveVideoToVideo {
            continue;
        }
        router = router.route(
            &format!("/{pipeline}"),
            post(
                move |State(state): State<Arc<Gateway>>, headers: HeaderMap, body: Body| async move {
                    state.ai_request(pipeline, headers, body).await
                },
            ),
        );
    }
    let mut router = router
        .with_state(state.clone())
        .merge(hls_router(state.clone()));
    if state.config.remote_signer {
        router = router.merge(crate::signer::router(state));
    }
    router
}

/// The read-only HLS routes alone (`/stream/...`), also served by the node's dashboard.
pub(crate) fn hls_router(state: Arc<Gateway>) -> Router {
    Router::new()
        .route("/stream/{file}", get(master))
        .route("/stream/{manifest}/{file}", get(media))
        .route("/stream/{manifest}/{profile}/{file}", get(segment))
        .with_state(state)
}

/// A header as a number of milliseconds; `None` when absent or not a plain unsigned number
/// (go-livepeer's `strconv` parse failing, after which it uses its default).
fn header_ms(headers: &HeaderMap, name: &str) -> Option<u64> {
    headers
        .get(name)?
        .to_str()
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
}

/// The sequence number of a pushed `<seq>.ts`; a seq that is not a number is 0, as in
/// go-livepeer (`strconv.ParseUint` failing).
///
/// Errors: 415 for `.mp4`, 400 for another extension or a number above `i64::MAX`.
fn push_seq(file: &str) -> Result<u64, GatewayError> {
    if file.ends_with(".mp4") {
        return Err(GatewayError::UnsupportedFormat {
            extension: ".mp4".into(),
        });
    }
    let seq = file
        .strip_suffix(".ts")
        .ok_or_else(|| GatewayError::BadRequest(format!("expected <seq>.ts, got {file:?}")))?;
    if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(0);
    }
    // The wire's SegData.seq is an int64 (go-livepeer parses a uint64 and converts).
    seq.parse::<i64>()
        .ok()
        .and_then(|s| u64::try_from(s).ok())
        .ok_or_else(|| {
            GatewayError::BadRequest(format!("seq {seq:?} is not a number in 0..={}", i64::MAX))
        })
}

/// `Content-Duration`, checked against [`MAX_SEGMENT_DURATION`]; absent, 0 or malformed is
/// [`DEFAULT_PUSH_DURATION`] (go-livepeer: `strconv.Atoi` failing means 2000 ms).
fn push_duration(headers: &HeaderMap) -> Result<Duration, GatewayError> {
    let duration = header_ms(headers, "Content-Duration")
        .filter(|&ms| ms > 0)
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_PUSH_DURATION);
    if duration > MAX_SEGMENT_DURATION {
        return Err(GatewayError::DurationTooLong {
            duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            max_ms: MAX_SEGMENT_DURATION.as_millis() as u64,
        });
    }
    Ok(duration)
}

/// `Content-Slice-From`/`Content-Slice-To`, ms, as go-livepeer reads them: a malformed value
/// is 0, both 0 is no slice, and from > to (both set) is refused.
fn push_slice(headers: &HeaderMap) -> Result<Option<(u64, u64)>, GatewayError> {
    let from = header_ms(headers, "Content-Slice-From").unwrap_or(0);
    let to = header_ms(headers, "Content-Slice-To").unwrap_or(0);
    match (from, to) {
        (0, 0) => Ok(None),
        (from, to) if from > 0 && to > 0 && from > to => Err(GatewayError::BadRequest(format!(
            "Invalid slice config from={from}ms to={to}ms"
        ))),
        slice => Ok(Some(slice)),
    }
}

/// The `Livepeer-Transcode-Configuration` header: go-livepeer's auth-webhook response JSON
/// (`server/auth.go:getTranscodeConfiguration`); `None` without the header (or an empty
/// one).
///
/// Errors: [`GatewayError::BadTranscodeConfiguration`] for JSON go would not parse, or
/// profiles our profile parser refuses (an empty list included).
fn transcode_configuration(
    headers: &HeaderMap,
) -> Result<Option<AuthWebhookResponse>, GatewayError> {
    let Some(value) = headers.get(TRANSCODE_CONFIGURATION_HEADER) else {
        return Ok(None);
    };
    let bad = |reason: String| GatewayError::BadTranscodeConfiguration { reason };
    let text = value.to_str().map_err(|e| bad(e.to_string()))?;
    if text.is_empty() {
        return Ok(None);
    }
    let config = crate::auth::parse_transcode_configuration(text)?;
    config.ladder().map_err(bad)?;
    Ok(Some(config))
}

/// Sets up a stream a push starts (go-livepeer `createRTMPStreamIDHandler`): asks the auth
/// webhook, when there is one, with the ingest URL `http://<Host><path>`; the
/// `Livepeer-Transcode-Configuration` header, when given, wins over the webhook's answer
/// (both naming different profiles is refused). Returns the manifest the stream is published
/// under (the answer's `manifestID`, else the push's) and its setup.
///
/// Errors: [`GatewayError::AuthDenied`] (403), [`GatewayError::StreamConfig`] (500).
async fn stream_setup(
    gw: &Gateway,
    headers: &HeaderMap,
    manifest: &ManifestId,
    file: &str,
    header: Option<AuthWebhookResponse>,
) -> Result<(ManifestId, StreamSetup), GatewayError> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let url = format!("http://{host}/live/{manifest}/{file}");
    stream_setup_for_url(gw, url, manifest, header).await
}

/// [`stream_setup`] for a stream ingested at `url` (an HTTP push's, or an RTMP publish's
/// `rtmp://…` URL): asks the auth webhook, if any, with that URL.
pub(crate) async fn stream_setup_for_url(
    gw: &Gateway,
    url: String,
    manifest: &ManifestId,
    header: Option<AuthWebhookResponse>,
) -> Result<(ManifestId, StreamSetup), GatewayError> {
    let hooked = match &gw.auth_webhook {
        Some(webhook) => webhook.authenticate(&url).await?,
        None => None,
    };
    if let (Some(hooked), Some(header)) = (&hooked, &header) {
        let profiles = |r: &AuthWebhookResponse| match &r.profiles {
            None => serde_json::Value::Array(Vec::new()),
            Some(p) => p.clone(),
        };
        if profiles(hooked) != profiles(header) {
            return Err(GatewayError::StreamConfig {
                url,
                reason: "Received auth header with profiles that don't match those in callback URL response".into(),
            });
        }
    }
    let Some(answer) = header.or(hooked) else {
        return Ok((manifest.clone(), StreamSetup::default()));
    };
    let auth = StreamAuth::from_response(&url, &answer)?;
    let published = auth.manifest.clone().unwrap_or_else(|| manifest.clone());
    gw.alias(manifest, &published);
    Ok((
        published,
        StreamSetup {
            profiles: auth.profiles.clone(),
            auth: Some(auth),
            source_resolution: None,
        },
    ))
}

/// `Content-Resolution` (`WxH`, e.g. `1920x1080`): the source's size as the pusher states
/// it, kept for the stream's source track (go-livepeer `params.Resolution`, read when a push
/// starts a stream); `None` when absent or not `WxH`.
fn content_resolution(headers: &HeaderMap) -> Option<(u32, u32)> {
    let text = headers.get("Content-Resolution")?.to_str().ok()?;
    let (w, h) = text.trim().split_once('x')?;
    Some((w.parse().ok()?, h.parse().ok()?))
}

/// What decoding the pushed segment needs ([`input_capabilities`]), from one ffprobe run on
/// its bytes. A body ffprobe cannot read, or one without video, needs nothing more (lpms's
/// probe does not fail the push either; the orchestrator reports what it cannot decode).
///
/// Errors: [`GatewayError::UnknownInputCodec`] (422).
pub(crate) async fn probe_input(gw: &Gateway, body: &Bytes) -> Result<CapabilitySet, GatewayError> {
    let Some(ffmpeg) = &gw.ffmpeg else {
        return Ok(CapabilitySet::new());
    };
    match ffmpeg.probe(body).await {
        Ok(info) => input_capabilities(&info.video_codec, info.pixel_format.as_deref()),
        Err(err) => {
            debug!(%err, "pushed segment not probed");
            Ok(CapabilitySet::new())
        }
    }
}

/// The declared `Content-Length`, if any.
fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
}

/// Reads a push body: 413 at once when `Content-Length` is over `limit`, else read up to
/// `limit` within `timeout` into one buffer sized from `Content-Length` (so a segment is held
/// once, not once per chunk and once joined).
async fn read_push_body(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
    timeout: Duration,
) -> Result<Bytes, GatewayError> {
    let too_large = || GatewayError::SegmentTooLarge { limit_bytes: limit };
    let declared = declared_length(headers);
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(too_large());
    }
    let capacity = declared.map_or(0, |n| usize::try_from(n).unwrap_or(limit).min(limit));
    let read = async {
        let mut body = body;
        let mut buf = bytes::BytesMut::with_capacity(capacity);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|err| {
                GatewayError::BadRequest(format!("cannot read the segment: {err}"))
            })?;
            if let Ok(data) = frame.into_data() {
                if buf.len() + data.len() > limit {
                    return Err(too_large());
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(buf.freeze())
    };
    tokio::time::timeout(timeout, read)
        .await
        .map_err(|_| GatewayError::PushTimeout(timeout))?
}

async fn push(
    State(gw): State<Arc<Gateway>>,
    Path((manifest, file)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let manifest =
            ManifestId::new(manifest).map_err(|e| GatewayError::BadRequest(e.to_string()))?;
        let seq = push_seq(&file)?;
        let duration = push_duration(&headers)?;
        let slice = push_slice(&headers)?;
        let header_config = transcode_configuration(&headers)?;
        // Room for the body in the gateway's in-flight budget, held until the push is done.
        let _budget = gw
            .reserve_push_bytes(
                declared_length(&headers).unwrap_or(gw.config.max_segment_bytes as u64),
                gw.config.push_read_timeout / 2,
            )
            .await?;
        let body = read_push_body(
            &headers,
            body,
            gw.config.max_segment_bytes,
            gw.config.push_read_timeout,
        )
        .await?;
        if body.is_empty() {
            return Err(GatewayError::BadRequest("empty segment".into()));
        }
        // Authentication and admission first, so a refused push costs no ffprobe run.
        let (published, setup) = if gw.starts_stream(&manifest) {
            let (published, mut setup) =
                stream_setup(&gw, &headers, &manifest, &file, header_config).await?;
            setup.source_resolution = content_resolution(&headers);
            (published, setup)
        } else {
            (gw.resolve(&manifest), StreamSetup::default())
        };
        let stream = gw.stream_for_push(&published, setup)?;
        let input = match probe_input(&gw, &body).await {
            Ok(input) => input,
            Err(err) => {
                gw.after_push(&stream).await;
                return Err(err);
            }
        };
        // As go-livepeer, the stream's manifest (the auth webhook's, when it named one) is
        // the one signed, sent and stored from here on.
        let segment = SourceSegment {
            manifest: stream.manifest.clone(),
            seq,
            duration,
            data: body,
            slice,
            input,
            storage: None,
        };
        let renditions = gw
            .process_segment(&stream, segment)
            .instrument(info_span!("push", manifest_id = %stream.manifest, seq))
            .await;
        gw.after_push(&stream).await;
        Ok((seq, renditions?))
    }
    .await;
    let (seq, renditions) = match result {
        Ok(done) => done,
        Err(err) => return err.into_response(),
    };
    let wants_multipart = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("multipart/mixed"));
    if !wants_multipart {
        return StatusCode::OK.into_response();
    }
    let boundary = multipart::new_boundary();
    let parts: Vec<Part<'_>> = renditions
        .iter()
        .map(|r| Part {
            rendition: &r.profile.name,
            seq,
            extension: r.profile.format.extension(),
            mime: mime_type(r.profile.format),
            data: &r.data,
        })
        .collect();
    let body = multipart::encode(&boundary, &parts);
    (
        [(header::CONTENT_TYPE, multipart::content_type(&boundary))],
        Body::from(body),
    )
        .into_response()
}

async fn end_push(State(gw): State<Arc<Gateway>>, Path(manifest): Path<String>) -> Response {
    if gw.end_stream(&manifest).await {
        StatusCode::OK.into_response()
    } else {
        GatewayError::NotFound.into_response()
    }
}

async fn master(State(gw): State<Arc<Gateway>>, Path(file): Path<String>) -> Response {
    let Some(stream) = file.strip_suffix(".m3u8").and_then(|m| gw.stream(m)) else {
        return GatewayError::NotFound.into_response();
    };
    (
        [(header::CONTENT_TYPE, HLS_PLAYLIST)],
        stream.master_playlist(),
    )
        .into_response()
}

async fn media(
    State(gw): State<Arc<Gateway>>,
    Path((manifest, file)): Path<(String, String)>,
) -> Response {
    // `/stream/<request>/<file>`: an AI result kept here.
    if let Some(found) = gw.ai_result(&manifest, &file) {
        return found;
    }
    let playlist = file
        .strip_suffix(".m3u8")
        .and_then(|profile| gw.stream(&manifest)?.media_playlist(profile));
    match playlist {
        Some(p) => ([(header::CONTENT_TYPE, HLS_PLAYLIST)], p).into_response(),
        None => GatewayError::NotFound.into_response(),
    }
}

/// `GET /stream/<manifest>/<profile>/<seq><ext>` (`source` for the pushed segment), where
/// `<ext>` is the track's container
/// (`.ts` → `video/mp2t`, `.mp4` → `video/mp4`); the other extension is 404.
async fn segment(
    State(gw): State<Arc<Gateway>>,
    Path((manifest, profile, file)): Path<(String, String, String)>,
) -> Response {
    let found = gw.stream(&manifest).and_then(|stream| {
        let format = stream.track_format(&profile)?;
        let seq = file.strip_suffix(format.extension())?.parse::<u64>().ok()?;
        Some((format, stream.segment(&profile, seq)?))
    });
    match found {
        Some((format, data)) => ([(header::CONTENT_TYPE, mime_type(format))], data).into_response(),
        None => GatewayError::NotFound.into_response(),
    }
}

fn mime_type(format: Format) -> &'static str {
    match format {
        Format::MpegTs => "video/mp2t",
        Format::Mp4 => "video/mp4",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_paths_durations_and_slices() {
        assert_eq!(push_seq("0.ts").expect("0"), 0);
        assert_eq!(
            push_seq("9223372036854775807.ts").expect("i64::MAX"),
            i64::MAX as u64
        );
        // Not a number: 0, as go-livepeer.
        for lenient in ["x.ts", "-1.ts", "1e3.ts", ".ts", "seg7.ts"] {
            assert_eq!(push_seq(lenient).expect(lenient), 0, "{lenient}");
        }
        for bad in ["9223372036854775808.ts", "18446744073709551616.ts", "7"] {
            assert!(
                matches!(push_seq(bad), Err(GatewayError::BadRequest(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            push_seq("3.mp4"),
            Err(GatewayError::UnsupportedFormat { .. })
        ));

        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().expect("header value"));
            }
            h
        };
        assert_eq!(
            push_duration(&with(&[])).expect("default"),
            DEFAULT_PUSH_DURATION
        );
        for malformed in ["2.5", "abc", "-5", ""] {
            assert_eq!(
                push_duration(&with(&[("Content-Duration", malformed)])).expect(malformed),
                DEFAULT_PUSH_DURATION,
                "{malformed:?}"
            );
        }
        assert_eq!(
            push_duration(&with(&[("Content-Duration", "300000")])).expect("5 min"),
            MAX_SEGMENT_DURATION
        );
        assert!(matches!(
            push_duration(&with(&[("Content-Duration", "300001")])),
            Err(GatewayError::DurationTooLong {
                duration_ms: 300_001,
                max_ms: 300_000
            })
        ));
        assert_eq!(
            push_slice(&with(&[("Content-Slice-From", "500")])).expect("from only"),
            Some((500, 0))
        );
        assert_eq!(
            push_slice(&with(&[
                ("Content-Slice-From", "junk"),
                ("Content-Slice-To", "800")
            ]))
            .expect("malformed from is 0"),
            Some((0, 800))
        );
        assert_eq!(
            push_slice(&with(&[("Content-Slice-To", "x")])).expect("none"),
            None
        );
        assert!(matches!(
            push_slice(&with(&[
                ("Content-Slice-From", "900"),
                ("Content-Slice-To", "100")
            ])),
            Err(GatewayError::BadRequest(_))
        ));
    }

    #[test]
    fn transcode_configuration_header() {
        let with = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert(TRANSCODE_CONFIGURATION_HEADER, v.parse().expect("value"));
            h
        };
        assert!(
            transcode_configuration(&HeaderMap::new())
                .expect("none")
                .is_none()
        );
        // go-livepeer's own test values: a manifest ID alone changes no ladder.
        let only_ids =
            transcode_configuration(&with(r#"{"manifestID": "id-123", "sessionID": "id-456"}"#))
                .expect("parsed")
                .expect("a configuration");
        assert_eq!(only_ids.manifest_id, "id-123");
        assert!(only_ids.ladder().expect("no profiles").is_none());
        let ladder = transcode_configuration(&with(concat!(
            r#"{"presets":["P144p30fps16x9","NoSuchPreset"],"#,
            r#""profiles":[{"name":"tiny","width":320,"height":180,"bitrate":250000,"fps":15}]}"#
        )))
        .expect("parsed")
        .expect("a configuration")
        .ladder()
        .expect("valid profiles")
        .expect("a ladder");
        let names: Vec<&str> = ladder.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["P144p30fps16x9", "tiny"]);
        assert_eq!(
            (ladder[1].width, ladder[1].height, ladder[1].fps),
            (320, 180, 15)
        );
        for bad in [
            r#"{"end brace": "is missing""#,
            r#"{"profiles":[{"name":"x"}]}"#,
        ] {
            let err = transcode_configuration(&with(bad)).expect_err(bad);
            assert_eq!(err.status(), StatusCode::BAD_REQUEST, "{bad}");
            assert!(
                err.to_string()
                    .starts_with("failed to parse transcode config header"),
                "{err}"
            );
        }
    }
}
