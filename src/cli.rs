//! What the `sockgate` binary does besides serving: `sockgate reload` asks a
//! running node to reload its config file, through its management API
//! (`POST /@reload`), with the credentials the same config file gives it;
//! `sockgate cert` makes a local CA and certificate for `wss://`.
//!
//! It reads the config the node runs with (same file, same environment) to
//! find the management listener and its credentials: a bearer token if one is
//! configured, else a SigV4 signature by the first access key, else none (a
//! loopback listener without credentials).

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};

use crate::clock;
use crate::config::Config;
use crate::sigv4::{self, Signed};

/// Asks the node running `config` to reload it. `Ok` is the node's report of an
/// applied reload; `Err` a rejected one (the report) or why the node could not
/// be asked.
pub async fn reload(config: &Config) -> Result<String, String> {
    let addr = reachable(config.server.management_listen);
    let host = addr.to_string();
    let mut req = http::Request::post(format!("http://{host}/@reload")).header("host", &host);
    let auth = &config.management;
    if let Some(token) = auth.bearer_tokens.first() {
        req = req.header("authorization", format!("Bearer {token}"));
    } else if let Some(key) = auth.access_keys.first() {
        let amz_date = sigv4::amz_date(clock::now_ms() / 1000);
        let headers: [(&str, &[u8]); 2] = [
            ("host", host.as_bytes()),
            ("x-amz-date", amz_date.as_bytes()),
        ];
        let signed = Signed {
            method: "POST",
            path: "/@reload",
            query: "",
            headers: &headers,
            body: b"",
        };
        let region = auth.region.as_deref().unwrap_or("us-east-1");
        req = req.header("x-amz-date", &amz_date).header(
            "authorization",
            sigv4::sign(&signed, key, region, &amz_date),
        );
    }
    let req = req
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let resp = tokio::time::timeout(std::time::Duration::from_secs(30), client.request(req))
        .await
        .map_err(|_| format!("no answer from {host} in 30 s"))?
        .map_err(|e| format!("cannot reach the node's management API at {host}: {e}"))?;
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let text = String::from_utf8_lossy(&body).into_owned();
    match status.as_u16() {
        200 => Ok(text),
        422 => Err(text),
        other => Err(format!("the node answered HTTP {other}: {text}")),
    }
}

/// An address to reach a listener bound to `addr` (the unspecified address
/// is reached on loopback).
fn reachable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    }
}

/// `sockgate cert`: a CA, and a certificate it signs for `names` (host names
/// or IP addresses; default `localhost` and `127.0.0.1`), for a local
/// `wss://` listener. Writes `ca.pem`, `cert.pem` and `key.pem` (mode 0600)
/// into `dir`; returns the `[server]` lines that use them. `tls_ca_file`
/// gives hosted functions' workers the CA, so their SDKs verify the listener.
pub fn cert(dir: &std::path::Path, names: &[String]) -> Result<String, String> {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa};
    use rcgen::{ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose, date_time_ymd};
    let e = |e: rcgen::Error| e.to_string();
    let names: Vec<String> = match names.is_empty() {
        true => vec!["localhost".into(), "127.0.0.1".into()],
        false => names.to_vec(),
    };
    // Valid from this year's start for two years: a local certificate to
    // make again, not to keep.
    let (year, _) = clock::year_month(clock::now_ms());
    let year = i32::try_from(year).map_err(|_| "the clock is out of range")?;
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(e)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, "sockgate local CA");
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.not_before = date_time_ymd(year, 1, 1);
    ca.not_after = date_time_ymd(year + 2, 1, 1);
    let issuer = CertifiedIssuer::self_signed(ca, KeyPair::generate().map_err(e)?).map_err(e)?;
    let mut leaf = CertificateParams::new(names.clone()).map_err(e)?;
    leaf.distinguished_name
        .push(DnType::CommonName, names[0].as_str());
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.not_before = date_time_ymd(year, 1, 1);
    leaf.not_after = date_time_ymd(year + 2, 1, 1);
    let key = KeyPair::generate().map_err(e)?;
    let cert = leaf.signed_by(&key, &issuer).map_err(e)?;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let write = |name: &str, text: &str, mode: u32| -> Result<String, String> {
        use std::io::Write as _;
        use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
        let path = dir.join(name);
        // The mode is set before anything is written, and also on a file
        // made again (`mode` at open applies to new files only): a key left
        // readable by an earlier run is not rewritten readable.
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&path)
            .and_then(|f| {
                f.set_permissions(std::fs::Permissions::from_mode(mode))?;
                (&f).write_all(text.as_bytes())
            })
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path.to_string_lossy().into_owned())
    };
    let ca_file = write("ca.pem", &issuer.pem(), 0o644)?;
    let cert_file = write("cert.pem", &cert.pem(), 0o644)?;
    let key_file = write("key.pem", &key.serialize_pem(), 0o600)?;
    Ok(format!(
        "[server]\ntls_cert_file = \"{cert_file}\"\ntls_key_file = \"{key_file}\"\ntls_ca_file = \"{ca_file}\"   # hosted functions trust it\n"
    ))
}
