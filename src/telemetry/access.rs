//! The access log: one line (target `sockgate::access`, at INFO) per HTTP
//! request and, for a WebSocket API, per `$connect`, message and
//! `$disconnect`, each with AWS's `$context` names (`requestId`, `ip`,
//! `routeKey`, `status`, `integrationLatency`, …) so a line reads like an
//! API Gateway access log entry. `SOCKGATE_LOG_FORMAT=json` makes each one
//! JSON object. Never a payload, a header or query value, or a token: what
//! a line holds is the gateway's own ids, the client's address, route keys
//! as configured, statuses, times and fixed error texts.

/// One HTTP API request.
#[derive(Debug)]
pub struct HttpLine<'a> {
    /// `$context.requestId`.
    pub request_id: &'a str,
    /// `$context.identity.sourceIp`.
    pub ip: &'a str,
    /// `$context.httpMethod`.
    pub method: &'a str,
    /// `$context.routeKey` (empty when no route matched).
    pub route_key: &'a str,
    /// `$context.status`.
    pub status: u16,
    /// `$context.responseLength`, when known.
    pub response_length: Option<u64>,
    /// `$context.integrationLatency`, in milliseconds.
    pub integration_latency_ms: Option<u64>,
    /// `$context.integrationErrorMessage`.
    pub integration_error: Option<&'a str>,
    /// `$context.xrayTraceId`: the root of the request's `X-Amzn-Trace-Id`
    /// (the client's, or the one the gateway made and sent on).
    pub trace_id: &'a str,
}

/// Writes an HTTP request's line.
pub fn http(l: &HttpLine<'_>) {
    tracing::info!(
        target: "sockgate::access",
        requestId = l.request_id,
        ip = l.ip,
        httpMethod = l.method,
        routeKey = l.route_key,
        status = l.status,
        responseLength = l.response_length,
        integrationLatency = l.integration_latency_ms,
        integrationErrorMessage = l.integration_error,
        xrayTraceId = l.trace_id,
        "HTTP request."
    );
}

/// One event of a WebSocket connection.
#[derive(Debug)]
pub struct WsLine<'a> {
    /// `$context.eventType`: `CONNECT`, `MESSAGE` or `DISCONNECT`.
    pub event_type: &'static str,
    /// `$context.requestId` of a message's event or error frame.
    pub request_id: Option<&'a str>,
    /// `$context.connectionId` (empty when refused before one was made).
    pub connection_id: &'a str,
    /// `$context.stage` (empty when the path named no stage).
    pub stage: &'a str,
    /// `$context.identity.sourceIp`.
    pub ip: &'a str,
    /// `$context.routeKey`.
    pub route_key: &'a str,
    /// `$context.status`: 200 for an accepted `$connect` (as AWS logs it),
    /// the refusal's HTTP status otherwise; a message's integration status,
    /// or the status of the error frame the gateway sent instead (403 no
    /// route, 429 throttled, 400 not matching its model, 500 a failed call,
    /// 504 a call that timed out).
    pub status: u16,
    /// `$context.integrationLatency`, in milliseconds (a call was made).
    pub integration_latency_ms: Option<u64>,
    /// `$context.error.message`: why the gateway refused or failed it.
    pub error: Option<&'a str>,
    /// `$context.integrationErrorMessage`: the kind of a failed call
    /// (`timeout`, `failed`, `function_error`, …).
    pub integration_error: Option<&'static str>,
    /// A `$disconnect`'s `disconnectStatusCode` and `disconnectReason`.
    pub disconnect: Option<(u16, &'a str)>,
    /// `$context.xrayTraceId` of a `$connect`: the root of its upgrade
    /// request's `X-Amzn-Trace-Id` (the client's, or the one made for it).
    pub trace_id: Option<&'a str>,
}

impl<'a> WsLine<'a> {
    /// An event's line with what every one has; the rest empty.
    pub fn new(
        event_type: &'static str,
        connection_id: &'a str,
        stage: &'a str,
        ip: &'a str,
        route_key: &'a str,
        status: u16,
    ) -> WsLine<'a> {
        WsLine {
            event_type,
            request_id: None,
            connection_id,
            stage,
            ip,
            route_key,
            status,
            integration_latency_ms: None,
            error: None,
            integration_error: None,
            disconnect: None,
            trace_id: None,
        }
    }
}

/// Writes a WebSocket event's line.
pub fn websocket(l: &WsLine<'_>) {
    tracing::info!(
        target: "sockgate::access",
        requestId = l.request_id,
        ip = l.ip,
        eventType = l.event_type,
        connectionId = l.connection_id,
        stage = l.stage,
        routeKey = l.route_key,
        status = l.status,
        integrationLatency = l.integration_latency_ms,
        errorMessage = l.error,
        integrationErrorMessage = l.integration_error,
        disconnectStatusCode = l.disconnect.map(|d| d.0),
        disconnectReason = l.disconnect.map(|d| d.1),
        xrayTraceId = l.trace_id,
        "WebSocket event."
    );
}
