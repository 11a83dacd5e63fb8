use super::*;

fn request(
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &'static [u8],
) -> Request<Bytes> {
    let mut b = Request::builder().method(method).uri(uri);
    for (n, v) in headers {
        b = b.header(*n, *v);
    }
    b.body(Bytes::from_static(body)).unwrap()
}

fn encoded(req: &Request<Bytes>) -> (String, Bytes) {
    let mut out = BytesMut::new();
    let rest = encode(req, "backend:8080", &mut out);
    (String::from_utf8(out.to_vec()).unwrap(), rest)
}

#[test]
fn a_request_is_written_in_origin_form_with_host_and_length() {
    let req = request(
        "POST",
        "http://backend:8080/pets/1?x=1",
        &[
            ("content-type", "text/plain"),
            ("content-length", "999"),
            ("transfer-encoding", "chunked"),
        ],
        b"hello",
    );
    let (text, rest) = encoded(&req);
    assert_eq!(
        text,
        "POST /pets/1?x=1 HTTP/1.1\r\nhost: backend:8080\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\nhello"
    );
    assert!(rest.is_empty());
    // The request's own Host is kept; a bodiless GET says no length.
    let (text, _) = encoded(&request(
        "GET",
        "http://backend:8080/",
        &[("host", "api.example")],
        b"",
    ));
    assert_eq!(text, "GET / HTTP/1.1\r\nhost: api.example\r\n\r\n");
    let (text, _) = encoded(&request("PUT", "http://backend:8080/x", &[], b""));
    assert!(text.ends_with("content-length: 0\r\n\r\n"), "{text}");
}

#[test]
fn a_large_body_is_written_after_its_head() {
    static BIG: [u8; INLINE_BODY + 1] = [b'x'; INLINE_BODY + 1];
    let req = request("POST", "http://backend:8080/up", &[], &BIG);
    let (text, rest) = encoded(&req);
    assert!(text.ends_with(&format!("content-length: {}\r\n\r\n", BIG.len())));
    assert_eq!(rest.len(), BIG.len());
}

fn parse(bytes: &[u8], method: Method) -> Result<Option<Head>, WireError> {
    parse_head(&mut BytesMut::from(bytes), &method)
}

#[test]
fn an_answer_head_is_parsed_with_its_framing_and_reuse() {
    let wire = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 3\r\nX-A: 1\r\nX-A: 2\r\n\r\nabc";
    let mut buf = BytesMut::from(&wire[..]);
    let head = parse_head(&mut buf, &Method::POST).unwrap().unwrap();
    assert_eq!(head.response.status(), StatusCode::CREATED);
    let values: Vec<_> = head.response.headers().get_all("x-a").iter().collect();
    assert_eq!(values, ["1", "2"]);
    assert_eq!(head.framing, Framing::Length(3));
    assert!(head.reusable);
    assert_eq!(&buf[..], b"abc", "the body stays in the buffer");

    let close = parse(
        b"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 0\r\n\r\n",
        Method::GET,
    );
    assert!(!close.unwrap().unwrap().reusable);
    let old = parse(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", Method::GET);
    assert!(!old.unwrap().unwrap().reusable, "HTTP/1.0 answers close");
    let head_req = parse(
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
        Method::HEAD,
    );
    assert_eq!(head_req.unwrap().unwrap().framing, Framing::Done);
    assert!(
        parse(b"HTTP/1.1 200 OK\r\nContent-Le", Method::GET)
            .unwrap()
            .is_none()
    );
}

#[test]
fn malformed_heads_are_refused() {
    let malformed =
        |bytes: &[u8]| matches!(parse(bytes, Method::GET), Err(WireError::Malformed(_)));
    assert!(malformed(b"garbage that is not http\r\n\r\n"));
    assert!(malformed(b"HTTP/1.1 101 Switching Protocols\r\n\r\n"));
    assert!(malformed(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n"
    ));
    let mut many = b"HTTP/1.1 200 OK\r\n".to_vec();
    for i in 0..=MAX_HEADERS {
        many.extend_from_slice(format!("x-{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert!(malformed(&many));
}
