//! Issue 21 §2, the threat: a client forges or removes what the gateway owns
//! — `Host` (and through it the `Forwarded` element), `X-Sockgate-*`, the
//! forwarding fields, fields a mapping adds (by naming them in its
//! `Connection`) — poisons the request authorizer's cache with values that
//! join to another identity's key, or gets a value decoded twice. And a
//! backend answer framed two ways is passed on framed one way.

mod support;

use std::time::Duration;

use support::raw_http;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config(backend: &str, extra: &str) -> String {
    format!(
        r#"
{extra}
[stages.dev]
[http.routes."ANY /proxy/{{proxy+}}"]
integration = {{ type = "http_proxy", uri = "{backend}/p/{{proxy}}" }}
[http.routes."GET /lambda"]
integration = {{ type = "aws_proxy", uri = "{backend}/lambda" }}
[http.routes."GET /lambda1"]
integration = {{ type = "aws_proxy", uri = "{backend}/lambda1", payload_format = "1.0" }}
[http.routes."GET /mapped"]
integration = {{ type = "http_proxy", uri = "{backend}/mapped" }}
request_parameters = {{ "overwrite:header.x-user" = "$context.routeKey", "overwrite:querystring.q" = "$request.querystring.x" }}
[routes."$connect"]
integration = {{ type = "aws_proxy", uri = "{backend}/connect" }}
"#
    )
}

async fn start(extra: &str) -> (Gw, Backend) {
    let backend = Backend::start().await;
    let gw = Gw::start(&config(&backend.url(), extra)).await;
    (gw, backend)
}

#[tokio::test]
async fn host_is_required_once_and_well_formed() {
    let (gw, backend) = start("").await;
    let head = |host: &str| format!("GET /dev/proxy/x HTTP/1.1\r\n{host}");
    for bad in [
        "",
        "Host: a\r\nHost: b\r\n",
        "Host: gw\", for=6.6.6.6;host=\"x\r\n",
        "Host: gw x\r\n",
        "Host: user@gw\r\n",
        "Host: gw:99999\r\n",
        "Host: \r\n",
    ] {
        let a = raw_http::send(gw.public, &head(bad)).await;
        assert_eq!(a.status, 400, "{bad:?}");
    }
    // HTTP/1.0 has no Host requirement.
    let a = raw_http::send(gw.public, "GET /dev/proxy/x HTTP/1.0\r\n").await;
    assert_eq!(a.status, 200);
    backend.next("/p/x").await;
    // An absolute-form target's authority is the host (RFC 9112 §3.2.2).
    let a = raw_http::send(
        gw.public,
        "GET http://api.example.com/dev/proxy/y HTTP/1.1\r\nHost: other\r\n",
    )
    .await;
    assert_eq!(a.status, 200);
    let got = backend.next("/p/y").await;
    assert_eq!(got.header("x-forwarded-host"), Some("api.example.com"));
    assert_eq!(
        got.header("forwarded"),
        Some("for=127.0.0.1;proto=http;host=\"api.example.com\"")
    );
}

#[tokio::test]
async fn http2_authority_and_host_must_agree() {
    let (gw, backend) = start("").await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let send = |host: Option<&str>| {
        let mut req = http::Request::get(format!("http://{}/dev/proxy/h2", gw.public));
        if let Some(h) = host {
            req = req.header("host", h);
        }
        client.request(req.body(Default::default()).unwrap())
    };
    let ok = send(None).await.unwrap();
    assert_eq!(ok.status(), 200);
    let got = backend.next("/p/h2").await;
    assert_eq!(
        got.header("x-forwarded-host"),
        Some(gw.public.to_string().as_str())
    );
    let mismatched = send(Some("evil.example")).await.unwrap();
    assert_eq!(mismatched.status(), 400);
}

#[tokio::test]
async fn the_gateways_own_fields_cannot_be_forged() {
    let (gw, backend) = start("").await;
    let forged = [
        ("x-sockgate-management-endpoint", "http://evil.example/dev"),
        ("x-sockgate-is-canary-request", "true"),
        ("x-forwarded-for", "6.6.6.6"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-port", "443"),
        ("x-forwarded-host", "evil.example"),
        ("forwarded", "for=6.6.6.6;host=evil.example"),
    ];
    let url = format!("http://{}/dev/proxy/z", gw.public);
    let (status, _, _) = http_with("GET", &url, &forged, vec![]).await;
    assert_eq!(status, 200);
    let got = backend.next("/p/z").await;
    assert_eq!(got.header("x-sockgate-management-endpoint"), None);
    assert_eq!(got.header("x-sockgate-is-canary-request"), None);
    assert_eq!(got.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(got.header("x-forwarded-proto"), Some("http"));
    assert_eq!(
        got.header("x-forwarded-port"),
        Some(gw.public.port().to_string().as_str())
    );
    let forwarded: Vec<_> = got.headers.get_all("forwarded").iter().collect();
    assert_eq!(forwarded.len(), 1, "{forwarded:?}");
    assert!(!got.header("x-forwarded-host").unwrap().contains("evil"));
    // The Lambda event of an HTTP route.
    let url = format!("http://{}/dev/lambda", gw.public);
    http_with("GET", &url, &forged, vec![]).await;
    let ev = backend.next("/lambda").await.json();
    let h = &ev["headers"];
    assert!(h.get("x-sockgate-management-endpoint").is_none(), "{h}");
    assert_eq!(h["x-forwarded-for"], "127.0.0.1");
    assert_eq!(h["x-forwarded-proto"], "http");
    assert!(h.get("forwarded").is_none() && h.get("x-forwarded-host").is_none());
    assert_eq!(ev["requestContext"]["http"]["sourceIp"], "127.0.0.1");
    // The $connect event.
    let ws_url = gw.url("dev");
    let _ws = connect_with(&ws_url, &forged).await.expect("accepted");
    let ev = backend.next("/connect").await;
    assert_eq!(
        ev.header("x-sockgate-management-endpoint"),
        Some(format!("http://{}/dev", gw.mgmt).as_str()),
        "the gateway's own, not the client's"
    );
    let h = &ev.json()["headers"];
    assert!(h.get("X-Sockgate-Management-Endpoint").is_none(), "{h}");
    assert_eq!(h["X-Forwarded-For"], "127.0.0.1");
    assert_eq!(h["X-Forwarded-Proto"], "http");
    assert!(
        h["X-Amzn-Trace-Id"]
            .as_str()
            .unwrap()
            .starts_with("Root=1-")
    );
}

#[tokio::test]
async fn a_clients_connection_field_removes_only_its_own_fields() {
    let (gw, backend) = start("").await;
    let url = format!("http://{}/dev/mapped?x=1", gw.public);
    let headers = [
        ("connection", "x-user, x-forwarded-for, host, x-mine"),
        ("x-user", "forged"),
        ("x-mine", "gone"),
    ];
    let (status, _, _) = http_with("GET", &url, &headers, vec![]).await;
    assert_eq!(status, 200);
    let got = backend.next("/mapped").await;
    assert_eq!(
        got.header("x-user"),
        Some("GET /mapped"),
        "the mapping's value"
    );
    assert_eq!(got.header("x-mine"), None);
    assert_eq!(got.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(
        got.header("x-forwarded-host"),
        Some(gw.public.to_string().as_str())
    );
}

#[tokio::test]
async fn mapped_query_values_are_decoded_exactly_once() {
    let (gw, backend) = start("").await;
    for (sent, arrives) in [
        ("%2541", "%2541"),
        ("a+b", "a%20b"),
        ("1%26admin%3Dtrue", "1%26admin%3Dtrue"),
    ] {
        let url = format!("http://{}/dev/mapped?x={sent}", gw.public);
        http("GET", &url, vec![]).await;
        let got = backend.next("/mapped").await;
        let q: Vec<&str> = got
            .query
            .split('&')
            .filter(|p| p.starts_with("q="))
            .collect();
        assert_eq!(q, [format!("q={arrives}")], "{sent}: {}", got.query);
    }
}

#[tokio::test]
async fn trusted_proxies_hops_are_skipped_from_the_right_and_others_ignored() {
    // Not trusted: the client's X-Forwarded-For is not believed.
    let (gw, backend) = start("").await;
    let url = format!("http://{}/dev/lambda", gw.public);
    let xff = [("x-forwarded-for", "6.6.6.6, 203.0.113.9")];
    http_with("GET", &url, &xff, vec![]).await;
    let ev = backend.next("/lambda").await.json();
    assert_eq!(ev["requestContext"]["http"]["sourceIp"], "127.0.0.1");
    // Trusted (the test's own address stands for a load balancer).
    let extra = "[server]\ntrusted_proxies = [\"127.0.0.0/8\", \"10.0.0.0/8\"]\n";
    let (gw, backend) = start(extra).await;
    let url = format!("http://{}/dev/lambda", gw.public);
    let xff = [
        ("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.1.2.3"),
        ("x-forwarded-proto", "https"),
    ];
    http_with("GET", &url, &xff, vec![]).await;
    let ev = backend.next("/lambda").await.json();
    assert_eq!(ev["requestContext"]["http"]["sourceIp"], "203.0.113.9");
    assert_eq!(
        ev["headers"]["x-forwarded-for"],
        "203.0.113.9, 10.1.2.3, 127.0.0.1"
    );
    assert_eq!(ev["headers"]["x-forwarded-proto"], "https");
    // The old key is refused with what to write instead.
    let env = std::collections::HashMap::new();
    let e = sockgate::config::Config::parse("[server]\ntrust_forwarded_for = true\n", &env)
        .map(drop)
        .unwrap_err()
        .to_string();
    assert!(e.contains("trusted_proxies = [\"10.0.0.0/8\"]"), "{e}");
}

#[tokio::test]
async fn the_authorizer_cache_key_tells_identities_apart() {
    let backend = Backend::start().await;
    let b = backend.url();
    let toml = format!(
        r#"
[stages.dev]
[authorizers.q]
type = "request"
uri = "{b}/auth"
identity_sources = ["$request.querystring.a", "$request.querystring.b"]
ttl = "60s"
[http.routes."GET /guarded"]
integration = {{ type = "mock", body = "in" }}
authorizer = "q"
"#
    );
    let gw = Gw::start(&toml).await;
    // The authorizer allows exactly a=alice, b=R\0y.
    backend.on("/auth", Behaviour::Body(r#"{"isAuthorized": true}"#.into()));
    let url = |q: &str| format!("http://{}/dev/guarded?{q}", gw.public);
    let (status, _, _) = http("GET", &url("a=alice&b=R%00y"), vec![]).await;
    assert_eq!(status, 200);
    let first = backend.next("/auth").await.json();
    assert_eq!(first["queryStringParameters"]["b"], "R\u{0}y");
    backend.on(
        "/auth",
        Behaviour::Body(r#"{"isAuthorized": false}"#.into()),
    );
    // Joined with NUL these made one key; now the authorizer is asked again.
    let (status, _, _) = http("GET", &url("a=alice%00R&b=y"), vec![]).await;
    assert_eq!(status, 403);
    let second = backend.next("/auth").await.json();
    assert_eq!(second["queryStringParameters"]["a"], "alice\u{0}R");
    // The first identity is still cached: no third call.
    let (status, _, _) = http("GET", &url("a=alice&b=R%00y"), vec![]).await;
    assert_eq!(status, 200);
    assert!(
        backend
            .drain("/auth", Duration::from_millis(200))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn an_answer_framed_two_ways_is_passed_on_by_its_chunks() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf).await;
            let answer = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
            let _ = s.write_all(answer).await;
        }
    });
    let gw = Gw::start(&config(&format!("http://{addr}"), "")).await;
    let a = raw_http::get(gw.public, "/dev/proxy/te", "").await;
    assert_eq!((a.status, a.text().as_str()), (200, "abc"));
    assert_eq!(a.header("content-length"), None, "{:?}", a.headers);
}
