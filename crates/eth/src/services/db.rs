//! The chain database: the block watcher's header window and the chain it belongs to, in
//! SQLite, so a restarted node backfills logs from the block where it stopped (go-livepeer
//! `common/db.go` tables `kv` and `blockheaders`).
//!
//! Losing the newest rows costs only a re-read of some logs, so the file runs in WAL mode
//! with `synchronous=NORMAL` (no fsync per commit); the calls are still blocking and run in
//! `spawn_blocking` from async code.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use alloy::primitives::B256;
use rusqlite::{Connection, OptionalExtension, params};

use super::blocks::MiniHeader;
use crate::EthError;

/// The chain database's file name in `-dataDir`.
pub const CHAIN_DB_FILE: &str = "chain.sqlite3";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS block_headers (
    number INTEGER PRIMARY KEY,
    hash BLOB NOT NULL,
    parent_hash BLOB NOT NULL,
    l1_block INTEGER NOT NULL
);
PRAGMA user_version = 1;
";

/// The chain database (one SQLite connection behind a mutex).
#[derive(Debug)]
pub struct ChainDb {
    path: String,
    conn: Mutex<Connection>,
}

impl ChainDb {
    /// Opens (or creates) the database at `path`; `None` keeps it in memory (nothing survives a
    /// restart). Errors: [`EthError::ChainDb`].
    pub fn open(path: Option<&Path>) -> Result<Self, EthError> {
        let name = path.map_or_else(|| ":memory:".to_string(), |p| p.display().to_string());
        let fail = |e: rusqlite::Error| EthError::ChainDb {
            path: name.clone(),
            reason: e.to_string(),
        };
        let conn = match path {
            Some(p) => Connection::open(p),
            None => Connection::open_in_memory(),
        }
        .map_err(fail)?;
        if path.is_some() {
            conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
                .map_err(fail)?;
        }
        conn.execute_batch(SCHEMA).map_err(fail)?;
        Ok(Self {
            path: name,
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fail(&self, e: impl std::fmt::Display) -> EthError {
        EthError::ChainDb {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    /// The stored header window, oldest first, if it was written for `chain` (a chain id and
    /// Controller, e.g. `31337/0xab…`); a window of another chain is dropped.
    pub fn load_window(&self, chain: &str) -> Result<Vec<MiniHeader>, EthError> {
        let conn = self.conn();
        let stored: Option<String> = conn
            .query_row("SELECT value FROM kv WHERE key = 'chain'", [], |r| r.get(0))
            .optional()
            .map_err(|e| self.fail(e))?;
        if stored.as_deref() != Some(chain) {
            if stored.is_some() {
                tracing::warn!(db = %self.path, stored = ?stored, chain, "the chain database belongs to another chain; starting over");
            }
            return Ok(Vec::new());
        }
        let mut stmt = conn
            .prepare(
                "SELECT number, hash, parent_hash, l1_block FROM block_headers ORDER BY number",
            )
            .map_err(|e| self.fail(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Vec<u8>>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })
            .map_err(|e| self.fail(e))?;
        let mut headers = Vec::new();
        for row in rows {
            let (number, hash, parent, l1) = row.map_err(|e| self.fail(e))?;
            let hash32 = |b: &[u8]| {
                B256::try_from(b).map_err(|_| self.fail("a stored hash is not 32 bytes"))
            };
            headers.push(MiniHeader {
                number: u64::try_from(number).map_err(|e| self.fail(e))?,
                hash: hash32(&hash)?,
                parent_hash: hash32(&parent)?,
                l1_block: u64::try_from(l1).map_err(|e| self.fail(e))?,
            });
        }
        Ok(headers)
    }

    /// Replaces the stored window with `headers` for `chain`, in one transaction.
    pub fn save_window(&self, chain: &str, headers: &[MiniHeader]) -> Result<(), EthError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.fail(e))?;
        tx.execute(
            "INSERT INTO kv (key, value) VALUES ('chain', ?1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![chain],
        )
        .map_err(|e| self.fail(e))?;
        tx.execute("DELETE FROM block_headers", [])
            .map_err(|e| self.fail(e))?;
        for h in headers {
            let number = i64::try_from(h.number).map_err(|e| self.fail(e))?;
            let l1 = i64::try_from(h.l1_block).map_err(|e| self.fail(e))?;
            tx.execute(
                "INSERT INTO block_headers (number, hash, parent_hash, l1_block) VALUES (?1, ?2, ?3, ?4)",
                params![number, h.hash.as_slice(), h.parent_hash.as_slice(), l1],
            )
            .map_err(|e| self.fail(e))?;
        }
        tx.commit().map_err(|e| self.fail(e))
    }

    /// The newest stored block number, if any.
    pub fn last_block(&self) -> Result<Option<u64>, EthError> {
        let n: Option<i64> = self
            .conn()
            .query_row("SELECT MAX(number) FROM block_headers", [], |r| r.get(0))
            .map_err(|e| self.fail(e))?;
        n.map(|n| u64::try_from(n).map_err(|e| self.fail(e)))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_survives_a_reopen_for_the_same_chain_only() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join(CHAIN_DB_FILE);
        let headers: Vec<MiniHeader> = (7..10)
            .map(|n| MiniHeader {
                number: n,
                hash: B256::repeat_byte(n as u8),
                parent_hash: B256::repeat_byte(n as u8 - 1),
                l1_block: n * 2,
            })
            .collect();
        ChainDb::open(Some(&path))
            .expect("open")
            .save_window("1/0xaa", &headers)
            .expect("save");
        let db = ChainDb::open(Some(&path)).expect("reopen");
        assert_eq!(db.load_window("1/0xaa").expect("load"), headers);
        assert_eq!(db.last_block().expect("last"), Some(9));
        assert!(db.load_window("2/0xaa").expect("load").is_empty());
    }
}
