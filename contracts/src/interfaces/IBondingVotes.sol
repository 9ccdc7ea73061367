// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import "@openzeppelin/contracts-upgradeable/interfaces/IERC5805Upgradeable.sol";

/// @title IBondingVotes
/// @notice Checkpointed voting power of bonded stake, clocked in rounds: IERC5805 (IVotes + IERC6372)
///         plus the BondingManager hooks and Livepeer extras (protocol.md §7.1, Appendix A "BondingVotes
///         (target ABI)"; livepeer/protocol contracts/bonding/IBondingVotes.sol).
/// @dev Inherited from IERC5805Upgradeable: `clock()`, `CLOCK_MODE()`, `getVotes`, `getPastVotes`,
///      `getPastTotalSupply`, `delegates`, `delegate`, `delegateBySig`, and the events `DelegateChanged`
///      and `DelegateVotesChanged`.
interface IBondingVotes is IERC5805Upgradeable {
    /// @notice A caller other than `required` (the BondingManager) called a hook.
    error InvalidCaller(address caller, address required);
    /// @notice `checkpointBondingState` with `startRound != clock() + 1`.
    error InvalidStartRound(uint256 checkpointRound, uint256 requiredRound);
    /// @notice `checkpointBondingState` with `lastClaimRound >= startRound`.
    error FutureLastClaimRound(uint256 lastClaimRound, uint256 maxAllowed);
    /// @notice `checkpointTotalActiveStake` with `round != clock()`.
    error InvalidTotalStakeCheckpointRound(uint256 checkpointRound, uint256 requiredRound);
    /// @notice A lookup beyond the latest round that can be known.
    error FutureLookup(uint256 queryRound, uint256 maxAllowed);
    /// @notice A checkpointed lastRewardRound whose earnings pool has no reward factor.
    error MissingEarningsPool(address transcoder, uint256 round);
    /// @notice A sorted-array push of a value lower than the last one.
    error DecreasingValues(uint256 newValue, uint256 lastValue);
    /// @notice Delegation goes through the BondingManager (`delegate`/`delegateBySig` always revert).
    error MustCallBondingManager(string bondingManagerFunction);

    /// @notice A delegator's checkpointed bonded amount or last claim round changed.
    event DelegatorBondedAmountChanged(
        address indexed delegate,
        uint256 previousBondedAmount,
        uint256 previousLastClaimRound,
        uint256 newBondedAmount,
        uint256 newLastClaimRound
    );

    /// @notice Record `_account`'s bonding state from round `_startRound` (= clock() + 1) (BondingManager only).
    function checkpointBondingState(
        address _account,
        uint256 _startRound,
        uint256 _bondedAmount,
        address _delegateAddress,
        uint256 _delegatedAmount,
        uint256 _lastClaimRound,
        uint256 _lastRewardRound
    ) external;

    /// @notice Record the total active stake of round `_round` (= clock()) (BondingManager only).
    function checkpointTotalActiveStake(uint256 _totalStake, uint256 _round) external;

    /// @notice Whether `_account` has any checkpoint.
    function hasCheckpoint(address _account) external view returns (bool);

    /// @notice The total active stake at the start of `_round`.
    function getTotalActiveStakeAt(uint256 _round) external view returns (uint256);

    /// @notice Voting power and delegate of `_account` at the start of `_round` (≤ clock() + 1).
    function getVotesAndDelegateAtRoundStart(address _account, uint256 _round)
        external
        view
        returns (uint256 votes, address delegateAddress);

    /// @notice Total voting supply at the start of the next round.
    function totalSupply() external view returns (uint256);

    /// @notice The address `_account` was delegated to at the end of round `_round` (`_round < clock()`).
    function delegatedAt(address _account, uint256 _round) external view returns (address);

    /// @notice "Livepeer Voting Power".
    function name() external view returns (string memory);

    /// @notice "vLPT".
    function symbol() external view returns (string memory);

    /// @notice 18.
    function decimals() external view returns (uint8);
}
