use super::*;

#[test]
fn addresses_read_as_display_writes_them() {
    for ip in [
        "0.0.0.0",
        "127.0.0.1",
        "10.20.30.40",
        "255.255.255.255",
        "192.168.100.9",
        "::1",
        "2001:db8::8a2e:370:7334",
    ] {
        let ip: IpAddr = ip.parse().unwrap();
        assert_eq!(text(ip), ip.to_string());
    }
    for n in 0..=255u8 {
        let ip = IpAddr::from([n, 0, 9, n]);
        assert_eq!(text(ip), ip.to_string());
    }
}

fn link(peer: &str) -> Link {
    Link::new(
        SocketAddr::new(peer.parse().unwrap(), 5000),
        8080,
        "http",
        1 << 20,
    )
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    h
}

fn get<'h>(h: &'h HeaderMap, name: &str) -> Vec<&'h str> {
    h.get_all(name)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect()
}

fn trusted(list: &[&str]) -> Vec<Cidr> {
    list.iter().map(|c| Cidr::parse(c).unwrap()).collect()
}

fn field<'c>(c: &'c Client, name: &str) -> &'c str {
    c.forwarded.get(name).unwrap()
}

#[test]
fn without_trusted_proxies_the_peer_is_the_client_and_its_fields_go() {
    let mut h = headers(&[
        ("x-forwarded-for", "6.6.6.6"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-port", "443"),
        ("x-forwarded-host", "evil"),
        ("forwarded", "for=6.6.6.6"),
        ("x-app", "kept"),
    ]);
    let c = forward(&[], &mut h, &link("192.0.2.1"), 1.0);
    assert_eq!((c.source_ip(), c.forwarded.proto), ("192.0.2.1", "http"));
    assert_eq!(field(&c, "x-forwarded-for"), "192.0.2.1");
    assert_eq!(field(&c, "x-forwarded-proto"), "http");
    assert_eq!(field(&c, "x-forwarded-port"), "8080");
    let left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
    assert_eq!(left, ["x-app"], "the client's forwarding fields are gone");
    // A peer that is not in the list is not believed either.
    let mut h = headers(&[("x-forwarded-for", "6.6.6.6")]);
    let c = forward(&trusted(&["10.0.0.0/8"]), &mut h, &link("192.0.2.1"), 1.0);
    assert_eq!(c.source_ip(), "192.0.2.1");
    assert_eq!(field(&c, "x-forwarded-for"), "192.0.2.1");
}

#[test]
fn trusted_hops_are_skipped_from_the_right() {
    let list = trusted(&["10.0.0.0/8", "2001:db8::/32"]);
    let cases = [
        // (X-Forwarded-For fields, client, forwarded chain)
        (
            vec!["6.6.6.6, 203.0.113.5"],
            "203.0.113.5",
            "203.0.113.5, 10.0.0.1",
        ),
        (
            vec!["6.6.6.6", "203.0.113.5, 10.0.0.2"],
            "203.0.113.5",
            "203.0.113.5, 10.0.0.2, 10.0.0.1",
        ),
        (
            vec!["10.0.0.3, 10.0.0.2"],
            "10.0.0.3",
            "10.0.0.3, 10.0.0.2, 10.0.0.1",
        ),
        (
            vec!["203.0.113.5, junk, 10.0.0.2"],
            "10.0.0.2",
            "10.0.0.2, 10.0.0.1",
        ),
        (
            vec!["[2001:db9::1]:443, 2001:db8::7"],
            "2001:db9::1",
            "2001:db9::1, 2001:db8::7, 10.0.0.1",
        ),
        (
            vec!["203.0.113.5:1234"],
            "203.0.113.5",
            "203.0.113.5, 10.0.0.1",
        ),
        (vec![], "10.0.0.1", "10.0.0.1"),
    ];
    for (xff, client, chain) in cases {
        let mut h = HeaderMap::new();
        for v in &xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        let c = forward(&list, &mut h, &link("10.0.0.1"), 1.0);
        assert_eq!(c.source_ip(), client, "{xff:?}");
        assert_eq!(field(&c, "x-forwarded-for"), chain, "{xff:?}");
        assert!(h.get("x-forwarded-for").is_none());
    }
}

#[test]
fn a_trusted_proxy_tells_the_scheme_and_port() {
    let list = trusted(&["10.0.0.1"]);
    let mut h = headers(&[
        ("x-forwarded-proto", "https"),
        ("x-forwarded-port", "443"),
        ("forwarded", "for=203.0.113.5"),
    ]);
    let c = forward(&list, &mut h, &link("10.0.0.1"), 1.0);
    assert_eq!(c.forwarded.proto, "https");
    assert_eq!(field(&c, "x-forwarded-port"), "443");
    assert_eq!(
        get(&h, "forwarded"),
        ["for=203.0.113.5"],
        "a trusted proxy's is kept"
    );
    let mut h = headers(&[("x-forwarded-proto", "gopher"), ("x-forwarded-port", "x")]);
    let c = forward(&list, &mut h, &link("10.0.0.1"), 1.0);
    assert_eq!(c.forwarded.proto, "http");
    assert_eq!(field(&c, "x-forwarded-port"), "8080");
}

#[test]
fn trace_ids_are_kept_when_well_formed_and_made_otherwise() {
    let good = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let mut h = headers(&[("x-amzn-trace-id", good)]);
    let c = forward(&[], &mut h, &link("192.0.2.1"), 1.0);
    assert_eq!(field(&c, "x-amzn-trace-id"), good);
    for bad in ["Root=1-xyz", "abc"] {
        let mut h = headers(&[("x-amzn-trace-id", bad)]);
        let c = forward(&[], &mut h, &link("192.0.2.1"), 1.0);
        let made = field(&c, "x-amzn-trace-id");
        assert!(
            made.starts_with("Root=1-") && made.len() == 40,
            "{bad} → {made}"
        );
        assert!(h.get("x-amzn-trace-id").is_none());
    }
}
