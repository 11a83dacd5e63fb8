//! A receiver that agrees permessage-deflate (tungstenite has no deflate): a
//! hand-written handshake offering it, then server frames read from the
//! socket. A compressed message is inflated only as far as the load tool reads
//! it — the send time at its start — so the client's own CPU stays small next
//! to the server's.

use std::net::{IpAddr, SocketAddr};

use flate2::{Decompress, FlushDecompress};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// How much of each message is inflated: enough for the send time.
const PREFIX: usize = 32;

/// A receiving connection with permessage-deflate agreed.
pub(crate) struct Receiver {
    io: BufReader<TcpStream>,
    inflate: Decompress,
}

impl Receiver {
    /// Connects to `url` from `source` and offers permessage-deflate as browsers do.
    pub(crate) async fn connect(
        url: &str,
        target: SocketAddr,
        source: IpAddr,
    ) -> Result<Receiver, String> {
        let path = url.splitn(4, '/').nth(3).unwrap_or_default();
        let mut s = crate::client::tcp(target, source).await?;
        let req = format!(
            "GET /{path} HTTP/1.1\r\nHost: {target}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
        );
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut io = BufReader::with_capacity(4096, s);
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(io.read_u8().await.map_err(|e| format!("handshake: {e}"))?);
        }
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        if !head.starts_with("http/1.1 101") || !head.contains("permessage-deflate") {
            return Err("the server did not agree permessage-deflate".into());
        }
        Ok(Receiver {
            io,
            inflate: Decompress::new(false),
        })
    }

    /// The start of the next data message (as text), `None` at the end.
    pub(crate) async fn next_prefix(&mut self) -> Option<String> {
        loop {
            let b0 = self.io.read_u8().await.ok()?;
            let len = match self.io.read_u8().await.ok()? & 0x7F {
                126 => u64::from(self.io.read_u16().await.ok()?),
                127 => self.io.read_u64().await.ok()?,
                n => u64::from(n),
            };
            let mut payload = vec![0u8; usize::try_from(len).ok()?];
            self.io.read_exact(&mut payload).await.ok()?;
            match b0 & 0x0F {
                0x1 | 0x2 if b0 & 0x40 != 0 => return Some(self.prefix(&payload)),
                0x1 | 0x2 => {
                    payload.truncate(PREFIX);
                    return Some(String::from_utf8_lossy(&payload).into_owned());
                }
                0x8 => return None,
                _ => {}
            }
        }
    }

    /// The first bytes of a compressed message (the server takes over no
    /// context, so each message starts a fresh stream).
    fn prefix(&mut self, payload: &[u8]) -> String {
        self.inflate.reset(false);
        let mut out = Vec::with_capacity(PREFIX);
        let _ = self
            .inflate
            .decompress_vec(payload, &mut out, FlushDecompress::Sync);
        String::from_utf8_lossy(&out).into_owned()
    }
}
