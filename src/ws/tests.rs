use super::*;

const LIMITS: Limits = Limits {
    max_frame: 70_000,
    max_message: 100_000,
};

/// A client frame: masked with a fixed key.
pub(super) fn client_frame(b0: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xFA, 0x21, 0x3D];
    let mut out = vec![b0];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

fn decode_all(d: &mut Decoder, mut buf: &[u8]) -> Result<Vec<Item>, DecodeError> {
    let mut items = Vec::new();
    while !buf.is_empty() {
        match d.decode(buf)? {
            Step::Need(n) => panic!("incomplete: need {n}, have {}", buf.len()),
            Step::Frame { consumed, item } => {
                buf = &buf[consumed..];
                items.extend(item);
            }
        }
    }
    Ok(items)
}

fn one(b0: u8, payload: &[u8]) -> Result<Vec<Item>, DecodeError> {
    decode_all(&mut Decoder::new(LIMITS), &client_frame(b0, payload))
}

#[test]
fn text_and_binary_of_every_length_encoding() {
    for n in [0, 1, 7, 8, 9, 125, 126, 127, 65_535, 65_536, 69_999] {
        let text = "x".repeat(n);
        assert_eq!(
            one(0x81, text.as_bytes()),
            Ok(vec![Item::Text(text)]),
            "{n}"
        );
        let bin: Vec<u8> = (0..n).map(|i| i as u8).collect();
        assert_eq!(one(0x82, &bin), Ok(vec![Item::Binary(bin)]), "{n}");
    }
}

#[test]
fn every_prefix_asks_for_more_and_nothing_is_consumed() {
    let frame = client_frame(0x81, "héllo, world".repeat(20).as_bytes());
    let mut d = Decoder::new(LIMITS);
    for cut in 0..frame.len() {
        match d.decode(&frame[..cut]) {
            Ok(Step::Need(n)) => assert!(n > cut && n <= frame.len(), "cut {cut}: need {n}"),
            other => panic!("cut {cut}: {other:?}"),
        }
    }
    assert!(matches!(
        d.decode(&frame),
        Ok(Step::Frame { consumed, item: Some(Item::Text(_)) }) if consumed == frame.len()
    ));
}

#[test]
fn fragments_reassemble_around_control_frames() {
    // "é" is split across two fragments: validity is judged on the whole message.
    let e = "é".as_bytes();
    let mut bytes = client_frame(0x01, &[b'a', e[0]]);
    bytes.extend(client_frame(0x89, b"ping!"));
    bytes.extend(client_frame(0x00, &[e[1], b'b']));
    bytes.extend(client_frame(0x8A, b""));
    bytes.extend(client_frame(0x80, b"c"));
    let items = decode_all(&mut Decoder::new(LIMITS), &bytes).unwrap();
    assert_eq!(
        items,
        vec![
            Item::Ping(b"ping!".to_vec()),
            Item::Pong,
            Item::Text("aébc".into())
        ]
    );
}

#[test]
fn protocol_violations() {
    let mut unmasked = client_frame(0x81, b"hi");
    unmasked[1] &= 0x7F;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unmasked", unmasked),
        ("rsv1 set", client_frame(0xC1, b"hi")),
        ("reserved data opcode", client_frame(0x83, b"")),
        ("reserved control opcode", client_frame(0x8B, b"")),
        ("fragmented ping", client_frame(0x09, b"")),
        ("oversized ping", client_frame(0x89, &[0; 126])),
        ("continuation first", client_frame(0x80, b"x")),
        ("one-byte close", client_frame(0x88, &[3])),
        (
            "reserved close code 1005",
            client_frame(0x88, &1005u16.to_be_bytes()),
        ),
        ("close code 999", client_frame(0x88, &999u16.to_be_bytes())),
        (
            "close code 2000",
            client_frame(0x88, &2000u16.to_be_bytes()),
        ),
    ];
    for (name, bytes) in cases {
        assert_eq!(
            Decoder::new(LIMITS).decode(&bytes),
            Err(DecodeError::Protocol),
            "{name}"
        );
    }
    // A new data frame while a fragmented message is open.
    let mut bytes = client_frame(0x01, b"a");
    bytes.extend(client_frame(0x81, b"b"));
    assert_eq!(
        decode_all(&mut Decoder::new(LIMITS), &bytes),
        Err(DecodeError::Protocol)
    );
    // A 64-bit length with its top bit set.
    let mut huge = vec![0x82, 0x80 | 127];
    huge.extend_from_slice(&u64::MAX.to_be_bytes());
    assert_eq!(
        Decoder::new(LIMITS).decode(&huge),
        Err(DecodeError::Protocol)
    );
}

#[test]
fn limits_are_enforced_from_the_header_alone() {
    // Only the header of a 70,001-byte frame: rejected before any payload arrives.
    let frame = client_frame(0x82, &vec![0; LIMITS.max_frame + 1]);
    assert_eq!(
        Decoder::new(LIMITS).decode(&frame[..14]),
        Err(DecodeError::TooBig)
    );
    // Fragments within the frame limit whose sum passes the message limit.
    let mut d = Decoder::new(LIMITS);
    let part = client_frame(0x02, &vec![0; 60_000]);
    assert!(matches!(
        d.decode(&part),
        Ok(Step::Frame { item: None, .. })
    ));
    let rest = client_frame(0x80, &vec![0; 40_001]);
    assert_eq!(d.decode(&rest[..14]), Err(DecodeError::TooBig));
}

#[test]
fn utf8_is_checked_for_text_and_close_reasons() {
    assert_eq!(one(0x81, &[0xC3]), Err(DecodeError::InvalidUtf8));
    let mut close = 1000u16.to_be_bytes().to_vec();
    close.push(0xFF);
    assert_eq!(one(0x88, &close), Err(DecodeError::InvalidUtf8));
    // Binary is not text.
    assert_eq!(one(0x82, &[0xFF]), Ok(vec![Item::Binary(vec![0xFF])]));
}

#[test]
fn close_frames() {
    assert_eq!(one(0x88, b""), Ok(vec![Item::Close(None)]));
    let mut payload = 4001u16.to_be_bytes().to_vec();
    payload.extend_from_slice("bye ✓".as_bytes());
    assert_eq!(
        one(0x88, &payload),
        Ok(vec![Item::Close(Some((4001, "bye ✓".into())))])
    );
}

#[test]
fn unmasking_matches_the_bytewise_definition_at_every_length_and_offset() {
    let key = [1, 2, 3, 4];
    for n in 0..40 {
        let payload: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
        let mut out = vec![9u8; n % 3]; // a prefix already present
        let prefix = out.clone();
        super::decode::append_unmasked(&mut out, &payload, key);
        let expect: Vec<u8> = prefix
            .into_iter()
            .chain(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]))
            .collect();
        assert_eq!(out, expect, "len {n}");
    }
}

#[test]
fn encoded_frames_have_minimal_headers() {
    for (n, header) in [(0, 2), (125, 2), (126, 4), (65_535, 4), (65_536, 10)] {
        let f = encode(OpCode::Binary, &vec![7; n]);
        assert_eq!(f.len(), header + n, "{n}");
        assert_eq!(f.as_bytes()[0], 0x82);
        assert!(f.is_data());
    }
    let t = Frame::text("hi");
    assert_eq!(&t.as_bytes()[..], b"\x81\x02hi");
    assert!(!encode(OpCode::Pong, b"").is_data());
}

#[test]
fn close_frames_fit_the_control_limit_on_a_char_boundary() {
    let f = close_frame(1001, &"é".repeat(100));
    let bytes = f.as_bytes();
    assert_eq!(bytes[0], 0x88);
    let len = bytes[1] as usize;
    assert!(len <= 125);
    assert_eq!(&bytes[2..4], &1001u16.to_be_bytes());
    assert!(std::str::from_utf8(&bytes[4..]).is_ok());
    assert_eq!(len, 2 + 122, "61 two-byte characters fit in 123 bytes");
}

#[test]
fn accept_key_matches_rfc_6455_example() {
    assert_eq!(
        accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}
