//! The management listener: the @connections API, groups and broadcasts.
//!
//! - `POST|GET|DELETE /{stage}/@connections/{id}`: send, info, disconnect —
//!   exactly as boto3's and the AWS CLI's `apigatewaymanagementapi` client calls
//!   it with `endpoint_url=http://host:port/{stage}`. Also served without the
//!   stage (`/@connections/{id}`), as serverless-offline does. The id is
//!   percent-decoded (botocore sends `=` as `%3D`); `%40connections` is accepted.
//! - `PUT|DELETE /{stage}/@groups/{group}/{id}`: add a connection to a group, or
//!   remove it (204; 410 if the connection is gone; removing a non-member is not
//!   an error).
//! - `POST /{stage}/@groups/{group}`: send the body to every member.
//! - `POST /{stage}/@broadcast`: send the body to every connection of the stage.
//! - `POST /@reload`: reload the config file (see `gateway::reload`); what
//!   `sockgate reload` calls.
//!
//! `/{stage}/@connections/{id}` is also served on the public listener, where
//! AWS handlers call back (`https://{requestContext.domainName}/{stage}`),
//! when `[management]` has access keys: SigV4 only there ([`callback`]).
//!
//! When `[management]` configures access keys or bearer tokens, every request
//! must be SigV4-signed by one of the keys or carry one of the tokens; otherwise
//! it gets 403 `ForbiddenException` (see `auth::management`). Credentials are
//! checked from the headers before the body is read; a body must arrive within
//! `server.request_body_timeout` (408 otherwise).
//!
//! Sends answer 200 with `{"queued":N,"dropped":M}`: receivers on this node whose
//! queue took the message, and those skipped because their queue was full; with
//! a cluster, `"remote_nodes":K` more nodes received it to deliver to theirs.
//! If the cluster is unreachable the send is delivered on this node only and the
//! answer is 503 `ServiceUnavailableException`.

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Incoming;

use super::body::BodyError;
use super::respond::{ApiError, Body, empty};
use crate::auth::management::{self, Pending};
use crate::clock;
use crate::config::ManagementAuth;
use crate::conn::SendReport;
use crate::conn::{DeliveryError, GroupKey, Id, Sent};
use crate::gateway::Gateway;
use crate::sigv4::Signed;
use crate::telemetry::LogLimit;

/// Refused requests are logged at most 10 times a second.
static REFUSED: LogLimit = LogLimit::new(10);

/// Largest POST body: the API model's `Data` maximum (131072 bytes).
pub const MAX_POST_BYTES: usize = 128 << 10;

/// What a management path names.
#[derive(Debug, PartialEq, Eq)]
enum Target<'a> {
    /// `[/{stage}]/@connections/{id}` (id still percent-encoded).
    Connection(Option<&'a str>, &'a str),
    /// `/{stage}/@groups/{group}`.
    Group(&'a str, &'a str),
    /// `/{stage}/@groups/{group}/{id}`.
    Member(&'a str, &'a str, &'a str),
    /// `/{stage}/@broadcast`.
    Stage(&'a str),
    /// `/@reload`: reload the config file (operators; same credentials).
    Reload,
    /// `/@usage-plans/{plan}/keys/{key}`: a key's quota (GET).
    Usage(&'a str, &'a str),
}

/// Which listener a request came in on: the management listener serves the
/// whole API; the public one only the callbacks AWS handlers make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listener {
    Management,
    Public,
}

/// Serves one request on the management listener.
pub async fn handle(gw: &Gateway, req: Request<Incoming>) -> Response<Body> {
    respond(gw, req, Listener::Management).await
}

/// Whether a public-listener request is an AWS handler's callback,
/// `/{stage}/@connections/{id}` (`https://{domainName}/{stage}` is where
/// handlers send them): served there only when `[management]` has access
/// keys, since anyone can reach the public listener.
pub fn is_callback(gw: &Gateway, path: &str) -> bool {
    // Every public HTTP request asks: a substring test first, so the others
    // load no snapshot and split no path.
    path.contains("connections/")
        && gw.snapshot().callbacks.is_some()
        && matches!(parse_path(path), Some(Target::Connection(Some(_), _)))
}

/// Serves one callback on the public listener: SigV4-signed by a
/// `[management]` access key (bearer tokens are for the management
/// listener), then as the management listener serves it.
pub async fn callback(gw: &Gateway, req: Request<Incoming>) -> Response<Body> {
    respond(gw, req, Listener::Public).await
}

async fn respond(gw: &Gateway, req: Request<Incoming>, listener: Listener) -> Response<Body> {
    let method = req.method().clone();
    let resp = match serve(gw, req, listener).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    };
    gw.metrics()
        .management_request(&method, resp.status().as_u16());
    resp
}

async fn serve(
    gw: &Gateway,
    req: Request<Incoming>,
    listener: Listener,
) -> Result<Response<Body>, ApiError> {
    let (parts, body) = req.into_parts();
    // One configuration generation for the whole request.
    let snap = gw.snapshot_arc();
    let auth = match listener {
        Listener::Management => &snap.management,
        // A reload may have removed the keys since `is_callback`.
        Listener::Public => snap.callbacks.as_ref().ok_or(ApiError::Forbidden)?,
    };
    let header = |name| parts.headers.get(name).map(HeaderValue::as_bytes);
    if management::cross_origin(header(header::ORIGIN), header(header::HOST)) {
        if let Some(held_back) = REFUSED.admit() {
            tracing::warn!(method = %parts.method, held_back, "Management request refused: sent by another site's page (Origin is not this listener).");
        }
        return Err(ApiError::Forbidden);
    }
    // Credentials first, from the headers: a request without them never has its
    // body read. What a signature says about the body is checked once it is in.
    let pending = authenticate(auth, &parts, None)?;
    let body = read_body(&parts.headers, body, snap.body_timeout).await?;
    authenticate(auth, &parts, Some((&pending, &body)))?;
    let path = parts.uri.path();
    let target = parse_path(path).ok_or(ApiError::NotFound)?;
    if listener == Listener::Public && !matches!(target, Target::Connection(Some(_), _)) {
        return Err(ApiError::NotFound);
    }
    let stage = match target {
        Target::Connection(stage, _) => stage,
        Target::Group(stage, _) | Target::Member(stage, _, _) | Target::Stage(stage) => Some(stage),
        Target::Reload if parts.method == Method::POST => return Ok(reload(gw)),
        Target::Reload => return Err(ApiError::MethodNotAllowed),
        Target::Usage(plan, key) if parts.method == Method::GET => {
            return super::usage::usage(gw, &snap, plan, key).await;
        }
        Target::Usage(..) => return Err(ApiError::MethodNotAllowed),
    };
    if stage.is_some_and(|s| snap.stage(s).is_none()) {
        return Err(ApiError::NotFound);
    }
    // AWS counts callback API calls against the account's limit.
    if !gw.throttle_account(&snap).await {
        if let Some(s) = stage.and_then(|s| snap.stage(s)) {
            s.metrics.throttled(crate::throttle::Level::Account);
        }
        return Err(ApiError::Throttled);
    }
    let method = parts.method.clone();
    match target {
        Target::Connection(stage, raw_id) => connection(gw, method, stage, raw_id, body).await,
        Target::Member(stage, group, raw_id) => {
            let key = group_key(stage, group)?;
            let id = parse_id(raw_id).ok_or(ApiError::Gone);
            match method {
                Method::PUT => {
                    let max = snap.ws.max_groups_per_connection;
                    gw.delivery().join_group(&key, &id?, max).await?;
                }
                Method::DELETE => gw.delivery().leave_group(&key, &id?).await?,
                _ => return Err(ApiError::MethodNotAllowed),
            }
            Ok(empty(StatusCode::NO_CONTENT))
        }
        Target::Group(stage, group) => {
            let key = group_key(stage, group)?;
            if method != Method::POST {
                return Err(ApiError::MethodNotAllowed);
            }
            let fanout = gw.delivery().send_to_group(&key, &body).await;
            gw.count_fanout(stage, fanout.local);
            Ok(sent(fanout.report()?))
        }
        Target::Stage(stage) => {
            if method != Method::POST {
                return Err(ApiError::MethodNotAllowed);
            }
            let fanout = gw.delivery().broadcast(stage, &body).await;
            gw.count_fanout(stage, fanout.local);
            Ok(sent(fanout.report()?))
        }
        // Answered above, before the stage check.
        Target::Reload | Target::Usage(..) => Err(ApiError::NotFound),
    }
}

/// `/{stage}/@connections/{id}`: POST, GET or DELETE one connection (the
/// dashboard's send and disconnect too).
pub async fn connection(
    gw: &Gateway,
    method: Method,
    stage: Option<&str>,
    raw_id: &str,
    body: Bytes,
) -> Result<Response<Body>, ApiError> {
    // A malformed id names no connection, so it is 410 like any other id
    // that is not live: AWS lists "the connection ID is invalid" among the
    // causes of GoneException, and backends rely on `except GoneException`.
    let id = parse_id(raw_id).ok_or(ApiError::Gone);
    match method {
        Method::POST => {
            let id = id?;
            let result = gw.delivery().post_to(&id, stage, body).await;
            if result == Err(DeliveryError::Full) {
                gw.count_rejection(&id);
            }
            result?;
            Ok(empty(StatusCode::OK))
        }
        Method::GET => {
            let view = gw.delivery().connection_info(&id?, stage).await?;
            let body = serde_json::json!({
                "connectedAt": clock::iso8601(view.info.connected_at_ms),
                "identity": { "sourceIp": view.info.source_ip, "userAgent": view.info.user_agent },
                "lastActiveAt": clock::iso8601(view.last_active_ms),
            });
            Ok(json(StatusCode::OK, body.to_string()))
        }
        Method::DELETE => {
            gw.delivery().disconnect(&id?, stage).await?;
            Ok(empty(StatusCode::NO_CONTENT))
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// Checks the request's credentials when the management API requires them:
/// from the headers alone (`body` is `None`; returns what is left to check), or,
/// once the body is read, what the head check left.
fn authenticate(
    auth: &ManagementAuth,
    parts: &http::request::Parts,
    body: Option<(&Pending, &[u8])>,
) -> Result<Pending, ApiError> {
    if !auth.required() {
        return Ok(Pending::Nothing);
    }
    let headers: Vec<(&str, &[u8])> = parts
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect();
    let signed = Signed {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        headers: &headers,
        body: body.map_or(&[], |(_, b)| b),
    };
    let now = clock::now_ms() / 1000;
    let result = match body {
        None => management::check_head(auth, &signed, now),
        Some((pending, _)) => {
            management::check_body(auth, pending, &signed, now).map(|()| Pending::Nothing)
        }
    };
    result.map_err(|e| {
        // Why, for the operator; never the credentials themselves. Bounded:
        // on the public listener (callbacks) anyone can send refused requests.
        if let Some(held_back) = REFUSED.admit() {
            tracing::warn!(method = %parts.method, reason = %e, held_back, "Management request refused.");
        }
        ApiError::Forbidden
    })
}

/// The body (of a send; others are empty), within the 128 KiB limit and
/// `request_body_timeout`: a peer that stalls mid-body is answered 408 and its
/// connection closed instead of holding its buffer.
pub async fn read_body(
    headers: &http::HeaderMap,
    body: Incoming,
    timeout: std::time::Duration,
) -> Result<Bytes, ApiError> {
    // One request at a time per connection, each at most 128 KiB: no
    // budget beyond the connection caps.
    super::body::read(headers, body, MAX_POST_BYTES, timeout, None)
        .await
        .map(|b| b.bytes)
        .map_err(|e| match e {
            BodyError::TooLarge => ApiError::PayloadTooLarge,
            BodyError::Timeout | BodyError::Busy => ApiError::BodyTimeout,
            BodyError::Unreadable => ApiError::UnreadableBody,
        })
}

/// A connection id from a path segment (percent-decoded; `None` if it names none).
pub fn parse_id(raw: &str) -> Option<Id> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .and_then(|decoded| Id::parse(&decoded))
}

fn group_key(stage: &str, raw: &str) -> Result<GroupKey, ApiError> {
    let name = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| ApiError::InvalidGroup)?;
    GroupKey::new(stage, &name).ok_or(ApiError::InvalidGroup)
}

/// `POST /@reload`: 200 with the report when applied, 422 when the file was
/// rejected (the report lists why; the node serves on unchanged).
fn reload(gw: &Gateway) -> Response<Body> {
    let report = gw.reload();
    let status = if report.outcome == "applied" {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    json(status, serde_json::to_string(&report).unwrap_or_default())
}

fn sent(r: SendReport) -> Response<Body> {
    let Sent { queued, dropped } = r.local;
    let body = match r.remote_nodes {
        Some(n) => format!(r#"{{"queued":{queued},"dropped":{dropped},"remote_nodes":{n}}}"#),
        None => format!(r#"{{"queued":{queued},"dropped":{dropped}}}"#),
    };
    json(StatusCode::OK, body)
}

/// A JSON answer.
pub fn json(status: StatusCode, body: String) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn parse_path(path: &str) -> Option<Target<'_>> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // `@name`, or `%40name` from clients that encode the `@`.
    let is = |s: &str, marker: &str| {
        s == marker
            || (s.get(3..) == marker.get(1..)
                && s.get(..3).is_some_and(|p| p.eq_ignore_ascii_case("%40")))
    };
    let ok = |s: &&str| !s.is_empty();
    match segments.as_slice() {
        [m, id] if is(m, "@connections") && ok(id) => Some(Target::Connection(None, id)),
        [stage, m, id] if is(m, "@connections") && ok(id) && ok(stage) => {
            Some(Target::Connection(Some(stage), id))
        }
        [stage, m, group] if is(m, "@groups") && ok(stage) && ok(group) => {
            Some(Target::Group(stage, group))
        }
        [stage, m, group, id] if is(m, "@groups") && ok(stage) && ok(group) && ok(id) => {
            Some(Target::Member(stage, group, id))
        }
        [stage, m] if is(m, "@broadcast") && ok(stage) => Some(Target::Stage(stage)),
        [m] if is(m, "@reload") => Some(Target::Reload),
        [m, plan, k, key] if is(m, "@usage-plans") && *k == "keys" && ok(plan) && ok(key) => {
            Some(Target::Usage(plan, key))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{Target, parse_path};

    #[test]
    fn paths() {
        assert_eq!(
            parse_path("/prod/@connections/abc%3D"),
            Some(Target::Connection(Some("prod"), "abc%3D"))
        );
        assert_eq!(
            parse_path("/@connections/abc"),
            Some(Target::Connection(None, "abc"))
        );
        assert_eq!(
            parse_path("/prod/%40connections/abc"),
            Some(Target::Connection(Some("prod"), "abc"))
        );
        assert_eq!(
            parse_path("/prod/@groups/room"),
            Some(Target::Group("prod", "room"))
        );
        assert_eq!(
            parse_path("/prod/@groups/room/abc"),
            Some(Target::Member("prod", "room", "abc"))
        );
        assert_eq!(parse_path("/prod/@broadcast"), Some(Target::Stage("prod")));
        for none in [
            "/prod/@connections/",
            "/prod/@connections/a/b",
            "/prod/other/abc",
            "/",
            "/@groups/room",
            "/prod/@groups/",
            "/prod/@broadcast/x",
        ] {
            assert_eq!(parse_path(none), None, "{none}");
        }
    }
}
