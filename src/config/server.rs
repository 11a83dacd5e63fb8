//! `[server]`, `[api]`, `[integrations]` and `[management]`: the process, its
//! listeners and their bounds, what events say about the API, the backend
//! client, and who may call the management API.

use std::net::SocketAddr;
use std::time::Duration;

use super::env::EnvSource;
use super::net::Cidr;
use super::reader::{Section, join};
use super::{AccessKey, ApiConfig, ClientConfig, ManagementAuth, ServerConfig};
use super::{ClientTlsFiles, TlsFiles};

const HOUR: Duration = Duration::from_secs(3600);
/// Connection-count bounds share one range.
const MAX_COUNT: i64 = 10_000_000;

fn addr(s: &mut Section<'_>, key: &str, default: &str) -> Option<SocketAddr> {
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

fn count(s: &mut Section<'_>, key: &str, default: usize) -> usize {
    s.int(key, 1, MAX_COUNT).map_or(default, |n| n as usize)
}

pub(super) fn read_server(mut s: Section<'_>) -> Option<ServerConfig> {
    let listen = addr(&mut s, "listen", "127.0.0.1:8080");
    let management_listen = addr(&mut s, "management_listen", "127.0.0.1:8081");
    let metrics_listen = addr(&mut s, "metrics_listen", "127.0.0.1:9090");
    let node_id = read_node_id(&mut s);
    let tls = read_tls(&mut s);
    let tls_ca_file = s.string("tls_ca_file").map(str::to_owned);
    if tls_ca_file.is_some() && matches!(tls, Some(None)) {
        s.error(
            "tls_ca_file",
            "the CA of tls_cert_file: needs tls_cert_file and tls_key_file",
        );
    }
    let ms = Duration::from_millis;
    let max_connections = count(&mut s, "max_connections", 10_000);
    let handshake_timeout = s.duration_or("handshake_timeout", ms(100), HOUR / 12, ms(10_000));
    let shutdown_grace = s.duration_or("shutdown_grace", Duration::ZERO, HOUR, ms(30_000));
    let request_body_timeout =
        s.duration_or("request_body_timeout", ms(100), HOUR / 12, ms(10_000));
    // nginx's default; long enough for any client that is reading at all.
    let send_timeout = s.limit_or("send_timeout", ms(100), HOUR, Some(ms(60_000)));
    let max_http_connections = count(&mut s, "max_http_connections", 4096);
    let max_http_connections_per_ip = count(&mut s, "max_http_connections_per_ip", 256);
    let management_max_connections = count(&mut s, "management_max_connections", 1024);
    let management_max_connections_per_ip = count(&mut s, "management_max_connections_per_ip", 256);
    let trusted_proxies = read_trusted_proxies(&mut s);
    s.finish();
    Some(ServerConfig {
        listen: listen?,
        management_listen: management_listen?,
        metrics_listen: metrics_listen?,
        node_id: node_id?,
        max_connections,
        handshake_timeout,
        shutdown_grace,
        request_body_timeout,
        send_timeout,
        max_http_connections,
        max_http_connections_per_ip,
        management_max_connections,
        management_max_connections_per_ip,
        trusted_proxies,
        tls: tls?,
        tls_ca_file,
    })
}

/// `trusted_proxies`: addresses or CIDRs. The old `trust_forwarded_for`
/// believed the leftmost `X-Forwarded-For` address, which any client writes;
/// it is refused with what to write instead.
fn read_trusted_proxies(s: &mut Section<'_>) -> Vec<Cidr> {
    if s.has("trust_forwarded_for") {
        let _ = s.bool("trust_forwarded_for");
        s.error(
            "trust_forwarded_for",
            "was removed: it believed the leftmost X-Forwarded-For address, which any client \
             can write. List the proxies in front of sockgate instead, e.g. \
             trusted_proxies = [\"10.0.0.0/8\"]: their hops are skipped from the right of \
             X-Forwarded-For, and the first address that is not one of them is the client",
        );
    }
    let mut out = Vec::new();
    for text in s.string_list("trusted_proxies") {
        match Cidr::parse(&text) {
            Some(c) => out.push(c),
            None => s.error(
                "trusted_proxies",
                format!("{text:?} is not an address or a CIDR (e.g. \"10.0.0.0/8\", \"::1\")"),
            ),
        }
    }
    out
}

/// `node_id`, if set (`None` inside: the node picks a random one when it starts).
fn read_node_id(s: &mut Section<'_>) -> Option<Option<String>> {
    let Some(id) = s.string("node_id") else {
        return Some(None);
    };
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        s.errors().push(
            join(s.path(), "node_id"),
            format!("{id:?} must be 1-64 letters, digits, - or _"),
        );
        return None;
    }
    Some(Some(id.to_owned()))
}

/// The certificate files (`Some(None)`: plain ws://); they are loaded, and
/// so checked, when the config is compiled.
fn read_tls(s: &mut Section<'_>) -> Option<Option<TlsFiles>> {
    match (s.string("tls_cert_file"), s.string("tls_key_file")) {
        (None, None) => Some(None),
        (Some(cert), Some(key)) => Some(Some(TlsFiles {
            cert_file: cert.to_owned(),
            key_file: key.to_owned(),
        })),
        _ => {
            s.errors().push(
                join(s.path(), "tls_cert_file"),
                "tls_cert_file and tls_key_file go together",
            );
            None
        }
    }
}

pub(super) fn read_api(mut s: Section<'_>) -> Option<ApiConfig> {
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

pub(super) fn read_client(mut s: Section<'_>, env: &dyn EnvSource) -> Option<ClientConfig> {
    let ms = Duration::from_millis;
    let max_inflight = s.int("max_inflight", 1, 1_000_000).unwrap_or(1024) as usize;
    // An eighth per address: eight addresses are needed to fill the node,
    // while a NAT of busy users still gets 128 calls at once (of the 1,024).
    let per_ip = s.int("max_inflight_per_ip", 1, 1_000_000);
    // A sixteenth per connection (64 of 1,024): HTTP/2 multiplexes a
    // browser tab's requests onto one connection, and 64 slow backend calls
    // at once is more than a page makes; sixteen connections are needed to
    // fill the node.
    let per_connection = s.int("max_inflight_per_http_connection", 1, 1_000_000);
    let tls = read_client_tls(s.section("tls"));
    let lambda = super::lambda::read_lambda(s.section("lambda"), env);
    let client = ClientConfig {
        tls,
        lambda,
        max_inflight,
        max_inflight_per_ip: per_ip.map_or((max_inflight / 8).max(1), |n| n as usize),
        max_inflight_per_http_connection: per_connection
            .map_or((max_inflight / 16).max(1), |n| n as usize),
        max_response_bytes: s
            .bytes("max_response_bytes", 4 << 10, 6 << 20)
            .unwrap_or(1 << 20) as usize,
        connect_timeout: s.duration_or("connect_timeout", ms(10), ms(60_000), ms(5_000)),
        pool_idle_timeout: s.duration_or("pool_idle_timeout", ms(1_000), HOUR, ms(90_000)),
        pool_max_idle_per_host: s.int("pool_max_idle_per_host", 0, 100_000).unwrap_or(256) as usize,
    };
    s.finish();
    Some(client)
}

/// `[integrations.tls]`: roots and client certificate for `https://`
/// backends. The files are loaded when the config is compiled, so a bad one
/// is a config error, not a failed call later.
fn read_client_tls(mut s: Section<'_>) -> ClientTlsFiles {
    let defaults = ClientTlsFiles::default();
    let files = ClientTlsFiles {
        ca_file: s.string("ca_file").map(str::to_owned),
        system_roots: s.bool("system_roots").unwrap_or(defaults.system_roots),
        cert_file: s.string("client_cert_file").map(str::to_owned),
        key_file: s.string("client_key_file").map(str::to_owned),
        verify: s.bool("verify").unwrap_or(defaults.verify),
    };
    s.finish();
    files
}

/// `[management]`: who may call the management API. `listen` is the management
/// listener's address: on one reachable from other hosts, credentials are required.
pub(super) fn read_management(
    mut s: Section<'_>,
    env: &dyn EnvSource,
    listen: Option<SocketAddr>,
) -> Option<ManagementAuth> {
    let errors = s.errors();
    let access_keys = read_access_keys(&mut s, env);
    let bearer_tokens = read_bearer_tokens(&mut s, env);
    let skew = s.duration_or("max_clock_skew", Duration::from_secs(1), HOUR, HOUR / 12);
    let region = s.string("region").map(str::to_owned);
    let allow_unauthenticated = s.bool("allow_unauthenticated").unwrap_or(false);
    let dashboard = s.bool("dashboard").unwrap_or(true);
    s.finish();
    let auth = ManagementAuth {
        access_keys: access_keys?,
        bearer_tokens: bearer_tokens?,
        region,
        max_clock_skew_secs: skew.as_secs(),
        dashboard,
    };
    let exposed = listen.filter(|a| !a.ip().is_loopback());
    if let Some(addr) = exposed
        && !auth.required()
        && !allow_unauthenticated
    {
        errors.push(
            "management.access_keys",
            format!(
                "server.management_listen {addr} is reachable from other hosts: configure access_keys or bearer_tokens, or set management.allow_unauthenticated = true"
            ),
        );
        return None;
    }
    Some(auth)
}

fn read_access_keys(s: &mut Section<'_>, env: &dyn EnvSource) -> Option<Vec<AccessKey>> {
    let mut keys = Vec::new();
    let mut ok = true;
    for (id, value) in s.string_map("access_keys") {
        let key = format!("access_keys.{id}");
        let valid_id =
            (1..=128).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric());
        let secret = if valid_id {
            super::env::secret(s, &key, &value, env)
        } else {
            s.errors().push(
                join(s.path(), &key),
                "an access key id is 1-128 letters and digits",
            );
            None
        };
        match secret {
            Some(secret) if !secret.is_empty() => keys.push(AccessKey { id, secret }),
            Some(_) => {
                s.errors()
                    .push(join(s.path(), &key), "a secret access key cannot be empty");
                ok = false;
            }
            None => ok = false,
        }
    }
    ok.then_some(keys)
}

fn read_bearer_tokens(s: &mut Section<'_>, env: &dyn EnvSource) -> Option<Vec<String>> {
    let mut tokens = Vec::new();
    let mut ok = true;
    for (name, value) in s.string_map("bearer_tokens") {
        let key = format!("bearer_tokens.{name}");
        match super::env::secret(s, &key, &value, env) {
            Some(token) if token.len() >= 32 && token.bytes().all(|b| b.is_ascii_graphic()) => {
                tokens.push(token);
            }
            Some(_) => {
                s.errors().push(
                    join(s.path(), &key),
                    "a bearer token has at least 32 printable characters (e.g. `openssl rand -hex 32`)",
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    ok.then_some(tokens)
}
