//! What an upgrade request says, read without side effects: the RFC 6455
//! handshake checks, the offered subprotocols, the client's source address,
//! and the headers and query string the CONNECT event carries.

use http::{HeaderMap, HeaderValue, Method, Request, header};

use crate::gateway::Stage;
use crate::http::respond::HandshakeError;
use crate::integration::Handshake;
use crate::integration::event::canonical_header_name;
use crate::integration::forwarded::Forwarded;
use crate::integration::http_event::header_text;

/// Checks the handshake (RFC 6455 §4.2.1); returns the `Sec-WebSocket-Accept`
/// value. `Err(UpgradeRequired)` is a plain HTTP request, not a bad upgrade.
pub(super) fn check_handshake<B>(req: &Request<B>) -> Result<String, HandshakeError> {
    let headers = req.headers();
    if !has_token(headers, header::UPGRADE, "websocket")
        || !has_token(headers, header::CONNECTION, "upgrade")
    {
        return Err(HandshakeError::UpgradeRequired);
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .map(HeaderValue::as_bytes)
        != Some(b"13")
    {
        return Err(HandshakeError::UnsupportedVersion);
    }
    let key = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .filter(|k| k.len() == 24);
    match (key, req.method()) {
        (Some(key), &Method::GET) => Ok(crate::ws::accept_key(key.as_bytes())),
        _ => Err(HandshakeError::BadRequest),
    }
}

fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// The subprotocols the client offered, in its order.
pub(super) fn offered_protocols(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect()
}

/// The subprotocol to answer when `$connect` picks none: with `allowed`, the
/// first offered one that is allowed; an offer with none allowed is refused (a
/// browser would fail the handshake anyway).
pub(super) fn choose_subprotocol(
    allowed: &[String],
    offered: &[String],
) -> Result<Option<HeaderValue>, HandshakeError> {
    if allowed.is_empty() || offered.is_empty() {
        return Ok(None);
    }
    offered
        .iter()
        .find(|p| allowed.contains(p))
        .map(|p| HeaderValue::from_str(p).ok())
        .ok_or(HandshakeError::SubprotocolNotAllowed)
}

/// permessage-deflate, when the stage turns it on and the client offers an
/// acceptable form of it: what was agreed and the answer's header.
pub(super) fn choose_deflate(
    stage: &Stage,
    headers: &HeaderMap,
) -> Option<(crate::ws::Deflate, HeaderValue)> {
    let settings = stage.compression.as_ref()?;
    let offers = headers
        .get_all(header::SEC_WEBSOCKET_EXTENSIONS)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let (agreed, answer) = crate::ws::negotiate(offers, settings)?;
    Some((agreed, HeaderValue::from_str(&answer).ok()?))
}

/// Headers (canonical casing, values as text; the gateway's forwarding
/// fields last) and query parameters for the CONNECT event.
pub(super) fn handshake_facts<B>(req: &Request<B>, forwarded: &Forwarded) -> Handshake {
    let mut hs = Handshake::default();
    for (name, value) in req.headers() {
        // Connection and Upgrade are hop-by-hop; AWS's CONNECT events omit them too.
        if name == header::CONNECTION || name == header::UPGRADE {
            continue;
        }
        hs.headers.push(
            canonical_header_name(name.as_str()),
            header_text(value).into_owned(),
        );
    }
    for (name, value) in forwarded.fields() {
        hs.headers
            .push(canonical_header_name(name), value.to_owned());
    }
    if let Some(query) = req.uri().query() {
        for (k, v) in crate::routing::query::pairs(query) {
            hs.query.push(k, v);
        }
    }
    hs
}
