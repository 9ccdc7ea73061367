//! Live-video-to-video through the orchestrator and its built-in `noop` runner, with this
//! test as the gateway: the start request, the real clip published segment by segment over
//! trickle to the orchestrator, the processed segments read back from it; and on chain, a
//! session billed in 720p-pixel-seconds and cut off when its payment runs out.

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::U256;
use bytes::Bytes;
use livepeer_ai::worker::AiWorker;
use livepeer_media::testing::{BIKES_MP4, media_file};
use livepeer_orchestrator::ai::AiConfig;
use livepeer_trickle::{
    PublishStart, PublisherConfig, ReadSeq, SubscriberConfig, TricklePublisher, TrickleSubscriber,
};
use serde_json::{Value, json};

use livepeer_testing::orchestrator::Orch;
use livepeer_testing::{count_video, eventually, ffmpeg};

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("client")
}

async fn live_worker() -> Arc<AiWorker> {
    livepeer_testing::orchestrator::ai_worker("live-video-to-video:noop:true").await
}

/// The bikes clip in MPEG-TS segments (cut on its keyframes, about every 2 s) with their
/// durations, and its frame count.
async fn clip_segments() -> (Vec<(Bytes, Duration)>, u64) {
    let dir = tempfile::tempdir().expect("tmp");
    let infos = ffmpeg()
        .segment_file(&media_file(BIKES_MP4), dir.path(), Duration::from_secs(1))
        .await
        .expect("segments");
    let mut segments = Vec::new();
    for info in infos {
        let data = Bytes::from(tokio::fs::read(&info.path).await.expect("read"));
        segments.push((data, info.duration));
    }
    let whole = tokio::fs::read(media_file(BIKES_MP4)).await.expect("clip");
    let (_, _, frames) = count_video(&whole).await;
    (segments, frames)
}

async fn start(orch: &Orch, headers: &[(&str, String)], body: Value) -> (u16, Value) {
    let mut request = http()
        .post(format!("{}/live-video-to-video", orch.base))
        .header("Content-Type", "application/json")
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let answer = request.send().await.expect("send");
    let status = answer.status().as_u16();
    let text = answer.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Publishes `segments` to `url` in real time (each after the previous one's duration), then
/// closes the channel.
async fn publish(url: String, segments: Vec<(Bytes, Duration)>) {
    let mut publisher = TricklePublisher::connect(
        http(),
        &url,
        PublisherConfig {
            content_type: "video/MP2T".into(),
            start: PublishStart::Seq(0),
            ..Default::default()
        },
    )
    .await
    .expect("publisher");
    for (segment, duration) in segments {
        let sent = Instant::now();
        if publisher.publish(segment).await.is_err() {
            return;
        }
        tokio::time::sleep(duration.saturating_sub(sent.elapsed())).await;
    }
    let _ = publisher.close().await;
}

/// Reads `url` from its first segment until the channel ends; the bytes of every segment.
async fn read_all(url: String) -> Vec<Bytes> {
    let mut subscriber = TrickleSubscriber::new(
        http(),
        &url,
        SubscriberConfig {
            start: ReadSeq::Seq(0),
            ..Default::default()
        },
    );
    let mut out = Vec::new();
    loop {
        match subscriber.next_segment().await {
            Ok(Some(segment)) => out.push(segment.bytes().await.expect("an output segment")),
            Ok(None) => break,
            Err(e) if e.is_end_of_stream() => break,
            Err(e) => panic!("reading the output: {e}"),
        }
    }
    out
}

#[tokio::test]
async fn the_clip_goes_through_the_noop_pipeline_and_back_frame_for_frame() {
    let (orch, worker) =
        livepeer_testing::orchestrator::ai_orchestrator("live-video-to-video:noop:true").await;
    let creds = livepeer_testing::orchestrator::ai_seg_creds(&orch, "35_noop").await;
    let (status, answer) = start(
        &orch,
        &[
            ("Livepeer-Segment", creds),
            ("Livepeer-Payment", String::new()),
        ],
        json!({"model_id": "noop", "params": {}, "gateway_request_id": "req-1", "stream_id": "s1"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let mid = answer["manifest_id"]
        .as_str()
        .expect("manifest_id")
        .to_string();
    let base = format!("{}/ai/trickle/{mid}", orch.base);
    assert_eq!(answer["publish_url"], base);
    assert_eq!(answer["subscribe_url"], format!("{base}-out"));
    assert_eq!(answer["control_url"], format!("{base}-control"));
    assert_eq!(answer["events_url"], format!("{base}-events"));
    assert_eq!(orch.handle.live_sessions(), 1);
    // The runner's only place is taken: a second start gets 503.
    let (status, _) = start(&orch, &[], json!({"model_id": "noop"})).await;
    assert_eq!(status, 503);

    let (segments, source_frames) = clip_segments().await;
    let reader = tokio::spawn(read_all(format!("{base}-out")));
    publish(base.clone(), segments).await;
    let output = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .expect("the output ends after the input")
        .expect("reader");
    assert!(!output.is_empty(), "no output segments");
    let joined: Vec<u8> = output.iter().flat_map(|b| b.iter().copied()).collect();
    let (_, _, frames) = count_video(&joined).await;
    let diff = (frames as f64 - source_frames as f64).abs() / source_frames as f64;
    assert!(
        diff <= 0.02,
        "{frames} frames out of {source_frames} in ({:.1} %)",
        diff * 100.0
    );
    // The session ended with its input: the channels are gone and the place is free.
    let ended = eventually(Duration::from_secs(10), || async {
        orch.handle.live_sessions() == 0 && worker.models()[0].in_use == 0
    })
    .await;
    assert!(ended, "the session did not end with its input");
    let reports = orch.handle.live_session_reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].manifest_id, mid);
    assert_eq!(reports[0].stream_id, "s1");
    assert_eq!(reports[0].request_id, "req-1");
    assert_eq!(reports[0].ended.as_deref(), Some("the input ended"));
    assert_eq!(
        (reports[0].sender, reports[0].units_debited),
        (None, 0),
        "off-chain: nothing billed"
    );
    orch.stop().await;
    worker.shutdown().await;
}

#[tokio::test]
async fn a_paid_session_is_billed_per_second_and_cut_off_when_its_payment_runs_out() {
    use livepeer_pm::PriceInfo;
    use livepeer_testing::chain::{eth, memory_chain, paid_gateway, paid_orchestrator};

    let chain = memory_chain();
    let ev = U256::from(livepeer_pm::recipient::DEFAULT_TICKET_EV_WEI);
    // 100 wei per unit: 2.76 G wei per second of 720p30. The balance must cover a ticket EV
    // (8 G wei), so three tickets of credit last about six seconds.
    let price = PriceInfo::new(100, 1);
    let paid = paid_orchestrator(&chain, price, ev + U256::from(1));
    let worker = live_worker().await;
    let ai = AiConfig {
        worker: worker.clone(),
        prices: vec![livepeer_orchestrator::ai::AiPrice {
            pipeline: livepeer_ai::Pipeline::LiveVideoToVideo,
            model_id: "noop".into(),
            gateway: None,
            price,
        }],
    };
    let payments = paid.config.clone();
    let orch = Orch::start(move |c| {
        c.transcoder = None;
        c.ai = Some(ai);
        c.payments = Some(payments);
        c.live_payment_interval = Duration::from_secs(1);
    })
    .await;
    // The gateway pays once, three tickets (24 G wei of credit), then nothing more.
    let (gw_signer, gw_payments) = paid_gateway(&chain, eth(1), eth(1));
    let (creds, payment) =
        livepeer_testing::orchestrator::paid_ai_request(&orch, &gw_payments, "35_noop", 3).await;
    let (status, answer) = start(
        &orch,
        &[("Livepeer-Segment", creds), ("Livepeer-Payment", payment)],
        json!({"model_id": "noop"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let mid = answer["manifest_id"]
        .as_str()
        .expect("manifest_id")
        .to_string();
    // The payer can refresh its payment parameters: fresh tickets at the session's price.
    let refresh = |body: Value| {
        let url = format!("{}/refresh-payment", orch.base);
        async move {
            let resp = http().post(url).json(&body).send().await.expect("send");
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or_default())
        }
    };
    let gateway = gw_signer.address().to_checksum(None);
    let (status, refreshed) = refresh(json!({"sender": gateway, "manifest_id": mid})).await;
    assert_eq!(status, 200, "{refreshed}");
    assert_eq!(refreshed["manifest_id"], mid);
    assert_eq!(refreshed["orchestrator"], orch.base);
    assert_eq!(refreshed["payment_url"], format!("{}/payment", orch.base));
    use base64::Engine as _;
    use prost::Message as _;
    let info = livepeer_proto::net::OrchestratorInfo::decode(
        &base64::engine::general_purpose::STANDARD
            .decode(
                refreshed["payment_params"]
                    .as_str()
                    .expect("payment_params"),
            )
            .expect("base64")[..],
    )
    .expect("an OrchestratorInfo");
    let fixed = info.price_info.expect("a price");
    assert_eq!((fixed.price_per_unit, fixed.pixels_per_unit), (100, 1));
    assert!(info.ticket_params.is_some_and(|t| !t.face_value.is_empty()));
    assert_eq!(info.auth_token.expect("a token").session_id, mid);
    let (status, _) = refresh(json!({"sender": gateway, "manifest_id": "0123456789abcdef"})).await;
    assert_eq!(
        status, 409,
        "a session no ticket paid for has no fixed price"
    );
    let (status, _) = refresh(json!({"sender": "0x12", "manifest_id": mid})).await;
    assert_eq!(status, 400);
    let (status, _) = refresh(json!({"sender": gateway})).await;
    assert_eq!(status, 400);
    let base = format!("{}/ai/trickle/{mid}", orch.base);
    let started = Instant::now();
    let (segments, _) = clip_segments().await;
    // Input keeps coming (the clip, looped), but no more payments: the session is cut off.
    let looped: Vec<(Bytes, Duration)> = segments.iter().cycle().take(20).cloned().collect();
    let publisher = tokio::spawn(publish(base.clone(), looped));
    let cut = eventually(Duration::from_secs(30), || async {
        orch.handle.live_sessions() == 0
    })
    .await;
    let lasted = started.elapsed();
    assert!(cut, "the unpaid session was never cut off");
    publisher.abort();
    let stats = orch.handle.payment_stats().expect("paid");
    // Billed in 720p-pixel-seconds at the price: the fees are whole seconds' worth of
    // 27 648 000 units at 100 wei, within the session's lifetime.
    let per_second = U256::from(27_648_000u64 * 100);
    let billed_seconds = stats.fees_wei / per_second;
    assert!(
        billed_seconds >= U256::from(4) && billed_seconds <= U256::from(lasted.as_secs() + 1),
        "{} wei billed ({billed_seconds} s) over {lasted:?}",
        stats.fees_wei
    );
    // The status report says why it ended and what it was billed, to the wei.
    let reports = orch.handle.live_session_reports();
    assert_eq!(reports.len(), 1, "{reports:?}");
    let report = &reports[0];
    assert_eq!(report.manifest_id, mid);
    assert_eq!(report.ended.as_deref(), Some("insufficient balance"));
    assert_eq!(report.sender, Some(gw_signer.address()));
    assert_eq!(report.fees_wei, stats.fees_wei);
    assert_eq!(
        report.fees_wei,
        U256::from(report.units_debited) * U256::from(100)
    );
    // Never billed for more time than it ran.
    assert!(
        report.units_debited as f64 / 27_648_000.0 <= report.seconds,
        "{report:?}"
    );
    orch.stop().await;
    worker.shutdown().await;
}
