//! The disconnect phase: `$disconnect`, exactly once per accepted connection
//! (the session, or for a lost node's connection a surviving node, calls it).

use opentelemetry::KeyValue;

use super::spans::Finished;
use super::{Gateway, Stage};
use crate::clock;
use crate::conn::{CloseReason, Connection};
use crate::integration::{EventContext, EventType};
use crate::snapshot::Snapshot;

// === impl Gateway: disconnect ===

impl Gateway {
    /// Fires `$disconnect` once for an accepted connection.
    pub async fn on_disconnect(
        &self,
        snap: &Snapshot,
        stage: &Stage,
        conn: &Connection,
        reason: &CloseReason,
    ) {
        let Some(route) = &stage.disconnect else {
            return;
        };
        let (code, text) = reason.disconnect_status();
        let ev = EventContext {
            disconnect: Some((code, &text)),
            ..self.event(snap, EventType::Disconnect, stage, conn, &route.key)
        };
        let trace = self.span_of(snap, &conn.info);
        let started = clock::now();
        let result = self.call(snap, stage, route, &ev, &trace).await;
        self.spans().record(&trace, || Finished {
            name: "WebSocket $disconnect".to_owned(),
            took: started.elapsed(),
            status: if result.is_ok() { 200 } else { 500 },
            attributes: vec![
                KeyValue::new("sockgate.event_type", "DISCONNECT"),
                KeyValue::new("sockgate.stage", stage.name.to_string()),
                KeyValue::new("sockgate.connection_id", conn.id.as_str().to_owned()),
                KeyValue::new("sockgate.disconnect_status", i64::from(code)),
            ],
        });
    }
}
