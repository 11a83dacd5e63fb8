//! Fair shares of the node's backend slots (`integrations.max_inflight`):
//! one client connection holds at most `max_inflight_per_http_connection`
//! calls at once, and one source address (an IPv6 client by its /64, which
//! one host usually owns whole) at most `max_inflight_per_ip`. Without them
//! eleven HTTP/2 connections, 100 streams each, held all 1,024 slots, and
//! every other client waited for one until its timeout.
//!
//! A request over its share is answered 429 at once, not queued: the excess
//! is its own client's, and a queue would hold the very resources the share
//! protects. A [`Claim`] is held as long as the call's slot is: until an
//! `aws_proxy` answer is read, until an `http_proxy` answer's body ends or
//! is dropped.
//!
//! Concurrency and cost: the per-address counts are a fixed table of atomic
//! counters, indexed by a keyed hash of the address, so a claim is two atomic
//! additions with no lock and no allocation. (A sharded map, locked per
//! update, cost 1.8 % of a proxied request's CPU on two cores: its locks'
//! cache lines moved between the cores on every call.) Two addresses share a
//! counter with probability 1/[`BUCKETS`], and the key is random per process,
//! so no client can choose whose count it adds to; sharing only ever makes
//! the two addresses' shares smaller, never larger.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

/// Counters in the per-address table (64 KiB).
pub const BUCKETS: usize = 16 << 10;

/// The per-address counts of calls in flight.
#[derive(Debug)]
pub struct Shares {
    buckets: Box<[AtomicU32]>,
    key: RandomState,
}

impl Default for Shares {
    fn default() -> Shares {
        Shares {
            buckets: (0..BUCKETS).map(|_| AtomicU32::new(0)).collect(),
            key: RandomState::new(),
        }
    }
}

/// A client connection's count of calls in flight.
pub type ConnCalls = Arc<AtomicUsize>;

/// What one client may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareLimits {
    /// Calls at once from one source address.
    pub per_ip: usize,
    /// Calls at once on one client connection.
    pub per_connection: usize,
}

/// One call's place in its client's shares; given back when dropped.
#[derive(Debug)]
pub struct Claim {
    shares: Arc<Shares>,
    bucket: usize,
    conn: ConnCalls,
}

/// The address a share is counted by: an IPv4 address, an IPv6 /64.
fn key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !u128::from(u64::MAX)).into()),
        v4 @ IpAddr::V4(_) => v4,
    }
}

impl Shares {
    fn bucket(&self, ip: IpAddr) -> usize {
        self.key.hash_one(key(ip)) as usize % BUCKETS
    }

    /// A place for one more call from `ip` on the connection counted by
    /// `conn`, or `None` when either is at its limit.
    pub fn claim(
        self: &Arc<Self>,
        ip: IpAddr,
        conn: &ConnCalls,
        limits: ShareLimits,
    ) -> Option<Claim> {
        if conn.fetch_add(1, Ordering::AcqRel) >= limits.per_connection {
            conn.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let bucket = self.bucket(ip);
        let count = &self.buckets[bucket];
        if count.fetch_add(1, Ordering::AcqRel) as usize >= limits.per_ip {
            count.fetch_sub(1, Ordering::AcqRel);
            conn.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Claim {
            shares: Arc::clone(self),
            bucket,
            conn: Arc::clone(conn),
        })
    }

    /// Calls in flight from `ip`'s address (and any that shares its counter).
    pub fn held_by(&self, ip: IpAddr) -> usize {
        self.buckets[self.bucket(ip)].load(Ordering::Acquire) as usize
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.conn.fetch_sub(1, Ordering::AcqRel);
        self.shares.buckets[self.bucket].fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_bound_each_connection_and_each_address() {
        let shares = Arc::new(Shares::default());
        let limits = ShareLimits {
            per_ip: 3,
            per_connection: 2,
        };
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let (a, b) = (ConnCalls::default(), ConnCalls::default());
        let a1 = shares.claim(ip, &a, limits).unwrap();
        let _a2 = shares.claim(ip, &a, limits).unwrap();
        assert!(
            shares.claim(ip, &a, limits).is_none(),
            "the connection's share"
        );
        let _b1 = shares.claim(ip, &b, limits).unwrap();
        assert!(
            shares.claim(ip, &b, limits).is_none(),
            "the address's share"
        );
        assert_eq!(b.load(Ordering::Relaxed), 1, "a refusal holds nothing");
        let other: IpAddr = "192.0.2.2".parse().unwrap();
        let c = ConnCalls::default();
        if shares.bucket(other) != shares.bucket(ip) {
            assert!(shares.claim(other, &c, limits).is_some(), "another address");
        }
        drop(a1);
        assert!(shares.claim(ip, &b, limits).is_some(), "given back");
    }

    #[test]
    fn an_ipv6_host_is_counted_by_its_64() {
        let shares = Arc::new(Shares::default());
        let limits = ShareLimits {
            per_ip: 1,
            per_connection: 10,
        };
        let conn = ConnCalls::default();
        let held = shares.claim("2001:db8:1:2::1".parse().unwrap(), &conn, limits);
        assert!(held.is_some());
        let same = shares.claim("2001:db8:1:2:ffff::9".parse().unwrap(), &conn, limits);
        assert!(same.is_none());
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let mine: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        // (Unless the two share a counter: 1 in 16,384 runs.)
        if shares.bucket(other) != shares.bucket(mine) {
            assert!(shares.claim(other, &conn, limits).is_some());
        }
        drop(held);
        assert_eq!(shares.held_by(mine), 0);
    }
}
