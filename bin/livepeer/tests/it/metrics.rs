//! `-monitor` on the paid network: after a real push through a devnet gateway and
//! orchestrator, both nodes' `/metrics` parse as Prometheus text, under go-livepeer's names
//! and labels, and their segment and ticket counters equal what was pushed and paid (the
//! nodes' own payment figures from `/status`).

use std::collections::HashMap;

use bytes::Bytes;
use hyper::Method;
use livepeer_testing::request;

use crate::network::{DevnetProcess, LADDER, node_status};

/// A node's `/metrics`: the answer's content type and the parsed samples.
pub(crate) async fn scrape(account: &serde_json::Value) -> (String, prometheus_parse::Scrape) {
    let url = format!("{}/metrics", account["cliUrl"].as_str().expect("cliUrl"));
    let answer = request(
        &livepeer_testing::http(),
        Method::GET,
        &url,
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(answer.status, hyper::StatusCode::OK, "GET {url}");
    let content_type = answer
        .headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = String::from_utf8(answer.body.to_vec()).expect("UTF-8 metrics");
    let parsed = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .expect("Prometheus text format");
    (content_type, parsed)
}

/// The sum of `name`'s samples (all label sets), and the `node_type` they carry; `None` when
/// the node exports no such sample.
pub(crate) fn total(scrape: &prometheus_parse::Scrape, name: &str) -> Option<(f64, Vec<String>)> {
    let samples: Vec<_> = scrape.samples.iter().filter(|s| s.metric == name).collect();
    if samples.is_empty() {
        return None;
    }
    let mut sum = 0.0;
    let mut types = Vec::new();
    for s in samples {
        sum += match s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => panic!("{name} is not a counter or gauge"),
        };
        types.push(s.labels.get("node_type").unwrap_or_default().to_string());
    }
    Some((sum, types))
}

fn count(scrape: &prometheus_parse::Scrape, name: &str) -> u64 {
    total(scrape, name).map_or(0, |(v, _)| v as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_the_segments_pushed_and_the_tickets_paid() {
    let devnet = DevnetProcess::start_with(&[
        "--orchestrators",
        "1",
        "--round-length",
        "200",
        "--transcodingOptions",
        LADDER,
        "--x264Preset",
        "ultrafast",
        "--monitor",
    ]);
    let gateway = &devnet.accounts("gateway")[0];
    let orchestrator = &devnet.accounts("orchestrator")[0];

    // Before any work: the version gauge and go's initial zeros.
    let (content_type, before) = scrape(orchestrator).await;
    assert_eq!(content_type, "text/plain; version=0.0.4");
    let (_, types) = total(&before, "livepeer_versions").expect("livepeer_versions");
    assert_eq!(types, ["orch"]);
    assert_eq!(count(&before, "livepeer_winning_tickets_recv"), 0);
    assert!(total(&before, "livepeer_tickets_recv").is_none());

    let data_dir = orchestrator["dataDir"]
        .as_str()
        .expect("dataDir")
        .to_string();
    let segments =
        crate::network::push_until_a_winner(&devnet.gateway_url(), "monitored", &data_dir, true)
            .await as u64;
    assert!(segments >= 4);

    let gw_payments = node_status(gateway).await["gateway"]["payments"].clone();
    let orch_payments = node_status(orchestrator).await["orchestrator"]["payments"].clone();
    let tickets_sent = gw_payments["ticketsSent"].as_u64().expect("ticketsSent");
    let tickets_received = orch_payments["ticketsReceived"]
        .as_u64()
        .expect("ticketsReceived");
    let winners = orch_payments["winners"].as_u64().expect("winners");
    assert!(tickets_sent > 0, "the push was paid for");

    let (_, gw) = scrape(gateway).await;
    let (_, types) = total(&gw, "livepeer_segment_source_emerged_total").expect("emerged");
    assert!(types.iter().all(|t| t == "bctr"), "{types:?}");
    for name in [
        "livepeer_segment_source_emerged_total",
        "livepeer_segment_source_emerged_unprocessed_total",
        "livepeer_segment_source_uploaded_total",
        "livepeer_segment_transcoded_total",
        "livepeer_segment_transcoded_downloaded_total",
        "livepeer_segment_transcoded_all_appeared_total",
        "livepeer_upload_time_seconds_count",
        "livepeer_download_time_seconds_count",
        "livepeer_transcode_overall_latency_seconds_count",
    ] {
        assert_eq!(count(&gw, name), segments, "gateway {name}");
    }
    assert_eq!(count(&gw, "livepeer_segment_transcode_failed_total"), 0);
    assert_eq!(count(&gw, "livepeer_tickets_sent"), tickets_sent);
    let ev_sent_wei: alloy::primitives::U256 = gw_payments["evSentWei"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("evSentWei");
    let ev_sent_wei = f64::from(ev_sent_wei);
    let (value_sent_gwei, _) = total(&gw, "livepeer_ticket_value_sent").expect("value sent");
    assert!(
        (value_sent_gwei - ev_sent_wei / 1e9).abs() <= 1e-6 * value_sent_gwei.max(1.0),
        "{value_sent_gwei} gwei vs {ev_sent_wei} wei"
    );
    assert_eq!(
        total(&gw, "livepeer_success_rate").map(|(v, _)| v),
        Some(1.0)
    );
    // The gateway's TicketBroker account, in gwei, read from the chain watcher.
    let (deposit_gwei, _) = total(&gw, "livepeer_gateway_deposit").expect("deposit");
    assert!(deposit_gwei > 0.0);

    let (_, orch) = scrape(orchestrator).await;
    assert_eq!(count(&orch, "livepeer_tickets_recv"), tickets_received);
    assert_eq!(tickets_received, tickets_sent);
    assert_eq!(count(&orch, "livepeer_winning_tickets_recv"), winners);
    for name in [
        "livepeer_segment_source_emerged_unprocessed_total",
        "livepeer_segment_transcoded_downloaded_total",
        "livepeer_segment_transcoded_total",
        "livepeer_transcode_time_seconds_count",
    ] {
        assert_eq!(count(&orch, name), segments, "orchestrator {name}");
    }
    assert_eq!(count(&orch, "livepeer_payment_recv_errors"), 0);
    assert!(total(&orch, "livepeer_mil_pixels_processed").is_some_and(|(v, _)| v > 0.0));
    let (price, _) = total(&orch, "livepeer_transcoding_price").expect("price offered");
    assert!(price > 0.0);
    let labels: HashMap<_, _> = orch
        .samples
        .iter()
        .find(|s| s.metric == "livepeer_tickets_recv")
        .map(|s| {
            ["node_id", "node_type", "sender", "manifest_id"]
                .into_iter()
                .map(|k| (k, s.labels.get(k).map(str::to_string)))
                .collect()
        })
        .expect("tickets_recv");
    // Without -metricsPerStream: go's base labels only.
    assert_eq!(labels["node_type"].as_deref(), Some("orch"));
    assert!(
        labels["node_id"]
            .as_deref()
            .is_some_and(|id| !id.is_empty())
    );
    assert_eq!(labels["sender"], None);
    assert_eq!(labels["manifest_id"], None);
    // The gateway's max float and the face value offered to it, as the recipient saw them.
    let (face_gwei, _) = total(&orch, "livepeer_gateway_ticket_face_value").expect("face value");
    let (float_gwei, _) = total(&orch, "livepeer_gateway_max_float").expect("max float");
    assert!(
        face_gwei > 0.0 && float_gwei >= face_gwei,
        "{face_gwei} / {float_gwei}"
    );

    // Once the winners' parameters expire they are redeemed: value_redeemed is their face
    // values, as the TicketBroker's events give them.
    assert!(winners > 0, "devnet tickets win with probability >= 0.8");
    let provider = devnet.provider();
    crate::network::mine(&provider, 41).await;
    crate::network::until(
        "every winner is redeemed",
        std::time::Duration::from_secs(60),
        || async {
            let all = crate::network::stored_winners(&data_dir);
            !all.is_empty() && all.iter().all(|s| s == "redeemed")
        },
    )
    .await;
    let redeemed = crate::network::redemptions(&provider, devnet.contract("ticketBroker")).await;
    let face_values: alloy::primitives::U256 = redeemed.iter().map(|r| r.1).sum();
    let (_, orch) = scrape(orchestrator).await;
    let (redeemed_gwei, _) = total(&orch, "livepeer_value_redeemed").expect("value redeemed");
    let want = f64::from(face_values) / 1e9;
    assert!(
        (redeemed_gwei - want).abs() <= 1e-6 * want,
        "{redeemed_gwei} gwei redeemed vs {want} gwei in WinningTicketRedeemed events"
    );
}

/// An off-chain gateway process with its CLI API on a free port; SIGKILLed on drop.
struct OffchainGateway {
    child: std::process::Child,
    cli_url: String,
    _dir: tempfile::TempDir,
}

impl OffchainGateway {
    fn start(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let http = livepeer_node::network::free_port().expect("port");
        let cli = livepeer_node::network::free_port().expect("port");
        let child = crate::livepeer_command()
            .args(["-gateway", "-orchAddr", "127.0.0.1:1", "-httpAddr"])
            .arg(format!("127.0.0.1:{http}"))
            .arg("-cliAddr")
            .arg(format!("127.0.0.1:{cli}"))
            .arg("-dataDir")
            .arg(dir.path())
            .args(extra)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the gateway starts");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", cli)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the CLI API did not come up"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Self {
            child,
            cli_url: format!("http://127.0.0.1:{cli}"),
            _dir: dir,
        }
    }
}

impl Drop for OffchainGateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_served_only_with_monitor() {
    let plain = OffchainGateway::start(&[]);
    let answer = request(
        &livepeer_testing::http(),
        Method::GET,
        &format!("{}/metrics", plain.cli_url),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(answer.status, hyper::StatusCode::NOT_FOUND);

    let monitored = OffchainGateway::start(&["-monitor", "-metricsPerStream"]);
    let account = serde_json::json!({ "cliUrl": monitored.cli_url });
    let (content_type, scraped) = scrape(&account).await;
    assert_eq!(content_type, "text/plain; version=0.0.4");
    let (_, types) = total(&scraped, "livepeer_versions").expect("livepeer_versions");
    assert_eq!(types, ["bctr"]);
    // go's -maxSessions default, recorded at start.
    assert_eq!(count(&scraped, "livepeer_max_sessions_total"), 10);
}
