//! On-chain governance on a dev deployment: the `Treasury` timelock and the `LivepeerGovernor`
//! (protocol.md §7.2–§7.4), deployed next to an existing [`deploy_dev`] deployment.
//!
//! The governor measures time in rounds (its clock is BondingVotes'), weighs votes by bonded
//! stake (an orchestrator votes with all the stake delegated to it, a delegator may override its
//! share, §7.3), and executes passed proposals through the Treasury timelock. Proposals that
//! change `onlyControllerOwner` setters (BondingManager, TicketBroker, RoundsManager, Minter
//! parameters) work only once the Controller is owned by the Treasury; see
//! [`GovernanceParams::transfer_controller_ownership`].
//!
//! [`deploy_dev`]: crate::deployment::deploy_dev

use std::time::Duration;

use alloy::primitives::{Address, FixedBytes, U256, uint};
use alloy::providers::DynProvider;
use serde::Serialize;

use crate::EthError;
use crate::contracts::{Controller, LivepeerGovernor, Treasury};
use crate::deployment::{self, ProtocolAddresses, contract_id, transact};

/// Registry names of the governance contracts, as the deployed Controller knows them
/// (protocol.md §1.1).
pub mod names {
    /// The Treasury timelock.
    pub const TREASURY: &str = "Treasury";
    /// The LivepeerGovernor.
    pub const LIVEPEER_GOVERNOR: &str = "LivepeerGovernor";
}

/// Rounds between a proposal and its vote snapshot on Arbitrum One (protocol.md §7.2).
pub const DEFAULT_VOTING_DELAY_ROUNDS: u64 = 1;
/// Rounds a vote stays open after the snapshot on Arbitrum One (protocol.md §7.2).
pub const DEFAULT_VOTING_PERIOD_ROUNDS: u64 = 10;
/// Stake needed to propose on Arbitrum One: 100 LPT, in LPT wei (protocol.md §7.2).
pub const DEFAULT_PROPOSAL_THRESHOLD_WEI: U256 = uint!(100_000_000_000_000_000_000_U256);
/// Quorum on Arbitrum One: 33.33 % of the total active stake, in parts per million.
pub const DEFAULT_QUORUM_PPM: u64 = 333_300;
/// Share of for + against that "for" must reach on Arbitrum One: 50 %, in parts per million.
pub const DEFAULT_QUOTA_PPM: u64 = 500_000;
/// The Treasury timelock's minimum delay on Arbitrum One: none (protocol.md §7.4).
pub const DEFAULT_TIMELOCK_MIN_DELAY: Duration = Duration::ZERO;

/// Settings of the governance deployment. Defaults are the Arbitrum One values (protocol.md
/// §7.2, §7.4), with the Controller left to the deployer.
#[derive(Debug, Clone, Serialize)]
pub struct GovernanceParams {
    /// Rounds between `propose` and the vote snapshot (`votingDelay`).
    pub voting_delay_rounds: u64,
    /// Rounds the vote stays open after the snapshot (`votingPeriod`).
    pub voting_period_rounds: u64,
    /// Votes (stake, LPT wei) a proposer needs at the start of the current round.
    pub proposal_threshold_wei: U256,
    /// Quorum numerator over 1 000 000, of the total active stake at the snapshot.
    pub quorum_ppm: u64,
    /// Share of for + against, over 1 000 000, that "for" must reach (abstain ignored).
    pub quota_ppm: u64,
    /// The Treasury's minimum delay between queueing and executing a proposal (whole seconds
    /// on chain; sub-second parts are dropped).
    pub timelock_min_delay: Duration,
    /// Whether to hand the Controller to the Treasury, so that passed proposals can call
    /// `onlyControllerOwner` setters. The deployer then loses those setters (and
    /// `Controller.setContractInfo`) for good.
    pub transfer_controller_ownership: bool,
}

impl Default for GovernanceParams {
    fn default() -> Self {
        Self {
            voting_delay_rounds: DEFAULT_VOTING_DELAY_ROUNDS,
            voting_period_rounds: DEFAULT_VOTING_PERIOD_ROUNDS,
            proposal_threshold_wei: DEFAULT_PROPOSAL_THRESHOLD_WEI,
            quorum_ppm: DEFAULT_QUORUM_PPM,
            quota_ppm: DEFAULT_QUOTA_PPM,
            timelock_min_delay: DEFAULT_TIMELOCK_MIN_DELAY,
            transfer_controller_ownership: false,
        }
    }
}

/// Where the governance contracts are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GovernanceAddresses {
    /// The Treasury timelock (executes passed proposals; owns the Controller when
    /// [`GovernanceParams::transfer_controller_ownership`] was set).
    pub treasury: Address,
    /// The LivepeerGovernor.
    pub livepeer_governor: Address,
    /// BondingVotes, the governor's votes token, as registered in the Controller.
    pub bonding_votes: Address,
}

/// Deploys the Treasury timelock and the LivepeerGovernor next to the deployment at
/// `addresses`, from the provider's default sender, which must own the Controller.
///
/// Steps, in the order the contracts need (protocol.md §7.2, §7.4): deploy `Treasury` and
/// `LivepeerGovernor(controller)`; register both (`"Treasury"`, `"LivepeerGovernor"`) in the
/// Controller; `Treasury.initialize(min_delay, [governor], [governor], 0x0)`, which gives the
/// governor the proposer, canceller and executor roles and leaves the timelock to administer
/// itself; `LivepeerGovernor.initialize(votingDelay, votingPeriod, threshold, quorum, quota)`,
/// which caches the Treasury as its timelock and BondingVotes as its token; then, if
/// `params.transfer_controller_ownership`, `Controller.transferOwnership(treasury)`.
///
/// Proposals can be made from round 1 on (`propose` reads votes at `clock() - 1`).
///
/// Errors: [`EthError::NotRegistered`] when BondingVotes is not in the Controller;
/// [`EthError::Deploy`]; [`EthError::Reverted`] for a refused step (a sender that does not own
/// the Controller gets a reasonless revert from `Controller.setContractInfo`; an out-of-range
/// quota reverts "invalid quota"); [`EthError::Transaction`] when a transaction cannot be sent
/// or confirmed.
pub async fn deploy_governance(
    provider: &DynProvider,
    addresses: &ProtocolAddresses,
    params: &GovernanceParams,
) -> Result<GovernanceAddresses, EthError> {
    let registry = Controller::new(addresses.controller, provider.clone());
    let bonding_votes = registry
        .getContract(contract_id(deployment::names::BONDING_VOTES))
        .call()
        .await
        .map_err(|e| EthError::from_call("Controller.getContract(BondingVotes)", e))?;
    if bonding_votes == Address::ZERO {
        return Err(EthError::NotRegistered {
            controller: addresses.controller,
            name: deployment::names::BONDING_VOTES.into(),
        });
    }

    let treasury = *Treasury::deploy(provider.clone())
        .await
        .map_err(|e| EthError::Deploy {
            contract: "Treasury".into(),
            reason: e.to_string(),
        })?
        .address();
    let governor = *LivepeerGovernor::deploy(provider.clone(), addresses.controller)
        .await
        .map_err(|e| EthError::Deploy {
            contract: "LivepeerGovernor".into(),
            reason: e.to_string(),
        })?
        .address();

    for (name, address) in [
        (names::TREASURY, treasury),
        (names::LIVEPEER_GOVERNOR, governor),
    ] {
        transact!(
            registry.setContractInfo(contract_id(name), address, FixedBytes::ZERO),
            format!("Controller.setContractInfo({name})")
        );
    }

    let timelock = Treasury::new(treasury, provider.clone());
    transact!(
        timelock.initialize(
            U256::from(params.timelock_min_delay.as_secs()),
            vec![governor],
            vec![governor],
            Address::ZERO,
        ),
        "Treasury.initialize"
    );
    let gov = LivepeerGovernor::new(governor, provider.clone());
    transact!(
        gov.initialize(
            U256::from(params.voting_delay_rounds),
            U256::from(params.voting_period_rounds),
            params.proposal_threshold_wei,
            U256::from(params.quorum_ppm),
            U256::from(params.quota_ppm),
        ),
        "LivepeerGovernor.initialize"
    );

    if params.transfer_controller_ownership {
        transact!(
            registry.transferOwnership(treasury),
            "Controller.transferOwnership(Treasury)"
        );
    }
    Ok(GovernanceAddresses {
        treasury,
        livepeer_governor: governor,
        bonding_votes,
    })
}
