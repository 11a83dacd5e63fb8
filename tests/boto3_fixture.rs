//! Replays the exact bytes boto3's apigatewaymanagementapi client sends (recorded
//! in tests/fixtures/boto3-management-requests.json) against the management API,
//! and checks the answers are the ones boto3 accepts.

mod support;

use serde_json::Value;
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

/// Sends one recorded request as raw HTTP/1.1 (header names and order as boto3 wrote
/// them), with the fixture's stage and id replaced, and returns (status, headers, body).
async fn replay(mgmt: std::net::SocketAddr, req: &Value, path: &str) -> (u16, String, String) {
    let mut raw = format!("{} {path} HTTP/1.1\r\n", req["method"].as_str().unwrap());
    for (name, value) in req["headers"].as_object().unwrap() {
        raw.push_str(&format!("{name}: {}\r\n", value.as_str().unwrap()));
    }
    raw.push_str("Connection: close\r\n\r\n");
    raw.push_str(req["body"].as_str().unwrap());
    let mut s = tokio::net::TcpStream::connect(mgmt).await.unwrap();
    s.write_all(raw.as_bytes()).await.unwrap();
    let mut resp = String::new();
    tokio::time::timeout(PATIENCE, s.read_to_string(&mut resp))
        .await
        .expect("answer in time")
        .unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").expect("complete response");
    let status = head[9..12].parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_owned())
}

#[tokio::test]
async fn boto3_recorded_requests_get_the_answers_boto3_accepts() {
    let fixture = boto3_fixture();
    let requests = fixture["requests"].as_array().unwrap();
    assert_eq!(requests.len(), 4);

    let gw = Gw::start(&format!("[stages.prod]\n{WHOAMI_ROUTE}")).await;
    let (mut ws, id) = connected(&gw.url("prod")).await;
    let live = |path: &str| path.replace("abc123%3D%3D", &id.replace('=', "%3D"));

    // PostToConnection: 200 with an empty body; the client gets the bytes as text.
    let post = &requests[0];
    assert_eq!(post["path"], "/prod/@connections/abc123%3D%3D");
    let (status, _, body) = replay(gw.mgmt, post, &live(post["path"].as_str().unwrap())).await;
    assert_eq!((status, body.as_str()), (200, ""));
    assert_eq!(
        recv(&mut ws).await,
        Message::text(post["body"].as_str().unwrap())
    );

    // GetConnection: the JSON fields boto3's model reads.
    let get = &requests[1];
    let (status, head, body) = replay(gw.mgmt, get, &live(get["path"].as_str().unwrap())).await;
    assert_eq!(status, 200);
    assert!(head.contains("content-type: application/json"), "{head}");
    let v: Value = serde_json::from_str(&body).unwrap();
    let accepted = &fixture["responses_that_boto3_accepts"]["GetConnection"]["body"];
    for key in accepted.as_object().unwrap().keys() {
        assert!(v.get(key).is_some(), "missing {key} in {body}");
    }
    assert_eq!(v["identity"]["sourceIp"], "127.0.0.1");

    // DeleteConnection: 204, and the client is closed.
    let delete = &requests[2];
    let (status, _, _) = replay(gw.mgmt, delete, &live(delete["path"].as_str().unwrap())).await;
    assert_eq!(status, 204);
    assert_eq!(expect_close(&mut ws).await.0, 1000);

    // PostToConnection to an unknown id: 410 with the header that makes it a GoneException.
    let gone = &requests[3];
    let (status, head, _) = replay(gw.mgmt, gone, gone["path"].as_str().unwrap()).await;
    assert_eq!(status, 410);
    assert!(head.contains("x-amzn-errortype: goneexception"), "{head}");
    // And the fixture's own (never live) id is gone too, for every operation.
    for req in &requests[..3] {
        let (status, head, _) = replay(gw.mgmt, req, req["path"].as_str().unwrap()).await;
        assert_eq!(status, 410, "{}", req["method"]);
        assert!(head.contains("x-amzn-errortype: goneexception"));
    }
}

/// SigV4 verification against the signatures boto3 actually made.
#[test]
fn boto3_signatures_verify_with_the_right_secret_only() {
    use sockgate::sigv4::{AccessKey, SigError, Signed, verify};
    let fixture = boto3_fixture();
    let key = |secret: &str| AccessKey {
        id: fixture["signing"]["access_key_id"].as_str().unwrap().into(),
        secret: secret.into(),
    };
    let right = [key(fixture["signing"]["secret_access_key"]
        .as_str()
        .unwrap())];
    let wrong = [key("not-the-secret")];
    for req in fixture["requests"].as_array().unwrap() {
        let headers: Vec<(String, String)> = req["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let views: Vec<(&str, &[u8])> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_bytes()))
            .collect();
        let amz = req["headers"]["X-Amz-Date"].as_str().unwrap();
        let signed_at = sockgate::sigv4::parse_amz_date(amz).unwrap();
        let (method, path, body) = (
            req["method"].as_str().unwrap(),
            req["path"].as_str().unwrap(),
            req["body"].as_str().unwrap().as_bytes(),
        );
        let signed = Signed {
            method,
            path,
            query: "",
            headers: &views,
            body,
        };
        let region = Some("us-east-1");
        assert_eq!(
            verify(&signed, &right, region, 300, signed_at),
            Ok("AKIDEXAMPLE"),
            "{method} {path}"
        );
        assert_eq!(
            verify(&signed, &right, None, 300, signed_at + 299),
            Ok("AKIDEXAMPLE")
        );
        assert_eq!(
            verify(&signed, &wrong, region, 300, signed_at),
            Err(SigError::Mismatch)
        );
        assert_eq!(
            verify(&signed, &right, region, 300, signed_at + 301),
            Err(SigError::Stale)
        );
        assert_eq!(
            verify(&signed, &right, Some("eu-west-1"), 300, signed_at),
            Err(SigError::WrongScope)
        );
        let tampered_path = path.replace("prod", "dev");
        let t = Signed {
            path: &tampered_path,
            ..signed
        };
        assert_eq!(
            verify(&t, &right, region, 300, signed_at),
            Err(SigError::Mismatch)
        );
        let t = Signed {
            body: b"{\"evil\":1}",
            ..signed
        };
        assert_eq!(
            verify(&t, &right, region, 300, signed_at),
            Err(SigError::Mismatch)
        );
        let t = Signed {
            method: "PUT",
            ..signed
        };
        assert_eq!(
            verify(&t, &right, region, 300, signed_at),
            Err(SigError::Mismatch)
        );
    }
}

/// sockgate's own signer (what `sockgate reload` uses) makes the signature
/// boto3 made, given the headers boto3 signed.
#[test]
fn the_signer_reproduces_boto3_signatures() {
    use sockgate::sigv4::{AccessKey, Signed, sign};
    let fixture = boto3_fixture();
    let key = AccessKey {
        id: fixture["signing"]["access_key_id"].as_str().unwrap().into(),
        secret: fixture["signing"]["secret_access_key"]
            .as_str()
            .unwrap()
            .into(),
    };
    for req in fixture["requests"].as_array().unwrap() {
        let recorded = req["headers"]["Authorization"].as_str().unwrap();
        let signed_names: Vec<&str> = recorded
            .split("SignedHeaders=")
            .nth(1)
            .and_then(|rest| rest.split(',').next())
            .unwrap()
            .split(';')
            .collect();
        // Only the headers boto3 signed, as it sent them.
        let headers: Vec<(String, String)> = req["headers"]
            .as_object()
            .unwrap()
            .iter()
            .filter(|(k, _)| signed_names.contains(&k.to_ascii_lowercase().as_str()))
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
            .collect();
        let views: Vec<(&str, &[u8])> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_bytes()))
            .collect();
        let signed = Signed {
            method: req["method"].as_str().unwrap(),
            path: req["path"].as_str().unwrap(),
            query: "",
            headers: &views,
            body: req["body"].as_str().unwrap().as_bytes(),
        };
        let amz = req["headers"]["X-Amz-Date"].as_str().unwrap();
        assert_eq!(sign(&signed, &key, "us-east-1", amz), recorded);
    }
}
