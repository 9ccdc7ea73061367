//! Property tests: signatures round-trip, the hash binds every hashed field, the empirical win
//! rate matches winProb, and balances never go negative nor credit a ticket twice.

use alloy_primitives::{Address, B256, U256};
use livepeer_pm::{
    Balances, ExactWei, LocalSigner, PricePerPixel, Ticket, TicketExpirationParams, UpdateOutcome,
    is_winning_ticket, recipient_rand_hash, recover_signer, win_prob,
};
use proptest::prelude::*;

use crate::support::{GWEI, net};

fn arb_u256() -> impl Strategy<Value = U256> {
    any::<[u8; 32]>().prop_map(U256::from_be_bytes)
}

fn arb_ticket() -> impl Strategy<Value = Ticket> {
    (
        any::<[u8; 20]>(),
        any::<[u8; 20]>(),
        arb_u256(),
        arb_u256(),
        any::<u32>(),
        any::<[u8; 32]>(),
        (1u64..i64::MAX as u64),
        any::<[u8; 32]>(),
    )
        .prop_map(|(r, s, fv, wp, nonce, rrh, round, bh)| Ticket {
            recipient: Address::from(r),
            sender: Address::from(s),
            face_value: fv,
            win_prob: wp,
            sender_nonce: nonce,
            recipient_rand_hash: B256::from(rrh),
            expiration_params: TicketExpirationParams {
                creation_round: round,
                creation_round_block_hash: B256::from(bh),
            },
            params_expiration_block: U256::from(7),
            price_per_pixel: PricePerPixel::ZERO,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn sign_then_recover_round_trips(key in any::<[u8; 32]>(), hash in any::<[u8; 32]>()) {
        // Zero and keys >= n are not keys; everything else is.
        let Ok(signer) = LocalSigner::from_bytes(&key) else { return Ok(()) };
        let hash = B256::from(hash);
        let sig = signer.sign(&hash);
        prop_assert!(sig[64] == 27 || sig[64] == 28);
        prop_assert!(U256::from_be_slice(&sig[32..64]) <= livepeer_pm::signature::SECP256K1_HALF_N);
        prop_assert_eq!(recover_signer(&hash, &sig).expect("recovers"), signer.address());
        // Deterministic (RFC 6979).
        prop_assert_eq!(signer.sign(&hash), sig);
    }

    #[test]
    fn hash_changes_with_every_hashed_field(t in arb_ticket(), flip in 1u8..=255, at in 0usize..20) {
        let h = t.hash();
        let mut variants: Vec<(&str, Ticket)> = Vec::new();
        let mut v = t.clone(); v.recipient.0[at] ^= flip; variants.push(("recipient", v));
        let mut v = t.clone(); v.sender.0[at] ^= flip; variants.push(("sender", v));
        let mut v = t.clone(); v.face_value ^= U256::from(flip) << (8 * at); variants.push(("faceValue", v));
        let mut v = t.clone(); v.win_prob ^= U256::from(flip) << (8 * at); variants.push(("winProb", v));
        let mut v = t.clone(); v.sender_nonce ^= u32::from(flip) << (8 * (at % 4)); variants.push(("senderNonce", v));
        let mut v = t.clone(); v.recipient_rand_hash.0[at] ^= flip; variants.push(("recipientRandHash", v));
        let mut v = t.clone(); v.expiration_params.creation_round ^= u64::from(flip) << (8 * (at % 7)); variants.push(("creationRound", v));
        let mut v = t.clone(); v.expiration_params.creation_round_block_hash.0[at] ^= flip; variants.push(("creationRoundBlockHash", v));
        for (field, v) in variants {
            prop_assert_ne!(v.hash(), h, "{} does not change the hash", field);
        }
        // Bound through recipientRand, not the hash.
        let mut v = t.clone();
        v.params_expiration_block += U256::from(1);
        v.price_per_pixel = PricePerPixel::new(3, 7).expect("valid");
        prop_assert_eq!(v.hash(), h);
    }
}

/// 100 000 tickets at winProb = the orchestrator's rule for faceValue = 100 × EV (≈ 1/100): the
/// number of winners lies within 4 σ of 1 000. Every ticket is distinct (its own sender nonce
/// and recipientRand) and really signed by libsecp256k1 (built optimised in test profiles, see
/// the workspace Cargo.toml); each is checked with `keccak256(sig ‖ recipientRand) < winProb`.
#[test]
fn win_rate_matches_win_prob() {
    let ev = U256::from(8 * GWEI);
    let face = ev * U256::from(100);
    let wp = win_prob(ev, face);
    let p = 0.01_f64;
    let signer = LocalSigner::from_bytes(&[0x42; 32]).expect("key");
    let base = Ticket {
        recipient: Address::repeat_byte(0x0a),
        sender: signer.address(),
        face_value: face,
        win_prob: wp,
        sender_nonce: 0,
        recipient_rand_hash: B256::ZERO,
        expiration_params: TicketExpirationParams {
            creation_round: 100,
            creation_round_block_hash: B256::repeat_byte(0xab),
        },
        params_expiration_block: U256::from(1040),
        price_per_pixel: PricePerPixel::ZERO,
    };
    let mut wins = 0u64;
    let mut draws = 0u64;
    for nonce in 1..=100_000u32 {
        let rand = U256::from_be_bytes(alloy_primitives::keccak256(nonce.to_be_bytes()).0);
        let t = Ticket {
            sender_nonce: nonce,
            recipient_rand_hash: recipient_rand_hash(rand),
            ..base.clone()
        };
        let sig = signer.sign(&t.hash());
        draws += 1;
        if is_winning_ticket(&sig, rand, wp) {
            wins += 1;
        }
    }
    assert_eq!(draws, 100_000);
    let n = draws as f64;
    let sigma = (n * p * (1.0 - p)).sqrt();
    let expected = n * p;
    assert!(
        (wins as f64 - expected).abs() <= 4.0 * sigma,
        "{wins} wins in {draws} draws, expected {expected} ± {}",
        4.0 * sigma
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The gateway sends `tickets_for_credit` tickets for each fee; the orchestrator credits
    /// them and debits the fee: its balance never goes negative and matches the gateway's.
    #[test]
    fn balances_never_go_negative(
        face in 1u64..=u64::MAX,
        wp in arb_u256(),
        fees in proptest::collection::vec((1u64..1_000_000_000, 1u64..=1_000), 1..20),
    ) {
        let ev = ExactWei::ticket_ev(U256::from(face), wp);
        prop_assume!(!ev.is_zero());
        let (gw, orch) = (Balances::new(), Balances::new());
        let (o, s) = (Address::repeat_byte(1), "session");
        for (pixels, price_den) in fees {
            let fee = PricePerPixel::new(7, price_den).expect("valid").fee(pixels).expect("fee");
            let staged = gw.stage_update(o, s, fee, ev).expect("stage");
            let credit = ev.checked_mul_u64(staged.num_tickets).expect("credit");
            prop_assert_eq!(credit, staged.new_credit);
            orch.credit(o, s, credit).expect("credit");
            let after = orch.debit(o, s, fee).expect("debit");
            prop_assert!(!after.is_negative(), "balance {} after fee {}", after, fee);
            let mirror = gw
                .complete_update(o, s, &staged, UpdateOutcome::Received { debit: fee })
                .expect("complete");
            prop_assert_eq!(mirror, after);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(8))]

    /// Payments replayed in any order never credit a ticket twice: the total credit is the EV
    /// of the distinct tickets.
    #[test]
    fn no_ticket_is_credited_twice(
        sizes in proptest::collection::vec(1u32..4, 1..5),
        replays in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let n = net(8 * GWEI);
        let session = n.session();
        let batches: Vec<_> = sizes
            .iter()
            .map(|&k| n.sender.create_ticket_batch(&session, k).expect("batch"))
            .collect();
        let ev = batches[0].params.ev();
        let balances = Balances::new();
        let gw = n.gateway_key.address();
        let mut order: Vec<usize> = (0..batches.len()).collect();
        order.extend(replays.iter().map(|i| i.index(batches.len())));
        for i in order {
            let got = n.recipient.receive_payment(&batches[i]).expect("not fatal");
            balances.credit(gw, &got.session_id, got.credit).expect("credit");
        }
        let distinct: u32 = sizes.iter().sum();
        prop_assert_eq!(
            balances.balance(gw, &session).expect("credited"),
            ev.checked_mul_u64(u64::from(distinct)).expect("mul")
        );
    }
}
