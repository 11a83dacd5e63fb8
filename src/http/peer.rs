//! Who sent a request: `identity.sourceIp` for every public request.

use std::net::SocketAddr;

use http::HeaderMap;

/// `identity.sourceIp`: the peer, or the first X-Forwarded-For address when
/// the gateway trusts its proxy.
pub fn source_ip(trust_forwarded_for: bool, headers: &HeaderMap, peer: SocketAddr) -> String {
    if trust_forwarded_for {
        let first = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim);
        if let Some(ip) = first.and_then(|s| s.parse::<std::net::IpAddr>().ok()) {
            return ip.to_string();
        }
    }
    peer.ip().to_string()
}
