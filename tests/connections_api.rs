//! Point 5: POST, GET and DELETE /{stage}/@connections/{id}.

mod support;

use support::*;
use tokio_tungstenite::tungstenite::Message;

fn config(backend: &str) -> String {
    format!(
        r#"
[websocket]
send_queue_messages = 4
[stages.prod]
[stages.test]
[routes."$disconnect"]
integration = {{ type = "aws_proxy", uri = "{backend}/disconnect" }}
{WHOAMI_ROUTE}
"#
    )
}

#[tokio::test]
async fn post_delivers_text_and_binary_frames() {
    let backend = Backend::start().await;
    let gw = Gw::start(&config(&backend.url())).await;
    let (mut ws, id) = connected(&gw.url("prod")).await;
    let url = gw.connections_url("prod", &id);
    let (status, _, body) = http("POST", &url, br#"{"hello":"world"}"#.to_vec()).await;
    assert_eq!((status, body.len()), (200, 0));
    assert_eq!(recv(&mut ws).await, Message::text(r#"{"hello":"world"}"#));
    let (status, _, _) = http("POST", &url, vec![0xff, 0x00, 0xfe]).await;
    assert_eq!(status, 200);
    assert_eq!(
        recv(&mut ws).await,
        Message::binary(vec![0xffu8, 0x00, 0xfe])
    );
    // The id unencoded, and the stage-less form serverless-offline uses, work too.
    for (path, data) in [
        (format!("/prod/@connections/{id}"), "a"),
        (format!("/@connections/{id}"), "b"),
    ] {
        let (status, _, _) = http("POST", &format!("http://{}{path}", gw.mgmt), data.into()).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(recv_text(&mut ws).await, data);
    }
}

#[tokio::test]
async fn get_returns_connection_info() {
    let gw = Gw::start(&config("http://127.0.0.1:1")).await;
    let (mut ws, _) = connect_with(&gw.url("prod"), &[("User-Agent", "ua/1")])
        .await
        .unwrap();
    let id = whoami(&mut ws).await;
    let (status, headers, body) = http("GET", &gw.connections_url("prod", &id), Vec::new()).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "application/json");
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v["identity"],
        serde_json::json!({"sourceIp": "127.0.0.1", "userAgent": "ua/1"})
    );
    let connected = v["connectedAt"].as_str().unwrap();
    let active = v["lastActiveAt"].as_str().unwrap();
    assert_eq!(connected.len(), "2024-01-01T00:00:00.000Z".len());
    assert!(
        connected.ends_with('Z') && active >= connected,
        "{connected} {active}"
    );
}

#[tokio::test]
async fn delete_closes_with_1000_and_fires_disconnect() {
    let backend = Backend::start().await;
    let gw = Gw::start(&config(&backend.url())).await;
    let (mut ws, id) = connected(&gw.url("prod")).await;
    let (status, _, _) = http("DELETE", &gw.connections_url("prod", &id), Vec::new()).await;
    assert_eq!(status, 204);
    assert_eq!(expect_close(&mut ws).await.0, 1000);
    let rc = backend.next("/disconnect").await.json()["requestContext"].clone();
    assert_eq!(rc["connectionId"], id.as_str());
    assert_eq!(rc["disconnectStatusCode"], 1000);
    assert_eq!(rc["disconnectReason"], "Connection Closed Normally");
    // Afterwards the connection is gone for every operation.
    for method in ["POST", "GET", "DELETE"] {
        let (status, headers, _) =
            http(method, &gw.connections_url("prod", &id), b"x".to_vec()).await;
        assert_eq!(status, 410, "{method}");
        assert_eq!(headers["x-amzn-errortype"], "GoneException");
    }
}

#[tokio::test]
async fn bad_ids_paths_and_bodies() {
    let gw = Gw::start(&config("http://127.0.0.1:1")).await;
    let (mut ws, id) = connected(&gw.url("prod")).await;
    // Well-formed but unknown: 410 GoneException.
    let (status, headers, _) = http(
        "POST",
        &gw.connections_url("prod", "AAAAAAAAAAAAAAA="),
        b"x".to_vec(),
    )
    .await;
    assert_eq!(
        (status, &headers["x-amzn-errortype"]),
        (410, &"GoneException".parse().unwrap())
    );
    // Malformed ids name no connection: 410 GoneException too, as AWS does.
    for bad in ["short", "%ZZ", "R1kmxc2V%2FjMCFIA%3D", &"x".repeat(200)] {
        let (status, headers, _) = http(
            "POST",
            &format!("http://{}/prod/@connections/{bad}", gw.mgmt),
            b"x".to_vec(),
        )
        .await;
        assert_eq!(status, 410, "{bad}");
        assert_eq!(headers["x-amzn-errortype"], "GoneException");
    }
    // A connection of another stage is gone from this one; unknown stages are 404.
    let (status, _, _) = http("POST", &gw.connections_url("test", &id), b"x".to_vec()).await;
    assert_eq!(status, 410);
    let (status, _, _) = http("POST", &gw.connections_url("nope", &id), b"x".to_vec()).await;
    assert_eq!(status, 404);
    let (status, _, _) = http(
        "POST",
        &format!("http://{}/prod/elsewhere/{id}", gw.mgmt),
        b"x".to_vec(),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, _) = http("PUT", &gw.connections_url("prod", &id), b"x".to_vec()).await;
    assert_eq!(status, 405);
    // 128 KiB is accepted; one byte more is 413 PayloadTooLargeException.
    let (status, _, _) = http(
        "POST",
        &gw.connections_url("prod", &id),
        vec![b'a'; 128 * 1024],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(recv_text(&mut ws).await.len(), 128 * 1024);
    let (status, headers, _) = http(
        "POST",
        &gw.connections_url("prod", &id),
        vec![b'a'; 128 * 1024 + 1],
    )
    .await;
    assert_eq!(
        (status, &headers["x-amzn-errortype"]),
        (413, &"PayloadTooLargeException".parse().unwrap())
    );
    // The connection is unharmed.
    assert_eq!(whoami(&mut ws).await, id);
}

#[tokio::test]
async fn full_send_queue_gives_429_and_loses_nothing_accepted() {
    let gw = Gw::start(&config("http://127.0.0.1:1")).await;
    let (mut ws, id) = connected(&gw.url("prod")).await;
    let url = gw.connections_url("prod", &id);
    // The client stops reading. 512 KiB posts fill the socket buffers, then the
    // 4-message queue; from then on the gateway answers 429.
    let mut accepted = 0usize;
    let mut limited = false;
    for _ in 0..200 {
        let (status, headers, _) = http("POST", &url, vec![b'z'; 120 * 1024]).await;
        match status {
            200 => accepted += 1,
            429 => {
                assert_eq!(headers["x-amzn-errortype"], "LimitExceededException");
                limited = true;
                break;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert!(limited, "queue bound reached after {accepted} posts");
    // Every accepted post arrives, in order, once the client reads again.
    for _ in 0..accepted {
        assert_eq!(recv_text(&mut ws).await.len(), 120 * 1024);
    }
    let text = gw.metrics_text().await;
    assert_eq!(
        metric(
            &text,
            "sockgate_send_queue_rejections_total",
            &["stage=\"prod\""]
        ),
        1.0
    );
    assert!(
        metric(
            &text,
            "sockgate_management_requests_total",
            &["method=\"POST\"", "status=\"429\""]
        ) >= 1.0
    );
}

/// boto3's own apigatewaymanagementapi client, pointed at the gateway.
#[tokio::test]
async fn boto3_client_works_unchanged() {
    let backend = Backend::start().await;
    let gw = Gw::start(&config(&backend.url())).await;
    let (mut ws, id) = connected(&gw.url("prod")).await;
    let endpoint = format!("http://{}/prod", gw.mgmt);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/boto3_client.py");
    let child = tokio::process::Command::new("python3")
        .arg(script)
        .arg(&endpoint)
        .arg(&id)
        .output();
    // While the script runs, read what it posts.
    let reader = async {
        let first = recv_text(&mut ws).await;
        let second = recv(&mut ws).await;
        let close = expect_close(&mut ws).await;
        (first, second, close)
    };
    let (out, (first, second, close)) = tokio::join!(child, reader);
    let out = out.expect("python3 runs (CI installs boto3)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "boto3 script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(first, r#"{"hello": "from boto3"}"#);
    assert_eq!(second, Message::binary(vec![0u8, 159, 146, 150]));
    assert_eq!(close.0, 1000);
    for line in [
        "post ok",
        "get ok 127.0.0.1",
        "delete ok",
        "gone ok GoneException",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
}
