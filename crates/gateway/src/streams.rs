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

use crate::auth::{AuthWebhook, StreamAuth};
use crate::client::OrchestratorClient;
use crate::discovery::{OrchestratorWebhook, discover_recorded};
use crate::dispatch::{
    BroadcastSession, SCORE_UNTRUSTED, SegmentStorage, SourceSegment, SubmitOptions,
    TranscodedRendition, job_capabilities, submit,
};
use crate::hls::{self, Entry, Variant};
use crate::payment::Payments;
use crate::storage::{Recording, StreamStorage, Track, storage_capability};
use crate::verify::{Chosen, LocalVerifier, Verdict, choose_results, should_skip_verification};
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
    pub(crate) payments: Option<Payments>,
    /// Segments each orchestrator (by service URI) transcoded.
    transcoded_by: Mutex<HashMap<Uri, u64>>,
    /// ffprobe, for the source's codecs (go-livepeer probes every push with lpms) and the
    /// `-localVerify` pixel recount; `None` when ffmpeg is not installed, and then pushes go
    /// out unprobed and renditions are not recounted.
    pub(crate) ffmpeg: Option<livepeer_media::Ffmpeg>,
    /// `-authWebhookUrl`.
    pub(crate) auth_webhook: Option<AuthWebhook>,
    /// `-orchWebhookUrl`.
    orch_webhook: Option<OrchestratorWebhook>,
    /// Push manifest → the manifest the auth webhook named (go-livepeer `internalManifests`).
    aliases: Mutex<HashMap<ManifestId, ManifestId>>,
    /// Orchestrators in the last discovery source, for the suspension penalty.
    pool_size: std::sync::atomic::AtomicUsize,
    /// Results that failed local verification so far.
    local_verification_failures: AtomicU64,
    /// The ladder of streams that name none: `-transcodingOptions`, or what the CLI API's
    /// `/setBroadcastConfig` set.
    default_profiles: Mutex<Vec<VideoProfile>>,
    /// On chain: the max price per pixel in force (`-maxPricePerUnit`, or `/setBroadcastConfig`'s);
    /// `None` for any price.
    max_price: Mutex<Option<livepeer_pm::PricePerPixel>>,
    /// Max prices per (pipeline, model ID) (`/setMaxPriceForCapability`), kept for the AI
    /// pipelines this gateway does not run yet.
    capability_max_prices: Mutex<HashMap<(String, String), livepeer_pm::PricePerPixel>>,
    /// AI session pools and results ([`crate::ai`]).
    pub(crate) ai: crate::ai::AiSessions,
    /// Live-video-to-video streams ([`crate::live`]).
    pub(crate) live: crate::live::LiveStreams,
    /// `-remoteSigner`'s sessions ([`crate::signer`]).
    pub(crate) remote_signer: crate::signer::RemoteSigner,
    /// Manifests an RTMP broadcaster is publishing now ([`crate::rtmp`]): one at a time.
    rtmp_publishers: Mutex<std::collections::HashSet<ManifestId>>,
}

/// One orchestrator's answer to discovery.
#[derive(Debug, Clone)]
pub(crate) struct DiscoveredAnswer {
    /// Where it was probed.
    pub(crate) addr: Uri,
    /// What it answered.
    pub(crate) info: livepeer_proto::net::OrchestratorInfo,
    /// How long it took.
    pub(crate) latency: Duration,
    /// Its discovery score ([`crate::dispatch::SCORE_TRUSTED`] for `-orchAddr` entries,
    /// the webhook's score, [`SCORE_UNTRUSTED`] for the on-chain pool).
    pub(crate) score: f32,
}

/// How a stream a push starts is set up.
#[derive(Debug, Default)]
pub(crate) struct StreamSetup {
    /// The ladder (`None`: `-transcodingOptions`).
    pub(crate) profiles: Option<Vec<VideoProfile>>,
    /// The auth webhook's (or header's) configuration.
    pub(crate) auth: Option<StreamAuth>,
    /// `Content-Resolution` of the push that starts the stream, for its source track.
    pub(crate) source_resolution: Option<(u32, u32)>,
}

/// One pushed stream.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) manifest: ManifestId,
    pub(crate) profiles: Vec<VideoProfile>,
    /// Verify one segment in this many with several orchestrators (auth webhook
    /// `verificationFreq`); 0 for never.
    pub(crate) verification_freq: u64,
    /// The stream's object store and record store: the flags', or the auth webhook's.
    pub(crate) storage: StreamStorage,
    /// With a record store: the recording.
    recording: Option<Arc<Recording>>,
    /// The source track (its resolution from `Content-Resolution`).
    source_track: Track,
    /// The untrusted session (by address) that last matched the trusted one.
    verified: Mutex<Option<Uri>>,
    /// Orchestrator sessions, preferred first.
    sessions: tokio::sync::Mutex<Vec<BroadcastSession>>,
    media: Mutex<StreamMedia>,
    /// RTMP ingest: the sequence number of the stream's next cut segment.
    ingest_seq: AtomicU64,
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
    /// Errors: [`GatewayError::InvalidWebhookUrl`] for a bad `-authWebhookUrl` or
    /// `-orchWebhookUrl`.
    pub(crate) fn new(mut config: GatewayConfig) -> Result<Self, GatewayError> {
        let ffmpeg = livepeer_media::Ffmpeg::locate()
            .inspect_err(|err| warn!(%err, "pushed segments will not be probed"))
            .ok();
        // Without a comparator of its own, the gateway verifies with crates/media's.
        if config.comparator.is_none()
            && let Some(ffmpeg) = &ffmpeg
        {
            config.comparator = Some(std::sync::Arc::new(crate::verify::MediaComparator::new(
                ffmpeg.clone(),
            )));
        }
        let config_payments = config.payments.clone().map(Payments::new);
        let budget_mib = u32::try_from(config.max_inflight_push_bytes >> 20)
            .unwrap_or(u32::MAX)
            .max(1);
        let auth_webhook = config
            .auth_webhook_url
            .as_deref()
            .map(AuthWebhook::new)
            .transpose()?;
        let orch_webhook = config
            .orch_webhook_url
            .as_deref()
            .map(|url| {
                OrchestratorWebhook::new(url)
                    .map(|w| w.with_refresh_interval(config.orch_webhook_refresh))
            })
            .transpose()?;
        let max_price = config.payments.as_ref().and_then(|p| p.selection.max_price);
        Ok(Self {
            default_profiles: Mutex::new(config.profiles.clone()),
            max_price: Mutex::new(max_price),
            capability_max_prices: Mutex::new(HashMap::new()),
            ai: crate::ai::AiSessions::default(),
            rtmp_publishers: Mutex::new(std::collections::HashSet::new()),
            live: Default::default(),
            remote_signer: Default::default(),
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
            ffmpeg,
            auth_webhook,
            orch_webhook,
            aliases: Mutex::new(HashMap::new()),
            pool_size: Default::default(),
            local_verification_failures: AtomicU64::new(0),
        })
    }

    /// The manifest a push to `manifest` goes to: the auth webhook's for it, else itself.
    pub(crate) fn resolve(&self, manifest: &ManifestId) -> ManifestId {
        lock(&self.aliases)
            .get(manifest)
            .cloned()
            .unwrap_or_else(|| manifest.clone())
    }

    /// Whether a push to `manifest` starts a stream (none live under it), so the auth
    /// webhook is asked (go-livepeer authenticates when no connection exists).
    pub(crate) fn starts_stream(&self, manifest: &ManifestId) -> bool {
        let resolved = self.resolve(manifest);
        lock(&self.streams)
            .get(&resolved)
            .is_none_or(|s| lock(&s.media).ended)
    }

    /// Publishes pushes to `external` under `internal` (the auth webhook's manifest).
    pub(crate) fn alias(&self, external: &ManifestId, internal: &ManifestId) {
        let mut aliases = lock(&self.aliases);
        if external == internal {
            aliases.remove(external);
        } else {
            aliases.insert(external.clone(), internal.clone());
        }
    }

    /// Results that failed `-localVerify` so far.
    pub(crate) fn local_verification_failures(&self) -> u64 {
        self.local_verification_failures.load(Ordering::Acquire)
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
        setup: StreamSetup,
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
        if is_new && let Some(m) = &self.config.metrics {
            m.stream_created(manifest.as_str());
        }
        let stream = streams
            .entry(manifest.clone())
            .or_insert_with(|| {
                info!(manifest_id = %manifest, "stream started");
                let verification_freq = setup.auth.as_ref().map_or(0, |a| a.verification_freq);
                if verification_freq > 0 && self.config.comparator.is_none() {
                    warn!(manifest_id = %manifest, "verificationFreq ignored: this build has no rendition comparator");
                }
                let mut storage = StreamStorage::from_config(&self.config);
                if let Some(auth) = &setup.auth {
                    // go-livepeer: the webhook's stores replace the flags' for this stream.
                    if let Some(url) = &auth.object_store {
                        storage.object_store = Some(Arc::new(
                            livepeer_objectstore::NodeStore::new(url.clone()),
                        ));
                    }
                    if let Some(url) = &auth.record_object_store {
                        storage.record_store = Some(Arc::new(
                            livepeer_objectstore::NodeStore::new(url.clone()),
                        ));
                    }
                }
                let recording = storage.record_store.clone().map(|store| {
                    Arc::new(Recording::new(
                        store,
                        manifest.as_str(),
                        &self.config.node_id,
                    ))
                });
                Arc::new(Stream {
                    manifest: manifest.clone(),
                    profiles: setup
                        .profiles
                        .unwrap_or_else(|| self.default_profiles()),
                    verification_freq,
                    storage,
                    recording,
                    source_track: Track {
                        resolution: setup.source_resolution,
                        ..Track::source()
                    },
                    verified: Mutex::new(None),
                    sessions: tokio::sync::Mutex::new(Vec::new()),
                    media: Mutex::new(StreamMedia::default()),
                    ingest_seq: AtomicU64::new(0),
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

    /// Claims `manifest` for an RTMP broadcaster; `false` when another one publishes it
    /// (go-livepeer `errAlreadyExists`).
    pub(crate) fn claim_rtmp(&self, manifest: &ManifestId) -> bool {
        lock(&self.rtmp_publishers).insert(manifest.clone())
    }

    /// Releases an RTMP broadcaster's claim on `manifest`.
    pub(crate) fn release_rtmp(&self, manifest: &ManifestId) {
        lock(&self.rtmp_publishers).remove(manifest);
    }

    /// Whether an RTMP broadcaster publishes `manifest` now.
    pub(crate) fn rtmp_publishing(&self, manifest: &ManifestId) -> bool {
        lock(&self.rtmp_publishers).contains(manifest)
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

    pub(crate) fn default_profiles(&self) -> Vec<VideoProfile> {
        lock(&self.default_profiles).clone()
    }

    pub(crate) fn set_default_profiles(&self, profiles: Vec<VideoProfile>) {
        info!(profiles = ?profiles.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(), "default ladder set");
        *lock(&self.default_profiles) = profiles;
    }

    pub(crate) fn max_price(&self) -> Option<livepeer_pm::PricePerPixel> {
        *lock(&self.max_price)
    }

    pub(crate) fn set_max_price(&self, price: Option<livepeer_pm::PricePerPixel>) {
        info!(max_price = ?price.map(|p| format!("{}/{}", p.num(), p.den())), "max price per pixel set");
        *lock(&self.max_price) = price;
    }

    pub(crate) fn set_capability_max_price(
        &self,
        pipeline: &str,
        model_id: &str,
        price: livepeer_pm::PricePerPixel,
    ) {
        lock(&self.capability_max_prices)
            .insert((pipeline.to_string(), model_id.to_string()), price);
    }

    pub(crate) fn capability_max_price(
        &self,
        pipeline: &str,
        model_id: &str,
    ) -> Option<livepeer_pm::PricePerPixel> {
        lock(&self.capability_max_prices)
            .get(&(pipeline.to_string(), model_id.to_string()))
            .copied()
    }

    /// The max price a session for `job` may have (go-livepeer
    /// `BroadcastConfig.GetCapabilitiesMaxPrice`): the sum of the max prices per capability
    /// set for its AI models (a model's own, else its pipeline's `default`), or the max price
    /// per pixel when none is set (or the sum does not fit a price).
    pub(crate) fn job_max_price(&self, job: &Capabilities) -> Option<livepeer_pm::PricePerPixel> {
        let mut sum: Option<(u128, u128)> = None;
        for (&cap, models) in &job.per_capability {
            let Some(pipeline) = livepeer_ai::Pipeline::from_capability(cap) else {
                continue;
            };
            for model in models.keys() {
                let Some(max) = self.ai_max_price(pipeline, model) else {
                    continue;
                };
                let (n, d) = (u128::from(max.num()), u128::from(max.den()));
                sum = Some(match sum {
                    None => (n, d),
                    Some((sn, sd)) => (sn * d + n * sd, sd * d),
                });
            }
        }
        sum.filter(|(n, _)| *n > 0)
            .and_then(|(n, d)| livepeer_ai::config::reduced_price(n, d))
            .and_then(|p| livepeer_pm::PricePerPixel::try_from(p).ok())
            .or_else(|| self.max_price())
    }

    pub(crate) fn payment_stats(&self) -> Option<crate::payment::PaymentStats> {
        self.payments.as_ref().map(Payments::stats)
    }

    pub(crate) fn retained_bytes(&self) -> u64 {
        self.retained.load(Ordering::Acquire)
    }

    /// Every stream held, by manifest ID.
    pub(crate) fn stream_statuses(&self) -> Vec<crate::StreamStatus> {
        let streams: Vec<Arc<Stream>> = lock(&self.streams).values().cloned().collect();
        let mut statuses: Vec<crate::StreamStatus> =
            streams.iter().map(|stream| stream.status()).collect();
        statuses.sort_by(|a, b| a.manifest_id.cmp(&b.manifest_id));
        statuses
    }

    /// An existing stream.
    pub(crate) fn stream(&self, manifest: &str) -> Option<Arc<Stream>> {
        let id = self.resolve(&ManifestId::new(manifest).ok()?);
        lock(&self.streams).get(&id).cloned()
    }

    /// Transcodes one segment: up to `-maxAttempts` attempts (go-livepeer
    /// `server/broadcast.go:processSegment`). After a retryable failure the orchestrator is
    /// suspended and swapped out, unless the failure is a refusal of the request itself
    /// ([`GatewayError::is_request_fault`]): then its session is only moved to the back.
    ///
    /// A verified stream (`verificationFreq` > 0) sends each attempt to one trusted and two
    /// untrusted sessions at once, each paid, and publishes the result
    /// [`choose_results`] picks; with `-localVerify` the published renditions' pixels are
    /// recounted first ([`LocalVerifier`]).
    ///
    /// Errors: the first non-retryable error; [`GatewayError::MaxAttempts`] (422) once every
    /// attempt failed; [`GatewayError::NoSessions`] (503) when no session is left to try.
    ///
    /// With `-monitor` the segment is recorded as emerged, then as fully transcoded (its
    /// latency since it arrived) or given up.
    pub(crate) async fn process_segment(
        &self,
        stream: &Stream,
        segment: SourceSegment,
    ) -> Result<Vec<TranscodedRendition>, GatewayError> {
        // go-livepeer's HTTP push always passes segment parameters to `JobCapabilities`, so
        // its jobs always need SegmentSlicing (26), sliced or not.
        let emerged = Instant::now();
        let metrics = self.config.metrics.as_ref();
        if let Some(m) = metrics {
            m.segment_emerged(stream.manifest.as_str());
        }
        let result = self.transcode_segment(stream, segment).await;
        if let (Some(m), Err(err)) = (metrics, &result) {
            // go: the segment given up (`SegmentTranscodeFailed`, permanent).
            let code = match err {
                GatewayError::NoSessions => "NoOrchestrators",
                GatewayError::MaxAttempts { .. } => "MaxAttempts",
                _ => "NonRetryable",
            };
            m.segment_transcode_failed(stream.manifest.as_str(), code, true);
        }
        if let (Some(m), Ok((renditions, session))) = (metrics, &result) {
            let address = session
                .terms
                .as_ref()
                .map(|t| t.recipient.to_checksum(None))
                .unwrap_or_default();
            m.segment_fully_transcoded(
                stream.manifest.as_str(),
                &livepeer_monitor::profiles_label(
                    renditions.iter().map(|r| r.profile.name.as_str()),
                ),
                livepeer_monitor::OrchestratorLabels {
                    uri: &session.transcoder.to_string(),
                    address: &address,
                    version: "",
                },
                emerged.elapsed(),
            );
        }
        result.map(|(renditions, _)| renditions)
    }

    /// [`Self::process_segment`]'s work: the renditions and the session that made them.
    async fn transcode_segment(
        &self,
        stream: &Stream,
        mut segment: SourceSegment,
    ) -> Result<(Vec<TranscodedRendition>, BroadcastSession), GatewayError> {
        let mut job = job_capabilities(&stream.profiles, true);
        for id in segment.input.ids() {
            job.bitstring.insert_id(id);
        }
        let verifying = stream.verification_freq > 0 && self.config.comparator.is_some();
        if verifying {
            // go-livepeer `JobCapabilities`: verified streams need MPEG-7 signatures.
            job.bitstring
                .insert(livepeer_primitives::Capability::Mpeg7VideoSignature);
        }
        if let Some(recording) = &stream.recording {
            recording.record(
                stream.source_track.clone(),
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
        let options = SubmitOptions {
            max_rendition_bytes: self.config.max_segment_bytes,
            check_signature: self.config.local_verify(),
            calc_perceptual_hash: verifying,
        };
        let recount = self.ffmpeg.as_ref().filter(|_| self.config.local_verify());
        let mut verifier = LocalVerifier::default();
        let attempts = self.config.max_attempts.max(1);
        let mut last_error = None;
        for attempt in 1..=attempts {
            let sessions = self.select_sessions(stream, &job, verifying).await;
            if sessions.is_empty() {
                if let Some(err) = &last_error {
                    warn!(manifest_id = %stream.manifest, seq = segment.seq, attempt, %err, "no session left to retry on");
                }
                return Err(GatewayError::NoSessions);
            }
            let started = Instant::now();
            let submitted = futures::future::join_all(sessions.iter().map(|session| {
                submit(
                    &self.client,
                    session,
                    &segment,
                    &stream.profiles,
                    &job,
                    options,
                    self.payments.as_ref(),
                    self.config.metrics.as_ref(),
                )
            }))
            .await;
            let mut answered = Vec::new();
            for (session, result) in sessions.into_iter().zip(submitted) {
                match result {
                    Ok((renditions, info)) => {
                        if let Some(info) = info {
                            self.update_terms(stream, &session, &info).await;
                        }
                        answered.push((session, renditions));
                    }
                    Err(err) => match self.after_failure(stream, &session, &job, err).await {
                        Ok(retry) => last_error = Some(retry),
                        Err(stop) => {
                            warn!(manifest_id = %stream.manifest, seq = segment.seq, orch = %session.addr, err = %stop, "segment failed for good");
                            return Err(stop);
                        }
                    },
                }
            }
            let (session, renditions) = if answered.len() > 1 {
                match self.choose(stream, answered).await {
                    Ok(chosen) => chosen,
                    Err(err) => {
                        warn!(manifest_id = %stream.manifest, seq = segment.seq, attempt, %err, "verification failed");
                        last_error = Some(err);
                        continue;
                    }
                }
            } else if let Some(only) = answered.pop() {
                only
            } else {
                continue;
            };
            let renditions = match recount {
                Some(ffmpeg) => {
                    let counted = futures::future::join_all(
                        renditions
                            .iter()
                            .map(|r| crate::verify::count_pixels(ffmpeg, &r.data)),
                    )
                    .await;
                    let failed_before = verifier.failures();
                    let verdict = verifier.judge(renditions, &counted);
                    if verifier.failures() > failed_before {
                        self.local_verification_failures
                            .fetch_add(1, Ordering::AcqRel);
                    }
                    match verdict {
                        Verdict::Accept(renditions) => renditions,
                        Verdict::Retry(err) => {
                            warn!(manifest_id = %stream.manifest, seq = segment.seq, orch = %session.addr, attempt, %err, "renditions failed local verification; dropping the session");
                            self.remove_session(stream, &session).await;
                            last_error = Some(err);
                            continue;
                        }
                    }
                }
                None => renditions,
            };
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
            return Ok((renditions, session));
        }
        Err(match last_error {
            Some(last) => GatewayError::MaxAttempts {
                attempts,
                last: Box::new(last),
            },
            None => GatewayError::NoSessions,
        })
    }

    /// Handles a failed submission to `session`: `Ok` with the error when another attempt
    /// may follow (the session refreshed, demoted or suspended), `Err` when the segment (or,
    /// for [`GatewayError::SenderUnusable`], the stream) stops here.
    async fn after_failure(
        &self,
        stream: &Stream,
        session: &BroadcastSession,
        job: &Capabilities,
        err: GatewayError,
    ) -> Result<GatewayError, GatewayError> {
        match err {
            err @ GatewayError::SenderUnusable(_) => {
                // Unpaid work is never sent: the stream ends here.
                error!(manifest_id = %stream.manifest, %err, "ending the stream");
                let mut media = lock(&stream.media);
                media.ended = true;
                media.ended_at.get_or_insert_with(Instant::now);
                Err(err)
            }
            GatewayError::ParamsExpired(reason) => {
                debug!(orch = %session.addr, %reason, "refreshing the session");
                self.refresh(stream, session, job).await;
                Ok(GatewayError::ParamsExpired(reason))
            }
            err if !err.is_retryable() => Err(err),
            err if err.is_request_fault() => {
                warn!(manifest_id = %stream.manifest, orch = %session.addr, %err, "orchestrator refused the request; trying the next");
                self.demote(stream, session).await;
                Ok(err)
            }
            err => {
                warn!(manifest_id = %stream.manifest, orch = %session.addr, %err, "segment failed; swapping orchestrator");
                if let Some(m) = &self.config.metrics {
                    m.orchestrator_swapped(stream.manifest.as_str());
                }
                self.suspend_and_remove(stream, session).await;
                Ok(err)
            }
        }
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

    /// Chooses among the answers of a verified segment (go-livepeer `collectResults` then
    /// `chooseResults`): suspends the untrusted sessions that disagree with the trusted one
    /// and remembers the one that agrees as the stream's verified session.
    async fn choose(
        &self,
        stream: &Stream,
        answered: Vec<(BroadcastSession, Vec<TranscodedRendition>)>,
    ) -> Result<(BroadcastSession, Vec<TranscodedRendition>), GatewayError> {
        let Some(comparator) = self.config.comparator.as_deref() else {
            return answered.into_iter().next().ok_or(GatewayError::NoSessions);
        };
        let verified = lock(&stream.verified).clone();
        let (mut trusted, mut untrusted): (Vec<_>, Vec<_>) =
            answered.into_iter().partition(|(s, _)| s.is_trusted());
        // The verified session's result comes first.
        untrusted.sort_by_key(|(s, _)| Some(&s.addr) != verified.as_ref());
        let trusted = trusted.pop();
        let renditions = stream.profiles.len().max(1);
        let index = rand::Rng::random_range(&mut rand::rng(), 0..renditions);
        let untrusted_results: Vec<&[TranscodedRendition]> =
            untrusted.iter().map(|(_, r)| r.as_slice()).collect();
        let decision = choose_results(
            comparator,
            trusted.as_ref().map(|(_, r)| r.as_slice()),
            &untrusted_results,
            index,
        )
        .await?;
        for &i in &decision.failed {
            let failed = &untrusted[i].0;
            warn!(manifest_id = %stream.manifest, orch = %failed.addr, "renditions differ from the trusted orchestrator's; suspending");
            self.suspend_and_remove(stream, failed).await;
        }
        if let Some(i) = decision.verified {
            *lock(&stream.verified) = Some(untrusted[i].0.addr.clone());
        }
        match decision.chosen {
            Chosen::Untrusted(i) => Ok(untrusted.swap_remove(i)),
            Chosen::Trusted => trusted.ok_or(GatewayError::NoSessions),
        }
    }

    /// The sessions for the next attempt (go-livepeer `selectSessions`): without
    /// verification one session, untrusted first, then trusted; with verification one
    /// trusted and two untrusted, or the stream's verified session alone with probability
    /// 1 − 1/freq while it is among them.
    async fn select_sessions(
        &self,
        stream: &Stream,
        job: &Capabilities,
        verifying: bool,
    ) -> Vec<BroadcastSession> {
        let mut sessions = stream.sessions.lock().await;
        let usable = |s: &BroadcastSession| s.is_trusted() || s.is_untrusted();
        let needs_discovery = !sessions.iter().any(usable)
            || (verifying
                && (!sessions.iter().any(BroadcastSession::is_trusted)
                    || !sessions.iter().any(BroadcastSession::is_untrusted)));
        if needs_discovery {
            let found = self.discover_sessions(job).await;
            for session in found {
                if sessions.iter().any(|s| s.addr == session.addr) {
                    self.forget_terms(&session);
                } else {
                    sessions.push(session);
                }
            }
        }
        if !verifying {
            let mut picked = self
                .pick(&mut sessions, job, BroadcastSession::is_untrusted, 1)
                .await;
            if picked.is_empty() {
                picked = self
                    .pick(&mut sessions, job, BroadcastSession::is_trusted, 1)
                    .await;
            }
            return picked;
        }
        let mut picked = self
            .pick(&mut sessions, job, BroadcastSession::is_trusted, 1)
            .await;
        picked.extend(
            self.pick(&mut sessions, job, BroadcastSession::is_untrusted, 2)
                .await,
        );
        let mut verified = lock(&stream.verified);
        let selected = verified
            .as_ref()
            .is_some_and(|v| picked.iter().any(|s| &s.addr == v));
        let draw = rand::Rng::random_range(&mut rand::rng(), 0..stream.verification_freq.max(1));
        if should_skip_verification(selected, draw) {
            picked.retain(|s| Some(&s.addr) == verified.as_ref());
        } else if !selected {
            *verified = None;
        }
        picked
    }

    /// Up to `n` of `sessions` that match `wanted`, in order, each refreshed when its auth
    /// token is near expiry or its ticket parameters expired; one whose refresh fails is
    /// dropped.
    async fn pick(
        &self,
        sessions: &mut Vec<BroadcastSession>,
        job: &Capabilities,
        wanted: fn(&BroadcastSession) -> bool,
        n: usize,
    ) -> Vec<BroadcastSession> {
        let mut picked = Vec::new();
        let mut i = 0;
        while i < sessions.len() && picked.len() < n {
            if !wanted(&sessions[i]) {
                i += 1;
                continue;
            }
            let session = sessions[i].clone();
            let expired = match (&self.payments, &session.terms) {
                (Some(payments), Some(terms)) => payments.params_expired(terms),
                _ => false,
            };
            if !expired && !session.needs_refresh(SystemTime::now()) {
                picked.push(session);
                i += 1;
                continue;
            }
            match self.fresh_session(&session, job).await {
                Ok(fresh) => {
                    sessions[i] = fresh.clone();
                    picked.push(fresh);
                    i += 1;
                }
                Err(err) => {
                    warn!(%err, "session refresh failed");
                    let gone = sessions.remove(i);
                    self.forget_terms(&gone);
                }
            }
        }
        picked
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
        let mut fresh = self.session_from_info(
            session.addr.clone(),
            info,
            session.latency,
            session.terms.as_ref(),
        )?;
        fresh.score = session.score;
        Ok(fresh)
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

    /// Sessions from the discovery source go-livepeer would use (`cmd/livepeer/starter`):
    /// `-orchWebhookUrl` first, then `-orchAddr`, then on chain the pool. Webhook entries
    /// keep their score, `-orchAddr` ones are trusted, pool members untrusted; a webhook entry
    /// scored neither 0 nor at least 1 is in no pool, so it is never used (as in go).
    pub(crate) async fn discover_sessions(&self, job: &Capabilities) -> Vec<BroadcastSession> {
        self.discover_answers(job)
            .await
            .into_iter()
            .filter_map(|answer| {
                match self.session_from_info(answer.addr, answer.info, answer.latency, None) {
                    Ok(mut session) => {
                        session.score = answer.score;
                        Some(session)
                    }
                    Err(err) => {
                        warn!(%err, "unusable orchestrator");
                        None
                    }
                }
            })
            .collect()
    }

    /// The answers behind [`Gateway::discover_sessions`], in its order: each orchestrator's
    /// `OrchestratorInfo` with its discovery score.
    pub(crate) async fn discover_answers(&self, job: &Capabilities) -> Vec<DiscoveredAnswer> {
        let listed: Vec<(Uri, f32)> = if let Some(webhook) = &self.orch_webhook {
            match webhook.orchestrators().await {
                Ok(list) => list
                    .into_iter()
                    .filter(|o| {
                        o.score >= crate::dispatch::SCORE_TRUSTED || o.score == SCORE_UNTRUSTED
                    })
                    .map(|o| (o.addr, o.score))
                    .collect(),
                Err(err) => {
                    warn!(%err, "no orchestrators from the webhook");
                    Vec::new()
                }
            }
        } else if self.config.orch_addrs.is_empty()
            && let Some(payments) = &self.payments
            && let Some(pool) = payments.config().pool.clone()
        {
            return self.discover_on_chain(payments, pool.as_ref(), job).await;
        } else {
            self.config
                .orch_addrs
                .iter()
                .map(|addr| (addr.clone(), crate::dispatch::SCORE_TRUSTED))
                .collect()
        };
        self.pool_size.store(listed.len(), Ordering::Release);
        let scores: HashMap<Uri, f32> = listed.iter().cloned().collect();
        let (trusted, untrusted): (Vec<Uri>, Vec<Uri>) = (
            listed
                .iter()
                .filter(|(_, score)| *score >= crate::dispatch::SCORE_TRUSTED)
                .map(|(a, _)| a.clone())
                .collect(),
            listed
                .iter()
                .filter(|(_, score)| *score < crate::dispatch::SCORE_TRUSTED)
                .map(|(a, _)| a.clone())
                .collect(),
        );
        let round = self.discovery_round.fetch_add(1, Ordering::AcqRel) + 1;
        let request = self.orchestrator_request(job);
        // go-livepeer `NewSessionManager`: up to 8 trusted sessions, every untrusted one.
        let untrusted_wanted = untrusted.len();
        let (mut found, more) = tokio::join!(
            self.discover_unsuspended(&trusted, &request, job, SESSIONS_PER_STREAM, round),
            self.discover_unsuspended(&untrusted, &request, job, untrusted_wanted, round),
        );
        found.extend(more);
        found
            .into_iter()
            .filter(|c| {
                let blocked =
                    crate::discovery::is_blocklisted(&c.info, &self.config.orch_blocklist);
                if blocked {
                    debug!(orch = %c.addr, "orchestrator on -orchBlocklist");
                }
                !blocked
            })
            .map(|c| {
                let listed_as = c.via.as_ref().unwrap_or(&c.addr);
                let score = scores.get(listed_as).copied().unwrap_or(SCORE_UNTRUSTED);
                DiscoveredAnswer {
                    addr: c.addr,
                    info: c.info,
                    latency: c.latency,
                    score,
                }
            })
            .collect()
    }

    /// Probes `addrs` minus the suspended ones (go-livepeer `server/suspensions.go`); the
    /// suspended ones only when none of the others answers.
    async fn discover_unsuspended(
        &self,
        addrs: &[Uri],
        request: &livepeer_proto::net::OrchestratorRequest,
        job: &Capabilities,
        want: usize,
        round: u64,
    ) -> Vec<crate::discovery::Candidate> {
        if addrs.is_empty() {
            return Vec::new();
        }
        let (active, suspended): (Vec<Uri>, Vec<Uri>) = {
            let mut table = lock(&self.suspended);
            table.retain(|_, until| *until >= round);
            addrs
                .iter()
                .cloned()
                .partition(|addr| !table.contains_key(addr))
        };
        let found = discover_recorded(
            &self.client,
            &active,
            request,
            job,
            want,
            self.config.discovery_timeout,
            self.config.extra_nodes,
            self.config.metrics.as_ref(),
        )
        .await;
        if !found.is_empty() || suspended.is_empty() {
            return found;
        }
        discover_recorded(
            &self.client,
            &suspended,
            request,
            job,
            want,
            self.config.discovery_timeout,
            self.config.extra_nodes,
            self.config.metrics.as_ref(),
        )
        .await
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
    ) -> Vec<DiscoveredAnswer> {
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
            // -orchBlocklist first: never probed.
            members.retain(|m| !self.config.orch_blocklist.contains(&m.address));
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
        // An answer signed with a blocklisted address is dropped whatever its pool entry.
        remaining
            .retain(|c| !crate::discovery::is_blocklisted(&c.info, &self.config.orch_blocklist));
        let mut ordered = Vec::with_capacity(remaining.len());
        let mut rng = rand::rng();
        let selection = crate::selection::SelectionConfig {
            max_price: self.job_max_price(job),
            ..config.selection.clone()
        };
        while !remaining.is_empty() {
            let weights: Vec<_> = remaining
                .iter()
                .map(|c| c.selection_candidate(None))
                .collect();
            let Some(i) = crate::selection::select(&selection, &weights, &mut rng).chosen else {
                break;
            };
            ordered.push(remaining.swap_remove(i));
        }
        for left in &remaining {
            debug!(orch = %left.member.address, "not selected (above the max price)");
        }
        ordered
            .into_iter()
            .map(|c| DiscoveredAnswer {
                addr: c.uri,
                info: c.info,
                latency: c.latency,
                // go-livepeer: on-chain pool members are untrusted.
                score: SCORE_UNTRUSTED,
            })
            .collect()
    }

    async fn suspend_and_remove(&self, stream: &Stream, session: &BroadcastSession) {
        let round = self.discovery_round.load(Ordering::Acquire);
        // go-livepeer's penalty: ceil(pool size / sessions per stream) discovery rounds.
        let penalty = self
            .pool_size
            .load(Ordering::Acquire)
            .max(self.config.orch_addrs.len())
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

    /// Drops `session` from the stream without suspending it (go-livepeer `removeSession`,
    /// after failed local verification): a later discovery may bring it back.
    async fn remove_session(&self, stream: &Stream, session: &BroadcastSession) {
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
            // The source is a track of the stream's HLS too, as in go-livepeer
            // (`processSegment` inserts it into the playlists before transcoding).
            let by_profile: HashMap<String, Bytes> = renditions
                .iter()
                .map(|r| (r.profile.name.clone(), r.data.clone()))
                .chain([(crate::storage::SOURCE.to_string(), segment.data.clone())])
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

    /// Stores a segment of a stream without renditions (a live pipeline's output, its only
    /// track).
    pub(crate) fn store_output(&self, stream: &Stream, segment: &SourceSegment) {
        self.store(stream, segment, &[]);
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
        lock(&self.aliases).retain(|_, internal| *internal != stream.manifest);
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
            if let Some(m) = &self.config.metrics {
                m.stream_ended(stream.manifest.as_str());
            }
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

impl PushInFlight {
    /// The stream (which stays not idle only while this guard lives).
    pub(crate) fn stream(&self) -> Arc<Stream> {
        self.0.clone()
    }
}

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
    /// RTMP ingest: the sequence number of the next cut segment. A publisher's first segment
    /// comes after everything the stream holds with one number left out, so that a
    /// reconnect shows as a discontinuity in the playlists; a stream's very first is 0. (One
    /// publisher at a time: see [`Gateway::claim_rtmp`].)
    pub(crate) fn next_ingest_seq(&self, first_of_publisher: bool) -> u64 {
        if !first_of_publisher {
            return self.ingest_seq.fetch_add(1, Ordering::AcqRel);
        }
        let after_stored = lock(&self.media)
            .segments
            .keys()
            .next_back()
            .map_or(0, |seq| seq + 1);
        let next = self.ingest_seq.load(Ordering::Acquire).max(after_stored);
        let start = if next > 0 { next + 1 } else { 0 };
        self.ingest_seq.store(start + 1, Ordering::Release);
        start
    }

    /// The master playlist.
    pub(crate) fn master_playlist(&self) -> String {
        // The source first, as go-livepeer's playlist manager lists it: 4000k, and the
        // resolution `Content-Resolution` gave, if any.
        let source = Variant {
            name: self.source_track.name.clone(),
            bandwidth_bps: self.source_track.bandwidth_bps,
            resolution: self.source_track.resolution,
        };
        let variants: Vec<Variant> = std::iter::once(source)
            .chain(self.profiles.iter().map(|p| Variant {
                name: p.name.clone(),
                bandwidth_bps: p.bitrate_bps,
                resolution: Some((p.width, p.height)),
            }))
            .collect();
        hls::master_playlist(self.manifest.as_str(), &variants)
    }

    /// The media playlist of `profile`, if the stream has that rendition.
    pub(crate) fn media_playlist(&self, profile: &str) -> Option<String> {
        let extension = self.track_format(profile)?.extension();
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

    /// The container of track `name`: the source's (MPEG-TS) or a profile's.
    pub(crate) fn track_format(&self, name: &str) -> Option<livepeer_primitives::profile::Format> {
        if name == crate::storage::SOURCE {
            return Some(livepeer_primitives::profile::Format::MpegTs);
        }
        self.profile(name).map(|p| p.format)
    }

    /// What the dashboard shows of it.
    pub(crate) fn status(&self) -> crate::StreamStatus {
        let tracks = std::iter::once(self.source_track.name.clone())
            .chain(self.profiles.iter().map(|p| p.name.clone()))
            .collect();
        let media = lock(&self.media);
        let duration: Duration = media.segments.values().map(|(d, _)| *d).sum();
        crate::StreamStatus {
            manifest_id: self.manifest.to_string(),
            live: !media.ended,
            tracks,
            segments: media.segments.len(),
            last_seq: media.segments.keys().next_back().copied(),
            duration_ms: u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            bytes: media.bytes,
        }
    }

    /// One segment of a track (the source or a rendition).
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
