//! Reads a TOML table into a [`Config`], recording every problem in [`Errors`].
//!
//! Each section has its reader (`server`, `websocket`, `routes`, `cluster`,
//! `security`); each takes its own section and returns `None` only when a value
//! it needs is unusable. Reading always continues, so that later sections
//! report their errors too.

use super::env::EnvSource;
use super::reader::{Errors, Section};
use super::{
    Config, cluster, functions, http_api, routes, security, server, throttle, tracing, validation,
    websocket,
};

pub(super) fn build(table: &toml::Table, errors: &Errors, env: &dyn EnvSource) -> Option<Config> {
    let mut root = Section::root(table, errors);
    let server = server::read_server(root.section("server"));
    let api = server::read_api(root.section("api"));
    let websocket = websocket::read_websocket(root.section("websocket"));
    let integrations = server::read_client(root.section("integrations"), env);
    let models = validation::read_models(root.entries("models"));
    let ws_routes = routes::read_routes(root.entries("routes"));
    let (http, http_routes) = http_api::read_http(root.section("http"));
    let stages = routes::read_stages(root.entries("stages"), errors, env);
    let authorizers = security::read_authorizers(root.entries("authorizers"), env);
    let admission = security::read_admission(root.section("admission"));
    let throttle_cfg = throttle::read_account(root.section("throttle"));
    let usage_plans = throttle::read_plans(root.entries("usage_plans"), stages.as_deref());
    let authorizers_ok = match (&stages, &authorizers, &http_routes) {
        (Some(st), Some(a), Some(http_routes)) => {
            let stages_ok = security::check_stage_authorizers(st, a, errors);
            security::check_http_route_auth(http_routes, a, st, errors) && stages_ok
        }
        _ => true,
    };
    let models_ok = match (&ws_routes, &http_routes) {
        (Some(ws), Some(http)) => {
            validation::check_names(&models, routes::model_names(ws, http), errors)
        }
        _ => true,
    };
    let functions = functions::read_functions(root.entries("functions"));
    let cluster = cluster::read_cluster(root.section("cluster"));
    let tracing = tracing::read_tracing(root.section("tracing"));
    let management_listen = server.as_ref().map(|s| s.management_listen);
    let management = server::read_management(root.section("management"), env, management_listen);
    root.finish();
    if !authorizers_ok || !models_ok {
        return None;
    }
    let mut config = Config {
        authorizers: authorizers?,
        admission: admission?,
        functions,
        throttle: throttle_cfg,
        usage_plans,
        models,
        management: management?,
        cluster: cluster?,
        tracing: tracing?,
        server: server?,
        api: api?,
        websocket: websocket?,
        integrations: integrations?,
        stages: stages?,
        routes: ws_routes?,
        http,
        http_routes: http_routes?,
        digest: String::new(),
    };
    if !super::lambda::settle(&mut config, errors) {
        return None;
    }
    let stray = throttle::cluster_limits(&config);
    if config.cluster.is_none() && !stray.is_empty() {
        for at in stray {
            errors.push(
                at,
                "scope = \"cluster\" needs [cluster] (a Redis to share the bucket)",
            );
        }
        return None;
    }
    Some(config)
}
