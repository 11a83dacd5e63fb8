//! Criterion benches for the hot paths: route selection, event serialization,
//! frame decoding, the connection registry under contention, and fan-out
//! (encode a frame once and queue it to many connections, against encoding it
//! per receiver), and signing a Lambda Invoke request. Run with `cargo bench`; README "Speed" has the figures and
//! their conditions.

// criterion_group! generates an undocumented public function.
#![allow(missing_docs)]

use std::collections::{BTreeMap, HashMap};
use std::hint::black_box;
use std::sync::Arc;

use std::time::Duration;

use sockgate::clock;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use sockgate::conn::ConnInfo;
use sockgate::conn::Connection;
use sockgate::conn::GroupKey;
use sockgate::conn::Id;
use sockgate::delivery::{Groups, Registry};
use sockgate::integration::{EventContext, EventType};
use sockgate::routing::{Message, RouteTable, Template};
use sockgate::ws::{Decoder, Frame, Limits, Step};

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
        auth: Default::default(),
        canary: false,
        trace: sockgate::trace::TraceRef::default(),
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
                is_canary: None,
            };
            black_box(ev.to_json());
        })
    });
}

fn conn(id: Id) -> Arc<Connection> {
    let info = ConnInfo {
        stage: Arc::from("prod"),
        connected_at_ms: 1,
        source_ip: "127.0.0.1".into(),
        user_agent: None,
        domain_name: "h".into(),
        auth: Default::default(),
        canary: false,
        trace: sockgate::trace::TraceRef::default(),
    };
    Arc::new(Connection::new(id, info, 1_000_000, 1 << 30))
}

fn frame_decoding(c: &mut Criterion) {
    // A masked 64-byte text frame, as a browser sends it.
    let payload = br#"{"action":"sendmessage","data":"hello world, hello sockgate!!"}"#;
    let key = [0x12, 0x34, 0x56, 0x78];
    let mut wire = vec![0x81, 0x80 | payload.len() as u8];
    wire.extend_from_slice(&key);
    wire.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    let limits = Limits {
        max_frame: 32 << 10,
        max_message: 128 << 10,
    };
    let mut d = Decoder::new(limits);
    c.bench_function("ws/decode_64_byte_text_frame", |b| {
        b.iter(|| black_box(matches!(d.decode(black_box(&wire)), Ok(Step::Frame { .. }))))
    });
}

/// Insert, look up and remove under contention: two threads (this machine's
/// cores) each churn their own ids against a registry holding 10,000 others.
fn registry_contention(c: &mut Criterion) {
    let registry = Arc::new(Registry::default());
    for _ in 0..10_000 {
        registry.insert(conn(Id::random()));
    }
    c.bench_function("registry/insert_get_remove_2_threads", |b| {
        b.iter_custom(|iters| {
            let per_thread = iters.div_ceil(2);
            let start = clock::now();
            std::thread::scope(|s| {
                for _ in 0..2 {
                    let registry = Arc::clone(&registry);
                    s.spawn(move || {
                        let mine: Vec<Arc<Connection>> =
                            (0..64).map(|_| conn(Id::random())).collect();
                        for i in 0..per_thread {
                            let c = &mine[i as usize % mine.len()];
                            registry.insert(Arc::clone(c));
                            black_box(registry.get(&c.id));
                            registry.remove(&c.id);
                        }
                    });
                }
            });
            // Wall time for `iters` triples shared by two threads: the
            // registry's throughput under contention, per triple.
            start.elapsed()
        })
    });
}

/// One message to 10,000 group members: encoded once and shared, as
/// sockgate does, against encoding a copy per receiver; and a 1 KiB JSON
/// message to 10,000 members that agreed permessage-deflate, deflated once
/// (sockgate) against once per receiver.
fn fanout(c: &mut Criterion) {
    let deflate = sockgate::ws::Deflate {
        level: 1,
        min_bytes: 0,
        server_window: 15,
        client_takeover: None,
    };
    let (plain, plain_key) = group_of(10_000, None);
    let (deflated, deflated_key) = group_of(10_000, Some(deflate));
    let payload = "x".repeat(64);
    let json = r#"{"type":"quote","symbol":"ACME","bid":101.25,"ask":101.27},"#.repeat(17);
    let drain = |members: &[Arc<Connection>]| {
        let waker = futures_util::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        let mut out = std::collections::VecDeque::new();
        for m in members {
            if m.poll_outbound(&mut cx, &mut out).is_ready() {
                m.written(out.len(), out.iter().map(Frame::len).sum());
                out.clear();
            }
        }
    };
    let mut g = c.benchmark_group("fanout_10k");
    g.throughput(Throughput::Elements(10_000));
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    g.bench_function(BenchmarkId::from_parameter("encode_once"), |b| {
        b.iter(|| {
            let sent = plain
                .0
                .send(&plain_key, &Frame::text(black_box(&payload)).into());
            drain(&plain.1);
            black_box(sent)
        })
    });
    g.bench_function(BenchmarkId::from_parameter("encode_per_receiver"), |b| {
        b.iter(|| {
            for m in &plain.1 {
                let _ = m.post(&Frame::text(black_box(&payload)).into());
            }
            drain(&plain.1);
        })
    });
    g.bench_function(BenchmarkId::from_parameter("plain_1k_json"), |b| {
        b.iter(|| {
            let sent = plain
                .0
                .send(&plain_key, &Frame::text(black_box(&json)).into());
            drain(&plain.1);
            black_box(sent)
        })
    });
    g.bench_function(BenchmarkId::from_parameter("deflate_once_1k_json"), |b| {
        b.iter(|| {
            let sent = deflated
                .0
                .send(&deflated_key, &Frame::text(black_box(&json)).into());
            drain(&deflated.1);
            black_box(sent)
        })
    });
    g.bench_function(
        BenchmarkId::from_parameter("deflate_per_receiver_1k_json"),
        |b| {
            b.iter(|| {
                for m in &deflated.1 {
                    let _ = m.post(&Frame::text(black_box(&json)).into());
                }
                drain(&deflated.1);
            })
        },
    );
    g.finish();
}

/// `n` connections in one group, with `deflate` agreed.
fn group_of(
    n: usize,
    deflate: Option<sockgate::ws::Deflate>,
) -> ((Groups, Vec<Arc<Connection>>), GroupKey) {
    let groups = Groups::default();
    let key = GroupKey::new("prod", "room").unwrap();
    let members: Vec<Arc<Connection>> = (0..n)
        .map(|_| {
            let c = Arc::try_unwrap(conn(Id::random())).unwrap();
            Arc::new(c.with_deflate(deflate))
        })
        .collect();
    for m in &members {
        groups.join(m, &key, 10).unwrap();
    }
    ((groups, members), key)
}

/// What a Lambda Invoke call costs the gateway before it is sent: the
/// request built and SigV4-signed (hashing the event, the canonical request,
/// four HMACs), for a typical 1 KiB event.
fn lambda_signing(c: &mut Criterion) {
    use sockgate::config::{AwsKeys, Credentials, LambdaConfig, LambdaFunction};
    use sockgate::integration::lambda::Lambda;
    let lambda = Lambda::new(&LambdaConfig {
        region: Some("eu-west-1".into()),
        endpoint: None,
        credentials: Credentials::Fixed(AwsKeys {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".into(),
            session_token: Some("IQoJb3JpZ2luX2VjE".repeat(20)),
        }),
    });
    let function = LambdaFunction {
        name: "arn:aws:lambda:eu-west-1:123456789012:function:chat:live".into(),
        region: Some("eu-west-1".into()),
    };
    let event = bytes::Bytes::from(vec![b'x'; 1024]);
    c.bench_function("lambda/sign_1k_event", |b| {
        b.iter(|| black_box(lambda.request(&function, black_box(event.clone())).is_ok()))
    });
}

criterion_group!(
    benches,
    route_selection,
    event_serialization,
    frame_decoding,
    registry_contention,
    fanout,
    lambda_signing
);
criterion_main!(benches);
