//! The nemesis: faults applied to the [`Net`] on a schedule, one at a time,
//! each healed before the next, and recorded with its span.

use std::time::Duration;

use super::cluster::Cluster;
use super::history::{Fault as Recorded, Recorder};
use super::net::{Impair, Net};

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
}

impl Fault {
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::CutFromRedis(_) => "node ⇹ redis",
            Fault::CutToRedis(_) => "node → redis lost",
            Fault::CutFromRedisOneWay(_) => "redis → node lost",
            Fault::CutFromClients(_) => "node ⇹ clients",
            Fault::Slow { host, .. } if *host == "redis" => "redis slow and lossy",
            Fault::Slow { .. } => "node slow and lossy",
            Fault::Kill(_) => "node killed",
        }
    }
}

pub struct Step {
    pub fault: Fault,
    pub hold: Duration,
    /// Healed time before the next step.
    pub pause: Duration,
}

/// Applies `fault` to `net`; returns its description and, if it cuts a node
/// from Redis, which. (Every fault here but `CutFromClients` touches some
/// node's path to Redis; a killed node's answers are lost with it.)
fn apply(
    net: &Net,
    cluster: &mut Cluster,
    nodes: &[&str],
    fault: &Fault,
) -> (String, Option<usize>) {
    match *fault {
        Fault::CutFromRedis(n) => {
            net.partition(nodes[n], "redis");
            (format!("{} ⇹ redis", nodes[n]), Some(n))
        }
        Fault::CutToRedis(n) => {
            net.block(nodes[n], "redis");
            (format!("{} → redis lost", nodes[n]), Some(n))
        }
        Fault::CutFromRedisOneWay(n) => {
            net.block("redis", nodes[n]);
            (format!("redis → {} lost", nodes[n]), Some(n))
        }
        Fault::CutFromClients(n) => {
            net.partition(nodes[n], "lb");
            net.partition(nodes[n], "clients");
            (format!("{} ⇹ clients", nodes[n]), None)
        }
        Fault::Slow { host, impair } => {
            net.impair(host, impair);
            let what = format!(
                "{host} +{}±{} ms, {}% loss",
                impair.delay.as_millis(),
                impair.jitter.as_millis(),
                impair.loss * 100.0
            );
            (what, None)
        }
        Fault::Kill(n) => {
            cluster.kill(nodes[n]);
            (format!("{} killed", nodes[n]), None)
        }
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
        let (what, cuts) = apply(net, cluster, nodes, &step.fault);
        std::thread::sleep(step.hold);
        heal(net, cluster, nodes, &step.fault);
        let touches_redis = !matches!(step.fault, Fault::CutFromClients(_));
        let fault = Recorded {
            kind: step.fault.kind(),
            what,
            start,
            end: rec.now(),
            touches_redis,
            cuts_redis: cuts,
        };
        rec.with(|h| h.faults.push(fault));
        std::thread::sleep(step.pause);
    }
}

/// A seeded random schedule of about `total`: every kind of fault, on any
/// node, held 1–8 s (around `node_ttl`, so that partitions heal before, during
/// and after node-loss decisions), healed 1–5 s between.
pub fn random(seed: u64, total: Duration, nodes: &[&'static str]) -> Vec<Step> {
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
        let fault = if roll < 0.2 {
            Fault::CutFromRedis(n)
        } else if roll < 0.3 {
            Fault::CutToRedis(n)
        } else if roll < 0.4 {
            Fault::CutFromRedisOneWay(n)
        } else if roll < 0.55 {
            Fault::CutFromClients(n)
        } else if roll < 0.9 {
            let host = if next() < 0.4 { "redis" } else { nodes[n] };
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
