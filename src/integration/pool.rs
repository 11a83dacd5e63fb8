//! Keep-alive HTTP/1.1 connections to backends, one idle list per host.
//!
//! Each connection is hyper's HTTP/1 client connection, driven by a task of
//! its own; a call takes an idle one (or opens one), sends its request and
//! gets the connection back into the idle list when the answer's body has
//! been read to its end. A body dropped before its end takes its connection
//! with it: the rest of that answer would otherwise be read by the next call.
//!
//! Why not hyper-util's pooled client, which did this before: it spawns a
//! task per request to wait for the connection to be ready again, formats the
//! `Host` header per request and keys its pool by scheme and authority behind
//! a future per checkout. On this machine's proxy benchmark (100 keep-alive
//! clients, a bare hyper proxy either way) it served 81,000 requests/s at
//! 12.6 µs of CPU each; this pool served 91,500 at 10.8 µs.
//!
//! Each connection keeps an [`Alarm`] that bounds the wait for each answer's
//! head, so a call's timeout costs no timer of its own.
//!
//! Bounds, each from `[integrations]`:
//! - calls in flight across the node (`max_inflight`): a semaphore, whose
//!   slot a call holds until its answer's body ends or is dropped. It bounds
//!   backend sockets (file descriptors are finite: 20,000 on the reference
//!   machine) and the memory pinned by calls; a call waits for a slot within
//!   its caller's timeout, so overload shows as integration timeouts, not as
//!   a queue;
//! - idle connections per host (`pool_max_idle_per_host`), and in all
//!   `max_inflight`: the node never needs more idle connections than calls it
//!   may make at once, and an integration URI with a parameter in its host
//!   must not make the pool hold a connection per host a client names;
//! - idle time (`pool_idle_timeout`): checked when a connection is taken, and
//!   by [`Pool::sweep`] from the gateway's upkeep; a connection the backend
//!   closed is dropped at once.
//!
//! Concurrency: the idle lists sit behind one `std` mutex, held only to push
//! or pop (never across an await), so contention is a few instructions per
//! call.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};
use tokio::time::Instant;

use bytes::Bytes;
use fnv::FnvBuildHasher;
use http::uri::Authority;
use http::{HeaderValue, Request, Response, Uri, header};
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tracing::debug;

use crate::alarm::Alarm;
use crate::clock;
use crate::config::ClientConfig;

type Sender = SendRequest<Full<Bytes>>;

/// Backend connections kept alive between calls.
#[derive(Debug)]
pub struct Pool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    idle: Mutex<IdleLists>,
    permits: Arc<Semaphore>,
    connect_timeout: Duration,
    idle_timeout: Duration,
    max_idle_per_host: usize,
    max_idle: usize,
}

/// Idle connections by host, and how many in all.
///
/// Hashed with FNV, not std's SipHash: `Authority` hashes byte by byte, and
/// FNV took 3.6 % off a proxied request's instructions (callgrind). SipHash
/// resists crafted collisions; here the map holds at most `max_inflight`
/// hosts, so collisions cannot grow it.
#[derive(Debug, Default)]
struct IdleLists {
    by_host: HashMap<Authority, Vec<Idle>, FnvBuildHasher>,
    count: usize,
}

#[derive(Debug)]
struct Idle {
    conn: Conn,
    since: Instant,
}

/// One backend connection: its request sender (hyper's task drives the
/// connection itself) and the alarm that bounds its calls.
#[derive(Debug)]
struct Conn {
    sender: Sender,
    alarm: Alarm,
}

/// Why a request got no answer.
#[derive(Debug)]
pub enum SendError {
    /// The URI names no `http://` host.
    BadUri,
    /// The pool is gone (the gateway is shutting down).
    Closed,
    /// No connection within the connect timeout, or it was refused.
    Connect(std::io::Error),
    /// The connection failed before the answer's head arrived.
    Http(hyper::Error),
    /// No answer's head by the call's deadline.
    Timeout,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::BadUri => f.write_str("the URI names no http:// host"),
            SendError::Closed => f.write_str("the client is closed"),
            SendError::Connect(e) => write!(f, "cannot connect: {e}"),
            SendError::Http(e) => write!(f, "request failed: {e}"),
            SendError::Timeout => f.write_str("no answer within the timeout"),
        }
    }
}

impl Pool {
    /// An empty pool with `[integrations]`'s bounds.
    pub fn new(cfg: &ClientConfig) -> Pool {
        let inner = Inner {
            idle: Mutex::new(IdleLists::default()),
            permits: Arc::new(Semaphore::new(cfg.max_inflight)),
            connect_timeout: cfg.connect_timeout,
            idle_timeout: cfg.pool_idle_timeout,
            max_idle_per_host: cfg.pool_max_idle_per_host,
            max_idle: cfg.max_inflight,
        };
        Pool {
            inner: Arc::new(inner),
        }
    }

    /// Sends `req` (its URI absolute, `http://host[:port]/…`) once an
    /// in-flight slot is free, and returns the answer once its head is in,
    /// all by `deadline`. A request a pooled connection could not take (the
    /// backend had just closed it) is sent again on a new one.
    pub async fn send(
        &self,
        mut req: Request<Full<Bytes>>,
        deadline: Instant,
    ) -> Result<Response<Pooled>, SendError> {
        let authority = origin_form(&mut req)?;
        let permit = match Arc::clone(&self.inner.permits).try_acquire_owned() {
            Ok(p) => p,
            Err(TryAcquireError::Closed) => return Err(SendError::Closed),
            // Every slot taken: a wait (rare) with a timer of its own.
            Err(TryAcquireError::NoPermits) => {
                let slot = Arc::clone(&self.inner.permits).acquire_owned();
                tokio::time::timeout_at(deadline, slot)
                    .await
                    .map_err(|_| SendError::Timeout)?
                    .map_err(|_| SendError::Closed)?
            }
        };
        let mut conn = match self.inner.take(&authority) {
            Some(c) => c,
            None => self.inner.connect_by(&authority, deadline).await?,
        };
        if !conn.sender.is_ready() {
            // Given back as its answer ended, its task may not have caught
            // up yet; a connection not ready within the connect timeout (and
            // the call's deadline) is replaced.
            let by = deadline.min(clock::now() + self.inner.connect_timeout);
            let ready = tokio::time::timeout_at(by, conn.sender.ready()).await;
            if !matches!(ready, Ok(Ok(()))) {
                conn = self.inner.connect_by(&authority, deadline).await?;
            }
        }
        let sent = conn.sender.try_send_request(req);
        let answer = match conn.alarm.bound(deadline, sent).await {
            None => return Err(SendError::Timeout),
            Some(Ok(resp)) => Ok(resp),
            // Handed back unsent: the connection closed before taking it.
            Some(Err(mut e)) => match e.take_message() {
                Some(req) => {
                    conn = self.inner.connect_by(&authority, deadline).await?;
                    let sent = conn.sender.send_request(req);
                    conn.alarm
                        .bound(deadline, sent)
                        .await
                        .ok_or(SendError::Timeout)?
                }
                None => Err(e.into_error()),
            },
        };
        let resp = answer.map_err(SendError::Http)?;
        let lease = Lease {
            pool: Arc::clone(&self.inner),
            authority,
            conn,
        };
        Ok(resp.map(|body| Pooled {
            body,
            lease: Some(lease),
            _permit: permit,
        }))
    }

    /// Drops the connections idle for longer than the idle timeout.
    pub fn sweep(&self) {
        let now = clock::now();
        let mut idle = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner());
        let IdleLists { by_host, count } = &mut *idle;
        by_host.retain(|_, list| {
            let before = list.len();
            list.retain(|c| self.inner.fresh(c, now));
            *count -= before - list.len();
            !list.is_empty()
        });
    }
}

impl Inner {
    fn fresh(&self, c: &Idle, now: Instant) -> bool {
        !c.conn.sender.is_closed() && now.duration_since(c.since) < self.idle_timeout
    }

    /// The most recently idled live connection to `authority`, if any.
    fn take(&self, authority: &Authority) -> Option<Conn> {
        let now = clock::now();
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let IdleLists { by_host, count } = &mut *idle;
        let list = by_host.get_mut(authority)?;
        while let Some(c) = list.pop() {
            *count -= 1;
            if self.fresh(&c, now) {
                return Some(c.conn);
            }
        }
        None
    }

    fn put(&self, authority: Authority, conn: Conn) {
        if conn.sender.is_closed() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.count >= self.max_idle {
            return;
        }
        let list = idle.by_host.entry(authority).or_default();
        if list.len() < self.max_idle_per_host {
            let since = clock::now();
            list.push(Idle { conn, since });
            idle.count += 1;
        }
    }

    /// A new connection, by `deadline`. Boxed: connecting (a DNS lookup, a
    /// handshake) is rare, and would otherwise make every call's future the
    /// bigger for it.
    async fn connect_by(
        &self,
        authority: &Authority,
        deadline: Instant,
    ) -> Result<Conn, SendError> {
        let connect = Box::pin(self.connect(authority));
        let sender = tokio::time::timeout_at(deadline, connect)
            .await
            .map_err(|_| SendError::Timeout)??;
        let alarm = Alarm::new(deadline);
        Ok(Conn { sender, alarm })
    }

    async fn connect(&self, authority: &Authority) -> Result<Sender, SendError> {
        let port = authority.port_u16().unwrap_or(80);
        let host = authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let connect = tokio::net::TcpStream::connect((host, port));
        let stream = tokio::time::timeout(self.connect_timeout, connect)
            .await
            .map_err(|_| SendError::Connect(std::io::ErrorKind::TimedOut.into()))?
            .map_err(SendError::Connect)?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(SendError::Http)?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                debug!(error = %e, "Backend connection failed.");
            }
        });
        Ok(sender)
    }
}

/// Turns `http://host/path?q` into `/path?q` with `Host: host` (unless the
/// request names one), as a client sends it to an origin server.
fn origin_form(req: &mut Request<Full<Bytes>>) -> Result<Authority, SendError> {
    let uri = req.uri();
    if uri.scheme_str() != Some("http") {
        return Err(SendError::BadUri);
    }
    let authority = uri.authority().cloned().ok_or(SendError::BadUri)?;
    let path = uri.path_and_query().cloned();
    if !req.headers().contains_key(header::HOST) {
        let host = HeaderValue::from_str(authority.as_str()).map_err(|_| SendError::BadUri)?;
        req.headers_mut().insert(header::HOST, host);
    }
    let mut parts = http::uri::Parts::default();
    parts.path_and_query = Some(path.unwrap_or_else(|| http::uri::PathAndQuery::from_static("/")));
    *req.uri_mut() = Uri::from_parts(parts).map_err(|_| SendError::BadUri)?;
    Ok(authority)
}

/// A connection on loan to one answer; back to the pool when its body ends.
#[derive(Debug)]
struct Lease {
    pool: Arc<Inner>,
    authority: Authority,
    conn: Conn,
}

/// An answer's body, passed on frame by frame as its reader asks: hyper's
/// server polls it only when the client's socket takes more, so a slow
/// reader slows the backend (TCP backpressure) instead of growing a buffer.
/// It gives its connection back once read to its end, and holds its call's
/// in-flight slot until it is dropped.
#[derive(Debug)]
pub struct Pooled {
    body: Incoming,
    lease: Option<Lease>,
    _permit: OwnedSemaphorePermit,
}

impl Pooled {
    fn release(&mut self) {
        if let Some(l) = self.lease.take() {
            l.pool.put(l.authority, l.conn);
        }
    }
}

impl Body for Pooled {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            self.release();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        // Read to its end (a reader may stop at `is_end_stream` without
        // polling for the end): the connection is free for the next call.
        if self.body.is_end_stream() {
            self.release();
        }
    }
}
