use super::*;
use crate::routing::http::HttpRouter;
use crate::routing::uri::UriTemplate;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn canon(raw: &str) -> Result<String, PathError> {
    canonical(raw).map(Cow::into_owned)
}

#[test]
fn canonical_paths_are_borrowed() {
    for p in [
        "/",
        "/pets",
        "/pets/",
        "/a/b-c_d.e~f/!$&'()*+,=:@",
        "/.well-known/x",
        "/a/..b/c.",
    ] {
        assert!(matches!(canonical(p), Ok(Cow::Borrowed(_))), "{p}");
    }
}

#[test]
fn dot_segments_are_resolved_and_slashes_merged() {
    let cases = [
        ("/a/./b", "/a/b"),
        ("/a/../b", "/b"),
        ("/a/b/..", "/a/"),
        ("/a/b/.", "/a/b/"),
        ("/a/%2e/b", "/a/b"),
        ("/a/%2E%2e/b", "/b"),
        ("/a/.%2e/b", "/b"),
        ("/pub/../admin/x", "/admin/x"),
        ("//admin/x", "/admin/x"),
        ("/a//b///c", "/a/b/c"),
        ("/a//", "/a/"),
        ("//", "/"),
        ("/.", "/"),
        ("/a/..", "/"),
        ("/a/../", "/"),
        ("/%70ets/%41", "/pets/A"),
        ("/a%20b", "/a%20b"),
        ("/a%2520b", "/a%2520b"),
        ("/caf%c3%a9", "/caf%C3%A9"),
        ("/a;b", "/a%3Bb"),
        ("/admin;x/..;/y", "/admin%3Bx/..%3B/y"),
        ("/a{b}|c", "/a%7Bb%7D%7Cc"),
    ];
    for (raw, want) in cases {
        assert_eq!(canon(raw).as_deref(), Ok(want), "{raw}");
    }
}

#[test]
fn ambiguous_paths_are_refused() {
    let cases = [
        ("/..", PathError::AboveRoot),
        ("/a/../..", PathError::AboveRoot),
        ("/%2e%2e/x", PathError::AboveRoot),
        ("/files/..%2F..%2Fadmin%2Fx", PathError::EncodedSlash),
        ("/admin%2fx", PathError::EncodedSlash),
        ("/a\\b", PathError::Backslash),
        ("/a%5Cb", PathError::Backslash),
        ("/a%5c..%5cb", PathError::Backslash),
        ("/a%00b", PathError::Control),
        ("/a%0d%0aX: y", PathError::Control),
        ("/a%7f", PathError::Control),
        ("/a%", PathError::BadEscape),
        ("/a%2", PathError::BadEscape),
        ("/a%zz", PathError::BadEscape),
        ("/a%ff", PathError::NotUtf8),
        ("/a%c3", PathError::NotUtf8),
        ("a/b", PathError::NotAbsolute),
        ("*", PathError::NotAbsolute),
    ];
    for (raw, why) in cases {
        assert_eq!(canon(raw), Err(why), "{raw}");
    }
}

/// Percent-decodes all of `path` once, as a decoding backend (nginx) does.
fn decode_once(path: &str) -> String {
    percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned()
}

/// RFC 3986 §5.2.4, clamped at the root as the RFC does.
fn remove_dot_segments(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    let segs: Vec<&str> = path.split('/').skip(1).collect();
    for (i, s) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        match *s {
            "." => {
                if last {
                    out.push("");
                }
            }
            ".." => {
                out.pop();
                if last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

const PIECES: [&str; 24] = [
    "/", "/", "/", "a", "b", ".", "..", "%2e", "%2E", "%2f", "%5c", "\\", "%41", ";", "%25", "%",
    "~", "%00", "%C3%A9", "%ff", "//", "%252e", "admin", "%3B",
];

fn random_path(rng: &mut StdRng) -> String {
    let n = rng.random_range(0..12);
    let mut p = String::from("/");
    for _ in 0..n {
        p.push_str(PIECES[rng.random_range(0..PIECES.len())]);
    }
    p
}

/// For any path: the canonical form is canonical (idempotent), and neither
/// it nor its one-time decoding has a dot segment, an empty segment but the
/// last, or a separator that was not one in the canonical form.
#[test]
fn canonical_form_properties_hold_for_random_paths() {
    let mut rng = StdRng::seed_from_u64(21);
    let mut accepted = 0;
    for _ in 0..20_000 {
        let raw = random_path(&mut rng);
        let Ok(c) = canon(&raw) else { continue };
        accepted += 1;
        assert_eq!(canon(&c).as_deref(), Ok(c.as_str()), "{raw} → {c}");
        let decoded = decode_once(&c);
        assert_eq!(remove_dot_segments(&decoded), decoded, "{raw} → {c}");
        assert_eq!(
            decoded.matches('/').count(),
            c.matches('/').count(),
            "{raw} → {c}"
        );
        assert!(!decoded.contains("//"), "{raw} → {c}");
    }
    assert!(accepted > 2_000, "only {accepted} paths were accepted");
}

/// For any path, whatever route it matches: the backend path a template
/// fills, decoded once and with its dot segments removed (what nginx does
/// with it), still starts with the template's static prefix; and so does
/// `$default`'s appended path.
#[test]
fn filled_backend_paths_stay_under_their_prefix() {
    let routes = [
        ("ANY /files/{path+}", "http://b/store/{path}"),
        ("GET /pets/{id}", "http://b/pets/{id}/info"),
        ("GET /x/{a}/{b}", "http://b/deep/x{a}/{b}.json?k={a}"),
    ];
    let router = HttpRouter::new(routes.iter().map(|(k, u)| {
        let params = crate::routing::http::key_params(k);
        let params: Vec<&str> = params.iter().map(String::as_str).collect();
        let t = UriTemplate::parse(u, &params).unwrap();
        (k.to_string(), (t, crate::routing::http::greedy_param(k)))
    }))
    .unwrap();
    let mut rng = StdRng::seed_from_u64(22);
    let mut filled = 0;
    for _ in 0..20_000 {
        let prefix = ["/files/", "/pets/", "/x/", "/"][rng.random_range(0..4)];
        let raw = format!("{prefix}{}", &random_path(&mut rng)[1..]);
        let Ok(c) = canon(&raw) else { continue };
        let method = if rng.random_bool(0.5) { "GET" } else { "POST" };
        if let Some(m) = router.find(method, &c) {
            let (t, greedy) = m.route;
            let uri = t.render(&m.params, greedy.as_deref());
            let path = &uri["http://b".len()..];
            let path = &path[..path.find('?').unwrap_or(path.len())];
            let seen = remove_dot_segments(&decode_once(path));
            assert!(
                seen.starts_with(t.static_prefix()),
                "{raw} → {uri} → {seen}"
            );
            filled += 1;
        }
        // `$default` appends the canonical path to its base.
        let appended = format!("/base{c}");
        let seen = remove_dot_segments(&decode_once(&appended));
        assert!(seen.starts_with("/base/"), "{raw} → {appended} → {seen}");
    }
    assert!(filled > 1_000, "only {filled} paths were filled");
}

#[test]
fn values_that_could_add_segments_are_refused() {
    for bad in ["a/b", "..", ".", "a\\b", "a\nb", "\u{7f}"] {
        assert!(check_segment_value(bad).is_err(), "{bad:?}");
    }
    for ok in ["a", "...", "a.b", "%2e%2e", "é", "a b"] {
        assert_eq!(check_segment_value(ok), Ok(()), "{ok:?}");
    }
}
