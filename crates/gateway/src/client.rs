//! The gateway's client to orchestrators: one HTTP/2 connection pool for gRPC and the
//! `/segment` and rendition routes.
//!
//! As go-livepeer's clients (`server/rpc.go`, `server/segment_rpc.go`): TLS without
//! certificate verification (identity comes from ETH signatures, not certificates), HTTP/2
//! forced, cleartext h2c for `http://` orchestrators, a 3 s connect timeout and 8 s gRPC calls.
//! Every body read from an orchestrator has a byte cap ([`read_body`]) as well as a timeout.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::Uri;
use hyper_util::client::legacy::Client;
use livepeer_proto::net;
use livepeer_server::peer_client::PeerConnector;

use crate::GatewayError;

/// gRPC connect timeout (go-livepeer `GRPCConnectTimeout`).
pub const GRPC_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// gRPC call timeout (go-livepeer `GRPCTimeout`).
pub const GRPC_TIMEOUT: Duration = Duration::from_secs(8);
/// Rendition download timeout (go-livepeer `core/os.go:DownloadData`).
pub const DOWNLOAD_TIMEOUT: Duration = Duration::from_secs(4);

/// A cloneable client for talking to orchestrators.
#[derive(Clone, Debug)]
pub struct OrchestratorClient {
    http: Client<PeerConnector, tonic::body::Body>,
}

/// Awaits a gRPC call for at most [`GRPC_TIMEOUT`].
///
/// Errors: [`GatewayError::Rpc`] with the status message, or the timeout.
async fn within_grpc_timeout<T>(
    uri: &Uri,
    call: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, GatewayError> {
    match tokio::time::timeout(GRPC_TIMEOUT, call).await {
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => Err(GatewayError::Rpc {
            uri: uri.to_string(),
            reason: status.message().to_string(),
        }),
        Err(_) => Err(GatewayError::Rpc {
            uri: uri.to_string(),
            reason: format!("timed out after {GRPC_TIMEOUT:?}"),
        }),
    }
}

impl Default for OrchestratorClient {
    fn default() -> Self {
        Self::new()
    }
}

impl OrchestratorClient {
    /// A client with go-livepeer's timeouts and TLS policy.
    pub fn new() -> Self {
        Self {
            http: livepeer_server::peer_client::client(GRPC_CONNECT_TIMEOUT),
        }
    }

    /// Calls `GetOrchestrator` on the orchestrator at `uri` (e.g. `https://host:8935`).
    ///
    /// Errors: [`GatewayError::Rpc`] for transport failures, timeouts and gRPC errors.
    pub async fn get_orchestrator(
        &self,
        uri: &Uri,
        request: net::OrchestratorRequest,
    ) -> Result<net::OrchestratorInfo, GatewayError> {
        let mut grpc = net::orchestrator_client::OrchestratorClient::with_origin(
            self.http.clone(),
            uri.clone(),
        );
        let call = grpc.get_orchestrator(request);
        within_grpc_timeout(uri, call).await
    }

    /// Calls `EndTranscodingSession` with the session's auth token, best effort.
    pub async fn end_session(
        &self,
        uri: &Uri,
        auth_token: net::AuthToken,
    ) -> Result<(), GatewayError> {
        let mut grpc = net::orchestrator_client::OrchestratorClient::with_origin(
            self.http.clone(),
            uri.clone(),
        );
        let call = grpc.end_transcoding_session(net::EndTranscodingSessionRequest {
            auth_token: Some(auth_token),
        });
        match tokio::time::timeout(GRPC_TIMEOUT, call).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(status)) => Err(GatewayError::Rpc {
                uri: uri.to_string(),
                reason: status.message().to_string(),
            }),
            Err(_) => Err(GatewayError::Rpc {
                uri: uri.to_string(),
                reason: "timed out".into(),
            }),
        }
    }

    /// Calls `Ping` with `value` and returns the answer's value: the orchestrator's signature
    /// over keccak256(`value`) on chain, empty bytes off chain (go-livepeer `server/rpc.go:Ping`).
    ///
    /// Errors: [`GatewayError::Rpc`] for transport failures, timeouts and gRPC errors.
    pub async fn ping(&self, uri: &Uri, value: Vec<u8>) -> Result<Vec<u8>, GatewayError> {
        let mut grpc = net::orchestrator_client::OrchestratorClient::with_origin(
            self.http.clone(),
            uri.clone(),
        );
        let call = grpc.ping(net::PingPong { value });
        Ok(within_grpc_timeout(uri, call).await?.value)
    }

    /// Sends a request and returns the response with its body still streaming.
    pub async fn send(
        &self,
        request: hyper::Request<tonic::body::Body>,
    ) -> Result<hyper::Response<hyper::body::Incoming>, GatewayError> {
        let uri = request.uri().to_string();
        self.http
            .request(request)
            .await
            .map_err(|e| GatewayError::Http {
                uri,
                reason: error_chain(&e),
            })
    }

    /// GETs `url` and returns the whole body, at most `limit_bytes` of it, within
    /// [`DOWNLOAD_TIMEOUT`] (go-livepeer `core/os.go:DownloadData`, which caps at
    /// `common.MaxSegSize`).
    ///
    /// Errors: [`GatewayError::Http`] on transport errors, non-200 answers and timeouts;
    /// [`GatewayError::AnswerTooLarge`] for a longer body (read no further than the cap).
    pub async fn download(&self, url: &str, limit_bytes: usize) -> Result<Bytes, GatewayError> {
        let http_err = |reason: String| GatewayError::Http {
            uri: url.to_string(),
            reason,
        };
        let uri: Uri = url
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| http_err(e.to_string()))?;
        let request = hyper::Request::get(uri)
            .body(tonic::body::Body::new(Full::new(Bytes::new())))
            .map_err(|e| http_err(e.to_string()))?;
        let fetch = async {
            let response = self.send(request).await?;
            if response.status() != hyper::StatusCode::OK {
                return Err(http_err(format!("status {}", response.status())));
            }
            read_body(response.into_body(), limit_bytes, url).await
        };
        tokio::time::timeout(DOWNLOAD_TIMEOUT, fetch)
            .await
            .map_err(|_| http_err(format!("timed out after {DOWNLOAD_TIMEOUT:?}")))?
    }
}

/// Reads a whole response body from `uri`, failing as soon as it passes `limit_bytes`
/// (`http_body_util::Limited`); a `Content-Length` over the cap fails before any byte is read.
///
/// Errors: [`GatewayError::AnswerTooLarge`] past the cap, [`GatewayError::Http`] when the
/// body breaks off.
pub async fn read_body(
    body: hyper::body::Incoming,
    limit_bytes: usize,
    uri: &str,
) -> Result<Bytes, GatewayError> {
    use hyper::body::Body as _;
    let too_large = || GatewayError::AnswerTooLarge {
        uri: uri.to_string(),
        limit_bytes,
    };
    if body.size_hint().lower() > limit_bytes as u64 {
        return Err(too_large());
    }
    match Limited::new(body, limit_bytes).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Err(err) => Err(GatewayError::Http {
            uri: uri.to_string(),
            reason: error_chain(err.as_ref()),
        }),
    }
}

/// The error and its sources on one line (hyper's top-level messages are terse).
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
