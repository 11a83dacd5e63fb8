//! Issue 13, request validation: JSON Schema models on WebSocket routes (AWS's
//! model selection and its "Bad request body" frame) and on HTTP routes (400
//! "Invalid request body"), and required HTTP parameters (400 "Missing
//! required request parameters: [...]"); the backend is never called with
//! what failed, and what failed is sent only where a route opts in.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::*;

fn config(b: &str) -> String {
    format!(
        r#"
[websocket]
route_selection_expression = "$request.body.action"
[models.Order]
schema = '{{"type":"object","required":["qty"],"properties":{{"qty":{{"type":"integer","minimum":1}}}}}}'
[models.Message]
schema = '{{"type":"object","required":["text"],"properties":{{"text":{{"type":"string","maxLength":10}}}}}}'
[models.Pet]
schema = '{{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","required":["name"],"properties":{{"name":{{"type":"string"}}}}}}'
[routes.send]
route_response = true
integration = {{ type = "aws_proxy", uri = "{b}/send" }}
model_selection_expression = "$request.body.kind"
request_models = {{ order = "Order", "$default" = "Message" }}
[routes.strict]
route_response = true
integration = {{ type = "mock", body = "ok" }}
model_selection_expression = "$request.body.kind"
request_models = {{ order = "Order" }}
detailed_errors = true
[stages.prod]
[http.routes."POST /pets"]
integration = {{ type = "aws_proxy", uri = "{b}/pets" }}
request_model = "Pet"
required_parameters = ["querystring.page", "header.x-id"]
[http.routes."POST /detailed"]
integration = {{ type = "mock", body = "ok" }}
request_model = "Pet"
detailed_errors = true
"#
    )
}

#[tokio::test]
async fn websocket_messages_are_checked_against_the_selected_model() {
    let backend = Backend::start().await;
    backend.on(
        "/send",
        Behaviour::Body(r#"{"statusCode":200,"body":"sent"}"#.into()),
    );
    let gw = Gw::start(&config(&backend.url())).await;
    let (mut ws, id) = connected(&gw.url("prod")).await;
    for good in [
        json!({"action": "send", "kind": "order", "qty": 2}),
        json!({"action": "send", "text": "hi"}),
    ] {
        send_text(&mut ws, &good.to_string()).await;
        assert_eq!(recv_text(&mut ws).await, "sent", "{good}");
    }
    assert_eq!(
        backend
            .drain("/send", Duration::from_millis(100))
            .await
            .len(),
        2
    );
    for bad in [
        json!({"action": "send", "kind": "order", "qty": 0}),
        json!({"action": "send", "text": "far too long for it"}),
        json!({"action": "send", "kind": "order"}),
    ] {
        send_text(&mut ws, &bad.to_string()).await;
        let frame = recv_text(&mut ws).await;
        let prefix =
            format!(r#"{{"message" : "Bad request body", "connectionId": "{id}", "messageId": ""#);
        assert!(frame.starts_with(&prefix), "{frame}");
        assert!(
            !frame.contains("errors"),
            "details only where a route opts in"
        );
    }
    assert!(
        backend
            .drain("/send", Duration::from_millis(100))
            .await
            .is_empty(),
        "the backend never sees a message that failed"
    );
    // No model for the key and no $default: fails; details on this route.
    send_text(
        &mut ws,
        &json!({"action": "strict", "kind": "other"}).to_string(),
    )
    .await;
    let frame: Value = serde_json::from_str(&recv_text(&mut ws).await).unwrap();
    assert_eq!(frame["message"], "Bad request body");
    assert!(frame["errors"][0].as_str().unwrap().contains("no model"));
    send_text(
        &mut ws,
        &json!({"action": "strict", "kind": "order", "qty": "x"}).to_string(),
    )
    .await;
    let frame: Value = serde_json::from_str(&recv_text(&mut ws).await).unwrap();
    assert_eq!(frame["errors"], json!(["/qty: type"]));
    let metrics = gw.metrics_text().await;
    let bad = metric(
        &metrics,
        "sockgate_client_errors_total",
        &["kind=\"bad_request\""],
    );
    assert_eq!(bad, 5.0);
}

#[tokio::test]
async fn http_bodies_and_required_parameters_get_aws_400s() {
    let backend = Backend::start().await;
    let gw = Gw::start(&config(&backend.url())).await;
    let url = |p: &str| format!("http://{}{p}", gw.public);
    let post = |p: String, headers: Vec<(&'static str, &'static str)>, body: &'static str| async move {
        let (status, _, body) = http_with("POST", &p, &headers, body.as_bytes().to_vec()).await;
        (status, String::from_utf8(body.to_vec()).unwrap())
    };
    let json_ct = ("content-type", "application/json");
    assert_eq!(
        post(url("/prod/pets"), vec![json_ct], r#"{"name":"rex"}"#).await,
        (
            400,
            r#"{"message": "Missing required request parameters: [page, x-id]"}"#.into()
        )
    );
    // A blank value is missing too.
    assert_eq!(
        post(
            url("/prod/pets?page="),
            vec![json_ct, ("x-id", "1")],
            r#"{"name":"rex"}"#
        )
        .await,
        (
            400,
            r#"{"message": "Missing required request parameters: [page]"}"#.into()
        )
    );
    let ok_params = vec![json_ct, ("x-id", "1")];
    for bad in [r#"{"name":5}"#, "{}", "not json", ""] {
        assert_eq!(
            post(url("/prod/pets?page=2"), ok_params.clone(), bad).await,
            (400, r#"{"message": "Invalid request body"}"#.into()),
            "{bad:?}"
        );
    }
    assert!(
        backend
            .drain("/pets", Duration::from_millis(100))
            .await
            .is_empty()
    );
    let (status, _) = post(url("/prod/pets?page=2"), ok_params, r#"{"name":"rex"}"#).await;
    assert_eq!(status, 200);
    assert_eq!(
        backend.next("/pets").await.json()["body"],
        r#"{"name":"rex"}"#
    );
    // Details on the route that asks for them: paths and keywords, no values.
    let (status, body) = post(
        url("/prod/detailed"),
        vec![json_ct],
        r#"{"name":["secret"]}"#,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        r#"{"message": "Invalid request body", "errors": ["/name: type"]}"#
    );
}
