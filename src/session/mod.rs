//! One live client connection: a single task that owns the socket.
//!
//! The task drives everything from one `poll_fn` state machine instead of
//! `select!` over split halves: it writes queued messages while the socket
//! accepts them, watches the drain signal and a single timer, and reads the next
//! frame only while the connection has fewer than `max_inflight_per_connection`
//! integration calls outstanding (so a client that floods a slow backend is
//! throttled by its own TCP window, and nothing queues without bound). No lock is
//! held across an `.await`; the only shared state is the [`Connection`].
//!
//! One timer serves three deadlines (idle, maximum duration, ping/pong). It is
//! re-armed lazily: activity does not touch the timer wheel; when it fires early
//! the task recomputes the deadline and sleeps again.
//!
//! Whatever ends the session, [`run`] ends the same way, exactly once: mark the
//! mailbox closed (later posts get 410), remove from the registry, free the
//! socket, fire `$disconnect`, log one line, release the connection permit.

pub mod close;
pub mod id;
pub mod mailbox;

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use base64::Engine as _;
use futures_util::{Sink, SinkExt as _, Stream, StreamExt as _};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::{Instant, Sleep};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, error::ProtocolError};
use tracing::info;

use crate::clock;
use crate::config::BinaryPolicy;
use crate::gateway::{Gateway, Inbound, Stage};
use crate::server::shutdown::TaskGuard;
use close::CloseReason;
use mailbox::{Connection, Outbound};

/// What the session's resources are: released when the session ends.
#[derive(Debug)]
pub struct Held {
    /// The `max_connections` slot.
    pub permit: OwnedSemaphorePermit,
    /// The drain's completion guard.
    pub guard: TaskGuard,
}

/// Runs a connection to its end, then fires `$disconnect`.
pub async fn run<S>(
    ws: WebSocketStream<S>,
    gw: Arc<Gateway>,
    stage: Arc<Stage>,
    conn: Arc<Connection>,
    held: Held,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut state = State::new(&gw);
    let mut ws = ws;
    let reason = state.drive(&mut ws, &gw, &stage, &conn).await;
    drop(ws);
    finish(
        &gw,
        &stage,
        &conn,
        reason,
        state.messages_in,
        state.messages_out,
        held,
    )
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
    conn.mark_closed();
    gw.registry.remove(&conn.id);
    stage.metrics.connections_open.decrement(1.0);
    stage.metrics.disconnect(&reason);
    gw.on_disconnect(stage, conn, &reason).await;
    let (code, why) = reason.disconnect_status();
    info!(
        conn.id = %conn.id, stage = %stage.name, close.code = code, close.reason = %why,
        duration_ms = clock::now_ms().saturating_sub(conn.info.connected_at_ms), messages_in, messages_out,
        "Connection closed."
    );
    drop(held);
}

enum Event {
    Inbound(Message),
    ReadError(WsError),
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
    unflushed: bool,
    max_inflight: usize,
    messages_in: u64,
    messages_out: u64,
}

// === impl State ===

impl State {
    fn new(gw: &Gateway) -> State {
        let now = Instant::now();
        State {
            started: now,
            last_data: now,
            next_ping: gw.ws.ping_interval.map(|i| now + i),
            ping_sent: None,
            unflushed: false,
            max_inflight: gw.ws.max_inflight_per_connection,
            messages_in: 0,
            messages_out: 0,
        }
    }

    /// The earliest of the idle, duration and ping deadlines.
    fn deadline(&self, gw: &Gateway) -> Instant {
        let ws = &gw.ws;
        let far = self.started + Duration::from_secs(100 * 365 * 24 * 3600);
        let idle = ws.idle_timeout.map_or(far, |t| self.last_data + t);
        let max = ws.max_connection_duration.map_or(far, |t| self.started + t);
        let ping = match self.ping_sent {
            Some(sent) => sent + ws.pong_timeout,
            None => self.next_ping.unwrap_or(far),
        };
        idle.min(max).min(ping)
    }

    async fn drive<S>(
        &mut self,
        ws: &mut WebSocketStream<S>,
        gw: &Arc<Gateway>,
        stage: &Arc<Stage>,
        conn: &Arc<Connection>,
    ) -> CloseReason
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let shutdown = gw.shutdown.notified();
        tokio::pin!(shutdown);
        shutdown.as_mut().enable();
        if gw.shutdown.is_draining() {
            return close_with(ws, gw, CloseReason::Shutdown).await;
        }
        let sleep = tokio::time::sleep_until(self.deadline(gw));
        tokio::pin!(sleep);
        loop {
            let event = poll_fn(|cx| {
                self.poll_event(cx, ws, conn, stage, shutdown.as_mut(), sleep.as_mut())
            })
            .await;
            match event {
                Event::Inbound(msg) => {
                    if let Some(reason) = self.on_inbound(msg, gw, stage, conn) {
                        return self.end(ws, gw, reason).await;
                    }
                }
                Event::ReadError(e) => return self.end(ws, gw, read_error_reason(&e)).await,
                Event::ReadEnd => return CloseReason::ClientGone,
                Event::WriteError => return CloseReason::WriteFailed,
                Event::CloseRequested(reason) => return self.end(ws, gw, reason).await,
                Event::Shutdown => return self.end(ws, gw, CloseReason::Shutdown).await,
                Event::Timer => {
                    let now = Instant::now();
                    let cfg = &gw.ws;
                    if cfg
                        .max_connection_duration
                        .is_some_and(|t| now >= self.started + t)
                    {
                        return self.end(ws, gw, CloseReason::MaxDuration).await;
                    }
                    if cfg.idle_timeout.is_some_and(|t| now >= self.last_data + t) {
                        return self.end(ws, gw, CloseReason::IdleTimeout).await;
                    }
                    if self
                        .ping_sent
                        .is_some_and(|sent| now >= sent + cfg.pong_timeout)
                    {
                        return CloseReason::PongTimeout;
                    }
                    if self.ping_sent.is_none() && self.next_ping.is_some_and(|at| now >= at) {
                        if ws.feed(Message::Ping(Default::default())).await.is_err() {
                            return CloseReason::WriteFailed;
                        }
                        self.unflushed = true;
                        self.ping_sent = Some(now);
                        self.next_ping = cfg.ping_interval.map(|i| now + i);
                    }
                    sleep.as_mut().reset(self.deadline(gw));
                }
            }
        }
    }

    /// Polls, in order: outbound writes, drain signal, timer, inbound frames.
    fn poll_event<S>(
        &mut self,
        cx: &mut Context<'_>,
        ws: &mut WebSocketStream<S>,
        conn: &Connection,
        stage: &Stage,
        shutdown: Pin<&mut tokio::sync::futures::Notified<'_>>,
        sleep: Pin<&mut Sleep>,
    ) -> Poll<Event>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        // Clocks are read once per batch written, not once per message.
        let mut wrote = 0u64;
        let result = loop {
            match Pin::new(&mut *ws).poll_ready(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => break Some(Event::WriteError),
                Poll::Pending => break None,
            }
            match conn.poll_outbound(cx) {
                Poll::Ready(Outbound::Message(msg)) => {
                    if Pin::new(&mut *ws).start_send(msg).is_err() {
                        break Some(Event::WriteError);
                    }
                    wrote += 1;
                    self.unflushed = true;
                }
                Poll::Ready(Outbound::Close(reason)) => break Some(Event::CloseRequested(reason)),
                Poll::Pending => break None,
            }
        };
        if wrote > 0 {
            self.last_data = Instant::now();
            conn.touch(clock::now_ms());
            self.messages_out += wrote;
            stage.metrics.messages_out.increment(wrote);
        }
        if let Some(event) = result {
            return Poll::Ready(event);
        }
        if self.unflushed {
            match Pin::new(&mut *ws).poll_flush(cx) {
                Poll::Ready(Ok(())) => self.unflushed = false,
                Poll::Ready(Err(_)) => return Poll::Ready(Event::WriteError),
                Poll::Pending => {}
            }
        }
        if shutdown.poll(cx).is_ready() {
            return Poll::Ready(Event::Shutdown);
        }
        if sleep.poll(cx).is_ready() {
            return Poll::Ready(Event::Timer);
        }
        if conn.inflight() < self.max_inflight {
            match Pin::new(&mut *ws).poll_next(cx) {
                Poll::Ready(Some(Ok(msg))) => return Poll::Ready(Event::Inbound(msg)),
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Event::ReadError(e)),
                Poll::Ready(None) => return Poll::Ready(Event::ReadEnd),
                Poll::Pending => {}
            }
        }
        Poll::Pending
    }

    /// Handles one frame; returns a reason when the connection must end.
    fn on_inbound(
        &mut self,
        msg: Message,
        gw: &Arc<Gateway>,
        stage: &Arc<Stage>,
        conn: &Arc<Connection>,
    ) -> Option<CloseReason> {
        // Any frame proves the peer is alive.
        self.ping_sent = None;
        let inbound = match msg {
            Message::Text(text) => Inbound::Text(text),
            Message::Binary(bytes) => match gw.ws.binary_frames {
                BinaryPolicy::Reject => return Some(CloseReason::BinaryRejected),
                BinaryPolicy::Base64 => {
                    Inbound::Base64(base64::engine::general_purpose::STANDARD.encode(&bytes))
                }
            },
            Message::Close(frame) => {
                let (code, reason) = frame.map_or((1005, String::new()), |f| {
                    (u16::from(f.code), f.reason.to_string())
                });
                return Some(CloseReason::ClientClose { code, reason });
            }
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => return None,
        };
        self.last_data = Instant::now();
        self.messages_in += 1;
        conn.touch(clock::now_ms());
        gw.on_message(stage, conn, inbound);
        None
    }

    /// Ends the connection: answers or sends the close frame, then waits briefly
    /// for the peer to finish the closing handshake.
    async fn end<S>(
        &mut self,
        ws: &mut WebSocketStream<S>,
        gw: &Gateway,
        reason: CloseReason,
    ) -> CloseReason
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        if matches!(reason, CloseReason::ClientClose { .. }) {
            // tungstenite has queued the echo of the client's close frame; reading
            // on flushes it and then reports the end of the stream.
            let _ = tokio::time::timeout(gw.close_timeout(), async {
                while let Some(Ok(_)) = ws.next().await {}
            })
            .await;
            return reason;
        }
        close_with(ws, gw, reason).await
    }
}

/// Sends the reason's close frame (if it has one) and drains the peer's reply.
async fn close_with<S>(
    ws: &mut WebSocketStream<S>,
    gw: &Gateway,
    reason: CloseReason,
) -> CloseReason
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if let Some((code, text)) = reason.close_frame() {
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: text.into(),
        };
        let _ = tokio::time::timeout(gw.close_timeout(), async {
            if ws.send(Message::Close(Some(frame))).await.is_ok() {
                while let Some(Ok(_)) = ws.next().await {}
            }
        })
        .await;
    }
    reason
}

fn read_error_reason(e: &WsError) -> CloseReason {
    match e {
        WsError::Capacity(_) => CloseReason::MessageTooBig,
        WsError::Utf8(_) => CloseReason::InvalidUtf8,
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => CloseReason::ClientGone,
        WsError::Protocol(_) => CloseReason::ProtocolError,
        WsError::ConnectionClosed | WsError::AlreadyClosed | WsError::Io(_) => {
            CloseReason::ClientGone
        }
        _ => CloseReason::ProtocolError,
    }
}
