//! Point 6: limits, timers, and `$disconnect` exactly once whatever ends a connection.

mod support;

use std::time::Duration;

use futures_util::SinkExt;
use support::*;
use tokio::io::AsyncWriteExt;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn config(backend: &str, websocket: &str) -> String {
    format!(
        r#"
[websocket]
{websocket}
[stages.prod]
[routes."$disconnect"]
integration = {{ type = "aws_proxy", uri = "{backend}/disconnect" }}
[routes."$default"]
route_response = true
integration = {{ type = "mock", body = "ok" }}
{WHOAMI_ROUTE}
"#
    )
}

/// A backend recording `$disconnect`, and a gateway with these `[websocket]` settings.
async fn start(websocket: &str) -> (Gw, Backend) {
    let backend = Backend::start().await;
    let gw = Gw::start(&config(&backend.url(), websocket)).await;
    (gw, backend)
}

/// Waits for the one `$disconnect` of `id`, then proves no second one arrives.
async fn disconnect_once(backend: &Backend, id: &str) -> (u64, String) {
    let ev = backend.next("/disconnect").await.json();
    let rc = &ev["requestContext"];
    assert_eq!(rc["connectionId"], id);
    assert_eq!(rc["eventType"], "DISCONNECT");
    assert_eq!(ev["headers"]["x-restapi"], "");
    let extra = backend
        .drain("/disconnect", Duration::from_millis(200))
        .await;
    assert!(
        extra
            .iter()
            .all(|r| r.json()["requestContext"]["connectionId"] != id),
        "second $disconnect for {id}"
    );
    (
        rc["disconnectStatusCode"].as_u64().unwrap(),
        rc["disconnectReason"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn client_close_with_and_without_code() {
    let (gw, backend) = start("").await;
    let (mut ws, id) = connected(&gw.url("prod")).await;
    ws.close(Some(CloseFrame {
        code: CloseCode::Away,
        reason: "tab closed".into(),
    }))
    .await
    .unwrap();
    assert_eq!(
        disconnect_once(&backend, &id).await,
        (1001, "tab closed".into())
    );

    let (mut ws, id) = connected(&gw.url("prod")).await;
    ws.close(None).await.unwrap();
    assert_eq!(
        disconnect_once(&backend, &id).await,
        (1005, "Client-side close frame status not set".into())
    );
}

#[tokio::test]
async fn dropped_tcp_is_1006() {
    let (gw, backend) = start("").await;
    let (ws, id) = connected(&gw.url("prod")).await;
    drop(ws);
    assert_eq!(
        disconnect_once(&backend, &id).await,
        (1006, "Connection closed abnormally".into())
    );
    assert_eq!(gw.gateway.delivery().registry().len(), 0);
}

#[tokio::test]
async fn oversized_messages_and_frames_close_1009() {
    let (gw, backend) = start("max_message_bytes = 1000\nmax_frame_bytes = 400").await;
    // One frame over the frame limit.
    let (mut ws, id) = connected(&gw.url("prod")).await;
    send_text(&mut ws, &"a".repeat(401)).await;
    assert_eq!(
        expect_close(&mut ws).await,
        (1009, "Message too big".into())
    );
    assert_eq!(disconnect_once(&backend, &id).await.0, 1009);
    // Frames within the limit that reassemble past the message limit.
    let (mut ws, id) = connected(&gw.url("prod")).await;
    use tokio_tungstenite::tungstenite::protocol::frame::{
        Frame,
        coding::{Data, OpCode},
    };
    for (i, last) in [(0, false), (1, false), (2, true)] {
        let op = if i == 0 {
            OpCode::Data(Data::Text)
        } else {
            OpCode::Data(Data::Continue)
        };
        ws.send(Message::Frame(Frame::message(vec![b'b'; 400], op, last)))
            .await
            .unwrap();
    }
    assert_eq!(expect_close(&mut ws).await.0, 1009);
    assert_eq!(disconnect_once(&backend, &id).await.0, 1009);
    // Fragments within both limits are reassembled and routed.
    let mut ws = connect(&gw.url("prod")).await;
    ws.send(Message::Frame(Frame::message(
        b"he".to_vec(),
        OpCode::Data(Data::Text),
        false,
    )))
    .await
    .unwrap();
    ws.send(Message::Frame(Frame::message(
        b"llo".to_vec(),
        OpCode::Data(Data::Continue),
        true,
    )))
    .await
    .unwrap();
    assert_eq!(recv_text(&mut ws).await, "ok");
}

#[tokio::test]
async fn invalid_utf8_closes_1007() {
    let (gw, backend) = start("").await;
    let (mut ws, id) = connected(&gw.url("prod")).await;
    use tokio_tungstenite::tungstenite::protocol::frame::{
        Frame,
        coding::{Data, OpCode},
    };
    ws.send(Message::Frame(Frame::message(
        vec![0xc3, 0x28],
        OpCode::Data(Data::Text),
        true,
    )))
    .await
    .unwrap();
    assert_eq!(expect_close(&mut ws).await.0, 1007);
    assert_eq!(
        disconnect_once(&backend, &id).await,
        (1007, "Invalid frame payload data".into())
    );
}

#[tokio::test]
async fn protocol_violations_close_1002() {
    let (gw, backend) = start("").await;
    let (mut ws, id) = connected(&gw.url("prod")).await;
    // A continuation frame with nothing to continue.
    use tokio_tungstenite::tungstenite::protocol::frame::{
        Frame,
        coding::{Data, OpCode},
    };
    ws.send(Message::Frame(Frame::message(
        b"x".to_vec(),
        OpCode::Data(Data::Continue),
        true,
    )))
    .await
    .unwrap();
    assert_eq!(expect_close(&mut ws).await.0, 1002);
    assert_eq!(disconnect_once(&backend, &id).await.0, 1002);
}

#[tokio::test]
async fn idle_timeout_closes_1001_and_traffic_resets_it() {
    let (gw, backend) = start("idle_timeout = \"600ms\"\nping_interval = \"off\"").await;
    let (mut ws, id) = connected(&gw.url("prod")).await;
    // Keep talking for longer than the idle timeout: still connected.
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        send_text(&mut ws, "keepalive").await;
        assert_eq!(recv_text(&mut ws).await, "ok");
    }
    assert_eq!(expect_close(&mut ws).await, (1001, "Going away".into()));
    assert_eq!(
        disconnect_once(&backend, &id).await,
        (1001, "Going away".into())
    );
}

#[tokio::test]
async fn max_connection_duration_closes_1001() {
    let (gw, backend) = start("max_connection_duration = \"500ms\"").await;
    let (mut ws, id) = connected(&gw.url("prod")).await;
    assert_eq!(expect_close(&mut ws).await.0, 1001);
    assert_eq!(
        disconnect_once(&backend, &id).await,
        (1001, "Maximum connection duration reached".into())
    );
}

#[tokio::test]
async fn silent_peer_is_dropped_after_a_ping() {
    let (gw, backend) = start("ping_interval = \"200ms\"\npong_timeout = \"200ms\"").await;
    // A peer that answers pings stays.
    let (mut alive, alive_id) = connected(&gw.url("prod")).await;
    // A peer that never reads (so never answers pings) is dropped.
    let (silent, id) = connected(&gw.url("prod")).await;
    let reader = tokio::spawn(async move {
        // Keep reading (and so answering pings) until the test ends.
        for _ in 0..6 {
            tokio::time::sleep(Duration::from_millis(150)).await;
            send_text(&mut alive, "x").await;
            assert_eq!(recv_text(&mut alive).await, "ok");
        }
        alive
    });
    assert_eq!(
        disconnect_once(&backend, &id).await,
        (1006, "Ping timeout".into())
    );
    let mut alive = reader.await.unwrap();
    assert_eq!(whoami(&mut alive).await, alive_id);
    drop(silent);
}

#[tokio::test]
async fn drain_closes_everything_with_1001_and_delivers_disconnects() {
    let (mut gw, backend) = start("").await;
    let mut clients = Vec::new();
    for _ in 0..20 {
        let (ws, id) = connected(&gw.url("prod")).await;
        clients.push((ws, id));
    }
    let metrics = gw.metrics;
    let readers = tokio::spawn(async move {
        let mut codes = Vec::new();
        for (mut ws, _) in clients {
            codes.push(expect_close(&mut ws).await);
        }
        codes
    });
    gw.shutdown().await;
    assert!(readers.await.unwrap().iter().all(|c| c.0 == 1001));
    let mut got = 0;
    for r in backend
        .drain("/disconnect", Duration::from_millis(300))
        .await
    {
        let rc = r.json()["requestContext"].clone();
        assert_eq!(
            (
                rc["disconnectStatusCode"].as_u64(),
                rc["disconnectReason"].as_str()
            ),
            (Some(1001), Some("Server shutting down"))
        );
        got += 1;
    }
    assert_eq!(
        got, 20,
        "every $disconnect delivered before the server returned"
    );
    // The listeners are closed afterwards.
    assert!(tokio::net::TcpStream::connect(metrics).await.is_err());
}

#[tokio::test]
async fn connection_abandoned_during_connect_still_gets_its_disconnect() {
    // The client gives up while $connect is still running; once $connect accepts,
    // the gateway must still fire $disconnect (1006) for the connection it accepted.
    let backend = Backend::start().await;
    let toml = format!(
        "[stages.prod]\n[routes.\"$connect\"]\nintegration = {{ type = \"aws_proxy\", uri = \"{0}/connect\" }}\n[routes.\"$disconnect\"]\nintegration = {{ type = \"aws_proxy\", uri = \"{0}/disconnect\" }}\n",
        backend.url()
    );
    let gw = Gw::start(&toml).await;
    // $connect answers only after the client has gone.
    backend.on(
        "/connect",
        Behaviour::Delay(Duration::from_millis(300), r#"{"statusCode":200}"#.into()),
    );
    let mut raw = tokio::net::TcpStream::connect(gw.public).await.unwrap();
    raw.write_all(b"GET /prod HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n").await.unwrap();
    let id = backend.next("/connect").await.json()["requestContext"]["connectionId"]
        .as_str()
        .unwrap()
        .to_owned();
    drop(raw);
    let (code, _) = disconnect_once(&backend, &id).await;
    assert_eq!(code, 1006);
    // Nothing leaks: the registry entry and the connection permit are gone.
    assert_eq!(gw.gateway.delivery().registry().len(), 0);
    assert_eq!(gw.gateway.connection_permits().available_permits(), 10_000);
}
