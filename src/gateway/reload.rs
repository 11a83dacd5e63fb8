//! Reloading the configuration without a restart.
//!
//! A reload reads the config file again and validates all of it, as `check`
//! does. With any error, nothing changes: the node keeps serving the current
//! generation, and every error is logged and reported to whoever asked. A valid
//! file becomes the next generation in one atomic swap ([`Gateway::install`]):
//!
//! - no connection is dropped, and no message already accepted is lost; calls
//!   in flight finish on the route that selected them, and each connection's
//!   next message uses the new routes, variables and limits;
//! - authorizers whose settings did not change keep their caches;
//! - the TLS certificate and key are read again (certificate rotation);
//! - connections of a stage the new file no longer has are closed with 1001
//!   and get their `$disconnect` (`disconnectReason` "Stage removed");
//! - what only a restart can change (listen addresses, connection caps,
//!   `node_id`, turning TLS on or off, `[cluster]`, where spans are
//!   exported) keeps its current value and is reported as "needs restart";
//!   everything else is applied.
//!
//! Reloads are serialized: one at a time, whatever triggered them (SIGHUP,
//! `sockgate reload`, the management API).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tracing::{info, warn};

use super::Gateway;
use crate::config::{Config, ConfigErrors, EnvSource};
use crate::conn::CloseReason;
use crate::tls::Tls;

/// Where the node's config file is, for reloads.
pub struct ConfigSource {
    /// The file, or `None` for a node started from text (it cannot reload).
    pub path: Option<PathBuf>,
    /// Where `env:NAME` secrets and `SOCKGATE_*` overrides come from.
    pub env: Box<dyn EnvSource + Send + Sync>,
}

impl std::fmt::Debug for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigSource")
            .field("path", &self.path)
            .finish()
    }
}

/// What a reload did.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ReloadReport {
    /// `applied` or `rejected`.
    pub outcome: &'static str,
    /// The generation serving now.
    pub generation: u64,
    /// The digest of the config serving now.
    pub digest: String,
    /// Why the file was rejected (`key.path: reason`), if it was.
    pub errors: Vec<String>,
    /// Keys whose new value takes effect only after a restart.
    pub needs_restart: Vec<String>,
}

/// The reload state kept by the gateway: its source, the TLS acceptor it
/// rebuilds, and the lock that serializes reloads.
#[derive(Debug)]
pub struct Reloads {
    source: Option<ConfigSource>,
    tls: arc_swap::ArcSwapOption<Tls>,
    one_at_a_time: Mutex<()>,
    /// The last reload's report and when it ended (epoch ms), for the dashboard.
    last: Mutex<Option<(u64, ReloadReport)>>,
}

impl Reloads {
    /// `tls`: the public listener's acceptor at start.
    pub fn new(source: Option<ConfigSource>, tls: Option<Tls>) -> Reloads {
        Reloads {
            source,
            tls: arc_swap::ArcSwapOption::from_pointee(tls),
            one_at_a_time: Mutex::new(()),
            last: Mutex::new(None),
        }
    }

    /// The public listener's TLS acceptor now (`None`: plain ws://).
    pub fn tls(&self) -> Option<Arc<Tls>> {
        self.tls.load_full()
    }

    /// The last reload's report and when it ended (epoch ms), if there was one.
    pub fn last(&self) -> Option<(u64, ReloadReport)> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn remember(&self, report: &ReloadReport) -> ReloadReport {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((crate::clock::now_ms(), report.clone()));
        report.clone()
    }
}

// === impl Gateway: reload ===

impl Gateway {
    /// Reads the config file again and applies it (see the module doc).
    pub fn reload(&self) -> ReloadReport {
        let Some(source) = &self.reloads.source else {
            let errors = vec!["this node was not started from a config file".to_owned()];
            return self.rejected(errors);
        };
        let loaded = match &source.path {
            Some(path) => Config::load_file(path, &*source.env),
            None => Config::demo(&*source.env),
        };
        self.apply(loaded)
    }

    /// Applies a loaded (or refused) config as the next generation.
    pub fn apply(&self, loaded: Result<Config, ConfigErrors>) -> ReloadReport {
        let _one_at_a_time = self
            .reloads
            .one_at_a_time
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let config = match loaded.and_then(|c| crate::snapshot::check(&c).map(|()| c)) {
            Ok(c) => c,
            Err(errors) => {
                return self.rejected(errors.0.iter().map(ToString::to_string).collect());
            }
        };
        let current = self.snapshot_arc();
        let needs_restart = needs_restart(&current.config, &config);
        // The certificate first: if it cannot be loaded now, nothing changes.
        let tls = match (&current.config.server.tls, &config.server.tls) {
            (Some(_), Some(files)) => match Tls::load(files) {
                Ok(tls) => Some(Some(Arc::new(tls))),
                Err(e) => return self.rejected(vec![format!("server.tls_cert_file: {e}")]),
            },
            _ => None,
        };
        let next = self.install(&config);
        if let Some(tls) = tls {
            self.reloads.tls.store(tls);
        }
        let closed = self.close_removed_stages();
        self.metrics
            .config_applied(next.generation, &current.digest, &next.digest);
        info!(
            generation = next.generation, digest = %next.digest, closed_connections = closed,
            needs_restart = ?needs_restart, "Configuration reloaded."
        );
        for key in &needs_restart {
            warn!(key = %key, "This setting changed in the file but needs a restart; the current value stays.");
        }
        self.reloads.remember(&ReloadReport {
            outcome: "applied",
            generation: next.generation,
            digest: next.digest.clone(),
            errors: Vec::new(),
            needs_restart,
        })
    }

    fn rejected(&self, errors: Vec<String>) -> ReloadReport {
        self.metrics.config_rejected();
        for e in &errors {
            warn!(error = %e, "Configuration reload rejected; the current configuration stays.");
        }
        let current = self.snapshot();
        self.reloads.remember(&ReloadReport {
            outcome: "rejected",
            generation: current.generation,
            digest: current.digest.clone(),
            errors,
            needs_restart: Vec::new(),
        })
    }

    /// Closes (1001) the connections whose stage the current generation lacks.
    fn close_removed_stages(&self) -> usize {
        let snap = self.snapshot();
        let mut closed = 0;
        self.delivery().registry().for_each(|conn| {
            if snap.stage(&conn.info.stage).is_none()
                && conn.request_close(CloseReason::StageRemoved)
            {
                closed += 1;
            }
        });
        closed
    }
}

/// The keys whose change only a restart applies.
fn needs_restart(old: &Config, new: &Config) -> Vec<String> {
    let (o, n) = (&old.server, &new.server);
    let mut keys = Vec::new();
    let mut check = |changed: bool, key: &str| {
        if changed {
            keys.push(key.to_owned());
        }
    };
    check(o.listen != n.listen, "server.listen");
    check(
        o.management_listen != n.management_listen,
        "server.management_listen",
    );
    check(
        o.metrics_listen != n.metrics_listen,
        "server.metrics_listen",
    );
    check(
        n.node_id.is_some() && o.node_id != n.node_id,
        "server.node_id",
    );
    check(
        o.max_connections != n.max_connections,
        "server.max_connections",
    );
    check(
        o.max_http_connections != n.max_http_connections,
        "server.max_http_connections",
    );
    check(
        o.max_http_connections_per_ip != n.max_http_connections_per_ip,
        "server.max_http_connections_per_ip",
    );
    check(
        o.management_max_connections != n.management_max_connections,
        "server.management_max_connections",
    );
    check(
        o.management_max_connections_per_ip != n.management_max_connections_per_ip,
        "server.management_max_connections_per_ip",
    );
    check(o.tls.is_some() != n.tls.is_some(), "server.tls_cert_file");
    check(old.cluster != new.cluster, "cluster");
    check(old.functions != new.functions, "functions");
    let (ot, nt) = (&old.tracing, &new.tracing);
    check(
        ot.otlp_endpoint != nt.otlp_endpoint,
        "tracing.otlp_endpoint",
    );
    check(ot.service_name != nt.service_name, "tracing.service_name");
    check(ot.otlp_timeout != nt.otlp_timeout, "tracing.otlp_timeout");
    keys
}
