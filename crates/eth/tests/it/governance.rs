//! LivepeerGovernor and the Treasury timelock on a devnet (protocol.md §7.2–§7.4): who may
//! propose, how stake becomes votes, delegator overrides, quorum and majority, and execution of
//! a passed proposal through the timelock.

use crate::support::{reason, reverts, send};
use alloy::contract::SolCallBuilder;
use alloy::primitives::{Address, B256, Bytes, U256, keccak256, utils::parse_ether};
use alloy::providers::DynProvider;
use alloy::signers::local::PrivateKeySigner;
use alloy::sol_types::SolCall;
use livepeer_eth::contracts::{
    BondingManager, Controller, LivepeerGovernor, LivepeerToken, Treasury,
};
use livepeer_eth::deployment::{DevParams, advance_round, contract_id};
use livepeer_eth::devnet::{Devnet, DevnetConfig, signing_provider};
use livepeer_eth::governance::{GovernanceAddresses, GovernanceParams, deploy_governance, names};
use livepeer_eth::{EthError, Revert};

/// OpenZeppelin `IGovernor.ProposalState`.
const PENDING: u8 = 0;
const ACTIVE: u8 = 1;
const DEFEATED: u8 = 3;
const SUCCEEDED: u8 = 4;
const QUEUED: u8 = 5;
const EXECUTED: u8 = 7;

/// Bravo vote types (protocol.md §7.2).
const AGAINST: u8 = 0;
const FOR: u8 = 1;

fn lpt(amount: &str) -> U256 {
    parse_ether(amount).expect("LPT amount")
}

/// A devnet with two orchestrators (1000 LPT each), 20-block rounds.
async fn devnet() -> Devnet {
    Devnet::start(&DevnetConfig {
        orchestrators: 2,
        params: DevParams {
            round_length: 20,
            ..Default::default()
        },
        ..Default::default()
    })
    .await
    .expect("devnet starts")
}

/// Dev keys by anvil index: 0 deployer, 1 and 2 orchestrators, 3 gateway, 4.. free.
fn key(devnet: &Devnet, index: usize) -> PrivateKeySigner {
    PrivateKeySigner::from(devnet.anvil.keys()[index].clone())
}

fn chain(devnet: &Devnet, key: &PrivateKeySigner) -> DynProvider {
    signing_provider(&devnet.info.rpc_url, key).expect("provider")
}

/// Mints `amount` LPT to `key` (the devnet deployer holds the minter role) and bonds it to `to`.
async fn bond(devnet: &Devnet, key: &PrivateKeySigner, amount: U256, to: Address) {
    let contracts = &devnet.info.contracts;
    let token = LivepeerToken::new(contracts.livepeer_token, devnet.provider.clone());
    send(token.mint(key.address(), amount), "mint")
        .await
        .expect("mint");
    let own = chain(devnet, key);
    let token = LivepeerToken::new(contracts.livepeer_token, own.clone());
    send(token.approve(contracts.bonding_manager, amount), "approve")
        .await
        .expect("approve");
    let bm = BondingManager::new(contracts.bonding_manager, own);
    send(bm.bond(amount, to), "bond").await.expect("bond");
}

/// One proposal: its calls and description, as `propose`, `queue` and `execute` take them.
struct Proposal {
    targets: Vec<Address>,
    values: Vec<U256>,
    calldatas: Vec<Bytes>,
    description: String,
}

type Governor = LivepeerGovernor::LivepeerGovernorInstance<DynProvider>;

impl Proposal {
    fn new(calls: Vec<(Address, Vec<u8>)>, description: &str) -> Self {
        Self {
            values: vec![U256::ZERO; calls.len()],
            targets: calls.iter().map(|(t, _)| *t).collect(),
            calldatas: calls.into_iter().map(|(_, d)| Bytes::from(d)).collect(),
            description: description.into(),
        }
    }

    fn description_hash(&self) -> B256 {
        keccak256(self.description.as_bytes())
    }

    fn propose<'a>(
        &self,
        governor: &'a Governor,
    ) -> SolCallBuilder<&'a DynProvider, LivepeerGovernor::proposeCall> {
        governor.propose(
            self.targets.clone(),
            self.values.clone(),
            self.calldatas.clone(),
            self.description.clone(),
        )
    }

    fn queue<'a>(
        &self,
        governor: &'a Governor,
    ) -> SolCallBuilder<&'a DynProvider, LivepeerGovernor::queueCall> {
        governor.queue(
            self.targets.clone(),
            self.values.clone(),
            self.calldatas.clone(),
            self.description_hash(),
        )
    }

    fn execute<'a>(
        &self,
        governor: &'a Governor,
    ) -> SolCallBuilder<&'a DynProvider, LivepeerGovernor::executeCall> {
        governor.execute(
            self.targets.clone(),
            self.values.clone(),
            self.calldatas.clone(),
            self.description_hash(),
        )
    }

    /// Proposes it from `governor`'s sender; returns the proposal id.
    async fn submit(&self, governor: &Governor) -> U256 {
        send(self.propose(governor), "LivepeerGovernor.propose")
            .await
            .expect("propose");
        governor
            .hashProposal(
                self.targets.clone(),
                self.values.clone(),
                self.calldatas.clone(),
                self.description_hash(),
            )
            .call()
            .await
            .expect("hashProposal")
    }
}

async fn state(governor: &Governor, id: U256) -> u8 {
    governor.state(id).call().await.expect("state")
}

async fn tally(governor: &Governor, id: U256) -> (U256, U256, U256) {
    let v = governor
        .proposalVotes(id)
        .call()
        .await
        .expect("proposalVotes");
    (v.againstVotes, v.forVotes, v.abstainVotes)
}

async fn vote(devnet: &Devnet, key: &PrivateKeySigner, governor: Address, id: U256, support: u8) {
    let gov = LivepeerGovernor::new(governor, chain(devnet, key));
    send(gov.castVote(id, support), "LivepeerGovernor.castVote")
        .await
        .expect("vote is accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_governance_wires_the_treasury_and_governor_and_enforces_the_proposal_threshold() {
    let devnet = devnet().await;
    let contracts = devnet.info.contracts;
    let deployer = devnet.anvil.addresses()[0];
    let governance = deploy_governance(&devnet.provider, &contracts, &GovernanceParams::default())
        .await
        .expect("governance deploys");

    // Both are found through the Controller by name, BondingVotes is the votes token and the
    // Treasury the timelock.
    let registry = Controller::new(contracts.controller, devnet.provider.clone());
    for (name, address) in [
        (names::TREASURY, governance.treasury),
        (names::LIVEPEER_GOVERNOR, governance.livepeer_governor),
        ("BondingVotes", governance.bonding_votes),
    ] {
        let found = registry
            .getContract(contract_id(name))
            .call()
            .await
            .expect("getContract");
        assert_eq!(found, address, "{name}");
    }
    let gov = LivepeerGovernor::new(governance.livepeer_governor, devnet.provider.clone());
    assert_eq!(gov.name().call().await.expect("name"), "LivepeerGovernor");
    assert_eq!(
        gov.timelock().call().await.expect("timelock"),
        governance.treasury
    );
    assert_eq!(
        gov.token().call().await.expect("token"),
        governance.bonding_votes
    );
    assert_eq!(
        gov.votingDelay().call().await.expect("delay"),
        U256::from(1)
    );
    assert_eq!(
        gov.votingPeriod().call().await.expect("period"),
        U256::from(10)
    );
    assert_eq!(
        gov.proposalThreshold().call().await.expect("threshold"),
        lpt("100")
    );
    assert_eq!(
        gov.quorumNumerator_1().call().await.expect("quorum"),
        U256::from(333_300)
    );
    assert_eq!(
        gov.quorumDenominator().call().await.expect("denominator"),
        U256::from(1_000_000)
    );
    assert_eq!(
        gov.quota().call().await.expect("quota"),
        U256::from(500_000)
    );

    // The governor alone proposes, cancels and executes on the timelock, which administers
    // itself; the Controller stays with the deployer unless the params say otherwise.
    let treasury = Treasury::new(governance.treasury, devnet.provider.clone());
    let roles = [
        treasury.PROPOSER_ROLE().call().await.expect("role"),
        treasury.CANCELLER_ROLE().call().await.expect("role"),
        treasury.EXECUTOR_ROLE().call().await.expect("role"),
    ];
    for role in roles {
        assert!(
            treasury
                .hasRole(role, governance.livepeer_governor)
                .call()
                .await
                .expect("hasRole")
        );
        assert!(
            !treasury
                .hasRole(role, deployer)
                .call()
                .await
                .expect("hasRole")
        );
    }
    let admin = treasury.TIMELOCK_ADMIN_ROLE().call().await.expect("role");
    assert!(
        treasury
            .hasRole(admin, governance.treasury)
            .call()
            .await
            .expect("hasRole")
    );
    assert!(
        !treasury
            .hasRole(admin, deployer)
            .call()
            .await
            .expect("hasRole")
    );
    assert_eq!(
        treasury.getMinDelay().call().await.expect("delay"),
        U256::ZERO
    );
    assert_eq!(registry.owner().call().await.expect("owner"), deployer);

    // Neither contract can be initialized a second time.
    let err = reverts(
        gov.initialize(
            U256::from(1),
            U256::from(1),
            U256::ZERO,
            U256::ZERO,
            U256::ZERO,
        ),
        "LivepeerGovernor.initialize",
    )
    .await;
    assert_eq!(
        reason(&err),
        "Initializable: contract is already initialized"
    );
    let err = reverts(
        treasury.initialize(U256::ZERO, vec![deployer], vec![deployer], deployer),
        "Treasury.initialize",
    )
    .await;
    assert_eq!(
        reason(&err),
        "Initializable: contract is already initialized"
    );

    // 50 LPT of stake is below the 100 LPT threshold; an orchestrator's 1000 LPT is above it.
    let small = key(&devnet, 4);
    let orchestrator = key(&devnet, 1);
    bond(&devnet, &small, lpt("50"), orchestrator.address()).await;
    advance_round(&devnet.provider, &contracts)
        .await
        .expect("round");
    let proposal = Proposal::new(
        vec![(
            governance.livepeer_governor,
            LivepeerGovernor::setVotingPeriodCall {
                newVotingPeriod: U256::from(5),
            }
            .abi_encode(),
        )],
        "shorter votes",
    );
    let small_gov = LivepeerGovernor::new(governance.livepeer_governor, chain(&devnet, &small));
    let err = reverts(proposal.propose(&small_gov), "LivepeerGovernor.propose").await;
    assert!(
        matches!(&err, EthError::Reverted { revert: Revert::Reason(r), .. }
            if r == "Governor: proposer votes below proposal threshold"),
        "{err}"
    );
    let orch_gov =
        LivepeerGovernor::new(governance.livepeer_governor, chain(&devnet, &orchestrator));
    let id = proposal.submit(&orch_gov).await;
    assert_eq!(state(&gov, id).await, PENDING);
    assert_eq!(
        gov.proposalProposer(id).call().await.expect("proposer"),
        orchestrator.address()
    );

    // Governor settings change only through a proposal.
    let err = reverts(
        gov.setVotingPeriod(U256::from(5)),
        "LivepeerGovernor.setVotingPeriod",
    )
    .await;
    assert_eq!(reason(&err), "Governor: onlyGovernance");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stake_weighted_votes_with_overrides_decide_and_a_passed_proposal_runs_through_the_treasury()
 {
    let devnet = devnet().await;
    let contracts = devnet.info.contracts;
    let governance: GovernanceAddresses = deploy_governance(
        &devnet.provider,
        &contracts,
        &GovernanceParams {
            transfer_controller_ownership: true,
            ..Default::default()
        },
    )
    .await
    .expect("governance deploys");
    let governor = governance.livepeer_governor;
    let gov = LivepeerGovernor::new(governor, devnet.provider.clone());

    // The Treasury owns the Controller: the deployer lost the parameter setters.
    let registry = Controller::new(contracts.controller, devnet.provider.clone());
    assert_eq!(
        registry.owner().call().await.expect("owner"),
        governance.treasury
    );
    let bm = BondingManager::new(contracts.bonding_manager, devnet.provider.clone());
    let err = reverts(
        bm.setUnbondingPeriod(3),
        "BondingManager.setUnbondingPeriod",
    )
    .await;
    assert_eq!(reason(&err), "caller must be Controller owner");

    // O1 and O2 bond 1000 LPT each to themselves; D delegates 500 to O1, S 50 to O2.
    let (o1, o2) = (key(&devnet, 1), key(&devnet, 2));
    let (d, s) = (key(&devnet, 4), key(&devnet, 5));
    bond(&devnet, &d, lpt("500"), o1.address()).await;
    bond(&devnet, &s, lpt("50"), o2.address()).await;
    advance_round(&devnet.provider, &contracts)
        .await
        .expect("round");

    let unbonding_before = bm.unbondingPeriod().call().await.expect("unbondingPeriod");
    let passing = Proposal::new(
        vec![
            (
                contracts.bonding_manager,
                BondingManager::setUnbondingPeriodCall {
                    _unbondingPeriod: unbonding_before + 5,
                }
                .abi_encode(),
            ),
            (
                governor,
                LivepeerGovernor::setVotingPeriodCall {
                    newVotingPeriod: U256::from(5),
                }
                .abi_encode(),
            ),
        ],
        "LIP-X: longer unbonding, shorter votes",
    );
    let majority_against = Proposal::new(
        vec![(
            contracts.bonding_manager,
            BondingManager::setUnbondingPeriodCall {
                _unbondingPeriod: 1,
            }
            .abi_encode(),
        )],
        "LIP-Y: one-round unbonding",
    );
    let no_quorum = Proposal::new(
        vec![(
            contracts.bonding_manager,
            BondingManager::setUnbondingPeriodCall {
                _unbondingPeriod: 2,
            }
            .abi_encode(),
        )],
        "LIP-Z: two-round unbonding",
    );
    let o1_gov = LivepeerGovernor::new(governor, chain(&devnet, &o1));
    let mut ids = Vec::new();
    for p in [&passing, &majority_against, &no_quorum] {
        ids.push(p.submit(&o1_gov).await);
    }
    let (pass_id, against_id, quorum_id) = (ids[0], ids[1], ids[2]);
    let snapshot = gov
        .proposalSnapshot(pass_id)
        .call()
        .await
        .expect("snapshot");
    let deadline = gov
        .proposalDeadline(pass_id)
        .call()
        .await
        .expect("deadline");
    assert_eq!(
        deadline - snapshot,
        U256::from(10),
        "voting period in rounds"
    );

    // Votes open once the snapshot round (proposal round + 1) has passed.
    let err = reverts(o1_gov.castVote(pass_id, FOR), "castVote").await;
    assert_eq!(reason(&err), "Governor: vote not currently active");
    let mut round = 0;
    while U256::from(round) <= snapshot {
        round = advance_round(&devnet.provider, &contracts)
            .await
            .expect("round");
    }
    assert_eq!(state(&gov, pass_id).await, ACTIVE);

    // Orchestrators vote with all the stake delegated to them, delegators with their own.
    let votes_at = |who: Address| {
        let gov = gov.clone();
        async move { gov.getVotes(who, snapshot).call().await.expect("getVotes") }
    };
    assert_eq!(votes_at(o1.address()).await, lpt("1500"));
    assert_eq!(votes_at(o2.address()).await, lpt("1050"));
    assert_eq!(votes_at(d.address()).await, lpt("500"));
    assert_eq!(votes_at(s.address()).await, lpt("50"));
    let quorum = gov.quorum(snapshot).call().await.expect("quorum");
    assert_eq!(
        quorum,
        lpt("2550") * U256::from(333_300) / U256::from(1_000_000)
    );

    // Passing: O1 votes for with 1500; D then overrides its 500 share against.
    vote(&devnet, &o1, governor, pass_id, FOR).await;
    assert_eq!(
        tally(&gov, pass_id).await,
        (U256::ZERO, lpt("1500"), U256::ZERO)
    );
    vote(&devnet, &d, governor, pass_id, AGAINST).await;
    assert_eq!(
        tally(&gov, pass_id).await,
        (lpt("500"), lpt("1000"), U256::ZERO)
    );
    // A second vote is refused.
    let d_gov = LivepeerGovernor::new(governor, chain(&devnet, &d));
    let err = d_gov
        .castVote(pass_id, FOR)
        .call()
        .await
        .expect_err("already voted");
    assert!(
        matches!(
            err.as_decoded_interface_error::<LivepeerGovernor::LivepeerGovernorErrors>(),
            Some(LivepeerGovernor::LivepeerGovernorErrors::VoteAlreadyCast(_))
        ),
        "{err}"
    );

    // Majority against: S votes against before its orchestrator, whose 1050 then counts only
    // 1000 for; O1's 1500 against wins (for 1000 < 50 % of 2550).
    vote(&devnet, &s, governor, against_id, AGAINST).await;
    vote(&devnet, &o2, governor, against_id, FOR).await;
    assert_eq!(
        tally(&gov, against_id).await,
        (lpt("50"), lpt("1000"), U256::ZERO)
    );
    vote(&devnet, &o1, governor, against_id, AGAINST).await;
    assert_eq!(
        tally(&gov, against_id).await,
        (lpt("1550"), lpt("1000"), U256::ZERO)
    );

    // No quorum: D alone votes for, 500 of the 849.915 LPT quorum.
    vote(&devnet, &d, governor, quorum_id, FOR).await;
    assert_eq!(
        tally(&gov, quorum_id).await,
        (U256::ZERO, lpt("500"), U256::ZERO)
    );
    assert!(lpt("500") < quorum);

    // Nothing can be queued while the vote is open.
    let err = reverts(passing.queue(&gov), "LivepeerGovernor.queue").await;
    assert_eq!(reason(&err), "Governor: proposal not successful");
    while U256::from(round) <= deadline {
        round = advance_round(&devnet.provider, &contracts)
            .await
            .expect("round");
    }
    assert_eq!(state(&gov, pass_id).await, SUCCEEDED);
    assert_eq!(state(&gov, against_id).await, DEFEATED);
    assert_eq!(state(&gov, quorum_id).await, DEFEATED);
    for defeated in [&majority_against, &no_quorum] {
        let err = reverts(defeated.queue(&gov), "LivepeerGovernor.queue").await;
        assert_eq!(reason(&err), "Governor: proposal not successful");
    }

    // The passed proposal is queued on the Treasury and executed by it.
    send(passing.queue(&gov), "LivepeerGovernor.queue")
        .await
        .expect("queue");
    assert_eq!(state(&gov, pass_id).await, QUEUED);
    let receipt = send(passing.execute(&gov), "LivepeerGovernor.execute")
        .await
        .expect("execute");
    assert_eq!(state(&gov, pass_id).await, EXECUTED);
    let executed_by_treasury = receipt
        .logs()
        .iter()
        .filter(|log| log.address() == governance.treasury)
        .filter_map(|log| log.log_decode::<Treasury::CallExecuted>().ok())
        .map(|log| log.inner.data.target)
        .collect::<Vec<_>>();
    assert_eq!(
        executed_by_treasury,
        vec![contracts.bonding_manager, governor]
    );
    assert_eq!(
        bm.unbondingPeriod().call().await.expect("unbondingPeriod"),
        unbonding_before + 5
    );
    assert_eq!(
        gov.votingPeriod().call().await.expect("period"),
        U256::from(5)
    );
    let err = reverts(passing.execute(&gov), "LivepeerGovernor.execute").await;
    assert_eq!(reason(&err), "Governor: proposal not successful");
}
