//! The sampler: every `telemetry::SAMPLE_EVERY` it reads this node's
//! `/metrics` text once (never walking connections: the scrape-time gauges
//! that do are left out), computes the figures (`figures`), exchanges
//! connection counts with the other nodes when there is a cluster
//! (`cluster::stats`), and pushes one JSON sample to the gateway's feed,
//! which every open dashboard streams. It runs whether or not a dashboard is
//! open, so the first look already has 15 minutes to show; with
//! `management.dashboard = false` it reads nothing.
//!
//! Holds only a weak reference, so it ends with the gateway.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

use serde::Serialize;

use super::expo;
use super::figures::{self, Figures, Reading};
use crate::clock;
use crate::cluster::ClusterView;
use crate::gateway::Gateway;
use crate::telemetry::SAMPLE_EVERY;

/// One sample as the page reads it.
#[derive(Serialize)]
struct Sample<'a> {
    /// Epoch ms.
    t: u64,
    /// Its tag (what its connection ids start with), after `node_id` if set.
    node: String,
    stages: Vec<&'a str>,
    config: ConfigView,
    /// Hosted functions' workers, by name.
    workers: BTreeMap<&'a str, usize>,
    cluster: Option<ClusterView>,
    #[serde(flatten)]
    figures: Figures,
}

#[derive(Serialize)]
struct ConfigView {
    generation: u64,
    digest: String,
    last_reload: Option<LastReload>,
}

#[derive(Serialize)]
struct LastReload {
    at: String,
    outcome: &'static str,
    errors: Vec<String>,
    needs_restart: Vec<String>,
}

/// See the module doc.
pub async fn run(gw: Weak<Gateway>) {
    let mut tick = tokio::time::interval(SAMPLE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut prev: Option<Reading> = None;
    loop {
        tick.tick().await;
        let Some(gw) = gw.upgrade() else { return };
        if !gw.snapshot().management.dashboard {
            prev = None;
            continue;
        }
        let reading = Reading::new(clock::now_ms(), expo::parse(&gw.metrics().render_current()));
        let figures = figures::compute(prev.as_ref(), &reading);
        let cluster = match gw.delivery().cluster() {
            Some(c) => Some(c.exchange_stats(&figures.connections).await),
            None => None,
        };
        let json = sample(&gw, reading.at_ms, cluster, figures);
        gw.feed().push(Arc::from(json));
        prev = Some(reading);
    }
}

fn sample(gw: &Gateway, t: u64, cluster: Option<ClusterView>, figures: Figures) -> String {
    let snap = gw.snapshot_arc();
    let tag = gw.delivery().node();
    let node = match &snap.config.server.node_id {
        Some(id) => format!("{id} ({tag})"),
        None => tag.to_string(),
    };
    let last_reload = gw.last_reload().map(|(at, r)| LastReload {
        at: clock::iso8601(at),
        outcome: r.outcome,
        errors: r.errors,
        needs_restart: r.needs_restart,
    });
    let sample = Sample {
        t,
        node,
        stages: snap.config.stages.iter().map(|s| s.name.as_str()).collect(),
        config: ConfigView {
            generation: snap.generation,
            digest: snap.digest.clone(),
            last_reload,
        },
        workers: snap
            .config
            .functions
            .iter()
            .map(|f| (f.name.as_str(), f.concurrency))
            .collect(),
        cluster,
        figures,
    };
    serde_json::to_string(&sample).unwrap_or_default()
}
