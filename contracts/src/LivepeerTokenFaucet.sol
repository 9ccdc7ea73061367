// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import "./interfaces/ILivepeerToken.sol";

/// @title LivepeerTokenFaucet
/// @notice Dev/test-net LPT faucet: anyone may `request()` `requestAmount` LPT once every `requestWait`
///         hours; whitelisted addresses skip the wait (protocol.md §1.1, §9 "LivepeerTokenFaucet",
///         Appendix A; livepeer/protocol contracts/token/LivepeerTokenFaucet.sol). Register it as
///         `LivepeerTokenFaucet` and fund it with LPT.
/// @dev Ownership is written inline (owner / transferOwnership / OwnershipTransferred) so the ABI is the
///      deployed one, which has no `renounceOwnership`.
contract LivepeerTokenFaucet {
    /// @notice The token handed out.
    ILivepeerToken public token;
    /// @notice LPT (wei) sent per request.
    uint256 public requestAmount;
    /// @notice Hours a non-whitelisted address must wait between requests.
    uint256 public requestWait;
    /// @notice address => timestamp from which it may request again (go-livepeer reads it).
    mapping(address => uint256) public nextValidRequest;
    /// @notice address => may request without waiting.
    mapping(address => bool) public isWhitelisted;
    /// @notice The faucet owner, who manages the whitelist.
    address public owner;

    /// @notice Emitted on every successful request.
    event Request(address indexed to, uint256 amount);
    /// @notice Emitted when ownership changes.
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    /// @dev Owner-only guard.
    modifier onlyOwner() {
        require(msg.sender == owner, "caller is not the owner");
        _;
    }

    /// @param _token the LPT address
    /// @param _requestAmount LPT (wei) per request
    /// @param _requestWait hours between requests
    constructor(address _token, uint256 _requestAmount, uint256 _requestWait) {
        token = ILivepeerToken(_token);
        requestAmount = _requestAmount;
        requestWait = _requestWait;
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
    }

    /// @notice Let `_addr` request without the rate limit (owner only).
    function addToWhitelist(address _addr) external onlyOwner {
        isWhitelisted[_addr] = true;
    }

    /// @notice Subject `_addr` to the rate limit again (owner only).
    function removeFromWhitelist(address _addr) external onlyOwner {
        isWhitelisted[_addr] = false;
    }

    /// @notice Hand ownership to `_newOwner`, which must be non-zero (owner only).
    function transferOwnership(address _newOwner) external onlyOwner {
        require(_newOwner != address(0), "new owner is the zero address");
        emit OwnershipTransferred(owner, _newOwner);
        owner = _newOwner;
    }

    /// @notice Send `requestAmount` LPT to the caller; a non-whitelisted caller must have waited until
    ///         `nextValidRequest`, which moves to now + `requestWait` hours (go-livepeer `/requestTokens`).
    function request() external {
        if (!isWhitelisted[msg.sender]) {
            require(block.timestamp >= nextValidRequest[msg.sender], "faucet request too soon");
            nextValidRequest[msg.sender] = block.timestamp + requestWait * 1 hours;
        }
        require(token.transfer(msg.sender, requestAmount), "token transfer failed");
        emit Request(msg.sender, requestAmount);
    }
}
