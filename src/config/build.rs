//! Reads a TOML table into a [`Config`], recording every problem in [`Errors`].
//!
//! Each `read_*` function takes its own section and returns `None` only when a
//! value it needs is unusable; reading always continues so that later sections
//! report their errors too.

use std::collections::BTreeMap;
use std::time::Duration;

use super::env::EnvSource;
use super::reader::{Errors, Section, join};
use super::security;
use super::*;
use crate::routing::{self, Scope, expr::Var};

const MIN_INTEGRATION_TIMEOUT: Duration = Duration::from_millis(50);
const MAX_INTEGRATION_TIMEOUT: Duration = Duration::from_secs(29);
const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);

pub(super) fn build(table: &toml::Table, errors: &Errors, env: &dyn EnvSource) -> Option<Config> {
    let mut root = Section::root(table, errors);
    let server = read_server(root.section("server"));
    let api = read_api(root.section("api"));
    let websocket = read_websocket(root.section("websocket"));
    let integrations = read_client(root.section("integrations"));
    let routes = read_routes(root.entries("routes"));
    let stages = read_stages(root.entries("stages"), &routes, errors, env);
    let authorizers = security::read_authorizers(root.entries("authorizers"), env);
    let admission = security::read_admission(root.section("admission"));
    let authorizers_ok = match (&stages, &authorizers) {
        (Some(st), Some(a)) => security::check_stage_authorizers(st, a, errors),
        _ => true,
    };
    let cluster = read_cluster(root.section("cluster"));
    let management = read_management(
        root.section("management"),
        env,
        server.as_ref().map(|s| s.management_listen),
    );
    root.finish();
    if !authorizers_ok {
        return None;
    }
    Some(Config {
        authorizers: authorizers?,
        admission: admission?,
        management: management?,
        cluster: cluster?,
        server: server?,
        api: api?,
        websocket: websocket?,
        integrations: integrations?,
        stages: stages?,
    })
}

fn addr(s: &mut Section<'_>, key: &str, default: &str) -> Option<std::net::SocketAddr> {
    let text = s.string(key).unwrap_or(default);
    match text.parse() {
        Ok(a) => Some(a),
        Err(_) => {
            s.errors().push(
                join(s.path(), key),
                format!("{text:?} is not an address (use ip:port, e.g. \"127.0.0.1:8080\")"),
            );
            None
        }
    }
}

fn read_server(mut s: Section<'_>) -> Option<ServerConfig> {
    let listen = addr(&mut s, "listen", "127.0.0.1:8080");
    let management_listen = addr(&mut s, "management_listen", "127.0.0.1:8081");
    let metrics_listen = addr(&mut s, "metrics_listen", "127.0.0.1:9090");
    let node_id = match s.string("node_id") {
        Some(id)
            if !id.is_empty()
                && id.len() <= 64
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') =>
        {
            Some(id.to_owned())
        }
        Some(id) => {
            s.errors().push(
                join(s.path(), "node_id"),
                format!("{id:?} must be 1-64 letters, digits, - or _"),
            );
            None
        }
        None => Some(format!("node-{:08x}", rand::random::<u32>())),
    };
    let max_connections = s.int("max_connections", 1, 10_000_000).unwrap_or(10_000) as usize;
    let handshake_timeout = s.duration(
        "handshake_timeout",
        Duration::from_millis(100),
        Duration::from_secs(300),
        false,
    );
    let shutdown_grace = s.duration(
        "shutdown_grace",
        Duration::ZERO,
        Duration::from_secs(3600),
        false,
    );
    let request_body_timeout = s.duration(
        "request_body_timeout",
        Duration::from_millis(100),
        Duration::from_secs(300),
        false,
    );
    let max_http_connections =
        s.int("max_http_connections", 1, 10_000_000).unwrap_or(4096) as usize;
    let max_http_connections_per_ip = s
        .int("max_http_connections_per_ip", 1, 10_000_000)
        .unwrap_or(256) as usize;
    let management_max_connections = s
        .int("management_max_connections", 1, 10_000_000)
        .unwrap_or(1024) as usize;
    let management_max_connections_per_ip = s
        .int("management_max_connections_per_ip", 1, 10_000_000)
        .unwrap_or(256) as usize;
    let trust_forwarded_for = s.bool("trust_forwarded_for").unwrap_or(false);
    let tls = match (s.string("tls_cert_file"), s.string("tls_key_file")) {
        (None, None) => Some(None),
        (Some(cert), Some(key)) => match crate::server::tls::Tls::load(cert, key) {
            Ok(tls) => Some(Some(tls)),
            Err(e) => {
                s.errors().push(join(s.path(), "tls_cert_file"), e);
                None
            }
        },
        _ => {
            s.errors().push(
                join(s.path(), "tls_cert_file"),
                "tls_cert_file and tls_key_file go together",
            );
            None
        }
    };
    s.finish();
    Some(ServerConfig {
        listen: listen?,
        management_listen: management_listen?,
        metrics_listen: metrics_listen?,
        node_id: node_id?,
        max_connections,
        handshake_timeout: handshake_timeout.unwrap_or(Some(Duration::from_secs(10)))?,
        shutdown_grace: shutdown_grace.unwrap_or(Some(Duration::from_secs(30)))?,
        request_body_timeout: request_body_timeout.unwrap_or(Some(Duration::from_secs(10)))?,
        max_http_connections,
        max_http_connections_per_ip,
        management_max_connections,
        management_max_connections_per_ip,
        trust_forwarded_for,
        tls: tls?,
    })
}

/// A secret: the value itself, or `env:NAME` to read it from the environment
/// (so config files need not hold secrets).
pub(super) fn secret(
    s: &Section<'_>,
    key: &str,
    value: &str,
    env: &dyn EnvSource,
) -> Option<String> {
    match value.strip_prefix("env:") {
        Some(var) => match env.get(var) {
            Some(v) if !v.is_empty() => Some(v),
            _ => {
                s.errors().push(
                    join(s.path(), key),
                    format!("environment variable {var} is not set"),
                );
                None
            }
        },
        None => Some(value.to_owned()),
    }
}

/// `[management]`: who may call the management API.
fn read_management(
    mut s: Section<'_>,
    env: &dyn EnvSource,
    listen: Option<std::net::SocketAddr>,
) -> Option<ManagementAuth> {
    let mut ok = true;
    let mut access_keys = Vec::new();
    for (id, value) in s.string_map("access_keys") {
        let path_key = format!("access_keys.{id}");
        let valid_id =
            (1..=128).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric());
        if !valid_id {
            s.errors().push(
                join(s.path(), &path_key),
                "an access key id is 1-128 letters and digits",
            );
            ok = false;
            continue;
        }
        match secret(&s, &path_key, &value, env) {
            Some(secret) if !secret.is_empty() => {
                access_keys.push(crate::auth::sigv4::AccessKey { id, secret })
            }
            Some(_) => {
                s.errors().push(
                    join(s.path(), &path_key),
                    "a secret access key cannot be empty",
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    let mut bearer_tokens = Vec::new();
    for (name, value) in s.string_map("bearer_tokens") {
        let path_key = format!("bearer_tokens.{name}");
        match secret(&s, &path_key, &value, env) {
            Some(token) if token.len() >= 32 && token.bytes().all(|b| b.is_ascii_graphic()) => {
                bearer_tokens.push(token);
            }
            Some(_) => {
                s.errors().push(
                    join(s.path(), &path_key),
                    "a bearer token has at least 32 printable characters (e.g. `openssl rand -hex 32`)",
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    let region = s.string("region").map(str::to_owned);
    let skew = s
        .duration(
            "max_clock_skew",
            Duration::from_secs(1),
            Duration::from_secs(3600),
            false,
        )
        .unwrap_or(Some(Duration::from_secs(300)));
    let allow_unauthenticated = s.bool("allow_unauthenticated").unwrap_or(false);
    let auth = ManagementAuth {
        access_keys,
        bearer_tokens,
        region,
        max_clock_skew_secs: skew.map_or(300, |d| d.as_secs()),
    };
    if let Some(addr) = listen
        && !addr.ip().is_loopback()
        && !auth.required()
        && !allow_unauthenticated
    {
        s.errors().push(
            join(s.path(), "access_keys"),
            format!(
                "server.management_listen {addr} is reachable from other hosts: configure access_keys or bearer_tokens, or set management.allow_unauthenticated = true"
            ),
        );
        ok = false;
    }
    s.finish();
    (ok && skew.is_some()).then_some(auth)
}

/// `[cluster]`; `Some(None)` when no Redis is configured (a single node).
fn read_cluster(mut s: Section<'_>) -> Option<Option<ClusterConfig>> {
    let redis_url = s.string("redis_url").map(str::to_owned);
    let heartbeat_interval = s
        .duration(
            "heartbeat_interval",
            Duration::from_millis(100),
            Duration::from_secs(60),
            false,
        )
        .unwrap_or(Some(Duration::from_secs(1)));
    let node_ttl = s
        .duration(
            "node_ttl",
            Duration::from_millis(500),
            Duration::from_secs(600),
            false,
        )
        .unwrap_or(Some(Duration::from_secs(5)));
    let request_timeout = s
        .duration(
            "request_timeout",
            Duration::from_millis(10),
            Duration::from_secs(30),
            false,
        )
        .unwrap_or(Some(Duration::from_secs(1)));
    let group_partitions = s.int("group_partitions", 1, 64).unwrap_or(1) as u32;
    let readiness_requires_redis = s.bool("readiness_requires_redis").unwrap_or(true);
    let max_clock_skew = s
        .duration(
            "max_clock_skew",
            Duration::ZERO,
            Duration::from_secs(10),
            false,
        )
        .unwrap_or(Some(Duration::from_millis(250)));
    // Default: two missed probes and one slow Redis answer.
    let unready_after = s
        .duration(
            "unready_after",
            Duration::from_millis(100),
            Duration::from_secs(600),
            false,
        )
        .unwrap_or_else(|| Some(heartbeat_interval? * 2 + request_timeout?));
    let mut ok = true;
    if let (Some(h), Some(t), Some(u)) = (heartbeat_interval, request_timeout, unready_after)
        && u < h + t
    {
        s.errors().push(
            join(s.path(), "unready_after"),
            "must be at least heartbeat_interval + request_timeout (a probe is sent every heartbeat and may take request_timeout to come back)",
        );
        ok = false;
    }
    if let (Some(k), Some(t)) = (max_clock_skew, request_timeout)
        && k >= t
    {
        s.errors().push(
            join(s.path(), "max_clock_skew"),
            "must be less than request_timeout (a request must reach its owner within request_timeout - max_clock_skew)",
        );
        ok = false;
    }
    if let (Some(h), Some(t)) = (heartbeat_interval, node_ttl)
        && t < h * 2
    {
        s.errors().push(
            join(s.path(), "node_ttl"),
            "must be at least twice heartbeat_interval (a node must miss two heartbeats before it is declared lost)",
        );
        ok = false;
    }
    match redis_url.as_deref() {
        Some(url) if url.starts_with("redis://") => {}
        Some(url) => {
            s.errors().push(
                join(s.path(), "redis_url"),
                format!("{url:?} is not a redis:// URL (e.g. \"redis://127.0.0.1:6379\")"),
            );
            ok = false;
        }
        None => {}
    }
    s.finish();
    if !ok {
        return None;
    }
    let Some(redis_url) = redis_url else {
        return Some(None);
    };
    Some(Some(ClusterConfig {
        redis_url,
        heartbeat_interval: heartbeat_interval?,
        node_ttl: node_ttl?,
        request_timeout: request_timeout?,
        group_partitions,
        readiness_requires_redis,
        max_clock_skew: max_clock_skew?,
        unready_after: unready_after?,
    }))
}

fn read_api(mut s: Section<'_>) -> Option<ApiConfig> {
    let id = s.string("id").unwrap_or("sockgate").to_owned();
    let domain_name = s
        .string("domain_name")
        .filter(|d| !d.is_empty())
        .map(str::to_owned);
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !ok {
        s.errors()
            .push(join(s.path(), "id"), "must be 1-64 letters, digits or -");
    }
    s.finish();
    ok.then_some(ApiConfig { id, domain_name })
}

fn read_websocket(mut s: Section<'_>) -> Option<WebSocketConfig> {
    let expr_text = s
        .string("route_selection_expression")
        .unwrap_or("$request.body.action");
    let selection = match routing::Template::parse(expr_text) {
        Ok(t) if t.vars().all(|v| matches!(v, Var::Body(_))) => Some(t),
        Ok(_) => {
            s.errors().push(
                join(s.path(), "route_selection_expression"),
                "may only use $request.body… variables",
            );
            None
        }
        Err(e) => {
            s.errors()
                .push(join(s.path(), "route_selection_expression"), e.to_string());
            None
        }
    };
    let idle_timeout = s
        .duration("idle_timeout", Duration::from_millis(100), WEEK, true)
        .unwrap_or(Some(Duration::from_secs(600)));
    let max_connection_duration = s
        .duration(
            "max_connection_duration",
            Duration::from_millis(100),
            WEEK * 52,
            true,
        )
        .unwrap_or(Some(Duration::from_secs(7200)));
    let max_message_bytes = s
        .bytes("max_message_bytes", 1, 64 << 20)
        .unwrap_or(128 << 10) as usize;
    let max_frame_bytes = s.bytes("max_frame_bytes", 1, 64 << 20).unwrap_or(32 << 10) as usize;
    if max_frame_bytes > max_message_bytes {
        s.errors().push(
            join(s.path(), "max_frame_bytes"),
            "must not exceed max_message_bytes",
        );
    }
    let binary_frames = match s.string("binary_frames").unwrap_or("reject") {
        "reject" => Some(BinaryPolicy::Reject),
        "base64" => Some(BinaryPolicy::Base64),
        other => {
            s.errors().push(
                join(s.path(), "binary_frames"),
                format!("{other:?} is not \"reject\" or \"base64\""),
            );
            None
        }
    };
    let ping_interval = s
        .duration(
            "ping_interval",
            Duration::from_millis(100),
            Duration::from_secs(3600),
            true,
        )
        .unwrap_or(Some(Duration::from_secs(30)));
    let pong_timeout = s
        .duration(
            "pong_timeout",
            Duration::from_millis(100),
            Duration::from_secs(3600),
            false,
        )
        .unwrap_or(Some(Duration::from_secs(30)));
    let send_queue_messages = s.int("send_queue_messages", 1, 1_000_000).unwrap_or(256) as usize;
    let send_queue_bytes = s
        .bytes("send_queue_bytes", 1024, 1 << 30)
        .unwrap_or(1 << 20) as usize;
    let max_inflight_per_connection = s
        .int("max_inflight_per_connection", 1, 10_000)
        .unwrap_or(16) as usize;
    let max_groups_per_connection =
        s.int("max_groups_per_connection", 1, 10_000).unwrap_or(100) as usize;
    // By default a reply may be as large as a message (an echo route's is).
    let max_reply_bytes = s
        .bytes("max_reply_bytes", 1 << 10, 64 << 20)
        .map_or(max_message_bytes, |b| b as usize);
    let slow_client_timeout = s
        .duration(
            "slow_client_timeout",
            Duration::from_millis(100),
            Duration::from_secs(3600),
            true,
        )
        .unwrap_or(Some(Duration::from_secs(30)));
    let close_timeout = s
        .duration(
            "close_timeout",
            Duration::from_millis(10),
            Duration::from_secs(60),
            false,
        )
        .unwrap_or(Some(Duration::from_secs(3)));
    s.finish();
    Some(WebSocketConfig {
        selection: selection?,
        idle_timeout,
        max_connection_duration,
        max_message_bytes,
        max_frame_bytes,
        binary_frames: binary_frames?,
        ping_interval,
        pong_timeout: pong_timeout?,
        send_queue_messages,
        send_queue_bytes,
        max_inflight_per_connection,
        max_reply_bytes,
        slow_client_timeout,
        max_groups_per_connection,
        close_timeout: close_timeout?,
    })
}

fn read_client(mut s: Section<'_>) -> Option<ClientConfig> {
    let max_inflight = s.int("max_inflight", 1, 1_000_000).unwrap_or(1024) as usize;
    let connect_timeout = s.duration(
        "connect_timeout",
        Duration::from_millis(10),
        Duration::from_secs(60),
        false,
    );
    let pool_idle_timeout = s.duration(
        "pool_idle_timeout",
        Duration::from_secs(1),
        Duration::from_secs(3600),
        false,
    );
    let pool_max_idle_per_host =
        s.int("pool_max_idle_per_host", 0, 100_000).unwrap_or(256) as usize;
    let max_response_bytes = s
        .bytes("max_response_bytes", 4 << 10, 6 << 20)
        .unwrap_or(1 << 20) as usize;
    s.finish();
    Some(ClientConfig {
        max_inflight,
        max_response_bytes,
        connect_timeout: connect_timeout.unwrap_or(Some(Duration::from_secs(5)))?,
        pool_idle_timeout: pool_idle_timeout.unwrap_or(Some(Duration::from_secs(90)))?,
        pool_max_idle_per_host,
    })
}

/// A route as written, before stage variables are applied to its URI.
struct RawRoute {
    key: String,
    path: String,
    integration: Option<RawIntegration>,
    route_response: bool,
}

enum RawIntegration {
    Http {
        proxy: bool,
        uri: routing::Template,
        timeout: Duration,
    },
    Mock(MockConfig),
}

fn read_routes(entries: Vec<(String, Section<'_>)>) -> Vec<RawRoute> {
    entries.into_iter().map(|(key, mut s)| {
        let path = s.path().to_owned();
        if !routing::is_valid_route_key(&key) {
            s.errors().push(path.clone(), "custom route keys must be non-empty and must not start with $ (reserved for $connect, $disconnect, $default)");
        }
        let route_response = s.bool("route_response").unwrap_or(false);
        if route_response && (key == routing::CONNECT || key == routing::DISCONNECT) {
            s.errors().push(join(&path, "route_response"), format!("{key} cannot send a reply to the client"));
        }
        let integration = read_integration(s.section("integration"));
        s.finish();
        RawRoute { key, path, integration, route_response }
    }).collect()
}

fn read_integration(mut s: Section<'_>) -> Option<RawIntegration> {
    let path = s.path().to_owned();
    let kind = s.string("type");
    let result = match kind {
        Some(t @ ("aws_proxy" | "http_proxy")) => {
            let uri = match s.string("uri") {
                Some(u) => match routing::Template::parse(u) {
                    Ok(t) if t.vars().all(|v| matches!(v, Var::StageVar(_))) => Some(t),
                    Ok(_) => {
                        s.errors()
                            .push(join(&path, "uri"), "may only use ${stageVariables.…}");
                        None
                    }
                    Err(e) => {
                        s.errors().push(join(&path, "uri"), e.to_string());
                        None
                    }
                },
                None => {
                    s.errors()
                        .push(join(&path, "uri"), "missing (an http:// URL)");
                    None
                }
            };
            let timeout = s
                .duration(
                    "timeout",
                    MIN_INTEGRATION_TIMEOUT,
                    MAX_INTEGRATION_TIMEOUT,
                    false,
                )
                .unwrap_or(Some(MAX_INTEGRATION_TIMEOUT));
            Some(RawIntegration::Http {
                proxy: t == "http_proxy",
                uri: uri?,
                timeout: timeout?,
            })
        }
        Some("mock") => {
            let status = s.int("status_code", 100, 599).unwrap_or(200) as u16;
            let body = s
                .string("body")
                .and_then(|b| match routing::Template::parse(b) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        s.errors().push(join(&path, "body"), e.to_string());
                        None
                    }
                });
            let headers = s.string_map("headers");
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
            Some(RawIntegration::Mock(MockConfig {
                status,
                body,
                headers,
            }))
        }
        Some(other) => {
            s.errors().push(
                join(&path, "type"),
                format!("{other:?} is not one of \"aws_proxy\", \"http_proxy\", \"mock\""),
            );
            None
        }
        None => {
            s.errors().push(
                join(&path, "type"),
                "missing (\"aws_proxy\", \"http_proxy\" or \"mock\")",
            );
            None
        }
    };
    if result.is_some() || matches!(kind, Some("aws_proxy" | "http_proxy" | "mock")) {
        s.finish();
    } else {
        // Without a known type there is no way to tell which keys are valid:
        // the type's own error is the one to report.
        s.abandon();
    }
    result
}

fn read_stages(
    entries: Vec<(String, Section<'_>)>,
    routes: &[RawRoute],
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
    let mut stages = Vec::new();
    let mut ok = true;
    for (name, mut s) in entries {
        let path = s.path().to_owned();
        if name.is_empty()
            || name.len() > 128
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            || name.starts_with('@')
        {
            errors.push(
                path.clone(),
                "stage names are 1-128 letters, digits, - or _",
            );
            ok = false;
        }
        let variables: BTreeMap<String, String> = s.string_map("variables").into_iter().collect();
        for (k, v) in &variables {
            if !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || k.len() > 64 {
                errors.push(
                    join(&join(&path, "variables"), k),
                    "variable names are up to 64 letters, digits or _",
                );
                ok = false;
            }
            if v.is_empty()
                || v.len() > 512
                || !v
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._~:/?#&=,".contains(c))
            {
                errors.push(
                    join(&join(&path, "variables"), k),
                    "values are 1-512 characters of A-Z a-z 0-9 - . _ ~ : / ? # & = ,",
                );
                ok = false;
            }
        }
        let authorizer = s.string("authorizer").map(str::to_owned);
        let mut api_keys = Vec::new();
        for (key_name, value) in s.string_map("api_keys") {
            let k = format!("api_keys.{key_name}");
            match secret(&s, &k, &value, env) {
                Some(v) if v.len() >= 20 => api_keys.push((key_name, v)),
                Some(_) => {
                    errors.push(join(&path, &k), "an API key has at least 20 characters");
                    ok = false;
                }
                None => ok = false,
            }
        }
        s.finish();
        let mut resolved = Vec::new();
        for route in routes {
            let Some(integration) = &route.integration else {
                ok = false;
                continue;
            };
            let integration = match integration {
                RawIntegration::Mock(m) => IntegrationConfig::Mock(m.clone()),
                RawIntegration::Http {
                    proxy,
                    uri,
                    timeout,
                } => {
                    let text = uri.render(&StageScope(&variables));
                    let where_ = format!("{}.integration.uri", route.path);
                    match resolve_uri(&text, uri, &variables) {
                        Ok(uri) => {
                            let target = HttpTarget {
                                uri,
                                timeout: *timeout,
                            };
                            if *proxy {
                                IntegrationConfig::HttpProxy(target)
                            } else {
                                IntegrationConfig::AwsProxy(target)
                            }
                        }
                        Err(why) => {
                            errors.push(where_, format!("in stage {name:?}: {why}"));
                            ok = false;
                            continue;
                        }
                    }
                }
            };
            resolved.push(RouteConfig {
                key: route.key.clone(),
                integration,
                route_response: route.route_response,
            });
        }
        stages.push(StageConfig {
            name,
            variables,
            routes: resolved,
            authorizer,
            api_keys,
        });
    }
    ok.then_some(stages)
}

fn resolve_uri(
    text: &str,
    template: &routing::Template,
    vars: &BTreeMap<String, String>,
) -> Result<http::Uri, String> {
    for var in template.vars() {
        if let Var::StageVar(name) = var
            && !vars.contains_key(name)
        {
            return Err(format!("stage variable {name:?} is not defined"));
        }
    }
    let uri: http::Uri = text.parse().map_err(|_| format!("{text:?} is not a URL"))?;
    match uri.scheme_str() {
        Some("http") if uri.host().is_some() => Ok(uri),
        Some("https") => Err(format!(
            "{text:?}: https backends are not supported yet; use http://"
        )),
        _ => Err(format!("{text:?} is not an http:// URL")),
    }
}

struct StageScope<'a>(&'a BTreeMap<String, String>);

impl Scope for StageScope<'_> {
    fn body_text(&self) -> Option<&str> {
        None
    }
    fn body_json(&self) -> Option<&serde_json::Value> {
        None
    }
    fn context(&self, _var: routing::ContextVar, _out: &mut String) {}
    fn stage_var(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}
