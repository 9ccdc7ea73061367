//! `-startupAvailabilityCheck`: once the orchestrator listens, it calls `Ping` on its own
//! service URI, as gateways will reach it, and checks that the answer is its own signature
//! (go-livepeer `cmd/livepeer/starter/starter.go`, `server/rpc.go:CheckOrchestratorAvailability`).
//! A node whose service URI does not lead back to itself shuts down instead of advertising an
//! address no gateway can use.

use std::time::SystemTime;

use alloy_primitives::keccak256;
use anyhow::anyhow;
use hyper::Uri;
use livepeer_gateway::client::OrchestratorClient;
use livepeer_pm::LocalSigner;

/// The ping value go-livepeer sends: keccak256 of the node's signature over the current time as
/// text (empty signature off chain, so keccak256 of nothing). Its only job is to be fresh.
fn ping_value(signer: Option<&LocalSigner>, now: SystemTime) -> Vec<u8> {
    let stamp = format!("{now:?}");
    let signature = signer
        .map(|s| s.sign(&keccak256(stamp.as_bytes())).to_vec())
        .unwrap_or_default();
    keccak256(&signature).to_vec()
}

/// Pings the orchestrator at `service_uri` and checks the answer: signed by `signer`'s address
/// over keccak256(ping) on chain; off chain (no signer) any answer will do, since go-livepeer's
/// off-chain `VerifySig` accepts everything.
///
/// Errors: the line the node stops with, go-livepeer's "Orchestrator not available at <uri>
/// via grpc ping check" followed by the reason (unreachable, or signed by someone else).
pub async fn check_orchestrator_availability(
    client: &OrchestratorClient,
    service_uri: &str,
    signer: Option<&LocalSigner>,
) -> anyhow::Result<()> {
    let unavailable = |reason: String| {
        anyhow!(
            "Orchestrator not available at {service_uri} via grpc ping check ({reason}); shutting down"
        )
    };
    let uri: Uri = service_uri
        .parse()
        .map_err(|e: hyper::http::uri::InvalidUri| unavailable(format!("bad service URI: {e}")))?;
    let value = ping_value(signer, SystemTime::now());
    let answer = client
        .ping(&uri, value.clone())
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    let Some(signer) = signer else {
        return Ok(());
    };
    let hash = livepeer_proto::signing::ping_hash(&value);
    livepeer_pm::verify_signature(signer.address(), &hash, &answer).map_err(|e| {
        unavailable(format!(
            "the answer is not signed by {}: {e}",
            signer.address().to_checksum(None)
        ))
    })
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ping_value_is_fresh_and_32_bytes() {
        let signer = LocalSigner::random();
        let t0 = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let t1 = t0 + std::time::Duration::from_nanos(1);
        let a = ping_value(Some(&signer), t0);
        assert_eq!(a.len(), 32);
        assert_ne!(a, ping_value(Some(&signer), t1));
        // Off chain the signature is empty, as go-livepeer's Sign returns nothing there.
        assert_eq!(ping_value(None, t0), keccak256([]).to_vec());
    }
}
