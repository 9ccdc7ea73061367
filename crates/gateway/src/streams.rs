//! Streams, their orchestrator sessions and their renditions.
//!
//! Memory is bounded: at most `-maxSessions` live streams; rendition bytes per stream
//! ([`DEFAULT_MAX_RETAINED_BYTES_PER_STREAM`], oldest segments dropped first) and for the
//! whole gateway ([`DEFAULT_MAX_RETAINED_BYTES`], oldest ended streams dropped first, then the
//! oldest segments of the largest live stream); at most [`MAX_ENDED_STREAMS_KEPT`] ended
//! streams, each for at most [`ENDED_STREAM_RETENTION`].

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use hyper::Uri;
use livepeer_primitives::profile::VideoProfile;
use livepeer_primitives::{Capabilities, ManifestId};
use tracing::{debug, error, info, warn};

use crate::client::OrchestratorClient;
use crate::discovery::discover_with;
use crate::dispatch::{
    BroadcastSession, SegmentStorage, SourceSegment, TranscodedRendition, job_capabilities, submit,
};
use crate::hls::{self, Entry, Variant};
use crate::payment::Payments;
use crate::storage::{Recording, StreamStorage, Track, storage_capability};
use crate::{GatewayConfig, GatewayError};

/// Rendition bytes kept per stream: 64 MiB, about 6 minutes of the default two-rung ladder
/// (measured: ~11 MB per minute of video). The live window needs far less; the rest serves
/// the VOD playlist of a short stream after its push ends. Oldest segments are dropped first.
pub const DEFAULT_MAX_RETAINED_BYTES_PER_STREAM: u64 = 64 * 1024 * 1024;
/// Rendition bytes kept by the whole gateway: 1 GiB, room for `-maxSessions` (10) full live
/// streams plus ended ones. Past it the oldest ended streams go first.
pub const DEFAULT_MAX_RETAINED_BYTES: u64 = 1024 * 1024 * 1024;
/// Ended streams kept playable (as VOD) at most; the oldest ended go first.
pub const MAX_ENDED_STREAMS_KEPT: usize = 1024;
/// How long an ended stream stays playable (as VOD) at most before it is dropped.
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
    /// Suspensions so far, per orchestrator.
    suspensions: Mutex<HashMap<Uri, u64>>,
    discovery_round: AtomicU64,
    /// Rendition bytes held by every stream in `streams`, together.
    retained: AtomicU64,
    /// Push bodies in flight, in MiB permits (see [`GatewayConfig::max_inflight_push_bytes`]).
    push_budget: tokio::sync::Semaphore,
    push_budget_mib: u32,
    /// On chain: the ticket sender and balances.
    payments: Option<Payments>,
    /// Segments each orchestrator (by service URI) transcoded.
    transcoded_by: Mutex<HashMap<Uri, u64>>,
    /// ffprobe, for the source's codecs (go-livepeer probes every push with lpms); `None`
    /// when ffmpeg is not installed, and then pushes go out unprobed.
    pub(crate) ffmpeg: Option<livepeer_media::Ffmpeg>,
}

/// One pushed stream.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) manifest: ManifestId,
    pub(crate) profiles: Vec<VideoProfile>,
    /// The stream's object store and record store.
    pub(crate) storage: StreamStorage,
    /// With a record store: the recording.
    recording: Option<Arc<Recording>>,
    /// Orchestrator sessions, preferred first.
    sessions: tokio::sync::Mutex<Vec<BroadcastSession>>,
    media: Mutex<StreamMedia>,
}

#[derive(Debug, Default)]
struct StreamMedia {
    /// Per sequence number: duration and rendition bytes by profile name.
    segments: BTreeMap<u64, (Duration, HashMap<String, Bytes>)>,
    /// Rendition bytes in `segments`.
    bytes: u64,
    /// Whether the push ended (playlists are VOD).
    ended: bool,
    /// When it ended.
    ended_at: Option<Instant>,
    /// Dropped from the gateway: nothing more is stored (a push still holding it finishes).
    removed: bool,
    /// Pushes being processed; a stream with one in flight is not idle (go-livepeer kicks its
    /// push watchdog during long transcodes).
    in_flight: usize,
    /// When the last push arrived or finished.
    last_push: Option<Instant>,
}

impl StreamMedia {
    /// Drops the oldest segment; returns its bytes.
    fn pop_oldest(&mut self) -> u64 {
        let freed = self
            .segments
            .pop_first()
            .map_or(0, |(_, (_, renditions))| rendition_bytes(&renditions));
        self.bytes -= freed;
        freed
    }
}

fn rendition_bytes(renditions: &HashMap<String, Bytes>) -> u64 {
    renditions.values().map(|b| b.len() as u64).sum()
}

impl Gateway {
    pub(crate) fn new(config: GatewayConfig) -> Self {
        let config_payments = config.payments.clone().map(Payments::new);
        let budget_mib = u32::try_from(config.max_inflight_push_bytes >> 20)
            .unwrap_or(u32::MAX)
            .max(1);
        Self {
            config,
            client: OrchestratorClient::new(),
            streams: Mutex::new(HashMap::new()),
            suspended: Mutex::new(HashMap::new()),
            suspensions: Mutex::new(HashMap::new()),
            discovery_round: Default::default(),
            retained: AtomicU64::new(0),
            push_budget: tokio::sync::Semaphore::new(budget_mib as usize),
            push_budget_mib: budget_mib,
            payments: config_payments,
            transcoded_by: Mutex::new(HashMap::new()),
            ffmpeg: livepeer_media::Ffmpeg::locate()
                .inspect_err(|err| warn!(%err, "pushed segments will not be probed"))
                .ok(),
        }
    }

    /// Takes room for a push body of `bytes` in the gateway's in-flight budget, waiting up
    /// to `wait` for other pushes to finish; the room is given back when the permit drops.
    ///
    /// Errors: [`GatewayError::Busy`] when no room frees up in time.
    pub(crate) async fn reserve_push_bytes(
        &self,
        bytes: u64,
        wait: Duration,
    ) -> Result<tokio::sync::SemaphorePermit<'_>, GatewayError> {
        let mib = u32::try_from(bytes.div_ceil(1 << 20))
            .unwrap_or(u32::MAX)
            .clamp(1, self.push_budget_mib.max(1));
        match tokio::time::timeout(wait, self.push_budget.acquire_many(mib)).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(GatewayError::Busy {
                budget_bytes: u64::from(self.push_budget_mib) << 20,
            }),
        }
    }

    /// The stream `manifest`, created (or restarted, if it had ended) on push; the stream is
    /// not idle while the returned guard lives.
    ///
    /// Errors: [`GatewayError::TooManyStreams`] when that would make more than `-maxSessions`
    /// live streams (go-livepeer `server/mediaserver.go:createRTMPStreamIDHandler`).
    /// `profiles` is the ladder of a stream this push starts (from a
    /// `Livepeer-Transcode-Configuration` header); `None` means `-transcodingOptions`. As in
    /// go-livepeer, a stream keeps the ladder it started with.
    pub(crate) fn stream_for_push(
        &self,
        manifest: &ManifestId,
        profiles: Option<Vec<VideoProfile>>,
    ) -> Result<PushInFlight, GatewayError> {
        self.stream_for_push_with(manifest, profiles, None)
    }

    /// [`stream_for_push`](Self::stream_for_push) with the stores of a stream this push starts
    /// (from an auth-webhook answer, [`StreamStorage::with_urls`]); `None` means the flags'
    /// (`-objectStore`, `-recordStore`). As with the ladder, a stream keeps the stores it
    /// started with.
    pub(crate) fn stream_for_push_with(
        &self,
        manifest: &ManifestId,
        profiles: Option<Vec<VideoProfile>>,
        storage: Option<StreamStorage>,
    ) -> Result<PushInFlight, GatewayError> {
        let mut streams = lock(&self.streams);
        let max = self.config.max_sessions;
        let is_new = streams.get(manifest).is_none_or(|s| lock(&s.media).ended);
        if is_new && max > 0 {
            let live = streams.values().filter(|s| !lock(&s.media).ended).count();
            if live >= max {
                warn!(manifest_id = %manifest, live, max, "stream refused: too many streams");
                return Err(GatewayError::TooManyStreams { max });
            }
        }
        let stream = streams
            .entry(manifest.clone())
            .or_insert_with(|| {
                info!(manifest_id = %manifest, "stream started");
                let storage = storage.unwrap_or_else(|| StreamStorage::from_config(&self.config));
                let recording = storage.record_store.clone().map(|store| {
                    Arc::new(Recording::new(
                        store,
                        manifest.as_str(),
                        &self.config.node_id,
                    ))
                });
                Arc::new(Stream {
                    manifest: manifest.clone(),
                    profiles: profiles.unwrap_or_else(|| self.config.profiles.clone()),
                    storage,
                    recording,
                    sessions: tokio::sync::Mutex::new(Vec::new()),
                    media: Mutex::new(StreamMedia::default()),
                })
            })
            .clone();
        let mut media = lock(&stream.media);
        media.ended = false;
        media.ended_at = None;
        media.in_flight += 1;
        media.last_push = Some(Instant::now());
        drop(media);
        Ok(PushInFlight(stream))
    }

    /// The orchestrators left out of the next discovery round.
    pub(crate) fn suspended_orchestrators(&self) -> Vec<Uri> {
        let round = self.discovery_round.load(Ordering::Acquire);
        lock(&self.suspended)
            .iter()
            .filter(|&(_, &until)| until > round)
            .map(|(uri, _)| uri.clone())
            .collect()
    }

    /// Suspensions of `orch` so far.
    pub(crate) fn times_suspended(&self, orch: &Uri) -> u64 {
        lock(&self.suspensions).get(orch).copied().unwrap_or(0)
    }

    /// Streams pushed to and not ended.
    pub(crate) fn live_streams(&self) -> usize {
        lock(&self.streams)
            .values()
            .filter(|s| !lock(&s.media).ended)
            .count()
    }

    /// Rendition bytes held, all streams together.
    pub(crate) fn transcoded_by(&self) -> HashMap<Uri, u64> {
        lock(&self.transcoded_by).clone()
    }

    pub(crate) fn payment_stats(&self) -> Option<crate::payment::PaymentStats> {
        self.payments.as_ref().map(Payments::stats)
    }

    pub(crate) fn retained_bytes(&self) -> u64 {
        self.retained.load(Ordering::Acquire)
    }

    /// An existing stream.
    pub(crate) fn stream(&self, manifest: &str) -> Option<Arc<Stream>> {
        let id = ManifestId::new(manifest).ok()?;
        lock(&self.streams).get(&id).cloned()
    }

    /// Transcodes one segment: up to `-maxAttempts` attempts (go-livepeer
    /// `server/broadcast.go:processSegment`). After a retryable failure the orchestrator is
    /// suspended and swapped out, unless the failure is a refusal of the request itself
    /// ([`GatewayError::is_request_fault`]): then its session is only moved to the back.
    ///
    /// Errors: the first non-retryable error; [`GatewayError::MaxAttempts`] (422) once every
    /// attempt failed; [`GatewayError::NoSessions`] (503) when no session is left to try.
    pub(crate) async fn process_segment(
        &self,
        stream: &Stream,
        mut segment: SourceSegment,
    ) -> Result<Vec<TranscodedRendition>, GatewayError> {
        // go-livepeer's HTTP push always passes segment parameters to `JobCapabilities`, so
        // its jobs always need SegmentSlicing (26), sliced or not.
        let mut job = job_capabilities(&stream.profiles, true);
        for id in segment.input.ids() {
            job.bitstring.insert_id(id);
        }
        if let Some(recording) = &stream.recording {
            recording.record(
                Track::source(),
                segment.seq,
                segment.duration,
                segment.data.clone(),
            );
        }
        if let Some(store) = &stream.storage.object_store {
            segment.storage = Some(self.save_source(stream, &segment, store).await?);
            job.bitstring.insert(storage_capability(store.kind()));
        }
        job.min_version = self.config.orch_min_livepeer_version.clone();
        let attempts = self.config.max_attempts.max(1);
        let mut last_error = None;
        for attempt in 1..=attempts {
            let Some(session) = self.select_session(stream, &job).await else {
                if let Some(err) = &last_error {
                    warn!(manifest_id = %stream.manifest, seq = segment.seq, attempt, %err, "no session left to retry on");
                }
                return Err(GatewayError::NoSessions);
            };
            let started = Instant::now();
            let submitted = submit(
                &self.client,
                &session,
                &segment,
                &stream.profiles,
                &job,
                self.config.max_segment_bytes,
                self.payments.as_ref(),
            )
            .await;
            match submitted {
                Ok((renditions, info)) => {
                    debug!(manifest_id = %stream.manifest, seq = segment.seq, orch = %session.addr, attempt, elapsed = ?started.elapsed(), "segment transcoded");
                    self.store(stream, &segment, &renditions);
                    if let Some(recording) = &stream.recording {
                        for r in &renditions {
                            recording.record(
                                Track::rendition(&r.profile),
                                segment.seq,
                                segment.duration,
                                r.data.clone(),
                            );
                        }
                    }
                    *lock(&self.transcoded_by)
                        .entry(session.transcoder.clone())
                        .or_default() += 1;
                    if let Some(info) = info {
                        self.update_terms(stream, &session, &info).await;
                    }
                    return Ok(renditions);
                }
                Err(err @ GatewayError::SenderUnusable(_)) => {
                    // Unpaid work is never sent: the stream ends here.
                    error!(manifest_id = %stream.manifest, seq = segment.seq, %err, "ending the stream");
                    lock(&stream.media).ended = true;
                    lock(&stream.media)
                        .ended_at
                        .get_or_insert_with(Instant::now);
                    return Err(err);
                }
                Err(GatewayError::ParamsExpired(reason)) => {
                    debug!(orch = %session.addr, %reason, "refreshing the session");
                    self.refresh(stream, &session, &job).await;
                    last_error = Some(GatewayError::ParamsExpired(reason));
                }
                Err(err) if !err.is_retryable() => {
                    warn!(manifest_id = %stream.manifest, seq = segment.seq, orch = %session.addr, %err, "segment failed for good");
                    return Err(err);
                }
                Err(err) if err.is_request_fault() => {
                    warn!(manifest_id = %stream.manifest, seq = segment.seq, orch = %session.addr, attempt, %err, "orchestrator refused the request; trying the next");
                    self.demote(stream, &session).await;
                    last_error = Some(err);
                }
                Err(err) => {
                    warn!(manifest_id = %stream.manifest, seq = segment.seq, orch = %session.addr, attempt, %err, "segment failed; swapping orchestrator");
                    self.suspend_and_remove(stream, &session).await;
                    last_error = Some(err);
                }
            }
        }
        Err(match last_error {
            Some(last) => GatewayError::MaxAttempts {
                attempts,
                last: Box::new(last),
            },
            None => GatewayError::NoSessions,
        })
    }

    /// Saves the source segment to the stream's object store as `<manifest>/source/<seq>.ts`
    /// (go-livepeer `processSegment`).
    ///
    /// Errors: [`GatewayError::SaveSegment`] (the push answers 500 with the store's error).
    async fn save_source(
        &self,
        stream: &Stream,
        segment: &SourceSegment,
        store: &Arc<livepeer_objectstore::NodeStore>,
    ) -> Result<SegmentStorage, GatewayError> {
        let name = Track::source().object_name(segment.seq);
        match store
            .save(stream.manifest.as_str(), &name, segment.data.clone())
            .await
        {
            Ok(source_url) => {
                debug!(manifest_id = %stream.manifest, seq = segment.seq, url = %source_url, "source saved to the object store");
                Ok(SegmentStorage {
                    source_url,
                    store: store.clone(),
                })
            }
            Err(source) => {
                error!(manifest_id = %stream.manifest, seq = segment.seq, err = %source, "Error saving segment");
                Err(GatewayError::SaveSegment {
                    manifest: stream.manifest.to_string(),
                    seq: segment.seq,
                    source,
                })
            }
        }
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
            let expired = match (&self.payments, &first.terms) {
                (Some(payments), Some(terms)) => payments.params_expired(terms),
                _ => false,
            };
            if !expired && !first.needs_refresh(SystemTime::now()) {
                return Some(first);
            }
            match self.fresh_session(&first, job).await {
                Ok(fresh) => {
                    sessions[0] = fresh.clone();
                    return Some(fresh);
                }
                Err(err) => warn!(%err, "session refresh failed"),
            }
            let gone = sessions.remove(0);
            self.forget_terms(&gone);
        }
        None
    }

    /// A `GetOrchestrator` request for `job`, signed on chain.
    fn orchestrator_request(&self, job: &Capabilities) -> livepeer_proto::net::OrchestratorRequest {
        let mut request = livepeer_proto::net::OrchestratorRequest {
            capabilities: Some(livepeer_proto::convert::capabilities_to_net(job)),
            ..Default::default()
        };
        if let Some(payments) = &self.payments {
            payments.sign_request(&mut request);
        }
        request
    }

    /// `session` renewed with `GetOrchestrator`: a new auth token and, on chain, new ticket
    /// parameters and price (a price above twice the session's first one is refused).
    async fn fresh_session(
        &self,
        session: &BroadcastSession,
        job: &Capabilities,
    ) -> Result<BroadcastSession, GatewayError> {
        let info = self
            .client
            .get_orchestrator(&session.addr, self.orchestrator_request(job))
            .await?;
        self.session_from_info(
            session.addr.clone(),
            info,
            session.latency,
            session.terms.as_ref(),
        )
    }

    /// A session from an answer; on chain with its payment terms.
    fn session_from_info(
        &self,
        addr: Uri,
        info: livepeer_proto::net::OrchestratorInfo,
        latency: Duration,
        previous: Option<&crate::payment::SessionTerms>,
    ) -> Result<BroadcastSession, GatewayError> {
        let terms = match &self.payments {
            Some(payments) => Some(payments.terms(&addr.to_string(), &info, previous)?),
            None => None,
        };
        let mut session = BroadcastSession::from_info(addr, info, latency)?;
        session.terms = terms;
        Ok(session)
    }

    /// Replaces `session` in `stream` with a refreshed one, or drops it when the refresh fails.
    async fn refresh(&self, stream: &Stream, session: &BroadcastSession, job: &Capabilities) {
        let fresh = self.fresh_session(session, job).await;
        let mut sessions = stream.sessions.lock().await;
        let Some(i) = sessions.iter().position(|s| s.addr == session.addr) else {
            return;
        };
        match fresh {
            Ok(fresh) => sessions[i] = fresh,
            Err(err) => {
                warn!(%err, "session refresh failed; dropping the session");
                let gone = sessions.remove(i);
                self.forget_terms(&gone);
            }
        }
    }

    /// Takes the fresh ticket parameters a result came with into the stream's copy of the
    /// session; a price above twice the first drops the session.
    async fn update_terms(
        &self,
        stream: &Stream,
        session: &BroadcastSession,
        info: &livepeer_proto::net::OrchestratorInfo,
    ) {
        let Some(payments) = &self.payments else {
            return;
        };
        let mut sessions = stream.sessions.lock().await;
        let Some(i) = sessions.iter().position(|s| s.addr == session.addr) else {
            return;
        };
        if info.ticket_params.is_none() {
            return;
        }
        match payments.terms(&session.addr.to_string(), info, sessions[i].terms.as_ref()) {
            Ok(terms) => sessions[i].terms = Some(terms),
            Err(err) => {
                warn!(%err, "dropping the session");
                let gone = sessions.remove(i);
                self.forget_terms(&gone);
            }
        }
    }

    fn forget_terms(&self, session: &BroadcastSession) {
        if let (Some(payments), Some(terms)) = (&self.payments, &session.terms) {
            payments.end(terms);
        }
    }

    async fn discover_sessions(&self, job: &Capabilities) -> Vec<BroadcastSession> {
        if self.config.orch_addrs.is_empty()
            && let Some(payments) = &self.payments
            && let Some(pool) = payments.config().pool.clone()
        {
            return self.discover_on_chain(payments, pool.as_ref(), job).await;
        }
        let round = self.discovery_round.fetch_add(1, Ordering::AcqRel) + 1;
        let (active, suspended): (Vec<Uri>, Vec<Uri>) = {
            let mut table = lock(&self.suspended);
            table.retain(|_, until| *until >= round);
            self.config
                .orch_addrs
                .iter()
                .cloned()
                .partition(|addr| !table.contains_key(addr))
        };
        let request = self.orchestrator_request(job);
        let mut found = discover_with(
            &self.client,
            &active,
            &request,
            job,
            SESSIONS_PER_STREAM,
            self.config.discovery_timeout,
        )
        .await;
        if found.is_empty() && !suspended.is_empty() {
            // Suspended orchestrators are used only when nothing else answers.
            found = discover_with(
                &self.client,
                &suspended,
                &request,
                job,
                SESSIONS_PER_STREAM,
                self.config.discovery_timeout,
            )
            .await;
        }
        found
            .into_iter()
            .filter_map(
                |c| match self.session_from_info(c.addr, c.info, c.latency, None) {
                    Ok(session) => Some(session),
                    Err(err) => {
                        warn!(%err, "unusable orchestrator");
                        None
                    }
                },
            )
            .collect()
    }

    /// Sessions from the on-chain pool (go-livepeer `discovery/db_discovery.go` and
    /// `server/selection_algorithm.go`): the pool's members active this round (from the
    /// cache when the walk fails), minus suspended ones, probed with a signed request; the
    /// answers with a price and acceptable ticket parameters are ordered by successive draws
    /// of the probability selection (price, stake and random weights, max price), so the
    /// stream's first session is a weighted draw and the rest are its fallbacks.
    async fn discover_on_chain(
        &self,
        payments: &Payments,
        pool: &dyn crate::pool::OrchestratorPool,
        job: &Capabilities,
    ) -> Vec<BroadcastSession> {
        let config = payments.config();
        let now = SystemTime::now();
        let discovery_round = self.discovery_round.fetch_add(1, Ordering::AcqRel) + 1;
        let mut members = match pool.walk().await {
            Ok(walk) => {
                if let Some(cache) = &config.cache
                    && let Err(err) = cache.record_walk(&walk, now)
                {
                    warn!(%err, "cannot cache the orchestrator pool");
                }
                walk.active_members()
            }
            Err(err) => {
                warn!(%err, "cannot walk the orchestrator pool; using the cached one");
                let round = config.time.last_initialized_round();
                config
                    .cache
                    .as_ref()
                    .and_then(|c| c.candidates(round, now).ok())
                    .unwrap_or_default()
                    .iter()
                    .map(|c| c.member())
                    .collect()
            }
        };
        {
            let mut table = lock(&self.suspended);
            table.retain(|_, until| *until >= discovery_round);
            let suspended = |m: &crate::pool::PoolMember| {
                crate::discovery::parse_orch_addr(&m.service_uri)
                    .is_ok_and(|uri| table.contains_key(&uri))
            };
            let (free, held): (Vec<_>, Vec<_>) = members.into_iter().partition(|m| !suspended(m));
            // Suspended orchestrators only when nothing else is left.
            members = if free.is_empty() { held } else { free };
        }
        let request = self.orchestrator_request(job);
        let sender = config.sender.clone();
        // The gateway's own deposit and reserve are checked when it pays (and end the stream
        // with a clear error); here only the orchestrator's parameters are judged.
        let validate = move |params: &livepeer_pm::TicketParams| match sender
            .validate_ticket_params(params, 1)
        {
            Err(
                livepeer_pm::PmError::NoSenderDeposit
                | livepeer_pm::PmError::NoSenderReserve
                | livepeer_pm::PmError::SenderUnlocking { .. },
            ) => Ok(()),
            other => other,
        };
        let probe = crate::pool::probe_pool(
            &self.client,
            &members,
            &request,
            job,
            validate,
            self.config.discovery_timeout,
        )
        .await;
        for rejected in &probe.rejected {
            debug!(orch = %rejected.member.address, reason = %rejected.reason, "not a candidate");
        }
        if let Some(cache) = &config.cache
            && let Err(err) = cache.record_probe(&probe, now)
        {
            warn!(%err, "cannot cache the probe");
        }
        let mut remaining = probe.candidates;
        let mut ordered = Vec::with_capacity(remaining.len());
        let mut rng = rand::rng();
        while !remaining.is_empty() {
            let weights: Vec<_> = remaining
                .iter()
                .map(|c| c.selection_candidate(None))
                .collect();
            let Some(i) = crate::selection::select(&config.selection, &weights, &mut rng).chosen
            else {
                break;
            };
            ordered.push(remaining.swap_remove(i));
        }
        for left in &remaining {
            debug!(orch = %left.member.address, "not selected (above the max price)");
        }
        ordered
            .into_iter()
            .filter_map(
                |c| match self.session_from_info(c.uri, c.info, c.latency, None) {
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
        let round = self.discovery_round.load(Ordering::Acquire);
        // go-livepeer's penalty: ceil(pool size / sessions per stream) discovery rounds.
        let penalty = self
            .config
            .orch_addrs
            .len()
            .div_ceil(SESSIONS_PER_STREAM)
            .max(1) as u64;
        lock(&self.suspended).insert(session.addr.clone(), round + penalty);
        *lock(&self.suspensions)
            .entry(session.addr.clone())
            .or_default() += 1;
        stream.sessions.lock().await.retain(|s| {
            let keep = s.addr != session.addr;
            if !keep {
                self.forget_terms(s);
            }
            keep
        });
    }

    /// Moves `session` to the back of the stream's sessions (it stays usable, unsuspended).
    async fn demote(&self, stream: &Stream, session: &BroadcastSession) {
        let mut sessions = stream.sessions.lock().await;
        if let Some(i) = sessions.iter().position(|s| s.addr == session.addr) {
            let demoted = sessions.remove(i);
            sessions.push(demoted);
        }
    }

    /// Keeps a segment's renditions for HLS, then enforces the per-stream and total byte caps.
    fn store(&self, stream: &Stream, segment: &SourceSegment, renditions: &[TranscodedRendition]) {
        {
            let mut media = lock(&stream.media);
            if media.removed {
                return;
            }
            let by_profile: HashMap<String, Bytes> = renditions
                .iter()
                .map(|r| (r.profile.name.clone(), r.data.clone()))
                .collect();
            let added = rendition_bytes(&by_profile);
            let replaced = media
                .segments
                .insert(segment.seq, (segment.duration, by_profile))
                .map_or(0, |(_, old)| rendition_bytes(&old));
            media.bytes = media.bytes + added - replaced;
            self.retained.fetch_add(added, Ordering::AcqRel);
            self.retained.fetch_sub(replaced, Ordering::AcqRel);
            let mut freed = 0;
            while media.bytes > self.config.max_retained_bytes_per_stream {
                freed += media.pop_oldest();
            }
            self.retained.fetch_sub(freed, Ordering::AcqRel);
        }
        self.enforce_total_cap();
    }

    /// Drops the oldest ended streams, then the oldest segments of the largest live stream,
    /// until the retained bytes fit [`GatewayConfig::max_retained_bytes`].
    fn enforce_total_cap(&self) {
        let mut streams = lock(&self.streams);
        while self.retained.load(Ordering::Acquire) > self.config.max_retained_bytes {
            let oldest_ended = streams
                .iter()
                .filter_map(|(id, s)| lock(&s.media).ended_at.map(|at| (at, id.clone())))
                .min_by_key(|(at, _)| *at);
            if let Some((_, id)) = oldest_ended {
                if let Some(stream) = streams.remove(&id) {
                    self.drop_media(&stream);
                    info!(manifest_id = %id, "ended stream dropped: retained bytes over the cap");
                }
                continue;
            }
            let largest = streams
                .values()
                .max_by_key(|s| lock(&s.media).bytes)
                .cloned();
            let Some(stream) = largest else { break };
            let freed = lock(&stream.media).pop_oldest();
            if freed == 0 {
                break;
            }
            self.retained.fetch_sub(freed, Ordering::AcqRel);
        }
    }

    /// Frees a stream that left the map; nothing is stored in it afterwards.
    fn drop_media(&self, stream: &Stream) {
        let mut media = lock(&stream.media);
        media.removed = true;
        media.segments.clear();
        self.retained
            .fetch_sub(std::mem::take(&mut media.bytes), Ordering::AcqRel);
    }

    /// Marks `manifest` ended (its playlists become VOD) and closes its orchestrator sessions.
    pub(crate) async fn end_stream(&self, manifest: &str) -> bool {
        let Some(stream) = self.stream(manifest) else {
            return false;
        };
        let already_ended = {
            let mut media = lock(&stream.media);
            if !media.ended {
                media.ended_at = Some(Instant::now());
            }
            std::mem::replace(&mut media.ended, true)
        };
        self.end_sessions(&stream).await;
        if !already_ended {
            info!(manifest_id = %manifest, "stream ended");
            if let Some(recording) = &stream.recording {
                recording.finish().await;
            }
        }
        true
    }

    /// After a push: when the stream was ended meanwhile, closes the sessions the push may
    /// have opened after the end closed the others.
    pub(crate) async fn after_push(&self, stream: &Stream) {
        if lock(&stream.media).ended {
            self.end_sessions(stream).await;
        }
    }

    /// Sends `EndTranscodingSession` for every session of `stream`, best effort, and forgets
    /// them.
    async fn end_sessions(&self, stream: &Stream) {
        let sessions = std::mem::take(&mut *stream.sessions.lock().await);
        for session in sessions {
            self.forget_terms(&session);
            if let Err(err) = self
                .client
                .end_session(&session.addr, session.auth_token)
                .await
            {
                debug!(%err, "EndTranscodingSession failed");
            }
        }
    }

    pub(crate) async fn end_idle_streams(&self) {
        let idle: Vec<String> = lock(&self.streams)
            .values()
            .filter(|s| {
                let media = lock(&s.media);
                !media.ended
                    && media.in_flight == 0
                    && media
                        .last_push
                        .is_some_and(|t| t.elapsed() >= self.config.push_idle_timeout)
            })
            .map(|s| s.manifest.to_string())
            .collect();
        for manifest in idle {
            self.end_stream(&manifest).await;
        }
        // Ended streams stay playable as VOD for a while, then their memory is freed; only the
        // newest MAX_ENDED_STREAMS_KEPT are kept.
        let mut streams = lock(&self.streams);
        let mut ended: Vec<(Instant, ManifestId)> = streams
            .iter()
            .filter_map(|(id, s)| lock(&s.media).ended_at.map(|at| (at, id.clone())))
            .collect();
        ended.sort_by_key(|(at, _)| *at);
        let surplus = ended.len().saturating_sub(MAX_ENDED_STREAMS_KEPT);
        for (i, (at, id)) in ended.into_iter().enumerate() {
            if (i < surplus || at.elapsed() >= ENDED_STREAM_RETENTION)
                && let Some(stream) = streams.remove(&id)
            {
                self.drop_media(&stream);
                info!(manifest_id = %id, "ended stream removed");
            }
        }
    }

    pub(crate) async fn end_all_streams(&self) {
        let all: Vec<String> = lock(&self.streams).keys().map(|m| m.to_string()).collect();
        for manifest in all {
            self.end_stream(&manifest).await;
        }
    }
}

/// A push being processed on a stream: derefs to the stream; when dropped (the push done or
/// its request gone) the stream's idle clock starts again.
#[derive(Debug)]
pub(crate) struct PushInFlight(Arc<Stream>);

impl std::ops::Deref for PushInFlight {
    type Target = Stream;

    fn deref(&self) -> &Stream {
        &self.0
    }
}

impl Drop for PushInFlight {
    fn drop(&mut self) {
        let mut media = lock(&self.0.media);
        media.in_flight = media.in_flight.saturating_sub(1);
        media.last_push = Some(Instant::now());
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
        let extension = self.profile(profile)?.format.extension();
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
        Some(hls::media_playlist(
            profile,
            extension,
            &entries,
            media.ended,
        ))
    }

    /// The stream's profile named `name`.
    pub(crate) fn profile(&self, name: &str) -> Option<&VideoProfile> {
        self.profiles.iter().find(|p| p.name == name)
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
