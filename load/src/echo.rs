//! `echo`: C connections, each sending a message and awaiting its reply in a loop.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::{client, stats};

#[derive(clap::Args)]
pub(crate) struct Args {
    #[arg(long, default_value = "ws://127.0.0.1:8080/dev")]
    url: String,
    #[arg(long, default_value_t = 100)]
    connections: usize,
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
}

pub(crate) async fn run(a: Args) -> Result<String, String> {
    let sources = crate::parse_sources(&a.sources)?;
    let target = client::target(&a.url)?;
    let mut conns = Vec::new();
    for i in 0..a.connections {
        conns.push(client::connect(&a.url, target, sources[i % sources.len()]).await?);
    }
    let start = Instant::now() + Duration::from_secs(a.warmup_secs);
    let end = start + Duration::from_secs(a.duration_secs);
    let mut tasks = Vec::new();
    for mut ws in conns {
        let msg = a.message.clone();
        tasks.push(tokio::spawn(async move {
            let mut h = stats::histogram();
            let mut errors = 0u64;
            loop {
                let t = Instant::now();
                if t >= end {
                    break;
                }
                if ws.send(Message::text(msg.as_str())).await.is_err() {
                    errors += 1;
                    break;
                }
                match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
                    Ok(Some(Ok(Message::Text(_)))) => {
                        if t >= start {
                            let _ = h.record(t.elapsed().as_micros().max(1) as u64);
                        }
                    }
                    _ => {
                        errors += 1;
                        break;
                    }
                }
            }
            (h, errors)
        }));
    }
    let mut all = stats::histogram();
    let mut errors = 0;
    for t in tasks {
        let (h, e) = t.await.map_err(|e| e.to_string())?;
        all.add(&h).map_err(|e| e.to_string())?;
        errors += e;
    }
    Ok(json!({
        "scenario": "echo",
        "connections": a.connections,
        "seconds": a.duration_secs,
        "round_trips_per_second": all.len() as f64 / a.duration_secs as f64,
        "errors": errors,
        "latency": stats::summary(&all),
    })
    .to_string())
}
