//! [`SqliteTicketStore`]: winning tickets in SQLite (WAL, `synchronous=FULL`), the one piece of
//! I/O in this crate.
//!
//! Each [`TicketStore::store_winning_ticket`] is its own transaction, and each
//! [`TicketStore::store_winning_tickets`] one transaction for its whole group (group commit: one
//! fsync per payment, not per winner); with WAL and `synchronous=FULL` SQLite fsyncs the log
//! before the commit returns, so a ticket reported as stored survives a crash (SIGKILL, power loss) of the process. Rows are never deleted: a
//! settled ticket keeps its status and transaction hash, like go-livepeer's `ticketQueue`
//! keeps `redeemedAt` and `txHash` (`common/db.go`).

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use alloy_primitives::{Address, B256, U256};
use rusqlite::{Connection, OptionalExtension, params};

use super::{Settlement, TicketStore, WinningTicket};
use crate::{PmError, PricePerPixel, Ticket, TicketExpirationParams};

/// Schema of the store (version 1).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS winning_tickets (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ticket_hash BLOB NOT NULL UNIQUE,
    sender BLOB NOT NULL,
    recipient BLOB NOT NULL,
    face_value BLOB NOT NULL,
    win_prob BLOB NOT NULL,
    sender_nonce INTEGER NOT NULL,
    recipient_rand_hash BLOB NOT NULL,
    creation_round INTEGER NOT NULL,
    creation_round_block_hash BLOB NOT NULL,
    params_expiration_block BLOB NOT NULL,
    price_num BLOB NOT NULL,
    price_den BLOB NOT NULL,
    sig BLOB NOT NULL,
    recipient_rand BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    tx_hash BLOB,
    settled_at INTEGER
);
CREATE INDEX IF NOT EXISTS winning_tickets_pending ON winning_tickets (sender, status, seq);
PRAGMA user_version = 1;
";

const COLUMNS: &str = "ticket_hash, sender, recipient, face_value, win_prob, sender_nonce, \
     recipient_rand_hash, creation_round, creation_round_block_hash, params_expiration_block, \
     price_num, price_den, sig, recipient_rand";

/// A durable [`TicketStore`] in one SQLite file.
#[derive(Debug)]
pub struct SqliteTicketStore {
    conn: Mutex<Connection>,
}

impl SqliteTicketStore {
    /// Opens (or creates) the store at `path`, switching it to WAL with `synchronous=FULL`.
    /// Errors with [`PmError::Store`] when the file cannot be opened or is not a database.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, PmError> {
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    /// A store in memory (same SQL, no durability; for tests).
    pub fn open_in_memory() -> Result<Self, PmError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, PmError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // journal_mode returns a row, so query it rather than execute it.
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        conn.execute_batch("PRAGMA synchronous = FULL;")?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    /// The SQLite journal mode and synchronous level in force, e.g. `("wal", 2)`.
    pub fn durability(&self) -> Result<(String, i64), PmError> {
        let conn = self.conn();
        let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        let sync: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
        Ok((mode, sync))
    }

    /// The status of a stored ticket (`"pending"`, `"redeemed"`, …), `None` if unknown.
    pub fn status(&self, ticket_hash: B256) -> Result<Option<String>, PmError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT status FROM winning_tickets WHERE ticket_hash = ?1",
                [ticket_hash.as_slice()],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Every stored ticket hash, pending or settled, in insertion order.
    pub fn all_ticket_hashes(&self) -> Result<Vec<B256>, PmError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT ticket_hash FROM winning_tickets ORDER BY seq")?;
        let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = Vec::new();
        for row in rows {
            let bytes = row?;
            out.push(b256_col("ticket_hash", "?", &bytes)?);
        }
        Ok(out)
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        match self.conn.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn pending_rows(&self, sender: Address) -> Result<Vec<WinningTicket>, PmError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM winning_tickets WHERE sender = ?1 AND status = 'pending' ORDER BY seq"
        ))?;
        let rows = stmt.query_map([sender.as_slice()], |r| {
            Ok(RawRow {
                ticket_hash: r.get(0)?,
                sender: r.get(1)?,
                recipient: r.get(2)?,
                face_value: r.get(3)?,
                win_prob: r.get(4)?,
                sender_nonce: r.get(5)?,
                recipient_rand_hash: r.get(6)?,
                creation_round: r.get(7)?,
                creation_round_block_hash: r.get(8)?,
                params_expiration_block: r.get(9)?,
                price_num: r.get(10)?,
                price_den: r.get(11)?,
                sig: r.get(12)?,
                recipient_rand: r.get(13)?,
            })
        })?;
        let mut out = Vec::new();
        for row in rows {
            out.push(decode_row(row?)?);
        }
        Ok(out)
    }
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn corrupt(hash: &[u8], reason: impl Into<String>) -> PmError {
    PmError::CorruptStoredTicket {
        ticket_hash: format!("0x{}", hex::encode(hash)),
        reason: reason.into(),
    }
}

fn b256_col(name: &str, hash: &str, bytes: &[u8]) -> Result<B256, PmError> {
    B256::try_from(bytes).map_err(|_| PmError::CorruptStoredTicket {
        ticket_hash: hash.to_owned(),
        reason: format!("{name} is {} bytes", bytes.len()),
    })
}

/// One row of `winning_tickets` as SQLite returns it.
struct RawRow {
    ticket_hash: Vec<u8>,
    sender: Vec<u8>,
    recipient: Vec<u8>,
    face_value: Vec<u8>,
    win_prob: Vec<u8>,
    sender_nonce: i64,
    recipient_rand_hash: Vec<u8>,
    creation_round: i64,
    creation_round_block_hash: Vec<u8>,
    params_expiration_block: Vec<u8>,
    price_num: Vec<u8>,
    price_den: Vec<u8>,
    sig: Vec<u8>,
    recipient_rand: Vec<u8>,
}

fn decode_row(row: RawRow) -> Result<WinningTicket, PmError> {
    let hash = row.ticket_hash.as_slice();
    let hex_hash = format!("0x{}", hex::encode(hash));
    let addr = |bytes: &[u8], name: &str| {
        Address::try_from(bytes)
            .map_err(|_| corrupt(hash, format!("{name} is {} bytes", bytes.len())))
    };
    let u256 = |bytes: &[u8], name: &str| {
        if bytes.len() != 32 {
            return Err(corrupt(hash, format!("{name} is {} bytes", bytes.len())));
        }
        Ok(U256::from_be_slice(bytes))
    };
    let u64_be = |bytes: &[u8], name: &str| {
        <[u8; 8]>::try_from(bytes)
            .map(u64::from_be_bytes)
            .map_err(|_| corrupt(hash, format!("{name} is {} bytes", bytes.len())))
    };
    let price = PricePerPixel::new(
        u64_be(&row.price_num, "price_num")?,
        u64_be(&row.price_den, "price_den")?,
    )
    .map_err(|e| corrupt(hash, e.to_string()))?;
    let ticket = Ticket {
        recipient: addr(&row.recipient, "recipient")?,
        sender: addr(&row.sender, "sender")?,
        face_value: u256(&row.face_value, "face_value")?,
        win_prob: u256(&row.win_prob, "win_prob")?,
        sender_nonce: u32::try_from(row.sender_nonce)
            .map_err(|_| corrupt(hash, "sender_nonce out of range"))?,
        recipient_rand_hash: b256_col("recipient_rand_hash", &hex_hash, &row.recipient_rand_hash)?,
        expiration_params: TicketExpirationParams {
            creation_round: u64::try_from(row.creation_round)
                .map_err(|_| corrupt(hash, "negative creation_round"))?,
            creation_round_block_hash: b256_col(
                "creation_round_block_hash",
                &hex_hash,
                &row.creation_round_block_hash,
            )?,
        },
        params_expiration_block: u256(&row.params_expiration_block, "params_expiration_block")?,
        price_per_pixel: price,
    };
    if ticket.hash().as_slice() != hash {
        return Err(corrupt(
            hash,
            "fields do not hash to the stored ticket hash",
        ));
    }
    Ok(WinningTicket {
        ticket,
        recipient_rand: u256(&row.recipient_rand, "recipient_rand")?,
        sig: row.sig,
    })
}

/// Inserts one winner on `conn` (inside the caller's transaction, if any); `true` when it was
/// not stored before.
fn insert_winner(conn: &Connection, winning: &WinningTicket) -> Result<bool, PmError> {
    let t = &winning.ticket;
    let round =
        i64::try_from(t.expiration_params.creation_round).map_err(|_| PmError::InvalidField {
            field: "creation_round",
            reason: "above i64::MAX".into(),
        })?;
    let mut stmt = conn.prepare_cached(
        "INSERT OR IGNORE INTO winning_tickets (ticket_hash, sender, recipient, face_value, \
         win_prob, sender_nonce, recipient_rand_hash, creation_round, creation_round_block_hash, \
         params_expiration_block, price_num, price_den, sig, recipient_rand, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
    )?;
    let inserted = stmt.execute(params![
        winning.ticket_hash().as_slice(),
        t.sender.as_slice(),
        t.recipient.as_slice(),
        t.face_value.to_be_bytes::<32>().as_slice(),
        t.win_prob.to_be_bytes::<32>().as_slice(),
        i64::from(t.sender_nonce),
        t.recipient_rand_hash.as_slice(),
        round,
        t.expiration_params.creation_round_block_hash.as_slice(),
        t.params_expiration_block.to_be_bytes::<32>().as_slice(),
        t.price_per_pixel.num().to_be_bytes().as_slice(),
        t.price_per_pixel.den().to_be_bytes().as_slice(),
        winning.sig.as_slice(),
        winning.recipient_rand.to_be_bytes::<32>().as_slice(),
        now_unix(),
    ])?;
    Ok(inserted == 1)
}

impl TicketStore for SqliteTicketStore {
    fn store_winning_ticket(&self, winning: &WinningTicket) -> Result<bool, PmError> {
        insert_winner(&self.conn(), winning)
    }

    /// One transaction, so one fsync of the log, for the whole group.
    fn store_winning_tickets(&self, winners: &[WinningTicket]) -> Result<usize, PmError> {
        match winners {
            [] => Ok(0),
            [one] => Ok(usize::from(insert_winner(&self.conn(), one)?)),
            many => {
                let mut conn = self.conn();
                let tx =
                    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                let mut inserted = 0;
                for winning in many {
                    inserted += usize::from(insert_winner(&tx, winning)?);
                }
                tx.commit()?;
                Ok(inserted)
            }
        }
    }

    fn pending_tickets(&self, sender: Address) -> Result<Vec<WinningTicket>, PmError> {
        self.pending_rows(sender)
    }

    fn senders_with_pending(&self) -> Result<Vec<Address>, PmError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT sender FROM winning_tickets WHERE status = 'pending' GROUP BY sender ORDER BY MIN(seq)",
        )?;
        let rows = stmt.query_map([], |r| r.get::<_, Vec<u8>>(0))?;
        let mut out = Vec::new();
        for row in rows {
            let bytes = row?;
            out.push(Address::try_from(bytes.as_slice()).map_err(|_| {
                PmError::CorruptStoredTicket {
                    ticket_hash: "?".into(),
                    reason: format!("sender is {} bytes", bytes.len()),
                }
            })?);
        }
        Ok(out)
    }

    fn pending_face_value(&self, sender: Address) -> Result<U256, PmError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT face_value FROM winning_tickets WHERE sender = ?1 AND status = 'pending'",
        )?;
        let rows = stmt.query_map([sender.as_slice()], |r| r.get::<_, Vec<u8>>(0))?;
        let mut total = U256::ZERO;
        for row in rows {
            let bytes = row?;
            if bytes.len() != 32 {
                return Err(PmError::CorruptStoredTicket {
                    ticket_hash: "?".into(),
                    reason: format!("face_value is {} bytes", bytes.len()),
                });
            }
            total = total
                .checked_add(U256::from_be_slice(&bytes))
                .ok_or(PmError::Overflow {
                    op: "pending face value",
                })?;
        }
        Ok(total)
    }

    fn settle(&self, ticket_hash: B256, outcome: Settlement) -> Result<(), PmError> {
        self.conn().execute(
            "UPDATE winning_tickets SET status = ?2, tx_hash = ?3, settled_at = ?4 \
             WHERE ticket_hash = ?1 AND status = 'pending'",
            params![
                ticket_hash.as_slice(),
                outcome.as_str(),
                outcome.tx_hash().map(|h| h.to_vec()),
                now_unix()
            ],
        )?;
        Ok(())
    }

    fn expire(&self, current_round: u64, validity_period: u64) -> Result<usize, PmError> {
        // creation_round + validity_period <= current_round, without overflow in SQL.
        let Some(limit) = current_round.checked_sub(validity_period) else {
            return Ok(0);
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        Ok(self.conn().execute(
            "UPDATE winning_tickets SET status = 'expired', settled_at = ?2 \
             WHERE status = 'pending' AND creation_round <= ?1",
            params![limit, now_unix()],
        )?)
    }
}
