// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import "@openzeppelin/contracts-upgradeable/governance/GovernorUpgradeable.sol";
import "@openzeppelin/contracts-upgradeable/governance/extensions/GovernorSettingsUpgradeable.sol";
import "@openzeppelin/contracts-upgradeable/governance/extensions/GovernorTimelockControlUpgradeable.sol";
import "@openzeppelin/contracts-upgradeable/governance/extensions/GovernorVotesUpgradeable.sol";
import "@openzeppelin/contracts-upgradeable/governance/extensions/GovernorVotesQuorumFractionUpgradeable.sol";
import "@openzeppelin/contracts-upgradeable/governance/TimelockControllerUpgradeable.sol";

import "./ManagerProxyTarget.sol";
import "./GovernorCountingOverridable.sol";
import "./interfaces/IBondingVotes.sol";

/// @title LivepeerGovernor
/// @notice The stake-weighted on-chain governor of the protocol and its treasury (protocol.md §7.2,
///         livepeer/protocol contracts/treasury/LivepeerGovernor.sol): OpenZeppelin Governor (4.9) with
///         Settings, TimelockControl (the timelock is the `Treasury`), Votes (the token is `BondingVotes`,
///         so time is measured in rounds), QuorumFraction (denominator 1e6) and the
///         GovernorCountingOverridable counting module (orchestrators vote with their delegated stake,
///         delegators may override their share, success when for >= quota of for + against).
/// @dev No proxy in this deployment (protocol.md §10.2): the contract is deployed with the Controller
///      address, registered as "LivepeerGovernor", then `initialize` is called once by the deployer.
///      `Treasury` and `BondingVotes` must be registered in the Controller before `initialize`; the
///      timelock and the votes token are cached then (call `bumpGovernorVotesTokenAddress` after
///      re-registering BondingVotes). Setters (`setVotingDelay`, `setVotingPeriod`,
///      `setProposalThreshold`, `updateQuorumNumerator`, `updateTimelock`, `relay`) are onlyGovernance:
///      they must be executed by the Treasury through a proposal.
contract LivepeerGovernor is
    ManagerProxyTarget,
    Initializable,
    GovernorUpgradeable,
    GovernorSettingsUpgradeable,
    GovernorTimelockControlUpgradeable,
    GovernorVotesUpgradeable,
    GovernorVotesQuorumFractionUpgradeable,
    GovernorCountingOverridable
{
    /// @dev Only the deployer may initialize, which closes the deploy/initialize front-running window
    ///      (the deployed contract sits behind a proxy initialized in the same script).
    address private immutable deployer;

    /// @param _controller the Controller the Treasury and BondingVotes are resolved through
    constructor(address _controller) ManagerProxyTarget(_controller, keccak256("LivepeerGovernorTarget")) {
        deployer = msg.sender;
    }

    /// @notice One-time setup (protocol.md §7.2 "initialize"). Governor name "LivepeerGovernor".
    /// @param initialVotingDelay rounds between proposing and the snapshot (1 on Arbitrum One)
    /// @param initialVotingPeriod rounds the vote stays open after the snapshot (10 on Arbitrum One)
    /// @param initialProposalThreshold stake (LPT wei) needed to propose (100e18 on Arbitrum One)
    /// @param initialQuorum quorum numerator over 1e6 (333300 on Arbitrum One)
    /// @param initialQuota share of for + against that "for" must reach, over 1e6 (500000 on Arbitrum One)
    function initialize(
        uint256 initialVotingDelay,
        uint256 initialVotingPeriod,
        uint256 initialProposalThreshold,
        uint256 initialQuorum,
        uint256 initialQuota
    ) public initializer {
        require(msg.sender == deployer, "caller must be deployer");
        address treasury = _getContract("Treasury");
        require(treasury != address(0), "Treasury not registered");
        IBondingVotes bv = votes();
        require(address(bv) != address(0), "BondingVotes not registered");

        __Governor_init("LivepeerGovernor");
        __GovernorSettings_init(initialVotingDelay, initialVotingPeriod, initialProposalThreshold);
        __GovernorTimelockControl_init(TimelockControllerUpgradeable(payable(treasury)));
        __GovernorVotes_init(IVotesUpgradeable(address(bv)));
        __GovernorVotesQuorumFraction_init(initialQuorum);
        __GovernorCountingOverridable_init(initialQuota);
    }

    /// @notice Quorum numerators are parts per million (MathUtils.PERC_DIVISOR; protocol.md §7.2 "Overrides").
    /// @dev Declared `view` (not `pure`) to match the deployed ABI; solc warns that it could be pure.
    function quorumDenominator() public view override returns (uint256) {
        return MathUtils.PERC_DIVISOR;
    }

    /// @notice The BondingVotes contract currently registered in the Controller (protocol.md §7.2 "Overrides").
    function votes() public view override returns (IBondingVotes) {
        return IBondingVotes(_getContract("BondingVotes"));
    }

    /// @notice Re-read the votes token (`token()`) from the Controller's current "BondingVotes" entry;
    ///         callable by anyone since the value comes from the registry (protocol.md §1.3 "Peer lookup").
    function bumpGovernorVotesTokenAddress() external {
        token = IERC5805Upgradeable(address(votes()));
    }

    // ---- overrides required by the OpenZeppelin module combination ----

    /// @notice Stake needed to propose, checked at `clock() - 1` (GovernorSettings; protocol.md §7.2).
    function proposalThreshold() public view override(GovernorUpgradeable, GovernorSettingsUpgradeable) returns (uint256) {
        return super.proposalThreshold();
    }

    /// @notice Proposal state, with Queued from the timelock (GovernorTimelockControl).
    function state(
        uint256 proposalId
    ) public view override(GovernorUpgradeable, GovernorTimelockControlUpgradeable) returns (ProposalState) {
        return super.state(proposalId);
    }

    function _execute(
        uint256 proposalId,
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(GovernorUpgradeable, GovernorTimelockControlUpgradeable) {
        super._execute(proposalId, targets, values, calldatas, descriptionHash);
    }

    function _cancel(
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(GovernorUpgradeable, GovernorTimelockControlUpgradeable) returns (uint256) {
        return super._cancel(targets, values, calldatas, descriptionHash);
    }

    function _executor() internal view override(GovernorUpgradeable, GovernorTimelockControlUpgradeable) returns (address) {
        return super._executor();
    }

    /// @notice ERC-165 (Governor + timelock interfaces, ERC-1155 receiver).
    function supportsInterface(
        bytes4 interfaceId
    ) public view override(GovernorUpgradeable, GovernorTimelockControlUpgradeable) returns (bool) {
        return super.supportsInterface(interfaceId);
    }
}
