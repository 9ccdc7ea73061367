//! HTTP to URLs that came from the network: segment URLs an orchestrator downloads
//! (`application/vnd+livepeer.uri` bodies) and the storage hosts it uploads renditions to
//! (`SegData.storage`).
//!
//! Everything in such a URL is chosen by the peer, so [`Fetcher`] bounds what it can make this
//! node do (server-side request forgery):
//!
//! - only `http` and `https`, no user info, at most [`MAX_URL_BYTES`];
//! - hosts are checked against a [`FetchPolicy`] *after* resolution, by the resolver the
//!   connection then uses, so a name cannot resolve to one address for the check and another
//!   for the connection; IP literals are checked before the request; redirects (at most
//!   [`MAX_REDIRECTS`]) go through the same checks;
//! - by default the policy refuses loopback, private (RFC 1918, CGNAT, unique-local),
//!   link-local (the cloud metadata address 169.254.169.254 among them), unspecified,
//!   multicast, broadcast and documentation addresses, and IPv4 addresses mapped or embedded
//!   in IPv6; [`FetchPolicy::allow_private_networks`] lets a node whose gateways and buckets
//!   sit on its own network reach them;
//! - no proxy from the environment; connect within [`CONNECT_TIMEOUT`]; every body read is
//!   capped in bytes and the whole exchange in time.
//!
//! Certificates are not verified, as go-livepeer's `core/os.go` client does
//! (`InsecureSkipVerify`): buckets on self-signed endpoints keep working, and nothing read
//! this way is trusted (a downloaded segment must match the signed hash).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use url::Url;

use crate::ObjectStoreError;

/// Longest URL accepted, bytes.
pub const MAX_URL_BYTES: usize = 4096;
/// Redirects followed at most (each checked like the first URL).
pub const MAX_REDIRECTS: usize = 3;
/// Connect timeout (go-livepeer `common.HTTPDialTimeout`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Which addresses URLs from the network may reach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchPolicy {
    /// Allow loopback, private and link-local addresses too (a node whose peers and buckets
    /// are on its own network, and tests). Unspecified, multicast and broadcast addresses are
    /// refused even then.
    pub allow_private_networks: bool,
}

impl FetchPolicy {
    /// A policy that allows private networks.
    pub fn private_networks() -> Self {
        Self {
            allow_private_networks: true,
        }
    }

    /// Whether `ip` may be connected to.
    pub fn allows(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => self.allows_v4(v4),
            IpAddr::V6(v6) => {
                if let Some(v4) = v6.to_ipv4_mapped() {
                    return self.allows_v4(v4);
                }
                let seg = v6.segments();
                if v6.is_unspecified() || v6.is_multicast() {
                    return false;
                }
                if v6.is_loopback() {
                    return self.allow_private_networks;
                }
                // 6to4, NAT64 and IPv4-compatible addresses embed an IPv4 address.
                let embeds_v4 = seg[0] == 0x2002
                    || (seg[0] == 0x64 && seg[1] == 0xff9b)
                    || seg[..6].iter().all(|&s| s == 0);
                // Documentation 2001:db8::/32.
                if embeds_v4 || (seg[0] == 0x2001 && seg[1] == 0xdb8) {
                    return false;
                }
                let local = (seg[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                    || (seg[0] & 0xffc0) == 0xfe80; // link local fe80::/10
                !local || self.allow_private_networks
            }
        }
    }

    fn allows_v4(&self, ip: Ipv4Addr) -> bool {
        let o = ip.octets();
        if ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() || o[0] == 0 {
            return false;
        }
        // Documentation (TEST-NET-1/2/3), benchmarking 198.18/15 and reserved 240/4.
        let reserved = ip.is_documentation() || (o[0] == 198 && (o[1] & 0xfe) == 18) || o[0] >= 240;
        if reserved {
            return false;
        }
        let local = ip.is_loopback()
            || ip.is_private()
            || ip.is_link_local()
            || (o[0] == 100 && (o[1] & 0xc0) == 64); // CGNAT 100.64/10
        !local || self.allow_private_networks
    }
}

/// Parses and checks a URL from the network: http(s), no user info, bounded length, and a
/// host that is a name or an allowed IP literal.
///
/// Errors: [`ObjectStoreError::Refused`].
pub fn check_url(text: &str, policy: FetchPolicy) -> Result<Url, ObjectStoreError> {
    let refused = |reason: &str| ObjectStoreError::Refused {
        url: shorten(text),
        reason: reason.to_string(),
    };
    if text.len() > MAX_URL_BYTES {
        return Err(refused("URL too long"));
    }
    let url = Url::parse(text.trim()).map_err(|e| refused(&e.to_string()))?;
    check_parsed(&url, policy).map_err(|reason| refused(&reason))?;
    Ok(url)
}

fn check_parsed(url: &Url, policy: FetchPolicy) -> Result<(), String> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("scheme {:?} is not http or https", url.scheme()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials in the URL".into());
    }
    let ip = match url.host() {
        None => return Err("no host".into()),
        Some(url::Host::Domain(_)) => return Ok(()),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
    };
    if policy.allows(ip) {
        Ok(())
    } else {
        Err(format!("address {ip} is not allowed"))
    }
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(200) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// The resolver of a [`Fetcher`]: the system's, with the refused addresses removed.
struct PolicyResolver {
    policy: FetchPolicy,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        let host = name.as_str().to_string();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| policy.allows(a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(format!(
                    "{host} resolves to no allowed address ({} refused)",
                    found.len()
                )
                .into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// An HTTP client for URLs from the network, bound by a [`FetchPolicy`].
#[derive(Debug, Clone)]
pub struct Fetcher {
    http: reqwest::Client,
    policy: FetchPolicy,
}

impl Fetcher {
    /// A client with `policy`.
    pub fn new(policy: FetchPolicy) -> Self {
        let redirect = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error("too many redirects");
            }
            match check_parsed(attempt.url(), policy) {
                Ok(()) => attempt.follow(),
                Err(reason) => attempt.error(reason),
            }
        });
        let http = reqwest::Client::builder()
            .redirect(redirect)
            .dns_resolver(Arc::new(PolicyResolver { policy }))
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .tls_danger_accept_invalid_certs(true)
            .build()
            .expect("a reqwest client with rustls builds");
        Self { http, policy }
    }

    /// The policy.
    pub fn policy(&self) -> FetchPolicy {
        self.policy
    }

    /// The underlying client, for requests to URLs already checked with [`check_url`].
    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.http
    }

    /// GETs `url` and returns its body: at most `limit_bytes`, all within `timeout` (go-livepeer
    /// `core/os.go:DownloadData`, which reads at most `common.MaxSegSize`).
    ///
    /// Errors: [`ObjectStoreError::Refused`] by the policy (also when a name resolves only to
    /// refused addresses, reported as [`ObjectStoreError::Http`]), [`ObjectStoreError::Status`]
    /// for a status other than 200, [`ObjectStoreError::TooLarge`], and
    /// [`ObjectStoreError::Http`] for transport failures and the deadline.
    pub async fn get(
        &self,
        url: &str,
        limit_bytes: u64,
        timeout: Duration,
    ) -> Result<Bytes, ObjectStoreError> {
        let parsed = check_url(url, self.policy)?;
        let shown = shorten(url);
        let fetch = async {
            let response = self
                .http
                .get(parsed)
                .send()
                .await
                .map_err(|e| http_error(&shown, &e))?;
            if response.status() != reqwest::StatusCode::OK {
                return Err(ObjectStoreError::Status {
                    url: shown.clone(),
                    status: response.status().to_string(),
                });
            }
            read_limited(response, limit_bytes, &shown).await
        };
        tokio::time::timeout(timeout, fetch)
            .await
            .map_err(|_| ObjectStoreError::Http {
                url: shown.clone(),
                reason: format!("timed out after {timeout:?}"),
            })?
    }
}

/// Reads a response body up to `limit_bytes` (a longer `Content-Length` fails first).
pub(crate) async fn read_limited(
    response: reqwest::Response,
    limit_bytes: u64,
    url: &str,
) -> Result<Bytes, ObjectStoreError> {
    let too_large = || ObjectStoreError::TooLarge {
        url: url.to_string(),
        limit_bytes,
    };
    if response.content_length().is_some_and(|n| n > limit_bytes) {
        return Err(too_large());
    }
    let mut buf = BytesMut::new();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| http_error(url, &e))?;
        if (buf.len() + chunk.len()) as u64 > limit_bytes {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

pub(crate) fn http_error(url: &str, err: &reqwest::Error) -> ObjectStoreError {
    let mut reason = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    ObjectStoreError::Http {
        url: url.to_string(),
        reason,
    }
}

#[cfg(test)]
fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse::<std::net::Ipv6Addr>().expect("ipv6"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_policy_refuses_internal_addresses() {
        let strict = FetchPolicy::default();
        let lan = FetchPolicy::private_networks();
        // (address, allowed by default, allowed with private networks)
        let cases: [(IpAddr, bool, bool); 16] = [
            ("8.8.8.8".parse().expect("ip"), true, true),
            ("127.0.0.1".parse().expect("ip"), false, true),
            ("10.1.2.3".parse().expect("ip"), false, true),
            ("172.16.0.1".parse().expect("ip"), false, true),
            ("192.168.1.1".parse().expect("ip"), false, true),
            ("169.254.169.254".parse().expect("ip"), false, true),
            ("100.64.0.1".parse().expect("ip"), false, true),
            ("0.0.0.0".parse().expect("ip"), false, false),
            ("255.255.255.255".parse().expect("ip"), false, false),
            ("224.0.0.1".parse().expect("ip"), false, false),
            (v6("::1"), false, true),
            (v6("::ffff:127.0.0.1"), false, true),
            (v6("fd00::1"), false, true),
            (v6("::"), false, false),
            (v6("2002:7f00:1::"), false, false),
            (v6("2606:4700::1111"), true, true),
        ];
        for (ip, by_default, with_lan) in cases {
            assert_eq!(strict.allows(ip), by_default, "{ip} by default");
            assert_eq!(lan.allows(ip), with_lan, "{ip} with private networks");
        }
    }

    #[test]
    fn only_plain_http_urls_pass() {
        let policy = FetchPolicy::default();
        assert!(check_url("https://bucket.example.com/a/0.ts", policy).is_ok());
        assert!(check_url("http://8.8.8.8:9000/b/0.ts", policy).is_ok());
        for bad in [
            "file:///etc/passwd",
            "ftp://example.com/x",
            "gopher://example.com/",
            "https://user:pw@example.com/x",
            "http://127.0.0.1:7935/status",
            "http://[::1]/x",
            "http://169.254.169.254/latest/meta-data/",
            "http://0x7f000001/",
            "not a url",
            "",
        ] {
            assert!(
                matches!(
                    check_url(bad, policy),
                    Err(ObjectStoreError::Refused { .. })
                ),
                "{bad}"
            );
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_BYTES));
        assert!(check_url(&long, policy).is_err());
        assert!(check_url("http://127.0.0.1:7935/x", FetchPolicy::private_networks()).is_ok());
    }
}
