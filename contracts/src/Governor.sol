// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Governor (legacy)
/// @notice The stage/execute wrapper that owns the Controller on Arbitrum One, so every
///         `onlyControllerOwner` setter is changed through it (protocol.md §1.2 "Production owner", §7.5,
///         livepeer/protocol contracts/governance/Governor.sol). Its owner (a multisig in production)
///         stages a batch of calls with a delay in blocks; anyone may execute it once the delay is over.
contract Governor {
    /// @notice A batch of calls; `nonce` makes otherwise identical batches distinct (protocol.md §7.5).
    struct Update {
        address[] target;
        uint256[] value;
        bytes[] data;
        uint256 nonce;
    }

    /// @notice The account allowed to stage and cancel updates.
    address public owner;

    /// @notice keccak256(abi.encode(update)) => block number from which it may execute (0 = not staged).
    mapping(bytes32 => uint256) public updates;

    /// @notice Ownership moved (only possible through an executed update).
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);
    /// @notice `update` was staged, executable after `delay` blocks.
    event UpdateStaged(Update update, uint256 delay);
    /// @notice `update` was executed.
    event UpdateExecuted(Update update);
    /// @notice `update` was cancelled by the owner.
    event UpdateCancelled(Update update);

    modifier onlyOwner() {
        require(msg.sender == owner, "unauthorized: msg.sender not owner");
        _;
    }

    modifier onlyThis() {
        require(msg.sender == address(this), "unauthorized: msg.sender not Governor");
        _;
    }

    /// @notice The deployer becomes the owner.
    constructor() {
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    /// @notice Transfer ownership; only callable by this contract, i.e. through a staged and executed update
    ///         (protocol.md §7.5).
    function transferOwnership(address newOwner) public onlyThis {
        require(newOwner != address(0), "newOwner is a null address");
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    /// @notice Stage `_update`, executable from `block.number + _delay` (owner only; protocol.md §7.5).
    function stage(Update memory _update, uint256 _delay) public onlyOwner {
        bytes32 h = keccak256(abi.encode(_update));
        require(updates[h] == 0, "update already staged");
        updates[h] = block.number + _delay;
        emit UpdateStaged(_update, _delay);
    }

    /// @notice Execute a staged update whose delay is over (anyone; protocol.md §7.5). Each call is made
    ///         with its value; a failing call reverts the whole update with the callee's revert data.
    function execute(Update memory _update) public payable {
        bytes32 h = keccak256(abi.encode(_update));
        uint256 executeBlock = updates[h];
        require(executeBlock != 0, "update is not staged");
        require(block.number >= executeBlock, "delay for update not expired");
        require(
            _update.target.length == _update.value.length && _update.target.length == _update.data.length,
            "invalid update length"
        );
        delete updates[h];

        for (uint256 i = 0; i < _update.target.length; i++) {
            (bool ok, bytes memory ret) = _update.target[i].call{value: _update.value[i]}(_update.data[i]);
            if (!ok) {
                assembly {
                    revert(add(ret, 32), mload(ret))
                }
            }
        }
        emit UpdateExecuted(_update);
    }

    /// @notice Cancel a staged update (owner only; protocol.md §7.5).
    function cancel(Update memory _update) public onlyOwner {
        bytes32 h = keccak256(abi.encode(_update));
        require(updates[h] != 0, "update is not staged");
        delete updates[h];
        emit UpdateCancelled(_update);
    }
}
