//! The orchestrator's self-signed TLS certificate.
//!
//! As go-livepeer's (`server/cert.go:getCert`): regenerated at every start, an ECDSA P-256 key,
//! a 128-bit random serial, valid for 8765 h, marked as a CA, with the service-URI host as its
//! subject alternative name, and written to `<dataDir>/cert.pem` and `key.pem` when a data
//! directory is configured. Clients do not verify it (identity comes from ETH signatures);
//! a client that pins the certificate on first use accepts it because it is a CA for its host.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SerialNumber};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::OrchestratorError;

/// Validity of the generated certificate: 8765 hours, as go-livepeer.
pub const CERT_VALIDITY: Duration = Duration::from_secs(8765 * 3600);

/// A generated certificate and its key, DER and PEM.
#[derive(Debug, Clone)]
pub struct SelfSignedCert {
    /// The certificate, DER.
    pub cert_der: CertificateDer<'static>,
    /// The PKCS#8 private key, DER.
    pub key_der: Vec<u8>,
    /// The certificate, PEM.
    pub cert_pem: String,
    /// The private key, PEM.
    pub key_pem: String,
}

impl SelfSignedCert {
    /// Generates a certificate for `host` (a DNS name or an IP address literal).
    ///
    /// Errors: [`OrchestratorError::Tls`] if the host cannot be put in a SAN.
    pub fn generate(host: &str) -> Result<Self, OrchestratorError> {
        let tls = |e: rcgen::Error| OrchestratorError::Tls(e.to_string());
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(tls)?;
        let mut params = CertificateParams::new(vec![host.to_string()]).map_err(tls)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let serial: [u8; 16] = rand::random();
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::minutes(1);
        params.not_after = now + CERT_VALIDITY;
        let cert = params.self_signed(&key).map_err(tls)?;
        Ok(Self {
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }

    /// Writes `cert.pem` and `key.pem` (mode 0600 for the key) into `dir`, creating it.
    pub fn write_to(&self, dir: &Path) -> Result<(), OrchestratorError> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("cert.pem"), &self.cert_pem)?;
        let key_path = dir.join("key.pem");
        std::fs::write(&key_path, &self.key_pem)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o600))?;
        }
        Ok(())
    }

    /// A rustls server configuration offering HTTP/2 and HTTP/1.1 by ALPN.
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, OrchestratorError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| OrchestratorError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(vec![self.cert_der.clone()], key)
            .map_err(|e| OrchestratorError::Tls(e.to_string()))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificate_is_a_ca_for_the_host() {
        use x509_parser::extensions::GeneralName;
        for host in ["127.0.0.1", "orch.example.com"] {
            let cert = SelfSignedCert::generate(host).expect("generate");
            assert!(cert.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
            let (_, parsed) = x509_parser::parse_x509_certificate(&cert.cert_der).expect("parse");
            let constraints = parsed.basic_constraints().expect("valid").expect("present");
            assert!(constraints.value.ca, "{host}: not a CA");
            let sans: Vec<String> = parsed
                .subject_alternative_name()
                .expect("valid")
                .expect("present")
                .value
                .general_names
                .iter()
                .map(|name| match name {
                    GeneralName::DNSName(dns) => dns.to_string(),
                    GeneralName::IPAddress(ip) => {
                        std::net::IpAddr::from(<[u8; 4]>::try_from(*ip).expect("IPv4")).to_string()
                    }
                    other => format!("{other:?}"),
                })
                .collect();
            assert_eq!(sans, vec![host.to_string()]);
            let validity = parsed.validity().time_to_expiration().expect("valid now");
            assert!(validity.whole_hours() >= 8764, "{validity:?}");
            // A 128-bit serial in minimal DER: at most 16 value bytes, plus a leading zero
            // when the top bit is set (random leading zero bytes are dropped).
            let serial = parsed.tbs_certificate.raw_serial();
            let value = serial.strip_prefix(&[0]).unwrap_or(serial);
            assert!((1..=16).contains(&value.len()), "{serial:02x?}");
            cert.server_config().expect("rustls accepts the pair");
        }
    }
}
