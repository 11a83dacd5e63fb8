//! The WebSocket frame decoder: whatever a client sends, fed in arbitrary cuts.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockgate::ws::{Decoder, Limits, Step};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_frame: 4096,
        max_message: 8192,
    };
    let mut d = Decoder::new(limits);
    let mut rest = data;
    while !rest.is_empty() {
        match d.decode(rest) {
            Ok(Step::Frame { consumed, .. }) => {
                assert!(consumed > 0 && consumed <= rest.len());
                rest = &rest[consumed..];
            }
            Ok(Step::Need(n)) => {
                assert!(n > rest.len(), "asks for more than it has");
                return;
            }
            Err(_) => return,
        }
    }
});
