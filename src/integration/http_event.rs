//! The Lambda proxy events of HTTP routes: payload format 2.0 (AWS HTTP APIs'
//! default) and 1.0 (the REST API shape with `version: "1.0"`), field for field
//! as docs/aws-websocket-semantics.md §8.2 and docs/http-gateway.md §A2 list
//! them.
//!
//! 2.0: header names lowercased, repeated headers and query keys joined with
//! `,` (no space); every `Cookie` header split into `cookies` and left out of
//! `headers` (AWS leaves the removal UNCONFIRMED; its runtime libraries read
//! cookies only from `cookies`); optional collections omitted when empty.
//! 1.0: single-value maps keep the last value, the full lists are in the
//! `multiValue*` maps, absent collections are explicit `null`.
//! Both: values decoded from the URL (`rawPath`/`rawQueryString` verbatim; a
//! `+` stays a `+`, as in a path: only `%XX` is decoded — UNCONFIRMED in AWS's
//! docs, and the only reading that keeps `a+b` intact), and a body that is not
//! text (by `Content-Type`: `text/*`, JSON, XML, JavaScript) is base64.
//! Serialization borrows the request; nothing is copied into a JSON tree.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use std::borrow::Cow;

use http::{HeaderMap, HeaderValue};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::clock;
use crate::integration::forwarded::Forwarded;

/// What an HTTP request's event says.
#[derive(Debug, Clone, Copy)]
pub struct HttpFacts<'a> {
    /// The matched route key (`GET /pets/{id}`, `$default`).
    pub route_key: &'a str,
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The path as sent, the stage included (`/prod/pets/1`).
    pub raw_path: &'a str,
    /// The path as sent, after the stage (`/pets/1`): what routes match.
    pub route_path: &'a str,
    /// The query string as sent, without `?`.
    pub raw_query: &'a str,
    /// The request's headers.
    pub headers: &'a HeaderMap,
    /// The body as received.
    pub body: &'a [u8],
    /// `HTTP/1.1` or `HTTP/2.0`.
    pub protocol: &'a str,
    /// `http` or `https`: how the client reached the gateway.
    pub scheme: &'static str,
    /// `identity.sourceIp`.
    pub source_ip: &'a str,
    /// The gateway's forwarding fields (not among `headers`).
    pub forwarded: &'a Forwarded,
    /// Stage name (`$default` for the root stage).
    pub stage: &'a str,
    /// Path parameters, decoded, in path order.
    pub path_params: &'a [(&'a str, String)],
    /// The stage's variables.
    pub stage_variables: &'a BTreeMap<String, String>,
    /// `requestId`.
    pub request_id: &'a str,
    /// `timeEpoch` (ms).
    pub time_ms: u64,
    /// `apiId`.
    pub api_id: &'a str,
    /// `domainName`: the configured one, else the request's `Host`.
    pub domain_name: &'a str,
    /// The route's path template (`/pets/{id}`), for 1.0's `resource`.
    pub resource: &'a str,
    /// With a canary on the stage: whether the canary served this request
    /// (`requestContext.isCanaryRequest`, as AWS's REST canaries say it).
    pub is_canary: Option<bool>,
    /// `requestContext.authorizer`, shaped for the payload format, if the
    /// route has an authorizer.
    pub authorizer: Option<&'a Value>,
}

/// Whether a body of this `Content-Type` is passed as text (else base64).
pub fn is_text(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else { return false };
    let essence = ct.split(';').next().unwrap_or("").trim();
    let is = |t: &str| essence.eq_ignore_ascii_case(t);
    essence
        .get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("text/"))
        || is("application/json")
        || is("application/xml")
        || is("application/javascript")
}

use crate::routing::query::grouped as query;

/// A header value as text for an event or a mapping: as UTF-8 when it is
/// valid UTF-8 (what browsers and most clients send), else each byte as the
/// ISO-8859-1 character of that number (HTTP's historical charset, RFC 9110
/// §5.5) — every byte the client sent is in the text, none is dropped.
pub fn header_text(v: &HeaderValue) -> Cow<'_, str> {
    match std::str::from_utf8(v.as_bytes()) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => Cow::Owned(v.as_bytes().iter().map(|&b| char::from(b)).collect()),
    }
}

/// Headers grouped by (lowercase) name: the client's, then the gateway's
/// forwarding fields.
fn headers<'a>(f: &HttpFacts<'a>) -> Vec<(&'a str, Vec<Cow<'a, str>>)> {
    let map = f.headers;
    let mut out: Vec<(&str, Vec<Cow<'_, str>>)> = map
        .keys()
        .map(|name| {
            let values = map.get_all(name).iter().map(header_text).collect();
            (name.as_str(), values)
        })
        .collect();
    for (name, value) in f.forwarded.fields() {
        out.push((name, vec![Cow::Borrowed(value)]));
    }
    out
}

impl<'a> HttpFacts<'a> {
    /// A request header's first value as text (a forwarding field's is the
    /// gateway's); `name` lower case.
    pub fn header(&self, name: &str) -> Option<Cow<'a, str>> {
        let forwarded: &'a Forwarded = self.forwarded;
        if let Some(v) = forwarded.get(name) {
            return Some(Cow::Borrowed(v));
        }
        self.headers.get(name).map(header_text)
    }
}

fn body(f: &HttpFacts<'_>) -> (Option<String>, bool) {
    if f.body.is_empty() {
        return (None, false);
    }
    let ct = f
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    match std::str::from_utf8(f.body) {
        Ok(text) if is_text(ct) => (Some(text.to_owned()), false),
        _ => (Some(STANDARD.encode(f.body)), true),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct V2<'a> {
    version: &'static str,
    route_key: &'a str,
    raw_path: &'a str,
    raw_query_string: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    cookies: Vec<String>,
    headers: Map<String, Value>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    query_string_parameters: Map<String, Value>,
    request_context: ContextV2<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    path_parameters: Map<String, Value>,
    is_base64_encoded: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    stage_variables: &'a BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ContextV2<'a> {
    account_id: &'static str,
    api_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    authorizer: Option<&'a Value>,
    domain_name: &'a str,
    domain_prefix: &'a str,
    http: HttpV2<'a>,
    request_id: &'a str,
    route_key: &'a str,
    stage: &'a str,
    time: String,
    time_epoch: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    is_canary_request: Option<bool>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct HttpV2<'a> {
    method: &'a str,
    path: &'a str,
    protocol: &'a str,
    source_ip: &'a str,
    user_agent: Cow<'a, str>,
}

/// The AWS account id events carry: sockgate has no account, so it sends
/// AWS's documentation placeholder rather than a made-up real-looking one.
pub const ACCOUNT_ID: &str = "123456789012";

fn joined<S: AsRef<str>>(pairs: impl Iterator<Item = (String, Vec<S>)>) -> Map<String, Value> {
    pairs
        .map(|(k, vs)| {
            let mut joined = String::new();
            for (i, v) in vs.iter().enumerate() {
                if i > 0 {
                    joined.push(',');
                }
                joined.push_str(v.as_ref());
            }
            (k, Value::String(joined))
        })
        .collect()
}

/// The payload format 2.0 event, serialized.
pub fn v2_json(f: &HttpFacts<'_>) -> Vec<u8> {
    serde_json::to_vec(&v2(f)).expect("an event always serializes")
}

fn v2<'a>(f: &'a HttpFacts<'a>) -> V2<'a> {
    let mut cookies = Vec::new();
    let mut header_pairs = Vec::new();
    for (name, values) in headers(f) {
        if name == "cookie" {
            for v in &values {
                let split = v.split(';').map(str::trim).filter(|c| !c.is_empty());
                cookies.extend(split.map(str::to_owned));
            }
        } else {
            header_pairs.push((name.to_owned(), values));
        }
    }
    let q = query(f.raw_query);
    let (body, is_base64_encoded) = body(f);
    let user_agent = f
        .headers
        .get(http::header::USER_AGENT)
        .map_or(Cow::Borrowed(""), header_text);
    V2 {
        version: "2.0",
        route_key: f.route_key,
        raw_path: f.raw_path,
        raw_query_string: f.raw_query,
        cookies,
        headers: joined(header_pairs.into_iter()),
        query_string_parameters: joined(
            q.iter()
                .map(|(k, vs)| (k.clone(), vs.iter().map(String::as_str).collect())),
        ),
        request_context: ContextV2 {
            account_id: ACCOUNT_ID,
            api_id: f.api_id,
            authorizer: f.authorizer,
            domain_name: f.domain_name,
            domain_prefix: f.domain_name.split('.').next().unwrap_or(""),
            http: HttpV2 {
                method: f.method,
                path: f.raw_path,
                protocol: f.protocol,
                source_ip: f.source_ip,
                user_agent,
            },
            request_id: f.request_id,
            route_key: f.route_key,
            stage: f.stage,
            time: clock::clf(f.time_ms),
            time_epoch: f.time_ms,
            is_canary_request: f.is_canary,
        },
        body,
        path_parameters: params(f),
        is_base64_encoded,
        stage_variables: f.stage_variables,
    }
}

fn params(f: &HttpFacts<'_>) -> Map<String, Value> {
    f.path_params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
        .collect()
}

/// 1.0's single-value maps keep the last value.
fn last<S: AsRef<str>>(vs: &[S]) -> Value {
    Value::String(vs.last().map_or("", AsRef::as_ref).to_owned())
}

/// 1.0's `multiValue*` maps keep them all.
fn list<S: AsRef<str>>(vs: &[S]) -> Value {
    Value::from(vs.iter().map(AsRef::as_ref).collect::<Vec<&str>>())
}

/// The payload format 1.0 event, serialized.
pub fn v1_json(f: &HttpFacts<'_>) -> Vec<u8> {
    serde_json::to_vec(&v1(f)).expect("an event always serializes")
}

fn v1(f: &HttpFacts<'_>) -> Value {
    let hs = headers(f);
    let single: Map<String, Value> = hs
        .iter()
        .map(|(k, vs)| ((*k).to_owned(), last(vs)))
        .collect();
    let multi: Map<String, Value> = hs
        .iter()
        .map(|(k, vs)| ((*k).to_owned(), list(vs)))
        .collect();
    let q = query(f.raw_query);
    let qs = |pick: fn(&[String]) -> Value| -> Value {
        if q.is_empty() {
            return Value::Null;
        }
        q.iter()
            .map(|(k, vs)| (k.clone(), pick(vs)))
            .collect::<Map<String, Value>>()
            .into()
    };
    let (body, is_base64) = body(f);
    let path = f.raw_path;
    let user_agent = f.headers.get(http::header::USER_AGENT).map(header_text);
    let params = params(f);
    let or_null = |m: Map<String, Value>| if m.is_empty() { Value::Null } else { m.into() };
    let vars = (!f.stage_variables.is_empty()).then(|| serde_json::to_value(f.stage_variables));
    let event = serde_json::json!({
        "version": "1.0",
        "resource": f.resource,
        "path": path,
        "httpMethod": f.method,
        "headers": single,
        "multiValueHeaders": multi,
        "queryStringParameters": qs(last),
        "multiValueQueryStringParameters": qs(list),
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": f.api_id,
            "authorizer": f.authorizer.cloned().unwrap_or_else(
                || serde_json::json!({"claims": null, "scopes": null})),
            "domainName": f.domain_name,
            "domainPrefix": f.domain_name.split('.').next().unwrap_or(""),
            "extendedRequestId": f.request_id,
            "httpMethod": f.method,
            "identity": {
                "accessKey": null, "accountId": null, "caller": null,
                "cognitoAuthenticationProvider": null, "cognitoAuthenticationType": null,
                "cognitoIdentityId": null, "cognitoIdentityPoolId": null,
                "principalOrgId": null, "sourceIp": f.source_ip, "user": null,
                "userAgent": user_agent, "userArn": null,
            },
            "path": path,
            "protocol": f.protocol,
            "requestId": f.request_id,
            "requestTime": clock::clf(f.time_ms),
            "requestTimeEpoch": f.time_ms,
            "resourceId": f.route_key,
            "resourcePath": f.resource,
            "stage": f.stage,
        },
        "pathParameters": or_null(params),
        "stageVariables": vars.and_then(Result::ok).unwrap_or(Value::Null),
        "body": body,
        "isBase64Encoded": is_base64,
    });
    let mut event = event;
    if let Some(canary) = f.is_canary {
        event["requestContext"]["isCanaryRequest"] = Value::Bool(canary);
    }
    event
}

/// The event a request authorizer gets on an HTTP route: AWS's HTTP API
/// authorizer payload. 2.0: the 2.0 event without its body, with `type`,
/// `routeArn` and `identitySource` (a list). 1.0: the 1.0 event without its
/// body, with `type`, `methodArn`, `identitySource` (comma-joined) and
/// `authorizationToken`, as REST REQUEST authorizers get.
pub fn authorizer_json(
    f: &HttpFacts<'_>,
    v2_format: bool,
    arn: &str,
    identity: &[String],
) -> Vec<u8> {
    let mut event = if v2_format {
        serde_json::to_value(v2(f)).unwrap_or_default()
    } else {
        v1(f)
    };
    if let Value::Object(obj) = &mut event {
        obj.remove("body");
        obj.remove("isBase64Encoded");
        obj.insert("type".into(), "REQUEST".into());
        if v2_format {
            obj.insert("routeArn".into(), arn.into());
            obj.insert("identitySource".into(), identity.into());
        } else {
            let joined = identity.join(",");
            obj.insert("methodArn".into(), arn.into());
            obj.insert("identitySource".into(), joined.clone().into());
            obj.insert("authorizationToken".into(), joined.into());
        }
    }
    serde_json::to_vec(&event).expect("an event always serializes")
}

#[cfg(test)]
#[path = "http_event_tests.rs"]
mod tests;
