//! Connecting from a chosen loopback source address (so ephemeral ports do not run out).

use std::net::{IpAddr, SocketAddr};

use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub(crate) type Ws = WebSocketStream<TcpStream>;

/// A TCP connection to `target` from `source`, with Nagle off.
pub(crate) async fn tcp(target: SocketAddr, source: IpAddr) -> Result<TcpStream, String> {
    let socket = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
    socket
        .bind(SocketAddr::new(source, 0))
        .map_err(|e| format!("bind {source}: {e}"))?;
    let stream = socket
        .connect(target)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Opens a WebSocket to `url` (ws://host:port/stage) from `source`.
pub(crate) async fn connect(url: &str, target: SocketAddr, source: IpAddr) -> Result<Ws, String> {
    let stream = tcp(target, source).await?;
    // Small buffers keep the load client itself cheap at tens of thousands of sockets.
    let cfg = WebSocketConfig::default().read_buffer_size(4096);
    let (ws, _) = tokio_tungstenite::client_async_with_config(url, stream, Some(cfg))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    Ok(ws)
}

/// The socket address in a ws:// URL.
pub(crate) fn target(url: &str) -> Result<SocketAddr, String> {
    let rest = url.strip_prefix("ws://").ok_or("only ws:// URLs")?;
    let host = rest.split('/').next().unwrap_or(rest);
    host.parse().map_err(|_| format!("{host} is not ip:port"))
}

/// Asks the `whoami` route (sockgate's demo, or the bare server) for the connection id.
pub(crate) async fn whoami(ws: &mut Ws) -> Result<String, String> {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    ws.send(Message::text(r#"{"action":"whoami"}"#))
        .await
        .map_err(|e| e.to_string())?;
    let reply = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
        .await
        .map_err(|_| "no answer from the whoami route".to_owned())?;
    match reply {
        Some(Ok(Message::Text(t))) => serde_json::from_str::<serde_json::Value>(&t)
            .ok()
            .and_then(|v| v["connectionId"].as_str().map(str::to_owned))
            .ok_or_else(|| "the whoami route answered without a connectionId".to_owned()),
        _ => Err("no answer from the whoami route".to_owned()),
    }
}

/// A pooled HTTP client for management calls.
pub(crate) fn http() -> hyper_util::client::legacy::Client<
    hyper_util::client::legacy::connect::HttpConnector,
    http_body_util::Full<bytes::Bytes>,
> {
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(512)
        .build_http()
}

/// Percent-encodes an id for a URL path (ids may end in '=').
pub(crate) fn path_id(id: &str) -> String {
    id.replace('=', "%3D")
}
