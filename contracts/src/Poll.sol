// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title Poll
/// @notice A LIP-16 stake-weighted poll: votes are events, tallied off-chain by stake (protocol.md §7.5,
///         Appendix A "Poll"; livepeer/protocol contracts/polling/Poll.sol). go-livepeer's CLI `/vote`
///         calls `vote`.
contract Poll {
    /// @notice Last block at which votes are accepted.
    uint256 public endBlock;

    /// @notice `voter` chose `choiceID` (0 = yes, 1 = no by convention of the off-chain tally).
    event Vote(address indexed voter, uint256 choiceID);

    /// @param _endBlock last block at which votes are accepted
    constructor(uint256 _endBlock) {
        endBlock = _endBlock;
    }

    /// @notice Vote `_choiceID`; only while `block.number <= endBlock` (protocol.md §7.5).
    function vote(uint256 _choiceID) external {
        require(block.number <= endBlock, "poll is over");
        emit Vote(msg.sender, _choiceID);
    }

    /// @notice After the end block, retire the poll (protocol.md §7.5). Upstream this is `selfdestruct`,
    ///         which since Cancun (EIP-6780) only sends the contract's balance to the caller and leaves the
    ///         code in place; this does exactly that without the deprecated opcode.
    function destroy() external {
        require(block.number > endBlock, "poll is active");
        uint256 balance = address(this).balance;
        if (balance > 0) {
            (bool ok, ) = payable(msg.sender).call{value: balance}("");
            require(ok, "transfer failed");
        }
    }
}
