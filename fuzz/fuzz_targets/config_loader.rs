//! The config loader: any text is either a config or a list of errors.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use sockgate::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let env: HashMap<String, String> = HashMap::new();
    if let Err(errors) = Config::parse(text, &env) {
        assert!(
            !errors.0.is_empty(),
            "a refused config names at least one error"
        );
    }
});
