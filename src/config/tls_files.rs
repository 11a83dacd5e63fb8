//! TLS as configured: the files of the public listener's certificate and of
//! the client side (`[integrations.tls]`), as data. `tls` loads them; the
//! loading is checked when a config is compiled (`snapshot::check`).

/// The PEM files of a certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain.
    pub cert_file: String,
    /// The private key.
    pub key_file: String,
}

/// `[integrations.tls]` as written: which roots, which client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTlsFiles {
    /// A PEM bundle of CA certificates trusted besides (or instead of) the
    /// system's.
    pub ca_file: Option<String>,
    /// Trust the operating system's roots.
    pub system_roots: bool,
    /// The client certificate chain for mTLS (with `key_file`).
    pub cert_file: Option<String>,
    /// The client certificate's private key.
    pub key_file: Option<String>,
    /// Check the backend's certificate and host name (only `false` for
    /// local use).
    pub verify: bool,
}

impl Default for ClientTlsFiles {
    fn default() -> ClientTlsFiles {
        ClientTlsFiles {
            ca_file: None,
            system_roots: true,
            cert_file: None,
            key_file: None,
            verify: true,
        }
    }
}
