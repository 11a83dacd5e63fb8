//! Backend integrations: `aws_proxy`, `http_proxy` and `mock`.
//!
//! [`invoke`] turns one event into one [`Reply`] or a [`CallError`]. It knows
//! nothing of sessions or the registry; the gateway decides what a reply means
//! (accept a connection, send a frame, nothing).

pub mod client;
pub mod event;
pub mod forwarded;
pub mod framing;
pub mod http_event;
pub mod http_proxy;
pub mod http_response;
pub mod http_route;
pub mod outgoing;
pub mod pool;
pub mod response;
pub mod share;
mod wire;

use crate::ws::Frame;
use bytes::Bytes;

use crate::config::{HttpTarget, IntegrationConfig, MockConfig};
use crate::routing::Template;
pub use client::HttpClient;
pub use event::{EventContext, EventType, Handshake};

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

/// Whether this integration's templates read the message as JSON.
pub fn needs_json(integration: &IntegrationConfig) -> bool {
    match integration {
        IntegrationConfig::Mock(m) => m.body.as_ref().is_some_and(Template::needs_json),
        IntegrationConfig::AwsProxy(_) | IntegrationConfig::HttpProxy(_) => false,
    }
}

/// The mock's answer for this event.
pub fn mock_reply(m: &MockConfig, ev: &EventContext<'_>) -> Reply {
    Reply {
        status: m.status,
        headers: m.headers.clone(),
        body: m.body.as_ref().map(|t| Payload::Text(t.render(ev))),
    }
}

/// Calls the integration for one event.
///
/// `management_endpoint` (`http://host:port/stage`) is sent in the
/// `X-Sockgate-Management-Endpoint` header so backends can find the @connections
/// API without configuration.
pub async fn invoke(
    integration: &IntegrationConfig,
    client: &HttpClient,
    ev: &EventContext<'_>,
    management_endpoint: &str,
) -> Result<Reply, CallError> {
    match integration {
        IntegrationConfig::Mock(m) => Ok(mock_reply(m, ev)),
        IntegrationConfig::AwsProxy(target) => {
            let req = request(
                target,
                ev,
                management_endpoint,
                "application/json",
                Bytes::from(ev.to_json()),
                false,
            )?;
            let (status, body) = client.post(req, target.timeout).await?;
            if !(200..300).contains(&status) {
                return Err(CallError::Failed(format!("backend answered HTTP {status}")));
            }
            response::decode(&body).map_err(|e| CallError::Failed(e.to_string()))
        }
        IntegrationConfig::HttpProxy(target) => {
            let body = Bytes::copy_from_slice(ev.body.unwrap_or_default().as_bytes());
            let req = request(
                target,
                ev,
                management_endpoint,
                "text/plain; charset=utf-8",
                body,
                true,
            )?;
            let (status, body) = client.post(req, target.timeout).await?;
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

fn request(
    target: &HttpTarget,
    ev: &EventContext<'_>,
    management_endpoint: &str,
    content_type: &'static str,
    body: Bytes,
    context_headers: bool,
) -> Result<http::Request<Bytes>, CallError> {
    let mut b = http::Request::post(target.uri.clone())
        .header(http::header::CONTENT_TYPE, content_type)
        .header("x-sockgate-management-endpoint", management_endpoint);
    if context_headers {
        b = b
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
    }
    // A custom route key is free text from the config and may not be valid header
    // text: that is an integration failure with a clear log line, never a request
    // silently sent without its headers.
    b.body(body)
        .map_err(|e| CallError::Failed(format!("cannot build the backend request: {e}")))
}
