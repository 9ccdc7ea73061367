//! serde helpers: byte strings as 0x-hex.

use serde::Serializer;

/// Serializes bytes as a 0x-prefixed lower-case hex string.
pub(crate) fn bytes<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&format_args!("0x{}", hex::encode(bytes)))
}
