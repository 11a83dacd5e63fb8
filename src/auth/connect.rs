//! The pure parts of the checks an upgrade passes before `$connect`: the API
//! key, and where an authorizer's identity comes from. (`gateway::connect`
//! runs them, then the authorizer.)

use std::collections::BTreeMap;
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

/// What `$context.*` and `$stageVariables.*` identity sources read.
#[derive(Debug, Clone, Copy)]
pub struct SourceContext<'a> {
    /// `$context.routeKey` (`$connect` on an upgrade).
    pub route_key: &'a str,
    /// `$context.httpMethod`.
    pub http_method: &'a str,
    /// `$context.stage`.
    pub stage: &'a str,
    /// `$context.identity.sourceIp`.
    pub source_ip: &'a str,
    /// The stage's variables.
    pub stage_variables: &'a BTreeMap<String, String>,
}

impl<'a> SourceContext<'a> {
    /// The value of a `$context` or `$stageVariables` source (`None` for
    /// request sources, which the caller reads).
    pub fn value(&self, source: &IdentitySource) -> Option<&'a str> {
        match source {
            IdentitySource::Context(name) => match name.as_str() {
                "routeKey" => Some(self.route_key),
                "httpMethod" => Some(self.http_method),
                "stage" => Some(self.stage),
                "identity.sourceIp" => Some(self.source_ip),
                _ => None,
            },
            IdentitySource::StageVariable(name) => {
                self.stage_variables.get(name).map(String::as_str)
            }
            _ => None,
        }
    }
}

/// The value of each identity source, read by `read`; `None` if any is
/// missing or blank (AWS: 401 without calling the authorizer).
pub fn identity_values(
    sources: &[IdentitySource],
    mut read: impl FnMut(&IdentitySource) -> Option<String>,
) -> Option<Vec<String>> {
    sources
        .iter()
        .map(|s| read(s).filter(|v| !v.trim().is_empty()))
        .collect()
}

/// The value of `source` on an upgrade request.
pub fn handshake_value(
    source: &IdentitySource,
    handshake: &Handshake,
    offered: &[String],
    ctx: &SourceContext<'_>,
) -> Option<String> {
    let value = match source {
        IdentitySource::Header(name) => handshake.headers.get(name),
        IdentitySource::Query(name) => handshake.query.get_exact(name),
        IdentitySource::Subprotocol => offered_token(offered),
        IdentitySource::Context(_) | IdentitySource::StageVariable(_) => ctx.value(source),
    };
    value.map(str::to_owned)
}

/// The stage's API-key check of a presented key: the matching key's name
/// (`identity.apiKeyId`), compared against every key in constant time each.
pub fn match_api_key(keys: &[(String, String)], presented: &str) -> Option<Arc<str>> {
    keys.iter()
        .fold(None, |hit, (name, key)| {
            let eq: bool = key.as_bytes().ct_eq(presented.as_bytes()).into();
            if eq { Some(name) } else { hit }
        })
        .map(|name| Arc::from(name.as_str()))
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
    match_api_key(keys, presented)
        .map(Some)
        .ok_or(Refused::ApiKey)
}
