//! `livepeer ticket inspect` on the vectors.

use livepeer_pm::{PmError, inspect_ticket_json};

use crate::support::{addr, b256, s, u64h, u256, vectors};

#[test]
fn reports_every_vector_ticket() {
    let v = vectors();
    for (i, t) in v["tickets"].as_array().expect("tickets").iter().enumerate() {
        // The vectors' ticket objects carry many more fields; they are ignored.
        let report = inspect_ticket_json(&t.to_string()).expect("inspects");
        assert_eq!(
            report.ticket_hash,
            b256(s(t, "ticketHash")),
            "ticket{}",
            i + 1
        );
        assert_eq!(
            report.eth_signed_message_hash,
            b256(s(t, "ethSignedMessageHash"))
        );
        assert_eq!(report.signer, Some(addr(s(t, "recoveredAddress"))));
        assert!(report.signer_matches_sender);
        assert_eq!(report.recipient_rand_hash_matches, Some(true));
        assert_eq!(report.win_value, Some(u256(s(t, "winCheckValue"))));
        let won = u64h(s(t, "won")) == 1;
        assert_eq!(report.wins, Some(won));

        let json = serde_json::to_value(&report).expect("serializes");
        assert_eq!(json["ticketHash"], s(t, "ticketHash"));
        assert_eq!(json["signerMatchesSender"], true);
        assert_eq!(json["wins"], won);
        assert_eq!(json["ticketHashPreimage"], s(t, "ticketHashPreimage"));

        let text = report.to_string();
        assert!(text.contains(s(t, "ticketHash")), "{text}");
        assert!(
            text.contains(if won {
                "wins:                   yes"
            } else {
                "wins:                   no"
            }),
            "{text}"
        );
    }
}

#[test]
fn without_recipient_rand_and_with_bad_input() {
    let v = vectors();
    let mut t = v["tickets"][2].clone();
    let obj = t.as_object_mut().expect("object");
    obj.remove("recipientRand");
    let report = inspect_ticket_json(&t.to_string()).expect("inspects");
    assert_eq!(
        (report.recipient_rand_hash_matches, report.wins),
        (None, None)
    );
    assert!(report.to_string().contains("unknown"));

    // Another sender: the signature no longer matches it.
    let mut other = t.clone();
    other["sender"] = serde_json::json!("0x5050a4f4b3f9338c3472dcc01a87c76a144b3c9c");
    let report = inspect_ticket_json(&other.to_string()).expect("inspects");
    assert!(!report.signer_matches_sender);
    assert!(report.signer.is_some());

    // A high-s signature: reported, not an error.
    let mut high = t.clone();
    let sig = s(&t, "sig");
    high["sig"] = serde_json::json!(format!("{}ff{}", &sig[..66], &sig[68..]));
    let report = inspect_ticket_json(&high.to_string()).expect("inspects");
    assert_eq!(report.signer, None);
    assert!(report.signature_error.is_some());

    let mut missing = t.clone();
    missing.as_object_mut().expect("object").remove("winProb");
    assert!(matches!(
        inspect_ticket_json(&missing.to_string()),
        Err(PmError::MissingField { field: "winProb" })
    ));
    let mut bad = t.clone();
    bad["recipient"] = serde_json::json!("0x1234");
    assert!(matches!(
        inspect_ticket_json(&bad.to_string()),
        Err(PmError::InvalidField {
            field: "recipient",
            ..
        })
    ));
    assert!(matches!(
        inspect_ticket_json("not json"),
        Err(PmError::Json { .. })
    ));
}

#[test]
fn decimal_integers_are_read_as_decimal_and_bare_hex_is_refused() {
    let v = vectors();
    let t = &v["tickets"][0];
    let want = inspect_ticket_json(&t.to_string()).expect("inspects");
    let face_value = u256(s(t, "faceValue"));
    let win_prob = u256(s(t, "winProb"));

    // The same ticket with its integers in decimal (strings and, where they fit, numbers):
    // the same hash, signer and outcome.
    let mut dec = t.clone();
    dec["faceValue"] = serde_json::json!(face_value.to_string());
    dec["winProb"] = serde_json::json!(win_prob.to_string());
    dec["senderNonce"] = serde_json::json!(u64h(s(t, "senderNonce")));
    dec["creationRound"] = serde_json::json!(u64h(s(t, "creationRound")).to_string());
    dec["recipientRand"] = serde_json::json!(u256(s(t, "recipientRand")).to_string());
    let got = inspect_ticket_json(&dec.to_string()).expect("inspects");
    assert_eq!(got, want);

    // "1000000000000000" is 10^15 wei, not 0x1000000000000000.
    let mut wei = t.clone();
    wei["faceValue"] = serde_json::json!("1000000000000000");
    let report = inspect_ticket_json(&wei.to_string()).expect("inspects");
    assert_eq!(
        report.ticket.face_value,
        alloy_primitives::U256::from(1_000_000_000_000_000u64)
    );
    assert!(
        report
            .to_string()
            .contains("face value:             1000000000000000 wei"),
        "{report}"
    );

    // Table: field, refused value, words the error must carry.
    let refused: &[(&str, serde_json::Value, &str)] = &[
        (
            "faceValue",
            serde_json::json!("38d7ea4c68000"),
            "0x-prefixed hex",
        ),
        ("winProb", serde_json::json!(""), "0x-prefixed hex"),
        (
            "senderNonce",
            serde_json::json!("0x100000000"),
            "out of range",
        ),
        (
            "creationRound",
            serde_json::json!("dac"),
            "without a 0x prefix",
        ),
        (
            "recipientRand",
            serde_json::json!("twelve"),
            "0x-prefixed hex",
        ),
        (
            "recipientRand",
            serde_json::json!(format!("0x1{}", "0".repeat(64))),
            "more than 256 bits",
        ),
        (
            "recipient",
            serde_json::json!(&s(t, "recipient")[2..]),
            "no 0x prefix",
        ),
        ("sig", serde_json::json!(&s(t, "sig")[2..]), "no 0x prefix"),
        (
            "recipientRandHash",
            serde_json::json!(&s(t, "recipientRandHash")[2..]),
            "no 0x prefix",
        ),
    ];
    for (name, value, words) in refused {
        let mut bad = t.clone();
        bad[*name] = value.clone();
        match inspect_ticket_json(&bad.to_string()) {
            Err(e @ PmError::InvalidField { field, .. }) if field == *name => {
                let text = e.to_string();
                assert!(text.contains(name), "{text}");
                assert!(text.contains(words), "{name}={value}: {text}");
            }
            other => panic!("{name}={value}: {other:?}"),
        }
    }
}

#[test]
fn a_recipient_rand_that_does_not_match_never_wins() {
    let v = vectors();
    // Try a few wrong recipientRands per ticket, so that some have a win value below winProb
    // (two of the vectors' winProbs are 1/2 or more): those must still not win.
    let mut saw_low_win_value = false;
    for t in v["tickets"].as_array().expect("tickets") {
        let rand = u256(s(t, "recipientRand"));
        for delta in 1u64..=16 {
            let mut bad = t.clone();
            bad["recipientRand"] =
                serde_json::json!(format!("{:#x}", rand ^ alloy_primitives::U256::from(delta)));
            let report = inspect_ticket_json(&bad.to_string()).expect("inspects");
            assert_eq!(report.recipient_rand_hash_matches, Some(false));
            assert_eq!(report.wins, Some(false));
            let win_value = report.win_value.expect("win value");
            saw_low_win_value |= win_value < report.ticket.win_prob;
            let json = serde_json::to_value(&report).expect("serializes");
            assert_eq!(json["wins"], false);
            let text = report.to_string();
            assert!(text.contains("recipientRand matches:  no"), "{text}");
            assert!(
                text.contains(
                    "wins:                   no (recipientRand does not match recipientRandHash)"
                ),
                "{text}"
            );
            assert!(!text.contains("wins:                   yes"), "{text}");
        }
    }
    assert!(
        saw_low_win_value,
        "no wrong rand had a win value below winProb"
    );
}
