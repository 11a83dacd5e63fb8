//! Metrics and logging setup. Every metric name is defined here, once.
//!
//! Each gateway owns its own Prometheus recorder (no global recorder), so several
//! gateways in one test process do not mix their figures. Handles are registered
//! up front — per stage and per route, both known at config load — so the hot path
//! increments an atomic and never looks a key up. Labels are low-cardinality by
//! construction: stage, route key, outcome; never a connection id.
//!
//! Names follow AWS's CloudWatch metrics where one exists: `ConnectCount` →
//! `sockgate_connects_total`, `MessageCount` → `sockgate_messages_total`,
//! `IntegrationLatency`, `IntegrationError`, `ClientError`, `ExecutionError`;
//! for the HTTP API `Count`/`4xx`/`5xx`, `Latency`, `IntegrationLatency`,
//! `DataProcessed` (`http_api`).

use metrics::{Counter, Gauge, Histogram, Key, Label, Recorder as _};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

use crate::conn::CloseReason;

pub mod access;
mod access_file;
pub mod access_format;
mod feed;
mod functions;
mod help;
mod http_api;
mod log_limit;
mod logfmt;

pub use access_file::reopen as reopen_access_log;
pub use feed::{Feed, MAX_VIEWERS, SAMPLE_EVERY, Sample, Viewer};
pub use functions::{FunctionMetrics, FunctionOutcome, RestartReason};
pub use http_api::{HttpRouteMetrics, NONE as HTTP_NONE};
pub use log_limit::LogLimit;

const CONNECTIONS_OPEN: &str = "sockgate_connections_open";
const CONNECTS: &str = "sockgate_connects_total";
const DISCONNECTS: &str = "sockgate_disconnects_total";
const MESSAGES: &str = "sockgate_messages_total";
const CLIENT_ERRORS: &str = "sockgate_client_errors_total";
const THROTTLED: &str = "sockgate_throttled_total";
const THROTTLE_FALLBACKS: &str = "sockgate_throttle_fallbacks_total";
const QUEUE_REJECTIONS: &str = "sockgate_send_queue_rejections_total";
const FANOUT: &str = "sockgate_fanout_deliveries_total";
const CLUSTER_UP: &str = "sockgate_cluster_up";
const CLUSTER_MESSAGES: &str = "sockgate_cluster_messages_total";
const CLUSTER_DROPPED: &str = "sockgate_cluster_dropped_total";
const CLUSTER_REAPED: &str = "sockgate_cluster_reaped_connections_total";
const CLUSTER_EXPIRED: &str = "sockgate_cluster_expired_total";
const CLUSTER_DUPLICATES: &str = "sockgate_cluster_duplicates_total";
const INTEGRATION_LATENCY: &str = "sockgate_integration_latency_seconds";
const INTEGRATION_ERRORS: &str = "sockgate_integration_errors_total";
const EXECUTION_ERRORS: &str = "sockgate_execution_errors_total";
const MANAGEMENT_REQUESTS: &str = "sockgate_management_requests_total";
const LISTENER_REFUSED: &str = "sockgate_listener_refused_total";
const RUNTIME_TASKS: &str = "sockgate_runtime_tasks";
const CONFIG_RELOADS: &str = "sockgate_config_reloads_total";
const CONFIG_GENERATION: &str = "sockgate_config_generation";
const CONFIG_INFO: &str = "sockgate_config_info";
const SEND_BACKLOG: &str = "sockgate_send_backlog_bytes";
const DEFLATE_MESSAGES: &str = "sockgate_deflate_messages_total";
const DEFLATE_BYTES: &str = "sockgate_deflate_bytes_total";

/// Seconds; spans a mock reply to the 29 s integration ceiling.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 29.0,
];

/// How a `$connect` attempt ended (label `outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectOutcome {
    /// Upgraded.
    Accepted,
    /// The integration answered a non-2xx status.
    Rejected,
    /// The integration failed (502).
    IntegrationFailed,
    /// The integration timed out (504).
    IntegrationTimeout,
    /// The node is at `max_connections` or draining (503).
    Unavailable,
    /// Refused by the Origin check, the API key or the authorizer (401/403).
    Unauthorized,
    /// The authorizer failed or timed out (5xx, fail closed).
    AuthorizerFailed,
    /// Over a per-IP cap (429).
    Throttled,
}

impl ConnectOutcome {
    const LABELS: [&'static str; 8] = [
        "accepted",
        "rejected",
        "integration_failed",
        "integration_timeout",
        "unavailable",
        "unauthorized",
        "authorizer_failed",
        "throttled",
    ];
}

/// A client mistake the gateway answered itself (AWS `ClientError`; label `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientError {
    /// No route and no `$default`: the Forbidden frame.
    NoRoute,
    /// A malformed upgrade request.
    BadHandshake,
    /// A message or body that does not match its route's model, or a
    /// request without a required parameter.
    BadRequest,
}

impl ClientError {
    const LABELS: [&'static str; 3] = ["no_route", "bad_handshake", "bad_request"];
}

/// An integration call that did not produce a usable answer (label `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionError {
    /// No answer within the integration timeout.
    Timeout,
    /// Connection refused, reset, non-2xx invocation status, or a malformed response.
    Failed,
    /// A Lambda function ran and failed (`X-Amz-Function-Error`).
    FunctionError,
    /// Lambda throttled the call (429).
    Throttled,
    /// Lambda's own 5xx.
    ServiceError,
    /// The event or the result is over Lambda's 6 MB limit.
    TooLarge,
}

impl ExecutionError {
    /// Label values, in the variants' order.
    pub const LABELS: [&'static str; 6] = [
        "timeout",
        "failed",
        "function_error",
        "throttled",
        "service_error",
        "too_large",
    ];

    /// Its label value.
    pub fn label(self) -> &'static str {
        Self::LABELS[self as usize]
    }
}

/// The process-wide metrics registry for one gateway.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    /// @connections counters by [method][status], registered up front: a POST is a
    /// hot path and must not allocate labels or hash a key per request.
    management: [[Counter; MANAGEMENT_STATUSES.len()]; MANAGEMENT_METHODS.len()],
    /// Connections closed at accept, by [listener][reason].
    refused: [[Counter; REFUSAL_REASONS.len()]; LISTENERS.len()],
    /// Tasks alive in the runtime, as of the last scrape.
    tasks: Gauge,
    /// Bytes queued for clients and not yet written, all connections, as of the last scrape.
    backlog: Gauge,
    /// Config reloads by outcome: applied, rejected.
    reloads: [Counter; 2],
    /// The serving config generation.
    generation: Gauge,
    /// permessage-deflate's process-wide totals, set at scrape time.
    deflate: [Counter; 6],
}

/// `sockgate_deflate_*`, in `ws::DeflateTotals`' order.
fn deflate_counters(recorder: &PrometheusRecorder) -> [Counter; 6] {
    let labels = |direction: &'static str, form: Option<&'static str>| {
        let mut l = vec![Label::new("direction", direction)];
        l.extend(form.map(|f| Label::new("form", f)));
        l
    };
    let keys = [
        (DEFLATE_MESSAGES, labels("out", None)),
        (DEFLATE_BYTES, labels("out", Some("uncompressed"))),
        (DEFLATE_BYTES, labels("out", Some("compressed"))),
        (DEFLATE_MESSAGES, labels("in", None)),
        (DEFLATE_BYTES, labels("in", Some("compressed"))),
        (DEFLATE_BYTES, labels("in", Some("uncompressed"))),
    ];
    keys.map(|(name, l)| recorder.register_counter(&Key::from_parts(name, l), &metadata()))
}

/// The listeners, as labelled in metrics.
pub const LISTENERS: [&str; 3] = ["public", "management", "metrics"];
/// Why a listener closed a connection at accept (`server::limits::Full`).
pub const REFUSAL_REASONS: [&str; 2] = ["listener_full", "address_full"];

/// Methods the @connections counters distinguish (anything else is "other").
const MANAGEMENT_METHODS: [&str; 5] = ["POST", "GET", "DELETE", "PUT", "other"];
/// Every status the @connections API answers with (see `http::respond::ApiError`).
pub(crate) const MANAGEMENT_STATUSES: [u16; 12] =
    [200, 204, 400, 403, 404, 405, 408, 410, 413, 422, 429, 503];

/// Handles for one stage.
#[derive(Debug, Clone)]
pub struct StageMetrics {
    /// Open connections.
    pub connections_open: Gauge,
    connects: [Counter; ConnectOutcome::LABELS.len()],
    disconnects: [Counter; CloseReason::LABELS.len()],
    client_errors: [Counter; 3],
    throttled: [Counter; crate::throttle::Level::LABELS.len()],
    throttle_fallbacks: Counter,
    /// Messages sent to clients (replies, pushes, error frames).
    pub messages_out: Counter,
    /// @connections POSTs refused because the connection's queue was full.
    pub queue_rejections: Counter,
    /// Group sends and broadcasts: receivers on this node whose queue took the message.
    pub fanout_queued: Counter,
    /// Group sends and broadcasts: receivers skipped because their queue was full.
    pub fanout_dropped: Counter,
}

/// Handles for one route of one stage.
#[derive(Debug, Clone)]
pub struct RouteMetrics {
    /// Messages received on this route.
    pub messages_in: Counter,
    /// Integration latency.
    pub latency: Histogram,
    /// Integration answered a 4xx/5xx `statusCode`.
    pub integration_errors: Counter,
    /// By [`ExecutionError`].
    execution_errors: [Counter; ExecutionError::LABELS.len()],
}

/// Handles for the cluster link (registered only when a cluster is configured).
#[derive(Debug, Clone)]
pub struct ClusterMetrics {
    /// 1 while the fan-out path (Redis, proven by the self-probe) works.
    pub up: Gauge,
    /// Messages received from Redis, by [`ClusterMetrics::KINDS`].
    pub received: [Counter; 5],
    /// Messages published to Redis, by [`ClusterMetrics::KINDS`].
    pub published: [Counter; 5],
    /// Messages from Redis dropped because the node could not keep up.
    pub dropped: Counter,
    /// Requests and fan-out messages dropped because they arrived after their
    /// deadline (their sender had answered 503), or too late to be told from
    /// a copy.
    pub expired: Counter,
    /// Second copies of requests and fan-out messages, dropped (Redis handed
    /// one over twice).
    pub duplicates: Counter,
    /// `$disconnect`s this node delivered for connections of lost nodes.
    pub reaped: Counter,
}

impl ClusterMetrics {
    /// Message kinds: requests and replies between nodes, group sends, stage
    /// broadcasts, self-probes.
    pub const KINDS: [&'static str; 5] = ["request", "reply", "group", "stage", "probe"];
}

// === impl Metrics ===

impl Metrics {
    /// A fresh registry with descriptions for every metric.
    pub fn new() -> Metrics {
        let recorder = PrometheusBuilder::new()
            .set_buckets(LATENCY_BUCKETS)
            .map(PrometheusBuilder::build_recorder)
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        let management = MANAGEMENT_METHODS.map(|method| {
            MANAGEMENT_STATUSES.map(|status| {
                let labels = vec![
                    Label::new("method", method),
                    Label::new("status", status.to_string()),
                ];
                recorder
                    .register_counter(&Key::from_parts(MANAGEMENT_REQUESTS, labels), &metadata())
            })
        });
        let refused = LISTENERS.map(|listener| {
            REFUSAL_REASONS.map(|reason| {
                let labels = vec![
                    Label::new("listener", listener),
                    Label::new("reason", reason),
                ];
                recorder.register_counter(&Key::from_parts(LISTENER_REFUSED, labels), &metadata())
            })
        });
        let tasks = recorder.register_gauge(&Key::from_name(RUNTIME_TASKS), &metadata());
        let backlog = recorder.register_gauge(&Key::from_name(SEND_BACKLOG), &metadata());
        let reloads = ["applied", "rejected"].map(|outcome| {
            let labels = vec![Label::new("outcome", outcome)];
            recorder.register_counter(&Key::from_parts(CONFIG_RELOADS, labels), &metadata())
        });
        let generation = recorder.register_gauge(&Key::from_name(CONFIG_GENERATION), &metadata());
        let deflate = deflate_counters(&recorder);
        let m = Metrics {
            recorder,
            handle,
            management,
            refused,
            tasks,
            backlog,
            reloads,
            generation,
            deflate,
        };
        help::describe(&m.recorder);
        m
    }

    fn counter(&self, name: &'static str, labels: Vec<Label>) -> Counter {
        self.recorder
            .register_counter(&Key::from_parts(name, labels), &metadata())
    }

    /// Registers the cluster link's handles.
    pub fn cluster(&self) -> ClusterMetrics {
        let kind = |direction: &'static str, k: &'static str| {
            self.counter(
                CLUSTER_MESSAGES,
                vec![Label::new("direction", direction), Label::new("kind", k)],
            )
        };
        ClusterMetrics {
            up: self
                .recorder
                .register_gauge(&Key::from_name(CLUSTER_UP), &metadata()),
            received: ClusterMetrics::KINDS.map(|k| kind("in", k)),
            published: ClusterMetrics::KINDS.map(|k| kind("out", k)),
            dropped: self.counter(CLUSTER_DROPPED, vec![]),
            expired: self.counter(CLUSTER_EXPIRED, vec![]),
            duplicates: self.counter(CLUSTER_DUPLICATES, vec![]),
            reaped: self.counter(CLUSTER_REAPED, vec![]),
        }
    }

    /// Registers the handles for a stage.
    pub fn stage(&self, stage: &str) -> StageMetrics {
        let s = || Label::new("stage", stage.to_owned());
        StageMetrics {
            connections_open: self
                .recorder
                .register_gauge(&Key::from_parts(CONNECTIONS_OPEN, vec![s()]), &metadata()),
            connects: ConnectOutcome::LABELS
                .map(|o| self.counter(CONNECTS, vec![s(), Label::new("outcome", o)])),
            disconnects: CloseReason::LABELS
                .map(|r| self.counter(DISCONNECTS, vec![s(), Label::new("reason", r)])),
            client_errors: ClientError::LABELS
                .map(|k| self.counter(CLIENT_ERRORS, vec![s(), Label::new("kind", k)])),
            throttled: crate::throttle::Level::LABELS
                .map(|l| self.counter(THROTTLED, vec![s(), Label::new("level", l)])),
            throttle_fallbacks: self.counter(THROTTLE_FALLBACKS, vec![s()]),
            messages_out: self.counter(MESSAGES, vec![s(), Label::new("direction", "out")]),
            queue_rejections: self.counter(QUEUE_REJECTIONS, vec![s()]),
            fanout_queued: self.counter(FANOUT, vec![s(), Label::new("outcome", "queued")]),
            fanout_dropped: self.counter(FANOUT, vec![s(), Label::new("outcome", "dropped")]),
        }
    }

    /// Registers the handles for a route of a stage.
    pub fn route(&self, stage: &str, route: &str) -> RouteMetrics {
        let labels = || {
            vec![
                Label::new("stage", stage.to_owned()),
                Label::new("route", route.to_owned()),
            ]
        };
        let with = |k: &'static str, v: &'static str| {
            let mut l = labels();
            l.push(Label::new(k, v));
            l
        };
        RouteMetrics {
            messages_in: self.counter(MESSAGES, with("direction", "in")),
            latency: self
                .recorder
                .register_histogram(&Key::from_parts(INTEGRATION_LATENCY, labels()), &metadata()),
            integration_errors: self.counter(INTEGRATION_ERRORS, labels()),
            execution_errors: ExecutionError::LABELS
                .map(|kind| self.counter(EXECUTION_ERRORS, with("kind", kind))),
        }
    }

    /// Counts a connection closed at accept: `listener` and `reason` index
    /// [`LISTENERS`] and [`REFUSAL_REASONS`].
    pub fn listener_refused(&self, listener: usize, reason: usize) {
        self.refused[listener][reason].increment(1);
    }

    /// Records the configuration serving at start.
    pub fn config_started(&self, digest: &str) {
        self.generation.set(1.0);
        self.config_info(digest).set(1.0);
    }

    /// Records an applied reload: `generation` serves now, `digest` replaced `old`.
    pub fn config_applied(&self, generation: u64, old: &str, digest: &str) {
        self.reloads[0].increment(1);
        self.generation.set(generation as f64);
        if old != digest {
            self.config_info(old).set(0.0);
        }
        self.config_info(digest).set(1.0);
    }

    /// Counts a rejected reload.
    pub fn config_rejected(&self) {
        self.reloads[1].increment(1);
    }

    fn config_info(&self, digest: &str) -> Gauge {
        let labels = vec![Label::new("digest", digest.to_owned())];
        self.recorder
            .register_gauge(&Key::from_parts(CONFIG_INFO, labels), &metadata())
    }

    /// Counts one @connections request.
    pub fn management_request(&self, method: &http::Method, status: u16) {
        let m = match *method {
            http::Method::POST => 0,
            http::Method::GET => 1,
            http::Method::DELETE => 2,
            http::Method::PUT => 3,
            _ => 4,
        };
        match MANAGEMENT_STATUSES.iter().position(|s| *s == status) {
            Some(i) => self.management[m][i].increment(1),
            // Not reachable with today's ApiError; registered on the fly rather than lost.
            None => {
                let labels = vec![
                    Label::new("method", MANAGEMENT_METHODS[m]),
                    Label::new("status", status.to_string()),
                ];
                self.counter(MANAGEMENT_REQUESTS, labels).increment(1);
            }
        }
    }

    /// Folds the samples histograms recorded since the last call into their
    /// buckets, so they do not accumulate between scrapes.
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// The exposition as it stands, without reading the scrape-time gauges
    /// (the dashboard's sampler: it must not walk every connection).
    pub fn render_current(&self) -> String {
        self.handle.render()
    }

    /// The Prometheus text exposition. `tasks` and `backlog_bytes` are read by
    /// the caller at scrape time (they are sums, not events to count).
    pub fn render(&self, tasks: usize, backlog_bytes: usize) -> String {
        self.tasks.set(tasks as f64);
        self.backlog.set(backlog_bytes as f64);
        let t = crate::ws::deflate_totals();
        let values = [
            t.deflated,
            t.deflated_from,
            t.deflated_to,
            t.inflated,
            t.inflated_from,
            t.inflated_to,
        ];
        for (counter, value) in self.deflate.iter().zip(values) {
            counter.absolute(value);
        }
        self.handle.render()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

fn metadata() -> metrics::Metadata<'static> {
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, None)
}

// === impl StageMetrics ===

impl StageMetrics {
    /// Counts a `$connect` outcome.
    pub fn connect(&self, outcome: ConnectOutcome) {
        self.connects[outcome as usize].increment(1);
    }

    /// Counts an ended connection.
    pub fn disconnect(&self, reason: &CloseReason) {
        self.disconnects[reason.index()].increment(1);
    }

    /// Counts a client error.
    pub fn client_error(&self, kind: ClientError) {
        self.client_errors[kind as usize].increment(1);
    }

    /// Counts a cluster-wide throttling decision made without Redis.
    pub fn throttle_fallback(&self) {
        self.throttle_fallbacks.increment(1);
    }

    /// Counts a throttled request or message, by the level that throttled it.
    pub fn throttled(&self, level: crate::throttle::Level) {
        self.throttled[level as usize].increment(1);
    }
}

// === impl RouteMetrics ===

impl RouteMetrics {
    /// Counts an execution error.
    pub fn execution_error(&self, kind: ExecutionError) {
        self.execution_errors[kind as usize].increment(1);
    }
}

/// Installs the tracing subscriber: `SOCKGATE_LOG` (or `RUST_LOG`) filters,
/// `SOCKGATE_LOG_FORMAT=json` writes one JSON object per line, and
/// `SOCKGATE_ACCESS_LOG_FILE` takes the access lines.
pub fn init_logging() -> Result<(), String> {
    use tracing_subscriber::EnvFilter;
    // An invalid filter is an error, not silence: a node started to debug
    // something must not run without the logs its operator asked for.
    let filter = match std::env::var("SOCKGATE_LOG") {
        Ok(f) => EnvFilter::try_new(&f).map_err(|e| format!("SOCKGATE_LOG={f:?}: {e}"))?,
        Err(_) => match std::env::var("RUST_LOG") {
            Ok(f) => EnvFilter::try_new(&f).map_err(|e| format!("RUST_LOG={f:?}: {e}"))?,
            Err(_) => EnvFilter::new("info"),
        },
    };
    // Colour only for a person at a terminal: log files and collectors get plain
    // text. NO_COLOR (https://no-color.org) turns it off at a terminal too.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    // `SOCKGATE_ACCESS_LOG_FILE`: access lines go to that file (SIGUSR1
    // reopens it), the rest to stderr.
    if let Some(path) = std::env::var_os("SOCKGATE_ACCESS_LOG_FILE").filter(|p| !p.is_empty()) {
        access_file::install(path.into()).map_err(|e| format!("SOCKGATE_ACCESS_LOG_FILE: {e}"))?;
    }
    // A file gets no colour codes: with one, there are none at all.
    let ansi = ansi && !access_file::installed();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(access_file::Writers);
    let json = std::env::var("SOCKGATE_LOG_FORMAT").is_ok_and(|f| f == "json");
    // Already set (a test process that started several gateways): kept.
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.fmt_fields(logfmt::fields()).try_init()
    };
    Ok(())
}
