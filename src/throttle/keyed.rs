//! Buckets by key (a source IP, an API key's name, a principal): one TAT per
//! key in sharded maps, so threads deciding for different keys rarely meet on
//! a lock (a decision holds its shard's lock for one lookup and one add).
//!
//! Memory is bounded: at most [`MAX_KEYS`] keys per level. A key whose TAT is
//! in the past has a full bucket, exactly as if it were absent, so
//! [`KeyedBuckets::sweep`] (the housekeeping task, every few seconds) forgets
//! it; a full shard is swept before a new key is added. A shard still full of
//! keys that are all being throttled refuses new keys (throttled, counted by
//! the caller): under a flood of distinct keys, the limit fails closed rather
//! than letting the flood through untracked.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::Mutex;

use super::gcra::Gcra;

/// Most keys one level tracks (a key is its text and 8 bytes: about 100 bytes
/// with the map's overhead, so 10 MB per level at most).
pub const MAX_KEYS: usize = 100_000;
const SHARDS: usize = 16;

/// Buckets by key.
#[derive(Debug)]
pub struct KeyedBuckets {
    shards: Vec<Mutex<HashMap<Box<str>, u64>>>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for KeyedBuckets {
    fn default() -> Self {
        KeyedBuckets {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }
}

/// What a keyed decision found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyed {
    /// A token was taken.
    Allowed,
    /// The key's bucket is empty.
    Throttled,
    /// The key is new and its shard is full of throttled keys.
    Full,
}

impl KeyedBuckets {
    fn shard(&self, key: &str) -> &Mutex<HashMap<Box<str>, u64>> {
        &self.shards[self.hasher.hash_one(key) as usize % SHARDS]
    }

    /// Takes one token from `key`'s bucket at `now`.
    pub fn allow(&self, key: &str, gcra: &Gcra, now: u64) -> Keyed {
        let mut map = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tat) = map.get_mut(key) {
            return match gcra.decide(*tat, now) {
                Some(next) => {
                    *tat = next;
                    Keyed::Allowed
                }
                None => Keyed::Throttled,
            };
        }
        let Some(next) = gcra.decide(0, now) else {
            return Keyed::Throttled;
        };
        if map.len() >= MAX_KEYS / SHARDS {
            map.retain(|_, tat| *tat > now);
            if map.len() >= MAX_KEYS / SHARDS {
                return Keyed::Full;
            }
        }
        map.insert(key.into(), next);
        Keyed::Allowed
    }

    /// Forgets every key whose bucket is full again at `now`.
    pub fn sweep(&self, now: u64) {
        for shard in &self.shards {
            let mut map = shard.lock().unwrap_or_else(|e| e.into_inner());
            map.retain(|_, tat| *tat > now);
        }
    }

    /// Keys tracked now.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::super::gcra::Limit;
    use super::*;

    const SEC: u64 = 1_000_000_000;

    #[test]
    fn keys_have_their_own_buckets_and_are_forgotten_when_full() {
        let g = Gcra::new(Limit {
            rate: 1.0,
            burst: 2,
            cluster: false,
        });
        let k = KeyedBuckets::default();
        let now = 10 * SEC;
        assert_eq!(k.allow("a", &g, now), Keyed::Allowed);
        assert_eq!(k.allow("a", &g, now), Keyed::Allowed);
        assert_eq!(k.allow("a", &g, now), Keyed::Throttled);
        assert_eq!(k.allow("b", &g, now), Keyed::Allowed);
        assert_eq!(k.len(), 2);
        k.sweep(now);
        assert_eq!(k.len(), 2, "still in debt");
        k.sweep(now + 3 * SEC);
        assert!(k.is_empty());
        assert_eq!(k.allow("a", &g, now + 3 * SEC), Keyed::Allowed);
    }

    #[test]
    fn a_flood_of_keys_stays_bounded_and_fails_closed() {
        let g = Gcra::new(Limit {
            rate: 0.001,
            burst: 1,
            cluster: false,
        });
        let k = KeyedBuckets::default();
        let now = SEC;
        let mut full = 0;
        for i in 0..(MAX_KEYS + 5_000) {
            if k.allow(&format!("ip-{i}"), &g, now) == Keyed::Full {
                full += 1;
            }
        }
        assert!(k.len() <= MAX_KEYS);
        assert!(full >= 5_000, "{full}");
    }
}
