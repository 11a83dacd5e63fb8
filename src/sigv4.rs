//! AWS Signature Version 4: verification, as boto3 and the AWS CLI sign
//! requests to `execute-api` (the @connections API), and signing, as botocore
//! signs (`sockgate reload`, and the gateway's own Lambda Invoke calls).
//!
//! Only the header form (`Authorization: AWS4-HMAC-SHA256 Credential=…,
//! SignedHeaders=…, Signature=…` with `X-Amz-Date`) is accepted; that is what
//! every AWS SDK sends for this API. The canonical request follows botocore for
//! non-S3 services: the path is the request path URI-encoded once more (`@` →
//! `%40`, `%3D` → `%253D`), the query is sorted, signed headers are lowercased
//! with their values trimmed and inner spaces collapsed, and the payload hash is
//! `X-Amz-Content-SHA256` if sent, else SHA-256 of the body. Signatures are
//! compared in constant time. Verification is pure: the caller passes the clock.
//!
//! [`verify_head`] checks everything the headers settle before the body is read,
//! so a request with an unknown key, a stale date or a wrong scope never makes
//! the gateway read its body; with a declared payload hash it checks the
//! signature too, and only the body's hash is left ([`body_matches`]).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The signing service of the @connections API.
pub const SERVICE: &str = "execute-api";

pub use crate::config::AccessKey;

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

/// What the headers alone settle about a signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadCheck {
    /// The signature is valid for the payload hash the request declares in
    /// `X-Amz-Content-SHA256`: the body, once read, must hash to it.
    Verified {
        /// The declared SHA-256 of the body, lowercase hex.
        payload_hash: String,
    },
    /// The key, scope and date are acceptable; the signature covers the body's
    /// hash (boto3 and the AWS CLI declare none for `execute-api`), so it is
    /// checked once the body is read, with [`verify`].
    NeedsBody,
}

/// Checks what can be checked before the body is read: a well-formed header, the
/// scope, a fresh date, the required signed headers, a configured key — and, when
/// the payload hash is declared, the signature itself. `req.body` is ignored.
pub fn verify_head(
    req: &Signed<'_>,
    keys: &[AccessKey],
    region: Option<&str>,
    max_skew_secs: u64,
    now: u64,
) -> Result<HeadCheck, SigError> {
    let parsed = parse(req, region, max_skew_secs, now)?;
    let key = find_key(keys, parsed.key_id)?;
    let Some(declared) = declared_hash(req) else {
        return Ok(HeadCheck::NeedsBody);
    };
    check_signature(req, &parsed, key, declared)?;
    Ok(HeadCheck::Verified {
        payload_hash: declared.to_owned(),
    })
}

/// Whether `body` hashes to the payload hash a [`HeadCheck::Verified`] declared.
pub fn body_matches(payload_hash: &str, body: &[u8]) -> bool {
    hex(&Sha256::digest(body))
        .as_bytes()
        .ct_eq(payload_hash.as_bytes())
        .into()
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
    let parsed = parse(req, region, max_skew_secs, now)?;
    let key = find_key(keys, parsed.key_id)?;
    let actual = hex(&Sha256::digest(req.body));
    // A declared hash must be the body's (UNSIGNED-PAYLOAD is S3-only).
    if declared_hash(req).is_some_and(|declared| declared != actual) {
        return Err(SigError::Mismatch);
    }
    check_signature(req, &parsed, key, &actual)?;
    Ok(&key.id)
}

/// The parts of a SigV4 `Authorization` header, checked for scope and freshness.
struct Parsed<'a> {
    key_id: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    amz_date: &'a str,
    signed_headers: &'a str,
    names: Vec<&'a str>,
    signature: &'a str,
}

fn parse<'a>(
    req: &Signed<'a>,
    region: Option<&str>,
    max_skew_secs: u64,
    now: u64,
) -> Result<Parsed<'a>, SigError> {
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
    let mut next = || scope_parts.next().ok_or(SigError::Malformed);
    let (key_id, date, scope_region, service, terminator) =
        (next()?, next()?, next()?, next()?, next()?);
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
    Ok(Parsed {
        key_id,
        date,
        region: scope_region,
        service,
        amz_date,
        signed_headers,
        names,
        signature,
    })
}

fn find_key<'k>(keys: &'k [AccessKey], id: &str) -> Result<&'k AccessKey, SigError> {
    keys.iter().find(|k| k.id == id).ok_or(SigError::UnknownKey)
}

fn declared_hash<'a>(req: &Signed<'a>) -> Option<&'a str> {
    header(req, "x-amz-content-sha256").and_then(|v| std::str::from_utf8(v).ok())
}

/// Compares the signature with the one `key` makes over the canonical request
/// whose payload hash is `payload_hash`.
fn check_signature(
    req: &Signed<'_>,
    p: &Parsed<'_>,
    key: &AccessKey,
    payload_hash: &str,
) -> Result<(), SigError> {
    let expected = signature(req, p, &key.secret, payload_hash)?;
    if expected.as_bytes().ct_eq(p.signature.as_bytes()).into() {
        Ok(())
    } else {
        Err(SigError::Mismatch)
    }
}

/// The signature `secret` makes over the request (`p.signature` is not used).
fn signature(
    req: &Signed<'_>,
    p: &Parsed<'_>,
    secret: &str,
    payload_hash: &str,
) -> Result<String, SigError> {
    let canonical = canonical_request(req, &p.names, p.signed_headers, payload_hash)?;
    let scope = format!("{}/{}/{}/aws4_request", p.date, p.region, p.service);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
        p.amz_date,
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let mut signing = hmac(format!("AWS4{secret}").as_bytes(), p.date.as_bytes());
    for part in [p.region, p.service, "aws4_request"] {
        signing = hmac(&signing, part.as_bytes());
    }
    Ok(hex(&hmac(&signing, string_to_sign.as_bytes())))
}

/// Signs a request as botocore does, for `sockgate reload` and tests: every
/// header in `req` is signed (it must include `host` and `x-amz-date`, whose
/// value is `amz_date`, `YYYYMMDDTHHMMSSZ`). Returns the `Authorization` value.
pub fn sign(req: &Signed<'_>, key: &AccessKey, region: &str, amz_date: &str) -> String {
    sign_for(req, (&key.id, &key.secret), region, SERVICE, amz_date)
}

/// [`sign`] for any service, with the key as (id, secret): how the gateway
/// signs its own calls to AWS (Lambda Invoke).
pub fn sign_for(
    req: &Signed<'_>,
    (key_id, secret): (&str, &str),
    region: &str,
    service: &str,
    amz_date: &str,
) -> String {
    let mut names: Vec<String> = req
        .headers
        .iter()
        .map(|(n, _)| n.to_ascii_lowercase())
        .collect();
    names.sort();
    names.dedup();
    let signed_headers = names.join(";");
    let p = Parsed {
        key_id,
        date: amz_date.get(..8).unwrap_or(amz_date),
        region,
        service,
        amz_date,
        signed_headers: &signed_headers,
        names: names.iter().map(String::as_str).collect(),
        signature: "",
    };
    let payload = declared_hash(req).map_or_else(|| hex(&Sha256::digest(req.body)), str::to_owned);
    let sig = signature(req, &p, secret, &payload).unwrap_or_default();
    format!(
        "AWS4-HMAC-SHA256 Credential={key_id}/{}/{region}/{service}/aws4_request, SignedHeaders={signed_headers}, Signature={sig}",
        p.date
    )
}

/// `X-Amz-Date` for epoch seconds: `YYYYMMDDTHHMMSSZ`.
pub fn amz_date(secs: u64) -> String {
    let iso = crate::clock::iso8601(secs * 1000); // 2026-11-30T21:11:34.000Z
    let digits: String = iso.chars().filter(char::is_ascii_digit).take(14).collect();
    format!("{}T{}Z", &digits[..8], &digits[8..14])
}

fn canonical_request(
    req: &Signed<'_>,
    names: &[&str],
    signed_headers: &str,
    payload_hash: &str,
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
    out.push_str(payload_hash);
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
    fn amz_dates_are_written() {
        assert_eq!(amz_date(1_795_585_372), "20261125T054252Z");
    }

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

    const NOW: u64 = 1_795_585_372; // 20261125T054252Z
    const BODY: &[u8] = b"hello";

    fn keys() -> Vec<AccessKey> {
        vec![AccessKey {
            id: "AKIDEXAMPLE".into(),
            secret: "secret".into(),
        }]
    }

    /// Signs `extra` headers (plus host and x-amz-date) with [`sign`].
    fn sign_with(extra: &[(&'static str, String)], body: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
        let mut headers: Vec<(&'static str, Vec<u8>)> = vec![
            ("host", b"gw".to_vec()),
            ("x-amz-date", b"20261125T054252Z".to_vec()),
        ];
        headers.extend(extra.iter().map(|(n, v)| (*n, v.as_bytes().to_vec())));
        let view: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (*n, &v[..])).collect();
        let auth = sign(
            &request(&view, body),
            &keys()[0],
            "us-east-1",
            "20261125T054252Z",
        );
        headers.push(("authorization", auth.into_bytes()));
        headers
    }

    fn request<'a>(headers: &'a [(&'a str, &'a [u8])], body: &'a [u8]) -> Signed<'a> {
        Signed {
            method: "POST",
            path: "/p/@connections/x",
            query: "",
            headers,
            body,
        }
    }

    #[test]
    fn a_declared_payload_hash_lets_the_signature_be_checked_before_the_body() {
        let hash = hex(&Sha256::digest(BODY));
        let headers = sign_with(&[("x-amz-content-sha256", hash.clone())], BODY);
        let view: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (*n, &v[..])).collect();
        // The head check vouches for the signature without the body...
        let head = verify_head(&request(&view, b""), &keys(), None, 300, NOW).unwrap();
        assert_eq!(
            head,
            HeadCheck::Verified {
                payload_hash: hash.clone()
            }
        );
        // ...and the body must then match what was declared.
        assert!(body_matches(&hash, BODY));
        assert!(!body_matches(&hash, b"other"));
        assert_eq!(
            verify(&request(&view, BODY), &keys(), None, 300, NOW),
            Ok("AKIDEXAMPLE")
        );
        assert_eq!(
            verify(&request(&view, b"other"), &keys(), None, 300, NOW),
            Err(SigError::Mismatch)
        );
    }

    #[test]
    fn without_a_declared_hash_the_head_check_leaves_the_signature_for_the_body() {
        let headers = sign_with(&[], BODY);
        let view: Vec<(&str, &[u8])> = headers.iter().map(|(n, v)| (*n, &v[..])).collect();
        assert_eq!(
            verify_head(&request(&view, b""), &keys(), None, 300, NOW),
            Ok(HeadCheck::NeedsBody)
        );
        assert_eq!(
            verify(&request(&view, BODY), &keys(), None, 300, NOW),
            Ok("AKIDEXAMPLE")
        );
        // What the headers settle is refused before any body: unknown key, stale date.
        let other = [AccessKey {
            id: "AKIDOTHER".into(),
            secret: "s".into(),
        }];
        assert_eq!(
            verify_head(&request(&view, b""), &other, None, 300, NOW),
            Err(SigError::UnknownKey)
        );
        assert_eq!(
            verify_head(&request(&view, b""), &keys(), None, 300, NOW + 301),
            Err(SigError::Stale)
        );
    }

    #[test]
    fn paths_are_encoded_once_more_like_botocore() {
        let mut out = String::new();
        uri_encode(&mut out, b"/prod/@connections/abc123%3D%3D", false);
        assert_eq!(out, "/prod/%40connections/abc123%253D%253D");
        assert_eq!(canonical_query("b=2&a=x%20y&a=1"), "a=1&a=x%20y&b=2");
    }
}
