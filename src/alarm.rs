//! A timer reused for one deadline after another, so bounding each call on
//! a backend connection, or each request head on a client connection, costs
//! a clock read rather than a timer of its own.
//!
//! Why: a tokio timer per call (`tokio::time::timeout`, hyper-util's
//! `TokioTimer`) is a timer entry of its own, which clones the runtime's
//! handle (a reference count every core shares) and takes the timer wheel's
//! lock to insert and again to remove. With one per backend call and one per
//! request head, that was 3–4 % of the CPU of a proxied request (100
//! keep-alive clients, `perf`).
//!
//! How: the alarm stays set for the deadline it was last given. A wait whose
//! deadline is later leaves it; if it goes off before that deadline, it is
//! set again, to it. A wait whose deadline is sooner moves it. With one
//! timeout per use, it goes off about once per timeout per connection. Left
//! set between waits, it may wake a task that waits for it no longer: that
//! task is polled once, for nothing.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::{Context, Poll};

use tokio::time::{Instant, Sleep};

use crate::clock;

/// A reusable deadline timer (see the module docs).
#[derive(Debug)]
pub struct Alarm {
    sleep: Pin<Box<Sleep>>,
}

impl Alarm {
    /// An alarm set for `deadline`.
    pub fn new(deadline: Instant) -> Alarm {
        Alarm {
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
        }
    }

    /// `work`'s output, or `None` if `deadline` passes first.
    pub async fn bound<F: Future>(&mut self, deadline: Instant, work: F) -> Option<F::Output> {
        let mut work = pin!(work);
        poll_fn(|cx| {
            if let Poll::Ready(out) = work.as_mut().poll(cx) {
                return Poll::Ready(Some(out));
            }
            self.poll_until(cx, deadline).map(|()| None)
        })
        .await
    }

    /// Ready once `deadline` has passed; until then, `cx` is woken by then.
    pub fn poll_until(&mut self, cx: &mut Context<'_>, deadline: Instant) -> Poll<()> {
        if self.sleep.deadline() > deadline {
            self.sleep.as_mut().reset(deadline);
        }
        while self.sleep.as_mut().poll(cx).is_ready() {
            if clock::now() >= deadline {
                return Poll::Ready(());
            }
            // Set for an earlier deadline: now for this one.
            self.sleep.as_mut().reset(deadline);
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn work_that_ends_in_time_is_answered() {
        let mut alarm = Alarm::new(clock::now() + Duration::from_secs(1));
        let deadline = clock::now() + Duration::from_secs(5);
        let work = tokio::time::sleep(Duration::from_secs(2));
        assert_eq!(alarm.bound(deadline, work).await, Some(()));
    }

    #[tokio::test(start_paused = true)]
    async fn work_past_its_deadline_is_cut_off_at_the_deadline() {
        let start = clock::now();
        // Set for a later call's deadline: moved sooner.
        let mut alarm = Alarm::new(start + Duration::from_secs(60));
        let work = std::future::pending::<()>();
        let out = alarm.bound(start + Duration::from_secs(3), work).await;
        assert_eq!(out, None);
        assert_eq!(clock::now() - start, Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn an_alarm_set_for_an_earlier_call_waits_for_this_ones_deadline() {
        let start = clock::now();
        let mut alarm = Alarm::new(start + Duration::from_secs(1));
        let out = alarm
            .bound(start + Duration::from_secs(2), std::future::ready(7))
            .await;
        assert_eq!(out, Some(7));
        // It goes off at 1 s, early for this call: this call still has 4 s.
        let out = alarm
            .bound(start + Duration::from_secs(5), std::future::pending::<()>())
            .await;
        assert_eq!(out, None);
        assert_eq!(clock::now() - start, Duration::from_secs(5));
        // And after going off, it bounds the next call too.
        let later = clock::now() + Duration::from_secs(2);
        let out = alarm.bound(later, std::future::pending::<()>()).await;
        assert_eq!(out, None);
        assert_eq!(clock::now() - start, Duration::from_secs(7));
    }
}
