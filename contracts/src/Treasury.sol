// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import "@openzeppelin/contracts-upgradeable/governance/TimelockControllerUpgradeable.sol";

/// @title Treasury
/// @notice The protocol treasury: an OpenZeppelin TimelockController (4.9) that holds the treasury's LPT
///         and executes the LivepeerGovernor's proposals (protocol.md §7.4, livepeer/protocol
///         contracts/treasury/Treasury.sol). Its ABI is the standard OpenZeppelin timelock plus `initialize`.
/// @dev Not behind a proxy: deploy, then call `initialize` once (only the deployer may, which closes the
///      front-running window between the two transactions). Arbitrum One: minDelay 0 s; the
///      LivepeerGovernor holds PROPOSER_ROLE, CANCELLER_ROLE and EXECUTOR_ROLE; the deployer's
///      TIMELOCK_ADMIN_ROLE is renounced so the timelock administers itself.
contract Treasury is Initializable, TimelockControllerUpgradeable {
    address private immutable deployer;

    constructor() {
        deployer = msg.sender;
    }

    /// @notice One-time setup of the timelock (OpenZeppelin `__TimelockController_init`; protocol.md §7.4).
    /// @param minDelay minimum delay in seconds between schedule and execute (0 on Arbitrum One)
    /// @param proposers accounts granted PROPOSER_ROLE and CANCELLER_ROLE (the LivepeerGovernor)
    /// @param executors accounts granted EXECUTOR_ROLE (the LivepeerGovernor; address(0) opens the role)
    /// @param admin optional extra TIMELOCK_ADMIN_ROLE holder (address(0) for none: self-administered)
    function initialize(
        uint256 minDelay,
        address[] memory proposers,
        address[] memory executors,
        address admin
    ) external initializer {
        require(msg.sender == deployer, "caller must be deployer");
        __TimelockController_init(minDelay, proposers, executors, admin);
    }
}
