//! `check`'s tests: what parses but does not compile is refused with its key.

use std::collections::HashMap;
use std::time::Duration;

use crate::config::{Backend, Config, PayloadFormat};
use crate::integration::Integration;
use crate::snapshot::compile::{self, Api};

fn env() -> HashMap<String, String> {
    HashMap::new()
}

/// The errors of a config that parses but does not compile.
fn compile_errors(text: &str) -> Vec<String> {
    let config = Config::parse(text, &env()).unwrap_or_else(|e| panic!("{e}"));
    match super::check(&config) {
        Ok(()) => panic!("expected errors"),
        Err(e) => e.0.iter().map(ToString::to_string).collect(),
    }
}

#[test]
fn schemas_compile_when_the_config_is_compiled() {
    let env = HashMap::new();
    let text = "[stages.prod]\n[models.Text]\nschema = 'nope'\n";
    let err = Config::parse(text, &env).unwrap_err().to_string();
    assert!(err.contains("models.Text.schema: not JSON"), "{err}");
    let text = "[stages.prod]\n[models.Bad]\nschema = '{\"type\":\"nonsense\"}'\n";
    let config = Config::parse(text, &env).unwrap();
    let err = super::check(&config).unwrap_err().to_string();
    assert!(
        err.contains("models.Bad.schema: not a valid schema"),
        "{err}"
    );
    let text = "[websocket]\nroute_selection_expression = \"${request.body.action\"\n[stages.prod]\n[routes.\"$default\"]\nintegration = { type = \"mock\" }\nrequest_models = { \"$default\" = \"M\" }\nmodel_selection_expression = \"$request.header.x\"\n[models.M]\nschema = '{}'\n";
    let config = Config::parse(text, &env).unwrap();
    let err = super::check(&config).unwrap_err().to_string();
    assert!(
        err.contains("websocket.route_selection_expression: unclosed"),
        "{err}"
    );
    assert!(
        err.contains("routes.\"$default\".model_selection_expression"),
        "{err}"
    );
    let text = "[websocket]\nroute_selection_expression = \"$context.routeKey\"\n[stages.prod]\n";
    let config = Config::parse(text, &env).unwrap();
    let err = super::check(&config).unwrap_err().to_string();
    assert!(err.contains("may only use $request.body"), "{err}");
    let text = "[stages.prod]\n[integrations.tls]\nca_file = \"/nonexistent-ca.pem\"\n";
    let config = Config::parse(text, &env).unwrap();
    let err = super::check(&config).unwrap_err().to_string();
    assert!(err.contains("integrations.tls.ca_file"), "{err}");
}

#[test]
fn the_demo_and_example_configs_compile() {
    super::parse(crate::config::DEFAULT_CONFIG, &env()).unwrap();
    let example = include_str!("../../../config/sockgate.example.toml");
    super::parse(example, &env()).unwrap();
}

#[test]
fn routes_are_compiled_for_every_stage_and_canary() {
    let text = r#"
[stages.prod]
variables = { backend = "http://127.0.0.1:3000" }
[stages.dev]
variables = { backend = "http://127.0.0.1:3000" }
canary = { percent = 10, variables = { backend = "http://h:99999" } }

[routes."$connect"]
integration = { type = "aws_proxy", uri = "${stageVariables.backend}/connect" }
route_response = true

[routes."$custom"]
integration = { type = "mock", body = "${request.body" }

[routes.other]
integration = { type = "http_proxy", uri = "${stageVariables.nope}/x" }

[routes.context]
integration = { type = "http_proxy", uri = "http://h/${context.connectionId}" }
"#;
    let errs = compile_errors(text);
    let expect = [
        "routes.\"$connect\".route_response: $connect cannot send a reply",
        "routes.\"$connect\".integration.uri: in stage \"dev (canary)\": \"http://h:99999/connect\": \"h:99999\" is not host[:port]",
        "routes.\"$custom\": custom route keys",
        "routes.\"$custom\".integration.body: ",
        "routes.other.integration.uri: in stage \"prod\": stage variable \"nope\" is not defined",
        "routes.other.integration.uri: in stage \"dev\": stage variable \"nope\" is not defined",
        "routes.other.integration.uri: in stage \"dev (canary)\": stage variable \"nope\" is not defined",
        "routes.context.integration.uri: may only use ${stageVariables.…}",
    ];
    for e in expect {
        assert!(
            errs.iter().any(|x| x.starts_with(e)),
            "{e} missing from {errs:#?}"
        );
    }
    // What does not depend on a stage is reported once.
    assert_eq!(
        errs.iter().filter(|e| e.contains("context")).count(),
        1,
        "{errs:#?}"
    );
    assert_eq!(errs.len(), expect.len(), "{errs:#?}");
}

#[test]
fn integration_uris_are_backend_urls() {
    let route = |uri: &str| {
        format!(
            "[stages.a]\n[routes.x]\nintegration = {{ type = \"aws_proxy\", uri = \"{uri}\" }}\n"
        )
    };
    assert!(super::parse(&route("https://example.com/x"), &env()).is_ok());
    for bad in ["ftp://example.com", "https://user@example.com/x"] {
        let errs = compile_errors(&route(bad));
        assert!(errs.iter().any(|e| e.contains(bad)), "{bad}: {errs:?}");
    }
}

#[test]
fn stage_variables_resolve_per_stage() {
    let text = r#"
[stages.a]
variables = { backend = "http://127.0.0.1:3000" }
[stages.b]
variables = { backend = "http://127.0.0.1:4000" }
[routes."$connect"]
integration = { type = "aws_proxy", uri = "${stageVariables.backend}/connect" }
"#;
    let cfg = super::parse(text, &env()).unwrap();
    let compiled = |i: usize| {
        let vars = &cfg.stages[i].variables;
        compile::integration(&cfg.routes[0].integration, Api::WebSocket, vars, &cfg).unwrap()
    };
    let Integration::AwsProxy { target, .. } = compiled(0) else {
        panic!("aws_proxy");
    };
    let url = |s: &str| Backend::Http(s.parse().unwrap());
    assert_eq!(target.backend, url("http://127.0.0.1:3000/connect"));
    assert_eq!(target.timeout, Duration::from_secs(29));
    let Integration::AwsProxy { target, .. } = compiled(1) else {
        panic!("aws_proxy");
    };
    assert_eq!(target.backend, url("http://127.0.0.1:4000/connect"));
}

#[test]
fn http_routes_are_resolved_per_stage_and_checked_like_aws() {
    let text = r#"
[stages."$default"]
variables = { backend = "http://127.0.0.1:3000" }
[stages.prod]
variables = { backend = "http://127.0.0.1:4000" }
[http.routes."GET /pets/{id}"]
integration = { type = "aws_proxy", uri = "${stageVariables.backend}/pets", timeout = "30s" }
[http.routes."POST /v1"]
integration = { type = "aws_proxy", uri = "${stageVariables.backend}/v1", payload_format = "1.0" }
[http.routes."ANY /files/{path+}"]
integration = { type = "http_proxy", uri = "${stageVariables.backend}/files/{path}" }
"#;
    let cfg = super::parse(text, &env()).unwrap();
    let prod = cfg.stages.iter().find(|s| s.name == "prod").unwrap();
    let compiled = |key: &str, params: &[&str]| {
        let route = cfg.http_routes.iter().find(|r| r.key == key).unwrap();
        compile::integration(&route.integration, Api::Http(params), &prod.variables, &cfg).unwrap()
    };
    let Integration::AwsProxy { target, format } = compiled("GET /pets/{id}", &["id"]) else {
        panic!("aws_proxy");
    };
    assert_eq!(
        target.backend,
        Backend::Http("http://127.0.0.1:4000/pets".parse().unwrap())
    );
    assert_eq!(target.timeout, Duration::from_secs(30));
    assert_eq!(format, PayloadFormat::V2);
    let v1 = compiled("POST /v1", &[]);
    assert!(matches!(
        v1,
        Integration::AwsProxy {
            format: PayloadFormat::V1,
            ..
        }
    ));
    let Integration::HttpProxy { uri, .. } = compiled("ANY /files/{path+}", &["path"]) else {
        panic!("http_proxy");
    };
    let values = [("path", "a/b".to_owned())];
    assert_eq!(
        uri.render(&values, Some("path")),
        "http://127.0.0.1:4000/files/a/b"
    );
}

#[test]
fn bad_http_route_keys_and_uris_are_listed() {
    let text = r#"
[stages.prod]
[http.routes."GET /pets/{id}"]
integration = { type = "mock" }
[http.routes."GET /pets/{name}"]
integration = { type = "mock" }
[http.routes."FETCH /x"]
integration = { type = "mock" }
[http.routes."get /y"]
integration = { type = "mock" }
[http.routes."GET /trailing/"]
integration = { type = "mock" }
[http.routes."GET /proxy/{id}"]
integration = { type = "http_proxy", uri = "http://127.0.0.1:1/{name}" }
[http.routes."GET /host/{id}"]
integration = { type = "http_proxy", uri = "http://{id}.internal/" }
"#;
    let errs = compile_errors(text);
    let expect = [
        "http.routes.\"GET /pets/{name}\": matches the same requests as `GET /pets/{id}`",
        "http.routes.\"FETCH /x\": unknown method `FETCH`",
        "http.routes.\"get /y\": methods are upper case: write `GET`, not `get`",
        "http.routes.\"GET /trailing/\": the path has an empty segment or ends in `/`",
        "http.routes.\"GET /proxy/{id}\".integration.uri: in stage \"prod\": {name} is not a parameter of the route (the route's are {id})",
        "http.routes.\"GET /host/{id}\".integration.uri: in stage \"prod\": \"http://{id}.internal/\": a route parameter cannot choose the backend's host",
    ];
    for e in expect {
        assert!(
            errs.iter().any(|x| x.starts_with(e)),
            "{e} missing from {errs:#?}"
        );
    }
}

#[test]
fn parameter_mappings_are_checked_against_their_route() {
    let text = r#"
[stages.prod]
[http.routes."GET /m"]
integration = { type = "mock" }
request_parameters = { "overwrite:header.x" = "1" }
[http.routes."GET /l/{id}"]
integration = { type = "aws_proxy", uri = "http://127.0.0.1:1" }
request_parameters = { "overwrite:path" = "/x", "append:header.y" = "$request.path.nope" }
[http.routes."GET /p"]
integration = { type = "http_proxy", uri = "http://127.0.0.1:1" }
response_parameters = { "200" = { "overwrite:header.z" = "$response.body.id" } }
[http.routes."GET /ok/{id}"]
integration = { type = "http_proxy", uri = "http://127.0.0.1:1" }
request_parameters = { "overwrite:path" = "/v/${request.path.id}", "remove:querystring.q" = "" }
response_parameters = { "404" = { "overwrite:statuscode" = "200" } }
"#;
    let errs = compile_errors(text);
    let expect = [
        "http.routes.\"GET /m\".request_parameters.\"overwrite:header.x\": a mock route calls no backend",
        "http.routes.\"GET /l/{id}\".request_parameters.\"overwrite:path\": overwrite:path applies to http_proxy",
        "http.routes.\"GET /l/{id}\".request_parameters.\"append:header.y\": {nope} is not a parameter",
        "http.routes.\"GET /p\".response_parameters.200.\"overwrite:header.z\": an http_proxy answer is streamed",
    ];
    for e in expect {
        assert!(
            errs.iter().any(|got| got.starts_with(e)),
            "{e}\nin {errs:#?}"
        );
    }
    assert!(!errs.iter().any(|e| e.contains("/ok/")), "{errs:#?}");
}

#[test]
fn a_function_named_like_a_hosted_one_is_hosted() {
    let text = r#"
[stages.dev]
[functions.app]
command = ["python3"]
[routes.a]
integration = { type = "aws_proxy", function = "app" }
[routes.b]
integration = { type = "aws_proxy", function = "elsewhere" }
"#;
    let cfg = Config::parse(text, &env()).unwrap();
    let compiled = |i: usize| {
        let vars = &cfg.stages[0].variables;
        compile::integration(&cfg.routes[i].integration, Api::WebSocket, vars, &cfg)
    };
    let Ok(Integration::AwsProxy { target, .. }) = compiled(0) else {
        panic!("aws_proxy");
    };
    assert_eq!(target.backend, Backend::Hosted("app".into()));
    // Any other name is AWS Lambda's, which needs a region and credentials.
    let err = compiled(1).unwrap_err();
    assert!(err.contains("no region"), "{err}");
}

#[test]
fn the_public_ca_file_must_load() {
    let text = "[server]\ntls_cert_file = \"c.pem\"\ntls_key_file = \"k.pem\"\ntls_ca_file = \"/nonexistent/ca.pem\"\n[stages.dev]\n";
    let errs = compile_errors(text);
    assert!(
        errs.iter().any(|e| e.starts_with("server.tls_ca_file:")),
        "{errs:#?}"
    );
}
