//! Who sent a public request, and the forwarding fields the gateway writes
//! about it (`integration::forwarded`): `identity.sourceIp`, the throttle's
//! and the fair share's per-address key, the access log's `ip`, and
//! `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Port` and
//! `X-Amzn-Trace-Id` in every event and every request a backend gets.
//!
//! The client is the TCP peer, unless the peer is one of
//! `server.trusted_proxies`: then `X-Forwarded-For` is read from the right,
//! each trusted hop skipped, and the first address that is not a trusted
//! proxy is the client — as nginx's realip module (`set_real_ip_from`,
//! `real_ip_recursive on`) and Envoy's `xff_num_trusted_hops` do. An entry
//! that is not an address stops the walk at the hop before it. Only what the
//! walk believed is passed on: `X-Forwarded-For` becomes the client, the
//! trusted hops after it and the peer, so its leftmost address is always
//! `sourceIp`. A client that is not a trusted proxy cannot set any of these
//! fields, nor `Forwarded` or `X-Forwarded-Host`: the gateway removes them.
//! A trusted proxy's `X-Forwarded-Proto` (`http` or `https`) and
//! `X-Forwarded-Port` are believed, as the TLS-terminating balancer in front
//! knows them; its `Forwarded` and `X-Forwarded-Host` are kept.
//!
//! Trace context (`X-Amzn-Trace-Id`, `traceparent`, `tracestate`) is read
//! from any client, each only when it is the one field of its name and well
//! formed (`crate::trace`), and always removed: the gateway writes its own,
//! continuing the client's trace with a span of its own.

use std::net::{IpAddr, SocketAddr};

use http::header::{HeaderMap, HeaderName, HeaderValue};

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::config::net::Cidr;
use crate::integration::forwarded::Forwarded;
use crate::integration::share::ConnCalls;
use crate::trace::{Trace, is_amzn_trace};

const XFF: HeaderName = HeaderName::from_static("x-forwarded-for");
const XF_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const XF_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const XF_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");
const TRACE: HeaderName = HeaderName::from_static("x-amzn-trace-id");
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const TRACESTATE: HeaderName = HeaderName::from_static("tracestate");

/// Most `X-Forwarded-For` entries read (a chain of proxies is short; a
/// client's long list is not walked past this).
const MAX_HOPS: usize = 32;

/// The connection a request came on.
#[derive(Debug, Clone)]
pub struct Link {
    /// The TCP peer.
    pub peer: SocketAddr,
    /// The listener's port (`X-Forwarded-Port`, unless a trusted proxy says).
    pub local_port: u16,
    /// `http` or `https` (`X-Forwarded-Proto`, unless a trusted proxy says).
    pub scheme: &'static str,
    /// The connection's backend calls in flight (its fair share).
    pub calls: ConnCalls,
    /// The connection's request body budget, in `config::BODY_UNIT`s.
    pub body_budget: Arc<Semaphore>,
}

impl Link {
    /// A new connection's link: its budget `body_bytes` of request bodies.
    pub fn new(peer: SocketAddr, local_port: u16, scheme: &'static str, body_bytes: usize) -> Link {
        Link {
            peer,
            local_port,
            scheme,
            calls: ConnCalls::default(),
            body_budget: Arc::new(Semaphore::new(super::body::units(body_bytes))),
        }
    }
}

/// What [`forward`] found out.
#[derive(Debug, Clone)]
pub struct Client {
    /// The client's address.
    pub ip: IpAddr,
    /// `identity.sourceIp` and the forwarding fields.
    pub forwarded: Forwarded,
}

impl Client {
    /// `identity.sourceIp`: [`Client::ip`] as text.
    pub fn source_ip(&self) -> &str {
        &self.forwarded.source_ip
    }
}

/// Finds the client, removes the forwarding fields it may not set from
/// `headers`, and returns the gateway's (see the module docs).
/// `sample_ratio` samples a trace the gateway starts (`[tracing]`).
pub fn forward(
    trusted: &[Cidr],
    headers: &mut HeaderMap,
    link: &Link,
    sample_ratio: f64,
) -> Client {
    let peer = link.peer.ip().to_canonical();
    let behind = !trusted.is_empty() && trusted.iter().any(|c| c.contains(peer));
    let believes = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    let (mut ip, mut chain, mut proto, mut port) = (peer, None, link.scheme, link.local_port);
    if behind {
        let hops = walk(headers, believes);
        ip = hops.first().copied().unwrap_or(peer);
        chain = (!hops.is_empty()).then(|| {
            let mut xff = String::with_capacity(16 * (hops.len() + 1));
            for hop in hops.iter().chain(std::iter::once(&peer)) {
                if !xff.is_empty() {
                    xff.push_str(", ");
                }
                xff.push_str(&text(*hop));
            }
            xff
        });
        proto = match headers.get(XF_PROTO).map(HeaderValue::as_bytes) {
            Some(b"https") => "https",
            Some(b"http") => "http",
            _ => link.scheme,
        };
        port = headers
            .get(XF_PORT)
            .and_then(|v| v.to_str().ok()?.parse::<u16>().ok())
            .unwrap_or(port);
    }
    // One look at the names (most requests carry none of these) before a
    // lookup per field, each of which hashes the name.
    let present = headers.keys().any(|n| {
        *n == XFF
            || *n == XF_PROTO
            || *n == XF_PORT
            || *n == TRACE
            || *n == TRACEPARENT
            || *n == TRACESTATE
            || *n == FORWARDED
            || *n == XF_HOST
    });
    let (mut amzn, mut parent, mut state) = (None, None, None);
    if present {
        // Each the client's only one of its name, or none: two are ambiguous.
        amzn = only(headers, &TRACE).filter(is_amzn_trace);
        parent = only(headers, &TRACEPARENT);
        state = only(headers, &TRACESTATE);
        for name in [XFF, XF_PROTO, XF_PORT] {
            headers.remove(name);
        }
        if !behind {
            headers.remove(FORWARDED);
            headers.remove(XF_HOST);
        }
    }
    let trace = Trace::from_client(parent.as_ref(), state, amzn, sample_ratio);
    Client {
        ip,
        forwarded: Forwarded::new(text(ip), chain, proto, port, trace),
    }
}

/// Removes every `name` field; returns the value when there was exactly one.
fn only(headers: &mut HeaderMap, name: &HeaderName) -> Option<HeaderValue> {
    let single = headers.get_all(name).iter().count() == 1;
    let value = headers.remove(name);
    value.filter(|_| single)
}

/// The `X-Forwarded-For` hops believed, left to right: from the right, each
/// trusted one and the first one that is not (the client).
fn walk(headers: &HeaderMap, believes: impl Fn(IpAddr) -> bool) -> Vec<IpAddr> {
    let entries: Vec<&str> = headers
        .get_all(XFF)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut chain = Vec::new();
    for entry in entries.iter().rev().take(MAX_HOPS) {
        let Some(ip) = parse_hop(entry) else { break };
        chain.push(ip);
        if !believes(ip) {
            break;
        }
    }
    chain.reverse();
    chain
}

/// An `X-Forwarded-For` entry: an address, a bracketed IPv6 address, either
/// with a port.
fn parse_hop(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    entry
        .parse::<SocketAddr>()
        .ok()
        .map(|a| a.ip().to_canonical())
}

/// An address as text. IPv4 is written digit by digit: `Display` goes
/// through the formatter's padding support, and that was 1.7 % of the CPU
/// of a proxied request (100 keep-alive clients, `perf`).
pub fn text(ip: IpAddr) -> String {
    let IpAddr::V4(v4) = ip else {
        return ip.to_string();
    };
    let mut out = String::with_capacity(15);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        if octet >= 100 {
            out.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            out.push(char::from(b'0' + octet / 10 % 10));
        }
        out.push(char::from(b'0' + octet % 10));
    }
    out
}

#[cfg(test)]
#[path = "peer_tests.rs"]
mod tests;
