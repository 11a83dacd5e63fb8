//! The public listener: WebSocket upgrades at `/{stage}`.
//!
//! An upgrade goes through, in order: the handshake checks (RFC 6455 §4.2.1,
//! `request`), admission (drain, `Origin`, per-IP caps, `max_connections`),
//! the stage's API key and authorizer, then `$connect` while the upgrade is
//! held; on success it answers 101 and hands the upgraded socket to a session
//! task. A connection can be reached from the moment `$connect` accepts it —
//! posts made before the 101 reaches the client are queued, not lost — and from
//! then on `$disconnect` fires exactly once, even if the client vanishes before
//! the upgrade completes.

mod request;

use crate::telemetry::access_format::AccessFormat;
use opentelemetry::KeyValue;

use crate::gateway::spans::Finished;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;
use tracing::{debug, info};

use super::head;
use super::peer::{self, Client, Link};
use super::respond::{Body, HandshakeError, empty};
use crate::auth::connect::Refused;
use crate::auth::{self, AuthFailure, admission};
use crate::clock;
use crate::conn::{ConnAuth, ConnInfo, Connection, Id};
use crate::gateway::{ConnectError, Gateway, Stage};
use crate::integration::Handshake;
use crate::session::{self, Held};
use crate::snapshot::Snapshot;
use crate::telemetry::{ClientError, ConnectOutcome, LogLimit, access};

/// Refused upgrades are logged at most 10 lines a second: a scan, or a
/// crowd of clients refused at once, is findable without flooding the log.
static REFUSED: LogLimit = LogLimit::new(10);

/// Serves one request on the public listener. A refused upgrade is logged
/// at the default level (its source, status and why; never its path,
/// headers or credentials).
pub async fn handle(gw: Arc<Gateway>, req: Request<Incoming>, link: Arc<Link>) -> Response<Body> {
    let source = link.peer.ip();
    let started = clock::now();
    let mut seen = Seen::default();
    let (resp, refused) = match upgrade(Arc::clone(&gw), req, link, &mut seen).await {
        Ok(resp) => (resp, None),
        Err(e) => {
            let resp = e.into_response();
            if let Some(held_back) = REFUSED.admit() {
                let status = resp.status().as_u16();
                info!(%source, status, reason = e.reason(), held_back, "WebSocket upgrade refused.");
            }
            (resp, Some(e.reason()))
        }
    };
    if seen.on {
        // AWS logs an accepted $connect as 200.
        let status = refused.map_or(200, |_| resp.status().as_u16());
        seen.log(&source.to_string(), status, refused);
    }
    if let Some(trace) = &seen.span {
        let status = refused.map_or(101, |_| resp.status().as_u16());
        gw.spans()
            .record(trace, || seen.finished(status, started.elapsed()));
    }
    resp
}

/// What an upgrade learned on its way, for its access log line: noted only
/// when the upgrade's generation has `[websocket] access_log` on, so an
/// upgrade without one copies nothing.
#[derive(Default)]
struct Seen {
    on: bool,
    stage: Option<Arc<str>>,
    ip: Option<String>,
    id: Option<Id>,
    /// How long `$connect`'s integration took.
    latency_ms: Option<u64>,
    /// The root of its `X-Amzn-Trace-Id`.
    trace: Option<String>,
    /// Its trace, when its span is recorded (`gateway::spans`).
    span: Option<crate::trace::Trace>,
    /// `[websocket] access_log_format`, compiled.
    format: Option<AccessFormat>,
}

impl Seen {
    /// Notes the client (its address, its trace); `span`: its span is recorded.
    fn client(&mut self, client: &Client, span: bool) {
        if span {
            self.span = Some(client.forwarded.trace.clone());
        }
        if self.on {
            self.ip = Some(client.source_ip().to_owned());
            self.trace = Some(client.forwarded.trace_root().to_owned());
        }
    }

    /// The upgrade's span: `status` 101 when it was accepted.
    fn finished(&self, status: u16, took: std::time::Duration) -> Finished {
        let mut attributes = vec![
            KeyValue::new("sockgate.event_type", "CONNECT"),
            KeyValue::new("sockgate.route_key", "$connect"),
            KeyValue::new("http.response.status_code", i64::from(status)),
        ];
        if let Some(stage) = &self.stage {
            attributes.push(KeyValue::new("sockgate.stage", stage.to_string()));
        }
        if let Some(id) = &self.id {
            attributes.push(KeyValue::new(
                "sockgate.connection_id",
                id.as_str().to_owned(),
            ));
        }
        Finished {
            name: "WebSocket $connect".to_owned(),
            took,
            status,
            attributes,
        }
    }

    /// The `$connect` line; `peer` stands for the client until it is known.
    fn log(&self, peer: &str, status: u16, refused: Option<&str>) {
        access::websocket(
            &access::WsLine {
                error: refused,
                integration_latency_ms: self.latency_ms,
                trace_id: self.trace.as_deref(),
                ..access::WsLine::new(
                    "CONNECT",
                    self.id.as_ref().map_or("", Id::as_str),
                    self.stage.as_deref().unwrap_or(""),
                    self.ip.as_deref().unwrap_or(peer),
                    "$connect",
                    status,
                )
            },
            self.format.as_ref(),
        );
    }
}

async fn upgrade(
    gw: Arc<Gateway>,
    req: Request<Incoming>,
    link: Arc<Link>,
    seen: &mut Seen,
) -> Result<Response<Body>, HandshakeError> {
    // One configuration generation for the whole upgrade (the session then
    // follows reloads on its own).
    let snap = gw.snapshot_arc();
    seen.on = snap.ws.access_log;
    if seen.on {
        seen.format = snap.ws_access_format.clone();
    }
    // The head made canonical, and the gateway's forwarding fields in it,
    // before anything reads it (`http::head`, `http::peer`).
    let (mut parts, body) = req.into_parts();
    head::sanitize(&mut parts.uri, &mut parts.headers, parts.version).map_err(|e| {
        debug!(error = %e, "Upgrade head refused.");
        HandshakeError::BadRequest
    })?;
    let client = peer::forward(
        &snap.trusted_proxies,
        &mut parts.headers,
        &link,
        snap.config.tracing.sample_ratio,
    );
    seen.client(&client, gw.spans().records(&client.forwarded.trace));
    let mut req = Request::from_parts(parts, body);
    let stage_name = Snapshot::ws_stage(req.uri().path());
    // The canary takes its share of new connections, each for its whole life.
    let (stage, canary) = snap
        .assign(stage_name)
        .ok_or(HandshakeError::UnknownStage)?;
    let stage = Arc::clone(stage);
    seen.stage = Some(Arc::clone(&stage.name));
    let accept = request::check_handshake(&req).inspect_err(|e| {
        if *e != HandshakeError::UpgradeRequired {
            stage.metrics.client_error(ClientError::BadHandshake);
        }
    })?;
    let held = admit(&gw, &snap, &stage, req.headers(), &client)?;
    let source_ip = client.source_ip().to_owned();
    // `$connect` counts against its route's bucket, the source IP's and the
    // node's, as a request does (before any authorizer runs).
    let subject = crate::throttle::Subject {
        ip: Some(&source_ip),
        route: stage.connect.as_ref().and_then(|r| r.throttle.as_ref()),
        account: true,
        ..Default::default()
    };
    if gw.throttle_all(&snap, &stage, &subject).await.is_err() {
        stage.metrics.connect(ConnectOutcome::Throttled);
        return Err(HandshakeError::TooManyRequests);
    }
    let handshake = request::handshake_facts(&req, &client.forwarded);
    let mut info = conn_info(&snap, &stage, req.headers(), source_ip);
    info.canary = canary;
    info.trace = client.forwarded.trace.keep();
    let id = Id::for_node(gw.delivery().node());
    seen.id = Some(id);
    let mut offered = request::offered_protocols(req.headers());
    info.auth = authorize(&gw, &snap, &stage, &id, &info, &handshake, &offered).await?;
    // A token offered as a subprotocol is a credential, never a protocol to select.
    if let Some(token) = auth::offered_token(&offered).map(str::to_owned) {
        offered.retain(|p| *p != token);
    }
    let allowed = &snap.admission.allowed_subprotocols;
    let fallback = request::choose_subprotocol(allowed, &offered)?;
    let (deflate, extension) = request::choose_deflate(&stage, req.headers()).unzip();
    let ws = &snap.ws;
    let has_connect = stage.connect.is_some();
    let conn = Arc::new(
        Connection::new(id, info, ws.send_queue_messages, ws.send_queue_bytes)
            .with_deflate(deflate),
    );
    // Only the upgrade handle outlives this handler; the request's headers are
    // freed when it returns.
    let on_upgrade = hyper::upgrade::on(&mut req);
    let pending = Pending {
        snap,
        stage,
        conn,
        handshake,
        offered,
        on_upgrade,
        held,
    };
    // The clock is read only for the access log, for a `$connect` route.
    let started = (seen.on && has_connect).then(clock::now);
    let chosen = connect(gw, pending).await;
    seen.latency_ms = started.map(|s| s.elapsed().as_millis() as u64);
    let subprotocol = chosen?.or(fallback);
    Ok(switching_protocols(&accept, subprotocol, extension))
}

/// Admission, before any authorizer or integration runs: the drain, the
/// browser `Origin`, the source IP's caps, then a `max_connections` slot.
/// Returns the slots the connection will hold.
fn admit(
    gw: &Gateway,
    snap: &Snapshot,
    stage: &Stage,
    headers: &HeaderMap,
    client: &Client,
) -> Result<Held, HandshakeError> {
    let refuse = |outcome, err| {
        stage.metrics.connect(outcome);
        Err(err)
    };
    if gw.shutdown().is_draining() {
        return refuse(ConnectOutcome::Unavailable, HandshakeError::Unavailable);
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if admission::check_origin(&snap.admission, origin).is_err() {
        return refuse(
            ConnectOutcome::Unauthorized,
            HandshakeError::OriginNotAllowed,
        );
    }
    let ip = match gw.admission().admit_ip(&snap.admission, client.ip) {
        Ok(permit) => permit,
        Err(_) => return refuse(ConnectOutcome::Throttled, HandshakeError::TooManyRequests),
    };
    let Ok(permit) = Arc::clone(gw.connection_permits()).try_acquire_owned() else {
        return refuse(ConnectOutcome::Unavailable, HandshakeError::Unavailable);
    };
    // The drain guard is taken before $connect runs, so a drain that starts
    // meanwhile waits for this connection's $disconnect too.
    let held = Held {
        permit,
        ip,
        guard: gw.shutdown().track(),
    };
    Ok(held)
}

/// The handshake facts every event of the connection carries.
fn conn_info(snap: &Snapshot, stage: &Stage, headers: &HeaderMap, source_ip: String) -> ConnInfo {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    ConnInfo {
        stage: Arc::clone(&stage.name),
        connected_at_ms: clock::now_ms(),
        source_ip,
        user_agent: text(header::USER_AGENT).map(str::to_owned),
        domain_name: match &snap.api.domain_name {
            Some(d) => d.clone(),
            None => text(header::HOST).unwrap_or("localhost").to_owned(),
        },
        auth: ConnAuth::default(),
        canary: false,
        trace: crate::trace::TraceRef::default(),
    }
}

/// The API key and the authorizer (AWS's order: before `$connect`); refusals
/// are counted and logged with their reason, which never reaches the client.
async fn authorize(
    gw: &Gateway,
    snap: &Snapshot,
    stage: &Stage,
    id: &Id,
    info: &ConnInfo,
    handshake: &Handshake,
    offered: &[String],
) -> Result<ConnAuth, HandshakeError> {
    match gw
        .check_connect(snap, stage, id, info, handshake, offered)
        .await
    {
        Ok(admitted) => Ok(ConnAuth {
            authorizer: admitted.authorizer,
            api_key_id: admitted.api_key_id,
        }),
        Err(refused) => {
            let (outcome, err) = match refused {
                Refused::ApiKey => (ConnectOutcome::Unauthorized, HandshakeError::ApiKey),
                Refused::Auth(f) => {
                    debug!(stage = %stage.name, reason = f.reason(), "Authorizer refused an upgrade.");
                    let outcome = match f {
                        AuthFailure::Unauthorized(_) | AuthFailure::Forbidden(_) => {
                            ConnectOutcome::Unauthorized
                        }
                        _ => ConnectOutcome::AuthorizerFailed,
                    };
                    (outcome, HandshakeError::Auth(f))
                }
            };
            stage.metrics.connect(outcome);
            Err(err)
        }
    }
}

/// An upgrade that passed every check but `$connect`.
struct Pending {
    snap: Arc<Snapshot>,
    stage: Arc<Stage>,
    conn: Arc<Connection>,
    handshake: Handshake,
    offered: Vec<String>,
    on_upgrade: hyper::upgrade::OnUpgrade,
    held: Held,
}

/// Runs `$connect` in its own task: if the client gives up and hyper drops this
/// handler, a `$connect` the backend has already accepted still completes, and
/// the connection is then abandoned through the normal end path (`$disconnect`
/// 1006). Returns the subprotocol `$connect` chose.
async fn connect(gw: Arc<Gateway>, p: Pending) -> Result<Option<HeaderValue>, HandshakeError> {
    let (accepted_tx, accepted_rx) = oneshot::channel();
    tokio::spawn(async move {
        let Pending {
            snap,
            stage,
            conn,
            handshake,
            offered,
            on_upgrade,
            held,
        } = p;
        // Boxed, and owning its inputs: the `$connect` phase's state is freed when
        // it ends instead of sizing this task for the connection's whole life.
        let result = Box::pin(decide(
            Arc::clone(&gw),
            snap,
            Arc::clone(&stage),
            Arc::clone(&conn),
            handshake,
            offered,
        ))
        .await;
        let accepted = result.is_ok();
        if accepted {
            gw.delivery().opened(&conn);
            stage.metrics.connections_open.increment(1.0);
        }
        let handler_waiting = accepted_tx.send(result).is_ok();
        match (accepted, handler_waiting) {
            (true, true) => run_upgraded(on_upgrade, gw, stage, conn, held).await,
            (true, false) => session::abandon(gw, stage, conn, held).await,
            (false, _) => drop(held),
        }
    });
    // The task always sends unless it panicked; treat that as an integration failure.
    accepted_rx
        .await
        .unwrap_or(Err(HandshakeError::Connect(ConnectError::Failed)))
}

/// Runs `$connect` and checks the subprotocol it picks.
async fn decide(
    gw: Arc<Gateway>,
    snap: Arc<Snapshot>,
    stage: Arc<Stage>,
    conn: Arc<Connection>,
    handshake: Handshake,
    offered: Vec<String>,
) -> Result<Option<HeaderValue>, HandshakeError> {
    let chosen = gw
        .on_connect(&snap, &stage, &conn, &handshake)
        .await
        .map_err(HandshakeError::Connect)?;
    let allowed = &snap.admission.allowed_subprotocols;
    match chosen {
        Some(p) if offered.contains(&p) && (allowed.is_empty() || allowed.contains(&p)) => {
            Ok(HeaderValue::from_str(&p).ok())
        }
        Some(_) => {
            // The client would fail a handshake naming a protocol it did not offer.
            tracing::warn!(stage = %stage.name, "The $connect integration chose a subprotocol the client did not offer; answering 502.");
            Err(HandshakeError::Connect(ConnectError::Failed))
        }
        None => Ok(None),
    }
}

async fn run_upgraded(
    on_upgrade: hyper::upgrade::OnUpgrade,
    gw: Arc<Gateway>,
    stage: Arc<Stage>,
    conn: Arc<Connection>,
    held: Held,
) {
    match on_upgrade.await {
        // The upgraded stream stays boxed by hyper. Taking it back unboxed
        // (a downcast to the listener's own stream type) was measured with
        // the hold case: 3,285 bytes per idle connection against 3,156
        // boxed, so the boxed path is the only one.
        // The session is a task of its own: this one (with `$connect`'s
        // state around it) ends here instead of wrapping the session for its
        // whole life (see `session::run`).
        Ok(upgraded) => {
            let start = session::Start {
                io: TokioIo::new(upgraded),
                leftover: bytes::Bytes::new(),
                gw,
                stage,
                conn,
                held,
            };
            tokio::spawn(session::run(Box::new(start)));
        }
        Err(e) => {
            debug!(conn.id = %conn.id, error = %e, "Upgrade did not complete.");
            session::abandon(gw, stage, conn, held).await;
        }
    }
}

/// The 101 answer.
fn switching_protocols(
    accept: &str,
    subprotocol: Option<HeaderValue>,
    extension: Option<HeaderValue>,
) -> Response<Body> {
    let mut resp = empty(StatusCode::SWITCHING_PROTOCOLS);
    let h = resp.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    if let Some(p) = subprotocol {
        h.insert(header::SEC_WEBSOCKET_PROTOCOL, p);
    }
    if let Some(e) = extension {
        h.insert(header::SEC_WEBSOCKET_EXTENSIONS, e);
    }
    resp
}
