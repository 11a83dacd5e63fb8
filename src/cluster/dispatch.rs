//! Handles what Redis pushes to this node, in order, without awaiting.
//!
//! - requests on our node channel: do the operation on the local connection and
//!   publish the answer (from a spawned task, so a slow `PUBLISH` never holds up
//!   the next message);
//! - replies: complete the waiting request;
//! - probes: record that the fan-out path works;
//! - group and stage messages: queue the frame, encoded once, to our members.
//!
//! Requests and fan-out messages are each acted on once (`seen`).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};

use bytes::Bytes;
use redis::{PushInfo, PushKind, Value};
use tokio::sync::mpsc;

use super::names::{self, Channel};
use super::seen::{self, Seen, Verdict};
use super::wire::{Fanout, Message, Op, Reply, Request, Status};
use super::{Cluster, Kind, Node, Record, subscriptions};
use crate::clock;
use crate::conn::{DeliveryError, GroupKey, Id};

pub(super) async fn run(cluster: Weak<Cluster>, mut pushes: mpsc::Receiver<PushInfo>) {
    // Owned by this task, which handles every push in order: no lock.
    let mut seen = Seens {
        requests: Seen::new(seen::REQUESTS),
        fanout: Seen::new(seen::FANOUT),
    };
    while let Some(push) = pushes.recv().await {
        let Some(cluster) = cluster.upgrade() else {
            return;
        };
        if cluster.stopping.load(Ordering::Acquire) {
            return;
        }
        let Some(node) = cluster.local() else { return };
        if push.kind == PushKind::Disconnection {
            // The client reconnects and re-subscribes by itself; until the next
            // probe comes back the node reports itself down.
            tracing::debug!("A Redis connection dropped.");
            cluster.probe_ok_ms.store(0, Ordering::Release);
            cluster.metrics.up.set(0.0);
            if cluster.redis.sharded() {
                cluster.resubscribe.store(true, Ordering::Release);
                cluster.groups_changed.notify_one();
            }
            continue;
        }
        if push.kind == PushKind::SUnsubscribe {
            if let Some(Value::BulkString(channel)) = push.data.first()
                && let Ok(channel) = std::str::from_utf8(channel)
            {
                subscriptions::dropped_by_redis(&cluster, channel);
            }
            continue;
        }
        if !matches!(push.kind, PushKind::Message | PushKind::SMessage) {
            continue;
        }
        let (Some(Value::BulkString(channel)), Some(Value::BulkString(payload))) =
            (push.data.first(), push.data.get(1))
        else {
            continue;
        };
        let Ok(channel) = std::str::from_utf8(channel) else {
            continue;
        };
        match names::parse_channel(channel) {
            Some(Channel::Node) => on_node_message(
                &cluster,
                &node,
                &mut seen.requests,
                Bytes::copy_from_slice(payload),
            ),
            Some(Channel::Group(key)) => {
                cluster.metrics.received[Kind::Group as usize].increment(1);
                let key = key
                    .split_once('/')
                    .and_then(|(stage, group)| GroupKey::new(stage, group));
                if let (Some(key), Some(data)) =
                    (key, from_others(&cluster, &mut seen.fanout, payload))
                {
                    node.group_send(&key, data);
                }
            }
            Some(Channel::Stage(stage)) => {
                cluster.metrics.received[Kind::Stage as usize].increment(1);
                if let Some(data) = from_others(&cluster, &mut seen.fanout, payload) {
                    node.stage_send(stage, data);
                }
            }
            None => {}
        }
    }
}

/// What this node has acted on, by sequence (see `seen`).
struct Seens {
    requests: Seen,
    fanout: Seen,
}

/// The data of a group or stage message sent by another node (our own were
/// delivered locally when we sent them), still in time (see `wire`), and not
/// delivered here before.
fn from_others<'a>(cluster: &Cluster, seen: &mut Seen, payload: &'a [u8]) -> Option<&'a [u8]> {
    let msg = Fanout::decode(payload)?;
    if msg.sender == cluster.node {
        return None;
    }
    if !cluster.in_time(msg.deadline_ms) {
        cluster.metrics.expired.increment(1);
        return None;
    }
    match seen.check(msg.sender, msg.seq) {
        Verdict::First => Some(msg.data),
        Verdict::Copy => {
            cluster.metrics.duplicates.increment(1);
            None
        }
        Verdict::TooOld => {
            cluster.metrics.expired.increment(1);
            None
        }
    }
}

fn on_node_message(cluster: &Arc<Cluster>, node: &Arc<dyn Node>, seen: &mut Seen, payload: Bytes) {
    match Message::decode(payload) {
        Some(Message::Request(req)) => {
            cluster.metrics.received[Kind::Request as usize].increment(1);
            match seen.check(req.reply_to, req.id) {
                Verdict::First => {}
                // A second copy (see `seen`): acted on, and answered, once.
                Verdict::Copy => return cluster.metrics.duplicates.increment(1),
                // Its asker answers 503 at its deadline.
                Verdict::TooOld => return cluster.metrics.expired.increment(1),
            }
            if !cluster.in_time(req.deadline_ms) {
                // Its asker has answered 503 (or is about to): acting now would
                // deliver behind that answer's back. No reply either.
                cluster.metrics.expired.increment(1);
                tracing::debug!(conn.id = %req.conn, "A cross-node request arrived after its deadline; dropped.");
                return;
            }
            let reply_to = req.reply_to;
            let (reply, joined) = serve(&**node, req);
            let cluster = Arc::clone(cluster);
            tokio::spawn(async move {
                // A join is answered once our subscription to the group is in place.
                if let Some(key) = joined {
                    cluster.sync_group(&key).await;
                }
                let msg = Message::Reply(reply).encode();
                let _ = cluster
                    .publish(names::node_channel(reply_to), msg, Kind::Reply)
                    .await;
            });
        }
        Some(Message::Reply(reply)) => {
            cluster.metrics.received[Kind::Reply as usize].increment(1);
            if let Some((_, waiter)) = cluster.pending.remove(&reply.id) {
                let _ = waiter.send(reply);
            }
        }
        Some(Message::Probe(nonce)) => {
            cluster.metrics.received[Kind::Probe as usize].increment(1);
            if nonce == cluster.probe_nonce.load(Ordering::Acquire) {
                cluster
                    .probe_ok_ms
                    .store(clock::now_ms(), Ordering::Release);
                cluster.refresh_up_metric();
            }
        }
        None => tracing::warn!("A malformed message arrived on this node's channel; ignored."),
    }
}

/// A join or leave. Group requests always name their stage, and the asker has
/// validated the group name.
fn membership(
    node: &dyn Node,
    stage: Option<&str>,
    group: &str,
    conn: &Id,
    join: bool,
) -> Result<Option<GroupKey>, DeliveryError> {
    let key = stage
        .and_then(|s| GroupKey::new(s, group))
        .ok_or(DeliveryError::Gone)?;
    if join {
        Ok(node.join(&key, conn)?.then_some(key))
    } else {
        node.leave(&key, conn)?;
        Ok(None)
    }
}

/// Does a request on a connection of this node; also returns a group this node
/// just got its first member of.
fn serve(node: &dyn Node, req: Request) -> (Reply, Option<GroupKey>) {
    let stage = req.stage.as_deref();
    let mut joined = None;
    let result = match req.op {
        Op::Post(data) => node.post(&req.conn, stage, &data).map(|()| Bytes::new()),
        Op::Get => node.view(&req.conn, stage).map(|view| {
            let record = Record {
                last_active: Some(view.last_active_ms),
                detail: Some(super::Detail {
                    groups: view.groups,
                    queued_messages: view.queued_messages,
                    queued_bytes: view.queued_bytes,
                    node: view.node,
                }),
                ..Record::of_info(&view.info)
            };
            Bytes::from(serde_json::to_vec(&record).unwrap_or_default())
        }),
        Op::Delete => node.close(&req.conn, stage).map(|()| Bytes::new()),
        Op::Join(group) => membership(node, stage, &group, &req.conn, true).map(|first| {
            joined = first;
            Bytes::new()
        }),
        Op::Leave(group) => membership(node, stage, &group, &req.conn, false).map(|_| Bytes::new()),
    };
    let (status, body) = match result {
        Ok(body) => (Status::Ok, body),
        Err(DeliveryError::Full) => (Status::Full, Bytes::new()),
        Err(DeliveryError::TooManyGroups) => (Status::TooManyGroups, Bytes::new()),
        Err(DeliveryError::Gone | DeliveryError::Unavailable) => (Status::Gone, Bytes::new()),
    };
    let reply = Reply {
        id: req.id,
        status,
        body,
    };
    (reply, joined)
}
