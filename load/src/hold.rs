//! `hold`: N idle connections; RSS per connection of the gateway process.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;

use crate::progress::Progress;
use crate::{Outcome, client, stats};

#[derive(clap::Args, Clone)]
pub(crate) struct Args {
    /// ws://host:port/stage
    #[arg(long, default_value = "ws://127.0.0.1:8080/dev")]
    url: String,
    /// Connections to open.
    #[arg(long, default_value_t = 10_000)]
    connections: usize,
    /// Source addresses ("127.0.0.2-127.0.0.9" or a comma list).
    #[arg(long, default_value = "127.0.0.2-127.0.0.9")]
    sources: String,
    /// Gateway process id, for RSS.
    #[arg(long)]
    pid: u32,
    /// Handshakes in flight at once.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// Seconds to wait after the last connect before reading RSS.
    #[arg(long, default_value_t = 3)]
    settle_secs: u64,
}

pub(crate) async fn run(a: Args) -> Result<Outcome, String> {
    let sources = crate::parse_sources(&a.sources)?;
    let target = client::target(&a.url)?;
    let before = stats::rss_kib(a.pid)?;
    let started = Instant::now();
    let mut hist = stats::histogram();
    let mut held = Vec::with_capacity(a.connections);
    let mut errors = 0usize;
    let progress = Progress::start("hold", a.connections as u64, "connections");
    let attempts = futures_util::stream::iter(0..a.connections)
        .map(|i| {
            let url = a.url.clone();
            let source = sources[i % sources.len()];
            async move {
                let t = Instant::now();
                let r = client::connect(&url, target, source).await;
                (r, t.elapsed())
            }
        })
        .buffer_unordered(a.concurrency);
    tokio::pin!(attempts);
    while let Some((r, took)) = attempts.next().await {
        match r {
            Ok(ws) => {
                stats::record(&mut hist, took);
                held.push(ws);
                progress.add(1);
            }
            Err(e) => {
                if errors < 3 {
                    eprintln!("connect failed: {e}");
                }
                errors += 1;
            }
        }
    }
    let connect_secs = started.elapsed().as_secs_f64();
    drop(progress);
    tokio::time::sleep(Duration::from_secs(a.settle_secs)).await;
    let after = stats::rss_kib(a.pid)?;
    let open = held.len();
    drop(held);
    let per_conn = if open > 0 {
        (after.saturating_sub(before) as f64 * 1024.0) / open as f64
    } else {
        0.0
    };
    let json = json!({
        "scenario": "hold",
        "connections_open": open,
        "connect_errors": errors,
        "connect_seconds": connect_secs,
        "connects_per_second": open as f64 / connect_secs,
        "connect_latency": stats::summary(&hist),
        "gateway_rss_kib_before": before,
        "gateway_rss_kib_after": after,
        "gateway_rss_bytes_per_connection": per_conn.round(),
        "sources": sources.len(),
    });
    Ok(Outcome::with_latency(json, hist))
}
