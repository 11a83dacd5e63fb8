//! The routes' part of `check`: every WebSocket and HTTP route compiled as
//! each stage (and canary) would serve it, each refusal listed with its key.
//! What is the same for every stage (a key, a mock body, a mapping, a URI's
//! template) is reported once; what depends on a stage's variables (a URI
//! they complete) once per stage, naming it.

use std::collections::BTreeMap;

use crate::config::{Config, IntegrationConfig, key_path};
use crate::routing::{self, http::HttpRouter};
use crate::snapshot::compile::{self, Api};

/// Records one problem at a key path.
pub(super) type Push<'a> = dyn FnMut(&str, String) + 'a;

/// Every route of `config`, compiled for every stage side.
pub(super) fn check(config: &Config, push: &mut Push<'_>) {
    let sides = sides(config);
    for route in &config.routes {
        let at = key_path("routes", &route.key);
        if !routing::is_valid_route_key(&route.key) {
            push(
                &at,
                "custom route keys must be non-empty and must not start with $ (reserved for $connect, $disconnect, $default)".into(),
            );
        }
        let one_way = [routing::CONNECT, routing::DISCONNECT];
        if route.route_response && one_way.contains(&route.key.as_str()) {
            let why = format!("{} cannot send a reply to the client", route.key);
            push(&key_path(&at, "route_response"), why);
        }
        let selection = route
            .validation
            .as_ref()
            .and_then(|v| v.selection.as_deref());
        if let Some(Err(e)) = selection.map(routing::Template::parse) {
            push(&key_path(&at, "model_selection_expression"), e.to_string());
        }
        integration(
            config,
            &at,
            &route.integration,
            Api::WebSocket,
            &sides,
            push,
        );
    }
    let keys = config.http_routes.iter().map(|r| (r.key.clone(), ()));
    if let Err(bad) = HttpRouter::new(keys) {
        for (key, why) in bad {
            push(&key_path("http.routes", &key), why.to_string());
        }
    }
    for route in &config.http_routes {
        let at = key_path("http.routes", &route.key);
        let params = routing::http::key_params(&route.key);
        let params: Vec<&str> = params.iter().map(String::as_str).collect();
        if let Err(refused) = compile::route_mapping(route, &params) {
            for (key, why) in refused {
                push(&format!("{at}.{key}"), why);
            }
        }
        let api = Api::Http(&params);
        integration(config, &at, &route.integration, api, &sides, push);
    }
}

/// Each side a stage serves: its name (for errors) and its variables.
fn sides(config: &Config) -> Vec<(String, &BTreeMap<String, String>)> {
    let mut out = Vec::new();
    for stage in &config.stages {
        out.push((stage.name.clone(), &stage.variables));
        if let Some(c) = &stage.canary {
            out.push((format!("{} (canary)", stage.name), &c.variables));
        }
    }
    out
}

/// One route's integration: its template once, then as each side serves it.
fn integration(
    config: &Config,
    route: &str,
    cfg: &IntegrationConfig,
    api: Api<'_>,
    sides: &[(String, &BTreeMap<String, String>)],
    push: &mut Push<'_>,
) {
    let at = key_path(route, "integration");
    let once = match cfg {
        IntegrationConfig::Mock(m) => compile::mock(m).map(|_| ()).map_err(|e| ("body", e)),
        IntegrationConfig::AwsProxy { uri, .. } | IntegrationConfig::HttpProxy { uri, .. } => {
            compile::uri_template(uri)
                .map(|_| ())
                .map_err(|e| ("uri", e))
        }
    };
    if let Err((key, why)) = once {
        push(&key_path(&at, key), why);
        return;
    }
    if matches!(cfg, IntegrationConfig::Mock(_)) {
        return;
    }
    for (stage, vars) in sides {
        if let Err(why) = compile::integration(cfg, api, vars, config) {
            push(&key_path(&at, "uri"), format!("in stage {stage:?}: {why}"));
        }
    }
}
