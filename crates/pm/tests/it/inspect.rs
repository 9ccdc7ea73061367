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
