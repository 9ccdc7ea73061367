// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IBondingManager
/// @notice Bonding, the transcoder pool, rewards and LIP-36 fee/reward accounting: the full deployed
///         Arbitrum BondingManager ABI (protocol.md §2, Appendix A "BondingManager (target ABI)";
///         livepeer/protocol contracts/bonding/IBondingManager.sol + BondingManager.sol).
interface IBondingManager {
    /// @notice `transcoderStatus` values (ABI: uint8).
    enum TranscoderStatus {
        NotRegistered,
        Registered
    }

    /// @notice `delegatorStatus` values (ABI: uint8).
    enum DelegatorStatus {
        Pending,
        Bonded,
        Unbonded
    }

    // Events (protocol.md §2.7; go-livepeer filters on Unbond, Rebond, WithdrawStake,
    // TranscoderActivated and TranscoderDeactivated).

    /// @notice `transcoder`/`transcoderWithHint` set new commission rates.
    event TranscoderUpdate(address indexed transcoder, uint256 rewardCut, uint256 feeShare);
    /// @notice `transcoder` joined the pool and is active from `activationRound`.
    event TranscoderActivated(address indexed transcoder, uint256 activationRound);
    /// @notice `transcoder` left the pool (evicted or resigned) and is inactive from `deactivationRound`.
    event TranscoderDeactivated(address indexed transcoder, uint256 deactivationRound);
    /// @notice A transcoder was slashed (never emitted here: slashing is disabled).
    event TranscoderSlashed(address indexed transcoder, address finder, uint256 penalty, uint256 finderReward);
    /// @notice `transcoder` called reward and received `amount` LPT (after the treasury cut).
    event Reward(address indexed transcoder, uint256 amount);
    /// @notice `amount` LPT of `transcoder`'s reward went to `treasury`.
    event TreasuryReward(address indexed transcoder, address treasury, uint256 amount);
    /// @notice `delegator` bonded `additionalAmount` to `newDelegate` (from `oldDelegate`), now bonding `bondedAmount`.
    event Bond(
        address indexed newDelegate,
        address indexed oldDelegate,
        address indexed delegator,
        uint256 additionalAmount,
        uint256 bondedAmount
    );
    /// @notice `delegator` unbonded `amount` from `delegate` into lock `unbondingLockId`, withdrawable at `withdrawRound`.
    event Unbond(
        address indexed delegate,
        address indexed delegator,
        uint256 unbondingLockId,
        uint256 amount,
        uint256 withdrawRound
    );
    /// @notice `delegator` rebonded lock `unbondingLockId` (`amount`) to `delegate`.
    event Rebond(address indexed delegate, address indexed delegator, uint256 unbondingLockId, uint256 amount);
    /// @notice `oldDelegator` moved `amount` of bond to `newDelegator` through a lock.
    event TransferBond(
        address indexed oldDelegator,
        address indexed newDelegator,
        uint256 oldUnbondingLockId,
        uint256 newUnbondingLockId,
        uint256 amount
    );
    /// @notice `delegator` withdrew lock `unbondingLockId` (`amount` LPT, `withdrawRound`).
    event WithdrawStake(address indexed delegator, uint256 unbondingLockId, uint256 amount, uint256 withdrawRound);
    /// @notice `delegator` withdrew `amount` ETH fees to `recipient`.
    event WithdrawFees(address indexed delegator, address recipient, uint256 amount);
    /// @notice `delegator` claimed `rewards` LPT and `fees` ETH from `delegate` for rounds `startRound..endRound`.
    event EarningsClaimed(
        address indexed delegate,
        address indexed delegator,
        uint256 rewards,
        uint256 fees,
        uint256 startRound,
        uint256 endRound
    );

    // Called by other protocol contracts

    /// @notice Fees from a winning ticket for `_transcoder` (TicketBroker only; `_round` ignored, protocol.md §2.5).
    function updateTranscoderWithFees(address _transcoder, uint256 _fees, uint256 _round) external;

    /// @notice Copy the next round's active stake into the current round (RoundsManager only, protocol.md §2.2).
    function setCurrentRoundTotalActiveStake() external;

    /// @notice Slash a transcoder (Verifier only; disabled here, always reverts).
    function slashTranscoder(address _transcoder, address _finder, uint256 _slashAmount, uint256 _finderFee) external;

    // Governance setters

    /// @notice Set the unbonding period in rounds (controller owner).
    function setUnbondingPeriod(uint64 _unbondingPeriod) external;

    /// @notice Raise the pool size / number of active transcoders (controller owner; can only grow).
    function setNumActiveTranscoders(uint256 _numActiveTranscoders) external;

    /// @notice Set the treasury reward cut rate (1e27) from the next round (controller owner).
    function setTreasuryRewardCutRate(uint256 _cutRate) external;

    /// @notice Set the treasury LPT balance at which the treasury cut halts (controller owner).
    function setTreasuryBalanceCeiling(uint256 _ceiling) external;

    // User actions

    /// @notice Bond `_amount` from the caller to `_to`.
    function bond(uint256 _amount, address _to) external;

    /// @notice Bond with pool position hints for the old and the new delegate.
    function bondWithHint(
        uint256 _amount,
        address _to,
        address _oldDelegateNewPosPrev,
        address _oldDelegateNewPosNext,
        address _currDelegateNewPosPrev,
        address _currDelegateNewPosNext
    ) external;

    /// @notice Bond `_amount` (paid by the caller) on behalf of `_owner` to `_to`.
    function bondForWithHint(
        uint256 _amount,
        address _owner,
        address _to,
        address _oldDelegateNewPosPrev,
        address _oldDelegateNewPosNext,
        address _currDelegateNewPosPrev,
        address _currDelegateNewPosNext
    ) external;

    /// @notice Unbond `_amount` into a new unbonding lock.
    function unbond(uint256 _amount) external;

    /// @notice Unbond with a pool position hint.
    function unbondWithHint(uint256 _amount, address _newPosPrev, address _newPosNext) external;

    /// @notice Rebond an unbonding lock to the current delegate (caller Bonded or Pending).
    function rebond(uint256 _unbondingLockId) external;

    /// @notice Rebond with a pool position hint.
    function rebondWithHint(uint256 _unbondingLockId, address _newPosPrev, address _newPosNext) external;

    /// @notice Rebond an unbonding lock to `_to` (caller Unbonded).
    function rebondFromUnbonded(address _to, uint256 _unbondingLockId) external;

    /// @notice Rebond from Unbonded with a pool position hint.
    function rebondFromUnbondedWithHint(
        address _to,
        uint256 _unbondingLockId,
        address _newPosPrev,
        address _newPosNext
    ) external;

    /// @notice Move `_amount` of the caller's bond to `_delegator`.
    function transferBond(
        address _delegator,
        uint256 _amount,
        address _oldDelegateNewPosPrev,
        address _oldDelegateNewPosNext,
        address _newDelegateNewPosPrev,
        address _newDelegateNewPosNext
    ) external;

    /// @notice Withdraw an unbonding lock whose withdraw round has come.
    function withdrawStake(uint256 _unbondingLockId) external;

    /// @notice Withdraw `_amount` of the caller's claimed fees to `_recipient`.
    function withdrawFees(address payable _recipient, uint256 _amount) external;

    /// @notice Claim earnings up to the current round (`_endRound` ignored).
    function claimEarnings(uint256 _endRound) external;

    /// @notice Mint the caller's reward for the current round.
    function reward() external;

    /// @notice Mint the caller's reward with a pool position hint.
    function rewardWithHint(address _newPosPrev, address _newPosNext) external;

    /// @notice Set the caller's rewardCut and feeShare (1e6) and join the pool if possible.
    function transcoder(uint256 _rewardCut, uint256 _feeShare) external;

    /// @notice `transcoder` with a pool position hint.
    function transcoderWithHint(uint256 _rewardCut, uint256 _feeShare, address _newPosPrev, address _newPosNext)
        external;

    /// @notice Re-push `_account`'s bonding state to BondingVotes.
    function checkpointBondingState(address _account) external;

    // Views

    /// @notice Rounds between unbonding and withdrawal.
    function unbondingPeriod() external view returns (uint64);

    /// @notice The current round's total active stake.
    function currentRoundTotalActiveStake() external view returns (uint256);

    /// @notice The pool's total stake, active from the next round.
    function nextRoundTotalActiveStake() external view returns (uint256);

    /// @notice The treasury reward cut rate in force this round (1e27).
    function treasuryRewardCutRate() external view returns (uint256);

    /// @notice The treasury reward cut rate applied at the next round initialization (1e27).
    function nextRoundTreasuryRewardCutRate() external view returns (uint256);

    /// @notice The treasury LPT balance at which the treasury cut halts (0 = no ceiling).
    function treasuryBalanceCeiling() external view returns (uint256);

    /// @notice Pending stake of `_delegator` up to the current round (`_endRound` ignored).
    function pendingStake(address _delegator, uint256 _endRound) external view returns (uint256);

    /// @notice Pending fees of `_delegator` up to the current round (`_endRound` ignored).
    function pendingFees(address _delegator, uint256 _endRound) external view returns (uint256);

    /// @notice Total stake delegated to `_transcoder` (its delegatedAmount).
    function transcoderTotalStake(address _transcoder) external view returns (uint256);

    /// @notice NotRegistered (0) or Registered (1).
    function transcoderStatus(address _transcoder) external view returns (TranscoderStatus);

    /// @notice Pending (0), Bonded (1) or Unbonded (2).
    function delegatorStatus(address _delegator) external view returns (DelegatorStatus);

    /// @notice A transcoder's state.
    function getTranscoder(address _transcoder)
        external
        view
        returns (
            uint256 lastRewardRound,
            uint256 rewardCut,
            uint256 feeShare,
            uint256 lastActiveStakeUpdateRound,
            uint256 activationRound,
            uint256 deactivationRound,
            uint256 activeCumulativeRewards,
            uint256 cumulativeRewards,
            uint256 cumulativeFees,
            uint256 lastFeeRound
        );

    /// @notice A transcoder's earnings pool for `_round`.
    function getTranscoderEarningsPoolForRound(address _transcoder, uint256 _round)
        external
        view
        returns (
            uint256 totalStake,
            uint256 transcoderRewardCut,
            uint256 transcoderFeeShare,
            uint256 cumulativeRewardFactor,
            uint256 cumulativeFeeFactor
        );

    /// @notice A delegator's state.
    function getDelegator(address _delegator)
        external
        view
        returns (
            uint256 bondedAmount,
            uint256 fees,
            address delegateAddress,
            uint256 delegatedAmount,
            uint256 startRound,
            uint256 lastClaimRound,
            uint256 nextUnbondingLockId
        );

    /// @notice An unbonding lock.
    function getDelegatorUnbondingLock(address _delegator, uint256 _unbondingLockId)
        external
        view
        returns (uint256 amount, uint256 withdrawRound);

    /// @notice The pool capacity (numActiveTranscoders).
    function getTranscoderPoolMaxSize() external view returns (uint256);

    /// @notice The number of transcoders in the (next-round) pool (protocol.md §3.3).
    function getTranscoderPoolSize() external view returns (uint256);

    /// @notice The pool member with the most stake.
    function getFirstTranscoderInPool() external view returns (address);

    /// @notice The pool member after `_transcoder` (zero at the end).
    function getNextTranscoderInPool(address _transcoder) external view returns (address);

    /// @notice The current round's total active stake (protocol.md §5).
    function getTotalBonded() external view returns (uint256);

    /// @notice Whether `_transcoder` is active in the current round (protocol.md §3.3).
    function isActiveTranscoder(address _transcoder) external view returns (bool);

    /// @notice Whether `_transcoder` is self-bonded with stake > 0.
    function isRegisteredTranscoder(address _transcoder) external view returns (bool);

    /// @notice Whether `_delegator`'s lock `_unbondingLockId` exists.
    function isValidUnbondingLock(address _delegator, uint256 _unbondingLockId) external view returns (bool);
}
