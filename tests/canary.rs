//! Issue 11, part 4: canary rollouts. A share of a stage's new connections is
//! served with the canary's variables for its whole life; events say which
//! side served them; metrics are split; promote and roll back are reloads.

mod support;

use serde_json::Value;
use support::*;

/// `prod` with a `side` variable (and a backend), optionally a canary that
/// overrides both with `percent` of new connections.
fn config(base: &str, canary: Option<(f64, &str)>, backend: &str) -> String {
    let canary = canary.map_or(String::new(), |(percent, side)| {
        format!(
            "[stages.prod.canary]\npercent = {percent}\nvariables = {{ side = \"{side}\", backend = \"{backend}/canary\" }}\n"
        )
    });
    format!(
        r#"
[websocket]
route_selection_expression = "$request.body.action"
[stages.prod]
variables = {{ side = "{base}", backend = "{backend}/base" }}
{canary}
[routes.side]
route_response = true
integration = {{ type = "mock", body = "${{stageVariables.side}}" }}
[routes.call]
integration = {{ type = "aws_proxy", uri = "${{stageVariables.backend}}" }}
"#
    )
}

async fn side(ws: &mut Ws) -> String {
    send_text(ws, r#"{"action":"side"}"#).await;
    recv_text(ws).await
}

#[tokio::test]
async fn the_canary_takes_its_share_of_new_connections_within_statistical_bounds() {
    let gw = Gw::start(&config(
        "base",
        Some((20.0, "canary")),
        "http://127.0.0.1:1",
    ))
    .await;
    let (total, mut canary) = (2000usize, 0usize);
    for _ in 0..total / 100 {
        let mut batch = Vec::new();
        for _ in 0..100 {
            let url = gw.url("prod");
            batch.push(tokio::spawn(async move {
                let mut ws = connect(&url).await;
                let s = side(&mut ws).await;
                ws.close(None).await.ok();
                s
            }));
        }
        for t in batch {
            if t.await.unwrap() == "canary" {
                canary += 1;
            }
        }
    }
    // Binomial(2000, 0.2): mean 400, standard deviation 17.9; five of them either way.
    assert!(
        (310..=490).contains(&canary),
        "{canary} of {total} on the canary"
    );
}

#[tokio::test]
async fn a_connection_keeps_its_side_and_events_say_which_side_served_them() {
    let backend = Backend::start().await;
    let gw = Gw::start(&config("base", Some((50.0, "canary")), &backend.url())).await;
    // Open connections until there is one of each side.
    let (mut base, mut canary) = (None, None);
    while base.is_none() || canary.is_none() {
        let mut ws = connect(&gw.url("prod")).await;
        match side(&mut ws).await.as_str() {
            "base" => base = Some(ws),
            _ => canary = Some(ws),
        }
    }
    let (mut base, mut canary) = (base.unwrap(), canary.unwrap());
    for _ in 0..20 {
        assert_eq!(
            side(&mut canary).await,
            "canary",
            "sticky for the connection's life"
        );
        assert_eq!(side(&mut base).await, "base");
    }
    // Events: the canary's variables, and isCanaryRequest.
    send_text(&mut canary, r#"{"action":"call"}"#).await;
    let ev = backend.next("/canary").await.json();
    assert_eq!(ev["requestContext"]["isCanaryRequest"], true);
    assert_eq!(ev["stageVariables"]["side"], "canary");
    send_text(&mut base, r#"{"action":"call"}"#).await;
    let ev = backend.next("/base").await.json();
    assert_eq!(ev["requestContext"]["isCanaryRequest"], false);
    // Metrics are split by side.
    let text = gw.metrics_text().await;
    let messages = |stage: &str| {
        metric(
            &text,
            "sockgate_messages_total",
            &[
                &format!("stage=\"{stage}\""),
                "route=\"side\"",
                "direction=\"in\"",
            ],
        )
    };
    // Each side got its 20, plus the first message of every connection opened
    // while looking for one of each.
    assert!(messages("prod/Canary") >= 21.0 && messages("prod") >= 21.0);

    // A reload that moves the share to 0 keeps existing canary connections on
    // the canary (the stage still has one); new connections all go to base.
    let report = gw.reload_with(&config("base", Some((0.0, "canary")), &backend.url()));
    assert_eq!(report.outcome, "applied");
    assert_eq!(side(&mut canary).await, "canary");
    for _ in 0..20 {
        let mut ws = connect(&gw.url("prod")).await;
        assert_eq!(side(&mut ws).await, "base");
    }
}

#[tokio::test]
async fn promote_and_roll_back_are_reloads() {
    let backend = Backend::start().await;
    let gw = Gw::start(&config("v1", Some((50.0, "v2")), &backend.url())).await;
    let mut conns = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    while seen.len() < 2 {
        let mut ws = connect(&gw.url("prod")).await;
        seen.insert(side(&mut ws).await);
        conns.push(ws);
    }
    // Roll back: the canary is removed; its connections are served by the base.
    assert_eq!(
        gw.reload_with(&config("v1", None, &backend.url())).outcome,
        "applied"
    );
    for ws in &mut conns {
        assert_eq!(side(ws).await, "v1");
    }
    // Canary again, then promote: its variables become the stage's.
    assert_eq!(
        gw.reload_with(&config("v1", Some((50.0, "v2")), &backend.url()))
            .outcome,
        "applied"
    );
    assert_eq!(
        gw.reload_with(&config("v2", None, &backend.url())).outcome,
        "applied"
    );
    for ws in &mut conns {
        assert_eq!(side(ws).await, "v2");
        send_text(ws, r#"{"action":"call"}"#).await;
        let ev: Value = backend.next("/base").await.json();
        assert!(
            ev["requestContext"].get("isCanaryRequest").is_none(),
            "no canary, no isCanaryRequest"
        );
    }
    let text = gw.metrics_text().await;
    assert_eq!(
        metric(&text, "sockgate_connections_open", &["stage=\"prod\""])
            + metric(
                &text,
                "sockgate_connections_open",
                &["stage=\"prod/Canary\""]
            ),
        conns.len() as f64,
        "the open-connections gauges add up whatever side a connection moved to"
    );
}

#[tokio::test]
async fn canary_settings_are_validated() {
    let text = "[stages.prod]\nvariables = { a = \"x\" }\n[stages.prod.canary]\npercent = 120\nvariables = { \"b c\" = \"y\" }\nbogus = 1\n";
    let err = sockgate::config::Config::parse(text, &std::collections::HashMap::new())
        .unwrap_err()
        .to_string();
    for needle in [
        "stages.prod.canary.percent: 120 is out of range",
        "stages.prod.canary.variables.\"b c\"",
        "stages.prod.canary.bogus: unknown key",
    ] {
        assert!(err.contains(needle), "{needle} in {err}");
    }
}
