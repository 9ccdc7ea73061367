//! One port for gRPC and HTTP, over TLS by default and over cleartext h2c on request.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::Full;

use hyper::StatusCode;
use livepeer_gateway::client::OrchestratorClient;
use livepeer_orchestrator::auth::{AUTH_TOKEN_VALIDITY, is_session_id};
use livepeer_orchestrator::{LIVEPEER_VERSION, software_capabilities};
use livepeer_proto::convert::capabilities_from_net;

use crate::*;

#[tokio::test]
async fn one_tls_port_answers_grpc_and_http() {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let orch = Orch::start(|c| c.data_dir = Some(data_dir.path().to_path_buf())).await;
    assert_eq!(orch.base, format!("https://127.0.0.1:{}", orch.addr.port()));
    let client = OrchestratorClient::new();

    // gRPC on the TLS port.
    let info = get_orchestrator(&client, &orch.uri)
        .await
        .expect("GetOrchestrator over TLS");
    assert_eq!(info.transcoder, orch.base);
    let caps = capabilities_from_net(info.capabilities.as_ref());
    assert_eq!(caps.bitstring, software_capabilities().bitstring);
    assert_eq!(caps.version, LIVEPEER_VERSION);
    let token = info.auth_token.expect("auth token");
    assert!(is_session_id(&token.session_id), "{}", token.session_id);
    assert_eq!(token.token.len(), 32, "HMAC-SHA256");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64;
    let validity = AUTH_TOKEN_VALIDITY.as_secs() as i64;
    assert!(
        (now + validity - 5..=now + validity + 5).contains(&token.expiration),
        "expires in 30 minutes: {} vs now {now}",
        token.expiration
    );
    // Every GetOrchestrator opens its own session ID.
    let again = new_session(&client, &orch.uri).await;
    assert_ne!(again.session_id, token.session_id);

    // HTTP on the same TLS port.
    let (status, body) = get(&client, &format!("{}/healthz", orch.base)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body.as_ref(), b"ok");
    let (status, _) = get(
        &client,
        &format!("{}/stream/abcd0123/P144p/0.ts", orch.base),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The port speaks TLS only: cleartext HTTP/2 to it gets no answer.
    let request = hyper::Request::get(format!("http://{}/healthz", orch.addr))
        .body(tonic::body::Body::new(Full::new(Bytes::new())))
        .expect("a valid request");
    let cleartext = tokio::time::timeout(Duration::from_secs(10), client.send(request))
        .await
        .expect("cleartext attempt ends within 10 s");
    assert!(
        cleartext.is_err(),
        "cleartext request to the TLS port was answered"
    );

    // The certificate is written to the data directory.
    for file in ["cert.pem", "key.pem"] {
        let pem = std::fs::read_to_string(data_dir.path().join(file)).expect(file);
        assert!(pem.starts_with("-----BEGIN "), "{file}: {pem}");
    }
    orch.stop().await;
}

#[tokio::test]
async fn cleartext_http_address_serves_grpc_and_segments_over_h2c() {
    let orch = Orch::start(|c| c.http_addr = Some("http://127.0.0.1:0".into())).await;
    assert_eq!(orch.base, format!("http://127.0.0.1:{}", orch.addr.port()));
    let client = OrchestratorClient::new();

    let info = get_orchestrator(&client, &orch.uri)
        .await
        .expect("GetOrchestrator over h2c");
    assert_eq!(info.transcoder, orch.base);
    let token = info.auth_token.expect("auth token");

    let clip = test_segment().await;
    let seg = seg_for(&token, 4, &clip.data, clip.duration, &profiles(&[P144]));
    let result = transcode(&client, &orch.base, &seg, clip.data.clone()).await;
    let urls = check_renditions(&client, &orch.base, &token, 4, &result, &profiles(&[P144])).await;
    assert!(urls[0].starts_with("http://"), "{}", urls[0]);

    let (status, body) = get(&client, &format!("{}/healthz", orch.base)).await;
    assert_eq!((status, body.as_ref()), (StatusCode::OK, b"ok".as_slice()));
    orch.stop().await;
}
