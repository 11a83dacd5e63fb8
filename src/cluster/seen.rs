//! Which messages this node has already acted on, so that each is acted on
//! once although Redis may hand it over twice.
//!
//! On a Redis Cluster a node can be subscribed to a channel on two nodes of
//! one shard: after a failover the Redis client subscribes again by its slot
//! map, which may still name the demoted master, now a replica; a replica of
//! the shard accepts `SSUBSCRIBE` without a redirect, and the new master's
//! messages reach it too. Subscribed there and again on the new master, the
//! node gets each message twice (found by `load/chaos.sh`: 871 POSTs
//! delivered twice in ten minutes, and group sends in the Redis Cluster
//! schedule of `tests/chaos`).
//!
//! A sender numbers what it sends 1, 2, 3, … — its requests in one sequence,
//! its group sends and broadcasts in another — and per sender a window of the
//! last ids says which were seen. Within the window any order is fine (one
//! path may lag the other, and a sender's fan-out goes over many channels). A
//! message older than the window is dropped, since it cannot be told from a
//! copy: a request's asker answers it 503 at its deadline, which is the truth;
//! a group send is at most once by contract (see the README), and the drop is
//! counted.

use std::collections::HashMap;

use crate::conn::NodeTag;

/// Request ids remembered per asker: 4,096 bits, 512 bytes. More than an
/// asker's requests in one `request_timeout` at the rates the cluster is
/// measured at (2,000/s over 500 ms is 1,000), and a request that old is past
/// its deadline or nearly so.
pub(super) const REQUESTS: u64 = 4096;

/// Fan-out ids remembered per sender: 65,536 bits, 8 KiB. A sender's group
/// sends and broadcasts in one `request_timeout` (the deadline past which they
/// are dropped anyway): 65,000 a second at the default 1 s, which is above
/// what one Redis shard publishes, since each send is one `PUBLISH` per group
/// partition.
pub(super) const FANOUT: u64 = 65_536;

/// Senders remembered at most (one per node of the cluster; a bound in case
/// something else publishes on the channels): at most 8 MiB of fan-out windows.
const MAX_SENDERS: usize = 1024;

/// What [`Seen::check`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Seen for the first time: act on it.
    First,
    /// A copy of one already acted on.
    Copy,
    /// Older than the window: cannot be told from a copy.
    TooOld,
}

pub(super) struct Seen {
    window: u64,
    senders: HashMap<NodeTag, Window>,
}

struct Window {
    /// The highest id seen.
    max: u64,
    /// Bit `id % window`: `id` was seen (for ids within the window).
    bits: Box<[u64]>,
}

impl Seen {
    /// Remembers `window` ids per sender (a multiple of 64).
    pub(super) fn new(window: u64) -> Seen {
        debug_assert!(window >= 64 && window.is_multiple_of(64));
        Seen {
            window,
            senders: HashMap::new(),
        }
    }

    /// Whether message `id` from `sender` is seen for the first time (and
    /// remembers it).
    pub(super) fn check(&mut self, sender: NodeTag, id: u64) -> Verdict {
        if self.senders.len() >= MAX_SENDERS && !self.senders.contains_key(&sender) {
            self.senders.clear();
        }
        let words = (self.window / 64) as usize;
        let window = self.senders.entry(sender).or_insert_with(|| Window {
            max: id,
            bits: vec![0; words].into_boxed_slice(),
        });
        window.check(id)
    }
}

impl Window {
    fn len(&self) -> u64 {
        self.bits.len() as u64 * 64
    }

    fn check(&mut self, id: u64) -> Verdict {
        let len = self.len();
        if id > self.max {
            // Forget the ids the window moves past: bit by bit, each id once
            // per sender, or the whole window at once after a long gap.
            let gap = id - self.max;
            if gap >= len {
                self.bits.fill(0);
            } else {
                for old in (self.max + 1)..=id {
                    self.set(old, false);
                }
            }
            self.max = id;
        } else if self.max - id >= len {
            return Verdict::TooOld;
        } else if self.get(id) {
            return Verdict::Copy;
        }
        self.set(id, true);
        Verdict::First
    }

    fn get(&self, id: u64) -> bool {
        let bit = id % self.len();
        self.bits[(bit / 64) as usize] & (1 << (bit % 64)) != 0
    }

    fn set(&mut self, id: u64, on: bool) {
        let bit = id % self.len();
        let word = &mut self.bits[(bit / 64) as usize];
        if on {
            *word |= 1 << (bit % 64);
        } else {
            *word &= !(1 << (bit % 64));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Verdict::{Copy, First, TooOld};
    use super::*;

    fn tag(s: &str) -> NodeTag {
        crate::conn::Id::parse(&format!("{s}AAAAAAAAAAA="))
            .unwrap()
            .node()
    }

    #[test]
    fn each_id_is_first_once_per_sender_in_any_order_within_the_window() {
        for window in [REQUESTS, FANOUT, 64] {
            let (a, b) = (tag("aaaa"), tag("bbbb"));
            let mut seen = Seen::new(window);
            for id in 1..=10 {
                assert_eq!(seen.check(a, id), First);
            }
            // The second path's copies, late.
            for id in 1..=10 {
                assert_eq!(seen.check(a, id), Copy);
            }
            // Another sender's ids are its own.
            assert_eq!(seen.check(b, 3), First);
            // Out of order across paths: 12 before 11.
            assert_eq!(seen.check(a, 12), First);
            assert_eq!(seen.check(a, 11), First);
            assert_eq!(seen.check(a, 12), Copy);
            // A jump past the window forgets what it passed; older is dropped.
            assert_eq!(seen.check(a, 12 + window), First);
            assert_eq!(seen.check(a, 12), TooOld);
            assert_eq!(seen.check(a, 13 + window), First);
            assert_eq!(seen.check(a, 11 + window), First);
            assert_eq!(seen.check(a, 11 + window), Copy);
            // A gap of less than the window clears just what it passes over:
            // ids it skipped are still new, the last ones before it still seen.
            assert_eq!(seen.check(a, 13 + window + window / 2), First);
            assert_eq!(seen.check(a, 14 + window), First);
            assert_eq!(seen.check(a, 13 + window), Copy);
        }
    }

    #[test]
    fn a_copy_is_told_after_a_window_of_ids_went_by_on_other_channels() {
        // A fan-out sender's ids go over many channels: this node sees a
        // sparse subset, and a copy may come almost a window late.
        let a = tag("aaaa");
        let mut seen = Seen::new(FANOUT);
        for id in (1..FANOUT).step_by(97) {
            assert_eq!(seen.check(a, id), First);
        }
        assert_eq!(seen.check(a, 98), Copy);
        assert_eq!(seen.check(a, FANOUT + 1), First);
        assert_eq!(seen.check(a, 1), TooOld);
    }
}
