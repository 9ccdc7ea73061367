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
