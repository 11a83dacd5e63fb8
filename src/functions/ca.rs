//! The CA bundle hosted workers verify the public listener with, when its
//! certificate is not publicly trusted (`server.tls_ca_file`, e.g.
//! `sockgate cert`'s). botocore's `AWS_CA_BUNDLE` replaces its roots, so the
//! bundle is that CA and the system's roots together (a handler still
//! reaches real AWS endpoints); Node's `NODE_EXTRA_CA_CERTS` adds to its
//! roots, so it is given the CA file alone.

use std::path::PathBuf;

use base64::Engine as _;
use tracing::warn;

/// The environment a worker gets for `ca_file`: `AWS_CA_BUNDLE` (a bundle
/// written once, under the temporary directory) and `NODE_EXTRA_CA_CERTS`.
pub(super) fn environment(ca_file: &str) -> Vec<(String, String)> {
    let mut env = vec![("NODE_EXTRA_CA_CERTS".to_owned(), ca_file.to_owned())];
    match bundle(ca_file) {
        Ok(path) => env.push(("AWS_CA_BUNDLE".into(), path.to_string_lossy().into_owned())),
        Err(e) => {
            warn!(error = %e, "Cannot write the CA bundle for hosted functions; boto3 in them will not trust the public listener.")
        }
    }
    env
}

fn bundle(ca_file: &str) -> Result<PathBuf, String> {
    let mut pem = std::fs::read_to_string(ca_file).map_err(|e| format!("{ca_file}: {e}"))?;
    // The system's roots after it; an unreadable store leaves the CA alone.
    for cert in rustls_native_certs::load_native_certs().certs {
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        pem.push_str("\n-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).unwrap_or_default());
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    // Named by its content: gateways with different CAs in one process each
    // keep theirs (a name per process would let one overwrite another's
    // while its workers read it), and an unchanged CA reuses its file.
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(pem.as_bytes());
    let tag: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let path = std::env::temp_dir().join(format!("sockgate-ca-bundle-{tag}.pem"));
    // Written aside, then renamed: a worker never reads half a bundle.
    let part = path.with_extension(format!("{:016x}.part", rand::random::<u64>()));
    std::fs::write(&part, pem).map_err(|e| format!("{}: {e}", part.display()))?;
    std::fs::rename(&part, &path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}
