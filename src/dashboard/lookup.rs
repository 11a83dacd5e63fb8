//! The dashboard's API: one connection, looked up on whichever node holds it
//! (through the cluster, as GetConnection is), sent a message or
//! disconnected; and the groups of a stage with their members on this node,
//! a page at a time. Answers and errors are the management API's own
//! (`http::management`, `ApiError`), so a send here is a POST to
//! `@connections` with one path and one set of outcomes.

use http::{Method, Request, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::json;

use crate::clock;
use crate::gateway::Gateway;
use crate::http::management::{self, parse_id};
use crate::http::respond::{ApiError, Body};

/// Groups per page when the page asks for no number.
const DEFAULT_PAGE: usize = 50;
/// The most groups one page lists (an answer's size is bounded).
const MAX_PAGE: usize = 200;

/// Serves `/@dashboard/api/…`.
pub(super) async fn api(gw: &Gateway, req: Request<Incoming>) -> Response<Body> {
    match serve(gw, req).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn serve(gw: &Gateway, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let (parts, body) = req.into_parts();
    let path = parts
        .uri
        .path()
        .strip_prefix("/@dashboard/api/")
        .unwrap_or("");
    if path == "groups" {
        if parts.method != Method::GET {
            return Err(ApiError::MethodNotAllowed);
        }
        return groups(gw, parts.uri.query().unwrap_or(""));
    }
    let raw = path
        .strip_prefix("connections/")
        .ok_or(ApiError::NotFound)?;
    if raw.is_empty() || raw.contains('/') {
        return Err(ApiError::NotFound);
    }
    if parts.method != Method::GET {
        // Send and disconnect are the management API's own, on any stage.
        let snap = gw.snapshot();
        let data = management::read_body(&parts.headers, body, snap.body_timeout).await?;
        return management::connection(gw, parts.method, None, raw, data).await;
    }
    // A malformed id names no connection: 410, as the management API says.
    let id = parse_id(raw).ok_or(ApiError::Gone)?;
    let view = gw.delivery().connection_info(&id, None).await?;
    let now = clock::now_ms();
    let groups: Vec<&str> = view
        .groups
        .iter()
        .map(|g| g.split_once('/').map_or(g.as_str(), |(_, name)| name))
        .collect();
    let body = json!({
        "connectionId": id.to_string(),
        "stage": &*view.info.stage,
        "node": view.node,
        "sourceIp": view.info.source_ip,
        "userAgent": view.info.user_agent,
        "connectedAt": clock::iso8601(view.info.connected_at_ms),
        "ageSeconds": now.saturating_sub(view.info.connected_at_ms) / 1000,
        "lastActiveAt": clock::iso8601(view.last_active_ms),
        "groups": groups,
        "queuedMessages": view.queued_messages,
        "queuedBytes": view.queued_bytes,
    });
    Ok(management::json(StatusCode::OK, body.to_string()))
}

/// `groups?stage=S&after=NAME&limit=N`: names after `after`, in order.
fn groups(gw: &Gateway, query: &str) -> Result<Response<Body>, ApiError> {
    let (mut stage, mut after, mut limit) = (String::new(), String::new(), DEFAULT_PAGE);
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = decode(v);
        match k {
            "stage" => stage = v,
            "after" => after = v,
            "limit" => limit = v.parse().unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE),
            _ => {}
        }
    }
    if gw.snapshot().stage(&stage).is_none() {
        return Err(ApiError::NotFound);
    }
    let (page, total) = gw.delivery().groups().page(&stage, &after, limit);
    let next = (page.len() == limit).then(|| page.last().map(|(n, _)| n.clone()));
    let groups: Vec<_> = page
        .into_iter()
        .map(|(name, members)| json!({"name": name, "members": members}))
        .collect();
    let body = json!({"stage": stage, "groups": groups, "total": total, "next": next.flatten()});
    Ok(management::json(StatusCode::OK, body.to_string()))
}

/// A query value, percent-decoded (`+` is a space, as forms send it).
fn decode(v: &str) -> String {
    let v = v.replace('+', " ");
    percent_encoding::percent_decode_str(&v)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(decode("a%2Fb+c"), "a/b c");
        assert_eq!(decode("%ff"), "\u{fffd}");
    }
}
