//! The access log: one line (target `sockgate::access`, at INFO) per HTTP
//! request and, for a WebSocket API, per `$connect`, message and
//! `$disconnect`, each with AWS's `$context` names (`requestId`, `ip`,
//! `routeKey`, `status`, `integrationLatency`, …) so a line reads like an
//! API Gateway access log entry. `SOCKGATE_LOG_FORMAT=json` makes each one
//! JSON object. Never a payload, a header or query value, or a token: what
//! a line holds is the gateway's own ids, the client's address, route keys
//! as configured, statuses, times and fixed error texts.

use std::borrow::Cow;

use super::access_format::{AccessFormat, Values, Var};
use crate::clock;

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

/// Writes an HTTP request's line: from `format` when one is configured
/// (`[http] access_log_format`), else as a log event with these fields.
pub fn http(l: &HttpLine<'_>, format: Option<&AccessFormat>) {
    if let Some(f) = format {
        return super::access_file::write_line(&f.render(l));
    }
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
    /// `$context.xrayTraceId`: the root of the upgrade's `X-Amzn-Trace-Id`
    /// (the client's, or the one made for it), which every event of the
    /// connection shares (`crate::trace`).
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

/// Writes a WebSocket event's line: from `format` when one is configured
/// (`[websocket] access_log_format`), else as a log event with these fields.
pub fn websocket(l: &WsLine<'_>, format: Option<&AccessFormat>) {
    if let Some(f) = format {
        return super::access_file::write_line(&f.render(l));
    }
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

/// A number as a template value.
fn num(n: impl ToString) -> Option<Cow<'static, str>> {
    Some(Cow::Owned(n.to_string()))
}

/// The values every line has the same way: the time it is written.
fn time(var: Var) -> Option<Cow<'static, str>> {
    match var {
        Var::RequestTime => Some(Cow::Owned(clock::clf(clock::now_ms()))),
        Var::RequestTimeEpoch => num(clock::now_ms()),
        _ => None,
    }
}

impl<'a> Values for HttpLine<'a> {
    fn value(&self, var: Var) -> Option<Cow<'_, str>> {
        let text = |s: &'a str| (!s.is_empty()).then_some(Cow::Borrowed(s));
        match var {
            Var::RequestId => text(self.request_id),
            Var::SourceIp => text(self.ip),
            Var::HttpMethod => text(self.method),
            Var::RouteKey => text(self.route_key),
            Var::Status => num(self.status),
            Var::ResponseLength => self.response_length.and_then(num),
            Var::IntegrationLatency => self.integration_latency_ms.and_then(num),
            Var::IntegrationError => self.integration_error.and_then(text),
            Var::XrayTraceId => text(self.trace_id),
            _ => time(var),
        }
    }
}

impl<'a> Values for WsLine<'a> {
    fn value(&self, var: Var) -> Option<Cow<'_, str>> {
        let text = |s: &'a str| (!s.is_empty()).then_some(Cow::Borrowed(s));
        match var {
            Var::RequestId => self.request_id.and_then(text),
            Var::SourceIp => text(self.ip),
            Var::RouteKey => text(self.route_key),
            Var::Status => num(self.status),
            Var::IntegrationLatency => self.integration_latency_ms.and_then(num),
            Var::IntegrationError => self.integration_error.and_then(text),
            Var::XrayTraceId => self.trace_id.and_then(text),
            Var::EventType => text(self.event_type),
            Var::ConnectionId => text(self.connection_id),
            Var::Stage => text(self.stage),
            // Quoted by the template's renderer.
            Var::ErrorMessage | Var::ErrorMessageString => self.error.and_then(text),
            Var::DisconnectStatusCode => self.disconnect.and_then(|d| num(d.0)),
            Var::DisconnectReason => self.disconnect.and_then(|d| text(d.1)),
            _ => time(var),
        }
    }
}
