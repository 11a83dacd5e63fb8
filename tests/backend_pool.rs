//! The backend connection pool against a real TCP backend that counts its
//! connections: kept alive and reused, replaced when the backend closes
//! them, never reused after an answer left unread, dropped after idling.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use sockgate::integration::pool::Pool;
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

/// A backend answering every request with `body`; returns its address and
/// the count of connections it accepted.
async fn backend(body: &'static str, after: After) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        loop {
            let (mut s, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut seen = Vec::new();
                loop {
                    let n = match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
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
                            return;
                        }
                        if let After::Close | After::CloseSaid = after {
                            return;
                        }
                    }
                }
            });
        }
    });
    (format!("http://{addr}"), accepted)
}

fn get(base: &str) -> http::Request<Full<Bytes>> {
    http::Request::get(format!("{base}/x?y=1"))
        .body(Full::new(Bytes::new()))
        .unwrap()
}

fn pool(idle: Duration) -> Pool {
    Pool::new(Duration::from_secs(2), idle, 16)
}

#[tokio::test]
async fn answers_read_to_their_end_give_their_connection_to_the_next_call() {
    let (base, accepted) = backend("hello", After::KeepAlive).await;
    let pool = pool(Duration::from_secs(60));
    for _ in 0..20 {
        let resp = pool.send(get(&base)).await.unwrap();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"hello");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 1, "one connection, reused");
}

#[tokio::test]
async fn a_connection_the_backend_closed_is_replaced_and_the_call_succeeds() {
    let (base, accepted) = backend("bye", After::Close).await;
    let pool = pool(Duration::from_secs(60));
    for _ in 0..5 {
        let resp = pool.send(get(&base)).await.unwrap();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"bye");
        // Let the pooled connection's task see the backend's close.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn an_answer_saying_connection_close_is_never_followed_on_its_connection() {
    let (base, accepted) = backend("last", After::CloseSaid).await;
    let pool = pool(Duration::from_secs(60));
    // Back to back, with no pause: the next call must not take the closing one.
    for _ in 0..10 {
        let resp = pool.send(get(&base)).await.unwrap();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"last");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 10);
}

#[tokio::test]
async fn an_answer_dropped_unread_takes_its_connection_with_it() {
    let (base, accepted) = backend("a longer body that nobody reads", After::KeepAlive).await;
    let pool = pool(Duration::from_secs(60));
    let resp = pool.send(get(&base)).await.unwrap();
    drop(resp);
    let resp = pool.send(get(&base)).await.unwrap();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"a longer body that nobody reads");
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn connections_idle_past_the_timeout_are_not_reused() {
    let (base, accepted) = backend("hi", After::KeepAlive).await;
    let pool = pool(Duration::from_millis(100));
    let resp = pool.send(get(&base)).await.unwrap();
    resp.into_body().collect().await.unwrap();
    tokio::time::sleep(Duration::from_millis(250)).await;
    pool.sweep();
    let resp = pool.send(get(&base)).await.unwrap();
    resp.into_body().collect().await.unwrap();
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_backend_that_is_not_there_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = pool(Duration::from_secs(1))
        .send(get(&format!("http://{addr}")))
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("cannot connect"), "{err}");
    let https = http::Request::get("https://example.com/")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let err = pool(Duration::from_secs(1)).send(https).await.unwrap_err();
    assert_eq!(err.to_string(), "the URI names no http:// host");
}
