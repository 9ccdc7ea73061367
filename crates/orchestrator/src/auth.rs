//! Auth tokens for orchestrator sessions.
//!
//! go-livepeer (`core/orchestrator.go:AuthToken`, `server/rpc.go:authTokenValidPeriod`): the
//! token is HMAC-SHA256, keyed by a 32-byte secret drawn once per process, over the session ID
//! bytes followed by the minimal big-endian bytes of the expiration (unix seconds). Tokens are
//! valid for 30 minutes and session IDs are 8 hex characters (4 random bytes).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use livepeer_proto::net;
use sha2::Sha256;

use crate::OrchestratorError;

/// How long a new auth token stays valid: 30 minutes.
pub const AUTH_TOKEN_VALIDITY: Duration = Duration::from_secs(30 * 60);

type HmacSha256 = Hmac<Sha256>;

/// Issues and checks auth tokens with a per-process secret.
#[derive(Clone)]
pub struct AuthTokens {
    secret: [u8; 32],
}

impl std::fmt::Debug for AuthTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthTokens { secret: <redacted> }")
    }
}

impl Default for AuthTokens {
    fn default() -> Self {
        Self::new(rand::random())
    }
}

impl AuthTokens {
    /// A token issuer keyed by `secret`.
    pub fn new(secret: [u8; 32]) -> Self {
        Self { secret }
    }

    /// A fresh token for a new session, valid for [`AUTH_TOKEN_VALIDITY`] from `now`.
    pub fn issue(&self, now: SystemTime) -> net::AuthToken {
        let session_id = hex::encode(rand::random::<[u8; 4]>());
        let expiration = unix_seconds(now + AUTH_TOKEN_VALIDITY);
        net::AuthToken {
            token: self.mac(&session_id, expiration),
            session_id,
            expiration,
        }
    }

    /// Checks a token received with a segment: present, well-formed, signed by us, unexpired.
    ///
    /// Errors: [`OrchestratorError::InvalidAuthToken`] or [`OrchestratorError::ExpiredAuthToken`].
    pub fn verify(
        &self,
        token: Option<&net::AuthToken>,
        now: SystemTime,
    ) -> Result<(), OrchestratorError> {
        let token = token.ok_or(OrchestratorError::InvalidAuthToken("missing auth token"))?;
        if !is_session_id(&token.session_id) {
            return Err(OrchestratorError::InvalidAuthToken("malformed session id"));
        }
        let mut mac = self.keyed();
        mac.update(&message(&token.session_id, token.expiration));
        mac.verify_slice(&token.token)
            .map_err(|_| OrchestratorError::InvalidAuthToken("bad auth token"))?;
        let now = unix_seconds(now);
        if token.expiration <= now {
            return Err(OrchestratorError::ExpiredAuthToken {
                expiration: token.expiration,
                now,
            });
        }
        Ok(())
    }

    fn keyed(&self) -> HmacSha256 {
        <HmacSha256 as Mac>::new_from_slice(&self.secret).expect("HMAC takes keys of any length")
    }

    fn mac(&self, session_id: &str, expiration: i64) -> Vec<u8> {
        let mut mac = self.keyed();
        mac.update(&message(session_id, expiration));
        mac.finalize().into_bytes().to_vec()
    }
}

/// The HMAC input: session ID bytes ‖ minimal big-endian expiration (Go `big.Int.Bytes`, so
/// zero and negative values contribute their magnitude bytes only).
fn message(session_id: &str, expiration: i64) -> Vec<u8> {
    let be = expiration.unsigned_abs().to_be_bytes();
    let first = be.iter().position(|&b| b != 0).unwrap_or(be.len());
    let mut msg = session_id.as_bytes().to_vec();
    msg.extend_from_slice(&be[first..]);
    msg
}

/// Whether `id` has the shape of a session ID we issue: 8 lower-case hex characters.
pub fn is_session_id(id: &str) -> bool {
    id.len() == 8
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn unix_seconds(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify_until_they_expire() {
        let tokens = AuthTokens::new([7; 32]);
        let now = SystemTime::now();
        let token = tokens.issue(now);
        assert!(is_session_id(&token.session_id));
        assert_eq!(token.token.len(), 32);
        assert_eq!(token.expiration, unix_seconds(now) + 1800);
        tokens.verify(Some(&token), now).expect("fresh token");
        let later = now + AUTH_TOKEN_VALIDITY + Duration::from_secs(1);
        assert!(matches!(
            tokens.verify(Some(&token), later),
            Err(OrchestratorError::ExpiredAuthToken { .. })
        ));
    }

    #[test]
    fn tampered_tokens_fail() {
        let tokens = AuthTokens::new([7; 32]);
        let now = SystemTime::now();
        let good = tokens.issue(now);
        let mut other_session = good.clone();
        other_session.session_id = "00000000".into();
        let mut later_expiry = good.clone();
        later_expiry.expiration += 60;
        let mut bad_mac = good.clone();
        bad_mac.token[0] ^= 1;
        let mut bad_id = good.clone();
        bad_id.session_id = "../etc".into();
        for token in [other_session, later_expiry, bad_mac, bad_id] {
            assert!(
                matches!(
                    tokens.verify(Some(&token), now),
                    Err(OrchestratorError::InvalidAuthToken(_))
                ),
                "{token:?}"
            );
        }
        assert!(tokens.verify(None, now).is_err());
        // Another process's secret does not verify our tokens.
        assert!(AuthTokens::new([8; 32]).verify(Some(&good), now).is_err());
    }

    #[test]
    fn message_uses_minimal_big_endian_expiration() {
        assert_eq!(message("ab", 0x0102), b"ab\x01\x02".to_vec());
        assert_eq!(message("ab", 0), b"ab".to_vec());
        assert_eq!(
            message("ab", 1_700_000_000),
            [b"ab".as_slice(), &[0x65, 0x53, 0xf1, 0x00]].concat()
        );
    }
}
