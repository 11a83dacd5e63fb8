//! Keep-alive HTTP/1.1 connections to backends, plain or over TLS, one idle
//! list per origin (scheme, host and port).
//!
//! Each connection is a [`Wire`], driven by the call using it (no task of its
//! own); a call takes an idle one (or opens one), sends its request and gets
//! the connection back into the idle list when the answer's body has been
//! read to its end. A body dropped before its end takes its connection with
//! it: the rest of that answer would otherwise be read by the next call.
//!
//! A kept-alive connection the backend closed just as a request went out
//! fails with no answer at all; such a request is sent again on a new
//! connection when the backend cannot have acted on it (writing it failed: the
//! backend had closed its end), or when its method is idempotent (RFC 9110
//! §9.2.2), as Go's client does.
//!
//! Why not hyper-util's pooled client, which served before hyper's bare
//! connections did: it spawns a task per request to wait for the connection
//! to be ready again, formats the `Host` header per request and keys its pool
//! by scheme and authority behind a future per checkout. On this machine's
//! proxy benchmark (100 keep-alive clients, a bare hyper proxy either way) it
//! served 81,000 requests/s at 12.6 µs of CPU each; a pool of hyper's
//! connections served 91,500 at 10.8 µs. (Why not hyper's connections: see
//! [`super::wire`].)
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
use http::{Request, Response};
use hyper::body::{Body, Frame, SizeHint};

use super::framing::Framing;
use super::outgoing::{Origin, Outgoing};
use super::share::Claim;
pub use super::wire::WireError;
use super::wire::{Head, Wire};
use crate::alarm::Alarm;
use crate::clock;
use crate::config::ClientConfig;
use crate::telemetry::LogLimit;
use crate::tls::client::{self as tls, ClientTls};
use tokio_util::either::Either;
use tracing::warn;

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
    /// TLS to `https://` origins (`[integrations.tls]`), or why it could
    /// not be set up (every `https://` call then fails with that reason).
    tls: Result<ClientTls, String>,
}

/// Idle connections by host, and how many in all.
///
/// Hashed with FNV, not std's SipHash: `Authority` hashes byte by byte, and
/// FNV took 3.6 % off a proxied request's instructions (callgrind). SipHash
/// resists crafted collisions; here the map holds at most `max_inflight`
/// hosts, so collisions cannot grow it.
#[derive(Debug, Default)]
struct IdleLists {
    by_host: HashMap<Origin, Vec<Idle>, FnvBuildHasher>,
    count: usize,
}

#[derive(Debug)]
struct Idle {
    conn: Box<Conn>,
    since: Instant,
}

/// One backend connection and the alarm that bounds its calls. Boxed where
/// it is kept: an answer's body holds it, and a response is moved whole
/// several times on its way out.
#[derive(Debug)]
struct Conn {
    wire: Wire,
    alarm: Alarm,
}

/// Why a request got no answer.
#[derive(Debug)]
pub enum SendError {
    /// The URI names no `http://` or `https://` host.
    BadUri,
    /// The pool is gone (the gateway is shutting down).
    Closed,
    /// No connection within the connect timeout, or it was refused.
    Connect(std::io::Error),
    /// The connection failed, or the answer's head was malformed.
    Http(WireError),
    /// The TLS handshake failed (the reason in an operator's words).
    Tls(String),
    /// No answer's head by the call's deadline.
    Timeout,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::BadUri => f.write_str("the URI names no http:// or https:// host"),
            SendError::Closed => f.write_str("the client is closed"),
            SendError::Connect(e) => write!(f, "cannot connect: {e}"),
            SendError::Http(e) => write!(f, "request failed: {e}"),
            SendError::Tls(why) => write!(f, "TLS handshake failed: {why}"),
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
            tls: ClientTls::load(&cfg.tls),
        };
        if let Err(why) = &inner.tls {
            tracing::error!(reason = %why, "TLS to backends cannot be set up; https:// calls will fail.");
        }
        if !cfg.tls.verify {
            warn!(
                "integrations.tls.verify = false: backend certificates and host names are NOT checked. \
                 Anyone on the path can read and change backend traffic; use this only locally."
            );
        }
        Pool {
            inner: Arc::new(inner),
        }
    }

    /// Sends `req` (its URI absolute, `http://host[:port]/…`) once an
    /// in-flight slot is free, and returns the answer once its head is in,
    /// all by `deadline`. A request a kept-alive connection could not take
    /// (see the module docs) is sent again on a new one.
    pub async fn send(
        &self,
        req: Request<Bytes>,
        deadline: Instant,
        claim: Option<Claim>,
    ) -> Result<Response<Pooled>, SendError> {
        let req = Outgoing::from_request(req).map_err(|_| SendError::BadUri)?;
        self.send_encoded(req, deadline, claim).await
    }

    /// Sends an encoded request, as [`Pool::send`] does; the answer's body
    /// holds `claim` (its client's fair share) with its in-flight slot.
    pub async fn send_encoded(
        &self,
        req: Outgoing,
        deadline: Instant,
        claim: Option<Claim>,
    ) -> Result<Response<Pooled>, SendError> {
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
        let Outgoing {
            origin,
            method,
            head,
            rest,
        } = req;
        let (mut conn, reused) = match self.inner.take(&origin) {
            Some(c) => (c, true),
            None => (self.inner.connect_by(&origin, deadline).await?, false),
        };
        let mut answer = conn.exchange(&head, &rest, &method, deadline).await;
        if let Err(SendError::Http(e)) = &answer
            && reused
            && e.unanswered()
            && (e.unsent() || method.is_idempotent())
        {
            conn = self.inner.connect_by(&origin, deadline).await?;
            answer = conn.exchange(&head, &rest, &method, deadline).await;
        }
        let Head {
            response,
            framing,
            reusable,
        } = answer?;
        let lease = Lease {
            pool: Arc::clone(&self.inner),
            origin,
            conn,
            reusable,
        };
        Ok(response.map(|()| Pooled {
            framing,
            lease: Some(lease),
            _permit: permit,
            _claim: claim,
        }))
    }

    /// Drops the connections idle for longer than the idle timeout.
    pub fn sweep(&self) {
        let now = clock::now();
        let mut idle = self.inner.idle.lock().unwrap_or_else(|e| e.into_inner());
        let IdleLists { by_host, count } = &mut *idle;
        by_host.retain(|_, list| {
            let before = list.len();
            list.retain_mut(|c| self.inner.fresh(c, now));
            *count -= before - list.len();
            !list.is_empty()
        });
    }
}

impl Inner {
    fn fresh(&self, c: &mut Idle, now: Instant) -> bool {
        now.duration_since(c.since) < self.idle_timeout && c.conn.wire.idle_ok()
    }

    /// The most recently idled live connection to `origin`, if any.
    fn take(&self, origin: &Origin) -> Option<Box<Conn>> {
        let now = clock::now();
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        let IdleLists { by_host, count } = &mut *idle;
        let list = by_host.get_mut(origin)?;
        while let Some(mut c) = list.pop() {
            *count -= 1;
            if self.fresh(&mut c, now) {
                return Some(c.conn);
            }
        }
        None
    }

    fn put(&self, origin: Origin, conn: Box<Conn>) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.count >= self.max_idle {
            return;
        }
        let list = idle.by_host.entry(origin).or_default();
        if list.len() < self.max_idle_per_host {
            let since = clock::now();
            list.push(Idle { conn, since });
            idle.count += 1;
        }
    }

    /// A new connection, by `deadline`. Boxed: connecting (a DNS lookup, a
    /// handshake) is rare, and would otherwise make every call's future the
    /// bigger for it.
    async fn connect_by(&self, origin: &Origin, deadline: Instant) -> Result<Box<Conn>, SendError> {
        let connect = Box::pin(self.connect(origin));
        let wire = tokio::time::timeout_at(deadline, connect)
            .await
            .map_err(|_| SendError::Timeout)??;
        let alarm = Alarm::new(deadline);
        Ok(Box::new(Conn { wire, alarm }))
    }

    /// A connection to `origin`: TCP, then TLS for `https://`, both within
    /// the connect timeout. A failed handshake is logged (host and reason,
    /// bounded) and fails the call; it is never retried in plain text.
    async fn connect(&self, origin: &Origin) -> Result<Wire, SendError> {
        let host = origin
            .authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']');
        let connect = async {
            let tcp = tokio::net::TcpStream::connect((host, origin.port()))
                .await
                .map_err(SendError::Connect)?;
            let _ = tcp.set_nodelay(true);
            if !origin.tls {
                return Ok(Either::Left(tcp));
            }
            let tls = self
                .tls
                .as_ref()
                .map_err(|why| SendError::Tls(why.clone()))?;
            let name = tls::server_name(host).map_err(SendError::Connect)?;
            let stream = tls.connector().connect(name, tcp).await.map_err(|e| {
                let why = tls::reason(&e);
                static FAILURES: LogLimit = LogLimit::new(10);
                if let Some(held_back) = FAILURES.admit() {
                    warn!(backend = %origin.authority, reason = %why, held_back, "TLS handshake with a backend failed.");
                }
                SendError::Tls(why)
            })?;
            Ok(Either::Right(Box::new(stream)))
        };
        let stream = tokio::time::timeout(self.connect_timeout, connect)
            .await
            .map_err(|_| SendError::Connect(std::io::ErrorKind::TimedOut.into()))??;
        Ok(Wire::new(stream))
    }
}

impl Conn {
    /// Writes the request and reads the answer's head, by `deadline`.
    async fn exchange(
        &mut self,
        head: &[u8],
        rest: &[u8],
        method: &http::Method,
        deadline: Instant,
    ) -> Result<Head, SendError> {
        let wire = &mut self.wire;
        let call = async move {
            wire.send(head, rest).await?;
            wire.read_head(method).await
        };
        match self.alarm.bound(deadline, call).await {
            None => Err(SendError::Timeout),
            Some(answer) => answer.map_err(SendError::Http),
        }
    }
}

/// A connection on loan to one answer; back to the pool when its body ends.
#[derive(Debug)]
struct Lease {
    pool: Arc<Inner>,
    origin: Origin,
    conn: Box<Conn>,
    /// The answer lets the connection carry another request.
    reusable: bool,
}

/// An answer's body, passed on frame by frame as its reader asks: hyper's
/// server polls it only when the client's socket takes more, so a slow
/// reader slows the backend (TCP backpressure) instead of growing a buffer.
/// It gives its connection back once read to its end, and holds its call's
/// in-flight slot until it is dropped.
#[derive(Debug)]
pub struct Pooled {
    framing: Framing,
    /// The connection, until the body ends (or fails).
    lease: Option<Lease>,
    _permit: OwnedSemaphorePermit,
    _claim: Option<Claim>,
}

impl Pooled {
    fn release(&mut self) {
        if let Some(l) = self.lease.take()
            && l.reusable
            && l.conn.wire.drained()
        {
            l.pool.put(l.origin, l.conn);
        }
    }
}

impl Body for Pooled {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = &mut *self;
        let Some(lease) = this.lease.as_mut() else {
            return Poll::Ready(None);
        };
        match lease.conn.wire.poll_body(&mut this.framing, cx) {
            Poll::Ready(Some(Ok(data))) => {
                if this.framing == Framing::Done {
                    this.release();
                }
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
            Poll::Ready(None) => {
                this.release();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                // A failed body takes its connection with it.
                this.lease = None;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.framing == Framing::Done
    }

    fn size_hint(&self) -> SizeHint {
        match self.framing {
            Framing::Length(n) => SizeHint::with_exact(n),
            Framing::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        // Read to its end (a reader may stop at `is_end_stream` without
        // polling for the end, and an answer without a body is never
        // polled): the connection is free for the next call.
        if self.framing == Framing::Done {
            self.release();
        }
    }
}
