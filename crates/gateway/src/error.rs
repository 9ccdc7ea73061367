//! The gateway's errors, their classification (whose fault, retry or not), and their one
//! mapping to HTTP push answers.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// Everything that can go wrong in the gateway: pushes and segment attempts, payments, and
/// choosing on-chain orchestrators (selection configuration, prices, the pool walk, the
/// orchestrator cache, and the reasons a probed pool member is not a candidate,
/// [`crate::pool::probe_pool`]).
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
    /// An orchestrator's answer (a `TranscodeResult`, a refusal text or a rendition) was
    /// longer than the gateway reads.
    #[error("{uri}: answer exceeds {limit_bytes} bytes")]
    AnswerTooLarge {
        /// The URL.
        uri: String,
        /// The cap, bytes.
        limit_bytes: usize,
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
    /// On chain, the renditions are not signed by the orchestrator being paid (go-livepeer
    /// `verification.go` `ErrTampered`): the session is dropped and another is tried.
    #[error("renditions from {uri} are not signed by orchestrator {orchestrator}: {reason}")]
    TamperedRenditions {
        /// The segment URL.
        uri: String,
        /// The orchestrator's address (EIP-55).
        orchestrator: String,
        /// Why the signature does not verify.
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
    /// Every attempt failed (go-livepeer `maxTranscodeAttempts`, "hit max transcode
    /// attempts"); non-retryable, so the push gets 422.
    #[error("hit max transcode attempts ({attempts}): {last}")]
    MaxAttempts {
        /// Attempts made (`-maxAttempts`).
        attempts: usize,
        /// The last attempt's error.
        last: Box<GatewayError>,
    },
    /// No orchestrator could take the segment (wire text "No sessions available").
    #[error("No sessions available")]
    NoSessions,
    /// `-maxSessions` streams are already live; a new manifest is refused (go-livepeer
    /// answers 500 "Too many connections"; we answer 503, see [`GatewayError::status`]).
    #[error("Too many streams: this gateway takes at most {max} concurrent streams (-maxSessions)")]
    TooManyStreams {
        /// `-maxSessions`.
        max: usize,
    },
    /// The push bodies already in flight fill the gateway's budget and none finished in
    /// time.
    #[error("gateway busy: {budget_bytes} bytes of pushed segments are already in flight")]
    Busy {
        /// [`crate::GatewayConfig::max_inflight_push_bytes`].
        budget_bytes: u64,
    },
    /// The push declares a `Content-Duration` above go-livepeer's `common.MaxDuration`, which
    /// orchestrators refuse.
    #[error(
        "segment duration {duration_ms} ms exceeds the maximum of {max_ms} ms (5 minutes); \
         push shorter segments"
    )]
    DurationTooLong {
        /// `Content-Duration`, milliseconds.
        duration_ms: u64,
        /// The limit, milliseconds.
        max_ms: u64,
    },
    /// The pushed segment's video codec has no go-livepeer capability (only H.264, HEVC,
    /// VP8 and VP9 do; lpms `FfmpegNameToVideoCodec`), so no orchestrator can be asked for it:
    /// 422 with go-livepeer's text (`server/mediaserver.go:HandlePush`).
    #[error("Unknown input stream codec={codec}")]
    UnknownInputCodec {
        /// ffmpeg's name for the codec (`mpeg2video`, `av1`, ...).
        codec: String,
    },
    /// The `Livepeer-Transcode-Configuration` header is not the JSON go-livepeer expects
    /// (400, go's text).
    #[error("failed to parse transcode config header: {reason:?}")]
    BadTranscodeConfiguration {
        /// Why.
        reason: String,
    },
    /// The push body is larger than the gateway accepts.
    #[error("segment exceeds the maximum of {limit_bytes} bytes")]
    SegmentTooLarge {
        /// The cap, bytes.
        limit_bytes: usize,
    },
    /// The push body did not arrive in time.
    #[error("segment body not received within {0:?}")]
    PushTimeout(Duration),
    /// The push is in a container the gateway does not take (only MPEG-TS).
    #[error("unsupported segment format {extension:?}: only MPEG-TS segments (.ts) are accepted")]
    UnsupportedFormat {
        /// The file extension pushed, e.g. `.mp4`.
        extension: String,
    },
    /// The orchestrator's price rose above twice the session's first price (go-livepeer
    /// `server/segment_rpc.go:validatePrice`, "Orchestrator price has more than doubled");
    /// the session is dropped and another tried.
    #[error(
        "orchestrator {addr} raised its price from {initial} to {price} wei/pixel, above twice the session's first price"
    )]
    PriceIncreased {
        /// The orchestrator.
        addr: String,
        /// The session's first price, `num/den` wei per pixel.
        initial: String,
        /// The new price.
        price: String,
    },
    /// A selection weight is negative or not a number.
    #[error("selection weight {name} must be a finite number >= 0, got {value}")]
    InvalidWeight {
        /// The flag, e.g. `-selectStakeWeight`.
        name: &'static str,
        /// The value given.
        value: f64,
    },
    /// The three selection weights do not sum to 1 (go-livepeer's text).
    #[error(
        "sum of selection algorithm weights must be 1.0, stakeWeight={stake_weight}, \
         priceWeight={price_weight}, randWeight={rand_weight}"
    )]
    WeightsDoNotSumToOne {
        /// `-selectStakeWeight`.
        stake_weight: f64,
        /// `-selectPriceWeight`.
        price_weight: f64,
        /// `-selectRandFreq`.
        rand_weight: f64,
    },
    /// `-selectPriceExpFactor` is not a positive number.
    #[error("-selectPriceExpFactor must be a finite number > 0, got {0}")]
    InvalidPriceExpFactor(f64),
    /// `-maxPricePerUnit` or `-pixelsPerUnit` cannot be used.
    #[error("invalid {flag} {value:?}: {reason}")]
    InvalidMaxPrice {
        /// The flag.
        flag: &'static str,
        /// The value given.
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The orchestrator sent no price (go-livepeer "missing price info" /
    /// "missing orchestrator price").
    #[error("no price")]
    MissingPrice,
    /// The price has `pixels_per_unit` 0 (go-livepeer "pixels per unit is 0").
    #[error("pixels per unit is 0 (price per unit {price_per_unit})")]
    ZeroPixelsPerUnit {
        /// `PriceInfo.price_per_unit`.
        price_per_unit: i64,
    },
    /// The price is negative, or its `pixels_per_unit` is.
    #[error("negative price {price_per_unit}/{pixels_per_unit}")]
    NegativePrice {
        /// `PriceInfo.price_per_unit`.
        price_per_unit: i64,
        /// `PriceInfo.pixels_per_unit`.
        pixels_per_unit: i64,
    },
    /// An on-chain pool member's service URI is not an orchestrator address.
    #[error("invalid service URI: {0}")]
    InvalidServiceUri(#[source] Box<GatewayError>),
    /// A pool member's `GetOrchestrator` failed (transport, timeout, gRPC status).
    #[error("no answer: {0}")]
    Unreachable(#[source] Box<GatewayError>),
    /// Discovery ended before this pool member answered.
    #[error("no answer within the discovery time")]
    NoAnswerInTime,
    /// The answer names no transcoder URI.
    #[error("no transcoder URI")]
    MissingTranscoderUri,
    /// The answer's capabilities do not cover the job.
    #[error("capabilities incompatible with the job")]
    IncompatibleCapabilities,
    /// The answer carries no ticket parameters.
    #[error("no ticket params")]
    MissingTicketParams,
    /// The ticket parameters do not decode, or the gateway's sender refuses them
    /// (go-livepeer `Sender.ValidateTicketParams`).
    #[error("invalid ticket params: {0}")]
    InvalidTicketParams(#[source] livepeer_pm::PmError),
    /// The answer carries no ETH address (go-livepeer "missing ETH address").
    #[error("missing ETH address")]
    MissingAddress,
    /// The ticket recipient is not the pool member the service URI belongs to.
    #[error("ticket recipient {recipient} is not the pool member {member}")]
    RecipientMismatch {
        /// The on-chain address the service URI is registered to.
        member: alloy_primitives::Address,
        /// `TicketParams.recipient`.
        recipient: alloy_primitives::Address,
    },
    /// The on-chain pool could not be read.
    #[error("orchestrator pool: {0}")]
    Pool(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The orchestrator cache (SQLite) failed.
    #[error("orchestrator cache: {0}")]
    Cache(#[from] rusqlite::Error),
    /// A row of the orchestrator cache does not parse.
    #[error("orchestrator cache: bad {column} {value:?}")]
    CorruptCache {
        /// The column.
        column: &'static str,
        /// Its text.
        value: String,
    },
    /// The session's ticket parameters expired; it is refreshed before the next attempt.
    #[error("ticket parameters expired: {0}")]
    ParamsExpired(String),
    /// The orchestrator's ticket parameters break one of the gateway's rules (`-maxTicketEV`,
    /// `-maxTotalEV`, `-depositMultiplier`, face value below EV).
    #[error("cannot pay the orchestrator: {0}")]
    Payment(String),
    /// The gateway's own TicketBroker account cannot back tickets (no deposit, no reserve, or
    /// unlocking): the stream ends rather than send unpaid work (go-livepeer
    /// `pm.ErrSenderValidation`).
    #[error(
        "the gateway cannot pay for transcoding: {0}; fund its TicketBroker deposit and reserve (fundDepositAndReserve)"
    )]
    SenderUnusable(String),
    /// The stream auth webhook (`-authWebhookUrl`) refused the stream: no answer in time, a
    /// non-200 status, a body over the limit, JSON go-livepeer would not parse, or no
    /// `manifestID` (go-livepeer `server/auth.go:authenticateStream`). The push gets 403 with
    /// go's text; `reason` goes to the log only.
    #[error("Could not create stream ID: url={url}")]
    AuthDenied {
        /// The ingest URL sent to the webhook.
        url: String,
        /// Why, for the log.
        reason: String,
    },
    /// The auth webhook accepted the stream with a configuration the gateway cannot use (bad
    /// profiles or object store URL, profiles that differ from the
    /// `Livepeer-Transcode-Configuration` header's): 500 with go's text
    /// (`server/mediaserver.go:createRTMPStreamIDHandler`).
    #[error("Could not create stream ID: url={url}")]
    StreamConfig {
        /// The ingest URL.
        url: String,
        /// Why, for the log.
        reason: String,
    },
    /// The orchestrator webhook (`-orchWebhookUrl`) failed and no earlier answer is cached.
    #[error("orchestrator webhook {url}: {reason}")]
    OrchWebhook {
        /// The webhook.
        url: String,
        /// Why.
        reason: String,
    },
    /// A verified segment's results could not be compared (go-livepeer `chooseResults`
    /// errors): the segment is retried.
    #[error("verification failed: {reason}")]
    Verification {
        /// Why.
        reason: String,
    },
    /// A rendition's pixels could not be recounted (`-localVerify`).
    #[error("cannot count the pixels of a rendition: {reason}")]
    PixelCount {
        /// Why.
        reason: String,
    },
    /// A rendition does not have the pixels its orchestrator reported (go-livepeer
    /// `verification.ErrPixelMismatch`, "PixelMismatch"): retryable, the session is dropped.
    #[error("PixelMismatch: rendition {profile} reported {reported} pixels, decoded {counted}")]
    PixelMismatch {
        /// The rendition's profile.
        profile: String,
        /// `TranscodedSegmentData.pixels`.
        reported: u64,
        /// Pixels decoded.
        counted: u64,
    },
    /// `-authWebhookUrl` or `-orchWebhookUrl` is not an absolute http(s) URL (go-livepeer
    /// `validateURL`).
    #[error("invalid webhook URL {url:?}: {reason}")]
    InvalidWebhookUrl {
        /// The flag's value.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The push request is malformed (path, headers, body).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The stream does not exist.
    #[error("not found")]
    NotFound,
    /// The stream's object store refused the source segment, or could not be reached: the push
    /// fails before any orchestrator is asked (go-livepeer `server/broadcast.go:processSegment`,
    /// answered by `server/mediaserver.go:HandlePush` with 500 and this text; `err` is the
    /// store's answer, e.g. S3's `<Error><Code>SignatureDoesNotMatch</Code>…`).
    #[error("http push error processing segment url=/live/{manifest}/{seq}.ts manifestID={manifest} err={:?}", .source.to_string())]
    SaveSegment {
        /// The stream.
        manifest: String,
        /// The segment.
        seq: u64,
        /// The store's error.
        #[source]
        source: livepeer_objectstore::ObjectStoreError,
    },
    /// A stream's own object store URL (an auth-webhook answer's `objectStore` or
    /// `recordObjectStore`) cannot be used (go-livepeer `server/mediaserver.go`, which then
    /// refuses the stream: 403).
    #[error("Failed to parse {}object store url err={:?}", store_kind(*.record), .source.to_string())]
    StoreUrl {
        /// Whether it is the record store's.
        record: bool,
        /// Why.
        #[source]
        source: livepeer_objectstore::ObjectStoreError,
    },
}

fn store_kind(record: bool) -> &'static str {
    if record { "recording " } else { "" }
}

/// Transcoding errors retrying elsewhere cannot fix (go-livepeer
/// `server/broadcast.go:isNonRetryableError`, lpms's non-retryable errors, and ffmpeg's own
/// text for input it cannot read).
const NON_RETRYABLE: &[&str] = &[
    "Invalid data found when processing input",
    "could not find codec parameters",
    "Invalid argument",
    "No keyframes in input",
    "Unsupported input pixel format",
    "Unsupported video codec",
    "Encoder not found",
    "Decoder not found",
    "no video stream",
];

/// The refusal text of an orchestrator at capacity (go-livepeer `errOrchestratorCapped`); a
/// 403 with it is the orchestrator's state, not the request's fault.
const ORCHESTRATOR_CAPPED: &str = "OrchestratorCapped";

impl GatewayError {
    /// Whether another attempt (on another orchestrator) may succeed; go-livepeer retries
    /// these, and answers 422 for the rest (`server/broadcast.go:processSegment`).
    pub fn is_retryable(&self) -> bool {
        match self {
            GatewayError::Transcode { message, .. } => {
                !NON_RETRYABLE.iter().any(|needle| message.contains(needle))
            }
            GatewayError::BadRequest(_)
            | GatewayError::NotFound
            | GatewayError::StoreUrl { .. }
            | GatewayError::NoSessions
            | GatewayError::MaxAttempts { .. }
            | GatewayError::TooManyStreams { .. }
            | GatewayError::Busy { .. }
            | GatewayError::DurationTooLong { .. }
            | GatewayError::SegmentTooLarge { .. }
            | GatewayError::PushTimeout(_)
            | GatewayError::SenderUnusable(_)
            | GatewayError::UnknownInputCodec { .. }
            | GatewayError::BadTranscodeConfiguration { .. }
            | GatewayError::AuthDenied { .. }
            | GatewayError::StreamConfig { .. }
            | GatewayError::OrchWebhook { .. }
            | GatewayError::UnsupportedFormat { .. } => false,
            // Discovery, selection and configuration: not the outcome of a segment attempt, so
            // no other orchestrator is tried for them.
            e if e.is_discovery() || e.is_config() => false,
            _ => true,
        }
    }

    /// Whether this is why a pool member is not a candidate, or why the pool could not be read
    /// ([`crate::pool::probe_pool`], [`crate::pool::OrchestratorPool::walk`]): the gateway
    /// has no usable orchestrator from it now.
    fn is_discovery(&self) -> bool {
        matches!(
            self,
            GatewayError::MissingPrice
                | GatewayError::ZeroPixelsPerUnit { .. }
                | GatewayError::NegativePrice { .. }
                | GatewayError::InvalidServiceUri(_)
                | GatewayError::Unreachable(_)
                | GatewayError::NoAnswerInTime
                | GatewayError::MissingTranscoderUri
                | GatewayError::IncompatibleCapabilities
                | GatewayError::MissingTicketParams
                | GatewayError::InvalidTicketParams(_)
                | GatewayError::MissingAddress
                | GatewayError::RecipientMismatch { .. }
                | GatewayError::Pool(_)
        )
    }

    /// Whether this is the gateway's own setup failing: selection flags (checked at start,
    /// so they never reach a push) or the orchestrator cache.
    fn is_config(&self) -> bool {
        matches!(
            self,
            GatewayError::InvalidWeight { .. }
                | GatewayError::WeightsDoNotSumToOne { .. }
                | GatewayError::InvalidPriceExpFactor(_)
                | GatewayError::InvalidMaxPrice { .. }
                | GatewayError::InvalidWebhookUrl { .. }
                | GatewayError::Cache(_)
                | GatewayError::CorruptCache { .. }
        )
    }

    /// Whether an orchestrator refused the segment because of the request itself (400, 413,
    /// 415, 422, or 403 other than "OrchestratorCapped": a duration, ladder or credential it
    /// will not take) rather than its own state. Such a refusal demotes the session but never
    /// suspends the orchestrator: a request one orchestrator dislikes says nothing about its
    /// health, and suspensions are shared by every stream. Everything else that is retryable
    /// (capacity, transport errors, timeouts, bad protobuf, download failures) keeps
    /// go-livepeer's suspend-and-swap (`server/broadcast.go:suspendAndRemoveOrch`).
    pub fn is_request_fault(&self) -> bool {
        match self {
            GatewayError::Refused { status, body, .. } => match *status {
                400 | 413 | 415 | 422 => true,
                403 => !body.contains(ORCHESTRATOR_CAPPED),
                _ => false,
            },
            _ => false,
        }
    }

    /// The HTTP status for a push answer (go-livepeer `server/mediaserver.go:HandlePush`):
    /// 503 with no sessions, 402 when the gateway cannot pay, 422 for non-retryable errors (including max attempts reached
    /// and a duration above 5 minutes), 400/404/408/413/415 for bad requests, 500 otherwise.
    ///
    /// Too many streams is 503 rather than go-livepeer's 500 "Too many connections": the
    /// gateway is fine, it is full, and a pusher may retry later. Discovery errors (a pool
    /// member rejected, the pool unreadable) are 503 like no sessions; selection
    /// configuration and orchestrator cache errors are the gateway's own, 500.
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::NoSessions
            | GatewayError::TooManyStreams { .. }
            | GatewayError::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            e if e.is_discovery() => StatusCode::SERVICE_UNAVAILABLE,
            e if e.is_config() => StatusCode::INTERNAL_SERVER_ERROR,
            GatewayError::BadRequest(_) | GatewayError::BadTranscodeConfiguration { .. } => {
                StatusCode::BAD_REQUEST
            }
            GatewayError::SenderUnusable(_) => StatusCode::PAYMENT_REQUIRED,
            GatewayError::AuthDenied { .. } => StatusCode::FORBIDDEN,
            GatewayError::StreamConfig { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            GatewayError::OrchWebhook { .. } => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::StoreUrl { .. } => StatusCode::FORBIDDEN,
            GatewayError::NotFound => StatusCode::NOT_FOUND,
            GatewayError::PushTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            GatewayError::SegmentTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::UnsupportedFormat { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
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

    fn refused(status: u16, body: &str) -> GatewayError {
        GatewayError::Refused {
            uri: "u".into(),
            status,
            body: body.into(),
        }
    }

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
                GatewayError::TooManyStreams { max: 10 },
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
            (
                GatewayError::MaxAttempts {
                    attempts: 3,
                    last: Box::new(transcode("OrchestratorBusy")),
                },
                StatusCode::UNPROCESSABLE_ENTITY,
                false,
            ),
            (
                GatewayError::DurationTooLong {
                    duration_ms: 300_001,
                    max_ms: 300_000,
                },
                StatusCode::UNPROCESSABLE_ENTITY,
                false,
            ),
            (
                GatewayError::SegmentTooLarge { limit_bytes: 1 },
                StatusCode::PAYLOAD_TOO_LARGE,
                false,
            ),
            (
                GatewayError::UnsupportedFormat {
                    extension: ".mp4".into(),
                },
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                false,
            ),
            (
                GatewayError::PushTimeout(Duration::from_secs(1)),
                StatusCode::REQUEST_TIMEOUT,
                false,
            ),
        ];
        for (err, status, retry) in cases {
            assert_eq!(err.status(), status, "{err}");
            assert_eq!(err.is_retryable(), retry, "{err}");
            assert!(!err.is_request_fault(), "{err}");
        }
        // Discovery and selection: a pool member rejected or the pool unreadable means no
        // orchestrator now; configuration and the cache are the gateway's own.
        let selection = [
            (GatewayError::MissingPrice, StatusCode::SERVICE_UNAVAILABLE),
            (
                GatewayError::Unreachable(Box::new(GatewayError::Rpc {
                    uri: "u".into(),
                    reason: "timeout".into(),
                })),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                GatewayError::NoAnswerInTime,
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                GatewayError::Pool("rpc down".into()),
                StatusCode::SERVICE_UNAVAILABLE,
            ),
            (
                GatewayError::WeightsDoNotSumToOne {
                    stake_weight: 0.5,
                    price_weight: 0.0,
                    rand_weight: 0.3,
                },
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                GatewayError::InvalidMaxPrice {
                    flag: "-maxPricePerUnit",
                    value: "x".into(),
                    reason: "not a number",
                },
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
            (
                GatewayError::Cache(rusqlite::Error::QueryReturnedNoRows),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (err, status) in selection {
            assert_eq!(err.status(), status, "{err}");
            assert!(!err.is_retryable(), "{err}");
            assert!(!err.is_request_fault(), "{err}");
        }
        // A price increase drops the session; another orchestrator is tried.
        let raised = GatewayError::PriceIncreased {
            addr: "o".into(),
            initial: "1/1".into(),
            price: "3/1".into(),
        };
        assert!(raised.is_retryable());
        assert_eq!(raised.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            GatewayError::NoSessions.to_string(),
            "No sessions available"
        );
    }

    #[test]
    fn refusals_naming_the_request_are_its_fault_and_capacity_is_not() {
        // (status, body, request's fault)
        let cases = [
            (403, "segment duration 400000 ms out of range", true),
            (403, "invalid profiles: too many renditions", true),
            (400, "insufficient balance", true),
            (413, "", true),
            (415, "unsupported segment content type", true),
            (422, "", true),
            (403, "OrchestratorCapped", false),
            (500, "boom", false),
            (402, "bad payment", false),
            (503, "", false),
        ];
        for (status, body, fault) in cases {
            let err = refused(status, body);
            assert_eq!(err.is_request_fault(), fault, "{err}");
            assert!(
                err.is_retryable(),
                "{err}: another orchestrator may take it"
            );
        }
        let big = GatewayError::AnswerTooLarge {
            uri: "u".into(),
            limit_bytes: 1,
        };
        assert!(big.is_retryable() && !big.is_request_fault());
    }
}
