//! The trickle server: its channels, its configuration, the idle sweep, and the in-process
//! API the node itself uses (go-livepeer's `trickle/local_publisher.go` and
//! `local_subscriber.go`). The HTTP side is in [`crate::http`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::channel::{Channel, ReadOpen, ReadSeq, SegmentGone, is_valid_channel_name};
use crate::error::{TrickleError, TrickleResult};
use crate::segment::{Appended, MemoryBudget, Segment, SegmentCursor};

/// A channel with no write for this long is closed by the idle sweep (go-livepeer's
/// `IdleTimeout`).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// How often the idle sweep runs (go-livepeer's `SweepInterval`).
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_secs(60);
/// Largest segment the server stores, bytes. A live-video segment is a GOP of a few seconds
/// (a few MB); go-livepeer has no limit.
pub const DEFAULT_MAX_SEGMENT_BYTES: u64 = 64 * 1024 * 1024;
/// Most bytes all segments of the server hold together (the window of every channel, and
/// segments still being read after leaving it).
pub const DEFAULT_MAX_BUFFERED_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Most channels the server holds at once (a live-video session uses four).
pub const DEFAULT_MAX_CHANNELS: usize = 4096;
/// The changefeed channel (go-livepeer's `CHANGEFEED`): one JSON segment per change,
/// `{"added":["<name>"]}` or `{"removed":["<name>"]}`.
pub const CHANGEFEED_CHANNEL: &str = "_changes";

/// Configuration of a [`TrickleServer`] (go-livepeer's `TrickleServerConfig`).
#[derive(Debug, Clone)]
pub struct TrickleConfig {
    /// Create a missing channel on its first `POST <ch>` or `POST <ch>/<seq>` (go-livepeer's
    /// `Autocreate`, default false: channels are created by the node through
    /// [`TrickleServer::create_channel`]).
    pub autocreate: bool,
    /// Keep the [`CHANGEFEED_CHANNEL`] (default false).
    pub changefeed: bool,
    /// See [`DEFAULT_IDLE_TIMEOUT`].
    pub idle_timeout: Duration,
    /// See [`DEFAULT_SWEEP_INTERVAL`].
    pub sweep_interval: Duration,
    /// See [`DEFAULT_MAX_SEGMENT_BYTES`].
    pub max_segment_bytes: u64,
    /// See [`DEFAULT_MAX_BUFFERED_BYTES`].
    pub max_buffered_bytes: u64,
    /// See [`DEFAULT_MAX_CHANNELS`].
    pub max_channels: usize,
}

impl Default for TrickleConfig {
    fn default() -> Self {
        Self {
            autocreate: false,
            changefeed: false,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            sweep_interval: DEFAULT_SWEEP_INTERVAL,
            max_segment_bytes: DEFAULT_MAX_SEGMENT_BYTES,
            max_buffered_bytes: DEFAULT_MAX_BUFFERED_BYTES,
            max_channels: DEFAULT_MAX_CHANNELS,
        }
    }
}

#[derive(Debug)]
struct ServerInner {
    config: TrickleConfig,
    channels: Mutex<HashMap<String, Arc<Channel>>>,
    budget: Arc<MemoryBudget>,
    /// Serialises changefeed writes (each takes the next sequence number).
    changefeed: Mutex<()>,
}

/// The trickle server: a cheaply cloneable handle on its channels. Serve it over HTTP with
/// [`TrickleServer::router`], run [`TrickleServer::sweep_service`] beside it, and use the
/// in-process API ([`TrickleServer::create_channel`], [`TrickleServer::close_channel`],
/// [`TrickleServer::local_publisher`], [`TrickleServer::local_subscriber`]) from the node.
#[derive(Debug, Clone)]
pub struct TrickleServer {
    inner: Arc<ServerInner>,
}

/// Why a channel could not be had for a request.
#[derive(Debug)]
pub(crate) enum ChannelRefusal {
    NotFound,
    InvalidName,
    TooMany(usize),
}

impl TrickleServer {
    /// A server with no channels (but the changefeed, if configured).
    pub fn new(config: TrickleConfig) -> Self {
        let server = Self {
            inner: Arc::new(ServerInner {
                budget: MemoryBudget::new(config.max_buffered_bytes),
                config,
                channels: Mutex::new(HashMap::new()),
                changefeed: Mutex::new(()),
            }),
        };
        if server.inner.config.changefeed {
            // The name is valid and the map is empty, so this cannot fail.
            let _ = server.create_channel(CHANGEFEED_CHANNEL, "application/json");
        }
        server
    }

    /// The configuration.
    pub fn config(&self) -> &TrickleConfig {
        &self.inner.config
    }

    /// Bytes the segments hold now (bounded by [`TrickleConfig::max_buffered_bytes`]).
    pub fn buffered_bytes(&self) -> u64 {
        self.inner.budget.used_bytes()
    }

    fn channels(&self) -> MutexGuard<'_, HashMap<String, Arc<Channel>>> {
        self.inner
            .channels
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn channel(&self, name: &str) -> Option<Arc<Channel>> {
        self.channels().get(name).cloned()
    }

    /// The channel `name`, created with `mime` if missing and `create`.
    pub(crate) fn get_or_create(
        &self,
        name: &str,
        mime: &str,
        create: bool,
    ) -> Result<Arc<Channel>, ChannelRefusal> {
        if let Some(channel) = self.channel(name) {
            return Ok(channel);
        }
        if !is_valid_channel_name(name) {
            return Err(ChannelRefusal::InvalidName);
        }
        if !create {
            return Err(ChannelRefusal::NotFound);
        }
        let channel = {
            let mut channels = self.channels();
            if let Some(channel) = channels.get(name) {
                return Ok(channel.clone());
            }
            let max = self.inner.config.max_channels;
            if channels.len() >= max {
                return Err(ChannelRefusal::TooMany(max));
            }
            let channel = Channel::new(
                name.to_string(),
                mime.to_string(),
                self.inner.budget.clone(),
            );
            channels.insert(name.to_string(), channel.clone());
            channel
        };
        info!(channel = name, mime, "trickle channel created");
        self.changefeed(&format!(r#"{{"added":["{name}"]}}"#));
        Ok(channel)
    }

    /// Creates channel `name` whose segments are of type `mime` (sent as `Content-Type` to
    /// readers); nothing happens if it exists (go-livepeer's `CreateChannel`).
    ///
    /// Errors: [`TrickleError::InvalidChannelName`], [`TrickleError::TooManyChannels`].
    pub fn create_channel(&self, name: &str, mime: &str) -> TrickleResult<()> {
        match self.get_or_create(name, mime, true) {
            Ok(_) => Ok(()),
            Err(ChannelRefusal::TooMany(max)) => Err(TrickleError::TooManyChannels { max }),
            Err(_) => Err(TrickleError::invalid_name(name)),
        }
    }

    /// Closes and removes channel `name`: its readers and idle publishers get end of stream,
    /// later requests 404 (go-livepeer's `closeStream`, `DELETE <ch>`).
    ///
    /// Errors: [`TrickleError::StreamNotFound`].
    pub fn close_channel(&self, name: &str) -> TrickleResult<()> {
        let channel = self.channels().remove(name);
        let Some(channel) = channel else {
            return Err(TrickleError::StreamNotFound {
                channel: name.to_string(),
            });
        };
        channel.close();
        info!(channel = name, "trickle channel closed");
        self.changefeed(&format!(r#"{{"removed":["{name}"]}}"#));
        Ok(())
    }

    /// Whether channel `name` exists.
    pub fn has_channel(&self, name: &str) -> bool {
        self.channels().contains_key(name)
    }

    /// The names of the channels, sorted.
    pub fn channel_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.channels().keys().cloned().collect();
        names.sort();
        names
    }

    /// Channel `name`'s next write index (what `GET <ch>/next` answers).
    ///
    /// Errors: [`TrickleError::StreamNotFound`].
    pub fn next_seq(&self, name: &str) -> TrickleResult<u64> {
        let channel = self
            .channel(name)
            .ok_or_else(|| TrickleError::StreamNotFound {
                channel: name.to_string(),
            })?;
        Ok(channel.next_write().0)
    }

    /// Closes every channel (go-livepeer's `clearAllStreams`, on shutdown), which also ends
    /// every long-polling request, so an HTTP server draining its requests is not held up
    /// by them.
    pub fn close_all(&self) {
        let channels: Vec<Arc<Channel>> = self.channels().drain().map(|(_, c)| c).collect();
        for channel in &channels {
            channel.close();
        }
        if !channels.is_empty() {
            info!(channels = channels.len(), "trickle channels closed");
        }
    }

    /// Closes every channel with no write for [`TrickleConfig::idle_timeout`], except names
    /// starting with `_` (go-livepeer's `sweepIdleChannels`). Returns the names closed.
    pub fn sweep_idle(&self) -> Vec<String> {
        let now = Instant::now();
        let idle_timeout = self.inner.config.idle_timeout;
        let channels: Vec<Arc<Channel>> = self.channels().values().cloned().collect();
        let mut swept = Vec::new();
        for channel in channels {
            if channel.name().starts_with('_') || channel.idle_for(now) <= idle_timeout {
                continue;
            }
            if self.close_channel(channel.name()).is_ok() {
                info!(channel = channel.name(), "idle trickle channel closed");
                swept.push(channel.name().to_string());
            }
        }
        swept
    }

    /// The idle sweep as a service: [`Self::sweep_idle`] every
    /// [`TrickleConfig::sweep_interval`] until `shutdown`, then [`Self::close_all`] (as
    /// go-livepeer's `Start` returns a stop function that clears all streams).
    pub fn sweep_service(
        &self,
        shutdown: CancellationToken,
    ) -> impl Future<Output = ()> + Send + 'static {
        let server = self.clone();
        async move {
            let period = server
                .inner
                .config
                .sweep_interval
                .max(Duration::from_millis(1));
            let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = ticks.tick() => {
                        server.sweep_idle();
                    }
                }
            }
            server.close_all();
        }
    }

    /// A publisher writing segments of channel `name` in process, from its next write index.
    ///
    /// Errors: [`TrickleError::StreamNotFound`].
    pub fn local_publisher(&self, name: &str) -> TrickleResult<LocalPublisher> {
        let next_seq = self.next_seq(name)?;
        Ok(LocalPublisher {
            server: self.clone(),
            channel: name.to_string(),
            next_seq,
        })
    }

    /// A subscriber reading channel `name` in process from `start`. The channel is looked up
    /// on each [`LocalSubscriber::next_segment`].
    pub fn local_subscriber(&self, name: &str, start: ReadSeq) -> LocalSubscriber {
        LocalSubscriber {
            server: self.clone(),
            channel: name.to_string(),
            next: start,
        }
    }

    /// Writes one changefeed segment, if the changefeed is on.
    fn changefeed(&self, json: &str) {
        if !self.inner.config.changefeed {
            return;
        }
        let Some(channel) = self.channel(CHANGEFEED_CHANNEL) else {
            return;
        };
        let _serial = self
            .inner
            .changefeed
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(mut write) = SegmentWrite::open(channel, None, false, u64::MAX) {
            let _ = write.write(Bytes::copy_from_slice(json.as_bytes()), false);
            write.finish();
        }
    }
}

/// How one write to a segment went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written {
    /// Stored for readers.
    Stored,
    /// The segment was closed under the writer (deleted, reset, overwritten, replaced, or the
    /// channel closed); the bytes were dropped.
    Discarded,
}

/// Why a write was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteRefused {
    /// The segment closed before the first byte.
    ClosedBeforeStart,
    /// The segment would pass the size limit; it is closed.
    TooLarge,
    /// The server's memory budget is spent; the segment is closed.
    OutOfMemory,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WriteState {
    Idle,
    Writing,
    Discarding,
}

/// How a write ended (for the POST's response).
#[derive(Debug, Clone, Copy)]
pub(crate) struct WriteEnd {
    /// The segment written.
    pub(crate) seq: u64,
    /// Not a byte arrived.
    pub(crate) empty: bool,
    /// The channel is closed.
    pub(crate) channel_closed: bool,
}

/// One publisher's write of one segment, shared by `POST <ch>/<seq>` and [`LocalPublisher`].
/// Dropped without [`SegmentWrite::finish`], it closes its segment (readers get what was
/// written).
#[derive(Debug)]
pub(crate) struct SegmentWrite {
    channel: Arc<Channel>,
    seq: u64,
    segment: Arc<Segment>,
    state: WriteState,
    written_bytes: u64,
    max_bytes: u64,
}

impl SegmentWrite {
    /// Opens the write of `seq` (`None` = the next write index); `None` if the channel is
    /// closed.
    pub(crate) fn open(
        channel: Arc<Channel>,
        seq: Option<u64>,
        reset: bool,
        max_bytes: u64,
    ) -> Option<Self> {
        let (seq, segment) = channel.open_write(seq, reset)?;
        Some(Self {
            channel,
            seq,
            segment,
            state: WriteState::Idle,
            written_bytes: 0,
            max_bytes,
        })
    }

    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// Whether the first byte has arrived.
    pub(crate) fn started(&self) -> bool {
        self.state != WriteState::Idle
    }

    /// Waits until the segment is closed (for an idle POST).
    pub(crate) async fn closed(&self) {
        self.segment.wait_closed().await;
    }

    /// Stores `data` (copied when `copy`).
    pub(crate) fn write(&mut self, data: Bytes, copy: bool) -> Result<Written, WriteRefused> {
        if data.is_empty() {
            return Ok(if self.state == WriteState::Discarding {
                Written::Discarded
            } else {
                Written::Stored
            });
        }
        let total = self.written_bytes.saturating_add(data.len() as u64);
        if total > self.max_bytes {
            if self.state == WriteState::Writing {
                self.segment.close();
            }
            self.state = WriteState::Discarding;
            return Err(WriteRefused::TooLarge);
        }
        self.written_bytes = total;
        match self.state {
            WriteState::Idle => match self.channel.begin_write(&self.segment) {
                Ok(segment) => {
                    self.segment = segment;
                    self.state = WriteState::Writing;
                    debug!(
                        channel = self.channel.name(),
                        seq = self.seq,
                        "trickle segment started"
                    );
                    self.store(data, copy)
                }
                Err(SegmentGone) => Err(WriteRefused::ClosedBeforeStart),
            },
            WriteState::Writing => self.store(data, copy),
            WriteState::Discarding => Ok(Written::Discarded),
        }
    }

    fn store(&mut self, data: Bytes, copy: bool) -> Result<Written, WriteRefused> {
        match self.segment.append(data, copy) {
            Appended::Stored => Ok(Written::Stored),
            Appended::Closed => {
                self.state = WriteState::Discarding;
                Ok(Written::Discarded)
            }
            Appended::OverBudget => {
                self.segment.close();
                self.state = WriteState::Discarding;
                Err(WriteRefused::OutOfMemory)
            }
        }
    }

    /// Ends the write: the segment is closed (complete for readers). A write that never got
    /// a byte still advances the channel's next write index (go-livepeer's empty POST).
    pub(crate) fn finish(mut self) -> WriteEnd {
        let empty = self.state == WriteState::Idle;
        let channel_closed = if empty {
            self.channel.note_empty_write(self.seq)
        } else {
            self.channel.next_write().1
        };
        self.close_segment(empty);
        debug!(
            channel = self.channel.name(),
            seq = self.seq,
            bytes = self.written_bytes,
            "trickle segment finished"
        );
        self.state = WriteState::Discarding;
        WriteEnd {
            seq: self.seq,
            empty,
            channel_closed,
        }
    }

    fn close_segment(&self, even_if_idle: bool) {
        if self.state == WriteState::Writing || even_if_idle {
            self.segment.close();
        }
    }
}

impl Drop for SegmentWrite {
    fn drop(&mut self) {
        // An abandoned write (a POST whose body failed, a local writer dropped) ends its
        // segment so readers do not wait for bytes that will not come.
        self.close_segment(false);
    }
}

/// Writes segments of one channel in process (go-livepeer's `TrickleLocalPublisher`), from
/// the channel's next write index when created, one sequence number per segment.
#[derive(Debug)]
pub struct LocalPublisher {
    server: TrickleServer,
    channel: String,
    next_seq: u64,
}

impl LocalPublisher {
    /// The channel's name.
    pub fn channel(&self) -> &str {
        &self.channel
    }

    /// The sequence number the next segment gets.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Starts the next segment; readers waiting on its sequence number get its bytes as
    /// they are written.
    ///
    /// Errors: [`TrickleError::StreamNotFound`] (also once the channel is closed).
    pub fn begin_segment(&mut self) -> TrickleResult<LocalSegmentWriter> {
        let not_found = || TrickleError::StreamNotFound {
            channel: self.channel.clone(),
        };
        let channel = self.server.channel(&self.channel).ok_or_else(not_found)?;
        let max = self.server.config().max_segment_bytes;
        let write =
            SegmentWrite::open(channel, Some(self.next_seq), false, max).ok_or_else(not_found)?;
        self.next_seq = self.next_seq.saturating_add(1);
        Ok(LocalSegmentWriter { write })
    }

    /// Writes one whole segment; returns its sequence number.
    ///
    /// Errors: as [`Self::begin_segment`] and [`LocalSegmentWriter::write`].
    pub fn publish(&mut self, data: Bytes) -> TrickleResult<u64> {
        let mut writer = self.begin_segment()?;
        writer.write(data)?;
        Ok(writer.finish())
    }

    /// Closes the channel (go-livepeer's `TrickleLocalPublisher.Close`).
    ///
    /// Errors: [`TrickleError::StreamNotFound`].
    pub fn close(self) -> TrickleResult<()> {
        self.server.close_channel(&self.channel)
    }
}

/// One segment being written in process. Dropped without [`Self::finish`], the segment is
/// closed with what was written.
#[derive(Debug)]
pub struct LocalSegmentWriter {
    write: SegmentWrite,
}

impl LocalSegmentWriter {
    /// The segment's sequence number.
    pub fn seq(&self) -> u64 {
        self.write.seq()
    }

    /// Appends `data` (stored as given, not copied).
    ///
    /// Errors: [`TrickleError::SegmentClosed`] if the segment was closed (deleted, replaced,
    /// channel closed), [`TrickleError::SegmentTooLarge`] past
    /// [`TrickleConfig::max_segment_bytes`] and [`TrickleError::OutOfMemory`] past
    /// [`TrickleConfig::max_buffered_bytes`] (the segment is then closed).
    pub fn write(&mut self, data: Bytes) -> TrickleResult<()> {
        let seq = self.write.seq();
        match self.write.write(data, false) {
            Ok(Written::Stored) => Ok(()),
            Ok(Written::Discarded) | Err(WriteRefused::ClosedBeforeStart) => {
                Err(TrickleError::SegmentClosed { seq })
            }
            Err(WriteRefused::TooLarge) => Err(TrickleError::SegmentTooLarge {
                max_bytes: self.write.max_bytes,
            }),
            Err(WriteRefused::OutOfMemory) => Err(TrickleError::OutOfMemory {
                max_bytes: self.write.channel.budget_max_bytes(),
            }),
        }
    }

    /// Completes the segment; returns its sequence number.
    pub fn finish(self) -> u64 {
        self.write.finish().seq
    }
}

/// Reads channel segments in process (go-livepeer's `TrickleLocalSubscriber`).
#[derive(Debug)]
pub struct LocalSubscriber {
    server: TrickleServer,
    channel: String,
    next: ReadSeq,
}

impl LocalSubscriber {
    /// Sets the next segment to read.
    pub fn set_seq(&mut self, next: ReadSeq) {
        self.next = next;
    }

    /// The next segment: returned at once (the reader then waits for its bytes), the
    /// following call reads the segment after it. A sequence number that fell out of the
    /// window jumps to the next write index (as a client does on 470). `Ok(None)` once the
    /// channel is closed.
    ///
    /// Errors: [`TrickleError::StreamNotFound`] when the channel does not exist (it was
    /// never created, or closed and removed before this call).
    pub fn next_segment(&mut self) -> TrickleResult<Option<SegmentReader>> {
        let channel =
            self.server
                .channel(&self.channel)
                .ok_or_else(|| TrickleError::StreamNotFound {
                    channel: self.channel.clone(),
                })?;
        for _ in 0..2 {
            match channel.open_read(self.next) {
                ReadOpen::Found { segment, latest } => {
                    self.next = ReadSeq::Seq(segment.seq().saturating_add(1));
                    return Ok(Some(SegmentReader::new(&channel, segment, latest)));
                }
                ReadOpen::Missing { closed: true, .. } => return Ok(None),
                ReadOpen::Missing { seq, latest, .. } => {
                    debug!(
                        channel = self.channel,
                        seq, latest, "trickle local subscriber jumps"
                    );
                    self.next = ReadSeq::Seq(latest);
                }
            }
        }
        // The next write index is always readable (pre-created) unless the channel closed.
        Ok(None)
    }
}

/// A reader of one segment, from its first byte: chunks as they are written, end when the
/// segment is closed. The chunks are the stored bytes themselves (no copy).
#[derive(Debug)]
pub struct SegmentReader {
    cursor: SegmentCursor,
    latest: u64,
    content_type: String,
}

impl SegmentReader {
    pub(crate) fn new(channel: &Channel, segment: Arc<Segment>, latest: u64) -> Self {
        Self {
            cursor: SegmentCursor::new(segment),
            latest,
            content_type: channel.mime().to_string(),
        }
    }

    /// The segment's sequence number.
    pub fn seq(&self) -> u64 {
        self.cursor.segment().seq()
    }

    /// The channel's next write index when the segment was opened (`Lp-Trickle-Latest`).
    pub fn latest(&self) -> u64 {
        self.latest
    }

    /// The channel's mime type (may be empty).
    pub fn content_type(&self) -> &str {
        &self.content_type
    }

    /// The next bytes, waiting while the segment is being written; `None` at its end.
    pub async fn chunk(&mut self) -> Option<Bytes> {
        self.cursor.next_chunk().await
    }

    /// The whole segment, waiting for its end.
    ///
    /// Errors: [`TrickleError::SegmentTooLarge`] past `max_bytes`.
    pub async fn read_to_end(mut self, max_bytes: u64) -> TrickleResult<Bytes> {
        let mut out = BytesMut::new();
        while let Some(chunk) = self.chunk().await {
            if out.len() as u64 + chunk.len() as u64 > max_bytes {
                return Err(TrickleError::SegmentTooLarge { max_bytes });
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out.freeze())
    }
}
