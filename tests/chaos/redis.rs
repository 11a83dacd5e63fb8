//! The chaos run's Redis: one redis-server on the `redis` host, or a Redis
//! Cluster of three masters and three replicas over three hosts (`redis1`…
//! `redis3`, a master and another shard's replica on each, as production
//! spreads them), so that a partition can split the cluster's majority from a
//! minority.

use std::time::Duration;

use super::cluster::{Proc, spawn};
use super::net::Net;

/// How long a Redis Cluster master may be unreachable before its replica
/// takes over (Redis's default is 15 s; short here, so a split fails a shard
/// over within a fault's hold).
pub const CLUSTER_NODE_TIMEOUT: Duration = Duration::from_millis(1000);

const PORTS: [u16; 2] = [6379, 6380];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redis {
    Single,
    Cluster,
}

impl Redis {
    /// The hosts Redis runs on.
    pub fn hosts(self) -> &'static [&'static str] {
        match self {
            Redis::Single => &["redis"],
            Redis::Cluster => &["redis1", "redis2", "redis3"],
        }
    }

    /// The nodes' `[cluster]` line that names it.
    pub fn config(self, net: &Net) -> String {
        match self {
            Redis::Single => format!("redis_url = \"redis://{}:6379\"", net.ip("redis")),
            Redis::Cluster => {
                let seeds: Vec<String> = self
                    .hosts()
                    .iter()
                    .map(|h| format!("\"redis://{}:6379\"", net.ip(h)))
                    .collect();
                format!("redis_cluster = [{}]", seeds.join(", "))
            }
        }
    }

    /// Starts it and, for a cluster, creates the cluster and waits until
    /// every slot is served.
    pub fn start(self, net: &Net, dir: &std::path::Path) -> Vec<Proc> {
        let common = [
            "--bind",
            "0.0.0.0",
            "--protected-mode",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
        ];
        match self {
            Redis::Single => {
                let mut args = vec!["--port", "6379"];
                args.extend(common);
                vec![spawn(
                    net,
                    "redis",
                    "redis-server",
                    &args,
                    &dir.join("redis.log"),
                )]
            }
            Redis::Cluster => {
                let timeout = CLUSTER_NODE_TIMEOUT.as_millis().to_string();
                let dir_s = dir.display().to_string();
                let mut procs = Vec::new();
                for &host in self.hosts() {
                    for port in PORTS {
                        let (port_s, conf) =
                            (port.to_string(), format!("nodes-{host}-{port}.conf"));
                        let mut args = vec!["--port", &port_s, "--dir", &dir_s];
                        args.extend(common);
                        args.extend([
                            "--cluster-enabled",
                            "yes",
                            "--cluster-config-file",
                            &conf,
                            "--cluster-node-timeout",
                            &timeout,
                            // A replica that never finished its first sync
                            // cannot be promoted; Redis waits 5 s by default.
                            "--repl-diskless-sync-delay",
                            "0",
                        ]);
                        let name = format!("{host}-{port}");
                        let log = dir.join(format!("{name}.log"));
                        let mut proc = spawn(net, host, "redis-server", &args, &log);
                        proc.name = name;
                        procs.push(proc);
                    }
                }
                self.create_cluster(net);
                procs
            }
        }
    }

    /// `redis-cli --cluster create`: masters on each host's 6379, replicas on
    /// 6380, each replica on another host than its master (checked).
    fn create_cluster(self, net: &Net) {
        let hosts = self.hosts();
        let addr = |h: &str, p: u16| format!("{}:{p}", net.ip(h));
        for &h in hosts {
            for p in PORTS {
                wait_for(net, h, p, "PING", "PONG");
            }
        }
        let mut cmd = net.command(hosts[0], "redis-cli");
        cmd.args(["--cluster", "create"]);
        for p in PORTS {
            cmd.args(hosts.iter().map(|h| addr(h, p)));
        }
        let out = cmd
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli");
        assert!(
            out.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        for &h in hosts {
            for p in PORTS {
                wait_for(net, h, p, "CLUSTER INFO", "cluster_state:ok");
            }
        }
        // Each master's replica on another host: a split of one host then
        // leaves every shard a copy on the majority's side.
        let nodes = cli(net, hosts[0], 6379, "CLUSTER NODES");
        let ip_of = |line: &str| line.split([' ', ':']).nth(1).map(str::to_string);
        for line in nodes.lines().filter(|l| l.contains("slave")) {
            let master = line.split(' ').nth(3).unwrap_or_default();
            let master_line = nodes.lines().find(|l| l.starts_with(master));
            assert_ne!(
                master_line.and_then(ip_of),
                ip_of(line),
                "a replica on its master's host:\n{nodes}"
            );
        }
    }
}

impl Redis {
    /// The host to split off as the minority: one holding a master (so the
    /// split has a master to fail over) and as few masters as any such host
    /// (so its side is a minority of the masters; failovers move them, and a
    /// host holding two of three would keep its shards and the other side
    /// would fail).
    pub fn minority(self, net: &Net) -> &'static str {
        let hosts = self.hosts();
        let nodes = hosts
            .iter()
            .map(|h| cli(net, h, 6379, "CLUSTER NODES"))
            .find(|n| !n.is_empty())
            .unwrap_or_default();
        let masters = |h: &str| {
            let ip = format!(" {}:", net.ip(h));
            nodes
                .lines()
                .filter(|l| l.contains(&ip) && l.contains("master") && l.split(' ').count() > 8)
                .count()
        };
        hosts
            .iter()
            .copied()
            .filter(|h| masters(h) > 0)
            .min_by_key(|h| masters(h))
            .unwrap_or(hosts[0])
    }
}

fn cli(net: &Net, host: &str, port: u16, command: &str) -> String {
    let out = net
        .command(host, "redis-cli")
        .args(["-h", &net.ip(host).to_string(), "-p", &port.to_string()])
        .args(command.split(' '))
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits (10 s at most) until `command` answers something containing `want`.
fn wait_for(net: &Net, host: &str, port: u16, command: &str, want: &str) {
    for _ in 0..500 {
        if cli(net, host, port, command).contains(want) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{host}:{port} never answered {command} with {want}");
}
