// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IController
/// @notice The registry every protocol contract resolves its peers through (protocol.md §1.2,
///         livepeer/protocol contracts/IController.sol). Ids are keccak256 of the registry name.
interface IController {
    /// @notice Emitted when a registry entry is written (protocol.md §1.2; go-livepeer's devtool scans for it).
    event SetContractInfo(bytes32 id, address contractAddress, bytes20 gitCommitHash);

    /// @notice Register (or overwrite) `_id` -> `_contractAddress` (owner only).
    function setContractInfo(bytes32 _id, address _contractAddress, bytes20 _gitCommitHash) external;

    /// @notice Call `setController(_controller)` on the contract registered as `_id` (owner only).
    function updateController(bytes32 _id, address _controller) external;

    /// @notice The registered address and git commit hash of `_id`.
    function getContractInfo(bytes32 _id) external view returns (address, bytes20);

    /// @notice The registered address of `_id`, or zero when unknown.
    function getContract(bytes32 _id) external view returns (address);

    /// @notice The Controller owner (governance).
    function owner() external view returns (address);

    /// @notice Whether the whole protocol is paused.
    function paused() external view returns (bool);
}
