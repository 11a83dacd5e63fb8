//! Who delivers an ended connection's `$disconnect`: exactly one of its own
//! node and a survivor that reaped it.
//!
//! Each recorded connection has a record in its node's hash; whoever removes
//! it (`HDEL` answering 1) delivers. A survivor that reaps a lost node first
//! sets the node's lost mark (a tombstone naming the reap), then claims record
//! by record with [`struct@REAP`], which also adds the id to the node's reaped set in
//! the same step.
//!
//! - **Own node, Redis reachable**: `HDEL` and `SISMEMBER` of the reaped set
//!   in one round trip. Removed: deliver. Not removed and reaped: a survivor
//!   delivered it, skip. Not removed and not reaped: this node's earlier
//!   attempt removed it but its answer was lost (a claim is retried after a
//!   timeout: found by `tests/chaos`), or Redis lost the record (a restart
//!   without persistence): deliver.
//! - **Own node, Redis unreachable**: wait until it is reachable, then claim.
//!   Delivering at once, as before, sent a second `$disconnect` whenever the
//!   node had meanwhile been declared lost (found by `tests/chaos`); and if
//!   this node dies while waiting, the record is still there and a survivor
//!   delivers it once. The wait ends early, delivering without a claim, when
//!   the node drains (`shutdown_grace` bounds a drain) or when
//!   [`MAX_WAITING`] claims already wait.
//! - **A connection whose record was never written** (Redis was known to be
//!   down when it opened, or it ended first) cannot have been reaped: its node
//!   delivers at once. One written but not acknowledged may be in Redis, and
//!   is claimed like the rest (found by `tests/chaos`, on a lossy link).
//! - **A node that learns it was declared lost** closes the connections in
//!   the reaped set (the survivor delivered their `$disconnect`s) with 1012,
//!   and keeps every other: one opened after the reap, or not reached by it
//!   yet (looked at again at the next heartbeat while the reap is in
//!   progress).
//! - **A reaped record is never written again**: the record writer's
//!   [`struct@RECORD`] refuses ids in the reaped set, in the same step, and the
//!   node closes a refused connection with 1012 (its `$disconnect` went out).
//!   The reaped set lasts as long as the lost mark (an hour): a node cut off
//!   from Redis for longer that still holds reaped connections delivers their
//!   `$disconnect`s a second time when they end.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use tracing::warn;

use super::{Cluster, names};
use crate::conn::{CloseReason, Connection};

/// Claims waiting for Redis at once. Each holds its ended session's task and
/// connection (about what an idle connection costs, 2–3 KiB) and nothing else
/// (the connection slots are released before the wait): 16,384 bound that to
/// ~48 MiB during a long outage with churn.
/// Beyond it a `$disconnect` is delivered without a claim, as a node that
/// cannot wait must (it may then be delivered twice, if this node is also
/// declared lost).
pub(super) const MAX_WAITING: usize = 16_384;

/// A survivor's claim of one of a lost node's records: removes it and, if it
/// was there, remembers it as reaped, in one step (KEYS: the records, the
/// reaped set; ARGV: the id, the set's lifetime in seconds).
pub(super) static REAP: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(REAP_LUA));

const REAP_LUA: &str = r#"
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[2])
return 1
"#;

/// The record writer's batch: writes and removes records in order, and
/// refuses to write one whose id is in the reaped set, in the same step as
/// the check (KEYS: the records, the reaped set; ARGV: the operations, each
/// `o`, id, facts or `f`, id). Answers the refused ids.
///
/// Checking first and writing after, in two steps, let a resync racing a reap
/// write a reaped record again, and the node's next reap delivered its
/// `$disconnect` a second time (found by `load/chaos.sh` on a lossy link).
pub(super) static RECORD: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(RECORD_LUA));

const RECORD_LUA: &str = r#"
local refused = {}
local i = 1
while i <= #ARGV do
  if ARGV[i] == 'o' then
    if redis.call('SISMEMBER', KEYS[2], ARGV[i + 1]) == 1 then
      refused[#refused + 1] = ARGV[i + 1]
    else
      redis.call('HSET', KEYS[1], ARGV[i + 1], ARGV[i + 2])
    end
    i = i + 3
  else
    redis.call('HDEL', KEYS[1], ARGV[i + 1])
    i = i + 2
  end
end
return refused
"#;

/// How a claim ended.
enum Claim {
    Mine,
    Reaped,
    /// Redis did not answer.
    Unknown,
}

impl Cluster {
    /// A connection ended: should this node deliver its `$disconnect`? Waits,
    /// while Redis is unreachable, until it can tell (see the module docs);
    /// `hurry` (the node drains) ends the wait with yes.
    pub async fn claim_disconnect(
        &self,
        conn: &Connection,
        hurry: &(dyn Fn() -> bool + Sync),
    ) -> bool {
        // A record never written cannot have been reaped: no claim. One written
        // but not acknowledged may be in Redis (its answer lost, or still on
        // its way): it is claimed like an acknowledged one, and removed after
        // by the record writer if it lands later.
        if !conn.is_registered()
            && self
                .records
                .try_send(super::RecordOp::Forget(conn.id))
                .is_err()
        {
            self.forget_later(conn.id);
        }
        if !conn.may_be_recorded() {
            tracing::debug!(conn.id = %conn.id, "Never recorded: its node delivers the $disconnect.");
            return true;
        }
        let waiting = WaitSlot::take(&self.waiting_claims);
        loop {
            if self.reachable() {
                match self.try_claim(conn).await {
                    Claim::Mine => return true,
                    Claim::Reaped => return false,
                    Claim::Unknown => {}
                }
            }
            if waiting.is_none() || hurry() || self.stopping.load(Ordering::Acquire) {
                if waiting.is_none() {
                    warn!(conn.id = %conn.id, "Too many $disconnects wait for Redis; delivering this one without a claim.");
                }
                self.forget_later(conn.id);
                return true;
            }
            tokio::time::sleep(self.cfg.heartbeat_interval).await;
        }
    }

    async fn try_claim(&self, conn: &Connection) -> Claim {
        let mut pipe = redis::pipe();
        pipe.cmd("HDEL")
            .arg(names::conns(self.node))
            .arg(conn.id.as_str())
            .cmd("SISMEMBER")
            .arg(names::reaped(self.node))
            .arg(conn.id.as_str());
        let mut redis = self.redis.clone();
        match tokio::time::timeout(
            self.cfg.request_timeout,
            pipe.query_async::<(i64, i64)>(&mut redis),
        )
        .await
        {
            Ok(Ok((removed, reaped))) => {
                tracing::debug!(conn.id = %conn.id, removed, reaped, "Claimed a $disconnect.");
                if removed == 1 || reaped == 0 {
                    Claim::Mine
                } else {
                    Claim::Reaped
                }
            }
            _ => Claim::Unknown,
        }
    }

    /// Removes a record on the next resync (its `$disconnect` went out without Redis).
    pub(super) fn forget_later(&self, id: crate::conn::Id) {
        self.stale
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(id);
        self.needs_resync.store(true, Ordering::Release);
    }
}

/// One of [`MAX_WAITING`] places; `None` when all are taken.
struct WaitSlot<'a>(&'a AtomicUsize);

impl<'a> WaitSlot<'a> {
    fn take(count: &'a AtomicUsize) -> Option<WaitSlot<'a>> {
        let before = count.fetch_add(1, Ordering::AcqRel);
        let slot = WaitSlot(count);
        (before < MAX_WAITING).then_some(slot)
    }
}

impl Drop for WaitSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// This node was declared lost: closes, with 1012 and no `$disconnect`, each
/// open connection a survivor reaped (its id is in the reaped set, added in
/// the same step as the survivor's claim), and keeps every other one — opened
/// after the reap, or not reached by it yet (looked at again at the next
/// heartbeat while the reap holds its lock). Returns whether the reap is
/// over, so this reap's mark need not be looked at again.
pub(super) async fn declared_lost(cluster: &Cluster, node: &dyn super::Node) -> Option<bool> {
    let mut pipe = redis::pipe();
    pipe.cmd("SMEMBERS")
        .arg(names::reaped(cluster.node))
        .cmd("EXISTS")
        .arg(names::reaper(cluster.node));
    let mut redis = cluster.redis.clone();
    let (reaped, reaping) = tokio::time::timeout(
        cluster.cfg.request_timeout,
        pipe.query_async::<(Vec<String>, i64)>(&mut redis),
    )
    .await
    .ok()?
    .ok()?;
    let reaped: HashSet<String> = reaped.into_iter().collect();
    let mine: Vec<_> = node
        .connections()
        .into_iter()
        .filter(|conn| reaped.contains(conn.id.as_str()))
        .collect();
    let mut closed = 0;
    for conn in &mine {
        // Accounted for: the resync need not try to write its record again
        // ([`struct@RECORD`] would refuse it).
        conn.mark_registered();
        closed += usize::from(conn.request_close(CloseReason::NodeLost));
    }
    if closed > 0 {
        warn!(node = %cluster.node, closed, "This node was declared lost while cut off from Redis; closing the connections a survivor reported gone.");
    }
    Some(reaping == 0)
}
