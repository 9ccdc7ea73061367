//! The orchestrator's transcoders: its own (`-transcoder`) and the remote ones that registered
//! over `Transcoder.RegisterTranscoder` with the shared `-orchSecret` (go-livepeer
//! `core/orchestrator.go:RemoteTranscoderManager`, `server/ot_rpc.go`; wire-and-network.md
//! §3.5 and §6).
//!
//! - **Selection** (`pick`): a session keeps the transcoder it was given while that one is
//!   connected; a new session goes to the compatible transcoder with the lowest load factor
//!   (sessions ÷ capacity), "no transcoders available" when that one is full, "no transcoders
//!   can provide requested capabilities" when none can do the job. The local transcoder is one
//!   member of the pool, with `-maxSessions` as its capacity, so local and remote work is
//!   balanced by the same rule (go-livepeer runs either local or remote transcoders, never
//!   both).
//! - **Remote work**: the segment is staged at `<service URI>/stream/<session>/<seq>.tempfile`
//!   (served by this node while the task runs), a `NotifySegment` names it with a task ID, and
//!   the transcoder posts the renditions to `/transcodeResults` ([`crate::results`]). The wait is
//!   max([`MIN_REMOTE_TIMEOUT`], 4 × the segment's duration).
//! - **Failures**: a transcoder that cannot be sent the task, disconnects while working on it,
//!   or times out is dropped from the pool (its stream is closed, so it reconnects), and the
//!   segment is tried on another transcoder, except after a timeout (go-livepeer: the gateway
//!   has given up by then). A transcoding error the transcoder reports is the segment's answer.
//!   Either way the session is unassigned, so its next segment is placed afresh.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use livepeer_primitives::Capabilities;
use livepeer_primitives::profile::VideoProfile;
use livepeer_proto::net;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::{LocalTranscoder, OrchestratorError};

/// The `Authorization` value of a transcoder's `/transcodeResults` post (go-livepeer
/// `protoVerLPT`).
pub const TRANSCODER_AUTH: &str = "Livepeer-Transcoder-1.0";
/// The content type of a failed transcode's result; the body is the error text (go-livepeer
/// `transcodingErrorMimeType`).
pub const TRANSCODING_ERROR_MIME: &str = "livepeer/transcoding-error";
/// The shortest wait for a remote transcoder's result (go-livepeer `common.HTTPTimeout`); the
/// wait is the larger of this and 4 × the segment's duration.
pub const MIN_REMOTE_TIMEOUT: Duration = Duration::from_secs(8);
/// Most remote transcoders registered at once; more are refused.
pub const MAX_REMOTE_TRANSCODERS: usize = 256;
/// Largest capacity (sessions) a remote transcoder may register with; more is cut to this.
pub const MAX_TRANSCODER_CAPACITY: usize = 1024;
/// Times a segment is sent to another transcoder after the one it was on failed.
const MAX_RETRIES: usize = 4;
/// `NotifySegment` messages that may wait to be sent to one transcoder.
const NOTIFY_QUEUE: usize = 64;

/// How long a remote transcoder has for a segment of `duration`.
pub fn remote_timeout(duration: Duration) -> Duration {
    MIN_REMOTE_TIMEOUT.max(duration * 4)
}

/// A transcoder as the CLI API reports it (go-livepeer `common.RemoteTranscoderInfo`, plus
/// its load and whether it is this node's own).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TranscoderInfo {
    /// The remote transcoder's `ip:port` as this node saw it, or `local`.
    #[serde(rename = "Address")]
    pub address: String,
    /// Sessions it takes (`-maxSessions` of the transcoder).
    #[serde(rename = "Capacity")]
    pub capacity: usize,
    /// Sessions it has now.
    #[serde(rename = "Load")]
    pub load: usize,
    /// Whether this is the orchestrator's own transcoder.
    #[serde(rename = "Local")]
    pub local: bool,
}

/// One rendition made for a segment, by whichever transcoder did it.
#[derive(Debug, Clone)]
pub(crate) struct Output {
    pub(crate) profile: VideoProfile,
    pub(crate) data: Bytes,
    /// Encoded pixels (width × height × frames).
    pub(crate) pixels: u64,
    /// The MPEG-7 signature, when asked for and made.
    pub(crate) signature: Option<Bytes>,
}

/// What a remote transcoder posted for a task.
#[derive(Debug)]
pub(crate) enum RemoteResult {
    /// One entry per rendition: its bytes, encoded pixels, and perceptual hash if sent.
    Done(Vec<(Bytes, u64, Option<Bytes>)>),
    /// The transcoder's error text (`livepeer/transcoding-error`), or why its post could not
    /// be read.
    Failed(String),
}

/// One segment to transcode.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Job<'a> {
    pub(crate) session: &'a str,
    pub(crate) seg: &'a net::SegData,
    pub(crate) caps: &'a Capabilities,
    pub(crate) input: &'a Path,
    pub(crate) profiles: &'a [VideoProfile],
    pub(crate) duration: Duration,
    /// `OrchestratorInfo`-style ID sent to remote transcoders: the address, or "offchain".
    pub(crate) orch_id: &'a str,
    /// The orchestrator's service URI, where remote transcoders fetch staged inputs.
    pub(crate) service_uri: &'a str,
}

/// The channel to one registered remote transcoder.
#[derive(Debug)]
struct Link {
    notify: mpsc::Sender<Result<net::NotifySegment, tonic::Status>>,
    /// Fires when the transcoder is gone (disconnected or dropped).
    gone: CancellationToken,
}

#[derive(Debug)]
struct Member {
    id: u64,
    address: String,
    /// `None`: the local transcoder, whose capacity is the orchestrator's session limit.
    capacity: Option<usize>,
    load: usize,
    capabilities: Capabilities,
    link: Option<Arc<Link>>,
}

#[derive(Debug, Default)]
struct Members {
    list: Vec<Member>,
    /// Session ID → the member its segments go to.
    sessions: HashMap<String, u64>,
    next_id: u64,
}

/// The pool of transcoders (see the module docs).
#[derive(Debug)]
pub(crate) struct Transcoders {
    local: Option<LocalTranscoder>,
    members: Mutex<Members>,
    tasks: Mutex<HashMap<i64, oneshot::Sender<RemoteResult>>>,
    next_task: AtomicI64,
    /// `<session>/<file>` → the staged input file remote transcoders download.
    staged: Mutex<HashMap<String, PathBuf>>,
}

/// Where a selected transcoder sends the work.
enum Target {
    Local(LocalTranscoder),
    Remote {
        id: u64,
        address: String,
        link: Arc<Link>,
    },
}

/// How a try on one transcoder ended, when it did not succeed.
enum Failure {
    /// The segment's own answer (the transcoder worked and failed, or the session ended).
    Job(OrchestratorError),
    /// The transcoder failed; the segment may go to another one.
    Transcoder(OrchestratorError),
    /// The transcoder took too long; the gateway has given up, so no retry.
    Timeout(OrchestratorError),
}

/// go-livepeer's `selectTranscoder` rule over `(load, capacity, compatible)` per member, in
/// registration order: the index of the compatible member with the lowest load ÷ capacity
/// (the first of equals).
///
/// Errors: [`OrchestratorError::NoCompatibleTranscoders`] when no member is compatible,
/// [`OrchestratorError::NoTranscoder`] ("no transcoders available") when the least loaded
/// compatible member is full.
pub(crate) fn pick(
    members: impl IntoIterator<Item = (usize, usize, bool)>,
) -> Result<usize, OrchestratorError> {
    let mut best: Option<(usize, usize, usize)> = None;
    for (i, (load, capacity, compatible)) in members.into_iter().enumerate() {
        if !compatible {
            continue;
        }
        // load/capacity < best_load/best_capacity, without division.
        let lower = best.is_none_or(|(_, bl, bc)| {
            (load as u128) * (bc as u128) < (bl as u128) * (capacity as u128)
        });
        if lower {
            best = Some((i, load, capacity));
        }
    }
    match best {
        None => Err(OrchestratorError::NoCompatibleTranscoders),
        Some((_, load, capacity)) if load >= capacity => Err(OrchestratorError::NoTranscoder),
        Some((i, _, _)) => Ok(i),
    }
}

impl Transcoders {
    /// A pool holding `local` (if any) and no remote transcoders yet.
    pub(crate) fn new(local: Option<LocalTranscoder>, local_capabilities: &Capabilities) -> Self {
        let mut members = Members::default();
        if local.is_some() {
            members.list.push(Member {
                id: 0,
                address: "local".into(),
                capacity: None,
                load: 0,
                capabilities: local_capabilities.clone(),
                link: None,
            });
        }
        members.next_id = 1;
        Self {
            local,
            members: Mutex::new(members),
            tasks: Mutex::new(HashMap::new()),
            next_task: AtomicI64::new(0),
            staged: Mutex::new(HashMap::new()),
        }
    }

    /// The transcoders now in the pool, local first; `local_capacity` is the session limit.
    pub(crate) fn info(&self, local_capacity: usize) -> Vec<TranscoderInfo> {
        self.lock()
            .list
            .iter()
            .map(|m| TranscoderInfo {
                address: m.address.clone(),
                capacity: m.capacity.unwrap_or(local_capacity),
                load: m.load,
                local: m.link.is_none(),
            })
            .collect()
    }

    /// Remote transcoders registered now, and the sum of their capacities.
    pub(crate) fn remote_capacity(&self) -> (usize, usize) {
        let members = self.lock();
        let remote = members.list.iter().filter(|m| m.link.is_some());
        remote.fold((0, 0), |(n, cap), m| (n + 1, cap + m.capacity.unwrap_or(0)))
    }

    /// Adds a remote transcoder that registered from `address` with `capacity` sessions and
    /// `capabilities`; returns its ID and the stream of tasks to send it.
    ///
    /// Errors: [`OrchestratorError::TooManyTranscoders`] past [`MAX_REMOTE_TRANSCODERS`].
    pub(crate) fn register(
        &self,
        address: String,
        capacity: usize,
        capabilities: Capabilities,
    ) -> Result<(u64, NotifyStream), OrchestratorError> {
        let (notify, rx) = mpsc::channel(NOTIFY_QUEUE);
        let gone = CancellationToken::new();
        let mut members = self.lock();
        if members.list.iter().filter(|m| m.link.is_some()).count() >= MAX_REMOTE_TRANSCODERS {
            return Err(OrchestratorError::TooManyTranscoders);
        }
        let id = members.next_id;
        members.next_id += 1;
        let capacity = capacity.min(MAX_TRANSCODER_CAPACITY);
        info!(transcoder = %address, capacity, "remote transcoder registered");
        members.list.push(Member {
            id,
            address,
            capacity: Some(capacity),
            load: 0,
            capabilities,
            link: Some(Arc::new(Link {
                notify,
                gone: gone.clone(),
            })),
        });
        Ok((
            id,
            NotifyStream {
                rx,
                gone: Box::pin(gone.cancelled_owned()),
            },
        ))
    }

    /// Removes remote transcoder `id` (disconnected or failed); its pending tasks fail and its
    /// task stream ends. Returns whether it was still in the pool.
    pub(crate) fn remove(&self, id: u64) -> bool {
        let mut members = self.lock();
        let Some(i) = members.list.iter().position(|m| m.id == id) else {
            return false;
        };
        let member = members.list.remove(i);
        members.sessions.retain(|_, m| *m != id);
        if let Some(link) = &member.link {
            link.gone.cancel();
        }
        info!(transcoder = %member.address, "remote transcoder removed");
        true
    }

    /// Ends `session`'s assignment: its transcoder's load drops and, for a remote one, it is
    /// told to tear the session down (an empty-URL `NotifySegment`, go-livepeer
    /// `endTranscodingSession`).
    pub(crate) fn end_session(&self, session: &str) {
        let link = {
            let mut members = self.lock();
            let Some(id) = members.sessions.remove(session) else {
                return;
            };
            let Some(member) = members.list.iter_mut().find(|m| m.id == id) else {
                return;
            };
            member.load = member.load.saturating_sub(1);
            member.link.clone()
        };
        if let Some(link) = link {
            let teardown = net::NotifySegment {
                seg_data: Some(net::SegData {
                    auth_token: Some(net::AuthToken {
                        session_id: session.to_string(),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            };
            // Best effort: a full queue or a gone transcoder has nothing to tear down.
            let _ = link.notify.try_send(Ok(teardown));
        }
    }

    /// The member for `session`: the one it already has, else the least loaded compatible one,
    /// which then has one more session.
    fn select(
        &self,
        session: &str,
        caps: &Capabilities,
        local_capacity: usize,
    ) -> Result<Target, OrchestratorError> {
        let mut members = self.lock();
        let Members { list, sessions, .. } = &mut *members;
        let current = sessions
            .get(session)
            .and_then(|id| list.iter().position(|m| m.id == *id));
        let index = match current {
            Some(i) => i,
            None => {
                let i = pick(list.iter().map(|m| {
                    (
                        m.load,
                        m.capacity.unwrap_or(local_capacity),
                        caps.compatible_with(&m.capabilities),
                    )
                }))?;
                list[i].load += 1;
                sessions.insert(session.to_string(), list[i].id);
                i
            }
        };
        let member = &list[index];
        Ok(match (&member.link, &self.local) {
            (Some(link), _) => Target::Remote {
                id: member.id,
                address: member.address.clone(),
                link: link.clone(),
            },
            (None, Some(local)) => Target::Local(local.clone()),
            (None, None) => return Err(OrchestratorError::NoTranscoder),
        })
    }

    /// Transcodes `job` on the session's transcoder, retrying on another one when a remote
    /// transcoder fails (see the module docs); `local_capacity` is the session limit.
    ///
    /// Errors: selection errors ([`pick`]), the transcoder's own error, the last transport
    /// failure after [`MAX_RETRIES`], [`OrchestratorError::RemoteTimeout`], or
    /// [`OrchestratorError::SessionEnded`] when `cancel` fires.
    pub(crate) async fn transcode(
        &self,
        job: Job<'_>,
        local_capacity: usize,
        cancel: &CancellationToken,
    ) -> Result<Vec<Output>, OrchestratorError> {
        let mut retries = 0;
        loop {
            let target = self.select(job.session, job.caps, local_capacity)?;
            let (result, remote_id) = match target {
                Target::Local(local) => (Self::local(&local, job, cancel).await, None),
                Target::Remote { id, address, link } => {
                    let tried = self.remote(&link, job, cancel).await;
                    if let Err(Failure::Transcoder(err) | Failure::Timeout(err)) = &tried {
                        warn!(transcoder = %address, %err, "remote transcoder failed");
                    }
                    (tried, Some(id))
                }
            };
            let failure = match result {
                Ok(outputs) => return Ok(outputs),
                Err(failure) => failure,
            };
            // The session is placed afresh next time, on whichever transcoder is best then.
            self.end_session(job.session);
            match failure {
                Failure::Job(err) => return Err(err),
                Failure::Timeout(err) => {
                    if let Some(id) = remote_id {
                        self.remove(id);
                    }
                    return Err(err);
                }
                Failure::Transcoder(err) => {
                    if let Some(id) = remote_id {
                        self.remove(id);
                    }
                    if retries >= MAX_RETRIES {
                        return Err(err);
                    }
                    retries += 1;
                    debug!(retries, "segment sent to another transcoder");
                }
            }
        }
    }

    async fn local(
        local: &LocalTranscoder,
        job: Job<'_>,
        cancel: &CancellationToken,
    ) -> Result<Vec<Output>, Failure> {
        let slice = job.seg.segment_parameters.map(|p| (p.from, p.to));
        // The gateway gives up after max(8 s, 4 × duration); so do we.
        let renditions = local
            .transcode(
                job.input,
                job.profiles,
                slice,
                job.seg.calc_perceptual_hash,
                remote_timeout(job.duration),
                cancel,
            )
            .await
            .map_err(Failure::Job)?;
        Ok(renditions
            .into_iter()
            .map(|r| Output {
                profile: r.profile,
                data: r.data,
                pixels: r.pixels,
                signature: r.signature,
            })
            .collect())
    }

    async fn remote(
        &self,
        link: &Link,
        job: Job<'_>,
        cancel: &CancellationToken,
    ) -> Result<Vec<Output>, Failure> {
        let file = format!("{}.tempfile", job.seg.seq);
        let staged = self.stage(job.session, &file, job.input);
        let task_id = self.next_task.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.tasks_lock().insert(task_id, tx);
        let _task = TaskGuard {
            pool: self,
            task_id,
        };
        // As go-livepeer: no hash (the transcoder need not check it) and no storage (results
        // come back here); `profiles` is a deliberate "invalid" for old transcoders.
        let seg_data = net::SegData {
            hash: Vec::new(),
            storage: Vec::new(),
            ..job.seg.clone()
        };
        let notify = net::NotifySegment {
            url: format!("{}/stream/{}/{file}", job.service_uri, job.session),
            task_id,
            orch_id: job.orch_id.to_string(),
            seg_data: Some(seg_data),
            profiles: b"invalid".to_vec(),
        };
        if link.notify.try_send(Ok(notify)).is_err() {
            return Err(Failure::Transcoder(OrchestratorError::TranscoderGone));
        }
        let timeout = remote_timeout(job.duration);
        let result = tokio::select! {
            result = rx => result.map_err(|_| Failure::Transcoder(OrchestratorError::TranscoderGone))?,
            _ = tokio::time::sleep(timeout) => return Err(Failure::Timeout(OrchestratorError::RemoteTimeout)),
            _ = link.gone.cancelled() => return Err(Failure::Transcoder(OrchestratorError::TranscoderGone)),
            _ = cancel.cancelled() => return Err(Failure::Job(OrchestratorError::SessionEnded)),
        };
        drop(staged);
        match result {
            RemoteResult::Failed(text) => {
                Err(Failure::Job(OrchestratorError::RemoteTranscode(text)))
            }
            RemoteResult::Done(parts) => {
                if parts.len() != job.profiles.len() {
                    return Err(Failure::Job(OrchestratorError::BadProfiles(
                        "MismatchedSegments".into(),
                    )));
                }
                Ok(parts
                    .into_iter()
                    .zip(job.profiles)
                    .map(|((data, pixels, signature), profile)| Output {
                        profile: profile.clone(),
                        data,
                        pixels,
                        signature,
                    })
                    .collect())
            }
        }
    }

    /// Hands a posted result to the task waiting for it; returns whether one was.
    pub(crate) fn deliver(&self, task_id: i64, result: RemoteResult) -> bool {
        match self.tasks_lock().remove(&task_id) {
            Some(tx) => tx.send(result).is_ok(),
            None => false,
        }
    }

    /// The staged input at `/stream/<session>/<file>`, if a task is using it.
    pub(crate) fn staged(&self, session: &str, file: &str) -> Option<PathBuf> {
        self.staged_lock()
            .get(&format!("{session}/{file}"))
            .cloned()
    }

    fn stage(&self, session: &str, file: &str, input: &Path) -> StagedInput<'_> {
        let key = format!("{session}/{file}");
        self.staged_lock().insert(key.clone(), input.to_path_buf());
        StagedInput { pool: self, key }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Members> {
        self.members.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn tasks_lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, oneshot::Sender<RemoteResult>>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn staged_lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, PathBuf>> {
        self.staged.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Unstages an input when its task ends.
struct StagedInput<'a> {
    pool: &'a Transcoders,
    key: String,
}

impl Drop for StagedInput<'_> {
    fn drop(&mut self) {
        self.pool.staged_lock().remove(&self.key);
    }
}

/// Forgets a task when its wait ends, however it ends.
struct TaskGuard<'a> {
    pool: &'a Transcoders,
    task_id: i64,
}

impl Drop for TaskGuard<'_> {
    fn drop(&mut self) {
        self.pool.tasks_lock().remove(&self.task_id);
    }
}

/// The `RegisterTranscoder` answer stream: the tasks for one transcoder, ending when it is
/// removed from the pool.
pub(crate) struct NotifyStream {
    rx: mpsc::Receiver<Result<net::NotifySegment, tonic::Status>>,
    gone: Pin<Box<tokio_util::sync::WaitForCancellationFutureOwned>>,
}

impl Stream for NotifyStream {
    type Item = Result<net::NotifySegment, tonic::Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.gone.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        self.rx.poll_recv(cx)
    }
}

impl std::fmt::Debug for NotifyStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyStream").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_session_goes_to_the_least_loaded_compatible_transcoder() {
        // (load, capacity, compatible): 1/2 = 0.5, 1/4 = 0.25, 0/1 incompatible.
        assert_eq!(
            pick([(1, 2, true), (1, 4, true), (0, 1, false)]).ok(),
            Some(1)
        );
        // Equal load factors: the first registered.
        assert_eq!(pick([(1, 2, true), (2, 4, true)]).ok(), Some(0));
        // The least loaded compatible one is full: every compatible one is.
        assert!(matches!(
            pick([(2, 2, true), (3, 3, true), (0, 5, false)]),
            Err(OrchestratorError::NoTranscoder)
        ));
        assert!(matches!(
            pick([(0, 5, false)]),
            Err(OrchestratorError::NoCompatibleTranscoders)
        ));
        assert!(matches!(
            pick(std::iter::empty()),
            Err(OrchestratorError::NoCompatibleTranscoders)
        ));
        // A zero-capacity member is always full.
        assert!(matches!(
            pick([(0, 0, true)]),
            Err(OrchestratorError::NoTranscoder)
        ));
    }

    fn caps() -> Capabilities {
        crate::software_capabilities()
    }

    #[tokio::test]
    async fn sessions_stick_to_their_transcoder_and_free_it_when_they_end() {
        let pool = Transcoders::new(None, &caps());
        let (a, _sa) = pool.register("a".into(), 1, caps()).expect("a");
        let (b, _sb) = pool.register("b".into(), 2, caps()).expect("b");
        let id = |t: Target| match t {
            Target::Remote { id, .. } => id,
            Target::Local(_) => u64::MAX,
        };
        // Both empty: the first; then b (0/2 < 1/1); then b again (1/2 < 1/1).
        assert_eq!(pool.select("s1", &caps(), 10).map(id).ok(), Some(a));
        assert_eq!(pool.select("s2", &caps(), 10).map(id).ok(), Some(b));
        assert_eq!(pool.select("s3", &caps(), 10).map(id).ok(), Some(b));
        // Full, but known sessions still go where they were.
        assert!(matches!(
            pool.select("s4", &caps(), 10),
            Err(OrchestratorError::NoTranscoder)
        ));
        assert_eq!(pool.select("s1", &caps(), 10).map(id).ok(), Some(a));
        pool.end_session("s1");
        assert_eq!(pool.select("s4", &caps(), 10).map(id).ok(), Some(a));
        // A removed transcoder's sessions are placed again.
        assert!(pool.remove(b));
        assert!(!pool.remove(b));
        assert!(matches!(
            pool.select("s2", &caps(), 10),
            Err(OrchestratorError::NoTranscoder)
        ));
        assert_eq!(pool.remote_capacity(), (1, 1));
        let info = pool.info(10);
        assert_eq!(info.len(), 1);
        assert_eq!((info[0].capacity, info[0].load), (1, 1));
    }

    #[tokio::test]
    async fn a_removed_transcoders_task_stream_ends() {
        use futures::StreamExt;
        let pool = Transcoders::new(None, &caps());
        let (a, mut stream) = pool.register("a".into(), 1, caps()).expect("a");
        assert!(pool.select("s1", &caps(), 10).is_ok());
        pool.end_session("s1");
        // The teardown message comes first, then the end.
        let teardown = stream.next().await.expect("message").expect("ok");
        assert!(teardown.url.is_empty());
        assert_eq!(
            teardown
                .seg_data
                .and_then(|s| s.auth_token)
                .map(|t| t.session_id),
            Some("s1".to_string())
        );
        pool.remove(a);
        assert!(stream.next().await.is_none());
    }
}
