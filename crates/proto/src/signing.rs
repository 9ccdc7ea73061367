//! The digests go-livepeer signs besides tickets (wire-and-network.md §2.3). Each is a 32-byte
//! `H`; the signer signs its EIP-191 personal hash (`"\x19Ethereum Signed Message:\n32" ‖ H`,
//! see `livepeer_pm::eth_signed_message_hash`) as a 65-byte `r ‖ s ‖ v` signature.
//!
//! | What | `H` | go-livepeer |
//! |---|---|---|
//! | segment credentials (`SegData.sig`) | keccak256 of [`seg_data_message`] | `core/streamdata.go:Flatten`, `core/broadcaster.go:Sign` |
//! | `OrchestratorRequest.sig` | keccak256 of the EIP-55 address string | `server/rpc.go:verifyOrchestratorReq` |
//! | `Ping` answer | keccak256 of the ping value | `server/rpc.go:Ping` |
//! | `TranscodeData.sig` | keccak256 of the renditions' keccak256 hashes, concatenated | `core/orchestrator.go:TranscodeSeg` |

use alloy_primitives::{Address, B256, keccak256};

use crate::net;

/// The bytes go-livepeer's `SegTranscodingMetadata.Flatten` builds: the manifest ID bytes ‖
/// `seq` as a 32-byte big-endian number (its magnitude, as Go's `big.Int.Bytes`) ‖ the 32-byte
/// data hash (left-padded or cut to 32 bytes, as `common.BytesToHash`) ‖ the ASCII hex of the
/// first 4 bytes of keccak256(name) of each profile, in order.
///
/// `profile_names` are the names of the profiles the segment asks for (the list
/// `convert::profiles_from_seg_data` reads).
pub fn seg_data_message<'a>(
    seg: &net::SegData,
    profile_names: impl IntoIterator<Item = &'a str>,
) -> Vec<u8> {
    let mut msg = Vec::with_capacity(seg.manifest_id.len() + 64 + 80);
    msg.extend_from_slice(&seg.manifest_id);
    let mut seq = [0u8; 32];
    seq[24..].copy_from_slice(&seg.seq.unsigned_abs().to_be_bytes());
    msg.extend_from_slice(&seq);
    // common.BytesToHash keeps the last 32 bytes, left-padding shorter input.
    let mut hash = [0u8; 32];
    let tail = &seg.hash[seg.hash.len().saturating_sub(32)..];
    hash[32 - tail.len()..].copy_from_slice(tail);
    msg.extend_from_slice(&hash);
    let mut opts = Vec::new();
    for name in profile_names {
        opts.extend_from_slice(&keccak256(name.as_bytes())[..4]);
    }
    msg.extend_from_slice(hex_lower(&opts).as_bytes());
    msg
}

/// The names of the profiles a `SegData` asks for, from the list the orchestrator reads
/// (field 35, else 34, else 33), in order.
pub fn seg_data_profile_names(seg: &net::SegData) -> Vec<&str> {
    [&seg.full_profiles3, &seg.full_profiles2, &seg.full_profiles]
        .into_iter()
        .find(|list| !list.is_empty())
        .map(|list| list.iter().map(|p| p.name.as_str()).collect())
        .unwrap_or_default()
}

/// `H` of segment credentials: keccak256 of [`seg_data_message`].
pub fn seg_data_hash<'a>(
    seg: &net::SegData,
    profile_names: impl IntoIterator<Item = &'a str>,
) -> B256 {
    keccak256(seg_data_message(seg, profile_names))
}

/// `H` of an `OrchestratorRequest`: keccak256 of the gateway's EIP-55 checksummed address string
/// (`"0xAbC…"`, Go `Address.Hex()`).
pub fn orchestrator_request_hash(gateway: Address) -> B256 {
    keccak256(gateway.to_checksum(None).as_bytes())
}

/// `H` of a `Ping` answer: keccak256 of the ping value.
pub fn ping_hash(value: &[u8]) -> B256 {
    keccak256(value)
}

/// `H` of `TranscodeData.sig`: keccak256 over the concatenated keccak256 of each rendition's
/// bytes, in profile order.
pub fn renditions_hash<'a>(renditions: impl IntoIterator<Item = &'a [u8]>) -> B256 {
    let mut hashes = Vec::new();
    for data in renditions {
        hashes.extend_from_slice(keccak256(data).as_slice());
    }
    keccak256(hashes)
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seg_data_message_layout() {
        let seg = net::SegData {
            manifest_id: b"abc".to_vec(),
            seq: 258,
            hash: vec![0xee; 32],
            ..Default::default()
        };
        let msg = seg_data_message(&seg, ["P240p30fps16x9", "P360p30fps16x9"]);
        assert_eq!(&msg[..3], b"abc");
        let mut seq = [0u8; 32];
        seq[30] = 1;
        seq[31] = 2;
        assert_eq!(&msg[3..35], &seq);
        assert_eq!(&msg[35..67], &[0xee; 32]);
        let expected: String = ["P240p30fps16x9", "P360p30fps16x9"]
            .iter()
            .map(|n| hex::encode(&keccak256(n.as_bytes())[..4]))
            .collect();
        assert_eq!(&msg[67..], expected.as_bytes());
        assert_eq!(msg.len(), 3 + 32 + 32 + 16);
    }

    #[test]
    fn short_hashes_are_left_padded() {
        let seg = net::SegData {
            hash: vec![1, 2],
            ..Default::default()
        };
        let msg = seg_data_message(&seg, []);
        let mut want = [0u8; 32];
        want[30] = 1;
        want[31] = 2;
        assert_eq!(&msg[32..64], &want);
    }

    #[test]
    fn orchestrator_request_hash_uses_the_checksummed_string() {
        let addr: Address = "0x5aaeb6053f3e94c9b9a09f33669435e7ef1beaed"
            .parse()
            .expect("address");
        assert_eq!(
            orchestrator_request_hash(addr),
            keccak256(b"0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed")
        );
    }
}
