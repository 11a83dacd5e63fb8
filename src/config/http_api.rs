//! `[http]`: the HTTP API served beside the WebSocket API on the public
//! listener — its routes (resolved per stage in `routes`) and its limits.

use super::reader::{Errors, Section};
use super::routes::{self, RawRoute};
use super::{CorsConfig, HttpConfig};

/// AWS HTTP APIs' payload limit: 10 MB.
const DEFAULT_MAX_BODY: u64 = 10 * 1024 * 1024;
/// A body is buffered whole before the integration is called, so its cap is
/// memory per request; 100 MiB is the most one request may hold.
const MAX_MAX_BODY: u64 = 100 * 1024 * 1024;

/// Reads `[http]`: its settings, and its routes as written. A bad value is
/// recorded in `errors` (which fails the load) and replaced by its default so
/// reading goes on.
pub(super) fn read_http(mut s: Section<'_>, errors: &Errors) -> (HttpConfig, Vec<RawRoute>) {
    let routes = routes::read_http_routes(s.entries("routes"), errors);
    let max_body_bytes = s
        .bytes("max_body_bytes", 1, MAX_MAX_BODY)
        .unwrap_or(DEFAULT_MAX_BODY);
    let cors = read_cors(s.section("cors"));
    let access_log = s.bool("access_log").unwrap_or(false);
    s.finish();
    let config = HttpConfig {
        max_body_bytes: max_body_bytes as usize,
        cors,
        access_log,
    };
    (config, routes)
}

/// AWS's cap on `MaxAge`: one day.
const MAX_CORS_AGE_SECS: i64 = 86_400;

/// `[http.cors]`, AWS's CORS configuration of an HTTP API; absent: no CORS.
fn read_cors(mut s: Section<'_>) -> Option<CorsConfig> {
    if !s.is_present() {
        return None;
    }
    let lower = |list: Vec<String>| list.into_iter().map(|v| v.to_ascii_lowercase()).collect();
    let cors = CorsConfig {
        allow_origins: s.string_list("allow_origins"),
        allow_methods: s
            .string_list("allow_methods")
            .into_iter()
            .map(|m| m.to_ascii_uppercase())
            .collect(),
        allow_headers: lower(s.string_list("allow_headers")),
        expose_headers: lower(s.string_list("expose_headers")),
        max_age_secs: s.int("max_age", 0, MAX_CORS_AGE_SECS).map(|n| n as u64),
        allow_credentials: s.bool("allow_credentials").unwrap_or(false),
    };
    for origin in cors.allow_origins.iter().filter(|o| *o != "*") {
        let valid = origin.parse::<http::Uri>().is_ok_and(|u| {
            u.scheme().is_some() && u.host().is_some() && u.path() == "/" && !origin.ends_with('/')
        });
        if !valid {
            s.error(
                "allow_origins",
                format!("{origin:?} is not an origin (scheme://host[:port]) or \"*\""),
            );
        }
    }
    for header in cors.allow_headers.iter().chain(&cors.expose_headers) {
        if header != "*" && http::HeaderName::from_bytes(header.as_bytes()).is_err() {
            s.error("allow_headers", format!("{header:?} is not a header name"));
        }
    }
    if cors.allow_credentials && cors.allow_origins.iter().any(|o| o == "*") {
        // Browsers refuse credentials with a wildcard origin; AWS refuses the config.
        s.error(
            "allow_credentials",
            "cannot be true while allow_origins contains \"*\"; list the origins",
        );
    }
    s.finish();
    Some(cors)
}
