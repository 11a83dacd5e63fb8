//! Heartbeats, the self-probe, connection records, and reaping lost nodes.
//!
//! Every `heartbeat_interval` a node renews `alive` (TTL `node_ttl`) and its
//! score in `sockgate:{nodes}`, publishes a probe to itself, and looks for nodes
//! whose score is older than `node_ttl` and whose `alive` key has expired. One
//! survivor wins the reaper lock for such a node, marks it lost, and for each of
//! its recorded connections claims the record with `HDEL` and delivers
//! `$disconnect` ("Node lost"). A node that ends a connection claims the record
//! the same way first, so each `$disconnect` is delivered exactly once — also
//! when a node was only cut off from Redis, was reaped meanwhile, and comes back
//! (it then closes the reaped connections with 1012 and skips their
//! `$disconnect`s). Without Redis a node's `$disconnect`s wait until it can
//! claim them (`claim`).
//!
//! Records are written by one task, in batches, in the order connections open
//! and close, so a record is never written after its own removal.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use futures_util::StreamExt as _;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::{Cluster, Kind, Node, Record, RecordOp, claim, names};
use crate::clock;
use crate::conn::{CloseReason, Connection, Id, NodeTag};

/// Records written or removed in one pipeline.
const RECORD_BATCH: usize = 512;
/// `$disconnect`s in flight while reaping a lost node (bounds backend load).
const REAP_CONCURRENCY: usize = 64;
/// How long a reaper holds its lock before another survivor may take over.
const REAPER_LOCK_MS: u64 = 60_000;
/// How long a lost node's tombstone stays, for it to notice if it comes back.
const LOST_MARK_SECS: u64 = 3600;

pub(super) async fn heartbeat(cluster: Arc<Cluster>) {
    let mut tick = tokio::time::interval(cluster.cfg.heartbeat_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was_up = false;
    // The lost mark whose reap this node has dealt with (see `claim`).
    let mut mark_done: Option<String> = None;
    // When the probe last found our subscriptions gone (see `probe`).
    let mut resubscribed_ms = 0;
    loop {
        tick.tick().await;
        if cluster.stopping.load(Ordering::Acquire) {
            return;
        }
        let Some(node) = cluster.local() else { return };
        let beat = beat(&cluster).await;
        if beat.is_some() {
            cluster.beat_ok_ms.store(clock::now_ms(), Ordering::Release);
        }
        // A new reap of this node: deal with it (again at the next beat while
        // the reap is still in progress).
        if let Some(Some(mark)) = beat.filter(|m| m.is_some() && *m != mark_done)
            && claim::declared_lost(&cluster, &*node).await == Some(true)
        {
            mark_done = Some(mark);
        }
        probe(&cluster, &mut resubscribed_ms).await;
        let up = cluster.is_up();
        cluster.metrics.up.set(if up { 1.0 } else { 0.0 });
        if up != was_up {
            if up {
                info!(node = %cluster.node, "Cluster link is up.");
            } else {
                warn!(node = %cluster.node, "Cluster link is down: cross-node calls answer 503 until Redis is back.");
            }
        }
        if up && (!was_up || cluster.needs_resync.load(Ordering::Acquire)) {
            resync(&cluster, &*node).await;
        }
        if up {
            find_lost(&cluster, &node).await;
        }
        // Lets the subscription reconciler retry anything that failed.
        cluster.groups_changed.notify_one();
        was_up = up;
    }
}

/// Renews the node's liveness; `Some(mark)` when Redis answered, the mark
/// naming the last reap of this node, if a survivor declared it lost.
async fn beat(cluster: &Cluster) -> Option<Option<String>> {
    // One pipeline per hash tag (on a Redis Cluster each goes to one shard).
    let mut own = redis::pipe();
    own.cmd("SET")
        .arg(names::alive(cluster.node))
        .arg(clock::now_ms())
        .arg("PX")
        .arg(cluster.cfg.node_ttl.as_millis() as u64)
        .ignore()
        .cmd("GET")
        .arg(names::lost(cluster.node));
    let mut nodes = redis::pipe();
    nodes
        .cmd("ZADD")
        .arg(names::NODES)
        .arg(clock::now_ms())
        .arg(cluster.node.as_str());
    let (mut a, mut b) = (cluster.redis.clone(), cluster.redis.clone());
    let r = tokio::time::timeout(cluster.cfg.request_timeout, async {
        tokio::join!(
            own.query_async::<(Option<String>,)>(&mut a),
            nodes.query_async::<(i64,)>(&mut b)
        )
    })
    .await;
    match r {
        Ok((Ok((mark,)), Ok(_))) => Some(mark),
        Ok((own, nodes)) => {
            let (own, nodes) = (own.err().map(|e| e.kind()), nodes.err().map(|e| e.kind()));
            debug!(?own, ?nodes, "A heartbeat failed.");
            None
        }
        Err(_) => {
            debug!("A heartbeat timed out.");
            None
        }
    }
}

/// Publishes a probe to our own channel; the dispatcher records its return.
///
/// A node that is down while Redis takes its writes, and whose probe Redis
/// hands to no subscriber, has lost its subscriptions without the client
/// restoring them: it subscribes again to everything it holds, at most once
/// per `unready_after`. Found by `tests/chaos` on a Redis Cluster: after a
/// split healed, a node's heartbeats worked but its probe reached no one, and
/// it stayed down until the run ended (it had subscribed again during the
/// split, on a replica cut off with it, which later left the shard).
async fn probe(cluster: &Cluster, resubscribed_ms: &mut u64) {
    let nonce = rand::random::<u64>();
    cluster.probe_nonce.store(nonce, Ordering::Release);
    let msg = super::wire::Message::Probe(nonce).encode();
    let channel = names::node_channel(cluster.node);
    let sent = cluster.publish(channel.clone(), msg, Kind::Probe).await;
    if cluster.is_up() {
        return;
    }
    debug!(receivers = ?sent.ok(), "Probe published while down.");
    let now = clock::now_ms();
    // Ours by our own account, nobody's by Redis's.
    let lost = matches!(sent, Ok(0)) && cluster.reachable() && cluster.is_subscribed(&channel);
    if lost && now.saturating_sub(*resubscribed_ms) >= cluster.cfg.unready_after.as_millis() as u64
    {
        *resubscribed_ms = now;
        warn!(node = %cluster.node, "Redis takes this node's writes but no longer hands it its own channel; subscribing again.");
        cluster.resubscribe.store(true, Ordering::Release);
        cluster.groups_changed.notify_one();
    }
}

/// Brings this node's records up to date after an outage or a full queue:
/// removes records of connections that ended meanwhile, writes missing ones.
async fn resync(cluster: &Cluster, node: &dyn Node) {
    cluster.needs_resync.store(false, Ordering::Release);
    let stale: Vec<Id> =
        std::mem::take(&mut *cluster.stale.lock().unwrap_or_else(|e| e.into_inner()));
    let missing: Vec<Arc<Connection>> = node
        .connections()
        .into_iter()
        .filter(|conn| !conn.is_registered() && !conn.is_closed())
        .collect();
    let ops = stale
        .into_iter()
        .map(RecordOp::Forget)
        .chain(missing.into_iter().map(RecordOp::Open));
    let ops: Vec<RecordOp> = ops.collect();
    for chunk in ops.chunks(RECORD_BATCH) {
        if !write_records(cluster, chunk).await {
            return;
        }
    }
}

/// The record writer: batches of opens and forgets, in order.
pub(super) async fn record_connections(cluster: Weak<Cluster>, mut rx: mpsc::Receiver<RecordOp>) {
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    while let Some(first) = rx.recv().await {
        let Some(cluster) = cluster.upgrade() else {
            return;
        };
        batch.push(first);
        while batch.len() < RECORD_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        write_records(&cluster, &batch).await;
        batch.clear();
    }
}

/// Writes one batch; on failure leaves the work to the next resync.
async fn write_records(cluster: &Cluster, ops: &[RecordOp]) -> bool {
    if !cluster.reachable() {
        // Fail at once during an outage; the resync after it does this work.
        fail_records(cluster, ops);
        return false;
    }
    let mut call = claim::RECORD.prepare_invoke();
    call.key(names::conns(cluster.node))
        .key(names::reaped(cluster.node));
    for op in ops {
        match op {
            RecordOp::Open(conn) => {
                let json = serde_json::to_string(&Record::of_info(&conn.info)).unwrap_or_default();
                call.arg("o").arg(conn.id.as_str()).arg(json);
                // From here it may land even if no answer comes (see `claim`).
                conn.mark_record_sent();
            }
            RecordOp::Forget(id) => {
                call.arg("f").arg(id.as_str());
            }
        }
    }
    let mut redis = cluster.redis.clone();
    let answer = tokio::time::timeout(
        cluster.cfg.request_timeout,
        call.invoke_async::<Vec<String>>(&mut redis),
    )
    .await;
    let Ok(Ok(refused)) = answer else {
        fail_records(cluster, ops);
        return false;
    };
    for op in ops {
        if let RecordOp::Open(conn) = op {
            conn.mark_registered();
            if refused.iter().any(|id| id == conn.id.as_str()) {
                // A survivor reaped it (and delivered its `$disconnect`)
                // before this write: close it as `claim::declared_lost` does.
                conn.request_close(CloseReason::NodeLost);
            }
        }
    }
    true
}

/// Leaves a batch to the next resync: forgets are remembered, opens are found
/// again in the registry.
fn fail_records(cluster: &Cluster, ops: &[RecordOp]) {
    let mut stale = cluster.stale.lock().unwrap_or_else(|e| e.into_inner());
    stale.extend(ops.iter().filter_map(|op| match op {
        RecordOp::Forget(id) => Some(*id),
        RecordOp::Open(_) => None,
    }));
    cluster.needs_resync.store(true, Ordering::Release);
}

/// Looks for nodes whose heartbeat stopped, and reaps those whose lock we win.
async fn find_lost(cluster: &Arc<Cluster>, node: &Arc<dyn Node>) {
    let cutoff = clock::now_ms().saturating_sub(cluster.cfg.node_ttl.as_millis() as u64);
    let mut redis = cluster.redis.clone();
    let live = tokio::time::timeout(
        cluster.cfg.request_timeout,
        redis::cmd("ZCOUNT")
            .arg(names::NODES)
            .arg(cutoff)
            .arg("+inf")
            .query_async::<usize>(&mut redis),
    )
    .await;
    if let Ok(Ok(n)) = live {
        cluster.live.store(n.max(1), Ordering::Relaxed);
    }
    let stale = tokio::time::timeout(
        cluster.cfg.request_timeout,
        redis::cmd("ZRANGEBYSCORE")
            .arg(names::NODES)
            .arg("-inf")
            .arg(cutoff)
            .query_async::<Vec<String>>(&mut redis),
    )
    .await;
    let Ok(Ok(tags)) = stale else { return };
    for tag in tags.iter().filter_map(|t| NodeTag::parse(t)) {
        if tag == cluster.node {
            continue;
        }
        // The liveness key's TTL (Redis's clock) decides; scores only nominate.
        let mut pipe = redis::pipe();
        pipe.cmd("EXISTS").arg(names::alive(tag));
        pipe.cmd("SET")
            .arg(names::reaper(tag))
            .arg(cluster.node.as_str())
            .arg("NX")
            .arg("PX")
            .arg(REAPER_LOCK_MS);
        // EXISTS first: a SET for a live node is undone below.
        let r = tokio::time::timeout(
            cluster.cfg.request_timeout,
            pipe.query_async::<(i64, Option<String>)>(&mut redis),
        )
        .await;
        match r {
            Ok(Ok((0, Some(_)))) => {
                tokio::spawn(reap(Arc::clone(cluster), Arc::clone(node), tag));
            }
            Ok(Ok((1, Some(_)))) => {
                let _ = redis::cmd("DEL")
                    .arg(names::reaper(tag))
                    .query_async::<i64>(&mut redis)
                    .await;
            }
            _ => {}
        }
    }
}

/// Reports a lost node's connections gone: each record claimed with `HDEL`, then
/// its `$disconnect` delivered with reason "Node lost".
async fn reap(cluster: Arc<Cluster>, node: Arc<dyn Node>, lost: NodeTag) {
    let mut redis = cluster.redis.clone();
    let key = names::conns(lost);
    // The mark names this reap, so the lost node, when back, tells it from an
    // earlier one it has dealt with.
    let _ = redis::cmd("SET")
        .arg(names::lost(lost))
        .arg(format!("{}:{}", cluster.node.as_str(), clock::now_ms()))
        .arg("EX")
        .arg(LOST_MARK_SECS)
        .query_async::<()>(&mut redis)
        .await;
    let mut cursor: u64 = 0;
    let mut delivered = 0usize;
    loop {
        let page = redis::cmd("HSCAN")
            .arg(&key)
            .arg(cursor)
            .arg("COUNT")
            .arg(RECORD_BATCH)
            .query_async::<(u64, Vec<(String, String)>)>(&mut redis)
            .await;
        let Ok((next, entries)) = page else {
            // Redis went away mid-reap; the lock expires and a survivor resumes.
            return;
        };
        let claimed = futures_util::stream::iter(entries)
            .map(|(id, json)| {
                let (cluster, node, key) = (&cluster, &node, &key);
                async move {
                    let mut redis = cluster.redis.clone();
                    let won = claim::REAP
                        .key(key)
                        .key(names::reaped(lost))
                        .arg(&id)
                        .arg(LOST_MARK_SECS)
                        .invoke_async::<i64>(&mut redis)
                        .await;
                    if !matches!(won, Ok(1)) {
                        return false;
                    }
                    let (Some(id), Ok(record)) =
                        (Id::parse(&id), serde_json::from_str::<Record>(&json))
                    else {
                        return false;
                    };
                    if !node.disconnect_lost(id, record.info()).await {
                        return false;
                    }
                    cluster.metrics.reaped.increment(1);
                    true
                }
            })
            .buffer_unordered(REAP_CONCURRENCY)
            .filter(|won| std::future::ready(*won))
            .count()
            .await;
        delivered += claimed;
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    // The hash is empty now unless the node came back and recorded new
    // connections meanwhile: those are not removed (they were never reported).
    let _ = redis::cmd("DEL")
        .arg(names::reaper(lost))
        .query_async::<i64>(&mut redis)
        .await;
    let _ = redis::cmd("ZREM")
        .arg(names::NODES)
        .arg(lost.as_str())
        .query_async::<i64>(&mut redis)
        .await;
    warn!(lost = %lost, by = %cluster.node, disconnects = delivered, "A node was lost; its connections were reported gone and their $disconnects delivered.");
}
