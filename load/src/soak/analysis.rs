//! Sampling the gateway during the soak, and judging whether each series is flat.
//!
//! A series is flat when the drift its least-squares line predicts over the
//! measured part of the run (after the warm-up) is within its noise: at most
//! three standard deviations of the residuals around that line, or a small
//! tolerance of the series' own size, whichever is larger. A leak shows as a
//! steady climb that the line picks up and the noise does not hide.

use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use serde_json::{Value, json};

use super::Args;
use super::slot::Shared;

/// One sample of the gateway.
#[derive(Debug, Clone)]
pub(crate) struct Sample {
    pub(crate) t_secs: f64,
    pub(crate) rss_kib: f64,
    pub(crate) fds: f64,
    pub(crate) tasks: f64,
    pub(crate) backlog_bytes: f64,
    pub(crate) open: f64,
    pub(crate) echo_p99_us: f64,
}

impl Sample {
    pub(crate) fn json(&self) -> Value {
        json!({
            "t_secs": self.t_secs, "rss_kib": self.rss_kib, "fds": self.fds,
            "tasks": self.tasks, "send_backlog_bytes": self.backlog_bytes,
            "connections_open": self.open, "echo_p99_us": self.echo_p99_us,
        })
    }
}

/// The series judged for flatness: name, unit, value, and the tolerance (in
/// the series' unit) below which a drift is not a trend, given the mean.
pub(crate) type Series = (
    &'static str,
    &'static str,
    fn(&Sample) -> f64,
    fn(f64) -> f64,
);

pub(crate) const SERIES: [Series; 4] = [
    ("RSS", "MiB", |s| s.rss_kib / 1024.0, |mean| mean * 0.05),
    (
        "open file descriptors",
        "",
        |s| s.fds,
        |mean| (mean * 0.01).max(10.0),
    ),
    (
        "runtime tasks",
        "",
        |s| s.tasks,
        |mean| (mean * 0.01).max(10.0),
    ),
    (
        "send backlog",
        "KiB",
        |s| s.backlog_bytes / 1024.0,
        |mean| (mean * 0.1).max(64.0),
    ),
];

/// The judgement of one series.
#[derive(Debug, Clone)]
pub(crate) struct Verdict {
    pub(crate) name: &'static str,
    pub(crate) unit: &'static str,
    pub(crate) mean: f64,
    /// Per second, from the fitted line.
    pub(crate) slope: f64,
    pub(crate) intercept: f64,
    pub(crate) drift: f64,
    pub(crate) allowed: f64,
    pub(crate) flat: bool,
}

impl Verdict {
    pub(crate) fn json(&self) -> Value {
        json!({
            "series": self.name, "unit": self.unit, "mean": self.mean,
            "slope_per_hour": self.slope * 3600.0, "drift_over_run": self.drift,
            "allowed_drift": self.allowed, "flat": self.flat,
        })
    }
}

/// Samples every `sample_secs` until `end`; the progress bar shows echoes answered.
pub(crate) async fn sample_until(
    a: &Args,
    shared: &Shared,
    started: Instant,
    end: Instant,
    progress: &crate::progress::Progress,
) -> Vec<Sample> {
    let mut out = Vec::new();
    let every = Duration::from_secs(a.sample_secs.max(1));
    let mut next = started;
    while next <= end {
        tokio::time::sleep_until(next.into()).await;
        let answered = shared
            .counts
            .echo_received
            .load(std::sync::atomic::Ordering::Relaxed);
        progress
            .counter()
            .store(answered, std::sync::atomic::Ordering::Relaxed);
        match sample(a, shared, started).await {
            Ok(s) => out.push(s),
            Err(e) => eprintln!("soak: sample failed: {e}"),
        }
        next += every;
    }
    out
}

async fn sample(a: &Args, shared: &Shared, started: Instant) -> Result<Sample, String> {
    let fds = std::fs::read_dir(format!("/proc/{}/fd", a.pid))
        .map_err(|e| format!("/proc/{}/fd: {e}", a.pid))?
        .count() as f64;
    let rss_kib = crate::stats::rss_kib(a.pid)? as f64;
    let req = hyper::Request::get(&a.metrics)
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .map_err(|e| e.to_string())?;
    let resp = shared.http.request(req).await.map_err(|e| e.to_string())?;
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&body.to_bytes()).into_owned();
    let window = shared.take_window();
    Ok(Sample {
        t_secs: started.elapsed().as_secs_f64(),
        rss_kib,
        fds,
        tasks: metric(&text, "sockgate_runtime_tasks"),
        backlog_bytes: metric(&text, "sockgate_send_backlog_bytes"),
        open: metric(&text, "sockgate_connections_open"),
        echo_p99_us: if window.is_empty() {
            0.0
        } else {
            window.value_at_quantile(0.99) as f64
        },
    })
}

/// The sum of every sample of a metric in a Prometheus text exposition.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Fits a line to each series after the warm-up and judges its drift.
pub(crate) fn judge(samples: &[Sample], warmup_secs: u64) -> Vec<Verdict> {
    let measured: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.t_secs >= warmup_secs as f64)
        .collect();
    SERIES
        .iter()
        .map(|(name, unit, value, tolerance)| {
            let points: Vec<(f64, f64)> = measured.iter().map(|s| (s.t_secs, value(s))).collect();
            let (slope, intercept, sigma, mean) = fit(&points);
            let span = match (points.first(), points.last()) {
                (Some(a), Some(b)) => b.0 - a.0,
                _ => 0.0,
            };
            let drift = slope * span;
            let allowed = (3.0 * sigma).max(tolerance(mean));
            Verdict {
                name,
                unit,
                mean,
                slope,
                intercept,
                drift,
                allowed,
                flat: points.len() >= 3 && drift.abs() <= allowed,
            }
        })
        .collect()
}

/// Least squares: (slope, intercept, residual standard deviation, mean of y).
fn fit(points: &[(f64, f64)]) -> (f64, f64, f64, f64) {
    let n = points.len() as f64;
    if n < 2.0 {
        return (
            0.0,
            points.first().map_or(0.0, |p| p.1),
            0.0,
            points.first().map_or(0.0, |p| p.1),
        );
    }
    let (mx, my) = (
        points.iter().map(|p| p.0).sum::<f64>() / n,
        points.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let intercept = my - slope * mx;
    let residuals: f64 = points
        .iter()
        .map(|p| (p.1 - (intercept + slope * p.0)).powi(2))
        .sum();
    (slope, intercept, (residuals / n).sqrt(), my)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(f: impl Fn(f64) -> f64) -> Vec<Sample> {
        (0..60)
            .map(|i| {
                let t = i as f64 * 10.0;
                Sample {
                    t_secs: t,
                    rss_kib: f(t),
                    fds: 100.0,
                    tasks: 100.0,
                    backlog_bytes: 0.0,
                    open: 10.0,
                    echo_p99_us: 1.0,
                }
            })
            .collect()
    }

    #[test]
    fn a_steady_climb_fails_and_noise_around_a_level_passes() {
        // 100 MiB climbing 10 MiB per minute: a leak.
        let leak = judge(&samples(|t| 102_400.0 + t / 60.0 * 10_240.0), 60);
        assert!(!leak[0].flat, "{:?}", leak[0]);
        // 100 MiB ± 2 MiB of alternating noise: flat.
        let noisy = judge(
            &samples(|t| {
                102_400.0
                    + if (t / 10.0) as i64 % 2 == 0 {
                        2048.0
                    } else {
                        -2048.0
                    }
            }),
            60,
        );
        assert!(noisy.iter().all(|v| v.flat), "{noisy:?}");
    }
}
