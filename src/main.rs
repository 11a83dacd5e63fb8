//! The `sockgate` binary: parse flags, load config, run the server until a signal.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sockgate::config::{Config, ProcessEnv};
use sockgate::gateway::reload::ConfigSource;
use sockgate::{Server, server, telemetry};
use tracing::{error, info};

/// jemalloc, not the system's malloc: an idle WebSocket costs 1,927 bytes
/// instead of 2,223 (`load/compare.sh --only hold`, 15,000 connections;
/// mimalloc: 2,342); its small size classes carry no per-allocation header.
/// The figures, and its cost under `wrk`, are in the README's Speed section.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Exit status for a bad configuration (sysexits EX_CONFIG).
const EX_CONFIG: u8 = 78;
/// Exit status when a listener cannot be bound (sysexits EX_UNAVAILABLE).
const EX_UNAVAILABLE: u8 = 69;

#[derive(Parser)]
#[command(
    name = "sockgate",
    version,
    about = "A WebSocket gateway compatible with Amazon API Gateway WebSocket APIs."
)]
struct Cli {
    /// Config file (TOML). Without it, sockgate serves its built-in demo.
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Validate the configuration, print every error, and exit.
    Check,
    /// Ask the node running this configuration to reload it (exit 78 when the
    /// node rejects the file; it then serves on unchanged).
    Reload,
    /// Make a CA and a certificate it signs, for a local wss:// listener, and
    /// print the [server] lines that use them.
    Cert {
        /// Where to write ca.pem, cert.pem and key.pem.
        #[arg(long)]
        dir: PathBuf,
        /// A host name or IP address the certificate is for (repeatable;
        /// default: localhost and 127.0.0.1).
        #[arg(long = "name")]
        names: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(why) = telemetry::init_logging() {
        eprintln!("cannot set up logging: {why}");
        return ExitCode::from(EX_CONFIG);
    }
    if let Some(Command::Cert { dir, names }) = &cli.command {
        return match sockgate::cli::cert(dir, names) {
            Ok(lines) => {
                print!("{lines}");
                ExitCode::SUCCESS
            }
            Err(why) => {
                eprintln!("{why}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match &cli.config {
        Some(path) => Config::load_file(path, &ProcessEnv),
        None => Config::demo(&ProcessEnv),
    };
    // Parsed, then compiled: its routes for every stage, its files loaded
    // (certificates, CA bundles), its schemas compiled.
    let config = config.and_then(|c| sockgate::snapshot::check(&c).map(|()| c));
    let config = match config {
        Ok(c) => c,
        Err(errors) => {
            eprint!("{errors}");
            return ExitCode::from(EX_CONFIG);
        }
    };
    if let Some(Command::Check) = cli.command {
        // Routes are declared once and every stage serves all of them.
        let names: Vec<&str> = config.stages.iter().map(|s| s.name.as_str()).collect();
        println!(
            "configuration OK: {} stage(s) ({}); {} WebSocket and {} HTTP route(s), served by every stage",
            names.len(),
            names.join(", "),
            config.routes.len(),
            config.http_routes.len(),
        );
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(Command::Reload) = cli.command {
        return runtime.block_on(async {
            match sockgate::cli::reload(&config).await {
                Ok(report) => {
                    println!("{report}");
                    ExitCode::SUCCESS
                }
                Err(why) => {
                    eprintln!("{why}");
                    ExitCode::from(EX_CONFIG)
                }
            }
        });
    }
    let source = ConfigSource {
        path: cli.config.clone(),
        env: Box::new(ProcessEnv),
    };
    runtime.block_on(async move {
        // Before binding: a SIGTERM from then on drains.
        let stop = server::signal();
        let stages: Vec<String> = config.stages.iter().map(|s| s.name.clone()).collect();
        let node_id = config.server.node_id.clone();
        let server = match Server::bind_from(config, Some(source)).await {
            Ok(s) => s,
            Err(e) => {
                error!("Cannot start: {e}");
                return ExitCode::from(EX_UNAVAILABLE);
            }
        };
        let endpoints = server.gateway().snapshot().config.endpoints(server.public_addr());
        // The tag is what connection ids start with, the cluster and the
        // dashboard name the node by; `node_id` is the operator's own name.
        let tag = server.gateway().delivery().node();
        let node = node_id.map_or_else(|| tag.to_string(), |id| format!("{id} ({tag})"));
        info!(
            node.id = %node, public = %server.public_addr(), management = %server.management_addr(), metrics = %server.metrics_addr(),
            stages = %stages.join(","), "sockgate is listening: {}", endpoints.join(" ")
        );
        server.run(stop).await;
        ExitCode::SUCCESS
    })
}
