//! One channel: the ring of its last [`SEGMENTS_PER_CHANNEL`] segments, its next write
//! index and closed flag, and the rules that go-livepeer's `trickle/trickle_server.go` applies
//! to them (`getForWrite`, `getForRead`, `Lp-Trickle-Reset`, `closeSeq`, `close`).
//!
//! Lock order: a channel's lock, then a segment's. Every segment that leaves the ring is
//! closed, so nothing waits on a segment the channel no longer holds.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::segment::{MemoryBudget, Segment};

/// Segments a channel keeps (go-livepeer's `maxSegmentsPerStream`); segment `seq` lives in
/// slot `seq % 5` and overwrites the one five before it, so a reader more than five segments
/// behind gets status 470 and must jump to `Lp-Trickle-Latest`.
pub const SEGMENTS_PER_CHANNEL: usize = 5;

/// Longest channel name, bytes.
pub const MAX_CHANNEL_NAME_BYTES: usize = 128;

/// Checks a channel name: 1 to [`MAX_CHANNEL_NAME_BYTES`] bytes of ASCII letters, digits,
/// `_`, `-` and `.`, not `.` or `..`, so that it is one URL path segment as sent (no escaping)
/// and safe to log. go-livepeer takes any path segment; its own names are manifest ids with
/// suffixes (`<mid>`, `<mid>-out`, `<mid>-control`, `<mid>-events`) and `_changes`.
pub fn is_valid_channel_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_CHANNEL_NAME_BYTES
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Which segment a reader asks for (the `<seq>` of `GET <ch>/<seq>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadSeq {
    /// `-1`: the next segment to be written (wait for the live edge).
    Next,
    /// `-2`: the most recent segment, possibly in progress (0 if none yet).
    Current,
    /// An absolute sequence number.
    Seq(u64),
}

#[derive(Debug)]
struct ChannelState {
    ring: [Option<Arc<Segment>>; SEGMENTS_PER_CHANNEL],
    next_write: u64,
    closed: bool,
    last_write: Instant,
}

/// One channel; shared by the server's map and every request that holds it.
#[derive(Debug)]
pub(crate) struct Channel {
    name: String,
    mime: String,
    state: Mutex<ChannelState>,
    budget: Arc<MemoryBudget>,
}

/// What a reader gets for its request.
#[derive(Debug)]
pub(crate) enum ReadOpen {
    /// The segment (existing or pre-created) and the next write index when it was found.
    Found { segment: Arc<Segment>, latest: u64 },
    /// No such segment in the window (or the channel is closed).
    Missing { seq: u64, latest: u64, closed: bool },
}

/// Why a writer cannot start on its segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentGone;

fn slot(seq: u64) -> usize {
    // Below SEGMENTS_PER_CHANNEL, so it fits.
    (seq % SEGMENTS_PER_CHANNEL as u64) as usize
}

impl Channel {
    pub(crate) fn new(name: String, mime: String, budget: Arc<MemoryBudget>) -> Arc<Self> {
        Arc::new(Self {
            name,
            mime,
            budget,
            state: Mutex::new(ChannelState {
                ring: Default::default(),
                next_write: 0,
                closed: false,
                last_write: Instant::now(),
            }),
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The mime type given at creation (`Expect-Content`, or the first POST's `Content-Type`
    /// when auto-created); may be empty.
    pub(crate) fn mime(&self) -> &str {
        &self.mime
    }

    /// The server's memory budget, bytes.
    pub(crate) fn budget_max_bytes(&self) -> u64 {
        self.budget.max_bytes()
    }

    fn lock(&self) -> MutexGuard<'_, ChannelState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Puts `segment` in its slot, closing what it evicts.
    fn place(st: &mut ChannelState, segment: Arc<Segment>) {
        if let Some(old) = st.ring[slot(segment.seq())].replace(segment) {
            old.close();
        }
    }

    /// The segment a publisher of `seq` (`None` = `-1`, the next write index) writes to:
    /// the one in the slot if it is that sequence and fresh (pre-created by a reader or
    /// pre-connected by another POST), otherwise a new one, replacing (and closing) what the
    /// slot held, so a second POST to a written sequence replaces its bytes and its readers
    /// get end of segment. With `reset` (`Lp-Trickle-Reset`), every older segment in the
    /// window is closed, which unblocks readers of a publisher that restarted.
    /// `None` when the channel is closed.
    pub(crate) fn open_write(&self, seq: Option<u64>, reset: bool) -> Option<(u64, Arc<Segment>)> {
        let mut st = self.lock();
        if st.closed {
            return None;
        }
        let seq = seq.unwrap_or(st.next_write);
        let segment = match &st.ring[slot(seq)] {
            Some(existing) if existing.seq() == seq && existing.is_fresh() => existing.clone(),
            _ => {
                let segment = Segment::new(seq, self.budget.clone());
                Self::place(&mut st, segment.clone());
                segment
            }
        };
        if reset {
            for older in st.ring.iter().flatten() {
                if older.seq() < seq {
                    older.close();
                }
            }
        }
        Some((seq, segment))
    }

    /// The first byte of a write to `segment` arrived: claims it (or, if another writer
    /// already claimed it, replaces it with a new segment of the same sequence, which the
    /// caller writes to instead), sets the next write index to `seq + 1` (as go-livepeer does,
    /// even when that moves it back) and the last write time. [`SegmentGone`] when the
    /// segment was closed while the writer was idle (deleted, reset, evicted, channel closed).
    pub(crate) fn begin_write(&self, segment: &Arc<Segment>) -> Result<Arc<Segment>, SegmentGone> {
        let mut st = self.lock();
        if st.closed || segment.is_closed() {
            return Err(SegmentGone);
        }
        let seq = segment.seq();
        let segment = if segment.is_claimed() {
            let replacement = Segment::new(seq, self.budget.clone());
            Self::place(&mut st, replacement.clone());
            replacement
        } else {
            segment.clone()
        };
        segment.claim();
        st.next_write = seq.saturating_add(1);
        st.last_write = Instant::now();
        Ok(segment)
    }

    /// A POST of `seq` ended without a byte (empty body, or its segment closed while it was
    /// idle): go-livepeer still advances the next write index past it so clients do not
    /// stall on it. Returns whether the channel is closed.
    pub(crate) fn note_empty_write(&self, seq: u64) -> bool {
        let mut st = self.lock();
        st.next_write = seq.saturating_add(1);
        st.last_write = Instant::now();
        st.closed
    }

    /// The segment a reader asks for. A segment exactly at the live edge (`seq` equal to the
    /// next write index, or 1 before anything was written) is pre-created so the reader waits
    /// for the publisher; anything else outside the window is [`ReadOpen::Missing`].
    pub(crate) fn open_read(&self, want: ReadSeq) -> ReadOpen {
        let mut st = self.lock();
        let seq = match want {
            ReadSeq::Next => st.next_write,
            ReadSeq::Current => st.next_write.saturating_sub(1),
            ReadSeq::Seq(seq) => seq,
        };
        let latest = st.next_write;
        if let Some(segment) = &st.ring[slot(seq)]
            && segment.seq() == seq
        {
            return ReadOpen::Found {
                segment: segment.clone(),
                latest,
            };
        }
        let at_edge = seq == st.next_write || (st.next_write == 0 && seq == 1);
        if at_edge && !st.closed {
            let segment = Segment::new(seq, self.budget.clone());
            Self::place(&mut st, segment.clone());
            return ReadOpen::Found { segment, latest };
        }
        ReadOpen::Missing {
            seq,
            latest,
            closed: st.closed,
        }
    }

    /// Closes segment `seq` early (`DELETE <ch>/<seq>`); `false` if it is not in the window.
    pub(crate) fn close_segment(&self, seq: u64) -> bool {
        let st = self.lock();
        match &st.ring[slot(seq)] {
            Some(segment) if segment.seq() == seq => {
                segment.close();
                true
            }
            _ => false,
        }
    }

    /// Closes the channel: every segment is closed and dropped, so readers and idle writers
    /// wake up and see `Lp-Trickle-Closed`.
    pub(crate) fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        for segment in st.ring.iter_mut().filter_map(Option::take) {
            segment.close();
        }
    }

    /// The next write index and whether the channel is closed.
    pub(crate) fn next_write(&self) -> (u64, bool) {
        let st = self.lock();
        (st.next_write, st.closed)
    }

    /// Time since the last write began (or since creation).
    pub(crate) fn idle_for(&self, now: Instant) -> Duration {
        now.saturating_duration_since(self.lock().last_write)
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn found(open: ReadOpen) -> Arc<Segment> {
        match open {
            ReadOpen::Found { segment, .. } => segment,
            ReadOpen::Missing { seq, .. } => panic!("segment {seq} missing"),
        }
    }

    fn write(channel: &Channel, seq: u64, data: &'static [u8]) -> Arc<Segment> {
        let (_, segment) = channel.open_write(Some(seq), false).expect("open");
        let segment = channel.begin_write(&segment).expect("begin");
        assert_eq!(
            segment.append(Bytes::from_static(data), false),
            crate::segment::Appended::Stored
        );
        segment.close();
        segment
    }

    #[test]
    fn names() {
        let long = "a".repeat(MAX_CHANNEL_NAME_BYTES);
        let too_long = "a".repeat(MAX_CHANNEL_NAME_BYTES + 1);
        let cases = [
            ("abc123", true),
            ("a1b2-out", true),
            ("_changes", true),
            ("x.y_z-w", true),
            (long.as_str(), true),
            ("", false),
            (".", false),
            ("..", false),
            ("a/b", false),
            ("a b", false),
            ("a%2Fb", false),
            ("é", false),
            (too_long.as_str(), false),
        ];
        for (name, ok) in cases {
            assert_eq!(is_valid_channel_name(name), ok, "{name:?}");
        }
    }

    #[test]
    fn reads_resolve_next_and_current_and_precreate_only_at_the_edge() {
        let channel = Channel::new("c".into(), "video/MP2T".into(), MemoryBudget::new(u64::MAX));
        // Nothing written: -2 is 0, -1 is 0, 1 is pre-created too, 2 is missing.
        assert_eq!(found(channel.open_read(ReadSeq::Current)).seq(), 0);
        assert_eq!(found(channel.open_read(ReadSeq::Next)).seq(), 0);
        assert_eq!(found(channel.open_read(ReadSeq::Seq(1))).seq(), 1);
        assert!(matches!(
            channel.open_read(ReadSeq::Seq(2)),
            ReadOpen::Missing {
                seq: 2,
                latest: 0,
                closed: false
            }
        ));
        for seq in 0..7 {
            write(&channel, seq, b"x");
        }
        // next_write is 7; the window holds 2..=6.
        assert_eq!(found(channel.open_read(ReadSeq::Current)).seq(), 6);
        assert_eq!(found(channel.open_read(ReadSeq::Next)).seq(), 7);
        // Pre-creating 7 evicted 2.
        assert!(matches!(
            channel.open_read(ReadSeq::Seq(2)),
            ReadOpen::Missing { latest: 7, .. }
        ));
        assert_eq!(found(channel.open_read(ReadSeq::Seq(3))).seq(), 3);
        assert!(matches!(
            channel.open_read(ReadSeq::Seq(9)),
            ReadOpen::Missing { latest: 7, .. }
        ));
    }

    #[test]
    fn a_second_post_replaces_a_written_segment_and_closes_the_old_one() {
        let channel = Channel::new("c".into(), String::new(), MemoryBudget::new(u64::MAX));
        let (_, first) = channel.open_write(Some(0), false).expect("open");
        let first = channel.begin_write(&first).expect("begin");
        first.append(Bytes::from_static(b"partial"), false);
        let (_, second) = channel.open_write(Some(0), false).expect("open");
        assert!(first.is_closed());
        assert!(!Arc::ptr_eq(&first, &second));
        assert!(Arc::ptr_eq(
            &found(channel.open_read(ReadSeq::Seq(0))),
            &second
        ));
    }

    #[test]
    fn a_fresh_segment_is_shared_by_readers_and_the_first_writer() {
        let channel = Channel::new("c".into(), String::new(), MemoryBudget::new(u64::MAX));
        let waiting = found(channel.open_read(ReadSeq::Next));
        let (seq, idle) = channel.open_write(None, false).expect("open");
        assert_eq!(seq, 0);
        assert!(Arc::ptr_eq(&waiting, &idle));
        // Two idle POSTs share it; the second to send a byte replaces the first's.
        let (_, other) = channel.open_write(Some(0), false).expect("open");
        assert!(Arc::ptr_eq(&idle, &other));
        let first = channel.begin_write(&idle).expect("begin");
        assert!(Arc::ptr_eq(&first, &waiting));
        let second = channel.begin_write(&other).expect("begin");
        assert!(!Arc::ptr_eq(&second, &first));
        assert!(first.is_closed());
        assert_eq!(channel.next_write().0, 1);
    }

    #[test]
    fn reset_closes_older_segments_but_not_newer_ones() {
        let channel = Channel::new("c".into(), String::new(), MemoryBudget::new(u64::MAX));
        let (_, s0) = channel.open_write(Some(0), false).expect("open");
        let (_, s1) = channel.open_write(Some(1), false).expect("open");
        let (_, s3) = channel.open_write(Some(3), false).expect("open");
        let (_, s2) = channel.open_write(Some(2), true).expect("open");
        assert!(s0.is_closed() && s1.is_closed());
        assert!(!s2.is_closed() && !s3.is_closed());
    }

    #[test]
    fn idle_writers_see_their_segment_gone() {
        let channel = Channel::new("c".into(), String::new(), MemoryBudget::new(u64::MAX));
        let (_, s0) = channel.open_write(Some(0), false).expect("open");
        assert!(channel.close_segment(0));
        assert!(matches!(channel.begin_write(&s0), Err(SegmentGone)));
        assert!(!channel.close_segment(1));
        // Evicted by seq 5.
        let (_, s1) = channel.open_write(Some(1), false).expect("open");
        let (_, _s6) = channel.open_write(Some(6), false).expect("open");
        assert!(matches!(channel.begin_write(&s1), Err(SegmentGone)));
        // Channel closed.
        let (_, s2) = channel.open_write(Some(2), false).expect("open");
        channel.close();
        assert!(matches!(channel.begin_write(&s2), Err(SegmentGone)));
        assert!(channel.open_write(None, false).is_none());
        assert!(matches!(
            channel.open_read(ReadSeq::Next),
            ReadOpen::Missing { closed: true, .. }
        ));
    }
}
