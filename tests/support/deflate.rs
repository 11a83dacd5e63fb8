//! A client's side of permessage-deflate, written with miniz_oxide (a second
//! implementation, not the zlib-rs sockgate uses): messages deflated as a
//! client sends them and inflated as a client reads them (RFC 7692 §7.2).

use miniz_oxide::MZFlush;
use miniz_oxide::deflate::core::{CompressorOxide, create_comp_flags_from_zip_params};
use miniz_oxide::inflate::stream::InflateState;

/// What a sync flush ends with, removed from each message on the wire.
const TAIL: [u8; 4] = [0, 0, 0xFF, 0xFF];

/// A client's compressor (raw deflate, 15-bit window); `reset` it between
/// messages for no context takeover.
pub fn compressor(level: u8) -> Box<CompressorOxide> {
    let flags = create_comp_flags_from_zip_params(level.into(), -15, 0);
    Box::new(CompressorOxide::new(flags))
}

/// One message as a client sends it: sync-flushed, its tail removed.
pub fn deflate(c: &mut CompressorOxide, data: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; data.len() + 1024];
    let r = miniz_oxide::deflate::stream::deflate(c, data, &mut out, MZFlush::Sync);
    assert_eq!(r.bytes_consumed, data.len());
    out.truncate(r.bytes_written);
    assert!(out.ends_with(&TAIL));
    out.truncate(out.len() - TAIL.len());
    out
}

/// A client's inflater (kept between messages: the server may not take over
/// context, but inflating with it is always correct).
pub fn inflater() -> Box<InflateState> {
    InflateState::new_boxed(miniz_oxide::DataFormat::Raw)
}

/// One message as a client inflates it.
pub fn inflate(state: &mut InflateState, data: &[u8]) -> Vec<u8> {
    let input = [data, &TAIL].concat();
    let mut out = vec![0u8; 1 << 24];
    let r = miniz_oxide::inflate::stream::inflate(state, &input, &mut out, MZFlush::Sync);
    assert!(r.status.is_ok(), "inflate: {:?}", r.status);
    assert_eq!(r.bytes_consumed, input.len());
    out.truncate(r.bytes_written);
    out
}
