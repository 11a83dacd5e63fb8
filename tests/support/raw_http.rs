//! A raw HTTP/1.1 client: the request goes out byte for byte as written (no
//! client library normalises its target or its headers), the answer is read
//! to the connection's end.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// An answer: status, header fields (names lower-cased), body (de-chunked).
#[derive(Debug)]
pub struct RawAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawAnswer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `head` (the request line and fields, each line ending in CRLF,
/// without the blank line) with `Connection: close`, and reads the answer.
pub async fn send(addr: SocketAddr, head: &str) -> RawAnswer {
    let s = tokio::net::TcpStream::connect(addr).await.unwrap();
    exchange(s, head).await
}

/// [`send`] from the loopback source address `source` (127.0.0.2, …).
pub async fn send_from(source: &str, addr: SocketAddr, head: &str) -> RawAnswer {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let s = socket.connect(addr).await.unwrap();
    exchange(s, head).await
}

async fn exchange(mut s: tokio::net::TcpStream, head: &str) -> RawAnswer {
    let request = format!("{head}Connection: close\r\n\r\n");
    s.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(super::PATIENCE, s.read_to_end(&mut buf));
    read.await.expect("answer in time").ok();
    parse(&buf)
}

/// `GET target` with `Host: gw`.
pub async fn get(addr: SocketAddr, target: &str, extra: &str) -> RawAnswer {
    send(
        addr,
        &format!("GET {target} HTTP/1.1\r\nHost: gw\r\n{extra}"),
    )
    .await
}

fn parse(buf: &[u8]) -> RawAnswer {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return RawAnswer {
            status: 0,
            headers: Vec::new(),
            body: Vec::new(),
        };
    };
    let head = String::from_utf8_lossy(&buf[..end]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &buf[end + 4..];
    let chunked = headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_vec()
    };
    RawAnswer {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&rest[..eol]).unwrap_or("0");
        let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        let end = (start + size).min(rest.len());
        out.extend_from_slice(&rest[start..end]);
        rest = &rest[(end + 2).min(rest.len())..];
    }
    out
}
