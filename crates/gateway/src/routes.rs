//! The gateway's HTTP routes: push ingest and HLS.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use livepeer_primitives::ManifestId;
use tracing::{Instrument, info_span};

use crate::GatewayError;
use crate::dispatch::SourceSegment;
use crate::multipart::{self, Part};
use crate::streams::Gateway;

/// Largest pushed segment accepted, bytes (go-livepeer's 300 MB segment limit).
pub const MAX_PUSH_BYTES: usize = 300 * 1024 * 1024;
/// Duration assumed when a push has no `Content-Duration` (go-livepeer: 2000 ms).
pub const DEFAULT_PUSH_DURATION: Duration = Duration::from_millis(2000);

const HLS_PLAYLIST: &str = "application/vnd.apple.mpegurl";

pub(crate) fn router(state: Arc<Gateway>) -> Router {
    Router::new()
        .route("/live/{manifest}/{file}", post(push).put(push))
        .route("/live/{manifest}", axum::routing::delete(end_push))
        .route("/stream/{file}", get(master))
        .route("/stream/{manifest}/{file}", get(media))
        .route("/stream/{manifest}/{profile}/{file}", get(segment))
        .route("/healthz", get(|| async { "ok" }))
        .layer(DefaultBodyLimit::max(MAX_PUSH_BYTES))
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

async fn push(
    State(gw): State<Arc<Gateway>>,
    Path((manifest, file)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let result = async {
        let manifest =
            ManifestId::new(manifest).map_err(|e| GatewayError::BadRequest(e.to_string()))?;
        let seq: u64 = file
            .strip_suffix(".ts")
            .or_else(|| file.strip_suffix(".mp4"))
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| GatewayError::BadRequest(format!("expected <seq>.ts, got {file:?}")))?;
        if body.is_empty() {
            return Err(GatewayError::BadRequest("empty segment".into()));
        }
        let duration = header_ms(&headers, "Content-Duration")?
            .filter(|&ms| ms > 0)
            .map(Duration::from_millis)
            .unwrap_or(DEFAULT_PUSH_DURATION);
        let slice = match (
            header_ms(&headers, "Content-Slice-From")?,
            header_ms(&headers, "Content-Slice-To")?,
        ) {
            (None, None) => None,
            (from, to) => Some((from.unwrap_or(0), to.unwrap_or(0))),
        };
        let stream = gw.stream_for_push(&manifest);
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
            .await?;
        Ok((seq, renditions))
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

async fn segment(
    State(gw): State<Arc<Gateway>>,
    Path((manifest, profile, file)): Path<(String, String, String)>,
) -> Response {
    let data = file
        .strip_suffix(".ts")
        .and_then(|s| s.parse::<u64>().ok())
        .and_then(|seq| gw.stream(&manifest)?.segment(&profile, seq));
    match data {
        Some(d) => ([(header::CONTENT_TYPE, "video/mp2t")], d).into_response(),
        None => GatewayError::NotFound.into_response(),
    }
}

fn mime_type(format: livepeer_primitives::profile::Format) -> &'static str {
    match format {
        livepeer_primitives::profile::Format::MpegTs => "video/mp2t",
        livepeer_primitives::profile::Format::Mp4 => "video/mp4",
    }
}
