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

/// Issue 21 §5: a failing HTTP-route integration is logged at WARN (the
/// default level) with its route, kind and backend host, never the request's
/// path, query, headers or body; and a dead backend cannot flood the log.
#[tokio::test]
async fn failed_http_integrations_are_logged_at_warn_and_bounded() {
    use std::io::BufRead;
    use support::process::{spawn, write_config};
    let toml = "[stages.dev]\n[http.routes.\"GET /down/{x}\"]\nintegration = { type = \"http_proxy\", uri = \"http://127.0.0.1:9/gone/{x}\" }\n";
    let path = write_config("failures.toml", toml);
    let (mut child, public, _metrics, stderr) = spawn(&path);
    let lines = std::thread::spawn(move || {
        stderr
            .lines()
            .map_while(Result::ok)
            .filter(|l| l.contains("HTTP integration failed."))
            .collect::<Vec<String>>()
    });
    // 300 calls as fast as one client can make them, against a closed port.
    let started = sockgate::clock::now();
    for n in 0..300 {
        let url = format!("http://{public}/dev/down/secret-{n}?token=hunter2");
        let headers = [("x-secret", "s3cret")];
        let (status, _, _) = http_with("GET", &url, &headers, b"body-secret".to_vec()).await;
        assert_eq!(status, 500);
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // One more after a quiet second: it says how many were held back.
    http("GET", &format!("http://{public}/dev/down/last"), vec![]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = child.kill();
    let _ = child.wait();
    let lines = lines.join().unwrap();
    assert!(!lines.is_empty(), "no WARN line for a failed call");
    // At most 10 a second, however long the calls took on this machine.
    let secs = started.elapsed().as_secs() as usize + 1;
    assert!(
        lines.len() <= 10 * (secs + 1) + 1,
        "{} lines in {secs} s",
        lines.len()
    );
    assert!(lines.len() < 200, "{} lines for 301 failures", lines.len());
    let first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(first["level"], "WARN");
    assert_eq!(first["route"], "GET /down/{x}");
    assert_eq!(first["kind"], "failed");
    assert_eq!(first["backend"], "127.0.0.1:9");
    let last: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert!(last["held_back"].as_u64().unwrap() > 0, "{last}");
    for l in &lines {
        for secret in ["secret-", "hunter2", "s3cret", "body-secret", "/gone"] {
            assert!(!l.contains(secret), "{secret} logged: {l}");
        }
    }
}

/// A failing WebSocket integration is logged at WARN with its route, kind
/// and backend host; the bound is per route, so a flood of one route's
/// failures does not hide another's.
#[tokio::test]
async fn failed_websocket_integrations_are_logged_per_route() {
    use std::io::BufRead;
    use support::process::{spawn, write_config};
    let toml = "[stages.dev]\n[routes.flood]\nroute_response = true\nintegration = { type = \"aws_proxy\", uri = \"http://127.0.0.1:9/a\" }\n[routes.quiet]\nroute_response = true\nintegration = { type = \"http_proxy\", uri = \"http://127.0.0.1:7/b\" }\n";
    let path = write_config("ws-failures.toml", toml);
    let (mut child, public, _metrics, stderr) = spawn(&path);
    let lines = std::thread::spawn(move || {
        stderr
            .lines()
            .map_while(Result::ok)
            .filter(|l| l.contains("Integration call failed."))
            .collect::<Vec<String>>()
    });
    let mut ws = connect(&format!("ws://{public}/dev")).await;
    for _ in 0..100 {
        send_text(&mut ws, r#"{"action":"flood","secret":"s3cret"}"#).await;
        assert_eq!(recv_json(&mut ws).await["message"], "Internal server error");
    }
    send_text(&mut ws, r#"{"action":"quiet"}"#).await;
    assert_eq!(recv_json(&mut ws).await["message"], "Internal server error");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = child.kill();
    let _ = child.wait();
    let lines: Vec<serde_json::Value> = lines
        .join()
        .unwrap()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |route: &str| lines.iter().filter(|l| l["route"] == route).count();
    assert!(
        (1..100).contains(&of("flood")),
        "{} flood lines",
        of("flood")
    );
    assert_eq!(of("quiet"), 1, "the quiet route's failure was held back");
    let quiet = lines.iter().find(|l| l["route"] == "quiet").unwrap();
    assert_eq!(quiet["level"], "WARN");
    assert_eq!(quiet["kind"], "failed");
    assert_eq!(quiet["backend"], "127.0.0.1:7");
    assert!(lines.iter().all(|l| !l.to_string().contains("s3cret")));
}
