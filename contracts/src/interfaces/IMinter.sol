// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import "./IController.sol";

/// @title IMinter
/// @notice Inflation, reward minting and custody of bonded LPT and broadcaster ETH (protocol.md §5,
///         livepeer/protocol contracts/token/IMinter.sol).
interface IMinter {
    /// @notice Emitted once per initialized round by `setCurrentRewardTokens`.
    event SetCurrentRewardTokens(uint256 currentMintableTokens, uint256 currentInflation);

    /// @notice Mint `currentMintableTokens · num/den` to the Minter (BondingManager only).
    function createReward(uint256 _fracNum, uint256 _fracDenom) external returns (uint256);

    /// @notice Transfer LPT held by the Minter (BondingManager only).
    function trustedTransferTokens(address _to, uint256 _amount) external;

    /// @notice Burn LPT held by the Minter (BondingManager only).
    function trustedBurnTokens(uint256 _amount) external;

    /// @notice Pay out ETH held by the Minter (BondingManager or JobsManager).
    function trustedWithdrawETH(address payable _to, uint256 _amount) external;

    /// @notice Deposit ETH into the Minter (Minter or JobsManager).
    function depositETH() external payable returns (bool);

    /// @notice Start a new round's reward accounting (RoundsManager only).
    function setCurrentRewardTokens() external;

    /// @notice LPT mintable in the current round.
    function currentMintableTokens() external view returns (uint256);

    /// @notice LPT minted so far in the current round.
    function currentMintedTokens() external view returns (uint256);

    /// @notice L2 supply plus the L1 circulating supply.
    function getGlobalTotalSupply() external view returns (uint256);

    /// @notice The Controller this Minter uses.
    function getController() external view returns (IController);
}
