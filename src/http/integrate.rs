//! Calling a matched HTTP route's integration and turning what it answered
//! into the client's response: the request mapping first, then the call,
//! then AWS's error for a failure, or the answer with the response mapping
//! applied.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Either;
use tracing::{debug, warn};

use super::PublicBody;
use super::mapping::{self, Answer, Scope};
use super::respond::{Body, HttpApiError};
use crate::auth::AuthContext;
use crate::clock;
use crate::integration::http_event::HttpFacts;
use crate::integration::http_response::HttpReply;
use crate::integration::http_route::{self, HttpAnswer, RouteFacts};
use crate::integration::share::Claim;
use crate::integration::{CallError, HttpClient, LambdaError};
use crate::snapshot::HttpRoute;

/// One call's fixed parts.
#[derive(Clone, Copy)]
pub struct Call<'a> {
    /// The backend client.
    pub client: &'a HttpClient,
    /// The matched route.
    pub route: &'a HttpRoute,
    /// Its key, for the log.
    pub route_key: &'a str,
    /// What its authorizer established, if it has one.
    pub auth: Option<&'a AuthContext>,
    /// Most bytes read from an `aws_proxy` backend.
    pub max_answer: usize,
}

/// How the call went, for metrics and the access log.
#[derive(Debug)]
pub struct Called {
    /// The integration's time.
    pub took: Duration,
    /// Why it failed, if it did (for the operator; never sent).
    pub error: Option<String>,
}

/// Calls the route's integration for a request (`facts` as the client sent
/// it, its body read).
pub async fn call(
    c: Call<'_>,
    facts: HttpFacts<'_>,
    body: Bytes,
    claim: Option<Claim>,
) -> (Result<Response<PublicBody>, HttpApiError>, Called) {
    let map = &c.route.mapping;
    let scope = Scope::new(&facts, c.auth);
    let mapped = (!map.request.is_empty()).then(|| mapping::request(&map.request, &scope));
    let mapped = match mapped.transpose() {
        Ok(m) => m,
        Err(e) => {
            debug!(route = c.route_key, error = %e, "A mapped path was refused.");
            let called = Called {
                took: Duration::ZERO,
                error: None,
            };
            return (Err(HttpApiError::BadRequest), called);
        }
    };
    let sent = match &mapped {
        Some(m) => HttpFacts {
            headers: &m.headers,
            raw_query: &m.query,
            ..facts
        },
        None => facts,
    };
    let route = RouteFacts {
        integration: &c.route.integration,
        greedy: c.route.greedy.as_deref(),
        is_default: c.route.is_default,
        path: mapped.as_ref().and_then(|m| m.path.as_deref()),
    };
    let started = clock::now();
    let answer = http_route::call(route, c.client, &sent, body, c.max_answer, claim).await;
    let called = Called {
        took: started.elapsed(),
        error: answer.as_ref().err().map(ToString::to_string),
    };
    let resp = match answer {
        Ok(HttpAnswer::Whole(reply)) => whole(reply, &map.response, &scope),
        Ok(HttpAnswer::Streamed(mut resp)) => {
            if !map.response.is_empty() {
                let status = resp.status().as_u16();
                let headers = resp.headers().clone();
                let answer = Answer {
                    headers: &headers,
                    body: None,
                };
                let scope = scope.with_answer(answer);
                let s = mapping::response(&map.response, status, &scope, resp.headers_mut());
                *resp.status_mut() = StatusCode::from_u16(s).unwrap_or(resp.status());
            }
            Ok(resp.map(Either::Right))
        }
        Err(e) => {
            c.route.metrics.execution_error(e.kind());
            log_failure(c, &e);
            Err(match e {
                CallError::Timeout => HttpApiError::Unavailable,
                // Refused before the call: the client's body is what is too big.
                CallError::Lambda(LambdaError::TooLarge) => HttpApiError::PayloadTooLarge,
                CallError::Failed(_) | CallError::Lambda(_) => HttpApiError::Internal,
            })
        }
    };
    (resp, called)
}

/// One WARN line for a failed call: the route, the failure's kind and the
/// gateway's own account of it, and the backend's host — never its path,
/// query, headers or body.
fn log_failure(c: Call<'_>, e: &CallError) {
    // Bounded per route (`HttpRoute::failures`).
    let Some(held_back) = c.route.failures.admit() else {
        return;
    };
    let backend = c.route.integration.host();
    let kind = e.kind().label();
    warn!(
        route = c.route_key,
        kind,
        backend,
        reason = %e,
        held_back,
        "HTTP integration failed."
    );
}

/// A whole answer as the response, the response mapping applied.
fn whole(
    reply: HttpReply,
    mappings: &[(u16, Vec<crate::routing::mapping::Mapping>)],
    scope: &Scope<'_>,
) -> Result<Response<PublicBody>, HttpApiError> {
    // A reference to the same bytes, not a copy.
    let bytes = reply.body.clone();
    let mut resp = into_response(reply)?;
    if !mappings.is_empty() {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let answer = Answer {
            headers: &headers,
            body: Some(&bytes),
        };
        let scope = scope.with_answer(answer);
        let s = mapping::response(mappings, status, &scope, resp.headers_mut());
        *resp.status_mut() = StatusCode::from_u16(s).unwrap_or(resp.status());
    }
    Ok(resp.map(Either::Left))
}

/// The integration's answer as a response; a header that is not valid HTTP is
/// an integration error (500), never a half-built response.
fn into_response(reply: HttpReply) -> Result<Response<Body>, HttpApiError> {
    let bad = |what: &str| {
        debug!(what, "HTTP integration answered an invalid header.");
        HttpApiError::Internal
    };
    let mut resp = Response::new(Body::new(reply.body));
    *resp.status_mut() = StatusCode::from_u16(reply.status).map_err(|_| bad("status"))?;
    let headers = resp.headers_mut();
    for (name, value) in reply.headers {
        let name = header::HeaderName::from_bytes(name.as_bytes()).map_err(|_| bad("name"))?;
        let value = HeaderValue::from_str(&value).map_err(|_| bad("value"))?;
        // Framing is the gateway's: the body is re-sent whole.
        let framing = [
            header::CONTENT_LENGTH,
            header::TRANSFER_ENCODING,
            header::CONNECTION,
        ];
        if framing.contains(&name) {
            continue;
        }
        headers.append(name, value);
    }
    Ok(resp)
}
