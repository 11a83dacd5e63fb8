use super::*;

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap()
}

const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[test]
fn a_clients_traceparent_goes_on_with_the_gateways_span() {
    let t = Trace::from_client(Some(&hv(PARENT)), Some(hv("congo=t61rcWkgMzE")), None, 0.0);
    let tp = t.traceparent();
    assert!(
        tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{tp}"
    );
    assert!(tp.ends_with("-01"));
    assert_ne!(&tp[36..52], "00f067aa0ba902b7", "the gateway's own span");
    assert_eq!(t.tracestate(), Some("congo=t61rcWkgMzE"));
    // The same id in X-Ray's form.
    assert_eq!(t.amzn(), "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736");
    assert_eq!(t.root(), "1-4bf92f35-77b34da6a3ce929d0e0e4736");
    let (_, _, parent) = t.ids();
    assert_eq!(
        parent,
        Some([0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7])
    );
    assert!(t.sampled());
    let names: Vec<_> = t.headers().map(|(n, _)| n).collect();
    assert_eq!(names, ["x-amzn-trace-id", "traceparent", "tracestate"]);
    assert_eq!(
        t.event_headers().count(),
        3,
        "the client's pair goes on in events"
    );
    // Without one from the client, events have AWS's header only; backend
    // requests have both.
    let made = Trace::from_client(None, None, None, 1.0);
    let names: Vec<_> = made.event_headers().map(|(n, _)| n).collect();
    assert_eq!(names, ["x-amzn-trace-id"]);
    assert_eq!(made.headers().count(), 2);
}

#[test]
fn an_x_ray_header_goes_on_as_sent_and_gives_the_w3c_id() {
    let amzn = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let t = Trace::from_client(None, Some(hv("a=b")), Some(hv(amzn)), 0.0);
    assert_eq!(t.amzn(), amzn);
    assert!(
        t.traceparent()
            .starts_with("00-5759e988bd862e3fe1be46a994272793-")
    );
    assert!(t.traceparent().ends_with("-01"), "Sampled=1 carries over");
    assert_eq!(
        t.tracestate(),
        None,
        "tracestate goes only with its traceparent"
    );
    // Both, naming different traces: traceparent's wins, X-Ray's is remade.
    let t = Trace::from_client(Some(&hv(PARENT)), None, Some(hv(amzn)), 0.0);
    assert_eq!(t.root(), "1-4bf92f35-77b34da6a3ce929d0e0e4736");
    // Both naming the same trace: the X-Ray header is kept as sent.
    let same = "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Self=1-abc";
    let t = Trace::from_client(Some(&hv(PARENT)), None, Some(hv(same)), 0.0);
    assert_eq!(t.amzn(), same);
}

#[test]
fn malformed_context_is_dropped_and_a_new_trace_started() {
    for bad in [
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
        "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ] {
        let t = Trace::from_client(Some(&hv(bad)), Some(hv("a=b")), None, 1.0);
        assert!(!t.traceparent().contains("4bf92f3577b34da6"), "{bad}");
        assert_eq!(t.tracestate(), None, "{bad}");
        assert_eq!(t.ids().2, None);
    }
    // A later version is read as 00, its extra fields dropped.
    let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-more";
    let t = Trace::from_client(Some(&hv(later)), None, None, 1.0);
    assert!(
        t.traceparent()
            .starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-")
    );
    assert!(t.traceparent().ends_with("-00"));
    for bad in [
        "Root=1-5759e988-bd862e3fe1be46a99427279",
        "Root=2-5759e988-bd862e3fe1be46a994272793",
        "Root=1-5759e988-bd862e3fe1be46a994272793;x=\"y\"",
        "root=1-5759e988-bd862e3fe1be46a994272793",
    ] {
        assert!(!is_amzn_trace(&hv(bad)), "{bad}");
    }
}

#[test]
fn tracestate_follows_w3c_and_its_bounds() {
    for good in [
        "a=1",
        "congo=t61rcWkgMzE, rojo=00f067aa0ba902b7",
        "t@vendor=x y",
        "a=1,,b=2",
    ] {
        assert!(valid_state(&hv(good)), "{good}");
    }
    let many = (0..33)
        .map(|i| format!("k{i}=v"))
        .collect::<Vec<_>>()
        .join(",");
    let long = format!("a={}", "x".repeat(MAX_STATE));
    for bad in [
        "",
        "A=1",
        "a",
        "a=",
        "a=b=c",
        "=b",
        many.as_str(),
        long.as_str(),
    ] {
        assert!(!valid_state(&hv(bad)), "{bad}");
    }
}

#[test]
fn made_traces_are_x_ray_ids_sampled_by_the_ratio() {
    let t = Trace::from_client(None, None, None, 1.0);
    assert!(is_amzn_trace(&hv(t.amzn())), "{}", t.amzn());
    let secs = u32::from_str_radix(&t.root()[2..10], 16).unwrap();
    assert!((u64::from(secs) as i64 - (crate::clock::now_ms() / 1000) as i64).abs() < 5);
    assert!(t.sampled() && t.traceparent().ends_with("-01"));
    assert!(!Trace::from_client(None, None, None, 0.0).sampled());
    let ids: std::collections::HashSet<_> = (0..50_000)
        .map(|_| Trace::from_client(None, None, None, 1.0).ids().0)
        .collect();
    assert_eq!(ids.len(), 50_000);
    let half = (0..10_000).filter(|_| sample(0.5)).count();
    assert!((4_000..6_000).contains(&half), "{half}");
}

#[test]
fn a_message_is_a_span_of_its_connections_trace() {
    let upgrade = Trace::from_client(Some(&hv(PARENT)), None, None, 0.0);
    let kept = upgrade.keep();
    assert_eq!(kept.root().as_deref(), Some(upgrade.root()));
    assert_eq!(TraceRef::default().root(), None);
    let m = Trace::child_of(&kept, 0.0);
    assert_eq!(m.ids().0, upgrade.ids().0);
    assert_eq!(
        m.ids().2,
        Some(upgrade.ids().1),
        "the upgrade's span is its parent"
    );
    assert_ne!(m.ids().1, upgrade.ids().1);
    assert!(m.sampled());
    // The upgrade's own span again, for its $connect call.
    let again = Trace::resume(&kept, 0.0);
    assert_eq!(again.traceparent(), upgrade.traceparent());
    // A connection without a trace (a survivor's reaped record) gets a new one.
    let none = Trace::child_of(&TraceRef::default(), 1.0);
    assert_ne!(none.ids().0, [0; 16]);
}
