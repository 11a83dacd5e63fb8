//! permessage-deflate, both directions, against miniz_oxide:
//!
//! - **Sending**: a message deflated by sockgate (any level, any window the
//!   client may ask for, shared or not) inflates with miniz_oxide to exactly
//!   the message, and is only sent compressed when that is smaller.
//! - **Receiving**: the fuzz input taken as a compressed message's payload is
//!   inflated by sockgate and by miniz_oxide with the same limit. Both accept
//!   it with the same bytes, or both refuse it; sockgate's refusal for a size
//!   past the limit is `TooBig` and miniz's is "output buffer full". Where
//!   they may differ is stated beside each check.
#![no_main]

use libfuzzer_sys::fuzz_target;
use miniz_oxide::MZFlush;
use miniz_oxide::inflate::stream::InflateState;
use sockgate::ws::{DecodeError, Decoder, Deflate, Frame, Inflate, Item, Limits, Outgoing, Step};

const TAIL: [u8; 4] = [0, 0, 0xFF, 0xFF];
const MAX: usize = 1 << 16;

fuzz_target!(|data: &[u8]| {
    let Some((&params, body)) = data.split_first() else {
        return;
    };
    sending(params, body);
    receiving(params, body);
});

fn sending(params: u8, body: &[u8]) {
    let d = Deflate {
        level: 1 + params % 9,
        min_bytes: 0,
        server_window: 8 + (params >> 4) % 8,
        client_takeover: None,
    };
    let plain = Frame::binary(body);
    let sent = Outgoing::from(plain.clone()).for_receiver(Some(&d));
    if sent.as_bytes()[0] & 0x40 == 0 {
        assert!(sent == plain);
        return;
    }
    assert!(sent.len() < plain.len());
    let mut state = InflateState::new_boxed(miniz_oxide::DataFormat::Raw);
    let (ok, out) = miniz(&mut state, sent.payload(), body.len() + 1);
    assert!(ok && out == body, "sockgate's deflate did not round-trip");
}

fn receiving(params: u8, payload: &[u8]) {
    let takeover = params & 1 == 1;
    let agreed = Deflate {
        level: 1,
        min_bytes: 0,
        server_window: 15,
        client_takeover: takeover.then_some(15),
    };
    let limits = Limits {
        max_frame: MAX * 2,
        max_message: MAX,
    };
    let mut d = Decoder::with_inflate(limits, Inflate::agreed(Some(&agreed)));
    let mut frame = vec![0xC2, 0xFF];
    frame.extend_from_slice(&(payload.len() as u64).to_be_bytes());
    frame.extend_from_slice(&[0; 4]);
    frame.extend_from_slice(payload);
    let ours = match d.decode(&frame) {
        Ok(Step::Frame { item: Some(Item::Binary(b)), .. }) => Ok(b),
        Ok(other) => panic!("a whole binary frame decoded as {other:?}"),
        Err(e) => Err(e),
    };
    let mut state = InflateState::new_boxed(miniz_oxide::DataFormat::Raw);
    let (ok, theirs) = miniz(&mut state, payload, MAX + 1);
    // miniz reads a distance that reaches before the stream's start as zeros,
    // where zlib (and so sockgate) refuses it. Such a message reads otherwise
    // after 32 KiB of other history: then sockgate must have refused it.
    let mut state = InflateState::new_boxed(miniz_oxide::DataFormat::Raw);
    let mut history = vec![0x00, 0x00, 0x80, 0xFF, 0x7F];
    history.extend_from_slice(&[0xA5; 0x8000]);
    let mut scratch = vec![0u8; 0x8000];
    let r = miniz_oxide::inflate::stream::inflate(&mut state, &history, &mut scratch, MZFlush::Sync);
    assert!(r.status.is_ok() && r.bytes_written == 0x8000);
    if miniz(&mut state, payload, MAX + 1) != (ok, theirs.clone()) {
        assert!(ours.is_err(), "sockgate read a message that refers before its start");
        return;
    }
    if takeover {
        // With context takeover the stream runs on into the next message, so
        // a message cut mid-block cannot be told from one that goes on (zlib
        // takes it, miniz refuses it early): only what miniz reads is compared.
        if ok && theirs.len() <= MAX {
            assert!(ours.as_ref() == Ok(&theirs), "sockgate read otherwise what miniz reads");
        }
        return;
    }
    match ours {
        Ok(b) => assert!(ok && b == theirs, "sockgate accepted what miniz reads otherwise"),
        Err(DecodeError::TooBig) => assert!(theirs.len() > MAX, "TooBig under the limit"),
        Err(_) => assert!(!ok || theirs.len() > MAX, "sockgate refused what miniz reads"),
    }
}

/// Inflates `payload` plus the tail with at most `room` bytes of output:
/// whether it was all consumed without error, and the output.
fn miniz(state: &mut InflateState, payload: &[u8], room: usize) -> (bool, Vec<u8>) {
    if payload.is_empty() {
        // sockgate reads an empty compressed payload as an empty message.
        return (true, Vec::new());
    }
    let input = [payload, &TAIL].concat();
    let mut out = vec![0u8; room];
    let r = miniz_oxide::inflate::stream::inflate(state, &input, &mut out, MZFlush::Sync);
    out.truncate(r.bytes_written);
    // A final block ends the message; whatever follows it is ignored (RFC
    // 7692 §7.2.3.5).
    if r.status == Ok(miniz_oxide::MZStatus::StreamEnd) {
        return (true, out);
    }
    if !r.status.is_ok() || r.bytes_consumed != input.len() {
        return (false, out);
    }
    // sockgate's rule (without context takeover): the message ends at a block
    // boundary, so a final empty block then ends the stream with no output.
    let mut rest = [0u8; 8];
    let r = miniz_oxide::inflate::stream::inflate(state, &[0x03, 0x00], &mut rest, MZFlush::Sync);
    let at_boundary = r.status == Ok(miniz_oxide::MZStatus::StreamEnd) && r.bytes_written == 0;
    (at_boundary, out)
}
