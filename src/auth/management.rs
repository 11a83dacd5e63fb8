//! Authentication on the management listener.
//!
//! When access keys or bearer tokens are configured, every request must carry
//! either a SigV4 signature by one of the keys (what boto3 and the AWS CLI send
//! when given the key) or `Authorization: Bearer <token>` with one of the
//! tokens. Several of each may be active at once, so a key or token can be
//! rotated without downtime: add the new one, move clients, remove the old.
//!
//! Credentials are checked in two steps, so that nobody without them can make
//! the gateway read a request body: [`check_head`] before the body is read,
//! [`check_body`] after.
//! Tokens are compared in constant time. Why a request was refused is logged,
//! never sent back: the client gets 403 `ForbiddenException`.

use subtle::ConstantTimeEq;

use crate::config::ManagementAuth;
use crate::sigv4::{self, HeadCheck, SigError, Signed};

/// Why a management request was refused (for the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No Authorization header.
    #[error("no credentials")]
    Missing,
    /// A bearer token that is not configured.
    #[error("unknown bearer token")]
    BadToken,
    /// A SigV4 signature that does not verify.
    #[error("{0}")]
    Signature(#[from] SigError),
}

/// Checks a request's credentials at `now` (epoch seconds), body included.
pub fn authenticate(auth: &ManagementAuth, req: &Signed<'_>, now: u64) -> Result<(), AuthError> {
    let pending = check_head(auth, req, now)?;
    check_body(auth, &pending, req, now)
}

/// Checks what the headers settle, before the body is read: a bearer token
/// entirely; a SigV4 signature's key, scope and date (and the signature itself
/// when the payload hash is declared). `req.body` is not looked at. A request
/// refused here never has its body read.
pub fn check_head(auth: &ManagementAuth, req: &Signed<'_>, now: u64) -> Result<Pending, AuthError> {
    let header = req
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| *v)
        .ok_or(AuthError::Missing)?;
    if let Some(token) = header.strip_prefix(b"Bearer ") {
        return if token_matches(auth, token) {
            Ok(Pending::Nothing)
        } else {
            Err(AuthError::BadToken)
        };
    }
    let head = sigv4::verify_head(
        req,
        &auth.access_keys,
        auth.region.as_deref(),
        auth.max_clock_skew_secs,
        now,
    )?;
    Ok(match head {
        HeadCheck::Verified { payload_hash } => Pending::BodyHash(payload_hash),
        HeadCheck::NeedsBody => Pending::Signature,
    })
}

/// Whether `token` (surrounding spaces aside) is one of the bearer tokens.
/// Every configured token is compared, so timing does not reveal which matched.
pub fn token_matches(auth: &ManagementAuth, token: &[u8]) -> bool {
    let token = token.trim_ascii();
    let matched = auth
        .bearer_tokens
        .iter()
        .fold(false, |hit, t| hit | bool::from(t.as_bytes().ct_eq(token)));
    matched && !token.is_empty()
}

/// Whether a browser sent the request from another site's page: an `Origin`
/// whose host and port are not the request's `Host`. boto3, the AWS CLI and
/// curl send no `Origin`. A page elsewhere could otherwise make a visitor's
/// browser POST to a management listener on their machine (a "simple"
/// cross-origin request needs no preflight); it is refused instead.
pub fn cross_origin(origin: Option<&[u8]>, host: Option<&[u8]>) -> bool {
    let Some(origin) = origin else { return false };
    let authority = origin
        .strip_prefix(b"http://")
        .or_else(|| origin.strip_prefix(b"https://"));
    match (authority, host) {
        (Some(a), Some(h)) => !a.eq_ignore_ascii_case(h.trim_ascii()),
        _ => true,
    }
}

/// Finishes what [`check_head`] left, now that `req.body` is read.
pub fn check_body(
    auth: &ManagementAuth,
    pending: &Pending,
    req: &Signed<'_>,
    now: u64,
) -> Result<(), AuthError> {
    match pending {
        Pending::Nothing => Ok(()),
        Pending::BodyHash(hash) if sigv4::body_matches(hash, req.body) => Ok(()),
        Pending::BodyHash(_) => Err(AuthError::Signature(SigError::Mismatch)),
        Pending::Signature => sigv4::verify(
            req,
            &auth.access_keys,
            auth.region.as_deref(),
            auth.max_clock_skew_secs,
            now,
        )
        .map(|_| ())
        .map_err(AuthError::Signature),
    }
}

/// What is left to check of a request's credentials once its body is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    /// Nothing: a bearer token, checked in full.
    Nothing,
    /// The body must hash to this declared SHA-256 (the signature is verified).
    BodyHash(String),
    /// The SigV4 signature, which covers the body's hash.
    Signature,
}
