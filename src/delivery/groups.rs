//! This node's group index: which of its connections are in which group.
//!
//! Groups are sockgate's answer to the loop every AWS user writes over stored
//! connection ids: a backend adds connections to named groups (per stage) and
//! sends to the group in one call. Each connection also records its own groups
//! (in its mailbox), so leaving everything on disconnect costs one lookup per
//! group, not a scan.
//!
//! Concurrency: the index is a `DashMap` of member maps. A send holds one
//! shard's read lock while it queues the frame to each member (each behind its
//! own short mailbox lock); join and leave never hold a mailbox lock while they
//! touch the index, so the two lock orders cannot cross. A join that races the
//! connection's end re-checks after inserting and undoes itself, so a closed
//! connection never stays in the index.

use std::collections::HashMap;
use std::sync::Arc;

use dashmap::DashMap;

use crate::conn::{Connection, GroupKey, Id, JoinError, PostError, Sent};
use crate::ws::Outgoing;

/// The node's group index.
#[derive(Debug, Default)]
pub struct Groups {
    map: DashMap<GroupKey, HashMap<Id, Arc<Connection>>>,
}

// === impl Groups ===

impl Groups {
    /// Adds `conn` to `key`. `Ok(true)` when this node had no member of the
    /// group before (a cluster then subscribes to it).
    pub fn join(
        &self,
        conn: &Arc<Connection>,
        key: &GroupKey,
        max_per_connection: usize,
    ) -> Result<bool, JoinError> {
        if !conn.join(key, max_per_connection)? {
            return Ok(false);
        }
        let first = {
            let mut members = self.map.entry(key.clone()).or_default();
            let first = members.is_empty();
            members.insert(conn.id, Arc::clone(conn));
            first
        };
        if conn.is_closed() {
            // The connection ended between its own record and the index insert;
            // its cleanup may have run already, so undo ours.
            self.remove(key, &conn.id);
            return Err(JoinError::Gone);
        }
        Ok(first)
    }

    /// Removes `conn` from `key`. `Ok(true)` when that left this node with no
    /// member of the group (a cluster then unsubscribes).
    pub fn leave(&self, conn: &Connection, key: &GroupKey) -> Result<bool, PostError> {
        if !conn.leave(key)? {
            return Ok(false);
        }
        Ok(self.remove(key, &conn.id))
    }

    /// Removes an ended connection from the groups it was in; returns the
    /// groups that now have no member on this node.
    pub fn leave_all(&self, id: &Id, groups: &[GroupKey]) -> Vec<GroupKey> {
        groups
            .iter()
            .filter(|key| self.remove(key, id))
            .cloned()
            .collect()
    }

    /// Whether any connection on this node is in `key`.
    pub fn has_members(&self, key: &GroupKey) -> bool {
        self.map.get(key).is_some_and(|m| !m.is_empty())
    }

    /// Members of `key` on this node.
    pub fn local_members(&self, key: &GroupKey) -> usize {
        self.map.get(key).map_or(0, |m| m.len())
    }

    /// The groups of `stage` with members on this node, by name after
    /// `after`, at most `limit`, with their member counts; and how many
    /// groups the stage has here. One pass over the index (shard by shard,
    /// each under its read lock): for an operator's page, never per message.
    pub fn page(&self, stage: &str, after: &str, limit: usize) -> (Vec<(String, usize)>, usize) {
        let mut total = 0;
        let mut names = Vec::new();
        for entry in &self.map {
            if entry.key().stage() != stage {
                continue;
            }
            total += 1;
            let name = entry.key().group();
            if name > after {
                names.push((name.to_owned(), entry.value().len()));
            }
        }
        names.sort_unstable();
        names.truncate(limit);
        (names, total)
    }

    /// Queues `msg` (encoded once, deflated at most once, shared) to every
    /// member on this node.
    pub fn send(&self, key: &GroupKey, msg: &Outgoing) -> Sent {
        let mut sent = Sent::default();
        if let Some(members) = self.map.get(key) {
            for conn in members.values() {
                match conn.post(msg) {
                    Ok(()) => sent.queued += 1,
                    Err(_) => sent.dropped += 1,
                }
            }
        }
        sent
    }

    /// Removes one member; true if the group became empty (and was dropped).
    fn remove(&self, key: &GroupKey, id: &Id) -> bool {
        let emptied = match self.map.get_mut(key) {
            Some(mut members) => members.remove(id).is_some() && members.is_empty(),
            None => false,
        };
        // Drop an empty group, unless a join refilled it in between.
        emptied && self.map.remove_if(key, |_, m| m.is_empty()).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conn::ConnInfo;

    fn conn() -> Arc<Connection> {
        let info = ConnInfo {
            stage: Arc::from("dev"),
            connected_at_ms: 1,
            source_ip: "127.0.0.1".into(),
            user_agent: None,
            domain_name: "h".into(),
            auth: Default::default(),
            canary: false,
            trace: crate::trace::TraceRef::default(),
        };
        Arc::new(Connection::new(Id::random(), info, 4, 1 << 20))
    }

    #[test]
    fn names_are_validated() {
        assert!(GroupKey::new("dev", "room-1_a.b:c").is_some());
        for bad in ["", "a/b", "a b", "é", &"x".repeat(129)] {
            assert!(GroupKey::new("dev", bad).is_none(), "{bad:?}");
        }
        let k = GroupKey::new("dev", "room").unwrap();
        assert_eq!((k.stage(), k.group()), ("dev", "room"));
    }

    #[test]
    fn first_join_and_last_leave_are_reported() {
        let (g, a, b) = (Groups::default(), conn(), conn());
        let room = GroupKey::new("dev", "room").unwrap();
        assert_eq!(g.join(&a, &room, 10), Ok(true));
        assert_eq!(g.join(&a, &room, 10), Ok(false), "already a member");
        assert_eq!(g.join(&b, &room, 10), Ok(false));
        assert_eq!(g.local_members(&room), 2);
        assert_eq!(g.leave(&a, &room), Ok(false));
        assert_eq!(g.leave(&a, &room), Ok(false), "not a member any more");
        assert_eq!(g.leave(&b, &room), Ok(true), "last one out");
        assert!(!g.has_members(&room));
    }

    #[test]
    fn per_connection_limit_and_closed_connections() {
        let (g, a) = (Groups::default(), conn());
        let keys: Vec<GroupKey> = (0..3)
            .map(|i| GroupKey::new("dev", &format!("g{i}")).unwrap())
            .collect();
        assert_eq!(g.join(&a, &keys[0], 2), Ok(true));
        assert_eq!(g.join(&a, &keys[1], 2), Ok(true));
        assert_eq!(g.join(&a, &keys[2], 2), Err(JoinError::TooMany));
        let left = a.mark_closed();
        assert_eq!(g.leave_all(&a.id, &left).len(), 2);
        assert_eq!(g.join(&a, &keys[2], 2), Err(JoinError::Gone));
        assert!(!g.has_members(&keys[0]) && !g.has_members(&keys[2]));
    }

    #[test]
    fn send_shares_one_frame_and_counts_full_queues() {
        let (g, a, b) = (Groups::default(), conn(), conn());
        let room = GroupKey::new("dev", "room").unwrap();
        g.join(&a, &room, 10).unwrap();
        g.join(&b, &room, 10).unwrap();
        for _ in 0..4 {
            b.post(&crate::ws::Frame::text("filler").into()).unwrap();
        }
        let sent = g.send(&room, &crate::ws::Frame::text("hello").into());
        assert_eq!(
            sent,
            Sent {
                queued: 1,
                dropped: 1
            }
        );
    }
}
