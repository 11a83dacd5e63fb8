//! `reload`: echo traffic while the gateway reloads its config several times a
//! second, alternating between two route tables.
//!
//! The same connections run two phases of equal length: without reloads, then
//! with them. Each reply says which route table answered it (the two configs'
//! echo routes reply `A:…` and `B:…`), so the result shows that both tables
//! served, that nothing failed and no connection dropped, and what reloading
//! costs the echo throughput and p99 against the phase without.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use http_body_util::Full;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::progress::Progress;
use crate::{Outcome, client, stats};

#[derive(clap::Args, Clone)]
pub(crate) struct Args {
    /// ws://host:port/stage
    #[arg(long, default_value = "ws://127.0.0.1:8080/dev")]
    url: String,
    /// The management listener's base (POST /@reload goes there).
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    management: String,
    /// The config file the gateway runs; the scenario overwrites it.
    #[arg(long)]
    config: PathBuf,
    /// The two route tables to alternate between (copied over `--config`).
    #[arg(long)]
    table_a: PathBuf,
    #[arg(long)]
    table_b: PathBuf,
    #[arg(long, default_value_t = 100)]
    connections: usize,
    /// Reloads per second in the second phase.
    #[arg(long, default_value_t = 2.0)]
    rate: f64,
    /// Seconds of each phase.
    #[arg(long, default_value_t = 20)]
    duration_secs: u64,
    #[arg(long, default_value = "127.0.0.2-127.0.0.3")]
    sources: String,
}

/// What one phase measured.
#[derive(Default)]
struct Phase {
    latency: Option<Histogram<u64>>,
    from_a: u64,
    from_b: u64,
    errors: u64,
    dropped: u64,
}

pub(crate) async fn run(a: Args) -> Result<Outcome, String> {
    let sources = crate::parse_sources(&a.sources)?;
    let target = client::target(&a.url)?;
    std::fs::copy(&a.table_a, &a.config).map_err(|e| format!("{}: {e}", a.config.display()))?;
    reload(&a).await?;
    let mut conns = Vec::new();
    for i in 0..a.connections {
        conns.push(client::connect(&a.url, target, sources[i % sources.len()]).await?);
    }
    let secs = Duration::from_secs(a.duration_secs);
    let progress = Progress::timed("reload", 2 * a.duration_secs);
    let (quiet, conns) = phase(conns, secs, progress.counter()).await;
    let reloads = Arc::new(AtomicU64::new(0));
    let reloader = tokio::spawn(reload_loop(
        a.clone(),
        Instant::now() + secs,
        Arc::clone(&reloads),
    ));
    let (busy, _) = phase(conns, secs, progress.counter()).await;
    let failed_reloads = reloader.await.map_err(|e| e.to_string())??;
    drop(progress);
    let (q, b) = (
        quiet.latency.clone().unwrap_or_else(stats::histogram),
        busy.latency.clone().unwrap_or_else(stats::histogram),
    );
    let rate = |h: &Histogram<u64>| h.len() as f64 / a.duration_secs as f64;
    let p99 = |h: &Histogram<u64>| h.value_at_quantile(0.99) as f64;
    let json = json!({
        "scenario": "reload",
        "connections": a.connections,
        "seconds_per_phase": a.duration_secs,
        "reloads": reloads.load(Ordering::Relaxed),
        "reloads_failed": failed_reloads,
        "without_reloads": phase_json(&quiet, a.duration_secs),
        "with_reloads": phase_json(&busy, a.duration_secs),
        "throughput_ratio": rate(&b) / rate(&q).max(1.0),
        "p99_ratio": p99(&b) / p99(&q).max(1.0),
    });
    Ok(Outcome::with_latency(json, b))
}

fn phase_json(p: &Phase, secs: u64) -> serde_json::Value {
    let h = p.latency.clone().unwrap_or_else(stats::histogram);
    json!({
        "round_trips_per_second": h.len() as f64 / secs as f64,
        "replies_from_table_a": p.from_a,
        "replies_from_table_b": p.from_b,
        "errors": p.errors,
        "connections_dropped": p.dropped,
        "latency": stats::summary(&h),
    })
}

/// Echo on every connection for `secs`, one message in flight each.
async fn phase(
    conns: Vec<client::Ws>,
    secs: Duration,
    done: Arc<AtomicU64>,
) -> (Phase, Vec<client::Ws>) {
    let end = Instant::now() + secs;
    let tasks: Vec<_> = conns
        .into_iter()
        .map(|ws| tokio::spawn(echo(ws, end, Arc::clone(&done))))
        .collect();
    let mut total = Phase {
        latency: Some(stats::histogram()),
        ..Phase::default()
    };
    let mut kept = Vec::new();
    for t in tasks {
        let Ok((p, ws)) = t.await else {
            total.dropped += 1;
            continue;
        };
        if let (Some(all), Some(h)) = (total.latency.as_mut(), &p.latency) {
            stats::merge(all, h);
        }
        total.from_a += p.from_a;
        total.from_b += p.from_b;
        total.errors += p.errors;
        total.dropped += p.dropped;
        kept.extend(ws);
    }
    (total, kept)
}

/// One connection's loop; returns it if it is still open.
async fn echo(
    mut ws: client::Ws,
    end: Instant,
    done: Arc<AtomicU64>,
) -> (Phase, Option<client::Ws>) {
    let mut p = Phase {
        latency: Some(stats::histogram()),
        ..Phase::default()
    };
    let mut sent: VecDeque<Instant> = VecDeque::new();
    while Instant::now() < end {
        sent.push_back(Instant::now());
        if ws
            .send(Message::text(r#"{"action":"echo","text":"x"}"#))
            .await
            .is_err()
        {
            p.dropped += 1;
            return (p, None);
        }
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                let t0 = sent.pop_front().unwrap_or_else(Instant::now);
                if let Some(h) = p.latency.as_mut() {
                    stats::record(h, t0.elapsed());
                }
                done.fetch_add(1, Ordering::Relaxed);
                match t.as_bytes().first() {
                    Some(b'A') => p.from_a += 1,
                    Some(b'B') => p.from_b += 1,
                    _ => p.errors += 1,
                }
            }
            Ok(Some(Ok(_))) => p.errors += 1,
            _ => {
                p.dropped += 1;
                return (p, None);
            }
        }
    }
    (p, Some(ws))
}

/// Alternates the config between the two tables at `rate` per second until
/// `end`; returns how many reloads the gateway refused.
async fn reload_loop(a: Args, end: Instant, count: Arc<AtomicU64>) -> Result<u64, String> {
    let mut failed = 0;
    let mut n = 0u64;
    let every = Duration::from_secs_f64(1.0 / a.rate.max(0.01));
    let started = Instant::now();
    loop {
        let due = started + every * (n as u32);
        if due >= end {
            return Ok(failed);
        }
        tokio::time::sleep_until(due.into()).await;
        let table = if n.is_multiple_of(2) {
            &a.table_b
        } else {
            &a.table_a
        };
        std::fs::copy(table, &a.config).map_err(|e| e.to_string())?;
        if reload(&a).await.is_err() {
            failed += 1;
        }
        count.fetch_add(1, Ordering::Relaxed);
        n += 1;
    }
}

/// Asks the gateway to reload (POST /@reload).
async fn reload(a: &Args) -> Result<(), String> {
    let req = hyper::Request::post(format!("{}/@reload", a.management))
        .body(Full::new(Bytes::new()))
        .expect("valid request");
    match client::http().request(req).await {
        Ok(r) if r.status() == 200 => Ok(()),
        Ok(r) => Err(format!("reload answered {}", r.status())),
        Err(e) => Err(e.to_string()),
    }
}
