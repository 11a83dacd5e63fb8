//! The gateway's own RFC 6455 framing, driven byte by byte from a raw TCP client:
//! frames split across reads, many frames in one read, a frame in the same packet
//! as the handshake, fragmentation, large messages, pings, and pushes queued
//! faster than the socket drains.

mod support;

use std::net::SocketAddr;

use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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

const HANDSHAKE: &[u8] = b"GET /prod HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// A masked client frame.
fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0xA1, 0x02, 0xF3, 0x44];
    let mut out = vec![b0];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

fn echo(text: &str) -> Vec<u8> {
    frame(
        0x81,
        format!(r#"{{"action":"echo","text":"{text}"}}"#).as_bytes(),
    )
}

struct Raw {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    /// Connects and sends `first` (the handshake, possibly with frames after it).
    async fn open(addr: SocketAddr, first: &[u8]) -> Raw {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.set_nodelay(true).unwrap();
        s.write_all(first).await.unwrap();
        let mut raw = Raw { s, buf: Vec::new() };
        let head = loop {
            if let Some(end) = raw.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break raw.buf.drain(..end + 4).collect::<Vec<u8>>();
            }
            raw.fill().await;
        };
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
        assert!(
            head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            "RFC 6455 accept key: {head}"
        );
        raw
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 65536];
        let n = tokio::time::timeout(PATIENCE, self.s.read(&mut chunk))
            .await
            .expect("server answered in time")
            .unwrap();
        assert!(n > 0, "server closed the connection");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    /// The next server frame: (first byte, payload). Server frames are never masked.
    async fn next(&mut self) -> (u8, Vec<u8>) {
        loop {
            if self.buf.len() >= 2 {
                assert_eq!(self.buf[1] & 0x80, 0, "server frames are unmasked");
                let (len, at) = match self.buf[1] {
                    126 if self.buf.len() >= 4 => {
                        (u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize, 4)
                    }
                    127 if self.buf.len() >= 10 => (
                        u64::from_be_bytes(self.buf[2..10].try_into().unwrap()) as usize,
                        10,
                    ),
                    126 | 127 => (usize::MAX, 0),
                    n => (n as usize, 2),
                };
                if len != usize::MAX && self.buf.len() >= at + len {
                    let b0 = self.buf[0];
                    let payload = self.buf[at..at + len].to_vec();
                    self.buf.drain(..at + len);
                    return (b0, payload);
                }
            }
            self.fill().await;
        }
    }

    async fn next_text(&mut self) -> String {
        let (b0, payload) = self.next().await;
        assert_eq!(b0, 0x81, "a final text frame");
        String::from_utf8(payload).unwrap()
    }
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
