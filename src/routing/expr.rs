//! The selection-expression and template grammar.
//!
//! One grammar serves route selection (`$request.body.action`), mock reply bodies
//! (`{"id":"${context.connectionId}"}`) and integration URIs
//! (`${stageVariables.backend}/connect`). It follows AWS's rules:
//!
//! - `$request.body.a.b` reads a path from the JSON message; `${...}` braces delimit a
//!   variable so it can be joined with literals (`${request.body.service}/${request.body.action}`);
//! - `\$` is a literal dollar sign (`\$default` is the text `$default`);
//! - a path that is missing yields the empty string;
//! - non-string values are stringified: numbers and booleans as written in JSON, `null`
//!   as the empty string, arrays as `[a, b]` (AWS documents this form), objects as compact
//!   JSON (AWS leaves this UNCONFIRMED).
//!
//! Paths take `.key`, `[0]` and `['key']` segments; recursive descent and filters are
//! not part of AWS's subset and are rejected. Parsing happens once at config load;
//! evaluation does no allocation beyond the output string.

use std::fmt::Write as _;

use serde_json::Value;

/// A parsed expression or template: literals and variables in order (the
/// default renders as nothing).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Var(Var),
}

/// A variable a template may read.
#[derive(Debug, Clone, PartialEq)]
pub enum Var {
    /// `request.body` (the whole message text) or a path into the JSON message.
    Body(Vec<Segment>),
    /// `context.<name>`: facts about the connection and this request.
    Context(ContextVar),
    /// `stageVariables.<name>`.
    StageVar(String),
}

/// One step of a JSON path.
#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// An object member.
    Key(String),
    /// An array element.
    Index(usize),
}

/// The `context.*` variables a template may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContextVar {
    /// `context.connectionId`
    ConnectionId,
    /// `context.requestId`
    RequestId,
    /// `context.messageId` (empty outside MESSAGE events)
    MessageId,
    /// `context.routeKey`
    RouteKey,
    /// `context.eventType`
    EventType,
    /// `context.stage`
    Stage,
    /// `context.apiId`
    ApiId,
    /// `context.domainName`
    DomainName,
    /// `context.connectedAt` (epoch ms)
    ConnectedAt,
    /// `context.requestTimeEpoch` (epoch ms)
    RequestTimeEpoch,
    /// `context.identity.sourceIp`
    SourceIp,
    /// `context.identity.userAgent`
    UserAgent,
}

const CONTEXT_VARS: &[(&str, ContextVar)] = &[
    ("connectionId", ContextVar::ConnectionId),
    ("requestId", ContextVar::RequestId),
    ("messageId", ContextVar::MessageId),
    ("routeKey", ContextVar::RouteKey),
    ("eventType", ContextVar::EventType),
    ("stage", ContextVar::Stage),
    ("apiId", ContextVar::ApiId),
    ("domainName", ContextVar::DomainName),
    ("connectedAt", ContextVar::ConnectedAt),
    ("requestTimeEpoch", ContextVar::RequestTimeEpoch),
    ("identity.sourceIp", ContextVar::SourceIp),
    ("identity.userAgent", ContextVar::UserAgent),
];

/// Why a template did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// `${` without a closing `}`.
    #[error("unclosed \"${{\" at byte {0}")]
    Unclosed(usize),
    /// A `$` that starts no known variable.
    #[error(
        "unknown variable \"{0}\" (known: request.body…, context.…, stageVariables.…; write \\$ for a literal $)"
    )]
    UnknownVar(String),
    /// A malformed JSON path.
    #[error("bad path \"{0}\": {1}")]
    BadPath(String, &'static str),
}

/// What a template reads its variables from.
pub trait Scope {
    /// The raw message text, if there is a message.
    fn body_text(&self) -> Option<&str>;
    /// The parsed JSON message, if the message is JSON.
    fn body_json(&self) -> Option<&Value>;
    /// Writes a context variable.
    fn context(&self, var: ContextVar, out: &mut String);
    /// A stage variable's value.
    fn stage_var(&self, name: &str) -> Option<&str>;
}

// === impl Template ===

impl Template {
    /// Parses an expression or template.
    pub fn parse(src: &str) -> Result<Template, ParseError> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let bytes = src.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' if bytes.get(i + 1) == Some(&b'$') => {
                    lit.push('$');
                    i += 2;
                }
                b'$' => {
                    let (name, next) = if bytes.get(i + 1) == Some(&b'{') {
                        let end = src[i + 2..].find('}').ok_or(ParseError::Unclosed(i))?;
                        (&src[i + 2..i + 2 + end], i + 3 + end)
                    } else {
                        let len = unbraced_len(&src[i + 1..]);
                        (&src[i + 1..i + 1 + len], i + 1 + len)
                    };
                    if !lit.is_empty() {
                        parts.push(Part::Lit(std::mem::take(&mut lit)));
                    }
                    parts.push(Part::Var(parse_var(name)?));
                    i = next;
                }
                _ => {
                    let ch = src[i..].chars().next().unwrap_or_default();
                    lit.push(ch);
                    i += ch.len_utf8().max(1);
                }
            }
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(lit));
        }
        Ok(Template { parts })
    }

    /// The variables this template uses.
    pub fn vars(&self) -> impl Iterator<Item = &Var> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v),
            Part::Lit(_) => None,
        })
    }

    /// Whether evaluating needs the message parsed as JSON.
    pub fn needs_json(&self) -> bool {
        self.vars()
            .any(|v| matches!(v, Var::Body(path) if !path.is_empty()))
    }

    /// The template's text when it has no variables at all.
    pub fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Lit(s)] => Some(s),
            _ => None,
        }
    }

    /// Evaluates into `out`.
    pub fn render_into(&self, scope: &dyn Scope, out: &mut String) {
        for part in &self.parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Var(Var::Body(path)) if path.is_empty() => {
                    out.push_str(scope.body_text().unwrap_or_default())
                }
                Part::Var(Var::Body(path)) => {
                    if let Some(v) = scope.body_json().and_then(|json| lookup(json, path)) {
                        stringify(v, out);
                    }
                }
                Part::Var(Var::Context(var)) => scope.context(*var, out),
                Part::Var(Var::StageVar(name)) => {
                    out.push_str(scope.stage_var(name).unwrap_or_default())
                }
            }
        }
    }

    /// Evaluates to a new string.
    pub fn render(&self, scope: &dyn Scope) -> String {
        let mut out = String::new();
        self.render_into(scope, &mut out);
        out
    }
}

/// Length of an unbraced variable name: identifier characters, dots and bracket groups.
fn unbraced_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' => i += 1,
            b'[' => match s[i..].find(']') {
                Some(end) => i += end + 1,
                None => return bytes.len(),
            },
            _ => break,
        }
    }
    i
}

fn parse_var(name: &str) -> Result<Var, ParseError> {
    if let Some(rest) = name.strip_prefix("request.body")
        && (rest.is_empty() || rest.starts_with('.') || rest.starts_with('['))
    {
        return parse_path(rest)
            .map(Var::Body)
            .map_err(|why| ParseError::BadPath(name.into(), why));
    }
    if let Some(rest) = name.strip_prefix("context.")
        && let Some((_, var)) = CONTEXT_VARS.iter().find(|(n, _)| *n == rest)
    {
        return Ok(Var::Context(*var));
    }
    if let Some(rest) = name.strip_prefix("stageVariables.")
        && !rest.is_empty()
        && rest.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Ok(Var::StageVar(rest.to_owned()));
    }
    Err(ParseError::UnknownVar(name.to_owned()))
}

pub(crate) fn parse_path(mut s: &str) -> Result<Vec<Segment>, &'static str> {
    let mut path = Vec::new();
    while !s.is_empty() {
        if let Some(rest) = s.strip_prefix('.') {
            if rest.starts_with('.') {
                return Err("recursive descent (..) is not supported");
            }
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            if end == 0 {
                return Err("empty key");
            }
            path.push(Segment::Key(rest[..end].to_owned()));
            s = &rest[end..];
        } else if let Some(rest) = s.strip_prefix('[') {
            let end = rest.find(']').ok_or("unclosed [")?;
            let inner = &rest[..end];
            let quoted = inner
                .strip_prefix('\'')
                .and_then(|k| k.strip_suffix('\''))
                .or_else(|| inner.strip_prefix('"').and_then(|k| k.strip_suffix('"')));
            match quoted {
                Some(key) => path.push(Segment::Key(key.to_owned())),
                None if inner.starts_with('?') || inner == "*" => {
                    return Err("filters and wildcards are not supported");
                }
                None => path.push(Segment::Index(
                    inner.parse().map_err(|_| "index is not a number")?,
                )),
            }
            s = &rest[end + 1..];
        } else {
            return Err("expected . or [");
        }
    }
    Ok(path)
}

/// Follows a path into a JSON value.
pub fn lookup<'v>(mut v: &'v Value, path: &[Segment]) -> Option<&'v Value> {
    for seg in path {
        v = match (seg, v) {
            (Segment::Key(k), Value::Object(map)) => map.get(k)?,
            (Segment::Index(i), Value::Array(items)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(v)
}

/// Writes a JSON value the way a selection expression sees it.
pub fn stringify(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => out.push_str(s),
        Value::Null => {}
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => {
            let _ = write!(out, "{n}");
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                stringify(item, out);
            }
            out.push(']');
        }
        Value::Object(_) => {
            let _ = write!(out, "{v}");
        }
    }
}

#[cfg(test)]
mod tests;
