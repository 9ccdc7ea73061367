//! A reference implementation of the BondingManager's LIP-36 earnings accounting
//! (protocol.md §2.5, §2.6), in plain `U256` math with the contracts' floor rounding, to check
//! `pendingStake`, `pendingFees` and `claimEarnings` on chain against.
//!
//! It follows the verified formulas of the contract author: `pp(n, d, D) = n·D/d`,
//! `percOf(a, n, d, D) = a·pp(n, d, D)/D` and `pc(a, p, D) = a·p/D`, all floor division, with a
//! zero factor standing for ONE = 1e27 where the rules say so. Scope: orchestrators stay in the
//! pool (no eviction or resignation), delegators never move to another orchestrator, and the
//! treasury cut is 0 (as in a dev deployment).

use std::collections::{BTreeMap, HashMap};

use alloy::primitives::{Address, U256};

/// 1e27, the LIP-36 factor unit (`PreciseMathUtils.PERC_DIVISOR`).
pub fn one() -> U256 {
    U256::from(10).pow(U256::from(27))
}

/// 1e6, the rewardCut / feeShare unit (`MathUtils.PERC_DIVISOR`).
pub fn perc_1e6() -> U256 {
    U256::from(1_000_000u64)
}

/// 1e9, the Minter's unit (`MathUtilsV2.PERC_DIVISOR`).
pub fn perc_1e9() -> U256 {
    U256::from(1_000_000_000u64)
}

/// `floor(n·D / d)`.
pub fn pp(n: U256, d: U256, divisor: U256) -> U256 {
    n.checked_mul(divisor).expect("percPoints overflows") / d
}

/// `floor(a · pp(n, d, D) / D)`: the intermediate percentage is floored first.
pub fn perc_of(a: U256, n: U256, d: U256, divisor: U256) -> U256 {
    a.checked_mul(pp(n, d, divisor)).expect("percOf overflows") / divisor
}

/// `floor(a·p / D)`.
pub fn pc(a: U256, p: U256, divisor: U256) -> U256 {
    a.checked_mul(p).expect("percOf overflows") / divisor
}

fn or(value: U256, fallback: U256) -> U256 {
    if value.is_zero() { fallback } else { value }
}

/// One orchestrator's earnings pool for one round (`getTranscoderEarningsPoolForRound`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pool {
    /// totalStake.
    pub stake: U256,
    /// transcoderRewardCut (1e6).
    pub reward_cut: U256,
    /// transcoderFeeShare (1e6).
    pub fee_share: U256,
    /// cumulativeRewardFactor (1e27, 0 = unset).
    pub crf: U256,
    /// cumulativeFeeFactor (1e27).
    pub cff: U256,
}

/// An orchestrator's earnings state (`getTranscoder` plus its pools and delegatedAmount).
#[derive(Debug, Clone, Default)]
pub struct Orchestrator {
    /// Pools by round; a missing round is all zeros.
    pub pools: BTreeMap<u64, Pool>,
    /// rewardCut in force (1e6).
    pub reward_cut: U256,
    /// feeShare in force (1e6).
    pub fee_share: U256,
    /// lastRewardRound.
    pub last_reward_round: u64,
    /// lastFeeRound.
    pub last_fee_round: u64,
    /// cumulativeRewards.
    pub cumulative_rewards: U256,
    /// cumulativeFees.
    pub cumulative_fees: U256,
    /// activeCumulativeRewards.
    pub active_cumulative_rewards: U256,
    /// lastActiveStakeUpdateRound.
    pub last_active_stake_update_round: u64,
    /// delegatedAmount (total stake delegated to it, its own included).
    pub delegated: U256,
}

impl Orchestrator {
    /// The pool of `round` (zeros when never written).
    pub fn pool(&self, round: u64) -> Pool {
        self.pools.get(&round).copied().unwrap_or_default()
    }

    fn pool_mut(&mut self, round: u64) -> &mut Pool {
        self.pools.entry(round).or_default()
    }

    /// The latest factors at `round`: that round's, each falling back to those of
    /// lastRewardRound / lastFeeRound when unset and that round is earlier.
    pub fn latest(&self, round: u64) -> (U256, U256) {
        let pool = self.pool(round);
        let mut crf = pool.crf;
        if crf.is_zero() && self.last_reward_round < round {
            crf = self.pool(self.last_reward_round).crf;
        }
        let mut cff = pool.cff;
        if cff.is_zero() && self.last_fee_round < round {
            cff = self.pool(self.last_fee_round).cff;
        }
        (crf, cff)
    }

    /// Copies the latest factors into `round`'s pool where unset.
    fn ensure_initialized(&mut self, round: u64) {
        let (lrr, lfr) = (self.last_reward_round, self.last_fee_round);
        let from_reward = self.pool(lrr).crf;
        let from_fees = self.pool(lfr).cff;
        let pool = self.pool_mut(round);
        if pool.crf.is_zero() && lrr < round {
            pool.crf = from_reward;
        }
        if pool.cff.is_zero() && lfr < round {
            pool.cff = from_fees;
        }
    }

    /// Stake of `amount` added in `round`: freeze round `round`'s pool stake if unwritten, set
    /// the next round's.
    fn increase_stake(&mut self, amount: U256, round: u64) {
        let current = self.delegated;
        let new = current + amount;
        if self.last_active_stake_update_round < round {
            self.pool_mut(round).stake = current;
        }
        self.pool_mut(round + 1).stake = new;
        self.last_active_stake_update_round = round + 1;
        self.delegated = new;
    }

    /// The mirror image of [`Self::increase_stake`].
    fn decrease_stake(&mut self, amount: U256, round: u64) {
        let current = self.delegated;
        let new = current.checked_sub(amount).expect("stake underflows");
        if self.last_active_stake_update_round < round {
            self.pool_mut(round).stake = current;
        }
        self.pool_mut(round + 1).stake = new;
        self.last_active_stake_update_round = round + 1;
        self.delegated = new;
    }

    /// Copies rewardCut/feeShare into `round`'s pool and, if unwritten, the stake.
    fn open_pool(&mut self, round: u64) {
        let lasu = self.last_active_stake_update_round;
        let stake = self.pool(lasu).stake;
        let (reward_cut, fee_share) = (self.reward_cut, self.fee_share);
        let pool = self.pool_mut(round);
        pool.reward_cut = reward_cut;
        pool.fee_share = fee_share;
        if lasu < round {
            pool.stake = stake;
        }
    }
}

/// A delegator's state (`getDelegator`).
#[derive(Debug, Clone, Default)]
pub struct Delegator {
    /// bondedAmount.
    pub bonded: U256,
    /// fees (claimed, unwithdrawn).
    pub fees: U256,
    /// delegateAddress.
    pub delegate: Address,
    /// lastClaimRound.
    pub last_claim_round: u64,
}

/// The reference model: every orchestrator and delegator the scenario touched.
#[derive(Debug, Default)]
pub struct Lip36 {
    /// Orchestrators by address.
    pub orchestrators: HashMap<Address, Orchestrator>,
    /// Delegators (orchestrators included) by address.
    pub delegators: HashMap<Address, Delegator>,
}

impl Lip36 {
    /// The orchestrator `t` (all zeros if unknown).
    pub fn orchestrator(&self, t: Address) -> Orchestrator {
        self.orchestrators.get(&t).cloned().unwrap_or_default()
    }

    /// The delegator `d` (all zeros if unknown).
    pub fn delegator(&self, d: Address) -> Delegator {
        self.delegators.get(&d).cloned().unwrap_or_default()
    }

    /// `bond(amount, to)` by `d` in round `r`, to its current delegate or from Unbonded
    /// (self-bonding registers `to`, which then joins the pool for `r + 1`).
    pub fn bond(&mut self, d: Address, amount: U256, to: Address, r: u64) {
        let del = self.delegator(d);
        assert!(
            del.delegate == Address::ZERO || del.delegate == to,
            "the model does not move stake between orchestrators"
        );
        if del.last_claim_round < r {
            self.claim(d, r);
        }
        let orch = self.orchestrators.entry(to).or_default();
        orch.ensure_initialized(r);
        orch.increase_stake(amount, r);
        let del = self.delegators.entry(d).or_default();
        del.bonded += amount;
        del.delegate = to;
    }

    /// `unbond(amount)` by `d` in round `r` (a delegator, not an orchestrator's own full unbond).
    pub fn unbond(&mut self, d: Address, amount: U256, r: u64) {
        if self.delegator(d).last_claim_round < r {
            self.claim(d, r);
        }
        let del = self.delegators.entry(d).or_default();
        let t = del.delegate;
        del.bonded = del
            .bonded
            .checked_sub(amount)
            .expect("unbond more than bonded");
        if del.bonded.is_zero() {
            del.delegate = Address::ZERO;
        }
        self.orchestrators
            .entry(t)
            .or_default()
            .decrease_stake(amount, r);
    }

    /// `transcoder(rewardCut, feeShare)` by `t`.
    pub fn set_params(&mut self, t: Address, reward_cut: U256, fee_share: U256) {
        let orch = self.orchestrators.entry(t).or_default();
        orch.reward_cut = reward_cut;
        orch.fee_share = fee_share;
    }

    /// `reward()` by `t` in round `r`, with the round's `Minter.currentMintableTokens()` and
    /// `getTotalBonded()`. Returns the minted reward R.
    pub fn reward(&mut self, t: Address, r: u64, mintable: U256, total: U256) -> U256 {
        let orch = self.orchestrators.entry(t).or_default();
        // 1.
        orch.open_pool(r);
        // 2.
        let stake = orch.pool(r).stake;
        let reward = pc(mintable, pp(stake, total, perc_1e9()), perc_1e9());
        // 3.
        let prev = orch.pool(orch.last_reward_round).crf;
        let acr = orch.cumulative_rewards;
        orch.active_cumulative_rewards = acr;
        // 4.
        let commission = pc(reward, orch.pool(r).reward_cut, perc_1e6());
        let delegators_reward = reward - commission;
        // 5.
        orch.cumulative_rewards = acr + perc_of(delegators_reward, acr, stake, one()) + commission;
        // 6.
        let base = or(prev, one());
        orch.pool_mut(r).crf = base + perc_of(base, delegators_reward, stake, one());
        // 7.
        orch.increase_stake(reward, r);
        // 8.
        orch.last_reward_round = r;
        reward
    }

    /// Fees of `fees` wei booked for `t` in round `r` (a redeemed winning ticket), with the
    /// round's mintable tokens and total active stake (for the missed-reward back-fill).
    pub fn fees(&mut self, t: Address, r: u64, fees: U256, mintable: U256, total: U256) {
        let orch = self.orchestrators.entry(t).or_default();
        // 1.
        let (mut crf, cff) = orch.latest(r - 1);
        let mut active = orch.active_cumulative_rewards;
        // 2.
        let lrr = orch.last_reward_round;
        if r > lrr {
            orch.open_pool(r);
            active = orch.cumulative_rewards;
        }
        // 3.
        let pool = orch.pool(r);
        let stake = pool.stake;
        // 4.
        if crf.is_zero() && lrr == r {
            let rewards = perc_of(mintable, stake, total, one());
            let delegators_rewards = rewards - pc(rewards, pool.reward_cut, perc_1e6());
            crf = perc_of(pool.crf, stake, delegators_rewards + stake, one());
        }
        // 5.
        let delegators_fees = pc(fees, pool.fee_share, perc_1e6());
        orch.cumulative_fees +=
            perc_of(delegators_fees, active, stake, one()) + (fees - delegators_fees);
        // 6.
        let increment = perc_of(or(crf, one()), delegators_fees, stake, one());
        let pool = orch.pool_mut(r);
        pool.cff = or(pool.cff, cff) + increment;
        orch.last_fee_round = r;
    }

    /// `(pendingStake, pendingFees)` of `d` in round `e`.
    pub fn pending(&self, d: Address, e: u64) -> (U256, U256) {
        let del = self.delegator(d);
        let orch = self.orchestrator(del.delegate);
        let mut stake = del.bonded;
        let mut fees = del.fees;
        let l = del.last_claim_round;
        if l < e {
            let start = orch.pool(l);
            let start_crf = or(start.crf, one());
            let (end_crf, end_cff) = orch.latest(e);
            stake = perc_of(del.bonded, or(end_crf, one()), start_crf, one());
            let fee_factor = end_cff
                .checked_sub(start.cff)
                .expect("fee factors only grow");
            fees += perc_of(del.bonded, fee_factor, start_crf, one());
        }
        if d == del.delegate {
            stake += orch.cumulative_rewards;
            fees += orch.cumulative_fees;
        }
        (stake, fees)
    }

    /// The claim of `d` in round `e` (`claimEarnings`, and the auto-claim before bond, unbond,
    /// rebond and withdrawFees).
    pub fn claim(&mut self, d: Address, e: u64) {
        let (stake, fees) = self.pending(d, e);
        let del = self.delegators.entry(d).or_default();
        let t = del.delegate;
        del.last_claim_round = e;
        if t == Address::ZERO {
            return;
        }
        del.bonded = stake;
        del.fees = fees;
        let orch = self.orchestrators.entry(t).or_default();
        orch.ensure_initialized(e);
        if t == d {
            orch.cumulative_rewards = U256::ZERO;
            orch.cumulative_fees = U256::ZERO;
        }
    }
}

#[test]
fn the_model_reproduces_the_worked_example() {
    // T self-bonds 1000 LPT and D bonds 1000 LPT to it in round 1 (rewardCut 10 %, feeShare
    // 50 %); another orchestrator holds 500, so in round 2 T mints 0.04384 of the 0.0548 LPT
    // mintable, then books 1 ETH of fees (back-filling round 1's missing reward factor).
    let lpt = |milli: u64| U256::from(milli) * U256::from(10).pow(U256::from(15));
    let (t, d) = (Address::repeat_byte(0x01), Address::repeat_byte(0x02));
    let mut model = Lip36::default();
    model.bond(t, lpt(1_000_000), t, 1);
    model.set_params(t, U256::from(100_000), U256::from(500_000));
    model.bond(d, lpt(1_000_000), t, 1);

    let (mintable, total) = (U256::from(54_800_000_000_000_000u64), lpt(2_500_000));
    let reward = model.reward(t, 2, mintable, total);
    assert_eq!(reward, U256::from(43_840_000_000_000_000u64));
    let factor = |s: &str| s.parse::<U256>().expect("decimal");
    assert_eq!(
        model.orchestrator(t).pool(2).crf,
        factor("1000019728000000000000000000")
    );

    model.fees(t, 2, lpt(1_000), mintable, total);
    assert_eq!(
        model.orchestrator(t).pool(2).cff,
        factor("249999999999999999999999")
    );
    assert_eq!(model.pending(d, 2).1, factor("249999999999999999"));
    assert_eq!(model.pending(t, 2).1, factor("749999999999999999"));
    // The stake split of the reward: D gets its share of the delegators' 90 %, T the same plus
    // the 10 % commission.
    let (t_stake, d_stake) = (model.pending(t, 2).0, model.pending(d, 2).0);
    assert_eq!(d_stake, factor("1000019728000000000000"));
    assert_eq!(t_stake, d_stake + factor("4384000000000000"));
}
