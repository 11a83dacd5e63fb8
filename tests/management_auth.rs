//! An authenticated management API: SigV4 from boto3 and the AWS CLI themselves,
//! bearer tokens with two active at once, and every kind of bad credential
//! refused with 403.

mod support;

use support::*;

fn config(extra: &str) -> String {
    format!(
        r#"
[management]
access_keys = {{ AKIDEXAMPLE = "dummysecret", AKIDSECOND = "env:SECOND_SECRET" }}
bearer_tokens = {{ current = "{CURRENT}", next = "{NEXT}" }}
{extra}
[stages.prod]
{WHOAMI_ROUTE}
"#
    )
}

const CURRENT: &str = "0123456789abcdef0123456789abcdef-current";
const NEXT: &str = "0123456789abcdef0123456789abcdef-next";

async fn start() -> Gw {
    Gw::start_with_env(&config(""), &[("SECOND_SECRET", "second-secret-value")]).await
}

/// A finished client process: (success, its stdout then stderr).
fn outcome(out: &std::process::Output) -> (bool, String) {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn run_boto3(endpoint: &str, id: &str, args: &[&str]) -> (bool, String) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/boto3_client.py");
    let out = tokio::process::Command::new("python3")
        .arg(script)
        .arg(endpoint)
        .arg(id)
        .args(args)
        .output()
        .await
        .expect("python3 runs (CI installs boto3)");
    outcome(&out)
}

#[tokio::test]
async fn boto3_signing_with_a_configured_key_works_and_a_wrong_secret_is_forbidden() {
    let gw = start().await;
    let (mut ws, id) = connected(&gw.url("prod")).await;
    let endpoint = format!("http://{}/prod", gw.mgmt);

    let (ok, out) = run_boto3(&endpoint, &id, &["wrong-secret", "forbidden"]).await;
    assert!(ok, "{out}");
    assert_eq!(out.matches("forbidden ok 403").count(), 3, "{out}");

    let reader = async {
        let first = recv_text(&mut ws).await;
        let _binary = recv(&mut ws).await;
        (first, expect_close(&mut ws).await.0)
    };
    let ((ok, out), (first, close)) = tokio::join!(run_boto3(&endpoint, &id, &[]), reader);
    assert!(ok, "{out}");
    assert!(out.contains("gone ok GoneException"), "{out}");
    assert_eq!(first, r#"{"hello": "from boto3"}"#);
    assert_eq!(close, 1000);
}

/// Runs `aws apigatewaymanagementapi ARGS…` against `endpoint`, signed with the
/// given key and nothing from the machine's own AWS config; (success, output).
async fn run_aws_cli(endpoint: &str, key: (&str, &str), args: &[&str]) -> (bool, String) {
    let out = tokio::process::Command::new("aws")
        .args(["apigatewaymanagementapi", "--endpoint-url", endpoint])
        .args(["--region", "eu-west-1", "--output", "json"])
        .args(args)
        .env("AWS_ACCESS_KEY_ID", key.0)
        .env("AWS_SECRET_ACCESS_KEY", key.1)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_MAX_ATTEMPTS", "1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .output()
        .await
        .expect("the AWS CLI runs (CI installs awscli)");
    outcome(&out)
}

#[tokio::test]
async fn the_aws_cli_works_unchanged_with_the_second_key() {
    let gw = start().await;
    let (mut ws, id) = connected(&gw.url("prod")).await;
    let endpoint = format!("http://{}/prod", gw.mgmt);
    let key = ("AKIDSECOND", "second-secret-value");
    let data = std::env::temp_dir().join(format!("sockgate-cli-{id}.json"));
    std::fs::write(&data, br#"{"hello":"from the AWS CLI"}"#).unwrap();
    let data_arg = format!("fileb://{}", data.display());

    let post = [
        "post-to-connection",
        "--connection-id",
        &id,
        "--data",
        &data_arg,
    ];
    let (ok, out) = run_aws_cli(&endpoint, key, &post).await;
    assert!(ok, "{out}");
    assert_eq!(recv_text(&mut ws).await, r#"{"hello":"from the AWS CLI"}"#);

    let (ok, out) = run_aws_cli(&endpoint, key, &["get-connection", "--connection-id", &id]).await;
    assert!(ok, "{out}");
    let info: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(info["Identity"]["SourceIp"], "127.0.0.1", "{out}");
    assert!(info["ConnectedAt"].is_string(), "{out}");

    // The right key id with the wrong secret: refused, and nothing delivered (the
    // next message the client sees is the marker posted after it).
    let (ok, out) = run_aws_cli(&endpoint, ("AKIDSECOND", "not-the-secret"), &post).await;
    assert!(!ok && out.contains("ForbiddenException"), "{out}");
    std::fs::write(&data, b"marker").unwrap();
    let (ok, out) = run_aws_cli(&endpoint, key, &post).await;
    assert!(ok, "{out}");
    assert_eq!(recv_text(&mut ws).await, "marker");

    let del = ["delete-connection", "--connection-id", &id];
    let (ok, out) = run_aws_cli(&endpoint, key, &del).await;
    assert!(ok, "{out}");
    assert_eq!(expect_close(&mut ws).await.0, 1000);
    let (ok, out) = run_aws_cli(&endpoint, key, &post).await;
    assert!(!ok && out.contains("GoneException"), "{out}");
    let _ = std::fs::remove_file(&data);
}

#[tokio::test]
async fn bearer_tokens_rotate_and_bad_credentials_get_403() {
    let gw = start().await;
    let (mut ws, id) = connected(&gw.url("prod")).await;
    let url = gw.connections_url("prod", &id);
    for token in [CURRENT, NEXT] {
        let (status, _, _) = http_with(
            "POST",
            &url,
            &[("authorization", &format!("Bearer {token}"))],
            b"hi".to_vec(),
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(recv_text(&mut ws).await, "hi");
    }
    let wrong_sig = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261125/us-east-1/execute-api/aws4_request, SignedHeaders=host;x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000";
    let now = {
        let out = std::process::Command::new("date")
            .args(["-u", "+%Y%m%dT%H%M%SZ"])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("no credentials", vec![]),
        (
            "unknown token",
            vec![("authorization", format!("Bearer {}", "x".repeat(40)))],
        ),
        ("empty token", vec![("authorization", "Bearer ".into())]),
        (
            "basic auth",
            vec![("authorization", "Basic dXNlcjpwYXNz".into())],
        ),
        (
            "wrong signature",
            vec![
                ("authorization", wrong_sig.into()),
                ("x-amz-date", now.clone()),
            ],
        ),
        (
            "unknown key",
            vec![
                (
                    "authorization",
                    wrong_sig.replace("AKIDEXAMPLE", "AKIDUNKNOWN"),
                ),
                ("x-amz-date", now.clone()),
            ],
        ),
        (
            "signature without a date",
            vec![("authorization", wrong_sig.into())],
        ),
        (
            "garbage header",
            vec![("authorization", "AWS4-HMAC-SHA256 nonsense".into())],
        ),
    ];
    for (name, headers) in cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        for method in ["POST", "GET", "DELETE"] {
            let (status, h, body) = http_with(method, &url, &headers, b"x".to_vec()).await;
            assert_eq!(status, 403, "{name} {method}");
            assert_eq!(h["x-amzn-errortype"], "ForbiddenException", "{name}");
            assert_eq!(
                &body[..],
                br#"{"message":"Forbidden"}"#,
                "no detail leaks: {name}"
            );
        }
        // Groups and broadcasts are behind the same check.
        let (status, _, _) = http_with(
            "POST",
            &gw.mgmt_url("/prod/@broadcast"),
            &headers,
            b"x".to_vec(),
        )
        .await;
        assert_eq!(status, 403, "{name}");
    }
    // Nothing got through.
    let (status, _, _) = http_with(
        "POST",
        &url,
        &[("authorization", &format!("Bearer {CURRENT}"))],
        b"marker".to_vec(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(recv_text(&mut ws).await, "marker");
}

#[tokio::test]
async fn a_recorded_boto3_request_is_refused_once_its_signature_is_stale() {
    // The fixture's requests were signed at 2026-11-25T05:42:52Z with these very
    // keys; replayed later than the allowed skew they must not pass.
    let gw = Gw::start_with_env(
        &config("max_clock_skew = \"1s\""),
        &[("SECOND_SECRET", "second-secret-value")],
    )
    .await;
    let fixture = boto3_fixture();
    let req = &fixture["requests"][0];
    let headers: Vec<(String, String)> = req["headers"]
        .as_object()
        .unwrap()
        .iter()
        // The recorded Host is kept, so the signature itself still matches: only
        // its age is wrong (tests/boto3_fixture.rs checks each reason at a fixed clock).
        .filter(|(k, _)| k.as_str() != "Content-Length")
        .map(|(k, v)| (k.to_lowercase(), v.as_str().unwrap().to_owned()))
        .collect();
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let url = gw.mgmt_url(req["path"].as_str().unwrap());
    let (status, h, _) = http_with(
        "POST",
        &url,
        &headers,
        req["body"].as_str().unwrap().as_bytes().to_vec(),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(h["x-amzn-errortype"], "ForbiddenException");
}

#[test]
fn an_exposed_management_listener_needs_credentials() {
    use sockgate::config::Config;
    let env = std::collections::HashMap::new();
    let text = "[server]\nmanagement_listen = \"0.0.0.0:8081\"\n[stages.dev]\n";
    let err = Config::parse(text, &env).unwrap_err().to_string();
    assert!(err.contains("reachable from other hosts"), "{err}");
    let ok = format!("{text}[management]\nallow_unauthenticated = true\n");
    assert!(Config::parse(&ok, &env).is_ok());
    let with_token = format!("{text}[management]\nbearer_tokens = {{ a = \"{CURRENT}\" }}\n");
    assert!(Config::parse(&with_token, &env).is_ok());
    let short = format!("{text}[management]\nbearer_tokens = {{ a = \"short\" }}\n");
    assert!(
        Config::parse(&short, &env)
            .unwrap_err()
            .to_string()
            .contains("at least 32")
    );
    let missing_env =
        format!("{text}[management]\naccess_keys = {{ AKID = \"env:NOPE_NOT_SET\" }}\n");
    assert!(
        Config::parse(&missing_env, &env)
            .unwrap_err()
            .to_string()
            .contains("NOPE_NOT_SET is not set")
    );
}
