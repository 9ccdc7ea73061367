// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title ILivepeerToken
/// @notice The L2 Livepeer Token as the protocol contracts use it (protocol.md §1.6,
///         livepeer/arbitrum-lpt-bridge contracts/L2/token/ILivepeerToken.sol).
interface ILivepeerToken is IERC20 {
    /// @notice Mint `_amount` to `_to` (MINTER_ROLE).
    function mint(address _to, uint256 _amount) external;

    /// @notice Burn `_amount` of the caller's tokens (BURNER_ROLE).
    function burn(uint256 _amount) external;

    /// @notice Burn `_amount` of `_from`'s tokens using the caller's allowance (BURNER_ROLE).
    function burnFrom(address _from, uint256 _amount) external;
}
