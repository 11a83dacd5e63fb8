//! What every phase shares: calling a route's integration (timed, failures
//! logged without payloads) and the fields every event has.

use crate::clock;
use crate::conn::{ConnInfo, Connection, Id};
use crate::integration::{self, CallError, EventContext, EventType};
use crate::trace::Trace;
use tracing::warn;

use super::{Gateway, Route, Stage};
use crate::snapshot::Snapshot;

// === impl Gateway: calls and events ===

impl Gateway {
    /// Calls an integration, timing it and logging failures (never payloads).
    /// `trace` is the event's span ([`Gateway::span_of`]), which the call carries.
    pub(crate) async fn call(
        &self,
        snap: &Snapshot,
        stage: &Stage,
        route: &Route,
        ev: &EventContext<'_>,
        trace: &Trace,
    ) -> Result<integration::Reply, CallError> {
        let started = clock::now();
        // Boxed: an HTTP call's future is a few KiB, and it would otherwise be
        // part of every connection task's size for the connection's whole life
        // (`$disconnect` runs in the session's task), not just during the call.
        let result = Box::pin(integration::invoke(
            &route.integration,
            &snap.client,
            ev,
            &stage.management_endpoint,
            trace,
        ))
        .await;
        if route.integration.calls_backend() {
            route
                .metrics
                .latency
                .record(started.elapsed().as_secs_f64());
        }
        if let Err(e) = &result {
            route.metrics.execution_error(e.kind());
            // Bounded per route: a dead backend fails every call.
            if let Some(held_back) = route.failures.admit() {
                warn!(
                    conn.id = %ev.connection_id, stage = %stage.name, route = %route.key, request.id = %ev.request_id,
                    event = ev.event_type.as_str(), kind = e.kind().label(), backend = route.integration.host(),
                    error = %e, elapsed_ms = started.elapsed().as_millis() as u64, held_back, "Integration call failed."
                );
            }
        }
        result
    }

    /// A span of its own for an event of a connection, in the connection's
    /// trace: what the event's backend call carries, and what its span
    /// records. Made only for an event that calls a backend or is recorded
    /// (a mock message makes none).
    pub(crate) fn span_of(&self, snap: &Snapshot, info: &ConnInfo) -> Trace {
        Trace::child_of(&info.trace, snap.config.tracing.sample_ratio)
    }

    /// The fields every event has; callers add the rest with struct update.
    pub(crate) fn event<'a>(
        &'a self,
        snap: &'a Snapshot,
        event_type: EventType,
        stage: &'a Stage,
        conn: &'a Connection,
        route_key: &'a str,
    ) -> EventContext<'a> {
        self.event_for(snap, event_type, stage, &conn.id, &conn.info, route_key)
    }

    /// [`Gateway::event`] for a connection that does not exist yet (authorizers).
    pub(crate) fn event_for<'a>(
        &'a self,
        snap: &'a Snapshot,
        event_type: EventType,
        stage: &'a Stage,
        id: &'a Id,
        info: &'a ConnInfo,
        route_key: &'a str,
    ) -> EventContext<'a> {
        EventContext {
            event_type,
            route_key,
            connection_id: id,
            info,
            api_id: &snap.api.id,
            request_id: Id::random(),
            request_time_ms: clock::now_ms(),
            message_id: None,
            body: None,
            is_base64: false,
            handshake: None,
            disconnect: None,
            stage_variables: &stage.variables,
            body_json: None,
            is_canary: stage.canary,
        }
    }
}

// === impl Gateway: membership from replies ===

impl Gateway {
    /// Applies an integration reply's `X-Sockgate-Join` / `X-Sockgate-Leave`
    /// headers to its connection; returns the groups this node just got its
    /// first member of (for `Delivery::sync_groups`).
    pub(crate) fn apply_membership(
        &self,
        snap: &Snapshot,
        conn: &std::sync::Arc<Connection>,
        reply: &integration::Reply,
    ) -> Vec<crate::conn::GroupKey> {
        use crate::delivery::{JOIN_HEADER, LEAVE_HEADER};
        self.delivery().apply_membership(
            conn,
            reply.header(JOIN_HEADER),
            reply.header(LEAVE_HEADER),
            snap.ws.max_groups_per_connection,
        )
    }
}
