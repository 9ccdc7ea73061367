// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title ITicketBroker
/// @notice Probabilistic micropayments: broadcaster deposits and reserves, winning-ticket redemption
///         (protocol.md §3, pm.md §1–§4; livepeer/protocol contracts/pm/mixins/interfaces/*).
interface ITicketBroker {
    /// @notice A ticket, in the field order of the ABI tuple and of the hash preimage (pm.md §1.1).
    struct Ticket {
        address recipient; // orchestrator address
        address sender; // broadcaster address, the signer
        uint256 faceValue; // wei paid if the ticket wins
        uint256 winProb; // win threshold, a fraction of 2^256 - 1
        uint256 senderNonce; // sender-chosen nonce
        bytes32 recipientRandHash; // keccak256(uint256 recipientRand)
        bytes auxData; // uint256 creationRound ‖ bytes32 creationRoundBlockHash (64 bytes)
    }

    /// @notice A broadcaster's deposit and unlock state (protocol.md §3.1).
    struct Sender {
        uint256 deposit; // wei
        uint256 withdrawRound; // 0 when no unlock is in progress
    }

    /// @notice A broadcaster's reserve as `getSenderInfo`/`getReserveInfo` report it (protocol.md §3.2).
    struct ReserveInfo {
        uint256 fundsRemaining; // wei still in the reserve
        uint256 claimedInCurrentRound; // wei claimed from it in the current round
    }

    /// @notice A broadcaster's deposit grew (protocol.md §3.5).
    event DepositFunded(address indexed sender, uint256 amount);
    /// @notice A broadcaster's reserve grew (protocol.md §3.5).
    event ReserveFunded(address indexed reserveHolder, uint256 amount);
    /// @notice A recipient was paid from a reserve (protocol.md §3.5).
    event ReserveClaimed(address indexed reserveHolder, address claimant, uint256 amount);
    /// @notice A winning ticket was redeemed, with or without a transfer (protocol.md §3.5).
    event WinningTicketRedeemed(
        address indexed sender,
        address indexed recipient,
        uint256 faceValue,
        uint256 winProb,
        uint256 senderNonce,
        uint256 recipientRand,
        bytes auxData
    );
    /// @notice Funds moved from a sender to a recipient's fees (protocol.md §3.5).
    event WinningTicketTransfer(address indexed sender, address indexed recipient, uint256 amount);
    /// @notice A sender started an unlock (protocol.md §3.5).
    event Unlock(address indexed sender, uint256 startRound, uint256 endRound);
    /// @notice A sender's unlock was cancelled (protocol.md §3.5).
    event UnlockCancelled(address indexed sender);
    /// @notice A sender withdrew its deposit and reserve (protocol.md §3.5).
    event Withdrawal(address indexed sender, uint256 deposit, uint256 reserve);

    /// @notice Add msg.value to the caller's deposit (protocol.md §3.2).
    function fundDeposit() external payable;

    /// @notice Add msg.value to the caller's reserve (protocol.md §3.2).
    function fundReserve() external payable;

    /// @notice Fund the caller's deposit and reserve in one call (protocol.md §3.2).
    function fundDepositAndReserve(uint256 _depositAmount, uint256 _reserveAmount) external payable;

    /// @notice Fund `_addr`'s deposit and reserve in one call (protocol.md §3.2).
    function fundDepositAndReserveFor(address _addr, uint256 _depositAmount, uint256 _reserveAmount) external payable;

    /// @notice Redeem a winning ticket (protocol.md §3.4).
    function redeemWinningTicket(Ticket memory _ticket, bytes memory _sig, uint256 _recipientRand) external;

    /// @notice Redeem several tickets, swallowing failures (protocol.md §3.2).
    function batchRedeemWinningTickets(Ticket[] memory _tickets, bytes[] memory _sigs, uint256[] memory _recipientRands)
        external;

    /// @notice Start the unlock period of the caller's funds (protocol.md §3.2).
    function unlock() external;

    /// @notice Cancel the caller's unlock (protocol.md §3.2).
    function cancelUnlock() external;

    /// @notice Withdraw the caller's unlocked deposit and reserve (protocol.md §3.2).
    function withdraw() external;

    /// @notice Deposit, withdraw round and reserve state of `_sender` (protocol.md §3.2).
    function getSenderInfo(address _sender) external view returns (Sender memory sender, ReserveInfo memory reserve);

    /// @notice Reserve state of `_reserveHolder` (protocol.md §3.2).
    function getReserveInfo(address _reserveHolder) external view returns (ReserveInfo memory info);

    /// @notice What `_claimant` can still claim from the reserve this round (protocol.md §3.3).
    function claimableReserve(address _reserveHolder, address _claimant) external view returns (uint256);

    /// @notice What `_claimant` claimed from the reserve this round (protocol.md §3.2).
    function claimedReserve(address _reserveHolder, address _claimant) external view returns (uint256);

    /// @notice Whether `_sender` has an unlock in progress (protocol.md §3.1).
    function isUnlockInProgress(address _sender) external view returns (bool);

    /// @notice Whether the ticket with this hash was redeemed (protocol.md §3.1).
    function usedTickets(bytes32 _ticketHash) external view returns (bool);

    /// @notice keccak256 of the packed ticket (pm.md §1.3).
    function getTicketHash(Ticket memory _ticket) external pure returns (bytes32);

    /// @notice Unlock period in rounds (protocol.md §3.1).
    function unlockPeriod() external view returns (uint256);

    /// @notice Ticket validity period in rounds (protocol.md §3.1).
    function ticketValidityPeriod() external view returns (uint256);
}
