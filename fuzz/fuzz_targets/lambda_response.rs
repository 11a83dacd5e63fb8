//! The backend response decoder: whatever a backend answers.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockgate::integration::response::decode;

fuzz_target!(|data: &[u8]| {
    if let Ok(reply) = decode(data) {
        assert!((100..=599).contains(&reply.status));
    }
});
