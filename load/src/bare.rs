//! sockgate-bare: the baseline. A plain tokio-tungstenite server with no gateway
//! logic, so the comparison shows what sockgate's routing, integrations and
//! bookkeeping cost over the WebSocket stack itself.
//!
//! - WebSocket on `--listen` (any path): every text or binary message is sent
//!   straight back, except `{"action":"whoami"}`, answered with
//!   `{"connectionId":"<n>"}` so the push scenario can address connections.
//! - HTTP on `--http`: `POST /{stage}/@connections/{id}` sends the body to one
//!   connection (200, 410 if unknown, 429 if its queue is full);
//!   `POST /{stage}/@broadcast` sends it to every connection.
//!
//! One task per connection, `select!` over the socket and a bounded channel;
//! 4 KiB read buffers, as in the "plain tokio-tungstenite" figure the targets
//! quote. The broadcast clones one `Utf8Bytes` (a reference count) per receiver;
//! tungstenite then frames it once per connection.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

#[derive(Parser)]
#[command(name = "sockgate-bare")]
struct Args {
    #[arg(long, default_value = "127.0.0.1:28180")]
    listen: SocketAddr,
    #[arg(long, default_value = "127.0.0.1:28181")]
    http: SocketAddr,
}

/// Messages queued per connection before a push is refused (as sockgate's default).
const QUEUE: usize = 256;

type Registry = Arc<RwLock<HashMap<u64, mpsc::Sender<Message>>>>;

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let registry: Registry = Arc::default();
    let ws = TcpListener::bind(args.listen).await.expect("bind --listen");
    let http = TcpListener::bind(args.http).await.expect("bind --http");
    eprintln!("sockgate-bare: ws://{} http://{}", args.listen, args.http);
    let reg = Arc::clone(&registry);
    tokio::spawn(async move {
        loop {
            if let Ok((stream, _)) = http.accept().await {
                let reg = Arc::clone(&reg);
                tokio::spawn(async move {
                    let _ = stream.set_nodelay(true);
                    let svc = hyper::service::service_fn(move |req| {
                        let reg = Arc::clone(&reg);
                        async move { Ok::<_, Infallible>(push(reg, req).await) }
                    });
                    let io = hyper_util::rt::TokioIo::new(stream);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(io, svc)
                        .await;
                });
            }
        }
    });
    let next_id = Arc::new(AtomicU64::new(1));
    loop {
        match ws.accept().await {
            Ok((stream, _)) => {
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(connection(stream, id, Arc::clone(&registry)));
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(5)).await,
        }
    }
}

async fn connection(stream: TcpStream, id: u64, registry: Registry) {
    let _ = stream.set_nodelay(true);
    let cfg = WebSocketConfig::default().read_buffer_size(4096);
    let Ok(mut ws) = tokio_tungstenite::accept_async_with_config(stream, Some(cfg)).await else {
        return;
    };
    let (tx, mut rx) = mpsc::channel(QUEUE);
    registry.write().unwrap().insert(id, tx);
    loop {
        tokio::select! {
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) if t.as_str() == r#"{"action":"whoami"}"# => {
                    let reply = format!(r#"{{"connectionId":"{id}"}}"#);
                    if ws.send(Message::text(reply)).await.is_err() { break }
                }
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => {
                    if ws.send(m).await.is_err() { break }
                }
                Some(Ok(_)) => {}
                _ => break,
            },
            Some(m) = rx.recv() => {
                if ws.send(m).await.is_err() { break }
            }
        }
    }
    registry.write().unwrap().remove(&id);
}

async fn push(registry: Registry, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return status(StatusCode::BAD_REQUEST),
    };
    let msg = match Utf8Bytes::try_from(body.clone()) {
        Ok(t) => Message::Text(t),
        Err(_) => Message::Binary(body),
    };
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        [_, "@connections", id] => {
            let tx = id
                .parse::<u64>()
                .ok()
                .and_then(|id| registry.read().unwrap().get(&id).cloned());
            match tx.map(|tx| tx.try_send(msg)) {
                Some(Ok(())) => status(StatusCode::OK),
                Some(Err(mpsc::error::TrySendError::Full(_))) => {
                    status(StatusCode::TOO_MANY_REQUESTS)
                }
                _ => status(StatusCode::GONE),
            }
        }
        [_, "@broadcast"] => {
            let reg = registry.read().unwrap();
            for tx in reg.values() {
                let _ = tx.try_send(msg.clone());
            }
            status(StatusCode::OK)
        }
        _ => status(StatusCode::NOT_FOUND),
    }
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = code;
    r
}
