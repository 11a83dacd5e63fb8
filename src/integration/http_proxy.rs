//! `http_proxy` on HTTP routes: the request passed on to the backend, and the
//! backend's answer passed back, as AWS HTTP APIs do it.
//!
//! The backend gets the client's method, headers and body, the query string,
//! and the URI with the route's parameters filled in (the `$default` route
//! appends the request's canonical path, as AWS documents). `Host` becomes
//! the backend's; the client's is kept in `X-Forwarded-Host` and, with the
//! client's address and scheme, in RFC 7239 `Forwarded`; `X-Forwarded-For`,
//! `-Proto` and `-Port` are already the gateway's (`http::peer`). Hop-by-hop
//! headers (RFC 9110 §7.6.1) go neither way: a client's are removed as its
//! request arrives, a backend's from its answer.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName};

use super::CallError;
use super::http_event::HttpFacts;
use super::outgoing::{Encoder, Outgoing, split_target};
use crate::routing::uri::UriTemplate;

/// Headers that describe one connection, not the message.
/// A `static`, not a `const`: a `const` array of names is built and dropped
/// at each use (330 instructions per request).
static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// The headers a `Connection` header names, but `Host` and `Content-Length`,
/// which it may not take away (the gateway reads them to route and to frame).
fn connection_named(headers: &HeaderMap) -> Vec<HeaderName> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .filter(|n| *n != header::HOST && *n != header::CONTENT_LENGTH)
        .collect()
}

/// Removes hop-by-hop headers, those `Connection` names included, and
/// `Upgrade`: from a client's request as it arrives (before mapping or
/// forwarding adds any field), and from a backend's answer.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // Most answers carry none: one look at each name, no removal.
    if !headers.keys().any(|n| HOP_BY_HOP.contains(n)) {
        return;
    }
    for name in connection_named(headers).iter().chain(&HOP_BY_HOP) {
        headers.remove(name);
    }
}

/// The route facts the URI needs.
#[derive(Debug, Clone, Copy)]
pub struct ProxyRoute<'a> {
    /// The integration URI.
    pub uri: &'a UriTemplate,
    /// The greedy parameter's name, if any.
    pub greedy: Option<&'a str>,
    /// `$default`: the request's path is appended.
    pub is_default: bool,
    /// `overwrite:path`: the path to call instead of the URI's.
    pub path: Option<&'a str>,
}

/// The backend URI for one request.
pub fn target_uri(route: ProxyRoute<'_>, f: &HttpFacts<'_>) -> String {
    let mut uri = route.uri.render(f.path_params, route.greedy);
    if let Some(path) = route.path {
        uri = with_path(&uri, path);
    } else if route.is_default {
        let (base, query) = match uri.split_once('?') {
            Some((b, q)) => (b.to_owned(), Some(q.to_owned())),
            None => (uri.clone(), None),
        };
        uri = format!("{}{}", base.trim_end_matches('/'), f.route_path);
        if let Some(q) = query {
            uri = format!("{uri}?{q}");
        }
    }
    if !f.raw_query.is_empty() {
        uri.push(if uri.contains('?') { '&' } else { '?' });
        uri.push_str(f.raw_query);
    }
    uri
}

/// `uri` with its path replaced by `path` (its scheme, authority and query kept).
fn with_path(uri: &str, path: &str) -> String {
    let after_scheme = uri.find("://").map_or(0, |i| i + 3);
    let path_at = uri[after_scheme..]
        .find(['/', '?'])
        .map_or(uri.len(), |i| i + after_scheme);
    let query = uri[path_at..].find('?').map(|i| &uri[path_at + i..]);
    format!("{}{path}{}", &uri[..path_at], query.unwrap_or(""))
}

/// The request the backend gets, encoded: the client's method, target and
/// header fields — already stripped of hop-by-hop ones, with the gateway's
/// `X-Forwarded-For`/`-Proto`/`-Port` and `X-Amzn-Trace-Id` (`http::peer`)
/// — all but `Host` (the backend's is sent) and `Content-Length` (the body is
/// whole, its length known); then `X-Forwarded-Host` (the client's `Host`,
/// unless a trusted proxy named one) and an RFC 7239 `Forwarded` element
/// after any a trusted proxy sent.
pub fn request(
    route: ProxyRoute<'_>,
    f: &HttpFacts<'_>,
    body: Bytes,
) -> Result<Outgoing, CallError> {
    let bad =
        |e: &dyn std::fmt::Display| CallError::Failed(format!("cannot build the request: {e}"));
    let uri = target_uri(route, f);
    let (origin, target) = split_target(&uri).map_err(|e| bad(&e))?;
    let method = http::Method::from_bytes(f.method.as_bytes()).map_err(|e| bad(&e))?;
    let mut e = Encoder::new(method, &target).map_err(|e| bad(&e))?;
    e.field("host", origin.authority.as_str().as_bytes());
    let (mut host, mut forwarded_host) = (None, false);
    for (name, value) in f.headers {
        if *name == header::HOST {
            host = host.or(Some(value));
        } else if !(HOP_BY_HOP.contains(name) || *name == header::CONTENT_LENGTH) {
            forwarded_host |= *name == X_FORWARDED_HOST;
            e.field(name.as_str(), value.as_bytes());
        }
    }
    for (name, value) in f.forwarded.request_fields() {
        e.field(name, value.as_bytes());
    }
    if let Some(h) = host.filter(|_| !forwarded_host) {
        e.field("x-forwarded-host", h.as_bytes());
    }
    let mut forwarded = Vec::with_capacity(64);
    forwarded_element(
        &mut forwarded,
        f.source_ip,
        f.scheme,
        host.map(|h| h.as_bytes()),
    );
    e.field("forwarded", &forwarded);
    if let Some(canary) = f.is_canary {
        e.field(
            "x-sockgate-is-canary-request",
            if canary { b"true" } else { b"false" },
        );
    }
    Ok(e.finish(origin, body))
}

/// One RFC 7239 element: `for` (an IPv6 node quoted and bracketed, §6),
/// `proto`, and `host` as a quoted-string (§4), `"` and `\` escaped, so no
/// value can end it early or add a parameter or element.
fn forwarded_element(out: &mut Vec<u8>, ip: &str, proto: &str, host: Option<&[u8]>) {
    if ip.contains(':') {
        out.extend_from_slice(b"for=\"[");
        out.extend_from_slice(ip.as_bytes());
        out.extend_from_slice(b"]\"");
    } else {
        out.extend_from_slice(b"for=");
        out.extend_from_slice(ip.as_bytes());
    }
    out.extend_from_slice(b";proto=");
    out.extend_from_slice(proto.as_bytes());
    if let Some(host) = host {
        out.extend_from_slice(b";host=\"");
        for &b in host {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::integration::forwarded::Forwarded;
    use http::HeaderValue;

    static FORWARDED: std::sync::LazyLock<Forwarded> = std::sync::LazyLock::new(|| {
        let trace = HeaderValue::from_static("Root=1-60d75a9e-5d5e5b1a6e6c7b0f0e3c2a11");
        Forwarded::new(
            "192.0.2.9".into(),
            None,
            "http",
            8080,
            crate::trace::Trace::from_client(None, None, Some(trace), 1.0),
        )
    });

    fn facts<'a>(headers: &'a HeaderMap, params: &'a [(&'a str, String)]) -> HttpFacts<'a> {
        static VARS: BTreeMap<String, String> = BTreeMap::new();
        HttpFacts {
            route_key: "ANY /files/{proxy+}",
            method: "PUT",
            raw_path: "/prod/files/a/b",
            route_path: "/files/a/b",
            raw_query: "x=1&y=%20",
            headers,
            body: b"",
            protocol: "HTTP/1.1",
            scheme: "http",
            source_ip: "192.0.2.9",
            forwarded: &FORWARDED,
            stage: "prod",
            path_params: params,
            stage_variables: &VARS,
            request_id: "r",
            time_ms: 0,
            api_id: "a",
            domain_name: "d",
            resource: "/files/{proxy+}",
            is_canary: None,
            authorizer: None,
        }
    }

    #[test]
    fn the_uri_gets_parameters_the_query_and_for_default_the_path() {
        let params = [("proxy", "a/b c".to_owned())];
        let h = HeaderMap::new();
        let f = facts(&h, &params);
        let t = UriTemplate::parse("http://b:1/store/{proxy}", &["proxy"]).unwrap();
        let route = ProxyRoute {
            uri: &t,
            greedy: Some("proxy"),
            is_default: false,
            path: None,
        };
        assert_eq!(target_uri(route, &f), "http://b:1/store/a/b%20c?x=1&y=%20");
        let t = UriTemplate::parse("http://b:1/base/?k=v", &[]).unwrap();
        let route = ProxyRoute {
            uri: &t,
            greedy: None,
            is_default: true,
            path: None,
        };
        assert_eq!(
            target_uri(route, &f),
            "http://b:1/base/files/a/b?k=v&x=1&y=%20"
        );
        // `overwrite:path` replaces the path, keeps the URI's query.
        let mapped = ProxyRoute {
            path: Some("/v2/x"),
            ..route
        };
        assert_eq!(target_uri(mapped, &f), "http://b:1/v2/x?k=v&x=1&y=%20");
        let bare = UriTemplate::parse("http://b:1", &[]).unwrap();
        let mapped = ProxyRoute {
            uri: &bare,
            ..mapped
        };
        assert_eq!(target_uri(mapped, &f), "http://b:1/v2/x?x=1&y=%20");
    }

    #[test]
    fn hop_by_hop_headers_go_and_forwarding_headers_come() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("api.example.com"));
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret-hop, host, content-length"),
        );
        h.insert("x-secret-hop", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-app", HeaderValue::from_static("kept"));
        // The client's, as it arrives: its hop-by-hop fields go first.
        strip_hop_by_hop(&mut h);
        assert_eq!(h.get(header::HOST).unwrap(), "api.example.com");
        // A mapping adds a field the client's Connection named: it stays.
        h.insert("x-secret-hop", HeaderValue::from_static("mapped"));
        let f = facts(&h, &[]);
        let t = UriTemplate::parse("http://b:1/x", &[]).unwrap();
        let route = ProxyRoute {
            uri: &t,
            greedy: None,
            is_default: false,
            path: None,
        };
        let req = request(route, &f, Bytes::from_static(b"hi")).unwrap();
        let head = String::from_utf8(req.head().to_vec()).unwrap();
        let (line, rest) = head.split_once("\r\n").unwrap();
        assert_eq!(line, "PUT /x?x=1&y=%20 HTTP/1.1");
        let (fields, body) = rest.split_once("\r\n\r\n").unwrap();
        assert_eq!(body, "hi");
        let fields: Vec<(&str, &str)> = fields
            .split("\r\n")
            .map(|l| l.split_once(": ").unwrap())
            .collect();
        let get = |n: &str| -> Vec<&str> {
            fields
                .iter()
                .filter(|(k, _)| *k == n)
                .map(|(_, v)| *v)
                .collect()
        };
        assert!(get("keep-alive").is_empty() && get("connection").is_empty());
        assert_eq!(get("x-secret-hop"), ["mapped"]);
        assert_eq!(get("host"), ["b:1"], "the backend's host, once");
        assert_eq!(get("x-app"), ["kept"]);
        assert_eq!(get("x-forwarded-for"), ["192.0.2.9"]);
        assert_eq!(get("x-forwarded-proto"), ["http"]);
        assert_eq!(get("x-forwarded-port"), ["8080"]);
        assert_eq!(
            get("x-amzn-trace-id"),
            ["Root=1-60d75a9e-5d5e5b1a6e6c7b0f0e3c2a11"]
        );
        assert_eq!(get("x-forwarded-host"), ["api.example.com"]);
        assert_eq!(
            get("forwarded"),
            ["for=192.0.2.9;proto=http;host=\"api.example.com\""]
        );
        assert_eq!(get("content-length"), ["2"]);
    }

    #[test]
    fn forwarded_values_cannot_add_parameters_or_elements() {
        let mut out = Vec::new();
        forwarded_element(
            &mut out,
            "2001:db8::1",
            "https",
            Some(br#"gw", for=6.6.6.6;host="x\"#),
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"for="[2001:db8::1]";proto=https;host="gw\", for=6.6.6.6;host=\"x\\""#
        );
    }
}
