//! Trace context: one trace per request (per connection on the WebSocket
//! side), in both forms backends read — AWS X-Ray's `X-Amzn-Trace-Id`
//! (`Root=1-{8 hex time}-{24 hex}`) and W3C Trace Context's `traceparent`
//! and `tracestate` — with one id: the W3C trace id is the X-Ray root's 32
//! hex digits, as AWS's own OpenTelemetry propagators convert them.
//!
//! A client's trace goes on: a valid `traceparent` first (its `tracestate`
//! with it), else a valid `X-Amzn-Trace-Id` (kept as sent, as API Gateway
//! passes it); otherwise the gateway starts one, sampled with
//! `[tracing] sample_ratio`. Each request is a span of the gateway's own:
//! the `traceparent` every backend call carries names it as the parent, so a
//! backend's spans hang under the gateway's (and under the client's, when
//! spans are exported: `telemetry::spans`). Anything malformed is dropped,
//! never passed on: these headers are the gateway's once it has read them.

use std::fmt;

use http::HeaderValue;

/// A trace and this request's span in it.
#[derive(Clone)]
pub struct Trace {
    id: [u8; 16],
    span: [u8; 8],
    /// The client's span, when it sent one.
    parent: Option<[u8; 8]>,
    sampled: bool,
    /// `traceparent` as sent on: `00-{id}-{span}-{flags}`.
    parent_text: [u8; 55],
    /// `X-Amzn-Trace-Id` as sent on.
    amzn: Amzn,
    /// The client's `tracestate`, valid, sent on unchanged.
    state: Option<HeaderValue>,
    /// The client sent a valid `traceparent` (so events carry the W3C pair,
    /// as they carry the client's headers).
    w3c: bool,
}

#[derive(Clone)]
enum Amzn {
    Kept(HeaderValue),
    Made([u8; 40]),
}

/// What a connection keeps of its upgrade's trace, for its messages' spans
/// (25 bytes; all zero: none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TraceRef {
    id: [u8; 16],
    span: [u8; 8],
    sampled: bool,
}

/// Longest `tracestate` passed on (W3C: at least 512 must be; more may be
/// cut, and a cut list would not be the client's).
const MAX_STATE: usize = 512;
/// Most `tracestate` list members (W3C's limit).
const MAX_STATE_MEMBERS: usize = 32;

impl TraceRef {
    /// The X-Ray root (`1-{8 hex}-{24 hex}`), when there is a trace.
    pub fn root(&self) -> Option<String> {
        if self.id == [0; 16] {
            return None;
        }
        let mut root = *b"1-00000000-000000000000000000000000";
        hex(&self.id[..4], &mut root[2..10]);
        hex(&self.id[4..], &mut root[11..35]);
        Some(String::from_utf8_lossy(&root).into_owned())
    }
}

impl Trace {
    /// The trace for a request whose client sent these headers (each the
    /// only one of its name; a repeated field is passed as `None`).
    /// `sample_ratio` decides a trace the gateway starts.
    pub fn from_client(
        traceparent: Option<&HeaderValue>,
        tracestate: Option<HeaderValue>,
        amzn: Option<HeaderValue>,
        sample_ratio: f64,
    ) -> Trace {
        if let Some((id, parent, sampled)) = traceparent.and_then(parse_traceparent) {
            // The client's X-Ray header goes on only when it names this trace.
            let amzn = amzn.filter(|v| parse_amzn(v).is_some_and(|a| a.id == id));
            let state = tracestate.filter(valid_state);
            let mut t = Trace::build(bits().to_le_bytes(), id, Some(parent), sampled, amzn, state);
            t.w3c = true;
            return t;
        }
        if let Some(x) = amzn.as_ref().and_then(parse_amzn) {
            let sampled = x.sampled.unwrap_or_else(|| sample(sample_ratio));
            return Trace::build(bits().to_le_bytes(), x.id, x.parent, sampled, amzn, None);
        }
        Trace::start(sample_ratio)
    }

    /// A new trace of the gateway's own, sampled with `sample_ratio`.
    fn start(sample_ratio: f64) -> Trace {
        let span = bits().to_le_bytes();
        Trace::build(span, new_id(), None, sample(sample_ratio), None, None)
    }

    /// A span of its own for each message of a connection, in the
    /// connection's trace (a new trace when it has none).
    pub fn child_of(r: &TraceRef, sample_ratio: f64) -> Trace {
        if r.id == [0; 16] {
            return Trace::start(sample_ratio);
        }
        Trace::build(
            bits().to_le_bytes(),
            r.id,
            Some(r.span),
            r.sampled,
            None,
            None,
        )
    }

    /// The upgrade's own span again, from what its connection kept: what
    /// the upgrade's `$connect` and authorizer calls carry.
    pub fn resume(r: &TraceRef, sample_ratio: f64) -> Trace {
        if r.id == [0; 16] {
            return Trace::start(sample_ratio);
        }
        Trace::build(r.span, r.id, None, r.sampled, None, None)
    }

    fn build(
        span: [u8; 8],
        id: [u8; 16],
        parent: Option<[u8; 8]>,
        sampled: bool,
        amzn: Option<HeaderValue>,
        state: Option<HeaderValue>,
    ) -> Trace {
        let mut parent_text = *b"00-00000000000000000000000000000000-0000000000000000-00";
        hex(&id, &mut parent_text[3..35]);
        hex(&span, &mut parent_text[36..52]);
        parent_text[54] = if sampled { b'1' } else { b'0' };
        let amzn = amzn.map_or_else(
            || {
                let mut made = *b"Root=1-00000000-000000000000000000000000";
                hex(&id[..4], &mut made[7..15]);
                hex(&id[4..], &mut made[16..40]);
                Amzn::Made(made)
            },
            Amzn::Kept,
        );
        Trace {
            id,
            span,
            parent,
            sampled,
            parent_text,
            amzn,
            state,
            w3c: false,
        }
    }

    /// `X-Amzn-Trace-Id`'s value.
    pub fn amzn(&self) -> &str {
        match &self.amzn {
            Amzn::Kept(v) => v.to_str().unwrap_or(""),
            Amzn::Made(m) => std::str::from_utf8(m).unwrap_or(""),
        }
    }

    /// The X-Ray root (`1-{8 hex}-{24 hex}`): `$context.xrayTraceId`.
    pub fn root(&self) -> &str {
        self.amzn()
            .strip_prefix("Root=")
            .and_then(|r| r.get(..35))
            .unwrap_or("")
    }

    /// `Lambda-Runtime-Trace-Id` (what runtime clients put in
    /// `_X_AMZN_TRACE_ID`): X-Ray's header with this span as `Parent` and the
    /// sampling decision.
    pub fn lambda_trace_id(&self) -> String {
        let mut span = [0u8; 16];
        hex(&self.span, &mut span);
        format!(
            "Root={};Parent={};Sampled={}",
            self.root(),
            std::str::from_utf8(&span).unwrap_or(""),
            u8::from(self.sampled)
        )
    }

    /// `traceparent`'s value.
    pub fn traceparent(&self) -> &str {
        std::str::from_utf8(&self.parent_text).unwrap_or("")
    }

    /// `tracestate`'s value, when the client sent a valid one.
    pub fn tracestate(&self) -> Option<&str> {
        self.state.as_ref().and_then(|v| v.to_str().ok())
    }

    /// The trace id (16 bytes), this request's span, the client's span.
    pub fn ids(&self) -> ([u8; 16], [u8; 8], Option<[u8; 8]>) {
        (self.id, self.span, self.parent)
    }

    /// Whether this trace is sampled (its spans are recorded and exported).
    pub fn sampled(&self) -> bool {
        self.sampled
    }

    /// What a connection keeps for its messages.
    pub fn keep(&self) -> TraceRef {
        TraceRef {
            id: self.id,
            span: self.span,
            sampled: self.sampled,
        }
    }

    /// The headers every backend request carries: `x-amzn-trace-id`,
    /// `traceparent` and, when there is one, `tracestate`.
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("x-amzn-trace-id", Some(self.amzn())),
            ("traceparent", Some(self.traceparent())),
            ("tracestate", self.tracestate()),
        ]
        .into_iter()
        .filter_map(|(n, v)| Some((n, v?)))
    }

    /// The headers an event's `headers` carry: `x-amzn-trace-id`, as AWS
    /// adds it, and the W3C pair only when the client sent it (an event's
    /// headers are the client's, and AWS adds no `traceparent`).
    pub fn event_headers(&self) -> impl Iterator<Item = (&'static str, &str)> {
        let w3c = self.w3c;
        self.headers()
            .filter(move |(n, _)| w3c || *n == "x-amzn-trace-id")
    }
}

impl fmt::Debug for Trace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trace")
            .field("traceparent", &self.traceparent())
            .finish()
    }
}

/// Whether a client's `X-Amzn-Trace-Id` has AWS X-Ray's form, `Root=1-{8
/// hex}-{24 hex}` with optional `;Key=value` parts: such a trace goes on
/// through the gateway, as X-Ray continues one.
pub fn is_amzn_trace(v: &HeaderValue) -> bool {
    parse_amzn(v).is_some()
}

/// What an X-Ray header says.
struct XRay {
    id: [u8; 16],
    /// `Parent`.
    parent: Option<[u8; 8]>,
    /// `Sampled`, when 0 or 1.
    sampled: Option<bool>,
}

/// An X-Ray header's trace id, its `Parent`, and its `Sampled`.
fn parse_amzn(v: &HeaderValue) -> Option<XRay> {
    let b = v.as_bytes();
    let root = b.strip_prefix(b"Root=1-")?;
    let tail_ok = root
        .get(33..)?
        .iter()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b';' | b'=' | b'-'));
    if b.len() > 256 || root[8] != b'-' || !tail_ok {
        return None;
    }
    let mut id = [0u8; 16];
    unhex(&root[..8], &mut id[..4], true)?;
    unhex(&root[9..33], &mut id[4..], true)?;
    let (mut parent, mut sampled) = (None, None);
    for part in root[33..].split(|c| *c == b';') {
        if let Some(p) = part.strip_prefix(b"Parent=") {
            let mut span = [0u8; 8];
            parent = unhex(p, &mut span, true)
                .filter(|()| span != [0; 8])
                .map(|()| span);
        } else if let Some(s) = part.strip_prefix(b"Sampled=") {
            sampled = match s {
                b"1" => Some(true),
                b"0" => Some(false),
                _ => None,
            };
        }
    }
    Some(XRay {
        id,
        parent,
        sampled,
    })
}

/// W3C `traceparent`: the trace id, the parent's span, whether sampled.
fn parse_traceparent(v: &HeaderValue) -> Option<([u8; 16], [u8; 8], bool)> {
    let b = v.as_bytes();
    // Version 00 is exactly 55 characters; a later version may add fields
    // after a `-`, and is read as 00 (W3C §3.2.4); `ff` is invalid.
    let version = b.get(..2)?;
    let exact = version == b"00";
    if version == b"ff" || (exact && b.len() != 55) || (!exact && b.len() > 55 && b[55] != b'-') {
        return None;
    }
    if b.len() < 55 || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return None;
    }
    let mut scratch = [0u8; 1];
    unhex(version, &mut scratch, false)?;
    let mut id = [0u8; 16];
    let mut span = [0u8; 8];
    let mut flags = [0u8; 1];
    unhex(&b[3..35], &mut id, false)?;
    unhex(&b[36..52], &mut span, false)?;
    unhex(&b[53..55], &mut flags, false)?;
    if id == [0; 16] || span == [0; 8] {
        return None;
    }
    Some((id, span, flags[0] & 1 == 1))
}

/// W3C `tracestate`: at most 32 `key=value` members, 512 characters,
/// keys of `[a-z0-9_*/@-]` (a vendor's `tenant@system`), values of printable
/// ASCII without `,` and `=`.
fn valid_state(v: &HeaderValue) -> bool {
    let b = v.as_bytes();
    if b.is_empty() || b.len() > MAX_STATE {
        return false;
    }
    let mut members = 0;
    for member in b.split(|c| *c == b',') {
        let member = member.trim_ascii();
        if member.is_empty() {
            continue;
        }
        members += 1;
        let Some(eq) = member.iter().position(|c| *c == b'=') else {
            return false;
        };
        let (key, value) = (&member[..eq], &member[eq + 1..]);
        let key_ok = !key.is_empty()
            && key.len() <= 256
            && key[0].is_ascii_lowercase() | key[0].is_ascii_digit()
            && key
                .iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-*/@".contains(c));
        let value_ok = !value.is_empty()
            && value.len() <= 256
            && value
                .iter()
                .all(|c| (0x20..=0x7e).contains(c) && *c != b',' && *c != b'=')
            && value.last() != Some(&b' ');
        if !key_ok || !value_ok {
            return false;
        }
    }
    (1..=MAX_STATE_MEMBERS).contains(&members)
}

/// Writes `bytes` as lowercase hex into `out` (twice as long).
fn hex(bytes: &[u8], out: &mut [u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in bytes.iter().enumerate() {
        out[2 * i] = HEX[usize::from(b >> 4)];
        out[2 * i + 1] = HEX[usize::from(b & 0xf)];
    }
}

/// Reads hex (lowercase only, as W3C requires, unless `any_case`) into `out`.
fn unhex(text: &[u8], out: &mut [u8], any_case: bool) -> Option<()> {
    if text.len() != out.len() * 2 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' if any_case => Some(c - b'A' + 10),
        _ => None,
    };
    for (i, pair) in text.chunks(2).enumerate() {
        out[i] = (digit(pair[0])? << 4) | digit(pair[1])?;
    }
    Some(())
}

thread_local! {
    /// Each thread's id generator state, seeded once from the operating
    /// system's randomness.
    static STATE: std::cell::Cell<u64> = std::cell::Cell::new(rand::random());
}

/// 64 bits from wyrand: ids must not repeat, not be unguessable (they grant
/// nothing), and this is a few instructions where a cryptographic generator
/// took 300 per request.
fn bits() -> u64 {
    STATE.with(|state| {
        let s = state.get().wrapping_add(0xa076_1d64_78bd_642f);
        state.set(s);
        let t = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    })
}

/// A new trace id: the time in seconds (X-Ray's rule) and 96 random bits.
fn new_id() -> [u8; 16] {
    let secs = (crate::clock::now_ms() / 1000) as u32;
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&secs.to_be_bytes());
    id[4..12].copy_from_slice(&bits().to_le_bytes());
    id[12..].copy_from_slice(&bits().to_le_bytes()[..4]);
    id
}

/// Whether a trace the gateway starts is sampled.
fn sample(ratio: f64) -> bool {
    ratio >= 1.0 || (ratio > 0.0 && (bits() >> 11) as f64 / (1u64 << 53) as f64 <= ratio)
}

#[cfg(test)]
#[path = "trace_tests.rs"]
mod tests;
