//! Being paid: `GetOrchestrator` with the gateway's signature, ticket parameters and price in
//! `OrchestratorInfo`, `/segment` and `/payment` with `Livepeer-Payment`, and the money-safety
//! refusals (wire-and-network.md §3.3; pm.md §6.3, §7.1). Real tickets, signatures and SQLite;
//! the chain is `MemoryChain`.

use std::sync::Arc;

use alloy_primitives::{Address, U256};
use bytes::Bytes;
use hyper::StatusCode;
use livepeer_gateway::client::OrchestratorClient;
use livepeer_gateway::dispatch::job_capabilities;
use livepeer_pm::payment::{encode_payment_header, price_from_net, ticket_params_from_net};
use livepeer_pm::{
    LocalSigner, MemoryChain, PriceInfo, Sender, SenderConfig, TicketStore, TimeSource,
};
use livepeer_proto::headers::encode_header;
use livepeer_proto::{net, signing};
use livepeer_testing::chain::{PaidOrch, eth, memory_chain, paid_gateway, paid_orchestrator};
use prost::Message;

use crate::*;

/// Wei per pixel the test orchestrator asks.
const PRICE: PriceInfo = PriceInfo::new(1, 1);

struct Paid {
    chain: Arc<MemoryChain>,
    pieces: PaidOrch,
    orch: Orch,
    gateway: Arc<LocalSigner>,
    sender: Sender,
    client: OrchestratorClient,
}

/// A paid orchestrator whose tickets all win (face value just above the EV), and a gateway
/// account with 1 ETH of deposit and reserve.
async fn paid() -> Paid {
    let chain = memory_chain();
    let ev = U256::from(livepeer_pm::recipient::DEFAULT_TICKET_EV_WEI);
    let pieces = paid_orchestrator(&chain, PRICE, ev + U256::from(1));
    let payments = pieces.config.clone();
    let orch = Orch::start(move |c| c.payments = Some(payments)).await;
    let (gateway, gw_config) = paid_gateway(&chain, eth(1), eth(1));
    let sender = Sender::new(
        gateway.clone(),
        chain.clone(),
        chain.clone(),
        SenderConfig::default(),
    );
    drop(gw_config);
    Paid {
        chain,
        pieces,
        orch,
        gateway,
        sender,
        client: OrchestratorClient::new(),
    }
}

fn signed_request(gateway: &LocalSigner) -> net::OrchestratorRequest {
    let caps = job_capabilities(&profiles(&[P144]), false);
    net::OrchestratorRequest {
        address: gateway.address().to_vec(),
        sig: gateway
            .sign(&signing::orchestrator_request_hash(gateway.address()))
            .to_vec(),
        capabilities: Some(livepeer_proto::convert::capabilities_to_net(&caps)),
        ..Default::default()
    }
}

impl Paid {
    async fn info(&self) -> net::OrchestratorInfo {
        self.client
            .get_orchestrator(&self.orch.uri, signed_request(&self.gateway))
            .await
            .expect("a signed GetOrchestrator is answered")
    }

    /// A payment of `tickets` tickets on `info`'s parameters.
    fn payment(&self, info: &net::OrchestratorInfo, tickets: u32) -> String {
        let params = ticket_params_from_net(info.ticket_params.as_ref().expect("params"))
            .expect("valid params");
        let price = price_from_net(info.price_info.as_ref().expect("price"));
        let session = self
            .sender
            .start_session(params, price)
            .expect("the gateway accepts the params");
        encode_payment_header(
            &self
                .sender
                .create_ticket_batch(&session, tickets)
                .expect("tickets"),
        )
    }

    /// Segment credentials for `seq` signed by `signer`.
    fn seg(
        &self,
        token: &net::AuthToken,
        seq: u64,
        clip: &Clip,
        signer: &LocalSigner,
    ) -> net::SegData {
        let mut seg = seg_for(token, seq, &clip.data, clip.duration, &profiles(&[P144]));
        let hash = signing::seg_data_hash(&seg, signing::seg_data_profile_names(&seg));
        seg.sig = signer.sign(&hash).to_vec();
        seg
    }

    async fn post(&self, seg: &net::SegData, payment: &str, body: Bytes) -> (StatusCode, Bytes) {
        let header = encode_header(seg).parse().expect("header value");
        send(
            &self.client,
            segment_request(&self.orch.base, Some(header), Some(payment), body),
        )
        .await
    }

    fn winners(&self) -> usize {
        self.pieces
            .store
            .pending_tickets(self.gateway.address())
            .expect("store readable")
            .len()
    }
}

fn text(body: &Bytes) -> String {
    String::from_utf8_lossy(body).into_owned()
}

#[tokio::test]
async fn get_orchestrator_on_chain_needs_the_gateways_signature_and_answers_with_terms() {
    let p = paid().await;
    // Unsigned, or signed by someone else: refused with go's text.
    let mut forged = signed_request(&p.gateway);
    forged.sig = LocalSigner::random()
        .sign(&signing::orchestrator_request_hash(p.gateway.address()))
        .to_vec();
    for request in [net::OrchestratorRequest::default(), forged] {
        let err = p
            .client
            .get_orchestrator(&p.orch.uri, request)
            .await
            .expect_err("refused");
        assert!(
            err.to_string()
                .contains("orchestrator req sig check failed"),
            "{err}"
        );
    }
    let info = p.info().await;
    assert_eq!(info.address, p.pieces.signer.address().to_vec());
    assert_eq!(
        info.price_info.as_ref().map(price_from_net),
        Some(PRICE),
        "the base price, rounded, reduced"
    );
    let params = ticket_params_from_net(info.ticket_params.as_ref().expect("ticket params"))
        .expect("params decode");
    assert_eq!(params.recipient, p.pieces.signer.address());
    assert_eq!(
        params.expiration_block,
        U256::from(1000 + livepeer_pm::recipient::PARAMS_EXPIRATION_BLOCKS)
    );
    assert_eq!(params.expiration_params.creation_round, 10);
    // The gateway's own rules accept them.
    p.sender
        .validate_ticket_params(&params, 1)
        .expect("acceptable params");
    p.orch.stop().await;
}

/// What a node's `-startupAvailabilityCheck` relies on (go-livepeer
/// `server/rpc.go:CheckOrchestratorAvailability`): `Ping` answers with the orchestrator's own
/// signature over keccak256(value), so an answer from any other node does not verify.
#[tokio::test]
async fn ping_is_answered_with_the_orchestrators_signature_over_the_value() {
    let p = paid().await;
    let value = alloy_primitives::keccak256(b"2026-12-01 12:00:00").to_vec();
    let answer = p
        .client
        .ping(&p.orch.uri, value.clone())
        .await
        .expect("ping answered");
    let hash = signing::ping_hash(&value);
    livepeer_pm::verify_signature(p.pieces.signer.address(), &hash, &answer)
        .expect("signed by the orchestrator");
    assert!(
        livepeer_pm::verify_signature(LocalSigner::random().address(), &hash, &answer).is_err(),
        "another node's address does not verify"
    );
    assert!(
        livepeer_pm::verify_signature(
            p.pieces.signer.address(),
            &signing::ping_hash(b"another value"),
            &answer
        )
        .is_err(),
        "the signature covers the value"
    );
    p.orch.stop().await;
}

#[tokio::test]
async fn a_paid_segment_is_transcoded_signed_and_its_winner_stored_before_the_answer() {
    let p = paid().await;
    let clip = test_segment().await;
    let info = p.info().await;
    let token = info.auth_token.clone().expect("token");
    let seg = p.seg(&token, 0, clip, &p.gateway);
    let (status, body) = p.post(&seg, &p.payment(&info, 1), clip.data.clone()).await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    let result = net::TranscodeResult::decode(body.as_ref()).expect("TranscodeResult");
    let data = match &result.result {
        Some(net::transcode_result::Result::Data(d)) => d.clone(),
        other => panic!("expected renditions, got {other:?}"),
    };
    // The winner was on disk when the answer came.
    assert_eq!(p.winners(), 1);
    // TranscodeData.sig is the orchestrator's signature over the renditions' hashes.
    let mut renditions = Vec::new();
    for segment in &data.segments {
        let (status, bytes) = get(&p.client, &segment.url).await;
        assert_eq!(status, StatusCode::OK);
        renditions.push(bytes);
    }
    let hash = signing::renditions_hash(renditions.iter().map(|b| b.as_ref()));
    assert_eq!(
        livepeer_pm::recover_signer(&hash, &data.sig).expect("recoverable"),
        p.pieces.signer.address()
    );
    // Fresh parameters come back for the next segment.
    let next = result.info.expect("info");
    assert!(next.ticket_params.is_some() && next.price_info.is_some());
    assert_eq!(next.auth_token, Some(token));
    p.orch.stop().await;
}

#[tokio::test]
async fn bad_payments_get_the_specs_status_and_no_transcode() {
    let p = paid().await;
    let clip = test_segment().await;
    let info = p.info().await;
    let token = info.auth_token.clone().expect("token");
    let seg = p.seg(&token, 0, clip, &p.gateway);

    // 402: the payment does not decode.
    let (status, _) = p.post(&seg, "%%%", clip.data.clone()).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);

    // 403: credentials signed by another key than the payment's sender, or no payment at all.
    let good = p.payment(&info, 1);
    let stranger = LocalSigner::random();
    let forged_seg = p.seg(&token, 0, clip, &stranger);
    let (status, body) = p.post(&forged_seg, &good, clip.data.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{}", text(&body));
    assert!(text(&body).contains("segment sig check failed"));
    let (status, _) = p.post(&seg, "", clip.data.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // 400: a ticket whose signature was tampered with.
    let mut wire: net::Payment =
        livepeer_proto::headers::decode_header(&p.payment(&info, 1)).expect("payment");
    wire.ticket_sender_params[0].sig[10] ^= 1;
    let (status, body) = p.post(&seg, &encode_header(&wire), clip.data.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{}", text(&body));

    // 400: parameters for another recipient (the HMAC and recipient checks fail).
    let mut wire: net::Payment =
        livepeer_proto::headers::decode_header(&p.payment(&info, 1)).expect("payment");
    wire.ticket_params.as_mut().expect("params").recipient = Address::repeat_byte(7).to_vec();
    let (status, body) = p.post(&seg, &encode_header(&wire), clip.data.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{}", text(&body));

    // 400: a payment with no tickets and no balance.
    let (status, body) = p.post(&seg, &p.payment(&info, 0), clip.data.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(text(&body).trim(), "Insufficient balance");

    // Nothing so far was paid or transcoded.
    assert_eq!(p.winners(), 0);

    // The good payment goes through; sent again (a replay), its nonces are refused.
    let (status, body) = p.post(&seg, &good, clip.data.clone()).await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    let seg1 = p.seg(&token, 1, clip, &p.gateway);
    let (status, body) = p.post(&seg1, &good, clip.data.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{}", text(&body));
    assert!(text(&body).contains("already seen"), "{}", text(&body));

    // 400: parameters past their expiration block.
    let stale = p.payment(&info, 1);
    let expiry = 1000 + livepeer_pm::recipient::PARAMS_EXPIRATION_BLOCKS;
    p.chain.set_l1_block(expiry + 1);
    let seg2 = p.seg(&token, 2, clip, &p.gateway);
    let (status, body) = p.post(&seg2, &stale, clip.data.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{}", text(&body));
    assert_eq!(p.winners(), 1, "only the good payment's ticket was kept");
    p.orch.stop().await;
}

#[tokio::test]
async fn an_orchestrator_out_of_the_active_set_accepts_no_payment() {
    let p = paid().await;
    let clip = test_segment().await;
    let info = p.info().await;
    let token = info.auth_token.clone().expect("token");
    p.pieces.chain.deactivate();
    let seg = p.seg(&token, 0, clip, &p.gateway);
    let (status, body) = p.post(&seg, &p.payment(&info, 1), clip.data.clone()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        text(&body).contains("inactive in round 10"),
        "{}",
        text(&body)
    );
    assert_eq!(p.winners(), 0);
    assert_eq!(p.chain.last_initialized_round(), 10);
    p.orch.stop().await;
}

#[tokio::test]
async fn payment_route_credits_tickets_and_answers_with_fresh_params() {
    let p = paid().await;
    let clip = test_segment().await;
    let info = p.info().await;
    let token = info.auth_token.clone().expect("token");
    let seg = p.seg(&token, 0, clip, &p.gateway);
    let header = encode_header(&seg).parse().expect("header value");
    let mut request = segment_request(
        &p.orch.base,
        Some(header),
        Some(&p.payment(&info, 2)),
        Bytes::new(),
    );
    *request.uri_mut() = format!("{}/payment", p.orch.base).parse().expect("uri");
    let (status, body) = send(&p.client, request).await;
    assert_eq!(status, StatusCode::OK, "{}", text(&body));
    let result = net::PaymentResult::decode(body.as_ref()).expect("PaymentResult");
    assert!(
        result
            .info
            .and_then(|i| i.ticket_params)
            .is_some_and(|t| !t.recipient_rand_hash.is_empty())
    );
    assert_eq!(p.winners(), 2);
    p.orch.stop().await;
}

/// `-authWebhookUrl` on an orchestrator (go-livepeer `server/rpc.go:authenticateBroadcaster`):
/// a real webhook on 127.0.0.1 admits one gateway, pricing it, and refuses another, whose
/// `GetOrchestrator` fails with go's "authentication failed: <the webhook's answer>"; the
/// admitted gateway sees the webhook's price instead of the base price.
#[tokio::test]
async fn the_auth_webhook_admits_one_gateway_at_its_price_and_refuses_another() {
    use axum::Json;
    use axum::extract::State;
    use axum::http::StatusCode as AxumStatus;
    use axum::response::IntoResponse;

    let chain = memory_chain();
    let ev = U256::from(livepeer_pm::recipient::DEFAULT_TICKET_EV_WEI);
    let pieces = paid_orchestrator(&chain, PRICE, ev + U256::from(1));
    let (admitted, _) = paid_gateway(&chain, eth(1), eth(1));
    let (refused, _) = paid_gateway(&chain, eth(1), eth(1));

    // The webhook: 200 with a price for `admitted`, 403 for anyone else; it records each id.
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let hook_url = format!("http://{}/auth", listener.local_addr().expect("addr"));
    let admitted_id = admitted.address().to_checksum(None);
    let app = axum::Router::new()
        .route(
            "/auth",
            axum::routing::post(
                |State((seen, admitted_id)): State<(
                    Arc<std::sync::Mutex<Vec<String>>>,
                    String,
                )>,
                 Json(body): Json<serde_json::Value>| async move {
                    let id = body["id"].as_str().unwrap_or("").to_string();
                    seen.lock().expect("lock").push(id.clone());
                    if id == admitted_id {
                        Json(serde_json::json!({
                            "priceInfo": {"pricePerUnit": 3, "pixelsPerUnit": 2}
                        }))
                        .into_response()
                    } else {
                        (AxumStatus::FORBIDDEN, "not on the list").into_response()
                    }
                },
            ),
        )
        .with_state((seen.clone(), admitted_id.clone()));
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let payments = pieces.config.clone();
    let webhook =
        livepeer_orchestrator::auth::GatewayAuthWebhook::new(&hook_url).expect("webhook URL");
    let orch = Orch::start(move |c| {
        c.payments = Some(payments);
        c.auth_webhook = Some(webhook);
    })
    .await;
    let client = OrchestratorClient::new();

    let info = client
        .get_orchestrator(&orch.uri, signed_request(&admitted))
        .await
        .expect("the admitted gateway gets the orchestrator's info");
    assert_eq!(
        info.price_info.as_ref().map(price_from_net),
        Some(PriceInfo::new(3, 2)),
        "the webhook's price, not the base price"
    );
    let err = client
        .get_orchestrator(&orch.uri, signed_request(&refused))
        .await
        .expect_err("the refused gateway gets no info");
    assert!(
        err.to_string()
            .contains("authentication failed: not on the list"),
        "{err}"
    );
    assert_eq!(
        *seen.lock().expect("lock"),
        vec![admitted_id, refused.address().to_checksum(None)],
        "POSTed {{\"id\": <EIP-55 address>}} once per GetOrchestrator"
    );
    orch.stop().await;
    server.abort();
}
