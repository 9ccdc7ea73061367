//! EIP-191 signing and recovery of ticket hashes with libsecp256k1 (pm.md §2).

use alloy_primitives::{Address, B256, U256, keccak256};
use secp256k1::{
    Message, SECP256K1, SecretKey,
    ecdsa::{RecoverableSignature, RecoveryId},
};

use crate::PmError;

/// The 28-byte EIP-191 "personal_sign" prefix for a 32-byte message:
/// `"\x19Ethereum Signed Message:\n32"` (go `accounts.TextHash`, OpenZeppelin
/// `ECDSA.toEthSignedMessageHash(bytes32)`).
pub const EIP191_PREFIX_32: &[u8; 28] = b"\x19Ethereum Signed Message:\n32";

/// `n / 2` for the secp256k1 group order `n`: the largest `s` go-livepeer and OpenZeppelin accept
/// (see go-livepeer `crypto/verify.go`).
pub const SECP256K1_HALF_N: U256 = U256::from_be_bytes([
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
]);

/// Length of a ticket signature, `r (32) ‖ s (32) ‖ v (1)`.
pub const SIGNATURE_LEN: usize = 65;

/// `keccak256("\x19Ethereum Signed Message:\n32" ‖ hash)`: the digest a gateway actually signs
/// for a ticket hash (pm.md §2.1).
pub fn eth_signed_message_hash(hash: &B256) -> B256 {
    let mut buf = [0u8; 28 + 32];
    buf[..28].copy_from_slice(EIP191_PREFIX_32);
    buf[28..].copy_from_slice(hash.as_slice());
    keccak256(buf)
}

/// Something that signs ticket hashes for a gateway: a local key ([`LocalSigner`]), or a
/// keystore or remote signer elsewhere (go-livepeer `eth/accountmanager.go:Sign`).
pub trait TicketSigner: Send + Sync {
    /// The signer's ETH address (the tickets' sender).
    fn address(&self) -> Address;

    /// The 65-byte `r ‖ s ‖ v` (v = 27/28, low s) EIP-191 signature of `hash`.
    fn sign_ticket_hash(&self, hash: &B256) -> Result<[u8; SIGNATURE_LEN], PmError>;
}

/// A secp256k1 private key held in memory.
///
/// Signs with libsecp256k1's RFC 6979 deterministic nonce and low `s`, so its signatures are
/// byte-identical to go-ethereum's for the same key and digest.
#[derive(Clone)]
pub struct LocalSigner {
    key: SecretKey,
    address: Address,
}

impl LocalSigner {
    /// A signer for the 32-byte big-endian private key. Errors with
    /// [`PmError::InvalidPrivateKey`] for zero or a key `>= n`.
    pub fn from_bytes(key: &[u8; 32]) -> Result<Self, PmError> {
        let key = SecretKey::from_byte_array(*key).map_err(|_| PmError::InvalidPrivateKey)?;
        let public = key.public_key(SECP256K1).serialize_uncompressed();
        let address = Address::from_raw_public_key(&public[1..]);
        Ok(Self { key, address })
    }

    /// A fresh random key (for tests and ephemeral gateways).
    pub fn random() -> Self {
        loop {
            let bytes: [u8; 32] = rand::random();
            if let Ok(signer) = Self::from_bytes(&bytes) {
                return signer;
            }
        }
    }

    /// The key's ETH address: the last 20 bytes of keccak256 of the uncompressed public key.
    pub fn address(&self) -> Address {
        self.address
    }

    /// Signs `hash` (EIP-191 applied here): `r ‖ s ‖ v`, v = 27 + recovery id.
    pub fn sign(&self, hash: &B256) -> [u8; SIGNATURE_LEN] {
        self.sign_digest(eth_signed_message_hash(hash))
    }

    /// Signs a whole message as `personal_sign` does: the EIP-191 hash
    /// keccak256("\x19Ethereum Signed Message:\n" ‖ len ‖ message), as go-livepeer's
    /// `accountManager.Sign` (used by the CLI's `/signMessage`).
    pub fn sign_text(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.sign_digest(alloy_primitives::eip191_hash_message(message))
    }

    /// Signs an EIP-712 signing hash (keccak256(0x19 0x01 ‖ domain separator ‖ struct hash))
    /// as it is, as go-livepeer's `accountManager.SignTypedData` (used by the CLI's
    /// `/signMessage` with `SigFormat: data/typed`): `r ‖ s ‖ v`, v = 27 + recovery id.
    pub fn sign_typed_data_hash(&self, signing_hash: &B256) -> [u8; SIGNATURE_LEN] {
        self.sign_digest(*signing_hash)
    }

    fn sign_digest(&self, digest: B256) -> [u8; SIGNATURE_LEN] {
        let sig = SECP256K1.sign_ecdsa_recoverable(Message::from_digest(digest.0), &self.key);
        let (recid, rs) = sig.serialize_compact();
        let mut out = [0u8; SIGNATURE_LEN];
        out[..64].copy_from_slice(&rs);
        out[64] = match recid {
            RecoveryId::Zero => 27,
            RecoveryId::One => 28,
            RecoveryId::Two => 29,
            RecoveryId::Three => 30,
        };
        out
    }
}

impl std::fmt::Debug for LocalSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSigner")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl TicketSigner for LocalSigner {
    fn address(&self) -> Address {
        self.address
    }

    fn sign_ticket_hash(&self, hash: &B256) -> Result<[u8; SIGNATURE_LEN], PmError> {
        Ok(self.sign(hash))
    }
}

/// Recovers the address that signed `hash` (EIP-191) with `sig`, applying go-livepeer's checks in
/// order (`crypto/verify.go:VerifySig`): exactly 65 bytes ([`PmError::SignatureLength`]), `s <= n/2`
/// ([`PmError::SignatureHighS`]), `v` 27 or 28 ([`PmError::SignatureRecoveryId`]), then libsecp256k1
/// recovery ([`PmError::SignatureUnrecoverable`]).
pub fn recover_signer(hash: &B256, sig: &[u8]) -> Result<Address, PmError> {
    if sig.len() != SIGNATURE_LEN {
        return Err(PmError::SignatureLength { len: sig.len() });
    }
    if U256::from_be_slice(&sig[32..64]) > SECP256K1_HALF_N {
        return Err(PmError::SignatureHighS);
    }
    let v = sig[64];
    let recid = match v {
        27 => RecoveryId::Zero,
        28 => RecoveryId::One,
        _ => return Err(PmError::SignatureRecoveryId { v }),
    };
    let sig = RecoverableSignature::from_compact(&sig[..64], recid)
        .map_err(|_| PmError::SignatureUnrecoverable)?;
    let digest = eth_signed_message_hash(hash);
    let public = SECP256K1
        .recover_ecdsa(Message::from_digest(digest.0), &sig)
        .map_err(|_| PmError::SignatureUnrecoverable)?
        .serialize_uncompressed();
    Ok(Address::from_raw_public_key(&public[1..]))
}

/// Checks that `sig` is `sender`'s signature of `hash`; [`PmError::SignerMismatch`] when it
/// recovers to someone else, or the error of [`recover_signer`].
pub fn verify_signature(sender: Address, hash: &B256, sig: &[u8]) -> Result<(), PmError> {
    let signer = recover_signer(hash, sig)?;
    if signer != sender {
        return Err(PmError::SignerMismatch { sender, signer });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn high_s_twin_is_refused() {
        let signer = LocalSigner::from_bytes(&[1u8; 32]).expect("valid key");
        let hash = B256::repeat_byte(0x11);
        let sig = signer.sign(&hash);
        assert_eq!(
            recover_signer(&hash, &sig).expect("recovers"),
            signer.address()
        );
        // Flip to the high-s twin (n - s, v toggled): same key mathematically, refused by rule.
        let n = U256::from_be_bytes([
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
            0xff, 0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c,
            0xd0, 0x36, 0x41, 0x41,
        ]);
        let s = U256::from_be_slice(&sig[32..64]);
        let mut high = sig;
        high[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
        high[64] = if sig[64] == 27 { 28 } else { 27 };
        assert!(matches!(
            recover_signer(&hash, &high),
            Err(PmError::SignatureHighS)
        ));
    }

    #[test]
    fn malformed_signatures_table() {
        let signer = LocalSigner::from_bytes(&[2u8; 32]).expect("valid key");
        let hash = B256::repeat_byte(0x22);
        let good = signer.sign(&hash);
        let mut v0 = good;
        v0[64] -= 27;
        let mut zero_r = good;
        zero_r[..32].fill(0);
        type Check = fn(&PmError) -> bool;
        let cases: Vec<(Vec<u8>, Check)> = vec![
            (good[..64].to_vec(), |e| {
                matches!(e, PmError::SignatureLength { len: 64 })
            }),
            (vec![], |e| matches!(e, PmError::SignatureLength { len: 0 })),
            (v0.to_vec(), |e| {
                matches!(e, PmError::SignatureRecoveryId { .. })
            }),
            (zero_r.to_vec(), |e| {
                matches!(e, PmError::SignatureUnrecoverable)
            }),
        ];
        for (sig, check) in cases {
            let err = recover_signer(&hash, &sig).expect_err("must be refused");
            assert!(check(&err), "unexpected {err:?}");
        }
        let other = LocalSigner::from_bytes(&[3u8; 32]).expect("valid key");
        assert!(matches!(
            verify_signature(other.address(), &hash, &good),
            Err(PmError::SignerMismatch { .. })
        ));
    }
}
