//! The @connections API: POST (send), GET (info), DELETE (disconnect) at
//! `/{stage}/@connections/{id}`, exactly as boto3's and the AWS CLI's
//! `apigatewaymanagementapi` client calls it with `endpoint_url=http://host:port/{stage}`.
//!
//! Also served without the stage prefix (`/@connections/{id}`), as
//! serverless-offline does, so code written against it works unchanged. The id is
//! percent-decoded (botocore sends `=` as `%3D`), and `%40connections` is accepted
//! for clients that encode the `@`.

use crate::ws::Frame;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;

use super::respond::{ApiError, Body, empty};
use crate::clock;
use crate::gateway::Gateway;
use crate::session::close::CloseReason;
use crate::session::id::Id;
use crate::session::mailbox::PostError;

/// Largest POST body: the API model's `Data` maximum (131072 bytes).
pub const MAX_POST_BYTES: usize = 128 << 10;

/// Serves one request on the management listener.
pub async fn handle(gw: &Gateway, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let resp = match serve(gw, req).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    };
    gw.metrics
        .management_request(&method, resp.status().as_u16());
    resp
}

async fn serve(gw: &Gateway, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
    let (stage, raw_id) = parse_path(req.uri().path()).ok_or(ApiError::NotFound)?;
    if let Some(stage) = stage {
        if !gw.stages.contains_key(stage) {
            return Err(ApiError::NotFound);
        }
    }
    // An id that is malformed (bad percent-encoding, wrong length or alphabet) names
    // no connection, so it is 410 like any other id that is not live: AWS lists
    // "the connection ID is invalid" among the causes of GoneException, and backends
    // rely on `except GoneException` to drop stored ids.
    let conn = percent_encoding::percent_decode_str(raw_id)
        .decode_utf8()
        .ok()
        .and_then(|decoded| Id::parse(&decoded))
        .and_then(|id| gw.registry.get(&id))
        .filter(|c| stage.is_none_or(|s| *c.info.stage == *s));
    match *req.method() {
        Method::POST => {
            if req
                .headers()
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
                .is_some_and(|n| n > MAX_POST_BYTES)
            {
                return Err(ApiError::PayloadTooLarge);
            }
            let body = Limited::new(req.into_body(), MAX_POST_BYTES)
                .collect()
                .await
                .map_err(|e| {
                    if e.is::<http_body_util::LengthLimitError>() {
                        ApiError::PayloadTooLarge
                    } else {
                        ApiError::UnreadableBody
                    }
                })?;
            let conn = conn.ok_or(ApiError::Gone)?;
            let bytes = body.to_bytes();
            // Text frame when the data is UTF-8 (what browsers' onmessage expects),
            // binary otherwise; AWS leaves the opcode UNCONFIRMED.
            let msg = match std::str::from_utf8(&bytes) {
                Ok(text) => Frame::text(text),
                Err(_) => Frame::binary(&bytes),
            };
            match conn.post(msg) {
                Ok(()) => Ok(empty(StatusCode::OK)),
                Err(PostError::Gone) => Err(ApiError::Gone),
                Err(PostError::Full) => {
                    if let Some(stage) = gw.stages.get(&*conn.info.stage) {
                        stage.metrics.queue_rejections.increment(1);
                    }
                    Err(ApiError::LimitExceeded)
                }
            }
        }
        Method::GET => {
            let conn = conn.ok_or(ApiError::Gone)?;
            let body = serde_json::json!({
                "connectedAt": clock::iso8601(conn.info.connected_at_ms),
                "identity": { "sourceIp": conn.info.source_ip, "userAgent": conn.info.user_agent },
                "lastActiveAt": clock::iso8601(conn.last_active_ms()),
            });
            let mut resp = Response::new(Full::new(bytes::Bytes::from(body.to_string())));
            resp.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            Ok(resp)
        }
        Method::DELETE => {
            let conn = conn.ok_or(ApiError::Gone)?;
            if conn.request_close(CloseReason::Deleted) {
                Ok(empty(StatusCode::NO_CONTENT))
            } else {
                Err(ApiError::Gone)
            }
        }
        _ => Err(ApiError::MethodNotAllowed),
    }
}

/// Splits `/{stage}/@connections/{id}` or `/@connections/{id}`.
fn parse_path(path: &str) -> Option<(Option<&str>, &str)> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let is_marker = |s: &str| s == "@connections" || s.eq_ignore_ascii_case("%40connections");
    match segments.as_slice() {
        [marker, id] if is_marker(marker) && !id.is_empty() => Some((None, id)),
        [stage, marker, id] if is_marker(marker) && !id.is_empty() && !stage.is_empty() => {
            Some((Some(stage), id))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::parse_path;

    #[test]
    fn paths() {
        assert_eq!(
            parse_path("/prod/@connections/abc%3D"),
            Some((Some("prod"), "abc%3D"))
        );
        assert_eq!(parse_path("/@connections/abc"), Some((None, "abc")));
        assert_eq!(
            parse_path("/prod/%40connections/abc"),
            Some((Some("prod"), "abc"))
        );
        assert_eq!(parse_path("/prod/@connections/"), None);
        assert_eq!(parse_path("/prod/@connections/a/b"), None);
        assert_eq!(parse_path("/prod/other/abc"), None);
        assert_eq!(parse_path("/"), None);
    }
}
