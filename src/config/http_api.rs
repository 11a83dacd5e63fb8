//! `[http]`: the HTTP API served beside the WebSocket API on the public
//! listener — its routes (read in `routes`) and its limits —
//! and the types of its config.

use super::reader::Section;
use super::routes;

use super::{HttpValidation, IntegrationConfig};

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
pub(super) fn read_http(mut s: Section<'_>) -> (HttpConfig, Option<Vec<HttpRouteConfig>>) {
    let routes = routes::read_http_routes(s.entries("routes"));
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
    let access_log_format = s.string("access_log_format").map(str::to_owned);
    s.finish();
    let config = HttpConfig {
        max_body_bytes: max_body_bytes as usize,
        max_body_bytes_per_connection: per_connection as usize,
        max_body_bytes_in_flight: in_flight as usize,
        cors,
        access_log,
        access_log_format,
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

/// `[http]`: the HTTP API's settings.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpConfig {
    /// Largest request body accepted (AWS: 10 MB); larger gets 413.
    pub max_body_bytes: usize,
    /// Request body bytes one client connection may have buffered at once
    /// (HTTP/2 runs many requests on one).
    pub max_body_bytes_per_connection: usize,
    /// Request body bytes the node may have buffered at once (read when the
    /// node starts).
    pub max_body_bytes_in_flight: usize,
    /// `[http.cors]`, if set.
    pub cors: Option<CorsConfig>,
    /// One log line per request, with AWS's `$context` variables (off by
    /// default: at tens of thousands of requests a second it is the costliest
    /// thing a node does).
    pub access_log: bool,
    /// The line's template (`telemetry::access_format`), as written;
    /// compiled when the snapshot is built.
    pub access_log_format: Option<String>,
}

/// Body budgets count bytes in these units (KiB): a semaphore's permits are
/// `u32`-bounded per acquire, and a KiB per small body is no real loss.
pub const BODY_UNIT: usize = 1024;

/// `[http.cors]`: AWS's CORS settings of an HTTP API (`http::cors` applies them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorsConfig {
    /// Origins (`scheme://host[:port]`) or `*`.
    pub allow_origins: Vec<String>,
    /// Methods (upper case) or `*`.
    pub allow_methods: Vec<String>,
    /// Request headers (lower case) or `*`.
    pub allow_headers: Vec<String>,
    /// Response headers scripts may read (lower case).
    pub expose_headers: Vec<String>,
    /// `Access-Control-Max-Age`, seconds.
    pub max_age_secs: Option<u64>,
    /// `Access-Control-Allow-Credentials: true`.
    pub allow_credentials: bool,
}

/// One HTTP route (`[http.routes."GET /pets/{id}"]`).
#[derive(Debug, Clone, PartialEq)]
pub struct HttpRouteConfig {
    /// `METHOD /path` or `$default`, as written.
    pub key: String,
    /// Where its requests go.
    pub integration: IntegrationConfig,
    /// What a request must show first.
    pub auth: HttpRouteAuth,
    /// Changes to the request and the answer.
    pub mapping: ParamMapping,
    /// Its own limit (AWS's route settings), over the stage's default.
    pub throttle: Option<super::Limit>,
    /// Its model and required parameters.
    pub validation: HttpValidation,
}

/// An HTTP route's parameter mapping as written: AWS's `request_parameters`
/// and `response_parameters`, each `(key, value)` (compiled and checked
/// against the route when the snapshot is built; applied by `http::mapping`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParamMapping {
    /// Changes to the request.
    pub request: Vec<(String, String)>,
    /// Changes to the answer, by the integration's status code.
    pub response: Vec<(u16, Vec<(String, String)>)>,
}

impl ParamMapping {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        self.request.is_empty() && self.response.is_empty()
    }
}

/// What a request on an HTTP route must show before its body is read and its
/// integration runs (AWS's route `AuthorizerId`, `AuthorizationScopes`, and
/// REST's `apiKeyRequired`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpRouteAuth {
    /// The `[authorizers.*]` entry the route uses, if any.
    pub authorizer: Option<String>,
    /// With a JWT authorizer: the token must carry at least one of these.
    pub scopes: Vec<String>,
    /// The request must carry one of its stage's `api_keys` in `x-api-key`.
    pub api_key_required: bool,
}

/// Lambda payload format version of an HTTP route (`payload_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadFormat {
    /// "1.0": the REST API proxy shape with `version: "1.0"`.
    V1,
    /// "2.0" (the default): the HTTP API shape.
    V2,
}
