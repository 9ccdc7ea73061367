//! Transcoding sessions: capacity, per-session ordering and idle teardown.
//!
//! As go-livepeer `core/orchestrator.go` (`getSegmentChan`, `transcodeSegmentLoop`): a session
//! is keyed by the auth token's session ID; a new session is refused with "OrchestratorCapped"
//! once `-maxSessions` are open; each session handles its segments one at a time, queueing at
//! most [`MAX_QUEUED_SEGMENTS`] ("OrchestratorBusy" beyond); a session idle for
//! [`DEFAULT_SESSION_IDLE_TIMEOUT`] is torn down and its storage freed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::OrchestratorError;

/// Idle time after which a session is torn down: 70 s (go-livepeer `transcodeLoopTimeout`).
pub const DEFAULT_SESSION_IDLE_TIMEOUT: Duration = Duration::from_secs(70);

/// Segments a session may have waiting or in progress (go-livepeer `maxSegmentChannels`).
pub const MAX_QUEUED_SEGMENTS: usize = 4;

/// One session's state.
#[derive(Debug)]
pub struct Session {
    /// The auth token's session ID.
    pub id: String,
    /// Serialises this session's transcodes, so segments are handled in arrival order.
    pub turn: tokio::sync::Mutex<()>,
    queued: AtomicUsize,
    last_used: Mutex<Instant>,
    closed: std::sync::atomic::AtomicBool,
}

impl Session {
    /// Whether the session is still open (not ended nor swept as idle).
    pub fn is_open(&self) -> bool {
        !self.closed.load(Ordering::Acquire)
    }

    fn touch(&self) {
        *self.last_used.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
    }

    fn idle_for(&self, now: Instant) -> Duration {
        now.saturating_duration_since(*self.last_used.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// A queued segment's place in its session; dropping it frees the place.
#[derive(Debug)]
pub struct QueueSlot {
    session: Arc<Session>,
    /// Whether taking this place opened the session.
    opened: bool,
}

impl QueueSlot {
    /// The session this slot belongs to.
    pub fn session(&self) -> &Arc<Session> {
        &self.session
    }
}

impl Drop for QueueSlot {
    fn drop(&mut self) {
        self.session.queued.fetch_sub(1, Ordering::AcqRel);
        self.session.touch();
    }
}

/// The open sessions.
#[derive(Debug)]
pub struct Sessions {
    max_sessions: AtomicUsize,
    open: Mutex<HashMap<String, Arc<Session>>>,
}

impl Sessions {
    /// An empty session table admitting `max_sessions` sessions.
    pub fn new(max_sessions: usize) -> Self {
        Self {
            max_sessions: AtomicUsize::new(max_sessions),
            open: Mutex::new(HashMap::new()),
        }
    }

    /// The session limit.
    pub fn max_sessions(&self) -> usize {
        self.max_sessions.load(Ordering::Relaxed)
    }

    /// Changes the session limit (the CLI API's `/setMaxSessions`). Open sessions are kept;
    /// new ones are refused while `max_sessions` or more are open.
    pub fn set_max_sessions(&self, max_sessions: usize) {
        self.max_sessions.store(max_sessions, Ordering::Relaxed);
    }

    /// Number of open sessions.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no session is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a session (new if `id` is not open) can be admitted (go-livepeer `CheckCapacity`).
    pub fn check_capacity(&self, id: Option<&str>) -> Result<(), OrchestratorError> {
        let open = self.lock();
        if id.is_some_and(|id| open.contains_key(id)) || open.len() < self.max_sessions() {
            Ok(())
        } else {
            Err(OrchestratorError::Capped)
        }
    }

    /// Gives back a place whose segment was refused before any work (its body was unreadable
    /// or did not match its hash): when taking it opened the session and nothing else is
    /// queued there, the session is closed again, so a refused segment never holds one of
    /// the `-maxSessions` places (go-livepeer opens sessions only after the hash check).
    pub fn release_refused(&self, slot: QueueSlot) {
        let id = slot.session.id.clone();
        let alone = slot.opened && slot.session.queued.load(Ordering::Acquire) == 1;
        drop(slot);
        if alone {
            let mut open = self.lock();
            if let Some(session) = open.get(&id)
                && session.queued.load(Ordering::Acquire) == 0
            {
                session.closed.store(true, Ordering::Release);
                open.remove(&id);
            }
        }
    }

    /// Finds or opens session `id` and takes a queue place in it.
    ///
    /// Errors: [`OrchestratorError::Capped`] when `id` is new and the table is full;
    /// [`OrchestratorError::Busy`] when the session already has [`MAX_QUEUED_SEGMENTS`].
    pub fn enqueue(&self, id: &str) -> Result<QueueSlot, OrchestratorError> {
        let (session, opened) = {
            let mut open = self.lock();
            match open.get(id) {
                Some(session) => (session.clone(), false),
                None => {
                    if open.len() >= self.max_sessions() {
                        return Err(OrchestratorError::Capped);
                    }
                    let session = Arc::new(Session {
                        id: id.to_string(),
                        turn: tokio::sync::Mutex::new(()),
                        queued: AtomicUsize::new(0),
                        last_used: Mutex::new(Instant::now()),
                        closed: Default::default(),
                    });
                    open.insert(id.to_string(), session.clone());
                    (session, true)
                }
            }
        };
        let before = session.queued.fetch_add(1, Ordering::AcqRel);
        session.touch();
        let slot = QueueSlot { session, opened };
        if before >= MAX_QUEUED_SEGMENTS {
            return Err(OrchestratorError::Busy); // dropping `slot` gives the place back
        }
        Ok(slot)
    }

    /// Closes session `id`; returns whether it was open.
    pub fn end(&self, id: &str) -> bool {
        match self.lock().remove(id) {
            Some(session) => {
                session.closed.store(true, Ordering::Release);
                true
            }
            None => false,
        }
    }

    /// Closes and returns the IDs of sessions idle for at least `idle` with nothing queued.
    pub fn sweep_idle(&self, idle: Duration) -> Vec<String> {
        let now = Instant::now();
        let mut open = self.lock();
        let expired: Vec<String> = open
            .values()
            .filter(|s| s.queued.load(Ordering::Acquire) == 0 && s.idle_for(now) >= idle)
            .map(|s| s.id.clone())
            .collect();
        for id in &expired {
            if let Some(session) = open.remove(id) {
                session.closed.store(true, Ordering::Release);
            }
        }
        expired
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_counts_sessions_not_segments() {
        let sessions = Sessions::new(2);
        let a1 = sessions.enqueue("aaaaaaaa").expect("first session");
        let _a2 = sessions.enqueue("aaaaaaaa").expect("same session again");
        let _b = sessions.enqueue("bbbbbbbb").expect("second session");
        assert!(matches!(
            sessions.enqueue("cccccccc"),
            Err(OrchestratorError::Capped)
        ));
        assert!(sessions.check_capacity(Some("aaaaaaaa")).is_ok());
        assert!(sessions.check_capacity(None).is_err());
        drop(a1);
        assert!(sessions.end("aaaaaaaa"));
        assert!(sessions.enqueue("cccccccc").is_ok());
    }

    #[test]
    fn a_lowered_limit_refuses_new_sessions_and_keeps_open_ones() {
        let sessions = Sessions::new(3);
        let _a = sessions.enqueue("aaaaaaaa").expect("a");
        let _b = sessions.enqueue("bbbbbbbb").expect("b");
        sessions.set_max_sessions(1);
        assert_eq!(sessions.max_sessions(), 1);
        assert!(sessions.enqueue("aaaaaaaa").is_ok(), "open sessions go on");
        assert!(matches!(
            sessions.enqueue("cccccccc"),
            Err(OrchestratorError::Capped)
        ));
        sessions.set_max_sessions(3);
        assert!(sessions.enqueue("cccccccc").is_ok());
    }

    #[test]
    fn a_refused_first_segment_gives_its_session_back() {
        let sessions = Sessions::new(1);
        let slot = sessions.enqueue("aaaaaaaa").expect("opens the session");
        sessions.release_refused(slot);
        assert!(sessions.is_empty());
        // A refused segment of a session that was already open leaves it open.
        drop(sessions.enqueue("bbbbbbbb").expect("opens"));
        let slot = sessions.enqueue("bbbbbbbb").expect("same session");
        sessions.release_refused(slot);
        assert_eq!(sessions.len(), 1);
    }

    #[test]
    fn a_session_queues_at_most_four() {
        let sessions = Sessions::new(1);
        let slots: Vec<_> = (0..MAX_QUEUED_SEGMENTS)
            .map(|_| sessions.enqueue("aaaaaaaa").expect("room"))
            .collect();
        assert!(matches!(
            sessions.enqueue("aaaaaaaa"),
            Err(OrchestratorError::Busy)
        ));
        drop(slots);
        assert!(sessions.enqueue("aaaaaaaa").is_ok());
    }

    #[test]
    fn idle_sessions_are_swept_busy_ones_are_not() {
        let sessions = Sessions::new(3);
        drop(sessions.enqueue("aaaaaaaa").expect("a"));
        let _busy = sessions.enqueue("bbbbbbbb").expect("b");
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(
            sessions.sweep_idle(Duration::from_millis(10)),
            vec!["aaaaaaaa".to_string()]
        );
        assert_eq!(sessions.len(), 1);
        assert!(sessions.sweep_idle(Duration::from_secs(60)).is_empty());
    }
}
