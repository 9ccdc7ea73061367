//! Helpers shared by the integration tests: devnets with test-sized parameters, funded accounts,
//! transactions whose reverts come back typed, winning tickets built and signed by
//! `livepeer-pm`, and the LIP-36 reference model ([`lip36`]).

pub mod lip36;

use alloy::contract::{CallBuilder, CallDecoder};
use alloy::primitives::{Address, Bytes, U256, utils::parse_ether};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::TransactionReceipt;
use alloy::signers::local::PrivateKeySigner;
use livepeer_eth::EthError;
use livepeer_eth::contracts::{
    BondingManager, ITicketBroker, LivepeerToken, Minter, RoundsManager, TicketBroker,
};
use livepeer_eth::deployment::{DevParams, advance_round};
use livepeer_eth::devnet::{Devnet, DevnetConfig};
use livepeer_pm::{LocalSigner, Ticket, TicketExpirationParams, recipient_rand_hash};

/// The BondingManager binding on a provider.
pub type Bonding = BondingManager::BondingManagerInstance<DynProvider>;

/// Rounds before unbonded stake can be withdrawn, in the tests' devnets.
pub const UNBONDING_PERIOD: u64 = 2;

/// Protocol parameters for tests: short rounds (40 blocks leave room for a round's worth of
/// transactions before the 10 % lock window) and a 2-round unbonding period.
pub fn test_params() -> DevParams {
    DevParams {
        round_length: 40,
        unbonding_period: UNBONDING_PERIOD,
        ..Default::default()
    }
}

/// A devnet with `orchestrators` orchestrators and the default parameters.
pub async fn devnet(orchestrators: usize) -> Devnet {
    start(orchestrators, DevParams::default()).await
}

/// A devnet with `orchestrators` orchestrators (1000 LPT each, rewardCut 10 %, feeShare 50 %,
/// active in the current round) and `params`.
pub async fn start(orchestrators: usize, params: DevParams) -> Devnet {
    Devnet::start(&DevnetConfig {
        orchestrators,
        params,
        ..Default::default()
    })
    .await
    .expect("devnet starts")
}

/// `n` LPT in wei.
pub fn lpt(n: u64) -> U256 {
    U256::from(n) * U256::from(10).pow(U256::from(18))
}

/// The private key of the `nth` devnet account with `role`.
pub fn key_of(devnet: &Devnet, role: &str, nth: usize) -> PrivateKeySigner {
    let account = devnet
        .info
        .accounts
        .iter()
        .filter(|a| a.role == role)
        .nth(nth)
        .expect("account");
    account.private_key.parse().expect("dev key")
}

/// The same key as a `livepeer-pm` ticket signer.
pub fn pm_signer(key: &PrivateKeySigner) -> LocalSigner {
    LocalSigner::from_bytes(&key.to_bytes().0).expect("valid key")
}

/// Sends a contract transaction and waits for its receipt. A revert comes back as
/// [`EthError::Reverted`] with the reason decoded.
pub async fn send<P: Provider, D: CallDecoder>(
    call: CallBuilder<P, D>,
    name: &str,
) -> Result<TransactionReceipt, EthError> {
    let pending = call
        .send()
        .await
        .map_err(|e| EthError::from_call(name, e))?;
    let receipt = pending
        .get_receipt()
        .await
        .map_err(|e| EthError::Transaction {
            call: name.into(),
            reason: e.to_string(),
        })?;
    if !receipt.status() {
        return Err(EthError::Transaction {
            call: name.into(),
            reason: "reverted on chain".into(),
        });
    }
    Ok(receipt)
}

/// Asserts that `result` is a revert with `reason`.
#[track_caller]
pub fn assert_reverts<T: std::fmt::Debug>(result: Result<T, EthError>, reason: &str) {
    let err = result.expect_err(reason);
    assert_eq!(err.revert_reason(), Some(reason), "{err}");
}

/// A provider for `devnet` that signs with `key` (nonces fetched per transaction, so tests
/// may send transactions that revert).
pub fn provider(devnet: &Devnet, key: &PrivateKeySigner) -> DynProvider {
    livepeer_eth::devnet::signing_provider(&devnet.info.rpc_url, key).expect("anvil URL")
}

/// Simulates a call that must revert (`eth_call`, so no nonce is spent) and returns the
/// decoded revert.
pub async fn reverts<P: Provider, D: CallDecoder>(call: CallBuilder<P, D>, what: &str) -> EthError {
    match call.call().await {
        Ok(_) => panic!("{what} succeeded, expected a revert"),
        Err(e) => EthError::from_call(what, e),
    }
}

/// The `require` reason of a revert.
pub fn reason(err: &EthError) -> &str {
    err.revert_reason()
        .unwrap_or_else(|| panic!("expected a require revert, got {err}"))
}

/// An account with its own signing provider.
pub struct Account {
    /// Its address.
    pub address: Address,
    /// A provider signing with its key.
    pub chain: DynProvider,
    /// The BondingManager, called by this account.
    pub bonding: Bonding,
}

impl Account {
    fn new(devnet: &Devnet, key: PrivateKeySigner) -> Self {
        let chain = provider(devnet, &key);
        Self {
            address: key.address(),
            bonding: BondingManager::new(devnet.info.contracts.bonding_manager, chain.clone()),
            chain,
        }
    }

    /// The `nth` devnet account with `role`.
    pub fn devnet(devnet: &Devnet, role: &str, nth: usize) -> Self {
        Self::new(devnet, key_of(devnet, role, nth))
    }

    /// A fresh account with 100 ETH (anvil_setBalance) and `lpt` LPT minted by the deployer,
    /// all approved to the BondingManager.
    pub async fn funded(devnet: &Devnet, lpt: U256) -> Self {
        let account = Self::new(devnet, PrivateKeySigner::random());
        devnet
            .provider
            .raw_request::<_, serde_json::Value>(
                "anvil_setBalance".into(),
                (account.address, parse_ether("100").expect("amount")),
            )
            .await
            .expect("anvil_setBalance");
        if !lpt.is_zero() {
            let token = LivepeerToken::new(
                devnet.info.contracts.livepeer_token,
                devnet.provider.clone(),
            );
            send(token.mint(account.address, lpt), "LivepeerToken.mint")
                .await
                .expect("the deployer mints");
            let token =
                LivepeerToken::new(devnet.info.contracts.livepeer_token, account.chain.clone());
            send(
                token.approve(devnet.info.contracts.bonding_manager, U256::MAX),
                "LivepeerToken.approve",
            )
            .await
            .expect("approve");
        }
        account
    }

    /// A fresh account that registers as an orchestrator with a self-bond of `stake`,
    /// rewardCut 10 % and feeShare 50 %, in the current round.
    pub async fn orchestrator(devnet: &Devnet, stake: U256) -> Self {
        let account = Self::funded(devnet, stake).await;
        send(account.bonding.bond(stake, account.address), "bond")
            .await
            .expect("self-bond");
        send(
            account
                .bonding
                .transcoder(U256::from(100_000), U256::from(500_000)),
            "transcoder",
        )
        .await
        .expect("transcoder");
        account
    }
}

/// Read access to the protocol, from the deployer's provider.
pub struct Protocol {
    /// BondingManager.
    pub bonding: Bonding,
    /// RoundsManager.
    pub rounds: RoundsManager::RoundsManagerInstance<DynProvider>,
    /// Minter.
    pub minter: Minter::MinterInstance<DynProvider>,
    /// LivepeerToken.
    pub token: LivepeerToken::LivepeerTokenInstance<DynProvider>,
    /// The devnet's provider (deployer key).
    pub provider: DynProvider,
    contracts: livepeer_eth::deployment::ProtocolAddresses,
}

impl Protocol {
    /// The contracts of `devnet`.
    pub fn new(devnet: &Devnet) -> Self {
        let c = devnet.info.contracts;
        let p = devnet.provider.clone();
        Self {
            bonding: BondingManager::new(c.bonding_manager, p.clone()),
            rounds: RoundsManager::new(c.rounds_manager, p.clone()),
            minter: Minter::new(c.minter, p.clone()),
            token: LivepeerToken::new(c.livepeer_token, p.clone()),
            provider: p,
            contracts: c,
        }
    }

    /// The current round.
    pub async fn round(&self) -> u64 {
        let round: U256 = self.rounds.currentRound().call().await.expect("round");
        round.saturating_to()
    }

    /// Mines to the next round and initializes it; returns it.
    pub async fn next_round(&self) -> u64 {
        advance_round(&self.provider, &self.contracts)
            .await
            .expect("next round")
    }

    /// Mines `blocks` empty blocks.
    pub async fn mine(&self, blocks: u64) {
        livepeer_eth::deployment::mine_blocks(&self.provider, blocks)
            .await
            .expect("anvil_mine");
    }

    /// The latest block number.
    pub async fn block(&self) -> u64 {
        self.provider.get_block_number().await.expect("block")
    }

    /// `(pendingStake, pendingFees)` of `account` in the current round.
    pub async fn pending(&self, account: Address) -> (U256, U256) {
        let stake = self
            .bonding
            .pendingStake(account, U256::ZERO)
            .call()
            .await
            .expect("pendingStake");
        let fees = self
            .bonding
            .pendingFees(account, U256::ZERO)
            .call()
            .await
            .expect("pendingFees");
        (stake, fees)
    }

    /// `transcoderTotalStake(t)`.
    pub async fn stake(&self, t: Address) -> U256 {
        self.bonding
            .transcoderTotalStake(t)
            .call()
            .await
            .expect("transcoderTotalStake")
    }

    /// `isActiveTranscoder(t)` in the current round.
    pub async fn is_active(&self, t: Address) -> bool {
        self.bonding
            .isActiveTranscoder(t)
            .call()
            .await
            .expect("isActiveTranscoder")
    }

    /// The transcoder pool, head (largest stake) first, walked with
    /// getFirstTranscoderInPool / getNextTranscoderInPool.
    pub async fn pool(&self) -> Vec<Address> {
        let mut pool = Vec::new();
        let mut next = self
            .bonding
            .getFirstTranscoderInPool()
            .call()
            .await
            .expect("first");
        while next != Address::ZERO {
            pool.push(next);
            assert!(pool.len() <= 100, "the pool is a cycle");
            next = self
                .bonding
                .getNextTranscoderInPool(next)
                .call()
                .await
                .expect("next");
        }
        pool
    }

    /// `Minter.currentMintableTokens()` and `getTotalBonded()` of the current round.
    pub async fn mintable_and_total(&self) -> (U256, U256) {
        let mintable = self
            .minter
            .currentMintableTokens()
            .call()
            .await
            .expect("mintable");
        let total = self.bonding.getTotalBonded().call().await.expect("total");
        (mintable, total)
    }
}

/// A ticket from `gateway` to `recipient`, created in the current round.
#[allow(
    clippy::too_many_arguments,
    reason = "a test helper spelling out every ticket field"
)]
pub async fn ticket(
    provider: &DynProvider,
    devnet: &Devnet,
    gateway: &LocalSigner,
    recipient: Address,
    face_value: U256,
    win_prob: U256,
    nonce: u32,
    rand: U256,
) -> (ITicketBroker::Ticket, Bytes) {
    let rounds = RoundsManager::new(devnet.info.contracts.rounds_manager, provider.clone());
    let round: U256 = rounds.currentRound().call().await.expect("round");
    let block_hash = rounds.blockHashForRound(round).call().await.expect("hash");
    let pm_ticket = Ticket {
        recipient,
        sender: gateway.address(),
        face_value,
        win_prob,
        sender_nonce: nonce,
        recipient_rand_hash: recipient_rand_hash(rand),
        expiration_params: TicketExpirationParams {
            creation_round: round.saturating_to(),
            creation_round_block_hash: block_hash,
        },
        params_expiration_block: U256::ZERO,
        price_per_pixel: livepeer_pm::PricePerPixel::ZERO,
    };
    let sig = gateway.sign(&pm_ticket.hash());
    let onchain = ITicketBroker::Ticket {
        recipient,
        sender: gateway.address(),
        faceValue: face_value,
        winProb: win_prob,
        senderNonce: U256::from(nonce),
        recipientRandHash: pm_ticket.recipient_rand_hash,
        auxData: Bytes::from(pm_ticket.aux_data().as_slice().to_vec()),
    };
    let broker = TicketBroker::new(devnet.info.contracts.ticket_broker, provider.clone());
    assert_eq!(
        broker
            .getTicketHash(onchain.clone())
            .call()
            .await
            .expect("hash"),
        pm_ticket.hash(),
        "pm and the broker hash alike"
    );
    (onchain, Bytes::from(sig.to_vec()))
}

/// Redeems a winning ticket from `provider`'s account.
pub async fn redeem(
    provider: &DynProvider,
    devnet: &Devnet,
    t: &ITicketBroker::Ticket,
    sig: &Bytes,
    rand: U256,
) -> Result<(), EthError> {
    let broker = TicketBroker::new(devnet.info.contracts.ticket_broker, provider.clone());
    send(
        broker.redeemWinningTicket(t.clone(), sig.clone(), rand),
        "TicketBroker.redeemWinningTicket",
    )
    .await
    .map(|_| ())
}

/// The devnet gateway with a funded deposit, paying orchestrators with winning tickets.
pub struct Gateway {
    signer: LocalSigner,
    next_nonce: u32,
}

impl Gateway {
    /// The devnet's gateway account, after funding `deposit` wei of deposit and 1 ETH of reserve.
    pub async fn funded(devnet: &Devnet, deposit: U256) -> Self {
        let key = key_of(devnet, "gateway", 0);
        let chain = provider(devnet, &key);
        let broker = TicketBroker::new(devnet.info.contracts.ticket_broker, chain);
        let reserve = parse_ether("1").expect("amount");
        send(
            broker
                .fundDepositAndReserve(deposit, reserve)
                .value(deposit + reserve),
            "TicketBroker.fundDepositAndReserve",
        )
        .await
        .expect("fund");
        Self {
            signer: pm_signer(&key),
            next_nonce: 1,
        }
    }

    /// Pays `face_value` wei of fees to `recipient` in the current round: a ticket that always
    /// wins, redeemed by the recipient.
    pub async fn pay(&mut self, devnet: &Devnet, recipient: &Account, face_value: U256) {
        let nonce = self.next_nonce;
        self.next_nonce += 1;
        let rand = U256::from(0xC0FFEE_u64 + u64::from(nonce));
        let (t, sig) = ticket(
            &recipient.chain,
            devnet,
            &self.signer,
            recipient.address,
            face_value,
            U256::MAX,
            nonce,
            rand,
        )
        .await;
        redeem(&recipient.chain, devnet, &t, &sig, rand)
            .await
            .expect("a winning ticket redeems");
    }
}
