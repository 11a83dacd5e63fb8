//! Issue 21 §1, the threat: a client picks a request path so that what the
//! backend serves is not what the gateway's route (and its authorizer)
//! covered — dot segments literal or encoded, encoded slashes and
//! backslashes that a backend decodes into separators, repeated slashes,
//! `;` path parameters, double encoding, values filled into URIs and
//! `overwrite:path` — or picks the host the gateway connects to.
//!
//! The backend is a real nginx, which normalises paths as most web servers
//! do (decodes `%2F`, resolves `..`, merges slashes) and answers with the
//! path it served (`$uri`). `/admin` there is reached through protected
//! routes only; every hostile path is sent as raw bytes, without a token,
//! and nothing may come back from `/admin`.

mod support;

use support::jwt::*;
use support::nginx::Nginx;
use support::raw_http::{self, RawAnswer};
use support::*;

/// The backend's areas, by segment (a bare `location /admin` would also
/// serve `/administrator`: string prefixes are the backend's own hazard).
const NGINX: &str = r#"
    location = /admin { return 200 "admin $uri"; }
    location /admin/ { return 200 "admin $uri"; }
    location /store/ { return 200 "store $uri"; }
    location /public/ { return 200 "public $uri"; }
    location /pets/ { return 200 "pets $uri"; }
    location /v2/items/ { return 200 "items $uri"; }
    location /reports/ { return 200 "reports $uri"; }
    location / { return 200 "open $uri"; }
"#;

fn config(backend: &str) -> String {
    format!(
        r#"
[stages.dev]
variables = {{ backend = "{backend}" }}
{jwt}
[http.routes."ANY /admin"]
integration = {{ type = "http_proxy", uri = "${{stageVariables.backend}}/admin" }}
authorizer = "jwt"
[http.routes."ANY /admin/{{proxy+}}"]
integration = {{ type = "http_proxy", uri = "${{stageVariables.backend}}/admin/{{proxy}}" }}
authorizer = "jwt"
[http.routes."GET /public/info"]
integration = {{ type = "http_proxy", uri = "${{stageVariables.backend}}/public/info" }}
[http.routes."ANY /files/{{path+}}"]
integration = {{ type = "http_proxy", uri = "${{stageVariables.backend}}/store/{{path}}" }}
[http.routes."GET /pets/{{id}}"]
integration = {{ type = "http_proxy", uri = "${{stageVariables.backend}}/pets/{{id}}" }}
[http.routes."GET /items/{{id}}"]
integration = {{ type = "http_proxy", uri = "${{stageVariables.backend}}" }}
request_parameters = {{ "overwrite:path" = "/v2/items/${{request.path.id}}" }}
[http.routes."GET /report/{{id}}"]
integration = {{ type = "http_proxy", uri = "${{stageVariables.backend}}" }}
request_parameters = {{ "overwrite:path" = "/reports/${{request.header.x-name}}" }}
[http.routes."$default"]
integration = {{ type = "http_proxy", uri = "${{stageVariables.backend}}" }}
"#,
        jwt = hs256_authorizer("jwt", "$request.header.Authorization"),
    )
}

async fn start() -> (Gw, Nginx) {
    let nginx = Nginx::start(NGINX).await;
    let gw = Gw::start(&config(&nginx.url())).await;
    (gw, nginx)
}

/// What a request came back as: the status and, for a 200, what nginx served.
fn seen(a: &RawAnswer) -> (u16, String) {
    let body = if a.status == 200 {
        a.text()
    } else {
        String::new()
    };
    (a.status, body)
}

#[tokio::test]
async fn each_route_kind_forwards_only_the_path_it_matched() {
    let (gw, _nginx) = start().await;
    let cases: &[(&str, u16, &str)] = &[
        // A static route: matched on the canonical path.
        ("/dev/public/info", 200, "public /public/info"),
        ("/dev/public/./%69nfo", 200, "public /public/info"),
        ("/dev/public//info", 200, "public /public/info"),
        ("/dev/public/info%2f..%2f..%2fadmin", 400, ""),
        ("/dev/public/info/../../admin/x", 401, ""),
        // {proxy+}: an encoded slash never splits a segment.
        ("/dev/files/..%2F..%2Fadmin%2Fx", 400, ""),
        ("/dev/files/a/b%20c", 200, "store /store/a/b c"),
        ("/dev/files/a/../../admin/x", 401, ""),
        // Climbing out of the stage leaves it: no stage "admin".
        ("/dev/files/%2e%2e/%2e%2e/admin/x", 404, ""),
        ("/dev/files/a/%2e%2e/b", 200, "store /store/b"),
        // {id}: a dot segment is resolved before routing.
        ("/dev/pets/%2e%2e", 200, "open /"),
        ("/dev/pets/%2e", 200, "pets /pets/"),
        ("/dev/pets/7", 200, "pets /pets/7"),
        ("/dev/pets/%252e%252e", 200, "pets /pets/%2e%2e"),
        ("/dev/pets/a;b", 200, "pets /pets/a;b"),
        // $default: what it appends is the canonical path.
        ("/dev/pub/../admin/x", 401, ""),
        ("/dev//admin/x", 401, ""),
        ("/dev/admin/%2e/x", 401, ""),
        ("/dev/admin%2Fx", 400, ""),
        ("/dev/admin%2fx", 400, ""),
        ("/dev/%61dmin/x", 401, ""),
        ("/dev/pub/..;/admin/x", 200, "open /pub/..;/admin/x"),
        ("/dev/admin;x/y", 200, "open /admin;x/y"),
        ("/dev/pub/%5c..%5cadmin", 400, ""),
        ("/dev/pub%00/x", 400, ""),
        ("/dev/pub/%zz", 400, ""),
        ("/dev/../../admin", 400, ""),
        ("/dev/ADMIN/x", 200, "open /ADMIN/x"),
        // overwrite:path: a value decoded once, encoded once.
        ("/dev/items/%252e%252e", 200, "items /v2/items/%2e%2e"),
        ("/dev/items/..", 200, "open /"),
        ("/dev/items/a%20b", 200, "items /v2/items/a b"),
    ];
    for (target, status, body) in cases {
        let got = seen(&raw_http::get(gw.public, target, "").await);
        assert_eq!(got, (*status, body.to_string()), "{target}");
    }
}

#[tokio::test]
async fn no_hostile_path_reaches_a_protected_area_without_its_token() {
    let (gw, _nginx) = start().await;
    let prefixes = [
        "/dev/files/a/",
        "/dev/pets/",
        "/dev/items/",
        "/dev/pub/",
        "/dev/",
        "/dev//",
    ];
    let climbs = [
        "..",
        "%2e%2e",
        "%2E%2E",
        ".%2e",
        "%2e.",
        "..%2f",
        "..%2F",
        "%2e%2e%2f",
        "..%5c",
        "..\\",
        "..;",
        "%252e%252e",
        "%2e%2e%252f",
        ".",
        "%2e",
        "",
    ];
    let joins = ["/", "%2f", "%2F", "//", "\\", "%5c", "/./", "/%2e/"];
    let tails = [
        "admin/x",
        "admin",
        "admin%2fx",
        "%61dmin/x",
        "admin;x/y",
        "admin/./x",
        "admin//x",
    ];
    let mut targets = Vec::new();
    for p in prefixes {
        for c in climbs {
            for j in joins {
                for t in tails {
                    targets.push(format!("{p}{c}{j}{c}{j}{t}"));
                }
            }
        }
    }
    let mut tried = 0;
    let mut reached = 0;
    let mut calls = tokio::task::JoinSet::new();
    // Every seventh: a few hundred distinct shapes, every piece in several.
    for target in targets.into_iter().step_by(7) {
        let addr = gw.public;
        calls.spawn(async move { (raw_http::get(addr, &target, "").await, target) });
        if calls.len() >= 16 {
            let (a, t) = calls.join_next().await.unwrap().unwrap();
            tried += 1;
            reached += check_unprotected(&a, &t);
        }
    }
    while let Some(done) = calls.join_next().await {
        let (a, t) = done.unwrap();
        tried += 1;
        reached += check_unprotected(&a, &t);
    }
    assert!(tried > 400, "{tried} paths tried");
    assert!(
        reached > 50,
        "only {reached} reached a backend: the table tests too little"
    );
    // The protected area itself is reached with the token, by its canonical path.
    let auth = format!(
        "Authorization: Bearer {}\r\n",
        hs256(&claims(serde_json::json!({})))
    );
    let a = raw_http::get(gw.public, "/dev/pub/%2e%2e//admin/./x", &auth).await;
    assert_eq!(seen(&a), (200, "admin /admin/x".to_owned()));
}

/// A tokenless answer: refused by the gateway, or served from outside `/admin`.
fn check_unprotected(a: &RawAnswer, target: &str) -> usize {
    assert!(
        matches!(a.status, 200 | 400 | 401 | 404),
        "{target}: status {}",
        a.status
    );
    if a.status != 200 {
        return 0;
    }
    assert!(
        !a.text().starts_with("admin"),
        "{target} reached {}",
        a.text()
    );
    1
}

#[tokio::test]
async fn mapped_path_values_cannot_add_or_climb_segments() {
    let (gw, _nginx) = start().await;
    for (name, status, body) in [
        ("../admin/x", 400, ""),
        ("..", 400, ""),
        (".", 400, ""),
        ("a/b", 400, ""),
        ("a\\b", 400, ""),
        ("%2e%2e", 200, "reports /reports/%2e%2e"),
        ("q1 2026", 200, "reports /reports/q1 2026"),
    ] {
        let header = format!("x-name: {name}\r\n");
        let got = seen(&raw_http::get(gw.public, "/dev/report/1", &header).await);
        assert_eq!(got, (status, body.to_owned()), "x-name: {name}");
    }
}

#[test]
fn a_client_can_never_choose_the_backend_host() {
    let env = std::collections::HashMap::new();
    let load = |uri: &str| {
        let text = format!(
            "[stages.dev]\nvariables = {{ b = \"http://10.0.0.1:0\" }}\n\
             [http.routes.\"GET /t/{{tenant}}\"]\nintegration = {{ type = \"http_proxy\", uri = \"{uri}\" }}\n"
        );
        sockgate::snapshot::parse(&text, &env)
            .map(drop)
            .unwrap_err()
            .to_string()
    };
    let e = load("http://svc-{tenant}/x");
    assert!(
        e.contains("cannot choose the backend's host or port"),
        "{e}"
    );
    let e = load("http://127.0.0.1:{tenant}/x");
    assert!(
        e.contains("cannot choose the backend's host or port"),
        "{e}"
    );
    // A stage variable is the operator's text (AWS's characters: no `@`),
    // but what it makes is checked as a host.
    let e = load("${stageVariables.b}/x");
    assert!(e.contains("not host[:port]"), "{e}");
}
