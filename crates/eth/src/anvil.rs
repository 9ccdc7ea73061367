//! The local chain: anvil from the pinned npm package `@foundry-rs/anvil-linux-amd64`
//! (installed into `contracts/node_modules` by the setup script).

use std::path::PathBuf;
use std::time::Duration;

use alloy::node_bindings::{Anvil, AnvilInstance};

use crate::EthError;

/// Environment variable naming the anvil binary to use instead of the pinned one.
pub const ANVIL_ENV: &str = "LIVEPEER_ANVIL";

/// Chain ID of dev chains started here (anvil's default).
pub const DEV_CHAIN_ID: u64 = 31337;

/// Where anvil is looked for, in order: `$LIVEPEER_ANVIL`, `contracts/node_modules/.bin/anvil`
/// under the current directory and under this repository, then `anvil` on `PATH`.
pub fn anvil_candidates() -> Vec<PathBuf> {
    let mut candidates = Vec::new();
    if let Some(path) = std::env::var_os(ANVIL_ENV) {
        candidates.push(PathBuf::from(path));
    }
    candidates.push(PathBuf::from("contracts/node_modules/.bin/anvil"));
    candidates.push(PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../contracts/node_modules/.bin/anvil"
    )));
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join("anvil")));
    }
    candidates
}

/// The anvil binary.
///
/// Errors: [`EthError::AnvilNotFound`] naming where it looked and how to install it.
pub fn anvil_path() -> Result<PathBuf, EthError> {
    let mut candidates = anvil_candidates();
    match candidates.iter().position(|p| p.is_file()) {
        Some(found) => Ok(candidates.swap_remove(found)),
        None => Err(EthError::AnvilNotFound {
            searched: candidates,
        }),
    }
}

/// Options for a dev chain.
#[derive(Debug, Clone, Default)]
pub struct ChainOptions {
    /// Mine a block every this long; `None` mines one block per transaction (instant).
    pub block_time: Option<Duration>,
    /// Number of funded dev accounts (anvil's default is 10).
    pub accounts: Option<usize>,
}

/// Starts anvil on a free port of 127.0.0.1. The chain stops when the instance is dropped.
///
/// Errors: [`EthError::AnvilNotFound`], [`EthError::AnvilStart`].
pub fn spawn_anvil(options: &ChainOptions) -> Result<AnvilInstance, EthError> {
    let mut anvil = Anvil::at(anvil_path()?)
        .host("127.0.0.1")
        .arg("--code-size-limit")
        .arg("65536");
    if let Some(block_time) = options.block_time {
        anvil = anvil
            .arg("--block-time")
            .arg(format!("{}", block_time.as_secs_f64()));
    }
    if let Some(n) = options.accounts {
        anvil = anvil.arg("--accounts").arg(n.to_string());
    }
    anvil
        .try_spawn()
        .map_err(|e| EthError::AnvilStart(e.to_string()))
}
