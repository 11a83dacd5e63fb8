//! `push`: @connections POSTs at a fixed rate, round-robin over N connections; each
//! payload carries its send time, the receiver records POST-to-client latency.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::Full;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::progress::Progress;
use crate::{Outcome, client, stats};

#[derive(clap::Args, Clone)]
pub(crate) struct Args {
    #[arg(long, default_value = "ws://127.0.0.1:8080/dev")]
    url: String,
    /// Base of the management API for the stage.
    #[arg(long, default_value = "http://127.0.0.1:8081/dev")]
    management: String,
    #[arg(long, default_value_t = 100)]
    connections: usize,
    /// POSTs per second.
    #[arg(long, default_value_t = 2000)]
    rate: u64,
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    #[arg(long, default_value = "127.0.0.2-127.0.0.3")]
    sources: String,
}

pub(crate) async fn run(a: Args) -> Result<Outcome, String> {
    let sources = crate::parse_sources(&a.sources)?;
    let target = client::target(&a.url)?;
    let base = Instant::now();
    let mut ids = Vec::new();
    let hist = Arc::new(Mutex::new(stats::histogram()));
    let mut readers = Vec::new();
    for i in 0..a.connections {
        let mut ws = client::connect(&a.url, target, sources[i % sources.len()]).await?;
        let id = client::whoami(&mut ws).await?;
        ids.push(id);
        let hist = Arc::clone(&hist);
        readers.push(tokio::spawn(async move {
            while let Ok(Some(Ok(msg))) =
                tokio::time::timeout(Duration::from_secs(3), ws.next()).await
            {
                if let Message::Text(t) = msg
                    && let Ok(sent_ns) = t.parse::<u64>()
                {
                    let now_ns = base.elapsed().as_nanos() as u64;
                    let took = Duration::from_nanos(now_ns.saturating_sub(sent_ns));
                    stats::record(&mut hist.lock().unwrap(), took);
                }
            }
        }));
    }
    let http = client::http();
    let statuses: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let total = a.rate * a.duration_secs;
    let progress = Progress::start("push", total, "posts");
    let started = Instant::now();
    let mut posts = Vec::with_capacity(total as usize);
    for n in 0..total {
        // Pace: post n is due at n / rate seconds.
        let due = started + Duration::from_nanos(n * 1_000_000_000 / a.rate);
        tokio::time::sleep_until(due.into()).await;
        let url = format!(
            "{}/@connections/{}",
            a.management,
            client::path_id(&ids[n as usize % ids.len()])
        );
        let (http, statuses) = (http.clone(), Arc::clone(&statuses));
        progress.add(1);
        posts.push(tokio::spawn(async move {
            let body = Bytes::from(base.elapsed().as_nanos().to_string());
            let req = hyper::Request::post(url)
                .body(Full::new(body))
                .expect("valid request");
            let key = match http.request(req).await {
                Ok(resp) => resp.status().as_u16().to_string(),
                Err(_) => "connection_error".to_owned(),
            };
            *statuses.lock().unwrap().entry(key).or_default() += 1;
        }));
    }
    let post_secs = started.elapsed().as_secs_f64();
    for p in posts {
        let _ = p.await;
    }
    for r in readers {
        let _ = r.await;
    }
    drop(progress);
    let h = hist.lock().unwrap().clone();
    let json = json!({
        "scenario": "push",
        "connections": a.connections,
        "target_rate": a.rate,
        "achieved_rate": total as f64 / post_secs,
        "posts": total,
        "statuses": *statuses.lock().unwrap(),
        "delivered": h.len(),
        "latency": stats::summary(&h),
    });
    Ok(Outcome::with_latency(json, h))
}
