// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import "./Manager.sol";

/// @title ManagerProxyTarget
/// @notice Manager plus the `targetContractId()` getter (slot 1) of contracts that are proxied on Arbitrum
///         (protocol.md §1.3, livepeer/protocol contracts/ManagerProxyTarget.sol).
/// @dev This deployment registers implementations directly (protocol.md §10.2), so no proxy reads this
///      value; it is kept for ABI parity and set by the constructor to keccak256("<Name>Target"), the
///      value the Arbitrum proxy of the same contract returns.
abstract contract ManagerProxyTarget is Manager {
    /// @notice keccak256 of the "<Name>Target" registry name, as the Arbitrum proxy returns it.
    bytes32 public targetContractId;

    /// @param _controller the Controller address
    /// @param _targetContractId keccak256("<Name>Target")
    constructor(address _controller, bytes32 _targetContractId) Manager(_controller) {
        targetContractId = _targetContractId;
    }
}
