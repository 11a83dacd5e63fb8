//! The config loader and its compile step: any text is either a config
//! that compiles or a list of errors.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env: HashMap<String, String> = HashMap::new();
    if let Err(errors) = sockgate::snapshot::parse(text, &env) {
        assert!(
            !errors.0.is_empty(),
            "a refused config names at least one error"
        );
    }
});
