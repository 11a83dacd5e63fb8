//! Differential: sockgate's frame decoder against tungstenite's, on the same
//! client bytes. Both must yield the same messages, then the same outcome: more
//! input needed, or the same failure (protocol error 1002, too big 1009, invalid
//! UTF-8 1007).
//!
//! Differences that are choices, not bugs (each is allowed below, and nothing else):
//!
//! - tungstenite returns a pong's payload; sockgate drops it (it is never used).
//! - An invalid close code: tungstenite returns a close frame it rewrote to 1002
//!   "Protocol violation"; sockgate fails with a protocol error (1002) — the same
//!   close code on the wire. Code 1014 (registered by IANA) sockgate accepts and
//!   tungstenite refuses.
//! - A 64-bit length with its top bit set: sockgate calls it a protocol error
//!   (RFC 6455 §5.2 requires the bit clear), tungstenite "too big".
//! - sockgate judges a frame from its header where it can (reserved bits and
//!   opcodes, sizes, an unmasked frame, a continuation with nothing to
//!   continue); tungstenite reads the payload first. On input that ends inside
//!   such a frame, sockgate has failed while tungstenite still waits for bytes.
//! - A close frame with a bad code and a reason that is not UTF-8: sockgate
//!   reports the code (1002), tungstenite the reason (1007).
//! - Comparison stops at the first close frame: after it, the session stops
//!   reading, and tungstenite refuses further frames.
#![no_main]

use std::io::{self, Read, Write};

use libfuzzer_sys::fuzz_target;
use sockgate::ws::{DecodeError, Decoder, Item, Limits, Step};
use tungstenite::error::{CapacityError, Error};
use tungstenite::protocol::{Message, Role, WebSocket, WebSocketConfig};

const MAX_FRAME: usize = 4096;
const MAX_MESSAGE: usize = 8192;

/// What either decoder made of the input, in a shape both share.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Out {
    Text(Vec<u8>),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong,
    Close(Option<(u16, String)>),
    /// The input ends inside a frame.
    NeedMore,
    Failed(Failure),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    Protocol,
    TooBig,
    Utf8,
}

/// Reads the fuzz input, then reports `WouldBlock` (more may come), never EOF.
struct Input<'a> {
    data: &'a [u8],
}

impl Read for Input<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.data.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = buf.len().min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

impl Write for Input<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Where sockgate failed: the failing frame's declared payload length (`None`
/// if its header was not all there) and whether all its bytes were.
#[derive(Debug, Default, Clone, Copy)]
struct FailedAt {
    declared: Option<u64>,
    complete: bool,
    opcode: Option<u8>,
}

fn ours(data: &[u8]) -> (Vec<Out>, FailedAt) {
    let mut d = Decoder::new(Limits {
        max_frame: MAX_FRAME,
        max_message: MAX_MESSAGE,
    });
    let mut out = Vec::new();
    let mut rest = data;
    loop {
        match d.decode(rest) {
            Ok(Step::Frame { consumed, item }) => {
                rest = &rest[consumed..];
                let Some(item) = item else { continue };
                let close = matches!(item, Item::Close(_));
                out.push(match item {
                    Item::Text(t) => Out::Text(t.into_bytes()),
                    Item::Binary(b) => Out::Binary(b),
                    Item::Ping(p) => Out::Ping(p),
                    Item::Pong => Out::Pong,
                    Item::Close(c) => Out::Close(c),
                });
                if close {
                    return (out, FailedAt::default());
                }
            }
            Ok(Step::Need(_)) => {
                out.push(Out::NeedMore);
                return (out, FailedAt::default());
            }
            Err(e) => {
                out.push(Out::Failed(match e {
                    DecodeError::Protocol => Failure::Protocol,
                    DecodeError::TooBig => Failure::TooBig,
                    DecodeError::InvalidUtf8 => Failure::Utf8,
                }));
                let declared = header(rest);
                let complete = declared.is_some_and(|(len, at)| {
                    len.checked_add(at).is_some_and(|total| total <= rest.len() as u64)
                });
                let failed = FailedAt {
                    declared: declared.map(|(len, _)| len),
                    complete,
                    opcode: rest.first().map(|b| b & 0x0f),
                };
                return (out, failed);
            }
        }
    }
}

/// The declared payload length of the frame at the front of `b` and the
/// length of its header (mask included), if the header is all there.
fn header(b: &[u8]) -> Option<(u64, u64)> {
    let (len, at) = match *b.get(1)? & 0x7f {
        126 => (u64::from(u16::from_be_bytes(b.get(2..4)?.try_into().ok()?)), 4),
        127 => (u64::from_be_bytes(b.get(2..10)?.try_into().ok()?), 10),
        n => (u64::from(n), 2),
    };
    let mask = if b[1] & 0x80 != 0 { 4 } else { 0 };
    (b.len() as u64 >= at + mask).then_some((len, at + mask))
}

fn theirs(data: &[u8]) -> Vec<Out> {
    let config = WebSocketConfig::default()
        .max_frame_size(Some(MAX_FRAME))
        .max_message_size(Some(MAX_MESSAGE));
    let mut ws = WebSocket::from_raw_socket(Input { data }, Role::Server, Some(config));
    let mut out = Vec::new();
    loop {
        let next = match ws.read() {
            Ok(Message::Text(t)) => Out::Text(t.as_bytes().to_vec()),
            Ok(Message::Binary(b)) => Out::Binary(b.to_vec()),
            Ok(Message::Ping(p)) => Out::Ping(p.to_vec()),
            Ok(Message::Pong(_)) => Out::Pong,
            Ok(Message::Close(c)) => {
                out.push(Out::Close(c.map(|f| (u16::from(f.code), f.reason.to_string()))));
                return out;
            }
            Ok(Message::Frame(_)) => unreachable!("read never returns raw frames"),
            Err(Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => Out::NeedMore,
            Err(Error::Protocol(_)) => Out::Failed(Failure::Protocol),
            Err(Error::Capacity(CapacityError::MessageTooLong { .. })) => Out::Failed(Failure::TooBig),
            Err(Error::Utf8(_)) => Out::Failed(Failure::Utf8),
            Err(e) => panic!("tungstenite failed otherwise: {e:?}"),
        };
        let end = matches!(next, Out::NeedMore | Out::Failed(_));
        out.push(next);
        if end {
            return out;
        }
    }
}

/// Whether two final outcomes agree, allowing the documented differences.
fn same_end(ours: &Out, theirs: &Out, at: FailedAt) -> bool {
    let rewritten = |t: &Out| matches!(t, Out::Close(Some((1002, r))) if r == "Protocol violation");
    match (ours, theirs) {
        (a, b) if a == b => true,
        (Out::Failed(Failure::Protocol), t) if rewritten(t) => true,
        (Out::Close(Some((1014, _))), t) if rewritten(t) => true,
        // A close frame with both a bad code and a reason that is not UTF-8:
        // sockgate checks the code first, tungstenite the reason.
        (Out::Failed(Failure::Protocol), Out::Failed(Failure::Utf8)) => at.opcode == Some(0x8),
        // tungstenite's one check before a payload: the frame size.
        (Out::Failed(Failure::Protocol), Out::Failed(Failure::TooBig)) => {
            at.declared.is_some_and(|n| n > MAX_FRAME as u64)
        }
        (Out::Failed(_), Out::NeedMore) => {
            !at.complete && at.declared.is_none_or(|n| n <= MAX_FRAME as u64)
        }
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let (ours, at) = ours(data);
    let theirs = theirs(data);
    let (our_end, their_end) = (ours.last().unwrap(), theirs.last().unwrap());
    let (our_msgs, their_msgs) = (&ours[..ours.len() - 1], &theirs[..theirs.len() - 1]);
    assert_eq!(our_msgs, their_msgs, "messages differ\nours:   {ours:?}\ntheirs: {theirs:?}");
    assert!(
        same_end(our_end, their_end, at),
        "outcomes differ\nours:   {ours:?}\ntheirs: {theirs:?}\nat: {at:?}"
    );
});
