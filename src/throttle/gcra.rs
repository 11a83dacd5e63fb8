//! The throttling arithmetic: AWS's token bucket (a rate of tokens per second
//! and a burst, the bucket's size, starting full), computed as GCRA — the
//! generic cell rate algorithm redis-cell uses — so that one bucket is one
//! number: the theoretical arrival time (TAT) of the next request.
//!
//! With `T = 1 / rate` and `τ = (burst - 1) · T`, a request at `now` is
//! allowed when `TAT - now ≤ τ`, and then `TAT = max(TAT, now) + T`. That
//! admits exactly `burst` requests at once from a full bucket and then one
//! every `T`, as the token bucket does, with no boundary bursts (unlike fixed
//! windows). The cluster's Redis script runs the same formula, so a limit
//! means the same thing on one node and on many.
//!
//! Written here rather than taken from `governor`: its keyed limiters share
//! one quota (per-key quotas, which usage plans need, are an open issue
//! there), and this formula must match the Redis script digit for digit.

use std::sync::atomic::{AtomicU64, Ordering};

pub use crate::config::Limit;

/// A limit in GCRA's terms, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// `T`: the time one request costs.
    interval: u64,
    /// `τ`: how far ahead of `now` the TAT may run.
    tolerance: u64,
    /// A rate or burst of 0 admits nothing (AWS: 0 turns a route off).
    closed: bool,
    /// Decided in Redis, for the cluster.
    cluster: bool,
}

impl Gcra {
    /// The GCRA form of `limit`.
    pub fn new(limit: Limit) -> Gcra {
        let closed = limit.rate <= 0.0 || limit.burst == 0;
        let interval = if closed {
            u64::MAX
        } else {
            (1e9 / limit.rate).round().max(1.0) as u64
        };
        let tolerance = if closed {
            0
        } else {
            interval.saturating_mul(u64::from(limit.burst) - 1)
        };
        Gcra {
            interval,
            tolerance,
            closed,
            cluster: limit.cluster,
        }
    }

    /// `T` in nanoseconds (`u64::MAX` when closed).
    pub fn interval_ns(&self) -> u64 {
        self.interval
    }

    /// `τ` in nanoseconds.
    pub fn tolerance_ns(&self) -> u64 {
        self.tolerance
    }

    /// Whether it admits nothing.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether the limit is the cluster's (decided in Redis).
    pub fn is_cluster(&self) -> bool {
        self.cluster
    }

    /// The same limit for one of `nodes` nodes: what a node admits alone
    /// while Redis is unreachable (fail-open).
    pub fn per_node(&self, nodes: usize) -> Gcra {
        let n = nodes.max(1) as u64;
        Gcra {
            interval: self.interval.saturating_mul(n),
            tolerance: self.tolerance / n,
            closed: self.closed,
            cluster: false,
        }
    }

    /// Decides one request at `now` against the bucket whose TAT is `tat`;
    /// returns the new TAT, or `None` (throttled, the bucket unchanged).
    pub fn decide(&self, tat: u64, now: u64) -> Option<u64> {
        if self.closed {
            return None;
        }
        let tat = tat.max(now);
        (tat - now <= self.tolerance).then(|| tat.saturating_add(self.interval))
    }
}

/// One bucket shared by every thread: its TAT, updated by compare-and-swap.
#[derive(Debug, Default)]
pub struct Bucket(AtomicU64);

impl Bucket {
    /// Takes one token at `now` (ns on the gateway's monotonic clock), if the
    /// bucket has one.
    pub fn allow(&self, gcra: &Gcra, now: u64) -> bool {
        let mut tat = self.0.load(Ordering::Relaxed);
        loop {
            let Some(next) = gcra.decide(tat, now) else {
                return false;
            };
            match self
                .0
                .compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(seen) => tat = seen,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000_000;

    /// Admitted requests when `n` arrive evenly over `secs` seconds.
    fn admitted(limit: Limit, n: u64, secs: u64) -> u64 {
        let g = Gcra::new(limit);
        let b = Bucket::default();
        let start = 10 * SEC;
        (0..n)
            .filter(|i| b.allow(&g, start + i * secs * SEC / n))
            .count() as u64
    }

    #[test]
    fn a_full_bucket_admits_its_burst_at_once_then_the_rate() {
        let g = Gcra::new(Limit {
            rate: 10.0,
            burst: 5,
            cluster: false,
        });
        let b = Bucket::default();
        let now = 100 * SEC;
        let at_once = (0..20).filter(|_| b.allow(&g, now)).count();
        assert_eq!(at_once, 5);
        // One token comes back every 100 ms.
        assert!(!b.allow(&g, now + SEC / 10 - 1));
        assert!(b.allow(&g, now + SEC / 10));
        assert!(!b.allow(&g, now + SEC / 10));
        // After a second of quiet the bucket is full again (5), not more.
        let later = now + 2 * SEC;
        assert_eq!((0..20).filter(|_| b.allow(&g, later)).count(), 5);
    }

    #[test]
    fn sustained_traffic_is_held_to_the_rate_plus_the_burst() {
        let limit = Limit {
            rate: 100.0,
            burst: 10,
            cluster: false,
        };
        // 1,000/s offered for 10 s: 100/s admitted, plus the burst.
        let got = admitted(limit, 10_000, 10);
        assert!((1_000..=1_011).contains(&got), "{got}");
        // Under the rate, everything passes.
        assert_eq!(admitted(limit, 500, 10), 500);
    }

    #[test]
    fn zero_closes_and_fractions_work() {
        for closed in [
            Limit {
                rate: 0.0,
                burst: 10,
                cluster: false,
            },
            Limit {
                rate: 5.0,
                burst: 0,
                cluster: false,
            },
        ] {
            assert_eq!(admitted(closed, 100, 1), 0);
        }
        // Half a request per second, burst 1: one every 2 s.
        let got = admitted(
            Limit {
                rate: 0.5,
                burst: 1,
                cluster: false,
            },
            100,
            10,
        );
        assert_eq!(got, 5);
    }

    #[test]
    fn threads_never_take_more_than_the_bucket_holds() {
        let g = Gcra::new(Limit {
            rate: 1.0,
            burst: 1000,
            cluster: false,
        });
        let b = std::sync::Arc::new(Bucket::default());
        let now = 50 * SEC;
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let b = std::sync::Arc::clone(&b);
                std::thread::spawn(move || (0..1000).filter(|_| b.allow(&g, now)).count())
            })
            .collect();
        let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(total, 1000);
    }
}
