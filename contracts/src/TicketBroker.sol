// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import "./ManagerProxyTarget.sol";
import "./interfaces/ITicketBroker.sol";
import "./interfaces/IBondingManager.sol";
import "./interfaces/IMinter.sol";
import "./interfaces/IRoundsManager.sol";

/// @title TicketBroker
/// @notice Probabilistic micropayments (protocol.md §3; pm.md §1–§4; livepeer/protocol
///         contracts/pm/TicketBroker.sol with its mixins MixinTicketBrokerCore, MixinReserve,
///         MixinTicketProcessor and MixinWrappers). Broadcasters ("senders") fund a deposit and a reserve;
///         orchestrators redeem winning tickets, paid first from the deposit and then from a per-round,
///         per-recipient share of the reserve. All ETH is held by the Minter: funding forwards it with
///         `Minter.depositETH`, a redemption credits it as fees with `BondingManager.updateTranscoderWithFees`,
///         and `withdraw` pays it back with `Minter.trustedWithdrawETH`. Register this contract as both
///         `TicketBroker` and `JobsManager` (protocol.md §1.1, §10.3).
contract TicketBroker is ManagerProxyTarget, ITicketBroker {
    /// @dev A reserve with its per-round claim accounting (protocol.md §3.1, §3.3).
    struct Reserve {
        uint256 funds; // wei remaining
        mapping(uint256 => uint256) claimedForRound; // round => total claimed in that round
        mapping(uint256 => mapping(address => uint256)) claimedByAddress; // round => claimant => claimed
    }

    /// @dev sender => reserve (slot 2 of the deployed layout).
    mapping(address => Reserve) internal reserves;
    /// @dev sender => deposit and unlock state (slot 3).
    mapping(address => Sender) internal senders;
    /// @notice Rounds between `unlock()` and the round from which `withdraw()` works (slot 4).
    uint256 public override unlockPeriod;
    /// @notice ticket hash => redeemed (slot 5).
    mapping(bytes32 => bool) public override usedTickets;
    /// @notice Rounds after its creation round during which a ticket can be redeemed (slot 6).
    uint256 public override ticketValidityPeriod;

    /// @dev The current round must be initialized (protocol.md §1.4).
    modifier currentRoundInitialized() {
        require(_roundsManager().currentRoundInitialized(), "current round is not initialized");
        _;
    }

    /// @param _controller the Controller address
    constructor(address _controller) ManagerProxyTarget(_controller, keccak256("TicketBrokerTarget")) {}

    // ---------------------------------------------------------------- parameters

    /// @notice Set the unlock period in rounds; 0 means an immediate unlock (controller owner;
    ///         protocol.md §3.2).
    function setUnlockPeriod(uint256 _unlockPeriod) external onlyControllerOwner {
        unlockPeriod = _unlockPeriod;
        emit ParameterUpdate("unlockPeriod");
    }

    /// @notice Set the ticket validity period in rounds, > 0 (controller owner; protocol.md §3.2). The
    ///         default 0 makes every ticket expired.
    function setTicketValidityPeriod(uint256 _ticketValidityPeriod) external onlyControllerOwner {
        require(_ticketValidityPeriod > 0, "ticketValidityPeriod must be greater than 0");
        ticketValidityPeriod = _ticketValidityPeriod;
        emit ParameterUpdate("ticketValidityPeriod");
    }

    // ---------------------------------------------------------------- funding

    /// @notice Add msg.value to the caller's deposit; cancels the caller's unlock if one is in progress;
    ///         forwards the ETH to the Minter; emits `DepositFunded` last (notPaused; protocol.md §3.2).
    function fundDeposit() external payable override whenSystemNotPaused {
        _addDeposit(msg.sender, msg.value);
        _processFunding(msg.value);
        emit DepositFunded(msg.sender, msg.value);
    }

    /// @notice Add msg.value to the caller's reserve (emits `ReserveFunded`); cancels the caller's unlock
    ///         if one is in progress; forwards the ETH to the Minter (notPaused; protocol.md §3.2).
    function fundReserve() external payable override whenSystemNotPaused {
        _addReserve(msg.sender, msg.value);
        _processFunding(msg.value);
    }

    /// @notice `fundDepositAndReserveFor(msg.sender, _depositAmount, _reserveAmount)` (protocol.md §3.2).
    function fundDepositAndReserve(uint256 _depositAmount, uint256 _reserveAmount) external payable override {
        fundDepositAndReserveFor(msg.sender, _depositAmount, _reserveAmount);
    }

    /// @notice Fund `_addr`'s deposit and reserve; msg.value must equal their sum. Anyone may fund
    ///         anyone; an unlock is cancelled only when the caller funds itself. Events in order:
    ///         [UnlockCancelled], ReserveFunded, DepositFunded (notPaused; protocol.md §3.2).
    function fundDepositAndReserveFor(address _addr, uint256 _depositAmount, uint256 _reserveAmount)
        public
        payable
        override
        whenSystemNotPaused
    {
        require(
            msg.value == _depositAmount + _reserveAmount,
            "msg.value does not equal sum of deposit amount and reserve amount"
        );
        _addDeposit(_addr, _depositAmount);
        _addReserve(_addr, _reserveAmount);
        _processFunding(msg.value);
        emit DepositFunded(_addr, _depositAmount);
    }

    // ---------------------------------------------------------------- redemption

    /// @notice Redeem a winning ticket; anyone may submit it (notPaused; current round initialized).
    ///         Runs the checks of protocol.md §3.4 in order (recipient, sender, auxData length, creation
    ///         round block hash, expiry, recipientRand, used, signature, win, sender locked, funds), marks
    ///         the ticket used, pays `faceValue` from the deposit and then from the recipient's reserve
    ///         allocation, credits the amount as fees of the recipient in the BondingManager, and emits
    ///         [WinningTicketTransfer], WinningTicketRedeemed.
    /// @param _ticket the ticket
    /// @param _sig the sender's 65-byte EIP-191 signature over the ticket hash (pm.md §2)
    /// @param _recipientRand the recipient's revealed random number (pm.md §3)
    function redeemWinningTicket(Ticket memory _ticket, bytes memory _sig, uint256 _recipientRand)
        public
        override
        whenSystemNotPaused
        currentRoundInitialized
    {
        bytes32 ticketHash = getTicketHash(_ticket);
        uint256 creationRound = _requireValidWinningTicket(_ticket, ticketHash, _sig, _recipientRand);

        Sender storage sender = senders[_ticket.sender];
        require(_isLocked(sender), "sender is unlocked"); // §3.4 #12
        require(sender.deposit > 0 || reserves[_ticket.sender].funds > 0, "sender deposit and reserve are zero"); // #13

        usedTickets[ticketHash] = true;

        uint256 amountToTransfer;
        if (_ticket.faceValue > sender.deposit) {
            amountToTransfer =
                sender.deposit + _claimFromReserve(_ticket.sender, _ticket.recipient, _ticket.faceValue - sender.deposit);
            sender.deposit = 0;
        } else {
            amountToTransfer = _ticket.faceValue;
            sender.deposit -= _ticket.faceValue;
        }

        if (amountToTransfer > 0) {
            // The ETH already sits in the Minter; it becomes the recipient's (and its delegators') fees.
            _bondingManager().updateTranscoderWithFees(_ticket.recipient, amountToTransfer, creationRound);
            emit WinningTicketTransfer(_ticket.sender, _ticket.recipient, amountToTransfer);
        }

        emit WinningTicketRedeemed(
            _ticket.sender,
            _ticket.recipient,
            _ticket.faceValue,
            _ticket.winProb,
            _ticket.senderNonce,
            _recipientRand,
            _ticket.auxData
        );
    }

    /// @notice Redeem several tickets, each through a self-call of `redeemWinningTicket`; a failing
    ///         ticket is skipped, not reverted (notPaused; current round initialized; protocol.md §3.2).
    function batchRedeemWinningTickets(
        Ticket[] memory _tickets,
        bytes[] memory _sigs,
        uint256[] memory _recipientRands
    ) external override whenSystemNotPaused currentRoundInitialized {
        for (uint256 i = 0; i < _tickets.length; i++) {
            (bool success,) = address(this).call(
                abi.encodeCall(this.redeemWinningTicket, (_tickets[i], _sigs[i], _recipientRands[i]))
            );
            success; // failures are swallowed, as deployed
        }
    }

    // ---------------------------------------------------------------- unlock and withdrawal

    /// @notice Start unlocking the caller's funds: `withdrawRound = currentRound + unlockPeriod`
    ///         (notPaused; protocol.md §3.2). Tickets cannot be redeemed against an unlocked sender.
    function unlock() external override whenSystemNotPaused {
        Sender storage sender = senders[msg.sender];
        require(sender.deposit > 0 || reserves[msg.sender].funds > 0, "sender deposit and reserve are zero");
        require(!_isUnlockInProgress(sender), "unlock already initiated");
        uint256 currentRound = _roundsManager().currentRound();
        sender.withdrawRound = currentRound + unlockPeriod;
        emit Unlock(msg.sender, currentRound, sender.withdrawRound);
    }

    /// @notice Cancel the caller's unlock (notPaused; protocol.md §3.2).
    function cancelUnlock() external override whenSystemNotPaused {
        Sender storage sender = senders[msg.sender];
        require(_isUnlockInProgress(sender), "no unlock request in progress");
        _cancelUnlock(sender, msg.sender);
    }

    /// @notice Withdraw the caller's whole deposit and reserve once `currentRound ≥ withdrawRound`; the
    ///         Minter pays it out (notPaused; protocol.md §3.2). The per-round reserve claim records stay.
    function withdraw() external override whenSystemNotPaused {
        Sender storage sender = senders[msg.sender];
        uint256 deposit = sender.deposit;
        uint256 reserve = reserves[msg.sender].funds;
        require(deposit > 0 || reserve > 0, "sender deposit and reserve are zero");
        require(_isUnlockInProgress(sender), "no unlock request in progress");
        require(!_isLocked(sender), "account is locked");

        sender.deposit = 0;
        reserves[msg.sender].funds = 0;
        _minter().trustedWithdrawETH(payable(msg.sender), deposit + reserve);

        emit Withdrawal(msg.sender, deposit, reserve);
    }

    // ---------------------------------------------------------------- views

    /// @notice `(deposit, withdrawRound)` and `(fundsRemaining, claimedInCurrentRound)` of `_sender`
    ///         (protocol.md §3.2; go-livepeer's SenderWatcher reads it).
    function getSenderInfo(address _sender)
        external
        view
        override
        returns (Sender memory sender, ReserveInfo memory reserve)
    {
        sender = senders[_sender];
        reserve = getReserveInfo(_sender);
    }

    /// @notice `(fundsRemaining, claimedInCurrentRound)` of `_reserveHolder`'s reserve (protocol.md §3.2).
    function getReserveInfo(address _reserveHolder) public view override returns (ReserveInfo memory info) {
        Reserve storage reserve = reserves[_reserveHolder];
        info.fundsRemaining = reserve.funds;
        info.claimedInCurrentRound = reserve.claimedForRound[_roundsManager().currentRound()];
    }

    /// @notice What `_claimant` may still claim from `_reserveHolder`'s reserve this round (protocol.md §3.3):
    ///         0 unless the claimant is an active transcoder and the pool is non-empty, else
    ///         `floor((funds + claimedForRound[r]) / poolSize) − claimedByAddress[r][claimant]`.
    /// @dev Where the claimant already took more than the current allocation (the pool grew within the
    ///      round), this returns 0 instead of underflowing.
    function claimableReserve(address _reserveHolder, address _claimant) public view override returns (uint256) {
        IBondingManager bondingManager = _bondingManager();
        if (!bondingManager.isActiveTranscoder(_claimant)) {
            return 0;
        }
        uint256 poolSize = bondingManager.getTranscoderPoolSize();
        if (poolSize == 0) {
            return 0;
        }
        Reserve storage reserve = reserves[_reserveHolder];
        uint256 round = _roundsManager().currentRound();
        uint256 allocation = (reserve.funds + reserve.claimedForRound[round]) / poolSize;
        uint256 claimed = reserve.claimedByAddress[round][_claimant];
        return allocation > claimed ? allocation - claimed : 0;
    }

    /// @notice What `_claimant` claimed from `_reserveHolder`'s reserve in the current round (protocol.md §3.2).
    function claimedReserve(address _reserveHolder, address _claimant) external view override returns (uint256) {
        return reserves[_reserveHolder].claimedByAddress[_roundsManager().currentRound()][_claimant];
    }

    /// @notice Whether `_sender` has an unlock in progress (`withdrawRound > 0`; protocol.md §3.1).
    function isUnlockInProgress(address _sender) external view override returns (bool) {
        return _isUnlockInProgress(senders[_sender]);
    }

    /// @notice `keccak256(abi.encodePacked(recipient, sender, faceValue, winProb, senderNonce,
    ///         recipientRandHash, auxData))` (pm.md §1.3; protocol.md §3.1).
    function getTicketHash(Ticket memory _ticket) public pure override returns (bytes32) {
        return keccak256(
            abi.encodePacked(
                _ticket.recipient,
                _ticket.sender,
                _ticket.faceValue,
                _ticket.winProb,
                _ticket.senderNonce,
                _ticket.recipientRandHash,
                _ticket.auxData
            )
        );
    }

    // ---------------------------------------------------------------- internals

    /// @dev Checks #1–#11 of protocol.md §3.4, in order; returns the ticket's creation round.
    function _requireValidWinningTicket(
        Ticket memory _ticket,
        bytes32 _ticketHash,
        bytes memory _sig,
        uint256 _recipientRand
    ) internal view returns (uint256 creationRound) {
        require(_ticket.recipient != address(0), "ticket recipient is null address"); // #1
        require(_ticket.sender != address(0), "ticket sender is null address"); // #2

        bytes32 creationRoundBlockHash;
        (creationRound, creationRoundBlockHash) = _creationRoundAndBlockHash(_ticket.auxData); // #3
        IRoundsManager roundsManager = _roundsManager();
        bytes32 blockHash = roundsManager.blockHashForRound(creationRound);
        require(blockHash != bytes32(0), "ticket creationRound does not have a block hash"); // #4
        require(creationRoundBlockHash == blockHash, "ticket creationRoundBlockHash invalid for creationRound"); // #5
        require(creationRound + ticketValidityPeriod > roundsManager.currentRound(), "ticket is expired"); // #6

        require(
            keccak256(abi.encodePacked(_recipientRand)) == _ticket.recipientRandHash,
            "recipientRand does not match recipientRandHash"
        ); // #7
        require(!usedTickets[_ticketHash], "ticket is used"); // #8
        require(_isValidTicketSig(_ticket.sender, _sig, _ticketHash), "invalid signature over ticket hash"); // #9, #10
        require(
            uint256(keccak256(abi.encodePacked(_sig, _recipientRand))) < _ticket.winProb,
            "ticket did not win"
        ); // #11 (pm.md §4.1)
    }

    /// @dev auxData = uint256 creationRound ‖ bytes32 creationRoundBlockHash, exactly 64 bytes (pm.md §1.2).
    function _creationRoundAndBlockHash(bytes memory _auxData)
        internal
        pure
        returns (uint256 creationRound, bytes32 creationRoundBlockHash)
    {
        require(_auxData.length == 64, "invalid length for ticket auxData: must be 64 bytes");
        assembly {
            creationRound := mload(add(_auxData, 32))
            creationRoundBlockHash := mload(add(_auxData, 64))
        }
    }

    /// @dev 65-byte signature whose EIP-191 ("\x19Ethereum Signed Message:\n32") signer is `_sender`,
    ///      recovered with OpenZeppelin ECDSA, which reverts on high-s and bad `v` (pm.md §2.3).
    function _isValidTicketSig(address _sender, bytes memory _sig, bytes32 _ticketHash) internal pure returns (bool) {
        require(_sig.length == 65, "INVALID_SIGNATURE_LENGTH");
        address signer = ECDSA.recover(ECDSA.toEthSignedMessageHash(_ticketHash), _sig);
        return signer != address(0) && signer == _sender;
    }

    /// @dev Claim up to `_amount` of `_claimant`'s allocation of `_reserveHolder`'s reserve this round
    ///      (protocol.md §3.3 claimFromReserve); returns the amount claimed.
    function _claimFromReserve(address _reserveHolder, address _claimant, uint256 _amount) internal returns (uint256) {
        uint256 claimable = claimableReserve(_reserveHolder, _claimant);
        if (claimable == 0) {
            return 0;
        }
        uint256 claimAmount = _amount > claimable ? claimable : _amount;
        uint256 round = _roundsManager().currentRound();
        Reserve storage reserve = reserves[_reserveHolder];
        reserve.funds -= claimAmount;
        reserve.claimedForRound[round] += claimAmount;
        reserve.claimedByAddress[round][_claimant] += claimAmount;
        emit ReserveClaimed(_reserveHolder, _claimant, claimAmount);
        return claimAmount;
    }

    /// @dev deposit += amount; a self-funding sender's unlock is cancelled (protocol.md §3.2).
    function _addDeposit(address _sender, uint256 _amount) internal {
        Sender storage sender = senders[_sender];
        sender.deposit += _amount;
        if (msg.sender == _sender && _isUnlockInProgress(sender)) {
            _cancelUnlock(sender, _sender);
        }
    }

    /// @dev reserve += amount, emit ReserveFunded; a self-funding sender's unlock is cancelled (protocol.md §3.2).
    function _addReserve(address _reserveHolder, uint256 _amount) internal {
        reserves[_reserveHolder].funds += _amount;
        emit ReserveFunded(_reserveHolder, _amount);
        Sender storage sender = senders[_reserveHolder];
        if (msg.sender == _reserveHolder && _isUnlockInProgress(sender)) {
            _cancelUnlock(sender, _reserveHolder);
        }
    }

    /// @dev Forward funding ETH to the Minter, which holds all broadcaster funds (protocol.md §1.5).
    function _processFunding(uint256 _amount) internal {
        if (_amount > 0) {
            _minter().depositETH{value: _amount}();
        }
    }

    /// @dev Clear the unlock request and emit `UnlockCancelled` (protocol.md §3.2).
    function _cancelUnlock(Sender storage _sender, address _senderAddress) internal {
        _sender.withdrawRound = 0;
        emit UnlockCancelled(_senderAddress);
    }

    /// @dev Locked: no unlock requested, or the withdraw round not reached (protocol.md §3.1).
    function _isLocked(Sender storage _sender) internal view returns (bool) {
        return _sender.withdrawRound == 0 || _roundsManager().currentRound() < _sender.withdrawRound;
    }

    /// @dev Unlock in progress: `withdrawRound > 0` (protocol.md §3.1).
    function _isUnlockInProgress(Sender storage _sender) internal view returns (bool) {
        return _sender.withdrawRound > 0;
    }

    /// @dev Peers are resolved through the Controller at call time (protocol.md §1.3).
    function _bondingManager() internal view returns (IBondingManager) {
        return IBondingManager(_getContract("BondingManager"));
    }

    function _minter() internal view returns (IMinter) {
        return IMinter(_getContract("Minter"));
    }

    function _roundsManager() internal view returns (IRoundsManager) {
        return IRoundsManager(_getContract("RoundsManager"));
    }
}
