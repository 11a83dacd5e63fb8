//! Points 3 and 4: route selection, and what each integration type sends and answers.

mod support;

use futures_util::SinkExt;
use serde_json::json;
use support::*;
use tokio_tungstenite::tungstenite::Message;

fn config(backend: &str, extra: &str) -> String {
    format!(
        r#"
[websocket]
route_selection_expression = "${{request.body.service}}/${{request.body.action}}"
[stages.prod]
variables = {{ backend = "{backend}" }}
[routes."$default"]
route_response = true
integration = {{ type = "mock", body = "default:${{request.body}}" }}
[routes."chat/echo"]
route_response = true
integration = {{ type = "mock", body = "${{request.body.data.text}}" }}
[routes."chat/send"]
route_response = true
integration = {{ type = "aws_proxy", uri = "${{stageVariables.backend}}/send", timeout = "300ms" }}
[routes."chat/fire"]
integration = {{ type = "aws_proxy", uri = "${{stageVariables.backend}}/fire" }}
[routes."chat/raw"]
route_response = true
integration = {{ type = "http_proxy", uri = "${{stageVariables.backend}}/raw" }}
{extra}
"#
    )
}

/// A mock round trip: had any other frame been sent before it, it would arrive first.
async fn assert_nothing_was_sent(ws: &mut Ws) {
    send_text(
        ws,
        r#"{"service":"chat","action":"echo","data":{"text":"marker"}}"#,
    )
    .await;
    assert_eq!(recv_text(ws).await, "marker");
}

#[tokio::test]
async fn selection_expression_routes_and_falls_back_to_default() {
    let backend = Backend::start().await;
    let gw = Gw::start(&config(&backend.url(), "")).await;
    let mut ws = connect(&gw.url("prod")).await;
    send_text(
        &mut ws,
        r#"{"service":"chat","action":"echo","data":{"text":"nested works"}}"#,
    )
    .await;
    assert_eq!(recv_text(&mut ws).await, "nested works");
    // Case-sensitive exact match; unmatched, non-JSON and empty messages go to $default.
    for msg in [
        r#"{"service":"chat","action":"ECHO"}"#,
        "not json at all",
        "",
        "[1,2,3]",
        r#"{"service":"chat"}"#,
    ] {
        send_text(&mut ws, msg).await;
        assert_eq!(recv_text(&mut ws).await, format!("default:{msg}"));
    }
}

#[tokio::test]
async fn no_route_and_no_default_gives_forbidden_and_stays_connected() {
    let gw = Gw::start(&format!("[stages.dev]\n{WHOAMI_ROUTE}")).await;
    let (mut ws, id) = connected(&gw.url("dev")).await;
    send_text(&mut ws, "hi").await;
    let frame = recv_text(&mut ws).await;
    let prefix = format!(r#"{{"message": "Forbidden", "connectionId":"{id}", "requestId":""#);
    assert!(frame.starts_with(&prefix), "{frame}");
    assert!(frame.ends_with(r#"="}"#), "{frame}");
    assert_eq!(whoami(&mut ws).await, id, "still connected");
    let text = gw.metrics_text().await;
    assert_eq!(
        metric(
            &text,
            "sockgate_client_errors_total",
            &["kind=\"no_route\""]
        ),
        1.0
    );
}

#[tokio::test]
async fn aws_proxy_message_event_and_two_way_reply() {
    let backend = Backend::start().await;
    let gw = Gw::start(&config(&backend.url(), "")).await;
    let mut ws = connect(&gw.url("prod")).await;
    backend.on(
        "/send",
        Behaviour::Body(r#"{"statusCode":200,"body":"reply from lambda"}"#.into()),
    );
    let msg = r#"{"service":"chat","action":"send","text":"hello"}"#;
    send_text(&mut ws, msg).await;
    assert_eq!(recv_text(&mut ws).await, "reply from lambda");
    let v = backend.next("/send").await.json();
    assert_eq!(v["body"], msg);
    assert_eq!(v["isBase64Encoded"], false);
    assert!(
        v.get("headers").is_none(),
        "MESSAGE events carry no headers"
    );
    assert!(v.get("queryStringParameters").is_none());
    let rc = &v["requestContext"];
    assert_eq!(rc["routeKey"], "chat/send");
    assert_eq!(rc["eventType"], "MESSAGE");
    assert_eq!(rc["messageId"].as_str().unwrap().len(), 16);
    assert_ne!(rc["messageId"], rc["requestId"]);
    assert_eq!(v["stageVariables"], json!({"backend": backend.url()}));

    // Base64 bodies become binary frames; non-2xx statusCodes still pass the body through.
    backend.on(
        "/send",
        Behaviour::Body(r#"{"statusCode":200,"body":"AAEC","isBase64Encoded":true}"#.into()),
    );
    send_text(&mut ws, msg).await;
    assert_eq!(recv(&mut ws).await, Message::binary(vec![0u8, 1, 2]));
    backend.on(
        "/send",
        Behaviour::Body(r#"{"statusCode":404,"body":"not here"}"#.into()),
    );
    send_text(&mut ws, msg).await;
    assert_eq!(recv_text(&mut ws).await, "not here");
    // No body: no frame. The next reply proves nothing was sent in between.
    backend.on("/send", Behaviour::Body(r#"{"statusCode":200}"#.into()));
    send_text(&mut ws, msg).await;
    backend.next("/send").await;
    assert_nothing_was_sent(&mut ws).await;
}

#[tokio::test]
async fn one_way_routes_send_nothing_back() {
    let backend = Backend::start().await;
    let gw = Gw::start(&config(&backend.url(), "")).await;
    let mut ws = connect(&gw.url("prod")).await;
    backend.on(
        "/fire",
        Behaviour::Body(r#"{"statusCode":200,"body":"must not arrive"}"#.into()),
    );
    send_text(&mut ws, r#"{"service":"chat","action":"fire"}"#).await;
    backend.next("/fire").await;
    assert_nothing_was_sent(&mut ws).await;
}

#[tokio::test]
async fn integration_failures_and_timeouts_give_aws_error_frames() {
    let backend = Backend::start().await;
    let gw = Gw::start(&config(&backend.url(), "")).await;
    let mut ws = connect(&gw.url("prod")).await;
    let send = r#"{"service":"chat","action":"send"}"#;
    for behaviour in [
        Behaviour::Status(500, "stack trace with secrets".into()),
        Behaviour::Body("garbage that is not JSON".into()),
        Behaviour::Body(r#"{"statusCode":200,"body":{"not":"a string"}}"#.into()),
    ] {
        backend.on("/send", behaviour);
        send_text(&mut ws, send).await;
        let frame = recv_text(&mut ws).await;
        assert!(
            frame.starts_with(r#"{"message": "Internal server error", "connectionId":""#),
            "{frame}"
        );
        assert!(!frame.contains("secrets") && !frame.contains("garbage"));
    }
    // One-way routes get the error frame too (as on AWS).
    backend.on("/fire", Behaviour::Status(502, "x".into()));
    send_text(&mut ws, r#"{"service":"chat","action":"fire"}"#).await;
    assert!(
        recv_text(&mut ws)
            .await
            .starts_with(r#"{"message": "Internal server error""#)
    );

    backend.on("/send", Behaviour::Hang);
    send_text(&mut ws, send).await;
    let frame = recv_text(&mut ws).await;
    assert!(
        frame.starts_with(r#"{"message": "Endpoint request timed out", "connectionId":""#),
        "{frame}"
    );

    let text = gw.metrics_text().await;
    assert_eq!(
        metric(
            &text,
            "sockgate_execution_errors_total",
            &["route=\"chat/send\"", "kind=\"timeout\""]
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "sockgate_execution_errors_total",
            &["route=\"chat/send\"", "kind=\"failed\""]
        ),
        3.0
    );
    assert!(
        metric(
            &text,
            "sockgate_integration_latency_seconds_count",
            &["route=\"chat/send\""]
        ) >= 4.0
    );
}

#[tokio::test]
async fn http_proxy_posts_the_raw_message_with_context_headers() {
    let backend = Backend::start().await;
    // This API selects on service/action, so {"action":"whoami"} evaluates to "/whoami".
    let gw = Gw::start(&config(
        &backend.url(),
        &WHOAMI_ROUTE.replace("routes.whoami", "routes.\"/whoami\""),
    ))
    .await;
    let (mut ws, id) = connected(&gw.url("prod")).await;
    backend.on("/raw", Behaviour::Body("plain reply".into()));
    let msg = r#"{"service":"chat","action":"raw","x":1}"#;
    send_text(&mut ws, msg).await;
    assert_eq!(recv_text(&mut ws).await, "plain reply");
    let req = backend.next("/raw").await;
    assert_eq!(&req.body[..], msg.as_bytes());
    assert_eq!(req.header("x-sockgate-connection-id"), Some(id.as_str()));
    assert_eq!(req.header("x-sockgate-route-key"), Some("chat/raw"));
    assert_eq!(req.header("x-sockgate-event-type"), Some("MESSAGE"));
    assert_eq!(req.header("x-sockgate-stage"), Some("prod"));
    assert_eq!(req.header("x-sockgate-source-ip"), Some("127.0.0.1"));
    assert_eq!(req.header("x-sockgate-message-id").map(str::len), Some(16));
}

#[tokio::test]
async fn slow_backend_calls_do_not_block_other_traffic() {
    let backend = Backend::start().await;
    let gw = Gw::start(&config(&backend.url(), "")).await;
    let mut ws = connect(&gw.url("prod")).await;
    backend.on("/send", Behaviour::Hang);
    send_text(&mut ws, r#"{"service":"chat","action":"send"}"#).await;
    backend.next("/send").await;
    // While that call hangs, the mock route still answers at once.
    send_text(
        &mut ws,
        r#"{"service":"chat","action":"echo","data":{"text":"not blocked"}}"#,
    )
    .await;
    assert_eq!(recv_text(&mut ws).await, "not blocked");
    assert!(
        recv_text(&mut ws)
            .await
            .contains("Endpoint request timed out")
    );
}

#[tokio::test]
async fn binary_frames_close_1003_by_default() {
    let gw = Gw::start("[stages.dev]\n").await;
    let mut ws = connect(&gw.url("dev")).await;
    ws.send(Message::binary(vec![1u8, 2, 3])).await.unwrap();
    assert_eq!(
        expect_close(&mut ws).await,
        (1003, "Binary frames are not supported".into())
    );
}

#[tokio::test]
async fn binary_frames_pass_as_base64_when_configured() {
    let backend = Backend::start().await;
    let toml = format!(
        r#"
[websocket]
binary_frames = "base64"
[stages.dev]
[routes."$default"]
integration = {{ type = "aws_proxy", uri = "{}/bin" }}
"#,
        backend.url()
    );
    let gw = Gw::start(&toml).await;
    let mut ws = connect(&gw.url("dev")).await;
    ws.send(Message::binary(vec![0u8, 255, 16])).await.unwrap();
    let v = backend.next("/bin").await.json();
    assert_eq!(v["body"], "AP8Q");
    assert_eq!(v["isBase64Encoded"], true);
    assert_eq!(v["requestContext"]["routeKey"], "$default");
}

#[tokio::test]
async fn route_key_that_is_not_header_text_fails_clearly_for_http_proxy() {
    let backend = Backend::start().await;
    // A control character is legal in a route key but not in an HTTP header.
    let extra = format!(
        "[routes.\"chat/x\\u0001y\"]\nroute_response = true\nintegration = {{ type = \"http_proxy\", uri = \"{}/ctl\" }}\n",
        backend.url()
    );
    let gw = Gw::start(&config(&backend.url(), &extra)).await;
    let mut ws = connect(&gw.url("prod")).await;
    send_text(&mut ws, r#"{"service":"chat","action":"x\u0001y"}"#).await;
    let frame = recv_text(&mut ws).await;
    assert!(
        frame.starts_with(r#"{"message": "Internal server error""#),
        "{frame}"
    );
    assert!(
        backend
            .drain("/ctl", std::time::Duration::from_millis(200))
            .await
            .is_empty(),
        "no headerless request was sent"
    );
}
