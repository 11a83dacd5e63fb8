//! An HTTP route's `request_parameters` and `response_parameters` as written:
//! `(key, value)` text, bounded in number, the answer's keyed by status code.
//! Each is parsed and checked against its route (the route's parameters, its
//! integration kind) when the snapshot is compiled (`snapshot::compile`).

use super::ParamMapping;
use super::reader::{Section, join};

/// Most mappings per route and direction: each runs on every request, and
/// AWS's examples use a handful; 50 leaves room without letting a config make
/// a request do unbounded work.
const MAX_MAPPINGS: usize = 50;

/// `request_parameters` and `response_parameters` of an HTTP route.
pub(super) fn read_mapping(s: &mut Section<'_>) -> ParamMapping {
    let errors = s.errors();
    let bounded = |pairs: Vec<(String, String)>, at: &str| {
        if pairs.len() > MAX_MAPPINGS {
            errors.push(at, format!("at most {MAX_MAPPINGS} mappings"));
        }
        pairs
    };
    let req_path = join(s.path(), "request_parameters");
    let request = bounded(s.string_map("request_parameters"), &req_path);
    let mut response = Vec::new();
    for (status, section) in s.entries("response_parameters") {
        let at = section.path().to_owned();
        let Some(code) = status
            .parse::<u16>()
            .ok()
            .filter(|c| (200..=599).contains(c))
        else {
            errors.push(at, "response mappings are keyed by a status code, 200-599");
            continue;
        };
        response.push((code, bounded(section.strings(), &at)));
    }
    ParamMapping { request, response }
}
