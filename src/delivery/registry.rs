//! The node's live connections, by id.
//!
//! A `DashMap` (sharded `RwLock`s) because lookups come from every @connections
//! request and inserts/removes from every connect/disconnect, concurrently. Callers
//! get an `Arc<Connection>` clone and the shard guard is dropped before they do
//! anything else: no guard is ever held across an `.await`.

use std::sync::Arc;

use dashmap::DashMap;

use crate::conn::Connection;
use crate::conn::Id;

/// Live connections on this node.
#[derive(Debug, Default)]
pub struct Registry {
    map: DashMap<Id, Arc<Connection>>,
}

impl Registry {
    /// Adds a connection that has passed `$connect`.
    pub fn insert(&self, conn: Arc<Connection>) {
        self.map.insert(conn.id, conn);
    }

    /// Removes a connection; returns it if it was there.
    pub fn remove(&self, id: &Id) -> Option<Arc<Connection>> {
        self.map.remove(id).map(|(_, c)| c)
    }

    /// Looks a connection up.
    pub fn get(&self, id: &Id) -> Option<Arc<Connection>> {
        self.map.get(id).map(|c| Arc::clone(c.value()))
    }

    /// Calls `f` on every live connection (shard by shard, under each shard's
    /// read lock; `f` must not block).
    pub fn for_each(&self, mut f: impl FnMut(&Arc<Connection>)) {
        for entry in self.map.iter() {
            f(entry.value());
        }
    }

    /// Number of live connections.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}
