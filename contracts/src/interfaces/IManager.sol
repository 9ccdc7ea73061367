// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IManager
/// @notice The part of every protocol contract the Controller talks to (protocol.md §1.3,
///         livepeer/protocol contracts/IManager.sol).
interface IManager {
    /// @notice Emitted when the contract is pointed at a new Controller.
    event SetController(address controller);
    /// @notice Emitted by every setter with the parameter's name.
    event ParameterUpdate(string param);

    /// @notice Point the contract at a new Controller (callable only by the current Controller).
    function setController(address _controller) external;
}
