//! The nemesis: faults applied to the [`Net`] on a schedule, one at a time,
//! each healed before the next, and recorded with its span.

use std::time::Duration;

use super::cluster::Cluster;
use super::history::{Fault as Recorded, Recorder};
use super::net::{Impair, Net};
use super::redis::Redis;

#[derive(Debug, Clone)]
pub enum Fault {
    /// A node and Redis cannot reach each other.
    CutFromRedis(usize),
    /// A node's packets to Redis are lost; Redis's still arrive.
    CutToRedis(usize),
    /// Redis's packets to a node are lost; the node's still arrive.
    CutFromRedisOneWay(usize),
    /// A node cannot reach its clients (the load balancer and the clients'
    /// host), but still reaches Redis and the other nodes.
    CutFromClients(usize),
    /// Latency with jitter and loss on a host's link.
    Slow { host: &'static str, impair: Impair },
    /// `kill -9` of a node; it is started again when the fault ends.
    Kill(usize),
    /// A Redis Cluster split: a host with a minority of the masters cut off
    /// from the other two, and with it the node given, which
    /// then reaches only the minority; every other node reaches only the
    /// majority.
    RedisSplit(Option<usize>),
}

impl Fault {
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::CutFromRedis(_) => "node ⇹ redis",
            Fault::CutToRedis(_) => "node → redis lost",
            Fault::CutFromRedisOneWay(_) => "redis → node lost",
            Fault::CutFromClients(_) => "node ⇹ clients",
            Fault::Slow { host, .. } if host.starts_with("redis") => "redis slow and lossy",
            Fault::Slow { .. } => "node slow and lossy",
            Fault::Kill(_) => "node killed",
            Fault::RedisSplit(None) => "redis minority split",
            Fault::RedisSplit(Some(_)) => "redis minority split with a node",
        }
    }
}

pub struct Step {
    pub fault: Fault,
    pub hold: Duration,
    /// Healed time before the next step.
    pub pause: Duration,
}

/// What a fault did, as the history records it.
struct Applied {
    what: String,
    /// Nodes whose way to Redis it slows, loses or cuts.
    redis_path: Vec<usize>,
    /// The node it cuts off from Redis, and how long after it starts the cut
    /// is total.
    cuts: Option<(usize, Duration)>,
}

/// Applies `fault` to `net`.
fn apply(net: &Net, cluster: &mut Cluster, nodes: &[&str], fault: &Fault) -> Applied {
    let redis = cluster.redis.hosts();
    let applied = |what: String, redis_path: Vec<usize>, cuts| Applied {
        what,
        redis_path,
        cuts,
    };
    let all: Vec<usize> = (0..nodes.len()).collect();
    match *fault {
        Fault::CutFromRedis(n) => {
            redis.iter().for_each(|r| net.partition(nodes[n], r));
            let cut = Some((n, Duration::ZERO));
            applied(format!("{} ⇹ redis", nodes[n]), vec![n], cut)
        }
        Fault::CutToRedis(n) => {
            redis.iter().for_each(|r| net.block(nodes[n], r));
            let cut = Some((n, Duration::ZERO));
            applied(format!("{} → redis lost", nodes[n]), vec![n], cut)
        }
        Fault::CutFromRedisOneWay(n) => {
            redis.iter().for_each(|r| net.block(r, nodes[n]));
            let cut = Some((n, Duration::ZERO));
            applied(format!("redis → {} lost", nodes[n]), vec![n], cut)
        }
        Fault::CutFromClients(n) => {
            net.partition(nodes[n], "lb");
            net.partition(nodes[n], "clients");
            applied(format!("{} ⇹ clients", nodes[n]), vec![], None)
        }
        Fault::Slow { host, impair } => {
            net.impair(host, impair);
            let what = format!(
                "{host} +{}±{} ms, {}% loss",
                impair.delay.as_millis(),
                impair.jitter.as_millis(),
                impair.loss * 100.0
            );
            let path = match nodes.iter().position(|n| *n == host) {
                Some(n) => vec![n],
                None => all,
            };
            applied(what, path, None)
        }
        Fault::Kill(n) => {
            cluster.kill(nodes[n]);
            applied(format!("{} killed", nodes[n]), vec![n], None)
        }
        Fault::RedisSplit(with) => split(net, cluster, nodes, with),
    }
}

/// [`Fault::RedisSplit`]: a Redis host with a minority of the masters (and the node
/// `with`, if any) on one side, the rest of Redis and the other nodes on the
/// other.
fn split(net: &Net, cluster: &Cluster, nodes: &[&str], with: Option<usize>) -> Applied {
    let minority = cluster.redis.minority(net);
    let majority: Vec<&str> = cluster
        .redis
        .hosts()
        .iter()
        .copied()
        .filter(|&h| h != minority)
        .collect();
    for r in &majority {
        net.partition(minority, r);
    }
    for (i, node) in nodes.iter().enumerate() {
        if Some(i) == with {
            majority.iter().for_each(|r| net.partition(node, r));
        } else {
            net.partition(node, minority);
        }
    }
    let what = match with {
        Some(n) => format!("{minority} and {} ⇹ the other redis hosts", nodes[n]),
        None => format!("{minority} ⇹ the other redis hosts"),
    };
    Applied {
        what,
        redis_path: (0..nodes.len()).collect(),
        // The minority's master answers until it notices, after the
        // cluster's node timeout, that it lost the majority.
        cuts: with.map(|n| (n, super::redis::CLUSTER_NODE_TIMEOUT * 2)),
    }
}

/// Ends `fault`: every link healed, a killed node started again.
fn heal(net: &Net, cluster: &mut Cluster, nodes: &[&str], fault: &Fault) {
    net.heal();
    if let Fault::Kill(n) = *fault {
        cluster.restart(net, nodes[n]);
    }
}

/// Runs `steps` in order, blocking the calling thread.
pub fn run(net: &Net, cluster: &mut Cluster, nodes: &[&str], steps: &[Step], rec: &Recorder) {
    for step in steps {
        let start = rec.now();
        let applied = apply(net, cluster, nodes, &step.fault);
        std::thread::sleep(step.hold);
        heal(net, cluster, nodes, &step.fault);
        let fault = Recorded {
            kind: step.fault.kind(),
            what: applied.what,
            start,
            end: rec.now(),
            redis_path: applied.redis_path,
            cuts_redis: applied.cuts,
        };
        rec.with(|h| h.faults.push(fault));
        std::thread::sleep(step.pause);
    }
}

/// A seeded random schedule of about `total`: every kind of fault, on any
/// node, held 1–8 s (around `node_ttl`, so that partitions heal before, during
/// and after node-loss decisions), healed 1–5 s between. On a Redis Cluster
/// one fault in ten splits it.
pub fn random(seed: u64, total: Duration, nodes: &[&'static str], redis: Redis) -> Vec<Step> {
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut steps = Vec::new();
    let mut planned = Duration::ZERO;
    while planned < total {
        let n = (next() * nodes.len() as f64) as usize % nodes.len();
        let roll = next();
        let fault = if redis == Redis::Cluster && next() < 0.1 {
            Fault::RedisSplit((next() < 0.5).then_some(n))
        } else if roll < 0.2 {
            Fault::CutFromRedis(n)
        } else if roll < 0.3 {
            Fault::CutToRedis(n)
        } else if roll < 0.4 {
            Fault::CutFromRedisOneWay(n)
        } else if roll < 0.55 {
            Fault::CutFromClients(n)
        } else if roll < 0.9 {
            let hosts = redis.hosts();
            let host = if next() < 0.4 {
                match hosts {
                    [one] => one,
                    _ => hosts[(next() * hosts.len() as f64) as usize % hosts.len()],
                }
            } else {
                nodes[n]
            };
            let delay = 50.0 + next() * 450.0;
            Fault::Slow {
                host,
                impair: Impair {
                    delay: Duration::from_millis(delay as u64),
                    jitter: Duration::from_millis((next() * delay / 2.0) as u64),
                    loss: 0.01 + next() * 0.19,
                },
            }
        } else {
            Fault::Kill(n)
        };
        let hold = Duration::from_secs_f64(1.0 + next() * 7.0);
        let pause = Duration::from_secs_f64(1.0 + next() * 4.0);
        planned += hold + pause;
        steps.push(Step { fault, hold, pause });
    }
    steps
}
