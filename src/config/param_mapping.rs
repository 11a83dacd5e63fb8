//! An HTTP route's `request_parameters` and `response_parameters`: each
//! mapping parsed (`routing::mapping`) and checked against its route's
//! parameters and integration kind.

use super::ParamMapping;
use super::reader::{Section, join};
use crate::routing::mapping::{self, MapVar, Mapping, Side, Target};

/// The kind of integration a route's mapping applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Calls {
    /// `aws_proxy`: the mapped request is what the event shows.
    Lambda,
    /// `http_proxy`: the mapped request is what the backend gets; its answer
    /// is streamed, so `$response.body` cannot be read.
    Proxy,
    /// `mock`: no request goes anywhere.
    Mock,
}

/// Most mappings per route and direction: each runs on every request, and
/// AWS's examples use a handful; 50 leaves room without letting a config make
/// a request do unbounded work.
const MAX_MAPPINGS: usize = 50;

/// `request_parameters` and `response_parameters` of an HTTP route: each key
/// and value parsed (`routing::mapping`) and checked against the route.
pub(super) fn read_mapping(s: &mut Section<'_>, key: &str, calls: Calls) -> ParamMapping {
    let params = crate::routing::http::key_params(key);
    let path = s.path().to_owned();
    let req_path = join(&path, "request_parameters");
    let errors = s.errors();
    let check = |m: &Mapping, at: &str| -> Result<(), String> {
        if calls == Calls::Mock && at == req_path {
            return Err("a mock route calls no backend; map its answer instead".into());
        }
        if m.target == Target::Path && calls != Calls::Proxy {
            return Err("overwrite:path applies to http_proxy integrations".into());
        }
        for v in m.value.vars() {
            match v {
                MapVar::PathParam(p) if !params.contains(p) => {
                    return Err(format!("{{{p}}} is not a parameter of the route"));
                }
                MapVar::ResponseBody(_) if calls == Calls::Proxy => {
                    return Err("an http_proxy answer is streamed; $response.body is for aws_proxy and mock routes".into());
                }
                _ => {}
            }
        }
        Ok(())
    };
    let read = |pairs: Vec<(String, String)>, at: &str, side: Side| -> Vec<Mapping> {
        if pairs.len() > MAX_MAPPINGS {
            errors.push(at, format!("at most {MAX_MAPPINGS} mappings"));
        }
        let mut out: Vec<Mapping> = pairs
            .into_iter()
            .filter_map(|(k, v)| {
                let parsed = mapping::parse(&k, &v, side).and_then(|m| check(&m, at).map(|()| m));
                parsed.map_err(|why| errors.push(join(at, &k), why)).ok()
            })
            .collect();
        out.sort_by_key(|m| m.action);
        out
    };
    let request = read(s.string_map("request_parameters"), &req_path, Side::Request);
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
        response.push((code, read(section.strings(), &at, Side::Response)));
    }
    ParamMapping { request, response }
}
