//! The remote signer, over an in-memory chain: a client without a key gets its
//! `GetOrchestrator` signature and its live payments from the signer, and a paid orchestrator
//! takes them.

use alloy_primitives::U256;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use livepeer_gateway::client::OrchestratorClient;
use livepeer_pm::PriceInfo;
use livepeer_proto::headers::{PAYMENT_HEADER, SEGMENT_HEADER};
use livepeer_proto::net;
use livepeer_testing::chain::{eth, memory_chain, paid_gateway, paid_orchestrator};
use prost::Message;
use serde_json::{Value, json};

use crate::*;

async fn post_json(url: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let value = resp.json().await.unwrap_or(Value::Null);
    (status, value)
}

#[tokio::test]
async fn a_keyless_client_pays_an_orchestrator_through_the_remote_signer() {
    let chain = memory_chain();
    let ev = U256::from(livepeer_pm::recipient::DEFAULT_TICKET_EV_WEI);
    let paid = paid_orchestrator(&chain, PriceInfo::new(15, 1), ev + U256::from(1));
    let payments = paid.config.clone();
    let orch = Orch::start(move |c| c.payments = Some(payments)).await;
    let (account, signer_payments) = paid_gateway(&chain, eth(1), eth(1));
    let signer = Gateway::start_with(Vec::new(), single(P144), |c| {
        c.payments = Some(signer_payments);
        c.remote_signer = true;
    })
    .await;

    // 1. The signature the client puts in GetOrchestrator: the orchestrator, on chain,
    //    accepts it as the signer's account.
    let (status, signed) = post_json(
        &format!("{}/sign-orchestrator-info", signer.base),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{signed}");
    let address = signed["address"].as_str().expect("address");
    assert_eq!(address, format!("0x{}", hex::encode(account.address())));
    let request = net::OrchestratorRequest {
        address: hex::decode(&address[2..]).expect("hex"),
        sig: hex::decode(&signed["signature"].as_str().expect("signature")[2..]).expect("hex"),
        ..Default::default()
    };
    let info = OrchestratorClient::new()
        .get_orchestrator(&orch.uri, request)
        .await
        .expect("the orchestrator takes the signer's signature");
    assert!(info.ticket_params.is_some() && info.price_info.is_some());

    // 2. A live payment: 60 s of 720p30 on the first call, taken by the orchestrator.
    let body = json!({
        "orchestrator": BASE64.encode(info.encode_to_vec()),
        "type": "lv2v",
        "ManifestID": "live-session-1",
    });
    let url = format!("{}/generate-live-payment", signer.base);
    let (status, first) = post_json(&url, body.clone()).await;
    assert_eq!(status, 200, "{first}");
    let seg = BASE64
        .decode(first["segCreds"].as_str().expect("segCreds"))
        .ok()
        .and_then(|b| net::SegData::decode(&b[..]).ok())
        .expect("segCreds is a base64 SegData");
    assert_eq!(seg.manifest_id, b"live-session-1");
    assert!(!seg.sig.is_empty(), "segment credentials are signed");
    let paid_now = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("client")
        .post(format!("{}/payment", orch.base))
        .header(PAYMENT_HEADER, first["payment"].as_str().expect("payment"))
        .header(
            SEGMENT_HEADER,
            first["segCreds"].as_str().expect("segCreds"),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(
        paid_now.status(),
        200,
        "{}",
        paid_now.text().await.unwrap_or_default()
    );
    let stats = orch.handle.payment_stats().expect("paid orchestrator");
    // 1 658 880 000 units at 15 wei: 24.9 G wei, a little over three ticket EVs (8 G wei).
    assert!(stats.tickets_received >= 3, "{stats:?}");
    assert_eq!(stats.payments_refused, 0, "{stats:?}");

    // 3. Again with the state: the same pm session goes on (the orchestrator takes the next
    //    nonces), billed for the time since the first call.
    let mut again = body.clone();
    again["state"] = first["state"].clone();
    let (status, second) = post_json(&url, again.clone()).await;
    assert_eq!(status, 200, "{second}");
    assert_ne!(second["state"], first["state"]);
    let paid_again = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .build()
        .expect("client")
        .post(format!("{}/payment", orch.base))
        .header(PAYMENT_HEADER, second["payment"].as_str().expect("payment"))
        .header(
            SEGMENT_HEADER,
            second["segCreds"].as_str().expect("segCreds"),
        )
        .send()
        .await
        .expect("send");
    assert_eq!(paid_again.status(), 200);
    let after = orch.handle.payment_stats().expect("paid orchestrator");
    assert!(after.tickets_received > stats.tickets_received, "{after:?}");
    assert_eq!(after.payments_refused, 0, "{after:?}");
    // A state altered by the client is refused.
    let mut forged = again;
    let state = forged["state"]["State"]
        .as_str()
        .expect("state")
        .to_string();
    let mut raw = BASE64.decode(state).expect("base64");
    raw.push(b' ');
    forged["state"]["State"] = Value::String(BASE64.encode(raw));
    let (status, answer) = post_json(&url, forged).await;
    assert_eq!(status, 400, "{answer}");

    // Bad input: 400 in the gateway's error envelope.
    let (status, answer) = post_json(&url, json!({"orchestrator": "not base64"})).await;
    assert_eq!(status, 400);
    assert!(answer["error"]["message"].is_string(), "{answer}");
    let (status, _) = post_json(
        &url,
        json!({"orchestrator": BASE64.encode(info.encode_to_vec())}),
    )
    .await;
    assert_eq!(status, 400, "no type and no inPixels");
    signer.stop().await;
    orch.stop().await;
}

/// An on-chain orchestrator serving `live-video-to-video/noop` at `price` wei per unit.
async fn priced_noop_orchestrator(
    chain: &std::sync::Arc<livepeer_pm::chain::MemoryChain>,
    price: i64,
) -> (Orch, std::sync::Arc<livepeer_ai::worker::AiWorker>) {
    let worker = livepeer_testing::orchestrator::ai_worker("live-video-to-video:noop:true").await;
    let ev = U256::from(livepeer_pm::recipient::DEFAULT_TICKET_EV_WEI);
    let payments = paid_orchestrator(chain, PriceInfo::new(1, 1), ev + U256::from(1)).config;
    let ai = livepeer_orchestrator::ai::AiConfig {
        worker: worker.clone(),
        prices: vec![livepeer_orchestrator::ai::AiPrice {
            pipeline: livepeer_ai::Pipeline::LiveVideoToVideo,
            model_id: "noop".into(),
            gateway: None,
            price: PriceInfo::new(price, 1),
        }],
    };
    let orch = Orch::start(move |c| {
        c.transcoder = None;
        c.payments = Some(payments);
        c.ai = Some(ai);
    })
    .await;
    (orch, worker)
}

async fn discover(signer: &Gateway, query: &str) -> (u16, Value) {
    let resp = reqwest::get(format!("{}/discover-orchestrators{query}", signer.base))
        .await
        .expect("send");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_remote_signer_lists_the_orchestrators_it_discovers_by_priced_capability() {
    let chain = memory_chain();
    let (cheap, cheap_worker) = priced_noop_orchestrator(&chain, 10).await;
    let (dear, dear_worker) = priced_noop_orchestrator(&chain, 1000).await;
    let (_, signer_payments) = paid_gateway(&chain, eth(1), eth(1));
    let signer = Gateway::start_with(
        vec![cheap.uri.clone(), dear.uri.clone()],
        single(P144),
        |c| {
            c.payments = Some(signer_payments);
            c.remote_signer = true;
            c.remote_discovery = true;
        },
    )
    .await;
    // -maxPricePerCapability: noop at most 100 wei per unit; the dear one is not listed.
    signer.handle.set_capability_max_price(
        "live-video-to-video",
        "noop",
        livepeer_pm::PricePerPixel::new(100, 1).expect("price"),
    );

    let (status, all) = discover(&signer, "").await;
    assert_eq!(status, 200, "{all}");
    let cheap_url = cheap.uri.to_string().trim_end_matches('/').to_string();
    assert_eq!(
        all,
        json!([{"address": cheap_url, "score": 1.0, "capabilities": ["live-video-to-video/noop"]}]),
        "the cheap orchestrator only, under its service URL"
    );
    let (status, wanted) = discover(
        &signer,
        "?caps=text-to-image/some-model&caps=live-video-to-video/noop",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(wanted, all, "repeated caps select any of them");
    let (status, none) = discover(&signer, "?caps=live-video-to-video/other").await;
    assert_eq!(status, 200);
    assert_eq!(none, json!([]), "nobody serves that model");

    // The snapshot is kept: the orchestrator's going does not change the answer.
    cheap.stop().await;
    let (status, kept) = discover(&signer, "").await;
    assert_eq!((status, kept), (200, all));
    signer.stop().await;
    dear.stop().await;
    cheap_worker.shutdown().await;
    dear_worker.shutdown().await;
}

#[tokio::test]
async fn remote_discovery_answers_503_while_no_orchestrator_answers() {
    let chain = memory_chain();
    let (_, signer_payments) = paid_gateway(&chain, eth(1), eth(1));
    // An address where nothing listens.
    let nobody: hyper::Uri = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("https://{}", l.local_addr().expect("addr"))
            .parse()
            .expect("uri")
    };
    let signer = Gateway::start_with(vec![nobody], single(P144), |c| {
        c.payments = Some(signer_payments);
        c.remote_signer = true;
        c.remote_discovery = true;
        c.discovery_timeout = Duration::from_millis(100);
    })
    .await;
    let (status, body) = discover(&signer, "").await;
    assert_eq!(status, 503, "{body}");
    // go-livepeer's JSON error envelope, which masks 503 messages.
    assert_eq!(body["error"]["message"], "Service Unavailable Error");
    signer.stop().await;

    // Without -remoteDiscovery there is no such route.
    let (_, signer_payments) = paid_gateway(&chain, eth(1), eth(1));
    let plain = Gateway::start_with(Vec::new(), single(P144), |c| {
        c.payments = Some(signer_payments);
        c.remote_signer = true;
    })
    .await;
    let (status, _) = discover(&plain, "").await;
    assert_eq!(status, 404);
    plain.stop().await;
}
