// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IRoundsManager
/// @notice Rounds, round initialization and round block hashes (protocol.md §4,
///         livepeer/protocol contracts/rounds/IRoundsManager.sol).
interface IRoundsManager {
    /// @notice Emitted by `initializeRound` (go-livepeer watches it).
    event NewRound(uint256 indexed round, bytes32 blockHash);

    /// @notice Initialize the current round (anyone; notPaused).
    function initializeRound() external;

    /// @notice The round at which LIP `_lip` took effect (ABI parity only).
    function lipUpgradeRound(uint256 _lip) external view returns (uint256);

    /// @notice The block number rounds are measured in (`block.number`).
    function blockNum() external view returns (uint256);

    /// @notice The hash of a past block within the last 256.
    function blockHash(uint256 _block) external view returns (bytes32);

    /// @notice The block hash stored when `_round` was initialized (zero if it was not).
    function blockHashForRound(uint256 _round) external view returns (bytes32);

    /// @notice The current round number.
    function currentRound() external view returns (uint256);

    /// @notice The first block of the current round.
    function currentRoundStartBlock() external view returns (uint256);

    /// @notice Whether the current round has been initialized.
    function currentRoundInitialized() external view returns (bool);

    /// @notice Whether the current round is in its lock window.
    function currentRoundLocked() external view returns (bool);

    /// @notice Round length in blocks.
    function roundLength() external view returns (uint256);

    /// @notice The last initialized round.
    function lastInitializedRound() external view returns (uint256);
}
