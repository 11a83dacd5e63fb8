//! Issue 11: a reload changes routes, stage variables, authorizers and
//! admission rules for the next message or connection, without closing any
//! connection; an invalid file changes nothing; a removed stage's connections
//! are closed with their `$disconnect`; what needs a restart is reported.

mod support;

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;
use support::*;

const ISS: &str = "https://issuer.test/";
const AUD: &str = "sockgate";

/// Two stages, an echo route whose reply says which table served it, and a
/// backend route through a stage variable.
fn config(echo_tag: &str, backend: &str, extra: &str) -> String {
    format!(
        r#"
[websocket]
route_selection_expression = "$request.body.action"
[stages.prod]
variables = {{ backend = "{backend}" }}
[stages.beta]
variables = {{ backend = "{backend}" }}
[routes.echo]
route_response = true
integration = {{ type = "mock", body = "{echo_tag}:${{request.body.text}}" }}
[routes.call]
route_response = true
integration = {{ type = "aws_proxy", uri = "${{stageVariables.backend}}/call" }}
[routes."$disconnect"]
integration = {{ type = "aws_proxy", uri = "${{stageVariables.backend}}/disconnect" }}
{WHOAMI_ROUTE}
{extra}
"#
    )
}

fn open_count(text: &str) -> f64 {
    metric(text, "sockgate_connections_open", &[])
}

#[tokio::test]
async fn a_reload_changes_routes_and_stage_variables_for_the_next_message() {
    let (a, b) = (Backend::start().await, Backend::start().await);
    a.on(
        "/call",
        Behaviour::Body(r#"{"statusCode":200,"body":"from a"}"#.into()),
    );
    b.on(
        "/call",
        Behaviour::Body(r#"{"statusCode":200,"body":"from b"}"#.into()),
    );
    let gw = Gw::start(&config("v1", &a.url(), "")).await;
    let mut ws = connect(&gw.url("prod")).await;
    send_text(&mut ws, r#"{"action":"echo","text":"hi"}"#).await;
    assert_eq!(recv_text(&mut ws).await, "v1:hi");
    send_text(&mut ws, r#"{"action":"call"}"#).await;
    assert_eq!(recv_text(&mut ws).await, "from a");

    let report = gw.reload_with(&config("v2", &b.url(), ""));
    assert_eq!(report.outcome, "applied", "{report:?}");
    assert_eq!(report.generation, 2);
    assert!(report.needs_restart.is_empty(), "{report:?}");

    // The same connection, its next messages: the new route table and variables.
    send_text(&mut ws, r#"{"action":"echo","text":"hi"}"#).await;
    assert_eq!(recv_text(&mut ws).await, "v2:hi");
    send_text(&mut ws, r#"{"action":"call"}"#).await;
    assert_eq!(recv_text(&mut ws).await, "from b");
    let text = gw.metrics_text().await;
    assert_eq!(open_count(&text), 1.0, "no connection was closed");
    assert_eq!(metric(&text, "sockgate_config_generation", &[]), 2.0);
    assert_eq!(
        metric(
            &text,
            "sockgate_config_reloads_total",
            &["outcome=\"applied\""]
        ),
        1.0
    );
    let (status, _, body) = http("GET", &format!("http://{}/readyz", gw.metrics), vec![]).await;
    assert_eq!(status, 200);
    let body = String::from_utf8_lossy(&body);
    assert!(
        body.contains("generation 2") && body.contains(&format!("config {}", report.digest)),
        "{body}"
    );
}

#[tokio::test]
async fn a_call_in_flight_finishes_on_the_route_that_selected_it() {
    let backend = Backend::start().await;
    backend.on(
        "/call",
        Behaviour::Delay(
            Duration::from_millis(500),
            r#"{"statusCode":200,"body":"old route"}"#.into(),
        ),
    );
    let gw = Gw::start(&config("v1", &backend.url(), "")).await;
    let mut ws = connect(&gw.url("prod")).await;
    send_text(&mut ws, r#"{"action":"call"}"#).await;
    backend.next("/call").await;
    // While the call waits, `call` becomes a mock.
    let swapped = config("v1", &backend.url(), "").replace(
        r#"{ type = "aws_proxy", uri = "${stageVariables.backend}/call" }"#,
        r#"{ type = "mock", body = "new route" }"#,
    );
    assert_eq!(gw.reload_with(&swapped).outcome, "applied");
    assert_eq!(recv_text(&mut ws).await, "old route");
    send_text(&mut ws, r#"{"action":"call"}"#).await;
    assert_eq!(recv_text(&mut ws).await, "new route");
}

#[tokio::test]
async fn an_invalid_file_changes_nothing_and_lists_every_error() {
    let backend = Backend::start().await;
    let good = config("v1", &backend.url(), "");
    let gw = Gw::start(&good).await;
    let mut ws = connect(&gw.url("prod")).await;
    let bad = format!("{good}\n[websocket]\nidle_timeout = \"soon\"\n");
    let report = gw.reload_with(&bad);
    assert_eq!(report.outcome, "rejected");
    assert_eq!(report.generation, 1);
    assert!(!report.errors.is_empty(), "{report:?}");
    let bad = good
        .replace("max_connections", "x")
        .replace("[stages.beta]", "[stages.beta]\nbogus = 1");
    let report = gw.reload_with(&bad.replace("v1:", "v9:").replace(
        r#"route_response = true
integration = { type = "mock""#,
        r#"route_response = true
integration = { type = "lambda""#,
    ));
    assert_eq!(report.outcome, "rejected");
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.starts_with("stages.beta.bogus"))
            && report.errors.iter().any(|e| e.contains("\"lambda\"")),
        "every error is listed: {report:?}"
    );
    // Still the old behaviour, on the open connection and for new ones.
    send_text(&mut ws, r#"{"action":"echo","text":"x"}"#).await;
    assert_eq!(recv_text(&mut ws).await, "v1:x");
    let mut fresh = connect(&gw.url("beta")).await;
    send_text(&mut fresh, r#"{"action":"echo","text":"y"}"#).await;
    assert_eq!(recv_text(&mut fresh).await, "v1:y");
    let text = gw.metrics_text().await;
    assert_eq!(
        metric(
            &text,
            "sockgate_config_reloads_total",
            &["outcome=\"rejected\""]
        ),
        2.0
    );
    assert_eq!(metric(&text, "sockgate_config_generation", &[]), 1.0);
    assert_eq!(gw.readyz().await, 200);
}

#[tokio::test]
async fn a_removed_stage_closes_its_connections_with_their_disconnect() {
    let backend = Backend::start().await;
    let gw = Gw::start(&config("v1", &backend.url(), "")).await;
    let mut prod = connect(&gw.url("prod")).await;
    let mut beta = connect(&gw.url("beta")).await;
    let without_beta = config("v1", &backend.url(), "").replace(
        &format!(
            "[stages.beta]\nvariables = {{ backend = \"{}\" }}\n",
            backend.url()
        ),
        "",
    );
    let report = gw.reload_with(&without_beta);
    assert_eq!(report.outcome, "applied", "{report:?}");
    assert_eq!(expect_close(&mut beta).await.0, 1001);
    let ev = backend.next("/disconnect").await.json();
    assert_eq!(ev["requestContext"]["stage"], "beta");
    assert_eq!(ev["requestContext"]["disconnectStatusCode"], 1001);
    assert_eq!(ev["requestContext"]["disconnectReason"], "Stage removed");
    // The other stage's connection is untouched, and new upgrades to beta are 404.
    send_text(&mut prod, r#"{"action":"echo","text":"still"}"#).await;
    assert_eq!(recv_text(&mut prod).await, "v1:still");
    assert_eq!(refused_status(&gw.url("beta"), &[]).await, 404);
}

#[tokio::test]
async fn what_needs_a_restart_is_reported_and_the_rest_applied() {
    let backend = Backend::start().await;
    let gw = Gw::start(&config("v1", &backend.url(), "")).await;
    let changed = format!(
        "{}\n[server]\nmax_connections = 7\nmanagement_max_connections = 9\n",
        config("v2", &backend.url(), "")
    );
    let report = gw.reload_with(&changed);
    assert_eq!(report.outcome, "applied");
    assert_eq!(
        report.needs_restart,
        [
            "server.max_connections",
            "server.management_max_connections"
        ]
    );
    let mut ws = connect(&gw.url("prod")).await;
    send_text(&mut ws, r#"{"action":"echo","text":"x"}"#).await;
    assert_eq!(recv_text(&mut ws).await, "v2:x", "the rest is applied");
    assert_eq!(
        gw.gateway.connection_permits().available_permits(),
        10_000 - 1,
        "the connection cap keeps its value until a restart"
    );
}

const SECRET: &str = "a-secret-of-at-least-thirty-two-bytes!!";
const SECRET2: &str = "the-rotated-secret-of-thirty-two-bytes!!";

fn token(secret: &str) -> String {
    let now = sockgate::clock::now_ms() / 1000;
    let claims = json!({"sub": "u1", "iss": ISS, "aud": AUD, "exp": now + 600});
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn jwt_stage(secret: &str, origins: &str) -> String {
    format!(
        r#"
[admission]
allowed_origins = [{origins}]
[stages.prod]
authorizer = "users"
[authorizers.users]
type = "jwt"
identity_source = "$request.header.Authorization"
issuer = "{ISS}"
audience = "{AUD}"
algorithms = ["HS256"]
secret = "{secret}"
{WHOAMI_ROUTE}
"#
    )
}

#[tokio::test]
async fn authorizer_keys_and_admission_rules_change_for_the_next_connection() {
    let gw = Gw::start(&jwt_stage(SECRET, "")).await;
    let old = format!("Bearer {}", token(SECRET));
    let (mut kept, _) = connect_with(&gw.url("prod"), &[("Authorization", &old)])
        .await
        .unwrap();
    let origin = ("Origin", "https://app.example.com");
    assert!(
        connect_with(&gw.url("prod"), &[("Authorization", &old), origin])
            .await
            .is_ok()
    );

    let report = gw.reload_with(&jwt_stage(SECRET2, "\"https://other.example.com\""));
    assert_eq!(report.outcome, "applied", "{report:?}");
    // The rotated key: old tokens are refused, new ones pass.
    assert_eq!(
        refused_status(&gw.url("prod"), &[("Authorization", &old)]).await,
        401
    );
    let new = format!("Bearer {}", token(SECRET2));
    assert!(
        connect_with(&gw.url("prod"), &[("Authorization", &new)])
            .await
            .is_ok()
    );
    // The new Origin rule.
    assert_eq!(
        refused_status(&gw.url("prod"), &[("Authorization", &new), origin]).await,
        403
    );
    // The connection opened under the old rules stays.
    assert_eq!(whoami(&mut kept).await.len(), 16);
}

fn request_authorizer(backend: &str, tag: &str) -> String {
    format!(
        r#"
[stages.prod]
authorizer = "lambda"
[authorizers.lambda]
type = "request"
uri = "{backend}/authorize"
identity_sources = ["$request.header.Authorization"]
ttl = "5m"
[routes.echo]
route_response = true
integration = {{ type = "mock", body = "{tag}" }}
{WHOAMI_ROUTE}
"#
    )
}

#[tokio::test]
async fn an_unchanged_authorizer_keeps_its_decision_cache_across_a_reload() {
    let backend = Backend::start().await;
    backend.on(
        "/authorize",
        Behaviour::Body(r#"{"isAuthorized": true, "principalId": "p"}"#.into()),
    );
    let gw = Gw::start(&request_authorizer(&backend.url(), "v1")).await;
    let auth = [("Authorization", "Bearer token-1")];
    assert!(connect_with(&gw.url("prod"), &auth).await.is_ok());
    backend.next("/authorize").await;
    assert_eq!(
        gw.reload_with(&request_authorizer(&backend.url(), "v2"))
            .outcome,
        "applied"
    );
    let (mut ws, _) = connect_with(&gw.url("prod"), &auth).await.unwrap();
    send_text(&mut ws, r#"{"action":"echo"}"#).await;
    assert_eq!(recv_text(&mut ws).await, "v2");
    assert!(
        backend
            .drain("/authorize", Duration::from_millis(300))
            .await
            .is_empty(),
        "the cached decision was used: the authorizer was not called again"
    );
}

#[tokio::test]
async fn the_management_api_reloads_with_the_same_credentials() {
    let backend = Backend::start().await;
    let gw = Gw::start(&config("v1", &backend.url(), "")).await;
    std::fs::write(&gw.config_path, config("v2", &backend.url(), "")).unwrap();
    let (status, _, body) = http("POST", &gw.mgmt_url("/@reload"), vec![]).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let report: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(report["outcome"], "applied");
    assert_eq!(report["generation"], 2);
    std::fs::write(&gw.config_path, "not toml [").unwrap();
    let (status, _, body) = http("POST", &gw.mgmt_url("/@reload"), vec![]).await;
    assert_eq!(status, 422);
    let report: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(report["outcome"], "rejected");
    assert_eq!(report["generation"], 2);
    let (status, _, _) = http("GET", &gw.mgmt_url("/@reload"), vec![]).await;
    assert_eq!(status, 405);
}
