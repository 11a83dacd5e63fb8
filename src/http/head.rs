//! A public request's head, checked and made canonical once, before the
//! stage, the route or an authorizer reads it: everything after this sees the
//! one form this leaves.
//!
//! - **`Host`** (RFC 9112 §3.2): an HTTP/1.1 request without one, with two, or
//!   with one that is not `host[:port]` (`authority::valid_authority`: no
//!   quotes, spaces, userinfo or encoding) is refused. An absolute-form
//!   target's authority replaces `Host`, as §3.2.2 says; over HTTP/2,
//!   `:authority` and `host` must agree (RFC 9113 §8.3.1), and `:authority`
//!   becomes `host` when there is none, so the event and the backend see it
//!   as over HTTP/1.1.
//! - **The path** becomes its canonical form (`routing::path`); one that has
//!   none is refused.
//! - **`X-Sockgate-*`** fields are the gateway's: a client's are removed, so no
//!   backend, `$connect` handler or authorizer ever sees one it did not get
//!   from the gateway (as Envoy strips `x-envoy-*` from external requests).
//! - **`Cookie`** fields are joined with `"; "` into one (RFC 9113 §8.2.3: an
//!   HTTP/2 client may split them; an HTTP/1.1 backend and a 1.0 event need
//!   one).
//!
//! For plain HTTP requests, `integration::http_proxy::strip_hop_by_hop` then
//! removes the client's hop-by-hop fields, those its `Connection` names
//! included, before any mapping or forwarding adds fields of the gateway's
//! own: a client's `Connection` can only take away its own fields.

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Uri, Version};

use crate::authority::valid_authority;
use crate::routing::path::{self, PathError};

/// The prefix of the header fields only the gateway writes.
const OWN_PREFIX: &str = "x-sockgate-";

/// Why a head was refused (400 either way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// No `Host` on HTTP/1.1, two, one that is not `host[:port]`, or one
    /// that disagrees with `:authority`.
    Host,
    /// A path with no canonical form.
    Path(PathError),
}

impl std::fmt::Display for HeadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HeadError::Host => f.write_str("missing, repeated or invalid Host"),
            HeadError::Path(e) => e.fmt(f),
        }
    }
}

/// Checks the head and leaves it canonical (see the module docs).
pub fn sanitize(uri: &mut Uri, headers: &mut HeaderMap, version: Version) -> Result<(), HeadError> {
    host(uri, headers, version)?;
    if let std::borrow::Cow::Owned(canonical) =
        path::canonical(uri.path()).map_err(HeadError::Path)?
    {
        *uri = with_path(uri, &canonical)?;
    }
    if headers.keys().any(|n| n.as_str().starts_with(OWN_PREFIX)) {
        let own: Vec<HeaderName> = headers
            .keys()
            .filter(|n| n.as_str().starts_with(OWN_PREFIX))
            .cloned()
            .collect();
        for name in own {
            headers.remove(name);
        }
    }
    join_cookies(headers);
    Ok(())
}

fn host(uri: &Uri, headers: &mut HeaderMap, version: Version) -> Result<(), HeadError> {
    let mut values = headers.get_all(header::HOST).iter();
    let (first, second) = (values.next(), values.next());
    if second.is_some() {
        return Err(HeadError::Host);
    }
    let given = first.map(|v| v.to_str().map_err(|_| HeadError::Host));
    let given = given.transpose()?;
    let authority = uri.authority().map(|a| a.as_str());
    let host = match (authority, given) {
        // HTTP/2 with both: they must name one host.
        (Some(a), Some(h)) if version == Version::HTTP_2 && !a.eq_ignore_ascii_case(h) => {
            return Err(HeadError::Host);
        }
        (Some(a), _) => a,
        (None, Some(h)) => h,
        // HTTP/1.0 has no Host requirement.
        (None, None) if version < Version::HTTP_11 => return Ok(()),
        (None, None) => return Err(HeadError::Host),
    };
    if !valid_authority(host) {
        return Err(HeadError::Host);
    }
    if first.is_none_or(|v| v.as_bytes() != host.as_bytes()) {
        let value = HeaderValue::from_str(host).map_err(|_| HeadError::Host)?;
        headers.insert(header::HOST, value);
    }
    Ok(())
}

/// `uri` with its path replaced (the query kept). A canonical path holds only
/// characters a URI may, and the query was parsed already, so this does not
/// fail; if it ever did, the request would be refused, never passed on raw.
fn with_path(uri: &Uri, canonical: &str) -> Result<Uri, HeadError> {
    let target = match uri.query() {
        Some(q) => format!("{canonical}?{q}"),
        None => canonical.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(
        target
            .parse()
            .map_err(|_| HeadError::Path(PathError::Control))?,
    );
    Uri::from_parts(parts).map_err(|_| HeadError::Path(PathError::Control))
}

/// Several `Cookie` fields become one, joined with `"; "`.
fn join_cookies(headers: &mut HeaderMap) {
    let mut values = headers.get_all(header::COOKIE).iter();
    if values.nth(1).is_none() {
        return;
    }
    let joined: Vec<&[u8]> = headers
        .get_all(header::COOKIE)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect();
    if let Ok(v) = HeaderValue::from_bytes(&joined.join(&b"; "[..])) {
        headers.insert(header::COOKIE, v);
    }
}

#[cfg(test)]
#[path = "head_tests.rs"]
mod tests;
