//! go-livepeer `Payment` encodings from the shared ticket vectors
//! (`testdata/pm_tickets.json` at the repository root).

use base64::Engine as _;
use livepeer_proto::headers::{decode_header, encode_header};
use livepeer_proto::net::Payment;
use prost::Message;
use serde_json::Value;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const VECTORS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../testdata/pm_tickets.json"
));

/// Bytes of a "0x…" hex string, as written (fixed-width values keep their leading zeros).
fn fixed(ticket: &Value, field: &str) -> Result<Vec<u8>, String> {
    let text = ticket[field]
        .as_str()
        .ok_or(format!("{field} is not a string"))?;
    let digits = text.strip_prefix("0x").ok_or(format!("{field} lacks 0x"))?;
    let padded = if digits.len() % 2 == 1 {
        format!("0{digits}")
    } else {
        digits.to_owned()
    };
    hex::decode(padded).map_err(|e| format!("{field}: {e}"))
}

/// Big-endian bytes of a "0x…" number with no leading zero bytes, zero being empty
/// (Go `big.Int.Bytes`, the encoding of every ticket number on the wire).
fn minimal(ticket: &Value, field: &str) -> Result<Vec<u8>, String> {
    let bytes = fixed(ticket, field)?;
    let start = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    Ok(bytes[start..].to_vec())
}

/// A "0x…" number that fits in 64 bits.
fn number(ticket: &Value, field: &str) -> Result<u64, String> {
    let bytes = minimal(ticket, field)?;
    if bytes.len() > 8 {
        return Err(format!("{field} does not fit in 64 bits"));
    }
    Ok(bytes.iter().fold(0, |acc, &b| (acc << 8) | u64::from(b)))
}

fn tickets() -> Result<Vec<Value>, Box<dyn std::error::Error>> {
    let root: Value = serde_json::from_str(VECTORS)?;
    let tickets = root["tickets"]
        .as_array()
        .ok_or("no tickets array")?
        .clone();
    assert!(!tickets.is_empty(), "the vector file has no tickets");
    Ok(tickets)
}

#[test]
fn payment_protobufs_decode_to_the_ticket_fields_and_re_encode_identically() -> TestResult {
    for (i, ticket) in tickets()?.iter().enumerate() {
        let wire = fixed(ticket, "paymentProtobuf")?;
        let payment = Payment::decode(wire.as_slice())?;

        let params = payment.ticket_params.as_ref().ok_or("no ticket_params")?;
        assert_eq!(
            params.recipient,
            fixed(ticket, "recipient")?,
            "ticket {i} recipient"
        );
        assert_eq!(
            params.face_value,
            minimal(ticket, "faceValue")?,
            "ticket {i} faceValue"
        );
        assert_eq!(
            params.win_prob,
            minimal(ticket, "winProb")?,
            "ticket {i} winProb"
        );
        assert_eq!(
            params.recipient_rand_hash,
            fixed(ticket, "recipientRandHash")?,
            "ticket {i} recipientRandHash"
        );
        assert_eq!(
            params.seed,
            fixed(ticket, "seedWireBytes")?,
            "ticket {i} seed"
        );
        assert_eq!(
            params.seed,
            minimal(ticket, "seed")?,
            "ticket {i} seed is minimal"
        );
        assert_eq!(
            params.expiration_block,
            minimal(ticket, "paramsExpirationBlock")?,
            "ticket {i} expiration block"
        );
        // The gateway leaves TicketParams.expiration_params empty; it sends them in field 3.
        assert_eq!(params.expiration_params, None, "ticket {i}");

        assert_eq!(
            payment.sender,
            fixed(ticket, "sender")?,
            "ticket {i} sender"
        );

        let expiration = payment
            .expiration_params
            .as_ref()
            .ok_or("no expiration_params")?;
        assert_eq!(
            u64::try_from(expiration.creation_round)?,
            number(ticket, "creationRound")?,
            "ticket {i} creationRound"
        );
        assert_eq!(
            expiration.creation_round_block_hash,
            fixed(ticket, "creationRoundBlockHash")?,
            "ticket {i} creationRoundBlockHash"
        );

        let [sender_params] = payment.ticket_sender_params.as_slice() else {
            return Err(format!("ticket {i}: expected one TicketSenderParams").into());
        };
        assert_eq!(
            u64::from(sender_params.sender_nonce),
            number(ticket, "senderNonce")?,
            "ticket {i} senderNonce"
        );
        assert_eq!(sender_params.sig, fixed(ticket, "sig")?, "ticket {i} sig");
        assert_eq!(sender_params.sig.len(), 65, "ticket {i} sig is R||S||V");

        let price = payment.expected_price.as_ref().ok_or("no expected_price")?;
        assert_eq!(
            u64::try_from(price.price_per_unit)?,
            number(ticket, "pricePerUnit")?,
            "ticket {i} pricePerUnit"
        );
        assert_eq!(
            u64::try_from(price.pixels_per_unit)?,
            number(ticket, "pixelsPerUnit")?,
            "ticket {i} pixelsPerUnit"
        );

        assert_eq!(
            payment.encode_to_vec(),
            wire,
            "ticket {i}: re-encoding differs"
        );
    }
    Ok(())
}

#[test]
fn payment_headers_carry_the_vector_bytes() -> TestResult {
    for (i, ticket) in tickets()?.iter().enumerate() {
        let wire = fixed(ticket, "paymentProtobuf")?;
        let payment = Payment::decode(wire.as_slice())?;
        // What go-livepeer puts in Livepeer-Payment: base64.StdEncoding of the protobuf bytes.
        let go_header = base64::engine::general_purpose::STANDARD.encode(&wire);
        assert_eq!(encode_header(&payment), go_header, "ticket {i}");
        let decoded: Payment = decode_header(&go_header)?;
        assert_eq!(decoded, payment, "ticket {i}");
    }
    Ok(())
}

#[test]
fn truncated_vector_payments_are_errors() -> TestResult {
    for (i, ticket) in tickets()?.iter().enumerate() {
        let wire = fixed(ticket, "paymentProtobuf")?;
        // Cutting inside the 65-byte signature leaves a length prefix that runs past the end.
        let cut = &wire[..wire.len() - 20];
        let header = base64::engine::general_purpose::STANDARD.encode(cut);
        assert!(decode_header::<Payment>(&header).is_err(), "ticket {i}");
    }
    Ok(())
}
