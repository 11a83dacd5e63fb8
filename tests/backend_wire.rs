//! The backend pool's HTTP/1.1 against a scripted TCP backend that answers
//! each request with given bytes (split into pieces with pauses between): every
//! way an answer's body can be framed (RFC 9112 §6.3), whether its connection
//! is used again, informational answers, malformed answers, and which requests
//! are sent again when a kept-alive connection turns out closed.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt as _;
use sockgate::clock;
use sockgate::config::ClientConfig;
use sockgate::integration::pool::Pool;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// What the backend does with one request.
#[derive(Clone)]
enum Act {
    /// Writes these pieces, pausing between them.
    Answer(Vec<&'static [u8]>),
    /// Answers so, then closes the connection.
    AnswerAndClose(Vec<&'static [u8]>),
    /// Closes the connection without answering.
    Hang,
}

/// A backend that plays `script` in order, one act per request, whatever
/// connection the request comes on; it counts connections accepted and
/// keeps every request head it read.
struct Backend {
    base: String,
    accepted: Arc<AtomicUsize>,
    heads: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Backend {
    async fn start(script: Vec<Act>) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let accepted = Arc::new(AtomicUsize::new(0));
        let heads = Arc::new(std::sync::Mutex::new(Vec::new()));
        let script = Arc::new(std::sync::Mutex::new(script.into_iter()));
        let (a, h) = (Arc::clone(&accepted), Arc::clone(&heads));
        tokio::spawn(async move {
            loop {
                let (s, _) = listener.accept().await.unwrap();
                a.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve(s, Arc::clone(&script), Arc::clone(&h)));
            }
        });
        Backend {
            base,
            accepted,
            heads,
        }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

type Script = Arc<std::sync::Mutex<std::vec::IntoIter<Act>>>;

async fn serve(mut s: TcpStream, script: Script, heads: Arc<std::sync::Mutex<Vec<String>>>) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") else {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
            continue;
        };
        let head: Vec<u8> = seen.drain(..end + 4).collect();
        heads
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&head).into_owned());
        let act = script.lock().unwrap().next();
        match act {
            Some(Act::Answer(pieces)) => {
                if !write(&mut s, pieces).await {
                    return;
                }
            }
            Some(Act::AnswerAndClose(pieces)) => {
                write(&mut s, pieces).await;
                return;
            }
            Some(Act::Hang) | None => return,
        }
    }
}

/// Writes `pieces` with pauses between; false when the client has gone.
async fn write(s: &mut TcpStream, pieces: Vec<&'static [u8]>) -> bool {
    for p in pieces {
        if s.write_all(p).await.is_err() {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

fn pool() -> Pool {
    Pool::new(&ClientConfig {
        max_inflight: 16,
        max_inflight_per_ip: 16,
        max_inflight_per_http_connection: 16,
        max_response_bytes: 1 << 20,
        connect_timeout: Duration::from_secs(2),
        pool_idle_timeout: Duration::from_secs(60),
        pool_max_idle_per_host: 16,
        tls: Default::default(),
        lambda: Default::default(),
    })
}

fn request(method: &str, base: &str) -> http::Request<Bytes> {
    http::Request::builder()
        .method(method)
        .uri(format!("{base}/x"))
        .body(Bytes::new())
        .unwrap()
}

/// One call: its status and body read whole.
async fn call(pool: &Pool, method: &str, base: &str) -> Result<(u16, Bytes), String> {
    let deadline = clock::now() + Duration::from_secs(5);
    let resp = pool
        .send(request(method, base), deadline, None)
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok((status, body.to_bytes()))
}

const OK_HELLO: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";

#[tokio::test]
async fn a_chunked_answer_arriving_in_pieces_is_read_whole_and_its_connection_reused() {
    let chunked = Act::Answer(vec![
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwi",
        b"ki\r\n5;ext=1\r\npedia\r\n",
        b"0\r\nx-trailer: t\r\n\r\n",
    ]);
    let b = Backend::start(vec![chunked, Act::Answer(vec![OK_HELLO])]).await;
    let pool = pool();
    assert_eq!(
        call(&pool, "GET", &b.base).await.unwrap(),
        (200, Bytes::from("wikipedia"))
    );
    assert_eq!(
        call(&pool, "GET", &b.base).await.unwrap(),
        (200, Bytes::from("hello"))
    );
    assert_eq!(b.accepted(), 1);
}

#[tokio::test]
async fn an_answer_with_both_length_and_chunking_is_read_by_its_chunks_and_its_connection_dropped()
{
    let both = Act::Answer(vec![
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
    ]);
    let b = Backend::start(vec![both, Act::Answer(vec![OK_HELLO])]).await;
    let pool = pool();
    let deadline = clock::now() + Duration::from_secs(5);
    let resp = pool
        .send(request("GET", &b.base), deadline, None)
        .await
        .unwrap();
    assert!(
        resp.headers().get("content-length").is_none(),
        "a Content-Length beside Transfer-Encoding is not passed on"
    );
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, Bytes::from("abc"));
    assert_eq!(
        call(&pool, "GET", &b.base).await.unwrap(),
        (200, Bytes::from("hello"))
    );
    assert_eq!(
        b.accepted(),
        2,
        "a smuggling-shaped answer's connection is not reused"
    );
}

#[tokio::test]
async fn answers_without_a_body_end_at_their_head() {
    let script = vec![
        // HEAD: the length is the GET's, no body follows.
        Act::Answer(vec![b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n"]),
        Act::Answer(vec![b"HTTP/1.1 204 No Content\r\n\r\n"]),
        Act::Answer(vec![
            b"HTTP/1.1 304 Not Modified\r\ncontent-length: 7\r\n\r\n",
        ]),
        Act::Answer(vec![OK_HELLO]),
    ];
    let b = Backend::start(script).await;
    let pool = pool();
    assert_eq!(
        call(&pool, "HEAD", &b.base).await.unwrap(),
        (200, Bytes::new())
    );
    assert_eq!(
        call(&pool, "GET", &b.base).await.unwrap(),
        (204, Bytes::new())
    );
    assert_eq!(
        call(&pool, "GET", &b.base).await.unwrap(),
        (304, Bytes::new())
    );
    assert_eq!(
        call(&pool, "GET", &b.base).await.unwrap(),
        (200, Bytes::from("hello"))
    );
    assert_eq!(b.accepted(), 1);
}

#[tokio::test]
async fn an_answer_without_a_length_ends_when_the_backend_closes() {
    let script = vec![
        Act::AnswerAndClose(vec![b"HTTP/1.1 200 OK\r\n\r\nuntil ", b"the end"]),
        Act::Answer(vec![OK_HELLO]),
    ];
    let b = Backend::start(script).await;
    let pool = pool();
    let (status, body) = call(&pool, "GET", &b.base).await.unwrap();
    assert_eq!((status, &body[..]), (200, &b"until the end"[..]));
    assert_eq!(
        call(&pool, "GET", &b.base).await.unwrap(),
        (200, Bytes::from("hello"))
    );
    assert_eq!(b.accepted(), 2);
}

#[tokio::test]
async fn informational_answers_are_skipped() {
    let script = vec![Act::Answer(vec![
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\n",
        OK_HELLO,
    ])];
    let b = Backend::start(script).await;
    assert_eq!(
        call(&pool(), "POST", &b.base).await.unwrap(),
        (200, Bytes::from("hello"))
    );
}

#[tokio::test]
async fn malformed_answers_fail_the_call_and_are_never_reused() {
    let script = vec![
        Act::Answer(vec![b"NOT HTTP AT ALL\r\n\r\n"]),
        Act::Answer(vec![b"HTTP/1.1 200 OK\r\ncontent-length: 1, 2\r\n\r\nx"]),
        Act::Answer(vec![
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n",
        ]),
        Act::Answer(vec![OK_HELLO]),
    ];
    let b = Backend::start(script).await;
    let pool = pool();
    let garbage = call(&pool, "GET", &b.base).await.unwrap_err();
    assert!(garbage.contains("malformed answer"), "{garbage}");
    let length = call(&pool, "GET", &b.base).await.unwrap_err();
    assert!(length.contains("Content-Length"), "{length}");
    let chunk = call(&pool, "GET", &b.base).await.unwrap_err();
    assert!(chunk.contains("chunk size"), "{chunk}");
    assert_eq!(
        call(&pool, "GET", &b.base).await.unwrap(),
        (200, Bytes::from("hello"))
    );
    assert_eq!(b.accepted(), 4);
}

#[tokio::test]
async fn a_kept_alive_connection_closed_unanswered_is_retried_for_idempotent_requests_only() {
    let script = vec![
        Act::Answer(vec![OK_HELLO]),
        // The backend reads the GET, then closes without a word: sent again.
        Act::Hang,
        Act::Answer(vec![OK_HELLO]),
        // It reads the POST, then closes: it may have acted on it.
        Act::Hang,
    ];
    let b = Backend::start(script).await;
    let pool = pool();
    assert_eq!(
        call(&pool, "GET", &b.base).await.unwrap(),
        (200, Bytes::from("hello"))
    );
    assert_eq!(
        call(&pool, "GET", &b.base).await.unwrap(),
        (200, Bytes::from("hello"))
    );
    assert_eq!(b.accepted(), 2);
    let post = call(&pool, "POST", &b.base).await.unwrap_err();
    assert!(post.contains("closed"), "{post}");
    assert_eq!(b.accepted(), 2, "the POST was not sent again");
    let heads = b.heads.lock().unwrap();
    assert_eq!(heads.len(), 4);
    assert!(heads[3].starts_with("POST /x HTTP/1.1\r\n"), "{}", heads[3]);
    assert!(heads[3].contains("content-length: 0\r\n"), "{}", heads[3]);
}

#[tokio::test]
async fn a_head_too_large_fails_the_call() {
    static HUGE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let huge = HUGE.get_or_init(|| {
        // Few fields, each long: the size bound, not the field count.
        let mut h = b"HTTP/1.1 200 OK\r\n".to_vec();
        while h.len() < 70 << 10 {
            h.extend_from_slice(b"x-filler: ");
            h.extend(std::iter::repeat_n(b'v', 8 << 10));
            h.extend_from_slice(b"\r\n");
        }
        h
    });
    let b = Backend::start(vec![Act::Answer(vec![&huge[..]])]).await;
    let err = call(&pool(), "GET", &b.base).await.unwrap_err();
    assert!(err.contains("head too large"), "{err}");
}

#[tokio::test]
async fn an_idle_connection_the_backend_closed_is_never_handed_to_a_request_that_cannot_be_retried()
{
    // The backend answers, then closes the connection while it idles. A POST
    // is not sent twice, so only the idle check keeps it off the dead
    // connection (a GET would be rescued by its retry and prove nothing).
    let script = vec![
        Act::AnswerAndClose(vec![OK_HELLO]),
        Act::Answer(vec![OK_HELLO]),
    ];
    let b = Backend::start(script).await;
    let pool = pool();
    assert_eq!(
        call(&pool, "GET", &b.base).await.unwrap(),
        (200, Bytes::from("hello"))
    );
    // Time for the close to reach the gateway's side.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        call(&pool, "POST", &b.base).await.unwrap(),
        (200, Bytes::from("hello"))
    );
    assert_eq!(b.accepted(), 2);
}
