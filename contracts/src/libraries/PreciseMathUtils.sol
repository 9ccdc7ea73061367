// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title PreciseMathUtils
/// @notice Fixed-point percentages over PERC_DIVISOR = 10^27 (protocol.md §0 "Fixed-point units",
///         livepeer/protocol contracts/libraries/PreciseMathUtils.sol). Used for the LIP-36 cumulative
///         reward and fee factors and the treasury reward cut rate (protocol.md §2.6).
/// @dev All arithmetic is checked (0.8.x), so a zero denominator reverts, as SafeMath did upstream.
library PreciseMathUtils {
    /// @notice The divisor of a percentage point value (100 % = 10^27).
    uint256 internal constant PERC_DIVISOR = 10 ** 27;

    /// @notice Whether `_amount` is a valid percentage (≤ 100 %) (protocol.md §0).
    function validPerc(uint256 _amount) internal pure returns (bool) {
        return _amount <= PERC_DIVISOR;
    }

    /// @notice `floor(_amount · floor(_fracNum · D / _fracDenom) / D)`: the intermediate percentage is
    ///         rounded down first, exactly as upstream (protocol.md §0).
    function percOf(uint256 _amount, uint256 _fracNum, uint256 _fracDenom) internal pure returns (uint256) {
        return (_amount * percPoints(_fracNum, _fracDenom)) / PERC_DIVISOR;
    }

    /// @notice `floor(_amount · _fracNum / D)` (protocol.md §0).
    function percOf(uint256 _amount, uint256 _fracNum) internal pure returns (uint256) {
        return (_amount * _fracNum) / PERC_DIVISOR;
    }

    /// @notice `floor(_fracNum · D / _fracDenom)` (protocol.md §0).
    function percPoints(uint256 _fracNum, uint256 _fracDenom) internal pure returns (uint256) {
        return (_fracNum * PERC_DIVISOR) / _fracDenom;
    }
}
