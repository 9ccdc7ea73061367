//! `net.Payment` and the `Livepeer-Payment` header: [`TicketBatch`] to and from the wire
//! (pm.md §7.3; go-livepeer `server/segment_rpc.go:genPayment`/`getPayment`,
//! `core/orchestrator.go:ProcessPayment`).
//!
//! Numbers travel as minimal big-endian bytes (Go `big.Int.Bytes()`, zero is empty),
//! addresses as 20 bytes, hashes as 32 bytes, the nonce as a `uint32` and the creation round
//! as an `int64`. The gateway sets `Payment.expiration_params` (field 3) and leaves
//! `TicketParams.expiration_params` (field 7) empty; the orchestrator reads field 3.
//! Encoding a batch gives exactly go's bytes (fields in number order).
//!
//! Decoding is strict where go's is lenient about widths: an address must be 20 bytes (or
//! empty for the sender, meaning none), a hash 32 bytes, a number at most 32 significant
//! bytes, and the creation round non-negative; anything else is [`PmError::InvalidField`].

use alloy_primitives::{Address, B256, U256};
use livepeer_proto::{headers, net};
use prost::Message;

use crate::{
    PmError, PriceInfo, TicketBatch, TicketExpirationParams, TicketParams, TicketSenderParams,
};

/// The header carrying a base64 `net.Payment` (`Livepeer-Payment`).
pub const PAYMENT_HEADER: &str = headers::PAYMENT_HEADER;

/// `x` as Go's `big.Int.Bytes()`: minimal big-endian, zero as the empty string.
pub fn min_be_bytes(x: U256) -> Vec<u8> {
    let bytes = x.to_be_bytes::<32>();
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(32);
    bytes[start..].to_vec()
}

/// A big-endian number of at most 32 significant bytes (leading zeros allowed, like Go's
/// `SetBytes`); [`PmError::InvalidField`] when larger.
pub fn u256_from_be(field: &'static str, bytes: &[u8]) -> Result<U256, PmError> {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    let significant = &bytes[start..];
    if significant.len() > 32 {
        return Err(PmError::InvalidField {
            field,
            reason: format!("{} significant bytes, at most 32", significant.len()),
        });
    }
    Ok(U256::from_be_slice(significant))
}

fn address_from(field: &'static str, bytes: &[u8]) -> Result<Address, PmError> {
    Address::try_from(bytes).map_err(|_| PmError::InvalidField {
        field,
        reason: format!("{} bytes, expected 20", bytes.len()),
    })
}

fn b256_from(field: &'static str, bytes: &[u8]) -> Result<B256, PmError> {
    B256::try_from(bytes).map_err(|_| PmError::InvalidField {
        field,
        reason: format!("{} bytes, expected 32", bytes.len()),
    })
}

/// The wire form of expiration params.
pub fn expiration_params_to_net(p: &TicketExpirationParams) -> net::TicketExpirationParams {
    net::TicketExpirationParams {
        // Rounds come from the chain or from a decoded int64, so they fit.
        creation_round: i64::try_from(p.creation_round).unwrap_or(i64::MAX),
        creation_round_block_hash: p.creation_round_block_hash.to_vec(),
    }
}

/// Expiration params from the wire. An empty block hash is zero; a negative round or a hash
/// that is not 32 bytes is [`PmError::InvalidField`].
pub fn expiration_params_from_net(
    p: &net::TicketExpirationParams,
) -> Result<TicketExpirationParams, PmError> {
    let creation_round = u64::try_from(p.creation_round).map_err(|_| PmError::InvalidField {
        field: "creation_round",
        reason: format!("negative round {}", p.creation_round),
    })?;
    let creation_round_block_hash = if p.creation_round_block_hash.is_empty() {
        B256::ZERO
    } else {
        b256_from("creation_round_block_hash", &p.creation_round_block_hash)?
    };
    Ok(TicketExpirationParams {
        creation_round,
        creation_round_block_hash,
    })
}

/// The wire form of ticket parameters. `with_expiration_params` sets field 7, as the
/// orchestrator does in `OrchestratorInfo`; a gateway leaves it out of a `Payment`.
pub fn ticket_params_to_net(p: &TicketParams, with_expiration_params: bool) -> net::TicketParams {
    net::TicketParams {
        recipient: p.recipient.to_vec(),
        face_value: min_be_bytes(p.face_value),
        win_prob: min_be_bytes(p.win_prob),
        recipient_rand_hash: p.recipient_rand_hash.to_vec(),
        seed: min_be_bytes(p.seed),
        expiration_block: min_be_bytes(p.expiration_block),
        expiration_params: with_expiration_params
            .then(|| expiration_params_to_net(&p.expiration_params)),
    }
}

/// Ticket parameters from the wire (e.g. `OrchestratorInfo.ticket_params`); field 7, when
/// present, gives the expiration params. Errors: [`PmError::InvalidField`].
pub fn ticket_params_from_net(p: &net::TicketParams) -> Result<TicketParams, PmError> {
    Ok(TicketParams {
        recipient: address_from("ticket_params.recipient", &p.recipient)?,
        face_value: u256_from_be("ticket_params.face_value", &p.face_value)?,
        win_prob: u256_from_be("ticket_params.win_prob", &p.win_prob)?,
        recipient_rand_hash: b256_from(
            "ticket_params.recipient_rand_hash",
            &p.recipient_rand_hash,
        )?,
        seed: u256_from_be("ticket_params.seed", &p.seed)?,
        expiration_block: u256_from_be("ticket_params.expiration_block", &p.expiration_block)?,
        expiration_params: p
            .expiration_params
            .as_ref()
            .map(expiration_params_from_net)
            .transpose()?
            .unwrap_or_default(),
    })
}

/// The wire form of a price (capability 0, no constraint).
pub fn price_to_net(p: &PriceInfo) -> net::PriceInfo {
    net::PriceInfo {
        price_per_unit: p.price_per_unit,
        pixels_per_unit: p.pixels_per_unit,
        ..Default::default()
    }
}

/// A price from the wire, unreduced and unchecked (see [`crate::PricePerPixel::try_from`]).
pub fn price_from_net(p: &net::PriceInfo) -> PriceInfo {
    PriceInfo::new(p.price_per_unit, p.pixels_per_unit)
}

/// The `net.Payment` carrying `batch`.
pub fn payment_to_net(batch: &TicketBatch) -> net::Payment {
    net::Payment {
        ticket_params: Some(ticket_params_to_net(&batch.params, false)),
        sender: batch.sender.to_vec(),
        expiration_params: Some(expiration_params_to_net(&batch.expiration_params)),
        ticket_sender_params: batch
            .sender_params
            .iter()
            .map(|sp| net::TicketSenderParams {
                sender_nonce: sp.sender_nonce,
                sig: sp.sig.clone(),
            })
            .collect(),
        expected_price: Some(price_to_net(&batch.expected_price)),
    }
}

/// The batch a `net.Payment` carries. A payment without ticket params decodes to an empty
/// batch (off-chain or free: nothing to credit) unless it also carries tickets
/// ([`PmError::PaymentMissingField`]). A missing sender is the zero address and a missing price
/// `0/0`; [`crate::Recipient::receive_payment`] refuses both when there are tickets. Other
/// errors: [`PmError::InvalidField`].
pub fn payment_from_net(p: &net::Payment) -> Result<TicketBatch, PmError> {
    let params = match &p.ticket_params {
        Some(tp) => ticket_params_from_net(tp)?,
        None if p.ticket_sender_params.is_empty() => TicketParams::default(),
        None => {
            return Err(PmError::PaymentMissingField {
                field: "ticket_params",
            });
        }
    };
    let sender = if p.sender.is_empty() {
        Address::ZERO
    } else {
        address_from("sender", &p.sender)?
    };
    let expiration_params = p
        .expiration_params
        .as_ref()
        .map(expiration_params_from_net)
        .transpose()?
        .unwrap_or_default();
    Ok(TicketBatch {
        params: TicketParams {
            expiration_params,
            ..params
        },
        expiration_params,
        sender,
        sender_params: p
            .ticket_sender_params
            .iter()
            .map(|sp| TicketSenderParams {
                sender_nonce: sp.sender_nonce,
                sig: sp.sig.clone(),
            })
            .collect(),
        expected_price: p
            .expected_price
            .as_ref()
            .map(price_from_net)
            .unwrap_or_default(),
    })
}

/// The serialized `net.Payment` of `batch` (byte-identical to go-livepeer's).
pub fn encode_payment(batch: &TicketBatch) -> Vec<u8> {
    payment_to_net(batch).encode_to_vec()
}

/// Decodes a serialized `net.Payment`; [`PmError::PaymentDecode`] for bad protobuf, else as
/// [`payment_from_net`].
pub fn decode_payment(bytes: &[u8]) -> Result<TicketBatch, PmError> {
    let p = net::Payment::decode(bytes).map_err(|e| PmError::PaymentDecode {
        reason: e.to_string(),
    })?;
    payment_from_net(&p)
}

/// The `Livepeer-Payment` header value of `batch`: standard base64 with padding.
pub fn encode_payment_header(batch: &TicketBatch) -> String {
    headers::encode_header(&payment_to_net(batch))
}

/// Decodes a `Livepeer-Payment` header value; [`PmError::PaymentDecode`] for bad base64 or
/// protobuf, else as [`payment_from_net`].
pub fn decode_payment_header(value: &str) -> Result<TicketBatch, PmError> {
    let p: net::Payment = headers::decode_header(value).map_err(|e| PmError::PaymentDecode {
        reason: e.to_string(),
    })?;
    payment_from_net(&p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn min_be_bytes_table() {
        let cases: [(U256, &[u8]); 4] = [
            (U256::ZERO, &[]),
            (U256::from(1), &[1]),
            (U256::from(0x0100), &[1, 0]),
            (U256::MAX, &[0xff; 32]),
        ];
        for (x, want) in cases {
            assert_eq!(min_be_bytes(x), want);
            assert_eq!(u256_from_be("x", want).expect("fits"), x);
        }
        assert_eq!(u256_from_be("x", &[0, 0, 5]).expect("fits"), U256::from(5));
        assert!(u256_from_be("x", &[1; 33]).is_err());
    }

    #[test]
    fn malformed_fields_are_refused() {
        let good = net::Payment {
            ticket_params: Some(net::TicketParams {
                recipient: vec![1; 20],
                recipient_rand_hash: vec![2; 32],
                ..Default::default()
            }),
            sender: vec![3; 20],
            ..Default::default()
        };
        assert!(payment_from_net(&good).is_ok());
        let mut bad_sender = good.clone();
        bad_sender.sender = vec![3; 19];
        let mut bad_hash = good.clone();
        if let Some(tp) = bad_hash.ticket_params.as_mut() {
            tp.recipient_rand_hash = vec![2; 31];
        }
        let mut negative_round = good.clone();
        negative_round.expiration_params = Some(net::TicketExpirationParams {
            creation_round: -1,
            creation_round_block_hash: vec![],
        });
        let mut no_params = good.clone();
        no_params.ticket_params = None;
        no_params.ticket_sender_params = vec![net::TicketSenderParams::default()];
        for (name, p) in [
            ("sender", bad_sender),
            ("hash", bad_hash),
            ("round", negative_round),
            ("no params", no_params),
        ] {
            assert!(payment_from_net(&p).is_err(), "{name}");
        }
    }
}
