//! The dashboard's figures, computed from two readings of `/metrics` taken a
//! sample apart: totals as `/metrics` has them now, counters as rates per
//! second over the interval, integration latency p50/p99 from the histogram
//! buckets filled during it (interpolated within a bucket, as Prometheus's
//! `histogram_quantile` does), errors by kind.
//!
//! Bounded: a map keyed by route keeps the [`MAX_KEYS`] busiest and adds the
//! rest up under [`OTHER`], so a sample's size (and the 15 minutes of history
//! the node keeps, see `telemetry::Feed`) does not grow with the routes.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::expo::Series;

/// Routes (or route and status class) kept per map; more are summed as [`OTHER`].
const MAX_KEYS: usize = 24;
/// The key of what [`MAX_KEYS`] left out.
pub(crate) const OTHER: &str = "(other)";

/// One reading of the exposition, and when it was taken.
#[derive(Debug)]
pub(crate) struct Reading {
    pub(crate) at_ms: u64,
    pub(crate) series: Vec<Series>,
    /// Each series' value by `name` and labels, to find it in the next reading.
    index: HashMap<String, f64>,
}

impl Reading {
    pub(crate) fn new(at_ms: u64, series: Vec<Series>) -> Reading {
        let index = series.iter().map(|s| (key_of(s), s.value)).collect();
        Reading {
            at_ms,
            series,
            index,
        }
    }

    fn named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Series> + 'a {
        self.series.iter().filter(move |s| s.name == name)
    }

    fn sum(&self, name: &str, keep: impl Fn(&Series) -> bool) -> f64 {
        self.named(name).filter(|s| keep(s)).map(|s| s.value).sum()
    }
}

fn key_of(s: &Series) -> String {
    let mut k = s.name.clone();
    for (name, value) in &s.labels {
        k.push('\0');
        k.push_str(name);
        k.push('\0');
        k.push_str(value);
    }
    k
}

/// What the dashboard plots and shows.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Figures {
    /// As `/metrics` has them now.
    pub(crate) totals: Totals,
    /// Open connections by stage, on this node.
    pub(crate) connections: BTreeMap<String, f64>,
    /// `$connect`s accepted and connections ended, per second.
    pub(crate) connects: f64,
    pub(crate) disconnects: f64,
    /// Messages received per second, by `stage route` (idle ones left out,
    /// here and in the next two).
    pub(crate) messages_in: BTreeMap<String, f64>,
    /// Messages sent to clients per second, by stage.
    pub(crate) messages_out: BTreeMap<String, f64>,
    /// HTTP requests per second, by `stage route` and status class.
    pub(crate) http: BTreeMap<String, BTreeMap<String, f64>>,
    /// Integration latency over the interval, by `ws|http stage route`.
    pub(crate) latency: BTreeMap<String, Quantiles>,
    /// Errors per second, by kind.
    pub(crate) errors: BTreeMap<&'static str, f64>,
    /// Hosted functions, by name.
    pub(crate) functions: BTreeMap<String, FunctionFigures>,
}

/// Running totals, for the tiles (and for checking against `/metrics`).
#[derive(Debug, Default, Serialize)]
pub(crate) struct Totals {
    pub(crate) connections: f64,
    pub(crate) connects: f64,
    pub(crate) messages_in: f64,
    pub(crate) messages_out: f64,
    pub(crate) http_requests: f64,
}

/// Milliseconds; `None` when nothing was recorded in the interval.
#[derive(Debug, Default, Serialize, PartialEq)]
pub(crate) struct Quantiles {
    pub(crate) p50: Option<f64>,
    pub(crate) p99: Option<f64>,
}

/// A hosted function's workers now and its invocations per second.
#[derive(Debug, Default, Serialize)]
pub(crate) struct FunctionFigures {
    pub(crate) busy: f64,
    pub(crate) waiting: f64,
    pub(crate) invocations: f64,
    pub(crate) restarts: f64,
}

/// Error kinds and what counts in each (metric, label, values; empty: all).
/// The HTTP API's refusals are in its plot by status class.
const ERROR_KINDS: [(&str, &str, &str, &[&str]); 10] = [
    (
        "client",
        "sockgate_client_errors_total",
        "kind",
        &["no_route", "bad_handshake"],
    ),
    (
        "validation",
        "sockgate_client_errors_total",
        "kind",
        &["bad_request"],
    ),
    ("integration", "sockgate_integration_errors_total", "", &[]),
    ("integration", "sockgate_execution_errors_total", "", &[]),
    (
        "integration",
        "sockgate_http_execution_errors_total",
        "",
        &[],
    ),
    (
        "integration",
        "sockgate_connects_total",
        "outcome",
        &["integration_failed", "integration_timeout"],
    ),
    ("throttled", "sockgate_throttled_total", "", &[]),
    (
        "throttled",
        "sockgate_connects_total",
        "outcome",
        &["throttled"],
    ),
    (
        "auth",
        "sockgate_connects_total",
        "outcome",
        &["unauthorized", "authorizer_failed"],
    ),
    (
        "unavailable",
        "sockgate_connects_total",
        "outcome",
        &["unavailable"],
    ),
];

/// The figures of `cur`, with rates over the interval since `prev` (none
/// for the first reading).
pub(crate) fn compute(prev: Option<&Reading>, cur: &Reading) -> Figures {
    let mut f = Figures {
        totals: totals(cur),
        ..Figures::default()
    };
    for s in cur.named("sockgate_connections_open") {
        *f.connections
            .entry(s.label("stage").to_owned())
            .or_default() += s.value;
    }
    for s in cur.named("sockgate_function_busy_workers") {
        f.functions
            .entry(s.label("function").to_owned())
            .or_default()
            .busy = s.value;
    }
    for s in cur.named("sockgate_function_waiting_invocations") {
        f.functions
            .entry(s.label("function").to_owned())
            .or_default()
            .waiting = s.value;
    }
    for s in cur.named("sockgate_function_worker_restarts_total") {
        f.functions
            .entry(s.label("function").to_owned())
            .or_default()
            .restarts += s.value;
    }
    let Some(prev) = prev else { return f };
    let secs = cur.at_ms.saturating_sub(prev.at_ms) as f64 / 1000.0;
    if secs <= 0.0 {
        return f;
    }
    let rate =
        |s: &Series| (s.value - prev.index.get(&key_of(s)).copied().unwrap_or(0.0)).max(0.0) / secs;
    let rates = |name: &'static str| cur.named(name).map(move |s| (s, rate(s)));
    f.connects = rates("sockgate_connects_total")
        .filter(|(s, _)| s.label("outcome") == "accepted")
        .map(|(_, r)| r)
        .sum();
    f.disconnects = rates("sockgate_disconnects_total").map(|(_, r)| r).sum();
    let mut messages_in = BTreeMap::new();
    for (s, r) in rates("sockgate_messages_total") {
        if s.label("direction") == "in" {
            *messages_in.entry(stage_route(s)).or_default() += r;
        } else {
            *f.messages_out
                .entry(s.label("stage").to_owned())
                .or_default() += r;
        }
    }
    // Idle routes are left out (the page reads a missing rate as zero).
    messages_in.retain(|_, r| *r > 0.0);
    f.messages_out.retain(|_, r| *r > 0.0);
    f.messages_in = busiest(messages_in);
    let mut http: BTreeMap<String, BTreeMap<String, f64>> = BTreeMap::new();
    for (s, r) in rates("sockgate_http_requests_total") {
        *http
            .entry(stage_route(s))
            .or_default()
            .entry(class(s.label("status")))
            .or_default() += r;
    }
    for classes in http.values_mut() {
        classes.retain(|_, r| *r > 0.0);
    }
    http.retain(|_, classes| !classes.is_empty());
    f.http = busiest_by(http, |m| m.values().sum());
    for (kind, name, label, values) in ERROR_KINDS {
        let e = rates(name)
            .filter(|(s, _)| values.is_empty() || values.contains(&s.label(label)))
            .map(|(_, r)| r)
            .sum::<f64>();
        *f.errors.entry(kind).or_default() += e;
    }
    for (s, r) in rates("sockgate_function_invocations_total") {
        f.functions
            .entry(s.label("function").to_owned())
            .or_default()
            .invocations += r;
    }
    f.latency = latencies(prev, cur);
    f
}

fn totals(cur: &Reading) -> Totals {
    let direction = |d: &'static str| move |s: &Series| s.label("direction") == d;
    Totals {
        connections: cur.sum("sockgate_connections_open", |_| true),
        connects: cur.sum("sockgate_connects_total", |s| {
            s.label("outcome") == "accepted"
        }),
        messages_in: cur.sum("sockgate_messages_total", direction("in")),
        messages_out: cur.sum("sockgate_messages_total", direction("out")),
        http_requests: cur.sum("sockgate_http_requests_total", |_| true),
    }
}

fn stage_route(s: &Series) -> String {
    format!("{} {}", s.label("stage"), s.label("route"))
}

/// `404` → `4xx`; a class label stays as it is.
fn class(status: &str) -> String {
    match status.as_bytes().first() {
        Some(c @ b'1'..=b'5') => format!("{}xx", *c as char),
        _ => status.to_owned(),
    }
}

fn busiest(map: BTreeMap<String, f64>) -> BTreeMap<String, f64> {
    busiest_by(map, |v| *v)
}

/// The [`MAX_KEYS`] entries with the largest `weight`, and the rest summed
/// under [`OTHER`] (values are added; maps key by key).
fn busiest_by<V: Merge>(
    map: BTreeMap<String, V>,
    weight: impl Fn(&V) -> f64,
) -> BTreeMap<String, V> {
    if map.len() <= MAX_KEYS {
        return map;
    }
    let mut entries: Vec<(String, V)> = map.into_iter().collect();
    entries.sort_by(|a, b| weight(&b.1).total_cmp(&weight(&a.1)));
    let rest = entries.split_off(MAX_KEYS - 1);
    let mut kept: BTreeMap<String, V> = entries.into_iter().collect();
    for (_, v) in rest {
        kept.entry(OTHER.to_owned())
            .or_insert_with(V::zero)
            .merge(v);
    }
    kept
}

trait Merge {
    fn zero() -> Self;
    fn merge(&mut self, other: Self);
}

impl Merge for f64 {
    fn zero() -> Self {
        0.0
    }
    fn merge(&mut self, other: Self) {
        *self += other;
    }
}

impl Merge for BTreeMap<String, f64> {
    fn zero() -> Self {
        BTreeMap::new()
    }
    fn merge(&mut self, other: Self) {
        for (k, v) in other {
            *self.entry(k).or_default() += v;
        }
    }
}

/// p50/p99 by route, of the samples recorded between the two readings.
fn latencies(prev: &Reading, cur: &Reading) -> BTreeMap<String, Quantiles> {
    let mut buckets: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
    for (side, name) in [
        ("ws", "sockgate_integration_latency_seconds_bucket"),
        ("http", "sockgate_http_integration_latency_seconds_bucket"),
    ] {
        for s in cur.named(name) {
            let le = match s.label("le") {
                "+Inf" => f64::INFINITY,
                v => match v.parse() {
                    Ok(le) => le,
                    Err(_) => continue,
                },
            };
            let before = prev.index.get(&key_of(s)).copied().unwrap_or(0.0);
            let key = format!("{side} {}", stage_route(s));
            buckets
                .entry(key)
                .or_default()
                .push((le, (s.value - before).max(0.0)));
        }
    }
    let mut out: BTreeMap<String, Quantiles> = buckets
        .into_iter()
        .filter_map(|(k, mut b)| {
            b.sort_by(|x, y| x.0.total_cmp(&y.0));
            let q = Quantiles {
                p50: quantile(&b, 0.5),
                p99: quantile(&b, 0.99),
            };
            q.p50.is_some().then_some((k, q))
        })
        .collect();
    if out.len() > MAX_KEYS {
        // The slowest are kept: they are what an operator looks for.
        let mut v: Vec<_> = std::mem::take(&mut out).into_iter().collect();
        v.sort_by(|a, b| b.1.p99.unwrap_or(0.0).total_cmp(&a.1.p99.unwrap_or(0.0)));
        out = v.into_iter().take(MAX_KEYS).collect();
    }
    out
}

/// The `q` quantile in milliseconds of cumulative `(le, count)` buckets,
/// sorted by `le`; `None` with no samples.
fn quantile(buckets: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = buckets.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lower, mut below) = (0.0, 0.0);
    for &(le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                // Past the last finite bound: that bound is all that is known.
                return Some(lower * 1000.0);
            }
            let within = if count > below {
                (rank - below) / (count - below)
            } else {
                1.0
            };
            return Some((lower + (le - lower) * within) * 1000.0);
        }
        (lower, below) = (le, count);
    }
    Some(lower * 1000.0)
}

#[cfg(test)]
#[path = "figures_tests.rs"]
mod tests;
