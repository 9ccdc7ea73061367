// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import "./Manager.sol";
import "./interfaces/IMinter.sol";
import "./interfaces/ILivepeerToken.sol";
import "./interfaces/IBondingManager.sol";
import "./interfaces/IL2LPTDataCache.sol";

/// @title Minter
/// @notice Per-round inflation and reward minting, and custody of all bonded LPT and all broadcaster ETH
///         (protocol.md §5 and §1.5 "Custody", livepeer/protocol contracts/token/Minter.sol). Not proxied.
/// @dev Rates use the 1e9 divisor (`MathUtilsV2`, protocol.md §0): inflation, inflationChange,
///      targetBondingRate and the fraction inside `createReward`.
contract Minter is Manager, IMinter {
    /// @dev 100% in the Minter's fixed-point unit (protocol.md §0).
    uint256 private constant PERC_DIVISOR = 1000000000;

    /// @notice Per-round inflation rate, parts per 1e9 of the global supply.
    uint256 public inflation;
    /// @notice Amount by which inflation moves each initialized round, parts per 1e9.
    uint256 public inflationChange;
    /// @notice Bonding rate inflation steers toward, parts per 1e9.
    uint256 public targetBondingRate;
    /// @notice LPT mintable in the current round.
    uint256 public override currentMintableTokens;
    /// @notice LPT minted so far in the current round.
    uint256 public override currentMintedTokens;

    /// @dev Caller must be the registered BondingManager (protocol.md §1.5).
    modifier onlyBondingManager() {
        require(msg.sender == _getContract("BondingManager"), "msg.sender not BondingManager");
        _;
    }

    /// @dev Caller must be the registered RoundsManager (protocol.md §1.5).
    modifier onlyRoundsManager() {
        require(msg.sender == _getContract("RoundsManager"), "msg.sender not RoundsManager");
        _;
    }

    /// @dev Caller must be the BondingManager or the JobsManager, i.e. the TicketBroker (protocol.md §1.5).
    modifier onlyBondingManagerOrJobsManager() {
        require(
            msg.sender == _getContract("BondingManager") || msg.sender == _getContract("JobsManager"),
            "msg.sender not BondingManager or JobsManager"
        );
        _;
    }

    /// @dev Caller must be the registered Minter or the JobsManager (protocol.md §1.5).
    modifier onlyMinterOrJobsManager() {
        require(
            msg.sender == _getContract("Minter") || msg.sender == _getContract("JobsManager"),
            "msg.sender not Minter or JobsManager"
        );
        _;
    }

    /// @param _controller the Controller address
    /// @param _inflation initial per-round inflation (≤ 1e9)
    /// @param _inflationChange per-round inflation step (≤ 1e9)
    /// @param _targetBondingRate target bonding rate (≤ 1e9)
    constructor(address _controller, uint256 _inflation, uint256 _inflationChange, uint256 _targetBondingRate)
        Manager(_controller)
    {
        require(_inflation <= PERC_DIVISOR, "_inflation is invalid percentage");
        require(_inflationChange <= PERC_DIVISOR, "_inflationChange is invalid percentage");
        require(_targetBondingRate <= PERC_DIVISOR, "_targetBondingRate is invalid percentage");
        inflation = _inflation;
        inflationChange = _inflationChange;
        targetBondingRate = _targetBondingRate;
    }

    /// @notice Set the target bonding rate, ≤ 1e9 (controller owner; protocol.md §5).
    function setTargetBondingRate(uint256 _targetBondingRate) external onlyControllerOwner {
        require(_targetBondingRate <= PERC_DIVISOR, "_targetBondingRate is invalid percentage");
        targetBondingRate = _targetBondingRate;
        emit ParameterUpdate("targetBondingRate");
    }

    /// @notice Set the per-round inflation step, ≤ 1e9 (controller owner; protocol.md §5).
    function setInflationChange(uint256 _inflationChange) external onlyControllerOwner {
        require(_inflationChange <= PERC_DIVISOR, "_inflationChange is invalid percentage");
        inflationChange = _inflationChange;
        emit ParameterUpdate("inflationChange");
    }

    /// @notice Move all LPT and ETH to a new Minter that uses the same Controller and is already
    ///         registered as "Minter" (controller owner; system paused; protocol.md §5).
    function migrateToNewMinter(IMinter _newMinter) external onlyControllerOwner whenSystemPaused {
        require(address(_newMinter) != address(this), "new Minter cannot be current Minter");
        require(address(_newMinter.getController()) == address(controller), "new Minter Controller must be current Controller");
        require(_getContract("Minter") == address(_newMinter), "new Minter must be registered");
        _newMinter.depositETH{value: address(this).balance}();
        ILivepeerToken token = _livepeerToken();
        require(token.transfer(address(_newMinter), token.balanceOf(address(this))), "token transfer failed");
    }

    /// @notice Mint `floor(currentMintableTokens · floor(num·1e9/den) / 1e9)` LPT to the Minter and return
    ///         the amount; the round total may not exceed `currentMintableTokens` (BondingManager only;
    ///         notPaused; protocol.md §5).
    /// @param _fracNum the transcoder's active stake
    /// @param _fracDenom the round's total active stake
    function createReward(uint256 _fracNum, uint256 _fracDenom)
        external
        override
        onlyBondingManager
        whenSystemNotPaused
        returns (uint256)
    {
        uint256 mintAmount = (currentMintableTokens * ((_fracNum * PERC_DIVISOR) / _fracDenom)) / PERC_DIVISOR;
        currentMintedTokens += mintAmount;
        require(currentMintedTokens <= currentMintableTokens, "minted tokens cannot exceed mintable tokens");
        _livepeerToken().mint(address(this), mintAmount);
        return mintAmount;
    }

    /// @notice Transfer LPT held by the Minter, for stake withdrawals and the treasury cut
    ///         (BondingManager only; notPaused; protocol.md §5).
    function trustedTransferTokens(address _to, uint256 _amount) external override onlyBondingManager whenSystemNotPaused {
        require(_livepeerToken().transfer(_to, _amount), "token transfer failed");
    }

    /// @notice Burn LPT held by the Minter; needs BURNER_ROLE on the token (BondingManager only;
    ///         notPaused; protocol.md §5).
    function trustedBurnTokens(uint256 _amount) external override onlyBondingManager whenSystemNotPaused {
        _livepeerToken().burn(_amount);
    }

    /// @notice Pay ETH held by the Minter to `_to` with a 2300-gas `transfer`, for fee withdrawals and
    ///         broadcaster withdrawals (BondingManager or JobsManager; notPaused; protocol.md §5).
    function trustedWithdrawETH(address payable _to, uint256 _amount)
        external
        override
        onlyBondingManagerOrJobsManager
        whenSystemNotPaused
    {
        _to.transfer(_amount);
    }

    /// @notice Accept ETH: broadcaster deposits and reserves from the TicketBroker (registered as
    ///         JobsManager), or the balance of a migrating Minter (protocol.md §5). Not pause-gated.
    function depositETH() external payable override onlyMinterOrJobsManager returns (bool) {
        return true;
    }

    /// @notice Start a round: move inflation one `inflationChange` step toward the target bonding rate,
    ///         then set `currentMintableTokens = floor(globalSupply · inflation / 1e9)` and reset
    ///         `currentMintedTokens` (RoundsManager only, inside initializeRound; notPaused; protocol.md §5).
    function setCurrentRewardTokens() external override onlyRoundsManager whenSystemNotPaused {
        _setInflation();
        currentMintableTokens = (getGlobalTotalSupply() * inflation) / PERC_DIVISOR;
        currentMintedTokens = 0;
        emit SetCurrentRewardTokens(currentMintableTokens, inflation);
    }

    /// @notice The Controller this Minter uses (protocol.md §5; checked by `migrateToNewMinter`).
    function getController() external view override returns (IController) {
        return controller;
    }

    /// @notice `LPT.totalSupply() + L2LPTDataCache.l1CirculatingSupply()` (protocol.md §1.6, §5).
    function getGlobalTotalSupply() public view override returns (uint256) {
        return _livepeerToken().totalSupply() + IL2LPTDataCache(_getContract("L2LPTDataCache")).l1CirculatingSupply();
    }

    /// @dev The inflation rule of protocol.md §5 step 2-3: bondingRate = floor(totalBonded·1e9 / G)
    ///      (0 when G is 0); below target inflation rises by inflationChange, above target it falls
    ///      (floored at 0), at target it stays.
    function _setInflation() internal {
        uint256 currentBondingRate;
        uint256 totalSupply = getGlobalTotalSupply();
        if (totalSupply > 0) {
            uint256 totalBonded = IBondingManager(_getContract("BondingManager")).getTotalBonded();
            currentBondingRate = (totalBonded * PERC_DIVISOR) / totalSupply;
        }
        if (currentBondingRate < targetBondingRate) {
            inflation += inflationChange;
        } else if (currentBondingRate > targetBondingRate) {
            inflation = inflationChange > inflation ? 0 : inflation - inflationChange;
        }
    }

    /// @dev The registered LivepeerToken (protocol.md §1.3 peer lookup).
    function _livepeerToken() internal view returns (ILivepeerToken) {
        return ILivepeerToken(_getContract("LivepeerToken"));
    }
}
