//! The node's delivery handle: where a message for a connection, a group or a
//! whole stage goes.
//!
//! Everything that sends to clients from outside their session — the
//! @connections API, group sends, stage broadcasts, membership changes from
//! integration replies — comes through [`Delivery`], so the question "is that
//! connection on this node?" is answered in one place: a connection id starts
//! with its node's tag. Calls for this node's connections are served from the
//! [`Registry`] and the [`Groups`] index; calls for another node's go to that
//! node through the [`Cluster`] (or are 410 on a single node). Frames are
//! encoded once per call and shared by every local receiver.
//!
//! Delivery counts nothing: callers own the metrics of what they asked for (the
//! management API, and the cluster's requests served by `gateway::node`).
//!
//! [`Cluster`]: crate::cluster::Cluster

pub mod groups;
pub mod registry;

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use tracing::warn;

use crate::cluster::Cluster;
use crate::cluster::wire::{Op, Reply, Status};
use crate::conn::{
    CloseReason, Connection, ConnectionView, DeliveryError, Fanout, GroupKey, Id, JoinError,
    NodeTag, PostError, Sent, payload_frame,
};
pub use groups::Groups;
pub use registry::Registry;

/// Membership headers an integration reply may carry: comma-separated group names.
pub const JOIN_HEADER: &str = "x-sockgate-join";
/// See [`JOIN_HEADER`].
pub const LEAVE_HEADER: &str = "x-sockgate-leave";

/// This node's connections and groups, and its link to the others.
#[derive(Debug)]
pub struct Delivery {
    node: NodeTag,
    registry: Registry,
    groups: Groups,
    /// Set once at start when `[cluster]` is configured.
    cluster: OnceLock<Arc<Cluster>>,
}

/// Maps the owner node's answer.
fn answered(reply: Reply) -> Result<Reply, DeliveryError> {
    match reply.status {
        Status::Ok => Ok(reply),
        Status::Gone => Err(DeliveryError::Gone),
        Status::Full => Err(DeliveryError::Full),
        Status::TooManyGroups => Err(DeliveryError::TooManyGroups),
    }
}

fn joined(result: Result<bool, JoinError>) -> Result<bool, DeliveryError> {
    result.map_err(|e| match e {
        JoinError::Gone => DeliveryError::Gone,
        JoinError::TooMany => DeliveryError::TooManyGroups,
    })
}

// === impl Delivery ===

impl Delivery {
    /// The handle of node `node`, with no connections yet.
    pub fn new(node: NodeTag) -> Delivery {
        Delivery {
            node,
            registry: Registry::default(),
            groups: Groups::default(),
            cluster: OnceLock::new(),
        }
    }

    /// This node's tag: the first characters of its connection ids.
    pub fn node(&self) -> NodeTag {
        self.node
    }

    /// Live connections.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Group memberships of this node's connections.
    pub fn groups(&self) -> &Groups {
        &self.groups
    }

    /// The link to other nodes, if any.
    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.get()
    }

    /// Links this node to the cluster (once, at start).
    pub fn set_cluster(&self, cluster: Arc<Cluster>) {
        let _ = self.cluster.set(cluster);
    }

    /// Whether `id` names a connection of this node.
    fn is_local(&self, id: &Id) -> bool {
        id.node() == self.node
    }

    /// Asks the owner of a remote connection (410 without a cluster).
    async fn remote(&self, id: &Id, stage: Option<&str>, op: Op) -> Result<Reply, DeliveryError> {
        let cluster = self.cluster.get().ok_or(DeliveryError::Gone)?;
        answered(cluster.request(*id, stage, op).await?)
    }

    /// A live connection on this node, on `stage` when one is given.
    fn local(&self, id: &Id, stage: Option<&str>) -> Result<Arc<Connection>, DeliveryError> {
        self.registry
            .get(id)
            .filter(|c| stage.is_none_or(|s| *c.info.stage == *s))
            .ok_or(DeliveryError::Gone)
    }

    /// A connection passed `$connect`: it can be reached from now on.
    pub fn opened(&self, conn: &Arc<Connection>) {
        self.registry.insert(Arc::clone(conn));
        if let Some(cluster) = self.cluster.get() {
            cluster.opened(conn);
        }
    }

    /// PostToConnection.
    pub async fn post_to(
        &self,
        id: &Id,
        stage: Option<&str>,
        data: Bytes,
    ) -> Result<(), DeliveryError> {
        if self.is_local(id) {
            return self.post_local(id, stage, &data);
        }
        self.remote(id, stage, Op::Post(data)).await.map(|_| ())
    }

    /// PostToConnection on this node.
    pub fn post_local(
        &self,
        id: &Id,
        stage: Option<&str>,
        data: &[u8],
    ) -> Result<(), DeliveryError> {
        match self.local(id, stage)?.post(&payload_frame(data).into()) {
            Ok(()) => Ok(()),
            Err(PostError::Gone) => Err(DeliveryError::Gone),
            Err(PostError::Full) => Err(DeliveryError::Full),
        }
    }

    /// GetConnection.
    pub async fn connection_info(
        &self,
        id: &Id,
        stage: Option<&str>,
    ) -> Result<ConnectionView, DeliveryError> {
        if self.is_local(id) {
            return self.local_view(id, stage);
        }
        let reply = self.remote(id, stage, Op::Get).await?;
        crate::cluster::decode_view(&reply.body).ok_or(DeliveryError::Unavailable)
    }

    /// GetConnection on this node.
    pub fn local_view(
        &self,
        id: &Id,
        stage: Option<&str>,
    ) -> Result<ConnectionView, DeliveryError> {
        let conn = self.local(id, stage)?;
        Ok(ConnectionView {
            info: conn.info.clone(),
            last_active_ms: conn.last_active_ms(),
            groups: conn
                .groups()
                .iter()
                .map(|g| g.as_str().to_owned())
                .collect(),
            queued_messages: conn.queued(),
            queued_bytes: conn.backlog(),
            node: self.node().as_str().to_owned(),
        })
    }

    /// DeleteConnection.
    pub async fn disconnect(&self, id: &Id, stage: Option<&str>) -> Result<(), DeliveryError> {
        if self.is_local(id) {
            return self.disconnect_local(id, stage);
        }
        self.remote(id, stage, Op::Delete).await.map(|_| ())
    }

    /// DeleteConnection on this node.
    pub fn disconnect_local(&self, id: &Id, stage: Option<&str>) -> Result<(), DeliveryError> {
        if self.local(id, stage)?.request_close(CloseReason::Deleted) {
            Ok(())
        } else {
            Err(DeliveryError::Gone)
        }
    }

    /// Adds a connection to a group (at most `max_groups` per connection).
    /// With a cluster, the answer comes once this node's subscription to the
    /// group is in place, so a send right after reaches the new member.
    pub async fn join_group(
        &self,
        key: &GroupKey,
        id: &Id,
        max_groups: usize,
    ) -> Result<(), DeliveryError> {
        if self.is_local(id) {
            if self.join_group_local(key, id, max_groups)? {
                self.sync_groups(std::slice::from_ref(key)).await;
            }
            return Ok(());
        }
        let op = Op::Join(key.group().to_owned());
        self.remote(id, Some(key.stage()), op).await.map(|_| ())
    }

    /// Adds a connection of this node to a group; true if it is the node's first
    /// member (then [`Delivery::sync_groups`] makes the subscription take effect).
    pub fn join_group_local(
        &self,
        key: &GroupKey,
        id: &Id,
        max_groups: usize,
    ) -> Result<bool, DeliveryError> {
        let conn = self.local(id, Some(key.stage()))?;
        self.join_local(&conn, key, max_groups)
    }

    /// Removes a connection from a group (not being a member is not an error).
    pub async fn leave_group(&self, key: &GroupKey, id: &Id) -> Result<(), DeliveryError> {
        if self.is_local(id) {
            return self.leave_group_local(key, id);
        }
        let op = Op::Leave(key.group().to_owned());
        self.remote(id, Some(key.stage()), op).await.map(|_| ())
    }

    /// Removes a connection of this node from a group.
    pub fn leave_group_local(&self, key: &GroupKey, id: &Id) -> Result<(), DeliveryError> {
        let conn = self.local(id, Some(key.stage()))?;
        self.leave_local(&conn, key)
    }

    /// Sends `data` to every member of a group, on every node.
    pub async fn send_to_group(&self, key: &GroupKey, data: &[u8]) -> Fanout {
        let local = self.group_send_local(key, data);
        let remote = match self.cluster.get() {
            Some(cluster) => cluster.publish_group(key, data).await.map(Some),
            None => Ok(None),
        };
        Fanout { local, remote }
    }

    /// A group send to this node's members.
    pub fn group_send_local(&self, key: &GroupKey, data: &[u8]) -> Sent {
        self.groups.send(key, &payload_frame(data).into())
    }

    /// Sends `data` to every connection of a stage, on every node.
    pub async fn broadcast(&self, stage: &str, data: &[u8]) -> Fanout {
        let local = self.broadcast_local(stage, data);
        let remote = match self.cluster.get() {
            Some(cluster) => cluster.publish_stage(stage, data).await.map(Some),
            None => Ok(None),
        };
        Fanout { local, remote }
    }

    /// A stage broadcast to this node's connections.
    pub fn broadcast_local(&self, stage: &str, data: &[u8]) -> Sent {
        // Encoded once, and deflated at most once (the first compressed
        // receiver does it, under the registry's read lock).
        let msg = crate::ws::Outgoing::from(payload_frame(data));
        let mut sent = Sent::default();
        self.registry.for_each(|conn| {
            if *conn.info.stage == *stage {
                match conn.post(&msg) {
                    Ok(()) => sent.queued += 1,
                    Err(_) => sent.dropped += 1,
                }
            }
        });
        sent
    }

    fn join_local(
        &self,
        conn: &Arc<Connection>,
        key: &GroupKey,
        max_groups: usize,
    ) -> Result<bool, DeliveryError> {
        let first = joined(self.groups.join(conn, key, max_groups))?;
        if first && let Some(cluster) = self.cluster.get() {
            cluster.group_changed(key);
        }
        Ok(first)
    }

    fn leave_local(&self, conn: &Connection, key: &GroupKey) -> Result<(), DeliveryError> {
        let last = self
            .groups
            .leave(conn, key)
            .map_err(|_| DeliveryError::Gone)?;
        if last && let Some(cluster) = self.cluster.get() {
            cluster.group_changed(key);
        }
        Ok(())
    }

    /// Makes this node's subscriptions to newly joined groups take effect now
    /// (a no-op on a single node; the reconciler would get there too, soon).
    pub async fn sync_groups(&self, keys: &[GroupKey]) {
        if let Some(cluster) = self.cluster.get() {
            for key in keys {
                cluster.sync_group(key).await;
            }
        }
    }

    /// Applies an integration reply's membership headers (`X-Sockgate-Join`,
    /// `X-Sockgate-Leave` values) to its connection. Invalid names and joins over
    /// the limit are logged and skipped; they never fail the reply. Returns the
    /// groups this node had no member of before, for [`Delivery::sync_groups`].
    #[must_use]
    pub fn apply_membership(
        &self,
        conn: &Arc<Connection>,
        join: Option<&str>,
        leave: Option<&str>,
        max_groups: usize,
    ) -> Vec<GroupKey> {
        let stage = &*conn.info.stage;
        let mut first = Vec::new();
        for (header, list, join) in [(JOIN_HEADER, join, true), (LEAVE_HEADER, leave, false)] {
            let Some(list) = list else { continue };
            for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                let Some(key) = GroupKey::new(stage, name) else {
                    warn!(conn.id = %conn.id, stage, header, "An integration named an invalid group; ignored.");
                    continue;
                };
                let result = if join {
                    self.join_local(conn, &key, max_groups)
                } else {
                    self.leave_local(conn, &key).map(|()| false)
                };
                match result {
                    Ok(true) => first.push(key),
                    Err(DeliveryError::TooManyGroups) => {
                        warn!(conn.id = %conn.id, stage, "An integration's join exceeds max_groups_per_connection; ignored.");
                    }
                    _ => {}
                }
            }
        }
        first
    }

    /// Called once when a connection ends: it can no longer be reached (later
    /// posts get 410), and it leaves every group.
    pub fn closed(&self, conn: &Connection) {
        let groups = conn.mark_closed();
        self.registry.remove(&conn.id);
        let emptied = self.groups.leave_all(&conn.id, &groups);
        if let Some(cluster) = self.cluster.get() {
            for key in &emptied {
                cluster.group_changed(key);
            }
        }
    }

    /// Whether this node delivers an ended connection's `$disconnect` (with a
    /// cluster, a survivor may already have, if this node was declared lost;
    /// while Redis is unreachable this waits until it can tell, or `hurry`).
    pub async fn claim_disconnect(
        &self,
        conn: &Connection,
        hurry: &(dyn Fn() -> bool + Sync),
    ) -> bool {
        match self.cluster.get() {
            Some(cluster) => cluster.claim_disconnect(conn, hurry).await,
            None => true,
        }
    }
}
