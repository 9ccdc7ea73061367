//! The orchestrator's errors, and their one mapping to the wire.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Everything that can go wrong in the orchestrator.
#[derive(Debug, thiserror::Error)]
pub enum OrchestratorError {
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
    /// A service or HTTP address could not be understood.
    #[error("invalid address {addr:?}: {reason}")]
    InvalidAddress {
        /// The address given.
        addr: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The scratch directory for segments could not be set up.
    #[error("scratch directory: {0}")]
    Scratch(String),
    /// The TLS certificate or configuration could not be built.
    #[error("tls: {0}")]
    Tls(String),
    /// The `Livepeer-Payment` header is present but does not decode.
    #[error("invalid payment: {0}")]
    BadPayment(String),
    /// On chain: the segment credentials are not signed by the payment's sender (go-livepeer
    /// `core.ErrSegSig`).
    #[error("segment sig check failed")]
    BadSegmentSignature,
    /// On chain: ticket parameters for the gateway cannot be made (its account cannot be read,
    /// or its reserve cannot back a ticket).
    #[error("could not make ticket params: {0}")]
    TicketParams(String),
    /// On chain: the payment was refused (go-livepeer `ProcessPayment`'s errors, e.g. an
    /// invalid ticket, this orchestrator inactive this round).
    #[error("{0}")]
    PaymentRefused(String),
    /// On chain: the session's balance is below one ticket EV (go-livepeer's text).
    #[error("Insufficient balance")]
    InsufficientBalance,
    /// The `Livepeer-Segment` header is missing or does not decode.
    #[error("invalid segment header: {0}")]
    BadSegmentHeader(String),
    /// The auth token is missing, malformed or not ours.
    #[error("invalid auth token: {0}")]
    InvalidAuthToken(&'static str),
    /// The auth token expired.
    #[error("auth token expired at {expiration} (now {now})")]
    ExpiredAuthToken {
        /// Expiration, unix seconds.
        expiration: i64,
        /// Current time, unix seconds.
        now: i64,
    },
    /// The job needs capabilities this orchestrator does not offer.
    #[error("incompatible capabilities: job needs {job}, orchestrator offers {orch}")]
    IncompatibleCapabilities {
        /// The job's capability IDs.
        job: String,
        /// Ours.
        orch: String,
    },
    /// The segment's duration is out of range (go-livepeer rejects more than 5 minutes).
    #[error("segment duration {duration_ms} ms out of range")]
    BadDuration {
        /// The `SegData.duration` received.
        duration_ms: i64,
    },
    /// No rendition was requested, or a profile is unusable.
    #[error("invalid profiles: {0}")]
    BadProfiles(String),
    /// All `-maxSessions` sessions are taken (wire string "OrchestratorCapped").
    #[error("OrchestratorCapped")]
    Capped,
    /// The session already has the maximum number of segments queued (wire string
    /// "OrchestratorBusy").
    #[error("OrchestratorBusy")]
    Busy,
    /// The body could not be read (transport error, stall, deadline).
    #[error("cannot read segment body: {0}")]
    BodyRead(String),
    /// The body is larger than the segment size limit.
    #[error("segment body of {length} bytes is over the {limit}-byte limit")]
    BodyTooLarge {
        /// The declared (or received so far) length, bytes.
        length: u64,
        /// The limit, bytes.
        limit: u64,
    },
    /// Something on this node failed (scratch files); the details stay in the node's logs.
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// keccak256 of the body differs from `SegData.hash`.
    #[error("segment hash mismatch")]
    HashMismatch,
    /// The body is a URL (`application/vnd+livepeer.uri`) that could not be downloaded: refused
    /// by the fetch policy, failed, too large or too slow. The answer is go-livepeer's 400
    /// "BadRequest"; `reason` goes to the logs only.
    #[error("BadRequest")]
    SegmentUrl {
        /// What went wrong.
        reason: String,
    },
    /// The renditions could not be stored in the gateway's object storage; the text is the
    /// store's answer (go-tools `postData`'s error).
    #[error("{0}")]
    Storage(#[from] livepeer_objectstore::ObjectStoreError),
    /// The session was ended while its segment was being transcoded.
    #[error("session ended")]
    SessionEnded,
    /// This orchestrator has no transcoder to run the job on.
    #[error("no transcoders available")]
    NoTranscoder,
    /// No transcoder in the pool can do the job (go-livepeer
    /// `ErrNoCompatibleTranscodersAvailable`).
    #[error("no transcoders can provide requested capabilities")]
    NoCompatibleTranscoders,
    /// [`crate::transcoders::MAX_REMOTE_TRANSCODERS`] are registered already.
    #[error("too many transcoders")]
    TooManyTranscoders,
    /// The remote transcoder disconnected or could not be sent the task.
    #[error("remote transcoder disconnected")]
    TranscoderGone,
    /// The remote transcoder did not post a result in time (go-livepeer
    /// `ErrRemoteTranscoderTimeout`).
    #[error("Remote transcoder took too long")]
    RemoteTimeout,
    /// The orchestrator refused this transcoder's registration for good ("invalid secret" or
    /// "zero capacity", go-livepeer's fatal registration errors).
    #[error("the orchestrator refused this transcoder: {0}")]
    TranscoderRefused(String),
    /// The orchestrator refused this AI worker's registration for good ("invalid secret" or
    /// "zero capacity", go-livepeer `server/ai_worker.go:checkAIWorkerError`).
    #[error("the orchestrator refused this AI worker: {0}")]
    AiWorkerRefused(String),
    /// The remote transcoder's error text (`livepeer/transcoding-error`).
    #[error("{0}")]
    RemoteTranscode(String),
    /// `-authWebhookUrl` refused the gateway (a non-200 answer, its body is `reason`), or could
    /// not be asked (go-livepeer `server/rpc.go:getOrchestrator`'s text).
    #[error("authentication failed: {reason}")]
    GatewayRefused {
        /// The webhook's answer, or why it could not be had.
        reason: String,
    },
    /// The transcoder failed; the text is ffmpeg's own.
    #[error("{0}")]
    Transcode(#[from] livepeer_media::MediaError),
    /// The job took longer than its deadline.
    #[error("transcode timed out after {0:?}")]
    Timeout(Duration),
}

impl OrchestratorError {
    /// The HTTP status for a failed `/segment` request before transcoding starts, per
    /// go-livepeer `server/segment_rpc.go:ServeSegment` (wire-and-network.md §3.3).
    pub fn status(&self) -> StatusCode {
        use OrchestratorError::*;
        match self {
            BadPayment(_) => StatusCode::PAYMENT_REQUIRED,
            PaymentRefused(_) | InsufficientBalance => StatusCode::BAD_REQUEST,
            BadSegmentHeader(_)
            | BadSegmentSignature
            | InvalidAuthToken(_)
            | ExpiredAuthToken { .. }
            | IncompatibleCapabilities { .. }
            | BadDuration { .. }
            | BadProfiles(_)
            | Capped
            | HashMismatch => StatusCode::FORBIDDEN,
            SegmentUrl { .. } => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for OrchestratorError {
    fn into_response(self) -> Response {
        (self.status(), self.to_string()).into_response()
    }
}

impl From<OrchestratorError> for tonic::Status {
    fn from(err: OrchestratorError) -> Self {
        use OrchestratorError::*;
        match err {
            // go-livepeer returns these as plain Go errors, which gRPC-Go sends as Unknown.
            Capped | Busy | GatewayRefused { .. } => tonic::Status::unknown(err.to_string()),
            InvalidAuthToken(_) | ExpiredAuthToken { .. } => {
                tonic::Status::permission_denied(err.to_string())
            }
            _ => tonic::Status::internal(err.to_string()),
        }
    }
}
