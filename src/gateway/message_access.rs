//! A message's access log line (`[websocket] access_log`): its status — the
//! integration's, or that of the error frame the gateway answered with —
//! and never its text.

use super::{Route, Stage};
use crate::conn::{Connection, Id};
use crate::integration::{self, CallError};
use crate::snapshot::Snapshot;
use crate::telemetry::access;

/// The error message of a throttled message's frame.
pub(super) fn throttled(level: crate::throttle::Level) -> &'static str {
    match level {
        crate::throttle::Level::Quota => "Limit Exceeded",
        _ => "Too Many Requests",
    }
}

/// The access log line of a message the gateway answered itself (`status`
/// and the error frame's message), when `[websocket] access_log` is on.
pub(super) fn refused(
    snap: &Snapshot,
    stage: &Stage,
    conn: &Connection,
    route_key: &str,
    request_id: &Id,
    (status, error): (u16, &str),
) {
    if snap.ws.access_log {
        access::websocket(&access::WsLine {
            error: Some(error),
            ..message_line(stage, conn, route_key, request_id, status)
        });
    }
}

/// The access log line of a message whose integration ran (`took`: how
/// long its call took; none for an inline mock).
pub(super) fn answered(
    snap: &Snapshot,
    stage: &Stage,
    conn: &Connection,
    route: &Route,
    request_id: &Id,
    result: &Result<integration::Reply, CallError>,
    took: Option<u64>,
) {
    let too_big = |r: &integration::Reply| {
        route.two_way
            && r.body
                .as_ref()
                .is_some_and(|b| b.len() > snap.ws.max_reply_bytes)
    };
    let (status, error, kind) = match result {
        Ok(r) if too_big(r) => (500, Some("Internal server error"), Some("failed")),
        Ok(r) => (r.status, None, None),
        Err(CallError::Timeout) => (504, Some("Endpoint request timed out"), Some("timeout")),
        Err(e) => (500, Some("Internal server error"), Some(e.kind().label())),
    };
    access::websocket(&access::WsLine {
        integration_latency_ms: took,
        error,
        integration_error: kind,
        ..message_line(stage, conn, &route.key, request_id, status)
    });
}

fn message_line<'a>(
    stage: &'a Stage,
    conn: &'a Connection,
    route_key: &'a str,
    request_id: &'a Id,
    status: u16,
) -> access::WsLine<'a> {
    access::WsLine {
        event_type: "MESSAGE",
        request_id: Some(request_id.as_str()),
        connection_id: conn.id.as_str(),
        stage: &stage.name,
        ip: &conn.info.source_ip,
        route_key,
        status,
        integration_latency_ms: None,
        error: None,
        integration_error: None,
        disconnect: None,
        trace_id: None,
    }
}
