//! Orchestrator discovery from a static `-orchAddr` list or an `-orchWebhookUrl`
//! ([`OrchestratorWebhook`]).
//!
//! go-livepeer `discovery/discovery.go:orchestratorPool.GetOrchestrators`: every candidate is
//! probed with `GetOrchestrator` at once; the collection waits [`DEFAULT_DISCOVERY_TIMEOUT`]
//! first and, if nothing answered by then, doubles the wait, up to a hard cut-off of
//! [`DISCOVERY_CUTOFF`]; it stops early once it has enough answers or every candidate replied.
//! Answers are sorted by latency, fastest first.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;
use hyper::Uri;
use livepeer_primitives::Capabilities;
use livepeer_proto::{convert, net};
use tracing::debug;

use crate::GatewayError;
use crate::client::OrchestratorClient;

/// First wait for discovery answers (`-discoveryTimeout`, go-livepeer default 500 ms).
pub const DEFAULT_DISCOVERY_TIMEOUT: Duration = Duration::from_millis(500);
/// Hard cut-off of one discovery round (go-livepeer `maxGetOrchestratorCutoffTimeout`).
pub const DISCOVERY_CUTOFF: Duration = Duration::from_secs(6);
/// go-livepeer's default orchestrator port, added to `-orchAddr` entries without one.
pub const DEFAULT_ORCHESTRATOR_PORT: u16 = 8935;

/// One orchestrator that answered `GetOrchestrator`.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The address it was discovered at (an `-orchAddr` entry).
    pub addr: Uri,
    /// Its answer.
    pub info: net::OrchestratorInfo,
    /// How long the answer took.
    pub latency: Duration,
    /// With `-extraNodes`: the `-orchAddr` entry whose `OrchestratorInfo.nodes` named this
    /// one; it shares that entry's score.
    pub via: Option<Uri>,
}

/// Normalises an `-orchAddr` entry as go-livepeer does: `https://` added when no scheme is
/// given, port 8935 added when none is given.
///
/// Errors: [`GatewayError::InvalidOrchestratorAddress`].
pub fn parse_orch_addr(entry: &str) -> Result<Uri, GatewayError> {
    let invalid = |reason: &str| GatewayError::InvalidOrchestratorAddress {
        addr: entry.to_string(),
        reason: reason.to_string(),
    };
    let entry = entry.trim();
    if entry.is_empty() {
        return Err(invalid("empty"));
    }
    let with_scheme = if entry.contains("://") {
        entry.to_string()
    } else {
        format!("https://{entry}")
    };
    let uri: Uri = with_scheme
        .parse()
        .map_err(|e: hyper::http::uri::InvalidUri| invalid(&e.to_string()))?;
    let scheme = uri.scheme_str().unwrap_or("https");
    if scheme != "https" && scheme != "http" {
        return Err(invalid("scheme must be https or http"));
    }
    let host = uri.host().ok_or_else(|| invalid("no host"))?;
    let port = uri.port_u16().unwrap_or(DEFAULT_ORCHESTRATOR_PORT);
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    format!("{scheme}://{host}:{port}")
        .parse()
        .map_err(|e: hyper::http::uri::InvalidUri| invalid(&e.to_string()))
}

/// Parses a comma-separated `-orchAddr` list.
pub fn parse_orch_addrs(list: &str) -> Result<Vec<Uri>, GatewayError> {
    list.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(parse_orch_addr)
        .collect()
}

/// Probes `addrs` in parallel and returns the compatible answers, fastest first.
///
/// `want` stops the collection as soon as that many answered; `first_wait` is the initial
/// timer (doubled while nothing has answered, capped by [`DISCOVERY_CUTOFF`]). An answer is
/// kept when it names a transcoder URI and its capabilities cover `job` (or it sent none and
/// the job is legacy-only, go-livepeer `isCompatible`).
pub async fn discover(
    client: &OrchestratorClient,
    addrs: &[Uri],
    job: &Capabilities,
    want: usize,
    first_wait: Duration,
) -> Vec<Candidate> {
    let request = net::OrchestratorRequest {
        capabilities: Some(convert::capabilities_to_net(job)),
        ..Default::default()
    };
    discover_with(client, addrs, &request, job, want, first_wait).await
}

/// [`discover`] sending `request` (e.g. signed by the gateway's account on chain) to each.
pub async fn discover_with(
    client: &OrchestratorClient,
    addrs: &[Uri],
    request: &net::OrchestratorRequest,
    job: &Capabilities,
    want: usize,
    first_wait: Duration,
) -> Vec<Candidate> {
    discover_recorded(client, addrs, request, job, want, first_wait, 0, None).await
}

/// [`discover_with`], also probing up to `extra_nodes` of the instance URLs each answer
/// advertises in `OrchestratorInfo.nodes` (`-extraNodes`; go-livepeer
/// `discovery/discovery.go`: one level deep, each URL once, https only, the advertising
/// entry's score). An orchestrator that names nodes is itself a candidate only when it
/// names a transcoder URI.
pub async fn discover_with_nodes(
    client: &OrchestratorClient,
    addrs: &[Uri],
    request: &net::OrchestratorRequest,
    job: &Capabilities,
    want: usize,
    first_wait: Duration,
    extra_nodes: usize,
) -> Vec<Candidate> {
    discover_recorded(
        client,
        addrs,
        request,
        job,
        want,
        first_wait,
        extra_nodes,
        None,
    )
    .await
}

/// [`discover_with_nodes`], counting each orchestrator that does not answer in `metrics`
/// (`livepeer_discovery_errors_total`, go-livepeer `LogDiscoveryError`).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn discover_recorded(
    client: &OrchestratorClient,
    addrs: &[Uri],
    request: &net::OrchestratorRequest,
    job: &Capabilities,
    want: usize,
    first_wait: Duration,
    extra_nodes: usize,
    metrics: Option<&livepeer_monitor::Metrics>,
) -> Vec<Candidate> {
    let started = Instant::now();
    let probe = |addr: Uri, via: Option<Uri>| {
        let client = client.clone();
        let request = request.clone();
        async move {
            let sent = Instant::now();
            let result = client.get_orchestrator(&addr, request).await;
            (addr, result, sent.elapsed(), via)
        }
    };
    let mut seen: std::collections::HashSet<Uri> = addrs.iter().cloned().collect();
    let mut pending: FuturesUnordered<_> = addrs.iter().map(|a| probe(a.clone(), None)).collect();

    let cutoff = tokio::time::sleep(DISCOVERY_CUTOFF);
    tokio::pin!(cutoff);
    let mut wait = first_wait.max(Duration::from_millis(1));
    let timer = tokio::time::sleep(wait);
    tokio::pin!(timer);
    let mut found: Vec<Candidate> = Vec::new();
    while !pending.is_empty() && found.len() < want.max(1) {
        tokio::select! {
            Some((addr, result, latency, via)) = pending.next() => {
                if via.is_none()
                    && let Ok(info) = &result
                {
                    for node in advertised_nodes(info, extra_nodes) {
                        if seen.insert(node.clone()) {
                            debug!(orch = %addr, %node, "probing an advertised node");
                            pending.push(probe(node, Some(addr.clone())));
                        }
                    }
                }
                match result {
                    Ok(info) if is_usable(&info, job) => {
                        found.push(Candidate { addr, info, latency, via })
                    }
                    Ok(_) => debug!(%addr, "orchestrator incompatible or without a transcoder URI"),
                    Err(err) => {
                        debug!(%addr, %err, "orchestrator did not answer");
                        if let Some(m) = metrics {
                            m.discovery_error(&addr.to_string(), &err.to_string());
                        }
                    }
                }
            },
            _ = &mut timer => {
                if !found.is_empty() { break; }
                wait = (wait * 2).min(DISCOVERY_CUTOFF);
                timer.as_mut().reset(tokio::time::Instant::now() + wait);
            }
            _ = &mut cutoff => break,
        }
    }
    found.sort_by_key(|c| c.latency);
    debug!(found = found.len(), asked = addrs.len(), elapsed = ?started.elapsed(), "discovery done");
    found
}

/// Parses `-orchBlocklist`: comma-separated ETH addresses, `0x` optional, any case (go-livepeer
/// lower-cases the list and compares hex); empty entries are skipped.
///
/// Errors: [`GatewayError::BadRequest`] naming an entry that is not an address (go would
/// silently never match it).
pub fn parse_orch_blocklist(list: &str) -> Result<Vec<alloy_primitives::Address>, GatewayError> {
    list.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let hex = entry
                .strip_prefix("0x")
                .or_else(|| entry.strip_prefix("0X"))
                .unwrap_or(entry);
            hex.parse::<alloy_primitives::Address>().map_err(|_| {
                GatewayError::BadRequest(format!(
                    "-orchBlocklist: {entry:?} is not an orchestrator address"
                ))
            })
        })
        .collect()
}

/// Whether `info` answers with one of `blocklist`'s addresses.
pub fn is_blocklisted(
    info: &net::OrchestratorInfo,
    blocklist: &[alloy_primitives::Address],
) -> bool {
    !blocklist.is_empty()
        && alloy_primitives::Address::try_from(info.address.as_slice())
            .is_ok_and(|a| blocklist.contains(&a))
}

/// The first `limit` instance URLs of `info.nodes` that parse as https `host:port` URIs
/// (go-livepeer skips the ones that do not parse).
pub fn advertised_nodes(info: &net::OrchestratorInfo, limit: usize) -> Vec<Uri> {
    info.nodes
        .iter()
        .take(limit)
        .filter(|node| node.starts_with("https://"))
        .filter_map(|node| parse_orch_addr(node).ok())
        .collect()
}

fn is_usable(info: &net::OrchestratorInfo, job: &Capabilities) -> bool {
    if info.transcoder.is_empty() {
        return false;
    }
    match &info.capabilities {
        Some(caps) => job.compatible_with(&convert::capabilities_from_net(Some(caps))),
        None => job.bitstring.is_legacy_only(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blocklist_parses_as_go_livepeer_compares_it() {
        let a = alloy_primitives::Address::repeat_byte(0xab);
        let b = alloy_primitives::Address::repeat_byte(0x0c);
        let list = format!("{},{}, ,", a.to_checksum(None), hex::encode(b));
        assert_eq!(parse_orch_blocklist(&list).expect("parses"), [a, b]);
        assert!(parse_orch_blocklist("").expect("empty").is_empty());
        assert!(parse_orch_blocklist("0x1234").is_err());
        let info = |addr: &[u8]| net::OrchestratorInfo {
            address: addr.to_vec(),
            ..Default::default()
        };
        assert!(is_blocklisted(&info(a.as_slice()), &[a]));
        assert!(!is_blocklisted(&info(b.as_slice()), &[a]));
        assert!(
            !is_blocklisted(&info(&[]), &[a]),
            "off chain: no address, never blocked"
        );
    }

    #[test]
    fn orch_addrs_get_scheme_and_port() {
        let cases = [
            ("127.0.0.1:8935", "https://127.0.0.1:8935/"),
            ("orch.example", "https://orch.example:8935/"),
            ("http://127.0.0.1:9000", "http://127.0.0.1:9000/"),
            (" https://o.example:1 ", "https://o.example:1/"),
        ];
        for (entry, want) in cases {
            assert_eq!(parse_orch_addr(entry).expect(entry).to_string(), want);
        }
        for bad in ["", "ftp://x:1", "http://"] {
            assert!(parse_orch_addr(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_orch_addrs("a:1,,b:2").expect("list").len(), 2);
    }

    #[test]
    fn webhook_answers_as_go_reads_them() {
        let body = br#"[
            {"address": "https://o1.example:8935", "score": 1},
            {"address": "http://127.0.0.1:9000", "score": 0},
            {"address": "https://o3.example", "score": 0.5},
            {"address": "https://o4.example:1"},
            {"address": "", "score": 1},
            {"score": 1},
            {"address": "o5.example:8935", "score": 1},
            {"address": "ftp://o6.example", "score": 1}
        ]"#;
        let got: Vec<(String, f32)> = parse_webhook_orchestrators("w", body)
            .expect("an array")
            .into_iter()
            .map(|o| (o.addr.to_string(), o.score))
            .collect();
        assert_eq!(
            got,
            [
                ("https://o1.example:8935/".to_string(), 1.0),
                ("http://127.0.0.1:9000/".to_string(), 0.0),
                ("https://o3.example:8935/".to_string(), 0.5),
                ("https://o4.example:1/".to_string(), 0.0),
            ]
        );
        for bad in [&b"{}"[..], b"not json", br#"[{"address": 1}]"#] {
            assert!(matches!(
                parse_webhook_orchestrators("w", bad),
                Err(GatewayError::OrchWebhook { .. })
            ));
        }
        assert!(
            parse_webhook_orchestrators("w", b"[]")
                .expect("empty")
                .is_empty()
        );
    }
}

/// Deadline of one orchestrator webhook request (go-livepeer `getURLsfromWebhook`).
pub const ORCH_WEBHOOK_TIMEOUT: Duration = Duration::from_secs(3);
/// How long an orchestrator webhook answer is used before the webhook is asked again
/// (go-livepeer `common.WebhookDiscoveryRefreshInterval`).
pub const ORCH_WEBHOOK_REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// Largest orchestrator webhook answer read, bytes: 4 MiB is tens of thousands of entries.
pub const MAX_ORCH_WEBHOOK_BODY_BYTES: usize = 4 * 1024 * 1024;

/// One orchestrator a webhook lists.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredOrchestrator {
    /// Its address (normalised as an `-orchAddr` entry).
    pub addr: Uri,
    /// Its score: 1 or more is trusted, exactly 0 untrusted (see
    /// [`crate::dispatch::SCORE_TRUSTED`]).
    pub score: f32,
}

#[derive(Debug, serde::Deserialize)]
struct WebhookEntry {
    #[serde(default)]
    address: String,
    #[serde(default)]
    score: f32,
}

/// Parses an orchestrator webhook answer, `[{"address": "<url>", "score": <float>}]`
/// (go-livepeer `discovery/wh_discovery.go:deserializeWebhookJSON`): entries without an
/// address, or whose address is not an absolute http(s) URL, are skipped; a missing score is
/// 0.
///
/// Errors: [`GatewayError::OrchWebhook`] when the body is not such a JSON array.
pub fn parse_webhook_orchestrators(
    url: &str,
    body: &[u8],
) -> Result<Vec<ScoredOrchestrator>, GatewayError> {
    let entries: Vec<WebhookEntry> =
        serde_json::from_slice(body).map_err(|e| GatewayError::OrchWebhook {
            url: url.to_string(),
            reason: format!("unable to unmarshal JSON: {e}"),
        })?;
    Ok(entries
        .into_iter()
        .filter(|e| !e.address.is_empty())
        .filter_map(|e| {
            let absolute = e.address.starts_with("http://") || e.address.starts_with("https://");
            match parse_orch_addr(&e.address) {
                Ok(addr) if absolute && e.score.is_finite() => Some(ScoredOrchestrator {
                    addr,
                    score: e.score,
                }),
                _ => {
                    debug!(address = %e.address, "webhook entry skipped: not an orchestrator URL");
                    None
                }
            }
        })
        .collect())
}

#[derive(Debug, Default)]
struct WebhookCache {
    fetched_at: Option<Instant>,
    body_hash: alloy_primitives::B256,
    orchestrators: Option<Vec<ScoredOrchestrator>>,
}

/// Orchestrator discovery from a webhook (go-livepeer `discovery/wh_discovery.go`): a GET
/// with a deadline of [`ORCH_WEBHOOK_TIMEOUT`] whose answer is used for
/// [`ORCH_WEBHOOK_REFRESH_INTERVAL`]; when the webhook fails the last good answer is used.
/// Unlike `-orchAddr`, go applies no blocklist to this list, and each entry carries its own
/// score.
#[derive(Debug)]
pub struct OrchestratorWebhook {
    url: reqwest::Url,
    http: reqwest::Client,
    cache: Mutex<WebhookCache>,
    refresh: Duration,
}

impl OrchestratorWebhook {
    /// A webhook at `url` (an absolute http(s) URL, go-livepeer `validateURL`).
    ///
    /// Errors: [`GatewayError::InvalidWebhookUrl`].
    pub fn new(url: &str) -> Result<Self, GatewayError> {
        Ok(Self {
            url: crate::auth::parse_webhook_url(url)?,
            http: crate::auth::webhook_client(ORCH_WEBHOOK_TIMEOUT)?,
            cache: Mutex::new(WebhookCache::default()),
            refresh: ORCH_WEBHOOK_REFRESH_INTERVAL,
        })
    }

    /// The same, asking the webhook again after `refresh` instead of a minute.
    pub fn with_refresh_interval(mut self, refresh: Duration) -> Self {
        self.refresh = refresh;
        self
    }

    /// The orchestrators listed now: the cached answer while it is fresh, else the webhook's
    /// (re-parsed only when its body changed, go-livepeer compares keccak hashes), else the
    /// last good answer.
    ///
    /// Errors: [`GatewayError::OrchWebhook`] when the webhook fails and nothing is cached.
    pub async fn orchestrators(&self) -> Result<Vec<ScoredOrchestrator>, GatewayError> {
        {
            let cache = lock(&self.cache);
            if let (Some(at), Some(list)) = (cache.fetched_at, &cache.orchestrators)
                && at.elapsed() < self.refresh
            {
                return Ok(list.clone());
            }
        }
        let fetched = self.fetch().await;
        let mut cache = lock(&self.cache);
        let fail = |reason: String, cache: &WebhookCache| match &cache.orchestrators {
            Some(list) => {
                tracing::warn!(url = %self.url, %reason, "orchestrator webhook failed; using its last answer");
                Ok(list.clone())
            }
            None => Err(GatewayError::OrchWebhook {
                url: self.url.to_string(),
                reason,
            }),
        };
        let body = match fetched {
            Ok(body) => body,
            Err(reason) => return fail(reason, &cache),
        };
        let hash = alloy_primitives::keccak256(&body);
        if cache.orchestrators.is_some() && hash == cache.body_hash {
            cache.fetched_at = Some(Instant::now());
            return Ok(cache.orchestrators.clone().unwrap_or_default());
        }
        match parse_webhook_orchestrators(self.url.as_str(), &body) {
            Ok(list) => {
                cache.fetched_at = Some(Instant::now());
                cache.body_hash = hash;
                cache.orchestrators = Some(list.clone());
                Ok(list)
            }
            Err(err) => fail(err.to_string(), &cache),
        }
    }

    async fn fetch(&self) -> Result<Vec<u8>, String> {
        let response = self
            .http
            .get(self.url.clone())
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!(
                "orchestrator webhook returned HTTP status {}",
                response.status()
            ));
        }
        crate::auth::read_limited(response, MAX_ORCH_WEBHOOK_BODY_BYTES).await
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
