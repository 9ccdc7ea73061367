// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import "./ManagerProxyTarget.sol";
import "./interfaces/IServiceRegistry.sol";

/// @title ServiceRegistry
/// @notice Maps an orchestrator address to the URI where it serves (protocol.md §6,
///         livepeer/protocol contracts/ServiceRegistry.sol). Anyone may set their own URI, with no
///         validation and no pause check (protocol.md §1.4).
contract ServiceRegistry is ManagerProxyTarget, IServiceRegistry {
    /// @dev One record per address (slot 2 of the deployed layout).
    struct Record {
        string serviceURI;
    }

    mapping(address => Record) private records;

    /// @param _controller the Controller address
    constructor(address _controller) ManagerProxyTarget(_controller, keccak256("ServiceRegistryTarget")) {}

    /// @notice Store the caller's service URI and emit `ServiceURIUpdate` (protocol.md §6). Works while
    ///         the system is paused, as deployed.
    /// @param _serviceURI the URI, e.g. "https://1.2.3.4:8935"
    function setServiceURI(string calldata _serviceURI) external override {
        records[msg.sender].serviceURI = _serviceURI;
        emit ServiceURIUpdate(msg.sender, _serviceURI);
    }

    /// @notice The service URI of `_addr`, or "" when unset (protocol.md §6).
    function getServiceURI(address _addr) external view override returns (string memory) {
        return records[_addr].serviceURI;
    }
}
