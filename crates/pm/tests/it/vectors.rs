//! Every value of `testdata/pm_tickets.json`, reproduced.

use std::sync::Arc;

use alloy_primitives::U256;
use livepeer_pm::{
    ExactWei, LocalSigner, MAX_WIN_PROB, MemoryChain, MemoryTicketStore, PriceInfo, PricePerPixel,
    Recipient, RecipientConfig, RecipientRandInputs, SenderInfo, SenderMonitor, Ticket,
    TicketExpirationParams, TicketStore, eth_signed_message_hash, is_winning_ticket,
    recipient_rand, recipient_rand_hash, recover_signer,
    signature::{EIP191_PREFIX_32, SECP256K1_HALF_N},
    ticket::TICKET_PREIMAGE_LEN,
    win_prob, win_value,
};
use serde_json::Value;

use crate::support::{addr, b256, bytes, s, u64h, u256, vectors};

fn ticket_of(v: &Value) -> Ticket {
    let price = PricePerPixel::try_from(PriceInfo::new(
        i64::try_from(u64h(s(v, "pricePerUnit"))).expect("fits"),
        i64::try_from(u64h(s(v, "pixelsPerUnit"))).expect("fits"),
    ))
    .expect("valid price");
    Ticket {
        recipient: addr(s(v, "recipient")),
        sender: addr(s(v, "sender")),
        face_value: u256(s(v, "faceValue")),
        win_prob: u256(s(v, "winProb")),
        sender_nonce: u32::try_from(u64h(s(v, "senderNonce"))).expect("u32 nonce"),
        recipient_rand_hash: b256(s(v, "recipientRandHash")),
        expiration_params: TicketExpirationParams {
            creation_round: u64h(s(v, "creationRound")),
            creation_round_block_hash: b256(s(v, "creationRoundBlockHash")),
        },
        params_expiration_block: u256(s(v, "paramsExpirationBlock")),
        price_per_pixel: price,
    }
}

fn tickets() -> Vec<Value> {
    let v = vectors();
    let t = v["tickets"].as_array().expect("tickets array").clone();
    assert_eq!(t.len(), 3);
    t
}

#[test]
fn constants_match() {
    let v = vectors();
    let c = &v["constants"];
    assert_eq!(u256(s(c, "maxWinProb")), MAX_WIN_PROB);
    assert_eq!(u256(s(c, "winProbHalf")), U256::from(1) << 255);
    assert_eq!(u256(s(c, "secp256k1HalfN")), SECP256K1_HALF_N);
    assert_eq!(
        u256(s(c, "secp256k1N")) / U256::from(2),
        SECP256K1_HALF_N,
        "half n is floor(n / 2)"
    );
    assert_eq!(bytes(s(c, "eip191Prefix32")), EIP191_PREFIX_32.to_vec());
    assert_eq!(
        u256(s(c, "defaultTicketEV")),
        U256::from(livepeer_pm::recipient::DEFAULT_TICKET_EV_WEI)
    );
    assert_eq!(
        u256(s(c, "redeemGasL2")),
        U256::from(livepeer_pm::recipient::DEFAULT_REDEEM_GAS)
    );
    assert_eq!(
        u256(s(c, "txCostMultiplier")),
        U256::from(livepeer_pm::recipient::DEFAULT_TX_COST_MULTIPLIER)
    );
}

#[test]
fn keys_derive_their_addresses() {
    let v = vectors();
    for k in v["keys"].as_array().expect("keys") {
        let key: [u8; 32] = bytes(s(k, "privateKey")).try_into().expect("32-byte key");
        let signer = LocalSigner::from_bytes(&key).expect("valid key");
        assert_eq!(signer.address(), addr(s(k, "address")));
    }
}

#[test]
fn aux_data_preimage_and_hash() {
    for (i, v) in tickets().iter().enumerate() {
        let t = ticket_of(v);
        assert_eq!(
            t.aux_data().as_slice(),
            bytes(s(v, "auxData")),
            "ticket{}",
            i + 1
        );
        let pre = t.preimage();
        assert_eq!(pre.len(), TICKET_PREIMAGE_LEN);
        assert_eq!(pre, bytes(s(v, "ticketHashPreimage")), "ticket{}", i + 1);
        assert_eq!(t.hash(), b256(s(v, "ticketHash")), "ticket{}", i + 1);
        assert_eq!(
            eth_signed_message_hash(&t.hash()),
            b256(s(v, "ethSignedMessageHash")),
            "ticket{}",
            i + 1
        );
    }
}

#[test]
fn signatures_are_byte_identical_and_recover() {
    for (i, v) in tickets().iter().enumerate() {
        let t = ticket_of(v);
        let key: [u8; 32] = bytes(s(v, "signerPrivateKey"))
            .try_into()
            .expect("32 bytes");
        let signer = LocalSigner::from_bytes(&key).expect("valid key");
        let sig = signer.sign(&t.hash());
        assert_eq!(sig.to_vec(), bytes(s(v, "sig")), "ticket{}", i + 1);
        assert_eq!(sig[..32], bytes(s(v, "sigR"))[..]);
        assert_eq!(sig[32..64], bytes(s(v, "sigS"))[..]);
        assert_eq!(u64::from(sig[64]), u64h(s(v, "sigV")));
        let recovered = recover_signer(&t.hash(), &sig).expect("recovers");
        assert_eq!(recovered, addr(s(v, "recoveredAddress")));
        assert_eq!(recovered, t.sender);
    }
}

#[test]
fn recipient_rand_and_commitment() {
    for (i, v) in tickets().iter().enumerate() {
        let t = ticket_of(v);
        let secret: [u8; 32] = bytes(s(v, "recipientSecret")).try_into().expect("32 bytes");
        let seed = u256(s(v, "seed"));
        assert_eq!(
            (t.price_per_pixel.num(), t.price_per_pixel.den()),
            (
                u64h(s(v, "priceNumNormalized")),
                u64h(s(v, "priceDenomNormalized"))
            )
        );
        let inputs = RecipientRandInputs::of_ticket(&t, seed);
        let msg = inputs.message();
        assert_eq!(
            msg,
            bytes(s(v, "recipientRandHmacMessage")),
            "ticket{}",
            i + 1
        );
        let rand = recipient_rand(&secret, &inputs);
        assert_eq!(rand, u256(s(v, "recipientRand")), "ticket{}", i + 1);
        assert_eq!(
            rand.to_be_bytes::<32>().to_vec(),
            bytes(s(v, "recipientRandPadded"))
        );
        assert_eq!(recipient_rand_hash(rand), t.recipient_rand_hash);
        assert_eq!(recipient_rand_hash(rand), b256(s(v, "recipientRandHash")));
    }
}

#[test]
fn win_values_and_outcomes() {
    for (i, v) in tickets().iter().enumerate() {
        let t = ticket_of(v);
        let sig = bytes(s(v, "sig"));
        let rand = u256(s(v, "recipientRand"));
        let mut pre = sig.clone();
        pre.extend_from_slice(&rand.to_be_bytes::<32>());
        assert_eq!(pre, bytes(s(v, "winCheckPreimage")));
        assert_eq!(
            win_value(&sig, rand),
            u256(s(v, "winCheckValue")),
            "ticket{}",
            i + 1
        );
        let won = u64h(s(v, "won")) == 1;
        assert_eq!(
            is_winning_ticket(&sig, rand, t.win_prob),
            won,
            "ticket{}",
            i + 1
        );
        for against in v["winCheckAgainst"].as_array().expect("array") {
            assert_eq!(
                is_winning_ticket(&sig, rand, u256(s(against, "winProb"))),
                u64h(s(against, "won")) == 1,
                "ticket{} against {}",
                i + 1,
                s(against, "winProb")
            );
        }
        let (neg, floor) = t.ev().floor_wei().expect("fits");
        assert!(!neg);
        assert_eq!(floor, u256(s(v, "evFloorWei")), "ticket{}", i + 1);
    }
}

#[test]
fn ticket3_win_prob_is_what_an_orchestrator_computes() {
    // pm.md §10: EV 8 gwei and faceValue 1.2e6 gas × 0.1 gwei × 100 = 1.2e16.
    let t3 = &tickets()[2];
    let ev = U256::from(livepeer_pm::recipient::DEFAULT_TICKET_EV_WEI);
    assert_eq!(
        win_prob(ev, u256(s(t3, "faceValue"))),
        u256(s(t3, "winProb"))
    );
    assert_eq!(
        ExactWei::ticket_ev(u256(s(t3, "faceValue")), u256(s(t3, "winProb")))
            .floor_wei()
            .expect("fits")
            .1,
        ev
    );
}

/// A recipient holding the vectors' secret accepts each ticket, and stores ticket2 (a winner).
#[test]
fn recipient_accepts_vector_tickets() {
    for (i, v) in tickets().iter().enumerate() {
        let t = ticket_of(v);
        let chain = Arc::new(MemoryChain::new());
        chain.set_round(
            t.expiration_params.creation_round,
            t.expiration_params.creation_round_block_hash,
        );
        chain.set_l1_block(u64h(s(v, "paramsExpirationBlock")) - 1);
        chain.set_pool_size(1);
        chain.set_sender(
            t.sender,
            SenderInfo {
                deposit: U256::from(1u64) << 64,
                withdraw_round: 0,
                reserve_funds_remaining: U256::from(1u64) << 64,
                reserve_claimed_in_current_round: U256::ZERO,
            },
        );
        let store = Arc::new(MemoryTicketStore::new());
        let secret: [u8; 32] = bytes(s(v, "recipientSecret")).try_into().expect("32 bytes");
        let monitor = SenderMonitor::new(t.recipient, chain.clone(), chain.clone(), store.clone());
        let recipient = Recipient::new(
            RecipientConfig::new(t.recipient),
            secret,
            chain.clone(),
            chain.clone(),
            monitor,
            store.clone(),
        );
        let got = recipient
            .receive_ticket(&t, &bytes(s(v, "sig")), u256(s(v, "seed")))
            .unwrap_or_else(|e| panic!("ticket{} refused: {e}", i + 1));
        let won = u64h(s(v, "won")) == 1;
        assert_eq!(got.won, won);
        assert_eq!(got.ticket_hash, b256(s(v, "ticketHash")));
        assert_eq!(got.ev, t.ev());
        let pending = store.pending_tickets(t.sender).expect("store");
        assert_eq!(pending.len(), usize::from(won), "ticket{}", i + 1);
        if won {
            assert_eq!(pending[0].recipient_rand, u256(s(v, "recipientRand")));
            assert_eq!(pending[0].sig, bytes(s(v, "sig")));
        }
    }
}

/// The serialized `net.Payment` of each ticket, both ways, and its header form.
#[test]
fn payment_protobuf_is_byte_identical() {
    use livepeer_pm::payment::{
        decode_payment, decode_payment_header, encode_payment, encode_payment_header,
    };
    use livepeer_pm::{TicketBatch, TicketParams, TicketSenderParams};

    for (i, v) in tickets().iter().enumerate() {
        let t = ticket_of(v);
        let expected = bytes(s(v, "paymentProtobuf"));
        let batch = TicketBatch {
            params: TicketParams {
                recipient: t.recipient,
                face_value: t.face_value,
                win_prob: t.win_prob,
                recipient_rand_hash: t.recipient_rand_hash,
                seed: u256(s(v, "seed")),
                expiration_block: t.params_expiration_block,
                expiration_params: t.expiration_params,
            },
            expiration_params: t.expiration_params,
            sender: t.sender,
            sender_params: vec![TicketSenderParams {
                sender_nonce: t.sender_nonce,
                sig: bytes(s(v, "sig")),
            }],
            expected_price: PriceInfo::new(
                i64::try_from(u64h(s(v, "pricePerUnit"))).expect("fits"),
                i64::try_from(u64h(s(v, "pixelsPerUnit"))).expect("fits"),
            ),
        };
        assert_eq!(encode_payment(&batch), expected, "ticket{}", i + 1);
        assert_eq!(
            decode_payment(&expected).expect("decodes"),
            batch,
            "ticket{}",
            i + 1
        );
        let header = encode_payment_header(&batch);
        assert_eq!(base64_std_decode(&header), expected);
        assert_eq!(decode_payment_header(&header).expect("decodes"), batch);
        // The ticket a recipient rebuilds from the decoded payment is the vector's ticket.
        let decoded = decode_payment(&expected).expect("decodes");
        let rebuilt = decoded.tickets().expect("valid price");
        assert_eq!(rebuilt.len(), 1);
        assert_eq!(rebuilt[0].0.hash(), b256(s(v, "ticketHash")));
        // The seed's wire bytes are minimal (ticket2's is 31 bytes).
        assert_eq!(
            livepeer_pm::payment::min_be_bytes(u256(s(v, "seed"))),
            bytes(s(v, "seedWireBytes"))
        );
    }
}

/// A minimal standard-base64 decoder for the header check (padding required).
fn base64_std_decode(s: &str) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    assert_eq!(s.len() % 4, 0, "padded base64");
    let mut out = Vec::new();
    for chunk in s.as_bytes().chunks(4) {
        let mut acc = 0u32;
        let mut pad = 0;
        for &c in chunk {
            acc <<= 6;
            if c == b'=' {
                pad += 1;
            } else {
                acc |= u32::try_from(ALPHABET.iter().position(|&a| a == c).expect("base64 char"))
                    .expect("fits");
            }
        }
        let b = acc.to_be_bytes();
        out.extend_from_slice(&b[1..4 - pad]);
    }
    out
}
