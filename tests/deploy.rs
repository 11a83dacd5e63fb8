//! `deploy/`: the Grafana dashboard and the Prometheus alert rules query
//! only what a running node exports. A node with every kind of metric (a
//! WebSocket and an HTTP route, a cluster through a real redis-server, a
//! hosted function) is scraped, and each `sockgate_*` metric an expression
//! names must be there, with every label it matches on or groups by;
//! `promtool check rules` must pass.

mod support;

use std::collections::{BTreeMap, BTreeSet};

use support::redis::RedisServer;
use support::*;

const DASHBOARD: &str = include_str!("../deploy/grafana/sockgate.json");
const RULES: &str = include_str!("../deploy/prometheus/alerts.yml");
const RULES_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/prometheus/alerts.yml");
/// Labels Prometheus adds to every series it scrapes.
const SCRAPE_LABELS: [&str; 3] = ["instance", "job", "le"];

/// Metric name → the label names its series carry, from `/metrics`.
fn exported(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let end = line.find(['{', ' ']).unwrap_or(line.len());
        let labels = out.entry(line[..end].to_owned()).or_default();
        if line[end..].starts_with('{') {
            labels.extend(label_names(&line[end + 1..]));
        }
    }
    out
}

/// The label names of `a="x",b="y"}…` (values may hold `,`, `{` and `}`).
fn label_names(mut rest: &str) -> Vec<String> {
    let mut names = Vec::new();
    while let Some(eq) = rest.find('=') {
        let name = rest[..eq]
            .trim_start_matches([',', ' '])
            .trim_end_matches(['!', '~', '=']);
        if name.starts_with('}') || name.is_empty() {
            break;
        }
        names.push(name.to_owned());
        // Skip the operator and the quoted value.
        let open = rest[eq..].find('"').map(|i| eq + i + 1).unwrap();
        let mut i = open;
        let bytes = rest.as_bytes();
        while bytes[i] != b'"' {
            i += if bytes[i] == b'\\' { 2 } else { 1 };
        }
        rest = &rest[i + 1..];
        if rest.starts_with('}') {
            break;
        }
    }
    names
}

/// The PromQL expressions of the dashboard (panels and variables).
fn dashboard_exprs() -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    let mut exprs: Vec<String> = v["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter())
        .map(|t| t["expr"].as_str().unwrap().to_owned())
        .collect();
    for var in v["templating"]["list"].as_array().unwrap() {
        if let Some(q) = var["definition"].as_str() {
            exprs.push(q.to_owned());
        }
    }
    exprs
}

/// The alert rules' `expr`s (one line, or a `|` block).
fn rule_exprs() -> Vec<String> {
    let mut exprs = Vec::new();
    let mut lines = RULES.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(rest) = line.trim_start().strip_prefix("expr:") else {
            continue;
        };
        if rest.trim() != "|" {
            exprs.push(rest.trim().to_owned());
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let mut block = String::new();
        while let Some(next) = lines.peek() {
            if next.len() - next.trim_start().len() <= indent && !next.trim().is_empty() {
                break;
            }
            block.push_str(lines.next().unwrap().trim());
            block.push(' ');
        }
        exprs.push(block);
    }
    exprs
}

/// Every `sockgate_*` metric in `expr` with the labels it matches on, and
/// the labels it groups by.
fn references(expr: &str) -> (Vec<(String, Vec<String>)>, Vec<String>) {
    let mut metrics = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("sockgate_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        let matched = match tail[end..].starts_with('{') {
            true => label_names(&tail[end + 1..]),
            false => Vec::new(),
        };
        metrics.push((tail[..end].to_owned(), matched));
        rest = &tail[end..];
    }
    let mut grouped = Vec::new();
    for clause in expr.split("by (").skip(1) {
        let inner = clause.split(')').next().unwrap();
        grouped.extend(inner.split(',').map(|l| l.trim().to_owned()));
    }
    (metrics, grouped)
}

#[tokio::test]
async fn every_metric_the_dashboard_and_the_alerts_query_exists() {
    let redis = RedisServer::start();
    let toml = format!(
        r#"
[cluster]
redis_url = "{}"
[functions.app]
{}
[stages.prod]
[routes."$default"]
route_response = true
integration = {{ type = "aws_proxy", function = "app" }}
[http.routes."GET /x"]
integration = {{ type = "mock", body = "x" }}
"#,
        redis.url(),
        awslambdaric("app.handler")
    );
    let gw = Gw::start(&toml).await;
    let metrics = exported(&gw.metrics_text().await);
    let exprs: Vec<String> = dashboard_exprs().into_iter().chain(rule_exprs()).collect();
    assert!(exprs.len() > 20, "{exprs:?}");
    let mut checked = BTreeSet::new();
    for expr in &exprs {
        let (used, grouped) = references(expr);
        assert!(!used.is_empty(), "no sockgate metric in {expr}");
        let mut labels_of_expr = BTreeSet::new();
        for (name, matched) in used {
            let Some(labels) = metrics.get(&name) else {
                panic!("{name} (in {expr}) is not exported by a running node");
            };
            for label in &matched {
                assert!(
                    labels.contains(label) || SCRAPE_LABELS.contains(&label.as_str()),
                    "{name} has no label {label} (in {expr}); it has {labels:?}"
                );
            }
            labels_of_expr.extend(labels.iter().cloned());
            checked.insert(name);
        }
        for label in grouped {
            assert!(
                labels_of_expr.contains(&label) || SCRAPE_LABELS.contains(&label.as_str()),
                "grouped by {label}, which none of its metrics has (in {expr})"
            );
        }
    }
    // The views cover every area the README names for operators.
    for name in [
        "sockgate_connections_open",
        "sockgate_execution_errors_total",
        "sockgate_integration_latency_seconds_bucket",
        "sockgate_throttled_total",
        "sockgate_send_queue_rejections_total",
        "sockgate_cluster_up",
        "sockgate_config_reloads_total",
        "sockgate_function_invocations_total",
    ] {
        assert!(
            checked.contains(name),
            "{name} is on no panel and in no rule"
        );
    }
}

#[test]
fn promtool_accepts_the_alert_rules() {
    let out = std::process::Command::new("promtool")
        .args(["check", "rules", RULES_PATH])
        .output()
        .expect("promtool runs (Debian's prometheus package; .ci/run installs it)");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
