//! JSON-RPC providers for a node: HTTP with a timeout on every request, signing with the
//! node's key, nonces fetched from the node for every transaction.

use std::time::Duration;

use alloy::network::EthereumWallet;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;

use crate::EthError;

/// How long one JSON-RPC request may take, connecting included, before it fails with an
/// [`EthError::Rpc`] that says it timed out: an endpoint that accepts connections and never
/// answers must not hang the node.
pub const DEFAULT_RPC_TIMEOUT: Duration = Duration::from_secs(10);

/// A provider for `url` that signs with `key`; each request times out after
/// [`DEFAULT_RPC_TIMEOUT`].
///
/// Errors: [`EthError::Rpc`] when `url` is not a URL.
pub fn signing_provider(url: &str, key: &PrivateKeySigner) -> Result<DynProvider, EthError> {
    signing_provider_with_timeout(url, key, DEFAULT_RPC_TIMEOUT)
}

/// A provider for `url` that signs with `key`, whose HTTP requests (connect, send and the whole
/// answer) fail after `timeout` with an [`EthError::Rpc`] whose `timed_out` is true.
///
/// Errors: [`EthError::Rpc`] when `url` is not a URL or the HTTP client cannot be built.
pub fn signing_provider_with_timeout(
    url: &str,
    key: &PrivateKeySigner,
    timeout: Duration,
) -> Result<DynProvider, EthError> {
    use alloy::transports::http::reqwest;
    let rpc_error = |reason: String| EthError::Rpc {
        url: url.into(),
        reason,
        timed_out: false,
    };
    let parsed: url::Url = url
        .parse()
        .map_err(|e: url::ParseError| rpc_error(e.to_string()))?;
    let client = reqwest::Client::builder()
        .connect_timeout(timeout)
        .timeout(timeout)
        .build()
        .map_err(|e| rpc_error(format!("cannot build the HTTP client: {e}")))?;
    // Nonces come from the node for every transaction: alloy's cached nonce manager keeps a
    // nonce reserved by a transaction that failed gas estimation (a revert), and every later
    // transaction of the account would wait forever behind the gap.
    Ok(ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_gas_estimation()
        .with_simple_nonce_management()
        .fetch_chain_id()
        .wallet(EthereumWallet::from(key.clone()))
        .connect_reqwest(client, parsed)
        .erased())
}
