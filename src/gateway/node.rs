//! What the cluster asks of this node ([`crate::cluster::Node`]): serve
//! another node's calls on this node's connections, deliver its group sends
//! and broadcasts, and the `$disconnect`s of a lost node's connections. Each is
//! counted in this node's metrics, as if it had been asked here.

use std::sync::Arc;

use super::Gateway;
use crate::cluster::node::{BoxFuture, Node};
use crate::conn::{CloseReason, ConnInfo, Connection, ConnectionView, DeliveryError, GroupKey, Id};

impl Node for Gateway {
    fn post(&self, id: &Id, stage: Option<&str>, data: &[u8]) -> Result<(), DeliveryError> {
        let result = self.delivery().post_local(id, stage, data);
        if result == Err(DeliveryError::Full) {
            self.count_rejection(id);
        }
        result
    }

    fn view(&self, id: &Id, stage: Option<&str>) -> Result<ConnectionView, DeliveryError> {
        self.delivery().local_view(id, stage)
    }

    fn close(&self, id: &Id, stage: Option<&str>) -> Result<(), DeliveryError> {
        self.delivery().disconnect_local(id, stage)
    }

    fn join(&self, key: &GroupKey, id: &Id) -> Result<bool, DeliveryError> {
        let max = self.snapshot().ws.max_groups_per_connection;
        self.delivery().join_group_local(key, id, max)
    }

    fn leave(&self, key: &GroupKey, id: &Id) -> Result<(), DeliveryError> {
        self.delivery().leave_group_local(key, id)
    }

    fn group_send(&self, key: &GroupKey, data: &[u8]) {
        let sent = self.delivery().group_send_local(key, data);
        self.count_fanout(key.stage(), sent);
    }

    fn stage_send(&self, stage: &str, data: &[u8]) {
        let sent = self.delivery().broadcast_local(stage, data);
        self.count_fanout(stage, sent);
    }

    fn has_members(&self, key: &GroupKey) -> bool {
        self.delivery().groups().has_members(key)
    }

    fn stages(&self) -> Vec<String> {
        self.snapshot().stage_names()
    }

    fn connections(&self) -> Vec<Arc<Connection>> {
        let mut all = Vec::with_capacity(self.delivery().registry().len());
        self.delivery()
            .registry()
            .for_each(|c| all.push(Arc::clone(c)));
        all
    }

    fn disconnect_lost(&self, id: Id, info: ConnInfo) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            let snap = self.snapshot_arc();
            let Some(stage) = snap.stage_for(&info.stage, info.canary).cloned() else {
                return false;
            };
            let conn = Connection::new(id, info, 1, 1);
            stage.metrics.disconnect(&CloseReason::NodeLost);
            self.on_disconnect(&snap, &stage, &conn, &CloseReason::NodeLost)
                .await;
            true
        })
    }
}
