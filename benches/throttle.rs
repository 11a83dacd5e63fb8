//! Criterion benches for a local throttling decision (issue 13's goal: at
//! most 200 ns): one shared bucket, a keyed bucket among 10,000 keys, and a
//! whole `throttle::check` across the connection, ip, route and account
//! levels. Run with `cargo bench --bench throttle`.

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

criterion_group!(benches, bench);
criterion_main!(benches);
