//! Several nodes joined through a real redis-server: @connections and groups
//! across nodes, a node killed with SIGKILL, and Redis restarted mid-traffic.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use support::redis::RedisServer;
use support::*;

/// Fast timings so liveness is exercised in seconds.
fn cluster_config(redis: &str, backend: Option<&str>) -> String {
    let disconnect = backend.map_or(String::new(), |b| {
        format!(
            "[routes.\"$disconnect\"]\nintegration = {{ type = \"aws_proxy\", uri = \"{b}/disconnect\" }}\n"
        )
    });
    format!(
        r#"
[cluster]
redis_url = "{redis}"
heartbeat_interval = "100ms"
node_ttl = "1s"
request_timeout = "500ms"
[websocket]
route_selection_expression = "$request.body.action"
[stages.prod]
{WHOAMI_ROUTE}
{disconnect}
"#
    )
}

async fn nodes(redis: &RedisServer, n: usize) -> Vec<Gw> {
    let mut nodes = Vec::new();
    for _ in 0..n {
        let gw = Gw::start(&cluster_config(&redis.url(), None)).await;
        gw.wait_ready().await;
        nodes.push(gw);
    }
    nodes
}

async fn post(gw: &Gw, id: &str, body: &str) -> u16 {
    http(
        "POST",
        &gw.connections_url("prod", id),
        body.as_bytes().to_vec(),
    )
    .await
    .0
}

/// Joins connection `id` to group `room` of stage `prod` through `gw`.
async fn join_room(gw: &Gw, id: &str) {
    let url = gw.mgmt_url(&format!("/prod/@groups/room/{id}"));
    assert_eq!(http("PUT", &url, vec![]).await.0, 204);
}

#[tokio::test]
async fn connections_api_works_across_nodes_and_keeps_order() {
    let redis = RedisServer::start();
    let nodes = nodes(&redis, 2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let (mut ws, id) = connected(&a.url("prod")).await;

    // POST through the other node, 50 in a row: all arrive, in order.
    for i in 0..50 {
        assert_eq!(post(b, &id, &format!("m{i}")).await, 200);
    }
    for i in 0..50 {
        assert_eq!(recv_text(&mut ws).await, format!("m{i}"));
    }

    // GET through the other node answers from the owner.
    let (status, _, body) = http("GET", &b.connections_url("prod", &id), vec![]).await;
    assert_eq!(status, 200);
    let info: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(info["identity"]["sourceIp"], "127.0.0.1");
    assert!(info["connectedAt"].as_str().unwrap().ends_with('Z'));

    // Ids that name no live connection are 410 everywhere: unknown on a live
    // node, and on a node that does not exist.
    let live_node_unknown = format!("{}AAAAAAAAAAA=", &id[..4]);
    let no_such_node = "zzzzAAAAAAAAAAA=";
    for bad in [live_node_unknown.as_str(), no_such_node] {
        assert_eq!(post(b, bad, "x").await, 410, "{bad}");
        let (status, headers, _) = http("GET", &b.connections_url("prod", bad), vec![]).await;
        assert_eq!(status, 410);
        assert_eq!(headers["x-amzn-errortype"], "GoneException");
    }
    // The stage is checked by the owner too.
    let (status, _, _) = http("GET", &b.connections_url("other", &id), vec![]).await;
    assert_eq!(status, 404, "unknown stage");

    // DELETE through the other node closes it; then it is gone everywhere.
    let (status, _, _) = http("DELETE", &b.connections_url("prod", &id), vec![]).await;
    assert_eq!(status, 204);
    assert_eq!(expect_close(&mut ws).await.0, 1000);
    let mut gone = false;
    for _ in 0..100 {
        if post(b, &id, "late").await == 410 && post(a, &id, "late").await == 410 {
            gone = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(gone);
}

#[tokio::test]
async fn groups_and_broadcasts_span_nodes_and_reach_only_subscribed_nodes() {
    let redis = RedisServer::start();
    let nodes = nodes(&redis, 3).await;
    let (a, b, c) = (&nodes[0], &nodes[1], &nodes[2]);
    let (mut wa, ida) = connected(&a.url("prod")).await;
    let (mut wb, idb) = connected(&b.url("prod")).await;
    let (mut wc, idc) = connected(&c.url("prod")).await;

    // Joins made through node C for connections on A and B.
    for id in [&ida, &idb] {
        join_room(c, id).await;
    }
    let (status, _, body) = http(
        "POST",
        &c.mgmt_url("/prod/@groups/room"),
        b"hello room".to_vec(),
    )
    .await;
    assert_eq!(status, 200);
    let sent: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(sent["queued"], 0, "C has no member");
    assert_eq!(sent["remote_nodes"], 2, "A and B subscribed");
    assert_eq!(recv_text(&mut wa).await, "hello room");
    assert_eq!(recv_text(&mut wb).await, "hello room");
    // C's client got nothing (a marker arrives first), and C received no group
    // traffic at all: it subscribes only to groups it has members in.
    assert_eq!(post(c, &idc, "marker").await, 200);
    assert_eq!(recv_text(&mut wc).await, "marker");
    let group_in = |text: &str| {
        metric(
            text,
            "sockgate_cluster_messages_total",
            &["direction=\"in\"", "kind=\"group\""],
        )
    };
    assert_eq!(group_in(&c.metrics_text().await), 0.0);
    assert_eq!(group_in(&b.metrics_text().await), 1.0);

    // One Redis message per group send.
    let published = |text: &str| {
        metric(
            text,
            "sockgate_cluster_messages_total",
            &["direction=\"out\"", "kind=\"group\""],
        )
    };
    assert_eq!(published(&c.metrics_text().await), 1.0);

    // A stage broadcast from A reaches every node's connections, A's own included, once.
    let (status, _, body) = http(
        "POST",
        &a.mgmt_url("/prod/@broadcast"),
        b"everyone".to_vec(),
    )
    .await;
    assert_eq!(status, 200);
    let sent: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (sent["queued"].as_u64(), sent["remote_nodes"].as_u64()),
        (Some(1), Some(2))
    );
    for ws in [&mut wa, &mut wb, &mut wc] {
        assert_eq!(recv_text(ws).await, "everyone");
    }

    // B's member leaves (through A); B drops its subscription.
    let (status, _, _) = http(
        "DELETE",
        &a.mgmt_url(&format!("/prod/@groups/room/{idb}")),
        vec![],
    )
    .await;
    assert_eq!(status, 204);
    let mut unsubscribed = false;
    for _ in 0..100 {
        let (_, _, body) = http("POST", &c.mgmt_url("/prod/@groups/room"), b"again".to_vec()).await;
        let sent: serde_json::Value = serde_json::from_slice(&body).unwrap();
        if sent["remote_nodes"] == 1 {
            unsubscribed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(unsubscribed, "B unsubscribed once its last member left");
    assert_eq!(recv_text(&mut wa).await, "again");
    assert_eq!(post(b, &idb, "marker").await, 200);
    // Anything B still got before unsubscribing would arrive before the marker.
    loop {
        let text = recv_text(&mut wb).await;
        if text == "marker" {
            break;
        }
        assert_eq!(
            text, "again",
            "only sends from before the leave took effect"
        );
    }
}

#[tokio::test]
async fn a_killed_node_is_reported_gone_and_its_disconnects_are_delivered_once() {
    let redis = RedisServer::start();
    let backend = Backend::start().await;
    let config = cluster_config(&redis.url(), Some(&backend.url()));
    let survivor_a = Gw::start(&config).await;
    let survivor_b = Gw::start(&config).await;
    survivor_a.wait_ready().await;
    survivor_b.wait_ready().await;
    // The node to kill is a real process.
    let path = support::process::write_config("cluster-victim.toml", &config);
    let (mut victim, public, metrics, _stderr) = support::process::spawn(&path);
    let ready = format!("http://{metrics}/readyz");
    for _ in 0..500 {
        if http("GET", &ready, vec![]).await.0 == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut clients = Vec::new();
    let mut ids = BTreeSet::new();
    for _ in 0..5 {
        let (ws, id) = connected(&format!("ws://{public}/prod")).await;
        assert_eq!(post(&survivor_a, &id, "reachable").await, 200);
        ids.insert(id);
        clients.push(ws);
    }
    // Give the victim's record writer a moment, as a real node would have had.
    tokio::time::sleep(Duration::from_millis(300)).await;
    victim.kill().unwrap();
    let _ = victim.wait();

    // Every connection is reported gone, through either survivor, within the
    // node TTL plus a heartbeat (1.1 s here; PATIENCE bounds the wait).
    for id in &ids {
        let mut status = 0;
        for _ in 0..500 {
            status = post(&survivor_b, id, "anyone?").await;
            if status == 410 {
                break;
            }
            assert_eq!(
                status, 503,
                "before the TTL expires the owner is unreachable, not gone"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(status, 410);
    }
    // One $disconnect per connection, from one survivor, saying why.
    let mut seen = BTreeSet::new();
    for _ in 0..ids.len() {
        let ev = backend.next("/disconnect").await.json();
        assert_eq!(ev["requestContext"]["disconnectStatusCode"], 1006);
        assert_eq!(ev["requestContext"]["disconnectReason"], "Node lost");
        assert!(
            seen.insert(
                ev["requestContext"]["connectionId"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            )
        );
    }
    assert_eq!(seen, ids);
    let extra = backend.drain("/disconnect", Duration::from_secs(2)).await;
    assert!(extra.is_empty(), "no second $disconnect: {}", extra.len());
    let reaped: f64 = [&survivor_a, &survivor_b]
        .iter()
        .map(|n| async move {
            metric(
                &n.metrics_text().await,
                "sockgate_cluster_reaped_connections_total",
                &[],
            )
        })
        .collect::<futures_util::future::JoinAll<_>>()
        .await
        .into_iter()
        .sum();
    assert_eq!(reaped, 5.0);
    drop(clients);
}

#[tokio::test]
async fn redis_outage_fails_fast_keeps_local_delivery_and_recovers() {
    let mut redis = RedisServer::start();
    let nodes = nodes(&redis, 2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let (mut ws, id) = connected(&a.url("prod")).await;

    // Traffic before, during and after the outage: the owner's own API (local)
    // and the other node's (cross-node), with sequence numbers.
    let mut accepted = Vec::new();
    let mut refused_remote = 0;
    let mut seq = 0;
    let mut send = async |via: &Gw, accepted: &mut Vec<String>| {
        seq += 1;
        let body = format!("s{seq}");
        let status = post(via, &id, &body).await;
        if status == 200 {
            accepted.push(body);
        }
        status
    };
    for _ in 0..10 {
        assert_eq!(send(b, &mut accepted).await, 200);
    }
    redis.kill();
    // Within a few heartbeats both nodes notice and fail over to "local only".
    let mut down = false;
    for _ in 0..500 {
        if a.readyz().await == 503 && b.readyz().await == 503 {
            down = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(down, "/readyz reports the broken fan-out path");
    for _ in 0..10 {
        // Cross-node: a clear 503, not a hang (PATIENCE bounds each request).
        let status = send(b, &mut accepted).await;
        assert_eq!(status, 503);
        refused_remote += 1;
        // Local: still delivered.
        assert_eq!(send(a, &mut accepted).await, 200);
    }
    let (status, headers, _) = http("POST", &b.mgmt_url("/prod/@groups/room"), b"x".to_vec()).await;
    assert_eq!(status, 503);
    assert_eq!(headers["x-amzn-errortype"], "ServiceUnavailableException");

    redis.restart();
    a.wait_ready().await;
    b.wait_ready().await;
    for _ in 0..10 {
        assert_eq!(send(b, &mut accepted).await, 200);
    }
    // The contract: every accepted POST is delivered exactly once and in
    // order; every refused one is not delivered.
    let mut got = Vec::new();
    while got.len() < accepted.len() {
        got.push(recv_text(&mut ws).await);
    }
    assert_eq!(got, accepted);
    assert_eq!(refused_remote, 10);
    assert_eq!(post(a, &id, "marker").await, 200);
    assert_eq!(
        recv_text(&mut ws).await,
        "marker",
        "nothing else was delivered"
    );
}

/// Cuts `node` off from Redis and waits until it knows (its `/readyz` says 503).
async fn cut_and_wait(proxy: &support::tcp_proxy::TcpProxy, node: &Gw) {
    proxy.cut();
    while node.readyz().await != 503 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Two nodes and a backend for `$disconnect`s; `cut_off` reaches Redis through
/// a proxy that can cut it off. `tune` edits both nodes' config.
struct CutOff {
    _redis: RedisServer,
    backend: Backend,
    proxy: support::tcp_proxy::TcpProxy,
    survivor: Gw,
    cut_off: Gw,
}

impl CutOff {
    async fn start(tune: impl Fn(String) -> String) -> CutOff {
        let redis = RedisServer::start();
        let backend = Backend::start().await;
        let target = format!("127.0.0.1:{}", redis.port).parse().unwrap();
        let proxy = support::tcp_proxy::TcpProxy::start(target).await;
        let config = |url: &str| tune(cluster_config(url, Some(&backend.url())));
        let survivor = Gw::start(&config(&redis.url())).await;
        let cut_off = Gw::start(&config(&format!("redis://{}", proxy.addr))).await;
        survivor.wait_ready().await;
        cut_off.wait_ready().await;
        CutOff {
            _redis: redis,
            backend,
            proxy,
            survivor,
            cut_off,
        }
    }
}

#[tokio::test]
async fn a_node_cut_off_and_declared_lost_closes_its_reaped_connections_without_a_second_disconnect()
 {
    let CutOff {
        _redis,
        backend,
        proxy,
        survivor,
        cut_off,
    } = CutOff::start(|c| c).await;
    let (mut reaped, reaped_id) = connected(&cut_off.url("prod")).await;
    // Recorded in Redis (the owner answers through the survivor once it is).
    assert_eq!(post(&survivor, &reaped_id, "recorded").await, 200);
    assert_eq!(recv_text(&mut reaped).await, "recorded");
    tokio::time::sleep(Duration::from_millis(300)).await;

    proxy.cut();
    // The survivor declares the node lost and delivers the $disconnect once.
    let ev = backend.next("/disconnect").await.json();
    assert_eq!(ev["requestContext"]["connectionId"], reaped_id.as_str());
    assert_eq!(ev["requestContext"]["disconnectReason"], "Node lost");
    assert_eq!(post(&survivor, &reaped_id, "x").await, 410);
    // The cut-off node still serves its clients locally, and accepts new ones.
    assert_eq!(post(&cut_off, &reaped_id, "local").await, 200);
    assert_eq!(recv_text(&mut reaped).await, "local");
    let (mut fresh, fresh_id) = connected(&cut_off.url("prod")).await;

    proxy.restore();
    // Back in touch, it learns it was declared lost: the reaped connection is
    // closed with 1012 and gets no second $disconnect.
    assert_eq!(expect_close(&mut reaped).await.0, 1012);
    cut_off.wait_ready().await;
    // The connection opened while cut off was never reaped: it stays, is
    // reachable through the survivor again, and its own $disconnect comes once.
    let mut reachable = false;
    for _ in 0..200 {
        if post(&survivor, &fresh_id, "hello again").await == 200 {
            reachable = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(reachable);
    assert_eq!(recv_text(&mut fresh).await, "hello again");
    fresh.close(None).await.unwrap();
    let ev = backend.next("/disconnect").await.json();
    assert_eq!(ev["requestContext"]["connectionId"], fresh_id.as_str());
    let extra = backend.drain("/disconnect", Duration::from_secs(2)).await;
    assert!(
        extra.is_empty(),
        "exactly one $disconnect per connection: {:?}",
        extra
            .iter()
            .map(|r| r.json()["requestContext"]["connectionId"].clone())
            .collect::<Vec<_>>()
    );
}

/// Issue 25 (found by `tests/chaos`): a connection that ends while its node is
/// cut off from Redis gets its `$disconnect` once the node can claim it — not
/// at once, which gave a second one whenever a survivor declared the node
/// lost meanwhile.
#[tokio::test]
async fn a_connection_ending_while_its_node_is_cut_off_gets_exactly_one_disconnect() {
    let CutOff {
        _redis,
        backend,
        proxy,
        survivor,
        cut_off,
    } = CutOff::start(|c| c).await;
    let (mut ws, id) = connected(&cut_off.url("prod")).await;
    // Recorded in Redis (the owner answers through the survivor once it is).
    assert_eq!(post(&survivor, &id, "recorded").await, 200);
    assert_eq!(recv_text(&mut ws).await, "recorded");

    cut_and_wait(&proxy, &cut_off).await;
    ws.close(None).await.unwrap();
    // The survivor declares the node lost (node_ttl 1 s) and delivers it;
    // the node that saw the close holds its own until it can claim it.
    let ev = backend.next("/disconnect").await.json();
    assert_eq!(ev["requestContext"]["connectionId"], id.as_str());
    assert_eq!(ev["requestContext"]["disconnectReason"], "Node lost");
    proxy.restore();
    cut_off.wait_ready().await;
    let extra = backend.drain("/disconnect", Duration::from_secs(2)).await;
    assert!(extra.is_empty(), "a second $disconnect: {}", extra.len());
}

/// Cut off for less than `node_ttl`: nobody reaps, and the node's own
/// `$disconnect` goes out once Redis is back, and only then.
#[tokio::test]
async fn a_disconnect_waits_for_redis_and_goes_out_once_it_is_back() {
    // A TTL no scheduler hiccup reaches: this test is about the node's own claim.
    let CutOff {
        _redis,
        backend,
        proxy,
        survivor,
        cut_off,
    } = CutOff::start(|c| c.replace("node_ttl = \"1s\"", "node_ttl = \"30s\"")).await;
    let (ws, id) = connected(&cut_off.url("prod")).await;
    assert_eq!(post(&survivor, &id, "recorded").await, 200);
    cut_and_wait(&proxy, &cut_off).await;
    drop(ws);
    let during = backend
        .drain("/disconnect", Duration::from_millis(300))
        .await;
    proxy.restore();
    let after = backend.next("/disconnect").await.json();
    assert!(during.is_empty(), "delivered while it could not be claimed");
    assert_eq!(after["requestContext"]["connectionId"], id.as_str());
    assert_ne!(after["requestContext"]["disconnectReason"], "Node lost");
    let extra = backend.drain("/disconnect", Duration::from_secs(2)).await;
    assert!(extra.is_empty(), "a second $disconnect: {}", extra.len());
}

/// Issue 25 (found by `load/chaos.sh`): a record whose connection a survivor
/// reaped is never written again, however the node's write races the reap.
/// Here the reap comes first: the node is cut off when the client connects,
/// its id is put in the node's reaped set (what a survivor's claim leaves),
/// and the resync after the cut finds it there. The record is refused, the
/// connection closed with 1012, and its end delivers no `$disconnect` (the
/// survivor delivered it). Writing it, as before, let the node's next reap
/// deliver a second one.
#[tokio::test]
async fn a_reaped_record_is_never_written_again() {
    let CutOff {
        _redis: redis,
        backend,
        proxy,
        survivor: _survivor,
        cut_off,
    } = CutOff::start(|c| c.replace("node_ttl = \"1s\"", "node_ttl = \"30s\"")).await;
    cut_and_wait(&proxy, &cut_off).await;
    let (mut ws, id) = connected(&cut_off.url("prod")).await;
    let (conns, reaped) = (
        format!("sockgate:{{n:{}}}:conns", &id[..4]),
        format!("sockgate:{{n:{}}}:reaped", &id[..4]),
    );
    assert_eq!(redis.cli(&["SADD", &reaped, &id]).as_deref(), Some("1"));
    proxy.restore();
    assert_eq!(expect_close(&mut ws).await.0, 1012);
    assert_eq!(redis.cli(&["HEXISTS", &conns, &id]).as_deref(), Some("0"));
    let extra = backend.drain("/disconnect", Duration::from_secs(2)).await;
    assert!(extra.is_empty(), "a second $disconnect: {}", extra.len());
}

/// Publishes hand-made wire messages, as another node would (`cluster/wire.rs`).
struct RawPublisher(::redis::aio::MultiplexedConnection);

impl RawPublisher {
    async fn connect(redis: &RedisServer) -> RawPublisher {
        let client = ::redis::Client::open(redis.url()).unwrap();
        RawPublisher(client.get_multiplexed_async_connection().await.unwrap())
    }

    /// `PUBLISH`es `payload` on `channel`, which the node under test holds.
    async fn publish(&mut self, channel: &str, payload: &[u8]) {
        let receivers: i64 = ::redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload)
            .query_async(&mut self.0)
            .await
            .unwrap();
        assert_eq!(receivers, 1, "the node is subscribed to {channel}");
    }
}

/// Issue 25 (found by `load/chaos.sh` on a Redis Cluster, where a node can be
/// subscribed to its channel on two nodes of a shard): a request Redis hands
/// over twice is acted on once. The same request, byte for byte, is published
/// twice on the owner's channel; its message reaches the client once, and the
/// asker's next request still does.
#[tokio::test]
async fn a_request_redis_hands_over_twice_is_acted_on_once() {
    let redis = RedisServer::start();
    let nodes = nodes(&redis, 1).await;
    let (mut ws, id) = connected(&nodes[0].url("prod")).await;
    // The wire's request (`cluster/wire.rs`): 'T', op, id, deadline (epoch ms),
    // the asker's tag, the connection, the stage, the data.
    let request = |seq: u64, data: &str| {
        let deadline = sockgate::clock::now_ms() + 10_000;
        let mut b = vec![b'T', b'P'];
        b.extend_from_slice(&seq.to_be_bytes());
        b.extend_from_slice(&deadline.to_be_bytes());
        b.extend_from_slice(b"zzzz");
        b.extend_from_slice(id.as_bytes());
        b.push(4);
        b.extend_from_slice(b"prod");
        b.extend_from_slice(data.as_bytes());
        b
    };
    let mut publisher = RawPublisher::connect(&redis).await;
    let channel = format!("sockgate:v3:{{n:{}}}", &id[..4]);
    let mut publish = async |payload: &[u8]| publisher.publish(&channel, payload).await;
    let first = request(1, "once");
    publish(&first).await;
    publish(&first).await;
    publish(&request(2, "next")).await;
    assert_eq!(recv_text(&mut ws).await, "once");
    assert_eq!(
        recv_text(&mut ws).await,
        "next",
        "the copy was not delivered"
    );
    let extra = tokio::time::timeout(Duration::from_millis(500), recv_text(&mut ws)).await;
    assert!(extra.is_err(), "delivered more than once: {extra:?}");
}

/// Issue 25, the same for group sends and broadcasts (the Redis Cluster
/// schedule of `tests/chaos` found group sends delivered twice): a fan-out
/// message Redis hands over twice reaches each member once, in order with the
/// sender's next one, and the node counts the copy.
#[tokio::test]
async fn a_group_send_or_broadcast_redis_hands_over_twice_is_delivered_once() {
    let redis = RedisServer::start();
    let nodes = nodes(&redis, 1).await;
    let gw = &nodes[0];
    let (mut ws, id) = connected(&gw.url("prod")).await;
    join_room(gw, &id).await;
    // The wire's fan-out message (`cluster/wire.rs`): the sender's tag, its
    // sequence number, the deadline (epoch ms), the data.
    let fanout = |seq: u64, data: &str| {
        let deadline = sockgate::clock::now_ms() + 10_000;
        let mut b = b"zzzz".to_vec();
        b.extend_from_slice(&seq.to_be_bytes());
        b.extend_from_slice(&deadline.to_be_bytes());
        b.extend_from_slice(data.as_bytes());
        b
    };
    let mut publisher = RawPublisher::connect(&redis).await;
    let mut publish =
        async |channel: &str, payload: &[u8]| publisher.publish(channel, payload).await;
    let (group, stage) = ("sockgate:v3:{g:prod/room:0}", "sockgate:v3:{s:prod}");
    // One sequence per sender across its channels, as a node sends them.
    let first = fanout(1, "to the room");
    publish(group, &first).await;
    publish(group, &first).await;
    let second = fanout(2, "to the stage");
    publish(stage, &second).await;
    publish(stage, &second).await;
    publish(group, &first).await;
    publish(stage, &fanout(3, "next")).await;
    for expected in ["to the room", "to the stage", "next"] {
        assert_eq!(recv_text(&mut ws).await, expected, "no copy in between");
    }
    let extra = tokio::time::timeout(Duration::from_millis(500), recv_text(&mut ws)).await;
    assert!(extra.is_err(), "delivered more than once: {extra:?}");
    let copies = metric(
        &gw.metrics_text().await,
        "sockgate_cluster_duplicates_total",
        &[],
    );
    assert_eq!(copies, 3.0);
}

/// Issue 22 §2: `rediss://`, against a real redis-server that speaks only
/// TLS with a certificate from a test CA: two nodes deliver across each
/// other; a node that does not trust the CA never reaches Redis.
#[tokio::test]
async fn nodes_join_through_redis_over_tls() {
    use support::pki::{self, Ca};
    use support::redis::TlsFiles;
    let ca = Ca::new("redis test CA");
    let leaf = ca.server(&["localhost"], false);
    let n = std::process::id();
    let files = TlsFiles {
        cert: pki::write(&format!("redis-{n}.pem"), &leaf.cert_pem),
        key: pki::write(&format!("redis-{n}.key"), &leaf.key_pem),
        ca: pki::write(&format!("redis-ca-{n}.pem"), &ca.pem()),
    };
    let redis = RedisServer::start_tls(files.clone());
    assert!(redis.url().starts_with("rediss://"));
    let config = |ca_file: &str| {
        cluster_config(&redis.url(), None).replace(
            "[cluster]\n",
            &format!("[cluster]\nca_file = \"{ca_file}\"\n"),
        )
    };
    let a = Gw::start(&config(&files.ca)).await;
    let b = Gw::start(&config(&files.ca)).await;
    a.wait_ready().await;
    b.wait_ready().await;
    let (mut ws, id) = connected(&a.url("prod")).await;
    assert_eq!(post(&b, &id, "over tls").await, 200);
    assert_eq!(recv_text(&mut ws).await, "over tls");
    // A node that trusts another CA cannot reach Redis: not ready, and never
    // in plain text.
    let other = Ca::new("another CA");
    let other_ca = pki::write(&format!("other-ca-{n}.pem"), &other.pem());
    let c = Gw::start(&config(&other_ca)).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(c.readyz().await, 503);
}
