//! Issue 12, routing and `aws_proxy`/`mock` integrations: plain HTTP requests on
//! the public listener are served as AWS HTTP APIs serve them — stage in the
//! first segment or the `$default` stage at the root, AWS's route precedence,
//! payload format 2.0 and 1.0 events, the 2.0 response rules, AWS's error
//! bodies and `apigw-requestid` on every answer.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::*;

fn config(backend: &str, extra: &str) -> String {
    format!(
        r#"
[stages.prod]
variables = {{ backend = "{backend}", color = "blue" }}
[stages."$default"]
variables = {{ backend = "{backend}", color = "green" }}
[http.routes."GET /pets/{{id}}"]
integration = {{ type = "aws_proxy", uri = "${{stageVariables.backend}}/pets" }}
[http.routes."GET /pets/dog"]
integration = {{ type = "mock", status_code = 200, body = "static dog in ${{stageVariables.color}}" }}
[http.routes."ANY /pets"]
integration = {{ type = "mock", status_code = 201, headers = {{ x-route = "any" }}, body = "any pets" }}
[http.routes."ANY /files/{{path+}}"]
integration = {{ type = "aws_proxy", uri = "${{stageVariables.backend}}/files" }}
[http.routes."POST /v1"]
integration = {{ type = "aws_proxy", uri = "${{stageVariables.backend}}/v1", payload_format = "1.0" }}
[http.routes."GET /slow"]
integration = {{ type = "aws_proxy", uri = "${{stageVariables.backend}}/slow", timeout = "300ms" }}
[http.routes."GET /broken"]
integration = {{ type = "aws_proxy", uri = "${{stageVariables.backend}}/broken" }}
[http.routes."GET /down"]
integration = {{ type = "aws_proxy", uri = "http://127.0.0.1:9/down" }}
{extra}
"#
    )
}

async fn start(extra: &str) -> (Gw, Backend) {
    let backend = Backend::start().await;
    let gw = Gw::start(&config(&backend.url(), extra)).await;
    (gw, backend)
}

fn url(gw: &Gw, path: &str) -> String {
    format!("http://{}{path}", gw.public)
}

fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap()
}

#[tokio::test]
async fn stages_routes_and_precedence_follow_aws() {
    let (gw, _backend) = start("").await;
    let cases = [
        ("GET", "/prod/pets/dog", 200, "static dog in blue"),
        ("GET", "/pets/dog", 200, "static dog in green"),
        ("POST", "/prod/pets", 201, "any pets"),
        ("DELETE", "/pets", 201, "any pets"),
        ("GET", "/prod/nothing", 404, r#"{"message":"Not Found"}"#),
        ("GET", "/prod/pets/", 404, r#"{"message":"Not Found"}"#),
        ("GET", "/prod/Pets/dog", 404, r#"{"message":"Not Found"}"#),
        ("HEAD", "/prod/pets/dog", 404, ""),
        ("GET", "/files", 404, r#"{"message":"Not Found"}"#),
    ];
    for (method, path, status, body) in cases {
        let (got, headers, got_body) = http(method, &url(&gw, path), vec![]).await;
        assert_eq!((got, text(&got_body)), (status, body), "{method} {path}");
        assert!(headers.contains_key("apigw-requestid"), "{method} {path}");
        if status == 404 && method != "HEAD" {
            assert_eq!(headers["content-type"], "application/json");
        }
    }
    let (_, headers, _) = http("PUT", &url(&gw, "/prod/pets"), vec![]).await;
    assert_eq!(headers["x-route"], "any");
    // Each request gets its own id.
    let id = |h: &http::HeaderMap| h["apigw-requestid"].to_str().unwrap().to_owned();
    let (_, a, _) = http("GET", &url(&gw, "/pets/dog"), vec![]).await;
    let (_, b, _) = http("GET", &url(&gw, "/pets/dog"), vec![]).await;
    assert_ne!(id(&a), id(&b));
}

#[tokio::test]
async fn a_stage_url_without_an_upgrade_still_says_upgrade_required() {
    let backend = Backend::start().await;
    // A WebSocket route beside the HTTP ones (without one, the stage is an
    // HTTP API only and its URL is no WebSocket endpoint).
    let toml = config(&backend.url(), "").replace("[stages.\"$default\"]", "[stages.other]")
        + WHOAMI_ROUTE;
    let gw = Gw::start(&toml).await;
    let (status, headers, _) = http("GET", &url(&gw, "/prod"), vec![]).await;
    assert_eq!(status, 426);
    assert_eq!(headers["upgrade"], "websocket");
    // With no $default stage, a path outside every stage is AWS's 404.
    let (status, _, body) = http("GET", &url(&gw, "/pets/dog"), vec![]).await;
    assert_eq!((status, text(&body)), (404, r#"{"message":"Not Found"}"#));
    // WebSocket upgrades work beside the HTTP routes.
    let (_ws, id) = connected(&gw.url("prod")).await;
    assert!(!id.is_empty());
}

#[tokio::test]
async fn the_lambda_gets_a_payload_2_event() {
    let (gw, backend) = start("").await;
    backend.on(
        "/pets",
        Behaviour::Body(r#"{"statusCode":200,"body":"ok"}"#.into()),
    );
    let headers = [
        ("x-baz", "eee"),
        ("x-baz", "ff,f"),
        ("cookie", "a=1; b=2"),
        ("user-agent", "sockgate-test"),
    ];
    let target = url(&gw, "/prod/pets/a%20b?fuga=aaa&fuga=b,bb&yahe%5B0%5D=ccc");
    let (status, _, body) = http_with("GET", &target, &headers, vec![]).await;
    assert_eq!((status, text(&body)), (200, "ok"));
    let ev = backend.next("/pets").await.json();
    assert_eq!(ev["version"], "2.0");
    assert_eq!(ev["routeKey"], "GET /pets/{id}");
    assert_eq!(ev["rawPath"], "/prod/pets/a%20b");
    assert_eq!(ev["rawQueryString"], "fuga=aaa&fuga=b,bb&yahe%5B0%5D=ccc");
    assert_eq!(ev["pathParameters"], json!({"id": "a b"}));
    assert_eq!(
        ev["queryStringParameters"],
        json!({"fuga": "aaa,b,bb", "yahe[0]": "ccc"})
    );
    assert_eq!(ev["headers"]["x-baz"], "eee,ff,f");
    assert_eq!(ev["cookies"], json!(["a=1", "b=2"]));
    assert!(ev["headers"].get("cookie").is_none());
    assert_eq!(ev["stageVariables"]["color"], "blue");
    assert_eq!(ev["isBase64Encoded"], false);
    assert!(ev.get("body").is_none());
    let ctx = &ev["requestContext"];
    assert_eq!(ctx["stage"], "prod");
    assert_eq!(ctx["routeKey"], "GET /pets/{id}");
    assert_eq!(ctx["http"]["method"], "GET");
    assert_eq!(ctx["http"]["path"], "/prod/pets/a%20b");
    assert_eq!(ctx["http"]["protocol"], "HTTP/1.1");
    assert_eq!(ctx["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(ctx["http"]["userAgent"], "sockgate-test");
    assert!(ctx["timeEpoch"].as_u64().unwrap() > 1_700_000_000_000);

    // The $default stage: no stage in the path.
    let (status, headers, _) = http("GET", &url(&gw, "/pets/7"), vec![]).await;
    assert_eq!(status, 200);
    let ev = backend.next("/pets").await.json();
    assert_eq!(ev["rawPath"], "/pets/7");
    assert_eq!(ev["requestContext"]["stage"], "$default");
    assert_eq!(
        ev["requestContext"]["requestId"],
        headers["apigw-requestid"].to_str().unwrap()
    );
}

#[tokio::test]
async fn bodies_are_text_or_base64_by_content_type_and_greedy_paths_are_decoded() {
    let (gw, backend) = start("").await;
    let target = url(&gw, "/prod/files/a/b%20c.txt");
    let json_type = [("content-type", "application/json")];
    http_with("PUT", &target, &json_type, br#"{"a":1}"#.to_vec()).await;
    let ev = backend.next("/files").await.json();
    assert_eq!(ev["routeKey"], "ANY /files/{path+}");
    assert_eq!(ev["pathParameters"], json!({"path": "a/b c.txt"}));
    assert_eq!(
        (ev["body"].clone(), ev["isBase64Encoded"].clone()),
        (json!(r#"{"a":1}"#), json!(false))
    );
    let form = [("content-type", "application/x-www-form-urlencoded")];
    http_with("POST", &target, &form, b"a=1".to_vec()).await;
    let ev = backend.next("/files").await.json();
    assert_eq!(
        (ev["body"].clone(), ev["isBase64Encoded"].clone()),
        (json!("YT0x"), json!(true))
    );
}

#[tokio::test]
async fn the_lambda_answer_follows_the_2_0_response_rules() {
    let (gw, backend) = start("").await;
    let full = r#"{"statusCode": 201, "headers": {"x-a": "1"}, "cookies": ["s=1; Path=/", "t=2"],
        "body": "aGVsbG8=", "isBase64Encoded": true}"#;
    backend.on("/pets", Behaviour::Body(full.into()));
    let (status, headers, body) = http("GET", &url(&gw, "/prod/pets/1"), vec![]).await;
    assert_eq!((status, &body[..]), (201, &b"hello"[..]));
    assert_eq!(headers["x-a"], "1");
    let cookies: Vec<_> = headers.get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["s=1; Path=/", "t=2"]);

    backend.on("/pets", Behaviour::Body(r#"{"message": "hi"}"#.into()));
    let (status, headers, body) = http("GET", &url(&gw, "/prod/pets/1"), vec![]).await;
    assert_eq!((status, text(&body)), (200, r#"{"message": "hi"}"#));
    assert_eq!(headers["content-type"], "application/json");

    backend.on("/pets", Behaviour::Body(r#""Hello from Lambda!""#.into()));
    let (status, _, body) = http("GET", &url(&gw, "/prod/pets/1"), vec![]).await;
    assert_eq!((status, text(&body)), (200, "Hello from Lambda!"));
}

#[tokio::test]
async fn payload_format_1_0_routes_get_the_rest_shape() {
    let (gw, backend) = start("").await;
    backend.on(
        "/v1",
        Behaviour::Body(
            r#"{"statusCode": 202, "multiValueHeaders": {"x-m": ["1", "2"]}, "body": "v1"}"#.into(),
        ),
    );
    let target = url(&gw, "/prod/v1?a=1&a=2");
    let (status, headers, body) = http_with(
        "POST",
        &target,
        &[("content-type", "text/plain")],
        b"hi".to_vec(),
    )
    .await;
    assert_eq!((status, text(&body)), (202, "v1"));
    let multi: Vec<_> = headers.get_all("x-m").iter().collect();
    assert_eq!(multi, ["1", "2"]);
    let ev = backend.next("/v1").await.json();
    assert_eq!(ev["version"], "1.0");
    assert_eq!(ev["httpMethod"], "POST");
    assert_eq!(ev["resource"], "/v1");
    assert_eq!(ev["path"], "/prod/v1");
    assert_eq!(ev["queryStringParameters"], json!({"a": "2"}));
    assert_eq!(
        ev["multiValueQueryStringParameters"],
        json!({"a": ["1", "2"]})
    );
    assert_eq!(ev["pathParameters"], Value::Null);
    assert_eq!(ev["body"], "hi");
    assert_eq!(ev["requestContext"]["identity"]["sourceIp"], "127.0.0.1");
}

#[tokio::test]
async fn failures_get_aws_error_bodies_and_never_internal_text() {
    let (gw, backend) = start("").await;
    backend.on("/slow", Behaviour::Hang);
    let (status, headers, body) = http("GET", &url(&gw, "/prod/slow"), vec![]).await;
    assert_eq!(
        (status, text(&body)),
        (503, r#"{"message":"Service Unavailable"}"#)
    );
    assert!(headers.contains_key("apigw-requestid"));
    let internal = r#"{"message":"Internal Server Error"}"#;
    for answer in [
        Behaviour::Status(500, "stack trace: secret".into()),
        Behaviour::Body("not json".into()),
        Behaviour::Body(r#"{"statusCode": 200, "headers": {"bad\nname": "x"}}"#.into()),
        Behaviour::Body(r#"{"statusCode": 200, "body": "%%", "isBase64Encoded": true}"#.into()),
    ] {
        backend.on("/broken", answer.clone());
        let (status, _, body) = http("GET", &url(&gw, "/prod/broken"), vec![]).await;
        assert_eq!((status, text(&body)), (500, internal), "{answer:?}");
    }
    // Nothing listens on the discard port: connection refused.
    let (status, _, body) = http("GET", &url(&gw, "/prod/down"), vec![]).await;
    assert_eq!((status, text(&body)), (500, internal));
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_before_the_backend_is_called() {
    let (gw, backend) = start("[http]\nmax_body_bytes = 1024").await;
    let big = vec![b'x'; 1025];
    let (status, _, body) = http("PUT", &url(&gw, "/prod/files/x"), big).await;
    assert_eq!(
        (status, text(&body)),
        (413, r#"{"message":"Request Entity Too Large"}"#)
    );
    let fits = vec![b'x'; 1024];
    let (status, _, _) = http("PUT", &url(&gw, "/prod/files/x"), fits).await;
    assert_eq!(status, 200);
    let calls = backend.drain("/files", Duration::from_millis(300)).await;
    assert_eq!(
        calls.len(),
        1,
        "only the request within the limit reached the backend"
    );
    assert_eq!(calls[0].json()["body"], "eHh4".repeat(1024 / 3) + "eA==");
}

#[tokio::test]
async fn routes_and_their_stage_variables_change_on_reload() {
    let (gw, backend) = start("").await;
    let (status, _, _) = http("GET", &url(&gw, "/prod/new"), vec![]).await;
    assert_eq!(status, 404);
    let extra = "[http.routes.\"GET /new\"]\nintegration = { type = \"mock\", body = \"new\" }";
    let report = gw.reload_with(&config(&backend.url(), extra));
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let (status, _, body) = http("GET", &url(&gw, "/prod/new"), vec![]).await;
    assert_eq!((status, text(&body)), (200, "new"));
}

#[tokio::test]
async fn curl_gets_the_same_answers() {
    let (gw, _backend) = start("").await;
    let target = url(&gw, "/prod/pets/dog");
    // curl blocks its thread; the gateway runs on this test's runtime.
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args(["-s", "-i", "--http1.1", "--max-time", "10", &target])
            .output()
            .expect("curl is installed")
    })
    .await
    .unwrap();
    let response = String::from_utf8_lossy(&out.stdout);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("apigw-requestid: "), "{response}");
    assert!(response.ends_with("static dog in blue"), "{response}");
}

#[tokio::test]
async fn cors_preflights_are_answered_by_the_gateway_and_answers_carry_the_policy() {
    let cors = r#"
[http.cors]
allow_origins = ["https://app.example.com"]
allow_methods = ["GET", "POST"]
allow_headers = ["content-type"]
expose_headers = ["x-route"]
max_age = 300
allow_credentials = true
"#;
    let (gw, backend) = start(cors).await;
    let preflight = [
        ("origin", "https://app.example.com"),
        ("access-control-request-method", "POST"),
    ];
    // Even on a path with no OPTIONS route, and before the integration.
    let (status, headers, _) =
        http_with("OPTIONS", &url(&gw, "/prod/pets/1"), &preflight, vec![]).await;
    assert_eq!(status, 204);
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(headers["access-control-allow-methods"], "GET,POST");
    assert_eq!(headers["access-control-allow-headers"], "content-type");
    assert_eq!(headers["access-control-max-age"], "300");
    assert_eq!(headers["access-control-allow-credentials"], "true");
    assert!(headers.contains_key("apigw-requestid"));
    assert!(
        backend
            .drain("/pets", Duration::from_millis(200))
            .await
            .is_empty()
    );

    // An answer from the Lambda: the backend's CORS headers are replaced.
    backend.on(
        "/pets",
        Behaviour::Body(
            r#"{"statusCode":200,"headers":{"access-control-allow-origin":"*"},"body":"ok"}"#
                .into(),
        ),
    );
    let origin = [("origin", "https://app.example.com")];
    let (status, headers, _) = http_with("GET", &url(&gw, "/prod/pets/1"), &origin, vec![]).await;
    assert_eq!(status, 200);
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(headers["access-control-expose-headers"], "x-route");
    // Errors carry the policy too, so a browser app can read them.
    let (status, headers, _) = http_with("GET", &url(&gw, "/prod/none"), &origin, vec![]).await;
    assert_eq!(status, 404);
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example.com"
    );

    // Another origin learns nothing.
    let evil = [
        ("origin", "https://evil.example.com"),
        ("access-control-request-method", "POST"),
    ];
    let (status, headers, _) = http_with("OPTIONS", &url(&gw, "/prod/pets/1"), &evil, vec![]).await;
    assert_eq!(status, 204);
    assert!(headers.get("access-control-allow-origin").is_none());
    // A plain OPTIONS (not a preflight) is routed: ANY /pets serves it.
    let (status, _, body) = http("OPTIONS", &url(&gw, "/prod/pets"), vec![]).await;
    assert_eq!((status, text(&body)), (201, "any pets"));
}

/// Routes that pass requests on with `http_proxy`.
const PROXY_ROUTES: &str = r#"
[http.routes."ANY /api/{proxy+}"]
integration = { type = "http_proxy", uri = "${stageVariables.backend}/echo/{proxy}" }
[http.routes."GET /users/{id}/avatar"]
integration = { type = "http_proxy", uri = "${stageVariables.backend}/avatars/{id}?size=big" }
"#;

#[tokio::test]
async fn http_proxy_passes_the_request_on_and_the_answer_back() {
    let (gw, backend) = start(PROXY_ROUTES).await;
    backend.on("/echo/a/b%20c", Behaviour::Status(201, "created".into()));
    let headers = [
        ("content-type", "application/octet-stream"),
        ("x-app", "kept"),
        ("connection", "keep-alive, x-hop"),
        ("x-hop", "dropped"),
    ];
    let target = url(&gw, "/prod/api/a/b%20c?x=1&y=2");
    let (status, _, body) = http_with("POST", &target, &headers, vec![0, 1, 2, 255]).await;
    assert_eq!((status, text(&body)), (201, "created"));
    let got = backend.next("/echo/a/b%20c").await;
    assert_eq!(&got.body[..], &[0, 1, 2, 255]);
    assert_eq!(got.header("x-app"), Some("kept"));
    assert_eq!(got.header("x-hop"), None);
    assert_eq!(got.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(got.header("x-forwarded-proto"), Some("http"));
    let host = gw.public.to_string();
    assert_eq!(got.header("x-forwarded-host"), Some(host.as_str()));
    assert_eq!(got.header("host"), Some(backend.addr.to_string().as_str()));
    let forwarded = format!("for=127.0.0.1;proto=http;host=\"{host}\"");
    assert_eq!(got.header("forwarded"), Some(forwarded.as_str()));

    // A parameter fills its place in the URI, encoded; the URI's query comes first.
    backend.on(
        "/avatars/a%3Fb%20c",
        Behaviour::Status(404, "no avatar".into()),
    );
    let target = url(&gw, "/prod/users/a%3fb%20c/avatar?v=3");
    let (status, _, body) = http("GET", &target, vec![]).await;
    // The backend's own status and body pass through unchanged, errors included.
    assert_eq!((status, text(&body)), (404, "no avatar"));
    let got = backend.next("/avatars/a%3Fb%20c").await;
    assert_eq!(got.query, "size=big&v=3");
    // An encoded slash has no one meaning to every backend: refused.
    let (status, _, _) = http("GET", &url(&gw, "/prod/users/a%2Fb/avatar"), vec![]).await;
    assert_eq!(status, 400);

    backend.on(
        "/echo/x",
        Behaviour::Status(500, "backend's own 500".into()),
    );
    let (status, _, body) = http("GET", &url(&gw, "/prod/api/x"), vec![]).await;
    assert_eq!((status, text(&body)), (500, "backend's own 500"));
}

#[tokio::test]
async fn the_default_route_appends_the_path_and_failures_get_aws_bodies() {
    let extra = r#"
[http.routes."$default"]
integration = { type = "http_proxy", uri = "${stageVariables.backend}/base", timeout = "300ms" }
"#;
    let (gw, backend) = start(extra).await;
    backend.on(
        "/base/store/checkout",
        Behaviour::Body("checked out".into()),
    );
    let (status, _, body) = http("GET", &url(&gw, "/prod/store/checkout"), vec![]).await;
    assert_eq!((status, text(&body)), (200, "checked out"));
    backend.on("/base/hang", Behaviour::Hang);
    let (status, _, body) = http("GET", &url(&gw, "/prod/hang"), vec![]).await;
    assert_eq!(
        (status, text(&body)),
        (503, r#"{"message":"Service Unavailable"}"#)
    );
    let down = config("http://127.0.0.1:9", extra);
    let gw = Gw::start(&down).await;
    let (status, _, body) = http("GET", &url(&gw, "/prod/anything"), vec![]).await;
    assert_eq!(
        (status, text(&body)),
        (500, r#"{"message":"Internal Server Error"}"#)
    );
}

/// A backend that answers every request with `len` bytes, counting what it
/// managed to write (a write blocks while nobody reads).
/// A backend that sends `len` bytes; the counter is what it has written, or
/// `u64::MAX` once its connection failed under it.
async fn streaming_backend(len: u64) -> (String, std::sync::Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let written = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let count = std::sync::Arc::clone(&written);
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut head = vec![0u8; 8192];
        let _ = sock.read(&mut head).await;
        let header = format!("HTTP/1.1 200 OK\r\ncontent-length: {len}\r\n\r\n");
        sock.write_all(header.as_bytes()).await.unwrap();
        let chunk = vec![b'z'; 64 << 10];
        let mut left = len;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            if sock.write_all(&chunk[..n]).await.is_err() {
                count.store(u64::MAX, Ordering::Relaxed);
                return;
            }
            left -= n as u64;
            count.fetch_add(n as u64, Ordering::Relaxed);
        }
    });
    (format!("http://{addr}"), written)
}

#[tokio::test]
async fn a_download_is_streamed_and_a_client_that_stops_reading_stops_the_backend() {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // 1 GiB advertised; the client reads 64 KiB and then stops.
    let (backend_url, written) = streaming_backend(1 << 30).await;
    let gw = Gw::start(&config(&backend_url, PROXY_ROUTES)).await;
    let mut client = tokio::net::TcpStream::connect(gw.public).await.unwrap();
    let req = "GET /prod/api/big HTTP/1.1\r\nhost: x\r\n\r\n";
    client.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 64 << 10];
    let mut got = 0;
    while got < buf.len() {
        got += client.read(&mut buf[got..]).await.unwrap();
    }
    assert!(String::from_utf8_lossy(&buf[..200]).contains("content-length: 1073741824"));
    // Wait until the backend is blocked: its count stops moving.
    let mut last = u64::MAX;
    let deadline = sockgate::clock::now() + PATIENCE;
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = written.load(Ordering::Relaxed);
        if now == last {
            break;
        }
        last = now;
        assert!(
            sockgate::clock::now() < deadline,
            "the backend never blocked"
        );
    }
    // What sits between them is socket buffers and a few hyper buffers, not the file.
    assert!(
        last < 64 << 20,
        "{last} bytes left the backend for a client that stopped reading"
    );
}

#[tokio::test]
async fn a_client_that_accepts_nothing_for_send_timeout_is_dropped_with_its_backend() {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (backend_url, written) = streaming_backend(1 << 30).await;
    let extra = format!("[server]\nsend_timeout = \"1s\"\n{PROXY_ROUTES}");
    let gw = Gw::start(&config(&backend_url, &extra)).await;
    let mut client = tokio::net::TcpStream::connect(gw.public).await.unwrap();
    let req = "GET /prod/api/big HTTP/1.1\r\nhost: x\r\n\r\n";
    client.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 1024];
    assert!(client.read(&mut buf).await.unwrap() > 0);
    // Reads nothing more: after a second of writes going nowhere the gateway
    // drops the connection, and the backend's is closed under it.
    let deadline = sockgate::clock::now() + PATIENCE;
    while written.load(Ordering::Relaxed) != u64::MAX {
        assert!(
            sockgate::clock::now() < deadline,
            "the backend connection is still held"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The client finds its connection ended once it drains what was buffered.
    let mut sink = vec![0u8; 1 << 20];
    let ended = tokio::time::timeout(PATIENCE, async {
        loop {
            match client.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "the client connection was closed");
}

#[tokio::test]
async fn a_download_arrives_whole() {
    let len: u64 = 64 << 20;
    let (backend_url, _) = streaming_backend(len).await;
    let gw = Gw::start(&config(&backend_url, PROXY_ROUTES)).await;
    let (status, headers, body) = http("GET", &url(&gw, "/prod/api/file"), vec![]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-length"], len.to_string().as_str());
    assert_eq!(body.len() as u64, len);
    assert!(body.iter().all(|b| *b == b'z'));
}

#[tokio::test]
async fn a_drain_answers_requests_in_flight_before_the_gateway_stops() {
    let (mut gw, backend) = start("").await;
    backend.on(
        "/pets",
        Behaviour::Delay(
            Duration::from_millis(1500),
            r#"{"statusCode":200,"body":"late"}"#.into(),
        ),
    );
    let target = url(&gw, "/prod/pets/1");
    let request = tokio::spawn(async move { http("GET", &target, vec![]).await });
    backend.next("/pets").await;
    // The request is at the backend: drain now. The drain cannot end while the
    // request waits for its answer.
    let drain = tokio::spawn(async move { gw.shutdown().await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !drain.is_finished(),
        "the drain ended with a request in flight"
    );
    let (status, headers, body) = request.await.unwrap();
    assert_eq!((status, text(&body)), (200, "late"));
    assert_eq!(headers["connection"], "close");
    drain.await.unwrap();
}

#[tokio::test]
async fn requests_are_counted_by_route_key_and_status_class_never_by_path() {
    let (gw, backend) = start("").await;
    backend.on("/broken", Behaviour::Status(500, "x".into()));
    backend.on(
        "/files",
        Behaviour::Body(r#"{"statusCode":200,"body":"abc"}"#.into()),
    );
    for id in 1..=3 {
        http("GET", &url(&gw, &format!("/prod/pets/dog{id}")), vec![]).await;
    }
    http("GET", &url(&gw, "/prod/broken"), vec![]).await;
    http("GET", &url(&gw, "/prod/no/such/path"), vec![]).await;
    http("PUT", &url(&gw, "/prod/files/a"), b"12345".to_vec()).await;
    let text = gw.metrics_text().await;
    let count = |labels: &[&str]| metric(&text, "sockgate_http_requests_total", labels);
    let pets = ["stage=\"prod\"", "route=\"GET /pets/{id}\""];
    assert_eq!(count(&[pets[0], pets[1], "status=\"2xx\""]), 3.0);
    assert_eq!(count(&["route=\"GET /broken\"", "status=\"5xx\""]), 1.0);
    assert_eq!(
        count(&["stage=\"prod\"", "route=\"(none)\"", "status=\"4xx\""]),
        1.0
    );
    // A path outside every stage (there is a $default stage here: its 404).
    http("GET", &url(&gw, "/elsewhere"), vec![]).await;
    let text = gw.metrics_text().await;
    let none = ["stage=\"$default\"", "route=\"(none)\"", "status=\"4xx\""];
    assert_eq!(metric(&text, "sockgate_http_requests_total", &none), 1.0);
    assert!(!text.contains("dog1"), "a raw path became a label");
    let latency = "sockgate_http_latency_seconds_count";
    assert_eq!(metric(&text, latency, &pets), 3.0);
    let integration = "sockgate_http_integration_latency_seconds_count";
    assert_eq!(metric(&text, integration, &pets), 3.0);
    // The 5-byte body and the 3-byte answer.
    let files = ["route=\"ANY /files/{path+}\""];
    let data = metric(&text, "sockgate_http_data_processed_bytes_total", &files);
    assert_eq!(data, 8.0);
}

/// Sends raw bytes to the public listener and returns the status line of the
/// answer (or "" if the connection closed without one).
async fn raw_status(gw: &Gw, bytes: &[u8], then_wait: bool) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut conn = tokio::net::TcpStream::connect(gw.public).await.unwrap();
    conn.write_all(bytes).await.unwrap();
    if !then_wait {
        conn.shutdown().await.unwrap();
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(PATIENCE, conn.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer);
    text.lines().next().unwrap_or("").to_owned()
}

#[tokio::test]
async fn malformed_oversized_and_stalled_requests_get_clear_errors() {
    let (gw, backend) = start("[server]\nrequest_body_timeout = \"300ms\"").await;
    // Not HTTP at all.
    let status = raw_status(&gw, b"HELLO\r\n\r\n", false).await;
    assert!(status.starts_with("HTTP/1.1 400"), "{status}");
    // A header block over the limit (AWS: 10,240 bytes of request line and headers).
    let big = format!(
        "GET /prod/pets/1 HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let status = raw_status(&gw, big.as_bytes(), false).await;
    assert!(status.starts_with("HTTP/1.1 431"), "{status}");
    // A body that stops arriving: 408 after request_body_timeout, the backend never called.
    let stalled =
        b"POST /prod/files/x HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\nonly a few bytes";
    let status = raw_status(&gw, stalled, true).await;
    assert!(status.starts_with("HTTP/1.1 408"), "{status}");
    assert!(
        backend
            .drain("/files", Duration::from_millis(200))
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_stage_canary_serves_its_share_of_requests_and_events_say_so() {
    let canary = "[stages.prod.canary]\npercent = 100\nvariables = { color = \"red\" }";
    let (gw, backend) = start(canary).await;
    let (status, _, body) = http("GET", &url(&gw, "/prod/pets/dog"), vec![]).await;
    assert_eq!((status, text(&body)), (200, "static dog in red"));
    http("GET", &url(&gw, "/prod/pets/1"), vec![]).await;
    let ev = backend.next("/pets").await.json();
    assert_eq!(ev["requestContext"]["isCanaryRequest"], true);
    assert_eq!(ev["stageVariables"]["color"], "red");
    // A stage without a canary says nothing about it.
    http("GET", &url(&gw, "/pets/1"), vec![]).await;
    let ev = backend.next("/pets").await.json();
    assert!(ev["requestContext"].get("isCanaryRequest").is_none());
}
