//! Criterion benches for the HTTP API's hot path: route lookup in a table of
//! 1,000 routes (static, parameter and greedy routes, a hit at each level of
//! AWS's precedence and a miss), and building a payload format 2.0 event.
//! Run with `cargo bench --bench http_api`; README "Speed" has the figures.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue};
use sockgate::integration::forwarded::Forwarded;
use sockgate::integration::http_event::{HttpFacts, v2_json};
use sockgate::routing::http::HttpRouter;

/// 1,000 routes shaped like a real API's: 250 resources, each with a
/// collection, an item, a nested item and a greedy route.
fn table() -> HttpRouter<usize> {
    let keys = (0..250).flat_map(|i| {
        [
            format!("GET /api/v1/res{i}"),
            format!("PUT /api/v1/res{i}/{{id}}"),
            format!("GET /api/v1/res{i}/{{id}}/items/{{item}}"),
            format!("ANY /files/res{i}/{{path+}}"),
        ]
    });
    HttpRouter::new(keys.enumerate().map(|(n, k)| (k, n))).unwrap()
}

fn route_lookup(c: &mut Criterion) {
    let router = table();
    let cases = [
        ("static", "GET", "/api/v1/res200"),
        ("param", "PUT", "/api/v1/res200/12345"),
        ("nested_params", "GET", "/api/v1/res200/12345/items/abc"),
        ("greedy", "POST", "/files/res200/a/b/c.txt"),
        ("miss", "GET", "/api/v2/nothing/here"),
    ];
    for (name, method, path) in cases {
        c.bench_function(&format!("http_route/1000_routes/{name}"), |b| {
            b.iter(|| black_box(router.find(black_box(method), black_box(path)).is_some()))
        });
    }
}

fn event_v2(c: &mut Criterion) {
    let mut headers = HeaderMap::new();
    for (k, v) in [
        ("host", "api.example.com"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
        ),
        ("accept", "application/json"),
        ("content-type", "application/json"),
        ("authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln"),
        ("cookie", "session=abc123; theme=dark"),
    ] {
        headers.append(k, HeaderValue::from_static(v));
    }
    let body = br#"{"name":"Rex","kind":"dog","tags":["good","boy"],"age":3}"#;
    let params = [("id", "12345".to_owned())];
    let vars = BTreeMap::from([("backend".to_owned(), "http://10.0.0.1:3000".to_owned())]);
    let trace = sockgate::trace::Trace::from_client(None, None, None, 1.0);
    let forwarded = Forwarded::new("192.0.2.1".into(), None, "http", 8080, trace);
    let facts = HttpFacts {
        route_key: "PUT /pets/{id}",
        method: "PUT",
        raw_path: "/prod/pets/12345",
        route_path: "/pets/12345",
        raw_query: "verbose=1&fields=name,kind",
        headers: &headers,
        body,
        protocol: "HTTP/1.1",
        scheme: "http",
        source_ip: "192.0.2.1",
        forwarded: &forwarded,
        stage: "prod",
        path_params: &params,
        stage_variables: &vars,
        request_id: "BitA2hMuNjMEPFQ=",
        time_ms: 1_700_000_000_000,
        api_id: "sockgate",
        domain_name: "api.example.com",
        resource: "/pets/{id}",
        is_canary: None,
        authorizer: None,
    };
    c.bench_function("http_event/v2_json", |b| {
        b.iter(|| black_box(v2_json(black_box(&facts)).len()))
    });
}

criterion_group!(benches, route_lookup, event_v2);
criterion_main!(benches);
