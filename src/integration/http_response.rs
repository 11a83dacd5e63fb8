//! What a Lambda handler behind an HTTP route answers, read as AWS reads it
//! (docs/aws-websocket-semantics.md §8.3, docs/http-gateway.md §A3).
//!
//! 2.0: an object with `statusCode` is the full form (`headers`, `cookies` →
//! one `Set-Cookie` each, `body`, `isBase64Encoded` always decoded); any other
//! valid JSON is the body itself with status 200 and
//! `content-type: application/json` (a JSON string is its text, anything else
//! its serialization). 1.0: `statusCode` is required; `multiValueHeaders` adds
//! to `headers`. Anything else is an error the gateway answers 500 to.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde_json::{Map, Value};

use crate::config::PayloadFormat;

/// An HTTP response as the integration asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    /// The status code.
    pub status: u16,
    /// Headers in order (a name may repeat: `Set-Cookie`).
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Bytes,
}

/// Why a handler's answer is unusable (for logs; the client sees AWS's 500).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadReply {
    /// Not JSON at all.
    #[error("the function's answer is not JSON")]
    NotJson,
    /// `statusCode` missing (1.0) or not a status.
    #[error("statusCode is missing or not an HTTP status")]
    Status,
    /// A field of the wrong type.
    #[error("{0} has the wrong type")]
    Field(&'static str),
    /// `isBase64Encoded` with a body that is not base64.
    #[error("the body is not valid base64")]
    Base64,
}

/// Reads a handler's answer in the route's payload format.
pub fn decode(format: PayloadFormat, answer: &[u8]) -> Result<HttpReply, BadReply> {
    let value: Value = serde_json::from_slice(answer).map_err(|_| BadReply::NotJson)?;
    match (format, value) {
        (_, Value::Object(obj)) if obj.contains_key("statusCode") => full(format, &obj),
        (PayloadFormat::V2, value) => Ok(inferred(value, answer)),
        (PayloadFormat::V1, _) => Err(BadReply::Status),
    }
}

/// The inferred form. A JSON string is its text; anything else is passed as the
/// handler wrote it (AWS re-serializes it; sending the original keeps its key
/// order and spacing, the same JSON value).
fn inferred(value: Value, answer: &[u8]) -> HttpReply {
    let body = match value {
        Value::String(s) => Bytes::from(s),
        _ => Bytes::copy_from_slice(answer.trim_ascii()),
    };
    HttpReply {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body,
    }
}

fn full(format: PayloadFormat, obj: &Map<String, Value>) -> Result<HttpReply, BadReply> {
    let status = obj
        .get("statusCode")
        .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
        .filter(|s| (100..=599).contains(s))
        .ok_or(BadReply::Status)? as u16;
    let mut headers = Vec::new();
    for (name, value) in object(obj, "headers")? {
        headers.push((
            name.clone(),
            scalar(value).ok_or(BadReply::Field("headers"))?,
        ));
    }
    let list_field = match format {
        PayloadFormat::V2 => "cookies",
        PayloadFormat::V1 => "multiValueHeaders",
    };
    if format == PayloadFormat::V2 {
        for cookie in array(obj.get("cookies"), "cookies")? {
            headers.push((
                "set-cookie".into(),
                scalar(cookie).ok_or(BadReply::Field(list_field))?,
            ));
        }
    } else {
        for (name, values) in object(obj, "multiValueHeaders")? {
            for v in array(Some(values), "multiValueHeaders")? {
                let v = scalar(v).ok_or(BadReply::Field(list_field))?;
                if !headers
                    .iter()
                    .any(|(n, old)| n.eq_ignore_ascii_case(name) && *old == v)
                {
                    headers.push((name.clone(), v));
                }
            }
        }
    }
    let base64 = match obj.get("isBase64Encoded") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(BadReply::Field("isBase64Encoded")),
    };
    let body = match obj.get("body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(s)) if base64 => {
            Bytes::from(STANDARD.decode(s).map_err(|_| BadReply::Base64)?)
        }
        Some(Value::String(s)) => Bytes::from(s.clone()),
        Some(_) => return Err(BadReply::Field("body")),
    };
    Ok(HttpReply {
        status,
        headers,
        body,
    })
}

fn object<'v>(
    obj: &'v Map<String, Value>,
    field: &'static str,
) -> Result<impl Iterator<Item = (&'v String, &'v Value)>, BadReply> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None.into_iter().flatten()),
        Some(Value::Object(m)) => Ok(Some(m.iter()).into_iter().flatten()),
        Some(_) => Err(BadReply::Field(field)),
    }
}

fn array<'v>(value: Option<&'v Value>, field: &'static str) -> Result<&'v [Value], BadReply> {
    match value {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(_) => Err(BadReply::Field(field)),
    }
}

/// A header value as text: strings as they are, numbers and booleans printed.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(answer: &str) -> Result<HttpReply, BadReply> {
        decode(PayloadFormat::V2, answer.as_bytes())
    }

    #[test]
    fn json_without_status_code_is_a_200_json_body() {
        let r = v2(r#""Hello from Lambda!""#).unwrap();
        assert_eq!((r.status, &r.body[..]), (200, &b"Hello from Lambda!"[..]));
        assert_eq!(
            r.headers,
            vec![("content-type".into(), "application/json".into())]
        );
        let r = v2(r#"{"message": "Hello", "body": "x"}"#).unwrap();
        assert_eq!(&r.body[..], br#"{"message": "Hello", "body": "x"}"#);
        assert_eq!(v2("[1,2]").unwrap().body, Bytes::from_static(b"[1,2]"));
    }

    #[test]
    fn the_full_form_sets_status_headers_cookies_and_decodes_base64() {
        let r = v2(r#"{"statusCode": 201, "headers": {"x-a": "1", "x-n": 2},
            "cookies": ["a=1; Path=/", "b=2"], "body": "aGk=", "isBase64Encoded": true}"#)
        .unwrap();
        assert_eq!(r.status, 201);
        assert_eq!(
            r.headers,
            vec![
                ("x-a".into(), "1".into()),
                ("x-n".into(), "2".into()),
                ("set-cookie".into(), "a=1; Path=/".into()),
                ("set-cookie".into(), "b=2".into()),
            ]
        );
        assert_eq!(&r.body[..], b"hi");
        assert_eq!(v2(r#"{"statusCode": "404"}"#).unwrap().status, 404);
    }

    #[test]
    fn malformed_answers_are_errors() {
        assert_eq!(v2("not json"), Err(BadReply::NotJson));
        assert_eq!(v2(r#"{"statusCode": 99}"#), Err(BadReply::Status));
        assert_eq!(
            v2(r#"{"statusCode": 200, "body": 5}"#),
            Err(BadReply::Field("body"))
        );
        assert_eq!(
            v2(r#"{"statusCode": 200, "headers": []}"#),
            Err(BadReply::Field("headers"))
        );
        let bad64 = r#"{"statusCode": 200, "body": "%%%", "isBase64Encoded": true}"#;
        assert_eq!(v2(bad64), Err(BadReply::Base64));
        assert_eq!(
            decode(PayloadFormat::V1, br#"{"body": "x"}"#),
            Err(BadReply::Status)
        );
    }

    #[test]
    fn v1_merges_multi_value_headers() {
        let r = decode(
            PayloadFormat::V1,
            br#"{"statusCode": 200, "headers": {"x-a": "1"},
                "multiValueHeaders": {"x-a": ["1", "2"], "set-cookie": ["a=1", "b=2"]}, "body": "ok"}"#,
        )
        .unwrap();
        assert_eq!(
            r.headers,
            vec![
                ("x-a".into(), "1".into()),
                ("set-cookie".into(), "a=1".into()),
                ("set-cookie".into(), "b=2".into()),
                ("x-a".into(), "2".into()),
            ]
        );
    }
}
