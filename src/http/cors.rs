//! CORS for the HTTP API, applied as AWS HTTP APIs apply their CORS settings
//! (`[http.cors]`): a browser's preflight is answered by the gateway before
//! any route or integration runs, and every other answer gets the configured
//! headers in place of any `Access-Control-*` the backend sent.
//!
//! Choices where AWS is silent, each tested: a preflight is an `OPTIONS` with
//! both `Origin` and `Access-Control-Request-Method` (any other `OPTIONS` is
//! routed like any request); it is answered 204; an origin not in the list
//! gets the answer without any `Access-Control-*` header (so the browser
//! refuses, and the API says nothing about its policy); a listed origin is
//! echoed (with `Vary: Origin`), `*` is sent as `*`.

use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};

use super::respond::{Body, empty};
use crate::config::CorsConfig;

/// Whether the request is a CORS preflight.
pub fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
    method == Method::OPTIONS
        && headers.contains_key(header::ORIGIN)
        && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The `Access-Control-Allow-Origin` value for `origin`, if it is allowed.
fn allow_origin(cfg: &CorsConfig, origin: Option<&HeaderValue>) -> Option<HeaderValue> {
    let origin = origin?;
    if cfg.allow_origins.iter().any(|o| o == "*") {
        return Some(HeaderValue::from_static("*"));
    }
    let text = origin.to_str().ok()?;
    cfg.allow_origins
        .iter()
        .any(|o| o.eq_ignore_ascii_case(text))
        .then(|| origin.clone())
}

fn list(values: &[String]) -> Option<HeaderValue> {
    if values.is_empty() {
        return None;
    }
    HeaderValue::from_str(&values.join(",")).ok()
}

/// The gateway's answer to a preflight.
pub fn preflight(cfg: &CorsConfig, headers: &HeaderMap) -> Response<Body> {
    let mut resp = empty(StatusCode::NO_CONTENT);
    let out = resp.headers_mut();
    out.insert(header::VARY, HeaderValue::from_static("Origin"));
    let Some(origin) = allow_origin(cfg, headers.get(header::ORIGIN)) else {
        return resp;
    };
    out.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    if let Some(v) = list(&cfg.allow_methods) {
        out.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
    }
    if let Some(v) = list(&cfg.allow_headers) {
        out.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
    }
    if let Some(age) = cfg.max_age_secs {
        out.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from(age));
    }
    if cfg.allow_credentials {
        out.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    resp
}

/// Puts the configured CORS headers on an answer, replacing the backend's.
pub fn decorate(cfg: &CorsConfig, origin: Option<&HeaderValue>, headers: &mut HeaderMap) {
    let backend: Vec<_> = headers
        .keys()
        .filter(|n| n.as_str().starts_with("access-control-"))
        .cloned()
        .collect();
    for name in backend {
        headers.remove(name);
    }
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    let Some(origin) = allow_origin(cfg, origin) else {
        return;
    };
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    if let Some(v) = list(&cfg.expose_headers) {
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
    }
    if cfg.allow_credentials {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(origins: &[&str], credentials: bool) -> CorsConfig {
        CorsConfig {
            allow_origins: origins.iter().map(|s| s.to_string()).collect(),
            allow_methods: vec!["GET".into(), "POST".into()],
            allow_headers: vec!["content-type".into(), "x-api-key".into()],
            expose_headers: vec!["x-request-id".into()],
            max_age_secs: Some(600),
            allow_credentials: credentials,
        }
    }

    fn request(origin: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        h.insert(
            header::ACCESS_CONTROL_REQUEST_METHOD,
            HeaderValue::from_static("POST"),
        );
        h
    }

    #[test]
    fn a_listed_origin_gets_the_whole_policy_echoed() {
        let c = cfg(&["https://app.example.com"], true);
        let req = request("https://app.example.com");
        assert!(is_preflight(&Method::OPTIONS, &req));
        assert!(!is_preflight(&Method::GET, &req));
        let resp = preflight(&c, &req);
        assert_eq!(resp.status(), 204);
        let h = resp.headers();
        assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
        assert_eq!(h["access-control-allow-methods"], "GET,POST");
        assert_eq!(h["access-control-allow-headers"], "content-type,x-api-key");
        assert_eq!(h["access-control-max-age"], "600");
        assert_eq!(h["access-control-allow-credentials"], "true");
        assert_eq!(h["vary"], "Origin");
    }

    #[test]
    fn an_unlisted_origin_learns_nothing() {
        let c = cfg(&["https://app.example.com"], false);
        let resp = preflight(&c, &request("https://evil.example.com"));
        assert_eq!(resp.status(), 204);
        assert!(
            resp.headers()
                .keys()
                .all(|k| !k.as_str().starts_with("access-control-"))
        );
        let mut answer = HeaderMap::new();
        answer.insert("access-control-allow-origin", HeaderValue::from_static("*"));
        let origin = HeaderValue::from_static("https://evil.example.com");
        decorate(&c, Some(&origin), &mut answer);
        assert!(
            answer.get("access-control-allow-origin").is_none(),
            "backend's header dropped"
        );
    }

    #[test]
    fn answers_get_the_configured_headers_instead_of_the_backends() {
        let c = cfg(&["*"], false);
        let mut answer = HeaderMap::new();
        answer.insert(
            "access-control-expose-headers",
            HeaderValue::from_static("x-secret"),
        );
        let origin = HeaderValue::from_static("https://any.example.com");
        decorate(&c, Some(&origin), &mut answer);
        assert_eq!(answer["access-control-allow-origin"], "*");
        assert_eq!(answer["access-control-expose-headers"], "x-request-id");
        assert!(answer.get("access-control-allow-credentials").is_none());
        // No Origin: not a CORS request, nothing but Vary.
        let mut plain = HeaderMap::new();
        decorate(&c, None, &mut plain);
        assert_eq!(plain.len(), 1);
    }
}
