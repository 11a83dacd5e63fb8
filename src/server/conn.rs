//! One accepted connection, served by hyper: the public listener speaks
//! HTTP/1.1 (keep-alive, WebSocket upgrades) and HTTP/2 (h2c with prior
//! knowledge, or `h2` chosen by ALPN over TLS), told apart by the client's
//! first bytes; the management and metrics listeners speak HTTP/1.1 only
//! (boto3, the AWS CLI and Prometheus do).
//!
//! Bounds an HTTP/2 client meets, each with its reason:
//! - [`MAX_STREAMS`] requests at once per connection;
//! - a header block of at most [`MAX_HEAD_BYTES`] (431 over HTTP/1.1; a
//!   refused stream over HTTP/2);
//! - flow-control windows of [`STREAM_WINDOW`] per stream and
//!   [`CONNECTION_WINDOW`] per connection: what a client can make the gateway
//!   buffer before it reads;
//! - hyper's limit on streams a client resets right after opening (the
//!   "rapid reset" attack, CVE-2023-44487).
//!
//! WebSocket upgrades stay on HTTP/1.1 (no RFC 8441 extended CONNECT is
//! offered, so browsers open an HTTP/1.1 connection for them).
//!
//! A plaintext client's protocol is told by [`sniff`], which peeks at its
//! first bytes (HTTP/2's preface, or not) without taking them, so the
//! connection is then served by hyper's HTTP/1 or HTTP/2 server directly.
//! hyper-util's `auto` server, which tells them apart by reading, stays on
//! every read and write of the connection: it cost 0.7 µs of CPU per proxied
//! request (15.9 → 15.2 µs, 100 keep-alive clients) and 5 KiB per idle
//! connection. Over TLS, where ALPN usually says, `auto` still decides.

use std::convert::Infallible;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;
use tracing::debug;

use super::Kind;
use super::head_timer::HeadTimer;
use super::stall::StallGuard;
use super::stream_watch::Watch;
use crate::gateway::Gateway;
use crate::http::peer::Link;
use crate::http::probes;

/// Largest request head (request line + headers) of an upgrade or an HTTP API
/// request; beyond it, 431. AWS allows 4096-character URLs (and 10,240 bytes of
/// head on HTTP APIs); 16 KiB leaves room for cookies and tokens while bounding
/// memory per pending request. (hyper's minimum is 8 KiB.)
pub(super) const MAX_HEAD_BYTES: usize = 16 << 10;

/// Concurrent requests per HTTP/2 connection (nginx's default is 128): each
/// holds at most a body of `max_body_bytes`, so this bounds a connection's
/// memory the way one request per HTTP/1.1 connection does, times this.
const MAX_STREAMS: u32 = 100;
/// HTTP/2 flow-control window per stream: what a client may send before the
/// gateway reads (the protocol's default, 64 KiB).
const STREAM_WINDOW: u32 = 64 << 10;
/// HTTP/2 flow-control window per connection (1 MiB: 16 streams uploading at
/// full speed).
const CONNECTION_WINDOW: u32 = 1 << 20;

/// The HTTP/2 bounds (see the module docs), on either of hyper's builders.
macro_rules! h2_limits {
    ($builder:expr) => {
        $builder
            .timer(TokioTimer::new())
            .max_concurrent_streams(MAX_STREAMS)
            .max_header_list_size(MAX_HEAD_BYTES as u32)
            .initial_stream_window_size(STREAM_WINDOW)
            .initial_connection_window_size(CONNECTION_WINDOW)
    };
}

/// HTTP/2's connection preface (RFC 9113 §3.4): a plaintext client that
/// starts with it speaks h2c with prior knowledge.
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// What a public client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Protocol {
    Http1,
    Http2,
    /// Not known before reading (TLS): hyper-util's `auto` server tells.
    Either,
}

/// A plaintext client's protocol, from its first bytes, peeked (they stay in
/// the socket for the server). The caller bounds the wait.
pub(super) async fn sniff(stream: &TcpStream) -> io::Result<Protocol> {
    let mut buf = [0u8; PREFACE.len()];
    // Only while the bytes so far begin the preface (a client that split it):
    // a peek returns at once while bytes wait, so the wait between peeks grows.
    let mut pause = Duration::from_millis(1);
    loop {
        let n = stream.peek(&mut buf).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if buf[..n] != PREFACE[..n] {
            return Ok(Protocol::Http1);
        }
        if n == PREFACE.len() {
            return Ok(Protocol::Http2);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(100));
    }
}

pub(super) async fn serve_connection<S>(
    stream: S,
    link: Link,
    gw: Arc<Gateway>,
    kind: Kind,
    protocol: Protocol,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (handshake_timeout, max_headers, send_timeout) = {
        let snap = gw.snapshot();
        (
            snap.handshake_timeout,
            snap.admission.max_headers,
            snap.send_timeout,
        )
    };
    // Backends and scrapers read what they asked for; public clients may not.
    let limit = (kind == Kind::Public).then_some(send_timeout).flatten();
    let peer = link.peer;
    // Shared by the connection's requests: one reference count per request.
    let link = Arc::new(link);
    let io = TokioIo::new(StallGuard::new(stream, handshake_timeout, limit));
    let result = match kind {
        Kind::Public => {
            // HTTP/2 answers are watched per stream (`watch`); HTTP/1.1 has one
            // at a time, which the socket's own bound covers.
            let watch = Watch::new(
                (protocol != Protocol::Http1)
                    .then_some(send_timeout)
                    .flatten(),
            );
            let guard = watch.clone();
            let svc = service_fn(move |req: hyper::Request<Incoming>| {
                let gw = Arc::clone(&gw);
                let link = Arc::clone(&link);
                let watch = watch.clone();
                async move {
                    let resp = crate::http::public(gw, req, link).await;
                    Ok::<_, Infallible>(resp.map(|b| watch.wrap(b)))
                }
            });
            match protocol {
                Protocol::Http1 => {
                    let builder = http1_builder(handshake_timeout, max_headers);
                    let conn = builder.serve_connection(io, svc).with_upgrades();
                    conn.await.map_err(Into::into)
                }
                Protocol::Http2 => {
                    let mut builder = http2::Builder::new(TokioExecutor::new());
                    h2_limits!(builder);
                    let conn = builder.serve_connection(io, svc);
                    guard.guard(conn).await.map_err(Into::into)
                }
                Protocol::Either => {
                    let mut builder = auto::Builder::new(TokioExecutor::new());
                    builder
                        .http1()
                        .timer(HeadTimer::default())
                        .header_read_timeout(handshake_timeout)
                        .max_buf_size(MAX_HEAD_BYTES)
                        .max_headers(max_headers);
                    h2_limits!(builder.http2());
                    guard
                        .guard(builder.serve_connection_with_upgrades(io, svc))
                        .await
                }
            }
        }
        Kind::Management => {
            let svc = service_fn(move |req: hyper::Request<Incoming>| {
                let gw = Arc::clone(&gw);
                async move { Ok::<_, Infallible>(crate::dashboard::management(gw, req, peer).await) }
            });
            http1_builder(handshake_timeout, max_headers)
                .serve_connection(io, svc)
                .await
                .map_err(Into::into)
        }
        Kind::Metrics => {
            let svc = service_fn(move |req: hyper::Request<Incoming>| {
                let resp = probes::handle(&gw, &req);
                async move { Ok::<_, Infallible>(resp) }
            });
            http1_builder(handshake_timeout, max_headers)
                .serve_connection(io, svc)
                .await
                .map_err(Into::into)
        }
    };
    if let Err(e) = result {
        debug!(%peer, error = %e, "HTTP connection ended with an error.");
    }
}

fn http1_builder(handshake_timeout: std::time::Duration, max_headers: usize) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(HeadTimer::default())
        .header_read_timeout(handshake_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        // Bounds the parsed header list per request (431 beyond), like the size.
        .max_headers(max_headers);
    builder
}
