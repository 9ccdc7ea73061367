//! Auth tokens for orchestrator sessions.
//!
//! go-livepeer (`core/orchestrator.go:AuthToken`, `server/rpc.go:authTokenValidPeriod`): the
//! token is HMAC-SHA256, keyed by a 32-byte secret drawn once per process, over the session ID
//! bytes followed by the minimal big-endian bytes of the expiration (unix seconds). Tokens are
//! valid for 30 minutes and session IDs are 8 hex characters (4 random bytes).
//!
//! [`GatewayAuthWebhook`]: `-authWebhookUrl` on an orchestrator (go-livepeer
//! `server/rpc.go:authenticateBroadcaster`), asked on every `GetOrchestrator`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy_primitives::Address;
use livepeer_pm::PriceInfo;

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
        self.issue_for(hex::encode(rand::random::<[u8; 4]>()), now)
    }

    /// A fresh token for the existing session `session_id` (a live session's manifest ID,
    /// as go-livepeer's `/refresh-payment` issues), valid for [`AUTH_TOKEN_VALIDITY`].
    pub fn issue_for(&self, session_id: String, now: SystemTime) -> net::AuthToken {
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

/// Whether `id` has the shape of a session ID we issue: 8 lower-case hex characters (a
/// transcoding or AI session), or 16 (a live session's manifest ID).
pub fn is_session_id(id: &str) -> bool {
    matches!(id.len(), 8 | 16)
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Longest wait for the orchestrator's auth webhook to answer (go-livepeer uses Go's default
/// client, which has none; a gateway waits at most its discovery timeout anyway).
pub const GATEWAY_AUTH_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(5);

/// Largest auth webhook answer read, bytes.
pub const MAX_GATEWAY_AUTH_WEBHOOK_BODY_BYTES: usize = 64 * 1024;

/// The orchestrator's `-authWebhookUrl` (go-livepeer `server/rpc.go:authenticateBroadcaster`):
/// on every `GetOrchestrator` it is POSTed `{"id":"<gateway address, EIP-55>"}`; any answer but
/// 200 refuses the gateway, with the answer's body as the reason; a 200 may carry
/// `{"priceInfo":{"pricePerUnit":N,"pixelsPerUnit":M}}`, the price this gateway then gets
/// (see [`crate::payment::WEBHOOK_PRICE_VALIDITY`]).
#[derive(Debug, Clone)]
pub struct GatewayAuthWebhook {
    url: reqwest::Url,
    http: reqwest::Client,
}

/// What the webhook may answer (go-livepeer `discoveryAuthWebhookRes`).
#[derive(Debug, Default, serde::Deserialize)]
struct WebhookAnswer {
    #[serde(rename = "priceInfo")]
    price_info: Option<WebhookPrice>,
}

/// `net.PriceInfo` as Go's `encoding/json` writes it (protobuf JSON names; int64 may be
/// numbers or strings).
#[derive(Debug, serde::Deserialize)]
struct WebhookPrice {
    #[serde(rename = "pricePerUnit", default)]
    price_per_unit: serde_json::Value,
    #[serde(rename = "pixelsPerUnit", default)]
    pixels_per_unit: serde_json::Value,
}

impl GatewayAuthWebhook {
    /// A webhook at `url`: an absolute http or https URL (go-livepeer `validateURL`).
    ///
    /// Errors: a line saying what is wrong with the URL.
    pub fn new(url: &str) -> Result<Self, String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("{url:?}: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("{url:?}: URL should be HTTP or HTTPS"));
        }
        let http = reqwest::Client::builder()
            .timeout(GATEWAY_AUTH_WEBHOOK_TIMEOUT)
            .redirect(reqwest::redirect::Policy::limited(3))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self { url: parsed, http })
    }

    /// Asks whether `gateway` may have this orchestrator's info; `Some(price)` when the answer
    /// sets the gateway's price.
    ///
    /// Errors: [`OrchestratorError::GatewayRefused`] for a non-200 (its body, at most 256
    /// bytes, is the reason), a transport error, an answer over
    /// [`MAX_GATEWAY_AUTH_WEBHOOK_BODY_BYTES`], or JSON that does not parse.
    pub async fn authenticate(
        &self,
        gateway: Address,
    ) -> Result<Option<PriceInfo>, OrchestratorError> {
        let refused = |reason: String| OrchestratorError::GatewayRefused { reason };
        let mut response = self
            .http
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::json!({ "id": gateway.to_checksum(None) }).to_string())
            .send()
            .await
            .map_err(|e| refused(e.to_string()))?;
        let status = response.status();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| refused(e.to_string()))? {
            if body.len() + chunk.len() > MAX_GATEWAY_AUTH_WEBHOOK_BODY_BYTES {
                return Err(refused(format!(
                    "answer exceeds {MAX_GATEWAY_AUTH_WEBHOOK_BODY_BYTES} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        if status != reqwest::StatusCode::OK {
            let text = String::from_utf8_lossy(&body[..body.len().min(256)]).into_owned();
            return Err(refused(text));
        }
        let answer: WebhookAnswer =
            serde_json::from_slice(&body).map_err(|e| refused(e.to_string()))?;
        answer
            .price_info
            .map(|p| {
                let int = |v: &serde_json::Value| {
                    v.as_i64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                        .filter(|n| *n >= 0)
                };
                match (int(&p.price_per_unit), int(&p.pixels_per_unit)) {
                    (Some(price), Some(pixels)) if pixels > 0 => Ok(PriceInfo::new(price, pixels)),
                    _ => Err(refused(format!(
                        "invalid priceInfo {}/{}",
                        p.price_per_unit, p.pixels_per_unit
                    ))),
                }
            })
            .transpose()
    }
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
