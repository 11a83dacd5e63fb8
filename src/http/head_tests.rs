use super::*;

fn head(target: &str, version: Version, hosts: &[&str]) -> (Uri, HeaderMap) {
    let uri: Uri = target.parse().unwrap();
    let mut h = HeaderMap::new();
    for v in hosts {
        h.append(header::HOST, HeaderValue::from_bytes(v.as_bytes()).unwrap());
    }
    let _ = version;
    (uri, h)
}

fn check(target: &str, version: Version, hosts: &[&str]) -> Result<(Uri, HeaderMap), HeadError> {
    let (mut uri, mut h) = head(target, version, hosts);
    sanitize(&mut uri, &mut h, version).map(|()| (uri, h))
}

#[test]
fn host_is_required_once_and_well_formed() {
    let v11 = Version::HTTP_11;
    assert!(check("/x", v11, &["gw.example.com"]).is_ok());
    assert!(check("/x", v11, &["gw.example.com:8080"]).is_ok());
    assert!(check("/x", v11, &["[::1]:8080"]).is_ok());
    assert!(check("/x", Version::HTTP_10, &[]).is_ok(), "1.0 needs none");
    for hosts in [
        &[][..],
        &["a", "b"],
        &["a", "a"],
        &[""],
        &[r#"gw", for=6.6.6.6;host="x"#],
        &["gw example"],
        &["user@gw"],
        &["gw:99999"],
        &["gw/x"],
        &["gw%41"],
    ] {
        assert_eq!(
            check("/x", v11, hosts).unwrap_err(),
            HeadError::Host,
            "{hosts:?}"
        );
    }
}

#[test]
fn the_target_authority_wins_or_must_agree() {
    // HTTP/1.1 absolute form: its authority replaces Host (RFC 9112 §3.2.2).
    let (_, h) = check("http://gw.example.com/x", Version::HTTP_11, &["other"]).unwrap();
    assert_eq!(h.get(header::HOST).unwrap(), "gw.example.com");
    // HTTP/2: :authority becomes host, and the two must agree.
    let (_, h) = check("http://gw.example.com/x", Version::HTTP_2, &[]).unwrap();
    assert_eq!(h.get(header::HOST).unwrap(), "gw.example.com");
    assert!(
        check(
            "http://GW.example.com/x",
            Version::HTTP_2,
            &["gw.example.com"]
        )
        .is_ok()
    );
    assert_eq!(
        check("http://gw.example.com/x", Version::HTTP_2, &["evil"]).unwrap_err(),
        HeadError::Host
    );
    assert_eq!(
        check("http://user@gw/x", Version::HTTP_2, &[]).unwrap_err(),
        HeadError::Host
    );
}

#[test]
fn the_path_becomes_canonical_and_the_query_stays() {
    let (uri, _) = check("/dev/pub/../admin//x?a=%2F..&b", Version::HTTP_11, &["gw"]).unwrap();
    assert_eq!(uri.path(), "/dev/admin/x");
    assert_eq!(uri.query(), Some("a=%2F..&b"));
    let (uri, _) = check("http://gw/a/%2e%2e/b", Version::HTTP_2, &[]).unwrap();
    assert_eq!(uri.to_string(), "http://gw/b");
    assert_eq!(
        check("/dev/files/..%2F..%2Fadmin", Version::HTTP_11, &["gw"]).unwrap_err(),
        HeadError::Path(PathError::EncodedSlash)
    );
    assert_eq!(
        check("*", Version::HTTP_11, &["gw"]).unwrap_err(),
        HeadError::Path(PathError::NotAbsolute)
    );
}

#[test]
fn the_gateways_own_fields_go_and_cookies_join() {
    let (mut uri, mut h) = head("/x", Version::HTTP_2, &["gw"]);
    h.insert(
        "x-sockgate-management-endpoint",
        HeaderValue::from_static("http://evil"),
    );
    h.insert(
        "X-Sockgate-Is-Canary-Request",
        HeaderValue::from_static("true"),
    );
    h.insert("x-sockgatex", HeaderValue::from_static("kept"));
    h.append(header::COOKIE, HeaderValue::from_static("a=1"));
    h.append(header::COOKIE, HeaderValue::from_static("b=2; c=3"));
    sanitize(&mut uri, &mut h, Version::HTTP_2).unwrap();
    assert!(h.keys().all(|k| !k.as_str().starts_with("x-sockgate-")));
    assert_eq!(h.get("x-sockgatex").unwrap(), "kept");
    let cookies: Vec<_> = h.get_all(header::COOKIE).iter().collect();
    assert_eq!(cookies, ["a=1; b=2; c=3"]);
}
