//! Issue 26, part 1: permessage-deflate (RFC 7692) end to end.
//!
//! The client side is never sockgate's own code: a raw client whose deflate is
//! miniz_oxide (`support::deflate`), and Python's `websockets` (CPython's
//! zlib, `compression_client.py`). The echo cases follow the Autobahn
//! testsuite's sections 12 (compressed echo of every size) and 13 (each
//! parameter offer), which need Python 2 and cannot run here.

mod support;

use std::process::Command;

use support::deflate;
use support::raw::{Raw, frame, handshake};
use support::*;

const CONFIG: &str = r#"
[websocket]
max_message_bytes = "1MiB"
max_frame_bytes = "1MiB"
max_reply_bytes = "2MiB"
send_queue_bytes = "64MiB"
binary_frames = "base64"
ping_interval = "off"
close_timeout = "500ms"
[websocket.compression]
enabled = true
min_bytes = 0
[stages.prod]
[stages.plain]
compression = { enabled = false }
[stages.keep]
compression = { context_takeover = true, max_window_bits = 12, min_bytes = 64 }
[routes."$default"]
route_response = true
integration = { type = "mock", body = "${request.body}" }
"#;

/// The deflate totals in `/metrics` are process-wide, and every test here
/// runs its gateway in this process: one test at a time, so a count is one
/// test's own.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const FIN: u8 = 0x80;
const RSV1: u8 = 0x40;
const TEXT: u8 = 0x1;

/// An upgrade for `/{stage}` that offers `extensions` (each its own header line).
fn offering(stage: &str, extensions: &[&str]) -> Vec<u8> {
    let mut h = String::from_utf8(handshake(stage)).unwrap();
    h.truncate(h.len() - 2);
    for e in extensions {
        h.push_str(&format!("Sec-WebSocket-Extensions: {e}\r\n"));
    }
    h.push_str("\r\n");
    h.into_bytes()
}

/// A connection to `/{stage}` that offered `extensions`, and the answer's
/// `Sec-WebSocket-Extensions`, if any.
async fn open(gw: &Gw, stage: &str, extensions: &[&str]) -> (Raw, Option<String>) {
    let (raw, head) = Raw::open_head(gw.public, &offering(stage, extensions)).await;
    let answer = head
        .lines()
        .find_map(|l| l.strip_prefix("sec-websocket-extensions: "))
        .map(str::to_owned);
    (raw, answer)
}

/// Text that deflates well, like a feed of JSON quotes.
fn quotes(len: usize, seed: usize) -> String {
    let mut s = String::new();
    let mut i = seed;
    while s.len() < len {
        s.push_str(&format!(
            r#"{{"symbol":"S{}","bid":{}.25}},"#,
            i % 17,
            i % 113
        ));
        i += 7;
    }
    s.truncate(len);
    s
}

/// Sends `msg` compressed and returns the reply's first byte and inflated text.
async fn echo_compressed(
    raw: &mut Raw,
    c: &mut miniz_oxide::deflate::core::CompressorOxide,
    inflater: &mut miniz_oxide::inflate::stream::InflateState,
    msg: &str,
) -> (u8, String) {
    let wire = deflate::deflate(c, msg.as_bytes());
    raw.send_chopped(&frame(FIN | RSV1 | TEXT, &wire), 16 << 10)
        .await;
    let (b0, payload) = raw.next().await;
    let body = if b0 & RSV1 != 0 {
        deflate::inflate(inflater, &payload)
    } else {
        payload
    };
    (b0, String::from_utf8(body).unwrap())
}

#[tokio::test]
async fn autobahn_12_compressed_echo_of_every_size() {
    // 12.1.1–12.1.11 (and 12.2–12.5 with other payloads): messages of 16 B to
    // 128 KiB, compressed both ways, with the offer Autobahn's client makes.
    let _serial = SERIAL.lock().await;
    let gw = Gw::start(CONFIG).await;
    let (mut raw, answer) =
        open(&gw, "prod", &["permessage-deflate; client_max_window_bits"]).await;
    assert_eq!(
        answer.as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
    );
    let mut c = deflate::compressor(6);
    let mut inflater = deflate::inflater();
    for (i, len) in [16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536, 131072]
        .into_iter()
        .enumerate()
    {
        for n in 0..10 {
            let msg = quotes(len, i * 10 + n);
            // No context takeover was agreed: every message stands alone.
            c.reset();
            let (b0, got) = echo_compressed(&mut raw, &mut c, &mut inflater, &msg).await;
            // Sent as it is only where deflate would not make it smaller.
            if len >= 64 {
                assert_eq!(b0, FIN | RSV1 | TEXT, "a compressed reply to {len} bytes");
            }
            assert!(got == msg, "echo of {len} bytes");
        }
    }
    // An uncompressed message on the same connection is still read; five
    // bytes do not shrink, so the reply goes uncompressed.
    raw.send_chopped(&frame(FIN | TEXT, b"plain"), 64).await;
    assert_eq!(raw.next_text().await, "plain");
}

#[tokio::test]
async fn autobahn_13_each_parameter_offer() {
    // 13.1–13.7: offers with and without context takeover and with each
    // window size; the reply is readable with exactly what was agreed.
    let _serial = SERIAL.lock().await;
    let gw = Gw::start(CONFIG).await;
    let cases: &[(&[&str], &str, u8)] = &[
        (&["permessage-deflate"], "", 15),
        (&["permessage-deflate; client_no_context_takeover"], "", 15),
        (
            &["permessage-deflate; server_max_window_bits=8"],
            "; server_max_window_bits=8",
            8,
        ),
        (
            &["permessage-deflate; server_max_window_bits=15"],
            "; server_max_window_bits=15",
            15,
        ),
        (
            &["permessage-deflate; server_no_context_takeover; server_max_window_bits=9"],
            "; server_max_window_bits=9",
            9,
        ),
        (
            // Several offers: the first is unacceptable, the second taken.
            &[
                "permessage-deflate; server_max_window_bits=20, permessage-deflate; server_max_window_bits=10",
                "permessage-deflate",
            ],
            "; server_max_window_bits=10",
            10,
        ),
    ];
    for (offers, tail, window) in cases {
        let (mut raw, answer) = open(&gw, "prod", offers).await;
        let expected = format!(
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover{tail}"
        );
        assert_eq!(answer, Some(expected), "{offers:?}");
        let mut c = deflate::compressor(1);
        let mut inflater = deflate::inflater();
        for len in [100, 250, 300, 600, 2000, 40_000] {
            c.reset();
            let msg = quotes(len, len);
            let (b0, got) = echo_compressed(&mut raw, &mut c, &mut inflater, &msg).await;
            assert!(got == msg, "{offers:?}: echo of {len}");
            if *window == 8 && len > 256 {
                // zlib has no 256-byte window: such messages go uncompressed.
                assert_eq!(b0, FIN | TEXT, "{offers:?}: {len} bytes");
            } else {
                assert_eq!(b0, FIN | RSV1 | TEXT, "{offers:?}: {len} bytes");
            }
        }
    }
}

#[tokio::test]
async fn a_client_keeping_its_context_is_read_across_messages() {
    let _serial = SERIAL.lock().await;
    let gw = Gw::start(CONFIG).await;
    let (raw, answer) = open(&gw, "keep", &["permessage-deflate"]).await;
    // Without `client_max_window_bits` in the offer the stage's 12-bit cap
    // cannot be told, so context takeover is declined.
    assert_eq!(
        answer.as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
    );
    drop(raw);
    let (mut raw, answer) =
        open(&gw, "keep", &["permessage-deflate; client_max_window_bits"]).await;
    assert_eq!(
        answer.as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_max_window_bits=12")
    );
    // miniz keeps a 32 KiB window; messages that repeat only the one before
    // (each under 2 KiB) stay within the agreed 4 KiB.
    let mut c = deflate::compressor(6);
    let mut inflater = deflate::inflater();
    for n in 0..50 {
        let msg = quotes(1500, n % 2);
        let (b0, got) = echo_compressed(&mut raw, &mut c, &mut inflater, &msg).await;
        assert!(got == msg, "message {n}");
        assert_eq!(b0 & RSV1, RSV1);
    }
    // Under the stage's `min_bytes` the reply goes as it is.
    let (b0, got) = echo_compressed(&mut raw, &mut c, &mut inflater, "short").await;
    assert_eq!((b0, got.as_str()), (FIN | TEXT, "short"));
}

#[tokio::test]
async fn limits_hold_after_inflation_and_rsv1_needs_agreement() {
    let _serial = SERIAL.lock().await;
    let gw = Gw::start(CONFIG).await;
    // 64 MiB of zeros in about 64 KiB: closed with 1009, never inflated past 1 MiB.
    let (mut raw, _) = open(&gw, "prod", &["permessage-deflate"]).await;
    let mut c = deflate::compressor(9);
    let bomb = deflate::deflate(&mut c, &vec![0u8; 64 << 20]);
    assert!(bomb.len() < 128 << 10, "{}", bomb.len());
    raw.send_chopped(&frame(FIN | RSV1 | 0x2, &bomb), 64 << 10)
        .await;
    assert_eq!(raw.close_code().await, 1009);
    // Bytes that are not deflate: 1002.
    let (mut raw, _) = open(&gw, "prod", &["permessage-deflate"]).await;
    raw.send_chopped(&frame(FIN | RSV1 | TEXT, &[0xFF; 32]), 64)
        .await;
    assert_eq!(raw.close_code().await, 1002);
    // A stage without compression answers no extension, and RSV1 is a
    // protocol error there.
    let (mut raw, answer) = open(&gw, "plain", &["permessage-deflate"]).await;
    assert_eq!(answer, None);
    let mut c = deflate::compressor(1);
    let wire = deflate::deflate(&mut c, b"hello hello hello");
    raw.send_chopped(&frame(FIN | RSV1 | TEXT, &wire), 64).await;
    assert_eq!(raw.close_code().await, 1002);
    // The gateway still serves.
    let (mut raw, _) = open(&gw, "prod", &[]).await;
    raw.send_chopped(&frame(FIN | TEXT, b"still here"), 64)
        .await;
    assert_eq!(raw.next_text().await, "still here");
}

#[tokio::test]
async fn a_broadcast_is_deflated_once_and_plain_receivers_get_it_plain() {
    let _serial = SERIAL.lock().await;
    let gw = Gw::start(CONFIG).await;
    let mut compressed = Vec::new();
    for _ in 0..20 {
        let (raw, _) = open(&gw, "prod", &["permessage-deflate; client_max_window_bits"]).await;
        compressed.push(raw);
    }
    let (mut plain, answer) = open(&gw, "prod", &[]).await;
    assert_eq!(answer, None);
    let msg = quotes(5000, 3);
    let deflated = |text: &str| {
        metric(
            text,
            "sockgate_deflate_messages_total",
            &["direction=\"out\""],
        )
    };
    let before = deflated(&gw.metrics_text().await);
    let (status, _, _) = http("POST", &gw.mgmt_url("/prod/@broadcast"), msg.clone().into()).await;
    assert_eq!(status, 200);
    let mut first: Option<Vec<u8>> = None;
    for raw in &mut compressed {
        let (b0, payload) = raw.next().await;
        assert_eq!(b0, FIN | RSV1 | TEXT);
        // The same bytes for every receiver: no context was taken over.
        match &first {
            None => first = Some(payload.clone()),
            Some(f) => assert!(*f == payload),
        }
        assert!(deflate::inflate(&mut deflate::inflater(), &payload) == msg.as_bytes());
    }
    assert!(first.unwrap().len() < msg.len() / 3);
    assert_eq!(plain.next_text().await, msg);
    // Deflated once for the 20 receivers, as `/metrics` counts it.
    let text = gw.metrics_text().await;
    assert_eq!(deflated(&text) - before, 1.0);
    let bytes = |form: &str| {
        let form = format!("form=\"{form}\"");
        metric(
            &text,
            "sockgate_deflate_bytes_total",
            &["direction=\"out\"", &form],
        )
    };
    assert!(bytes("compressed") * 3.0 < bytes("uncompressed"));
}

/// Runs `compression_client.py` (Python's websockets, CPython's zlib) against
/// `url`; returns what it printed.
fn python_client(url: &str, server_bits: Option<u8>) -> serde_json::Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/compression_client.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script).arg(url);
    if let Some(b) = server_bits {
        cmd.arg(b.to_string());
    }
    let out = cmd.output().expect("python3 runs");
    assert!(
        out.status.success(),
        "compression_client.py: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON line")
}

#[tokio::test(flavor = "multi_thread")]
async fn python_websockets_agrees_on_every_stage() {
    let _serial = SERIAL.lock().await;
    let gw = Gw::start(CONFIG).await;
    let cases: [(&str, Option<u8>, Option<&str>); 4] = [
        (
            "prod",
            None,
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover"),
        ),
        // CPython's zlib inflates with exactly the 9-bit window it asked for:
        // a reply deflated with a larger one would fail there.
        (
            "prod",
            Some(9),
            Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9",
            ),
        ),
        // The client keeps its context, with the 12-bit window the stage allows.
        (
            "keep",
            None,
            Some("permessage-deflate; server_no_context_takeover; client_max_window_bits=12"),
        ),
        ("plain", None, None),
    ];
    for (stage, bits, extensions) in cases {
        let url = gw.url(stage);
        let out = tokio::task::spawn_blocking(move || python_client(&url, bits))
            .await
            .unwrap();
        assert_eq!(out["extensions"].as_str(), extensions, "{stage} {bits:?}");
        assert_eq!(out["echoed"], 36, "{stage}");
    }
}
