//! Judges a run's [`History`] against the README's delivery contract:
//! - a POST answered 200 is delivered, unless its connection ended;
//! - a POST answered 503, 410 or 429 is not delivered (for 503 the contract's
//!   one exception, an answer lost or late on its way back, is counted, not
//!   failed, when a fault touching Redis was active around it or healed less
//!   than `unready_after` before);
//! - nothing is delivered twice, and POSTs (and group sends) from one node to
//!   one connection arrive in the order they were made (one that got no answer
//!   may arrive after the next: its client gave up while it was on its way);
//! - `$disconnect` exactly once per `$connect`, and none for an id never
//!   connected;
//! - no connection takes new messages after its `$disconnect`, once the
//!   fault that caused it has healed (no two nodes serve it);
//! - `/readyz` says 503 while its node is cut off from Redis for longer than
//!   `unready_after`, and 200 at the end, all healed;
//! - the cluster-wide limit admits, in any 10 s, at most what its bucket
//!   allows in that time plus, for each node whose way to Redis a fault
//!   touched then, that node's share (what it admits on its own while Redis
//!   cannot answer).
//!
//! Each violation is printed with the operations around it.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::history::{History, Outcome};

#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub request_timeout: Duration,
    pub unready_after: Duration,
    /// Slack for what the checker cannot time exactly: a heartbeat, the
    /// prober's period, a scheduler on a loaded machine.
    pub slack: Duration,
    /// The cluster-wide limit: per second, burst.
    pub limit: (f64, f64),
    pub nodes: usize,
}

#[derive(Debug, Default)]
pub struct Report {
    pub violations: Vec<String>,
    /// Allowed by the contract, counted: name → how many.
    pub counted: BTreeMap<&'static str, usize>,
    pub throttle: Throttle,
}

/// How close the cluster-wide limit came to its bounds.
#[derive(Debug, Default, Clone, Copy)]
pub struct Throttle {
    pub admitted: usize,
    pub refused: usize,
    /// Windows judged.
    pub windows: usize,
    /// The most any window admitted, as a share of its bound.
    pub worst: f64,
}

impl Report {
    fn count(&mut self, what: &'static str) {
        *self.counted.entry(what).or_default() += 1;
    }
}

pub fn check(h: &History, b: Bounds) -> Report {
    let mut r = Report::default();
    deliveries(h, b, &mut r);
    disconnects(h, b, &mut r);
    readiness(h, b, &mut r);
    throttles(h, b, &mut r);
    r
}

fn ms(d: Duration) -> String {
    format!("{:.3}s", d.as_secs_f64())
}

/// What happened to `id` within `around` of `at`: the context of a violation.
fn context(h: &History, id: &str, at: Duration, around: Duration) -> String {
    let near = |t: Duration| t + around >= at && t <= at + around;
    let mut lines: Vec<(Duration, String)> = Vec::new();
    for p in h.posts.iter().filter(|p| p.id == id && near(p.start)) {
        lines.push((
            p.start,
            format!(
                "POST via {} seq {} → {:?} at {}",
                p.via,
                p.seq,
                p.outcome,
                ms(p.end)
            ),
        ));
    }
    for f in h.frames.iter().filter(|f| f.id == id && near(f.at)) {
        lines.push((f.at, format!("received via {} seq {}", f.via, f.seq)));
    }
    for e in h.events.iter().filter(|e| e.id == id) {
        let kind = if e.disconnect {
            "$disconnect"
        } else {
            "$connect"
        };
        lines.push((e.at, format!("{kind} {}", e.reason)));
    }
    for s in h.sessions.iter().filter(|s| s.id == id) {
        lines.push((s.opened, "opened".into()));
        if let Some((t, code)) = s.closed {
            lines.push((t, format!("closed {code:?}")));
        }
    }
    for f in h
        .faults
        .iter()
        .filter(|f| near(f.start) || near(f.end) || (f.start <= at && at <= f.end))
    {
        lines.push((f.start, format!("fault {} until {}", f.what, ms(f.end))));
    }
    lines.sort_by_key(|l| l.0);
    lines
        .iter()
        .map(|(t, l)| format!("    {} {l}\n", ms(*t)))
        .collect()
}

fn deliveries(h: &History, b: Bounds, r: &mut Report) {
    let mut got: HashMap<(bool, &str, usize, u64), usize> = HashMap::new();
    let mut order: HashMap<(bool, &str, usize), Vec<u64>> = HashMap::new();
    for f in &h.frames {
        *got.entry((f.group, &f.id, f.via, f.seq)).or_default() += 1;
        order
            .entry((f.group, &f.id, f.via))
            .or_default()
            .push(f.seq);
    }
    // Group sends: at most once to each member, in order per asking node.
    for (&(group, id, via, seq), &n) in &got {
        if group && n > 1 {
            r.violations.push(format!(
                "group send via {via} seq {seq} delivered {n} times to {id}"
            ));
        }
    }
    let ended: HashMap<&str, bool> = h
        .sessions
        .iter()
        .map(|s| (s.id.as_str(), s.closed.is_some()))
        .collect();
    // A fault's effect on a path to Redis outlasts it by up to unready_after:
    // data a lossy link held back waits for TCP's retransmission timer, and
    // the connection is given up (TCP_USER_TIMEOUT) after that long. A reply
    // published before the client has connected and subscribed again (a
    // heartbeat or so; the slack covers it) is lost too (the ten-minute Redis Cluster
    // run of 2026-12-08 found one: a POST 1.42 s after a lossy link healed,
    // delivered in 8 ms, its answer lost).
    let redis_fault_near = |start: Duration, end: Duration| {
        h.faults.iter().any(|f| {
            f.touches_redis()
                && f.start <= end + b.request_timeout
                && start <= f.end + b.unready_after + b.request_timeout + b.slack
        })
    };
    for p in h.posts.iter().filter(|p| !p.group) {
        let n = got
            .get(&(false, p.id.as_str(), p.via, p.seq))
            .copied()
            .unwrap_or(0);
        let ctx = || context(h, &p.id, p.start, Duration::from_secs(1));
        if n > 1 {
            r.violations.push(format!(
                "delivered {n} times: POST via {} seq {} to {}\n{}",
                p.via,
                p.seq,
                p.id,
                ctx()
            ));
        }
        match p.outcome {
            Outcome::Status(200) if n == 0 => {
                if ended.get(p.id.as_str()).copied().unwrap_or(false) {
                    r.count("200 lost with its connection");
                } else {
                    r.violations.push(format!(
                        "answered 200, never delivered, connection still open: {}\n{}",
                        p.id,
                        ctx()
                    ));
                }
            }
            Outcome::Status(503) if n > 0 => {
                if redis_fault_near(p.start, p.end) {
                    r.count("503 delivered (answer lost under a Redis fault)");
                } else {
                    r.violations
                        .push(format!("answered 503, delivered: {}\n{}", p.id, ctx()));
                }
            }
            Outcome::Status(s @ (410 | 429)) if n > 0 => {
                r.violations
                    .push(format!("answered {s}, delivered: {}\n{}", p.id, ctx()));
            }
            Outcome::Status(200 | 410 | 429 | 503) => {}
            Outcome::Status(s) => {
                r.violations
                    .push(format!("unexpected status {s}: {}\n{}", p.id, ctx()))
            }
            Outcome::Unknown => r.count("POST without an answer"),
        }
    }
    // A POST its client gave up on (no answer) may reach the node after the
    // next one: only an answered one orders those after it.
    let unanswered: std::collections::HashSet<(bool, usize, u64)> = h
        .posts
        .iter()
        .filter(|p| p.outcome == Outcome::Unknown)
        .map(|p| (p.group, p.via, p.seq))
        .collect();
    for ((group, id, via), seqs) in &order {
        let late = |w: &&[u64]| w[1] <= w[0] && !unanswered.contains(&(*group, *via, w[1]));
        if let Some(w) = seqs.windows(2).find(late) {
            let kind = if *group { "group sends" } else { "POSTs" };
            r.violations.push(format!(
                "{kind} out of order via {via}: seq {} after {} to {id}\n{}",
                w[1],
                w[0],
                context(h, id, Duration::ZERO, Duration::MAX / 4)
            ));
        }
    }
}

fn disconnects(h: &History, b: Bounds, r: &mut Report) {
    let mut connects: HashMap<&str, usize> = HashMap::new();
    let mut gone: HashMap<&str, Vec<Duration>> = HashMap::new();
    for e in &h.events {
        if e.disconnect {
            gone.entry(&e.id).or_default().push(e.at);
        } else {
            *connects.entry(&e.id).or_default() += 1;
        }
    }
    for (&id, &n) in &connects {
        let d = gone.get(id).map_or(0, Vec::len);
        if n != 1 || d != 1 {
            r.violations.push(format!(
                "{n} $connect and {d} $disconnect for {id}\n{}",
                context(h, id, Duration::ZERO, Duration::MAX / 4)
            ));
        }
    }
    for (&id, at) in &gone {
        if !connects.contains_key(id) {
            r.violations.push(format!(
                "$disconnect for {id}, never connected (at {})",
                ms(at[0])
            ));
        }
    }
    // Served after its $disconnect: a message POSTed later than the end of the
    // fault active when the $disconnect was delivered (or than the $disconnect
    // itself), plus slack, reached the client. (What was POSTed before may
    // arrive later: it was in flight, held by TCP on a slow or cut link.)
    let posted: HashMap<(&str, usize, u64), Duration> = h
        .posts
        .iter()
        .filter(|p| !p.group)
        .map(|p| ((p.id.as_str(), p.via, p.seq), p.start))
        .collect();
    for f in h.frames.iter().filter(|f| !f.group) {
        let Some(&at) = gone.get(f.id.as_str()).and_then(|v| v.first()) else {
            continue;
        };
        let Some(&sent) = posted.get(&(f.id.as_str(), f.via, f.seq)) else {
            continue;
        };
        let healed = h
            .faults
            .iter()
            .filter(|x| x.start <= at && at <= x.end + b.slack)
            .map(|x| x.end)
            .max()
            .unwrap_or(at);
        if sent > healed.max(at) + b.slack {
            r.violations.push(format!(
                "still served: POSTed at {}, after its $disconnect at {}: {}\n{}",
                ms(sent),
                ms(at),
                f.id,
                context(h, &f.id, f.at, Duration::from_secs(2))
            ));
            break;
        }
    }
}

fn readiness(h: &History, b: Bounds, r: &mut Report) {
    for f in &h.faults {
        let Some((node, settle)) = f.cuts_redis else {
            continue;
        };
        let from = f.start + settle + b.unready_after + b.slack;
        for p in h
            .ready
            .iter()
            .filter(|p| p.node == node && p.at >= from && p.at + b.slack <= f.end)
        {
            if let Some(s) = p.status.filter(|&s| s != 503) {
                r.violations.push(format!(
                    "node {node} answered /readyz {s} at {}, cut off from Redis since {} ({})",
                    ms(p.at),
                    ms(f.start),
                    f.what
                ));
            }
        }
    }
    // The last answer of each node, everything healed: ready.
    let nodes = h.ready.iter().map(|p| p.node).max().map_or(0, |n| n + 1);
    for node in 0..nodes {
        match h
            .ready
            .iter()
            .filter(|p| p.node == node)
            .max_by_key(|p| p.at)
        {
            Some(p) if p.status == Some(200) => {}
            last => r
                .violations
                .push(format!("node {node} not ready at the end: {last:?}")),
        }
    }
}

/// The cluster-wide limit, judged over sliding 10 s windows of the requests'
/// start times. A request is decided between its start and its answer, so a
/// window's decisions span its length plus the slowest admitted answer in it.
/// A node whose way to Redis a fault touched (from its start to
/// `unready_after` and a request after its end) may also admit its share: the
/// limit over the nodes it last counted live (at least all but one, with one
/// fault at a time).
fn throttles(h: &History, b: Bounds, r: &mut Report) {
    const WINDOW: Duration = Duration::from_secs(10);
    let (rate, burst) = b.limit;
    let share = rate / (b.nodes.saturating_sub(1).max(1)) as f64;
    let ok = |c: &&super::history::Throttled| c.outcome == Outcome::Status(200);
    let t = &mut r.throttle;
    t.admitted = h.throttled.iter().filter(ok).count();
    t.refused = h
        .throttled
        .iter()
        .filter(|c| c.outcome == Outcome::Status(429))
        .count();
    let last = h
        .throttled
        .iter()
        .map(|c| c.start)
        .max()
        .unwrap_or_default();
    let mut from = Duration::ZERO;
    while from + WINDOW <= last {
        let admitted: Vec<_> = h
            .throttled
            .iter()
            .filter(ok)
            .filter(|c| c.start >= from && c.start < from + WINDOW)
            .collect();
        let lag = admitted
            .iter()
            .map(|c| c.end - c.start)
            .max()
            .unwrap_or_default();
        let span = (WINDOW + lag).as_secs_f64();
        let to = from + WINDOW + lag;
        let mut fallback = vec![false; b.nodes];
        for f in &h.faults {
            if f.start <= to && from <= f.end + b.unready_after + b.request_timeout + b.slack {
                f.redis_path.iter().for_each(|&n| fallback[n] = true);
            }
        }
        // A node falling back adds at most its share, and at most what it
        // admitted.
        let fallbacks = fallback.iter().filter(|&&x| x).count();
        let extra: f64 = (0..b.nodes)
            .filter(|&n| fallback[n])
            .map(|n| {
                let through = admitted.iter().filter(|c| c.via == n).count() as f64;
                through.min(share * span + burst + 1.0)
            })
            .sum();
        let bound = rate * span + burst + 1.0 + extra;
        let n = admitted.len() as f64;
        t.windows += 1;
        t.worst = t.worst.max(n / bound);
        if n > bound {
            r.violations.push(format!(
                "the cluster limit admitted {n} requests started in {}..{} (bound {bound:.1}: {} nodes falling back)",
                ms(from),
                ms(from + WINDOW),
                fallbacks
            ));
        }
        from += Duration::from_secs(1);
    }
}
