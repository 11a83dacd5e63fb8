//! permessage-deflate negotiation (RFC 7692 §5, §7.1): the client's offers
//! read from `Sec-WebSocket-Extensions`, the first acceptable one chosen, and
//! the answer written.
//!
//! The server never keeps its compression context between messages: it always
//! answers `server_no_context_takeover` (§7.1.1.1 lets it, offered or not).
//! That is what lets one broadcast be deflated once for every receiver (the
//! bytes do not depend on what a connection was sent before), and it keeps a
//! compressor — about 270 KiB of zlib state — off every connection. The
//! client's side keeps its context only where the stage allows it
//! (`context_takeover`), with its window capped by `max_window_bits`;
//! otherwise the answer carries `client_no_context_takeover` too.
//!
//! An offer with an unknown, repeated or malformed parameter is declined and
//! the next one considered (§5.1); with none acceptable the connection simply
//! goes uncompressed.

/// What a stage allows (`[websocket.compression]`, per stage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateSettings {
    /// zlib level, 1 (fastest) to 9.
    pub level: u8,
    /// Messages shorter than this are sent as they are.
    pub min_bytes: u32,
    /// The client may keep its LZ77 window between messages (an inflater per
    /// connection then holds `2^max_window_bits` bytes of window).
    pub context_takeover: bool,
    /// Largest client window allowed with context takeover, 9 to 15.
    pub max_window_bits: u8,
}

/// What one connection agreed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deflate {
    /// zlib level for what the server sends.
    pub level: u8,
    /// Messages shorter than this are sent uncompressed.
    pub min_bytes: u32,
    /// The largest window the client accepts from the server, 8 to 15.
    pub server_window: u8,
    /// The client's window when it keeps its context; `None` with
    /// `client_no_context_takeover`.
    pub client_takeover: Option<u8>,
}

/// One permessage-deflate offer's parameters.
#[derive(Debug, Default)]
struct Offer {
    client_no_takeover: bool,
    server_bits: Option<u8>,
    /// `client_max_window_bits`, with its value if it had one.
    client_bits: Option<Option<u8>>,
}

/// Chooses from the offers in `headers` (each a `Sec-WebSocket-Extensions`
/// value, in the order received). Returns what was agreed and the answer's
/// header value, or `None` to go uncompressed.
pub fn negotiate<'a>(
    headers: impl IntoIterator<Item = &'a str>,
    settings: &DeflateSettings,
) -> Option<(Deflate, String)> {
    headers
        .into_iter()
        .flat_map(|v| split_outside_quotes(v, ','))
        .filter_map(parse_offer)
        .find_map(|offer| offer.ok())
        .map(|offer| accept(&offer, settings))
}

fn accept(offer: &Offer, s: &DeflateSettings) -> (Deflate, String) {
    let mut answer = String::from("permessage-deflate; server_no_context_takeover");
    let client_takeover = if s.context_takeover && !offer.client_no_takeover {
        match offer.client_bits {
            // The client will use at most its own value; ours may only lower it.
            Some(bits) => Some(bits.unwrap_or(15).min(s.max_window_bits)),
            // The client did not offer to limit its window, so it uses 15
            // bits and may not be told otherwise (§7.1.2.2).
            None => (s.max_window_bits == 15).then_some(15),
        }
    } else {
        None
    };
    match client_takeover {
        None => answer.push_str("; client_no_context_takeover"),
        Some(bits) if offer.client_bits.is_some() => {
            answer.push_str(&format!("; client_max_window_bits={bits}"));
        }
        Some(_) => {}
    }
    if let Some(bits) = offer.server_bits {
        // Accepted as offered (§7.1.2.1); what the server sends respects it.
        answer.push_str(&format!("; server_max_window_bits={bits}"));
    }
    let agreed = Deflate {
        level: s.level,
        min_bytes: s.min_bytes,
        server_window: offer.server_bits.unwrap_or(15),
        client_takeover,
    };
    (agreed, answer)
}

/// `None`: another extension. `Some(Err)`: a permessage-deflate offer to decline.
fn parse_offer(element: &str) -> Option<Result<Offer, ()>> {
    let mut parts = split_outside_quotes(element, ';');
    if !parts.next()?.eq_ignore_ascii_case("permessage-deflate") {
        return None;
    }
    let mut offer = Offer::default();
    let mut server_no_takeover = false;
    for param in parts {
        let (name, value) = match param.split_once('=') {
            Some((n, v)) => (n.trim(), Some(unquote(v.trim()))),
            None => (param, None),
        };
        let ok = match (name.to_ascii_lowercase().as_str(), value) {
            ("server_no_context_takeover", None) => {
                !std::mem::replace(&mut server_no_takeover, true)
            }
            ("client_no_context_takeover", None) => {
                !std::mem::replace(&mut offer.client_no_takeover, true)
            }
            ("server_max_window_bits", Some(v)) => {
                offer.server_bits.is_none()
                    && window_bits(v)
                        .map(|b| offer.server_bits = Some(b))
                        .is_some()
            }
            ("client_max_window_bits", v) => {
                let bits = match v {
                    Some(v) => window_bits(v).map(Some),
                    None => Some(None),
                };
                offer.client_bits.is_none() && bits.map(|b| offer.client_bits = Some(b)).is_some()
            }
            _ => false,
        };
        if !ok {
            return Some(Err(()));
        }
    }
    Some(Ok(offer))
}

/// A window size: a decimal 8 to 15, no sign, no leading zero (§7.1.2).
fn window_bits(v: &str) -> Option<u8> {
    match v {
        "8" | "9" | "10" | "11" | "12" | "13" | "14" | "15" => v.parse().ok(),
        _ => None,
    }
}

/// A parameter value without its quotes (a quoted-string is allowed, RFC 6455 §9.1).
fn unquote(v: &str) -> &str {
    v.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(v)
}

/// `s` split at `sep` where it is not inside a quoted string, each part trimmed
/// and empty parts skipped.
fn split_outside_quotes(s: &str, sep: char) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    let mut escaped = false;
    s.split(move |c: char| {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            _ => return c == sep && !quoted,
        }
        false
    })
    .map(str::trim)
    .filter(|p| !p.is_empty())
}
