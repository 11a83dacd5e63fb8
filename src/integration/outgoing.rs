//! A request as a backend gets it, already in HTTP/1.1's wire form: the
//! request line and header fields written once, straight from what the
//! gateway has, with no `Request`, `Uri` or `HeaderMap` built in between
//! (that took 3,700 of a proxied request's 32,400 instructions).
//!
//! Every byte written is one the `http` crate's types or the client's parsed
//! request already vetted, or is checked here: a target with a space or a
//! control character (which would split the request) is refused.

use std::fmt::Write as _;

use bytes::{BufMut, Bytes, BytesMut};
use http::uri::Authority;
use http::{Method, Request, header};

/// A body up to this size is written with its head in one write.
const INLINE_BODY: usize = 16 << 10;

/// Where a request goes: over TLS (`https://`) or not, and to which
/// `host[:port]`. Backend connections are pooled by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    /// `https://`.
    pub tls: bool,
    /// `host[:port]`.
    pub authority: Authority,
}

impl Origin {
    /// The port: the authority's, else the scheme's.
    pub fn port(&self) -> u16 {
        self.authority
            .port_u16()
            .unwrap_or(if self.tls { 443 } else { 80 })
    }
}

/// A request encoded for its backend.
#[derive(Debug)]
pub struct Outgoing {
    pub(crate) origin: Origin,
    pub(crate) method: Method,
    /// The head, and the body when it is small.
    pub(crate) head: BytesMut,
    /// The body, when too large to copy into `head`.
    pub(crate) rest: Bytes,
}

/// A URI that is not `http[s]://host[:port][/path][?query]`, or that has a
/// character no request line may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadTarget;

impl std::fmt::Display for BadTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the URI names no http:// or https:// host and path")
    }
}

impl Outgoing {
    /// `req` (its URI absolute) encoded. `Host` is the request's, else the
    /// URI's authority; `Content-Length` is the body's (a request's own
    /// framing fields are not sent).
    pub fn from_request(req: Request<Bytes>) -> Result<Outgoing, BadTarget> {
        let uri = req.uri();
        let tls = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => return Err(BadTarget),
        };
        let authority = uri.authority().cloned().ok_or(BadTarget)?;
        let target = uri.path_and_query().map_or("/", |p| p.as_str());
        let mut e = Encoder::new(req.method().clone(), target)?;
        if !req.headers().contains_key(header::HOST) {
            e.field("host", authority.as_str().as_bytes());
        }
        for (name, value) in req.headers() {
            if name != header::CONTENT_LENGTH && name != header::TRANSFER_ENCODING {
                e.field(name.as_str(), value.as_bytes());
            }
        }
        Ok(e.finish(Origin { tls, authority }, req.into_body()))
    }

    /// The head as written (and the body, when small enough to go with it).
    pub fn head(&self) -> &[u8] {
        &self.head
    }
}

/// Writes a request's head.
#[derive(Debug)]
pub struct Encoder {
    method: Method,
    head: BytesMut,
}

impl Encoder {
    /// The request line, for `target` in origin form (`/path?query`).
    pub fn new(method: Method, target: &str) -> Result<Encoder, BadTarget> {
        let target = target.as_bytes();
        // Visible characters only (RFC 9112 §3.2; bytes from 0x80 pass as
        // they came): a space or CR/LF would end the request line early.
        if !target.starts_with(b"/") || target.iter().any(|&b| b <= b' ' || b == 0x7f) {
            return Err(BadTarget);
        }
        let mut head = BytesMut::with_capacity(512);
        head.put_slice(method.as_str().as_bytes());
        head.put_u8(b' ');
        head.put_slice(target);
        head.put_slice(b" HTTP/1.1\r\n");
        Ok(Encoder { method, head })
    }

    /// One header field; `value` is a `HeaderValue`'s bytes (never CR or LF).
    pub fn field(&mut self, name: &str, value: &[u8]) {
        self.field_from(name, &[value]);
    }

    /// One header field whose value is `parts` joined.
    pub fn field_from(&mut self, name: &str, parts: &[&[u8]]) {
        self.head.put_slice(name.as_bytes());
        self.head.put_slice(b": ");
        for p in parts {
            self.head.put_slice(p);
        }
        self.head.put_slice(b"\r\n");
    }

    /// The finished request: `Content-Length` (none on a bodiless GET, HEAD,
    /// DELETE…, `0` where a body is expected, as hyper's client did), then
    /// the body.
    pub fn finish(mut self, origin: Origin, body: Bytes) -> Outgoing {
        let expects_body = matches!(self.method, Method::POST | Method::PUT | Method::PATCH);
        if !body.is_empty() || expects_body {
            let _ = write!(self.head, "content-length: {}\r\n", body.len());
        }
        self.head.put_slice(b"\r\n");
        let rest = if body.len() <= INLINE_BODY {
            self.head.put_slice(&body);
            Bytes::new()
        } else {
            body
        };
        Outgoing {
            origin,
            method: self.method,
            head: self.head,
            rest,
        }
    }
}

/// `http[s]://authority/path?query` split into where it goes and its target
/// (`/` when it has no path).
pub fn split_target(uri: &str) -> Result<(Origin, std::borrow::Cow<'_, str>), BadTarget> {
    let (tls, rest) = match uri.strip_prefix("http://") {
        Some(rest) => (false, rest),
        None => (true, uri.strip_prefix("https://").ok_or(BadTarget)?),
    };
    let at = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = Authority::try_from(&rest[..at]).map_err(|_| BadTarget)?;
    let target = match &rest[at..] {
        "" => "/".into(),
        t if t.starts_with('?') => format!("/{t}").into(),
        t => t.into(),
    };
    Ok((Origin { tls, authority }, target))
}

#[cfg(test)]
#[path = "outgoing_tests.rs"]
mod tests;
