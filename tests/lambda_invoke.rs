//! Issue 22 §3: AWS Lambda as a backend, through the Invoke API. The
//! stand-in for Lambda (`tests/lambda/fake_lambda.py`) recomputes every
//! request's signature with botocore's own SigV4 signer and answers as Lambda
//! does: results, function errors, throttling, service errors, a refused
//! signature.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::process::PythonServer;
use support::*;

const ARN: &str = "arn:aws:lambda:eu-west-1:123456789012:function";

struct FakeLambda {
    server: PythonServer,
}

impl FakeLambda {
    fn start(keys: &[(&str, &str)]) -> FakeLambda {
        let keys: serde_json::Map<String, Value> =
            keys.iter().map(|(k, s)| ((*k).into(), json!(s))).collect();
        let args = [Value::Object(keys).to_string()];
        let server =
            PythonServer::start("tests/lambda/fake_lambda.py", &args, "pip install botocore");
        FakeLambda { server }
    }

    async fn calls(&self) -> Vec<Value> {
        let url = format!("http://127.0.0.1:{}/__calls", self.server.port);
        let (_, _, body) = http("GET", &url, vec![]).await;
        serde_json::from_slice(&body).unwrap()
    }

    fn section(&self, credentials: &str) -> String {
        format!(
            "[integrations.lambda]\nregion = \"eu-west-1\"\nendpoint = \"http://127.0.0.1:{}\"\n{credentials}\n",
            self.server.port
        )
    }
}

const KEYS: &str = "access_key_id = \"AKIDEXAMPLE\"\nsecret_access_key = \"env:TEST_SECRET\"\nsession_token = \"tok/en+=\"";

fn routes() -> String {
    format!(
        r#"
[stages.dev]
[routes."$default"]
route_response = true
integration = {{ type = "aws_proxy", uri = "{ARN}:echo:live" }}
[routes.crash]
route_response = true
integration = {{ type = "aws_proxy", function = "crash" }}
[http.routes."GET /v2/{{id}}"]
integration = {{ type = "aws_proxy", uri = "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/{ARN}:echo/invocations" }}
[http.routes."GET /v1"]
integration = {{ type = "aws_proxy", function = "echo", payload_format = "1.0" }}
[http.routes."ANY /fail/crash"]
integration = {{ type = "aws_proxy", function = "crash" }}
[http.routes."GET /fail/busy"]
integration = {{ type = "aws_proxy", function = "busy" }}
[http.routes."GET /fail/broken"]
integration = {{ type = "aws_proxy", function = "broken" }}
[http.routes."GET /fail/missing"]
integration = {{ type = "aws_proxy", function = "nobody" }}
[http.routes."GET /fail/slow"]
integration = {{ type = "aws_proxy", function = "slow", timeout = "500ms" }}
[http.routes."GET /guarded"]
integration = {{ type = "mock", body = "let in" }}
authorizer = "fn"
[authorizers.fn]
type = "request"
function = "authorizer"
identity_sources = ["$request.header.x-token"]
ttl = "0s"
"#
    )
}

async fn get(gw: &Gw, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let url = format!("http://{}/dev{path}", gw.public);
    let (status, _, body) = http_with("GET", &url, headers, vec![]).await;
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn websocket_and_http_routes_invoke_functions_signed_as_botocore_signs() {
    let lambda = FakeLambda::start(&[("AKIDEXAMPLE", "s3cr3t")]);
    let toml = format!("{}{}", lambda.section(KEYS), routes());
    let gw = Gw::start_with_env(&toml, &[("TEST_SECRET", "s3cr3t")]).await;

    // WebSocket: the event arrives whole, and the function's answer is the reply.
    let mut ws = connect(&gw.url("dev")).await;
    send_text(&mut ws, "hello").await;
    let event: Value = serde_json::from_str(&recv_text(&mut ws).await).unwrap();
    assert_eq!(event["body"], "hello");
    assert_eq!(event["requestContext"]["routeKey"], "$default");
    assert_eq!(event["requestContext"]["eventType"], "MESSAGE");

    // HTTP, payload 2.0 (through API Gateway's invoke ARN) and 1.0 (by name).
    let (status, body) = get(&gw, "/v2/7?q=1", &[]).await;
    assert_eq!(status, 200, "{body}");
    let event: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (event["version"].as_str(), event["rawPath"].as_str()),
        (Some("2.0"), Some("/dev/v2/7"))
    );
    assert_eq!(event["pathParameters"]["id"], "7");
    let (status, body) = get(&gw, "/v1", &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["version"],
        "1.0"
    );

    // A Lambda REQUEST authorizer: allowed, or 401 by `raise Exception("Unauthorized")`.
    assert_eq!(
        get(&gw, "/guarded", &[("x-token", "let-me-in")]).await,
        (200, "let in".into())
    );
    assert_eq!(get(&gw, "/guarded", &[("x-token", "nope")]).await.0, 401);

    let calls = lambda.calls().await;
    assert_eq!(calls.len(), 5, "{calls:#?}");
    for call in &calls {
        assert_eq!(
            call["verified"], true,
            "botocore's signature matches: {call}"
        );
        assert_eq!(
            call["token"], "tok/en+=",
            "the session token is sent and signed"
        );
        assert_eq!(call["invocation_type"], "RequestResponse");
        assert_eq!(call["region"], "eu-west-1");
    }
    let names: Vec<&str> = calls.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(
        names[0],
        format!("{ARN}:echo:live"),
        "the qualifier travels in the name"
    );
    assert_eq!(names[1], format!("{ARN}:echo"));
    assert_eq!(names[2], "echo");
    assert_eq!(names[3], "authorizer");
}

#[tokio::test]
async fn function_errors_throttling_and_service_errors_are_failures_counted_by_kind() {
    let lambda = FakeLambda::start(&[("AKIDEXAMPLE", "s3cr3t")]);
    let toml = format!("{}{}", lambda.section(KEYS), routes());
    let gw = Gw::start_with_env(&toml, &[("TEST_SECRET", "s3cr3t")]).await;

    for path in ["/fail/crash", "/fail/busy", "/fail/broken", "/fail/missing"] {
        let (status, body) = get(&gw, path, &[]).await;
        assert_eq!(
            (status, body.as_str()),
            (500, r#"{"message":"Internal Server Error"}"#),
            "{path}"
        );
    }
    // A timeout is a timeout, as for any backend.
    assert_eq!(get(&gw, "/fail/slow", &[]).await.0, 503);
    // On WebSocket, AWS's error frame; the connection stays.
    let mut ws = connect(&gw.url("dev")).await;
    send_text(&mut ws, r#"{"action":"crash"}"#).await;
    let frame = recv_json(&mut ws).await;
    assert_eq!(frame["message"], "Internal server error");

    let text = gw.metrics_text().await;
    let http = |route: &str, kind: &str| {
        let route = format!("route=\"{route}\"");
        let kind = format!("kind=\"{kind}\"");
        metric(
            &text,
            "sockgate_http_execution_errors_total",
            &[&route, &kind],
        )
    };
    assert_eq!(http("ANY /fail/crash", "function_error"), 1.0);
    assert_eq!(http("GET /fail/busy", "throttled"), 1.0);
    assert_eq!(http("GET /fail/broken", "service_error"), 1.0);
    assert_eq!(http("GET /fail/missing", "failed"), 1.0);
    assert_eq!(http("GET /fail/slow", "timeout"), 1.0);
    let ws_kind = metric(
        &text,
        "sockgate_execution_errors_total",
        &["route=\"crash\"", "kind=\"function_error\""],
    );
    assert_eq!(ws_kind, 1.0);
}

#[tokio::test]
async fn a_wrong_key_is_refused_by_lambda_and_an_oversized_event_never_leaves() {
    let lambda = FakeLambda::start(&[("AKIDEXAMPLE", "s3cr3t")]);
    let toml = format!("{}{}", lambda.section(KEYS), routes());
    let gw = Gw::start_with_env(&toml, &[("TEST_SECRET", "not-the-secret")]).await;
    assert_eq!(get(&gw, "/v1", &[]).await.0, 500);
    let calls = lambda.calls().await;
    assert_eq!((calls.len(), &calls[0]["verified"]), (1, &json!(false)));
    let text = gw.metrics_text().await;
    let failed = metric(
        &text,
        "sockgate_http_execution_errors_total",
        &["route=\"GET /v1\"", "kind=\"failed\""],
    );
    assert_eq!(failed, 1.0);

    // Over Lambda's 6 MB: 413 without a call (the gateway's own limit is 10 MB).
    let url = format!("http://{}/dev/fail/crash", gw.public);
    let (status, _, _) = http("POST", &url, vec![b'x'; 6_500_000]).await;
    assert_eq!(status, 413);
    assert_eq!(lambda.calls().await.len(), 1, "nothing was sent");
}

#[tokio::test]
async fn keys_rotated_in_the_credentials_file_are_used_without_a_restart() {
    let lambda = FakeLambda::start(&[("AKIDOLD", "old"), ("AKIDNEW", "new")]);
    let dir = std::env::temp_dir().join(format!("sockgate-creds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("credentials");
    let write = |id: &str, secret: &str| {
        let text = format!(
            "[other]\naws_access_key_id = X\naws_secret_access_key = Y\n\n[gw]\naws_access_key_id = {id}\naws_secret_access_key = {secret}\n"
        );
        std::fs::write(&file, text).unwrap();
    };
    write("AKIDOLD", "old");
    let creds = format!(
        "credentials_file = \"{}\"\nprofile = \"gw\"",
        file.display()
    );
    let gw = Gw::start(&format!("{}{}", lambda.section(&creds), routes())).await;
    assert_eq!(get(&gw, "/v1", &[]).await.0, 200);
    // The same length as before: the file is read, not judged by its size.
    write("AKIDNEW", "new");
    // The file is looked at once a second.
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    assert_eq!(get(&gw, "/v1", &[]).await.0, 200);
    let keys: Vec<Value> = lambda
        .calls()
        .await
        .iter()
        .map(|c| c["key"].clone())
        .collect();
    assert_eq!(keys, [json!("AKIDOLD"), json!("AKIDNEW")]);
    assert!(lambda.calls().await.iter().all(|c| c["verified"] == true));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Keys written in the config change with a reload, without a restart.
#[tokio::test]
async fn keys_in_the_config_change_with_a_reload() {
    let lambda = FakeLambda::start(&[("AKIDOLD", "old"), ("AKIDNEW", "new")]);
    let with = |id: &str, secret: &str| {
        let keys = format!("access_key_id = \"{id}\"\nsecret_access_key = \"{secret}\"");
        format!("{}{}", lambda.section(&keys), routes())
    };
    let gw = Gw::start(&with("AKIDOLD", "old")).await;
    assert_eq!(get(&gw, "/v1", &[]).await.0, 200);
    let report = gw.reload_with(&with("AKIDNEW", "new"));
    assert_eq!(report.outcome, "applied", "{:?}", report.errors);
    assert_eq!(get(&gw, "/v1", &[]).await.0, 200);
    let calls = lambda.calls().await;
    let keys: Vec<&Value> = calls.iter().map(|c| &c["key"]).collect();
    assert_eq!(keys, [&json!("AKIDOLD"), &json!("AKIDNEW")]);
    assert!(calls.iter().all(|c| c["verified"] == true));
}

#[test]
fn config_checks_lambda_references_regions_and_credentials() {
    use sockgate::snapshot::parse;
    use std::collections::HashMap;
    let env = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let route = |uri: &str| {
        format!(
            "[stages.dev]\n[routes.\"$default\"]\nintegration = {{ type = \"aws_proxy\", uri = \"{uri}\" }}\n"
        )
    };
    let keys = [
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "s"),
    ];
    // The region of an ARN is its own; a name needs one from config or AWS_REGION.
    assert!(parse(&route(&format!("{ARN}:f")), &env(&keys)).is_ok());
    let by_name = "[stages.dev]\n[routes.\"$default\"]\nintegration = { type = \"aws_proxy\", function = \"f\" }\n";
    let err = parse(by_name, &env(&keys)).unwrap_err().to_string();
    assert!(err.contains("no region"), "{err}");
    let with_region = [keys[0], keys[1], ("AWS_REGION", "us-west-2")];
    assert!(parse(by_name, &env(&with_region)).is_ok());
    let err = parse(&route(&format!("{ARN}:f")), &env(&[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no AWS credentials"), "{err}");
    for bad in [
        "arn:aws:lambda:eu-west-1:123456789012:function:a/../b",
        "arn:aws:lambda:eu-west-1:123:function:f",
        "arn:aws:lambda:eu-west-1:123456789012:function:f:a:b",
    ] {
        let err = parse(&route(bad), &env(&keys)).unwrap_err().to_string();
        assert!(err.contains("not a Lambda function ARN"), "{bad}: {err}");
    }
    let proxy = "[stages.dev]\n[routes.\"$default\"]\nintegration = { type = \"http_proxy\", uri = \"arn:aws:lambda:eu-west-1:123456789012:function:f\" }\n";
    let err = parse(proxy, &env(&keys)).unwrap_err().to_string();
    assert!(err.contains("aws_proxy"), "{err}");
    let endpoint =
        "[integrations.lambda]\nendpoint = \"http://user@localhost:4566/x\"\n[stages.dev]\n";
    assert!(parse(endpoint, &env(&keys)).is_err());
}

/// The README's Lambda walk-through configs load as written.
#[test]
fn the_readme_lambda_configs_load() {
    use std::collections::HashMap;
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let start = readme.find("### AWS Lambda functions").unwrap();
    let end = start
        + readme[start..]
            .find("### Run your Lambda functions")
            .unwrap();
    let env: HashMap<String, String> = [
        ("AWS_ACCESS_KEY_ID", "AKID"),
        ("AWS_SECRET_ACCESS_KEY", "s"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let blocks: Vec<&str> = readme[start..end]
        .split("```toml\n")
        .skip(1)
        .map(|b| &b[..b.find("```").unwrap()])
        .collect();
    assert_eq!(blocks.len(), 2);
    for block in blocks {
        let text = format!("{block}\n[stages.dev]\n");
        if let Err(e) = sockgate::snapshot::parse(&text, &env) {
            panic!("{e}\n{text}");
        }
    }
}
