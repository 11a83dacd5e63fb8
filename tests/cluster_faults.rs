//! Issue 10, part 3: with Redis frozen (SIGSTOP) rather than killed, a 503 still
//! means "not delivered": requests and sends that sat in the frozen Redis are
//! dropped by their receivers once it resumes, because their deadline passed.
//! And `/readyz` turns 503 within `unready_after` when Redis hangs.

mod support;

use std::time::Duration;

use support::redis::RedisServer;
use support::*;

/// `unready_after` is long here so that, while Redis is frozen, requests are
/// still published into it (the hard case) instead of failing fast.
fn config(redis: &str, unready_after: &str) -> String {
    format!(
        r#"
[cluster]
redis_url = "{redis}"
heartbeat_interval = "100ms"
node_ttl = "5s"
request_timeout = "300ms"
max_clock_skew = "50ms"
unready_after = "{unready_after}"
[websocket]
route_selection_expression = "$request.body.action"
[stages.prod]
{WHOAMI_ROUTE}
"#
    )
}

/// Waits (10 s at most: `unready_after` is 1 s here) for `/readyz` to say 503.
async fn wait_unready(gw: &Gw, what: &str) {
    for _ in 0..200 {
        if gw.readyz().await == 503 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what}: not 503 after 10 s");
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

#[tokio::test]
async fn nothing_answered_503_while_redis_was_frozen_is_delivered_after_it_resumes() {
    let redis = RedisServer::start();
    let a = Gw::start(&config(&redis.url(), "30s")).await;
    let b = Gw::start(&config(&redis.url(), "30s")).await;
    a.wait_ready().await;
    b.wait_ready().await;
    let (mut ws, id) = connected(&a.url("prod")).await;
    assert_eq!(post(&b, &id, "before").await, 200);
    assert_eq!(recv_text(&mut ws).await, "before");

    redis.pause();
    for i in 0..5 {
        assert_eq!(post(&b, &id, &format!("frozen {i}")).await, 503);
    }
    let (status, headers, _) = http(
        "POST",
        &b.mgmt_url("/prod/@broadcast"),
        b"frozen broadcast".to_vec(),
    )
    .await;
    assert_eq!(status, 503);
    assert_eq!(headers["x-amzn-errortype"], "ServiceUnavailableException");
    redis.resume();

    // Once Redis has run what piled up, a new POST through the other node is the
    // next thing the client gets: none of the six refused messages arrived.
    let mut status = 0;
    for _ in 0..100 {
        status = post(&b, &id, "after").await;
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, 200);
    assert_eq!(recv_text(&mut ws).await, "after");
    // They did reach the owner, late, and were dropped there.
    let expired = metric(
        &a.metrics_text().await,
        "sockgate_cluster_expired_total",
        &[],
    );
    assert_eq!(
        expired, 6.0,
        "five requests and one broadcast expired at the owner"
    );
}

#[tokio::test]
async fn readyz_turns_503_when_redis_hangs_and_200_when_it_is_back() {
    let redis = RedisServer::start();
    let a = Gw::start(&config(&redis.url(), "1s")).await;
    a.wait_ready().await;
    redis.pause();
    wait_unready(&a, "/readyz reports a hung Redis").await;
    assert_eq!(
        metric(&a.metrics_text().await, "sockgate_cluster_up", &[]),
        0.0
    );
    redis.resume();
    a.wait_ready().await;
}

/// Issue 25: a node is ready only while Redis takes its writes, not merely
/// while its probe comes back. On a Redis Cluster a replica cut off with a node
/// serves `SPUBLISH` for its master's slots but refuses writes (found by
/// `tests/chaos`); one Redis refusing writes with `min-replicas-to-write`
/// while `PUBLISH` still works is the same situation on loopback. The probe
/// keeps coming back the whole time, and `/readyz` still says 503.
#[tokio::test]
async fn readyz_turns_503_when_redis_refuses_writes_though_the_probe_comes_back() {
    let redis = RedisServer::start();
    let a = Gw::start(&config(&redis.url(), "1s")).await;
    a.wait_ready().await;
    let probes = |text: &str| {
        metric(
            text,
            "sockgate_cluster_messages_total",
            &["direction=\"in\"", "kind=\"probe\""],
        )
    };
    assert_eq!(
        redis
            .cli(&["CONFIG", "SET", "min-replicas-to-write", "1"])
            .as_deref(),
        Some("OK")
    );
    wait_unready(&a, "/readyz reports a Redis that refuses the node's writes").await;
    let before = probes(&a.metrics_text().await);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        probes(&a.metrics_text().await) > before,
        "the probe still comes back"
    );
    assert_eq!(a.readyz().await, 503);
    assert_eq!(
        metric(&a.metrics_text().await, "sockgate_cluster_up", &[]),
        0.0
    );
    redis.cli(&["CONFIG", "SET", "min-replicas-to-write", "0"]);
    a.wait_ready().await;
}
