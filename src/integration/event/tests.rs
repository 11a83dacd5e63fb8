use std::sync::Arc;

use serde_json::{Value, json};

use super::*;

fn info() -> ConnInfo {
    ConnInfo {
        stage: Arc::from("prod"),
        connected_at_ms: 1_708_326_702_789,
        source_ip: "203.0.113.7".into(),
        user_agent: Some("Mozilla/5.0".into()),
        domain_name: "gw.example.com".into(),
        auth: Default::default(),
        canary: false,
        trace: crate::trace::TraceRef::default(),
    }
}

fn ctx<'a>(
    event_type: EventType,
    info: &'a ConnInfo,
    conn: &'a Id,
    vars: &'a BTreeMap<String, String>,
) -> EventContext<'a> {
    EventContext {
        event_type,
        route_key: "$connect",
        connection_id: conn,
        info,
        api_id: "sockgate",
        request_id: Id::parse("TXzPWFkkjoEF92g=").unwrap(),
        request_time_ms: 1_708_326_702_790,
        message_id: None,
        body: None,
        is_base64: false,
        handshake: None,
        disconnect: None,
        stage_variables: vars,
        body_json: None,
        is_canary: None,
    }
}

fn parse(bytes: Vec<u8>) -> Value {
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn connect_event_has_headers_and_query_only_when_present() {
    let info = info();
    let conn = Id::parse("TXzPWdnOjoECGjA=").unwrap();
    let vars = BTreeMap::new();
    let mut hs = Handshake::default();
    hs.headers.push("Host".into(), "gw.example.com".into());
    hs.headers.push("X-Multi".into(), "a".into());
    hs.headers.push("X-Multi".into(), "b".into());
    let mut c = ctx(EventType::Connect, &info, &conn, &vars);
    c.handshake = Some(&hs);
    let v = parse(c.to_json());
    assert_eq!(
        v["headers"],
        json!({"Host": "gw.example.com", "X-Multi": "a,b"})
    );
    assert_eq!(
        v["multiValueHeaders"],
        json!({"Host": ["gw.example.com"], "X-Multi": ["a", "b"]})
    );
    assert!(v.get("queryStringParameters").is_none());
    assert!(v.get("body").is_none());
    assert!(v.get("stageVariables").is_none());
    assert_eq!(v["isBase64Encoded"], json!(false));
    let rc = &v["requestContext"];
    assert_eq!(
        rc,
        &json!({
            "routeKey": "$connect",
            "eventType": "CONNECT",
            "extendedRequestId": "TXzPWFkkjoEF92g=",
            "requestTime": "19/Feb/2024:07:11:42 +0000",
            "messageDirection": "IN",
            "stage": "prod",
            "connectedAt": 1_708_326_702_789u64,
            "requestTimeEpoch": 1_708_326_702_790u64,
            "identity": {"userAgent": "Mozilla/5.0", "sourceIp": "203.0.113.7"},
            "requestId": "TXzPWFkkjoEF92g=",
            "domainName": "gw.example.com",
            "connectionId": "TXzPWdnOjoECGjA=",
            "apiId": "sockgate"
        })
    );

    let mut hs2 = hs.clone();
    hs2.query.push("token".into(), "abc".into());
    hs2.query.push("token".into(), "def".into());
    let mut c = ctx(EventType::Connect, &info, &conn, &vars);
    c.handshake = Some(&hs2);
    let v = parse(c.to_json());
    assert_eq!(v["queryStringParameters"], json!({"token": "abc,def"}));
    assert_eq!(
        v["multiValueQueryStringParameters"],
        json!({"token": ["abc", "def"]})
    );
}

#[test]
fn message_event_has_body_and_message_id_but_no_headers() {
    let mut info = info();
    info.user_agent = None;
    let conn = Id::random();
    let mut vars = BTreeMap::new();
    vars.insert("backend".to_owned(), "http://x".to_owned());
    let mut c = ctx(EventType::Message, &info, &conn, &vars);
    c.route_key = "sendmessage";
    c.message_id = Some(Id::parse("RsI83cCDIE0CIqg=").unwrap());
    c.body = Some("__ping__");
    let v = parse(c.to_json());
    assert!(v.get("headers").is_none() && v.get("multiValueHeaders").is_none());
    assert_eq!(v["body"], json!("__ping__"));
    assert_eq!(v["requestContext"]["messageId"], json!("RsI83cCDIE0CIqg="));
    assert_eq!(v["requestContext"]["eventType"], json!("MESSAGE"));
    assert_eq!(
        v["requestContext"]["identity"],
        json!({"sourceIp": "203.0.113.7"})
    );
    assert_eq!(v["stageVariables"], json!({"backend": "http://x"}));
    assert!(v["requestContext"].get("disconnectStatusCode").is_none());
}

#[test]
fn disconnect_event_has_fixed_headers_and_status() {
    let info = info();
    let conn = Id::random();
    let vars = BTreeMap::new();
    let mut c = ctx(EventType::Disconnect, &info, &conn, &vars);
    c.route_key = "$disconnect";
    c.disconnect = Some((1001, "Going away"));
    let v = parse(c.to_json());
    assert_eq!(
        v["headers"],
        json!({"Host": "gw.example.com", "x-api-key": "", "X-Forwarded-For": "203.0.113.7", "x-restapi": ""})
    );
    assert_eq!(v["multiValueHeaders"]["x-restapi"], json!([""]));
    assert_eq!(v["requestContext"]["disconnectStatusCode"], json!(1001));
    assert_eq!(v["requestContext"]["disconnectReason"], json!("Going away"));
    assert!(v["requestContext"].get("messageId").is_none());
}

#[test]
fn header_names_are_canonical() {
    assert_eq!(
        canonical_header_name("sec-websocket-protocol"),
        "Sec-WebSocket-Protocol"
    );
    assert_eq!(canonical_header_name("x-forwarded-for"), "X-Forwarded-For");
    assert_eq!(canonical_header_name("authorization"), "Authorization");
    assert_eq!(canonical_header_name("x-custom-thing"), "X-Custom-Thing");
}
