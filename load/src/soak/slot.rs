//! One connection slot of the soak: a task that holds a connection, reconnects
//! when told to (churn), and counts what it sends and receives per connection
//! lifetime ("generation"), so that losses can be judged against the contract.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

use super::Args;
use crate::{client, stats};

/// The group every member slot joins.
pub(crate) const GROUP: &str = "soak";

/// Traffic counters, shared by the slots and the pacers.
#[derive(Default)]
pub(crate) struct Counts {
    pub(crate) connects: AtomicU64,
    pub(crate) connect_errors: AtomicU64,
    pub(crate) churned: AtomicU64,
    pub(crate) server_closed: AtomicU64,
    pub(crate) echo_sent: AtomicU64,
    pub(crate) echo_received: AtomicU64,
    pub(crate) echo_skipped: AtomicU64,
    pub(crate) posts: AtomicU64,
    pub(crate) posts_ok: AtomicU64,
    pub(crate) posts_gone: AtomicU64,
    pub(crate) posts_other: AtomicU64,
    pub(crate) group_sends: AtomicU64,
    pub(crate) group_send_errors: AtomicU64,
    pub(crate) group_dropped: AtomicU64,
    pub(crate) join_errors: AtomicU64,
    pub(crate) unexpected: AtomicU64,
}

/// What every slot and pacer shares.
pub(crate) struct Shared {
    pub(crate) url: String,
    pub(crate) target: SocketAddr,
    pub(crate) sources: Vec<IpAddr>,
    pub(crate) management: String,
    pub(crate) http: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        http_body_util::Full<bytes::Bytes>,
    >,
    pub(crate) base: Instant,
    pub(crate) counts: Counts,
    open: AtomicUsize,
    echo: Mutex<Histogram<u64>>,
    /// Echo latencies since the last sample (for p99 over time).
    window: Mutex<Histogram<u64>>,
    /// Per group send: receivers the gateway queued it to, and members that got it.
    pub(crate) group_queued: Vec<AtomicU32>,
    pub(crate) group_received: Vec<AtomicU32>,
    /// Every connection lifetime, for the final count.
    generations: Mutex<Vec<Arc<Generation>>>,
}

/// One connection's lifetime and what went to it.
pub(crate) struct Generation {
    pub(crate) id: String,
    pub(crate) posts_acked: AtomicU64,
    posts_received: AtomicU64,
    echo_sent: AtomicU64,
    echo_received: AtomicU64,
    /// Closed by the load client (churn): what was in flight is lost with it.
    churned: AtomicBool,
}

/// A slot: its current connection, and its task's commands.
pub(crate) struct Slot {
    pub(crate) member: bool,
    current: Mutex<Option<Arc<Generation>>>,
    tx: mpsc::Sender<Cmd>,
}

enum Cmd {
    Echo,
    Reconnect,
    Stop(oneshot::Sender<()>),
}

enum End {
    Churn,
    Stop(Option<oneshot::Sender<()>>),
    ServerClosed,
}

impl Shared {
    pub(crate) fn new(a: &Args, target: SocketAddr, sources: Vec<IpAddr>) -> Shared {
        let group_sends = (a.group_rate * a.duration_secs + 16) as usize;
        Shared {
            url: a.url.clone(),
            target,
            sources,
            management: a.management.clone(),
            http: client::http(),
            base: Instant::now(),
            counts: Counts::default(),
            open: AtomicUsize::new(0),
            echo: Mutex::new(stats::histogram()),
            window: Mutex::new(stats::histogram()),
            group_queued: (0..group_sends).map(|_| AtomicU32::new(0)).collect(),
            group_received: (0..group_sends).map(|_| AtomicU32::new(0)).collect(),
            generations: Mutex::new(Vec::new()),
        }
    }

    /// Connections open now.
    pub(crate) fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Every echo latency so far.
    pub(crate) fn echo_latency(&self) -> Histogram<u64> {
        self.echo.lock().unwrap().clone()
    }

    /// Echo latencies since the last call.
    pub(crate) fn take_window(&self) -> Histogram<u64> {
        std::mem::replace(&mut *self.window.lock().unwrap(), stats::histogram())
    }

    fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    pub(crate) fn counts(&self) -> Value {
        let c = &self.counts;
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        json!({
            "connects": n(&c.connects), "connect_errors": n(&c.connect_errors),
            "churned": n(&c.churned), "server_closed": n(&c.server_closed),
            "echo_sent": n(&c.echo_sent), "echo_received": n(&c.echo_received),
            "echo_skipped": n(&c.echo_skipped),
            "posts": n(&c.posts), "posts_200": n(&c.posts_ok), "posts_410": n(&c.posts_gone),
            "posts_other": n(&c.posts_other),
            "group_sends": n(&c.group_sends), "group_send_errors": n(&c.group_send_errors),
            "group_dropped": n(&c.group_dropped),
            "join_errors": n(&c.join_errors), "unexpected_messages": n(&c.unexpected),
        })
    }

    /// Records one received text frame.
    fn received(&self, g: &Generation, text: &str) {
        if let Some(ns) = text.strip_prefix("e:").and_then(|t| t.parse::<u64>().ok()) {
            let took = Duration::from_nanos(self.now_ns().saturating_sub(ns));
            stats::record(&mut self.echo.lock().unwrap(), took);
            stats::record(&mut self.window.lock().unwrap(), took);
            g.echo_received.fetch_add(1, Ordering::Relaxed);
            self.counts.echo_received.fetch_add(1, Ordering::Relaxed);
        } else if text.starts_with("p:") {
            g.posts_received.fetch_add(1, Ordering::Relaxed);
        } else if let Some(seq) = text
            .strip_prefix("g:")
            .and_then(|t| t.parse::<usize>().ok())
        {
            if let Some(n) = self.group_received.get(seq) {
                n.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            self.counts.unexpected.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Slot {
    /// Starts slot `i`'s task.
    pub(crate) fn start(i: usize, member: bool, shared: Arc<Shared>) -> Arc<Slot> {
        let (tx, rx) = mpsc::channel(64);
        let slot = Arc::new(Slot {
            member,
            current: Mutex::new(None),
            tx,
        });
        tokio::spawn(run(i, Arc::clone(&slot), shared, rx));
        slot
    }

    /// The connection open in this slot now.
    pub(crate) fn current(&self) -> Option<Arc<Generation>> {
        self.current.lock().unwrap().clone()
    }

    /// Asks for one echo; false if the slot is busy or reconnecting.
    pub(crate) fn echo(&self) -> bool {
        self.current().is_some() && self.tx.try_send(Cmd::Echo).is_ok()
    }

    /// Asks the slot to close its connection and open a new one.
    pub(crate) fn churn(&self) {
        let _ = self.tx.try_send(Cmd::Reconnect);
    }
}

async fn run(i: usize, slot: Arc<Slot>, shared: Arc<Shared>, mut rx: mpsc::Receiver<Cmd>) {
    let source = shared.sources[i % shared.sources.len()];
    loop {
        let Some(ws) = connect(&shared, source).await else {
            continue;
        };
        let mut ws = ws;
        let Ok(id) = client::whoami(&mut ws).await else {
            shared.counts.connect_errors.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let g = Arc::new(Generation::new(id));
        if slot.member && !join(&shared, &g.id).await {
            shared.counts.join_errors.fetch_add(1, Ordering::Relaxed);
        }
        shared.generations.lock().unwrap().push(Arc::clone(&g));
        *slot.current.lock().unwrap() = Some(Arc::clone(&g));
        shared.open.fetch_add(1, Ordering::Relaxed);
        let (mut sink, mut stream) = ws.split();
        let end = loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(Cmd::Echo) => {
                        g.echo_sent.fetch_add(1, Ordering::Relaxed);
                        shared.counts.echo_sent.fetch_add(1, Ordering::Relaxed);
                        let msg = format!(r#"{{"action":"echo","e":"{}"}}"#, shared.now_ns());
                        if sink.send(Message::text(msg)).await.is_err() {
                            break End::ServerClosed;
                        }
                    }
                    Some(Cmd::Reconnect) => break End::Churn,
                    Some(Cmd::Stop(ack)) => break End::Stop(Some(ack)),
                    None => break End::Stop(None),
                },
                msg = stream.next() => match msg {
                    Some(Ok(Message::Text(t))) => shared.received(&g, &t),
                    Some(Ok(Message::Close(_)) | Err(_)) | None => break End::ServerClosed,
                    Some(Ok(_)) => {}
                },
            }
        };
        *slot.current.lock().unwrap() = None;
        shared.open.fetch_sub(1, Ordering::Relaxed);
        match end {
            End::Churn => {
                g.churned.store(true, Ordering::Relaxed);
                shared.counts.churned.fetch_add(1, Ordering::Relaxed);
                let _ = sink.send(Message::Close(None)).await;
            }
            End::ServerClosed => {
                shared.counts.server_closed.fetch_add(1, Ordering::Relaxed);
            }
            End::Stop(ack) => {
                let _ = sink.send(Message::Close(None)).await;
                if let Some(ack) = ack {
                    let _ = ack.send(());
                }
                return;
            }
        }
    }
}

async fn connect(shared: &Shared, source: IpAddr) -> Option<client::Ws> {
    match client::connect(&shared.url, shared.target, source).await {
        Ok(ws) => {
            shared.counts.connects.fetch_add(1, Ordering::Relaxed);
            Some(ws)
        }
        Err(_) => {
            shared.counts.connect_errors.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(200)).await;
            None
        }
    }
}

async fn join(shared: &Shared, id: &str) -> bool {
    let url = format!(
        "{}/@groups/{GROUP}/{}",
        shared.management,
        client::path_id(id)
    );
    let req = hyper::Request::put(url)
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .expect("valid request");
    matches!(shared.http.request(req).await, Ok(r) if r.status() == 204)
}

impl Generation {
    fn new(id: String) -> Generation {
        Generation {
            id,
            posts_acked: AtomicU64::new(0),
            posts_received: AtomicU64::new(0),
            echo_sent: AtomicU64::new(0),
            echo_received: AtomicU64::new(0),
            churned: AtomicBool::new(false),
        }
    }
}

/// What was not delivered: with a connection the client closed (allowed), or
/// otherwise (a failure of the contract).
#[derive(Debug, Default)]
pub(crate) struct Losses {
    lost_with_churned: u64,
    posts_missing: u64,
    echo_unanswered: u64,
    group_missing: u64,
    group_dropped: u64,
    server_closed: u64,
}

impl Losses {
    /// Messages lost where the contract promises delivery.
    pub(crate) fn outside_contract(&self) -> u64 {
        self.posts_missing
            + self.echo_unanswered
            + self.group_missing
            + self.group_dropped
            + self.server_closed
    }

    pub(crate) fn json(&self) -> Value {
        json!({
            "lost_with_connections_the_client_closed": self.lost_with_churned,
            "posts_answered_200_not_delivered": self.posts_missing,
            "echoes_unanswered": self.echo_unanswered,
            "group_messages_queued_not_delivered": self.group_missing,
            "group_messages_dropped": self.group_dropped,
            "connections_closed_by_the_server": self.server_closed,
            "outside_contract": self.outside_contract(),
        })
    }
}

/// Stops every slot (each closes its connection).
pub(crate) async fn stop_all(slots: &[Arc<Slot>]) {
    let mut acks = Vec::new();
    for slot in slots {
        let (tx, rx) = oneshot::channel();
        if slot.tx.send(Cmd::Stop(tx)).await.is_ok() {
            acks.push(rx);
        }
    }
    for ack in acks {
        let _ = tokio::time::timeout(Duration::from_secs(10), ack).await;
    }
}

/// Counts losses from every generation and group send.
pub(crate) fn count(shared: &Shared) -> Losses {
    let mut l = Losses {
        group_dropped: shared.counts.group_dropped.load(Ordering::Relaxed),
        server_closed: shared.counts.server_closed.load(Ordering::Relaxed),
        ..Losses::default()
    };
    for g in shared.generations.lock().unwrap().iter() {
        let n = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let posts = n(&g.posts_acked).saturating_sub(n(&g.posts_received));
        let echoes = n(&g.echo_sent).saturating_sub(n(&g.echo_received));
        if g.churned.load(Ordering::Relaxed) {
            l.lost_with_churned += posts + echoes;
        } else {
            l.posts_missing += posts;
            l.echo_unanswered += echoes;
        }
    }
    for (queued, got) in shared.group_queued.iter().zip(&shared.group_received) {
        let (q, r) = (queued.load(Ordering::Relaxed), got.load(Ordering::Relaxed));
        l.group_missing += u64::from(q.saturating_sub(r));
    }
    l
}
