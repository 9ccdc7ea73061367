//! Errors of the chain client, with contract reverts decoded into types.

use std::path::PathBuf;

use alloy::primitives::{Address, B256, U256};

/// Everything that can go wrong talking to the protocol contracts.
#[derive(Debug, thiserror::Error)]
pub enum EthError {
    /// No anvil binary was found.
    #[error(
        "anvil not found (looked at {searched:?}); run `make test` or scripts/setup.sh, which install it from npm, or set LIVEPEER_ANVIL"
    )]
    AnvilNotFound {
        /// The paths tried.
        searched: Vec<PathBuf>,
    },
    /// anvil did not start.
    #[error("anvil did not start: {0}")]
    AnvilStart(String),
    /// The JSON-RPC endpoint cannot be reached, did not answer within the request timeout
    /// ([`crate::rpc::DEFAULT_RPC_TIMEOUT`] unless the provider was built with another), or
    /// answered garbage.
    #[error("cannot reach the Ethereum node at {url}: {reason}")]
    Rpc {
        /// The endpoint.
        url: String,
        /// Why, one line with its causes.
        reason: String,
        /// True when the request got no answer in time (the reason then says "timed out").
        timed_out: bool,
    },
    /// The address holds no contract (wrong `-ethController` or wrong chain).
    #[error("no contract at {address} ({what}); is -ethController right for this chain?")]
    NoContract {
        /// The address.
        address: Address,
        /// What was expected there.
        what: String,
    },
    /// The Controller has no entry for a contract name.
    #[error("the Controller at {controller} has no {name} registered")]
    NotRegistered {
        /// The Controller.
        controller: Address,
        /// The registry name.
        name: String,
    },
    /// A call or transaction reverted.
    #[error("{call} reverted: {revert}")]
    Reverted {
        /// `Contract.function`.
        call: String,
        /// Why, decoded.
        revert: Revert,
    },
    /// A transaction could not be sent or confirmed.
    #[error("{call}: {reason}")]
    Transaction {
        /// `Contract.function`.
        call: String,
        /// Why.
        reason: String,
    },
    /// A contract could not be deployed.
    #[error("deploying {contract}: {reason}")]
    Deploy {
        /// The contract.
        contract: String,
        /// Why.
        reason: String,
    },
    /// The password does not decrypt the account's key (the key file's MAC does not match).
    #[error("wrong password for account {address} (key file {})", path.display())]
    WrongPassword {
        /// The account.
        address: Address,
        /// Its key file.
        path: PathBuf,
    },
    /// The keystore holds no key for the requested `-ethAcctAddr`.
    #[error("no key for account {address} in {} (it holds {})", keystore.display(), list_accounts(available))]
    AccountNotFound {
        /// The account asked for.
        address: Address,
        /// The keystore directory or key file searched.
        keystore: PathBuf,
        /// The accounts it does hold.
        available: Vec<Address>,
    },
    /// The keystore holds several keys and no `-ethAcctAddr` chose one.
    #[error("{} holds {} keys ({}); choose one with -ethAcctAddr", keystore.display(), available.len(), list_accounts(available))]
    AmbiguousAccount {
        /// The keystore directory.
        keystore: PathBuf,
        /// The accounts it holds.
        available: Vec<Address>,
    },
    /// No password was given and none can be asked for (standard input is not a terminal).
    #[error("the account key in {} needs a password and standard input is not a terminal; pass -ethPassword (the password, or a file holding it)", keystore.display())]
    NoPassword {
        /// The keystore directory or key file.
        keystore: PathBuf,
    },
    /// A key file cannot be read, is not Web3 Secret Storage V3 JSON, or decrypts to a key that
    /// is not its address's.
    #[error("cannot use the key file {}: {reason}", path.display())]
    KeyFile {
        /// The file.
        path: PathBuf,
        /// Why, one line.
        reason: String,
    },
    /// The keystore directory cannot be listed or created, or a new key cannot be written.
    #[error("cannot use the keystore {}: {reason}", path.display())]
    Keystore {
        /// The directory.
        path: PathBuf,
        /// Why, one line.
        reason: String,
    },
    /// The node refused a transaction (nonce, funds, fee or pool rules), so it was never
    /// pending.
    #[error("{call}: the node refused the transaction: {reason}")]
    TxRejected {
        /// `Contract.function`.
        call: String,
        /// The node's answer, one line.
        reason: String,
    },
    /// A transaction was mined and reverted (its fee is spent).
    #[error("{call} reverted on chain in {tx_hash}: {revert}")]
    TxReverted {
        /// `Contract.function`.
        call: String,
        /// The mined transaction.
        tx_hash: B256,
        /// Why, decoded by replaying the call on the block before ([`Revert::Empty`] when the
        /// replay does not revert).
        revert: Revert,
    },
    /// No receipt came for a transaction or any of its replacements within
    /// `-transactionTimeout` each; the last one may still be mined later.
    #[error("{call}: no receipt after {} attempts (last {})", tx_hashes.len(), tx_hashes.last().map(|h| h.to_string()).unwrap_or_default())]
    TxTimedOut {
        /// `Contract.function`.
        call: String,
        /// Every hash sent, the original first, then each replacement.
        tx_hashes: Vec<B256>,
    },
    /// The node's gas price is above `-maxGasPrice`, so no transaction is sent (go-livepeer
    /// `eth/backend.go:SuggestGasPrice`).
    #[error(
        "current gas price {gas_price_wei} wei exceeds the maximum {max_gas_price_wei} wei (-maxGasPrice)"
    )]
    GasPriceAboveMax {
        /// The node's `eth_gasPrice`, in wei.
        gas_price_wei: U256,
        /// `-maxGasPrice`, in wei.
        max_gas_price_wei: U256,
    },
    /// The chain database (`<dataDir>/chain.sqlite3`) cannot be opened, read or written.
    #[error("chain database {path}: {reason}")]
    ChainDb {
        /// The file, or `:memory:`.
        path: String,
        /// SQLite's error, one line.
        reason: String,
    },
    /// A sender's TicketBroker account was read before [`crate::services::ChainNode::watch_sender`]
    /// cached it.
    #[error("sender {sender} is not watched yet (watch_sender first)")]
    SenderNotWatched {
        /// The sender.
        sender: Address,
    },
    /// The node answered with data that does not fit (a missing block, a header without a
    /// hash, a receipt without a block number).
    #[error("unexpected chain data: {0}")]
    ChainData(String),
    /// The `-ethPassword` file cannot be read, or the terminal prompt failed.
    #[error("cannot read the password from {source_name}: {reason}")]
    Password {
        /// Where it was read from: the file's path, or "the terminal".
        source_name: String,
        /// Why, one line.
        reason: String,
    },
}

/// `0xab…, 0xcd…`, or `no keys`.
fn list_accounts(accounts: &[Address]) -> String {
    if accounts.is_empty() {
        return "no keys".into();
    }
    accounts
        .iter()
        .map(Address::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A decoded revert.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Revert {
    /// `require(..., reason)` / `Error(string)`.
    #[error("{0:?}")]
    Reason(String),
    /// A Solidity panic (`Panic(uint256)`), e.g. 0x11 for arithmetic overflow.
    #[error("panic 0x{0:x}")]
    Panic(u64),
    /// A custom error, by name when its ABI is known, else by selector.
    #[error("{0}")]
    Custom(String),
    /// No revert data.
    #[error("without a reason")]
    Empty,
}

impl Revert {
    /// Decodes revert data: `Error(string)`, `Panic(uint256)`, or a custom error named through
    /// `custom_name` (selector → name).
    pub fn decode(data: &[u8], custom_name: impl Fn([u8; 4]) -> Option<String>) -> Self {
        use alloy::sol_types::{Panic, Revert as SolRevert, SolError};
        if data.is_empty() {
            return Self::Empty;
        }
        if let Ok(r) = SolRevert::abi_decode(data) {
            return Self::Reason(r.reason);
        }
        if let Ok(p) = Panic::abi_decode(data) {
            return Self::Panic(p.code.saturating_to());
        }
        let selector: [u8; 4] = data
            .get(..4)
            .and_then(|s| s.try_into().ok())
            .unwrap_or_default();
        Self::Custom(
            custom_name(selector)
                .unwrap_or_else(|| format!("error 0x{}", alloy::hex::encode(selector))),
        )
    }
}

/// One line for `err` and its causes, and whether any of them is an HTTP request that timed
/// out.
fn describe(err: &(dyn std::error::Error + 'static)) -> (String, bool) {
    use alloy::transports::http::reqwest;
    let mut parts: Vec<String> = Vec::new();
    let mut timed_out = false;
    let mut next = Some(err);
    while let Some(e) = next {
        timed_out |= e
            .downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_timeout);
        let text = e.to_string();
        // Wrappers often print their source too; keep each piece once.
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    let chain = parts.join(": ").replace('\n', " ");
    if timed_out {
        (format!("timed out waiting for an answer ({chain})"), true)
    } else {
        (chain, false)
    }
}

impl EthError {
    /// An [`EthError::Rpc`] for a JSON-RPC request to `url` that failed with `err` (usually an
    /// alloy `TransportError`): the reason is one line with the causes, and starts with "timed
    /// out" when the request got no answer within the transport's timeout.
    pub fn rpc(url: impl Into<String>, err: &(dyn std::error::Error + 'static)) -> Self {
        let (reason, timed_out) = describe(err);
        Self::Rpc {
            url: url.into(),
            reason,
            timed_out,
        }
    }

    /// Whether this is a JSON-RPC request that got no answer in time.
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Self::Rpc {
                timed_out: true,
                ..
            }
        )
    }

    /// Classifies a contract-call error: a revert becomes [`EthError::Reverted`] with the reason
    /// decoded, a node that did not answer (refused, timed out) [`EthError::Rpc`] naming the
    /// call, anything else [`EthError::Transaction`].
    pub fn from_call(call: impl Into<String>, err: alloy::contract::Error) -> Self {
        let call = call.into();
        if let Some(data) = err.as_revert_data() {
            return Self::Reverted {
                call,
                revert: Revert::decode(&data, |_| None),
            };
        }
        if let alloy::contract::Error::TransportError(transport) = &err
            && !transport.is_error_resp()
        {
            // The node did not answer (refused, timed out, garbage): say so, with the call.
            let (reason, timed_out) = describe(transport);
            return Self::Rpc {
                url: "the configured endpoint".into(),
                reason: format!("{call}: {reason}"),
                timed_out,
            };
        }
        Self::Transaction {
            call,
            reason: describe(&err).0,
        }
    }

    /// Classifies a JSON-RPC error of a raw request (`eth_estimateGas`, `eth_call`): revert data
    /// becomes [`EthError::Reverted`], no answer [`EthError::Rpc`], any other error answer
    /// [`EthError::Transaction`].
    pub fn from_transport(
        call: impl Into<String>,
        err: &alloy::transports::TransportError,
    ) -> Self {
        let call = call.into();
        if let Some(data) = err.as_error_resp().and_then(|e| e.as_revert_data()) {
            return Self::Reverted {
                call,
                revert: Revert::decode(&data, |_| None),
            };
        }
        let (reason, timed_out) = describe(err);
        if !err.is_error_resp() {
            return Self::Rpc {
                url: "the configured endpoint".into(),
                reason: format!("{call}: {reason}"),
                timed_out,
            };
        }
        Self::Transaction { call, reason }
    }

    /// The revert reason string, when this is a `require` revert (before sending, or mined).
    pub fn revert_reason(&self) -> Option<&str> {
        match self {
            Self::Reverted {
                revert: Revert::Reason(reason),
                ..
            }
            | Self::TxReverted {
                revert: Revert::Reason(reason),
                ..
            } => Some(reason),
            _ => None,
        }
    }
}

/// Why `TicketBroker.redeemWinningTicket` refused a ticket: the checks of protocol.md §3.4, in
/// their order, identified by the deployed contract's revert strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TicketRevert {
    /// #1 "ticket recipient is null address".
    #[error("ticket recipient is null address")]
    NullRecipient,
    /// #2 "ticket sender is null address".
    #[error("ticket sender is null address")]
    NullSender,
    /// #3 auxData is not 64 bytes.
    #[error("invalid length for ticket auxData")]
    BadAuxData,
    /// #4 the creation round was never initialized.
    #[error("ticket creationRound does not have a block hash")]
    NoBlockHash,
    /// #5 auxData's block hash is not the creation round's.
    #[error("ticket creationRoundBlockHash invalid for creationRound")]
    WrongBlockHash,
    /// #6 the creation round is older than ticketValidityPeriod.
    #[error("ticket is expired")]
    Expired,
    /// #7 keccak256(recipientRand) ≠ recipientRandHash.
    #[error("recipientRand does not match recipientRandHash")]
    RecipientRandMismatch,
    /// #8 already redeemed.
    #[error("ticket is used")]
    Used,
    /// #9/#10 the signature is malformed or not the sender's.
    #[error("invalid signature over ticket hash")]
    InvalidSignature,
    /// #11 keccak256(sig ‖ recipientRand) ≥ winProb.
    #[error("ticket did not win")]
    NotWinning,
    /// #12 the sender's unlock period has passed.
    #[error("sender is unlocked")]
    SenderUnlocked,
    /// #13 no deposit and no reserve.
    #[error("sender deposit and reserve are zero")]
    NoFunds,
    /// The recipient is not a registered orchestrator, so the BondingManager cannot take its
    /// fees (effect 3 of §3.4).
    #[error("transcoder must be registered")]
    RecipientNotRegistered,
    /// The system is paused.
    #[error("system is paused")]
    Paused,
    /// The current round is not initialized.
    #[error("current round is not initialized")]
    RoundNotInitialized,
}

impl TicketRevert {
    /// The check a revert reason names, if it is one of the TicketBroker's.
    pub fn from_reason(reason: &str) -> Option<Self> {
        use TicketRevert::*;
        Some(match reason {
            "ticket recipient is null address" => NullRecipient,
            "ticket sender is null address" => NullSender,
            r if r.starts_with("invalid length for ticket auxData") => BadAuxData,
            "ticket creationRound does not have a block hash" => NoBlockHash,
            "ticket creationRoundBlockHash invalid for creationRound" => WrongBlockHash,
            "ticket is expired" => Expired,
            "recipientRand does not match recipientRandHash" => RecipientRandMismatch,
            "ticket is used" => Used,
            "invalid signature over ticket hash" | "INVALID_SIGNATURE_LENGTH" => InvalidSignature,
            r if r.starts_with("ECDSA: invalid signature") => InvalidSignature,
            "ticket did not win" => NotWinning,
            "sender is unlocked" => SenderUnlocked,
            "sender deposit and reserve are zero" => NoFunds,
            "transcoder must be registered" => RecipientNotRegistered,
            "system is paused" => Paused,
            "current round is not initialized" => RoundNotInitialized,
            _ => return None,
        })
    }

    /// Whether a later retry of the same ticket can succeed (go-livepeer drops used, expired
    /// and losing tickets; a paused system or an uninitialized round may pass).
    pub fn is_retryable(self) -> bool {
        matches!(
            self,
            TicketRevert::Paused | TicketRevert::RoundNotInitialized
        )
    }
}

impl EthError {
    /// The TicketBroker check this error is, when it is a redemption revert.
    pub fn ticket_revert(&self) -> Option<TicketRevert> {
        self.revert_reason().and_then(TicketRevert::from_reason)
    }
}
