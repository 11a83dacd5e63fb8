//! Issue 10, part 2: what an unauthenticated peer can make a listener hold is
//! bounded. Credentials are checked from the headers before a body is read; a
//! body must arrive in time; connections are capped per listener and per
//! source address, on the public, management and metrics listeners.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const TOKEN: &str = "0123456789abcdef0123456789abcdef-token";

fn config(extra_server: &str, management: &str) -> String {
    format!(
        "[server]\nrequest_body_timeout = \"500ms\"\n{extra_server}\n[management]\n{management}\n[stages.prod]\n{WHOAMI_ROUTE}"
    )
}

/// Sends a POST head announcing a 128 KiB body, plus `body_bytes` of it, and
/// returns the socket with the body unfinished.
async fn stalled_post(mgmt: SocketAddr, auth: Option<&str>, body_bytes: usize) -> TcpStream {
    let mut s = TcpStream::connect(mgmt).await.unwrap();
    let mut head = format!(
        "POST /prod/@connections/AAAAAAAAAAAAAAA%3D HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n",
        128 << 10
    );
    if let Some(a) = auth {
        head.push_str(&format!("Authorization: {a}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&vec![b'x'; body_bytes]).await.unwrap();
    s
}

/// Reads a whole response (until the server closes, within `PATIENCE`);
/// returns its status line.
async fn answer(s: &mut TcpStream) -> String {
    let mut resp = Vec::new();
    tokio::time::timeout(PATIENCE, s.read_to_end(&mut resp))
        .await
        .expect("answered and closed in time")
        .unwrap();
    let text = String::from_utf8_lossy(&resp);
    text.lines().next().unwrap_or("").to_owned()
}

#[tokio::test]
async fn a_request_without_credentials_is_refused_before_its_body_is_read() {
    let gw = Gw::start(&config(
        "",
        &format!("bearer_tokens = {{ t = \"{TOKEN}\" }}"),
    ))
    .await;
    for auth in [
        None,
        Some("Bearer not-the-token-not-the-token-not-the"),
        // SigV4 with a key the gateway does not know: refused from the header.
        Some(
            "AWS4-HMAC-SHA256 Credential=AKIDUNKNOWN/20261130/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
        ),
    ] {
        // Nothing of the body is sent: the answer cannot depend on reading it.
        let mut s = stalled_post(gw.mgmt, auth, 0).await;
        let status = answer(&mut s).await;
        assert!(status.starts_with("HTTP/1.1 403"), "{auth:?}: {status}");
    }
}

#[tokio::test]
async fn a_stalled_body_is_answered_408_and_its_connection_closed() {
    let gw = Gw::start(&config(
        "",
        &format!("bearer_tokens = {{ t = \"{TOKEN}\" }}"),
    ))
    .await;
    let bearer = format!("Bearer {TOKEN}");
    // Authenticated, one byte short of the announced body, then silence.
    let mut s = stalled_post(gw.mgmt, Some(&bearer), (128 << 10) - 1).await;
    let status = answer(&mut s).await;
    assert!(status.starts_with("HTTP/1.1 408"), "{status}");
    let text = gw.metrics_text().await;
    assert_eq!(
        metric(
            &text,
            "sockgate_management_requests_total",
            &["status=\"408\""]
        ),
        1.0
    );
    // Without credentials configured (loopback), the body timeout bounds it too.
    let open = Gw::start(&config("", "")).await;
    let mut s = stalled_post(open.mgmt, None, 1000).await;
    let status = answer(&mut s).await;
    assert!(status.starts_with("HTTP/1.1 408"), "{status}");
}

/// Opens `n` connections that send nothing.
async fn idle(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(TcpStream::connect(addr).await.unwrap());
    }
    out
}

/// Whether the server closes `s` at once (it was refused at accept).
async fn closed_at_once(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    matches!(
        tokio::time::timeout(Duration::from_millis(500), s.read(&mut b)).await,
        Ok(Ok(0) | Err(_))
    )
}

#[tokio::test]
async fn each_listener_caps_connections_per_address() {
    let gw = Gw::start(&config(
        "max_http_connections_per_ip = 3\nmanagement_max_connections_per_ip = 3\nhandshake_timeout = \"30s\"",
        "",
    ))
    .await;
    for (listener, addr) in [("public", gw.public), ("management", gw.mgmt)] {
        let mut held = idle(addr, 3).await;
        let mut extra = TcpStream::connect(addr).await.unwrap();
        assert!(
            closed_at_once(&mut extra).await,
            "{listener}: a 4th connection is refused"
        );
        for s in &mut held {
            assert!(!closed_at_once(s).await, "{listener}: the first three stay");
        }
        // Freeing one slot admits a new connection.
        drop(held.pop());
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut again = TcpStream::connect(addr).await.unwrap();
        assert!(
            !closed_at_once(&mut again).await,
            "{listener}: admitted after one left"
        );
        let text = gw.metrics_text().await;
        assert_eq!(
            metric(
                &text,
                "sockgate_listener_refused_total",
                &[
                    &format!("listener=\"{listener}\""),
                    "reason=\"address_full\""
                ]
            ),
            1.0
        );
    }
    // A WebSocket connection leaves the public cap at its upgrade: three open
    // sessions and three more handshakes fit.
    let mut sessions = Vec::new();
    for _ in 0..3 {
        sessions.push(connect(&gw.url("prod")).await);
    }
    let _handshakes = idle(gw.public, 2).await;
    let mut third = TcpStream::connect(gw.public).await.unwrap();
    assert!(!closed_at_once(&mut third).await);
}

#[tokio::test]
async fn the_public_listener_caps_connections_in_all() {
    let gw = Gw::start(&config(
        "max_http_connections = 4\nhandshake_timeout = \"30s\"",
        "",
    ))
    .await;
    let _held = idle(gw.public, 4).await;
    let mut extra = TcpStream::connect(gw.public).await.unwrap();
    assert!(closed_at_once(&mut extra).await);
    let text = gw.metrics_text().await;
    assert_eq!(
        metric(
            &text,
            "sockgate_listener_refused_total",
            &["listener=\"public\"", "reason=\"listener_full\""]
        ),
        1.0
    );
}

#[tokio::test]
async fn a_silent_connection_is_closed_after_handshake_timeout() {
    let gw = Gw::start(&config("handshake_timeout = \"1s\"", "")).await;
    for addr in [gw.public, gw.mgmt, gw.metrics] {
        let mut s = TcpStream::connect(addr).await.unwrap();
        // `answer` fails the test unless the server closes within PATIENCE.
        assert_eq!(answer(&mut s).await, "", "{addr}: closed without an answer");
    }
}

/// Reads one `content-length` answer from a keep-alive connection; its status line.
async fn one_answer(s: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&got).contains("\r\n\r\nhi") {
        let n = tokio::time::timeout(PATIENCE, s.read(&mut buf))
            .await
            .expect("answered in time")
            .unwrap();
        assert!(n > 0, "closed before answering");
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    text.lines().next().unwrap_or("").to_owned()
}

#[tokio::test]
async fn each_request_head_must_arrive_within_handshake_timeout_on_a_kept_alive_connection() {
    let route = "[http.routes.\"GET /hi\"]\nintegration = { type = \"mock\", body = \"hi\" }";
    let cfg =
        format!("[server]\nhandshake_timeout = \"1s\"\n[stages.prod]\n{WHOAMI_ROUTE}\n{route}");
    let gw = Gw::start(&cfg).await;
    let get = b"GET /prod/hi HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut s = TcpStream::connect(gw.public).await.unwrap();
    // Heads that come in time, each after a pause: the connection stays.
    for _ in 0..3 {
        s.write_all(get).await.unwrap();
        assert_eq!(one_answer(&mut s).await, "HTTP/1.1 200 OK");
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    // A head begun and never finished: closed, no later than the timeout allows.
    s.write_all(b"GET /prod/hi HTTP/1.1\r\nHost:")
        .await
        .unwrap();
    let started = sockgate::clock::now();
    let status = answer(&mut s).await;
    assert!(status.is_empty() || status.contains("408"), "{status}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300),
        "closed after {waited:?}"
    );
    // A connection left idle after its answer is closed too.
    let mut idle = TcpStream::connect(gw.public).await.unwrap();
    idle.write_all(get).await.unwrap();
    assert_eq!(one_answer(&mut idle).await, "HTTP/1.1 200 OK");
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(PATIENCE, idle.read_to_end(&mut rest)).await;
    assert!(
        matches!(closed, Ok(Ok(0))),
        "an idle keep-alive connection is closed"
    );
}
