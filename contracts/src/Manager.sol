// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import "./interfaces/IController.sol";
import "./interfaces/IManager.sol";

/// @title Manager
/// @notice Base of every protocol contract: holds the Controller and the access/pause modifiers
///         (protocol.md §1.3, livepeer/protocol contracts/Manager.sol + ManagerProxyTarget.sol).
/// @dev There are no proxies in this deployment (protocol.md §10.2), so contracts are registered
///      directly under their name. Contracts that are proxied on Arbitrum (and so expose
///      `targetContractId()`) inherit `ManagerProxyTarget` instead, which adds that getter.
abstract contract Manager is IManager {
    /// @notice The Controller this contract resolves its peers through (slot 0, as deployed).
    IController public controller;

    /// @dev Caller must be the Controller (protocol.md §1.3).
    modifier onlyController() {
        _onlyController();
        _;
    }

    /// @dev Caller must be the Controller owner (protocol.md §1.3).
    modifier onlyControllerOwner() {
        _onlyControllerOwner();
        _;
    }

    /// @dev The Controller must not be paused (protocol.md §1.3, §1.4).
    modifier whenSystemNotPaused() {
        _whenSystemNotPaused();
        _;
    }

    /// @dev The Controller must be paused (protocol.md §1.3).
    modifier whenSystemPaused() {
        _whenSystemPaused();
        _;
    }

    /// @param _controller the Controller address
    constructor(address _controller) {
        controller = IController(_controller);
    }

    /// @notice Point this contract at a new Controller; only the current Controller may call it
    ///         (via `Controller.updateController`) (protocol.md §1.3).
    function setController(address _controller) external virtual override onlyController {
        controller = IController(_controller);
        emit SetController(_controller);
    }

    /// @dev Resolve a peer by registry name through the Controller (protocol.md §1.3 "Peer lookup").
    function _getContract(string memory _name) internal view returns (address) {
        return controller.getContract(keccak256(bytes(_name)));
    }

    /// @dev Body of `onlyController` (a function keeps the modifier's bytecode small).
    function _onlyController() internal view {
        require(msg.sender == address(controller), "caller must be Controller");
    }

    /// @dev Body of `onlyControllerOwner`.
    function _onlyControllerOwner() internal view {
        require(msg.sender == controller.owner(), "caller must be Controller owner");
    }

    /// @dev Body of `whenSystemNotPaused`.
    function _whenSystemNotPaused() internal view {
        require(!controller.paused(), "system is paused");
    }

    /// @dev Body of `whenSystemPaused`.
    function _whenSystemPaused() internal view {
        require(controller.paused(), "system is not paused");
    }
}
