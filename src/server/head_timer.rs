//! The timer hyper's HTTP/1 server bounds each request head with
//! (`server.handshake_timeout`): hyper asks for a new one every time it
//! waits for a head, and drops it once the head is in.
//!
//! Why not hyper-util's `TokioTimer`: each of its timers is a tokio timer of
//! its own, made and dropped per request on a keep-alive connection. Here
//! each connection keeps one [`Alarm`] and lends it to each head (see
//! `alarm` for what that saves).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::rt::Timer;
use tokio::time::Instant;

use crate::alarm::Alarm;
use crate::clock;

/// One connection's head timer (see the module docs).
#[derive(Debug, Default)]
pub(super) struct HeadTimer {
    /// The alarm, while no head is being waited for.
    spare: Arc<Mutex<Option<Alarm>>>,
}

impl Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.lend(clock::now() + duration)
    }

    fn sleep_until(&self, deadline: std::time::Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.lend(Instant::from_std(deadline))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: std::time::Instant) {
        match sleep.as_mut().downcast_mut_pin::<Lent>() {
            Some(lent) => lent.get_mut().deadline = Instant::from_std(new_deadline),
            None => *sleep = self.lend(Instant::from_std(new_deadline)),
        }
    }

    fn now(&self) -> std::time::Instant {
        clock::now().into_std()
    }
}

impl HeadTimer {
    fn lend(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        let spare = self.spare.lock().unwrap_or_else(|e| e.into_inner()).take();
        let alarm = spare.unwrap_or_else(|| Alarm::new(deadline));
        Box::pin(Lent {
            alarm: Some(alarm),
            deadline,
            home: Arc::clone(&self.spare),
        })
    }
}

/// The connection's timer, lent to one head.
struct Lent {
    /// Always `Some` until dropped.
    alarm: Option<Alarm>,
    deadline: Instant,
    home: Arc<Mutex<Option<Alarm>>>,
}

impl hyper::rt::Sleep for Lent {}

impl Future for Lent {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = self.deadline;
        match self.alarm.as_mut() {
            Some(alarm) => alarm.poll_until(cx, deadline),
            None => Poll::Ready(()),
        }
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        if let Some(alarm) = self.alarm.take() {
            *self.home.lock().unwrap_or_else(|e| e.into_inner()) = Some(alarm);
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt as _;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn each_head_waits_for_its_own_deadline_on_one_reused_timer() {
        let timer = HeadTimer::default();
        let start = clock::now();
        timer.sleep(Duration::from_secs(10)).await;
        assert_eq!(clock::now() - start, Duration::from_secs(10));
        // A head that came in time: its timer goes back, set for 15 s.
        let mut came = timer.sleep(Duration::from_secs(5));
        assert!((&mut came).now_or_never().is_none());
        drop(came);
        // The next head's deadline is later (25 s): the early alarm at 15 s
        // does not end it.
        timer.sleep(Duration::from_secs(15)).await;
        assert_eq!(clock::now() - start, Duration::from_secs(25));
        // A sooner deadline moves the timer.
        let mut long = timer.sleep(Duration::from_secs(60));
        let at = clock::now() + Duration::from_secs(1);
        timer.reset(&mut long, at.into_std());
        long.await;
        assert_eq!(clock::now() - start, Duration::from_secs(26));
    }
}
