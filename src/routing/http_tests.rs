//! Unit tests of HTTP route keys and precedence.

use super::*;

fn router(keys: &[&str]) -> HttpRouter<usize> {
    HttpRouter::new(keys.iter().enumerate().map(|(i, k)| (k.to_string(), i))).unwrap()
}

/// The key the request matched, or "404".
fn key<'r>(r: &'r HttpRouter<usize>, method: &str, path: &str) -> &'r str {
    r.find(method, path).map_or("404", |m| m.key)
}

fn params(r: &HttpRouter<usize>, method: &str, path: &str) -> Vec<(String, String)> {
    let m = r.find(method, path).expect("a route");
    m.params
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn keys_are_checked_as_aws_does() {
    for good in [
        "GET /",
        "GET /pets",
        "ANY /pets/{id}",
        "POST /api/{proxy+}",
        "ANY /{any+}",
        "PATCH /a.b/c-d/{x_1}",
        "$default",
    ] {
        assert_eq!(validate_key(good), Ok(()), "{good}");
    }
    let bad = [
        ("GET", KeyError::Shape),
        ("GET pets", KeyError::Shape),
        ("get /pets", KeyError::Method("get".into())),
        ("TRACE /pets", KeyError::Method("TRACE".into())),
        ("GET /pets/", KeyError::EmptySegment),
        ("GET //pets", KeyError::EmptySegment),
        ("GET /pets/x{id}", KeyError::BadParam("x{id}".into())),
        ("GET /pets/{}", KeyError::BadParam("{}".into())),
        ("GET /pets/{a b}", KeyError::BadParam("{a b}".into())),
        ("GET /{proxy+}/x", KeyError::GreedyNotLast),
        ("GET /{id}/{id}", KeyError::DuplicateParam("id".into())),
        ("$connect", KeyError::Shape),
    ];
    for (key, err) in bad {
        assert_eq!(validate_key(key), Err(err), "{key}");
    }
}

#[test]
fn every_error_is_reported_with_its_key_and_conflicts_name_the_other_route() {
    let keys = [
        "GET /pets/{id}",
        "GET /pets/{name}",
        "BAD /x",
        "GET /ok",
        "GET /ok",
    ];
    let errors = HttpRouter::new(keys.iter().map(|k| (k.to_string(), ()))).unwrap_err();
    assert_eq!(
        errors,
        vec![
            (
                "GET /pets/{name}".into(),
                KeyError::Conflict("GET /pets/{id}".into())
            ),
            ("BAD /x".into(), KeyError::Method("BAD".into())),
            ("GET /ok".into(), KeyError::Conflict("GET /ok".into())),
        ]
    );
    let text = KeyError::Conflict("GET /pets/{id}".into()).to_string();
    assert_eq!(text, "matches the same requests as `GET /pets/{id}`");
}

#[test]
fn static_segments_beat_parameters_and_the_method_decides_at_the_path() {
    let r = router(&[
        "GET /pets/dog/1",
        "GET /pets/dog/{id}",
        "POST /pets/{kind}/{id}",
        "GET /pets",
        "ANY /pets",
    ]);
    assert_eq!(key(&r, "GET", "/pets/dog/1"), "GET /pets/dog/1");
    assert_eq!(key(&r, "GET", "/pets/dog/2"), "GET /pets/dog/{id}");
    // No POST under /pets/dog: the parameter branch serves it.
    assert_eq!(key(&r, "POST", "/pets/dog/1"), "POST /pets/{kind}/{id}");
    // ANY serves only the methods the path does not define.
    assert_eq!(key(&r, "GET", "/pets"), "GET /pets");
    assert_eq!(key(&r, "POST", "/pets"), "ANY /pets");
    assert_eq!(key(&r, "DELETE", "/pets/dog/1"), "404");
}

#[test]
fn parameters_are_named_per_route_and_decoded() {
    let r = router(&["GET /pets/{id}", "GET /pets/{petId}/toys/{toy}"]);
    assert_eq!(params(&r, "GET", "/pets/7"), pairs(&[("id", "7")]));
    assert_eq!(
        params(&r, "GET", "/pets/a%20b/toys/ball%2Fred"),
        pairs(&[("petId", "a b"), ("toy", "ball/red")])
    );
    // Not UTF-8 once decoded: kept as sent.
    assert_eq!(params(&r, "GET", "/pets/%FF"), pairs(&[("id", "%FF")]));
    // Static segments are compared decoded.
    let r = router(&["GET /caf\u{e9}"]);
    assert_eq!(key(&r, "GET", "/caf%C3%A9"), "GET /caf\u{e9}");
}

#[test]
fn exact_matches_beat_greedy_routes_and_greedy_routes_beat_default() {
    let r = router(&[
        "GET /{p}/c",
        "ANY /a/{proxy+}",
        "ANY /{all+}",
        "GET /api/v1/{rest+}",
        "$default",
    ]);
    // AWS step 1 before step 2, even though /a is a static prefix.
    assert_eq!(key(&r, "GET", "/a/c"), "GET /{p}/c");
    assert_eq!(key(&r, "POST", "/a/c"), "ANY /a/{proxy+}");
    assert_eq!(
        params(&r, "POST", "/a/c/d%20e"),
        pairs(&[("proxy", "c/d e")])
    );
    // The longest prefix wins among greedy routes.
    assert_eq!(key(&r, "GET", "/api/v1/x/y"), "GET /api/v1/{rest+}");
    assert_eq!(key(&r, "POST", "/api/v1/x/y"), "ANY /{all+}");
    assert_eq!(
        params(&r, "POST", "/api/v1/x"),
        pairs(&[("all", "api/v1/x")])
    );
    // Nothing else matches the root: $default.
    assert_eq!(key(&r, "GET", "/"), "$default");
}

#[test]
fn greedy_parameters_and_parameters_need_a_value() {
    let r = router(&["GET /pets/{proxy+}", "GET /toys/{id}"]);
    assert_eq!(key(&r, "GET", "/pets"), "404");
    assert_eq!(key(&r, "GET", "/pets/"), "404");
    assert_eq!(key(&r, "GET", "/pets/x"), "GET /pets/{proxy+}");
    assert_eq!(key(&r, "GET", "/toys/"), "404");
    // A greedy value keeps inner slashes, empty segments included.
    assert_eq!(params(&r, "GET", "/pets//x/"), pairs(&[("proxy", "/x/")]));
}

#[test]
fn trailing_slashes_case_head_and_unknown_methods_follow_our_documented_rules() {
    let r = router(&["GET /pets", "GET /", "ANY /things", "$default"]);
    assert_eq!(key(&r, "GET", "/pets"), "GET /pets");
    assert_eq!(key(&r, "GET", "/pets/"), "$default");
    assert_eq!(key(&r, "GET", "/Pets"), "$default");
    assert_eq!(key(&r, "GET", "/"), "GET /");
    assert_eq!(key(&r, "HEAD", "/pets"), "$default");
    assert_eq!(key(&r, "HEAD", "/things"), "ANY /things");
    assert_eq!(key(&r, "TRACE", "/pets"), "404");
    assert_eq!(key(&r, "get", "/pets"), "404");
    assert_eq!(key(&r, "GET", "pets"), "404");
}

/// AWS's precedence written as a scan over every route — the rules of the
/// module doc read literally, slowly — to check the trie against.
fn oracle(keys: &[String], method: &str, path: &str) -> Option<String> {
    method_index(method)?;
    let rest = path.strip_prefix('/')?;
    let segs: Vec<&str> = if rest.is_empty() {
        vec![]
    } else {
        rest.split('/').collect()
    };
    // Lower ranks win: per segment 0 static, 1 parameter; 2 ends a greedy
    // route's prefix (so a deeper prefix ranks first); then ANY after a method.
    let mut best: Option<(bool, Vec<u8>, bool, &String)> = None;
    for key in keys.iter().filter(|k| k.as_str() != DEFAULT) {
        let (m, p) = key.split_once(' ').unwrap();
        if m != method && m != "ANY" {
            continue;
        }
        let mut route: Vec<&str> = p[1..].split('/').filter(|s| !s.is_empty()).collect();
        let greedy = route.last().is_some_and(|s| s.ends_with("+}"));
        if greedy {
            route.pop();
            if segs.len() <= route.len() || segs[route.len()..].join("/").is_empty() {
                continue;
            }
        } else if route.len() != segs.len() {
            continue;
        }
        let mut rank = Vec::new();
        for (r, s) in route.iter().zip(&segs) {
            if r.starts_with('{') && !s.is_empty() {
                rank.push(1);
            } else if *r == decode(s) {
                rank.push(0);
            } else {
                break;
            }
        }
        if rank.len() != route.len() {
            continue;
        }
        if greedy {
            rank.push(2);
        }
        let candidate = (greedy, rank, m == "ANY", key);
        if best.as_ref().is_none_or(|b| candidate < *b) {
            best = Some(candidate);
        }
    }
    best.map(|b| b.3.clone())
        .or_else(|| keys.iter().find(|k| k.as_str() == DEFAULT).cloned())
}

#[test]
fn the_trie_agrees_with_a_scan_of_every_route() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    let mut rng = StdRng::seed_from_u64(12);
    let pick = |rng: &mut StdRng, from: &[&'static str]| from[rng.random_range(0..from.len())];
    for _ in 0..3_000 {
        let mut keys: Vec<String> = (0..rng.random_range(1..12))
            .map(|_| {
                let mut key = format!("{} /", pick(&mut rng, &["GET", "POST", "ANY"]));
                let n = rng.random_range(0..4);
                let mut segs: Vec<String> = (0..n)
                    .map(|i| match pick(&mut rng, &["a", "b", "{p}"]) {
                        "{p}" => format!("{{p{i}}}"),
                        s => s.to_owned(),
                    })
                    .collect();
                if rng.random_bool(0.3) {
                    segs.push("{rest+}".into());
                }
                key.push_str(&segs.join("/"));
                key
            })
            .collect();
        if rng.random_bool(0.3) {
            keys.push(DEFAULT.into());
        }
        // Keep the keys the router accepts (conflicts dropped, as config would refuse them).
        let bad: Vec<String> = match HttpRouter::new(keys.iter().map(|k| (k.clone(), ()))) {
            Ok(_) => vec![],
            Err(errors) => errors.into_iter().map(|(k, _)| k).collect(),
        };
        keys.retain(|k| !bad.contains(k));
        keys.dedup();
        let Ok(router) = HttpRouter::new(keys.iter().map(|k| (k.clone(), ()))) else {
            continue;
        };
        for _ in 0..20 {
            let n = rng.random_range(0..5);
            let path: String = (0..n)
                .map(|_| format!("/{}", pick(&mut rng, &["a", "b", "c", "", "%61"])))
                .collect();
            let path = if path.is_empty() {
                "/".to_owned()
            } else {
                path
            };
            let method = pick(&mut rng, &["GET", "POST", "PUT"]);
            let got = router.find(method, &path).map(|m| m.key.to_owned());
            assert_eq!(
                got,
                oracle(&keys, method, &path),
                "{method} {path} in {keys:?}"
            );
        }
    }
}
