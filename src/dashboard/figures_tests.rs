use super::*;
use crate::dashboard::expo::parse;

fn reading(at_ms: u64, text: &str) -> Reading {
    Reading::new(at_ms, parse(text))
}

#[test]
fn rates_are_per_second_over_the_interval_and_totals_are_now() {
    let a = reading(
        1_000,
        "sockgate_messages_total{stage=\"dev\",route=\"echo\",direction=\"in\"} 10\n\
         sockgate_messages_total{stage=\"dev\",direction=\"out\"} 4\n\
         sockgate_connections_open{stage=\"dev\"} 3\n",
    );
    let b = reading(
        3_000,
        "sockgate_messages_total{stage=\"dev\",route=\"echo\",direction=\"in\"} 30\n\
         sockgate_messages_total{stage=\"dev\",route=\"new\",direction=\"in\"} 2\n\
         sockgate_messages_total{stage=\"dev\",route=\"idle\",direction=\"in\"} 0\n\
         sockgate_messages_total{stage=\"dev\",direction=\"out\"} 8\n\
         sockgate_connections_open{stage=\"dev\"} 5\n\
         sockgate_connects_total{stage=\"dev\",outcome=\"accepted\"} 7\n\
         sockgate_connects_total{stage=\"dev\",outcome=\"unauthorized\"} 4\n",
    );
    let f = compute(Some(&a), &b);
    assert_eq!(f.messages_in["dev echo"], 10.0);
    // A series new since the last reading started from zero.
    assert_eq!(f.messages_in["dev new"], 1.0);
    assert_eq!(f.messages_out["dev"], 2.0);
    // An idle route is left out (the page reads it as zero).
    assert!(!f.messages_in.contains_key("dev idle"));
    assert_eq!(f.connects, 3.5);
    assert_eq!(f.errors["auth"], 2.0);
    assert_eq!(f.errors["integration"], 0.0);
    assert_eq!(f.totals.connections, 5.0);
    assert_eq!(f.totals.messages_in, 32.0);
    assert_eq!(f.totals.connects, 7.0);
    assert_eq!(f.connections["dev"], 5.0);
    // The first reading has totals and no rates.
    let first = compute(None, &b);
    assert_eq!(first.totals.messages_out, 8.0);
    assert!(first.messages_in.is_empty());
}

#[test]
fn latency_quantiles_come_from_the_buckets_filled_in_the_interval() {
    let name = "sockgate_integration_latency_seconds_bucket";
    let text = |n: [u32; 4]| {
        format!(
            "{name}{{stage=\"p\",route=\"r\",le=\"0.001\"}} {}\n\
             {name}{{stage=\"p\",route=\"r\",le=\"0.01\"}} {}\n\
             {name}{{stage=\"p\",route=\"r\",le=\"0.1\"}} {}\n\
             {name}{{stage=\"p\",route=\"r\",le=\"+Inf\"}} {}\n",
            n[0], n[1], n[2], n[3]
        )
    };
    // Before: 100 fast calls; in the interval: 100 calls between 1 and 10 ms.
    let a = reading(0, &text([100, 100, 100, 100]));
    let b = reading(2_000, &text([100, 200, 200, 200]));
    let f = compute(Some(&a), &b);
    let q = &f.latency["ws p r"];
    assert!((q.p50.unwrap() - 5.5).abs() < 1e-9, "{q:?}");
    assert!((q.p99.unwrap() - 9.91).abs() < 1e-9, "{q:?}");
    // Nothing recorded in an interval: no figure.
    assert!(
        compute(Some(&b), &reading(4_000, &text([100, 200, 200, 200])))
            .latency
            .is_empty()
    );
}

#[test]
fn beyond_the_last_bound_the_last_bound_is_reported() {
    assert_eq!(
        quantile(&[(0.5, 0.0), (f64::INFINITY, 4.0)], 0.99),
        Some(500.0)
    );
    assert_eq!(quantile(&[(0.5, 0.0), (f64::INFINITY, 0.0)], 0.5), None);
}

#[test]
fn http_requests_by_class_and_many_routes_fold_into_other() {
    let mut before = String::new();
    let mut after = String::new();
    for i in 0..40 {
        before += &format!(
            "sockgate_http_requests_total{{stage=\"s\",route=\"GET /r{i}\",status=\"2xx\"}} 0\n"
        );
        after += &format!(
            "sockgate_http_requests_total{{stage=\"s\",route=\"GET /r{i}\",status=\"2xx\"}} {i}\n"
        );
    }
    let f = compute(Some(&reading(0, &before)), &reading(1_000, &after));
    assert_eq!(f.http.len(), MAX_KEYS);
    assert_eq!(f.http["s GET /r39"]["2xx"], 39.0);
    let other: f64 = (0..=16).map(f64::from).sum();
    assert_eq!(f.http[OTHER]["2xx"], other);
    assert_eq!(f.totals.http_requests, (0..40).map(f64::from).sum::<f64>());
}
