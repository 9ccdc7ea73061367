//! Fuzzes the orchestrator's handling of untrusted payments: `Livepeer-Payment` header
//! decoding (base64 and protobuf), conversion to a ticket batch, and validation of every
//! ticket (recipientRand, signature recovery, win check, nonce bookkeeping, balances), plus
//! `ticket inspect`'s JSON parser. Nothing may panic.
//!
//! The input is split on its first byte: even, the rest is a header value (text); odd, the
//! rest is raw protobuf. Either way it is also tried as inspect JSON.
#![no_main]

use std::sync::{Arc, OnceLock};

use alloy_primitives::{Address, B256, U256};
use libfuzzer_sys::fuzz_target;
use livepeer_pm::payment::{decode_payment, decode_payment_header};
use livepeer_pm::{
    Balances, MemoryChain, MemoryTicketStore, Recipient, RecipientConfig, SenderInfo,
    SenderMonitor, inspect_ticket_json,
};

struct World {
    recipient: Recipient,
    balances: Balances,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        // The orchestrator of ticket3 of the known-answer vectors (its secret, address and
        // round), so the seed payment passes every check and mutations reach signature
        // recovery, the win check and nonce bookkeeping.
        let chain = Arc::new(MemoryChain::new());
        chain.set_round(
            1,
            "0xc2e0da471a0672c956f8ea0abca937dbbdb21bb2de8970da024267719f0df8ef"
                .parse()
                .unwrap_or(B256::ZERO),
        );
        chain.set_l1_block(5);
        chain.set_pool_size(10);
        chain.set_gas_price(U256::from(100_000_000u64));
        let sender: Address = "0x1a642f0e3c3af545e7acbd38b07251b3990914f1"
            .parse()
            .unwrap_or(Address::ZERO);
        chain.set_sender(
            sender,
            SenderInfo {
                deposit: U256::from(1u64) << 70,
                withdraw_round: 0,
                reserve_funds_remaining: U256::from(1u64) << 70,
                reserve_claimed_in_current_round: U256::ZERO,
            },
        );
        let store = Arc::new(MemoryTicketStore::new());
        let orch: Address = "0x73aed7b5deb30222fa896f399d46cc99c7bee57f"
            .parse()
            .unwrap_or(Address::ZERO);
        let monitor = SenderMonitor::new(orch, chain.clone(), chain.clone(), store.clone());
        World {
            recipient: Recipient::new(
                RecipientConfig::new(orch),
                [3; 32],
                chain.clone(),
                chain,
                monitor,
                store,
            ),
            balances: Balances::new(),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let batch = if mode % 2 == 0 {
        match std::str::from_utf8(rest) {
            Ok(s) => decode_payment_header(s),
            Err(_) => return,
        }
    } else {
        decode_payment(rest)
    };
    if let Ok(batch) = batch {
        let w = world();
        if let Ok(got) = w.recipient.receive_payment(&batch) {
            let _ = w.balances.credit(got.sender, &got.session_id, got.credit);
        }
        let _ = batch.total_ev();
    }
    if let Ok(s) = std::str::from_utf8(rest) {
        if let Ok(report) = inspect_ticket_json(s) {
            let _ = report.to_string();
        }
    }
});
