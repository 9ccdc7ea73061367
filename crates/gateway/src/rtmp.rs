//! RTMP ingest (`-rtmpAddr`): a broadcaster streams RTMP to the gateway, which cuts the stream
//! into segments of about [`SEGMENT_TIME`] on keyframes as it arrives and sends each through
//! the network like an HTTP push; HLS plays at `/stream/<manifest>.m3u8` while it streams, and
//! as VOD once it ends.
//!
//! The RTMP protocol (handshake, chunk stream, AMF0 commands) is `scuffle-rtmp`'s
//! [`ServerSession`]: a maintained pure-Rust server session over tokio that bounds what a peer
//! may send (messages of at most 10 MiB, four partial chunks, read timeouts). ffmpeg could
//! listen too, but one ffmpeg process takes one connection on one port, so it cannot serve
//! several broadcasters on 1935. The media never passes through our own parser: the session's
//! audio, video and metadata messages are written back as FLV tags into one ffmpeg per stream
//! (`-f flv -i pipe:0 -c copy -f segment`), which cuts MPEG-TS segments on keyframes and names
//! each one, with its start and end times, on its stdout (`-segment_list_type csv`).
//!
//! Stream names follow go-livepeer (`server/mediaserver.go:parseStreamID`): the path
//! `<app>/<stream name>` without its query, leading slashes, a `stream/` prefix and any `live/`,
//! and without an extension; its first element is the manifest ID (`rtmp://host/movie` and
//! OBS-style `rtmp://host/live/movie` both publish `movie`); an empty name gets a random one.
//! As in go-livepeer, one broadcaster at a time publishes a manifest (a second is
//! disconnected), `-maxSessions` bounds the live streams, and `-authWebhookUrl` is asked with
//! the `rtmp://` URL before the stream starts. A broadcaster that disconnects and reconnects
//! continues the same manifest: its segments go on after the last sequence number, one number
//! left out so the playlists mark the discontinuity ([`crate::hls::media_playlist`]).
//!
//! Bounds: at most [`MAX_CONNECTIONS`] connections; a broadcaster silent for 2.5 s is
//! disconnected (the session's read timeout); a stream whose segmenter has cut nothing
//! for [`SEGMENTER_TIMEOUT`], or has taken more than `-maxSegmentBytes`-worth of media since
//! its last cut (no keyframes), is disconnected; at most [`SEGMENT_QUEUE`] cut segments wait
//! for the network, and a newer segment is dropped (logged) rather than let a live stream fall
//! further behind.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use livepeer_media::live::{CutSegment, LiveSegmenter, LiveSegmenterArgs};
use livepeer_primitives::ManifestId;
use scuffle_rtmp::ServerSession;
use scuffle_rtmp::session::server::{ServerSessionError, SessionData, SessionHandler};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::dispatch::SourceSegment;
use crate::streams::{Gateway, PushInFlight, StreamSetup};

/// Target segment length (go-livepeer `server.SegLen`, 2 s): ffmpeg cuts at the first keyframe
/// after it.
pub const SEGMENT_TIME: Duration = Duration::from_secs(2);
/// A stream whose segmenter cut no segment for this long while media kept arriving is
/// disconnected (go-livepeer's segmenter times out too: "Ensure keyframe interval is less than
/// 8 seconds"; we allow more room for slow starts).
pub const SEGMENTER_TIMEOUT: Duration = Duration::from_secs(20);
/// Cut segments waiting for the network, per stream.
pub const SEGMENT_QUEUE: usize = 4;
/// RTMP connections served at once; more are closed on accept.
pub const MAX_CONNECTIONS: usize = 64;

/// The manifest ID a publish of `app` / `stream_name` names, by go-livepeer's rules (module
/// docs); `None` when the path names none (a random one is then used). The query (`?…`) of
/// either part is not part of the name.
pub fn manifest_from_path(app: &str, stream_name: &str) -> Option<String> {
    let app = app.split('?').next().unwrap_or("");
    let name = stream_name.split('?').next().unwrap_or("");
    let path = if name.is_empty() {
        app.to_string()
    } else {
        format!("{app}/{name}")
    };
    // go: StreamPrefix `^[ /]*(stream/)?|(live/)?` replaced everywhere.
    let trimmed = path.trim_start_matches([' ', '/']);
    let trimmed = trimmed.strip_prefix("stream/").unwrap_or(trimmed);
    let cleaned = trimmed.replace("live/", "");
    // go: path.Ext of the whole path, then the part before the first '/'.
    let without_ext = match cleaned.rfind('.') {
        Some(dot) if !cleaned[dot..].contains('/') => &cleaned[..dot],
        _ => &cleaned[..],
    };
    let manifest = without_ext.split('/').next().unwrap_or("");
    (!manifest.is_empty()).then(|| manifest.to_string())
}

/// The query string of a publish (what follows `?` in the stream name, else in the app).
pub fn publish_query(app: &str, stream_name: &str) -> String {
    stream_name
        .split_once('?')
        .or_else(|| app.split_once('?'))
        .map(|(_, q)| q.to_string())
        .unwrap_or_default()
}

/// Accepts RTMP connections on `listener` until `cancel` fires; then every connection is
/// closed and its stream ended as when its broadcaster leaves.
pub(crate) async fn serve(listener: TcpListener, gw: Arc<Gateway>, cancel: CancellationToken) {
    let local = listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
    info!(addr = %local, "RTMP ingest listening");
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let tasks = tokio_util::task::TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            _ = cancel.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let (socket, peer) = match accepted {
            Ok(a) => a,
            Err(err) => {
                debug!(%err, "RTMP accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            warn!(%peer, max = MAX_CONNECTIONS, "RTMP connection refused: too many connections");
            continue;
        };
        let gw = gw.clone();
        let cancel = cancel.clone();
        tasks.spawn(
            async move {
                connection(gw, socket, local, cancel).await;
                drop(slot);
            }
            .instrument(info_span!("rtmp", %peer)),
        );
    }
    tasks.close();
    tasks.wait().await;
}

/// One RTMP connection: its session runs until the peer leaves, the gateway stops, or the
/// ingest gives up on the stream; then the stream it published ends.
async fn connection(
    gw: Arc<Gateway>,
    socket: TcpStream,
    local: SocketAddr,
    cancel: CancellationToken,
) {
    let _ = socket.set_nodelay(true);
    let abort = cancel.child_token();
    let publishing = Arc::new(Mutex::new(None));
    let handler = Publisher {
        gw: gw.clone(),
        local,
        abort: abort.clone(),
        shutdown: cancel.clone(),
        publishing: publishing.clone(),
    };
    let session = ServerSession::new(socket, handler);
    tokio::select! {
        _ = abort.cancelled() => debug!("RTMP connection closed by the gateway"),
        ended = session.run() => match ended {
            Ok(_) => debug!("RTMP broadcaster left"),
            Err(err) => debug!(%err, "RTMP session ended"),
        },
    }
    let current = publishing.lock().await.take();
    if let Some(ingest) = current {
        ingest.finish(&gw).await;
    }
}

/// The [`SessionHandler`] of one connection: at most one published stream.
struct Publisher {
    gw: Arc<Gateway>,
    local: SocketAddr,
    /// Fired to close the connection (a refused publish, a stream the segmenter gave up on).
    abort: CancellationToken,
    /// The gateway's shutdown.
    shutdown: CancellationToken,
    publishing: Arc<Mutex<Option<Ingest>>>,
}

impl SessionHandler for Publisher {
    async fn on_publish(
        &mut self,
        _stream_id: u32,
        app_name: &str,
        stream_name: &str,
    ) -> Result<(), ServerSessionError> {
        let mut publishing = self.publishing.lock().await;
        if publishing.is_some() {
            warn!("RTMP: a second publish on one connection; closing it");
            self.abort.cancel();
            return Ok(());
        }
        let started = Ingest::start(
            &self.gw,
            self.local,
            app_name,
            stream_name,
            self.abort.clone(),
            self.shutdown.clone(),
        )
        .await;
        match started {
            Ok(ingest) => *publishing = Some(ingest),
            Err(err) => {
                warn!(app = app_name, stream = stream_name, %err, "RTMP publish refused");
                self.abort.cancel();
            }
        }
        Ok(())
    }

    async fn on_unpublish(&mut self, _stream_id: u32) -> Result<(), ServerSessionError> {
        let current = self.publishing.lock().await.take();
        if let Some(ingest) = current {
            ingest.finish(&self.gw).await;
        }
        Ok(())
    }

    async fn on_data(
        &mut self,
        _stream_id: u32,
        data: SessionData,
    ) -> Result<(), ServerSessionError> {
        let mut publishing = self.publishing.lock().await;
        let Some(ingest) = publishing.as_mut() else {
            return Ok(());
        };
        if let Err(err) = ingest.write(data).await {
            warn!(manifest_id = %ingest.manifest, %err, "RTMP stream dropped");
            self.abort.cancel();
        }
        Ok(())
    }
}

/// Why an RTMP publish was refused or its stream dropped.
#[derive(Debug, thiserror::Error)]
enum IngestError {
    #[error("invalid stream name: {0}")]
    Name(String),
    #[error("stream {0} is already being published")]
    AlreadyPublishing(String),
    #[error("RTMP ingest needs ffmpeg, which is not installed")]
    NoFfmpeg,
    #[error(transparent)]
    Gateway(#[from] crate::GatewayError),
    #[error("segmenter: {0}")]
    Segmenter(String),
    #[error("no segment cut for {secs} s (is the keyframe interval too long?)", secs = SEGMENTER_TIMEOUT.as_secs())]
    SegmenterTimeout,
    #[error("more than {limit} bytes since the last keyframe cut")]
    SegmentTooLarge { limit: usize },
}

/// A published stream: its ffmpeg segmenter and the task that sends its segments on.
struct Ingest {
    manifest: ManifestId,
    segmenter: Option<LiveSegmenter>,
    /// Messages held until the stream's tracks are known ([`TrackProbe`]), then written after
    /// the FLV header; `None` once written.
    pending: Option<TrackProbe>,
    sender: tokio::task::JoinHandle<()>,
    /// The manifest's RTMP claim, released once the segmenter has cut its last segment.
    claim: Option<Claim>,
    /// Cancelled when the stream is finished (stops the segmenter watchdog).
    done: CancellationToken,
    /// The gateway's shutdown: then queued segments are dropped rather than sent.
    shutdown: CancellationToken,
    /// A live-video-to-video stream (published with `?pipeline=`): its segments go to the
    /// live session instead of being transcoded.
    live: Option<Arc<crate::live::LiveStream>>,
    limit: usize,
}

impl Ingest {
    async fn start(
        gw: &Arc<Gateway>,
        local: SocketAddr,
        app: &str,
        stream_name: &str,
        abort: CancellationToken,
        shutdown: CancellationToken,
    ) -> Result<Self, IngestError> {
        let ffmpeg = gw.ffmpeg.clone().ok_or(IngestError::NoFfmpeg)?;
        let name = manifest_from_path(app, stream_name).unwrap_or_else(random_manifest);
        let manifest =
            ManifestId::new(name.clone()).map_err(|_| IngestError::Name(name.clone()))?;
        let url = format!("rtmp://{local}/{app}/{stream_name}");
        let (published, setup) = if gw.starts_stream(&manifest) {
            crate::routes::stream_setup_for_url(gw, url, &manifest, None).await?
        } else {
            (gw.resolve(&manifest), StreamSetup::default())
        };
        if !gw.claim_rtmp(&published) {
            return Err(IngestError::AlreadyPublishing(published.to_string()));
        }
        let claim = Claim {
            gw: gw.clone(),
            manifest: published.clone(),
        };
        let query = publish_query(app, stream_name);
        let asked = crate::live::LiveQuery::parse(&query);
        let (on_cut, sender, live): (Box<dyn FnMut(CutSegment) + Send>, _, _) = match asked.pipeline
        {
            Some(pipeline) => {
                // Real-time AI: the cuts go to the live session as they come. Params that
                // are not a JSON object are left out.
                let params = asked.params.unwrap_or_else(|_| serde_json::json!({}));
                let outputs = asked.rtmp_output.into_iter().collect();
                let live = gw
                    .start_live(&published, &pipeline, params, outputs)
                    .await?;
                // A live stream that ends with no orchestrator left disconnects its
                // broadcaster (go-livepeer's `kickInput`), so it can reconnect.
                let (ended, kick) = (live.ended(), abort.clone());
                tokio::spawn(async move {
                    tokio::select! {
                        _ = ended.cancelled() => kick.cancel(),
                        _ = kick.cancelled() => {}
                    }
                });
                let (queue, segments) = mpsc::channel::<Bytes>(SEGMENT_QUEUE);
                let manifest = published.clone();
                let on_cut = move |cut: CutSegment| {
                    if queue.try_send(cut.data).is_err() {
                        warn!(manifest_id = %manifest, "segment dropped: the live session is behind the stream");
                    }
                };
                let sender = tokio::spawn(
                    publish_live(live.clone(), segments)
                        .instrument(info_span!("rtmp_live", manifest_id = %published)),
                );
                (Box::new(on_cut), sender, Some(live))
            }
            None => {
                let stream = gw.stream_for_push(&published, setup)?;
                // Each cut gets the stream's next sequence number at once, in cut order,
                // and waits in a short queue for the network.
                let (queue, segments) = mpsc::channel(SEGMENT_QUEUE);
                let numbered = stream.stream();
                let mut first = true;
                let on_cut = move |cut: CutSegment| {
                    let seq = numbered.next_ingest_seq(first);
                    first = false;
                    let queued = Cut {
                        seq,
                        data: cut.data,
                        duration: cut.duration,
                    };
                    if queue.try_send(queued).is_err() {
                        warn!(manifest_id = %numbered.manifest, seq, "segment dropped: the network is behind the live stream");
                    }
                };
                let sender = tokio::spawn(
                    send_segments(gw.clone(), stream, segments)
                        .instrument(info_span!("rtmp_stream", manifest_id = %published)),
                );
                (Box::new(on_cut), sender, None)
            }
        };
        let args = LiveSegmenterArgs {
            input: vec!["-f".into(), "flv".into()],
            output: ["-map", "0:v?", "-map", "0:a?", "-c", "copy"]
                .map(String::from)
                .to_vec(),
            segment_time: SEGMENT_TIME,
        };
        let segmenter = LiveSegmenter::start(&ffmpeg, args, on_cut)
            .await
            .map_err(|e| IngestError::Segmenter(e.to_string()))?;
        info!(manifest_id = %published, %app, stream = stream_name, live = live.is_some(), "RTMP stream published");
        // The segmenter watchdog: no cut for SEGMENTER_TIMEOUT closes the connection.
        let done = CancellationToken::new();
        {
            let clock = segmenter.cut_clock();
            let abort = abort.clone();
            let done = done.clone();
            let manifest = published.clone();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tokio::select! {
                        _ = abort.cancelled() => break,
                        _ = done.cancelled() => break,
                        _ = tick.tick() => {}
                    }
                    if clock.elapsed() >= SEGMENTER_TIMEOUT {
                        warn!(manifest_id = %manifest, err = %IngestError::SegmenterTimeout, "RTMP stream dropped");
                        abort.cancel();
                        break;
                    }
                }
            });
        }
        Ok(Self {
            manifest: published,
            segmenter: Some(segmenter),
            pending: Some(TrackProbe::default()),
            sender,
            claim: Some(claim),
            done,
            shutdown,
            live,
            limit: gw.config.max_segment_bytes,
        })
    }

    /// Writes one RTMP message to the segmenter as an FLV tag (the first ones once the
    /// stream's tracks are known, after the FLV header that names them).
    async fn write(&mut self, data: SessionData) -> Result<(), IngestError> {
        let tag = match data {
            SessionData::Audio { timestamp, data } => Tag::new(FLV_AUDIO, timestamp, data),
            SessionData::Video { timestamp, data } => Tag::new(FLV_VIDEO, timestamp, data),
            SessionData::Amf0 { timestamp, data } => {
                Tag::new(FLV_SCRIPT, timestamp, strip_set_data_frame(data))
            }
        };
        let Some(segmenter) = self.segmenter.as_mut() else {
            return Ok(());
        };
        let failed = |e: livepeer_media::MediaError| {
            IngestError::Segmenter(format!("ffmpeg stopped reading: {e}"))
        };
        if let Some(probe) = self.pending.as_mut() {
            probe.push(tag);
            if !probe.known() {
                return Ok(());
            }
            let probe = self.pending.take().unwrap_or_default();
            segmenter.write(&probe.header()).await.map_err(failed)?;
            for tag in &probe.tags {
                segmenter.write(&tag.encode()).await.map_err(failed)?;
            }
            return Ok(());
        }
        if segmenter.bytes_since_cut() > self.limit as u64 {
            return Err(IngestError::SegmentTooLarge { limit: self.limit });
        }
        segmenter.write(&tag.encode()).await.map_err(failed)
    }

    /// Ends the stream: the segmenter gets end of input and cuts its last segment, every cut
    /// segment is sent, then the stream ends (its playlists turn VOD) unless a reconnected
    /// broadcaster has taken it over meanwhile.
    async fn finish(mut self, gw: &Gateway) {
        self.done.cancel();
        if let Some(segmenter) = self.segmenter.take()
            && let Err(err) = segmenter.finish().await
        {
            debug!(manifest_id = %self.manifest, %err, "segmenter ended with an error");
        }
        // Every segment has its sequence number now: a reconnecting broadcaster may take
        // the manifest over while the last ones are sent.
        drop(self.claim.take());
        tokio::select! {
            _ = &mut self.sender => {}
            _ = self.shutdown.cancelled() => self.sender.abort(),
        }
        if let Some(live) = &self.live {
            // The orchestrator ends the session; its output's end ends the stream.
            live.finish().await;
        } else if !gw.rtmp_publishing(&self.manifest) {
            gw.end_stream(self.manifest.as_str()).await;
        }
        info!(manifest_id = %self.manifest, "RTMP stream ended");
    }
}

/// Releases a manifest's RTMP claim.
struct Claim {
    gw: Arc<Gateway>,
    manifest: ManifestId,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.gw.release_rtmp(&self.manifest);
    }
}

/// A cut segment waiting for the network.
struct Cut {
    seq: u64,
    data: Bytes,
    duration: Duration,
}

/// Sends a stream's cut segments through the network, one at a time in order; the stream is
/// not idle while this runs.
async fn send_segments(gw: Arc<Gateway>, stream: PushInFlight, mut segments: mpsc::Receiver<Cut>) {
    while let Some(Cut {
        seq,
        data,
        duration,
    }) = segments.recv().await
    {
        let input = crate::routes::probe_input(&gw, &data)
            .await
            .unwrap_or_default();
        let segment = SourceSegment {
            manifest: stream.manifest.clone(),
            seq,
            duration,
            data,
            slice: None,
            input,
            storage: None,
        };
        match gw
            .process_segment(&stream, segment)
            .instrument(info_span!("segment", seq))
            .await
        {
            Ok(renditions) => debug!(
                seq,
                renditions = renditions.len(),
                "RTMP segment transcoded"
            ),
            Err(err) => warn!(seq, %err, "RTMP segment not transcoded"),
        }
        gw.after_push(&stream).await;
    }
}

/// Publishes a live stream's cuts to its session, in order.
async fn publish_live(live: Arc<crate::live::LiveStream>, mut segments: mpsc::Receiver<Bytes>) {
    while let Some(data) = segments.recv().await {
        live.publish(data).await;
    }
}

fn random_manifest() -> String {
    hex::encode(rand::random::<[u8; 8]>())
}

const FLV_AUDIO: u8 = 8;
const FLV_VIDEO: u8 = 9;
const FLV_SCRIPT: u8 = 18;
/// How much media is held to learn the stream's tracks: a track that has not shown up within
/// this much of the other's timeline is taken as absent.
const TRACK_PROBE_SPAN_MS: u32 = 1000;
/// At most this many bytes are held while learning the tracks.
const TRACK_PROBE_BYTES: usize = 4 << 20;

/// One FLV tag.
struct Tag {
    kind: u8,
    timestamp: u32,
    data: Bytes,
}

impl Tag {
    fn new(kind: u8, timestamp: u32, data: Bytes) -> Self {
        Self {
            kind,
            timestamp,
            data,
        }
    }

    /// The tag (type, 24-bit size, 24+8-bit timestamp in ms, stream ID 0, data) followed by
    /// its PreviousTagSize. RTMP messages are at most 16 MiB (a 24-bit length), so the size
    /// always fits.
    fn encode(&self) -> Vec<u8> {
        let size = u32::try_from(self.data.len()).unwrap_or(u32::MAX) & 0x00ff_ffff;
        let mut tag = Vec::with_capacity(self.data.len() + 15);
        tag.push(self.kind);
        tag.extend_from_slice(&size.to_be_bytes()[1..]);
        tag.extend_from_slice(&self.timestamp.to_be_bytes()[1..]);
        tag.push(self.timestamp.to_be_bytes()[0]);
        tag.extend_from_slice(&[0, 0, 0]);
        tag.extend_from_slice(&self.data[..size as usize]);
        tag.extend_from_slice(&(size + 11).to_be_bytes());
        tag
    }
}

/// The first messages of a stream, held until it is known which tracks it has: the FLV
/// header must name them, or ffmpeg's probe waits for a track that never comes (reading its
/// whole probe size, seconds of a live stream, before cutting anything).
#[derive(Default)]
struct TrackProbe {
    tags: Vec<Tag>,
    bytes: usize,
    first_audio: Option<u32>,
    first_video: Option<u32>,
    last: u32,
}

impl TrackProbe {
    fn push(&mut self, tag: Tag) {
        match tag.kind {
            FLV_AUDIO => {
                self.first_audio.get_or_insert(tag.timestamp);
            }
            FLV_VIDEO => {
                self.first_video.get_or_insert(tag.timestamp);
            }
            _ => {}
        }
        if tag.kind != FLV_SCRIPT {
            self.last = self.last.max(tag.timestamp);
        }
        self.bytes += tag.data.len();
        self.tags.push(tag);
    }

    /// Both tracks seen, or one seen for [`TRACK_PROBE_SPAN_MS`] without the other, or
    /// [`TRACK_PROBE_BYTES`] held.
    fn known(&self) -> bool {
        let spanned = |first: Option<u32>| {
            first.is_some_and(|t| self.last.saturating_sub(t) >= TRACK_PROBE_SPAN_MS)
        };
        (self.first_audio.is_some() && self.first_video.is_some())
            || spanned(self.first_audio)
            || spanned(self.first_video)
            || self.bytes >= TRACK_PROBE_BYTES
    }

    /// `FLV`, version 1, the tracks seen (audio 0x04, video 0x01), header size 9, then
    /// PreviousTagSize0 = 0.
    fn header(&self) -> [u8; 13] {
        let flags = if self.first_audio.is_some() { 0x04 } else { 0 }
            | if self.first_video.is_some() { 0x01 } else { 0 };
        [b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0]
    }
}

/// An RTMP `@setDataFrame` metadata message without that first AMF0 string, as FLV files
/// carry it (`onMetaData`, …).
fn strip_set_data_frame(data: Bytes) -> Bytes {
    const PREFIX: &[u8] = b"\x02\x00\x0d@setDataFrame";
    if data.starts_with(PREFIX) {
        data.slice(PREFIX.len()..)
    } else {
        data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names_follow_go_livepeer() {
        let cases = [
            ("movie", "", Some("movie")),
            ("live", "movie", Some("movie")),
            ("stream", "movie", Some("movie")),
            ("stream", "abc/def", Some("abc")),
            ("app", "key", Some("app")),
            ("live", "key?pipeline=noop&params={}", Some("key")),
            ("live", "clip.flv", Some("clip")),
            ("live", "", Some("live")),
            ("", "", None),
            ("/stream", "live/x", Some("x")),
        ];
        for (app, name, want) in cases {
            assert_eq!(
                manifest_from_path(app, name).as_deref(),
                want,
                "{app:?} {name:?}"
            );
        }
        assert_eq!(publish_query("live", "key?pipeline=noop"), "pipeline=noop");
        assert_eq!(publish_query("live?a=1", "key"), "a=1");
        assert_eq!(publish_query("live", "key"), "");
    }

    #[test]
    fn flv_tags_are_framed() {
        let tag = Tag::new(FLV_VIDEO, 0x0123_4567, Bytes::from_static(b"abc")).encode();
        assert_eq!(
            tag,
            [
                9, 0, 0, 3, 0x23, 0x45, 0x67, 0x01, 0, 0, 0, b'a', b'b', b'c', 0, 0, 0, 14
            ]
        );
        let meta = Bytes::from_static(b"\x02\x00\x0d@setDataFrame\x02\x00\x0aonMetaData");
        assert_eq!(&strip_set_data_frame(meta)[..], b"\x02\x00\x0aonMetaData");
    }

    #[test]
    fn the_header_names_the_tracks_the_stream_has() {
        let tag = |kind, ms| Tag::new(kind, ms, Bytes::from_static(b"x"));
        // Video only: known once a second of video came without audio.
        let mut probe = TrackProbe::default();
        probe.push(tag(FLV_SCRIPT, 0));
        for ms in (0..1000).step_by(40) {
            probe.push(tag(FLV_VIDEO, ms));
            assert!(!probe.known(), "{ms}");
        }
        probe.push(tag(FLV_VIDEO, 1000));
        assert!(probe.known());
        assert_eq!(probe.header()[4], 0x01);
        // Audio and video: known at once.
        let mut probe = TrackProbe::default();
        probe.push(tag(FLV_VIDEO, 0));
        probe.push(tag(FLV_AUDIO, 0));
        assert!(probe.known());
        assert_eq!(probe.header()[4], 0x05);
        assert_eq!(&probe.header()[..4], b"FLV\x01");
    }
}
