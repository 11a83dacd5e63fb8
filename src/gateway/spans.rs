//! Spans over OTLP/HTTP (protobuf), when `[tracing] otlp_endpoint` is set:
//! one span per HTTP request, per WebSocket upgrade (`$connect`) and per
//! message, each with the ids its backend calls were told (`crate::trace`):
//! the trace id, the gateway's span id (every backend call's
//! `traceparent` parent), and the client's span as its parent. Only sampled
//! traces are recorded.
//!
//! The spans are written as OpenTelemetry's `SpanData` and handed to the
//! SDK's batch processor (a bounded queue of 2,048 spans, dropped beyond,
//! exported every 5 s or 512 spans by its own thread), not made through its
//! tracer: the tracer draws its ids from its generator, and these ids were
//! fixed before the backend calls were made. The exporter sends through the
//! gateway's own HTTP client (rustls, `[integrations]`'s TLS settings), on
//! the gateway's runtime.
//!
//! Settings are read at start; a change to `otlp_endpoint` or
//! `service_name` needs a restart.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use opentelemetry::trace::{
    SpanContext, SpanId, SpanKind, Status, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SpanData, SpanProcessor};
use tracing::{info, warn};

use crate::clock;
use crate::config::TracingConfig;
use crate::integration::HttpClient;
use crate::trace::Trace;

/// The most of an OTLP receiver's answer read (it is a small protobuf).
const MAX_ANSWER: usize = 64 << 10;

/// The span exporter, when one is configured.
#[derive(Default)]
pub struct Spans {
    processor: Option<(BatchSpanProcessor, InstrumentationScope)>,
}

impl std::fmt::Debug for Spans {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spans")
            .field("exporting", &self.processor.is_some())
            .finish()
    }
}

/// A finished request, as its span records it.
#[derive(Debug)]
pub struct Finished {
    /// `GET /pets/{id}`, `WebSocket $connect`, `WebSocket sendmessage`.
    pub name: String,
    /// How long it took, ending now.
    pub took: Duration,
    /// The status answered (the HTTP status; a message's or an upgrade's
    /// as the access log gives it). 5xx marks the span an error.
    pub status: u16,
    /// Its attributes, semantic conventions' names where one fits.
    pub attributes: Vec<KeyValue>,
}

impl Spans {
    /// The exporter `cfg` asks for, sending through `client` (`None`: no
    /// spans). Needs the gateway's tokio runtime.
    pub fn start(cfg: &TracingConfig, client: Arc<HttpClient>) -> Spans {
        let Some(endpoint) = &cfg.otlp_endpoint else {
            return Spans::default();
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            warn!("Cannot export spans outside a runtime.");
            return Spans::default();
        };
        let send = Send {
            client,
            runtime,
            timeout: cfg.otlp_timeout,
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint.clone())
            .with_timeout(cfg.otlp_timeout)
            .with_http_client(send)
            .build();
        let exporter = match exporter {
            Ok(e) => e,
            Err(e) => {
                warn!(error = %e, "Cannot export spans: the OTLP exporter did not start.");
                return Spans::default();
            }
        };
        let mut processor = BatchSpanProcessor::builder(exporter).build();
        let resource = Resource::builder()
            .with_service_name(cfg.service_name.clone())
            .build();
        processor.set_resource(&resource);
        let scope = InstrumentationScope::builder("sockgate")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        info!(endpoint = %endpoint, "Exporting spans over OTLP.");
        Spans {
            processor: Some((processor, scope)),
        }
    }

    /// Whether `trace`'s spans are recorded (exporting, and it is sampled).
    pub fn records(&self, trace: &Trace) -> bool {
        self.processor.is_some() && trace.sampled()
    }

    /// Records a finished request's span, when [`Spans::records`] its trace;
    /// `finished` is only made then.
    pub fn record(&self, trace: &Trace, finished: impl FnOnce() -> Finished) {
        let Some((processor, scope)) = &self.processor else {
            return;
        };
        if !trace.sampled() {
            return;
        }
        let f = finished();
        let (id, span, parent) = trace.ids();
        let end = clock::system_now();
        let status = if f.status >= 500 {
            Status::error(format!("status {}", f.status))
        } else {
            Status::Unset
        };
        processor.on_end(SpanData {
            span_context: SpanContext::new(
                TraceId::from_bytes(id),
                SpanId::from_bytes(span),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: parent.map_or(SpanId::INVALID, SpanId::from_bytes),
            parent_span_is_remote: parent.is_some(),
            span_kind: SpanKind::Server,
            name: Cow::Owned(f.name),
            start_time: end.checked_sub(f.took).unwrap_or(end),
            end_time: end,
            attributes: f.attributes,
            dropped_attributes_count: 0,
            events: Default::default(),
            links: Default::default(),
            status,
            instrumentation_scope: scope.clone(),
        });
    }

    /// Sends what is queued and stops (at the end of a drain).
    pub fn stop(&self) {
        if let Some((processor, _)) = &self.processor {
            let _ = processor.shutdown_with_timeout(Duration::from_secs(5));
        }
    }
}

/// The exporter's HTTP client: the gateway's own, on the gateway's runtime
/// (the batch processor's thread is not in it).
#[derive(Debug)]
struct Send {
    client: Arc<HttpClient>,
    runtime: tokio::runtime::Handle,
    timeout: Duration,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for Send {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, opentelemetry_http::HttpError> {
        let (client, timeout) = (Arc::clone(&self.client), self.timeout);
        let call = self
            .runtime
            .spawn(async move { client.send_whole(request, timeout, MAX_ANSWER).await });
        match call.await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => Err(e.to_string().into()),
            Err(e) => Err(e.to_string().into()),
        }
    }
}
