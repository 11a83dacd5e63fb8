//! The gateway's own RFC 6455 framing, driven byte by byte from a raw TCP client:
//! frames split across reads, many frames in one read, a frame in the same packet
//! as the handshake, fragmentation, large messages, pings, and pushes queued
//! faster than the socket drains.

mod support;

use support::raw::{HANDSHAKE, Raw, frame};
use support::*;
use tokio::io::AsyncWriteExt;

const CONFIG: &str = r#"
[websocket]
route_selection_expression = "$request.body.action"
max_message_bytes = "200KiB"
max_frame_bytes = "128KiB"
send_queue_messages = 1000
send_queue_bytes = "4MiB"
[stages.prod]
[routes.echo]
route_response = true
integration = { type = "mock", body = "${request.body.text}" }
[routes.whoami]
route_response = true
integration = { type = "mock", body = '${context.connectionId}' }
"#;

fn echo(text: &str) -> Vec<u8> {
    frame(
        0x81,
        format!(r#"{{"action":"echo","text":"{text}"}}"#).as_bytes(),
    )
}

#[tokio::test]
async fn frames_sent_with_the_handshake_are_not_lost() {
    let gw = Gw::start(CONFIG).await;
    let mut first = HANDSHAKE.to_vec();
    first.extend(echo("one"));
    first.extend(echo("two"));
    let mut raw = Raw::open(gw.public, &first).await;
    assert_eq!(raw.next_text().await, "one");
    assert_eq!(raw.next_text().await, "two");
}

#[tokio::test]
async fn frames_split_byte_by_byte_and_batched_in_one_write() {
    let gw = Gw::start(CONFIG).await;
    let mut raw = Raw::open(gw.public, HANDSHAKE).await;
    // One byte per write: every header field and the payload span reads.
    for b in echo("trickle") {
        raw.s.write_all(&[b]).await.unwrap();
        raw.s.flush().await.unwrap();
        tokio::task::yield_now().await;
    }
    assert_eq!(raw.next_text().await, "trickle");
    // Fifty frames in one write, the last one cut in half across two writes.
    let mut batch = Vec::new();
    for i in 0..50 {
        batch.extend(echo(&format!("m{i}")));
    }
    let cut = batch.len() - 5;
    raw.s.write_all(&batch[..cut]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    raw.s.write_all(&batch[cut..]).await.unwrap();
    for i in 0..50 {
        assert_eq!(raw.next_text().await, format!("m{i}"));
    }
}

#[tokio::test]
async fn fragmented_and_large_messages_reassemble() {
    let gw = Gw::start(CONFIG).await;
    let mut raw = Raw::open(gw.public, HANDSHAKE).await;
    // Three fragments with a ping between them; the ping is answered at once.
    let mut bytes = frame(0x01, br#"{"action":"echo","#);
    bytes.extend(frame(0x89, b"are you there"));
    bytes.extend(frame(0x00, br#""text":"#));
    bytes.extend(frame(0x80, br#""fragments"}"#));
    raw.s.write_all(&bytes).await.unwrap();
    assert_eq!(raw.next().await, (0x8A, b"are you there".to_vec()));
    assert_eq!(raw.next_text().await, "fragments");
    // A 150 KB message in two 75 KB fragments (each under the frame limit),
    // written in uneven pieces.
    let text = "x".repeat(150_000);
    let body = format!(r#"{{"action":"echo","text":"{text}"}}"#);
    let (a, b) = body.as_bytes().split_at(75_000);
    let mut bytes = frame(0x01, a);
    bytes.extend(frame(0x80, b));
    for piece in bytes.chunks(7_777) {
        raw.s.write_all(piece).await.unwrap();
    }
    let (b0, payload) = raw.next().await;
    assert_eq!(b0, 0x81);
    assert_eq!(payload.len(), 150_000);
    assert!(payload.iter().all(|&c| c == b'x'));
}

#[tokio::test]
async fn a_burst_of_pushes_arrives_complete_and_in_order() {
    let gw = Gw::start(CONFIG).await;
    let mut raw = Raw::open(gw.public, HANDSHAKE).await;
    raw.s
        .write_all(&frame(0x81, br#"{"action":"whoami"}"#))
        .await
        .unwrap();
    let id = raw.next_text().await;
    // 300 posts of 3 KB each, sent without reading: they pile up in the queue
    // and leave in vectored batches.
    for i in 0..300 {
        let body = format!("{i:04}{}", "p".repeat(3000));
        let (status, _, _) = http("POST", &gw.connections_url("prod", &id), body.into()).await;
        assert_eq!(status, 200, "post {i}");
    }
    for i in 0..300 {
        let text = raw.next_text().await;
        assert_eq!(&text[..4], format!("{i:04}"));
        assert_eq!(text.len(), 3004);
    }
}
