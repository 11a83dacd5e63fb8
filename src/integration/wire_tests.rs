use super::*;

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
