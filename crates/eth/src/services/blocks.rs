//! The block watcher's pure part: a window of the last [`HEADER_WINDOW`] headers that detects a
//! reorg by parent hash and walks back to the common ancestor, and the block ranges of log
//! queries (go-livepeer `eth/blockwatch/block_watcher.go`, whose rules these follow: 20
//! retained headers, at most 1000 blocks per `eth_getLogs`).

use std::collections::VecDeque;
use std::future::Future;

use alloy::primitives::B256;
use serde::{Deserialize, Serialize};

use crate::EthError;

/// Headers kept to detect and unwind reorgs (go-livepeer `blockwatch` `blockRetentionLimit`).
pub const HEADER_WINDOW: usize = 20;

/// At most this many blocks per `eth_getLogs` request (go-livepeer
/// `blockwatch.maxBlocksInGetLogsQuery`).
pub const MAX_BLOCKS_PER_LOG_QUERY: u64 = 1000;

/// The parts of a block header the watcher keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MiniHeader {
    /// Block number.
    pub number: u64,
    /// Block hash.
    pub hash: B256,
    /// Parent hash.
    pub parent_hash: B256,
    /// L1 block number (Arbitrum `l1BlockNumber`; the number itself elsewhere).
    pub l1_block: u64,
}

/// Where headers come from: the node, or a test chain.
pub trait HeaderSource {
    /// The latest header.
    fn latest(&self) -> impl Future<Output = Result<MiniHeader, EthError>> + Send;
    /// The canonical header at `number`, `None` above the tip.
    fn by_number(
        &self,
        number: u64,
    ) -> impl Future<Output = Result<Option<MiniHeader>, EthError>> + Send;
}

/// The last headers of the canonical chain as the watcher knows it, oldest first, each the
/// parent of the next.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeaderWindow {
    headers: VecDeque<MiniHeader>,
}

/// What one [`HeaderWindow::sync`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncOutcome {
    /// Headers dropped because the chain no longer has them, newest first (a reorg when not
    /// empty).
    pub removed: Vec<MiniHeader>,
    /// The newest header both chains share, when there was a reorg within the window.
    pub common_ancestor: Option<u64>,
    /// New canonical blocks whose logs are to be read: `(first, last)` inclusive; the range may
    /// be longer than the window (a backfill).
    pub new_blocks: Option<(u64, u64)>,
    /// The window's tip afterwards.
    pub tip: Option<MiniHeader>,
}

impl HeaderWindow {
    /// A window holding `headers` (oldest first); headers that do not chain are dropped from
    /// the first break on.
    pub fn from_headers(headers: impl IntoIterator<Item = MiniHeader>) -> Self {
        let mut window = Self::default();
        for h in headers {
            if !window.push(h) {
                break;
            }
        }
        window
    }

    /// The headers, oldest first.
    pub fn headers(&self) -> impl Iterator<Item = &MiniHeader> {
        self.headers.iter()
    }

    /// The newest header.
    pub fn tip(&self) -> Option<&MiniHeader> {
        self.headers.back()
    }

    /// Appends `h` if it is the child of the tip (or the window is empty); drops the oldest
    /// beyond [`HEADER_WINDOW`]. Returns whether it was appended.
    pub fn push(&mut self, h: MiniHeader) -> bool {
        if let Some(tip) = self.tip()
            && (h.parent_hash != tip.hash || Some(h.number) != tip.number.checked_add(1))
        {
            return false;
        }
        self.headers.push_back(h);
        while self.headers.len() > HEADER_WINDOW {
            self.headers.pop_front();
        }
        true
    }

    /// Brings the window to the chain's latest block: walks back from the tip to the newest
    /// header the chain still has (a reorg removes the ones above it), then appends the new
    /// blocks' headers (only the last [`HEADER_WINDOW`] of a long gap are fetched). An empty
    /// window starts at the latest block with no new blocks to read.
    ///
    /// A reorg deeper than the window empties it and restarts at the latest block; every
    /// header it held is reported removed. Errors: the source's.
    pub async fn sync<S: HeaderSource>(&mut self, source: &S) -> Result<SyncOutcome, EthError> {
        let latest = source.latest().await?;
        let mut out = SyncOutcome::default();
        let Some(tip) = self.tip().copied() else {
            self.push(latest);
            out.tip = Some(latest);
            return Ok(out);
        };
        let behind = latest.number < tip.number
            && self
                .headers
                .iter()
                .any(|h| h.number == latest.number && h.hash == latest.hash);
        if tip.hash == latest.hash || behind {
            // Nothing new, or an endpoint (behind a load balancer) a few blocks behind on our
            // own chain: not a reorg.
            out.tip = Some(tip);
            return Ok(out);
        }
        // Walk back to the common ancestor.
        while let Some(h) = self.tip().copied() {
            let still_canonical = if h.number > latest.number {
                false
            } else if h.number == latest.number {
                h.hash == latest.hash
            } else {
                source
                    .by_number(h.number)
                    .await?
                    .is_some_and(|c| c.hash == h.hash)
            };
            if still_canonical {
                break;
            }
            out.removed.extend(self.headers.pop_back());
        }
        let Some(ancestor) = self.tip().copied() else {
            // Deeper than the window: start over at the latest block.
            self.push(latest);
            out.tip = Some(latest);
            return Ok(out);
        };
        if !out.removed.is_empty() {
            out.common_ancestor = Some(ancestor.number);
        }
        let first_new = ancestor.number.saturating_add(1);
        if first_new > latest.number {
            out.tip = Some(ancestor);
            return Ok(out);
        }
        let window = u64::try_from(HEADER_WINDOW).unwrap_or(u64::MAX);
        let first_fetched = first_new.max(latest.number.saturating_sub(window - 1));
        if first_fetched > first_new {
            // A long gap: the old headers cannot chain to the new ones.
            self.headers.clear();
        }
        let mut last = ancestor.number;
        for number in first_fetched..=latest.number {
            let header = if number == latest.number {
                Some(latest)
            } else {
                source.by_number(number).await?
            };
            // A header that does not chain means the chain moved while we read it: stop here,
            // the next sync walks back from this tip.
            match header {
                Some(h) if self.push(h) => last = number,
                _ => break,
            }
        }
        if last >= first_new {
            out.new_blocks = Some((first_new, last));
        }
        out.tip = self.tip().copied();
        Ok(out)
    }
}

/// Splits `[first, last]` into consecutive inclusive ranges of at most `size` blocks.
pub fn block_ranges(first: u64, last: u64, size: u64) -> Vec<(u64, u64)> {
    let size = size.max(1);
    let mut ranges = Vec::new();
    let mut from = first;
    while from <= last {
        let to = from.saturating_add(size - 1).min(last);
        ranges.push((from, to));
        if to == u64::MAX {
            break;
        }
        from = to + 1;
    }
    ranges
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// A chain of headers in memory; `fork` replaces everything above a height.
    struct TestChain(Mutex<Vec<MiniHeader>>);

    fn hash(number: u64, fork: u8) -> B256 {
        let mut b = [0u8; 32];
        b[..8].copy_from_slice(&number.to_be_bytes());
        b[31] = fork;
        B256::from(b)
    }

    impl TestChain {
        fn new(len: u64) -> Self {
            let chain = Self(Mutex::new(Vec::new()));
            chain.extend(len, 0);
            chain
        }

        fn extend(&self, n: u64, fork: u8) {
            let mut c = self.0.lock().expect("lock");
            for _ in 0..n {
                let number = c.len() as u64;
                let parent_hash = c.last().map(|h| h.hash).unwrap_or_default();
                c.push(MiniHeader {
                    number,
                    hash: hash(number, fork),
                    parent_hash,
                    l1_block: number,
                });
            }
        }

        fn fork_at(&self, height: u64, n: u64, fork: u8) {
            self.0.lock().expect("lock").truncate(height as usize);
            self.extend(n, fork);
        }
    }

    impl HeaderSource for TestChain {
        async fn latest(&self) -> Result<MiniHeader, EthError> {
            Ok(*self.0.lock().expect("lock").last().expect("genesis"))
        }

        async fn by_number(&self, number: u64) -> Result<Option<MiniHeader>, EthError> {
            Ok(self.0.lock().expect("lock").get(number as usize).copied())
        }
    }

    fn run<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn follows_new_blocks_and_reports_their_range() {
        let chain = TestChain::new(10);
        let mut window = HeaderWindow::default();
        let first = run(window.sync(&chain)).expect("sync");
        assert_eq!(
            (first.new_blocks, first.tip.map(|t| t.number)),
            (None, Some(9))
        );
        chain.extend(3, 0);
        let out = run(window.sync(&chain)).expect("sync");
        assert_eq!(out.new_blocks, Some((10, 12)));
        assert!(out.removed.is_empty());
        let again = run(window.sync(&chain)).expect("sync");
        assert_eq!(again.new_blocks, None);
    }

    #[test]
    fn a_reorg_walks_back_to_the_common_ancestor() {
        let chain = TestChain::new(10);
        let mut window = HeaderWindow::default();
        run(window.sync(&chain)).expect("sync");
        chain.extend(5, 0); // 10..=14
        run(window.sync(&chain)).expect("sync");
        // Blocks 12.. are replaced by a longer fork.
        chain.fork_at(12, 4, 1); // 12..=15 on fork 1
        let out = run(window.sync(&chain)).expect("sync");
        let removed: Vec<u64> = out.removed.iter().map(|h| h.number).collect();
        assert_eq!(removed, vec![14, 13, 12]);
        assert_eq!(out.common_ancestor, Some(11));
        assert_eq!(out.new_blocks, Some((12, 15)));
        assert_eq!(out.tip.map(|t| t.hash), Some(hash(15, 1)));
        // A shorter fork at the same height is a reorg too.
        chain.fork_at(15, 0, 2);
        chain.fork_at(14, 1, 2); // 14 on fork 2, tip 14
        let out = run(window.sync(&chain)).expect("sync");
        let removed: Vec<u64> = out.removed.iter().map(|h| h.number).collect();
        assert_eq!(removed, vec![15, 14]);
        assert_eq!(out.new_blocks, Some((14, 14)));
    }

    #[test]
    fn an_endpoint_behind_on_the_same_chain_is_not_a_reorg() {
        let chain = TestChain::new(10);
        let mut window = HeaderWindow::default();
        run(window.sync(&chain)).expect("sync");
        chain.extend(3, 0);
        run(window.sync(&chain)).expect("sync");
        let lagging = TestChain::new(11);
        let out = run(window.sync(&lagging)).expect("sync");
        assert!(out.removed.is_empty());
        assert_eq!(
            (out.new_blocks, out.tip.map(|t| t.number)),
            (None, Some(12))
        );
    }

    #[test]
    fn a_long_gap_is_backfilled_and_the_window_keeps_the_last_headers() {
        let chain = TestChain::new(5);
        let mut window = HeaderWindow::default();
        run(window.sync(&chain)).expect("sync");
        chain.extend(2500, 0);
        let out = run(window.sync(&chain)).expect("sync");
        assert_eq!(out.new_blocks, Some((5, 2504)));
        assert_eq!(window.headers().count(), HEADER_WINDOW);
        assert_eq!(window.tip().map(|t| t.number), Some(2504));
    }

    #[test]
    fn a_reorg_deeper_than_the_window_restarts_at_the_tip() {
        let chain = TestChain::new(50);
        let mut window = HeaderWindow::default();
        run(window.sync(&chain)).expect("sync");
        chain.extend(30, 0);
        run(window.sync(&chain)).expect("sync");
        chain.fork_at(10, 75, 3);
        let out = run(window.sync(&chain)).expect("sync");
        assert_eq!(out.removed.len(), HEADER_WINDOW);
        assert_eq!(out.common_ancestor, None);
        assert_eq!(out.new_blocks, None);
        assert_eq!(out.tip.map(|t| t.hash), Some(hash(84, 3)));
    }

    #[test]
    fn log_ranges_are_at_most_the_limit() {
        assert_eq!(block_ranges(5, 4, 1000), vec![]);
        assert_eq!(block_ranges(5, 5, 1000), vec![(5, 5)]);
        assert_eq!(
            block_ranges(1, 2500, 1000),
            vec![(1, 1000), (1001, 2000), (2001, 2500)]
        );
    }
}
