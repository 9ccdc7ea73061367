//! The trickle publisher (go-livepeer `trickle/trickle_publisher.go`; the start at `-1` with
//! `Lp-Trickle-Reset` is the Python gateway's).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::StatusCode;
use http::header::CONTENT_TYPE;
use tokio::sync::mpsc;
use tokio_util::task::AbortOnDropHandle;
use tracing::debug;

use super::{header_u64, segment_url, status_error};
use crate::error::{TrickleError, TrickleResult};
use crate::wire::{HEADER_CLOSED, HEADER_LATEST, HEADER_RESET, HEADER_SEQ, NEXT_PATH};

/// `Content-Type` of published segments unless configured (go-livepeer's publisher default).
pub const DEFAULT_CONTENT_TYPE: &str = "video/MP2T";
/// Times a segment is re-sent when its POST failed before a byte was sent.
pub const DEFAULT_PUBLISH_RETRIES: u32 = 3;
/// Pause before re-sending a segment (go-livepeer's gateway waits 250 ms).
pub const DEFAULT_PUBLISH_RETRY_PAUSE: Duration = Duration::from_millis(250);
/// Longest a segment's POST may take to answer once its body has ended.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest one chunk may wait for the connection to take it (the server reads too slowly or
/// stopped; the Python gateway gives a chunk 5 s).
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(30);

/// Chunks buffered between a [`SegmentWriter`] and its connection.
const BODY_BUFFER_CHUNKS: usize = 8;

/// Where a publisher starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishStart {
    /// At this sequence number (go-livepeer's publisher starts at 0).
    Seq(u64),
    /// At the channel's next write index, read from `GET <ch>/next`; the first POST carries
    /// `Lp-Trickle-Reset` so the server closes older segments (a publisher that restarted).
    Next,
}

/// Configuration of a [`TricklePublisher`].
#[derive(Debug, Clone)]
pub struct PublisherConfig {
    /// `Content-Type` of every POST (the channel's mime if the server auto-creates it).
    pub content_type: String,
    /// Where to start.
    pub start: PublishStart,
    /// See [`DEFAULT_PUBLISH_RETRIES`].
    pub retries: u32,
    /// See [`DEFAULT_PUBLISH_RETRY_PAUSE`].
    pub retry_pause: Duration,
    /// See [`DEFAULT_WRITE_TIMEOUT`].
    pub write_timeout: Duration,
    /// See [`DEFAULT_RESPONSE_TIMEOUT`].
    pub response_timeout: Duration,
}

impl Default for PublisherConfig {
    fn default() -> Self {
        Self {
            content_type: DEFAULT_CONTENT_TYPE.to_string(),
            start: PublishStart::Seq(0),
            retries: DEFAULT_PUBLISH_RETRIES,
            retry_pause: DEFAULT_PUBLISH_RETRY_PAUSE,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
        }
    }
}

/// What a POST's body stream gets from its writer. The body ends cleanly only on `End`; a
/// writer dropped before it makes the body fail, so the server does not take a cut segment
/// for a complete one.
enum BodyMsg {
    Data(Bytes),
    End,
}

/// What goes with every POST of one publisher.
#[derive(Debug, Clone)]
struct PostTarget {
    client: reqwest::Client,
    channel_url: String,
    config: PublisherConfig,
}

/// One POST in flight: its body pipe and the task awaiting its response.
#[derive(Debug)]
struct PendingPost {
    body: mpsc::Sender<BodyMsg>,
    response: AbortOnDropHandle<TrickleResult<u64>>,
    /// Bytes the connection has taken from the body.
    taken: Arc<AtomicU64>,
    /// Retained chunks handed to this POST.
    sent_chunks: usize,
}

impl PendingPost {
    fn taken_bytes(&self) -> u64 {
        self.taken.load(Ordering::Relaxed)
    }
}

impl PostTarget {
    /// Sends `POST <ch>/<seq>` with a body that stays empty until the writer writes.
    fn post(&self, seq: u64, reset: bool) -> PendingPost {
        let (body, rx) = mpsc::channel::<BodyMsg>(BODY_BUFFER_CHUNKS);
        let taken = Arc::new(AtomicU64::new(0));
        let counter = taken.clone();
        let stream = futures::stream::unfold(Some(rx), move |rx| {
            let counter = counter.clone();
            async move {
                let mut rx = rx?;
                match rx.recv().await {
                    Some(BodyMsg::Data(data)) => {
                        counter.fetch_add(data.len() as u64, Ordering::Relaxed);
                        Some((Ok(data), Some(rx)))
                    }
                    Some(BodyMsg::End) => None,
                    None => Some((
                        Err(std::io::Error::other("trickle segment abandoned")),
                        None,
                    )),
                }
            }
        });
        let mut request = self
            .client
            .post(segment_url(&self.channel_url, seq))
            .header(CONTENT_TYPE, self.config.content_type.as_str())
            .body(reqwest::Body::wrap_stream(stream));
        if reset {
            request = request.header(HEADER_RESET, "1");
        }
        let channel_url = self.channel_url.clone();
        let response = tokio::spawn(async move {
            let response = request.send().await.map_err(TrickleError::Transport)?;
            post_outcome(response, &channel_url, seq).await
        });
        PendingPost {
            body,
            response: AbortOnDropHandle::new(response),
            taken,
            sent_chunks: 0,
        }
    }
}

/// A POST's response as go-livepeer's publisher reads it: `Lp-Trickle-Closed` is end of
/// stream, 404 stream not found, other errors keep their status; 200 gives the effective
/// sequence number.
async fn post_outcome(
    response: reqwest::Response,
    channel_url: &str,
    seq: u64,
) -> TrickleResult<u64> {
    if response.headers().contains_key(HEADER_CLOSED) {
        return Err(TrickleError::EndOfStream);
    }
    match response.status() {
        StatusCode::NOT_FOUND => Err(TrickleError::StreamNotFound {
            channel: channel_url.to_string(),
        }),
        status if status.is_success() => Ok(header_u64(&response, HEADER_SEQ)?.unwrap_or(seq)),
        _ => Err(status_error(response).await),
    }
}

async fn outcome(pending: PendingPost) -> TrickleResult<u64> {
    drop(pending.body);
    pending
        .response
        .await
        .map_err(|_| TrickleError::RequestTaskFailed)?
}

/// Publishes segments to one channel (`<base>/<channel>`): each [`Self::next_segment`] hands
/// out the pre-connected POST of the next sequence number and pre-connects the one after.
#[derive(Debug)]
pub struct TricklePublisher {
    target: PostTarget,
    pending: Option<PendingPost>,
    /// The sequence number of the next segment (of `pending`).
    next_seq: u64,
    /// The first POST carries `Lp-Trickle-Reset` (and so does its retry).
    reset_seq: Option<u64>,
}

impl TricklePublisher {
    /// A publisher of the channel at `channel_url` (`https://orch:8935/ai/trickle/<name>`).
    /// Resolves [`PublishStart::Next`] with `GET <ch>/next`, then pre-connects the first
    /// segment.
    ///
    /// Errors (for [`PublishStart::Next`]): [`TrickleError::StreamNotFound`] (404),
    /// [`TrickleError::EndOfStream`] (closed), [`TrickleError::Transport`],
    /// [`TrickleError::Status`], [`TrickleError::BadHeader`].
    pub async fn connect(
        client: reqwest::Client,
        channel_url: &str,
        config: PublisherConfig,
    ) -> TrickleResult<Self> {
        let channel_url = channel_url.trim_end_matches('/').to_string();
        let (start, reset_seq) = match config.start {
            PublishStart::Seq(seq) => (seq, None),
            PublishStart::Next => {
                let seq = next_seq(&client, &channel_url).await?;
                (seq, Some(seq))
            }
        };
        let target = PostTarget {
            client,
            channel_url,
            config,
        };
        let pending = target.post(start, reset_seq.is_some());
        Ok(Self {
            target,
            pending: Some(pending),
            next_seq: start,
            reset_seq,
        })
    }

    /// The channel's URL.
    pub fn channel_url(&self) -> &str {
        &self.target.channel_url
    }

    /// The sequence number the next segment gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The next segment's writer (its POST already sent), and the POST of the segment after
    /// it sent. Several writers may be in flight at once.
    pub fn next_segment(&mut self) -> SegmentWriter {
        let seq = self.next_seq;
        let reset = self.reset_seq == Some(seq);
        let current = match self.pending.take() {
            Some(pending) => pending,
            None => self.target.post(seq, reset),
        };
        self.next_seq = seq.saturating_add(1);
        self.pending = Some(self.target.post(self.next_seq, false));
        SegmentWriter {
            target: self.target.clone(),
            seq,
            reset,
            pending: Some(current),
            retained: Vec::new(),
            retaining: true,
            written_bytes: 0,
        }
    }

    /// Publishes one whole segment; returns the sequence number the server wrote.
    ///
    /// Errors: as [`SegmentWriter::write`] and [`SegmentWriter::finish`].
    pub async fn publish(&mut self, data: Bytes) -> TrickleResult<u64> {
        let mut writer = self.next_segment();
        writer.write(data).await?;
        writer.finish().await
    }

    /// Closes the channel with `DELETE <ch>` (go-livepeer's `TricklePublisher.Close`), then
    /// drops the pre-connected POST.
    ///
    /// Errors: [`TrickleError::Transport`], [`TrickleError::Status`] for any answer but 200
    /// (400 "Invalid stream" if the channel is unknown).
    pub async fn close(mut self) -> TrickleResult<()> {
        let response = self
            .target
            .client
            .delete(&self.target.channel_url)
            .send()
            .await
            .map_err(TrickleError::Transport)?;
        self.pending = None;
        if response.status() == StatusCode::OK {
            Ok(())
        } else {
            Err(status_error(response).await)
        }
    }
}

/// `GET <ch>/next`: the channel's next write index.
async fn next_seq(client: &reqwest::Client, channel_url: &str) -> TrickleResult<u64> {
    let response = client
        .get(segment_url(channel_url, NEXT_PATH))
        .send()
        .await
        .map_err(TrickleError::Transport)?;
    if response.status() == StatusCode::NOT_FOUND {
        return Err(TrickleError::StreamNotFound {
            channel: channel_url.to_string(),
        });
    }
    if !response.status().is_success() {
        return Err(status_error(response).await);
    }
    if response.headers().contains_key(HEADER_CLOSED) {
        return Err(TrickleError::EndOfStream);
    }
    header_u64(&response, HEADER_LATEST)?.ok_or(TrickleError::BadHeader {
        name: HEADER_LATEST,
        value: None,
    })
}

/// One segment being published: its bytes go out as [`Self::write`] is called. Finish it
/// with [`Self::finish`]; dropped unfinished (or [`Self::abort`]ed), its POST fails, so the
/// server ends the segment with what arrived.
///
/// A segment is re-sent on a new POST to the same sequence number only while the connection
/// has taken none of its bytes (go-livepeer's rule: retry only if nothing was sent), up to
/// [`PublisherConfig::retries`] times; until then the writer keeps its chunks (at most the
/// few that fit in the pipe to the connection, which then pushes back).
#[derive(Debug)]
pub struct SegmentWriter {
    target: PostTarget,
    seq: u64,
    reset: bool,
    pending: Option<PendingPost>,
    /// Chunks written while the connection had taken nothing (re-sent on a retry).
    retained: Vec<Bytes>,
    /// Whether `retained` still holds every chunk written (false once the connection took
    /// a byte: no retry after that).
    retaining: bool,
    written_bytes: u64,
}

impl SegmentWriter {
    /// The segment's sequence number.
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Bytes written so far.
    pub fn written_bytes(&self) -> u64 {
        self.written_bytes
    }

    /// The POST, re-sent if the previous one is gone.
    fn pending(&mut self) -> &mut PendingPost {
        let (target, seq, reset) = (&self.target, self.seq, self.reset);
        self.pending.get_or_insert_with(|| target.post(seq, reset))
    }

    /// Hands the POST what it has not had yet: the retained chunks (all of them on a new POST)
    /// or `msg`, then the end of the body when `msg` is `None`. `Ok(Err(()))` when the POST
    /// has ended (its outcome says why).
    async fn send(&mut self, msg: Option<Bytes>) -> TrickleResult<Result<(), ()>> {
        let write_timeout = self.target.config.write_timeout;
        let retaining = self.retaining;
        let retained = std::mem::take(&mut self.retained);
        let pending = self.pending();
        let mut result = Ok(());
        // A new POST (a retry) first gets what the failed one was given.
        let chunks: Vec<Bytes> = if retaining {
            retained[pending.sent_chunks..].to_vec()
        } else {
            msg.clone().into_iter().collect()
        };
        let mut to_send: Vec<BodyMsg> = chunks.into_iter().map(BodyMsg::Data).collect();
        if msg.is_none() {
            to_send.push(BodyMsg::End);
        }
        for item in to_send {
            if pending.response.is_finished() {
                result = Err(());
                break;
            }
            let is_data = matches!(item, BodyMsg::Data(_));
            match tokio::time::timeout(write_timeout, pending.body.send(item)).await {
                Ok(Ok(())) => {
                    if is_data {
                        pending.sent_chunks += 1;
                    }
                }
                Ok(Err(_)) => {
                    result = Err(());
                    break;
                }
                Err(_) => {
                    self.retained = retained;
                    return Err(TrickleError::Timeout {
                        what: "segment write",
                        after: write_timeout,
                    });
                }
            }
        }
        self.retained = retained;
        Ok(result)
    }

    /// Whether the failure `err` is worth a new POST: the connection took no byte, it failed
    /// on the way (not an answer of the server's), and retries are left.
    async fn retry(&mut self, err: &TrickleError, taken_bytes: u64, attempt: &mut u32) -> bool {
        if !self.retaining
            || taken_bytes > 0
            || !err.is_retryable()
            || *attempt >= self.target.config.retries
        {
            return false;
        }
        *attempt += 1;
        debug!(url = self.target.channel_url, seq = self.seq, %err, attempt = *attempt, "re-sending trickle segment");
        self.pending = None;
        tokio::time::sleep(self.target.config.retry_pause).await;
        true
    }

    /// The ended POST's failure and how many bytes its connection took.
    async fn failure(&mut self) -> (TrickleError, u64) {
        let Some(pending) = self.pending.take() else {
            return (TrickleError::RequestTaskFailed, 0);
        };
        let taken = pending.taken_bytes();
        let err = match outcome(pending).await {
            Ok(_) => TrickleError::SegmentClosed { seq: self.seq },
            Err(err) => err,
        };
        (err, taken)
    }

    /// Sends `data` as the segment's next bytes.
    ///
    /// Errors: [`TrickleError::EndOfStream`] (channel closed), [`TrickleError::StreamNotFound`]
    /// (404), [`TrickleError::SegmentClosed`] (the server closed the segment before this
    /// writer's first byte), [`TrickleError::Status`], [`TrickleError::Transport`] after the
    /// retries, [`TrickleError::Timeout`] past [`PublisherConfig::write_timeout`].
    pub async fn write(&mut self, data: Bytes) -> TrickleResult<()> {
        if data.is_empty() {
            return Ok(());
        }
        if self.retaining && self.pending.as_ref().is_some_and(|p| p.taken_bytes() > 0) {
            self.retaining = false;
            self.retained.clear();
        }
        if self.retaining {
            self.retained.push(data.clone());
        }
        self.written_bytes += data.len() as u64;
        let mut attempt = 0;
        loop {
            if self.send(Some(data.clone())).await?.is_ok() {
                return Ok(());
            }
            let (err, taken) = self.failure().await;
            if !self.retry(&err, taken, &mut attempt).await {
                return Err(err);
            }
        }
    }

    /// Ends the segment and waits for the server's answer; returns the sequence number it
    /// wrote (`Lp-Trickle-Seq`).
    ///
    /// Errors: as [`Self::write`]; [`TrickleError::Timeout`] past
    /// [`PublisherConfig::response_timeout`].
    pub async fn finish(mut self) -> TrickleResult<u64> {
        let response_timeout = self.target.config.response_timeout;
        let mut attempt = 0;
        loop {
            // A failed send means the POST already ended; its outcome follows.
            let _ = self.send(None).await?;
            let Some(pending) = self.pending.take() else {
                return Err(TrickleError::RequestTaskFailed);
            };
            let taken = pending.taken_bytes();
            let result = match tokio::time::timeout(response_timeout, outcome(pending)).await {
                Ok(Ok(seq)) => return Ok(seq),
                Ok(Err(err)) => err,
                Err(_) => TrickleError::Timeout {
                    what: "segment response",
                    after: response_timeout,
                },
            };
            if !self.retry(&result, taken, &mut attempt).await {
                return Err(result);
            }
        }
    }

    /// Gives the segment up: its POST fails (the server ends the segment with what arrived)
    /// and `DELETE <ch>/<seq>` wakes readers waiting for it (go-livepeer's
    /// `pendingPost.Close`).
    ///
    /// Errors: [`TrickleError::Transport`], [`TrickleError::Status`] for any answer but 200
    /// (400 "Nonexistent segment" when it already left the window).
    pub async fn abort(mut self) -> TrickleResult<()> {
        // Dropping the sender without `End` fails the body.
        self.pending = None;
        let response = self
            .target
            .client
            .delete(segment_url(&self.target.channel_url, self.seq))
            .send()
            .await
            .map_err(TrickleError::Transport)?;
        if response.status() == StatusCode::OK {
            Ok(())
        } else {
            Err(status_error(response).await)
        }
    }
}
