//! A long run's results for `load/chaos.sh`: `chaos.json` in the output
//! directory — the seed, every fault with its span, one row per second (POSTs
//! by answer, frames received, each node's last `/readyz` answer), a table
//! per fault kind, the cluster-wide limit's figures, and the checker's
//! verdict. `sockgate-load chaos-plot`
//! draws it.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Value, json};

use super::checker::Report;
use super::history::{History, Outcome};

fn outcome(o: Outcome) -> &'static str {
    match o {
        Outcome::Status(200) => "200",
        Outcome::Status(503) => "503",
        Outcome::Status(410) => "410",
        Outcome::Status(_) => "other",
        Outcome::Unknown => "no answer",
    }
}

pub fn write(dir: &Path, seed: u64, redis: &str, h: &History, report: &Report) {
    let end = h
        .posts
        .iter()
        .map(|p| p.end)
        .chain(h.frames.iter().map(|f| f.at))
        .max()
        .unwrap_or_default();
    let seconds = end.as_secs() as usize + 1;
    let nodes = h.ready.iter().map(|r| r.node + 1).max().unwrap_or(0);
    let mut rows: Vec<BTreeMap<&str, Value>> = (0..seconds)
        .map(|t| BTreeMap::from([("t", json!(t)), ("ready", json!(vec![Value::Null; nodes]))]))
        .collect();
    for p in &h.posts {
        let row = &mut rows[p.start.as_secs() as usize];
        let n = row.entry(outcome(p.outcome)).or_insert(json!(0));
        *n = json!(n.as_u64().unwrap_or(0) + 1);
    }
    for f in &h.frames {
        let n = rows[f.at.as_secs() as usize]
            .entry("frames")
            .or_insert(json!(0));
        *n = json!(n.as_u64().unwrap_or(0) + 1);
    }
    for r in &h.ready {
        if let Some(row) = rows.get_mut(r.at.as_secs() as usize) {
            row.get_mut("ready").unwrap()[r.node] =
                r.status.map_or(Value::Null, |s| json!(u8::from(s == 200)));
        }
    }
    // Per kind: how often, for how long, and what POSTs made during it got.
    let mut kinds: BTreeMap<&str, BTreeMap<&str, f64>> = BTreeMap::new();
    for f in &h.faults {
        let k = kinds.entry(f.kind).or_default();
        *k.entry("times").or_default() += 1.0;
        *k.entry("seconds").or_default() += (f.end - f.start).as_secs_f64();
        for p in h
            .posts
            .iter()
            .filter(|p| !p.group && p.start >= f.start && p.start < f.end)
        {
            *k.entry(outcome(p.outcome)).or_default() += 1.0;
        }
    }
    let faults: Vec<Value> = h
        .faults
        .iter()
        .map(|f| json!({"kind": f.kind, "what": f.what, "start": f.start.as_secs_f64(), "end": f.end.as_secs_f64()}))
        .collect();
    let doc = json!({
        "seed": seed,
        "redis": redis,
        "seconds": seconds,
        "nodes": nodes,
        "posts": h.posts.iter().filter(|p| !p.group).count(),
        "group_sends": h.posts.iter().filter(|p| p.group).count(),
        "frames": h.frames.len(),
        "connections": h.sessions.len(),
        "events": h.events.len(),
        "faults": faults,
        "by_kind": kinds,
        "counted": report.counted,
        "throttle": {
            "admitted": report.throttle.admitted,
            "refused": report.throttle.refused,
            "windows": report.throttle.windows,
            "worst_share_of_bound": report.throttle.worst,
        },
        "violations": report.violations,
        "timeline": rows,
    });
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(
        dir.join("chaos.json"),
        serde_json::to_string_pretty(&doc).unwrap(),
    )
    .unwrap();
}
