//! sockgate-load: measures a running sockgate (or any server that speaks its
//! demo routes) from loopback. Every run is bounded in count and time and
//! prints one JSON result line.
//!
//! - `hold`: N idle connections over several source addresses; the gateway's RSS
//!   (from /proc/PID/status) before and after, per connection; connect latency.
//! - `echo`: C connections doing round trips through a two-way route.
//! - `push`: @connections POSTs at a set rate to N connections; POST-to-client latency.

mod client;
mod echo;
mod hold;
mod push;
mod stats;

use std::net::IpAddr;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "sockgate-load")]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Open N idle connections and report RSS per connection.
    Hold(hold::Args),
    /// Round trips through a two-way route.
    Echo(echo::Args),
    /// @connections POST-to-client latency.
    Push(push::Args),
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
        return Ok((a..=b).map(|n| IpAddr::V4(n.into())).collect());
    }
    s.split(',')
        .map(|p| p.trim().parse().map_err(|e| format!("{p}: {e}")))
        .collect()
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let result = match cli.scenario {
        Scenario::Hold(a) => hold::run(a).await,
        Scenario::Echo(a) => echo::run(a).await,
        Scenario::Push(a) => push::run(a).await,
    };
    match result {
        Ok(json) => println!("{json}"),
        Err(e) => {
            eprintln!("sockgate-load: {e}");
            std::process::exit(1);
        }
    }
}
