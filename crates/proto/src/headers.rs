//! Protobuf messages carried in HTTP headers, base64-encoded.
//!
//! A gateway POSTs each segment to the orchestrator's `/segment` route with the segment's
//! `SegData` in the [`SEGMENT_HEADER`] and its tickets as a `Payment` in the
//! [`PAYMENT_HEADER`]; both values are the message's protobuf bytes in standard base64 with
//! padding (see go-livepeer `server/segment_rpc.go`: `genSegCreds`, `verifySegCreds`,
//! `genPayment`, `getPayment`).

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::ProtoError;

/// HTTP header carrying a base64 `net.SegData` on a segment POST (go-livepeer
/// `server/segment_rpc.go: segmentHeader`).
pub const SEGMENT_HEADER: &str = "Livepeer-Segment";

/// HTTP header carrying a base64 `net.Payment` on a segment or payment POST (go-livepeer
/// `server/segment_rpc.go: paymentHeader`).
pub const PAYMENT_HEADER: &str = "Livepeer-Payment";

/// Go's `base64.StdEncoding`: standard alphabet, `=` padding written and required, and, as in
/// Go's non-strict mode, non-zero bits in the last symbol accepted.
const GO_STD_ENCODING: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_encode_padding(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireCanonical)
        .with_decode_allow_trailing_bits(true),
);

/// Encodes `msg` as a header value: its protobuf bytes in standard base64 with padding.
///
/// The output is what go-livepeer writes into [`SEGMENT_HEADER`] and [`PAYMENT_HEADER`]
/// (`base64.StdEncoding.EncodeToString(proto.Marshal(msg))`); it is ASCII, so always a valid
/// HTTP header value. A message with every field at its default encodes to `""`.
pub fn encode_header<M: prost::Message>(msg: &M) -> String {
    GO_STD_ENCODING.encode(msg.encode_to_vec())
}

/// Decodes a header value written by [`encode_header`] or by go-livepeer.
///
/// Accepts what go-livepeer's `base64.StdEncoding.DecodeString` accepts: the standard alphabet
/// with `=` padding; carriage returns and line feeds are ignored, like Go does. An empty value
/// decodes to the default message, as in go-livepeer `getPayment`. Unknown protobuf fields are
/// skipped (proto3).
///
/// # Errors
///
/// - [`ProtoError::Base64`] when the value is not padded standard base64;
/// - [`ProtoError::Protobuf`] when the decoded bytes are not a valid encoding of `M`
///   (truncated, wrong wire types, invalid UTF-8 in a string field, ...).
pub fn decode_header<M: prost::Message + Default>(value: &str) -> Result<M, ProtoError> {
    let decoded = if value.contains(['\r', '\n']) {
        let cleaned: String = value
            .chars()
            .filter(|c| !matches!(c, '\r' | '\n'))
            .collect();
        GO_STD_ENCODING.decode(cleaned)
    } else {
        GO_STD_ENCODING.decode(value)
    };
    let bytes = decoded.map_err(|source| ProtoError::Base64 {
        value_len: value.len(),
        source,
    })?;
    M::decode(bytes.as_slice()).map_err(|source| ProtoError::Protobuf {
        message: std::any::type_name::<M>(),
        len: bytes.len(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{AuthToken, PingPong};

    /// Header values go-livepeer produces or accepts, and the PingPong value they carry.
    #[test]
    fn decodes_what_go_accepts() {
        let cases: [(&str, &str, &[u8]); 5] = [
            ("plain", "CgNhYmM=", b"abc"),
            ("empty header is the default message", "", b""),
            ("line breaks are ignored", "CgNh\r\nYmM=", b"abc"),
            ("non-zero trailing bits are accepted", "CgNhYmN=", b"abc"),
            ("unknown fields are skipped", "CgNhYmMQAQ==", b"abc"),
        ];
        for (name, header, value) in cases {
            let msg: PingPong = decode_header(header).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(msg.value, value, "{name}");
        }
    }

    #[test]
    fn encodes_padded_standard_base64() {
        let cases: [(&[u8], &str); 4] = [
            (b"abc", "CgNhYmM="),
            (b"", ""),
            (&[0xff], "CgH/"),
            (&[0xfb, 0xef], "CgL77w=="),
        ];
        for (value, header) in cases {
            let msg = PingPong {
                value: value.to_vec(),
            };
            assert_eq!(encode_header(&msg), header, "value {value:02x?}");
            assert_eq!(decode_header::<PingPong>(header).ok(), Some(msg));
        }
    }

    #[test]
    fn rejects_bad_base64() {
        let cases = [
            ("missing padding", "CgNhYmM"),
            ("url-safe alphabet", "CgL77w_-"),
            ("not base64 at all", "not base64!"),
            ("space inside", "CgNh YmM="),
            ("too much padding", "CgNhYmM=="),
        ];
        for (name, header) in cases {
            match decode_header::<PingPong>(header) {
                Err(ProtoError::Base64 { value_len, .. }) => {
                    assert_eq!(value_len, header.len(), "{name}");
                }
                other => panic!("{name}: expected a base64 error, got {other:?}"),
            }
        }
    }

    #[test]
    fn rejects_bad_protobuf() {
        let cases = [
            ("truncated bytes field", "CgVh", 3),
            ("wire type 7", "Dw==", 1),
            ("invalid utf-8 in session_id", "EgH/", 3),
        ];
        for (name, header, len) in cases {
            match decode_header::<AuthToken>(header) {
                Err(ProtoError::Protobuf {
                    message, len: got, ..
                }) => {
                    assert_eq!(message, "livepeer_proto::net::AuthToken", "{name}");
                    assert_eq!(got, len, "{name}");
                }
                other => panic!("{name}: expected a protobuf error, got {other:?}"),
            }
        }
    }
}
