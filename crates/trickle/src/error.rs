//! Errors of the trickle server's in-process API and of the HTTP clients.

use std::time::Duration;

/// What a trickle operation reports.
#[derive(Debug, thiserror::Error)]
pub enum TrickleError {
    /// The channel does not exist: HTTP 404 "Stream not found" (go-livepeer's
    /// `StreamNotFoundErr`), or an unknown name in the in-process API. Final for the stream.
    #[error("trickle channel not found: {channel}")]
    StreamNotFound {
        /// The channel's name or URL.
        channel: String,
    },
    /// The channel was closed (`Lp-Trickle-Closed: terminated`, go-livepeer's `EOS`): no more
    /// segments will be written or read.
    #[error("trickle channel closed")]
    EndOfStream,
    /// The segment was closed before this writer sent its first byte (deleted, reset by a
    /// restarting publisher, overwritten by the window, or replaced) or, in the in-process
    /// API, while it was being written.
    #[error("trickle segment {seq} was closed")]
    SegmentClosed {
        /// The segment's sequence number.
        seq: u64,
    },
    /// A segment grew past the limit (HTTP 413 from a server, or the client's own limit).
    #[error("trickle segment larger than {max_bytes} bytes")]
    SegmentTooLarge {
        /// The limit, bytes.
        max_bytes: u64,
    },
    /// The server's segments hold their memory budget; nothing more is stored until old
    /// segments leave the windows.
    #[error("trickle server out of segment memory ({max_bytes} bytes)")]
    OutOfMemory {
        /// The budget, bytes.
        max_bytes: u64,
    },
    /// The name is not a valid channel name (see [`crate::is_valid_channel_name`]).
    #[error("invalid trickle channel name {name:?}")]
    InvalidChannelName {
        /// The name, cut to 64 characters.
        name: String,
    },
    /// The server already holds its maximum number of channels.
    #[error("too many trickle channels (at most {max})")]
    TooManyChannels {
        /// The limit.
        max: usize,
    },
    /// A status the protocol does not expect (go-livepeer's `HTTPError`).
    #[error("trickle server answered {status}: {body}")]
    Status {
        /// HTTP status code.
        status: u16,
        /// The start of the response body.
        body: String,
    },
    /// A response header the protocol needs is missing or not a number.
    #[error("trickle response header {name} missing or invalid: {value:?}")]
    BadHeader {
        /// Header name.
        name: &'static str,
        /// Its value, if any.
        value: Option<String>,
    },
    /// The request failed on the way (connect, TLS, connection lost, body cut).
    #[error("trickle request failed: {0}")]
    Transport(#[source] reqwest::Error),
    /// The server did not answer or take bytes in time.
    #[error("trickle {what} timed out after {after:?}")]
    Timeout {
        /// What timed out.
        what: &'static str,
        /// The limit.
        after: Duration,
    },
    /// The task carrying a request ended without an answer (it panicked or was cancelled).
    #[error("trickle request task ended without an answer")]
    RequestTaskFailed,
    /// The subscriber failed this many times in a row (go-livepeer gives up after 5).
    #[error("trickle subscription failed {errors} times in a row, last: {last}")]
    TooManyErrors {
        /// Consecutive failures.
        errors: u32,
        /// The last one.
        last: Box<TrickleError>,
    },
}

/// Result of trickle operations.
pub type TrickleResult<T> = Result<T, TrickleError>;

impl TrickleError {
    /// The channel is gone or closed: the stream is over (404 or `Lp-Trickle-Closed`).
    pub fn is_end_of_stream(&self) -> bool {
        matches!(self, Self::StreamNotFound { .. } | Self::EndOfStream)
    }

    /// Trying again may succeed (a transport error, a timeout, a 5xx).
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport(_) | Self::Timeout { .. } => true,
            Self::Status { status, .. } => *status >= 500,
            _ => false,
        }
    }

    pub(crate) fn invalid_name(name: &str) -> Self {
        Self::InvalidChannelName {
            name: name.chars().take(64).collect(),
        }
    }
}
