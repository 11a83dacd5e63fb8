//! The examples in `examples/` run as the README tells a newcomer to run them, so
//! they stay true: the chat backend (Lambda proxy handlers in Python, pushing back
//! through @connections with boto3) behind sockgate with its own config.

mod support;

use std::process::Stdio;

use serde_json::json;
use support::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const CHAT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/chat");

/// Starts `examples/chat/backend.py` on a free port; returns it and its base URL.
async fn chat_backend() -> (Child, String) {
    let mut child = Command::new("python3")
        .arg(format!("{CHAT_DIR}/backend.py"))
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
    let text = std::fs::read_to_string(format!("{CHAT_DIR}/sockgate.toml")).unwrap();
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
