//! Issue 13, throttling on one node: each level throttles at its limit and
//! recovers — route (and the stage's default for every route), connection,
//! source IP, API key, principal and account — with AWS's answers: the
//! `Too Many Requests` frame on WebSocket (the connection stays open, the
//! backend is not called), 429 `{"message":"Too Many Requests"}` on HTTP
//! routes, 429 `LimitExceededException` on @connections.

mod support;

use std::time::Duration;

use serde_json::json;
use support::jwt::*;
use support::*;

/// A limit that refills too slowly to matter in a test: exactly `burst` pass.
fn only(burst: u32) -> String {
    format!("{{ rate = 0.001, burst = {burst} }}")
}

const ROUTES: &str = r#"
[websocket]
route_selection_expression = "$request.body.action"
[routes.echo]
route_response = true
integration = { type = "mock", body = "echo" }
[routes.other]
route_response = true
integration = { type = "mock", body = "other" }
"#;

/// Sends `n` `action` messages and returns the replies, in order.
async fn burst(ws: &mut Ws, action: &str, n: usize) -> Vec<String> {
    let msg = json!({ "action": action }).to_string();
    for _ in 0..n {
        send_text(ws, &msg).await;
    }
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(recv_text(ws).await);
    }
    out
}

/// Replies that are not an error frame.
fn passed(replies: &[String]) -> usize {
    replies
        .iter()
        .filter(|r| !r.starts_with(r#"{"message""#))
        .count()
}

#[tokio::test]
async fn websocket_routes_throttle_at_their_limit_and_the_connection_stays_open() {
    let cfg = format!(
        "{ROUTES}\n[routes.echo.throttle]\nrate = 0.001\nburst = 3\n[stages.prod]\n[stages.prod.throttle]\nrate = 0.001\nburst = 5\n"
    );
    let gw = Gw::start(&cfg).await;
    let (mut ws, id) = connected(&gw.url("prod")).await;
    let replies = burst(&mut ws, "echo", 6).await;
    assert_eq!(passed(&replies), 3, "{replies:?}");
    let frame: serde_json::Value = serde_json::from_str(&replies[5]).unwrap();
    assert_eq!(frame["message"], "Too Many Requests");
    assert_eq!(frame["connectionId"], id);
    assert!(frame["requestId"].is_string());
    // `other` has the stage's default, in a bucket of its own.
    assert_eq!(passed(&burst(&mut ws, "other", 7).await), 5);
    // Still open.
    let metrics = gw.metrics_text().await;
    let route = metric(
        &metrics,
        "sockgate_throttled_total",
        &["stage=\"prod\"", "level=\"route\""],
    );
    assert_eq!(route, 5.0);
}

#[tokio::test]
async fn a_route_limit_recovers_at_its_rate() {
    let cfg = format!("{ROUTES}\n[routes.echo.throttle]\nrate = 20\nburst = 2\n[stages.prod]\n");
    let gw = Gw::start(&cfg).await;
    let (mut ws, _) = connected(&gw.url("prod")).await;
    assert_eq!(passed(&burst(&mut ws, "echo", 5).await), 2);
    // 20 tokens a second: after half a second the bucket is full again (2).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(passed(&burst(&mut ws, "echo", 2).await), 2);
}

#[tokio::test]
async fn per_connection_and_per_ip_buckets_are_their_clients() {
    let per_conn = format!(
        "{ROUTES}\n[stages.prod]\n[stages.prod.throttle]\nper_connection = {}\n",
        only(2)
    );
    let gw = Gw::start(&per_conn).await;
    let (mut a, _) = connected(&gw.url("prod")).await;
    let (mut b, _) = connected(&gw.url("prod")).await;
    assert_eq!(passed(&burst(&mut a, "echo", 4).await), 2);
    assert_eq!(passed(&burst(&mut b, "echo", 4).await), 2, "b has its own");
    drop(gw);
    let per_ip = format!(
        "{ROUTES}\n[stages.prod]\n[stages.prod.throttle]\nper_ip = {}\n",
        only(5)
    );
    let gw = Gw::start(&per_ip).await;
    let (mut a, _) = connected(&gw.url("prod")).await;
    let (mut b, _) = connected(&gw.url("prod")).await;
    let total = passed(&burst(&mut a, "echo", 2).await) + passed(&burst(&mut b, "echo", 2).await);
    // Two connects and three messages: one address, one bucket of 5.
    assert_eq!(total, 3, "one address, one bucket");
}

fn http_config(b: &str) -> String {
    format!(
        r#"
[throttle]
rate = 0.001
burst = 8
[stages.prod]
api_keys = {{ a = "key-a-0123456789abcdefgh", b = "key-b-0123456789abcdefgh" }}
[stages.prod.throttle]
per_api_key = {limit2}
per_principal = {limit2}
{jwt}
[http.routes."GET /limited"]
integration = {{ type = "mock", body = "ok" }}
throttle = {limit1}
[http.routes."GET /keyed"]
integration = {{ type = "mock", body = "ok" }}
api_key_required = true
[http.routes."GET /me"]
integration = {{ type = "mock", body = "ok" }}
authorizer = "users"
[http.routes."GET /open"]
integration = {{ type = "aws_proxy", uri = "{b}/open" }}
"#,
        limit1 = only(1),
        limit2 = only(2),
        jwt = hs256_authorizer("users", "$request.header.Authorization"),
    )
}

async fn status(gw: &Gw, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let url = format!("http://{}{path}", gw.public);
    let (status, h, body) = http_with("GET", &url, headers, vec![]).await;
    if status == 429 {
        assert!(h.contains_key("apigw-requestid"));
    }
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn http_routes_api_keys_principals_and_the_account_throttle_with_429() {
    let backend = Backend::start().await;
    let gw = Gw::start(&http_config(&backend.url())).await;
    let too_many = (429, r#"{"message":"Too Many Requests"}"#.to_owned());
    // The route's own limit (1), then 429.
    assert_eq!(status(&gw, "/prod/limited", &[]).await.0, 200);
    assert_eq!(status(&gw, "/prod/limited", &[]).await, too_many);
    // Per API key: each key its own 2.
    let a = [("x-api-key", "key-a-0123456789abcdefgh")];
    let b = [("x-api-key", "key-b-0123456789abcdefgh")];
    assert_eq!(status(&gw, "/prod/keyed", &a).await.0, 200);
    assert_eq!(status(&gw, "/prod/keyed", &a).await.0, 200);
    assert_eq!(status(&gw, "/prod/keyed", &a).await, too_many);
    assert_eq!(status(&gw, "/prod/keyed", &b).await.0, 200);
    // Per principal: user-1's 2, then user-2 still passes.
    let t1 = hs256(&claims(json!({})));
    let t2 = hs256(&claims(json!({"sub": "user-2"})));
    let u1 = [("authorization", t1.as_str())];
    let u2 = [("authorization", t2.as_str())];
    assert_eq!(status(&gw, "/prod/me", &u1).await.0, 200);
    assert_eq!(status(&gw, "/prod/me", &u1).await.0, 200);
    assert_eq!(status(&gw, "/prod/me", &u1).await, too_many);
    // The account level counted every request that reached it: /limited 1,
    // key a 3 and b 1 (the API-key level is checked after it), user-1 3 —
    // 8, its burst: user-2's is the ninth.
    assert_eq!(status(&gw, "/prod/me", &u2).await, too_many);
    // The account level covers @connections calls too.
    let mgmt = gw.connections_url("prod", "AAAAAAAAAAAAAAA=");
    let (code, h, _) = http("POST", &mgmt, b"x".to_vec()).await;
    assert_eq!(code, 429);
    assert_eq!(h["x-amzn-errortype"], "LimitExceededException");
    assert!(
        backend
            .drain("/open", Duration::from_millis(100))
            .await
            .is_empty()
    );
    let metrics = gw.metrics_text().await;
    for (level, n) in [
        ("route", 1.0),
        ("api_key", 1.0),
        ("principal", 1.0),
        ("account", 2.0),
    ] {
        let got = metric(
            &metrics,
            "sockgate_throttled_total",
            &["stage=\"prod\"", &format!("level=\"{level}\"")],
        );
        assert_eq!(got, n, "{level}");
    }
}

#[tokio::test]
async fn connects_count_against_the_connect_route_and_get_429() {
    let cfg = format!(
        "{ROUTES}\n[routes.\"$connect\"]\nintegration = {{ type = \"mock\" }}\nthrottle = {}\n[stages.prod]\n",
        only(2)
    );
    let gw = Gw::start(&cfg).await;
    let (_a, _) = connected(&gw.url("prod")).await;
    let (_b, _) = connected(&gw.url("prod")).await;
    assert_eq!(refused_status(&gw.url("prod"), &[]).await, 429);
    let metrics = gw.metrics_text().await;
    let throttled = metric(
        &metrics,
        "sockgate_throttled_total",
        &["stage=\"prod\"", "level=\"route\""],
    );
    assert_eq!(throttled, 1.0);
}

fn plans_config(gold_quota: u64) -> String {
    format!(
        r#"
[websocket]
route_selection_expression = "$request.body.action"
[routes.echo]
route_response = true
integration = {{ type = "mock", body = "echo" }}
[stages.prod]
api_keys = {{ a = "key-a-0123456789abcdefgh", b = "key-b-0123456789abcdefgh", c = "key-c-0123456789abcdefgh" }}
[usage_plans.gold]
quota = {{ limit = {gold_quota}, period = "DAY" }}
keys = ["a", "c"]
[usage_plans.silver]
rate = 0.001
burst = 2
keys = ["b"]
[http.routes."GET /keyed"]
integration = {{ type = "mock", body = "ok" }}
api_key_required = true
"#
    )
}

#[tokio::test]
async fn usage_plans_throttle_and_count_quotas_per_key_readable_and_reloadable() {
    let gw = Gw::start(&plans_config(3)).await;
    let a = [("x-api-key", "key-a-0123456789abcdefgh")];
    let b = [("x-api-key", "key-b-0123456789abcdefgh")];
    let exceeded = (429, r#"{"message":"Limit Exceeded"}"#.to_owned());
    for _ in 0..3 {
        assert_eq!(status(&gw, "/prod/keyed", &a).await.0, 200);
    }
    assert_eq!(status(&gw, "/prod/keyed", &a).await, exceeded);
    // Silver throttles (rate and burst), with the throttle's text.
    assert_eq!(status(&gw, "/prod/keyed", &b).await.0, 200);
    assert_eq!(status(&gw, "/prod/keyed", &b).await.0, 200);
    assert_eq!(
        status(&gw, "/prod/keyed", &b).await,
        (429, r#"{"message":"Too Many Requests"}"#.to_owned())
    );
    // The remaining quota, through the management API.
    let (code, _, body) = http("GET", &gw.mgmt_url("/@usage-plans/gold/keys/a"), vec![]).await;
    assert_eq!(code, 200);
    let usage: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(usage["quota"]["limit"], 3);
    assert_eq!(usage["quota"]["used"], 3);
    assert_eq!(usage["quota"]["remaining"], 0);
    assert_eq!(usage["quota"]["period"], "DAY");
    let resets = usage["quota"]["resetsAt"].as_str().unwrap();
    assert!(resets.ends_with("T00:00:00.000Z"), "{resets}");
    let (code, _, _) = http("GET", &gw.mgmt_url("/@usage-plans/silver/keys/a"), vec![]).await;
    assert_eq!(code, 404, "a is not in silver");
    // A WebSocket key in the plan: messages count against its quota.
    let (mut ws, _) = connect_with(
        &gw.url("prod"),
        &[("x-api-key", "key-c-0123456789abcdefgh")],
    )
    .await
    .unwrap();
    let replies = burst(&mut ws, "echo", 5).await;
    assert_eq!(passed(&replies), 3, "{replies:?}");
    assert!(
        replies[4].contains(r#""message": "Limit Exceeded""#),
        "{replies:?}"
    );
    // A reload raises the quota; what was counted stays counted.
    assert_eq!(gw.reload_with(&plans_config(5)).outcome, "applied");
    assert_eq!(status(&gw, "/prod/keyed", &a).await.0, 200);
    assert_eq!(status(&gw, "/prod/keyed", &a).await.0, 200);
    assert_eq!(status(&gw, "/prod/keyed", &a).await, exceeded);
    let metrics = gw.metrics_text().await;
    let quota = metric(&metrics, "sockgate_throttled_total", &["level=\"quota\""]);
    assert_eq!(quota, 4.0);
}
