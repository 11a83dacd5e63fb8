//! Path canonicalisation (`routing::path`): any request path a client sends.
//! The canonical form must be idempotent, have no dot segment and no empty
//! segment but a trailing one, and decoding it once — as nginx and most
//! backends do — must add no separator and no dot segment.
#![no_main]

use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode_str;
use sockgate::routing::path::canonical;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(c) = canonical(raw) else {
        return;
    };
    assert_eq!(canonical(&c).as_deref(), Ok(&*c), "{raw:?} is not idempotent");
    let decoded = percent_decode_str(&c)
        .decode_utf8()
        .expect("a canonical path decodes to UTF-8");
    assert_eq!(
        decoded.matches('/').count(),
        c.matches('/').count(),
        "{raw:?} → {c:?}: decoding adds a separator"
    );
    let segs: Vec<&str> = decoded.split('/').skip(1).collect();
    for (i, seg) in segs.iter().enumerate() {
        assert!(!matches!(*seg, "." | ".."), "{raw:?} → {c:?}: a dot segment");
        assert!(
            !seg.is_empty() || i + 1 == segs.len(),
            "{raw:?} → {c:?}: an empty segment"
        );
        assert!(!seg.contains('\\') && !seg.bytes().any(|b| b < 0x20 || b == 0x7f));
    }
});
