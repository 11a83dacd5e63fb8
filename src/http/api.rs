//! The public listener's plain HTTP requests: the HTTP API, as AWS HTTP APIs
//! serve it.
//!
//! A request goes through, in order: the stage (`/{stage}/…`, else the
//! `$default` stage at the root), the route (`routing::http`, AWS's
//! precedence), the body (read whole, within `[http] max_body_bytes` and
//! `request_body_timeout`), then the integration; every answer carries
//! `apigw-requestid`. With `[http.cors]`, a preflight is answered before any
//! of this, and every answer gets the CORS headers (`cors`). A request for a stage's bare path that no HTTP route
//! serves is answered 426, as before the HTTP API existed: that URL is the
//! stage's WebSocket endpoint.

use opentelemetry::KeyValue;

use crate::gateway::spans::Finished;
use std::sync::Arc;

use http::{HeaderValue, Method, Request, Response, Version, header};
use hyper::body::Incoming;
use tracing::debug;

use super::PublicBody;
use super::body::{self, BodyError, Budget};
use super::cors;
use super::gate;
use super::head;
use super::integrate::{self, Call};
use super::peer::{self, Client, Link};
use super::respond::HttpApiError;
use crate::clock;
use crate::config::PayloadFormat;
use crate::conn::Id;
use crate::gateway::Gateway;
use crate::integration::Integration;
use crate::integration::http_event::HttpFacts;
use crate::integration::share::Claim;
use crate::routing::http::Matched;
use crate::snapshot::{HttpRoute, Snapshot, Stage};
use crate::telemetry::{HttpRouteMetrics, access};
use crate::throttle::Subject;
use http_body_util::Either;

/// The header naming each request's id, as AWS sends it.
const REQUEST_ID: header::HeaderName = header::HeaderName::from_static("apigw-requestid");

/// Serves one plain HTTP request on the public listener.
pub async fn handle(
    gw: Arc<Gateway>,
    req: Request<Incoming>,
    link: Arc<Link>,
) -> Response<PublicBody> {
    // A drain waits for this request to be answered (at most `shutdown_grace`).
    let _in_flight = gw.shutdown().track_borrowed();
    let snap = gw.snapshot_arc();
    let request_id = Id::random();
    let started = clock::now();
    let cors = snap.http.cors.as_ref();
    // The head stays here for the whole request; the path, headers and method
    // the rest of it reads are borrowed from it, never copied. It is made
    // canonical first, and the client's hop-by-hop fields go before any
    // field of the gateway's is added.
    let (mut parts, incoming) = req.into_parts();
    let checked = head::sanitize(&mut parts.uri, &mut parts.headers, parts.version);
    crate::integration::http_proxy::strip_hop_by_hop(&mut parts.headers);
    let client = peer::forward(
        &snap.trusted_proxies,
        &mut parts.headers,
        &link,
        snap.config.tracing.sample_ratio,
    );
    let mut seen = Seen::default();
    let preflight = cors.filter(|_| cors::is_preflight(&parts.method, &parts.headers));
    let mut resp = match (checked, preflight) {
        (Err(e), _) => {
            debug!(error = %e, "Request head refused.");
            HttpApiError::BadRequest.into_response().map(Either::Left)
        }
        (Ok(()), Some(c)) => cors::preflight(c, &parts.headers).map(Either::Left),
        (Ok(()), None) => {
            let rid = request_id.as_str();
            // Awaited where it is made: a future bound to a name first takes
            // a second slot in this one's state (it was 28 KiB, now under 6).
            let from = From {
                client: &client,
                link: &link,
            };
            serve(&gw, &snap, &parts, incoming, &from, rid, &mut seen)
                .await
                .unwrap_or_else(|e| e.into_response().map(Either::Left))
        }
    };
    if let Some(c) = cors.filter(|_| preflight.is_none()) {
        cors::decorate(c, parts.headers.get(header::ORIGIN), resp.headers_mut());
    }
    if let Ok(v) = HeaderValue::from_str(request_id.as_str()) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }
    // Draining: the answer closes its keep-alive connection. (Not hyper's
    // graceful_shutdown on every connection: it would also cut an upgrade
    // whose 101 is on its way.)
    if gw.shutdown().is_draining() && parts.version < Version::HTTP_2 {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let answer_bytes = hyper::body::Body::size_hint(resp.body()).exact();
    let status = resp.status().as_u16();
    seen.metrics.unwrap_or(&snap.http_no_stage).request(
        status,
        started.elapsed().as_secs_f64(),
        seen.body_bytes + answer_bytes.unwrap_or(0),
    );
    if snap.http.access_log {
        access::http(
            &access::HttpLine {
                request_id: request_id.as_str(),
                ip: client.source_ip(),
                method: parts.method.as_str(),
                route_key: seen.route_key,
                status,
                response_length: answer_bytes,
                integration_latency_ms: seen.integration_ms,
                integration_error: seen.integration_error.as_deref(),
                trace_id: client.forwarded.trace_root(),
            },
            snap.http_access_format.as_ref(),
        );
    }
    gw.spans().record(&client.forwarded.trace, || {
        span(
            &parts.method,
            &seen,
            status,
            started.elapsed(),
            request_id.as_str(),
            &client,
        )
    });
    resp
}

/// A request's span (until its answer's head: a streamed body may go on),
/// named as OpenTelemetry's HTTP conventions name a server span.
fn span(
    method: &http::Method,
    seen: &Seen<'_>,
    status: u16,
    took: std::time::Duration,
    request_id: &str,
    client: &Client,
) -> Finished {
    let route = seen.route_key.split_once(' ').map_or("", |(_, path)| path);
    let mut attributes = vec![
        KeyValue::new("http.request.method", method.as_str().to_owned()),
        KeyValue::new("http.response.status_code", i64::from(status)),
        KeyValue::new("client.address", client.source_ip().to_owned()),
        KeyValue::new("url.scheme", client.forwarded.proto),
        KeyValue::new("sockgate.request_id", request_id.to_owned()),
    ];
    if !route.is_empty() {
        attributes.push(KeyValue::new("http.route", route.to_owned()));
    }
    if let Some(e) = &seen.integration_error {
        attributes.push(KeyValue::new("error.type", e.clone()));
    }
    Finished {
        name: if route.is_empty() {
            method.to_string()
        } else {
            format!("{method} {route}")
        },
        took,
        status,
        attributes,
    }
}

/// What serving a request found out, for its metrics.
#[derive(Default)]
struct Seen<'s> {
    /// The route's handles (or its stage's unmatched ones), once known.
    metrics: Option<&'s HttpRouteMetrics>,
    /// The request body's size, once read.
    body_bytes: u64,
    /// For the access log: `routeKey` (empty without a route), the
    /// integration's time and failure.
    route_key: &'s str,
    integration_ms: Option<u64>,
    integration_error: Option<String>,
}

async fn serve<'s>(
    gw: &Gateway,
    snap: &'s Snapshot,
    parts: &http::request::Parts,
    incoming: Incoming,
    from: &From<'_>,
    request_id: &str,
    seen: &mut Seen<'s>,
) -> Result<Response<PublicBody>, HttpApiError> {
    let client = from.client;
    let not_found = || HttpApiError::NotFound;
    let path = parts.uri.path();
    let (stage_name, route_path) = snap.http_stage(path).ok_or_else(not_found)?;
    // AWS splits an HTTP API stage's traffic per request.
    let (stage, _) = snap.assign(stage_name).ok_or_else(not_found)?;
    seen.metrics = Some(&stage.http_unmatched);
    let Some(found) = stage.http.find(parts.method.as_str(), route_path) else {
        return Err(no_route(snap, &parts.method, path));
    };
    seen.metrics = Some(&found.route.metrics);
    seen.route_key = found.key;
    let facts = request_facts(snap, stage, parts, &found, route_path, client, request_id);
    // Throttled before the authorizer (a flood never reaches it), then again
    // at the levels its answer names.
    let mut subject = Subject {
        ip: Some(client.source_ip()),
        route: found.route.throttle.as_ref(),
        account: true,
        ..Subject::default()
    };
    throttle(gw, snap, stage, &subject).await?;
    // Before the body is read: an unauthenticated client never makes the
    // gateway buffer one.
    let passed = gate::check(snap, stage, found.route, &facts).await?;
    let auth = passed.auth;
    let key = passed.api_key.as_deref();
    subject = Subject {
        api_key: key,
        plan: key.and_then(|k| Some((snap.plans.get(k)?.as_ref(), k))),
        principal: auth.as_ref().map(|a| a.principal_id.as_str()),
        ..Subject::default()
    };
    throttle(gw, snap, stage, &subject).await?;
    check_parameters(found.route, &facts)?;
    let v2 = matches!(
        found.route.integration,
        Integration::AwsProxy {
            format: PayloadFormat::V2,
            ..
        }
    );
    let authorizer = auth.as_ref().map(|a| a.http(v2));
    let max = snap.http.max_body_bytes;
    let read = read_body(gw, snap, parts, incoming, from).await?;
    let body = &read.bytes;
    seen.body_bytes = body.len() as u64;
    check_body(found.route, found.key, body)?;
    let facts = HttpFacts {
        body,
        authorizer: authorizer.as_ref(),
        ..facts
    };
    let claim = claim(gw, snap, from, &found.route.integration)?;
    // A base64 body grows by 4/3, and the event wraps it in a little JSON.
    let max_answer = max / 3 * 4 + (64 << 10);
    let route = found.route;
    let call = Call {
        client: &snap.client,
        route,
        route_key: found.key,
        auth: auth.as_ref(),
        max_answer,
    };
    let (resp, called) = integrate::call(call, facts, body.clone(), claim).await;
    route.metrics.integration(called.took.as_secs_f64());
    seen.integration_ms = Some(called.took.as_millis() as u64);
    seen.integration_error = called.error;
    resp
}

/// The request's body, within `max_body_bytes`, `request_body_timeout` and
/// the connection's and node's budgets (`http::body`).
async fn read_body(
    gw: &Gateway,
    snap: &Snapshot,
    parts: &http::request::Parts,
    incoming: Incoming,
    from: &From<'_>,
) -> Result<body::ReadBody, HttpApiError> {
    // Most requests have no body. One that has is read by a boxed future:
    // its state (a timer, the budgets' waits, the buffer) would otherwise
    // size every request's future, which hyper moves whole.
    if hyper::body::Body::is_end_stream(&incoming) {
        return Ok(body::ReadBody::default());
    }
    let budget = Budget {
        conn: &from.link.body_budget,
        node: gw.body_budget(),
    };
    let (max, timeout) = (snap.http.max_body_bytes, snap.body_timeout);
    Box::pin(body::read(
        &parts.headers,
        incoming,
        max,
        timeout,
        Some(budget),
    ))
    .await
    .map_err(body_error)
}

/// Who sent a request, and on which connection.
struct From<'a> {
    client: &'a Client,
    link: &'a Link,
}

/// The client's place in the backend slots' fair shares, for an integration
/// that calls a backend (`integration::share`); over its share: 429.
fn claim(
    gw: &Gateway,
    snap: &Snapshot,
    from: &From<'_>,
    integration: &Integration,
) -> Result<Option<Claim>, HttpApiError> {
    if !integration.calls_backend() {
        return Ok(None);
    }
    let limits = snap.share_limits();
    match gw.shares().claim(from.client.ip, &from.link.calls, limits) {
        Some(c) => Ok(Some(c)),
        None => {
            debug!(
                ip = from.client.source_ip(),
                "Over its share of backend calls."
            );
            Err(HttpApiError::TooManyRequests)
        }
    }
}

async fn throttle(
    gw: &Gateway,
    snap: &Snapshot,
    stage: &crate::snapshot::Stage,
    subject: &Subject<'_>,
) -> Result<(), HttpApiError> {
    gw.throttle_all(snap, stage, subject)
        .await
        .map_err(|level| match level {
            crate::throttle::Level::Quota => HttpApiError::LimitExceeded,
            _ => HttpApiError::TooManyRequests,
        })
}

/// The request's facts for its event, before its body is read.
fn request_facts<'a>(
    snap: &'a Snapshot,
    stage: &'a Stage,
    parts: &'a http::request::Parts,
    found: &'a Matched<'a, HttpRoute>,
    route_path: &'a str,
    client: &'a Client,
    request_id: &'a str,
) -> HttpFacts<'a> {
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    HttpFacts {
        route_key: found.key,
        method: parts.method.as_str(),
        raw_path: parts.uri.path(),
        route_path,
        raw_query: parts.uri.query().unwrap_or(""),
        headers: &parts.headers,
        body: &[],
        protocol: protocol(parts.version),
        scheme: client.forwarded.proto,
        source_ip: client.source_ip(),
        forwarded: &client.forwarded,
        stage: &stage.name,
        path_params: &found.params,
        stage_variables: &stage.variables,
        request_id,
        time_ms: clock::now_ms(),
        api_id: &snap.api.id,
        domain_name: snap
            .api
            .domain_name
            .as_deref()
            .or(host)
            .unwrap_or("localhost"),
        // 1.0's `resource`: the route's path template (the request's for `$default`).
        resource: found.key.split_once(' ').map_or(route_path, |(_, p)| p),
        is_canary: stage.canary,
        authorizer: None,
    }
}

/// The route's required parameters, present and non-blank (AWS REST's rule).
fn check_parameters(route: &HttpRoute, facts: &HttpFacts<'_>) -> Result<(), HttpApiError> {
    let query = |n: &str| crate::routing::query::first(facts.raw_query, n);
    let missing = crate::validation::missing(&route.required, facts.headers, query);
    if missing.is_empty() {
        return Ok(());
    }
    debug!(
        route = facts.route_key,
        ?missing,
        "Required request parameters missing."
    );
    Err(HttpApiError::MissingParameters(missing.join(", ")))
}

/// The body against the route's model (an empty body is checked as `{}`).
fn check_body(route: &HttpRoute, key: &str, body: &[u8]) -> Result<(), HttpApiError> {
    let Some(model) = &route.model else {
        return Ok(());
    };
    let body = if body.is_empty() { &b"{}"[..] } else { body };
    model.check(body).map_err(|errors| {
        // Paths and keywords only: never the body.
        debug!(
            route = key,
            ?errors,
            "Request body does not match its model."
        );
        HttpApiError::InvalidBody(route.detailed_errors.then_some(errors))
    })
}

fn body_error(e: BodyError) -> HttpApiError {
    match e {
        BodyError::TooLarge => HttpApiError::PayloadTooLarge,
        BodyError::Timeout => HttpApiError::BodyTimeout,
        BodyError::Busy => HttpApiError::Unavailable,
        BodyError::Unreadable => HttpApiError::BadRequest,
    }
}

/// No route: 426 on a stage's WebSocket URL, AWS's 404 elsewhere.
fn no_route(snap: &Snapshot, method: &Method, path: &str) -> HttpApiError {
    let stage = Snapshot::ws_stage(path);
    if method == Method::GET && snap.serves_websockets() && snap.stage(stage).is_some() {
        return HttpApiError::UpgradeRequired;
    }
    HttpApiError::NotFound
}

/// `requestContext.http.protocol`. As on AWS, an HTTP/2 request says
/// `HTTP/1.1`: AWS documents that it logs the protocol it calls backends
/// with, and backends are called over HTTP/1.1.
fn protocol(v: Version) -> &'static str {
    match v {
        Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    }
}
