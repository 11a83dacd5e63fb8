//! Where a message for a connection, a group or a whole stage goes.
//!
//! Everything that sends to clients from outside their session — the
//! @connections API, group sends, stage broadcasts, membership changes from
//! integration replies — comes through here, so the question "is that
//! connection on this node?" is answered in one place: a connection id starts
//! with its node's tag. Calls for this node's connections are served locally;
//! calls for another node's go to that node through the [`Cluster`] (or are 410
//! on a single node). Frames are encoded once per call and shared by every
//! local receiver.
//!
//! [`Cluster`]: crate::cluster::Cluster

pub mod groups;

use std::sync::Arc;

use bytes::Bytes;
use tracing::warn;

use crate::cluster::wire::{Op, Reply, Status};
use crate::gateway::{Gateway, Stage};
use crate::integration::Reply as IntegrationReply;
use crate::session::close::CloseReason;
use crate::session::id::Id;
use crate::session::mailbox::{ConnInfo, Connection, JoinError, PostError};
use crate::ws::Frame;
use groups::{GroupKey, Sent};

/// Why a delivery call failed (mapped to an HTTP status in `http::respond`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryError {
    /// No live connection with that id on that stage (410).
    Gone,
    /// The connection's send queue is full (429).
    Full,
    /// The connection is in `max_groups_per_connection` groups (429).
    TooManyGroups,
    /// The call needs another node and the cluster cannot be reached (503).
    Unavailable,
}

/// What a group send or broadcast did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendReport {
    /// Receivers on this node.
    pub local: Sent,
    /// Other nodes that received it (`None` on a single node).
    pub remote_nodes: Option<usize>,
}

/// Membership headers an integration reply may carry: comma-separated group names.
pub const JOIN_HEADER: &str = "x-sockgate-join";
/// See [`JOIN_HEADER`].
pub const LEAVE_HEADER: &str = "x-sockgate-leave";

/// What GetConnection reports.
#[derive(Debug, Clone)]
pub struct ConnectionView {
    /// Handshake facts.
    pub info: ConnInfo,
    /// Epoch ms of the last data message.
    pub last_active_ms: u64,
}

/// The frame for a POSTed payload: text when it is UTF-8 (what browsers'
/// `onmessage` expects), binary otherwise (AWS leaves the opcode UNCONFIRMED).
pub fn payload_frame(data: &[u8]) -> Frame {
    match std::str::from_utf8(data) {
        Ok(text) => Frame::text(text),
        Err(_) => Frame::binary(data),
    }
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

// === impl Gateway: delivery ===

impl Gateway {
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
    pub(crate) fn post_local(
        &self,
        id: &Id,
        stage: Option<&str>,
        data: &[u8],
    ) -> Result<(), DeliveryError> {
        let conn = self.local(id, stage)?;
        match conn.post(payload_frame(data)) {
            Ok(()) => Ok(()),
            Err(PostError::Gone) => Err(DeliveryError::Gone),
            Err(PostError::Full) => {
                if let Some(stage) = self.stages.get(&*conn.info.stage) {
                    stage.metrics.queue_rejections.increment(1);
                }
                Err(DeliveryError::Full)
            }
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
    pub(crate) fn local_view(
        &self,
        id: &Id,
        stage: Option<&str>,
    ) -> Result<ConnectionView, DeliveryError> {
        let conn = self.local(id, stage)?;
        Ok(ConnectionView {
            info: conn.info.clone(),
            last_active_ms: conn.last_active_ms(),
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
    pub(crate) fn disconnect_local(
        &self,
        id: &Id,
        stage: Option<&str>,
    ) -> Result<(), DeliveryError> {
        let conn = self.local(id, stage)?;
        if conn.request_close(CloseReason::Deleted) {
            Ok(())
        } else {
            Err(DeliveryError::Gone)
        }
    }

    /// Adds a connection to a group.
    /// With a cluster, the answer comes once this node's subscription to the
    /// group is in place, so a send right after reaches the new member.
    pub async fn join_group(&self, key: &GroupKey, id: &Id) -> Result<(), DeliveryError> {
        if self.is_local(id) {
            if self.join_group_local(key, id)? {
                self.sync_groups(std::slice::from_ref(key)).await;
            }
            return Ok(());
        }
        let op = Op::Join(key.group().to_owned());
        self.remote(id, Some(key.stage()), op).await.map(|_| ())
    }

    /// Adds a connection of this node to a group; true if it is the node's first
    /// member (then [`Gateway::sync_groups`] makes the subscription take effect).
    pub(crate) fn join_group_local(&self, key: &GroupKey, id: &Id) -> Result<bool, DeliveryError> {
        let conn = self.local(id, Some(key.stage()))?;
        self.join_local(&conn, key)
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
    pub(crate) fn leave_group_local(&self, key: &GroupKey, id: &Id) -> Result<(), DeliveryError> {
        let conn = self.local(id, Some(key.stage()))?;
        self.leave_local(&conn, key)
    }

    /// Sends `data` to every member of a group, on every node.
    pub async fn send_to_group(
        &self,
        key: &GroupKey,
        data: &[u8],
    ) -> Result<SendReport, DeliveryError> {
        let local = self.groups.send(key, &payload_frame(data));
        self.count_fanout(key.stage(), local);
        let remote_nodes = match self.cluster.get() {
            Some(cluster) => Some(cluster.publish_group(key, data).await?),
            None => None,
        };
        Ok(SendReport {
            local,
            remote_nodes,
        })
    }

    /// Sends `data` to every connection of a stage, on every node.
    pub async fn broadcast(&self, stage: &str, data: &[u8]) -> Result<SendReport, DeliveryError> {
        let local = self.broadcast_local(stage, data);
        let remote_nodes = match self.cluster.get() {
            Some(cluster) => Some(cluster.publish_stage(stage, data).await?),
            None => None,
        };
        Ok(SendReport {
            local,
            remote_nodes,
        })
    }

    /// A stage broadcast to this node's connections.
    pub(crate) fn broadcast_local(&self, stage: &str, data: &[u8]) -> Sent {
        let frame = payload_frame(data);
        let mut sent = Sent::default();
        self.registry.for_each(|conn| {
            if *conn.info.stage == *stage {
                match conn.post(frame.clone()) {
                    Ok(()) => sent.queued += 1,
                    Err(_) => sent.dropped += 1,
                }
            }
        });
        self.count_fanout(stage, sent);
        sent
    }

    pub(crate) fn count_fanout(&self, stage: &str, sent: Sent) {
        if let Some(stage) = self.stages.get(stage) {
            stage.metrics.fanout_queued.increment(sent.queued as u64);
            stage.metrics.fanout_dropped.increment(sent.dropped as u64);
        }
    }

    fn join_local(&self, conn: &Arc<Connection>, key: &GroupKey) -> Result<bool, DeliveryError> {
        match self
            .groups
            .join(conn, key, self.ws.max_groups_per_connection)
        {
            Ok(first) => {
                if first && let Some(cluster) = self.cluster.get() {
                    cluster.group_changed(key);
                }
                Ok(first)
            }
            Err(JoinError::Gone) => Err(DeliveryError::Gone),
            Err(JoinError::TooMany) => Err(DeliveryError::TooManyGroups),
        }
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

    /// Applies an integration reply's membership headers to its connection
    /// (`$connect` results and route replies alike). Invalid names and joins over
    /// the limit are logged and skipped; they never fail the reply. Returns the
    /// groups this node had no member of before, for [`Gateway::sync_groups`].
    #[must_use]
    pub fn apply_membership(
        &self,
        stage: &Stage,
        conn: &Arc<Connection>,
        reply: &IntegrationReply,
    ) -> Vec<GroupKey> {
        let mut first = Vec::new();
        for (header, join) in [(JOIN_HEADER, true), (LEAVE_HEADER, false)] {
            let Some(list) = reply.header(header) else {
                continue;
            };
            for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                let Some(key) = GroupKey::new(&stage.name, name) else {
                    warn!(conn.id = %conn.id, stage = %stage.name, header, "An integration named an invalid group; ignored.");
                    continue;
                };
                let result = if join {
                    self.join_local(conn, &key)
                } else {
                    self.leave_local(conn, &key).map(|()| false)
                };
                match result {
                    Ok(true) => first.push(key),
                    Err(DeliveryError::TooManyGroups) => {
                        warn!(conn.id = %conn.id, stage = %stage.name, "An integration's join exceeds max_groups_per_connection; ignored.");
                    }
                    _ => {}
                }
            }
        }
        first
    }

    /// Called once when a connection ends: it leaves every group.
    pub(crate) fn forget_groups(&self, id: &Id, groups: &[GroupKey]) {
        let emptied = self.groups.leave_all(id, groups);
        if let Some(cluster) = self.cluster.get() {
            for key in &emptied {
                cluster.group_changed(key);
            }
        }
    }

    /// Whether this node delivers an ended connection's `$disconnect` (with a
    /// cluster, a survivor may already have, if this node was declared lost).
    pub(crate) async fn claim_disconnect(&self, conn: &Connection) -> bool {
        match self.cluster.get() {
            Some(cluster) => cluster.claim_disconnect(conn).await,
            None => true,
        }
    }
}
