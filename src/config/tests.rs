use std::collections::HashMap;
use std::time::Duration;

use super::*;

pub(super) fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(super) fn errors(text: &str) -> Vec<String> {
    match Config::parse(text, &env(&[])) {
        Ok(_) => panic!("expected errors"),
        Err(ConfigErrors(list)) => list.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn demo_and_example_configs_are_valid() {
    let demo = Config::demo(&env(&[])).unwrap();
    assert_eq!(demo.stages[0].name, "dev");
    assert_eq!(demo.websocket.max_message_bytes, 128 << 10);
    assert_eq!(demo.websocket.max_frame_bytes, 32 << 10);
    assert_eq!(demo.websocket.idle_timeout, Some(Duration::from_secs(600)));
    assert_eq!(
        demo.websocket.max_connection_duration,
        Some(Duration::from_secs(7200))
    );
    let example = include_str!("../../config/sockgate.example.toml");
    let cfg = Config::parse(example, &env(&[])).unwrap();
    assert!(cfg.stages.len() >= 2);
}

#[test]
fn aws_defaults_apply_when_keys_are_absent() {
    let cfg = Config::parse("[stages.prod]\n", &env(&[])).unwrap();
    assert_eq!(cfg.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(cfg.websocket.binary_frames, BinaryPolicy::Reject);
    assert!(cfg.routes.is_empty() && cfg.http_routes.is_empty());
}

#[test]
fn every_error_is_listed_with_its_path() {
    let text = r#"
[server]
listen = "nowhere"
max_connections = 0
bogus = 1

[websocket]
idle_timeout = "10 minutes"
max_frame_bytes = "1MiB"
max_message_bytes = "64KiB"
binary_frames = "maybe"
route_selection_expression = "${request.body.action"

[stages.prod]
variables = { backend = "http://127.0.0.1:3000", "bad name" = "x" }

[stages."no/slash"]

[routes."$connect"]
integration = { type = "aws_proxy", uri = "${stageVariables.backend}/connect", timeout = "40s" }

[routes.send]
integration = { type = "lambda" }
"#;
    let errs = errors(text);
    let has = |needle: &str| errs.iter().any(|e| e.contains(needle));
    for needle in [
        "server.listen: \"nowhere\" is not an address",
        "server.max_connections: 0 is out of range",
        "server.bogus: unknown key",
        "websocket.idle_timeout: \"10 minutes\" is not a duration",
        "websocket.max_frame_bytes: must not exceed max_message_bytes",
        "websocket.binary_frames: \"maybe\"",
        "stages.prod.variables.\"bad name\"",
        "stages.\"no/slash\": stage names",
        "routes.\"$connect\".integration.timeout: 40s is out of range (50ms to 29s)",
        "routes.send.integration.type: \"lambda\" is not one of",
    ] {
        assert!(has(needle), "missing {needle:?} in:\n{}", errs.join("\n"));
    }
}

#[test]
fn unknown_keys_everywhere_are_errors() {
    let errs = errors(
        "[stages.dev]\nvaraibles = {}\n[routes.a]\nintegration = { type = \"mock\", bdy = \"x\" }\n[websockets]\n",
    );
    for expected in [
        "stages.dev.varaibles: unknown key (did you mean `variables`?)",
        "routes.a.integration.bdy: unknown key (did you mean `body`?)",
        "websockets: unknown key (did you mean `websocket`?)",
    ] {
        assert!(errs.iter().any(|e| e == expected), "{expected} in {errs:?}");
    }
}

#[test]
fn a_mock_says_why_it_takes_no_timeout_or_backend() {
    let errs = errors(
        "[stages.dev]\n[routes.a]\nintegration = { type = \"mock\", timeout = \"5s\", uri = \"http://x\" }\n",
    );
    assert_eq!(
        errs,
        [
            "routes.a.integration.timeout: a mock answers at once and calls no backend: it takes no timeout",
            "routes.a.integration.uri: a mock answers at once and calls no backend: it takes no uri",
        ]
    );
}

#[test]
fn unknown_keys_suggest_the_nearest_valid_one_only_when_close() {
    let errs = errors("[server]\nmax_conections = 5\nmax-connections = 5\nzzz = 1\n[stages.dev]\n");
    for expected in [
        "server.max_conections: unknown key (did you mean `max_connections`?)",
        "server.max-connections: unknown key (did you mean `max_connections`?)",
        "server.zzz: unknown key",
    ] {
        assert!(errs.iter().any(|e| e == expected), "{expected} in {errs:?}");
    }
    assert_eq!(errs.len(), 3, "{errs:?}");
}

#[test]
fn a_wrong_integration_type_is_the_only_error_reported_for_it() {
    // Before: uri and timeout were also reported as unknown keys of the bad type.
    let errs = errors(
        "[stages.dev]\n[routes.send]\nintegration = { type = \"lambda\", uri = \"http://x/\", timeout = \"5s\" }\n[routes.other]\nintegration = { uri = \"http://x/\" }\n",
    );
    assert_eq!(
        errs,
        [
            "routes.other.integration.type: missing (\"aws_proxy\", \"http_proxy\" or \"mock\")",
            "routes.send.integration.type: \"lambda\" is not one of \"aws_proxy\", \"http_proxy\", \"mock\"",
        ],
    );
}

#[test]
fn syntax_errors_name_the_line() {
    let errs = errors("[server]\nlisten = \n");
    assert!(errs[0].starts_with("line 2: invalid TOML"), "{errs:?}");
}

#[test]
fn missing_stages_are_rejected() {
    assert!(errors("").iter().any(|e| e.contains("at least one stage")));
}

#[test]
fn off_switches_limits_off() {
    let cfg = Config::parse("[websocket]\nidle_timeout = \"off\"\nmax_connection_duration = 0\nping_interval = \"off\"\n[stages.a]\n", &env(&[])).unwrap();
    assert_eq!(cfg.websocket.idle_timeout, None);
    assert_eq!(cfg.websocket.max_connection_duration, None);
    assert_eq!(cfg.websocket.ping_interval, None);
}

#[test]
fn environment_overrides_and_their_errors() {
    let cfg = Config::parse(
        "[stages.a]\n",
        &env(&[
            ("SOCKGATE_LISTEN", "0.0.0.0:9000"),
            ("SOCKGATE_NODE_ID", "edge-1"),
        ]),
    )
    .unwrap();
    assert_eq!(cfg.server.listen.to_string(), "0.0.0.0:9000");
    assert_eq!(cfg.server.node_id.as_deref(), Some("edge-1"));
    let err = Config::parse(
        "[stages.a]\n",
        &env(&[
            ("SOCKGATE_LISTEN", "bad"),
            ("SOCKGATE_MAX_CONNECTIONS", "lots"),
        ]),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("server.listen (from SOCKGATE_LISTEN): \"bad\" is not an address"),
        "{text}"
    );
    assert!(
        text.contains("SOCKGATE_MAX_CONNECTIONS: \"lots\" is not an integer"),
        "{text}"
    );
}

#[test]
fn cluster_is_off_by_default_and_validated_when_on() {
    let base = "[stages.dev]\n";
    assert!(Config::parse(base, &env(&[])).unwrap().cluster.is_none());
    let on = Config::parse(
        &format!("{base}[cluster]\nredis_url = \"redis://10.0.0.5:6379\"\n"),
        &env(&[]),
    )
    .unwrap()
    .cluster
    .unwrap();
    assert_eq!(on.heartbeat_interval, Duration::from_secs(1));
    assert_eq!(on.node_ttl, Duration::from_secs(5));
    assert_eq!(on.group_partitions, 1);
    // Two heartbeats and a request timeout; a quarter second of clock skew.
    assert_eq!(on.unready_after, Duration::from_secs(3));
    assert_eq!(on.max_clock_skew, Duration::from_millis(250));
    let errs = errors(&format!(
        "{base}[cluster]\nredis_url = \"redis://r\"\nunready_after = \"1s\"\nmax_clock_skew = \"1s\"\n"
    ));
    for needle in [
        "cluster.unready_after: must be at least heartbeat_interval + request_timeout",
        "cluster.max_clock_skew: must be less than request_timeout",
    ] {
        assert!(
            errs.iter().any(|e| e.starts_with(needle)),
            "{needle} in {errs:?}"
        );
    }
    assert!(on.readiness_requires_redis);
    // The environment can switch it on.
    let via_env = Config::parse(base, &env(&[("SOCKGATE_REDIS_URL", "redis://r:6379")])).unwrap();
    assert_eq!(
        via_env.cluster.unwrap().redis,
        RedisTarget::Single("redis://r:6379".into())
    );
    let errs = errors(&format!(
        "{base}[cluster]\nredis_url = \"http://x\"\nheartbeat_interval = \"2s\"\nnode_ttl = \"3s\"\ngroup_partitions = 0\nredis = 1\n"
    ));
    assert_eq!(errs.len(), 4, "{errs:?}");
    for needle in [
        "cluster.redis_url",
        "cluster.node_ttl: must be at least twice",
        "cluster.group_partitions",
        "cluster.redis: unknown key",
    ] {
        assert!(
            errs.iter().any(|e| e.contains(needle)),
            "{needle} in {errs:?}"
        );
    }
}

#[test]
fn a_redis_cluster_is_named_by_some_of_its_nodes() {
    let base = "[stages.dev]\n";
    let on = Config::parse(
        &format!("{base}[cluster]\nredis_cluster = [\"redis://10.0.0.1:7000\", \"redis://10.0.0.2:7000\"]\n"),
        &env(&[]),
    )
    .unwrap()
    .cluster
    .unwrap();
    assert_eq!(
        on.redis,
        RedisTarget::Cluster(vec![
            "redis://10.0.0.1:7000".into(),
            "redis://10.0.0.2:7000".into()
        ])
    );
    let via_env = Config::parse(
        base,
        &env(&[("SOCKGATE_REDIS_CLUSTER", "redis://a:1, redis://b:2")]),
    )
    .unwrap();
    assert_eq!(
        via_env.cluster.unwrap().redis,
        RedisTarget::Cluster(vec!["redis://a:1".into(), "redis://b:2".into()])
    );
    let errs = errors(&format!(
        "{base}[cluster]\nredis_url = \"redis://r\"\nredis_cluster = [\"r:1\"]\n"
    ));
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs.iter()
            .all(|e| e.starts_with("cluster.redis_cluster: ")),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(|e| e.contains("together with redis_url")),
        "{errs:?}"
    );
}

#[test]
fn http_routes_are_read_as_written() {
    let text = r#"
[stages.prod]
[http]
max_body_bytes = "1MiB"
[http.routes."POST /v1"]
integration = { type = "aws_proxy", uri = "${stageVariables.backend}/v1", payload_format = "1.0", timeout = "30s" }
"#;
    let cfg = Config::parse(text, &env(&[])).unwrap();
    assert_eq!(cfg.http.max_body_bytes, 1 << 20);
    assert_eq!(
        cfg.http_routes[0].integration,
        IntegrationConfig::AwsProxy {
            uri: "${stageVariables.backend}/v1".into(),
            function: false,
            timeout: Duration::from_secs(30),
            payload_format: PayloadFormat::V1,
        }
    );
    // Without [http], no HTTP routes and AWS's 10 MB limit.
    let plain = Config::parse("[stages.prod]\n", &env(&[])).unwrap();
    assert_eq!(plain.http.max_body_bytes, 10 << 20);
    assert!(plain.http_routes.is_empty());
}

#[test]
fn bad_http_routes_are_listed() {
    let text = r#"
[stages.prod]
[http]
max_body_bytes = 0
[http.routes."GET /proxy/{id}"]
integration = { type = "http_proxy", uri = "http://127.0.0.1:1/{name}", payload_format = "2.0" }
[http.routes."GET /format"]
integration = { type = "aws_proxy", uri = "http://127.0.0.1:1", payload_format = "3.0", timeout = "31s" }
[http.routes."GET /typo"]
integration = { type = "mock", bodyy = "x" }
"#;
    let errs = errors(text);
    let expect = [
        "http.max_body_bytes: 0 bytes is out of range",
        "http.routes.\"GET /proxy/{id}\".integration.payload_format: unknown key",
        "http.routes.\"GET /format\".integration.payload_format: \"3.0\" is not \"2.0\" or \"1.0\"",
        "http.routes.\"GET /format\".integration.timeout:",
        "http.routes.\"GET /typo\".integration.bodyy: unknown key (did you mean `body`?)",
    ];
    for e in expect {
        assert!(
            errs.iter().any(|x| x.starts_with(e)),
            "{e} missing from {errs:#?}"
        );
    }
    // A stage may be named $default, and nothing else with a $.
    let errs = errors("[stages.\"$prod\"]\n");
    assert!(
        errs[0].contains("or \"$default\", served at the root"),
        "{errs:?}"
    );
}

#[test]
fn cors_is_checked_like_aws() {
    let text = r#"
[stages.prod]
[http.cors]
allow_origins = ["https://app.example.com", "http://localhost:3000", "*"]
allow_credentials = true
max_age = 90000
"#;
    let errs = errors(text);
    assert!(
        errs.iter()
            .any(|e| e.starts_with("http.cors.allow_credentials: cannot be true")),
        "{errs:?}"
    );
    assert!(
        errs.iter().any(|e| e.starts_with("http.cors.max_age:")),
        "{errs:?}"
    );
    let errs = errors("[stages.prod]\n[http.cors]\nallow_origins = [\"app.example.com/\"]\n");
    assert!(errs[0].contains("is not an origin"), "{errs:?}");
    let ok = "[stages.prod]\n[http.cors]\nallow_origins = [\"https://a.example.com\"]\nallow_methods = [\"get\"]\n";
    let cfg = Config::parse(ok, &env(&[])).unwrap();
    let cors = cfg.http.cors.unwrap();
    assert_eq!(cors.allow_methods, ["GET"]);
    assert!(!cors.allow_credentials);
}

#[test]
fn hosted_functions_are_read_and_checked() {
    let text = r#"
[stages.dev]
[functions.app]
command = ["python3", "-m", "awslambdaric", "app.handler"]
working_dir = "."
concurrency = 3
timeout = "10s"
[functions."bad name"]
command = []
working_dir = "/nonexistent/dir"
environment = { AWS_LAMBDA_RUNTIME_API = "x", _HANDLER = "y", OK = "z" }
timeout = "901s"
memory_size = 64
"#;
    let errs = errors(text);
    for e in [
        "functions.\"bad name\": function names are 1-64 letters",
        "functions.\"bad name\".command: required",
        "functions.\"bad name\".working_dir: /nonexistent/dir is not a directory",
        "functions.\"bad name\".environment.AWS_LAMBDA_RUNTIME_API: not a variable",
        "functions.\"bad name\".environment._HANDLER: not a variable",
        "functions.\"bad name\".timeout: 901s is out of range",
        "functions.\"bad name\".memory_size: 64 is out of range",
    ] {
        assert!(
            errs.iter().any(|x| x.starts_with(e)),
            "{e} missing from {errs:#?}"
        );
    }
    assert!(!errs.iter().any(|x| x.contains("OK")), "{errs:#?}");
    let good = text.split("[functions.\"bad name\"]").next().unwrap();
    let cfg = Config::parse(good, &env(&[])).unwrap();
    let f = &cfg.functions[0];
    assert_eq!((f.name.as_str(), f.concurrency, f.queue), ("app", 3, 100));
    assert_eq!(f.timeout, Duration::from_secs(10));
    assert!(f.working_dir.is_absolute());
    // A request authorizer naming it calls it; any other name is AWS Lambda's.
    let auth = format!(
        "{good}[authorizers.a]\ntype = \"request\"\nfunction = \"app\"\nidentity_sources = [\"$request.header.x\"]\n"
    );
    let cfg = Config::parse(&auth, &env(&[])).unwrap();
    let Some(AuthorizerConfig::Request(r)) = cfg.authorizers.get("a") else {
        panic!("a request authorizer");
    };
    assert_eq!(r.backend, Backend::Hosted("app".into()));
}

#[test]
fn external_workers_need_an_address_and_default_to_loopback_sources() {
    let errs = errors(
        "[stages.dev]\n[functions.a]\nworkers = \"external\"\nallowed_sources = [\"nope\"]\n[functions.b]\nworkers = \"elsewhere\"\ncommand = [\"x\"]\n",
    );
    for e in [
        "functions.a.listen: required with workers = \"external\"",
        "functions.a.allowed_sources: \"nope\" is not an address or CIDR",
        "functions.b.workers: \"elsewhere\" is not \"started\" or \"external\"",
    ] {
        assert!(
            errs.iter().any(|x| x.starts_with(e)),
            "{e} missing from {errs:#?}"
        );
    }
    let text = "[stages.dev]\n[functions.a]\nworkers = \"external\"\nlisten = \"0.0.0.0:9001\"\n";
    let cfg = Config::parse(text, &env(&[])).unwrap();
    let Workers::External {
        listen,
        allowed_sources,
    } = &cfg.functions[0].workers
    else {
        panic!("external");
    };
    assert_eq!(listen.to_string(), "0.0.0.0:9001");
    let loopback = |ip: &str| {
        allowed_sources
            .iter()
            .any(|c| c.contains(ip.parse().unwrap()))
    };
    assert!(loopback("127.0.0.1") && loopback("::1") && !loopback("10.0.0.1"));
}

#[test]
fn a_public_ca_file_goes_with_the_public_certificate() {
    let errs = errors("[server]\ntls_ca_file = \"ca.pem\"\n[stages.dev]\n");
    assert!(
        errs.iter()
            .any(|e| e.starts_with("server.tls_ca_file: the CA of tls_cert_file")),
        "{errs:#?}"
    );
}
