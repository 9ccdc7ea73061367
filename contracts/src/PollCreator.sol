// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import "./Poll.sol";
import "./interfaces/IBondingManager.sol";

/// @title PollCreator
/// @notice Creates LIP-16 stake-weighted polls (protocol.md §7.5, livepeer/protocol
///         contracts/polling/PollCreator.sol). Votes are `Poll.Vote` events tallied off-chain against
///         QUORUM and QUOTA; nothing is enforced on-chain.
/// @dev Not registered in the Controller on Arbitrum One; it keeps the BondingManager address it was
///      deployed with (protocol.md §1.3 "Peer lookup").
contract PollCreator {
    /// @notice Off-chain quorum, parts per million of stake (33.33 %).
    uint256 public constant QUORUM = 333300;
    /// @notice Off-chain quota, parts per million of the votes cast (50 %).
    uint256 public constant QUOTA = 500000;
    /// @notice Poll length in blocks (10 rounds of 5760 blocks).
    uint256 public constant POLL_PERIOD = 10 * 5760;
    /// @notice Stake (LPT wei) a creator must hold, as delegator or as orchestrator.
    uint256 public constant POLL_CREATION_COST = 100 * 1 ether;

    /// @notice The BondingManager stake is read from (fixed at deployment).
    IBondingManager public bondingManager;

    /// @notice A poll was created for `proposal` (an IPFS multihash), open until `endBlock`.
    event PollCreated(address indexed poll, bytes proposal, uint256 endBlock, uint256 quorum, uint256 quota);

    /// @param _bondingManager the BondingManager stake is read from
    constructor(address _bondingManager) {
        bondingManager = IBondingManager(_bondingManager);
    }

    /// @notice Create a Poll ending POLL_PERIOD blocks from now; the caller needs at least POLL_CREATION_COST
    ///         of pending stake or of orchestrator total stake (protocol.md §7.5).
    /// @param _proposal the proposal's IPFS multihash
    function createPoll(bytes calldata _proposal) external {
        require(
            // pendingStake's end round argument is ignored (protocol.md §2.2)
            bondingManager.pendingStake(msg.sender, 0) >= POLL_CREATION_COST ||
                bondingManager.transcoderTotalStake(msg.sender) >= POLL_CREATION_COST,
            "PollCreator#createPoll: INSUFFICIENT_STAKE"
        );
        uint256 endBlock = block.number + POLL_PERIOD;
        Poll poll = new Poll(endBlock);
        emit PollCreated(address(poll), _proposal, endBlock, QUORUM, QUOTA);
    }
}
