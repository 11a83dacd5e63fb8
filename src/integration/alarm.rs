//! A timer that stays with a backend connection and bounds each call made on
//! it, so bounding a call costs a clock read rather than a timer of its own.
//!
//! Why: tokio's `timeout` makes a timer entry per call, which clones the
//! runtime's handle (a reference count every core shares) and takes the
//! timer wheel's lock twice, to insert and to remove. That was 3–4 % of the
//! CPU of a proxied request (100 keep-alive clients, `perf`).
//!
//! How: the alarm stays set for the deadline it was last given. A call whose
//! deadline is later leaves it; if it goes off before that deadline, it is
//! set again, to it. A call whose deadline is sooner moves it. With one
//! timeout per backend, it goes off about once per timeout per connection.
//! Left set while its connection is idle, it may wake a task that waits for
//! it no longer: that task is polled once, for nothing.

use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::task::Poll;

use tokio::time::{Instant, Sleep};

use crate::clock;

/// A reusable deadline timer (see the module docs).
#[derive(Debug)]
pub(super) struct Alarm {
    sleep: Pin<Box<Sleep>>,
}

impl Alarm {
    /// An alarm set for `deadline`.
    pub(super) fn new(deadline: Instant) -> Alarm {
        Alarm {
            sleep: Box::pin(tokio::time::sleep_until(deadline)),
        }
    }

    /// `work`'s output, or `None` if `deadline` passes first.
    pub(super) async fn bound<F: Future>(
        &mut self,
        deadline: Instant,
        work: F,
    ) -> Option<F::Output> {
        if self.sleep.deadline() > deadline {
            self.sleep.as_mut().reset(deadline);
        }
        let mut work = pin!(work);
        poll_fn(|cx| {
            if let Poll::Ready(out) = work.as_mut().poll(cx) {
                return Poll::Ready(Some(out));
            }
            while self.sleep.as_mut().poll(cx).is_ready() {
                if clock::now() >= deadline {
                    return Poll::Ready(None);
                }
                // Set for an earlier call: now for this one.
                self.sleep.as_mut().reset(deadline);
            }
            Poll::Pending
        })
        .await
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
