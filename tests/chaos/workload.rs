//! The clients' host: WebSocket clients that connect through the load
//! balancer, learn their id, read what they are sent and leave after a while
//! (then reconnect); one poster per node that POSTs through that node, one at
//! a time, to random live connections and (one in eight) to the group every
//! connection is in; one caller per node of an HTTP route with a
//! cluster-wide limit; and a prober of every node's `/readyz`. Everything is
//! recorded in the [`Recorder`].
//!
//! It all runs on one thread inside the clients' namespace, on a
//! current-thread runtime: the harness is I/O-bound and its timings only need
//! to be recorded, not fast.

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

use super::cluster::{MANAGEMENT, METRICS, PUBLIC, TOKEN};
use super::history::{Frame, Outcome, Post, Ready, Recorder, Session, Throttled};

pub struct Plan {
    pub lb: Ipv4Addr,
    pub nodes: Vec<Ipv4Addr>,
    pub clients: usize,
    pub seed: u64,
}

/// The phases the driver moves the workload through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    Run,
    /// No new POSTs; clients stay to receive what is in flight.
    Quiet,
    /// Clients close and stop reconnecting.
    Leave,
}

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

/// Runs until the phase is `Leave` and every client has closed.
pub async fn run(plan: Plan, rec: Recorder, phase: watch::Receiver<Phase>) {
    let live: Arc<Mutex<Vec<String>>> = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    for (via, &node) in plan.nodes.iter().enumerate() {
        let rng = Rng((plan.seed ^ (via as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D)) | 1);
        let live = Arc::clone(&live);
        tasks.spawn(poster(via, node, rng, rec.clone(), phase.clone(), live));
        tasks.spawn(prober(via, node, rec.clone(), phase.clone()));
        tasks.spawn(throttler(via, node, rec.clone(), phase.clone()));
    }
    let mut clients = tokio::task::JoinSet::new();
    for c in 0..plan.clients {
        let (rec, phase, live) = (rec.clone(), phase.clone(), Arc::clone(&live));
        let url = format!("ws://{}:{PUBLIC}/prod", plan.lb);
        let rng = Rng((plan.seed ^ (c as u64 + 101).wrapping_mul(0x9E37_79B9_7F4A_7C15)) | 1);
        clients.spawn(client(url, rng, rec, phase, live));
    }
    while clients.join_next().await.is_some() {}
    tasks.abort_all();
}

/// One HTTP/1.1 request on a fresh connection; its status, or `None` with no
/// answer within `timeout`. The management token goes to the management
/// listener only.
pub async fn request(
    addr: (Ipv4Addr, u16),
    method: &str,
    path: &str,
    body: &str,
    timeout: Duration,
) -> Option<u16> {
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        let auth = if addr.1 == MANAGEMENT {
            format!("Authorization: Bearer {TOKEN}\r\n")
        } else {
            String::new()
        };
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}:{}\r\n{auth}\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            addr.0,
            addr.1,
            body.len()
        );
        s.write_all(head.as_bytes()).await.ok()?;
        let mut answer = Vec::new();
        s.read_to_end(&mut answer).await.ok()?;
        let line = answer.split(|&b| b == b'\r').next()?;
        std::str::from_utf8(line)
            .ok()?
            .split(' ')
            .nth(1)?
            .parse()
            .ok()
    };
    tokio::time::timeout(timeout, exchange).await.ok().flatten()
}

/// A node's `/readyz` status, or `None` without an answer within a second.
async fn readyz(node: Ipv4Addr) -> Option<u16> {
    request(
        (node, METRICS),
        "GET",
        "/readyz",
        "",
        Duration::from_secs(1),
    )
    .await
}

/// Waits until every node answers `/readyz` 200.
pub async fn wait_ready(nodes: &[Ipv4Addr], patience: Duration) -> bool {
    let deadline = sockgate::clock::now() + patience;
    for &node in nodes {
        loop {
            if readyz(node).await == Some(200) {
                break;
            }
            if sockgate::clock::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    true
}

async fn poster(
    via: usize,
    node: Ipv4Addr,
    mut rng: Rng,
    rec: Recorder,
    phase: watch::Receiver<Phase>,
    live: Arc<Mutex<Vec<String>>>,
) {
    let (mut seq, mut group_seq) = (0u64, 0u64);
    while *phase.borrow() == Phase::Run {
        // One in eight is a group send to "room" (every connection's group).
        let group = rng.below(8) == 0;
        let id = if group {
            Some("room".to_string())
        } else {
            let live = live.lock().unwrap();
            (!live.is_empty()).then(|| live[rng.below(live.len() as u64) as usize].clone())
        };
        let Some(id) = id else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let (path, body, n) = if group {
            group_seq += 1;
            (
                "/prod/@groups/room".to_string(),
                format!("g {via} {group_seq}"),
                group_seq,
            )
        } else {
            seq += 1;
            let path = format!("/prod/@connections/{}", id.replace('=', "%3D"));
            (path, format!("m {via} {seq}"), seq)
        };
        let start = rec.now();
        let status = request(
            (node, MANAGEMENT),
            "POST",
            &path,
            &body,
            Duration::from_secs(2),
        )
        .await;
        let post = Post {
            group,
            via,
            id,
            seq: n,
            start,
            end: rec.now(),
            outcome: status.map_or(Outcome::Unknown, Outcome::Status),
        };
        rec.with(|h| h.posts.push(post));
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
}

/// Asks for the cluster-throttled route through `node` every 25 ms while the
/// run lasts: 40 a second a node, twice the cluster's limit or more.
async fn throttler(via: usize, addr: Ipv4Addr, rec: Recorder, phase: watch::Receiver<Phase>) {
    let mut tick = tokio::time::interval(Duration::from_millis(25));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while *phase.borrow() == Phase::Run {
        tick.tick().await;
        let start = rec.now();
        let status = request(
            (addr, PUBLIC),
            "GET",
            "/prod/limited",
            "",
            Duration::from_secs(2),
        )
        .await;
        let call = Throttled {
            via,
            start,
            end: rec.now(),
            outcome: status.map_or(Outcome::Unknown, Outcome::Status),
        };
        rec.with(|h| h.throttled.push(call));
    }
}

async fn prober(node: usize, addr: Ipv4Addr, rec: Recorder, phase: watch::Receiver<Phase>) {
    while *phase.borrow() < Phase::Leave {
        let at = rec.now();
        let status = readyz(addr).await;
        rec.with(|h| h.ready.push(Ready { node, at, status }));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects and learns the id, or gives up (the node or the path is down).
async fn open(url: &str) -> Option<(Ws, String)> {
    let attempt = async {
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.ok()?;
        ws.send(Message::text(r#"{"action":"whoami"}"#))
            .await
            .ok()?;
        while let Some(Ok(msg)) = ws.next().await {
            if let Message::Text(t) = msg {
                let v: serde_json::Value = serde_json::from_str(&t).ok()?;
                return Some((ws, v["connectionId"].as_str()?.to_string()));
            }
        }
        None
    };
    tokio::time::timeout(Duration::from_secs(3), attempt)
        .await
        .ok()
        .flatten()
}

async fn client(
    url: String,
    mut rng: Rng,
    rec: Recorder,
    mut phase: watch::Receiver<Phase>,
    live: Arc<Mutex<Vec<String>>>,
) {
    while *phase.borrow() < Phase::Leave {
        let Some((mut ws, id)) = open(&url).await else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let index = rec.with(|h| {
            h.sessions.push(Session {
                id: id.clone(),
                opened: rec.now(),
                closed: None,
            });
            h.sessions.len() - 1
        });
        live.lock().unwrap().push(id.clone());
        let lifetime = tokio::time::sleep(Duration::from_millis(3_000 + rng.below(12_000)));
        tokio::pin!(lifetime);
        let mut leaving = false;
        // Once leaving, the close handshake gets this long (a node that is
        // gone answers nothing).
        let give_up = tokio::time::sleep(Duration::from_secs(86_400));
        tokio::pin!(give_up);
        let code = loop {
            tokio::select! {
                msg = ws.next() => match msg {
                    Some(Ok(Message::Text(t))) => {
                        let mut parts = t.split(' ');
                        if let (Some(kind @ ("m" | "g")), Some(via), Some(seq)) = (parts.next(), parts.next(), parts.next()) {
                            let frame = Frame {
                                group: kind == "g",
                                id: id.clone(),
                                via: via.parse().unwrap(),
                                seq: seq.parse().unwrap(),
                                at: rec.now(),
                            };
                            rec.with(|h| h.frames.push(frame));
                        }
                    }
                    Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break None,
                },
                () = &mut give_up, if leaving => break None,
                () = &mut lifetime, if !leaving => {
                    leaving = true;
                    give_up.as_mut().reset(sockgate::clock::now() + Duration::from_secs(5));
                    live.lock().unwrap().retain(|l| *l != id);
                    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                }
                _ = phase.changed(), if !leaving => {
                    if *phase.borrow() == Phase::Leave {
                        leaving = true;
                        give_up.as_mut().reset(sockgate::clock::now() + Duration::from_secs(5));
                        live.lock().unwrap().retain(|l| *l != id);
                        let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
                    }
                }
            }
        };
        live.lock().unwrap().retain(|l| *l != id);
        let closed = (rec.now(), code);
        rec.with(|h| h.sessions[index].closed = Some(closed));
    }
}
