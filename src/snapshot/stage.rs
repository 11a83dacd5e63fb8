//! A deployed stage and its routes, resolved from the config with the stage's
//! variables: what a connection's events are routed by.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::compile::{self, Api};
use crate::auth::Authorizer;
use crate::config::{Config, StageConfig};
use crate::integration::Integration;
use crate::routing::mapping::RouteMapping;
use crate::routing::{self, RouteTable, http::HttpRouter};
use crate::telemetry::{
    HTTP_NONE, HttpRouteMetrics, LogLimit, Metrics, RouteMetrics, StageMetrics,
};
use crate::throttle::{Bucket, ClientLimits, Gcra, Limit, RouteBucket};
use crate::validation::Model;

/// A deployed stage: its routes resolved with its variables.
#[derive(Debug)]
pub struct Stage {
    /// Stage name.
    pub name: Arc<str>,
    /// Stage variables.
    pub variables: BTreeMap<String, String>,
    /// `$connect`, if configured.
    pub connect: Option<Arc<Route>>,
    /// `$disconnect`, if configured.
    pub disconnect: Option<Arc<Route>>,
    /// Custom routes and `$default`.
    pub table: RouteTable<Arc<Route>>,
    /// The HTTP API's routes.
    pub http: HttpRouter<HttpRoute>,
    /// Metric handles for HTTP requests that match no route of the stage.
    pub http_unmatched: HttpRouteMetrics,
    /// Its per-client limits (`[stages.NAME.throttle]`).
    pub limits: ClientLimits,
    /// Whether messages must be parsed as JSON (selection or a template needs it).
    pub parse_json: bool,
    /// Stage metric handles.
    pub metrics: StageMetrics,
    /// `http://host:port/stage` for backends.
    pub management_endpoint: String,
    /// What `$connect` must pass, if anything.
    pub authorizer: Option<Arc<Authorizer>>,
    /// API keys (name, key), one of which `$connect` must present; empty: none.
    pub api_keys: Vec<(String, String)>,
    /// With a canary on the stage: whether this is its canary side (`Some(true)`)
    /// or its base (`Some(false)`); `None` without a canary. Events carry it as
    /// `requestContext.isCanaryRequest`.
    pub canary: Option<bool>,
    /// permessage-deflate, when the stage turns it on.
    pub compression: Option<crate::ws::DeflateSettings>,
}

/// Which side of a stage to build: its base, or its canary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The stage as configured (`has_canary`: whether it has a canary too).
    Base {
        /// The stage has a canary.
        has_canary: bool,
    },
    /// The canary: the stage with the canary's variables and routes.
    Canary,
}

/// One route of one stage.
#[derive(Debug)]
pub struct Route {
    /// The route key.
    pub key: Arc<str>,
    /// Where its events go.
    pub integration: Integration,
    /// Send the integration's reply back to the client.
    pub two_way: bool,
    /// Its bucket, if the route or its stage has a limit.
    pub throttle: Option<RouteBucket>,
    /// Its models, if its messages are validated.
    pub models: Option<RouteModels>,
    /// Route metric handles.
    pub metrics: RouteMetrics,
    /// Its failed calls' WARN lines: bounded per route, so one dead backend
    /// neither floods the log nor hides another route's failures.
    pub failures: LogLimit,
}

/// A WebSocket route's models, resolved.
#[derive(Debug)]
pub struct RouteModels {
    /// Picks the model key (`None`: `$default`).
    pub selection: Option<crate::routing::Template>,
    /// Model key → model.
    pub models: Vec<(String, Model)>,
    /// Failures go to the client too.
    pub detailed: bool,
}

impl RouteModels {
    /// Resolves a route's model names (checked when the config loaded).
    fn new(v: &crate::config::WsValidation, models: &BTreeMap<String, Model>) -> RouteModels {
        RouteModels {
            selection: v
                .selection
                .as_deref()
                .and_then(|t| routing::Template::parse(t).ok()),
            models: v
                .models
                .iter()
                .filter_map(|(k, m)| Some((k.clone(), models.get(m)?.clone())))
                .collect(),
            detailed: v.detailed,
        }
    }

    /// The model for a key, else the `$default` one.
    pub fn pick(&self, key: &str) -> Option<&Model> {
        let find = |k: &str| self.models.iter().find(|(mk, _)| mk == k).map(|(_, m)| m);
        find(key).or_else(|| find(routing::DEFAULT))
    }
}

/// One HTTP route of one stage.
#[derive(Debug)]
pub struct HttpRoute {
    /// Where its requests go.
    pub integration: Integration,
    /// The name of the route's greedy parameter, if any (its value keeps its
    /// slashes in an `http_proxy` URI).
    pub greedy: Option<String>,
    /// Whether this is the `$default` route (`http_proxy` appends the path).
    pub is_default: bool,
    /// The authorizer its requests must pass, if any.
    pub authorizer: Option<Arc<Authorizer>>,
    /// With a JWT authorizer: at least one of these scopes is needed.
    pub scopes: Vec<String>,
    /// An API key of the stage must be presented (`x-api-key`).
    pub api_key_required: bool,
    /// Its parameter mapping.
    pub mapping: RouteMapping,
    /// Its bucket, if the route or its stage has a limit.
    pub throttle: Option<RouteBucket>,
    /// Its body's model.
    pub model: Option<Model>,
    /// Parameters that must be present and non-blank.
    pub required: Vec<crate::validation::Param>,
    /// Validation failures go to the client too.
    pub detailed_errors: bool,
    /// Metric handles (labelled by route key, never by path).
    pub metrics: HttpRouteMetrics,
    /// Its failed calls' WARN lines, bounded per route (as [`Route`]'s).
    pub failures: LogLimit,
}

// === impl Stage ===

impl Stage {
    /// Builds one side of a stage: every route of `config` compiled with the
    /// side's variables (a route `check` refuses is left out). The canary's
    /// metrics are labelled `stage="NAME/Canary"`, so the two sides can be
    /// compared.
    pub fn new(cfg: &StageConfig, side: Side, config: &Config, shared: &Shared<'_>) -> Stage {
        let (variables, label, canary) = match (side, &cfg.canary) {
            (Side::Canary, Some(c)) => (&c.variables, format!("{}/Canary", cfg.name), Some(true)),
            (Side::Base { has_canary }, _) => (
                &cfg.variables,
                cfg.name.clone(),
                has_canary.then_some(false),
            ),
            (Side::Canary, None) => (&cfg.variables, cfg.name.clone(), None),
        };
        let b = Builder {
            cfg,
            config,
            variables,
            label: &label,
            shared,
        };
        let http = config
            .http_routes
            .iter()
            .filter_map(|r| Some((r.key.clone(), b.http_route(r)?)));
        let http = HttpRouter::new(http).unwrap_or_default();
        let mut custom = HashMap::new();
        let (mut connect, mut disconnect, mut default) = (None, None, None);
        let mut template_json = false;
        for r in &config.routes {
            let Some(route) = b.ws_route(r) else {
                continue;
            };
            template_json |= route.integration.needs_json();
            let route = Arc::new(route);
            match r.key.as_str() {
                routing::CONNECT => connect = Some(route),
                routing::DISCONNECT => disconnect = Some(route),
                routing::DEFAULT => default = Some(route),
                key => {
                    custom.insert(key.to_owned(), route);
                }
            }
        }
        // `check` has compiled it; a config that skipped `check` selects by
        // nothing and sends every message to `$default`.
        let selection =
            routing::selection_expression(&config.websocket.selection).unwrap_or_default();
        let table = RouteTable::new(selection, custom, default);
        let metrics = shared.metrics;
        Stage {
            name: Arc::from(cfg.name.as_str()),
            variables: variables.clone(),
            connect,
            disconnect,
            parse_json: table.needs_json() || template_json,
            table,
            http,
            http_unmatched: metrics.http_route(&label, HTTP_NONE),
            metrics: metrics.stage(&label),
            management_endpoint: format!("{}/{}", shared.management_base, cfg.name),
            authorizer: cfg
                .authorizer
                .as_ref()
                .and_then(|a| shared.authorizers.get(a))
                .cloned(),
            api_keys: cfg.api_keys.clone(),
            canary,
            limits: client_limits(&cfg.throttle),
            compression: cfg
                .compression
                .over(&config.websocket.compression)
                .settings(),
        }
    }
}

/// What every stage of a generation is built with.
pub struct Shared<'a> {
    /// Metric handles are registered here.
    pub metrics: &'a Metrics,
    /// `http://host:port` of the management listener.
    pub management_base: &'a str,
    /// The generation's authorizers, by name.
    pub authorizers: &'a HashMap<String, Arc<Authorizer>>,
    /// The generation's compiled models, by name.
    pub models: &'a BTreeMap<String, Model>,
}

/// What a stage side's routes are built from.
struct Builder<'a> {
    cfg: &'a StageConfig,
    config: &'a Config,
    variables: &'a BTreeMap<String, String>,
    label: &'a str,
    shared: &'a Shared<'a>,
}

impl Builder<'_> {
    /// A route's own limit, else the stage's default; each its own bucket.
    fn bucket(&self, own: Option<Limit>, key: &str) -> Option<RouteBucket> {
        own.or(self.cfg.throttle.route_default)
            .map(|l| RouteBucket {
                gcra: Gcra::new(l),
                bucket: Bucket::default(),
                name: format!("{} {key}", self.cfg.name),
            })
    }

    fn integration(
        &self,
        cfg: &crate::config::IntegrationConfig,
        api: Api<'_>,
    ) -> Option<Integration> {
        compile::integration(cfg, api, self.variables, self.config).ok()
    }

    fn http_route(&self, r: &crate::config::HttpRouteConfig) -> Option<HttpRoute> {
        let params = routing::http::key_params(&r.key);
        let params: Vec<&str> = params.iter().map(String::as_str).collect();
        let authorizer = r.auth.authorizer.as_ref();
        let model = r.validation.model.as_ref();
        Some(HttpRoute {
            integration: self.integration(&r.integration, Api::Http(&params))?,
            greedy: routing::http::greedy_param(&r.key),
            is_default: r.key == routing::http::DEFAULT,
            authorizer: authorizer
                .and_then(|a| self.shared.authorizers.get(a))
                .cloned(),
            scopes: r.auth.scopes.clone(),
            api_key_required: r.auth.api_key_required,
            mapping: compile::route_mapping(r, &params).ok()?,
            throttle: self.bucket(r.throttle, &r.key),
            model: model.and_then(|m| self.shared.models.get(m)).cloned(),
            required: r.validation.required.clone(),
            detailed_errors: r.validation.detailed,
            metrics: self.shared.metrics.http_route(self.label, &r.key),
            failures: LogLimit::new(FAILURE_LINES),
        })
    }

    fn ws_route(&self, r: &crate::config::RouteConfig) -> Option<Route> {
        Some(Route {
            key: Arc::from(r.key.as_str()),
            integration: self.integration(&r.integration, Api::WebSocket)?,
            two_way: r.route_response,
            throttle: self.bucket(r.throttle, &r.key),
            models: r
                .validation
                .as_ref()
                .map(|v| RouteModels::new(v, self.shared.models)),
            metrics: self.shared.metrics.route(self.label, &r.key),
            failures: LogLimit::new(FAILURE_LINES),
        })
    }
}

/// Failed calls logged per route and second: enough to see what fails and
/// why, few enough that a backend that is down cannot flood the log at the
/// rate clients call it.
const FAILURE_LINES: u64 = 5;

/// A stage's per-client limits in GCRA's terms.
fn client_limits(t: &crate::config::StageThrottle) -> ClientLimits {
    ClientLimits {
        connection: t.per_connection.map(Gcra::new),
        ip: t.per_ip.map(Gcra::new),
        api_key: t.per_api_key.map(Gcra::new),
        principal: t.per_principal.map(Gcra::new),
    }
}
