//! Every node's figures, for the dashboard of any node: each node's sampler
//! writes its open connections by stage to its `stats` key (expiring after
//! two node TTLs, so a stopped node's figures go with it) and reads every
//! node's back, with each node's last heartbeat from `sockgate:{nodes}`.
//!
//! Cost: per sample (every 2 s) one `SET`, one `ZREVRANGE` and a `GET` per
//! node (at most [`MAX_NODES`], concurrently), each bounded by
//! `request_timeout`. The write's round trip is the Redis latency shown.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Cluster, names};
use crate::clock;
use crate::conn::NodeTag;

/// Nodes shown, the most recently heard first: enough for any one dashboard
/// to draw, and a bound on the reads per sample.
const MAX_NODES: isize = 64;

/// What the dashboard shows of the cluster.
#[derive(Debug, Serialize)]
pub struct ClusterView {
    /// The fan-out path works (the self-probe, as `sockgate_cluster_up`).
    pub redis_up: bool,
    /// This sample's write to Redis, in ms; `None` when it failed.
    pub redis_rtt_ms: Option<f64>,
    /// Nodes by last heartbeat, newest first.
    pub nodes: Vec<NodeView>,
}

/// One node.
#[derive(Debug, Serialize)]
pub struct NodeView {
    /// Its tag.
    pub node: String,
    /// This node.
    pub this: bool,
    /// Heard from within `node_ttl`.
    pub alive: bool,
    /// Milliseconds since its last heartbeat.
    pub beat_age_ms: u64,
    /// Its open connections by stage (empty when its figures expired).
    pub connections: BTreeMap<String, f64>,
}

#[derive(Serialize, Deserialize)]
struct Stats {
    connections: BTreeMap<String, f64>,
}

impl Cluster {
    /// Writes this node's figures and reads every node's.
    pub async fn exchange_stats(&self, connections: &BTreeMap<String, f64>) -> ClusterView {
        let timeout = self.cfg.request_timeout;
        let body = serde_json::to_string(&Stats {
            connections: connections.clone(),
        })
        .unwrap_or_default();
        let ttl_ms = 2 * self.cfg.node_ttl.as_millis() as u64;
        let mut redis = self.redis.clone();
        let set = redis::cmd("SET")
            .arg(names::stats(self.node))
            .arg(body)
            .arg("PX")
            .arg(ttl_ms)
            .clone();
        let started = clock::mono_ns();
        let wrote = tokio::time::timeout(timeout, set.query_async::<()>(&mut redis)).await;
        let redis_rtt_ms = matches!(wrote, Ok(Ok(())))
            .then(|| clock::mono_ns().saturating_sub(started) as f64 / 1e6);
        let range = redis::cmd("ZREVRANGE")
            .arg(names::NODES)
            .arg(0)
            .arg(MAX_NODES - 1)
            .arg("WITHSCORES")
            .clone();
        let beats =
            tokio::time::timeout(timeout, range.query_async::<Vec<(String, f64)>>(&mut redis))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or_default();
        let now = clock::now_ms();
        let ttl = self.cfg.node_ttl.as_millis() as u64;
        let reads = beats.iter().map(|(tag, _)| self.read_stats(tag));
        let stats = futures_util::future::join_all(reads).await;
        let nodes = beats
            .iter()
            .zip(stats)
            .map(|((tag, beat), connections)| {
                let beat_age_ms = now.saturating_sub(*beat as u64);
                NodeView {
                    node: tag.clone(),
                    this: tag == self.node.as_str(),
                    alive: beat_age_ms <= ttl,
                    beat_age_ms,
                    connections,
                }
            })
            .collect();
        ClusterView {
            redis_up: self.is_up(),
            redis_rtt_ms,
            nodes,
        }
    }

    async fn read_stats(&self, tag: &str) -> BTreeMap<String, f64> {
        // Only a well-formed tag names a key (the set is written by nodes,
        // but Redis is shared: nothing read from it is trusted further).
        let Some(node) = NodeTag::parse(tag) else {
            return BTreeMap::new();
        };
        let mut redis = self.redis.clone();
        let get = redis::cmd("GET").arg(names::stats(node)).clone();
        let read = tokio::time::timeout(
            self.cfg.request_timeout,
            get.query_async::<Option<String>>(&mut redis),
        )
        .await;
        read.ok()
            .and_then(Result::ok)
            .flatten()
            .and_then(|s| serde_json::from_str::<Stats>(&s).ok())
            .map(|s| s.connections)
            .unwrap_or_default()
    }
}
