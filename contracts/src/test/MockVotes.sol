// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title MockVotes
/// @notice TEST HELPER ONLY, never register it on a real deployment: a tiny, unguarded stand-in for
///         BondingVotes (protocol.md §7.1) to exercise LivepeerGovernor/Treasury by hand. Anyone can set
///         the round, an account's votes and delegate, and the total supply; values are not checkpointed,
///         so every past lookup returns the current value (`getPast*` still reject `timepoint >= clock()`
///         like BondingVotes' FutureLookup).
contract MockVotes {
    uint48 public clock;
    uint256 public totalSupply;
    mapping(address => uint256) public getVotes;
    mapping(address => address) public delegates;

    /// @notice Set the current round (ERC-6372 clock).
    function setClock(uint48 round) external {
        clock = round;
    }

    /// @notice Set the total supply returned by getPastTotalSupply.
    function setTotalSupply(uint256 supply) external {
        totalSupply = supply;
    }

    /// @notice Set `account`'s voting power and delegate (itself for an orchestrator).
    function setVotes(address account, uint256 amount, address delegatee) external {
        getVotes[account] = amount;
        delegates[account] = delegatee;
    }

    // solhint-disable-next-line func-name-mixedcase
    function CLOCK_MODE() external pure returns (string memory) {
        return "mode=livepeer_round";
    }

    function getPastVotes(address account, uint256 timepoint) external view returns (uint256) {
        require(timepoint < clock, "future lookup");
        return getVotes[account];
    }

    function getPastTotalSupply(uint256 timepoint) external view returns (uint256) {
        require(timepoint < clock, "future lookup");
        return totalSupply;
    }

    function delegatedAt(address account, uint256) external view returns (address) {
        return delegates[account];
    }
}
