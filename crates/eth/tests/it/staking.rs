//! Staking on a real anvil (protocol.md §2.3, §2.4, §4): bonding, unbonding locks and the
//! unbonding period, the stake-sorted transcoder pool with next-round activation and eviction,
//! and the round lock on rewardCut/feeShare changes.

use alloy::eips::BlockId;
use alloy::primitives::{Address, U256};
use livepeer_eth::deployment::DevParams;

use crate::support::{
    Account, Protocol, UNBONDING_PERIOD, assert_reverts, lpt, send, start, test_params,
};

/// `delegatorStatus` values (protocol.md §2.1).
const PENDING: u8 = 0;
const BONDED: u8 = 1;
const UNBONDED: u8 = 2;

async fn status(p: &Protocol, a: Address) -> u8 {
    p.bonding
        .delegatorStatus(a)
        .call()
        .await
        .expect("delegatorStatus")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bonded_stake_unbonds_into_locks_that_rebond_or_withdraw_after_the_unbonding_period() {
    let devnet = start(1, test_params()).await;
    let p = Protocol::new(&devnet);
    let orch = Account::devnet(&devnet, "orchestrator", 0);
    let d = Account::funded(&devnet, lpt(100)).await;
    let balance = |who: Address| {
        let token = p.token.clone();
        async move { token.balanceOf(who).call().await.expect("balance") }
    };
    let orch_stake = p.stake(orch.address).await;
    assert_eq!(orch_stake, lpt(1_000));

    // Nothing bonded: nothing to unbond.
    assert_reverts(
        send(d.bonding.unbond(lpt(1)), "unbond").await,
        "caller must be bonded",
    );

    // Bond 100 LPT to the orchestrator: the tokens move to the Minter, the bond is Pending until
    // the next round, and the orchestrator's stake (next round's pool) grows.
    let r0 = p.round().await;
    let minter_before = balance(devnet.info.contracts.minter).await;
    send(d.bonding.bond(lpt(100), orch.address), "bond")
        .await
        .expect("bond");
    assert_eq!(balance(d.address).await, U256::ZERO);
    assert_eq!(
        balance(devnet.info.contracts.minter).await - minter_before,
        lpt(100)
    );
    let info = p.bonding.getDelegator(d.address).call().await.expect("d");
    assert_eq!(
        (info.bondedAmount, info.delegateAddress, info.startRound),
        (lpt(100), orch.address, U256::from(r0 + 1))
    );
    assert_eq!(status(&p, d.address).await, PENDING);
    assert_eq!(p.stake(orch.address).await, orch_stake + lpt(100));
    // Pending stake cannot be unbonded, only moved.
    assert_reverts(
        send(d.bonding.unbond(lpt(1)), "unbond").await,
        "caller must be bonded",
    );

    let r1 = p.next_round().await;
    assert_eq!(status(&p, d.address).await, BONDED);
    assert_reverts(
        send(d.bonding.unbond(U256::ZERO), "unbond").await,
        "unbond amount must be greater than 0",
    );
    assert_reverts(
        send(d.bonding.unbond(lpt(101)), "unbond").await,
        "amount is greater than bonded amount",
    );

    // Unbond 40: lock 0, withdrawable after the unbonding period.
    send(d.bonding.unbond(lpt(40)), "unbond")
        .await
        .expect("unbond");
    let lock = p
        .bonding
        .getDelegatorUnbondingLock(d.address, U256::ZERO)
        .call()
        .await
        .expect("lock");
    assert_eq!(
        (lock.amount, lock.withdrawRound),
        (lpt(40), U256::from(r1 + UNBONDING_PERIOD))
    );
    assert_eq!(p.stake(orch.address).await, orch_stake + lpt(60));
    assert_reverts(
        send(d.bonding.withdrawStake(U256::ZERO), "withdrawStake").await,
        "withdraw round must be before or equal to the current round",
    );

    // Rebond it: the stake is back and the lock is consumed.
    send(d.bonding.rebond(U256::ZERO), "rebond")
        .await
        .expect("rebond");
    let info = p.bonding.getDelegator(d.address).call().await.expect("d");
    assert_eq!(info.bondedAmount, lpt(100));
    assert_eq!(p.stake(orch.address).await, orch_stake + lpt(100));
    let valid = p
        .bonding
        .isValidUnbondingLock(d.address, U256::ZERO)
        .call()
        .await
        .expect("valid");
    assert!(!valid);
    assert_reverts(
        send(d.bonding.rebond(U256::ZERO), "rebond").await,
        "invalid unbonding lock ID",
    );
    assert_reverts(
        send(d.bonding.withdrawStake(U256::ZERO), "withdrawStake").await,
        "invalid unbonding lock ID",
    );

    // Unbond everything in two locks: the delegator is Unbonded, with no delegate.
    send(d.bonding.unbond(lpt(30)), "unbond")
        .await
        .expect("unbond 30");
    send(d.bonding.unbond(lpt(70)), "unbond")
        .await
        .expect("unbond 70");
    assert_eq!(status(&p, d.address).await, UNBONDED);
    let info = p.bonding.getDelegator(d.address).call().await.expect("d");
    assert_eq!(
        (info.bondedAmount, info.delegateAddress),
        (U256::ZERO, Address::ZERO)
    );
    assert_eq!(p.stake(orch.address).await, orch_stake);
    assert_reverts(
        send(d.bonding.rebond(U256::from(1)), "rebond").await,
        "caller must be bonded",
    );

    // rebondFromUnbonded: lock 1 goes back to the orchestrator, Pending until the next round.
    send(
        d.bonding.rebondFromUnbonded(orch.address, U256::from(1)),
        "rebondFromUnbonded",
    )
    .await
    .expect("rebondFromUnbonded");
    let info = p.bonding.getDelegator(d.address).call().await.expect("d");
    assert_eq!(
        (info.bondedAmount, info.delegateAddress, info.startRound),
        (lpt(30), orch.address, U256::from(r1 + 1))
    );
    assert_eq!(status(&p, d.address).await, PENDING);
    assert_eq!(p.stake(orch.address).await, orch_stake + lpt(30));
    assert_reverts(
        send(
            d.bonding.rebondFromUnbonded(orch.address, U256::from(2)),
            "rebondFromUnbonded",
        )
        .await,
        "caller must be unbonded",
    );

    // Lock 2 (70 LPT) is withdrawable in round r1 + 2, not before.
    let r2 = p.next_round().await;
    assert!(r2 < r1 + UNBONDING_PERIOD);
    assert_reverts(
        send(d.bonding.withdrawStake(U256::from(2)), "withdrawStake").await,
        "withdraw round must be before or equal to the current round",
    );
    let r3 = p.next_round().await;
    assert_eq!(r3, r1 + UNBONDING_PERIOD);
    send(d.bonding.withdrawStake(U256::from(2)), "withdrawStake")
        .await
        .expect("withdraw after the unbonding period");
    assert_eq!(balance(d.address).await, lpt(70));
    assert_reverts(
        send(d.bonding.withdrawStake(U256::from(2)), "withdrawStake").await,
        "invalid unbonding lock ID",
    );
    // The rebonded 30 LPT stays bonded.
    assert_eq!(status(&p, d.address).await, BONDED);
    assert_eq!(p.pending(d.address).await.0, lpt(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_transcoder_pool_is_ordered_by_stake_and_follows_bonds() {
    let devnet = start(
        0,
        DevParams {
            num_active_transcoders: 3,
            ..test_params()
        },
    )
    .await;
    let p = Protocol::new(&devnet);
    let a = Account::orchestrator(&devnet, lpt(100)).await;
    let b = Account::orchestrator(&devnet, lpt(300)).await;
    let c = Account::orchestrator(&devnet, lpt(200)).await;
    assert_eq!(p.pool().await, vec![b.address, c.address, a.address]);
    let size: U256 = p
        .bonding
        .getTranscoderPoolSize()
        .call()
        .await
        .expect("size");
    assert_eq!(size, U256::from(3));
    let max: U256 = p
        .bonding
        .getTranscoderPoolMaxSize()
        .call()
        .await
        .expect("max");
    assert_eq!(max, U256::from(3));

    // A delegator's 250 LPT lift A to the top.
    let d = Account::funded(&devnet, lpt(250)).await;
    send(d.bonding.bond(lpt(250), a.address), "bond")
        .await
        .expect("bond");
    assert_eq!(p.stake(a.address).await, lpt(350));
    assert_eq!(p.pool().await, vec![a.address, b.address, c.address]);

    // Moving that stake to C (bond 0 to a new delegate) reorders the pool again.
    p.next_round().await;
    send(d.bonding.bond(U256::ZERO, c.address), "bond")
        .await
        .expect("move the bond");
    assert_eq!(p.stake(a.address).await, lpt(100));
    assert_eq!(p.stake(c.address).await, lpt(450));
    assert_eq!(p.pool().await, vec![c.address, b.address, a.address]);
    let next_total: U256 = p
        .bonding
        .nextRoundTotalActiveStake()
        .call()
        .await
        .expect("next total");
    assert_eq!(next_total, lpt(850));

    // An orchestrator that unbonds everything leaves the pool.
    let info = p.bonding.getDelegator(b.address).call().await.expect("b");
    send(b.bonding.unbond(info.bondedAmount), "unbond")
        .await
        .expect("unbond");
    assert_eq!(p.pool().await, vec![c.address, a.address]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joiner_past_num_active_transcoders_evicts_the_smallest_from_the_next_round() {
    // Two active orchestrators of 1000 LPT each fill a pool of 2.
    let devnet = start(
        2,
        DevParams {
            num_active_transcoders: 2,
            ..test_params()
        },
    )
    .await;
    let p = Protocol::new(&devnet);
    let o0 = Account::devnet(&devnet, "orchestrator", 0);
    let o1 = Account::devnet(&devnet, "orchestrator", 1);
    // Equal stakes: the newer entry goes first, so the oldest is the tail.
    assert_eq!(p.pool().await, vec![o1.address, o0.address]);
    assert!(p.is_active(o0.address).await && p.is_active(o1.address).await);

    // A joiner with an equal stake does not get in.
    let r = p.round().await;
    let joiner = Account::orchestrator(&devnet, lpt(1_000)).await;
    let registered: u8 = p
        .bonding
        .transcoderStatus(joiner.address)
        .call()
        .await
        .expect("status");
    assert_eq!(registered, 1, "registered");
    assert_eq!(p.pool().await, vec![o1.address, o0.address]);

    // With one more LPT it evicts the smallest (the oldest of the two equal stakes).
    let token = livepeer_eth::contracts::LivepeerToken::new(
        devnet.info.contracts.livepeer_token,
        devnet.provider.clone(),
    );
    send(token.mint(joiner.address, lpt(1)), "mint")
        .await
        .expect("mint");
    send(joiner.bonding.bond(lpt(1), joiner.address), "bond")
        .await
        .expect("bond");
    assert_eq!(p.pool().await, vec![joiner.address, o1.address]);
    let evicted = p
        .bonding
        .getTranscoder(o0.address)
        .call()
        .await
        .expect("o0");
    assert_eq!(evicted.deactivationRound, U256::from(r + 1));
    let joined = p
        .bonding
        .getTranscoder(joiner.address)
        .call()
        .await
        .expect("joiner");
    assert_eq!(joined.activationRound, U256::from(r + 1));
    let next_total: U256 = p
        .bonding
        .nextRoundTotalActiveStake()
        .call()
        .await
        .expect("next total");
    assert_eq!(next_total, lpt(2_001));

    // The change takes effect at the next round: the evicted orchestrator serves out this round,
    // the joiner is not active until the next one.
    assert_eq!(p.round().await, r);
    assert!(
        p.is_active(o0.address).await,
        "evicted: active to round end"
    );
    assert!(!p.is_active(joiner.address).await, "joiner: not yet active");
    p.next_round().await;
    assert!(!p.is_active(o0.address).await, "evicted: inactive");
    assert!(p.is_active(joiner.address).await, "joiner: active");
    assert!(p.is_active(o1.address).await);
    let (_, total) = p.mintable_and_total().await;
    assert_eq!(total, lpt(2_001), "the round's active stake");
    // The evicted orchestrator is still registered but can no longer call reward.
    assert_reverts(
        send(o0.bonding.reward(), "reward").await,
        "caller must be an active transcoder",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reward_cut_and_fee_share_cannot_change_in_the_round_lock_window() {
    let devnet = start(1, test_params()).await;
    let p = Protocol::new(&devnet);
    let orch = Account::devnet(&devnet, "orchestrator", 0);
    let params = |rc: u64, fs: u64| orch.bonding.transcoder(U256::from(rc), U256::from(fs));
    let cut_and_share = || async {
        let t = p
            .bonding
            .getTranscoder(orch.address)
            .call()
            .await
            .expect("transcoder");
        (t.rewardCut, t.feeShare)
    };

    // An active orchestrator must call reward first.
    assert_reverts(
        send(params(200_000, 300_000), "transcoder").await,
        "caller can't be active or must have already called reward for the current round",
    );
    send(orch.bonding.reward(), "reward").await.expect("reward");
    send(params(200_000, 300_000), "transcoder")
        .await
        .expect("outside the lock window");
    assert_eq!(
        cut_and_share().await,
        (U256::from(200_000), U256::from(300_000))
    );
    assert_reverts(
        send(params(1_000_001, 0), "transcoder").await,
        "invalid rewardCut percentage",
    );
    assert_reverts(
        send(params(0, 1_000_001), "transcoder").await,
        "invalid feeShare percentage",
    );

    // The lock window is the last roundLength · roundLockAmount / 1e6 blocks of the round.
    let length: U256 = p.rounds.roundLength().call().await.expect("length");
    let lock: U256 = p.rounds.roundLockAmount().call().await.expect("lock");
    let start_block: U256 = p
        .rounds
        .currentRoundStartBlock()
        .call()
        .await
        .expect("start");
    let (length, start_block): (u64, u64) = (length.saturating_to(), start_block.saturating_to());
    let locked_blocks = length * lock.saturating_to::<u64>() / 1_000_000;
    assert_eq!(locked_blocks, 4, "10 % of 40 blocks");
    let locked_from = start_block + length - locked_blocks;
    let now = p.block().await;
    assert!(now < locked_from - 1, "still room before the window");
    p.mine(locked_from - now).await;
    assert_eq!(p.block().await, locked_from);
    for (block, locked) in [(locked_from - 1, false), (locked_from, true)] {
        let at: bool = p
            .rounds
            .currentRoundLocked()
            .block(BlockId::number(block))
            .call()
            .await
            .expect("locked");
        assert_eq!(at, locked, "block {block}");
    }

    assert_reverts(
        send(params(300_000, 400_000), "transcoder").await,
        "can't update transcoder params, current round is locked",
    );
    assert_eq!(
        cut_and_share().await,
        (U256::from(200_000), U256::from(300_000)),
        "unchanged"
    );

    // The next round is unlocked again.
    p.next_round().await;
    let locked: bool = p.rounds.currentRoundLocked().call().await.expect("locked");
    assert!(!locked);
    send(orch.bonding.reward(), "reward").await.expect("reward");
    send(params(300_000, 400_000), "transcoder")
        .await
        .expect("unlocked");
    assert_eq!(
        cut_and_share().await,
        (U256::from(300_000), U256::from(400_000))
    );
}
