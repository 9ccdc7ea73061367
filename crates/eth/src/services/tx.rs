//! The transaction manager: one transaction of the node's account at a time, with a nonce
//! fetched for each, a receipt awaited, and a stuck transaction replaced by one with a higher
//! fee (go-livepeer `eth/transactionManager.go`).

use std::sync::Arc;
use std::time::Duration;

use alloy::eips::{BlockId, Encodable2718};
use alloy::network::{EthereumWallet, NetworkTransactionBuilder, TransactionBuilder};
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{TransactionReceipt, TransactionRequest};
use alloy::signers::local::PrivateKeySigner;
use tokio::sync::Mutex;
use tracing::{info, warn};

use crate::{EthError, Revert};

/// A replacement pays at least this much more per gas, in percent: geth refuses a
/// replacement below +10 %, go-livepeer adds 1 % (`eth/transactionManager.go:priceBump`).
pub const REPLACEMENT_PRICE_BUMP_PERCENT: u64 = 11;

/// Gas limit margin over `eth_estimateGas`, in percent, for state that moves between the
/// estimate and the block.
pub const GAS_LIMIT_MARGIN_PERCENT: u64 = 20;

/// `price × (100 + bump) / 100`, rounded up (go-livepeer `applyPriceBump`). Saturates at
/// `U256::MAX`.
pub fn bump_gas_price(wei: U256, bump_percent: u64) -> U256 {
    match wei.checked_mul(U256::from(100u64.saturating_add(bump_percent))) {
        Some(scaled) => {
            let (q, r) = scaled.div_rem(U256::from(100));
            if r.is_zero() { q } else { q + U256::from(1) }
        }
        None => U256::MAX,
    }
}

/// A mined transaction.
#[derive(Clone, Debug)]
pub struct Confirmed {
    /// Its receipt (status success).
    pub receipt: TransactionReceipt,
    /// Every hash sent for this call, the original first, then each replacement; the receipt's
    /// is one of them.
    pub sent: Vec<B256>,
}

impl Confirmed {
    /// The mined transaction's hash.
    pub fn tx_hash(&self) -> B256 {
        self.receipt.transaction_hash
    }
}

/// Settings of a [`TransactionManager`].
#[derive(Clone, Debug)]
pub struct TxConfig {
    /// How long to wait for a receipt before replacing (`-transactionTimeout`).
    pub timeout: Duration,
    /// Replacements after the original (`-maxTransactionReplacements`).
    pub max_replacements: u32,
    /// How often to look for a receipt.
    pub poll_interval: Duration,
    /// `-minGasPrice` and `-maxGasPrice`, shared with the node's [`super::ChainState`] and
    /// changeable while it runs.
    pub gas_price_bounds: GasPriceBounds,
}

/// `-minGasPrice` and `-maxGasPrice` in wei, shared by the gas price monitor and the
/// transaction manager and changeable at run time (the CLI API's `/setMinGasPrice` and
/// `/setMaxGasPrice`, as go-livepeer's `GasPriceMonitor.SetMinGasPrice/SetMaxGasPrice`).
/// No transaction pays less per gas than the minimum, nor more than the maximum (zero or
/// `None`: no maximum), replacements included. Cheap to clone; clones share the values.
#[derive(Clone, Debug, Default)]
pub struct GasPriceBounds(Arc<std::sync::RwLock<(Option<U256>, Option<U256>)>>);

impl GasPriceBounds {
    /// Bounds of `min` and `max` wei per gas.
    pub fn new(min: Option<U256>, max: Option<U256>) -> Self {
        Self(Arc::new(std::sync::RwLock::new((min, max))))
    }

    fn read(&self) -> (Option<U256>, Option<U256>) {
        *self.0.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The minimum, wei per gas.
    pub fn min(&self) -> Option<U256> {
        self.read().0
    }

    /// The maximum, wei per gas; `None` for none (a zero is none too).
    pub fn max(&self) -> Option<U256> {
        self.read().1.filter(|m| !m.is_zero())
    }

    /// Sets the minimum.
    pub fn set_min(&self, min: Option<U256>) {
        self.0.write().unwrap_or_else(|p| p.into_inner()).0 = min;
    }

    /// Sets the maximum (`None` or zero: none).
    pub fn set_max(&self, max: Option<U256>) {
        self.0.write().unwrap_or_else(|p| p.into_inner()).1 = max;
    }
}

/// Sends the node's transactions one at a time (go-livepeer `eth/transactionManager.go`).
///
/// Each call is estimated first (a revert comes back as [`EthError::Reverted`] without
/// spending gas), priced at the node's `eth_gasPrice` raised to `-minGasPrice` (refused with
/// [`EthError::GasPriceAboveMax`] above `-maxGasPrice`), given the account's pending nonce,
/// signed as a legacy (EIP-155) transaction and sent raw. Without a receipt within the timeout
/// the same nonce is sent again at [`REPLACEMENT_PRICE_BUMP_PERCENT`] more per gas, up to
/// `max_replacements` times and never above `-maxGasPrice`; whichever of the hashes is mined
/// first is the result.
pub struct TransactionManager {
    provider: DynProvider,
    wallet: EthereumWallet,
    from: Address,
    chain_id: u64,
    config: TxConfig,
    one_at_a_time: Mutex<()>,
}

impl std::fmt::Debug for TransactionManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransactionManager")
            .field("from", &self.from)
            .field("chain_id", &self.chain_id)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl TransactionManager {
    /// A manager sending from `signer`'s account on the chain `chain_id` through `provider`.
    pub fn new(
        provider: DynProvider,
        signer: PrivateKeySigner,
        chain_id: u64,
        config: TxConfig,
    ) -> Self {
        Self {
            provider,
            from: signer.address(),
            wallet: EthereumWallet::from(signer),
            chain_id,
            config,
            one_at_a_time: Mutex::new(()),
        }
    }

    /// The sending account.
    pub fn from(&self) -> Address {
        self.from
    }

    fn max_gas_price(&self) -> Option<U256> {
        self.config.gas_price_bounds.max()
    }

    /// The gas price for a new transaction: the node's, at least `-minGasPrice`.
    ///
    /// Errors: [`EthError::Rpc`], [`EthError::GasPriceAboveMax`].
    pub async fn gas_price(&self) -> Result<U256, EthError> {
        let node = self
            .provider
            .get_gas_price()
            .await
            .map_err(|e| EthError::rpc("the configured endpoint (eth_gasPrice)", &e))?;
        let price = U256::from(node).max(self.config.gas_price_bounds.min().unwrap_or_default());
        if let Some(max) = self.max_gas_price()
            && price > max
        {
            return Err(EthError::GasPriceAboveMax {
                gas_price_wei: price,
                max_gas_price_wei: max,
            });
        }
        Ok(price)
    }

    /// Sends `input` to `to` with `value` wei, named `call` (`Contract.function`) in logs and
    /// errors, and waits for it to be mined.
    ///
    /// Errors: [`EthError::Reverted`] (the estimate reverted; nothing sent),
    /// [`EthError::GasPriceAboveMax`], [`EthError::TxRejected`] (the node refused the original),
    /// [`EthError::TxReverted`] (mined and reverted, reason decoded), [`EthError::TxTimedOut`],
    /// [`EthError::Rpc`].
    pub async fn send(
        &self,
        call: &str,
        to: Address,
        input: Bytes,
        value: U256,
    ) -> Result<Confirmed, EthError> {
        let _turn = self.one_at_a_time.lock().await;
        let request = TransactionRequest::default()
            .with_from(self.from)
            .with_to(to)
            .with_input(input)
            .with_value(value);
        let estimate = self
            .provider
            .estimate_gas(request.clone())
            .await
            .map_err(|e| EthError::from_transport(call, &e))?;
        let gas_limit =
            estimate.saturating_add(estimate.saturating_mul(GAS_LIMIT_MARGIN_PERCENT) / 100);
        let mut gas_price = self.gas_price().await?;
        let nonce = self
            .provider
            .get_transaction_count(self.from)
            .pending()
            .await
            .map_err(|e| EthError::rpc("the configured endpoint (eth_getTransactionCount)", &e))?;
        let request = request
            .with_nonce(nonce)
            .with_gas_limit(gas_limit)
            .with_chain_id(self.chain_id);
        let first = self.sign_and_send(call, &request, gas_price).await?;
        info!(call, tx_hash = %first, nonce, gas_price_wei = %gas_price, "transaction sent");
        let mut sent = vec![first];
        let mut replacements = 0u32;
        loop {
            if let Some(receipt) = self.wait_for_receipt(&sent, self.config.timeout).await? {
                return self.finish(call, &request, receipt, sent).await;
            }
            if replacements >= self.config.max_replacements {
                break;
            }
            let bumped = bump_gas_price(gas_price, REPLACEMENT_PRICE_BUMP_PERCENT);
            if let Some(max) = self.max_gas_price()
                && bumped > max
            {
                warn!(call, gas_price_wei = %bumped, max_gas_price_wei = %max, "not replacing the transaction: the bumped price is above -maxGasPrice");
                break;
            }
            match self.sign_and_send(call, &request, bumped).await {
                Ok(hash) => {
                    replacements += 1;
                    gas_price = bumped;
                    info!(call, tx_hash = %hash, replaces = %sent.last().copied().unwrap_or_default(), nonce, gas_price_wei = %gas_price, "transaction replaced");
                    sent.push(hash);
                }
                Err(e) => {
                    // Usually "nonce too low": one of ours was just mined.
                    warn!(call, error = %e, "replacement refused");
                    break;
                }
            }
        }
        // A last look: a hash may have been mined while we replaced it.
        if let Some(receipt) = self.wait_for_receipt(&sent, Duration::ZERO).await? {
            return self.finish(call, &request, receipt, sent).await;
        }
        Err(EthError::TxTimedOut {
            call: call.into(),
            tx_hashes: sent,
        })
    }

    async fn sign_and_send(
        &self,
        call: &str,
        request: &TransactionRequest,
        gas_price: U256,
    ) -> Result<B256, EthError> {
        let price = u128::try_from(gas_price).map_err(|_| {
            EthError::ChainData(format!("gas price {gas_price} does not fit 128 bits"))
        })?;
        let envelope = request
            .clone()
            .with_gas_price(price)
            .build(&self.wallet)
            .await
            .map_err(|e| EthError::Transaction {
                call: call.into(),
                reason: format!("cannot sign: {e}"),
            })?;
        let hash = *envelope.tx_hash();
        let raw = envelope.encoded_2718();
        match self.provider.send_raw_transaction(&raw).await {
            Ok(_) => Ok(hash),
            Err(e) if e.is_error_resp() => Err(EthError::TxRejected {
                call: call.into(),
                reason: e.to_string().replace('\n', " "),
            }),
            Err(e) => Err(EthError::rpc(
                "the configured endpoint (eth_sendRawTransaction)",
                &e,
            )),
        }
    }

    /// Looks for a receipt of any of `hashes` until `timeout` has passed (once when zero).
    async fn wait_for_receipt(
        &self,
        hashes: &[B256],
        timeout: Duration,
    ) -> Result<Option<TransactionReceipt>, EthError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            for hash in hashes {
                let receipt = self
                    .provider
                    .get_transaction_receipt(*hash)
                    .await
                    .map_err(|e| {
                        EthError::rpc("the configured endpoint (eth_getTransactionReceipt)", &e)
                    })?;
                if let Some(receipt) = receipt.filter(|r| r.block_number.is_some()) {
                    return Ok(Some(receipt));
                }
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(self.config.poll_interval.min(deadline - now)).await;
        }
    }

    async fn finish(
        &self,
        call: &str,
        request: &TransactionRequest,
        receipt: TransactionReceipt,
        sent: Vec<B256>,
    ) -> Result<Confirmed, EthError> {
        if receipt.status() {
            info!(call, tx_hash = %receipt.transaction_hash, block = receipt.block_number, gas_used = receipt.gas_used, "transaction mined");
            return Ok(Confirmed { receipt, sent });
        }
        // Replay on the parent block for the reason.
        let parent = receipt.block_number.unwrap_or_default().saturating_sub(1);
        let mut replay = request.clone();
        replay.nonce = None;
        let revert = match self
            .provider
            .call(replay)
            .block(BlockId::number(parent))
            .await
        {
            Ok(_) => Revert::Empty,
            Err(e) => match EthError::from_transport(call, &e) {
                EthError::Reverted { revert, .. } => revert,
                _ => Revert::Empty,
            },
        };
        warn!(call, tx_hash = %receipt.transaction_hash, %revert, "transaction reverted");
        Err(EthError::TxReverted {
            call: call.into(),
            tx_hash: receipt.transaction_hash,
            revert,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replacement_pays_at_least_ten_percent_more() {
        let u = U256::from;
        for (price, want) in [
            (u(100), u(111)),
            (u(1_000_000_000), u(1_110_000_000)),
            (u(1), u(2)),
            (u(0), u(0)),
        ] {
            let bumped = bump_gas_price(price, REPLACEMENT_PRICE_BUMP_PERCENT);
            assert_eq!(bumped, want, "{price}");
            assert!(
                bumped * u(10) >= price * u(11),
                "+10 % at least for {price}"
            );
        }
        assert_eq!(bump_gas_price(U256::MAX, 11), U256::MAX);
    }
}
