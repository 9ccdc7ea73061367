//! Perceptual hashes (MPEG-7 video signatures, capability 14) of renditions, as a verifying
//! go-livepeer gateway asks for them with `SegData.calc_perceptual_hash`.

use hyper::StatusCode;
use livepeer_gateway::client::OrchestratorClient;
use livepeer_media::{
    CancellationToken, InputFormat, SignatureMatch, TranscodeOptions, VideoSignature,
    compare_signatures,
};
use livepeer_objectstore::{FetchPolicy, StoreUrl};
use livepeer_primitives::Capability;
use livepeer_proto::convert::capabilities_from_net;
use livepeer_proto::net;
use livepeer_testing::s3::S3Server;

use crate::*;

/// The renditions of a `TranscodeResult`, or a panic with its error.
fn segments(result: net::TranscodeResult) -> Vec<net::TranscodedSegmentData> {
    match result.result {
        Some(net::transcode_result::Result::Data(data)) => data.segments,
        other => panic!("expected renditions, got {other:?}"),
    }
}

/// The signatures this machine's ffmpeg computes for `data` in `ladder`, independently of the
/// orchestrator.
async fn local_signatures(
    data: &[u8],
    ladder: &[livepeer_primitives::profile::VideoProfile],
) -> Vec<Vec<u8>> {
    let opts = TranscodeOptions {
        preset: PRESET.into(),
        input_format: InputFormat::MpegTs,
        calc_signature: true,
        ..TranscodeOptions::default()
    };
    ffmpeg()
        .transcode(data, ladder, &opts, &CancellationToken::new())
        .await
        .expect("local transcode")
        .into_iter()
        .map(|r| r.signature.expect("a local signature").to_vec())
        .collect()
}

#[tokio::test]
async fn the_software_transcoder_advertises_mpeg7_signatures() {
    let orch = Orch::start(|_| {}).await;
    let info = get_orchestrator(&OrchestratorClient::new(), &orch.uri)
        .await
        .expect("GetOrchestrator");
    let caps = capabilities_from_net(info.capabilities.as_ref());
    assert!(caps.bitstring.contains(Capability::Mpeg7VideoSignature));
    orch.stop().await;
}

#[tokio::test]
async fn each_rendition_gets_a_hash_url_when_asked_and_none_otherwise() {
    let orch = Orch::start(|_| {}).await;
    let client = OrchestratorClient::new();
    let clip = test_segment().await;
    let ladder = profiles(&[P144, "P240p30fps16x9"]);
    let token = new_session(&client, &orch.uri).await;

    let mut seg = seg_for(&token, 0, &clip.data, clip.duration, &ladder);
    seg.calc_perceptual_hash = true;
    let hashed = segments(transcode(&client, &orch.base, &seg, clip.data.clone()).await);
    assert_eq!(hashed.len(), ladder.len());
    let local = local_signatures(&clip.data, &ladder).await;
    for ((segment, profile), local) in hashed.iter().zip(&ladder).zip(&local) {
        let what = &profile.name;
        assert_eq!(
            segment.perceptual_hash_url,
            format!(
                "{}/stream/{}/{}/0.ts.phash",
                orch.base, token.session_id, profile.name
            ),
            "{what}"
        );
        let (status, hash) = get(&client, &segment.perceptual_hash_url).await;
        assert_eq!(status, StatusCode::OK, "{what}");
        let sig = VideoSignature::decode(&hash).expect("the hash is an MPEG-7 signature");
        let (_, rendition) = get(&client, &segment.url).await;
        let (width, height, frames) = count_video(&rendition).await;
        assert_eq!((sig.width(), sig.height()), (width, height), "{what}");
        assert_eq!(sig.frame_count() as u64, frames, "{what}");
        // What a verifying gateway compares: the same as an honest transcode of its own.
        assert_eq!(hash.as_ref(), local.as_slice(), "{what}");
        assert_eq!(
            compare_signatures(&hash, local).expect("compares"),
            SignatureMatch::Whole,
            "{what}"
        );
    }

    // Without the flag: no hash, and none served.
    let plain = seg_for(&token, 1, &clip.data, clip.duration, &ladder);
    let plain = segments(transcode(&client, &orch.base, &plain, clip.data.clone()).await);
    assert!(plain.iter().all(|s| s.perceptual_hash_url.is_empty()));
    let (status, _) = get(
        &client,
        &format!(
            "{}/stream/{}/{P144}/1.ts.phash",
            orch.base, token.session_id
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    orch.stop().await;
}

#[tokio::test]
async fn hashes_land_in_the_gateways_bucket_next_to_their_renditions() {
    let s3 = S3Server::start("renditions").await;
    let store = StoreUrl::parse(&s3.store_url()).expect("the store URL parses");
    let orch = Orch::start(|c| c.fetch_policy = FetchPolicy::private_networks()).await;
    let client = OrchestratorClient::new();
    let clip = test_segment().await;
    let ladder = profiles(&[P144]);
    let token = new_session(&client, &orch.uri).await;
    let prefix = format!("it-stream/{}", token.session_id);
    let mut seg = seg_for(&token, 3, &clip.data, clip.duration, &ladder);
    seg.storage = vec![store.session(&prefix).to_net()];
    seg.calc_perceptual_hash = true;

    let stored = segments(transcode(&client, &orch.base, &seg, clip.data.clone()).await);
    let key = format!("{prefix}/{P144}/3.ts.phash");
    assert_eq!(
        stored[0].perceptual_hash_url,
        format!("{}/{key}", s3.base_url())
    );
    let hash = s3.object(&key).expect("the hash is in the bucket");
    let local = local_signatures(&clip.data, &ladder).await;
    assert_eq!(
        compare_signatures(&hash, &local[0]).expect("compares"),
        SignatureMatch::Whole
    );
    assert!(s3.object(&format!("{prefix}/{P144}/3.ts")).is_some());
    orch.stop().await;
}
