//! Connecting from a chosen loopback source address (so ephemeral ports do not run out).

use std::net::{IpAddr, SocketAddr};

use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub(crate) type Ws = WebSocketStream<TcpStream>;

/// Opens a WebSocket to `url` (ws://host:port/stage) from `source`.
pub(crate) async fn connect(url: &str, target: SocketAddr, source: IpAddr) -> Result<Ws, String> {
    let socket = TcpSocket::new_v4().map_err(|e| format!("socket: {e}"))?;
    socket
        .bind(SocketAddr::new(source, 0))
        .map_err(|e| format!("bind {source}: {e}"))?;
    let stream = socket
        .connect(target)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
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
