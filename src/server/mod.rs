//! Listeners, accept loops and the process lifecycle: bind, serve, reload on
//! SIGHUP, drain.
//!
//! [`Server::bind`] binds all three listeners first (port 0 works, which is how
//! tests run it), then [`Server::run`] serves until the shutdown future completes
//! and drains:
//!
//! 1. stop accepting on the public listener; `/readyz` turns 503; new upgrades on
//!    open keep-alive connections get 503;
//! 2. every session closes with 1001 "Going away" and delivers its `$disconnect`;
//!    every HTTP API request in flight is answered (with `Connection: close`);
//! 3. wait for all of them, at most `server.shutdown_grace`;
//! 4. stop the management and metrics listeners (backends may post until the end).

mod conn;
mod head_timer;
pub mod limits;
mod stall;
mod stream_watch;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{Signal, SignalKind};
use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::cluster::{Cluster, Node};
use crate::config::Config;
use crate::gateway::Gateway;
use crate::gateway::reload::ConfigSource;
use crate::http::peer::Link;
use crate::tls::Tls;
use conn::{Protocol, serve_connection};
use limits::{ConnLimits, Full};

/// Connections the metrics listener holds, in all and per address: scrapers and
/// health probes need a handful; anything more is not a monitoring system.
const METRICS_MAX_CONNECTIONS: (usize, usize) = (64, 16);

/// A bound, not yet serving, gateway node.
#[derive(Debug)]
pub struct Server {
    gateway: Arc<Gateway>,
    public: TcpListener,
    management: TcpListener,
    metrics: TcpListener,
    public_addr: SocketAddr,
    management_addr: SocketAddr,
    metrics_addr: SocketAddr,
    /// Whether the public listener speaks TLS (its acceptor is the gateway's,
    /// rebuilt on reload).
    uses_tls: bool,
    /// Connection caps of the public, management and metrics listeners.
    limits: [Arc<ConnLimits>; 3],
    /// SIGHUP, registered when the server is bound: from then on its default
    /// action (ending the process) would kill a node an early reload reached.
    hup: io::Result<Signal>,
    /// SIGUSR1 (reopen the access log file), registered with SIGHUP and for
    /// the same reason: logrotate's signal must never end the node.
    usr1: io::Result<Signal>,
}

/// A listener; its index is its position in `telemetry::LISTENERS`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Public = 0,
    Management = 1,
    Metrics = 2,
}

// === impl Server ===

impl Server {
    /// Binds the public, management and metrics listeners, for a config that
    /// cannot be reloaded (tests, embedding).
    pub async fn bind(config: Config) -> io::Result<Server> {
        Server::bind_from(config, None).await
    }

    /// Binds the listeners; `source` is where `config` was read from, for reloads.
    pub async fn bind_from(config: Config, source: Option<ConfigSource>) -> io::Result<Server> {
        let public = listen("listen", config.server.listen)?;
        let management = listen("management_listen", config.server.management_listen)?;
        let metrics = listen("metrics_listen", config.server.metrics_listen)?;
        let (public_addr, management_addr, metrics_addr) = (
            public.local_addr()?,
            management.local_addr()?,
            metrics.local_addr()?,
        );
        let mgmt_addr = management_addr;
        let host = if mgmt_addr.ip().is_unspecified() {
            SocketAddr::from(([127, 0, 0, 1], mgmt_addr.port()))
        } else {
            mgmt_addr
        };
        let tls = config
            .server
            .tls
            .as_ref()
            .map(Tls::load)
            .transpose()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let uses_tls = tls.is_some();
        let gateway = Arc::new(Gateway::new(&config, format!("http://{host}"), source, tls));
        if let Some(cfg) = &config.cluster {
            let node = gateway.delivery().node();
            let local: Weak<dyn Node> = Arc::downgrade(&gateway) as Weak<dyn Node>;
            let cluster = Cluster::start(node, local, cfg, gateway.metrics().cluster())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
            gateway.delivery().set_cluster(cluster);
            let redis: Vec<String> = cfg.redis.urls().iter().map(|u| redact(u)).collect();
            let mode = match cfg.redis {
                crate::config::RedisTarget::Single(_) => "server",
                crate::config::RedisTarget::Cluster(_) => "cluster (sharded pub/sub)",
            };
            info!(node = %node, redis = %redis.join(","), mode, "Joining the cluster.");
        }
        Ok(Server {
            hup: tokio::signal::unix::signal(SignalKind::hangup()),
            usr1: tokio::signal::unix::signal(SignalKind::user_defined1()),
            gateway,
            public,
            management,
            metrics,
            public_addr,
            management_addr,
            metrics_addr,
            uses_tls,
            limits: [
                ConnLimits::new(
                    config.server.max_http_connections,
                    config.server.max_http_connections_per_ip,
                ),
                ConnLimits::new(
                    config.server.management_max_connections,
                    config.server.management_max_connections_per_ip,
                ),
                ConnLimits::new(METRICS_MAX_CONNECTIONS.0, METRICS_MAX_CONNECTIONS.1),
            ],
        })
    }

    /// The public (WebSocket) address.
    pub fn public_addr(&self) -> SocketAddr {
        self.public_addr
    }

    /// The @connections address.
    pub fn management_addr(&self) -> SocketAddr {
        self.management_addr
    }

    /// The metrics and probes address.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    /// The shared runtime state (for tests and embedding).
    pub fn gateway(&self) -> Arc<Gateway> {
        Arc::clone(&self.gateway)
    }

    /// Serves until `shutdown` completes, then drains (see the module docs).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (stop_public, public_rx) = watch::channel(false);
        let (stop_rest, rest_rx) = watch::channel(false);
        let gw = &self.gateway;
        let sweeper = tokio::spawn(housekeeping(Arc::downgrade(gw)));
        let sampler = tokio::spawn(crate::dashboard::sampler::run(Arc::downgrade(gw)));
        let [public_limits, mgmt_limits, metrics_limits] = self.limits;
        let public = tokio::spawn(accept_loop(
            Listener {
                listener: self.public,
                kind: Kind::Public,
                limits: public_limits,
                tls: self.uses_tls,
            },
            Arc::clone(gw),
            public_rx,
        ));
        let mgmt = tokio::spawn(accept_loop(
            Listener {
                listener: self.management,
                kind: Kind::Management,
                limits: mgmt_limits,
                tls: false,
            },
            Arc::clone(gw),
            rest_rx.clone(),
        ));
        let metrics = tokio::spawn(accept_loop(
            Listener {
                listener: self.metrics,
                kind: Kind::Metrics,
                limits: metrics_limits,
                tls: false,
            },
            Arc::clone(gw),
            rest_rx,
        ));

        // SIGHUP reloads the config file (see gateway::reload).
        let reloader = tokio::spawn(reload_on_sighup(Arc::downgrade(gw), self.hup));
        let reopener = tokio::spawn(reopen_on_sigusr1(self.usr1));
        shutdown.await;
        reloader.abort();
        reopener.abort();
        let open = gw.delivery().registry().len();
        let grace = gw.snapshot().config.server.shutdown_grace;
        info!(
            connections = open,
            grace_ms = grace.as_millis() as u64,
            "Draining."
        );
        gw.shutdown().begin();
        // Every session closes through its mailbox (`session::drive`); one
        // registered after this walk starts after the flag is set and sees it.
        gw.delivery().registry().for_each(|c| {
            c.request_close(crate::conn::CloseReason::Shutdown);
        });
        let _ = stop_public.send(true);
        let _ = public.await;
        if tokio::time::timeout(grace, gw.shutdown().all_done())
            .await
            .is_err()
        {
            warn!(
                remaining = gw.shutdown().live_tasks(),
                "Grace period over; exiting with connections still open."
            );
        }
        // Every call in flight has ended (or the grace has): the hosted
        // functions' workers go.
        gw.functions().stop();
        // The last spans go out before the process does.
        gw.spans().stop();
        if let Some(cluster) = gw.delivery().cluster() {
            cluster.leave().await;
        }
        sweeper.abort();
        sampler.abort();
        let _ = stop_rest.send(true);
        let _ = mgmt.await;
        let _ = metrics.await;
        info!("Stopped.");
    }
}

/// Periodic upkeep, holding only a weak reference so it ends with the gateway:
/// every 5 s the metric histograms fold their recorded samples (the exporter
/// keeps every sample until then, so a node nobody scraped grew by 8 bytes a
/// sample, without bound: RSS 7.6 → 41 MiB over 15 s of HTTP load, 729,000
/// requests; with this, 7.2 → 23.6 MiB over 761,000) and backend connections
/// idle past `integrations.pool_idle_timeout` close; every 60 s the per-IP
/// admission table drops idle addresses (bounds that map; see
/// `auth::admission`).
async fn housekeeping(gw: Weak<Gateway>) {
    const SWEEP_EVERY: u32 = 12;
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    let mut n = 0u32;
    loop {
        tick.tick().await;
        let Some(gw) = gw.upgrade() else { return };
        gw.metrics().upkeep();
        // Keyed throttling buckets that are full again are forgotten.
        gw.throttles().sweep(crate::clock::mono_ns());
        gw.snapshot().client.sweep_idle();
        n += 1;
        if n.is_multiple_of(SWEEP_EVERY) {
            gw.admission().sweep(&gw.snapshot().admission);
        }
    }
}

/// A bound listener and what it serves.
struct Listener {
    listener: TcpListener,
    kind: Kind,
    limits: Arc<ConnLimits>,
    /// Speaks TLS, with the gateway's current acceptor.
    tls: bool,
}

async fn accept_loop(l: Listener, gw: Arc<Gateway>, mut stop: watch::Receiver<bool>) {
    let kind = l.kind;
    let local_port = l.listener.local_addr().map_or(0, |a| a.port());
    let scheme = if l.tls { "https" } else { "http" };
    let mut backoff = Duration::from_millis(5);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = l.listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    backoff = Duration::from_millis(5);
                    // Over a cap: closed before a byte is read (see `limits`).
                    let permit = match l.limits.admit(peer.ip()) {
                        Ok(permit) => permit,
                        Err(full) => {
                            let reason = match full {
                                Full::Listener => 0,
                                Full::Address => 1,
                            };
                            gw.metrics().listener_refused(kind as usize, reason);
                            debug!(%peer, reason = full.label(), "Connection refused at accept.");
                            continue;
                        }
                    };
                    let _ = stream.set_nodelay(true);
                    let gw = Arc::clone(&gw);
                    let body_bytes = gw.snapshot().http.max_body_bytes_per_connection;
                    let link = Link::new(peer, local_port, scheme, body_bytes);
                    match l.tls.then(|| gw.tls()).flatten() {
                        None => {
                            tokio::spawn(async move {
                                let Some(protocol) = plaintext_protocol(&stream, &gw, kind).await else {
                                    debug!(%peer, "The client sent nothing within handshake_timeout, or left.");
                                    return;
                                };
                                serve_connection(stream, link, gw, kind, protocol).await;
                                drop(permit);
                            });
                        }
                        Some(tls) => {
                            let acceptor = tls.acceptor().clone();
                            tokio::spawn(async move {
                                // The TLS handshake counts against the same timeout.
                                let handshake_timeout = gw.snapshot().handshake_timeout;
                                match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                                    Ok(Ok(stream)) => {
                                        serve_connection(stream, link, gw, kind, Protocol::Either).await;
                                        drop(permit);
                                    }
                                    Ok(Err(e)) => debug!(%peer, error = %e, "TLS handshake failed."),
                                    Err(_) => debug!(%peer, "TLS handshake timed out."),
                                }
                            });
                        }
                    }
                }
                Err(e) => {
                    // Usually EMFILE (out of file descriptors): back off instead of spinning.
                    warn!(error = %e, "Accept failed; backing off.");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
}

/// What a plaintext client speaks: HTTP/1.1 on the management and metrics
/// listeners; on the public one, what its first bytes say, within
/// `handshake_timeout` (`None`: it sent nothing, or left).
async fn plaintext_protocol(stream: &TcpStream, gw: &Gateway, kind: Kind) -> Option<Protocol> {
    if kind != Kind::Public {
        return Some(Protocol::Http1);
    }
    let within = gw.snapshot().handshake_timeout;
    tokio::time::timeout(within, conn::sniff(stream))
        .await
        .ok()?
        .ok()
}

/// A Redis URL without its password, for logs.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Pending connections the kernel may queue before `accept`. tokio's default is
/// 1,024; a burst of new clients (every client reconnecting after a load
/// balancer restart) overflows that, and each overflowed SYN costs its client a
/// one-second retransmission. The kernel caps this at `net.core.somaxconn`.
const ACCEPT_BACKLOG: u32 = 8192;

/// Binds the listener `key` (its `[server]` key) names; an error says which
/// and where (`management_listen 127.0.0.1:8081: Address already in use`).
fn listen(key: &str, addr: SocketAddr) -> io::Result<TcpListener> {
    let bound = || {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        // As std and tokio do: a restarted node can rebind while old sockets linger in TIME_WAIT.
        socket.set_reuseaddr(true)?;
        socket.bind(addr)?;
        socket.listen(ACCEPT_BACKLOG)
    };
    bound().map_err(|e| io::Error::new(e.kind(), format!("{key} {addr}: {e}")))
}

/// Reloads the config file on every SIGHUP, until the gateway is gone.
async fn reload_on_sighup(gw: Weak<Gateway>, hup: io::Result<Signal>) {
    let mut hup = match hup {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "Cannot listen for SIGHUP; reload through the management API instead.");
            return;
        }
    };
    while hup.recv().await.is_some() {
        let Some(gw) = gw.upgrade() else { return };
        info!("SIGHUP received: reloading the configuration.");
        gw.reload();
    }
}

/// Reopens the access log file on every SIGUSR1 (after logrotate moved it).
async fn reopen_on_sigusr1(usr1: io::Result<Signal>) {
    let Ok(mut usr1) = usr1 else { return };
    while usr1.recv().await.is_some() {
        match crate::telemetry::reopen_access_log() {
            Ok(true) => info!("SIGUSR1 received: the access log file is reopened."),
            Ok(false) => info!("SIGUSR1 received: no access log file to reopen."),
            Err(e) => {
                warn!(error = %e, "SIGUSR1 received: cannot reopen the access log file; writing on to the old one.")
            }
        }
    }
}

/// Resolves on SIGTERM or SIGINT (Kubernetes and systemd send SIGTERM to stop;
/// Ctrl-C sends SIGINT). Both drain the same way. Both are registered when
/// this is called, not when first polled: call it before binding, so a stop
/// that comes early still drains instead of killing the node.
pub fn signal() -> impl Future<Output = ()> + Send {
    let term = tokio::signal::unix::signal(SignalKind::terminate());
    let int = tokio::signal::unix::signal(SignalKind::interrupt());
    async move {
        let mut term = term
            .inspect_err(
                |e| warn!(error = %e, "Cannot listen for SIGTERM; only SIGINT will drain."),
            )
            .ok();
        let mut int = int
            .inspect_err(
                |e| warn!(error = %e, "Cannot listen for SIGINT; only SIGTERM will drain."),
            )
            .ok();
        tokio::select! {
            () = next(term.as_mut()) => info!("SIGTERM received."),
            () = next(int.as_mut()) => info!("SIGINT received."),
        }
    }
}

/// `s`'s next delivery; never, without `s`.
async fn next(s: Option<&mut Signal>) {
    match s {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}
