// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import "./ManagerProxyTarget.sol";
import "./interfaces/IRoundsManager.sol";
import "./interfaces/IBondingManager.sol";
import "./interfaces/IMinter.sol";

/// @title RoundsManager
/// @notice Rounds of `roundLength` blocks, their initialization and the block hash each round stores
///         for ticket auxData (protocol.md §4, livepeer/protocol contracts/rounds/RoundsManager.sol).
/// @dev Round numbering is anchored at (lastRoundLengthUpdateRound, lastRoundLengthUpdateStartBlock) so
///      that changing the round length never renumbers past rounds. On a fresh deployment the first
///      `setRoundLength(len)` anchors at round `block.number / len`.
contract RoundsManager is ManagerProxyTarget, IRoundsManager {
    /// @dev 100% in the 1e6 fixed-point unit of `roundLockAmount` (protocol.md §0 "Fixed-point units").
    uint256 private constant PERC_DIVISOR = 1000000;

    /// @notice Round length in blocks (slot 2).
    uint256 public override roundLength;
    /// @notice Fraction (1e6 = 100%) at the end of each round during which transcoders cannot change
    ///         their parameters (slot 3).
    uint256 public roundLockAmount;
    /// @notice The last round that was initialized (slot 4).
    uint256 public override lastInitializedRound;
    /// @notice The round in which the round length last changed (slot 5).
    uint256 public lastRoundLengthUpdateRound;
    /// @notice The start block of that round (slot 6).
    uint256 public lastRoundLengthUpdateStartBlock;

    /// @dev round => block hash stored at its initialization (slot 7).
    mapping(uint256 => bytes32) private _blockHashForRound;
    /// @dev LIP number => round at which it took effect (slot 8; read by no contract, ABI parity).
    mapping(uint256 => uint256) private _lipUpgradeRound;

    /// @param _controller the Controller address
    constructor(address _controller) ManagerProxyTarget(_controller, keccak256("RoundsManagerTarget")) {}

    /// @notice Set the round length in blocks; must be > 0 (controller owner; protocol.md §4). The first
    ///         call sets the length and then anchors numbering at `block.number / len`; later calls anchor
    ///         at the current round and its start block first, so numbering continues without a jump.
    function setRoundLength(uint256 _roundLength) external onlyControllerOwner {
        require(_roundLength > 0, "round length cannot be 0");
        if (roundLength == 0) {
            roundLength = _roundLength;
            lastRoundLengthUpdateRound = currentRound();
            lastRoundLengthUpdateStartBlock = currentRoundStartBlock();
        } else {
            lastRoundLengthUpdateRound = currentRound();
            lastRoundLengthUpdateStartBlock = currentRoundStartBlock();
            roundLength = _roundLength;
        }
        emit ParameterUpdate("roundLength");
    }

    /// @notice Set the lock window fraction, ≤ 1e6 (controller owner; protocol.md §4).
    function setRoundLockAmount(uint256 _roundLockAmount) external onlyControllerOwner {
        require(_roundLockAmount <= PERC_DIVISOR, "round lock amount must be a valid percentage");
        roundLockAmount = _roundLockAmount;
        emit ParameterUpdate("roundLockAmount");
    }

    /// @notice Initialize the current round (anyone; notPaused; protocol.md §4): store
    ///         `blockHash(block.number - 1)` as the round's hash, let the BondingManager fix the round's
    ///         active stake, let the Minter compute the round's mintable tokens, emit `NewRound`.
    function initializeRound() external override whenSystemNotPaused {
        uint256 round = currentRound();
        require(lastInitializedRound < round, "round already initialized");
        lastInitializedRound = round;

        bytes32 roundBlockHash = blockHash(blockNum() - 1);
        _blockHashForRound[round] = roundBlockHash;

        // The BondingManager must run first: the Minter's bonding rate reads the new active stake (§5).
        IBondingManager(_getContract("BondingManager")).setCurrentRoundTotalActiveStake();
        IMinter(_getContract("Minter")).setCurrentRewardTokens();

        emit NewRound(round, roundBlockHash);
    }

    /// @notice Record the round at which LIP `_lip` takes effect; once per LIP (controller owner;
    ///         protocol.md §4). No contract reads it; kept for ABI parity.
    function setLIPUpgradeRound(uint256 _lip, uint256 _round) external onlyControllerOwner {
        require(_lipUpgradeRound[_lip] == 0, "LIP upgrade round already set");
        _lipUpgradeRound[_lip] = _round;
    }

    /// @notice The round recorded for LIP `_lip` (0 if unset; protocol.md §4).
    function lipUpgradeRound(uint256 _lip) external view override returns (uint256) {
        return _lipUpgradeRound[_lip];
    }

    /// @notice The block number rounds are measured in: `block.number` (protocol.md §4; on Arbitrum this
    ///         is the L1 block estimate).
    function blockNum() public view virtual override returns (uint256) {
        return block.number;
    }

    /// @notice The hash of block `_block`, which must be in the past and among the last 256 blocks
    ///         (protocol.md §4).
    function blockHash(uint256 _block) public view virtual override returns (bytes32) {
        uint256 currentBlock = blockNum();
        require(_block < currentBlock, "can only retrieve past block hashes");
        require(currentBlock < 256 || _block >= currentBlock - 256, "can only retrieve hashes for last 256 blocks");
        return blockhash(_block);
    }

    /// @notice The block hash stored when `_round` was initialized, zero if it never was (protocol.md §4;
    ///         gateways put it in ticket auxData, the TicketBroker checks it).
    function blockHashForRound(uint256 _round) external view override returns (bytes32) {
        return _blockHashForRound[_round];
    }

    /// @notice `lastRoundLengthUpdateRound + (blockNum() - lastRoundLengthUpdateStartBlock) / roundLength`
    ///         (protocol.md §4). Reverts while the round length is unset.
    function currentRound() public view override returns (uint256) {
        uint256 roundsSinceUpdate = (blockNum() - lastRoundLengthUpdateStartBlock) / roundLength;
        return lastRoundLengthUpdateRound + roundsSinceUpdate;
    }

    /// @notice The first block of the current round (protocol.md §4).
    function currentRoundStartBlock() public view override returns (uint256) {
        uint256 roundsSinceUpdate = (blockNum() - lastRoundLengthUpdateStartBlock) / roundLength;
        return lastRoundLengthUpdateStartBlock + roundsSinceUpdate * roundLength;
    }

    /// @notice Whether `lastInitializedRound == currentRound()` (protocol.md §4).
    function currentRoundInitialized() public view override returns (bool) {
        return lastInitializedRound == currentRound();
    }

    /// @notice Whether the current round is in its lock window: the last
    ///         `floor(roundLength · roundLockAmount / 1e6)` blocks (protocol.md §4).
    function currentRoundLocked() external view override returns (bool) {
        uint256 lockedBlocks = (roundLength * roundLockAmount) / PERC_DIVISOR;
        return blockNum() - currentRoundStartBlock() >= roundLength - lockedBlocks;
    }
}
