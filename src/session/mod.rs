//! One live client connection: a single task that owns the socket.
//!
//! The task drives everything from one `poll_fn` state machine instead of
//! `select!` over split halves: it writes queued frames while the socket
//! accepts them (see `transport` for how buffers are kept off idle
//! connections), takes close requests (a DELETE, a reload, the drain) from its
//! mailbox, watches a single timer, and reads the next
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

mod drive;
mod transport;

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::OwnedSemaphorePermit;
use tracing::info;

use crate::clock;
use crate::conn::{CloseReason, Connection};
use crate::gateway::{Gateway, Stage};
use crate::shutdown::TaskGuard;
use crate::snapshot::Snapshot;
use crate::telemetry::access;
use drive::State;
use transport::Transport;

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

/// What a session starts from.
#[derive(Debug)]
pub struct Start<S> {
    /// The upgraded socket.
    pub io: S,
    /// Anything the client sent past its handshake.
    pub leftover: bytes::Bytes,
    /// The gateway.
    pub gw: Arc<Gateway>,
    /// The connection's stage (its side, for a canary).
    pub stage: Arc<Stage>,
    /// The connection.
    pub conn: Arc<Connection>,
    /// Its slots.
    pub held: Held,
}

/// Runs a connection on an upgraded socket to its end, then fires `$disconnect`.
///
/// Its inputs come boxed, and the caller spawns this as the connection's
/// task: an async fn keeps its arguments for its whole life beside whatever
/// they are moved into, so unboxed arguments (and a caller's future around
/// this one) would sit in every idle connection's task twice. Measured with
/// `-Zprint-type-sizes`: the connection's task future went from 1,608 bytes
/// (nested in the `$connect` task, arguments by value) to 736.
pub async fn run<S>(start: Box<Start<S>>)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // Unboxed in a plain function, so the box is freed now rather than when
    // this future ends.
    let Start {
        io,
        leftover,
        gw,
        stage,
        conn,
        held,
    } = unbox(start);
    // The open-connections gauge goes down where it went up, even if a reload
    // has since moved the connection to another side of its stage.
    let opened_on = stage.metrics.connections_open.clone();
    let mut state = State::new(gw.snapshot_arc(), stage);
    let inflate = crate::ws::Inflate::agreed(conn.deflate());
    let mut io = Transport::new(io, drive::limits(&state.snap), inflate, leftover);
    let reason = state.drive(&mut io, &gw, &conn).await;
    drop(io);
    let (snap, stage) = (state.snap, state.stage);
    let counts = (state.messages_in, state.messages_out);
    opened_on.decrement(1.0);
    // Boxed so `$disconnect`'s state is allocated only while it runs.
    Box::pin(finish(&gw, &snap, &stage, &conn, reason, counts, held)).await;
}

#[expect(
    clippy::boxed_local,
    reason = "taking the box by value is the point: it is freed on return"
)]
fn unbox<S>(start: Box<Start<S>>) -> Start<S> {
    *start
}

/// Ends a connection whose upgrade never completed after `$connect` accepted it.
pub async fn abandon(gw: Arc<Gateway>, stage: Arc<Stage>, conn: Arc<Connection>, held: Held) {
    let snap = gw.snapshot_arc();
    finish(
        &gw,
        &snap,
        &stage,
        &conn,
        CloseReason::ClientGone,
        (0, 0),
        held,
    )
    .await;
}

/// The one end path: `counts` are the messages in and out.
async fn finish(
    gw: &Gateway,
    snap: &Snapshot,
    stage: &Stage,
    conn: &Connection,
    reason: CloseReason,
    (messages_in, messages_out): (u64, u64),
    held: Held,
) {
    gw.delivery().closed(conn);
    stage.metrics.disconnect(&reason);
    // A connection closed because a survivor declared this node lost has had its
    // `$disconnect` from that survivor already.
    let mut took = None;
    // The connection's slots are free now: the claim may wait for Redis (see
    // `cluster::claim`); the drain's guard stays until the `$disconnect` is out.
    let Held { permit, guard, ip } = held;
    drop((permit, ip));
    let draining = || gw.shutdown().is_draining();
    if reason != CloseReason::NodeLost && gw.delivery().claim_disconnect(conn, &draining).await {
        // The clock is read only for the access log, for a `$disconnect` route.
        let started = (snap.ws.access_log && stage.disconnect.is_some()).then(clock::now);
        gw.on_disconnect(snap, stage, conn, &reason).await;
        took = started.map(|s| s.elapsed().as_millis() as u64);
    } else {
        info!(conn.id = %conn.id, stage = %stage.name, "$disconnect skipped: a surviving node already delivered it while this one was cut off.");
    }
    let (code, why) = reason.disconnect_status();
    if snap.ws.access_log {
        let ip = &conn.info.source_ip;
        let trace = conn.info.trace.root();
        access::websocket(
            &access::WsLine {
                integration_latency_ms: took,
                trace_id: trace.as_deref(),
                disconnect: Some((code, &why)),
                ..access::WsLine::new(
                    "DISCONNECT",
                    conn.id.as_str(),
                    &stage.name,
                    ip,
                    "$disconnect",
                    200,
                )
            },
            snap.ws_access_format.as_ref(),
        );
    }
    info!(
        conn.id = %conn.id, stage = %stage.name, close.code = code, close.reason = %why,
        duration_ms = clock::now_ms().saturating_sub(conn.info.connected_at_ms), messages_in, messages_out,
        "Connection closed."
    );
    drop(guard);
}
