//! The orchestrator's side of remote transcoding over HTTP (go-livepeer
//! `server/ot_rpc.go:TranscodeResults`, wire-and-network.md §3.5): `POST /transcodeResults`
//! takes a transcoder's renditions (or its error) for a task, and
//! `GET /stream/<session>/<seq>.tempfile` serves the staged input a task names. Both exist only
//! with `-orchSecret`.
//!
//! `/transcodeResults` answers as go's does: 401 "Unauthorized" for a wrong `Authorization` or
//! `Credentials`, 415 for an unreadable `Content-Type`, 400 "Invalid Task ID" / "Invalid
//! Pixels", 500 with the reason when the multipart body cannot be read, and "OK" otherwise,
//! also for a task nobody waits for any more. The body is bounded by
//! [`MAX_RESULT_PART_BYTES`] a part, [`MAX_RESULT_BYTES`] in all, [`MAX_RESULT_PARTS`] parts,
//! and [`RESULT_READ_TIMEOUT`].

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Path, State as AxumState};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::TryStreamExt;
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use tracing::{debug, warn};

use crate::State;
use crate::transcoders::{RemoteResult, TRANSCODER_AUTH, TRANSCODING_ERROR_MIME};
use crate::validate::MAX_RENDITIONS;

/// Largest rendition or hash part, bytes (go-livepeer reads each part with
/// `common.ReadAtMost(p, common.MaxSegSize)`).
pub const MAX_RESULT_PART_BYTES: u64 = crate::MAX_SEGMENT_BYTES;
/// Largest whole result body, bytes.
pub const MAX_RESULT_BYTES: u64 = 2 * crate::MAX_SEGMENT_BYTES;
/// Most parts a result may have: a rendition and its hash per profile.
pub const MAX_RESULT_PARTS: usize = 2 * MAX_RENDITIONS;
/// Longest a result body may take to arrive.
pub const RESULT_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest error text read from a `livepeer/transcoding-error` body, bytes.
const MAX_ERROR_BYTES: usize = 64 * 1024;

/// Whether `given` is the secret, compared through SHA-256 digests so the time taken says
/// nothing about how much of it matched.
pub(crate) fn secret_matches(secret: &str, given: &str) -> bool {
    Sha256::digest(secret.as_bytes()) == Sha256::digest(given.as_bytes())
}

fn text(status: StatusCode, body: &str) -> Response {
    (status, body.to_string()).into_response()
}

/// `POST /transcodeResults`.
pub(crate) async fn post_transcode_results(
    AxumState(state): AxumState<Arc<State>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(secret) = state.orch_secret.as_deref() else {
        return text(StatusCode::NOT_FOUND, "not found");
    };
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    if header(header::AUTHORIZATION.as_str()) != TRANSCODER_AUTH {
        warn!(
            auth = header(header::AUTHORIZATION.as_str()),
            "transcode result with an invalid auth type"
        );
        return text(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    if !secret_matches(secret, header("Credentials")) {
        warn!("transcode result with an invalid shared secret");
        return text(StatusCode::UNAUTHORIZED, "Unauthorized");
    }
    let content_type = match header(header::CONTENT_TYPE.as_str()).parse::<mime::Mime>() {
        Ok(parsed) => parsed,
        Err(err) => return text(StatusCode::UNSUPPORTED_MEDIA_TYPE, &format!("mime: {err}")),
    };
    let media_type = content_type.essence_str().to_ascii_lowercase();
    let Ok(task_id) = header("TaskId").trim().parse::<i64>() else {
        return text(StatusCode::BAD_REQUEST, "Invalid Task ID");
    };
    if media_type == TRANSCODING_ERROR_MIME {
        let reason = match read_error_text(body).await {
            Ok(reason) => reason,
            Err(err) => err,
        };
        warn!(task_id, %reason, "remote transcoder reported an error");
        state
            .transcoders
            .deliver(task_id, RemoteResult::Failed(reason));
        return text(StatusCode::OK, "OK");
    }
    if header("Pixels").trim().parse::<i64>().is_err() {
        return text(StatusCode::BAD_REQUEST, "Invalid Pixels");
    }
    if media_type != "multipart/mixed" {
        // go-livepeer answers OK and delivers nothing; the task then times out.
        return text(StatusCode::OK, "OK");
    }
    let parts = match content_type.get_param(mime::BOUNDARY) {
        Some(boundary) => read_parts(body, boundary.as_str().to_string()).await,
        None => Err("multipart: boundary is missing".to_string()),
    };
    match parts {
        Ok(parts) => {
            debug!(
                task_id,
                renditions = parts.len(),
                "remote transcode result received"
            );
            state
                .transcoders
                .deliver(task_id, RemoteResult::Done(parts));
            text(StatusCode::OK, "OK")
        }
        Err(reason) => {
            warn!(task_id, %reason, "unreadable remote transcode result");
            state
                .transcoders
                .deliver(task_id, RemoteResult::Failed(reason.clone()));
            text(StatusCode::INTERNAL_SERVER_ERROR, &reason)
        }
    }
}

async fn read_error_text(body: Body) -> Result<String, String> {
    let read = http_body_util::Limited::new(body, MAX_ERROR_BYTES).collect();
    match tokio::time::timeout(RESULT_READ_TIMEOUT, read).await {
        Ok(Ok(collected)) => Ok(String::from_utf8_lossy(&collected.to_bytes()).into_owned()),
        Ok(Err(err)) => Err(format!("unreadable transcoding error: {err}")),
        Err(_) => Err("transcoding error body timed out".into()),
    }
}

/// The renditions of a `multipart/mixed` result, in order: each part with a `Pixels` header is
/// a rendition; an `application/octet-stream` part without one is the perceptual hash of the
/// rendition before it; other parts are skipped (go-livepeer's reading).
async fn read_parts(
    body: Body,
    boundary: String,
) -> Result<Vec<(Bytes, u64, Option<Bytes>)>, String> {
    let constraints = multer::Constraints::new().size_limit(
        multer::SizeLimit::new()
            .whole_stream(MAX_RESULT_BYTES)
            .per_field(MAX_RESULT_PART_BYTES),
    );
    let stream = TryStreamExt::map_err(body.into_data_stream(), std::io::Error::other);
    let mut multipart = multer::Multipart::with_constraints(stream, boundary, constraints);
    let read = async {
        let mut parts: Vec<(Bytes, u64, Option<Bytes>)> = Vec::new();
        let mut seen = 0;
        while let Some(field) = multipart.next_field().await.map_err(|e| e.to_string())? {
            seen += 1;
            if seen > MAX_RESULT_PARTS {
                return Err(format!("more than {MAX_RESULT_PARTS} parts"));
            }
            let pixels = field
                .headers()
                .get("Pixels")
                .map(|v| v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()));
            let is_hash = field
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|v| v.as_bytes() == b"application/octet-stream");
            let data = field.bytes().await.map_err(|e| e.to_string())?;
            match pixels {
                Some(Some(pixels)) => parts.push((data, pixels, None)),
                Some(None) => return Err("invalid Pixels header in a part".into()),
                None if is_hash => match parts.last_mut() {
                    Some(last) => last.2 = Some(data),
                    None => return Err("Unknown perceptual hash".into()),
                },
                None => {}
            }
        }
        Ok(parts)
    };
    tokio::time::timeout(RESULT_READ_TIMEOUT, read)
        .await
        .map_err(|_| format!("result body took longer than {RESULT_READ_TIMEOUT:?}"))?
}

/// `GET /stream/<session>/<file>`: a staged input while its task runs.
pub(crate) async fn get_staged_input(
    AxumState(state): AxumState<Arc<State>>,
    Path((session, file)): Path<(String, String)>,
) -> Response {
    let not_found = || text(StatusCode::NOT_FOUND, "not found");
    if state.orch_secret.is_none() || !file.ends_with(".tempfile") {
        return not_found();
    }
    let Some(path) = state.transcoders.staged(&session, &file) else {
        return not_found();
    };
    match tokio::fs::read(&path).await {
        Ok(data) => ([(header::CONTENT_TYPE, "video/mp2t")], data).into_response(),
        Err(_) => not_found(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_secret_matches() {
        assert!(secret_matches("s3cret", "s3cret"));
        assert!(!secret_matches("s3cret", "s3cre"));
        assert!(!secret_matches("s3cret", ""));
    }

    /// A part's headers and bytes.
    type TestPart<'a> = (&'a [(&'a str, &'a str)], &'a [u8]);

    fn multipart(boundary: &str, parts: &[TestPart<'_>]) -> Body {
        let mut body = Vec::new();
        for (headers, data) in parts {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            for (k, v) in *headers {
                body.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
            }
            body.extend_from_slice(b"\r\n");
            body.extend_from_slice(data);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        Body::from(body)
    }

    #[tokio::test]
    async fn renditions_and_their_hashes_are_read_in_order() {
        let body = multipart(
            "b0",
            &[
                (&[("Content-Type", "video/mp2t"), ("Pixels", "100")], b"one"),
                (&[("Content-Type", "application/octet-stream")], b"hash1"),
                (&[("Content-Type", "video/mp2t"), ("Pixels", "200")], b"two"),
            ],
        );
        let parts = read_parts(body, "b0".into()).await.expect("parts");
        assert_eq!(parts.len(), 2);
        assert_eq!((parts[0].0.as_ref(), parts[0].1), (&b"one"[..], 100));
        assert_eq!(parts[0].2.as_deref(), Some(&b"hash1"[..]));
        assert_eq!(
            (parts[1].0.as_ref(), parts[1].1, parts[1].2.is_none()),
            (&b"two"[..], 200, true)
        );

        let orphan = multipart(
            "b1",
            &[(&[("Content-Type", "application/octet-stream")], b"h")],
        );
        assert_eq!(
            read_parts(orphan, "b1".into()).await.err().as_deref(),
            Some("Unknown perceptual hash")
        );
        let bad = multipart("b2", &[(&[("Pixels", "many")], b"x")]);
        assert!(read_parts(bad, "b2".into()).await.is_err());
        let truncated = Body::from("--b3\r\nPixels: 1\r\n\r\nabc");
        assert!(read_parts(truncated, "b3".into()).await.is_err());
    }
}
