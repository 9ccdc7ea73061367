// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import "./ManagerProxyTarget.sol";
import "./interfaces/IBondingManager.sol";
import "./interfaces/IBondingVotes.sol";
import "./interfaces/ILivepeerToken.sol";
import "./interfaces/IMinter.sol";
import "./interfaces/IRoundsManager.sol";
import "./libraries/MathUtils.sol";
import "./libraries/PreciseMathUtils.sol";
import "./libraries/EarningsPoolLIP36.sol";
import "./libraries/SortedTranscoderPool.sol";

/// @title BondingManager
/// @notice Bonding of LPT to orchestrators ("transcoders"), the stake-sorted transcoder pool with
///         next-round activation, unbonding locks, inflationary rewards split by rewardCut, ticket fees
///         split by feeShare, and LIP-36 cumulative earnings accounting (protocol.md §2; ABI of
///         livepeer/protocol contracts/bonding/BondingManager.sol, Arbitrum target "v9").
/// @dev Our own implementation, registered directly in the Controller as "BondingManager" (no proxy,
///      protocol.md §10.2). All bonded LPT and all ETH fees are held by the Minter (protocol.md §1.5
///      "Custody"); this contract only keeps the books and tells the Minter to pay out. Every
///      bonding-state change is pushed to BondingVotes (protocol.md §2.3 "Checkpoint", §7.1); if no
///      BondingVotes is registered the checkpoint is skipped. Pool position hints are honoured when
///      exactly right and otherwise ignored (protocol.md §2.4 "Hints"). Slashing is disabled.
contract BondingManager is ManagerProxyTarget, IBondingManager {
    using SortedTranscoderPool for SortedTranscoderPool.Data;
    using EarningsPoolLIP36 for EarningsPoolLIP36.Data;

    /// @dev deactivationRound of a transcoder that has not been scheduled for deactivation.
    uint256 private constant MAX_FUTURE_ROUND = type(uint256).max;

    /// @dev A transcoder's state (protocol.md §2.1 "Transcoder fields").
    struct Transcoder {
        uint256 lastRewardRound; // last round in which reward was called
        uint256 rewardCut; // share of rewards the transcoder keeps (1e6)
        uint256 feeShare; // share of fees passed to delegators (1e6)
        mapping(uint256 => EarningsPoolLIP36.Data) earningsPoolPerRound; // round => earnings pool
        uint256 lastActiveStakeUpdateRound; // round for which the pool stake was last written
        uint256 activationRound; // first active round
        uint256 deactivationRound; // first inactive round (MAX_FUTURE_ROUND if none)
        uint256 activeCumulativeRewards; // cumulativeRewards as of the last reward call
        uint256 cumulativeRewards; // unclaimed rewards earned through the reward cut and own rewards
        uint256 cumulativeFees; // unclaimed fees earned through the fee commission and own rewards
        uint256 lastFeeRound; // last round in which fees were booked
    }

    /// @dev Stake waiting to be withdrawn (protocol.md §2.1).
    struct UnbondingLock {
        uint256 amount;
        uint256 withdrawRound; // 0 = no lock
    }

    /// @dev A delegator's state (protocol.md §2.1 "Delegator fields").
    struct Delegator {
        uint256 bondedAmount; // own stake
        uint256 fees; // claimed, unwithdrawn ETH
        address delegateAddress;
        uint256 delegatedAmount; // total stake delegated to this address (incl. its own self-bond)
        uint256 startRound; // round from which the bond counts (Pending before it)
        uint256 lastClaimRound;
        uint256 nextUnbondingLockId;
        mapping(uint256 => UnbondingLock) unbondingLocks;
    }

    /// @notice Rounds between unbonding and possible withdrawal.
    uint64 public unbondingPeriod;

    mapping(address => Delegator) private delegators;
    mapping(address => Transcoder) private transcoders;

    /// @notice Total active stake of the current round (copied from `nextRoundTotalActiveStake` at
    ///         every round initialization).
    uint256 public currentRoundTotalActiveStake;
    /// @notice Total stake of the pool, i.e. of the active set of the next round.
    uint256 public nextRoundTotalActiveStake;

    /// @dev The pool: the active set of the next round, sorted by delegated stake (protocol.md §2.4).
    SortedTranscoderPool.Data private transcoderPool;

    /// @notice Share (1e27) of each reward mint routed to the Treasury in the current round.
    uint256 public treasuryRewardCutRate;
    /// @notice `treasuryRewardCutRate` from the next round initialization on.
    uint256 public nextRoundTreasuryRewardCutRate;
    /// @notice Treasury LPT balance at which the treasury cut halts (0 = no ceiling).
    uint256 public treasuryBalanceCeiling;

    /// @dev The current round must be initialized (protocol.md §1.4).
    modifier currentRoundInitialized() {
        require(_roundsManager().currentRoundInitialized(), "current round is not initialized");
        _;
    }

    /// @param _controller the Controller this contract is registered in
    constructor(address _controller) ManagerProxyTarget(_controller, keccak256("BondingManagerTarget")) {}

    // -------------------------------------------------------------------------------------------
    // Governance setters (protocol.md §2.2)
    // -------------------------------------------------------------------------------------------

    /// @notice Set the unbonding period in rounds (controller owner; protocol.md §2.2).
    function setUnbondingPeriod(uint64 _unbondingPeriod) external onlyControllerOwner {
        unbondingPeriod = _unbondingPeriod;
        emit ParameterUpdate("unbondingPeriod");
    }

    /// @notice Raise the number of active transcoders (the pool capacity); it can only grow
    ///         ("new max size must be greater than old max size") (controller owner; protocol.md §2.2).
    ///         Must be called before anyone bonds (protocol.md §2.4 "Pool max 0").
    function setNumActiveTranscoders(uint256 _numActiveTranscoders) external onlyControllerOwner {
        transcoderPool.setMaxSize(_numActiveTranscoders);
        emit ParameterUpdate("numActiveTranscoders");
    }

    /// @notice Set the treasury reward cut rate (≤ 1e27), effective from the next round initialization
    ///         (controller owner; protocol.md §2.2, §2.6 "Treasury cut"). The default is 0.
    function setTreasuryRewardCutRate(uint256 _cutRate) external onlyControllerOwner {
        _setTreasuryRewardCutRate(_cutRate);
    }

    /// @notice Set the Treasury LPT balance at which the treasury cut halts (controller owner; protocol.md §2.2).
    function setTreasuryBalanceCeiling(uint256 _ceiling) external onlyControllerOwner {
        treasuryBalanceCeiling = _ceiling;
        emit ParameterUpdate("treasuryBalanceCeiling");
    }

    // -------------------------------------------------------------------------------------------
    // Calls from other protocol contracts
    // -------------------------------------------------------------------------------------------

    /// @notice Start a round: copy the next-round total active stake into the current round, apply
    ///         the next-round treasury cut rate and checkpoint the total in BondingVotes
    ///         (RoundsManager only, from `initializeRound`; protocol.md §2.2, §4).
    function setCurrentRoundTotalActiveStake() external {
        require(msg.sender == controller.getContract(keccak256("RoundsManager")), "caller must be RoundsManager");
        uint256 total = nextRoundTotalActiveStake;
        currentRoundTotalActiveStake = total;

        uint256 nextRate = nextRoundTreasuryRewardCutRate;
        if (nextRate != treasuryRewardCutRate) {
            treasuryRewardCutRate = nextRate;
            emit ParameterUpdate("treasuryRewardCutRate");
        }

        address bv = controller.getContract(keccak256("BondingVotes"));
        if (bv != address(0)) IBondingVotes(bv).checkpointTotalActiveStake(total, _currentRound());
    }

    /// @notice Book `_fees` wei of ticket fees for `_transcoder` in the current round, split by its
    ///         feeShare (TicketBroker only; `_round` is ignored, LIP-36; protocol.md §2.5). The ETH
    ///         stays in the Minter. Reverts if the transcoder is not registered, or (division by zero)
    ///         if it has never had pool stake.
    function updateTranscoderWithFees(address _transcoder, uint256 _fees, uint256 _round) external whenSystemNotPaused {
        _round;
        require(msg.sender == controller.getContract(keccak256("TicketBroker")), "caller must be TicketBroker");
        require(isRegisteredTranscoder(_transcoder), "transcoder must be registered");

        uint256 r = _currentRound();
        Transcoder storage t = transcoders[_transcoder];
        EarningsPoolLIP36.Data storage pool = t.earningsPoolPerRound[r];
        EarningsPoolLIP36.Factors memory prev = _latestCumulativeFactors(t, r - 1);

        uint256 lastRewardRound = t.lastRewardRound;
        uint256 activeCumulativeRewards = t.activeCumulativeRewards;
        if (r > lastRewardRound) {
            // No reward call yet this round: set the pool up as reward() would.
            pool.transcoderRewardCut = t.rewardCut;
            pool.transcoderFeeShare = t.feeShare;
            uint256 lastUpdateRound = t.lastActiveStakeUpdateRound;
            if (lastUpdateRound < r) pool.totalStake = t.earningsPoolPerRound[lastUpdateRound].totalStake;
            activeCumulativeRewards = t.cumulativeRewards;
        }

        uint256 totalStake = pool.totalStake;
        if (prev.cumulativeRewardFactor == 0 && lastRewardRound == r) {
            // Reward was called this round but the previous round has no reward factor: divide this
            // round's growth out of the current factor (protocol.md §2.5 step 5).
            prev.cumulativeRewardFactor = _backfilledPreviousRewardFactor(pool, totalStake);
        }

        uint256 delegatorsFees = MathUtils.percOf(_fees, pool.transcoderFeeShare);
        uint256 transcoderCommissionFees = _fees - delegatorsFees;
        uint256 transcoderRewardStakeFees = PreciseMathUtils.percOf(delegatorsFees, activeCumulativeRewards, totalStake);
        t.cumulativeFees += transcoderRewardStakeFees + transcoderCommissionFees;
        pool.updateCumulativeFeeFactor(prev, delegatorsFees);
        t.lastFeeRound = r;
    }

    /// @notice Slashing is disabled: the Verifier is unset on Arbitrum (protocol.md §1.5, §10.2). Always
    ///         reverts. Declared nonpayable, as in the deployed ABI (solc suggests `pure`; that warning is expected).
    function slashTranscoder(address, address, uint256, uint256) external {
        revert("slashTranscoder is disabled: no Verifier");
    }

    // -------------------------------------------------------------------------------------------
    // Orchestrator actions
    // -------------------------------------------------------------------------------------------

    /// @notice Set the caller's rewardCut and feeShare (protocol.md §2.3 "transcoderWithHint").
    function transcoder(uint256 _rewardCut, uint256 _feeShare) external {
        transcoderWithHint(_rewardCut, _feeShare, address(0), address(0));
    }

    /// @notice Set the caller's rewardCut and feeShare (1e6 units) and, if the caller is not in the
    ///         pool, try to join it for the next round. Refused in the round-lock window, and for an
    ///         active transcoder that has not called reward this round (protocol.md §2.3).
    function transcoderWithHint(uint256 _rewardCut, uint256 _feeShare, address _newPosPrev, address _newPosNext)
        public
        whenSystemNotPaused
        currentRoundInitialized
    {
        require(!_roundsManager().currentRoundLocked(), "can't update transcoder params, current round is locked");
        require(MathUtils.validPerc(_rewardCut), "invalid rewardCut percentage");
        require(MathUtils.validPerc(_feeShare), "invalid feeShare percentage");
        require(isRegisteredTranscoder(msg.sender), "transcoder must be registered");

        uint256 r = _currentRound();
        Transcoder storage t = transcoders[msg.sender];
        require(
            !_isActive(t, r) || t.lastRewardRound == r,
            "caller can't be active or must have already called reward for the current round"
        );

        t.rewardCut = _rewardCut;
        t.feeShare = _feeShare;

        if (!transcoderPool.contains(msg.sender)) {
            _tryToJoinActiveSet(msg.sender, delegators[msg.sender].delegatedAmount, r, _newPosPrev, _newPosNext);
        }

        emit TranscoderUpdate(msg.sender, _rewardCut, _feeShare);
    }

    /// @notice Mint the caller's reward for the current round (protocol.md §2.3 "rewardWithHint").
    function reward() external {
        rewardWithHint(address(0), address(0));
    }

    /// @notice Mint the caller's share of the round's mintable LPT, `Minter.createReward(poolStake,
    ///         currentRoundTotalActiveStake)`, take the treasury cut, and book the rest for the caller
    ///         (rewardCut) and its delegators (LIP-36 reward factor); once per active transcoder per
    ///         round (protocol.md §2.3 "rewardWithHint", §2.6 "On reward").
    function rewardWithHint(address _newPosPrev, address _newPosNext) public whenSystemNotPaused currentRoundInitialized {
        uint256 r = _currentRound();
        Transcoder storage t = transcoders[msg.sender];
        require(_isActive(t, r), "caller must be an active transcoder");
        require(t.lastRewardRound != r, "caller has already called reward for the current round");

        EarningsPoolLIP36.Data storage pool = t.earningsPoolPerRound[r];
        pool.transcoderRewardCut = t.rewardCut;
        pool.transcoderFeeShare = t.feeShare;
        uint256 lastUpdateRound = t.lastActiveStakeUpdateRound;
        if (lastUpdateRound < r) pool.totalStake = t.earningsPoolPerRound[lastUpdateRound].totalStake;

        uint256 ceiling = treasuryBalanceCeiling;
        if (ceiling > 0 && nextRoundTreasuryRewardCutRate > 0) {
            if (_livepeerToken().balanceOf(_treasury()) >= ceiling) _setTreasuryRewardCutRate(0);
        }

        IMinter mtr = _minter();
        uint256 totalRewardTokens = mtr.createReward(pool.totalStake, currentRoundTotalActiveStake);
        uint256 treasuryRewards = PreciseMathUtils.percOf(totalRewardTokens, treasuryRewardCutRate);
        if (treasuryRewards > 0) {
            address trsry = _treasury();
            mtr.trustedTransferTokens(trsry, treasuryRewards);
            emit TreasuryReward(msg.sender, trsry, treasuryRewards);
        }
        uint256 rewards = totalRewardTokens - treasuryRewards;

        _updateTranscoderWithRewards(msg.sender, rewards, r, _newPosPrev, _newPosNext);
        t.lastRewardRound = r;

        emit Reward(msg.sender, rewards);
        _checkpoint(msg.sender, r);
    }

    // -------------------------------------------------------------------------------------------
    // Delegator actions
    // -------------------------------------------------------------------------------------------

    /// @notice Bond `_amount` LPT from the caller to `_to` (protocol.md §2.3 "bondForWithHint").
    function bond(uint256 _amount, address _to) external {
        bondForWithHint(_amount, msg.sender, _to, address(0), address(0), address(0), address(0));
    }

    /// @notice Bond `_amount` LPT from the caller to `_to` with pool position hints (protocol.md §2.3).
    function bondWithHint(
        uint256 _amount,
        address _to,
        address _oldDelegateNewPosPrev,
        address _oldDelegateNewPosNext,
        address _currDelegateNewPosPrev,
        address _currDelegateNewPosNext
    ) external {
        bondForWithHint(
            _amount,
            msg.sender,
            _to,
            _oldDelegateNewPosPrev,
            _oldDelegateNewPosNext,
            _currDelegateNewPosPrev,
            _currDelegateNewPosNext
        );
    }

    /// @notice Bond `_amount` LPT, paid by the caller (`transferFrom(msg.sender, Minter)`), for `_owner`
    ///         to `_to`; with `_amount = 0` and a new `_to` it moves the owner's existing stake. Self-bonding
    ///         registers a transcoder, which tries to join the pool for the next round. Third parties may
    ///         only add to an existing delegation or create a non-self one (protocol.md §2.3 "bondForWithHint").
    function bondForWithHint(
        uint256 _amount,
        address _owner,
        address _to,
        address _oldDelegateNewPosPrev,
        address _oldDelegateNewPosNext,
        address _currDelegateNewPosPrev,
        address _currDelegateNewPosNext
    ) public whenSystemNotPaused currentRoundInitialized {
        uint256 r = _currentRound();
        _authorizeClaimEarnings(_owner, r);
        _autoClaimEarnings(_owner, r);

        (address currentDelegate, uint256 delegationAmount) = _leaveCurrentDelegate(
            _amount,
            _owner,
            _to,
            r,
            _oldDelegateNewPosPrev,
            _oldDelegateNewPosNext
        );

        _ensureInitializedCumulativeFactors(_to, r);

        require(delegationAmount > 0, "delegation amount must be greater than 0");
        Delegator storage del = delegators[_owner];
        del.delegateAddress = _to;
        uint256 newBondedAmount = del.bondedAmount + _amount;
        del.bondedAmount = newBondedAmount;

        _increaseTotalStake(_to, delegationAmount, r, _currDelegateNewPosPrev, _currDelegateNewPosNext);
        if (_to != _owner) _checkpoint(_to, r);

        if (_amount > 0) _livepeerToken().transferFrom(msg.sender, address(_minter()), _amount);

        emit Bond(_to, currentDelegate, _owner, _amount, newBondedAmount);
        _checkpoint(_owner, r);
    }

    /// @notice Unbond `_amount` of the caller's stake into a new unbonding lock (protocol.md §2.3 "unbondWithHint").
    function unbond(uint256 _amount) external {
        unbondWithHint(_amount, address(0), address(0));
    }

    /// @notice Unbond `_amount` (0 < amount ≤ bonded) of the caller's stake into a lock withdrawable
    ///         at `currentRound + unbondingPeriod`. Only Bonded (not Pending) stake can be unbonded. A full
    ///         unbond clears the delegate and resigns the caller from the pool (protocol.md §2.3).
    function unbondWithHint(uint256 _amount, address _newPosPrev, address _newPosNext)
        public
        whenSystemNotPaused
        currentRoundInitialized
    {
        uint256 r = _currentRound();
        _autoClaimEarnings(msg.sender, r);
        _unbond(_amount, r, _newPosPrev, _newPosNext);
    }

    /// @notice Rebond lock `_unbondingLockId` to the caller's current delegate (protocol.md §2.3).
    function rebond(uint256 _unbondingLockId) external {
        rebondWithHint(_unbondingLockId, address(0), address(0));
    }

    /// @notice Rebond a lock to the current delegate; the caller must be Bonded or Pending
    ///         ("caller must be bonded") (protocol.md §2.3 "processRebond").
    function rebondWithHint(uint256 _unbondingLockId, address _newPosPrev, address _newPosNext)
        public
        whenSystemNotPaused
        currentRoundInitialized
    {
        uint256 r = _currentRound();
        _autoClaimEarnings(msg.sender, r);
        require(delegators[msg.sender].bondedAmount > 0, "caller must be bonded");
        _processRebond(msg.sender, _unbondingLockId, r, _newPosPrev, _newPosNext);
    }

    /// @notice Rebond a lock to `_to` while Unbonded (protocol.md §2.3).
    function rebondFromUnbonded(address _to, uint256 _unbondingLockId) external {
        rebondFromUnbondedWithHint(_to, _unbondingLockId, address(0), address(0));
    }

    /// @notice Rebond a lock to `_to`; the caller must be Unbonded ("caller must be unbonded"); the
    ///         bond starts next round (protocol.md §2.3 "processRebond").
    function rebondFromUnbondedWithHint(address _to, uint256 _unbondingLockId, address _newPosPrev, address _newPosNext)
        public
        whenSystemNotPaused
        currentRoundInitialized
    {
        uint256 r = _currentRound();
        _autoClaimEarnings(msg.sender, r);
        Delegator storage del = delegators[msg.sender];
        require(del.bondedAmount == 0, "caller must be unbonded");
        _ensureInitializedCumulativeFactors(_to, r);
        del.startRound = r + 1;
        del.delegateAddress = _to;
        _processRebond(msg.sender, _unbondingLockId, r, _newPosPrev, _newPosNext);
    }

    /// @notice Move `_amount` of the caller's bond to `_delegator`: unbond it into a lock, hand the lock
    ///         over (same withdrawRound), claim the receiver's earnings and rebond the lock for it. A
    ///         receiver without a delegate inherits the caller's (protocol.md §2.2 "transferBond").
    function transferBond(
        address _delegator,
        uint256 _amount,
        address _oldDelegateNewPosPrev,
        address _oldDelegateNewPosNext,
        address _newDelegateNewPosPrev,
        address _newDelegateNewPosNext
    ) external whenSystemNotPaused currentRoundInitialized {
        uint256 r = _currentRound();
        _authorizeClaimEarnings(_delegator, r);
        _autoClaimEarnings(msg.sender, r);

        address oldDelDelegate = delegators[msg.sender].delegateAddress;
        _unbond(_amount, r, _oldDelegateNewPosPrev, _oldDelegateNewPosNext);
        uint256 newLockId = _moveLastLock(_delegator, _amount);

        Delegator storage newDel = delegators[_delegator];
        if (newDel.lastClaimRound < r) _updateDelegatorWithEarnings(_delegator, r);

        if (newDel.delegateAddress == address(0) && newDel.bondedAmount == 0) {
            require(oldDelDelegate != _delegator, "INVALID_DELEGATOR");
            require(_delegator != address(0), "INVALID_DELEGATOR");
            newDel.delegateAddress = oldDelDelegate;
        }
        if (newDel.bondedAmount == 0) newDel.startRound = r + 1;

        _processRebond(_delegator, newLockId, r, _newDelegateNewPosPrev, _newDelegateNewPosNext);
    }

    /// @notice Withdraw lock `_unbondingLockId` once `withdrawRound ≤ currentRound`; the Minter pays
    ///         the LPT to the caller (protocol.md §2.2 "withdrawStake").
    function withdrawStake(uint256 _unbondingLockId) external whenSystemNotPaused currentRoundInitialized {
        UnbondingLock storage lock = delegators[msg.sender].unbondingLocks[_unbondingLockId];
        uint256 withdrawRound = lock.withdrawRound;
        require(withdrawRound > 0, "invalid unbonding lock ID");
        require(withdrawRound <= _currentRound(), "withdraw round must be before or equal to the current round");

        uint256 amount = lock.amount;
        delete delegators[msg.sender].unbondingLocks[_unbondingLockId];
        _minter().trustedTransferTokens(msg.sender, amount);

        emit WithdrawStake(msg.sender, _unbondingLockId, amount, withdrawRound);
    }

    /// @notice Claim earnings, then withdraw `_amount` wei of the caller's fees to `_recipient` through
    ///         the Minter (protocol.md §2.2 "withdrawFees").
    function withdrawFees(address payable _recipient, uint256 _amount) external whenSystemNotPaused currentRoundInitialized {
        uint256 r = _currentRound();
        _autoClaimEarnings(msg.sender, r);
        require(_recipient != address(0), "invalid recipient");
        uint256 fees = delegators[msg.sender].fees;
        require(fees >= _amount, "insufficient fees to withdraw");
        delegators[msg.sender].fees = fees - _amount;

        _minter().trustedWithdrawETH(_recipient, _amount);

        emit WithdrawFees(msg.sender, _recipient, _amount);
        _checkpoint(msg.sender, r);
    }

    /// @notice Claim the caller's LIP-36 earnings up to the current round; `_endRound` is ignored
    ///         (protocol.md §2.2 "claimEarnings", §2.6 "Claim").
    function claimEarnings(uint256 _endRound) external whenSystemNotPaused currentRoundInitialized {
        _endRound;
        uint256 r = _currentRound();
        _autoClaimEarnings(msg.sender, r);
        _checkpoint(msg.sender, r);
    }

    /// @notice Re-push `_account`'s bonding state to BondingVotes (protocol.md §2.2).
    function checkpointBondingState(address _account) external {
        _checkpoint(_account, _currentRound());
    }

    // -------------------------------------------------------------------------------------------
    // Views (protocol.md §2.1, §2.2)
    // -------------------------------------------------------------------------------------------

    /// @notice `_delegator`'s bonded stake including unclaimed rewards up to the current round
    ///         (`_endRound` ignored; protocol.md §2.6 "Claim").
    function pendingStake(address _delegator, uint256 _endRound) external view returns (uint256 stake) {
        _endRound;
        (stake, ) = _pendingStakeAndFees(_delegator, _currentRound());
    }

    /// @notice `_delegator`'s fees including unclaimed fees up to the current round (`_endRound` ignored).
    function pendingFees(address _delegator, uint256 _endRound) external view returns (uint256 fees) {
        _endRound;
        (, fees) = _pendingStakeAndFees(_delegator, _currentRound());
    }

    /// @notice Total stake delegated to `_transcoder` (its delegatedAmount).
    function transcoderTotalStake(address _transcoder) external view returns (uint256) {
        return delegators[_transcoder].delegatedAmount;
    }

    /// @notice Registered (1) iff self-bonded with stake > 0, else NotRegistered (0).
    function transcoderStatus(address _transcoder) external view returns (TranscoderStatus) {
        return isRegisteredTranscoder(_transcoder) ? TranscoderStatus.Registered : TranscoderStatus.NotRegistered;
    }

    /// @notice Unbonded (2) if nothing is bonded, Pending (0) before startRound, else Bonded (1).
    function delegatorStatus(address _delegator) public view returns (DelegatorStatus) {
        Delegator storage del = delegators[_delegator];
        if (del.bondedAmount == 0) return DelegatorStatus.Unbonded;
        if (del.startRound > _currentRound()) return DelegatorStatus.Pending;
        return DelegatorStatus.Bonded;
    }

    /// @notice A transcoder's state (protocol.md §2.2 "Views").
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
        )
    {
        Transcoder storage t = transcoders[_transcoder];
        return (
            t.lastRewardRound,
            t.rewardCut,
            t.feeShare,
            t.lastActiveStakeUpdateRound,
            t.activationRound,
            t.deactivationRound,
            t.activeCumulativeRewards,
            t.cumulativeRewards,
            t.cumulativeFees,
            t.lastFeeRound
        );
    }

    /// @notice A transcoder's earnings pool for `_round` (raw stored values).
    function getTranscoderEarningsPoolForRound(address _transcoder, uint256 _round)
        external
        view
        returns (
            uint256 totalStake,
            uint256 transcoderRewardCut,
            uint256 transcoderFeeShare,
            uint256 cumulativeRewardFactor,
            uint256 cumulativeFeeFactor
        )
    {
        EarningsPoolLIP36.Data storage p = transcoders[_transcoder].earningsPoolPerRound[_round];
        return (p.totalStake, p.transcoderRewardCut, p.transcoderFeeShare, p.cumulativeRewardFactor, p.cumulativeFeeFactor);
    }

    /// @notice A delegator's state (protocol.md §2.2 "Views").
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
        )
    {
        Delegator storage d = delegators[_delegator];
        return (d.bondedAmount, d.fees, d.delegateAddress, d.delegatedAmount, d.startRound, d.lastClaimRound, d.nextUnbondingLockId);
    }

    /// @notice An unbonding lock (zeros if it does not exist).
    function getDelegatorUnbondingLock(address _delegator, uint256 _unbondingLockId)
        external
        view
        returns (uint256 amount, uint256 withdrawRound)
    {
        UnbondingLock storage lock = delegators[_delegator].unbondingLocks[_unbondingLockId];
        return (lock.amount, lock.withdrawRound);
    }

    /// @notice The pool capacity, i.e. numActiveTranscoders.
    function getTranscoderPoolMaxSize() external view returns (uint256) {
        return transcoderPool.maxSize;
    }

    /// @notice The number of transcoders in the pool (the next round's active set).
    function getTranscoderPoolSize() external view returns (uint256) {
        return transcoderPool.size;
    }

    /// @notice The pool member with the largest stake (zero if the pool is empty).
    function getFirstTranscoderInPool() external view returns (address) {
        return transcoderPool.head;
    }

    /// @notice The pool member after `_transcoder` in stake order (zero at the end or if absent).
    function getNextTranscoderInPool(address _transcoder) external view returns (address) {
        return transcoderPool.nodes[_transcoder].nextId;
    }

    /// @notice The current round's total active stake (not all bonded LPT) (protocol.md §2.1).
    function getTotalBonded() external view returns (uint256) {
        return currentRoundTotalActiveStake;
    }

    /// @notice Whether `activationRound ≤ currentRound < deactivationRound` (protocol.md §2.1).
    function isActiveTranscoder(address _transcoder) public view returns (bool) {
        return _isActive(transcoders[_transcoder], _currentRound());
    }

    /// @notice Whether `_transcoder` is self-delegated with bondedAmount > 0 (protocol.md §2.1).
    function isRegisteredTranscoder(address _transcoder) public view returns (bool) {
        Delegator storage d = delegators[_transcoder];
        return d.delegateAddress == _transcoder && d.bondedAmount > 0;
    }

    /// @notice Whether the lock exists (withdrawRound > 0).
    function isValidUnbondingLock(address _delegator, uint256 _unbondingLockId) public view returns (bool) {
        return delegators[_delegator].unbondingLocks[_unbondingLockId].withdrawRound > 0;
    }

    // -------------------------------------------------------------------------------------------
    // Internal: bonding
    // -------------------------------------------------------------------------------------------

    /// @dev Body of unbondWithHint for msg.sender, after the auto-claim (protocol.md §2.3 "unbondWithHint").
    function _unbond(uint256 _amount, uint256 _r, address _newPosPrev, address _newPosNext) internal {
        require(delegatorStatus(msg.sender) == DelegatorStatus.Bonded, "caller must be bonded");
        Delegator storage del = delegators[msg.sender];
        require(_amount > 0, "unbond amount must be greater than 0");
        require(_amount <= del.bondedAmount, "amount is greater than bonded amount");

        address currentDelegate = del.delegateAddress;
        uint256 withdrawRound = _r + unbondingPeriod;
        uint256 lockId = del.nextUnbondingLockId++;
        del.unbondingLocks[lockId] = UnbondingLock({amount: _amount, withdrawRound: withdrawRound});
        uint256 remaining = del.bondedAmount - _amount;
        del.bondedAmount = remaining;

        if (remaining == 0) {
            del.delegateAddress = address(0);
            del.startRound = 0;
            if (transcoderPool.contains(msg.sender)) _resignTranscoder(msg.sender, _r);
        }

        _decreaseTotalStake(currentDelegate, _amount, _r, _newPosPrev, _newPosNext);
        if (currentDelegate != msg.sender) _checkpoint(currentDelegate, _r);

        emit Unbond(currentDelegate, msg.sender, lockId, _amount, withdrawRound);
        _checkpoint(msg.sender, _r);
    }

    /// @dev First half of bondForWithHint (protocol.md §2.3 "bondForWithHint" steps 2-4): the
    ///      third-party caller rules, the start round, and, when an existing bond changes delegate, the
    ///      removal of its stake from the old delegate. Returns the old delegate and the amount to
    ///      delegate to the new one.
    function _leaveCurrentDelegate(
        uint256 _amount,
        address _owner,
        address _to,
        uint256 _r,
        address _oldDelegateNewPosPrev,
        address _oldDelegateNewPosNext
    ) internal returns (address currentDelegate, uint256 delegationAmount) {
        Delegator storage del = delegators[_owner];
        delegationAmount = _amount;
        currentDelegate = del.delegateAddress;
        uint256 currentBondedAmount = del.bondedAmount;
        bool unbonded = currentBondedAmount == 0;

        if (msg.sender != _owner && msg.sender != controller.getContract(keccak256("L2Migrator"))) {
            require(_owner != address(0), "INVALID_DELEGATOR");
            if (unbonded) require(_to != _owner, "INVALID_DELEGATE");
            else require(currentDelegate == _to, "INVALID_DELEGATE_CHANGE");
        }

        if (unbonded) {
            del.startRound = _r + 1;
        } else if (currentDelegate != _to) {
            require(!isRegisteredTranscoder(_owner), "registered transcoders can't delegate towards other addresses");
            del.startRound = _r + 1;
            delegationAmount += currentBondedAmount;
            _decreaseTotalStake(currentDelegate, currentBondedAmount, _r, _oldDelegateNewPosPrev, _oldDelegateNewPosNext);
            _checkpoint(currentDelegate, _r);
        }
    }

    /// @dev Move the caller's newest unbonding lock (`_amount`, same withdrawRound) to a new lock of
    ///      `_delegator`; emits TransferBond and returns the new lock id (protocol.md §2.2 "transferBond").
    function _moveLastLock(address _delegator, uint256 _amount) internal returns (uint256 newLockId) {
        Delegator storage oldDel = delegators[msg.sender];
        uint256 oldLockId = oldDel.nextUnbondingLockId - 1;
        uint256 withdrawRound = oldDel.unbondingLocks[oldLockId].withdrawRound;
        delete oldDel.unbondingLocks[oldLockId];

        Delegator storage newDel = delegators[_delegator];
        newLockId = newDel.nextUnbondingLockId++;
        newDel.unbondingLocks[newLockId] = UnbondingLock({amount: _amount, withdrawRound: withdrawRound});
        emit TransferBond(msg.sender, _delegator, oldLockId, newLockId, _amount);
    }

    /// @dev Rebond `_delegator`'s lock to its current delegate (protocol.md §2.3 "processRebond").
    function _processRebond(
        address _delegator,
        uint256 _unbondingLockId,
        uint256 _r,
        address _newPosPrev,
        address _newPosNext
    ) internal {
        Delegator storage del = delegators[_delegator];
        UnbondingLock storage lock = del.unbondingLocks[_unbondingLockId];
        require(lock.withdrawRound > 0, "invalid unbonding lock ID");

        uint256 amount = lock.amount;
        del.bondedAmount += amount;
        delete del.unbondingLocks[_unbondingLockId];

        address delegate = del.delegateAddress;
        _increaseTotalStake(delegate, amount, _r, _newPosPrev, _newPosNext);
        if (delegate != _delegator) _checkpoint(delegate, _r);

        emit Rebond(delegate, _delegator, _unbondingLockId, amount);
        _checkpoint(_delegator, _r);
    }

    /// @dev Third-party claim guard (protocol.md §2.3 "_authorizeClaimEarnings"): claiming for someone
    ///      else is refused while their active delegate has not yet called reward this round.
    function _authorizeClaimEarnings(address _owner, uint256 _r) internal view {
        if (msg.sender == _owner) return;
        Delegator storage del = delegators[_owner];
        if (del.bondedAmount == 0) return;
        if (msg.sender == controller.getContract(keccak256("L2Migrator"))) return;
        Transcoder storage t = transcoders[del.delegateAddress];
        if (!_isActive(t, _r)) return;
        require(t.lastRewardRound == _r || del.lastClaimRound == _r, "ILLEGAL_CLAIM_EARNINGS");
    }

    // -------------------------------------------------------------------------------------------
    // Internal: pool and stake (protocol.md §2.4)
    // -------------------------------------------------------------------------------------------

    /// @dev Add `_amount` to `_delegate`'s delegated stake: move it in the pool (or try to join it if it
    ///      is a registered transcoder outside the pool) and, if it is active now or next round, write the
    ///      current round's pool stake (frozen at the old value) and the next round's pool stake.
    function _increaseTotalStake(
        address _delegate,
        uint256 _amount,
        uint256 _r,
        address _newPosPrev,
        address _newPosNext
    ) internal {
        Transcoder storage t = transcoders[_delegate];
        uint256 currStake = delegators[_delegate].delegatedAmount;
        uint256 newStake = currStake + _amount;
        bool inPool = transcoderPool.contains(_delegate);
        bool poolsTracked = inPool || _isActive(t, _r);

        if (poolsTracked) _freezeCurrentRoundStake(t, _r, currStake);

        if (inPool) {
            transcoderPool.updateKey(_delegate, newStake, _newPosPrev, _newPosNext);
            nextRoundTotalActiveStake += _amount;
        } else if (isRegisteredTranscoder(_delegate)) {
            _tryToJoinActiveSet(_delegate, newStake, _r, _newPosPrev, _newPosNext);
        }

        if (poolsTracked) {
            t.earningsPoolPerRound[_r + 1].totalStake = newStake;
            t.lastActiveStakeUpdateRound = _r + 1;
        }

        delegators[_delegate].delegatedAmount = newStake;
    }

    /// @dev Mirror of `_increaseTotalStake` for a decrease; never evicts others. A new stake of 0
    ///      removes the delegate from the pool.
    function _decreaseTotalStake(
        address _delegate,
        uint256 _amount,
        uint256 _r,
        address _newPosPrev,
        address _newPosNext
    ) internal {
        Transcoder storage t = transcoders[_delegate];
        uint256 currStake = delegators[_delegate].delegatedAmount;
        uint256 newStake = currStake - _amount;
        bool inPool = transcoderPool.contains(_delegate);

        if (inPool || _isActive(t, _r)) {
            _freezeCurrentRoundStake(t, _r, currStake);
            t.earningsPoolPerRound[_r + 1].totalStake = newStake;
            t.lastActiveStakeUpdateRound = _r + 1;
        }
        if (inPool) {
            transcoderPool.updateKey(_delegate, newStake, _newPosPrev, _newPosNext);
            nextRoundTotalActiveStake -= _amount;
        }

        delegators[_delegate].delegatedAmount = newStake;
    }

    /// @dev If the pool stake of round `_r` has not been written yet, write `_stake` (the stake as of
    ///      lastActiveStakeUpdateRound) so reward/fees of round `_r` use the stake the round started with.
    function _freezeCurrentRoundStake(Transcoder storage _t, uint256 _r, uint256 _stake) internal {
        if (_t.lastActiveStakeUpdateRound < _r) _t.earningsPoolPerRound[_r].totalStake = _stake;
    }

    /// @dev Insert `_transcoder` with `_totalStake` into the pool from round `_r + 1`; if the pool is
    ///      full, evict the smallest member when `_totalStake` exceeds its stake, else return silently
    ///      (protocol.md §2.4 "tryToJoinActiveSet").
    function _tryToJoinActiveSet(
        address _transcoder,
        uint256 _totalStake,
        uint256 _r,
        address _newPosPrev,
        address _newPosNext
    ) internal {
        uint256 activationRound = _r + 1;
        uint256 pendingTotal = nextRoundTotalActiveStake;

        if (transcoderPool.isFull()) {
            address last = transcoderPool.tail;
            uint256 lastStake = transcoderPool.nodes[last].key;
            if (_totalStake <= lastStake) return;

            transcoderPool.remove(last);
            transcoders[last].deactivationRound = activationRound;
            pendingTotal -= lastStake;
            emit TranscoderDeactivated(last, activationRound);
        }

        Transcoder storage t = transcoders[_transcoder];
        // A transcoder evicted earlier this round is still active in it: keep its round stake.
        if (_isActive(t, _r)) {
            uint256 lastUpdateRound = t.lastActiveStakeUpdateRound;
            if (lastUpdateRound < _r) {
                t.earningsPoolPerRound[_r].totalStake = t.earningsPoolPerRound[lastUpdateRound].totalStake;
            }
        }

        transcoderPool.insert(_transcoder, _totalStake, _newPosPrev, _newPosNext);
        nextRoundTotalActiveStake = pendingTotal + _totalStake;
        t.lastActiveStakeUpdateRound = activationRound;
        t.activationRound = activationRound;
        t.deactivationRound = MAX_FUTURE_ROUND;
        t.earningsPoolPerRound[activationRound].totalStake = _totalStake;

        emit TranscoderActivated(_transcoder, activationRound);
    }

    /// @dev Remove `_transcoder` from the pool; it stays active for the rest of round `_r`.
    function _resignTranscoder(address _transcoder, uint256 _r) internal {
        transcoderPool.remove(_transcoder);
        nextRoundTotalActiveStake -= delegators[_transcoder].delegatedAmount;
        transcoders[_transcoder].deactivationRound = _r + 1;
        emit TranscoderDeactivated(_transcoder, _r + 1);
    }

    // -------------------------------------------------------------------------------------------
    // Internal: LIP-36 earnings (protocol.md §2.5, §2.6)
    // -------------------------------------------------------------------------------------------

    /// @dev Book reward `_rewards` of round `_r` for `_transcoder` (protocol.md §2.6 "On reward"):
    ///      commission = rewards·rewardCut; the delegators' part grows the round's reward factor; the
    ///      transcoder's own reward-earned stake and commission accrue to cumulativeRewards; the whole
    ///      reward compounds into the next round's stake.
    function _updateTranscoderWithRewards(
        address _transcoder,
        uint256 _rewards,
        uint256 _r,
        address _newPosPrev,
        address _newPosNext
    ) internal {
        Transcoder storage t = transcoders[_transcoder];
        EarningsPoolLIP36.Data storage pool = t.earningsPoolPerRound[_r];
        uint256 prevCrf = t.earningsPoolPerRound[t.lastRewardRound].cumulativeRewardFactor;

        uint256 activeCumulativeRewards = t.cumulativeRewards;
        t.activeCumulativeRewards = activeCumulativeRewards;

        uint256 commission = MathUtils.percOf(_rewards, pool.transcoderRewardCut);
        uint256 delegatorsRewards = _rewards - commission;
        uint256 rewardStakeRewards = PreciseMathUtils.percOf(delegatorsRewards, activeCumulativeRewards, pool.totalStake);
        t.cumulativeRewards = activeCumulativeRewards + rewardStakeRewards + commission;
        pool.updateCumulativeRewardFactor(prevCrf, delegatorsRewards);

        _increaseTotalStake(_transcoder, _rewards, _r, _newPosPrev, _newPosNext);
    }

    /// @dev The previous-round reward factor reconstructed from this round's factor when the previous
    ///      round has none (protocol.md §2.5 step 5): this round's reward is re-derived from the Minter
    ///      as `percOf(currentMintableTokens, S, currentRoundTotalActiveStake)`, less the treasury cut and
    ///      the commission, and its growth is divided out: `percOf(CRF_r, S, dR + S)`.
    ///      protocol.md §2.5 writes `mintable + minted` for the round's reward pool; since the Minter never
    ///      decrements currentMintableTokens (§5), that would count the round's mints twice, so we use
    ///      currentMintableTokens alone, as upstream's current BondingManager does. The treasury cut is
    ///      taken in 1e27 units, like the real one in reward() (moot while the rate is 0).
    function _backfilledPreviousRewardFactor(EarningsPoolLIP36.Data storage _pool, uint256 _totalStake)
        internal
        view
        returns (uint256)
    {
        uint256 rewards = PreciseMathUtils.percOf(
            _minter().currentMintableTokens(),
            _totalStake,
            currentRoundTotalActiveStake
        );
        rewards -= PreciseMathUtils.percOf(rewards, treasuryRewardCutRate);
        uint256 delegatorsRewards = rewards - MathUtils.percOf(rewards, _pool.transcoderRewardCut);
        return PreciseMathUtils.percOf(_pool.cumulativeRewardFactor, _totalStake, delegatorsRewards + _totalStake);
    }

    /// @dev The factors of round `_round`, each falling back to those of lastRewardRound /
    ///      lastFeeRound when unset and that round is earlier (protocol.md §2.6 "end").
    function _latestCumulativeFactors(Transcoder storage _t, uint256 _round)
        internal
        view
        returns (EarningsPoolLIP36.Factors memory f)
    {
        EarningsPoolLIP36.Data storage p = _t.earningsPoolPerRound[_round];
        f.cumulativeRewardFactor = p.cumulativeRewardFactor;
        f.cumulativeFeeFactor = p.cumulativeFeeFactor;
        uint256 lastRewardRound = _t.lastRewardRound;
        if (f.cumulativeRewardFactor == 0 && lastRewardRound < _round) {
            f.cumulativeRewardFactor = _t.earningsPoolPerRound[lastRewardRound].cumulativeRewardFactor;
        }
        uint256 lastFeeRound = _t.lastFeeRound;
        if (f.cumulativeFeeFactor == 0 && lastFeeRound < _round) {
            f.cumulativeFeeFactor = _t.earningsPoolPerRound[lastFeeRound].cumulativeFeeFactor;
        }
    }

    /// @dev Copy the latest factors into round `_round`'s pool where unset, so it can serve as a claim
    ///      start later (protocol.md §2.3 bond step 5, §2.6).
    function _ensureInitializedCumulativeFactors(address _transcoder, uint256 _round) internal {
        Transcoder storage t = transcoders[_transcoder];
        EarningsPoolLIP36.Data storage p = t.earningsPoolPerRound[_round];
        if (p.cumulativeRewardFactor == 0) {
            uint256 lastRewardRound = t.lastRewardRound;
            if (lastRewardRound < _round) {
                p.cumulativeRewardFactor = t.earningsPoolPerRound[lastRewardRound].cumulativeRewardFactor;
            }
        }
        if (p.cumulativeFeeFactor == 0) {
            uint256 lastFeeRound = t.lastFeeRound;
            if (lastFeeRound < _round) {
                p.cumulativeFeeFactor = t.earningsPoolPerRound[lastFeeRound].cumulativeFeeFactor;
            }
        }
    }

    /// @dev `_delegator`'s stake and fees with earnings from lastClaimRound to `_endRound` (protocol.md
    ///      §2.6 "Claim"); an orchestrator also gets its cumulativeRewards / cumulativeFees.
    function _pendingStakeAndFees(address _delegator, uint256 _endRound)
        internal
        view
        returns (uint256 stake, uint256 fees)
    {
        Delegator storage del = delegators[_delegator];
        address delegate = del.delegateAddress;
        Transcoder storage t = transcoders[delegate];
        stake = del.bondedAmount;
        fees = del.fees;

        uint256 lastClaimRound = del.lastClaimRound;
        if (lastClaimRound < _endRound) {
            EarningsPoolLIP36.Data storage s = t.earningsPoolPerRound[lastClaimRound];
            EarningsPoolLIP36.Factors memory start = EarningsPoolLIP36.Factors(
                s.cumulativeRewardFactor,
                s.cumulativeFeeFactor
            );
            (stake, fees) = EarningsPoolLIP36.delegatorCumulativeStakeAndFees(
                start,
                _latestCumulativeFactors(t, _endRound),
                stake,
                fees
            );
        }
        if (_delegator == delegate) {
            stake += t.cumulativeRewards;
            fees += t.cumulativeFees;
        }
    }

    /// @dev Claim if lastClaimRound < `_r` (protocol.md §2.3 "Auto-claim").
    function _autoClaimEarnings(address _delegator, uint256 _r) internal {
        if (delegators[_delegator].lastClaimRound < _r) _updateDelegatorWithEarnings(_delegator, _r);
    }

    /// @dev Store `_delegator`'s claimed stake and fees as of round `_endRound` and emit EarningsClaimed
    ///      (protocol.md §2.6 "Claim"). An orchestrator's cumulative counters are reset.
    function _updateDelegatorWithEarnings(address _delegator, uint256 _endRound) internal {
        Delegator storage del = delegators[_delegator];
        uint256 startRound = del.lastClaimRound + 1;
        uint256 oldStake = del.bondedAmount;
        uint256 oldFees = del.fees;
        uint256 stake = oldStake;
        uint256 fees = oldFees;
        address delegate = del.delegateAddress;

        if (delegate != address(0)) {
            (stake, fees) = _pendingStakeAndFees(_delegator, _endRound);
            _ensureInitializedCumulativeFactors(delegate, _endRound);
            if (delegate == _delegator) {
                Transcoder storage t = transcoders[delegate];
                t.cumulativeFees = 0;
                t.cumulativeRewards = 0;
            }
        }

        emit EarningsClaimed(delegate, _delegator, stake - oldStake, fees - oldFees, startRound, _endRound);

        del.lastClaimRound = _endRound;
        del.bondedAmount = stake;
        del.fees = fees;
    }

    // -------------------------------------------------------------------------------------------
    // Internal: helpers
    // -------------------------------------------------------------------------------------------

    /// @dev Whether `_t` is active in round `_r`.
    function _isActive(Transcoder storage _t, uint256 _r) internal view returns (bool) {
        return _t.activationRound <= _r && _r < _t.deactivationRound;
    }

    /// @dev Push `_account`'s state to BondingVotes for round `_r + 1` (protocol.md §2.3 "Checkpoint").
    function _checkpoint(address _account, uint256 _r) internal {
        address bv = controller.getContract(keccak256("BondingVotes"));
        if (bv == address(0)) return;
        Delegator storage d = delegators[_account];
        IBondingVotes(bv).checkpointBondingState(
            _account,
            _r + 1,
            d.bondedAmount,
            d.delegateAddress,
            d.delegatedAmount,
            d.lastClaimRound,
            transcoders[_account].lastRewardRound
        );
    }

    /// @dev Set the next-round treasury cut rate (≤ 1e27) (protocol.md §2.2).
    function _setTreasuryRewardCutRate(uint256 _cutRate) internal {
        require(PreciseMathUtils.validPerc(_cutRate), "_cutRate is invalid precise percentage");
        nextRoundTreasuryRewardCutRate = _cutRate;
        emit ParameterUpdate("nextRoundTreasuryRewardCutRate");
    }

    function _currentRound() internal view returns (uint256) {
        return _roundsManager().currentRound();
    }

    function _roundsManager() internal view returns (IRoundsManager) {
        return IRoundsManager(controller.getContract(keccak256("RoundsManager")));
    }

    function _minter() internal view returns (IMinter) {
        return IMinter(controller.getContract(keccak256("Minter")));
    }

    function _livepeerToken() internal view returns (ILivepeerToken) {
        return ILivepeerToken(controller.getContract(keccak256("LivepeerToken")));
    }

    function _treasury() internal view returns (address) {
        return controller.getContract(keccak256("Treasury"));
    }
}
