//! Criterion benches for per-message hot paths: route selection and event
//! serialization. Run with `cargo bench`; conditions go in the closing notes.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use sockgate::integration::{EventContext, EventType};
use sockgate::routing::{Message, RouteTable, Template};
use sockgate::session::id::Id;
use sockgate::session::mailbox::ConnInfo;

fn route_selection(c: &mut Criterion) {
    let custom: HashMap<String, u32> = (0..50).map(|i| (format!("route{i}"), i)).collect();
    let table = RouteTable::new(
        Template::parse("$request.body.action").unwrap(),
        custom,
        Some(999),
    );
    let msg = r#"{"action":"route42","data":{"text":"hello world","n":12345}}"#;
    c.bench_function("select/json_body_50_routes", |b| {
        b.iter(|| {
            let m = Message::new(black_box(msg), true);
            black_box(matches!(
                table.select(&m),
                sockgate::routing::Selected::Route(..)
            ));
        })
    });
    let literal = RouteTable::new(
        Template::parse("route7").unwrap(),
        (0..50).map(|i| (format!("route{i}"), i)).collect(),
        None,
    );
    c.bench_function("select/static_expression", |b| {
        b.iter(|| {
            let m = Message::new(black_box(msg), literal.needs_json());
            black_box(matches!(
                literal.select(&m),
                sockgate::routing::Selected::Route(..)
            ));
        })
    });
}

fn event_serialization(c: &mut Criterion) {
    let info = ConnInfo {
        stage: Arc::from("prod"),
        connected_at_ms: 1_708_326_702_789,
        source_ip: "203.0.113.7".into(),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64)".into()),
        domain_name: "ws.example.com".into(),
    };
    let conn = Id::random();
    let vars = BTreeMap::new();
    let body = r#"{"action":"sendmessage","data":"hello world"}"#;
    c.bench_function("event/message_to_json", |b| {
        b.iter(|| {
            let ev = EventContext {
                event_type: EventType::Message,
                route_key: "sendmessage",
                connection_id: &conn,
                info: &info,
                api_id: "sockgate",
                request_id: Id::random(),
                request_time_ms: 1_708_326_702_790,
                message_id: Some(Id::random()),
                body: Some(body),
                is_base64: false,
                handshake: None,
                disconnect: None,
                stage_variables: &vars,
                body_json: None,
            };
            black_box(ev.to_json());
        })
    });
}

criterion_group!(benches, route_selection, event_serialization);
criterion_main!(benches);
