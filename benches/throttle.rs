//! Criterion benches for issue 13's hot paths: a local throttling decision
//! (goal: at most 200 ns) — one shared bucket, a keyed bucket among 10,000
//! keys, a whole `throttle::check` across the connection, ip, route and
//! account levels — and validating a 1 KiB message against a typical schema
//! (goal: at most 5 µs). Run with `cargo bench --bench throttle`.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use sockgate::throttle::{
    Bucket, ClientLimits, Gcra, KeyedBuckets, Limit, RouteBucket, Subject, ThrottleState, check,
};

/// A limit no bench reaches, so every decision takes the allowing path.
fn open() -> Gcra {
    Gcra::new(Limit {
        rate: 1e9,
        burst: 1_000_000,
        cluster: false,
    })
}

fn bench(c: &mut Criterion) {
    let g = open();
    let bucket = Bucket::default();
    let mut now = 1_000_000_000u64;
    c.bench_function("throttle/one bucket", |b| {
        b.iter(|| {
            now += 1;
            black_box(bucket.allow(&g, now))
        })
    });
    let keyed = KeyedBuckets::default();
    let keys: Vec<String> = (0..10_000)
        .map(|i| format!("10.0.{}.{}", i / 256, i % 256))
        .collect();
    for k in &keys {
        keyed.allow(k, &g, now);
    }
    let mut i = 0;
    c.bench_function("throttle/keyed, 10,000 keys", |b| {
        b.iter(|| {
            i = (i + 7919) % keys.len();
            now += 1;
            black_box(keyed.allow(&keys[i], &g, now))
        })
    });
    let state = ThrottleState::default();
    let limits = ClientLimits {
        connection: Some(g),
        ip: Some(g),
        ..ClientLimits::default()
    };
    let route = RouteBucket {
        gcra: g,
        bucket: Bucket::default(),
        name: "prod GET /pets".into(),
    };
    let conn = Bucket::default();
    c.bench_function("throttle/check: connection, ip, route, account", |b| {
        b.iter(|| {
            i = (i + 7919) % keys.len();
            now += 1;
            let s = Subject {
                connection: Some(&conn),
                ip: Some(&keys[i]),
                route: Some(&route),
                account: true,
                ..Subject::default()
            };
            black_box(check(&state, Some(&g), &limits, &s, now))
        })
    });
}

/// A typical message model: an object with required fields, types, bounds,
/// a pattern and an array of items.
const SCHEMA: &str = r#"{"type":"object","required":["action","id","items"],
  "properties":{"action":{"type":"string","enum":["order","cancel"]},
  "id":{"type":"string","pattern":"^[a-z0-9-]{8,64}$"},
  "note":{"type":"string","maxLength":512},
  "items":{"type":"array","maxItems":50,"items":{"type":"object","required":["sku","qty"],
    "properties":{"sku":{"type":"string"},"qty":{"type":"integer","minimum":1}}}}}}"#;

fn validation(c: &mut Criterion) {
    let model = sockgate::validation::Model::compile("Order", SCHEMA).unwrap();
    let items: Vec<String> = (0..16)
        .map(|i| format!(r#"{{"sku":"sku-{i:04}","qty":{}}}"#, i + 1))
        .collect();
    let body = format!(
        r#"{{"action":"order","id":"order-2026-12-01-0001","note":"{}","items":[{}]}}"#,
        "n".repeat(420),
        items.join(",")
    );
    assert!((900..1200).contains(&body.len()), "{}", body.len());
    c.bench_function("validation/1 KiB message, typical schema", |b| {
        b.iter(|| black_box(model.check(black_box(body.as_bytes())).is_ok()))
    });
}

criterion_group!(benches, bench, validation);
criterion_main!(benches);
