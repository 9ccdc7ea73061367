//! Segments sent by URL: a `/segment` body with `Content-Type: application/vnd+livepeer.uri`
//! is the URL of the segment, which the orchestrator downloads (go-livepeer
//! `server/segment_rpc.go:ServeSegment` and `core/os.go:DownloadData`).
//!
//! The URL comes from the network, so the download goes through the node's
//! [`Fetcher`](livepeer_objectstore::Fetcher): http(s) only, no user info, addresses checked
//! after resolution against [`OrchestratorConfig::fetch_policy`](crate::OrchestratorConfig)
//! (loopback, private and link-local addresses refused unless allowed), at most
//! [`MAX_SEGMENT_BYTES`] within [`OrchestratorConfig::segment_url_timeout`](crate::OrchestratorConfig)
//! ([`SEGMENT_URL_TIMEOUT`] by default, go-livepeer's `common.HTTPTimeout`). Any failure is
//! answered as go-livepeer does: 400 "BadRequest". The downloaded bytes must still hash to
//! `SegData.hash` (403 otherwise).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::HeaderMap;
use http_body_util::BodyExt;
use livepeer_media::ScratchDir;
use livepeer_proto::net;
use tracing::{debug, warn};

use crate::http::MAX_SEGMENT_BYTES;
use crate::{OrchestratorError, State};

/// The content type of a body that is a segment URL.
pub const URI_CONTENT_TYPE: &str = "application/vnd+livepeer.uri";
/// How long the download of a segment URL may take (go-livepeer `common.HTTPTimeout`; the
/// gateway waits no longer for the upload to complete).
pub const SEGMENT_URL_TIMEOUT: Duration = Duration::from_secs(8);

/// Reads the URL body, downloads the segment it names to a scratch file and checks its hash.
///
/// Errors: 400 [`OrchestratorError::SegmentUrl`] when the body is not a usable URL or the
/// download fails; 403 [`OrchestratorError::HashMismatch`]; 500 for scratch files.
pub(crate) async fn receive_url_body(
    state: &State,
    seg: net::SegData,
    _headers: &HeaderMap,
    body: Body,
) -> Result<(net::SegData, ScratchDir, PathBuf), OrchestratorError> {
    let bad = |reason: String| {
        warn!(%reason, "cannot get the segment from its URL");
        OrchestratorError::SegmentUrl { reason }
    };
    let limit = livepeer_objectstore::fetch::MAX_URL_BYTES;
    let read = async {
        let mut body = http_body_util::Limited::new(body, limit);
        let mut text = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| e.to_string())?;
            if let Ok(data) = frame.into_data() {
                text.extend_from_slice(&data);
            }
        }
        Ok::<_, String>(text)
    };
    let text = tokio::time::timeout(state.body_idle_timeout, read)
        .await
        .map_err(|_| bad("the URL body stalled".into()))?
        .map_err(|e| bad(format!("cannot read the URL body: {e}")))?;
    let url = String::from_utf8(text).map_err(|_| bad("the URL is not UTF-8".into()))?;
    let url = url.trim();
    debug!(url, "getting the segment from its URL");
    let started = Instant::now();
    let data = state
        .fetcher
        .get(url, MAX_SEGMENT_BYTES, state.segment_url_timeout)
        .await
        .map_err(|e| bad(e.to_string()))?;
    debug!(url, bytes = data.len(), took = ?started.elapsed(), "got the segment");
    if alloy_primitives::keccak256(&data).as_slice() != seg.hash.as_slice() {
        return Err(OrchestratorError::HashMismatch);
    }
    let scratch = ScratchDir::new_in(Some(state.scratch.path()))
        .await
        .map_err(|_| OrchestratorError::Internal("cannot create a scratch directory"))?;
    let input = scratch.path().join("input.ts");
    tokio::fs::write(&input, &data)
        .await
        .map_err(|_| OrchestratorError::Internal("cannot write the segment file"))?;
    Ok((seg, scratch, input))
}
