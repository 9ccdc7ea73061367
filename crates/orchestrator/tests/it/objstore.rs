//! Segments sent by URL and renditions written to the gateway's object storage
//! (capabilities 5 and 6), against a local HTTP server and a real S3 server (s3s-fs).

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::StatusCode;
use livepeer_gateway::client::OrchestratorClient;
use livepeer_media::output_resolution;
use livepeer_objectstore::{FetchPolicy, StoreUrl};
use livepeer_proto::headers::{PAYMENT_HEADER, SEGMENT_HEADER, encode_header};
use livepeer_proto::net;
use livepeer_testing::media::CLIP_SIZE;
use livepeer_testing::s3::{S3Server, SECRET_KEY};
use prost::Message;

use crate::*;

/// A local HTTP server: `/seg.ts` serves `clip`, `/slow.ts` never answers, anything else 404.
async fn serve_segment(clip: Bytes) -> (String, tokio::task::JoinHandle<()>) {
    use axum::routing::get;
    let app = axum::Router::new()
        .route("/seg.ts", get(move || async move { clip.clone() }))
        .route(
            "/slow.ts",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(60)).await;
                "late"
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let base = format!("http://{}", listener.local_addr().expect("bound address"));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, task)
}

/// `POST /segment` whose body is `url`, as a gateway with an object store sends it.
async fn post_url(
    client: &OrchestratorClient,
    base: &str,
    seg: &net::SegData,
    url: &str,
) -> (StatusCode, Bytes) {
    let request = hyper::Request::post(format!("{base}/segment"))
        .header(hyper::header::CONTENT_TYPE, "application/vnd+livepeer.uri")
        .header(SEGMENT_HEADER, encode_header(seg))
        .header(PAYMENT_HEADER, "")
        .body(tonic::body::Body::new(Full::new(Bytes::from(
            url.to_string(),
        ))))
        .expect("a valid request");
    send(client, request).await
}

fn lan(config: &mut livepeer_orchestrator::OrchestratorConfig) {
    config.fetch_policy = FetchPolicy::private_networks();
    config.segment_url_timeout = Duration::from_secs(1);
}

#[tokio::test]
async fn segment_sent_by_url_is_downloaded_and_transcoded() {
    let clip = test_segment().await;
    let (http_base, server) = serve_segment(clip.data.clone()).await;
    let orch = Orch::start(lan).await;
    let client = OrchestratorClient::new();
    let token = new_session(&client, &orch.uri).await;
    let seg = seg_for(&token, 0, &clip.data, clip.duration, &profiles(&[P144]));

    let (status, answer) =
        post_url(&client, &orch.base, &seg, &format!("{http_base}/seg.ts")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let result = net::TranscodeResult::decode(answer.as_ref()).expect("a TranscodeResult");
    check_renditions(&client, &orch.base, &token, 0, &result, &profiles(&[P144])).await;
    server.abort();
    orch.stop().await;
}

#[tokio::test]
async fn segment_urls_that_fail_or_are_refused_get_400() {
    let clip = test_segment().await;
    let (http_base, server) = serve_segment(clip.data.clone()).await;
    let orch = Orch::start(lan).await;
    let strict = Orch::start(|c| c.segment_url_timeout = Duration::from_secs(1)).await;
    let client = OrchestratorClient::new();
    let token = new_session(&client, &orch.uri).await;
    let seg = seg_for(&token, 0, &clip.data, clip.duration, &profiles(&[P144]));

    for (what, url) in [
        ("404", format!("{http_base}/missing.ts")),
        (
            "nothing listening",
            format!("{}/seg.ts", dead_orchestrator()).replace("https", "http"),
        ),
        ("file scheme", "file:///etc/passwd".to_string()),
        ("other scheme", "ftp://127.0.0.1/seg.ts".to_string()),
        ("credentials", http_base.replace("http://", "http://u:p@")),
        ("not a URL", "seg.ts".to_string()),
    ] {
        let (status, answer) = post_url(&client, &orch.base, &seg, &url).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{what}");
        assert_eq!(
            String::from_utf8_lossy(&answer).trim(),
            "BadRequest",
            "{what}"
        );
    }

    // A download that does not finish in time is 400 too, once the deadline passes.
    let started = Instant::now();
    let (status, _) = post_url(&client, &orch.base, &seg, &format!("{http_base}/slow.ts")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "slow URL");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "gave up at the deadline"
    );

    // By default loopback (and private) addresses are refused: the request never goes out.
    let strict_token = new_session(&client, &strict.uri).await;
    let strict_seg = seg_for(
        &strict_token,
        0,
        &clip.data,
        clip.duration,
        &profiles(&[P144]),
    );
    for url in [
        format!("{http_base}/seg.ts"),
        format!("{}/seg.ts", http_base.replace("127.0.0.1", "localhost")),
        "http://169.254.169.254/latest/meta-data/".to_string(),
    ] {
        let (status, _) = post_url(&client, &strict.base, &strict_seg, &url).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{url} is refused by default"
        );
    }

    // Bytes that are not the signed segment are 403, as for a body.
    let other = seg_for(
        &token,
        1,
        &Bytes::from_static(b"other"),
        clip.duration,
        &profiles(&[P144]),
    );
    let (status, _) = post_url(&client, &orch.base, &other, &format!("{http_base}/seg.ts")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The session still works after all that.
    let (status, _) = post_url(&client, &orch.base, &seg, &format!("{http_base}/seg.ts")).await;
    assert_eq!(status, StatusCode::OK);
    server.abort();
    orch.stop().await;
    strict.stop().await;
}

#[tokio::test]
async fn renditions_land_in_the_gateways_bucket_and_play() {
    let s3 = S3Server::start("renditions").await;
    let store = StoreUrl::parse(&s3.store_url()).expect("the store URL parses");
    let orch = Orch::start(lan).await;
    let client = OrchestratorClient::new();
    let clip = test_segment().await;
    let ladder = profiles(&[P144, "P240p30fps16x9"]);
    let token = new_session(&client, &orch.uri).await;
    let prefix = format!("it-stream/{}", token.session_id);
    let mut seg = seg_for(&token, 3, &clip.data, clip.duration, &ladder);
    seg.storage = vec![store.session(&prefix).to_net()];

    let result = transcode(&client, &orch.base, &seg, clip.data.clone()).await;
    let data = match result.result {
        Some(net::transcode_result::Result::Data(data)) => data,
        other => panic!("expected renditions, got {other:?}"),
    };
    assert_eq!(data.segments.len(), ladder.len());
    let http = reqwest_client();
    for (segment, profile) in data.segments.iter().zip(&ladder) {
        let key = format!("{prefix}/{}/3.ts", profile.name);
        assert_eq!(segment.url, format!("{}/{key}", s3.base_url()));
        let stored = s3.object(&key).expect("the rendition is in the bucket");
        // Readable from its URL, as a player fetches it, and a real video of the profile.
        let fetched = http
            .get(&segment.url)
            .send()
            .await
            .expect("GET the rendition");
        assert_eq!(fetched.status(), 200);
        let fetched = fetched.bytes().await.expect("the body");
        assert_eq!(fetched.as_ref(), stored.as_slice());
        let (width, height, frames) = count_video(&fetched).await;
        assert_eq!(
            (width, height),
            output_resolution(CLIP_SIZE.0, CLIP_SIZE.1, profile)
        );
        assert!(frames > 0);
        assert_eq!(
            segment.pixels,
            i64::from(width) * i64::from(height) * i64::try_from(frames).expect("fits")
        );
    }
    // Nothing was kept in the orchestrator's own memory store for this session.
    let (status, _) = get(
        &client,
        &format!("{}/stream/{}/{P144}/3.ts", orch.base, token.session_id),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    orch.stop().await;
}

#[tokio::test]
async fn bad_storage_credentials_give_the_stores_error() {
    let s3 = S3Server::start("renditions").await;
    let wrong =
        StoreUrl::parse(&s3.store_url_with(livepeer_testing::s3::ACCESS_KEY, "not-the-secret"))
            .expect("the store URL parses");
    let orch = Orch::start(lan).await;
    let client = OrchestratorClient::new();
    let clip = test_segment().await;
    let token = new_session(&client, &orch.uri).await;
    let mut seg = seg_for(&token, 0, &clip.data, clip.duration, &profiles(&[P144]));
    seg.storage = vec![wrong.session("it-stream").to_net()];

    let result = transcode(&client, &orch.base, &seg, clip.data.clone()).await;
    match result.result {
        Some(net::transcode_result::Result::Error(message)) => {
            assert!(message.contains("SignatureDoesNotMatch"), "{message}");
        }
        other => panic!("expected the store's error, got {other:?}"),
    }
    assert!(s3.keys().is_empty(), "nothing stored: {:?}", s3.keys());
    assert_ne!(SECRET_KEY, "not-the-secret");

    // A storage host on a refused address is never contacted: the policy stops it.
    let strict = Orch::start(|_| {}).await;
    let token = new_session(&client, &strict.uri).await;
    let mut seg = seg_for(&token, 0, &clip.data, clip.duration, &profiles(&[P144]));
    let right = StoreUrl::parse(&s3.store_url()).expect("the store URL parses");
    seg.storage = vec![right.session("it-stream").to_net()];
    let result = transcode(&client, &strict.base, &seg, clip.data.clone()).await;
    assert!(
        matches!(&result.result, Some(net::transcode_result::Result::Error(m)) if m.contains("not allowed")),
        "{:?}",
        result.result
    );
    assert!(s3.keys().is_empty());
    orch.stop().await;
    strict.stop().await;
}

fn reqwest_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("a client")
}
