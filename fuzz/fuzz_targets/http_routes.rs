//! HTTP route lookup: any route keys (from config) and any method and path
//! (from clients). Every lookup must end, and a match must hand out one value
//! per parameter of the key it names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sockgate::routing::http::HttpRouter;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Last line: "METHOD path"; the lines before it: route keys.
    let mut lines: Vec<&str> = text.lines().collect();
    let Some(request) = lines.pop() else { return };
    let (method, path) = request.split_once(' ').unwrap_or(("GET", request));
    let keys = lines.iter().map(|k| (k.to_string(), ()));
    let router = match HttpRouter::new(keys) {
        Ok(r) => r,
        Err(_) => {
            // Keep the valid keys and go on: the lookup is what is fuzzed.
            let valid = lines
                .iter()
                .filter(|k| sockgate::routing::http::validate_key(k).is_ok());
            let mut seen = std::collections::HashSet::new();
            let unique = valid.filter(|k| seen.insert(**k)).map(|k| (k.to_string(), ()));
            match HttpRouter::new(unique) {
                Ok(r) => r,
                Err(_) => return,
            }
        }
    };
    if let Some(m) = router.find(method, path) {
        let declared = m.key.matches('{').count();
        assert_eq!(m.params.len(), declared, "{} for {path}", m.key);
    }
});
