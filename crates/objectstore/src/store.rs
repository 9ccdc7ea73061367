//! A node's own object store (`-objectStore`, `-recordStore`) and the presigned POST forms it
//! hands to others.
//!
//! The URL forms are go-tools' `drivers.ParseOSURL` (after `PrepareOSURL`):
//!
//! | URL | store |
//! |---|---|
//! | `s3://<key>:<secret>@<region>/<bucket>[/<prefix>]` | AWS S3, uploads to `https://<bucket>.s3.amazonaws.com` |
//! | `s3+http://<key>:<secret>@<host[:port]>/<bucket>[/<prefix>]`, `s3+https://…` | an S3-compatible server, path style: `http(s)://<host>/<bucket>`; the region is the second label of a host name with four or more labels, else `us-east-1` |
//! | `gs://<bucket>?keyfile=<service account JSON file>` | Google Cloud Storage, `https://<bucket>.storage.googleapis.com` |
//!
//! go-tools' other drivers (`file://` and plain paths, `ipfs://`, `w3s://`, `memory://`) are
//! refused with the reason. The secret must be percent-encoded in the URL where it holds
//! `/`, `@` or `:`, as with go's `url.Parse`.
//!
//! A [`PostTarget`] is what goes into `SegData.storage` / `OrchestratorInfo.storage`
//! (go-tools `s3Session.GetInfo`): the upload host, a key prefix, and a POST policy valid for
//! [`POLICY_VALIDITY`] that lets whoever holds it write under that prefix, with SigV4
//! (`createPolicy`) or, for GCS, an RSA-SHA256 signature by the service account
//! (`gsCreatePolicy`).

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use livepeer_proto::net;
use sha2::Sha256;
use time::OffsetDateTime;
use url::Url;

use crate::ObjectStoreError;

/// How long a POST policy handed out stays valid (go-tools `S3_POLICY_EXPIRE_IN_HOURS`).
pub const POLICY_VALIDITY: Duration = Duration::from_secs(24 * 3600);
/// Region used when none can be derived (go-tools `defaultIgnoredRegion`).
pub const DEFAULT_REGION: &str = "us-east-1";

/// Which kind of storage a target is (`OSInfo.StorageType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageKind {
    /// S3 or an S3-compatible server (`S3` = 1).
    S3,
    /// Google Cloud Storage (`GOOGLE` = 2).
    Gcs,
}

impl StorageKind {
    /// The wire enum value.
    pub fn to_net(self) -> net::os_info::StorageType {
        match self {
            StorageKind::S3 => net::os_info::StorageType::S3,
            StorageKind::Gcs => net::os_info::StorageType::Google,
        }
    }
}

/// An S3 store with its credentials.
#[derive(Clone)]
pub struct S3Store {
    /// Where objects are POSTed and read: `https://<bucket>.s3.amazonaws.com` or
    /// `http(s)://<host>/<bucket>`.
    pub host: String,
    /// For S3-compatible servers, the endpoint without the bucket (`http(s)://<host>`).
    pub endpoint: Option<String>,
    /// The bucket.
    pub bucket: String,
    /// The signing region.
    pub region: String,
    /// The access key ID.
    pub access_key: String,
    secret_key: String,
    /// Prepended to every key (go: the URL path after the bucket, as written).
    pub key_prefix: String,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store")
            .field("host", &self.host)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key", &self.access_key)
            .field("key_prefix", &self.key_prefix)
            .finish_non_exhaustive()
    }
}

impl S3Store {
    /// The secret access key.
    pub fn secret_key(&self) -> &str {
        &self.secret_key
    }

    /// A POST target for keys under `<key prefix><path>`, signed now (go-tools
    /// `S3OS.NewSession`).
    pub fn session(&self, path: &str) -> PostTarget {
        self.session_at(path, OffsetDateTime::now_utc())
    }

    fn session_at(&self, path: &str, now: OffsetDateTime) -> PostTarget {
        let key = format!("{}{}", self.key_prefix, path);
        let date = format!(
            "{:04}{:02}{:02}",
            now.year(),
            u8::from(now.month()),
            now.day()
        );
        let credential = format!("{}/{date}/{}/s3/aws4_request", self.access_key, self.region);
        let x_amz_date = format!("{date}T000000Z");
        // go-tools' createPolicy, except that the key condition names the key prefix too
        // (go's names only the path, which real S3 refuses when a prefix is set).
        let src = format!(
            r#"{{ "expiration": "{}",
	"conditions": [
		{{"bucket": "{}"}},
		{{"acl": "public-read"}},
		["starts-with", "$Content-Type", ""],
		["starts-with", "$key", "{}"],
		{{"x-amz-algorithm": "AWS4-HMAC-SHA256"}},
		{{"x-amz-credential": "{credential}"}},
		{{"x-amz-date": "{x_amz_date}" }}
	]}}"#,
            expiration(now),
            json_escape(&self.bucket),
            json_escape(&key),
        );
        let policy = STANDARD.encode(src);
        let signature = sigv4_sign(&policy, &self.region, &date, &self.secret_key);
        PostTarget {
            kind: StorageKind::S3,
            host: self.host.clone(),
            key,
            policy,
            signature,
            credential,
            x_amz_date,
        }
    }
}

/// A GCS store with its service account.
#[derive(Clone)]
pub struct GcsStore {
    /// `https://<bucket>.storage.googleapis.com`.
    pub host: String,
    /// The bucket.
    pub bucket: String,
    /// The service account's e-mail (`GoogleAccessId`).
    pub client_email: String,
    key: std::sync::Arc<aws_lc_rs::signature::RsaKeyPair>,
}

impl std::fmt::Debug for GcsStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GcsStore")
            .field("bucket", &self.bucket)
            .field("client_email", &self.client_email)
            .finish_non_exhaustive()
    }
}

impl GcsStore {
    /// A store for `bucket` signing with the service account key file's JSON (go-tools
    /// `NewGoogleDriver`: `client_email` and a PKCS#8 PEM `private_key`).
    ///
    /// Errors: [`ObjectStoreError::GcsKey`].
    pub fn new(bucket: &str, key_json: &str) -> Result<Self, ObjectStoreError> {
        #[derive(serde::Deserialize)]
        struct KeyFile {
            client_email: String,
            private_key: String,
        }
        let file: KeyFile = serde_json::from_str(key_json)
            .map_err(|e| ObjectStoreError::GcsKey(format!("not a service account key: {e}")))?;
        let der = pem_body(&file.private_key)
            .ok_or_else(|| ObjectStoreError::GcsKey("private_key is not PEM".into()))?;
        let key = aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&der)
            .or_else(|_| aws_lc_rs::signature::RsaKeyPair::from_der(&der))
            .map_err(|e| ObjectStoreError::GcsKey(format!("private_key: {e}")))?;
        Ok(Self {
            host: format!("https://{bucket}.storage.googleapis.com"),
            bucket: bucket.to_string(),
            client_email: file.client_email,
            key: std::sync::Arc::new(key),
        })
    }

    /// A POST target for keys under `path` (go-tools `GsOS.NewSession`).
    pub fn session(&self, path: &str) -> PostTarget {
        let src = format!(
            r#"{{"expiration": "{}",
	"conditions": [
		{{"bucket": "{}"}},
		{{"acl": "public-read"}},
		["starts-with", "$Content-Type", ""],
		["starts-with", "$key", "{}"]
	]}}"#,
            expiration(OffsetDateTime::now_utc()),
            json_escape(&self.bucket),
            json_escape(path),
        );
        let policy = STANDARD.encode(src);
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.key
            .sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &rng,
                policy.as_bytes(),
                &mut sig,
            )
            .expect("an RSA key signs");
        PostTarget {
            kind: StorageKind::Gcs,
            host: self.host.clone(),
            key: path.to_string(),
            policy,
            signature: STANDARD.encode(sig),
            credential: self.client_email.clone(),
            x_amz_date: String::new(),
        }
    }
}

/// A node's own store, from `-objectStore` or `-recordStore`.
#[derive(Debug, Clone)]
pub enum StoreUrl {
    /// S3 or an S3-compatible server.
    S3(S3Store),
    /// Google Cloud Storage.
    Gcs(GcsStore),
}

impl StoreUrl {
    /// Parses an object store URL as go-tools `ParseOSURL` does; for `gs://`, the
    /// `keyfile` query parameter names the service account JSON file read here (go-tools
    /// `PrepareOSURL`).
    ///
    /// Errors: [`ObjectStoreError::InvalidStoreUrl`] (go's messages where it has one),
    /// [`ObjectStoreError::GcsKey`].
    pub fn parse(input: &str) -> Result<Self, ObjectStoreError> {
        let invalid = |reason: &str| ObjectStoreError::InvalidStoreUrl {
            reason: reason.to_string(),
        };
        let url = Url::parse(input).map_err(|e| invalid(&e.to_string()))?;
        match url.scheme() {
            scheme @ ("s3" | "s3+http" | "s3+https") => {
                let password = url
                    .password()
                    .ok_or_else(|| invalid("password is required with s3:// OS"))?;
                let secret = percent_decode(password);
                let access_key = percent_decode(url.username());
                let host = url
                    .host_str()
                    .ok_or_else(|| invalid("no host in the URL"))?;
                let host = match url.port() {
                    Some(port) => format!("{host}:{port}"),
                    None => host.to_string(),
                };
                let path = url.path();
                let bucket = path
                    .split('/')
                    .find(|s| !s.is_empty())
                    .ok_or_else(|| invalid("S3 bucket not found in URL path"))?
                    .to_string();
                // go: the key prefix is everything after the first separator past the
                // leading one.
                let rest = path.strip_prefix('/').unwrap_or(path);
                let key_prefix = rest
                    .find('/')
                    .map(|i| percent_decode(&rest[i + 1..]))
                    .unwrap_or_default();
                if scheme == "s3" {
                    Ok(StoreUrl::S3(S3Store {
                        host: format!("https://{bucket}.s3.amazonaws.com"),
                        endpoint: None,
                        region: host,
                        bucket,
                        access_key,
                        secret_key: secret,
                        key_prefix,
                    }))
                } else {
                    let protocol = if scheme == "s3+https" {
                        "https"
                    } else {
                        "http"
                    };
                    let endpoint = format!("{protocol}://{host}");
                    Ok(StoreUrl::S3(S3Store {
                        host: format!("{endpoint}/{bucket}"),
                        region: custom_region(url.host_str().unwrap_or_default()),
                        endpoint: Some(endpoint),
                        bucket,
                        access_key,
                        secret_key: secret,
                        key_prefix,
                    }))
                }
            }
            "gs" => {
                let bucket = url
                    .host_str()
                    .ok_or_else(|| invalid("no bucket in the gs:// URL"))?;
                let keyfile = url
                    .query_pairs()
                    .find(|(k, _)| k == "keyfile")
                    .map(|(_, v)| v.into_owned());
                let json = match keyfile {
                    Some(path) => std::fs::read_to_string(&path).map_err(|e| {
                        ObjectStoreError::GcsKey(format!("cannot read keyfile {path}: {e}"))
                    })?,
                    None => percent_decode(url.username()),
                };
                Ok(StoreUrl::Gcs(GcsStore::new(bucket, &json)?))
            }
            "file" | "ipfs" | "w3s" | "memory" => Err(invalid(&format!(
                "the {} driver is not supported by this node",
                url.scheme()
            ))),
            other => Err(invalid(&format!("unrecognized OS scheme: {other}"))),
        }
    }

    /// A POST target for keys under `path`.
    pub fn session(&self, path: &str) -> PostTarget {
        match self {
            StoreUrl::S3(s3) => s3.session(path),
            StoreUrl::Gcs(gcs) => gcs.session(path),
        }
    }

    /// The kind of storage.
    pub fn kind(&self) -> StorageKind {
        match self {
            StoreUrl::S3(_) => StorageKind::S3,
            StoreUrl::Gcs(_) => StorageKind::Gcs,
        }
    }

    /// Where objects of this store are read from: URLs starting with it are its own
    /// (go-tools `IsOwn`).
    pub fn host(&self) -> &str {
        match self {
            StoreUrl::S3(s3) => &s3.host,
            StoreUrl::Gcs(gcs) => &gcs.host,
        }
    }
}

/// Where and how to POST objects: one `OSInfo` (go-tools `S3OSInfo`).
#[derive(Clone, PartialEq, Eq)]
pub struct PostTarget {
    /// S3 or GCS form fields.
    pub kind: StorageKind,
    /// The URL the form is POSTed to; objects are then at `<host>/<key>`.
    pub host: String,
    /// The key prefix the policy allows.
    pub key: String,
    /// The base64 policy document.
    pub policy: String,
    /// Its signature (hex SigV4 for S3, base64 RSA for GCS).
    pub signature: String,
    /// S3: `x-amz-credential`; GCS: the service account e-mail.
    pub credential: String,
    /// S3: `x-amz-date`.
    pub x_amz_date: String,
}

impl std::fmt::Debug for PostTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostTarget")
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl PostTarget {
    /// The target an `OSInfo` from the network names: `None` for `DIRECT` or a type this
    /// node does not know (go-tools `drivers.NewSession`: the receiver uses its own storage).
    pub fn from_net(info: &net::OsInfo) -> Option<Self> {
        let kind = match net::os_info::StorageType::try_from(info.storage_type).ok()? {
            net::os_info::StorageType::S3 => StorageKind::S3,
            net::os_info::StorageType::Google => StorageKind::Gcs,
            net::os_info::StorageType::Direct => return None,
        };
        let s3 = info.s3info.as_ref()?;
        Some(Self {
            kind,
            host: s3.host.clone(),
            key: s3.key.clone(),
            policy: s3.policy.clone(),
            signature: s3.signature.clone(),
            credential: s3.credential.clone(),
            x_amz_date: s3.x_amz_date.clone(),
        })
    }

    /// The `OSInfo` for the wire (go-livepeer `core.ToNetOSInfo`).
    pub fn to_net(&self) -> net::OsInfo {
        net::OsInfo {
            storage_type: self.kind.to_net() as i32,
            s3info: Some(net::S3osInfo {
                host: self.host.clone(),
                key: self.key.clone(),
                policy: self.policy.clone(),
                signature: self.signature.clone(),
                credential: self.credential.clone(),
                x_amz_date: self.x_amz_date.clone(),
            }),
        }
    }

    /// Whether `url` is an object of this target's store (go-tools `IsOwn`).
    pub fn is_own(&self, url: &str) -> bool {
        url.starts_with(&self.host)
    }
}

/// go-tools `customS3Region`: the second label of a host name with at least four labels
/// (go does the same to IP addresses, giving region "0" for 127.0.0.1; here an IP gets
/// [`DEFAULT_REGION`]: the region only has to agree between the policy and its signature,
/// both made here).
fn custom_region(hostname: &str) -> String {
    if hostname
        .trim_matches(['[', ']'])
        .parse::<std::net::IpAddr>()
        .is_ok()
    {
        return DEFAULT_REGION.to_string();
    }
    let parts: Vec<&str> = hostname.split('.').collect();
    if parts.len() >= 4 {
        parts[1].to_string()
    } else {
        DEFAULT_REGION.to_string()
    }
}

/// The policy expiration, [`POLICY_VALIDITY`] after `now`, as go formats it.
fn expiration(now: OffsetDateTime) -> String {
    let at = now + POLICY_VALIDITY;
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second(),
        at.millisecond()
    )
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// SigV4 of a POST policy (go-tools `signString`).
fn sigv4_sign(string_to_sign: &str, region: &str, date: &str, secret: &str) -> String {
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, b"s3");
    let k_signing = hmac(&k_service, b"aws4_request");
    hex::encode(hmac(&k_signing, string_to_sign.as_bytes()))
}

fn json_escape(s: &str) -> String {
    let quoted = serde_json::to_string(s).unwrap_or_default();
    quoted[1..quoted.len().saturating_sub(1)].to_string()
}

fn percent_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The DER inside a PEM block (or `None`).
fn pem_body(pem: &str) -> Option<Vec<u8>> {
    let body: String = pem
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("-----"))
        .collect();
    STANDARD.decode(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s3(url: &str) -> S3Store {
        match StoreUrl::parse(url).expect(url) {
            StoreUrl::S3(s3) => s3,
            other => panic!("{url}: {other:?}"),
        }
    }

    #[test]
    fn store_urls_parse_as_go_tools_does() {
        let aws = s3("s3://AKID:se%2Fcret@eu-west-1/my-bucket");
        assert_eq!(aws.host, "https://my-bucket.s3.amazonaws.com");
        assert_eq!(aws.region, "eu-west-1");
        assert_eq!(aws.bucket, "my-bucket");
        assert_eq!(aws.access_key, "AKID");
        assert_eq!(aws.secret_key(), "se/cret");
        assert_eq!(aws.key_prefix, "");
        assert_eq!(aws.endpoint, None);

        let custom = s3("s3+http://k:s@127.0.0.1:9000/bucket/some/prefix/");
        assert_eq!(custom.host, "http://127.0.0.1:9000/bucket");
        assert_eq!(custom.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(custom.region, DEFAULT_REGION);
        assert_eq!(custom.key_prefix, "some/prefix/");

        let storj = s3("s3+https://k:s@gateway.us1.storjshare.io/b");
        assert_eq!(storj.host, "https://gateway.us1.storjshare.io/b");
        assert_eq!(storj.region, "us1");

        for (bad, why) in [
            (
                "s3://key@region/bucket",
                "password is required with s3:// OS",
            ),
            ("s3://k:s@region/", "S3 bucket not found in URL path"),
            ("ftp://x/y", "unrecognized OS scheme: ftp"),
            ("/var/lp/store", "relative URL without a base"),
        ] {
            let err = StoreUrl::parse(bad).expect_err(bad).to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
        assert!(StoreUrl::parse("file:///srv/x").is_err());
        assert!(StoreUrl::parse("gs://bucket?keyfile=/nonexistent/key.json").is_err());
    }

    #[test]
    fn s3_policy_is_go_tools_form() {
        let store = s3("s3+http://AKIDEXAMPLE:wJalrXUtnFEMI@127.0.0.1:9000/bkt");
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).expect("time");
        let target = store.session_at("stream1/abcd0123", now);
        assert_eq!(target.host, "http://127.0.0.1:9000/bkt");
        assert_eq!(target.key, "stream1/abcd0123");
        assert_eq!(
            target.credential,
            "AKIDEXAMPLE/20231114/us-east-1/s3/aws4_request"
        );
        assert_eq!(target.x_amz_date, "20231114T000000Z");
        let policy =
            String::from_utf8(STANDARD.decode(&target.policy).expect("base64")).expect("utf-8");
        assert!(policy.contains(r#""expiration": "2023-11-15T22:13:20.000Z""#));
        assert!(policy.contains(r#"["starts-with", "$key", "stream1/abcd0123"]"#));
        assert!(policy.contains(r#"{"bucket": "bkt"}"#));
        // The signature is the SigV4 chain over the base64 policy.
        assert_eq!(
            target.signature,
            sigv4_sign(&target.policy, "us-east-1", "20231114", "wJalrXUtnFEMI")
        );
        assert_eq!(target.signature.len(), 64);
        // It crosses the wire and back unchanged.
        let net = target.to_net();
        assert_eq!(net.storage_type, 1);
        assert_eq!(PostTarget::from_net(&net), Some(target.clone()));
        assert!(target.is_own("http://127.0.0.1:9000/bkt/stream1/x.ts"));
        assert!(!target.is_own("http://127.0.0.1:9001/bkt/stream1/x.ts"));
        let direct = net::OsInfo {
            storage_type: 0,
            ..net
        };
        assert_eq!(PostTarget::from_net(&direct), None);
    }

    #[test]
    fn gcs_policy_is_signed_by_the_service_account() {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::signature::KeyPair;
        let key = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .expect("an RSA key");
        let der = key.as_der().expect("pkcs8");
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(der.as_ref())
        );
        let json = serde_json::json!({
            "type": "service_account",
            "client_email": "lp@project.iam.gserviceaccount.com",
            "private_key": pem,
        })
        .to_string();
        let store = GcsStore::new("lp-bucket", &json).expect("a GCS store");
        let target = store.session("m1/s1");
        assert_eq!(target.kind, StorageKind::Gcs);
        assert_eq!(target.host, "https://lp-bucket.storage.googleapis.com");
        assert_eq!(target.credential, "lp@project.iam.gserviceaccount.com");
        assert_eq!(target.to_net().storage_type, 2);
        let public = aws_lc_rs::signature::UnparsedPublicKey::new(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            key.public_key().as_ref(),
        );
        let sig = STANDARD.decode(&target.signature).expect("base64");
        public
            .verify(target.policy.as_bytes(), &sig)
            .expect("the policy signature verifies with the account's key");
        assert!(GcsStore::new("b", "{}").is_err());
    }
}
