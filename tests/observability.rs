//! Point 7: metrics, probes, and readiness during a drain.

mod support;

use std::time::Duration;

use support::*;

#[tokio::test]
async fn metrics_count_by_stage_and_route_never_by_connection() {
    let gw = Gw::start(&format!("[stages.prod]\n[routes.echo]\nroute_response = true\nintegration = {{ type = \"mock\", body = \"e\" }}\n{WHOAMI_ROUTE}")).await;
    let (mut ws, id) = connected(&gw.url("prod")).await;
    for _ in 0..3 {
        send_text(&mut ws, r#"{"action":"echo"}"#).await;
        recv_text(&mut ws).await;
    }
    send_text(&mut ws, "unroutable").await;
    recv_text(&mut ws).await;
    let text = gw.metrics_text().await;
    assert_eq!(
        metric(
            &text,
            "sockgate_messages_total",
            &["stage=\"prod\"", "route=\"echo\"", "direction=\"in\""]
        ),
        3.0
    );
    assert_eq!(
        metric(
            &text,
            "sockgate_messages_total",
            &["stage=\"prod\"", "direction=\"out\""]
        ),
        5.0
    );
    assert_eq!(
        metric(&text, "sockgate_connections_open", &["stage=\"prod\""]),
        1.0
    );
    assert_eq!(
        metric(&text, "sockgate_connects_total", &["outcome=\"accepted\""]),
        1.0,
        "a connection accepted without a $connect integration is an accepted connect"
    );
    assert!(text.contains("# HELP sockgate_integration_latency_seconds"));
    assert!(!text.contains(&id), "no connection ids in labels");
    drop(ws);
    for _ in 0..200 {
        if metric(
            &gw.metrics_text().await,
            "sockgate_connections_open",
            &["stage=\"prod\""],
        ) == 0.0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let text = gw.metrics_text().await;
    assert_eq!(
        metric(&text, "sockgate_connections_open", &["stage=\"prod\""]),
        0.0
    );
    assert_eq!(
        metric(
            &text,
            "sockgate_disconnects_total",
            &["reason=\"client_gone\""]
        ),
        1.0
    );
}

#[tokio::test]
async fn readyz_fails_while_draining_and_new_upgrades_get_503() {
    let backend = Backend::start().await;
    backend.on("/disconnect", Behaviour::Hang);
    let toml = format!(
        "[server]\nshutdown_grace = \"2s\"\n[stages.prod]\n[routes.\"$disconnect\"]\nintegration = {{ type = \"aws_proxy\", uri = \"{}/disconnect\", timeout = \"1s\" }}\n",
        backend.url()
    );
    let mut gw = Gw::start(&toml).await;
    let (status, _, _) = http("GET", &format!("http://{}/readyz", gw.metrics), Vec::new()).await;
    assert_eq!(status, 200);
    let mut ws = connect(&gw.url("prod")).await;
    let metrics = gw.metrics;
    let public = gw.public;
    let drain = tokio::spawn(async move {
        gw.shutdown().await;
    });
    assert_eq!(expect_close(&mut ws).await.0, 1001);
    // The $disconnect backend hangs, so the drain is still running now.
    backend.next("/disconnect").await;
    let (status, _, body) = http("GET", &format!("http://{metrics}/readyz"), Vec::new()).await;
    assert_eq!((status, &body[..]), (503, &b"draining\n"[..]));
    let (status, _, _) = http("GET", &format!("http://{metrics}/healthz"), Vec::new()).await;
    assert_eq!(status, 200);
    assert!(
        tokio::net::TcpStream::connect(public).await.is_err(),
        "public listener closed"
    );
    drain.await.unwrap();
}
