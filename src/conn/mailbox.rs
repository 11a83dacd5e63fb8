//! A connection's shared state: identity, outbound queue, close requests.
//!
//! [`Connection`] is what the registry hands to the @connections API and to
//! integration tasks. The session task is the only consumer of its queue.
//!
//! Why a `Mutex<VecDeque>` plus an [`AtomicWaker`] and not a tokio mpsc channel:
//! a tokio channel allocates its first block of slots eagerly, which every idle
//! connection would pay for; an empty `VecDeque` allocates nothing. The mutex is a
//! `std` one, held only for a push or a pop and never across an `.await`, so
//! contention is a few nanoseconds between one producer and the session.
//!
//! Bounds: @connections POSTs are refused with 429 (`LimitExceededException`, AWS's
//! documented meaning: "the client-side buffer is full") once `send_queue_messages`
//! messages or `send_queue_bytes` bytes are waiting. Replies and error frames are
//! not refused — dropping an answer the client asked for would lose it silently —
//! and are bounded where they are caused instead: the session reads the client's
//! next message only while the [`Connection::backlog`] is under `send_queue_bytes`,
//! so a client that does not read stops being read (TCP backpressure), and what it
//! can still cause is the replies of calls already in flight. Pongs take one slot:
//! a newer ping's pong replaces one not yet taken (RFC 6455 §5.5.3 allows answering
//! only the latest ping).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};

use futures_util::task::AtomicWaker;

use super::close::CloseReason;
use super::group::GroupKey;
use super::id::Id;
use crate::ws::{Deflate, Frame, Outgoing};

/// What the gateway knows about a connection from its handshake.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    /// Stage the client connected to.
    pub stage: std::sync::Arc<str>,
    /// Epoch ms of the upgrade.
    pub connected_at_ms: u64,
    /// `identity.sourceIp`.
    pub source_ip: String,
    /// `identity.userAgent`, if the client sent one.
    pub user_agent: Option<String>,
    /// `requestContext.domainName`.
    pub domain_name: String,
    /// What the client proved at `$connect`.
    pub auth: ConnAuth,
    /// Served by its stage's canary (decided at the upgrade, for its whole life).
    pub canary: bool,
    /// Its upgrade's trace: each message is a span of it.
    pub trace: crate::trace::TraceRef,
}

/// What a connection proved at `$connect`, carried into every event.
#[derive(Debug, Clone, Default)]
pub struct ConnAuth {
    /// `requestContext.authorizer`, from the stage's authorizer.
    pub authorizer: Option<std::sync::Arc<serde_json::Value>>,
    /// `requestContext.identity.apiKeyId`: the name of the API key presented.
    pub api_key_id: Option<std::sync::Arc<str>>,
}

/// Why a message could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PostError {
    /// The connection has ended (410).
    Gone,
    /// The queue is at its bound (429).
    Full,
}

/// Why a connection could not join a group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinError {
    /// The connection has ended (410).
    Gone,
    /// It is already in `max_groups_per_connection` groups (429).
    TooMany,
}

/// A connection's record in the cluster: never written.
const RECORD_NONE: u8 = 0;
/// Written; no acknowledgement (yet).
const RECORD_SENT: u8 = 1;
/// Acknowledged.
const RECORD_IN: u8 = 2;

/// A live connection, shared between its session task and everyone who sends to it.
#[derive(Debug)]
pub struct Connection {
    /// Its id.
    pub id: Id,
    /// Handshake facts.
    pub info: ConnInfo,
    last_active_ms: AtomicU64,
    inflight: AtomicUsize,
    /// Its record in the cluster's Redis hash: [`RECORD_NONE`], [`RECORD_SENT`]
    /// (written, no answer yet or none came: it may be there) or
    /// [`RECORD_IN`] (acknowledged).
    registered: AtomicU8,
    /// A copy of `Mailbox::bytes`, written under the lock and read without it by
    /// the session's read gate on every poll.
    backlog: AtomicUsize,
    mailbox: Mutex<Mailbox>,
    waker: AtomicWaker,
    max_messages: usize,
    max_bytes: usize,
    /// Its messages' bucket (`per_connection` throttling).
    pub throttle: crate::throttle::Bucket,
    /// permessage-deflate, when agreed at the upgrade: what it is sent is
    /// deflated as it is queued (once per message for all receivers, see
    /// [`Outgoing`]), so the queue's bounds count the bytes that go out.
    deflate: Option<Deflate>,
}

#[derive(Debug, Default)]
struct Mailbox {
    queue: VecDeque<Frame>,
    /// The pong for the latest ping, not yet taken (it goes out before `queue`).
    pong: Option<Frame>,
    /// Frames handed to the session and not yet written (they count against the bound).
    taken: usize,
    bytes: usize,
    close: Option<CloseReason>,
    closed: bool,
    /// The groups it is in (the node's index has the other direction).
    groups: Vec<GroupKey>,
}

// === impl Connection ===

impl Connection {
    /// A connection with an empty queue bounded at `max_messages` / `max_bytes`.
    pub fn new(id: Id, info: ConnInfo, max_messages: usize, max_bytes: usize) -> Connection {
        let now = info.connected_at_ms;
        Connection {
            id,
            info,
            last_active_ms: AtomicU64::new(now),
            inflight: AtomicUsize::new(0),
            registered: AtomicU8::new(RECORD_NONE),
            backlog: AtomicUsize::new(0),
            mailbox: Mutex::new(Mailbox::default()),
            waker: AtomicWaker::new(),
            max_messages,
            max_bytes,
            throttle: crate::throttle::Bucket::default(),
            deflate: None,
        }
    }

    /// The same connection with permessage-deflate agreed as `deflate`.
    pub fn with_deflate(mut self, deflate: Option<Deflate>) -> Connection {
        self.deflate = deflate;
        self
    }

    /// What permessage-deflate it agreed, if any.
    pub fn deflate(&self) -> Option<&Deflate> {
        self.deflate.as_ref()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Mailbox> {
        // A panic while holding this lock cannot leave the queue inconsistent
        // (every critical section is a single push/pop), so poisoning is ignored.
        self.mailbox.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets the unsent byte count (called with the lock held).
    fn set_bytes(&self, mb: &mut Mailbox, bytes: usize) {
        mb.bytes = bytes;
        self.backlog.store(bytes, Ordering::Relaxed);
    }

    /// Bytes queued for the client and not yet written to its socket.
    pub fn backlog(&self) -> usize {
        self.backlog.load(Ordering::Relaxed)
    }

    /// Messages queued for the client or taken and not yet written.
    pub fn queued(&self) -> usize {
        let mb = self.lock();
        mb.queue.len() + mb.taken
    }

    /// Queues a message from @connections, within the queue's bounds.
    pub fn post(&self, msg: &Outgoing) -> Result<(), PostError> {
        let msg = msg.for_receiver(self.deflate());
        let len = msg.len();
        {
            let mut mb = self.lock();
            if mb.closed || mb.close.is_some() {
                return Err(PostError::Gone);
            }
            if mb.queue.len() + mb.taken >= self.max_messages || mb.bytes + len > self.max_bytes {
                return Err(PostError::Full);
            }
            let bytes = mb.bytes + len;
            self.set_bytes(&mut mb, bytes);
            mb.queue.push_back(msg);
        }
        self.waker.wake();
        Ok(())
    }

    /// Queues a reply, error frame or control frame: never refused, because the
    /// session bounds what causes them (see the module doc). Returns false if the
    /// connection has ended.
    pub fn push_reply(&self, msg: Outgoing) -> bool {
        let queued = self.push_unbounded(msg);
        if queued {
            self.waker.wake();
        }
        queued
    }

    /// [`Connection::push_reply`] for the session task itself (a mock reply, a
    /// pong): no wake-up, because the session drains its mailbox before it next
    /// waits. Waking the running task would only re-queue it, and might wake an
    /// idle worker thread to steal it, for nothing.
    pub fn push_from_session(&self, msg: Outgoing) -> bool {
        self.push_unbounded(msg)
    }

    fn push_unbounded(&self, msg: Outgoing) -> bool {
        let msg = msg.into_receiver(self.deflate());
        let mut mb = self.lock();
        if mb.closed {
            return false;
        }
        let bytes = mb.bytes + msg.len();
        self.set_bytes(&mut mb, bytes);
        mb.queue.push_back(msg);
        true
    }

    /// Session side: queues the pong for the latest ping, replacing one not yet
    /// taken, so pings from a client that does not read cost one frame at most.
    pub fn push_pong(&self, pong: Frame) {
        let mut mb = self.lock();
        if mb.closed {
            return;
        }
        let old = mb.pong.as_ref().map_or(0, Frame::len);
        let bytes = mb.bytes - old + pong.len();
        self.set_bytes(&mut mb, bytes);
        mb.pong = Some(pong);
    }

    /// Asks the session to close. False if the connection has already ended or is closing.
    pub fn request_close(&self, reason: CloseReason) -> bool {
        {
            let mut mb = self.lock();
            if mb.closed || mb.close.is_some() {
                return false;
            }
            mb.close = Some(reason);
        }
        self.waker.wake();
        true
    }

    /// Session side: registers for wake-ups, then takes a close request, or — when
    /// `out` is empty — moves every queued frame into `out`. The moved frames keep
    /// counting against the bound until [`Connection::written`] reports them sent.
    /// `Ready(None)` means frames were moved.
    pub fn poll_outbound(
        &self,
        cx: &mut Context<'_>,
        out: &mut VecDeque<Frame>,
    ) -> Poll<Option<CloseReason>> {
        self.waker.register(cx.waker());
        let mut mb = self.lock();
        if let Some(reason) = mb.close.take() {
            mb.closed = true;
            return Poll::Ready(Some(reason));
        }
        if (mb.queue.is_empty() && mb.pong.is_none()) || !out.is_empty() {
            return Poll::Pending;
        }
        let pong = mb.pong.take();
        mb.taken += mb.queue.len() + usize::from(pong.is_some());
        // Swap, not drain: the session's (empty) deque becomes the mailbox's.
        std::mem::swap(&mut mb.queue, out);
        if let Some(pong) = pong {
            out.push_front(pong);
        }
        Poll::Ready(None)
    }

    /// Session side: `frames` frames of `bytes` bytes taken by `poll_outbound` were written.
    pub fn written(&self, frames: usize, bytes: usize) {
        let mut mb = self.lock();
        mb.taken = mb.taken.saturating_sub(frames);
        let left = mb.bytes.saturating_sub(bytes);
        self.set_bytes(&mut mb, left);
    }

    /// Records membership of `group`: `Ok(true)` if new, `Ok(false)` if already a member.
    pub(crate) fn join(&self, group: &GroupKey, max: usize) -> Result<bool, JoinError> {
        let mut mb = self.lock();
        if mb.closed {
            return Err(JoinError::Gone);
        }
        if mb.groups.contains(group) {
            return Ok(false);
        }
        if mb.groups.len() >= max {
            return Err(JoinError::TooMany);
        }
        mb.groups.push(group.clone());
        Ok(true)
    }

    /// Forgets membership of `group`: `Ok(true)` if it was a member.
    pub(crate) fn leave(&self, group: &GroupKey) -> Result<bool, PostError> {
        let mut mb = self.lock();
        if mb.closed {
            return Err(PostError::Gone);
        }
        let before = mb.groups.len();
        mb.groups.retain(|g| g != group);
        Ok(mb.groups.len() < before)
    }

    /// The groups it is in.
    pub fn groups(&self) -> Vec<GroupKey> {
        self.lock().groups.clone()
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Session side: the connection has ended; later posts get `Gone`. Drops anything queued.
    /// Returns the groups it was in, for the caller to leave.
    pub(crate) fn mark_closed(&self) -> Vec<GroupKey> {
        let mut mb = self.lock();
        mb.closed = true;
        mb.queue = VecDeque::new();
        mb.pong = None;
        self.set_bytes(&mut mb, 0);
        mb.taken = 0;
        std::mem::take(&mut mb.groups)
    }

    /// Records data activity now (for GetConnection's `lastActiveAt`).
    pub fn touch(&self, now_ms: u64) {
        self.last_active_ms.store(now_ms, Ordering::Relaxed);
    }

    /// Epoch ms of the last data message in either direction.
    pub fn last_active_ms(&self) -> u64 {
        self.last_active_ms.load(Ordering::Relaxed)
    }

    /// Cluster side: its record is now in Redis.
    pub(crate) fn mark_registered(&self) {
        self.registered.store(RECORD_IN, Ordering::Release);
    }

    /// Cluster side: its record is being written (it may land even if no
    /// answer comes).
    pub(crate) fn mark_record_sent(&self) {
        let _ = self.registered.compare_exchange(
            RECORD_NONE,
            RECORD_SENT,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
    }

    /// Whether its record is in Redis (then `$disconnect` goes to whoever claims it first).
    pub fn is_registered(&self) -> bool {
        self.registered.load(Ordering::Acquire) == RECORD_IN
    }

    /// Whether its record may be in Redis: written, acknowledged or not (a
    /// survivor may have reaped it).
    pub fn may_be_recorded(&self) -> bool {
        self.registered.load(Ordering::Acquire) != RECORD_NONE
    }

    /// Integration calls in flight for this connection.
    pub fn inflight(&self) -> usize {
        self.inflight.load(Ordering::Acquire)
    }

    /// Session side: one more call in flight.
    pub(crate) fn begin_call(&self) {
        self.inflight.fetch_add(1, Ordering::AcqRel);
    }

    /// Integration side: a call finished; wakes the session in case it paused reading.
    pub(crate) fn end_call(&self) {
        self.inflight.fetch_sub(1, Ordering::AcqRel);
        self.waker.wake();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    fn conn(max_messages: usize, max_bytes: usize) -> Connection {
        let info = ConnInfo {
            stage: Arc::from("dev"),
            connected_at_ms: 1,
            source_ip: "127.0.0.1".into(),
            user_agent: None,
            domain_name: "h".into(),
            auth: Default::default(),
            canary: false,
            trace: crate::trace::TraceRef::default(),
        };
        Connection::new(Id::random(), info, max_messages, max_bytes)
    }

    fn next(c: &Connection, out: &mut VecDeque<Frame>) -> Poll<Option<CloseReason>> {
        c.poll_outbound(
            &mut Context::from_waker(futures_util::task::noop_waker_ref()),
            out,
        )
    }

    #[test]
    fn posts_are_bounded_by_count_and_bytes_until_written() {
        // Frames count with their 2-byte headers: "aaaa" is 6 bytes on the wire.
        let c = conn(2, 14);
        assert_eq!(c.post(&Frame::text("aaaa").into()), Ok(()));
        assert_eq!(c.post(&Frame::text("bbbb").into()), Ok(()));
        assert_eq!(c.post(&Frame::text("c").into()), Err(PostError::Full));
        let mut out = VecDeque::new();
        assert_eq!(next(&c, &mut out), Poll::Ready(None));
        assert_eq!(out.len(), 2);
        // Taken but not yet written: still counted.
        assert_eq!(c.post(&Frame::text("c").into()), Err(PostError::Full));
        c.written(1, 6);
        assert_eq!(
            c.post(&Frame::text("ccccccc").into()),
            Err(PostError::Full),
            "6 + 9 bytes > 14"
        );
        assert_eq!(c.post(&Frame::text("cccccc").into()), Ok(()));
        // Replies are not refused by the queue bound.
        assert!(c.push_reply(Frame::text("reply").into()));
    }

    #[test]
    fn a_newer_pong_replaces_one_not_yet_taken_and_goes_first() {
        let c = conn(8, 1024);
        c.push_reply(Frame::text("reply").into());
        c.push_pong(crate::ws::encode(crate::ws::OpCode::Pong, b"1"));
        c.push_pong(crate::ws::encode(crate::ws::OpCode::Pong, b"22"));
        // "reply" (7 bytes) and one pong (2 + 2 bytes): the first pong is gone.
        assert_eq!(c.backlog(), 7 + 4);
        let mut out = VecDeque::new();
        assert_eq!(next(&c, &mut out), Poll::Ready(None));
        assert_eq!(out.len(), 2);
        assert_eq!(&out[0].as_bytes()[..], b"\x8a\x0222");
        // Taken but unwritten frames still count; writing them clears the backlog.
        assert_eq!(c.backlog(), 11);
        c.written(2, 11);
        assert_eq!(c.backlog(), 0);
    }

    #[test]
    fn close_request_wins_and_then_everything_is_gone() {
        let c = conn(8, 1024);
        c.post(&Frame::text("x").into()).unwrap();
        assert!(c.request_close(CloseReason::Deleted));
        assert!(!c.request_close(CloseReason::Deleted), "only once");
        assert_eq!(c.post(&Frame::text("y").into()), Err(PostError::Gone));
        let mut out = VecDeque::new();
        assert_eq!(next(&c, &mut out), Poll::Ready(Some(CloseReason::Deleted)));
        c.mark_closed();
        assert!(!c.push_reply(Frame::text("late").into()));
        assert_eq!(next(&c, &mut out), Poll::Pending);
        assert!(out.is_empty());
    }
}
