//! Reading a request body whole, within a size cap, a time limit and the
//! memory budgets it counts against: what every listener that buffers a body
//! does before acting on it.
//!
//! A public request's body counts against two budgets while it is held: its
//! connection's (`[http] max_body_bytes_per_connection`: HTTP/2 runs 100
//! requests on one connection, and 100 bodies of just under `max_body_bytes`
//! each, never finished, took a node from 32 MiB to 966 MiB) and the node's
//! (`max_body_bytes_in_flight`: many connections at once). A body that would
//! go over either waits, unread — its client's flow-control window fills and
//! it stops sending — until others are done; one still waiting when its time
//! is up gets 503 (the node was too busy), one merely slow 408.
//!
//! Bytes are copied out of the protocol's frames into one buffer as they
//! arrive (sized from `Content-Length`, whose bytes are reserved first): a
//! frame of HTTP/2 shares the connection's read buffer, and holding frames
//! held those buffers, small and scattered — after such an attack 742 MiB
//! stayed resident. A body of one frame is kept as it is (no copy).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, header};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Why a body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Over the cap (declared in `Content-Length`, or counted while reading).
    TooLarge,
    /// Not complete within the time limit: a stalled peer holds nothing longer.
    Timeout,
    /// Still waiting for room in a body budget when the time was up.
    Busy,
    /// The connection failed mid-body.
    Unreadable,
}

/// The budgets a body counts against (in `config::BODY_UNIT`s).
#[derive(Debug, Clone, Copy)]
pub struct Budget<'a> {
    /// Its connection's.
    pub conn: &'a Arc<Semaphore>,
    /// The node's.
    pub node: &'a Arc<Semaphore>,
}

/// Units (`config::BODY_UNIT`) for `bytes`, rounded up.
pub fn units(bytes: usize) -> usize {
    bytes.div_ceil(crate::config::BODY_UNIT)
}

/// A body read, and its place in the budgets (given back when dropped).
#[derive(Debug, Default)]
pub struct ReadBody {
    /// The bytes.
    pub bytes: Bytes,
    _held: Vec<OwnedSemaphorePermit>,
}

/// Reads the body: a declared `Content-Length` over `max` is refused before a
/// byte is read; otherwise reading stops at `max` bytes or after `timeout`.
pub async fn read(
    headers: &HeaderMap,
    mut body: Incoming,
    max: usize,
    timeout: Duration,
    budget: Option<Budget<'_>>,
) -> Result<ReadBody, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge);
    }
    // A request without a body (most GETs): nothing to wait for.
    if hyper::body::Body::is_end_stream(&body) {
        return Ok(ReadBody::default());
    }
    let waiting = AtomicBool::new(false);
    let mut out = Reading {
        held: Vec::new(),
        units: 0,
        budget,
        waiting: &waiting,
    };
    let collect = async {
        let expected = declared.unwrap_or(0) as usize;
        out.reserve(expected).await;
        let mut buf = BytesMut::new();
        let mut single: Option<Bytes> = None;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|_| BodyError::Unreadable)?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            let len = buf.len() + single.as_ref().map_or(0, Bytes::len) + data.len();
            if len > max {
                return Err(BodyError::TooLarge);
            }
            out.reserve(len).await;
            if buf.is_empty() && single.is_none() && hyper::body::Body::is_end_stream(&body) {
                single = Some(data);
                continue;
            }
            if buf.capacity() == 0 {
                buf.reserve(expected.max(len).min(max));
            }
            if let Some(first) = single.take() {
                buf.extend_from_slice(&first);
            }
            buf.extend_from_slice(&data);
        }
        Ok(single.unwrap_or_else(|| buf.freeze()))
    };
    let bytes = match tokio::time::timeout(timeout, collect).await {
        Ok(read) => read?,
        Err(_) if waiting.load(Ordering::Relaxed) => return Err(BodyError::Busy),
        Err(_) => return Err(BodyError::Timeout),
    };
    Ok(ReadBody {
        bytes,
        _held: out.held,
    })
}

/// A body's reservations so far.
struct Reading<'a, 'b> {
    held: Vec<OwnedSemaphorePermit>,
    units: usize,
    budget: Option<Budget<'b>>,
    waiting: &'a AtomicBool,
}

impl Reading<'_, '_> {
    /// Holds room for `bytes` in every budget, waiting for it if need be.
    async fn reserve(&mut self, bytes: usize) {
        let Some(budget) = self.budget else { return };
        let want = units(bytes);
        if want <= self.units {
            return;
        }
        // Reserved in steps of at least 64 KiB: fewer waits on the
        // semaphores for a body that arrives in many small frames.
        let more = (want - self.units).max(64).min(u32::MAX as usize) as u32;
        self.waiting.store(true, Ordering::Relaxed);
        for sem in [budget.conn, budget.node] {
            // Never closed: they live as long as their connection and node.
            if let Ok(p) = Arc::clone(sem).acquire_many_owned(more).await {
                self.held.push(p);
            }
        }
        self.waiting.store(false, Ordering::Relaxed);
        self.units += more as usize;
    }
}
