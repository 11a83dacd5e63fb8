//! A worker's slot: the invocation it runs (or, shared by an external
//! function's workers, one per worker polling), each with its deadline.
//! Whoever takes an invocation out of the slot — its answer, the reaper at
//! its deadline, its worker's death — sends its outcome, so it is sent
//! exactly once.
//!
//! Deadlines: one reaper per slot ([`Slot::expire`], awaited by the
//! worker's supervisor) sleeps until the earliest deadline held, rather than
//! a timer task per invocation. Spawning and aborting a task per invocation
//! woke the runtime's other thread twice per invocation (measured: 12.5
//! system calls per hosted invocation, futex and epoll_wait the most). Every
//! invocation of a function has the same timeout, so a new one never has
//! the earliest deadline unless nothing else is held: the reaper is woken
//! only then, when it is waiting on an empty slot.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::{Notify, OwnedSemaphorePermit, oneshot};

use super::{Function, Invocation, Outcome};
use crate::clock::{self, Instant};
use crate::telemetry::FunctionOutcome;

/// A worker's place: what it runs now. A started worker has its own slot
/// and runs one invocation at a time; an external function's workers share
/// one slot, which holds an invocation per worker polling it.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) f: Arc<Function>,
    pub(super) index: usize,
    held: Mutex<Held>,
    /// Something was started while the reaper waited on an empty slot.
    started: Notify,
    /// Shared by external workers (which sockgate cannot kill).
    pub(super) external: bool,
    /// The worker's process has spoken to its Runtime API (polled `next` or
    /// reported `init/error`) since it started.
    reached: AtomicBool,
}

#[derive(Debug, Default)]
struct Held {
    running: Vec<Running>,
    /// The reaper found nothing held and waits for `started`.
    reaper_idle: bool,
}

#[derive(Debug)]
struct Running {
    id: String,
    reply: oneshot::Sender<Outcome>,
    _permit: OwnedSemaphorePermit,
    deadline: Instant,
}

impl Slot {
    pub(super) fn new(f: Arc<Function>, index: usize, external: bool) -> Slot {
        Slot {
            f,
            index,
            held: Mutex::new(Held::default()),
            started: Notify::new(),
            external,
            reached: AtomicBool::new(false),
        }
    }

    /// Makes `inv` this worker's; returns its request id, the event and its
    /// trace id. Its time starts now.
    pub(super) fn start(&self, inv: Invocation) -> (String, Bytes, String) {
        let id = request_id();
        let running = Running {
            id: id.clone(),
            reply: inv.reply,
            _permit: inv._permit,
            deadline: clock::now() + self.f.cfg.timeout,
        };
        let abandoned = {
            let mut held = self.lock();
            // A started worker that asks for the next invocation has given
            // up on the one it held (external workers are told apart by id).
            let old = match self.external {
                true => Vec::new(),
                false => std::mem::take(&mut held.running),
            };
            held.running.push(running);
            self.f.metrics.busy.increment(1);
            if std::mem::take(&mut held.reaper_idle) {
                // Stored if the reaper is not waiting yet: it is not lost.
                self.started.notify_one();
            }
            old
        };
        for old in abandoned {
            let why = "the runtime asked for the next invocation without answering this one";
            let outcome = error_object("Runtime.NoResponse", why, &old.id);
            self.end(old, outcome, FunctionOutcome::WorkerLost);
        }
        (id, inv.event, inv.trace)
    }

    /// Ends the invocation `id` with `outcome`; false if it is not this
    /// worker's (answered already, timed out, or never was).
    pub(super) fn finish(&self, id: &str, outcome: Outcome, kind: FunctionOutcome) -> bool {
        let taken = {
            let running = &mut self.lock().running;
            let at = running.iter().position(|r| r.id == id);
            at.map(|i| running.swap_remove(i))
        };
        match taken {
            Some(r) => {
                self.end(r, outcome, kind);
                true
            }
            None => false,
        }
    }

    /// Its process spoke to the Runtime API.
    pub(super) fn reached(&self) {
        self.reached.store(true, Ordering::Relaxed);
    }

    /// Whether its process spoke to the Runtime API since the last call
    /// (each new process starts unheard).
    pub(super) fn take_reached(&self) -> bool {
        self.reached.swap(false, Ordering::Relaxed)
    }

    /// Ends whatever this worker held: its process is gone.
    pub(super) fn fail_all(&self, why: &str) {
        let taken = std::mem::take(&mut self.lock().running);
        for r in taken {
            let message = format!("Runtime exited with error: {why}");
            let outcome = error_object("Runtime.ExitError", &message, &r.id);
            self.end(r, outcome, FunctionOutcome::WorkerLost);
        }
    }

    /// The reaper: ends each invocation held past its deadline with
    /// Lambda's timeout failure (a function error, not the caller's
    /// timeout), and completes when it ended one — for a started worker, its
    /// process must then be killed. Runs as long as it is awaited.
    pub(super) async fn expire(&self) {
        loop {
            let earliest = {
                let mut held = self.lock();
                let earliest = held.running.iter().map(|r| r.deadline).min();
                held.reaper_idle = earliest.is_none();
                earliest
            };
            match earliest {
                None => self.started.notified().await,
                Some(at) => {
                    tokio::time::sleep_until(at).await;
                    if self.end_expired() {
                        return;
                    }
                }
            }
        }
    }

    /// Ends what is past its deadline; true if anything was.
    fn end_expired(&self) -> bool {
        let now = clock::now();
        let expired: Vec<Running> = {
            let running = &mut self.lock().running;
            let (late, on_time) = std::mem::take(running)
                .into_iter()
                .partition(|r| r.deadline <= now);
            *running = on_time;
            late
        };
        let timeout = self.f.cfg.timeout.as_secs_f64();
        let why = format!("Task timed out after {timeout:.2} seconds");
        let any = !expired.is_empty();
        for r in expired {
            let outcome = error_object("Sandbox.Timedout", &why, &r.id);
            self.end(r, outcome, FunctionOutcome::Timeout);
        }
        any
    }

    /// Sends the outcome of `r`, taken out of the slot, and counts it.
    fn end(&self, r: Running, outcome: Outcome, kind: FunctionOutcome) {
        let m = &self.f.metrics;
        m.busy.decrement(1);
        m.ended(kind);
        // The caller may have given up; the outcome then has nobody to go to.
        let _ = r.reply.send(outcome);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// AWS's error object for a failure the host reports on the handler's behalf.
pub(super) fn error_object(kind: &str, message: &str, id: &str) -> Outcome {
    let body = serde_json::json!({
        "errorMessage": format!("RequestId: {id} Error: {message}"),
        "errorType": kind,
    });
    Outcome::Error(Bytes::from(body.to_string()))
}

/// A request id in AWS's form (a random UUID, version 4).
pub(super) fn request_id() -> String {
    let b: u128 =
        (rand::random::<u128>() & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    let h = format!("{b:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}
