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

fn encoded(req: Request<Bytes>) -> (String, Bytes) {
    let out = Outgoing::from_request(req).unwrap();
    (String::from_utf8(out.head.to_vec()).unwrap(), out.rest)
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
    let (text, rest) = encoded(req);
    assert_eq!(
        text,
        "POST /pets/1?x=1 HTTP/1.1\r\nhost: backend:8080\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\nhello"
    );
    assert!(rest.is_empty());
    // The request's own Host is kept; a bodiless GET says no length.
    let (text, _) = encoded(request(
        "GET",
        "http://backend:8080/",
        &[("host", "api.example")],
        b"",
    ));
    assert_eq!(text, "GET / HTTP/1.1\r\nhost: api.example\r\n\r\n");
    let (text, _) = encoded(request("PUT", "http://backend:8080/x", &[], b""));
    assert!(text.ends_with("content-length: 0\r\n\r\n"), "{text}");
}

#[test]
fn a_large_body_is_written_after_its_head() {
    static BIG: [u8; INLINE_BODY + 1] = [b'x'; INLINE_BODY + 1];
    let req = request("POST", "http://backend:8080/up", &[], &BIG);
    let len = BIG.len();
    let (text, rest) = encoded(req);
    assert!(text.ends_with(&format!("content-length: {len}\r\n\r\n")));
    assert_eq!(rest.len(), len);
}

#[test]
fn targets_split_into_authority_and_origin_form_and_unsafe_ones_are_refused() {
    let split = |u| {
        split_target(u).map(|(o, t)| (o.tls, o.authority.to_string(), o.port(), t.into_owned()))
    };
    assert_eq!(
        split("http://b:1/x?y=1"),
        Ok((false, "b:1".into(), 1, "/x?y=1".into()))
    );
    assert_eq!(split("http://b"), Ok((false, "b".into(), 80, "/".into())));
    assert_eq!(
        split("http://b:1?q"),
        Ok((false, "b:1".into(), 1, "/?q".into()))
    );
    assert_eq!(
        split("https://b/x"),
        Ok((true, "b".into(), 443, "/x".into()))
    );
    assert_eq!(
        split("https://b:8443"),
        Ok((true, "b:8443".into(), 8443, "/".into()))
    );
    assert_eq!(split("http:///x"), Err(BadTarget));
    assert_eq!(split("ftp://b/x"), Err(BadTarget));
    for bad in ["/a b", "/a\r\nx: y", "/a\u{7f}", "no-slash"] {
        assert!(Encoder::new(Method::GET, bad).is_err(), "{bad:?}");
    }
    assert!(Encoder::new(Method::GET, "/caf\u{e9}?q=%20").is_ok());
}
