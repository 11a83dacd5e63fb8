//! permessage-deflate against a second implementation (miniz_oxide): what
//! sockgate deflates, miniz inflates; what miniz deflates (with and without
//! context takeover, any level), sockgate inflates — and the limits and
//! negotiation rules of RFC 7692.

use miniz_oxide::MZFlush;
use miniz_oxide::deflate::core::{CompressorOxide, create_comp_flags_from_zip_params};
use miniz_oxide::inflate::stream::InflateState;
use rand::{Rng as _, SeedableRng as _};

use super::tests::client_frame as frame;
use super::*;

const TAIL: [u8; 4] = [0, 0, 0xFF, 0xFF];

/// A client's compressor: raw deflate, 15-bit window.
fn compressor(level: u8) -> Box<CompressorOxide> {
    Box::new(CompressorOxide::new(create_comp_flags_from_zip_params(
        level.into(),
        -15,
        0,
    )))
}

/// One message as a client sends it (§7.2.1): sync-flushed, tail removed.
fn client_deflate(c: &mut CompressorOxide, data: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; data.len() + 1024];
    let r = miniz_oxide::deflate::stream::deflate(c, data, &mut out, MZFlush::Sync);
    assert_eq!(r.bytes_consumed, data.len());
    out.truncate(r.bytes_written);
    assert!(out.ends_with(&TAIL));
    out.truncate(out.len() - 4);
    out
}

/// One message as a client inflates it (§7.2.2).
fn client_inflate(state: &mut InflateState, data: &[u8]) -> Vec<u8> {
    let input = [data, &TAIL].concat();
    let mut out = vec![0u8; 1 << 22];
    let r = miniz_oxide::inflate::stream::inflate(state, &input, &mut out, MZFlush::Sync);
    assert!(r.status.is_ok(), "{:?}", r.status);
    assert_eq!(r.bytes_consumed, input.len());
    out.truncate(r.bytes_written);
    out
}

fn decode_one(d: &mut Decoder, bytes: &[u8]) -> Result<Option<Item>, DecodeError> {
    let mut at = 0;
    let mut last = None;
    while at < bytes.len() {
        match d.decode(&bytes[at..])? {
            Step::Frame { consumed, item } => {
                at += consumed;
                last = item.or(last);
            }
            Step::Need(_) => panic!("incomplete input"),
        }
    }
    Ok(last)
}

const LIMITS: Limits = Limits {
    max_frame: 1 << 20,
    max_message: 1 << 20,
};

fn agreed(takeover: Option<u8>, server_window: u8) -> Deflate {
    Deflate {
        level: 1,
        min_bytes: 0,
        server_window,
        client_takeover: takeover,
    }
}

fn text(len: usize, rng: &mut impl rand::Rng) -> String {
    const WORDS: [&str; 6] = ["alpha", "beta", "{\"id\":", "42}", "δέλτα", " "];
    let mut s = String::new();
    while s.len() < len {
        s.push_str(WORDS[rng.random_range(0..WORDS.len())]);
    }
    s
}

#[test]
fn what_sockgate_sends_miniz_inflates_for_any_size_level_and_window() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7692);
    for round in 0..300 {
        let len = rng.random_range(0..70_000usize);
        let body = if round % 5 == 0 {
            (0..len).map(|_| rng.random::<u8>()).collect::<Vec<u8>>()
        } else {
            text(len, &mut rng).into_bytes()
        };
        let level = rng.random_range(1..=9u8);
        let window = rng.random_range(8..=15u8);
        let plain = Frame::binary(&body);
        let d = Deflate {
            level,
            ..agreed(None, window)
        };
        let out = Outgoing::from(plain.clone()).for_receiver(Some(&d));
        let b0 = out.as_bytes()[0];
        assert_eq!(b0 & 0x8F, 0x82, "FIN and opcode kept");
        if b0 & 0x40 == 0 {
            assert_eq!(out, plain, "sent plain when deflate does not help");
            continue;
        }
        assert!(out.len() < plain.len());
        // Inflated as a client with that window would. miniz keeps a 32 KiB
        // window whatever it is told, so the window itself is checked by
        // CPython's zlib in tests/compression.rs (server_max_window_bits=9).
        let mut state = InflateState::new_boxed_with_window_bits(-i32::from(window.max(9)));
        if window == 8 {
            assert!(
                body.len() <= 256,
                "no 256-byte window deflate for longer messages"
            );
        }
        assert_eq!(client_inflate(&mut state, out.payload()), body);
    }
}

#[test]
fn one_message_is_deflated_once_for_every_receiver() {
    let msg = Outgoing::from(Frame::text(&"hello, group ".repeat(50)));
    let d = agreed(None, 15);
    let a = msg.for_receiver(Some(&d));
    let b = msg.for_receiver(Some(&d));
    // The same allocation: deflated once, shared.
    assert_eq!(a.as_bytes().as_ptr(), b.as_bytes().as_ptr());
    assert_eq!(msg.for_receiver(None), *msg.plain());
    // Longer than the largest window: still one deflate for all.
    let long = Outgoing::from(Frame::text(&"x, y, z ".repeat(10_000)));
    let (f, g) = (long.for_receiver(Some(&d)), long.for_receiver(Some(&d)));
    assert_eq!(f.as_bytes().as_ptr(), g.as_bytes().as_ptr());
    // Receivers with a window smaller than the message share a deflate per
    // window too.
    let nine = agreed(None, 9);
    let (c, e) = (msg.for_receiver(Some(&nine)), msg.for_receiver(Some(&nine)));
    assert_eq!(c.as_bytes().as_ptr(), e.as_bytes().as_ptr());
    assert_ne!(c.as_bytes().as_ptr(), a.as_bytes().as_ptr());
    // Short messages and control frames go as they are.
    let short = Deflate {
        min_bytes: 10_000,
        ..d
    };
    assert_eq!(msg.for_receiver(Some(&short)), *msg.plain());
    let ping = Outgoing::from(encode(OpCode::Ping, &[b'x'; 100]));
    assert_eq!(ping.for_receiver(Some(&d)), *ping.plain());
}

#[test]
fn what_miniz_sends_sockgate_inflates_with_and_without_context_takeover() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    for takeover in [false, true] {
        let mut c = compressor(rng.random_range(1..=9));
        let deflate = agreed(takeover.then_some(15), 15);
        let mut d = Decoder::with_inflate(LIMITS, Inflate::agreed(Some(&deflate)));
        for _ in 0..60 {
            let body = text(rng.random_range(0..5_000), &mut rng);
            if !takeover {
                c.reset();
            }
            let wire = client_deflate(&mut c, body.as_bytes());
            // Sometimes split into fragments: RSV1 on the first only.
            let bytes = if wire.len() > 10 && rng.random_bool(0.5) {
                let cut = wire.len() / 2;
                [frame(0x41, &wire[..cut]), frame(0x80, &wire[cut..])].concat()
            } else {
                frame(0xC1, &wire)
            };
            assert_eq!(decode_one(&mut d, &bytes), Ok(Some(Item::Text(body))));
        }
    }
}

#[test]
fn a_client_that_keeps_context_cannot_be_read_without_it() {
    let mut c = compressor(6);
    let first = client_deflate(&mut c, "the same words again and again".as_bytes());
    let second = client_deflate(&mut c, "the same words again and again".as_bytes());
    let per_message = agreed(None, 15);
    let mut d = Decoder::with_inflate(LIMITS, Inflate::agreed(Some(&per_message)));
    assert!(decode_one(&mut d, &frame(0xC1, &first)).is_ok());
    // The second refers back into the first message: without its context,
    // inflating fails instead of producing wrong text.
    assert_eq!(
        decode_one(&mut d, &frame(0xC1, &second)),
        Err(DecodeError::Protocol)
    );
}

#[test]
fn the_limit_holds_for_the_inflated_size() {
    // 4 MiB of zeros deflate to about 4 KiB: one small frame.
    let mut c = compressor(9);
    let bomb = client_deflate(&mut c, &vec![0u8; 4 << 20]);
    assert!(bomb.len() < 8 << 10, "{}", bomb.len());
    let limits = Limits {
        max_frame: 32 << 10,
        max_message: 128 << 10,
    };
    let mut d = Decoder::with_inflate(limits, Inflate::agreed(Some(&agreed(None, 15))));
    assert_eq!(
        decode_one(&mut d, &frame(0xC2, &bomb)),
        Err(DecodeError::TooBig)
    );
    // Exactly at the limit is fine.
    let mut c = compressor(9);
    let full = client_deflate(&mut c, &vec![7u8; 128 << 10]);
    let mut d = Decoder::with_inflate(limits, Inflate::agreed(Some(&agreed(None, 15))));
    assert_eq!(
        decode_one(&mut d, &frame(0xC2, &full)),
        Ok(Some(Item::Binary(vec![7u8; 128 << 10])))
    );
}

#[test]
fn rsv1_is_refused_where_rfc_7692_forbids_it() {
    let mut c = compressor(1);
    let wire = client_deflate(&mut c, b"hello hello hello");
    // Not agreed.
    let mut d = Decoder::new(LIMITS);
    assert_eq!(d.decode(&frame(0xC1, &wire)), Err(DecodeError::Protocol));
    let on = || Decoder::with_inflate(LIMITS, Inflate::agreed(Some(&agreed(None, 15))));
    // On a control frame.
    assert_eq!(on().decode(&frame(0xC9, b"")), Err(DecodeError::Protocol));
    // On a continuation.
    let mut d = on();
    assert!(d.decode(&frame(0x41, &wire[..4])).is_ok());
    assert_eq!(
        d.decode(&frame(0xC0, &wire[4..])),
        Err(DecodeError::Protocol)
    );
    // RSV2 and RSV3 stay reserved.
    assert_eq!(on().decode(&frame(0xA1, b"x")), Err(DecodeError::Protocol));
    assert_eq!(on().decode(&frame(0x91, b"x")), Err(DecodeError::Protocol));
    // Data that is not deflate; invalid UTF-8 found after inflating.
    assert_eq!(
        decode_one(&mut on(), &frame(0xC1, &[0xFF; 16])),
        Err(DecodeError::Protocol)
    );
    // An empty compressed payload is an empty message (as zlib reads it).
    assert_eq!(
        decode_one(&mut on(), &frame(0xC2, &[])),
        Ok(Some(Item::Binary(Vec::new())))
    );
    // RFC 7692 §7.2.3.5's "Hello" in a final block, with the byte left of
    // the empty block its sender appended.
    assert_eq!(
        decode_one(
            &mut on(),
            &frame(0xC1, &[0xF3, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00, 0x00])
        ),
        Ok(Some(Item::Text("Hello".into())))
    );
    // And §7.2.3.1's, ended by a sync flush.
    assert_eq!(
        decode_one(
            &mut on(),
            &frame(0xC1, &[0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])
        ),
        Ok(Some(Item::Text("Hello".into())))
    );
    // A message cut inside a block (found by the ws_deflate fuzz target: zlib
    // alone would take it as an empty message).
    assert_eq!(
        decode_one(&mut on(), &frame(0xC2, &[0x35, 0x0A])),
        Err(DecodeError::Protocol)
    );
    let mut c = compressor(1);
    let bad = client_deflate(&mut c, &[0xC3, 0x28, b'a']);
    assert_eq!(
        decode_one(&mut on(), &frame(0xC1, &bad)),
        Err(DecodeError::InvalidUtf8)
    );
    // An uncompressed message is still fine on a compressed connection.
    assert_eq!(
        decode_one(&mut on(), &frame(0x81, b"plain")),
        Ok(Some(Item::Text("plain".into())))
    );
}

fn settings(context_takeover: bool, max_window_bits: u8) -> DeflateSettings {
    DeflateSettings {
        level: 1,
        min_bytes: 0,
        context_takeover,
        max_window_bits,
    }
}

fn answer(offers: &[&str], s: DeflateSettings) -> Option<(Deflate, String)> {
    negotiate(offers.iter().copied(), &s)
}

#[test]
fn negotiation_answers_what_browsers_and_libraries_offer() {
    let off = settings(false, 15);
    // Chrome, Firefox, Python websockets: `client_max_window_bits` without a value.
    let (d, a) = answer(&["permessage-deflate; client_max_window_bits"], off).unwrap();
    assert_eq!(
        a,
        "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
    );
    assert_eq!((d.server_window, d.client_takeover), (15, None));
    // Context takeover allowed, window capped at 12 bits.
    let (d, a) = answer(
        &["permessage-deflate; client_max_window_bits"],
        settings(true, 12),
    )
    .unwrap();
    assert_eq!(
        a,
        "permessage-deflate; server_no_context_takeover; client_max_window_bits=12"
    );
    assert_eq!(d.client_takeover, Some(12));
    // The client's own smaller value stands.
    let (d, _) = answer(
        &["permessage-deflate; client_max_window_bits=10"],
        settings(true, 12),
    )
    .unwrap();
    assert_eq!(d.client_takeover, Some(10));
    // No `client_max_window_bits` offered: a cap below 15 cannot be told, so
    // context takeover is declined.
    let (d, a) = answer(&["permessage-deflate"], settings(true, 12)).unwrap();
    assert_eq!(d.client_takeover, None);
    assert!(a.ends_with("client_no_context_takeover"), "{a}");
    let (d, a) = answer(&["permessage-deflate"], settings(true, 15)).unwrap();
    assert_eq!(
        (d.client_takeover, a.as_str()),
        (Some(15), "permessage-deflate; server_no_context_takeover")
    );
    // `server_max_window_bits` is accepted as offered (Autobahn 13.3-13.6).
    let (d, a) = answer(&["permessage-deflate; server_max_window_bits=8"], off).unwrap();
    assert_eq!(d.server_window, 8);
    assert!(a.ends_with("; server_max_window_bits=8"), "{a}");
}

#[test]
fn negotiation_declines_bad_offers_and_takes_the_next() {
    let off = settings(false, 15);
    for bad in [
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; client_max_window_bits=+9",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; server_max_window_bits=10; server_max_window_bits=11",
        "permessage-deflate; x-unknown",
    ] {
        assert_eq!(answer(&[bad], off), None, "{bad}");
        // The next offer, in the same header or the next one, is taken.
        let (d, _) = answer(
            &[&format!(
                "{bad}, permessage-deflate; server_max_window_bits=11"
            )],
            off,
        )
        .unwrap_or_else(|| panic!("{bad}"));
        assert_eq!(d.server_window, 11);
        assert!(answer(&[bad, "permessage-deflate"], off).is_some(), "{bad}");
    }
    // Quoted values (RFC 6455 §9.1), any case, other extensions skipped.
    let (d, _) = answer(
        &[r#"x-webkit-deflate-frame, foo; a="1, permessage-deflate", PerMessage-Deflate; Server_Max_Window_Bits="9""#],
        off,
    )
    .unwrap();
    assert_eq!(d.server_window, 9);
    assert_eq!(answer(&["x-webkit-deflate-frame", ""], off), None);
}
