//! `wss://` on the public listener: a real TLS handshake with rustls, then the
//! WebSocket protocol over it.

mod support;

use futures_util::{SinkExt, StreamExt};
use rustls_pki_types::ServerName;
use support::*;
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;

const CERT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/tls-cert.pem");
const CA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/tls-ca.pem");
const KEY: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/tls-key.pem");

fn config() -> String {
    format!(
        "[server]\ntls_cert_file = \"{CERT}\"\ntls_key_file = \"{KEY}\"\n[websocket]\nroute_selection_expression = \"$request.body.action\"\n[stages.prod]\n[routes.\"$default\"]\nroute_response = true\nintegration = {{ type = \"mock\", body = \"tls:${{request.body}}\" }}\n"
    )
}

fn connector() -> TlsConnector {
    connector_trusting(CA)
}

/// A TLS client that trusts only the CA in `ca_file`.
fn connector_trusting(ca_file: &str) -> TlsConnector {
    support::pki::connector(&std::fs::read_to_string(ca_file).unwrap())
}

#[tokio::test]
async fn wss_works_and_plain_ws_does_not() {
    let gw = Gw::start(&config()).await;
    let tcp = tokio::net::TcpStream::connect(gw.public).await.unwrap();
    let tls = connector()
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("TLS handshake with the configured certificate");
    let url = format!("wss://localhost:{}/prod", gw.public.port());
    let (mut ws, _) = tokio_tungstenite::client_async(url, tls)
        .await
        .expect("WebSocket over TLS");
    let next_text =
        async |ws: &mut tokio_tungstenite::WebSocketStream<_>| match tokio::time::timeout(
            PATIENCE,
            ws.next(),
        )
        .await
        {
            Ok(Some(Ok(Message::Text(t)))) => t.to_string(),
            other => panic!("expected a text message, got {other:?}"),
        };
    ws.send(Message::text("secret hello")).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "tls:secret hello");
    // The session runs on the TLS stream (no TCP fast path): large frames too.
    let big = "z".repeat(30_000);
    ws.send(Message::text(big.clone())).await.unwrap();
    assert_eq!(next_text(&mut ws).await.len(), big.len() + 4);

    // A client that does not speak TLS gets nowhere.
    let plain = tokio_tungstenite::connect_async(gw.url("prod")).await;
    assert!(plain.is_err());
}

#[test]
fn bad_certificate_files_are_config_errors() {
    use sockgate::config::Config;
    let env = std::collections::HashMap::new();
    let text = "[server]\ntls_cert_file = \"/nonexistent.pem\"\ntls_key_file = \"/nonexistent.key\"\n[stages.dev]\n";
    // Parsed, then loaded when compiled (`sockgate check`, start, reload).
    let config = Config::parse(text, &env).unwrap();
    let err = sockgate::snapshot::check(&config).unwrap_err().to_string();
    assert!(
        err.contains("server.tls_cert_file") && err.contains("/nonexistent.pem"),
        "{err}"
    );
    let half = "[server]\ntls_cert_file = \"/x.pem\"\n[stages.dev]\n";
    assert!(
        Config::parse(half, &env)
            .unwrap_err()
            .to_string()
            .contains("go together")
    );
    let swapped =
        format!("[server]\ntls_cert_file = \"{KEY}\"\ntls_key_file = \"{CERT}\"\n[stages.dev]\n");
    let config = Config::parse(&swapped, &env).unwrap();
    assert!(sockgate::snapshot::check(&config).is_err());
}

const CERT2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/tls2-cert.pem");
const CA2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/tls2-ca.pem");
const KEY2: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys/tls2-key.pem");

/// Whether a client trusting `ca_file` completes a TLS handshake with `gw`.
async fn handshake_with(gw: &Gw, ca_file: &str) -> bool {
    let tcp = tokio::net::TcpStream::connect(gw.public).await.unwrap();
    connector_trusting(ca_file)
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .is_ok()
}

#[tokio::test]
async fn a_reload_reads_a_rotated_certificate_at_the_same_paths() {
    // The files the config names, copied so the test can rotate them in place.
    let dir = std::env::temp_dir().join(format!("sockgate-tls-rotate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::copy(CERT, &cert).unwrap();
    std::fs::copy(KEY, &key).unwrap();
    let toml = config()
        .replace(CERT, cert.to_str().unwrap())
        .replace(KEY, key.to_str().unwrap());
    let gw = Gw::start(&toml).await;
    assert!(handshake_with(&gw, CA).await);
    assert!(!handshake_with(&gw, CA2).await);

    // Rotate: new certificate and key at the same paths, and reload (the
    // config text itself is unchanged).
    std::fs::copy(CERT2, &cert).unwrap();
    std::fs::copy(KEY2, &key).unwrap();
    let report = gw.gateway.reload();
    assert_eq!(report.outcome, "applied", "{report:?}");
    assert!(
        handshake_with(&gw, CA2).await,
        "new handshakes present the new certificate"
    );
    assert!(!handshake_with(&gw, CA).await);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `sockgate cert` makes what a local `wss://` listener needs: the lines it
/// prints serve, and a client trusting its `ca.pem` connects.
#[tokio::test]
async fn sockgate_cert_makes_a_listener_clients_trust_through_its_ca() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = std::env::temp_dir().join(format!("sockgate-cert-{}", std::process::id()));
    let cert = || {
        let out = std::process::Command::new(support::process::BIN)
            .args(["cert", "--dir"])
            .arg(&dir)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        String::from_utf8(out.stdout).unwrap()
    };
    let key_mode = || {
        std::fs::metadata(dir.join("key.pem"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    // A key an earlier run left readable is made private again.
    cert();
    let readable = std::fs::Permissions::from_mode(0o644);
    std::fs::set_permissions(dir.join("key.pem"), readable).unwrap();
    let server = cert();
    assert!(server.contains("tls_ca_file"), "{server}");
    assert_eq!(key_mode(), 0o600);
    let toml = format!(
        "{server}[stages.prod]\n[routes.\"$default\"]\nroute_response = true\nintegration = {{ type = \"mock\", body = \"ok\" }}\n"
    );
    let gw = Gw::start(&toml).await;
    let ca = std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    for name in ["localhost", "127.0.0.1"] {
        let tcp = tokio::net::TcpStream::connect(gw.public).await.unwrap();
        let server_name = ServerName::try_from(name.to_owned()).unwrap();
        let tls = support::pki::connector(&ca)
            .connect(server_name, tcp)
            .await
            .expect("the certificate verifies against ca.pem");
        let url = format!("wss://{name}:{}/prod", gw.public.port());
        let (mut ws, _) = tokio_tungstenite::client_async(url, tls).await.unwrap();
        ws.send(Message::text("x")).await.unwrap();
        let reply = tokio::time::timeout(PATIENCE, ws.next()).await;
        assert!(matches!(reply, Ok(Some(Ok(Message::Text(t)))) if t == "ok"));
    }
}
