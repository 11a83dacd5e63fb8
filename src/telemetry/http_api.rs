//! HTTP API metrics, with AWS's CloudWatch names for HTTP APIs: `Count`,
//! `4xx`, `5xx` (one counter by status class), `Latency`, `IntegrationLatency`
//! and `DataProcessed`. Labelled by stage and route key — never by the raw
//! path, so a scan of random URLs cannot grow the series: requests that match
//! no route share `route="(none)"`, and those for no stage `stage="(none)"`.

use metrics::{Counter, Histogram, Key, Label, Recorder as _};

use super::{ExecutionError, Metrics, metadata};

pub(super) const HTTP_REQUESTS: &str = "sockgate_http_requests_total";
pub(super) const HTTP_LATENCY: &str = "sockgate_http_latency_seconds";
pub(super) const HTTP_INTEGRATION_LATENCY: &str = "sockgate_http_integration_latency_seconds";
pub(super) const HTTP_EXECUTION_ERRORS: &str = "sockgate_http_execution_errors_total";
pub(super) const HTTP_DATA: &str = "sockgate_http_data_processed_bytes_total";

/// The label of requests outside any route or stage.
pub const NONE: &str = "(none)";

/// Status classes counted apart.
const CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Handles for one HTTP route of one stage (or its unmatched requests).
#[derive(Debug, Clone)]
pub struct HttpRouteMetrics {
    requests: [Counter; CLASSES.len()],
    latency: Histogram,
    integration_latency: Histogram,
    data: Counter,
    execution_errors: [Counter; ExecutionError::LABELS.len()],
}

impl HttpRouteMetrics {
    /// Records one answered request: its status, the time from its arrival to
    /// its answer, and the bytes of its body and its answer's (when known).
    pub fn request(&self, status: u16, latency_secs: f64, bytes: u64) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.requests[class].increment(1);
        self.latency.record(latency_secs);
        self.data.increment(bytes);
    }

    /// Records the integration's part of a request.
    pub fn integration(&self, secs: f64) {
        self.integration_latency.record(secs);
    }

    /// Counts a failed integration call.
    pub fn execution_error(&self, kind: ExecutionError) {
        self.execution_errors[kind as usize].increment(1);
    }
}

impl Metrics {
    /// Registers the handles for an HTTP route of a stage ([`NONE`] for the
    /// requests that match none).
    pub fn http_route(&self, stage: &str, route: &str) -> HttpRouteMetrics {
        let labels = || {
            vec![
                Label::new("stage", stage.to_owned()),
                Label::new("route", route.to_owned()),
            ]
        };
        let histogram = |name: &'static str| {
            self.recorder
                .register_histogram(&Key::from_parts(name, labels()), &metadata())
        };
        HttpRouteMetrics {
            requests: CLASSES.map(|c| {
                let mut l = labels();
                l.push(Label::new("status", c));
                self.counter(HTTP_REQUESTS, l)
            }),
            latency: histogram(HTTP_LATENCY),
            integration_latency: histogram(HTTP_INTEGRATION_LATENCY),
            data: self.counter(HTTP_DATA, labels()),
            execution_errors: ExecutionError::LABELS.map(|kind| {
                let mut l = labels();
                l.push(Label::new("kind", kind));
                self.counter(HTTP_EXECUTION_ERRORS, l)
            }),
        }
    }
}
