//! The checker against histories made by hand: each rule finds its violation,
//! and what the contract allows is counted, not failed.

use std::time::Duration;

use super::checker::{Bounds, Report, check};
use super::history::{Event, Fault, Frame, History, Outcome, Post, Ready, Session, Throttled};

fn t(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

const BOUNDS: Bounds = Bounds {
    request_timeout: Duration::from_millis(500),
    unready_after: Duration::from_millis(900),
    slack: Duration::from_millis(1500),
    limit: (20.0, 5.0),
    nodes: 2,
};

/// One connection "c" (open from 0 to `closed`, if it closed: else still open
/// when the run ended) with its `$connect` and `$disconnect`, and both nodes
/// ready at the end.
fn base(closed: Option<u64>) -> History {
    let mut h = History::default();
    h.sessions.push(Session {
        id: "c".into(),
        opened: t(0),
        closed: closed.map(|c| (t(c), Some(1000))),
    });
    h.events.push(event(0, false));
    h.events.push(event(closed.unwrap_or(60_000), true));
    for node in 0..2 {
        h.ready.push(Ready {
            node,
            at: t(90_000),
            status: Some(200),
        });
    }
    h
}

fn event(at: u64, disconnect: bool) -> Event {
    Event {
        id: "c".into(),
        at: t(at),
        disconnect,
        reason: String::new(),
    }
}

fn post(h: &mut History, via: usize, seq: u64, at: u64, status: u16) {
    h.posts.push(Post {
        group: false,
        via,
        id: "c".into(),
        seq,
        start: t(at),
        end: t(at + 5),
        outcome: Outcome::Status(status),
    });
}

fn frame(h: &mut History, via: usize, seq: u64, at: u64) {
    h.frames.push(Frame {
        group: false,
        id: "c".into(),
        via,
        seq,
        at: t(at),
    });
}

fn redis_fault(h: &mut History, node: usize, from: u64, to: u64) {
    h.faults.push(Fault {
        kind: "cut",
        what: "cut".into(),
        start: t(from),
        end: t(to),
        redis_path: vec![node],
        cuts_redis: Some((node, Duration::ZERO)),
    });
}

fn one(r: &Report, needle: &str) {
    assert_eq!(r.violations.len(), 1, "{:?}", r.violations);
    assert!(r.violations[0].contains(needle), "{}", r.violations[0]);
}

#[test]
fn a_clean_history_passes() {
    let mut h = base(Some(10_000));
    post(&mut h, 0, 1, 100, 200);
    frame(&mut h, 0, 1, 110);
    post(&mut h, 1, 1, 200, 503);
    let r = check(&h, BOUNDS);
    assert!(r.violations.is_empty(), "{:?}", r.violations);
}

#[test]
fn a_200_never_delivered_to_an_open_connection_is_a_violation() {
    let mut h = base(None);
    post(&mut h, 0, 1, 100, 200);
    one(&check(&h, BOUNDS), "never delivered");
    // …but lost with a connection that ended, it is what the contract allows.
    let mut h = base(Some(10_000));
    post(&mut h, 0, 1, 100, 200);
    let r = check(&h, BOUNDS);
    assert!(r.violations.is_empty());
    assert_eq!(r.counted["200 lost with its connection"], 1);
}

#[test]
fn a_503_delivered_is_a_violation_unless_a_redis_fault_could_lose_its_answer() {
    let mut h = base(Some(10_000));
    post(&mut h, 0, 1, 100, 503);
    frame(&mut h, 0, 1, 110);
    one(&check(&h, BOUNDS), "answered 503, delivered");
    redis_fault(&mut h, 1, 300, 2000);
    let r = check(&h, BOUNDS);
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    assert_eq!(r.counted.values().sum::<usize>(), 1);
}

#[test]
fn a_410_or_429_delivered_is_a_violation() {
    for status in [410, 429] {
        let mut h = base(Some(10_000));
        post(&mut h, 0, 1, 100, status);
        frame(&mut h, 0, 1, 110);
        one(&check(&h, BOUNDS), &format!("answered {status}"));
    }
}

#[test]
fn duplicates_and_reordering_are_violations() {
    let mut h = base(Some(10_000));
    post(&mut h, 0, 1, 100, 200);
    frame(&mut h, 0, 1, 110);
    frame(&mut h, 0, 1, 120);
    let r = check(&h, BOUNDS);
    assert!(
        r.violations.iter().any(|v| v.contains("delivered 2 times")),
        "{:?}",
        r.violations
    );

    let mut h = base(Some(10_000));
    post(&mut h, 0, 1, 100, 200);
    post(&mut h, 0, 2, 200, 200);
    frame(&mut h, 0, 2, 210);
    frame(&mut h, 0, 1, 220);
    one(&check(&h, BOUNDS), "out of order");
    // …but a POST that got no answer (its client gave up while it was held on
    // a cut link) may arrive after the next one.
    let mut h = base(Some(10_000));
    post(&mut h, 0, 1, 100, 200);
    h.posts.last_mut().unwrap().outcome = Outcome::Unknown;
    post(&mut h, 0, 2, 2_200, 200);
    frame(&mut h, 0, 2, 2_210);
    frame(&mut h, 0, 1, 2_900);
    assert!(check(&h, BOUNDS).violations.is_empty());
    // A group send reaching a member twice.
    let mut h = base(Some(10_000));
    for at in [110, 120] {
        h.frames.push(Frame {
            group: true,
            id: "c".into(),
            via: 1,
            seq: 7,
            at: t(at),
        });
    }
    let r = check(&h, BOUNDS);
    assert!(
        r.violations
            .iter()
            .any(|v| v.contains("group send via 1 seq 7 delivered 2 times")),
        "{:?}",
        r.violations
    );
    // Order is per asking node: one node's POSTs may overtake another's.
    let mut h = base(Some(10_000));
    post(&mut h, 0, 1, 100, 200);
    post(&mut h, 1, 1, 50, 200);
    frame(&mut h, 0, 1, 110);
    frame(&mut h, 1, 1, 120);
    assert!(check(&h, BOUNDS).violations.is_empty());
}

#[test]
fn disconnects_must_come_exactly_once() {
    let mut h = base(Some(10_000));
    h.events.push(event(10_100, true));
    one(&check(&h, BOUNDS), "1 $connect and 2 $disconnect");
    let mut h = base(Some(10_000));
    h.events.retain(|e| !e.disconnect);
    one(&check(&h, BOUNDS), "1 $connect and 0 $disconnect");
}

#[test]
fn a_message_posted_after_the_disconnect_and_the_heal_is_a_violation() {
    // Declared lost at 5 s during a cut that healed at 8 s.
    let mut h = base(Some(5_000));
    redis_fault(&mut h, 1, 3_000, 8_000);
    // Posted during the cut (the cut-off node serves its own): allowed.
    post(&mut h, 1, 1, 6_000, 200);
    frame(&mut h, 1, 1, 6_010);
    // Posted before the $disconnect, arriving long after: it was in flight.
    post(&mut h, 0, 1, 4_000, 200);
    frame(&mut h, 0, 1, 12_000);
    assert!(check(&h, BOUNDS).violations.is_empty());
    // Posted well after the heal, and delivered: two nodes serve it.
    post(&mut h, 1, 2, 11_000, 200);
    frame(&mut h, 1, 2, 11_010);
    one(&check(&h, BOUNDS), "still served");
}

#[test]
fn readyz_must_say_503_while_cut_off_and_200_at_the_end() {
    let mut h = base(Some(10_000));
    redis_fault(&mut h, 0, 1_000, 6_000);
    for at in [1_500, 4_000, 5_000] {
        h.ready.push(Ready {
            node: 0,
            at: t(at),
            status: Some(503),
        });
    }
    assert!(
        check(&h, BOUNDS).violations.is_empty(),
        "early 503s and answers within the bound pass"
    );
    h.ready.push(Ready {
        node: 0,
        at: t(4_200),
        status: Some(200),
    });
    one(&check(&h, BOUNDS), "answered /readyz 200");
    let mut h = base(Some(10_000));
    h.ready.push(Ready {
        node: 1,
        at: t(95_000),
        status: None,
    });
    one(&check(&h, BOUNDS), "not ready at the end");
}

/// `per_node` requests a second admitted through each of `nodes`, for 20 s.
fn admit(h: &mut History, nodes: usize, per_node: u64) {
    for via in 0..nodes {
        for i in 0..20 * per_node {
            let start = t(i * 1000 / per_node);
            h.throttled.push(Throttled {
                via,
                start,
                end: start + t(5),
                outcome: Outcome::Status(200),
            });
        }
    }
}

#[test]
fn the_cluster_limit_holds_its_bound_and_a_cut_off_node_adds_its_share() {
    // 10 + 10 a second through two nodes: the limit (20/s), nothing more.
    let mut h = base(None);
    admit(&mut h, 2, 10);
    let r = check(&h, BOUNDS);
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    // At the limit, just under its bound (rate × 10.005 s + burst + 1).
    assert!(r.throttle.windows > 5 && r.throttle.worst > 0.9 && r.throttle.worst <= 1.0);
    // 40 a second: twice the limit, with no fault to explain it.
    let mut h = base(None);
    admit(&mut h, 2, 20);
    assert!(!check(&h, BOUNDS).violations.is_empty());
    // The limit, and node 1's share on top while it is cut off from Redis.
    let mut h = base(None);
    admit(&mut h, 1, 20);
    for i in 0..200 {
        let start = t(3_000 + i * 50);
        h.throttled.push(Throttled {
            via: 1,
            start,
            end: start + t(5),
            outcome: Outcome::Status(200),
        });
    }
    redis_fault(&mut h, 1, 3_000, 13_000);
    let r = check(&h, BOUNDS);
    assert!(r.violations.is_empty(), "{:?}", r.violations);
    assert!(r.throttle.worst > 0.5);
}
