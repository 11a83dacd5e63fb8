//! The message phase: route one message and call its integration; the client
//! gets the reply on a two-way route, or AWS's error frame.

use std::sync::Arc;

use tracing::{debug, warn};

use super::message_access::{self, Told, log};
use super::{Gateway, Route, Stage};
use crate::clock;
use crate::conn::{Connection, ErrorFrame, Id, bad_request_body};
use crate::integration::Integration;
use crate::integration::{self, CallError, EventContext, EventType};
use crate::routing::{self, Selected};
use crate::snapshot::{RouteModels, Snapshot};
use crate::telemetry::{ClientError, ExecutionError};
use crate::ws::Frame;

/// An inbound data message.
#[derive(Debug)]
pub enum Inbound {
    /// A text message.
    Text(String),
    /// A binary message, passed on base64-encoded.
    Base64(String),
}

impl Inbound {
    fn as_str(&self) -> &str {
        match self {
            Inbound::Text(t) => t.as_str(),
            Inbound::Base64(s) => s,
        }
    }
}

// === impl Gateway: messages ===

impl Gateway {
    /// Routes one message and starts its integration call. Runs on the
    /// connection's session task (so inline answers are queued without a wake-up).
    pub fn on_message(
        self: &Arc<Self>,
        snap: &Arc<Snapshot>,
        stage: &Arc<Stage>,
        conn: &Arc<Connection>,
        msg: Inbound,
    ) {
        let is_base64 = matches!(msg, Inbound::Base64(_));
        let text = msg.as_str();
        let mut parsed = routing::Message::new(text, stage.parse_json && !is_base64);
        let route = match stage.table.select(&parsed) {
            Selected::Route(_, route) => Arc::clone(route),
            Selected::NoRoute => {
                stage.metrics.client_error(ClientError::NoRoute);
                let (rid, frame) = (Id::random(), ErrorFrame::Forbidden);
                conn.push_from_session(Frame::text(&frame.render(&conn.id, &rid)).into());
                // The selected key is the client's own text: not logged.
                log(snap, stage, conn, "", &rid, Told::Refused(frame), None);
                return;
            }
        };
        route.metrics.messages_in.increment(1);
        let shared = match self.throttle(snap, stage, &message_subject(snap, stage, conn, &route)) {
            Ok(shared) => shared,
            Err(level) => {
                // Not sent to the integration; the connection stays open.
                let (rid, frame) = (Id::random(), too_many(level));
                conn.push_from_session(Frame::text(&frame.render(&conn.id, &rid)).into());
                log(
                    snap,
                    stage,
                    conn,
                    &route.key,
                    &rid,
                    Told::Refused(frame),
                    None,
                );
                return;
            }
        };
        if route.models.is_some() && parsed.json.is_none() && !is_base64 {
            // Parsed once here, and the integration reuses it.
            parsed.json = serde_json::from_str(text).ok();
        }
        if let Some(models) = &route.models
            && let Err(errors) = validate(models, stage, text, parsed.json.as_ref())
        {
            stage.metrics.client_error(ClientError::BadRequest);
            debug!(route = %route.key, ?errors, "Message does not match its model.");
            let details = models.detailed.then_some(errors.as_slice());
            let rid = Id::random();
            let frame = bad_request_body(&conn.id, &rid, details);
            conn.push_from_session(Frame::text(&frame).into());
            log(snap, stage, conn, &route.key, &rid, Told::BadRequest, None);
            return;
        }
        let max_reply = snap.ws.max_reply_bytes;
        if let Integration::Mock(mock) = &route.integration
            && shared.is_empty()
        {
            // Mocks are pure: answer inline, without a task or an in-flight slot.
            let json = parsed.json.take();
            let ev = EventContext {
                body: Some(text),
                message_id: Some(Id::random()),
                is_base64,
                body_json: json.as_ref(),
                ..self.event(snap, EventType::Message, stage, conn, &route.key)
            };
            let reply = integration::mock_reply(mock, &ev);
            // Inline, so not awaited: with a cluster the reconciler subscribes
            // to any newly joined group within milliseconds.
            let _ = self.apply_membership(snap, conn, &reply);
            let (frame, told) = reply_frame(&route, conn, &ev.request_id, Ok(reply), max_reply);
            if let Some(frame) = frame {
                conn.push_from_session(frame.into());
            }
            log(snap, stage, conn, &route.key, &ev.request_id, told, None);
            return;
        }
        conn.begin_call();
        let call = Call {
            // The call finishes with the generation that selected its route,
            // even if a reload swaps in another meanwhile.
            snap: Arc::clone(snap),
            stage: Arc::clone(stage),
            conn: Arc::clone(conn),
            json: parsed.json.take(),
            route,
            shared,
            msg,
        };
        tokio::spawn(call.run(Arc::clone(self)));
    }
}

/// A message whose route calls out (or waits on the cluster's throttle), on
/// a task of its own.
struct Call {
    snap: Arc<Snapshot>,
    stage: Arc<Stage>,
    conn: Arc<Connection>,
    route: Arc<Route>,
    msg: Inbound,
    json: Option<serde_json::Value>,
    shared: Vec<crate::throttle::Shared>,
}

impl Call {
    async fn run(self, gw: Arc<Gateway>) {
        let Call {
            snap,
            stage,
            conn,
            route,
            msg,
            json,
            shared,
        } = self;
        // Cluster-wide limits are decided in Redis, off the session task.
        if !shared.is_empty()
            && let Err(level) = gw.throttle_shared(&snap, &stage, shared).await
        {
            let (rid, frame) = (Id::random(), too_many(level));
            conn.push_reply(Frame::text(&frame.render(&conn.id, &rid)).into());
            log(
                &snap,
                &stage,
                &conn,
                &route.key,
                &rid,
                Told::Refused(frame),
                None,
            );
            conn.end_call();
            return;
        }
        let ev = EventContext {
            body: Some(msg.as_str()),
            message_id: Some(Id::random()),
            is_base64: matches!(msg, Inbound::Base64(_)),
            body_json: json.as_ref(),
            ..gw.event(&snap, EventType::Message, &stage, &conn, &route.key)
        };
        // The message's span of its connection's trace: what its call carries.
        let trace = gw.span_of(&snap, &conn.info);
        // The clock is read only for the access log and the span.
        let started = (snap.ws.access_log || gw.spans().records(&trace)).then(clock::now);
        let result = match &route.integration {
            Integration::Mock(mock) => Ok(integration::mock_reply(mock, &ev)),
            _ => gw.call(&snap, &stage, &route, &ev, &trace).await,
        };
        let elapsed = started.map(|s| s.elapsed());
        let took = elapsed.map(|e| e.as_millis() as u64);
        if let Ok(reply) = &result {
            let joined = gw.apply_membership(&snap, &conn, reply);
            gw.delivery().sync_groups(&joined).await;
        }
        let max_reply = snap.ws.max_reply_bytes;
        let (frame, told) = reply_frame(&route, &conn, &ev.request_id, result, max_reply);
        if let Some(frame) = frame
            && !conn.push_reply(frame.into())
        {
            debug!(conn.id = %conn.id, stage = %stage.name, "Reply dropped: the connection has ended.");
        }
        let request_id = &ev.request_id;
        message_access::span(
            &gw, &trace, &stage, &conn, &route.key, request_id, told, elapsed,
        );
        log(&snap, &stage, &conn, &route.key, request_id, told, took);
        conn.end_call();
    }
}

/// Checks a message against its route's models: the model its selection
/// expression picks (else `$default`; no model at all fails, as on AWS).
fn validate(
    models: &RouteModels,
    stage: &Stage,
    text: &str,
    json: Option<&serde_json::Value>,
) -> Result<(), Vec<String>> {
    let key = models.selection.as_ref().map_or_else(
        || routing::DEFAULT.to_owned(),
        |t| t.render(&BodyScope { text, json, stage }),
    );
    let Some(model) = models.pick(&key) else {
        return Err(vec![format!("no model for {key:?} and no $default model")]);
    };
    match json {
        Some(j) => model.check_value(j),
        None => model.check(text.as_bytes()),
    }
}

/// A model selection expression's view of a message.
struct BodyScope<'a> {
    text: &'a str,
    json: Option<&'a serde_json::Value>,
    stage: &'a Stage,
}

impl routing::Scope for BodyScope<'_> {
    fn body_text(&self) -> Option<&str> {
        Some(self.text)
    }
    fn body_json(&self) -> Option<&serde_json::Value> {
        self.json
    }
    fn context(&self, _var: routing::ContextVar, _out: &mut String) {}
    fn stage_var(&self, name: &str) -> Option<&str> {
        self.stage.variables.get(name).map(String::as_str)
    }
}

/// AWS's error frame for a throttled message.
fn too_many(level: crate::throttle::Level) -> ErrorFrame {
    match level {
        crate::throttle::Level::Quota => ErrorFrame::LimitExceeded,
        _ => ErrorFrame::TooManyRequests,
    }
}

/// Who sent a message, for throttling (the principal is looked up only when
/// the stage limits principals).
fn message_subject<'a>(
    snap: &'a Snapshot,
    stage: &Stage,
    conn: &'a Connection,
    route: &'a Route,
) -> crate::throttle::Subject<'a> {
    let principal = stage
        .limits
        .principal
        .and(conn.info.auth.authorizer.as_deref())
        .and_then(|a| a.get("principalId"))
        .and_then(|p| p.as_str());
    crate::throttle::Subject {
        connection: Some(&conn.throttle),
        ip: Some(&conn.info.source_ip),
        api_key: conn.info.auth.api_key_id.as_deref(),
        plan: conn
            .info
            .auth
            .api_key_id
            .as_deref()
            .and_then(|k| Some((snap.plans.get(k)?.as_ref(), k))),
        principal,
        route: route.throttle.as_ref(),
        account: true,
    }
}

/// What the client gets for an integration's result: its reply on a two-way
/// route, AWS's error frame on a failure, nothing otherwise; and what it
/// was told, for the access log. A reply over `max_reply_bytes` is a
/// failure: it bounds what one call can queue for a client (the README's
/// per-connection formula counts on it).
fn reply_frame(
    route: &Route,
    conn: &Connection,
    request_id: &Id,
    result: Result<integration::Reply, CallError>,
    max_reply_bytes: usize,
) -> (Option<Frame>, Told) {
    let failed = |frame: ErrorFrame, kind| {
        let text = Frame::text(&frame.render(&conn.id, request_id));
        (Some(text), Told::Failed(frame, kind))
    };
    match result {
        Ok(reply) => {
            if reply.status >= 400 {
                route.metrics.integration_errors.increment(1);
            }
            let told = Told::Status(reply.status);
            match reply.body {
                Some(body) if route.two_way => {
                    if body.len() <= max_reply_bytes {
                        return (Some(body.into_frame()), told);
                    }
                    route.metrics.execution_error(ExecutionError::Failed);
                    warn!(
                        conn.id = %conn.id, route = %route.key, request.id = %request_id,
                        bytes = body.len(), max_reply_bytes,
                        "Integration reply exceeds max_reply_bytes; the client gets an Internal server error frame."
                    );
                    failed(ErrorFrame::InternalServerError, ExecutionError::Failed)
                }
                _ => (None, told),
            }
        }
        Err(e @ CallError::Timeout) => failed(ErrorFrame::Timeout, e.kind()),
        Err(e @ (CallError::Failed(_) | CallError::Lambda(_))) => {
            failed(ErrorFrame::InternalServerError, e.kind())
        }
    }
}
