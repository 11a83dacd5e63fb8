//! A backend's answer body, as `integration::framing` cuts it: any bytes,
//! read in pieces of any size, as a chunked body, one of a fixed length, or
//! one that ends at the close. Every read must end, without a panic, and
//! never give out more bytes than came in.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use sockgate::integration::framing::{Chunk, Framing, Step};

fuzz_target!(|data: &[u8]| {
    let Some((&first, input)) = data.split_first() else {
        return;
    };
    let piece = usize::from(first % 32) + 1;
    let starts = [
        Framing::Chunked(Chunk::Size),
        Framing::Length(input.len() as u64 / 2),
        Framing::UntilClose,
    ];
    for mut framing in starts {
        let mut buf = BytesMut::new();
        let mut pieces = input.chunks(piece);
        let (mut given, mut eof) = (0usize, false);
        loop {
            match framing.step(&mut buf, eof) {
                Ok(Step::Data(b)) => {
                    given += b.len();
                    assert!(given <= input.len());
                }
                Ok(Step::End) | Err(_) => break,
                Ok(Step::More) => match pieces.next() {
                    Some(p) => buf.extend_from_slice(p),
                    None => {
                        assert!(!eof, "asked for more after the end");
                        eof = true;
                    }
                },
            }
        }
    }
});
