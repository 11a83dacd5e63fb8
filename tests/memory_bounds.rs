//! Issue 10, part 1: a client that never reads cannot grow the gateway's memory
//! beyond the per-connection bound the README states as a formula of the config.
//!
//! Each kind of frame the gateway writes is tried from clients that keep sending
//! and never read — pongs, mock replies, backend replies, AWS's `Forbidden` and
//! `Internal server error` frames — against a real `sockgate` process, whose RSS
//! growth is checked against that formula. Then the client starts reading and
//! finds its connection alive and in order. A second test shows the connection
//! that stays over its bound is closed (1008) and its `$disconnect` delivered.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use sockgate::clock;

use support::process::{drain, rss_bytes, spawn, write_config};
use support::raw::{frame, handshake};
use support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Non-reading clients per kind of frame.
const CLIENTS: usize = 8;
/// How long each client keeps sending (it stops earlier once its writes block).
const SEND_FOR: Duration = Duration::from_secs(2);
/// A write that makes no progress this long means the gateway stopped reading.
const BLOCKED: Duration = Duration::from_millis(300);

const KIB: u64 = 1024;
// The config under test, and the README's formula evaluated for it.
const SEND_QUEUE_BYTES: u64 = 64 * KIB;
const MAX_INFLIGHT: u64 = 2;
const MAX_REPLY_BYTES: u64 = 128 * KIB;
const MAX_MESSAGE_BYTES: u64 = 32 * KIB;
const MAX_FRAME_BYTES: u64 = 32 * KIB;
const MAX_RESPONSE_BYTES: u64 = 256 * KIB;

/// The README's worst case for one connection ("Memory per connection"), term by
/// term; kernel socket buffers aside.
fn per_connection_bound() -> u64 {
    let queue = SEND_QUEUE_BYTES;
    let replies = (MAX_INFLIGHT + 1) * (MAX_REPLY_BYTES + 14);
    let read_side = MAX_MESSAGE_BYTES + MAX_FRAME_BYTES + KIB;
    let in_flight = MAX_INFLIGHT * (7 * MAX_MESSAGE_BYTES + 2 * MAX_RESPONSE_BYTES + 2 * KIB);
    let control_and_itself = KIB + 3 * KIB;
    queue + replies + read_side + in_flight + control_and_itself
}

/// Allowance for what is not per connection: allocator arenas and caches, the
/// runtime, hyper's pooled backend connections.
const PROCESS_SLACK: u64 = 16 << 20;

fn config(backend: &str, extra: &str) -> String {
    format!(
        r#"
[websocket]
route_selection_expression = "$request.body.action"
max_message_bytes = "{MAX_MESSAGE_BYTES}"
max_frame_bytes = "{MAX_FRAME_BYTES}"
send_queue_bytes = "{SEND_QUEUE_BYTES}"
max_inflight_per_connection = {MAX_INFLIGHT}
max_reply_bytes = "{MAX_REPLY_BYTES}"
ping_interval = "off"
idle_timeout = "off"
{extra}
[integrations]
max_response_bytes = "{MAX_RESPONSE_BYTES}"
[stages.prod]
[routes.echo]
route_response = true
integration = {{ type = "mock", body = "${{request.body}}" }}
[routes.reply]
route_response = true
integration = {{ type = "aws_proxy", uri = "{backend}/reply" }}
[routes.fail]
route_response = true
integration = {{ type = "aws_proxy", uri = "{backend}/fail" }}
[routes."$disconnect"]
integration = {{ type = "aws_proxy", uri = "{backend}/disconnect" }}
"#
    )
}

/// One kind of frame the gateway writes, and the client frame that causes it.
struct Kind {
    name: &'static str,
    cause: Vec<u8>,
}

/// Causes are padded so that what sits in TCP buffers when a client stops sending
/// is a few hundred messages, not hundreds of thousands: afterwards each client
/// reads the answers to all of them before its marker comes back.
fn kinds() -> Vec<Kind> {
    let pad = "p".repeat(30_000);
    let action = |a: &str| {
        frame(
            0x81,
            format!(r#"{{"action":"{a}","pad":"{pad}"}}"#).as_bytes(),
        )
    };
    vec![
        Kind {
            name: "pong",
            cause: frame(0x89, &[b'x'; 125]),
        },
        Kind {
            name: "mock reply",
            cause: action("echo"),
        },
        Kind {
            name: "backend reply",
            cause: action("reply"),
        },
        Kind {
            name: "Internal server error frame",
            cause: action("fail"),
        },
        Kind {
            name: "Forbidden frame",
            cause: frame(0x81, &[b'x'; 1000]),
        },
    ]
}

/// Connects with a raw handshake and reads exactly the 101 response.
async fn open(public: SocketAddr) -> TcpStream {
    let mut s = TcpStream::connect(public).await.unwrap();
    s.write_all(&handshake("prod")).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        tokio::time::timeout(PATIENCE, s.read_exact(&mut b))
            .await
            .expect("101 in time")
            .unwrap();
        head.push(b[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    s
}

/// Sends `cause` over and over without reading, until `SEND_FOR` passes or the
/// gateway stops reading; returns the socket and the unsent tail of a frame cut
/// short (empty if none), which must go out before anything else.
async fn flood(mut s: TcpStream, cause: Vec<u8>) -> (TcpStream, Vec<u8>) {
    let started = clock::now();
    let mut at = 0;
    while started.elapsed() < SEND_FOR {
        // A write that is cancelled by the timeout wrote nothing (tokio's `write`
        // is cancel-safe), so `at` stays exact.
        match tokio::time::timeout(BLOCKED, s.write(&cause[at..])).await {
            Ok(Ok(n)) => at = (at + n) % cause.len(),
            Ok(Err(e)) => panic!("the gateway dropped a flooding client: {e}"),
            Err(_) => break,
        }
    }
    let tail = if at == 0 {
        Vec::new()
    } else {
        cause[at..].to_vec()
    };
    (s, tail)
}

/// Starts reading (all of the backlog), finishes the cut frame, sends a marker
/// and waits for its echo: the connection is alive and in order. Returns the
/// socket, still open.
async fn recover(s: TcpStream, tail: Vec<u8>) -> TcpStream {
    let (mut rd, mut wr) = s.into_split();
    let reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        let mut chunk = vec![0u8; 1 << 16];
        loop {
            let n = tokio::time::timeout(PATIENCE, rd.read(&mut chunk))
                .await
                .expect("backlog drains in time")
                .unwrap();
            assert!(n > 0, "the gateway closed the connection");
            seen.extend_from_slice(&chunk[..n]);
            // The marker's echo is the last thing asked for; keep only a tail to search.
            if seen.windows(10).any(|w| w == b"END-MARKER") {
                return rd;
            }
            let keep = seen.len().saturating_sub(16);
            seen.drain(..keep);
        }
    });
    wr.write_all(&tail).await.unwrap();
    wr.write_all(&frame(0x81, br#"{"action":"echo","m":"END-MARKER"}"#))
        .await
        .unwrap();
    let rd = reader.await.unwrap();
    rd.reunite(wr).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn non_reading_clients_stay_within_the_stated_bound_for_every_frame_kind() {
    let backend = Backend::start().await;
    // 100 KB replies; the failing route answers HTTP 500 (an invocation failure).
    let big = "r".repeat(100_000);
    backend.on(
        "/reply",
        Behaviour::Body(format!(r#"{{"statusCode":200,"body":"{big}"}}"#)),
    );
    backend.on("/fail", Behaviour::Status(500, "boom".into()));
    let bound = per_connection_bound();
    for kind in kinds() {
        let path = write_config("bounds.toml", &config(&backend.url(), ""));
        let (mut child, public, _metrics, stderr) = spawn(&path);
        let logs = drain(stderr);
        let pid = child.id();
        let mut socks = Vec::new();
        for _ in 0..CLIENTS {
            socks.push(open(public).await);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let baseline = rss_bytes(pid);
        let sampler = tokio::spawn(async move {
            let mut peak = 0;
            for _ in 0..((SEND_FOR.as_millis() + 800) / 20) {
                peak = peak.max(rss_bytes(pid));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            peak
        });
        let floods: Vec<_> = socks
            .into_iter()
            .map(|s| tokio::spawn(flood(s, kind.cause.clone())))
            .collect();
        let mut flooded = Vec::new();
        for f in floods {
            flooded.push(f.await.unwrap());
        }
        let peak = sampler.await.unwrap();
        let growth = peak.saturating_sub(baseline);
        let allowed = CLIENTS as u64 * bound + PROCESS_SLACK;
        assert!(
            growth <= allowed,
            "{}: RSS grew {} KiB with {CLIENTS} non-reading clients; the stated bound allows {} KiB ({} KiB per connection)",
            kind.name,
            growth / KIB,
            allowed / KIB,
            bound / KIB
        );
        // Every flooding client was held back by TCP, not dropped, and recovers.
        eprintln!("{}: RSS grew {} KiB", kind.name, growth / KIB);
        for (s, tail) in flooded {
            drop(recover(s, tail).await);
        }
        let _ = child.kill();
        let _ = child.wait();
        let _ = logs.join();
    }
}

#[tokio::test]
async fn a_connection_over_its_bound_too_long_is_closed_1008_with_its_disconnect() {
    let backend = Backend::start().await;
    let gw = Gw::start(&config(&backend.url(), "slow_client_timeout = \"500ms\"")).await;
    let s = open(gw.public).await;
    let pad = "p".repeat(30_000);
    let cause = frame(
        0x81,
        format!(r#"{{"action":"echo","pad":"{pad}"}}"#).as_bytes(),
    );
    // Flood until the gateway stops reading; then keep not reading.
    let (_s, _tail) = flood(s, cause).await;
    let ev = backend.next("/disconnect").await.json();
    assert_eq!(ev["requestContext"]["disconnectStatusCode"], 1008);
    assert_eq!(ev["requestContext"]["disconnectReason"], "Client too slow");
    let text = gw.metrics_text().await;
    assert_eq!(
        metric(
            &text,
            "sockgate_disconnects_total",
            &["reason=\"slow_client\""]
        ),
        1.0
    );
}

#[tokio::test]
async fn a_slow_reader_that_catches_up_is_not_closed() {
    // Over the bound for less than slow_client_timeout, then reading again: the
    // connection stays, and every reply arrives.
    let backend = Backend::start().await;
    let gw = Gw::start(&config(&backend.url(), "slow_client_timeout = \"3s\"")).await;
    let s = open(gw.public).await;
    let pad = "p".repeat(30_000);
    let cause = frame(
        0x81,
        format!(r#"{{"action":"echo","pad":"{pad}"}}"#).as_bytes(),
    );
    let (s, tail) = flood(s, cause).await;
    let _open = recover(s, tail).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let text = gw.metrics_text().await;
    assert_eq!(
        metric(&text, "sockgate_connections_open", &["stage=\"prod\""]),
        1.0
    );
}

#[tokio::test]
async fn a_reply_over_max_reply_bytes_becomes_an_internal_server_error_frame() {
    let backend = Backend::start().await;
    let huge = "r".repeat(MAX_REPLY_BYTES as usize + 1);
    backend.on(
        "/reply",
        Behaviour::Body(format!(r#"{{"statusCode":200,"body":"{huge}"}}"#)),
    );
    let gw = Gw::start(&config(&backend.url(), "")).await;
    let mut ws = connect(&gw.url("prod")).await;
    send_text(&mut ws, r#"{"action":"reply"}"#).await;
    let frame = recv_json(&mut ws).await;
    assert_eq!(frame["message"], "Internal server error");
    // One byte less goes through.
    backend.on(
        "/reply",
        Behaviour::Body(format!(r#"{{"statusCode":200,"body":"{}"}}"#, &huge[1..])),
    );
    send_text(&mut ws, r#"{"action":"reply"}"#).await;
    assert_eq!(recv_text(&mut ws).await.len(), MAX_REPLY_BYTES as usize);
}
