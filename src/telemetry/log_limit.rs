//! A bound on how often one kind of log line is written: a backend that is
//! down fails every call, and one line per failed call would flood the log
//! (and its disk) at the rate clients call. At most `per_window` lines are
//! written per window; the first line after a window with lines held back
//! says how many were.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::clock;

/// The window lines are counted in.
const WINDOW_NS: u64 = 1_000_000_000;

/// Counts lines of one kind.
#[derive(Debug)]
pub struct LogLimit {
    per_window: u64,
    /// `clock::mono_ns` when the current window started.
    window: AtomicU64,
    /// Lines written in the current window.
    written: AtomicU64,
    /// Lines held back since the last one written.
    held: AtomicU64,
}

impl LogLimit {
    /// At most `per_window` lines a second.
    pub const fn new(per_window: u64) -> LogLimit {
        LogLimit {
            per_window,
            window: AtomicU64::new(0),
            written: AtomicU64::new(0),
            held: AtomicU64::new(0),
        }
    }

    /// Whether to write a line now: `Some(n)` with the number held back
    /// before it, `None` to hold this one back. (Two threads crossing a
    /// window's edge at once may both write: a line or two over, never a
    /// flood.)
    pub fn admit(&self) -> Option<u64> {
        let now = clock::mono_ns();
        let start = self.window.load(Ordering::Relaxed);
        if now.saturating_sub(start) >= WINDOW_NS
            && self
                .window
                .compare_exchange(start, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.written.store(0, Ordering::Relaxed);
        }
        if self.written.fetch_add(1, Ordering::Relaxed) < self.per_window {
            Some(self.held.swap(0, Ordering::Relaxed))
        } else {
            self.held.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn lines_past_the_bound_are_held_back_and_counted() {
        let limit = LogLimit::new(3);
        let first: Vec<_> = (0..10).map(|_| limit.admit()).collect();
        assert_eq!(first[..3], [Some(0), Some(0), Some(0)]);
        assert!(first[3..].iter().all(Option::is_none));
        tokio::time::advance(std::time::Duration::from_millis(1001)).await;
        assert_eq!(
            limit.admit(),
            Some(7),
            "the next window says how many were held"
        );
        assert_eq!(limit.admit(), Some(0));
    }
}
