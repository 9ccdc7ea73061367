//! The paid network on one machine, through the binary: `livepeer devnet` starts anvil, the
//! contracts and real node processes; a real clip is pushed through the gateway; tickets are
//! redeemed on the TicketBroker, rounds are initialized by a node and `reward()` is called
//! once per round by every active orchestrator. The test only pushes video and fast-forwards
//! blocks with anvil's mining RPC.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::Filter;
use alloy::sol_types::SolEvent;
use bytes::Bytes;
use hyper::Method;
use livepeer_eth::contracts::{BondingManager, RoundsManager, TicketBroker};
use livepeer_testing::{bikes, check_pushed, profiles, request};

/// The ladder the devnet's gateway gets: one cheap rendition.
pub(crate) const LADDER: &str = "P144p30fps16x9";

/// A `livepeer devnet` child and its JSON report; SIGTERMed on drop.
pub(crate) struct DevnetProcess {
    child: Child,
    report: serde_json::Value,
    _dir: tempfile::TempDir,
}

impl DevnetProcess {
    fn start(orchestrators: usize, round_length: u64) -> Self {
        Self::start_with(&[
            "--orchestrators",
            &orchestrators.to_string(),
            "--round-length",
            &round_length.to_string(),
            "--transcodingOptions",
            LADDER,
            "--x264Preset",
            "ultrafast",
        ])
    }

    pub(crate) fn start_with(args: &[&str]) -> Self {
        Self::start_in(tempfile::tempdir().expect("temp dir"), args)
    }

    /// One orchestrator with `-aiModels` = `models` (an aiModels.json array, written into
    /// the devnet's directory), and `args`.
    pub(crate) fn start_with_ai_models(models: &serde_json::Value, args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("aiModels.json");
        std::fs::write(&file, models.to_string()).expect("aiModels.json");
        let file = file.to_str().expect("utf-8").to_string();
        let mut all = vec!["--orchestrators", "1", "--aiModels", &file];
        all.extend_from_slice(args);
        Self::start_in(dir, &all)
    }

    fn start_in(dir: tempfile::TempDir, args: &[&str]) -> Self {
        let mut child = crate::livepeer_command()
            .args(["devnet", "--json"])
            .args(args)
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut json = String::new();
        let mut lines = BufReader::new(stdout).lines();
        let report = loop {
            let line = lines
                .next()
                .expect("the devnet prints its report before it runs")
                .expect("readable stdout");
            json.push_str(&line);
            json.push('\n');
            if line == "}"
                && let Ok(report) = serde_json::from_str(&json)
            {
                break report;
            }
        };
        Self {
            child,
            report,
            _dir: dir,
        }
    }

    pub(crate) fn accounts(&self, role: &str) -> Vec<serde_json::Value> {
        self.report["accounts"]
            .as_array()
            .expect("accounts")
            .iter()
            .filter(|a| a["role"] == role)
            .cloned()
            .collect()
    }

    fn address(account: &serde_json::Value) -> Address {
        account["address"]
            .as_str()
            .expect("address")
            .parse()
            .expect("an address")
    }

    pub(crate) fn gateway_url(&self) -> String {
        self.accounts("gateway")[0]["httpUrl"]
            .as_str()
            .expect("the gateway's httpUrl")
            .to_string()
    }

    pub(crate) fn contract(&self, name: &str) -> Address {
        self.report["contracts"][name]
            .as_str()
            .expect("contract")
            .parse()
            .expect("an address")
    }

    pub(crate) fn provider(&self) -> DynProvider {
        self.provider_signing(&livepeer_eth::devnet::LocalKey::random())
    }

    /// The private key of a report account.
    fn key_of(account: &serde_json::Value) -> livepeer_eth::devnet::LocalKey {
        account["privateKey"]
            .as_str()
            .expect("privateKey")
            .parse()
            .expect("a key")
    }

    /// A provider sending transactions as `key`.
    fn provider_signing(&self, key: &livepeer_eth::devnet::LocalKey) -> DynProvider {
        livepeer_eth::rpc::signing_provider(self.report["rpcUrl"].as_str().expect("rpc url"), key)
            .expect("provider")
    }
}

impl Drop for DevnetProcess {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) async fn mine(provider: &DynProvider, blocks: u64) {
    livepeer_eth::deployment::mine_blocks(provider, blocks)
        .await
        .expect("anvil_mine");
}

/// Mines up to the first block of the next round (at least one block); returns the round it
/// was in and the block number before mining.
async fn mine_to_next_round<P: Provider>(
    provider: &DynProvider,
    rounds: &RoundsManager::RoundsManagerInstance<P>,
) -> (U256, u64) {
    let round: U256 = rounds.currentRound().call().await.expect("round");
    let length: U256 = rounds.roundLength().call().await.expect("round length");
    let start: U256 = rounds.currentRoundStartBlock().call().await.expect("start");
    let block = provider.get_block_number().await.expect("block");
    let to_next = (start + length)
        .saturating_to::<u64>()
        .saturating_sub(block);
    mine(provider, to_next.max(1)).await;
    (round, block)
}

/// The account that sent the first `NewRound` from block `from` on, and its block.
async fn round_initialized_by(
    devnet: &DevnetProcess,
    provider: &DynProvider,
    from: u64,
) -> (Address, u64) {
    let new_rounds = provider
        .get_logs(
            &Filter::new()
                .address(devnet.contract("roundsManager"))
                .event_signature(RoundsManager::NewRound::SIGNATURE_HASH)
                .from_block(from),
        )
        .await
        .expect("logs");
    let first = new_rounds.first().expect("a NewRound event");
    let signer = provider
        .get_transaction_by_hash(first.transaction_hash.expect("hash"))
        .await
        .expect("tx")
        .expect("mined")
        .inner
        .signer();
    (signer, first.block_number.expect("block"))
}

pub(crate) async fn until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// (a key unique per ticket: keccak of recipient, sender, face value, win probability, nonce
/// and recipientRand; face value; recipient; block) of every `WinningTicketRedeemed`.
pub(crate) async fn redemptions(
    provider: &DynProvider,
    broker: Address,
) -> Vec<(B256, U256, Address, u64)> {
    let logs = provider
        .get_logs(
            &Filter::new()
                .address(broker)
                .event_signature(TicketBroker::WinningTicketRedeemed::SIGNATURE_HASH)
                .from_block(0u64),
        )
        .await
        .expect("logs");
    logs.iter()
        .filter_map(|l| {
            let e = TicketBroker::WinningTicketRedeemed::decode_log(&l.inner).ok()?;
            let hash = alloy::primitives::keccak256(
                [
                    e.recipient.as_slice(),
                    e.sender.as_slice(),
                    &e.faceValue.to_be_bytes::<32>(),
                    &e.winProb.to_be_bytes::<32>(),
                    &e.senderNonce.to_be_bytes::<32>(),
                    e.recipientRand.to_be_bytes::<32>().as_slice(),
                ]
                .concat(),
            );
            Some((hash, e.faceValue, e.recipient, l.block_number.unwrap_or(0)))
        })
        .collect()
}

/// Winning tickets in an orchestrator's store, by status.
pub(crate) fn stored_winners(data_dir: &str) -> Vec<String> {
    let path = std::path::Path::new(data_dir).join("tickets.sqlite3");
    if !path.exists() {
        return Vec::new();
    }
    // The orchestrator may be writing: wait for its lock rather than read nothing.
    let db =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("the ticket store opens");
    db.busy_timeout(Duration::from_secs(10))
        .expect("busy timeout");
    let mut statement = db
        .prepare("SELECT status FROM winning_tickets")
        .expect("the winning_tickets table");
    statement
        .query_map([], |row| row.get::<_, String>(0))
        .expect("winners read")
        .collect::<Result<_, _>>()
        .expect("winner rows")
}

/// Pushes every segment of the bikes clip to `manifest` and ends the stream; returns how many.
pub(crate) async fn push_clip(gateway: &str, manifest: &str) -> usize {
    push_clip_from(gateway, manifest, 0, true).await
}

/// Pushes every segment of the bikes clip to `manifest`, numbered from `first_seq`, checking
/// that each comes back with its rendition; ends the stream when `end`. Returns how many.
async fn push_clip_from(gateway: &str, manifest: &str, first_seq: u64, end: bool) -> usize {
    let http = livepeer_testing::http();
    let ladder = profiles(&[LADDER]);
    let segments = bikes().await;
    for segment in segments {
        let seq = first_seq + segment.seq;
        let answer = push_one(gateway, manifest, seq, segment).await;
        check_pushed(&answer, seq, &ladder).await;
    }
    if end {
        let _ = request(
            &http,
            Method::DELETE,
            &format!("{gateway}/live/{manifest}"),
            &[],
            Bytes::new(),
        )
        .await;
    }
    segments.len()
}

/// Pushes the bikes clip to `manifest` (numbered on from the last push) until the
/// orchestrator whose data directory is `data_dir` has stored a winning ticket, at most
/// [`WINNER_PUSHES`] times; ends the stream when `end`. Returns the segments pushed.
///
/// A devnet ticket wins with probability 0.8, but at the test ladder's price one clip carries
/// only about two tickets, so one push leaves no winner 4 % of the time.
pub(crate) async fn push_until_a_winner(
    gateway: &str,
    manifest: &str,
    data_dir: &str,
    end: bool,
) -> usize {
    let mut segments = 0;
    for _ in 0..WINNER_PUSHES {
        segments += push_clip_from(gateway, manifest, segments as u64, false).await;
        if !stored_winners(data_dir).is_empty() {
            break;
        }
    }
    if end {
        let _ = request(
            &livepeer_testing::http(),
            Method::DELETE,
            &format!("{gateway}/live/{manifest}"),
            &[],
            Bytes::new(),
        )
        .await;
    }
    segments
}

/// Pushes of the clip [`push_until_a_winner`] makes at most (no winner after all of them:
/// 0.04⁴).
pub(crate) const WINNER_PUSHES: usize = 4;

/// Pushes one segment as `seq` of `manifest`.
pub(crate) async fn push_one(
    gateway: &str,
    manifest: &str,
    seq: u64,
    segment: &livepeer_testing::Segment,
) -> livepeer_testing::Answer {
    let duration = segment.duration_ms.to_string();
    request(
        &livepeer_testing::http(),
        Method::POST,
        &format!("{gateway}/live/{manifest}/{seq}.ts"),
        &[
            ("Content-Duration", duration.as_str()),
            ("Accept", "multipart/mixed"),
        ],
        segment.data.clone(),
    )
    .await
}

/// A node's `GET /status` (its `-cliAddr` API).
pub(crate) async fn node_status(account: &serde_json::Value) -> serde_json::Value {
    let url = format!("{}/status", account["cliUrl"].as_str().expect("cliUrl"));
    let answer = request(
        &livepeer_testing::http(),
        Method::GET,
        &url,
        &[],
        Bytes::new(),
    )
    .await;
    serde_json::from_slice(&answer.body).expect("status JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_paid_network_transcodes_redeems_rewards_and_initializes_rounds() {
    // Rounds of 200 blocks: the 41 blocks that expire the tickets stay inside the round. The
    // third orchestrator (6·10⁸ wei/pixel) is above the gateway's -maxPricePerUnit.
    let devnet = DevnetProcess::start_with(&[
        "--orchestrators",
        "3",
        "--round-length",
        "200",
        "--transcodingOptions",
        LADDER,
        "--x264Preset",
        "ultrafast",
        "--maxPricePerUnit",
        "550000000",
    ]);
    let provider = devnet.provider();
    let broker = TicketBroker::new(devnet.contract("ticketBroker"), provider.clone());
    let gateway = DevnetProcess::address(&devnet.accounts("gateway")[0]);
    let orchestrators = devnet.accounts("orchestrator");
    let before = broker
        .getSenderInfo(gateway)
        .call()
        .await
        .expect("sender info")
        .sender;

    // A real clip through the paid network: every segment comes back with its rendition. The
    // stream stays open: it goes on after its ticket parameters expire, below.
    let segments = push_clip_from(&devnet.gateway_url(), "paid", 0, false).await;
    assert!(segments >= 4);
    // Every segment carried at least a ticket; with win probability >= 0.8 there are winners.
    let winners = || {
        orchestrators
            .iter()
            .flat_map(|o| stored_winners(o["dataDir"].as_str().expect("dataDir")))
            .collect::<Vec<_>>()
    };
    let stored = winners();
    assert!(!stored.is_empty(), "no winning ticket stored");
    assert!(stored.iter().all(|s| s == "pending"), "{stored:?}");

    // Nothing is redeemed before the parameters expire; 41 blocks later every winner is.
    assert!(
        redemptions(&provider, broker.address().to_owned())
            .await
            .is_empty()
    );
    mine(&provider, 41).await;
    until(
        "every winner is redeemed",
        Duration::from_secs(60),
        || async {
            let all = winners();
            !all.is_empty() && all.iter().all(|s| s == "redeemed")
        },
    )
    .await;
    let redeemed = redemptions(&provider, broker.address().to_owned()).await;
    assert_eq!(redeemed.len(), stored.len(), "each winner redeemed once");
    let mut hashes: Vec<B256> = redeemed.iter().map(|r| r.0).collect();
    hashes.sort();
    hashes.dedup();
    assert_eq!(hashes.len(), redeemed.len(), "no ticket redeemed twice");
    let face_values: U256 = redeemed.iter().map(|r| r.1).sum();
    let after = broker
        .getSenderInfo(gateway)
        .call()
        .await
        .expect("sender info")
        .sender;
    assert_eq!(
        before.deposit - after.deposit,
        face_values,
        "the deposit went down by exactly the redeemed face values"
    );
    // The fees went to the orchestrators that did the work.
    let bonding = BondingManager::new(devnet.contract("bondingManager"), provider.clone());
    let rounds = RoundsManager::new(devnet.contract("roundsManager"), provider.clone());
    let round: U256 = rounds.currentRound().call().await.expect("round");
    for (_, _, recipient, _) in &redeemed {
        assert!(
            orchestrators
                .iter()
                .any(|o| DevnetProcess::address(o) == *recipient)
        );
        let fees: U256 = bonding
            .pendingFees(*recipient, round)
            .call()
            .await
            .expect("pending fees");
        assert!(fees > U256::ZERO, "{recipient} earned fees");
    }

    // The next round: the test only mines blocks; a node initializes it, and every active
    // orchestrator calls reward() in it exactly once.
    let (_, block) = mine_to_next_round(&provider, &rounds).await;
    let next = round + U256::from(1);
    until(
        "a node initializes the next round",
        Duration::from_secs(30),
        || async { rounds.lastInitializedRound().call().await.expect("round") >= next },
    )
    .await;
    let (initializer, new_round_block) = round_initialized_by(&devnet, &provider, block).await;
    assert_eq!(
        initializer,
        DevnetProcess::address(&orchestrators[0]),
        "initialized by the orchestrator running -initializeRound"
    );
    let rewards = || async {
        let logs = provider
            .get_logs(
                &Filter::new()
                    .address(devnet.contract("bondingManager"))
                    .event_signature(BondingManager::Reward::SIGNATURE_HASH)
                    .from_block(new_round_block),
            )
            .await
            .expect("logs");
        logs.iter()
            .filter_map(|l| BondingManager::Reward::decode_log(&l.inner).ok())
            .map(|e| e.transcoder)
            .collect::<Vec<_>>()
    };
    until(
        "every orchestrator calls reward",
        Duration::from_secs(30),
        || async { rewards().await.len() >= orchestrators.len() },
    )
    .await;
    mine(&provider, 5).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let mut got = rewards().await;
    got.sort();
    let mut want: Vec<Address> = orchestrators.iter().map(DevnetProcess::address).collect();
    want.sort();
    assert_eq!(
        got, want,
        "reward() once per active orchestrator in the round"
    );

    // The same stream, a round later: its ticket parameters have expired, so
    // the gateway refreshes its sessions and every segment is paid for and comes back.
    let (tickets_before, winners_before) = ticket_counts(&orchestrators).await;
    push_clip_from(&devnet.gateway_url(), "paid", 100, true).await;
    let (tickets_after, winners_after) = ticket_counts(&orchestrators).await;
    assert!(
        tickets_after > tickets_before,
        "the refreshed sessions carry tickets ({tickets_before} -> {tickets_after})"
    );
    assert!(winners_after >= winners_before);

    // The orchestrator above the max price was never selected: no segment, no ticket.
    let by_orchestrator =
        node_status(&devnet.accounts("gateway")[0]).await["gateway"]["segmentsByOrchestrator"]
            .clone();
    let uri = |o: &serde_json::Value| o["serviceUri"].as_str().expect("serviceUri").to_string();
    let counted: u64 = by_orchestrator
        .as_object()
        .expect("segments by orchestrator")
        .values()
        .map(|n| n.as_u64().expect("a count"))
        .sum();
    assert_eq!(counted, 2 * segments as u64, "{by_orchestrator}");
    assert!(
        by_orchestrator.get(uri(&orchestrators[2])).is_none(),
        "the orchestrator above -maxPricePerUnit was selected: {by_orchestrator}"
    );
    let expensive = node_status(&orchestrators[2]).await;
    assert_eq!(
        expensive["orchestrator"]["payments"]["ticketsReceived"], 0,
        "{expensive}"
    );
}

/// Tickets received and winners stored over `orchestrators`, from their `/status`.
async fn ticket_counts(orchestrators: &[serde_json::Value]) -> (u64, u64) {
    let mut tickets = 0;
    let mut winners = 0;
    for o in orchestrators {
        let payments = &node_status(o).await["orchestrator"]["payments"];
        tickets += payments["ticketsReceived"]
            .as_u64()
            .expect("ticketsReceived");
        winners += payments["winners"].as_u64().expect("winners");
    }
    (tickets, winners)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_orchestrator_redeems_its_winners_after_a_restart() {
    let devnet = DevnetProcess::start(1, 200);
    let provider = devnet.provider();
    let orchestrator = devnet.accounts("orchestrator")[0].clone();
    let data_dir = orchestrator["dataDir"]
        .as_str()
        .expect("dataDir")
        .to_string();
    // Tickets win with probability >= 0.8, but a clip may be paid with only two or three of
    // them: push until a winner is stored (four clips without one: about 1e-6).
    for attempt in 0..4 {
        push_clip(&devnet.gateway_url(), &format!("durable-{attempt}")).await;
        if !stored_winners(&data_dir).is_empty() {
            break;
        }
    }
    let stored = stored_winners(&data_dir);
    assert!(
        !stored.is_empty(),
        "no winner stored; the orchestrator counted {:?}",
        ticket_counts(std::slice::from_ref(&orchestrator)).await
    );

    // The orchestrator dies without a chance to clean up, its winners acknowledged.
    let pid = orchestrator["pid"].as_u64().expect("pid").to_string();
    assert!(
        Command::new("kill")
            .args(["-KILL", &pid])
            .status()
            .expect("kill")
            .success()
    );
    mine(&provider, 41).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        redemptions(&provider, devnet.contract("ticketBroker"))
            .await
            .is_empty(),
        "nothing redeemed while it was down"
    );

    // Restarted on the same data directory, it redeems every winner, once.
    let args: Vec<String> = orchestrator["command"]
        .as_array()
        .expect("command")
        .iter()
        .map(|a| a.as_str().expect("arg").to_string())
        .collect();
    let log = std::path::Path::new(&data_dir).join("restarted.log");
    let log_file = std::fs::File::create(&log).expect("log file");
    let mut restarted = crate::livepeer_command()
        .args(&args)
        .stdout(Stdio::null())
        .stderr(log_file)
        .spawn()
        .expect("restart");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !stored_winners(&data_dir).iter().all(|s| s == "redeemed") {
        if Instant::now() > deadline || matches!(restarted.try_wait(), Ok(Some(_))) {
            let _ = restarted.kill();
            panic!(
                "the restarted orchestrator did not redeem its winners: {:?}\n{}",
                stored_winners(&data_dir),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let redeemed = redemptions(&provider, devnet.contract("ticketBroker")).await;
    assert_eq!(redeemed.len(), stored.len());
    let _ = Command::new("kill")
        .args(["-TERM", &restarted.id().to_string()])
        .status();
    let _ = restarted.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_whose_deposit_runs_out_ends_the_stream_with_its_clear_error() {
    // A deposit of exactly one face value (the devnet's -maxFaceValue): the first redeemed
    // winner empties it; the reserve stays.
    let face_value = "5000000000000000";
    let devnet = DevnetProcess::start_with(&[
        "--orchestrators",
        "1",
        "--round-length",
        "200",
        "--transcodingOptions",
        LADDER,
        "--x264Preset",
        "ultrafast",
        "--gateway-deposit",
        face_value,
    ]);
    let provider = devnet.provider();
    let broker = TicketBroker::new(devnet.contract("ticketBroker"), provider.clone());
    let gateway = DevnetProcess::address(&devnet.accounts("gateway")[0]);
    let orchestrator = devnet.accounts("orchestrator")[0].clone();
    let data_dir = orchestrator["dataDir"]
        .as_str()
        .expect("dataDir")
        .to_string();
    let url = devnet.gateway_url();

    let segments = push_until_a_winner(&url, "drained", &data_dir, false).await;
    let stored = stored_winners(&data_dir);
    assert!(!stored.is_empty(), "no winner stored");
    mine(&provider, 41).await;
    until(
        "every winner is redeemed",
        Duration::from_secs(60),
        || async { stored_winners(&data_dir).iter().all(|s| s == "redeemed") },
    )
    .await;
    let info = broker
        .getSenderInfo(gateway)
        .call()
        .await
        .expect("sender info");
    assert_eq!(info.sender.deposit, U256::ZERO, "the deposit is used up");
    let redeemed = redemptions(&provider, broker.address().to_owned())
        .await
        .len();

    // The next segment of the same stream: the gateway sees its empty deposit (from the
    // TicketBroker's events) and ends the stream rather than send unpaid work.
    let segment = &bikes().await[0];
    let seq = 100 + segments as u64;
    let deadline = Instant::now() + Duration::from_secs(30);
    let refused = loop {
        let answer = push_one(&url, "drained", seq, segment).await;
        if answer.status == hyper::StatusCode::PAYMENT_REQUIRED {
            break answer;
        }
        // The watcher may not have seen the redemption's events yet.
        assert!(
            Instant::now() < deadline,
            "still accepted with an empty deposit: {} {}",
            answer.status,
            answer.text()
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let text = refused.text();
    assert!(
        text.contains("fund its TicketBroker deposit and reserve"),
        "{text}"
    );
    // The stream stays ended, and the orchestrator got no unpaid work.
    let tickets = node_status(&orchestrator).await["orchestrator"]["payments"].clone();
    let again = push_one(&url, "drained", seq + 1, segment).await;
    assert_ne!(again.status, hyper::StatusCode::OK, "{}", again.text());
    let after = node_status(&orchestrator).await["orchestrator"]["payments"].clone();
    assert_eq!(after["segmentsPaid"], tickets["segmentsPaid"]);
    assert_eq!(after["ticketsReceived"], tickets["ticketsReceived"]);
    assert_eq!(
        redemptions(&provider, broker.address().to_owned())
            .await
            .len(),
        redeemed
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orchestrator_that_leaves_the_active_set_stops_accepting_payment() {
    let devnet = DevnetProcess::start(2, 100);
    let provider = devnet.provider();
    let orchestrators = devnet.accounts("orchestrator");
    let leaving = &orchestrators[1];
    let rounds = RoundsManager::new(devnet.contract("roundsManager"), provider.clone());
    let bonding = BondingManager::new(devnet.contract("bondingManager"), provider.clone());

    // A gateway of its own that only knows the leaving orchestrator (-orchAddr), with the
    // devnet gateway's account; paid work flows to it while it is active.
    let direct = DirectGateway::start(&devnet, leaving["serviceUri"].as_str().expect("uri"));
    let segment = &bikes().await[0];
    let ladder = profiles(&[LADDER]);
    let answer = push_one(&direct.url, "direct", 0, segment).await;
    check_pushed(&answer, 0, &ladder).await;

    // It unbonds all of its stake: it resigns, and is inactive from the next round on.
    let own = devnet.provider_signing(&DevnetProcess::key_of(leaving));
    let address = DevnetProcess::address(leaving);
    let stake: U256 = bonding
        .transcoderTotalStake(address)
        .call()
        .await
        .expect("stake");
    BondingManager::new(devnet.contract("bondingManager"), own)
        .unbond(stake)
        .send()
        .await
        .expect("unbond sent")
        .get_receipt()
        .await
        .expect("unbond mined");
    let (round, _) = mine_to_next_round(&provider, &rounds).await;
    until(
        "a node initializes the next round",
        Duration::from_secs(30),
        || async { rounds.lastInitializedRound().call().await.expect("round") > round },
    )
    .await;
    assert!(
        !bonding
            .isActiveTranscoder(address)
            .call()
            .await
            .expect("active"),
        "inactive on chain"
    );

    // Its payments are refused now: the segment fails and nothing is charged.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seq = 1;
    let before = loop {
        let before = node_status(leaving).await["orchestrator"]["payments"].clone();
        let answer = push_one(&direct.url, "direct", seq, segment).await;
        if answer.status != hyper::StatusCode::OK {
            break before;
        }
        // Its round watcher may not have seen the new round yet.
        assert!(Instant::now() < deadline, "still paid while inactive");
        seq += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let after = node_status(leaving).await["orchestrator"]["payments"].clone();
    // Either its tickets were refused, or (its session refreshed after the round) it gave the
    // gateway no terms to pay on: either way no ticket was taken and nothing was charged.
    assert_eq!(
        after["ticketsReceived"], before["ticketsReceived"],
        "{before} -> {after}"
    );
    assert_eq!(after["segmentsPaid"], before["segmentsPaid"]);

    // The devnet's gateway, walking the pool, sends a new stream to the active one only.
    push_clip(&devnet.gateway_url(), "after-exit").await;
    let by_orchestrator =
        node_status(&devnet.accounts("gateway")[0]).await["gateway"]["segmentsByOrchestrator"]
            .clone();
    assert!(
        by_orchestrator
            .get(leaving["serviceUri"].as_str().expect("uri"))
            .is_none(),
        "{by_orchestrator}"
    );
}

/// A second gateway process with the devnet gateway's account and its own data directory,
/// sending only to `orch_addr`; SIGKILLed on drop.
pub(crate) struct DirectGateway {
    child: Child,
    pub(crate) url: String,
    dir: tempfile::TempDir,
}

impl DirectGateway {
    fn start(devnet: &DevnetProcess, orch_addr: &str) -> Self {
        Self::start_as(devnet, |args| set_flag(args, "-orchAddr", orch_addr))
    }

    /// A node with the devnet gateway's account and command line, changed by `edit` (e.g.
    /// into a remote signer), on its own ports and data directory.
    pub(crate) fn start_as(devnet: &DevnetProcess, edit: impl FnOnce(&mut Vec<String>)) -> Self {
        let account = &devnet.accounts("gateway")[0];
        let mut args: Vec<String> = account["command"]
            .as_array()
            .expect("command")
            .iter()
            .map(|a| a.as_str().expect("arg").to_string())
            .collect();
        let dir = tempfile::tempdir().expect("temp dir");
        let keystore =
            std::path::Path::new(account["dataDir"].as_str().expect("dataDir")).join("keystore");
        let own_keystore = dir.path().join("keystore");
        std::fs::create_dir_all(&own_keystore).expect("keystore dir");
        for entry in std::fs::read_dir(&keystore).expect("keystore") {
            let entry = entry.expect("entry");
            std::fs::copy(entry.path(), own_keystore.join(entry.file_name())).expect("copy key");
        }
        let port = livepeer_node::network::free_port().expect("port");
        let cli_port = livepeer_node::network::free_port().expect("port");
        set_flag(&mut args, "-dataDir", &dir.path().display().to_string());
        set_flag(&mut args, "-httpAddr", &format!("127.0.0.1:{port}"));
        set_flag(&mut args, "-cliAddr", &format!("127.0.0.1:{cli_port}"));
        edit(&mut args);
        let log = std::fs::File::create(dir.path().join("node.log")).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_livepeer"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the gateway starts");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the direct gateway did not come up"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Self { child, url, dir }
    }
}

impl DirectGateway {
    /// What the node has logged so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("node.log")).unwrap_or_default()
    }
}

impl Drop for DirectGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sets `flag`'s value in a node command line, appending the flag when it is not there.
pub(crate) fn set_flag(args: &mut Vec<String>, flag: &str, value: &str) {
    match args.iter().position(|a| a == flag) {
        Some(i) if i + 1 < args.len() => args[i + 1] = value.to_string(),
        _ => args.extend([flag.to_string(), value.to_string()]),
    }
}

#[test]
fn the_demo_runs_the_paid_network_and_reports_redeemed_tickets_and_fees() {
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = crate::livepeer_command()
        .args(["demo", "--exit", "--transcodingOptions", LADDER, "--out"])
        .arg(out_dir.path())
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let count = |label: &str| -> u64 {
        stdout
            .lines()
            .find(|l| l.trim_start().starts_with(label))
            .and_then(|l| {
                l[l.find(label).expect("label") + label.len()..]
                    .split_whitespace()
                    .next()
            })
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {label:?} line in\n{stdout}"))
    };
    let sent = count("tickets sent by the gateway");
    let redeemed = count("tickets redeemed on chain");
    assert!(sent >= 1 && redeemed >= 1, "{stdout}");
    assert_eq!(
        count("winning tickets"),
        redeemed,
        "every winner redeemed: {stdout}"
    );
    // Some orchestrator earned fees, and the deposit went down.
    assert!(
        stdout
            .lines()
            .filter(|l| l.starts_with("0x") && l.contains("rewarded"))
            .any(|l| !l.contains(" 0.000000 ETH")),
        "{stdout}"
    );
    assert!(
        stdout.contains("gateway deposit  100.000000 ETH -> 99."),
        "{stdout}"
    );
    assert!(out_dir.path().join("demo.m3u8").is_file());
}

#[test]
fn the_offchain_demo_still_takes_the_quick_unpaid_path() {
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = crate::livepeer_command()
        .args([
            "demo",
            "--exit",
            "--offchain",
            "--transcodingOptions",
            LADDER,
            "--out",
        ])
        .arg(out_dir.path())
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("x real time"), "{stdout}");
    assert!(!stdout.contains("tickets"), "{stdout}");
    assert!(out_dir.path().join("demo.m3u8").is_file());
}

#[test]
fn an_account_that_is_not_a_registered_orchestrator_cannot_start_one_on_chain() {
    let devnet = DevnetProcess::start_with(&["--chain-only", "--orchestrators", "0"]);
    let dir = tempfile::tempdir().expect("temp dir");
    let password = dir.path().join("password");
    std::fs::write(&password, "secret\n").expect("password file");
    let out = crate::livepeer_command()
        .args([
            "-orchestrator",
            "-transcoder",
            "-network",
            "devnet",
            "-ethUrl",
            devnet.report["rpcUrl"].as_str().expect("rpc url"),
            "-ethController",
            devnet.report["contracts"]["controller"]
                .as_str()
                .expect("controller"),
            "-serviceAddr",
            "127.0.0.1:0",
            "-dataDir",
        ])
        .arg(dir.path().join("data"))
        .arg("-ethPassword")
        .arg(&password)
        .output()
        .expect("the binary runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("error: account 0x") && last.contains("is not a registered orchestrator"),
        "{stderr}"
    );
    assert!(
        last.contains("BondingManager.transcoder"),
        "says what to do: {last}"
    );
}

/// As go-livepeer, a node with no role but `-initializeRound` runs just the round services: it
/// initializes a due round on chain with its own account. Off-chain that is one clear line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_no_role_but_initialize_round_initializes_rounds() {
    let devnet = DevnetProcess::start_with(&["--chain-only", "--orchestrators", "0"]);
    let provider = devnet.provider();
    let rounds = RoundsManager::new(devnet.contract("roundsManager"), provider.clone());
    let account = devnet.report["accounts"]
        .as_array()
        .expect("accounts")
        .first()
        .expect("an account")
        .clone();
    let key = DevnetProcess::key_of(&account);
    let dir = tempfile::tempdir().expect("temp dir");
    let data_dir = dir.path().join("data");
    livepeer_eth::accounts::import_key(&data_dir.join("keystore"), &key, "secret")
        .expect("keystore");
    let password = dir.path().join("password");
    std::fs::write(&password, "secret\n").expect("password file");
    let log = std::fs::File::create(dir.path().join("node.log")).expect("log");
    let mut node = crate::livepeer_command()
        .args([
            "-initializeRound",
            "-initializeRoundMaxDelay",
            "1s",
            "-blockPollingInterval",
            "1",
            "-network",
            "devnet",
            "-ethUrl",
            devnet.report["rpcUrl"].as_str().expect("rpc url"),
            "-ethController",
            devnet.report["contracts"]["controller"]
                .as_str()
                .expect("controller"),
            "-dataDir",
        ])
        .arg(&data_dir)
        .arg("-ethPassword")
        .arg(&password)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("the binary runs");

    let (round, block) = mine_to_next_round(&provider, &rounds).await;
    let initialized = async {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if rounds.lastInitializedRound().call().await.expect("round") > round {
                return true;
            }
            if Instant::now() > deadline || matches!(node.try_wait(), Ok(Some(_))) {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    .await;
    let _ = node.kill();
    let _ = node.wait();
    assert!(
        initialized,
        "the role-less node did not initialize the round:\n{}",
        std::fs::read_to_string(dir.path().join("node.log")).unwrap_or_default()
    );
    assert_eq!(
        round_initialized_by(&devnet, &provider, block).await.0,
        DevnetProcess::address(&account)
    );

    // Off-chain there is nothing for the round services to do.
    let out = crate::livepeer_command()
        .args(["-initializeRound", "-dataDir"])
        .arg(dir.path().join("offchain"))
        .output()
        .expect("the binary runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .trim_end()
            .lines()
            .last()
            .unwrap_or_default()
            .contains("need an on-chain -network"),
        "{stderr}"
    );
}

/// POSTs `form` (urlencoded, as `livepeer_cli` sends it) to `path` on a node's CLI API.
pub(crate) async fn cli_post(
    account: &serde_json::Value,
    path: &str,
    form: &str,
) -> livepeer_testing::Answer {
    let url = format!("{}{path}", account["cliUrl"].as_str().expect("cliUrl"));
    request(
        &livepeer_testing::http(),
        Method::POST,
        &url,
        &[("content-type", "application/x-www-form-urlencoded")],
        Bytes::from(form.to_string()),
    )
    .await
}

fn text(answer: &livepeer_testing::Answer) -> String {
    String::from_utf8_lossy(&answer.body).into_owned()
}

/// The CLI API moves the chain as the same calls through go-livepeer's would (paths, form
/// parameters, answers and error texts of `server/handlers.go`), checked with contract reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_api_moves_the_chain_as_go_livepeers_does() {
    let devnet = DevnetProcess::start(1, 100);
    let provider = devnet.provider();
    let gateway = &devnet.accounts("gateway")[0];
    let orch = &devnet.accounts("orchestrator")[0];
    let gateway_address = DevnetProcess::address(gateway);
    let orch_address = DevnetProcess::address(orch);
    let broker = TicketBroker::new(devnet.contract("ticketBroker"), provider.clone());
    let bonding = BondingManager::new(devnet.contract("bondingManager"), provider.clone());
    let rounds = RoundsManager::new(devnet.contract("roundsManager"), provider.clone());

    // Reads.
    let answer = cli_post(gateway, "/ethAddr", "").await;
    assert_eq!(text(&answer), gateway_address.to_checksum(None));
    let chain_id = provider.get_chain_id().await.expect("chain id");
    assert_eq!(
        text(&cli_post(gateway, "/EthChainID", "").await),
        chain_id.to_string()
    );
    let round = rounds.currentRound().call().await.expect("round");
    assert_eq!(
        text(&cli_post(orch, "/currentRound", "").await),
        round.to_string()
    );
    assert_eq!(text(&cli_post(orch, "/IsOrchestrator", "").await), "true");
    assert_eq!(
        text(&cli_post(gateway, "/IsOrchestrator", "").await),
        "false"
    );

    // The gateway adds to its deposit and reserve.
    let before = broker
        .getSenderInfo(gateway_address)
        .call()
        .await
        .expect("info");
    let answer = cli_post(
        gateway,
        "/fundDepositAndReserve",
        "depositAmount=1000000&reserveAmount=2000000",
    )
    .await;
    assert_eq!(answer.status, 200, "{}", text(&answer));
    assert_eq!(text(&answer), "fundDepositAndReserve success");
    let after = broker
        .getSenderInfo(gateway_address)
        .call()
        .await
        .expect("info");
    assert_eq!(
        after.sender.deposit,
        before.sender.deposit + U256::from(1_000_000)
    );
    assert_eq!(
        after.reserve.fundsRemaining,
        before.reserve.fundsRemaining + U256::from(2_000_000)
    );
    // Amounts are plain JSON numbers, as Go writes a *big.Int.
    let info = text(&cli_post(gateway, "/senderInfo", "").await);
    assert!(
        info.starts_with(&format!("{{\"Deposit\":{},", after.sender.deposit)),
        "{info}"
    );
    let orchestrator_info: serde_json::Value =
        serde_json::from_slice(&cli_post(orch, "/orchestratorInfo", "").await.body).expect("JSON");
    let t = &orchestrator_info["Transcoder"];
    assert_eq!(t["Status"], "Registered", "{orchestrator_info}");
    assert_eq!(t["Active"], true);
    assert_eq!(
        t["Address"]
            .as_str()
            .map(|a| a.parse::<Address>().expect("address")),
        Some(orch_address)
    );
    let on_chain = bonding
        .getTranscoder(orch_address)
        .call()
        .await
        .expect("transcoder");
    assert_eq!(
        t["RewardCut"].as_u64(),
        Some(on_chain.rewardCut.to::<u64>())
    );
    // Unlock, then cancel it: the withdraw round is set, then cleared.
    assert_eq!(
        text(&cli_post(gateway, "/unlock", "").await),
        "unlock success"
    );
    let unlocking = broker
        .getSenderInfo(gateway_address)
        .call()
        .await
        .expect("info");
    assert!(unlocking.sender.withdrawRound > U256::ZERO);
    assert_eq!(
        text(&cli_post(gateway, "/cancelUnlock", "").await),
        "cancelUnlock success"
    );
    let cancelled = broker
        .getSenderInfo(gateway_address)
        .call()
        .await
        .expect("info");
    assert_eq!(cancelled.sender.withdrawRound, U256::ZERO);

    // The orchestrator unbonds part of its stake and rebonds it from the lock.
    let answer = cli_post(orch, "/unbond", "amount=1000").await;
    assert_eq!(answer.status, 200, "{}", text(&answer));
    let unbonded = bonding
        .getDelegator(orch_address)
        .call()
        .await
        .expect("delegator");
    let lock = bonding
        .getDelegatorUnbondingLock(orch_address, U256::ZERO)
        .call()
        .await
        .expect("lock");
    assert_eq!(
        lock.amount,
        U256::from(1000),
        "an unbonding lock of the amount"
    );
    let answer = cli_post(orch, "/rebond", "unbondingLockId=0").await;
    assert_eq!(answer.status, 200, "{}", text(&answer));
    let rebonded = bonding
        .getDelegator(orch_address)
        .call()
        .await
        .expect("delegator");
    // Rebonding also claims any reward the reward service added meanwhile.
    assert!(rebonded.bondedAmount >= unbonded.bondedAmount + U256::from(1000));
    let lock = bonding
        .getDelegatorUnbondingLock(orch_address, U256::ZERO)
        .call()
        .await
        .expect("lock");
    assert_eq!(lock.amount, U256::ZERO, "the lock was used");

    // The lock shows in /unbondingLocks while unused; none is left after the rebond.
    let locks: serde_json::Value =
        serde_json::from_slice(&cli_post(orch, "/unbondingLocks", "").await.body).expect("JSON");
    assert_eq!(locks, serde_json::json!([]), "the rebond used the lock");
    let delegator: serde_json::Value =
        serde_json::from_slice(&cli_post(orch, "/delegatorInfo", "").await.body).expect("JSON");
    assert_eq!(delegator["Status"], "Bonded", "{delegator}");
    assert_eq!(
        delegator["DelegateAddress"]
            .as_str()
            .map(|a| a.parse::<Address>().expect("address")),
        Some(orch_address)
    );
    let params: serde_json::Value =
        serde_json::from_slice(&cli_post(orch, "/protocolParameters", "").await.body)
            .expect("JSON");
    assert_eq!(params["RoundLength"], 100, "{params}");
    assert_eq!(params["Paused"], false);
    let registered: serde_json::Value =
        serde_json::from_slice(&cli_post(gateway, "/registeredOrchestrators", "").await.body)
            .expect("JSON");
    assert_eq!(registered.as_array().map(Vec::len), Some(1), "{registered}");

    // The gateway account gets LPT (minted by the deployer), bonds part of it to the
    // orchestrator through /bond (which approves first), and sends some on with
    // /transferTokens.
    let deployer = &devnet.accounts("deployer")[0];
    let minting = devnet.provider_signing(&DevnetProcess::key_of(deployer));
    let token =
        livepeer_eth::contracts::LivepeerToken::new(devnet.contract("livepeerToken"), minting);
    token
        .mint(gateway_address, U256::from(10_000))
        .send()
        .await
        .expect("mint sent")
        .get_receipt()
        .await
        .expect("minted");
    let answer = cli_post(
        gateway,
        "/bond",
        &format!("amount=6000&toAddr={orch_address}"),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", text(&answer));
    let bonded = bonding
        .getDelegator(gateway_address)
        .call()
        .await
        .expect("delegator");
    assert_eq!(bonded.bondedAmount, U256::from(6000));
    assert_eq!(bonded.delegateAddress, orch_address);
    let answer = cli_post(
        gateway,
        "/transferTokens",
        &format!("to={orch_address}&amount=1500"),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", text(&answer));
    assert_eq!(text(&cli_post(gateway, "/tokenBalance", "").await), "2500");
    assert_eq!(text(&cli_post(orch, "/tokenBalance", "").await), "1500");
    // More than it has: the token's revert comes back as a 500.
    let answer = cli_post(
        gateway,
        "/transferTokens",
        &format!("to={orch_address}&amount=1000000"),
    )
    .await;
    assert_eq!(answer.status, 500, "{}", text(&answer));

    // Gas price bounds change at run time; a maximum below the chain's price stops
    // transactions with go-livepeer's error, "0" lifts it.
    assert_eq!(text(&cli_post(orch, "/maxGasPrice", "").await), "");
    assert_eq!(
        cli_post(orch, "/setMaxGasPrice", "amount=1").await.status,
        200
    );
    assert_eq!(text(&cli_post(orch, "/maxGasPrice", "").await), "1");
    let answer = cli_post(orch, "/unbond", "amount=1").await;
    assert_eq!(answer.status, 500);
    assert!(text(&answer).contains("-maxGasPrice"), "{}", text(&answer));
    assert_eq!(
        cli_post(orch, "/setMaxGasPrice", "amount=0").await.status,
        200
    );
    assert_eq!(text(&cli_post(orch, "/maxGasPrice", "").await), "");
    assert_eq!(
        cli_post(orch, "/setMinGasPrice", "minGasPrice=7")
            .await
            .status,
        200
    );
    assert_eq!(text(&cli_post(orch, "/minGasPrice", "").await), "7");

    // go-livepeer's refusals.
    let answer = cli_post(orch, "/bond", "amount=1").await;
    assert_eq!(answer.status, 400);
    assert_eq!(text(&answer), "missing form param: toAddr\n");
    let answer = cli_post(orch, "/unbond", "amount=lots").await;
    assert_eq!(answer.status, 400);
    assert_eq!(text(&answer), "failed to parse big integer\n");
    let answer = cli_post(
        orch,
        "/activateOrchestrator",
        "blockRewardCut=10&feeShare=5&pricePerUnit=1&pixelsPerUnit=1&serviceURI=https://127.0.0.1:1",
    )
    .await;
    assert_eq!(answer.status, 400);
    assert_eq!(text(&answer), "orchestrator already registered\n");
    // A second reward() in a round reverts on chain; the revert reason comes back.
    let _ = cli_post(orch, "/reward", "").await;
    let answer = cli_post(orch, "/reward", "").await;
    assert_eq!(answer.status, 500);
    assert!(
        text(&answer).starts_with("Error calling reward: "),
        "{}",
        text(&answer)
    );

    // `livepeer cli`, as an operator types it: amounts in ETH, then the status table.
    let port = gateway["cliUrl"]
        .as_str()
        .and_then(|u| u.rsplit(':').next())
        .expect("port")
        .to_string();
    let run_cli = |args: Vec<String>| {
        tokio::task::spawn_blocking(move || {
            crate::livepeer_command()
                .arg("cli")
                .args(args)
                .output()
                .expect("the binary runs")
        })
    };
    let before = broker
        .getSenderInfo(gateway_address)
        .call()
        .await
        .expect("info");
    let out = run_cli(
        [
            "--http",
            &port,
            "deposit",
            "--deposit",
            "0.5ETH",
            "--reserve",
            "0.25 ETH",
        ]
        .map(String::from)
        .to_vec(),
    )
    .await
    .expect("joined");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "added 0.5 ETH of deposit and 0.25 ETH of reserve"
    );
    let after = broker
        .getSenderInfo(gateway_address)
        .call()
        .await
        .expect("info");
    let e18 = U256::from(10u64.pow(18));
    assert_eq!(
        after.sender.deposit,
        before.sender.deposit + e18 / U256::from(2)
    );
    assert_eq!(
        after.reserve.fundsRemaining,
        before.reserve.fundsRemaining + e18 / U256::from(4)
    );
    let out = run_cli(["--http", &port, "status"].map(String::from).to_vec())
        .await
        .expect("joined");
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        table.contains(&gateway_address.to_checksum(None)),
        "{table}"
    );
    assert!(table.contains("LPT balance"), "{table}");
    // A node's refusal comes back with its status and text, and a non-zero exit.
    let out = run_cli(
        ["--http", &port, "bond", "--to", "0x01", "--amount", "1LPT"]
            .map(String::from)
            .to_vec(),
    )
    .await
    .expect("joined");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/bond: 400 invalid toAddr"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // /signMessage: personal_sign of the message by the node's key, raw 65 bytes.
    let answer = cli_post(orch, "/signMessage", "message=hello%20livepeer").await;
    assert_eq!(answer.status, 200);
    let signature = alloy::primitives::Signature::try_from(answer.body.as_ref()).expect("65 bytes");
    assert_eq!(
        signature
            .recover_address_from_msg(b"hello livepeer")
            .expect("recovers"),
        orch_address
    );

    // SigFormat data/typed: EIP-712 typed data (the specification's "Mail" example, whose
    // signing hash the EIP gives), signed over its signing hash.
    let mail = r#"{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],"Person":[{"name":"name","type":"string"},{"name":"wallet","type":"address"}],"Mail":[{"name":"from","type":"Person"},{"name":"to","type":"Person"},{"name":"contents","type":"string"}]},"primaryType":"Mail","domain":{"name":"Ether Mail","version":"1","chainId":1,"verifyingContract":"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},"message":{"from":{"name":"Cow","wallet":"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},"to":{"name":"Bob","wallet":"0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},"contents":"Hello, Bob!"}}"#;
    let typed_request = |message: &str| {
        let url = format!("{}/signMessage", orch["cliUrl"].as_str().expect("cliUrl"));
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("message", message)
            .finish();
        async move {
            request(
                &livepeer_testing::http(),
                Method::POST,
                &url,
                &[
                    ("content-type", "application/x-www-form-urlencoded"),
                    ("SigFormat", "data/typed"),
                ],
                Bytes::from(form),
            )
            .await
        }
    };
    let answer = typed_request(mail).await;
    assert_eq!(answer.status, 200, "{}", text(&answer));
    let signature = alloy::primitives::Signature::try_from(answer.body.as_ref()).expect("65 bytes");
    let eip712_mail_hash: B256 =
        "0xbe609aee343fb3c4b28e1df9e632fca64fcfaede20f02e86244efddf30957bd2"
            .parse()
            .expect("hash");
    assert_eq!(
        signature
            .recover_address_from_prehash(&eip712_mail_hash)
            .expect("recovers"),
        orch_address
    );
    let answer = typed_request("{not typed data").await;
    assert_eq!(answer.status, 400);
    assert!(
        text(&answer).starts_with("could not unmarshal typed data - err="),
        "{}",
        text(&answer)
    );
}

/// Pushes one segment of a new stream `manifest`; its answer's status.
async fn push_new_stream(gateway: &str, manifest: &str) -> hyper::StatusCode {
    let segment = &bikes().await[0];
    push_one(gateway, manifest, 0, segment).await.status
}

/// The CLI API's run-time settings change what users see, with go-livepeer's paths, form
/// values and texts (`server/handlers.go`): `/setMaxSessions` caps the orchestrator's
/// sessions, `/setOrchestratorConfig` its price and (on chain) its reward cut and fee share,
/// `/setBroadcastConfig` the gateway's max price, `/setPriceForBroadcaster` one gateway's
/// price, `/vote` and `/voteOnProposal` the governance contracts' tallies; `livepeer cli
/// --menu` drives the numbered menu through a read and a transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_api_configures_a_running_node_as_go_livepeers_does() {
    let devnet = DevnetProcess::start(1, 100);
    let provider = devnet.provider();
    let gateway = &devnet.accounts("gateway")[0];
    let orch = &devnet.accounts("orchestrator")[0];
    let gateway_address = DevnetProcess::address(gateway);
    let orch_address = DevnetProcess::address(orch);
    let bonding = BondingManager::new(devnet.contract("bondingManager"), provider.clone());
    let url = devnet.gateway_url();

    // The orchestrator's price and commission: the price at once, the rest as a transaction.
    let answer = cli_post(
        orch,
        "/setOrchestratorConfig",
        "pricePerUnit=500&pixelsPerUnit=1&blockRewardCut=20&feeShare=60",
    )
    .await;
    assert_eq!(answer.status, 200, "{}", text(&answer));
    let t = bonding
        .getTranscoder(orch_address)
        .call()
        .await
        .expect("transcoder");
    assert_eq!(t.rewardCut, U256::from(200_000));
    assert_eq!(t.feeShare, U256::from(600_000));
    let info: serde_json::Value =
        serde_json::from_slice(&cli_post(orch, "/orchestratorInfo", "").await.body).expect("JSON");
    assert_eq!(info["PriceInfo"], "500/1", "{info}");
    let answer = cli_post(
        orch,
        "/setOrchestratorConfig",
        "feeShare=5&blockRewardCut=x",
    )
    .await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        text(&answer),
        "Cannot convert block reward cut: strconv.ParseFloat: parsing \"x\": invalid syntax\n"
    );

    // The gateway's max price: above the price, streams run; below it, none finds an
    // orchestrator; a price of the orchestrator's for this gateway alone brings them back.
    let answer = cli_post(
        gateway,
        "/setBroadcastConfig",
        "maxPricePerUnit=1000&pixelsPerUnit=1",
    )
    .await;
    assert_eq!(answer.status, 200, "{}", text(&answer));
    assert_eq!(push_new_stream(&url, "priced-ok").await, 200);
    let answer = cli_post(
        gateway,
        "/setBroadcastConfig",
        "maxPricePerUnit=400&pixelsPerUnit=1",
    )
    .await;
    assert_eq!(answer.status, 200, "{}", text(&answer));
    let config: serde_json::Value =
        serde_json::from_slice(&cli_post(gateway, "/getBroadcastConfig", "").await.body)
            .expect("JSON");
    assert_eq!(config["MaxPrice"], "400/1", "{config}");
    assert_eq!(config["TranscodingOptions"], LADDER);
    assert_ne!(push_new_stream(&url, "priced-out").await, 200);
    let answer = cli_post(
        orch,
        "/setPriceForBroadcaster",
        &format!("pricePerUnit=300&pixelsPerUnit=1&broadcasterEthAddr={gateway_address}"),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", text(&answer));
    assert_eq!(
        text(&answer),
        format!("Price per pixel set to 300 wei for 1 pixels for broadcaster {gateway_address}\n")
    );
    assert_eq!(push_new_stream(&url, "priced-for-me").await, 200);
    let answer = cli_post(gateway, "/setBroadcastConfig", "currency=wei").await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        text(&answer),
        "missing form params (maxPricePerUnit AND pixelsPerUnit) or transcodingOptions\n"
    );
    let answer = cli_post(
        orch,
        "/setPriceForBroadcaster",
        "pricePerUnit=1&pixelsPerUnit=1&broadcasterEthAddr=0x12",
    )
    .await;
    assert_eq!(answer.status, 400);
    assert_eq!(
        text(&answer),
        "broadcasterEthAddr is not a valid eth address, provided 0x12\n"
    );

    // One session at most: the open stream goes on, a new one is refused.
    let answer = cli_post(orch, "/setMaxSessions", "maxSessions=1").await;
    assert_eq!(text(&answer), "Max sessions set to 1\n");
    assert_ne!(push_new_stream(&url, "capped").await, 200);
    let status = node_status(orch).await;
    assert!(
        status["orchestrator"]["sessions"].as_u64() >= Some(1),
        "the earlier streams' sessions stay open: {status}"
    );
    for (form, want) in [
        (
            "maxSessions=x",
            "strconv.Atoi: parsing \"x\": invalid syntax\n",
        ),
        (
            "maxSessions=0",
            "Max Sessions must be 'auto' or greater than zero\n",
        ),
    ] {
        let answer = cli_post(orch, "/setMaxSessions", form).await;
        assert_eq!(
            (answer.status.as_u16(), text(&answer)),
            (400, want.to_string())
        );
    }
    assert_eq!(
        cli_post(orch, "/setMaxSessions", "maxSessions=10")
            .await
            .status,
        200
    );
    assert_eq!(push_new_stream(&url, "uncapped").await, 200);

    // Face value and log level.
    let answer = cli_post(orch, "/setMaxFaceValue", "maxfacevalue=nope").await;
    assert_eq!(
        (answer.status.as_u16(), text(&answer)),
        (400, "maxfacevalue not set to number\n".into())
    );
    let answer = cli_post(orch, "/setMaxFaceValue", "maxfacevalue=5000000000000000").await;
    assert_eq!(text(&answer), "ticket max face value set");
    assert_eq!(
        cli_post(orch, "/setLogLevel", "loglevel=6").await.status,
        200
    );
    assert_eq!(text(&cli_post(orch, "/getLogLevel", "").await), "6");
    let answer = cli_post(orch, "/setLogLevel", "loglevel=loud").await;
    assert_eq!(
        (answer.status.as_u16(), text(&answer)),
        (400, "parameter 'logLevel' not defined\n".into())
    );

    // A LIP-16 poll: the vote is the Poll's Vote event, tallied by stake.
    let block = provider.get_block_number().await.expect("block");
    let deployer = devnet.provider_signing(&DevnetProcess::key_of(&devnet.accounts("deployer")[0]));
    let poll = livepeer_eth::contracts::Poll::deploy(deployer, U256::from(block + 1000))
        .await
        .expect("poll deployed");
    let answer = cli_post(
        orch,
        "/vote",
        &format!("poll={}&choiceID=1", poll.address()),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", text(&answer));
    assert_eq!(answer.body.len(), 32, "the transaction hash");
    let votes = provider
        .get_logs(
            &Filter::new()
                .address(*poll.address())
                .event_signature(livepeer_eth::contracts::Poll::Vote::SIGNATURE_HASH)
                .from_block(block),
        )
        .await
        .expect("logs");
    let vote =
        livepeer_eth::contracts::Poll::Vote::decode_log_data(&votes[0].inner.data).expect("a Vote");
    assert_eq!((vote.voter, vote.choiceID), (orch_address, U256::from(1)));
    for (form, want) in [
        ("poll=nope&choiceID=0", "invalid poll contract address\n"),
        (
            &*format!("poll={}&choiceID=5", poll.address()),
            "invalid choiceID\n",
        ),
    ] {
        let answer = cli_post(orch, "/vote", form).await;
        assert_eq!(
            (answer.status.as_u16(), text(&answer)),
            (500, want.to_string())
        );
    }

    // A treasury proposal: the orchestrator proposes (its stake is over the threshold), the
    // vote opens a round later, and its vote through the CLI API lands in the tally.
    let governor_address: Address = devnet.report["governance"]["livepeerGovernor"]
        .as_str()
        .expect("governor")
        .parse()
        .expect("address");
    let as_orch = devnet.provider_signing(&DevnetProcess::key_of(orch));
    let governor = livepeer_eth::contracts::LivepeerGovernor::new(governor_address, as_orch);
    let description = "fund the CLI API test".to_string();
    let calldata = alloy::primitives::Bytes::new();
    governor
        .propose(
            vec![governor_address],
            vec![U256::ZERO],
            vec![calldata.clone()],
            description.clone(),
        )
        .send()
        .await
        .expect("propose sent")
        .get_receipt()
        .await
        .expect("proposed");
    let id = governor
        .hashProposal(
            vec![governor_address],
            vec![U256::ZERO],
            vec![calldata],
            alloy::primitives::keccak256(description.as_bytes()),
        )
        .call()
        .await
        .expect("id");
    let rounds = RoundsManager::new(devnet.contract("roundsManager"), provider.clone());
    mine_to_next_round(&provider, &rounds).await;
    mine_to_next_round(&provider, &rounds).await;
    let answer = cli_post(
        orch,
        "/voteOnProposal",
        &format!("proposalID={id}&support=1&reason=ship%20it"),
    )
    .await;
    assert_eq!(answer.status, 200, "{}", text(&answer));
    let tally = governor.proposalVotes(id).call().await.expect("tally");
    assert!(
        tally.forVotes > U256::ZERO,
        "the orchestrator's stake votes for"
    );
    assert_eq!(tally.againstVotes, U256::ZERO);
    let answer = cli_post(
        orch,
        "/voteOnProposal",
        &format!("proposalID={id}&support=7"),
    )
    .await;
    assert_eq!(
        (answer.status.as_u16(), text(&answer)),
        (500, "invalid support\n".into())
    );

    // The numbered menu from a piped stdin: node status (a read), then "Set orchestrator
    // config" with a new commission (a transaction), then Exit.
    // (BondingManager.transcoder needs the round the votes moved to to be initialized and,
    // from an active orchestrator, its reward called in it; the devnet's orchestrator does
    // both within a second or two.)
    until(
        "the round is initialized and rewarded",
        Duration::from_secs(60),
        || async {
            let Ok(round) = rounds.currentRound().call().await else {
                return false;
            };
            let initialized = rounds
                .currentRoundInitialized()
                .call()
                .await
                .unwrap_or(false);
            let rewarded = bonding
                .getTranscoder(orch_address)
                .call()
                .await
                .is_ok_and(|t| t.lastRewardRound == round);
            initialized && rewarded
        },
    )
    .await;
    let port = orch["cliUrl"]
        .as_str()
        .and_then(|u| u.rsplit(':').next())
        .expect("port")
        .to_string();
    let out = tokio::task::spawn_blocking(move || {
        let mut child = crate::livepeer_command()
            .args(["cli", "--http", &port, "--menu"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        use std::io::Write;
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(b"1\n14\n\n15\n55\n\n24\n")
            .expect("answers written");
        child.wait_with_output().expect("the menu ends")
    })
    .await
    .expect("joined");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("14. Set orchestrator config"), "{stdout}");
    assert!(stdout.contains(&orch_address.to_checksum(None)), "{stdout}");
    assert!(stdout.contains("orchestrator config set"), "{stdout}");
    let t = bonding
        .getTranscoder(orch_address)
        .call()
        .await
        .expect("transcoder");
    assert_eq!(
        (t.rewardCut, t.feeShare),
        (U256::from(150_000), U256::from(550_000))
    );
}
