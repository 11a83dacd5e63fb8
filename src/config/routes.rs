//! `[routes.*]`, `[http.routes.*]` and `[stages.*]`: routes are declared once
//! and every stage serves all of them with its own variables. Routes are read
//! as written; their keys, URIs, templates and mappings are compiled, per
//! stage, when the snapshot is built (`snapshot::compile`).

use std::collections::BTreeMap;
use std::time::Duration;

use super::env::EnvSource;
use super::param_mapping::read_mapping;
use super::reader::{Errors, Section, join};
use super::{
    CanaryConfig, HttpRouteAuth, HttpRouteConfig, IntegrationConfig, MockConfig, PayloadFormat,
    RouteConfig, StageConfig,
};

/// AWS's stage served at the root of the URL space (`http://host/path`).
pub const DEFAULT_STAGE: &str = "$default";

const MIN_INTEGRATION_TIMEOUT: Duration = Duration::from_millis(50);
/// AWS's cap on WebSocket integrations.
const MAX_WS_INTEGRATION_TIMEOUT: Duration = Duration::from_secs(29);
/// AWS's cap (and default) on HTTP API integrations.
const MAX_HTTP_INTEGRATION_TIMEOUT: Duration = Duration::from_secs(30);

/// Which API a route belongs to: it decides the valid integration keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    /// `[routes]`: WebSocket route keys.
    WebSocket,
    /// `[http.routes]`: `METHOD /path` keys.
    Http,
}

/// `[routes."KEY"]`; `None` when a route's integration is unreadable (its
/// error is recorded).
pub(super) fn read_routes(entries: Vec<(String, Section<'_>)>) -> Option<Vec<RouteConfig>> {
    let routes: Vec<Option<RouteConfig>> = entries
        .into_iter()
        .map(|(key, mut s)| {
            let route_response = s.bool("route_response").unwrap_or(false);
            let integration = read_integration(s.section("integration"), Api::WebSocket);
            let throttle = super::throttle::read_limit(&mut s, "throttle");
            let validation = super::validation::read_ws(&mut s);
            s.finish();
            Some(RouteConfig {
                key,
                integration: integration?,
                route_response,
                throttle,
                validation,
            })
        })
        .collect();
    routes.into_iter().collect()
}

/// `[http.routes."METHOD /path"]`; `None` when a route's integration is
/// unreadable.
pub(super) fn read_http_routes(
    entries: Vec<(String, Section<'_>)>,
) -> Option<Vec<HttpRouteConfig>> {
    let routes: Vec<Option<HttpRouteConfig>> = entries
        .into_iter()
        .map(|(key, mut s)| {
            let integration = read_integration(s.section("integration"), Api::Http);
            let auth = read_route_auth(&mut s);
            let mapping = read_mapping(&mut s);
            let throttle = super::throttle::read_limit(&mut s, "throttle");
            let validation = super::validation::read_http(&mut s);
            s.finish();
            Some(HttpRouteConfig {
                key,
                integration: integration?,
                auth,
                mapping,
                throttle,
                validation,
            })
        })
        .collect();
    routes.into_iter().collect()
}

/// The models routes name, with where each is named (for errors).
pub(super) fn model_names<'r>(
    ws: &'r [RouteConfig],
    http: &'r [HttpRouteConfig],
) -> impl Iterator<Item = (String, String)> + 'r {
    let ws = ws.iter().flat_map(|r| {
        let at = join("routes", &r.key);
        let models = r.validation.iter().flat_map(|v| &v.models);
        models.map(move |(k, m)| (format!("{at}.request_models.{k}"), m.clone()))
    });
    let http = http.iter().filter_map(|r| {
        let at = join(&join("http.routes", &r.key), "request_model");
        r.validation.model.clone().map(|m| (at, m))
    });
    ws.chain(http)
}

/// AWS's cap on a route's authorization scopes.
const MAX_SCOPES: usize = 10;

/// An HTTP route's `authorizer`, `authorization_scopes` and `api_key_required`
/// (checked against `[authorizers]` and the stages in `security`).
fn read_route_auth(s: &mut Section<'_>) -> HttpRouteAuth {
    let auth = HttpRouteAuth {
        authorizer: s.string("authorizer").map(str::to_owned),
        scopes: s.string_list("authorization_scopes"),
        api_key_required: s.bool("api_key_required").unwrap_or(false),
    };
    if auth.scopes.len() > MAX_SCOPES {
        s.error(
            "authorization_scopes",
            format!("at most {MAX_SCOPES} scopes (AWS's limit)"),
        );
    }
    if auth
        .scopes
        .iter()
        .any(|sc| sc.is_empty() || sc.contains(' '))
    {
        s.error(
            "authorization_scopes",
            "a scope is a non-empty word without spaces",
        );
    }
    auth
}

const TYPES: &str = "\"aws_proxy\", \"http_proxy\" or \"mock\"";

fn read_integration(mut s: Section<'_>, api: Api) -> Option<IntegrationConfig> {
    let path = s.path().to_owned();
    let result = match s.string("type") {
        Some(t @ ("aws_proxy" | "http_proxy")) => read_http(&mut s, t == "http_proxy", api),
        Some("mock") => Some(IntegrationConfig::Mock(read_mock(&mut s))),
        Some(other) => {
            let why = format!("{other:?} is not one of \"aws_proxy\", \"http_proxy\", \"mock\"");
            s.errors().push(join(&path, "type"), why);
            // Without a known type there is no way to tell which keys are valid:
            // the type's own error is the one to report.
            s.abandon();
            return None;
        }
        None => {
            s.errors()
                .push(join(&path, "type"), format!("missing ({TYPES})"));
            s.abandon();
            return None;
        }
    };
    s.finish();
    result
}

/// `payload_format`: the Lambda event version of an HTTP route ("2.0" default).
fn read_payload_format(s: &mut Section<'_>) -> PayloadFormat {
    match s.string("payload_format") {
        None | Some("2.0") => PayloadFormat::V2,
        Some("1.0") => PayloadFormat::V1,
        Some(other) => {
            s.error(
                "payload_format",
                format!("{other:?} is not \"2.0\" or \"1.0\""),
            );
            PayloadFormat::V2
        }
    }
}

/// `aws_proxy` and `http_proxy`: the URI (or function) as written.
fn read_http(s: &mut Section<'_>, proxy: bool, api: Api) -> Option<IntegrationConfig> {
    let path = join(s.path(), "uri");
    let payload_format = match (proxy, api) {
        (false, Api::Http) => read_payload_format(s),
        _ => PayloadFormat::V2,
    };
    // aws_proxy may name a Lambda function instead (its ARN works in `uri` too).
    let function = if proxy { None } else { s.string("function") };
    let written = match (s.string("uri"), function) {
        (Some(_), Some(_)) => {
            s.errors().push(path, "give uri or function, not both");
            None
        }
        (None, None) => {
            let what = if proxy {
                "an http:// or https:// URL"
            } else {
                "a URL or a Lambda function ARN, or function"
            };
            s.errors().push(path, format!("missing ({what})"));
            None
        }
        (uri, function) => uri.or(function).map(str::to_owned),
    };
    let max = match api {
        Api::WebSocket => MAX_WS_INTEGRATION_TIMEOUT,
        Api::Http => MAX_HTTP_INTEGRATION_TIMEOUT,
    };
    let timeout = s.duration_or("timeout", MIN_INTEGRATION_TIMEOUT, max, max);
    let uri = written?;
    Some(match proxy {
        true => IntegrationConfig::HttpProxy { uri, timeout },
        false => IntegrationConfig::AwsProxy {
            uri,
            function: function.is_some(),
            timeout,
            payload_format,
        },
    })
}

fn read_mock(s: &mut Section<'_>) -> MockConfig {
    let path = s.path().to_owned();
    let status = s.int("status_code", 100, 599).unwrap_or(200) as u16;
    let body = s.string("body").map(str::to_owned);
    let headers = s.string_map("headers");
    let why = "a mock answers at once and calls no backend: it takes no";
    s.refuse("timeout", &format!("{why} timeout"));
    for key in ["uri", "function"] {
        s.refuse(key, &format!("{why} {key}"));
    }
    for (name, value) in &headers {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err()
            || http::HeaderValue::from_str(value).is_err()
        {
            s.errors().push(
                join(&join(&path, "headers"), name),
                "not a valid HTTP header",
            );
        }
    }
    MockConfig {
        status,
        body,
        headers,
    }
}

pub(super) fn read_stages(
    entries: Vec<(String, Section<'_>)>,
    errors: &Errors,
    env: &dyn EnvSource,
) -> Option<Vec<StageConfig>> {
    if entries.is_empty() {
        errors.push(
            "stages",
            "at least one stage is required, e.g. [stages.dev]",
        );
        return None;
    }
    let stages: Vec<Option<StageConfig>> = entries
        .into_iter()
        .map(|(name, s)| read_stage(name, s, env))
        .collect();
    stages.into_iter().collect()
}

fn read_stage(name: String, mut s: Section<'_>, env: &dyn EnvSource) -> Option<StageConfig> {
    let path = s.path().to_owned();
    // `$default` is AWS's stage served at the root, with no name in the path.
    let valid_name = name == DEFAULT_STAGE
        || (!name.is_empty()
            && name.len() <= 128
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    if !valid_name {
        s.errors().push(
            path.clone(),
            "stage names are 1-128 letters, digits, - or _ (or \"$default\", served at the root)",
        );
    }
    let (variables, variables_ok) = read_variables(&mut s);
    let authorizer = s.string("authorizer").map(str::to_owned);
    let api_keys = read_api_keys(&mut s, env);
    let throttle = super::throttle::read_stage(s.section("throttle"));
    let canary = read_canary(s.section("canary"), &variables);
    let compression = super::compression::read_compression(s.section("compression"));
    s.finish();
    let valid = valid_name && variables_ok;
    Some(StageConfig {
        name: valid.then_some(name)?,
        variables,
        authorizer,
        api_keys: api_keys?,
        canary: canary?,
        throttle,
        compression,
    })
}

/// `[stages.NAME.canary]`: its share and its variables laid over the stage's.
/// `Some(None)`: no canary.
fn read_canary(
    mut s: Section<'_>,
    base: &BTreeMap<String, String>,
) -> Option<Option<CanaryConfig>> {
    if !s.is_present() {
        return Some(None);
    }
    let percent = s.number("percent", 0.0, 100.0);
    if percent.is_none() && !s.has("percent") {
        s.errors().push(
            join(s.path(), "percent"),
            "missing (0 to 100: the share of new connections)",
        );
    }
    let (overrides, ok) = read_variables(&mut s);
    s.finish();
    let mut variables = base.clone();
    variables.extend(overrides);
    Some(Some(CanaryConfig {
        percent: percent?,
        variables: ok.then_some(variables)?,
    }))
}

/// Stage variables, and whether they follow AWS's rules for names and values.
fn read_variables(s: &mut Section<'_>) -> (BTreeMap<String, String>, bool) {
    let path = join(s.path(), "variables");
    let variables: BTreeMap<String, String> = s.string_map("variables").into_iter().collect();
    let mut ok = true;
    for (k, v) in &variables {
        if !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || k.len() > 64 {
            s.errors().push(
                join(&path, k),
                "variable names are up to 64 letters, digits or _",
            );
            ok = false;
        }
        let valid_value = !v.is_empty()
            && v.len() <= 512
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~:/?#&=,".contains(c));
        if !valid_value {
            s.errors().push(
                join(&path, k),
                "values are 1-512 characters of A-Z a-z 0-9 - . _ ~ : / ? # & = ,",
            );
            ok = false;
        }
    }
    (variables, ok)
}

/// API keys (name, key); keys may be `env:NAME`.
fn read_api_keys(s: &mut Section<'_>, env: &dyn EnvSource) -> Option<Vec<(String, String)>> {
    let mut keys = Vec::new();
    let mut ok = true;
    for (name, value) in s.string_map("api_keys") {
        let key = format!("api_keys.{name}");
        match super::env::secret(s, &key, &value, env) {
            Some(v) if v.len() >= 20 => keys.push((name, v)),
            Some(_) => {
                s.errors().push(
                    join(s.path(), &key),
                    "an API key has at least 20 characters",
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    ok.then_some(keys)
}
