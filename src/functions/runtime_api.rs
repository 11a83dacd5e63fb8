//! The Lambda Runtime API one worker polls (`2018-06-01`): `next`, an
//! invocation's `response` and `error`, and `init/error`. Each worker
//! process has its own address, so whatever arrives here is about this
//! worker's invocation and no other: a request id that is not the one it
//! holds is refused. Bodies are bounded (a response at Lambda's 6 MB, an
//! error object at 256 KiB), and nothing a worker sends is logged but its
//! error type.

use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tracing::warn;

use super::slot::{Slot, error_object};
use super::{MAX_PAYLOAD, Outcome};
use crate::clock;
use crate::config::net::Cidr;
use crate::telemetry::{FunctionOutcome, LogLimit};

const PREFIX: &str = "/2018-06-01/runtime/";
/// Refused connections are logged at most 10 times a second.
static REFUSED: LogLimit = LogLimit::new(10);
/// Error objects are a message, a type and a stack trace: 256 KiB is ample.
const MAX_ERROR: usize = 256 * 1024;

/// Serves the worker's connections until aborted (its process is gone);
/// dropping the set aborts every connection with it. `allowed`: the sources
/// a connection may come from (`None`: any; a started worker's address is
/// its own, on loopback).
pub(super) async fn serve(listener: TcpListener, slot: Arc<Slot>, allowed: Option<Vec<Cidr>>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, peer)) = accepted else { continue };
                if let Some(allowed) = &allowed
                    && !allowed.iter().any(|c| c.contains(peer.ip()))
                {
                    // Whoever polls `next` reads the events: refused unheard.
                    if let Some(held_back) = REFUSED.admit() {
                        warn!(function = %slot.f.cfg.name, source = %peer.ip(), held_back, "Runtime API connection from an address not in allowed_sources refused.");
                    }
                    continue;
                }
                if connections.len() >= max_connections(&slot) {
                    // More than its workers use: closed, so a runaway client
                    // cannot hold tasks without end.
                    continue;
                }
                // An answer is one small write the worker waits for.
                let _ = stream.set_nodelay(true);
                let slot = Arc::clone(&slot);
                let service = hyper::service::service_fn(move |req| {
                    let slot = Arc::clone(&slot);
                    async move { Ok::<_, std::convert::Infallible>(handle(req, &slot).await) }
                });
                connections.spawn(async move {
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    let _ = conn.await;
                });
            }
            Some(_) = connections.join_next() => {}
        }
    }
}

/// Connections one Runtime API keeps: a runtime interface client uses one
/// (or two, posting while it polls); four per worker leaves room for
/// reconnects.
fn max_connections(slot: &Slot) -> usize {
    match slot.external {
        true => 4 * slot.f.cfg.concurrency,
        false => 4,
    }
}

async fn handle(req: Request<Incoming>, slot: &Arc<Slot>) -> Response<Full<Bytes>> {
    let path = req.uri().path().strip_prefix(PREFIX).unwrap_or_default();
    let invocation = path.strip_prefix("invocation/");
    match (req.method(), invocation) {
        (&Method::GET, Some("next")) => next(slot).await,
        (&Method::POST, Some(rest)) => match rest.rsplit_once('/') {
            Some((id, "response")) => {
                let id = id.to_owned();
                response(slot, &id, req.into_body()).await
            }
            Some((id, "error")) => {
                let id = id.to_owned();
                error(slot, &id, req.into_body()).await
            }
            _ => not_found(),
        },
        (&Method::POST, None) if path == "init/error" => init_error(slot, req).await,
        _ => not_found(),
    }
}

/// The next invocation, when there is one (a long poll).
async fn next(slot: &Arc<Slot>) -> Response<Full<Bytes>> {
    let f = &slot.f;
    slot.reached();
    let mut waiting = f.waiting.lock().await;
    let (id, event, trace) = loop {
        let Some(inv) = waiting.recv().await else {
            return answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceException",
                "stopping",
            );
        };
        f.metrics.waiting.decrement(1);
        if inv.reply.is_closed() {
            // Its caller gave up while it waited: it is not run.
            f.metrics.ended(FunctionOutcome::Abandoned);
            continue;
        }
        // In the poll that received it, so no abort can lose it.
        break slot.start(inv);
    };
    drop(waiting);
    let deadline = clock::now_ms() + f.cfg.timeout.as_millis() as u64;
    Response::builder()
        .header("content-type", "application/json")
        .header("lambda-runtime-aws-request-id", id)
        .header("lambda-runtime-deadline-ms", deadline.to_string())
        .header("lambda-runtime-invoked-function-arn", &f.arn)
        .header("lambda-runtime-trace-id", trace)
        .body(Full::new(event))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

/// The handler's result.
async fn response(slot: &Slot, id: &str, body: Incoming) -> Response<Full<Bytes>> {
    match Limited::new(body, MAX_PAYLOAD).collect().await {
        Ok(b) => settle(slot, id, Outcome::Response(b.to_bytes())),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            // Lambda's answer: a function error.
            let why =
                "Response payload size exceeded maximum allowed payload size (6291456 bytes).";
            let outcome = error_object("Function.ResponseSizeTooLarge", why, id);
            slot.finish(id, outcome, FunctionOutcome::TooLarge);
            answer(StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge", why)
        }
        Err(_) => answer(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "the body did not arrive whole",
        ),
    }
}

/// The handler's failure: its error object, or AWS's in its place when what
/// came is not one.
async fn error(slot: &Slot, id: &str, body: Incoming) -> Response<Full<Bytes>> {
    let Some(body) = error_object_from(body).await else {
        let why = "an error object is at most 256 KiB";
        return answer(StatusCode::PAYLOAD_TOO_LARGE, "RequestEntityTooLarge", why);
    };
    settle(slot, id, Outcome::Error(body))
}

/// What a worker posted as an error object, or AWS's in its place when it
/// is not one; `None` when it is over 256 KiB.
async fn error_object_from(body: Incoming) -> Option<Bytes> {
    let b = Limited::new(body, MAX_ERROR)
        .collect()
        .await
        .ok()?
        .to_bytes();
    let object = serde_json::from_slice::<serde_json::Value>(&b).is_ok_and(|v| v.is_object());
    Some(match object {
        true => b,
        false => Bytes::from_static(
            br#"{"errorMessage":"The runtime reported an error that is not an error object","errorType":"Runtime.InvalidErrorResponse"}"#,
        ),
    })
}

fn settle(slot: &Slot, id: &str, outcome: Outcome) -> Response<Full<Bytes>> {
    let kind = match outcome {
        Outcome::Response(_) => FunctionOutcome::Response,
        _ => FunctionOutcome::FunctionError,
    };
    match slot.finish(id, outcome, kind) {
        true => Response::builder()
            .status(StatusCode::ACCEPTED)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(br#"{"status":"OK"}"#)))
            .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))),
        false => answer(
            StatusCode::BAD_REQUEST,
            "InvalidRequestID",
            "not the invocation this worker holds",
        ),
    }
}

/// The handler could not be loaded: reported with its error type (the
/// message is the worker's own output, on its stderr). On AWS the invocation
/// that started the worker gets the init error; here the first one waiting
/// does, rather than its caller waiting on a worker that is about to exit.
async fn init_error(slot: &Slot, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let kind = req
        .headers()
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(64)
        .collect::<String>();
    warn!(function = %slot.f.cfg.name, worker = slot.index, error_type = %kind, "Worker could not initialise its handler (its stderr says why).");
    let body = error_object_from(req.into_body()).await;
    slot.reached();
    if let Some(body) = body {
        let kind = FunctionOutcome::FunctionError;
        slot.f.fail_one_waiting(Outcome::Error(body), kind);
    }
    Response::builder()
        .status(StatusCode::ACCEPTED)
        .body(Full::new(Bytes::from_static(br#"{"status":"OK"}"#)))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

fn not_found() -> Response<Full<Bytes>> {
    answer(StatusCode::NOT_FOUND, "NotFound", "not a Runtime API path")
}

/// An error in the Runtime API's shape.
fn answer(status: StatusCode, kind: &str, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "errorMessage": message, "errorType": kind }).to_string();
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    resp
}
