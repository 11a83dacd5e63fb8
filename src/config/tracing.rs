//! `[tracing]`: how many of the traces the gateway starts are sampled, and
//! where spans go (OTLP over HTTP, when `otlp_endpoint` is set).

use std::time::Duration;

use super::reader::Section;

/// `[tracing]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TracingConfig {
    /// The share of traces the gateway starts that are sampled (a client's
    /// trace keeps its own decision).
    pub sample_ratio: f64,
    /// Where spans are sent: an OTLP/HTTP traces URL (`…/v1/traces`).
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the exported spans.
    pub service_name: String,
    /// How long one export may take.
    pub otlp_timeout: Duration,
}

impl Default for TracingConfig {
    fn default() -> Self {
        TracingConfig {
            sample_ratio: 1.0,
            otlp_endpoint: None,
            service_name: "sockgate".to_owned(),
            otlp_timeout: Duration::from_secs(10),
        }
    }
}

pub(super) fn read_tracing(mut s: Section<'_>) -> Option<TracingConfig> {
    let d = TracingConfig::default();
    let sample_ratio = s.number("sample_ratio", 0.0, 1.0).unwrap_or(d.sample_ratio);
    let service_name = s
        .string("service_name")
        .map_or(d.service_name, str::to_owned);
    let otlp_timeout = s.duration_or(
        "otlp_timeout",
        Duration::from_millis(100),
        Duration::from_secs(60),
        d.otlp_timeout,
    );
    let mut ok = true;
    let otlp_endpoint = s.string("otlp_endpoint").and_then(|raw| {
        let url = traces_url(raw);
        if url.is_none() {
            ok = false;
            s.error(
                "otlp_endpoint",
                "expected an http:// or https:// URL (an OTLP/HTTP receiver, such as http://127.0.0.1:4318)",
            );
        }
        url
    });
    s.finish();
    ok.then_some(TracingConfig {
        sample_ratio,
        otlp_endpoint,
        service_name,
        otlp_timeout,
    })
}

/// The traces URL of an OTLP/HTTP receiver: a base (`http://host:4318`) gets
/// the signal's path, `/v1/traces`, as OpenTelemetry's exporters add it; a
/// URL already ending in it is taken as it is.
fn traces_url(raw: &str) -> Option<String> {
    let uri: http::Uri = raw.parse().ok()?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    if !scheme_ok || uri.authority().is_none() || uri.query().is_some() {
        return None;
    }
    let base = raw.trim_end_matches('/');
    Some(if uri.path().ends_with("/v1/traces") {
        base.to_owned()
    } else {
        format!("{base}/v1/traces")
    })
}

#[cfg(test)]
mod tests {
    use super::traces_url;

    #[test]
    fn a_base_url_gets_the_traces_path() {
        assert_eq!(
            traces_url("http://127.0.0.1:4318").as_deref(),
            Some("http://127.0.0.1:4318/v1/traces")
        );
        assert_eq!(
            traces_url("https://otel.example/v1/traces").as_deref(),
            Some("https://otel.example/v1/traces")
        );
        assert_eq!(
            traces_url("http://c:4318/prefix/").as_deref(),
            Some("http://c:4318/prefix/v1/traces")
        );
        for bad in [
            "127.0.0.1:4318",
            "grpc://c:4317",
            "http://c:4318/?x=1",
            "nope",
        ] {
            assert_eq!(traces_url(bad), None, "{bad}");
        }
    }
}
