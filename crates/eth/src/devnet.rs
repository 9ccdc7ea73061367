//! A whole protocol on one machine: anvil, the contracts deployed and bootstrapped, N
//! orchestrators bonded to themselves and active, and a funded gateway account.

use std::time::Duration;

use alloy::primitives::{Address, U256, utils::parse_ether};
use alloy::providers::{DynProvider, Provider};
use alloy::signers::local::PrivateKeySigner;
use serde::Serialize;

use crate::EthError;
use crate::anvil::{AnvilInstance, ChainOptions, spawn_anvil};
use crate::contracts::{BondingManager, LivepeerToken, ServiceRegistry};
use crate::deployment::{DevParams, ProtocolAddresses, advance_round, deploy_dev, transact};
pub use crate::rpc::{DEFAULT_RPC_TIMEOUT, signing_provider, signing_provider_with_timeout};

/// LPT each devnet orchestrator gets and bonds to itself.
pub const ORCHESTRATOR_STAKE_LPT: u64 = 1_000;
/// rewardCut each devnet orchestrator sets (1e6 = 100 %): 10 %.
pub const DEVNET_REWARD_CUT: u64 = 100_000;
/// feeShare each devnet orchestrator sets (1e6 = 100 %): 50 %.
pub const DEVNET_FEE_SHARE: u64 = 500_000;

/// LPT the devnet faucet holds.
pub const FAUCET_FUNDS_LPT: u64 = 1_000_000;
/// LPT one faucet request gives.
pub const FAUCET_REQUEST_LPT: u64 = 10;
/// Hours between two requests of one account.
pub const FAUCET_REQUEST_WAIT_HOURS: u64 = 1;

/// One funded devnet account.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DevAccount {
    /// Its role: `deployer`, `orchestrator`, `gateway`.
    pub role: String,
    /// Address.
    pub address: Address,
    /// Private key, 0x-prefixed hex (dev keys only).
    pub private_key: String,
    /// Service URI registered on chain, for orchestrators.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_uri: Option<String>,
}

/// Devnet settings.
#[derive(Debug, Clone, Default)]
pub struct DevnetConfig {
    /// Orchestrators to register and activate.
    pub orchestrators: usize,
    /// Block interval; `None` mines on every transaction.
    pub block_time: Option<Duration>,
    /// Protocol parameters.
    pub params: DevParams,
    /// LPT minted to the faucet (0: the faucet is deployed empty). `livepeer devnet` uses
    /// [`FAUCET_FUNDS_LPT`]; tests that reason about total supply leave it at 0.
    pub faucet_lpt: u64,
    /// Service URI of orchestrator `i` (default `https://127.0.0.1:<8935+i>`).
    pub service_uris: Vec<String>,
    /// LPT orchestrator `i` bonds to itself (default [`ORCHESTRATOR_STAKE_LPT`]).
    pub stakes_lpt: Vec<u64>,
    /// The gateway's TicketBroker deposit and reserve in wei, funded from its own ETH
    /// (`fundDepositAndReserve`); `None` leaves it unfunded.
    pub gateway_funds: Option<(U256, U256)>,
}

/// What `livepeer devnet` reports.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DevnetInfo {
    /// JSON-RPC endpoint.
    pub rpc_url: String,
    /// Chain ID.
    pub chain_id: u64,
    /// Contract addresses.
    pub contracts: ProtocolAddresses,
    /// The Treasury and LivepeerGovernor (Controller ownership stays with the deployer).
    pub governance: crate::governance::GovernanceAddresses,
    /// The LPT faucet (`request()` gives [`FAUCET_REQUEST_LPT`] once an hour per account),
    /// registered as `LivepeerTokenFaucet`.
    pub faucet: Address,
    /// The current round.
    pub round: u64,
    /// Accounts: deployer, orchestrators, gateway.
    pub accounts: Vec<DevAccount>,
}

/// A running devnet; dropping it stops anvil.
pub struct Devnet {
    /// A provider signing with the deployer key (declared first so it drops before the chain).
    pub provider: DynProvider,
    /// What was set up.
    pub info: DevnetInfo,
    /// The chain (killed on drop, and with this process; see [`crate::anvil`]).
    pub anvil: AnvilInstance,
}

impl std::fmt::Debug for Devnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Devnet")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// A local private key (alloy's `PrivateKeySigner`).
pub type LocalKey = PrivateKeySigner;

impl Devnet {
    /// Starts anvil, deploys and bootstraps the protocol, and registers and activates
    /// `config.orchestrators` orchestrators (each bonds [`ORCHESTRATOR_STAKE_LPT`] or its
    /// `stakes_lpt` entry to itself, sets rewardCut 10 % and feeShare 50 %, and its
    /// `service_uris` entry or `https://127.0.0.1:<8935+i>`), and funds the gateway's deposit
    /// and reserve when `gateway_funds` says so.
    ///
    /// anvil dies with the thread that awaits this (see [`crate::anvil`]): await it on the main
    /// thread, a tokio worker or a test's thread, never inside `spawn_blocking`.
    ///
    /// Errors: anvil ([`EthError::AnvilNotFound`], [`EthError::AnvilStart`]) or any deployment
    /// step's error.
    pub async fn start(config: &DevnetConfig) -> Result<Self, EthError> {
        let wanted_accounts = config.orchestrators + 2;
        let anvil = spawn_anvil(&ChainOptions {
            block_time: config.block_time,
            accounts: Some(wanted_accounts.max(10)),
        })?;
        let keys: Vec<PrivateKeySigner> = anvil.keys().to_vec();
        let rpc_url = anvil.endpoint();
        let deployer = keys
            .first()
            .ok_or_else(|| EthError::AnvilStart("anvil reported no accounts".into()))?
            .clone();
        let provider = signing_provider(&rpc_url, &deployer)?;
        let contracts = deploy_dev(&provider, &config.params).await?;
        let governance =
            crate::governance::deploy_governance(&provider, &contracts, &Default::default())
                .await?;
        let mut accounts = vec![DevAccount {
            role: "deployer".into(),
            address: deployer.address(),
            private_key: format!("0x{}", alloy::hex::encode(deployer.to_bytes())),
            service_uri: None,
        }];

        let stake =
            parse_ether(&ORCHESTRATOR_STAKE_LPT.to_string()).map_err(|e| EthError::Deploy {
                contract: "stake".into(),
                reason: e.to_string(),
            })?;
        let token = LivepeerToken::new(contracts.livepeer_token, provider.clone());
        transact!(
            token.grantRole(crate::contracts::minter_role(), deployer.address()),
            "LivepeerToken.grantRole(MINTER_ROLE, deployer)"
        );
        let lpt = |n: u64| U256::from(n) * U256::from(10u64).pow(U256::from(18u64));
        let faucet = crate::contracts::LivepeerTokenFaucet::deploy(
            provider.clone(),
            contracts.livepeer_token,
            lpt(FAUCET_REQUEST_LPT),
            U256::from(FAUCET_REQUEST_WAIT_HOURS),
        )
        .await
        .map_err(|e| EthError::Deploy {
            contract: "LivepeerTokenFaucet".into(),
            reason: e.to_string(),
        })?
        .address()
        .to_owned();
        if config.faucet_lpt > 0 {
            transact!(
                token.mint(faucet, lpt(config.faucet_lpt)),
                "LivepeerToken.mint(faucet)"
            );
        }
        let registry = crate::contracts::Controller::new(contracts.controller, provider.clone());
        transact!(
            registry.setContractInfo(
                crate::deployment::contract_id(crate::deployment::names::FAUCET),
                faucet,
                alloy::primitives::FixedBytes::ZERO
            ),
            "Controller.setContractInfo(LivepeerTokenFaucet)"
        );
        for (i, key) in keys.iter().skip(1).take(config.orchestrators).enumerate() {
            // Each orchestrator needs 5 transactions (blocks) inside one initialized, unlocked
            // round: short dev rounds may need the next one.
            crate::deployment::ensure_round_room(&provider, &contracts, 8).await?;
            let service_uri = config
                .service_uris
                .get(i)
                .cloned()
                .unwrap_or_else(|| format!("https://127.0.0.1:{}", 8935 + i));
            let stake = match config.stakes_lpt.get(i) {
                Some(&n) => lpt(n),
                None => stake,
            };
            transact!(token.mint(key.address(), stake), "LivepeerToken.mint");
            let orch = signing_provider(&rpc_url, key)?;
            let lpt = LivepeerToken::new(contracts.livepeer_token, orch.clone());
            transact!(
                lpt.approve(contracts.bonding_manager, stake),
                "LivepeerToken.approve"
            );
            let bm = BondingManager::new(contracts.bonding_manager, orch.clone());
            transact!(bm.bond(stake, key.address()), "BondingManager.bond");
            transact!(
                bm.transcoder(U256::from(DEVNET_REWARD_CUT), U256::from(DEVNET_FEE_SHARE)),
                "BondingManager.transcoder"
            );
            let registry = ServiceRegistry::new(contracts.service_registry, orch);
            transact!(
                registry.setServiceURI(service_uri.clone()),
                "ServiceRegistry.setServiceURI"
            );
            accounts.push(DevAccount {
                role: "orchestrator".into(),
                address: key.address(),
                private_key: format!("0x{}", alloy::hex::encode(key.to_bytes())),
                service_uri: Some(service_uri),
            });
        }
        if let Some(gateway) = keys.get(config.orchestrators + 1) {
            if let Some((deposit, reserve)) = config.gateway_funds {
                let broker = crate::contracts::TicketBroker::new(
                    contracts.ticket_broker,
                    signing_provider(&rpc_url, gateway)?,
                );
                transact!(
                    broker
                        .fundDepositAndReserve(deposit, reserve)
                        .value(deposit + reserve),
                    "TicketBroker.fundDepositAndReserve(gateway)"
                );
            }
            accounts.push(DevAccount {
                role: "gateway".into(),
                address: gateway.address(),
                private_key: format!("0x{}", alloy::hex::encode(gateway.to_bytes())),
                service_uri: None,
            });
        }
        // Orchestrators that bonded in round r are active from round r + 1.
        let round = advance_round(&provider, &contracts).await?;
        let chain_id = provider
            .get_chain_id()
            .await
            .map_err(|e| EthError::rpc(rpc_url.clone(), &e))?;
        Ok(Self {
            provider,
            info: DevnetInfo {
                rpc_url,
                chain_id,
                contracts,
                governance,
                faucet,
                round,
                accounts,
            },
            anvil,
        })
    }

    /// The orchestrators active in the current round, per `BondingManager.isActiveTranscoder`.
    pub async fn active_orchestrators(&self) -> Result<Vec<Address>, EthError> {
        let bm = BondingManager::new(self.info.contracts.bonding_manager, self.provider.clone());
        let mut active = Vec::new();
        for account in self
            .info
            .accounts
            .iter()
            .filter(|a| a.role == "orchestrator")
        {
            let is_active = bm
                .isActiveTranscoder(account.address)
                .call()
                .await
                .map_err(|e| EthError::from_call("BondingManager.isActiveTranscoder", e))?;
            if is_active {
                active.push(account.address);
            }
        }
        Ok(active)
    }
}
