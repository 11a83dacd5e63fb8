//! `http`: HTTP requests through a reverse proxy (sockgate's HTTP API, or
//! nginx as the baseline) to a backend the load tool serves itself.
//!
//! N clients each hold one keep-alive HTTP/1.1 connection from a loopback
//! source address and send GET requests back to back (closed loop: one in
//! flight per connection). With `--http2`, the N clients are HTTP/2 streams
//! (h2c, prior knowledge), `--streams-per-connection` of them sharing each
//! connection. The backend answers a fixed body, either as is
//! (`plain`, for `http_proxy` and nginx) or as a Lambda payload 2.0 result
//! (`lambda`, for `aws_proxy`). Requests per second and the latency of each
//! request after the warm-up are reported.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::json;

use crate::progress::Progress;
use crate::{Outcome, stats};

/// What both HTTP scenarios (this one and `wrk`) are told: the proxy, the
/// path, the clients, the run's length, and the backend.
#[derive(clap::Args, Clone)]
pub(crate) struct Proxied {
    /// The proxy's address.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) target: SocketAddr,
    /// The path requested (through the proxy to the backend).
    #[arg(long, default_value = "/dev/hello")]
    pub(crate) path: String,
    /// Keep-alive connections, one request in flight on each.
    #[arg(long, default_value_t = 100)]
    pub(crate) connections: usize,
    #[arg(long, default_value_t = 10)]
    pub(crate) duration_secs: u64,
    #[arg(long, default_value_t = 2)]
    pub(crate) warmup_secs: u64,
    /// Where the backend listens (the proxy must point here); "off" to serve none.
    #[arg(long, default_value = "127.0.0.1:28301")]
    pub(crate) backend: String,
    /// Size of the backend's answer body.
    #[arg(long, default_value_t = 64)]
    pub(crate) body_bytes: usize,
}

#[derive(clap::Args, Clone)]
pub(crate) struct Args {
    #[command(flatten)]
    run: Proxied,
    /// `CERT,KEY` (PEM files): the backend speaks TLS with this certificate.
    #[arg(long)]
    backend_tls: Option<String>,
    /// `plain` (the body as is) or `lambda` (a payload 2.0 result).
    #[arg(long, default_value = "plain")]
    backend_kind: String,
    #[arg(long, default_value = "127.0.0.2-127.0.0.9")]
    sources: String,
    /// Speak HTTP/2 (h2c with prior knowledge) instead of HTTP/1.1.
    #[arg(long)]
    http2: bool,
    /// With `--http2`: concurrent streams (clients) per connection.
    #[arg(long, default_value_t = 10)]
    streams_per_connection: usize,
}

/// How a client sends: its own HTTP/1.1 connection, or a stream of a shared
/// HTTP/2 one.
enum Sender {
    H1(hyper::client::conn::http1::SendRequest<Empty<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
}

impl Sender {
    async fn send(
        &mut self,
        req: hyper::Request<Empty<Bytes>>,
    ) -> hyper::Result<hyper::Response<Incoming>> {
        match self {
            Sender::H1(s) => s.send_request(req).await,
            Sender::H2(s) => s.send_request(req).await,
        }
    }
}

async fn h1(target: SocketAddr, source: IpAddr) -> Result<Sender, String> {
    let stream = crate::client::tcp(target, source).await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(conn);
    Ok(Sender::H1(sender))
}

async fn h2(target: SocketAddr, source: IpAddr) -> Result<Sender, String> {
    let stream = crate::client::tcp(target, source).await?;
    let (sender, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        TokioIo::new(stream),
    )
    .await
    .map_err(|e| format!("h2 handshake: {e}"))?;
    tokio::spawn(conn);
    Ok(Sender::H2(sender))
}

/// Starts the backend on `addr` ("off": none), answering `kind` bodies of
/// `bytes`, over TLS with `tls` (`CERT,KEY`); the `wrk` scenario uses it too.
pub(crate) async fn backend(
    addr: &str,
    kind: &str,
    bytes: usize,
    tls: Option<&str>,
) -> Result<Option<tokio::task::JoinHandle<()>>, String> {
    if addr == "off" {
        return Ok(None);
    }
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("backend bind {addr}: {e}"))?;
    let answer = answer(kind, bytes)?;
    let tls = tls.map(tls_acceptor).transpose()?;
    Ok(Some(tokio::spawn(serve_backend(listener, answer, tls))))
}

pub(crate) async fn run(a: Args) -> Result<Outcome, String> {
    let server = backend(
        &a.run.backend,
        &a.backend_kind,
        a.run.body_bytes,
        a.backend_tls.as_deref(),
    )
    .await?;
    let sources = crate::parse_sources(&a.sources)?;
    let progress = Progress::timed("http", a.run.warmup_secs + a.run.duration_secs);
    let start = Instant::now() + Duration::from_secs(a.run.warmup_secs);
    let end = start + Duration::from_secs(a.run.duration_secs);
    let mut tasks = Vec::new();
    let mut shared = None;
    for i in 0..a.run.connections {
        let source = sources[i % sources.len()];
        let sender = if !a.http2 {
            h1(a.run.target, source).await?
        } else {
            if i % a.streams_per_connection.max(1) == 0 {
                shared = match h2(a.run.target, source).await? {
                    Sender::H2(s) => Some(s),
                    Sender::H1(_) => None,
                };
            }
            Sender::H2(shared.clone().ok_or("no HTTP/2 connection")?)
        };
        let (target, path) = (a.run.target, a.run.path.clone());
        let counter = progress.counter();
        tasks.push(tokio::spawn(async move {
            client(sender, target, &path, start, end, counter).await
        }));
    }
    let (mut hist, mut errors) = (stats::histogram(), 0u64);
    for t in tasks {
        let (h, e) = t.await.map_err(|e| e.to_string())??;
        stats::merge(&mut hist, &h);
        errors += e;
    }
    if let Some(s) = server {
        s.abort();
    }
    let requests = hist.len();
    let json = json!({
        "scenario": "http",
        "connections": a.run.connections,
        "seconds": a.run.duration_secs,
        "warmup_seconds": a.run.warmup_secs,
        "requests": requests,
        "requests_per_sec": requests as f64 / a.run.duration_secs as f64,
        "errors": errors,
        "backend": a.backend_kind,
        "body_bytes": a.run.body_bytes,
        "protocol": if a.http2 { "h2c" } else { "http/1.1" },
        "latency": stats::summary(&hist),
    });
    Ok(Outcome::with_latency(json, hist))
}

/// One client sending requests back to back until `end`.
async fn client(
    mut sender: Sender,
    target: SocketAddr,
    path: &str,
    start: Instant,
    end: Instant,
    counter: std::sync::Arc<std::sync::atomic::AtomicU64>,
) -> Result<(hdrhistogram::Histogram<u64>, u64), String> {
    let host = target.to_string();
    let h2 = matches!(sender, Sender::H2(_));
    let (mut h, mut errors) = (stats::histogram(), 0u64);
    while Instant::now() < end {
        let req = if h2 {
            // HTTP/2 names the host in `:authority`.
            hyper::Request::get(format!("http://{host}{path}"))
        } else {
            hyper::Request::get(path).header("host", host.as_str())
        };
        let req = req.body(Empty::<Bytes>::new()).expect("valid request");
        let t = Instant::now();
        let ok = match sender.send(req).await {
            Ok(resp) if resp.status().is_success() => resp.into_body().collect().await.is_ok(),
            Ok(_) => false,
            Err(e) => return Err(format!("request failed: {e}")),
        };
        if !ok {
            errors += 1;
        } else if t >= start {
            stats::record(&mut h, t.elapsed());
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
    Ok((h, errors))
}

fn answer(kind: &str, bytes: usize) -> Result<Bytes, String> {
    let body = "x".repeat(bytes);
    match kind {
        "plain" => Ok(Bytes::from(body)),
        "lambda" => Ok(Bytes::from(
            json!({"statusCode": 200, "headers": {"content-type": "text/plain"}, "body": body})
                .to_string(),
        )),
        other => Err(format!("--backend-kind {other}: plain or lambda")),
    }
}

/// A TLS acceptor from `CERT,KEY` PEM files.
fn tls_acceptor(files: &str) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls_pki_types::pem::PemObject as _;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let (cert, key) = files.split_once(',').ok_or("--backend-tls CERT,KEY")?;
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect)
        .map_err(|e| format!("{cert}: {e}"))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| format!("{key}: {e}"))?;
    let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| e.to_string())?;
    Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
}

/// The backend: every request (its body read whole) gets `answer`; over TLS
/// when `tls` is given.
async fn serve_backend(
    listener: tokio::net::TcpListener,
    answer: Bytes,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let answer = answer.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
                let answer = answer.clone();
                async move {
                    let _ = req.into_body().collect().await;
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(answer)))
                }
            });
            let http = hyper::server::conn::http1::Builder::new();
            match tls {
                None => {
                    let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                }
                Some(tls) => {
                    if let Ok(stream) = tls.accept(stream).await {
                        let _ = http.serve_connection(TokioIo::new(stream), svc).await;
                    }
                }
            }
        });
    }
}
