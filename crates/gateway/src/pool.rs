//! The on-chain orchestrator pool as the gateway sees it: the pool walk behind a trait
//! ([`OrchestratorPool`], implemented by the node over the BondingManager), a SQLite cache of
//! what was discovered ([`OrchestratorCache`]), and the probe that turns pool members into
//! candidates for [selection](crate::selection) ([`probe_pool`]).
//!
//! go-livepeer: `discovery/db_discovery.go:DBOrchestratorPoolCache` (walk, stake, polling,
//! the candidate checks) and the `orchestrators` table of `common/db.go` (upsert rules, the
//! "active this round and updated within the last day" filter).

use std::path::Path;
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use alloy_primitives::{Address, U256};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use hyper::Uri;
use livepeer_pm::{PmError, PricePerPixel, TicketParams, payment};
use livepeer_primitives::Capabilities;
use livepeer_proto::{convert, net};
use rusqlite::{Connection, OptionalExtension, params};
use tracing::debug;

use crate::GatewayError;
use crate::client::OrchestratorClient;
use crate::discovery::{DISCOVERY_CUTOFF, parse_orch_addr};
use crate::price::advertised_price;
use crate::selection::SelectionCandidate;

/// File name of the cache under `-dataDir`.
pub const ORCHESTRATOR_CACHE_FILE: &str = "orchestrators.sqlite3";
/// A cached orchestrator is a candidate only if its row changed this recently (go-livepeer
/// `DBOrchFilter.UpdatedLastDay`, `updatedAt >= datetime('now','-1 day')`).
pub const CANDIDATE_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// One orchestrator of the on-chain pool (BondingManager `getTranscoder` plus its stake).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolMember {
    /// Its on-chain address.
    pub address: Address,
    /// Its ServiceRegistry URI, as registered (e.g. `https://orch.example:8935`).
    pub service_uri: String,
    /// Its total stake for the current round, LPT base units (10⁻¹⁸ LPT).
    pub stake: U256,
    /// First round it is active in.
    pub activation_round: u64,
    /// First round it is no longer active in; the contract's "never" (2²⁵⁶ − 1) saturates to
    /// `u64::MAX`.
    pub deactivation_round: u64,
}

impl PoolMember {
    /// Whether it is active in `round`: `activation_round ≤ round < deactivation_round`
    /// (go-livepeer `common/db.go:buildFilterOrchsQuery`).
    pub fn is_active(&self, round: u64) -> bool {
        self.activation_round <= round && round < self.deactivation_round
    }
}

/// A walk of the pool at one round.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PoolWalk {
    /// The last initialised round the walk was made in.
    pub round: u64,
    /// Every member found (active or not).
    pub members: Vec<PoolMember>,
}

impl PoolWalk {
    /// The members active in [`PoolWalk::round`].
    pub fn active_members(&self) -> Vec<PoolMember> {
        self.members
            .iter()
            .filter(|m| m.is_active(self.round))
            .cloned()
            .collect()
    }
}

/// The on-chain orchestrator pool (go-livepeer `eth/client.go:TranscoderPool` and
/// `GetTranscoderEarningsPoolForRound`). The node implements it over its chain client.
pub trait OrchestratorPool: Send + Sync {
    /// Walks the pool and reads each member's stake for the current round.
    ///
    /// Errors: [`GatewayError::Pool`] with the chain client's error.
    fn walk(&self) -> BoxFuture<'_, Result<PoolWalk, GatewayError>>;
}

/// What is known about one orchestrator; `None` fields keep the cached value on
/// [`OrchestratorCache::upsert`] (go-livepeer `UpdateOrch` keeps a column whose new value is
/// empty or 0).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OrchestratorUpdate {
    /// The orchestrator's on-chain address (the row's key).
    pub address: Address,
    /// Its service URI; `None` or blank keeps the cached one.
    pub service_uri: Option<String>,
    /// Its price from a `GetOrchestrator` answer.
    pub price: Option<PricePerPixel>,
    /// Its stake for the current round, LPT base units.
    pub stake: Option<U256>,
    /// First active round.
    pub activation_round: Option<u64>,
    /// First inactive round.
    pub deactivation_round: Option<u64>,
}

impl From<&PoolMember> for OrchestratorUpdate {
    fn from(m: &PoolMember) -> Self {
        Self {
            address: m.address,
            service_uri: Some(m.service_uri.clone()),
            price: None,
            stake: Some(m.stake),
            activation_round: Some(m.activation_round),
            deactivation_round: Some(m.deactivation_round),
        }
    }
}

/// One row of the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedOrchestrator {
    /// On-chain address.
    pub address: Address,
    /// Service URI (empty if never seen in a walk).
    pub service_uri: String,
    /// Last price seen, wei per pixel.
    pub price: Option<PricePerPixel>,
    /// Last stake seen, LPT base units.
    pub stake: Option<U256>,
    /// First active round (0 if never seen in a walk).
    pub activation_round: u64,
    /// First inactive round (0 if never seen in a walk, so never active).
    pub deactivation_round: u64,
    /// When the row was created, whole seconds.
    pub created_at: SystemTime,
    /// When the row last changed, whole seconds.
    pub updated_at: SystemTime,
}

impl CachedOrchestrator {
    /// The row as a pool member to probe (stake 0 when unknown).
    pub fn member(&self) -> PoolMember {
        PoolMember {
            address: self.address,
            service_uri: self.service_uri.clone(),
            stake: self.stake.unwrap_or_default(),
            activation_round: self.activation_round,
            deactivation_round: self.deactivation_round,
        }
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS orchestrators (
    eth_address TEXT PRIMARY KEY,
    service_uri TEXT NOT NULL DEFAULT '',
    price_num TEXT,
    price_den TEXT,
    stake TEXT,
    activation_round INTEGER NOT NULL DEFAULT 0,
    deactivation_round INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
PRAGMA user_version = 1;
";

const UPSERT: &str = "
INSERT INTO orchestrators (eth_address, service_uri, price_num, price_den, stake,
    activation_round, deactivation_round, created_at, updated_at)
VALUES (?1, trim(coalesce(?2, '')), ?3, ?4, ?5, coalesce(?6, 0), coalesce(?7, 0), ?8, ?8)
ON CONFLICT (eth_address) DO UPDATE SET
    updated_at = excluded.updated_at,
    service_uri = CASE WHEN trim(coalesce(?2, '')) = '' THEN service_uri ELSE trim(?2) END,
    price_num = coalesce(?3, price_num),
    price_den = coalesce(?4, price_den),
    stake = coalesce(?5, stake),
    activation_round = coalesce(?6, activation_round),
    deactivation_round = coalesce(?7, deactivation_round)
";

const COLUMNS: &str = "eth_address, service_uri, price_num, price_den, stake, activation_round, \
     deactivation_round, created_at, updated_at";

/// The discovered orchestrators, in SQLite (WAL) under `-dataDir` (go-livepeer keeps the
/// same facts in the `orchestrators` table of `lpdb.sqlite3`).
///
/// Amounts are stored exactly, as decimal text (a stake is a `U256`; a price is a `u64`
/// fraction), where go stores fixed-point `int64`s (stake × 10⁵ LPT, price × 10³); rounds
/// are `INTEGER`s clamped to `i64::MAX` (go `common.ToInt64`), which reads back as
/// `u64::MAX` ("never"; no real round comes near either); times are Unix seconds. Calls
/// are synchronous and short (one statement, or one transaction for a walk).
#[derive(Debug)]
pub struct OrchestratorCache {
    conn: Mutex<Connection>,
}

impl OrchestratorCache {
    /// Opens (or creates) the cache at `path`. Errors: [`GatewayError::Cache`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, GatewayError> {
        Self::init(Connection::open(path)?)
    }

    /// Opens (or creates) [`ORCHESTRATOR_CACHE_FILE`] in `data_dir` (which must exist).
    pub fn open_in(data_dir: impl AsRef<Path>) -> Result<Self, GatewayError> {
        Self::open(data_dir.as_ref().join(ORCHESTRATOR_CACHE_FILE))
    }

    /// A cache in memory (same SQL, nothing kept; for tests).
    pub fn open_in_memory() -> Result<Self, GatewayError> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> Result<Self, GatewayError> {
        conn.busy_timeout(Duration::from_secs(5))?;
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        conn.execute_batch(SCHEMA)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        match self.conn.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The SQLite journal mode in force, e.g. `"wal"` (`"memory"` in memory).
    pub fn journal_mode(&self) -> Result<String, GatewayError> {
        Ok(self
            .conn()
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))?)
    }

    /// Inserts or updates one orchestrator at time `now` (go-livepeer `UpdateOrch`): the
    /// update time is always set; `None` fields and a blank service URI keep the cached
    /// value. Errors: [`GatewayError::Cache`].
    pub fn upsert(&self, update: &OrchestratorUpdate, now: SystemTime) -> Result<(), GatewayError> {
        upsert_on(&self.conn(), update, now)
    }

    /// Records a pool walk (addresses, service URIs, stakes, rounds) in one transaction and
    /// returns how many rows it wrote (go-livepeer `cacheTranscoderPool` and
    /// `cacheOrchestratorStake`). Errors: [`GatewayError::Cache`].
    pub fn record_walk(&self, walk: &PoolWalk, now: SystemTime) -> Result<usize, GatewayError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for member in &walk.members {
            upsert_on(&tx, &OrchestratorUpdate::from(member), now)?;
        }
        tx.commit()?;
        Ok(walk.members.len())
    }

    /// Records the price of a `GetOrchestrator` answer under its ticket recipient (go-livepeer
    /// `cacheOrchInfos`). Returns `false`, storing nothing, when the answer has no ticket
    /// params or no valid price. Errors: [`GatewayError::Cache`].
    pub fn record_answer(
        &self,
        info: &net::OrchestratorInfo,
        now: SystemTime,
    ) -> Result<bool, GatewayError> {
        let Some(params) = info.ticket_params.as_ref() else {
            return Ok(false);
        };
        let (Ok(address), Ok(price)) = (
            Address::try_from(params.recipient.as_slice()),
            advertised_price(info),
        ) else {
            return Ok(false);
        };
        self.upsert(
            &OrchestratorUpdate {
                address,
                price: Some(price),
                ..Default::default()
            },
            now,
        )?;
        Ok(true)
    }

    /// Records the price of every candidate of a probe, in one transaction.
    /// Errors: [`GatewayError::Cache`].
    pub fn record_probe(&self, probe: &PoolProbe, now: SystemTime) -> Result<(), GatewayError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for c in &probe.candidates {
            let update = OrchestratorUpdate {
                price: Some(c.price),
                ..OrchestratorUpdate::from(&c.member)
            };
            upsert_on(&tx, &update, now)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// The cached row of `address`, if any.
    /// Errors: [`GatewayError::Cache`], [`GatewayError::CorruptCache`].
    pub fn get(&self, address: Address) -> Result<Option<CachedOrchestrator>, GatewayError> {
        let conn = self.conn();
        let raw = conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM orchestrators WHERE eth_address = ?1"),
                [address_text(address)],
                RawRow::read,
            )
            .optional()?;
        raw.map(RawRow::parse).transpose()
    }

    /// Every cached row, by address.
    /// Errors: [`GatewayError::Cache`], [`GatewayError::CorruptCache`].
    pub fn all(&self) -> Result<Vec<CachedOrchestrator>, GatewayError> {
        self.select("1 = 1", params![])
    }

    /// The discovery candidates at `round` and time `now`: active in `round`
    /// ([`PoolMember::is_active`]) and updated within [`CANDIDATE_MAX_AGE`] of `now`
    /// (go-livepeer `DBOrchestratorPoolCache.getURLs`), by address.
    /// Errors: [`GatewayError::Cache`], [`GatewayError::CorruptCache`].
    pub fn candidates(
        &self,
        round: u64,
        now: SystemTime,
    ) -> Result<Vec<CachedOrchestrator>, GatewayError> {
        let oldest = unix_seconds(now).saturating_sub(age_seconds(CANDIDATE_MAX_AGE));
        self.select(
            "activation_round <= ?1 AND ?1 < deactivation_round AND updated_at >= ?2",
            params![clamp_i64(round), oldest],
        )
    }

    fn select(
        &self,
        condition: &str,
        args: &[&dyn rusqlite::ToSql],
    ) -> Result<Vec<CachedOrchestrator>, GatewayError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM orchestrators WHERE {condition} ORDER BY eth_address"
        ))?;
        let rows = stmt.query_map(args, RawRow::read)?;
        let mut out = Vec::new();
        for row in rows {
            out.push(row?.parse()?);
        }
        Ok(out)
    }
}

fn upsert_on(
    conn: &Connection,
    u: &OrchestratorUpdate,
    now: SystemTime,
) -> Result<(), GatewayError> {
    let mut stmt = conn.prepare_cached(UPSERT)?;
    stmt.execute(params![
        address_text(u.address),
        u.service_uri.as_deref(),
        u.price.map(|p| p.num().to_string()),
        u.price.map(|p| p.den().to_string()),
        u.stake.map(|s| s.to_string()),
        u.activation_round.map(clamp_i64),
        u.deactivation_round.map(clamp_i64),
        unix_seconds(now),
    ])?;
    Ok(())
}

struct RawRow {
    address: String,
    service_uri: String,
    price_num: Option<String>,
    price_den: Option<String>,
    stake: Option<String>,
    activation_round: i64,
    deactivation_round: i64,
    created_at: i64,
    updated_at: i64,
}

impl RawRow {
    fn read(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            address: r.get(0)?,
            service_uri: r.get(1)?,
            price_num: r.get(2)?,
            price_den: r.get(3)?,
            stake: r.get(4)?,
            activation_round: r.get(5)?,
            deactivation_round: r.get(6)?,
            created_at: r.get(7)?,
            updated_at: r.get(8)?,
        })
    }

    fn parse(self) -> Result<CachedOrchestrator, GatewayError> {
        let corrupt = |column: &'static str, value: &str| GatewayError::CorruptCache {
            column,
            value: value.to_string(),
        };
        let address =
            Address::from_str(&self.address).map_err(|_| corrupt("eth_address", &self.address))?;
        let price = match (&self.price_num, &self.price_den) {
            (Some(num), Some(den)) => {
                let n = num.parse::<u64>().map_err(|_| corrupt("price_num", num))?;
                let d = den.parse::<u64>().map_err(|_| corrupt("price_den", den))?;
                Some(PricePerPixel::new(n, d).map_err(|_| corrupt("price_den", den))?)
            }
            _ => None,
        };
        let stake = self
            .stake
            .as_deref()
            .map(|s| U256::from_str_radix(s, 10).map_err(|_| corrupt("stake", s)))
            .transpose()?;
        // i64::MAX is the clamp of every round beyond it: "never", read back as u64::MAX.
        let round = |column: &'static str, v: i64| match v {
            i64::MAX => Ok(u64::MAX),
            v => u64::try_from(v).map_err(|_| corrupt(column, &v.to_string())),
        };
        Ok(CachedOrchestrator {
            address,
            service_uri: self.service_uri,
            price,
            stake,
            activation_round: round("activation_round", self.activation_round)?,
            deactivation_round: round("deactivation_round", self.deactivation_round)?,
            created_at: from_unix_seconds(self.created_at),
            updated_at: from_unix_seconds(self.updated_at),
        })
    }
}

fn address_text(address: Address) -> String {
    format!("0x{}", hex::encode(address.as_slice()))
}

fn clamp_i64(x: u64) -> i64 {
    i64::try_from(x).unwrap_or(i64::MAX)
}

fn unix_seconds(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| clamp_i64(d.as_secs()))
        .unwrap_or(0)
}

fn age_seconds(d: Duration) -> i64 {
    clamp_i64(d.as_secs())
}

fn from_unix_seconds(s: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::try_from(s).unwrap_or(0))
}

/// A pool member that answered `GetOrchestrator` with everything selection needs.
#[derive(Debug, Clone)]
pub struct OnChainCandidate {
    /// The pool member (address and stake come from the chain, not from the answer).
    pub member: PoolMember,
    /// Its parsed service URI (the address probed).
    pub uri: Uri,
    /// Its answer.
    pub info: net::OrchestratorInfo,
    /// Its advertised price, wei per pixel.
    pub price: PricePerPixel,
    /// Its ticket parameters, decoded and accepted.
    pub ticket_params: TicketParams,
    /// How long the answer took.
    pub latency: Duration,
}

impl OnChainCandidate {
    /// The candidate as selection sees it.
    pub fn selection_candidate(&self, perf_score: Option<f64>) -> SelectionCandidate {
        SelectionCandidate {
            address: self.member.address,
            stake: self.member.stake,
            price: self.price,
            perf_score,
        }
    }
}

/// A pool member that is not a candidate, and why.
#[derive(Debug)]
pub struct PoolRejection {
    /// The member.
    pub member: PoolMember,
    /// Why: [`GatewayError::InvalidServiceUri`], [`GatewayError::Unreachable`],
    /// [`GatewayError::NoAnswerInTime`], or a reason of [`check_answer`].
    pub reason: GatewayError,
}

/// The outcome of [`probe_pool`].
#[derive(Debug, Default)]
pub struct PoolProbe {
    /// The usable candidates, fastest answer first.
    pub candidates: Vec<OnChainCandidate>,
    /// The members that are not candidates.
    pub rejected: Vec<PoolRejection>,
}

impl PoolProbe {
    /// The candidates as selection sees them, in [`PoolProbe::candidates`] order, without
    /// performance scores.
    pub fn selection_candidates(&self) -> Vec<SelectionCandidate> {
        self.candidates
            .iter()
            .map(|c| c.selection_candidate(None))
            .collect()
    }
}

/// Checks one `GetOrchestrator` answer from `member` for `job`, in this order:
///
/// 1. a transcoder URI ([`GatewayError::MissingTranscoderUri`]) and capabilities covering
///    the job, or none sent and a legacy-only job ([`GatewayError::IncompatibleCapabilities`];
///    go-livepeer `discovery.go` acceptance);
/// 2. a valid price ([`crate::price::advertised_price`]: missing, zero pixels, negative);
/// 3. ticket params present ([`GatewayError::MissingTicketParams`]) and decodable
///    ([`GatewayError::InvalidTicketParams`]);
/// 4. an ETH address ([`GatewayError::MissingAddress`]);
/// 5. the ticket recipient is the member ([`GatewayError::RecipientMismatch`]): stake is
///    taken from the member, so it must be the orchestrator being paid;
/// 6. `validate` accepts the ticket params ([`GatewayError::InvalidTicketParams`]; the node
///    passes `Sender::validate_ticket_params`).
///
/// go-livepeer (`db_discovery.go` `pred`) checks the address, ticket params and price in
/// that order and has no recipient check; every reason rejects, so only the reported reason
/// differs. Returns the price and the decoded ticket params.
pub fn check_answer<F>(
    member: &PoolMember,
    info: &net::OrchestratorInfo,
    job: &Capabilities,
    validate: &F,
) -> Result<(PricePerPixel, TicketParams), GatewayError>
where
    F: Fn(&TicketParams) -> Result<(), PmError> + ?Sized,
{
    if info.transcoder.is_empty() {
        return Err(GatewayError::MissingTranscoderUri);
    }
    let compatible = match &info.capabilities {
        Some(caps) => job.compatible_with(&convert::capabilities_from_net(Some(caps))),
        None => job.bitstring.is_legacy_only(),
    };
    if !compatible {
        return Err(GatewayError::IncompatibleCapabilities);
    }
    let price = advertised_price(info)?;
    let wire_params = info
        .ticket_params
        .as_ref()
        .ok_or(GatewayError::MissingTicketParams)?;
    let params =
        payment::ticket_params_from_net(wire_params).map_err(GatewayError::InvalidTicketParams)?;
    if info.address.is_empty() {
        return Err(GatewayError::MissingAddress);
    }
    if params.recipient != member.address {
        return Err(GatewayError::RecipientMismatch {
            member: member.address,
            recipient: params.recipient,
        });
    }
    validate(&params).map_err(GatewayError::InvalidTicketParams)?;
    Ok((price, params))
}

/// Probes `members` with `GetOrchestrator` in parallel, sending each `request` (signed by the
/// gateway on chain), and sorts them into candidates and rejections ([`check_answer`] for
/// `job` and `validate`).
///
/// Timing is [`crate::discovery::discover`]'s (go-livepeer `orchestratorPool.GetOrchestrators`):
/// each call has the client's timeouts; the collection waits `first_wait` (the
/// `-discoveryTimeout`), doubling it while no candidate has been found, and stops once every
/// member answered, when the timer fires with at least one candidate, or at
/// [`DISCOVERY_CUTOFF`]. Members still unanswered then are rejected with
/// [`GatewayError::NoAnswerInTime`]. Candidates keep the member's address and stake.
pub async fn probe_pool<F>(
    client: &OrchestratorClient,
    members: &[PoolMember],
    request: &net::OrchestratorRequest,
    job: &Capabilities,
    validate: F,
    first_wait: Duration,
) -> PoolProbe
where
    F: Fn(&TicketParams) -> Result<(), PmError>,
{
    let started = Instant::now();
    let mut probe = PoolProbe::default();
    let mut asked = vec![false; members.len()];
    let mut pending = FuturesUnordered::new();
    for (i, member) in members.iter().enumerate() {
        let uri = match parse_orch_addr(&member.service_uri) {
            Ok(uri) => uri,
            Err(err) => {
                asked[i] = true;
                probe.rejected.push(PoolRejection {
                    member: member.clone(),
                    reason: GatewayError::InvalidServiceUri(Box::new(err)),
                });
                continue;
            }
        };
        let request = request.clone();
        let client = client.clone();
        pending.push(async move {
            let sent = Instant::now();
            let result = client.get_orchestrator(&uri, request).await;
            (i, uri, result, sent.elapsed())
        });
    }

    let cutoff = tokio::time::sleep(DISCOVERY_CUTOFF);
    tokio::pin!(cutoff);
    let mut wait = first_wait.max(Duration::from_millis(1));
    let timer = tokio::time::sleep(wait);
    tokio::pin!(timer);
    while !pending.is_empty() {
        tokio::select! {
            Some((i, uri, result, latency)) = pending.next() => {
                asked[i] = true;
                let member = &members[i];
                let checked = result
                    .map_err(|e| GatewayError::Unreachable(Box::new(e)))
                    .and_then(|info| {
                        check_answer(member, &info, job, &validate).map(|ok| (info, ok))
                    });
                match checked {
                    Ok((info, (price, ticket_params))) => probe.candidates.push(OnChainCandidate {
                        member: member.clone(),
                        uri,
                        info,
                        price,
                        ticket_params,
                        latency,
                    }),
                    Err(reason) => {
                        debug!(orch = %member.address, %uri, %reason, "orchestrator is not a candidate");
                        probe.rejected.push(PoolRejection { member: member.clone(), reason });
                    }
                }
            }
            _ = &mut timer => {
                if !probe.candidates.is_empty() { break; }
                wait = (wait * 2).min(DISCOVERY_CUTOFF);
                timer.as_mut().reset(tokio::time::Instant::now() + wait);
            }
            _ = &mut cutoff => break,
        }
    }
    for (i, member) in members.iter().enumerate() {
        if !asked[i] {
            probe.rejected.push(PoolRejection {
                member: member.clone(),
                reason: GatewayError::NoAnswerInTime,
            });
        }
    }
    probe.candidates.sort_by_key(|c| c.latency);
    debug!(
        candidates = probe.candidates.len(),
        asked = members.len(),
        elapsed = ?started.elapsed(),
        "on-chain pool probed"
    );
    probe
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_primitives::B256;
    use livepeer_pm::TicketExpirationParams;
    use livepeer_primitives::{Capability, CapabilitySet};

    fn member(byte: u8, stake: u64, rounds: (u64, u64)) -> PoolMember {
        PoolMember {
            address: Address::repeat_byte(byte),
            service_uri: format!("https://orch{byte}.example:8935"),
            stake: U256::from(stake),
            activation_round: rounds.0,
            deactivation_round: rounds.1,
        }
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    const T0: u64 = 1_700_000_000;

    #[test]
    fn activity_by_round() {
        let m = member(1, 0, (10, 20));
        let active: Vec<u64> = (8..23).filter(|r| m.is_active(*r)).collect();
        assert_eq!(active, (10..20).collect::<Vec<_>>());
        let walk = PoolWalk {
            round: 15,
            members: vec![
                m.clone(),
                member(2, 0, (16, u64::MAX)),
                member(3, 0, (1, u64::MAX)),
            ],
        };
        let active: Vec<u8> = walk
            .active_members()
            .iter()
            .map(|m| m.address.0[0])
            .collect();
        assert_eq!(active, vec![1, 3]);
    }

    #[test]
    fn cache_inserts_updates_and_keeps_unset_fields() {
        let cache = OrchestratorCache::open_in_memory().expect("cache");
        let m = member(1, 5_000, (10, u64::MAX));
        cache
            .record_walk(
                &PoolWalk {
                    round: 10,
                    members: vec![m.clone()],
                },
                at(T0),
            )
            .expect("walk");
        let row = cache.get(m.address).expect("get").expect("row");
        assert_eq!(row.service_uri, m.service_uri);
        assert_eq!(row.stake, Some(U256::from(5_000u64)));
        assert_eq!(row.price, None);
        assert_eq!(
            (row.activation_round, row.deactivation_round),
            (10, u64::MAX)
        );
        assert_eq!((row.created_at, row.updated_at), (at(T0), at(T0)));

        // A price from an answer keeps the walk's facts and bumps the update time.
        let price = PricePerPixel::new(6, 14).expect("price");
        cache
            .upsert(
                &OrchestratorUpdate {
                    address: m.address,
                    price: Some(price),
                    service_uri: Some("   ".into()),
                    ..Default::default()
                },
                at(T0 + 60),
            )
            .expect("upsert");
        let row = cache.get(m.address).expect("get").expect("row");
        assert_eq!(row.price, PricePerPixel::new(3, 7).ok());
        assert_eq!(
            row.service_uri, m.service_uri,
            "a blank URI keeps the old one"
        );
        assert_eq!(row.stake, Some(U256::from(5_000u64)));
        assert_eq!((row.created_at, row.updated_at), (at(T0), at(T0 + 60)));

        // A later walk changes the URI, stake and rounds but keeps the price.
        let moved = PoolMember {
            service_uri: " https://moved.example:8935 ".into(),
            stake: U256::MAX,
            deactivation_round: 30,
            ..m.clone()
        };
        cache
            .record_walk(
                &PoolWalk {
                    round: 12,
                    members: vec![moved],
                },
                at(T0 + 120),
            )
            .expect("walk");
        let row = cache.get(m.address).expect("get").expect("row");
        assert_eq!(row.service_uri, "https://moved.example:8935");
        assert_eq!(row.stake, Some(U256::MAX));
        assert_eq!(row.deactivation_round, 30);
        assert_eq!(row.price, PricePerPixel::new(3, 7).ok());
        assert_eq!(cache.all().expect("all").len(), 1);
        assert!(cache.get(Address::repeat_byte(9)).expect("get").is_none());
    }

    #[test]
    fn candidates_are_active_and_fresh() {
        let cache = OrchestratorCache::open_in_memory().expect("cache");
        let day = CANDIDATE_MAX_AGE.as_secs();
        let walk = PoolWalk {
            round: 100,
            members: vec![
                member(1, 1, (90, u64::MAX)),  // active
                member(2, 1, (101, u64::MAX)), // activates next round
                member(3, 1, (50, 100)),       // deactivated this round
                member(4, 1, (100, 101)),      // active for this round only
            ],
        };
        cache.record_walk(&walk, at(T0)).expect("walk");
        // An orchestrator seen long ago.
        cache
            .upsert(&(&member(5, 1, (1, u64::MAX))).into(), at(T0 - day - 1))
            .expect("stale row");
        // A row from an answer only, never seen in a walk: no rounds, never active.
        cache
            .upsert(
                &OrchestratorUpdate {
                    address: Address::repeat_byte(6),
                    price: Some(PricePerPixel::ZERO),
                    ..Default::default()
                },
                at(T0),
            )
            .expect("answer row");
        let names = |rows: Vec<CachedOrchestrator>| -> Vec<u8> {
            rows.iter().map(|r| r.address.0[0]).collect()
        };
        assert_eq!(names(cache.candidates(100, at(T0)).expect("c")), vec![1, 4]);
        assert_eq!(names(cache.candidates(101, at(T0)).expect("c")), vec![1, 2]);
        // A day later everything from T0 is exactly at the limit and still counts; a second
        // more and nothing does.
        assert_eq!(
            names(cache.candidates(100, at(T0 + day)).expect("c")),
            vec![1, 4]
        );
        assert!(
            cache
                .candidates(100, at(T0 + day + 1))
                .expect("c")
                .is_empty()
        );
        // The stale row becomes a candidate again once it is updated.
        cache
            .upsert(&(&member(5, 1, (1, u64::MAX))).into(), at(T0))
            .expect("fresh again");
        assert_eq!(
            names(cache.candidates(100, at(T0)).expect("c")),
            vec![1, 4, 5]
        );
        assert_eq!(cache.all().expect("all").len(), 6);
    }

    /// A fixed pool, as a node's chain-backed implementation would answer.
    struct FixedPool(PoolWalk);

    impl OrchestratorPool for FixedPool {
        fn walk(&self) -> BoxFuture<'_, Result<PoolWalk, GatewayError>> {
            Box::pin(async move { Ok(self.0.clone()) })
        }
    }

    #[tokio::test]
    async fn a_walk_through_the_trait_feeds_the_cache() {
        let pool: std::sync::Arc<dyn OrchestratorPool> = std::sync::Arc::new(FixedPool(PoolWalk {
            round: 4,
            members: vec![member(1, 10, (1, u64::MAX)), member(2, 20, (5, u64::MAX))],
        }));
        let walk = pool.walk().await.expect("walk");
        let cache = OrchestratorCache::open_in_memory().expect("cache");
        assert_eq!(cache.record_walk(&walk, at(T0)).expect("record"), 2);
        let rows = cache.candidates(walk.round, at(T0)).expect("candidates");
        let members: Vec<PoolMember> = rows.iter().map(CachedOrchestrator::member).collect();
        assert_eq!(members, walk.active_members());

        // The probe's future can be spawned (it is Send).
        fn assert_send<T: Send>(_: &T) {}
        let (client, job) = (OrchestratorClient::new(), job());
        let request = net::OrchestratorRequest::default();
        let probe = probe_pool(
            &client,
            &[],
            &request,
            &job,
            |_| Ok(()),
            Duration::from_millis(1),
        );
        assert_send(&probe);
        let probe = probe.await;
        assert!(probe.candidates.is_empty() && probe.rejected.is_empty());
    }

    #[test]
    fn cache_survives_a_reopen() {
        let dir = tempfile::tempdir().expect("temp dir");
        let m = member(7, 123_456_789, (3, u64::MAX));
        {
            let cache = OrchestratorCache::open_in(dir.path()).expect("open");
            assert_eq!(cache.journal_mode().expect("mode"), "wal");
            cache
                .record_walk(
                    &PoolWalk {
                        round: 3,
                        members: vec![m.clone()],
                    },
                    at(T0),
                )
                .expect("walk");
        }
        assert!(dir.path().join(ORCHESTRATOR_CACHE_FILE).exists());
        let cache = OrchestratorCache::open_in(dir.path()).expect("reopen");
        let rows = cache.candidates(3, at(T0 + 10)).expect("candidates");
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].member(), m);
    }

    #[test]
    fn corrupt_rows_are_errors_not_panics() {
        let cache = OrchestratorCache::open_in_memory().expect("cache");
        cache
            .conn()
            .execute(
                "INSERT INTO orchestrators (eth_address, stake, created_at, updated_at) \
                 VALUES ('0x0101010101010101010101010101010101010101', 'lots', 0, 0)",
                [],
            )
            .expect("insert");
        assert!(matches!(
            cache.all(),
            Err(GatewayError::CorruptCache {
                column: "stake",
                ..
            })
        ));
    }

    fn job() -> Capabilities {
        Capabilities {
            bitstring: CapabilitySet::from_capabilities([Capability::H264, Capability::MpegTs]),
            ..Default::default()
        }
    }

    fn params_for(recipient: Address) -> TicketParams {
        TicketParams {
            recipient,
            face_value: U256::from(1_000_000u64),
            win_prob: U256::MAX / U256::from(1000u64),
            recipient_rand_hash: B256::repeat_byte(0x42),
            seed: U256::from(7u64),
            expiration_block: U256::from(500u64),
            expiration_params: TicketExpirationParams {
                creation_round: 9,
                creation_round_block_hash: B256::repeat_byte(0x09),
            },
        }
    }

    fn priced_info(recipient: Address) -> net::OrchestratorInfo {
        net::OrchestratorInfo {
            transcoder: "https://orch.example:8935".into(),
            ticket_params: Some(payment::ticket_params_to_net(&params_for(recipient), true)),
            price_info: Some(net::PriceInfo {
                price_per_unit: 1200,
                pixels_per_unit: 1000,
                ..Default::default()
            }),
            address: recipient.to_vec(),
            capabilities: Some(convert::capabilities_to_net(&job())),
            ..Default::default()
        }
    }

    #[test]
    fn a_fully_priced_answer_is_a_candidate() {
        let m = member(1, 10, (1, u64::MAX));
        let accept = |_: &TicketParams| Ok(());
        let (price, params) =
            check_answer(&m, &priced_info(m.address), &job(), &accept).expect("usable");
        assert_eq!(price, PricePerPixel::new(6, 5).expect("price"));
        assert_eq!(params, params_for(m.address));
    }

    #[test]
    fn each_missing_piece_is_its_own_rejection() {
        let m = member(1, 10, (1, u64::MAX));
        let accept = |_: &TicketParams| Ok(());
        let good = priced_info(m.address);
        let with = |f: &dyn Fn(&mut net::OrchestratorInfo)| {
            let mut info = good.clone();
            f(&mut info);
            check_answer(&m, &info, &job(), &accept).expect_err("rejected")
        };
        assert!(matches!(
            with(&|i| i.transcoder.clear()),
            GatewayError::MissingTranscoderUri
        ));
        assert!(matches!(
            with(&|i| {
                i.capabilities = Some(convert::capabilities_to_net(&Capabilities {
                    bitstring: CapabilitySet::from_capabilities([Capability::H264]),
                    ..Default::default()
                }))
            }),
            GatewayError::IncompatibleCapabilities
        ));
        assert!(matches!(
            with(&|i| i.price_info = None),
            GatewayError::MissingPrice
        ));
        assert!(matches!(
            with(&|i| i.price_info = Some(net::PriceInfo {
                price_per_unit: 1,
                ..Default::default()
            })),
            GatewayError::ZeroPixelsPerUnit { .. }
        ));
        assert!(matches!(
            with(&|i| i.price_info = Some(net::PriceInfo {
                price_per_unit: -1,
                pixels_per_unit: 1,
                ..Default::default()
            })),
            GatewayError::NegativePrice { .. }
        ));
        assert!(matches!(
            with(&|i| i.ticket_params = None),
            GatewayError::MissingTicketParams
        ));
        assert!(matches!(
            with(&|i| if let Some(p) = i.ticket_params.as_mut() {
                p.recipient = vec![1, 2, 3];
            }),
            GatewayError::InvalidTicketParams(PmError::InvalidField { .. })
        ));
        assert!(matches!(
            with(&|i| i.address.clear()),
            GatewayError::MissingAddress
        ));
        let other = priced_info(Address::repeat_byte(2));
        assert!(matches!(
            check_answer(&m, &other, &job(), &accept),
            Err(GatewayError::RecipientMismatch { .. })
        ));
        // The caller's ticket-params check (the node's Sender) has the last word.
        let refuse = |_: &TicketParams| Err(PmError::MissingExpirationBlock);
        assert!(matches!(
            check_answer(&m, &good, &job(), &refuse),
            Err(GatewayError::InvalidTicketParams(
                PmError::MissingExpirationBlock
            ))
        ));
    }

    #[test]
    fn a_probe_records_walk_facts_and_prices() {
        let cache = OrchestratorCache::open_in_memory().expect("cache");
        let m = member(8, 42, (1, u64::MAX));
        let info = priced_info(m.address);
        let probe = PoolProbe {
            candidates: vec![OnChainCandidate {
                member: m.clone(),
                uri: "https://orch8.example:8935".parse().expect("uri"),
                price: PricePerPixel::new(6, 5).expect("price"),
                ticket_params: params_for(m.address),
                info,
                latency: Duration::from_millis(3),
            }],
            rejected: Vec::new(),
        };
        cache.record_probe(&probe, at(T0)).expect("record");
        let row = cache.get(m.address).expect("get").expect("row");
        assert_eq!(row.member(), m);
        assert_eq!(row.price, PricePerPixel::new(6, 5).ok());
        let selection = probe.selection_candidates();
        assert_eq!(selection.len(), 1);
        assert_eq!(
            (selection[0].address, selection[0].stake, selection[0].price),
            (m.address, m.stake, PricePerPixel::new(6, 5).expect("price"))
        );
    }

    #[test]
    fn answers_are_recorded_by_recipient() {
        let cache = OrchestratorCache::open_in_memory().expect("cache");
        let addr = Address::repeat_byte(3);
        assert!(
            cache
                .record_answer(&priced_info(addr), at(T0))
                .expect("record")
        );
        let row = cache.get(addr).expect("get").expect("row");
        assert_eq!(row.price, PricePerPixel::new(6, 5).ok());
        assert_eq!(
            row.deactivation_round, 0,
            "not a candidate until a walk names it"
        );
        let unpriced = net::OrchestratorInfo {
            price_info: None,
            ..priced_info(Address::repeat_byte(4))
        };
        assert!(!cache.record_answer(&unpriced, at(T0)).expect("record"));
        assert!(
            !cache
                .record_answer(&net::OrchestratorInfo::default(), at(T0))
                .expect("record")
        );
        assert_eq!(cache.all().expect("all").len(), 1);
    }
}
