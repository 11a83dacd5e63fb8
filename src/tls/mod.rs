//! TLS with rustls (TLS 1.2 and 1.3): optional on the public listener (this
//! file), and to backends, key sets and Redis ([`client`]).
//!
//! Plain WebSocket stays the default, for nodes behind a load balancer that
//! terminates TLS. With `server.tls_cert_file` and `server.tls_key_file` the
//! public listener speaks `wss://` itself. The config holds only the file names
//! ([`TlsFiles`]); loading them here is how `snapshot::check` checks them (a
//! bad certificate is a config error, not a failed handshake later) and how
//! the server builds its acceptor — at start and again on every reload, which
//! is how a rotated certificate takes effect without a restart.

pub mod client;

use std::sync::Arc;

pub use crate::config::TlsFiles;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, ServerConfig};

/// The certificates of a PEM file; the error names the file.
fn pem_certs(file: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(file)
        .map_err(|e| format!("{file}: {e}"))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{file}: {e}"))?;
    if certs.is_empty() {
        return Err(format!("{file}: no certificate in it"));
    }
    Ok(certs)
}

/// A ready TLS acceptor with its certificate chain.
#[derive(Clone)]
pub struct Tls {
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

impl Tls {
    /// Loads a PEM certificate chain and private key; the error says what is wrong.
    pub fn load(files: &TlsFiles) -> Result<Tls, String> {
        let (cert_file, key_file) = (files.cert_file.as_str(), files.key_file.as_str());
        let certs = pem_certs(cert_file)?;
        let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| format!("{key_file}: {e}"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| format!("{cert_file} / {key_file}: {e}"))?;
        // HTTP/2 for clients that offer it; WebSocket clients offer http/1.1 (or nothing).
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Tls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// The acceptor for new connections.
    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }
}
