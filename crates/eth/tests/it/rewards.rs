//! Rewards and earnings on a real anvil (protocol.md §2.3 "rewardWithHint", §2.5, §2.6, §5):
//! one reward call per active orchestrator per round, the Minter's inflation rule and each
//! orchestrator's stake share of the mintable tokens, the rewardCut split, and LIP-36
//! `pendingStake` / `pendingFees` / `claimEarnings` against the reference model in
//! [`crate::support::lip36`].

use alloy::primitives::{Address, U256, utils::parse_ether};
use alloy::providers::Provider;
use livepeer_eth::deployment::DevParams;

use crate::support::lip36::{Lip36, Pool, one, pc, perc_1e6, perc_1e9, perc_of};
use crate::support::{Account, Gateway, Protocol, assert_reverts, lpt, send, start, test_params};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reward_is_called_once_per_round_by_active_orchestrators_only() {
    let devnet = start(1, test_params()).await;
    let p = Protocol::new(&devnet);
    let orch = Account::devnet(&devnet, "orchestrator", 0);
    let stranger = Account::funded(&devnet, U256::ZERO).await;
    assert_reverts(
        send(stranger.bonding.reward(), "reward").await,
        "caller must be an active transcoder",
    );
    // Registered this round: active, and so entitled to reward, only from the next one.
    let newcomer = Account::orchestrator(&devnet, lpt(500)).await;
    assert_reverts(
        send(newcomer.bonding.reward(), "reward").await,
        "caller must be an active transcoder",
    );

    let r = p.round().await;
    let before = p.stake(orch.address).await;
    send(orch.bonding.reward(), "reward")
        .await
        .expect("first reward of the round");
    let after = p.stake(orch.address).await;
    assert!(after > before, "the reward compounds into the stake");
    let t = p
        .bonding
        .getTranscoder(orch.address)
        .call()
        .await
        .expect("transcoder");
    assert_eq!(t.lastRewardRound, U256::from(r));
    assert_reverts(
        send(orch.bonding.reward(), "reward").await,
        "caller has already called reward for the current round",
    );
    assert_eq!(p.stake(orch.address).await, after, "nothing minted twice");

    p.next_round().await;
    for o in [&orch, &newcomer] {
        send(o.bonding.reward(), "reward")
            .await
            .expect("a new round, a new reward");
        assert_reverts(
            send(o.bonding.reward(), "reward").await,
            "caller has already called reward for the current round",
        );
    }
    let (mintable, _) = p.mintable_and_total().await;
    let minted: U256 = p.minter.currentMintedTokens().call().await.expect("minted");
    assert!(minted <= mintable && !minted.is_zero());
}

/// Checks the Minter's state right after a round's initialization against the inflation rule
/// of protocol.md §5 and returns the round's bonding rate (1e9 units).
async fn check_inflation(p: &Protocol, inflation_before: U256) -> U256 {
    let supply: U256 = p.token.totalSupply().call().await.expect("supply");
    let global: U256 = p
        .minter
        .getGlobalTotalSupply()
        .call()
        .await
        .expect("global supply");
    assert_eq!(global, supply, "a devnet has no L1 supply");
    let (mintable, bonded) = p.mintable_and_total().await;
    let target: U256 = p.minter.targetBondingRate().call().await.expect("target");
    let change: U256 = p.minter.inflationChange().call().await.expect("change");
    let rate = bonded * perc_1e9() / supply;
    let expected = if rate < target {
        inflation_before + change
    } else if rate > target {
        inflation_before.saturating_sub(change)
    } else {
        inflation_before
    };
    let inflation: U256 = p.minter.inflation().call().await.expect("inflation");
    assert_eq!(
        inflation, expected,
        "bonding rate {rate} vs target {target}"
    );
    assert_eq!(mintable, supply * inflation / perc_1e9());
    let minted: U256 = p.minter.currentMintedTokens().call().await.expect("minted");
    assert_eq!(minted, U256::ZERO, "reset every round");
    rate
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inflation_moves_toward_the_target_bonding_rate_and_rewards_are_stake_shares() {
    // The Arbitrum One target of 50 % (the gethDev default, 500000, is 0.05 %).
    let params = DevParams {
        target_bonding_rate: 500_000_000,
        ..test_params()
    };
    let devnet = start(2, params).await;
    let p = Protocol::new(&devnet);
    let o0 = Account::devnet(&devnet, "orchestrator", 0);
    let o1 = Account::devnet(&devnet, "orchestrator", 1);
    // 1000 more LPT delegated to o0 make the stakes 2000 : 1000; 6000 LPT held unbonded keep
    // the bonding rate (3000 / 9000) below the 50 % target.
    let d = Account::funded(&devnet, lpt(1_000)).await;
    send(d.bonding.bond(lpt(1_000), o0.address), "bond")
        .await
        .expect("bond");
    let holder = Account::funded(&devnet, lpt(6_000)).await;
    let target: U256 = p.minter.targetBondingRate().call().await.expect("target");
    let change: U256 = p.minter.inflationChange().call().await.expect("change");

    for _ in 0..3 {
        let inflation_before: U256 = p.minter.inflation().call().await.expect("inflation");
        let r = p.next_round().await;
        let rate = check_inflation(&p, inflation_before).await;
        assert!(rate < target, "below target: {rate}");
        let inflation: U256 = p.minter.inflation().call().await.expect("inflation");
        assert_eq!(inflation, inflation_before + change, "inflation rises");

        // Each orchestrator mints mintable · floor(stake·1e9 / totalActiveStake) / 1e9.
        let (mintable, total) = p.mintable_and_total().await;
        let stakes = [p.stake(o0.address).await, p.stake(o1.address).await];
        assert_eq!(
            stakes[0] + stakes[1],
            total,
            "the active set holds all stake"
        );
        let mut minted_in_round = U256::ZERO;
        for (o, stake) in [&o0, &o1].into_iter().zip(stakes) {
            let expected = pc(mintable, stake * perc_1e9() / total, perc_1e9());
            let supply_before: U256 = p.token.totalSupply().call().await.expect("supply");
            send(o.bonding.reward(), "reward").await.expect("reward");
            let supply_after: U256 = p.token.totalSupply().call().await.expect("supply");
            assert_eq!(supply_after - supply_before, expected, "minted");
            assert_eq!(p.stake(o.address).await - stake, expected, "compounded");
            let pool = p
                .bonding
                .getTranscoderEarningsPoolForRound(o.address, U256::from(r))
                .call()
                .await
                .expect("pool");
            assert_eq!(pool.totalStake, stake, "the round's pool stake");
            minted_in_round += expected;
        }
        let minted: U256 = p.minter.currentMintedTokens().call().await.expect("minted");
        assert_eq!(minted, minted_in_round);
        assert!(minted <= mintable);
        // Floor rounding of the share leaves at most a wei per orchestrator and a rounding
        // of the 1e9 share points short of the mintable amount.
        assert!(mintable - minted <= mintable / U256::from(1_000_000_000u64) + U256::from(2));
    }

    // Once the holder bonds, the next round's bonding rate is above target: inflation falls.
    send(holder.bonding.bond(lpt(6_000), o1.address), "bond")
        .await
        .expect("bond");
    let inflation_before: U256 = p.minter.inflation().call().await.expect("inflation");
    p.next_round().await;
    let rate = check_inflation(&p, inflation_before).await;
    assert!(rate > target, "above target: {rate}");
    let inflation: U256 = p.minter.inflation().call().await.expect("inflation");
    assert_eq!(inflation, inflation_before - change, "inflation falls");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rewards_split_between_orchestrator_and_delegators_by_reward_cut() {
    let devnet = start(1, test_params()).await;
    let p = Protocol::new(&devnet);
    let orch = Account::devnet(&devnet, "orchestrator", 0);
    let d = Account::funded(&devnet, lpt(1_000)).await;
    send(d.bonding.bond(lpt(1_000), orch.address), "bond")
        .await
        .expect("bond");
    let rewards_of = |reward: U256, cut: u64| {
        let commission = pc(reward, U256::from(cut), perc_1e6());
        (commission, reward - commission)
    };

    // Round 1 at rewardCut 10 %: 2000 LPT staked, the orchestrator alone in the active set
    // mints the whole mintable amount.
    let r1 = p.next_round().await;
    let (mintable, total) = p.mintable_and_total().await;
    assert_eq!(total, lpt(2_000));
    send(orch.bonding.reward(), "reward").await.expect("reward");
    let reward1 = p.stake(orch.address).await - lpt(2_000);
    assert_eq!(reward1, mintable);
    let (commission1, delegators1) = rewards_of(reward1, 100_000);
    let crf1 = one() + perc_of(one(), delegators1, lpt(2_000), one());
    let pool = p
        .bonding
        .getTranscoderEarningsPoolForRound(orch.address, U256::from(r1))
        .call()
        .await
        .expect("pool");
    assert_eq!(pool.cumulativeRewardFactor, crf1);
    let (t1, _) = p.pending(orch.address).await;
    let (d1, _) = p.pending(d.address).await;
    assert_eq!(d1, perc_of(lpt(1_000), crf1, one(), one()));
    assert_eq!(
        t1,
        d1 + commission1,
        "equal own stakes, plus the commission"
    );
    let dust = lpt(2_000) + reward1 - (t1 + d1);
    assert!(dust <= U256::from(2), "rounding dust {dust}");

    // Round 2 at rewardCut 50 % (changed after this round's reward, so allowed).
    send(
        orch.bonding
            .transcoder(U256::from(500_000), U256::from(500_000)),
        "transcoder",
    )
    .await
    .expect("transcoder");
    let r2 = p.next_round().await;
    let stake2 = p.stake(orch.address).await;
    send(orch.bonding.reward(), "reward").await.expect("reward");
    let reward2 = p.stake(orch.address).await - stake2;
    let (commission2, delegators2) = rewards_of(reward2, 500_000);
    let crf2 = crf1 + perc_of(crf1, delegators2, stake2, one());
    let pool = p
        .bonding
        .getTranscoderEarningsPoolForRound(orch.address, U256::from(r2))
        .call()
        .await
        .expect("pool");
    assert_eq!(
        (pool.cumulativeRewardFactor, pool.transcoderRewardCut),
        (crf2, U256::from(500_000))
    );
    let (t2, _) = p.pending(orch.address).await;
    let (d2, _) = p.pending(d.address).await;
    assert_eq!(d2, perc_of(lpt(1_000), crf2, one(), one()));
    // The orchestrator's commission of round 1 earns its share of round 2's delegator rewards.
    let own_reward_stake = perc_of(delegators2, commission1, stake2, one());
    assert_eq!(
        t2,
        perc_of(lpt(1_000), crf2, one(), one()) + commission1 + own_reward_stake + commission2
    );
    // In words: the delegator gets its stake's share of the half left to delegators.
    let d_gain = d2 - d1;
    let share = delegators2 * d1 / stake2;
    assert!(d_gain <= share && share - d_gain <= U256::from(2));
    let dust = stake2 + reward2 - (t2 + d2);
    assert!(dust <= U256::from(4), "rounding dust {dust}");

    // Round 3 at rewardCut 100 %: the delegator gets nothing, the orchestrator everything.
    send(
        orch.bonding
            .transcoder(U256::from(1_000_000), U256::from(500_000)),
        "transcoder",
    )
    .await
    .expect("transcoder");
    p.next_round().await;
    let stake3 = p.stake(orch.address).await;
    send(orch.bonding.reward(), "reward").await.expect("reward");
    let reward3 = p.stake(orch.address).await - stake3;
    assert!(!reward3.is_zero());
    assert_eq!(p.pending(d.address).await.0, d2);
    assert_eq!(p.pending(orch.address).await.0, t2 + reward3);
}

/// What a scenario does, in order; accounts by index: 0 the orchestrator T, 1 and 2 delegators.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Initialize the next round.
    NextRound,
    /// T calls reward.
    Reward,
    /// T redeems a winning ticket of this face value (ETH).
    Fees(&'static str),
    /// Account bonds LPT to T.
    Bond(usize, u64),
    /// Account unbonds LPT.
    Unbond(usize, u64),
    /// Account calls claimEarnings.
    Claim(usize),
    /// T sets rewardCut and feeShare (1e6 units).
    Params(u64, u64),
}

/// Compares everything the model knows with the chain: each account's pendingStake,
/// pendingFees and stored delegator state, T's transcoder state and its pools of rounds
/// `first..=round + 1`.
async fn check(p: &Protocol, model: &Lip36, accounts: &[Address], first: u64, step: Step) {
    let round = p.round().await;
    let t = accounts[0];
    for (i, &a) in accounts.iter().enumerate() {
        assert_eq!(
            p.pending(a).await,
            model.pending(a, round),
            "pending stake and fees of account {i} after {step:?} in round {round}"
        );
        let onchain = p.bonding.getDelegator(a).call().await.expect("delegator");
        let want = model.delegator(a);
        assert_eq!(
            (
                onchain.bondedAmount,
                onchain.fees,
                onchain.lastClaimRound,
                onchain.delegateAddress
            ),
            (
                want.bonded,
                want.fees,
                U256::from(want.last_claim_round),
                want.delegate
            ),
            "delegator {i} after {step:?} in round {round}"
        );
    }
    let onchain = p.bonding.getTranscoder(t).call().await.expect("transcoder");
    let want = model.orchestrator(t);
    assert_eq!(
        (
            onchain.lastRewardRound,
            onchain.lastFeeRound,
            onchain.lastActiveStakeUpdateRound,
            onchain.cumulativeRewards,
            onchain.cumulativeFees,
            onchain.activeCumulativeRewards,
        ),
        (
            U256::from(want.last_reward_round),
            U256::from(want.last_fee_round),
            U256::from(want.last_active_stake_update_round),
            want.cumulative_rewards,
            want.cumulative_fees,
            want.active_cumulative_rewards,
        ),
        "orchestrator after {step:?} in round {round}"
    );
    assert_eq!(p.stake(t).await, want.delegated);
    for r in first..=round + 1 {
        let pool = p
            .bonding
            .getTranscoderEarningsPoolForRound(t, U256::from(r))
            .call()
            .await
            .expect("pool");
        let onchain = Pool {
            stake: pool.totalStake,
            reward_cut: pool.transcoderRewardCut,
            fee_share: pool.transcoderFeeShare,
            crf: pool.cumulativeRewardFactor,
            cff: pool.cumulativeFeeFactor,
        };
        assert_eq!(onchain, want.pool(r), "pool of round {r} after {step:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn earnings_match_the_lip36_reference_over_rounds_of_rewards_and_fees() {
    use Step::*;
    let devnet = start(0, test_params()).await;
    let p = Protocol::new(&devnet);
    let mut model = Lip36::default();
    let first = p.round().await;

    // T registers with 1000 LPT (rewardCut 10 %, feeShare 50 %); D1 bonds 1000 LPT to it in the
    // same round; D2 has 500 LPT to bond later.
    let t = Account::orchestrator(&devnet, lpt(1_000)).await;
    model.bond(t.address, lpt(1_000), t.address, first);
    model.set_params(t.address, U256::from(100_000), U256::from(500_000));
    let d1 = Account::funded(&devnet, lpt(1_000)).await;
    send(d1.bonding.bond(lpt(1_000), t.address), "bond")
        .await
        .expect("bond");
    model.bond(d1.address, lpt(1_000), t.address, first);
    let d2 = Account::funded(&devnet, lpt(500)).await;
    let accounts = [&t, &d1, &d2];
    let addresses = accounts.map(|a| a.address);
    let mut gateway = Gateway::funded(&devnet, parse_ether("10").expect("amount")).await;
    check(&p, &model, &addresses, first, NextRound).await;

    let scenario = [
        NextRound,
        // Fees after the reward, with no reward factor for the previous round: the back-fill.
        Reward,
        Fees("0.3"),
        Bond(2, 500),
        NextRound,
        // Fees before the reward.
        Fees("0.2"),
        Reward,
        NextRound,
        // No reward this round; D1 claims before the fees, so (as upstream) it never gets them.
        Claim(1),
        Fees("0.1"),
        NextRound,
        // A new rewardCut/feeShare after the reward; this round's fees still use the old share.
        Reward,
        Params(200_000, 250_000),
        Fees("0.4"),
        Unbond(2, 200),
        NextRound,
        Fees("0.25"),
        Reward,
        Claim(0),
        NextRound,
        Fees("0.05"),
        Claim(0),
        Claim(1),
        Claim(2),
    ];
    let mut paid = U256::ZERO;
    for step in scenario {
        let round = p.round().await;
        match step {
            NextRound => {
                p.next_round().await;
            }
            Reward => {
                let (mintable, total) = p.mintable_and_total().await;
                send(t.bonding.reward(), "reward").await.expect("reward");
                model.reward(t.address, round, mintable, total);
            }
            Fees(eth) => {
                let face = parse_ether(eth).expect("amount");
                let (mintable, total) = p.mintable_and_total().await;
                gateway.pay(&devnet, &t, face).await;
                model.fees(t.address, round, face, mintable, total);
                paid += face;
            }
            Bond(i, amount) => {
                let who = accounts[i];
                send(who.bonding.bond(lpt(amount), t.address), "bond")
                    .await
                    .expect("bond");
                model.bond(who.address, lpt(amount), t.address, round);
            }
            Unbond(i, amount) => {
                let who = accounts[i];
                send(who.bonding.unbond(lpt(amount)), "unbond")
                    .await
                    .expect("unbond");
                model.unbond(who.address, lpt(amount), round);
            }
            Claim(i) => {
                let who = accounts[i];
                send(who.bonding.claimEarnings(U256::ZERO), "claimEarnings")
                    .await
                    .expect("claim");
                model.claim(who.address, round);
            }
            Params(reward_cut, fee_share) => {
                let (rc, fs) = (U256::from(reward_cut), U256::from(fee_share));
                send(t.bonding.transcoder(rc, fs), "transcoder")
                    .await
                    .expect("transcoder");
                model.set_params(t.address, rc, fs);
            }
        }
        assert_eq!(p.round().await, model_round(step, round), "{step:?}");
        check(&p, &model, &addresses, first, step).await;
    }

    // Everyone earned: stakes grew past what was bonded, fees were credited.
    let round = p.round().await;
    let pending: Vec<(U256, U256)> = addresses.iter().map(|&a| model.pending(a, round)).collect();
    for ((stake, fees), bonded) in pending.iter().zip([lpt(1_000), lpt(1_000), lpt(300)]) {
        assert!(*stake > bonded && !fees.is_zero(), "{stake} {fees}");
    }
    // All stake is accounted for, to rounding dust, and no more fees than were paid.
    let stakes: U256 = pending.iter().map(|(s, _)| *s).sum();
    let delegated = p.stake(t.address).await;
    assert!(stakes <= delegated && delegated - stakes <= U256::from(20));
    let fees: U256 = pending.iter().map(|(_, f)| *f).sum();
    assert!(fees <= paid, "{fees} of {paid}");

    // The claimed fees are paid out in ETH.
    let recipient = Address::repeat_byte(0x5e);
    let d1_fees = model.delegator(d1.address).fees;
    send(d1.bonding.withdrawFees(recipient, d1_fees), "withdrawFees")
        .await
        .expect("withdrawFees");
    let balance = p.provider.get_balance(recipient).await.expect("balance");
    assert_eq!(balance, d1_fees);
    assert_reverts(
        send(
            d1.bonding.withdrawFees(recipient, U256::from(1)),
            "withdrawFees",
        )
        .await,
        "insufficient fees to withdraw",
    );
}

/// The round a step leaves the chain in.
fn model_round(step: Step, round: u64) -> u64 {
    match step {
        Step::NextRound => round + 1,
        _ => round,
    }
}
