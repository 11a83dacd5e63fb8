//! Issue 12's failure cases for HTTP routes not covered elsewhere: a backend
//! answering 50 MB, a client trickling its body a byte at a time, and a client
//! that leaves in the middle of its answer. Each must end in AWS's answer (or
//! a closed connection) with nothing held afterwards.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config(backend: &str) -> String {
    format!(
        r#"
[server]
request_body_timeout = "1s"
[stages.prod]
[http.routes."GET /huge"]
integration = {{ type = "aws_proxy", uri = "{backend}/huge" }}
[http.routes."POST /upload"]
integration = {{ type = "aws_proxy", uri = "{backend}/upload" }}
[http.routes."GET /files/{{name}}"]
integration = {{ type = "http_proxy", uri = "{backend}/files/{{name}}" }}
"#
    )
}

fn url(gw: &Gw, path: &str) -> String {
    format!("http://{}{path}", gw.public)
}

#[tokio::test]
async fn a_lambda_answer_of_50_mb_is_cut_off_and_answered_500() {
    let backend = Backend::start().await;
    let gw = Gw::start(&config(&backend.url())).await;
    let body = "x".repeat(50 << 20);
    backend.on(
        "/huge",
        Behaviour::Body(format!(r#"{{"statusCode":200,"body":"{body}"}}"#)),
    );
    let (status, headers, answer) = http("GET", &url(&gw, "/prod/huge"), vec![]).await;
    assert_eq!(
        (status, &answer[..]),
        (500, &br#"{"message":"Internal Server Error"}"#[..])
    );
    assert!(headers.contains_key("apigw-requestid"));
}

#[tokio::test]
async fn a_body_trickled_a_byte_at_a_time_gets_408_and_never_reaches_the_backend() {
    let backend = Backend::start().await;
    let gw = Gw::start(&config(&backend.url())).await;
    let mut conn = tokio::net::TcpStream::connect(gw.public).await.unwrap();
    let head = "POST /prod/upload HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n";
    conn.write_all(head.as_bytes()).await.unwrap();
    let (mut rd, mut wr) = conn.into_split();
    // One byte every 100 ms: steady, but 100 bytes would take 10 s.
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            if wr.write_all(b"x").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut answer = Vec::new();
    tokio::time::timeout(PATIENCE, rd.read_to_end(&mut answer))
        .await
        .expect("answered and closed in time")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer).to_string();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    trickle.abort();
    assert!(
        backend
            .drain("/upload", Duration::from_millis(200))
            .await
            .is_empty(),
        "the backend is never called with half a body"
    );
}

/// A backend that streams forever; the flag turns true once its connection
/// is closed under it.
async fn endless_backend() -> (String, Arc<AtomicBool>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let closed = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&closed);
    tokio::spawn(async move {
        let (mut sock, _) = listener.accept().await.unwrap();
        let mut head = vec![0u8; 8192];
        let _ = sock.read(&mut head).await;
        let header = "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n";
        sock.write_all(header.as_bytes()).await.unwrap();
        let chunk = format!("{:x}\r\n{}\r\n", 4096, "y".repeat(4096));
        loop {
            if sock.write_all(chunk.as_bytes()).await.is_err() {
                flag.store(true, Ordering::Relaxed);
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    (format!("http://{addr}"), closed)
}

#[tokio::test]
async fn a_client_that_leaves_mid_answer_releases_the_backend_connection() {
    let (backend_url, closed) = endless_backend().await;
    let gw = Gw::start(&config(&backend_url)).await;
    let mut conn = tokio::net::TcpStream::connect(gw.public).await.unwrap();
    let req = "GET /prod/files/stream HTTP/1.1\r\nhost: x\r\n\r\n";
    conn.write_all(req.as_bytes()).await.unwrap();
    let mut buf = vec![0u8; 16 << 10];
    let n = conn.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    drop(conn);
    let deadline = sockgate::clock::now() + PATIENCE;
    while !closed.load(Ordering::Relaxed) {
        assert!(
            sockgate::clock::now() < deadline,
            "the backend connection outlived its client"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The gateway goes on serving.
    let (status, _, _) = http("GET", &url(&gw, "/prod/nothing"), vec![]).await;
    assert_eq!(status, 404);
}
