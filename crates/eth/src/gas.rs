//! Gas used by the calls a node makes most, measured on a fresh devnet (`livepeer bench gas`).

use alloy::primitives::{Address, Bytes, U256, utils::parse_ether};
use alloy::providers::DynProvider;

use crate::EthError;
use crate::contracts::{BondingManager, LivepeerToken, RoundsManager, TicketBroker};
use crate::deployment::transact;
use crate::devnet::{Devnet, DevnetConfig, LocalKey, signing_provider};

/// go-livepeer's gas budget for one redemption on Arbitrum One (`redeemGas` of
/// `arbitrum-one-mainnet`, go-livepeer `cmd/livepeer/starter`).
pub const ARBITRUM_REDEEM_GAS_BUDGET: u64 = 1_200_000;

/// One measured call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GasFigure {
    /// `Contract.function (case)`.
    pub call: String,
    /// `gasUsed` of its receipt.
    pub gas_used: u64,
}

fn key(devnet: &Devnet, role: &str) -> Result<LocalKey, EthError> {
    let account = devnet
        .info
        .accounts
        .iter()
        .find(|a| a.role == role)
        .ok_or_else(|| EthError::Deploy {
            contract: "devnet".into(),
            reason: format!("no {role} account"),
        })?;
    account.private_key.parse().map_err(|e| EthError::Deploy {
        contract: "devnet".into(),
        reason: format!("bad dev key: {e}"),
    })
}

/// Starts a devnet with one orchestrator and measures `fundDepositAndReserve`, a delegator's
/// `bond`, a new orchestrator's first self-`bond`, `reward` and `redeemWinningTicket` (paid
/// from the deposit), in that order.
///
/// Errors: any devnet or transaction error.
pub async fn measure() -> Result<Vec<GasFigure>, EthError> {
    let devnet = Devnet::start(&DevnetConfig {
        orchestrators: 1,
        ..Default::default()
    })
    .await?;
    let url = devnet.info.rpc_url.clone();
    let contracts = devnet.info.contracts;
    let orch_key = key(&devnet, "orchestrator")?;
    let gateway_key = key(&devnet, "gateway")?;
    let deployer_key = key(&devnet, "deployer")?;
    let orch = signing_provider(&url, &orch_key)?;
    let gateway = signing_provider(&url, &gateway_key)?;
    let deployer = signing_provider(&url, &deployer_key)?;
    let mut figures = Vec::new();
    let mut record = |call: &str, gas_used: u64| {
        figures.push(GasFigure {
            call: call.into(),
            gas_used,
        })
    };
    let amount = |eth: &str| {
        parse_ether(eth).map_err(|e| EthError::Deploy {
            contract: "amount".into(),
            reason: e.to_string(),
        })
    };

    let broker = TicketBroker::new(contracts.ticket_broker, gateway.clone());
    let (deposit, reserve) = (amount("1")?, amount("1")?);
    let receipt = transact!(
        broker
            .fundDepositAndReserve(deposit, reserve)
            .value(deposit + reserve),
        "TicketBroker.fundDepositAndReserve"
    );
    record(
        "TicketBroker.fundDepositAndReserve (first funding)",
        receipt.gas_used,
    );

    let stake = amount("100")?;
    let token = LivepeerToken::new(contracts.livepeer_token, deployer.clone());
    for who in [gateway_key.address(), deployer_key.address()] {
        transact!(token.mint(who, stake), "LivepeerToken.mint");
    }
    let bond_as = |provider: &DynProvider, to: Address| {
        let provider = provider.clone();
        async move {
            let lpt = LivepeerToken::new(contracts.livepeer_token, provider.clone());
            transact!(
                lpt.approve(contracts.bonding_manager, stake),
                "LivepeerToken.approve"
            );
            let bm = BondingManager::new(contracts.bonding_manager, provider);
            let receipt = transact!(bm.bond(stake, to), "BondingManager.bond");
            Ok::<u64, EthError>(receipt.gas_used)
        }
    };
    record(
        "BondingManager.bond (delegator)",
        bond_as(&gateway, orch_key.address()).await?,
    );
    record(
        "BondingManager.bond (new orchestrator, self)",
        bond_as(&deployer, deployer_key.address()).await?,
    );

    let bm = BondingManager::new(contracts.bonding_manager, orch.clone());
    let receipt = transact!(bm.reward(), "BondingManager.reward");
    record("BondingManager.reward", receipt.gas_used);

    // A winning ticket (winProb = max) from the gateway to the orchestrator, signed per pm.md.
    let rounds = RoundsManager::new(contracts.rounds_manager, orch.clone());
    let round: U256 = rounds
        .currentRound()
        .call()
        .await
        .map_err(|e| EthError::from_call("RoundsManager.currentRound", e))?;
    let block_hash = rounds
        .blockHashForRound(round)
        .call()
        .await
        .map_err(|e| EthError::from_call("RoundsManager.blockHashForRound", e))?;
    let rand = U256::from(0x5eed_u64);
    let signer = livepeer_pm::LocalSigner::from_bytes(&gateway_key.to_bytes().0).map_err(|e| {
        EthError::Deploy {
            contract: "ticket".into(),
            reason: e.to_string(),
        }
    })?;
    let ticket = livepeer_pm::Ticket {
        recipient: orch_key.address(),
        sender: gateway_key.address(),
        face_value: amount("0.01")?,
        win_prob: U256::MAX,
        sender_nonce: 1,
        recipient_rand_hash: livepeer_pm::recipient_rand_hash(rand),
        expiration_params: livepeer_pm::TicketExpirationParams {
            creation_round: round.saturating_to(),
            creation_round_block_hash: block_hash,
        },
        params_expiration_block: U256::ZERO,
        price_per_pixel: livepeer_pm::PricePerPixel::ZERO,
    };
    let sig = signer.sign(&ticket.hash());
    let onchain = crate::services::onchain_ticket(&ticket);
    let broker = TicketBroker::new(contracts.ticket_broker, orch);
    let receipt = transact!(
        broker.redeemWinningTicket(onchain, Bytes::from(sig.to_vec()), rand),
        "TicketBroker.redeemWinningTicket"
    );
    record(
        "TicketBroker.redeemWinningTicket (from deposit)",
        receipt.gas_used,
    );
    Ok(figures)
}
