//! `livepeer ticket inspect`: decode one ticket given as JSON and report its hash, signer and
//! (with recipientRand) its commitment and win outcome.
//!
//! The JSON shape is a ticket object of `testdata/pm_tickets.json`: `recipient`, `sender`,
//! `faceValue`, `winProb`, `senderNonce`, `recipientRandHash`, `creationRound`,
//! `creationRoundBlockHash`, `sig`, and optionally `recipientRand`; other fields are ignored.
//!
//! Input is read strictly, so that a value is never silently taken in the wrong base:
//!
//! - Integer fields (`faceValue`, `winProb`, `senderNonce`, `creationRound`, `recipientRand`)
//!   are a `0x`-prefixed hex string with any number of digits (minimal form, as in the
//!   vectors), a string of decimal digits only (read as decimal: `"1000000000000000"` is
//!   10^15 wei), or a non-negative JSON integer. Hex digits without `0x`, an empty string,
//!   signs, spaces, fractions and values that overflow the field are refused.
//! - Byte fields (`recipient`, `sender`, `recipientRandHash`, `creationRoundBlockHash`, `sig`)
//!   are `0x`-prefixed hex with an even number of digits and the field's exact width.
//!
//! The win outcome is only reported as a win when recipientRand opens the ticket's
//! recipientRandHash commitment: a recipientRand that does not match cannot redeem the ticket,
//! so the report says it does not win and why.

use std::fmt;

use alloy_primitives::{Address, B256, U256};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    ExactWei, PmError, PricePerPixel, Ticket, TicketExpirationParams, eth_signed_message_hash,
    recipient_rand_hash, recover_signer, win_value,
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TicketJson {
    recipient: Option<Value>,
    sender: Option<Value>,
    face_value: Option<Value>,
    win_prob: Option<Value>,
    sender_nonce: Option<Value>,
    recipient_rand_hash: Option<Value>,
    creation_round: Option<Value>,
    creation_round_block_hash: Option<Value>,
    sig: Option<Value>,
    recipient_rand: Option<Value>,
}

/// What `livepeer ticket inspect` prints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InspectReport {
    /// The decoded ticket.
    #[serde(skip)]
    pub ticket: Ticket,
    /// The ticket hash (keccak256 of the packed preimage).
    pub ticket_hash: B256,
    /// The EIP-191 digest that was signed.
    pub eth_signed_message_hash: B256,
    /// The hash preimage, 0x-hex (232 bytes, or 168 with empty auxData).
    #[serde(serialize_with = "crate::hexser::bytes")]
    pub ticket_hash_preimage: Vec<u8>,
    /// The address the signature recovers to, if it does.
    pub signer: Option<Address>,
    /// Why no signer was recovered (bad length, high s, bad v, no key).
    pub signature_error: Option<String>,
    /// True when the recovered signer is the ticket's sender.
    pub signer_matches_sender: bool,
    /// The ticket EV in wei, exact (`num/den` when fractional).
    pub ev_wei: ExactWei,
    /// With recipientRand: whether keccak256(u256(recipientRand)) is the ticket's recipientRandHash.
    pub recipient_rand_hash_matches: Option<bool>,
    /// With recipientRand: the win value keccak256(sig ‖ u256(recipientRand)).
    pub win_value: Option<U256>,
    /// With recipientRand: whether the ticket wins, i.e. recipientRand matches
    /// recipientRandHash *and* the win value is below winProb. Always false when
    /// recipientRand does not match, since such a ticket cannot be redeemed.
    pub wins: Option<bool>,
}

/// The hint every refused integer carries.
const INT_FORMS: &str = "use 0x-prefixed hex or decimal digits";

fn field<'a>(v: &'a Option<Value>, name: &'static str) -> Result<&'a Value, PmError> {
    v.as_ref().ok_or(PmError::MissingField { field: name })
}

fn invalid(name: &'static str, reason: impl Into<String>) -> PmError {
    PmError::InvalidField {
        field: name,
        reason: reason.into(),
    }
}

/// The hex digits after a `0x`/`0X` prefix, or `None` without one.
fn strip_0x(s: &str) -> Option<&str> {
    s.strip_prefix("0x").or_else(|| s.strip_prefix("0X"))
}

/// A byte field: a string of `0x` and an even number of hex digits.
fn parse_bytes(v: &Value, name: &'static str) -> Result<Vec<u8>, PmError> {
    let s = v
        .as_str()
        .ok_or_else(|| invalid(name, "not a string; use 0x-prefixed hex"))?;
    let digits = strip_0x(s).ok_or_else(|| {
        invalid(
            name,
            format!("{s:?} has no 0x prefix; byte fields are 0x-prefixed hex"),
        )
    })?;
    if digits.len() % 2 == 1 {
        return Err(invalid(
            name,
            format!("{s:?} has an odd number of hex digits"),
        ));
    }
    hex::decode(digits).map_err(|e| invalid(name, format!("{s:?} is not hex: {e}")))
}

fn parse_fixed<const N: usize>(v: &Value, name: &'static str) -> Result<[u8; N], PmError> {
    let bytes = parse_bytes(v, name)?;
    <[u8; N]>::try_from(bytes.as_slice())
        .map_err(|_| invalid(name, format!("{} bytes, expected {N}", bytes.len())))
}

/// An integer field: `0x`-prefixed hex, a string of decimal digits, or a JSON integer.
fn parse_u256(v: &Value, name: &'static str) -> Result<U256, PmError> {
    let s = match v {
        Value::String(s) => s.as_str(),
        Value::Number(n) => {
            return n.as_u64().map(U256::from).ok_or_else(|| {
                invalid(
                    name,
                    format!(
                        "{n} is not a non-negative integer below 2^64; {INT_FORMS} in a string"
                    ),
                )
            });
        }
        _ => {
            return Err(invalid(
                name,
                format!("not a string or number; {INT_FORMS}"),
            ));
        }
    };
    let (digits, radix) = match strip_0x(s) {
        Some(d) => (d, 16),
        None => (s, 10),
    };
    let valid = !digits.is_empty()
        && if radix == 16 {
            digits.bytes().all(|b| b.is_ascii_hexdigit())
        } else {
            digits.bytes().all(|b| b.is_ascii_digit())
        };
    if !valid {
        let why = if radix == 10 && !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            "looks like hex without a 0x prefix"
        } else {
            "is not an integer"
        };
        return Err(invalid(name, format!("{s:?} {why}; {INT_FORMS}")));
    }
    U256::from_str_radix(digits, radix)
        .map_err(|_| invalid(name, format!("{s:?} is more than 256 bits")))
}

fn parse_uint<T: TryFrom<U256>>(v: &Value, name: &'static str) -> Result<T, PmError> {
    let n = parse_u256(v, name)?;
    T::try_from(n).map_err(|_| {
        invalid(
            name,
            format!("{n} is out of range (at most {} bits)", size_of::<T>() * 8),
        )
    })
}

/// Parses one ticket in the JSON shape of the vectors file and reports on it.
///
/// Errors: [`PmError::Json`] for malformed JSON, [`PmError::MissingField`] for an absent
/// required field, [`PmError::InvalidField`] (naming the field) for a value not in one of the
/// forms the [module docs](self) list: hex without `0x`, an empty or non-numeric integer, an
/// integer that overflows its field, or a byte field of the wrong width. A bad signature is
/// not an error: it is reported in [`InspectReport::signature_error`].
pub fn inspect_ticket_json(json: &str) -> Result<InspectReport, PmError> {
    let j: TicketJson = serde_json::from_str(json)?;
    let ticket = Ticket {
        recipient: Address::from(parse_fixed::<20>(
            field(&j.recipient, "recipient")?,
            "recipient",
        )?),
        sender: Address::from(parse_fixed::<20>(field(&j.sender, "sender")?, "sender")?),
        face_value: parse_u256(field(&j.face_value, "faceValue")?, "faceValue")?,
        win_prob: parse_u256(field(&j.win_prob, "winProb")?, "winProb")?,
        sender_nonce: parse_uint::<u32>(field(&j.sender_nonce, "senderNonce")?, "senderNonce")?,
        recipient_rand_hash: B256::from(parse_fixed::<32>(
            field(&j.recipient_rand_hash, "recipientRandHash")?,
            "recipientRandHash",
        )?),
        expiration_params: TicketExpirationParams {
            creation_round: parse_uint::<u64>(
                field(&j.creation_round, "creationRound")?,
                "creationRound",
            )?,
            creation_round_block_hash: B256::from(parse_fixed::<32>(
                field(&j.creation_round_block_hash, "creationRoundBlockHash")?,
                "creationRoundBlockHash",
            )?),
        },
        params_expiration_block: U256::ZERO,
        price_per_pixel: PricePerPixel::ZERO,
    };
    let sig = parse_bytes(field(&j.sig, "sig")?, "sig")?;
    let recipient_rand = j
        .recipient_rand
        .as_ref()
        .map(|v| parse_u256(v, "recipientRand"))
        .transpose()?;

    let ticket_hash = ticket.hash();
    let (signer, signature_error) = match recover_signer(&ticket_hash, &sig) {
        Ok(a) => (Some(a), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let rand_matches = recipient_rand.map(|r| recipient_rand_hash(r) == ticket.recipient_rand_hash);
    let win = recipient_rand.map(|r| win_value(&sig, r));
    Ok(InspectReport {
        ticket_hash,
        eth_signed_message_hash: eth_signed_message_hash(&ticket_hash),
        ticket_hash_preimage: ticket.preimage(),
        signer,
        signature_error,
        signer_matches_sender: signer == Some(ticket.sender),
        ev_wei: ticket.ev(),
        recipient_rand_hash_matches: rand_matches,
        win_value: win,
        wins: rand_matches
            .zip(win)
            .map(|(matches, v)| matches && v < ticket.win_prob),
        ticket,
    })
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

impl fmt::Display for InspectReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = &self.ticket;
        writeln!(f, "recipient:              {}", t.recipient)?;
        writeln!(f, "sender:                 {}", t.sender)?;
        writeln!(f, "face value:             {} wei", t.face_value)?;
        writeln!(f, "win probability:        {:#x}", t.win_prob)?;
        writeln!(f, "sender nonce:           {}", t.sender_nonce)?;
        writeln!(
            f,
            "creation round:         {} ({})",
            t.expiration_params.creation_round, t.expiration_params.creation_round_block_hash
        )?;
        writeln!(f, "ticket hash:            {}", self.ticket_hash)?;
        writeln!(
            f,
            "signed digest (EIP-191): {}",
            self.eth_signed_message_hash
        )?;
        writeln!(f, "expected value:         {} wei", self.ev_wei)?;
        match (&self.signer, &self.signature_error) {
            (Some(s), _) => writeln!(
                f,
                "signer:                 {s} (matches sender: {})",
                yes_no(self.signer_matches_sender)
            )?,
            (None, Some(e)) => writeln!(f, "signer:                 none ({e})")?,
            (None, None) => writeln!(f, "signer:                 none")?,
        }
        match (self.recipient_rand_hash_matches, self.win_value, self.wins) {
            (Some(m), Some(v), Some(w)) => {
                writeln!(f, "recipientRand matches:  {}", yes_no(m))?;
                writeln!(f, "win value:              {v:#066x}")?;
                if m {
                    write!(f, "wins:                   {}", yes_no(w))
                } else {
                    write!(
                        f,
                        "wins:                   no (recipientRand does not match recipientRandHash)"
                    )
                }
            }
            _ => write!(
                f,
                "wins:                   unknown (no recipientRand given)"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn integer_fields_accept_0x_hex_decimal_digits_and_json_integers() {
        let max = U256::MAX;
        let cases: &[(Value, U256)] = &[
            (
                json!("0x38d7ea4c68000"),
                U256::from(1_000_000_000_000_000u64),
            ),
            (
                json!("0X38D7EA4C68000"),
                U256::from(1_000_000_000_000_000u64),
            ),
            (
                json!("1000000000000000"),
                U256::from(1_000_000_000_000_000u64),
            ),
            (json!("0x0"), U256::ZERO),
            (json!("0"), U256::ZERO),
            (json!("0x1"), U256::from(1)),
            (json!("10"), U256::from(10)),
            (json!("0x0000000a"), U256::from(10)),
            (json!("007"), U256::from(7)),
            (
                json!(1_000_000_000_000_000u64),
                U256::from(1_000_000_000_000_000u64),
            ),
            (json!(0), U256::ZERO),
            (json!(format!("{max:#x}")), max),
            (json!(max.to_string()), max),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_u256(input, "faceValue").expect("accepted"),
                *want,
                "{input}"
            );
        }
    }

    #[test]
    fn integer_fields_refuse_everything_else_naming_the_field() {
        let too_big_hex = format!("0x1{}", "0".repeat(64));
        let too_big_dec = format!("{}0", U256::MAX);
        let cases: &[(Value, &str)] = &[
            (json!("38d7ea4c68000"), "hex without a 0x prefix"),
            (json!("abc"), "hex without a 0x prefix"),
            (json!("ff"), "hex without a 0x prefix"),
            (json!(""), "is not an integer"),
            (json!("0x"), "is not an integer"),
            (json!("0xg1"), "is not an integer"),
            (json!("1e18"), "hex without a 0x prefix"),
            (json!("1.5"), "is not an integer"),
            (json!("-1"), "is not an integer"),
            (json!("+1"), "is not an integer"),
            (json!(" 1"), "is not an integer"),
            (json!("1_000"), "is not an integer"),
            (json!("garbage"), "is not an integer"),
            (json!(too_big_hex), "more than 256 bits"),
            (json!(too_big_dec), "more than 256 bits"),
            (json!(-1), "non-negative integer"),
            (json!(1.5), "non-negative integer"),
            (json!(true), "not a string or number"),
            (json!(null), "not a string or number"),
        ];
        for (input, why) in cases {
            match parse_u256(input, "faceValue") {
                Err(
                    e @ PmError::InvalidField {
                        field: "faceValue", ..
                    },
                ) => {
                    let text = e.to_string();
                    assert!(text.starts_with("invalid faceValue: "), "{text}");
                    assert!(text.contains(why), "{input}: {text}");
                    if *why != "more than 256 bits" {
                        assert!(text.contains("0x-prefixed hex"), "{input}: {text}");
                    }
                }
                other => panic!("{input}: {other:?}"),
            }
        }
    }

    #[test]
    fn narrow_integer_fields_refuse_overflow() {
        assert_eq!(
            parse_uint::<u32>(&json!("4294967295"), "senderNonce").expect("fits"),
            u32::MAX
        );
        assert_eq!(
            parse_uint::<u32>(&json!("0xffffffff"), "senderNonce").expect("fits"),
            u32::MAX
        );
        for input in [
            json!("4294967296"),
            json!("0x100000000"),
            json!(4_294_967_296u64),
        ] {
            assert!(
                matches!(
                    parse_uint::<u32>(&input, "senderNonce"),
                    Err(PmError::InvalidField { field: "senderNonce", ref reason })
                        if reason.contains("out of range")
                ),
                "{input}"
            );
        }
        assert!(matches!(
            parse_uint::<u64>(&json!("18446744073709551616"), "creationRound"),
            Err(PmError::InvalidField {
                field: "creationRound",
                ..
            })
        ));
    }

    #[test]
    fn byte_fields_require_0x_hex_of_the_exact_width() {
        let addr = "5050a4f4b3f9338c3472dcc01a87c76a144b3c9c";
        assert_eq!(
            parse_fixed::<20>(&json!(format!("0x{addr}")), "recipient").expect("accepted"),
            <[u8; 20]>::try_from(hex::decode(addr).expect("hex").as_slice()).expect("20")
        );
        assert_eq!(
            parse_bytes(&json!("0x"), "sig").expect("empty is bytes"),
            Vec::<u8>::new()
        );
        let cases: &[(Value, &str)] = &[
            (json!(addr), "no 0x prefix"),
            (json!(format!("0x{addr}00")), "21 bytes, expected 20"),
            (json!("0x1234"), "2 bytes, expected 20"),
            (
                json!(format!("0x{}", &addr[1..])),
                "odd number of hex digits",
            ),
            (json!(format!("0x{}zz", &addr[2..])), "is not hex"),
            (json!(""), "no 0x prefix"),
            (json!(12), "not a string"),
        ];
        for (input, why) in cases {
            match parse_fixed::<20>(input, "recipient") {
                Err(
                    e @ PmError::InvalidField {
                        field: "recipient", ..
                    },
                ) => assert!(e.to_string().contains(why), "{input}: {e}"),
                other => panic!("{input}: {other:?}"),
            }
        }
    }
}
