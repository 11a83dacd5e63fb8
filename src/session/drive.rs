//! The session's loop: one `poll_fn` state machine over the socket, the
//! mailbox (close requests, the drain among them) and one timer (see the
//! module above for why), and what it does with each event.
//!
//! The session follows reloads: before it handles a message or a timer, it
//! checks the configuration generation and, if a new one was installed, picks
//! up its stage (routes, variables) and its limits (timeouts, the read gate,
//! the decoder's sizes). A call already in flight finishes with the generation
//! that started it.

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Sleep;

use super::transport::{ReadError, Transport, Written};
use crate::clock::{self, Instant};
use crate::config::BinaryPolicy;
use crate::conn::{CloseReason, Connection};
use crate::gateway::{Gateway, Inbound, Stage};
use crate::snapshot::Snapshot;
use crate::ws::{self, DecodeError, Item, Limits, OpCode};

pub(super) enum Event {
    Inbound(Item),
    ReadError(ReadError),
    ReadEnd,
    WriteError,
    CloseRequested(CloseReason),
    Timer,
}

/// Every idle connection holds a `State`, so it is kept small (issue 26): its
/// times are milliseconds after `started` (8 bytes each, [`NONE`] for none)
/// rather than `Instant`s (16, and 16 for an `Option`), and the limits are
/// read from the snapshot instead of copied. 128 → 80 bytes.
pub(super) struct State {
    /// The configuration generation this session serves with, and its stage in it.
    pub(super) snap: Arc<Snapshot>,
    pub(super) stage: Arc<Stage>,
    started: Instant,
    last_data: u64,
    next_ping: u64,
    ping_sent: u64,
    /// When the backlog last went over `send_queue_bytes` (NONE: under it).
    over_since: u64,
    pub(super) messages_in: u64,
    pub(super) messages_out: u64,
}

/// No such time (a [`State`] time).
const NONE: u64 = u64::MAX;
/// Past every deadline a session can have (a hundred years, in ms).
const FAR: u64 = 100 * 365 * 24 * 3600 * 1000;

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(FAR).min(FAR)
}

fn some(at: u64) -> Option<u64> {
    (at != NONE).then_some(at)
}

/// The decoder's limits under `snap`.
pub(super) fn limits(snap: &Snapshot) -> Limits {
    Limits {
        max_frame: snap.ws.max_frame_bytes,
        max_message: snap.ws.max_message_bytes,
    }
}

// === impl State ===

impl State {
    pub(super) fn new(snap: Arc<Snapshot>, stage: Arc<Stage>) -> State {
        State {
            next_ping: snap.ws.ping_interval.map_or(NONE, ms),
            snap,
            stage,
            started: clock::now(),
            last_data: 0,
            ping_sent: NONE,
            over_since: NONE,
            messages_in: 0,
            messages_out: 0,
        }
    }

    /// Now, as milliseconds after the session started.
    fn now(&self) -> u64 {
        ms(clock::now().saturating_duration_since(self.started))
    }

    /// Picks up a newer configuration generation, if one was installed: the
    /// connection's stage in it — its canary side for a canary connection
    /// while the stage has one — (kept as it is if the stage is gone: the
    /// reload closes such connections) and its limits.
    fn refresh<S>(&mut self, gw: &Gateway, conn: &Connection, io: &mut Transport<S>)
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        if gw.snapshot().generation == self.snap.generation {
            return;
        }
        self.snap = gw.snapshot_arc();
        if let Some(stage) = self.snap.stage_for(&conn.info.stage, conn.info.canary) {
            self.stage = Arc::clone(stage);
        }
        if self.ping_sent == NONE {
            let now = self.now();
            self.next_ping = self.snap.ws.ping_interval.map_or(NONE, |i| now + ms(i));
        }
        io.set_limits(limits(&self.snap));
    }

    /// The earliest of the idle, duration, ping and slow-client deadlines.
    fn deadline(&self) -> Instant {
        let ws = &self.snap.ws;
        let idle = ws.idle_timeout.map_or(FAR, |t| self.last_data + ms(t));
        let max = ws.max_connection_duration.map_or(FAR, ms);
        let ping = match some(self.ping_sent) {
            Some(sent) => sent + ms(ws.pong_timeout),
            None => some(self.next_ping).unwrap_or(FAR),
        };
        let slow = match (some(self.over_since), ws.slow_client_timeout) {
            (Some(since), Some(t)) => since + ms(t),
            _ => FAR,
        };
        self.started + Duration::from_millis(idle.min(max).min(ping).min(slow))
    }

    pub(super) async fn drive<S>(
        &mut self,
        io: &mut Transport<S>,
        gw: &Arc<Gateway>,
        conn: &Arc<Connection>,
    ) -> CloseReason
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        // The drain reaches a session through its mailbox: the server asks
        // every registered connection to close (a close request, like a
        // DELETE's), so no session holds a waiter of its own (64 bytes each).
        // This one was registered before it started; if the drain began
        // before that, it may have been missed by the walk, so check.
        if gw.shutdown().is_draining() {
            return Box::pin(close_with(io, &self.snap, CloseReason::Shutdown)).await;
        }
        let sleep = tokio::time::sleep_until(self.deadline());
        tokio::pin!(sleep);
        loop {
            let event = poll_fn(|cx| self.poll_event(cx, io, conn, sleep.as_mut())).await;
            if matches!(event, Event::Inbound(_) | Event::Timer) {
                self.refresh(gw, conn, io);
            }
            let reason = match event {
                Event::Inbound(item) => match self.on_inbound(item, gw, conn) {
                    Some(reason) => reason,
                    None => continue,
                },
                Event::ReadError(ReadError::Decode(e)) => match e {
                    DecodeError::Protocol => CloseReason::ProtocolError,
                    DecodeError::TooBig => CloseReason::MessageTooBig,
                    DecodeError::InvalidUtf8 => CloseReason::InvalidUtf8,
                },
                Event::ReadError(ReadError::Io) | Event::ReadEnd => return CloseReason::ClientGone,
                Event::WriteError => return CloseReason::WriteFailed,
                Event::CloseRequested(reason) => reason,
                Event::Timer => match self.on_timer(conn) {
                    Some(reason) => reason,
                    None => {
                        sleep.as_mut().reset(self.deadline());
                        continue;
                    }
                },
            };
            // Boxed: the close's own timer and state (264 bytes) are allocated
            // only while closing, not held by every idle connection's task.
            return Box::pin(close_with(io, &self.snap, reason)).await;
        }
    }

    /// Polls, in order: outbound writes and close requests, timer, inbound frames.
    fn poll_event<S>(
        &mut self,
        cx: &mut Context<'_>,
        io: &mut Transport<S>,
        conn: &Connection,
        mut sleep: Pin<&mut Sleep>,
    ) -> Poll<Event>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let mut done = Written::default();
        let write = loop {
            match conn.poll_outbound(cx, io.out_mut()) {
                Poll::Ready(Some(reason)) => break Some(Event::CloseRequested(reason)),
                Poll::Ready(None) => {}
                Poll::Pending if io.has_output() => {}
                Poll::Pending => break None,
            }
            match io.poll_write_out(cx, &mut done) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => break Some(Event::WriteError),
                Poll::Pending => break None,
            }
        };
        if done.frames > 0 {
            conn.written(done.frames, done.bytes);
        }
        if done.messages > 0 {
            // Clocks are read once per batch written, not once per message.
            self.last_data = self.now();
            conn.touch(clock::now_ms());
            self.messages_out += done.messages;
            self.stage.metrics.messages_out.increment(done.messages);
        }
        if let Some(event) = write {
            return Poll::Ready(event);
        }
        let under = conn.backlog() < self.snap.ws.send_queue_bytes;
        match (under, self.over_since == NONE) {
            (false, true) => {
                // Newly over: the slow-client deadline may be the earliest now.
                self.over_since = self.now();
                sleep.as_mut().reset(self.deadline());
            }
            (true, false) => self.over_since = NONE,
            _ => {}
        }
        if sleep.poll(cx).is_ready() {
            return Poll::Ready(Event::Timer);
        }
        if under && conn.inflight() < self.snap.ws.max_inflight_per_connection {
            match io.poll_item(cx) {
                Poll::Ready(Ok(Some(item))) => return Poll::Ready(Event::Inbound(item)),
                Poll::Ready(Ok(None)) => return Poll::Ready(Event::ReadEnd),
                Poll::Ready(Err(e)) => return Poll::Ready(Event::ReadError(e)),
                Poll::Pending => {}
            }
        }
        Poll::Pending
    }

    /// Handles one decoded frame; returns a reason when the connection must end.
    fn on_inbound(
        &mut self,
        item: Item,
        gw: &Arc<Gateway>,
        conn: &Arc<Connection>,
    ) -> Option<CloseReason> {
        // Any frame proves the peer is alive.
        self.ping_sent = NONE;
        let inbound = match item {
            Item::Text(text) => Inbound::Text(text),
            Item::Binary(bytes) => match self.snap.ws.binary_frames {
                BinaryPolicy::Reject => return Some(CloseReason::BinaryRejected),
                BinaryPolicy::Base64 => {
                    Inbound::Base64(base64::engine::general_purpose::STANDARD.encode(&bytes))
                }
            },
            Item::Close(frame) => {
                let (code, reason) = frame.unwrap_or((1005, String::new()));
                return Some(CloseReason::ClientClose { code, reason });
            }
            Item::Ping(payload) => {
                conn.push_pong(ws::encode(OpCode::Pong, &payload));
                return None;
            }
            Item::Pong => return None,
        };
        self.last_data = self.now();
        self.messages_in += 1;
        conn.touch(clock::now_ms());
        gw.on_message(&self.snap, &self.stage, conn, inbound);
        None
    }

    /// The timer fired: end the connection, or send a ping; then re-arm.
    fn on_timer(&mut self, conn: &Connection) -> Option<CloseReason> {
        let now = self.now();
        let cfg = &self.snap.ws;
        if cfg.max_connection_duration.is_some_and(|t| now >= ms(t)) {
            return Some(CloseReason::MaxDuration);
        }
        if cfg
            .idle_timeout
            .is_some_and(|t| now >= self.last_data + ms(t))
        {
            return Some(CloseReason::IdleTimeout);
        }
        if some(self.ping_sent).is_some_and(|sent| now >= sent + ms(cfg.pong_timeout)) {
            return Some(CloseReason::PongTimeout);
        }
        if let (Some(since), Some(t)) = (some(self.over_since), cfg.slow_client_timeout)
            && now >= since + ms(t)
        {
            return Some(CloseReason::SlowClient);
        }
        if self.ping_sent == NONE && some(self.next_ping).is_some_and(|at| now >= at) {
            conn.push_from_session(ws::encode(OpCode::Ping, b"").into());
            self.ping_sent = now;
            self.next_ping = cfg.ping_interval.map_or(NONE, |i| now + ms(i));
        }
        None
    }
}

/// Ends the connection's WebSocket side: answers the client's close frame, or
/// sends the reason's own and waits briefly for the client's reply. Everything
/// is bounded by `close_timeout`.
async fn close_with<S>(io: &mut Transport<S>, snap: &Snapshot, reason: CloseReason) -> CloseReason
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (frame, await_reply) = match &reason {
        // RFC 6455 §5.5.1: echo the status code; the client started the close,
        // so the server then closes TCP first.
        CloseReason::ClientClose { code: 1005, .. } => (ws::encode(OpCode::Close, b""), false),
        CloseReason::ClientClose { code, .. } => (ws::close_frame(*code, ""), false),
        other => match other.close_frame() {
            Some((code, text)) => (ws::close_frame(code, text), true),
            None => return reason,
        },
    };
    io.replace_output(frame);
    let _ = tokio::time::timeout(snap.ws.close_timeout, async {
        let mut done = Written::default();
        if poll_fn(|cx| io.poll_write_out(cx, &mut done))
            .await
            .is_err()
        {
            return;
        }
        if await_reply {
            while let Ok(Some(item)) = poll_fn(|cx| io.poll_item(cx)).await {
                if matches!(item, Item::Close(_)) {
                    break;
                }
            }
        }
        let _ = poll_fn(|cx| io.poll_shutdown(cx)).await;
    })
    .await;
    reason
}
