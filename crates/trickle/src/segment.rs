//! One segment's bytes, stored once and shared by every reader.
//!
//! A segment is a growing list of [`Bytes`] chunks. Writers append; readers keep a byte
//! position and receive zero-copy slices of the stored chunks (a clone of a `Bytes` is a
//! reference count, never a copy), so N readers of a live segment cost N positions, not N
//! buffers. Small writes are merged into the last chunk (one copy, bounded by
//! [`SMALL_CHUNK_BYTES`]) so a writer sending tiny pieces cannot make the chunk list, whose
//! entries cost a few dozen bytes each, outgrow the bytes it indexes.

use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::{Bytes, BytesMut};
use tokio::sync::Notify;

/// A write smaller than this is merged into the last chunk when that chunk is also smaller
/// than this, bytes. Chunks are then at least this large, except one small chunk between two
/// large ones, so the per-chunk overhead stays a small fraction of the payload.
pub(crate) const SMALL_CHUNK_BYTES: usize = 1024;

/// The bytes all segments of a server may hold together; each segment charges what it
/// stores and gives it back when it is dropped (out of the window and unread).
#[derive(Debug)]
pub(crate) struct MemoryBudget {
    max_bytes: u64,
    used_bytes: AtomicU64,
}

impl MemoryBudget {
    pub(crate) fn new(max_bytes: u64) -> Arc<Self> {
        Arc::new(Self {
            max_bytes,
            used_bytes: AtomicU64::new(0),
        })
    }

    pub(crate) fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Bytes held now.
    pub(crate) fn used_bytes(&self) -> u64 {
        self.used_bytes.load(Ordering::Relaxed)
    }

    fn try_charge(&self, bytes: u64) -> bool {
        self.used_bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes)
                    .filter(|total| *total <= self.max_bytes)
            })
            .is_ok()
    }

    fn release(&self, bytes: u64) {
        let _ = self
            .used_bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(bytes))
            });
    }
}

/// One stored chunk: its offset in the segment and its bytes.
#[derive(Debug)]
struct Chunk {
    start: u64,
    data: Bytes,
}

impl Chunk {
    fn end(&self) -> u64 {
        self.start + self.data.len() as u64
    }
}

#[derive(Debug, Default)]
struct SegmentState {
    chunks: Vec<Chunk>,
    len_bytes: u64,
    closed: bool,
    /// A writer has started on this segment (its first byte arrived).
    claimed: bool,
}

/// One segment of a channel: sequence number, bytes so far, closed flag, and a wake-up for
/// readers and idle writers waiting on it.
#[derive(Debug)]
pub(crate) struct Segment {
    seq: u64,
    state: Mutex<SegmentState>,
    changed: Notify,
    budget: Arc<MemoryBudget>,
}

/// What [`Segment::append`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Appended {
    /// Stored.
    Stored,
    /// The segment is closed; nothing stored.
    Closed,
    /// The server's memory budget is spent; nothing stored.
    OverBudget,
}

/// What a reader finds at its position.
enum ReadAt {
    /// Bytes from the position on (a slice of one stored chunk).
    Data(Bytes),
    /// Nothing yet; the segment is still open.
    Pending,
    /// The segment is closed and the position is at its end.
    End,
}

impl Segment {
    pub(crate) fn new(seq: u64, budget: Arc<MemoryBudget>) -> Arc<Self> {
        Arc::new(Self {
            seq,
            state: Mutex::new(SegmentState::default()),
            changed: Notify::new(),
            budget,
        })
    }

    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    fn lock(&self) -> MutexGuard<'_, SegmentState> {
        // The state stays consistent between statements, so a panic elsewhere while holding
        // the lock leaves nothing half-written; keep serving.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Not closed, no writer started, no bytes: a pre-created or pre-connected segment that
    /// a publisher may still take.
    pub(crate) fn is_fresh(&self) -> bool {
        let st = self.lock();
        !st.closed && !st.claimed && st.len_bytes == 0
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    pub(crate) fn is_claimed(&self) -> bool {
        self.lock().claimed
    }

    /// Marks that a writer started; the caller holds the channel lock.
    pub(crate) fn claim(&self) {
        self.lock().claimed = true;
    }

    /// Bytes stored so far.
    #[cfg(test)]
    pub(crate) fn len_bytes(&self) -> u64 {
        self.lock().len_bytes
    }

    /// Closes the segment: readers get the rest of its bytes then end of segment, idle
    /// writers waiting on it wake up. Idempotent.
    pub(crate) fn close(&self) {
        let mut st = self.lock();
        if !st.closed {
            st.closed = true;
            drop(st);
            self.changed.notify_waiters();
        }
    }

    /// Appends `data`. `copy` detaches the bytes from the caller's buffer (HTTP bodies are
    /// slices of hyper's read buffers, which must not be kept alive by a stored segment).
    pub(crate) fn append(&self, data: Bytes, copy: bool) -> Appended {
        let mut st = self.lock();
        if st.closed {
            return Appended::Closed;
        }
        if data.is_empty() {
            return Appended::Stored;
        }
        if !self.budget.try_charge(data.len() as u64) {
            return Appended::OverBudget;
        }
        let start = st.len_bytes;
        st.len_bytes += data.len() as u64;
        let merge = data.len() < SMALL_CHUNK_BYTES
            && st
                .chunks
                .last()
                .is_some_and(|last| last.data.len() < SMALL_CHUNK_BYTES);
        if merge {
            if let Some(last) = st.chunks.last_mut() {
                let mut merged = BytesMut::with_capacity(last.data.len() + data.len());
                merged.extend_from_slice(&last.data);
                merged.extend_from_slice(&data);
                last.data = merged.freeze();
            }
        } else {
            let data = if copy {
                Bytes::copy_from_slice(&data)
            } else {
                data
            };
            st.chunks.push(Chunk { start, data });
        }
        drop(st);
        self.changed.notify_waiters();
        Appended::Stored
    }

    fn read_at(&self, pos: u64, hint: &mut usize) -> ReadAt {
        let st = self.lock();
        if pos >= st.len_bytes {
            return if st.closed {
                ReadAt::End
            } else {
                ReadAt::Pending
            };
        }
        // pos < len_bytes, so some chunk holds it; start from the reader's last chunk.
        let mut i = (*hint).min(st.chunks.len().saturating_sub(1));
        while i > 0 && st.chunks[i].start > pos {
            i -= 1;
        }
        while i + 1 < st.chunks.len() && st.chunks[i].end() <= pos {
            i += 1;
        }
        let chunk = &st.chunks[i];
        *hint = i;
        // Both fit in usize: the offset is within one in-memory chunk.
        let offset = usize::try_from(pos - chunk.start).unwrap_or(0);
        ReadAt::Data(chunk.data.slice(offset.min(chunk.data.len())..))
    }

    /// Waits until the segment is closed.
    pub(crate) async fn wait_closed(&self) {
        loop {
            let mut notified = pin!(self.changed.notified());
            notified.as_mut().enable();
            if self.is_closed() {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        let stored = self.lock().len_bytes;
        self.budget.release(stored);
    }
}

/// A reader's position in one segment. [`Self::next_chunk`] waits for bytes while the
/// segment is open.
#[derive(Debug)]
pub(crate) struct SegmentCursor {
    segment: Arc<Segment>,
    pos: u64,
    hint: usize,
}

impl SegmentCursor {
    /// A reader from the segment's first byte.
    pub(crate) fn new(segment: Arc<Segment>) -> Self {
        Self {
            segment,
            pos: 0,
            hint: 0,
        }
    }

    pub(crate) fn segment(&self) -> &Arc<Segment> {
        &self.segment
    }

    /// The next bytes from the reader's position, waiting while the segment is open and has
    /// nothing new; `None` once it is closed and fully read.
    pub(crate) async fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            let mut notified = pin!(self.segment.changed.notified());
            notified.as_mut().enable();
            match self.segment.read_at(self.pos, &mut self.hint) {
                ReadAt::Data(data) => {
                    self.pos += data.len() as u64;
                    return Some(data);
                }
                ReadAt::End => return None,
                ReadAt::Pending => notified.await,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn read_all(segment: &Arc<Segment>) -> Vec<u8> {
        let mut cursor = SegmentCursor::new(segment.clone());
        let mut out = Vec::new();
        while let Some(chunk) = cursor.next_chunk().await {
            out.extend_from_slice(&chunk);
        }
        out
    }

    #[tokio::test]
    async fn small_writes_merge_and_readers_see_every_byte() {
        // (write sizes, chunks expected)
        let cases: &[(&[usize], usize)] = &[
            (&[1; 100], 1),
            (&[4096, 4096], 2),
            (&[10, 4096, 10, 10], 3),
            (&[1000, 1000], 1),
            (&[1023, 1, 5000], 2),
        ];
        for (sizes, chunks) in cases {
            let segment = Segment::new(0, MemoryBudget::new(u64::MAX));
            let mut expected = Vec::new();
            for (i, size) in sizes.iter().enumerate() {
                let data: Vec<u8> = (0..*size).map(|j| (i * 7 + j) as u8).collect();
                expected.extend_from_slice(&data);
                assert_eq!(segment.append(Bytes::from(data), true), Appended::Stored);
            }
            segment.close();
            assert_eq!(segment.lock().chunks.len(), *chunks, "{sizes:?}");
            assert_eq!(segment.len_bytes(), expected.len() as u64);
            assert_eq!(read_all(&segment).await, expected, "{sizes:?}");
        }
    }

    #[tokio::test]
    async fn a_reader_mid_way_through_a_merged_chunk_gets_only_the_new_bytes() {
        let segment = Segment::new(3, MemoryBudget::new(u64::MAX));
        segment.append(Bytes::from_static(b"ab"), false);
        let mut cursor = SegmentCursor::new(segment.clone());
        assert_eq!(cursor.next_chunk().await.as_deref(), Some(&b"ab"[..]));
        segment.append(Bytes::from_static(b"cd"), false);
        assert_eq!(cursor.next_chunk().await.as_deref(), Some(&b"cd"[..]));
        segment.close();
        assert_eq!(cursor.next_chunk().await, None);
        assert_eq!(
            segment.append(Bytes::from_static(b"late"), false),
            Appended::Closed
        );
    }

    #[test]
    fn the_budget_is_charged_per_byte_and_given_back_on_drop() {
        let budget = MemoryBudget::new(10);
        let first = Segment::new(0, budget.clone());
        assert_eq!(
            first.append(Bytes::from_static(b"123456"), false),
            Appended::Stored
        );
        let second = Segment::new(1, budget.clone());
        assert_eq!(
            second.append(Bytes::from_static(b"12345"), false),
            Appended::OverBudget
        );
        assert_eq!(
            second.append(Bytes::from_static(b"1234"), false),
            Appended::Stored
        );
        assert_eq!(budget.used_bytes(), 10);
        drop(first);
        assert_eq!(budget.used_bytes(), 4);
        assert_eq!(
            second.append(Bytes::from_static(b"12345"), false),
            Appended::Stored
        );
        drop(second);
        assert_eq!(budget.used_bytes(), 0);
    }

    #[tokio::test]
    async fn readers_wait_for_bytes_and_for_close() {
        let segment = Segment::new(0, MemoryBudget::new(u64::MAX));
        let reader = tokio::spawn({
            let segment = segment.clone();
            async move { read_all(&segment).await }
        });
        let waiter = tokio::spawn({
            let segment = segment.clone();
            async move { segment.wait_closed().await }
        });
        tokio::task::yield_now().await;
        segment.append(Bytes::from_static(b"hello "), false);
        segment.append(Bytes::from(vec![b'x'; 5000]), false);
        segment.close();
        let mut expected = b"hello ".to_vec();
        expected.extend_from_slice(&[b'x'; 5000]);
        assert_eq!(reader.await.expect("reader"), expected);
        waiter.await.expect("waiter");
    }
}
