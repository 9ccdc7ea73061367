//! Real-time AI paid on chain: two gateway processes broadcast over RTMP at the same time to
//! one devnet orchestrator's `noop` live pipeline, one paying every 5 s, the other paying the
//! start request's 60 s and then nothing (`-livePaymentInterval 1h`). The orchestrator bills
//! both in 720p-pixel-seconds at its price and cuts the one that stopped paying off when its
//! credit runs out, while the other goes on.

use std::process::Stdio;
use std::time::{Duration, Instant};

use alloy::primitives::U256;
use serde_json::{Value, json};

use crate::network::{DevnetProcess, DirectGateway, node_status, set_flag};

/// The orchestrator's live price, wei per unit (a 720p30 second is 27 648 000 units:
/// 829 440 000 000 000 wei, about a fifth of a devnet ticket's EV).
const PRICE: u64 = 30_000_000;

/// How long a broadcast may run at most: past the unpaid one's 60 s of credit.
const BROADCAST_SECONDS: u64 = 110;

/// `ffmpeg -re` broadcasting the bikes clip, looped and encoded with a keyframe a second,
/// to `rtmp://<rtmp>/live/<name>?pipeline=noop`; killed on drop.
fn broadcast(rtmp: &str, name: &str) -> tokio::process::Child {
    let ffmpeg = livepeer_media::Ffmpeg::locate()
        .unwrap_or_else(|e| panic!("{e} (run `make setup`, which installs ffmpeg)"));
    tokio::process::Command::new(ffmpeg.ffmpeg_path())
        .args(["-hide_banner", "-nostdin", "-loglevel", "error", "-re"])
        .args(["-stream_loop", "-1", "-i"])
        .arg(livepeer_media::testing::media_file(
            livepeer_media::testing::BIKES_MP4,
        ))
        .args(["-t", &BROADCAST_SECONDS.to_string(), "-an"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
        ])
        .args(["-g", "25", "-f", "flv"])
        .arg(format!("rtmp://{rtmp}/live/{name}?pipeline=noop"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg starts")
}

/// The orchestrator's reports of the sessions of stream `name`, in the order of its status.
async fn sessions_of(orchestrator: &Value, name: &str) -> Vec<Value> {
    node_status(orchestrator).await["orchestrator"]["liveSessions"]
        .as_array()
        .expect("liveSessions")
        .iter()
        .filter(|s| s["streamId"] == name)
        .cloned()
        .collect()
}

fn wei(v: &Value) -> i128 {
    let text = v.as_str().unwrap_or_else(|| panic!("not wei: {v}"));
    if let Some(negative) = text.strip_prefix('-') {
        return -wei(&json!(negative));
    }
    let wei: U256 = text.parse().unwrap_or_else(|_| panic!("not wei: {v}"));
    i128::try_from(wei).expect("fits")
}

/// Checks the 720p-pixel-second rule on a session report: the fees are exactly the units
/// debited times the price, and the units are 27 648 000 for each second it has run (less
/// the part of a payment interval, 5 s, not yet debited, and a 2 s segment).
fn assert_billed_by_the_second(report: &Value) {
    let units = report["unitsDebited"].as_u64().expect("unitsDebited");
    assert_eq!(
        wei(&report["feesWei"]),
        i128::from(units) * i128::from(PRICE),
        "fees = units × price: {report}"
    );
    let billed = units as f64 / livepeer_gateway::live::LIVE_UNITS_PER_SECOND as f64;
    let seconds = report["seconds"].as_f64().expect("seconds");
    assert!(
        billed <= seconds + 0.1 && billed >= seconds - 8.0,
        "{billed:.2} s billed over {seconds:.2} s: {report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_devnet_a_live_session_is_billed_per_second_and_one_that_stops_paying_is_cut_off() {
    let devnet = DevnetProcess::start_with_ai_models(
        &json!([{"pipeline": "live-video-to-video", "model_id": "noop", "warm": true,
                 "capacity": 4, "price_per_unit": PRICE, "pixels_per_unit": 1}]),
        &["--round-length", "500"],
    );
    let orchestrator = devnet.accounts("orchestrator")[0].clone();
    let gateway = |pays: bool| {
        let port = livepeer_node::network::free_port().expect("port");
        let rtmp = format!("127.0.0.1:{port}");
        let gw = DirectGateway::start_as(&devnet, |args| {
            set_flag(args, "-rtmpAddr", &rtmp);
            if !pays {
                set_flag(args, "-livePaymentInterval", "1h");
            }
        });
        // The RTMP listener comes up with the HTTP one; wait for it all the same.
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(&rtmp).is_err() {
            assert!(Instant::now() < deadline, "no RTMP listener at {rtmp}");
            std::thread::sleep(Duration::from_millis(100));
        }
        (gw, rtmp)
    };
    let (paying, paying_rtmp) = gateway(true);
    let (unpaying, unpaying_rtmp) = gateway(false);
    let before = node_status(&orchestrator).await["orchestrator"]["payments"].clone();
    let mut paid_broadcast = broadcast(&paying_rtmp, "paid");
    let _unpaid_broadcast = broadcast(&unpaying_rtmp, "unpaid");

    // The unpaid session runs on its 60 s of credit, then the orchestrator ends it.
    let deadline = Instant::now() + Duration::from_secs(100);
    let cut = loop {
        let unpaid = sessions_of(&orchestrator, "unpaid").await;
        if let Some(ended) = unpaid.iter().find(|s| !s["ended"].is_null()) {
            break ended.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the unpaid session was never cut off: {unpaid:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(
        cut["ended"],
        "insufficient balance",
        "{cut}\n{}",
        unpaying.log()
    );
    assert_billed_by_the_second(&cut);
    let lasted = cut["seconds"].as_f64().expect("seconds");
    assert!(
        (45.0..=75.0).contains(&lasted),
        "cut off after {lasted:.1} s, not when 60 s of credit ran out: {cut}"
    );
    // It was paid the start request's 60 s of 720p30 (in whole tickets) and nothing more:
    // the credit is the fees plus what is left, and what is left no longer covers a ticket.
    let ev = i128::from(livepeer_node::network::DEVNET_TICKET_EV_WEI);
    let initial = i128::from(livepeer_gateway::live::INIT_UNITS_TO_PAY) * i128::from(PRICE);
    let left = wei(&cut["balanceWei"]);
    let credit = wei(&cut["feesWei"]) + left;
    assert!(left < ev, "cut off with a ticket's worth left: {cut}");
    assert!(
        credit >= initial && credit < initial + ev + 1,
        "credited {credit} wei for a start paying {initial}: {cut}"
    );
    // Its gateway saw the orchestrator drop the session.
    let status: Value = reqwest::get(format!(
        "{}/live/video-to-video/unpaid/status",
        unpaying.url
    ))
    .await
    .expect("status")
    .json()
    .await
    .expect("JSON");
    assert!(
        !status["gateway_status"]["error"].is_null(),
        "the gateway does not know its session was cut off: {status}"
    );

    // The paying session goes on well past its first 60 s, billed the same way and topped up.
    let paid = loop {
        let sessions = sessions_of(&orchestrator, "paid").await;
        assert_eq!(
            sessions.len(),
            1,
            "one paid session, never cut: {sessions:?}"
        );
        let paid = sessions[0].clone();
        assert!(paid["ended"].is_null(), "the paying session ended: {paid}");
        if paid["seconds"].as_f64().expect("seconds") > lasted + 10.0 {
            break paid;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_billed_by_the_second(&paid);
    let credit = wei(&paid["feesWei"]) + wei(&paid["balanceWei"]);
    assert!(
        credit > initial + ev,
        "no top-ups after the start's {initial} wei: {paid}"
    );
    assert!(wei(&paid["balanceWei"]) >= ev, "{paid}");
    let after = node_status(&orchestrator).await["orchestrator"]["payments"].clone();
    assert!(
        after["ticketsReceived"].as_u64() > before["ticketsReceived"].as_u64(),
        "{before} → {after}"
    );

    // The broadcast's end ends the paying session at the orchestrator.
    paid_broadcast.kill().await.expect("stop the broadcast");
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        let sessions = sessions_of(&orchestrator, "paid").await;
        if let Some(ended) = sessions[0]["ended"].as_str() {
            assert_eq!(ended, "the input ended", "{sessions:?}");
            break;
        }
        assert!(Instant::now() < deadline, "still running: {sessions:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(paying);
}
