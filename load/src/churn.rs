//! `churn`: new connections at a set rate, each closed again at once (or after
//! `--hold-ms`), through whatever `$connect` and `$disconnect` the target runs.
//! Reports admitted connections per second, handshake latency and errors.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio::sync::Semaphore;

use crate::progress::Progress;
use crate::{Outcome, client, stats};

#[derive(clap::Args, Clone)]
pub(crate) struct Args {
    /// ws://host:port/stage
    #[arg(long, default_value = "ws://127.0.0.1:8080/dev")]
    url: String,
    /// New connections per second offered.
    #[arg(long, default_value_t = 5000)]
    rate: u64,
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Handshakes (and closes) in flight at most; the offered rate drops if the
    /// target cannot keep up.
    #[arg(long, default_value_t = 2000)]
    concurrency: usize,
    /// How long each connection stays open before the client closes it.
    #[arg(long, default_value_t = 0)]
    hold_ms: u64,
    #[arg(long, default_value = "127.0.0.2-127.0.0.17")]
    sources: String,
}

pub(crate) async fn run(a: Args) -> Result<Outcome, String> {
    let sources = crate::parse_sources(&a.sources)?;
    let target = client::target(&a.url)?;
    let total = a.rate * a.duration_secs;
    let limit = Arc::new(Semaphore::new(a.concurrency));
    let errors: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let progress = Progress::start("churn", total, "connections");
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for n in 0..total {
        let due = started + Duration::from_nanos(n * 1_000_000_000 / a.rate);
        tokio::time::sleep_until(due.into()).await;
        let permit = Arc::clone(&limit)
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let (url, errors, counter) = (a.url.clone(), Arc::clone(&errors), progress.counter());
        let source = sources[n as usize % sources.len()];
        let hold = Duration::from_millis(a.hold_ms);
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let result = client::connect(&url, target, source).await;
            let took = t.elapsed();
            let admitted_at = Instant::now();
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match result {
                Ok(mut ws) => {
                    tokio::time::sleep(hold).await;
                    // A clean close: our close frame, then the server's answer.
                    let _ = ws
                        .send(tokio_tungstenite::tungstenite::Message::Close(None))
                        .await;
                    let _ = tokio::time::timeout(Duration::from_secs(5), async {
                        while let Some(Ok(_)) = ws.next().await {}
                    })
                    .await;
                    drop(permit);
                    Some((took, admitted_at))
                }
                Err(e) => {
                    drop(permit);
                    *errors.lock().unwrap().entry(kind(&e)).or_default() += 1;
                    None
                }
            }
        }));
    }
    let offered_secs = started.elapsed().as_secs_f64();
    let mut hist = stats::histogram();
    let mut last = started;
    for t in tasks {
        if let Some((took, at)) = t.await.map_err(|e| e.to_string())? {
            stats::record(&mut hist, took);
            last = last.max(at);
        }
    }
    drop(progress);
    let admitted = hist.len();
    let admit_secs = (last - started).as_secs_f64().max(1e-9);
    let json = json!({
        "scenario": "churn",
        "target_rate": a.rate,
        "offered": total,
        "offered_rate": total as f64 / offered_secs,
        "admitted": admitted,
        "admitted_per_second": admitted as f64 / admit_secs,
        "errors": *errors.lock().unwrap(),
        "hold_ms": a.hold_ms,
        "connect_latency": stats::summary(&hist),
    });
    Ok(Outcome::with_latency(json, hist))
}

/// The error without connection-specific details, for counting.
fn kind(e: &str) -> String {
    let e = e.split(" (os error").next().unwrap_or(e);
    e.chars().take(80).collect()
}
