//! The reloadable part of the configuration, resolved and ready to serve: one
//! immutable [`Snapshot`] per config generation.
//!
//! Everything a config file decides that can change without a restart — stages
//! and their variables, routes and integrations, authorizers, API keys,
//! admission rules, per-message limits, management credentials, the backend
//! client — is built into a snapshot when the config loads or reloads. The
//! gateway keeps the current one behind an atomic pointer (`arc-swap`): the hot
//! path loads it once per event, with no lock and no allocation, and whoever
//! still holds an older one (a call in flight, a session until its next event)
//! keeps using it until it lets go.
//!
//! What survives a reload unchanged is reused, not rebuilt: an authorizer whose
//! settings did not change keeps its instance (and with it its decision and
//! JWKS key caches), and an unchanged `[integrations]` keeps its pooled client.
//! Metric handles for new stages and routes are registered when the snapshot is
//! built, so serving never registers anything.

pub mod check;
pub mod compile;
pub mod stage;

use crate::telemetry::access_format::AccessFormat;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use fnv::FnvBuildHasher;

use crate::auth::Authorizer;
use crate::config::{
    AdmissionConfig, ApiConfig, AuthorizerConfig, ClientConfig, Config, DEFAULT_STAGE, HttpConfig,
    ManagementAuth, WebSocketConfig,
};
use crate::functions::Functions;
use crate::integration::HttpClient;
use crate::telemetry::{HTTP_NONE, HttpRouteMetrics, Metrics};
use crate::validation::Model;
pub use check::{check, parse};
pub use stage::{HttpRoute, Route, RouteModels, Shared, Side, Stage};

/// A stage as served: its base, and its canary with the canary's share.
#[derive(Debug)]
struct Served {
    base: Arc<Stage>,
    canary: Option<(f64, Arc<Stage>)>,
}

/// One generation of the reloadable configuration.
#[derive(Debug)]
pub struct Snapshot {
    /// 1 for the config the node started with, +1 per applied reload.
    pub generation: u64,
    /// The config file's digest (see `Config::digest`).
    pub digest: String,
    /// The whole validated config this generation was built from (a reload
    /// compares it with the next one to report what needs a restart).
    pub config: Arc<Config>,
    /// `[api]`.
    pub api: ApiConfig,
    /// `[websocket]`.
    pub ws: WebSocketConfig,
    /// `[http]`: the HTTP API's limits.
    pub http: HttpConfig,
    /// The access lines' templates, compiled (`[http]` and `[websocket]`
    /// `access_log_format`; checked by `snapshot::check`).
    pub http_access_format: Option<AccessFormat>,
    /// See `http_access_format`.
    pub ws_access_format: Option<AccessFormat>,
    /// Metric handles for HTTP requests that reach no stage (and preflights,
    /// answered before any stage or route is looked at).
    pub http_no_stage: HttpRouteMetrics,
    /// `[throttle]`: the node's limit (AWS's account level).
    pub account_limit: Option<crate::throttle::Gcra>,
    /// `[throttle] on_redis_down = "open"`.
    pub throttle_fail_open: bool,
    /// Usage plans, by API key name.
    pub plans: HashMap<String, Arc<crate::throttle::Plan>>,
    /// `[admission]`.
    pub admission: AdmissionConfig,
    /// `[management]`: who may call the management API.
    pub management: ManagementAuth,
    /// Who may call `@connections` on the public listener: `[management]`'s
    /// access keys (SigV4 only); `None` without keys (not served there).
    pub callbacks: Option<ManagementAuth>,
    /// Time a client has to send a request head.
    pub handshake_timeout: Duration,
    /// Time a client has to send a request body (management API).
    pub body_timeout: Duration,
    /// Time a public-listener write may stall (`server.send_timeout`).
    pub send_timeout: Option<Duration>,
    /// `server.trusted_proxies`: whose X-Forwarded-For hops are believed.
    pub trusted_proxies: Vec<crate::config::net::Cidr>,
    /// The backend client (shared with the previous generation when unchanged).
    pub client: Arc<HttpClient>,
    client_config: ClientConfig,
    /// FNV, not SipHash: looked up twice per HTTP request, by names the
    /// config chose (a client cannot add colliding ones).
    stages: HashMap<String, Served, FnvBuildHasher>,
    authorizers: HashMap<String, (AuthorizerConfig, Arc<Authorizer>)>,
}

impl Snapshot {
    /// Builds generation `generation` from a validated config, reusing what
    /// `previous` already has for unchanged authorizers and client settings.
    /// `management_base` is `http://host:port` of the management listener;
    /// `functions` are the ones the node hosts.
    pub fn build(
        config: &Config,
        previous: Option<&Snapshot>,
        generation: u64,
        metrics: &Metrics,
        management_base: &str,
        functions: &Arc<Functions>,
    ) -> Snapshot {
        let authorizers = authorizers(config, previous);
        // Each model compiled once per generation (`check` has seen them all
        // compile: one that does not is left out, and a route naming it
        // validates nothing).
        let models: BTreeMap<String, Model> = config
            .models
            .iter()
            .filter_map(|(name, schema)| {
                Some((name.clone(), Model::compile_value(name, schema).ok()?))
            })
            .collect();
        let instances: HashMap<String, Arc<Authorizer>> = authorizers
            .iter()
            .map(|(name, (_, a))| (name.clone(), Arc::clone(a)))
            .collect();
        let shared = Shared {
            metrics,
            management_base,
            authorizers: &instances,
            models: &models,
        };
        let stages = config
            .stages
            .iter()
            .map(|s| {
                let side = |side| Arc::new(Stage::new(s, side, config, &shared));
                let has_canary = s.canary.is_some();
                let served = Served {
                    base: side(Side::Base { has_canary }),
                    canary: s.canary.as_ref().map(|c| (c.percent, side(Side::Canary))),
                };
                (s.name.clone(), served)
            })
            .collect();
        // An unchanged `[integrations]` keeps its pool and its connections,
        // unless it names TLS files: those are read again at every reload
        // (a CA or client certificate rotated in place takes effect), which
        // takes a new client and so new connections.
        let tls = &config.integrations.tls;
        let names_files = tls.ca_file.is_some() || tls.cert_file.is_some();
        let client = match previous {
            Some(p) if p.client_config == config.integrations && !names_files => {
                Arc::clone(&p.client)
            }
            _ => Arc::new(HttpClient::new(&config.integrations, Arc::clone(functions))),
        };
        Snapshot {
            generation,
            digest: config.digest.clone(),
            config: Arc::new(config.clone()),
            api: config.api.clone(),
            ws: config.websocket.clone(),
            http: config.http.clone(),
            http_access_format: compile_format(&config.http.access_log_format),
            ws_access_format: compile_format(&config.websocket.access_log_format),
            http_no_stage: metrics.http_route(HTTP_NONE, HTTP_NONE),
            account_limit: config.throttle.account.map(crate::throttle::Gcra::new),
            throttle_fail_open: config.throttle.fail_open,
            plans: plans(config),
            admission: config.admission.clone(),
            management: config.management.clone(),
            callbacks: callbacks(&config.management),
            handshake_timeout: config.server.handshake_timeout,
            body_timeout: config.server.request_body_timeout,
            send_timeout: config.server.send_timeout,
            trusted_proxies: config.server.trusted_proxies.clone(),
            client,
            client_config: config.integrations.clone(),
            stages,
            authorizers,
        }
    }

    /// A served stage, by name (its base side).
    pub fn stage(&self, name: &str) -> Option<&Arc<Stage>> {
        self.stages.get(name).map(|s| &s.base)
    }

    /// The side of a stage that serves a connection: the canary for a canary
    /// connection while the stage has one (after a rollback, the base).
    pub fn stage_for(&self, name: &str, canary: bool) -> Option<&Arc<Stage>> {
        let served = self.stages.get(name)?;
        match &served.canary {
            Some((_, side)) if canary => Some(side),
            _ => Some(&served.base),
        }
    }

    /// Picks the side for a new connection: the canary with its share's
    /// probability. Returns the side and whether it is the canary.
    pub fn assign(&self, name: &str) -> Option<(&Arc<Stage>, bool)> {
        let served = self.stages.get(name)?;
        match &served.canary {
            Some((percent, side)) if rand::random::<f64>() * 100.0 < *percent => Some((side, true)),
            _ => Some((&served.base, false)),
        }
    }

    /// What one client may hold of the backend slots (`[integrations]`).
    pub fn share_limits(&self) -> crate::integration::share::ShareLimits {
        crate::integration::share::ShareLimits {
            per_ip: self.client_config.max_inflight_per_ip,
            per_connection: self.client_config.max_inflight_per_http_connection,
        }
    }

    /// The stage a plain HTTP request goes to, and the path its routes see:
    /// a named stage in the first segment (`/prod/pets` → `prod`, `/pets`),
    /// else the `$default` stage with the whole path. `None`: AWS's 404.
    pub fn http_stage<'p>(&self, path: &'p str) -> Option<(&str, &'p str)> {
        let rest = path.strip_prefix('/')?;
        let (first, tail) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if first != DEFAULT_STAGE
            && let Some((name, _)) = self.stages.get_key_value(first)
        {
            return Some((name.as_str(), tail));
        }
        let (name, _) = self.stages.get_key_value(DEFAULT_STAGE)?;
        Some((name.as_str(), path))
    }

    /// The stage a WebSocket upgrade's path names: `/prod` is `prod`, `/` the
    /// `$default` stage (as for HTTP requests). `/$default` is no URL of it:
    /// `$default` is a stage's name in config, not a path (`""`: no stage).
    pub fn ws_stage(path: &str) -> &str {
        match path.trim_matches('/') {
            "" => DEFAULT_STAGE,
            DEFAULT_STAGE => "",
            name => name,
        }
    }

    /// Whether upgrades are WebSocket connections ([`Config::serves_websockets`]).
    pub fn serves_websockets(&self) -> bool {
        self.config.serves_websockets()
    }

    /// The names of the served stages.
    pub fn stage_names(&self) -> Vec<String> {
        self.stages.keys().cloned().collect()
    }
}

/// One instance per authorizer, shared by the stages that use it; an unchanged
/// one is taken over from `previous` with its caches.
fn authorizers(
    config: &Config,
    previous: Option<&Snapshot>,
) -> HashMap<String, (AuthorizerConfig, Arc<Authorizer>)> {
    config
        .authorizers
        .iter()
        .map(|(name, cfg)| {
            let kept = previous
                .and_then(|p| p.authorizers.get(name))
                .filter(|(old, _)| old == cfg)
                .map(|(_, a)| Arc::clone(a));
            let instance = kept.unwrap_or_else(|| Arc::new(Authorizer::new(cfg)));
            (name.clone(), (cfg.clone(), instance))
        })
        .collect()
}

/// An access line's template (checked already: one that does not compile
/// is left out, and the line keeps its fields).
fn compile_format(template: &Option<String>) -> Option<AccessFormat> {
    template
        .as_deref()
        .and_then(|t| AccessFormat::parse(t).ok())
}

/// `[management]` without its bearer tokens, when it has access keys.
fn callbacks(m: &ManagementAuth) -> Option<ManagementAuth> {
    (!m.access_keys.is_empty()).then(|| ManagementAuth {
        bearer_tokens: Vec::new(),
        ..m.clone()
    })
}

/// Usage plans by the API keys they cover.
fn plans(config: &Config) -> HashMap<String, Arc<crate::throttle::Plan>> {
    let mut out = HashMap::new();
    for p in &config.usage_plans {
        let plan = Arc::new(crate::throttle::Plan {
            name: p.name.clone(),
            gcra: p.throttle.map(|mut l| {
                l.cluster |= p.cluster;
                crate::throttle::Gcra::new(l)
            }),
            quota: p.quota,
            cluster: p.cluster,
        });
        for key in &p.keys {
            out.insert(key.clone(), Arc::clone(&plan));
        }
    }
    out
}
