//! The node's web dashboard, served on the CLI API port (`-cliAddr`, see [`crate::cli_api`]):
//! one page at `/` that polls the CLI API's own JSON (`/status`, and on chain `/ethBalance`,
//! `/tokenBalance`, `/senderInfo`, `/delegatorInfo`) every 1.5 s and shows the node's role,
//! account and balances, orchestrator sessions, transcoders, tickets and fees, the gateway's
//! orchestrators with the segments each transcoded, and a player for every stream the gateway
//! publishes.
//!
//! The page is plain HTML, CSS and JavaScript from `crates/node/dashboard/`, embedded in the
//! binary (no build step); the player is hls.js, vendored unmodified from npm with its license
//! (`dashboard/vendor/hls.js/`, version in `dashboard/README.md`).
//!
//! Paths (GET; anything else under `/dashboard/` falls through to the CLI API's 404):
//! - `/`, `/dashboard`, `/dashboard/`: the page;
//! - `/dashboard/<asset>`: its script, style sheet and the vendored player and license;
//! - `/dashboard/hls/stream/...`: with a gateway role, the gateway's own HLS routes
//!   ([`GatewayHandle::hls_router`]) on the gateway's state in this process, so the player is
//!   same-origin with the page. Serving them here rather than adding CORS to the gateway's
//!   port means a dashboard reached through one tunnel or port forward to the CLI port plays
//!   too, the page needs no second address, and nothing is fetched over the network: the
//!   answers are the gateway's, byte for byte, bounded as its retained renditions are.
//!
//! The page sends a `Content-Security-Policy` that allows only this origin (and the `blob:`
//! URLs Media Source Extensions and hls.js's worker use), and inserts network data as text
//! only.

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use livepeer_gateway::GatewayHandle;

/// Where the gateway's HLS routes are mounted on the CLI port: `<prefix>/stream/<m>.m3u8`.
pub const HLS_PREFIX: &str = "/dashboard/hls";

/// The page's content security policy: this origin only, plus `blob:` media (MSE) and workers
/// (hls.js's transmuxer).
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; media-src 'self' blob:; worker-src 'self' blob:; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; \
     frame-ancestors 'none'";

/// One embedded file of the dashboard.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Its path under `/dashboard/`.
    pub path: &'static str,
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

/// The page itself.
pub const INDEX: Asset = Asset {
    path: "index.html",
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("../dashboard/index.html"),
};

/// Every file the page loads, and the player's license.
pub const ASSETS: &[Asset] = &[
    INDEX,
    Asset {
        path: "dashboard.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../dashboard/dashboard.js"),
    },
    Asset {
        path: "dashboard.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../dashboard/dashboard.css"),
    },
    Asset {
        path: "vendor/hls.js/hls.min.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../dashboard/vendor/hls.js/hls.min.js"),
    },
    Asset {
        path: "vendor/hls.js/LICENSE",
        content_type: "text/plain; charset=utf-8",
        body: include_bytes!("../dashboard/vendor/hls.js/LICENSE"),
    },
];

fn serve(asset: Asset) -> Response {
    let mut response = (
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        asset.body,
    )
        .into_response();
    if asset.content_type.starts_with("text/html") {
        response.headers_mut().insert(
            header::CONTENT_SECURITY_POLICY,
            header::HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
    }
    response
}

/// The dashboard's routes, to merge into the CLI API's router; with `gateway`, its HLS under
/// [`HLS_PREFIX`].
pub fn router(gateway: Option<&GatewayHandle>) -> Router {
    let mut router = Router::new()
        .route("/", get(|| async { serve(INDEX) }))
        .route("/dashboard", get(|| async { serve(INDEX) }))
        .route("/dashboard/", get(|| async { serve(INDEX) }));
    for asset in ASSETS {
        let asset = *asset;
        router = router.route(
            &format!("/dashboard/{}", asset.path),
            get(move || async move { serve(asset) }),
        );
    }
    if let Some(gateway) = gateway {
        router = router.nest(HLS_PREFIX, gateway.hls_router());
    }
    router
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `src`/`href` values of the page that point at this origin.
    fn local_references(html: &str) -> Vec<String> {
        let mut found = Vec::new();
        for attr in ["src=\"", "href=\""] {
            let mut rest = html;
            while let Some(at) = rest.find(attr) {
                rest = &rest[at + attr.len()..];
                let Some(end) = rest.find('"') else { break };
                let value = &rest[..end];
                if !value.contains("://") && !value.starts_with('#') {
                    found.push(value.to_string());
                }
                rest = &rest[end..];
            }
        }
        found
    }

    #[test]
    fn every_file_the_page_loads_is_embedded() {
        let html = std::str::from_utf8(INDEX.body).expect("UTF-8 page");
        let refs = local_references(html);
        assert!(refs.len() >= 3, "{refs:?}");
        for r in refs {
            // The CLI API's own JSON, linked from the footer.
            if r == "/status" {
                continue;
            }
            let path = r
                .strip_prefix("/dashboard/")
                .unwrap_or_else(|| panic!("{r}: not under /dashboard/"));
            assert!(
                ASSETS.iter().any(|a| a.path == path && !a.body.is_empty()),
                "{r} is not embedded"
            );
        }
    }

    #[test]
    fn the_vendored_player_comes_with_its_license() {
        let license = ASSETS
            .iter()
            .find(|a| a.path == "vendor/hls.js/LICENSE")
            .expect("license");
        let text = std::str::from_utf8(license.body).expect("text");
        assert!(text.contains("Apache License"), "{text}");
        let player = ASSETS
            .iter()
            .find(|a| a.path == "vendor/hls.js/hls.min.js")
            .expect("player");
        assert!(player.body.len() > 100_000);
    }
}
