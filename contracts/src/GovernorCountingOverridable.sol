// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol";
import "@openzeppelin/contracts-upgradeable/governance/GovernorUpgradeable.sol";

import "./interfaces/IBondingVotes.sol";
import "./libraries/MathUtils.sol";

/// @title GovernorCountingOverridable
/// @notice OpenZeppelin Governor counting module in which an orchestrator votes with all the stake
///         delegated to it and any delegator can override its own share of that vote
///         (protocol.md §7.2 "Quorum"/"Success"/"Vote types" and §7.3, livepeer/protocol
///         contracts/treasury/GovernorCountingOverridable.sol).
/// @dev Bookkeeping, per proposal: the three tallies plus, per voter, `{hasVoted, support, deductions}`.
///      `deductions[o]` is the sum of the weights of the delegators of the orchestrator `o` that have
///      voted themselves; it is taken out of `o`'s weight when `o` votes after them, or out of the tally
///      `o` chose when they vote after `o`. The delegation graph is read from BondingVotes at the
///      proposal snapshot (`delegatedAt`). The module relies on BondingVotes' invariant that a
///      self-delegated account's power at a round is at least the sum of its delegators' power; the
///      subtractions below saturate at zero instead of reverting should that invariant ever break, so
///      that a vote can never be blocked.
abstract contract GovernorCountingOverridable is Initializable, GovernorUpgradeable {
    /// @notice `support` is not Against (0), For (1) or Abstain (2) (protocol.md Appendix A).
    error InvalidVoteType(uint8 voteType);
    /// @notice The account has already voted on this proposal (protocol.md Appendix A).
    error VoteAlreadyCast();

    /// @dev Governor Bravo ordering (protocol.md §7.2 "Vote types").
    enum VoteType {
        Against,
        For,
        Abstain
    }

    /// @dev One voter's state within one proposal.
    struct VoterState {
        bool hasVoted;
        VoteType support;
        // Weight of this account's delegators that voted on their own (only used for orchestrators).
        uint256 deductions;
    }

    /// @dev The tallies of one proposal.
    struct Tally {
        uint256 againstVotes;
        uint256 forVotes;
        uint256 abstainVotes;
        mapping(address => VoterState) voters;
    }

    mapping(uint256 => Tally) private _tallies;

    /// @notice Share of the opinionated (for + against) votes that "for" must reach for a proposal to
    ///         succeed, in parts per million (protocol.md §7.2 "Success"; 500000 on Arbitrum One).
    uint256 public quota;

    /// @dev Sets the quota (parts per million, at most 1e6).
    function __GovernorCountingOverridable_init(uint256 _quota) internal onlyInitializing {
        require(MathUtils.validPerc(_quota), "invalid quota");
        quota = _quota;
    }

    /// @notice The voting-power provider (BondingVotes), used to resolve a voter's delegate at the snapshot.
    function votes() public view virtual returns (IBondingVotes);

    /// @notice See IGovernor.COUNTING_MODE: Bravo vote types; quorum counts for, against and abstain
    ///         (protocol.md §7.2 "Vote types").
    // solhint-disable-next-line func-name-mixedcase
    function COUNTING_MODE() public pure virtual override returns (string memory) {
        return "support=bravo&quorum=for,abstain,against";
    }

    /// @notice Whether `account` has cast a vote on `proposalId` (IGovernor.hasVoted).
    function hasVoted(uint256 proposalId, address account) public view virtual override returns (bool) {
        return _tallies[proposalId].voters[account].hasVoted;
    }

    /// @notice The current tallies of `proposalId`, after delegator overrides (protocol.md §7.2).
    function proposalVotes(
        uint256 proposalId
    ) public view virtual returns (uint256 againstVotes, uint256 forVotes, uint256 abstainVotes) {
        Tally storage t = _tallies[proposalId];
        return (t.againstVotes, t.forVotes, t.abstainVotes);
    }

    /// @dev Quorum is reached when for + against + abstain >= quorum(snapshot) (protocol.md §7.2 "Quorum").
    function _quorumReached(uint256 proposalId) internal view virtual override returns (bool) {
        Tally storage t = _tallies[proposalId];
        return t.againstVotes + t.forVotes + t.abstainVotes >= quorum(proposalSnapshot(proposalId));
    }

    /// @dev Succeeds when for >= floor((for + against) * quota / 1e6); abstain is ignored, so with a 50 %
    ///      quota a tie passes (protocol.md §7.2 "Success", MathUtils.percOf).
    function _voteSucceeded(uint256 proposalId) internal view virtual override returns (bool) {
        Tally storage t = _tallies[proposalId];
        return t.forVotes >= MathUtils.percOf(t.forVotes + t.againstVotes, quota);
    }

    /// @dev Counts `weight` (the voter's BondingVotes power at the snapshot) for `account`, applying the
    ///      override rules of protocol.md §7.3:
    ///      1. `delegate = BondingVotes.delegatedAt(account, snapshot)`;
    ///      2. a self-delegated account (an orchestrator) counts `weight - deductions[account]`;
    ///      3. a delegator of a self-delegated account adds `weight` to that delegate's deductions and, if the
    ///         delegate already voted, takes `weight` out of the tally the delegate chose; it then counts its
    ///         full `weight` under its own choice;
    ///      4. a delegator whose delegate is not self-delegated counts its full `weight`, untouched.
    function _countVote(
        uint256 proposalId,
        address account,
        uint8 support,
        uint256 weight,
        bytes memory // params
    ) internal virtual override {
        if (support > uint8(VoteType.Abstain)) revert InvalidVoteType(support);

        Tally storage t = _tallies[proposalId];
        VoterState storage voter = t.voters[account];
        if (voter.hasVoted) revert VoteAlreadyCast();
        voter.hasVoted = true;
        voter.support = VoteType(support);

        uint256 snapshot = proposalSnapshot(proposalId);
        IBondingVotes bv = votes();
        address delegate = bv.delegatedAt(account, snapshot);

        if (delegate == account) {
            // Orchestrator: its delegators that already voted speak for themselves.
            weight = _saturatingSub(weight, voter.deductions);
        } else if (delegate != address(0) && bv.delegatedAt(delegate, snapshot) == delegate) {
            // Delegator of an orchestrator: move its share out of the orchestrator's vote.
            VoterState storage d = t.voters[delegate];
            d.deductions += weight;
            if (d.hasVoted) _subtract(t, d.support, weight);
        }

        _add(t, VoteType(support), weight);
    }

    function _add(Tally storage t, VoteType support, uint256 weight) private {
        if (support == VoteType.Against) t.againstVotes += weight;
        else if (support == VoteType.For) t.forVotes += weight;
        else t.abstainVotes += weight;
    }

    function _subtract(Tally storage t, VoteType support, uint256 weight) private {
        if (support == VoteType.Against) t.againstVotes = _saturatingSub(t.againstVotes, weight);
        else if (support == VoteType.For) t.forVotes = _saturatingSub(t.forVotes, weight);
        else t.abstainVotes = _saturatingSub(t.abstainVotes, weight);
    }

    function _saturatingSub(uint256 a, uint256 b) private pure returns (uint256) {
        return a > b ? a - b : 0;
    }

    /// @dev Storage gap for future versions of this module.
    uint256[48] private __gap;
}
