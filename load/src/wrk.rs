//! `wrk`: the `http` case's measurement made by the common load tool,
//! `wrk` (Debian's package), so a result reads as users measure it: wrk's
//! `-t` threads and `-c` keep-alive connections request the path through the
//! proxy (sockgate, or nginx as the baseline) from the load tool's own
//! backend. A warm-up run first, then the measured one with `--latency`;
//! wrk's requests per second and latency percentiles are reported, and its
//! non-2xx answers and socket errors as errors.

use std::process::Command;

use serde_json::json;

use crate::Outcome;

#[derive(clap::Args, Clone)]
pub(crate) struct Args {
    /// The proxy, the path, wrk's `-c`, the run's length, the backend.
    #[command(flatten)]
    run: crate::http::Proxied,
    /// wrk's `-t`: its threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

pub(crate) async fn run(a: Args) -> Result<Outcome, String> {
    let server = crate::http::backend(&a.run.backend, "plain", a.run.body_bytes, None).await?;
    let url = format!("http://{}{}", a.run.target, a.run.path);
    wrk(&a, &url, a.run.warmup_secs).await?;
    let out = wrk(&a, &url, a.run.duration_secs).await?;
    if let Some(s) = server {
        s.abort();
    }
    let r = parse(&out).ok_or_else(|| format!("wrk's output was not understood:\n{out}"))?;
    let json = json!({
        "scenario": "wrk",
        "connections": a.run.connections,
        "threads": a.threads,
        "seconds": a.run.duration_secs,
        "warmup_seconds": a.run.warmup_secs,
        "requests": r.requests,
        "requests_per_sec": r.per_sec,
        "errors": r.errors,
        "body_bytes": a.run.body_bytes,
        "latency": {
            "p50_us": r.p50_us, "p75_us": r.p75_us, "p90_us": r.p90_us, "p99_us": r.p99_us,
        },
    });
    Ok(Outcome::without_latency(json))
}

/// Runs wrk for `secs` and returns what it printed.
async fn wrk(a: &Args, url: &str, secs: u64) -> Result<String, String> {
    let mut cmd = Command::new("wrk");
    cmd.arg(format!("-t{}", a.threads))
        .arg(format!("-c{}", a.run.connections))
        .arg(format!("-d{}s", secs.max(1)))
        .args(["--latency", url]);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("wrk: {e} (apt-get install wrk)"))?;
    if !out.status.success() {
        return Err(format!("wrk: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[derive(Debug, PartialEq)]
struct Report {
    requests: u64,
    per_sec: f64,
    errors: u64,
    p50_us: u64,
    p75_us: u64,
    p90_us: u64,
    p99_us: u64,
}

/// Reads wrk's report (`--latency`).
fn parse(out: &str) -> Option<Report> {
    let mut r = Report {
        requests: 0,
        per_sec: 0.0,
        errors: 0,
        p50_us: 0,
        p75_us: 0,
        p90_us: 0,
        p99_us: 0,
    };
    let (mut seen_rate, mut seen_p99) = (false, false);
    for line in out.lines().map(str::trim) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Requests/sec:", n] => {
                r.per_sec = n.parse().ok()?;
                seen_rate = true;
            }
            [n, "requests", "in", ..] => r.requests = n.parse().ok()?,
            ["Non-2xx", "or", "3xx", "responses:", n] => r.errors += n.parse::<u64>().ok()?,
            ["Socket", "errors:", rest @ ..] => {
                r.errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            [p, t] if p.ends_with('%') => {
                let us = micros(t)?;
                match *p {
                    "50%" => r.p50_us = us,
                    "75%" => r.p75_us = us,
                    "90%" => r.p90_us = us,
                    "99%" => {
                        r.p99_us = us;
                        seen_p99 = true;
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    (seen_rate && seen_p99).then_some(r)
}

/// `812.00us`, `1.43ms`, `2.01s` in microseconds.
fn micros(t: &str) -> Option<u64> {
    let (n, scale) = if let Some(n) = t.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1e6)
    } else {
        return None;
    };
    Some((n.parse::<f64>().ok()? * scale).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wrks_report() {
        let out = "Running 10s test @ http://127.0.0.1:28080/dev/hello
  2 threads and 100 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.57ms  812.00us  20.10ms   80.00%
    Req/Sec    31.70k     2.10k   36.00k    70.00%
  Latency Distribution
     50%    1.43ms
     75%    1.78ms
     90%  812.00us
     99%    2.01s
  637286 requests in 10.10s, 93.42MB read
  Non-2xx or 3xx responses: 12
  Socket errors: connect 0, read 2, write 0, timeout 1
Requests/sec:  63098.17
Transfer/sec:      9.25MB
";
        assert_eq!(
            parse(out),
            Some(Report {
                requests: 637_286,
                per_sec: 63_098.17,
                errors: 15,
                p50_us: 1_430,
                p75_us: 1_780,
                p90_us: 812,
                p99_us: 2_010_000,
            })
        );
        assert_eq!(parse("garbage"), None);
    }
}
