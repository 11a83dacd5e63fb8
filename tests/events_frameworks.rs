//! Issue 21 §4: the events are what AWS puts in them, checked by libraries
//! nobody on the project wrote. Powertools for AWS Lambda's parser models
//! validate every event (HTTP API 2.0 and 1.0; WebSocket CONNECT, MESSAGE,
//! DISCONNECT); one app, written once, runs through Mangum (FastAPI) and
//! apig-wsgi (Flask), and gives the same answer on payload 2.0 and 1.0 and
//! over HTTP/1.1 and HTTP/2: the URL and scheme (from `x-forwarded-proto`),
//! the client's address (`sourceIp`, `x-forwarded-for`), query values with
//! `+` as a space, two `Cookie` fields, a header value that is not ASCII.
//!
//! Needs `pip install aws-lambda-powertools mangum fastapi apig-wsgi flask`
//! (`.ci/run` installs them).

mod support;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{Value, json};
use support::process::PythonServer;
use support::*;

struct Apps {
    server: PythonServer,
}

impl Apps {
    fn start() -> Apps {
        let needs = "pip install aws-lambda-powertools mangum fastapi apig-wsgi flask";
        let server = PythonServer::start("tests/frameworks/lambda_apps.py", &[], needs);
        Apps { server }
    }

    async fn seen(&self) -> Vec<Value> {
        let (_, _, body) = http(
            "GET",
            &format!("http://127.0.0.1:{}/seen", self.server.port),
            vec![],
        )
        .await;
        serde_json::from_slice(&body).unwrap()
    }
}

fn config(port: u16) -> String {
    let b = format!("http://127.0.0.1:{port}");
    let mut routes = String::new();
    for (name, handler) in [("m", "mangum"), ("w", "wsgi")] {
        for format in ["2.0", "1.0"] {
            let v = &format[..1];
            routes.push_str(&format!(
                "[http.routes.\"GET /{name}{v}/{{proxy+}}\"]\nintegration = {{ type = \"aws_proxy\", uri = \"{b}/{handler}\", payload_format = \"{format}\" }}\n"
            ));
        }
    }
    format!(
        r#"
[stages.dev]
{routes}
[routes."$connect"]
integration = {{ type = "aws_proxy", uri = "{b}/validate" }}
[routes."$default"]
route_response = true
integration = {{ type = "aws_proxy", uri = "{b}/validate" }}
[routes."$disconnect"]
integration = {{ type = "aws_proxy", uri = "{b}/validate" }}
"#
    )
}

/// One request as a browser might send it, over HTTP/1.1 or HTTP/2.
async fn ask(gw: &Gw, path: &str, h2: bool) -> Value {
    let client = Client::builder(TokioExecutor::new())
        .http2_only(h2)
        .build_http::<Full<Bytes>>();
    let req = http::Request::get(format!("http://{}{path}?tag=a+b&tag=c%20d", gw.public))
        .header("cookie", "a=1")
        .header("cookie", "b=2")
        .header(
            "x-name",
            http::HeaderValue::from_bytes("café".as_bytes()).unwrap(),
        )
        .body(Full::default())
        .unwrap();
    let resp = tokio::time::timeout(PATIENCE, client.request(req))
        .await
        .expect("answer in time")
        .unwrap();
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test]
async fn one_app_answers_alike_on_both_payload_formats_and_both_protocols() {
    let apps = Apps::start();
    let gw = Gw::start(&config(apps.server.port)).await;
    // ASGI hands header values to the app as bytes, and Starlette reads them
    // as ISO-8859-1: the UTF-8 the client sent shows as "cafÃ©" there, on
    // AWS too. The point is that every path gives the app the same bytes.
    for (framework, name) in [("m", "cafÃ©"), ("w", "café")] {
        for version in ["2", "1"] {
            for h2 in [false, true] {
                let path = format!("/dev/{framework}{version}/info");
                let mut got = ask(&gw, &path, h2).await;
                // The query string itself is rebuilt from the 1.0 event's
                // lists; its values are compared one by one.
                let url = got["url"].as_str().unwrap().to_owned();
                got["url"] = Value::from(url.split('?').next().unwrap());
                let want = json!({
                    "url": format!("http://{}{path}", gw.public),
                    "client": "127.0.0.1",
                    "tag": ["a b", "c d"],
                    "cookies": {"a": "1", "b": "2"},
                    "name": name,
                });
                assert_eq!(
                    got,
                    want,
                    "{path} over {}",
                    if h2 { "HTTP/2" } else { "HTTP/1.1" }
                );
            }
        }
    }
    let seen = apps.seen().await;
    assert_eq!(seen.len(), 8);
    for s in &seen {
        assert!(s.get("error").is_none(), "{s}");
    }
    let models: Vec<&str> = seen.iter().map(|s| s["model"].as_str().unwrap()).collect();
    assert_eq!(
        models
            .iter()
            .filter(|m| **m == "APIGatewayProxyEventV2Model")
            .count(),
        4
    );
    assert_eq!(
        models
            .iter()
            .filter(|m| **m == "APIGatewayProxyEventModel")
            .count(),
        4
    );
}

#[tokio::test]
async fn websocket_events_validate_with_powertools_models() {
    let apps = Apps::start();
    let gw = Gw::start(&config(apps.server.port)).await;
    let url = format!("{}?tag=a+b", gw.url("dev"));
    let (mut ws, _) = connect_with(&url, &[("x-name", "v")])
        .await
        .expect("accepted");
    send_text(&mut ws, "{\"hello\": 1}").await;
    assert_eq!(
        recv_text(&mut ws).await,
        "APIGatewayWebSocketMessageEventModel"
    );
    ws.close(None).await.unwrap();
    drop(ws);
    let mut models = Vec::new();
    for _ in 0..100 {
        let seen = apps.seen().await;
        for s in &seen {
            assert!(s.get("error").is_none(), "{s}");
        }
        models = seen
            .iter()
            .map(|s| s["model"].as_str().unwrap().to_owned())
            .collect();
        if models.len() == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        models,
        [
            "APIGatewayWebSocketConnectEventModel",
            "APIGatewayWebSocketMessageEventModel",
            "APIGatewayWebSocketDisconnectEventModel"
        ]
    );
}
