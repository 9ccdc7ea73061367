//! The stream auth webhook (`-authWebhookUrl`), orchestrator webhook discovery
//! (`-orchWebhookUrl`) and `-localVerify`, against real webhooks (tiny axum servers on
//! 127.0.0.1 port 0) and real or rogue orchestrators.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use hyper::{Method, StatusCode};
use tokio_util::sync::CancellationToken;

use crate::rogue::{Behaviour, Rogue};
use crate::*;

/// A webhook answering every request with the configured status and body, and recording the
/// bodies it was sent.
struct Webhook {
    url: String,
    answer: Arc<Mutex<(StatusCode, String)>>,
    received: Arc<Mutex<Vec<String>>>,
    cancel: CancellationToken,
}

impl Webhook {
    async fn start(status: StatusCode, body: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let url = format!("http://{}/hook", listener.local_addr().expect("address"));
        let answer = Arc::new(Mutex::new((status, body.to_string())));
        let received = Arc::new(Mutex::new(Vec::new()));
        type Shared = (Arc<Mutex<(StatusCode, String)>>, Arc<Mutex<Vec<String>>>);
        async fn hook(State((answer, received)): State<Shared>, body: String) -> impl IntoResponse {
            received.lock().expect("not poisoned").push(body);
            answer.lock().expect("not poisoned").clone()
        }
        let app = Router::new()
            .route("/hook", axum::routing::any(hook))
            .with_state((answer.clone(), received.clone()));
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await
        });
        Self {
            url,
            answer,
            received,
            cancel,
        }
    }

    fn set(&self, status: StatusCode, body: &str) {
        *self.answer.lock().expect("not poisoned") = (status, body.to_string());
    }

    fn received(&self) -> Vec<String> {
        self.received.lock().expect("not poisoned").clone()
    }
}

impl Drop for Webhook {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

async fn push_to(http: &Http, gw: &Gateway, manifest: &str, segment: &Segment) -> Answer {
    push(http, gw, manifest, segment).await
}

#[tokio::test]
async fn a_refusing_auth_webhook_gets_the_push_403_and_nothing_is_transcoded() {
    let rogue = Rogue::start(Behaviour::Echo).await;
    let hook = Webhook::start(StatusCode::UNAUTHORIZED, "no such stream").await;
    let gw = Gateway::start_with(vec![rogue.uri.clone()], single(P144), |c| {
        c.auth_webhook_url = Some(hook.url.clone());
    })
    .await;
    let http = http();
    let segment = &bikes().await[0];
    let host = gw.base.trim_start_matches("http://");
    let want_url = format!("http://{host}/live/refused/{}.ts", segment.seq);

    // (webhook status, webhook body): each refuses the stream as go-livepeer does.
    let refusals = [
        (StatusCode::UNAUTHORIZED, "no such stream"),
        (StatusCode::INTERNAL_SERVER_ERROR, ""),
        (StatusCode::OK, "not json"),
        (StatusCode::OK, r#"{"presets":["P144p30fps16x9"]}"#), // no manifestID
    ];
    for (status, body) in refusals {
        hook.set(status, body);
        let answer = push_to(&http, &gw, "refused", segment).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{status} {body:?}");
        assert_eq!(
            answer.text().trim(),
            format!("Could not create stream ID: url={want_url}"),
            "{status} {body:?}"
        );
    }
    // The webhook was sent go's JSON, once per refused push.
    let received = hook.received();
    assert_eq!(received.len(), refusals.len());
    let sent: serde_json::Value = serde_json::from_str(&received[0]).expect("JSON");
    assert_eq!(sent, serde_json::json!({ "url": want_url }));
    assert_eq!(
        rogue.segments_received(),
        0,
        "no orchestrator saw a refused stream"
    );
    assert_eq!(gw.handle.live_streams(), 0);

    // An empty 200 admits the stream with the gateway's own settings, and is asked once.
    hook.set(StatusCode::OK, "");
    for segment in &bikes().await[..2] {
        let answer = push_to(&http, &gw, "admitted", segment).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    }
    assert_eq!(
        hook.received().len(),
        refusals.len() + 1,
        "one call per stream"
    );
    assert_eq!(rogue.segments_received(), 2);
    gw.stop().await;
    rogue.stop().await;
}

#[tokio::test]
async fn the_auth_webhook_names_the_manifest_and_the_ladder() {
    let orch = Orch::start(|_| {}).await;
    let hook = Webhook::start(
        StatusCode::OK,
        r#"{"manifestID":"internal-7","streamID":"ext","presets":["P144p30fps16x9"]}"#,
    )
    .await;
    // The gateway's own ladder has two rungs; the webhook asks for one.
    let gw = Gateway::start_with(vec![orch.uri.clone()], default_ladder(), |c| {
        c.auth_webhook_url = Some(hook.url.clone());
    })
    .await;
    let http = http();
    let segments = &bikes().await[..2];
    for segment in segments {
        let answer = push_to(&http, &gw, "external", segment).await;
        check_pushed(&answer, segment.seq, &single(P144)).await;
    }
    assert_eq!(hook.received().len(), 1, "authenticated once per stream");

    // Published under the webhook's manifest, with the webhook's ladder.
    let master = get(&http, &gw, "/stream/internal-7.m3u8").await;
    assert_eq!(master.status, StatusCode::OK);
    assert_eq!(
        playlist_entries(&master.text()),
        [
            "internal-7/source.m3u8".to_string(),
            format!("internal-7/{P144}.m3u8")
        ]
    );
    let media = get(&http, &gw, &format!("/stream/internal-7/{P144}.m3u8")).await;
    assert_eq!(playlist_entries(&media.text()).len(), segments.len());

    // Ending the push's manifest ends the stream; the next push authenticates again.
    let ended = request(
        &http,
        Method::DELETE,
        &format!("{}/live/external", gw.base),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(ended.status, StatusCode::OK);
    hook.set(StatusCode::FORBIDDEN, "");
    let again = push_to(&http, &gw, "external", &segments[0]).await;
    assert_eq!(again.status, StatusCode::FORBIDDEN);
    assert_eq!(hook.received().len(), 2);
    gw.stop().await;
    orch.stop().await;
}

#[tokio::test]
async fn webhook_discovery_prefers_untrusted_then_trusted_and_skips_other_scores() {
    let trusted = Rogue::start(Behaviour::Echo).await;
    let untrusted = Rogue::start(Behaviour::Echo).await;
    let unranked = Rogue::start(Behaviour::Echo).await;
    let list = serde_json::json!([
        { "address": trusted.uri.to_string(), "score": 1 },
        { "address": untrusted.uri.to_string(), "score": 0 },
        { "address": unranked.uri.to_string(), "score": 0.5 },
    ]);
    let hook = Webhook::start(StatusCode::OK, &list.to_string()).await;
    // No -orchAddr: the webhook is the only source.
    let gw = Gateway::start_with(Vec::new(), single(P144), |c| {
        c.orch_webhook_url = Some(hook.url.clone());
    })
    .await;
    let http = http();
    let segments = &bikes().await[..3];

    // Without verification the untrusted pool goes first (go-livepeer selectSessions).
    let answer = push_to(&http, &gw, "scored", &segments[0]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(
        (trusted.segments_received(), untrusted.segments_received()),
        (0, 1)
    );
    // When it fails, the trusted one takes over.
    untrusted.set(Behaviour::Refuse(StatusCode::INTERNAL_SERVER_ERROR, "down"));
    for segment in &segments[1..] {
        let answer = push_to(&http, &gw, "scored", segment).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    }
    assert_eq!(trusted.segments_received(), 2);
    assert_eq!(untrusted.segments_received(), 2);
    assert_eq!(
        unranked.segments_received(),
        0,
        "a score neither 0 nor at least 1 is in no pool"
    );
    assert_eq!(gw.handle.times_suspended(&untrusted.uri), 1);
    assert_eq!(hook.received().len(), 1, "the list is cached for a minute");
    gw.stop().await;
    for rogue in [trusted, untrusted, unranked] {
        rogue.stop().await;
    }
}

#[tokio::test]
async fn a_failing_orchestrator_webhook_falls_back_to_its_last_list() {
    let rogue = Rogue::start(Behaviour::Echo).await;
    let list = serde_json::json!([{ "address": rogue.uri.to_string(), "score": 1 }]);
    let hook = Webhook::start(StatusCode::OK, &list.to_string()).await;
    let gw = Gateway::start_with(Vec::new(), single(P144), |c| {
        c.orch_webhook_url = Some(hook.url.clone());
        // Asked again at every discovery.
        c.orch_webhook_refresh = Duration::ZERO;
    })
    .await;
    let http = http();
    let segments = bikes().await;
    let answer = push_to(&http, &gw, "first", &segments[0]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());

    // A new stream discovers again; the webhook is down, its last list still serves.
    hook.set(StatusCode::BAD_GATEWAY, "");
    let answer = push_to(&http, &gw, "second", &segments[0]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(hook.received().len(), 2);
    assert_eq!(rogue.segments_received(), 2);
    gw.stop().await;
    rogue.stop().await;
}

#[tokio::test]
async fn a_gateway_whose_orchestrator_webhook_never_answered_has_no_sessions() {
    let hook = Webhook::start(StatusCode::INTERNAL_SERVER_ERROR, "").await;
    let gw = Gateway::start_with(Vec::new(), single(P144), |c| {
        c.orch_webhook_url = Some(hook.url.clone());
    })
    .await;
    let answer = push_to(&http(), &gw, "nobody", &bikes().await[0]).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(answer.text().trim(), "No sessions available");
    gw.stop().await;
}

/// The rogue reports 1 pixel per rendition: with `-localVerify` the recount catches it,
/// each attempt drops the session, and after more than two mismatches the first result is
/// kept (go-livepeer `Policy{Retries: 2}`), so the push still succeeds but costs three
/// attempts. Without `-localVerify` one attempt is made.
#[tokio::test]
async fn local_verification_recounts_pixels_and_retries_a_lying_orchestrator() {
    let segment = &bikes().await[0];
    let http = http();
    for (local_verify, attempts, failures) in [(Some(false), 1, 0), (Some(true), 3, 3)] {
        let rogue = Rogue::start(Behaviour::Echo).await;
        let gw = Gateway::start_with(vec![rogue.uri.clone()], single(P144), |c| {
            c.local_verify = local_verify;
        })
        .await;
        let answer = push_to(&http, &gw, "counted", segment).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
        assert_eq!(rogue.segments_received(), attempts, "{local_verify:?}");
        assert_eq!(
            gw.handle.local_verification_failures(),
            failures,
            "{local_verify:?}"
        );
        assert!(
            gw.handle.suspended_orchestrators().is_empty(),
            "dropped, not suspended"
        );
        gw.stop().await;
        rogue.stop().await;
    }
}

/// A real orchestrator's reported pixels are what the recount decodes: every segment passes
/// local verification at the first attempt.
#[tokio::test]
async fn a_real_orchestrator_passes_local_verification() {
    let orch = Orch::start(|_| {}).await;
    let ladder = default_ladder();
    let gw = Gateway::start_with(vec![orch.uri.clone()], ladder.clone(), |c| {
        c.local_verify = Some(true);
    })
    .await;
    let http = http();
    for segment in &bikes().await[..2] {
        let answer = push_to(&http, &gw, "honest", segment).await;
        check_pushed(&answer, segment.seq, &ladder).await;
    }
    assert_eq!(gw.handle.local_verification_failures(), 0);
    gw.stop().await;
    orch.stop().await;
}

/// Compares by bytes. A fake, and the one place one is right: the real comparator
/// (crates/media's MPEG-7 signature and video comparison) is being written on another
/// branch, and what this test checks is the wiring around it (which sessions get the
/// segment, what they are asked for, who is suspended, who is reused), not how equality is
/// computed. The end-to-end run with real hashes comes with the real comparator.
#[derive(Debug)]
struct SameBytes;

impl livepeer_gateway::verify::RenditionComparator for SameBytes {
    fn same_signature<'a>(
        &'a self,
        trusted: &'a [u8],
        untrusted: &'a [u8],
    ) -> futures::future::BoxFuture<'a, Result<bool, livepeer_gateway::GatewayError>> {
        Box::pin(async move { Ok(trusted == untrusted) })
    }

    fn same_video<'a>(
        &'a self,
        trusted: &'a [u8],
        untrusted: &'a [u8],
    ) -> futures::future::BoxFuture<'a, Result<bool, livepeer_gateway::GatewayError>> {
        Box::pin(async move { Ok(trusted == untrusted) })
    }
}

/// A gateway discovering `rogues` (with their scores) from a webhook, whose auth webhook
/// asks for verification at `freq`, comparing with [`SameBytes`].
async fn verifying_gateway(rogues: &[(&Rogue, f32)], freq: u64) -> (Gateway, Webhook, Webhook) {
    let list: Vec<_> = rogues
        .iter()
        .map(|(r, score)| serde_json::json!({ "address": r.uri.to_string(), "score": score }))
        .collect();
    let orchs = Webhook::start(StatusCode::OK, &serde_json::Value::from(list).to_string()).await;
    let auth = Webhook::start(
        StatusCode::OK,
        &format!(r#"{{"manifestID":"checked","verificationFreq":{freq}}}"#),
    )
    .await;
    let gw = Gateway::start_with(Vec::new(), single(P144), |c| {
        c.orch_webhook_url = Some(orchs.url.clone());
        c.auth_webhook_url = Some(auth.url.clone());
        c.comparator = Some(Arc::new(SameBytes));
    })
    .await;
    (gw, orchs, auth)
}

#[tokio::test]
async fn a_verified_stream_goes_to_one_trusted_and_two_untrusted_orchestrators() {
    let http = http();
    let segments = &bikes().await[..2];

    // An untrusted orchestrator whose hash differs from the trusted one's is suspended, and
    // the trusted result is published.
    let trusted = Rogue::start(Behaviour::EchoHashed("same")).await;
    let liar = Rogue::start(Behaviour::EchoHashed("other")).await;
    let (gw, _orchs, _auth) = verifying_gateway(&[(&trusted, 1.0), (&liar, 0.0)], 1).await;
    let answer = push_to(&http, &gw, "checked", &segments[0]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!([&trusted, &liar].map(|r| r.segments_received()), [1, 1]);
    assert_eq!(gw.handle.times_suspended(&liar.uri), 1);
    let by = gw.handle.segments_by_orchestrator();
    assert_eq!(by.get(&trusted.uri).copied(), Some(1), "{by:?}");
    gw.stop().await;
    for rogue in [trusted, liar] {
        rogue.stop().await;
    }

    // One trusted and two untrusted get the segment, each asked for perceptual hashes with
    // the MPEG-7 capability; the untrusted result that matches is published, and with a
    // frequency this large (a draw of 0 never comes) its session is then reused alone.
    let trusted = Rogue::start(Behaviour::EchoHashed("same")).await;
    let liar = Rogue::start(Behaviour::EchoHashed("other")).await;
    let honest = Rogue::start(Behaviour::EchoHashed("same")).await;
    let (gw, _orchs, _auth) =
        verifying_gateway(&[(&trusted, 1.0), (&liar, 0.0), (&honest, 0.0)], u64::MAX).await;
    let answer = push_to(&http, &gw, "checked", &segments[0]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    for rogue in [&trusted, &liar, &honest] {
        assert_eq!(rogue.segments_received(), 1, "{}", rogue.uri);
        let seg = rogue.last_seg_data().expect("a segment");
        assert!(seg.calc_perceptual_hash, "{}: asked for a hash", rogue.uri);
        let caps = livepeer_proto::convert::capabilities_from_net(seg.capabilities.as_ref());
        assert!(
            caps.bitstring
                .contains(livepeer_primitives::Capability::Mpeg7VideoSignature),
            "{}: the job needs MPEG-7 signatures",
            rogue.uri
        );
    }
    assert_eq!(gw.handle.times_suspended(&honest.uri), 0);
    let by = gw.handle.segments_by_orchestrator();
    assert_eq!(by.get(&honest.uri).copied(), Some(1), "{by:?}");
    let answer = push_to(&http, &gw, "checked", &segments[1]).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(
        [&trusted, &liar, &honest].map(|r| r.segments_received()),
        [1, 1, 2]
    );
    gw.stop().await;
    for rogue in [trusted, liar, honest] {
        rogue.stop().await;
    }
}

/// The MPEG-7 signature ffmpeg's `signature` filter computes for `segment` (binary format).
async fn signature_of(segment: &[u8]) -> Bytes {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("in.ts");
    let output = dir.path().join("sig.bin");
    tokio::fs::write(&input, segment).await.expect("write");
    let status = tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-i"])
        .arg(&input)
        .arg("-vf")
        .arg(format!("signature=filename={}", output.display()))
        .args(["-f", "null", "-"])
        .status()
        .await
        .expect("ffmpeg runs");
    assert!(status.success());
    tokio::fs::read(&output).await.expect("signature").into()
}

/// Verification end to end with the real comparator (crates/media's MPEG-7 matcher and
/// ffprobe video comparison): a real trusted and a real untrusted orchestrator, each asked
/// for perceptual hashes, agree, while an untrusted one that returns the source as its
/// rendition (with the source's real signature) is caught and suspended.
#[tokio::test]
async fn real_orchestrators_verify_by_mpeg7_signatures_and_a_tamperer_is_suspended() {
    let http = http();
    let segment = &bikes().await[0];
    let trusted = Orch::start(|_| {}).await;
    let honest = Orch::start(|_| {}).await;
    let tamperer = Rogue::start(Behaviour::EchoWithHash(signature_of(&segment.data).await)).await;
    let list = serde_json::json!([
        { "address": trusted.base, "score": 1.0 },
        { "address": tamperer.uri.to_string(), "score": 0.0 },
        { "address": honest.base, "score": 0.0 },
    ]);
    let orchs = Webhook::start(StatusCode::OK, &list.to_string()).await;
    let auth = Webhook::start(
        StatusCode::OK,
        r#"{"manifestID":"checked","verificationFreq":1}"#,
    )
    .await;
    // No comparator configured: the gateway uses crates/media's.
    let gw = Gateway::start_with(Vec::new(), single(P144), |c| {
        c.orch_webhook_url = Some(orchs.url.clone());
        c.auth_webhook_url = Some(auth.url.clone());
    })
    .await;
    let answer = push_to(&http, &gw, "checked", segment).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(
        tamperer.segments_received(),
        1,
        "the tamperer was asked too"
    );
    assert_eq!(gw.handle.times_suspended(&tamperer.uri), 1, "and caught");
    let by = gw.handle.segments_by_orchestrator();
    assert_eq!(by.get(&tamperer.uri), None, "{by:?}");
    let published: u64 = by.values().sum();
    assert_eq!(published, 1, "one result published: {by:?}");
    // The published rendition is a real 144p one, not the source.
    let parts = check_pushed(&answer, segment.seq, &single(P144)).await;
    let info = ffmpeg()
        .probe(livepeer_media::MediaInput::Bytes(&parts[0].data))
        .await
        .expect("the rendition probes");
    assert_eq!(
        info.width, 256,
        "P144 is 256 wide (the clip is wider than 16:9)"
    );
    gw.stop().await;
    tamperer.stop().await;
    for orch in [trusted, honest] {
        orch.stop().await;
    }
}

/// The auth webhook's `objectStore` gives one stream an object store of its own (the gateway
/// has none): its sources land there under go-livepeer's names.
#[tokio::test]
async fn the_auth_webhooks_object_store_holds_that_streams_segments() {
    let s3 = livepeer_testing::s3::S3Server::start("hooked-bucket").await;
    let orch = Orch::start(|c| {
        c.fetch_policy = livepeer_objectstore::FetchPolicy::private_networks();
    })
    .await;
    let auth = Webhook::start(
        StatusCode::OK,
        &serde_json::json!({ "manifestID": "hooked", "objectStore": s3.store_url() }).to_string(),
    )
    .await;
    let gw = Gateway::start_with(vec![orch.uri.clone()], single(P144), |c| {
        c.auth_webhook_url = Some(auth.url.clone());
    })
    .await;
    let http = http();
    let segment = &bikes().await[0];
    let answer = push_to(&http, &gw, "incoming", segment).await;
    check_pushed(&answer, segment.seq, &single(P144)).await;
    assert_eq!(
        s3.object("hooked/source/0.ts").as_deref(),
        Some(segment.data.as_ref()),
        "{:?}",
        s3.keys()
    );
    assert!(
        s3.keys()
            .iter()
            .any(|k| k.starts_with("hooked/") && k.ends_with(&format!("/{P144}/0.ts"))),
        "the orchestrator wrote the rendition there too: {:?}",
        s3.keys()
    );
    gw.stop().await;
    orch.stop().await;
}
