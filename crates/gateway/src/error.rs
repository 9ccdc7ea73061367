//! The gateway's errors, and their one mapping to HTTP push answers.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Everything that can go wrong in the gateway.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// A file or socket operation failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The listener could not bind its address.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// An `-orchAddr` entry is not a usable address.
    #[error("invalid orchestrator address {addr:?}: {reason}")]
    InvalidOrchestratorAddress {
        /// The entry.
        addr: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A gRPC call failed (transport, timeout or status).
    #[error("rpc to {uri} failed: {reason}")]
    Rpc {
        /// The orchestrator.
        uri: String,
        /// Why.
        reason: String,
    },
    /// An HTTP exchange with an orchestrator failed (transport, status, timeout).
    #[error("http {uri}: {reason}")]
    Http {
        /// The URL.
        uri: String,
        /// Why.
        reason: String,
    },
    /// The orchestrator answered `/segment` with a non-200 status.
    #[error("{uri} refused the segment: {status} {body}")]
    Refused {
        /// The URL.
        uri: String,
        /// HTTP status.
        status: u16,
        /// The body text (e.g. "OrchestratorCapped").
        body: String,
    },
    /// The `GetOrchestrator` answer is unusable.
    #[error("orchestrator {addr}: {reason}")]
    BadOrchestratorInfo {
        /// The orchestrator.
        addr: String,
        /// What is wrong.
        reason: String,
    },
    /// The `/segment` answer is not a usable `TranscodeResult`.
    #[error("bad transcode result from {uri}: {reason}")]
    BadTranscodeResult {
        /// The URL.
        uri: String,
        /// What is wrong.
        reason: String,
    },
    /// The orchestrator reported a transcoding error (its own text, e.g. ffmpeg's).
    #[error("transcode failed at {uri}: {message}")]
    Transcode {
        /// The URL.
        uri: String,
        /// The `TranscodeResult.error` text.
        message: String,
    },
    /// No orchestrator could take the segment (wire text "No sessions available").
    #[error("No sessions available")]
    NoSessions,
    /// The push request is malformed (path, headers).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The stream does not exist.
    #[error("not found")]
    NotFound,
}

/// Transcoding errors retrying elsewhere cannot fix (go-livepeer
/// `server/broadcast.go:isNonRetryableError`, lpms's non-retryable errors, and ffmpeg's own
/// text for input it cannot read).
const NON_RETRYABLE: &[&str] = &[
    "Invalid data found when processing input",
    "Invalid argument",
    "No keyframes in input",
    "Unsupported input pixel format",
    "Unsupported video codec",
    "Encoder not found",
    "Decoder not found",
    "no video stream",
];

impl GatewayError {
    /// Whether another attempt (after swapping orchestrator) may succeed; go-livepeer suspends
    /// the orchestrator and retries for these, and answers 422 for the rest.
    pub fn is_retryable(&self) -> bool {
        match self {
            GatewayError::Transcode { message, .. } => {
                !NON_RETRYABLE.iter().any(|needle| message.contains(needle))
            }
            GatewayError::BadRequest(_) | GatewayError::NotFound | GatewayError::NoSessions => {
                false
            }
            _ => true,
        }
    }

    /// The HTTP status for a push answer (go-livepeer `server/mediaserver.go:HandlePush`):
    /// 503 with no sessions, 422 for non-retryable transcode errors, 400/404 for bad
    /// requests, 500 otherwise.
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::NoSessions => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::BadRequest(_) => StatusCode::BAD_REQUEST,
            GatewayError::NotFound => StatusCode::NOT_FOUND,
            e if !e.is_retryable() => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        (self.status(), format!("{self}\n")).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_retries() {
        let transcode = |message: &str| GatewayError::Transcode {
            uri: "u".into(),
            message: message.into(),
        };
        let cases = [
            (
                GatewayError::NoSessions,
                StatusCode::SERVICE_UNAVAILABLE,
                false,
            ),
            (
                transcode("pipe:0: Invalid data found when processing input"),
                StatusCode::UNPROCESSABLE_ENTITY,
                false,
            ),
            (
                transcode("OrchestratorBusy"),
                StatusCode::INTERNAL_SERVER_ERROR,
                true,
            ),
            (
                GatewayError::Http {
                    uri: "u".into(),
                    reason: "connection refused".into(),
                },
                StatusCode::INTERNAL_SERVER_ERROR,
                true,
            ),
            (
                GatewayError::BadRequest("seq".into()),
                StatusCode::BAD_REQUEST,
                false,
            ),
        ];
        for (err, status, retry) in cases {
            assert_eq!(err.status(), status, "{err}");
            assert_eq!(err.is_retryable(), retry, "{err}");
        }
        assert_eq!(
            GatewayError::NoSessions.to_string(),
            "No sessions available"
        );
    }
}
