//! Drain: one "stop" signal broadcast to every session, and completion observed
//! by counting live task guards.
//!
//! Sessions are asked to close through their mailboxes (the server walks the
//! registry after setting the flag, and a session checks the flag when it
//! starts); other waiters (the dashboard's streams) enable a
//! `Notify::notified()` future *before* checking the draining flag, so a
//! drain that starts between the check and the wait is never missed.
//! Completion is tracked with guards that decrement a counter on drop (a session
//! holds one until its `$disconnect` event has been delivered), so "all done" needs
//! no walk over the registry and cannot race with connections being accepted.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use tokio::sync::Notify;

/// The node's drain state.
#[derive(Debug, Default)]
pub struct Shutdown {
    draining: AtomicBool,
    stop: Notify,
    tasks: Arc<Tasks>,
}

#[derive(Debug, Default)]
struct Tasks {
    live: AtomicUsize,
    idle: Notify,
}

/// Held by a task the drain must wait for; dropping it marks the task done.
#[derive(Debug)]
pub struct TaskGuard(Arc<Tasks>);

/// [`TaskGuard`] for work that borrows the [`Shutdown`] (an HTTP request):
/// no reference count to raise, which every core would otherwise contend on
/// once per request.
#[derive(Debug)]
pub struct Tracked<'a>(&'a Tasks);

impl Shutdown {
    /// Starts draining: readiness fails, new upgrades get 503, sessions close.
    pub fn begin(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.stop.notify_waiters();
    }

    /// Whether a drain has begun.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// A future that completes when the drain begins. Enable it (or poll it once)
    /// before checking [`Shutdown::is_draining`].
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.stop.notified()
    }

    /// Registers a task the drain waits for.
    pub fn track(&self) -> TaskGuard {
        self.tasks.live.fetch_add(1, Ordering::SeqCst);
        TaskGuard(Arc::clone(&self.tasks))
    }

    /// Registers work, borrowing this, that the drain waits for.
    pub fn track_borrowed(&self) -> Tracked<'_> {
        self.tasks.live.fetch_add(1, Ordering::SeqCst);
        Tracked(&self.tasks)
    }

    /// Tasks still running.
    pub fn live_tasks(&self) -> usize {
        self.tasks.live.load(Ordering::SeqCst)
    }

    /// Waits until every tracked task has finished.
    pub async fn all_done(&self) {
        loop {
            let idle = self.tasks.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.tasks.live.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }
}

impl Tasks {
    fn done(&self) {
        if self.live.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.idle.notify_waiters();
        }
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.done();
    }
}

impl Drop for Tracked<'_> {
    fn drop(&mut self) {
        self.0.done();
    }
}
