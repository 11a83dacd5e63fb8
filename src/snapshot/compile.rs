//! Compiling what the config declares into what a stage serves. Routes are
//! declared once, as text (`config`); here each route's integration URI is
//! filled with one stage's variables and parsed (an `aws_proxy` URI told
//! apart as a URL or a Lambda function, the function's region and
//! credentials settled from `[integrations.lambda]`), and mock bodies and
//! parameter mappings are compiled. `check` runs these over every stage and
//! canary and lists each refusal with its key; `Stage::new` runs them to
//! build, leaving out what `check` would refuse.

use std::collections::BTreeMap;

use crate::config::{Backend, Config, HttpRouteConfig, IntegrationConfig, MockConfig, lambda, net};
use crate::integration::{EventTarget, Integration, Mock};
use crate::routing::mapping::{self, MapVar, Mapping, RouteMapping, Side, Target};
use crate::routing::uri::UriTemplate;
use crate::routing::{ContextVar, Scope, Template, expr::Var};

/// Which API a route is of: WebSocket, or HTTP with its key's parameters
/// (which an `http_proxy` URI and a mapping may name).
#[derive(Debug, Clone, Copy)]
pub enum Api<'a> {
    /// `[routes.*]`.
    WebSocket,
    /// `[http.routes.*]`, with the key's parameters.
    Http(&'a [&'a str]),
}

/// A route's integration with one stage's `vars` (`config` says which
/// functions are hosted, and how AWS Lambda is called). `Err`: why its `uri`
/// (or a mock's `body`) is refused.
pub fn integration(
    cfg: &IntegrationConfig,
    api: Api<'_>,
    vars: &BTreeMap<String, String>,
    config: &Config,
) -> Result<Integration, String> {
    match cfg {
        IntegrationConfig::Mock(m) => mock(m).map(Integration::Mock),
        IntegrationConfig::AwsProxy {
            uri,
            function,
            timeout,
            payload_format,
        } => {
            let text = render(&uri_template(uri)?, vars)?;
            let mut backend = backend(&text, *function, config)?;
            if let Backend::Lambda(f) = &mut backend {
                let why = config.integrations.lambda.settle(f);
                if !why.is_empty() {
                    return Err(why.join("; "));
                }
            }
            Ok(Integration::AwsProxy {
                target: EventTarget {
                    backend,
                    timeout: *timeout,
                },
                format: *payload_format,
            })
        }
        IntegrationConfig::HttpProxy { uri, timeout } => {
            let text = render(&uri_template(uri)?, vars)?;
            if text.starts_with("arn:") {
                return Err(format!(
                    "{text:?}: http_proxy calls a URL; a Lambda function is called with aws_proxy"
                ));
            }
            let params = match api {
                // Sent as it is: it must be a URL whole.
                Api::WebSocket => net::backend_url(&text).map(|_| &[][..])?,
                Api::Http(params) => params,
            };
            Ok(Integration::HttpProxy {
                uri: UriTemplate::parse(&text, params)?,
                timeout: *timeout,
            })
        }
    }
}

/// An integration URI as written: a template that may read only stage
/// variables (the same for every stage, so checked once per route).
pub fn uri_template(text: &str) -> Result<Template, String> {
    match Template::parse(text) {
        Ok(t) if t.vars().all(|v| matches!(v, Var::StageVar(_))) => Ok(t),
        Ok(_) => Err("may only use ${stageVariables.…}".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// A mock's body template compiled.
pub fn mock(m: &MockConfig) -> Result<Mock, String> {
    let body = m.body.as_deref().map(Template::parse).transpose();
    Ok(Mock {
        status: m.status,
        body: body.map_err(|e| e.to_string())?,
        headers: m.headers.clone(),
    })
}

/// The URI text with the stage's variables in it.
fn render(template: &Template, vars: &BTreeMap<String, String>) -> Result<String, String> {
    for var in template.vars() {
        if let Var::StageVar(name) = var
            && !vars.contains_key(name)
        {
            return Err(format!("stage variable {name:?} is not defined"));
        }
    }
    Ok(template.render(&StageScope(vars)))
}

/// An `aws_proxy` backend: a function this node hosts (`function` naming a
/// `[functions.NAME]`), an AWS Lambda function (`function`, or an ARN in
/// `uri`) or a URL.
fn backend(text: &str, function: bool, config: &Config) -> Result<Backend, String> {
    if function && crate::config::hosts(&config.functions, text) {
        return Ok(Backend::Hosted(text.to_owned()));
    }
    if function {
        return lambda::parse_function_name(text).map(Backend::Lambda);
    }
    match lambda::parse_function(text) {
        Some(f) => f.map(Backend::Lambda),
        None => net::backend_url(text).map(Backend::Http),
    }
}

/// What a stage's URI template reads: its variables, nothing else.
struct StageScope<'a>(&'a BTreeMap<String, String>);

impl Scope for StageScope<'_> {
    fn body_text(&self) -> Option<&str> {
        None
    }
    fn body_json(&self) -> Option<&serde_json::Value> {
        None
    }
    fn context(&self, _var: ContextVar, _out: &mut String) {}
    fn stage_var(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

/// An HTTP route's `request_parameters` and `response_parameters`, each
/// parsed (`routing::mapping`) and checked against the route: its parameters
/// (`params`) and its integration kind. `Err`: each refused mapping, as
/// (its key under the route, why).
pub fn route_mapping(
    route: &HttpRouteConfig,
    params: &[&str],
) -> Result<RouteMapping, Vec<(String, String)>> {
    let mut refused = Vec::new();
    let rules = Rules {
        params,
        integration: &route.integration,
    };
    let mut read = |pairs: &[(String, String)], at: &str, side: Side| {
        let mut out: Vec<Mapping> = Vec::new();
        for (k, v) in pairs {
            let parsed = mapping::parse(k, v, side).and_then(|m| rules.check(&m, side).map(|()| m));
            match parsed {
                Ok(m) => out.push(m),
                Err(why) => refused.push((crate::config::key_path(at, k), why)),
            }
        }
        // Applied in this order: removes, overwrites, appends.
        out.sort_by_key(|m| m.action);
        out
    };
    let request = read(&route.mapping.request, "request_parameters", Side::Request);
    let response = (route.mapping.response.iter())
        .map(|(code, pairs)| {
            let at = format!("response_parameters.{code}");
            (*code, read(pairs, &at, Side::Response))
        })
        .collect();
    match refused.is_empty() {
        true => Ok(RouteMapping { request, response }),
        false => Err(refused),
    }
}

/// What an HTTP route's mappings may do, by its parameters and integration.
struct Rules<'a> {
    params: &'a [&'a str],
    integration: &'a IntegrationConfig,
}

impl Rules<'_> {
    fn check(&self, m: &Mapping, side: Side) -> Result<(), String> {
        let (mock, proxy) = match self.integration {
            IntegrationConfig::Mock(_) => (true, false),
            IntegrationConfig::HttpProxy { .. } => (false, true),
            IntegrationConfig::AwsProxy { .. } => (false, false),
        };
        if mock && side == Side::Request {
            return Err("a mock route calls no backend; map its answer instead".into());
        }
        if m.target == Target::Path && !proxy {
            return Err("overwrite:path applies to http_proxy integrations".into());
        }
        for v in m.value.vars() {
            match v {
                MapVar::PathParam(p) if !self.params.contains(&p.as_str()) => {
                    return Err(format!("{{{p}}} is not a parameter of the route"));
                }
                MapVar::ResponseBody(_) if proxy => {
                    return Err("an http_proxy answer is streamed; $response.body is for aws_proxy and mock routes".into());
                }
                _ => {}
            }
        }
        Ok(())
    }
}
