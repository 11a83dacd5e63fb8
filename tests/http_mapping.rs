//! Issue 12, parameter mapping on HTTP routes: AWS's `overwrite:`, `append:`
//! and `remove:` on headers, query strings and the path of requests, and on
//! headers and the status of answers, with values from the request, the
//! answer, `$context` (the authorizer's claims included) and stage variables.

mod support;

use serde_json::json;
use support::jwt::*;
use support::*;

fn config(b: &str) -> String {
    format!(
        r#"
[stages.prod]
variables = {{ src = "gateway" }}
{jwt}
[http.routes."GET /items/{{id}}"]
integration = {{ type = "http_proxy", uri = "{b}/store/{{id}}" }}
authorizer = "users"
[http.routes."GET /items/{{id}}".request_parameters]
"overwrite:header.x-user" = "$context.authorizer.claims.sub"
"overwrite:header.x-tenant" = "$context.authorizer.claims.tenant"
"append:header.x-trace" = "${{context.routeKey}} ${{request.path.id}} ${{stageVariables.src}}"
"remove:header.x-secret" = ""
"overwrite:querystring.page" = "$request.header.x-page"
"append:querystring.tag" = "a b&c"
"remove:querystring.debug" = ""
[http.routes."GET /items/{{id}}".response_parameters."200"]
"append:header.x-served-by" = "sockgate"
"remove:header.server" = ""
"overwrite:header.x-etag" = "$response.header.etag"
[http.routes."GET /items/{{id}}".response_parameters."404"]
"overwrite:statuscode" = "204"

[http.routes."GET /rewrite/{{id}}"]
integration = {{ type = "http_proxy", uri = "{b}/old/{{id}}?fixed=1" }}
request_parameters = {{ "overwrite:path" = "/v2/things/${{request.path.id}}" }}

[http.routes."POST /orders"]
integration = {{ type = "aws_proxy", uri = "{b}/orders" }}
request_parameters = {{ "overwrite:header.x-tenant" = "$request.body.tenant", "overwrite:querystring.src" = "$stageVariables.src" }}
[http.routes."POST /orders".response_parameters."201"]
"overwrite:header.x-order" = "$response.body.id"
"overwrite:statuscode" = "202"

[http.routes."GET /hello"]
integration = {{ type = "mock", status_code = 200, body = "hi" }}
response_parameters = {{ "200" = {{ "overwrite:header.cache-control" = "max-age=60" }} }}
"#,
        jwt = hs256_authorizer("users", "$request.header.Authorization"),
    )
}

fn url(gw: &Gw, path: &str) -> String {
    format!("http://{}{path}", gw.public)
}

#[tokio::test]
async fn requests_are_mapped_before_the_backend_and_answers_before_the_client() {
    let backend = Backend::start().await;
    let gw = Gw::start(&config(&backend.url())).await;
    backend.on(
        "/store/7",
        Behaviour::Headers(
            200,
            vec![("etag", "\"v1\""), ("server", "backend/1.0")],
            "item".into(),
        ),
    );
    let token = hs256(&claims(json!({})));
    let headers = [
        ("authorization", token.as_str()),
        ("x-user", "admin"),
        ("x-secret", "s3cret"),
        ("x-trace", "client"),
        ("x-page", "3"),
    ];
    let (status, h, body) = http_with(
        "GET",
        &url(&gw, "/prod/items/7?page=1&debug=1&keep=yes"),
        &headers,
        vec![],
    )
    .await;
    assert_eq!((status, &body[..]), (200, &b"item"[..]));
    assert_eq!(h["x-served-by"], "sockgate");
    assert_eq!(h["x-etag"], "\"v1\"");
    assert!(h.get("server").is_none());
    let got = backend.next("/store/7").await;
    assert_eq!(
        got.header("x-user"),
        Some("user-1"),
        "overwritten from the claim"
    );
    assert_eq!(got.header("x-tenant"), Some("acme"));
    assert!(got.header("x-secret").is_none(), "removed");
    let traces: Vec<_> = got.headers.get_all("x-trace").iter().collect();
    assert_eq!(traces, ["client", "GET /items/{id} 7 gateway"], "appended");
    assert_eq!(got.query, "keep=yes&page=3&tag=a%20b%26c");
    // A claim that is missing removes the header: a client cannot fill it in.
    let no_tenant = hs256(&claims(json!({"tenant": null})));
    let spoof = [
        ("authorization", no_tenant.as_str()),
        ("x-tenant", "globex"),
    ];
    backend.on("/store/8", Behaviour::Status(404, "none".into()));
    let (status, _, _) = http_with("GET", &url(&gw, "/prod/items/8"), &spoof, vec![]).await;
    assert_eq!(status, 204, "404 mapped to 204");
    let got = backend.next("/store/8").await;
    assert!(got.header("x-tenant").is_none(), "{:?}", got.headers);
}

#[tokio::test]
async fn the_path_is_overwritten_and_lambda_routes_see_the_mapped_request() {
    let backend = Backend::start().await;
    let gw = Gw::start(&config(&backend.url())).await;
    let (status, _, _) = http("GET", &url(&gw, "/prod/rewrite/a%20b?x=1"), vec![]).await;
    assert_eq!(status, 200);
    let got = backend.next("/v2/things/a%20b").await;
    assert_eq!(got.query, "fixed=1&x=1");
    backend.on(
        "/orders",
        Behaviour::Body(r#"{"statusCode":201,"body":"{\"id\":\"o-9\"}"}"#.into()),
    );
    let (status, h, body) = http_with(
        "POST",
        &url(&gw, "/prod/orders?src=client"),
        &[("content-type", "application/json")],
        br#"{"tenant":"acme","n":1}"#.to_vec(),
    )
    .await;
    assert_eq!(status, 202);
    assert_eq!(h["x-order"], "o-9");
    assert_eq!(&body[..], br#"{"id":"o-9"}"#);
    let event = backend.next("/orders").await.json();
    assert_eq!(event["headers"]["x-tenant"], "acme");
    assert_eq!(event["queryStringParameters"], json!({"src": "gateway"}));
    assert_eq!(event["rawQueryString"], "src=gateway");
    let (status, h, _) = http("GET", &url(&gw, "/prod/hello"), vec![]).await;
    assert_eq!(status, 200);
    assert_eq!(h["cache-control"], "max-age=60");
}
