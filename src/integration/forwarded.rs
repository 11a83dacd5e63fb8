//! The forwarding fields the gateway writes about a request's client —
//! `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Port`, and the
//! request's trace (`X-Amzn-Trace-Id` as AWS adds it, W3C `traceparent` and
//! `tracestate`: `crate::trace`) — kept beside the client's own header
//! fields rather than inserted among them: every event and every backend
//! request gets them from here (`http::peer` decides their values, and
//! removes any the client sent). Inserting the fields into each request's
//! header map, and allocating their values, cost about 1,500 instructions a
//! request; these are written straight where they go.

use crate::trace::Trace;

/// The forwarding fields' names, lower case (the trace's are
/// [`Trace::headers`]').
pub const NAMES: [&str; 3] = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-port"];

/// A request's forwarding fields.
#[derive(Debug, Clone)]
pub struct Forwarded {
    /// `identity.sourceIp`: the client.
    pub source_ip: String,
    /// `X-Forwarded-For`, when it is more than `source_ip` (behind trusted
    /// proxies: the client, the trusted hops, the peer).
    pub chain: Option<String>,
    /// `http` or `https`.
    pub proto: &'static str,
    /// `X-Forwarded-Port`, as text.
    port: PortText,
    /// The request's trace.
    pub trace: Trace,
}

/// A port number written out once.
#[derive(Debug, Clone, Copy)]
struct PortText {
    digits: [u8; 5],
    len: u8,
}

impl PortText {
    fn new(port: u16) -> PortText {
        let mut digits = [0u8; 5];
        let mut n = port;
        let mut len = 0;
        loop {
            digits[4 - len] = b'0' + (n % 10) as u8;
            len += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        digits.copy_within(5 - len.., 0);
        PortText {
            digits,
            len: len as u8,
        }
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.digits[..usize::from(self.len)]).unwrap_or("")
    }
}

impl Forwarded {
    /// The fields for a client: `chain` is `None` when `X-Forwarded-For` is
    /// just `source_ip`; `trace` the request's.
    pub fn new(
        source_ip: String,
        chain: Option<String>,
        proto: &'static str,
        port: u16,
        trace: Trace,
    ) -> Forwarded {
        Forwarded {
            source_ip,
            chain,
            proto,
            port: PortText::new(port),
            trace,
        }
    }

    /// The fields an event's headers carry, names lower case: [`NAMES`]'
    /// order, then the trace's (`Trace::event_headers`).
    pub fn fields(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.forwarding().chain(self.trace.event_headers())
    }

    /// The fields a backend request carries: [`NAMES`]' order, then every
    /// trace field (`Trace::headers`).
    pub fn request_fields(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.forwarding().chain(self.trace.headers())
    }

    fn forwarding(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            (NAMES[0], self.chain.as_deref().unwrap_or(&self.source_ip)),
            (NAMES[1], self.proto),
            (NAMES[2], self.port.as_str()),
        ]
        .into_iter()
    }

    /// One field's value by its lower-case name, if it is one of them.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields()
            .into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The trace's X-Ray root (`1-{8 hex}-{24 hex}`, AWS's
    /// `$context.xrayTraceId`): what the access log names a request's trace
    /// by, never the rest of a value the client sent.
    pub fn trace_root(&self) -> &str {
        self.trace.root()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn trace(amzn: Option<&'static str>) -> Trace {
        Trace::from_client(None, None, amzn.map(HeaderValue::from_static), 1.0)
    }

    #[test]
    fn fields_are_written_once_and_read_by_name() {
        for port in [0u16, 7, 80, 443, 8080, 65535] {
            assert_eq!(PortText::new(port).as_str(), port.to_string());
        }
        let f = Forwarded::new("192.0.2.1".into(), None, "http", 8080, trace(None));
        assert_eq!(f.get("x-forwarded-for"), Some("192.0.2.1"));
        assert_eq!(f.get("x-forwarded-port"), Some("8080"));
        assert_eq!(f.get("x-forwarded-proto"), Some("http"));
        let made = f.get("x-amzn-trace-id").unwrap();
        assert!(
            crate::trace::is_amzn_trace(&HeaderValue::from_str(made).unwrap()),
            "{made}"
        );
        // AWS's header in events; a backend request has the W3C one too.
        assert_eq!(f.get("traceparent"), None);
        assert!(
            f.request_fields()
                .any(|(n, v)| n == "traceparent" && v.starts_with("00-"))
        );
        assert_eq!(f.get("host"), None);
        let chain = Some("203.0.113.9, 10.0.0.1".to_owned());
        let kept = "Root=1-5759e988-bd862e3fe1be46a994272793";
        let f = Forwarded::new("203.0.113.9".into(), chain, "https", 443, trace(Some(kept)));
        assert_eq!(f.get("x-forwarded-for"), Some("203.0.113.9, 10.0.0.1"));
        assert_eq!(f.get("x-amzn-trace-id"), Some(kept));
        assert_eq!(f.trace_root(), "1-5759e988-bd862e3fe1be46a994272793");
        let kept = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let f = Forwarded::new("203.0.113.9".into(), None, "https", 443, trace(Some(kept)));
        assert_eq!(f.trace_root(), "1-5759e988-bd862e3fe1be46a994272793");
    }
}
