//! $connect authorization: the JWT authorizer (secret, PEM keys, JWKS with
//! rotation), the request authorizer, API keys, Origin and per-IP admission,
//! and every kind of bad credential the issue lists.

mod support;

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::{Value, json};
use support::jwt::*;
use support::*;

/// An unsigned token: `{"alg":"none"}`.
fn alg_none(c: &Value) -> String {
    use base64::Engine as _;
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT"}"#),
        b64(c.to_string().as_bytes())
    )
}

/// An HS256 token whose "secret" is the RSA public key's PEM text: the classic
/// algorithm-confusion forgery against verifiers that trust the header's alg.
fn hs256_with_public_key(c: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        c,
        &EncodingKey::from_secret(&key("rsa-public.pem")),
    )
    .unwrap()
}

fn base(backend: &str, authorizers: &str, stage_extra: &str) -> String {
    format!(
        r#"
{authorizers}
[websocket]
route_selection_expression = "$request.body.action"
[stages.prod]
variables = {{ backend = "{backend}" }}
{stage_extra}
[routes."$connect"]
integration = {{ type = "aws_proxy", uri = "${{stageVariables.backend}}/connect" }}
[routes."$default"]
integration = {{ type = "aws_proxy", uri = "${{stageVariables.backend}}/message" }}
[routes."$disconnect"]
integration = {{ type = "aws_proxy", uri = "${{stageVariables.backend}}/disconnect" }}
"#
    )
}

async fn backend() -> Backend {
    let b = Backend::start().await;
    for path in ["/connect", "/message", "/disconnect"] {
        b.on(path, Behaviour::Body(r#"{"statusCode":200}"#.into()));
    }
    b
}

fn hs_authorizer(source: &str, extra: &str) -> String {
    format!(
        r#"[authorizers.main]
type = "jwt"
identity_source = "{source}"
issuer = "{ISS}"
audience = ["{AUD}"]
algorithms = ["HS256"]
secret = "{SECRET}"
leeway = "0s"
{extra}
"#
    )
}

#[tokio::test]
async fn jwt_claims_reach_every_event_and_bad_tokens_get_401() {
    let b = backend().await;
    let gw = Gw::start(&base(
        &b.url(),
        &hs_authorizer("$request.querystring.token", ""),
        "authorizer = \"main\"",
    ))
    .await;
    let url = |t: &str| format!("{}?token={t}", gw.url("prod"));

    let (mut ws, _) = connect_with(&url(&hs256(&claims(json!({})))), &[])
        .await
        .expect("valid token accepted");
    let ev = b.next("/connect").await.json();
    let auth = &ev["requestContext"]["authorizer"];
    assert_eq!(auth["principalId"], "user-1");
    assert_eq!(auth["jwt"]["claims"]["tenant"], "acme");
    assert_eq!(auth["jwt"]["scopes"], json!(["chat:read", "chat:write"]));
    send_text(&mut ws, "hello").await;
    let msg = b.next("/message").await.json();
    assert_eq!(
        msg["requestContext"]["authorizer"], *auth,
        "MESSAGE events carry it too"
    );
    ws.close(None).await.unwrap();
    let disc = b.next("/disconnect").await.json();
    assert_eq!(
        disc["requestContext"]["authorizer"], *auth,
        "and DISCONNECT"
    );

    let bad = [
        ("missing", String::new()),
        ("expired", hs256(&claims(json!({"exp": now() - 60})))),
        ("not yet valid", hs256(&claims(json!({"nbf": now() + 600})))),
        (
            "wrong audience",
            hs256(&claims(json!({"aud": "someone-else"}))),
        ),
        (
            "wrong issuer",
            hs256(&claims(json!({"iss": "https://evil.test"}))),
        ),
        ("no exp", hs256(&claims(json!({"exp": null})))),
        (
            "forged",
            encode(
                &Header::new(Algorithm::HS256),
                &claims(json!({})),
                &EncodingKey::from_secret(b"guessed-secret"),
            )
            .unwrap(),
        ),
        ("alg none", alg_none(&claims(json!({})))),
        (
            "RS256 not allowed here",
            signed(
                Algorithm::RS256,
                None,
                &claims(json!({})),
                "rsa-private.pem",
            ),
        ),
        ("garbage", "not.a.jwt".into()),
        (
            "oversized",
            format!("{}.{}.x", "a".repeat(5000), "b".repeat(5000)),
        ),
    ];
    for (name, token) in bad {
        let u = if token.is_empty() {
            gw.url("prod")
        } else {
            url(&token)
        };
        assert_eq!(refused_status(&u, &[]).await, 401, "{name}");
    }
    // Nothing reached $connect for any of them.
    assert!(
        b.drain("/connect", Duration::from_millis(200))
            .await
            .is_empty()
    );
    // A token beyond the handshake's size limit is refused by the HTTP layer.
    assert_eq!(refused_status(&url(&"x".repeat(20_000)), &[]).await, 431);
}

#[tokio::test]
async fn required_scopes_and_claims_give_403() {
    let b = backend().await;
    let extra = "required_scopes = [\"chat:admin\", \"chat:write\"]\nrequired_claims = { tenant = \"acme\" }";
    let gw = Gw::start(&base(
        &b.url(),
        &hs_authorizer("$request.header.Authorization", extra),
        "authorizer = \"main\"",
    ))
    .await;
    let bearer = |t: String| format!("Bearer {t}");
    let ok = bearer(hs256(&claims(json!({}))));
    assert!(
        connect_with(&gw.url("prod"), &[("authorization", &ok)])
            .await
            .is_ok()
    );
    for (name, c) in [
        ("no matching scope", claims(json!({"scope": "chat:read"}))),
        (
            "scp list without it",
            claims(json!({"scope": null, "scp": ["chat:read"]})),
        ),
        ("other tenant", claims(json!({"tenant": "globex"}))),
    ] {
        let h = bearer(hs256(&c));
        assert_eq!(
            refused_status(&gw.url("prod"), &[("authorization", &h)]).await,
            403,
            "{name}"
        );
    }
}

#[tokio::test]
async fn public_key_algorithms_from_pem_and_the_algorithm_confusion_forgery() {
    let b = backend().await;
    let auth = format!(
        r#"[authorizers.main]
type = "jwt"
identity_source = "$request.header.Authorization"
issuer = "{ISS}"
audience = "{AUD}"
algorithms = ["RS256", "PS256", "ES256", "EdDSA"]
public_keys = {{ rsa = '''{}''', ec = '''{}''', ed = '''{}''' }}
"#,
        String::from_utf8(key("rsa-public.pem")).unwrap(),
        String::from_utf8(key("ec-public.pem")).unwrap(),
        String::from_utf8(key("ed-public.pem")).unwrap(),
    );
    let gw = Gw::start(&base(&b.url(), &auth, "authorizer = \"main\"")).await;
    let c = claims(json!({}));
    for (alg, kid, pem) in [
        (Algorithm::RS256, "rsa", "rsa-private.pem"),
        (Algorithm::PS256, "rsa", "rsa-private.pem"),
        (Algorithm::ES256, "ec", "ec-private.pem"),
        (Algorithm::EdDSA, "ed", "ed-private.pem"),
    ] {
        let h = format!("Bearer {}", signed(alg, Some(kid), &c, pem));
        assert!(
            connect_with(&gw.url("prod"), &[("authorization", &h)])
                .await
                .is_ok(),
            "{alg:?}"
        );
    }
    for (name, token) in [
        (
            "HS256 signed with the RSA public key",
            hs256_with_public_key(&c),
        ),
        (
            "RS256 by another key",
            signed(Algorithm::RS256, Some("rsa"), &c, "rsa2-private.pem"),
        ),
        (
            "EC token naming the RSA key",
            signed(Algorithm::ES256, Some("rsa"), &c, "ec-private.pem"),
        ),
        (
            "unknown kid",
            signed(Algorithm::RS256, Some("nope"), &c, "rsa-private.pem"),
        ),
    ] {
        let h = format!("Bearer {token}");
        assert_eq!(
            refused_status(&gw.url("prod"), &[("authorization", &h)]).await,
            401,
            "{name}"
        );
    }
}

#[tokio::test]
async fn jwks_keys_rotate_without_a_restart_and_an_unreachable_jwks_fails_closed() {
    let b = backend().await;
    b.on("/jwks", Behaviour::Body(jwks(&[("k1", "rsa-private.pem")])));
    let auth = format!(
        r#"[authorizers.main]
type = "jwt"
identity_source = "$request.header.Sec-WebSocket-Protocol"
issuer = "{ISS}"
audience = "{AUD}"
algorithms = ["RS256"]
jwks_uri = "{}/jwks"
jwks_refetch_min = "100ms"
[admission]
allowed_subprotocols = ["sockgate.v1"]
"#,
        b.url()
    );
    let gw = Gw::start(&base(&b.url(), &auth, "authorizer = \"main\"")).await;
    let c = claims(json!({}));
    // A browser offers its token as a subprotocol; the gateway answers the real one.
    let offer = |t: &str| format!("sockgate.v1, {t}");
    let t1 = signed(Algorithm::RS256, Some("k1"), &c, "rsa-private.pem");
    let (_ws, resp) = connect_with(&gw.url("prod"), &[("sec-websocket-protocol", &offer(&t1))])
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["sec-websocket-protocol"],
        "sockgate.v1",
        "never the token"
    );

    // The issuer rotates to k2: a token with the new kid triggers a refetch.
    b.on(
        "/jwks",
        Behaviour::Body(jwks(&[("k2", "rsa2-private.pem")])),
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    let t2 = signed(Algorithm::RS256, Some("k2"), &c, "rsa2-private.pem");
    assert!(
        connect_with(&gw.url("prod"), &[("sec-websocket-protocol", &offer(&t2))])
            .await
            .is_ok()
    );
    assert_eq!(
        refused_status(&gw.url("prod"), &[("sec-websocket-protocol", &offer(&t1))]).await,
        401,
        "k1 is gone from the JWKS"
    );
    // An offer without a token, or without an allowed protocol.
    assert_eq!(
        refused_status(
            &gw.url("prod"),
            &[("sec-websocket-protocol", "sockgate.v1")]
        )
        .await,
        401
    );
    assert_eq!(
        refused_status(
            &gw.url("prod"),
            &[("sec-websocket-protocol", &format!("other.v9, {t2}"))]
        )
        .await,
        400
    );

    // JWKS outages: with keys cached, known kids still work; a gateway that never
    // got keys refuses with 503 (fail closed), for a down endpoint and for garbage.
    b.on("/jwks", Behaviour::Status(500, "down".into()));
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(
        connect_with(&gw.url("prod"), &[("sec-websocket-protocol", &offer(&t2))])
            .await
            .is_ok()
    );
    for jwks_answer in [
        Behaviour::Status(503, "down".into()),
        Behaviour::Body("{\"keys\": 42}".into()),
    ] {
        b.on("/jwks", jwks_answer);
        let fresh = Gw::start(&base(&b.url(), &auth, "authorizer = \"main\"")).await;
        assert_eq!(
            refused_status(
                &fresh.url("prod"),
                &[("sec-websocket-protocol", &offer(&t2))]
            )
            .await,
            503
        );
    }
}

#[tokio::test]
async fn request_authorizer_allows_denies_caches_and_fails_closed() {
    let b = backend().await;
    let auth = format!(
        r#"[authorizers.lambda]
type = "request"
uri = "{}/auth"
identity_sources = ["$request.header.Auth", "$request.querystring.room"]
ttl = "1m"
timeout = "300ms"
"#,
        b.url()
    );
    let gw = Gw::start(&base(&b.url(), &auth, "authorizer = \"lambda\"")).await;
    let allow = json!({"principalId": "p-7", "policyDocument": {"Version": "2012-10-17", "Statement": [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:aws:execute-api:*:*:sockgate/prod/$connect"}]},
        "context": {"plan": "gold", "seats": 3}});
    b.on("/auth", Behaviour::Body(allow.to_string()));
    let url = format!("{}?room=r1", gw.url("prod"));
    let (_ws, _) = connect_with(&url, &[("auth", "token-a")])
        .await
        .expect("allowed");
    let ev = b.next("/auth").await.json();
    assert_eq!(ev["type"], "REQUEST");
    assert_eq!(
        ev["methodArn"],
        "arn:aws:execute-api:local:000000000000:sockgate/prod/$connect"
    );
    assert_eq!(ev["headers"]["Auth"], "token-a");
    assert_eq!(ev["queryStringParameters"]["room"], "r1");
    let connect = b.next("/connect").await.json();
    let ctx = &connect["requestContext"]["authorizer"];
    assert_eq!(
        (
            ctx["principalId"].as_str(),
            ctx["plan"].as_str(),
            ctx["seats"].as_u64()
        ),
        (Some("p-7"), Some("gold"), Some(3))
    );
    assert!(ctx["integrationLatency"].is_u64());

    // The same identity within the TTL is not asked again; another one is.
    let _again = connect_with(&url, &[("auth", "token-a")])
        .await
        .expect("cached allow");
    assert!(
        b.drain("/auth", Duration::from_millis(200))
            .await
            .is_empty(),
        "cached"
    );
    b.on(
        "/auth",
        Behaviour::Body(json!({"principalId": "x", "isAuthorized": false}).to_string()),
    );
    assert_eq!(refused_status(&url, &[("auth", "token-b")]).await, 403);
    b.next("/auth").await;

    // Missing identity: 401 without a call.
    assert_eq!(
        refused_status(&gw.url("prod"), &[("auth", "token-c")]).await,
        401
    );
    assert_eq!(refused_status(&url, &[]).await, 401);
    assert!(
        b.drain("/auth", Duration::from_millis(200))
            .await
            .is_empty(),
        "not called"
    );

    // What the authorizer answers, and what the client gets.
    for (i, (answer, status)) in [
        (Behaviour::Status(401, "Unauthorized".into()), 401),
        (Behaviour::Body("\"Unauthorized\"".into()), 401),
        (Behaviour::Status(403, "".into()), 403),
        (Behaviour::Body(json!({"principalId": "p", "policyDocument": {"Statement": [{"Action": "execute-api:Invoke", "Effect": "Deny", "Resource": "*"}]}}).to_string()), 403),
        (Behaviour::Body("<html>oops</html>".into()), 502),
        (Behaviour::Body(json!({"principalId": "p"}).to_string()), 502),
        (Behaviour::Status(500, "boom".into()), 502),
        (Behaviour::Hang, 504),
    ]
    .into_iter()
    .enumerate()
    {
        b.on("/auth", answer);
        let token = format!("fresh-{i}");
        assert_eq!(refused_status(&url, &[("auth", &token)]).await, status, "case {i}");
    }
    // And an authorizer that is not there at all.
    let dead = Gw::start(&base(
        &b.url(),
        &auth.replace(&b.url(), "http://127.0.0.1:9"),
        "authorizer = \"lambda\"",
    ))
    .await;
    assert_eq!(
        refused_status(&format!("{}?room=r1", dead.url("prod")), &[("auth", "t")]).await,
        502
    );
}

#[tokio::test]
async fn api_keys_by_header_or_query() {
    let b = backend().await;
    let gw = Gw::start(&base(&b.url(), "", "api_keys = { mobile = \"mobile-key-0123456789abcdef\", web = \"web-key-0123456789abcdefgh\" }")).await;
    assert!(
        connect_with(
            &gw.url("prod"),
            &[("x-api-key", "mobile-key-0123456789abcdef")]
        )
        .await
        .is_ok()
    );
    let ev = b.next("/connect").await.json();
    assert_eq!(ev["requestContext"]["identity"]["apiKeyId"], "mobile");
    let q = format!("{}?x-api-key=web-key-0123456789abcdefgh", gw.url("prod"));
    assert!(connect_with(&q, &[]).await.is_ok());
    assert_eq!(
        b.next("/connect").await.json()["requestContext"]["identity"]["apiKeyId"],
        "web"
    );
    assert_eq!(refused_status(&gw.url("prod"), &[]).await, 403);
    assert_eq!(
        refused_status(
            &gw.url("prod"),
            &[("x-api-key", "mobile-key-0123456789abcdeX")]
        )
        .await,
        403
    );
}

#[tokio::test]
async fn origins_per_ip_caps_and_header_limits() {
    let b = backend().await;
    let admission = r#"[admission]
allowed_origins = ["https://app.example.com", "https://*.example.org"]
max_connections_per_ip = 2
max_headers = 40
"#;
    let gw = Gw::start(&base(&b.url(), admission, "")).await;
    let url = gw.url("prod");
    let a = connect_with(&url, &[("origin", "https://app.example.com")])
        .await
        .expect("allowed origin");
    assert_eq!(
        refused_status(&url, &[("origin", "https://evil.example.com")]).await,
        403
    );
    let c = connect_with(&url, &[])
        .await
        .expect("no Origin: not a browser");
    assert_eq!(
        refused_status(&url, &[("origin", "https://x.example.org")]).await,
        429,
        "third from one IP"
    );
    drop(a);
    let mut admitted = false;
    for _ in 0..100 {
        if connect_with(&url, &[("origin", "https://x.example.org")])
            .await
            .is_ok()
        {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(admitted, "a slot frees when a connection ends");
    drop(c);

    // Too many headers: 431 from the HTTP layer.
    let names: Vec<String> = (0..60).map(|i| format!("x-h{i}")).collect();
    let headers: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
    assert_eq!(refused_status(&url, &headers).await, 431);

    // A rate cap: 2 at once, then about one a second.
    let rate = r#"[admission]
connects_per_ip_per_second = 1
connects_per_ip_burst = 2
"#;
    let gw = Gw::start(&base(&b.url(), rate, "")).await;
    let _x = connect_with(&gw.url("prod"), &[]).await.unwrap();
    let _y = connect_with(&gw.url("prod"), &[]).await.unwrap();
    assert_eq!(refused_status(&gw.url("prod"), &[]).await, 429);
}

#[test]
fn authorizer_configs_are_checked() {
    use sockgate::config::Config;
    let env = std::collections::HashMap::new();
    let errs = |text: &str| Config::parse(text, &env).unwrap_err().to_string();
    let mixed = format!(
        "[stages.dev]\nauthorizer = \"a\"\n[authorizers.a]\ntype = \"jwt\"\nidentity_source = \"$request.header.Authorization\"\nissuer = \"i\"\naudience = \"a\"\nalgorithms = [\"HS256\", \"RS256\"]\nsecret = \"{SECRET}\"\n"
    );
    assert!(errs(&mixed).contains("cannot share an authorizer"));
    let none = "[stages.dev]\n[authorizers.a]\ntype = \"jwt\"\nidentity_source = \"$request.header.Authorization\"\nissuer = \"i\"\naudience = \"a\"\nalgorithms = [\"none\"]\n";
    assert!(errs(none).contains("algorithms"));
    let missing = "[stages.dev]\nauthorizer = \"nope\"\n";
    assert!(errs(missing).contains("no [authorizers.nope]"));
    let no_audience = "[stages.dev]\n[authorizers.a]\ntype = \"jwt\"\nidentity_source = \"$request.querystring.t\"\nissuer = \"i\"\nalgorithms = [\"RS256\"]\njwks_uri = \"http://x/jwks\"\n";
    assert!(errs(no_audience).contains("audience"));
    let bad_origin = "[stages.dev]\n[admission]\nallowed_origins = [\"app.example.com/\"]\n";
    assert!(errs(bad_origin).contains("allowed_origins"));
}
