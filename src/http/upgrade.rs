//! The public listener: WebSocket upgrades at `/{stage}`.
//!
//! Checks the handshake (RFC 6455 §4.2.1), takes a connection permit, runs
//! `$connect` while the upgrade is held, and on success answers 101 and hands the
//! upgraded socket to a session task. A connection is in the registry from the
//! moment `$connect` accepts it — posts made before the 101 reaches the client are
//! queued, not lost — and from then on `$disconnect` fires exactly once, even if
//! the client vanishes before the upgrade completes.

use std::net::SocketAddr;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tracing::debug;

use super::respond::{Body, HandshakeError, empty};
use crate::auth::connect::Refused;
use crate::auth::{self, AuthFailure};
use crate::clock;
use crate::gateway::{ConnectError, Gateway, Stage};
use crate::integration::Handshake;
use crate::integration::event::canonical_header_name;
use crate::session::id::Id;
use crate::session::mailbox::{ConnAuth, ConnInfo, Connection};
use crate::session::{self, Held};
use crate::telemetry::ClientError;
use crate::telemetry::ConnectOutcome;
use crate::ws;

/// Serves one request on the public listener.
pub async fn handle(gw: Arc<Gateway>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    match upgrade(gw, req, peer).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn upgrade(
    gw: Arc<Gateway>,
    mut req: Request<Incoming>,
    peer: SocketAddr,
) -> Result<Response<Body>, HandshakeError> {
    let stage_name = req
        .uri()
        .path()
        .trim_start_matches('/')
        .trim_end_matches('/');
    let stage = gw
        .stages
        .get(stage_name)
        .cloned()
        .ok_or(HandshakeError::UnknownStage)?;
    let headers = req.headers();
    if !has_token(headers, header::UPGRADE, "websocket")
        || !has_token(headers, header::CONNECTION, "upgrade")
    {
        return Err(HandshakeError::UpgradeRequired);
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        stage.metrics.client_error(ClientError::BadHandshake);
        return Err(HandshakeError::UnsupportedVersion);
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .filter(|k| k.len() == 24);
    let (Some(key), &Method::GET) = (key, req.method()) else {
        stage.metrics.client_error(ClientError::BadHandshake);
        return Err(HandshakeError::BadRequest);
    };
    let accept = ws::accept_key(key.as_bytes());
    if gw.shutdown.is_draining() {
        stage
            .metrics
            .connect(crate::telemetry::ConnectOutcome::Unavailable);
        return Err(HandshakeError::Unavailable);
    }
    // Admission: the browser Origin, then the source IP's caps.
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    if gw.admission.check_origin(origin).is_err() {
        stage.metrics.connect(ConnectOutcome::Unauthorized);
        return Err(HandshakeError::OriginNotAllowed);
    }
    let source_ip = source_ip(&gw, headers, peer);
    let ip_permit = match source_ip.parse().map(|ip| gw.admission.admit_ip(ip)) {
        Ok(Ok(permit)) => permit,
        Ok(Err(_)) => {
            stage.metrics.connect(ConnectOutcome::Throttled);
            return Err(HandshakeError::TooManyRequests);
        }
        Err(_) => None,
    };
    let Ok(permit) = Arc::clone(&gw.connection_permits).try_acquire_owned() else {
        stage
            .metrics
            .connect(crate::telemetry::ConnectOutcome::Unavailable);
        return Err(HandshakeError::Unavailable);
    };

    let handshake = handshake_facts(&req);
    let mut info = ConnInfo {
        stage: Arc::clone(&stage.name),
        connected_at_ms: clock::now_ms(),
        source_ip,
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        domain_name: match &gw.api.domain_name {
            Some(d) => d.clone(),
            None => headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("localhost")
                .to_owned(),
        },
        auth: ConnAuth::default(),
    };
    let id = Id::for_node(gw.node);
    let mut offered_protocols: Vec<String> = offered_protocols(headers);
    // The API key and the authorizer, before `$connect` (AWS's order).
    let admitted = gw
        .check_connect(&stage, &id, &info, &handshake, &offered_protocols)
        .await
        .map_err(|refused| {
            let (outcome, err) = match refused {
                Refused::ApiKey => (ConnectOutcome::Unauthorized, HandshakeError::ApiKey),
                Refused::Auth(f) => {
                    debug!(stage = %stage.name, reason = f.reason(), "Authorizer refused an upgrade.");
                    let outcome = match f {
                        AuthFailure::Unauthorized(_) | AuthFailure::Forbidden(_) => ConnectOutcome::Unauthorized,
                        _ => ConnectOutcome::AuthorizerFailed,
                    };
                    (outcome, HandshakeError::Auth(f))
                }
            };
            stage.metrics.connect(outcome);
            err
        })?;
    info.auth = ConnAuth {
        authorizer: admitted.authorizer,
        api_key_id: admitted.api_key_id,
    };
    // A token offered as a subprotocol is a credential, never a protocol to select.
    if let Some(token) = auth::offered_token(&offered_protocols).map(str::to_owned) {
        offered_protocols.retain(|p| *p != token);
    }
    let chosen_default = choose_subprotocol(&gw, &offered_protocols)?;
    let conn = Arc::new(Connection::new(
        id,
        info,
        gw.ws.send_queue_messages,
        gw.ws.send_queue_bytes,
    ));
    // Only the upgrade handle outlives this handler; the request's headers are
    // freed when it returns.
    let on_upgrade = hyper::upgrade::on(&mut req);
    let held = Held {
        permit,
        ip: ip_permit,
        // Taken before $connect runs, so a drain that starts meanwhile waits for
        // this connection's $disconnect too.
        guard: gw.shutdown.track(),
    };
    // $connect runs in its own task: if the client gives up and hyper drops this
    // handler, a $connect the backend has already accepted still completes, and the
    // connection is then abandoned through the normal end path ($disconnect 1006).
    let (accepted_tx, accepted_rx) = oneshot::channel();
    tokio::spawn(async move {
        // Boxed, and owning its inputs: the `$connect` phase's state is freed when
        // it ends instead of sizing this task for the connection's whole life.
        let result = Box::pin(decide(
            Arc::clone(&gw),
            Arc::clone(&stage),
            Arc::clone(&conn),
            handshake,
            offered_protocols,
        ))
        .await
        .map(|chosen| chosen.or(chosen_default));
        let accepted = result.is_ok();
        if accepted {
            gw.registry.insert(Arc::clone(&conn));
            if let Some(cluster) = gw.cluster.get() {
                cluster.opened(&conn);
            }
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
    let subprotocol = accepted_rx
        .await
        .unwrap_or(Err(HandshakeError::Connect(ConnectError::Failed)))?;

    let mut resp = empty(StatusCode::SWITCHING_PROTOCOLS);
    let h = resp.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    if let Some(p) = subprotocol {
        h.insert(header::SEC_WEBSOCKET_PROTOCOL, p);
    }
    Ok(resp)
}

/// Runs `$connect` and checks the subprotocol it picks.
async fn decide(
    gw: Arc<Gateway>,
    stage: Arc<Stage>,
    conn: Arc<Connection>,
    handshake: Handshake,
    offered_protocols: Vec<String>,
) -> Result<Option<HeaderValue>, HandshakeError> {
    let chosen = gw
        .on_connect(&stage, &conn, &handshake)
        .await
        .map_err(HandshakeError::Connect)?;
    let allowed = &gw.admission.config().allowed_subprotocols;
    match chosen {
        Some(p)
            if offered_protocols.contains(&p) && (allowed.is_empty() || allowed.contains(&p)) =>
        {
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
        // On a plain TCP listener the socket is taken back from hyper, so the
        // session works on the `TcpStream` itself (no boxed I/O in between).
        Ok(upgraded) => match upgraded.downcast::<TokioIo<TcpStream>>() {
            Ok(parts) => {
                let io = parts.io.into_inner();
                session::run(io, parts.read_buf, gw, stage, conn, held).await;
            }
            Err(upgraded) => {
                let none = bytes::Bytes::new();
                session::run(TokioIo::new(upgraded), none, gw, stage, conn, held).await;
            }
        },
        Err(e) => {
            debug!(conn.id = %conn.id, error = %e, "Upgrade did not complete.");
            session::abandon(gw, stage, conn, held).await;
        }
    }
}

/// The subprotocol to answer when `$connect` picks none: with
/// `allowed_subprotocols`, the first offered one that is allowed; an offer with
/// none allowed is refused (a browser would fail the handshake anyway).
fn choose_subprotocol(
    gw: &Gateway,
    offered: &[String],
) -> Result<Option<HeaderValue>, HandshakeError> {
    let allowed = &gw.admission.config().allowed_subprotocols;
    if allowed.is_empty() || offered.is_empty() {
        return Ok(None);
    }
    offered
        .iter()
        .find(|p| allowed.contains(p))
        .map(|p| HeaderValue::from_str(p).ok())
        .ok_or(HandshakeError::SubprotocolNotAllowed)
}

fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The subprotocols the client offered, in its order.
fn offered_protocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

fn source_ip(gw: &Gateway, headers: &HeaderMap, peer: SocketAddr) -> String {
    if gw.trust_forwarded_for {
        let first = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .map(str::trim);
        if let Some(ip) = first.and_then(|s| s.parse::<std::net::IpAddr>().ok()) {
            return ip.to_string();
        }
    }
    peer.ip().to_string()
}

/// Headers (canonical casing, values as text) and query parameters for the CONNECT event.
fn handshake_facts<B>(req: &Request<B>) -> Handshake {
    let mut hs = Handshake::default();
    for (name, value) in req.headers() {
        // Connection and Upgrade are hop-by-hop; AWS's CONNECT events omit them too.
        if name == header::CONNECTION || name == header::UPGRADE {
            continue;
        }
        if let Ok(v) = value.to_str() {
            hs.headers
                .push(canonical_header_name(name.as_str()), v.to_owned());
        }
    }
    if let Some(query) = req.uri().query() {
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            hs.query.push(decode(k), decode(v));
        }
    }
    hs
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}
