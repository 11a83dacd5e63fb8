//! The metrics listener: `/metrics` (Prometheus), `/healthz` (the process
//! answers) and `/readyz` (ready for new connections: fails once draining, so a
//! load balancer stops sending clients here before connections are closed, and
//! — with a cluster — while this node's self-probe through Redis fails, unless
//! `cluster.readiness_requires_redis = false`).

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::Full;

use super::respond::{Body, empty};
use crate::gateway::Gateway;

/// Serves one request on the metrics listener.
pub fn handle<B>(gw: &Gateway, req: &Request<B>) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return empty(StatusCode::METHOD_NOT_ALLOWED);
    }
    match req.uri().path() {
        "/metrics" => {
            // `sockgate_cluster_up` as of now, like `/readyz` (the heartbeat
            // updates it only once per beat, which a hung Redis slows down).
            if let Some(cluster) = gw.delivery().cluster() {
                cluster.refresh_up_metric();
            }
            // Read at scrape time: one pass over the registry (a few µs per 1,000
            // connections), nothing kept up to date on the hot path.
            let tasks =
                tokio::runtime::Handle::try_current().map_or(0, |h| h.metrics().num_alive_tasks());
            let mut backlog = 0;
            gw.delivery()
                .registry()
                .for_each(|c| backlog += c.backlog());
            let text = gw.metrics().render(tasks, backlog);
            let mut resp = Response::new(Full::new(Bytes::from(text)));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                http::HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            resp
        }
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" if gw.shutdown().is_draining() => {
            text(StatusCode::SERVICE_UNAVAILABLE, "draining\n")
        }
        "/readyz" => match gw.delivery().cluster() {
            Some(cluster) if !cluster.ready() => {
                text(StatusCode::SERVICE_UNAVAILABLE, "cluster unreachable\n")
            }
            _ => {
                // Which configuration serves, for operators comparing nodes.
                let snap = gw.snapshot();
                let body = format!(
                    "ready\ngeneration {}\nconfig {}\n",
                    snap.generation, snap.digest
                );
                let mut resp = Response::new(Full::new(Bytes::from(body)));
                *resp.status_mut() = StatusCode::OK;
                resp
            }
        },
        _ => empty(StatusCode::NOT_FOUND),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp
}
