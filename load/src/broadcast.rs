//! `broadcast`: N receivers; a publisher POSTs at a set rate to an endpoint that
//! fans each message out to all of them (sockgate's stage broadcast or a group,
//! or the bare server's broadcast). Each message carries its send time, so every
//! delivery's publish-to-client latency is recorded.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
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
    /// ws://host:port/stage; several, comma-separated, spread the receivers
    /// round-robin over the nodes of a cluster.
    #[arg(long, default_value = "ws://127.0.0.1:8080/dev")]
    url: String,
    /// Base of the management API for the stage.
    #[arg(long, default_value = "http://127.0.0.1:8081/dev")]
    management: String,
    /// Receiving connections.
    #[arg(long, default_value_t = 10_000)]
    receivers: usize,
    /// Publishes per second.
    #[arg(long, default_value_t = 10)]
    rate: u64,
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Message size in bytes (at least the timestamp's).
    #[arg(long, default_value_t = 64)]
    payload_bytes: usize,
    /// Publish to this group (receivers join it first) instead of the whole stage.
    #[arg(long)]
    group: Option<String>,
    #[arg(long, default_value = "127.0.0.2-127.0.0.9")]
    sources: String,
    /// Handshakes in flight while connecting the receivers.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// Receivers offer permessage-deflate (as browsers do) and read
    /// compressed messages.
    #[arg(long)]
    deflate: bool,
}

/// One receiving connection.
enum Receiver {
    Plain(client::Ws),
    Deflate(crate::deflate::Receiver),
}

impl Receiver {
    /// The start of the next text message, `None` once nothing comes for 3 s.
    async fn next(&mut self) -> Option<String> {
        let wait = Duration::from_secs(3);
        match self {
            Receiver::Plain(ws) => loop {
                match tokio::time::timeout(wait, ws.next()).await {
                    Ok(Some(Ok(Message::Text(t)))) => return Some(t.as_str().to_owned()),
                    Ok(Some(Ok(_))) => {}
                    _ => return None,
                }
            },
            Receiver::Deflate(r) => tokio::time::timeout(wait, r.next_prefix()).await.ok()?,
        }
    }
}

pub(crate) async fn run(a: Args) -> Result<Outcome, String> {
    if a.deflate && a.group.is_some() {
        return Err("--deflate receivers take stage broadcasts only, not --group".into());
    }
    let sources = crate::parse_sources(&a.sources)?;
    let urls: Vec<String> = a.url.split(',').map(|u| u.trim().to_owned()).collect();
    let targets = urls
        .iter()
        .map(|u| client::target(u))
        .collect::<Result<Vec<_>, _>>()?;
    let http = client::http();
    let base = Instant::now();

    // Connect (and, for a group, join) every receiver.
    let joining = Progress::start("broadcast: connecting", a.receivers as u64, "receivers");
    let connected = futures_util::stream::iter(0..a.receivers)
        .map(|i| {
            let (mgmt, group, http) = (a.management.clone(), a.group.clone(), http.clone());
            let (url, target) = (urls[i % urls.len()].clone(), targets[i % targets.len()]);
            let source = sources[i % sources.len()];
            let deflate = a.deflate;
            async move {
                if deflate {
                    // Stage broadcasts only: a group join needs the whoami route.
                    let r = crate::deflate::Receiver::connect(&url, target, source).await?;
                    return Ok(Receiver::Deflate(r));
                }
                let mut ws = client::connect(&url, target, source).await?;
                if let Some(group) = group {
                    let id = client::whoami(&mut ws).await?;
                    let uri = format!("{mgmt}/@groups/{group}/{}", client::path_id(&id));
                    let req = hyper::Request::put(uri)
                        .body(Full::new(Bytes::new()))
                        .map_err(|e| e.to_string())?;
                    let status = http.request(req).await.map_err(|e| e.to_string())?.status();
                    if !status.is_success() {
                        return Err(format!("joining the group answered {status}"));
                    }
                }
                Ok::<_, String>(Receiver::Plain(ws))
            }
        })
        .buffer_unordered(a.concurrency);
    tokio::pin!(connected);
    let mut receivers = Vec::with_capacity(a.receivers);
    while let Some(ws) = connected.next().await {
        receivers.push(ws?);
        joining.add(1);
    }
    drop(joining);

    let total_posts = a.rate * a.duration_secs;
    let expected = total_posts * a.receivers as u64;
    let progress = Progress::start("broadcast", expected, "deliveries");
    let mut tasks = Vec::with_capacity(receivers.len());
    for mut ws in receivers {
        let done = progress.counter();
        tasks.push(tokio::spawn(async move {
            let mut h = stats::histogram();
            let mut last = None;
            while let Some(t) = ws.next().await {
                if let Some(Ok(sent_ns)) = t.split(' ').next().map(str::parse::<u64>) {
                    let now_ns = base.elapsed().as_nanos() as u64;
                    stats::record(&mut h, Duration::from_nanos(now_ns.saturating_sub(sent_ns)));
                    last = Some(Instant::now());
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
            (h, last)
        }));
    }

    let publish = match &a.group {
        Some(g) => format!("{}/@groups/{g}", a.management),
        None => format!("{}/@broadcast", a.management),
    };
    let statuses: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let started = Instant::now();
    let mut posts = Vec::with_capacity(total_posts as usize);
    for n in 0..total_posts {
        let due = started + Duration::from_nanos(n * 1_000_000_000 / a.rate);
        tokio::time::sleep_until(due.into()).await;
        let (http, statuses, uri) = (http.clone(), Arc::clone(&statuses), publish.clone());
        let pad = a.payload_bytes;
        posts.push(tokio::spawn(async move {
            let mut body = base.elapsed().as_nanos().to_string();
            body.push(' ');
            // Padded like a feed of JSON quotes, so compression sees
            // realistic text.
            let mut i = 0u32;
            while body.len() < pad {
                body.push_str(&format!(r#"{{"s":"Q{}","bid":{}.25}},"#, i % 17, i % 113));
                i += 1;
            }
            body.truncate(pad.max(body.find(' ').unwrap_or(0) + 1));
            let req = hyper::Request::post(uri)
                .body(Full::new(Bytes::from(body)))
                .expect("valid request");
            let key = match http.request(req).await {
                Ok(resp) => resp.status().as_u16().to_string(),
                Err(_) => "connection_error".to_owned(),
            };
            *statuses.lock().unwrap().entry(key).or_default() += 1;
        }));
    }
    for p in posts {
        let _ = p.await;
    }
    let mut all = stats::histogram();
    let mut last_delivery = started;
    for t in tasks {
        let (h, last) = t.await.map_err(|e| e.to_string())?;
        stats::merge(&mut all, &h);
        if let Some(l) = last {
            last_delivery = last_delivery.max(l);
        }
    }
    drop(progress);
    let secs = (last_delivery - started).as_secs_f64().max(1e-9);
    let json = json!({
        "scenario": "broadcast",
        "receivers": a.receivers,
        "publishes": total_posts,
        "publish_rate": a.rate,
        "payload_bytes": a.payload_bytes,
        "deflate": a.deflate,
        "target": if a.group.is_some() { "group" } else { "stage" },
        "nodes": urls.len(),
        "statuses": *statuses.lock().unwrap(),
        "expected_deliveries": expected,
        "deliveries": all.len(),
        "lost": expected.saturating_sub(all.len()),
        "deliveries_per_second": all.len() as f64 / secs,
        "latency": stats::summary(&all),
    });
    Ok(Outcome::with_latency(json, all))
}
