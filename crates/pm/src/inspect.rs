//! `livepeer ticket inspect`: decode one ticket given as JSON and report its hash, signer and
//! (with recipientRand) its commitment and win outcome.
//!
//! The JSON shape is a ticket object of `testdata/pm_tickets.json`: 0x-hex strings for
//! `recipient`, `sender`, `faceValue`, `winProb`, `senderNonce`, `recipientRandHash`,
//! `creationRound`, `creationRoundBlockHash`, `sig`, and optionally `recipientRand`. Integers
//! may have any number of hex digits (minimal form, as in the vectors); other fields are ignored.

use std::fmt;

use alloy_primitives::{Address, B256, U256};
use serde::{Deserialize, Serialize};

use crate::{
    ExactWei, PmError, PricePerPixel, Ticket, TicketExpirationParams, eth_signed_message_hash,
    recipient_rand_hash, recover_signer, win_value,
};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TicketJson {
    recipient: Option<String>,
    sender: Option<String>,
    face_value: Option<String>,
    win_prob: Option<String>,
    sender_nonce: Option<String>,
    recipient_rand_hash: Option<String>,
    creation_round: Option<String>,
    creation_round_block_hash: Option<String>,
    sig: Option<String>,
    recipient_rand: Option<String>,
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
    /// With recipientRand: whether the win value is below winProb.
    pub wins: Option<bool>,
}

fn field<'a>(v: &'a Option<String>, name: &'static str) -> Result<&'a str, PmError> {
    v.as_deref().ok_or(PmError::MissingField { field: name })
}

fn hex_bytes(s: &str, name: &'static str) -> Result<Vec<u8>, PmError> {
    let s = s.trim();
    let digits = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    let padded;
    let digits = if digits.len() % 2 == 1 {
        padded = format!("0{digits}");
        padded.as_str()
    } else {
        digits
    };
    hex::decode(digits).map_err(|e| PmError::InvalidField {
        field: name,
        reason: e.to_string(),
    })
}

fn hex_fixed<const N: usize>(s: &str, name: &'static str) -> Result<[u8; N], PmError> {
    let bytes = hex_bytes(s, name)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| PmError::InvalidField {
        field: name,
        reason: format!("{} bytes, expected {N}", bytes.len()),
    })
}

fn hex_u256(s: &str, name: &'static str) -> Result<U256, PmError> {
    let bytes = hex_bytes(s, name)?;
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    let bytes = &bytes[start..];
    if bytes.len() > 32 {
        return Err(PmError::InvalidField {
            field: name,
            reason: "more than 256 bits".into(),
        });
    }
    Ok(U256::from_be_slice(bytes))
}

fn hex_uint<T: TryFrom<U256>>(s: &str, name: &'static str) -> Result<T, PmError> {
    let v = hex_u256(s, name)?;
    T::try_from(v).map_err(|_| PmError::InvalidField {
        field: name,
        reason: "out of range".into(),
    })
}

/// Parses one ticket in the JSON shape of the vectors file and reports on it.
///
/// Errors: [`PmError::Json`] for malformed JSON, [`PmError::MissingField`] for an absent
/// required field, [`PmError::InvalidField`] for bad hex or a wrong width. A bad signature is
/// not an error: it is reported in [`InspectReport::signature_error`].
pub fn inspect_ticket_json(json: &str) -> Result<InspectReport, PmError> {
    let j: TicketJson = serde_json::from_str(json)?;
    let ticket = Ticket {
        recipient: Address::from(hex_fixed::<20>(
            field(&j.recipient, "recipient")?,
            "recipient",
        )?),
        sender: Address::from(hex_fixed::<20>(field(&j.sender, "sender")?, "sender")?),
        face_value: hex_u256(field(&j.face_value, "faceValue")?, "faceValue")?,
        win_prob: hex_u256(field(&j.win_prob, "winProb")?, "winProb")?,
        sender_nonce: hex_uint::<u32>(field(&j.sender_nonce, "senderNonce")?, "senderNonce")?,
        recipient_rand_hash: B256::from(hex_fixed::<32>(
            field(&j.recipient_rand_hash, "recipientRandHash")?,
            "recipientRandHash",
        )?),
        expiration_params: TicketExpirationParams {
            creation_round: hex_uint::<u64>(
                field(&j.creation_round, "creationRound")?,
                "creationRound",
            )?,
            creation_round_block_hash: B256::from(hex_fixed::<32>(
                field(&j.creation_round_block_hash, "creationRoundBlockHash")?,
                "creationRoundBlockHash",
            )?),
        },
        params_expiration_block: U256::ZERO,
        price_per_pixel: PricePerPixel::ZERO,
    };
    let sig = hex_bytes(field(&j.sig, "sig")?, "sig")?;
    let recipient_rand = j
        .recipient_rand
        .as_deref()
        .map(|s| hex_u256(s, "recipientRand"))
        .transpose()?;

    let ticket_hash = ticket.hash();
    let (signer, signature_error) = match recover_signer(&ticket_hash, &sig) {
        Ok(a) => (Some(a), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let win = recipient_rand.map(|r| win_value(&sig, r));
    Ok(InspectReport {
        ticket_hash,
        eth_signed_message_hash: eth_signed_message_hash(&ticket_hash),
        ticket_hash_preimage: ticket.preimage(),
        signer,
        signature_error,
        signer_matches_sender: signer == Some(ticket.sender),
        ev_wei: ticket.ev(),
        recipient_rand_hash_matches: recipient_rand
            .map(|r| recipient_rand_hash(r) == ticket.recipient_rand_hash),
        win_value: win,
        wins: win.map(|v| v < ticket.win_prob),
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
                write!(f, "wins:                   {}", yes_no(w))
            }
            _ => write!(
                f,
                "wins:                   unknown (no recipientRand given)"
            ),
        }
    }
}
