// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import "@openzeppelin/contracts/access/AccessControl.sol";
import "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";
import "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import "./interfaces/ILivepeerToken.sol";

/// @title LivepeerToken
/// @notice The L2 Livepeer Token "LPT" (protocol.md §1.6, livepeer/arbitrum-lpt-bridge L2 LivepeerToken):
///         OpenZeppelin 4.9 ERC20 + ERC20Burnable + ERC20Permit (EIP-712 name "Livepeer Token", version "1")
///         + AccessControl. The deployer holds DEFAULT_ADMIN_ROLE and grants
///         MINTER_ROLE = keccak256("MINTER_ROLE") (0x9f2df0fe…56a6: the Minter, a bridge gateway) and
///         BURNER_ROLE = keccak256("BURNER_ROLE") (0x3c11d16c…a848) with `grantRole`.
/// @dev As in the deployed token the role ids are not exposed as getters (compute them as keccak256 of
///      the role name).
contract LivepeerToken is AccessControl, ERC20Burnable, ERC20Permit, ILivepeerToken {
    bytes32 private constant MINTER_ROLE = keccak256("MINTER_ROLE");
    bytes32 private constant BURNER_ROLE = keccak256("BURNER_ROLE");

    /// @notice Emitted with the ERC20 `Transfer` on every mint (protocol.md §1.6, Appendix A topic 0x0f6798a5…).
    event Mint(address indexed to, uint256 amount);
    /// @notice Emitted with the ERC20 `Transfer` on every burn (protocol.md §1.6, Appendix A topic 0xcc16f5db…).
    event Burn(address indexed burner, uint256 amount);

    /// @notice Deploy the token with zero supply; the deployer becomes the role admin (protocol.md §1.6).
    constructor() ERC20("Livepeer Token", "LPT") ERC20Permit("Livepeer Token") {
        _grantRole(DEFAULT_ADMIN_ROLE, msg.sender);
    }

    /// @notice Mint `_amount` LPT to `_to`; requires MINTER_ROLE (protocol.md §1.5, §1.6).
    function mint(address _to, uint256 _amount) external override onlyRole(MINTER_ROLE) {
        _mint(_to, _amount);
        emit Mint(_to, _amount);
    }

    /// @notice Burn `_amount` of the caller's LPT; requires BURNER_ROLE (protocol.md §1.5, §1.6).
    function burn(uint256 _amount) public override(ERC20Burnable, ILivepeerToken) onlyRole(BURNER_ROLE) {
        super.burn(_amount);
        emit Burn(msg.sender, _amount);
    }

    /// @notice Burn `_amount` of `_from`'s LPT against the caller's allowance; requires BURNER_ROLE
    ///         (protocol.md §1.5, §1.6).
    function burnFrom(address _from, uint256 _amount) public override(ERC20Burnable, ILivepeerToken) onlyRole(BURNER_ROLE) {
        super.burnFrom(_from, _amount);
        emit Burn(_from, _amount);
    }
}
