//! Issue 12, auth on HTTP routes: the JWT and request authorizers chosen per
//! route, route scopes, API keys, AWS HTTP APIs' authorizer event (payload 2.0
//! and 1.0), its cache, and AWS's answers — all before the body is read.

mod support;

use std::time::Duration;

use serde_json::json;
use support::jwt::*;
use support::*;

fn config(backend: &str) -> String {
    let b = backend;
    format!(
        r#"
[stages.prod]
api_keys = {{ mobile = "mobile-key-0123456789abcdef" }}
[stages."$default"]
api_keys = {{ web = "web-key-0123456789abcdefgh" }}
[http.cors]
allow_origins = ["https://app.example"]
allow_methods = ["GET", "POST"]
allow_headers = ["authorization"]

{jwt}
{jwt_query}
[authorizers.lambda]
type = "request"
uri = "{b}/auth"
identity_sources = ["$request.header.x-user"]
ttl = "60s"
[authorizers.lambda1]
type = "request"
uri = "{b}/auth1"
identity_sources = ["$request.header.x-user", "$context.routeKey"]
payload_format = "1.0"
ttl = "0s"
[authorizers.policy]
type = "request"
uri = "{b}/policy"
identity_sources = ["$request.header.x-user"]
ttl = "60s"

[http.routes."GET /me"]
integration = {{ type = "aws_proxy", uri = "{b}/me" }}
authorizer = "users"
[http.routes."POST /me"]
integration = {{ type = "aws_proxy", uri = "{b}/me1", payload_format = "1.0" }}
authorizer = "users"
[http.routes."GET /admin"]
integration = {{ type = "mock", body = "admin" }}
authorizer = "users"
authorization_scopes = ["admin", "root"]
[http.routes."GET /write"]
integration = {{ type = "mock", body = "write" }}
authorizer = "users"
authorization_scopes = ["admin", "chat:write"]
[http.routes."GET /q"]
integration = {{ type = "mock", body = "q" }}
authorizer = "by_query"
[http.routes."ANY /orders/{{id}}"]
integration = {{ type = "aws_proxy", uri = "{b}/orders" }}
authorizer = "lambda"
[http.routes."GET /v1/{{id}}"]
integration = {{ type = "aws_proxy", uri = "{b}/v1", payload_format = "1.0" }}
authorizer = "lambda1"
[http.routes."ANY /policy/{{id}}"]
integration = {{ type = "mock", body = "policy ok" }}
authorizer = "policy"
[http.routes."GET /keyed"]
integration = {{ type = "mock", body = "keyed" }}
api_key_required = true
[http.routes."GET /open"]
integration = {{ type = "mock", body = "open" }}
"#,
        jwt = hs256_authorizer("users", "$request.header.Authorization"),
        jwt_query = hs256_authorizer("by_query", "$request.querystring.token"),
    )
}

async fn start() -> (Gw, Backend) {
    let backend = Backend::start().await;
    let gw = Gw::start(&config(&backend.url())).await;
    (gw, backend)
}

fn url(gw: &Gw, path: &str) -> String {
    format!("http://{}{path}", gw.public)
}

fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap()
}

async fn get(gw: &Gw, path: &str, headers: &[(&str, &str)]) -> (u16, http::HeaderMap, String) {
    let (status, h, body) = http_with("GET", &url(gw, path), headers, vec![]).await;
    (status, h, text(&body).to_owned())
}

const UNAUTHORIZED: &str = r#"{"message":"Unauthorized"}"#;
const FORBIDDEN: &str = r#"{"message":"Forbidden"}"#;

#[tokio::test]
async fn jwt_routes_refuse_without_a_valid_token_and_pass_claims_on() {
    let (gw, backend) = start().await;
    let good = format!("Bearer {}", hs256(&claims(json!({}))));
    let expired = hs256(&claims(json!({"exp": now() - 600})));
    for (what, headers) in [
        ("no token", vec![]),
        ("garbage", vec![("authorization", "Bearer not.a.jwt")]),
        ("expired", vec![("authorization", expired.as_str())]),
    ] {
        let (status, h, body) = get(&gw, "/prod/me", &headers).await;
        assert_eq!((status, body.as_str()), (401, UNAUTHORIZED), "{what}");
        let challenge = h["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Bearer "), "{what}: {challenge}");
        assert!(challenge.contains(r#"error="invalid_token""#), "{what}");
        assert!(h.contains_key("apigw-requestid"), "{what}");
    }
    assert!(
        backend
            .drain("/me", Duration::from_millis(100))
            .await
            .is_empty(),
        "refused requests never reach the backend"
    );
    // Bare or Bearer, both pass; the claims arrive as payload 2.0 has them.
    let (status, _, _) = get(&gw, "/prod/me", &[("authorization", good.as_str())]).await;
    assert_eq!(status, 200);
    let event = backend.next("/me").await.json();
    let authorizer = &event["requestContext"]["authorizer"];
    assert_eq!(authorizer["jwt"]["claims"]["sub"], "user-1");
    assert_eq!(authorizer["jwt"]["claims"]["tenant"], "acme");
    assert_eq!(
        authorizer["jwt"]["scopes"],
        json!(["chat:read", "chat:write"])
    );
    // Payload 1.0: REST's `authorizer.claims`.
    let bare = hs256(&claims(json!({})));
    let (status, _, _) = http_with(
        "POST",
        &url(&gw, "/me"),
        &[("authorization", bare.as_str())],
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status, 200);
    let event = backend.next("/me1").await.json();
    assert_eq!(
        event["requestContext"]["authorizer"]["claims"]["sub"],
        "user-1"
    );
    // A token in the query string.
    let path = format!("/q?token={bare}");
    assert_eq!(get(&gw, &path, &[]).await.0, 200);
    assert_eq!(get(&gw, "/q?token=nope", &[]).await.0, 401);
}

#[tokio::test]
async fn route_scopes_need_one_match_and_refuse_with_403() {
    let (gw, _backend) = start().await;
    let token = hs256(&claims(json!({})));
    let auth = [("authorization", token.as_str())];
    let (status, h, body) = get(&gw, "/prod/admin", &auth).await;
    assert_eq!((status, body.as_str()), (403, FORBIDDEN));
    assert!(
        h["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"error="insufficient_scope""#)
    );
    assert_eq!(get(&gw, "/prod/write", &auth).await.2, "write");
    let admin = hs256(&claims(json!({"scope": null, "scp": ["root"]})));
    let (status, _, body) = get(&gw, "/prod/admin", &[("authorization", admin.as_str())]).await;
    assert_eq!((status, body.as_str()), (200, "admin"));
}

#[tokio::test]
async fn the_request_authorizer_gets_the_http_api_event_and_its_answer_is_cached() {
    let (gw, backend) = start().await;
    backend.on(
        "/auth",
        Behaviour::Body(r#"{"isAuthorized":true,"context":{"tier":"gold","n":3}}"#.into()),
    );
    // Missing identity: 401 without asking the authorizer.
    let (status, h, body) = get(&gw, "/prod/orders/7", &[]).await;
    assert_eq!((status, body.as_str()), (401, UNAUTHORIZED));
    assert!(!h.contains_key("www-authenticate"));
    let (status, _, _) = http_with(
        "POST",
        &url(&gw, "/prod/orders/7?x=1"),
        &[("x-user", "alice"), ("content-type", "application/json")],
        br#"{"secret":"body"}"#.to_vec(),
    )
    .await;
    assert_eq!(status, 200);
    let asked = backend.next("/auth").await.json();
    assert_eq!(asked["version"], "2.0");
    assert_eq!(asked["type"], "REQUEST");
    assert_eq!(asked["routeKey"], "ANY /orders/{id}");
    assert_eq!(asked["identitySource"], json!(["alice"]));
    assert!(
        asked["routeArn"]
            .as_str()
            .unwrap()
            .ends_with(":sockgate/prod/POST/orders/7"),
        "{}",
        asked["routeArn"]
    );
    assert_eq!(asked["rawQueryString"], "x=1");
    assert_eq!(asked["pathParameters"], json!({"id": "7"}));
    assert!(
        asked.get("body").is_none(),
        "the authorizer never sees the body"
    );
    let event = backend.next("/orders").await.json();
    assert_eq!(
        event["requestContext"]["authorizer"],
        json!({"lambda": {"tier": "gold", "n": 3}})
    );
    assert_eq!(event["body"], r#"{"secret":"body"}"#);
    // The same identity within the TTL: answered from the cache.
    let (status, _, _) = get(&gw, "/prod/orders/8", &[("x-user", "alice")]).await;
    assert_eq!(status, 200);
    backend.next("/orders").await;
    assert!(
        backend
            .drain("/auth", Duration::from_millis(100))
            .await
            .is_empty(),
        "cached"
    );
    // Another identity is asked; a refusal is 403, a failure 500.
    backend.on("/auth", Behaviour::Body(r#"{"isAuthorized":false}"#.into()));
    let (status, _, body) = get(&gw, "/prod/orders/7", &[("x-user", "bob")]).await;
    assert_eq!((status, body.as_str()), (403, FORBIDDEN));
    backend.on("/auth", Behaviour::Status(500, "oops: stack trace".into()));
    let (status, _, body) = get(&gw, "/prod/orders/7", &[("x-user", "carol")]).await;
    assert_eq!(
        (status, body.as_str()),
        (500, r#"{"message":"Internal Server Error"}"#)
    );
    backend.on("/auth", Behaviour::Body("Unauthorized".into()));
    let (status, _, body) = get(&gw, "/prod/orders/7", &[("x-user", "dave")]).await;
    assert_eq!((status, body.as_str()), (401, UNAUTHORIZED));
}

#[tokio::test]
async fn a_payload_1_0_authorizer_gets_the_rest_shape_and_can_key_its_cache_by_route() {
    let (gw, backend) = start().await;
    backend.on(
        "/auth1",
        Behaviour::Body(r#"{"principalId":"p-1","isAuthorized":true,"context":{"k":"v"}}"#.into()),
    );
    let (status, _, _) = get(&gw, "/v1/42", &[("x-user", "alice")]).await;
    assert_eq!(status, 200);
    let asked = backend.next("/auth1").await.json();
    assert_eq!(asked["version"], "1.0");
    assert_eq!(asked["type"], "REQUEST");
    assert_eq!(asked["identitySource"], "alice,GET /v1/{id}");
    assert!(
        asked["methodArn"]
            .as_str()
            .unwrap()
            .ends_with("/$default/GET/v1/42")
    );
    assert_eq!(asked["httpMethod"], "GET");
    let event = backend.next("/v1").await.json();
    let authorizer = &event["requestContext"]["authorizer"];
    assert_eq!(authorizer["principalId"], "p-1");
    assert_eq!(authorizer["k"], "v");
}

#[tokio::test]
async fn a_cached_iam_policy_is_judged_against_each_routes_arn() {
    let (gw, backend) = start().await;
    let policy = json!({"principalId": "u", "policyDocument": {"Version": "2012-10-17", "Statement": [
        {"Action": "execute-api:Invoke", "Effect": "Allow",
         "Resource": "arn:aws:execute-api:*:*:sockgate/prod/GET/policy/*"}]}});
    backend.on("/policy", Behaviour::Body(policy.to_string()));
    let user = [("x-user", "alice")];
    assert_eq!(get(&gw, "/prod/policy/1", &user).await.2, "policy ok");
    // From the cache, judged on DELETE's ARN: denied, as on AWS.
    let (status, _, body) = http_with("DELETE", &url(&gw, "/prod/policy/1"), &user, vec![]).await;
    assert_eq!((status, text(&body)), (403, FORBIDDEN));
    assert_eq!(
        backend
            .drain("/policy", Duration::from_millis(100))
            .await
            .len(),
        1,
        "asked once"
    );
}

#[tokio::test]
async fn api_keys_are_per_stage_and_checked_by_routes_that_require_them() {
    let (gw, _backend) = start().await;
    for (path, headers, status) in [
        ("/prod/keyed", vec![], 403),
        (
            "/prod/keyed",
            vec![("x-api-key", "wrong-key-0123456789abcdef")],
            403,
        ),
        (
            "/prod/keyed",
            vec![("x-api-key", "web-key-0123456789abcdefgh")],
            403,
        ),
        (
            "/prod/keyed",
            vec![("x-api-key", "mobile-key-0123456789abcdef")],
            200,
        ),
        (
            "/keyed",
            vec![("x-api-key", "web-key-0123456789abcdefgh")],
            200,
        ),
        ("/prod/open", vec![], 200),
    ] {
        let (got, _, body) = get(&gw, path, &headers).await;
        assert_eq!(got, status, "{path} {headers:?}");
        if status == 403 {
            assert_eq!(body, FORBIDDEN);
        }
    }
}

#[tokio::test]
async fn preflights_skip_authorizers_and_refusals_carry_cors_headers() {
    let (gw, _backend) = start().await;
    let origin = ("origin", "https://app.example");
    let (status, h, _) = http_with(
        "OPTIONS",
        &url(&gw, "/prod/me"),
        &[origin, ("access-control-request-method", "GET")],
        vec![],
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
    let (status, h, _) = get(&gw, "/prod/me", &[origin]).await;
    assert_eq!(status, 401);
    assert_eq!(h["access-control-allow-origin"], "https://app.example");
}

#[tokio::test]
async fn an_unauthenticated_body_is_never_read() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (gw, backend) = start().await;
    // Promises 50 MB (over the 10 MB limit) and sends none of it: the
    // authorizer answers first, so the client gets 401, not 413 or a wait.
    let mut conn = tokio::net::TcpStream::connect(gw.public).await.unwrap();
    let head = "POST /prod/me HTTP/1.1\r\nhost: x\r\ncontent-length: 50000000\r\n\r\n";
    conn.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(PATIENCE, conn.read(&mut answer))
        .await
        .expect("answered without the body")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]).to_string();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(
        backend
            .drain("/me1", Duration::from_millis(100))
            .await
            .is_empty()
    );
}
