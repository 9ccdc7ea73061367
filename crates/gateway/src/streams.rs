//! Streams, their orchestrator sessions and their renditions.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use hyper::Uri;
use livepeer_primitives::profile::VideoProfile;
use livepeer_primitives::{Capabilities, ManifestId};
use tracing::{debug, info, warn};

use crate::client::OrchestratorClient;
use crate::discovery::discover;
use crate::dispatch::{
    BroadcastSession, SourceSegment, TranscodedRendition, job_capabilities, submit_segment,
};
use crate::hls::{self, Entry, Variant};
use crate::{GatewayConfig, GatewayError};

/// Segments kept in memory per stream (one hour of 2 s segments); older ones are dropped.
pub const MAX_SEGMENTS_KEPT: usize = 1800;
/// How long an ended stream stays playable (as VOD) before its renditions are dropped.
pub const ENDED_STREAM_RETENTION: Duration = Duration::from_secs(30 * 60);
/// How many orchestrators a stream keeps sessions with (go-livepeer: 2 × 8 s / 2 s).
pub const SESSIONS_PER_STREAM: usize = 8;

/// The gateway's shared state.
#[derive(Debug)]
pub(crate) struct Gateway {
    pub(crate) config: GatewayConfig,
    pub(crate) client: OrchestratorClient,
    streams: Mutex<HashMap<ManifestId, Arc<Stream>>>,
    /// Suspended orchestrators and the discovery round until which they stay suspended
    /// (go-livepeer `server/suspensions.go`).
    suspended: Mutex<HashMap<Uri, u64>>,
    discovery_round: std::sync::atomic::AtomicU64,
}

/// One pushed stream.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) manifest: ManifestId,
    pub(crate) profiles: Vec<VideoProfile>,
    /// Orchestrator sessions, preferred first.
    sessions: tokio::sync::Mutex<Vec<BroadcastSession>>,
    media: Mutex<StreamMedia>,
}

#[derive(Debug, Default)]
struct StreamMedia {
    /// Per sequence number: duration and rendition bytes by profile name.
    segments: BTreeMap<u64, (Duration, HashMap<String, Bytes>)>,
    /// Whether the push ended (playlists are VOD).
    ended: bool,
    last_push: Option<Instant>,
}

impl Gateway {
    pub(crate) fn new(config: GatewayConfig) -> Self {
        Self {
            config,
            client: OrchestratorClient::new(),
            streams: Mutex::new(HashMap::new()),
            suspended: Mutex::new(HashMap::new()),
            discovery_round: Default::default(),
        }
    }

    /// The stream `manifest`, created (or restarted, if it had ended) on push.
    pub(crate) fn stream_for_push(&self, manifest: &ManifestId) -> Arc<Stream> {
        let mut streams = lock(&self.streams);
        let stream = streams
            .entry(manifest.clone())
            .or_insert_with(|| {
                info!(manifest_id = %manifest, "stream started");
                Arc::new(Stream {
                    manifest: manifest.clone(),
                    profiles: self.config.profiles.clone(),
                    sessions: tokio::sync::Mutex::new(Vec::new()),
                    media: Mutex::new(StreamMedia::default()),
                })
            })
            .clone();
        let mut media = lock(&stream.media);
        media.ended = false;
        media.last_push = Some(Instant::now());
        drop(media);
        stream
    }

    /// An existing stream.
    pub(crate) fn stream(&self, manifest: &str) -> Option<Arc<Stream>> {
        let id = ManifestId::new(manifest).ok()?;
        lock(&self.streams).get(&id).cloned()
    }

    /// Transcodes one segment: up to `-maxAttempts` attempts, suspending and swapping out an
    /// orchestrator after each retryable failure (go-livepeer `server/broadcast.go:processSegment`).
    pub(crate) async fn process_segment(
        &self,
        stream: &Stream,
        segment: SourceSegment,
    ) -> Result<Vec<TranscodedRendition>, GatewayError> {
        let job = job_capabilities(&stream.profiles, segment.slice.is_some());
        let mut last_error = GatewayError::NoSessions;
        for attempt in 1..=self.config.max_attempts.max(1) {
            let Some(session) = self.select_session(stream, &job).await else {
                return Err(last_error);
            };
            let started = Instant::now();
            match submit_segment(&self.client, &session, &segment, &stream.profiles, &job).await {
                Ok(renditions) => {
                    debug!(manifest_id = %stream.manifest, seq = segment.seq, orch = %session.addr, attempt, elapsed = ?started.elapsed(), "segment transcoded");
                    self.store(stream, &segment, &renditions);
                    return Ok(renditions);
                }
                Err(err) if !err.is_retryable() => {
                    warn!(manifest_id = %stream.manifest, seq = segment.seq, orch = %session.addr, %err, "segment failed for good");
                    return Err(err);
                }
                Err(err) => {
                    warn!(manifest_id = %stream.manifest, seq = segment.seq, orch = %session.addr, attempt, %err, "segment failed; swapping orchestrator");
                    self.suspend_and_remove(stream, &session).await;
                    last_error = err;
                }
            }
        }
        Err(last_error)
    }

    /// The session for the next segment: the preferred one, refreshed when its auth token is
    /// near expiry; a discovery round when the stream has none.
    async fn select_session(
        &self,
        stream: &Stream,
        job: &Capabilities,
    ) -> Option<BroadcastSession> {
        let mut sessions = stream.sessions.lock().await;
        if sessions.is_empty() {
            *sessions = self.discover_sessions(job).await;
        }
        while let Some(first) = sessions.first().cloned() {
            if !first.needs_refresh(SystemTime::now()) {
                return Some(first);
            }
            let request = livepeer_proto::net::OrchestratorRequest {
                capabilities: Some(livepeer_proto::convert::capabilities_to_net(job)),
                ..Default::default()
            };
            match self.client.get_orchestrator(&first.addr, request).await {
                Ok(info) => {
                    match BroadcastSession::from_info(first.addr.clone(), info, first.latency) {
                        Ok(fresh) => {
                            sessions[0] = fresh.clone();
                            return Some(fresh);
                        }
                        Err(err) => warn!(%err, "session refresh gave an unusable answer"),
                    }
                }
                Err(err) => warn!(%err, "session refresh failed"),
            }
            sessions.remove(0);
        }
        None
    }

    async fn discover_sessions(&self, job: &Capabilities) -> Vec<BroadcastSession> {
        let round = self
            .discovery_round
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel)
            + 1;
        let (active, suspended): (Vec<Uri>, Vec<Uri>) = {
            let mut table = lock(&self.suspended);
            table.retain(|_, until| *until >= round);
            self.config
                .orch_addrs
                .iter()
                .cloned()
                .partition(|addr| !table.contains_key(addr))
        };
        let mut found = discover(
            &self.client,
            &active,
            job,
            SESSIONS_PER_STREAM,
            self.config.discovery_timeout,
        )
        .await;
        if found.is_empty() && !suspended.is_empty() {
            // Suspended orchestrators are used only when nothing else answers.
            found = discover(
                &self.client,
                &suspended,
                job,
                SESSIONS_PER_STREAM,
                self.config.discovery_timeout,
            )
            .await;
        }
        found
            .into_iter()
            .filter_map(
                |c| match BroadcastSession::from_info(c.addr, c.info, c.latency) {
                    Ok(session) => Some(session),
                    Err(err) => {
                        warn!(%err, "unusable orchestrator");
                        None
                    }
                },
            )
            .collect()
    }

    async fn suspend_and_remove(&self, stream: &Stream, session: &BroadcastSession) {
        let round = self
            .discovery_round
            .load(std::sync::atomic::Ordering::Acquire);
        // go-livepeer's penalty: ceil(pool size / sessions per stream) discovery rounds.
        let penalty = self
            .config
            .orch_addrs
            .len()
            .div_ceil(SESSIONS_PER_STREAM)
            .max(1) as u64;
        lock(&self.suspended).insert(session.addr.clone(), round + penalty);
        stream
            .sessions
            .lock()
            .await
            .retain(|s| s.addr != session.addr);
    }

    fn store(&self, stream: &Stream, segment: &SourceSegment, renditions: &[TranscodedRendition]) {
        let mut media = lock(&stream.media);
        let by_profile = renditions
            .iter()
            .map(|r| (r.profile.name.clone(), r.data.clone()))
            .collect();
        media
            .segments
            .insert(segment.seq, (segment.duration, by_profile));
        while media.segments.len() > MAX_SEGMENTS_KEPT {
            media.segments.pop_first();
        }
    }

    /// Marks `manifest` ended (its playlists become VOD) and closes its orchestrator sessions.
    pub(crate) async fn end_stream(&self, manifest: &str) -> bool {
        let Some(stream) = self.stream(manifest) else {
            return false;
        };
        let already_ended = std::mem::replace(&mut lock(&stream.media).ended, true);
        let sessions = std::mem::take(&mut *stream.sessions.lock().await);
        for session in sessions {
            if let Err(err) = self
                .client
                .end_session(&session.addr, session.auth_token)
                .await
            {
                debug!(%err, "EndTranscodingSession failed");
            }
        }
        if !already_ended {
            info!(manifest_id = %manifest, "stream ended");
        }
        true
    }

    pub(crate) async fn end_idle_streams(&self) {
        let idle: Vec<String> = lock(&self.streams)
            .values()
            .filter(|s| {
                let media = lock(&s.media);
                !media.ended
                    && media
                        .last_push
                        .is_some_and(|t| t.elapsed() >= self.config.push_idle_timeout)
            })
            .map(|s| s.manifest.to_string())
            .collect();
        for manifest in idle {
            self.end_stream(&manifest).await;
        }
        // Ended streams stay playable as VOD for a while, then their memory is freed.
        lock(&self.streams).retain(|manifest, s| {
            let media = lock(&s.media);
            let keep = !media.ended
                || media
                    .last_push
                    .is_none_or(|t| t.elapsed() < ENDED_STREAM_RETENTION);
            if !keep {
                info!(manifest_id = %manifest, "ended stream removed");
            }
            keep
        });
    }

    pub(crate) async fn end_all_streams(&self) {
        let all: Vec<String> = lock(&self.streams).keys().map(|m| m.to_string()).collect();
        for manifest in all {
            self.end_stream(&manifest).await;
        }
    }
}

impl Stream {
    /// The master playlist.
    pub(crate) fn master_playlist(&self) -> String {
        let variants: Vec<Variant> = self
            .profiles
            .iter()
            .map(|p| Variant {
                name: p.name.clone(),
                bandwidth_bps: p.bitrate_bps,
                resolution: Some((p.width, p.height)),
            })
            .collect();
        hls::master_playlist(self.manifest.as_str(), &variants)
    }

    /// The media playlist of `profile`, if the stream has that rendition.
    pub(crate) fn media_playlist(&self, profile: &str) -> Option<String> {
        self.profiles.iter().find(|p| p.name == profile)?;
        let media = lock(&self.media);
        let entries: Vec<Entry> = media
            .segments
            .iter()
            .filter(|(_, (_, renditions))| renditions.contains_key(profile))
            .map(|(&seq, (duration, _))| Entry {
                seq,
                duration: *duration,
            })
            .collect();
        Some(hls::media_playlist(profile, &entries, media.ended))
    }

    /// One rendition segment.
    pub(crate) fn segment(&self, profile: &str, seq: u64) -> Option<Bytes> {
        lock(&self.media)
            .segments
            .get(&seq)?
            .1
            .get(profile)
            .cloned()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
