//! Which requests this node has already acted on, so that each is acted on
//! once although Redis may hand it over twice.
//!
//! On a Redis Cluster a node can be subscribed to its channel on two nodes of
//! one shard: after a failover the Redis client subscribes again by its slot
//! map, which may still name the demoted master, now a replica; a replica of
//! the shard accepts `SSUBSCRIBE` without a redirect, and the new master's
//! messages reach it too. Subscribed there and again on the new master, the
//! node gets each message twice (found by `load/chaos.sh`: 871 POSTs
//! delivered twice in ten minutes).
//!
//! An asker numbers its requests 1, 2, 3, … and sends them all on this node's
//! channel, so each path delivers them in order; per asker, a window of the
//! last [`WINDOW`] ids says which were seen. A request older than the window
//! is dropped: the asker answers it 503 at its deadline, which is the truth
//! (not delivered).

use std::collections::HashMap;

use crate::conn::NodeTag;

/// Ids remembered per asker: 4,096 bits, 512 bytes. More than an asker's
/// requests in one `request_timeout` at the rates the cluster is measured at
/// (2,000/s over 500 ms is 1,000), and a request that old is past its deadline
/// or nearly so.
const WINDOW: u64 = 4096;
const WORDS: usize = (WINDOW / 64) as usize;

/// Askers remembered at most (one per node of the cluster; a bound in case
/// something else publishes on the channel).
const MAX_ASKERS: usize = 1024;

#[derive(Default)]
pub(super) struct Seen {
    askers: HashMap<NodeTag, Window>,
}

struct Window {
    /// The highest id seen.
    max: u64,
    /// Bit `id % WINDOW`: `id` was seen (for ids within the window).
    bits: [u64; WORDS],
}

impl Seen {
    /// Whether request `id` from `asker` is seen for the first time (and
    /// remembers it).
    pub(super) fn first(&mut self, asker: NodeTag, id: u64) -> bool {
        if self.askers.len() >= MAX_ASKERS && !self.askers.contains_key(&asker) {
            self.askers.clear();
        }
        let window = self.askers.entry(asker).or_insert(Window {
            max: id,
            bits: [0; WORDS],
        });
        window.first(id)
    }
}

impl Window {
    fn first(&mut self, id: u64) -> bool {
        if id > self.max {
            // Forget the ids the window moves past.
            let gap = (id - self.max).min(WINDOW);
            for old in (id - gap + 1)..=id {
                self.set(old, false);
            }
            self.max = id;
        } else if self.max - id >= WINDOW || self.get(id) {
            // Too old to tell (dropped: see the module docs), or a copy.
            return false;
        }
        self.set(id, true);
        true
    }

    fn get(&self, id: u64) -> bool {
        let bit = id % WINDOW;
        self.bits[(bit / 64) as usize] & (1 << (bit % 64)) != 0
    }

    fn set(&mut self, id: u64, on: bool) {
        let bit = id % WINDOW;
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
    use super::*;

    fn tag(s: &str) -> NodeTag {
        crate::conn::Id::parse(&format!("{s}AAAAAAAAAAA="))
            .unwrap()
            .node()
    }

    #[test]
    fn each_id_is_first_once_per_asker_in_any_order_within_the_window() {
        let (a, b) = (tag("aaaa"), tag("bbbb"));
        let mut seen = Seen::default();
        for id in 1..=10 {
            assert!(seen.first(a, id));
        }
        // The second path's copies, late.
        for id in 1..=10 {
            assert!(!seen.first(a, id));
        }
        // Another asker's ids are its own.
        assert!(seen.first(b, 3));
        // Out of order across paths: 12 before 11.
        assert!(seen.first(a, 12));
        assert!(seen.first(a, 11));
        assert!(!seen.first(a, 12));
        // A jump past the window forgets what it passed; older is dropped.
        assert!(seen.first(a, 12 + WINDOW));
        assert!(!seen.first(a, 12));
        assert!(seen.first(a, 13 + WINDOW));
        assert!(seen.first(a, 11 + WINDOW));
        assert!(!seen.first(a, 11 + WINDOW));
    }
}
