//! Orchestrator discovery from a static `-orchAddr` list.
//!
//! go-livepeer `discovery/discovery.go:orchestratorPool.GetOrchestrators`: every candidate is
//! probed with `GetOrchestrator` at once; the collection waits [`DEFAULT_DISCOVERY_TIMEOUT`]
//! first and, if nothing answered by then, doubles the wait, up to a hard cut-off of
//! [`DISCOVERY_CUTOFF`]; it stops early once it has enough answers or every candidate replied.
//! Answers are sorted by latency, fastest first.

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
    let started = Instant::now();
    let mut pending: FuturesUnordered<_> = addrs
        .iter()
        .map(|addr| {
            let client = client.clone();
            let addr = addr.clone();
            let request = request.clone();
            async move {
                let sent = Instant::now();
                let result = client.get_orchestrator(&addr, request).await;
                (addr, result, sent.elapsed())
            }
        })
        .collect();

    let cutoff = tokio::time::sleep(DISCOVERY_CUTOFF);
    tokio::pin!(cutoff);
    let mut wait = first_wait.max(Duration::from_millis(1));
    let timer = tokio::time::sleep(wait);
    tokio::pin!(timer);
    let mut found: Vec<Candidate> = Vec::new();
    while !pending.is_empty() && found.len() < want.max(1) {
        tokio::select! {
            Some((addr, result, latency)) = pending.next() => match result {
                Ok(info) if is_usable(&info, job) => found.push(Candidate { addr, info, latency }),
                Ok(_) => debug!(%addr, "orchestrator incompatible or without a transcoder URI"),
                Err(err) => debug!(%addr, %err, "orchestrator did not answer"),
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
}
