//! One live client connection: a single task that owns the socket.
//!
//! The task drives everything from one `poll_fn` state machine instead of
//! `select!` over split halves: it writes queued frames while the socket
//! accepts them (see `transport` for how buffers are kept off idle
//! connections), watches the drain signal and a single timer, and reads the next
//! frame only while both
//!
//! - fewer than `max_inflight_per_connection` integration calls are outstanding
//!   (a client that floods a slow backend is throttled by its own TCP window), and
//! - fewer than `send_queue_bytes` bytes wait to be written to the client.
//!
//! The second gate is what bounds a client that sends but never reads: every
//! frame the gateway writes (replies, error frames, pongs) is caused by a frame it
//! read, so once the client's backlog reaches the bound the gateway stops reading
//! and the client's own sends stall in TCP. What can still arrive are the replies
//! of calls already in flight. A connection that stays over its bound for
//! `slow_client_timeout` is closed with 1008. No lock is held across an `.await`;
//! the only shared state is the [`Connection`].
//!
//! One timer serves four deadlines (idle, maximum duration, ping/pong, slow
//! client). It is re-armed lazily: activity does not touch the timer wheel; when
//! it fires early the task recomputes the deadline and sleeps again.
//!
//! Whatever ends the session, [`run`] ends the same way, exactly once: mark the
//! mailbox closed (later posts get 410), remove from the registry, free the
//! socket, fire `$disconnect` (with a cluster, after claiming it), log one line,
//! release the connection permit.

mod transport;

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Sleep;
use tracing::info;

use crate::clock::{self, Instant};
use crate::config::BinaryPolicy;
use crate::conn::{CloseReason, Connection};
use crate::gateway::{Gateway, Inbound, Stage};
use crate::shutdown::TaskGuard;
use crate::ws::{self, DecodeError, Item, Limits, OpCode};
use transport::{ReadError, Transport, Written};

/// What the session's resources are: released when the session ends.
#[derive(Debug)]
pub struct Held {
    /// The `max_connections` slot.
    pub permit: OwnedSemaphorePermit,
    /// The drain's completion guard.
    pub guard: TaskGuard,
    /// The source IP's connection slot, when per-IP caps are on.
    pub ip: Option<crate::auth::admission::IpPermit>,
}

/// Runs a connection on an upgraded socket to its end, then fires `$disconnect`.
/// `leftover` is anything the client sent past its handshake.
pub async fn run<S>(
    io: S,
    leftover: bytes::Bytes,
    gw: Arc<Gateway>,
    stage: Arc<Stage>,
    conn: Arc<Connection>,
    held: Held,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let limits = Limits {
        max_frame: gw.ws().max_frame_bytes,
        max_message: gw.ws().max_message_bytes,
    };
    let mut io = Transport::new(io, limits, leftover);
    let mut state = State::new(&gw);
    let reason = state.drive(&mut io, &gw, &stage, &conn).await;
    drop(io);
    // Boxed so `$disconnect`'s state is allocated only while it runs.
    Box::pin(finish(
        &gw,
        &stage,
        &conn,
        reason,
        state.messages_in,
        state.messages_out,
        held,
    ))
    .await;
}

/// Ends a connection whose upgrade never completed after `$connect` accepted it.
pub async fn abandon(gw: Arc<Gateway>, stage: Arc<Stage>, conn: Arc<Connection>, held: Held) {
    finish(&gw, &stage, &conn, CloseReason::ClientGone, 0, 0, held).await;
}

async fn finish(
    gw: &Gateway,
    stage: &Stage,
    conn: &Connection,
    reason: CloseReason,
    messages_in: u64,
    messages_out: u64,
    held: Held,
) {
    gw.delivery().closed(conn);
    stage.metrics.connections_open.decrement(1.0);
    stage.metrics.disconnect(&reason);
    // A connection closed because a survivor declared this node lost has had its
    // `$disconnect` from that survivor already.
    if reason != CloseReason::NodeLost && gw.delivery().claim_disconnect(conn).await {
        gw.on_disconnect(stage, conn, &reason).await;
    } else {
        info!(conn.id = %conn.id, stage = %stage.name, "$disconnect skipped: a surviving node already delivered it while this one was cut off.");
    }
    let (code, why) = reason.disconnect_status();
    info!(
        conn.id = %conn.id, stage = %stage.name, close.code = code, close.reason = %why,
        duration_ms = clock::now_ms().saturating_sub(conn.info.connected_at_ms), messages_in, messages_out,
        "Connection closed."
    );
    drop(held);
}

enum Event {
    Inbound(Item),
    ReadError(ReadError),
    ReadEnd,
    WriteError,
    CloseRequested(CloseReason),
    Shutdown,
    Timer,
}

struct State {
    started: Instant,
    last_data: Instant,
    next_ping: Option<Instant>,
    ping_sent: Option<Instant>,
    /// When the backlog last went over `send_queue_bytes` (None: under it).
    over_since: Option<Instant>,
    max_inflight: usize,
    max_backlog: usize,
    messages_in: u64,
    messages_out: u64,
}

// === impl State ===

impl State {
    fn new(gw: &Gateway) -> State {
        let now = clock::now();
        State {
            started: now,
            last_data: now,
            next_ping: gw.ws().ping_interval.map(|i| now + i),
            ping_sent: None,
            over_since: None,
            max_inflight: gw.ws().max_inflight_per_connection,
            max_backlog: gw.ws().send_queue_bytes,
            messages_in: 0,
            messages_out: 0,
        }
    }

    /// The earliest of the idle, duration and ping deadlines.
    fn deadline(&self, gw: &Gateway) -> Instant {
        let ws = gw.ws();
        let far = self.started + Duration::from_secs(100 * 365 * 24 * 3600);
        let idle = ws.idle_timeout.map_or(far, |t| self.last_data + t);
        let max = ws.max_connection_duration.map_or(far, |t| self.started + t);
        let ping = match self.ping_sent {
            Some(sent) => sent + ws.pong_timeout,
            None => self.next_ping.unwrap_or(far),
        };
        let slow = match (self.over_since, ws.slow_client_timeout) {
            (Some(since), Some(t)) => since + t,
            _ => far,
        };
        idle.min(max).min(ping).min(slow)
    }

    async fn drive<S>(
        &mut self,
        io: &mut Transport<S>,
        gw: &Arc<Gateway>,
        stage: &Arc<Stage>,
        conn: &Arc<Connection>,
    ) -> CloseReason
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let shutdown = gw.shutdown().notified();
        tokio::pin!(shutdown);
        shutdown.as_mut().enable();
        if gw.shutdown().is_draining() {
            return close_with(io, gw, CloseReason::Shutdown).await;
        }
        let sleep = tokio::time::sleep_until(self.deadline(gw));
        tokio::pin!(sleep);
        loop {
            let event = poll_fn(|cx| {
                self.poll_event(cx, io, conn, stage, gw, shutdown.as_mut(), sleep.as_mut())
            })
            .await;
            let reason = match event {
                Event::Inbound(item) => match self.on_inbound(item, gw, stage, conn) {
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
                Event::Shutdown => CloseReason::Shutdown,
                Event::Timer => match self.on_timer(gw, conn) {
                    Some(reason) => reason,
                    None => {
                        sleep.as_mut().reset(self.deadline(gw));
                        continue;
                    }
                },
            };
            return close_with(io, gw, reason).await;
        }
    }

    /// Polls, in order: outbound writes, drain signal, timer, inbound frames.
    #[allow(clippy::too_many_arguments)]
    fn poll_event<S>(
        &mut self,
        cx: &mut Context<'_>,
        io: &mut Transport<S>,
        conn: &Connection,
        stage: &Stage,
        gw: &Gateway,
        shutdown: Pin<&mut tokio::sync::futures::Notified<'_>>,
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
            self.last_data = clock::now();
            conn.touch(clock::now_ms());
            self.messages_out += done.messages;
            stage.metrics.messages_out.increment(done.messages);
        }
        if let Some(event) = write {
            return Poll::Ready(event);
        }
        let under = conn.backlog() < self.max_backlog;
        match (under, self.over_since) {
            (false, None) => {
                // Newly over: the slow-client deadline may be the earliest now.
                self.over_since = Some(clock::now());
                sleep.as_mut().reset(self.deadline(gw));
            }
            (true, Some(_)) => self.over_since = None,
            _ => {}
        }
        if shutdown.poll(cx).is_ready() {
            return Poll::Ready(Event::Shutdown);
        }
        if sleep.poll(cx).is_ready() {
            return Poll::Ready(Event::Timer);
        }
        if under && conn.inflight() < self.max_inflight {
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
        stage: &Arc<Stage>,
        conn: &Arc<Connection>,
    ) -> Option<CloseReason> {
        // Any frame proves the peer is alive.
        self.ping_sent = None;
        let inbound = match item {
            Item::Text(text) => Inbound::Text(text),
            Item::Binary(bytes) => match gw.ws().binary_frames {
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
        self.last_data = clock::now();
        self.messages_in += 1;
        conn.touch(clock::now_ms());
        gw.on_message(stage, conn, inbound);
        None
    }

    /// The timer fired: end the connection, or send a ping; then re-arm.
    fn on_timer(&mut self, gw: &Gateway, conn: &Connection) -> Option<CloseReason> {
        let now = clock::now();
        let cfg = gw.ws();
        if cfg
            .max_connection_duration
            .is_some_and(|t| now >= self.started + t)
        {
            return Some(CloseReason::MaxDuration);
        }
        if cfg.idle_timeout.is_some_and(|t| now >= self.last_data + t) {
            return Some(CloseReason::IdleTimeout);
        }
        if self
            .ping_sent
            .is_some_and(|sent| now >= sent + cfg.pong_timeout)
        {
            return Some(CloseReason::PongTimeout);
        }
        if let (Some(since), Some(t)) = (self.over_since, cfg.slow_client_timeout)
            && now >= since + t
        {
            return Some(CloseReason::SlowClient);
        }
        if self.ping_sent.is_none() && self.next_ping.is_some_and(|at| now >= at) {
            conn.push_from_session(ws::encode(OpCode::Ping, b""));
            self.ping_sent = Some(now);
            self.next_ping = cfg.ping_interval.map(|i| now + i);
        }
        None
    }
}

/// Ends the connection's WebSocket side: answers the client's close frame, or
/// sends the reason's own and waits briefly for the client's reply. Everything
/// is bounded by `close_timeout`.
async fn close_with<S>(io: &mut Transport<S>, gw: &Gateway, reason: CloseReason) -> CloseReason
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
    let _ = tokio::time::timeout(gw.close_timeout(), async {
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
