//! Each stage's routes resolved with its variables: `${stageVariables.…}`
//! filled into integration URIs (and, for `http_proxy`, the route's
//! parameters kept as the URI template's), and an `aws_proxy` URI told apart
//! as a URL or a Lambda function.

use std::collections::BTreeMap;

use super::reader::Errors;
use super::routes::{RawIntegration, RawRoute};
use super::{
    Backend, EventTarget, HttpIntegration, HttpRouteConfig, HttpTarget, IntegrationConfig,
    RouteConfig,
};
use crate::routing::uri::UriTemplate;
use crate::routing::{self, Scope, expr::Var};

/// Every WebSocket route of the stage, its integration URI resolved with the
/// stage's variables.
pub(super) fn routes(
    stage: &str,
    routes: &[RawRoute],
    variables: &BTreeMap<String, String>,
    errors: &Errors,
) -> Option<Vec<RouteConfig>> {
    resolve_each(stage, routes, errors, |route, integration| {
        let integration = match integration {
            RawIntegration::Mock(m) => IntegrationConfig::Mock(m.clone()),
            RawIntegration::Http {
                proxy: true,
                uri,
                timeout,
                ..
            } => IntegrationConfig::HttpProxy(HttpTarget {
                uri: resolve_uri(uri, variables)?,
                timeout: *timeout,
            }),
            RawIntegration::Http {
                proxy: false,
                uri,
                function,
                timeout,
            } => IntegrationConfig::AwsProxy(EventTarget {
                backend: resolve_backend(uri, *function, variables)?,
                timeout: *timeout,
            }),
        };
        Ok(RouteConfig {
            key: route.key.clone(),
            integration,
            route_response: route.route_response,
            throttle: route.throttle,
            validation: route.ws_validation.clone(),
        })
    })
}

/// Every HTTP route of the stage, resolved with its variables; an `http_proxy`
/// URI may also name the route's parameters (`{id}`, `{proxy}`).
pub(super) fn http_routes(
    stage: &str,
    routes: &[RawRoute],
    variables: &BTreeMap<String, String>,
    errors: &Errors,
) -> Option<Vec<HttpRouteConfig>> {
    resolve_each(stage, routes, errors, |route, integration| {
        let integration = match integration {
            RawIntegration::Mock(m) => HttpIntegration::Mock(m.clone()),
            RawIntegration::Http {
                proxy: false,
                uri,
                function,
                timeout,
            } => HttpIntegration::AwsProxy {
                target: EventTarget {
                    backend: resolve_backend(uri, *function, variables)?,
                    timeout: *timeout,
                },
                payload_format: route.payload_format,
            },
            RawIntegration::Http {
                proxy: true,
                uri,
                timeout,
                ..
            } => {
                let params = routing::http::key_params(&route.key);
                let params: Vec<&str> = params.iter().map(String::as_str).collect();
                let text = render_uri(uri, variables)?;
                HttpIntegration::HttpProxy {
                    uri: UriTemplate::parse(&text, &params)?,
                    timeout: *timeout,
                }
            }
        };
        Ok(HttpRouteConfig {
            key: route.key.clone(),
            integration,
            auth: route.auth.clone(),
            mapping: route.mapping.clone(),
            throttle: route.throttle,
            validation: route.http_validation.clone(),
        })
    })
}

/// Resolves every route with `resolve`; each failure is recorded against the
/// route's `integration.uri` (the only part that depends on the stage), and
/// any failure (or a route whose integration was unreadable) yields `None`.
fn resolve_each<T>(
    stage: &str,
    routes: &[RawRoute],
    errors: &Errors,
    resolve: impl Fn(&RawRoute, &RawIntegration) -> Result<T, String>,
) -> Option<Vec<T>> {
    let mut resolved = Vec::new();
    let mut ok = true;
    for route in routes {
        let Some(integration) = &route.integration else {
            ok = false;
            continue;
        };
        match resolve(route, integration) {
            Ok(r) => resolved.push(r),
            Err(why) => {
                let path = format!("{}.integration.uri", route.path);
                errors.push(path, format!("in stage {stage:?}: {why}"));
                ok = false;
            }
        }
    }
    ok.then_some(resolved)
}

/// The URI text with the stage's variables in it.
fn render_uri(
    template: &routing::Template,
    vars: &BTreeMap<String, String>,
) -> Result<String, String> {
    for var in template.vars() {
        if let Var::StageVar(name) = var
            && !vars.contains_key(name)
        {
            return Err(format!("stage variable {name:?} is not defined"));
        }
    }
    Ok(template.render(&StageScope(vars)))
}

/// An `aws_proxy` backend: a Lambda function (`function`, or an ARN in
/// `uri`) or a URL.
fn resolve_backend(
    template: &routing::Template,
    function: bool,
    vars: &BTreeMap<String, String>,
) -> Result<Backend, String> {
    let text = render_uri(template, vars)?;
    if function {
        return super::lambda::parse_function_name(&text).map(Backend::Lambda);
    }
    match super::lambda::parse_function(&text) {
        Some(f) => f.map(Backend::Lambda),
        None => backend_url(&text).map(Backend::Http),
    }
}

/// An `http_proxy` URI, stage variables filled in.
fn resolve_uri(
    template: &routing::Template,
    vars: &BTreeMap<String, String>,
) -> Result<http::Uri, String> {
    let text = render_uri(template, vars)?;
    if text.starts_with("arn:") {
        return Err(format!(
            "{text:?}: http_proxy calls a URL; a Lambda function is called with aws_proxy"
        ));
    }
    backend_url(&text)
}

/// A backend's `http://` or `https://` URL, its authority `host[:port]` (no
/// userinfo, no encoding): integrations, authorizers and key sets alike.
pub(super) fn backend_url(text: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = text.parse().map_err(|_| format!("{text:?} is not a URL"))?;
    let authority = uri.authority().map_or("", |a| a.as_str());
    match uri.scheme_str() {
        Some("http" | "https") if crate::routing::uri::valid_authority(authority) => Ok(uri),
        Some("http" | "https") => Err(format!(
            "{text:?}: {authority:?} is not host[:port] (no userinfo, no encoding)"
        )),
        _ => Err(format!("{text:?} is not an http:// or https:// URL")),
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
