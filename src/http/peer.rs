//! Who sent a public request, and the forwarding fields the gateway writes
//! about it: `identity.sourceIp`, the throttle's and the fair share's
//! per-address key, the access log's `ip`, and `X-Forwarded-For`,
//! `X-Forwarded-Proto`, `X-Forwarded-Port` and `X-Amzn-Trace-Id` in every
//! event and every request a backend gets.
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
//! fields, nor `Forwarded` or `X-Forwarded-Host`: the gateway removes its
//! own and writes its own. A trusted proxy's `X-Forwarded-Proto` (`http` or
//! `https`) and `X-Forwarded-Port` are believed, as the TLS-terminating
//! balancer in front knows them.

use std::net::{IpAddr, SocketAddr};

use http::header::{HeaderMap, HeaderName, HeaderValue};

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::config::net::Cidr;
use crate::integration::share::ConnCalls;

const XFF: HeaderName = HeaderName::from_static("x-forwarded-for");
const XF_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const XF_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const XF_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");
const TRACE: HeaderName = HeaderName::from_static("x-amzn-trace-id");

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
    /// `identity.sourceIp`: [`Client::ip`] as text.
    pub source_ip: String,
    /// How the client reached the gateway (or the proxy in front of it).
    pub proto: &'static str,
}

/// Finds the client and writes the gateway's forwarding fields into
/// `headers` (see the module docs).
pub fn forward(trusted: &[Cidr], headers: &mut HeaderMap, link: &Link) -> Client {
    let peer = link.peer.ip().to_canonical();
    let believes = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    let mut client = Client {
        ip: peer,
        source_ip: String::new(),
        proto: link.scheme,
    };
    let mut port = None;
    let mut chain: Vec<IpAddr> = Vec::new();
    if !trusted.is_empty() && believes(peer) {
        chain = walk(headers, believes);
        if let Some(first) = chain.first() {
            client.ip = *first;
        }
        client.proto = match headers.get(XF_PROTO).map(HeaderValue::as_bytes) {
            Some(b"https") => "https",
            Some(b"http") => "http",
            _ => link.scheme,
        };
        port = headers
            .get(XF_PORT)
            .and_then(|v| v.to_str().ok()?.parse::<u16>().ok());
    } else {
        for name in [&FORWARDED, &XF_HOST] {
            headers.remove(name);
        }
    }
    client.source_ip = text(client.ip);
    let mut xff = String::with_capacity(16 * (chain.len() + 1));
    for hop in chain.iter().chain(std::iter::once(&peer)) {
        if !xff.is_empty() {
            xff.push_str(", ");
        }
        xff.push_str(&text(*hop));
    }
    let port = port.unwrap_or(link.local_port);
    headers.insert(XFF, value(xff));
    headers.insert(XF_PROTO, HeaderValue::from_static(client.proto));
    headers.insert(XF_PORT, HeaderValue::from(port));
    if !headers.get(TRACE).is_some_and(is_trace_id) {
        headers.insert(TRACE, value(new_trace_id()));
    }
    client
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

fn value(text: String) -> HeaderValue {
    HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// AWS X-Ray's header: `Root=1-{8 hex}-{24 hex}` with optional `;Key=value`
/// parts. A client's is kept when it has that form (a trace that starts
/// before the gateway goes on through it), else the gateway makes one.
fn is_trace_id(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    let Some(root) = b.strip_prefix(b"Root=1-") else {
        return false;
    };
    let hex = |s: &[u8]| s.iter().all(u8::is_ascii_hexdigit);
    b.len() <= 256
        && root.len() >= 33
        && hex(&root[..8])
        && root[8] == b'-'
        && hex(&root[9..33])
        && root[33..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b';' | b'=' | b'-'))
}

/// A new X-Ray trace id: the time in seconds and 96 random bits.
fn new_trace_id() -> String {
    let secs = crate::clock::now_ms() / 1000;
    let random: [u8; 12] = rand::random();
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(40);
    id.push_str("Root=1-");
    for shift in (0..8).rev() {
        id.push(char::from(HEX[(secs >> (shift * 4)) as usize & 0xf]));
    }
    id.push('-');
    for b in random {
        id.push(char::from(HEX[usize::from(b >> 4)]));
        id.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    id
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
