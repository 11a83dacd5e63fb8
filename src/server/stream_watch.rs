//! HTTP/2 answers a client leaves unread. An HTTP/2 client can stop one
//! stream — a zero flow-control window — while the connection itself stays
//! busy, so the socket-level bound (`stall`) never fires; each such stream
//! kept a backend connection and an `integrations.max_inflight` slot for as
//! long as the client liked (eleven connections held all 1,024 slots, and
//! every other client's `http_proxy` calls got 503). The per-stream bound,
//! nginx's `send_timeout` and Envoy's `stream_idle_timeout`, is this:
//!
//! - an answer whose body is streamed from a backend, or that holds more than
//!   [`CHUNK`] bytes, is watched; it is handed to hyper [`CHUNK`] bytes at a
//!   time, so hyper holds at most one chunk of it while the client reads
//!   nothing, and the rest stays here;
//! - one that the client has let send nothing for `server.send_timeout`
//!   (while not itself waiting for its backend) is dropped: its backend
//!   connection, in-flight slot, fair share and buffered bytes are released.
//!   The stream is reset (`INTERNAL_ERROR`) when the client next lets it move;
//!   until then it holds one chunk, and it counts against the connection's
//!   100 streams.
//!
//! Concurrency: one watcher per HTTP/2 connection runs beside it in the same
//! task (`guard`), checking its watched answers every quarter of the limit,
//! and sleeping while there are none. A watched answer's state sits behind a
//! `std` mutex taken for one poll or one check, never across an `.await`; the
//! list of answers behind another, taken to add or remove one (never while a
//! state's is held: the watcher only tries the state's lock).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Either;
use hyper::body::{Body, Frame, SizeHint};
use slab::Slab;
use tokio::sync::Notify;

use crate::clock;
use crate::http::PublicBody;

/// The most of an answer hyper is handed at once: HTTP/2's default frame.
pub(super) const CHUNK: usize = 16 << 10;

/// An HTTP/2 connection's watched answers.
#[derive(Debug, Clone)]
pub(super) struct Watch {
    inner: Option<Arc<Inner>>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    slots: Mutex<Slab<Arc<Slot>>>,
    wake: Notify,
    limit: Duration,
}

/// One watched answer.
#[derive(Debug)]
struct Slot {
    state: Mutex<State>,
    /// `clock::mono_ns` of the last chunk handed to hyper (or of the start).
    last: AtomicU64,
    /// The body's last poll was pending: it waits for its backend, not for
    /// the client.
    waiting: AtomicBool,
}

#[derive(Debug)]
enum State {
    Live {
        body: PublicBody,
        rest: Bytes,
    },
    /// Ended, or dropped by the watcher.
    Gone {
        reaped: bool,
    },
}

/// A public answer, watched or not.
#[derive(Debug)]
pub(crate) enum Watched {
    Plain(PublicBody),
    /// Not watched yet: hyper polls an answer once before it waits for the
    /// client, and most are done by then (a small answer, whole or
    /// streamed), so only those that are not cost a registration.
    Lazy(PublicBody, Arc<Inner>),
    Tracked(Tracked),
}

#[derive(Debug)]
pub(crate) struct Tracked {
    slot: Arc<Slot>,
    key: usize,
    watch: Arc<Inner>,
}

impl Watch {
    /// A watch with `limit` (`None`: answers are never dropped).
    pub(super) fn new(limit: Option<Duration>) -> Watch {
        let inner = limit.map(|limit| {
            Arc::new(Inner {
                slots: Mutex::new(Slab::new()),
                wake: Notify::new(),
                limit,
            })
        });
        Watch { inner }
    }

    /// `body`, to be watched if it streams or is larger than a chunk and is
    /// not done after its first poll.
    pub(super) fn wrap(&self, body: PublicBody) -> Watched {
        let Some(inner) = &self.inner else {
            return Watched::Plain(body);
        };
        let small = matches!(&body, Either::Left(_))
            && body.size_hint().exact().is_some_and(|n| n <= CHUNK as u64);
        if small || body.is_end_stream() {
            return Watched::Plain(body);
        }
        Watched::Lazy(body, Arc::clone(inner))
    }
}

impl Inner {
    /// Registers an answer: its body, what is left of its last frame, and
    /// whether it now waits for its backend.
    fn track(self: &Arc<Self>, body: PublicBody, rest: Bytes, waiting: bool) -> Tracked {
        let slot = Arc::new(Slot {
            state: Mutex::new(State::Live { body, rest }),
            last: AtomicU64::new(clock::mono_ns()),
            waiting: AtomicBool::new(waiting),
        });
        let key = {
            let mut slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            let key = slots.insert(Arc::clone(&slot));
            if slots.len() == 1 {
                self.wake.notify_one();
            }
            key
        };
        Tracked {
            slot,
            key,
            watch: Arc::clone(self),
        }
    }
}

impl Watch {
    /// Runs `conn` with the watcher beside it, until `conn` ends.
    pub(super) async fn guard<F: Future>(&self, conn: F) -> F::Output {
        let Some(inner) = &self.inner else {
            return conn.await;
        };
        tokio::select! {
            out = conn => out,
            never = inner.run() => match never {},
        }
    }
}

impl Inner {
    async fn run(&self) -> std::convert::Infallible {
        loop {
            let empty = self.slots.lock().map_or(true, |s| s.is_empty());
            if empty {
                // `notify_one` stores a permit: an answer added between the
                // look and this wait still wakes it.
                self.wake.notified().await;
                continue;
            }
            tokio::time::sleep(self.limit / 4).await;
            self.reap();
        }
    }

    /// Drops every answer that has waited on its client for the limit.
    fn reap(&self) {
        let now = clock::mono_ns();
        let limit = self.limit.as_nanos() as u64;
        let mut dropped = Vec::new();
        {
            let slots = self.slots.lock().unwrap_or_else(|e| e.into_inner());
            for (_, slot) in slots.iter() {
                let idle = now.saturating_sub(slot.last.load(Ordering::Acquire));
                if slot.waiting.load(Ordering::Acquire) || idle < limit {
                    continue;
                }
                if let Ok(mut state) = slot.state.try_lock()
                    && matches!(*state, State::Live { .. })
                {
                    dropped.push(std::mem::replace(&mut *state, State::Gone { reaped: true }));
                }
            }
        }
        if !dropped.is_empty() {
            tracing::debug!(
                answers = dropped.len(),
                "HTTP/2 answers the client let send nothing for send_timeout were dropped."
            );
        }
        // Dropped here, outside every lock: a backend connection closes.
        drop(dropped);
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let mut slots = self.watch.slots.lock().unwrap_or_else(|e| e.into_inner());
        slots.try_remove(self.key);
    }
}

/// Why a watched answer ended early.
#[derive(Debug)]
struct Reaped;

impl std::fmt::Display for Reaped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the client accepted nothing of this answer for server.send_timeout")
    }
}

impl std::error::Error for Reaped {}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Body for Watched {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        match this {
            Watched::Plain(b) => Pin::new(b).poll_frame(cx),
            Watched::Tracked(t) => t.poll(cx),
            Watched::Lazy(body, inner) => {
                let polled = Pin::new(&mut *body).poll_frame(cx);
                let done = match &polled {
                    Poll::Ready(Some(Ok(f))) => {
                        body.is_end_stream() && f.data_ref().is_none_or(|d| d.len() <= CHUNK)
                    }
                    Poll::Ready(_) => true,
                    Poll::Pending => false,
                };
                if done {
                    return polled;
                }
                let inner = Arc::clone(inner);
                let Watched::Lazy(body, _) = std::mem::replace(this, Watched::Plain(empty()))
                else {
                    unreachable!("matched above")
                };
                let mut tracked = inner.track(body, Bytes::new(), polled.is_pending());
                let polled = match polled {
                    Poll::Ready(Some(Ok(frame))) => Poll::Ready(Some(Ok(tracked.split(frame)))),
                    other => other,
                };
                *this = Watched::Tracked(tracked);
                polled
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Watched::Plain(b) | Watched::Lazy(b, _) => b.is_end_stream(),
            Watched::Tracked(t) => {
                let state = t.slot.state.lock().unwrap_or_else(|e| e.into_inner());
                match &*state {
                    State::Live { body, rest } => rest.is_empty() && body.is_end_stream(),
                    State::Gone { reaped } => !reaped,
                }
            }
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Watched::Plain(b) | Watched::Lazy(b, _) => b.size_hint(),
            Watched::Tracked(t) => {
                let state = t.slot.state.lock().unwrap_or_else(|e| e.into_inner());
                match &*state {
                    State::Live { body, rest } => {
                        let inner = body.size_hint();
                        let extra = rest.len() as u64;
                        let mut hint = SizeHint::new();
                        hint.set_lower(inner.lower() + extra);
                        if let Some(upper) = inner.upper() {
                            hint.set_upper(upper + extra);
                        }
                        hint
                    }
                    State::Gone { .. } => SizeHint::with_exact(0),
                }
            }
        }
    }
}

impl Tracked {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let slot = &self.slot;
        let mut state = slot.state.lock().unwrap_or_else(|e| e.into_inner());
        let (body, rest) = match &mut *state {
            State::Live { body, rest } => (body, rest),
            State::Gone { reaped: true } => return Poll::Ready(Some(Err(Box::new(Reaped)))),
            State::Gone { reaped: false } => return Poll::Ready(None),
        };
        let touch = || slot.last.store(clock::mono_ns(), Ordering::Release);
        if !rest.is_empty() {
            touch();
            let n = rest.len().min(CHUNK);
            return Poll::Ready(Some(Ok(Frame::data(rest.split_to(n)))));
        }
        match Pin::new(body).poll_frame(cx) {
            Poll::Pending => {
                slot.waiting.store(true, Ordering::Release);
                Poll::Pending
            }
            Poll::Ready(None) => {
                *state = State::Gone { reaped: false };
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Some(Ok(frame))) => {
                slot.waiting.store(false, Ordering::Release);
                touch();
                Poll::Ready(Some(Ok(cut(frame, rest))))
            }
        }
    }

    /// `frame` as handed to hyper: at most a chunk, the rest kept.
    fn split(&mut self, frame: Frame<Bytes>) -> Frame<Bytes> {
        let mut state = self.slot.state.lock().unwrap_or_else(|e| e.into_inner());
        match &mut *state {
            State::Live { rest, .. } => cut(frame, rest),
            State::Gone { .. } => frame,
        }
    }
}

/// A data frame cut to at most [`CHUNK`] bytes, the rest into `rest`.
fn cut(frame: Frame<Bytes>, rest: &mut Bytes) -> Frame<Bytes> {
    match frame.into_data() {
        Ok(mut data) if data.len() > CHUNK => {
            *rest = data.split_off(CHUNK);
            Frame::data(data)
        }
        Ok(data) => Frame::data(data),
        Err(other) => other,
    }
}

fn empty() -> PublicBody {
    Either::Left(http_body_util::Full::new(Bytes::new()))
}

#[cfg(test)]
#[path = "stream_watch_tests.rs"]
mod tests;
