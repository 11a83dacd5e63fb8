//! One keep-alive HTTP/1.1 connection to a backend, driven by the call that
//! uses it: the request written whole, the answer's head read and parsed
//! (`httparse`, as hyper does), its body read as the caller asks (framing in
//! [`super::framing`]).
//!
//! Why not hyper's client connection, which did this before: it needs a task
//! of its own per connection, and every call crossed to it and back through
//! channels. A proxied request made three extra task polls and 11,100 of its
//! 38,600 instructions there (callgrind, 20 keep-alive clients). Requests
//! here are whole (`Bytes`), so only answers stream.
//!
//! Bounds against a backend: an answer head of at most [`MAX_HEAD`] bytes and
//! [`MAX_HEADERS`] fields; body bytes are read as the client takes them, into a
//! buffer of [`READ_CHUNK`] at a time.

use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use http::{HeaderName, HeaderValue, Method, Response, StatusCode, Version, header};
use smallvec::SmallVec;
use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_util::either::Either;

use super::framing::{Framing, Step};

/// Largest answer head (status line and fields): hyper's client allowed
/// about 400 KiB; 64 KiB is eight times nginx's default proxy buffer.
const MAX_HEAD: usize = 64 << 10;
/// Most header fields in an answer (hyper's client default).
const MAX_HEADERS: usize = 100;
/// Room made in the read buffer before each read (hyper's buffer size):
/// what one read of a streamed answer can hold.
const READ_CHUNK: usize = 8 << 10;

/// An open connection and the bytes read from it but not yet used.
#[derive(Debug)]
pub(crate) struct Wire {
    stream: Stream,
    buf: BytesMut,
}

/// A backend connection's transport: plain TCP, or TLS over it. TLS's
/// state (about 1 KiB with its buffers) is boxed so a plain connection does
/// not carry its size.
pub(crate) type Stream = Either<TcpStream, Box<TlsStream<TcpStream>>>;

/// Why an exchange failed.
#[derive(Debug)]
pub enum WireError {
    /// Writing the request failed.
    Unsent(io::Error),
    /// Reading the answer failed.
    Io {
        /// Why.
        error: io::Error,
        /// Some of the answer had arrived.
        answered: bool,
    },
    /// The backend closed before a whole head.
    Closed {
        /// Some of the answer had arrived.
        answered: bool,
    },
    /// The head is not HTTP/1.x, too large, or its framing is invalid.
    Malformed(&'static str),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Unsent(error) | WireError::Io { error, .. } => {
                write!(f, "connection failed: {error}")
            }
            WireError::Closed { .. } => f.write_str("the backend closed the connection"),
            WireError::Malformed(why) => write!(f, "malformed answer: {why}"),
        }
    }
}

impl WireError {
    /// Whether the backend may never have seen the request: a kept-alive
    /// connection it closed as the request went out.
    pub(crate) fn unanswered(&self) -> bool {
        matches!(
            self,
            WireError::Unsent(_)
                | WireError::Io {
                    answered: false,
                    ..
                }
                | WireError::Closed { answered: false }
        )
    }

    /// Whether writing the request failed (a backend that closed its end
    /// cannot have read it).
    pub(crate) fn unsent(&self) -> bool {
        matches!(self, WireError::Unsent(_))
    }
}

/// An answer's head, and how its body is framed.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) response: Response<()>,
    pub(crate) framing: Framing,
    /// The connection may carry another request once the body is read.
    pub(crate) reusable: bool,
}

impl Wire {
    /// A connected transport.
    pub(crate) fn new(stream: Stream) -> Wire {
        Wire {
            stream,
            buf: BytesMut::new(),
        }
    }

    /// Whether an idle connection can still carry a request: the backend
    /// has neither closed it nor sent anything unasked. Costs no system call
    /// unless the socket was reported readable.
    pub(crate) fn idle_ok(&mut self) -> bool {
        if !self.buf.is_empty() {
            return false;
        }
        let mut cx = Context::from_waker(Waker::noop());
        let socket = match &self.stream {
            Either::Left(s) => s,
            Either::Right(s) => s.get_ref().0,
        };
        match socket.poll_read_ready(&mut cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            // Readable: a close, unasked bytes, or readiness not yet cleared.
            Poll::Ready(Ok(())) => match &mut self.stream {
                Either::Left(s) => {
                    let mut probe = [0u8; 1];
                    matches!(s.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
                }
                // The bytes may be TLS's own (a TLS 1.3 session ticket): read
                // through TLS, which takes those; only a close or data fails.
                Either::Right(s) => {
                    let mut probe = [0u8; 1];
                    let mut buf = ReadBuf::new(&mut probe);
                    Pin::new(&mut **s).poll_read(&mut cx, &mut buf).is_pending()
                }
            },
        }
    }

    /// Writes an encoded request (see [`super::outgoing`]): its head, then
    /// the body when it did not go with the head.
    pub(crate) async fn send(&mut self, head: &[u8], body: &[u8]) -> Result<(), WireError> {
        self.stream
            .write_all(head)
            .await
            .map_err(WireError::Unsent)?;
        if !body.is_empty() {
            self.stream
                .write_all(body)
                .await
                .map_err(WireError::Unsent)?;
        }
        // TLS holds what it encrypted until flushed (a socket holds nothing).
        self.stream.flush().await.map_err(WireError::Unsent)?;
        Ok(())
    }

    /// Reads the answer's head (informational answers skipped).
    pub(crate) async fn read_head(&mut self, method: &Method) -> Result<Head, WireError> {
        let mut answered = false;
        loop {
            if let Some(head) = parse_head(&mut self.buf, method)? {
                return Ok(head);
            }
            if self.buf.len() >= MAX_HEAD {
                return Err(WireError::Malformed("head too large"));
            }
            let n = std::future::poll_fn(|cx| self.poll_fill(cx))
                .await
                .map_err(|error| WireError::Io { error, answered })?;
            if n == 0 {
                return Err(WireError::Closed { answered });
            }
            answered = true;
        }
    }

    /// The next piece of the body, as `framing` delimits it.
    pub(crate) fn poll_body(
        &mut self,
        framing: &mut Framing,
        cx: &mut Context<'_>,
    ) -> Poll<Option<io::Result<Bytes>>> {
        let mut eof = false;
        loop {
            match framing.step(&mut self.buf, eof) {
                Ok(Step::Data(b)) => return Poll::Ready(Some(Ok(b))),
                Ok(Step::End) => return Poll::Ready(None),
                Err(e) => {
                    return Poll::Ready(Some(Err(io::Error::new(io::ErrorKind::InvalidData, e.0))));
                }
                // Framing never asks for more at the end; if it did, the
                // body is cut short (an error, not a panic on a client's task).
                Ok(Step::More) if eof => {
                    return Poll::Ready(Some(Err(io::ErrorKind::UnexpectedEof.into())));
                }
                Ok(Step::More) => match self.poll_fill(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => return Poll::Ready(Some(Err(e))),
                    Poll::Ready(Ok(n)) => eof = n == 0,
                },
            }
        }
    }

    /// Whether every byte read has been used (else the connection is not reused).
    pub(crate) fn drained(&self) -> bool {
        self.buf.is_empty()
    }

    /// Reads what the socket has into the buffer; `Ok(0)` at its end. A read
    /// shorter than the room given clears the socket's readiness, so an idle
    /// check after it costs no system call.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        self.buf.reserve(READ_CHUNK);
        tokio_util::io::poll_read_buf(Pin::new(&mut self.stream), cx, &mut self.buf)
    }
}

/// Parses a whole head off the front of `buf`, if one is there.
fn parse_head(buf: &mut BytesMut, method: &Method) -> Result<Option<Head>, WireError> {
    loop {
        // Uninitialised slots: zeroing 100 of them cost 3,200 instructions a call.
        let mut fields = [const { MaybeUninit::uninit() }; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut []);
        let parsing = httparse::ParserConfig::default();
        let len = match parsing.parse_response_with_uninit_headers(&mut parsed, buf, &mut fields) {
            Ok(httparse::Status::Complete(len)) => len,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(WireError::Malformed("too many header fields"));
            }
            Err(_) => return Err(BAD_HEAD),
        };
        let status = StatusCode::from_u16(parsed.code.unwrap_or(0)).map_err(|_| BAD_HEAD)?;
        if status == StatusCode::SWITCHING_PROTOCOLS {
            // No request here asks to switch protocols.
            return Err(WireError::Malformed("unasked protocol switch"));
        }
        if status.is_informational() {
            // 100 Continue, 103 Early Hints: the answer follows.
            let _ = buf.split_to(len);
            continue;
        }
        let version = match parsed.version {
            Some(1) => Version::HTTP_11,
            _ => Version::HTTP_10,
        };
        // Where each field lies in the head, so its value can share the
        // head's bytes instead of a copy each.
        let base = buf.as_ptr() as usize;
        let at = |s: &[u8]| s.as_ptr() as usize - base;
        let spans: SmallVec<[Span; 16]> = parsed
            .headers
            .iter()
            .map(|f| Span {
                name: at(f.name.as_bytes())..at(f.name.as_bytes()) + f.name.len(),
                value: at(f.value)..at(f.value) + f.value.len(),
            })
            .collect();
        let head = buf.split_to(len).freeze();
        let mut response = Response::new(());
        *response.status_mut() = status;
        *response.version_mut() = version;
        let mut close = version == Version::HTTP_10;
        let headers = response.headers_mut();
        // Room for the fields the gateway adds (its request id, CORS):
        // growing the map later rehashes it.
        headers.reserve(spans.len() + 4);
        for span in spans {
            let name = HeaderName::from_bytes(&head[span.name]).map_err(|_| BAD_HEAD)?;
            let value =
                HeaderValue::from_maybe_shared(head.slice(span.value)).map_err(|_| BAD_HEAD)?;
            if name == header::CONNECTION {
                close |= has_token(&value, "close");
            }
            headers.append(name, value);
        }
        let (framing, reusable) = Framing::of(status, method == Method::HEAD, headers)
            .map_err(|e| WireError::Malformed(e.0))?;
        // RFC 9112 §6.3: with Transfer-Encoding, a Content-Length beside it
        // is wrong, and is removed before the answer is passed on (the
        // client would otherwise frame the body by it).
        if headers.contains_key(header::TRANSFER_ENCODING) {
            headers.remove(header::CONTENT_LENGTH);
        }
        return Ok(Some(Head {
            response,
            framing,
            reusable: reusable && !close,
        }));
    }
}

/// Where a header field's name and value lie in its head.
struct Span {
    name: std::ops::Range<usize>,
    value: std::ops::Range<usize>,
}

const BAD_HEAD: WireError = WireError::Malformed("invalid head");

/// Whether a comma-separated header value lists `token`.
fn has_token(value: &HeaderValue, token: &str) -> bool {
    value
        .to_str()
        .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
