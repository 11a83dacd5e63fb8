//! Point 1 and the process lifecycle: the real `sockgate` binary.

mod support;

use std::process::Command;

use support::process::{BIN, spawn, spawn_keeping_management, write_config};
use support::*;

#[test]
fn check_accepts_the_shipped_configs() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/sockgate.example.toml");
    let out = Command::new(BIN)
        .args(["check", "--config", example])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Routes are counted once, not once per stage (the example has 2
    // stages, 5 WebSocket routes and 2 HTTP routes).
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "configuration OK: 2 stage(s) (dev, prod); 5 WebSocket and 2 HTTP route(s), served by every stage\n"
    );
    let out = Command::new(BIN).arg("check").output().unwrap();
    assert!(out.status.success(), "the embedded demo config is valid");
}

#[test]
fn check_lists_every_error_and_exits_78() {
    let path = write_config(
        "bad.toml",
        "[server]\nlisten = \"x\"\n[websocket]\nidle_timeout = \"soon\"\n[stages.dev]\n[routes.\"$nope\"]\nintegration = { type = \"mock\" }\n[typo]\n",
    );
    let check = |path: &std::path::Path| {
        let out = Command::new(BIN)
            .args(["check", "--config"])
            .arg(path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(78));
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // What cannot be read is listed first, all of it; a file that reads is
    // then compiled, and what does not compile is listed, all of it.
    let err = check(&path);
    assert!(err.starts_with("3 errors in configuration:"), "{err}");
    for needle in [
        "server.listen",
        "websocket.idle_timeout",
        "typo: unknown key",
    ] {
        assert!(err.contains(needle), "missing {needle} in {err}");
    }
    let path = write_config(
        "bad-routes.toml",
        "[stages.dev]\n[routes.\"$nope\"]\nintegration = { type = \"mock\" }\n[http.routes.\"GET /x/\"]\nintegration = { type = \"http_proxy\", uri = \"${stageVariables.b}\" }\n",
    );
    let err = check(&path);
    assert!(err.starts_with("3 errors in configuration:"), "{err}");
    for needle in [
        "routes.\"$nope\": custom route keys",
        "http.routes.\"GET /x/\": the path has an empty segment",
        "http.routes.\"GET /x/\".integration.uri: in stage \"dev\": stage variable \"b\" is not defined",
    ] {
        assert!(err.contains(needle), "missing {needle} in {err}");
    }
    let out = Command::new(BIN)
        .args(["--config", "/nonexistent/sockgate.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
}

#[tokio::test]
async fn sigterm_drains_and_exits_zero() {
    let backend = Backend::start().await;
    let path = write_config(
        "drain.toml",
        &format!(
            "[stages.dev]\n[routes.\"$disconnect\"]\nintegration = {{ type = \"aws_proxy\", uri = \"{}/disconnect\" }}\n",
            backend.url()
        ),
    );
    let (mut child, public, metrics, mut stderr) = spawn(&path);
    let mut ws = connect(&format!("ws://{public}/dev")).await;
    let (status, _, _) = http("GET", &format!("http://{metrics}/readyz"), Vec::new()).await;
    assert_eq!(status, 200);
    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    assert_eq!(expect_close(&mut ws).await.0, 1001);
    let ev = backend.next("/disconnect").await.json();
    assert_eq!(
        ev["requestContext"]["disconnectReason"],
        "Server shutting down"
    );
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    // One structured line per ended connection, with no payloads in it.
    let mut rest = String::new();
    std::io::Read::read_to_string(stderr.get_mut(), &mut rest).unwrap();
    let closed: Vec<&str> = rest
        .lines()
        .filter(|l| l.contains("Connection closed."))
        .collect();
    assert_eq!(closed.len(), 1, "{rest}");
    let v: serde_json::Value = serde_json::from_str(closed[0]).unwrap();
    assert_eq!(v["close.code"], 1001);
    assert_eq!(v["stage"], "dev");
}

#[tokio::test]
async fn demo_serves_echo_whoami_and_help() {
    // The embedded demo, as `cargo run --release` serves it (on port 0 here).
    let path = write_config("demo.toml", sockgate::config::DEFAULT_CONFIG);
    let (mut child, public, metrics, _stderr) = spawn(&path);
    let mut ws = connect(&format!("ws://{public}/dev")).await;
    send_text(&mut ws, r#"{"action":"echo","text":"hi"}"#).await;
    assert_eq!(recv_text(&mut ws).await, r#"{"action":"echo","text":"hi"}"#);
    assert_eq!(whoami(&mut ws).await.len(), 16);
    send_text(&mut ws, "hello?").await;
    assert!(recv_text(&mut ws).await.contains("Routes: echo, whoami"));
    let (status, _, body) = http("GET", &format!("http://{metrics}/metrics"), Vec::new()).await;
    assert_eq!(status, 200);
    let text = String::from_utf8_lossy(&body);
    assert_eq!(
        metric(
            &text,
            "sockgate_messages_total",
            &["route=\"echo\"", "direction=\"in\""]
        ),
        1.0
    );
    assert_eq!(
        metric(&text, "sockgate_connections_open", &["stage=\"dev\""]),
        1.0
    );
    // The demo has no $connect route: the connection is still an accepted connect.
    assert_eq!(
        metric(&text, "sockgate_connects_total", &["outcome=\"accepted\""]),
        1.0
    );
    let (status, _, _) = http("GET", &format!("http://{metrics}/healthz"), Vec::new()).await;
    assert_eq!(status, 200);
    let _ = child.kill();
    let _ = child.wait();
}

/// A node logging in the text format, at the default level, to a pipe:
/// `config` (none: the built-in demo), its public listener on `listen`.
fn text_node(
    config: Option<&std::path::Path>,
    listen: &str,
) -> (
    std::process::Child,
    std::io::BufReader<std::process::ChildStderr>,
) {
    let mut cmd = Command::new(BIN);
    if let Some(path) = config {
        cmd.arg("--config").arg(path);
    }
    let mut child = cmd
        .env("SOCKGATE_LISTEN", listen)
        .env("SOCKGATE_MANAGEMENT_LISTEN", "127.0.0.1:0")
        .env("SOCKGATE_METRICS_LISTEN", "127.0.0.1:0")
        .env_remove("SOCKGATE_LOG_FORMAT")
        .env_remove("SOCKGATE_LOG")
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    (child, stderr)
}

#[test]
fn plain_logs_into_a_pipe_carry_no_colour_codes() {
    let path = write_config("plain.toml", sockgate::config::DEFAULT_CONFIG);
    let (mut child, mut stderr) = text_node(Some(&path), "127.0.0.1:0");
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains("sockgate is listening"), "{line:?}");
    assert!(
        !line.contains('\u{1b}'),
        "ANSI escape in a piped log: {line:?}"
    );
}

/// A config with a fixed management port (so `sockgate reload` finds it) and
/// an echo route that says which file served it.
fn reloadable(mgmt_port: u16, tag: &str) -> String {
    format!(
        "[server]\nmanagement_listen = \"127.0.0.1:{mgmt_port}\"\n[stages.dev]\n[routes.\"$default\"]\nroute_response = true\nintegration = {{ type = \"mock\", body = \"{tag}\" }}\n"
    )
}

/// Sends a message until the reply is `want` (a reload is asynchronous).
async fn until_reply(ws: &mut Ws, want: &str) {
    for _ in 0..200 {
        send_text(ws, "which?").await;
        if recv_text(ws).await == want {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("never answered {want:?}");
}

#[tokio::test]
async fn sighup_and_sockgate_reload_reload_the_running_node() {
    let port = free_port();
    let path = write_config("reloadable.toml", &reloadable(port, "one"));
    let (mut child, public, _metrics, stderr) = spawn_keeping_management(&path);
    let _logs = support::process::drain(stderr);
    let mut ws = connect(&format!("ws://{public}/dev")).await;
    until_reply(&mut ws, "one").await;

    // SIGHUP.
    std::fs::write(&path, reloadable(port, "two")).unwrap();
    send_signal(&child, "-HUP");
    until_reply(&mut ws, "two").await;

    // `sockgate reload`: the report on stdout, exit 0.
    std::fs::write(&path, reloadable(port, "three")).unwrap();
    let out = Command::new(BIN)
        .args(["reload", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["outcome"], "applied");
    assert_eq!(report["generation"], 3);
    until_reply(&mut ws, "three").await;

    // A file the node rejects: exit 78, the errors on stderr, the node unchanged.
    let bad = reloadable(port, "four").replace("[stages.dev]", "[stages.dev]\nbogus = 1");
    std::fs::write(&path, bad).unwrap();
    let out = Command::new(BIN)
        .args(["reload", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    // The CLI reads the same file first: it is invalid, so it says so itself.
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("stages.dev.bogus"));
    until_reply(&mut ws, "three").await;
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn the_http_access_log_has_one_line_per_request_with_aws_context_names() {
    let config = r#"
[stages.prod]
[http]
access_log = true
[http.routes."GET /pets/{id}"]
integration = { type = "mock", body = "a pet" }
"#;
    let path = write_config("access.toml", config);
    let (mut child, public, _metrics, mut stderr) = support::process::spawn(&path);
    let mut conn = std::net::TcpStream::connect(public).unwrap();
    let request = "GET /prod/pets/7?token=s3cret HTTP/1.1\r\nhost: x\r\nauthorization: Bearer s3cret\r\nx-amzn-trace-id: Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1\r\nconnection: close\r\n\r\n";
    std::io::Write::write_all(&mut conn, request.as_bytes()).unwrap();
    let mut answer = String::new();
    std::io::Read::read_to_string(&mut conn, &mut answer).unwrap();
    let request_id = answer
        .lines()
        .find_map(|l| l.strip_prefix("apigw-requestid: "))
        .expect("apigw-requestid")
        .trim()
        .to_owned();
    let mut line = String::new();
    let entry = loop {
        line.clear();
        assert!(std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["target"] == "sockgate::access" {
            break v;
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(entry["requestId"], request_id.as_str());
    assert_eq!(entry["routeKey"], "GET /pets/{id}");
    assert_eq!(entry["httpMethod"], "GET");
    assert_eq!(entry["status"], 200);
    assert_eq!(entry["ip"], "127.0.0.1");
    assert_eq!(entry["responseLength"], 5);
    // The trace's root names it; the rest of the client's header is not logged.
    assert_eq!(entry["xrayTraceId"], "1-5759e988-bd862e3fe1be46a994272793");
    assert!(!line.contains("53995c3f42cd8ad8"), "{line}");
    assert!(!line.contains("s3cret"), "a token reached the log: {line}");
}

/// Sends `sig` to the node.
fn send_signal(child: &std::process::Child, sig: &str) {
    let sent = Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
}

/// A shell already running, which sends the signal and pid it is told with
/// its builtin `kill`: no process to start between the node saying it
/// listens and the signal (`kill(1)` took a millisecond, long enough to hide
/// a late handler).
struct Signaller(std::process::Child);

impl Signaller {
    fn ready() -> Signaller {
        let child = Command::new("sh")
            .args(["-c", "read sig pid && kill -s \"$sig\" \"$pid\""])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        Signaller(child)
    }

    fn send(mut self, sig: &str, to: &std::process::Child) {
        use std::io::Write as _;
        let mut stdin = self.0.stdin.take().unwrap();
        writeln!(stdin, "{sig} {}", to.id()).unwrap();
        drop(stdin);
        assert!(self.0.wait().unwrap().success());
    }
}

#[tokio::test]
async fn a_signal_sent_the_moment_the_node_listens_is_handled_never_fatal() {
    // SIGHUP at once: a reload, and the node serves on.
    let port = free_port();
    let path = write_config("early-hup.toml", &reloadable(port, "one"));
    let signaller = Signaller::ready();
    let (mut child, public, _metrics, stderr) = spawn_keeping_management(&path);
    signaller.send("HUP", &child);
    let _logs = support::process::drain(stderr);
    let mut ws = connect(&format!("ws://{public}/dev")).await;
    until_reply(&mut ws, "one").await;
    assert!(child.try_wait().unwrap().is_none(), "still running");
    // SIGTERM at once: a drain and a clean exit, not death by the signal.
    let path = write_config("early-term.toml", &reloadable(free_port(), "two"));
    let signaller = Signaller::ready();
    let (mut stopped, _public, _metrics, stderr) = spawn_keeping_management(&path);
    signaller.send("TERM", &stopped);
    let _logs = support::process::drain(stderr);
    let status = stopped.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{status}");
    let _ = child.kill();
    let _ = child.wait();
}

/// What a node says when it cannot start: which listener at which address,
/// and an invalid log filter is refused (78) rather than ignored.
#[test]
fn a_node_that_cannot_start_says_why() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = Command::new(BIN)
        .env("SOCKGATE_LISTEN", "127.0.0.1:0")
        .env("SOCKGATE_MANAGEMENT_LISTEN", &addr)
        .env("SOCKGATE_METRICS_LISTEN", "127.0.0.1:0")
        .env_remove("SOCKGATE_LOG")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(69));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("management_listen {addr}: Address already in use")),
        "{err}"
    );

    let out = Command::new(BIN)
        .env("SOCKGATE_LOG", "sockgate=verbose[")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("cannot set up logging: SOCKGATE_LOG="),
        "{err}"
    );

    // An access log file that cannot be opened, likewise.
    let out = Command::new(BIN)
        .env("SOCKGATE_ACCESS_LOG_FILE", "/nonexistent-dir/access.log")
        .env_remove("SOCKGATE_LOG")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    let err = String::from_utf8_lossy(&out.stderr);
    let want = "cannot set up logging: SOCKGATE_ACCESS_LOG_FILE: /nonexistent-dir/access.log:";
    assert!(err.starts_with(want), "{err}");
}

/// In the text format a value with spaces is quoted, so each `key=value`
/// splits apart again (here a worker's exit reason).
#[test]
fn text_log_values_with_spaces_are_quoted() {
    let path = write_config(
        "quoted.toml",
        "[functions.gone]\ncommand = [\"false\"]\nworking_dir = \".\"\n[stages.dev]\n[routes.\"$default\"]\nintegration = { type = \"aws_proxy\", function = \"gone\" }\n",
    );
    let (mut child, stderr) = text_node(Some(&path), "127.0.0.1:0");
    let mut exited = None;
    for line in std::io::BufRead::lines(stderr) {
        let line = line.unwrap();
        if line.contains("Worker exited") {
            exited = Some(line);
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    let line = exited.expect("the worker's exit is logged");
    assert!(line.contains("reason=\"exit status: 1\""), "{line}");
}

/// A refused upgrade is findable at the default log level: its source,
/// status and reason (never its path or headers).
#[tokio::test]
async fn a_refused_upgrade_is_logged_with_its_reason() {
    let port = free_port();
    let (mut child, mut stderr) = text_node(None, &format!("127.0.0.1:{port}"));
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    assert!(line.contains("sockgate is listening"), "{line}");
    let url = format!("ws://127.0.0.1:{port}/secret-looking-path");
    assert_eq!(refused_status(&url, &[]).await, 404);
    line.clear();
    std::io::BufRead::read_line(&mut stderr, &mut line).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains("WebSocket upgrade refused."), "{line}");
    assert!(
        line.contains("source=127.0.0.1 status=404 reason=\"no such stage\""),
        "{line}"
    );
    assert!(!line.contains("secret-looking-path"), "{line}");
}

/// The next `sockgate::access` line on the node's (JSON) stderr.
fn next_access_line(stderr: &mut impl std::io::BufRead) -> serde_json::Value {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "the node's log ended"
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
        if v["target"] == "sockgate::access" {
            assert!(
                !line.contains("s3cret"),
                "a client's value reached the log: {line}"
            );
            return v;
        }
    }
}

/// `[websocket] access_log`: one line per `$connect` (accepted and
/// refused), per message (answered, no route, not matching its model) and
/// per `$disconnect`, with AWS's `$context` names and never the client's
/// text.
#[tokio::test]
async fn the_websocket_access_log_has_a_line_per_event() {
    let config = r#"
[websocket]
access_log = true
[stages.prod]
[routes.echo]
route_response = true
integration = { type = "mock", body = "${context.requestId}" }
[routes.strict]
integration = { type = "mock" }
request_models = { "$default" = "N" }
[routes.down]
route_response = true
integration = { type = "aws_proxy", uri = "http://127.0.0.1:9/down" }
[routes.once]
route_response = true
integration = { type = "mock", body = "once" }
[routes.once.throttle]
rate = 0.001
burst = 1
[models.N]
schema = '{"type":"object","required":["n"]}'
"#;
    let path = write_config("ws-access.toml", config);
    let (mut child, public, _metrics, mut stderr) = support::process::spawn(&path);
    // A refused upgrade: no such stage.
    let refused = format!("ws://{public}/nope?token=s3cret");
    assert_eq!(refused_status(&refused, &[]).await, 404);
    let line = next_access_line(&mut stderr);
    assert_eq!(
        (&line["eventType"], &line["status"], &line["errorMessage"]),
        (&"CONNECT".into(), &404.into(), &"no such stage".into())
    );

    let mut ws = connect(&format!("ws://{public}/prod?token=s3cret")).await;
    let connect = next_access_line(&mut stderr);
    let id = connect["connectionId"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 16);
    assert_eq!(connect["status"], 200);
    assert_eq!(connect["routeKey"], "$connect");
    assert_eq!(connect["stage"], "prod");
    assert_eq!(connect["ip"], "127.0.0.1");
    // Its trace: the root of the X-Amzn-Trace-Id made for the upgrade.
    let trace = connect["xrayTraceId"].as_str().unwrap();
    assert!(trace.starts_with("1-") && trace.len() == 35, "{trace}");
    assert_eq!(line["xrayTraceId"].as_str().map(str::len), Some(35));

    send_text(&mut ws, r#"{"action":"echo","secret":"s3cret"}"#).await;
    let request_id = recv_text(&mut ws).await;
    let message = next_access_line(&mut stderr);
    assert_eq!(message["eventType"], "MESSAGE");
    assert_eq!(message["routeKey"], "echo");
    assert_eq!(message["status"], 200);
    assert_eq!(message["requestId"], request_id.as_str());
    assert_eq!(message["connectionId"], id.as_str());

    send_text(&mut ws, r#"{"action":"s3cret"}"#).await;
    let _forbidden = recv_text(&mut ws).await;
    let none = next_access_line(&mut stderr);
    assert_eq!(
        (&none["status"], &none["routeKey"]),
        (&403.into(), &"".into())
    );
    assert_eq!(none["errorMessage"], "Forbidden");

    send_text(&mut ws, r#"{"action":"strict"}"#).await;
    let _bad = recv_text(&mut ws).await;
    let bad = next_access_line(&mut stderr);
    assert_eq!(
        (&bad["status"], &bad["routeKey"]),
        (&400.into(), &"strict".into())
    );
    assert_eq!(bad["errorMessage"], "Bad request body");

    // A failed call: the frame's status and message, and the kind of failure.
    send_text(&mut ws, r#"{"action":"down"}"#).await;
    assert_eq!(recv_json(&mut ws).await["message"], "Internal server error");
    let down = next_access_line(&mut stderr);
    assert_eq!(
        (&down["status"], &down["routeKey"]),
        (&500.into(), &"down".into())
    );
    assert_eq!(down["errorMessage"], "Internal server error");
    assert_eq!(down["integrationErrorMessage"], "failed");
    assert!(down["integrationLatency"].is_u64(), "{down}");

    // Throttled: the first passes, the second gets the 429 frame.
    send_text(&mut ws, r#"{"action":"once"}"#).await;
    assert_eq!(recv_text(&mut ws).await, "once");
    assert_eq!(next_access_line(&mut stderr)["status"], 200);
    send_text(&mut ws, r#"{"action":"once"}"#).await;
    let frame = recv_json(&mut ws).await;
    let limited = next_access_line(&mut stderr);
    assert_eq!(limited["status"], 429);
    assert_eq!(limited["errorMessage"], frame["message"]);
    assert_eq!(limited["requestId"], frame["requestId"]);

    ws.close(None).await.unwrap();
    let gone = next_access_line(&mut stderr);
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(gone["eventType"], "DISCONNECT");
    assert_eq!(gone["connectionId"], id.as_str());
    assert_eq!(gone["disconnectStatusCode"], 1005);
}

/// `SOCKGATE_ACCESS_LOG_FILE`: access lines are appended to that file and
/// not to stderr; after logrotate moves it away, SIGUSR1 makes the next
/// line start a new file at the path.
#[test]
fn the_access_log_file_is_reopened_on_sigusr1() {
    let config = "[stages.prod]\n[http]\naccess_log = true\n[http.routes.\"GET /pets\"]\nintegration = { type = \"mock\", body = \"pets\" }\n";
    let path = write_config("access-file.toml", config);
    let dir = std::env::temp_dir().join(format!("sockgate-access-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("access.log");
    let rotated = dir.join("access.log.1");
    let mut cmd = Command::new(BIN);
    cmd.env("SOCKGATE_MANAGEMENT_LISTEN", "127.0.0.1:0")
        .env("SOCKGATE_ACCESS_LOG_FILE", &log);
    let (mut child, public, _metrics, stderr) = support::process::spawn_command(cmd, &path);
    let stderr_lines = support::process::drain_lines(stderr);
    let get = |n: u32| {
        let mut conn = std::net::TcpStream::connect(public).unwrap();
        let req = format!("GET /prod/pets?n={n} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        std::io::Write::write_all(&mut conn, req.as_bytes()).unwrap();
        let mut answer = String::new();
        std::io::Read::read_to_string(&mut conn, &mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    };
    let lines_of = |p: &std::path::Path| -> usize {
        std::fs::read_to_string(p).map_or(0, |t| {
            t.lines().filter(|l| l.contains("HTTP request.")).count()
        })
    };
    let wait_for = |p: &std::path::Path, n: usize| {
        let deadline = sockgate::clock::now() + PATIENCE;
        while lines_of(p) < n && sockgate::clock::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        lines_of(p)
    };
    get(1);
    assert_eq!(wait_for(&log, 1), 1);
    // logrotate: move the file, then signal.
    std::fs::rename(&log, &rotated).unwrap();
    send_signal(&child, "-USR1");
    let deadline = sockgate::clock::now() + PATIENCE;
    while !log.exists() && sockgate::clock::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    get(2);
    assert_eq!(
        wait_for(&log, 1),
        1,
        "the new file has the line after the signal"
    );
    assert_eq!(
        lines_of(&rotated),
        1,
        "the moved file keeps only the line before"
    );
    let _ = child.kill();
    let _ = child.wait();
    let on_stderr = stderr_lines.join().unwrap();
    assert!(
        !on_stderr.iter().any(|l| l.contains("HTTP request.")),
        "access lines reached stderr too"
    );
    assert!(
        on_stderr
            .iter()
            .any(|l| l.contains("access log file is reopened"))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `access_log_format`: each access line is its template with the values in
/// (escaped), written as it is to stdout (no file configured), not among
/// the logs on stderr: a JSON template for the HTTP API, a CLF-like one for
/// the WebSocket API. An unknown variable stops the start, naming it.
#[tokio::test]
async fn an_access_log_format_writes_each_line_from_its_template() {
    let config = r#"
[http]
access_log = true
access_log_format = '{"requestId":"$context.requestId","method":"$context.httpMethod","route":"$context.routeKey","status":$context.status,"trace":"$context.xrayTraceId","latency":"$context.integrationLatency"}'
[websocket]
route_selection_expression = "$request.body.action"
access_log = true
access_log_format = '$context.eventType $context.connectionId $context.routeKey $context.status $context.error.messageString [$context.requestTime]'
[stages.prod]
[routes.echo]
route_response = true
integration = { type = "mock", body = "echo" }
[http.routes."GET /pets"]
integration = { type = "mock", body = "pets" }
"#;
    let path = write_config("access-format.toml", config);
    let mut cmd = Command::new(BIN);
    cmd.env("SOCKGATE_MANAGEMENT_LISTEN", "127.0.0.1:0")
        .stdout(std::process::Stdio::piped());
    let (mut child, public, _metrics, stderr) = support::process::spawn_command(cmd, &path);
    let stderr_lines = support::process::drain_lines(stderr);
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let child = support::process::KillOnDrop(child);
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(stdout).map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let next = || rx.recv_timeout(PATIENCE).expect("an access line on stdout");

    let url = format!("http://{public}/prod/pets");
    let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let (status, _, _) = http_with("GET", &url, &[("traceparent", parent)], vec![]).await;
    assert_eq!(status, 200);
    let line: serde_json::Value = serde_json::from_str(&next()).expect("the template JSON");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["route"], "GET /pets");
    assert_eq!(line["status"], 200);
    assert_eq!(line["trace"], "1-4bf92f35-77b34da6a3ce929d0e0e4736");
    assert!(
        line["latency"].as_str().unwrap().parse::<u64>().is_ok(),
        "{line}"
    );
    assert_eq!(line["requestId"].as_str().map(str::len), Some(16));

    let mut ws = connect(&format!("ws://{public}/prod")).await;
    let connect_line = next();
    let fields: Vec<&str> = connect_line.split(' ').collect();
    assert_eq!(fields[0], "CONNECT", "{connect_line}");
    let id = fields[1].to_owned();
    assert_eq!(&fields[2..5], ["$connect", "200", "-"], "{connect_line}");
    assert!(connect_line.ends_with(" +0000]"), "{connect_line}");
    send_text(&mut ws, r#"{"action":"nowhere"}"#).await;
    let _forbidden = recv_text(&mut ws).await;
    let message = next();
    assert!(
        message.starts_with(&format!("MESSAGE {id} - 403 \"Forbidden\" [")),
        "{message}"
    );
    drop(ws);
    assert!(next().starts_with(&format!("DISCONNECT {id} $disconnect 200 - [")));
    drop(child);
    let on_stderr = stderr_lines.join().unwrap();
    assert!(!on_stderr.iter().any(|l| l.contains("sockgate::access")));

    // An unknown variable is refused, by name.
    let bad = write_config(
        "access-format-bad.toml",
        "[stages.prod]\n[http]\naccess_log_format = \"$context.identity.userAgent\"\n",
    );
    let out = Command::new(BIN)
        .args(["check", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(78), "{text}");
    assert!(
        text.contains("http.access_log_format: unknown variable $context.identity.userAgent"),
        "{text}"
    );
}
