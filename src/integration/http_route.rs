//! Calling an HTTP route's integration: `aws_proxy` (the Lambda event in the
//! route's payload format, POSTed to the backend, its answer read as AWS
//! reads it), `http_proxy` (the request passed on, the answer streamed back)
//! and `mock` (a fixed answer, its body a template over the request).

use bytes::Bytes;
use serde_json::Value;

use super::client::Streamed;
use super::http_event::{self, HttpFacts};
use super::http_proxy::{self, ProxyRoute};
use super::http_response::{self, HttpReply};
use super::share::Claim;
use super::{CallError, HttpClient};
use crate::config::{HttpIntegration, MockConfig, PayloadFormat};
use crate::routing::{ContextVar, Scope};

/// What an HTTP route's integration answered.
#[derive(Debug)]
pub enum HttpAnswer {
    /// Read whole (`aws_proxy`, `mock`).
    Whole(HttpReply),
    /// The backend's response, its body still arriving (`http_proxy`).
    Streamed(http::Response<Streamed>),
}

/// The route facts a call needs beside the request.
#[derive(Debug, Clone, Copy)]
pub struct RouteFacts<'a> {
    /// The integration.
    pub integration: &'a HttpIntegration,
    /// The greedy parameter's name, if any.
    pub greedy: Option<&'a str>,
    /// Whether the route is `$default`.
    pub is_default: bool,
    /// `overwrite:path`: the backend path of an `http_proxy` call, encoded.
    pub path: Option<&'a str>,
}

/// Calls the route's integration for one request. `max_answer` caps the bytes
/// read from an `aws_proxy` backend; `claim`, the client's place in its fair
/// share, is held as long as the call's backend slot.
pub async fn call(
    route: RouteFacts<'_>,
    client: &HttpClient,
    f: &HttpFacts<'_>,
    body: Bytes,
    max_answer: usize,
    claim: Option<Claim>,
) -> Result<HttpAnswer, CallError> {
    match route.integration {
        HttpIntegration::Mock(m) => Ok(HttpAnswer::Whole(mock(m, f))),
        HttpIntegration::AwsProxy {
            target,
            payload_format,
        } => {
            let event = match payload_format {
                PayloadFormat::V2 => http_event::v2_json(f),
                PayloadFormat::V1 => http_event::v1_json(f),
            };
            let req = http::Request::post(target.uri.clone())
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Bytes::from(event))
                .map_err(|e| CallError::Failed(format!("cannot build the request: {e}")))?;
            let (status, answer) = client.send(req, target.timeout, max_answer).await?;
            if !(200..300).contains(&status) {
                return Err(CallError::Failed(format!("backend answered HTTP {status}")));
            }
            http_response::decode(*payload_format, &answer)
                .map(HttpAnswer::Whole)
                .map_err(|e| CallError::Failed(e.to_string()))
        }
        HttpIntegration::HttpProxy { uri, timeout } => {
            let proxy = ProxyRoute {
                uri,
                greedy: route.greedy,
                is_default: route.is_default,
                path: route.path,
            };
            let req = http_proxy::request(proxy, f, body)?;
            let mut resp = client.stream(req, *timeout, claim).await?;
            http_proxy::strip_hop_by_hop(resp.headers_mut());
            Ok(HttpAnswer::Streamed(resp))
        }
    }
}

fn mock(m: &MockConfig, f: &HttpFacts<'_>) -> HttpReply {
    let body = m.body.as_ref().map_or_else(Bytes::new, |t| {
        let json = t
            .needs_json()
            .then(|| serde_json::from_slice(f.body).ok())
            .flatten();
        Bytes::from(t.render(&RequestScope { f, json }))
    });
    HttpReply {
        status: m.status,
        headers: m.headers.clone(),
        body,
    }
}

/// A mock template's view of the request: `$request.body`, `$context.*`,
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
