//! The client side of go-livepeer's node-to-node connections (gateway → orchestrator,
//! remote transcoder → orchestrator): TLS without certificate verification, as go-livepeer's
//! `InsecureSkipVerify` clients (`server/rpc.go`, `server/ot_rpc.go`; identity comes from ETH
//! signatures or the shared `-orchSecret`, not from certificates), HTTP/2 forced (ALPN `h2`),
//! cleartext h2c for `http://` URIs, and flow-control windows sized for megabyte segments.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// The connector of [`client`]: TCP with a connect timeout, then TLS (any certificate) or
/// cleartext by the URI's scheme.
pub type PeerConnector = hyper_rustls::HttpsConnector<HttpConnector>;

/// A pooled HTTP/2 client to other Livepeer nodes whose TCP connect gives up after
/// `connect_timeout`. Requests carry bodies of type `B` (e.g. `tonic::body::Body`, so gRPC and
/// plain HTTP share one pool).
pub fn client<B>(connect_timeout: Duration) -> Client<PeerConnector, B>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
{
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate { provider }))
        .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_nodelay(true);
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http2() // ALPN h2 only: go-livepeer forces HTTP/2 too
        .wrap_connector(http);
    Client::builder(TokioExecutor::new())
        .http2_only(true)
        // Segments and renditions are megabytes; 64 KiB default windows would stall them.
        .http2_initial_stream_window_size(8 * 1024 * 1024)
        .http2_initial_connection_window_size(16 * 1024 * 1024)
        .pool_idle_timeout(Duration::from_secs(60))
        .build(connector)
}

/// Accepts any server certificate, as go-livepeer's `InsecureSkipVerify`, while still checking
/// that the handshake is signed by the certificate's key.
#[derive(Debug)]
struct AcceptAnyCertificate {
    provider: Arc<rustls::crypto::CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
