//! What each operation costs Redis and the network between the nodes and
//! Redis (issue 25 §3, the cost model's inputs), measured on a cluster in the
//! harness with no faults: `INFO commandstats` and the records' memory, the
//! switch's byte counts between every node and Redis, and the nodes' CPU time.
//! The idle cost (heartbeats, probes, the lost-node scan) is measured first, as
//! a rate, and taken out of every phase.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use super::cluster::{MANAGEMENT, PUBLIC};
use super::net::Net;
use super::workload::request;

/// Redis's calls per command, and the memory its connection records use.
#[derive(Clone, Default)]
pub struct RedisStats {
    calls: BTreeMap<String, f64>,
    memory: f64,
}

pub fn redis_stats(net: &Net) -> RedisStats {
    let cli = |args: &[&str]| {
        let out = net
            .command("redis", "redis-cli")
            .args(args)
            .output()
            .expect("redis-cli");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let mut stats = RedisStats::default();
    for line in cli(&["INFO", "commandstats"]).lines() {
        // cmdstat_publish:calls=12,usec=…
        let Some((name, rest)) = line
            .trim()
            .strip_prefix("cmdstat_")
            .and_then(|l| l.split_once(':'))
        else {
            continue;
        };
        if ["info", "scan", "memory|usage"].contains(&name) {
            continue; // this probe's own
        }
        let calls = rest
            .split(',')
            .find_map(|kv| kv.strip_prefix("calls="))
            .and_then(|v| v.parse().ok());
        stats
            .calls
            .insert(name.to_uppercase(), calls.unwrap_or(0.0));
    }
    // The records' own memory (`MEMORY USAGE` of each node's hash):
    // `used_memory` moves by tens of KB with client buffers.
    stats.memory = cli(&["--scan", "--pattern", "sockgate:*:conns"])
        .lines()
        .filter_map(|key| {
            cli(&["MEMORY", "USAGE", key, "SAMPLES", "0"])
                .trim()
                .parse::<f64>()
                .ok()
        })
        .sum();
    stats
}

/// One moment of the cluster: Redis's counters, the bytes each way between
/// the nodes and Redis, the nodes' CPU seconds, and when.
#[derive(Clone)]
pub struct Sample {
    redis: RedisStats,
    bytes: f64,
    cpu: f64,
    at: sockgate::clock::Instant,
}

pub struct Probe<'a> {
    pub net: &'a Net,
    pub nodes: Vec<&'static str>,
    pub pids: Vec<u32>,
}

fn cpu_seconds(pid: u32) -> f64 {
    // utime and stime, fields 14 and 15 of /proc/PID/stat, in clock ticks (100/s).
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<f64> = after
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    f.get(11)
        .zip(f.get(12))
        .map_or(0.0, |(u, s)| (u + s) / 100.0)
}

impl Probe<'_> {
    pub fn sample(&self) -> Sample {
        let bytes = self
            .nodes
            .iter()
            .map(|n| (self.net.traffic(n, "redis").0 + self.net.traffic("redis", n).0) as f64)
            .sum();
        Sample {
            redis: redis_stats(self.net),
            bytes,
            cpu: self.pids.iter().map(|&p| cpu_seconds(p)).sum(),
            at: sockgate::clock::now(),
        }
    }
}

/// Per-second rates between two samples (the idle cost).
fn rates(a: &Sample, b: &Sample) -> (BTreeMap<String, f64>, f64) {
    let secs = (b.at - a.at).as_secs_f64();
    let calls = b
        .redis
        .calls
        .iter()
        .map(|(k, v)| (k.clone(), (v - a.redis.calls.get(k).unwrap_or(&0.0)) / secs))
        .collect();
    (calls, (b.bytes - a.bytes) / secs)
}

/// What `ops` operations between two samples cost each, the idle rates taken out.
fn per_op(a: &Sample, b: &Sample, ops: f64, idle: &(BTreeMap<String, f64>, f64)) -> Value {
    let secs = (b.at - a.at).as_secs_f64();
    let mut calls = BTreeMap::new();
    let mut total = 0.0;
    for (k, v) in &b.redis.calls {
        let n =
            (v - a.redis.calls.get(k).unwrap_or(&0.0) - idle.0.get(k).unwrap_or(&0.0) * secs) / ops;
        if n > 0.05 {
            calls.insert(k.clone(), (n * 100.0).round() / 100.0);
            total += n;
        }
    }
    json!({
        "ops": ops,
        "redis_commands": (total * 100.0).round() / 100.0,
        "by_command": calls,
        "bytes_node_redis": ((b.bytes - a.bytes - idle.1 * secs) / ops).round(),
        "cpu_us_nodes": ((b.cpu - a.cpu) / ops * 1e6).round(),
    })
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(node: Ipv4Addr) -> (Ws, String) {
    let url = format!("ws://{node}:{PUBLIC}/prod");
    let (mut ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .expect("connect");
    ws.send(Message::text(r#"{"action":"whoami"}"#))
        .await
        .unwrap();
    while let Some(msg) = ws.next().await {
        if let Message::Text(t) = msg.expect("a frame") {
            let v: Value = serde_json::from_str(&t).unwrap();
            return (ws, v["connectionId"].as_str().unwrap().to_string());
        }
    }
    panic!("the connection ended before its id came")
}

/// The phases, from the clients' host: `owner` holds the connections, `asker`
/// makes every call (so each crosses between nodes).
pub async fn measure(
    probe: &Probe<'_>,
    owner: Ipv4Addr,
    asker: Ipv4Addr,
    conns: usize,
    calls: usize,
) -> Value {
    let settle = || tokio::time::sleep(Duration::from_secs(2));
    settle().await;
    let s0 = probe.sample();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let s1 = probe.sample();

    let mut clients = Vec::new();
    for _ in 0..conns {
        clients.push(connect(owner).await);
    }
    settle().await;
    let s2 = probe.sample();

    let post = |path: String, body: &'static str| async move {
        request(
            (asker, MANAGEMENT),
            "POST",
            &path,
            body,
            Duration::from_secs(2),
        )
        .await
    };
    for i in 0..calls {
        let id = clients[i % conns].1.replace('=', "%3D");
        assert_eq!(
            post(format!("/prod/@connections/{id}"), "m 0 0").await,
            Some(200)
        );
    }
    let s3 = probe.sample();
    for (_, id) in &clients {
        let path = format!("/prod/@groups/cost/{}", id.replace('=', "%3D"));
        let status = request(
            (asker, MANAGEMENT),
            "PUT",
            &path,
            "",
            Duration::from_secs(2),
        )
        .await;
        assert_eq!(status, Some(204));
    }
    let s4 = probe.sample();
    let sends = calls / 10;
    for _ in 0..sends {
        assert_eq!(post("/prod/@groups/cost".into(), "g 0 0").await, Some(200));
    }
    settle().await;
    let s5 = probe.sample();
    for _ in 0..sends {
        assert_eq!(post("/prod/@broadcast".into(), "b").await, Some(200));
    }
    settle().await;
    let s6 = probe.sample();
    for (mut ws, _) in clients {
        let _ = ws.close(None).await;
        while let Some(Ok(_)) = ws.next().await {}
    }
    settle().await;
    let s7 = probe.sample();
    report(
        probe,
        &[s0, s1, s2, s3, s4, s5, s6, s7],
        conns,
        calls,
        sends,
    )
}

/// The measurements from the eight samples `measure` took: idle, connected,
/// posted, joined, group-sent, broadcast, disconnected.
fn report(probe: &Probe<'_>, s: &[Sample; 8], conns: usize, calls: usize, sends: usize) -> Value {
    let [s0, s1, s2, s3, s4, s5, s6, s7] = s;
    let idle = rates(s0, s1);
    let memory_per_connection = (s2.redis.memory - s1.redis.memory) / conns as f64;
    let idle_per_node: BTreeMap<&String, f64> = idle
        .0
        .iter()
        .filter(|(_, v)| **v > 0.01)
        .map(|(k, v)| (k, (v / probe.nodes.len() as f64 * 100.0).round() / 100.0))
        .collect();
    let window_commands: f64 = s7
        .redis
        .calls
        .iter()
        .map(|(k, v)| v - s0.redis.calls.get(k).unwrap_or(&0.0))
        .sum();
    json!({
        "nodes": probe.nodes.len(),
        "connections": conns,
        "window_seconds": ((s7.at - s0.at).as_secs_f64() * 100.0).round() / 100.0,
        "window_commands": window_commands,
        "idle_per_node_per_second": {
            "by_command": idle_per_node,
            "redis_commands": (idle.0.values().sum::<f64>() / probe.nodes.len() as f64 * 100.0).round() / 100.0,
            "bytes_node_redis": (idle.1 / probe.nodes.len() as f64).round(),
        },
        "redis_memory_per_connection_bytes": memory_per_connection.round(),
        "connect": per_op(s1, s2, conns as f64, &idle),
        "post_cross_node": per_op(s2, s3, calls as f64, &idle),
        "group_join_cross_node": per_op(s3, s4, conns as f64, &idle),
        "group_send_to_all": per_op(s4, s5, sends as f64, &idle),
        "broadcast": per_op(s5, s6, sends as f64, &idle),
        "disconnect": per_op(s6, s7, conns as f64, &idle),
    })
}

/// The model: a run's Redis commands from another run's per-operation figures
/// and this run's operation counts, node count and length.
pub fn predict(model: &Value, run: &Value) -> f64 {
    let nodes = run["nodes"].as_f64().unwrap_or(0.0);
    let idle = model["idle_per_node_per_second"]["redis_commands"]
        .as_f64()
        .unwrap_or(0.0);
    let mut total = idle * nodes * run["window_seconds"].as_f64().unwrap_or(0.0);
    for op in [
        "connect",
        "post_cross_node",
        "group_join_cross_node",
        "group_send_to_all",
        "broadcast",
        "disconnect",
    ] {
        total += run[op]["ops"].as_f64().unwrap_or(0.0)
            * model[op]["redis_commands"].as_f64().unwrap_or(0.0);
    }
    total
}
