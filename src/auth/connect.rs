//! The pure parts of the checks an upgrade passes before `$connect`: the API
//! key, and where an authorizer's identity comes from. (`gateway::connect`
//! runs them, then the authorizer.)

use std::sync::Arc;

use subtle::ConstantTimeEq;

use super::AuthFailure;
use crate::config::IdentitySource;
use crate::integration::Handshake;

/// What a client proved.
#[derive(Debug, Default)]
pub struct Admitted {
    /// `requestContext.authorizer` for every event of the connection.
    pub authorizer: Option<Arc<serde_json::Value>>,
    /// The name of the API key it presented.
    pub api_key_id: Option<Arc<str>>,
}

/// Why an upgrade was refused by these checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// No or a wrong API key (403).
    ApiKey,
    /// The authorizer refused.
    Auth(AuthFailure),
}

/// The offered subprotocol that is a JWT (three base64url parts), if any.
pub fn offered_token(offered: &[String]) -> Option<&str> {
    offered.iter().map(String::as_str).find(|p| {
        p.split('.').count() == 3
            && p.len() > 16
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    })
}

/// The value of each identity source; `None` if any is missing or empty.
pub fn identity_values(
    sources: &[IdentitySource],
    handshake: &Handshake,
    offered: &[String],
) -> Option<Vec<String>> {
    sources
        .iter()
        .map(|s| {
            let v = match s {
                IdentitySource::Header(name) => handshake.headers.get(name).map(str::to_owned),
                IdentitySource::Query(name) => handshake.query.get_exact(name).map(str::to_owned),
                IdentitySource::Subprotocol => offered_token(offered).map(str::to_owned),
            };
            v.filter(|v| !v.trim().is_empty())
        })
        .collect()
}

/// The stage's API-key check: with keys configured, the `x-api-key` header or
/// query parameter must be one of them. Returns the matching key's name
/// (`identity.apiKeyId`), `None` when the stage needs no key.
pub fn check_api_key(
    keys: &[(String, String)],
    handshake: &Handshake,
) -> Result<Option<Arc<str>>, Refused> {
    if keys.is_empty() {
        return Ok(None);
    }
    let presented = handshake
        .headers
        .get("x-api-key")
        .or_else(|| handshake.query.get_exact("x-api-key"))
        .ok_or(Refused::ApiKey)?;
    // Compared against every key, in constant time each.
    let name = keys
        .iter()
        .fold(None, |hit, (name, key)| {
            let eq: bool = key.as_bytes().ct_eq(presented.as_bytes()).into();
            if eq { Some(name) } else { hit }
        })
        .ok_or(Refused::ApiKey)?;
    Ok(Some(Arc::from(name.as_str())))
}
