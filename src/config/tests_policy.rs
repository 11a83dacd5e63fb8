//! Config tests for what requests must pass: HTTP route auth, parameter
//! mapping keys, throttles, usage plans and models.

use super::tests::{env, errors};
use super::*;

#[test]
fn http_route_auth_is_read_and_checked() {
    let text = r#"
[stages.prod]
api_keys = { app = "app-key-0123456789abcdef" }
[stages.dev]
[authorizers.users]
type = "jwt"
identity_source = "$request.header.Authorization"
issuer = "i"
audience = "a"
algorithms = ["HS256"]
secret = "a-secret-that-is-long-enough-0123456789"
[authorizers.lambda]
type = "request"
uri = "http://127.0.0.1:1/auth"
identity_sources = ["$request.header.x-user", "$context.routeKey", "$stageVariables.v"]
payload_format = "1.0"
[http.routes."GET /a"]
integration = { type = "mock" }
authorizer = "users"
authorization_scopes = ["read"]
[http.routes."GET /b"]
integration = { type = "mock" }
authorizer = "nobody"
[http.routes."GET /c"]
integration = { type = "mock" }
authorizer = "lambda"
authorization_scopes = ["read"]
[http.routes."GET /d"]
integration = { type = "mock" }
api_key_required = true
[http.routes."GET /e"]
integration = { type = "mock" }
authorization_scopes = ["a b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"]
"#;
    let errs = errors(text);
    let expect = [
        "http.routes.\"GET /b\".authorizer: no [authorizers.nobody] is defined",
        "http.routes.\"GET /c\".authorization_scopes: scopes are checked by a jwt authorizer",
        "http.routes.\"GET /d\".api_key_required: stage \"dev\" has no api_keys",
        "http.routes.\"GET /e\".authorization_scopes: at most 10 scopes",
        "http.routes.\"GET /e\".authorization_scopes: a scope is a non-empty word",
    ];
    for e in expect {
        assert!(
            errs.iter().any(|got| got.starts_with(e)),
            "{e}\nin {errs:#?}"
        );
    }
    assert!(!errs.iter().any(|e| e.contains("GET /a")), "{errs:#?}");
    assert!(
        !errs.iter().any(|e| e.contains("identity_sources")),
        "{errs:#?}"
    );
    let good = text.split("[http.routes.\"GET /b\"]").next().unwrap();
    let cfg = Config::parse(good, &env(&[])).unwrap();
    let a = &cfg.http_routes[0];
    assert_eq!(a.auth.authorizer.as_deref(), Some("users"));
    assert_eq!(a.auth.scopes, ["read"]);
    let Some(AuthorizerConfig::Request(l)) = cfg.authorizers.get("lambda") else {
        panic!("a request authorizer");
    };
    assert_eq!(l.payload_format, PayloadFormat::V1);
    assert_eq!(
        l.identity_sources[1..],
        [
            IdentitySource::Context("routeKey".into()),
            IdentitySource::StageVariable("v".into())
        ]
    );
}

#[test]
fn response_mappings_are_keyed_by_status() {
    let text = r#"
[stages.prod]
[http.routes."GET /p"]
integration = { type = "http_proxy", uri = "http://127.0.0.1:1" }
response_parameters = { "200" = { "overwrite:header.z" = "1" }, "99" = {}, "x" = {} }
"#;
    let errs = errors(text);
    for e in [
        "http.routes.\"GET /p\".response_parameters.99: response mappings are keyed by a status code",
        "http.routes.\"GET /p\".response_parameters.x: response mappings are keyed by a status code",
    ] {
        assert!(
            errs.iter().any(|got| got.starts_with(e)),
            "{e}\nin {errs:#?}"
        );
    }
    assert_eq!(errs.len(), 2, "{errs:#?}");
}

#[test]
fn throttles_are_read_and_checked() {
    let text = r#"
[throttle]
rate = 100
burst = 50
[stages.prod.throttle]
rate = 10.5
burst = 20
per_ip = { rate = 1, burst = 2 }
[routes.a]
integration = { type = "mock" }
throttle = { rate = 5, burst = 5 }
[http.routes."GET /x"]
integration = { type = "mock" }
throttle = { rate = 0, burst = 0 }
"#;
    let cfg = Config::parse(text, &env(&[])).unwrap();
    let limit = |rate, burst| {
        Some(super::Limit {
            rate,
            burst,
            cluster: false,
        })
    };
    assert_eq!(cfg.throttle.account, limit(100.0, 50));
    assert!(cfg.throttle.fail_open);
    let t = &cfg.stages[0].throttle;
    assert_eq!(t.route_default, limit(10.5, 20));
    assert_eq!(t.per_ip, limit(1.0, 2));
    assert_eq!(t.per_connection, None);
    assert_eq!(cfg.routes[0].throttle, limit(5.0, 5));
    assert_eq!(cfg.http_routes[0].throttle, limit(0.0, 0));
    let errs = errors(
        "[throttle]\nrate = 10\n[stages.prod.throttle]\nper_key = { rate = 1, burst = 1 }\nper_ip = { rate = -1, burst = 1 }\n",
    );
    for e in [
        "throttle.burst: missing",
        "stages.prod.throttle.per_key: unknown key",
        "stages.prod.throttle.per_ip.rate:",
    ] {
        assert!(
            errs.iter().any(|got| got.starts_with(e)),
            "{e}\nin {errs:#?}"
        );
    }
}

#[test]
fn usage_plans_are_read_and_checked() {
    let text = r#"
[stages.prod]
api_keys = { a = "key-a-0123456789abcdefgh", b = "key-b-0123456789abcdefgh" }
[usage_plans.gold]
rate = 10
burst = 20
quota = { limit = 1000, period = "WEEK", offset = 1 }
keys = ["a"]
[usage_plans.bad]
quota = { limit = 0, period = "YEAR" }
keys = ["a", "nobody"]
[usage_plans.cluster]
keys = ["b"]
scope = "cluster"
"#;
    let errs = errors(text);
    for e in [
        "usage_plans.bad.quota.limit: 0 is out of range",
        "usage_plans.bad.quota.period: \"YEAR\" is not DAY, WEEK or MONTH",
        "usage_plans.gold.keys: \"a\" is already in another plan",
        "usage_plans.bad.keys: \"nobody\" is not in any stage's api_keys",
        "usage_plans.cluster: scope = \"cluster\" needs [cluster]",
    ] {
        assert!(
            errs.iter().any(|got| got.starts_with(e)),
            "{e}\nin {errs:#?}"
        );
    }
    let good = text.split("[usage_plans.bad]").next().unwrap();
    let cfg = Config::parse(good, &env(&[])).unwrap();
    let gold = &cfg.usage_plans[0];
    assert_eq!(gold.keys, ["a"]);
    assert_eq!(
        gold.quota,
        Some(super::Quota {
            limit: 1000,
            period: super::Period::Week(1)
        })
    );
    assert_eq!(gold.throttle.map(|l| l.burst), Some(20));
}

#[test]
fn models_are_compiled_and_routes_name_defined_ones() {
    let errs = errors(
        r#"
[stages.prod]
[models.Good]
schema = '{"type":"object"}'
[models.Bad]
schema = '{"type":"nonsense"}'
[models.NoSchema]
[routes.a]
integration = { type = "mock" }
request_models = { "$default" = "Missing" }
[http.routes."POST /x"]
integration = { type = "mock" }
request_model = "Good"
required_parameters = ["path.id"]
"#,
    );
    for e in [
        "models.NoSchema.schema: missing",
        "routes.a.request_models.$default: no [models.Missing] is defined",
        "http.routes.\"POST /x\".required_parameters: \"path.id\": use querystring.NAME or header.NAME",
    ] {
        assert!(
            errs.iter().any(|got| got.starts_with(e)),
            "{e}\nin {errs:#?}"
        );
    }
}
