use super::*;
use http::HeaderValue;
use rand::Rng as _;

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (n, v) in pairs {
        h.append(
            http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

/// Everything `framing` yields from `input` fed in pieces of `piece` bytes.
fn body(mut framing: Framing, input: &[u8], piece: usize) -> Result<Vec<u8>, Invalid> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut chunks = input.chunks(piece);
    loop {
        match framing.step(&mut buf, false)? {
            Step::Data(b) => out.extend_from_slice(&b),
            Step::End => return Ok(out),
            Step::More => match chunks.next() {
                Some(c) => buf.extend_from_slice(c),
                None => {
                    return match framing.step(&mut buf, true)? {
                        Step::End => Ok(out),
                        other => panic!("after eof: {other:?}"),
                    };
                }
            },
        }
    }
}

fn of(status: u16, head: bool, pairs: &[(&str, &str)]) -> Result<(Framing, bool), Invalid> {
    Framing::of(StatusCode::from_u16(status).unwrap(), head, &headers(pairs))
}

#[test]
fn the_framing_follows_rfc_9112() {
    let len = |n| Ok((Framing::Length(n), true));
    assert_eq!(of(200, false, &[("content-length", "5")]), len(5));
    assert_eq!(of(200, false, &[("content-length", "5, 5")]), len(5));
    assert_eq!(
        of(200, false, &[("content-length", "0")]),
        Ok((Framing::Done, true))
    );
    assert_eq!(
        of(200, true, &[("content-length", "5")]),
        Ok((Framing::Done, true))
    );
    assert_eq!(of(204, false, &[]), Ok((Framing::Done, true)));
    assert_eq!(
        of(304, false, &[("content-length", "9")]),
        Ok((Framing::Done, true))
    );
    assert_eq!(of(200, false, &[]), Ok((Framing::UntilClose, false)));
    let chunked = of(200, false, &[("transfer-encoding", "gzip, chunked")]);
    assert_eq!(chunked, Ok((Framing::Chunked(Chunk::Size), true)));
    // Both: chunked wins, and the connection is not trusted again.
    let both = of(
        200,
        false,
        &[("transfer-encoding", "chunked"), ("content-length", "3")],
    );
    assert_eq!(both, Ok((Framing::Chunked(Chunk::Size), false)));
    let not_chunked = of(200, false, &[("transfer-encoding", "gzip")]);
    assert_eq!(not_chunked, Ok((Framing::UntilClose, false)));
}

#[test]
fn conflicting_or_malformed_lengths_are_refused() {
    for bad in ["5, 6", "-1", "+5", "5x", "", "99999999999999999999999"] {
        assert_eq!(
            of(200, false, &[("content-length", bad)]),
            Err(BAD_LENGTH),
            "{bad:?}"
        );
    }
    let two = of(
        200,
        false,
        &[("content-length", "5"), ("content-length", "6")],
    );
    assert_eq!(two, Err(BAD_LENGTH));
}

#[test]
fn a_fixed_length_body_ends_at_its_length_however_it_arrives() {
    for piece in [1, 3, 100] {
        let got = body(Framing::Length(5), b"hello", piece).unwrap();
        assert_eq!(got, b"hello");
    }
    // Bytes past the length stay in the buffer (the caller drops the connection).
    let mut buf = BytesMut::from(&b"hi!extra"[..]);
    let mut f = Framing::Length(3);
    assert_eq!(
        f.step(&mut buf, false),
        Ok(Step::Data(Bytes::from_static(b"hi!")))
    );
    assert_eq!(f.step(&mut buf, false), Ok(Step::End));
    assert_eq!(&buf[..], b"extra");
    assert_eq!(body(Framing::Length(9), b"short", 2), Err(CUT_SHORT));
}

#[test]
fn a_chunked_body_is_decoded_in_any_split() {
    let wire =
        b"5;name=value\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nx-trailer: 1\r\n\r\n";
    for piece in [1, 2, 7, wire.len()] {
        let got = body(Framing::Chunked(Chunk::Size), wire, piece).unwrap();
        assert_eq!(got, b"helloabcdefghijklmnopqrstuvwxyz", "pieces of {piece}");
    }
    let bare_lf = b"3\nabc\r\n0\n\n";
    assert_eq!(
        body(Framing::Chunked(Chunk::Size), bare_lf, 1).unwrap(),
        b"abc"
    );
}

#[test]
fn malformed_or_endless_chunking_is_refused() {
    let chunked = || Framing::Chunked(Chunk::Size);
    let bad_size = Invalid("invalid chunk size");
    assert_eq!(body(chunked(), b"zz\r\n", 4), Err(bad_size));
    assert_eq!(
        body(chunked(), b"+5\r\nhello\r\n0\r\n\r\n", 4),
        Err(bad_size)
    );
    assert_eq!(body(chunked(), b"11111111111111111\r\n", 64), Err(bad_size));
    let no_crlf = body(chunked(), b"3\r\nabcX\r\n", 64);
    assert_eq!(no_crlf, Err(Invalid("a chunk did not end with CRLF")));
    let endless_line = vec![b'1'; MAX_LINE + 2];
    assert_eq!(body(chunked(), &endless_line, 64), Err(LONG_LINE));
    let mut endless_trailers = b"0\r\n".to_vec();
    for _ in 0..(MAX_TRAILERS / 8 + 2) {
        endless_trailers.extend_from_slice(b"x: 123\r\n");
    }
    assert_eq!(body(chunked(), &endless_trailers, 512), Err(LONG_LINE));
    assert_eq!(body(chunked(), b"5\r\nhel", 2), Err(CUT_SHORT));
}

#[test]
fn a_body_until_close_is_everything_before_the_close() {
    let got = body(Framing::UntilClose, b"all of it", 4).unwrap();
    assert_eq!(got, b"all of it");
}

/// `data` chunked into random pieces, with random extensions and trailers.
fn chunk_randomly(data: &[u8], rng: &mut impl rand::Rng) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let n = rng.random_range(1..=rest.len().min(300));
        out.extend_from_slice(format!("{n:x}").as_bytes());
        if rng.random_bool(0.3) {
            out.extend_from_slice(b";ext=\"v\"");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&rest[..n]);
        out.extend_from_slice(b"\r\n");
        rest = &rest[n..];
    }
    out.extend_from_slice(b"0\r\n");
    if rng.random_bool(0.5) {
        out.extend_from_slice(b"x-checksum: 1\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[test]
fn random_chunkings_read_in_random_pieces_give_back_the_body() {
    let mut rng = rand::rng();
    for _ in 0..300 {
        let len = rng.random_range(0..2000);
        let data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let wire = chunk_randomly(&data, &mut rng);
        let piece = rng.random_range(1..64);
        let got = body(Framing::Chunked(Chunk::Size), &wire, piece).unwrap();
        assert_eq!(got, data);
    }
}
