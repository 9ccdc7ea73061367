//! HTTP clients of a trickle server: [`TricklePublisher`] and [`TrickleSubscriber`], over a
//! `reqwest::Client` the caller builds (so the caller decides TLS: an orchestrator's
//! certificate is self-signed, and go-livepeer's clients take `InsecureSkipVerify`).
//!
//! Both pre-connect: the request for segment `seq + 1` is sent while `seq` is still being
//! written or read, so the next segment starts with no connection set-up. A pre-connected
//! request runs in a task owned by the client (aborted when it is dropped).

mod publisher;
mod subscriber;

pub use publisher::{
    DEFAULT_CONTENT_TYPE, DEFAULT_PUBLISH_RETRIES, DEFAULT_PUBLISH_RETRY_PAUSE,
    DEFAULT_RESPONSE_TIMEOUT, DEFAULT_WRITE_TIMEOUT, PublishStart, PublisherConfig, SegmentWriter,
    TricklePublisher,
};
pub use subscriber::{
    DEFAULT_MAX_CONSECUTIVE_ERRORS, DEFAULT_PRECONNECT_REFRESH, DEFAULT_SUBSCRIBE_RETRY_PAUSE,
    SubscribedSegment, SubscriberConfig, TrickleSubscriber,
};

use crate::error::TrickleError;

/// Longest error body kept in [`TrickleError::Status`], bytes.
const MAX_ERROR_BODY_BYTES: usize = 1024;

/// `<channel url>/<suffix>`.
fn segment_url(channel_url: &str, suffix: impl std::fmt::Display) -> String {
    format!("{channel_url}/{suffix}")
}

/// A numeric response header; `Ok(None)` when absent.
fn header_u64(
    response: &reqwest::Response,
    name: &'static str,
) -> Result<Option<u64>, TrickleError> {
    let Some(value) = response.headers().get(name) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(|text| text.trim().parse::<u64>().ok())
        .map(Some)
        .ok_or_else(|| TrickleError::BadHeader {
            name,
            value: Some(String::from_utf8_lossy(value.as_bytes()).into_owned()),
        })
}

/// The first [`MAX_ERROR_BODY_BYTES`] of an error response's body, as text.
async fn error_body(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < MAX_ERROR_BODY_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(MAX_ERROR_BODY_BYTES);
    String::from_utf8_lossy(&body).trim_end().to_string()
}

/// A response with a status the protocol does not expect.
async fn status_error(response: reqwest::Response) -> TrickleError {
    let status = response.status().as_u16();
    TrickleError::Status {
        status,
        body: error_body(response).await,
    }
}
