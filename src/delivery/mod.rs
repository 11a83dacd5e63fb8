//! Where a message for a connection, a group or a whole stage goes.
//!
//! Everything that sends to clients from outside their session — the
//! @connections API, group sends, stage broadcasts, membership changes from
//! integration replies — comes through here, so the question "is that
//! connection on this node?" is answered in one place. Frames are encoded once
//! per call and shared by every local receiver.

pub mod groups;

use std::sync::Arc;

use bytes::Bytes;
use tracing::warn;

use crate::gateway::{Gateway, Stage};
use crate::integration::Reply;
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

// === impl Gateway: delivery ===

impl Gateway {
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
        let conn = self.local(id, stage)?;
        match conn.post(payload_frame(&data)) {
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
        let conn = self.local(id, stage)?;
        Ok(ConnectionView {
            info: conn.info.clone(),
            last_active_ms: conn.last_active_ms(),
        })
    }

    /// DeleteConnection.
    pub async fn disconnect(&self, id: &Id, stage: Option<&str>) -> Result<(), DeliveryError> {
        let conn = self.local(id, stage)?;
        if conn.request_close(CloseReason::Deleted) {
            Ok(())
        } else {
            Err(DeliveryError::Gone)
        }
    }

    /// Adds a connection to a group.
    pub async fn join_group(&self, key: &GroupKey, id: &Id) -> Result<(), DeliveryError> {
        let conn = self.local(id, Some(key.stage()))?;
        self.join_local(&conn, key)
    }

    /// Removes a connection from a group (not being a member is not an error).
    pub async fn leave_group(&self, key: &GroupKey, id: &Id) -> Result<(), DeliveryError> {
        let conn = self.local(id, Some(key.stage()))?;
        self.groups
            .leave(&conn, key)
            .map(|_| ())
            .map_err(|_| DeliveryError::Gone)
    }

    /// Sends `data` to every member of a group.
    pub async fn send_to_group(&self, key: &GroupKey, data: &[u8]) -> Sent {
        let sent = self.groups.send(key, &payload_frame(data));
        self.count_fanout(key.stage(), sent);
        sent
    }

    /// Sends `data` to every connection of a stage.
    pub async fn broadcast(&self, stage: &str, data: &[u8]) -> Sent {
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

    fn count_fanout(&self, stage: &str, sent: Sent) {
        if let Some(stage) = self.stages.get(stage) {
            stage.metrics.fanout_queued.increment(sent.queued as u64);
            stage.metrics.fanout_dropped.increment(sent.dropped as u64);
        }
    }

    fn join_local(&self, conn: &Arc<Connection>, key: &GroupKey) -> Result<(), DeliveryError> {
        match self
            .groups
            .join(conn, key, self.ws.max_groups_per_connection)
        {
            Ok(_) => Ok(()),
            Err(JoinError::Gone) => Err(DeliveryError::Gone),
            Err(JoinError::TooMany) => Err(DeliveryError::TooManyGroups),
        }
    }

    /// Applies an integration reply's membership headers to its connection
    /// (`$connect` results and route replies alike). Invalid names and joins over
    /// the limit are logged and skipped; they never fail the reply.
    pub fn apply_membership(&self, stage: &Stage, conn: &Arc<Connection>, reply: &Reply) {
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
                    self.groups
                        .leave(conn, &key)
                        .map(|_| ())
                        .map_err(|_| DeliveryError::Gone)
                };
                if result == Err(DeliveryError::TooManyGroups) {
                    warn!(conn.id = %conn.id, stage = %stage.name, "An integration's join exceeds max_groups_per_connection; ignored.");
                }
            }
        }
    }

    /// Called once when a connection ends: it leaves every group.
    pub(crate) fn forget_groups(&self, id: &Id, groups: &[GroupKey]) {
        self.groups.leave_all(id, groups);
    }
}
