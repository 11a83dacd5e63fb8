//! The HTTP route events against AWS's captured shapes.

use super::*;
use http::HeaderValue;
use serde_json::json;

/// The forwarding fields of the captured request (AWS: `https` on 443).
static FORWARDED: std::sync::LazyLock<Forwarded> = std::sync::LazyLock::new(|| {
    let trace = HeaderValue::from_static("Root=1-60d75a9e-5d5e5b1a6e6c7b0f0e3c2a11");
    Forwarded::new(
        "192.0.2.1".into(),
        None,
        "https",
        443,
        crate::trace::Trace::from_client(None, None, Some(trace), 1.0),
    )
});

fn facts<'a>(
    headers: &'a HeaderMap,
    body: &'a [u8],
    params: &'a [(&'a str, String)],
    vars: &'a BTreeMap<String, String>,
) -> HttpFacts<'a> {
    HttpFacts {
        route_key: "ANY /{param1}/{param2}/hello",
        method: "GET",
        raw_path: "/v1/xxx/yyy/hello",
        route_path: "/xxx/yyy/hello",
        raw_query: "fuga=aaa&fuga=b,bb&yahe%5B0%5D=ccc&sp=a+b%20c",
        headers,
        body,
        protocol: "HTTP/1.1",
        scheme: "http",
        source_ip: "192.0.2.1",
        forwarded: &FORWARDED,
        stage: "v1",
        path_params: params,
        stage_variables: vars,
        request_id: "BitA2hMuNjMEPFQ=",
        time_ms: 1_624_726_430_390,
        api_id: "abc123",
        domain_name: "abc123.example.com",
        resource: "/{param1}/{param2}/hello",
        is_canary: None,
        authorizer: None,
    }
}

fn header_map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.append(*k, HeaderValue::from_static(v));
    }
    map
}

fn parse(bytes: Vec<u8>) -> Value {
    serde_json::from_slice(&bytes).unwrap()
}

#[test]
fn v2_matches_the_captured_event() {
    let headers = header_map(&[
        ("x-baz", "eee"),
        ("x-baz", "ff,f"),
        ("user-agent", "curl/8"),
        ("cookie", "a=1; b=2"),
        ("cookie", "c=3"),
    ]);
    let params = [("param1", "xxx".to_owned()), ("param2", "yyy".to_owned())];
    let vars = BTreeMap::from([("backend".to_owned(), "b1".to_owned())]);
    let ev = parse(v2_json(&facts(&headers, b"", &params, &vars)));
    assert_eq!(
        ev,
        json!({
            "version": "2.0",
            "routeKey": "ANY /{param1}/{param2}/hello",
            "rawPath": "/v1/xxx/yyy/hello",
            "rawQueryString": "fuga=aaa&fuga=b,bb&yahe%5B0%5D=ccc&sp=a+b%20c",
            "cookies": ["a=1", "b=2", "c=3"],
            // As AWS adds them, with the gateway's values.
            "headers": {
                "x-baz": "eee,ff,f", "user-agent": "curl/8",
                "x-forwarded-for": "192.0.2.1", "x-forwarded-port": "443",
                "x-forwarded-proto": "https",
                "x-amzn-trace-id": "Root=1-60d75a9e-5d5e5b1a6e6c7b0f0e3c2a11"
            },
            "queryStringParameters": {"fuga": "aaa,b,bb", "yahe[0]": "ccc", "sp": "a b c"},
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "abc123",
                "domainName": "abc123.example.com",
                "domainPrefix": "abc123",
                "http": {
                    "method": "GET",
                    "path": "/v1/xxx/yyy/hello",
                    "protocol": "HTTP/1.1",
                    "sourceIp": "192.0.2.1",
                    "userAgent": "curl/8"
                },
                "requestId": "BitA2hMuNjMEPFQ=",
                "routeKey": "ANY /{param1}/{param2}/hello",
                "stage": "v1",
                "time": "26/Jun/2021:16:53:50 +0000",
                "timeEpoch": 1_624_726_430_390u64
            },
            "pathParameters": {"param1": "xxx", "param2": "yyy"},
            "isBase64Encoded": false,
            "stageVariables": {"backend": "b1"}
        })
    );
}

#[test]
fn v2_omits_empty_collections_and_encodes_bodies_that_are_not_text() {
    let vars = BTreeMap::new();
    type Case<'a> = (&'a [(&'a str, &'a str)], &'a [u8], Value, bool);
    let cases: [Case<'_>; 5] = [
        (
            &[("content-type", "application/json")],
            b"{\"a\":1}",
            json!("{\"a\":1}"),
            false,
        ),
        (
            &[("content-type", "text/plain; charset=utf-8")],
            b"hi",
            json!("hi"),
            false,
        ),
        (&[], b"hi", json!("aGk="), true),
        (
            &[("content-type", "application/x-www-form-urlencoded")],
            b"a=1",
            json!("YT0x"),
            true,
        ),
        (
            &[("content-type", "text/plain")],
            &[0xff, 0xfe],
            json!("//4="),
            true,
        ),
    ];
    for (hs, body, want, base64) in cases {
        let mut headers = HeaderMap::new();
        for (k, v) in hs {
            headers.append(*k, HeaderValue::from_str(v).unwrap());
        }
        let mut f = facts(&headers, body, &[], &vars);
        f.raw_query = "";
        let ev = parse(v2_json(&f));
        assert_eq!(ev["body"], want, "{hs:?}");
        assert_eq!(ev["isBase64Encoded"], base64, "{hs:?}");
        for absent in [
            "cookies",
            "queryStringParameters",
            "pathParameters",
            "stageVariables",
        ] {
            assert!(ev.get(absent).is_none(), "{absent} present: {ev}");
        }
    }
}

#[test]
fn v1_keeps_the_last_value_lists_all_and_nulls_what_is_absent() {
    let headers = header_map(&[("x-baz", "eee"), ("x-baz", "ff")]);
    let vars = BTreeMap::new();
    let ev = parse(v1_json(&facts(&headers, b"", &[], &vars)));
    assert_eq!(ev["version"], "1.0");
    assert_eq!(ev["httpMethod"], "GET");
    assert_eq!(ev["path"], "/v1/xxx/yyy/hello");
    assert_eq!(ev["resource"], "/{param1}/{param2}/hello");
    assert_eq!(ev["headers"]["x-baz"], "ff");
    assert_eq!(ev["multiValueHeaders"]["x-baz"], json!(["eee", "ff"]));
    assert_eq!(ev["queryStringParameters"]["fuga"], "b,bb");
    assert_eq!(
        ev["multiValueQueryStringParameters"]["fuga"],
        json!(["aaa", "b,bb"])
    );
    assert_eq!(ev["pathParameters"], Value::Null);
    assert_eq!(ev["stageVariables"], Value::Null);
    assert_eq!(ev["body"], Value::Null);
    assert_eq!(
        ev["requestContext"]["authorizer"],
        json!({"claims": null, "scopes": null})
    );
    assert_eq!(ev["requestContext"]["identity"]["sourceIp"], "192.0.2.1");
    assert_eq!(
        ev["requestContext"]["identity"]["cognitoIdentityId"],
        Value::Null
    );
    assert_eq!(
        ev["requestContext"]["requestTimeEpoch"],
        1_624_726_430_390u64
    );
}

#[test]
fn text_types_are_recognised_whatever_their_case_and_parameters() {
    let text = [
        "text/plain",
        "Text/HTML; charset=utf-8",
        "APPLICATION/JSON",
        "application/xml",
    ];
    for ct in text.into_iter().chain(["application/javascript"]) {
        assert!(is_text(Some(ct)), "{ct}");
    }
    let binary = [
        "application/octet-stream",
        "image/png",
        "application/x-www-form-urlencoded",
    ];
    for ct in binary.into_iter().chain(["tex", ""]) {
        assert!(!is_text(Some(ct)), "{ct}");
    }
    assert!(!is_text(None));
}

#[test]
fn authorizer_events_follow_aws_http_api_payloads() {
    let headers = header_map(&[("authorization", "t0k"), ("cookie", "a=1")]);
    let vars = BTreeMap::new();
    let params = [("param1", "xxx".to_owned())];
    let f = facts(&headers, b"a body", &params, &vars);
    let ids = ["t0k".to_owned(), "GET".to_owned()];
    let v2 = parse(authorizer_json(
        &f,
        true,
        "arn:x/v1/GET/xxx/yyy/hello",
        &ids,
    ));
    assert_eq!(v2["version"], "2.0");
    assert_eq!(v2["type"], "REQUEST");
    assert_eq!(v2["routeArn"], "arn:x/v1/GET/xxx/yyy/hello");
    assert_eq!(v2["identitySource"], json!(["t0k", "GET"]));
    assert_eq!(v2["routeKey"], "ANY /{param1}/{param2}/hello");
    assert_eq!(v2["cookies"], json!(["a=1"]));
    assert_eq!(v2["pathParameters"], json!({"param1": "xxx"}));
    assert_eq!(v2["requestContext"]["http"]["method"], "GET");
    assert!(v2.get("body").is_none() && v2.get("isBase64Encoded").is_none());
    let v1 = parse(authorizer_json(&f, false, "arn:m", &ids));
    assert_eq!(v1["version"], "1.0");
    assert_eq!(v1["type"], "REQUEST");
    assert_eq!(v1["methodArn"], "arn:m");
    assert_eq!(v1["identitySource"], "t0k,GET");
    assert_eq!(v1["authorizationToken"], "t0k,GET");
    assert_eq!(v1["headers"]["authorization"], "t0k");
    assert!(v1.get("body").is_none());
}

#[test]
fn the_authorizer_context_reaches_both_formats() {
    let headers = HeaderMap::new();
    let vars = BTreeMap::new();
    let ctx = json!({"lambda": {"tier": "gold"}});
    let f = HttpFacts {
        authorizer: Some(&ctx),
        ..facts(&headers, b"", &[], &vars)
    };
    assert_eq!(parse(v2_json(&f))["requestContext"]["authorizer"], ctx);
    assert_eq!(parse(v1_json(&f))["requestContext"]["authorizer"], ctx);
    let none = facts(&headers, b"", &[], &vars);
    assert!(
        parse(v2_json(&none))["requestContext"]
            .get("authorizer")
            .is_none()
    );
    assert_eq!(
        parse(v1_json(&none))["requestContext"]["authorizer"],
        json!({"claims": null, "scopes": null})
    );
}

#[test]
fn query_values_are_decoded_and_named_exactly() {
    let raw = "token=a%2Bb&Token=x&flag";
    let first = crate::routing::query::first;
    assert_eq!(first(raw, "token").as_deref(), Some("a+b"));
    assert_eq!(first(raw, "Token").as_deref(), Some("x"));
    assert_eq!(first(raw, "flag").as_deref(), Some(""));
    assert_eq!(first(raw, "none"), None);
}
