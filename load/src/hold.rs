//! `hold`: N idle connections; RSS per connection of the gateway process
//! (and its children: nginx's workers). WebSocket connections by default;
//! with `--http PATH`, keep-alive HTTP/1.1 connections that have each made
//! one request for PATH and then wait.

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
    /// Hold keep-alive HTTP/1.1 connections that each requested this path
    /// once, instead of WebSockets (`--url` then gives only the address).
    #[arg(long)]
    http: Option<String>,
    /// WebSockets that agree permessage-deflate (as browsers offer it).
    #[arg(long)]
    deflate: bool,
}

/// One held connection.
enum Held {
    Ws(#[allow(dead_code)] Box<client::Ws>),
    Deflate(#[allow(dead_code)] Box<crate::deflate::Receiver>),
    Http(
        #[allow(dead_code)]
        hyper::client::conn::http1::SendRequest<http_body_util::Empty<bytes::Bytes>>,
        tokio::task::JoinHandle<()>,
    ),
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Held::Http(_, conn) = self {
            conn.abort();
        }
    }
}

/// An HTTP/1.1 connection that has made one request and keeps alive.
async fn http_conn(
    target: std::net::SocketAddr,
    source: std::net::IpAddr,
    path: &str,
) -> Result<Held, String> {
    use http_body_util::BodyExt as _;
    let stream = client::tcp(target, source).await?;
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let conn = tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = hyper::Request::get(path)
        .header("host", target.to_string())
        .body(http_body_util::Empty::new())
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("{path}: HTTP {}", resp.status()));
    }
    resp.into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(Held::Http(sender, conn))
}

pub(crate) async fn run(a: Args) -> Result<Outcome, String> {
    let sources = crate::parse_sources(&a.sources)?;
    let target = client::target(&a.url)?;
    let before = stats::tree_rss_kib(a.pid)?;
    let started = Instant::now();
    let mut hist = stats::histogram();
    let mut held = Vec::with_capacity(a.connections);
    let mut errors = 0usize;
    let progress = Progress::start("hold", a.connections as u64, "connections");
    let attempts = futures_util::stream::iter(0..a.connections)
        .map(|i| {
            let url = a.url.clone();
            let http = a.http.clone();
            let source = sources[i % sources.len()];
            let deflate = a.deflate;
            async move {
                let t = Instant::now();
                let r = match &http {
                    Some(path) => http_conn(target, source, path).await,
                    None if deflate => crate::deflate::Receiver::connect(&url, target, source)
                        .await
                        .map(|r| Held::Deflate(Box::new(r))),
                    None => client::connect(&url, target, source)
                        .await
                        .map(|ws| Held::Ws(Box::new(ws))),
                };
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
    let after = stats::tree_rss_kib(a.pid)?;
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
        "kind": match (&a.http, a.deflate) {
            (Some(_), _) => "http/1.1 keep-alive",
            (None, true) => "websocket, permessage-deflate",
            (None, false) => "websocket",
        },
    });
    Ok(Outcome::with_latency(json, hist))
}
