// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import "./interfaces/IL2LPTDataCache.sol";

/// @title DummyL2LPTDataCache
/// @notice The `L2LPTDataCache` registry entry of a dev chain: there is no L1, so the L1 circulating
///         supply is zero (protocol.md §1.6, §10.3 step 6; livepeer/protocol arbitrum/DummyL2LPTDataCache.sol).
///         Without a registered cache `initializeRound` reverts inside the Minter.
contract DummyL2LPTDataCache is IL2LPTDataCache {
    /// @notice Always 0 on a dev chain (protocol.md §1.6).
    function l1CirculatingSupply() external pure override returns (uint256) {
        return 0;
    }
}
