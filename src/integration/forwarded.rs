//! The forwarding fields the gateway writes about a request's client —
//! `X-Forwarded-For`, `X-Forwarded-Proto`, `X-Forwarded-Port` and
//! `X-Amzn-Trace-Id`, as AWS adds them — kept beside the client's own
//! header fields rather than inserted among them: every event and every
//! backend request gets them from here (`http::peer` decides their values,
//! and removes any the client sent). Inserting four fields into each
//! request's header map, and allocating their values, cost about 1,500
//! instructions a request; these are written straight where they go.

use http::HeaderValue;

/// The fields' names, lower case.
pub const NAMES: [&str; 4] = [
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-port",
    "x-amzn-trace-id",
];

/// The same, in the canonical casing of WebSocket CONNECT events.
pub const CANONICAL_NAMES: [&str; 4] = [
    "X-Forwarded-For",
    "X-Forwarded-Proto",
    "X-Forwarded-Port",
    "X-Amzn-Trace-Id",
];

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
    /// `X-Amzn-Trace-Id`.
    trace: Trace,
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

/// The trace id: the client's, when well formed, or one the gateway made.
#[derive(Debug, Clone)]
enum Trace {
    Kept(HeaderValue),
    Made([u8; 40]),
}

impl Forwarded {
    /// The fields for a client: `chain` is `None` when `X-Forwarded-For` is
    /// just `source_ip`; `trace` the client's trace id if it is to be kept.
    pub fn new(
        source_ip: String,
        chain: Option<String>,
        proto: &'static str,
        port: u16,
        trace: Option<HeaderValue>,
    ) -> Forwarded {
        Forwarded {
            source_ip,
            chain,
            proto,
            port: PortText::new(port),
            trace: trace.map_or_else(|| Trace::Made(new_trace_id()), Trace::Kept),
        }
    }

    /// The four fields, names lower case ([`NAMES`]' order).
    pub fn fields(&self) -> [(&'static str, &str); 4] {
        [
            (NAMES[0], self.chain.as_deref().unwrap_or(&self.source_ip)),
            (NAMES[1], self.proto),
            (NAMES[2], self.port.as_str()),
            (NAMES[3], self.trace()),
        ]
    }

    /// One field's value by its lower-case name, if it is one of them.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields()
            .into_iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The trace's root id (`1-{8 hex}-{24 hex}`, AWS's `$context.xrayTraceId`
    /// form), the whole of it checked by [`is_trace_id`] or made here: what
    /// the access log names a request's trace by, never the rest of a value
    /// the client sent.
    pub fn trace_root(&self) -> &str {
        self.trace()
            .strip_prefix("Root=")
            .and_then(|r| r.get(..35))
            .unwrap_or("")
    }

    fn trace(&self) -> &str {
        match &self.trace {
            Trace::Kept(v) => v.to_str().unwrap_or(""),
            Trace::Made(id) => std::str::from_utf8(id).unwrap_or(""),
        }
    }
}

/// Whether a trace id a client sent has AWS X-Ray's form, `Root=1-{8
/// hex}-{24 hex}` with optional `;Key=value` parts: such a trace goes on
/// through the gateway, as X-Ray continues one.
pub fn is_trace_id(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    let Some(root) = b.strip_prefix(b"Root=1-") else {
        return false;
    };
    let hex = |s: &[u8]| s.iter().all(u8::is_ascii_hexdigit);
    b.len() <= 256
        && root.len() >= 33
        && hex(&root[..8])
        && root[8] == b'-'
        && hex(&root[9..33])
        && root[33..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b';' | b'=' | b'-'))
}

thread_local! {
    /// The state of each thread's trace id generator, seeded once from the
    /// operating system's randomness.
    static TRACE_STATE: std::cell::Cell<u64> = std::cell::Cell::new(rand::random());
}

/// 64 bits from wyrand: trace ids must not repeat, not be unguessable (they
/// grant nothing), and this is a few instructions where a cryptographic
/// generator took 300 per request.
fn trace_bits() -> u64 {
    TRACE_STATE.with(|state| {
        let s = state.get().wrapping_add(0xa076_1d64_78bd_642f);
        state.set(s);
        let t = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    })
}

/// A new X-Ray trace id: the time in seconds and 96 random bits.
fn new_trace_id() -> [u8; 40] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = *b"Root=1-00000000-000000000000000000000000";
    let secs = crate::clock::now_ms() / 1000;
    for (i, slot) in id[7..15].iter_mut().enumerate() {
        *slot = HEX[(secs >> ((7 - i) * 4)) as usize & 0xf];
    }
    let bits = [trace_bits().to_le_bytes(), trace_bits().to_le_bytes()];
    let random = bits.as_flattened().iter().take(12);
    for (i, &b) in random.enumerate() {
        id[16 + 2 * i] = HEX[usize::from(b >> 4)];
        id[17 + 2 * i] = HEX[usize::from(b & 0xf)];
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_written_once_and_read_by_name() {
        for port in [0u16, 7, 80, 443, 8080, 65535] {
            assert_eq!(PortText::new(port).as_str(), port.to_string());
        }
        let f = Forwarded::new("192.0.2.1".into(), None, "http", 8080, None);
        assert_eq!(f.get("x-forwarded-for"), Some("192.0.2.1"));
        assert_eq!(f.get("x-forwarded-port"), Some("8080"));
        assert_eq!(f.get("x-forwarded-proto"), Some("http"));
        let made = f.get("x-amzn-trace-id").unwrap();
        assert!(is_trace_id(&HeaderValue::from_str(made).unwrap()), "{made}");
        assert_eq!(f.get("host"), None);
        let chain = Some("203.0.113.9, 10.0.0.1".to_owned());
        let kept = HeaderValue::from_static("Root=1-5759e988-bd862e3fe1be46a994272793");
        let f = Forwarded::new("203.0.113.9".into(), chain, "https", 443, Some(kept));
        assert_eq!(f.get("x-forwarded-for"), Some("203.0.113.9, 10.0.0.1"));
        assert_eq!(
            f.get("x-amzn-trace-id"),
            Some("Root=1-5759e988-bd862e3fe1be46a994272793")
        );
        assert_eq!(f.trace_root(), "1-5759e988-bd862e3fe1be46a994272793");
        let kept = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        let f = Forwarded::new(
            "203.0.113.9".into(),
            None,
            "https",
            443,
            Some(HeaderValue::from_static(kept)),
        );
        assert_eq!(f.trace_root(), "1-5759e988-bd862e3fe1be46a994272793");
    }

    #[test]
    fn made_trace_ids_do_not_repeat() {
        let ids: std::collections::HashSet<[u8; 40]> =
            (0..100_000).map(|_| new_trace_id()).collect();
        assert_eq!(ids.len(), 100_000);
    }

    #[test]
    fn trace_ids_of_the_wrong_form_are_not_kept() {
        let good = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
        assert!(is_trace_id(&HeaderValue::from_static(good)));
        for bad in [
            "Root=1-xyz",
            "abc",
            "Root=1-5759e988-bd862e3fe1be46a99427279",
            "Root=1-5759e988-bd862e3fe1be46a994272793;a b",
        ] {
            assert!(!is_trace_id(&HeaderValue::from_str(bad).unwrap()), "{bad}");
        }
    }
}
