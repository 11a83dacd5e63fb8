//! `proxy`: what an `aws_proxy` route adds over calling its backend directly.
//!
//! The load tool serves the backend itself: a Lambda-proxy-style handler that
//! parses the event JSON and answers `{"statusCode":200,"body":<event.body>}`.
//! One client does sequential round trips (one in flight), either as WebSocket
//! messages through the gateway's two-way route, or (`--direct`) as HTTP POSTs
//! of an equally shaped event straight to the backend. The difference of the
//! two medians is the gateway's added latency, WebSocket hop included.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

use crate::progress::Progress;
use crate::{Outcome, client, stats};

#[derive(clap::Args, Clone)]
pub(crate) struct Args {
    /// ws://host:port/stage (not used with --direct)
    #[arg(long, default_value = "ws://127.0.0.1:8080/dev")]
    url: String,
    /// Where the backend listens; the gateway's route must point here.
    #[arg(long, default_value = "127.0.0.1:28300")]
    backend: SocketAddr,
    /// Call the backend directly instead of through the gateway.
    #[arg(long)]
    direct: bool,
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    #[arg(long, default_value_t = 2)]
    warmup_secs: u64,
    /// The message; its route must be the two-way aws_proxy route.
    #[arg(long, default_value = r#"{"action":"proxy","text":"hello, backend"}"#)]
    message: String,
    #[arg(long, default_value = "127.0.0.2")]
    sources: String,
}

pub(crate) async fn run(a: Args) -> Result<Outcome, String> {
    let listener = tokio::net::TcpListener::bind(a.backend)
        .await
        .map_err(|e| format!("backend bind {}: {e}", a.backend))?;
    let server = tokio::spawn(serve_backend(listener));
    let result = if a.direct {
        direct(&a).await
    } else {
        through_gateway(&a).await
    };
    server.abort();
    let (hist, errors) = result?;
    let json = json!({
        "scenario": "proxy",
        "mode": if a.direct { "direct" } else { "gateway" },
        "seconds": a.duration_secs,
        "round_trips": hist.len(),
        "errors": errors,
        "latency": stats::summary(&hist),
    });
    Ok(Outcome::with_latency(json, hist))
}

async fn through_gateway(a: &Args) -> Result<(hdrhistogram::Histogram<u64>, u64), String> {
    let sources = crate::parse_sources(&a.sources)?;
    let mut ws = client::connect(&a.url, client::target(&a.url)?, sources[0]).await?;
    let progress = Progress::timed("proxy (gateway)", a.warmup_secs + a.duration_secs);
    let start = Instant::now() + Duration::from_secs(a.warmup_secs);
    let end = start + Duration::from_secs(a.duration_secs);
    let (mut h, mut errors) = (stats::histogram(), 0);
    while Instant::now() < end {
        let t = Instant::now();
        ws.send(Message::text(a.message.as_str()))
            .await
            .map_err(|e| e.to_string())?;
        match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
            Ok(Some(Ok(Message::Text(reply)))) if reply.as_str() == a.message => {
                if t >= start {
                    stats::record(&mut h, t.elapsed());
                    progress.add(1);
                }
            }
            _ => errors += 1,
        }
    }
    Ok((h, errors))
}

async fn direct(a: &Args) -> Result<(hdrhistogram::Histogram<u64>, u64), String> {
    let http = client::http();
    let uri = format!("http://{}/", a.backend);
    let event = Bytes::from(sample_event(&a.message));
    let progress = Progress::timed("proxy (direct)", a.warmup_secs + a.duration_secs);
    let start = Instant::now() + Duration::from_secs(a.warmup_secs);
    let end = start + Duration::from_secs(a.duration_secs);
    let (mut h, mut errors) = (stats::histogram(), 0);
    while Instant::now() < end {
        let t = Instant::now();
        let req = hyper::Request::post(uri.as_str())
            .header("content-type", "application/json")
            .body(Full::new(event.clone()))
            .expect("valid request");
        let ok = match http.request(req).await {
            Ok(resp) if resp.status().is_success() => resp.into_body().collect().await.is_ok(),
            _ => false,
        };
        if !ok {
            errors += 1;
        } else if t >= start {
            stats::record(&mut h, t.elapsed());
            progress.add(1);
        }
    }
    Ok((h, errors))
}

/// A MESSAGE event shaped like the one the gateway sends (same fields, similar size).
fn sample_event(message: &str) -> String {
    json!({
        "requestContext": {
            "routeKey": "proxy", "messageId": "aoOd1caFNjMCKVQ=", "eventType": "MESSAGE",
            "extendedRequestId": "TXzPWdnOjoECGjA=", "requestTime": "25/Nov/2026:07:00:00 +0000",
            "messageDirection": "IN", "stage": "dev", "connectedAt": 1_795_000_000_000u64,
            "requestTimeEpoch": 1_795_000_000_100u64,
            "identity": { "sourceIp": "127.0.0.2", "userAgent": null },
            "requestId": "TXzPWdnOjoECGjA=", "domainName": "127.0.0.1:28080",
            "connectionId": "R1kmxc2VNjMCFIA=", "apiId": "sockgate"
        },
        "body": message,
        "isBase64Encoded": false
    })
    .to_string()
}

/// The Lambda-proxy-style backend: parse the event, answer its body back.
async fn serve_backend(listener: tokio::net::TcpListener) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(|req: hyper::Request<Incoming>| async move {
                let body = req
                    .into_body()
                    .collect()
                    .await
                    .map(|b| b.to_bytes())
                    .unwrap_or_default();
                let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let reply = json!({ "statusCode": 200, "body": event["body"] }).to_string();
                Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(reply))))
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, svc)
                .await;
        });
    }
}
