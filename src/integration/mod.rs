//! Backend integrations: `aws_proxy` (to a URL or a Lambda function),
//! `http_proxy` and `mock`.
//!
//! [`invoke`] turns one WebSocket event into one [`Reply`] or a [`CallError`];
//! `http_route::call` does the same for an HTTP request. Both send events
//! through [`target::deliver`], as request authorizers do. Neither knows of
//! sessions or the registry; the gateway decides what a reply means (accept
//! a connection, send a frame, nothing).

pub mod client;
pub mod event;
pub mod forwarded;
pub mod framing;
pub mod http_event;
pub mod http_proxy;
pub mod http_response;
pub mod http_route;
pub mod lambda;
pub mod mock;
pub mod model;
pub mod outgoing;
pub mod pool;
pub mod response;
pub mod share;
pub mod target;
mod wire;

use crate::ws::Frame;
use bytes::Bytes;

use crate::routing::uri::UriTemplate;
use crate::telemetry::ExecutionError;
pub use client::HttpClient;
pub use event::{EventContext, EventType, Handshake};
pub use mock::Mock;
pub use model::{EventTarget, Integration};
use target::deliver;

/// What an integration answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Lambda `statusCode`, HTTP status, or the mock's status.
    pub status: u16,
    /// Response headers.
    pub headers: Vec<(String, String)>,
    /// The reply for two-way routes, if any.
    pub body: Option<Payload>,
}

/// A reply body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Sent as a text frame.
    Text(String),
    /// Sent as a binary frame.
    Binary(Bytes),
}

/// Why an integration produced no usable reply. The text is for logs only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No answer within the integration's timeout.
    #[error("timed out")]
    Timeout,
    /// Refused, reset, failed status, or a malformed answer.
    #[error("{0}")]
    Failed(String),
    /// Lambda gave no result: counted apart, by kind.
    #[error("{0}")]
    Lambda(LambdaError),
}

/// Why AWS Lambda gave no usable result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LambdaError {
    /// The function ran and failed (`X-Amz-Function-Error`).
    #[error("the function failed (X-Amz-Function-Error)")]
    Function,
    /// Lambda's 429 `TooManyRequestsException`.
    #[error("Lambda throttled the call (429)")]
    Throttled,
    /// Lambda's own 5xx.
    #[error("Lambda service error (HTTP {0})")]
    Service(u16),
    /// The event (or result) is over Lambda's 6 MB limit.
    #[error("payload over Lambda's 6 MB limit")]
    TooLarge,
}

impl CallError {
    /// The kind it is counted as.
    pub fn kind(&self) -> ExecutionError {
        match self {
            CallError::Timeout => ExecutionError::Timeout,
            CallError::Failed(_) => ExecutionError::Failed,
            CallError::Lambda(LambdaError::Function) => ExecutionError::FunctionError,
            CallError::Lambda(LambdaError::Throttled) => ExecutionError::Throttled,
            CallError::Lambda(LambdaError::Service(_)) => ExecutionError::ServiceError,
            CallError::Lambda(LambdaError::TooLarge) => ExecutionError::TooLarge,
        }
    }
}

impl Reply {
    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

impl Payload {
    /// Its length in bytes (the frame's payload, without the frame header).
    pub fn len(&self) -> usize {
        match self {
            Payload::Text(t) => t.len(),
            Payload::Binary(b) => b.len(),
        }
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The frame this payload is sent as.
    pub fn into_frame(self) -> Frame {
        match self {
            Payload::Text(s) => Frame::text(&s),
            Payload::Binary(b) => Frame::binary(&b),
        }
    }
}

/// The mock's answer for this event.
pub fn mock_reply(m: &Mock, ev: &EventContext<'_>) -> Reply {
    let a = mock::answer(m, ev);
    Reply {
        status: a.status,
        headers: a.headers,
        body: a.body.map(Payload::Text),
    }
}

/// Calls the integration for one event.
///
/// `management_endpoint` (`http://host:port/stage`) is sent in the
/// `X-Sockgate-Management-Endpoint` header so backends can find the @connections
/// API without configuration.
pub async fn invoke(
    integration: &Integration,
    client: &HttpClient,
    ev: &EventContext<'_>,
    management_endpoint: &str,
    trace: &crate::trace::Trace,
) -> Result<Reply, CallError> {
    match integration {
        Integration::Mock(m) => Ok(mock_reply(m, ev)),
        // A WebSocket event has one shape: the format is an HTTP route's.
        Integration::AwsProxy { target, .. } => {
            let headers = [("x-sockgate-management-endpoint", management_endpoint)];
            let event = Bytes::from(ev.to_json());
            let max = client.max_response_bytes();
            let answer = deliver(
                client,
                &target.backend,
                target.timeout,
                event,
                &headers,
                trace,
                max,
            );
            let body = answer.await?.into_result()?;
            response::decode(&body).map_err(|e| CallError::Failed(e.to_string()))
        }
        Integration::HttpProxy { uri, timeout } => {
            let body = Bytes::copy_from_slice(ev.body.unwrap_or_default().as_bytes());
            let req = request(uri, ev, management_endpoint, trace, body)?;
            let (status, body) = client.post(req, *timeout).await?;
            if status >= 500 {
                return Err(CallError::Failed(format!("backend answered HTTP {status}")));
            }
            let body = (!body.is_empty()).then(|| match std::str::from_utf8(&body) {
                Ok(text) => Payload::Text(text.to_owned()),
                Err(_) => Payload::Binary(body),
            });
            Ok(Reply {
                status,
                headers: Vec::new(),
                body,
            })
        }
    }
}

/// An `http_proxy` call: the message, with the connection's context in headers.
fn request(
    uri: &UriTemplate,
    ev: &EventContext<'_>,
    management_endpoint: &str,
    trace: &crate::trace::Trace,
    body: Bytes,
) -> Result<http::Request<Bytes>, CallError> {
    // A WebSocket route's URI has no parameters (compiled so): parsed once.
    let fixed = uri.as_fixed().cloned();
    let fixed = fixed.ok_or_else(|| CallError::Failed("the URI has parameters".into()))?;
    let mut b = http::Request::post(fixed)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header("x-sockgate-management-endpoint", management_endpoint)
        .header("x-sockgate-connection-id", ev.connection_id.as_str())
        .header("x-sockgate-request-id", ev.request_id.as_str())
        .header("x-sockgate-event-type", ev.event_type.as_str())
        .header("x-sockgate-route-key", ev.route_key)
        .header("x-sockgate-stage", &*ev.info.stage)
        .header("x-sockgate-source-ip", &ev.info.source_ip)
        .header(
            "x-sockgate-connected-at",
            ev.info.connected_at_ms.to_string(),
        );
    if let Some(id) = &ev.message_id {
        b = b.header("x-sockgate-message-id", id.as_str());
    }
    for (name, value) in trace.headers() {
        b = b.header(name, value);
    }
    if ev.is_base64 {
        b = b.header("x-sockgate-is-base64-encoded", "true");
    }
    if let Some(canary) = ev.is_canary {
        b = b.header(
            "x-sockgate-is-canary-request",
            if canary { "true" } else { "false" },
        );
    }
    if let Some((code, reason)) = ev.disconnect {
        b = b.header("x-sockgate-disconnect-status-code", code.to_string());
        // A client's close reason is free UTF-8; when it is not valid header
        // text it is left out (the status code is always there).
        if let Ok(v) = http::HeaderValue::from_str(reason) {
            b = b.header("x-sockgate-disconnect-reason", v);
        }
    }
    // A custom route key is free text from the config and may not be valid header
    // text: that is an integration failure with a clear log line, never a request
    // silently sent without its headers.
    b.body(body)
        .map_err(|e| CallError::Failed(format!("cannot build the backend request: {e}")))
}
