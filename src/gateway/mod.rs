//! The lifecycle phases of a connection, and the runtime state they share.
//!
//! ```text
//!   upgrade request ──► connect ──(2xx)──► 101 ──► session ──► message* ──► disconnect
//!                         │                                      │
//!                         └─(non-2xx / fail / timeout)─► HTTP    └─ reply / error frame
//! ```
//!
//! - [`connect`]: the API key and authorizer checks, then `$connect` while the
//!   upgrade is held;
//! - [`message`]: route one message and call its integration;
//! - [`disconnect`]: `$disconnect`, exactly once;
//! - [`call`]: the integration call and event fields every phase shares;
//! - [`node`]: what the cluster asks of this node.
//!
//! Phases use only the connection's shared state ([`Connection`]), the
//! [`Stage`] it is served by, and the configuration generation ([`Snapshot`])
//! the event is handled with; they never touch sockets or hyper types.
//! Messages to mock integrations are answered inline (they are pure); each
//! backend call runs in its own task, so one slow backend call never stalls the
//! connection's other traffic; the session stops reading once
//! `max_inflight_per_connection` calls are outstanding.
//!
//! [`Connection`]: crate::conn::Connection

pub mod call;
pub mod connect;
pub mod disconnect;
pub mod message;
mod message_access;
pub mod node;
pub mod reload;
pub mod spans;
mod throttle;

use std::sync::Arc;

use arc_swap::{ArcSwap, Guard};
use tokio::sync::Semaphore;

use crate::auth::admission::Admission;
use crate::config::Config;
use crate::conn::{Id, NodeTag, Sent};
use crate::delivery::Delivery;
use crate::functions::Functions;
use crate::shutdown::Shutdown;
use crate::snapshot::Snapshot;
pub use crate::snapshot::{Route, Stage};
use crate::telemetry::Metrics;
pub use connect::ConnectError;
pub use message::Inbound;

/// Everything the phases share. One per node, behind an `Arc`.
#[derive(Debug)]
pub struct Gateway {
    /// The current configuration generation; swapped whole on reload.
    snapshot: ArcSwap<Snapshot>,
    delivery: Delivery,
    metrics: Metrics,
    shutdown: Shutdown,
    /// Open-connection permits (`server.max_connections`): a session holds one
    /// until it ends, so the bound covers connections still running `$disconnect`.
    connection_permits: Arc<Semaphore>,
    /// Per-IP admission counts (their rules are in the snapshot).
    admission: Admission,
    /// Backend calls in flight per source address (their limits are in the
    /// snapshot's client config).
    shares: Arc<crate::integration::share::Shares>,
    /// Request body bytes buffered across the node, in `config::BODY_UNIT`s
    /// (`[http] max_body_bytes_in_flight`, read when the node starts).
    body_budget: Arc<Semaphore>,
    /// `http://host:port` of the management listener, for backends.
    management_base: String,
    /// Throttling buckets that outlive a reload (the limits are in the snapshot).
    throttles: crate::throttle::ThrottleState,
    /// The config file, the TLS acceptor, and the reload lock.
    reloads: reload::Reloads,
    /// The Lambda functions this node hosts (started with the node; a
    /// reload that changes `[functions]` needs a restart).
    functions: Arc<Functions>,
    /// The dashboard's samples (written by `dashboard::sampler`).
    feed: crate::telemetry::Feed,
    /// Spans over OTLP, when configured.
    spans: spans::Spans,
}

// === impl Gateway ===

impl Gateway {
    /// Builds the runtime state from a validated config. `management_base` is
    /// `http://host:port` of the management listener, for backends; `source`
    /// is where the config came from (`None`: it cannot be reloaded); `tls` the
    /// public listener's acceptor.
    pub fn new(
        config: &Config,
        management_base: String,
        source: Option<reload::ConfigSource>,
        tls: Option<crate::tls::Tls>,
    ) -> Gateway {
        let metrics = Metrics::new();
        metrics.config_started(&config.digest);
        let functions = Functions::start(config, &metrics);
        let snapshot = Snapshot::build(config, None, 1, &metrics, &management_base, &functions);
        let spans = spans::Spans::start(&config.tracing, Arc::clone(&snapshot.client));
        Gateway {
            snapshot: ArcSwap::from_pointee(snapshot),
            delivery: Delivery::new(NodeTag::random()),
            metrics,
            shutdown: Shutdown::default(),
            connection_permits: Arc::new(Semaphore::new(config.server.max_connections)),
            admission: Admission::default(),
            shares: Arc::default(),
            body_budget: Arc::new(Semaphore::new(
                config
                    .http
                    .max_body_bytes_in_flight
                    .div_ceil(crate::config::BODY_UNIT),
            )),
            throttles: crate::throttle::ThrottleState::default(),
            management_base,
            reloads: reload::Reloads::new(source, tls),
            functions,
            feed: crate::telemetry::Feed::default(),
            spans,
        }
    }

    /// The public listener's TLS acceptor now (`None`: plain ws://).
    pub fn tls(&self) -> Option<Arc<crate::tls::Tls>> {
        self.reloads.tls()
    }

    /// The current configuration generation (a lock-free load; hold it for
    /// the length of one event, not across `.await`s that may be long).
    pub fn snapshot(&self) -> Guard<Arc<Snapshot>> {
        self.snapshot.load()
    }

    /// The current generation, as an owned handle (for a session or a task).
    pub fn snapshot_arc(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    /// Builds the next generation from `config` (reusing what is unchanged)
    /// and makes it current; returns it.
    pub fn install(&self, config: &Config) -> Arc<Snapshot> {
        let previous = self.snapshot.load_full();
        let next = Snapshot::build(
            config,
            Some(&previous),
            previous.generation + 1,
            &self.metrics,
            &self.management_base,
            &self.functions,
        );
        let next = Arc::new(next);
        self.snapshot.store(Arc::clone(&next));
        next
    }

    /// This node's connections, groups and cluster link.
    pub fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    /// The node's throttling buckets.
    pub fn throttles(&self) -> &crate::throttle::ThrottleState {
        &self.throttles
    }

    /// The Lambda functions this node hosts.
    pub fn functions(&self) -> &Functions {
        &self.functions
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Spans over OTLP (a no-op without `[tracing] otlp_endpoint`).
    pub fn spans(&self) -> &spans::Spans {
        &self.spans
    }

    /// The dashboard's samples.
    pub fn feed(&self) -> &crate::telemetry::Feed {
        &self.feed
    }

    /// The last reload's report and when it ended (epoch ms), if there was one.
    pub fn last_reload(&self) -> Option<(u64, reload::ReloadReport)> {
        self.reloads.last()
    }

    /// The drain signal and task tracking.
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// Open-connection permits (`server.max_connections`).
    pub fn connection_permits(&self) -> &Arc<Semaphore> {
        &self.connection_permits
    }

    /// Per-IP admission counts.
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    /// Backend calls in flight per source address.
    pub fn shares(&self) -> &Arc<crate::integration::share::Shares> {
        &self.shares
    }

    /// The node's request body budget.
    pub fn body_budget(&self) -> &Arc<Semaphore> {
        &self.body_budget
    }

    /// Counts a group send or broadcast to this node's connections of `stage`.
    pub fn count_fanout(&self, stage: &str, sent: Sent) {
        if let Some(stage) = self.snapshot().stage(stage) {
            stage.metrics.fanout_queued.increment(sent.queued as u64);
            stage.metrics.fanout_dropped.increment(sent.dropped as u64);
        }
    }

    /// Counts a post refused because connection `id`'s queue was full.
    pub fn count_rejection(&self, id: &Id) {
        let Some(conn) = self.delivery.registry().get(id) else {
            return;
        };
        if let Some(stage) = self.snapshot().stage(&conn.info.stage) {
            stage.metrics.queue_rejections.increment(1);
        }
    }
}
