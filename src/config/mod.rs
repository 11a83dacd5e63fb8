//! The configuration as data, and loading it from TOML plus `SOCKGATE_*`
//! overrides.
//!
//! Other modules import only the types here. A value that exists in a
//! [`Config`] has been read and checked: addresses parse, durations and sizes
//! are in range, names are defined, secrets are present. Loading never falls
//! back to a default for a value it cannot read: it lists every error, with
//! its key path, and fails (see `reader`).
//!
//! `config` reads text and keeps it: routes are declared once with their
//! keys, integration URIs, mock bodies and mappings as written. What must be
//! compiled or loaded to be checked — route keys and the HTTP route trie,
//! each URI with each stage's variables, templates, mappings, JSON Schemas,
//! certificate files — is checked when the config is compiled
//! (`snapshot::check`, run by `sockgate check`, at start and at each reload)
//! and compiled again into each snapshot (`snapshot::compile`). So `config`
//! imports nothing from `routing`, `tls`, `throttle` or `validation`: their
//! config-side types (`TlsFiles`, `Limit`, `Quota`, `Param`) are defined here
//! and re-exported there.
//!
//! Defaults follow AWS wherever AWS has one (128 KiB messages, 32 KiB frames, 10 min
//! idle, 2 h duration, 29 s integration timeout). `config/sockgate.example.toml`
//! documents every key.

mod build;
mod cluster;
mod compression;
pub mod env;
mod functions;
mod http_api;
pub mod lambda;
pub mod net;
mod param_mapping;
mod reader;
mod routes;
pub mod security;
mod server;
mod throttle;
mod tls_files;
mod tracing;
mod validation;
mod websocket;

pub use compression::CompressionConfig;

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

pub use env::{EnvSource, ProcessEnv};
pub use functions::{FunctionConfig, Workers, hosts};
pub use http_api::{
    BODY_UNIT, CorsConfig, HttpConfig, HttpRouteAuth, HttpRouteConfig, ParamMapping, PayloadFormat,
};
pub use lambda::{AwsKeys, Credentials, LambdaConfig, LambdaFunction};
pub use reader::join as key_path;
pub use routes::DEFAULT_STAGE;
pub use security::{
    AdmissionConfig, AuthorizerConfig, IdentitySource, JwtConfig, RequestAuthorizerConfig,
};
pub use throttle::{Limit, Period, Quota, StageThrottle, ThrottleConfig, UsagePlan};
pub use tls_files::{ClientTlsFiles, TlsFiles};
pub use tracing::TracingConfig;
pub use validation::{HttpValidation, Param, WsValidation};

/// The demo config served when no `--config` is given.
pub const DEFAULT_CONFIG: &str = include_str!("../../config/sockgate.default.toml");

/// A whole, validated gateway configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Listeners and process-level limits.
    pub server: ServerConfig,
    /// What events say about the API.
    pub api: ApiConfig,
    /// Per-connection behaviour and limits.
    pub websocket: WebSocketConfig,
    /// The shared backend HTTP client.
    pub integrations: ClientConfig,
    /// The deployed stages; every stage serves every route.
    pub stages: Vec<StageConfig>,
    /// `[routes.*]`: the WebSocket routes, as written.
    pub routes: Vec<RouteConfig>,
    /// `[http]`: the HTTP API's limits.
    pub http: HttpConfig,
    /// `[http.routes.*]`: the HTTP routes, as written.
    pub http_routes: Vec<HttpRouteConfig>,
    /// Redis between nodes; `None` runs a single node with no dependencies.
    pub cluster: Option<ClusterConfig>,
    /// Trace sampling and span export.
    pub tracing: TracingConfig,
    /// Who may call the management API.
    pub management: ManagementAuth,
    /// Named authorizers stages may use on `$connect`.
    pub authorizers: BTreeMap<String, AuthorizerConfig>,
    /// `[throttle]`.
    pub throttle: ThrottleConfig,
    /// `[usage_plans.*]`.
    pub usage_plans: Vec<UsagePlan>,
    /// `[models.*]`: each model's JSON Schema (compiled with the snapshot).
    pub models: BTreeMap<String, serde_json::Value>,
    /// Checks on every upgrade before authorizers run.
    pub admission: AdmissionConfig,
    /// `[functions.*]`: Lambda functions this node hosts.
    pub functions: Vec<FunctionConfig>,
    /// The first 16 hex digits of the SHA-256 of the config text: which file a
    /// node runs (shown in metrics and `/readyz`, compared across nodes).
    pub digest: String,
}

/// `[management]`: who may call the management API (the checks are in
/// `auth::management`).
#[derive(Clone, Default, PartialEq)]
pub struct ManagementAuth {
    /// Keys accepted in SigV4 signatures.
    pub access_keys: Vec<AccessKey>,
    /// Accepted bearer tokens.
    pub bearer_tokens: Vec<String>,
    /// If set, the region a signature's scope must name.
    pub region: Option<String>,
    /// Largest accepted difference between `X-Amz-Date` and this node's clock.
    pub max_clock_skew_secs: u64,
    /// Serve the dashboard at `/@dashboard/` (and sample its figures).
    pub dashboard: bool,
}

impl ManagementAuth {
    /// Whether requests must authenticate at all.
    pub fn required(&self) -> bool {
        !self.access_keys.is_empty() || !self.bearer_tokens.is_empty()
    }
}

impl fmt::Debug for ManagementAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagementAuth")
            .field("access_keys", &self.access_keys)
            .field("bearer_tokens", &self.bearer_tokens.len())
            .field("region", &self.region)
            .finish()
    }
}

/// An access key the management API accepts in SigV4 signatures.
#[derive(Clone, PartialEq)]
pub struct AccessKey {
    /// `AKIA…`
    pub id: String,
    /// The secret (never logged).
    pub secret: String,
}

impl fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// `[cluster]`: several nodes sharing connections through Redis.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    /// Where Redis is (RESP3 is requested automatically).
    pub redis: RedisTarget,
    /// How often the node renews its liveness key and looks for lost nodes.
    pub heartbeat_interval: Duration,
    /// A node silent this long is lost: its connections are reported gone and
    /// their `$disconnect`s are delivered by a survivor.
    pub node_ttl: Duration,
    /// Bound on every cross-node call (a Redis command, or the owner's answer).
    pub request_timeout: Duration,
    /// Channels each group's traffic is spread over (for Redis Cluster shards).
    pub group_partitions: u32,
    /// `/readyz` fails while Redis (the fan-out path) is unreachable.
    pub readiness_requires_redis: bool,
    /// How far nodes' clocks may disagree: an owner acts on a cross-node request
    /// only while its deadline is more than this far ahead.
    pub max_clock_skew: Duration,
    /// With no self-probe back through Redis for this long, the node reports the
    /// cluster down (`/readyz` 503, cross-node calls fail fast).
    pub unready_after: Duration,
    /// For `rediss://`: a CA bundle to trust instead of the system's roots, and
    /// a client certificate and key (PEM files).
    pub tls: RedisTls,
}

/// TLS files for `rediss://` (`[cluster]`'s `ca_file`, `client_cert_file`,
/// `client_key_file`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedisTls {
    /// CA certificates trusted for Redis (instead of the system's roots).
    pub ca_file: Option<String>,
    /// Client certificate chain (mTLS).
    pub cert_file: Option<String>,
    /// Its private key.
    pub key_file: Option<String>,
}

/// The Redis a cluster of nodes talks through.
#[derive(Debug, Clone, PartialEq)]
pub enum RedisTarget {
    /// One server, `redis://host:port[/db]` (`redis_url`): classic pub/sub.
    Single(String),
    /// A Redis Cluster, by some of its nodes (`redis_cluster`, each
    /// `redis://host:port`; the rest are discovered): sharded pub/sub.
    Cluster(Vec<String>),
}

impl RedisTarget {
    /// The URLs, for logs (passwords redacted by the caller).
    pub fn urls(&self) -> &[String] {
        match self {
            RedisTarget::Single(url) => std::slice::from_ref(url),
            RedisTarget::Cluster(urls) => urls,
        }
    }
}

/// `[server]`
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Public WebSocket listener.
    pub listen: SocketAddr,
    /// The @connections management API listener.
    pub management_listen: SocketAddr,
    /// Prometheus metrics and health probes.
    pub metrics_listen: SocketAddr,
    /// This node's name in logs; `None`: a random one when the node starts.
    pub node_id: Option<String>,
    /// Open WebSocket connections this node accepts before answering 503.
    pub max_connections: usize,
    /// Time a client has to complete its HTTP upgrade request.
    pub handshake_timeout: Duration,
    /// Time a drain may take before the process exits anyway.
    pub shutdown_grace: Duration,
    /// Time a client has to send a request body once its headers are in.
    pub request_body_timeout: Duration,
    /// Time a public-listener client may accept no bytes of what the gateway
    /// is sending before its connection is closed (nginx's `send_timeout`);
    /// `None`: never.
    pub send_timeout: Option<Duration>,
    /// Public-listener connections not upgraded (yet): handshakes in progress.
    pub max_http_connections: usize,
    /// [`ServerConfig::max_http_connections`] from one source address.
    pub max_http_connections_per_ip: usize,
    /// Connections the management listener holds.
    pub management_max_connections: usize,
    /// [`ServerConfig::management_max_connections`] from one source address.
    pub management_max_connections_per_ip: usize,
    /// The proxies in front of the gateway whose `X-Forwarded-For` hops are
    /// believed (skipped from the right); empty: the TCP peer is the client.
    pub trusted_proxies: Vec<net::Cidr>,
    /// TLS on the public listener (`wss://`), when configured: the certificate
    /// and key files (checked when the config loads, read again on every reload).
    pub tls: Option<TlsFiles>,
    /// The CA that issued the public certificate, when it is not publicly
    /// trusted (`sockgate cert`'s): hosted functions' workers are given it,
    /// so their SDKs verify the listener they call back.
    pub tls_ca_file: Option<String>,
}

/// `[api]`
#[derive(Debug, Clone, PartialEq)]
pub struct ApiConfig {
    /// `requestContext.apiId`.
    pub id: String,
    /// `requestContext.domainName`; `None` uses each handshake's Host header.
    pub domain_name: Option<String>,
}

/// What to do with binary frames from clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryPolicy {
    /// Close with 1003, as AWS does.
    Reject,
    /// Route to `$default` with the payload base64-encoded and `isBase64Encoded: true`.
    Base64,
}

/// `[websocket]`
#[derive(Debug, Clone, PartialEq)]
pub struct WebSocketConfig {
    /// `route_selection_expression`, as written (compiled with the snapshot).
    pub selection: String,
    /// Close after this long without a data message in either direction.
    pub idle_timeout: Option<Duration>,
    /// Close after this long regardless of activity.
    pub max_connection_duration: Option<Duration>,
    /// Largest reassembled message (close 1009 beyond).
    pub max_message_bytes: usize,
    /// Largest single frame (close 1009 beyond).
    pub max_frame_bytes: usize,
    /// Binary frame policy.
    pub binary_frames: BinaryPolicy,
    /// Interval of server pings; `None` sends none.
    pub ping_interval: Option<Duration>,
    /// A peer silent this long after a ping is treated as dead.
    pub pong_timeout: Duration,
    /// Queued outbound messages per connection before @connections POST gets 429.
    pub send_queue_messages: usize,
    /// Queued outbound bytes per connection before @connections POST gets 429.
    pub send_queue_bytes: usize,
    /// Integration calls one connection may have in flight before reading pauses.
    pub max_inflight_per_connection: usize,
    /// Largest reply frame (a two-way route's answer); a larger one is replaced
    /// by AWS's `Internal server error` frame.
    pub max_reply_bytes: usize,
    /// How long a connection may keep more than `send_queue_bytes` unsent (its
    /// client not reading) before it is closed with 1008; `None` never closes it.
    pub slow_client_timeout: Option<Duration>,
    /// Time to wait for the client's close frame after the gateway sends its own.
    pub close_timeout: Duration,
    /// Groups one connection may be in (a join beyond gets 429).
    pub max_groups_per_connection: usize,
    /// One access log line per `$connect`, message and `$disconnect`.
    pub access_log: bool,
    /// The line's template (`telemetry::access_format`), as written;
    /// compiled when the snapshot is built.
    pub access_log_format: Option<String>,
    /// `[websocket.compression]`: every stage's permessage-deflate default.
    pub compression: CompressionConfig,
}

/// `[integrations]`: the shared, pooled backend client.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// Backend calls in flight across the node; more wait for a slot (within their timeout).
    pub max_inflight: usize,
    /// HTTP-route backend calls in flight from one source address (an IPv6
    /// /64); more get 429.
    pub max_inflight_per_ip: usize,
    /// HTTP-route backend calls in flight on one client connection; more get 429.
    pub max_inflight_per_http_connection: usize,
    /// TLS to `https://` backends, authorizers and key sets.
    pub tls: ClientTlsFiles,
    /// `[integrations.lambda]`: region, endpoint and credentials of Lambda calls.
    pub lambda: LambdaConfig,
    /// Largest backend response body read; a larger one fails the call.
    pub max_response_bytes: usize,
    /// TCP connect timeout to a backend.
    pub connect_timeout: Duration,
    /// How long an idle pooled backend connection is kept.
    pub pool_idle_timeout: Duration,
    /// Idle pooled connections kept per backend host.
    pub pool_max_idle_per_host: usize,
}

/// One stage: a name and its variables, serving every route.
#[derive(Debug, Clone, PartialEq)]
pub struct StageConfig {
    /// Stage name: the first path segment of the WebSocket URL.
    pub name: String,
    /// Stage variables.
    pub variables: BTreeMap<String, String>,
    /// The `[authorizers.*]` entry `$connect` must pass, if any.
    pub authorizer: Option<String>,
    /// API keys (name, key) of which `$connect` must present one; empty: none needed.
    pub api_keys: Vec<(String, String)>,
    /// A canary: a share of new connections served with other variables.
    pub canary: Option<CanaryConfig>,
    /// `[stages.NAME.throttle]`.
    pub throttle: StageThrottle,
    /// `[stages.NAME.compression]`, laid over `[websocket.compression]`.
    pub compression: CompressionConfig,
}

/// `[stages.NAME.canary]`: a share of the stage's new connections (each for its
/// whole life) is served with the canary's variables laid over the stage's.
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryConfig {
    /// Percent of new connections, 0 to 100.
    pub percent: f64,
    /// The stage's variables with the canary's laid over them.
    pub variables: BTreeMap<String, String>,
}

/// One WebSocket route (`[routes."KEY"]`), as written.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteConfig {
    /// `$connect`, `$disconnect`, `$default` or a custom key (checked
    /// when compiled).
    pub key: String,
    /// Where the route's events go.
    pub integration: IntegrationConfig,
    /// Two-way: the integration's reply is sent back to the client.
    pub route_response: bool,
    /// Its own limit (AWS's route settings), over the stage's default.
    pub throttle: Option<Limit>,
    /// Its models, if messages are validated.
    pub validation: Option<WsValidation>,
}

/// Where a route's events or requests go, as written: one model for
/// WebSocket and HTTP routes. URIs and the mock's body stay text here; the
/// snapshot fills in each stage's variables and compiles them
/// (`snapshot::compile`), so a URI that does not resolve is a config error
/// with its key there.
#[derive(Debug, Clone, PartialEq)]
pub enum IntegrationConfig {
    /// A Lambda proxy event, to an HTTP endpoint or a Lambda function; its
    /// answer read as a Lambda proxy response.
    AwsProxy {
        /// `uri` (a URL, a function ARN or invoke ARN) or `function` (a
        /// function's name), `${stageVariables.…}` not yet filled in.
        uri: String,
        /// It was given as `function`: a name, never a URL.
        function: bool,
        /// Per-call timeout (50 ms to 29 s; 30 s on HTTP routes).
        timeout: Duration,
        /// HTTP routes: the event's payload format (a WebSocket route's event
        /// has one shape).
        payload_format: PayloadFormat,
    },
    /// The message (WebSocket: POSTed with the connection's context in
    /// headers) or the request (HTTP) passed on to a URL.
    HttpProxy {
        /// The URL, `${stageVariables.…}` and (HTTP) `{param}`s not yet
        /// filled in.
        uri: String,
        /// Per-call timeout; HTTP: until the response headers arrive.
        timeout: Duration,
    },
    /// Answer from config.
    Mock(MockConfig),
}

/// A backend that reads an event (a Lambda proxy or authorizer event) and
/// answers with JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Backend {
    /// POSTed to this `http://` or `https://` URI.
    Http(http::Uri),
    /// Invoked through the Lambda Invoke API.
    Lambda(LambdaFunction),
    /// A function this node hosts (`[functions.NAME]`), by name.
    Hosted(String),
}

/// A mock integration's answer, as written.
#[derive(Debug, Clone, PartialEq)]
pub struct MockConfig {
    /// Status (decides accept/reject on `$connect`).
    pub status: u16,
    /// Reply body template (`$request.body…`, `$context.…`), compiled with
    /// the snapshot; `None` sends nothing.
    pub body: Option<String>,
    /// Response headers (e.g. `Sec-WebSocket-Protocol` on `$connect`).
    pub headers: Vec<(String, String)>,
}

/// One problem in a config, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// Key path, e.g. `routes."$connect".integration.timeout`.
    pub path: String,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.reason)
        } else {
            write!(f, "{}: {}", self.path, self.reason)
        }
    }
}

/// Every problem found in a config.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        writeln!(
            f,
            "{n} error{} in configuration:",
            if n == 1 { "" } else { "s" }
        )?;
        for e in &self.0 {
            writeln!(f, "  - {e}")?;
        }
        Ok(())
    }
}

// === impl Config ===

impl Config {
    /// Parses and validates TOML text, applying overrides from `env`.
    pub fn parse(text: &str, env: &dyn EnvSource) -> Result<Config, ConfigErrors> {
        let mut table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            let reason = e.message().to_owned();
            let path = e
                .span()
                .map(|s| {
                    let line = text[..s.start.min(text.len())].lines().count().max(1);
                    format!("line {line}")
                })
                .unwrap_or_default();
            ConfigErrors(vec![ConfigError {
                path,
                reason: format!("invalid TOML: {reason}"),
            }])
        })?;
        let errors = reader::Errors::default();
        let origins = env::apply(&mut table, env, &errors);
        let config = build::build(&table, &errors, env);
        let mut list = errors.into_vec();
        if list.is_empty()
            && let Some(mut config) = config
        {
            config.digest = digest(text);
            return Ok(config);
        }
        env::annotate(&mut list, &origins);
        if list.is_empty() {
            list.push(ConfigError {
                path: String::new(),
                reason: "configuration is incomplete".into(),
            });
        }
        Err(ConfigErrors(list))
    }

    /// Reads a file and parses it.
    pub fn load_file(path: &Path, env: &dyn EnvSource) -> Result<Config, ConfigErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigError {
                path: path.display().to_string(),
                reason: format!("cannot read: {e}"),
            }])
        })?;
        Config::parse(&text, env)
    }

    /// The embedded demo config.
    pub fn demo(env: &dyn EnvSource) -> Result<Config, ConfigErrors> {
        Config::parse(DEFAULT_CONFIG, env)
    }

    /// Whether upgrades are WebSocket connections: not when the config
    /// declares HTTP routes and no WebSocket route (an HTTP API), whose
    /// upgrade requests are answered as the HTTP requests they also are.
    pub fn serves_websockets(&self) -> bool {
        !self.routes.is_empty() || self.http_routes.is_empty()
    }

    /// The URLs a client uses, for the start line: the first stage's
    /// WebSocket endpoint (when served) and HTTP base (when there are HTTP
    /// routes), on `public` (the `$default` stage is at the root).
    pub fn endpoints(&self, public: std::net::SocketAddr) -> Vec<String> {
        let tls = self.server.tls.is_some();
        let path = match self.stages.first().map(|s| s.name.as_str()) {
            Some(DEFAULT_STAGE) | None => "",
            Some(name) => name,
        };
        let mut urls = Vec::new();
        if self.serves_websockets() {
            let scheme = if tls { "wss" } else { "ws" };
            urls.push(format!("{scheme}://{public}/{path}"));
        }
        if !self.http_routes.is_empty() {
            let scheme = if tls { "https" } else { "http" };
            let slash = if path.is_empty() { "" } else { "/" };
            urls.push(format!("{scheme}://{public}/{path}{slash}"));
        }
        urls
    }
}

/// The first 16 hex digits of the SHA-256 of `text`.
fn digest(text: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_policy;
