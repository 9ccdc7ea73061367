// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import "./interfaces/IController.sol";
import "./interfaces/IManager.sol";

/// @title Controller
/// @notice The protocol registry and pause switch (protocol.md §1.2, livepeer/protocol contracts/Controller.sol).
///         Contracts are registered by `keccak256(bytes(name))`. The Controller starts paused; the owner
///         unpauses it once the deployment is configured (protocol.md §10.3 step 10).
/// @dev Ownable and Pausable are written inline (rather than inheriting OpenZeppelin's) so that the
///      events and revert behaviour match the deployed contract: `pause()`/`unpause()` emit `Pause()`
///      and `Unpause()` and revert without a reason in the wrong state.
contract Controller is IController {
    /// @dev A registry entry.
    struct ContractInfo {
        address contractAddress; // address of the contract
        bytes20 gitCommitHash; // SHA1 hash of the head git commit of the code
    }

    /// @notice The current owner (go-livepeer and every Manager read it through `owner()`).
    address public override owner;

    /// @notice Whether the protocol is paused; true after deployment.
    bool public override paused;

    /// @dev Registry: keccak256(name) => entry.
    mapping(bytes32 => ContractInfo) private registry;

    /// @notice Emitted when ownership changes (OpenZeppelin Ownable signature, protocol.md Appendix A).
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    /// @notice Emitted when the protocol is paused (protocol.md Appendix A).
    event Pause();
    /// @notice Emitted when the protocol is unpaused (protocol.md Appendix A).
    event Unpause();

    /// @dev Owner-only guard, with the Ownable style of a bare `require`.
    modifier onlyOwner() {
        require(msg.sender == owner);
        _;
    }

    /// @notice Deploy a paused Controller owned by the deployer (protocol.md §1.2).
    constructor() {
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
        paused = true;
    }

    /// @notice Register `_contractAddress` under `_id`, overwriting any earlier entry (protocol.md §1.2).
    /// @param _id keccak256 of the registry name
    /// @param _contractAddress the contract's address
    /// @param _gitCommitHash the git commit of the deployed code (informational)
    function setContractInfo(bytes32 _id, address _contractAddress, bytes20 _gitCommitHash) external override onlyOwner {
        registry[_id] = ContractInfo(_contractAddress, _gitCommitHash);
        emit SetContractInfo(_id, _contractAddress, _gitCommitHash);
    }

    /// @notice Move the contract registered as `_id` to a new Controller (protocol.md §1.2).
    function updateController(bytes32 _id, address _controller) external override onlyOwner {
        address target = registry[_id].contractAddress;
        require(target != address(0), "contract not registered");
        IManager(target).setController(_controller);
    }

    /// @notice The registered address and git commit hash of `_id` (zero values when unknown).
    function getContractInfo(bytes32 _id) external view override returns (address, bytes20) {
        ContractInfo storage info = registry[_id];
        return (info.contractAddress, info.gitCommitHash);
    }

    /// @notice The registered address of `_id`, or the zero address when unknown (protocol.md §1.2, §9).
    function getContract(bytes32 _id) external view override returns (address) {
        return registry[_id].contractAddress;
    }

    /// @notice Hand ownership to `newOwner` (non-zero; OpenZeppelin Ownable semantics).
    function transferOwnership(address newOwner) external onlyOwner {
        require(newOwner != address(0));
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    /// @notice Pause the protocol; must be unpaused (protocol.md §1.2, §1.4).
    function pause() external onlyOwner {
        require(!paused);
        paused = true;
        emit Pause();
    }

    /// @notice Unpause the protocol; must be paused (protocol.md §1.2, §10.3).
    function unpause() external onlyOwner {
        require(paused);
        paused = false;
        emit Unpause();
    }
}
