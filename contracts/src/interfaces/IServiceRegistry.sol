// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IServiceRegistry
/// @notice Orchestrator service URIs (protocol.md §6, livepeer/protocol contracts/ServiceRegistry.sol).
interface IServiceRegistry {
    /// @notice Emitted whenever an address sets its URI (topic 0xfbb63068…3a4c; go-livepeer watches it).
    event ServiceURIUpdate(address indexed addr, string serviceURI);

    /// @notice Set the caller's service URI.
    function setServiceURI(string calldata _serviceURI) external;

    /// @notice The service URI of `_addr` ("" when unset).
    function getServiceURI(address _addr) external view returns (string memory);
}
