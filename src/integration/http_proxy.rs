//! `http_proxy` on HTTP routes: the request passed on to the backend, and the
//! backend's answer passed back, as AWS HTTP APIs do it.
//!
//! The backend gets the client's method, headers and body, the query string,
//! and the URI with the route's parameters filled in (the `$default` route
//! appends the request's path, as AWS documents). `Host` becomes the
//! backend's; the client's is kept in `X-Forwarded-Host` and, with the client's
//! address and scheme, in `X-Forwarded-For`/`-Proto` and RFC 7239 `Forwarded`.
//! Hop-by-hop headers (RFC 9110 §7.6.1) go neither way.

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http_body_util::Full;

use super::CallError;
use super::http_event::HttpFacts;
use crate::routing::uri::UriTemplate;

/// Headers that describe one connection, not the message.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Removes hop-by-hop headers, those `Connection` names included, and `Upgrade`.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named.iter().chain(&HOP_BY_HOP) {
        headers.remove(name);
    }
    headers.remove(header::UPGRADE);
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

/// The request the backend gets.
pub fn request(
    route: ProxyRoute<'_>,
    f: &HttpFacts<'_>,
    body: Bytes,
) -> Result<http::Request<Full<Bytes>>, CallError> {
    let bad =
        |e: &dyn std::fmt::Display| CallError::Failed(format!("cannot build the request: {e}"));
    let uri: http::Uri = target_uri(route, f).parse().map_err(|e| bad(&e))?;
    let method = http::Method::from_bytes(f.method.as_bytes()).map_err(|e| bad(&e))?;
    let mut headers = f.headers.clone();
    strip_hop_by_hop(&mut headers);
    let host = headers.remove(header::HOST);
    let forwarded_for = match headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(earlier) => format!("{earlier}, {}", f.source_ip),
        None => f.source_ip.to_owned(),
    };
    let node = if f.source_ip.contains(':') {
        format!("\"[{}]\"", f.source_ip)
    } else {
        f.source_ip.to_owned()
    };
    let mut forwarded = format!("for={node};proto={}", f.scheme);
    let host_text = host.as_ref().and_then(|h| h.to_str().ok());
    if let Some(h) = host_text {
        forwarded.push_str(&format!(";host=\"{h}\""));
    }
    let value = |v: &str| HeaderValue::from_str(v).map_err(|e| bad(&e));
    headers.insert("x-forwarded-for", value(&forwarded_for)?);
    headers.insert("x-forwarded-proto", HeaderValue::from_static(f.scheme));
    if let Some(h) = host {
        headers.insert("x-forwarded-host", h);
    }
    headers.append(header::FORWARDED, value(&forwarded)?);
    if let Some(canary) = f.is_canary {
        let side = if canary { "true" } else { "false" };
        headers.insert(
            "x-sockgate-is-canary-request",
            HeaderValue::from_static(side),
        );
    }
    // The body is whole: its length is known.
    headers.remove(header::CONTENT_LENGTH);
    let mut req = http::Request::new(Full::new(body));
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    Ok(req)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

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
            HeaderValue::from_static("keep-alive, x-secret-hop"),
        );
        h.insert("x-secret-hop", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert("x-forwarded-for", HeaderValue::from_static("198.51.100.1"));
        h.insert("x-app", HeaderValue::from_static("kept"));
        let f = facts(&h, &[]);
        let t = UriTemplate::parse("http://b:1/x", &[]).unwrap();
        let route = ProxyRoute {
            uri: &t,
            greedy: None,
            is_default: false,
            path: None,
        };
        let req = request(route, &f, Bytes::from_static(b"hi")).unwrap();
        let out = req.headers();
        assert_eq!(req.method(), "PUT");
        assert!(out.get("x-secret-hop").is_none() && out.get("keep-alive").is_none());
        assert!(
            out.get(header::HOST).is_none(),
            "the client sets the backend's host"
        );
        assert_eq!(out["x-app"], "kept");
        assert_eq!(out["x-forwarded-for"], "198.51.100.1, 192.0.2.9");
        assert_eq!(out["x-forwarded-proto"], "http");
        assert_eq!(out["x-forwarded-host"], "api.example.com");
        assert_eq!(
            out["forwarded"],
            "for=192.0.2.9;proto=http;host=\"api.example.com\""
        );
    }
}
