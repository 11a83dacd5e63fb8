//! The `mock` integration, for both protocols: a fixed status and headers,
//! and a body rendered from its template over what the caller shows of the
//! request (a WebSocket event, or an HTTP request's [`RequestScope`]).

use bytes::Bytes;
use serde_json::Value;

use super::http_event::HttpFacts;
use super::http_response::HttpReply;
use crate::routing::{ContextVar, Scope, Template};

/// A mock integration, compiled: its status, headers and body template.
#[derive(Debug, Clone, PartialEq)]
pub struct Mock {
    /// Status (decides accept/reject on `$connect`).
    pub status: u16,
    /// Body template; `None` sends nothing.
    pub body: Option<Template>,
    /// Response headers, as configured.
    pub headers: Vec<(String, String)>,
}

/// A mock's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockAnswer {
    /// Its status.
    pub status: u16,
    /// Its headers, as configured.
    pub headers: Vec<(String, String)>,
    /// Its body, rendered; `None` when it has none.
    pub body: Option<String>,
}

/// The mock's answer over `scope`.
pub fn answer(m: &Mock, scope: &dyn Scope) -> MockAnswer {
    MockAnswer {
        status: m.status,
        headers: m.headers.clone(),
        body: m.body.as_ref().map(|t| t.render(scope)),
    }
}

/// The mock's answer to an HTTP request.
pub fn answer_http(m: &Mock, f: &HttpFacts<'_>) -> HttpReply {
    // The body is parsed only when the template reads `$request.body.…`.
    let json = m
        .body
        .as_ref()
        .is_some_and(|t| t.needs_json())
        .then(|| serde_json::from_slice(f.body).ok())
        .flatten();
    let a = answer(m, &RequestScope { f, json });
    HttpReply {
        status: a.status,
        headers: a.headers,
        body: a.body.map_or_else(Bytes::new, Bytes::from),
    }
}

/// A mock template's view of an HTTP request: `$request.body`, `$context.*`,
/// `$stageVariables.*`.
struct RequestScope<'a> {
    f: &'a HttpFacts<'a>,
    json: Option<Value>,
}

impl Scope for RequestScope<'_> {
    fn body_text(&self) -> Option<&str> {
        std::str::from_utf8(self.f.body).ok()
    }

    fn body_json(&self) -> Option<&Value> {
        self.json.as_ref()
    }

    fn context(&self, var: ContextVar, out: &mut String) {
        let f = self.f;
        match var {
            ContextVar::RequestId => out.push_str(f.request_id),
            ContextVar::RouteKey => out.push_str(f.route_key),
            ContextVar::Stage => out.push_str(f.stage),
            ContextVar::ApiId => out.push_str(f.api_id),
            ContextVar::DomainName => out.push_str(f.domain_name),
            ContextVar::RequestTimeEpoch => out.push_str(&f.time_ms.to_string()),
            ContextVar::SourceIp => out.push_str(f.source_ip),
            ContextVar::UserAgent => {
                let ua = f.headers.get(http::header::USER_AGENT);
                out.push_str(ua.and_then(|v| v.to_str().ok()).unwrap_or(""));
            }
            // WebSocket-only variables are empty on HTTP routes.
            ContextVar::ConnectionId
            | ContextVar::MessageId
            | ContextVar::EventType
            | ContextVar::ConnectedAt => {}
        }
    }

    fn stage_var(&self, name: &str) -> Option<&str> {
        self.f.stage_variables.get(name).map(String::as_str)
    }
}
