// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import "@openzeppelin/contracts/utils/math/SafeCast.sol";

import "./ManagerProxyTarget.sol";
import "./interfaces/IBondingVotes.sol";
import "./interfaces/IBondingManager.sol";
import "./interfaces/IRoundsManager.sol";
import "./libraries/EarningsPoolLIP36.sol";
import "./libraries/SortedArrays.sol";

/// @title BondingVotes
/// @notice Checkpointed voting power of bonded stake for the LivepeerGovernor: an ERC-5805 "votes
///         token" whose clock is the round number (protocol.md §7.1; ABI of livepeer/protocol
///         contracts/bonding/BondingVotes.sol). The BondingManager pushes every account's bonding state
///         for the next round (`checkpointBondingState`) and every round's total active stake
///         (`checkpointTotalActiveStake`); reads find the checkpoint at or before a round.
/// @dev Votes of an account at the start of round r, from its checkpoint at or before r:
///      - nothing bonded: 0;
///      - a registered transcoder (delegate == self): its delegatedAmount (all stake delegated to it);
///      - a delegator: 0 if its delegate was not a registered transcoder at r; else its bondedAmount
///        grown by the delegate's reward factor from the delegator's lastClaimRound to the delegate's
///        checkpointed lastRewardRound (LIP-36, `percOf(bonded, CRF_end, CRF_start)`), or just
///        bondedAmount if the delegate has not called reward since that claim.
///      OpenZeppelin's "past" reads (`getPastVotes(a, r)`, `getPastTotalSupply(r)`, `delegatedAt`) take
///      the state at the end of round r, i.e. at the start of r + 1, and require r < clock().
contract BondingVotes is ManagerProxyTarget, IBondingVotes {
    using SortedArrays for uint256[];

    /// @dev An account's bonding state from a start round on (BondingManager Delegator fields plus
    ///      the account's own Transcoder.lastRewardRound), packed into three slots: rounds fit in 48
    ///      bits, the width of the ERC-6372 clock.
    struct BondingCheckpoint {
        uint256 bondedAmount;
        uint256 delegatedAmount;
        address delegateAddress;
        uint48 lastClaimRound;
        uint48 lastRewardRound;
    }

    /// @dev An account's checkpoints: ascending start rounds and the state for each.
    struct AccountCheckpoints {
        uint256[] startRounds;
        mapping(uint256 => BondingCheckpoint) data;
    }

    mapping(address => AccountCheckpoints) private bondingCheckpoints;
    /// @dev Rounds with a total-active-stake checkpoint (ascending) and their values.
    uint256[] private totalStakeRounds;
    mapping(uint256 => uint256) private totalStakeByRound;

    /// @dev Only the registered BondingManager (error InvalidCaller).
    modifier onlyBondingManager() {
        address bm = controller.getContract(keccak256("BondingManager"));
        if (msg.sender != bm) revert InvalidCaller(msg.sender, bm);
        _;
    }

    /// @dev `_round` must be a past round (`< clock()`), else FutureLookup.
    modifier onlyPastRounds(uint256 _round) {
        uint256 current = clock();
        if (_round >= current) revert FutureLookup(_round, current == 0 ? 0 : current - 1);
        _;
    }

    /// @param _controller the Controller this contract is registered in
    constructor(address _controller) ManagerProxyTarget(_controller, keccak256("BondingVotesTarget")) {}

    // -------------------------------------------------------------------------------------------
    // ERC-20-like metadata and ERC-6372 clock (protocol.md §7.1)
    // -------------------------------------------------------------------------------------------

    /// @notice "Livepeer Voting Power".
    function name() external pure returns (string memory) {
        return "Livepeer Voting Power";
    }

    /// @notice "vLPT".
    function symbol() external pure returns (string memory) {
        return "vLPT";
    }

    /// @notice 18, as LPT.
    function decimals() external pure returns (uint8) {
        return 18;
    }

    /// @notice The current round (ERC-6372 clock).
    function clock() public view returns (uint48) {
        return SafeCast.toUint48(_roundsManager().currentRound());
    }

    /// @notice "mode=livepeer_round" (ERC-6372).
    // solhint-disable-next-line func-name-mixedcase
    function CLOCK_MODE() external pure returns (string memory) {
        return "mode=livepeer_round";
    }

    // -------------------------------------------------------------------------------------------
    // IVotes (protocol.md §7.1 "Reads")
    // -------------------------------------------------------------------------------------------

    /// @notice `_account`'s votes at the start of the next round (its current bonding state).
    function getVotes(address _account) external view returns (uint256 votes) {
        (votes, ) = getVotesAndDelegateAtRoundStart(_account, clock() + 1);
    }

    /// @notice `_account`'s votes at the end of past round `_round` (`_round < clock()`).
    function getPastVotes(address _account, uint256 _round) external view onlyPastRounds(_round) returns (uint256 votes) {
        (votes, ) = getVotesAndDelegateAtRoundStart(_account, _round + 1);
    }

    /// @notice Total active stake at the start of the next round.
    function totalSupply() external view returns (uint256) {
        return getTotalActiveStakeAt(clock() + 1);
    }

    /// @notice Total active stake at the end of past round `_round` (`_round < clock()`).
    function getPastTotalSupply(uint256 _round) external view onlyPastRounds(_round) returns (uint256) {
        return getTotalActiveStakeAt(_round + 1);
    }

    /// @notice `_account`'s delegate as of the next round (itself for a transcoder).
    function delegates(address _account) external view returns (address delegateAddress) {
        (, delegateAddress) = getVotesAndDelegateAtRoundStart(_account, clock() + 1);
    }

    /// @notice `_account`'s delegate at the end of past round `_round` (`_round < clock()`), used by the
    ///         Governor's delegator vote override (protocol.md §7.3).
    function delegatedAt(address _account, uint256 _round) external view onlyPastRounds(_round) returns (address delegateAddress) {
        (, delegateAddress) = getVotesAndDelegateAtRoundStart(_account, _round + 1);
    }

    /// @notice Always reverts `MustCallBondingManager("bond")`: delegating is bonding.
    function delegate(address) external pure {
        revert MustCallBondingManager("bond");
    }

    /// @notice Always reverts `MustCallBondingManager("bondFor")`: delegating is bonding.
    function delegateBySig(address, uint256, uint256, uint8, bytes32, bytes32) external pure {
        revert MustCallBondingManager("bondFor");
    }

    // -------------------------------------------------------------------------------------------
    // BondingManager hooks (protocol.md §7.1 "Hooks")
    // -------------------------------------------------------------------------------------------

    /// @notice Record `_account`'s bonding state from `_startRound` (must be clock() + 1; error
    ///         InvalidStartRound), overwriting that round's checkpoint; `_lastClaimRound` must be
    ///         < `_startRound` (FutureLastClaimRound). Emits DelegateChanged, DelegateVotesChanged and
    ///         DelegatorBondedAmountChanged for what changed (BondingManager only).
    function checkpointBondingState(
        address _account,
        uint256 _startRound,
        uint256 _bondedAmount,
        address _delegateAddress,
        uint256 _delegatedAmount,
        uint256 _lastClaimRound,
        uint256 _lastRewardRound
    ) external onlyBondingManager {
        uint256 nextRound = uint256(clock()) + 1;
        if (_startRound != nextRound) revert InvalidStartRound(_startRound, nextRound);
        if (_lastClaimRound >= _startRound) revert FutureLastClaimRound(_lastClaimRound, _startRound - 1);

        BondingCheckpoint memory previous = _checkpointAt(_account, _startRound);
        BondingCheckpoint memory current = BondingCheckpoint({
            bondedAmount: _bondedAmount,
            delegatedAmount: _delegatedAmount,
            delegateAddress: _delegateAddress,
            lastClaimRound: SafeCast.toUint48(_lastClaimRound),
            lastRewardRound: SafeCast.toUint48(_lastRewardRound)
        });

        AccountCheckpoints storage cps = bondingCheckpoints[_account];
        cps.data[_startRound] = current;
        cps.startRounds.pushSorted(_startRound);

        _emitCheckpointChanges(_account, previous, current);
    }

    /// @notice Record the total active stake of round `_round` (must be clock(); error
    ///         InvalidTotalStakeCheckpointRound) (BondingManager only, from initializeRound).
    function checkpointTotalActiveStake(uint256 _totalStake, uint256 _round) external onlyBondingManager {
        uint256 current = clock();
        if (_round != current) revert InvalidTotalStakeCheckpointRound(_round, current);
        totalStakeByRound[_round] = _totalStake;
        totalStakeRounds.pushSorted(_round);
    }

    // -------------------------------------------------------------------------------------------
    // Historical reads
    // -------------------------------------------------------------------------------------------

    /// @notice Whether `_account` has any checkpoint.
    function hasCheckpoint(address _account) external view returns (bool) {
        return bondingCheckpoints[_account].startRounds.length > 0;
    }

    /// @notice Total active stake at the start of `_round` (≤ clock() + 1, else FutureLookup): the
    ///         round's checkpoint if non-zero; else 0 before the first checkpoint; else the next
    ///         checkpointed round's value; else (after the last one) `nextRoundTotalActiveStake()`.
    function getTotalActiveStakeAt(uint256 _round) public view returns (uint256) {
        uint256 maxRound = uint256(clock()) + 1;
        if (_round > maxRound) revert FutureLookup(_round, maxRound);

        uint256 exact = totalStakeByRound[_round];
        if (exact > 0) return exact;

        uint256 upper = totalStakeRounds.findUpperBound(_round);
        if (upper == 0) return 0;
        if (upper < totalStakeRounds.length) return totalStakeByRound[totalStakeRounds[upper]];
        return _bondingManager().nextRoundTotalActiveStake();
    }

    /// @notice `_account`'s votes and delegate at the start of `_round` (≤ clock() + 1, else FutureLookup).
    function getVotesAndDelegateAtRoundStart(address _account, uint256 _round)
        public
        view
        returns (uint256 votes, address delegateAddress)
    {
        BondingCheckpoint storage bond = _checkpointAt(_account, _round);
        delegateAddress = bond.delegateAddress;
        if (bond.bondedAmount == 0) return (0, delegateAddress);
        if (delegateAddress == _account) return (bond.delegatedAmount, delegateAddress);
        votes = _delegatorVotesAtRoundStart(bond, _round);
    }

    // -------------------------------------------------------------------------------------------
    // Internal
    // -------------------------------------------------------------------------------------------

    /// @dev The checkpoint of `_account` in force at `_round` (latest start round ≤ `_round`), or an
    ///      empty one if there is none.
    function _checkpointAt(address _account, uint256 _round) internal view returns (BondingCheckpoint storage) {
        uint256 maxRound = uint256(clock()) + 1;
        if (_round > maxRound) revert FutureLookup(_round, maxRound);

        AccountCheckpoints storage cps = bondingCheckpoints[_account];
        uint256 idx = cps.startRounds.findLowerBound(_round);
        // No checkpoint at or before _round: data[_round] is empty (any write at _round is indexed).
        if (idx == cps.startRounds.length) return cps.data[_round];
        return cps.data[cps.startRounds[idx]];
    }

    /// @dev A delegator's votes at the start of `_round` (see the contract notes).
    function _delegatorVotesAtRoundStart(BondingCheckpoint storage _bond, uint256 _round) internal view returns (uint256) {
        address transcoder = _bond.delegateAddress;
        BondingCheckpoint storage tBond = _checkpointAt(transcoder, _round);
        if (tBond.delegateAddress != transcoder || tBond.bondedAmount == 0) return 0;

        uint256 rewardRound = tBond.lastRewardRound;
        uint256 lastClaimRound = _bond.lastClaimRound;
        if (rewardRound < lastClaimRound) return _bond.bondedAmount;

        IBondingManager bm = _bondingManager();
        (, , , uint256 startCrf, ) = bm.getTranscoderEarningsPoolForRound(transcoder, lastClaimRound);
        uint256 endCrf;
        if (rewardRound > 0) {
            (, , , endCrf, ) = bm.getTranscoderEarningsPoolForRound(transcoder, rewardRound);
            if (endCrf == 0) revert MissingEarningsPool(transcoder, rewardRound);
        }
        return EarningsPoolLIP36.delegatorCumulativeStake(startCrf, endCrf, _bond.bondedAmount);
    }

    /// @dev Events for a checkpoint change (protocol.md §7.1 "Hooks").
    function _emitCheckpointChanges(
        address _account,
        BondingCheckpoint memory _previous,
        BondingCheckpoint memory _current
    ) internal {
        if (_previous.delegateAddress != _current.delegateAddress) {
            emit DelegateChanged(_account, _previous.delegateAddress, _current.delegateAddress);
        }

        bool wasTranscoder = _previous.delegateAddress == _account && _previous.bondedAmount > 0;
        bool isTranscoder = _current.delegateAddress == _account && _current.bondedAmount > 0;
        uint256 previousVotes = wasTranscoder ? _previous.delegatedAmount : 0;
        uint256 currentVotes = isTranscoder ? _current.delegatedAmount : 0;
        if (previousVotes != currentVotes) emit DelegateVotesChanged(_account, previousVotes, currentVotes);

        if (
            _previous.bondedAmount != _current.bondedAmount || _previous.lastClaimRound != _current.lastClaimRound
        ) {
            emit DelegatorBondedAmountChanged(
                _account,
                _previous.bondedAmount,
                _previous.lastClaimRound,
                _current.bondedAmount,
                _current.lastClaimRound
            );
        }
    }

    function _roundsManager() internal view returns (IRoundsManager) {
        return IRoundsManager(controller.getContract(keccak256("RoundsManager")));
    }

    function _bondingManager() internal view returns (IBondingManager) {
        return IBondingManager(controller.getContract(keccak256("BondingManager")));
    }
}
