//! sockgate-load: measures a running sockgate (or the bare baseline server) from
//! loopback. Every run is bounded in count and time, shows a progress bar on
//! stderr, prints one JSON result line, and can write a latency plot (SVG).
//!
//! - `hold`: N idle connections over several source addresses; the server's RSS
//!   (from /proc/PID/status) before and after, per connection; connect latency.
//! - `echo`: C connections × K messages in flight through a two-way route.
//! - `push`: @connections POSTs at a set rate to N connections; POST-to-client latency.
//! - `broadcast`: one publish fanned out to N receivers, at a set rate.
//! - `churn`: connects and disconnects at a set rate; admitted connections per second.
//! - `proxy`: an `aws_proxy` route's latency against calling its backend directly.
//! - `reload`: echo while the gateway reloads twice a second, alternating two
//!   route tables, against the same connections without reloads.
//! - `soak`: a long run of mixed traffic and churn; checks that memory, file
//!   descriptors, tasks and queues stay flat and nothing is lost (see `soak`).
//! - `compare`: runs every case under `load/cases/` against the bare server and
//!   sockgate, and writes the comparison table (see `compare.rs`).

mod broadcast;
mod chaos_plot;
mod churn;
mod client;
mod compare;
mod dashboard;
mod deflate;
mod echo;
mod hold;
mod http;
mod plot;
mod progress;
mod proxy;
mod push;
mod reload;
mod soak;
mod stats;
mod wrk;

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;

#[derive(Parser)]
#[command(name = "sockgate-load")]
pub(crate) struct Cli {
    /// Write a latency percentile plot (SVG) of the run here.
    #[arg(long, global = true)]
    plot: Option<PathBuf>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand, Clone)]
pub(crate) enum Scenario {
    /// Open N idle connections and report RSS per connection.
    Hold(hold::Args),
    /// Round trips through a two-way route.
    Echo(echo::Args),
    /// @connections POST-to-client latency.
    Push(push::Args),
    /// Publish-to-client latency and deliveries per second of a fan-out.
    Broadcast(broadcast::Args),
    /// Admitted connections per second.
    Churn(churn::Args),
    /// aws_proxy route latency vs the backend called directly.
    Proxy(proxy::Args),
    /// HTTP requests through a reverse proxy (sockgate's HTTP API, or nginx).
    Http(http::Args),
    /// The same through the common load tool, `wrk`.
    Wrk(wrk::Args),
    /// A long run of mixed traffic and churn: nothing grows, nothing is lost.
    Soak(soak::Args),
    /// Echo while the gateway reloads its config, against the same without reloads.
    Reload(reload::Args),
    /// Run every case against the bare server and sockgate; write the table.
    Compare(compare::Args),
    /// Plot a chaos run's faults and outcomes (`load/chaos.sh`).
    ChaosPlot(chaos_plot::Args),
}

/// What a scenario measured: its JSON line, and its main latency histogram.
pub(crate) struct Outcome {
    pub(crate) json: serde_json::Value,
    pub(crate) latency: Option<Histogram<u64>>,
}

impl Outcome {
    pub(crate) fn with_latency(json: serde_json::Value, h: Histogram<u64>) -> Outcome {
        Outcome {
            json,
            latency: Some(h),
        }
    }

    /// An outcome with no latency curve of its own (another tool measured it).
    pub(crate) fn without_latency(json: serde_json::Value) -> Outcome {
        Outcome {
            json,
            latency: None,
        }
    }
}

/// Source addresses for outgoing connections: "127.0.0.2-127.0.0.9" or a comma list.
pub(crate) fn parse_sources(s: &str) -> Result<Vec<IpAddr>, String> {
    if let Some((a, b)) = s.split_once('-') {
        let (a, b): (std::net::Ipv4Addr, std::net::Ipv4Addr) = (
            a.parse().map_err(|e| format!("{a}: {e}"))?,
            b.parse().map_err(|e| format!("{b}: {e}"))?,
        );
        let (a, b) = (u32::from(a), u32::from(b));
        if b < a || b - a > 255 {
            return Err("range must be ascending and at most 256 addresses".into());
        }
        let ips: Vec<IpAddr> = (a..=b).map(|n| IpAddr::V4(n.into())).collect();
        return loopback_only(ips);
    }
    let ips = s
        .split(',')
        .map(|p| p.trim().parse().map_err(|e| format!("{p}: {e}")))
        .collect::<Result<Vec<IpAddr>, String>>()?;
    loopback_only(ips)
}

/// The load tool only ever generates traffic on loopback.
fn loopback_only(ips: Vec<IpAddr>) -> Result<Vec<IpAddr>, String> {
    match ips.iter().find(|ip| !ip.is_loopback()) {
        Some(ip) => Err(format!("{ip} is not a loopback address")),
        None if ips.is_empty() => Err("no source addresses".into()),
        None => Ok(ips),
    }
}

/// Runs one scenario in this process.
pub(crate) async fn run(scenario: Scenario) -> Result<Outcome, String> {
    match scenario {
        Scenario::Hold(a) => hold::run(a).await,
        Scenario::Echo(a) => echo::run(a).await,
        Scenario::Push(a) => push::run(a).await,
        Scenario::Broadcast(a) => broadcast::run(a).await,
        Scenario::Churn(a) => churn::run(a).await,
        Scenario::Proxy(a) => proxy::run(a).await,
        Scenario::Http(a) => http::run(a).await,
        Scenario::Wrk(a) => wrk::run(a).await,
        Scenario::Soak(a) => soak::run(a).await,
        Scenario::Reload(a) => reload::run(a).await,
        Scenario::ChaosPlot(a) => chaos_plot::run(a).await,
        Scenario::Compare(_) => Err("compare cannot run inside compare".into()),
    }
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let result = match cli.scenario {
        Scenario::Compare(a) => compare::run(a).await.map(|()| None),
        s => run(s).await.map(Some),
    };
    match result {
        Ok(Some(outcome)) => {
            if let (Some(path), Some(h)) = (&cli.plot, &outcome.latency) {
                let title = outcome.json["scenario"].as_str().unwrap_or("latency");
                let series = [plot::Series {
                    label: title.to_owned(),
                    hist: h,
                }];
                if let Err(e) = std::fs::write(path, plot::svg(title, &series)) {
                    eprintln!("sockgate-load: writing {}: {e}", path.display());
                }
            }
            println!("{}", outcome.json);
        }
        Ok(None) => {}
        Err(e) => {
            eprintln!("sockgate-load: {e}");
            std::process::exit(1);
        }
    }
}
