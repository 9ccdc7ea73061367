//! `POST /segment`: the checks before the 200 (wire-and-network.md §3.3) and what comes back.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use hyper::StatusCode;
use hyper::header::HeaderValue;
use livepeer_gateway::client::OrchestratorClient;
use livepeer_gateway::dispatch::job_capabilities;
use livepeer_primitives::Capability;
use livepeer_proto::headers::encode_header;
use livepeer_proto::net;

use crate::*;

/// Bytes that are valid base64 but not a protobuf: field 1 (length-delimited) claiming more
/// bytes than follow.
const NOT_PROTOBUF: [u8; 6] = [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f];

fn header(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).expect("a valid header value")
}

#[tokio::test]
async fn malformed_segment_header_is_refused_with_403() {
    let orch = Orch::start(|_| {}).await;
    let client = OrchestratorClient::new();
    let clip = test_segment().await;
    let token = new_session(&client, &orch.uri).await;
    let seg = seg_for(&token, 0, &clip.data, clip.duration, &profiles(&[P144]));

    let cases: Vec<(&str, Option<HeaderValue>)> = vec![
        ("missing header", None),
        ("not base64", Some(header("%%% this is not base64 %%%"))),
        (
            "base64 of garbage protobuf",
            Some(header(&STANDARD.encode(NOT_PROTOBUF))),
        ),
        ("base64 cut short", Some(header(&encode_header(&seg)[..10]))),
        (
            "non-ASCII bytes",
            Some(HeaderValue::from_bytes(b"\xff\xfe\xfd").expect("obs-text is allowed")),
        ),
    ];
    for (name, value) in cases {
        let (status, body) = send(
            &client,
            segment_request(&orch.base, value, Some(""), clip.data.clone()),
        )
        .await;
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {body}");
        assert!(body.starts_with("invalid segment header"), "{name}: {body}");
    }

    // The same segment with a well-formed header is accepted and transcoded.
    let result = transcode(&client, &orch.base, &seg, clip.data.clone()).await;
    check_renditions(&client, &orch.base, &token, 0, &result, &profiles(&[P144])).await;
    orch.stop().await;
}

#[tokio::test]
async fn body_not_matching_the_signed_hash_is_refused_with_403() {
    let orch = Orch::start(|_| {}).await;
    let client = OrchestratorClient::new();
    let clip = test_segment().await;
    let token = new_session(&client, &orch.uri).await;
    let seg = seg_for(&token, 0, &clip.data, clip.duration, &profiles(&[P144]));

    let mut flipped = clip.data.to_vec();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    let truncated = clip.data.slice(..clip.data.len() - 188);
    for (name, body) in [
        ("one bit flipped", Bytes::from(flipped)),
        ("last packet cut", truncated),
        ("empty body", Bytes::new()),
    ] {
        let (status, answer) = post_segment(&client, &orch.base, &seg, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}");
        assert_eq!(
            String::from_utf8_lossy(&answer),
            "segment hash mismatch",
            "{name}"
        );
    }
    orch.stop().await;
}

#[tokio::test]
async fn missing_tampered_or_foreign_auth_tokens_are_refused_with_403() {
    let orch = Orch::start(|_| {}).await;
    let other = Orch::start(|_| {}).await;
    let client = OrchestratorClient::new();
    let clip = test_segment().await;
    let good = new_session(&client, &orch.uri).await;
    let foreign = new_session(&client, &other.uri).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64;

    let tampered = |f: &dyn Fn(&mut net::AuthToken)| {
        let mut token = good.clone();
        f(&mut token);
        Some(token)
    };
    let cases: Vec<(&str, Option<net::AuthToken>)> = vec![
        ("missing", None),
        ("MAC bit flipped", tampered(&|t| t.token[0] ^= 0x80)),
        ("MAC truncated", tampered(&|t| t.token.truncate(16))),
        (
            "another session id",
            tampered(&|t| t.session_id = "00000000".into()),
        ),
        (
            "path in session id",
            tampered(&|t| t.session_id = "../../x".into()),
        ),
        // Without the orchestrator's secret an expired token cannot be re-signed, so moving
        // the expiration into the past must fail (on the MAC) like any other tampering.
        ("expired", tampered(&|t| t.expiration = now - 60)),
        ("expiry extended", tampered(&|t| t.expiration += 3600)),
        ("another orchestrator's token", Some(foreign)),
    ];
    for (name, token) in cases {
        let mut seg = seg_for(&good, 0, &clip.data, clip.duration, &profiles(&[P144]));
        seg.auth_token = token;
        let (status, body) = post_segment(&client, &orch.base, &seg, clip.data.clone()).await;
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {body}");
        assert!(
            body.starts_with("invalid auth token") || body.starts_with("auth token expired"),
            "{name}: {body}"
        );
    }
    other.stop().await;
    orch.stop().await;
}

#[tokio::test]
async fn segment_credentials_out_of_range_are_refused_with_403() {
    let orch = Orch::start(|_| {}).await;
    let client = OrchestratorClient::new();
    let clip = test_segment().await;
    let token = new_session(&client, &orch.uri).await;
    let base = || seg_for(&token, 0, &clip.data, clip.duration, &profiles(&[P144]));

    let mut signed = base();
    let mut job = job_capabilities(&profiles(&[P144]), false);
    job.bitstring.insert(Capability::HevcEncode);
    signed.capabilities = Some(livepeer_proto::convert::capabilities_to_net(&job));
    let mut too_long = base();
    too_long.duration = 300_001;
    let mut negative = base();
    negative.duration = -1;
    let mut no_profiles = base();
    no_profiles.full_profiles.clear();
    no_profiles.full_profiles2.clear();
    no_profiles.full_profiles3.clear();

    for (name, seg, want) in [
        (
            "needs a capability we lack",
            signed,
            "incompatible capabilities",
        ),
        ("longer than 5 minutes", too_long, "segment duration"),
        ("negative duration", negative, "segment duration"),
        ("no renditions", no_profiles, "invalid profiles"),
    ] {
        let (status, body) = post_segment(&client, &orch.base, &seg, clip.data.clone()).await;
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {body}");
        assert!(body.starts_with(want), "{name}: {body}");
    }
    orch.stop().await;
}

#[tokio::test]
async fn undecodable_payment_header_is_refused_with_402() {
    let orch = Orch::start(|_| {}).await;
    let client = OrchestratorClient::new();
    let clip = test_segment().await;
    let token = new_session(&client, &orch.uri).await;
    let seg = seg_for(&token, 0, &clip.data, clip.duration, &profiles(&[P144]));
    let seg_header = || Some(header(&encode_header(&seg)));

    let not_protobuf = STANDARD.encode(NOT_PROTOBUF);
    for (name, segment, payment) in [
        ("not base64", seg_header(), "%%% not base64 %%%"),
        (
            "base64 of garbage protobuf",
            seg_header(),
            not_protobuf.as_str(),
        ),
        // The payment is checked first, so a bad segment header does not change the answer.
        ("bad payment and no segment header", None, "%%%"),
    ] {
        let (status, body) = send(
            &client,
            segment_request(&orch.base, segment, Some(payment), clip.data.clone()),
        )
        .await;
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{name}: {body}");
        assert!(body.starts_with("invalid payment"), "{name}: {body}");
    }

    // A decodable payment, and no payment header at all, are both accepted off-chain.
    let payment = encode_header(&net::Payment {
        sender: vec![0x1a; 20],
        ..Default::default()
    });
    for payment in [Some(payment.as_str()), None] {
        let (status, body) = send(
            &client,
            segment_request(&orch.base, seg_header(), payment, garbage(2048)),
        )
        .await;
        // The body is not what `seg` was signed for, so the request gets past the payment and
        // credentials checks and stops at the hash check.
        assert_eq!(status, StatusCode::FORBIDDEN, "{payment:?}");
        assert_eq!(String::from_utf8_lossy(&body), "segment hash mismatch");
    }
    orch.stop().await;
}

#[tokio::test]
async fn sessions_past_max_sessions_get_orchestrator_capped() {
    let orch = Orch::start(|c| c.max_sessions = 1).await;
    let client = OrchestratorClient::new();
    let clip = test_segment().await;
    // Both tokens are handed out while no session is open.
    let first = new_session(&client, &orch.uri).await;
    let second = new_session(&client, &orch.uri).await;
    assert_ne!(first.session_id, second.session_id);

    let seg = seg_for(&first, 0, &clip.data, clip.duration, &profiles(&[P144]));
    let result = transcode(&client, &orch.base, &seg, clip.data.clone()).await;
    check_renditions(&client, &orch.base, &first, 0, &result, &profiles(&[P144])).await;

    // A second session's segment is refused with the wire string go-livepeer uses.
    let seg = seg_for(&second, 0, &clip.data, clip.duration, &profiles(&[P144]));
    let (status, body) = post_segment(&client, &orch.base, &seg, clip.data.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(String::from_utf8_lossy(&body), "OrchestratorCapped");

    // GetOrchestrator at capacity fails too.
    let err = get_orchestrator(&client, &orch.uri)
        .await
        .expect_err("GetOrchestrator at capacity fails");
    assert!(err.to_string().contains("OrchestratorCapped"), "{err}");

    // The open session is still admitted.
    let body = garbage(4096);
    let seg = seg_for(&first, 1, &body, clip.duration, &profiles(&[P144]));
    let result = transcode(&client, &orch.base, &seg, body).await;
    assert_eq!(result.seq, 1);
    assert!(matches!(
        result.result,
        Some(net::transcode_result::Result::Error(_))
    ));
    orch.stop().await;
}

#[tokio::test]
async fn garbage_body_reports_ffmpegs_error_and_the_orchestrator_keeps_serving() {
    let orch = Orch::start(|_| {}).await;
    let client = OrchestratorClient::new();
    let clip = test_segment().await;
    let token = new_session(&client, &orch.uri).await;
    let ladder = profiles(&["P240p30fps16x9", "P360p30fps16x9"]);

    let body = garbage(64 * 1024);
    let seg = seg_for(&token, 0, &body, clip.duration, &ladder);
    let result = transcode(&client, &orch.base, &seg, body).await;
    assert_eq!(result.seq, 0);
    let info = result.info.as_ref().expect("info rides along errors too");
    assert_eq!(info.auth_token.as_ref(), Some(&token));
    match &result.result {
        Some(net::transcode_result::Result::Error(message)) => {
            assert!(message.starts_with("ffmpeg failed"), "{message}");
            // Read as MPEG-TS (the only format a segment may be), garbage has no streams.
            assert!(
                message.contains("could not find codec parameters"),
                "ffmpeg's own reason: {message}"
            );
            assert!(
                !message.contains('/') && !message.contains("job-"),
                "no scratch path in the error: {message}"
            );
        }
        other => panic!("expected an error, got {other:?}"),
    }

    // The next, good, segment of the same session transcodes into the whole ladder.
    let seg = seg_for(&token, 1, &clip.data, clip.duration, &ladder);
    let result = transcode(&client, &orch.base, &seg, clip.data.clone()).await;
    check_renditions(&client, &orch.base, &token, 1, &result, &ladder).await;

    // Nothing was stored for the failed segment.
    for profile in &ladder {
        let url = format!(
            "{}/stream/{}/{}/0.ts",
            orch.base, token.session_id, profile.name
        );
        assert_eq!(get(&client, &url).await.0, StatusCode::NOT_FOUND, "{url}");
    }
    orch.stop().await;
}

/// `SegData.segment_parameters` (capability 26): only the slice is transcoded, so the
/// rendition holds one second of frames at the profile's 30 fps (within one frame) and is
/// charged for those pixels only.
#[tokio::test]
async fn a_sliced_segment_is_transcoded_to_its_slice() {
    let orch = Orch::start(|_| {}).await;
    let client = OrchestratorClient::new();
    let clip = test_segment().await;
    let token = new_session(&client, &orch.uri).await;
    let ladder = profiles(&[P144]);
    let whole = transcode(
        &client,
        &orch.base,
        &seg_for(&token, 0, &clip.data, clip.duration, &ladder),
        clip.data.clone(),
    )
    .await;
    check_renditions(&client, &orch.base, &token, 0, &whole, &ladder).await;

    let mut seg = seg_for(&token, 1, &clip.data, clip.duration, &ladder);
    seg.capabilities = Some(livepeer_proto::convert::capabilities_to_net(
        &job_capabilities(&ladder, true),
    ));
    seg.segment_parameters = Some(net::SegParameters {
        from: 500,
        to: 1500,
    });
    let sliced = transcode(&client, &orch.base, &seg, clip.data.clone()).await;
    let urls = check_renditions(&client, &orch.base, &token, 1, &sliced, &ladder).await;
    let (_, bytes) = get(&client, &urls[0]).await;
    let (_, _, frames) = count_video(&bytes).await;
    assert!(
        (29..=31).contains(&frames),
        "1 s at 30 fps, got {frames} frames"
    );
    let pixels = |r: &net::TranscodeResult| match &r.result {
        Some(net::transcode_result::Result::Data(d)) => d.segments[0].pixels,
        other => panic!("expected renditions, got {other:?}"),
    };
    assert!(
        pixels(&sliced) * 3 / 2 < pixels(&whole),
        "a 1 s slice of a {:?} segment is charged less: {} vs {}",
        clip.duration,
        pixels(&sliced),
        pixels(&whole)
    );

    // A slice that ends before it starts comes back as a transcode error in the 200.
    let mut backwards = seg_for(&token, 2, &clip.data, clip.duration, &ladder);
    backwards.segment_parameters = Some(net::SegParameters { from: 900, to: 100 });
    let refused = transcode(&client, &orch.base, &backwards, clip.data.clone()).await;
    assert!(
        matches!(&refused.result, Some(net::transcode_result::Result::Error(e)) if e.contains("invalid slice")),
        "{:?}",
        refused.result
    );
    orch.stop().await;
}

/// Capabilities as go-livepeer's orchestrator checks them: a segment with none (an old
/// gateway) is served; a job bitstring with an extra zero word, or a version floor above
/// 0.9.1, is refused; a floor of 0.9.1 or an unparseable one is served.
#[tokio::test]
async fn segment_capabilities_are_checked_as_go_does() {
    let orch = Orch::start(|_| {}).await;
    let client = OrchestratorClient::new();
    let clip = test_segment().await;
    let token = new_session(&client, &orch.uri).await;
    let ladder = profiles(&[P144]);
    let job = job_capabilities(&ladder, false);
    let with = |seq: u64, f: &dyn Fn(&mut net::Capabilities)| {
        let mut seg = seg_for(&token, seq, &clip.data, clip.duration, &ladder);
        let mut caps = livepeer_proto::convert::capabilities_to_net(&job);
        f(&mut caps);
        seg.capabilities = Some(caps);
        seg
    };
    let mut none = seg_for(&token, 0, &clip.data, clip.duration, &ladder);
    none.capabilities = None;
    let floor = |v: &'static str| {
        move |c: &mut net::Capabilities| {
            c.constraints = Some(net::capabilities::Constraints {
                min_version: v.into(),
                ..Default::default()
            })
        }
    };
    let served = [
        ("no capabilities", none),
        ("floor 0.9.1", with(1, &floor("0.9.1"))),
        ("floor 0.9.1-rc2", with(2, &floor("0.9.1-rc2"))),
        ("unparseable floor", with(3, &floor("latest"))),
    ];
    for (seq, (name, seg)) in served.into_iter().enumerate() {
        let result = transcode(&client, &orch.base, &seg, clip.data.clone()).await;
        let seq = i64::try_from(seq).expect("seq");
        check_renditions(&client, &orch.base, &token, seq, &result, &ladder).await;
        eprintln!("{name}: served");
    }
    let refused = [
        ("trailing zero word", with(4, &|c| c.bitstring.push(0))),
        ("floor 0.10.0", with(5, &floor("0.10.0"))),
    ];
    for (name, seg) in refused {
        let (status, body) = post_segment(&client, &orch.base, &seg, clip.data.clone()).await;
        let body = String::from_utf8_lossy(&body);
        assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {body}");
        assert!(
            body.starts_with("incompatible capabilities"),
            "{name}: {body}"
        );
    }
    orch.stop().await;
}
