//! Client-to-server frames: parsing, unmasking, reassembly, validation.
//!
//! [`Decoder::decode`] looks at the front of a byte slice and either consumes one
//! whole frame or says how many bytes it needs first. It never holds input
//! itself; the only state it keeps between calls is a fragmented message being
//! reassembled. Sizes are checked from the header, before any payload is
//! buffered, so an oversized frame costs nothing but its header.
//!
//! With permessage-deflate agreed, a message whose first frame has RSV1 set is
//! compressed: its frames are reassembled as they are, then inflated with
//! `max_message` as the bound on the inflated size, and text is checked as
//! UTF-8 after inflation.

use super::deflate::{Inflate, InflateError};

/// Size limits, from `[websocket]`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest single frame payload.
    pub max_frame: usize,
    /// Largest reassembled message.
    pub max_message: usize,
}

/// A decoded message or control frame.
#[derive(Debug, PartialEq, Eq)]
pub enum Item {
    /// A complete text message (UTF-8 checked).
    Text(String),
    /// A complete binary message.
    Binary(Vec<u8>),
    /// A ping, with its payload (at most 125 bytes).
    Ping(Vec<u8>),
    /// A pong.
    Pong,
    /// A close frame: its code and reason, or `None` when it carried no code.
    Close(Option<(u16, String)>),
}

/// Why the client's bytes cannot be accepted (each maps to a close code in
/// `conn::close`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// RFC 6455 violation (1002).
    Protocol,
    /// A frame or message over its limit (1009).
    TooBig,
    /// Text or a close reason that is not UTF-8 (1007).
    InvalidUtf8,
}

/// The outcome of one [`Decoder::decode`] call.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// The slice holds an incomplete frame; this many bytes (counted from the
    /// slice's start) complete it, or at least its header.
    Need(usize),
    /// One frame was consumed; `item` is `None` for a fragment of a message that
    /// is not complete yet.
    Frame {
        /// Bytes consumed from the slice's start.
        consumed: usize,
        /// The message or control frame, if this frame completed one.
        item: Option<Item>,
    },
}

/// Reassembly state for one connection.
#[derive(Debug)]
pub struct Decoder {
    limits: Limits,
    /// A fragmented message in progress.
    partial: Option<Partial>,
    /// permessage-deflate's inbound side.
    inflate: Inflate,
}

/// A fragmented message being reassembled.
#[derive(Debug)]
struct Partial {
    text: bool,
    /// Its first frame had RSV1: `data` is deflate, inflated when complete.
    compressed: bool,
    data: Vec<u8>,
    /// For text: how much of `data` is known to be valid UTF-8. Each fragment is
    /// checked as it arrives (from here), so invalid text fails at the fragment
    /// that breaks it — not at the end, after more frames have been acted on.
    checked: usize,
}

impl Partial {
    fn new(text: bool, compressed: bool, data: Vec<u8>) -> Result<Partial, DecodeError> {
        let mut p = Partial {
            text,
            compressed,
            data,
            checked: 0,
        };
        p.check()?;
        Ok(p)
    }

    fn len(&self) -> usize {
        self.data.len()
    }

    /// Checks the unchecked text; a sequence cut at the end may still complete.
    fn check(&mut self) -> Result<(), DecodeError> {
        if !self.text || self.compressed {
            return Ok(());
        }
        match std::str::from_utf8(&self.data[self.checked..]) {
            Ok(_) => self.checked = self.data.len(),
            Err(e) if e.error_len().is_none() => self.checked += e.valid_up_to(),
            Err(_) => return Err(DecodeError::InvalidUtf8),
        }
        Ok(())
    }
}

const FIN: u8 = 0x80;
/// RSV1: permessage-deflate's "compressed" bit (RFC 7692 §6).
const RSV1: u8 = 0x40;
/// RSV2 and RSV3: no extension here uses them.
const RSV23: u8 = 0x30;
const MASKED: u8 = 0x80;

// === impl Decoder ===

impl Decoder {
    /// A decoder with no message in progress.
    pub fn new(limits: Limits) -> Decoder {
        Decoder::with_inflate(limits, Inflate::Off)
    }

    /// A decoder for a connection that agreed permessage-deflate as `inflate` says.
    pub fn with_inflate(limits: Limits, inflate: Inflate) -> Decoder {
        Decoder {
            limits,
            partial: None,
            inflate,
        }
    }

    /// Changes the limits for what is decoded from now on (a message being
    /// reassembled is judged by the new ones as its fragments arrive).
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Decodes the frame at the front of `buf`.
    pub fn decode(&mut self, buf: &[u8]) -> Result<Step, DecodeError> {
        let h = match header(buf)? {
            Ok(h) => h,
            Err(need) => return Ok(Step::Need(need)),
        };
        self.check(&h)?;
        // `len` is now at most max(125, max_frame), so it fits in usize.
        let start = h.at + 4;
        let total = start + h.len as usize;
        if buf.len() < total {
            return Ok(Step::Need(total));
        }
        let key = [buf[h.at], buf[h.at + 1], buf[h.at + 2], buf[h.at + 3]];
        let item = self.item(&h, &buf[start..total], key)?;
        Ok(Step::Frame {
            consumed: total,
            item,
        })
    }

    /// The rules on a frame's opcode, FIN and length, given what came before.
    fn check(&self, h: &Header) -> Result<(), DecodeError> {
        if h.opcode & 0x08 != 0 {
            // A control frame: final, short, uncompressed, and one of close,
            // ping, pong.
            if !h.fin || h.len > 125 || h.rsv1 || !matches!(h.opcode, 0x8..=0xA) {
                return Err(DecodeError::Protocol);
            }
            return Ok(());
        }
        match (h.opcode, &self.partial) {
            (0x0, None) | (0x1 | 0x2, Some(_)) => return Err(DecodeError::Protocol),
            // RSV1 is set on a message's first frame only (RFC 7692 §6.1).
            (0x0, Some(_)) if h.rsv1 => return Err(DecodeError::Protocol),
            (0x1 | 0x2, None) if h.rsv1 && !self.inflate.is_on() => {
                return Err(DecodeError::Protocol);
            }
            (0x0..=0x2, _) => {}
            _ => return Err(DecodeError::Protocol),
        }
        let so_far = self.partial.as_ref().map_or(0, Partial::len) as u64;
        let compressed = h.rsv1 || self.partial.as_ref().is_some_and(|p| p.compressed);
        if h.len > self.limits.max_frame as u64
            || so_far.saturating_add(h.len) > wire_limit(self.limits.max_message, compressed)
        {
            return Err(DecodeError::TooBig);
        }
        Ok(())
    }

    /// What a whole frame yields: a control frame, a complete message, or
    /// nothing yet (a fragment).
    fn item(
        &mut self,
        h: &Header,
        payload: &[u8],
        key: [u8; 4],
    ) -> Result<Option<Item>, DecodeError> {
        let fin = h.fin;
        Ok(match h.opcode {
            0x8 => Some(close(unmasked(payload, key))?),
            0x9 => Some(Item::Ping(unmasked(payload, key))),
            0xA => Some(Item::Pong),
            0x0 => {
                let partial = self.partial.as_mut().ok_or(DecodeError::Protocol)?;
                append_unmasked(&mut partial.data, payload, key);
                partial.check()?;
                if fin {
                    let Partial {
                        text,
                        compressed,
                        data,
                        ..
                    } = self.partial.take().ok_or(DecodeError::Protocol)?;
                    Some(self.message(text, compressed, data)?)
                } else {
                    None
                }
            }
            _ => {
                let text = h.opcode == 0x1;
                let data = unmasked(payload, key);
                if fin {
                    Some(self.message(text, h.rsv1, data)?)
                } else {
                    self.partial = Some(Partial::new(text, h.rsv1, data)?);
                    None
                }
            }
        })
    }

    /// A complete message's item, inflated first if it came compressed.
    fn message(
        &mut self,
        text: bool,
        compressed: bool,
        data: Vec<u8>,
    ) -> Result<Item, DecodeError> {
        let data = if compressed {
            self.inflate
                .inflate(&data, self.limits.max_message)
                .map_err(|e| match e {
                    InflateError::TooBig => DecodeError::TooBig,
                    InflateError::Invalid => DecodeError::Protocol,
                })?
        } else {
            data
        };
        message(text, data)
    }
}

/// How many wire bytes a message may take: its limit, or for a compressed one
/// its limit plus what deflate can add to data it cannot shrink (up to an
/// eighth, for fixed-Huffman literals; the inflated size is what is held to
/// the limit).
fn wire_limit(max_message: usize, compressed: bool) -> u64 {
    let max = max_message as u64;
    if compressed { max + max / 8 + 64 } else { max }
}

/// A frame's first two to ten bytes.
struct Header {
    fin: bool,
    rsv1: bool,
    opcode: u8,
    len: u64,
    /// Where the masking key starts.
    at: usize,
}

/// Parses a frame header: `Ok(Err(n))` when `buf` has fewer than the `n` bytes
/// the header needs.
fn header(buf: &[u8]) -> Result<Result<Header, usize>, DecodeError> {
    let [b0, b1, ..] = *buf else {
        return Ok(Err(2));
    };
    if b0 & RSV23 != 0 {
        // No extension uses RSV2 or RSV3 (RSV1 is judged with the opcode).
        return Err(DecodeError::Protocol);
    }
    if b1 & MASKED == 0 {
        // RFC 6455 §5.1: a server MUST close on an unmasked client frame.
        return Err(DecodeError::Protocol);
    }
    let (len, at) = match b1 & 0x7F {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(Err(4)),
        },
        127 => match buf.get(2..10) {
            Some(b) => {
                let n = u64::from_be_bytes(b.try_into().map_err(|_| DecodeError::Protocol)?);
                if n >> 63 != 0 {
                    return Err(DecodeError::Protocol);
                }
                (n, 10)
            }
            None => return Ok(Err(10)),
        },
        n => (u64::from(n), 2),
    };
    Ok(Ok(Header {
        fin: b0 & FIN != 0,
        rsv1: b0 & RSV1 != 0,
        opcode: b0 & 0x0F,
        len,
        at,
    }))
}

fn message(text: bool, data: Vec<u8>) -> Result<Item, DecodeError> {
    if text {
        String::from_utf8(data)
            .map(Item::Text)
            .map_err(|_| DecodeError::InvalidUtf8)
    } else {
        Ok(Item::Binary(data))
    }
}

fn close(payload: Vec<u8>) -> Result<Item, DecodeError> {
    match payload.as_slice() {
        [] => Ok(Item::Close(None)),
        [_] => Err(DecodeError::Protocol),
        [hi, lo, reason @ ..] => {
            let code = u16::from_be_bytes([*hi, *lo]);
            // RFC 6455 §7.4: codes a peer may send (1004-1006 and 1015 are reserved
            // for local use; below 1000 and 1016-2999 are unassigned).
            if !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999) {
                return Err(DecodeError::Protocol);
            }
            let reason = std::str::from_utf8(reason).map_err(|_| DecodeError::InvalidUtf8)?;
            Ok(Item::Close(Some((code, reason.to_owned()))))
        }
    }
}

fn unmasked(payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len());
    append_unmasked(&mut out, payload, key);
    out
}

/// Appends `payload` XOR the masking key to `out`, eight bytes at a time.
pub(super) fn append_unmasked(out: &mut Vec<u8>, payload: &[u8], key: [u8; 4]) {
    let start = out.len();
    out.extend_from_slice(payload);
    let data = &mut out[start..];
    let wide = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        chunk.copy_from_slice(&(u64::from_ne_bytes(word) ^ wide).to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        // The remainder starts at a multiple of 8, so the key index restarts at 0.
        *b ^= key[i & 3];
    }
}
