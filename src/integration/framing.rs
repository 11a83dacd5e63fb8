//! Where a backend's HTTP/1.1 answer body ends (RFC 9112 §6.3), and the body
//! cut out of the bytes read so far: a fixed length, chunks, or everything
//! until the backend closes. Pure: it sees bytes, never a socket.
//!
//! Bounds, each against a backend that sends without end: a chunk-size line
//! of at most [`MAX_LINE`] bytes (its extensions included), trailers of at
//! most [`MAX_TRAILERS`] bytes in all. Chunk data is passed on as it comes,
//! never gathered.

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, StatusCode, header};

/// Longest chunk-size line (`1a2b;ext=value\r\n`). Sizes need 16 hex digits;
/// the rest is for extensions, which are skipped.
const MAX_LINE: usize = 1024;
/// Trailer section size (the trailers are read and dropped, as AWS does).
const MAX_TRAILERS: usize = 16 << 10;

/// How the rest of an answer's body is delimited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Framing {
    /// This many bytes still to come.
    Length(u64),
    /// `Transfer-Encoding: chunked`, in the given state.
    Chunked(Chunk),
    /// Until the backend closes the connection.
    UntilClose,
    /// Read to its end.
    Done,
}

/// Where a chunked body is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk {
    /// Before a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// After a chunk's data: its CRLF.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one, and how many
    /// bytes of them so far.
    Trailers(usize),
}

/// What one step over the bytes read found.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Body bytes to pass on.
    Data(Bytes),
    /// More bytes are needed.
    More,
    /// The body is complete.
    End,
}

/// An answer whose framing cannot be trusted (the connection is dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid(pub &'static str);

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl Framing {
    /// The framing of an answer with `status` to a request (`head`: a HEAD
    /// request), and whether its connection may carry another request once
    /// the body is read (both `Transfer-Encoding` and `Content-Length` mean
    /// an answer a smuggler may have shaped: read by the first, never reused).
    pub fn of(
        status: StatusCode,
        head: bool,
        headers: &HeaderMap,
    ) -> Result<(Framing, bool), Invalid> {
        if head || status == StatusCode::NO_CONTENT || status == StatusCode::NOT_MODIFIED {
            return Ok((Framing::Done, true));
        }
        let length = headers.get_all(header::CONTENT_LENGTH);
        if let Some(te) = headers
            .get_all(header::TRANSFER_ENCODING)
            .iter()
            .next_back()
        {
            let chunked = te
                .to_str()
                .ok()
                .and_then(|v| v.rsplit(',').next())
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
            let reuse = length.iter().next().is_none();
            return Ok(if chunked {
                (Framing::Chunked(Chunk::Size), reuse)
            } else {
                (Framing::UntilClose, false)
            });
        }
        let mut n = None;
        for v in length {
            // `Content-Length: 5, 5` and repeated equal values are one length.
            for part in v.to_str().map_err(|_| BAD_LENGTH)?.split(',') {
                let part = part.trim();
                if part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(BAD_LENGTH);
                }
                let len: u64 = part.parse().map_err(|_| BAD_LENGTH)?;
                if n.is_some_and(|m| m != len) {
                    return Err(BAD_LENGTH);
                }
                n = Some(len);
            }
        }
        Ok(match n {
            Some(0) => (Framing::Done, true),
            Some(len) => (Framing::Length(len), true),
            None => (Framing::UntilClose, false),
        })
    }

    /// The next step over `buf` (body bytes are taken out of it); `eof`: the
    /// backend has closed and `buf` is all there will be.
    pub fn step(&mut self, buf: &mut BytesMut, eof: bool) -> Result<Step, Invalid> {
        loop {
            match self {
                Framing::Done => return Ok(Step::End),
                Framing::Length(left) => {
                    if buf.is_empty() {
                        return if eof { Err(CUT_SHORT) } else { Ok(Step::More) };
                    }
                    let n = (*left).min(buf.len() as u64);
                    *left -= n;
                    if *left == 0 {
                        *self = Framing::Done;
                    }
                    return Ok(Step::Data(buf.split_to(n as usize).freeze()));
                }
                Framing::UntilClose => {
                    if !buf.is_empty() {
                        return Ok(Step::Data(buf.split().freeze()));
                    }
                    if eof {
                        *self = Framing::Done;
                        continue;
                    }
                    return Ok(Step::More);
                }
                Framing::Chunked(chunk) => match chunked(chunk, buf)? {
                    Some(Step::End) => *self = Framing::Done,
                    Some(step) => return Ok(step),
                    None if eof => return Err(CUT_SHORT),
                    None => return Ok(Step::More),
                },
            }
        }
    }
}

const BAD_LENGTH: Invalid = Invalid("invalid Content-Length");
const CUT_SHORT: Invalid = Invalid("the backend closed before the body's end");

/// One step of a chunked body; `None`: more bytes are needed.
fn chunked(chunk: &mut Chunk, buf: &mut BytesMut) -> Result<Option<Step>, Invalid> {
    loop {
        match chunk {
            Chunk::Size => {
                let Some(line) = take_line(buf, MAX_LINE)? else {
                    return Ok(None);
                };
                let size = chunk_size(&line)?;
                *chunk = if size == 0 {
                    Chunk::Trailers(0)
                } else {
                    Chunk::Data(size)
                };
            }
            Chunk::Data(left) => {
                if buf.is_empty() {
                    return Ok(None);
                }
                let n = (*left).min(buf.len() as u64);
                *left -= n;
                if *left == 0 {
                    *chunk = Chunk::DataEnd;
                }
                return Ok(Some(Step::Data(buf.split_to(n as usize).freeze())));
            }
            Chunk::DataEnd => {
                if buf.len() < 2 {
                    return Ok(None);
                }
                if &buf[..2] != b"\r\n" {
                    return Err(Invalid("a chunk did not end with CRLF"));
                }
                buf.advance(2);
                *chunk = Chunk::Size;
            }
            Chunk::Trailers(seen) => {
                let room = MAX_TRAILERS.saturating_sub(*seen);
                let Some(line) = take_line(buf, room)? else {
                    return Ok(None);
                };
                if line.is_empty() {
                    return Ok(Some(Step::End));
                }
                *seen += line.len() + 2;
            }
        }
    }
}

/// The next CRLF-ended line (without its CRLF), if a whole one is in `buf`
/// within `max` bytes.
fn take_line(buf: &mut BytesMut, max: usize) -> Result<Option<BytesMut>, Invalid> {
    match buf.iter().position(|&b| b == b'\n') {
        Some(at) if at <= max => {
            let mut line = buf.split_to(at + 1);
            line.truncate(at);
            if line.last() == Some(&b'\r') {
                line.truncate(at - 1);
            }
            Ok(Some(line))
        }
        Some(_) => Err(LONG_LINE),
        None if buf.len() > max => Err(LONG_LINE),
        None => Ok(None),
    }
}

const LONG_LINE: Invalid = Invalid("a chunk-size line or the trailers are too long");

/// A chunk-size line's size (hex, extensions after `;` ignored).
fn chunk_size(line: &[u8]) -> Result<u64, Invalid> {
    const BAD: Invalid = Invalid("invalid chunk size");
    let end = line.iter().position(|&b| b == b';').unwrap_or(line.len());
    let digits = line[..end].trim_ascii();
    if digits.is_empty() || digits.len() > 16 || !digits.iter().all(u8::is_ascii_hexdigit) {
        return Err(BAD);
    }
    let text = std::str::from_utf8(digits).map_err(|_| BAD)?;
    u64::from_str_radix(text, 16).map_err(|_| BAD)
}

#[cfg(test)]
#[path = "framing_tests.rs"]
mod tests;
