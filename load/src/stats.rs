//! Latency histograms, their JSON summary, and process facts from /proc.

use hdrhistogram::Histogram;
use serde_json::{Value, json};

/// Microsecond latencies from 1 µs to 60 s, 3 significant digits.
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("static bounds are valid")
}

/// Records a duration in microseconds (at least 1, at most the histogram's bound).
pub(crate) fn record(h: &mut Histogram<u64>, d: std::time::Duration) {
    h.saturating_record((d.as_micros() as u64).max(1));
}

/// Adds `from` into `into` (same bounds, so it cannot fail).
pub(crate) fn merge(into: &mut Histogram<u64>, from: &Histogram<u64>) {
    into.add(from).expect("histograms share bounds");
}

/// p50/p90/p99/p99.9/max in microseconds.
pub(crate) fn summary(h: &Histogram<u64>) -> Value {
    json!({
        "count": h.len(),
        "p50_us": h.value_at_quantile(0.50),
        "p90_us": h.value_at_quantile(0.90),
        "p99_us": h.value_at_quantile(0.99),
        "p999_us": h.value_at_quantile(0.999),
        "max_us": h.max(),
    })
}

/// VmRSS of a process, in KiB.
pub(crate) fn rss_kib(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS line".to_owned())
}

/// The user and system CPU seconds a process has used so far (from
/// /proc/PID/stat).
pub(crate) fn cpu_split(pid: u32) -> Result<(f64, f64), String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // Fields after the parenthesised command name; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok());
    match (ticks(11), ticks(12)) {
        // Clock ticks are 100 per second on every Linux this runs on (USER_HZ).
        (Some(u), Some(s)) => Ok((u / 100.0, s / 100.0)),
        _ => Err(format!("/proc/{pid}/stat: unexpected format")),
    }
}

/// A process and its direct children (nginx's master and its workers).
fn tree(pid: u32) -> Result<Vec<u32>, String> {
    let mut pids = vec![pid];
    let entries = std::fs::read_dir("/proc").map_err(|e| format!("/proc: {e}"))?;
    for entry in entries.filter_map(|e| e.ok()) {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // The parent pid is the second field after the command name.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            pids.push(child);
        }
    }
    Ok(pids)
}

/// [`cpu_split`] of a process and its direct children.
pub(crate) fn tree_cpu_split(pid: u32) -> Result<(f64, f64), String> {
    cpu_split(pid)?;
    Ok(tree(pid)?
        .into_iter()
        .map(|p| cpu_split(p).unwrap_or((0.0, 0.0)))
        .fold((0.0, 0.0), |(u, s), (pu, ps)| (u + pu, s + ps)))
}

/// [`rss_kib`] of a process and its direct children.
pub(crate) fn tree_rss_kib(pid: u32) -> Result<u64, String> {
    rss_kib(pid)?;
    Ok(tree(pid)?
        .into_iter()
        .map(|p| rss_kib(p).unwrap_or(0))
        .sum())
}
