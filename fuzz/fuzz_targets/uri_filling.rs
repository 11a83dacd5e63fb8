//! Filling backend URIs (`routing::uri`, `routing::mapping`): any request
//! path, routed, filled into integration URIs (`{id}`, a greedy `{proxy+}`,
//! `$default`'s appended path) and into an `overwrite:path` with a value a
//! client chose. After one decoding and RFC 3986's `remove_dot_segments` —
//! what a normalising backend does — every filled path is still under the
//! prefix its template fixes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use percent_encoding::percent_decode_str;
use sockgate::routing::http::{HttpRouter, greedy_param, key_params};
use sockgate::routing::mapping::{self, MapScope, MapVar, Side};
use sockgate::routing::path::canonical;
use sockgate::routing::uri::UriTemplate;

const ROUTES: [(&str, &str); 4] = [
    ("ANY /files/{path+}", "http://b/store/{path}"),
    ("GET /pets/{id}", "http://b/pets/{id}/info"),
    ("GET /x/{a}/{b}", "http://b/deep/x{a}/{b}.json?k={a}"),
    ("POST /{t}/{rest+}", "http://b/t/{t}/r/{rest}"),
];

/// RFC 3986 §5.2.4, clamped at the root.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segs: Vec<&str> = path.split('/').skip(1).collect();
    for (i, s) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        match *s {
            "." | ".." => {
                if *s == ".." {
                    out.pop();
                }
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

fn seen(path: &str) -> String {
    let path = &path[..path.find('?').unwrap_or(path.len())];
    remove_dot_segments(&percent_decode_str(path).decode_utf8_lossy())
}

/// A mapping's view of one request: the client's header value, the path's
/// parameter.
struct Scope<'a> {
    header: &'a str,
    id: &'a str,
    path: &'a str,
}

impl MapScope for Scope<'_> {
    fn write(&self, var: &MapVar, out: &mut String) {
        match var {
            MapVar::RequestHeader(_) => out.push_str(self.header),
            MapVar::PathParam(_) => out.push_str(self.id),
            MapVar::RequestPath => out.push_str(self.path),
            _ => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (path, header) = text.split_once('\n').unwrap_or((text, ""));
    let router = HttpRouter::new(ROUTES.iter().map(|(k, u)| {
        let params = key_params(k);
        let params: Vec<&str> = params.iter().map(String::as_str).collect();
        let t = UriTemplate::parse(u, &params).expect("valid template");
        (k.to_string(), (t, greedy_param(k)))
    }))
    .expect("valid routes");
    let Ok(c) = canonical(path) else { return };
    for method in ["GET", "POST"] {
        if let Some(m) = router.find(method, &c) {
            let (t, greedy) = m.route;
            let uri = t.render(&m.params, greedy.as_deref());
            let filled = seen(&uri["http://b".len()..]);
            assert!(filled.starts_with(t.static_prefix()), "{path:?} → {uri} → {filled}");
        }
    }
    // `$default` appends the canonical path to its base.
    assert!(seen(&format!("/base{c}")).starts_with("/base/"), "{path:?}");
    // overwrite:path, with a client's header and the path's parameter in it.
    let value = "/v2/${request.header.x}/${request.path.id}";
    let m = mapping::parse("overwrite:path", value, Side::Request).expect("valid mapping");
    let id = c.rsplit('/').next().unwrap_or("");
    let id = percent_decode_str(id).decode_utf8_lossy();
    let scope = Scope { header, id: &id, path: &c };
    if let Ok(p) = m.value.render_path(&scope) {
        let filled = seen(&p);
        assert!(filled.starts_with("/v2/"), "{path:?} {header:?} → {p} → {filled}");
    }
});
