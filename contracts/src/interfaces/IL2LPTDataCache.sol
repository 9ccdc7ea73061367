// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IL2LPTDataCache
/// @notice The L2 cache of the L1 LPT supply that the Minter reads (protocol.md §1.6, §5;
///         livepeer/arbitrum-lpt-bridge contracts/L2/gateway/L2LPTDataCache.sol).
interface IL2LPTDataCache {
    /// @notice L1 total supply minus the supply bridged to L2 (floored at zero).
    function l1CirculatingSupply() external view returns (uint256);
}
