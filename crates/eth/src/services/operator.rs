//! [`Operator`]: the calls an operator makes by hand through the CLI API (go-livepeer
//! `eth/client.go`, used by `server/handlers.go`): staking, orchestrator activation, the
//! gateway's deposit and reserve, rounds, and the reads `livepeer_cli` shows. Every
//! transaction goes through the node's [`super::tx::TransactionManager`], so it shares the
//! node's nonce order, gas bounds and replacement policy, and each method returns once it is
//! mined.
//!
//! go-livepeer sends the `…WithHint` variants of bond/unbond/rebond with list positions it
//! simulates, to save gas in a long transcoder pool; these send the plain functions, which the
//! contract resolves to the same state (`BondingManager.sol` calls the hinted variant with
//! null hints).

use alloy::primitives::{Address, B256, U256};
use alloy::providers::Provider;
use alloy::sol_types::SolCall;
use serde::Serialize;

use super::ChainNode;
use crate::EthError;
use crate::contracts::{
    BondingManager, Controller, LivepeerGovernor, LivepeerToken, Poll, RoundsManager,
    ServiceRegistry, TicketBroker,
};

/// Most unbonding lock IDs `/unbondingLocks` reads (the newest ones).
pub const MAX_UNBONDING_LOCKS: u64 = 1000;

/// Parts per million of the protocol's percentages (`MathUtils.PERC_DIVISOR`).
pub const PERC_DIVISOR: u64 = 1_000_000;

/// A percentage (0–100, fractions allowed) as the contract's parts per million, as go-livepeer
/// `eth.FromPerc` converts `-blockRewardCut`/`-feeShare` form values.
///
/// Errors: `None` outside 0–100 or not finite.
pub fn perc_to_ppm(perc: f64) -> Option<U256> {
    if !perc.is_finite() || !(0.0..=100.0).contains(&perc) {
        return None;
    }
    // 100 % is 10⁶; rounding to the nearest ppm, as big.Float → Int truncation of an exact
    // decimal would give for the values operators type.
    Some(U256::from(
        (perc * (PERC_DIVISOR as f64 / 100.0)).round() as u64
    ))
}

/// A uint256 as a plain JSON number, as Go's `encoding/json` writes a `*big.Int` (exact at any
/// size, which a JSON number from `u64` or `f64` would not be).
fn json_number<S: serde::Serializer>(value: &U256, serializer: S) -> Result<S::Ok, S::Error> {
    let raw = serde_json::value::RawValue::from_string(value.to_string())
        .map_err(serde::ser::Error::custom)?;
    raw.serialize(serializer)
}

/// An orchestrator's on-chain record, as the CLI's `/orchestratorInfo` shows it (go-livepeer
/// `eth/types.Transcoder`, JSON field names as go marshals them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TranscoderRecord {
    /// The orchestrator's address.
    pub address: Address,
    /// Its service URI (`ServiceRegistry.getServiceURI`).
    #[serde(rename = "ServiceURI")]
    pub service_uri: String,
    /// Last round it called reward.
    #[serde(serialize_with = "json_number")]
    pub last_reward_round: U256,
    /// Reward cut, ppm.
    #[serde(serialize_with = "json_number")]
    pub reward_cut: U256,
    /// Fee share, ppm.
    #[serde(serialize_with = "json_number")]
    pub fee_share: U256,
    /// Total stake delegated to it, LPT wei.
    #[serde(serialize_with = "json_number")]
    pub delegated_stake: U256,
    /// Round it was activated in.
    #[serde(serialize_with = "json_number")]
    pub activation_round: U256,
    /// Round it is deactivated in (0 while active with no deactivation due).
    #[serde(serialize_with = "json_number")]
    pub deactivation_round: U256,
    /// Whether it is in the active set this round.
    pub active: bool,
    /// "Registered" or "Not Registered", as go-livepeer reports it.
    pub status: String,
}

/// A sender's deposit and reserve, as the CLI's `/senderInfo` shows it (go-livepeer
/// `pm.SenderInfo`, JSON names as go marshals them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SenderRecord {
    /// Deposit, wei.
    #[serde(serialize_with = "json_number")]
    pub deposit: U256,
    /// Round from which an unlocked deposit can be withdrawn (0: not unlocking).
    #[serde(serialize_with = "json_number")]
    pub withdraw_round: U256,
    /// The reserve.
    pub reserve: ReserveRecord,
}

/// The reserve part of [`SenderRecord`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReserveRecord {
    /// Reserve left, wei.
    #[serde(serialize_with = "json_number")]
    pub funds_remaining: U256,
    /// Claimed from it in the current round, wei.
    #[serde(serialize_with = "json_number")]
    pub claimed_in_current_round: U256,
}

/// A delegator's record, as the CLI's `/delegatorInfo` shows it (go-livepeer
/// `eth/types.Delegator`, JSON names as go marshals them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DelegatorRecord {
    /// The delegator.
    pub address: Address,
    /// Bonded LPT wei, as of its last claim.
    #[serde(serialize_with = "json_number")]
    pub bonded_amount: U256,
    /// Fees, wei, as of its last claim.
    #[serde(serialize_with = "json_number")]
    pub fees: U256,
    /// Whom it is bonded to.
    pub delegate_address: Address,
    /// LPT wei delegated to it (it is an orchestrator).
    #[serde(serialize_with = "json_number")]
    pub delegated_amount: U256,
    /// Round its bond started.
    #[serde(serialize_with = "json_number")]
    pub start_round: U256,
    /// Round it last claimed earnings.
    #[serde(serialize_with = "json_number")]
    pub last_claim_round: U256,
    /// The next unbonding lock's ID.
    #[serde(serialize_with = "json_number")]
    pub next_unbonding_lock_id: U256,
    /// Stake including unclaimed rewards, through the current round.
    #[serde(serialize_with = "json_number")]
    pub pending_stake: U256,
    /// Fees including unclaimed ones, through the current round.
    #[serde(serialize_with = "json_number")]
    pub pending_fees: U256,
    /// "Pending", "Bonded" or "Unbonded".
    pub status: String,
}

/// An unbonding lock, as the CLI's `/unbondingLocks` lists them (go-livepeer
/// `common.DBUnbondingLock`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnbondingLockRecord {
    /// Its ID.
    #[serde(rename = "ID")]
    pub id: u64,
    /// The delegator.
    #[serde(rename = "Delegator")]
    pub delegator: Address,
    /// LPT wei.
    #[serde(rename = "Amount", serialize_with = "json_number")]
    pub amount: U256,
    /// Round from which it can be withdrawn.
    #[serde(rename = "WithdrawRound")]
    pub withdraw_round: u64,
}

/// The protocol's parameters, as the CLI's `/protocolParameters` shows them (go-livepeer
/// `eth/types.ProtocolParameters`, the fields it fills).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ProtocolParametersRecord {
    /// Active set size.
    #[serde(serialize_with = "json_number")]
    pub num_active_transcoders: U256,
    /// Blocks per round.
    #[serde(serialize_with = "json_number")]
    pub round_length: U256,
    /// The locked end of a round, ppm of its length.
    #[serde(serialize_with = "json_number")]
    pub round_lock_amount: U256,
    /// Rounds an unbonding lock waits.
    pub unbonding_period: u64,
    /// Inflation per round, in 10⁻⁹.
    #[serde(serialize_with = "json_number")]
    pub inflation: U256,
    /// Inflation change per round, in 10⁻⁹.
    #[serde(serialize_with = "json_number")]
    pub inflation_change: U256,
    /// Target bonding rate, in 10⁻⁹.
    #[serde(serialize_with = "json_number")]
    pub target_bonding_rate: U256,
    /// LPT wei bonded in total.
    #[serde(serialize_with = "json_number")]
    pub total_bonded: U256,
    /// LPT total supply (the L2 `getGlobalTotalSupply`).
    #[serde(serialize_with = "json_number")]
    pub total_supply: U256,
    /// Whether the Controller is paused.
    pub paused: bool,
}

/// The operator's calls for `node`'s account. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Operator {
    node: ChainNode,
}

fn call_err(what: &'static str) -> impl Fn(alloy::contract::Error) -> EthError {
    move |e| EthError::from_call(what, e)
}

impl Operator {
    /// The calls of `node`'s account.
    pub fn new(node: ChainNode) -> Self {
        Self { node }
    }

    /// The account.
    pub fn address(&self) -> Address {
        self.node.address()
    }

    /// The protocol contracts' addresses.
    pub fn contracts(&self) -> crate::deployment::ProtocolAddresses {
        self.node.contracts()
    }

    /// `-minGasPrice`/`-maxGasPrice`, changeable while the node runs.
    pub fn gas_price_bounds(&self) -> &super::tx::GasPriceBounds {
        self.node.gas_price_bounds()
    }

    /// The last block the node's block watcher saw.
    pub fn last_seen_block(&self) -> u64 {
        self.node.state().head().number
    }

    async fn send(
        &self,
        call: &str,
        to: Address,
        input: Vec<u8>,
        value: U256,
    ) -> Result<B256, EthError> {
        let confirmed = self
            .node
            .transactions()
            .send(call, to, input.into(), value)
            .await?;
        tracing::info!(call, tx_hash = %confirmed.tx_hash(), "operator transaction mined");
        Ok(confirmed.tx_hash())
    }

    fn bonding_manager(&self) -> Address {
        self.node.contracts().bonding_manager
    }

    fn ticket_broker(&self) -> Address {
        self.node.contracts().ticket_broker
    }

    // ---------------------------------------------------------------- staking

    /// Bonds `amount` LPT wei to `to`, first approving the BondingManager for `amount` when the
    /// allowance is smaller (go-livepeer `client.Bond`).
    ///
    /// Errors: the reads' and transactions' [`EthError`]s (a revert carries its reason).
    pub async fn bond(&self, amount: U256, to: Address) -> Result<B256, EthError> {
        let token = LivepeerToken::new(
            self.node.contracts().livepeer_token,
            self.node.provider().clone(),
        );
        let allowance = token
            .allowance(self.address(), self.bonding_manager())
            .call()
            .await
            .map_err(call_err("LivepeerToken.allowance"))?;
        if allowance < amount {
            self.send(
                "LivepeerToken.approve",
                self.node.contracts().livepeer_token,
                LivepeerToken::approveCall {
                    spender: self.bonding_manager(),
                    amount,
                }
                .abi_encode(),
                U256::ZERO,
            )
            .await?;
        }
        self.send(
            "BondingManager.bond",
            self.bonding_manager(),
            BondingManager::bondCall {
                _amount: amount,
                _to: to,
            }
            .abi_encode(),
            U256::ZERO,
        )
        .await
    }

    /// Unbonds `amount` LPT wei, creating an unbonding lock.
    ///
    /// Errors: as [`Self::bond`].
    pub async fn unbond(&self, amount: U256) -> Result<B256, EthError> {
        self.send(
            "BondingManager.unbond",
            self.bonding_manager(),
            BondingManager::unbondCall { _amount: amount }.abi_encode(),
            U256::ZERO,
        )
        .await
    }

    /// Rebonds unbonding lock `lock_id`: to the current delegate, or to `to` when the account
    /// is unbonded (`rebondFromUnbonded`).
    ///
    /// Errors: as [`Self::bond`].
    pub async fn rebond(&self, lock_id: U256, to: Option<Address>) -> Result<B256, EthError> {
        let input = match to {
            Some(to) => BondingManager::rebondFromUnbondedCall {
                _to: to,
                _unbondingLockId: lock_id,
            }
            .abi_encode(),
            None => BondingManager::rebondCall {
                _unbondingLockId: lock_id,
            }
            .abi_encode(),
        };
        self.send(
            "BondingManager.rebond",
            self.bonding_manager(),
            input,
            U256::ZERO,
        )
        .await
    }

    /// Withdraws the LPT of unbonding lock `lock_id` once its round has come.
    ///
    /// Errors: as [`Self::bond`].
    pub async fn withdraw_stake(&self, lock_id: U256) -> Result<B256, EthError> {
        self.send(
            "BondingManager.withdrawStake",
            self.bonding_manager(),
            BondingManager::withdrawStakeCall {
                _unbondingLockId: lock_id,
            }
            .abi_encode(),
            U256::ZERO,
        )
        .await
    }

    /// Withdraws `amount` wei of earned fees to the account (the L2 `withdrawFees`).
    ///
    /// Errors: as [`Self::bond`].
    pub async fn withdraw_fees(&self, amount: U256) -> Result<B256, EthError> {
        self.send(
            "BondingManager.withdrawFees",
            self.bonding_manager(),
            BondingManager::withdrawFeesCall {
                _recipient: self.address(),
                _amount: amount,
            }
            .abi_encode(),
            U256::ZERO,
        )
        .await
    }

    /// Claims rewards and fees through `end_round`.
    ///
    /// Errors: as [`Self::bond`].
    pub async fn claim_earnings(&self, end_round: U256) -> Result<B256, EthError> {
        self.send(
            "BondingManager.claimEarnings",
            self.bonding_manager(),
            BondingManager::claimEarningsCall {
                _endRound: end_round,
            }
            .abi_encode(),
            U256::ZERO,
        )
        .await
    }

    /// Calls `reward()` now, whether or not the reward service would.
    ///
    /// Errors: as [`Self::bond`].
    pub async fn reward(&self) -> Result<B256, EthError> {
        self.send(
            "BondingManager.reward",
            self.bonding_manager(),
            BondingManager::rewardCall {}.abi_encode(),
            U256::ZERO,
        )
        .await
    }

    /// Sets the orchestrator's reward cut and fee share (ppm of [`PERC_DIVISOR`]).
    ///
    /// Errors: as [`Self::bond`].
    pub async fn transcoder(&self, reward_cut: U256, fee_share: U256) -> Result<B256, EthError> {
        self.send(
            "BondingManager.transcoder",
            self.bonding_manager(),
            BondingManager::transcoderCall {
                _rewardCut: reward_cut,
                _feeShare: fee_share,
            }
            .abi_encode(),
            U256::ZERO,
        )
        .await
    }

    /// Registers `uri` as the account's service URI.
    ///
    /// Errors: as [`Self::bond`].
    pub async fn set_service_uri(&self, uri: &str) -> Result<B256, EthError> {
        self.send(
            "ServiceRegistry.setServiceURI",
            self.node.contracts().service_registry,
            ServiceRegistry::setServiceURICall {
                _serviceURI: uri.to_string(),
            }
            .abi_encode(),
            U256::ZERO,
        )
        .await
    }

    // ---------------------------------------------------------------- governance

    /// Votes `choice_id` (0 yes, 1 no) in the LIP-16 poll at `poll` (go-livepeer
    /// `client.Vote`; the vote is an event tallied off chain by stake).
    ///
    /// Errors: as [`Self::bond`] (a poll that is over reverts "poll is over").
    pub async fn vote(&self, poll: Address, choice_id: U256) -> Result<B256, EthError> {
        self.send(
            "Poll.vote",
            poll,
            Poll::voteCall {
                _choiceID: choice_id,
            }
            .abi_encode(),
            U256::ZERO,
        )
        .await
    }

    /// The LivepeerGovernor, as the Controller registers it (`"LivepeerGovernor"`).
    ///
    /// Errors: [`EthError::NotRegistered`] when the deployment has none, or the read's error.
    pub async fn livepeer_governor(&self) -> Result<Address, EthError> {
        let name = crate::governance::names::LIVEPEER_GOVERNOR;
        let controller = self.node.contracts().controller;
        let address = Controller::new(controller, self.node.provider().clone())
            .getContract(crate::deployment::contract_id(name))
            .call()
            .await
            .map_err(call_err("Controller.getContract(LivepeerGovernor)"))?;
        if address == Address::ZERO {
            return Err(EthError::NotRegistered {
                controller,
                name: name.into(),
            });
        }
        Ok(address)
    }

    /// Casts the account's vote on treasury proposal `proposal_id` (`support`: 0 against,
    /// 1 for, 2 abstain), with `reason` when not empty (go-livepeer `client.ProposalVote` /
    /// `ProposalVoteWithReason`, `LivepeerGovernor.castVote[WithReason]`).
    ///
    /// Errors: as [`Self::livepeer_governor`] and [`Self::bond`] (a proposal not open for
    /// votes reverts "Governor: vote not currently active").
    pub async fn proposal_vote(
        &self,
        proposal_id: U256,
        support: u8,
        reason: &str,
    ) -> Result<B256, EthError> {
        let governor = self.livepeer_governor().await?;
        let input = if reason.is_empty() {
            LivepeerGovernor::castVoteCall {
                proposalId: proposal_id,
                support,
            }
            .abi_encode()
        } else {
            LivepeerGovernor::castVoteWithReasonCall {
                proposalId: proposal_id,
                support,
                reason: reason.to_string(),
            }
            .abi_encode()
        };
        self.send("LivepeerGovernor.castVote", governor, input, U256::ZERO)
            .await
    }

    // ---------------------------------------------------------------- rounds

    /// Initializes the current round.
    ///
    /// Errors: as [`Self::bond`].
    pub async fn initialize_round(&self) -> Result<B256, EthError> {
        self.send(
            "RoundsManager.initializeRound",
            self.node.contracts().rounds_manager,
            RoundsManager::initializeRoundCall {}.abi_encode(),
            U256::ZERO,
        )
        .await
    }

    fn rounds(&self) -> RoundsManager::RoundsManagerInstance<alloy::providers::DynProvider> {
        RoundsManager::new(
            self.node.contracts().rounds_manager,
            self.node.provider().clone(),
        )
    }

    /// `RoundsManager.currentRound()`, read from the chain.
    ///
    /// Errors: the read's.
    pub async fn current_round(&self) -> Result<U256, EthError> {
        self.rounds()
            .currentRound()
            .call()
            .await
            .map_err(call_err("RoundsManager.currentRound"))
    }

    /// `RoundsManager.currentRoundInitialized()`.
    ///
    /// Errors: the read's.
    pub async fn current_round_initialized(&self) -> Result<bool, EthError> {
        self.rounds()
            .currentRoundInitialized()
            .call()
            .await
            .map_err(call_err("RoundsManager.currentRoundInitialized"))
    }

    /// `RoundsManager.currentRoundLocked()`: the end of a round, when activation is refused.
    ///
    /// Errors: the read's.
    pub async fn current_round_locked(&self) -> Result<bool, EthError> {
        self.rounds()
            .currentRoundLocked()
            .call()
            .await
            .map_err(call_err("RoundsManager.currentRoundLocked"))
    }

    // ---------------------------------------------------------------- deposit and reserve

    /// Adds `deposit` and `reserve` wei to the account's TicketBroker funds (sent as value).
    ///
    /// Errors: as [`Self::bond`]; [`EthError::Transaction`] when the sum overflows.
    pub async fn fund_deposit_and_reserve(
        &self,
        deposit: U256,
        reserve: U256,
    ) -> Result<B256, EthError> {
        let value = deposit
            .checked_add(reserve)
            .ok_or_else(|| EthError::Transaction {
                call: "TicketBroker.fundDepositAndReserve".into(),
                reason: "deposit + reserve overflows uint256".into(),
            })?;
        self.send(
            "TicketBroker.fundDepositAndReserve",
            self.ticket_broker(),
            TicketBroker::fundDepositAndReserveCall {
                _depositAmount: deposit,
                _reserveAmount: reserve,
            }
            .abi_encode(),
            value,
        )
        .await
    }

    /// Adds `amount` wei to the deposit.
    ///
    /// Errors: as [`Self::bond`].
    pub async fn fund_deposit(&self, amount: U256) -> Result<B256, EthError> {
        self.send(
            "TicketBroker.fundDeposit",
            self.ticket_broker(),
            TicketBroker::fundDepositCall {}.abi_encode(),
            amount,
        )
        .await
    }

    /// Starts the unlock period of the deposit and reserve.
    ///
    /// Errors: as [`Self::bond`].
    pub async fn unlock(&self) -> Result<B256, EthError> {
        self.send(
            "TicketBroker.unlock",
            self.ticket_broker(),
            TicketBroker::unlockCall {}.abi_encode(),
            U256::ZERO,
        )
        .await
    }

    /// Cancels an unlock.
    ///
    /// Errors: as [`Self::bond`].
    pub async fn cancel_unlock(&self) -> Result<B256, EthError> {
        self.send(
            "TicketBroker.cancelUnlock",
            self.ticket_broker(),
            TicketBroker::cancelUnlockCall {}.abi_encode(),
            U256::ZERO,
        )
        .await
    }

    /// Withdraws the unlocked deposit and reserve.
    ///
    /// Errors: as [`Self::bond`].
    pub async fn withdraw(&self) -> Result<B256, EthError> {
        self.send(
            "TicketBroker.withdraw",
            self.ticket_broker(),
            TicketBroker::withdrawCall {}.abi_encode(),
            U256::ZERO,
        )
        .await
    }

    // ---------------------------------------------------------------- reads

    /// The account's deposit and reserve (zeros for an account that never funded).
    ///
    /// Errors: the read's.
    pub async fn sender_info(&self) -> Result<SenderRecord, EthError> {
        let broker = TicketBroker::new(self.ticket_broker(), self.node.provider().clone());
        let info = broker
            .getSenderInfo(self.address())
            .call()
            .await
            .map_err(call_err("TicketBroker.getSenderInfo"))?;
        Ok(SenderRecord {
            deposit: info.sender.deposit,
            withdraw_round: info.sender.withdrawRound,
            reserve: ReserveRecord {
                funds_remaining: info.reserve.fundsRemaining,
                claimed_in_current_round: info.reserve.claimedInCurrentRound,
            },
        })
    }

    /// `TicketBroker.unlockPeriod()`, rounds.
    ///
    /// Errors: the read's.
    pub async fn unlock_period(&self) -> Result<U256, EthError> {
        TicketBroker::new(self.ticket_broker(), self.node.provider().clone())
            .unlockPeriod()
            .call()
            .await
            .map_err(call_err("TicketBroker.unlockPeriod"))
    }

    /// The account's LPT balance, wei.
    ///
    /// Errors: the read's.
    pub async fn token_balance(&self) -> Result<U256, EthError> {
        LivepeerToken::new(
            self.node.contracts().livepeer_token,
            self.node.provider().clone(),
        )
        .balanceOf(self.address())
        .call()
        .await
        .map_err(call_err("LivepeerToken.balanceOf"))
    }

    /// The account's ETH balance, wei.
    ///
    /// Errors: [`EthError::Rpc`].
    pub async fn eth_balance(&self) -> Result<U256, EthError> {
        self.node
            .provider()
            .get_balance(self.address())
            .await
            .map_err(|e| EthError::rpc("the configured endpoint (eth_getBalance)", &e))
    }

    /// The chain ID of the endpoint.
    ///
    /// Errors: [`EthError::Rpc`].
    pub async fn chain_id(&self) -> Result<u64, EthError> {
        self.node
            .provider()
            .get_chain_id()
            .await
            .map_err(|e| EthError::rpc("the configured endpoint (eth_chainId)", &e))
    }

    /// The account's delegator record, with pending stake and fees through the current round.
    ///
    /// Errors: the reads'.
    pub async fn delegator_record(&self) -> Result<DelegatorRecord, EthError> {
        let bm = BondingManager::new(self.bonding_manager(), self.node.provider().clone());
        let me = self.address();
        let d = bm
            .getDelegator(me)
            .call()
            .await
            .map_err(call_err("BondingManager.getDelegator"))?;
        let status = bm
            .delegatorStatus(me)
            .call()
            .await
            .map_err(call_err("BondingManager.delegatorStatus"))?;
        let round = self.current_round().await?;
        let pending_stake = bm
            .pendingStake(me, round)
            .call()
            .await
            .map_err(call_err("BondingManager.pendingStake"))?;
        let pending_fees = bm
            .pendingFees(me, round)
            .call()
            .await
            .map_err(call_err("BondingManager.pendingFees"))?;
        Ok(DelegatorRecord {
            address: me,
            bonded_amount: d.bondedAmount,
            fees: d.fees,
            delegate_address: d.delegateAddress,
            delegated_amount: d.delegatedAmount,
            start_round: d.startRound,
            last_claim_round: d.lastClaimRound,
            next_unbonding_lock_id: d.nextUnbondingLockId,
            pending_stake,
            pending_fees,
            status: match status {
                0 => "Pending",
                1 => "Bonded",
                _ => "Unbonded",
            }
            .into(),
        })
    }

    /// The account's unused unbonding locks (withdraw round above 0), read from the contract;
    /// with `withdrawable_at`, only those withdrawable in that round (go-livepeer
    /// `db.UnbondingLocks(currentRound)`).
    ///
    /// Errors: the reads'. At most [`MAX_UNBONDING_LOCKS`] IDs are read.
    pub async fn unbonding_locks(
        &self,
        withdrawable_at: Option<U256>,
    ) -> Result<Vec<UnbondingLockRecord>, EthError> {
        let bm = BondingManager::new(self.bonding_manager(), self.node.provider().clone());
        let me = self.address();
        let next: u64 = bm
            .getDelegator(me)
            .call()
            .await
            .map_err(call_err("BondingManager.getDelegator"))?
            .nextUnbondingLockId
            .saturating_to();
        let mut locks = Vec::new();
        for id in next.saturating_sub(MAX_UNBONDING_LOCKS)..next {
            let lock = bm
                .getDelegatorUnbondingLock(me, U256::from(id))
                .call()
                .await
                .map_err(call_err("BondingManager.getDelegatorUnbondingLock"))?;
            if lock.withdrawRound.is_zero() {
                continue;
            }
            if withdrawable_at.is_some_and(|round| lock.withdrawRound > round) {
                continue;
            }
            locks.push(UnbondingLockRecord {
                id,
                delegator: me,
                amount: lock.amount,
                withdraw_round: lock.withdrawRound.saturating_to(),
            });
        }
        Ok(locks)
    }

    /// The registered orchestrators: the transcoder pool, each with its record.
    ///
    /// Errors: the reads'.
    pub async fn registered_orchestrators(&self) -> Result<Vec<TranscoderRecord>, EthError> {
        let mut out = Vec::new();
        for member in self.node.transcoder_pool().await? {
            out.push(self.transcoder_record(member.address).await?);
        }
        Ok(out)
    }

    /// The protocol parameters `livepeer_cli` shows.
    ///
    /// Errors: the reads'.
    pub async fn protocol_parameters(&self) -> Result<ProtocolParametersRecord, EthError> {
        let provider = self.node.provider().clone();
        let c = self.node.contracts();
        let bm = BondingManager::new(c.bonding_manager, provider.clone());
        let minter = crate::contracts::Minter::new(c.minter, provider.clone());
        let controller = crate::contracts::Controller::new(c.controller, provider.clone());
        let rounds = self.rounds();
        Ok(ProtocolParametersRecord {
            num_active_transcoders: bm
                .getTranscoderPoolMaxSize()
                .call()
                .await
                .map_err(call_err("BondingManager.getTranscoderPoolMaxSize"))?,
            round_length: rounds
                .roundLength()
                .call()
                .await
                .map_err(call_err("RoundsManager.roundLength"))?,
            round_lock_amount: rounds
                .roundLockAmount()
                .call()
                .await
                .map_err(call_err("RoundsManager.roundLockAmount"))?,
            unbonding_period: bm
                .unbondingPeriod()
                .call()
                .await
                .map_err(call_err("BondingManager.unbondingPeriod"))?,
            inflation: minter
                .inflation()
                .call()
                .await
                .map_err(call_err("Minter.inflation"))?,
            inflation_change: minter
                .inflationChange()
                .call()
                .await
                .map_err(call_err("Minter.inflationChange"))?,
            target_bonding_rate: minter
                .targetBondingRate()
                .call()
                .await
                .map_err(call_err("Minter.targetBondingRate"))?,
            total_bonded: bm
                .getTotalBonded()
                .call()
                .await
                .map_err(call_err("BondingManager.getTotalBonded"))?,
            total_supply: minter
                .getGlobalTotalSupply()
                .call()
                .await
                .map_err(call_err("Minter.getGlobalTotalSupply"))?,
            paused: controller
                .paused()
                .call()
                .await
                .map_err(call_err("Controller.paused"))?,
        })
    }

    /// Transfers `amount` LPT wei to `to`.
    ///
    /// Errors: as [`Self::bond`].
    pub async fn transfer_tokens(&self, to: Address, amount: U256) -> Result<B256, EthError> {
        self.send(
            "LivepeerToken.transfer",
            self.node.contracts().livepeer_token,
            LivepeerToken::transferCall { to, amount }.abi_encode(),
            U256::ZERO,
        )
        .await
    }

    /// `orch`'s on-chain record and service URI.
    ///
    /// Errors: the reads'.
    pub async fn transcoder_record(&self, orch: Address) -> Result<TranscoderRecord, EthError> {
        let bm = BondingManager::new(self.bonding_manager(), self.node.provider().clone());
        let t = bm
            .getTranscoder(orch)
            .call()
            .await
            .map_err(call_err("BondingManager.getTranscoder"))?;
        let registered = bm
            .isRegisteredTranscoder(orch)
            .call()
            .await
            .map_err(call_err("BondingManager.isRegisteredTranscoder"))?;
        let active = bm
            .isActiveTranscoder(orch)
            .call()
            .await
            .map_err(call_err("BondingManager.isActiveTranscoder"))?;
        let stake = bm
            .transcoderTotalStake(orch)
            .call()
            .await
            .map_err(call_err("BondingManager.transcoderTotalStake"))?;
        let service_uri = ServiceRegistry::new(
            self.node.contracts().service_registry,
            self.node.provider().clone(),
        )
        .getServiceURI(orch)
        .call()
        .await
        .map_err(call_err("ServiceRegistry.getServiceURI"))?;
        Ok(TranscoderRecord {
            address: orch,
            service_uri,
            last_reward_round: t.lastRewardRound,
            reward_cut: t.rewardCut,
            fee_share: t.feeShare,
            delegated_stake: stake,
            activation_round: t.activationRound,
            deactivation_round: t.deactivationRound,
            active,
            status: if registered {
                "Registered".into()
            } else {
                "Not Registered".into()
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_become_parts_per_million_as_go_livepeer_converts_them() {
        for (perc, ppm) in [(0.0, 0), (10.0, 100_000), (2.5, 25_000), (100.0, 1_000_000)] {
            assert_eq!(perc_to_ppm(perc), Some(U256::from(ppm)), "{perc}");
        }
        for bad in [-1.0, 100.5, f64::NAN, f64::INFINITY] {
            assert_eq!(perc_to_ppm(bad), None, "{bad}");
        }
    }
}
