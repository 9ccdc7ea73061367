//! Deploying and bootstrapping the protocol on a dev chain, and finding a deployment through
//! its Controller.
//!
//! The bootstrap follows `reference/protocol.md` §10.3 (after go-livepeer's devtool and the
//! protocol's deploy script): Controller (starts paused), LivepeerToken, Minter (with the
//! token's minter role), TicketBroker (also registered as `JobsManager`), BondingManager,
//! BondingVotes, RoundsManager, ServiceRegistry, a `L2LPTDataCache` that reports no L1 supply,
//! the faucet; then the parameters, `unpause`, and the first `initializeRound`.

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, FixedBytes, U256, keccak256};
use alloy::providers::{DynProvider, Provider};
use serde::Serialize;

use crate::EthError;
use crate::contracts::*;

/// Registry names, as the deployed Controller knows them (protocol.md §1.1).
pub mod names {
    /// The LPT ERC-20.
    pub const LIVEPEER_TOKEN: &str = "LivepeerToken";
    /// The Minter.
    pub const MINTER: &str = "Minter";
    /// The RoundsManager.
    pub const ROUNDS_MANAGER: &str = "RoundsManager";
    /// The BondingManager.
    pub const BONDING_MANAGER: &str = "BondingManager";
    /// BondingVotes.
    pub const BONDING_VOTES: &str = "BondingVotes";
    /// The TicketBroker.
    pub const TICKET_BROKER: &str = "TicketBroker";
    /// The TicketBroker's historical second name.
    pub const JOBS_MANAGER: &str = "JobsManager";
    /// The ServiceRegistry.
    pub const SERVICE_REGISTRY: &str = "ServiceRegistry";
    /// The L2 LPT data cache the Minter asks for L1 supply.
    pub const L2_LPT_DATA_CACHE: &str = "L2LPTDataCache";
    /// The devnet faucet.
    pub const FAUCET: &str = "LivepeerTokenFaucet";
}

/// The Arbitrum One Controller (protocol.md §1.1, go-livepeer's `arbitrum-one-mainnet`).
pub const ARBITRUM_ONE_CONTROLLER: Address =
    alloy::primitives::address!("D8E8328501E9645d16Cf49539efC04f734606ee4");

/// Parameters of a dev deployment. Defaults are go-livepeer's `gethDev` values (protocol.md
/// §10.3).
#[derive(Debug, Clone, Serialize)]
pub struct DevParams {
    /// Blocks per round.
    pub round_length: u64,
    /// Share of a round, at its end, in which rewardCut/feeShare cannot change (1e6 = 100 %).
    pub round_lock_amount: u64,
    /// Rounds before unbonded stake can be withdrawn.
    pub unbonding_period: u64,
    /// Size of the active set.
    pub num_active_transcoders: u64,
    /// Rounds between a sender's unlock and withdraw.
    pub unlock_period: u64,
    /// Rounds a ticket's creation round stays redeemable.
    pub ticket_validity_period: u64,
    /// Initial inflation per round (1e9 = 100 %).
    pub inflation: u64,
    /// Inflation change per round (1e9 = 100 %).
    pub inflation_change: u64,
    /// Target bonding rate (1e9 = 100 %).
    pub target_bonding_rate: u64,
}

impl Default for DevParams {
    fn default() -> Self {
        Self {
            round_length: 50,
            round_lock_amount: 100_000,
            unbonding_period: 7,
            num_active_transcoders: 50,
            unlock_period: 50,
            ticket_validity_period: 2,
            inflation: 137,
            inflation_change: 3,
            target_bonding_rate: 500_000,
        }
    }
}

/// Where the protocol contracts are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProtocolAddresses {
    /// The Controller (the registry).
    pub controller: Address,
    /// LivepeerToken.
    pub livepeer_token: Address,
    /// Minter.
    pub minter: Address,
    /// RoundsManager.
    pub rounds_manager: Address,
    /// BondingManager.
    pub bonding_manager: Address,
    /// TicketBroker.
    pub ticket_broker: Address,
    /// ServiceRegistry.
    pub service_registry: Address,
}

/// The registry key of a contract name: keccak256 of its UTF-8 bytes.
pub fn contract_id(name: &str) -> FixedBytes<32> {
    keccak256(name.as_bytes())
}

/// Sends a contract transaction and waits for a successful receipt.
macro_rules! transact {
    ($call:expr, $name:expr) => {{
        let name: String = $name.into();
        let pending = $call
            .send()
            .await
            .map_err(|e| EthError::from_call(name.clone(), e))?;
        let receipt: alloy::rpc::types::TransactionReceipt =
            pending
                .get_receipt()
                .await
                .map_err(|e| EthError::Transaction {
                    call: name.clone(),
                    reason: e.to_string(),
                })?;
        if !receipt.status() {
            return Err(EthError::Transaction {
                call: name,
                reason: "transaction reverted".into(),
            });
        }
        receipt
    }};
}
pub(crate) use transact;

/// Deploys a contract from its binding and returns its address.
macro_rules! deploy {
    ($contract:ident, $provider:expr $(, $arg:expr)*) => {{
        $contract::deploy($provider.clone() $(, $arg)*)
            .await
            .map_err(|e| EthError::Deploy { contract: stringify!($contract).into(), reason: e.to_string() })?
            .address()
            .to_owned()
    }};
}

/// Finds every protocol contract through `controller` by registry name, as go-livepeer does
/// (`eth/client.go:setContracts`), so the same code reaches a dev deployment and Arbitrum One.
///
/// Errors: [`EthError::Rpc`] when the node cannot be reached, [`EthError::NoContract`] when
/// nothing is deployed at `controller`, [`EthError::NotRegistered`] for a missing name.
pub async fn resolve(
    provider: &DynProvider,
    controller: Address,
) -> Result<ProtocolAddresses, EthError> {
    let code = provider
        .get_code_at(controller)
        .await
        .map_err(|e| EthError::rpc("the configured endpoint", &e))?;
    if code.is_empty() {
        return Err(EthError::NoContract {
            address: controller,
            what: "the Controller".into(),
        });
    }
    let registry = Controller::new(controller, provider.clone());
    let lookup = |name: &'static str| {
        let registry = registry.clone();
        async move {
            let address = registry
                .getContract(contract_id(name))
                .call()
                .await
                .map_err(|e| EthError::from_call(format!("Controller.getContract({name})"), e))?;
            if address == Address::ZERO {
                return Err(EthError::NotRegistered {
                    controller,
                    name: name.into(),
                });
            }
            Ok(address)
        }
    };
    Ok(ProtocolAddresses {
        controller,
        livepeer_token: lookup(names::LIVEPEER_TOKEN).await?,
        minter: lookup(names::MINTER).await?,
        rounds_manager: lookup(names::ROUNDS_MANAGER).await?,
        bonding_manager: lookup(names::BONDING_MANAGER).await?,
        ticket_broker: lookup(names::TICKET_BROKER).await?,
        service_registry: lookup(names::SERVICE_REGISTRY).await?,
    })
}

async fn register(
    registry: &Controller::ControllerInstance<DynProvider>,
    name: &str,
    address: Address,
) -> Result<(), EthError> {
    transact!(
        registry.setContractInfo(contract_id(name), address, FixedBytes::ZERO),
        format!("Controller.setContractInfo({name})")
    );
    Ok(())
}

/// Deploys and bootstraps the protocol with `params`, from the provider's default sender (which
/// becomes the Controller owner and the token admin), and initializes round 1.
///
/// Errors: [`EthError::Deploy`], [`EthError::Reverted`], [`EthError::Transaction`].
pub async fn deploy_dev(
    provider: &DynProvider,
    params: &DevParams,
) -> Result<ProtocolAddresses, EthError> {
    let controller = deploy!(Controller, provider);
    let registry = Controller::new(controller, provider.clone());

    let token = deploy!(LivepeerToken, provider);
    register(&registry, names::LIVEPEER_TOKEN, token).await?;
    let minter = deploy!(
        Minter,
        provider,
        controller,
        U256::from(params.inflation),
        U256::from(params.inflation_change),
        U256::from(params.target_bonding_rate)
    );
    register(&registry, names::MINTER, minter).await?;
    let lpt = LivepeerToken::new(token, provider.clone());
    transact!(
        lpt.grantRole(minter_role(), minter),
        "LivepeerToken.grantRole(MINTER_ROLE, Minter)"
    );

    let broker = deploy!(TicketBroker, provider, controller);
    register(&registry, names::TICKET_BROKER, broker).await?;
    register(&registry, names::JOBS_MANAGER, broker).await?;
    let bonding = deploy!(BondingManager, provider, controller);
    register(&registry, names::BONDING_MANAGER, bonding).await?;
    let votes = deploy!(BondingVotes, provider, controller);
    register(&registry, names::BONDING_VOTES, votes).await?;
    let rounds = deploy!(RoundsManager, provider, controller);
    register(&registry, names::ROUNDS_MANAGER, rounds).await?;
    let services = deploy!(ServiceRegistry, provider, controller);
    register(&registry, names::SERVICE_REGISTRY, services).await?;
    let cache = deploy!(DummyL2LPTDataCache, provider);
    register(&registry, names::L2_LPT_DATA_CACHE, cache).await?;

    let bm = BondingManager::new(bonding, provider.clone());
    transact!(
        bm.setNumActiveTranscoders(U256::from(params.num_active_transcoders)),
        "BondingManager.setNumActiveTranscoders"
    );
    transact!(
        bm.setUnbondingPeriod(params.unbonding_period),
        "BondingManager.setUnbondingPeriod"
    );
    let rm = RoundsManager::new(rounds, provider.clone());
    transact!(
        rm.setRoundLength(U256::from(params.round_length)),
        "RoundsManager.setRoundLength"
    );
    transact!(
        rm.setRoundLockAmount(U256::from(params.round_lock_amount)),
        "RoundsManager.setRoundLockAmount"
    );
    let tb = TicketBroker::new(broker, provider.clone());
    transact!(
        tb.setUnlockPeriod(U256::from(params.unlock_period)),
        "TicketBroker.setUnlockPeriod"
    );
    transact!(
        tb.setTicketValidityPeriod(U256::from(params.ticket_validity_period)),
        "TicketBroker.setTicketValidityPeriod"
    );

    transact!(registry.unpause(), "Controller.unpause");
    let addresses = ProtocolAddresses {
        controller,
        livepeer_token: token,
        minter,
        rounds_manager: rounds,
        bonding_manager: bonding,
        ticket_broker: broker,
        service_registry: services,
    };
    advance_round(provider, &addresses).await?;
    Ok(addresses)
}

/// Where the chain stands in the current round: `(round length, round start block, current
/// block)`, all in blocks.
async fn round_position(
    provider: &DynProvider,
    rm: &RoundsManager::RoundsManagerInstance<DynProvider>,
) -> Result<(U256, U256, u64), EthError> {
    let call =
        |what: &'static str| move |e| EthError::from_call(format!("RoundsManager.{what}"), e);
    let length: U256 = rm.roundLength().call().await.map_err(call("roundLength"))?;
    let start: U256 = rm
        .currentRoundStartBlock()
        .call()
        .await
        .map_err(call("currentRoundStartBlock"))?;
    let block = provider
        .get_block_number()
        .await
        .map_err(|e| EthError::rpc("anvil", &e))?;
    Ok((length, start, block))
}

/// Makes sure the current round is initialized and has at least `blocks` blocks left before its
/// lock window; otherwise moves to the next round and initializes it.
pub async fn ensure_round_room(
    provider: &DynProvider,
    contracts: &ProtocolAddresses,
    blocks: u64,
) -> Result<(), EthError> {
    let rm = RoundsManager::new(contracts.rounds_manager, provider.clone());
    let read =
        |what: &'static str| move |e| EthError::from_call(format!("RoundsManager.{what}"), e);
    let (length, start, block) = round_position(provider, &rm).await?;
    let lock: U256 = rm
        .roundLockAmount()
        .call()
        .await
        .map_err(read("roundLockAmount"))?;
    let lock_blocks = length * lock / U256::from(1_000_000u64);
    if U256::from(block + blocks) >= start + length - lock_blocks {
        advance_round(provider, contracts).await?;
        return Ok(());
    }
    let initialized: bool = rm
        .currentRoundInitialized()
        .call()
        .await
        .map_err(read("currentRoundInitialized"))?;
    if !initialized {
        transact!(rm.initializeRound(), "RoundsManager.initializeRound");
    }
    Ok(())
}

/// Most blocks one `anvil_mine` request mines: anvil answers a request for thousands of
/// blocks only after mining them all, which on a loaded machine can outlast the provider's
/// request timeout ([`crate::rpc::DEFAULT_RPC_TIMEOUT`]).
pub const MINE_CHUNK_BLOCKS: u64 = 100;

/// Mines `blocks` empty blocks on anvil (`anvil_mine`), at most [`MINE_CHUNK_BLOCKS`] per
/// request. Errors: [`EthError::Rpc`] when anvil refuses or a request times out.
pub async fn mine_blocks(provider: &DynProvider, blocks: u64) -> Result<(), EthError> {
    let mut left = blocks;
    while left > 0 {
        let chunk = left.min(MINE_CHUNK_BLOCKS);
        provider
            .raw_request::<_, serde_json::Value>("anvil_mine".into(), (U256::from(chunk),))
            .await
            .map_err(|e| EthError::rpc("anvil (anvil_mine)", &e))?;
        left -= chunk;
    }
    Ok(())
}

/// Mines blocks (anvil's `anvil_mine`) to the start of the next round and initializes it.
/// Returns the new round.
pub async fn advance_round(
    provider: &DynProvider,
    addresses: &ProtocolAddresses,
) -> Result<u64, EthError> {
    let rm = RoundsManager::new(addresses.rounds_manager, provider.clone());
    let call =
        |what: &'static str| move |e| EthError::from_call(format!("RoundsManager.{what}"), e);
    let (length, start, block) = round_position(provider, &rm).await?;
    let next_start = start + length;
    let to_mine = next_start.saturating_sub(U256::from(block));
    mine_blocks(provider, to_mine.saturating_to()).await?;
    transact!(rm.initializeRound(), "RoundsManager.initializeRound");
    let round: U256 = rm
        .currentRound()
        .call()
        .await
        .map_err(call("currentRound"))?;
    Ok(round.saturating_to())
}

/// A transaction request with the sender set, for plain ETH transfers.
pub fn eth_transfer(
    from: Address,
    to: Address,
    value: U256,
) -> alloy::rpc::types::TransactionRequest {
    alloy::rpc::types::TransactionRequest::default()
        .with_from(from)
        .with_to(to)
        .with_value(value)
}
