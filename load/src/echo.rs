//! `echo`: C connections × K messages in flight through a two-way route.
//!
//! Each connection sends K messages, then one more for every reply, so K stay
//! in flight. Replies come back in order (the route answers each message), so a
//! queue of send times gives each round trip's latency.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::progress::Progress;
use crate::{Outcome, client, stats};

#[derive(clap::Args, Clone)]
pub(crate) struct Args {
    /// ws://host:port/stage
    #[arg(long, default_value = "ws://127.0.0.1:8080/dev")]
    url: String,
    #[arg(long, default_value_t = 100)]
    connections: usize,
    /// Messages in flight per connection.
    #[arg(long, default_value_t = 1)]
    in_flight: usize,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    #[arg(long, default_value_t = 2)]
    warmup_secs: u64,
    /// The message sent; its route must be two-way.
    #[arg(long, default_value = r#"{"action":"echo","text":"hello, sockgate"}"#)]
    message: String,
    #[arg(long, default_value = "127.0.0.2-127.0.0.3")]
    sources: String,
    /// A dashboard's event stream (`http://host:port/@dashboard/events`) to
    /// hold open and read for the whole run, as an open dashboard does.
    #[arg(long)]
    dashboard: Option<String>,
}

pub(crate) async fn run(a: Args) -> Result<Outcome, String> {
    let sources = crate::parse_sources(&a.sources)?;
    let target = client::target(&a.url)?;
    let mut conns = Vec::new();
    for i in 0..a.connections {
        conns.push(client::connect(&a.url, target, sources[i % sources.len()]).await?);
    }
    let viewer = match &a.dashboard {
        Some(url) => Some(crate::dashboard::watch(url).await?),
        None => None,
    };
    let progress = Progress::timed("echo", a.warmup_secs + a.duration_secs);
    let start = Instant::now() + Duration::from_secs(a.warmup_secs);
    let end = start + Duration::from_secs(a.duration_secs);
    let msg: Arc<str> = a.message.as_str().into();
    let mut tasks = Vec::new();
    for mut ws in conns {
        let (msg, k, done) = (Arc::clone(&msg), a.in_flight.max(1), progress.counter());
        tasks.push(tokio::spawn(async move {
            let mut h = stats::histogram();
            let mut errors = 0u64;
            let mut sent: VecDeque<Instant> = VecDeque::with_capacity(k);
            for _ in 0..k {
                sent.push_back(Instant::now());
                if ws.send(Message::text(&*msg)).await.is_err() {
                    return (h, 1);
                }
            }
            while let Some(t) = sent.pop_front() {
                match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
                    Ok(Some(Ok(Message::Text(_)))) => {
                        if t >= start {
                            stats::record(&mut h, t.elapsed());
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    _ => {
                        errors += 1;
                        break;
                    }
                }
                let now = Instant::now();
                if now < end {
                    sent.push_back(now);
                    if ws.send(Message::text(&*msg)).await.is_err() {
                        errors += 1;
                        break;
                    }
                }
            }
            let _ = ws.close(None).await;
            (h, errors)
        }));
    }
    let mut all = stats::histogram();
    let mut errors = 0;
    for t in tasks {
        let (h, e) = t.await.map_err(|e| e.to_string())?;
        stats::merge(&mut all, &h);
        errors += e;
    }
    drop(progress);
    let dashboard_bytes = match viewer {
        Some(v) => Some(v.finish().await?),
        None => None,
    };
    let json = json!({
        "scenario": "echo",
        "dashboard_bytes": dashboard_bytes,
        "connections": a.connections,
        "in_flight": a.in_flight,
        "seconds": a.duration_secs,
        "message_bytes": a.message.len(),
        "round_trips_per_second": all.len() as f64 / a.duration_secs as f64,
        "errors": errors,
        "latency": stats::summary(&all),
    });
    Ok(Outcome::with_latency(json, all))
}
