//! Applies an HTTP route's parameter mapping (`routing::mapping` parses it):
//! to the request before the integration sees it, and to the integration's
//! answer before the client does.
//!
//! Every value reads the request as the client sent it (never a half-mapped
//! one). Mappings run removes first, then overwrites, then appends. A value
//! that comes out empty — its header or claim absent — does not append, and
//! an overwrite with it removes the header or parameter: a route that
//! overwrites `x-user` from a claim never lets a client's own `x-user` through
//! when the claim is missing. A value that cannot be a header value counts as
//! empty. `$request.body.PATH` reads bodies of up to 100 KiB, as AWS does.

use std::cell::OnceCell;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use percent_encoding::utf8_percent_encode;
use serde_json::Value;

use crate::auth::{AuthContext, Granted};
use crate::clock;
use crate::integration::http_event::{self, HttpFacts, header_text};
use crate::routing::expr::{lookup, stringify};
use crate::routing::mapping::{Action, MapScope, MapVar, Mapping, Target};
use crate::routing::path::{PathError, SEGMENT};
use crate::routing::query;
use crate::routing::uri::QUERY_VALUE;

/// The largest body a JSON path is read from (AWS: 100 KB).
const MAX_BODY_FOR_PATHS: usize = 100 << 10;

/// What mapping values read.
pub struct Scope<'a> {
    facts: &'a HttpFacts<'a>,
    auth: Option<&'a AuthContext>,
    request_json: OnceCell<Option<Value>>,
    /// The answer, on the way back.
    answer: Option<Answer<'a>>,
}

/// The integration's answer, as response mappings read it.
#[derive(Clone, Copy)]
pub struct Answer<'a> {
    /// Its headers.
    pub headers: &'a HeaderMap,
    /// Its body, when it was read whole.
    pub body: Option<&'a [u8]>,
}

impl<'a> Scope<'a> {
    /// A scope over the request (`facts` has its body) and who sent it.
    pub fn new(facts: &'a HttpFacts<'a>, auth: Option<&'a AuthContext>) -> Scope<'a> {
        Scope {
            facts,
            auth,
            request_json: OnceCell::new(),
            answer: None,
        }
    }

    /// The same scope, able to read the answer too.
    pub fn with_answer(&self, answer: Answer<'a>) -> Scope<'a> {
        Scope {
            answer: Some(answer),
            ..Scope::new(self.facts, self.auth)
        }
    }

    fn context(&self, name: &str, out: &mut String) {
        let f = self.facts;
        let text = match name {
            "accountId" => http_event::ACCOUNT_ID,
            "apiId" => f.api_id,
            "domainName" => f.domain_name,
            "domainPrefix" => f.domain_name.split('.').next().unwrap_or(""),
            "httpMethod" => f.method,
            "identity.sourceIp" => f.source_ip,
            "identity.userAgent" => {
                if let Some(ua) = f.headers.get(http::header::USER_AGENT) {
                    out.push_str(&header_text(ua));
                }
                return;
            }
            "path" => f.raw_path,
            "protocol" => f.protocol,
            "requestId" => f.request_id,
            "requestTime" => return out.push_str(&clock::clf(f.time_ms)),
            "requestTimeEpoch" => return out.push_str(&f.time_ms.to_string()),
            "routeKey" => f.route_key,
            "stage" => f.stage,
            "authorizer.principalId" => self.auth.map_or("", |a| &a.principal_id),
            other => return self.authorizer(other, out),
        };
        out.push_str(text);
    }

    /// `authorizer.claims.X` (JWT) or `authorizer.X` (a request authorizer's context).
    fn authorizer(&self, name: &str, out: &mut String) {
        let Some(key) = name.strip_prefix("authorizer.") else {
            return;
        };
        let found = match self.auth.map(|a| &a.granted) {
            Some(Granted::Jwt { claims, .. }) => {
                key.strip_prefix("claims.").and_then(|c| claims.get(c))
            }
            Some(Granted::Lambda { context, .. }) => context.get(key),
            None => None,
        };
        if let Some(v) = found {
            stringify(v, out);
        }
    }
}

/// All values of a header, comma-joined (AWS's way).
fn joined(headers: &HeaderMap, name: &str, out: &mut String) {
    for (i, v) in headers.get_all(name).iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&header_text(v));
    }
}

fn json_at(body: &[u8], path: &[crate::routing::expr::Segment], out: &mut String) {
    if body.len() > MAX_BODY_FOR_PATHS {
        return;
    }
    if let Some(v) = serde_json::from_slice::<Value>(body)
        .ok()
        .as_ref()
        .and_then(|j| lookup(j, path))
    {
        stringify(v, out);
    }
}

impl MapScope for Scope<'_> {
    fn write(&self, var: &MapVar, out: &mut String) {
        let f = self.facts;
        match var {
            MapVar::RequestHeader(h) => match f.forwarded.get(h) {
                Some(v) => out.push_str(v),
                None => joined(f.headers, h, out),
            },
            MapVar::RequestQuery(q) => {
                let values = query::pairs(f.raw_query).filter(|(k, _)| k == q);
                let values: Vec<String> = values.map(|(_, v)| v).collect();
                out.push_str(&values.join(","));
            }
            MapVar::RequestBody(path) if path.is_empty() => {
                out.push_str(&String::from_utf8_lossy(f.body));
            }
            MapVar::RequestBody(path) => {
                let json = self.request_json.get_or_init(|| {
                    (f.body.len() <= MAX_BODY_FOR_PATHS)
                        .then(|| serde_json::from_slice(f.body).ok())
                        .flatten()
                });
                if let Some(v) = json.as_ref().and_then(|j| lookup(j, path)) {
                    stringify(v, out);
                }
            }
            MapVar::RequestPath => out.push_str(f.route_path),
            MapVar::PathParam(p) => {
                let found = f.path_params.iter().find(|(k, _)| k == p);
                out.push_str(found.map_or("", |(_, v)| v.as_str()));
            }
            MapVar::Context(name) => self.context(name, out),
            MapVar::StageVar(name) => {
                out.push_str(f.stage_variables.get(name).map_or("", String::as_str));
            }
            MapVar::ResponseHeader(h) => {
                if let Some(a) = self.answer {
                    joined(a.headers, h, out);
                }
            }
            MapVar::ResponseBody(path) => match self.answer.and_then(|a| a.body) {
                Some(body) if path.is_empty() => out.push_str(&String::from_utf8_lossy(body)),
                Some(body) => json_at(body, path, out),
                None => {}
            },
        }
    }

    fn write_path(&self, var: &MapVar, out: &mut String) -> Result<(), PathError> {
        let f = self.facts;
        match var {
            // Canonical already: its segments are the path they are.
            MapVar::RequestPath => out.push_str(f.route_path),
            MapVar::PathParam(p) => {
                let found = f.path_params.iter().find(|(k, _)| k == p);
                let value = found.map_or("", |(_, v)| v.as_str());
                // Decoded from canonical segments: a `/` is a greedy
                // parameter's separator, never data.
                for (i, seg) in value.split('/').enumerate() {
                    if i > 0 {
                        out.push('/');
                    }
                    out.extend(utf8_percent_encode(seg, SEGMENT));
                }
            }
            other => {
                let mut value = String::new();
                self.write(other, &mut value);
                crate::routing::path::check_segment_value(&value)?;
                out.extend(utf8_percent_encode(&value, SEGMENT));
            }
        }
        Ok(())
    }
}

/// The request as the integration sees it after the mapping.
#[derive(Debug)]
pub struct MappedRequest {
    /// Its headers.
    pub headers: HeaderMap,
    /// Its query string, without `?`.
    pub query: String,
    /// `overwrite:path`: the backend path (`http_proxy`), encoded.
    pub path: Option<String>,
}

/// Applies request mappings; an `overwrite:path` whose values would add or
/// climb segments is refused (`routing::mapping::MapValue::render_path`).
pub fn request(mappings: &[Mapping], scope: &Scope<'_>) -> Result<MappedRequest, PathError> {
    let f = scope.facts;
    let mut headers = f.headers.clone();
    let mut query: Vec<&str> = f.raw_query.split('&').filter(|p| !p.is_empty()).collect();
    let mut added = Vec::new();
    let mut path = None;
    for m in mappings {
        if m.target == Target::Path {
            path = Some(m.value.render_path(scope)?);
            continue;
        }
        let value = m.value.render(scope);
        match &m.target {
            Target::Header(name) => apply_header(&mut headers, m.action, name, &value),
            Target::Query(name) => {
                let is = |pair: &&str| query::pairs(pair).next().is_some_and(|(k, _)| k == *name);
                if m.action != Action::Append {
                    query.retain(|p| !is(p));
                    added.retain(|(k, _): &(String, String)| k != name);
                }
                if m.action != Action::Remove && !value.is_empty() {
                    added.push((name.clone(), value));
                }
            }
            Target::Path | Target::StatusCode => {}
        }
    }
    let mut query: Vec<String> = query.into_iter().map(str::to_owned).collect();
    // Values are decoded text: encoded once here, so a backend decodes
    // them exactly once.
    query.extend(added.iter().map(|(k, v)| {
        format!(
            "{}={}",
            utf8_percent_encode(k, QUERY_VALUE),
            utf8_percent_encode(v, QUERY_VALUE)
        )
    }));
    Ok(MappedRequest {
        headers,
        query: query.join("&"),
        path,
    })
}

/// Applies the response mappings for the answer's status; returns the status
/// to send (`overwrite:statuscode`, when its value is a status).
pub fn response(
    mappings: &[(u16, Vec<Mapping>)],
    status: u16,
    scope: &Scope<'_>,
    headers: &mut HeaderMap,
) -> u16 {
    let Some((_, list)) = mappings.iter().find(|(s, _)| *s == status) else {
        return status;
    };
    let mut out = status;
    for m in list {
        let value = m.value.render(scope);
        match &m.target {
            Target::Header(name) => apply_header(headers, m.action, name, &value),
            Target::StatusCode => {
                if let Some(s) = value
                    .trim()
                    .parse()
                    .ok()
                    .filter(|s| (100..=599).contains(s))
                {
                    out = s;
                }
            }
            Target::Query(_) | Target::Path => {}
        }
    }
    out
}

fn apply_header(headers: &mut HeaderMap, action: Action, name: &str, value: &str) {
    let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
        return;
    };
    let value = (!value.is_empty())
        .then(|| HeaderValue::from_str(value).ok())
        .flatten();
    match (action, value) {
        (Action::Remove, _) | (Action::Overwrite, None) => {
            headers.remove(&name);
        }
        (Action::Overwrite, Some(v)) => {
            headers.insert(name, v);
        }
        (Action::Append, Some(v)) => {
            headers.append(name, v);
        }
        (Action::Append, None) => {}
    }
}
