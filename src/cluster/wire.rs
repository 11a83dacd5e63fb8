//! What nodes say to each other on their channels, as compact binary messages.
//!
//! ```text
//! request: 'T' op:u8 id:u64 deadline:u64 reply_to:[4] connection:[16] stage_len:u8 stage payload…
//! reply:   'R' status:u8 id:u64 body…
//! probe:   'H' nonce:u64
//! fan-out: sender:[4] seq:u64 deadline:u64 data…   (group and stage channels)
//! ```
//!
//! `op` is P (post; payload = the data), G (get), D (delete), J / L (join /
//! leave; payload = the group name). `stage_len` 255 means no stage was named.
//! A GET reply's body is the connection's facts as JSON.
//!
//! `deadline` is the sender's clock (epoch ms) past which the message must not
//! be acted on: the sender has answered 503 by then, and a request or send that
//! Redis delivers later (a frozen Redis that resumes) must not be delivered
//! behind that answer's back.
//!
//! A request's `id` and a fan-out message's `seq` count up per sender (in two
//! sequences), so that a receiver acts on each once although Redis may hand it
//! over twice (see `seen`).
//!
//! Wire version 3. Version 1 sent requests as 'Q' without a deadline and fan-out
//! without one; version 2 sent fan-out without `seq`. Versions do not
//! interoperate: each has channels of its own (see `names`).
//!
//! Decoding is total: any byte string yields a message or `None`, never a panic.

use bytes::{BufMut as _, Bytes, BytesMut};

use crate::conn::{Id, NodeTag};

/// A request to the node that holds a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    pub(crate) id: u64,
    /// Epoch ms (the asker's clock) after which the owner must not act on it.
    pub(crate) deadline_ms: u64,
    pub(crate) reply_to: NodeTag,
    pub(crate) conn: Id,
    pub(crate) stage: Option<String>,
    pub(crate) op: Op,
}

/// What the request asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    Post(Bytes),
    Get,
    Delete,
    Join(String),
    Leave(String),
}

/// The owner's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Ok = 0,
    Gone = 1,
    Full = 2,
    TooManyGroups = 3,
}

/// A reply to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) id: u64,
    pub(crate) status: Status,
    pub(crate) body: Bytes,
}

/// Anything on a node channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Message {
    Request(Request),
    Reply(Reply),
    Probe(u64),
}

const NO_STAGE: u8 = 255;

// === impl Message ===

impl Message {
    pub(crate) fn encode(&self) -> Bytes {
        let mut b = BytesMut::new();
        match self {
            Message::Request(r) => {
                let (op, payload): (u8, &[u8]) = match &r.op {
                    Op::Post(data) => (b'P', data),
                    Op::Get => (b'G', &[]),
                    Op::Delete => (b'D', &[]),
                    Op::Join(g) => (b'J', g.as_bytes()),
                    Op::Leave(g) => (b'L', g.as_bytes()),
                };
                b.reserve(40 + payload.len());
                b.put_u8(b'T');
                b.put_u8(op);
                b.put_u64(r.id);
                b.put_u64(r.deadline_ms);
                b.put_slice(r.reply_to.as_str().as_bytes());
                b.put_slice(r.conn.as_str().as_bytes());
                match &r.stage {
                    // Stage names are validated (at most 128 bytes) by the config.
                    Some(s) if s.len() < usize::from(NO_STAGE) => {
                        b.put_u8(s.len() as u8);
                        b.put_slice(s.as_bytes());
                    }
                    _ => b.put_u8(NO_STAGE),
                }
                b.put_slice(payload);
            }
            Message::Reply(r) => {
                b.reserve(10 + r.body.len());
                b.put_u8(b'R');
                b.put_u8(r.status as u8);
                b.put_u64(r.id);
                b.put_slice(&r.body);
            }
            Message::Probe(nonce) => {
                b.put_u8(b'H');
                b.put_u64(*nonce);
            }
        }
        b.freeze()
    }

    pub(crate) fn decode(mut buf: Bytes) -> Option<Message> {
        let kind = take(&mut buf, 1)?[0];
        match kind {
            b'T' => {
                let op = take(&mut buf, 1)?[0];
                let id = take_u64(&mut buf)?;
                let deadline_ms = take_u64(&mut buf)?;
                let reply_to = NodeTag::parse(std::str::from_utf8(&take(&mut buf, 4)?).ok()?)?;
                let conn = Id::parse(std::str::from_utf8(&take(&mut buf, 16)?).ok()?)?;
                let stage_len = take(&mut buf, 1)?[0];
                let stage = if stage_len == NO_STAGE {
                    None
                } else {
                    let raw = take(&mut buf, usize::from(stage_len))?;
                    Some(std::str::from_utf8(&raw).ok()?.to_owned())
                };
                let text = |b: &Bytes| std::str::from_utf8(b).ok().map(str::to_owned);
                let op = match op {
                    b'P' => Op::Post(buf),
                    b'G' => Op::Get,
                    b'D' => Op::Delete,
                    b'J' => Op::Join(text(&buf)?),
                    b'L' => Op::Leave(text(&buf)?),
                    _ => return None,
                };
                Some(Message::Request(Request {
                    id,
                    deadline_ms,
                    reply_to,
                    conn,
                    stage,
                    op,
                }))
            }
            b'R' => {
                let status = match take(&mut buf, 1)?[0] {
                    0 => Status::Ok,
                    1 => Status::Gone,
                    2 => Status::Full,
                    3 => Status::TooManyGroups,
                    _ => return None,
                };
                let id = take_u64(&mut buf)?;
                Some(Message::Reply(Reply {
                    id,
                    status,
                    body: buf,
                }))
            }
            b'H' => {
                let nonce = take_u64(&mut buf)?;
                buf.is_empty().then_some(Message::Probe(nonce))
            }
            _ => None,
        }
    }
}

fn take(buf: &mut Bytes, n: usize) -> Option<Bytes> {
    (buf.len() >= n).then(|| buf.split_to(n))
}

fn take_u64(buf: &mut Bytes) -> Option<u64> {
    Some(u64::from_be_bytes(take(buf, 8)?.as_ref().try_into().ok()?))
}

/// A group or stage message, as it travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fanout<'a> {
    pub(crate) sender: NodeTag,
    /// The sender's count of its fan-out messages, from 1.
    pub(crate) seq: u64,
    /// Epoch ms (the sender's clock) after which it must not be delivered.
    pub(crate) deadline_ms: u64,
    pub(crate) data: &'a [u8],
}

impl<'a> Fanout<'a> {
    pub(crate) fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(20 + self.data.len());
        b.put_slice(self.sender.as_str().as_bytes());
        b.put_u64(self.seq);
        b.put_u64(self.deadline_ms);
        b.put_slice(self.data);
        b.freeze()
    }

    pub(crate) fn decode(payload: &'a [u8]) -> Option<Fanout<'a>> {
        let (sender, rest) = payload.split_at_checked(4)?;
        let (seq, rest) = rest.split_at_checked(8)?;
        let (deadline, data) = rest.split_at_checked(8)?;
        Some(Fanout {
            sender: NodeTag::parse(std::str::from_utf8(sender).ok()?)?,
            seq: u64::from_be_bytes(seq.try_into().ok()?),
            deadline_ms: u64::from_be_bytes(deadline.try_into().ok()?),
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(op: Op, stage: Option<&str>) -> Message {
        let node = NodeTag::random();
        Message::Request(Request {
            id: 0x0102_0304_0506_0708,
            deadline_ms: 1_796_000_000_000,
            reply_to: node,
            conn: Id::for_node(NodeTag::random()),
            stage: stage.map(str::to_owned),
            op,
        })
    }

    #[test]
    fn every_message_round_trips() {
        let messages = [
            request(
                Op::Post(Bytes::from_static(b"hello \xff binary")),
                Some("prod"),
            ),
            request(Op::Post(Bytes::new()), None),
            request(Op::Get, Some("prod")),
            request(Op::Delete, None),
            request(Op::Join("room:1".into()), Some("prod")),
            request(Op::Leave("room:1".into()), Some("prod")),
            Message::Reply(Reply {
                id: 7,
                status: Status::Full,
                body: Bytes::from_static(b"{}"),
            }),
            Message::Reply(Reply {
                id: u64::MAX,
                status: Status::Ok,
                body: Bytes::new(),
            }),
            Message::Probe(42),
        ];
        for m in messages {
            assert_eq!(Message::decode(m.encode()), Some(m.clone()), "{m:?}");
        }
    }

    #[test]
    fn garbage_and_every_truncation_decode_to_none_or_a_message_without_panicking() {
        let full = request(Op::Join("room".into()), Some("prod")).encode();
        for cut in 0..full.len() {
            // Truncations inside the fixed header are refused; a cut group name
            // is still a (shorter) valid name, which is fine.
            let _ = Message::decode(full.slice(..cut));
        }
        for cut in 0..39 {
            assert_eq!(Message::decode(full.slice(..cut)), None, "cut at {cut}");
        }
        for garbage in [
            &b""[..],
            b"Z",
            b"Q",
            b"T",
            b"TX",
            b"R\x09",
            b"H\x00",
            b"Hxxxxxxxxx",
        ] {
            assert_eq!(Message::decode(Bytes::copy_from_slice(garbage)), None);
        }
    }
}

#[cfg(test)]
mod fanout_tests {
    use super::*;

    #[test]
    fn fanout_messages_round_trip_and_short_or_foreign_ones_are_refused() {
        let m = Fanout {
            sender: NodeTag::random(),
            seq: 7,
            deadline_ms: 42,
            data: b"hello",
        };
        let b = m.encode();
        assert_eq!(Fanout::decode(&b), Some(m));
        for cut in 0..20 {
            assert_eq!(Fanout::decode(&b[..cut]), None, "cut at {cut}");
        }
        let mut foreign = b.to_vec();
        foreign[0] = b'/';
        assert_eq!(Fanout::decode(&foreign), None, "not a node tag");
    }
}
