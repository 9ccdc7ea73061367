//! The trickle subscriber (go-livepeer `trickle/trickle_subscriber.go`).

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio_util::task::AbortOnDropHandle;
use tracing::debug;

use super::{header_u64, segment_url, status_error};
use crate::channel::ReadSeq;
use crate::error::{TrickleError, TrickleResult};
use crate::server::DEFAULT_MAX_SEGMENT_BYTES;
use crate::wire::{
    HEADER_CLOSED, HEADER_LATEST, HEADER_SEQ, SEQ_CURRENT, SEQ_NEXT, STATUS_ENTRY_NOT_FOUND,
};

/// A pre-connected GET that has had no response headers for this long is cancelled and sent
/// again (go-livepeer's `preconnectRefreshTimeout`), so a connection cut on the way does not
/// hang the subscriber.
pub const DEFAULT_PRECONNECT_REFRESH: Duration = Duration::from_secs(20);
/// Failures in a row after which the subscriber gives up (go-livepeer: more than 5).
pub const DEFAULT_MAX_CONSECUTIVE_ERRORS: u32 = 5;
/// Pause before asking again after a failure (go-livepeer's gateway waits 300 ms).
pub const DEFAULT_SUBSCRIBE_RETRY_PAUSE: Duration = Duration::from_millis(300);

/// Configuration of a [`TrickleSubscriber`].
#[derive(Debug, Clone)]
pub struct SubscriberConfig {
    /// The first segment to read (go-livepeer's default is [`ReadSeq::Next`]; its Python
    /// clients start at [`ReadSeq::Current`]).
    pub start: ReadSeq,
    /// Largest segment read, bytes (the server's default limit).
    pub max_segment_bytes: u64,
    /// See [`DEFAULT_PRECONNECT_REFRESH`].
    pub preconnect_refresh: Duration,
    /// See [`DEFAULT_MAX_CONSECUTIVE_ERRORS`]; the subscriber fails on the one after.
    pub max_consecutive_errors: u32,
    /// See [`DEFAULT_SUBSCRIBE_RETRY_PAUSE`].
    pub retry_pause: Duration,
}

impl Default for SubscriberConfig {
    fn default() -> Self {
        Self {
            start: ReadSeq::Next,
            max_segment_bytes: DEFAULT_MAX_SEGMENT_BYTES,
            preconnect_refresh: DEFAULT_PRECONNECT_REFRESH,
            max_consecutive_errors: DEFAULT_MAX_CONSECUTIVE_ERRORS,
            retry_pause: DEFAULT_SUBSCRIBE_RETRY_PAUSE,
        }
    }
}

/// A GET in flight.
#[derive(Debug)]
struct PendingGet {
    issued: tokio::time::Instant,
    response: AbortOnDropHandle<reqwest::Result<reqwest::Response>>,
}

/// What one response means.
enum Answer {
    Segment(SubscribedSegment),
    EndOfStream,
    /// 470: jump to the live edge.
    Jump {
        seq: u64,
        latest: u64,
    },
}

/// Reads the segments of one channel (`<base>/<channel>`) in order. Each
/// [`Self::next_segment`] returns once the segment's first bytes are there (its headers
/// arrived) and pre-connects the GET of the one after.
#[derive(Debug)]
pub struct TrickleSubscriber {
    client: reqwest::Client,
    channel_url: String,
    config: SubscriberConfig,
    next: ReadSeq,
    pending: Option<PendingGet>,
    errors: u32,
}

impl TrickleSubscriber {
    /// A subscriber of the channel at `channel_url` (`https://orch:8935/ai/trickle/<name>`);
    /// nothing is sent until the first [`Self::next_segment`].
    pub fn new(client: reqwest::Client, channel_url: &str, config: SubscriberConfig) -> Self {
        Self {
            client,
            channel_url: channel_url.trim_end_matches('/').to_string(),
            next: config.start,
            config,
            pending: None,
            errors: 0,
        }
    }

    /// The channel's URL.
    pub fn channel_url(&self) -> &str {
        &self.channel_url
    }

    /// The segment the next [`Self::next_segment`] asks for.
    pub fn next_seq(&self) -> ReadSeq {
        self.next
    }

    /// Reads from `next` on (go-livepeer's `SetSeq`): the pending GET is dropped.
    pub fn set_seq(&mut self, next: ReadSeq) {
        self.next = next;
        self.pending = None;
        self.errors = 0;
    }

    fn get(&self) -> PendingGet {
        let wire = match self.next {
            ReadSeq::Next => SEQ_NEXT,
            ReadSeq::Current => SEQ_CURRENT,
            ReadSeq::Seq(seq) => i64::try_from(seq).unwrap_or(i64::MAX),
        };
        let request = self.client.get(segment_url(&self.channel_url, wire)).send();
        PendingGet {
            issued: tokio::time::Instant::now(),
            response: AbortOnDropHandle::new(tokio::spawn(request)),
        }
    }

    /// The response of the pending GET (sent now if none), re-sent every
    /// [`SubscriberConfig::preconnect_refresh`] while it has no headers.
    async fn response(&mut self) -> TrickleResult<reqwest::Response> {
        loop {
            if self.pending.is_none() {
                self.pending = Some(self.get());
            }
            let Some(pending) = self.pending.as_mut() else {
                continue;
            };
            let deadline = pending.issued + self.config.preconnect_refresh;
            match tokio::time::timeout_at(deadline, &mut pending.response).await {
                Ok(joined) => {
                    self.pending = None;
                    return joined
                        .map_err(|_| TrickleError::RequestTaskFailed)?
                        .map_err(TrickleError::Transport);
                }
                Err(_) => {
                    debug!(url = self.channel_url, next = ?self.next, "re-sending pre-connected trickle GET");
                    self.pending = None;
                }
            }
        }
    }

    async fn answer(&self, response: reqwest::Response) -> TrickleResult<Answer> {
        if response.headers().contains_key(HEADER_CLOSED) {
            return Ok(Answer::EndOfStream);
        }
        match response.status().as_u16() {
            200 => {}
            404 => {
                return Err(TrickleError::StreamNotFound {
                    channel: self.channel_url.clone(),
                });
            }
            STATUS_ENTRY_NOT_FOUND => {
                let latest =
                    header_u64(&response, HEADER_LATEST)?.ok_or(TrickleError::BadHeader {
                        name: HEADER_LATEST,
                        value: None,
                    })?;
                let seq = header_u64(&response, HEADER_SEQ)
                    .ok()
                    .flatten()
                    .unwrap_or(latest);
                return Ok(Answer::Jump { seq, latest });
            }
            _ => return Err(status_error(response).await),
        }
        let seq = header_u64(&response, HEADER_SEQ)?.ok_or(TrickleError::BadHeader {
            name: HEADER_SEQ,
            value: None,
        })?;
        let max_bytes = self.config.max_segment_bytes;
        if response.content_length().is_some_and(|len| len > max_bytes) {
            return Err(TrickleError::SegmentTooLarge { max_bytes });
        }
        Ok(Answer::Segment(SubscribedSegment {
            seq,
            latest: header_u64(&response, HEADER_LATEST).ok().flatten(),
            content_type: response
                .headers()
                .get(http::header::CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .map(str::to_string),
            response,
            read_bytes: 0,
            max_bytes,
        }))
    }

    /// The next segment, once its first bytes are there; `Ok(None)` at the end of the stream
    /// (`Lp-Trickle-Closed`). A segment that left the window (470) is skipped: reading jumps
    /// to `Lp-Trickle-Latest`, the live edge (so [`SubscribedSegment::seq`] may leap). Other
    /// failures are retried after [`SubscriberConfig::retry_pause`].
    ///
    /// Errors: [`TrickleError::StreamNotFound`] (404, at once), [`TrickleError::TooManyErrors`]
    /// after more than [`SubscriberConfig::max_consecutive_errors`] failures in a row.
    pub async fn next_segment(&mut self) -> TrickleResult<Option<SubscribedSegment>> {
        loop {
            let answer = match self.response().await {
                Ok(response) => self.answer(response).await,
                Err(err) => Err(err),
            };
            let err = match answer {
                Ok(Answer::Segment(segment)) => {
                    self.errors = 0;
                    self.next = ReadSeq::Seq(segment.seq.saturating_add(1));
                    self.pending = Some(self.get());
                    return Ok(Some(segment));
                }
                Ok(Answer::EndOfStream) => return Ok(None),
                Ok(Answer::Jump { seq, latest }) => {
                    debug!(
                        url = self.channel_url,
                        seq, latest, "trickle segment gone; jumping to the live edge"
                    );
                    self.next = ReadSeq::Seq(latest);
                    // Counted, so a server that answers 470 forever cannot spin us.
                    self.errors += 1;
                    if self.errors > self.config.max_consecutive_errors {
                        return Err(TrickleError::TooManyErrors {
                            errors: self.errors,
                            last: Box::new(TrickleError::Status {
                                status: STATUS_ENTRY_NOT_FOUND,
                                body: format!("segment {seq} not found, latest {latest}"),
                            }),
                        });
                    }
                    continue;
                }
                Err(err @ TrickleError::StreamNotFound { .. }) => return Err(err),
                Err(err) => err,
            };
            self.errors += 1;
            debug!(url = self.channel_url, %err, errors = self.errors, "trickle GET failed");
            if self.errors > self.config.max_consecutive_errors {
                return Err(TrickleError::TooManyErrors {
                    errors: self.errors,
                    last: Box::new(err),
                });
            }
            tokio::time::sleep(self.config.retry_pause).await;
        }
    }
}

/// One segment being read: its bytes as they arrive, bounded by
/// [`SubscriberConfig::max_segment_bytes`].
#[derive(Debug)]
pub struct SubscribedSegment {
    seq: u64,
    latest: Option<u64>,
    content_type: Option<String>,
    response: reqwest::Response,
    read_bytes: u64,
    max_bytes: u64,
}

impl SubscribedSegment {
    /// The segment's sequence number (`Lp-Trickle-Seq`).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The channel's next write index, when the server sent it (`Lp-Trickle-Latest`, only
    /// when this is not the latest segment).
    pub fn latest(&self) -> Option<u64> {
        self.latest
    }

    /// The channel's mime type (`Content-Type`).
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.as_deref()
    }

    /// The next bytes; `None` at the end of the segment.
    ///
    /// Errors: [`TrickleError::Transport`] (the connection was lost),
    /// [`TrickleError::SegmentTooLarge`].
    pub async fn chunk(&mut self) -> TrickleResult<Option<Bytes>> {
        let Some(chunk) = self
            .response
            .chunk()
            .await
            .map_err(TrickleError::Transport)?
        else {
            return Ok(None);
        };
        self.read_bytes += chunk.len() as u64;
        if self.read_bytes > self.max_bytes {
            return Err(TrickleError::SegmentTooLarge {
                max_bytes: self.max_bytes,
            });
        }
        Ok(Some(chunk))
    }

    /// The whole segment.
    ///
    /// Errors: as [`Self::chunk`].
    pub async fn bytes(mut self) -> TrickleResult<Bytes> {
        let mut out = BytesMut::new();
        while let Some(chunk) = self.chunk().await? {
            out.extend_from_slice(&chunk);
        }
        Ok(out.freeze())
    }
}
