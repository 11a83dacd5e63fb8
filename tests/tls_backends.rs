//! Issue 22 §2: TLS to everything the gateway calls — `https://` backends of
//! every integration kind, request authorizers and JWKS key sets — with a CA
//! and certificates made in the test. Expired certificates, wrong host names
//! and unknown CAs fail the call, never fall back to plain text; mTLS works
//! with the client certificate and fails without it.

mod support;

use std::io::BufRead;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde_json::json;
use support::jwt::*;
use support::pki::{self, Ca};
use support::*;

/// `https://localhost:PORT` of a TLS backend (its certificates name
/// `localhost`).
fn url(b: &Backend) -> String {
    format!("https://localhost:{}", b.addr.port())
}

struct Pki {
    ca: Ca,
    ca_file: String,
}

fn pki() -> Pki {
    let ca = Ca::new("sockgate test CA");
    let ca_file = pki::write(&format!("ca-{}.pem", rand_suffix()), &ca.pem());
    Pki { ca, ca_file }
}

fn rand_suffix() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn tls_section(ca_file: &str, client: Option<(&str, &str)>) -> String {
    let client = client.map_or(String::new(), |(c, k)| {
        format!("client_cert_file = \"{c}\"\nclient_key_file = \"{k}\"\n")
    });
    format!("[integrations.tls]\nca_file = \"{ca_file}\"\nsystem_roots = false\n{client}")
}

#[tokio::test]
async fn every_integration_kind_and_the_jwks_work_over_tls() {
    let p = pki();
    let backend = Backend::start_tls(pki::server_config(
        &p.ca.server(&["localhost"], false),
        None,
    ))
    .await;
    let b = url(&backend);
    backend.on(
        "/lambda",
        Behaviour::Body(r#"{"statusCode": 200, "body": "lambda over tls"}"#.into()),
    );
    backend.on("/p/x", Behaviour::Body("proxied over tls".into()));
    backend.on(
        "/ws",
        Behaviour::Body(r#"{"statusCode": 200, "body": "ws over tls"}"#.into()),
    );
    backend.on("/auth", Behaviour::Body(r#"{"isAuthorized": true}"#.into()));
    backend.on("/jwks", Behaviour::Body(jwks(&[("k1", "rsa-private.pem")])));
    let toml = format!(
        r#"
{tls}
[authorizers.req]
type = "request"
uri = "{b}/auth"
identity_sources = ["$request.header.x-user"]
[authorizers.jwt]
type = "jwt"
identity_source = "$request.header.Authorization"
issuer = "{ISS}"
audience = "{AUD}"
algorithms = ["RS256"]
jwks_uri = "{b}/jwks"
jwks_refetch_min = "100ms"
[stages.dev]
[http.routes."GET /lambda"]
integration = {{ type = "aws_proxy", uri = "{b}/lambda" }}
[http.routes."GET /proxy/{{p+}}"]
integration = {{ type = "http_proxy", uri = "{b}/p/{{p}}" }}
[http.routes."GET /guarded"]
integration = {{ type = "mock", body = "let in" }}
authorizer = "req"
[http.routes."GET /signed"]
integration = {{ type = "mock", body = "signed in" }}
authorizer = "jwt"
[routes."$default"]
route_response = true
integration = {{ type = "aws_proxy", uri = "{b}/ws" }}
"#,
        tls = tls_section(&p.ca_file, None)
    );
    let gw = Gw::start(&toml).await;
    let get = |path: &str, headers: Vec<(String, String)>| {
        let url = format!("http://{}/dev{path}", gw.public);
        async move {
            let h: Vec<(&str, &str)> = headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let (status, _, body) = http_with("GET", &url, &h, vec![]).await;
            (status, String::from_utf8_lossy(&body).into_owned())
        }
    };
    assert_eq!(
        get("/lambda", vec![]).await,
        (200, "lambda over tls".into())
    );
    assert_eq!(
        get("/proxy/x", vec![]).await,
        (200, "proxied over tls".into())
    );
    // Kept alive: a TLS 1.3 backend's session tickets arrive on the idle
    // connection, and it is still taken for the next calls.
    let before = backend.accepted();
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(get("/proxy/x", vec![]).await.0, 200);
    }
    assert_eq!(backend.accepted(), before, "the TLS connection is reused");
    let user = vec![("x-user".to_owned(), "u1".to_owned())];
    assert_eq!(get("/guarded", user).await, (200, "let in".into()));
    let mut ws = connect(&gw.url("dev")).await;
    send_text(&mut ws, "hello").await;
    assert_eq!(recv_text(&mut ws).await, "ws over tls");
    // The JWKS comes over TLS, and rotates.
    let c = claims(json!({}));
    let bearer = |t: &str| vec![("authorization".to_owned(), format!("Bearer {t}"))];
    let t1 = signed(Algorithm::RS256, Some("k1"), &c, "rsa-private.pem");
    assert_eq!(get("/signed", bearer(&t1)).await, (200, "signed in".into()));
    backend.on(
        "/jwks",
        Behaviour::Body(jwks(&[("k2", "rsa2-private.pem")])),
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    let t2 = signed(Algorithm::RS256, Some("k2"), &c, "rsa2-private.pem");
    assert_eq!(get("/signed", bearer(&t2)).await, (200, "signed in".into()));
    assert_eq!(
        get("/signed", bearer(&t1)).await.0,
        401,
        "k1 left the key set"
    );
}

#[tokio::test]
async fn mtls_works_with_the_client_certificate_and_fails_without() {
    let p = pki();
    let clients = Ca::new("clients CA");
    let backend = Backend::start_tls(pki::server_config(
        &p.ca.server(&["localhost"], false),
        Some(&clients),
    ))
    .await;
    backend.on(
        "/lambda",
        Behaviour::Body(r#"{"statusCode": 200, "body": "mutual"}"#.into()),
    );
    let leaf = clients.client("sockgate");
    let n = rand_suffix();
    let cert = pki::write(&format!("client-{n}.pem"), &leaf.cert_pem);
    let key = pki::write(&format!("client-{n}.key"), &leaf.key_pem);
    let route = format!(
        "[stages.dev]\n[http.routes.\"GET /m\"]\nintegration = {{ type = \"aws_proxy\", uri = \"{}/lambda\" }}\n",
        url(&backend)
    );
    for (client, want) in [(Some((cert.as_str(), key.as_str())), 200), (None, 500)] {
        let gw = Gw::start(&format!("{}{route}", tls_section(&p.ca_file, client))).await;
        let (status, _, _) = http("GET", &format!("http://{}/dev/m", gw.public), vec![]).await;
        assert_eq!(status, want, "client certificate: {}", client.is_some());
    }
}

/// Each failure, in the log an operator reads: the host and the reason.
#[tokio::test]
async fn bad_certificates_fail_the_call_and_the_log_says_why() {
    let p = pki();
    let strangers = Ca::new("a CA nobody trusts");
    let expired =
        Backend::start_tls(pki::server_config(&p.ca.server(&["localhost"], true), None)).await;
    let wrong = Backend::start_tls(pki::server_config(
        &p.ca.server(&["other.test"], false),
        None,
    ))
    .await;
    let unknown = Backend::start_tls(pki::server_config(
        &strangers.server(&["localhost"], false),
        None,
    ))
    .await;
    let mut toml = format!("{}[stages.dev]\n", tls_section(&p.ca_file, None));
    for (name, b) in [
        ("expired", &expired),
        ("wrong", &wrong),
        ("unknown", &unknown),
    ] {
        toml.push_str(&format!(
            "[http.routes.\"GET /{name}\"]\nintegration = {{ type = \"http_proxy\", uri = \"{}/x\" }}\n",
            url(b)
        ));
    }
    let path = support::process::write_config(&format!("tls-fail-{}.toml", rand_suffix()), &toml);
    let (mut child, public, _metrics, stderr) = support::process::spawn(&path);
    let lines = std::thread::spawn(move || {
        stderr
            .lines()
            .map_while(Result::ok)
            .filter(|l| l.contains("TLS handshake with a backend failed."))
            .collect::<Vec<String>>()
    });
    for name in ["expired", "wrong", "unknown"] {
        let (status, _, body) = http("GET", &format!("http://{public}/dev/{name}"), vec![]).await;
        assert_eq!(status, 500, "{name}");
        assert_eq!(
            &body[..],
            br#"{"message":"Internal Server Error"}"#,
            "{name}: no backend or TLS text"
        );
    }
    // Nothing reached a backend in plain text.
    for b in [&expired, &wrong, &unknown] {
        assert!(b.drain("/x", Duration::from_millis(100)).await.is_empty());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = child.kill();
    let _ = child.wait();
    let lines = lines.join().unwrap();
    let reasons: Vec<String> = lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| {
            format!(
                "{} {}",
                v["backend"].as_str().unwrap(),
                v["reason"].as_str().unwrap()
            )
        })
        .collect();
    for (b, why) in [
        (&expired, "has expired"),
        (&wrong, "not for this host name"),
        (&unknown, "not a trusted CA"),
    ] {
        let host = format!("localhost:{}", b.addr.port());
        assert!(
            reasons
                .iter()
                .any(|r| r.starts_with(&host) && r.contains(why)),
            "{host}: {why} in {reasons:?}"
        );
    }
}

#[test]
fn https_urls_and_tls_files_are_checked_when_the_config_is_compiled() {
    let env = std::collections::HashMap::new();
    let p = pki();
    let ok = format!(
        "{}[stages.dev]\n[http.routes.\"GET /a\"]\nintegration = {{ type = \"aws_proxy\", uri = \"https://api.example.com/a\" }}\n\
         [authorizers.cognito]\ntype = \"jwt\"\nidentity_source = \"$request.header.Authorization\"\nissuer = \"https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc\"\naudience = [\"client\"]\nalgorithms = [\"RS256\"]\njwks_uri = \"https://cognito-idp.us-east-1.amazonaws.com/us-east-1_abc/.well-known/jwks.json\"\n",
        tls_section(&p.ca_file, None)
    );
    // Parsed, then its files loaded (`sockgate check`, start, reload).
    let load = |text: &str| {
        sockgate::config::Config::parse(text, &env).and_then(|c| sockgate::snapshot::check(&c))
    };
    load(&ok).expect("https backends and JWKS are accepted");
    let bad = "[integrations.tls]\nca_file = \"/nonexistent/ca.pem\"\n[stages.dev]\n";
    let e = load(bad).unwrap_err().to_string();
    assert!(e.contains("/nonexistent/ca.pem"), "{e}");
    let half = format!(
        "[integrations.tls]\nclient_cert_file = \"{}\"\n[stages.dev]\n",
        p.ca_file
    );
    let e = load(&half).unwrap_err().to_string();
    assert!(e.contains("go together"), "{e}");
}

/// A CA bundle rewritten in place is read again by a reload.
#[tokio::test]
async fn a_ca_file_rotated_in_place_takes_effect_at_a_reload() {
    let old = pki();
    let new = Ca::new("the CA after rotation");
    let backend =
        Backend::start_tls(pki::server_config(&new.server(&["localhost"], false), None)).await;
    backend.on(
        "/lambda",
        Behaviour::Body(r#"{"statusCode": 200, "body": "rotated"}"#.into()),
    );
    let toml = format!(
        "{}[stages.dev]\n[http.routes.\"GET /r\"]\nintegration = {{ type = \"aws_proxy\", uri = \"{}/lambda\" }}\n",
        tls_section(&old.ca_file, None),
        url(&backend)
    );
    let gw = Gw::start(&toml).await;
    let at = format!("http://{}/dev/r", gw.public);
    let get = || http("GET", &at, vec![]);
    assert_eq!(get().await.0, 500, "the backend's CA is not trusted yet");
    std::fs::write(&old.ca_file, new.pem()).unwrap();
    assert_eq!(
        get().await.0,
        500,
        "files are read at a reload, not per call"
    );
    let report = gw.reload_with(&toml);
    assert_eq!(report.outcome, "applied", "{:?}", report.errors);
    assert_eq!(get().await.0, 200);
}
