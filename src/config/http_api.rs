//! `[http]`: the HTTP API served beside the WebSocket API on the public
//! listener — its routes (resolved per stage in `routes`) and its limits.

use super::reader::{Errors, Section, join};
use super::routes::{self, RawRoute};
use super::{CorsConfig, HttpConfig, ParamMapping};
use crate::routing::mapping::{self, MapVar, Mapping, Side, Target};

/// AWS HTTP APIs' payload limit: 10 MB.
const DEFAULT_MAX_BODY: u64 = 10 * 1024 * 1024;
/// A body is buffered whole before the integration is called, so its cap is
/// memory per request; 100 MiB is the most one request may hold.
const MAX_MAX_BODY: u64 = 100 * 1024 * 1024;

/// Request bodies the node holds at once, by default: 256 MiB (25 bodies of
/// AWS's 10 MB), or four of the largest allowed, if more.
const DEFAULT_IN_FLIGHT: u64 = 256 << 20;
/// The most a body budget may be set to (64 GiB).
const MAX_BUDGET: u64 = 64 << 30;

/// Reads `[http]`: its settings, and its routes as written. A bad value is
/// recorded in `errors` (which fails the load) and replaced by its default so
/// reading goes on.
pub(super) fn read_http(mut s: Section<'_>, errors: &Errors) -> (HttpConfig, Vec<RawRoute>) {
    let routes = routes::read_http_routes(s.entries("routes"), errors);
    let max_body_bytes = s
        .bytes("max_body_bytes", 1, MAX_MAX_BODY)
        .unwrap_or(DEFAULT_MAX_BODY);
    // A body reserves its budgets in steps of up to 64 KiB: each budget must
    // hold one whole body and a step.
    let least = max_body_bytes + (64 << 10);
    let per_connection = s
        .bytes("max_body_bytes_per_connection", least, MAX_BUDGET)
        .unwrap_or((2 * max_body_bytes).max(16 << 20).max(least));
    let in_flight = s
        .bytes("max_body_bytes_in_flight", per_connection, MAX_BUDGET)
        .unwrap_or(
            DEFAULT_IN_FLIGHT
                .max(4 * max_body_bytes)
                .max(per_connection),
        );
    let cors = read_cors(s.section("cors"));
    let access_log = s.bool("access_log").unwrap_or(false);
    s.finish();
    let config = HttpConfig {
        max_body_bytes: max_body_bytes as usize,
        max_body_bytes_per_connection: per_connection as usize,
        max_body_bytes_in_flight: in_flight as usize,
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

/// The kind of integration a route's mapping applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Calls {
    /// `aws_proxy`: the mapped request is what the event shows.
    Lambda,
    /// `http_proxy`: the mapped request is what the backend gets; its answer
    /// is streamed, so `$response.body` cannot be read.
    Proxy,
    /// `mock`: no request goes anywhere.
    Mock,
}

/// Most mappings per route and direction: each runs on every request, and
/// AWS's examples use a handful; 50 leaves room without letting a config make
/// a request do unbounded work.
const MAX_MAPPINGS: usize = 50;

/// `request_parameters` and `response_parameters` of an HTTP route: each key
/// and value parsed (`routing::mapping`) and checked against the route.
pub(super) fn read_mapping(s: &mut Section<'_>, key: &str, calls: Calls) -> ParamMapping {
    let params = crate::routing::http::key_params(key);
    let path = s.path().to_owned();
    let req_path = join(&path, "request_parameters");
    let errors = s.errors();
    let check = |m: &Mapping, at: &str| -> Result<(), String> {
        if calls == Calls::Mock && at == req_path {
            return Err("a mock route calls no backend; map its answer instead".into());
        }
        if m.target == Target::Path && calls != Calls::Proxy {
            return Err("overwrite:path applies to http_proxy integrations".into());
        }
        for v in m.value.vars() {
            match v {
                MapVar::PathParam(p) if !params.contains(p) => {
                    return Err(format!("{{{p}}} is not a parameter of the route"));
                }
                MapVar::ResponseBody(_) if calls == Calls::Proxy => {
                    return Err("an http_proxy answer is streamed; $response.body is for aws_proxy and mock routes".into());
                }
                _ => {}
            }
        }
        Ok(())
    };
    let read = |pairs: Vec<(String, String)>, at: &str, side: Side| -> Vec<Mapping> {
        if pairs.len() > MAX_MAPPINGS {
            errors.push(at, format!("at most {MAX_MAPPINGS} mappings"));
        }
        let mut out: Vec<Mapping> = pairs
            .into_iter()
            .filter_map(|(k, v)| {
                let parsed = mapping::parse(&k, &v, side).and_then(|m| check(&m, at).map(|()| m));
                parsed.map_err(|why| errors.push(join(at, &k), why)).ok()
            })
            .collect();
        out.sort_by_key(|m| m.action);
        out
    };
    let request = read(s.string_map("request_parameters"), &req_path, Side::Request);
    let mut response = Vec::new();
    for (status, section) in s.entries("response_parameters") {
        let at = section.path().to_owned();
        let Some(code) = status
            .parse::<u16>()
            .ok()
            .filter(|c| (200..=599).contains(c))
        else {
            errors.push(at, "response mappings are keyed by a status code, 200-599");
            continue;
        };
        response.push((code, read(section.strings(), &at, Side::Response)));
    }
    ParamMapping { request, response }
}
