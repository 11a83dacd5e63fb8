//! A deployed stage and its routes, resolved from the config with the stage's
//! variables: what a connection's events are routed by.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::auth::Authorizer;
use crate::config::{IntegrationConfig, StageConfig, WebSocketConfig};
use crate::integration;
use crate::routing::{self, RouteTable};
use crate::telemetry::{Metrics, RouteMetrics, StageMetrics};

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
}

/// One route of one stage.
#[derive(Debug)]
pub struct Route {
    /// The route key.
    pub key: Arc<str>,
    /// Where its events go.
    pub integration: IntegrationConfig,
    /// Send the integration's reply back to the client.
    pub two_way: bool,
    /// Route metric handles.
    pub metrics: RouteMetrics,
}

// === impl Stage ===

impl Stage {
    /// Resolves a stage from its config.
    pub fn new(
        cfg: &StageConfig,
        ws: &WebSocketConfig,
        metrics: &Metrics,
        management_base: &str,
        authorizers: &HashMap<String, Arc<Authorizer>>,
    ) -> Stage {
        let mut custom = HashMap::new();
        let (mut connect, mut disconnect, mut default) = (None, None, None);
        let mut template_json = false;
        for r in &cfg.routes {
            template_json |= integration::needs_json(&r.integration);
            let route = Arc::new(Route {
                key: Arc::from(r.key.as_str()),
                integration: r.integration.clone(),
                two_way: r.route_response,
                metrics: metrics.route(&cfg.name, &r.key),
            });
            match r.key.as_str() {
                routing::CONNECT => connect = Some(route),
                routing::DISCONNECT => disconnect = Some(route),
                routing::DEFAULT => default = Some(route),
                key => {
                    custom.insert(key.to_owned(), route);
                }
            }
        }
        let table = RouteTable::new(ws.selection.clone(), custom, default);
        Stage {
            name: Arc::from(cfg.name.as_str()),
            variables: cfg.variables.clone(),
            connect,
            disconnect,
            parse_json: table.needs_json() || template_json,
            table,
            metrics: metrics.stage(&cfg.name),
            management_endpoint: format!("{management_base}/{}", cfg.name),
            authorizer: cfg
                .authorizer
                .as_ref()
                .and_then(|a| authorizers.get(a))
                .cloned(),
            api_keys: cfg.api_keys.clone(),
        }
    }
}
