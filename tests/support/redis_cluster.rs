//! A real Redis Cluster: six `redis-server --cluster-enabled yes` processes on
//! free loopback ports (three masters, three replicas), joined with
//! `redis-cli --cluster create`, killed on drop.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use sockgate::clock;

use super::redis::cli;

/// How long a master may be unreachable before its replica takes over. Redis's
/// default is 15 s; tests use one second so a failover takes a few seconds.
pub const NODE_TIMEOUT_MS: u64 = 1000;

/// One node of the cluster.
struct Node {
    port: u16,
    child: Option<Child>,
}

/// A running Redis Cluster (every process killed on drop).
pub struct RedisCluster {
    nodes: Vec<Node>,
    dir: PathBuf,
}

/// A free port whose cluster bus port (+10000) is free too.
///
/// Both are taken below the kernel's ephemeral range (32768 and up on Linux),
/// so no outgoing connection of a parallel test can take one between this
/// check and redis-server's bind; a counter shared by the process keeps two
/// clusters of the same test binary from choosing the same port.
fn free_port_pair() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const SPAN: u32 = 2_700; // 20000..22700, buses 30000..32700
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        rand::random::<u32>() % SPAN,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    loop {
        let port = (FIRST + NEXT.fetch_add(1, Ordering::Relaxed) % SPAN) as u16;
        let free = |p: u16| TcpListener::bind(("127.0.0.1", p)).is_ok();
        if free(port) && free(port + 10_000) {
            return port;
        }
    }
}

impl RedisCluster {
    /// Starts six nodes and creates the cluster (one replica per master); waits
    /// until every node reports `cluster_state:ok`.
    pub fn start() -> RedisCluster {
        let mut cluster = RedisCluster::reserve();
        cluster.create();
        cluster
    }

    /// Chooses the ports; nothing runs until [`RedisCluster::create`].
    pub fn reserve() -> RedisCluster {
        let dir = std::env::temp_dir().join(format!("sockgate-rc-{}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        RedisCluster {
            nodes: (0..6)
                .map(|_| Node {
                    port: free_port_pair(),
                    child: None,
                })
                .collect(),
            dir,
        }
    }

    /// Starts the six nodes and creates the cluster.
    pub fn create(&mut self) {
        let cluster = self;
        for i in 0..6 {
            cluster.spawn(i);
        }
        let addrs: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli is installed (.ci/run installs it)");
        assert!(
            out.status.success(),
            "redis-cli --cluster create: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let ports: Vec<u16> = cluster.nodes.iter().map(|n| n.port).collect();
        cluster.wait_ok(&ports);
    }

    fn spawn(&mut self, i: usize) {
        let port = self.nodes[i].port;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--cluster-enabled", "yes"])
            .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
            .args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
            .args(["--dir", &self.dir.display().to_string()])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            // A replica that never finished its first sync cannot be promoted;
            // Redis waits 5 s before a diskless sync by default.
            .args(["--repl-diskless-sync-delay", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is installed (.ci/run installs it)");
        self.nodes[i].child = Some(child);
        let deadline = clock::now() + Duration::from_secs(10);
        while cli(port, &["PING"]).as_deref() != Some("PONG") {
            assert!(clock::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Seed URLs for sockgate's `redis_cluster` (two of the six: the rest are
    /// discovered).
    pub fn seeds(&self) -> Vec<String> {
        self.nodes[..2]
            .iter()
            .map(|n| format!("redis://127.0.0.1:{}", n.port))
            .collect()
    }

    /// Waits until each of `ports` reports `cluster_state:ok` and sees every
    /// slot served, and each replica among them has synced with its master.
    pub fn wait_ok(&self, ports: &[u16]) {
        let deadline = clock::now() + Duration::from_secs(30);
        loop {
            let ok = ports.iter().all(|p| {
                let cluster = cli(*p, &["CLUSTER", "INFO"]).is_some_and(|info| {
                    info.contains("cluster_state:ok") && info.contains("cluster_slots_ok:16384")
                });
                let synced = cli(*p, &["INFO", "replication"]).is_some_and(|info| {
                    info.contains("role:master") || info.contains("master_link_status:up")
                });
                cluster && synced
            });
            if ok {
                return;
            }
            assert!(
                clock::now() < deadline,
                "the Redis Cluster did not become ok"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The port of the master serving `key`'s slot (a key or a channel name).
    pub fn master_of(&self, key: &str) -> u16 {
        self.master_of_slot(&self.slot_of(key).to_string())
    }

    fn master_of_slot(&self, slot: &str) -> u16 {
        let slot: u16 = slot.parse().unwrap();
        let nodes = cli(self.live_ports()[0], &["CLUSTER", "NODES"]).unwrap();
        for line in nodes.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            if !f[2].contains("master") || f[2].contains("fail") {
                continue;
            }
            let serves = f[8..].iter().any(|range| match range.split_once('-') {
                Some((a, b)) => (a.parse().unwrap()..=b.parse().unwrap()).contains(&slot),
                None => range.parse::<u16>().ok() == Some(slot),
            });
            if serves {
                return port_of(f[1]);
            }
        }
        panic!("no master serves slot {slot}:\n{nodes}");
    }

    /// A manual failover of the shard whose master is on `port` (`CLUSTER
    /// FAILOVER` on its replica, as a rolling upgrade does): the replica
    /// takes over, the old master becomes its replica. Waits until it has.
    pub fn fail_over(&self, port: u16) {
        let nodes = cli(port, &["CLUSTER", "NODES"]).unwrap();
        let me = nodes
            .lines()
            .find(|l| l.contains("myself"))
            .and_then(|l| l.split(' ').next())
            .unwrap()
            .to_string();
        let replica = nodes
            .lines()
            .map(|l| l.split(' ').collect::<Vec<_>>())
            .find(|f| f[2].contains("slave") && f[3] == me)
            .map(|f| port_of(f[1]))
            .expect("the master has a replica");
        assert_eq!(
            cli(replica, &["CLUSTER", "FAILOVER"]).as_deref(),
            Some("OK")
        );
        let deadline = clock::now() + Duration::from_secs(10);
        while !cli(replica, &["ROLE"])
            .unwrap_or_default()
            .starts_with("master")
        {
            assert!(clock::now() < deadline, "the failover did not happen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Ports of the masters that serve at least one slot.
    pub fn masters(&self) -> Vec<u16> {
        let port = self.live_ports()[0];
        let nodes = cli(port, &["CLUSTER", "NODES"]).unwrap();
        let mut out: Vec<u16> = nodes
            .lines()
            .map(|l| l.split(' ').collect::<Vec<_>>())
            .filter(|f| f[2].contains("master") && !f[2].contains("fail") && f.len() > 8)
            .map(|f| {
                f[1].split('@')
                    .next()
                    .unwrap()
                    .rsplit(':')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect();
        out.sort_unstable();
        out
    }

    /// Moves one slot, with its keys, to the master on `to` (what
    /// `redis-cli --cluster reshard` does, for one slot).
    pub fn move_slot(&self, slot: u16, to: u16) {
        let slot = slot.to_string();
        let from = self.master_of_slot(&slot);
        assert_ne!(from, to, "slot {slot} is already on {to}");
        let id = |port: u16| cli(port, &["CLUSTER", "MYID"]).unwrap();
        let (from_id, to_id) = (id(from), id(to));
        let ok = |port: u16, args: &[&str]| {
            let out = cli(port, args);
            assert_eq!(out.as_deref(), Some("OK"), "{args:?} on {port}");
        };
        ok(to, &["CLUSTER", "SETSLOT", &slot, "IMPORTING", &from_id]);
        ok(from, &["CLUSTER", "SETSLOT", &slot, "MIGRATING", &to_id]);
        loop {
            let keys = cli(from, &["CLUSTER", "GETKEYSINSLOT", &slot, "100"]).unwrap();
            let keys: Vec<&str> = keys.lines().filter(|k| !k.is_empty()).collect();
            if keys.is_empty() {
                break;
            }
            let to_port = to.to_string();
            let mut args = vec!["MIGRATE", "127.0.0.1", &to_port, "", "0", "5000", "KEYS"];
            args.extend(keys);
            ok(from, &args);
        }
        for port in [to, from] {
            ok(port, &["CLUSTER", "SETSLOT", &slot, "NODE", &to_id]);
        }
        for port in self.masters() {
            if port != to && port != from {
                ok(port, &["CLUSTER", "SETSLOT", &slot, "NODE", &to_id]);
            }
        }
    }

    /// The slot of a key or channel name.
    pub fn slot_of(&self, key: &str) -> u16 {
        let port = self.live_ports()[0];
        cli(port, &["CLUSTER", "KEYSLOT", key])
            .unwrap()
            .parse()
            .unwrap()
    }

    /// Kills the node on `port` with SIGKILL.
    pub fn kill(&mut self, port: u16) {
        let node = self.nodes.iter_mut().find(|n| n.port == port).unwrap();
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Ports of the nodes still running.
    pub fn live_ports(&self) -> Vec<u16> {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| n.port)
            .collect()
    }

    /// Runs a command on the node on `port`; its trimmed output.
    pub fn cli(&self, port: u16, args: &[&str]) -> Option<String> {
        cli(port, args)
    }
}

/// The port in a `CLUSTER NODES` address (`127.0.0.1:7000@17000`).
fn port_of(addr: &str) -> u16 {
    let addr = addr.split('@').next().unwrap();
    addr.rsplit(':').next().unwrap().parse().unwrap()
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
