//! Shared test helpers: the vectors file, hex parsing, a wired orchestrator and gateway.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use alloy_primitives::{Address, B256, U256};
use livepeer_pm::{
    LocalSigner, MemoryChain, MemoryTicketStore, PriceInfo, Recipient, RecipientConfig, Sender,
    SenderConfig, SenderInfo, SenderMonitor, Ticket, TicketStore,
};
use serde_json::Value;

/// The known-answer vectors (a copy of the project's `vectors/pm_tickets.json`).
pub fn vectors() -> Value {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../testdata/pm_tickets.json"
    ));
    serde_json::from_str(text).expect("vectors file is valid JSON")
}

/// The string field `name` of `v`.
pub fn s<'a>(v: &'a Value, name: &str) -> &'a str {
    v[name]
        .as_str()
        .unwrap_or_else(|| panic!("vector field {name} missing"))
}

/// Bytes of a 0x-hex string (odd digit counts get a leading zero).
pub fn bytes(hex_str: &str) -> Vec<u8> {
    let d = hex_str.trim_start_matches("0x");
    let d = if d.len() % 2 == 1 {
        format!("0{d}")
    } else {
        d.to_owned()
    };
    hex::decode(d).expect("valid hex in vectors")
}

/// A U256 from minimal 0x-hex.
pub fn u256(hex_str: &str) -> U256 {
    U256::from_be_slice(&bytes(hex_str))
}

/// A u64 from minimal 0x-hex.
pub fn u64h(hex_str: &str) -> u64 {
    u64::try_from(u256(hex_str)).expect("fits in u64")
}

/// A B256 from 0x-hex.
pub fn b256(hex_str: &str) -> B256 {
    B256::from_slice(&bytes(hex_str))
}

/// An Address from 0x-hex.
pub fn addr(hex_str: &str) -> Address {
    Address::from_slice(&bytes(hex_str))
}

/// Runs a future that never waits on I/O (the in-memory chain's) to completion.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// Ten gwei-ish constants.
pub const GWEI: u64 = 1_000_000_000;

/// An orchestrator and a gateway wired to one in-memory chain.
pub struct Net {
    pub chain: Arc<MemoryChain>,
    pub store: Arc<dyn TicketStore>,
    pub recipient: Recipient,
    pub sender: Sender,
    pub gateway_key: LocalSigner,
    pub orch: Address,
    pub price: PriceInfo,
}

/// Round 100 with a block hash, L1 block 1000, pool of 10, gas price 0.1 gwei, and a gateway
/// with 1 ETH deposit and 10 ETH reserve. Ticket EV `ev_wei`; gateway limits off.
pub fn net_with(
    ev_wei: u64,
    store: Arc<dyn TicketStore>,
    configure: impl FnOnce(&mut RecipientConfig),
) -> Net {
    let chain = Arc::new(MemoryChain::new());
    chain.set_round(99, B256::repeat_byte(0x99));
    chain.set_round(100, B256::repeat_byte(0xab));
    chain.set_l1_block(1000);
    chain.set_pool_size(10);
    chain.set_gas_price(U256::from(GWEI / 10));
    let gateway_key = LocalSigner::from_bytes(&[0x11; 32]).expect("valid key");
    chain.set_sender(
        gateway_key.address(),
        SenderInfo {
            deposit: U256::from(10u64).pow(U256::from(18)),
            withdraw_round: 0,
            reserve_funds_remaining: U256::from(10u64).pow(U256::from(19)),
            reserve_claimed_in_current_round: U256::ZERO,
        },
    );
    let orch = Address::repeat_byte(0x0a);
    let mut config = RecipientConfig::new(orch);
    config.ticket_ev_wei = U256::from(ev_wei);
    configure(&mut config);
    let monitor = SenderMonitor::new(orch, chain.clone(), chain.clone(), store.clone());
    let recipient = Recipient::new(
        config,
        [7u8; 32],
        chain.clone(),
        chain.clone(),
        monitor,
        store.clone(),
    );
    let sender = Sender::new(
        Arc::new(gateway_key.clone()),
        chain.clone(),
        chain.clone(),
        SenderConfig {
            max_ticket_ev_wei: None,
            max_total_ev_wei: None,
            deposit_multiplier: 1,
        },
    );
    Net {
        chain,
        store,
        recipient,
        sender,
        gateway_key,
        orch,
        price: PriceInfo::new(1200, 1),
    }
}

/// [`net_with`] on a fresh memory store.
pub fn net(ev_wei: u64) -> Net {
    net_with(ev_wei, Arc::new(MemoryTicketStore::new()), |_| {})
}

impl Net {
    /// One freshly signed ticket of `session`, with its signature and the params' seed.
    pub fn ticket(&self, session: &str) -> (Ticket, Vec<u8>, U256) {
        let batch = self.sender.create_ticket_batch(session, 1).expect("batch");
        let seed = batch.params.seed;
        let mut tickets = batch.tickets().expect("valid price");
        let (t, sig) = tickets.pop().expect("one ticket");
        (t, sig.to_vec(), seed)
    }

    /// Fresh params for the gateway and a session on them; returns the session id.
    pub fn session(&self) -> String {
        let params = self
            .recipient
            .ticket_params(self.gateway_key.address(), self.price)
            .expect("params issued");
        self.sender
            .start_session(params, self.price)
            .expect("session started")
    }
}
