//! A message's access log line (`[websocket] access_log`): what the client
//! was told — the integration's status, or the error frame the gateway
//! answered with and why — and never the message's text.

use std::time::Duration;

use opentelemetry::KeyValue;

use super::spans::Finished;
use super::{Gateway, Stage};
use crate::conn::{BAD_REQUEST_BODY, Connection, ErrorFrame, Id};
use crate::snapshot::Snapshot;
use crate::telemetry::{ExecutionError, access};
use crate::trace::Trace;

/// What a message's client was told, as the message path decided it.
#[derive(Debug, Clone, Copy)]
pub(super) enum Told {
    /// The integration's answer, with its status (sent back or not).
    Status(u16),
    /// The gateway refused it with this frame (no route, throttled).
    Refused(ErrorFrame),
    /// It does not match its route's model ("Bad request body", 400).
    BadRequest,
    /// Its call failed: this frame went back, for this kind of failure.
    Failed(ErrorFrame, ExecutionError),
}

impl Told {
    /// `status`, `errorMessage` and `integrationErrorMessage`.
    fn fields(self) -> (u16, Option<&'static str>, Option<&'static str>) {
        match self {
            Told::Status(status) => (status, None, None),
            Told::Refused(frame) => (frame.status(), Some(frame.message()), None),
            Told::BadRequest => (400, Some(BAD_REQUEST_BODY), None),
            Told::Failed(frame, kind) => {
                (frame.status(), Some(frame.message()), Some(kind.label()))
            }
        }
    }
}

/// Records a message's span, when its trace is recorded (`gateway::spans`):
/// its route, status and ids, as its access line has them. `took`: from the
/// message's dispatch to its answer.
#[allow(clippy::too_many_arguments)]
pub(super) fn span(
    gw: &Gateway,
    trace: &Trace,
    stage: &Stage,
    conn: &Connection,
    route_key: &str,
    request_id: &Id,
    told: Told,
    took: Option<Duration>,
) {
    gw.spans().record(trace, || {
        let (status, error, integration_error) = told.fields();
        let mut attributes = vec![
            KeyValue::new("sockgate.event_type", "MESSAGE"),
            KeyValue::new("sockgate.stage", stage.name.to_string()),
            KeyValue::new("sockgate.route_key", route_key.to_owned()),
            KeyValue::new("sockgate.connection_id", conn.id.as_str().to_owned()),
            KeyValue::new("sockgate.request_id", request_id.as_str().to_owned()),
            KeyValue::new("sockgate.status", i64::from(status)),
        ];
        if let Some(e) = error.or(integration_error) {
            attributes.push(KeyValue::new("error.type", e));
        }
        Finished {
            name: format!("WebSocket {route_key}"),
            took: took.unwrap_or_default(),
            status,
            attributes,
        }
    });
}

/// Writes a message's line, when `[websocket] access_log` is on. `took`:
/// how long its integration call took (none when no call was made).
pub(super) fn log(
    snap: &Snapshot,
    stage: &Stage,
    conn: &Connection,
    route_key: &str,
    request_id: &Id,
    told: Told,
    took: Option<u64>,
) {
    if !snap.ws.access_log {
        return;
    }
    let (status, error, integration_error) = told.fields();
    let trace = conn.info.trace.root();
    access::websocket(
        &access::WsLine {
            request_id: Some(request_id.as_str()),
            trace_id: trace.as_deref(),
            integration_latency_ms: took,
            error,
            integration_error,
            ..access::WsLine::new(
                "MESSAGE",
                conn.id.as_str(),
                &stage.name,
                &conn.info.source_ip,
                route_key,
                status,
            )
        },
        snap.ws_access_format.as_ref(),
    );
}
