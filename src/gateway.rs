//! The lifecycle phases of a connection, and the runtime state they share.
//!
//! ```text
//!   upgrade request ──► on_connect ──(2xx)──► 101 ──► session ──► on_message* ──► on_disconnect
//!                          │                                           │
//!                          └─(non-2xx / fail / timeout)─► HTTP error   └─ reply / error frame
//! ```
//!
//! Phases use only the connection's shared state ([`Connection`]) and the
//! [`Stage`] it connected to; they never touch sockets or hyper types.
//! `on_message` runs mock integrations inline (they are pure) and spawns a task
//! per backend call, so one slow backend call never stalls the connection's
//! other traffic; the session stops reading once `max_inflight_per_connection`
//! calls are outstanding (backpressure to the client's TCP window).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::Semaphore;
use tracing::{debug, warn};

use crate::auth::Authorizer;
use crate::auth::admission::Admission;
use crate::clock;
use crate::cluster::Cluster;
use crate::config::{
    ApiConfig, Config, IntegrationConfig, ManagementAuth, StageConfig, WebSocketConfig,
};
use crate::delivery::groups::Groups;
use crate::integration::{self, CallError, EventContext, EventType, Handshake, HttpClient};
use crate::registry::Registry;
use crate::routing::{self, RouteTable, Selected};
use crate::server::shutdown::Shutdown;
use crate::session::close::{CloseReason, ErrorFrame};
use crate::session::id::{Id, NodeTag};
use crate::session::mailbox::{ConnInfo, Connection};
use crate::telemetry::{
    ClientError, ConnectOutcome, ExecutionError, Metrics, RouteMetrics, StageMetrics,
};
use crate::ws::Frame;

/// Everything the phases share. One per node, behind an `Arc`.
#[derive(Debug)]
pub struct Gateway {
    /// `[api]`
    pub api: ApiConfig,
    /// `[websocket]`
    pub ws: WebSocketConfig,
    /// Stages by name.
    pub stages: HashMap<String, Arc<Stage>>,
    /// This node's tag: the first characters of its connection ids.
    pub node: NodeTag,
    /// Live connections.
    pub registry: Registry,
    /// Group memberships of this node's connections.
    pub groups: Groups,
    /// The link to other nodes, when `[cluster]` is configured (set once at start).
    pub cluster: OnceLock<Arc<Cluster>>,
    /// Backend client.
    pub client: HttpClient,
    /// Metrics registry.
    pub metrics: Metrics,
    /// Drain signal and task tracking.
    pub shutdown: Shutdown,
    /// Open-connection permits (`server.max_connections`): a session holds one
    /// until it ends, so the bound covers connections still running `$disconnect`.
    pub connection_permits: Arc<Semaphore>,
    /// Take `sourceIp` from X-Forwarded-For.
    pub trust_forwarded_for: bool,
    /// `http://host:port` of the management listener, for backends.
    pub management_base: String,
    /// Who may call the management API.
    pub management_auth: ManagementAuth,
    /// Origin and per-IP checks on upgrades.
    pub admission: Admission,
    /// Time a client has to send a request body (management API).
    pub body_timeout: Duration,
}

/// A deployed stage: its routes resolved with its variables.
#[derive(Debug)]
pub struct Stage {
    /// Stage name.
    pub name: Arc<str>,
    /// Stage variables.
    pub variables: BTreeMap<String, String>,
    /// `$connect`, if configured.
    pub connect: Option<Arc<Route>>,
    /// `$disconnect`, if configured.
    pub disconnect: Option<Arc<Route>>,
    /// Custom routes and `$default`.
    pub table: RouteTable<Arc<Route>>,
    /// Whether messages must be parsed as JSON (selection or a template needs it).
    pub parse_json: bool,
    /// Stage metric handles.
    pub metrics: StageMetrics,
    /// `http://host:port/stage` for backends.
    pub management_endpoint: String,
    /// What `$connect` must pass, if anything.
    pub authorizer: Option<Arc<Authorizer>>,
    /// API keys (name, key), one of which `$connect` must present; empty: none.
    pub api_keys: Vec<(String, String)>,
}

/// One route of one stage.
#[derive(Debug)]
pub struct Route {
    /// The route key.
    pub key: Arc<str>,
    /// Where its events go.
    pub integration: IntegrationConfig,
    /// Send the integration's reply back to the client.
    pub two_way: bool,
    /// Route metric handles.
    pub metrics: RouteMetrics,
}

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

// === impl Gateway ===

impl Gateway {
    /// Builds the runtime state from a validated config.
    pub fn new(config: &Config, management_base: String) -> Gateway {
        let metrics = Metrics::new();
        // One instance per authorizer, shared by the stages that use it (and its caches).
        let authorizers: HashMap<String, Arc<Authorizer>> = config
            .authorizers
            .iter()
            .map(|(name, cfg)| (name.clone(), Arc::new(Authorizer::new(cfg))))
            .collect();
        let stages = config
            .stages
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    Arc::new(Stage::new(
                        s,
                        &config.websocket,
                        &metrics,
                        &management_base,
                        &authorizers,
                    )),
                )
            })
            .collect();
        Gateway {
            api: config.api.clone(),
            ws: config.websocket.clone(),
            stages,
            node: NodeTag::random(),
            registry: Registry::default(),
            groups: Groups::default(),
            cluster: OnceLock::new(),
            client: HttpClient::new(&config.integrations),
            metrics,
            shutdown: Shutdown::default(),
            connection_permits: Arc::new(Semaphore::new(config.server.max_connections)),
            trust_forwarded_for: config.server.trust_forwarded_for,
            management_base,
            management_auth: config.management.clone(),
            admission: Admission::new(config.admission.clone()),
            body_timeout: config.server.request_body_timeout,
        }
    }

    /// Runs `$connect` while the upgrade is held. `Ok` carries the subprotocol the
    /// integration chose, if any.
    pub async fn on_connect(
        &self,
        stage: &Stage,
        conn: &Arc<Connection>,
        handshake: &Handshake,
    ) -> Result<Option<String>, ConnectError> {
        let Some(route) = &stage.connect else {
            // No `$connect` integration: every connection that got this far is accepted.
            stage.metrics.connect(ConnectOutcome::Accepted);
            return Ok(None);
        };
        let ev = self.event(EventType::Connect, stage, conn, &route.key);
        let ev = EventContext {
            handshake: Some(handshake),
            ..ev
        };
        let result = self.call(stage, route, &ev).await;
        match result {
            Ok(reply) if reply.is_success() => {
                stage.metrics.connect(ConnectOutcome::Accepted);
                let joined = self.apply_membership(stage, conn, &reply);
                // Before the 101: a group send after the client opens reaches it.
                self.sync_groups(&joined).await;
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
            Err(CallError::Failed(_)) => {
                stage.metrics.connect(ConnectOutcome::IntegrationFailed);
                Err(ConnectError::Failed)
            }
        }
    }

    /// Routes one message and starts its integration call. Runs on the
    /// connection's session task (so inline answers are queued without a wake-up).
    pub fn on_message(self: &Arc<Self>, stage: &Arc<Stage>, conn: &Arc<Connection>, msg: Inbound) {
        let is_base64 = matches!(msg, Inbound::Base64(_));
        let text = msg.as_str();
        let mut parsed = routing::Message::new(text, stage.parse_json && !is_base64);
        let route = match stage.table.select(&parsed) {
            Selected::Route(_, route) => Arc::clone(route),
            Selected::NoRoute => {
                stage.metrics.client_error(ClientError::NoRoute);
                conn.push_from_session(Frame::text(
                    &ErrorFrame::Forbidden.render(&conn.id, &Id::random()),
                ));
                return;
            }
        };
        route.metrics.messages_in.increment(1);
        if let IntegrationConfig::Mock(mock) = &route.integration {
            // Mocks are pure: answer inline, without a task or an in-flight slot.
            let json = parsed.json.take();
            let ev = EventContext {
                body: Some(text),
                message_id: Some(Id::random()),
                is_base64,
                body_json: json.as_ref(),
                ..self.event(EventType::Message, stage, conn, &route.key)
            };
            let reply = integration::mock_reply(mock, &ev);
            // Inline, so not awaited: with a cluster the reconciler subscribes
            // to any newly joined group within milliseconds.
            let _ = self.apply_membership(stage, conn, &reply);
            let max = self.ws.max_reply_bytes;
            if let Some(frame) = reply_frame(&route, conn, &ev.request_id, Ok(reply), max) {
                conn.push_from_session(frame);
            }
            return;
        }
        conn.begin_call();
        let (gw, stage, conn) = (Arc::clone(self), Arc::clone(stage), Arc::clone(conn));
        tokio::spawn(async move {
            let ev = EventContext {
                body: Some(msg.as_str()),
                message_id: Some(Id::random()),
                is_base64,
                ..gw.event(EventType::Message, &stage, &conn, &route.key)
            };
            let result = gw.call(&stage, &route, &ev).await;
            if let Ok(reply) = &result {
                let joined = gw.apply_membership(&stage, &conn, reply);
                gw.sync_groups(&joined).await;
            }
            let max = gw.ws.max_reply_bytes;
            if let Some(frame) = reply_frame(&route, &conn, &ev.request_id, result, max)
                && !conn.push_reply(frame)
            {
                debug!(conn.id = %conn.id, stage = %stage.name, "Reply dropped: the connection has ended.");
            }
            conn.end_call();
        });
    }

    /// Fires `$disconnect` once for an accepted connection.
    pub async fn on_disconnect(&self, stage: &Stage, conn: &Connection, reason: &CloseReason) {
        let Some(route) = &stage.disconnect else {
            return;
        };
        let (code, text) = reason.disconnect_status();
        let ev = self.event(EventType::Disconnect, stage, conn, &route.key);
        let ev = EventContext {
            disconnect: Some((code, &text)),
            ..ev
        };
        let _ = self.call(stage, route, &ev).await;
    }

    /// Calls an integration, timing it and logging failures (never payloads).
    async fn call(
        &self,
        stage: &Stage,
        route: &Route,
        ev: &EventContext<'_>,
    ) -> Result<integration::Reply, CallError> {
        let started = tokio::time::Instant::now();
        // Boxed: an HTTP call's future is a few KiB, and it would otherwise be
        // part of every connection task's size for the connection's whole life
        // (`$disconnect` runs in the session's task), not just during the call.
        let result = Box::pin(integration::invoke(
            &route.integration,
            &self.client,
            ev,
            &stage.management_endpoint,
        ))
        .await;
        if !matches!(route.integration, IntegrationConfig::Mock(_)) {
            route
                .metrics
                .latency
                .record(started.elapsed().as_secs_f64());
        }
        if let Err(e) = &result {
            let kind = match e {
                CallError::Timeout => ExecutionError::Timeout,
                CallError::Failed(_) => ExecutionError::Failed,
            };
            route.metrics.execution_error(kind);
            warn!(
                conn.id = %ev.connection_id, stage = %stage.name, route = %route.key, request.id = %ev.request_id,
                event = ev.event_type.as_str(), error = %e, elapsed_ms = started.elapsed().as_millis() as u64,
                "Integration call failed."
            );
        }
        result
    }

    /// The fields every event has; callers add the rest with struct update.
    fn event<'a>(
        &'a self,
        event_type: EventType,
        stage: &'a Stage,
        conn: &'a Connection,
        route_key: &'a str,
    ) -> EventContext<'a> {
        self.event_for(event_type, stage, &conn.id, &conn.info, route_key)
    }

    /// [`Gateway::event`] for a connection that does not exist yet (authorizers).
    pub(crate) fn event_for<'a>(
        &'a self,
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
            api_id: &self.api.id,
            request_id: Id::random(),
            request_time_ms: clock::now_ms(),
            message_id: None,
            body: None,
            is_base64: false,
            handshake: None,
            disconnect: None,
            stage_variables: &stage.variables,
            body_json: None,
        }
    }

    /// How long a session waits for the client's close frame.
    pub fn close_timeout(&self) -> Duration {
        self.ws.close_timeout
    }
}

// === impl Stage ===

impl Stage {
    fn new(
        cfg: &StageConfig,
        ws: &WebSocketConfig,
        metrics: &Metrics,
        management_base: &str,
        authorizers: &HashMap<String, Arc<Authorizer>>,
    ) -> Stage {
        let mut custom = HashMap::new();
        let (mut connect, mut disconnect, mut default) = (None, None, None);
        let mut template_json = false;
        for r in &cfg.routes {
            template_json |= integration::needs_json(&r.integration);
            let route = Arc::new(Route {
                key: Arc::from(r.key.as_str()),
                integration: r.integration.clone(),
                two_way: r.route_response,
                metrics: metrics.route(&cfg.name, &r.key),
            });
            match r.key.as_str() {
                routing::CONNECT => connect = Some(route),
                routing::DISCONNECT => disconnect = Some(route),
                routing::DEFAULT => default = Some(route),
                key => {
                    custom.insert(key.to_owned(), route);
                }
            }
        }
        let table = RouteTable::new(ws.selection.clone(), custom, default);
        Stage {
            name: Arc::from(cfg.name.as_str()),
            variables: cfg.variables.clone(),
            connect,
            disconnect,
            parse_json: table.needs_json() || template_json,
            table,
            metrics: metrics.stage(&cfg.name),
            management_endpoint: format!("{management_base}/{}", cfg.name),
            authorizer: cfg
                .authorizer
                .as_ref()
                .and_then(|a| authorizers.get(a))
                .cloned(),
            api_keys: cfg.api_keys.clone(),
        }
    }
}

/// What the client gets for an integration's result: its reply on a two-way
/// route, AWS's error frame on a failure, nothing otherwise. A reply over
/// `max_reply_bytes` is a failure: it bounds what one call can queue for a
/// client (the README's per-connection formula counts on it).
fn reply_frame(
    route: &Route,
    conn: &Connection,
    request_id: &Id,
    result: Result<integration::Reply, CallError>,
    max_reply_bytes: usize,
) -> Option<Frame> {
    match result {
        Ok(reply) => {
            if reply.status >= 400 {
                route.metrics.integration_errors.increment(1);
            }
            match reply.body {
                Some(body) if route.two_way => {
                    if body.len() <= max_reply_bytes {
                        return Some(body.into_frame());
                    }
                    route.metrics.execution_error(ExecutionError::Failed);
                    warn!(
                        conn.id = %conn.id, route = %route.key, request.id = %request_id,
                        bytes = body.len(), max_reply_bytes,
                        "Integration reply exceeds max_reply_bytes; the client gets an Internal server error frame."
                    );
                    Some(Frame::text(
                        &ErrorFrame::InternalServerError.render(&conn.id, request_id),
                    ))
                }
                _ => None,
            }
        }
        Err(CallError::Timeout) => Some(Frame::text(
            &ErrorFrame::Timeout.render(&conn.id, request_id),
        )),
        Err(CallError::Failed(_)) => Some(Frame::text(
            &ErrorFrame::InternalServerError.render(&conn.id, request_id),
        )),
    }
}
