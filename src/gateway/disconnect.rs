//! The disconnect phase: `$disconnect`, exactly once per accepted connection
//! (the session, or for a lost node's connection a surviving node, calls it).

use super::{Gateway, Stage};
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
        let _ = self.call(snap, stage, route, &ev).await;
    }
}
