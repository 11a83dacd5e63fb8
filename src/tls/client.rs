//! TLS to what the gateway calls: `https://` integration backends
//! (`aws_proxy`, `http_proxy`), request authorizers and JWKS key sets — all
//! through the backend pool — and `rediss://` Redis.
//!
//! - **Roots**: the operating system's store (read by `rustls-native-certs`:
//!   `/etc/ssl/certs` on Debian), as curl and most clients use it, so an
//!   operator trusts an internal CA the way the host already does
//!   (`update-ca-certificates`), and a distribution's updates reach the
//!   gateway; plus `ca_file`, a PEM bundle (for an internal CA the host does
//!   not trust). `system_roots = false` trusts `ca_file` alone.
//! - **Verification**: the chain and the host name (rustls/webpki), on by
//!   default. `verify = false` accepts any certificate — for local use only;
//!   the gateway warns of it each time it builds its backend client (start,
//!   and every reload that changes `[integrations]`).
//! - **mTLS**: `client_cert_file` and `client_key_file` are presented to every
//!   backend that asks for a client certificate.
//! - SNI is the URI's host name (none for an IP address, as RFC 6066 says);
//!   ALPN offers `http/1.1`, what backends are called with.
//!
//! The config holds the file names ([`ClientTlsFiles`]); [`ClientTls::load`]
//! is how `snapshot::check` checks them and how the backend client is built,
//! again on every reload, so a rotated CA or client certificate takes effect
//! then.

use std::io;
use std::sync::Arc;

pub use crate::config::ClientTlsFiles;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{CryptoProvider, ring};
use tokio_rustls::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

/// A ready client TLS configuration.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientTls")
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

impl ClientTls {
    /// Loads the roots and the client certificate; the error says what is
    /// wrong with which file.
    pub fn load(files: &ClientTlsFiles) -> Result<ClientTls, String> {
        let mut roots = RootCertStore::empty();
        if files.system_roots {
            // Unreadable entries are skipped, as curl skips them.
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
        if let Some(file) = &files.ca_file {
            for cert in super::pem_certs(file)? {
                roots.add(cert).map_err(|e| format!("{file}: {e}"))?;
            }
        }
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?;
        let builder = if files.verify {
            builder.with_root_certificates(roots)
        } else {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider())))
        };
        let mut config = match (&files.cert_file, &files.key_file) {
            (Some(cert), Some(key)) => {
                let chain = super::pem_certs(cert)?;
                let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{key}: {e}"))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("{cert}: {e}"))?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => return Err("client_cert_file and client_key_file go together".into()),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(ClientTls {
            config: Arc::new(config),
        })
    }

    /// A connector for new connections.
    pub fn connector(&self) -> TlsConnector {
        TlsConnector::from(Arc::clone(&self.config))
    }
}

/// The name a backend's certificate must carry: the URI's host (an IP
/// address as itself; brackets of an IPv6 literal removed).
pub fn server_name(host: &str) -> io::Result<ServerName<'static>> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "not a host name"))
}

/// Why a handshake failed, in an operator's words: the reason a log line
/// and a failed call carry (never sent to clients).
pub fn reason(error: &io::Error) -> String {
    let Some(tls) = error
        .get_ref()
        .and_then(|e| e.downcast_ref::<rustls::Error>())
    else {
        return error.to_string();
    };
    match tls {
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                "the certificate has expired".into()
            }
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "the certificate is not valid yet".into()
            }
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "the certificate is not for this host name".into()
            }
            CertificateError::UnknownIssuer => {
                "the certificate's issuer is not a trusted CA (ca_file?)".into()
            }
            CertificateError::Revoked => "the certificate is revoked".into(),
            other => format!("invalid certificate: {other:?}"),
        },
        rustls::Error::AlertReceived(alert) => {
            format!("the backend refused the handshake ({alert:?}; a client certificate?)")
        }
        other => format!("TLS: {other}"),
    }
}

/// `verify = false`: any certificate, for local use only. The handshake's
/// own signatures are still checked, so the session is with the holder of
/// the certificate shown, whoever that is.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
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
            &self.0.signature_verification_algorithms,
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
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
