//! The README's client snippets run as written (only the listener's address and the
//! connection id are filled in), so a newcomer who copies them gets a working call:
//! boto3 without and with management keys, and the AWS CLI.

mod support;

use support::*;

const MARKER: &str = "<!-- tests/readme.rs runs this block -->";
/// The management address the README's snippets use (the default config's).
const README_MGMT: &str = "127.0.0.1:8081";

/// The code blocks that follow the marker, in order: (language, code).
fn blocks() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(at) = rest.find(MARKER) {
        rest = rest[at + MARKER.len()..].trim_start();
        let fence = rest
            .strip_prefix("```")
            .expect("a code block follows the marker");
        let (lang, body) = fence.split_once('\n').unwrap();
        let end = body.find("\n```").expect("the block is closed");
        out.push((lang.trim().to_owned(), body[..end + 1].to_owned()));
        rest = &body[end..];
    }
    assert_eq!(out.len(), 3, "three tested blocks in the README");
    out
}

/// Runs a snippet against `gw`'s management listener with `id` as the connection id.
async fn run(gw: &Gw, lang: &str, code: &str, id: &str, env: &[(&str, &str)]) -> (bool, String) {
    let code = code.replace(README_MGMT, &gw.mgmt.to_string());
    assert!(
        code.contains(&gw.mgmt.to_string()),
        "the snippet names the management address"
    );
    let dir = std::env::temp_dir().join(format!("sockgate-readme-{id}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = match lang {
        "python" => {
            let mut c = tokio::process::Command::new("python3");
            c.arg("-c").arg(format!("connection_id = {id:?}\n{code}"));
            c
        }
        "sh" => {
            let mut c = tokio::process::Command::new("bash");
            c.args(["-euc", &code]).env("CONNECTION_ID", id);
            c
        }
        other => panic!("no runner for {other}"),
    };
    // Nothing from this machine's own AWS setup.
    for var in [
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    ] {
        cmd.env_remove(var);
    }
    let out = cmd
        .current_dir(&dir)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_MAX_ATTEMPTS", "1")
        .envs(env.iter().copied())
        .output()
        .await
        .expect("python3 and bash run");
    let _ = std::fs::remove_dir_all(&dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn the_boto3_snippet_without_keys_posts() {
    let gw = Gw::start(&format!("[stages.dev]\n{WHOAMI_ROUTE}")).await;
    let (mut ws, id) = connected(&gw.url("dev")).await;
    let (lang, code) = &blocks()[0];
    let (ok, out) = run(&gw, lang, code, &id, &[]).await;
    assert!(ok, "{out}");
    assert_eq!(recv_text(&mut ws).await, "hello");
}

#[tokio::test]
async fn the_boto3_snippet_with_keys_signs_with_the_configured_key() {
    let toml = format!(
        "[management]\naccess_keys = {{ AKIAEXAMPLEKEY0001 = \"env:SOCKGATE_SECRET_KEY\" }}\n[stages.dev]\n{WHOAMI_ROUTE}"
    );
    let secret = "a-secret-only-this-test-knows";
    let gw = Gw::start_with_env(&toml, &[("SOCKGATE_SECRET_KEY", secret)]).await;
    let (mut ws, id) = connected(&gw.url("dev")).await;
    let blocks = blocks();
    // The keyless snippet is refused once keys are configured...
    let (ok, out) = run(&gw, &blocks[0].0, &blocks[0].1, &id, &[]).await;
    assert!(!ok && out.contains("ForbiddenException"), "{out}");
    // ...and the keyed one, given the key in the environment, gets through.
    let env = [
        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEY0001"),
        ("AWS_SECRET_ACCESS_KEY", secret),
    ];
    let (ok, out) = run(&gw, &blocks[1].0, &blocks[1].1, &id, &env).await;
    assert!(ok, "{out}");
    assert_eq!(
        recv_text(&mut ws).await,
        "hello",
        "nothing else arrived before it"
    );
}

#[tokio::test]
async fn the_aws_cli_snippet_posts_and_gets() {
    let gw = Gw::start(&format!("[stages.dev]\n{WHOAMI_ROUTE}")).await;
    let (mut ws, id) = connected(&gw.url("dev")).await;
    let (lang, code) = &blocks()[2];
    let (ok, out) = run(&gw, lang, code, &id, &[]).await;
    assert!(ok, "{out}");
    assert_eq!(recv_text(&mut ws).await, "hello");
    let info: serde_json::Value = serde_json::from_str(&out).expect("get-connection prints JSON");
    assert_eq!(info["Identity"]["SourceIp"], "127.0.0.1", "{out}");
}
