//! The stream auth webhook (`-authWebhookUrl`) and the stream configuration it answers with.
//!
//! go-livepeer `server/auth.go:authenticateStream` and
//! `server/mediaserver.go:createRTMPStreamIDHandler`: when a push starts a stream, the gateway
//! POSTs `{"url": "<ingest URL>"}` (`http://<Host header><path>`) to the webhook. Any status
//! but 200 refuses the stream (the push gets 403 "Could not create stream ID: url=…"); an
//! empty 200 body accepts it with the gateway's defaults; a JSON body
//! ([`AuthWebhookResponse`], the same JSON as the `Livepeer-Transcode-Configuration` header)
//! must name a `manifestID` and may set the ladder, the verification frequency and per-stream
//! object stores ([`StreamAuth`]). A stream is authenticated once, when its first push
//! arrives (again after it ended).
//!
//! The webhook is called with a deadline of [`AUTH_WEBHOOK_TIMEOUT`] (go-livepeer sets none)
//! and its body is read up to [`MAX_AUTH_WEBHOOK_BODY_BYTES`].

use std::time::Duration;

use livepeer_objectstore::StoreUrl;
use livepeer_primitives::ManifestId;
use livepeer_primitives::profile::{VideoProfile, parse_profiles_json};
use serde::Deserialize;

use crate::GatewayError;

/// How long the auth webhook may take to answer, whole body included.
pub const AUTH_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest auth webhook answer read, bytes: a stream configuration is a few KiB even with a
/// long ladder.
pub const MAX_AUTH_WEBHOOK_BODY_BYTES: usize = 1024 * 1024;

/// The auth webhook's JSON answer, also the `Livepeer-Transcode-Configuration` header's
/// (go-livepeer `server/mediaserver.go:authWebhookResponse`). Unknown fields are ignored;
/// a field of the wrong type fails the whole answer, as Go's `encoding/json` does.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthWebhookResponse {
    /// The stream's manifest ID (required in a webhook answer).
    #[serde(rename = "manifestID", default)]
    pub manifest_id: String,
    /// An external stream ID, for logs and events.
    #[serde(rename = "streamID", default)]
    pub stream_id: String,
    /// An external session ID, for logs.
    #[serde(rename = "sessionID", default)]
    pub session_id: String,
    /// The RTMP stream key (unused by HTTP push).
    #[serde(default)]
    pub stream_key: String,
    /// Standard profile names; unknown names are skipped, as go-livepeer's `parsePresets`
    /// does.
    #[serde(default)]
    pub presets: Vec<String>,
    /// JSON profiles (lpms `JsonProfile`, the `-transcodingOptions` file form).
    #[serde(default)]
    pub profiles: Option<serde_json::Value>,
    /// Where this stream's segments and renditions go (a go-tools object store URL).
    #[serde(default)]
    pub object_store: String,
    /// Where this stream is recorded (a go-tools object store URL).
    #[serde(default)]
    pub record_object_store: String,
    /// Verify one segment in this many with several orchestrators; 0 for never.
    #[serde(default)]
    pub verification_freq: u64,
    /// go-livepeer: multiplies the segment timeouts (not used here).
    #[serde(default)]
    pub timeout_multiplier: i64,
    /// go-livepeer: asks the transcoder to re-initialise its hardware session (not used here).
    #[serde(default)]
    pub force_session_reinit: bool,
}

impl AuthWebhookResponse {
    /// The ladder asked for: presets then profiles, as go-livepeer builds it; `None` when it
    /// names neither (the gateway's `-transcodingOptions`).
    ///
    /// Errors: the profile parser's message, for profiles it refuses (an empty list
    /// included).
    pub fn ladder(&self) -> Result<Option<Vec<VideoProfile>>, String> {
        let mut ladder: Vec<VideoProfile> = self
            .presets
            .iter()
            .filter_map(|name| VideoProfile::standard(name))
            .collect();
        if let Some(profiles) = &self.profiles {
            ladder.extend(parse_profiles_json(&profiles.to_string()).map_err(|e| e.to_string())?);
        }
        Ok((!ladder.is_empty()).then_some(ladder))
    }
}

/// A stream's configuration from the auth webhook (or the header), checked.
#[derive(Debug, Clone, Default)]
pub struct StreamAuth {
    /// The manifest the stream is published under, when the answer names one (else the push
    /// URL's).
    pub manifest: Option<ManifestId>,
    /// The ladder, when the answer names one.
    pub profiles: Option<Vec<VideoProfile>>,
    /// Verify one segment in this many with several orchestrators; 0 for never.
    pub verification_freq: u64,
    /// The stream's own object store for segments and renditions (go-livepeer
    /// `objectStore`), parsed. Not acted on yet: the per-stream store plugs in where the
    /// gateway stores a segment's renditions (`streams.rs`, `Gateway::store`).
    pub object_store: Option<StoreUrl>,
    /// The stream's own recording store (go-livepeer `recordObjectStore`), parsed; not acted
    /// on yet, as [`StreamAuth::object_store`].
    pub record_object_store: Option<StoreUrl>,
    /// External stream ID (logs).
    pub stream_id: String,
    /// External session ID (logs).
    pub session_id: String,
}

impl StreamAuth {
    /// Checks an answer: a valid manifest ID when one is given, profiles the parser takes,
    /// object store URLs go-tools would parse.
    ///
    /// Errors: [`GatewayError::StreamConfig`] (500, go's text) naming `url`.
    pub fn from_response(url: &str, response: &AuthWebhookResponse) -> Result<Self, GatewayError> {
        let bad = |reason: String| GatewayError::StreamConfig {
            url: url.to_string(),
            reason,
        };
        let manifest = match response.manifest_id.as_str() {
            "" => None,
            id => Some(ManifestId::new(id).map_err(|e| bad(format!("manifestID {id:?}: {e}")))?),
        };
        let profiles = response
            .ladder()
            .map_err(|e| bad(format!("Failed to parse JSON video profile: {e}")))?;
        let store = |what: &str, text: &str| match text {
            "" => Ok(None),
            text => StoreUrl::parse(text)
                .map(Some)
                .map_err(|e| bad(format!("Failed to parse {what} url: {e}"))),
        };
        Ok(Self {
            manifest,
            profiles,
            verification_freq: response.verification_freq,
            object_store: store("object store", &response.object_store)?,
            record_object_store: store("recording object store", &response.record_object_store)?,
            stream_id: response.stream_id.clone(),
            session_id: response.session_id.clone(),
        })
    }
}

/// The answer of a `Livepeer-Transcode-Configuration` header value.
///
/// Errors: [`GatewayError::BadTranscodeConfiguration`] (400) for JSON go would not parse.
pub fn parse_transcode_configuration(text: &str) -> Result<AuthWebhookResponse, GatewayError> {
    serde_json::from_str(text).map_err(|e| GatewayError::BadTranscodeConfiguration {
        reason: e.to_string(),
    })
}

/// The stream auth webhook.
#[derive(Debug, Clone)]
pub struct AuthWebhook {
    url: reqwest::Url,
    http: reqwest::Client,
}

impl AuthWebhook {
    /// A webhook at `url` (`-authWebhookUrl`: an absolute http or https URL, go-livepeer
    /// `validateURL`).
    ///
    /// Errors: [`GatewayError::InvalidWebhookUrl`].
    pub fn new(url: &str) -> Result<Self, GatewayError> {
        Ok(Self {
            url: parse_webhook_url(url)?,
            http: webhook_client(AUTH_WEBHOOK_TIMEOUT)?,
        })
    }

    /// The webhook's URL.
    pub fn url(&self) -> &reqwest::Url {
        &self.url
    }

    /// Asks whether the stream pushed to `ingest_url` may start: `None` when the webhook
    /// accepted it with an empty body.
    ///
    /// Errors: [`GatewayError::AuthDenied`] (403) for a transport error or timeout, a status
    /// other than 200, a body over [`MAX_AUTH_WEBHOOK_BODY_BYTES`], JSON that does not parse,
    /// or an answer without `manifestID` ("empty manifest id not allowed").
    pub async fn authenticate(
        &self,
        ingest_url: &str,
    ) -> Result<Option<AuthWebhookResponse>, GatewayError> {
        let denied = |reason: String| GatewayError::AuthDenied {
            url: ingest_url.to_string(),
            reason,
        };
        let started = std::time::Instant::now();
        let request = self
            .http
            .post(self.url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(serde_json::json!({ "url": ingest_url }).to_string())
            .send();
        let (status, body) = async {
            let response = request.await.map_err(|e| e.to_string())?;
            let status = response.status();
            let body = read_limited(response, MAX_AUTH_WEBHOOK_BODY_BYTES).await?;
            Ok::<_, String>((status, body))
        }
        .await
        .map_err(denied)?;
        if status != reqwest::StatusCode::OK {
            let text = String::from_utf8_lossy(&body[..body.len().min(256)]).into_owned();
            return Err(denied(format!("status={} error={text}", status.as_u16())));
        }
        if body.is_empty() {
            return Ok(None);
        }
        let response: AuthWebhookResponse =
            serde_json::from_slice(&body).map_err(|e| denied(e.to_string()))?;
        if response.manifest_id.is_empty() {
            return Err(denied("empty manifest id not allowed".into()));
        }
        tracing::info!(url = %ingest_url, elapsed = ?started.elapsed(), "stream authenticated");
        Ok(Some(response))
    }
}

/// Parses a webhook flag as go-livepeer's `validateURL`: an absolute URL with scheme http
/// or https.
///
/// Errors: [`GatewayError::InvalidWebhookUrl`].
pub fn parse_webhook_url(url: &str) -> Result<reqwest::Url, GatewayError> {
    let invalid = |reason: String| GatewayError::InvalidWebhookUrl {
        url: url.to_string(),
        reason,
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| invalid(e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid("URL should be HTTP or HTTPS".into()));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("no host".into()));
    }
    Ok(parsed)
}

/// An HTTP client for webhooks: certificates checked, every request bounded by `timeout`.
pub(crate) fn webhook_client(timeout: Duration) -> Result<reqwest::Client, GatewayError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(3)))
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .map_err(|e| GatewayError::InvalidWebhookUrl {
            url: String::new(),
            reason: e.to_string(),
        })
}

/// Reads a webhook body up to `limit` bytes.
pub(crate) async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, String> {
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Err(format!("answer exceeds {limit} bytes"));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > limit {
            return Err(format!("answer exceeds {limit} bytes"));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_become_a_checked_stream_configuration() {
        let answer: AuthWebhookResponse = serde_json::from_str(
            r#"{"manifestID":"internal-1","streamID":"s","presets":["P144p30fps16x9"],
                "verificationFreq":3,"objectStore":"s3://key:secret@us-east-1/bucket",
                "someFieldGoAddedLater":1}"#,
        )
        .expect("go's JSON");
        let auth = StreamAuth::from_response("http://gw/live/a/0.ts", &answer).expect("usable");
        assert_eq!(
            auth.manifest.as_ref().map(|m| m.as_str()),
            Some("internal-1")
        );
        assert_eq!(auth.verification_freq, 3);
        let names: Vec<_> = auth
            .profiles
            .as_ref()
            .expect("a ladder")
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(names, ["P144p30fps16x9"]);
        assert!(auth.object_store.is_some() && auth.record_object_store.is_none());
        assert_eq!(auth.stream_id, "s");

        // (what, answer) each refused with 500 and go's text.
        let refused = [
            ("bad manifest", r#"{"manifestID":"a/b"}"#),
            (
                "bad profiles",
                r#"{"manifestID":"m","profiles":[{"name":"x"}]}"#,
            ),
            ("bad store", r#"{"manifestID":"m","objectStore":"ftp://x"}"#),
            (
                "bad record store",
                r#"{"manifestID":"m","recordObjectStore":"nope"}"#,
            ),
        ];
        for (what, json) in refused {
            let answer: AuthWebhookResponse = serde_json::from_str(json).expect(what);
            let err = StreamAuth::from_response("http://gw/live/a/0.ts", &answer).expect_err(what);
            assert!(matches!(err, GatewayError::StreamConfig { .. }), "{what}");
            assert_eq!(err.status(), axum::http::StatusCode::INTERNAL_SERVER_ERROR);
            assert_eq!(
                err.to_string(),
                "Could not create stream ID: url=http://gw/live/a/0.ts"
            );
        }
        // Types go would refuse fail the whole answer.
        assert!(parse_transcode_configuration(r#"{"verificationFreq":-1}"#).is_err());
        assert!(parse_transcode_configuration(r#"{"presets":"P144p30fps16x9"}"#).is_err());
    }

    #[test]
    fn webhook_urls_are_absolute_http() {
        for good in ["http://127.0.0.1:1/auth", "https://auth.example/x?y=1"] {
            parse_webhook_url(good).expect(good);
        }
        for bad in [
            "",
            "auth.example/x",
            "/auth",
            "ftp://auth.example/",
            "file:///etc/passwd",
        ] {
            assert!(parse_webhook_url(bad).is_err(), "{bad}");
        }
    }
}
