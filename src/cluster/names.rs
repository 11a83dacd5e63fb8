//! Redis key and channel names.
//!
//! Every name carries a hash tag (the part in braces), so that under Redis
//! Cluster everything about one node, one group partition or one stage lives on
//! one shard and sharded pub/sub (`SPUBLISH`) can carry it:
//!
//! Channels carry the wire version (`v3`, see `wire`): nodes of different wire
//! versions do not hear each other's messages, so during a rolling upgrade across
//! a version change, calls between old and new nodes answer 503 and group sends
//! reach only nodes of the sender's version — nothing is misread. Keys carry no
//! version: liveness, records and reaping work across versions.
//!
//! | name | what |
//! |---|---|
//! | `sockgate:v3:{n:TAG}` | channel: requests and replies for node TAG, and its self-probe |
//! | `sockgate:{n:TAG}:alive` | key with a TTL: node TAG is alive |
//! | `sockgate:{n:TAG}:conns` | hash: id → the connection's facts, for `$disconnect` if TAG is lost |
//! | `sockgate:{n:TAG}:lost` | key: a survivor declared TAG lost (its connections were reaped) |
//! | `sockgate:{n:TAG}:reaper` | key with a TTL: which survivor is reaping TAG |
//! | `sockgate:{n:TAG}:stats` | key with a TTL: TAG's open connections by stage, for dashboards |
//! | `sockgate:{nodes}` | sorted set: node tags by last heartbeat (epoch ms) |
//! | `sockgate:v3:{g:STAGE/GROUP:P}` | channel: sends to a group, partition P |
//! | `sockgate:v3:{s:STAGE}` | channel: broadcasts to a stage |

use crate::conn::GroupKey;
use crate::conn::NodeTag;

/// The node's request/reply channel.
pub(crate) fn node_channel(node: NodeTag) -> String {
    format!("{CHANNEL_PREFIX}{{n:{node}}}")
}

/// Every channel name starts with this: the wire version.
const CHANNEL_PREFIX: &str = "sockgate:v3:";

/// The node's liveness key.
pub(crate) fn alive(node: NodeTag) -> String {
    format!("sockgate:{{n:{node}}}:alive")
}

/// The node's connection records.
pub(crate) fn conns(node: NodeTag) -> String {
    format!("sockgate:{{n:{node}}}:conns")
}

/// Marks a node whose connections a survivor has reaped.
pub(crate) fn lost(node: NodeTag) -> String {
    format!("sockgate:{{n:{node}}}:lost")
}

/// The connections a survivor reaped from the node (their `$disconnect` was
/// the survivor's), kept as long as the lost mark.
pub(crate) fn reaped(node: NodeTag) -> String {
    format!("sockgate:{{n:{node}}}:reaped")
}

/// The lock a survivor holds while reaping a node.
pub(crate) fn reaper(node: NodeTag) -> String {
    format!("sockgate:{{n:{node}}}:reaper")
}

/// The node's figures for every node's dashboard (`stats`).
pub(crate) fn stats(node: NodeTag) -> String {
    format!("sockgate:{{n:{node}}}:stats")
}

/// Every node's last heartbeat.
pub(crate) const NODES: &str = "sockgate:{nodes}";

/// One partition of a group's channel.
pub(crate) fn group_channel(key: &GroupKey, partition: u32) -> String {
    format!("{CHANNEL_PREFIX}{{g:{}:{partition}}}", key.as_str())
}

/// A stage's broadcast channel.
pub(crate) fn stage_channel(stage: &str) -> String {
    format!("{CHANNEL_PREFIX}{{s:{stage}}}")
}

/// What a channel name carries, for the dispatcher.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Channel<'a> {
    /// A node channel (ours, or we would not be subscribed).
    Node,
    /// A group partition: the group key `stage/group`.
    Group(&'a str),
    /// A stage broadcast.
    Stage(&'a str),
}

/// Parses a channel name this module made.
pub(crate) fn parse_channel(name: &str) -> Option<Channel<'_>> {
    let inner = name
        .strip_prefix(CHANNEL_PREFIX)?
        .strip_prefix('{')?
        .strip_suffix('}')?;
    if inner.starts_with("n:") {
        return Some(Channel::Node);
    }
    if let Some(rest) = inner.strip_prefix("g:") {
        let (key, _partition) = rest.rsplit_once(':')?;
        return Some(Channel::Group(key));
    }
    inner.strip_prefix("s:").map(Channel::Stage)
}

/// The partition a node listens to for every group (stable per node).
pub(crate) fn partition_of(node: NodeTag, partitions: u32) -> u32 {
    let hash = node
        .as_str()
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    hash % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_round_trip() {
        let node = NodeTag::parse("Ab_9").unwrap();
        assert_eq!(node_channel(node), "sockgate:v3:{n:Ab_9}");
        assert_eq!(parse_channel(&node_channel(node)), Some(Channel::Node));
        let key = GroupKey::new("prod", "room:1").unwrap();
        let ch = group_channel(&key, 3);
        assert_eq!(ch, "sockgate:v3:{g:prod/room:1:3}");
        assert_eq!(parse_channel(&ch), Some(Channel::Group("prod/room:1")));
        assert_eq!(
            parse_channel(&stage_channel("prod")),
            Some(Channel::Stage("prod"))
        );
        assert_eq!(parse_channel("other"), None);
        // Version 1's channels are not ours.
        assert_eq!(parse_channel("sockgate:{n:Ab_9}"), None);
        assert!(partition_of(node, 4) < 4);
        assert_eq!(partition_of(node, 1), 0);
    }
}
