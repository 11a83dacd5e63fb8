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
//! - [`node`]: what the cluster asks of this node;
//! - [`stage`]: a deployed stage and its routes.
//!
//! Phases use only the connection's shared state ([`Connection`]) and the
//! [`Stage`] it connected to; they never touch sockets or hyper types.
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
pub mod node;
pub mod stage;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::auth::Authorizer;
use crate::auth::admission::Admission;
use crate::config::{ApiConfig, Config, ManagementAuth, WebSocketConfig};
use crate::conn::{Id, NodeTag, Sent};
use crate::delivery::Delivery;
use crate::integration::HttpClient;
use crate::shutdown::Shutdown;
use crate::telemetry::Metrics;
pub use connect::ConnectError;
pub use message::Inbound;
pub use stage::{Route, Stage};

/// Everything the phases share. One per node, behind an `Arc`.
#[derive(Debug)]
pub struct Gateway {
    api: ApiConfig,
    ws: WebSocketConfig,
    stages: HashMap<String, Arc<Stage>>,
    delivery: Delivery,
    client: HttpClient,
    metrics: Metrics,
    shutdown: Shutdown,
    /// Open-connection permits (`server.max_connections`): a session holds one
    /// until it ends, so the bound covers connections still running `$disconnect`.
    connection_permits: Arc<Semaphore>,
    trust_forwarded_for: bool,
    management_auth: ManagementAuth,
    admission: Admission,
    body_timeout: Duration,
}

// === impl Gateway ===

impl Gateway {
    /// Builds the runtime state from a validated config. `management_base` is
    /// `http://host:port` of the management listener, for backends.
    pub fn new(config: &Config, management_base: String) -> Gateway {
        let metrics = Metrics::new();
        // One instance per authorizer, shared by the stages that use it (and its caches).
        let authorizers: HashMap<String, Arc<Authorizer>> = config
            .authorizers
            .iter()
            .map(|(name, cfg)| (name.clone(), Arc::new(Authorizer::new(cfg))))
            .collect();
        let stages = config
            .stages
            .iter()
            .map(|s| {
                let stage = Stage::new(
                    s,
                    &config.websocket,
                    &metrics,
                    &management_base,
                    &authorizers,
                );
                (s.name.clone(), Arc::new(stage))
            })
            .collect();
        Gateway {
            api: config.api.clone(),
            ws: config.websocket.clone(),
            stages,
            delivery: Delivery::new(NodeTag::random()),
            client: HttpClient::new(&config.integrations),
            metrics,
            shutdown: Shutdown::default(),
            connection_permits: Arc::new(Semaphore::new(config.server.max_connections)),
            trust_forwarded_for: config.server.trust_forwarded_for,
            management_auth: config.management.clone(),
            admission: Admission::new(config.admission.clone()),
            body_timeout: config.server.request_body_timeout,
        }
    }

    /// `[api]`.
    pub fn api(&self) -> &ApiConfig {
        &self.api
    }

    /// `[websocket]`.
    pub fn ws(&self) -> &WebSocketConfig {
        &self.ws
    }

    /// A served stage, by name.
    pub fn stage(&self, name: &str) -> Option<&Arc<Stage>> {
        self.stages.get(name)
    }

    /// The names of the served stages.
    pub fn stage_names(&self) -> Vec<String> {
        self.stages.keys().cloned().collect()
    }

    /// This node's connections, groups and cluster link.
    pub fn delivery(&self) -> &Delivery {
        &self.delivery
    }

    /// The backend client.
    pub fn client(&self) -> &HttpClient {
        &self.client
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The drain signal and task tracking.
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// Open-connection permits (`server.max_connections`).
    pub fn connection_permits(&self) -> &Arc<Semaphore> {
        &self.connection_permits
    }

    /// Whether `identity.sourceIp` comes from X-Forwarded-For.
    pub fn trust_forwarded_for(&self) -> bool {
        self.trust_forwarded_for
    }

    /// Who may call the management API.
    pub fn management_auth(&self) -> &ManagementAuth {
        &self.management_auth
    }

    /// Origin and per-IP checks on upgrades.
    pub fn admission(&self) -> &Admission {
        &self.admission
    }

    /// Time a client has to send a request body (management API).
    pub fn body_timeout(&self) -> Duration {
        self.body_timeout
    }

    /// How long a session waits for the client's close frame.
    pub fn close_timeout(&self) -> Duration {
        self.ws.close_timeout
    }

    /// Counts a group send or broadcast to this node's connections of `stage`.
    pub fn count_fanout(&self, stage: &str, sent: Sent) {
        if let Some(stage) = self.stage(stage) {
            stage.metrics.fanout_queued.increment(sent.queued as u64);
            stage.metrics.fanout_dropped.increment(sent.dropped as u64);
        }
    }

    /// Counts a post refused because connection `id`'s queue was full.
    pub fn count_rejection(&self, id: &Id) {
        let stage = self
            .delivery
            .registry()
            .get(id)
            .map(|c| Arc::clone(&c.info.stage));
        if let Some(stage) = stage.and_then(|s| self.stage(&s).cloned()) {
            stage.metrics.queue_rejections.increment(1);
        }
    }
}
