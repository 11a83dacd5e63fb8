//! What the `sockgate` binary does besides serving: `sockgate reload` asks a
//! running node to reload its config file, through its management API
//! (`POST /@reload`), with the credentials the same config file gives it.
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
