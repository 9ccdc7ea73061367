//! The on-chain pool path against real orchestrators: a pool walk recorded in the SQLite
//! cache, the round's candidates read back, and probed with `GetOrchestrator`. Off-chain
//! orchestrators send neither a price nor ticket params, so none of them is a candidate, and
//! every rejection names its reason and keeps the pool member's address and stake.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use alloy_primitives::{Address, U256};
use livepeer_gateway::GatewayError;
use livepeer_gateway::client::OrchestratorClient;
use livepeer_gateway::discovery::DEFAULT_DISCOVERY_TIMEOUT;
use livepeer_gateway::dispatch::job_capabilities;
use livepeer_gateway::pool::{OrchestratorCache, PoolMember, PoolWalk, probe_pool};

use crate::*;

const ROUND: u64 = 10;

fn member(byte: u8, service_uri: &str, stake: u64, activation_round: u64) -> PoolMember {
    PoolMember {
        address: Address::repeat_byte(byte),
        service_uri: service_uri.to_string(),
        stake: U256::from(stake) * U256::from(10u64).pow(U256::from(18u64)),
        activation_round,
        deactivation_round: u64::MAX,
    }
}

#[tokio::test]
async fn offchain_orchestrators_in_the_pool_are_rejected_for_no_price() {
    let a = Orch::start(|_| {}).await;
    let b = Orch::start(|_| {}).await;
    let walk = PoolWalk {
        round: ROUND,
        members: vec![
            member(0xa1, &a.base, 3_000, 1),
            member(0xb2, &b.base, 7_000, 1),
            // Nothing listens on port 1.
            member(0xc3, "http://127.0.0.1:1", 5, 1),
            member(0xd4, "ftp://orch.example:8935", 5, 1),
            // Activates next round: not probed.
            member(0xe5, &a.base, 9_000, ROUND + 1),
        ],
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let cache = OrchestratorCache::open_in(dir.path()).expect("cache opens");
    let now = SystemTime::now();
    cache.record_walk(&walk, now).expect("walk recorded");
    let members: Vec<PoolMember> = cache
        .candidates(ROUND, now)
        .expect("candidates read back")
        .iter()
        .map(|row| row.member())
        .collect();
    assert_eq!(
        members,
        walk.members[..4].to_vec(),
        "the round's active members"
    );

    let validated = AtomicUsize::new(0);
    let job = job_capabilities(&profiles(&[P144]), false);
    let request = livepeer_proto::net::OrchestratorRequest {
        capabilities: Some(livepeer_proto::convert::capabilities_to_net(&job)),
        ..Default::default()
    };
    let probe = probe_pool(
        &OrchestratorClient::new(),
        &members,
        &request,
        &job,
        |_| {
            validated.fetch_add(1, Ordering::Relaxed);
            Ok(())
        },
        DEFAULT_DISCOVERY_TIMEOUT,
    )
    .await;

    assert!(probe.candidates.is_empty(), "{:?}", probe.candidates);
    assert_eq!(probe.rejected.len(), members.len(), "{:?}", probe.rejected);
    for rejection in &probe.rejected {
        let member = &rejection.member;
        assert!(
            members.contains(member),
            "the rejection keeps the pool member as walked: {member:?}"
        );
        let byte = member.address.0[0];
        let reason = &rejection.reason;
        let expected = match byte {
            // Answered, compatible, with a transcoder URI, but unpriced.
            0xa1 | 0xb2 => matches!(reason, GatewayError::MissingPrice),
            0xc3 => matches!(reason, GatewayError::Unreachable(_)),
            0xd4 => matches!(reason, GatewayError::InvalidServiceUri(_)),
            _ => false,
        };
        assert!(expected, "member {byte:#x}: {reason}");
    }
    assert_eq!(
        probe
            .rejected
            .iter()
            .find(|r| r.member.address == Address::repeat_byte(0xb2))
            .map(|r| r.member.stake),
        Some(walk.members[1].stake)
    );
    assert_eq!(
        validated.load(Ordering::Relaxed),
        0,
        "ticket params are not checked for an unpriced answer"
    );
    a.stop().await;
    b.stop().await;
}
