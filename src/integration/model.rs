//! The compiled integration model: one type for what a WebSocket route
//! (`$connect` and `$disconnect` included) or an HTTP route calls, built from
//! `config::IntegrationConfig` with a stage's variables when the snapshot is
//! compiled (`snapshot::compile`). What a kind does with a WebSocket event or
//! an HTTP request is in `integration::invoke` and `http_route::call`; both
//! send events through the one delivery path, `target::deliver`.

use std::time::Duration;

use super::mock::Mock;
use crate::config::{Backend, PayloadFormat};
use crate::routing::uri::UriTemplate;

/// Where a route's events or requests go.
#[derive(Debug, Clone, PartialEq)]
pub enum Integration {
    /// A Lambda proxy event (a WebSocket event; on HTTP routes, payload
    /// `format` 2.0 or 1.0) delivered to a URL or a Lambda function.
    AwsProxy {
        /// The backend and its timeout.
        target: EventTarget,
        /// HTTP routes' payload format (WebSocket events have one shape).
        format: PayloadFormat,
    },
    /// The message or request passed on to a URL.
    HttpProxy {
        /// The URL, stage variables filled in; an HTTP route's `{param}`s
        /// are filled per request (a WebSocket route has none).
        uri: UriTemplate,
        /// Per-call timeout; HTTP: until the response headers arrive.
        timeout: Duration,
    },
    /// An answer from config.
    Mock(Mock),
}

/// Where an event goes: the backend that reads it, and how long it may take.
#[derive(Debug, Clone, PartialEq)]
pub struct EventTarget {
    /// An HTTP endpoint or a Lambda function.
    pub backend: Backend,
    /// Per-call timeout.
    pub timeout: Duration,
}

impl Integration {
    /// Whether a WebSocket message must be parsed as JSON for it (a mock
    /// body reading `$request.body.…`).
    pub fn needs_json(&self) -> bool {
        match self {
            Integration::Mock(m) => m.body.as_ref().is_some_and(|t| t.needs_json()),
            Integration::AwsProxy { .. } | Integration::HttpProxy { .. } => false,
        }
    }

    /// The host it calls (for logs and the access log); empty for a mock.
    pub fn host(&self) -> &str {
        match self {
            Integration::AwsProxy { target, .. } => super::target::name(&target.backend),
            Integration::HttpProxy { uri, .. } => uri.authority(),
            Integration::Mock(_) => "",
        }
    }

    /// Whether it calls a backend (a mock calls none).
    pub fn calls_backend(&self) -> bool {
        !matches!(self, Integration::Mock(_))
    }
}
