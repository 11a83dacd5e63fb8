//! Server-to-client frames, encoded once into their final wire bytes.

use base64::Engine as _;
use bytes::{BufMut as _, Bytes, BytesMut};

/// The opcodes a server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpCode {
    /// A UTF-8 text message.
    Text = 0x1,
    /// A binary message.
    Binary = 0x2,
    /// A close frame.
    Close = 0x8,
    /// A ping.
    Ping = 0x9,
    /// A pong.
    Pong = 0xA,
}

/// One complete, unfragmented, unmasked server frame: header and payload.
///
/// Cloning is a reference-count increment, so one frame can sit in many
/// connections' queues at once.
#[derive(Clone, PartialEq, Eq)]
pub struct Frame(Bytes);

// === impl Frame ===

impl Frame {
    /// The wire bytes.
    pub fn as_bytes(&self) -> &Bytes {
        &self.0
    }

    /// Wire length, header included (what queue bounds count).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Never true: every frame has at least a two-byte header.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether this is a text or binary message (not a control frame).
    pub fn is_data(&self) -> bool {
        matches!(self.0.first().map(|b| b & 0x0F), Some(0x1 | 0x2))
    }

    /// Wraps complete wire bytes (a frame built elsewhere in `ws`).
    pub(super) fn from_wire(bytes: Bytes) -> Frame {
        Frame(bytes)
    }

    /// The first header byte: FIN, RSV and opcode.
    pub(super) fn first_byte(&self) -> u8 {
        self.0.first().copied().unwrap_or(0)
    }

    /// The payload, after the header (server frames are never masked).
    pub fn payload(&self) -> &[u8] {
        let at = match self.0.get(1).map(|b| b & 0x7F) {
            Some(126) => 4,
            Some(127) => 10,
            _ => 2,
        };
        self.0.get(at..).unwrap_or_default()
    }

    /// A text frame carrying `text`.
    pub fn text(text: &str) -> Frame {
        encode(OpCode::Text, text.as_bytes())
    }

    /// A binary frame carrying `data`.
    pub fn binary(data: &[u8]) -> Frame {
        encode(OpCode::Binary, data)
    }
}

impl std::fmt::Debug for Frame {
    // Never the payload: frames are user data.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("opcode", &self.0.first().map(|b| b & 0x0F))
            .field("len", &self.0.len())
            .finish()
    }
}

/// Encodes `payload` as one final frame with `op`, in a single allocation.
pub fn encode(op: OpCode, payload: &[u8]) -> Frame {
    let (head, n) = header(0x80 | op as u8, payload.len());
    let mut buf = BytesMut::with_capacity(n + payload.len());
    buf.put_slice(&head[..n]);
    buf.put_slice(payload);
    Frame(buf.freeze())
}

/// A server frame's header for a payload of `len` bytes after the first byte
/// `b0`: the bytes, and how many of them are used (2, 4 or 10).
pub(super) fn header(b0: u8, len: usize) -> ([u8; 10], usize) {
    let mut h = [0u8; 10];
    h[0] = b0;
    match len {
        0..=125 => {
            h[1] = len as u8;
            (h, 2)
        }
        126..=0xFFFF => {
            h[1] = 126;
            h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
            (h, 4)
        }
        _ => {
            h[1] = 127;
            h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
            (h, 10)
        }
    }
}

/// A close frame with `code` and `reason` (the reason is cut to fit the 125-byte
/// control-frame limit, on a character boundary).
pub fn close_frame(code: u16, reason: &str) -> Frame {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let mut payload = Vec::with_capacity(2 + end);
    payload.extend_from_slice(&code.to_be_bytes());
    payload.extend_from_slice(&reason.as_bytes()[..end]);
    encode(OpCode::Close, &payload)
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key` (RFC 6455 §4.2.2).
pub fn accept_key(key: &[u8]) -> String {
    const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    use sha1::Digest as _;
    let mut sha = sha1::Sha1::new();
    sha.update(key);
    sha.update(GUID);
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}
