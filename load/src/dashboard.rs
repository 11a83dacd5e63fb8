//! An open dashboard, as the load tool holds one: its event stream read
//! (and dropped) as it arrives, for as long as a run lasts.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

/// The stream being read; [`Viewer::finish`] stops and says how much came.
pub(crate) struct Viewer {
    read: Arc<AtomicU64>,
    /// Ends only if the stream fails or ends (it should outlive the run).
    task: JoinHandle<String>,
}

/// Opens `url`'s event stream (`http://host:port/path`).
pub(crate) async fn watch(url: &str) -> Result<Viewer, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// is read"))?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let mut tcp = TcpStream::connect(host)
        .await
        .map_err(|e| format!("dashboard {host}: {e}"))?;
    let request =
        format!("GET /{path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n");
    tcp.write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut head = [0u8; 12];
    tcp.read_exact(&mut head).await.map_err(|e| e.to_string())?;
    if &head[9..12] != b"200" {
        return Err(format!(
            "dashboard {url}: {}",
            String::from_utf8_lossy(&head)
        ));
    }
    let read = Arc::new(AtomicU64::new(head.len() as u64));
    let counter = Arc::clone(&read);
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 64 << 10];
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) => return "the dashboard's stream ended during the run".to_owned(),
                Ok(n) => counter.fetch_add(n as u64, Ordering::Relaxed),
                Err(e) => return e.to_string(),
            };
        }
    });
    Ok(Viewer { read, task })
}

impl Viewer {
    /// Stops reading: the bytes read, or why the stream failed.
    pub(crate) async fn finish(self) -> Result<u64, String> {
        if self.task.is_finished() {
            return Err(self.task.await.unwrap_or_else(|e| e.to_string()));
        }
        self.task.abort();
        Ok(self.read.load(Ordering::Relaxed))
    }
}
