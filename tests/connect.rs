//! Point 2: the upgrade at /{stage} and the `$connect` integration.

mod support;

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config(backend: &str, timeout: &str) -> String {
    format!(
        r#"
[stages.prod]
variables = {{ backend = "{backend}" }}
[routes."$connect"]
integration = {{ type = "aws_proxy", uri = "${{stageVariables.backend}}/connect", timeout = "{timeout}" }}
[routes."$disconnect"]
integration = {{ type = "aws_proxy", uri = "${{stageVariables.backend}}/disconnect" }}
{WHOAMI_ROUTE}
"#
    )
}

#[tokio::test]
async fn plain_get_is_426_and_unknown_stage_is_404() {
    let gw = Gw::start("[stages.prod]\n").await;
    let (status, headers, body) =
        http("GET", &format!("http://{}/prod", gw.public), Vec::new()).await;
    assert_eq!(status, 426);
    assert_eq!(headers["upgrade"], "websocket");
    assert_eq!(&body[..], br#"{"message":"Upgrade Required"}"#);
    assert_eq!(refused_status(&gw.url("nope"), &[]).await, 404);
    assert_eq!(
        refused_status(&format!("ws://{}/", gw.public), &[]).await,
        404
    );
}

#[tokio::test]
async fn connect_event_is_the_lambda_connect_shape_and_2xx_accepts() {
    let backend = Backend::start().await;
    let gw = Gw::start(&config(&backend.url(), "5s")).await;
    let url = format!("{}?token=abc&token=def&x=%20y", gw.url("prod"));
    let (mut ws, _) = connect_with(&url, &[("User-Agent", "test-agent/1.0"), ("X-Custom", "v")])
        .await
        .expect("accepted");
    let ev = backend.next("/connect").await;
    assert_eq!(ev.header("content-type"), Some("application/json"));
    assert_eq!(
        ev.header("x-sockgate-management-endpoint"),
        Some(format!("http://{}/prod", gw.mgmt).as_str())
    );
    let v = ev.json();
    let rc = &v["requestContext"];
    assert_eq!(rc["routeKey"], "$connect");
    assert_eq!(rc["eventType"], "CONNECT");
    assert_eq!(rc["messageDirection"], "IN");
    assert_eq!(rc["stage"], "prod");
    assert_eq!(rc["apiId"], "sockgate");
    assert_eq!(rc["identity"]["sourceIp"], "127.0.0.1");
    assert_eq!(rc["identity"]["userAgent"], "test-agent/1.0");
    assert_eq!(rc["requestId"], rc["extendedRequestId"]);
    assert_eq!(rc["domainName"], gw.public.to_string());
    let id = rc["connectionId"].as_str().unwrap();
    assert_eq!(id.len(), 16);
    assert!(id.ends_with('='));
    assert!(rc["connectedAt"].as_u64().unwrap() > 1_700_000_000_000);
    assert!(rc["requestTime"].as_str().unwrap().ends_with(" +0000"));
    assert!(rc.get("messageId").is_none());
    assert!(v.get("body").is_none());
    assert_eq!(v["isBase64Encoded"], false);
    assert_eq!(v["headers"]["X-Custom"], "v");
    assert_eq!(v["headers"]["Sec-WebSocket-Version"], "13");
    assert!(
        v["headers"].get("Connection").is_none(),
        "hop-by-hop headers are not forwarded"
    );
    assert_eq!(v["multiValueHeaders"]["X-Custom"], serde_json::json!(["v"]));
    assert_eq!(
        v["queryStringParameters"],
        serde_json::json!({"token": "abc,def", "x": " y"})
    );
    assert_eq!(
        v["multiValueQueryStringParameters"]["token"],
        serde_json::json!(["abc", "def"])
    );
    // The id in the event is the live connection's id.
    assert_eq!(whoami(&mut ws).await, id);

    // Without a query string the query keys are absent.
    let _ws2 = connect(&gw.url("prod")).await;
    let v = backend.next("/connect").await.json();
    assert!(v.get("queryStringParameters").is_none());
    assert!(v.get("multiValueQueryStringParameters").is_none());
}

#[tokio::test]
async fn non_2xx_status_becomes_the_handshake_status() {
    let backend = Backend::start().await;
    let gw = Gw::start(&config(&backend.url(), "5s")).await;
    for code in [401u16, 403, 400, 301, 501] {
        backend.on(
            "/connect",
            Behaviour::Body(format!(
                r#"{{"statusCode":{code},"body":"secret backend text"}}"#
            )),
        );
        assert_eq!(refused_status(&gw.url("prod"), &[]).await, code);
    }
    // A refused connection was never accepted: no $disconnect for it.
    assert!(
        backend
            .drain("/disconnect", std::time::Duration::from_millis(300))
            .await
            .is_empty()
    );
    let text = gw.metrics_text().await;
    assert_eq!(
        metric(&text, "sockgate_connects_total", &["outcome=\"rejected\""]),
        5.0
    );
}

#[tokio::test]
async fn integration_failures_give_502_and_timeouts_504() {
    let backend = Backend::start().await;
    let gw = Gw::start(&config(&backend.url(), "200ms")).await;
    // Backend errors (HTTP 500), garbage, and malformed proxy responses: 502.
    for behaviour in [
        Behaviour::Status(500, "boom".into()),
        Behaviour::Body("<html>not json</html>".into()),
        Behaviour::Body(r#"{"statusCode":"two hundred"}"#.into()),
        Behaviour::Body(r#"{"statusCode":101}"#.into()),
    ] {
        backend.on("/connect", behaviour);
        assert_eq!(refused_status(&gw.url("prod"), &[]).await, 502);
    }
    backend.on("/connect", Behaviour::Hang);
    assert_eq!(refused_status(&gw.url("prod"), &[]).await, 504);

    // A backend that is not there at all: 502.
    let down = Gw::start(&config("http://127.0.0.1:1", "5s")).await;
    assert_eq!(refused_status(&down.url("prod"), &[]).await, 502);
    let text = gw.metrics_text().await;
    assert_eq!(
        metric(
            &text,
            "sockgate_connects_total",
            &["outcome=\"integration_timeout\""]
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "sockgate_execution_errors_total",
            &["kind=\"failed\"", "route=\"$connect\""]
        ),
        3.0,
        "the 1xx answer was a completed call, not an execution error"
    );
    assert_eq!(
        metric(
            &text,
            "sockgate_connects_total",
            &["outcome=\"integration_failed\""]
        ),
        4.0
    );
}

#[tokio::test]
async fn connect_result_picks_the_subprotocol() {
    let backend = Backend::start().await;
    let gw = Gw::start(&config(&backend.url(), "5s")).await;
    backend.on(
        "/connect",
        Behaviour::Body(
            r#"{"statusCode":200,"headers":{"Sec-WebSocket-Protocol":"chat.v2"}}"#.into(),
        ),
    );
    let (_ws, resp) = connect_with(
        &gw.url("prod"),
        &[("Sec-WebSocket-Protocol", "chat.v1, chat.v2")],
    )
    .await
    .expect("accepted");
    assert_eq!(resp.headers()["sec-websocket-protocol"], "chat.v2");
    let ev = backend.next("/connect").await.json();
    assert_eq!(ev["headers"]["Sec-WebSocket-Protocol"], "chat.v1, chat.v2");
    // Choosing a protocol the client did not offer would break the client: 502.
    backend.on(
        "/connect",
        Behaviour::Body(
            r#"{"statusCode":200,"headers":{"Sec-WebSocket-Protocol":"other"}}"#.into(),
        ),
    );
    assert_eq!(
        refused_status(&gw.url("prod"), &[("Sec-WebSocket-Protocol", "chat.v1")]).await,
        502
    );
}

#[tokio::test]
async fn without_connect_route_every_handshake_is_accepted() {
    let gw = Gw::start(&format!("[stages.dev]\n{WHOAMI_ROUTE}")).await;
    let (_ws, id) = connected(&gw.url("dev")).await;
    assert_eq!(id.len(), 16);
    let mut other = connect(&gw.url("dev")).await;
    assert_ne!(whoami(&mut other).await, id, "ids are unique");
}

#[tokio::test]
async fn garbage_handshakes_get_clear_errors() {
    let gw = Gw::start("[stages.prod]\n").await;
    let url = gw.url("prod");
    assert_eq!(
        refused_status(&url, &[("Sec-WebSocket-Version", "8")]).await,
        426,
        "only version 13 is spoken"
    );

    // A handshake with a malformed key.
    let raw = "GET /prod HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n\r\n";
    assert!(
        raw_exchange(gw.public, raw.as_bytes())
            .await
            .starts_with("HTTP/1.1 400")
    );
    // Not HTTP at all (a TLS ClientHello on the plain port): 400, then close.
    let reply = raw_exchange(gw.public, b"\x16\x03\x01\x02\x00garbage\r\n\r\n").await;
    assert!(reply.starts_with("HTTP/1.1 400 "), "{reply}");
    // A head larger than the 16 KiB bound.
    let huge = format!(
        "GET /prod HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let reply = raw_exchange(gw.public, huge.as_bytes()).await;
    assert!(reply.starts_with("HTTP/1.1 431 "), "{reply}");
    // The server is still fine.
    let _ws = connect(&url).await;
}

async fn raw_exchange(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(bytes).await;
    // Read until the response head is complete or the server closes.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match tokio::time::timeout(PATIENCE, s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

#[tokio::test]
async fn max_connections_gives_503() {
    let gw = Gw::start("[server]\nmax_connections = 2\n[stages.prod]\n").await;
    let _a = connect(&gw.url("prod")).await;
    let b = connect(&gw.url("prod")).await;
    assert_eq!(refused_status(&gw.url("prod"), &[]).await, 503);
    drop(b);
    // The slot frees once the dropped connection's session has ended.
    let mut ok = false;
    for _ in 0..100 {
        if connect_with(&gw.url("prod"), &[]).await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(ok, "a freed slot is reused");
}

/// The `$default` stage's WebSocket URL is the root, as its HTTP routes'
/// base is; `/$default` is a stage's name in config, not a URL.
#[tokio::test]
async fn the_default_stage_upgrades_at_the_root_not_at_its_name() {
    let gw = Gw::start("[stages.\"$default\"]\n[routes.\"$default\"]\nroute_response = true\nintegration = { type = \"mock\", body = \"hi\" }\n").await;
    let mut ws = connect(&format!("ws://{}/", gw.public)).await;
    send_text(&mut ws, "x").await;
    assert_eq!(recv_text(&mut ws).await, "hi");
    assert_eq!(
        refused_status(&format!("ws://{}/$default", gw.public), &[]).await,
        404
    );
}

/// A config with HTTP routes and no WebSocket route is an HTTP API: an
/// upgrade request is answered as the HTTP request it also is, never
/// upgraded.
#[tokio::test]
async fn an_http_only_api_upgrades_nothing() {
    let gw = Gw::start("[stages.\"$default\"]\n[http.routes.\"GET /pets\"]\nintegration = { type = \"mock\", body = \"pets\" }\n").await;
    for path in ["/", "/$default", "/pets"] {
        let url = format!("ws://{}{path}", gw.public);
        let status = refused_status(&url, &[]).await;
        let want = if path == "/pets" { 200 } else { 404 };
        assert_eq!(status, want, "{path}");
    }
}
