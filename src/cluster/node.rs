//! What the cluster needs from the node it links, and nothing more: a narrow
//! interface instead of a pointer to the whole gateway. `gateway::node`
//! implements it; the cluster holds it weakly (the node owns the cluster).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::conn::{ConnInfo, Connection, ConnectionView, DeliveryError, GroupKey, Id};

/// A boxed future, for the one asynchronous call.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The node side of the cluster link.
pub trait Node: Send + Sync {
    /// PostToConnection, asked by another node for one of ours.
    fn post(&self, id: &Id, stage: Option<&str>, data: &[u8]) -> Result<(), DeliveryError>;
    /// GetConnection, asked by another node.
    fn view(&self, id: &Id, stage: Option<&str>) -> Result<ConnectionView, DeliveryError>;
    /// DeleteConnection, asked by another node.
    fn close(&self, id: &Id, stage: Option<&str>) -> Result<(), DeliveryError>;
    /// A join asked by another node; true if this node had no member before.
    fn join(&self, key: &GroupKey, id: &Id) -> Result<bool, DeliveryError>;
    /// A leave asked by another node.
    fn leave(&self, key: &GroupKey, id: &Id) -> Result<(), DeliveryError>;
    /// A group send from another node, for our members.
    fn group_send(&self, key: &GroupKey, data: &[u8]);
    /// A stage broadcast from another node, for our connections.
    fn stage_send(&self, stage: &str, data: &[u8]);
    /// Whether any connection of ours is in the group.
    fn has_members(&self, key: &GroupKey) -> bool;
    /// The stages served now (their broadcast channels are subscribed).
    fn stages(&self) -> Vec<String>;
    /// Every live connection of ours.
    fn connections(&self) -> Vec<Arc<Connection>>;
    /// Delivers the `$disconnect` of a connection of a lost node (1006 "Node
    /// lost"); false if its stage is not served here.
    fn disconnect_lost(&self, id: Id, info: ConnInfo) -> BoxFuture<'_, bool>;
}
