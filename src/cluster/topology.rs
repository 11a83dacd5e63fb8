//! On a Redis Cluster: notices a failover (a slot range's master changed) and
//! removes the subscriptions the demoted master kept.
//!
//! A failover keeps the old master in its shard, as a replica, and Redis lets
//! a shard's replicas keep their sharded subscribers and hand them the shard's
//! messages. The Redis client meanwhile subscribes again on the new master. So
//! after a failover that dropped no connection (a partition that healed, a
//! manual `CLUSTER FAILOVER`) a node can hold each channel of that shard twice
//! and get every message on it twice (found by `load/chaos.sh`: 871 POSTs
//! delivered twice in ten minutes; `seen` makes requests harmless, but group
//! sends and broadcasts carry no id). And `SPUBLISH` counts only the master's
//! subscribers, so a node subscribed on a replica looks absent.
//!
//! The subscription reconciler reads `CLUSTER SLOTS` (one command) each round,
//! at least once a heartbeat. When a range's master differs from the last
//! accepted map, and two reads in a row agree, every channel this node holds in that range is
//! unsubscribed, by address, on the range's old master and on each of the
//! shard's replicas. Redis confirms
//! each with a `SUNSUBSCRIBE` push, which `subscriptions` takes as a dropped
//! subscription and subscribes again — at the master this map names
//! ([`Cluster::master_of`]): the client's own slot map may still name the old
//! master, and a replica of the shard accepts `SSUBSCRIBE` without a redirect.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::StreamExt as _;

use redis::Value;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};

use super::Cluster;

/// One slot range and who serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Range {
    start: u16,
    end: u16,
    master: (String, u16),
    replicas: Vec<(String, u16)>,
}

/// The slot map as last accepted (None: not read yet), and a newer one read
/// once (see [`Topology::accept`]).
#[derive(Default)]
pub(super) struct Topology {
    last: Mutex<Option<Vec<Range>>>,
    candidate: Mutex<Option<Vec<Range>>>,
    /// Epoch ms of the last read.
    checked_ms: AtomicU64,
}

/// `SUNSUBSCRIBE`s in flight after a failover (each bounded by
/// `request_timeout`; a demoted master may be unreachable).
const UNSUBSCRIBE_CONCURRENCY: usize = 64;

/// The Redis Cluster slot of a key or channel name (its hash tag's, if any).
pub(super) fn slot_of(name: &str) -> u16 {
    let bytes = name.as_bytes();
    let key = bytes
        .iter()
        .position(|&b| b == b'{')
        .and_then(|open| {
            let rest = &bytes[open + 1..];
            let close = rest.iter().position(|&b| b == b'}')?;
            (close > 0).then(|| &rest[..close])
        })
        .unwrap_or(bytes);
    crc16::State::<crc16::XMODEM>::calculate(key) % 16_384
}

/// `CLUSTER SLOTS`' answer, as ranges; None if it is not one.
pub(super) fn parse_slots(value: &Value) -> Option<Vec<Range>> {
    let Value::Array(ranges) = value else {
        return None;
    };
    let int = |v: &Value| match v {
        Value::Int(i) => u16::try_from(*i).ok(),
        _ => None,
    };
    let addr = |v: &Value| match v {
        Value::Array(node) => match (node.first(), node.get(1)) {
            (Some(Value::BulkString(ip)), Some(port)) => {
                Some((String::from_utf8_lossy(ip).into_owned(), int(port)?))
            }
            _ => None,
        },
        _ => None,
    };
    let mut out = Vec::with_capacity(ranges.len());
    for range in ranges {
        let Value::Array(f) = range else { return None };
        out.push(Range {
            start: int(f.first()?)?,
            end: int(f.get(1)?)?,
            master: addr(f.get(2)?)?,
            replicas: f.iter().skip(3).filter_map(addr).collect(),
        });
    }
    out.sort_by_key(|r| r.start);
    Some(out)
}

/// The ranges of `new` whose master is not the one `old` had for them.
fn moved<'a>(old: &[Range], new: &'a [Range]) -> Vec<&'a Range> {
    new.iter()
        .filter(|r| {
            !old.iter()
                .any(|o| o.start <= r.start && r.end <= o.end && o.master == r.master)
        })
        .collect()
}

impl Cluster {
    /// The address of the master serving `channel`'s slot, as last read.
    pub(super) fn master_of(&self, channel: &str) -> Option<(String, u16)> {
        let slot = slot_of(channel);
        let last = self.topology.last.lock().unwrap_or_else(|e| e.into_inner());
        last.as_ref()?
            .iter()
            .find(|r| r.start <= slot && slot <= r.end)
            .map(|r| r.master.clone())
    }

    /// Reads the slot map; after a failover, unsubscribes this node's channels
    /// in the moved ranges where the failover left them (see the module docs).
    /// Run by the subscription reconciler, never by the heartbeat: a demoted
    /// master that cannot be reached makes each of its commands wait out
    /// `request_timeout` (done from the heartbeat, that stalled it until the
    /// node was declared lost: found by `load/chaos.sh`).
    pub(super) async fn check_topology(&self) {
        // At most once a heartbeat (the reconciler also runs at every join).
        let now = crate::clock::now_ms();
        let every = self.cfg.heartbeat_interval.as_millis() as u64;
        let last = self.topology.checked_ms.load(Ordering::Acquire);
        if !self.redis.sharded() || now.saturating_sub(last) < every {
            return;
        }
        self.topology.checked_ms.store(now, Ordering::Release);
        let Some(new) = self.read_slots().await else {
            return;
        };
        let Some(old) = self.topology.accept(new.clone()) else {
            return;
        };
        let moved = moved(&old, &new);
        let channels: Vec<String> = self
            .subscribed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect();
        let mut stale = Vec::new();
        for channel in channels {
            let slot = slot_of(&channel);
            let Some(range) = moved.iter().find(|r| r.start <= slot && slot <= r.end) else {
                continue;
            };
            // The old master (where the stale subscription is; the new map
            // may not list it as a replica yet) and the shard's replicas.
            let mut targets: Vec<(String, u16)> = old
                .iter()
                .filter(|o| o.start <= slot && slot <= o.end)
                .map(|o| o.master.clone())
                .chain(range.replicas.iter().cloned())
                .filter(|a| *a != range.master)
                .collect();
            targets.dedup();
            stale.extend(targets.into_iter().map(|t| (channel.clone(), t)));
        }
        if stale.is_empty() {
            return;
        }
        let count = stale.len();
        futures_util::stream::iter(stale)
            .for_each_concurrent(UNSUBSCRIBE_CONCURRENCY, |(channel, (host, port))| {
                let mut redis = self.redis.clone();
                async move {
                    let mut cmd = redis::cmd("SUNSUBSCRIBE");
                    cmd.arg(&channel);
                    let to =
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port });
                    let _ =
                        tokio::time::timeout(self.cfg.request_timeout, redis.route(cmd, to)).await;
                }
            })
            .await;
        tracing::info!(node = %self.node, ranges = moved.len(), unsubscribed = count, "A Redis Cluster failover moved slots; removed this node's subscriptions where the old masters kept them.");
    }

    async fn read_slots(&self) -> Option<Vec<Range>> {
        let mut redis = self.redis.clone();
        let slots = tokio::time::timeout(
            self.cfg.request_timeout,
            redis::cmd("CLUSTER")
                .arg("SLOTS")
                .query_async::<Value>(&mut redis),
        )
        .await;
        parse_slots(&slots.ok()?.ok()?)
    }
}

impl Topology {
    /// Takes a slot map just read. Returns the map it replaces when a range's
    /// master changed and two reads in a row agree on the new map: the client
    /// asks any node, and right after a partition heals one that has not
    /// caught up still names the old masters, so a single read could swing the
    /// map back and forth (and unsubscribe the good subscriptions).
    fn accept(&self, new: Vec<Range>) -> Option<Vec<Range>> {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let mut seen = self.candidate.lock().unwrap_or_else(|e| e.into_inner());
        let Some(current) = last.as_ref() else {
            *last = Some(new);
            return None;
        };
        if moved(current, &new).is_empty() {
            // Same masters (replicas may come and go): keep the newest.
            *last = Some(new);
            *seen = None;
            return None;
        }
        if seen.as_ref() != Some(&new) {
            *seen = Some(new);
            return None;
        }
        *seen = None;
        last.replace(new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_redis_cluster_hash_tags() {
        // Known values (redis-cli CLUSTER KEYSLOT).
        assert_eq!(slot_of("foo"), 12182);
        assert_eq!(slot_of("{user1000}.following"), slot_of("user1000"));
        assert_eq!(slot_of("sockgate:v2:{n:abcd}"), slot_of("n:abcd"));
        // An empty tag hashes the whole name.
        assert_eq!(
            slot_of("a{}b"),
            crc16::State::<crc16::XMODEM>::calculate(b"a{}b") % 16_384
        );
    }

    fn node(ip: &str, port: i64) -> Value {
        Value::Array(vec![
            Value::BulkString(ip.as_bytes().to_vec()),
            Value::Int(port),
            Value::BulkString(b"id".to_vec()),
        ])
    }

    #[test]
    fn a_failover_is_a_moved_range_and_nothing_else_is() {
        let map = |m: (&str, i64), r: (&str, i64)| {
            Value::Array(vec![
                Value::Array(vec![
                    Value::Int(0),
                    Value::Int(8191),
                    node(m.0, m.1),
                    node(r.0, r.1),
                ]),
                Value::Array(vec![
                    Value::Int(8192),
                    Value::Int(16383),
                    node("10.0.0.3", 6379),
                    node("10.0.0.4", 6380),
                ]),
            ])
        };
        let (a, b) = (("10.0.0.1", 6379), ("10.0.0.2", 6380));
        let before = parse_slots(&map(a, b)).unwrap();
        let same = parse_slots(&map(a, b)).unwrap();
        assert!(moved(&before, &same).is_empty());
        // The replica took over; the old master is its replica now.
        let after = parse_slots(&map(b, a)).unwrap();
        let m = moved(&before, &after);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].replicas, vec![("10.0.0.1".to_string(), 6379)]);
        assert!(parse_slots(&Value::Int(1)).is_none());
    }

    #[test]
    fn a_new_map_is_taken_when_two_reads_agree() {
        let range = |master: u16| Range {
            start: 0,
            end: 16383,
            master: ("10.0.0.1".into(), master),
            replicas: vec![],
        };
        let t = Topology::default();
        assert!(
            t.accept(vec![range(1)]).is_none(),
            "the first read is the start"
        );
        assert!(t.accept(vec![range(2)]).is_none(), "one read is not enough");
        assert!(t.accept(vec![range(1)]).is_none(), "a stale node's answer");
        assert!(t.accept(vec![range(2)]).is_none());
        assert_eq!(t.accept(vec![range(2)]), Some(vec![range(1)]));
        assert!(t.accept(vec![range(2)]).is_none(), "taken once");
    }
}
