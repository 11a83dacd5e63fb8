//! Decoding a Lambda proxy response: `{statusCode, headers, multiValueHeaders, body, isBase64Encoded}`.
//!
//! Rules (AWS documents the shape, not every edge; sockgate's choices are marked):
//! - an empty response or JSON `null` means `{"statusCode": 200}` with no body
//!   (a handler that returns nothing; sockgate's choice);
//! - `statusCode` defaults to 200 when absent and must be 100-599;
//! - `body` absent or `null` means no reply frame; with `isBase64Encoded` it is
//!   decoded and sent as a binary frame;
//! - anything else (not JSON, not an object, wrong types, bad base64) is a
//!   malformed response: the client gets "Internal server error" and the log says why.

use base64::Engine as _;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use super::{Payload, Reply};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LambdaResponse {
    status_code: Option<Value>,
    #[serde(default)]
    headers: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    multi_value_headers: Option<serde_json::Map<String, Value>>,
    body: Option<Value>,
    #[serde(default)]
    is_base64_encoded: Option<bool>,
}

/// Why a response could not be decoded (for logs only; never shown to clients).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed Lambda proxy response: {0}")]
pub struct Malformed(pub &'static str);

/// Decodes a Lambda proxy response body.
pub fn decode(raw: &[u8]) -> Result<Reply, Malformed> {
    let trimmed = raw.trim_ascii();
    if trimmed.is_empty() || trimmed == b"null" {
        return Ok(Reply {
            status: 200,
            headers: Vec::new(),
            body: None,
        });
    }
    let value: Value = serde_json::from_slice(trimmed).map_err(|_| Malformed("not JSON"))?;
    if !value.is_object() {
        return Err(Malformed("not a JSON object"));
    }
    let resp: LambdaResponse =
        serde_json::from_value(value).map_err(|_| Malformed("fields have the wrong types"))?;
    let status = match resp.status_code {
        None | Some(Value::Null) => 200,
        Some(Value::Number(n)) => n
            .as_u64()
            .filter(|s| (100..=599).contains(s))
            .ok_or(Malformed("statusCode out of range"))? as u16,
        Some(_) => return Err(Malformed("statusCode is not a number")),
    };
    let mut headers = Vec::new();
    for (name, v) in resp.headers.iter().flatten() {
        headers.push((name.clone(), header_value(v)?));
    }
    for (name, v) in resp.multi_value_headers.iter().flatten() {
        let Value::Array(items) = v else {
            return Err(Malformed("multiValueHeaders values must be arrays"));
        };
        for item in items {
            headers.push((name.clone(), header_value(item)?));
        }
    }
    let body = match resp.body {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if resp.is_base64_encoded == Some(true) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s.as_bytes())
                .map_err(|_| Malformed("body is not valid base64"))?;
            Some(Payload::Binary(Bytes::from(bytes)))
        }
        Some(Value::String(s)) => Some(Payload::Text(s)),
        Some(_) => return Err(Malformed("body is not a string")),
    };
    Ok(Reply {
        status,
        headers,
        body,
    })
}

fn header_value(v: &Value) -> Result<String, Malformed> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(Malformed("header values must be strings")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_shapes() {
        let r = decode(br#"{"statusCode":200,"body":"hello"}"#).unwrap();
        assert_eq!(
            (r.status, r.body),
            (200, Some(Payload::Text("hello".into())))
        );
        let r = decode(br#"{"statusCode":401}"#).unwrap();
        assert_eq!((r.status, r.body), (401, None));
        let r = decode(b"").unwrap();
        assert_eq!((r.status, r.body), (200, None));
        let r = decode(b" null ").unwrap();
        assert_eq!(r.status, 200);
        let r = decode(br#"{"body":"x"}"#).unwrap();
        assert_eq!(r.status, 200);
        let r = decode(br#"{"statusCode":200,"body":"aGk=","isBase64Encoded":true}"#).unwrap();
        assert_eq!(r.body, Some(Payload::Binary(Bytes::from_static(b"hi"))));
    }

    #[test]
    fn headers_single_and_multi() {
        let r = decode(br#"{"statusCode":200,"headers":{"Sec-WebSocket-Protocol":"chat","X-N":5},"multiValueHeaders":{"X-M":["a","b"]}}"#).unwrap();
        assert_eq!(r.header("sec-websocket-protocol"), Some("chat"));
        assert_eq!(r.header("x-n"), Some("5"));
        assert_eq!(r.headers.iter().filter(|(n, _)| n == "X-M").count(), 2);
    }

    #[test]
    fn garbage_is_malformed() {
        for bad in [
            &b"<html>"[..],
            b"\"just a string\"",
            b"[1,2]",
            br#"{"statusCode":"200"}"#,
            br#"{"statusCode":700}"#,
            br#"{"statusCode":200,"body":5}"#,
            br#"{"statusCode":200,"body":"!!","isBase64Encoded":true}"#,
            br#"{"statusCode":200,"headers":{"a":{"b":1}}}"#,
            br#"{"statusCode":200,"headers":"x"}"#,
            b"\xff\xfe",
        ] {
            assert!(decode(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
