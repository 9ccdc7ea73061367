//! The protocol layer from Rust: alloy bindings to the Livepeer contracts, their resolution
//! through the Controller by name (so `-ethController` on Arbitrum One finds the production
//! contracts the same way as a dev deployment), the node's account in a geth keystore
//! ([`accounts`]), JSON-RPC providers with timeouts ([`rpc`]), the Ethereum services a node runs
//! ([`services`]: block and round watchers, gas price, transactions, senders, the ticket
//! broker, reward, round initialization and redemption), and dev deployments on anvil.

pub mod accounts;
pub mod anvil;
pub mod contracts;
pub mod deployment;
pub mod devnet;
mod error;
pub mod gas;
pub mod governance;
pub mod rpc;
pub mod services;

pub use error::{EthError, Revert, TicketRevert};
