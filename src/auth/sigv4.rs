//! AWS Signature Version 4 verification, as boto3 and the AWS CLI sign requests
//! to `execute-api` (the @connections API).
//!
//! Only the header form (`Authorization: AWS4-HMAC-SHA256 Credential=…,
//! SignedHeaders=…, Signature=…` with `X-Amz-Date`) is accepted; that is what
//! every AWS SDK sends for this API. The canonical request follows botocore for
//! non-S3 services: the path is the request path URI-encoded once more (`@` →
//! `%40`, `%3D` → `%253D`), the query is sorted, signed headers are lowercased
//! with their values trimmed and inner spaces collapsed, and the payload hash is
//! `X-Amz-Content-SHA256` if sent, else SHA-256 of the body. Signatures are
//! compared in constant time. Verification is pure: the caller passes the clock.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The signing service of the @connections API.
pub const SERVICE: &str = "execute-api";

/// An access key the management API accepts.
#[derive(Clone)]
pub struct AccessKey {
    /// `AKIA…`
    pub id: String,
    /// The secret (never logged).
    pub secret: String,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Why a signature was refused (logged; the client sees one fixed message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    /// The Authorization header is not SigV4, or is malformed.
    #[error("malformed SigV4 Authorization header")]
    Malformed,
    /// `X-Amz-Date` is missing or malformed, or disagrees with the scope's date.
    #[error("missing or malformed X-Amz-Date")]
    BadDate,
    /// The request was signed too long ago (or in the future).
    #[error("signature expired or not yet valid (clock skew)")]
    Stale,
    /// The scope names another service, or a region other than the configured one.
    #[error("credential scope does not match")]
    WrongScope,
    /// `host` or `x-amz-date` is not among the signed headers.
    #[error("required headers are not signed")]
    Unsigned,
    /// No configured access key has this id.
    #[error("unknown access key")]
    UnknownKey,
    /// The signature does not match.
    #[error("signature does not match")]
    Mismatch,
}

/// What is needed of a request to verify its signature.
#[derive(Debug)]
pub struct Signed<'a> {
    /// `GET`, `POST`, …
    pub method: &'a str,
    /// The path exactly as received (still percent-encoded).
    pub path: &'a str,
    /// The query exactly as received, without `?`.
    pub query: &'a str,
    /// Every header, name and value (a name may repeat).
    pub headers: &'a [(&'a str, &'a [u8])],
    /// The body.
    pub body: &'a [u8],
}

/// Verifies a request's signature at `now` (epoch seconds). On success returns
/// the access key id that signed it.
pub fn verify<'k>(
    req: &Signed<'_>,
    keys: &'k [AccessKey],
    region: Option<&str>,
    max_skew_secs: u64,
    now: u64,
) -> Result<&'k str, SigError> {
    let auth = header(req, "authorization").ok_or(SigError::Malformed)?;
    let auth = std::str::from_utf8(auth).map_err(|_| SigError::Malformed)?;
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or(SigError::Malformed)?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for part in rest.split(',').map(str::trim) {
        match part.split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed_headers = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => return Err(SigError::Malformed),
        }
    }
    let (credential, signed_headers, signature) = (
        credential.ok_or(SigError::Malformed)?,
        signed_headers.ok_or(SigError::Malformed)?,
        signature.ok_or(SigError::Malformed)?,
    );
    let mut scope_parts = credential.splitn(5, '/');
    let (key_id, date, scope_region, service, terminator) = (
        scope_parts.next().ok_or(SigError::Malformed)?,
        scope_parts.next().ok_or(SigError::Malformed)?,
        scope_parts.next().ok_or(SigError::Malformed)?,
        scope_parts.next().ok_or(SigError::Malformed)?,
        scope_parts.next().ok_or(SigError::Malformed)?,
    );
    if service != SERVICE
        || terminator != "aws4_request"
        || region.is_some_and(|r| r != scope_region)
    {
        return Err(SigError::WrongScope);
    }
    let amz_date = header(req, "x-amz-date")
        .and_then(|v| std::str::from_utf8(v).ok())
        .ok_or(SigError::BadDate)?;
    let signed_at = parse_amz_date(amz_date).ok_or(SigError::BadDate)?;
    if !amz_date.starts_with(date) || date.len() != 8 {
        return Err(SigError::BadDate);
    }
    if signed_at.abs_diff(now) > max_skew_secs {
        return Err(SigError::Stale);
    }
    let names: Vec<&str> = signed_headers.split(';').collect();
    if !names.contains(&"host") || !names.contains(&"x-amz-date") {
        return Err(SigError::Unsigned);
    }
    if names
        .iter()
        .any(|n| n.is_empty() || *n != n.to_ascii_lowercase())
    {
        return Err(SigError::Malformed);
    }
    let key = keys
        .iter()
        .find(|k| k.id == key_id)
        .ok_or(SigError::UnknownKey)?;

    let canonical = canonical_request(req, &names, signed_headers)?;
    let scope = format!("{date}/{scope_region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let mut signing = hmac(format!("AWS4{}", key.secret).as_bytes(), date.as_bytes());
    for part in [scope_region, service, "aws4_request"] {
        signing = hmac(&signing, part.as_bytes());
    }
    let expected = hex(&hmac(&signing, string_to_sign.as_bytes()));
    if expected.as_bytes().ct_eq(signature.as_bytes()).into() {
        Ok(&key.id)
    } else {
        Err(SigError::Mismatch)
    }
}

fn canonical_request(
    req: &Signed<'_>,
    names: &[&str],
    signed_headers: &str,
) -> Result<String, SigError> {
    let mut out = String::with_capacity(256);
    out.push_str(req.method);
    out.push('\n');
    uri_encode(&mut out, req.path.as_bytes(), false);
    out.push('\n');
    out.push_str(&canonical_query(req.query));
    out.push('\n');
    for name in names {
        let values: Vec<String> = req
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| {
                String::from_utf8_lossy(v)
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        if values.is_empty() {
            return Err(SigError::Unsigned);
        }
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    out.push('\n');
    out.push_str(signed_headers);
    out.push('\n');
    match header(req, "x-amz-content-sha256").and_then(|v| std::str::from_utf8(v).ok()) {
        Some(declared) => {
            // A declared hash must be the body's (UNSIGNED-PAYLOAD is S3-only).
            let actual = hex(&Sha256::digest(req.body));
            if declared != actual {
                return Err(SigError::Mismatch);
            }
            out.push_str(declared);
        }
        None => out.push_str(&hex(&Sha256::digest(req.body))),
    }
    Ok(out)
}

/// Sorted by name then value, each encoded the AWS way.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " ")).collect::<Vec<u8>>()
            };
            let (mut ek, mut ev) = (String::new(), String::new());
            uri_encode(&mut ek, &decode(k), true);
            uri_encode(&mut ev, &decode(v), true);
            (ek, ev)
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes every byte but the unreserved ones (and `/` when not `slash`).
fn uri_encode(out: &mut String, bytes: &[u8], slash: bool) {
    for &b in bytes {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (b == b'/' && !slash)
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

fn header<'a>(req: &Signed<'a>, name: &str) -> Option<&'a [u8]> {
    req.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `20261125T054252Z` → epoch seconds.
pub fn parse_amz_date(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> { s.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    Some(
        crate::clock::days_from_civil(y as i64, mo as u32, d as u32) as u64 * 86_400
            + h * 3600
            + mi * 60
            + se,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amz_dates_parse() {
        assert_eq!(parse_amz_date("19700101T000000Z"), Some(0));
        assert_eq!(parse_amz_date("20261125T054252Z"), Some(1_795_585_372));
        for bad in [
            "2026-11-25T05:42:52Z",
            "20261325T000000Z",
            "20261125T054252",
            "",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn paths_are_encoded_once_more_like_botocore() {
        let mut out = String::new();
        uri_encode(&mut out, b"/prod/@connections/abc123%3D%3D", false);
        assert_eq!(out, "/prod/%40connections/abc123%253D%253D");
        assert_eq!(canonical_query("b=2&a=x%20y&a=1"), "a=1&a=x%20y&b=2");
    }
}
