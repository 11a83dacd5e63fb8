//! A raw WebSocket client over TCP: the bytes of the handshake and of masked client
//! frames written by hand, and server frames parsed by hand, for tests that need
//! control a real client library does not give (frames split anywhere, a client
//! that never reads).

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::PATIENCE;

/// An upgrade request for `/prod` (the key is RFC 6455's sample).
pub const HANDSHAKE: &[u8] = b"GET /prod HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\
Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// An upgrade request for `/{stage}`.
pub fn handshake(stage: &str) -> Vec<u8> {
    String::from_utf8_lossy(HANDSHAKE)
        .replace("GET /prod ", &format!("GET /{stage} "))
        .into_bytes()
}

/// A masked client frame.
pub fn frame(b0: u8, payload: &[u8]) -> Vec<u8> {
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

/// A connection opened with a raw handshake.
pub struct Raw {
    pub s: TcpStream,
    pub buf: Vec<u8>,
}

impl Raw {
    /// Connects and sends `first` (the handshake, possibly with frames after it).
    pub async fn open(addr: SocketAddr, first: &[u8]) -> Raw {
        Raw::open_head(addr, first).await.0
    }

    /// [`Raw::open`], returning the 101 answer's head too.
    pub async fn open_head(addr: SocketAddr, first: &[u8]) -> (Raw, String) {
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
        (raw, head)
    }

    pub async fn fill(&mut self) {
        // On the heap: a 64 KiB array would be part of every future awaiting this.
        let mut chunk = vec![0u8; 65536];
        let n = tokio::time::timeout(PATIENCE, self.s.read(&mut chunk))
            .await
            .expect("server answered in time")
            .unwrap();
        assert!(n > 0, "server closed the connection");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    /// The next server frame: (first byte, payload). Server frames are never masked.
    pub async fn next(&mut self) -> (u8, Vec<u8>) {
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

    pub async fn next_text(&mut self) -> String {
        let (b0, payload) = self.next().await;
        assert_eq!(b0, 0x81, "a final text frame");
        String::from_utf8(payload).unwrap()
    }

    /// Writes `bytes` in pieces of `chop` bytes, flushing each (so they arrive in
    /// separate reads as far as loopback allows). Stops quietly if the server has
    /// closed the connection meanwhile (it may, once what it read broke a rule).
    pub async fn send_chopped(&mut self, bytes: &[u8], chop: usize) {
        for piece in bytes.chunks(chop.max(1)) {
            if self.s.write_all(piece).await.is_err() || self.s.flush().await.is_err() {
                return;
            }
            tokio::task::yield_now().await;
        }
    }

    /// The next frame, which must be a close frame: its code (1005 if none).
    pub async fn close_code(&mut self) -> u16 {
        let (b0, payload) = self.next().await;
        assert_eq!(
            b0,
            0x88,
            "a close frame, got opcode {:#x}: {payload:?}",
            b0 & 0x0f
        );
        match payload.as_slice() {
            [] => 1005,
            [hi, lo, ..] => u16::from_be_bytes([*hi, *lo]),
            other => panic!("malformed close payload {other:?}"),
        }
    }

    /// Everything the server sends until it closes the connection.
    pub async fn rest(&mut self) -> Vec<u8> {
        let mut rest = std::mem::take(&mut self.buf);
        tokio::time::timeout(PATIENCE, self.s.read_to_end(&mut rest))
            .await
            .expect("the server closes in time")
            .unwrap_or_default();
        rest
    }

    /// Whether the server sends nothing (and keeps the socket open) for `wait`.
    pub async fn quiet_for(&mut self, wait: std::time::Duration) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut b = [0u8; 1];
        tokio::time::timeout(wait, self.s.read(&mut b))
            .await
            .is_err()
    }
}
