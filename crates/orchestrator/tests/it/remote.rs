//! Remote transcoders against a real orchestrator: registration refusals with go-livepeer's
//! texts, `/transcodeResults` checks, and one pool balancing the local transcoder and a
//! remote one (in-process, over real TLS sockets).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::StatusCode;
use livepeer_gateway::client::OrchestratorClient;
use livepeer_orchestrator::remote_transcoder::{self, RemoteTranscoderConfig};
use livepeer_orchestrator::{LocalTranscoder, software_capabilities};
use livepeer_proto::net;
use tokio_util::sync::CancellationToken;

use crate::orchestrator::{Orch, check_renditions, new_session, seg_for, send, transcode};
use crate::{P144, PRESET, ffmpeg, profiles, test_segment};

const SECRET: &str = "orchestrator-secret";

async fn register(orch: &Orch, secret: &str, capacity: i64) -> Result<(), tonic::Status> {
    let http = livepeer_server::peer_client::client::<tonic::body::Body>(Duration::from_secs(3));
    let mut grpc = net::transcoder_client::TranscoderClient::with_origin(http, orch.uri.clone());
    grpc.register_transcoder(net::RegisterRequest {
        secret: secret.into(),
        capacity,
        capabilities: None,
    })
    .await
    .map(|_| ())
}

#[tokio::test]
async fn registrations_are_refused_with_go_livepeers_texts() {
    let orch = Orch::start(|c| c.orch_secret = Some(SECRET.into())).await;
    let refused = register(&orch, "wrong", 1).await.expect_err("wrong secret");
    assert_eq!(refused.message(), "invalid secret");
    let refused = register(&orch, SECRET, 0).await.expect_err("no capacity");
    assert_eq!(refused.message(), "zero capacity");
    // A legacy transcoder without capabilities is taken (with go's default set).
    register(&orch, SECRET, 1).await.expect("registered");
    orch.stop().await;

    // Without -orchSecret there is no Transcoder service at all.
    let orch = Orch::start(|_| {}).await;
    let refused = register(&orch, "", 1).await.expect_err("no service");
    assert_eq!(refused.code(), tonic::Code::Unimplemented);
    orch.stop().await;
}

#[tokio::test]
async fn transcode_results_are_checked_as_go_livepeer_checks_them() {
    let orch = Orch::start(|c| c.orch_secret = Some(SECRET.into())).await;
    let client = OrchestratorClient::new();
    let post = |headers: Vec<(&'static str, &'static str)>| {
        let mut request = hyper::Request::post(format!("{}/transcodeResults", orch.base));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        request
            .body(tonic::body::Body::new(Full::new(Bytes::from_static(b"x"))))
            .expect("request")
    };
    let good = [
        ("Authorization", "Livepeer-Transcoder-1.0"),
        ("Credentials", SECRET),
        ("Content-Type", "livepeer/transcoding-error"),
        ("TaskId", "7"),
    ];
    let with = |name: &str, value: &'static str| {
        good.iter()
            .map(|&(n, v)| if n == name { (n, value) } else { (n, v) })
            .collect::<Vec<_>>()
    };
    let cases = [
        (
            with("Authorization", "Livepeer-Transcoder-0.9"),
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
        ),
        (
            with("Credentials", "guess"),
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
        ),
        (
            with("Content-Type", "not a type"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "",
        ),
        (
            with("TaskId", "seven"),
            StatusCode::BAD_REQUEST,
            "Invalid Task ID",
        ),
        // A result without Pixels.
        (
            with("Content-Type", "multipart/mixed; boundary=b"),
            StatusCode::BAD_REQUEST,
            "Invalid Pixels",
        ),
        // An error for a task nobody waits for is taken, as go-livepeer does.
        (good.to_vec(), StatusCode::OK, "OK"),
    ];
    for (headers, status, text) in cases {
        let shown = format!("{headers:?}");
        let (got, body) = send(&client, post(headers)).await;
        assert_eq!(got, status, "{shown}");
        assert!(
            String::from_utf8_lossy(&body).contains(text),
            "{shown}: {body:?}"
        );
    }
    // Without -orchSecret the route does not exist.
    let plain = Orch::start(|_| {}).await;
    let request = hyper::Request::post(format!("{}/transcodeResults", plain.base))
        .body(tonic::body::Body::new(Full::new(Bytes::new())))
        .expect("request");
    assert_eq!(send(&client, request).await.0, StatusCode::NOT_FOUND);
    plain.stop().await;
    orch.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_local_and_a_remote_transcoder_share_the_sessions_by_load() {
    let orch = Orch::start(|c| {
        c.orch_secret = Some(SECRET.into());
        c.max_sessions = 4;
    })
    .await;
    let handle_uri = orch.uri.clone();
    let stop = CancellationToken::new();
    let remote = tokio::spawn(remote_transcoder::run(
        RemoteTranscoderConfig {
            orch_addr: orch.addr.to_string(),
            secret: SECRET.into(),
            capacity: 1,
            transcoder: LocalTranscoder::new(ffmpeg(), PRESET.into()),
            capabilities: software_capabilities(),
            data_dir: None,
            fetch_policy: Default::default(),
        },
        stop.clone(),
    ));
    let client = OrchestratorClient::new();
    // Wait for the registration: a session can then be placed on the remote transcoder.
    let registered = crate::eventually(Duration::from_secs(10), || {
        let orch = &orch;
        async move { orch.handle.transcoders().len() == 2 }
    })
    .await;
    assert!(registered, "the remote transcoder never registered");
    let clip = test_segment().await;
    let ladder = profiles(&[P144]);
    // First session: both idle, the local one (first in the pool). Second: the local one is
    // at 1/4, the remote one at 0/1, so the remote one.
    for seq in 0..2 {
        let token = new_session(&client, &handle_uri).await;
        let seg = seg_for(&token, seq, &clip.data, clip.duration, &ladder);
        let result = transcode(&client, &orch.base, &seg, clip.data.clone()).await;
        check_renditions(&client, &orch.base, &token, seq as i64, &result, &ladder).await;
    }
    let loads: Vec<(bool, usize, usize)> = orch
        .handle
        .transcoders()
        .iter()
        .map(|t| (t.local, t.load, t.capacity))
        .collect();
    assert_eq!(loads, [(true, 1, 4), (false, 1, 1)]);
    stop.cancel();
    remote
        .await
        .expect("no panic")
        .expect("the transcoder stops cleanly");
    orch.stop().await;
}

#[tokio::test]
async fn a_remote_transcoders_decoded_pixels_are_the_inputs_frames_times_its_size() {
    let clip = test_segment().await;
    let transcoder = LocalTranscoder::new(ffmpeg(), PRESET.into());
    let (width, height, frames) = crate::media::count_video(&clip.data).await;
    assert!(frames > 0);
    assert_eq!(
        transcoder.decoded_pixels(&clip.data).await.expect("probed"),
        u64::from(width) * u64::from(height) * frames
    );
    assert!(transcoder.decoded_pixels(b"not a segment").await.is_err());
}
