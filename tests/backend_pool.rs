//! The backend connection pool against a real TCP backend that counts the
//! connections it accepted and those the pool closed: kept alive and reused,
//! replaced when the backend closes them, never reused after an answer left
//! unread, closed after idling or beyond the idle bound, calls held to the
//! in-flight bound, and every wait cut off at the call's deadline.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use sockgate::clock::{self, Instant};
use sockgate::config::ClientConfig;
use sockgate::integration::pool::{Pool, SendError};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// How the backend treats each connection after its first answer.
#[derive(Clone, Copy)]
enum After {
    /// Keeps it open for more requests.
    KeepAlive,
    /// Closes it right after answering (without saying so).
    Close,
    /// Answers with `Connection: close`, then closes it.
    CloseSaid,
}

/// A backend answering every request with its body.
struct Backend {
    base: String,
    /// Connections accepted.
    accepted: Arc<AtomicUsize>,
    /// Connections the pool's side closed.
    closed: Arc<AtomicUsize>,
}

impl Backend {
    async fn start(body: &'static str, after: After) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let closed = Arc::new(AtomicUsize::new(0));
        let (a, c) = (Arc::clone(&accepted), Arc::clone(&closed));
        tokio::spawn(async move {
            loop {
                let (s, _) = listener.accept().await.unwrap();
                a.fetch_add(1, Ordering::SeqCst);
                let c = Arc::clone(&c);
                tokio::spawn(async move {
                    if !answer(s, body, after).await {
                        c.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        Backend {
            base,
            accepted,
            closed,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn closed(&self) -> usize {
        self.closed.load(Ordering::SeqCst)
    }
}

/// Answers the requests on one connection; false when the client closed it.
async fn answer(mut s: tokio::net::TcpStream, body: &str, after: After) -> bool {
    let mut buf = vec![0u8; 4096];
    let mut seen = Vec::new();
    loop {
        let n = match s.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        seen.extend_from_slice(&buf[..n]);
        while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
            seen.drain(..end + 4);
            let close = match after {
                After::CloseSaid => "connection: close\r\n",
                _ => "",
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\n{close}content-length: {}\r\n\r\n{body}",
                body.len()
            );
            if s.write_all(head.as_bytes()).await.is_err() {
                return false;
            }
            if let After::Close | After::CloseSaid = after {
                return true;
            }
        }
    }
}

fn get(base: &str) -> http::Request<Bytes> {
    http::Request::get(format!("{base}/x?y=1"))
        .body(Bytes::new())
        .unwrap()
}

/// A deadline no test should reach.
fn later() -> Instant {
    clock::now() + Duration::from_secs(10)
}

/// One call, its answer read whole.
async fn call(pool: &Pool, base: &str) -> Bytes {
    let resp = pool.send(get(base), later(), None).await.unwrap();
    resp.into_body().collect().await.unwrap().to_bytes()
}

fn pool_with(idle: Duration, max_inflight: usize) -> Pool {
    Pool::new(&ClientConfig {
        max_inflight,
        max_inflight_per_ip: max_inflight,
        max_inflight_per_http_connection: max_inflight,
        max_response_bytes: 1 << 20,
        connect_timeout: Duration::from_secs(2),
        pool_idle_timeout: idle,
        pool_max_idle_per_host: 16,
        tls: Default::default(),
        lambda: Default::default(),
    })
}

fn pool(idle: Duration) -> Pool {
    pool_with(idle, 64)
}

/// Waits (at most 2 s) for the backend to see `n` connections closed.
async fn closed_reaches(backend: &Backend, n: usize) {
    for _ in 0..200 {
        if backend.closed() >= n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(backend.closed(), n);
}

#[tokio::test]
async fn answers_read_to_their_end_give_their_connection_to_the_next_call() {
    let backend = Backend::start("hello", After::KeepAlive).await;
    let pool = pool(Duration::from_secs(60));
    for _ in 0..20 {
        assert_eq!(&call(&pool, &backend.base).await[..], b"hello");
    }
    assert_eq!(backend.accepted(), 1, "one connection, reused");
}

#[tokio::test]
async fn a_connection_the_backend_closed_is_replaced_and_the_call_succeeds() {
    let backend = Backend::start("bye", After::Close).await;
    let pool = pool(Duration::from_secs(60));
    for _ in 0..5 {
        assert_eq!(&call(&pool, &backend.base).await[..], b"bye");
        // Let the pooled connection's task see the backend's close.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(backend.accepted(), 5);
}

#[tokio::test]
async fn an_answer_saying_connection_close_is_never_followed_on_its_connection() {
    let backend = Backend::start("last", After::CloseSaid).await;
    let pool = pool(Duration::from_secs(60));
    // Back to back, with no pause: the next call must not take the closing one.
    for _ in 0..10 {
        assert_eq!(&call(&pool, &backend.base).await[..], b"last");
    }
    assert_eq!(backend.accepted(), 10);
}

#[tokio::test]
async fn an_answer_dropped_unread_takes_its_connection_with_it() {
    let body = "a longer body that nobody reads";
    let backend = Backend::start(body, After::KeepAlive).await;
    let pool = pool(Duration::from_secs(60));
    drop(pool.send(get(&backend.base), later(), None).await.unwrap());
    closed_reaches(&backend, 1).await;
    assert_eq!(&call(&pool, &backend.base).await[..], body.as_bytes());
    assert_eq!(backend.accepted(), 2);
}

#[tokio::test]
async fn the_sweep_closes_connections_idle_past_the_timeout() {
    let backend = Backend::start("hi", After::KeepAlive).await;
    let pool = pool(Duration::from_millis(100));
    call(&pool, &backend.base).await;
    pool.sweep();
    assert_eq!(backend.closed(), 0, "not idle long enough yet");
    tokio::time::sleep(Duration::from_millis(250)).await;
    pool.sweep();
    closed_reaches(&backend, 1).await;
    call(&pool, &backend.base).await;
    assert_eq!(backend.accepted(), 2);
}

#[tokio::test]
async fn calls_wait_for_an_in_flight_slot_and_idle_connections_stay_within_it() {
    let (a, b) = (
        Backend::start("a", After::KeepAlive).await,
        Backend::start("b", After::KeepAlive).await,
    );
    let pool = pool_with(Duration::from_secs(60), 1);
    // The one slot is held while an answer is unread.
    let held = pool.send(get(&a.base), later(), None).await.unwrap();
    let soon = clock::now() + Duration::from_millis(200);
    let waited = pool.send(get(&b.base), soon, None).await;
    assert!(
        matches!(waited, Err(SendError::Timeout)),
        "a second call waits while the slot is held, until its deadline"
    );
    assert!(clock::now() >= soon);
    held.into_body().collect().await.unwrap();
    assert_eq!(&call(&pool, &b.base).await[..], b"b");
    // One idle connection at most (a's): b's is closed when given back.
    closed_reaches(&b, 1).await;
    assert_eq!(a.closed(), 0);
    assert_eq!(&call(&pool, &a.base).await[..], b"a");
    assert_eq!(a.accepted(), 1, "a's idle connection was kept and reused");
}

#[tokio::test]
async fn a_backend_that_is_not_there_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = pool(Duration::from_secs(1))
        .send(get(&format!("http://{addr}")), later(), None)
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("cannot connect"), "{err}");
    let ftp = http::Request::get("ftp://example.com/")
        .body(Bytes::new())
        .unwrap();
    let err = pool(Duration::from_secs(1))
        .send(ftp, later(), None)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "the URI names no http:// or https:// host");
}

#[tokio::test]
async fn a_backend_that_never_answers_is_cut_off_at_the_deadline_and_not_reused() {
    // Reads requests, answers none.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let a = Arc::clone(&accepted);
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            a.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
            });
        }
    });
    let pool = pool(Duration::from_secs(60));
    for round in 1..=2 {
        let deadline = clock::now() + Duration::from_millis(300);
        let err = pool.send(get(&silent), deadline, None).await.unwrap_err();
        assert!(matches!(err, SendError::Timeout), "{err}");
        assert!(clock::now() >= deadline, "not before the deadline");
        assert!(
            clock::now() < deadline + Duration::from_secs(2),
            "soon after it"
        );
        // The connection that owes an answer is never handed to another call.
        assert_eq!(accepted.load(Ordering::SeqCst), round);
    }
    // The same pool still serves a backend that answers.
    let ok = Backend::start("ok", After::KeepAlive).await;
    assert_eq!(&call(&pool, &ok.base).await[..], b"ok");
}
