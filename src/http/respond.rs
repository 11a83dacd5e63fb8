//! The ONE mapping from errors to HTTP responses (the WebSocket-side mapping is
//! `conn::close`). Exhaustive matches; bodies are fixed strings, never an
//! internal error's text.
//!
//! @connections errors carry `x-amzn-ErrorType`, which AWS SDKs read to raise the
//! typed exception (`GoneException`, …); a bare 410 would only be a generic error.

use bytes::Bytes;

use crate::auth::AuthFailure;
use crate::conn::DeliveryError;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

use crate::gateway::ConnectError;

/// A response body type shared by every listener.
pub type Body = Full<Bytes>;

/// Why an @connections request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiError {
    /// No live connection on this stage has that id (including malformed ids).
    Gone,
    /// POST body over 128 KiB.
    PayloadTooLarge,
    /// The connection's send queue is full.
    LimitExceeded,
    /// The request body could not be read.
    UnreadableBody,
    /// Unknown path or stage.
    NotFound,
    /// A method @connections does not serve.
    MethodNotAllowed,
    /// The connection is already in `max_groups_per_connection` groups.
    TooManyGroups,
    /// A group name outside the allowed characters or length.
    InvalidGroup,
    /// The call needs another node and the cluster (Redis) cannot be reached.
    Unavailable,
    /// Missing or wrong credentials (SigV4 signature or bearer token).
    Forbidden,
    /// The request body did not arrive within `request_body_timeout`.
    BodyTimeout,
    /// Over the node's `[throttle]` limit (AWS: the account's).
    Throttled,
}

impl From<DeliveryError> for ApiError {
    fn from(e: DeliveryError) -> ApiError {
        match e {
            DeliveryError::Gone => ApiError::Gone,
            DeliveryError::Full => ApiError::LimitExceeded,
            DeliveryError::TooManyGroups => ApiError::TooManyGroups,
            DeliveryError::Unavailable => ApiError::Unavailable,
        }
    }
}

/// Why a WebSocket upgrade was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandshakeError {
    /// No such stage.
    UnknownStage,
    /// A plain HTTP request on the WebSocket endpoint.
    UpgradeRequired,
    /// An upgrade request with a missing or unsupported `Sec-WebSocket-Version`.
    UnsupportedVersion,
    /// An upgrade request missing required parts.
    BadRequest,
    /// The node is at `max_connections` or draining.
    Unavailable,
    /// `$connect` refused it.
    Connect(ConnectError),
    /// The browser `Origin` is not in `allowed_origins`.
    OriginNotAllowed,
    /// Over a per-source-IP cap.
    TooManyRequests,
    /// The stage needs an API key and none (or a wrong one) was presented.
    ApiKey,
    /// The stage's authorizer refused or failed.
    Auth(AuthFailure),
    /// Subprotocols were offered and none is in `allowed_subprotocols`.
    SubprotocolNotAllowed,
}

/// Why the HTTP API answered a request itself (AWS HTTP APIs' error bodies:
/// JSON with no space after the colon).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpApiError {
    /// No stage or no route matches: 404 `{"message":"Not Found"}`.
    NotFound,
    /// The body is over `[http] max_body_bytes` (AWS: 10 MB). AWS leaves the
    /// status UNCONFIRMED; 413 `{"message":"Request Entity Too Large"}`.
    PayloadTooLarge,
    /// The body did not arrive within `request_body_timeout`: 408, and the
    /// connection is closed (the rest of the body would read as a request).
    BodyTimeout,
    /// The body could not be read: 400 `{"message":"Bad Request"}`.
    BadRequest,
    /// The integration failed or answered garbage: 500
    /// `{"message":"Internal Server Error"}`.
    Internal,
    /// The integration timed out: 503 `{"message":"Service Unavailable"}`.
    Unavailable,
    /// A plain request for a stage's WebSocket URL that no HTTP route serves:
    /// the same 426 an upgrade without its headers gets.
    UpgradeRequired,
    /// No or bad credentials: 401 `{"message":"Unauthorized"}`. From a JWT
    /// authorizer (`Some(why)`), with AWS's `www-authenticate: Bearer …
    /// error="invalid_token" error_description="why"`.
    Unauthorized(Option<&'static str>),
    /// Refused by the authorizer, or a missing or wrong API key: 403
    /// `{"message":"Forbidden"}`.
    Forbidden,
    /// A valid JWT without any of the route's scopes: 403, with
    /// `www-authenticate: Bearer error="insufficient_scope"`.
    InsufficientScope,
    /// Throttled: 429 `{"message":"Too Many Requests"}` (AWS leaves the HTTP
    /// API body UNCONFIRMED; this is its REST text).
    TooManyRequests,
    /// A usage plan's quota is used up: 429 `{"message":"Limit Exceeded"}`
    /// (AWS REST's `QUOTA_EXCEEDED`).
    LimitExceeded,
    /// Required parameters are absent or blank (their names, sorted): 400
    /// `{"message": "Missing required request parameters: [a, b]"}` (AWS
    /// REST's text, spaced as AWS writes it).
    MissingParameters(String),
    /// The body does not match the route's model: 400 `{"message": "Invalid
    /// request body"}`, with `errors` (paths and keywords) on routes that opt in.
    InvalidBody(Option<Vec<String>>),
}

impl HttpApiError {
    /// The response AWS HTTP APIs give.
    pub fn into_response(self) -> Response<Body> {
        let (status, message) = match &self {
            HttpApiError::MissingParameters(names) => {
                let message = format!("Missing required request parameters: [{names}]");
                return validation_error(&[("message", message.into())]);
            }
            HttpApiError::InvalidBody(details) => {
                let mut pairs = vec![("message", "Invalid request body".into())];
                if let Some(d) = details {
                    pairs.push(("errors", serde_json::Value::from(d.clone())));
                }
                return validation_error(&pairs);
            }
            HttpApiError::NotFound => (StatusCode::NOT_FOUND, "Not Found"),
            HttpApiError::PayloadTooLarge => {
                (StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large")
            }
            HttpApiError::BodyTimeout => (StatusCode::REQUEST_TIMEOUT, "Request Timeout"),
            HttpApiError::BadRequest => (StatusCode::BAD_REQUEST, "Bad Request"),
            HttpApiError::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
            HttpApiError::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
            HttpApiError::UpgradeRequired => {
                return HandshakeError::UpgradeRequired.into_response();
            }
            HttpApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "Unauthorized"),
            HttpApiError::Forbidden | HttpApiError::InsufficientScope => {
                (StatusCode::FORBIDDEN, "Forbidden")
            }
            HttpApiError::TooManyRequests => (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests"),
            HttpApiError::LimitExceeded => (StatusCode::TOO_MANY_REQUESTS, "Limit Exceeded"),
        };
        let mut resp = json(status, message);
        let challenge = match &self {
            HttpApiError::Unauthorized(Some(why)) => Some(format!(
                r#"Bearer scope="" error="invalid_token" error_description="{why}""#
            )),
            HttpApiError::InsufficientScope => {
                Some(r#"Bearer error="insufficient_scope""#.to_owned())
            }
            _ => None,
        };
        if let Some(v) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        if self == HttpApiError::BodyTimeout {
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }
}

/// A 400 with AWS REST's validation body: `"key": value` pairs spaced as AWS
/// writes them (`{"message": "Invalid request body"}`).
fn validation_error(pairs: &[(&str, serde_json::Value)]) -> Response<Body> {
    let pairs: Vec<String> = pairs.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
    let text = format!("{{{}}}", pairs.join(", "));
    let mut resp = Response::new(Full::new(Bytes::from(text)));
    *resp.status_mut() = StatusCode::BAD_REQUEST;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// An AWS-style JSON error body: `{"message":"…"}`.
fn json(status: StatusCode, message: &str) -> Response<Body> {
    let body = format!(r#"{{"message":"{message}"}}"#);
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// An empty response with `status`.
pub fn empty(status: StatusCode) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::new()));
    *resp.status_mut() = status;
    resp
}

impl ApiError {
    /// The HTTP response boto3 and the AWS CLI expect.
    pub fn into_response(self) -> Response<Body> {
        let (status, error_type, message) = match self {
            ApiError::Gone => (StatusCode::GONE, "GoneException", "Gone"),
            ApiError::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "PayloadTooLargeException",
                "Request payload too large; the maximum is 131072 bytes",
            ),
            ApiError::LimitExceeded => (
                StatusCode::TOO_MANY_REQUESTS,
                "LimitExceededException",
                "The connection's send buffer is full",
            ),
            ApiError::UnreadableBody => (
                StatusCode::BAD_REQUEST,
                "BadRequestException",
                "Could not read the request body",
            ),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "NotFoundException", "Not Found"),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowedException",
                "Method Not Allowed",
            ),
            ApiError::TooManyGroups => (
                StatusCode::TOO_MANY_REQUESTS,
                "LimitExceededException",
                "The connection is in the maximum number of groups",
            ),
            ApiError::InvalidGroup => (
                StatusCode::BAD_REQUEST,
                "BadRequestException",
                "Group names are 1-128 characters of letters, digits, '-', '_', '.' and ':'",
            ),
            ApiError::Forbidden => (StatusCode::FORBIDDEN, "ForbiddenException", "Forbidden"),
            ApiError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailableException",
                "The cluster is unreachable; delivery to other nodes failed",
            ),
            ApiError::BodyTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                "RequestTimeoutException",
                "The request body was not received in time",
            ),
            ApiError::Throttled => (
                StatusCode::TOO_MANY_REQUESTS,
                "LimitExceededException",
                "Too Many Requests",
            ),
        };
        let mut resp = json(status, message);
        resp.headers_mut()
            .insert("x-amzn-errortype", HeaderValue::from_static(error_type));
        if self == ApiError::BodyTimeout {
            // The rest of a stalled body would be read as the next request.
            resp.headers_mut()
                .insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }
}

impl HandshakeError {
    /// Why, for the log.
    pub fn reason(self) -> &'static str {
        match self {
            HandshakeError::UnknownStage => "no such stage",
            HandshakeError::UpgradeRequired => "not a WebSocket upgrade",
            HandshakeError::UnsupportedVersion => "unsupported Sec-WebSocket-Version",
            HandshakeError::BadRequest => "malformed upgrade request",
            HandshakeError::Unavailable => "at max_connections or draining",
            HandshakeError::Connect(ConnectError::Rejected(_)) => "$connect refused it",
            HandshakeError::Connect(ConnectError::Failed) => "$connect integration failed",
            HandshakeError::Connect(ConnectError::Timeout) => "$connect integration timed out",
            HandshakeError::OriginNotAllowed => "Origin not in allowed_origins",
            HandshakeError::TooManyRequests => "over a per-IP limit",
            HandshakeError::ApiKey => "no valid API key",
            HandshakeError::Auth(f) => f.reason(),
            HandshakeError::SubprotocolNotAllowed => "no allowed subprotocol offered",
        }
    }

    /// The HTTP response to the refused upgrade.
    pub fn into_response(self) -> Response<Body> {
        match self {
            HandshakeError::UnknownStage => json(StatusCode::NOT_FOUND, "Not Found"),
            HandshakeError::UpgradeRequired => {
                let mut resp = json(StatusCode::UPGRADE_REQUIRED, "Upgrade Required");
                resp.headers_mut()
                    .insert(header::UPGRADE, HeaderValue::from_static("websocket"));
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
                resp
            }
            HandshakeError::UnsupportedVersion => {
                let mut resp = json(
                    StatusCode::UPGRADE_REQUIRED,
                    "Unsupported WebSocket version",
                );
                resp.headers_mut().insert(
                    header::SEC_WEBSOCKET_VERSION,
                    HeaderValue::from_static("13"),
                );
                resp
            }
            HandshakeError::BadRequest => json(StatusCode::BAD_REQUEST, "Bad Request"),
            HandshakeError::Unavailable => {
                json(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
            }
            HandshakeError::Connect(ConnectError::Failed) => {
                json(StatusCode::BAD_GATEWAY, "Bad Gateway")
            }
            HandshakeError::Connect(ConnectError::Timeout) => {
                json(StatusCode::GATEWAY_TIMEOUT, "Gateway Timeout")
            }
            HandshakeError::Connect(ConnectError::Rejected(code)) => {
                let status = StatusCode::from_u16(code).unwrap_or(StatusCode::FORBIDDEN);
                json(status, status.canonical_reason().unwrap_or("Rejected"))
            }
            HandshakeError::OriginNotAllowed | HandshakeError::ApiKey => {
                json(StatusCode::FORBIDDEN, "Forbidden")
            }
            HandshakeError::TooManyRequests => {
                json(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests")
            }
            HandshakeError::SubprotocolNotAllowed => {
                json(StatusCode::BAD_REQUEST, "Unsupported subprotocol")
            }
            // AWS's answers to a refused authorization; the reason stays in the log.
            HandshakeError::Auth(AuthFailure::Unauthorized(_)) => {
                json(StatusCode::UNAUTHORIZED, "Unauthorized")
            }
            HandshakeError::Auth(AuthFailure::Forbidden(_)) => {
                json(StatusCode::FORBIDDEN, "Forbidden")
            }
            HandshakeError::Auth(AuthFailure::Failed(_)) => {
                json(StatusCode::BAD_GATEWAY, "Bad Gateway")
            }
            HandshakeError::Auth(AuthFailure::Timeout) => {
                json(StatusCode::GATEWAY_TIMEOUT, "Gateway Timeout")
            }
            HandshakeError::Auth(AuthFailure::Unavailable(_)) => {
                json(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every status the @connections API can answer has a pre-registered counter.
    #[test]
    fn management_metrics_cover_every_api_status() {
        let all = [
            ApiError::Gone,
            ApiError::PayloadTooLarge,
            ApiError::LimitExceeded,
            ApiError::UnreadableBody,
            ApiError::NotFound,
            ApiError::MethodNotAllowed,
            ApiError::TooManyGroups,
            ApiError::InvalidGroup,
            ApiError::Unavailable,
            ApiError::Forbidden,
            ApiError::BodyTimeout,
            ApiError::Throttled,
        ];
        let statuses = crate::telemetry::MANAGEMENT_STATUSES;
        for e in all {
            let status = e.into_response().status().as_u16();
            assert!(statuses.contains(&status), "{e:?} answers {status}");
            // Adding a variant breaks this match, pointing here.
            match e {
                ApiError::Gone
                | ApiError::PayloadTooLarge
                | ApiError::LimitExceeded
                | ApiError::UnreadableBody
                | ApiError::NotFound
                | ApiError::MethodNotAllowed
                | ApiError::TooManyGroups
                | ApiError::InvalidGroup
                | ApiError::Unavailable
                | ApiError::Forbidden
                | ApiError::BodyTimeout
                | ApiError::Throttled => {}
            }
        }
        assert!(statuses.contains(&200) && statuses.contains(&204));
    }
}
