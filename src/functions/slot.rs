//! A worker's slot: the invocation it runs (or, shared by an external
//! function's workers, one per worker polling), each with its timer. Whoever
//! takes an invocation out of the slot — its answer, its timer, its worker's
//! death — sends its outcome, so it is sent exactly once.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::{Notify, OwnedSemaphorePermit, oneshot};
use tokio::task::JoinHandle;

use super::{Function, Invocation, Outcome};

/// A worker's place: what it runs now. A started worker has its own slot
/// and runs one invocation at a time; an external function's workers share
/// one slot, which holds an invocation per worker polling it.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) f: Arc<Function>,
    pub(super) index: usize,
    running: Mutex<Vec<Running>>,
    /// Its invocation ran out of time: kill the process.
    kill: Notify,
    /// Shared by external workers (which sockgate cannot kill).
    pub(super) external: bool,
}

#[derive(Debug)]
struct Running {
    id: String,
    reply: oneshot::Sender<Outcome>,
    _permit: OwnedSemaphorePermit,
    timer: JoinHandle<()>,
}

impl Slot {
    pub(super) fn new(f: Arc<Function>, index: usize, external: bool) -> Slot {
        Slot {
            f,
            index,
            running: Mutex::new(Vec::new()),
            kill: Notify::new(),
            external,
        }
    }

    /// Makes `inv` this worker's; returns its request id and the event. Its
    /// timer starts now.
    pub(super) fn start(self: &Arc<Self>, inv: Invocation) -> (String, Bytes) {
        let id = request_id();
        let slot = Arc::clone(self);
        let timed = id.clone();
        let timer = tokio::spawn(async move {
            let timeout = slot.f.cfg.timeout;
            tokio::time::sleep(timeout).await;
            // Lambda's answer: a function error, not the caller's timeout.
            let why = format!("Task timed out after {:.2} seconds", timeout.as_secs_f64());
            if slot.finish(&timed, error_object("Sandbox.Timedout", &why, &timed)) && !slot.external
            {
                slot.kill.notify_one();
            }
        });
        let running = Running {
            id: id.clone(),
            reply: inv.reply,
            _permit: inv._permit,
            timer,
        };
        let abandoned = {
            let mut held = self.lock();
            // A started worker that asks for the next invocation has given
            // up on the one it held (external workers are told apart by id).
            let old = match self.external {
                true => Vec::new(),
                false => std::mem::take(&mut *held),
            };
            held.push(running);
            old
        };
        for old in abandoned {
            let why = "the runtime asked for the next invocation without answering this one";
            let outcome = error_object("Runtime.NoResponse", why, &old.id);
            old.end(outcome);
        }
        (id, inv.event)
    }

    /// Ends the invocation `id` with `outcome`; false if it is not this
    /// worker's (answered already, timed out, or never was).
    pub(super) fn finish(&self, id: &str, outcome: Outcome) -> bool {
        let taken = {
            let mut running = self.lock();
            let at = running.iter().position(|r| r.id == id);
            at.map(|i| running.swap_remove(i))
        };
        match taken {
            Some(r) => {
                r.end(outcome);
                true
            }
            None => false,
        }
    }

    /// Ends whatever this worker held: its process is gone.
    pub(super) fn fail_all(&self, why: &str) {
        let taken = std::mem::take(&mut *self.lock());
        for r in taken {
            let message = format!("Runtime exited with error: {why}");
            let outcome = error_object("Runtime.ExitError", &message, &r.id);
            r.end(outcome);
        }
    }

    /// Completes when an invocation of this (started) worker ran out of time:
    /// its process must be killed.
    pub(super) async fn killed(&self) {
        self.kill.notified().await;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Running {
    fn end(self, outcome: Outcome) {
        self.timer.abort();
        // The caller may have given up; the outcome then has nobody to go to.
        let _ = self.reply.send(outcome);
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
fn request_id() -> String {
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
