//! Groups and stage broadcasts on one node: membership through the management
//! API and through integration replies, sends that reach exactly the members,
//! limits, and cleanup when a member leaves.

mod support;

use serde_json::{Value, json};
use support::*;

fn config(backend: &str) -> String {
    format!(
        r#"
[websocket]
route_selection_expression = "$request.body.action"
max_groups_per_connection = 2
send_queue_messages = 2
[stages.prod]
variables = {{ backend = "{backend}" }}
[stages.test]
variables = {{ backend = "{backend}" }}
[routes."$connect"]
integration = {{ type = "aws_proxy", uri = "${{stageVariables.backend}}/connect" }}
[routes.subscribe]
route_response = true
integration = {{ type = "mock", body = "ok", headers = {{ "x-sockgate-join" = "news, sport" }} }}
[routes.unsubscribe]
route_response = true
integration = {{ type = "aws_proxy", uri = "${{stageVariables.backend}}/unsubscribe" }}
{WHOAMI_ROUTE}
"#
    )
}

/// A gateway whose $connect accepts every connection, joining none.
async fn start() -> (Gw, Backend) {
    let backend = Backend::start().await;
    backend.on("/connect", Behaviour::Body(r#"{"statusCode":200}"#.into()));
    let gw = Gw::start(&config(&backend.url())).await;
    (gw, backend)
}

fn mgmt(gw: &Gw, path: &str) -> String {
    format!("http://{}{path}", gw.mgmt)
}

async fn send(gw: &Gw, path: &str, body: &str) -> Value {
    let (status, _, body) = http("POST", &mgmt(gw, path), body.as_bytes().to_vec()).await;
    assert_eq!(status, 200, "{path}");
    serde_json::from_slice(&body).unwrap()
}

/// Proves nothing else is queued: a marker message sent now arrives next.
async fn nothing_else(gw: &Gw, ws: &mut Ws, id: &str) {
    let (status, _, _) = http("POST", &gw.connections_url("prod", id), b"marker".to_vec()).await;
    assert_eq!(status, 200);
    assert_eq!(recv_text(ws).await, "marker");
}

#[tokio::test]
async fn members_get_group_sends_and_others_do_not() {
    let (gw, _backend) = start().await;
    let (mut a, ida) = connected(&gw.url("prod")).await;
    let (mut b, idb) = connected(&gw.url("prod")).await;
    let (mut c, idc) = connected(&gw.url("prod")).await;
    for id in [&ida, &idb] {
        let (status, _, _) = http(
            "PUT",
            &mgmt(&gw, &format!("/prod/@groups/room/{id}")),
            vec![],
        )
        .await;
        assert_eq!(status, 204);
    }
    // Joining twice is fine.
    let (status, _, _) = http(
        "PUT",
        &mgmt(&gw, &format!("/prod/@groups/room/{ida}")),
        vec![],
    )
    .await;
    assert_eq!(status, 204);
    let sent = send(&gw, "/prod/@groups/room", "to the room").await;
    assert_eq!(sent, json!({"queued": 2, "dropped": 0}));
    assert_eq!(recv_text(&mut a).await, "to the room");
    assert_eq!(recv_text(&mut b).await, "to the room");
    nothing_else(&gw, &mut c, &idc).await;

    // Leaving: b no longer receives; removing a non-member is not an error.
    for id in [&idb, &idc] {
        let (status, _, _) = http(
            "DELETE",
            &mgmt(&gw, &format!("/prod/@groups/room/{id}")),
            vec![],
        )
        .await;
        assert_eq!(status, 204);
    }
    assert_eq!(send(&gw, "/prod/@groups/room", "again").await["queued"], 1);
    assert_eq!(recv_text(&mut a).await, "again");
    nothing_else(&gw, &mut b, &idb).await;

    // A member that disconnects is gone from the group.
    drop(a);
    let mut queued = 1;
    for _ in 0..100 {
        queued = send(&gw, "/prod/@groups/room", "anyone?").await["queued"]
            .as_u64()
            .unwrap();
        if queued == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(queued, 0);
}

#[tokio::test]
async fn integration_replies_join_and_leave() {
    let (gw, backend) = start().await;
    // $connect can place a connection in groups before it opens.
    backend.on(
        "/connect",
        Behaviour::Body(r#"{"statusCode":200,"headers":{"X-Sockgate-Join":"vip"}}"#.into()),
    );
    let (mut ws, id) = connected(&gw.url("prod")).await;
    assert_eq!(send(&gw, "/prod/@groups/vip", "welcome").await["queued"], 1);
    assert_eq!(recv_text(&mut ws).await, "welcome");

    // A route reply (here a mock with headers) can join more groups...
    send_text(&mut ws, r#"{"action":"subscribe"}"#).await;
    assert_eq!(recv_text(&mut ws).await, "ok");
    // ...but only up to max_groups_per_connection (2): vip + news; sport is refused.
    assert_eq!(send(&gw, "/prod/@groups/news", "n").await["queued"], 1);
    assert_eq!(recv_text(&mut ws).await, "n");
    assert_eq!(send(&gw, "/prod/@groups/sport", "s").await["queued"], 0);
    let (status, headers, _) = http(
        "PUT",
        &mgmt(&gw, &format!("/prod/@groups/sport/{id}")),
        vec![],
    )
    .await;
    assert_eq!(status, 429);
    assert_eq!(headers["x-amzn-errortype"], "LimitExceededException");

    // An aws_proxy reply leaves groups.
    backend.on(
        "/unsubscribe",
        Behaviour::Body(
            r#"{"statusCode":200,"body":"bye","headers":{"x-sockgate-leave":"vip,news"}}"#.into(),
        ),
    );
    send_text(&mut ws, r#"{"action":"unsubscribe"}"#).await;
    assert_eq!(recv_text(&mut ws).await, "bye");
    assert_eq!(send(&gw, "/prod/@groups/vip", "v").await["queued"], 0);
    assert_eq!(send(&gw, "/prod/@groups/news", "v").await["queued"], 0);
    nothing_else(&gw, &mut ws, &id).await;
}

#[tokio::test]
async fn stage_broadcast_reaches_every_connection_of_that_stage_only() {
    let (gw, _backend) = start().await;
    let mut prod = Vec::new();
    for _ in 0..5 {
        prod.push(connected(&gw.url("prod")).await.0);
    }
    let mut other = connect(&gw.url("test")).await;
    assert_eq!(send(&gw, "/prod/@broadcast", "everyone").await["queued"], 5);
    for ws in &mut prod {
        assert_eq!(recv_text(ws).await, "everyone");
    }
    send_text(&mut other, r#"{"action":"whoami"}"#).await;
    assert!(
        recv_text(&mut other).await.contains("connectionId"),
        "no broadcast arrived first"
    );
}

#[tokio::test]
async fn bad_requests_are_refused_clearly() {
    let (gw, _backend) = start().await;
    let (_ws, id) = connected(&gw.url("prod")).await;
    let cases = [
        (
            "PUT",
            format!("/prod/@groups/bad%20name/{id}"),
            400,
            "BadRequestException",
        ),
        (
            "PUT",
            format!("/prod/@groups/{}/{id}", "x".repeat(129)),
            400,
            "BadRequestException",
        ),
        (
            "PUT",
            "/prod/@groups/room/AAAAAAAAAAAAAAA=".to_owned(),
            410,
            "GoneException",
        ),
        (
            "PUT",
            "/prod/@groups/room/not-an-id".to_owned(),
            410,
            "GoneException",
        ),
        // A connection of another stage is not a member candidate here.
        (
            "PUT",
            format!("/test/@groups/room/{id}"),
            410,
            "GoneException",
        ),
        (
            "GET",
            "/prod/@groups/room".to_owned(),
            405,
            "MethodNotAllowedException",
        ),
        (
            "POST",
            "/nope/@broadcast".to_owned(),
            404,
            "NotFoundException",
        ),
    ];
    for (method, path, status, kind) in cases {
        let (got, headers, _) = http(method, &mgmt(&gw, &path), vec![]).await;
        assert_eq!(got, status, "{method} {path}");
        assert_eq!(headers["x-amzn-errortype"], kind, "{method} {path}");
    }
    let (status, _, _) = http(
        "POST",
        &mgmt(&gw, "/prod/@broadcast"),
        vec![b'x'; 128 * 1024 + 1],
    )
    .await;
    assert_eq!(status, 413);
}

#[tokio::test]
async fn full_queues_are_counted_as_dropped_not_blocking_others() {
    let (gw, _backend) = start().await;
    let (mut reader, _) = connected(&gw.url("prod")).await;
    let (_stalled, stalled_id) = connected(&gw.url("prod")).await;
    // Fill the stalled client's socket buffers and then its queue (2 messages);
    // it never reads.
    let big = "y".repeat(100_000);
    let mut full = false;
    for _ in 0..200 {
        let (status, _, _) = http(
            "POST",
            &gw.connections_url("prod", &stalled_id),
            big.clone().into_bytes(),
        )
        .await;
        if status == 429 {
            full = true;
            break;
        }
    }
    assert!(full, "the stalled client's queue filled");
    let sent = send(&gw, "/prod/@broadcast", "hello").await;
    assert_eq!(sent, json!({"queued": 1, "dropped": 1}));
    assert_eq!(recv_text(&mut reader).await, "hello");
    let text = gw.metrics_text().await;
    assert_eq!(
        metric(
            &text,
            "sockgate_fanout_deliveries_total",
            &["stage=\"prod\"", "outcome=\"dropped\""]
        ),
        1.0
    );
    assert_eq!(
        metric(
            &text,
            "sockgate_fanout_deliveries_total",
            &["stage=\"prod\"", "outcome=\"queued\""]
        ),
        1.0
    );
}
