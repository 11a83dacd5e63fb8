//! The examples in `examples/` run as the README tells a newcomer to run them, so
//! they stay true: the chat backend (Lambda proxy handlers in Python, pushing back
//! through @connections with boto3), the HTTP API to-do handler (an unchanged
//! payload 2.0 Lambda handler, called here with Python's `requests`) and AWS's
//! chat sample as hosted functions (`examples/lambda-chat`), each behind
//! sockgate with its own config.

mod support;

use std::process::Stdio;

use serde_json::json;
use support::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const CHAT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/chat");
const HTTP_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/http-api");

/// Starts `examples/chat/backend.py` on a free port; returns it and its base URL.
async fn chat_backend() -> (Child, String) {
    python_backend(&format!("{CHAT_DIR}/backend.py")).await
}

/// Starts a Python backend script with `--port 0`; returns it and the base URL
/// it prints.
async fn python_backend(script: &str) -> (Child, String) {
    let mut child = Command::new("python3")
        .arg(script)
        .args(["--port", "0"])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs (CI installs boto3)");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(PATIENCE, lines.next_line())
        .await
        .expect("the backend starts in time")
        .unwrap()
        .expect("the backend prints its address");
    let url = line
        .strip_prefix("listening on ")
        .expect("listening on URL")
        .to_owned();
    (child, url)
}

/// The example's own config, with the backend's address put where the file says
/// it listens (the test's backend has a free port instead of 3000).
fn chat_config(backend_url: &str) -> String {
    example_config(CHAT_DIR, backend_url)
}

fn example_config(dir: &str, backend_url: &str) -> String {
    let text = std::fs::read_to_string(format!("{dir}/sockgate.toml")).unwrap();
    assert!(text.contains("http://127.0.0.1:3000"));
    text.replace("http://127.0.0.1:3000", backend_url)
}

#[tokio::test]
async fn the_chat_example_connects_replies_pushes_and_says_goodbye() {
    let (_backend, url) = chat_backend().await;
    let gw = Gw::start(&chat_config(&url)).await;

    // $connect refuses a client without a name with the status the handler chose.
    assert_eq!(refused_status(&gw.url("dev"), &[]).await, 400);

    let mut alice = connect(&format!("{}?name=alice", gw.url("dev"))).await;
    let mut bob = connect(&format!("{}?name=bob", gw.url("dev"))).await;
    // Bob's $connect pushed a notice to the members already there, through boto3.
    assert_eq!(recv_json(&mut alice).await, json!({"joined": "bob"}));

    // A two-way route: the sender gets the handler's body as its reply frame, the
    // others get the push the handler made with post_to_connection.
    send_text(&mut alice, r#"{"action":"sendmessage","text":"hi bob"}"#).await;
    assert_eq!(recv_json(&mut alice).await, json!({"delivered": 1}));
    assert_eq!(
        recv_json(&mut bob).await,
        json!({"from": "alice", "text": "hi bob"})
    );

    // Anything else reaches the mock $default route.
    send_text(&mut bob, "hello?").await;
    assert!(recv_text(&mut bob).await.contains("sendmessage"));

    // Bob leaves: $disconnect runs, and its handler tells alice.
    bob.close(None).await.unwrap();
    assert_eq!(recv_json(&mut alice).await, json!({"left": "bob"}));
}

/// What the Python client does, with `requests` as an app would: create, list,
/// read, delete, read again; a preflight; each answer printed as one JSON line.
const TODO_CLIENT: &str = r#"
import json, sys, requests
base = sys.argv[1]
out = []
r = requests.post(base + "/todos", json={"title": "water the plants"})
out.append([r.status_code, r.json(), r.headers.get("location"), r.cookies.get("last_created")])
out.append([requests.post(base + "/todos", data="not json", headers={"content-type": "text/plain"}).status_code])
r = requests.get(base + "/todos", params={"done": "false"})
out.append([r.status_code, r.headers["content-type"], r.json()])
r = requests.get(base + "/todos/1")
out.append([r.status_code, r.json()])
out.append([requests.delete(base + "/todos/1").status_code])
r = requests.get(base + "/todos/1")
out.append([r.status_code, r.json()])
r = requests.options(base + "/todos", headers={"origin": "http://localhost:5173", "access-control-request-method": "POST"})
out.append([r.status_code, r.headers.get("access-control-allow-origin")])
r = requests.get(base + "/nothing")
out.append([r.status_code, r.text, "apigw-requestid" in r.headers])
print(json.dumps(out))
"#;

#[tokio::test]
async fn the_http_api_example_runs_an_unchanged_lambda_handler() {
    let (_backend, url) = python_backend(&format!("{HTTP_DIR}/serve.py")).await;
    let gw = Gw::start(&example_config(HTTP_DIR, &url)).await;
    let base = format!("http://{}", gw.public);
    let out = Command::new("python3")
        .args(["-c", TODO_CLIENT, &base])
        .output()
        .await
        .expect("python3 runs (CI installs requests)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let todo = json!({"id": "1", "title": "water the plants", "done": false});
    assert_eq!(
        got,
        json!([
            [201, todo, "/todos/1", "1"],
            [400],
            [200, "application/json", {"todos": [todo]}],
            [200, todo],
            [204],
            [404, {"message": "no such todo"}],
            [204, "http://localhost:5173"],
            [404, r#"{"message":"Not Found"}"#, true],
        ])
    );
}

const LAMBDA_CHAT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/lambda-chat");

type Wss =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// A client of the lambda-chat example's `wss://` listener, trusting the CA
/// `sockgate cert` made.
async fn wss(gw: &Gw, ca_pem: &str) -> Wss {
    let tcp = tokio::net::TcpStream::connect(gw.public).await.unwrap();
    let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = support::pki::connector(ca_pem)
        .connect(name, tcp)
        .await
        .unwrap();
    let url = format!("wss://localhost:{}/dev", gw.public.port());
    tokio_tungstenite::client_async(url, tls).await.unwrap().0
}

async fn wss_text(ws: &mut Wss) -> String {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    match tokio::time::timeout(PATIENCE * 2, ws.next()).await {
        Ok(Some(Ok(Message::Text(t)))) => t.to_string(),
        other => panic!("expected a text frame, got {other:?}"),
    }
}

async fn wss_send(ws: &mut Wss, text: &str) {
    use futures_util::SinkExt;
    let msg = tokio_tungstenite::tungstenite::Message::text(text);
    ws.send(msg).await.unwrap();
}

/// The connection ids in the example's table (its JSON file).
async fn table(path: &std::path::Path, want: usize) -> Vec<String> {
    let deadline = sockgate::clock::now() + PATIENCE;
    loop {
        let ids: Vec<String> = std::fs::read_to_string(path)
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        if ids.len() == want || sockgate::clock::now() > deadline {
            return ids;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The README's walk-through: `sockgate cert`, a secret key in the
/// environment, the example's config (its certificate files and table put
/// in a temporary directory, its listeners on free ports), and AWS's chat
/// sample handlers under awslambdaric calling back with boto3.
#[tokio::test]
async fn the_lambda_chat_example_runs_aws_chat_sample_as_hosted_functions() {
    let dir = std::env::temp_dir().join(format!("sockgate-lambda-chat-{}", std::process::id()));
    let certs = dir.join("certs");
    let made = std::process::Command::new(env!("CARGO_BIN_EXE_sockgate"))
        .arg("cert")
        .arg("--dir")
        .arg(&certs)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let ca_pem = std::fs::read_to_string(certs.join("ca.pem")).unwrap();
    let table_file = dir.join("connections.json");
    let text = std::fs::read_to_string(format!("{LAMBDA_CHAT_DIR}/sockgate.toml")).unwrap();
    assert!(text.contains("examples/lambda-chat/certs") && text.contains("\"connections.json\""));
    let toml = text
        .replace("examples/lambda-chat/certs", &certs.to_string_lossy())
        .replace(
            "\"connections.json\"",
            &format!("{:?}", table_file.to_string_lossy()),
        );
    let gw = Gw::start_with_env(&toml, &[("CHAT_SECRET_KEY", "a-secret-the-newcomer-made")]).await;

    // $connect: each connection is in the table once its upgrade is answered.
    let mut alice = wss(&gw, &ca_pem).await;
    let mut bob = wss(&gw, &ca_pem).await;
    assert_eq!(table(&table_file, 2).await.len(), 2);

    // sendmessage posts the data to every connection, through
    // https://{domainName}/{stage} with boto3, signed with the key.
    wss_send(
        &mut alice,
        r#"{"action":"sendmessage","data":"hello, everyone"}"#,
    )
    .await;
    assert_eq!(wss_text(&mut alice).await, "hello, everyone");
    assert_eq!(wss_text(&mut bob).await, "hello, everyone");

    // $disconnect: bob is gone from the table; the next message reaches alice only.
    bob.close(None).await.unwrap();
    assert_eq!(table(&table_file, 1).await.len(), 1);
    wss_send(
        &mut alice,
        r#"{"action":"sendmessage","data":"still here?"}"#,
    )
    .await;
    assert_eq!(wss_text(&mut alice).await, "still here?");
    let _ = std::fs::remove_dir_all(&dir);
}
