//! The Lambda proxy events sent to `aws_proxy` integrations, field for field.
//!
//! Shapes follow captured AWS events (see docs/aws-websocket-semantics.md §3.2-3.4):
//! CONNECT carries the handshake headers (and the query string only when there is
//! one); MESSAGE carries `body` and `messageId` and no headers; DISCONNECT carries
//! AWS's fixed four headers plus `disconnectStatusCode`/`disconnectReason`.
//! `stageVariables` appears only when the stage defines some (AWS leaves its
//! presence UNCONFIRMED). Serialization borrows everything; nothing is copied into
//! an intermediate tree.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use crate::clock;
use crate::conn::ConnInfo;
use crate::conn::Id;
use crate::routing::{ContextVar, Scope};

/// `requestContext.eventType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// `$connect`
    Connect,
    /// A message route.
    Message,
    /// `$disconnect`
    Disconnect,
}

impl EventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Connect => "CONNECT",
            EventType::Message => "MESSAGE",
            EventType::Disconnect => "DISCONNECT",
        }
    }
}

/// Name/value pairs in first-seen order, with repeated names grouped.
#[derive(Debug, Clone, Default)]
pub struct MultiMap(pub Vec<(String, Vec<String>)>);

impl MultiMap {
    /// Adds a value under `name` (grouping with an earlier one of the same name).
    pub fn push(&mut self, name: String, value: String) {
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some((_, values)) => values.push(value),
            None => self.0.push((name, vec![value])),
        }
    }

    /// The first value of `name`, compared case-insensitively.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.first())
            .map(String::as_str)
    }

    /// The first value of `name`, compared exactly (query parameters are case-sensitive).
    pub fn get_exact(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.first())
            .map(String::as_str)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The handshake facts a CONNECT event carries.
#[derive(Debug, Clone, Default)]
pub struct Handshake {
    /// Headers with canonical name casing.
    pub headers: MultiMap,
    /// Query parameters; empty when the URL had no query.
    pub query: MultiMap,
}

/// Everything one event says.
#[derive(Debug)]
pub struct EventContext<'a> {
    /// CONNECT, MESSAGE or DISCONNECT.
    pub event_type: EventType,
    /// The selected route key.
    pub route_key: &'a str,
    /// The connection.
    pub connection_id: &'a Id,
    /// Its handshake facts.
    pub info: &'a ConnInfo,
    /// `apiId`.
    pub api_id: &'a str,
    /// `requestId` (= `extendedRequestId`).
    pub request_id: Id,
    /// `requestTimeEpoch`.
    pub request_time_ms: u64,
    /// MESSAGE only.
    pub message_id: Option<Id>,
    /// MESSAGE only: the message text (base64 for binary under the base64 policy).
    pub body: Option<&'a str>,
    /// Whether `body` is base64.
    pub is_base64: bool,
    /// CONNECT only.
    pub handshake: Option<&'a Handshake>,
    /// DISCONNECT only: status code and reason.
    pub disconnect: Option<(u16, &'a str)>,
    /// The stage's variables.
    pub stage_variables: &'a BTreeMap<String, String>,
    /// The message parsed as JSON, when a template needs it.
    pub body_json: Option<&'a serde_json::Value>,
    /// With a canary on the stage: whether the canary serves this connection.
    pub is_canary: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Event<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    headers: Option<Single<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    multi_value_headers: Option<Multi<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    query_string_parameters: Option<Single<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    multi_value_query_string_parameters: Option<Multi<'a>>,
    request_context: RequestContext<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a str>,
    is_base64_encoded: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stage_variables: Option<&'a BTreeMap<String, String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RequestContext<'a> {
    route_key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    disconnect_status_code: Option<u16>,
    event_type: &'static str,
    extended_request_id: &'a str,
    request_time: String,
    message_direction: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    disconnect_reason: Option<&'a str>,
    stage: &'a str,
    connected_at: u64,
    request_time_epoch: u64,
    identity: Identity<'a>,
    request_id: &'a str,
    domain_name: &'a str,
    connection_id: &'a str,
    api_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorizer: Option<&'a serde_json::Value>,
    /// Present while the stage has a canary (AWS's `$context.isCanaryRequest`).
    #[serde(skip_serializing_if = "Option::is_none")]
    is_canary_request: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Identity<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<&'a str>,
    source_ip: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    api_key_id: Option<&'a str>,
}

/// A header or query map as `{name: "v1,v2"}` (AWS joins repeated values with commas).
enum Single<'a> {
    Pairs(&'a MultiMap),
    Fixed(&'a [(&'a str, &'a str)]),
}

/// A header or query map as `{name: ["v1", "v2"]}`.
enum Multi<'a> {
    Pairs(&'a MultiMap),
    Fixed(&'a [(&'a str, &'a str)]),
}

impl Serialize for Single<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Single::Pairs(m) => {
                let mut map = s.serialize_map(Some(m.0.len()))?;
                for (name, values) in &m.0 {
                    map.serialize_entry(name, &values.join(","))?;
                }
                map.end()
            }
            Single::Fixed(pairs) => {
                let mut map = s.serialize_map(Some(pairs.len()))?;
                for (name, value) in *pairs {
                    map.serialize_entry(name, value)?;
                }
                map.end()
            }
        }
    }
}

impl Serialize for Multi<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Multi::Pairs(m) => {
                let mut map = s.serialize_map(Some(m.0.len()))?;
                for (name, values) in &m.0 {
                    map.serialize_entry(name, values)?;
                }
                map.end()
            }
            Multi::Fixed(pairs) => {
                let mut map = s.serialize_map(Some(pairs.len()))?;
                for (name, value) in *pairs {
                    map.serialize_entry(name, &[value])?;
                }
                map.end()
            }
        }
    }
}

// === impl EventContext ===

impl EventContext<'_> {
    /// The Lambda proxy event JSON.
    pub fn to_json(&self) -> Vec<u8> {
        let request_id = self.request_id.as_str();
        let message_id = self.message_id.as_ref().map(Id::as_str);
        let disconnect_headers: [(&str, &str); 4] = [
            ("Host", &self.info.domain_name),
            ("x-api-key", ""),
            ("X-Forwarded-For", &self.info.source_ip),
            ("x-restapi", ""),
        ];
        let (headers, multi_value_headers) = match (self.event_type, self.handshake) {
            (EventType::Connect, Some(h)) => (
                Some(Single::Pairs(&h.headers)),
                Some(Multi::Pairs(&h.headers)),
            ),
            (EventType::Disconnect, _) => (
                Some(Single::Fixed(&disconnect_headers)),
                Some(Multi::Fixed(&disconnect_headers)),
            ),
            _ => (None, None),
        };
        let query = self
            .handshake
            .filter(|h| self.event_type == EventType::Connect && !h.query.is_empty())
            .map(|h| &h.query);
        let event = Event {
            headers,
            multi_value_headers,
            query_string_parameters: query.map(Single::Pairs),
            multi_value_query_string_parameters: query.map(Multi::Pairs),
            request_context: RequestContext {
                route_key: self.route_key,
                message_id,
                disconnect_status_code: self.disconnect.map(|(code, _)| code),
                event_type: self.event_type.as_str(),
                extended_request_id: request_id,
                request_time: clock::clf(self.request_time_ms),
                message_direction: "IN",
                disconnect_reason: self.disconnect.map(|(_, reason)| reason),
                stage: &self.info.stage,
                connected_at: self.info.connected_at_ms,
                request_time_epoch: self.request_time_ms,
                identity: Identity {
                    user_agent: self.info.user_agent.as_deref(),
                    source_ip: &self.info.source_ip,
                    api_key_id: self.info.auth.api_key_id.as_deref(),
                },
                request_id,
                domain_name: &self.info.domain_name,
                connection_id: self.connection_id.as_str(),
                api_id: self.api_id,
                authorizer: self.info.auth.authorizer.as_deref(),
                is_canary_request: self.is_canary,
            },
            body: self.body,
            is_base64_encoded: self.is_base64,
            stage_variables: (!self.stage_variables.is_empty()).then_some(self.stage_variables),
        };
        // Serializing these borrowed structs to a Vec cannot fail: every key is a string.
        serde_json::to_vec(&event).unwrap_or_default()
    }
}

impl Scope for EventContext<'_> {
    fn body_text(&self) -> Option<&str> {
        self.body
    }

    fn body_json(&self) -> Option<&serde_json::Value> {
        self.body_json
    }

    fn context(&self, var: ContextVar, out: &mut String) {
        use std::fmt::Write as _;
        let _ = match var {
            ContextVar::ConnectionId => write!(out, "{}", self.connection_id),
            ContextVar::RequestId => write!(out, "{}", self.request_id),
            ContextVar::MessageId => match &self.message_id {
                Some(id) => write!(out, "{id}"),
                None => Ok(()),
            },
            ContextVar::RouteKey => write!(out, "{}", self.route_key),
            ContextVar::EventType => write!(out, "{}", self.event_type.as_str()),
            ContextVar::Stage => write!(out, "{}", self.info.stage),
            ContextVar::ApiId => write!(out, "{}", self.api_id),
            ContextVar::DomainName => write!(out, "{}", self.info.domain_name),
            ContextVar::ConnectedAt => write!(out, "{}", self.info.connected_at_ms),
            ContextVar::RequestTimeEpoch => write!(out, "{}", self.request_time_ms),
            ContextVar::SourceIp => write!(out, "{}", self.info.source_ip),
            ContextVar::UserAgent => write!(
                out,
                "{}",
                self.info.user_agent.as_deref().unwrap_or_default()
            ),
        };
    }

    fn stage_var(&self, name: &str) -> Option<&str> {
        self.stage_variables.get(name).map(String::as_str)
    }
}

/// Canonical casing for a lowercased header name: known WebSocket and proxy
/// headers as browsers write them, Title-Case for the rest. (hyper does not expose
/// the client's original casing; HTTP/1 header names are case-insensitive anyway,
/// but Lambda code often indexes `event.headers` with a case-sensitive lookup.)
pub fn canonical_header_name(lower: &str) -> String {
    const KNOWN: &[&str] = &[
        "Sec-WebSocket-Key",
        "Sec-WebSocket-Version",
        "Sec-WebSocket-Extensions",
        "Sec-WebSocket-Protocol",
        "X-Forwarded-For",
        "X-Forwarded-Port",
        "X-Forwarded-Proto",
        "X-Amzn-Trace-Id",
        "User-Agent",
        "Host",
        "Origin",
    ];
    if let Some(k) = KNOWN.iter().find(|k| k.eq_ignore_ascii_case(lower)) {
        return (*k).to_owned();
    }
    let mut out = String::with_capacity(lower.len());
    let mut upper = true;
    for c in lower.chars() {
        out.push(if upper { c.to_ascii_uppercase() } else { c });
        upper = c == '-';
    }
    out
}

#[cfg(test)]
mod tests;
