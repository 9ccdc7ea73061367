//! Probabilistic micropayments (PM) for Livepeer, byte-compatible with go-livepeer and the
//! TicketBroker contract.
//!
//! A gateway pays an orchestrator with signed lottery tickets. The orchestrator issues
//! [`TicketParams`] (face value, win probability, a commitment to a secret recipientRand); the
//! gateway's [`Sender`] signs a [`TicketBatch`] per payment with fresh sender nonces; the
//! orchestrator's [`Recipient`] validates every ticket, credits its expected value into
//! [`Balances`], and commits each winner to a [`TicketStore`] (durably, with
//! [`SqliteTicketStore`]) before the payment is acknowledged; winners are redeemed on chain
//! through a [`TicketBroker`] once their parameters expire.
//!
//! | module | what | go-livepeer source |
//! |---|---|---|
//! | [`ticket`] | ticket types, the 232-byte hash preimage, win check, EV | `pm/ticket.go`, `pm/validator.go` |
//! | [`signature`] | EIP-191 signing and recovery (libsecp256k1), low-s rule | `eth/accountmanager.go`, `crypto/verify.go` |
//! | [`recipient`] | params, recipientRand HMAC, validation order, nonces, redemption | `pm/recipient.go`, `pm/queue.go` |
//! | [`sender`] | sessions, nonces, batches, acceptance rules | `pm/sender.go` |
//! | [`balance`] | exact balances, ticket count for a fee | `core/accounting.go` |
//! | [`mod@max_float`] | reserve allocation and max float | `pm/sendermonitor.go` |
//! | [`chain`] | chain data behind traits, in-memory chain | `pm/interfaces.go`, `eth/watchers` |
//! | [`store`] | winning-ticket store, SQLite (WAL, synchronous FULL) | `common/db.go` |
//! | [`payment`] | `net.Payment` and the `Livepeer-Payment` header | `server/segment_rpc.go` |
//! | [`inspect`] | `livepeer ticket inspect` | – |
//!
//! ```
//! use std::sync::Arc;
//! use alloy_primitives::{Address, B256, U256};
//! use livepeer_pm::*;
//!
//! // One chain (in memory here; crates/eth implements the traits against a node).
//! let chain = Arc::new(MemoryChain::new());
//! chain.set_round(100, B256::repeat_byte(0xab));
//! chain.set_l1_block(1000);
//! chain.set_pool_size(10);
//! chain.set_gas_price(U256::from(100_000_000u64)); // 0.1 gwei
//! let gateway = Arc::new(LocalSigner::from_bytes(&[0x11; 32])?);
//! let eth = U256::from(10u64).pow(U256::from(18));
//! chain.set_sender(gateway.address(), SenderInfo {
//!     deposit: eth,
//!     reserve_funds_remaining: eth,
//!     ..Default::default()
//! });
//!
//! // The orchestrator issues parameters for the gateway at its price.
//! let orch = Address::repeat_byte(0x0a);
//! let store: Arc<dyn TicketStore> = Arc::new(SqliteTicketStore::open_in_memory()?);
//! let monitor = SenderMonitor::new(orch, chain.clone(), chain.clone(), store.clone());
//! let recipient = Recipient::with_random_secret(
//!     RecipientConfig::new(orch), chain.clone(), chain.clone(), monitor, store);
//! let price = PriceInfo::new(1200, 1);
//! let params = recipient.ticket_params(gateway.address(), price)?;
//!
//! // The gateway pays for a segment with a batch of tickets in the Livepeer-Payment header.
//! let sender = Sender::new(gateway, chain.clone(), chain.clone(), SenderConfig::default());
//! let session = sender.start_session(params, price)?;
//! let header = payment::encode_payment_header(&sender.create_ticket_batch(&session, 3)?);
//!
//! // The orchestrator validates it and credits the expected value.
//! let batch = payment::decode_payment_header(&header)?;
//! let received = recipient.receive_payment(&batch)?;
//! assert_eq!((received.accepted, received.error.is_none()), (3, true));
//! let balances = Balances::new();
//! balances.credit(received.sender, &received.session_id, received.credit)?;
//! assert!(balances.sufficient_balance(
//!     received.sender, &session, ExactWei::from_wei(U256::from(8_000_000_000u64))));
//! # Ok::<(), PmError>(())
//! ```
//!
//! Money is [`alloy_primitives::U256`] wei with checked arithmetic, and credits are exact
//! rationals ([`ExactWei`]) like go's `big.Rat`. The crate does no I/O except the SQLite store.
//! The specification is `pm.md` of the project's reference notes; section numbers cited in
//! the docs refer to it.

pub mod balance;
pub mod chain;
mod error;
mod hexser;
pub mod inspect;
pub mod max_float;
pub mod money;
pub mod payment;
pub mod recipient;
pub mod sender;
pub mod signature;
pub mod store;
pub mod ticket;

pub use balance::{Balances, StagedUpdate, UpdateOutcome, tickets_for_credit};
pub use chain::{
    GasPriceSource, MemoryChain, SenderInfo, SenderInfoSource, TicketBroker, TimeSource,
};
pub use error::PmError;
pub use inspect::{InspectReport, inspect_ticket_json};
pub use max_float::{SenderMonitor, max_float, reserve_alloc};
pub use money::{ExactWei, MAX_WIN_PROB, PriceInfo, PricePerPixel};
pub use recipient::{
    MAX_SENDER_NONCES, ReceivedPayment, ReceivedTicket, Recipient, RecipientConfig,
    RecipientRandInputs, recipient_rand, win_prob,
};
pub use sender::{Sender, SenderConfig, TicketBatch};
pub use signature::{
    LocalSigner, TicketSigner, eth_signed_message_hash, recover_signer, verify_signature,
};
pub use store::sqlite::SqliteTicketStore;
pub use store::{MemoryTicketStore, Settlement, TicketStore, WinningTicket};
pub use ticket::{
    Ticket, TicketExpirationParams, TicketParams, TicketSenderParams, is_winning_ticket,
    recipient_rand_hash, win_value,
};
