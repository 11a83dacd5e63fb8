//! AWS HTTP APIs' parameter mapping, parsed: which part of a request or an
//! answer to change (`overwrite:header.x-user`, `append:querystring.tag`,
//! `remove:header.server`, `overwrite:path`, `overwrite:statuscode`) and the
//! value to put there (`$request.header.x`, `${context.requestId}-${request.path.id}`,
//! static text).
//!
//! Values follow AWS's table: `$request.header.NAME` (case-insensitive),
//! `$request.querystring.NAME` (case-sensitive), `$request.body` and
//! `$request.body.PATH` (a JSON path, read from the first 100 KiB of the
//! body), `$request.path` (without the stage), `$request.path.NAME`,
//! `$context.NAME`, `$stageVariables.NAME`, and on answers
//! `$response.header.NAME` and `$response.body[.PATH]`. A value that is one
//! variable may be written bare (`$request.header.x-id`); to combine several,
//! or text and variables, each goes in braces (`Bearer ${request.header.x}`).
//!
//! Headers AWS reserves cannot be mapped (the list is [`is_reserved`]'s).
//! Parsing happens once, at config load; evaluating is [`MapValue::render`]
//! over a [`MapScope`] the caller provides.

use percent_encoding::utf8_percent_encode;

use super::expr::{Segment, parse_path};
use super::path::{self, PathError, SEGMENT, check_segment_value};

/// Which side a mapping changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `request_parameters`: the request, before the integration.
    Request,
    /// `response_parameters`: the integration's answer, before the client.
    Response,
}

/// What a mapping does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    /// `remove:` (applied first).
    Remove,
    /// `overwrite:` (applied second).
    Overwrite,
    /// `append:` (applied last).
    Append,
}

/// What a mapping changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `header.NAME` (lower case).
    Header(String),
    /// `querystring.NAME` (requests).
    Query(String),
    /// `path` (requests; `overwrite` only).
    Path,
    /// `statuscode` (answers; `overwrite` only).
    StatusCode,
}

/// A variable a mapping value reads.
#[derive(Debug, Clone, PartialEq)]
pub enum MapVar {
    /// `request.header.NAME` (lower case): all values, comma-joined.
    RequestHeader(String),
    /// `request.querystring.NAME`: all values, comma-joined.
    RequestQuery(String),
    /// `request.body` (empty path: the whole body) or a JSON path into it.
    RequestBody(Vec<Segment>),
    /// `request.path`: the path after the stage.
    RequestPath,
    /// `request.path.NAME`: a path parameter.
    PathParam(String),
    /// `context.NAME`.
    Context(String),
    /// `stageVariables.NAME`.
    StageVar(String),
    /// `response.header.NAME` (lower case).
    ResponseHeader(String),
    /// `response.body` or a JSON path into it.
    ResponseBody(Vec<Segment>),
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Var(MapVar),
}

/// A parsed mapping value.
#[derive(Debug, Clone, PartialEq)]
pub struct MapValue {
    parts: Vec<Part>,
}

/// One parsed mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapping {
    /// Remove, overwrite or append.
    pub action: Action,
    /// Where.
    pub target: Target,
    /// With what (unused by `remove`).
    pub value: MapValue,
}

/// An HTTP route's mappings, compiled: the request's, and the answer's by
/// the integration's status code, each in the order applied (removes,
/// overwrites, appends).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouteMapping {
    /// Changes to the request.
    pub request: Vec<Mapping>,
    /// Changes to the answer, by status code.
    pub response: Vec<(u16, Vec<Mapping>)>,
}

/// What a value's variables read from.
pub trait MapScope {
    /// Writes the variable's value into `out` (nothing if it has none).
    fn write(&self, var: &MapVar, out: &mut String);

    /// Writes the variable's value into a backend path (`overwrite:path`),
    /// percent-encoded as one segment, or part of one: refused if it holds a
    /// `/` or `\`, a control character, or is `.` or `..`, so no value can
    /// add a segment or climb. (The request's own path and its parameters,
    /// canonical already, are written as the path they are.)
    fn write_path(&self, var: &MapVar, out: &mut String) -> Result<(), PathError> {
        let mut value = String::new();
        self.write(var, &mut value);
        check_segment_value(&value)?;
        out.extend(utf8_percent_encode(&value, SEGMENT));
        Ok(())
    }
}

/// The `$context` variables a value may read (`authorizer.claims.X` and
/// `authorizer.X` besides).
pub const CONTEXT_VARS: [&str; 15] = [
    "accountId",
    "apiId",
    "authorizer.principalId",
    "domainName",
    "domainPrefix",
    "httpMethod",
    "identity.sourceIp",
    "identity.userAgent",
    "path",
    "protocol",
    "requestId",
    "requestTime",
    "requestTimeEpoch",
    "routeKey",
    "stage",
];

/// Whether a header is reserved from mapping (lower case): AWS's list, plus
/// `X-Forwarded-Port` and `X-Sockgate-*`, which the gateway writes.
pub fn is_reserved(name: &str) -> bool {
    const EXACT: [&str; 19] = [
        "authorization",
        "connection",
        "content-encoding",
        "content-length",
        "content-location",
        "forwarded",
        "keep-alive",
        "origin",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-port",
        "x-forwarded-proto",
        "via",
    ];
    EXACT.contains(&name)
        || [
            "access-control-",
            "apigw-",
            "x-amz-",
            "x-amzn-",
            "x-sockgate-",
        ]
        .iter()
        .any(|p| name.starts_with(p))
}

/// Parses one mapping: its key (`overwrite:header.x-user`) and value.
pub fn parse(key: &str, value: &str, side: Side) -> Result<Mapping, String> {
    let (action, target) = key
        .split_once(':')
        .ok_or("a key is ACTION:WHERE, e.g. overwrite:header.x-user")?;
    let action = match action {
        "append" => Action::Append,
        "overwrite" => Action::Overwrite,
        "remove" => Action::Remove,
        other => return Err(format!("{other:?} is not append, overwrite or remove")),
    };
    let target = parse_target(target, side)?;
    if matches!(target, Target::Path | Target::StatusCode) && action != Action::Overwrite {
        return Err("path and statuscode can only be overwritten".into());
    }
    let value = if action == Action::Remove {
        MapValue { parts: Vec::new() }
    } else {
        parse_value(value, side)?
    };
    if target == Target::Path {
        check_path_text(&value)?;
    }
    if target == Target::StatusCode
        && let Some(text) = value.as_literal()
        && !text.parse::<u16>().is_ok_and(|s| (100..=599).contains(&s))
    {
        return Err(format!("{text:?} is not a status code (100-599)"));
    }
    Ok(Mapping {
        action,
        target,
        value,
    })
}

/// `overwrite:path`'s text must be a canonical path as written (every
/// variable stands for one plain segment here): no dot segment, no empty
/// segment, no query or fragment, nothing `routing::path` would refuse.
fn check_path_text(value: &MapValue) -> Result<(), String> {
    let mut sample = String::from("/");
    for part in &value.parts {
        match part {
            Part::Lit(s) => sample.push_str(s),
            Part::Var(_) => sample.push('x'),
        }
    }
    let sample = sample.replacen("//", "/", 1);
    match path::canonical(&sample) {
        Ok(c) if c == sample && !sample.contains(['?', '#']) => Ok(()),
        _ => Err(format!(
            "{sample:?} is not a plain path: no dot or empty segments, query, fragment, \
             %2F or backslash"
        )),
    }
}

fn parse_target(target: &str, side: Side) -> Result<Target, String> {
    if let Some(name) = target.strip_prefix("header.") {
        let name = name.to_ascii_lowercase();
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(format!("{name:?} is not a header name"));
        }
        if is_reserved(&name) {
            return Err(format!(
                "{name:?} is reserved and cannot be mapped (AWS's list)"
            ));
        }
        return Ok(Target::Header(name));
    }
    match (target, side) {
        ("path", Side::Request) => Ok(Target::Path),
        ("statuscode", Side::Response) => Ok(Target::StatusCode),
        (t, Side::Request) if t.starts_with("querystring.") && t.len() > 12 => {
            Ok(Target::Query(t["querystring.".len()..].to_owned()))
        }
        (_, Side::Request) => Err("requests map header.NAME, querystring.NAME or path".into()),
        (_, Side::Response) => Err("answers map header.NAME or statuscode".into()),
    }
}

/// Parses a value: one bare variable, or text with `${…}` variables.
pub fn parse_value(text: &str, side: Side) -> Result<MapValue, String> {
    if let Some(name) = text.strip_prefix('$')
        && !name.starts_with('{')
        && !name.contains(['$', ' '])
    {
        return Ok(MapValue {
            parts: vec![Part::Var(parse_var(name, side)?)],
        });
    }
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        if at > 0 {
            parts.push(Part::Lit(rest[..at].to_owned()));
        }
        let end = rest[at..].find('}').ok_or("unclosed ${")? + at;
        parts.push(Part::Var(parse_var(&rest[at + 2..end], side)?));
        rest = &rest[end + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Lit(rest.to_owned()));
    }
    Ok(MapValue { parts })
}

fn parse_var(name: &str, side: Side) -> Result<MapVar, String> {
    let unknown = || format!("unknown variable ${name}");
    let (source, rest) = name.split_once('.').ok_or_else(unknown)?;
    let path = |p: &str| parse_path(p).map_err(|why| format!("${name}: {why}"));
    let var = match (source, rest.split_once('.')) {
        ("request", Some(("header", h))) => MapVar::RequestHeader(h.to_ascii_lowercase()),
        ("request", Some(("querystring", q))) => MapVar::RequestQuery(q.to_owned()),
        ("request", Some(("path", p))) => MapVar::PathParam(p.to_owned()),
        ("request", None) if rest == "path" => MapVar::RequestPath,
        ("request", _) if rest.starts_with("body") => {
            MapVar::RequestBody(path(&rest["body".len()..])?)
        }
        ("response", Some(("header", h))) => MapVar::ResponseHeader(h.to_ascii_lowercase()),
        ("response", _) if rest.starts_with("body") => {
            MapVar::ResponseBody(path(&rest["body".len()..])?)
        }
        ("context", _) if is_context_var(rest) => MapVar::Context(rest.to_owned()),
        ("stageVariables", None) if !rest.is_empty() => MapVar::StageVar(rest.to_owned()),
        _ => return Err(unknown()),
    };
    if side == Side::Request && matches!(var, MapVar::ResponseHeader(_) | MapVar::ResponseBody(_)) {
        return Err(format!("${name}: a request cannot read the answer"));
    }
    Ok(var)
}

fn is_context_var(name: &str) -> bool {
    CONTEXT_VARS.contains(&name)
        || name
            .strip_prefix("authorizer.")
            .is_some_and(|k| !k.is_empty() && k != "claims" && !k.ends_with('.'))
}

impl MapValue {
    /// The value's text when it has no variables.
    pub fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Lit(s)] => Some(s),
            _ => None,
        }
    }

    /// The variables it reads.
    pub fn vars(&self) -> impl Iterator<Item = &MapVar> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v),
            Part::Lit(_) => None,
        })
    }

    /// Evaluates the value as a backend path (`overwrite:path`): the
    /// operator's text as written, each variable through
    /// [`MapScope::write_path`], the result canonical and still under the
    /// path the text before the first variable fixes.
    pub fn render_path(&self, scope: &dyn MapScope) -> Result<String, PathError> {
        let mut out = String::from("/");
        for part in &self.parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Var(v) => scope.write_path(v, &mut out)?,
            }
        }
        let fixed = match self.parts.first() {
            Some(Part::Lit(s)) => &s[..s.rfind('/').map_or(0, |i| i + 1)],
            _ => "",
        };
        let canonical = path::canonical(&out)?.into_owned();
        if !canonical[1..].starts_with(fixed.trim_start_matches('/')) {
            return Err(PathError::AboveRoot);
        }
        Ok(canonical)
    }

    /// Evaluates the value.
    pub fn render(&self, scope: &dyn MapScope) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Var(v) => scope.write(v, &mut out),
            }
        }
        out
    }
}

#[cfg(test)]
#[path = "mapping_tests.rs"]
mod tests;
