//! Keeps this node's subscriptions equal to what it needs: its own channel,
//! each stage's broadcast channel, and the channel (its partition) of every
//! group that has a member here — and no other group.
//!
//! A task works through the set of groups whose local membership changed; a
//! join through the management API also reconciles its group at once, so the
//! 204 means "sends reach this member". Both hold one lock and compare the
//! group's membership *now* with what the node is subscribed to, so a join and a
//! leave racing on one group can never leave the subscription in the wrong
//! state. Failed commands are retried on the next heartbeat. After a reconnect
//! the Redis client restores every subscription itself; on a Redis Cluster the
//! node also subscribes again to every channel it holds after any connection
//! drops (a failover), and to any channel a shard dropped (`SUNSUBSCRIBE`
//! pushed by Redis when a slot moves), see `link`.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use futures_util::StreamExt as _;

use super::{Cluster, Node, names};
use crate::conn::GroupKey;

/// `SSUBSCRIBE`s in flight while restoring subscriptions after a failover.
const RESUBSCRIBE_CONCURRENCY: usize = 64;

pub(super) async fn reconcile(cluster: Arc<Cluster>) {
    loop {
        if cluster.stopping.load(Ordering::Acquire) {
            return;
        }
        let Some(node) = cluster.local() else { return };
        let mut fixed = vec![names::node_channel(cluster.node)];
        fixed.extend(node.stages().iter().map(|s| names::stage_channel(s)));
        for channel in fixed {
            if !cluster.is_subscribed(&channel) && !subscribe(&cluster, &channel, true).await {
                break;
            }
        }
        let dirty: HashSet<_> = std::mem::take(
            &mut *cluster
                .dirty_groups
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        let mut failed = Vec::new();
        {
            let _one_at_a_time = cluster.subscription_lock.lock().await;
            if cluster.resubscribe.swap(false, Ordering::AcqRel) {
                resubscribe_all(&cluster).await;
            }
            for key in dirty {
                if !reconcile_group(&cluster, &*node, &key).await {
                    failed.push(key);
                }
            }
        }
        if !failed.is_empty() {
            cluster
                .dirty_groups
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .extend(failed);
        }
        drop(node);
        // Woken by membership changes, and at least every heartbeat (to retry,
        // and to notice that the node is stopping).
        let _ = tokio::time::timeout(
            cluster.cfg.heartbeat_interval,
            cluster.groups_changed.notified(),
        )
        .await;
    }
}

/// Subscribes to or unsubscribes from one group's partition as its local
/// membership requires now (caller holds `subscription_lock`). False if Redis
/// did not confirm.
async fn reconcile_group(cluster: &Cluster, node: &dyn Node, key: &GroupKey) -> bool {
    let partition = names::partition_of(cluster.node, cluster.cfg.group_partitions);
    let channel = names::group_channel(key, partition);
    let want = node.has_members(key);
    want == cluster.is_subscribed(&channel) || subscribe(cluster, &channel, want).await
}

/// Reconciles one group now (after a join that must take effect before its answer).
pub(super) async fn sync_group(cluster: &Cluster, node: &dyn Node, key: &GroupKey) -> bool {
    let _one_at_a_time = cluster.subscription_lock.lock().await;
    reconcile_group(cluster, node, key).await
}

/// Subscribes again to every channel the node holds (caller holds
/// `subscription_lock`); on any failure, tries again on the next round.
async fn resubscribe_all(cluster: &Cluster) {
    let channels: Vec<String> = cluster
        .subscribed
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .cloned()
        .collect();
    let failed = futures_util::stream::iter(channels)
        .map(|channel| async move {
            let mut redis = cluster.redis.clone();
            let r =
                tokio::time::timeout(cluster.cfg.request_timeout, redis.subscribe(&channel, true))
                    .await;
            matches!(r, Ok(Ok(())))
        })
        .buffer_unordered(RESUBSCRIBE_CONCURRENCY)
        .filter(|ok| std::future::ready(!ok))
        .count()
        .await;
    if failed > 0 {
        cluster.resubscribe.store(true, Ordering::Release);
    }
}

/// Redis dropped one of our subscriptions by itself (a shard gave up its
/// slot): forget it, so that the reconciler subscribes again where the slot lives now.
pub(super) fn dropped_by_redis(cluster: &Cluster, channel: &str) {
    let held = cluster
        .subscribed
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(channel);
    if !held {
        // Our own unsubscribe (the channel leaves the set before it is sent).
        return;
    }
    if let Some(names::Channel::Group(key)) = names::parse_channel(channel) {
        let key = key
            .split_once('/')
            .and_then(|(stage, group)| GroupKey::new(stage, group));
        if let Some(key) = key {
            cluster.group_changed(&key);
            return;
        }
    }
    cluster.groups_changed.notify_one();
}

/// Subscribes (or unsubscribes); true when Redis confirmed it. A channel
/// leaves the set before its unsubscribe is sent (so that Redis's own
/// `SUNSUBSCRIBE` push for it is not mistaken for a dropped subscription), and
/// is put back if Redis does not confirm.
async fn subscribe(cluster: &Cluster, channel: &str, on: bool) -> bool {
    let set = |insert: bool| {
        let mut set = cluster.subscribed.lock().unwrap_or_else(|e| e.into_inner());
        if insert {
            set.insert(channel.to_owned());
        } else {
            set.remove(channel);
        }
    };
    if !on {
        set(false);
    }
    let mut redis = cluster.redis.clone();
    let result =
        tokio::time::timeout(cluster.cfg.request_timeout, redis.subscribe(channel, on)).await;
    let ok = matches!(result, Ok(Ok(())));
    if on == ok {
        set(true);
    }
    ok
}
