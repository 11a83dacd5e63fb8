//! Issue 23 §1: Lambda functions sockgate hosts. The handler
//! (`tests/functions/app.py`) runs unchanged under AWS's own Python runtime
//! interface client, `awslambdaric`, which polls sockgate's Runtime API as it
//! polls AWS's; routes of both protocols name it with `function = "app"`.

mod support;

use serde_json::Value;
use support::*;

fn config(concurrency: usize, queue: usize, timeout: &str) -> String {
    let app = awslambdaric("app.handler");
    format!(
        r#"
[functions.app]
{app}memory_size = 256
concurrency = {concurrency}
queue = {queue}
timeout = "{timeout}"
environment = {{ GREETING = "hello" }}

[stages.dev]
[routes."$default"]
route_response = true
integration = {{ type = "aws_proxy", function = "app" }}
[http.routes."GET /fn/{{what}}"]
integration = {{ type = "aws_proxy", function = "app" }}
"#
    )
}

async fn get(gw: &Gw, what: &str) -> (u16, Vec<String>, String) {
    get_at(gw.public, &format!("fn/{what}")).await
}

async fn get_at(public: std::net::SocketAddr, path: &str) -> (u16, Vec<String>, String) {
    let url = format!("http://{public}/dev/{path}");
    let (status, headers, body) = http("GET", &url, vec![]).await;
    let cookies = headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    (status, cookies, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn websocket_and_http_routes_run_an_unchanged_awslambdaric_handler() {
    let gw = Gw::start_with_env(&config(1, 10, "3s"), &[("SOCKGATE_SECRET", "x")]).await;
    let mut ws = connect(&gw.url("dev")).await;
    send_text(&mut ws, "hi").await;
    let facts = recv_json(&mut ws).await;
    assert_eq!(facts["echo"], "hi");
    assert_eq!(facts["routeKey"], "$default");
    assert_eq!(facts["functionName"], "app");
    assert_eq!(facts["memory"], "256");
    assert_eq!(
        facts["functionArn"],
        "arn:aws:lambda:us-east-1:000000000000:function:app"
    );
    let remaining = facts["remainingMs"].as_i64().unwrap();
    assert!((1..=3000).contains(&remaining), "{remaining}");
    let env = &facts["env"];
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "app");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "256");
    assert_eq!(env["GREETING"], "hello");
    assert!(
        env["LAMBDA_TASK_ROOT"]
            .as_str()
            .unwrap()
            .ends_with("tests/functions")
    );
    // sockgate's own environment is not the function's.
    assert_eq!(env["SOCKGATE_SECRET"], Value::Null);
    // The worker's Runtime API is on loopback.
    assert!(
        env["AWS_LAMBDA_RUNTIME_API"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );

    // HTTP, payload 2.0: the handler's status, headers and cookies.
    let (status, cookies, body) = get(&gw, "pets").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(cookies, ["a=1", "b=2"]);
    let facts: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(facts["echo"], "pets");
    assert_eq!(facts["routeKey"], "GET /fn/{what}");
    // One worker served both, one invocation after the other.
    let (_, _, again) = get(&gw, "again").await;
    let again: Value = serde_json::from_str(&again).unwrap();
    assert_eq!(again["pid"], facts["pid"]);
    assert_ne!(again["requestId"], facts["requestId"]);
}

#[tokio::test]
async fn failures_are_aws_answers_and_the_worker_comes_back() {
    let gw = Gw::start(&config(1, 10, "1s")).await;
    let mut ws = connect(&gw.url("dev")).await;
    let echo_pid = |v: &Value| v["pid"].as_i64().unwrap();
    send_text(&mut ws, "first").await;
    let first = echo_pid(&recv_json(&mut ws).await);

    // The handler raises: AWS's error frame; the same worker goes on.
    send_text(&mut ws, "raise").await;
    assert_eq!(recv_json(&mut ws).await["message"], "Internal server error");
    send_text(&mut ws, "after-raise").await;
    assert_eq!(echo_pid(&recv_json(&mut ws).await), first);

    // It runs past the function's 1 s timeout: Lambda's answer is a function
    // error; the worker is killed and a new one serves the next message.
    send_text(&mut ws, "hang").await;
    assert_eq!(recv_json(&mut ws).await["message"], "Internal server error");
    send_text(&mut ws, "after-timeout").await;
    let second = echo_pid(&recv_json(&mut ws).await);
    assert_ne!(second, first);

    // The worker process dies mid-invocation: a failure, and a new worker.
    let (status, _, body) = get(&gw, "exit").await;
    assert_eq!(
        (status, body.as_str()),
        (500, r#"{"message":"Internal Server Error"}"#)
    );
    let (status, _, body) = get(&gw, "after-exit").await;
    assert_eq!(status, 200, "{body}");
    let third: Value = serde_json::from_str(&body).unwrap();
    assert_ne!(echo_pid(&third), second);

    let text = gw.metrics_text().await;
    let ws_kind = |kind: &str| {
        let kind = format!("kind=\"{kind}\"");
        metric(
            &text,
            "sockgate_execution_errors_total",
            &["route=\"$default\"", &kind],
        )
    };
    assert_eq!(ws_kind("function_error"), 2.0);
    let http_kind = metric(
        &text,
        "sockgate_http_execution_errors_total",
        &["route=\"GET /fn/{what}\"", "kind=\"function_error\""],
    );
    assert_eq!(http_kind, 1.0);

    // The function's own view: each invocation by how it ended, and its
    // worker started again twice (killed at the timeout; exited).
    let f = |name: &str, label: &str| metric(&text, name, &["function=\"app\"", label]);
    let outcome = |o: &str| {
        f(
            "sockgate_function_invocations_total",
            &format!("outcome=\"{o}\""),
        )
    };
    assert_eq!(outcome("response"), 4.0);
    assert_eq!(outcome("function_error"), 1.0);
    assert_eq!(outcome("timeout"), 1.0);
    assert_eq!(outcome("worker_lost"), 1.0);
    let restarts = |r: &str| {
        f(
            "sockgate_function_worker_restarts_total",
            &format!("reason=\"{r}\""),
        )
    };
    assert_eq!((restarts("timeout"), restarts("exited")), (1.0, 1.0));
    assert_eq!(
        metric(
            &text,
            "sockgate_function_busy_workers",
            &["function=\"app\""]
        ),
        0.0
    );
    assert_eq!(
        metric(
            &text,
            "sockgate_function_waiting_invocations",
            &["function=\"app\""]
        ),
        0.0
    );
}

#[tokio::test]
async fn a_burst_beyond_the_workers_and_the_queue_gets_the_throttle_answer() {
    // One worker, one place in the queue; each invocation takes 2 s.
    let gw = Gw::start(&config(1, 1, "10s")).await;
    let burst: Vec<_> = (0..4).map(|_| get(&gw, "slow")).collect();
    let answers = futures_util::future::join_all(burst).await;
    let mut statuses: Vec<u16> = answers.iter().map(|(s, _, _)| *s).collect();
    statuses.sort_unstable();
    // Two run (one at once, one waiting); two are throttled at once.
    assert_eq!(statuses, [200, 200, 500, 500], "{answers:?}");
    let text = gw.metrics_text().await;
    let throttled = metric(
        &text,
        "sockgate_http_execution_errors_total",
        &["route=\"GET /fn/{what}\"", "kind=\"throttled\""],
    );
    assert_eq!(throttled, 2.0);
    let outcome = |o: &str| {
        let o = format!("outcome=\"{o}\"");
        metric(
            &text,
            "sockgate_function_invocations_total",
            &["function=\"app\"", &o],
        )
    };
    assert_eq!((outcome("response"), outcome("throttled")), (2.0, 2.0));
}

#[tokio::test]
async fn a_worker_answers_only_its_own_invocation_and_within_6_mb() {
    let toml = format!(
        "{}\n[functions.other]\n{}[http.routes.\"GET /other/{{what}}\"]\nintegration = {{ type = \"aws_proxy\", function = \"other\" }}\n",
        config(1, 10, "10s"),
        awslambdaric("app.other")
    );
    let gw = Gw::start(&toml).await;
    // Its own Runtime API refuses another request id.
    let (status, _, body) = get_at(gw.public, "other/steal").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["status"], 400);
    // 7 MB is over Lambda's 6 MB: a function error, 500.
    let (status, _, _) = get_at(gw.public, "other/huge").await;
    assert_eq!(status, 500);
    // Garbage posted as the answer: a failed call, 500 (the client's own
    // answer after it is refused, and its worker starts again).
    let (status, _, body) = get_at(gw.public, "other/garbage").await;
    assert_eq!(
        (status, body.as_str()),
        (500, r#"{"message":"Internal Server Error"}"#)
    );
    let (status, _, _) = get_at(gw.public, "other/steal").await;
    assert_eq!(status, 200);
    let text = gw.metrics_text().await;
    let kind = metric(
        &text,
        "sockgate_http_execution_errors_total",
        &["route=\"GET /other/{what}\"", "kind=\"function_error\""],
    );
    assert_eq!(kind, 1.0);
    let failed = metric(
        &text,
        "sockgate_http_execution_errors_total",
        &["route=\"GET /other/{what}\"", "kind=\"failed\""],
    );
    assert_eq!(failed, 1.0);
}

#[tokio::test]
async fn a_drain_lets_the_invocation_in_flight_finish_then_stops_the_workers() {
    let mut gw = Gw::start(&config(1, 10, "10s")).await;
    let public = gw.public;
    let slow = tokio::spawn(async move { get_at(public, "fn/slow").await });
    // The invocation is running (it takes 2 s) when the drain begins.
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    gw.shutdown().await;
    let (status, _, body) = slow.await.unwrap();
    assert_eq!(status, 200, "{body}");
    let pid = serde_json::from_str::<Value>(&body).unwrap()["pid"]
        .as_i64()
        .unwrap();
    assert!(gone(pid).await, "worker {pid} still runs after the drain");
}

/// Whether process `pid` is gone (or at most a zombie its parent has not
/// reaped yet) within `PATIENCE`.
async fn gone(pid: impl std::fmt::Display) -> bool {
    let stat = format!("/proc/{pid}/stat");
    let alive = || {
        std::fs::read_to_string(&stat).is_ok_and(|s| {
            s.rsplit(')')
                .next()
                .is_some_and(|r| !r.trim_start().starts_with('Z'))
        })
    };
    let deadline = sockgate::clock::now() + PATIENCE;
    while alive() && sockgate::clock::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    !alive()
}

/// A gateway on `wss://` (a CA made here, named as `tls_ca_file`, so
/// workers are given it) whose `$default` route runs `function`, a hosted
/// function (its `[functions.chat]` keys) that calls back through
/// `https://{domainName}/{stage}`, and a client connected to it.
struct Callbacks {
    gw: Gw,
    ca: support::pki::Ca,
    ws: tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
}

impl Callbacks {
    async fn start(function: &str) -> Callbacks {
        // Each gateway its own files: tests run side by side in one process.
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ca = support::pki::Ca::new("callbacks CA");
        let leaf = ca.server(&["localhost"], false);
        let cert = support::pki::write(&format!("callback-cert-{n}.pem"), &leaf.cert_pem);
        let key = support::pki::write(&format!("callback-key-{n}.pem"), &leaf.key_pem);
        let ca_file = support::pki::write(&format!("callback-ca-{n}.pem"), &ca.pem());
        let toml = format!(
            r#"
[server]
tls_cert_file = "{cert}"
tls_key_file = "{key}"
tls_ca_file = "{ca_file}"
[management]
access_keys = {{ AKIDCALLBACK = "callback-secret-0123456789" }}
[functions.chat]
{function}
[stages.prod]
[routes."$default"]
integration = {{ type = "aws_proxy", function = "chat" }}
"#
        );
        let gw = Gw::start(&toml).await;
        let tls = Self::tls(&gw, &ca).await;
        let url = format!("wss://localhost:{}/prod", gw.public.port());
        let (ws, _) = tokio_tungstenite::client_async(url, tls).await.unwrap();
        Callbacks { gw, ca, ws }
    }

    async fn tls(
        gw: &Gw,
        ca: &support::pki::Ca,
    ) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
        let tcp = tokio::net::TcpStream::connect(gw.public).await.unwrap();
        let name = tokio_rustls::rustls::pki_types::ServerName::try_from("localhost").unwrap();
        support::pki::connector(&ca.pem())
            .connect(name, tcp)
            .await
            .unwrap()
    }

    async fn say(&mut self, text: &str) {
        use futures_util::SinkExt;
        let msg = tokio_tungstenite::tungstenite::Message::text(text);
        self.ws.send(msg).await.unwrap();
    }

    async fn next(&mut self) -> String {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        match tokio::time::timeout(PATIENCE * 4, self.ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => t.to_string(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// A handler that calls back as AWS's chat sample does: boto3's
/// `apigatewaymanagementapi` at `https://{domainName}/{stage}`, the public
/// listener, SigV4-signed with the management key the worker was given.
#[tokio::test]
async fn handlers_call_back_through_the_public_listener_over_https() {
    let function = format!("{}timeout = \"20s\"", awslambdaric("app.chat"));
    let mut c = Callbacks::start(&function).await;
    c.say("hi").await;
    assert_eq!(c.next().await, "echo:hi");
    assert_eq!(c.next().await, "127.0.0.1");

    // Unsigned, on the public listener: refused.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tls = Callbacks::tls(&c.gw, &c.ca).await;
    let req = "POST /prod/@connections/abc HTTP/1.1\r\nhost: localhost\r\ncontent-length: 2\r\nconnection: close\r\n\r\nhi";
    tls.write_all(req.as_bytes()).await.unwrap();
    let mut answer = String::new();
    let _ = tls.read_to_string(&mut answer).await;
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
}

/// The same in Node: `aws-lambda-ric` under `npx` (the parent of the node
/// process that runs the code) and the AWS SDK v3's
/// `@aws-sdk/client-apigatewaymanagementapi`; a timeout kills the whole
/// process group.
#[tokio::test]
async fn a_node_handler_under_aws_lambda_ric_calls_back_and_its_timeout_kills_the_group() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/functions/node");
    let function = format!(
        "command = [\"npx\", \"--no-install\", \"aws-lambda-ric\", \"index.handler\"]\nhandler = \"index.handler\"\nworking_dir = \"{dir}\"\ntimeout = \"8s\""
    );
    let mut c = Callbacks::start(&function).await;
    c.say("hi").await;
    let said = c.next().await;
    let parts: Vec<&str> = said.split(':').collect();
    assert_eq!(
        (parts[0], parts[1], parts[3]),
        ("node", "hi", "chat"),
        "{said}"
    );
    let pid = parts[2];
    c.say("hang").await;
    let failed: Value = serde_json::from_str(&c.next().await).unwrap();
    assert_eq!(failed["message"], "Internal server error");
    // The node process (npx's child) went with its group.
    assert!(gone(pid).await, "node {pid} outlived its timeout");
    c.say("again").await;
    let again = c.next().await;
    assert!(again.starts_with("node:again:"), "{again}");
    assert_ne!(again.split(':').nth(2), Some(pid));
}

#[tokio::test]
async fn without_management_keys_the_public_listener_serves_no_callbacks() {
    let gw = Gw::start(&config(1, 10, "3s")).await;
    let url = format!("http://{}/dev/@connections/abc", gw.public);
    let (status, _, _) = http("POST", &url, b"hi".to_vec()).await;
    assert_eq!(status, 404);
}

/// A request authorizer that is a hosted function, and an answer with a
/// base64 body: a handler's payload 2.0 result as AWS reads it.
#[tokio::test]
async fn a_hosted_request_authorizer_guards_a_route() {
    let toml = format!(
        "{}\n[functions.auth]\n{}[authorizers.users]\ntype = \"request\"\nfunction = \"auth\"\nidentity_sources = [\"$request.header.x-user\"]\n[http.routes.\"GET /private/{{what}}\"]\nauthorizer = \"users\"\nintegration = {{ type = \"aws_proxy\", function = \"app\" }}\n",
        config(1, 10, "10s"),
        awslambdaric("app.authorize")
    );
    let gw = Gw::start(&toml).await;
    let url = format!("http://{}/dev/private/x", gw.public);
    let (status, _, body) = http_with("GET", &url, &[("x-user", "alice")], vec![]).await;
    assert_eq!(status, 200, "{body:?}");
    let facts: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(facts["echo"], "x");
    let b64 = format!("http://{}/dev/private/b64", gw.public);
    let (status, _, body) = http_with("GET", &b64, &[("x-user", "alice")], vec![]).await;
    assert_eq!((status, &body[..]), (200, &[0u8, 1, 2, 255][..]));
    let (status, _, _) = http_with("GET", &url, &[("x-user", "mallory")], vec![]).await;
    assert_eq!(status, 403);
    let (status, _, _) = http("GET", &url, vec![]).await;
    assert_eq!(status, 401);
}

/// A worker started outside sockgate (as a container pointed at it would be).
struct Outside(std::process::Child);

impl Outside {
    fn start(api: &str) -> Outside {
        let child = std::process::Command::new("python3")
            .args(["-m", "awslambdaric", "app.handler"])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/functions"))
            .env("AWS_LAMBDA_RUNTIME_API", api)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        Outside(child)
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Function `name` (`keys`: the lines of its `[functions.NAME]` table)
/// behind stage `dev`'s two-way `$default` route; `timeout`: the route's.
fn on_default(name: &str, keys: &str, timeout: Option<&str>) -> String {
    let timeout = timeout.map_or(String::new(), |t| format!(", timeout = \"{t}\""));
    format!(
        "[functions.{name}]\n{keys}\n[stages.dev]\n[routes.\"$default\"]\nroute_response = true\nintegration = {{ type = \"aws_proxy\", function = \"{name}\"{timeout} }}\n"
    )
}

fn external(port: u16, allowed: &str, route_timeout: &str) -> String {
    let keys = format!("workers = \"external\"\nlisten = \"127.0.0.1:{port}\"\n{allowed}");
    on_default("ext", &keys, Some(route_timeout))
}

#[tokio::test]
async fn external_workers_poll_the_runtime_api_from_allowed_addresses_only() {
    let port = free_port();
    let gw = Gw::start(&external(port, "", "10s")).await;
    let api = format!("127.0.0.1:{port}");
    let _worker = Outside::start(&api);
    let mut ws = connect(&gw.url("dev")).await;
    send_text(&mut ws, "from outside").await;
    let facts = recv_json(&mut ws).await;
    assert_eq!(facts["echo"], "from outside");
    assert_eq!(facts["env"]["AWS_LAMBDA_RUNTIME_API"], api.as_str());
    // Past the function's timeout (3 s) the caller gets Lambda's timeout
    // failure (a function error), though sockgate cannot kill this worker.
    send_text(&mut ws, "hang").await;
    assert_eq!(recv_json(&mut ws).await["message"], "Internal server error");

    // Loopback is not among the allowed sources: its worker gets no event.
    let port = free_port();
    let gw = Gw::start(&external(port, "allowed_sources = [\"10.9.9.9/32\"]", "1s")).await;
    let _worker = Outside::start(&format!("127.0.0.1:{port}"));
    let mut ws = connect(&gw.url("dev")).await;
    send_text(&mut ws, "from outside").await;
    assert_eq!(
        recv_json(&mut ws).await["message"],
        "Endpoint request timed out"
    );
}

/// A handler that cannot be loaded: the worker reports `init/error` and
/// exits; a waiting invocation gets that error (Lambda's
/// `Runtime.ImportModuleError`), not a timeout, and the worker is started
/// again with a backoff.
#[tokio::test]
async fn a_handler_that_cannot_load_fails_its_invocation_with_the_init_error() {
    let keys = awslambdaric("no_such_module.handler");
    let gw = Gw::start(&on_default("broken", &keys, Some("20s"))).await;
    let mut ws = connect(&gw.url("dev")).await;
    for _ in 0..2 {
        send_text(&mut ws, "hi").await;
        assert_eq!(recv_json(&mut ws).await["message"], "Internal server error");
    }
    let text = gw.metrics_text().await;
    let errors = metric(
        &text,
        "sockgate_execution_errors_total",
        &["route=\"$default\"", "kind=\"function_error\""],
    );
    assert_eq!(errors, 2.0);
}

#[tokio::test]
async fn a_runtime_api_keeps_four_connections_per_worker() {
    use tokio::io::AsyncReadExt;
    let port = free_port();
    let _gw = Gw::start(&external(port, "", "10s")).await;
    let addr = format!("127.0.0.1:{port}");
    // One worker (concurrency 1): four idle connections are kept...
    let mut kept = Vec::new();
    for _ in 0..4 {
        kept.push(tokio::net::TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    // ...a fifth is closed unheard, and the four are still open.
    let mut fifth = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut buf = [0u8; 1];
    let read = tokio::time::timeout(PATIENCE, fifth.read(&mut buf)).await;
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "{read:?}");
    for s in &mut kept {
        let still =
            tokio::time::timeout(std::time::Duration::from_millis(100), s.read(&mut buf)).await;
        assert!(still.is_err(), "a kept connection was closed: {still:?}");
    }
}

/// `examples/rust-function`, built with AWS's Rust runtime (`lambda_runtime`)
/// as every test run builds examples: `rust-function` by `cargo test`,
/// `rust_function-HASH` by `cargo test --all-targets` (the same program: it
/// has no test harness). The newest of them.
fn rust_function() -> std::path::PathBuf {
    let test = std::env::current_exe().unwrap();
    let examples = test
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("examples");
    let built = std::fs::read_dir(&examples)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name == "rust-function" || name.starts_with("rust_function-")) && !name.contains('.')
        })
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .max();
    match built {
        Some((_, path)) => path,
        None => panic!(
            "no rust-function in {}: run `cargo test --all-targets` (or `cargo build --example rust-function`)",
            examples.display()
        ),
    }
}

/// AWS's Rust runtime interface client and its typed WebSocket event: the
/// event parses as `ApiGatewayWebsocketProxyRequest`, the context carries
/// the request id, ARN and deadline, and an `Err` is a function error.
#[tokio::test]
async fn a_rust_handler_under_lambda_runtime_reads_the_typed_event() {
    let keys = format!(
        "command = [\"{}\"]\nworking_dir = \"{}\"",
        rust_function().display(),
        env!("CARGO_MANIFEST_DIR"),
    );
    let gw = Gw::start(&on_default("rusty", &keys, None)).await;
    let mut ws = connect(&gw.url("dev")).await;
    send_text(&mut ws, "hi").await;
    let facts = recv_json(&mut ws).await;
    assert_eq!(facts["echo"], "hi");
    assert_eq!(facts["routeKey"], "$default");
    assert_eq!(facts["eventType"], "MESSAGE");
    assert_eq!(facts["stage"], "dev");
    assert_eq!(facts["sourceIp"], "127.0.0.1");
    assert_eq!(facts["connectionId"].as_str().unwrap().len(), 16);
    assert_eq!(facts["functionName"], "rusty");
    assert_eq!(
        facts["functionArn"],
        "arn:aws:lambda:us-east-1:000000000000:function:rusty"
    );
    assert_eq!(facts["requestId"].as_str().unwrap().len(), 36);
    // The deadline is the function's timeout (3 s) from the invocation's start.
    let left = facts["deadlineMs"].as_u64().unwrap() as i64 - sockgate::clock::now_ms() as i64;
    assert!((0..=3000).contains(&left), "{left}");

    send_text(&mut ws, "raise").await;
    assert_eq!(recv_json(&mut ws).await["message"], "Internal server error");
    send_text(&mut ws, "after").await;
    assert_eq!(recv_json(&mut ws).await["echo"], "after");
}

/// A worker that exits as soon as it starts: each invocation waiting gets
/// Lambda's `Runtime.ExitError` (not a timeout), and the restarts back off
/// instead of spinning.
#[tokio::test]
async fn a_crash_loop_fails_invocations_and_backs_off() {
    let keys = "command = [\"python3\", \"-c\", \"import sys; sys.exit(1)\"]\nworking_dir = \".\"";
    let gw = Gw::start(&on_default("crashy", keys, None)).await;
    let mut ws = connect(&gw.url("dev")).await;
    for _ in 0..3 {
        send_text(&mut ws, "hi").await;
        assert_eq!(recv_json(&mut ws).await["message"], "Internal server error");
    }
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let text = gw.metrics_text().await;
    let crashy = ["function=\"crashy\"", "reason=\"exited\""];
    let restarts = metric(&text, "sockgate_function_worker_restarts_total", &crashy);
    // Backing off 100 ms, 200 ms, 400 ms, …: a handful in these seconds
    // (a worker started again at once would exit dozens of times).
    assert!((3.0..=8.0).contains(&restarts), "{restarts}");
    let lost = ["function=\"crashy\"", "outcome=\"worker_lost\""];
    assert_eq!(
        metric(&text, "sockgate_function_invocations_total", &lost),
        3.0
    );
}
