//! Issue 12, HTTP/2 on the public listener: h2c with prior knowledge and `h2`
//! by ALPN over TLS, beside HTTP/1.1 and WebSocket upgrades on the same port;
//! curl and hyper's HTTP/2 client as clients.

mod support;

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use support::*;

const CERT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/tls-cert.pem");
const KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/tls-key.pem");
const CA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/tls-ca.pem");

fn config(backend: &str, tls: bool) -> String {
    let server = if tls {
        format!("[server]\ntls_cert_file = \"{CERT}\"\ntls_key_file = \"{KEY}\"\n")
    } else {
        String::new()
    };
    format!(
        r#"{server}
[stages.prod]
[http.routes."GET /hello"]
integration = {{ type = "mock", body = "hello over ${{context.routeKey}}" }}
[http.routes."POST /echo"]
integration = {{ type = "aws_proxy", uri = "{backend}/echo" }}
[http.routes."GET /slow/{{n}}"]
integration = {{ type = "aws_proxy", uri = "{backend}/slow" }}
[routes."$default"]
route_response = true
integration = {{ type = "mock", body = "ws:${{request.body}}" }}
"#
    )
}

/// Runs curl (off the test's runtime: it blocks) and returns its stdout.
async fn curl(args: Vec<String>) -> String {
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("curl")
            .args(["-s", "--max-time", "10"])
            .args(&args)
            .output()
            .expect("curl is installed")
    })
    .await
    .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn curl_speaks_h2c_with_prior_knowledge_beside_http1_and_websocket() {
    let backend = Backend::start().await;
    let gw = Gw::start(&config(&backend.url(), false)).await;
    let url = format!("http://{}/prod/hello", gw.public);
    let out = curl(vec![
        "--http2-prior-knowledge".into(),
        "-i".into(),
        url.clone(),
    ])
    .await;
    assert!(out.starts_with("HTTP/2 200"), "{out}");
    assert!(out.contains("apigw-requestid: "), "{out}");
    assert!(out.ends_with("hello over GET /hello"), "{out}");
    // A body over HTTP/2 reaches the Lambda event; the host is `:authority`.
    let echo = format!("http://{}/prod/echo", gw.public);
    let out = curl(vec![
        "--http2-prior-knowledge".into(),
        "-H".into(),
        "content-type: application/json".into(),
        "-d".into(),
        r#"{"x":1}"#.into(),
        "-w".into(),
        "%{http_version}".into(),
        echo,
    ])
    .await;
    assert_eq!(out, "2");
    let event = backend.next("/echo").await.json();
    assert_eq!(event["body"], r#"{"x":1}"#);
    assert_eq!(event["headers"]["host"], gw.public.to_string());
    assert_eq!(event["requestContext"]["http"]["protocol"], "HTTP/1.1");
    // The same port still speaks HTTP/1.1 and WebSocket.
    let out = curl(vec!["--http1.1".into(), "-i".into(), url]).await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    let mut ws = connect(&gw.url("prod")).await;
    send_text(&mut ws, "still here").await;
    assert_eq!(recv_text(&mut ws).await, "ws:still here");
}

#[tokio::test]
async fn one_http2_connection_carries_many_requests_at_once() {
    let backend = Backend::start().await;
    let gw = Gw::start(&config(&backend.url(), false)).await;
    // Each answer waits, so the requests overlap on the one connection.
    backend.on(
        "/slow",
        Behaviour::Delay(
            Duration::from_millis(200),
            r#"{"statusCode":200,"body":"ok"}"#.into(),
        ),
    );
    let client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let mut calls = tokio::task::JoinSet::new();
    for n in 0..50 {
        let client = client.clone();
        let uri = format!("http://{}/prod/slow/{n}", gw.public);
        calls.spawn(async move {
            let resp = client.get(uri.parse().unwrap()).await.unwrap();
            assert_eq!(resp.version(), http::Version::HTTP_2);
            let status = resp.status().as_u16();
            (status, resp.into_body().collect().await.unwrap().to_bytes())
        });
    }
    let mut answered = 0;
    while let Some(done) = tokio::time::timeout(PATIENCE, calls.join_next())
        .await
        .expect("every request answered")
    {
        assert_eq!(done.unwrap(), (200, Bytes::from_static(b"ok")));
        answered += 1;
    }
    assert_eq!(answered, 50);
    let events = backend.drain("/slow", Duration::from_millis(100)).await;
    let seen: std::collections::BTreeSet<String> = events
        .iter()
        .map(|r| r.json()["pathParameters"]["n"].as_str().unwrap().to_owned())
        .collect();
    // `drain` saw those not taken by an earlier `next`: all 50 here.
    assert_eq!(seen.len(), 50);
}

#[tokio::test]
async fn tls_clients_get_h2_by_alpn_and_http1_when_they_ask() {
    let backend = Backend::start().await;
    let gw = Gw::start(&config(&backend.url(), true)).await;
    let url = format!("https://localhost:{}/prod/hello", gw.public.port());
    let resolve = format!("localhost:{}:127.0.0.1", gw.public.port());
    let base = vec![
        "--cacert".to_owned(),
        CA.to_owned(),
        "--resolve".to_owned(),
        resolve,
        "-w".to_owned(),
        " %{http_version}".to_owned(),
    ];
    let h2 = curl([base.clone(), vec!["--http2".into(), url.clone()]].concat()).await;
    assert_eq!(h2, "hello over GET /hello 2");
    let h1 = curl([base, vec!["--http1.1".into(), url]].concat()).await;
    assert_eq!(h1, "hello over GET /hello 1.1");
}

#[tokio::test]
async fn an_oversized_http2_header_block_is_refused() {
    let backend = Backend::start().await;
    let gw = Gw::start(&config(&backend.url(), false)).await;
    let url = format!("http://{}/prod/hello", gw.public);
    let big = format!("x-big: {}", "a".repeat(20_000));
    let out = curl(vec![
        "--http2-prior-knowledge".into(),
        "-H".into(),
        big,
        "-w".into(),
        "%{http_code}".into(),
        "-o".into(),
        "/dev/null".into(),
        url.clone(),
    ])
    .await;
    assert_eq!(
        out, "431",
        "a 20 KB header block is refused, as over HTTP/1.1"
    );
    // The connection's other requests are unaffected.
    let out = curl(vec!["--http2-prior-knowledge".into(), url]).await;
    assert_eq!(out, "hello over GET /hello");
}

/// Writes `parts` with a pause between them and returns what the gateway
/// answers first (up to 64 bytes).
async fn split_writes(addr: std::net::SocketAddr, parts: &[&[u8]]) -> Vec<u8> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    for part in parts {
        s.write_all(part).await.unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    let mut buf = vec![0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("an answer")
        .unwrap();
    buf.truncate(n);
    buf
}

#[tokio::test]
async fn the_protocol_is_told_by_the_first_bytes_even_when_they_arrive_split() {
    let gw = Gw::start(&config("http://127.0.0.1:9", false)).await;
    // HTTP/2's preface in three writes, then an empty SETTINGS frame: the
    // gateway answers with its own SETTINGS frame (type 4 on stream 0).
    let settings = [0u8, 0, 0, 4, 0, 0, 0, 0, 0];
    let preface: &[&[u8]] = &[b"PRI * HT", b"TP/2.0\r\n\r\nSM", b"\r\n\r\n", &settings];
    let answer = split_writes(gw.public, preface).await;
    assert!(answer.len() >= 9 && answer[3] == 4, "{answer:?}");
    // A request line whose first byte matches the preface's is HTTP/1.1.
    let request: &[&[u8]] = &[b"P", b"UT /prod/hello HTTP/1.1\r\nhost: x\r\n\r\n"];
    let answer = split_writes(gw.public, request).await;
    assert!(
        answer.starts_with(b"HTTP/1.1 404"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
}
