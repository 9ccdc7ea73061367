// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import "../interfaces/IBondingVotes.sol";

/// @title SortedArrays
/// @notice Helpers for the ascending round arrays of BondingVotes (protocol.md §7.1 "State";
///         the role of livepeer/protocol contracts/bonding/libraries/SortedArrays.sol).
library SortedArrays {
    /// @notice Append `_val` unless it equals the last element; reverts
    ///         `IBondingVotes.DecreasingValues` if it is smaller.
    function pushSorted(uint256[] storage _array, uint256 _val) internal {
        uint256 len = _array.length;
        if (len > 0) {
            uint256 last = _array[len - 1];
            if (_val < last) revert IBondingVotes.DecreasingValues(_val, last);
            if (_val == last) return;
        }
        _array.push(_val);
    }

    /// @notice Index of the largest element ≤ `_val`, or `_array.length` when there is none.
    function findLowerBound(uint256[] storage _array, uint256 _val) internal view returns (uint256) {
        uint256 low = 0;
        uint256 high = _array.length; // invariant: answer index < high, elements at [0, low) are ≤ _val
        while (low < high) {
            uint256 mid = (low + high) / 2;
            if (_array[mid] <= _val) low = mid + 1;
            else high = mid;
        }
        return low == 0 ? _array.length : low - 1;
    }

    /// @notice Index of the first element ≥ `_val`, or `_array.length` when there is none
    ///         (OpenZeppelin `Arrays.findUpperBound` semantics for a strictly increasing array).
    function findUpperBound(uint256[] storage _array, uint256 _val) internal view returns (uint256) {
        uint256 low = 0;
        uint256 high = _array.length;
        while (low < high) {
            uint256 mid = (low + high) / 2;
            if (_array[mid] < _val) low = mid + 1;
            else high = mid;
        }
        return low;
    }
}
