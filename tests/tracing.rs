//! Trace context end to end, against real backends: every backend call —
//! an HTTP route's `aws_proxy` and `http_proxy`, a WebSocket `$connect`, a
//! message, a request authorizer, a hosted function under awslambdaric —
//! carries one trace id as `X-Amzn-Trace-Id` (`Root=1-…`) and as W3C
//! `traceparent`, continuing the client's (with its `tracestate`), with the
//! gateway's own span as the parent; a malformed one is dropped, never
//! passed on.

mod support;

use serde_json::Value;
use support::*;

const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const STATE: &str = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";
const ROOT: &str = "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736";

/// The W3C trace id, the parent span and the flags of a `traceparent`.
fn parts(traceparent: &str) -> (&str, &str, &str) {
    assert_eq!(traceparent.len(), 55, "{traceparent}");
    (
        &traceparent[3..35],
        &traceparent[36..52],
        &traceparent[53..],
    )
}

/// The X-Ray root of an `X-Amzn-Trace-Id` as a W3C trace id.
fn w3c_id(amzn: &str) -> String {
    let root = amzn.strip_prefix("Root=1-").unwrap();
    format!("{}{}", &root[..8], &root[9..33])
}

fn http_config(backend: &str) -> String {
    format!(
        r#"
[stages.dev]
[http.routes."GET /lambda"]
integration = {{ type = "aws_proxy", uri = "{backend}/lambda" }}
[http.routes."GET /proxy"]
integration = {{ type = "http_proxy", uri = "{backend}/proxied" }}
"#
    )
}

#[tokio::test]
async fn an_http_routes_backends_continue_the_clients_trace() {
    let backend = Backend::start().await;
    let gw = Gw::start(&http_config(&backend.url())).await;
    let lambda = format!("http://{}/dev/lambda", gw.public);
    let headers = [("traceparent", PARENT), ("tracestate", STATE)];
    let (status, _, _) = http_with("GET", &lambda, &headers, vec![]).await;
    assert_eq!(status, 200);
    let got = backend.next("/lambda").await;
    let tp = got.header("traceparent").unwrap();
    let (id, parent, flags) = parts(tp);
    assert_eq!(id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_ne!(
        parent, "00f067aa0ba902b7",
        "the gateway's span is the parent"
    );
    assert_eq!(flags, "01");
    assert_eq!(got.header("tracestate"), Some(STATE));
    assert_eq!(got.header("x-amzn-trace-id"), Some(ROOT));
    // The event carries them as the client's headers, the gateway's span in.
    let event = got.json();
    assert_eq!(event["headers"]["traceparent"], tp);
    assert_eq!(event["headers"]["tracestate"], STATE);
    assert_eq!(event["headers"]["x-amzn-trace-id"], ROOT);

    // http_proxy: the request the backend gets.
    let proxy = format!("http://{}/dev/proxy", gw.public);
    let (status, _, _) = http_with("GET", &proxy, &headers, vec![]).await;
    assert_eq!(status, 200);
    let got = backend.next("/proxied").await;
    assert_eq!(parts(got.header("traceparent").unwrap()).0, id);
    assert_eq!(got.header("tracestate"), Some(STATE));
}

#[tokio::test]
async fn without_a_client_trace_the_gateway_starts_one_in_both_forms() {
    let backend = Backend::start().await;
    let gw = Gw::start(&http_config(&backend.url())).await;
    let lambda = format!("http://{}/dev/lambda", gw.public);
    assert_eq!(http("GET", &lambda, vec![]).await.0, 200);
    let got = backend.next("/lambda").await;
    let amzn = got.header("x-amzn-trace-id").unwrap();
    let (id, _, flags) = parts(got.header("traceparent").unwrap());
    assert_eq!(id, w3c_id(amzn), "one id in both forms");
    assert_eq!(flags, "01", "sample_ratio 1.0 by default");
    assert_eq!(got.header("tracestate"), None);
    // AWS adds no traceparent to an event's headers; the client sent none.
    let event = got.json();
    assert_eq!(event["headers"]["x-amzn-trace-id"], amzn);
    assert!(event["headers"].get("traceparent").is_none(), "{event}");

    // A client's X-Ray header goes on as sent, its id in traceparent too.
    let xray = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=0";
    let headers = [("x-amzn-trace-id", xray)];
    assert_eq!(http_with("GET", &lambda, &headers, vec![]).await.0, 200);
    let got = backend.next("/lambda").await;
    assert_eq!(got.header("x-amzn-trace-id"), Some(xray));
    let (id, _, flags) = parts(got.header("traceparent").unwrap());
    assert_eq!(id, "5759e988bd862e3fe1be46a994272793");
    assert_eq!(flags, "00", "Sampled=0 carries over");

    // Malformed, or two of them: dropped, a trace of the gateway's instead.
    let other = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    for headers in [
        vec![
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
            ),
            ("tracestate", STATE),
        ],
        vec![(
            "traceparent",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        )],
        vec![("traceparent", PARENT), ("traceparent", other)],
    ] {
        assert_eq!(http_with("GET", &lambda, &headers, vec![]).await.0, 200);
        let got = backend.next("/lambda").await;
        let tp = got.header("traceparent").unwrap();
        assert!(
            !tp.contains("4bf92f3577b34da6") && !tp.contains("0af7651916cd43dd"),
            "{tp}"
        );
        assert_eq!(got.header("tracestate"), None);
        assert_eq!(got.headers.get_all("traceparent").iter().count(), 1);
    }
}

#[tokio::test]
async fn a_connections_calls_are_spans_of_its_upgrades_trace() {
    let backend = Backend::start().await;
    let config = format!(
        r#"
[websocket]
route_selection_expression = "$request.body.action"
[authorizers.gate]
type = "request"
uri = "{b}/authorize"
identity_sources = ["$request.header.x-token"]
[stages.dev]
authorizer = "gate"
[routes."$connect"]
integration = {{ type = "aws_proxy", uri = "{b}/connect" }}
[routes.send]
integration = {{ type = "aws_proxy", uri = "{b}/send" }}
"#,
        b = backend.url()
    );
    backend.on(
        "/authorize",
        Behaviour::Body(r#"{"isAuthorized":true,"context":{}}"#.into()),
    );
    let gw = Gw::start(&config).await;
    let headers = [
        ("x-token", "t"),
        ("traceparent", PARENT),
        ("tracestate", STATE),
    ];
    let (mut ws, _) = connect_with(&gw.url("dev"), &headers).await.unwrap();
    let auth = backend.next("/authorize").await;
    let connect = backend.next("/connect").await;
    for got in [&auth, &connect] {
        let (id, parent, _) = parts(got.header("traceparent").unwrap());
        assert_eq!(id, "4bf92f3577b34da6a3ce929d0e0e4736", "{}", got.path);
        assert_ne!(parent, "00f067aa0ba902b7");
        assert_eq!(got.header("x-amzn-trace-id"), Some(ROOT));
    }
    // The CONNECT event's headers are the client's, the trace's included.
    let event = connect.json();
    let in_event = event["multiValueHeaders"]["Traceparent"][0]
        .as_str()
        .unwrap();
    assert_eq!(parts(in_event).0, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(event["headers"]["Tracestate"], STATE);

    // Each message: the connection's trace, a span of its own.
    let mut spans = Vec::new();
    for _ in 0..2 {
        send_text(&mut ws, r#"{"action":"send"}"#).await;
        let got = backend.next("/send").await;
        let (id, parent, flags) = parts(got.header("traceparent").unwrap());
        assert_eq!(id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(flags, "01");
        assert_eq!(got.header("x-amzn-trace-id"), Some(ROOT));
        spans.push(parent.to_owned());
    }
    assert_ne!(spans[0], spans[1]);
}

#[tokio::test]
async fn a_hosted_function_gets_the_trace_as_lambda_does() {
    let app = awslambdaric("app.handler");
    let config = format!(
        "[functions.app]\n{app}\n[stages.dev]\n[http.routes.\"GET /fn/{{what}}\"]\nintegration = {{ type = \"aws_proxy\", function = \"app\" }}\n"
    );
    let gw = Gw::start(&config).await;
    let url = format!("http://{}/dev/fn/trace", gw.public);
    let (status, _, body) = http_with("GET", &url, &[("traceparent", PARENT)], vec![]).await;
    assert_eq!(status, 200, "{body:?}");
    let facts: Value = serde_json::from_slice(&body).unwrap();
    // awslambdaric puts Lambda-Runtime-Trace-Id in _X_AMZN_TRACE_ID.
    let env = facts["env"]["_X_AMZN_TRACE_ID"].as_str().unwrap();
    assert!(env.starts_with(&format!("{ROOT};Parent=")), "{env}");
    assert!(env.ends_with(";Sampled=1"), "{env}");
}

/// Every span a local OTLP receiver got, decoded as a collector decodes them.
fn received_spans(
    requests: &[Recorded],
) -> Vec<(String, opentelemetry_proto::tonic::trace::v1::Span)> {
    use prost::Message as _;
    let mut out = Vec::new();
    for r in requests {
        assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
        let req =
            opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest::decode(
                r.body.clone(),
            )
            .expect("an OTLP protobuf request");
        for rs in req.resource_spans {
            let resource = rs.resource.unwrap_or_default();
            let service = resource
                .attributes
                .iter()
                .find(|a| a.key == "service.name")
                .map(|a| format!("{:?}", a.value))
                .unwrap_or_default();
            for ss in rs.scope_spans {
                for span in ss.spans {
                    out.push((service.clone(), span));
                }
            }
        }
    }
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn spans_go_to_an_otlp_receiver_with_the_ids_the_backends_saw() {
    let backend = Backend::start().await;
    let receiver = Backend::start().await;
    receiver.on("/v1/traces", Behaviour::Status(200, String::new()));
    let config = format!(
        r#"
[tracing]
otlp_endpoint = "{r}"
service_name = "gateway-under-test"
[websocket]
route_selection_expression = "$request.body.action"
[stages.dev]
[routes."$connect"]
integration = {{ type = "aws_proxy", uri = "{b}/connect" }}
[routes.send]
integration = {{ type = "aws_proxy", uri = "{b}/send" }}
[http.routes."GET /lambda"]
integration = {{ type = "aws_proxy", uri = "{b}/lambda" }}
"#,
        r = receiver.url(),
        b = backend.url()
    );
    let mut gw = Gw::start(&config).await;
    let lambda = format!("http://{}/dev/lambda", gw.public);
    assert_eq!(
        http_with("GET", &lambda, &[("traceparent", PARENT)], vec![])
            .await
            .0,
        200
    );
    let http_call = parts(backend.next("/lambda").await.header("traceparent").unwrap())
        .1
        .to_owned();
    let (mut ws, _) = connect_with(&gw.url("dev"), &[("traceparent", PARENT)])
        .await
        .unwrap();
    let connect_call = parts(
        backend
            .next("/connect")
            .await
            .header("traceparent")
            .unwrap(),
    )
    .1
    .to_owned();
    send_text(&mut ws, r#"{"action":"send"}"#).await;
    let message_call = parts(backend.next("/send").await.header("traceparent").unwrap())
        .1
        .to_owned();
    drop(ws);
    // A drain sends what is queued.
    gw.shutdown().await;
    let spans = received_spans(
        &receiver
            .drain("/v1/traces", std::time::Duration::from_millis(500))
            .await,
    );
    let find = |name: &str| {
        spans
            .iter()
            .find(|(_, s)| s.name == name)
            .unwrap_or_else(|| {
                panic!(
                    "no span {name}: {:?}",
                    spans.iter().map(|s| &s.1.name).collect::<Vec<_>>()
                )
            })
    };
    let (service, http_span) = find("GET /lambda");
    assert!(service.contains("gateway-under-test"), "{service}");
    assert_eq!(hex(&http_span.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(
        hex(&http_span.parent_span_id),
        "00f067aa0ba902b7",
        "the client's span"
    );
    assert_eq!(
        hex(&http_span.span_id),
        http_call,
        "the parent the backend saw"
    );
    assert!(http_span.end_time_unix_nano >= http_span.start_time_unix_nano);
    let route = http_span
        .attributes
        .iter()
        .find(|a| a.key == "http.route")
        .unwrap();
    assert!(format!("{:?}", route.value).contains("/lambda"));

    let (_, connect) = find("WebSocket $connect");
    assert_eq!(hex(&connect.parent_span_id), "00f067aa0ba902b7");
    assert_eq!(hex(&connect.span_id), connect_call);
    let (_, message) = find("WebSocket send");
    assert_eq!(hex(&message.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(
        hex(&message.parent_span_id),
        connect_call,
        "a span of the upgrade"
    );
    assert_eq!(hex(&message.span_id), message_call);
}

#[tokio::test]
async fn an_unsampled_trace_is_not_exported() {
    let backend = Backend::start().await;
    let receiver = Backend::start().await;
    receiver.on("/v1/traces", Behaviour::Status(200, String::new()));
    let config = format!(
        "[tracing]\notlp_endpoint = \"{}\"\nsample_ratio = 0.0\n{}",
        receiver.url(),
        http_config(&backend.url())
    );
    let mut gw = Gw::start(&config).await;
    let lambda = format!("http://{}/dev/lambda", gw.public);
    // The gateway's own trace, not sampled; a client's sampled one is.
    assert_eq!(http("GET", &lambda, vec![]).await.0, 200);
    let unsampled = backend.next("/lambda").await;
    assert!(unsampled.header("traceparent").unwrap().ends_with("-00"));
    assert_eq!(
        http_with("GET", &lambda, &[("traceparent", PARENT)], vec![])
            .await
            .0,
        200
    );
    gw.shutdown().await;
    let spans = received_spans(
        &receiver
            .drain("/v1/traces", std::time::Duration::from_millis(500))
            .await,
    );
    assert_eq!(spans.len(), 1, "{spans:?}");
    assert_eq!(
        hex(&spans[0].1.trace_id),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
}
