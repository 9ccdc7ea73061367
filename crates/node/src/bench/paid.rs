//! `livepeer bench paid`: what paying with tickets costs on the gateway → orchestrator path.
//!
//! Two paths, both this binary run as child processes, on the same 2 s 1080p30 segment
//! ([`super::make_segment`]), ladder and x264 preset:
//!
//! - off-chain: `livepeer -orchestrator -transcoder` on a TLS service address of 127.0.0.1 and
//!   `livepeer -gateway -orchAddr …` pointing at it (no chain, empty payments);
//! - paid: [`Network::start`] with one orchestrator: anvil with the contracts, the orchestrator
//!   staked, registered, priced ([`crate::network::devnet_price`]) and running its Ethereum
//!   services, and a gateway with a deposit and reserve whose every segment carries the tickets
//!   its balance lacks (signed `SegData`, `Livepeer-Payment` header, validation, winners stored
//!   with an fsync, redemption). Anvil mines a block every `--block-time`, and the orchestrator
//!   redeems on each new block the winners whose parameters expired (40 blocks after they were
//!   issued), so redemption and parameter refreshes run during the bench as they would in
//!   operation (the devnet's ticket parameters make most tickets win, far more winners than
//!   mainnet's parameters give). After the last push the bench waits for the winners to be
//!   redeemed.
//!
//! Pushes alternate off-chain, paid, off-chain, paid … so drift in machine load falls on both;
//! the first push of each is a warm-up (discovery, session, TLS) and is not timed. After every
//! push the bench idles for `--settle`, so work a node does after it answered (an orchestrator
//! redeeming winners on chain) stays out of the next push's time.
//!
//! Reported: wall time per segment (push sent → multipart answer read) of each path as median,
//! min–max and interquartile range; speed paid/off-chain as the ratio of medians (target
//! ≥ 0.97) and as the median of the ratios of adjacent pairs; tickets sent, the sum of the
//! `tickets` fields of the paid gateway's `paying for the segment` debug lines (the gateway runs
//! at `-v 5` for this; the count is exactly the tickets it put in `Livepeer-Payment` headers);
//! winners, the rows of the orchestrator's ticket store (`<dataDir>/tickets.sqlite3`) by status.
//! Nothing here asserts a timing; figures go in `docs/benchmarks.md`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use crate::cli::BenchPaidArgs;
use crate::network::{Network, NetworkConfig, free_port, node_command};

/// Blocks per round of the bench's devnet: 200, so that every winner can be redeemed. A
/// winner is redeemable from its parameters' expiry (40 blocks after they were issued) until
/// its creation round is 2 rounds old (the TicketBroker's validity period), and the
/// orchestrator redeems one winner per transaction, one after the other, as go-livepeer does;
/// with `livepeer devnet`'s 50-block rounds, a window can be as short as 10 blocks, which the
/// ~80 winners of a bench run do not fit into (runs with 50 blocks settled 6 of ~75 as expired).
pub const BENCH_ROUND_LENGTH_BLOCKS: u64 = 200;
/// Beyond the blocks a winner waits for its parameters to expire, how long the bench waits
/// after the last push for the orchestrator to settle its winners.
pub const WINNER_SETTLE_MARGIN: Duration = Duration::from_secs(20);
/// How long a node of the off-chain path gets to listen, and the restarted paid gateway.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(30);
/// The log line of the gateway that carries the number of tickets of a segment's payment
/// (`livepeer_gateway::dispatch`).
const PAYING_LINE: &str = "paying for the segment";

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// Which path a push goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathKind {
    Offchain,
    Paid,
}

impl PathKind {
    fn manifest(self) -> &'static str {
        match self {
            PathKind::Offchain => "bench-offchain",
            PathKind::Paid => "bench-paid",
        }
    }
}

/// The off-chain orchestrator and gateway child processes; killed when dropped.
struct OffchainPath {
    gateway_url: String,
    gateway_log: PathBuf,
    _orchestrator: Child,
    _gateway: Child,
}

impl OffchainPath {
    async fn start(dir: &Path, profiles: &str, preset: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let orch_port = free_port()?;
        let orch_dir = dir.join("orchestrator");
        std::fs::create_dir_all(&orch_dir)?;
        let orchestrator = spawn(
            &[
                "-orchestrator".into(),
                "-transcoder".into(),
                "-serviceAddr".into(),
                format!("127.0.0.1:{orch_port}"),
                "-x264Preset".into(),
                preset.into(),
                "-dataDir".into(),
                orch_dir.display().to_string(),
                "-v".into(),
                "5".into(),
            ],
            &dir.join("orchestrator.log"),
        )?;
        wait_for_port(orch_port).await?;
        let http_port = free_port()?;
        let gateway_log = dir.join("gateway.log");
        let gateway_dir = dir.join("gateway");
        std::fs::create_dir_all(&gateway_dir)?;
        let gateway = spawn(
            &[
                "-gateway".into(),
                "-httpAddr".into(),
                format!("127.0.0.1:{http_port}"),
                "-orchAddr".into(),
                format!("127.0.0.1:{orch_port}"),
                "-transcodingOptions".into(),
                profiles.into(),
                "-dataDir".into(),
                gateway_dir.display().to_string(),
                "-v".into(),
                "5".into(),
            ],
            &gateway_log,
        )?;
        wait_for_port(http_port).await?;
        Ok(Self {
            gateway_url: format!("http://127.0.0.1:{http_port}"),
            gateway_log,
            _orchestrator: orchestrator,
            _gateway: gateway,
        })
    }
}

/// Starts this executable as a node with `args` ([`node_command`]), also killed when the
/// handle drops.
fn spawn(args: &[String], log: &Path) -> anyhow::Result<Child> {
    Command::from(node_command(args, log)?)
        .kill_on_drop(true)
        .spawn()
        .context("cannot start a node process")
}

async fn wait_for_port(port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + LISTEN_TIMEOUT;
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        if Instant::now() > deadline {
            bail!("nothing listened on 127.0.0.1:{port} within {LISTEN_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}

/// Pushes one segment and reads the whole multipart answer; returns the wall time.
async fn push(
    client: &HttpClient,
    gateway_url: &str,
    kind: PathKind,
    seq: usize,
    data: &Bytes,
) -> anyhow::Result<Duration> {
    let url = format!("{gateway_url}/live/{}/{seq}.ts", kind.manifest());
    crate::bench::timed_push(client, &url, data)
        .await
        .with_context(|| format!("{kind:?} push {seq}"))
}

/// The tickets of every `paying for the segment` line of a gateway log from byte `from` on,
/// and the number of such lines.
fn tickets_in_log(log: &Path, from: u64) -> anyhow::Result<(u64, u64)> {
    let text = std::fs::read(log).with_context(|| format!("cannot read {}", log.display()))?;
    let start = usize::try_from(from).unwrap_or(usize::MAX).min(text.len());
    Ok(count_tickets(&String::from_utf8_lossy(&text[start..])))
}

/// Sums the `tickets=N` fields of the lines that contain [`PAYING_LINE`]; returns (tickets,
/// lines).
fn count_tickets(log: &str) -> (u64, u64) {
    let mut tickets = 0;
    let mut lines = 0;
    for line in log.lines().filter(|l| l.contains(PAYING_LINE)) {
        let Some(rest) = line.split("tickets=").nth(1) else {
            continue;
        };
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(n) = digits.parse::<u64>() {
            tickets += n;
            lines += 1;
        }
    }
    (tickets, lines)
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// Winners in the orchestrator's ticket store by status, e.g. `[("redeemed", 40)]`.
fn winners_by_status(store: &Path) -> anyhow::Result<Vec<(String, usize)>> {
    let store = livepeer_pm::SqliteTicketStore::open(store)?;
    let mut counts: Vec<(String, usize)> = Vec::new();
    for hash in store.all_ticket_hashes()? {
        let status = store.status(hash)?.unwrap_or_else(|| "unknown".into());
        match counts.iter_mut().find(|(s, _)| *s == status) {
            Some((_, n)) => *n += 1,
            None => counts.push((status, 1)),
        }
    }
    counts.sort();
    Ok(counts)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Median, min, max and interquartile range of a sample, milliseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Spread {
    median_ms: f64,
    min_ms: f64,
    max_ms: f64,
    q1_ms: f64,
    q3_ms: f64,
}

impl Spread {
    /// `None` for an empty sample. Quartiles are the order statistics at n/4 and 3n/4.
    fn of(sample: &[Duration]) -> Option<Self> {
        let mut ms: Vec<f64> = sample.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let n = ms.len();
        (n > 0).then(|| Self {
            median_ms: ms[n / 2],
            min_ms: ms[0],
            max_ms: ms[n - 1],
            q1_ms: ms[n / 4],
            q3_ms: ms[(3 * n) / 4],
        })
    }
}

fn median_f64(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs the benchmark and prints its figures.
pub async fn paid(args: BenchPaidArgs, cancel: CancellationToken) -> anyhow::Result<()> {
    let ffmpeg = livepeer_media::Ffmpeg::locate()?;
    livepeer_primitives::profile::parse_transcoding_options(&args.profiles)?;
    let runs = args.runs.max(1);
    let (dir, _temp) = match &args.dir {
        Some(dir) => (dir.clone(), None),
        None => {
            let temp = tempfile::Builder::new()
                .prefix("livepeer-bench-paid-")
                .tempdir()?;
            (temp.path().to_path_buf(), Some(temp))
        }
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let segment = dir.join("segment.ts");
    let source: Option<PathBuf> = match &args.input {
        Some(p) => Some(p.clone()),
        None => livepeer_media::testing::media_dir()
            .map(|d| d.join(livepeer_media::testing::BBB_MP4))
            .filter(|p| p.is_file()),
    };
    super::make_segment(&ffmpeg, source.as_deref(), &segment).await?;
    let data = Bytes::from(tokio::fs::read(&segment).await?);
    let source_name = source
        .as_ref()
        .and_then(|p| p.file_name())
        .map_or("testsrc2".to_string(), |n| n.to_string_lossy().into_owned());
    println!(
        "segment: 2 s 1080p30 from {source_name}, {} bytes",
        data.len()
    );
    println!(
        "ladder: {} with x264 {}; {runs} runs per path after a warm-up, alternated, {:?} idle after each push",
        args.profiles, args.preset, args.settle
    );
    println!("load average at start: {}", load_average());

    let offchain = OffchainPath::start(&dir.join("offchain"), &args.profiles, &args.preset).await?;
    let started = Instant::now();
    let mut network = Network::start(&NetworkConfig {
        orchestrators: 1,
        block_time: Some(args.block_time),
        dir: dir.join("paid"),
        x264_preset: args.preset.clone(),
        transcoding_options: args.profiles.clone(),
        max_price_per_unit: 0,
        gateway_funds: crate::network::devnet_gateway_funds(),
        round_length: BENCH_ROUND_LENGTH_BLOCKS,
        monitor: false,
        ai_models: None,
        orch_secret: None,
    })
    .await?;
    // The paid gateway again at -v 5, so its log names the tickets of every payment.
    let gateway_log = {
        let gateway = network
            .nodes
            .last_mut()
            .context("the network has no gateway")?;
        gateway.stop(Duration::from_secs(5));
        gateway.args.extend(["-v".into(), "5".into()]);
        gateway.restart()?;
        gateway.log.clone()
    };
    let gateway_port: u16 = network
        .gateway_url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .context("the gateway URL has no port")?;
    wait_for_port(gateway_port).await?;
    println!(
        "paid devnet up in {:.1} s (anvil, a block every {:?}, contracts, 1 orchestrator at {} wei/pixel, gateway with deposit and reserve)",
        started.elapsed().as_secs_f64(),
        args.block_time,
        crate::network::devnet_price(0)
    );

    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let (mut off, mut paid) = (Vec::new(), Vec::new());
    let mut paid_log_from = 0;
    for run in 0..=runs {
        if cancel.is_cancelled() {
            bail!("interrupted");
        }
        for kind in [PathKind::Offchain, PathKind::Paid] {
            let url = match kind {
                PathKind::Offchain => &offchain.gateway_url,
                PathKind::Paid => &network.gateway_url,
            };
            let elapsed = push(&client, url, kind, run, &data).await?;
            if run > 0 {
                match kind {
                    PathKind::Offchain => off.push(elapsed),
                    PathKind::Paid => paid.push(elapsed),
                }
            }
            tokio::time::sleep(args.settle).await;
        }
        if run == 0 {
            paid_log_from = file_len(&gateway_log);
        }
    }
    let load_after = load_average();

    // Winners: the orchestrator redeems a winner once its parameters expired
    // (PARAMS_EXPIRATION_BLOCKS after they were issued); wait for that, then count by status.
    let store = network.nodes[0]
        .data_dir
        .join(crate::chain::TICKET_STORE_FILE);
    let expiry = args.block_time.saturating_mul(u32::try_from(
        livepeer_pm::recipient::PARAMS_EXPIRATION_BLOCKS,
    )?);
    println!(
        "waiting up to {:?} for the orchestrator to redeem its winners",
        expiry + WINNER_SETTLE_MARGIN
    );
    let mut deadline = Instant::now() + expiry + WINNER_SETTLE_MARGIN;
    let mut last_settled = 0;
    let winners = loop {
        let counts = winners_by_status(&store)?;
        let pending = counts
            .iter()
            .any(|(status, n)| status == "pending" && *n > 0);
        if !pending || Instant::now() > deadline {
            break counts;
        }
        // Redemptions are one transaction after another: wait on while they progress.
        let settled: usize = counts
            .iter()
            .filter(|(status, _)| status != "pending")
            .map(|(_, n)| *n)
            .sum();
        if settled > last_settled {
            last_settled = settled;
            deadline = deadline.max(Instant::now() + WINNER_SETTLE_MARGIN);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let (all_tickets, _) = tickets_in_log(&gateway_log, 0)?;
    let (tickets, payments) = tickets_in_log(&gateway_log, paid_log_from)?;
    let warmup_tickets = all_tickets.saturating_sub(tickets);
    let (offchain_tickets, _) = tickets_in_log(&offchain.gateway_log, 0)?;
    for node in &mut network.nodes {
        node.stop(Duration::from_secs(5));
    }
    drop(offchain);

    let pairs: Vec<f64> = off
        .iter()
        .zip(&paid)
        .map(|(o, p)| o.as_secs_f64() / p.as_secs_f64())
        .collect();
    let (o, p) = (
        Spread::of(&off).context("no off-chain runs")?,
        Spread::of(&paid).context("no paid runs")?,
    );
    let realtime = |ms: f64| super::BENCH_SEGMENT.as_secs_f64() * 1e3 / ms;
    for (name, s) in [("off-chain", o), ("paid", p)] {
        println!(
            "{name:<10} median {:>7.1} ms  {:.2}x real time  (min {:.1}, max {:.1}, IQR {:.1}–{:.1} ms)",
            s.median_ms,
            realtime(s.median_ms),
            s.min_ms,
            s.max_ms,
            s.q1_ms,
            s.q3_ms
        );
    }
    println!(
        "speed paid/off-chain: {:.3} (ratio of medians; paying costs {:+.1} %), {:.3} (median of {} adjacent pairs)",
        o.median_ms / p.median_ms,
        (p.median_ms / o.median_ms - 1.0) * 100.0,
        median_f64(pairs.clone()),
        pairs.len()
    );
    println!(
        "tickets sent by the paid gateway: {tickets} in {payments} payments of the {runs} measured segments ({:.2} per segment), {warmup_tickets} with the warm-up; off-chain gateway: {offchain_tickets}",
        tickets as f64 / runs as f64
    );
    let winners_total: usize = winners.iter().map(|(_, n)| n).sum();
    let by_status = winners
        .iter()
        .map(|(s, n)| format!("{n} {s}"))
        .collect::<Vec<_>>()
        .join(", ");
    println!("winners in the orchestrator's ticket store: {winners_total} ({by_status})");
    println!("load average at end: {load_after}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_tickets_of_paying_lines_only() {
        let log = "\
2025-01-01T00:00:00Z DEBUG livepeer_gateway::dispatch: paying for the segment orch=0xab tickets=8
2025-01-01T00:00:01Z DEBUG livepeer_gateway::dispatch: something else tickets=100
2025-01-01T00:00:02Z DEBUG stream{manifest_id=m}: livepeer_gateway::dispatch: paying for the segment orch=0xab tickets=0
2025-01-01T00:00:03Z DEBUG livepeer_gateway::dispatch: paying for the segment orch=0xab tickets=11
";
        assert_eq!(count_tickets(log), (19, 3));
        assert_eq!(count_tickets(""), (0, 0));
    }

    #[test]
    fn spread_orders_the_sample() {
        let ms = |v: u64| Duration::from_millis(v);
        let s = Spread::of(&[ms(30), ms(10), ms(20), ms(50), ms(40)]).expect("non-empty");
        assert_eq!(
            (s.median_ms, s.min_ms, s.max_ms, s.q1_ms, s.q3_ms),
            (30.0, 10.0, 50.0, 20.0, 40.0)
        );
        assert!(Spread::of(&[]).is_none());
    }
}
