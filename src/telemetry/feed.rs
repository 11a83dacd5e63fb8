//! The dashboard's feed: the samples of the last 15 minutes, and a watch on
//! the newest, for every open dashboard.
//!
//! Concurrency: one writer (the sampler task) pushes a sample every
//! [`SAMPLE_EVERY`]; readers (one stream per open dashboard) copy the
//! history once, under a short lock, then wait on the watch. A sample is an
//! `Arc<str>` of JSON, serialized once whatever the number of viewers.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::watch;

/// How often the dashboard's figures are sampled.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(2);
/// Samples kept: 15 minutes' worth, what the plots show.
const HISTORY: usize = 450;
/// Dashboards open at once on one node. Each holds a connection and a task;
/// a handful of operators is the use, and the management listener's own caps
/// are for API callers.
pub const MAX_VIEWERS: usize = 16;

/// A JSON sample.
pub type Sample = Arc<str>;

/// See the module doc.
#[derive(Debug)]
pub struct Feed {
    history: Mutex<VecDeque<Sample>>,
    latest: watch::Sender<Option<Sample>>,
    viewers: Arc<AtomicUsize>,
}

/// One open dashboard's place among [`MAX_VIEWERS`]; freed when dropped.
#[derive(Debug)]
pub struct Viewer(Arc<AtomicUsize>);

impl Drop for Viewer {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Default for Feed {
    fn default() -> Self {
        Feed {
            history: Mutex::new(VecDeque::with_capacity(HISTORY)),
            latest: watch::Sender::new(None),
            viewers: Arc::new(AtomicUsize::new(0)),
        }
    }
}

impl Feed {
    /// Adds the newest sample (the oldest beyond 15 minutes goes).
    pub fn push(&self, sample: Sample) {
        {
            let mut h = self.history.lock().unwrap_or_else(|e| e.into_inner());
            if h.len() == HISTORY {
                h.pop_front();
            }
            h.push_back(Arc::clone(&sample));
        }
        self.latest.send_replace(Some(sample));
    }

    /// The samples kept, oldest first, and a watch that sees every later one
    /// (marked seen up to now).
    pub fn subscribe(&self) -> (Vec<Sample>, watch::Receiver<Option<Sample>>) {
        let h = self.history.lock().unwrap_or_else(|e| e.into_inner());
        let mut rx = self.latest.subscribe();
        rx.mark_unchanged();
        (h.iter().cloned().collect(), rx)
    }

    /// The newest sample, if any.
    pub fn latest(&self) -> Option<Sample> {
        self.latest.borrow().clone()
    }

    /// A place for one more open dashboard, unless [`MAX_VIEWERS`] are open.
    pub fn admit(&self) -> Option<Viewer> {
        let taken = self
            .viewers
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_VIEWERS).then_some(n + 1)
            });
        taken.ok().map(|_| Viewer(Arc::clone(&self.viewers)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_fifteen_minutes_and_admits_a_bounded_number_of_viewers() {
        let feed = Feed::default();
        for i in 0..HISTORY + 5 {
            feed.push(Arc::from(i.to_string()));
        }
        let (history, rx) = feed.subscribe();
        assert_eq!(history.len(), HISTORY);
        assert_eq!(&*history[0], "5");
        assert!(!rx.has_changed().unwrap());
        feed.push(Arc::from("new"));
        assert!(rx.has_changed().unwrap());
        assert_eq!(feed.latest().as_deref(), Some("new"));
        let viewers: Vec<_> = (0..MAX_VIEWERS).map_while(|_| feed.admit()).collect();
        assert_eq!(viewers.len(), MAX_VIEWERS);
        assert!(feed.admit().is_none());
        drop(viewers);
        assert!(feed.admit().is_some());
    }
}
