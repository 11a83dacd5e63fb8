//! The connect phase: the stage's API key and authorizer, then `$connect`
//! while the upgrade is held.

use std::sync::Arc;

use tracing::warn;

use super::{Gateway, Stage};
use crate::auth::connect::{Admitted, Refused, SourceContext, check_api_key, handshake_value};
use crate::auth::{Ask, execute_api_arn};
use crate::conn::{ConnInfo, Connection, Id};
use crate::integration::{CallError, EventContext, EventType, Handshake};
use crate::snapshot::Snapshot;
use crate::telemetry::ConnectOutcome;
use crate::trace::Trace;

/// Why `$connect` refused a connection (mapped to an HTTP status in `http::respond`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectError {
    /// The integration answered this non-2xx status.
    Rejected(u16),
    /// The integration failed or answered garbage (502).
    Failed,
    /// The integration timed out (504).
    Timeout,
}

// === impl Gateway: connect ===

impl Gateway {
    /// Runs the stage's API-key check and authorizer for an upgrade (AWS's
    /// order: before `$connect`).
    pub async fn check_connect(
        &self,
        snap: &Snapshot,
        stage: &Stage,
        id: &Id,
        info: &ConnInfo,
        handshake: &Handshake,
        offered: &[String],
    ) -> Result<Admitted, Refused> {
        let mut admitted = Admitted {
            api_key_id: check_api_key(&stage.api_keys, handshake)?,
            ..Admitted::default()
        };
        let Some(authorizer) = &stage.authorizer else {
            return Ok(admitted);
        };
        let sources = SourceContext {
            route_key: "$connect",
            http_method: "GET",
            stage: &stage.name,
            source_ip: &info.source_ip,
            stage_variables: &stage.variables,
        };
        let read = |s: &_| handshake_value(s, handshake, offered, &sources);
        let arn = || execute_api_arn(&snap.api.id, &stage.name, "$connect");
        // The upgrade's span: the authorizer's call is made within it.
        let trace = Trace::resume(&info.trace, snap.config.tracing.sample_ratio);
        let ask = Ask {
            stage: &stage.name,
            arn: &arn,
            read: &read,
            trace: &trace,
        };
        let event =
            |_: &[String], arn: &str| self.authorizer_event(snap, stage, id, info, handshake, arn);
        let ctx = authorizer
            .run(ask, event, &snap.client)
            .await
            .map_err(Refused::Auth)?;
        admitted.authorizer = Some(Arc::new(ctx.websocket()));
        Ok(admitted)
    }

    /// The Lambda REQUEST authorizer event: the CONNECT event plus `type` and `methodArn`.
    fn authorizer_event(
        &self,
        snap: &Snapshot,
        stage: &Stage,
        id: &Id,
        info: &ConnInfo,
        handshake: &Handshake,
        method_arn: &str,
    ) -> Vec<u8> {
        let ev = EventContext {
            handshake: Some(handshake),
            ..self.event_for(snap, EventType::Connect, stage, id, info, "$connect")
        };
        let mut value: serde_json::Value =
            serde_json::from_slice(&ev.to_json()).unwrap_or_default();
        if let Some(obj) = value.as_object_mut() {
            obj.insert("type".into(), "REQUEST".into());
            obj.insert("methodArn".into(), method_arn.into());
            obj.entry("stageVariables")
                .or_insert_with(|| serde_json::json!({}));
        }
        serde_json::to_vec(&value).unwrap_or_default()
    }

    /// Runs `$connect` while the upgrade is held. `Ok` carries the subprotocol the
    /// integration chose, if any.
    pub async fn on_connect(
        &self,
        snap: &Snapshot,
        stage: &Stage,
        conn: &Arc<Connection>,
        handshake: &Handshake,
    ) -> Result<Option<String>, ConnectError> {
        let Some(route) = &stage.connect else {
            // No `$connect` integration: every connection that got this far is accepted.
            stage.metrics.connect(ConnectOutcome::Accepted);
            return Ok(None);
        };
        let ev = EventContext {
            handshake: Some(handshake),
            ..self.event(snap, EventType::Connect, stage, conn, &route.key)
        };
        // The upgrade's span: the `$connect` call is made within it.
        let trace = Trace::resume(&conn.info.trace, snap.config.tracing.sample_ratio);
        match self.call(snap, stage, route, &ev, &trace).await {
            Ok(reply) if reply.is_success() => {
                stage.metrics.connect(ConnectOutcome::Accepted);
                let joined = self.apply_membership(snap, conn, &reply);
                // Before the 101: a group send after the client opens reaches it.
                self.delivery().sync_groups(&joined).await;
                Ok(reply.header("sec-websocket-protocol").map(str::to_owned))
            }
            Ok(reply) if reply.status < 200 => {
                // A 1xx cannot be the final status of a refused upgrade.
                warn!(stage = %stage.name, status = reply.status, "The $connect integration answered a 1xx statusCode; answering 502.");
                stage.metrics.connect(ConnectOutcome::IntegrationFailed);
                Err(ConnectError::Failed)
            }
            Ok(reply) => {
                stage.metrics.connect(ConnectOutcome::Rejected);
                Err(ConnectError::Rejected(reply.status))
            }
            Err(CallError::Timeout) => {
                stage.metrics.connect(ConnectOutcome::IntegrationTimeout);
                Err(ConnectError::Timeout)
            }
            Err(CallError::Failed(_) | CallError::Lambda(_)) => {
                stage.metrics.connect(ConnectOutcome::IntegrationFailed);
                Err(ConnectError::Failed)
            }
        }
    }
}
