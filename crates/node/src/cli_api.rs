//! The node's local CLI API (`-cliAddr`, go-livepeer's `server/webserver.go`): for now
//! `GET /status`, a JSON view of the node — role, account, and for an on-chain node what it
//! paid or was paid — read by `livepeer demo` and operators' scripts. It listens on loopback
//! unless told otherwise and has no authentication, like go-livepeer's.

use std::net::SocketAddr;

use anyhow::Context;
use axum::routing::get;
use axum::{Json, Router};
use livepeer_gateway::GatewayHandle;
use livepeer_orchestrator::OrchestratorHandle;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// What `/status` reports on.
#[derive(Clone)]
pub struct NodeView {
    /// `-network`.
    pub network: String,
    /// The node's account, on chain.
    pub address: Option<alloy_primitives::Address>,
    /// The orchestrator role, if run.
    pub orchestrator: Option<(String, OrchestratorHandle)>,
    /// The gateway role, if run.
    pub gateway: Option<GatewayHandle>,
}

impl NodeView {
    fn status(&self) -> Value {
        let orchestrator = self.orchestrator.as_ref().map(|(uri, h)| {
            json!({
                "serviceUri": uri,
                "sessions": h.sessions(),
                "payments": h.payment_stats(),
            })
        });
        let gateway = self.gateway.as_ref().map(|h| {
            let by: serde_json::Map<String, Value> = h
                .segments_by_orchestrator()
                .into_iter()
                .map(|(uri, n)| (uri.to_string().trim_end_matches('/').to_string(), n.into()))
                .collect();
            json!({
                "liveStreams": h.live_streams(),
                "segmentsByOrchestrator": by,
                "payments": h.payment_stats(),
            })
        });
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            // What orchestrators put in Capabilities.version (go-livepeer's release numbering).
            "livepeerVersion": livepeer_primitives::LIVEPEER_VERSION,
            "network": self.network,
            "address": self.address,
            "orchestrator": orchestrator,
            "gateway": gateway,
        })
    }
}

/// The socket address for `-cliAddr`: `host:port`, or `:port` / a bare port on 127.0.0.1.
///
/// Errors: not an address.
pub fn parse_cli_addr(value: &str) -> anyhow::Result<SocketAddr> {
    let v = value.trim();
    let v = v.strip_prefix(':').unwrap_or(v);
    if let Ok(port) = v.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    v.parse()
        .with_context(|| format!("-cliAddr {value:?} is not host:port"))
}

/// Binds `addr` and serves the CLI API until `cancel` fires; returns the bound address and the
/// serving future.
///
/// Errors: the address cannot be bound.
pub async fn bind(
    addr: SocketAddr,
    view: NodeView,
    cancel: CancellationToken,
) -> anyhow::Result<(SocketAddr, impl std::future::Future<Output = ()> + Send)> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("-cliAddr: cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let app: Router = Router::new().route(
        "/status",
        get(move || {
            let view = view.clone();
            async move { Json(view.status()) }
        }),
    );
    let serve = livepeer_server::serve(
        listener,
        None,
        app,
        livepeer_server::ServerConfig::named("cli"),
        cancel,
    );
    Ok((local, serve))
}
