//! Several nodes behind one load balancer, joined through Redis.
//!
//! A single node needs none of this: without `[cluster]` it has no dependency.
//! With it, each node:
//!
//! - **owns a channel** named after its tag (the first four characters of its
//!   connection ids). A POST, GET, DELETE or group join for a connection on
//!   another node is one request published on the owner's channel, and one
//!   reply on the asker's; nothing is broadcast to every node. Requests from
//!   one node to one connection travel one Redis connection and one
//!   subscription, so their order is kept.
//! - **subscribes to a group's channel only while it has members** in it (see
//!   `subscriptions`), and to each stage's broadcast channel. A group send is one
//!   `PUBLISH` per partition; every subscribed node encodes the frame once and
//!   queues it to its own members.
//! - **keeps a heartbeat**: a liveness key with a TTL, and a record of each of
//!   its connections. When a node dies, a survivor claims the reaping, reports
//!   its connections gone, and delivers each one's `$disconnect` — claimed
//!   per connection with `HDEL`, so exactly one node delivers it (see `liveness`).
//! - **proves its fan-out path** by publishing a probe to itself every heartbeat;
//!   `/readyz` and `sockgate_cluster_up` follow the probe, not just "connected".
//!
//! Failure behaviour: while the probe fails, calls that need another node fail
//! at once with 503 `ServiceUnavailableException`, and every call to Redis is
//! bounded by `request_timeout`, so nothing hangs; local delivery carries on.
//! The Redis client reconnects by itself, and re-subscribes every channel.
//!
//! A 503 means "not delivered": every cross-node request and fan-out message
//! carries a deadline (the sender's clock + `request_timeout`). The sender
//! answers 503 only once that deadline has passed, and a receiver acts only
//! while the deadline is more than `max_clock_skew` ahead of its own clock — so
//! a message that Redis delivers late (frozen, then resumed) is dropped, not
//! delivered behind the 503. The one case this cannot cover is an owner that
//! acted in time and whose answer was then lost on the way back.
//!
//! Concurrency: pushes from Redis go through one bounded queue to one
//! dispatcher task, which handles them in order without awaiting (replies are
//! published from spawned tasks). Waiting requests sit in a map of oneshot
//! channels keyed by request id.

mod claim;
mod dispatch;
mod link;
mod liveness;
pub(crate) mod names;
pub mod node;
mod seen;
mod stats;
mod subscriptions;
pub mod throttle;
pub(crate) mod wire;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use dashmap::DashMap;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc, oneshot};

use crate::clock;
use crate::config::ClusterConfig;
use crate::conn::{ConnInfo, Connection, DeliveryError, GroupKey, Id, NodeTag};
use crate::telemetry::ClusterMetrics;
use link::Link;
pub use node::Node;
pub use stats::{ClusterView, NodeView};
use wire::{Message, Op, Reply, Request};

/// Pushes from Redis waiting for the dispatcher. Beyond this the node is far
/// behind; further messages are dropped and counted
/// (`sockgate_cluster_dropped_total`) rather than queued without bound.
const PUSH_QUEUE: usize = 65_536;

/// New connections waiting to be recorded in Redis. Beyond it a record is left
/// for the next resync rather than queued without bound.
const REGISTRATION_QUEUE: usize = 65_536;

/// Message kinds, indexing [`ClusterMetrics`] counters.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Request = 0,
    Reply = 1,
    Group = 2,
    Stage = 3,
    Probe = 4,
}

/// What a node records about each of its connections, so that a survivor can
/// deliver its `$disconnect` if the node is lost (and what GET answers across nodes).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Record {
    stage: String,
    connected_at: u64,
    source_ip: String,
    user_agent: Option<String>,
    domain_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_active: Option<u64>,
    /// The authorizer context, so a survivor's `$disconnect` carries it too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    authorizer: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    api_key_id: Option<String>,
    /// Served by its stage's canary (so a survivor's `$disconnect` goes there too).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    canary: bool,
    /// In a GET's answer only: what the dashboard shows beyond AWS's fields
    /// (absent from records, and from nodes before it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    detail: Option<Detail>,
}

/// A GET answer's operator facts (see `ConnectionView`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Detail {
    groups: Vec<String>,
    queued_messages: usize,
    queued_bytes: usize,
    node: String,
}

impl Record {
    fn of_info(i: &ConnInfo) -> Record {
        Record {
            stage: i.stage.to_string(),
            connected_at: i.connected_at_ms,
            source_ip: i.source_ip.clone(),
            user_agent: i.user_agent.clone(),
            domain_name: i.domain_name.clone(),
            last_active: None,
            authorizer: i.auth.authorizer.as_deref().cloned(),
            api_key_id: i.auth.api_key_id.as_deref().map(str::to_owned),
            canary: i.canary,
            detail: None,
        }
    }

    fn info(&self) -> ConnInfo {
        ConnInfo {
            stage: Arc::from(self.stage.as_str()),
            connected_at_ms: self.connected_at,
            source_ip: self.source_ip.clone(),
            user_agent: self.user_agent.clone(),
            domain_name: self.domain_name.clone(),
            auth: crate::conn::ConnAuth {
                authorizer: self.authorizer.clone().map(Arc::new),
                api_key_id: self.api_key_id.as_deref().map(Arc::from),
            },
            canary: self.canary,
            trace: crate::trace::TraceRef::default(),
        }
    }
}

/// What the record writer does, in order.
#[derive(Debug)]
pub(super) enum RecordOp {
    /// A connection opened: write its record.
    Open(Arc<Connection>),
    /// A connection that was never recorded ended: remove any record a batch in
    /// flight may still write.
    Forget(Id),
}

/// A node's link to the others.
pub struct Cluster {
    node: NodeTag,
    cfg: ClusterConfig,
    redis: Link,
    /// The node this links (it owns the cluster, hence weak).
    local: Weak<dyn Node>,
    metrics: ClusterMetrics,
    /// The next request's id, and the next group send's or broadcast's `seq`
    /// (receivers act on each once by these: see `seen`).
    next_request: AtomicU64,
    next_fanout: AtomicU64,
    pending: DashMap<u64, oneshot::Sender<Reply>>,
    /// Epoch ms when our own probe last came back through Redis.
    probe_ok_ms: AtomicU64,
    /// The nonce of the probe in flight.
    probe_nonce: AtomicU64,
    /// Epoch ms of the last heartbeat Redis acknowledged (commands work, even
    /// if the pub/sub path is not proven yet).
    beat_ok_ms: AtomicU64,
    /// Set when records in Redis may be out of date (an outage, a full queue).
    needs_resync: AtomicBool,
    /// Nodes with a recent heartbeat, as last counted (for fail-open throttling).
    live: std::sync::atomic::AtomicUsize,
    /// Connections whose `$disconnect` was delivered while Redis was unreachable:
    /// their records must still be removed.
    stale: Mutex<Vec<Id>>,
    records: mpsc::Sender<RecordOp>,
    /// Groups whose membership on this node changed (for the subscription reconciler).
    dirty_groups: Mutex<HashSet<GroupKey>>,
    groups_changed: Notify,
    /// Channels currently subscribed (changed only under `subscription_lock`).
    subscribed: Mutex<HashSet<String>>,
    /// A connection to Redis dropped: subscribe again to every channel in
    /// `subscribed` (needed on a Redis Cluster, see `link`).
    resubscribe: AtomicBool,
    subscription_lock: tokio::sync::Mutex<()>,
    stopping: AtomicBool,
    /// `$disconnect` claims waiting for Redis (see `claim`).
    waiting_claims: std::sync::atomic::AtomicUsize,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("node", &self.node)
            .field("up", &self.is_up())
            .finish_non_exhaustive()
    }
}

// === impl Cluster ===

impl Cluster {
    /// Links node `node` (`local`) to the cluster and starts the background
    /// tasks. Connecting is lazy: a node starts (and serves locally) while Redis
    /// is still down.
    pub fn start(
        node: NodeTag,
        local: Weak<dyn Node>,
        cfg: &ClusterConfig,
        metrics: ClusterMetrics,
    ) -> Result<Arc<Cluster>, String> {
        let (push_tx, push_rx) = mpsc::channel(PUSH_QUEUE);
        let dropped = metrics.dropped.clone();
        let redis = Link::open(cfg, move |info| {
            if push_tx.try_send(info).is_err() {
                dropped.increment(1);
            }
        })?;
        let (reg_tx, reg_rx) = mpsc::channel(REGISTRATION_QUEUE);
        let cluster = Arc::new(Cluster {
            node,
            cfg: cfg.clone(),
            redis,
            local,
            metrics,
            next_request: AtomicU64::new(1),
            next_fanout: AtomicU64::new(1),
            pending: DashMap::new(),
            probe_ok_ms: AtomicU64::new(0),
            probe_nonce: AtomicU64::new(0),
            beat_ok_ms: AtomicU64::new(0),
            needs_resync: AtomicBool::new(false),
            live: std::sync::atomic::AtomicUsize::new(1),
            stale: Mutex::new(Vec::new()),
            records: reg_tx,
            dirty_groups: Mutex::new(HashSet::new()),
            groups_changed: Notify::new(),
            subscribed: Mutex::new(HashSet::new()),
            resubscribe: AtomicBool::new(false),
            subscription_lock: tokio::sync::Mutex::new(()),
            stopping: AtomicBool::new(false),
            waiting_claims: std::sync::atomic::AtomicUsize::new(0),
        });
        cluster.metrics.up.set(0.0);
        // The dispatcher and the record writer hold the cluster weakly: they end
        // when it is dropped (their channels' senders live inside it).
        tokio::spawn(dispatch::run(Arc::downgrade(&cluster), push_rx));
        tokio::spawn(liveness::heartbeat(Arc::clone(&cluster)));
        tokio::spawn(liveness::record_connections(
            Arc::downgrade(&cluster),
            reg_rx,
        ));
        tokio::spawn(subscriptions::reconcile(Arc::clone(&cluster)));
        Ok(cluster)
    }

    /// This node's tag.
    pub fn node(&self) -> NodeTag {
        self.node
    }

    /// Whether this node works with Redis: its own probe came back through
    /// the fan-out path, and a heartbeat (a write) was acknowledged, both
    /// within `unready_after`. A Redis that dies is noticed at once (its
    /// connection drops); one that hangs, after `unready_after`.
    ///
    /// The probe alone is not enough on a Redis Cluster: a replica serves
    /// `SPUBLISH` and `SSUBSCRIBE` for its master's slots, so a node cut off
    /// together with a replica gets its probe back from it while nothing from
    /// the rest of the cluster reaches it (found by `tests/chaos`: a node on
    /// the minority side of a split stayed ready for all of its 6 s). Writes
    /// go to the master only.
    pub fn is_up(&self) -> bool {
        self.recent(&self.probe_ok_ms) && self.reachable()
    }

    /// Sets `sockgate_cluster_up` from [`Cluster::is_up`] now.
    pub fn refresh_up_metric(&self) {
        self.metrics.up.set(if self.is_up() { 1.0 } else { 0.0 });
    }

    /// Whether Redis answers commands: a heartbeat was acknowledged recently
    /// (right after a reconnect, before the next probe, too).
    pub(crate) fn reachable(&self) -> bool {
        self.recent(&self.beat_ok_ms)
    }

    /// Whether `at` (epoch ms; 0: never) is within `unready_after` of now.
    fn recent(&self, at: &AtomicU64) -> bool {
        let at = at.load(Ordering::Acquire);
        at != 0 && clock::now_ms().saturating_sub(at) <= self.cfg.unready_after.as_millis() as u64
    }

    /// The deadline of a message sent now.
    fn deadline(&self) -> u64 {
        clock::now_ms() + self.cfg.request_timeout.as_millis() as u64
    }

    /// Whether a message with this deadline may still be acted on here.
    pub(crate) fn in_time(&self, deadline_ms: u64) -> bool {
        clock::now_ms() + (self.cfg.max_clock_skew.as_millis() as u64) < deadline_ms
    }

    /// Whether `/readyz` may report ready.
    pub fn ready(&self) -> bool {
        !self.cfg.readiness_requires_redis || self.is_up()
    }

    /// The node, while it lives.
    fn local(&self) -> Option<Arc<dyn Node>> {
        self.local.upgrade()
    }

    /// Asks the node that holds `conn` to do `op`, and waits for its answer.
    pub(crate) async fn request(
        &self,
        conn: Id,
        stage: Option<&str>,
        op: Op,
    ) -> Result<Reply, DeliveryError> {
        if !self.is_up() {
            // Nothing was sent: certainly not delivered.
            return Err(DeliveryError::Unavailable);
        }
        let owner = conn.node();
        let id = self.next_request.fetch_add(1, Ordering::Relaxed);
        let deadline_ms = self.deadline();
        let deadline = clock::now() + self.cfg.request_timeout;
        let (tx, rx) = oneshot::channel();
        self.pending.insert(id, tx);
        // Removes the waiter however this call ends (timeout, error, caller gone).
        let _waiting = Waiting(&self.pending, id);
        let msg = Message::Request(Request {
            id,
            deadline_ms,
            reply_to: self.node,
            conn,
            stage: stage.map(str::to_owned),
            op,
        });
        // Set when no subscriber counted the request and the owner's liveness
        // key is gone: unanswered by the deadline, the connection is gone.
        let gone_if_unanswered = AtomicBool::new(false);
        let outcome = async {
            let receivers = self
                .publish(names::node_channel(owner), msg.encode(), Kind::Request)
                .await?;
            if receivers == 0 {
                // Nobody listens on the owner's channel: it is gone (then so is
                // the connection), or it is cut off from Redis (we cannot tell).
                let alive = self.exists(names::alive(owner)).await?;
                if !self.redis.sharded() {
                    return Err(if alive {
                        DeliveryError::Unavailable
                    } else {
                        DeliveryError::Gone
                    });
                }
                // A Redis Cluster counts only the subscribers of the node
                // `SPUBLISH` ran on: after a failover the owner may still be
                // subscribed on the demoted master, now a replica of the
                // shard, and receive it (found by `tests/chaos`, answered
                // 410 and delivered). So its answer is waited for, as always,
                // and only an unanswered request is gone.
                gone_if_unanswered.store(!alive, Ordering::Relaxed);
            }
            rx.await.map_err(|_| DeliveryError::Unavailable)
        };
        match tokio::time::timeout_at(deadline, outcome).await {
            Ok(Err(DeliveryError::Unavailable)) | Err(_) => {
                // The request may still be in Redis (a PUBLISH whose answer was
                // lost): answer only once its owner would drop it.
                tokio::time::sleep_until(deadline).await;
                Err(if gone_if_unanswered.load(Ordering::Relaxed) {
                    DeliveryError::Gone
                } else {
                    DeliveryError::Unavailable
                })
            }
            Ok(result) => result,
        }
    }

    /// Publishes a group send to every partition of the group; returns how many
    /// other nodes received it.
    pub(crate) async fn publish_group(
        &self,
        key: &GroupKey,
        data: &[u8],
    ) -> Result<usize, DeliveryError> {
        let channels = (0..self.cfg.group_partitions).map(|p| names::group_channel(key, p));
        self.fanout(channels.collect(), data, Kind::Group).await
    }

    /// Publishes a stage broadcast; returns how many other nodes received it.
    pub(crate) async fn publish_stage(
        &self,
        stage: &str,
        data: &[u8],
    ) -> Result<usize, DeliveryError> {
        self.fanout(vec![names::stage_channel(stage)], data, Kind::Stage)
            .await
    }

    /// Publishes one fan-out message (sender tag, seq, deadline, data) on each channel,
    /// within its deadline. On failure it answers only once the deadline has
    /// passed, so a message Redis delivers late is dropped by every receiver
    /// before the sender's caller hears 503 (and may retry).
    async fn fanout(
        &self,
        channels: Vec<String>,
        data: &[u8],
        kind: Kind,
    ) -> Result<usize, DeliveryError> {
        if !self.is_up() {
            return Err(DeliveryError::Unavailable);
        }
        let payload = wire::Fanout {
            sender: self.node,
            // Relaxed: only uniqueness matters; receivers accept any order.
            seq: self.next_fanout.fetch_add(1, Ordering::Relaxed),
            deadline_ms: self.deadline(),
            data,
        }
        .encode();
        let deadline = clock::now() + self.cfg.request_timeout;
        let publish_all = async {
            let mut others = 0;
            for channel in channels {
                let n = self.publish(channel.clone(), payload.clone(), kind).await?;
                others += n.saturating_sub(usize::from(self.is_subscribed(&channel)));
            }
            Ok(others)
        };
        match tokio::time::timeout_at(deadline, publish_all).await {
            Ok(Ok(others)) => Ok(others),
            Ok(Err(e)) => {
                tokio::time::sleep_until(deadline).await;
                Err(e)
            }
            Err(_) => Err(DeliveryError::Unavailable),
        }
    }

    fn is_subscribed(&self, channel: &str) -> bool {
        self.subscribed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(channel)
    }

    /// A group's membership on this node changed: subscribe or unsubscribe soon.
    pub fn group_changed(&self, key: &GroupKey) {
        self.dirty_groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key.clone());
        self.groups_changed.notify_one();
    }

    /// Subscribes to a group's channel now if this node needs it (after a join
    /// whose answer promises delivery). If Redis does not confirm, the
    /// reconciler keeps retrying.
    pub async fn sync_group(&self, key: &GroupKey) {
        let Some(node) = self.local() else { return };
        if !subscriptions::sync_group(self, &*node, key).await {
            self.group_changed(key);
        }
    }

    /// A connection was accepted: record it in Redis (in the background).
    pub fn opened(&self, conn: &Arc<Connection>) {
        if self
            .records
            .try_send(RecordOp::Open(Arc::clone(conn)))
            .is_err()
        {
            self.needs_resync.store(true, Ordering::Release);
        }
    }

    /// Leaves the cluster on a clean shutdown (after every `$disconnect`).
    pub async fn leave(&self) {
        self.stopping.store(true, Ordering::Release);
        self.groups_changed.notify_one();
        let mut redis = self.redis.clone();
        // One pipeline per hash tag (on a Redis Cluster each goes to one shard).
        let mut own = redis::pipe();
        own.del(names::alive(self.node))
            .del(names::conns(self.node));
        let mut nodes = redis::pipe();
        nodes.zrem(names::NODES, self.node.as_str());
        let mut other = redis.clone();
        let _ = tokio::time::timeout(self.cfg.request_timeout, async {
            tokio::join!(
                own.query_async::<()>(&mut redis),
                nodes.query_async::<()>(&mut other)
            )
        })
        .await;
    }

    async fn publish(
        &self,
        channel: String,
        payload: Bytes,
        kind: Kind,
    ) -> Result<usize, DeliveryError> {
        let mut redis = self.redis.clone();
        let cmd = redis.publish(&channel, &payload);
        match tokio::time::timeout(self.cfg.request_timeout, cmd.query_async::<i64>(&mut redis))
            .await
        {
            Ok(Ok(n)) => {
                self.metrics.published[kind as usize].increment(1);
                Ok(usize::try_from(n).unwrap_or(0))
            }
            _ => Err(DeliveryError::Unavailable),
        }
    }

    async fn exists(&self, key: String) -> Result<bool, DeliveryError> {
        let mut redis = self.redis.clone();
        let cmd = redis::cmd("EXISTS").arg(key).clone();
        match tokio::time::timeout(self.cfg.request_timeout, cmd.query_async::<i64>(&mut redis))
            .await
        {
            Ok(Ok(n)) => Ok(n > 0),
            _ => Err(DeliveryError::Unavailable),
        }
    }
}

/// Removes a request's waiter when the request ends.
struct Waiting<'a>(&'a DashMap<u64, oneshot::Sender<Reply>>, u64);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.remove(&self.1);
    }
}

/// Decodes a GET answer from another node.
pub(crate) fn decode_view(body: &[u8]) -> Option<crate::conn::ConnectionView> {
    let record: Record = serde_json::from_slice(body).ok()?;
    let detail = record.detail.clone().unwrap_or_default();
    Some(crate::conn::ConnectionView {
        info: record.info(),
        last_active_ms: record.last_active.unwrap_or(record.connected_at),
        groups: detail.groups,
        queued_messages: detail.queued_messages,
        queued_bytes: detail.queued_bytes,
        node: detail.node,
    })
}
