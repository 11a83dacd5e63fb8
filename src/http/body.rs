//! Reading a request body whole, within a size cap and a time limit: what
//! every listener that buffers a body does before acting on it.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, header};
use http_body_util::{BodyExt as _, LengthLimitError, Limited};
use hyper::body::Incoming;

/// Why a body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// Over the cap (declared in `Content-Length`, or counted while reading).
    TooLarge,
    /// Not complete within the time limit: a stalled peer holds nothing longer.
    Timeout,
    /// The connection failed mid-body.
    Unreadable,
}

/// Reads the body: a declared `Content-Length` over `max` is refused before a
/// byte is read; otherwise reading stops at `max` bytes or after `timeout`.
pub async fn read(
    headers: &HeaderMap,
    body: Incoming,
    max: usize,
    timeout: Duration,
) -> Result<Bytes, BodyError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(BodyError::TooLarge);
    }
    // A request without a body (most GETs): nothing to wait for.
    if hyper::body::Body::is_end_stream(&body) {
        return Ok(Bytes::new());
    }
    let collect = Limited::new(body, max).collect();
    let body = tokio::time::timeout(timeout, collect)
        .await
        .map_err(|_| BodyError::Timeout)?
        .map_err(|e| {
            if e.is::<LengthLimitError>() {
                BodyError::TooLarge
            } else {
                BodyError::Unreadable
            }
        })?;
    Ok(body.to_bytes())
}
