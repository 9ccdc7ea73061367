//! The crate's error type.

/// Errors from decoding go-livepeer protobuf data received from a peer.
///
/// Returned by [`crate::headers::decode_header`]; decoding never panics, whatever the input.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    /// The header value is not standard base64 with padding (Go `base64.StdEncoding`).
    #[error("header value of {value_len} bytes is not standard padded base64: {source}")]
    Base64 {
        /// Length of the header value, bytes.
        value_len: usize,
        /// What the base64 decoder rejected.
        #[source]
        source: base64::DecodeError,
    },
    /// The bytes are not a valid protobuf encoding of the expected message.
    #[error("{len} bytes are not a valid protobuf {message}: {source}")]
    Protobuf {
        /// Rust type name of the expected message, e.g. `livepeer_proto::net::Payment`.
        message: &'static str,
        /// Length of the undecodable protobuf, bytes.
        len: usize,
        /// What prost rejected.
        #[source]
        source: prost::DecodeError,
    },
}
