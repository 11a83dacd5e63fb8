//! The nemesis: faults applied to the [`Net`] on a schedule, one at a time,
//! each healed before the next, and recorded with its span.

use std::time::Duration;

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
}

pub struct Step {
    pub fault: Fault,
    pub hold: Duration,
    /// Healed time before the next step.
    pub pause: Duration,
}

/// Applies `fault` to `net`; returns its description and, if it cuts a node
/// from Redis, which. (Every fault here but `CutFromClients` touches some
/// node's path to Redis.)
fn apply(net: &Net, nodes: &[&str], fault: &Fault) -> (String, Option<usize>) {
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
    }
}

/// Runs `steps` in order, blocking the calling thread.
pub fn run(net: &Net, nodes: &[&str], steps: &[Step], rec: &Recorder) {
    for step in steps {
        let start = rec.now();
        let (what, cuts) = apply(net, nodes, &step.fault);
        std::thread::sleep(step.hold);
        net.heal();
        let touches_redis = !matches!(step.fault, Fault::CutFromClients(_));
        let fault = Recorded {
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
