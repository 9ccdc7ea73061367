// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import "./MathUtils.sol";
import "./PreciseMathUtils.sol";

/// @title EarningsPoolLIP36
/// @notice A transcoder's per-round earnings pool and the LIP-36 cumulative-factor math
///         (protocol.md §2.1 "EarningsPool.Data", §2.6; livepeer/protocol
///         contracts/bonding/libraries/EarningsPool.sol + EarningsPoolLIP36.sol).
/// @dev Factors are 1e27 fixed point (PreciseMathUtils). A zero cumulativeRewardFactor means "not set"
///      and counts as ONE = 1e27 wherever it is used as a base.
library EarningsPoolLIP36 {
    /// @notice One transcoder's pool for one round (field order as `getTranscoderEarningsPoolForRound`).
    struct Data {
        uint256 totalStake; // the transcoder's active stake for the round
        uint256 transcoderRewardCut; // rewardCut (1e6) in force when the round's rewards/fees were booked
        uint256 transcoderFeeShare; // feeShare (1e6) in force when the round's rewards/fees were booked
        uint256 cumulativeRewardFactor; // CRF (1e27), 0 = unset
        uint256 cumulativeFeeFactor; // CFF (1e27)
    }

    /// @notice Only the two cumulative factors of a pool, used as "start"/"end"/"previous" values.
    struct Factors {
        uint256 cumulativeRewardFactor;
        uint256 cumulativeFeeFactor;
    }

    /// @dev ONE in 1e27 fixed point, the value an unset CRF stands for.
    uint256 internal constant ONE = 10 ** 27;

    /// @notice `_crf` or ONE when it is unset (protocol.md §2.6 "a missing CRF counts as ONE").
    function orOne(uint256 _crf) internal pure returns (uint256) {
        return _crf == 0 ? ONE : _crf;
    }

    /// @notice Book delegator rewards `_rewards` into `_pool` (protocol.md §2.6 "On reward"):
    ///         `CRF_r = base + percOf(base, _rewards, totalStake)` with `base = _prevCrf` or ONE.
    function updateCumulativeRewardFactor(Data storage _pool, uint256 _prevCrf, uint256 _rewards) internal {
        uint256 base = orOne(_prevCrf);
        _pool.cumulativeRewardFactor = base + PreciseMathUtils.percOf(base, _rewards, _pool.totalStake);
    }

    /// @notice Book delegator fees `_fees` into `_pool` (protocol.md §2.5 step 8):
    ///         `CFF_r = (CFF_r == 0 ? _prev.CFF : CFF_r) + percOf(base, _fees, totalStake)` with
    ///         `base = _prev.CRF` or ONE.
    function updateCumulativeFeeFactor(Data storage _pool, Factors memory _prev, uint256 _fees) internal {
        uint256 inc = PreciseMathUtils.percOf(orOne(_prev.cumulativeRewardFactor), _fees, _pool.totalStake);
        uint256 cff = _pool.cumulativeFeeFactor;
        _pool.cumulativeFeeFactor = (cff == 0 ? _prev.cumulativeFeeFactor : cff) + inc;
    }

    /// @notice LIP-36 stake of a delegator between two reward factors (protocol.md §2.6 "Claim"):
    ///         `percOf(_stake, _endCrf|ONE, _startCrf|ONE)`.
    function delegatorCumulativeStake(uint256 _startCrf, uint256 _endCrf, uint256 _stake) internal pure returns (uint256) {
        return PreciseMathUtils.percOf(_stake, orOne(_endCrf), orOne(_startCrf));
    }

    /// @notice LIP-36 claim of a delegator's stake and fees between two factor snapshots
    ///         (protocol.md §2.6 "Claim"):
    ///         `stake' = percOf(_stake, end.CRF|ONE, start.CRF|ONE)`,
    ///         `fees'  = _fees + percOf(_stake, end.CFF − start.CFF, start.CRF|ONE)`.
    function delegatorCumulativeStakeAndFees(
        Factors memory _start,
        Factors memory _end,
        uint256 _stake,
        uint256 _fees
    ) internal pure returns (uint256 cStake, uint256 cFees) {
        uint256 startCrf = orOne(_start.cumulativeRewardFactor);
        cStake = PreciseMathUtils.percOf(_stake, orOne(_end.cumulativeRewardFactor), startCrf);
        cFees =
            _fees +
            PreciseMathUtils.percOf(_stake, _end.cumulativeFeeFactor - _start.cumulativeFeeFactor, startCrf);
    }
}
