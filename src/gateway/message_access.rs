//! A message's access log line (`[websocket] access_log`): what the client
//! was told — the integration's status, or the error frame the gateway
//! answered with and why — and never the message's text.

use super::Stage;
use crate::conn::{BAD_REQUEST_BODY, Connection, ErrorFrame, Id};
use crate::snapshot::Snapshot;
use crate::telemetry::{ExecutionError, access};

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
    access::websocket(&access::WsLine {
        request_id: Some(request_id.as_str()),
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
    });
}
