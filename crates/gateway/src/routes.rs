//! The gateway's HTTP routes: push ingest and HLS.
//!
//! `POST|PUT /live/<manifest>/<seq>.ts` (go-livepeer `server/mediaserver.go:HandlePush`)
//! checks, before anything reaches an orchestrator:
//!
//! | Request | Answer |
//! |---|---|
//! | manifest ID not `[A-Za-z0-9_.-]{1,128}`, seq not a number in 0..=`i64::MAX` (the wire's int64), an extension other than `.ts`/`.mp4`, empty body, `Content-Duration`/`Content-Slice-*` not a number of ms, slice from > to | 400 |
//! | `<seq>.mp4`: orchestrators here decode segment input as MPEG-TS (`-f mpegts`), so only MPEG-TS segments are accepted | 415 |
//! | `Content-Length` over the segment limit ([`MAX_PUSH_BYTES`] by default): answered at once, the body is not read; a body without `Content-Length` is read up to the limit | 413 |
//! | the body does not arrive within [`PUSH_READ_TIMEOUT`] | 408 |
//! | `Content-Duration` above [`MAX_SEGMENT_DURATION`] (orchestrators refuse longer segments) | 422 |
//! | a new manifest while `-maxSessions` streams are live | 503 "Too many streams…" |
//!
//! Then the segment is transcoded: 503 "No sessions available" without any orchestrator,
//! 422 for non-retryable errors and after `-maxAttempts` failed attempts, 500 otherwise.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use livepeer_primitives::ManifestId;
use livepeer_primitives::profile::Format;
use tracing::{Instrument, info_span};

use crate::GatewayError;
use crate::dispatch::SourceSegment;
use crate::multipart::{self, Part};
use crate::streams::Gateway;

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

const HLS_PLAYLIST: &str = "application/vnd.apple.mpegurl";

pub(crate) fn router(state: Arc<Gateway>) -> Router {
    Router::new()
        .route("/live/{manifest}/{file}", post(push).put(push))
        .route("/live/{manifest}", axum::routing::delete(end_push))
        .route("/stream/{file}", get(master))
        .route("/stream/{manifest}/{file}", get(media))
        .route("/stream/{manifest}/{profile}/{file}", get(segment))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(state)
}

fn header_ms(headers: &HeaderMap, name: &str) -> Result<Option<u64>, GatewayError> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .map(Some)
            .ok_or_else(|| {
                GatewayError::BadRequest(format!("{name} must be a number of milliseconds"))
            }),
    }
}

/// The sequence number of a pushed `<seq>.ts`.
///
/// Errors: 415 for `.mp4`, 400 for anything else that is not `<0..=i64::MAX>.ts`.
fn push_seq(file: &str) -> Result<u64, GatewayError> {
    if file.ends_with(".mp4") {
        return Err(GatewayError::UnsupportedFormat {
            extension: ".mp4".into(),
        });
    }
    let seq = file
        .strip_suffix(".ts")
        .ok_or_else(|| GatewayError::BadRequest(format!("expected <seq>.ts, got {file:?}")))?;
    // The wire's SegData.seq is an int64 (go-livepeer parses a uint64 and converts).
    seq.parse::<i64>()
        .ok()
        .and_then(|s| u64::try_from(s).ok())
        .ok_or_else(|| {
            GatewayError::BadRequest(format!("seq {seq:?} is not a number in 0..={}", i64::MAX))
        })
}

/// `Content-Duration`, checked against [`MAX_SEGMENT_DURATION`]; 0 or absent is the default.
fn push_duration(headers: &HeaderMap) -> Result<Duration, GatewayError> {
    let duration = header_ms(headers, "Content-Duration")?
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

/// `Content-Slice-From`/`Content-Slice-To`, ms (go-livepeer refuses from > to when both set).
fn push_slice(headers: &HeaderMap) -> Result<Option<(u64, u64)>, GatewayError> {
    match (
        header_ms(headers, "Content-Slice-From")?,
        header_ms(headers, "Content-Slice-To")?,
    ) {
        (None, None) => Ok(None),
        (Some(from), Some(to)) if from > 0 && to > 0 && from > to => Err(GatewayError::BadRequest(
            format!("invalid slice: from {from} ms > to {to} ms"),
        )),
        (from, to) => Ok(Some((from.unwrap_or(0), to.unwrap_or(0)))),
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
        let stream = gw.stream_for_push(&manifest)?;
        let segment = SourceSegment {
            manifest,
            seq,
            duration,
            data: body,
            slice,
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
    let playlist = file
        .strip_suffix(".m3u8")
        .and_then(|profile| gw.stream(&manifest)?.media_playlist(profile));
    match playlist {
        Some(p) => ([(header::CONTENT_TYPE, HLS_PLAYLIST)], p).into_response(),
        None => GatewayError::NotFound.into_response(),
    }
}

/// `GET /stream/<manifest>/<profile>/<seq><ext>`, where `<ext>` is the profile's container
/// (`.ts` → `video/mp2t`, `.mp4` → `video/mp4`); the other extension is 404.
async fn segment(
    State(gw): State<Arc<Gateway>>,
    Path((manifest, profile, file)): Path<(String, String, String)>,
) -> Response {
    let found = gw.stream(&manifest).and_then(|stream| {
        let format = stream.profile(&profile)?.format;
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
        for bad in [
            "9223372036854775808.ts",
            "18446744073709551616.ts",
            "-1.ts",
            "x.ts",
            "7",
        ] {
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
        assert!(matches!(
            push_duration(&with(&[("Content-Duration", "2.5")])),
            Err(GatewayError::BadRequest(_))
        ));
        assert_eq!(
            push_slice(&with(&[("Content-Slice-From", "500")])).expect("from only"),
            Some((500, 0))
        );
        assert!(matches!(
            push_slice(&with(&[
                ("Content-Slice-From", "900"),
                ("Content-Slice-To", "100")
            ])),
            Err(GatewayError::BadRequest(_))
        ));
    }
}
