//! The dashboard on the management listener, over HTTP: its event stream
//! (history first, then live samples whose figures are `/metrics`'s), who may
//! open it and act through it, a connection looked up, sent to and
//! disconnected through another node of a cluster (a real redis-server), the
//! cluster's nodes in its samples, the bound on open dashboards, and
//! `management.dashboard = false`. The page itself is driven in a real
//! browser by `tests/browser.rs`.

mod support;

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use support::redis::RedisServer;
use support::*;

const TOKEN: &str = "0123456789abcdef0123456789abcdef-dashboard";

fn config(extra: &str) -> String {
    format!(
        "[websocket]\nroute_selection_expression = \"$request.body.action\"\n[stages.prod]\n{WHOAMI_ROUTE}\n{extra}"
    )
}

/// An open event stream, read event by event.
struct Events {
    body: hyper::body::Incoming,
    buf: BytesMut,
}

impl Events {
    async fn open(gw: &Gw, headers: &[(&str, &str)]) -> Result<Events, u16> {
        let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
            .build_http::<Empty<Bytes>>();
        let mut req = http::Request::get(format!("http://{}/@dashboard/events", gw.mgmt));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = tokio::time::timeout(PATIENCE, client.request(req.body(Empty::new()).unwrap()))
            .await
            .unwrap()
            .unwrap();
        if resp.status() != 200 {
            return Err(resp.status().as_u16());
        }
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        Ok(Events {
            body: resp.into_body(),
            buf: BytesMut::new(),
        })
    }

    /// The next event: its name (`message` when unnamed) and its data as JSON.
    async fn next(&mut self) -> (String, Value) {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let event = self.buf.split_to(end + 2);
                let text = std::str::from_utf8(&event).unwrap();
                let mut name = "message".to_owned();
                let mut data = String::new();
                for line in text.lines() {
                    if let Some(n) = line.strip_prefix("event: ") {
                        name = n.to_owned();
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data.push_str(d);
                    }
                }
                return (name, serde_json::from_str(&data).unwrap());
            }
            let frame = tokio::time::timeout(PATIENCE, self.body.frame())
                .await
                .expect("a sample in time")
                .expect("the stream is open")
                .unwrap();
            if let Ok(data) = frame.into_data() {
                self.buf.extend_from_slice(&data);
            }
        }
    }

    /// The first live sample for which `ok` holds.
    async fn until(&mut self, ok: impl Fn(&Value) -> bool) -> Value {
        loop {
            let (name, sample) = self.next().await;
            if name == "message" && ok(&sample) {
                return sample;
            }
        }
    }
}

fn dashboard(gw: &Gw, path: &str) -> String {
    format!("http://{}/@dashboard/{path}", gw.mgmt)
}

const ACT: (&str, &str) = ("x-sockgate-dashboard", "1");

#[tokio::test]
async fn the_stream_starts_with_history_and_its_figures_are_the_metrics() {
    let backend = Backend::start().await;
    let call = format!(
        "[routes.call]\nintegration = {{ type = \"aws_proxy\", uri = \"{}/call\" }}\n",
        backend.url()
    );
    let gw = Gw::start(&config(&call)).await;
    let (mut a, _) = connected(&gw.url("prod")).await;
    let (_b, _) = connected(&gw.url("prod")).await;
    for _ in 0..3 {
        send_text(&mut a, r#"{"action":"whoami"}"#).await;
        recv_text(&mut a).await;
    }
    let mut events = Events::open(&gw, &[]).await.unwrap();
    let (name, history) = events.next().await;
    assert_eq!(name, "history");
    assert!(history.is_array(), "{history}");
    // Two connections, five whoami messages: the sample says what /metrics says.
    let sample = events
        .until(|s| s["totals"]["connections"] == 2.0 && s["totals"]["messages_in"] == 5.0)
        .await;
    let text = gw.metrics_text().await;
    let stage = ["stage=\"prod\""];
    assert_eq!(metric(&text, "sockgate_connections_open", &stage), 2.0);
    assert_eq!(
        metric(
            &text,
            "sockgate_messages_total",
            &["route=\"whoami\"", "direction=\"in\""]
        ),
        5.0
    );
    assert_eq!(
        sample["totals"]["connects"].as_f64().unwrap(),
        metric(&text, "sockgate_connects_total", &["outcome=\"accepted\""])
    );
    assert_eq!(sample["connections"]["prod"], 2.0);
    assert_eq!(sample["stages"], serde_json::json!(["prod"]));
    assert_eq!(sample["config"]["generation"], 1);
    assert!(sample["cluster"].is_null());
    let node = gw.gateway.delivery().node().to_string();
    assert_eq!(sample["node"], node.as_str());

    // Messages per second over the interval, by route; the backend's latency.
    for _ in 0..20 {
        send_text(&mut a, r#"{"action":"call"}"#).await;
    }
    let busy = events
        .until(|s| {
            s["messages_in"]["prod call"].as_f64().unwrap_or(0.0) > 0.0
                && s["latency"]["ws prod call"]["p99"].as_f64().is_some()
        })
        .await;
    let q = &busy["latency"]["ws prod call"];
    assert!(
        q["p50"].as_f64().unwrap() <= q["p99"].as_f64().unwrap(),
        "{busy}"
    );

    // A reload shows in the next samples.
    let report = gw.reload_with(&config(&format!(
        "{call}[stages.prod.variables]\nx = \"1\"\n"
    )));
    assert_eq!(report.outcome, "applied");
    let reloaded = events.until(|s| s["config"]["generation"] == 2).await;
    assert_eq!(reloaded["config"]["last_reload"]["outcome"], "applied");

    // A second viewer gets what the first saw as history.
    let mut second = Events::open(&gw, &[]).await.unwrap();
    let (name, history) = second.next().await;
    assert_eq!(name, "history");
    assert!(history.as_array().unwrap().len() >= 3, "{history}");
}

#[tokio::test]
async fn a_bearer_token_or_basic_with_it_opens_the_dashboard() {
    let gw = Gw::start(&config(&format!(
        "[management]\nbearer_tokens = {{ ops = \"{TOKEN}\" }}\n"
    )))
    .await;
    let (status, headers, _) = http("GET", &dashboard(&gw, ""), vec![]).await;
    assert_eq!(status, 401);
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic ")
    );
    let bearer = format!("Bearer {TOKEN}");
    let (status, headers, page) = http_with(
        "GET",
        &dashboard(&gw, ""),
        &[("authorization", &bearer)],
        vec![],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    assert!(std::str::from_utf8(&page).unwrap().contains("<canvas"));
    use base64::Engine as _;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("anyone:{TOKEN}"))
    );
    assert!(
        Events::open(&gw, &[("authorization", &basic)])
            .await
            .is_ok()
    );
    let wrong = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("anyone:guess")
    );
    assert_eq!(
        Events::open(&gw, &[("authorization", &wrong)]).await.err(),
        Some(401)
    );

    // SigV4 keys alone cannot serve a browser: the answer says what to add.
    let sigv4 = Gw::start(&config(
        "[management]\naccess_keys = { AKIDEXAMPLE = \"dummysecret\" }\n",
    ))
    .await;
    let (status, _, body) = http("GET", &dashboard(&sigv4, ""), vec![]).await;
    assert_eq!(status, 403);
    assert!(
        std::str::from_utf8(&body)
            .unwrap()
            .contains("bearer_tokens")
    );
}

#[tokio::test]
async fn another_sites_page_and_a_rebound_name_are_refused() {
    let gw = Gw::start(&config("")).await;
    let (mut ws, id) = connected(&gw.url("prod")).await;
    // DNS rebinding: a page whose name now points at 127.0.0.1.
    let (status, _, _) = http_with(
        "GET",
        &dashboard(&gw, "events"),
        &[("host", "attacker.example")],
        vec![],
    )
    .await;
    assert_eq!(status, 403);
    let send = dashboard(&gw, &format!("api/connections/{id}"));
    // Without the dashboard's header (a form or a simple fetch elsewhere).
    let (status, _, _) = http("POST", &send, b"x".to_vec()).await;
    assert_eq!(status, 403);
    let (status, _, _) = http_with(
        "POST",
        &send,
        &[ACT, ("origin", "http://attacker.example")],
        b"x".to_vec(),
    )
    .await;
    assert_eq!(status, 403);
    // The management API refuses another site's page too, and serves curl.
    let broadcast = format!("http://{}/prod/@broadcast", gw.mgmt);
    let (status, _, _) = http_with(
        "POST",
        &broadcast,
        &[("origin", "http://attacker.example")],
        b"spam".to_vec(),
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, _) = http("POST", &broadcast, b"hello".to_vec()).await;
    assert_eq!(status, 200);
    assert_eq!(recv_text(&mut ws).await, "hello");
}

#[tokio::test]
async fn a_connection_on_another_node_is_found_sent_to_and_disconnected() {
    let redis = RedisServer::start();
    let cluster = format!(
        "[cluster]\nredis_url = \"{}\"\nheartbeat_interval = \"100ms\"\nnode_ttl = \"1s\"\nrequest_timeout = \"500ms\"\n",
        redis.url()
    );
    let a = Gw::start(&config(&cluster)).await;
    let b = Gw::start(&config(&cluster)).await;
    a.wait_ready().await;
    b.wait_ready().await;
    let (mut ws, id) = connected(&a.url("prod")).await;
    let join = format!("http://{}/prod/@groups/room/{id}", a.mgmt);
    assert_eq!(http("PUT", &join, vec![]).await.0, 204);

    let url = dashboard(&b, &format!("api/connections/{id}"));
    let (status, _, body) = http("GET", &url, vec![]).await;
    assert_eq!(status, 200, "{body:?}");
    let c: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(c["connectionId"], id.as_str());
    assert_eq!(c["stage"], "prod");
    assert_eq!(c["node"], a.gateway.delivery().node().to_string().as_str());
    assert_eq!(c["sourceIp"], "127.0.0.1");
    assert_eq!(c["groups"], serde_json::json!(["room"]));
    assert_eq!(c["queuedMessages"], 0);

    let (status, _, _) = http_with("POST", &url, &[ACT], b"from the dashboard".to_vec()).await;
    assert_eq!(status, 200);
    assert_eq!(recv_text(&mut ws).await, "from the dashboard");

    // The group, with its member on node a.
    let (status, _, body) = http("GET", &dashboard(&a, "api/groups?stage=prod"), vec![]).await;
    assert_eq!(status, 200);
    let page: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        page["groups"],
        serde_json::json!([{"name": "room", "members": 1}])
    );
    assert_eq!(page["total"], 1);

    // Both nodes in b's samples, a with its connection.
    let mut events = Events::open(&b, &[]).await.unwrap();
    let a_tag = a.gateway.delivery().node().to_string();
    let sample = events
        .until(|s| {
            s["cluster"]["nodes"].as_array().is_some_and(|nodes| {
                nodes.len() == 2
                    && nodes.iter().all(|n| n["alive"] == true)
                    && nodes
                        .iter()
                        .any(|n| n["node"] == a_tag.as_str() && n["connections"]["prod"] == 1.0)
            })
        })
        .await;
    assert_eq!(sample["cluster"]["redis_up"], true);
    assert!(sample["cluster"]["redis_rtt_ms"].as_f64().is_some());

    let (status, _, _) = http_with("DELETE", &url, &[ACT], vec![]).await;
    assert_eq!(status, 204);
    let (code, _) = expect_close(&mut ws).await;
    assert_eq!(code, 1000);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(http("GET", &url, vec![]).await.0, 410);
}

#[tokio::test]
async fn groups_come_a_page_at_a_time() {
    let gw = Gw::start(&config("")).await;
    let (_ws, id) = connected(&gw.url("prod")).await;
    for g in ["a", "b", "c", "d", "e"] {
        let join = format!("http://{}/prod/@groups/{g}/{id}", gw.mgmt);
        assert_eq!(http("PUT", &join, vec![]).await.0, 204);
    }
    let page = |q: &str| {
        let url = dashboard(&gw, &format!("api/groups?stage=prod&limit=2{q}"));
        async move { serde_json::from_slice::<Value>(&http("GET", &url, vec![]).await.2).unwrap() }
    };
    let first = page("").await;
    assert_eq!(first["groups"][0]["name"], "a");
    assert_eq!(first["next"], "b");
    assert_eq!(first["total"], 5);
    let last = page("&after=d").await;
    assert_eq!(
        last["groups"],
        serde_json::json!([{"name": "e", "members": 1}])
    );
    assert!(last["next"].is_null());
    let (status, _, _) = http("GET", &dashboard(&gw, "api/groups?stage=nope"), vec![]).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn open_dashboards_are_bounded_and_the_dashboard_can_be_turned_off() {
    let gw = Gw::start(&config("")).await;
    let mut open = Vec::new();
    for _ in 0..sockgate::telemetry::MAX_VIEWERS {
        open.push(Events::open(&gw, &[]).await.unwrap());
    }
    assert_eq!(Events::open(&gw, &[]).await.err(), Some(503));
    drop(open.pop());
    // The place is freed once the connection's stream is dropped.
    let deadline = sockgate::clock::now() + PATIENCE;
    while Events::open(&gw, &[]).await.is_err() {
        assert!(
            sockgate::clock::now() < deadline,
            "the place was never freed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let off = Gw::start(&config("[management]\ndashboard = false\n")).await;
    let (status, _, _) = http("GET", &dashboard(&off, ""), vec![]).await;
    assert_eq!(status, 404);
    tokio::time::sleep(sockgate::telemetry::SAMPLE_EVERY * 2).await;
    assert!(off.gateway.feed().latest().is_none());
}
