//! The dashboard: what an operator opens first, served by the node itself
//! on the management listener at `/@dashboard/` (page, script and style are
//! embedded in the binary: it works offline, with nothing to build).
//!
//! - **Live figures** (`sampler`, `figures`, `events`): every 2 s the node
//!   reads its own `/metrics` text once and streams one sample to every open
//!   dashboard over server-sent events; the page plots the last 15 minutes.
//!   Nothing walks the connections per sample, however many are open.
//! - **A connection** (`lookup`): looked up by id on any node, sent a message,
//!   disconnected; a stage's groups with their members, a page at a time.
//! - **Who may** (`guard`): the management credentials (a bearer token, or
//!   HTTP Basic with it as the password), or without them loopback only.
//!
//! Every other path of the management listener is the management API's.

pub mod events;
mod expo;
mod figures;
mod guard;
mod lookup;
pub mod sampler;

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{Either, Full};
use hyper::body::Incoming;

use crate::gateway::Gateway;
use crate::http::management;
use crate::http::respond::{self, ApiError};
use crate::telemetry::LogLimit;
use guard::Refusal;

/// A management-listener response: whole, or the dashboard's event stream.
pub type Body = Either<respond::Body, events::Events>;

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/app.css");
const ICON: &str = include_str!("assets/favicon.svg");

/// The page loads its own script, style and events only: no inline script
/// (a value shown that a client chose, such as a user agent, cannot run),
/// no other origin, no framing.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; \
    frame-ancestors 'none'";

/// Refused dashboard requests are logged at most 10 times a second.
static REFUSED: LogLimit = LogLimit::new(10);

/// Serves one request on the management listener.
pub async fn management(
    gw: Arc<Gateway>,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response<Body> {
    let path = req.uri().path();
    if path == "/@dashboard" || path.starts_with("/@dashboard/") {
        serve(gw, req, peer).await
    } else {
        management::handle(&gw, req).await.map(Either::Left)
    }
}

async fn serve(gw: Arc<Gateway>, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
    let snap = gw.snapshot_arc();
    if !snap.management.dashboard {
        return ApiError::NotFound.into_response().map(Either::Left);
    }
    if let Err(refusal) = guard::check(&snap.management, req.method(), req.headers(), peer) {
        return refused(&refusal, req.method()).map(Either::Left);
    }
    let path = req.uri().path().strip_prefix("/@dashboard").unwrap_or("");
    let get = req.method() == Method::GET || req.method() == Method::HEAD;
    let whole = match path {
        "" if get => redirect("/@dashboard/"),
        "/" if get => asset(INDEX, "text/html; charset=utf-8"),
        "/app.js" if get => asset(SCRIPT, "text/javascript; charset=utf-8"),
        "/app.css" if get => asset(STYLE, "text/css; charset=utf-8"),
        "/favicon.svg" if get => asset(ICON, "image/svg+xml"),
        "/events" if get => return stream(gw),
        p if p.starts_with("/api/") => lookup::api(&gw, req).await,
        "" | "/" | "/app.js" | "/app.css" | "/favicon.svg" | "/events" => {
            ApiError::MethodNotAllowed.into_response()
        }
        _ => ApiError::NotFound.into_response(),
    };
    whole.map(Either::Left)
}

/// The event stream, within the viewers' bound (503 beyond it).
fn stream(gw: Arc<Gateway>) -> Response<Body> {
    let Some(viewer) = gw.feed().admit() else {
        return ApiError::Unavailable.into_response().map(Either::Left);
    };
    let mut resp = Response::new(Either::Right(events::events(gw, viewer)));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn asset(text: &'static str, content_type: &'static str) -> Response<respond::Body> {
    let mut resp = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // The binary is the version: a new one serves its own page.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

fn redirect(to: &'static str) -> Response<respond::Body> {
    let mut resp = respond::empty(StatusCode::PERMANENT_REDIRECT);
    resp.headers_mut()
        .insert(header::LOCATION, HeaderValue::from_static(to));
    resp
}

fn refused(refusal: &Refusal, method: &Method) -> Response<respond::Body> {
    match refusal {
        Refusal::Unauthorized => {
            let mut resp = management::json(
                StatusCode::UNAUTHORIZED,
                r#"{"message":"Unauthorized"}"#.to_owned(),
            );
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Basic realm="sockgate dashboard", charset="UTF-8""#),
            );
            resp
        }
        Refusal::Forbidden(why) => {
            if let Some(held_back) = REFUSED.admit() {
                tracing::warn!(%method, reason = why, held_back, "Dashboard request refused.");
            }
            let body = serde_json::json!({ "message": format!("Forbidden: {why}") });
            management::json(StatusCode::FORBIDDEN, body.to_string())
        }
    }
}
