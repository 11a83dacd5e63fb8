//! `soak`: a long run under mixed traffic that checks nothing grows and nothing
//! is lost outside the delivery contract.
//!
//! N connections are held; every minute a share of them (`churn_percent`) is
//! closed and replaced. Echo messages, @connections POSTs and group sends go
//! out at fixed rates. Every `sample_secs` the gateway's RSS and open file
//! descriptors (from /proc) and its runtime tasks, send backlog and open
//! connections (from /metrics) are sampled; at the end each series gets a
//! least-squares line over the run after the warm-up, and passes when the
//! drift that line predicts over the run is within the noise (see `analysis`).
//!
//! Losses are counted per connection lifetime ("generation", see `slot`):
//! what was in flight to a connection the load client closed is lost with it,
//! as the contract allows; on a connection still open at the end, every echo
//! must have been answered and every POST answered 200 delivered. Group
//! members (every `group_every`-th connection) are never churned, so every
//! group message queued to them must arrive.

mod analysis;
mod pacers;
mod plot;
mod slot;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::progress::Progress;
use crate::{Outcome, client};
use slot::{Shared, Slot};

#[derive(clap::Args, Clone)]
pub(crate) struct Args {
    /// ws://host:port/stage
    #[arg(long, default_value = "ws://127.0.0.1:8080/dev")]
    url: String,
    /// Base of the management API for the stage.
    #[arg(long, default_value = "http://127.0.0.1:8081/dev")]
    management: String,
    /// The gateway's Prometheus endpoint.
    #[arg(long, default_value = "http://127.0.0.1:9090/metrics")]
    metrics: String,
    /// Gateway process id (RSS and file descriptors from /proc).
    #[arg(long)]
    pid: u32,
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// Share of the connections closed and replaced per minute.
    #[arg(long, default_value_t = 5.0)]
    churn_percent: f64,
    /// Echo messages per second (over all connections).
    #[arg(long, default_value_t = 2000)]
    echo_rate: u64,
    /// @connections POSTs per second.
    #[arg(long, default_value_t = 1000)]
    post_rate: u64,
    /// Group sends per second.
    #[arg(long, default_value_t = 10)]
    group_rate: u64,
    /// Every this-many-th connection is a group member (and is never churned).
    #[arg(long, default_value_t = 10)]
    group_every: usize,
    #[arg(long, default_value_t = 1800)]
    duration_secs: u64,
    #[arg(long, default_value_t = 10)]
    sample_secs: u64,
    /// Samples before this are left out of the fitted lines.
    #[arg(long, default_value_t = 120)]
    warmup_secs: u64,
    #[arg(long, default_value = "127.0.0.2-127.0.0.9")]
    sources: String,
    /// Where soak.json and soak.svg are written.
    #[arg(long, default_value = "load/results/soak")]
    out: PathBuf,
}

pub(crate) async fn run(a: Args) -> Result<Outcome, String> {
    let sources = crate::parse_sources(&a.sources)?;
    let target = client::target(&a.url)?;
    let shared = Arc::new(Shared::new(&a, target, sources));
    let opening = Progress::start("soak: connecting", a.connections as u64, "connections");
    let slots: Vec<Arc<Slot>> = (0..a.connections)
        .map(|i| Slot::start(i, i % a.group_every.max(1) == 0, Arc::clone(&shared)))
        .collect();
    // Wait until (almost) all are connected: the traffic starts on a full house.
    let deadline = Instant::now() + Duration::from_secs(300);
    while shared.open() < a.connections && Instant::now() < deadline {
        opening.add(0);
        tokio::time::sleep(Duration::from_millis(200)).await;
        opening
            .counter()
            .store(shared.open() as u64, std::sync::atomic::Ordering::Relaxed);
    }
    drop(opening);
    let started = Instant::now();
    let progress = Progress::timed("soak", a.duration_secs);
    let end = started + Duration::from_secs(a.duration_secs);
    let traffic = pacers::start(&a, &slots, &shared, end);
    let samples = analysis::sample_until(&a, &shared, started, end, &progress).await;
    for t in traffic {
        let _ = t.await;
    }
    drop(progress);
    // Let what is in flight arrive, then stop every connection and count.
    tokio::time::sleep(Duration::from_secs(3)).await;
    slot::stop_all(&slots).await;
    let losses = slot::count(&shared);
    let verdicts = analysis::judge(&samples, a.warmup_secs);
    std::fs::create_dir_all(&a.out).map_err(|e| format!("{}: {e}", a.out.display()))?;
    let svg = plot::svg(&samples, &verdicts, a.warmup_secs);
    std::fs::write(a.out.join("soak.svg"), svg).map_err(|e| e.to_string())?;
    let passed = verdicts.iter().all(|v| v.flat) && losses.outside_contract() == 0;
    let json = json!({
        "scenario": "soak",
        "connections": a.connections,
        "seconds": a.duration_secs,
        "churn_percent_per_minute": a.churn_percent,
        "rates": { "echo": a.echo_rate, "post": a.post_rate, "group": a.group_rate },
        "group_members": a.connections.div_ceil(a.group_every.max(1)),
        "traffic": shared.counts(),
        "losses": losses.json(),
        "series": verdicts.iter().map(analysis::Verdict::json).collect::<Vec<_>>(),
        "echo_latency": crate::stats::summary(&shared.echo_latency()),
        "passed": passed,
    });
    let full = json!({ "summary": json, "samples": samples.iter().map(analysis::Sample::json).collect::<Vec<_>>() });
    std::fs::write(a.out.join("soak.json"), format!("{full:#}\n")).map_err(|e| e.to_string())?;
    Ok(Outcome::with_latency(json, shared.echo_latency()))
}
