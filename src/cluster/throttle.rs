//! Cluster-wide throttling: one GCRA bucket per key in Redis, decided by one
//! script — one atomic round trip per decision, so no two nodes can both take
//! the last token (the read-then-write race Kong's and APISIX's Redis limiters
//! had). The script reads Redis's own clock (`TIME`), so nodes' clocks never
//! matter, and it keeps the bucket's TAT (µs) with a TTL of its debt, so a
//! full bucket costs Redis nothing. The arithmetic is `throttle::gcra`'s.
//!
//! Keys: `sockgate:{t:LEVEL:KEY}` — its own hash tag, so under Redis Cluster
//! each bucket lives on the shard that owns it.

use std::sync::LazyLock;

use super::Cluster;
use crate::throttle::Gcra;

/// KEYS[1]: the bucket; ARGV: T and τ in µs. Returns 1 (allowed) or 0.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
if tat - now > tolerance then return 0 end
local next = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', next), 'PX', math.ceil((next - now) / 1000) + 1)
return 1
";

static SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(GCRA));

/// KEYS[1]: the period's counter; ARGV: the limit, and the period's end (epoch
/// ms) for its expiry. Returns 1 (counted) or 0 (used up).
const QUOTA: &str = r"
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used >= tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
";

static QUOTA_SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| redis::Script::new(QUOTA));

/// Why the cluster could not decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unreachable;

impl Cluster {
    /// Takes a token from the cluster's bucket `key` (`LEVEL:KEY`); `Err` when
    /// Redis cannot answer within `request_timeout` (the caller applies its
    /// fail mode).
    pub async fn throttle(&self, key: &str, gcra: &Gcra) -> Result<bool, Unreachable> {
        if gcra.is_closed() {
            return Ok(false);
        }
        let mut call = SCRIPT.prepare_invoke();
        call.key(format!("sockgate:{{t:{key}}}"))
            .arg(gcra.interval_ns() / 1000)
            .arg(gcra.tolerance_ns() / 1000);
        self.decide(call).await
    }

    /// Runs a decision script (1: yes), within `request_timeout`.
    async fn decide(&self, call: redis::ScriptInvocation<'_>) -> Result<bool, Unreachable> {
        if !self.reachable() {
            return Err(Unreachable);
        }
        let mut redis = self.redis.clone();
        let decided = tokio::time::timeout(
            self.cfg.request_timeout,
            call.invoke_async::<i64>(&mut redis),
        )
        .await;
        match decided {
            Ok(Ok(n)) => Ok(n == 1),
            _ => Err(Unreachable),
        }
    }

    /// Counts one request against the cluster's quota counter `key` (the
    /// plan, the key and the period's start); false once it is used up.
    pub async fn quota(&self, key: &str, limit: u64, end_ms: u64) -> Result<bool, Unreachable> {
        let mut call = QUOTA_SCRIPT.prepare_invoke();
        call.key(format!("sockgate:{{q:{key}}}"))
            .arg(limit)
            .arg(end_ms);
        self.decide(call).await
    }

    /// Requests counted by the cluster's quota counter `key` (0 when none).
    pub async fn quota_used(&self, key: &str) -> Result<u64, Unreachable> {
        let mut redis = self.redis.clone();
        let get = redis::cmd("GET")
            .arg(format!("sockgate:{{q:{key}}}"))
            .clone();
        match tokio::time::timeout(
            self.cfg.request_timeout,
            get.query_async::<Option<u64>>(&mut redis),
        )
        .await
        {
            Ok(Ok(n)) => Ok(n.unwrap_or(0)),
            _ => Err(Unreachable),
        }
    }

    /// Live nodes as this node last saw them (at least 1): what a fail-open
    /// limit is divided by.
    pub fn live_nodes(&self) -> usize {
        self.live.load(std::sync::atomic::Ordering::Relaxed).max(1)
    }
}
