//! Test harness: a real gateway on 127.0.0.1:0, a real HTTP backend with scripted
//! replies that records every request, and WebSocket/HTTP client helpers.
//!
//! Timeouts here are safety bounds so a broken build fails instead of hanging;
//! no test asserts on how long anything took.
#![allow(dead_code, unreachable_pub)]

pub mod browser;
pub mod deflate;
pub mod jwt;
pub mod nginx;
pub mod pki;
pub mod process;
pub mod raw;
pub mod raw_http;
pub mod redis;
pub mod redis_cluster;
pub mod tcp_proxy;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use sockgate::config::Config;
use sockgate::gateway::Gateway;
use sockgate::gateway::reload::{ConfigSource, ReloadReport};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A loopback port nothing listens on now (taken by whoever binds it next).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The hosted functions' handlers (`tests/functions`).
pub const FUNCTIONS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/functions");

/// A hosted function's `command` and `working_dir` lines: `handler` of
/// `tests/functions/app.py` (`app.NAME`) under AWS's `awslambdaric`.
pub fn awslambdaric(handler: &str) -> String {
    format!(
        "command = [\"python3\", \"-m\", \"awslambdaric\", \"{handler}\"]\nworking_dir = \"{FUNCTIONS_DIR}\"\n"
    )
}

/// How long a test waits for something that should happen promptly.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// The exact requests boto3's `apigatewaymanagementapi` client sent, recorded with
/// their SigV4 signatures and the answers boto3 accepts (see `tests/fixtures/README.md`).
pub const BOTO3_FIXTURE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/boto3-management-requests.json"
);

/// The recorded boto3 requests, parsed.
pub fn boto3_fixture() -> Value {
    let text =
        std::fs::read_to_string(BOTO3_FIXTURE).unwrap_or_else(|e| panic!("{BOTO3_FIXTURE}: {e}"));
    serde_json::from_str(&text).expect("the fixture is JSON")
}

/// A running gateway.
pub struct Gw {
    pub public: SocketAddr,
    pub mgmt: SocketAddr,
    pub metrics: SocketAddr,
    pub gateway: Arc<Gateway>,
    /// The config file it runs (rewrite it and call `reload` to change it).
    pub config_path: std::path::PathBuf,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<()>>,
}

impl Gw {
    /// Starts a gateway from TOML; listeners are forced to 127.0.0.1:0.
    pub async fn start(toml: &str) -> Gw {
        Gw::start_with_env(toml, &[]).await
    }

    /// [`Gw::start`] with extra environment (for `env:` secrets), passed to the
    /// config loader only; the process environment is not touched.
    pub async fn start_with_env(toml: &str, extra: &[(&str, &str)]) -> Gw {
        let env: HashMap<String, String> = [
            ("SOCKGATE_LISTEN", "127.0.0.1:0"),
            ("SOCKGATE_MANAGEMENT_LISTEN", "127.0.0.1:0"),
            ("SOCKGATE_METRICS_LISTEN", "127.0.0.1:0"),
        ]
        .iter()
        .chain(extra)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        // From a file, as `sockgate --config FILE` runs, so every test gateway
        // can be reloaded.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let config_path =
            std::env::temp_dir().join(format!("sockgate-gw-{}-{n}.toml", std::process::id()));
        std::fs::write(&config_path, toml).unwrap();
        let config = Config::load_file(&config_path, &env)
            .and_then(|c| sockgate::snapshot::check(&c).map(|()| c))
            .unwrap_or_else(|e| panic!("test config invalid: {e}"));
        let source = ConfigSource {
            path: Some(config_path.clone()),
            env: Box::new(env),
        };
        let server = sockgate::Server::bind_from(config, Some(source))
            .await
            .expect("bind");
        let (public, mgmt, metrics) = (
            server.public_addr(),
            server.management_addr(),
            server.metrics_addr(),
        );
        let gateway = server.gateway();
        let (tx, rx) = oneshot::channel::<()>();
        let done = tokio::spawn(server.run(async move {
            let _ = rx.await;
        }));
        Gw {
            public,
            mgmt,
            metrics,
            gateway,
            config_path,
            stop: Some(tx),
            done: Some(done),
        }
    }

    /// Rewrites the gateway's config file with `toml` and reloads it.
    pub fn reload_with(&self, toml: &str) -> ReloadReport {
        std::fs::write(&self.config_path, toml).unwrap();
        self.gateway.reload()
    }

    pub fn url(&self, stage: &str) -> String {
        format!("ws://{}/{stage}", self.public)
    }

    pub fn connections_url(&self, stage: &str, id: &str) -> String {
        format!(
            "http://{}/{stage}/@connections/{}",
            self.mgmt,
            id.replace('=', "%3D")
        )
    }

    /// Waits until `/readyz` answers 200 (with a cluster: the node's probe
    /// through Redis has come back).
    pub async fn wait_ready(&self) {
        let url = format!("http://{}/readyz", self.metrics);
        let deadline = sockgate::clock::now() + PATIENCE;
        loop {
            if http("GET", &url, Vec::new()).await.0 == 200 {
                return;
            }
            assert!(sockgate::clock::now() < deadline, "node never became ready");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `/readyz`'s status.
    pub async fn readyz(&self) -> u16 {
        http(
            "GET",
            &format!("http://{}/readyz", self.metrics),
            Vec::new(),
        )
        .await
        .0
    }

    /// `http://host:port{path}` on the management listener.
    pub fn mgmt_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.mgmt)
    }

    /// Starts a drain and waits for the server to finish it.
    pub async fn shutdown(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(done) = self.done.take() {
            tokio::time::timeout(PATIENCE * 3, done)
                .await
                .expect("drain finished")
                .expect("server task");
        }
    }

    pub async fn metrics_text(&self) -> String {
        let (status, _, body) = http(
            "GET",
            &format!("http://{}/metrics", self.metrics),
            Vec::new(),
        )
        .await;
        assert_eq!(status, 200);
        String::from_utf8(body.to_vec()).unwrap()
    }
}

impl Drop for Gw {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.config_path);
    }
}

/// Sums every sample of `name` whose labels contain all of `labels`.
pub fn metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

// ---------------------------------------------------------------- WebSocket client

pub async fn connect(url: &str) -> Ws {
    let (ws, resp) = tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(url))
        .await
        .expect("connect in time")
        .expect("connect");
    assert_eq!(resp.status(), 101);
    ws
}

/// Connects with extra request headers; returns the handshake error on refusal.
pub async fn connect_with(
    url: &str,
    headers: &[(&str, &str)],
) -> Result<(Ws, http::Response<Option<Vec<u8>>>), tokio_tungstenite::tungstenite::Error> {
    let mut req = url.into_client_request().unwrap();
    for (k, v) in headers {
        req.headers_mut().insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(req))
        .await
        .expect("handshake in time")
}

/// The HTTP status of a refused handshake.
pub async fn refused_status(url: &str, headers: &[(&str, &str)]) -> u16 {
    match connect_with(url, headers).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("expected the handshake to be refused"),
    }
}

/// The next data or close message (pings and pongs skipped).
pub async fn recv(ws: &mut Ws) -> Message {
    loop {
        let msg = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("message in time")
            .expect("stream open")
            .expect("no error");
        match msg {
            Message::Ping(_) | Message::Pong(_) => continue,
            other => return other,
        }
    }
}

pub async fn recv_text(ws: &mut Ws) -> String {
    match recv(ws).await {
        Message::Text(t) => t.to_string(),
        other => panic!("expected text, got {other:?}"),
    }
}

pub async fn recv_json(ws: &mut Ws) -> Value {
    serde_json::from_str(&recv_text(ws).await).expect("JSON frame")
}

/// Waits for the server's close frame, sends the closing handshake's reply, and
/// returns the frame's code and reason.
pub async fn expect_close(ws: &mut Ws) -> (u16, String) {
    loop {
        match tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("close in time")
        {
            Some(Ok(Message::Close(frame))) => {
                // Like a real client, answer the closing handshake.
                ws.flush().await.expect("close reply sent");
                return frame.map_or((1005, String::new()), |f| {
                    (u16::from(f.code), f.reason.to_string())
                });
            }
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("error before close frame: {e}"),
            None => panic!("stream ended without a close frame"),
        }
    }
}

pub async fn send_text(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).await.expect("send");
}

/// Asks the gateway for this connection's id through a mock route.
pub async fn whoami(ws: &mut Ws) -> String {
    send_text(ws, r#"{"action":"whoami"}"#).await;
    recv_json(ws).await["connectionId"]
        .as_str()
        .expect("connectionId")
        .to_owned()
}

/// Connects and learns the connection's id (the config must have `WHOAMI_ROUTE`).
pub async fn connected(url: &str) -> (Ws, String) {
    let mut ws = connect(url).await;
    let id = whoami(&mut ws).await;
    (ws, id)
}

/// A mock two-way route that answers the connection id; add to test configs.
pub const WHOAMI_ROUTE: &str = r#"
[routes.whoami]
route_response = true
integration = { type = "mock", body = '{"connectionId":"${context.connectionId}"}' }
"#;

// ---------------------------------------------------------------- HTTP client

pub async fn http(method: &str, url: &str, body: Vec<u8>) -> (u16, HeaderMap, Bytes) {
    http_with(method, url, &[], body).await
}

/// [`http`] with extra request headers.
pub async fn http_with(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, HeaderMap, Bytes) {
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .build_http::<Full<Bytes>>();
    let mut req = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    let req = req.body(Full::new(Bytes::from(body))).unwrap();
    let resp = tokio::time::timeout(PATIENCE, client.request(req))
        .await
        .expect("response in time")
        .expect("request");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, headers, body)
}

// ---------------------------------------------------------------- backend

/// What the backend does for a path.
#[derive(Clone, Debug)]
pub enum Behaviour {
    /// 200 with this body (a Lambda proxy response JSON, or anything).
    Body(String),
    /// This HTTP status with this body.
    Status(u16, String),
    /// Answer 200 with this body after a pause.
    Delay(Duration, String),
    /// Never answer.
    Hang,
    /// This status, these headers and this body.
    Headers(u16, Vec<(&'static str, &'static str)>, String),
}

/// One request the backend received.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub path: String,
    /// The query string, without `?` (empty if none).
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Recorded {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("backend got JSON")
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A real HTTP backend on 127.0.0.1:0.
pub struct Backend {
    pub addr: SocketAddr,
    scheme: &'static str,
    accepted: Arc<std::sync::atomic::AtomicUsize>,
    behaviours: Arc<Mutex<HashMap<String, Behaviour>>>,
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Recorded>>,
}

impl Backend {
    pub async fn start() -> Backend {
        Backend::start_with(None).await
    }

    /// A backend that speaks TLS with `config` (its `url` is then https).
    pub async fn start_tls(config: Arc<tokio_rustls::rustls::ServerConfig>) -> Backend {
        Backend::start_with(Some(tokio_rustls::TlsAcceptor::from(config))).await
    }

    async fn start_with(tls: Option<tokio_rustls::TlsAcceptor>) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let behaviours: Arc<Mutex<HashMap<String, Behaviour>>> = Arc::default();
        let (tx, rx) = mpsc::unbounded_channel();
        let b = Arc::clone(&behaviours);
        let scheme = if tls.is_some() { "https" } else { "http" };
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let (b, tx) = (Arc::clone(&b), tx.clone());
                let tls = tls.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let (b, tx) = (Arc::clone(&b), tx.clone());
                        async move { Ok::<_, Infallible>(answer(req, b, tx).await) }
                    });
                    match tls {
                        None => {
                            let io = TokioIo::new(stream);
                            let _ = http1::Builder::new().serve_connection(io, svc).await;
                        }
                        Some(acceptor) => {
                            // A failed handshake (the test's point, often) ends here.
                            let Ok(stream) = acceptor.accept(stream).await else {
                                return;
                            };
                            let io = TokioIo::new(stream);
                            let _ = http1::Builder::new().serve_connection(io, svc).await;
                        }
                    }
                });
            }
        });
        Backend {
            addr,
            scheme,
            accepted,
            behaviours,
            rx: tokio::sync::Mutex::new(rx),
        }
    }

    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn on(&self, path: &str, behaviour: Behaviour) {
        self.behaviours
            .lock()
            .unwrap()
            .insert(path.to_owned(), behaviour);
    }

    /// The next request to `path` (requests to other paths are skipped).
    pub async fn next(&self, path: &str) -> Recorded {
        let mut rx = self.rx.lock().await;
        loop {
            let r = tokio::time::timeout(PATIENCE, rx.recv())
                .await
                .unwrap_or_else(|_| panic!("no request to {path} in time"))
                .expect("backend alive");
            if r.path == path {
                return r;
            }
        }
    }

    /// Every request to `path` that arrives within `wait` (to prove something did NOT happen twice).
    pub async fn drain(&self, path: &str, wait: Duration) -> Vec<Recorded> {
        let mut rx = self.rx.lock().await;
        let mut out = Vec::new();
        while let Ok(Some(r)) = tokio::time::timeout(wait, rx.recv()).await {
            if r.path == path {
                out.push(r);
            }
        }
        out
    }
}

async fn answer(
    req: Request<Incoming>,
    b: Arc<Mutex<HashMap<String, Behaviour>>>,
    tx: mpsc::UnboundedSender<Recorded>,
) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let headers = req.headers().clone();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let _ = tx.send(Recorded {
        path: path.clone(),
        query,
        headers,
        body,
    });
    let behaviour = b
        .lock()
        .unwrap()
        .get(&path)
        .cloned()
        .unwrap_or(Behaviour::Body(r#"{"statusCode":200}"#.into()));
    match behaviour {
        Behaviour::Body(body) => Response::new(Full::new(Bytes::from(body))),
        Behaviour::Status(code, body) => {
            let mut r = Response::new(Full::new(Bytes::from(body)));
            *r.status_mut() = http::StatusCode::from_u16(code).unwrap();
            r
        }
        Behaviour::Delay(pause, body) => {
            tokio::time::sleep(pause).await;
            Response::new(Full::new(Bytes::from(body)))
        }
        Behaviour::Hang => {
            std::future::pending::<()>().await;
            unreachable!()
        }
        Behaviour::Headers(code, headers, body) => {
            let mut r = Response::new(Full::new(Bytes::from(body)));
            *r.status_mut() = http::StatusCode::from_u16(code).unwrap();
            for (name, value) in headers {
                r.headers_mut()
                    .append(name, http::HeaderValue::from_static(value));
            }
            r
        }
    }
}
