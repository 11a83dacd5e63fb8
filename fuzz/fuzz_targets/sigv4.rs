//! SigV4 verification of arbitrary management requests: never a panic, and
//! never a pass without the secret.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockgate::sigv4::{AccessKey, HeadCheck, Signed, verify, verify_head};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let method = lines.next().unwrap_or("");
    let path = lines.next().unwrap_or("");
    let query = lines.next().unwrap_or("");
    let headers: Vec<(&str, &[u8])> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k, v.trim().as_bytes()))
        .collect();
    let keys = [AccessKey {
        id: "AKIDEXAMPLE".into(),
        secret: "a secret the fuzzer cannot know".into(),
    }];
    let req = Signed {
        method,
        path,
        query,
        headers: &headers,
        body: b"",
    };
    assert!(verify(&req, &keys, None, 300, 1_795_585_372).is_err());
    // Nor does the header-only check vouch for a signature it cannot know.
    assert!(!matches!(
        verify_head(&req, &keys, None, 300, 1_795_585_372),
        Ok(HeadCheck::Verified { .. })
    ));
});
